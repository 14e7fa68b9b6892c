"""Denoising autoencoder pretext task (Vincent et al., 2008)."""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data._config import ConstructorConfig
from kzoo.data.masked_patches import patch_mask


@kzoo_export("kzoo.data.DenoisingPretext")
class DenoisingPretext(ConstructorConfig):
    """Denoising inputs and targets for a batch of images.

    The denoising autoencoder task of Vincent et al. (2008): a network
    reconstructs a clean image from a corrupted one. Pixels are corrupted
    in `[0, 1]` units:

    - `noise="gaussian"`: additive isotropic Gaussian noise, independent per
      pixel and channel, of standard deviation `stddev`, then clipped to
      `[0, 1]`.
    - `noise="masking"`: Vincent et al.'s masking noise, exactly
      `round(mask_fraction * H * W)` pixels per image (halves rounded up),
      chosen uniformly, set to `0` in all their channels.

    Returns `(inputs, targets)`: the corrupted image as `float32` pixels in
    `[0, 255]` and the clean image as `float32` in `[0, 1]` (the scale of
    every pixel target of kzoo's pretext tasks; e.g. a sigmoid head and a
    mean squared error).

    Args:
        noise: `"gaussian"` or `"masking"`. Defaults to `"gaussian"`.
        stddev: standard deviation of the Gaussian noise, in `[0, 1]` pixel
            units. Defaults to `0.1`.
        mask_fraction: fraction of the pixels zeroed by the masking noise,
            in `[0, 1]`. Defaults to `0.25`.

    Example:

    >>> pretext = kzoo.data.DenoisingPretext(noise="masking")
    >>> noisy, clean = pretext(images, seed=tf.constant([1, 2]))

    References:
        - [Vincent et al., 2008](https://dl.acm.org/doi/10.1145/1390156.1390294):
          Extracting and Composing Robust Features with Denoising
          Autoencoders.
    """

    def __init__(self, noise="gaussian", stddev=0.1, mask_fraction=0.25):
        if noise not in ("gaussian", "masking"):
            raise ValueError(
                "`noise` must be 'gaussian' or 'masking'. "
                f"Received: noise={noise}"
            )
        if stddev < 0:
            raise ValueError(
                f"`stddev` must be >= 0. Received: stddev={stddev}"
            )
        if not 0.0 <= mask_fraction <= 1.0:
            raise ValueError(
                "`mask_fraction` must be in [0, 1]. "
                f"Received: mask_fraction={mask_fraction}"
            )
        self.noise = noise
        self.stddev = float(stddev)
        self.mask_fraction = float(mask_fraction)

    def __call__(self, images, seed):
        clean = tf.cast(images, tf.float32) / 255.0
        if clean.shape.rank != 4:
            raise ValueError(
                "`images` must be a batch `[B, H, W, C]`. "
                f"Received: images.shape={tuple(clean.shape)}"
            )
        seed = tf.cast(seed, tf.int64)
        if self.noise == "gaussian":
            noise = tf.random.stateless_normal(
                tf.shape(clean), seed, stddev=self.stddev
            )
            noisy = tf.clip_by_value(clean + noise, 0.0, 1.0)
        else:
            shape = tf.shape(clean)
            mask = patch_mask(shape[0], shape[1], shape[2], 1,
                              self.mask_fraction, seed)
            noisy = clean * (1.0 - mask)
        return noisy * 255.0, clean
