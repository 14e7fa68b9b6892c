"""End-to-end tests of recipes/supcon_cifar.py, each run in a fresh process."""

import os

import numpy as np
import pytest

from tests.recipes import helpers

RECIPE = "supcon_cifar.py"
STAGES = ("random_init_classifier", "supcon", "classifier", "cross_entropy")


def test_digits_three_trainings_write_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    helpers.run_recipe(RECIPE, [
        "--dataset", "digits", "--limit", "160", "--epochs", "1",
        "--batch-size", "64", "--hidden-dim", "16", "--projection-dim", "8",
        "--knn-k", "10", "--output-dir", out, "--export-dir", exp])
    metrics = helpers.read_metrics(out)
    for key in ("test_accuracy", "random_init_test_accuracy",
                "cross_entropy_test_accuracy", "knn_accuracy",
                "random_init_knn_accuracy", "cross_entropy_knn_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["keras_io_reference_accuracy"] == 0.8162
    assert np.isfinite(metrics["supcon_final_loss"])
    assert set(metrics["fit_seconds"]) == set(STAGES)
    # every stage has its own history, checkpoints and backup
    for stage in STAGES:
        assert len(helpers.read_history_file(out, f"history_{stage}.csv")) == 1
        assert os.path.isfile(os.path.join(out, "checkpoints", stage,
                                           "epoch_001.weights.h5"))
    helpers.assert_exported(exp, "supcon_digits")


def test_keras_io_npairs_loss_and_no_baseline(tmp_path):
    out = str(tmp_path / "run")
    helpers.run_recipe(RECIPE, [
        "--dataset", "digits", "--limit", "96", "--epochs", "1",
        "--batch-size", "48", "--hidden-dim", "8", "--projection-dim", "8",
        "--knn-k", "5", "--loss", "npairs", "--no-baseline",
        "--output-dir", out, "--export-dir", ""])
    metrics = helpers.read_metrics(out)
    assert metrics["loss"] == "npairs" and np.isfinite(metrics["supcon_final_loss"])
    assert "cross_entropy_test_accuracy" not in metrics
    assert "saved_model" not in metrics


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message(RECIPE, tmp_path)


@pytest.mark.parametrize("flags", [["--dropout", "1"], ["--temperature", "-1"],
                                   ["--loss", "triplet"],
                                   ["--encoder", "vgg"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error(RECIPE, flags)
