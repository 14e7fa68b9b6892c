"""Denoising autoencoder pretext task (Vincent et al., 2008)."""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo._docs import fill_doc
from kzoo.data._config import ConstructorConfig
from kzoo.layers.denoising_corruption import NOISE_ARGS
from kzoo.layers.denoising_corruption import NOISE_DOC
from kzoo.layers.denoising_corruption import _check_noise_args
from kzoo.layers.denoising_corruption import corrupt_images


@kzoo_export("kzoo.data.DenoisingPretext")
@fill_doc(noise_doc=NOISE_DOC, noise_args=NOISE_ARGS)
class DenoisingPretext(ConstructorConfig):
    """Denoising inputs and targets for a batch of images.

    The denoising autoencoder task of Vincent et al. (2008): a network
    reconstructs a clean image from a corrupted one. Pixels are corrupted
    in `[0, 1]` units:

    {noise_doc}

    Returns `(inputs, targets)`: the corrupted image as `float32` pixels in
    `[0, 255]` and the clean image as `float32` in `[0, 1]` (the scale of
    every pixel target of kzoo's pretext tasks; e.g. a sigmoid head and a
    mean squared error).

    Args:
        {noise_args}

    Example:

    >>> pretext = kzoo.data.DenoisingPretext(noise="masking")
    >>> noisy, clean = pretext(images, seed=tf.constant([1, 2]))

    References:
        - [Vincent et al., 2008](https://dl.acm.org/doi/10.1145/1390156.1390294):
          Extracting and Composing Robust Features with Denoising
          Autoencoders.
    """

    def __init__(self, noise="gaussian", stddev=0.1, mask_fraction=0.25):
        self.noise, self.stddev, self.mask_fraction = _check_noise_args(
            noise, stddev, mask_fraction)

    def __call__(self, images, seed):
        return corrupt_images(TF_OPS, images, seed, self.noise, self.stddev,
                              self.mask_fraction)
