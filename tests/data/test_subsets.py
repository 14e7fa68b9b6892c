"""kzoo.data.balanced_subset: the few-label protocol's fixed subsets."""

import numpy as np
import pytest

import kzoo.data


def test_class_balanced_seeded_and_nested():
    labels = np.repeat(np.arange(10), 100)  # 100 per class
    np.random.default_rng(0).shuffle(labels)
    one = kzoo.data.balanced_subset(labels, 0.01)
    ten = kzoo.data.balanced_subset(labels, 0.1)
    assert one.dtype == np.int64 and np.all(np.diff(one) > 0)
    assert np.bincount(labels[one]).tolist() == [1] * 10
    assert np.bincount(labels[ten]).tolist() == [10] * 10
    assert set(one) <= set(ten)  # nested: 1% inside 10%
    np.testing.assert_array_equal(kzoo.data.balanced_subset(labels, 0.1), ten)
    assert not np.array_equal(kzoo.data.balanced_subset(labels, 0.1, 1), ten)
    assert len(kzoo.data.balanced_subset(labels, 1.0)) == 1000


def test_uneven_classes_keep_at_least_one():
    labels = np.array([0] * 50 + [1] * 3 + [2])
    idx = kzoo.data.balanced_subset(labels, 0.1)
    assert np.bincount(labels[idx]).tolist() == [5, 1, 1]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, True, "0.1"])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        kzoo.data.balanced_subset(np.zeros(4, int), fraction)


def test_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        kzoo.data.balanced_subset(np.zeros((2, 2), int), 0.5)
