"""Tests of recipes/triplet_cifar.py (semi-hard triplet loss, P x K batches).

End-to-end runs go through a fresh process; flag parsing and the recipe's
augmentation are checked in this process (cheap once TensorFlow is loaded).
"""

import importlib.util
import json
import os

import numpy as np
import pytest

from tests.recipes import helpers
from tests.recipes.helpers import read_history
from tests.recipes.helpers import read_metrics

RECIPE = "triplet_cifar.py"
RETRIEVAL_KEYS = ("recall_at_1", "recall_at_2", "recall_at_4", "recall_at_8",
                  "r_precision", "map_at_r", "knn_accuracy")


def run_recipe(args, **kwargs):
    return helpers.run_recipe(RECIPE, args, **kwargs)


def load_recipe_module():
    spec = importlib.util.spec_from_file_location(
        "triplet_cifar_recipe", helpers.recipe_path(RECIPE))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_end_to_end_writes_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = run_recipe(["--dataset", "digits", "--limit", "128", "--epochs", "2",
                       "--classes-per-batch", "4", "--examples-per-class", "4",
                       "--embedding-dim", "16", "--knn-k", "20",
                       "--output-dir", out, "--export-dir", exp], timeout=600)
    metrics = read_metrics(out)
    for key in RETRIEVAL_KEYS:
        for name in (key, "random_init_" + key):
            assert 0.0 <= metrics[name] <= 1.0, name
    # Recall@k can only grow with k.
    for prefix in ("", "random_init_"):
        recalls = [metrics[f"{prefix}recall_at_{k}"] for k in (1, 2, 4, 8)]
        assert recalls == sorted(recalls), recalls
    assert metrics["global_batch_size"] == 16 and metrics["steps_per_epoch"] == 8
    assert metrics["epochs_run_in_this_process"] == 2
    assert metrics["retrieval_queries"] == metrics["test_images"] == 128
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["args"]["batch_size"] == 16 and args["args"]["margin"] == 1.0

    history = read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    for row in history:
        # With K = 4 every anchor has positives: at random init, margin 1.0,
        # the semi-hard loss and the active fraction are positive. Broken
        # P x K batches (no positives) would give exactly 0.
        assert 0.0 < float(row["loss"]) <= 0.5 * (1.0 + 2.0)
        assert 0.0 < float(row["active_triplet_fraction"]) <= 1.0
        assert 0.0 <= float(row["test_recall_at_1"]) <= 1.0
        assert 0.0 <= float(row["test_map_at_r"]) <= 1.0
    # The last monitored figures are those of the final evaluation.
    assert float(history[-1]["test_recall_at_1"]) == pytest.approx(
        metrics["recall_at_1"])
    assert os.path.isfile(os.path.join(out, "checkpoints", "epoch_002.weights.h5"))
    assert os.listdir(os.path.join(out, "logs"))
    helpers.assert_exported(exp, "triplet_digits")
    assert metrics["saved_model"].endswith(os.path.join("triplet_digits", "1"))
    assert ":predict" in proc.stdout


def test_real_cifar10_smoke(cifar_dir, tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--data-dir", cifar_dir, "--limit", "256", "--epochs", "1",
                "--examples-per-class", "4", "--embedding-dim", "16",
                "--knn-k", "20", "--eval-every", "0", "--output-dir", out,
                "--export-dir", ""], timeout=600)
    metrics = read_metrics(out)
    assert metrics["train_images"] == 256 and metrics["test_images"] == 256
    assert metrics["global_batch_size"] == 40 and metrics["steps_per_epoch"] == 6
    assert np.isfinite(metrics["final_loss"]) and metrics["final_loss"] > 0
    for key in RETRIEVAL_KEYS:
        assert 0.0 <= metrics["random_init_" + key] <= 1.0
    assert "saved_model" not in metrics


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message(RECIPE, tmp_path)


def test_more_classes_per_batch_than_classes_is_a_clear_error(tmp_path):
    proc = run_recipe(["--dataset", "digits", "--limit", "64",
                       "--classes-per-batch", "11", "--output-dir",
                       str(tmp_path / "o"), "--export-dir", ""],
                      check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "--classes-per-batch=11" in proc.stderr
    assert "number of classes in the training set (10)" in proc.stderr


def test_classes_per_batch_zero_is_a_usage_error():
    helpers.assert_usage_error(RECIPE, ["--classes-per-batch", "0"])


@pytest.fixture(scope="module")
def recipe():
    return load_recipe_module()


@pytest.mark.parametrize("flags", [
    ["--examples-per-class", "1"], ["--examples-per-class", "0"],
    ["--margin", "-0.1"], ["--distance", "l1"], ["--learning-rate", "0"],
    ["--optimizer", "rmsprop"], ["--embedding-dim", "0"],
    ["--eval-every", "-1"], ["--dataset", "mnist"], ["--epochs", "0"],
])
def test_bad_flags_are_argparse_errors(recipe, flags, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(flags)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_batch_size_must_match_p_times_k(recipe, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.main(["--classes-per-batch", "4", "--examples-per-class", "8",
                     "--batch-size", "30"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "4 x 8 x 1 = 32" in err and "--batch-size=30" in err
    args = recipe.parse_args(["--classes-per-batch", "4",
                              "--examples-per-class", "8"])
    assert args.batch_size is None and args.model_name == "triplet_cifar10"
