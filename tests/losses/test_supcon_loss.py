"""SupConLoss (Khosla et al. 2020, L_out)."""

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


def ref(labels, x, t):
    labels, x = np.asarray(labels), np.asarray(x, "float64")
    if x.ndim == 3:
        labels = np.repeat(labels, x.shape[1])
        x = x.reshape(-1, x.shape[-1])
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    z = np.where(norm > 0, x / np.where(norm > 0, norm, 1), 0)
    s = z @ z.T / t
    per_anchor = []
    for i in range(len(labels)):
        others = [a for a in range(len(labels)) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        log_denominator = np.log(np.sum(np.exp(s[i, others])))
        per_anchor.append(-np.mean([s[i, p] - log_denominator for p in positives]))
    return np.mean(per_anchor) if per_anchor else 0.0


def _batch(seed=0, b=10, d=6, views=None, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=b)
    shape = (b, d) if views is None else (b, views, d)
    return labels, rng.normal(size=shape).astype("float32")


def test_hand_computed():
    labels = np.array([0, 0, 1])
    emb = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]], "float32")
    # normalised: z0 = z1 = (1, 0), z2 = (0, 1); t = 1
    # anchor 0: positive 1 (logit 1), other: 2 (logit 0)
    #   -> -log(e / (e + 1)) = log(1 + 1/e); anchor 1 likewise;
    # anchor 2 has no positive: left out of the mean.
    expected = np.log1p(np.exp(-1.0))
    loss = kzoo.losses.SupConLoss(temperature=1.0)
    assert float(loss(labels, emb)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.SupConLoss(1.0, reduction="none")(labels, emb)),
        [expected, expected, 0.0], rtol=1e-5)
    # two positives: labels [0, 0, 0], z = (1,0), (1,0), (0,1), t = 1
    # anchor 0: positives 1 (logit 1) and 2 (logit 0), denominator e + 1:
    #   -(1/2) * ((1 - log(e + 1)) + (0 - log(e + 1)))
    a0 = -0.5 * ((1 - np.log(np.e + 1)) + (0 - np.log(np.e + 1)))
    # anchor 2: positives 0, 1 (logits 0, 0), denominator 2: log 2
    expected = (2 * a0 + np.log(2)) / 3
    assert float(kzoo.losses.supcon_loss([0, 0, 0], emb, 1.0)) == pytest.approx(
        expected, rel=1e-5)


@pytest.mark.parametrize("views", [None, 2, 3])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_matches_numpy(views, temperature):
    labels, x = _batch(views=views)
    expected = ref(labels, x, temperature)
    assert float(kzoo.losses.supcon_loss(labels, x, temperature)) == pytest.approx(
        expected, rel=1e-4)
    loss = kzoo.losses.SupConLoss(temperature)
    assert float(loss(labels, x)) == pytest.approx(expected, rel=1e-4)
    per_anchor = loss.call(labels, x)
    assert per_anchor.shape == ((10,) if views is None else (10, views))


def test_unique_labels_with_two_views_is_nt_xent():
    # each example's only positive is its other view: SupCon == NT-Xent
    rng = np.random.default_rng(2)
    z1, z2 = rng.normal(size=(2, 5, 4)).astype("float32")
    supcon = kzoo.losses.supcon_loss(np.arange(5), np.stack([z1, z2], 1), 0.2)
    nt_xent = np.mean(to_numpy(kzoo.losses.nt_xent_loss(z1, z2, 0.2)))
    assert float(supcon) == pytest.approx(float(nt_xent), rel=1e-5)


def test_invariant_to_batch_order():
    labels, x = _batch(3, views=2)
    perm = np.random.default_rng(0).permutation(10)
    loss = kzoo.losses.SupConLoss()
    assert float(loss(labels[perm], x[perm])) == pytest.approx(
        float(loss(labels, x)), rel=1e-5)


def test_sample_weight_and_anchors_without_positive():
    labels = np.array([0, 0, 1, 2])  # anchors 2 and 3 have no positive
    x = _batch(4, b=4, views=2)[1]
    loss = kzoo.losses.SupConLoss(reduction="none")
    per_anchor = to_numpy(loss(labels, x))
    assert per_anchor.shape == (4, 2)
    # multi-view: the single-view examples 2, 3 still have their other view
    assert np.all(per_anchor > 0)
    x1 = x[:, 0]
    per_anchor = to_numpy(loss(labels, x1))
    assert per_anchor[2] == 0.0 and per_anchor[3] == 0.0
    mean = kzoo.losses.SupConLoss()(labels, x1)
    assert float(mean) == pytest.approx(per_anchor[:2].mean(), rel=1e-6)
    w = np.array([2.0, 0.0, 5.0, 5.0], "float32")
    weighted = kzoo.losses.SupConLoss()(labels, x1, sample_weight=w)
    assert float(weighted) == pytest.approx(2 * per_anchor[0] / 2, rel=1e-6)
    # per-example weights are shared by the views
    w_views = kzoo.losses.SupConLoss(reduction="sum")(labels, x, sample_weight=w)
    full = to_numpy(loss(labels, x))
    assert float(w_views) == pytest.approx((full * w[:, None]).sum(), rel=1e-5)


def test_large_integer_labels_are_not_merged():
    # float32(2**24) == float32(2**24 + 1): merged, anchor 0 would get
    # positives too and the loss would change.
    labels = np.array([2**24, 2**24 + 1, 2**24 + 1], "int64")
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], "float32")
    got = float(kzoo.losses.SupConLoss(temperature=1.0)(labels, x))
    # anchors 1, 2: positive logit 1, negative logit 0 -> log(1 + 1/e)
    assert got == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("views", [None, 2])
def test_degenerate_batches(dtype, views):
    loss = kzoo.losses.SupConLoss()
    labels, x = _batch(5, b=4, views=views)
    cases = [
        (np.array([0, 1, 2, 3]), x, 0.0 if views is None else None),
        (np.array([7, 7, 7, 7]), x, None),
        (np.array([0, 0, 1, 1]), np.ones_like(x), None),
        (np.array([0, 0, 1, 1]), np.zeros_like(x), None),
        (np.array([0, 0, 0, 0]), np.ones_like(x), None),
    ]
    for labels, emb, expected in cases:
        value, (grad,) = value_and_grad(
            lambda e, labels=labels: loss(labels, e), as_dtype(emb, dtype))
        value = float(f32(value))
        assert np.isfinite(value)
        assert grad is not None and np.all(np.isfinite(f32(grad)))
        if expected is not None:
            assert value == expected
    # identical embeddings, one class: uniform softmax over the n - 1 others
    n = 4 if views is None else 8
    value = loss(np.zeros(4), as_dtype(np.ones(x.shape), dtype))
    assert float(value) == pytest.approx(np.log(n - 1), rel=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    for views in (None, 2):
        labels, x = _batch(6, views=views)
        assert_computed_in_float32(
            lambda e: kzoo.losses.supcon_loss(labels, e, 0.2), x, dtype=dtype)
        assert_computed_in_float32(
            lambda e: kzoo.losses.SupConLoss(0.2)(labels, e), x, dtype=dtype)


def test_bad_arguments():
    for t in (0, -1.0, "0.1", None):
        with pytest.raises(ValueError, match=f"Received: temperature={t!r}"):
            kzoo.losses.SupConLoss(temperature=t)
    with pytest.raises(ValueError, match=r"Received: temperature=0"):
        kzoo.losses.supcon_loss([0, 0], np.ones((2, 2)), temperature=0)
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(2, 1, 1, 2\)"):
        kzoo.losses.SupConLoss()([0, 0], np.ones((2, 1, 1, 2)))
    with pytest.raises(ValueError, match=r"Received: y_true=None"):
        kzoo.losses.SupConLoss()(None, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(3,\)"):
        kzoo.losses.SupConLoss()([0, 0, 1], np.ones((2, 2)))


def _embedder():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


def test_keras_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 2, 8)
    assert_loss_survives_save(
        _embedder(), kzoo.losses.SupConLoss(temperature=0.3, name="sc"), x, y,
        8, str(tmp_path / "m.keras"))


def test_fit_on_tiny_model():
    rng = np.random.default_rng(0)
    # multi-view: the model embeds [B, 2, 4] inputs into [B, 2, 3]
    inputs = keras.Input((2, 4))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  loss=kzoo.losses.SupConLoss())
    x, y = rng.normal(size=(16, 2, 4)), rng.integers(0, 3, 16)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
