"""`python -m kzoo.export embedding`: a model trained under JAX, on a machine
without TensorFlow, served by TF Serving with the same embeddings.

Each step runs in its own process, under the backend it needs: training
under JAX with `import tensorflow` blocked, the export and the serving under
TensorFlow."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, subprocess_env
from tests.test_backends import BLOCK_TENSORFLOW

TRAIN_UNDER_JAX = """
    import json, sys
    import keras, numpy as np, kzoo

    out = sys.argv[1]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D(name="backbone_pool")(x)
    backbone = keras.Model(inputs, x, name="tiny")
    model = kzoo.models.SimSiam(
        backbone, projection_dim=16, projection_hidden_dims=[16],
        predictor_dim=4,
        augmentation=kzoo.runs.pixel_view_augmentation(seed=0))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    images = np.random.default_rng(0).integers(
        0, 256, (32, 16, 16, 3)).astype("uint8")
    history = model.fit(kzoo.arrays.TwoViewArrays(images, 8, seed=0),
                        epochs=1, shuffle=False, verbose=0)
    backbone.save(out + "/backbone.keras")
    np.save(out + "/images.npy", images[:6])
    np.save(out + "/features.npy", backbone.predict(images[:6], verbose=0))
    print(json.dumps([keras.backend.backend(), "tensorflow" in sys.modules,
                      history.history["loss"]]))
"""

SERVE = """
    import json, sys
    import numpy as np, tensorflow as tf

    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    images = np.load(sys.argv[2])
    out = serve(images=tf.constant(images))["embeddings"].numpy()
    print(json.dumps(out.tolist()))
"""


def _python(args, backend, timeout=300):
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True,
        timeout=timeout, cwd=REPO_ROOT,
        env=subprocess_env(KERAS_BACKEND=backend))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_jax_trained_backbone_serves_the_same_embeddings(tmp_path):
    pytest.importorskip("jax")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trained = _python(["-c", BLOCK_TENSORFLOW + textwrap.dedent(
        TRAIN_UNDER_JAX), str(run_dir)], "jax")
    backend, tf_loaded, loss = json.loads(trained.stdout.splitlines()[-1])
    assert backend == "jax" and not tf_loaded and np.isfinite(loss).all()

    export_dir = tmp_path / "saved_models"
    exported = _python(
        ["-m", "kzoo.export", "embedding", str(run_dir / "backbone.keras"),
         "--export-dir", str(export_dir)], "tensorflow")
    # --model-name defaults to the folder holding the file.
    version_dir = export_dir / "run" / "1"
    assert f"SavedModel: {version_dir}" in exported.stdout
    assert (version_dir / "saved_model.pb").is_file()
    assert 'name: "run"' in (export_dir / "models.config").read_text()

    served = _python(["-c", textwrap.dedent(SERVE), str(version_dir),
                      str(run_dir / "images.npy")], "tensorflow")
    embeddings = np.asarray(json.loads(served.stdout.splitlines()[-1]))
    features = np.load(run_dir / "features.npy")
    expected = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert embeddings.shape == expected.shape == (6, 8)
    np.testing.assert_allclose(embeddings, expected, atol=1e-4)


def test_export_cli_refuses_other_backends_and_bad_arguments(tmp_path):
    pytest.importorskip("jax")
    model = tmp_path / "backbone.keras"
    model.write_bytes(b"")
    for args, backend, message in [
            ([str(model)], "jax", "KERAS_BACKEND=tensorflow"),
            ([str(tmp_path / "missing.keras")], "tensorflow",
             "no such file"),
            ([str(model), "--image-shape", "32,32"], "tensorflow",
             "H,W,C")]:
        proc = subprocess.run(
            [sys.executable, "-m", "kzoo.export", "embedding", *args],
            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
            env=subprocess_env(KERAS_BACKEND=backend))
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "saved_models")


def test_library_export_refuses_other_backends_clearly():
    """Each SavedModel writer names the backend it needs and the way out."""
    out = subprocess.run(
        [sys.executable, "-c", (
            "import keras, kzoo.export as E\n"
            "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
            "for f in (E.export_embedding_model, E.export_landmark_model):\n"
            "    try:\n"
            "        f(m, '/tmp/never')\n"
            "    except RuntimeError as e:\n"
            "        print(e)\n")],
        env=subprocess_env(KERAS_BACKEND="jax"), capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("export_embedding_model",
                                  "export_landmark_model")):
        assert f"kzoo.export.{name} writes a SavedModel" in line
        assert "(this process: jax)" in line and "python -m kzoo.export" in line
