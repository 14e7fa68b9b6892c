import numpy as np
import pytest

import kzoo


def _images(n=40):
    return np.random.default_rng(0).integers(0, 256, (n, 16, 16, 3)).astype("uint8")


def test_two_view_dataset_structure_and_seeded_determinism():
    x = _images()
    ds = kzoo.data.two_view_dataset(x, batch_size=16, seed=7)
    batches = list(ds)
    assert len(batches) == 2  # 40 // 16, remainder dropped
    assert set(batches[0]) == {"view_1", "view_2"}
    assert batches[0]["view_1"].shape == (16, 16, 16, 3)
    assert not np.array_equal(batches[0]["view_1"], batches[0]["view_2"])
    again = list(kzoo.data.two_view_dataset(x, batch_size=16, seed=7))
    for a, b in zip(batches, again):
        np.testing.assert_array_equal(a["view_1"], b["view_1"])
    # a new epoch draws new augmentations
    second_epoch = list(ds)
    assert not np.array_equal(batches[0]["view_1"], second_epoch[0]["view_1"])


def test_views_come_from_the_same_images():
    x = _images()
    ident = lambda images, seed: __import__("tensorflow").cast(images, "float32")
    b = next(iter(kzoo.data.two_view_dataset(x, 8, augment=ident, seed=0)))
    np.testing.assert_array_equal(b["view_1"], b["view_2"])
    # every image of the batch is one of the inputs
    flat = {im.tobytes() for im in x.astype("float32")}
    assert all(im.tobytes() in flat for im in b["view_1"].numpy())


def test_errors():
    with pytest.raises(ValueError, match="batch_size=0"):
        kzoo.data.two_view_dataset(_images(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size=64"):
        kzoo.data.two_view_dataset(_images(), batch_size=64)


def test_labeled_dataset():
    x = _images(10)
    y = np.arange(10)
    batches = list(kzoo.data.labeled_dataset(x, y, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(batches[0][0], x[:4].astype("float32"))
