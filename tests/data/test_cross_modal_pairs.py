"""cross_modal_pairs: every a once per epoch, with a b of its label."""

import numpy as np
import pytest

from kzoo.data import cross_modal_pairs


def _epoch(ds):
    a, b, y = [], [], []
    for x, labels in ds:
        a.append(x["a"].numpy())
        b.append(x["b"].numpy())
        y.append(labels.numpy())
    return np.concatenate(a), np.concatenate(b), np.concatenate(y)


def test_each_a_once_with_a_b_of_its_label():
    labels_a = np.repeat(np.arange(5), 8)               # 40 items
    a = np.arange(40, dtype=np.int64) * 10 + labels_a   # value encodes label
    labels_b = np.array([3, 0, 1, 4, 2, 0, 3, 3, 1, 2, 4, 0])
    b = np.arange(12, dtype=np.int64) * 100 + labels_b
    ds = cross_modal_pairs(a, labels_a, b, labels_b, batch_size=8, seed=1)
    ea, eb, ey = _epoch(ds)
    assert sorted(ea.tolist()) == sorted(a.tolist())    # each a once
    np.testing.assert_array_equal(ea % 10, ey)           # labels follow a
    np.testing.assert_array_equal(eb % 100, ey)          # b has a's label
    # Pairs are redrawn from one epoch to the next, reproducibly.
    second = _epoch(ds)
    assert not np.array_equal(second[1], eb) or not np.array_equal(
        second[0], ea)
    again = cross_modal_pairs(a, labels_a, b, labels_b, batch_size=8, seed=1)
    np.testing.assert_array_equal(_epoch(again)[1], eb)


def test_draw_is_uniform_over_the_label():
    labels_a = np.zeros(3000, np.int64)
    labels_b = np.array([0, 0, 0, 1])
    b = np.arange(4)
    ds = cross_modal_pairs(np.arange(3000), labels_a, b, labels_b,
                           batch_size=500, seed=0)
    _, eb, _ = _epoch(ds)
    counts = np.bincount(eb, minlength=4)
    assert counts[3] == 0
    assert np.all(np.abs(counts[:3] - 1000) < 100)


def test_errors():
    with pytest.raises(ValueError, match="Labels without b: \\[2\\]"):
        cross_modal_pairs(np.zeros(3), [0, 1, 2], np.zeros(2), [0, 1], 2)
    with pytest.raises(ValueError, match="One label per item"):
        cross_modal_pairs(np.zeros(3), [0, 1], np.zeros(2), [0, 1], 2)
