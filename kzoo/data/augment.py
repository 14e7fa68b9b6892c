"""Vectorised (per-batch) image augmentation for multi-view SSL pipelines.

Every op here takes a whole batch `[B, H, W, 3]` and draws one set of random
parameters per image with stateless random ops from an explicit `seed`
(shape `[2]`, int), so a pipeline is reproducible whatever the
parallelism of `tf.data`. They run inside `tf.data`, with TensorFlow,
whatever Keras' backend is. Each is the function its layer
(`kzoo.layers.RandomResizedCrop`, `RandomColorJitter`, `SimSiamAugment`)
runs in a model: one implementation, on the ops namespace of
`kzoo._data_ops` (`TF_OPS` here).
"""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo.data._config import ConstructorConfig
from kzoo.layers.random_color_jitter import color_jitter
from kzoo.layers.random_color_jitter import grayscale
from kzoo.layers.random_resized_crop import resized_crop
from kzoo.layers.simsiam_augment import check_view_args
from kzoo.layers.simsiam_augment import flip_and_translate
from kzoo.layers.simsiam_augment import flip_left_right
from kzoo.layers.simsiam_augment import simsiam_views


def _floats(images):
    return TF_OPS.cast(images, "float32")


@kzoo_export("kzoo.data.random_resized_crop")
def random_resized_crop(images, seed, size=None, scale=(0.2, 1.0),
                        ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """Crops a random box per image and resizes it back (bilinear).

    The box covers a fraction of the image area drawn uniformly from
    `scale`, with an aspect ratio drawn log-uniformly from `ratio`
    (torchvision's `RandomResizedCrop` parameters; when the box would not fit
    it is clipped to the image instead of resampled).
    """
    return resized_crop(TF_OPS, _floats(images), seed, size, scale, ratio)


@kzoo_export("kzoo.data.random_flip_left_right")
def random_flip_left_right(images, seed, probability=0.5):
    """Mirrors each image horizontally with `probability`."""
    return flip_left_right(TF_OPS, images, seed, probability)


@kzoo_export("kzoo.data.random_color_jitter")
def random_color_jitter(images, seed, brightness=0.4, contrast=0.4,
                        saturation=0.4, hue=0.1, probability=0.8):
    """Colour jitter with torchvision's `ColorJitter` semantics, per image.

    With `probability`, an image gets (in this fixed order) a brightness
    factor in `[1 - brightness, 1 + brightness]` (multiplicative), a
    contrast factor in `[1 - contrast, 1 + contrast]` (blend with the image's
    mean grey level), a saturation factor in `[1 - saturation,
    1 + saturation]` (blend with its greyscale version) and a hue shift in
    `[-hue, hue]` of the colour wheel; results are clipped to `[0, 1]`.
    Images are floats in `[0, 1]`.
    """
    return color_jitter(TF_OPS, _floats(images), seed, brightness, contrast,
                        saturation, hue, probability)


@kzoo_export("kzoo.data.random_grayscale")
def random_grayscale(images, seed, probability=0.2):
    """Replaces each image by its (3-channel) greyscale with `probability`."""
    return grayscale(TF_OPS, _floats(images), seed, probability)


@kzoo_export("kzoo.data.random_flip_and_translate")
def random_flip_and_translate(images, seed, pad=4):
    """Random horizontal flip, then a random shift of up to `pad` pixels.

    The classic CIFAR augmentation ("pad by `pad` pixels with zeros, take a
    random crop of the original size", after a flip with probability 0.5),
    per image and vectorised: two batched gathers of integer rows and
    columns of the zero-padded batch, so pixels move exactly (no
    interpolation) and the uncovered border is 0.

    Args:
        images: `[B, H, W, C]` batch.
        seed: stateless seed, shape `[2]`.
        pad: largest shift in pixels, in each direction. Defaults to `4`.

    Returns:
        The augmented batch, same shape and dtype.
    """
    return flip_and_translate(TF_OPS, images, seed, pad)


@kzoo_export("kzoo.data.SimSiamAugmentation")
class SimSiamAugmentation(ConstructorConfig):
    """The SimSiam / SimCLR view augmentation for a batch of images.

    Random resized crop, horizontal flip, colour jitter with probability
    0.8 and greyscale with probability 0.2: the recipe of keras-io's SimSiam
    example and of the SimSiam paper's CIFAR experiments, vectorised over the
    batch. Takes pixels in `[0, 255]` (any dtype) and returns `float32`
    pixels in `[0, 255]`.

    Conventions (differences from keras-io's per-example version): the
    jitter strengths use torchvision's `ColorJitter(0.4, 0.4, 0.4, 0.1)`
    semantics (what the SimSiam paper uses) on `[0, 1]` pixels; keras-io
    passes the same strengths to `tf.image.random_*` scaled by 0.8 / 0.2 on
    its `uint8` images, which `tf.image` converts to `[0, 1]` floats and
    back: an additive brightness shift of up to 0.32 of the range (here a
    multiplicative factor in `[0.6, 1.4]`), contrast and saturation factors
    in `[0.68, 1.32]`, a hue shift of up to 0.02. keras-io's `random_crop` to
    the full 32x32 size is the identity; here the crop is the paper's random
    resized crop with area in `[0.2, 1]`.

    Args:
        crop_scale: area range of the random resized crop; `None` disables
            cropping. Defaults to `(0.2, 1.0)`.
        flip: random horizontal flip. Defaults to `True`.
        jitter: `(brightness, contrast, saturation, hue)` strengths. Defaults
            to `(0.4, 0.4, 0.4, 0.1)`.
        jitter_probability: probability of applying the colour jitter.
            Defaults to `0.8`.
        grayscale_probability: probability of converting to greyscale.
            Defaults to `0.2`.

    Example:

    >>> augment = kzoo.data.SimSiamAugmentation()
    >>> views = augment(images, seed=tf.constant([1, 2]))
    """

    def __init__(self, crop_scale=(0.2, 1.0), flip=True,
                 jitter=(0.4, 0.4, 0.4, 0.1), jitter_probability=0.8,
                 grayscale_probability=0.2):
        (self.crop_scale, self.flip, self.jitter, self.jitter_probability,
         self.grayscale_probability) = check_view_args(
            crop_scale, flip, jitter, jitter_probability,
            grayscale_probability)

    def __call__(self, images, seed):
        views = simsiam_views(
            TF_OPS, _floats(images) / 255.0, seed, self.crop_scale,
            self.flip, self.jitter, self.jitter_probability,
            self.grayscale_probability)
        return views * 255.0
