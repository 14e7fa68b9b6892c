"""kzoo.arrays: PyDataset batches of in-memory arrays, on every backend
(no TensorFlow needed: the recipes' input off the TensorFlow backend)."""

import keras
import numpy as np
import pytest

from kzoo import arrays


def _images(n=10, size=4):
    # Image i is filled with the value i: a batch names its rows.
    return np.broadcast_to(np.arange(n, dtype="uint8")[:, None, None, None],
                           (n, size, size, 3)).copy()


def _epoch(ds):
    return [ds[i] for i in range(len(ds))]


def test_two_view_arrays_batches_like_two_view_dataset():
    ds = arrays.TwoViewArrays(_images(10), batch_size=4, seed=0)
    assert isinstance(ds, keras.utils.PyDataset)
    assert len(ds) == 2  # the last partial batch is dropped
    batches = _epoch(ds)
    for (x,) in batches:
        assert x.dtype == np.uint8 and x.shape == (4, 4, 4, 3)
    rows = np.concatenate([x[:, 0, 0, 0] for (x,) in batches])
    assert len(set(rows.tolist())) == 8  # no repeats within an epoch
    with pytest.raises(IndexError):
        ds[2]


def test_two_view_arrays_reshuffles_from_the_seed():
    def orders(seed, epochs=3):
        ds = arrays.TwoViewArrays(_images(32), batch_size=8, seed=seed)
        out = []
        for _ in range(epochs):
            out.append(np.concatenate([x[:, 0, 0, 0] for (x,) in _epoch(ds)]))
            ds.on_epoch_end()
        return out

    first, again, other = orders(1), orders(1), orders(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])  # a new order each epoch
    assert not np.array_equal(first[0], other[0])
    assert sorted(first[0].tolist()) == list(range(32))


def test_two_view_arrays_without_shuffle_keeps_the_order():
    ds = arrays.TwoViewArrays(_images(9), batch_size=3, shuffle=False)
    rows = np.concatenate([x[:, 0, 0, 0] for (x,) in _epoch(ds)])
    assert rows.tolist() == list(range(9))
    ds = arrays.TwoViewArrays(_images(9), batch_size=4, shuffle=False,
                              drop_remainder=False)
    assert [x.shape[0] for (x,) in _epoch(ds)] == [4, 4, 1]


@pytest.mark.parametrize("kwargs, match", [
    (dict(images=_images(3), batch_size=4), "fewer than one batch"),
    (dict(images=_images(8), batch_size=0), "batch_size"),
    (dict(images=np.zeros((8, 4, 4), "uint8"), batch_size=2), "images"),
    (dict(images=_images(8), batch_size=2, seed=1.5), "seed"),
])
def test_two_view_arrays_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        arrays.TwoViewArrays(**kwargs)


def test_labeled_arrays_flips_and_keeps_every_batch():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 5, 6, 3)).astype("uint8")
    labels = np.arange(10)
    plain = arrays.LabeledArrays(images, labels, batch_size=4)
    assert [len(y) for _, y in _epoch(plain)] == [4, 4, 2]
    x, y = plain[0]
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x, images[:4])

    flipped = arrays.LabeledArrays(images, labels, batch_size=10,
                                   shuffle=True, seed=3, flip=True)
    seen = []
    for _ in range(2):
        x, y = flipped[0]
        assert sorted(y.tolist()) == list(range(10))
        same = [np.array_equal(x[i], images[y[i]]) for i in range(10)]
        mirrored = [np.array_equal(x[i], images[y[i]][:, ::-1])
                    for i in range(10)]
        assert all(s or m for s, m in zip(same, mirrored))
        assert any(mirrored) and any(same)
        seen.append(mirrored)
        flipped.on_epoch_end()
    assert seen[0] != seen[1]  # new flips each epoch


def test_labeled_arrays_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="same length"):
        arrays.LabeledArrays(_images(4), np.arange(3), batch_size=2)


def test_fit_on_two_view_arrays():
    """`fit` reads the uint8 batches (a model consuming x only)."""

    class Mean(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(keras.ops.mean(
                keras.ops.cast(x, "float32"), axis=(1, 2)) / 255.0)

        def compute_loss(self, x=None, y=None, y_pred=None,
                         sample_weight=None, training=True):
            return keras.ops.mean(keras.ops.square(y_pred - 1.0))

    model = Mean()
    model.compile(optimizer="sgd")
    history = model.fit(arrays.TwoViewArrays(_images(16), 4, seed=0),
                        epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
