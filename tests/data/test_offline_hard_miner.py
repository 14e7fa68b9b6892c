"""Offline hard triplet mining (`kzoo.data.OfflineHardMiner`)."""

import keras
import numpy as np
import pytest

import kzoo

def _points(seed=0, n=40, classes=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    labels[:2] = classes  # one extra class of 2 examples
    labels[2] = classes + 1  # and a single-example class
    return rng.normal(size=(n, 3)).astype("float32"), labels


def _rows_of(x, points):
    """Indices `[B, 3]` of the points making up a batch of triplets."""
    x = np.asarray(x)
    match = (x[:, :, None, :] == points[None, None]).all(-1)  # [B, 3, N]
    assert np.all(match.sum(-1) == 1)
    return match.argmax(-1)


def _brute_force(points, labels, distance="l2"):
    if distance == "l2":
        d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    else:
        u = points / np.linalg.norm(points, axis=1, keepdims=True)
        d = 1 - u @ u.T
    expected = {}
    for a in range(len(labels)):
        pos = np.flatnonzero((labels == labels[a]) & (np.arange(len(labels)) != a))
        neg = np.flatnonzero(labels != labels[a])
        if len(pos) and len(neg):
            expected[a] = (pos[np.argmax(d[a, pos])], neg[np.argmin(d[a, neg])])
    return expected


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_miner_picks_hardest_positive_and_nearest_negative(distance):
    points, labels = _points()
    # the "model" is the identity: the images are their own embeddings
    miner = kzoo.data.OfflineHardMiner(points, labels, lambda x: x,
                                       batch_size=4, distance=distance, seed=0)
    assert miner.triplets is None
    assert miner.refresh() == len(labels) - 1  # the single example: no anchor
    anchors, positives, negatives = miner.triplets
    expected = _brute_force(points, labels, distance)
    assert sorted(anchors.tolist()) == sorted(expected)
    for a, p, n in zip(anchors, positives, negatives):
        assert (p, n) == expected[a]


def test_miner_hand_built_embedding():
    # 1-D embedding, labels    A    A    B    B    A
    points = np.array([[0.0], [5.0], [1.0], [9.0], [6.0]], "float32")
    labels = np.array([0, 0, 1, 1, 0])
    miner = kzoo.data.OfflineHardMiner(points, labels, lambda x: x, 2)
    miner.refresh()
    got = {int(a): (int(p), int(n)) for a, p, n in zip(*miner.triplets)}
    # anchor 0 (at 0): farthest A is 4 (at 6), nearest B is 2 (at 1)
    assert got == {0: (4, 2), 1: (0, 2), 2: (3, 0), 3: (2, 4), 4: (0, 3)}


def test_miner_refreshes_every_n_steps_and_yields_mined_triplets():
    points, labels = _points(1)
    model = {"fn": lambda x: x}
    miner = kzoo.data.OfflineHardMiner(
        points, labels, lambda x: model["fn"](x), batch_size=16,
        refresh_every=3, seed=0)
    ds = miner.dataset()  # mines once
    assert miner.num_refreshes == 1
    it = iter(ds)
    x, y = next(it)
    assert x.shape == (16, 3, 3) and x.dtype == "float32" and y.dtype == "int32"
    mined = {tuple(t) for t in np.stack(miner.triplets, 1).tolist()}
    rows = _rows_of(x, points)
    assert {tuple(t) for t in rows.tolist()} <= mined
    np.testing.assert_array_equal(y, labels[rows])
    # the embedding changes: nothing happens until the 3rd step
    model["fn"] = lambda x: x * np.array([1.0, 0.0, 0.0], "float32")
    for step in range(2):
        miner.on_train_batch_end(step)
    assert miner.num_refreshes == 1
    miner.on_train_batch_end(2)
    assert miner.num_refreshes == 2
    expected = _brute_force(points * np.array([1.0, 0.0, 0.0]), labels)
    for a, p, n in zip(*miner.triplets):
        assert n == expected[a][1]
    # the generator switches to the new mining
    new = {tuple(t) for t in np.stack(miner.triplets, 1).tolist()}
    x, y = next(it)
    rows = _rows_of(x, points)
    assert {tuple(t) for t in rows.tolist()} <= new
    np.testing.assert_array_equal(y, labels[rows])


def test_miner_bank_subset_and_determinism():
    points, labels = _points(2, n=60)
    a = kzoo.data.OfflineHardMiner(points, labels, lambda x: x, 8,
                                   bank_size=20, seed=7)
    b = kzoo.data.OfflineHardMiner(points, labels, lambda x: x, 8,
                                   bank_size=20, seed=7)
    a.refresh(), b.refresh()
    for u, v in zip(a.triplets, b.triplets):
        np.testing.assert_array_equal(u, v)
    bank = set(np.concatenate(a.triplets).tolist())
    assert len(bank) <= 20
    first = [np.asarray(x) for x, _ in a.dataset().take(3)]
    second = [np.asarray(x) for x, _ in b.dataset().take(3)]
    np.testing.assert_array_equal(first, second)
    a.refresh()  # a new random bank
    assert set(np.concatenate(a.triplets).tolist()) != bank


def test_hard_triplet_dataset_with_fit():
    points, labels = _points(3)
    tower = keras.Sequential([keras.Input((3,)), kzoo.layers.EmbeddingHead(2)])
    model = kzoo.models.triplet_network(tower)

    def triplet_loss(y_true, y_pred):
        a, p, n = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        gap = keras.ops.sum((a - p) ** 2, -1) - keras.ops.sum((a - n) ** 2, -1)
        return keras.ops.mean(keras.ops.maximum(gap + 0.2, 0.0))

    model.compile("sgd", loss=triplet_loss)
    ds, miner = kzoo.data.hard_triplet_dataset(points, labels, tower, 8,
                                               refresh_every=2, seed=0)
    model.fit(ds, steps_per_epoch=3, epochs=2, callbacks=[miner], verbose=0)
    assert miner.num_refreshes == 1 + 6 // 2


def test_miner_errors():
    points, labels = _points()
    with pytest.raises(ValueError, match="Received: distance='manhattan'"):
        kzoo.data.OfflineHardMiner(points, labels, lambda x: x, 4,
                                   distance="manhattan")
    with pytest.raises(ValueError, match="Received: refresh_every=0"):
        kzoo.data.OfflineHardMiner(points, labels, lambda x: x, 4,
                                   refresh_every=0)
    with pytest.raises(ValueError, match="Received: embedding_model=3"):
        kzoo.data.OfflineHardMiner(points, labels, 3, 4)
    one_class = kzoo.data.OfflineHardMiner(points, np.zeros(len(points), int),
                                           lambda x: x, 4)
    with pytest.raises(ValueError, match="No anchor"):
        one_class.refresh()
    bad = kzoo.data.OfflineHardMiner(points, labels, lambda x: x[:, :, None], 4)
    with pytest.raises(ValueError, match="Received: output shape"):
        bad.refresh()
