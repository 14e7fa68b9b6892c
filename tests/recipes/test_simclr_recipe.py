"""End-to-end tests of recipes/simclr_cifar.py, each run in a fresh process."""

import json
import os

import numpy as np
import pytest

from tests.recipes import helpers

RECIPE = "simclr_cifar.py"
SMALL = ["--projection-dim", "16", "--feature-probe-epochs", "2",
         "--knn-k", "20"]


def test_digits_end_to_end_writes_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(RECIPE, [
        "--dataset", "digits", "--limit", "192", "--epochs", "2",
        "--batch-size", "64", "--output-dir", out, "--export-dir", exp, *SMALL],
        timeout=600)
    metrics = helpers.read_metrics(out)
    for key in ("knn_accuracy", "feature_linear_probe_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
        assert 0.0 <= metrics["random_init_" + key] <= 1.0
    assert "linear_probe_accuracy" not in metrics  # --probe-epochs 0
    # NT-Xent over 2N = 128 views is at most log(2N - 1) + 2 / T.
    assert 0.0 < metrics["final_loss"] < np.log(127) + 2 / 0.5
    assert metrics["temperature"] == 0.5
    assert metrics["learning_rate"] == pytest.approx(0.06 * 64 / 256)
    assert metrics["epochs_run_in_this_process"] == 2
    history = helpers.read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    assert "knn_accuracy" in history[0]
    assert os.path.isfile(os.path.join(out, "checkpoints",
                                       "epoch_002.weights.h5"))
    helpers.assert_exported(exp, "simclr_digits")
    assert ":predict" in proc.stdout
    args = json.load(open(os.path.join(out, "args.json")))["args"]
    assert args["temperature"] == 0.5 and args["projection_hidden_dim"] is None


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message(RECIPE, tmp_path)


@pytest.mark.parametrize("flags", [["--temperature", "0"],
                                   ["--knn-every", "-1"],
                                   ["--projection-dim", "0"],
                                   ["--dataset", "mnist"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error(RECIPE, flags)
