"""The SimSiam / SimCLR view augmentation as one layer."""

import keras

from kzoo._api import kzoo_export
from kzoo.layers._image_augmentation_layer import ImageAugmentationLayer
from kzoo.layers.random_color_jitter import RandomColorJitter
from kzoo.layers.random_resized_crop import RandomResizedCrop


@kzoo_export("kzoo.layers.SimSiamAugment")
class SimSiamAugment(ImageAugmentationLayer):
    """The SimSiam / SimCLR augmentation of a batch of images, as a layer.

    Random resized crop, horizontal flip, colour jitter with probability
    0.8 and greyscale with probability 0.2, in this order, with the
    SimSiam paper's parameters by default (its CIFAR and ImageNet recipe,
    without the ImageNet blur). Call it twice on a batch for two views.
    This is the layer form of `kzoo.data.SimSiamAugmentation` (same
    arguments, same distribution), on `[0, 1]` pixels; it runs with
    `keras.ops` on any backend, so it can augment inside the compiled
    training step on the accelerator, and inside `tf.data` (under the JAX
    and PyTorch backends too).

    The stages are layers: `kzoo.layers.RandomResizedCrop(size=None,
    scale=crop_scale)`, `keras.layers.RandomFlip("horizontal")`,
    `kzoo.layers.RandomColorJitter(*jitter, probability=jitter_probability)`
    (torchvision's `ColorJitter` semantics) and
    `keras.layers.RandomGrayscale(grayscale_probability)`, seeded with
    `seed`, `seed + 1`, `seed + 2` and `seed + 3`.

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

    # The stages draw the random numbers, each with its own seed generator.
    _own_seed_generator = False

    def __init__(self, crop_scale=(0.2, 1.0), flip=True,
                 jitter=(0.4, 0.4, 0.4, 0.1), jitter_probability=0.8,
                 grayscale_probability=0.2, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
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
        self.crop_scale = (None if crop_scale is None
                           else tuple(float(s) for s in crop_scale))
        self.flip = bool(flip)
        self.jitter = tuple(float(j) for j in jitter)
        self.jitter_probability = float(jitter_probability)
        self.grayscale_probability = float(grayscale_probability)

        def stage_seed(offset):
            # Distinct seeds: stages seeded alike would draw the same
            # uniforms (e.g. every greyscale image would also be flipped).
            return None if seed is None else seed + offset

        common = {"dtype": self.dtype_policy}
        stages = []
        if self.crop_scale is not None:
            stages.append(RandomResizedCrop(
                scale=self.crop_scale, seed=stage_seed(0), **common))
        if self.flip:
            # Keras' layer: per image, flipped with probability 0.5, as
            # kzoo.data.random_flip_left_right.
            stages.append(keras.layers.RandomFlip(
                "horizontal", seed=stage_seed(1),
                data_format="channels_last", **common))
        if self.jitter_probability > 0 and any(self.jitter):
            stages.append(RandomColorJitter(
                *self.jitter, probability=self.jitter_probability,
                seed=stage_seed(2), **common))
        if self.grayscale_probability > 0:
            # Keras' layer: per image with probability `factor`, ITU-R 601
            # luma on all three channels, as kzoo.data.random_grayscale.
            stages.append(keras.layers.RandomGrayscale(
                factor=self.grayscale_probability, seed=stage_seed(3),
                data_format="channels_last", **common))
        self._stages = stages

    def build(self, input_shape):
        super().build(input_shape)
        batched = tuple(input_shape) if len(input_shape) == 4 else (
            None, *input_shape)
        for stage in self._stages:
            stage.build(batched)

    def _augment(self, images):
        for stage in self._stages:
            images = stage(images, training=True)
        return images

    # In tf.data under JAX / PyTorch each stage routes itself to TensorFlow
    # (kzoo's through their base class, Keras' through theirs).
    _tf_augment = _augment

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
