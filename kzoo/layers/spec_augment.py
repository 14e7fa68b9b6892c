"""SpecAugment's frequency and time masks, as a training-only layer."""

import keras
from keras import ops

from kzoo._api import kzoo_export


@kzoo_export("kzoo.layers.SpecAugment")
class SpecAugment(keras.layers.Layer):
    """Masks random frequency bands and time spans of spectrograms.

    The masking part of SpecAugment (Park et al., 2019; no time warping):
    for each example, `freq_masks` bands of `f ~ U{0, ..., freq_width}`
    consecutive mel bins and `time_masks` spans of `t ~ U{0, ...,
    time_width}` consecutive frames are set to `mask_value`. Each mask's
    start is uniform over the positions where it fits. Active only when
    called with `training=True`; otherwise the identity (so an exported
    model never masks).

    Input / output: `[batch, frames, bins]` (e.g. `LogMelSpectrogram`'s
    output).

    Args:
        freq_masks: number of frequency masks per example. Defaults to `2`.
        freq_width: largest frequency-mask width `F`, in bins. Defaults to
            `8`.
        time_masks: number of time masks per example. Defaults to `2`.
        time_width: largest time-mask width `T`, in frames. Defaults to
            `10`.
        mask_value: the value masked entries get. Defaults to `0.0` (for
            standardised features; use the log floor, e.g. `log(1e-6)`,
            for raw log-mels).
        seed: seed of the masks. Defaults to `None`.
        **kwargs: base layer arguments.

    Example:

    ```python
    x = kzoo.layers.LogMelSpectrogram()(waves)
    x = kzoo.layers.SpecAugment(mask_value=math.log(1e-6))(x)
    ```

    Reference:
        - [Park et al., 2019, "SpecAugment"](https://arxiv.org/abs/1904.08779).
    """

    def __init__(self, freq_masks=2, freq_width=8, time_masks=2,
                 time_width=10, mask_value=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in [("freq_masks", freq_masks),
                            ("freq_width", freq_width),
                            ("time_masks", time_masks),
                            ("time_width", time_width)]:
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer. "
                                 f"Received: {name}={value!r}")
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.mask_value = float(mask_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, length, count, width):
        """`[batch, length]` bool: True inside any of `count` masks."""
        positions = ops.arange(length)[None, None, :]
        shape = (batch, count, 1)
        widths = ops.floor(keras.random.uniform(
            shape, 0.0, width + 1.0, seed=self.seed_generator))
        widths = ops.minimum(widths, ops.cast(length, "float32"))
        starts = ops.floor(keras.random.uniform(
            shape, seed=self.seed_generator)
            * (ops.cast(length, "float32") - widths + 1.0))
        positions = ops.cast(positions, "float32")
        inside = ops.logical_and(positions >= starts,
                                 positions < starts + widths)
        return ops.any(inside, axis=1)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        batch, frames, bins = shape[0], shape[1], shape[2]
        masked = ops.zeros((batch, frames, bins), dtype="bool")
        if self.freq_masks and self.freq_width:
            freq = self._masks(batch, bins, self.freq_masks, self.freq_width)
            masked = ops.logical_or(masked, freq[:, None, :])
        if self.time_masks and self.time_width:
            time = self._masks(batch, frames, self.time_masks,
                               self.time_width)
            masked = ops.logical_or(masked, time[:, :, None])
        return ops.where(masked, ops.cast(self.mask_value, inputs.dtype),
                         inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "freq_masks": self.freq_masks, "freq_width": self.freq_width,
            "time_masks": self.time_masks, "time_width": self.time_width,
            "mask_value": self.mask_value, "seed": self.seed,
        })
        return config
