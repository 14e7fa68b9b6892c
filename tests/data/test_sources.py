import os

import numpy as np
import pytest
from PIL import Image

import kzoo


def _make_folder(root, n_per_class=3, size=(8, 8)):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            d = os.path.join(root, split, cls)
            os.makedirs(d)
            for i in range(n_per_class):
                img = rng.integers(0, 256, size + (3,)).astype("uint8")
                Image.fromarray(img).save(os.path.join(d, f"{i:04d}.png"))
    return root


def test_image_folder_roundtrip(tmp_path):
    root = _make_folder(str(tmp_path))
    ds = kzoo.data.load_image_folder(root, "train")
    assert ds.images.shape == (6, 8, 8, 3) and ds.images.dtype == np.uint8
    assert ds.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(ds.labels, [0, 0, 0, 1, 1, 1])
    saved = np.asarray(Image.open(os.path.join(root, "train", "dog", "0001.png")))
    np.testing.assert_array_equal(ds.images[4], saved)
    limited = kzoo.data.load_image_folder(root, "train", limit=2)
    np.testing.assert_array_equal(limited.labels, [0, 1])  # round-robin


def test_corrupt_file_is_skipped_with_a_counted_warning(tmp_path):
    root = _make_folder(str(tmp_path))
    bad = os.path.join(root, "train", "cat", "0001.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really an image")
    truncated = os.path.join(root, "train", "dog", "0002.jpg")
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(truncated)
    data = open(truncated, "rb").read()
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="skipped 2 of 7 files") as record:
        ds = kzoo.data.load_image_folder(root, "train")
    assert "0001.png" in str(record[0].message) and "0002.jpg" in str(record[0].message)
    assert len(ds.images) == 5 and len(ds.skipped) == 2
    with pytest.raises(kzoo.data.CorruptImageError, match="0001.png"):
        kzoo.data.load_image_folder(root, "train", on_error="raise")


def test_mixed_sizes_need_image_size(tmp_path):
    root = _make_folder(str(tmp_path))
    Image.fromarray(np.zeros((10, 12, 3), "uint8")).save(
        os.path.join(root, "train", "dog", "big.png"))
    with pytest.raises(kzoo.data.CorruptImageError, match="big.png"):
        kzoo.data.load_image_folder(root, "train", on_error="raise")
    ds = kzoo.data.load_image_folder(root, "train", image_size=(8, 8))
    assert ds.images.shape == (7, 8, 8, 3)


def test_missing_folder_message(tmp_path):
    with pytest.raises(kzoo.data.DataUnavailableError, match="No 'train' folder"):
        kzoo.data.load_image_folder(str(tmp_path), "train")


def test_resolve_data_dir(tmp_path, monkeypatch):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "cifar10", "train"))
    assert kzoo.data.resolve_data_dir(root, "cifar10") == os.path.join(root, "cifar10")
    assert kzoo.data.resolve_data_dir(os.path.join(root, "cifar10"), "cifar10") == \
        os.path.join(root, "cifar10")
    monkeypatch.delenv("KZOO_DATA_DIR", raising=False)
    assert kzoo.data.resolve_data_dir(None, "cifar10") is None
    monkeypatch.setenv("KZOO_DATA_DIR", root)
    assert kzoo.data.resolve_data_dir(None, "cifar10") == os.path.join(root, "cifar10")


def test_digits_embedded():
    train = kzoo.data.load_digits("train")
    test = kzoo.data.load_digits("test")
    assert train.images.shape[1:] == (32, 32, 3) and train.images.max() == 255
    assert len(train.images) + len(test.images) == 1797
    assert set(np.unique(test.labels)) == set(range(10))
    np.testing.assert_array_equal(train.images[..., 0], train.images[..., 2])


def test_real_cifar_folder(cifar_dir):
    test = kzoo.data.load_dataset("cifar10", "test", data_dir=cifar_dir, limit=50)
    assert test.images.shape == (50, 32, 32, 3)
    assert test.class_names[0] == "airplane" and len(test.class_names) == 10
    assert np.bincount(test.labels).tolist() == [5] * 10
