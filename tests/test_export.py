import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.conftest import subprocess_env


def _model(seed=0, zero=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(16, kernel_initializer="zeros" if zero else "glorot_uniform",
                             bias_initializer="zeros")(x)
    return keras.Model(inputs, out)


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3)).astype("uint8")


def _expected(model, images):
    return tf.math.l2_normalize(model(images.astype("float32"), training=False), -1).numpy()


def test_layout_versions_and_config(tmp_path):
    model = _model()
    root = str(tmp_path / "saved_models")
    v1 = kzoo.export.export_embedding_model(model, root, "emb", image_shape=(8, 8, 3))
    assert v1 == os.path.join(root, "emb", "1")
    assert os.path.isfile(os.path.join(v1, "saved_model.pb"))
    assert os.path.isdir(os.path.join(v1, "variables"))
    v2 = kzoo.export.export_embedding_model(model, root, "emb", image_shape=(8, 8, 3))
    assert v2.endswith(os.path.join("emb", "2"))
    with pytest.raises(ValueError, match="Received: version=1"):
        kzoo.export.export_embedding_model(model, root, "emb", version=1,
                                           image_shape=(8, 8, 3))
    kzoo.export.export_embedding_model(model, root, "other", image_shape=(8, 8, 3))
    config = open(os.path.join(root, "models.config")).read()
    names = re.findall(r'name: "([^"]+)"', config)
    paths = re.findall(r'base_path: "([^"]+)"', config)
    assert names == ["emb", "other"]
    assert paths == [os.path.abspath(os.path.join(root, n)) for n in names]
    assert config.startswith("model_config_list {") and config.count("model_platform") == 2
    assert not [d for d in os.listdir(os.path.join(root, "emb")) if d.startswith(".")]


def test_signature_and_values(tmp_path):
    model = _model()
    v = kzoo.export.export_embedding_model(model, str(tmp_path), "emb", image_shape=(8, 8, 3))
    fn = kzoo.export.load_serving_fn(v)
    _, kwargs = fn.structured_input_signature
    assert list(kwargs) == ["images"]
    assert kwargs["images"].dtype == tf.uint8 and kwargs["images"].shape.as_list() == [None, 8, 8, 3]
    assert list(fn.structured_outputs) == ["embeddings"]
    images = _images()
    out = fn(images=tf.constant(images))["embeddings"].numpy()
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, _expected(model, images), atol=1e-5)


def test_fresh_process_with_only_tensorflow_gets_the_same_embeddings(tmp_path):
    model = _model(seed=3)
    v = kzoo.export.export_embedding_model(model, str(tmp_path), "emb", image_shape=(8, 8, 3))
    images = _images(7, seed=3)
    np.save(tmp_path / "images.npy", images)
    code = f"""
import sys
import numpy as np
import tensorflow as tf
serve = tf.saved_model.load({v!r}).signatures["serving_default"]
out = serve(images=tf.constant(np.load({str(tmp_path / 'images.npy')!r})))["embeddings"]
np.save({str(tmp_path / 'out.npy')!r}, out.numpy())
assert "kzoo" not in sys.modules
print("keras imported:", "keras" in sys.modules)
"""
    env = subprocess_env()
    env.pop("PYTHONPATH", None)  # kzoo must not even be importable there
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=180, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), _expected(model, images), atol=1e-5)


def test_zero_embedding_is_zero_not_nan(tmp_path):
    v = kzoo.export.export_embedding_model(_model(zero=True), str(tmp_path), "z",
                                           image_shape=(8, 8, 3))
    out = kzoo.export.load_serving_fn(v)(images=tf.constant(_images()))["embeddings"].numpy()
    assert np.all(out == 0.0)


def test_bad_arguments_and_rest_example(tmp_path):
    with pytest.raises(ValueError, match="Received: model_name="):
        kzoo.export.export_embedding_model(_model(), str(tmp_path), "bad name")
    text = kzoo.export.rest_request_example("simsiam_cifar10")
    assert "/v1/models/simsiam_cifar10:predict" in text and "serving_default" in text
