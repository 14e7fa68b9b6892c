"""Vectorised (per-batch) image augmentation for multi-view SSL pipelines.

Every op here takes a whole batch `[B, H, W, 3]` and draws one set of random
parameters per image with stateless random ops from an explicit `seed`
(shape `[2]`, int), so a pipeline is reproducible whatever the
parallelism of `tf.data`. These run inside `tf.data` (TensorFlow ops).
"""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data._config import ConstructorConfig


def _uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def _gray(images):
    # ITU-R 601 luma, as tf.image.rgb_to_grayscale and torchvision use.
    weights = tf.constant([0.2989, 0.5870, 0.1140], images.dtype)
    return tf.reduce_sum(images * weights, axis=-1, keepdims=True)


@kzoo_export("kzoo.data.random_resized_crop")
def random_resized_crop(images, seed, size=None, scale=(0.2, 1.0),
                        ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """Crops a random box per image and resizes it back (bilinear).

    The box covers a fraction of the image area drawn uniformly from
    `scale`, with an aspect ratio drawn log-uniformly from `ratio`
    (torchvision's `RandomResizedCrop` parameters; when the box would not fit
    it is clipped to the image instead of resampled).
    """
    shape = tf.shape(images)
    batch = shape[0]
    size = size or (images.shape[1], images.shape[2])
    s1, s2, s3, s4 = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    area = _uniform([batch], s1, scale[0], scale[1])
    log_ratio = _uniform(
        [batch], s2, tf.math.log(ratio[0]), tf.math.log(ratio[1])
    )
    aspect = tf.exp(log_ratio)
    w = tf.minimum(tf.sqrt(area * aspect), 1.0)
    h = tf.minimum(tf.sqrt(area / aspect), 1.0)
    x0 = _uniform([batch], s3) * (1.0 - w)
    y0 = _uniform([batch], s4) * (1.0 - h)
    boxes = tf.stack([y0, x0, y0 + h, x0 + w], axis=-1)
    return tf.image.crop_and_resize(
        images, boxes, tf.range(batch), size, method="bilinear"
    )


@kzoo_export("kzoo.data.random_flip_left_right")
def random_flip_left_right(images, seed, probability=0.5):
    """Mirrors each image horizontally with `probability`."""
    flip = _uniform([tf.shape(images)[0]], seed) < probability
    return tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)


def _rgb_hue_shift(images, delta):
    hsv = tf.image.rgb_to_hsv(images)
    h = tf.math.floormod(hsv[..., 0] + delta[:, None, None], 1.0)
    return tf.image.hsv_to_rgb(tf.stack([h, hsv[..., 1], hsv[..., 2]], -1))


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
    batch = tf.shape(images)[0]
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
    x = images

    def factor(s, strength):
        return _uniform([batch], s, 1.0 - strength, 1.0 + strength)[
            :, None, None, None
        ]

    if brightness:
        x = tf.clip_by_value(x * factor(seeds[0], brightness), 0.0, 1.0)
    if contrast:
        mean = tf.reduce_mean(_gray(x), axis=[1, 2, 3], keepdims=True)
        x = tf.clip_by_value(
            mean + (x - mean) * factor(seeds[1], contrast), 0.0, 1.0
        )
    if saturation:
        g = _gray(x)
        x = tf.clip_by_value(g + (x - g) * factor(seeds[2], saturation), 0.0, 1.0)
    if hue:
        x = _rgb_hue_shift(x, _uniform([batch], seeds[3], -hue, hue))
    apply = _uniform([batch], seeds[4]) < probability
    return tf.where(apply[:, None, None, None], x, images)


@kzoo_export("kzoo.data.random_grayscale")
def random_grayscale(images, seed, probability=0.2):
    """Replaces each image by its (3-channel) greyscale with `probability`."""
    apply = _uniform([tf.shape(images)[0]], seed) < probability
    gray = tf.repeat(_gray(images), 3, axis=-1)
    return tf.where(apply[:, None, None, None], gray, images)



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
    s_flip, s_y, s_x = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    images = random_flip_left_right(images, s_flip)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    dy = tf.random.stateless_uniform([batch], s_y, 0, 2 * pad + 1, tf.int32)
    dx = tf.random.stateless_uniform([batch], s_x, 0, 2 * pad + 1, tf.int32)
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    rows = dy[:, None] + tf.range(height)[None, :]
    cols = dx[:, None] + tf.range(width)[None, :]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)

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
        for name, p in (("jitter_probability", jitter_probability),
                        ("grayscale_probability", grayscale_probability)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(
                    f"`{name}` must be in [0, 1]. Received: {name}={p}"
                )
        if crop_scale is not None and not (
            0.0 < crop_scale[0] <= crop_scale[1] <= 1.0
        ):
            raise ValueError(
                "`crop_scale` must satisfy 0 < min <= max <= 1. "
                f"Received: crop_scale={crop_scale}"
            )
        if len(jitter) != 4 or any(j < 0 for j in jitter) or jitter[3] > 0.5:
            raise ValueError(
                "`jitter` must be 4 non-negative strengths (brightness, "
                f"contrast, saturation, hue <= 0.5). Received: jitter={jitter}"
            )
        self.crop_scale = None if crop_scale is None else tuple(crop_scale)
        self.flip = flip
        self.jitter = tuple(jitter)
        self.jitter_probability = jitter_probability
        self.grayscale_probability = grayscale_probability

    def __call__(self, images, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 4))
        x = tf.cast(images, tf.float32) / 255.0
        if self.crop_scale is not None:
            x = random_resized_crop(x, seeds[0], scale=self.crop_scale)
        if self.flip:
            x = random_flip_left_right(x, seeds[1])
        if self.jitter_probability > 0 and any(self.jitter):
            b, c, s, h = self.jitter
            x = random_color_jitter(x, seeds[2], b, c, s, h,
                                    self.jitter_probability)
        if self.grayscale_probability > 0:
            x = random_grayscale(x, seeds[3], self.grayscale_probability)
        return x * 255.0
