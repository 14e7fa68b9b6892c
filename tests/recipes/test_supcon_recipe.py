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
        "--knn-k", "10", "--output-dir", out, "--export-dir", exp],
        timeout=900)
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
    # The classifier is saved for a preset (float32 copy).
    assert os.path.isfile(metrics["keras_models"]["supcon_digits_classifier"])
    assert metrics["lr_schedule"] == "constant"


def test_cosine_schedule_and_classifier_epochs(tmp_path):
    """--lr-schedule cosine decays every training to 0 over its own epochs;
    --classifier-epochs sets the two frozen-encoder classifiers' epochs."""
    out = str(tmp_path / "run")
    helpers.run_recipe(RECIPE, [
        "--dataset", "digits", "--limit", "128", "--epochs", "2",
        "--classifier-epochs", "1", "--lr-schedule", "cosine",
        "--batch-size", "64", "--hidden-dim", "16", "--projection-dim", "8",
        "--knn-k", "10", "--no-baseline", "--output-dir", out,
        "--export-dir", ""], timeout=900)
    metrics = helpers.read_metrics(out)
    assert metrics["lr_schedule"] == "cosine"
    assert metrics["classifier_epochs"] == 1 and metrics["epochs"] == 2
    assert len(helpers.read_history_file(out, "history_supcon.csv")) == 2
    for stage in ("classifier", "random_init_classifier"):
        assert len(helpers.read_history_file(out, f"history_{stage}.csv")) == 1


def test_keras_io_npairs_loss_is_npairs_of_the_similarity_logits():
    import importlib.util

    import keras

    import kzoo

    spec = importlib.util.spec_from_file_location(
        "supcon_cifar", helpers.recipe_path(RECIPE))
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    loss = recipe._npairs_loss(0.05, keras, kzoo.addons)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4)).astype("float32")
    labels = np.array([0, 1, 0, 2, 1, 0])
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    logits = zn @ zn.T / 0.05
    # tfa's npairs_loss: softmax cross-entropy of each row against the
    # uniform distribution over its same-label columns (itself included).
    same = (labels[:, None] == labels[None, :]).astype("float64")
    target = same / same.sum(1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)
                                         ).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    expected = np.mean(-(target * log_softmax).sum(1))
    np.testing.assert_allclose(float(loss(labels, z)), expected, rtol=1e-4)


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message(RECIPE, tmp_path)


@pytest.mark.parametrize("flags", [["--dropout", "1"], ["--temperature", "-1"],
                                   ["--loss", "triplet"],
                                   ["--encoder", "vgg"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error(RECIPE, flags)
