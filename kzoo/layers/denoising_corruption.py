"""Denoising autoencoder inputs and targets, as a backend-agnostic layer."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.layers.patch_masking import random_patch_mask


@kzoo_export("kzoo.layers.DenoisingCorruption")
class DenoisingCorruption(keras.layers.Layer):
    """Corrupts images with noise, for a denoising autoencoder.

    The denoising autoencoder task of Vincent et al. (2008), computed with
    `keras.ops` and `keras.random` so that it runs on any backend
    (TensorFlow, JAX, PyTorch), inside a training step on an accelerator.
    It computes what `kzoo.data.DenoisingPretext`, the `tf.data` version,
    does, with noise of the same distribution (not the same draws). Pixels
    are corrupted in `[0, 1]` units:

    - `noise="gaussian"`: additive isotropic Gaussian noise, independent per
      pixel and channel, of standard deviation `stddev`, then clipped to
      `[0, 1]`.
    - `noise="masking"`: Vincent et al.'s masking noise, exactly
      `round(mask_fraction * H * W)` pixels per image (halves rounded up),
      chosen uniformly, set to `0` in all their channels.

    Input: images `[B, H, W, C]` of pixels in `[0, 255]` (any dtype).
    Output: a tuple `(inputs, targets)`, floats of the layer's compute
    dtype (`float32` by default): the corrupted image in `[0, 255]` and the
    clean image in `[0, 1]`. The layer is applied in training and inference
    alike (its outputs define the task).

    Args:
        noise: `"gaussian"` or `"masking"`. Defaults to `"gaussian"`.
        stddev: standard deviation of the Gaussian noise, in `[0, 1]` pixel
            units. Defaults to `0.1`.
        mask_fraction: fraction of the pixels zeroed by the masking noise,
            in `[0, 1]`. Defaults to `0.25`.
        seed: seed of the noise. Defaults to `None`.
        **kwargs: base layer arguments.

    Example:

    ```python
    corrupt = kzoo.layers.DenoisingCorruption(noise="masking", seed=0)
    noisy, clean = corrupt(images)  # inside a custom train_step
    ```

    Reference:
        - [Vincent et al., 2008, "Extracting and Composing Robust Features
          with Denoising Autoencoders"](
          https://dl.acm.org/doi/10.1145/1390156.1390294).
    """

    def __init__(self, noise="gaussian", stddev=0.1, mask_fraction=0.25,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
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
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_images(self, shape):
        if len(shape) != 4:
            raise ValueError(
                "`images` must be a batch `[B, H, W, C]`. "
                f"Received: images.shape={tuple(shape)}"
            )

    def call(self, images):
        self._check_images(images.shape)
        clean = ops.cast(images, "float32") / 255.0
        shape = ops.shape(clean)
        if self.noise == "gaussian":
            noise = keras.random.normal(shape, stddev=self.stddev,
                                        dtype="float32",
                                        seed=self.seed_generator)
            noisy = ops.clip(clean + noise, 0.0, 1.0)
        else:
            mask = random_patch_mask(shape[0], shape[1], shape[2], 1,
                                     self.mask_fraction, self.seed_generator)
            noisy = clean * (1.0 - mask)
        return (ops.cast(noisy * 255.0, self.compute_dtype),
                ops.cast(clean, self.compute_dtype))

    def compute_output_spec(self, images):
        self._check_images(images.shape)
        spec = keras.KerasTensor(tuple(images.shape), dtype=self.compute_dtype)
        return spec, keras.KerasTensor(spec.shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"noise": self.noise, "stddev": self.stddev,
                       "mask_fraction": self.mask_fraction,
                       "seed": self.seed})
        return config
