"""Masked patch reconstruction pretext task (MAE-style, for CNNs)."""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data._config import ConstructorConfig


def _num_masked(count, ratio):
    # round(ratio * count), halves rounded up, as an int32 scalar tensor.
    count = tf.cast(count, tf.float64)
    return tf.cast(tf.floor(ratio * count + 0.5), tf.int32)


def _random_subset(batch, count, num_masked, seed):
    """Boolean `[batch, count]`: exactly `num_masked` True per row, uniform."""
    scores = tf.random.stateless_uniform([batch, count], seed)
    # Rank of every score within its row (a random permutation per row).
    ranks = tf.argsort(tf.argsort(scores, axis=1), axis=1)
    return ranks < num_masked


def _check_patch_args(patch_size, mask_ratio):
    if int(patch_size) != patch_size or patch_size < 1:
        raise ValueError(
            "`patch_size` must be a positive integer. "
            f"Received: patch_size={patch_size}"
        )
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(
            "`mask_ratio` must be in [0, 1]. "
            f"Received: mask_ratio={mask_ratio}"
        )


@kzoo_export("kzoo.data.patch_mask")
def patch_mask(batch, height, width, patch_size, mask_ratio, seed):
    """Random masks of whole square patches, the same count per image.

    Splits an image `[height, width]` into a grid of non-overlapping
    `patch_size x patch_size` patches and masks, for each of the `batch`
    images independently, exactly `round(mask_ratio * num_patches)`
    patches (halves rounded up) chosen uniformly at random: the ranks of
    random scores per image, vectorised over the batch.

    Args:
        batch: number of masks.
        height: image height, a multiple of `patch_size`.
        width: image width, a multiple of `patch_size`.
        patch_size: side of a patch in pixels; `1` masks single pixels.
        mask_ratio: fraction of the patches to mask, in `[0, 1]`.
        seed: stateless seed, shape `[2]`.

    Returns:
        `float32` mask `[batch, height, width, 1]`, `1` on masked pixels and
        `0` elsewhere.

    Example:

    >>> mask = kzoo.data.patch_mask(8, 32, 32, 4, 0.75, tf.constant([1, 2]))
    """
    _check_patch_args(patch_size, mask_ratio)
    for name, size in (("height", height), ("width", width)):
        if isinstance(size, int) and size % patch_size:
            raise ValueError(
                f"`{name}` must be a multiple of `patch_size` "
                f"({patch_size}). Received: {name}={size}"
            )
    rows, cols = height // patch_size, width // patch_size
    count = rows * cols
    chosen = _random_subset(
        batch, count, _num_masked(count, mask_ratio), tf.cast(seed, tf.int64)
    )
    mask = tf.reshape(tf.cast(chosen, tf.float32), [batch, rows, cols, 1])
    if patch_size > 1:
        mask = tf.repeat(tf.repeat(mask, patch_size, axis=1), patch_size,
                         axis=2)
    return mask


@kzoo_export("kzoo.data.MaskedPatchPretext")
class MaskedPatchPretext(ConstructorConfig):
    """Masked-patch reconstruction inputs and targets for a batch of images.

    The masked autoencoder task of He et al. (2021), for a convolutional
    network that sees the whole masked image (MAE's encoder drops the masked
    patches instead, which only a ViT can do): each image is split into
    non-overlapping `patch_size x patch_size` patches, exactly
    `round(mask_ratio * num_patches)` of them (halves rounded up) are
    chosen uniformly at random per image, and their pixels (all channels)
    are replaced by `0` (`fill="zero"`) or the mid grey `127.5`
    (`fill="mean"`). The network reconstructs the clean image.

    Returns `(inputs, targets)`. `inputs` is the masked image, `float32`
    pixels in `[0, 255]`. `targets` is `float32 [B, H, W, 4]`, usable
    as `y_true` of a Keras loss: channels `0:3` are the clean image in
    `[0, 1]` and channel `3` is the mask, `1` on masked pixels and `0` on
    visible ones (`targets[..., 3:]`), the layout that
    `kzoo.losses.MaskedReconstructionLoss` takes: like MAE, it computes the
    error on the masked pixels only, against a `[B, H, W, 3]` prediction in
    `[0, 1]` (e.g. a sigmoid output).

    Image height and width must be multiples of `patch_size`.

    Args:
        patch_size: side of a patch in pixels. Defaults to `4` (an 8x8
            grid of patches on 32x32 images).
        mask_ratio: fraction of the patches masked per image, in `[0, 1]`.
            Defaults to `0.75` (MAE's).
        fill: value of the masked pixels: `"zero"` (`0`) or `"mean"`
            (`127.5`). Defaults to `"zero"`.

    Example:

    >>> pretext = kzoo.data.MaskedPatchPretext()
    >>> masked, targets = pretext(images, seed=tf.constant([1, 2]))
    >>> clean, mask = targets[..., :3], targets[..., 3:]
    >>> model.compile("adam", loss=kzoo.losses.MaskedReconstructionLoss())

    References:
        - [He et al., 2021](https://arxiv.org/abs/2111.06377):
          Masked Autoencoders Are Scalable Vision Learners.
    """

    def __init__(self, patch_size=4, mask_ratio=0.75, fill="zero"):
        _check_patch_args(patch_size, mask_ratio)
        if fill not in ("zero", "mean"):
            raise ValueError(
                f"`fill` must be 'zero' or 'mean'. Received: fill={fill}"
            )
        self.patch_size = int(patch_size)
        self.mask_ratio = float(mask_ratio)
        self.fill = fill

    def __call__(self, images, seed):
        x = tf.cast(images, tf.float32)
        if x.shape.rank != 4:
            raise ValueError(
                "`images` must be a batch `[B, H, W, C]`. "
                f"Received: images.shape={tuple(x.shape)}"
            )
        height, width = x.shape[1], x.shape[2]
        if height is None or width is None:
            height, width = tf.shape(x)[1], tf.shape(x)[2]
        elif height % self.patch_size or width % self.patch_size:
            raise ValueError(
                "Image height and width must be multiples of `patch_size` "
                f"({self.patch_size}). Received: images.shape={tuple(x.shape)}"
            )
        mask = patch_mask(tf.shape(x)[0], height, width, self.patch_size,
                          self.mask_ratio, seed)
        fill = 0.0 if self.fill == "zero" else 127.5
        inputs = x * (1.0 - mask) + fill * mask
        return inputs, tf.concat([x / 255.0, mask], axis=-1)
