"""kzoo.losses.mining: masks, distances, the three miners, masked reduction."""

import numpy as np
import pytest
from keras import ops

import kzoo
from tests.backend_utils import BACKEND
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import compiled
from tests.backend_utils import max_tensor_size
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad

mining = kzoo.losses.mining

# Hand-built batch: indices 0, 1 are class 0; 2, 3, 4 are class 1.
LABELS = np.array([0, 0, 1, 1, 1])
_D = {(0, 1): 1.0, (0, 2): 0.5, (0, 3): 1.5, (0, 4): 3.0,
      (1, 2): 2.5, (1, 3): 0.8, (1, 4): 1.2,
      (2, 3): 2.0, (2, 4): 4.0, (3, 4): 0.7}
DIST = np.zeros((5, 5), "float32")
for (i, j), v in _D.items():
    DIST[i, j] = DIST[j, i] = v


def test_masks():
    labels = np.array([3, 3, 7])
    np.testing.assert_array_equal(
        to_numpy(mining.positive_mask(labels)),
        [[False, True, False], [True, False, False], [False, False, False]])
    np.testing.assert_array_equal(
        to_numpy(mining.negative_mask(labels)),
        [[False, False, True], [False, False, True], [True, True, False]])
    t = to_numpy(mining.triplet_mask(labels))
    assert t.shape == (3, 3, 3)
    # the only valid triplets: (0, 1, 2) and (1, 0, 2)
    assert sorted(zip(*np.nonzero(t))) == [(0, 1, 2), (1, 0, 2)]


def test_compact_labels_keeps_large_ids_apart():
    labels = np.array([2**24, 2**24 + 1, 2**24, 5], "int64")
    np.testing.assert_array_equal(to_numpy(mining.compact_labels(labels)),
                                  [0, 1, 0, 3])
    # float32 would merge 2**24 and 2**24 + 1
    assert np.float32(2**24) == np.float32(2**24 + 1)


def test_semi_hard_picks_expected_negatives():
    negative, valid = to_numpy(mining.semi_hard(LABELS, DIST))
    expected = {
        # (a, p): chosen d(a, n)
        (0, 1): 1.5,  # d_ap = 1; negatives 0.5, 1.5, 3.0 -> closest > 1 is 1.5
        (1, 0): 1.2,  # d_ap = 1; negatives 2.5, 0.8, 1.2 -> closest > 1 is 1.2
        (2, 3): 2.5,  # d_ap = 2; negatives 0.5, 2.5 -> 2.5
        (2, 4): 2.5,  # d_ap = 4; none farther -> largest negative, 2.5
        (3, 2): 1.5,  # d_ap = 2; negatives 1.5, 0.8, none farther -> 1.5
        (3, 4): 0.8,  # d_ap = 0.7; negatives 1.5, 0.8 -> closest > 0.7 is 0.8
        (4, 2): 3.0,  # d_ap = 4; negatives 3.0, 1.2, none farther -> 3.0
        (4, 3): 1.2,  # d_ap = 0.7; negatives 3.0, 1.2 -> 1.2
    }
    want = np.zeros((5, 5), "float32")
    for k, v in expected.items():
        want[k] = v
    np.testing.assert_allclose(negative, want, rtol=1e-6)
    np.testing.assert_array_equal(valid, want > 0)


def test_batch_hard_picks_expected_distances():
    pos, neg, valid = to_numpy(mining.batch_hard(LABELS, DIST))
    # farthest positive / closest negative per anchor
    np.testing.assert_allclose(pos, [1.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_allclose(neg, [0.5, 0.8, 0.5, 0.8, 1.2])
    assert np.all(valid)


def test_batch_all_hinge():
    hinge, valid = to_numpy(mining.batch_all(LABELS, DIST, 1.0))
    assert valid.sum() == 2 * 3 + 6 * 2  # class-0 pairs x 3 negs + class-1 pairs x 2
    # (0, 1, 2): 1 + 1 - 0.5; (3, 4, 1): 1 + 0.7 - 0.8; (2, 4, 1): 1 + 4 - 2.5
    assert hinge[0, 1, 2] == pytest.approx(1.5)
    assert hinge[3, 4, 1] == pytest.approx(0.9)
    assert hinge[2, 4, 1] == pytest.approx(2.5)
    # (0, 1, 4): 1 + 1 - 3 < 0
    assert hinge[0, 1, 4] == 0.0
    assert np.all(hinge[~valid] == 0.0)


def test_degenerate_label_sets_give_no_valid_entries():
    d = np.ones((3, 3), "float32")
    for labels in (np.array([1, 2, 3]), np.array([4, 4, 4])):
        pos, neg, valid = to_numpy(mining.batch_hard(labels, d))
        assert not np.any(valid) and np.all(pos == 0)
        neg_d, valid = to_numpy(mining.semi_hard(labels, d))
        assert not np.any(valid) and np.all(neg_d == 0)
        hinge, valid = to_numpy(mining.batch_all(labels, d, 1.0))
        assert not np.any(valid) and np.all(hinge == 0)


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "cosine"])
def test_distance_matrix_matches_numpy(distance):
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    diff = x[:, None] - x[None]
    if distance == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        ref = 1 - xn @ xn.T
    else:
        ref = (diff ** 2).sum(-1)
        if distance == "l2":
            ref = np.sqrt(ref)
    np.testing.assert_allclose(to_numpy(mining.distance_matrix(x, distance)), ref,
                               rtol=1e-4, atol=1e-5)


def test_masked_reduction():
    values = np.array([1.0, 2.0, 4.0, 8.0], "float32")
    mask = np.array([True, True, False, True])
    w = np.array([1.0, 0.5, 1.0, 0.0], "float32")
    red = mining.masked_reduction
    assert float(red(values, mask)) == pytest.approx(11 / 3)
    assert float(red(values, mask, w)) == pytest.approx(2 / 3)
    assert float(red(values, mask, w, "sum")) == pytest.approx(2.0)
    assert float(red(values, mask, w, "mean_with_sample_weight")) == pytest.approx(2 / 1.5)
    np.testing.assert_allclose(to_numpy(red(values, mask, w, "none")), [1, 1, 0, 0])
    # nothing valid -> exactly 0
    assert float(red(values, np.zeros(4, bool))) == 0.0
    # per-anchor weights broadcast over the other axes
    m2 = np.ones((2, 3), bool)
    v2 = np.ones((2, 3), "float32")
    assert float(red(v2, m2, np.array([1.0, 0.0]), "sum")) == 3.0


def _check_replica_scaling(replicas):
    values = np.array([1.0, 3.0], "float32")
    mask = np.array([True, True])
    assert float(mining.masked_reduction(values, mask)) == pytest.approx(
        2.0 / replicas)
    assert float(mining.masked_reduction(values, mask, reduction="sum")) == 4.0


def test_masked_reduction_scales_for_replicas(monkeypatch):
    # Keras' convention, through kzoo.ops.scale_for_replicas: the averaging
    # reductions are divided by the replicas in sync, "sum" is not.
    monkeypatch.setattr(kzoo.ops, "scale_for_replicas", lambda v: v * 0.5)
    _check_replica_scaling(2)


def test_masked_reduction_scales_for_tf_distribute_replicas_on_tensorflow(
        monkeypatch):
    # Two tf.distribute replicas: the 1/2 scaling on the TensorFlow backend;
    # none on JAX and PyTorch, which compute the loss on the global batch
    # (as keras.losses.Loss).
    import tensorflow as tf

    class TwoReplicas:
        num_replicas_in_sync = 2

    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: TwoReplicas())
    _check_replica_scaling(2 if BACKEND == "tensorflow" else 1)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    x = np.random.default_rng(3).normal(size=(7, 4)).astype("float32")
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    for distance in ("squared_l2", "l2", "cosine"):
        assert_computed_in_float32(
            lambda e: mining.distance_matrix(e, distance), x, dtype=dtype)
    d = to_numpy(mining.distance_matrix(x))
    assert_computed_in_float32(lambda e: mining.batch_hard(labels, e), d,
                               dtype=dtype)
    assert_computed_in_float32(lambda e: mining.semi_hard(labels, e), d,
                               dtype=dtype)
    assert_computed_in_float32(lambda e: mining.batch_all(labels, e, 1.0), d,
                               dtype=dtype)
    assert_computed_in_float32(
        lambda e: mining.semi_hard_index(mining.negative_mask(labels), e), d,
        dtype=dtype)
    values = np.array([1.5, 2.25, 4.0, 8.5], "float32")
    mask = np.array([True, True, False, True])
    assert_computed_in_float32(lambda v: mining.masked_mean(v, mask), values,
                               dtype=dtype)
    assert_computed_in_float32(
        lambda v, w: mining.masked_reduction(v, mask, w), values,
        np.array([1.0, 0.5, 1.0, 0.25], "float32"), dtype=dtype)


# ----------------------------------------- semi-hard: sort + binary search

def brute_force_semi_hard(labels, d):
    """The [B, B, B] definition, in numpy: for (a, p), the smallest d(a, n)
    over the negatives n with d(a, n) > d(a, p) (strict), else the largest
    negative distance of a."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None]
    neg = ~same
    pos = same & ~np.eye(len(labels), dtype=bool)
    farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])  # [a, p, n]
    closest = np.where(farther, d[:, None, :], np.inf).min(axis=2, initial=np.inf)
    largest = np.where(neg, d, -np.inf).max(axis=1, initial=-np.inf)
    chosen = np.where(farther.any(axis=2), closest, largest[:, None])
    valid = pos & neg.any(axis=1)[:, None]
    return np.where(valid, chosen, 0.0), valid


def _tied_batches():
    # Integer-valued embeddings: many exactly tied distances, and ties
    # between a positive's distance and negatives' distances.
    rng = np.random.default_rng(0)
    for seed in range(6):
        b = [24, 7, 40, 2, 16, 33][seed]
        labels = rng.integers(0, [4, 2, 6, 1, 3, 5][seed], size=b)
        x = rng.integers(-2, 3, size=(b, 3)).astype("float32")
        yield labels, x
    yield np.zeros(5, "int64"), np.ones((5, 3), "float32")  # one class
    yield np.array([0, 0, 1, 2]), np.zeros((4, 3), "float32")  # all tied


@pytest.mark.parametrize("distance", ["squared_l2", "l2", "cosine"])
def test_semi_hard_matches_brute_force_on_tied_batches(distance):
    for labels, x in _tied_batches():
        d = to_numpy(mining.distance_matrix(x, distance))
        want, want_valid = brute_force_semi_hard(labels, d)
        got, valid = to_numpy(mining.semi_hard(labels, d))
        np.testing.assert_array_equal(valid, want_valid)
        # gathered from the same matrix: exactly the brute-force distances
        np.testing.assert_array_equal(got, want)
        # and the loss: mean of 0.5 * hinge over the valid pairs
        terms = 0.5 * np.maximum(0.3 + d.astype(np.float64) - want, 0.0)
        ref = terms[want_valid].mean() if want_valid.any() else 0.0
        loss = kzoo.losses.TripletLoss(0.3, distance, "semi-hard")(labels, x)
        np.testing.assert_allclose(float(loss), ref, rtol=1e-6, atol=1e-7)


def test_semi_hard_index_points_at_a_negative_when_compiled():
    # a TensorFlow graph, jax.jit or a TorchDynamo graph (`compiled`)
    labels, x = next(_tied_batches())
    d = to_numpy(mining.distance_matrix(x))
    neg = to_numpy(mining.negative_mask(labels))
    index, has_negative = to_numpy(compiled(mining.semi_hard_index)(neg, d))
    assert index.dtype == np.int32 and index.shape == d.shape
    assert np.all(has_negative == neg.any(axis=1))
    assert np.all(np.take_along_axis(neg, index, axis=1))
    want, _ = brute_force_semi_hard(labels, d)
    pos = to_numpy(mining.positive_mask(labels))
    np.testing.assert_array_equal(np.take_along_axis(d, index, axis=1)[pos], want[pos])


def test_semi_hard_index_ranks_inf_and_nan_as_the_largest_distance():
    # Documented: a +inf or NaN distance counts as the largest finite
    # float32, a NaN d(a, p) has no negative farther than it; the index
    # always points at a negative. Eager and compiled alike.
    labels = np.array([0, 0, 1, 1, 2, 2])
    d = np.random.default_rng(1).uniform(0, 3, (6, 6)).astype("float32")
    d[0, 2], d[0, 3], d[1, 0] = np.nan, np.inf, np.nan  # a negative, a positive
    d[2, 4], d[2, 5], d[3, 2] = np.inf, np.inf, np.inf
    d[4, 0] = d[4, 1] = d[4, 2] = d[4, 3] = np.nan  # only NaN negatives
    sanitized = np.where(d <= np.finfo("float32").max, d,
                         np.finfo("float32").max)
    want, valid = brute_force_semi_hard(labels, sanitized)
    neg = to_numpy(mining.negative_mask(labels))
    for fn in (mining.semi_hard_index, compiled(mining.semi_hard_index)):
        index, has_negative = to_numpy(fn(neg, d))
        assert np.all(has_negative)
        assert np.all(np.take_along_axis(neg, index, axis=1))
        chosen = np.take_along_axis(sanitized, index, axis=1)
        np.testing.assert_array_equal(chosen[valid], want[valid])


def test_searchsorted_rows_matches_numpy():
    # the semi-hard search's kernel: NumPy's order on every backend (ties,
    # -0.0 == 0.0, infinities; a NaN query goes after every number)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(-3, 4, (6, 9)).astype("float32"), axis=1)
    rows[0, -2:] = np.inf
    rows[1, :2] = -np.inf
    rows[2] = np.where(rows[2] == 0, np.float32(-0.0), rows[2])
    values = rng.integers(-4, 5, (6, 7)).astype("float32")
    values[0, :3] = [np.nan, np.inf, -np.inf]
    values[2, :2] = [0.0, -0.0]
    values[3, :2] = [-0.0, np.nan]
    for side in ("left", "right"):
        want = np.stack([np.searchsorted(r, v, side=side)
                         for r, v in zip(rows, values)])
        search = lambda r, v, side=side: kzoo.ops.searchsorted_rows(  # noqa: E731
            r, v, side=side)
        for fn in (search, compiled(search)):
            got = to_numpy(fn(rows, values))
            assert got.dtype == np.int32
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="Received: side='middle'"):
        kzoo.ops.searchsorted_rows(rows, values, side="middle")


def test_semi_hard_gradient_goes_to_the_chosen_negative_only():
    # 1-D: anchor 0 (class 0) at 0, positive 1 at 1; negatives 2 and 3 both
    # at distance 2 (tied), negative 4 at 3. Chosen for (0, 1): distance 2,
    # one of the tied negatives 2, 3 - the whole gradient goes to it.
    labels = np.array([0, 0, 1, 1, 2])
    x = np.array([[0.0], [1.0], [2.0], [-2.0], [3.0]], "float32")
    d = to_numpy(mining.distance_matrix(x, "l2"))
    total, (grad,) = value_and_grad(
        lambda dist: ops.sum(mining.semi_hard(labels, dist)[0]), d)
    valid = to_numpy(mining.semi_hard(labels, d)[1])
    want, _ = brute_force_semi_hard(labels, d)
    assert float(total) == pytest.approx(want.sum())
    assert want[0, 1] == 2.0
    # one unit of gradient per valid pair, on a negative of its anchor
    assert grad.sum() == pytest.approx(valid.sum())
    assert np.all(grad[~to_numpy(mining.negative_mask(labels))] == 0)
    assert sorted(grad[0]) == [0, 0, 0, 0, 1]
    assert grad[0, 2] + grad[0, 3] == 1


def test_semi_hard_builds_no_cubic_tensor():
    # Every tensor of the loss and its gradient: the TensorFlow graph, the
    # jaxpr, or each aten op's result on PyTorch (`max_tensor_size`).
    b = 48
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, b).astype("int32")
    x = rng.normal(size=(b, 4)).astype("float32")

    def size(mining_mode):
        loss = kzoo.losses.TripletLoss(mining=mining_mode)
        return max_tensor_size(lambda emb: loss(labels, emb), x)

    assert size("semi-hard") <= b * b
    # the inspection does see a [B, B, B] tensor: batch-all builds one
    assert size("all") >= b ** 3
