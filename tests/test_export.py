import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kzoo  # noqa: E402
from tests.conftest import subprocess_env  # noqa: E402

SHAPE = (8, 8, 3)


def _model(seed=0, zero=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(
        16, kernel_initializer="zeros" if zero else "glorot_uniform",
        bias_initializer="zeros")(x)
    model = keras.Model(inputs, out)
    # Non-trivial BatchNorm statistics, so training=False actually matters.
    bn = model.layers[3]
    bn.moving_mean.assign(np.full(4, 0.3, "float32"))
    bn.moving_variance.assign(np.full(4, 2.0, "float32"))
    return model


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + SHAPE).astype("uint8")


def _expected(model, images):
    emb = model(images.astype("float32"), training=False)
    return tf.math.l2_normalize(emb, -1).numpy()


def _export(model, root, name="emb", **kwargs):
    return kzoo.export.export_embedding_model(model, str(root), name,
                                              image_shape=SHAPE, **kwargs)


def test_layout_versions_and_config(tmp_path):
    model = _model()
    root = str(tmp_path / "saved_models")
    v1 = _export(model, root)
    assert v1 == os.path.join(root, "emb", "1")
    assert os.path.isfile(os.path.join(v1, "saved_model.pb"))
    assert os.path.isdir(os.path.join(v1, "variables"))
    v2 = _export(model, root)
    assert v2 == os.path.join(root, "emb", "2")
    with pytest.raises(ValueError, match=r"Received: version=1$"):
        _export(model, root, version=1)
    with pytest.raises(ValueError, match=r"Received: version=-3$"):
        _export(model, root, version=-3)
    assert _export(model, root, version=7).endswith(os.path.join("emb", "7"))
    assert _export(model, root).endswith(os.path.join("emb", "8"))
    _export(model, root, "other")
    # No leftover temporary directories next to the versions.
    assert sorted(os.listdir(os.path.join(root, "emb"))) == ["1", "2", "7", "8"]

    config = open(os.path.join(root, "models.config")).read()
    assert re.fullmatch(
        r'model_config_list \{\n'
        r'(  config \{\n    name: "[^"]+"\n    base_path: "/[^"]+"\n'
        r'    model_platform: "tensorflow"\n  \}\n)+\}\n', config), config
    names = re.findall(r'name: "([^"]+)"', config)
    paths = re.findall(r'base_path: "([^"]+)"', config)
    assert names == ["emb", "other"]  # the second export kept the first entry
    assert paths == [os.path.abspath(os.path.join(root, n)) for n in names]
    assert all(os.path.isabs(p) for p in paths)
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        pass  # tensorflow_serving protos not installed: regex check above
    else:
        msg = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
        assert [c.name for c in msg.model_config_list.config] == names

    # Explicit names; directories without a SavedModel are not listed.
    os.makedirs(os.path.join(root, "empty", "1"))
    path = kzoo.export.write_models_config(root)
    assert re.findall(r'name: "([^"]+)"', open(path).read()) == ["emb", "other"]
    kzoo.export.write_models_config(root, model_names=["other"])
    assert re.findall(r'name: "([^"]+)"', open(path).read()) == ["other"]


def test_failed_write_leaves_no_version(tmp_path, monkeypatch):
    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _export(_model(), tmp_path)
    assert os.listdir(tmp_path / "emb") == []


def test_signature_and_values(tmp_path):
    model = _model()
    v = _export(model, tmp_path)
    fn = kzoo.export.load_serving_fn(v)
    args, kwargs = fn.structured_input_signature
    assert args == () and list(kwargs) == ["images"]
    assert kwargs["images"].dtype == tf.uint8
    assert kwargs["images"].shape.as_list() == [None, *SHAPE]
    assert list(fn.structured_outputs) == ["embeddings"]
    assert fn.structured_outputs["embeddings"].dtype == tf.float32
    assert fn.structured_outputs["embeddings"].shape.as_list() == [None, 16]
    images = _images()
    out = fn(images=tf.constant(images))["embeddings"].numpy()
    assert out.dtype == np.float32 and out.shape == (5, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, _expected(model, images), atol=1e-5)


def test_unnormalized_export(tmp_path):
    model = _model()
    v = _export(model, tmp_path, normalize=False, write_config=False)
    assert not os.path.exists(tmp_path / "models.config")
    images = _images()
    out = kzoo.export.load_serving_fn(v)(images=tf.constant(images))["embeddings"]
    np.testing.assert_allclose(
        out.numpy(), model(images.astype("float32"), training=False), atol=1e-5)


_CHILD = """
import json, sys
if {block_keras}:
    for m in ("keras", "tf_keras", "kzoo"):
        sys.modules[m] = None  # make them unimportable in this process
import numpy as np
import tensorflow as tf
def n_keras_src():
    return sum(m.startswith("keras.src") and sys.modules[m] is not None
               for m in list(sys.modules))
keras_after_tf_import = sys.modules.get("keras") is not None
keras_src_before_load = n_keras_src()
serve = tf.saved_model.load({version_dir!r}).signatures["serving_default"]
out = serve(images=tf.constant(np.load({images!r})))["embeddings"]
np.save({out!r}, out.numpy())
assert sys.modules.get("kzoo") is None, "kzoo was imported"
json.dump({{"keras_after_tf_import": keras_after_tf_import,
           "keras_at_end": sys.modules.get("keras") is not None,
           "keras_src_modules_before_load": keras_src_before_load,
           "keras_src_modules_at_end": n_keras_src()}},
          open({report!r}, "w"))
"""


@pytest.mark.parametrize("block_keras", [False, True],
                         ids=["tensorflow_only", "keras_unimportable"])
def test_fresh_process_with_only_tensorflow_gets_the_same_embeddings(
        tmp_path, block_keras):
    model = _model(seed=3)
    v = _export(model, tmp_path / "saved_models")
    images = _images(7, seed=3)
    np.save(tmp_path / "images.npy", images)
    code = _CHILD.format(
        block_keras=block_keras, version_dir=os.path.abspath(v),
        images=str(tmp_path / "images.npy"), out=str(tmp_path / "out.npy"),
        report=str(tmp_path / "report.json"))
    env = subprocess_env()
    env.pop("PYTHONPATH", None)  # kzoo must not even be importable there
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env=env, timeout=180, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.load(open(tmp_path / "report.json"))
    print("child process sys.modules report:", report)
    if block_keras:
        assert not report["keras_at_end"]
        assert report["keras_src_modules_at_end"] == 0
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, _expected(model, images), atol=1e-5)


def test_zero_embedding_is_zero_not_nan(tmp_path):
    v = _export(_model(zero=True), tmp_path, "z")
    out = kzoo.export.load_serving_fn(v)(images=tf.constant(_images()))["embeddings"]
    out = out.numpy()
    assert not np.isnan(out).any() and np.all(out == 0.0)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"Received: model_name='bad name'$"):
        _export(_model(), tmp_path, "bad name")
    with pytest.raises(ValueError, match=r"Received: image_shape=\(8, 8\)$"):
        kzoo.export.export_embedding_model(_model(), str(tmp_path), "e",
                                           image_shape=(8, 8))
    with pytest.raises(ValueError, match="Received: export_dir="):
        kzoo.export.write_models_config(str(tmp_path / "missing"))


def test_rest_request_example():
    text = kzoo.export.rest_request_example("simsiam_cifar10", image_shape=(32, 32, 3),
                                            port=9000)
    assert "curl" in text
    assert "http://localhost:9000/v1/models/simsiam_cifar10:predict" in text
    assert '"signature_name": "serving_default"' in text and '"instances"' in text
