"""Distance, L2Normalize and EmbeddingHead layers."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import dtype_of, to_numpy, value_and_grad


def _rows(seed=0, n=6, d=5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype("float32"),
            rng.normal(size=(n, d)).astype("float32"))


@pytest.mark.parametrize("metric", ["l2", "squared_l2", "cosine"])
def test_distance_matches_numpy_row_wise(metric):
    a, b = _rows()
    out = kzoo.layers.Distance(metric)([a, b])
    assert tuple(out.shape) == (6, 1) and dtype_of(out) == "float32"
    if metric == "cosine":
        expected = 1 - np.sum(a * b, 1) / (
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    else:
        expected = np.sum((a - b) ** 2, axis=1)
        if metric == "l2":
            expected = np.sqrt(expected)
    np.testing.assert_allclose(to_numpy(out)[:, 0], expected, rtol=1e-5,
                               atol=1e-6)


def test_distance_hand_computed():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], "float32")
    b = np.array([[3.0, 4.0], [1.0, 0.0], [-2.0, -2.0]], "float32")
    np.testing.assert_allclose(kzoo.layers.Distance()([a, b]),
                               [[5.0], [0.0], [np.sqrt(18.0)]], rtol=1e-6)
    np.testing.assert_allclose(kzoo.layers.Distance("squared_l2")([a, b]),
                               [[25.0], [0.0], [18.0]], rtol=1e-6)
    # cosine: zero vector -> 1; same direction -> 0; opposite -> 2
    np.testing.assert_allclose(kzoo.layers.Distance("cosine")([a, b]),
                               [[1.0], [0.0], [2.0]], atol=1e-6)


@pytest.mark.parametrize("metric", ["l2", "squared_l2", "cosine"])
def test_distance_gradient_is_finite_at_zero(metric):
    a = np.array([[1.0, 2.0], [0.0, 0.0]], "float32")
    b = a.copy()  # identical rows, zero vectors
    d = to_numpy(kzoo.layers.Distance(metric)([a, b]))
    _, (grad,) = value_and_grad(
        lambda a: keras.ops.sum(kzoo.layers.Distance(metric)([a, b])), a)
    assert np.all(np.isfinite(d)) and np.all(np.isfinite(grad))
    if metric != "cosine":
        np.testing.assert_array_equal(d, [[0.0], [0.0]])
        np.testing.assert_array_equal(grad, np.zeros((2, 2)))


def test_distance_in_a_functional_model_and_mixed_precision():
    x1, x2 = keras.Input((3,)), keras.Input((3,))
    out = kzoo.layers.Distance("cosine", dtype="mixed_float16")([x1, x2])
    assert tuple(out.shape) == (None, 1) and dtype_of(out) == "float32"
    model = keras.Model([x1, x2], out)
    a, b = _rows(d=3)
    assert model.predict([a, b], verbose=0).shape == (6, 1)


def test_distance_errors():
    with pytest.raises(ValueError, match="Received: metric='manhattan'"):
        kzoo.layers.Distance("manhattan")
    a, _ = _rows()
    with pytest.raises(ValueError, match="Received: input_shape="):
        kzoo.layers.Distance()([a, np.zeros((6, 4), "float32")])
    with pytest.raises(ValueError, match="list of two tensors"):
        kzoo.layers.Distance()(a)


def test_distance_config_round_trip():
    layer = kzoo.layers.Distance("squared_l2", name="d")
    clone = kzoo.layers.Distance.from_config(layer.get_config())
    assert clone.metric == "squared_l2" and clone.name == "d"


def test_l2_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [-1e-30, 0.0]], "float32")
    out = to_numpy(kzoo.layers.L2Normalize()(x))
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(out[1], [0.0, 0.0])  # zero stays zero
    assert np.all(np.isfinite(out))
    cols = to_numpy(kzoo.layers.L2Normalize(axis=0)(x[:1]))
    np.testing.assert_allclose(cols, [[1.0, 1.0]])
    config = kzoo.layers.L2Normalize(axis=1, epsilon=1e-6).get_config()
    assert config["axis"] == 1 and config["epsilon"] == 1e-6
    with pytest.raises(ValueError, match="Received: epsilon=0"):
        kzoo.layers.L2Normalize(epsilon=0)


def test_embedding_head_is_unit_norm_with_hidden_layers():
    # Seeded, and wide enough that no row's ReLU outputs are all zero (with
    # 6 hidden units about 1 row in 64 was; a zero row stays zero when
    # normalised, see test_l2_normalize, which made this test flaky).
    keras.utils.set_random_seed(0)
    head = kzoo.layers.EmbeddingHead(4, hidden_dims=[32, 16])
    x = np.random.default_rng(0).normal(size=(5, 10)).astype("float32")
    out = to_numpy(head(x))
    assert out.shape == (5, 4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    # 3 Dense layers: kernel + bias each
    assert len(head.trainable_weights) == 6
    assert [tuple(w.shape) for w in head.trainable_weights][::2] == [
        (10, 32), (32, 16), (16, 4)]


def test_embedding_head_without_normalization_is_linear():
    head = kzoo.layers.EmbeddingHead(3, normalize=False)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    out = to_numpy(head(x))
    kernel, bias = (to_numpy(w) for w in head.weights)
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert head.compute_output_shape((None, 5)) == (None, 3)


def test_embedding_head_errors_and_config():
    with pytest.raises(ValueError, match="Received: embedding_dim=0"):
        kzoo.layers.EmbeddingHead(0)
    with pytest.raises(ValueError, match="Received: hidden_dims="):
        kzoo.layers.EmbeddingHead(2, hidden_dims=[0])
    head = kzoo.layers.EmbeddingHead(7, normalize=False, hidden_dims=(5,),
                                     activation="gelu")
    config = head.get_config()
    assert config["embedding_dim"] == 7 and config["hidden_dims"] == [5]
    assert config["normalize"] is False
    clone = kzoo.layers.EmbeddingHead.from_config(config)
    assert clone.get_config() == config
