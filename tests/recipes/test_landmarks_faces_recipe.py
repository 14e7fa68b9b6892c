"""Tests of recipes/landmarks_faces.py: one tiny end-to-end run in a fresh
process (metrics, PNG, SavedModel checked from a TensorFlow-only process
against the Keras model), and its helpers in this process."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import datasets_root, subprocess_env
from tests.recipes import helpers

NAME = "landmarks_faces.py"
SIZE = 64  # tiny smoke runs; the default is 96


def facial_dir():
    path = os.path.join(datasets_root(), "facial_keypoints")
    if not os.path.isfile(os.path.join(path, "training_keypoints.csv")):
        pytest.skip(f"facial_keypoints not found at {path} (set KZOO_DATA_DIR)")
    return path


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location(
        "landmarks_faces_recipe", helpers.recipe_path(NAME))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data_dir = facial_dir()
    tmp = tmp_path_factory.mktemp("landmarks")
    out, exp = str(tmp / "run"), str(tmp / "export")
    proc = helpers.run_recipe(NAME, [
        "--data-dir", os.path.dirname(data_dir), "--limit", "48",
        "--epochs", "1", "--batch-size", "16", "--image-size", str(SIZE),
        "--width", "8", "--png-faces", "6", "--output-dir", out,
        "--export-dir", exp], timeout=240)
    return {"out": out, "export": exp, "stdout": proc.stdout,
            "data_dir": data_dir}


def test_end_to_end_metrics(tiny_run):
    m = helpers.read_metrics(tiny_run["out"])
    # 20% of the people (of both folders' first 48 faces) held out.
    held = m["heldout_images"]
    assert held > 0 and m["heldout_people"]
    assert m["train_images"] + m["val_images"] + m["test_images"] + held == 96
    for prefix, count in (("test_", m["test_images"]),
                          ("mean_shape_test_", m["test_images"]),
                          ("heldout_", held), ("mean_shape_heldout_", held)):
        assert np.isfinite(m[prefix + "nme"]) and m[prefix + "nme"] > 0
        assert 0.0 <= m[prefix + "pck@0.1"] <= 1.0
        assert 0.0 <= m[prefix + "failure_rate@0.1"] <= 1.0
        assert m[prefix + "num_images"] == count
        assert m[prefix + "num_skipped"] == 0
        assert m[prefix + "num_points"] == count * 68
    assert m["dataset"] == "facial_keypoints" and m["point_loss"] == "l1"
    assert m["image_size"] == SIZE and m["num_landmarks"] == 68
    assert m["val_images"] > 0 and m["epochs_run_in_this_process"] == 1
    assert "36 and 45" in m["normalizer"] and "0.1" in m["pck_rule"]
    assert m["train_steps_per_second"] > 0 and m["wall_time_seconds"] > 0
    helpers.assert_exported(tiny_run["export"], "landmarks_faces")
    assert m["saved_model"].endswith(os.path.join("landmarks_faces", "1"))
    history = helpers.read_history(tiny_run["out"])
    assert {"loss", "landmarks_nme", "landmarks_pck", "val_landmarks_nme",
            "presence_loss"} <= set(history[0])
    assert "mean_shape_test: nme" in tiny_run["stdout"]


def test_end_to_end_png_is_a_valid_image(tiny_run):
    from PIL import Image

    path = os.path.join(tiny_run["out"], "test_landmarks.png")
    assert helpers.read_metrics(tiny_run["out"])["landmarks_png"] == path
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width >= 128 and img.height >= 128
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    # both colours are drawn: true (green) and predicted (red) points
    assert np.any(np.all(pixels == (0, 230, 0), axis=1))
    assert np.any(np.all(pixels == (255, 40, 40), axis=1))


SERVE = r"""
import json, sys
sys.modules["kzoo"] = None  # any `import kzoo` now raises ImportError
import numpy as np
import tensorflow as tf
from PIL import Image
version_dir, files = sys.argv[1], json.loads(sys.argv[2])
serve = tf.saved_model.load(version_dir).signatures["serving_default"]
result = []
for f in files:
    img = np.asarray(Image.open(f).convert("RGB"), np.uint8)[None]
    out = serve(images=tf.constant(img))
    result.append({"landmarks": out["landmarks"].numpy()[0].tolist(),
                   "presence": out["presence"].numpy().tolist(),
                   "shape": list(img.shape)})
print(json.dumps({"result": result,
                  "kzoo": any(m.startswith("kzoo.") for m in sys.modules)}))
"""


def test_saved_model_serves_input_pixels_without_kzoo(tiny_run, recipe,
                                                     tmp_path):
    import keras

    from kzoo import data

    m = helpers.read_metrics(tiny_run["out"])
    test = data.load_facial_keypoints("test", tiny_run["data_dir"], limit=4)
    files = [os.path.join(tiny_run["data_dir"], "test", f)
             for f in test.file_names]
    env = subprocess_env()
    env.pop("PYTHONPATH", None)  # TensorFlow only: kzoo is blocked
    proc = subprocess.run(
        [sys.executable, "-c", SERVE, m["saved_model"], json.dumps(files)],
        capture_output=True, text=True, timeout=120, env=env,
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not served["kzoo"]
    # the same model in this process, from the run's last checkpoint
    model = recipe.build_model(SIZE, 8, 68)
    model.load_weights(os.path.join(tiny_run["out"], "checkpoints",
                                    "epoch_001.weights.h5"))
    canvas = data.letterbox_keypoint_dataset(test, SIZE)
    expected = recipe.predict_points(model, canvas, SIZE)
    for i, r in enumerate(served["result"]):
        assert r["shape"][1:3] == list(test.images[i].shape[:2])
        pts = np.asarray(r["landmarks"])
        assert pts.shape == (68, 2)
        # input-image pixels: the letterboxed canvas is SIZE, the image 128
        np.testing.assert_allclose(pts, expected[i], atol=0.05)
        assert 0.0 <= r["presence"][0] <= 1.0
    assert isinstance(model, keras.Model)


def test_saved_model_handles_any_input_size(tiny_run):
    """Decoding maps back through the letterbox of *that* input: the same
    face served at twice its size gives twice the coordinates."""
    import tensorflow as tf
    from PIL import Image

    m = helpers.read_metrics(tiny_run["out"])
    serve = tf.saved_model.load(m["saved_model"]).signatures["serving_default"]
    f = os.path.join(tiny_run["data_dir"], "test",
                     sorted(os.listdir(os.path.join(tiny_run["data_dir"],
                                                    "test")))[0])
    img = Image.open(f).convert("RGB")
    small = np.asarray(img, np.uint8)
    big = np.asarray(img.resize((img.width * 2, img.height * 2),
                                Image.BILINEAR), np.uint8)
    p_small = serve(images=tf.constant(small[None]))["landmarks"].numpy()[0]
    p_big = serve(images=tf.constant(big[None]))["landmarks"].numpy()[0]
    np.testing.assert_allclose(p_big, 2 * p_small, atol=1.5)
    batch = serve(images=tf.constant(np.stack([small, small])))
    assert batch["landmarks"].shape == (2, 68, 2)
    assert batch["presence"].shape == (2,)


def test_offline_without_data_dir_gives_a_message(tmp_path):
    helpers.assert_no_data_message(NAME, tmp_path)


@pytest.mark.parametrize("flags", [
    ["--epochs", "0"], ["--image-size", "100"], ["--point-loss", "huber"],
    ["--head", "bogus"], ["--val-fraction", "1"], ["--max-rotation", "200"],
    ["--presence-weight", "-1"], ["--dataset", "cifar10"]])
def test_bad_flags_are_argparse_errors(flags):
    helpers.assert_usage_error(NAME, flags)


def test_defaults(recipe):
    args = recipe.parse_args([])
    assert (args.epochs, args.batch_size, args.image_size) == (25, 32, 96)
    assert args.point_loss == "l1" and args.head == "soft_argmax"
    assert args.model_name == "landmarks_faces" and args.augment
    assert "15 minutes" in recipe.__doc__


def test_split_by_person_keeps_people_apart(recipe):
    names = [f"{p}_{i}.jpg" for p in ("Ann_Lee", "Bob", "Cy_D_E", "Dee")
             for i in range(3)]
    train, val = recipe.split_by_person(names, 0.5, seed=0)
    assert len(train) + len(val) == 12 and len(val) == 6
    people = lambda idx: {recipe.person_of(names[i]) for i in idx}  # noqa
    assert not people(train) & people(val)
    assert recipe.person_of("Cy_D_E_2.jpg") == "Cy_D_E"


def test_mean_shape_baseline_places_the_mean_shape_in_each_image(recipe):
    from kzoo import data

    images = [np.zeros((40, 20, 3), np.uint8), np.zeros((20, 40, 3), np.uint8)]
    ds = data.KeypointDataset(images, np.zeros((2, 2, 2), "float32"),
                              np.ones((2, 2), "float32"), ["a", "b"], [])
    canvas = data.letterbox_keypoint_dataset(ds, 32)
    mean = np.array([[0.5, 0.5], [0.25, 0.75]])
    pts = recipe.mean_shape_points(mean, canvas, 32)
    # the canvas centre is each image's centre
    np.testing.assert_allclose(pts[:, 0], [[10, 20], [20, 10]], atol=1e-4)
    # (8, 24) on the canvas: tall image scale 0.8, offset (8, 0)
    np.testing.assert_allclose(pts[0, 1], [0.0, 30.0], atol=1e-4)


def test_draw_landmarks_puts_the_dots_at_the_points(recipe):
    img = np.zeros((20, 30, 3), np.uint8)
    out = np.asarray(recipe.draw_landmarks(
        img, true_points=[[5.5, 10.5]], predicted_points=[[20.5, 3.5]],
        scale=2))
    assert out.shape == (40, 60, 3)
    assert tuple(out[21, 11]) == recipe.TRUE_COLOR
    assert tuple(out[7, 41]) == recipe.PRED_COLOR
    assert tuple(out[0, 0]) == (0, 0, 0)


def test_build_model_shapes(recipe):
    for head in ("soft_argmax", "regression"):
        model = recipe.build_model(64, 8, 68, head=head,
                                   initial_landmarks=np.full((68, 2), 0.4))
        out = model.predict(np.zeros((2, 64, 64, 3), "float32"), verbose=0)
        assert out["landmarks"].shape == (2, 68, 2)
        assert out["presence"].shape == (2, 1)
