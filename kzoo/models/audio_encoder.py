"""Small convolutional towers for dual encoders: audio and small images."""

import keras

from kzoo._api import kzoo_export
from kzoo.layers.batch_normalization import BatchNormalization
from kzoo.layers.log_mel_spectrogram import LogMelSpectrogram
from kzoo.layers.spec_augment import SpecAugment


def _conv_blocks(x, widths, name):
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                name=f"{name}_conv{i}")(x)
        x = BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, padding="same",
                                      name=f"{name}_pool{i}")(x)
    return keras.layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)


def _check_widths(widths):
    widths = tuple(widths)
    if not widths or any(not isinstance(w, int) or w <= 0 for w in widths):
        raise ValueError("`widths` must be a non-empty sequence of positive "
                         f"integers. Received: widths={widths}")
    return widths


@kzoo_export("kzoo.models.audio_encoder")
def audio_encoder(num_samples=8000, sampling_rate=8000, num_mel_bins=64,
                  widths=(32, 64, 128), spec_augment=True, seed=None,
                  name="audio_encoder"):
    """Raw waveform -> features: log-mel, SpecAugment, a small CNN.

    `LogMelSpectrogram` (25 ms windows, 10 ms hop at 8 kHz), a batch norm
    that standardises each mel band, `SpecAugment` (2 frequency masks of
    up to `num_mel_bins // 8` bands and 2 time masks of up to 10 frames,
    training only, masked to the standardised mean 0), then one
    `Conv2D(3 x 3) - BN - ReLU - MaxPool(2)` block per width on the
    `[frames, bands]` image and a global average pool. The model takes
    `float32` waveforms `[B, num_samples]`, so an exported tower serves raw
    audio.

    Args:
        num_samples: samples per clip. Defaults to `8000` (1 s at 8 kHz).
        sampling_rate: samples per second. Defaults to `8000`.
        num_mel_bins: mel bands. Defaults to `64`.
        widths: channels of the convolution blocks. Defaults to
            `(32, 64, 128)`.
        spec_augment: mask in training. Defaults to `True`.
        seed: seed of the masks. Defaults to `None`.
        name: model name. Defaults to `"audio_encoder"`.

    Returns:
        A `keras.Model` `[B, num_samples] -> [B, widths[-1]]`.
    """
    widths = _check_widths(widths)
    waves = keras.Input((num_samples,), name="waveforms")
    # float32 whatever the dtype policy: under mixed_bfloat16 the layer
    # would otherwise receive its waveforms rounded to bfloat16.
    x = LogMelSpectrogram(sampling_rate=sampling_rate,
                          num_mel_bins=num_mel_bins, name="log_mel",
                          dtype="float32")(waves)
    x = BatchNormalization(name="mel_norm")(x)
    if spec_augment:
        x = SpecAugment(freq_width=max(1, num_mel_bins // 8), time_width=10,
                        mask_value=0.0, seed=seed, name="spec_augment")(x)
    x = keras.layers.Reshape((-1, num_mel_bins, 1), name="as_image")(x)
    return keras.Model(waves, _conv_blocks(x, widths, "audio"), name=name)


@kzoo_export("kzoo.models.small_image_encoder")
def small_image_encoder(input_shape=(32, 32, 3), widths=(32, 64, 128),
                        name="image_encoder"):
    """Pixels in `[0, 255]` -> features: rescaling and a small CNN.

    The same `Conv2D - BN - ReLU - MaxPool` blocks as `audio_encoder`, for
    small images (scikit-learn's digits), cheaper than a ResNet-20.

    Args:
        input_shape: image shape. Defaults to `(32, 32, 3)`.
        widths: channels of the blocks. Defaults to `(32, 64, 128)`.
        name: model name. Defaults to `"image_encoder"`.

    Returns:
        A `keras.Model` `[B, H, W, C] -> [B, widths[-1]]`.
    """
    widths = _check_widths(widths)
    images = keras.Input(input_shape, name="images")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(images)
    return keras.Model(images, _conv_blocks(x, widths, "image"), name=name)
