"""kzoo.runs helpers: the validation split, the optimizer flags."""

import argparse

import numpy as np
import pytest

from kzoo import runs
from kzoo.data.sources import ArrayDataset


def _dataset(n=100):
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones(
        (1, 2, 2, 3), np.uint8)
    return ArrayDataset(images, np.arange(n, dtype=np.int32) % 10,
                        [str(i) for i in range(10)], [])


def test_validation_split_is_disjoint_fixed_and_limited():
    train, val = runs.validation_split(_dataset(), 30)
    ids_train = set(train.images[:, 0, 0, 0].tolist())
    ids_val = set(val.images[:, 0, 0, 0].tolist())
    assert len(ids_val) == 30 and len(ids_train) == 70
    assert not ids_train & ids_val
    np.testing.assert_array_equal(train.labels, train.images[:, 0, 0, 0] % 10)
    # Fixed by the seed, whatever the limit; the limit cuts training only.
    train2, val2 = runs.validation_split(_dataset(), 30, limit=20)
    np.testing.assert_array_equal(val2.images, val.images)
    assert set(train2.images[:, 0, 0, 0].tolist()) <= ids_train
    assert len(train2.labels) == 20
    with pytest.raises(SystemExit, match="leaves no training"):
        runs.validation_split(_dataset(), 100)


def _optimizer_args(argv):
    parser = argparse.ArgumentParser()
    runs.add_optimizer_args(parser, learning_rate=0.5, weight_decay=1e-4)
    args = parser.parse_args(argv)
    args.epochs = 4
    return args


def test_build_optimizer_warmup_then_cosine():
    args = _optimizer_args(["--warmup-epochs", "1"])
    opt = runs.build_optimizer(args, steps_per_epoch=10)
    lr = opt._learning_rate  # the schedule (learning_rate is its value)
    values = [float(lr(step)) for step in (0, 5, 10, 25, 40)]
    assert values[0] == pytest.approx(0.0)
    assert values[1] == pytest.approx(0.25)      # half-way through warm-up
    assert values[2] == pytest.approx(0.5)       # peak
    assert values[3] == pytest.approx(0.25, abs=1e-6)  # cosine half-way
    assert values[4] == pytest.approx(0.0, abs=1e-6)
    assert type(opt).__name__ == "SGD" and opt.weight_decay == 1e-4


@pytest.mark.parametrize("name,cls", [("adam", "Adam"), ("adamw", "AdamW"),
                                      ("lamb", "Lamb")])
def test_build_optimizer_kinds(name, cls):
    opt = runs.build_optimizer(_optimizer_args(["--optimizer", name]), 5)
    assert type(opt).__name__ == cls


def _first_update(name, loss_scale):
    import keras

    args = _optimizer_args(["--optimizer", name, "--weight-decay", "0",
                            "--learning-rate", "0.01"])
    opt = runs.build_optimizer(args, 5)
    w = keras.Variable(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"))
    grad = loss_scale * np.array([[0.3, -0.1], [0.2, 0.4]], "float32")
    opt.apply_gradients([(keras.ops.convert_to_tensor(grad), w)])
    return np.array([[1.0, -2.0], [0.5, 3.0]]) - keras.ops.convert_to_numpy(w)


def test_lamb_step_does_not_grow_with_the_loss_scale():
    # Why barlow_twins_cifar.py uses LAMB: its loss sums D^2 terms, so its
    # gradients scale with the projector width. LAMB's step does not
    # follow the loss's scale; SGD's grows with it.
    small, large = _first_update("lamb", 1.0), _first_update("lamb", 1000.0)
    np.testing.assert_allclose(large, small, rtol=1e-4)
    assert np.abs(small).max() > 0
    sgd_small, sgd_large = _first_update("sgd", 1.0), _first_update("sgd",
                                                                    1000.0)
    np.testing.assert_allclose(sgd_large, 1000 * sgd_small, rtol=1e-4)


def test_validation_split_limit_covers_every_class_of_a_sorted_split():
    # Image folders load class by class without --limit: the limit must
    # still take every class (round-robin), as the loader's --limit does.
    n = 100
    images = np.zeros((n, 1, 1, 3), np.uint8)
    sorted_labels = np.repeat(np.arange(10, dtype=np.int32), 10)
    data = ArrayDataset(images, sorted_labels, [str(i) for i in range(10)],
                        [])
    train, _ = runs.validation_split(data, 20, limit=30)
    counts = np.bincount(train.labels, minlength=10)
    assert counts.sum() == 30 and counts.min() >= 2 and counts.max() <= 4


def test_build_optimizer_serves_every_recipe_shape():
    # A recipe with its own flags (no --optimizer, --warmup-epochs,
    # --lr-schedule): the defaults fill in, the recipe names the rest.
    bare = argparse.Namespace(learning_rate=0.1, epochs=3)
    opt = runs.build_optimizer(bare, 10)
    assert type(opt).__name__ == "SGD" and opt.weight_decay is None
    assert float(opt._learning_rate(15)) == pytest.approx(0.05, abs=1e-6)
    # Constant RMSprop (the siamese recipe's keras-io optimizer).
    opt = runs.build_optimizer(bare, 1, optimizer="rmsprop",
                               schedule="constant")
    assert type(opt).__name__ == "RMSprop"
    assert float(opt.learning_rate) == pytest.approx(0.1)
    # Adam applies --weight-decay (decoupled), over another fit's epochs.
    flags = argparse.Namespace(learning_rate=1e-3, epochs=20,
                               weight_decay=1e-4, lr_schedule="cosine")
    opt = runs.build_optimizer(flags, 10, optimizer="adam", epochs=2)
    assert type(opt).__name__ == "Adam" and opt.weight_decay == 1e-4
    assert float(opt._learning_rate(20)) == pytest.approx(0.0, abs=1e-9)
    # One epoch of warm-up given by the recipe (YOLO), then cosine.
    opt = runs.build_optimizer(flags, 10, optimizer="adamw", warmup_epochs=1)
    assert float(opt._learning_rate(5)) == pytest.approx(5e-4)
    assert float(opt._learning_rate(10)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="Received: optimizer='adagrad'"):
        runs.build_optimizer(bare, 1, optimizer="adagrad")
    with pytest.raises(ValueError, match="Received: schedule='step'"):
        runs.build_optimizer(bare, 1, schedule="step")
    with pytest.raises(ValueError, match="warm-up needs the cosine"):
        runs.build_optimizer(bare, 10, schedule="constant", warmup_epochs=1)


def test_recipes_build_optimizers_through_the_one_builder():
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inline = []
    for name in sorted(os.listdir(os.path.join(root, "recipes"))):
        if name.endswith(".py"):
            with open(os.path.join(root, "recipes", name)) as f:
                if re.search(r"keras\.optimizers\.", f.read()):
                    inline.append(name)
    assert inline == []


def test_history_csv_keeps_columns_aligned_across_monitors_and_resumes(
        tmp_path):
    """A metric logged every N epochs, and a second process resuming the
    run, still give one aligned row per epoch (Keras' CSVLogger drops the
    column, or appends rows longer than its header)."""
    import csv

    from kzoo.training.run import history_csv

    path = str(tmp_path / "history.csv")
    first = history_csv(path)
    first.on_epoch_end(0, {"loss": 3.0})
    first.on_epoch_end(1, {"loss": 2.0, "knn_accuracy": 0.5})
    resumed = history_csv(path)  # a new process, same file
    resumed.on_epoch_end(2, {"loss": 1.5})
    resumed.on_epoch_end(3, {"loss": 1.0, "knn_accuracy": 0.75})
    resumed.on_epoch_end(3, {"loss": 0.9, "knn_accuracy": 0.8})  # again
    with open(path, newline="") as f:
        header = next(csv.reader(f))
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert header == ["epoch", "knn_accuracy", "loss"]
    assert [(r["epoch"], r["loss"], r["knn_accuracy"]) for r in rows] == [
        ("0", "3.0", "NA"), ("1", "2.0", "0.5"), ("2", "1.5", "NA"),
        ("3", "0.9", "0.8")]
