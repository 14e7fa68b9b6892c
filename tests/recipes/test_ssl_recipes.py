"""End-to-end tests of the pretext-task, Barlow Twins, VAE and supervised
recipes (tiny budgets on scikit-learn's digits, each in a fresh process):
they train, log, evaluate the backbone beside its random initialisation,
write metrics.json and export the backbone."""

import os

import numpy as np
import pytest
from PIL import Image

from tests.recipes import helpers

TINY = ["--dataset", "digits", "--limit", "96", "--epochs", "2",
        "--batch-size", "32", "--feature-probe-epochs", "2", "--knn-k", "20",
        "--log-every", "1"]

# recipe -> (extra flags, model name prefix, keys every epoch logs)
RECIPES = {
    "rotation_cifar.py": ([], "rotation", ["loss", "accuracy"]),
    "jigsaw_cifar.py": (["--num-permutations", "6", "--hidden-dim", "16"],
                        "jigsaw", ["loss", "accuracy"]),
    "colorization_cifar.py": ([], "colorization", ["loss"]),
    "denoising_cifar.py": (["--noise", "masking"], "denoising", ["loss"]),
    "masked_patches_cifar.py": (["--mask-ratio", "0.5"], "masked_patches",
                                ["loss"]),
    "barlow_twins_cifar.py": (["--projection-dim", "32"], "barlow_twins",
                              ["loss", "z_std"]),
    "vae_cifar.py": (["--latent-dim", "8"], "vae",
                     ["loss", "reconstruction_loss", "kl_loss"]),
    "supervised_cifar.py": ([], "supervised", ["loss", "accuracy"]),
    "deepcluster_cifar.py": (["--num-clusters", "8", "--pca-dim", "8"],
                             "deepcluster",
                             ["loss", "cluster_nmi", "label_nmi",
                              "empty_clusters"]),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_digits_end_to_end(recipe, tmp_path):
    extra, prefix, logged = RECIPES[recipe]
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(recipe, [*TINY, *extra, "--output-dir", out,
                                       "--export-dir", exp], timeout=600)
    metrics = helpers.read_metrics(out)
    for key in ("knn_accuracy", "feature_linear_probe_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
        assert 0.0 <= metrics["random_init_" + key] <= 1.0
    assert metrics["knn_gain"] == pytest.approx(
        metrics["knn_accuracy"] - metrics["random_init_knn_accuracy"])
    assert metrics["epochs_run_in_this_process"] == 2
    assert np.isfinite(metrics["final_loss"])
    history = helpers.read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    for key in logged:
        assert key in history[0], key
        assert len(metrics["history"][key]) == 2
    # Not a terminal: one progress line per step and per epoch.
    assert "epoch 2/2 step 3" in proc.stdout
    assert "epoch 2/2 done in" in proc.stdout
    assert os.path.isfile(os.path.join(out, "checkpoints",
                                       "epoch_002.weights.h5"))
    helpers.assert_exported(exp, f"{prefix}_digits")
    if recipe == "vae_cifar.py":
        png = Image.open(os.path.join(out, "samples.png"))
        # 4 rows (originals, reconstructions, 2 x 10 samples) of 10 images
        # of 64 px (32 px upscaled twice) with 2 px padding.
        assert png.size == (10 * 66 + 2, 4 * 66 + 2)


@pytest.mark.parametrize("recipe,flags", [
    ("rotation_cifar.py", ["--learning-rate", "0"]),
    ("jigsaw_cifar.py", ["--num-permutations", "1"]),
    ("colorization_cifar.py", ["--target", "hsv"]),
    ("denoising_cifar.py", ["--noise", "salt"]),
    ("masked_patches_cifar.py", ["--mask-ratio", "0"]),
    ("barlow_twins_cifar.py", ["--lambda", "0"]),
    ("vae_cifar.py", ["--latent-dim", "0"]),
    ("supervised_cifar.py", ["--optimizer", "lars"]),
    ("deepcluster_cifar.py", ["--num-clusters", "0"]),
])
def test_bad_flags_are_argparse_errors(recipe, flags):
    helpers.assert_usage_error(recipe, flags)


def test_offline_without_data_dir_gives_a_message_not_a_traceback(tmp_path):
    helpers.assert_offline_message("rotation_cifar.py", tmp_path)


def test_validation_split_replaces_the_test_split(tmp_path):
    out = str(tmp_path / "run")
    proc = helpers.run_recipe("denoising_cifar.py", [
        *TINY, "--epochs", "1", "--eval-split", "validation",
        "--validation-size", "64", "--output-dir", out, "--export-dir", ""],
        timeout=600)
    metrics = helpers.read_metrics(out)
    assert metrics["test_images"] == 64 and metrics["train_images"] == 96
    assert "64 validation (carved from train) images" in proc.stdout


def test_colorization_encoder_sees_the_grey_image(tmp_path):
    """The evaluated and exported colorization encoder converts colour to
    the grey it was trained on: an image and its grey give one embedding,
    while a colour change of the same lightness does not matter."""
    import tensorflow as tf

    from kzoo.data import ColorizationPretext

    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    helpers.run_recipe("colorization_cifar.py",
                       [*TINY, "--epochs", "1", "--output-dir", out,
                        "--export-dir", exp], timeout=600)
    m = helpers.read_metrics(out)
    serve = tf.saved_model.load(m["saved_model"]).signatures[
        "serving_default"]
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    grey = np.round(ColorizationPretext()(colour)[0].numpy()).astype("uint8")

    def embed(x):
        return list(serve(tf.constant(x)).values())[0].numpy()

    np.testing.assert_allclose(embed(colour), embed(grey), atol=0.02)
    assert np.abs(embed(colour) - embed(colour[..., ::-1])).max() > 1e-3
