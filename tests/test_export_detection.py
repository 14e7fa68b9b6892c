"""kzoo.export.export_detection_model: uint8 images of any size in, final
detections in input-image pixels out, served by TensorFlow alone."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kzoo  # noqa: E402
from tests.conftest import subprocess_env  # noqa: E402

SIZE = 160
# Candidate boxes in letterboxed (SIZE x SIZE) pixels and their scores for
# 2 classes: box 0 is class 1 (0.9), box 1 overlaps box 0 (IoU 0.81, class
# 1, 0.8: suppressed), box 2 is class 0 (0.7), box 3 scores below 0.5.
CANDIDATES = np.array([[10, 30, 50, 70], [12, 32, 50, 70], [100, 40, 140, 60],
                       [0, 0, 20, 20]], "float32")
SCORES = np.array([[0.1, 0.9], [0.2, 0.8], [0.7, 0.1], [0.3, 0.2]], "float32")


@keras.saving.register_keras_serializable(package="kzoo_test")
class FixedCandidates(keras.layers.Layer):
    """Emits CANDIDATES / SCORES for every image of the batch."""

    def call(self, images):
        b = keras.ops.shape(images)[0]
        boxes = keras.ops.broadcast_to(keras.ops.convert_to_tensor(CANDIDATES),
                                       (b, 4, 4))
        scores = keras.ops.broadcast_to(keras.ops.convert_to_tensor(SCORES),
                                        (b, 4, 2))
        return boxes, scores


def _detector():
    inputs = keras.Input((SIZE, SIZE, 3))
    boxes, scores = FixedCandidates()(inputs)
    out = kzoo.layers.NonMaxSuppression(iou_threshold=0.5, score_threshold=0.5,
                                        max_detections=5)(boxes, scores)
    return keras.Model(inputs, out)


def _expected_boxes(height, width):
    scale = SIZE / max(height, width)
    ox = (SIZE - round(width * scale)) // 2
    oy = (SIZE - round(height * scale)) // 2
    kept = CANDIDATES[[0, 2]]
    out = (kept - [ox, oy, ox, oy]) / scale
    return np.clip(out, 0, [width, height, width, height])


def test_served_detections_in_input_pixels_in_a_fresh_process(tmp_path):
    root = str(tmp_path / "saved_models")
    version_dir = kzoo.export.export_detection_model(
        _detector(), root, "det", image_size=SIZE,
        class_names=["platelet", "cell"])
    assert version_dir == os.path.join(root, "det", "1")
    assert 'name: "det"' in open(os.path.join(root, "models.config")).read()

    # 240 x 320 (landscape, letterboxed with bars top and bottom) and
    # 320 x 200 (portrait) requests, in a process that imports only
    # TensorFlow.
    script = f"""
import json, sys
import numpy as np
import tensorflow as tf
fn = tf.saved_model.load({version_dir!r}).signatures["serving_default"]
names = tf.saved_model.load({version_dir!r}).signatures["class_names"]()
out = {{"names": [n.decode() for n in names["class_names"].numpy()]}}
for h, w in [(240, 320), (320, 200)]:
    r = fn(images=tf.constant(np.full((2, h, w, 3), 128, np.uint8)))
    out[f"{{h}}x{{w}}"] = {{k: v.numpy().tolist() for k, v in r.items()}}
out["modules"] = sorted(m for m in ("keras", "kzoo") if m in sys.modules)
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120, env=subprocess_env(),
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["names"] == ["platelet", "cell"]
    assert "kzoo" not in result["modules"]
    for h, w in [(240, 320), (320, 200)]:
        r = result[f"{h}x{w}"]
        assert r["num_detections"] == [2, 2]
        boxes = np.array(r["boxes"], "float32")
        assert boxes.shape == (2, 5, 4)
        np.testing.assert_allclose(boxes[:, :2], np.stack(
            [_expected_boxes(h, w)] * 2), atol=1e-3)
        assert r["classes"][0] == [1, 0, -1, -1, -1]
        np.testing.assert_allclose(r["scores"][0], [0.9, 0.7, 0, 0, 0],
                                   atol=1e-6)
        # Padding rows are zero boxes, not unletterboxed zeros.
        assert np.all(boxes[:, 2:] == 0)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        kzoo.export.export_detection_model(_detector(), str(tmp_path),
                                           image_size=0, class_names=["a"])
    with pytest.raises(ValueError, match="class_names"):
        kzoo.export.export_detection_model(_detector(), str(tmp_path),
                                           image_size=SIZE)
    with pytest.raises(ValueError, match="model_name"):
        kzoo.export.export_detection_model(_detector(), str(tmp_path),
                                           model_name="a b", image_size=SIZE,
                                           class_names=["a"])
