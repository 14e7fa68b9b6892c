"""Pair, triplet and class-balanced samplers."""

import collections
import json
import subprocess
import sys

import numpy as np
import pytest

import kzoo
from tests.conftest import subprocess_env

# 5 classes: sizes 5, 7, 1 (a single example), 10, 2.
LABELS = np.array([0] * 5 + [1] * 7 + [2] + [3] * 10 + [4] * 2)
N = len(LABELS)


def _ids():
    """Images `[N, 2]` whose pixels are the example's index (identifiable)."""
    return np.repeat(np.arange(N, dtype="uint8")[:, None], 2, axis=1)


def _index(x):
    x = np.asarray(x)
    return x[..., 0].astype(int)


# ---------------------------------------------------------------- pair_dataset


def _pairs(ds):
    first, second, y = [], [], []
    sizes = []
    for (x1, x2), yy in ds:
        assert x1.dtype == "float32" and x2.shape == x1.shape
        assert yy.dtype == "float32" and yy.shape == (x1.shape[0], 1)
        first.append(_index(x1))
        second.append(_index(x2))
        y.append(np.asarray(yy)[:, 0])
        sizes.append(x1.shape[0])
    return np.concatenate(first), np.concatenate(second), np.concatenate(y), sizes


def test_pair_dataset_labels_structure_and_balance():
    i1, i2, y, sizes = _pairs(kzoo.data.pair_dataset(_ids(), LABELS, 8, seed=0))
    assert sizes == [8, 8, 8, 1]  # one epoch = N = 25 pairs, ceil to batches
    # y = 0: similar (same label, different examples); y = 1: dissimilar
    same = LABELS[i1] == LABELS[i2]
    np.testing.assert_array_equal(y == 0, same)
    assert np.all(i1[y == 0] != i2[y == 0])
    # a single-example class never appears in a similar pair
    assert not np.any(LABELS[i1[y == 0]] == 2)
    # balanced: round(0.5 * b) similar pairs per batch
    per_batch = np.split(y, np.cumsum(sizes)[:-1])
    assert [int(np.sum(b == 0)) for b in per_batch] == [4, 4, 4, 0]
    # mixed order inside the batch
    assert not all(np.all(np.diff(b) >= 0) for b in per_batch[:3])


def test_pair_dataset_seeded_and_resampled_every_epoch():
    ds = kzoo.data.pair_dataset(_ids(), LABELS, 8, seed=3)
    epoch_1, epoch_2 = _pairs(ds), _pairs(ds)
    again = _pairs(kzoo.data.pair_dataset(_ids(), LABELS, 8, seed=3))
    for a, b in zip(epoch_1[:3], again[:3]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epoch_1[0], epoch_2[0])  # new pairs
    other = _pairs(kzoo.data.pair_dataset(_ids(), LABELS, 8, seed=4))
    assert not np.array_equal(epoch_1[0], other[0])


def test_pair_dataset_positive_fraction_extremes():
    _, _, y, _ = _pairs(kzoo.data.pair_dataset(
        _ids(), LABELS, 10, positive_fraction=1.0, seed=0))
    assert np.all(y == 0)
    i1, i2, y, _ = _pairs(kzoo.data.pair_dataset(
        _ids(), LABELS, 10, positive_fraction=0.0, seed=0))
    assert np.all(y == 1) and np.all(LABELS[i1] != LABELS[i2])
    _, _, y, _ = _pairs(kzoo.data.pair_dataset(
        _ids(), LABELS, 25, positive_fraction=0.2, seed=0))
    assert int(np.sum(y == 0)) == 5


def test_pair_dataset_errors():
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        kzoo.data.pair_dataset(_ids(), LABELS, 0)
    with pytest.raises(ValueError, match="Received: positive_fraction=1.5"):
        kzoo.data.pair_dataset(_ids(), LABELS, 4, positive_fraction=1.5)
    with pytest.raises(ValueError, match="at least two classes"):
        kzoo.data.pair_dataset(_ids()[:5], LABELS[:5], 4)
    singletons = np.arange(4)
    with pytest.raises(ValueError, match="at least two examples"):
        kzoo.data.pair_dataset(_ids()[:4], singletons, 4)
    # ... but dissimilar-only pairs of singletons are fine
    _, _, y, _ = _pairs(kzoo.data.pair_dataset(
        _ids()[:4], singletons, 4, positive_fraction=0.0, seed=0))
    assert np.all(y == 1)
    with pytest.raises(ValueError, match="Received: images.shape"):
        kzoo.data.pair_dataset(_ids(), LABELS[:-1], 4)


# ------------------------------------------------------------- triplet_dataset


def _triplets(ds):
    out, labels, sizes = [], [], []
    for x, y in ds:
        assert x.dtype == "float32" and x.shape[1:] == (3, 2)
        assert y.dtype == "int32" and y.shape == (x.shape[0], 3)
        out.append(_index(x))
        labels.append(np.asarray(y))
        sizes.append(x.shape[0])
    return np.concatenate(out), np.concatenate(labels), sizes


def test_triplet_dataset_structure():
    idx, y, sizes = _triplets(kzoo.data.triplet_dataset(_ids(), LABELS, 10, seed=0))
    a, p, n = idx.T
    np.testing.assert_array_equal(y, LABELS[idx])
    assert np.all(LABELS[a] == LABELS[p]) and np.all(a != p)
    assert np.all(LABELS[n] != LABELS[a])
    # every example of a class with >= 2 examples is the anchor exactly once;
    # the single example of class 2 never is
    eligible = np.flatnonzero(LABELS != 2)
    np.testing.assert_array_equal(np.sort(a), eligible)
    assert sizes == [10, 10, 4]


def test_triplet_dataset_seeded_and_reshuffled():
    ds = kzoo.data.triplet_dataset(_ids(), LABELS, 8, seed=1)
    e1, e2 = _triplets(ds)[0], _triplets(ds)[0]
    again = _triplets(kzoo.data.triplet_dataset(_ids(), LABELS, 8, seed=1))[0]
    np.testing.assert_array_equal(e1, again)
    assert not np.array_equal(e1, e2)


def test_triplet_dataset_errors():
    with pytest.raises(ValueError, match="second class"):
        kzoo.data.triplet_dataset(_ids()[:5], LABELS[:5], 2)
    with pytest.raises(ValueError, match="at least two examples"):
        kzoo.data.triplet_dataset(_ids()[:3], np.arange(3), 2)


# ------------------------------------------------------ class_balanced_dataset


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_class_balanced_every_replica_slice_is_p_by_k(replicas):
    p, k = 3, 4
    ds = kzoo.data.class_balanced_dataset(
        _ids(), LABELS, p, k, seed=0, num_replicas=replicas, steps_per_epoch=5)
    batches = list(ds)
    assert len(batches) == 5
    for x, y in batches:
        assert x.dtype == "float32" and x.shape == (replicas * p * k, 2)
        y = np.asarray(y)
        np.testing.assert_array_equal(y, LABELS[_index(x)])
        # Keras splits the global batch into `replicas` consecutive slices
        for block in np.split(y, replicas):
            counts = collections.Counter(block.tolist())
            assert len(counts) == p and set(counts.values()) == {k}
            # the K examples of a class are consecutive
            assert all(len(set(block[i:i + k])) == 1
                       for i in range(0, p * k, k))


_MIRRORED_SCRIPT = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import kzoo
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
labels = np.repeat(np.arange(6), 5)
images = np.arange(30, dtype="float32")[:, None]
ds = kzoo.data.class_balanced_dataset(images, labels, 3, 2, seed=0,
                                      num_replicas=2, steps_per_epoch=4)
out = []
for x, y in strategy.experimental_distribute_dataset(ds):
    out.append([np.asarray(t).tolist()
                for t in strategy.experimental_local_results(y)])
print(json.dumps(out))
"""


def test_class_balanced_under_mirrored_strategy():
    """The split tf.distribute really makes: 2 logical CPUs, P=3, K=2."""
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT], env=subprocess_env(),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    batches = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(batches) == 4
    for replicas in batches:
        assert len(replicas) == 2
        for y in replicas:
            counts = collections.Counter(y)
            assert len(counts) == 3 and set(counts.values()) == {2}


def test_class_balanced_examples_and_classes():
    ds = kzoo.data.class_balanced_dataset(_ids(), LABELS, 5, 2, seed=0,
                                          steps_per_epoch=20)
    seen = collections.Counter()
    for x, y in ds:
        idx = _index(x)
        for i in range(0, len(idx), 2):
            pair = idx[i:i + 2]
            if LABELS[pair[0]] != 2:  # classes with >= 2 examples: distinct
                assert pair[0] != pair[1]
        seen.update(idx.tolist())
    # P = number of classes: every class in every block, class 2 repeated
    assert seen[12] == 20 * 2
    # within a class, examples are drawn without repetition until exhausted
    assert set(seen) == set(range(N))


def test_class_balanced_determinism_and_default_epoch():
    make = lambda seed: kzoo.data.class_balanced_dataset(  # noqa: E731
        _ids(), LABELS, 2, 3, seed=seed)
    ds = make(5)
    e1 = [np.asarray(y) for _, y in ds]
    assert len(e1) == N // 6
    e2 = [np.asarray(y) for _, y in ds]
    again = [np.asarray(y) for _, y in make(5)]
    np.testing.assert_array_equal(np.concatenate(e1), np.concatenate(again))
    assert not np.array_equal(np.concatenate(e1), np.concatenate(e2))


def test_class_balanced_errors():
    with pytest.raises(ValueError, match="Received: classes_per_batch=6"):
        kzoo.data.class_balanced_dataset(_ids(), LABELS, 6, 2)
    with pytest.raises(ValueError, match="Received: examples_per_class=0"):
        kzoo.data.class_balanced_dataset(_ids(), LABELS, 2, 0)
    with pytest.raises(ValueError, match="Received: num_replicas=0"):
        kzoo.data.class_balanced_dataset(_ids(), LABELS, 2, 2, num_replicas=0)
    with pytest.raises(ValueError, match="Received: augment_pad=0"):
        kzoo.data.class_balanced_dataset(_ids(), LABELS, 2, 2, augment_pad=0)


@pytest.mark.parametrize("initial_epoch", [0, 2])
def test_class_balanced_augment_pad_is_flip_and_translate_of_each_batch(
        initial_epoch):
    """Each batch is `random_flip_and_translate` of the plain batch, its
    seeds the stream of `seed + 1` that the triplet and face recipes used
    (skipped by a resumed run's batches), so their batches did not change."""
    import tensorflow as tf

    images = np.random.RandomState(0).randint(
        0, 256, (N, 8, 8, 3)).astype("uint8")
    kw = dict(seed=7, steps_per_epoch=2, epochs=3, initial_epoch=initial_epoch)
    plain = list(kzoo.data.class_balanced_dataset(images, LABELS, 2, 3, **kw))
    augmented = list(kzoo.data.class_balanced_dataset(
        images, LABELS, 2, 3, augment_pad=2, **kw))
    seeds = list(tf.data.Dataset.random(seed=8).batch(2).skip(
        initial_epoch * 2).take(len(plain)))
    assert len(plain) == len(augmented) == (3 - initial_epoch) * 2
    changed = 0
    for (x, y), (xa, ya), s in zip(plain, augmented, seeds):
        np.testing.assert_array_equal(np.asarray(ya), np.asarray(y))
        expected = kzoo.data.random_flip_and_translate(x, s, 2)
        np.testing.assert_array_equal(np.asarray(xa), np.asarray(expected))
        changed += not np.array_equal(np.asarray(xa), np.asarray(x))
    assert changed  # the augmentation did move pixels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_class_balanced_groups_distinct_and_each_pass_covers_the_class(seed):
    # K = 3 divides none of the class sizes 5, 7, 10: groups straddle the
    # boundary between two passes over a class (the old duplicate bug).
    k, steps = 3, 30
    ds = kzoo.data.class_balanced_dataset(_ids(), LABELS, 5, k, seed=seed,
                                          steps_per_epoch=steps)
    streams = collections.defaultdict(list)
    for x, _ in ds:
        idx = _index(x)
        for i in range(0, len(idx), k):
            group = idx[i:i + k]
            cls = LABELS[group[0]]
            assert (LABELS[group] == cls).all()
            if (LABELS == cls).sum() >= k:
                assert len(set(group.tolist())) == k, group
            streams[cls].extend(group.tolist())
    for cls in (0, 1, 3):
        n = int((LABELS == cls).sum())
        stream = streams[cls]
        passes = len(stream) // n
        assert passes >= 4
        counts = collections.Counter(stream[:passes * n])
        assert set(counts.values()) == {passes}, (cls, counts)
