"""The recipes that read `tf.data` (everything but the two-view
self-supervised ones), end to end under Keras' JAX and PyTorch backends,
TensorFlow installed as the input pipeline: they train, evaluate, write
metrics.json and save their models as `.keras` with the command that
exports them (`kzoo.runs.Run.export_model`; the replay itself is tested in
tests/test_export_spec.py). Tiny budgets: wiring, not accuracy; the
accuracy comparison with TensorFlow is `benchmarks/recipe_backends.py`.

The YOLO run (the only recipe evaluated through a backend-specific path:
`kzoo.export.detection_serving_fn` eagerly) runs in CI; the others are
`slow`."""

import json
import math
import os

import pytest

from tests.conftest import datasets_root, subprocess_env
from tests.recipes import helpers

TINY = ["--dataset", "digits", "--limit", "96", "--epochs", "1",
        "--batch-size", "32", "--feature-probe-epochs", "1", "--knn-k", "20",
        "--log-every", "1"]


def _flags(recipe):
    """Tiny flags of `recipe`, or `None` when its data is missing."""
    root = datasets_root()
    data = {"yolo_bccd.py": os.path.join(root, "bccd"),
            "landmarks_faces.py": os.path.join(root, "facial_keypoints"),
            "face_verification.py": os.path.join(root, "facial_keypoints"),
            "masked_text.py": os.path.join(root, "text"),
            "audio_image_contrastive.py": os.path.join(root, "fsdd"),
            "audio_text_contrastive.py": os.path.join(root,
                                                      "spoken_words_pt")}
    if recipe in data and not os.path.exists(data[recipe]):
        return None
    return {
        "rotation_cifar.py": TINY,
        "jigsaw_cifar.py": TINY + ["--num-permutations", "6",
                                   "--hidden-dim", "16"],
        "colorization_cifar.py": TINY,
        "denoising_cifar.py": TINY + ["--noise", "masking"],
        "masked_patches_cifar.py": TINY + ["--mask-ratio", "0.5"],
        "mae_cifar.py": TINY + ["--no-norm-pix-loss", "--png-images", "2"],
        "vae_cifar.py": TINY + ["--latent-dim", "8"],
        "dcgan_cifar.py": TINY + ["--width", "8", "--quality-samples", "0"],
        "supervised_cifar.py": TINY,
        "finetune_cifar.py": ["--dataset", "digits", "--encoder", "random",
                              "--label-fraction", "0.1", "--epochs", "1",
                              "--probe-epochs", "1", "--no-scratch"],
        "deepcluster_cifar.py": TINY + ["--num-clusters", "8",
                                        "--pca-dim", "8"],
        "supcon_cifar.py": ["--dataset", "digits", "--limit", "160",
                            "--epochs", "1", "--batch-size", "64",
                            "--hidden-dim", "16", "--projection-dim", "8",
                            "--knn-k", "10"],
        "siamese_contrastive.py": ["--limit", "100", "--epochs", "1"],
        "triplet_cifar.py": ["--dataset", "digits", "--limit", "200",
                             "--epochs", "1", "--classes-per-batch", "4",
                             "--examples-per-class", "4", "--knn-k", "10"],
        "yolo_bccd.py": ["--data-dir", data["yolo_bccd.py"], "--limit", "16",
                         "--epochs", "1", "--map-every", "1",
                         "--png-images", "2", "--image-size", "256"],
        "landmarks_faces.py": ["--data-dir", root, "--limit", "48",
                               "--epochs", "1", "--batch-size", "16",
                               "--image-size", "64", "--width", "8",
                               "--png-faces", "2"],
        "face_verification.py": ["--data-dir", root, "--limit", "300",
                                 "--epochs", "1", "--image-size", "24",
                                 "--people-per-batch", "8",
                                 "--faces-per-person", "2"],
        "masked_text.py": ["--data-dir", root, "--limit", "100", "--epochs",
                           "1", "--dim", "16", "--heads", "2", "--depth",
                           "1", "--sequence-length", "64"],
        "audio_image_contrastive.py": [
            "--data-dir", root, "--limit", "96", "--epochs", "1",
            "--batch-size", "32", "--widths", "8,16", "--num-mel-bins", "32",
            "--embedding-dim", "16"],
        "audio_text_contrastive.py": [
            "--data-dir", root, "--limit", "96", "--epochs", "1",
            "--batch-size", "32", "--widths", "8,16", "--num-mel-bins", "32",
            "--text-dim", "16", "--text-depth", "1", "--embedding-dim",
            "16"],
    }[recipe]


# recipe -> the kinds it exports (None: the backbone, `backbone.keras`)
EXPORTS = {
    "rotation_cifar.py": None, "jigsaw_cifar.py": None,
    "colorization_cifar.py": None, "denoising_cifar.py": None,
    "masked_patches_cifar.py": None, "vae_cifar.py": None,
    "mae_cifar.py": None, "dcgan_cifar.py": None,
    "supervised_cifar.py": None, "deepcluster_cifar.py": None,
    "finetune_cifar.py": None,
    "supcon_cifar.py": None, "siamese_contrastive.py": None,
    "triplet_cifar.py": None, "face_verification.py": None,
    "yolo_bccd.py": ["detection"], "landmarks_faces.py": ["landmarks"],
    "masked_text.py": ["fill_blanks"],
    "audio_image_contrastive.py": ["audio_embedding", "embedding"],
    "audio_text_contrastive.py": ["audio_embedding", "text_embedding"],
}
IN_CI = {"yolo_bccd.py"}


def _finite_numbers(metrics):
    for key, value in metrics.items():
        if isinstance(value, float):
            assert math.isfinite(value), key


def _check(recipe, backend, tmp_path):
    flags = _flags(recipe)
    if flags is None:
        pytest.skip(f"the data of {recipe} is not under {datasets_root()}")
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    proc = helpers.run_recipe(
        recipe, ["--backend", backend, *flags, "--output-dir", out,
                 "--export-dir", exp],
        env=subprocess_env(KERAS_BACKEND=backend), timeout=900)
    assert f"kzoo.runs: {backend} backend, SingleDeviceStrategy" in (
        proc.stdout)
    args = json.load(open(os.path.join(out, "args.json")))
    assert args["backend"] == backend
    metrics = helpers.read_metrics(out)
    _finite_numbers(metrics)
    assert not os.path.exists(exp)  # no SavedModel off TensorFlow
    kinds = EXPORTS[recipe]
    if kinds is None:
        assert os.path.isfile(metrics["backbone"])
        assert "python -m kzoo.export embedding" in metrics["export_command"]
        return metrics
    assert len(metrics["keras_models"]) == len(kinds)
    for name, path in metrics["keras_models"].items():
        assert os.path.isfile(path)
        spec = json.load(open(os.path.join(out, f"{name}.export.json")))
        assert spec["export_dir"] == exp
        assert metrics["export_commands"][name] in proc.stdout
    found = sorted(json.load(open(os.path.join(out, f"{n}.export.json")))[
        "kind"] for n in metrics["keras_models"])
    assert found == sorted(kinds)
    return metrics


@pytest.mark.parametrize("recipe", sorted(IN_CI))
def test_recipe_under_jax_in_ci(recipe, tmp_path):
    pytest.importorskip("jax")
    metrics = _check(recipe, "jax", tmp_path)
    if recipe == "yolo_bccd.py":
        # evaluated through detection_serving_fn (eager on JAX)
        for key in ("coco_AP", "random_init_coco_AP", "voc_mAP"):
            assert 0.0 <= metrics[key] <= 1.0
        assert os.path.isfile(metrics["png"])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(set(EXPORTS) - IN_CI))
def test_recipe_under_jax(recipe, tmp_path):
    pytest.importorskip("jax")
    _check(recipe, "jax", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(EXPORTS))
def test_recipe_under_torch(recipe, tmp_path):
    pytest.importorskip("torch")
    _check(recipe, "torch", tmp_path)
