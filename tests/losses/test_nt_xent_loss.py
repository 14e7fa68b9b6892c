"""NTXentLoss / nt_xent_loss (SimCLR)."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import as_dtype
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import assert_finite
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def ref(z1, z2, t):
    """Per-anchor loop over the 2N views, then the mean of each pair."""
    v = np.concatenate([z1, z2]).astype("float64")
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.where(norm > 0, v / np.where(norm > 0, norm, 1), 0)
    n = len(z1)
    per_anchor = []
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        logits = [v[i] @ v[j] / t for j in range(2 * n) if j != i]
        per_anchor.append(np.log(np.sum(np.exp(logits))) - v[i] @ v[pos] / t)
    per_anchor = np.array(per_anchor)
    return 0.5 * (per_anchor[:n] + per_anchor[n:])


def _views(seed=0, n=6, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, n, d)).astype("float32")


def test_hand_computed():
    z1 = np.array([[1.0, 0.0], [0.0, 3.0]], "float32")
    z2 = np.array([[2.0, 0.0], [0.0, 1.0]], "float32")
    # t = 1; normalised views: (1,0), (0,1), (1,0), (0,1)
    # anchor 0: its positive, view 2, has logit 1; the negatives, views 1
    # and 3, have logit 0: -log(e / (e + 2)); every anchor likewise.
    expected = np.log(1 + 2 / np.e)
    np.testing.assert_allclose(to_numpy(kzoo.losses.nt_xent_loss(z1, z2, 1.0)),
                               [expected, expected], rtol=1e-6)
    # t = 0.5: logits doubled: -log(e^2 / (e^2 + 2))
    loss = kzoo.losses.NTXentLoss(temperature=0.5)
    assert float(loss(None, {"z1": z1, "z2": z2})) == pytest.approx(
        np.log(1 + 2 / np.e ** 2), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_matches_numpy(temperature):
    z1, z2 = _views()
    expected = ref(z1, z2, temperature)
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.nt_xent_loss(z1, z2, temperature)), expected,
        rtol=1e-4, atol=1e-5)
    loss = kzoo.losses.NTXentLoss(temperature)
    as_dict = float(loss(None, {"z1": z1, "z2": z2}))
    as_tensor = float(loss(None, np.concatenate([z1, z2])))
    assert as_dict == pytest.approx(expected.mean(), rel=1e-5)
    assert as_tensor == pytest.approx(as_dict, rel=1e-6)


def test_symmetric_and_invariant_to_pair_order():
    z1, z2 = _views(1)
    per_pair = to_numpy(kzoo.losses.nt_xent_loss(z1, z2))
    np.testing.assert_allclose(to_numpy(kzoo.losses.nt_xent_loss(z2, z1)),
                               per_pair, rtol=1e-5)
    perm = np.random.default_rng(0).permutation(len(z1))
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.nt_xent_loss(z1[perm], z2[perm])),
        per_pair[perm], rtol=1e-5)


def test_sample_weight_is_per_pair():
    z1, z2 = _views(2, n=4)
    per_pair = to_numpy(kzoo.losses.nt_xent_loss(z1, z2))
    w = np.array([1.0, 0.0, 2.0, 0.0], "float32")
    loss = kzoo.losses.NTXentLoss()
    got = loss(None, {"z1": z1, "z2": z2}, sample_weight=w)
    assert float(got) == pytest.approx((per_pair * w).sum() / 4, rel=1e-5)
    none = kzoo.losses.NTXentLoss(reduction="none")(None, {"z1": z1, "z2": z2})
    assert none.shape == (4,)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_degenerate_batches(dtype):
    loss = kzoo.losses.NTXentLoss()
    z1, z2 = _views(3, n=4)
    cases = [
        (z1, z2),
        (np.zeros_like(z1), np.zeros_like(z2)),  # zero vectors
        (np.ones_like(z1), np.ones_like(z2)),    # all views identical
        (z1, z1),                                # views identical per pair
        (z1[:1], z2[:1]),                        # N = 1: no negative
    ]
    for a, b in cases:
        value, grads = value_and_grad(
            lambda va, vb: loss(None, {"z1": va, "z2": vb}),
            as_dtype(a, dtype), as_dtype(b, dtype))
        assert_finite(value, grads)
    # identical or zero views: uniform softmax over 2N - 1 = 7 others
    for a in (np.zeros_like(z1), np.ones_like(z1)):
        assert float(loss(None, {"z1": as_dtype(a, dtype), "z2": as_dtype(a, dtype)})) \
            == pytest.approx(np.log(7), rel=1e-5)
    # a single pair has no negative: its positive is the whole softmax
    assert float(loss(None, {"z1": z1[:1], "z2": z2[:1]})) == 0.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    z1, z2 = _views(4, n=4)
    assert_computed_in_float32(kzoo.losses.nt_xent_loss, z1, z2, dtype=dtype)
    loss = kzoo.losses.NTXentLoss()
    assert_computed_in_float32(lambda a, b: loss(None, {"z1": a, "z2": b}),
                               z1, z2, dtype=dtype)


def test_bad_arguments():
    for t in (0, -0.1, "1"):
        with pytest.raises(ValueError, match=f"Received: temperature={t!r}"):
            kzoo.losses.NTXentLoss(temperature=t)
    with pytest.raises(ValueError, match=r"Received: temperature=0"):
        kzoo.losses.nt_xent_loss(np.ones((2, 2)), np.ones((2, 2)), 0)
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(5, 2\)"):
        kzoo.losses.NTXentLoss()(None, np.ones((5, 2), "float32"))
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(4, 2, 2\)"):
        kzoo.losses.NTXentLoss()(None, np.ones((4, 2, 2), "float32"))
    with pytest.raises(ValueError, match=r"Received: y_pred keys=\['z1'\]"):
        kzoo.losses.NTXentLoss()(None, {"z1": np.ones((2, 2), "float32")})


def _two_view_model():
    # one encoder on both views; output [2N, D], view 1 first
    x1, x2 = keras.Input((4,), name="x1"), keras.Input((4,), name="x2")
    encoder = keras.layers.Dense(3)
    z = keras.layers.Concatenate(axis=0)([encoder(x1), encoder(x2)])
    return keras.Model([x1, x2], z)


def _data(n=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return [x, x + 0.1 * rng.normal(size=x.shape).astype("float32")]


def test_keras_save_load_round_trip(tmp_path):
    model = _two_view_model()
    loss = kzoo.losses.NTXentLoss(temperature=0.3)
    model.compile(optimizer="sgd", loss=loss)
    x = _data()
    before = model.evaluate(x, batch_size=8, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == loss.get_config()
    assert loaded.evaluate(x, batch_size=8, verbose=0) == pytest.approx(
        before, rel=1e-6)


def test_fit_on_tiny_model():
    model = _two_view_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=kzoo.losses.NTXentLoss())
    history = model.fit(_data(), batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
