"""Masked patch reconstruction (MAE-style) inputs and targets, as a layer."""

import math

import keras

from kzoo._api import kzoo_export
from kzoo._data_ops import KERAS_OPS
from kzoo._docs import fill_doc
from kzoo.layers._pretext_layer import PretextLayer
from kzoo.layers._pretext_layer import check_image_batch

MASK_ARGS = """batch: number of masks.
height: image height, a multiple of `patch_size`.
width: image width, a multiple of `patch_size`.
patch_size: side of a patch in pixels; `1` masks single pixels.
mask_ratio: fraction of the patches to mask, in `[0, 1]`."""
MASKING_ARGS = """patch_size: side of a patch in pixels. Defaults to `4` (an 8x8 grid of
    patches on 32x32 images).
mask_ratio: fraction of the patches masked per image, in `[0, 1]`.
    Defaults to `0.75` (MAE's).
fill: value of the masked pixels: `"zero"` (`0`) or `"mean"` (`127.5`).
    Defaults to `"zero"`."""
MASK_RETURNS = """Returns:
    `float32` mask `[batch, height, width, 1]`, `1` on masked pixels and
    `0` elsewhere."""


def _check_patch_args(patch_size, mask_ratio):
    if (isinstance(patch_size, bool) or int(patch_size) != patch_size
            or patch_size < 1):
        raise ValueError(
            "`patch_size` must be a positive integer. "
            f"Received: patch_size={patch_size}"
        )
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(
            "`mask_ratio` must be in [0, 1]. "
            f"Received: mask_ratio={mask_ratio}"
        )


def _check_masking_args(patch_size, mask_ratio, fill):
    """The checked `(patch_size, mask_ratio, fill)` of the masked-patch
    task (`PatchMasking`, `kzoo.data.MaskedPatchPretext`)."""
    _check_patch_args(patch_size, mask_ratio)
    if fill not in ("zero", "mean"):
        raise ValueError(
            f"`fill` must be 'zero' or 'mean'. Received: fill={fill}"
        )
    return int(patch_size), float(mask_ratio), fill


def _num_masked(o, count, ratio):
    """`round(ratio * count)`, halves rounded up (in float64 when static)."""
    if isinstance(count, int):
        return int(math.floor(ratio * count + 0.5))
    # A dynamic count (TensorFlow graphs with unknown image sizes).
    count = o.cast(count, "float32")
    return o.cast(o.floor(ratio * count + 0.5), "int32")


def patch_mask_ops(o, batch, height, width, patch_size, mask_ratio, seed):
    """Random patch masks written once on the ops namespace `o`
    (`kzoo._data_ops`): `random_patch_mask` runs it with `keras.ops`,
    `kzoo.data.patch_mask` with TensorFlow and a stateless seed."""
    _check_patch_args(patch_size, mask_ratio)
    for name, size in (("height", height), ("width", width)):
        if isinstance(size, int) and size % patch_size:
            raise ValueError(
                f"`{name}` must be a multiple of `patch_size` "
                f"({patch_size}). Received: {name}={size}"
            )
    rows, cols = height // patch_size, width // patch_size
    count = rows * cols
    scores = o.uniform(seed, (batch, count))
    # Rank of every score within its row (a random permutation per row):
    # exactly `num_masked` ranks per row are below `num_masked`.
    ranks = o.argsort(o.argsort(scores, axis=1), axis=1)
    chosen = ranks < _num_masked(o, count, mask_ratio)
    mask = o.reshape(o.cast(chosen, "float32"), (batch, rows, cols, 1))
    if patch_size > 1:
        mask = o.repeat(o.repeat(mask, patch_size, axis=1), patch_size,
                        axis=2)
    return mask


@fill_doc(mask_args=MASK_ARGS, mask_returns=MASK_RETURNS)
def random_patch_mask(batch, height, width, patch_size, mask_ratio,
                      seed=None):
    """Random masks of whole square patches, the same count per image.

    Splits an image `[height, width]` into a grid of non-overlapping
    `patch_size x patch_size` patches and masks, for each of the `batch`
    images independently, exactly `round(mask_ratio * num_patches)`
    patches (halves rounded up) chosen uniformly at random: the ranks of
    uniform scores per image, vectorised over the batch. With `keras.ops`
    on any backend; `kzoo.data.patch_mask` is the same computation with a
    stateless TensorFlow seed, for `tf.data`.

    Args:
        {mask_args}
        seed: a `keras.random.SeedGenerator`, an integer or `None` (see
            `keras.random.uniform`). Defaults to `None`.

    {mask_returns}

    Example:

    ```python
    mask = kzoo.layers.patch_masking.random_patch_mask(8, 32, 32, 4, 0.75,
                                                       seed=1)
    ```
    """
    return patch_mask_ops(KERAS_OPS, batch, height, width, patch_size,
                          mask_ratio, seed)


def masked_patches(o, images, seed, patch_size, mask_ratio, fill):
    """The masked-patch task written once (see `PatchMasking`): `float32`
    `(inputs, targets)`."""
    _check_images(images.shape, patch_size)
    x = o.cast(images, "float32")
    shape = o.shape(x)
    mask = patch_mask_ops(o, shape[0], shape[1], shape[2], patch_size,
                          mask_ratio, seed)
    fill = 0.0 if fill == "zero" else 127.5
    inputs = x * (1.0 - mask) + fill * mask
    return inputs, o.concatenate([x / 255.0, mask], axis=-1)


def _check_images(shape, patch_size):
    check_image_batch(shape)
    height, width = shape[1], shape[2]
    if (height is not None and height % patch_size) or (
            width is not None and width % patch_size):
        raise ValueError(
            "Image height and width must be multiples of `patch_size` "
            f"({patch_size}). Received: images.shape={tuple(shape)}"
        )


@kzoo_export("kzoo.layers.PatchMasking")
@fill_doc(masking_args=MASKING_ARGS)
class PatchMasking(PretextLayer):
    """Masks random patches of images, for masked-patch reconstruction.

    The masked autoencoder task of He et al. (2021) for a convolutional
    network that sees the whole masked image, computed with `keras.ops` and
    `keras.random` so that it runs on any backend (TensorFlow, JAX,
    PyTorch), inside a training step on an accelerator, and in a `tf.data`
    map under any backend (with TensorFlow there).
    `kzoo.data.MaskedPatchPretext`, the `tf.data` transform, runs the same
    implementation with a stateless seed per batch (masks of the same
    distribution, not the same draws): each image is split into
    non-overlapping `patch_size x patch_size` patches, exactly
    `round(mask_ratio * num_patches)` of them (halves rounded up) are
    chosen uniformly at random per image, and their pixels (all channels)
    are replaced by `0` (`fill="zero"`) or the mid grey `127.5`
    (`fill="mean"`).

    Input: images `[B, H, W, C]` of pixels in `[0, 255]` (any dtype),
    height and width multiples of `patch_size`. Output: a tuple
    `(inputs, targets)`, floats of the layer's compute dtype (`float32` by
    default): `inputs` is the masked image in `[0, 255]`; `targets` is
    `[B, H, W, C + 1]`, the clean image in `[0, 1]` (channels `0:C`) and the
    mask (last channel, `1` on masked pixels, `0` on visible ones): the
    `y_true` layout of `kzoo.losses.MaskedReconstructionLoss`. The layer is
    applied in training and inference alike (its outputs define the task).

    Args:
        {masking_args}
        seed: seed of the masks. Defaults to `None`.
        **kwargs: base layer arguments.

    Example:

    ```python
    masking = kzoo.layers.PatchMasking(patch_size=4, seed=0)
    masked, targets = masking(images)  # inside a custom train_step
    clean, mask = targets[..., :3], targets[..., 3:]
    ```

    Reference:
        - [He et al., 2021, "Masked Autoencoders Are Scalable Vision
          Learners"](https://arxiv.org/abs/2111.06377).
    """

    def __init__(self, patch_size=4, mask_ratio=0.75, fill="zero", seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.patch_size, self.mask_ratio, self.fill = _check_masking_args(
            patch_size, mask_ratio, fill)

    def _task(self, o, images, seed):
        return masked_patches(o, images, seed, self.patch_size,
                              self.mask_ratio, self.fill)

    def compute_output_spec(self, images):
        _check_images(images.shape, self.patch_size)
        shape = tuple(images.shape)
        channels = None if shape[-1] is None else shape[-1] + 1
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape[:-1] + (channels,),
                              dtype=self.compute_dtype),
        )

    def _task_config(self):
        return {"patch_size": self.patch_size, "mask_ratio": self.mask_ratio,
                "fill": self.fill}
