"""kzoo.losses.mining: masks, distances, the three miners, masked reduction."""

import numpy as np
import pytest
import tensorflow as tf

import kzoo

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
        mining.positive_mask(labels),
        [[False, True, False], [True, False, False], [False, False, False]])
    np.testing.assert_array_equal(
        mining.negative_mask(labels),
        [[False, False, True], [False, False, True], [True, True, False]])
    t = np.asarray(mining.triplet_mask(labels))
    assert t.shape == (3, 3, 3)
    # the only valid triplets: (0, 1, 2) and (1, 0, 2)
    assert sorted(zip(*np.nonzero(t))) == [(0, 1, 2), (1, 0, 2)]


def test_compact_labels_keeps_large_ids_apart():
    labels = np.array([2**24, 2**24 + 1, 2**24, 5], "int64")
    np.testing.assert_array_equal(mining.compact_labels(labels), [0, 1, 0, 3])
    # float32 would merge 2**24 and 2**24 + 1
    assert np.float32(2**24) == np.float32(2**24 + 1)


def test_semi_hard_picks_expected_negatives():
    negative, valid = mining.semi_hard(LABELS, DIST)
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
    pos, neg, valid = mining.batch_hard(LABELS, DIST)
    # farthest positive / closest negative per anchor
    np.testing.assert_allclose(pos, [1.0, 1.0, 4.0, 2.0, 4.0])
    np.testing.assert_allclose(neg, [0.5, 0.8, 0.5, 0.8, 1.2])
    assert np.all(valid)


def test_batch_all_hinge():
    hinge, valid = mining.batch_all(LABELS, DIST, 1.0)
    hinge, valid = np.asarray(hinge), np.asarray(valid)
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
        pos, neg, valid = mining.batch_hard(labels, d)
        assert not np.any(valid) and np.all(np.asarray(pos) == 0)
        neg_d, valid = mining.semi_hard(labels, d)
        assert not np.any(valid) and np.all(np.asarray(neg_d) == 0)
        hinge, valid = mining.batch_all(labels, d, 1.0)
        assert not np.any(valid) and np.all(np.asarray(hinge) == 0)


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
    np.testing.assert_allclose(mining.distance_matrix(x, distance), ref,
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
    np.testing.assert_allclose(red(values, mask, w, "none"), [1, 1, 0, 0])
    # nothing valid -> exactly 0
    assert float(red(values, np.zeros(4, bool))) == 0.0
    # per-anchor weights broadcast over the other axes
    m2 = np.ones((2, 3), bool)
    v2 = np.ones((2, 3), "float32")
    assert float(red(v2, m2, np.array([1.0, 0.0]), "sum")) == 3.0


def test_masked_reduction_scales_for_replicas(monkeypatch):
    class TwoReplicas:
        num_replicas_in_sync = 2

    monkeypatch.setattr(tf.distribute, "get_strategy", lambda: TwoReplicas())
    values = np.array([1.0, 3.0], "float32")
    mask = np.array([True, True])
    assert float(mining.masked_reduction(values, mask)) == pytest.approx(1.0)
    assert float(mining.masked_reduction(values, mask, reduction="sum")) == 4.0


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
        d = np.asarray(mining.distance_matrix(x, distance))
        want, want_valid = brute_force_semi_hard(labels, d)
        got, valid = mining.semi_hard(labels, d)
        np.testing.assert_array_equal(valid, want_valid)
        # gathered from the same matrix: exactly the brute-force distances
        np.testing.assert_array_equal(got, want)
        # and the loss: mean of 0.5 * hinge over the valid pairs
        terms = 0.5 * np.maximum(0.3 + d.astype(np.float64) - want, 0.0)
        ref = terms[want_valid].mean() if want_valid.any() else 0.0
        loss = kzoo.losses.TripletLoss(0.3, distance, "semi-hard")(labels, x)
        np.testing.assert_allclose(float(loss), ref, rtol=1e-6, atol=1e-7)


def test_semi_hard_index_points_at_a_negative_in_graph_mode():
    labels, x = next(_tied_batches())
    d = np.asarray(mining.distance_matrix(x))
    neg = np.asarray(mining.negative_mask(labels))
    index, has_negative = tf.function(mining.semi_hard_index)(neg, d)
    index = index.numpy()
    assert index.dtype == np.int32 and index.shape == d.shape
    assert np.all(has_negative.numpy() == neg.any(axis=1))
    assert np.all(np.take_along_axis(neg, index, axis=1))
    want, _ = brute_force_semi_hard(labels, d)
    pos = np.asarray(mining.positive_mask(labels))
    np.testing.assert_array_equal(np.take_along_axis(d, index, axis=1)[pos], want[pos])


def test_semi_hard_gradient_goes_to_the_chosen_negative_only():
    # 1-D: anchor 0 (class 0) at 0, positive 1 at 1; negatives 2 and 3 both
    # at distance 2 (tied), negative 4 at 3. Chosen for (0, 1): distance 2,
    # one of the tied negatives 2, 3 - the whole gradient goes to it.
    labels = np.array([0, 0, 1, 1, 2])
    x = np.array([[0.0], [1.0], [2.0], [-2.0], [3.0]], "float32")
    d = tf.constant(mining.distance_matrix(x, "l2"))
    with tf.GradientTape() as tape:
        tape.watch(d)
        chosen, valid = mining.semi_hard(labels, d)
        total = tf.reduce_sum(chosen)
    grad = tape.gradient(total, d).numpy()
    want, _ = brute_force_semi_hard(labels, d.numpy())
    assert float(total) == pytest.approx(want.sum())
    assert want[0, 1] == 2.0
    # one unit of gradient per valid pair, on a negative of its anchor
    assert grad.sum() == pytest.approx(np.asarray(valid).sum())
    assert np.all(grad[~np.asarray(mining.negative_mask(labels))] == 0)
    assert sorted(grad[0]) == [0, 0, 0, 0, 1]
    assert grad[0, 2] + grad[0, 3] == 1


def _max_tensor_size(fn, b, d=4):
    graph = fn.get_concrete_function(
        tf.TensorSpec([b], tf.int32), tf.TensorSpec([b, d], tf.float32)).graph
    return max(t.shape.num_elements() or 0
               for op in graph.get_operations() for t in op.outputs)


def test_semi_hard_builds_no_cubic_tensor():
    b = 48

    def step(labels, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = kzoo.losses.TripletLoss(mining="semi-hard")(labels, x)
        return loss, tape.gradient(loss, x)

    assert _max_tensor_size(tf.function(step), b) <= b * b
