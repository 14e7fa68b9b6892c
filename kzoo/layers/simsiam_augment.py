"""The SimSiam / SimCLR view augmentation as one layer."""

from kzoo._api import kzoo_export
from kzoo.layers._image_augmentation_layer import ImageAugmentationLayer
from kzoo.layers.random_color_jitter import color_jitter
from kzoo.layers.random_color_jitter import grayscale
from kzoo.layers.random_resized_crop import resized_crop


def flip_left_right(o, images, seed, probability=0.5):
    """Each image mirrored horizontally with `probability` (written once,
    on the ops namespace `o` of `kzoo._data_ops`)."""
    batch = o.shape(images)[0]
    flip = o.uniform(seed, (batch,)) < probability
    return o.select_apply(flip, lambda x: o.flip(x, axis=2), images)


def flip_and_translate(o, images, seed, pad=4):
    """A random horizontal flip, then a random shift of up to `pad` pixels
    with zero fill (written once; see `kzoo.data.random_flip_and_translate`).
    Two batched gathers of integer rows and columns of the zero-padded
    batch: pixels move exactly."""
    s_flip, s_y, s_x = o.split_seed(seed, 3)
    images = flip_left_right(o, images, s_flip)
    shape = o.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    dy = o.randint(s_y, (batch,), 0, 2 * pad + 1)
    dx = o.randint(s_x, (batch,), 0, 2 * pad + 1)
    padded = o.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = dy[:, None] + o.arange(height, dtype="int32")[None, :]
    cols = dx[:, None] + o.arange(width, dtype="int32")[None, :]
    shifted = o.take_along_axis(padded, rows[:, :, None, None], axis=1)
    return o.take_along_axis(shifted, cols[:, None, :, None], axis=2)


def check_view_args(crop_scale, flip, jitter, jitter_probability,
                    grayscale_probability):
    """The checked arguments of the SimSiam view augmentation
    (`SimSiamAugment`, `kzoo.data.SimSiamAugmentation`)."""
    for name, p in (("jitter_probability", jitter_probability),
                    ("grayscale_probability", grayscale_probability)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                f"`{name}` must be in [0, 1]. Received: {name}={p}")
    if crop_scale is not None and (
            len(crop_scale) != 2
            or not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0):
        raise ValueError(
            "`crop_scale` must be `None` or satisfy "
            f"0 < min <= max <= 1. Received: crop_scale={crop_scale}")
    if (len(jitter) != 4 or any(not 0.0 <= j <= 1.0 for j in jitter)
            or jitter[3] > 0.5):
        raise ValueError(
            "`jitter` must be 4 strengths (brightness, contrast, "
            "saturation in [0, 1], hue in [0, 0.5]). "
            f"Received: jitter={jitter}")
    return (None if crop_scale is None
            else tuple(float(s) for s in crop_scale),
            bool(flip), tuple(float(j) for j in jitter),
            float(jitter_probability), float(grayscale_probability))


def simsiam_views(o, images, seed, crop_scale=(0.2, 1.0), flip=True,
                  jitter=(0.4, 0.4, 0.4, 0.1), jitter_probability=0.8,
                  grayscale_probability=0.2):
    """The SimSiam / SimCLR view augmentation written once on the ops
    namespace `o` (`kzoo._data_ops`), on floats in `[0, 1]`: the random
    resized crop, flip, colour jitter and greyscale, each stage with its
    own seed (stages seeded alike would draw the same uniforms)."""
    s_crop, s_flip, s_jitter, s_gray = o.split_seed(seed, 4)
    x = images
    if crop_scale is not None:
        x = resized_crop(o, x, s_crop, scale=crop_scale)
    if flip:
        x = flip_left_right(o, x, s_flip)
    if jitter_probability > 0 and any(jitter):
        x = color_jitter(o, x, s_jitter, *jitter,
                         probability=jitter_probability)
    if grayscale_probability > 0:
        x = grayscale(o, x, s_gray, grayscale_probability)
    return x


@kzoo_export("kzoo.layers.SimSiamAugment")
class SimSiamAugment(ImageAugmentationLayer):
    """The SimSiam / SimCLR augmentation of a batch of images, as a layer.

    Random resized crop, horizontal flip, colour jitter with probability
    0.8 and greyscale with probability 0.2, in this order, with the
    SimSiam paper's parameters by default (its CIFAR and ImageNet recipe,
    without the ImageNet blur). Call it twice on a batch for two views.
    One implementation (`simsiam_views`) with
    `kzoo.data.SimSiamAugmentation` (same arguments), on `[0, 1]` pixels;
    the layer runs it with `keras.ops` on any backend, so it can augment
    inside the compiled training step on the accelerator, and inside
    `tf.data` (with TensorFlow there, under every backend).

    The stages: `kzoo.layers.RandomResizedCrop`'s crop (`scale=crop_scale`,
    the input size), a horizontal flip with probability 0.5,
    `kzoo.layers.RandomColorJitter`'s jitter (torchvision's `ColorJitter`
    semantics, `probability=jitter_probability`) and an ITU-R 601
    greyscale with probability `grayscale_probability`, each drawing from
    its own split of the seed.

    Input: `[B, H, W, 3]` images (or one `[H, W, 3]` image), floats in
    `[0, 1]` or `uint8` in `[0, 255]` (converted to floats in `[0, 1]`).
    Output: the same shape, floats in `[0, 1]`, in the layer's compute
    dtype (`kzoo.data.SimSiamAugmentation` works on `[0, 255]` instead).

    Only active in training (`training=True`, the default of a direct call,
    as Keras' `Random*` layers; inside a model, `fit` augments and
    `predict` does not); otherwise the identity (after the `uint8`
    conversion).

    Args:
        crop_scale: area range of the random resized crop; `None` disables
            cropping. Defaults to `(0.2, 1.0)`.
        flip: random horizontal flip (probability 0.5). Defaults to `True`.
        jitter: `(brightness, contrast, saturation, hue)` strengths, the
            first three in `[0, 1]`, hue in `[0, 0.5]`. Defaults to
            `(0.4, 0.4, 0.4, 0.1)`.
        jitter_probability: probability of applying the colour jitter.
            Defaults to `0.8`.
        grayscale_probability: probability of converting to greyscale.
            Defaults to `0.2`.
        seed: integer seed of the augmentation. Defaults to `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    ```python
    augment = kzoo.layers.SimSiamAugment(seed=1)
    view_1, view_2 = augment(images), augment(images)
    # or in the input pipeline, under any backend:
    ds = ds.map(lambda x: {"view_1": augment(x), "view_2": augment(x)})
    ```

    Reference:
        - [Chen & He, 2021, "Exploring Simple Siamese Representation
          Learning"](https://arxiv.org/abs/2011.10566).
        - [Chen et al., 2020, "A Simple Framework for Contrastive Learning
          of Visual Representations"](https://arxiv.org/abs/2002.05709).
    """

    def __init__(self, crop_scale=(0.2, 1.0), flip=True,
                 jitter=(0.4, 0.4, 0.4, 0.1), jitter_probability=0.8,
                 grayscale_probability=0.2, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        (self.crop_scale, self.flip, self.jitter, self.jitter_probability,
         self.grayscale_probability) = check_view_args(
            crop_scale, flip, jitter, jitter_probability,
            grayscale_probability)

    def _augment(self, o, images, seed):
        return simsiam_views(o, images, seed, self.crop_scale, self.flip,
                             self.jitter, self.jitter_probability,
                             self.grayscale_probability)

    def get_config(self):
        config = super().get_config()
        config.update({
            "crop_scale": self.crop_scale,
            "flip": self.flip,
            "jitter": self.jitter,
            "jitter_probability": self.jitter_probability,
            "grayscale_probability": self.grayscale_probability,
        })
        return config
