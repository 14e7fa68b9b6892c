"""Tests of recipes/yolo_bccd.py (YOLO on BCCD): tiny end-to-end runs in a
fresh process, the served SavedModel in a TensorFlow-only process, and the
recipe's error paths."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import datasets_root
from tests.conftest import subprocess_env
from tests.recipes import helpers
from tests.recipes.helpers import read_history
from tests.recipes.helpers import read_metrics

RECIPE = "yolo_bccd.py"
CLASSES = ["Platelets", "RBC", "WBC"]


@pytest.fixture
def bccd_root():
    root = datasets_root()
    if not os.path.isdir(os.path.join(root, "bccd", "Annotations")):
        pytest.skip(f"BCCD not found under {root} (set KZOO_DATA_DIR)")
    return root


def run_recipe(args, **kwargs):
    return helpers.run_recipe(RECIPE, args, **kwargs)


def _check_map_metrics(metrics, prefix):
    for key in ("coco_AP", "coco_AP50", "coco_AP75", "voc_mAP"):
        assert 0.0 <= metrics[prefix + key] <= 1.0, prefix + key
    for name in CLASSES:
        for key in (f"coco_AP/{name}", f"coco_AP50/{name}", f"voc_AP/{name}"):
            assert 0.0 <= metrics[prefix + key] <= 1.0, prefix + key
    # AP50 is at the loosest of COCO's ten IoU thresholds, AP75 at a
    # stricter one, AP their average with the others.
    assert metrics[prefix + "coco_AP75"] <= metrics[prefix + "coco_AP50"]
    assert metrics[prefix + "coco_AP"] <= metrics[prefix + "coco_AP50"]


def test_end_to_end_anchor_layout_and_served_detections(bccd_root, tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    run_recipe(["--data-dir", bccd_root, "--limit", "16", "--epochs", "2",
                "--map-every", "1", "--png-images", "2", "--image-size", "256",
                "--output-dir", out, "--export-dir", exp], timeout=600)
    metrics = read_metrics(out)
    _check_map_metrics(metrics, "")
    _check_map_metrics(metrics, "random_init_")
    assert metrics["class_names"] == CLASSES
    assert metrics["grid_size"] == 8 and metrics["layout"] == "anchor"
    assert len(metrics["anchors"]) == 5
    assert metrics["train_target_encoding"]["images"] == 16
    assert metrics["epochs_run_in_this_process"] == 2
    history = read_history(out)
    assert [r["epoch"] for r in history] == ["0", "1"]
    for row in history:
        assert 0.0 <= float(row["val_mAP"]) <= 1.0
        assert np.isfinite(float(row["loss"])) and float(row["loss"]) > 0
    png = Image.open(metrics["png"])
    assert png.size == (2 * 640, 480)  # two 640x480 test images side by side
    helpers.assert_exported(exp, "yolo_bccd")

    # The served model in a process importing only TensorFlow: a raw
    # 480x640 uint8 BCCD test image in, padded final detections out, in
    # the input's pixels.
    test_id = open(os.path.join(bccd_root, "bccd", "ImageSets", "Main",
                                "test.txt")).read().split()[0]
    image_path = os.path.join(bccd_root, "bccd", "JPEGImages", f"{test_id}.jpg")
    version_dir = os.path.join(exp, "yolo_bccd", "1")
    script = f"""
import json, sys
import numpy as np
import tensorflow as tf
image = tf.io.decode_jpeg(tf.io.read_file({image_path!r}), channels=3)
loaded = tf.saved_model.load({version_dir!r})
out = loaded.signatures["serving_default"](images=image[None])
names = loaded.signatures["class_names"]()["class_names"].numpy().tolist()
print(json.dumps({{"out": {{k: v.numpy().tolist() for k, v in out.items()}},
                  "dtypes": {{k: v.dtype.name for k, v in out.items()}},
                  "names": [n.decode() for n in names],
                  "kzoo": "kzoo" in sys.modules}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120, env=subprocess_env(),
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not served["kzoo"]
    assert served["names"] == CLASSES
    assert served["dtypes"] == {"boxes": "float32", "classes": "int32",
                                "scores": "float32", "num_detections": "int32"}
    boxes = np.array(served["out"]["boxes"])[0]
    classes = np.array(served["out"]["classes"])[0]
    scores = np.array(served["out"]["scores"])[0]
    n = served["out"]["num_detections"][0]
    assert boxes.shape == (100, 4) and 0 <= n <= 100
    assert np.all(classes[:n] >= 0) and np.all(classes[:n] < 3)
    assert np.all(classes[n:] == -1) and np.all(scores[n:] == 0)
    assert np.all(scores[:n] > 0.25)  # --score-threshold
    assert np.all(np.diff(scores[:n]) <= 0)
    assert np.all(boxes[:n, 0] >= 0) and np.all(boxes[:n, 2] <= 640)
    assert np.all(boxes[:n, 1] >= 0) and np.all(boxes[:n, 3] <= 480)
    assert np.all(boxes[n:] == 0)


def test_yolov1_cell_layout_with_giou(bccd_root, tmp_path):
    out = str(tmp_path / "run")
    run_recipe(["--data-dir", bccd_root, "--limit", "8", "--epochs", "1",
                "--layout", "cell", "--num-boxes", "2", "--box-loss", "giou",
                "--output-stride", "16",
                "--image-size", "256", "--map-every", "0", "--png-images", "0",
                "--output-dir", out, "--export-dir", ""], timeout=600)
    metrics = read_metrics(out)
    assert metrics["layout"] == "cell" and metrics["anchors"] is None
    assert metrics["grid_size"] == 256 // 16
    _check_map_metrics(metrics, "")
    assert "saved_model" not in metrics and "png" not in metrics


def test_anchor_free_head_end_to_end(bccd_root, tmp_path):
    out, exp = str(tmp_path / "run"), str(tmp_path / "export")
    run_recipe(["--data-dir", bccd_root, "--limit", "8", "--epochs", "1",
                "--head", "anchor_free", "--reg-max", "8",
                "--image-size", "256", "--map-every", "1", "--png-images", "1",
                "--output-dir", out, "--export-dir", exp], timeout=600)
    metrics = read_metrics(out)
    assert metrics["head"] == "anchor_free" and metrics["strides"] == [8, 16,
                                                                       32]
    assert metrics["grid_size"] is None and metrics["layout"] is None
    _check_map_metrics(metrics, "")
    _check_map_metrics(metrics, "random_init_")
    assert os.path.isfile(os.path.join(exp, "yolo_bccd", "1",
                                       "saved_model.pb"))
    assert os.path.isfile(metrics["png"])
    history = helpers.read_history(out)
    assert np.isfinite(float(history[0]["loss"]))
    assert 0.0 <= float(history[0]["val_mAP"]) <= 1.0  # --map-every 1


def test_invalid_annotation_stops_with_the_file_named(bccd_root, tmp_path):
    # BCCD's train split holds a zero-size box (BloodImage_00343.xml).
    proc = run_recipe(["--data-dir", bccd_root, "--on-invalid", "raise",
                       "--output-dir", str(tmp_path / "o")], check=False,
                      timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "BloodImage_00343" in proc.stderr and "Traceback" not in proc.stderr


def test_skipped_annotations_are_named(bccd_root):
    # What main() copies into metrics["skipped_annotations"]: without
    # --limit the load sees BCCD's two degenerate boxes. In-process (no
    # training), as a full-data end-to-end run would cost a minute.
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "yolo_bccd_recipe", helpers.recipe_path(RECIPE))
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    args = argparse.Namespace(data_dir=bccd_root, on_invalid="skip", limit=None)
    with pytest.warns(UserWarning, match="BloodImage_00343"):
        _, splits = recipe.load_splits(args)
    assert [len(s.image_paths) for s in splits.values()] == [205, 87, 72]
    assert any("BloodImage_00343" in str(s) for s in splits["train"].skipped)
    assert any("BloodImage_00338" in str(s) for s in splits["val"].skipped)
    assert splits["test"].skipped == []


def test_offline_without_data_dir_is_a_message(tmp_path):
    helpers.assert_no_data_message(RECIPE, tmp_path)


def test_bad_flags_are_usage_errors():
    helpers.assert_usage_error(RECIPE, ["--image-size", "100"])
    helpers.assert_usage_error(RECIPE, ["--layout", "grid"])
    helpers.assert_usage_error(RECIPE, ["--output-stride", "8"])
    helpers.assert_usage_error(RECIPE, ["--head", "anchor_free",
                                        "--output-stride", "16"])
    helpers.assert_usage_error(RECIPE, ["--head", "fcos"])
    helpers.assert_usage_error(RECIPE, ["--score-threshold", "1.5"])
