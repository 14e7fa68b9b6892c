import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kzoo.eval import linear_probe  # noqa: E402


def separable_features(num_per_class, num_classes=3, dim=20, seed=0):
    """Gaussian blobs around well-separated class centres.

    Returns `(x_train, y_train, x_test, y_test)`; the test split has half as
    many examples and the same centres.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(num_classes, dim)) * 3.0

    def split(n):
        labels = rng.permutation(np.repeat(np.arange(num_classes), n))
        features = centers[labels] + rng.normal(size=(len(labels), dim))
        return features.astype("float32"), labels

    return split(num_per_class) + split(num_per_class // 2)


FAST = dict(epochs=15, batch_size=64, learning_rate=1e-2)


def test_linearly_separable_features():
    x_train, y_train, x_test, y_test = separable_features(100, seed=0)
    result = linear_probe(x_train, y_train, x_test, y_test, **FAST)
    assert set(result) == {"accuracy", "train_accuracy"}
    assert isinstance(result["accuracy"], float)
    assert result["accuracy"] > 0.95
    assert result["train_accuracy"] > 0.95


def test_random_labels_stay_near_chance():
    rng = np.random.default_rng(1)
    x_train = rng.normal(size=(400, 16)).astype("float32")
    y_train = rng.integers(0, 4, size=400)
    x_test = rng.normal(size=(1000, 16)).astype("float32")
    y_test = rng.integers(0, 4, size=1000)
    result = linear_probe(x_train, y_train, x_test, y_test, **FAST)
    assert abs(result["accuracy"] - 0.25) < 0.08


def test_same_seed_same_result():
    x_train, y_train, x_test, y_test = separable_features(
        60, num_classes=4, seed=2
    )
    kwargs = dict(epochs=3, batch_size=32, learning_rate=1e-3, seed=7)
    a = linear_probe(x_train, y_train, x_test, y_test, **kwargs)
    b = linear_probe(x_train, y_train, x_test, y_test, **kwargs)
    assert a == b


def test_constant_feature_and_weight_decay():
    x_train, y_train, x_test, y_test = separable_features(100, seed=4)
    x_train[:, 0] = 5.0  # constant column: std = 0
    x_test[:, 0] = 5.0
    result = linear_probe(
        x_train, y_train, x_test, y_test, weight_decay=1e-4, **FAST
    )
    assert np.isfinite(result["accuracy"])
    assert np.isfinite(result["train_accuracy"])
    assert result["accuracy"] > 0.9


def test_invalid_arguments():
    x, y, _, _ = separable_features(5)
    with pytest.raises(ValueError, match=r"Received: train_labels.shape=\(4,\)$"):
        linear_probe(x, y[:4], x, y)
    with pytest.raises(ValueError, match=r"Received: test_features.shape="):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match=r"Received: epochs=0$"):
        linear_probe(x, y, x, y, epochs=0)
    with pytest.raises(ValueError, match=r"Received: num_classes=2$"):
        linear_probe(x, y, x, y, num_classes=2)
    with pytest.raises(ValueError, match=r"Received: weight_decay=-1$"):
        linear_probe(x, y, x, y, weight_decay=-1)
