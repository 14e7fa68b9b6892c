"""LogMelSpectrogram: the same values as tf.signal, in a model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.layers import LogMelSpectrogram
from kzoo.layers.log_mel_spectrogram import mel_weight_matrix


def _tf_reference(waves, sr=8000, frame_length=200, frame_step=80,
                  fft_length=256, mels=64, lower=20.0, upper=4000.0,
                  offset=1e-6):
    stft = tf.signal.stft(waves, frame_length, frame_step, fft_length)
    weights = tf.signal.linear_to_mel_weight_matrix(
        mels, fft_length // 2 + 1, sr, lower, upper)
    return tf.math.log(tf.abs(stft) @ weights + offset).numpy()


def _assert_close(out, ref):
    """Mel magnitudes equal up to float32 FFT round-off (~1e-6 of the
    peak); log values equal where the energy is not down in that noise."""
    out, ref = np.asarray(out), np.asarray(ref)
    peak = np.exp(ref).max()
    np.testing.assert_allclose(np.exp(out), np.exp(ref), rtol=1e-3,
                               atol=1e-5 * peak)
    loud = ref > np.log(peak) - 6
    np.testing.assert_allclose(out[loud], ref[loud], atol=2e-3)


def test_mel_matrix_equals_tf_signal():
    ours = mel_weight_matrix(40, 129, 8000, 50.0, 3800.0)
    ref = tf.signal.linear_to_mel_weight_matrix(40, 129, 8000, 50.0,
                                                3800.0).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)  # tf: float32 maths
    assert np.all(ours[0] == 0)  # no weight on DC


def test_equals_tf_signal_on_a_tone_and_noise():
    t = np.arange(8000) / 8000.0
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    noise = np.random.default_rng(0).uniform(-1, 1, 8000)
    waves = np.stack([tone, noise]).astype("float32")
    out = keras.ops.convert_to_numpy(LogMelSpectrogram()(waves))
    assert out.shape == (2, 1 + (8000 - 200) // 80, 64)
    _assert_close(out, _tf_reference(waves))
    # The tone's energy sits in the band holding 440 Hz.
    centers = np.argmax(mel_weight_matrix(64, 129, 8000, 20.0, 4000.0),
                        axis=0) * 4000 / 128
    assert abs(centers[np.argmax(out[0].mean(0))] - 440) < 100


def test_silence_is_finite_and_shapes_are_symbolic():
    out = LogMelSpectrogram(num_mel_bins=16)(np.zeros((1, 400), "float32"))
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                               np.log(1e-6), rtol=1e-5)
    model = keras.Sequential([keras.Input((8000,)),
                              LogMelSpectrogram(num_mel_bins=16)])
    assert model.output_shape == (None, 98, 16)


def test_config_round_trip_and_saved_model(tmp_path):
    layer = LogMelSpectrogram(sampling_rate=16000, frame_length=400,
                              frame_step=160, fft_length=512,
                              num_mel_bins=40, lower_edge_hertz=60.0,
                              upper_edge_hertz=7600.0, log_offset=1e-3)
    again = LogMelSpectrogram.from_config(layer.get_config())
    x = np.random.default_rng(1).normal(size=(2, 16000)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)),
                               keras.ops.convert_to_numpy(layer(x)))
    _assert_close(
        keras.ops.convert_to_numpy(layer(x)),
        _tf_reference(x, 16000, 400, 160, 512, 40, 60.0, 7600.0, 1e-3))
    model = keras.Sequential([keras.Input((16000,)), layer])
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(
        keras.models.load_model(path).predict(x, verbose=0),
        model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(frame_length=0), "Received: frame_length=0"),
    (dict(fft_length=128), "fft_length=128, frame_length=200"),
    (dict(upper_edge_hertz=5000.0), "upper_edge_hertz=5000.0"),
    (dict(log_offset=0.0), "Received: log_offset=0.0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogMelSpectrogram(**kwargs)


def test_rejects_short_or_multichannel_input():
    with pytest.raises(ValueError, match="at least frame_length"):
        LogMelSpectrogram()(np.zeros((1, 100), "float32"))
    with pytest.raises(ValueError, match="\\[batch, samples\\]"):
        LogMelSpectrogram()(np.zeros((1, 100, 2), "float32"))


def test_dft_as_matmul_equals_rfft():
    """The matrix-product DFT (used while exporting to ONNX) gives the
    same spectrogram as `ops.rfft`."""
    layer = LogMelSpectrogram()
    x = np.random.default_rng(3).uniform(-1, 1, (2, 4000)).astype("float32")
    expected = np.asarray(layer(x))
    layer._dft_as_matmul = True
    got = np.asarray(layer(x))
    np.testing.assert_allclose(got, expected, atol=2e-4, rtol=1e-4)
