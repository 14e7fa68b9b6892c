"""kzoo.models.text_encoder_from_masked_model: a dual encoder's text tower
started from a masked character model (architecture and weights)."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import to_numpy


def _masked_model(conv_layers=2):
    keras.utils.set_random_seed(3)
    encoder = kzoo.models.char_transformer(
        12, 32, dim=16, depth=2, heads=2, mlp_dim=24, dropout=0.2,
        conv_layers=conv_layers, conv_kernel=3)
    return kzoo.models.masked_language_model(encoder, 12)


def _pooled(features, ids):
    w = (ids != 0)[..., None].astype("float32")
    return (features * w).sum(1) / w.sum(1)


@pytest.mark.parametrize("conv_layers", [0, 2])
def test_same_features_as_the_encoder_on_short_texts(conv_layers):
    masked = _masked_model(conv_layers)
    tower = kzoo.models.text_encoder_from_masked_model(masked, 8)
    assert tower.inputs[0].shape[1] == 8 and tower.output_shape == (None, 16)
    assert len(tower.weights) == len(masked.layers[1].weights)
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 12, (4, 8)).astype("int32")
    ids[0, 5:] = 0  # a shorter text, padded
    ids[1, 1:] = 0
    long_ids = np.zeros((4, 32), "int32")
    long_ids[:, :8] = ids
    # the encoder on the text padded to its 32 positions, averaged
    expected = _pooled(to_numpy(masked.layers[1](long_ids, training=False)),
                       long_ids)
    np.testing.assert_allclose(to_numpy(tower(ids, training=False)),
                               expected, atol=1e-5)


def test_architecture_only_and_bad_arguments():
    masked = _masked_model()
    random = kzoo.models.text_encoder_from_masked_model(masked, 8,
                                                        weights=False)
    trained = kzoo.models.text_encoder_from_masked_model(masked, 8)
    assert [w.shape for w in random.weights] == [w.shape for w in
                                                 trained.weights]
    emb = [to_numpy(m.get_layer("char_embedding").embeddings)
           for m in (random, trained)]
    assert not np.allclose(emb[0], emb[1])
    np.testing.assert_array_equal(emb[1], to_numpy(
        masked.layers[1].get_layer("char_embedding").embeddings))
    # the encoder itself works too; full length by default
    full = kzoo.models.text_encoder_from_masked_model(masked.layers[1],
                                                      pooled=False)
    assert full.output_shape == (None, 32, 16)
    for bad in (0, 33, 8.0):
        with pytest.raises(ValueError, match="sequence_length"):
            kzoo.models.text_encoder_from_masked_model(masked, bad)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no character transformer"):
        kzoo.models.text_encoder_from_masked_model(plain)
