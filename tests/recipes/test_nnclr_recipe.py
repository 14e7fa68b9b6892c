"""End-to-end tests of recipes/nnclr_cifar.py, in a fresh process."""

import os

import numpy as np

from tests.recipes import helpers

RECIPE = "nnclr_cifar.py"


def test_digits_end_to_end_writes_everything(tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    helpers.run_recipe(RECIPE, [
        "--dataset", "digits", "--limit", "192", "--epochs", "2",
        "--batch-size", "64", "--queue-size", "256", "--projection-dim", "16",
        "--feature-probe-epochs", "2", "--knn-k", "20", "--output-dir", out,
        "--export-dir", exp], timeout=600)
    m = helpers.read_metrics(out)
    for key in ("knn_accuracy", "feature_linear_probe_accuracy"):
        assert 0.0 <= m[key] <= 1.0
        assert 0.0 <= m["random_init_" + key] <= 1.0
    # the cross-view softmax over N = 64 is at most log(64) + 2 / T
    assert 0.0 < m["final_loss"] < np.log(64) + 2 / 0.1
    assert m["queue_size"] == 256 and m["temperature"] == 0.1
    assert [r["epoch"] for r in helpers.read_history(out)] == ["0", "1"]
    assert os.path.isfile(os.path.join(out, "checkpoints",
                                       "epoch_002.weights.h5"))
    helpers.assert_exported(exp, "nnclr_digits")


def test_bad_flags_are_argparse_errors():
    for flags in (["--queue-size", "0"], ["--temperature", "0"],
                  ["--predictor-hidden-dim", "0"]):
        helpers.assert_usage_error(RECIPE, flags)
