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
