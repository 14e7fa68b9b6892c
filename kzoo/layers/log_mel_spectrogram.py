"""Waveform -> log-mel spectrogram, inside the model."""

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export


def _hertz_to_mel(hertz):
    # The HTK mel scale, as tf.signal.
    return 1127.0 * np.log1p(np.asarray(hertz, np.float64) / 700.0)


def mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                      lower_edge_hertz, upper_edge_hertz):
    """Triangular mel filters, `[num_spectrogram_bins, num_mel_bins]`.

    The same matrix as `tf.signal.linear_to_mel_weight_matrix` (HTK mel
    scale, filters with peak 1 that overlap by half, the DC bin given no
    weight), in NumPy, so that the layer does not need TensorFlow.
    """
    if not 0.0 <= lower_edge_hertz < upper_edge_hertz <= sampling_rate / 2:
        raise ValueError(
            "Need 0 <= lower_edge_hertz < upper_edge_hertz <= sampling_rate "
            f"/ 2. Received: lower_edge_hertz={lower_edge_hertz}, "
            f"upper_edge_hertz={upper_edge_hertz}, "
            f"sampling_rate={sampling_rate}")
    nyquist = sampling_rate / 2.0
    linear = np.linspace(0.0, nyquist, num_spectrogram_bins)[1:]
    mel = _hertz_to_mel(linear)[:, None]
    edges = np.linspace(_hertz_to_mel(lower_edge_hertz),
                        _hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lower_slopes = (mel - lower) / (center - lower)
    upper_slopes = (upper - mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
    return np.pad(weights, [[1, 0], [0, 0]]).astype(np.float32)


@kzoo_export("kzoo.layers.LogMelSpectrogram")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel spectrogram of raw waveforms, so a model takes audio as is.

    A short-time Fourier transform (periodic Hann window, no centring),
    the magnitude of each bin, triangular mel filters (the HTK mel scale of
    `tf.signal.linear_to_mel_weight_matrix`) and a log. Built on
    `keras.ops` (framing + `rfft`), so it runs on every backend and inside
    an exported SavedModel; its values equal `tf.signal.stft` +
    `tf.signal.linear_to_mel_weight_matrix` (tested).

    Formula:

    ```
    S[t, f] = |STFT(x)[t, f]|                        # frame_length, frame_step
    M[t, m] = sum_f S[t, f] W[f, m]                  # W: mel filters
    out[t, m] = log(M[t, m] + log_offset)
    ```

    Input: `[batch, samples]` float waveforms (any scale; the datasets use
    `[-1, 1]`). Output: `[batch, frames, num_mel_bins]` with
    `frames = 1 + (samples - frame_length) // frame_step`. Clips in one
    batch must have one length: pad or crop them first (kzoo's audio
    datasets pad with silence or centre-crop to a fixed duration).

    Args:
        sampling_rate: samples per second. Defaults to `8000` (FSDD and
            kzoo's spoken words).
        frame_length: window length in samples. Defaults to `200` (25 ms
            at 8 kHz).
        frame_step: hop between windows in samples. Defaults to `80`
            (10 ms at 8 kHz).
        fft_length: FFT size, at least `frame_length`. Defaults to `256`.
        num_mel_bins: mel bands. Defaults to `64`.
        lower_edge_hertz: lowest band edge. Defaults to `20.0`.
        upper_edge_hertz: highest band edge. Defaults to `None` (the
            Nyquist frequency, `sampling_rate / 2`).
        log_offset: added before the log so silence stays finite. Defaults
            to `1e-6`.
        **kwargs: base layer arguments (`name`, `dtype`).

    Example:

    ```python
    waves = keras.Input((8000,))                 # 1 s at 8 kHz
    x = kzoo.layers.LogMelSpectrogram()(waves)   # [B, 98, 64]
    ```
    """

    def __init__(self, sampling_rate=8000, frame_length=200, frame_step=80,
                 fft_length=256, num_mel_bins=64, lower_edge_hertz=20.0,
                 upper_edge_hertz=None, log_offset=1e-6, **kwargs):
        super().__init__(**kwargs)
        for name, value in [("sampling_rate", sampling_rate),
                            ("frame_length", frame_length),
                            ("frame_step", frame_step),
                            ("fft_length", fft_length),
                            ("num_mel_bins", num_mel_bins)]:
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. "
                                 f"Received: {name}={value!r}")
        if fft_length < frame_length:
            raise ValueError(
                "`fft_length` must be at least `frame_length`. Received: "
                f"fft_length={fft_length}, frame_length={frame_length}")
        if not log_offset > 0:
            raise ValueError("`log_offset` must be positive. Received: "
                             f"log_offset={log_offset}")
        self.sampling_rate = sampling_rate
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = float(lower_edge_hertz)
        self.upper_edge_hertz = (None if upper_edge_hertz is None
                                 else float(upper_edge_hertz))
        self.log_offset = float(log_offset)
        self._mel = mel_weight_matrix(
            num_mel_bins, fft_length // 2 + 1, sampling_rate,
            self.lower_edge_hertz,
            self.upper_edge_hertz or sampling_rate / 2.0)
        # The periodic Hann window of tf.signal.hann_window (and scipy's
        # get_window("hann")).
        n = np.arange(frame_length)
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)
                        ).astype(np.float32)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "LogMelSpectrogram takes waveforms `[batch, samples]`. "
                f"Received: input_shape={input_shape}")
        if input_shape[1] is not None and input_shape[1] < self.frame_length:
            raise ValueError(
                f"Clips need at least frame_length={self.frame_length} "
                f"samples. Received: input_shape={input_shape}")

    def call(self, waveforms):
        x = ops.cast(waveforms, "float32")
        # Frames as tf.signal.frame (keras.ops.stft counts frames from
        # fft_length instead of frame_length, one fewer here).
        samples = x.shape[1]
        if samples is None:
            samples = ops.shape(x)[1]
        frames = 1 + (samples - self.frame_length) // self.frame_step
        index = (ops.expand_dims(ops.arange(frames) * self.frame_step, 1)
                 + ops.expand_dims(ops.arange(self.frame_length), 0))
        framed = ops.take(x, index, axis=1)  # [B, frames, frame_length]
        framed = framed * ops.convert_to_tensor(self._window)
        if getattr(self, "_dft_as_matmul", False):
            real, imag = self._dft_matmul(framed)
        else:
            real, imag = ops.rfft(framed, fft_length=self.fft_length)
        magnitude = ops.sqrt(real * real + imag * imag)
        mel = ops.matmul(magnitude, ops.convert_to_tensor(self._mel))
        return ops.cast(ops.log(mel + self.log_offset), self.compute_dtype)

    def _dft_matmul(self, framed):
        """The real FFT of zero-padded frames as two matrix products (for
        exporters without an RFFT op, e.g. ONNX through tf2onnx: set
        `layer._dft_as_matmul = True` while exporting). Equal to
        `ops.rfft` up to float rounding."""
        n = np.arange(self.frame_length)[:, None]
        k = np.arange(self.fft_length // 2 + 1)[None, :]
        angle = 2.0 * np.pi * n * k / self.fft_length
        cos = ops.convert_to_tensor(np.cos(angle).astype("float32"))
        sin = ops.convert_to_tensor(-np.sin(angle).astype("float32"))
        return ops.matmul(framed, cos), ops.matmul(framed, sin)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = (None if samples is None
                  else 1 + (samples - self.frame_length) // self.frame_step)
        return (input_shape[0], frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update({
            "sampling_rate": self.sampling_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "lower_edge_hertz": self.lower_edge_hertz,
            "upper_edge_hertz": self.upper_edge_hertz,
            "log_offset": self.log_offset,
        })
        return config
