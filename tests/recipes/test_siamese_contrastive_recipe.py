"""Tests of recipes/siamese_contrastive.py: end-to-end runs in fresh
processes, and its loss, metric, model and pairs in this process."""

import importlib.util
import os

import numpy as np
import pytest

from tests.conftest import subprocess_env
from tests.recipes import helpers

NAME = "siamese_contrastive.py"


def run_recipe(args, **kwargs):
    return helpers.run_recipe(NAME, args, **kwargs)


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location(
        "siamese_contrastive_recipe", helpers.recipe_path(NAME))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_metrics(metrics, prefixes=("", "random_init_")):
    for p in prefixes:
        for key in ("test_accuracy", "verification_accuracy", "roc_auc",
                    "cosine_verification_accuracy", "cosine_roc_auc"):
            assert 0.0 <= metrics[p + key] <= 1.0, p + key
        assert np.isfinite(metrics[p + "test_loss"]) and metrics[p + "test_loss"] >= 0
        assert metrics[p + "verification_threshold"] > -1e-6
        assert -1e-6 <= metrics[p + "cosine_verification_threshold"] <= 2 + 1e-6


def test_digits_end_to_end_writes_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = run_recipe(["--limit", "200", "--epochs", "2", "--output-dir", out,
                       "--export-dir", exp])
    metrics = helpers.read_metrics(out)
    _check_metrics(metrics)
    assert metrics["dataset"] == "digits" and metrics["head"] == "distance"
    assert metrics["keras_io_reference_accuracy"] == 0.9577
    assert metrics["loss"] == "ContrastiveLoss(margin=1.0, squared_margin=True)"
    assert metrics["epochs"] == metrics["epochs_run_in_this_process"] == 2
    # keras-io's split (half the training images validate) and pair counts
    # (one similar and one dissimilar pair per image)
    assert metrics["train_images"] == metrics["val_images"] == 100
    assert metrics["test_images"] == 200
    assert metrics["train_pairs_per_epoch"] == 200
    assert metrics["val_pairs"] == 200 and metrics["test_pairs"] == 400
    assert metrics["fit_seconds"] > 0 and metrics["wall_time_seconds"] > 0
    # training moved the weights: the trained model scores differently
    assert metrics["test_loss"] != metrics["random_init_test_loss"]
    history = helpers.read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    for row in history:
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(row)
        assert 0 <= float(row["val_accuracy"]) <= 1 and float(row["loss"]) >= 0
    assert metrics["final_val_accuracy"] == pytest.approx(
        float(history[-1]["val_accuracy"]))
    for epoch in (1, 2):
        assert os.path.isfile(os.path.join(
            out, "checkpoints", f"epoch_{epoch:03d}.weights.h5"))
    helpers.assert_exported(exp, "siamese_contrastive_digits")
    assert metrics["saved_model"].endswith(
        os.path.join("siamese_contrastive_digits", "1"))
    assert "random init: keras-io accuracy" in proc.stdout


def test_sigmoid_head_runs(tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--limit", "100", "--epochs", "1", "--head", "sigmoid",
                "--margin-on", "distance", "--output-dir", out,
                "--export-dir", ""])
    metrics = helpers.read_metrics(out)
    _check_metrics(metrics)
    assert metrics["head"] == "sigmoid" and "saved_model" not in metrics
    assert metrics["loss"] == "ContrastiveLoss(margin=1.0, squared_margin=False)"
    # the sigmoid output is < 1: every dissimilar pair is inside the margin
    assert metrics["test_loss"] > 0


def test_real_cifar10_smoke(cifar_dir, tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--dataset", "cifar10", "--data-dir", cifar_dir, "--limit",
                "200", "--epochs", "1", "--output-dir", out, "--export-dir",
                ""])
    metrics = helpers.read_metrics(out)
    _check_metrics(metrics)
    assert metrics["dataset"] == "cifar10"
    # the folder is read class by class: the split must still be stratified
    assert metrics["train_images"] == metrics["val_images"] == 100


def test_cifar10_offline_without_data_dir_gives_a_message(tmp_path):
    env = subprocess_env(TFDS_DATA_DIR=str(tmp_path / "tfds"))
    env.pop("KZOO_DATA_DIR", None)
    proc = run_recipe(["--dataset", "cifar10", "--epochs", "1",
                       "--output-dir", str(tmp_path / "o")],
                      env=env, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--data-dir" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags", [
    ["--epochs", "0"], ["--head", "bogus"], ["--val-fraction", "1"],
    ["--val-fraction", "0"], ["--margin", "0"], ["--margin-on", "bogus"],
    ["--pairs-per-example", "0"], ["--dataset", "mnist"],
    ["--batch-size", "many"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error(NAME, flags)


def test_defaults_are_keras_io(recipe):
    args = recipe.parse_args([])
    assert (args.epochs, args.batch_size, args.margin) == (10, 16, 1.0)
    assert args.learning_rate == 1e-3 and args.val_fraction == 0.5
    assert args.pairs_per_example == 2 and args.embedding_dim == 10
    assert args.head == "distance" and args.dataset == "digits"
    assert args.margin_on == "squared-distance"


def test_loss_is_the_course_formula_on_a_hand_case(recipe):
    y = np.array([[0.0], [1.0], [1.0], [0.0]], "float32")
    d = np.array([[0.5], [0.5], [1.2], [0.0]], "float32")
    course = recipe.make_loss(recipe.parse_args([]))
    # 1/2 (1-y) d^2 + 1/2 y max(0, m - d^2), averaged over the pairs
    expected = np.mean([0.5 * 0.25, 0.5 * (1 - 0.25), 0.0, 0.0])
    assert float(course(y, d)) == pytest.approx(expected, rel=1e-6)
    hadsell = recipe.make_loss(recipe.parse_args(["--margin-on", "distance"]))
    expected = np.mean([0.5 * 0.25, 0.5 * 0.5 ** 2, 0.0, 0.0])
    assert float(hadsell(y, d)) == pytest.approx(expected, rel=1e-6)


def test_keras_io_accuracy_reads_outputs_below_half_as_similar(recipe):
    metric = recipe.make_accuracy()
    # labels 0 similar, 1 dissimilar; outputs 0.2 and 0.7 right, 0.6 and
    # 0.4 wrong
    metric.update_state(np.array([[0.0], [1.0], [0.0], [1.0]]),
                        np.array([[0.2], [0.7], [0.6], [0.4]]))
    assert float(metric.result()) == pytest.approx(0.5)


def test_distance_head_outputs_the_tower_distance(recipe):
    tower = recipe.build_tower((32, 32, 3), 10)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (4, 32, 32, 3)).astype("float32")
    b = rng.integers(0, 256, (4, 32, 32, 3)).astype("float32")
    ea, eb = tower.predict_on_batch(a), tower.predict_on_batch(b)
    d = recipe.build_model(tower, "distance").predict_on_batch([a, b])
    np.testing.assert_allclose(d[:, 0], np.linalg.norm(ea - eb, axis=1),
                               rtol=1e-5, atol=1e-6)
    s = recipe.build_model(tower, "sigmoid").predict_on_batch([a, b])
    assert s.shape == (4, 1) and np.all((s > 0) & (s < 1))
    # the exported tower takes raw 0..255 pixels: keras-io's first layer
    # is a BatchNormalization, no Rescaling
    assert type(tower.layers[1]).__name__ == "BatchNormalization"


def test_fixed_pairs_are_reproducible_balanced_and_labelled(recipe):
    labels = np.repeat(np.arange(5), 8)
    first = recipe.fixed_pairs(labels, seed=3, pairs_per_example=2)
    again = recipe.fixed_pairs(labels, seed=3, pairs_per_example=2)
    other = recipe.fixed_pairs(labels, seed=4, pairs_per_example=2)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], other[0])
    i1, i2, y = first
    assert len(y) == 2 * len(labels) and y.sum() == len(labels)
    np.testing.assert_array_equal(y, (labels[i1] != labels[i2]).astype(int))
    assert np.all(i1[y == 0] != i2[y == 0])


def test_stratified_split_takes_the_fraction_of_each_class(recipe):
    labels = np.repeat(np.arange(4), 10)  # sorted by class, like a folder
    train, val = recipe.stratified_split(labels, 0.5, seed=0)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 40
    assert np.bincount(labels[val]).tolist() == [5, 5, 5, 5]


@pytest.mark.slow
def test_full_digits_run_beats_random_init(tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--output-dir", out, "--export-dir", ""], timeout=900)
    m = helpers.read_metrics(out)
    assert m["roc_auc"] > m["random_init_roc_auc"] + 0.05
    assert m["verification_accuracy"] > m["random_init_verification_accuracy"]
    assert m["test_accuracy"] > m["random_init_test_accuracy"]


def test_tower_width_multiplies_the_convolutions(recipe):
    import keras

    def filters(tower):
        return [layer.filters for layer in tower.layers
                if isinstance(layer, keras.layers.Conv2D)]

    assert filters(recipe.build_tower((32, 32, 3), 10)) == [4, 16]
    wide = recipe.build_tower((32, 32, 3), 32, width=4)
    assert filters(wide) == [16, 64]
    assert wide.output.shape[-1] == 32
    assert recipe.parse_args(["--tower-width", "4"]).tower_width == 4
