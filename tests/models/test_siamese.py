"""Siamese, triplet and multi-stream networks."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy


def _tower(input_shape=(6,), dim=4, name=None):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    outputs = kzoo.layers.EmbeddingHead(dim, hidden_dims=[5])(x)
    return keras.Model(inputs, outputs, name=name)


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _same_variables(model, tower):
    return {id(v) for v in model.weights} == {id(v) for v in tower.weights}


@pytest.mark.parametrize("distance", ["l2", "squared_l2", "cosine"])
def test_siamese_shares_one_tower(distance):
    tower = _tower()
    model = kzoo.models.siamese_network(tower, distance=distance)
    # one set of weights: the model's variables are exactly the tower's
    assert len(model.weights) == len(tower.weights) == 10
    assert _same_variables(model, tower)
    assert len(model.inputs) == 2 and tuple(model.output.shape) == (None, 1)
    a, b = _x((5, 6), 0), _x((5, 6), 1)
    expected = kzoo.layers.Distance(distance)([tower(a), tower(b)])
    np.testing.assert_allclose(to_numpy(model([a, b])), to_numpy(expected),
                               rtol=1e-5, atol=1e-6)
    # identical inputs are at distance 0, except that a zero embedding
    # (possible from a random ReLU tower) is at cosine distance 1 by convention
    nonzero = np.linalg.norm(to_numpy(tower(a)), axis=-1) > 0
    np.testing.assert_allclose(to_numpy(model([a, a]))[nonzero], 0.0, atol=1e-3)


def test_siamese_save_load_round_trip(tmp_path):
    model = kzoo.models.siamese_network(_tower(), distance="cosine")
    path = str(tmp_path / "siamese.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    a, b = _x((4, 6), 2), _x((4, 6), 3)
    np.testing.assert_allclose(loaded.predict([a, b], verbose=0),
                               model.predict([a, b], verbose=0), rtol=1e-6)
    assert len(loaded.weights) == len(model.weights)
    assert loaded.get_layer("distance").metric == "cosine"


def test_siamese_trains_on_pair_dataset():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 8)
    images = (labels[:, None] + 0.1 * rng.normal(size=(32, 6))).astype("float32")
    tower = _tower()
    model = kzoo.models.siamese_network(tower)

    def contrastive(y_true, y_pred, margin=1.0):  # keras-io, y = 0: similar
        return keras.ops.mean((1 - y_true) * y_pred ** 2 + y_true
                              * keras.ops.maximum(margin - y_pred, 0) ** 2)

    model.compile("adam", loss=contrastive)
    ds = kzoo.data.pair_dataset(images, labels, batch_size=16, seed=0)
    before = [to_numpy(w) for w in tower.trainable_weights]
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [to_numpy(w) for w in tower.trainable_weights]
    assert any(not np.allclose(x, y) for x, y in zip(before, after))


def test_siamese_input_shape_for_unbuilt_tower():
    tower = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="Received: input_shape=None"):
        kzoo.models.siamese_network(tower)
    model = kzoo.models.siamese_network(tower, input_shape=(6,))
    assert len(model.weights) == 2
    with pytest.raises(ValueError, match="Received: tower="):
        kzoo.models.siamese_network(lambda x: x, input_shape=(6,))
    with pytest.raises(ValueError, match="Received: metric="):
        kzoo.models.siamese_network(_tower(), distance="hamming")


def test_triplet_network_stacks_embeddings(tmp_path):
    tower = _tower(input_shape=(2, 3))
    model = kzoo.models.triplet_network(tower)
    assert len(model.weights) == len(tower.weights)
    assert _same_variables(model, tower)
    assert tuple(model.input.shape) == (None, 3, 2, 3)
    assert tuple(model.output.shape) == (None, 3, 4)
    triplets = _x((5, 3, 2, 3))
    out = to_numpy(model(triplets))
    for i in range(3):
        np.testing.assert_allclose(out[:, i], to_numpy(tower(triplets[:, i])),
                                   rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "triplet.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(triplets, verbose=0),
                               model.predict(triplets, verbose=0), rtol=1e-6)
    assert len(loaded.weights) == len(tower.weights)


def test_triplet_network_trains_on_triplet_dataset():
    labels = np.repeat(np.arange(3), 6)
    images = _x((18, 6)) + labels[:, None]
    tower = _tower()
    model = kzoo.models.triplet_network(tower)

    def triplet_loss(y_true, y_pred, margin=0.2):  # no mining
        a, p, n = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        d_ap = keras.ops.sum((a - p) ** 2, -1)
        d_an = keras.ops.sum((a - n) ** 2, -1)
        return keras.ops.mean(keras.ops.maximum(d_ap - d_an + margin, 0.0))

    model.compile("adam", loss=triplet_loss)
    ds = kzoo.data.triplet_dataset(images, labels, batch_size=6, seed=0)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_multi_stream_different_towers(tmp_path):
    photo, text = _tower((6,), name="photo"), _tower((3, 2), name="text")
    model = kzoo.models.multi_stream_network([photo, text], distance="cosine")
    assert [tuple(x.shape) for x in model.inputs] == [(None, 6), (None, 3, 2)]
    assert tuple(model.output.shape) == (None, 1)
    assert len(model.weights) == len(photo.weights) + len(text.weights)
    a, b = _x((4, 6), 0), _x((4, 3, 2), 1)
    expected = kzoo.layers.Distance("cosine")([photo(a), text(b)])
    np.testing.assert_allclose(to_numpy(model([a, b])), to_numpy(expected),
                               rtol=1e-5, atol=1e-6)
    path = str(tmp_path / "multi.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict([a, b], verbose=0),
                               model.predict([a, b], verbose=0), rtol=1e-6)


def test_multi_stream_three_towers_pair_order_and_sharing():
    t0, t1 = _tower((6,)), _tower((2,))
    model = kzoo.models.multi_stream_network([t0, t1, t0])  # t0 shared
    assert tuple(model.output.shape) == (None, 3)
    assert len(model.weights) == len(t0.weights) + len(t1.weights)
    x0, x1, x2 = _x((3, 6), 0), _x((3, 2), 1), _x((3, 6), 2)
    e = [t0(x0), t1(x1), t0(x2)]
    dist = kzoo.layers.Distance()
    expected = np.concatenate(to_numpy(
        [dist([e[0], e[1]]), dist([e[0], e[2]]), dist([e[1], e[2]])]), axis=1)
    np.testing.assert_allclose(to_numpy(model([x0, x1, x2])), expected, rtol=1e-5,
                               atol=1e-6)


def test_multi_stream_errors():
    with pytest.raises(ValueError, match=r"output shapes=\[\(None, 4\), \(None, 5\)\]"):
        kzoo.models.multi_stream_network([_tower(dim=4), _tower(dim=5)])
    with pytest.raises(ValueError, match="at least two towers"):
        kzoo.models.multi_stream_network([_tower()])
    with pytest.raises(ValueError, match="Received: input_shapes="):
        kzoo.models.multi_stream_network([_tower(), _tower()],
                                         input_shapes=[(6,)])
