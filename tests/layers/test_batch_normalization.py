"""kzoo.layers.BatchNormalization: Keras' layer, TensorFlow's fused kernel."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import BACKEND, to_numpy, value_and_grad


def _pair(shape, dtype="float32", **kwargs):
    """Keras' layer and kzoo's, built with the same non-trivial weights."""
    layers = []
    for cls in (keras.layers.BatchNormalization,
                kzoo.layers.BatchNormalization):
        layer = cls(dtype=dtype, **kwargs)
        layer.build(shape)
        c = shape[-1]
        if layer.scale:
            layer.gamma.assign(np.linspace(0.5, 2.0, c).astype("float32"))
        if layer.center:
            layer.beta.assign(np.linspace(-1.0, 1.0, c).astype("float32"))
        layer.moving_mean.assign(np.full(c, 0.3, "float32"))
        layer.moving_variance.assign(np.full(c, 2.0, "float32"))
        layers.append(layer)
    return layers


def _train_step(layer, x, w):
    """Inference output, training output, d(sum(y * w))/dx, and the moving
    statistics after one training call."""
    def loss(x):
        y = layer(x, training=True)
        return keras.ops.sum(keras.ops.cast(y, "float32") * w)

    y = to_numpy(layer(x, training=False))  # inference: moving statistics
    before = [to_numpy(layer.moving_mean), to_numpy(layer.moving_variance)]
    _, grads = value_and_grad(loss, x)
    # The traced call assigned the statistics (on JAX, tracers): restore
    # them, then take one eager training step.
    layer.moving_mean.assign(before[0])
    layer.moving_variance.assign(before[1])
    train_y = to_numpy(layer(x, training=True))
    stats = [to_numpy(layer.moving_mean), to_numpy(layer.moving_variance)]
    return [y, train_y, grads[0], *stats]


@pytest.mark.parametrize("shape", [(16, 5), (8, 7, 5), (4, 6, 6, 5)])
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_equals_keras_layer(shape, dtype):
    """Outputs (training and inference), input gradient and moving
    statistics equal Keras' layer, in float32 and under mixed bfloat16."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    w = np.cos(np.arange(x.size)).reshape(shape).astype("float32")
    ref, fused = [_train_step(layer, x, w)
                  for layer in _pair(shape, dtype, momentum=0.9)]
    # bfloat16 outputs: one rounding of the same float32 value, so equal
    # but for ties at the last bit.
    atol = 1e-5 if dtype == "float32" else 2e-2
    names = ["inference output", "training output", "input gradient",
             "moving mean", "moving variance"]
    for name, a, b in zip(names, ref, fused):
        np.testing.assert_allclose(
            np.asarray(b, "float32"), np.asarray(a, "float32"), atol=atol,
            rtol=1e-5, err_msg=name)
    # The moving statistics are float32 and differ by rounding only.
    np.testing.assert_allclose(fused[3], ref[3], atol=1e-6)
    np.testing.assert_allclose(fused[4], ref[4], rtol=1e-6)


def test_moving_variance_is_biased():
    """Keras averages the biased batch variance (the fused kernel returns
    the unbiased one): hand-computed on two values per channel."""
    layer = kzoo.layers.BatchNormalization(momentum=0.0)
    x = np.array([[1.0, 10.0], [3.0, 14.0]], "float32")
    layer(x, training=True)
    np.testing.assert_allclose(to_numpy(layer.moving_mean), [2.0, 12.0],
                               rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer.moving_variance), [1.0, 4.0],
                               rtol=1e-6)


@pytest.mark.parametrize("kwargs", [
    {"center": False}, {"scale": False}, {"center": False, "scale": False},
    {"epsilon": 1e-2}])
def test_options_equal_keras(kwargs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3, 3, 4)).astype("float32")
    w = rng.normal(size=x.shape).astype("float32")
    ref, fused = [_train_step(layer, x, w)
                  for layer in _pair(x.shape, **kwargs)]
    for a, b in zip(ref, fused):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.tf_backend
def test_fused_kernel_runs_where_it_applies():
    """The training graph holds FusedBatchNormV3 (and Keras' moments do
    not); the fall-back cases keep Keras' computation."""
    import tensorflow as tf

    def ops_of(layer, x, training=True):
        fn = tf.function(lambda x: layer(x, training=training))
        graph = fn.get_concrete_function(
            tf.TensorSpec(x.shape, x.dtype)).graph
        return {op.type for op in graph.get_operations()}

    x = np.zeros((2, 4, 4, 3), "float32")
    ops = ops_of(kzoo.layers.BatchNormalization(), x)
    assert "FusedBatchNormV3" in ops and "Mean" not in ops
    ops = ops_of(kzoo.layers.BatchNormalization(), x[:, 0, 0])  # rank 2
    assert "FusedBatchNormV3" in ops
    for layer, inputs, training in [
            (kzoo.layers.BatchNormalization(), x, False),  # inference
            (kzoo.layers.BatchNormalization(axis=1), x, True),
            (kzoo.layers.BatchNormalization(epsilon=1e-6), x, True),
            (kzoo.layers.BatchNormalization(dtype="float64"),
             x.astype("float64"), True)]:
        assert "FusedBatchNormV3" not in ops_of(layer, inputs, training)


def test_other_axis_and_small_epsilon_fall_back_to_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 4)).astype("float32")
    for kwargs in ({"axis": 1}, {"epsilon": 1e-6}):
        ref = keras.layers.BatchNormalization(**kwargs)
        layer = kzoo.layers.BatchNormalization(**kwargs)
        np.testing.assert_allclose(to_numpy(layer(x, training=True)),
                                   to_numpy(ref(x, training=True)),
                                   atol=1e-6)


def test_serialization_round_trip(tmp_path):
    inputs = keras.Input((4, 4, 3))
    x = kzoo.layers.BatchNormalization(momentum=0.8, epsilon=2e-3)(inputs)
    model = keras.Model(inputs, x)
    model.layers[1].moving_mean.assign(np.array([1.0, 2.0, 3.0], "float32"))
    path = str(tmp_path / "bn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.layers[1]
    assert isinstance(layer, kzoo.layers.BatchNormalization)
    assert layer.momentum == 0.8 and layer.epsilon == 2e-3
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)),
                               atol=1e-6)


def test_is_keras_batch_normalization():
    """Code that looks for Keras' layer (weight decay exclusions, BN
    freezing) finds kzoo's; kzoo's backbones use it."""
    assert issubclass(kzoo.layers.BatchNormalization,
                      keras.layers.BatchNormalization)
    backbone = kzoo.models.resnet20_cifar()
    bns = [layer for layer in backbone.layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(isinstance(layer, kzoo.layers.BatchNormalization)
                       for layer in bns)
    assert BACKEND  # the test runs on every backend


@pytest.mark.tf_backend
def test_environment_switch_turns_the_kernel_off(monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("KZOO_FUSED_BATCH_NORM", "0")
    layer = kzoo.layers.BatchNormalization()
    fn = tf.function(lambda x: layer(x, training=True))
    graph = fn.get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3), "float32")).graph
    assert "FusedBatchNormV3" not in {op.type for op in graph.get_operations()}
