"""NNCLR (kzoo.models.NNCLR, kzoo.losses.NNCLRLoss): the loss by hand, the
nearest neighbours, the FIFO support set, training, serialisation, and the
same step on two replicas as on one. Backend-agnostic but the last."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy
from tests.conftest import subprocess_env
from tests.models.test_simsiam import _tiny_backbone


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference_loss(nn1, p2, nn2, p1, t):
    def half(a, b):
        s = _unit(a) @ _unit(b).T / t
        m = s.max(1, keepdims=True)
        lse = (m + np.log(np.exp(s - m).sum(1, keepdims=True)))[:, 0]
        return lse - np.diag(s)
    return 0.5 * (half(nn1, p2) + half(nn2, p1))


def test_loss_matches_a_numpy_reference_and_the_hand_case():
    rng = np.random.default_rng(0)
    nn1, p2, nn2, p1 = (rng.normal(size=(6, 5)).astype("float32")
                        for _ in range(4))
    got = to_numpy(kzoo.losses.nnclr_loss(nn1, p2, nn2, p1, 0.3))
    np.testing.assert_allclose(got, _reference_loss(nn1, p2, nn2, p1, 0.3),
                               rtol=1e-5)
    z = np.eye(2, dtype="float32")
    loss = kzoo.losses.NNCLRLoss(temperature=1.0)
    value = float(to_numpy(loss(None, {"nn1": z, "p2": z, "nn2": z,
                                       "p1": z})))
    assert value == pytest.approx(np.log(1 + np.exp(-1.0)), rel=1e-6)
    with pytest.raises(ValueError, match="nn1"):
        loss(None, {"z1": z, "z2": z})
    with pytest.raises(ValueError, match="temperature"):
        kzoo.losses.NNCLRLoss(temperature=0.0)


def _model(**kw):
    keras.utils.set_random_seed(0)
    return kzoo.models.NNCLR(_tiny_backbone(), projection_dim=6,
                             queue_size=20, seed=1, **kw)


def _views(seed, n=8):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 255, (n, 8, 8, 3)).astype("float32"),
            rng.integers(0, 255, (n, 8, 8, 3)).astype("float32"))


def test_nearest_neighbours_are_the_most_similar_support_rows():
    model = _model()
    queue = to_numpy(model.queue)
    np.testing.assert_allclose(np.linalg.norm(queue, axis=1), 1, rtol=1e-5)
    z = np.random.default_rng(2).normal(size=(5, 6)).astype("float32")
    nn = to_numpy(model.nearest_neighbours(z))
    expected = queue[np.argmax(_unit(z) @ queue.T, axis=1)]
    np.testing.assert_allclose(nn, expected, rtol=1e-6)


def test_a_training_step_pushes_the_first_views_onto_the_queue():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x1, x2 = _views(3)
    before = to_numpy(model.queue)
    z1 = to_numpy(model.encode(x1, training=True))
    model.train_on_batch({"view_1": x1, "view_2": x2})
    after = to_numpy(model.queue)
    np.testing.assert_allclose(after[:8], _unit(z1), atol=1e-5)
    np.testing.assert_allclose(after[8:], before[:12], atol=1e-6)
    # an inference call leaves the queue alone
    model({"view_1": x1, "view_2": x2}, training=False)
    np.testing.assert_array_equal(to_numpy(model.queue), after)


def test_fit_returns_features_and_predictor_and_serialisation(tmp_path):
    model = _model(predictor_hidden_dim=5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x1, x2 = _views(4, 32)
    history = model.fit({"view_1": x1, "view_2": x2}, batch_size=8,
                        epochs=2, verbose=0).history
    assert all(np.isfinite(history["loss"])) and "z_std" in history
    out = model({"view_1": x1[:2], "view_2": x2[:2]})
    assert set(out) == {"z1", "z2", "p1", "p2", "nn1", "nn2"}
    assert model.predict(x1[:3], verbose=0).shape == (3, 4)
    model.save(tmp_path / "nnclr.keras")
    loaded = keras.saving.load_model(tmp_path / "nnclr.keras")
    np.testing.assert_allclose(to_numpy(loaded.queue), to_numpy(model.queue))
    np.testing.assert_allclose(loaded.predict(x1[:3], verbose=0),
                               model.predict(x1[:3], verbose=0), atol=1e-5)


_REPLICAS_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import kzoo

def backbone():  # no local batch norm: its statistics are per replica
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            if sys.argv[1] == "mirrored" else tf.distribute.get_strategy())
rng = np.random.default_rng(0)
x1 = rng.integers(0, 255, (32, 8, 8, 3)).astype("float32")
x2 = rng.integers(0, 255, (32, 8, 8, 3)).astype("float32")
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = kzoo.models.NNCLR(backbone(), projection_dim=6,
                              queue_size=24, seed=1, synchronized_bn=True)
    model.compile(keras.optimizers.SGD(0.05))
ds = tf.data.Dataset.from_tensor_slices({"view_1": x1, "view_2": x2}).batch(8)
model.fit(ds, epochs=1, verbose=0)
print(json.dumps({"queue": np.asarray(model.queue).tolist(),
                  "weights": [w.ravel().tolist()
                              for w in model.projector.get_weights()]}))
"""


def test_two_replicas_train_like_one_device():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute: the TensorFlow pass checks it")
    runs = {}
    for strategy in ("default", "mirrored"):
        proc = subprocess.run(
            [sys.executable, "-c", _REPLICAS_SCRIPT, strategy],
            env=subprocess_env(), capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[strategy] = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(runs["mirrored"]["queue"],
                               runs["default"]["queue"], atol=1e-5)
    for a, b in zip(runs["mirrored"]["weights"], runs["default"]["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-5)
