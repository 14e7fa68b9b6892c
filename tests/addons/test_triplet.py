"""Triplet losses against tensorflow-addons 0.23's definitions."""

import keras
import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import as_dtype, dtype_of, f32, value_and_grad

METRICS = ["L2", "squared-L2", "angular"]


def _batch(seed, n=12, d=6, classes=4):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d)).astype("float32")  # tfa's tests: uniform [0, 1)
    y = rng.integers(0, classes, size=n)
    return y, x


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed", range(4))
def test_semihard_matches_reference(metric, seed):
    y, x = _batch(seed)
    for margin in (1.0, 0.3):
        expected = ref.triplet_semihard(y, x, margin, metric)
        got = tfa.losses.TripletSemiHardLoss(margin, metric)(y, x)
        np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-6)
        fn = tfa.losses.triplet_semihard_loss(y, x, margin=margin, distance_metric=metric)
        assert float(fn) == pytest.approx(float(got), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed", range(3))
def test_hard_matches_reference(metric, soft, seed):
    y, x = _batch(seed, n=20)
    expected = ref.triplet_hard(y, x, 1.0, soft, metric)
    got = tfa.losses.TripletHardLoss(soft=soft, distance_metric=metric)(y, x)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-6)
    fn = tfa.losses.triplet_hard_loss(y, x, soft=soft, distance_metric=metric)
    assert float(fn) == pytest.approx(float(got), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("metric", METRICS)
def test_half_precision_is_computed_in_float32(dtype, metric):
    # As tfa: cast up to float32, mine, cast the scalar back to the input
    # dtype; the classes too (dtype=None), as tfa's under tf.keras 2.
    y, x = _batch(7)
    xh = as_dtype(x, dtype)
    x_rounded = f32(xh)
    for fn, cls, ref_fn in (
            (tfa.losses.triplet_semihard_loss, tfa.losses.TripletSemiHardLoss, ref.triplet_semihard),
            (tfa.losses.triplet_hard_loss, tfa.losses.TripletHardLoss, ref.triplet_hard)):
        expected = ref_fn(y, x_rounded, 1.0, metric=metric)
        for got in (fn(y, xh, distance_metric=metric), cls(distance_metric=metric)(y, xh)):
            assert dtype_of(got) == dtype
            np.testing.assert_allclose(f32(got), expected, rtol=1e-2, atol=1e-3)
        # An explicit dtype is Keras 3's convention: the result has that dtype.
        assert dtype_of(cls(distance_metric=metric, dtype="float32")(y, xh)) == "float32"


def test_tfa_docstring_examples():
    y_true = np.array([0, 0])
    y_pred = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
    dot = lambda x: keras.ops.matmul(x, keras.ops.transpose(x))  # noqa: E731
    # One class: no negative at all, so tfa's fallback "negative" is the row
    # minimum, 0 (the diagonal): loss = margin + d(a, p) = 1 + sqrt(2).
    semihard = tfa.losses.triplet_semihard_loss(y_true, y_pred, distance_metric="L2")
    assert float(semihard) == pytest.approx(2.4142137, abs=1e-6)
    # "Distances" [[1, 0], [0, 1]]: d(a, p) = 0, fallback row min = 0 -> 1.
    assert float(tfa.losses.triplet_semihard_loss(
        y_true, y_pred, distance_metric=dot)) == pytest.approx(1.0)
    # Hard: hardest positive sqrt(2); no negative -> row max sqrt(2): 1.
    assert float(tfa.losses.triplet_hard_loss(
        y_true, y_pred, distance_metric="L2")) == pytest.approx(1.0)
    # With dot: positive 0, "negative" row max 1: max(0 - 1 + 1, 0) = 0.
    assert float(tfa.losses.triplet_hard_loss(
        y_true, y_pred, distance_metric=dot)) == pytest.approx(0.0)


def test_semihard_picks_closest_negative_farther_than_positive():
    # 1-D points, L2 = |xi - xj|. Anchor a = 0 and positive p = 1 (label 0);
    # negatives 0.5, 1.5, 3 with distinct labels (no other positive pairs).
    x = np.array([[0.0], [1.0], [0.5], [1.5], [3.0]], "float32")
    y = np.array([0, 0, 1, 2, 3])
    # a: d_ap = 1; negatives at 0.5, 1.5, 3 -> semi-hard 1.5 (0.5 is hard,
    #    skipped): max(1 + 1 - 1.5, 0) = 0.5
    # p: d_pa = 1; negatives at 0.5, 0.5, 2 -> 2: max(1 + 1 - 2, 0) = 0
    # mean over the 2 ordered positive pairs: 0.25
    assert float(tfa.losses.TripletSemiHardLoss()(y, x)) == pytest.approx(0.25)
    # squared-L2, margin 2: a: negatives 0.25, 2.25, 9 -> 2.25: 2 + 1 - 2.25
    # = 0.75; p: 0.25, 0.25, 4 -> 4: max(2 + 1 - 4, 0) = 0; mean 0.375
    loss = tfa.losses.TripletSemiHardLoss(margin=2.0, distance_metric="squared-L2")
    assert float(loss(y, x)) == pytest.approx(0.375)


def test_semihard_fallback_when_no_negative_is_farther():
    # a = 0, p = 2 (label 0); negatives 0.5 and 1 (labels 1, 2).
    x = np.array([[0.0], [2.0], [0.5], [1.0]], "float32")
    y = np.array([0, 0, 1, 2])
    # a: d_ap = 2; negatives 0.5, 1: none > 2 -> farthest, 1: 1 + 2 - 1 = 2
    # p: d_pa = 2; negatives 1.5, 1: none > 2 -> 1.5: 1 + 2 - 1.5 = 1.5
    # mean: 1.75
    assert float(tfa.losses.triplet_semihard_loss(y, x)) == pytest.approx(1.75)


def test_semihard_tie_is_not_farther():
    # a = 0, p = 1; the only negative is also at distance 1 from a: d_an > d_ap
    # is strict, so it is the fallback (farthest negative) - the same
    # distance here: 1 + 1 - 1 = 1. For p: negative at 2 > 1: 1 + 1 - 2 = 0.
    x = np.array([[0.0], [1.0], [-1.0]], "float32")
    y = np.array([0, 0, 1])
    assert float(tfa.losses.triplet_semihard_loss(y, x)) == pytest.approx(0.5)


def test_semihard_angular_by_hand():
    # a = (1, 0), p = (2, 1)/sqrt(5) (label 0); n1 = (0, 1), n2 = (-1, 0).
    # angular d = 1 - cos: d_ap = 1 - 2/sqrt(5); a: negatives 1, 2 -> 1:
    # loss_a = d_ap; p: negatives 1 - 1/sqrt(5), 1 + 2/sqrt(5) -> the first:
    # loss_p = 1 + d_ap - (1 - 1/sqrt(5)) = d_ap + 1/sqrt(5).
    # mean = 1 - 2/sqrt(5) + 1/(2 sqrt(5)) = 1 - 1.5/sqrt(5)
    x = np.array([[1, 0], [2, 1], [0, 1], [-1, 0]], "float32")
    y = np.array([0, 0, 1, 2])
    got = tfa.losses.triplet_semihard_loss(y, x, distance_metric="angular")
    assert float(got) == pytest.approx(1 - 1.5 / np.sqrt(5), abs=1e-6)


def test_hard_by_hand_and_soft():
    # 1-D: labels [0, 0, 1, 1] at [0, 1, 1.5, 4], L2.
    # anchor 0: hardest pos 1, hardest neg 1.5 -> gap -0.5 -> max(0.5, 0)
    # anchor 1: pos 1, neg 0.5 -> gap 0.5 -> 1.5
    # anchor 2: pos 2.5, neg 0.5 -> gap 2 -> 3
    # anchor 3: pos 2.5, neg 3 -> gap -0.5 -> 0.5
    # mean: 5.5 / 4 = 1.375; soft: mean(log(1 + exp(gap)))
    x = np.array([[0.0], [1.0], [1.5], [4.0]], "float32")
    y = np.array([0, 0, 1, 1])
    assert float(tfa.losses.TripletHardLoss()(y, x)) == pytest.approx(1.375)
    gaps = np.array([-0.5, 0.5, 2.0, -0.5])
    soft = tfa.losses.TripletHardLoss(soft=True)(y, x)
    assert float(soft) == pytest.approx(np.log1p(np.exp(gaps)).mean(), rel=1e-6)
    # margin is unused by the soft version
    soft2 = tfa.losses.TripletHardLoss(margin=5.0, soft=True)(y, x)
    assert float(soft2) == pytest.approx(float(soft))


def test_hard_mean_is_over_all_anchors_including_those_without_positives():
    # labels [0, 0, 1] at [0, 1, 1.5]: anchor 2 has no positive, so tfa uses
    # its row minimum (0, the diagonal) as hardest positive:
    # anchor 0: max(1 - 1.5 + 1, 0) = 0.5; anchor 1: max(1 - 0.5 + 1, 0) = 1.5
    # anchor 2: max(0 - 0.5 + 1, 0) = 0.5; mean over 3 anchors: 2.5 / 3
    x = np.array([[0.0], [1.0], [1.5]], "float32")
    y = np.array([0, 0, 1])
    assert float(tfa.losses.triplet_hard_loss(y, x)) == pytest.approx(2.5 / 3)


def test_soft_margin_is_finite_where_log1p_exp_overflows():
    # gap = 100 - 0 for anchor 0: log1p(exp(100)) is inf in float32; the
    # stable softplus gives ~100 and gradient ~1 (tfa: inf / NaN).
    x = np.array([[0.0], [100.0], [0.0]], "float32")
    y = np.array([0, 0, 1])
    loss, grad, _ = value_and_grad(
        lambda e: tfa.losses.triplet_hard_loss(y, e, soft=True), x)
    assert np.isfinite(float(loss)) and np.all(np.isfinite(grad))
    assert float(loss) == pytest.approx(ref.triplet_hard(y, x, soft=True), rel=1e-5)


@pytest.mark.parametrize("fn", [tfa.losses.triplet_semihard_loss,
                                tfa.losses.triplet_hard_loss])
def test_labels_column_and_callable_metric(fn):
    y, x = _batch(3)
    flat = fn(y, x)
    flat = f32(flat)
    np.testing.assert_allclose(f32(fn(y[:, None], x)), flat, rtol=1e-6)
    np.testing.assert_allclose(f32(fn(y.astype("float32"), x)), flat, rtol=1e-6)
    l2 = lambda e: tfa.losses.metric_learning.pairwise_distance(e)  # noqa: E731
    np.testing.assert_allclose(f32(fn(y, x, distance_metric=l2)), flat, rtol=1e-6)


def test_metric_learning_distances():
    # tfa's tests: [[.5, .5], [1, 1]] -> sqrt(2)/2 off the diagonal.
    x = np.array([[0.5, 0.5], [1.0, 1.0]], "float32")
    d = tfa.losses.metric_learning.pairwise_distance(x)
    np.testing.assert_allclose(f32(d), [[0, np.sqrt(2) / 2], [np.sqrt(2) / 2, 0]], atol=1e-6)
    d2 = tfa.losses.metric_learning.pairwise_distance(x, squared=True)
    np.testing.assert_allclose(f32(d2), [[0, 0.5], [0.5, 0]], atol=1e-6)
    same = tfa.losses.metric_learning.pairwise_distance(np.array([[1.0, 0.5], [1.0, 0.5]], "float32"))
    assert float(np.sum(f32(same))) == 0.0
    _, x = _batch(1)
    np.testing.assert_allclose(
        f32(tfa.losses.metric_learning.angular_distance(x)), ref.angular(x), atol=1e-6)


def test_invalid_distance_metric():
    with pytest.raises(ValueError, match="squared-L2"):
        tfa.losses.TripletSemiHardLoss(distance_metric="L_2")
    with pytest.raises(ValueError, match="distance_metric"):
        tfa.losses.triplet_hard_loss([0, 1], [[0.0], [1.0]], distance_metric="cosine")


def _brute_force_semihard(labels, d, margin):
    # tfa's rule on a given distance matrix, with the [B, B, B] masks:
    # closest negative with d(a, n) > d(a, p), else the farthest negative,
    # else (no negative at all) the row minimum; mean over positive pairs.
    labels = np.asarray(labels).reshape(-1)
    same = labels[:, None] == labels[None]
    neg = ~same
    pos = same & ~np.eye(len(labels), dtype=bool)
    d = d.astype(np.float64)
    farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])
    closest = np.where(farther, d[:, None, :], np.inf).min(axis=2, initial=np.inf)
    largest = np.where(neg.any(1), np.where(neg, d, -np.inf).max(1, initial=-np.inf),
                       d.min(1, initial=np.inf))
    chosen = np.where(farther.any(axis=2), closest, largest[:, None])
    hinge = np.maximum(margin + d - chosen, 0.0)
    return hinge[pos].mean() if pos.any() else 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_semihard_matches_brute_force_on_tied_batches(metric):
    # Integer-valued embeddings: many exactly tied distances.
    from kzoo.addons.losses import _common

    rng = np.random.default_rng(1)
    batches = [(rng.integers(0, c, size=b), rng.integers(-2, 3, size=(b, 3)))
               for b, c in ((24, 4), (9, 2), (40, 6), (17, 3))]
    batches.append((np.zeros(5, "int64"), rng.integers(-2, 3, size=(5, 3))))
    batches.append((np.array([0, 0, 1, 2]), np.zeros((4, 3))))
    for y, x in batches:
        x = x.astype("float32")
        d = f32(_common.distance_matrix(x, metric))
        for margin in (1.0, 0.3):
            expected = _brute_force_semihard(y, d, margin)
            got = tfa.losses.triplet_semihard_loss(y, x, margin=margin,
                                                   distance_metric=metric)
            np.testing.assert_allclose(float(got), expected, rtol=1e-6, atol=1e-7)
            cls = tfa.losses.TripletSemiHardLoss(margin, metric)(y, x)
            np.testing.assert_allclose(float(cls), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.tf_backend
def test_semihard_builds_no_cubic_tensor():
    import tensorflow as tf

    b = 48

    @tf.function
    def step(labels, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tfa.losses.TripletSemiHardLoss()(labels, x)
        return loss, tape.gradient(loss, x)

    graph = step.get_concrete_function(
        tf.TensorSpec([b], tf.int32), tf.TensorSpec([b, 4], tf.float32)).graph
    sizes = [t.shape.num_elements() or 0
             for op in graph.get_operations() for t in op.outputs]
    assert max(sizes) <= b * b


@pytest.mark.parametrize("cls", [tfa.losses.TripletSemiHardLoss, tfa.losses.TripletHardLoss,
                                 tfa.losses.triplet_semihard_loss, tfa.losses.triplet_hard_loss])
def test_wrong_shapes_are_clear_errors(cls):
    loss = cls() if isinstance(cls, type) else cls
    x = np.zeros((6, 4), "float32")
    with pytest.raises(ValueError, match=r"`\[B\]` or `\[B, 1\]`.*Received: y_true.shape=\(6, 2\)$"):
        loss(np.zeros((6, 2), "int64"), x)  # e.g. one-hot labels
    with pytest.raises(ValueError, match=r"`\[B, D\]` embeddings.*Received: y_pred.shape=\(6,\)$"):
        loss(np.zeros(6, "int64"), x[:, 0])
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(2, 6, 4\)$"):
        loss(np.zeros(6, "int64"), np.stack([x, x]))
    with pytest.raises(ValueError, match=r"same batch size.*Received: y_true.shape=\(5,\), "
                                         r"y_pred.shape=\(6, 4\)$"):
        loss(np.zeros(5, "int64"), x)
