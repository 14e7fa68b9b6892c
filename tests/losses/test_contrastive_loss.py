"""ContrastiveLoss: y = 0 similar, y = 1 dissimilar; y_pred = pair distance."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import as_dtype
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import assert_loss_survives_save
from tests.backend_utils import f32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def ref(y, d, margin=1.0, squared_margin=True):
    y, d = np.ravel(y).astype("float64"), np.ravel(d).astype("float64")
    push = (np.maximum(0, margin - d ** 2) if squared_margin
            else np.maximum(0, margin - d) ** 2)
    return 0.5 * (1 - y) * d ** 2 + 0.5 * y * push


def test_hand_computed():
    y = np.array([0, 1, 1, 0], "float32")
    d = np.array([0.3, 0.5, 2.0, 0.0], "float32")
    # squared margin (m = 1): 0.5*0.09, 0.5*(1 - 0.25), 0.5*max(0, 1 - 4), 0
    np.testing.assert_allclose(to_numpy(kzoo.losses.contrastive_loss(y, d)),
                               [0.045, 0.375, 0.0, 0.0], rtol=1e-6)
    # Hadsell (m = 1): 0.5*0.09, 0.5*(1 - 0.5)**2, 0.5*max(0, 1 - 2)**2, 0
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.contrastive_loss(y, d, squared_margin=False)),
        [0.045, 0.125, 0.0, 0.0], rtol=1e-6)
    loss = kzoo.losses.ContrastiveLoss(margin=2.0)
    # 0.5*0.09, 0.5*(2 - 0.25), 0.5*max(0, 2 - 4), 0 -> mean
    assert float(loss(y, d)) == pytest.approx((0.045 + 0.875) / 4, abs=1e-6)


@pytest.mark.parametrize("squared_margin", [True, False])
@pytest.mark.parametrize("shape", [(9,), (9, 1)])
def test_matches_numpy(squared_margin, shape):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=shape).astype("float32")
    d = rng.uniform(0, 2, size=shape).astype("float32")
    expected = ref(y, d, 1.3, squared_margin)
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.contrastive_loss(y, d, 1.3, squared_margin)),
        expected, rtol=1e-5, atol=1e-7)
    loss = kzoo.losses.ContrastiveLoss(1.3, squared_margin)
    assert float(loss(y, d)) == pytest.approx(expected.mean(), rel=1e-5)
    # [B] labels with [B, 1] distances (a Distance layer's output) align
    assert float(loss(np.ravel(y), d)) == pytest.approx(expected.mean(), rel=1e-5)
    w = rng.uniform(size=9).astype("float32")
    assert float(loss(y, d, sample_weight=w)) == pytest.approx(
        (expected * w).sum() / 9, rel=1e-5)


def test_zero_loss_when_separated_by_more_than_margin():
    y = np.array([0, 0, 1, 1], "float32")
    d = np.array([0.0, 0.0, 1.1, 3.0], "float32")
    for squared_margin in (True, False):
        loss = kzoo.losses.ContrastiveLoss(1.0, squared_margin)
        assert float(loss(y, d)) == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("metric", ["l2", "squared_l2", "cosine"])
def test_degenerate_batches_finite(dtype, metric):
    # duplicated and zero embeddings through the distance layer, both labels
    emb = np.zeros((4, 3), "float32")
    emb[2:] = 1.0
    y = np.array([0, 1, 0, 1], "float32")
    for squared_margin in (True, False):
        loss = kzoo.losses.ContrastiveLoss(squared_margin=squared_margin)
        value, grads = value_and_grad(
            lambda a, b: loss(y, kzoo.layers.Distance(metric)([a, b])),
            as_dtype(emb, dtype), as_dtype(emb, dtype))
        value = float(f32(value))
        assert np.isfinite(value)
        for g in grads:
            assert g is not None and np.all(np.isfinite(f32(g)))
        # identical pairs: d = 0 (cosine of zero vectors: 1); the dissimilar
        # pairs pay 0.5 * margin
        if metric != "cosine":
            assert float(value) == pytest.approx(0.25)
    # distances given directly as float16 / bfloat16
    _, (grad,) = value_and_grad(lambda d: kzoo.losses.ContrastiveLoss()(y, d),
                                as_dtype([0.0, 0.0, 0.5, 0.5], dtype))
    assert grad is not None and np.all(np.isfinite(f32(grad)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=9).astype("float32")
    d = rng.uniform(0, 2, size=(9, 1)).astype("float32")
    for squared_margin in (True, False):
        assert_computed_in_float32(
            lambda t, p: kzoo.losses.contrastive_loss(
                t, p, 1.3, squared_margin), y, d, dtype=dtype)
        assert_computed_in_float32(
            kzoo.losses.ContrastiveLoss(1.3, squared_margin), y, d,
            dtype=dtype)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: margin=-1"):
        kzoo.losses.ContrastiveLoss(margin=-1)
    with pytest.raises(ValueError, match=r"Received: margin=None"):
        kzoo.losses.ContrastiveLoss(margin=None)
    with pytest.raises(ValueError, match=r"Received: squared_margin='no'"):
        kzoo.losses.ContrastiveLoss(squared_margin="no")
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(2, 2\)"):
        kzoo.losses.contrastive_loss(np.zeros(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        kzoo.losses.ContrastiveLoss(reduction="avg")


def _siamese():
    tower_in = keras.Input((4,))
    tower = keras.Model(tower_in, keras.layers.Dense(3)(tower_in))
    return kzoo.models.siamese_network(tower, distance="l2")


def _pairs(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=(n, 4)).astype("float32")
    x2 = rng.normal(size=(n, 4)).astype("float32")
    y = rng.integers(0, 2, size=n).astype("float32")
    return (x1, x2), y


def test_keras_save_load_round_trip(tmp_path):
    x, y = _pairs()
    assert_loss_survives_save(
        _siamese(), kzoo.losses.ContrastiveLoss(margin=0.7,
                                                squared_margin=False),
        x, y, 16, str(tmp_path / "siamese.keras"))


def test_fit_on_tiny_model():
    model = _siamese()
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=kzoo.losses.ContrastiveLoss())
    x, y = _pairs()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
