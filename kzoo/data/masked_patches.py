"""Masked patch reconstruction pretext task (MAE-style, for CNNs)."""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo._docs import fill_doc
from kzoo.data._config import ConstructorConfig
from kzoo.layers.patch_masking import MASK_ARGS
from kzoo.layers.patch_masking import MASK_RETURNS
from kzoo.layers.patch_masking import MASKING_ARGS
from kzoo.layers.patch_masking import _check_masking_args
from kzoo.layers.patch_masking import masked_patches
from kzoo.layers.patch_masking import patch_mask_ops


@kzoo_export("kzoo.data.patch_mask")
@fill_doc(mask_args=MASK_ARGS, mask_returns=MASK_RETURNS)
def patch_mask(batch, height, width, patch_size, mask_ratio, seed):
    """Random masks of whole square patches, the same count per image.

    Splits an image `[height, width]` into a grid of non-overlapping
    `patch_size x patch_size` patches and masks, for each of the `batch`
    images independently, exactly `round(mask_ratio * num_patches)`
    patches (halves rounded up) chosen uniformly at random: the ranks of
    random scores per image, vectorised over the batch. The computation of
    `kzoo.layers.patch_masking.random_patch_mask`, with TensorFlow and a
    stateless seed (for `tf.data`).

    Args:
        {mask_args}
        seed: stateless seed, shape `[2]`.

    {mask_returns}

    Example:

    >>> mask = kzoo.data.patch_mask(8, 32, 32, 4, 0.75, tf.constant([1, 2]))
    """
    return patch_mask_ops(TF_OPS, batch, height, width, patch_size,
                          mask_ratio, seed)


@kzoo_export("kzoo.data.MaskedPatchPretext")
@fill_doc(masking_args=MASKING_ARGS)
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
        {masking_args}

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
        self.patch_size, self.mask_ratio, self.fill = _check_masking_args(
            patch_size, mask_ratio, fill)

    def __call__(self, images, seed):
        return masked_patches(TF_OPS, images, seed, self.patch_size,
                              self.mask_ratio, self.fill)
