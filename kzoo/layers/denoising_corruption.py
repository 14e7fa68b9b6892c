"""Denoising autoencoder inputs and targets, as a backend-agnostic layer."""

import keras

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers._pretext_layer import PretextLayer
from kzoo.layers._pretext_layer import check_image_batch
from kzoo.layers.patch_masking import patch_mask_ops

NOISE_ARGS = """noise: `"gaussian"` or `"masking"`. Defaults to `"gaussian"`.
stddev: standard deviation of the Gaussian noise, in `[0, 1]` pixel units.
    Defaults to `0.1`.
mask_fraction: fraction of the pixels zeroed by the masking noise, in
    `[0, 1]`. Defaults to `0.25`."""
NOISE_DOC = """- `noise="gaussian"`: additive isotropic Gaussian noise,
  independent per pixel and channel, of standard deviation `stddev`, then
  clipped to `[0, 1]`.
- `noise="masking"`: Vincent et al.'s masking noise, exactly
  `round(mask_fraction * H * W)` pixels per image (halves rounded up),
  chosen uniformly, set to `0` in all their channels."""


def _check_noise_args(noise, stddev, mask_fraction):
    """The checked `(noise, stddev, mask_fraction)` of the denoising task
    (`DenoisingCorruption`, `kzoo.data.DenoisingPretext`)."""
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
    return noise, float(stddev), float(mask_fraction)


def corrupt_images(o, images, seed, noise, stddev, mask_fraction):
    """The denoising task written once on the ops namespace `o`
    (`kzoo._data_ops`): `float32` noisy images in `[0, 255]` and clean
    ones in `[0, 1]`."""
    check_image_batch(images.shape)
    clean = o.cast(images, "float32") / 255.0
    shape = o.shape(clean)
    if noise == "gaussian":
        noisy = o.clip(clean + o.normal(seed, shape, stddev=stddev), 0.0,
                       1.0)
    else:
        mask = patch_mask_ops(o, shape[0], shape[1], shape[2], 1,
                              mask_fraction, seed)
        noisy = clean * (1.0 - mask)
    return noisy * 255.0, clean


@kzoo_export("kzoo.layers.DenoisingCorruption")
@fill_doc(noise_doc=NOISE_DOC, noise_args=NOISE_ARGS)
class DenoisingCorruption(PretextLayer):
    """Corrupts images with noise, for a denoising autoencoder.

    The denoising autoencoder task of Vincent et al. (2008), computed with
    `keras.ops` and `keras.random` so that it runs on any backend
    (TensorFlow, JAX, PyTorch), inside a training step on an accelerator,
    and in a `tf.data` map under any backend (with TensorFlow there).
    `kzoo.data.DenoisingPretext`, the `tf.data` transform, runs the same
    implementation with a stateless seed per batch (noise of the same
    distribution, not the same draws). Pixels are corrupted in `[0, 1]`
    units:

    {noise_doc}

    Input: images `[B, H, W, C]` of pixels in `[0, 255]` (any dtype).
    Output: a tuple `(inputs, targets)`, floats of the layer's compute
    dtype (`float32` by default): the corrupted image in `[0, 255]` and the
    clean image in `[0, 1]`. The layer is applied in training and inference
    alike (its outputs define the task).

    Args:
        {noise_args}
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
        super().__init__(seed=seed, **kwargs)
        self.noise, self.stddev, self.mask_fraction = _check_noise_args(
            noise, stddev, mask_fraction)

    def _task(self, o, images, seed):
        return corrupt_images(o, images, seed, self.noise, self.stddev,
                              self.mask_fraction)

    def compute_output_spec(self, images):
        check_image_batch(images.shape)
        spec = keras.KerasTensor(tuple(images.shape), dtype=self.compute_dtype)
        return spec, keras.KerasTensor(spec.shape, dtype=self.compute_dtype)

    def _task_config(self):
        return {"noise": self.noise, "stddev": self.stddev,
                "mask_fraction": self.mask_fraction}
