"""Random resized crop (Inception / SimCLR / SimSiam style), as a layer."""

import math

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.layers._image_augmentation_layer import ImageAugmentationLayer


def sample_coordinates(start, end, in_size, out_size, dtype):
    """Input pixel coordinates `[B, out_size]` of a resized `[start, end]`.

    `start`, `end`: `[B]` normalised box edges (`0` = first pixel centre,
    `1` = last). `tf.image.crop_and_resize`'s convention: the first and last
    output pixels sample the box edges exactly; a single output pixel
    samples the box centre.
    """
    n = ops.cast(out_size, dtype)
    steps = ops.arange(out_size, dtype=dtype)
    steps = ops.where(n > 1.0, steps / ops.maximum(n - 1.0, 1.0), 0.5)
    scale = ops.cast(in_size, dtype) - 1.0
    return (start[:, None] + steps[None, :] * (end - start)[:, None]) * scale


def interpolate_axis(images, coords, axis):
    """Linear interpolation of `images` `[B, H, W, C]` along `axis` (1 or 2)
    at per-image pixel coordinates `coords` `[B, n]`."""
    size = ops.shape(images)[axis]
    low = ops.floor(coords)
    frac = coords - low
    low = ops.clip(ops.cast(low, "int32"), 0, size - 1)
    high = ops.minimum(low + 1, size - 1)

    def expand(t):  # [B, n] -> broadcastable against images along `axis`
        return t[:, :, None, None] if axis == 1 else t[:, None, :, None]

    below = ops.take_along_axis(images, expand(low), axis=axis)
    above = ops.take_along_axis(images, expand(high), axis=axis)
    frac = expand(frac)
    return below + (above - below) * frac


def crop_and_resize(images, boxes, size):
    """Bilinear crop-and-resize of one box per image, with `keras.ops`.

    Same sampling as `tf.image.crop_and_resize(images, boxes,
    range(B), size, "bilinear")` for boxes inside the image: `boxes` is
    `[B, 4]` normalised `(y0, x0, y1, x1)`. Separable: two batched gathers
    and linear interpolations, one per axis (exact, no matrix products).
    """
    dtype = images.dtype
    shape = ops.shape(images)
    rows = sample_coordinates(boxes[:, 0], boxes[:, 2], shape[1], size[0],
                              dtype)
    cols = sample_coordinates(boxes[:, 1], boxes[:, 3], shape[2], size[1],
                              dtype)
    images = interpolate_axis(images, rows, axis=1)
    return interpolate_axis(images, cols, axis=2)


def crop_boxes(o, images, boxes, size):
    """Bilinear crop-and-resize of one normalised `(y0, x0, y1, x1)` box
    per image on the ops namespace `o`: TensorFlow's kernel
    (`tf.image.crop_and_resize`) in `tf.data`, the separable `keras.ops`
    version (`crop_and_resize`, the same sampling) on other backends and
    inside the step."""
    if o.name == "tensorflow":
        import tensorflow as tf

        return tf.image.crop_and_resize(
            images, o.cast(boxes, images.dtype),
            tf.range(tf.shape(images)[0]), size, method="bilinear")
    return crop_and_resize(images, boxes, size)


def resized_crop(o, images, seed, size=None, scale=(0.2, 1.0),
                 ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """The random resized crop, written once on the ops namespace `o`
    (`kzoo._data_ops`): `RandomResizedCrop` runs it with `keras.ops`,
    `kzoo.data.random_resized_crop` with TensorFlow and a stateless seed.
    `images`: floats `[B, H, W, C]`."""
    shape = o.shape(images)
    batch = shape[0]
    dtype = images.dtype
    s_area, s_ratio, s_x, s_y = o.split_seed(seed, 4)
    area = o.uniform(s_area, (batch,), scale[0], scale[1], dtype=dtype)
    aspect = o.exp(o.uniform(s_ratio, (batch,), math.log(ratio[0]),
                             math.log(ratio[1]), dtype=dtype))
    width = o.minimum(o.sqrt(area * aspect), 1.0)
    height = o.minimum(o.sqrt(area / aspect), 1.0)
    x0 = o.uniform(s_x, (batch,), dtype=dtype) * (1.0 - width)
    y0 = o.uniform(s_y, (batch,), dtype=dtype) * (1.0 - height)
    boxes = o.stack([y0, x0, y0 + height, x0 + width], axis=-1)
    return crop_boxes(o, images, boxes,
                      size if size is not None else (shape[1], shape[2]))


@kzoo_export("kzoo.layers.RandomResizedCrop")
class RandomResizedCrop(ImageAugmentationLayer):
    """Crops a random box of each image and resizes it (bilinear).

    The crop of SimCLR and SimSiam (torchvision's `RandomResizedCrop`
    parameters): per image, the box covers a fraction of the image area
    drawn uniformly from `scale`, with an aspect ratio (width / height, in
    units of the image's width and height) drawn log-uniformly from `ratio`,
    at a uniform position; a box that would not fit is clipped to the image
    (torchvision instead resamples it). The box is then resized to `size`
    with bilinear interpolation (`tf.image.crop_and_resize`'s sampling).
    `kzoo.data.random_resized_crop` runs the same implementation
    (`resized_crop`) with a stateless seed; the layer runs it with
    `keras.ops` on any backend (inside a compiled training step, on an
    accelerator) and inside `tf.data` (with TensorFlow there, under every
    backend).

    Input: `[B, H, W, 3]` images (or one `[H, W, 3]` image), floats in
    `[0, 1]` or `uint8` in `[0, 255]` (converted to floats in `[0, 1]`).
    Output: `[B, height, width, 3]` floats in `[0, 1]`, in the layer's
    compute dtype.

    Only active in training (`training=True`, the default of a direct call,
    as Keras' `Random*` layers; inside a model, `fit` augments and
    `predict` does not). Otherwise the whole image is resized to `size`
    with the same sampling: the identity when `size` is the input size.

    Args:
        size: output `(height, width)`; `None` keeps the input size.
            Defaults to `None`.
        scale: range of the box's area fraction,
            `0 < min <= max <= 1`. Defaults to `(0.2, 1.0)` (SimSiam's;
            torchvision's and SimCLR's default is `(0.08, 1.0)`).
        ratio: range of the box's aspect ratio, `0 < min <= max`. Defaults
            to `(3 / 4, 4 / 3)`.
        seed: integer seed of the random boxes. Defaults to `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    ```python
    crop = kzoo.layers.RandomResizedCrop(scale=(0.2, 1.0), seed=1)
    views = crop(images)  # [B, H, W, 3], each image a random crop
    ds = ds.map(kzoo.layers.RandomResizedCrop(size=(224, 224)))
    ```

    Reference:
        - [Szegedy et al., 2015, "Going Deeper with Convolutions"](
          https://arxiv.org/abs/1409.4842) (the crop's parameters).
        - [Chen et al., 2020, "A Simple Framework for Contrastive Learning
          of Visual Representations"](https://arxiv.org/abs/2002.05709).
    """

    def __init__(self, size=None, scale=(0.2, 1.0),
                 ratio=(3.0 / 4.0, 4.0 / 3.0), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if size is not None and (
                len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool)
                           and s > 0 for s in size)):
            raise ValueError(
                "`size` must be `None` or two positive integers "
                f"`(height, width)`. Received: size={size}")
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(
                "`scale` must satisfy 0 < min <= max <= 1. "
                f"Received: scale={scale}")
        if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(
                "`ratio` must satisfy 0 < min <= max. "
                f"Received: ratio={ratio}")
        self.size = None if size is None else tuple(size)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)

    def _inference(self, o, images):
        if self.size is None:
            return images
        batch = o.shape(images)[0]
        boxes = o.tile(o.convert_to_tensor([[0.0, 0.0, 1.0, 1.0]],
                                           images.dtype), [batch, 1])
        return crop_boxes(o, images, boxes, self.size)

    def _augment(self, o, images, seed):
        return resized_crop(o, images, seed, self.size, self.scale,
                            self.ratio)

    def compute_output_shape(self, input_shape):
        if self.size is None:
            return tuple(input_shape)
        return (*input_shape[:-3], *self.size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "scale": self.scale,
                       "ratio": self.ratio})
        return config
