"""Tests of recipes/dcgan_cifar.py: a tiny digits run writes the sample
grids, the sample precision / recall beside their baselines, the encoder
export and the generator."""

import os

import numpy as np

from tests.recipes import helpers

NAME = "dcgan_cifar.py"


def test_digits_end_to_end(tmp_path):
    from PIL import Image

    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(NAME, [
        "--dataset", "digits", "--limit", "192", "--epochs", "2",
        "--batch-size", "64", "--width", "16", "--knn-k", "10",
        "--feature-probe-epochs", "1", "--quality-samples", "150",
        "--output-dir", out, "--export-dir", exp], timeout=400)
    m = helpers.read_metrics(out)
    for key in ("knn_accuracy", "random_init_knn_accuracy",
                "sample_precision", "sample_recall",
                "untrained_sample_precision", "real_train_precision",
                "real_train_recall"):
        assert 0.0 <= m[key] <= 1.0, key
    assert m["quality_images"] == 150 and m["quality_k"] == 3
    # real training images are realistic in the supervised feature space
    assert m["real_train_precision"] > 0.5
    for epoch in (1, 2):
        path = os.path.join(out, "samples", f"epoch_{epoch:03d}.png")
        with Image.open(path) as image:
            assert image.size[0] > 8 * 32 * 2
    history = helpers.read_history(out)
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history[0])
    assert all(np.isfinite(float(r["loss"])) for r in history)
    assert os.path.isfile(m["keras_models"]["dcgan_digits_generator"])
    helpers.assert_exported(exp, "dcgan_digits")
    assert "samples: precision" in proc.stdout


def test_bad_flags():
    for flags in (["--latent-dim", "0"], ["--beta-1", "2"],
                  ["--quality-samples", "-1"]):
        helpers.assert_usage_error(NAME, flags)
