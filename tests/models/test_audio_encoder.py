"""audio_encoder / small_image_encoder: shapes, masking only in training."""

import keras
import numpy as np
import pytest

from kzoo.models import audio_encoder, small_image_encoder


def test_audio_encoder_takes_waveforms():
    model = audio_encoder(num_samples=4000, num_mel_bins=32, widths=(8, 16),
                          seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4000)).astype("float32")
    out = model(x)
    assert out.shape == (3, 16)
    # Inference is deterministic; training masks differ between calls.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)),
                               keras.ops.convert_to_numpy(out))
    t1 = keras.ops.convert_to_numpy(model(x, training=True))
    t2 = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(t1, t2)
    plain = audio_encoder(num_samples=4000, num_mel_bins=32, widths=(8,),
                          spec_augment=False)
    assert "spec_augment" not in [layer.name for layer in plain.layers]


def test_small_image_encoder_and_round_trip(tmp_path):
    model = small_image_encoder((16, 16, 3), widths=(4, 8))
    x = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3)).astype(
        "float32")
    assert model(x).shape == (2, 8)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(
        keras.models.load_model(path).predict(x, verbose=0),
        model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="Received: widths=\\(\\)"):
        small_image_encoder(widths=())
