import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kzoo.eval  # noqa: E402
from kzoo.eval import embed  # noqa: E402
from kzoo.eval import knn_accuracy  # noqa: E402
from kzoo.eval import knn_predict  # noqa: E402


def reference_knn(train, labels, queries, k, temperature, num_classes):
    """Straightforward float64 loop over queries (Wu et al. 2018 weighted kNN)."""
    train = np.asarray(train, dtype="float64")
    queries = np.asarray(queries, dtype="float64")
    train = train / np.maximum(np.linalg.norm(train, axis=1, keepdims=True), 1e-12)
    k = min(k, len(train))
    predictions = []
    for query in queries:
        query = query / max(np.linalg.norm(query), 1e-12)
        similarity = train @ query
        neighbours = np.argsort(-similarity, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for i in neighbours:
            votes[labels[i]] += np.exp(similarity[i] / temperature)
        predictions.append(int(np.argmax(votes)))
    return np.array(predictions)


def test_public_api():
    for name in ("embed", "knn_predict", "knn_accuracy", "linear_probe",
                 "KNNMonitor"):
        assert hasattr(kzoo.eval, name)


def test_weighted_vote_differs_from_majority_vote():
    # Query q = (1, 0). Cosine similarities to the training points:
    #   A1 = (1,  0.5): 1 / sqrt(1.25)    = 0.89443  (class 0)
    #   A2 = (1, -0.5): 1 / sqrt(1.25)    = 0.89443  (class 0)
    #   B1 = (1, 0.05): 1 / sqrt(1.0025)  = 0.99875  (class 1)
    #   B2 = (-1, 0):   -1                           (class 1, not in top-3)
    # With k=3 the neighbours are A1, A2, B1; a plain majority vote says 0.
    # Weighted vote, w = exp(s / T); B wins iff exp((0.99875 - 0.89443) / T)
    # = exp(0.10432 / T) > 2:
    #   T = 0.01: exp(10.43) ~ 3.4e4 > 2  -> class 1
    #   T = 1.0:  exp(0.104) ~ 1.11  < 2  -> class 0
    train = np.array([[1.0, 0.5], [1.0, -0.5], [1.0, 0.05], [-1.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    query = np.array([[1.0, 0.0]])
    assert knn_predict(train, labels, query, k=3, temperature=0.01)[0] == 1
    assert knn_predict(train, labels, query, k=3, temperature=1.0)[0] == 0
    # k=1: only B1 -> class 1 regardless of temperature.
    assert knn_predict(train, labels, query, k=1, temperature=1.0)[0] == 1


def test_cosine_ignores_scale():
    # Scaling embeddings must not change anything (cosine similarity).
    train = np.array([[1.0, 0.5], [1.0, -0.5], [1.0, 0.05], [-1.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    query = np.array([[1.0, 0.0], [-3.0, 0.1]])
    a = knn_predict(train, labels, query, k=3, temperature=0.01)
    b = knn_predict(train * 100.0, labels, query * 1e-3, k=3, temperature=0.01)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [1, 5, 20, 200])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.5])
def test_matches_numpy_reference(k, temperature):
    rng = np.random.default_rng(0)
    num_classes = 5
    train = rng.normal(size=(150, 16)).astype("float32")
    labels = rng.integers(0, num_classes, size=150)
    queries = rng.normal(size=(60, 16)).astype("float32")
    expected = reference_knn(train, labels, queries, k, temperature, num_classes)
    got = knn_predict(train, labels, queries, k=k, temperature=temperature)
    assert got.shape == (60,)
    assert np.issubdtype(got.dtype, np.integer)
    np.testing.assert_array_equal(got, expected)


def test_accuracy_matches_predictions():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(100, 8))
    labels = rng.integers(0, 3, size=100)
    queries = rng.normal(size=(40, 8))
    query_labels = rng.integers(0, 3, size=40)
    predictions = knn_predict(train, labels, queries, k=10)
    accuracy = knn_accuracy(train, labels, queries, query_labels, k=10)
    assert isinstance(accuracy, float)
    assert accuracy == pytest.approx(np.mean(predictions == query_labels))
    # Perfect on the training set itself with k=1.
    assert knn_accuracy(train, labels, train, labels, k=1) == 1.0


def test_chunking_invariance():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(120, 12))
    labels = rng.integers(0, 4, size=120)
    queries = rng.normal(size=(50, 12))
    a = knn_predict(train, labels, queries, k=15, batch_size=7)
    b = knn_predict(train, labels, queries, k=15, batch_size=1024)
    np.testing.assert_array_equal(a, b)


def test_k_larger_than_train_set_is_clipped():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(10, 4))
    labels = rng.integers(0, 3, size=10)
    queries = rng.normal(size=(20, 4))
    a = knn_predict(train, labels, queries, k=1000)
    b = knn_predict(train, labels, queries, k=10)
    np.testing.assert_array_equal(a, b)


def test_zero_vectors_are_finite():
    train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = np.array([2, 0, 1])
    queries = np.array([[0.0, 0.0], [1.0, 0.1]])
    predictions = knn_predict(train, labels, queries, k=3, num_classes=3)
    assert predictions.shape == (2,)
    assert np.all((predictions >= 0) & (predictions < 3))
    assert predictions[1] == 0
    accuracy = knn_accuracy(train, labels, queries, np.array([2, 0]), k=3)
    assert np.isfinite(accuracy)


def test_small_temperature_does_not_overflow():
    # exp(1 / 1e-3) overflows float32; the max-shifted weights must not.
    train = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    labels = np.array([0, 1, 1])
    query = np.array([[1.0, 0.01]])
    assert knn_predict(train, labels, query, k=3, temperature=1e-3)[0] == 0


def test_accepts_tensors_and_column_labels():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(30, 6)).astype("float32")
    labels = rng.integers(0, 3, size=30)
    queries = rng.normal(size=(10, 6)).astype("float32")
    a = knn_predict(train, labels, queries, k=5)
    b = knn_predict(
        keras.ops.convert_to_tensor(train),
        labels.reshape(-1, 1),
        keras.ops.convert_to_tensor(queries),
        k=5,
    )
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, r"Received: k=0$"),
        ({"k": -3}, r"Received: k=-3$"),
        ({"temperature": 0.0}, r"Received: temperature=0.0$"),
        ({"temperature": -1}, r"Received: temperature=-1$"),
        ({"batch_size": 0}, r"Received: batch_size=0$"),
        ({"num_classes": 2}, r"Received: num_classes=2$"),
    ],
)
def test_invalid_arguments(kwargs, message):
    train = np.eye(4)
    labels = np.array([0, 1, 2, 2])
    with pytest.raises(ValueError, match=message):
        knn_predict(train, labels, np.eye(4), **kwargs)


def test_invalid_shapes():
    train = np.eye(4)
    with pytest.raises(ValueError, match=r"Received: train_labels.shape=\(3,\)$"):
        knn_predict(train, np.array([0, 1, 2]), np.eye(4))
    with pytest.raises(ValueError, match=r"Received: query_embeddings.shape="):
        knn_predict(train, np.arange(4), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Received: train_embeddings.shape="):
        knn_predict(np.ones(4), np.arange(4), np.eye(4))
    with pytest.raises(ValueError, match=r"Received: query_labels.shape=\(5,\)$"):
        knn_accuracy(train, np.arange(4), np.eye(4), np.arange(5))


def test_embed():
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    images = np.random.default_rng(5).integers(0, 255, size=(11, 8, 8, 3))
    images = images.astype("uint8")
    embeddings = embed(model, images, batch_size=4)
    assert embeddings.shape == (11, 5)
    assert embeddings.dtype == np.float32
    expected = keras.ops.convert_to_numpy(
        model(images.astype("float32"), training=False)
    )
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-4)
    # Non-Model callables (layers) are called with training=False.
    layer = keras.layers.Flatten()
    np.testing.assert_allclose(
        embed(layer, images, batch_size=3), images.reshape(11, -1)
    )
    with pytest.raises(ValueError, match=r"Received: batch_size=0$"):
        embed(model, images, batch_size=0)
    with pytest.raises(ValueError, match=r"Received: output shape=\(4, 8, 8, 3\)"):
        embed(keras.layers.Identity(), images, batch_size=4)
