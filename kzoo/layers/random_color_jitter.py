"""torchvision-style colour jitter with an apply probability, as a layer."""

from kzoo._api import kzoo_export
from kzoo._data_ops import KERAS_OPS
from kzoo.layers._image_augmentation_layer import ImageAugmentationLayer

# ITU-R 601 luma, as tf.image.rgb_to_grayscale, keras.ops.image and
# torchvision use.
_LUMA = (0.2989, 0.5870, 0.1140)


def gray(images, o=KERAS_OPS):
    """`[B, H, W, 1]` luma of `[B, H, W, 3]` images."""
    # One matrix product (half the time of a weighted sum on a CPU).
    weights = o.convert_to_tensor([[w] for w in _LUMA], images.dtype)
    return o.matmul(images, weights)


def hue_shift(o, images, delta):
    """`[B, H, W, 3]` images with their HSV hue rotated by `delta[b]` of a
    turn (on the ops namespace `o`)."""
    hsv = o.image.rgb_to_hsv(images, data_format="channels_last")
    h = o.mod(hsv[..., 0] + delta[:, None, None], 1.0)
    return o.image.hsv_to_rgb(
        o.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1),
        data_format="channels_last")


def color_jitter(o, images, seed, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1, probability=0.8):
    """The colour jitter, written once on the ops namespace `o`
    (`kzoo._data_ops`): `RandomColorJitter` runs it with `keras.ops`,
    `kzoo.data.random_color_jitter` with TensorFlow and a stateless seed.
    `images`: floats `[B, H, W, 3]` in `[0, 1]`."""
    if not (probability > 0.0
            and any((brightness, contrast, saturation, hue))):
        return images
    batch = o.shape(images)[0]
    dtype = images.dtype
    seeds = o.split_seed(seed, 5)

    def factor(s, strength):
        return o.uniform(s, (batch, 1, 1, 1), 1.0 - strength,
                         1.0 + strength, dtype=dtype)

    # Every image's factors are drawn (the same stream whichever images
    # are jittered); the jitter is computed for the selected ones.
    factors = [factor(seeds[i], strength) for i, strength in
               enumerate((brightness, contrast, saturation))]
    delta = o.uniform(seeds[3], (batch,), -hue, hue, dtype=dtype)
    apply = o.uniform(seeds[4], (batch,), dtype=dtype) < probability

    def jitter(x, f_brightness, f_contrast, f_saturation, delta):
        if brightness:
            x = o.clip(x * f_brightness, 0.0, 1.0)
        if contrast:
            mean = o.mean(gray(x, o), axis=(1, 2, 3), keepdims=True)
            x = o.clip(mean + (x - mean) * f_contrast, 0.0, 1.0)
        if saturation:
            g = gray(x, o)
            x = o.clip(g + (x - g) * f_saturation, 0.0, 1.0)
        if hue:
            x = hue_shift(o, x, delta)
        return x

    return o.select_apply(apply, jitter, images, *factors, delta)


def grayscale(o, images, seed, probability=0.2):
    """Each image replaced by its 3-channel ITU-R 601 greyscale with
    `probability`, written once on the ops namespace `o`."""
    batch = o.shape(images)[0]
    apply = o.uniform(seed, (batch,), dtype=images.dtype) < probability
    return o.select_apply(
        apply, lambda x: o.repeat(gray(x, o), 3, axis=-1), images)


@kzoo_export("kzoo.layers.RandomColorJitter")
class RandomColorJitter(ImageAugmentationLayer):
    """Randomly changes brightness, contrast, saturation and hue.

    torchvision's `ColorJitter` semantics (those of SimCLR and SimSiam),
    per image, applied to each image with `probability` (SimCLR's
    `RandomApply([ColorJitter(...)], p=0.8)`). In this fixed order:

    - brightness: multiply by a factor in `[1 - brightness, 1 + brightness]`;
    - contrast: blend with the image's mean grey level,
      `mean + (x - mean) * f`, `f` in `[1 - contrast, 1 + contrast]`;
    - saturation: blend with the image's greyscale version,
      `g + (x - g) * f`, `f` in `[1 - saturation, 1 + saturation]`;
    - hue: rotate the hue (HSV) by a shift in `[-hue, hue]` of a turn;

    each factor uniform, the results clipped to `[0, 1]`. Greys are ITU-R
    601 luma (`0.2989 R + 0.587 G + 0.114 B`). One implementation
    (`color_jitter`) with `kzoo.data.random_color_jitter`; the layer runs
    it with `keras.ops` on any backend (inside a compiled training step,
    on an accelerator) and inside `tf.data` (with TensorFlow there, under
    every backend).

    Unlike `keras.layers.RandomColorJitter`, whose brightness is additive,
    whose contrast blends each channel with its own mean, whose saturation
    and hue factors are parametrised differently, and which has no apply
    probability.

    Input: `[B, H, W, 3]` images (or one `[H, W, 3]` image), floats in
    `[0, 1]` or `uint8` in `[0, 255]` (converted to floats in `[0, 1]`).
    Output: the same shape, floats in `[0, 1]`, in the layer's compute
    dtype.

    Only active in training (`training=True`, the default of a direct call,
    as Keras' `Random*` layers; inside a model, `fit` augments and
    `predict` does not); otherwise the identity.

    Args:
        brightness: brightness strength, in `[0, 1]`; `0` disables it.
            Defaults to `0.4`.
        contrast: contrast strength, in `[0, 1]`; `0` disables it. Defaults
            to `0.4`.
        saturation: saturation strength, in `[0, 1]`; `0` disables it.
            Defaults to `0.4`.
        hue: largest hue shift, in `[0, 0.5]` of a turn; `0` disables it.
            Defaults to `0.1`.
        probability: probability that an image is jittered at all.
            Defaults to `0.8`.
        seed: integer seed of the random factors. Defaults to `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    ```python
    jitter = kzoo.layers.RandomColorJitter(0.4, 0.4, 0.4, 0.1,
                                           probability=0.8, seed=1)
    views = jitter(images)  # [B, H, W, 3] in [0, 1]
    ```

    Reference:
        - [Chen et al., 2020, "A Simple Framework for Contrastive Learning
          of Visual Representations"](https://arxiv.org/abs/2002.05709).
        - [Chen & He, 2021, "Exploring Simple Siamese Representation
          Learning"](https://arxiv.org/abs/2011.10566).
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4,
                 hue=0.1, probability=0.8, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        for name, value, high in (("brightness", brightness, 1.0),
                                  ("contrast", contrast, 1.0),
                                  ("saturation", saturation, 1.0),
                                  ("hue", hue, 0.5),
                                  ("probability", probability, 1.0)):
            if not 0.0 <= value <= high:
                raise ValueError(f"`{name}` must be in [0, {high:g}]. "
                                 f"Received: {name}={value}")
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)
        self.probability = float(probability)

    def _augment(self, o, images, seed):
        return color_jitter(o, images, seed, self.brightness, self.contrast,
                            self.saturation, self.hue, self.probability)

    def get_config(self):
        config = super().get_config()
        config.update({
            "brightness": self.brightness, "contrast": self.contrast,
            "saturation": self.saturation, "hue": self.hue,
            "probability": self.probability,
        })
        return config
