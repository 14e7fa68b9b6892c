"""Detection inputs: letterbox resize, box-aware augmentation, padded batches.

Boxes are `xyxy` in continuous pixel coordinates (`kzoo.boxes` convention:
pixel `i` covers `[i, i + 1)`, area `(x2 - x1) * (y2 - y1)`). Batches follow
contract B of the detection work:

* `"images"`: `float32 [B, S, S, 3]`, pixel values in `[0, 255]`,
  letterboxed to `S x S`;
* `"boxes"`: `float32 [B, M, 4]`, `xyxy` in pixels of the letterboxed image,
  padding rows `0`;
* `"classes"`: `int32 [B, M]`, `-1` on padding rows.

`M = max_boxes` is static; the valid rows of an image come first.
"""

import os
import warnings

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int as _check_positive_int
from kzoo.data import _epochs
from kzoo.data._config import ConstructorConfig
from kzoo.data._letterbox import letterbox_canvas
from kzoo.data.augment import random_color_jitter
from kzoo.data.voc import VOCDataset

AUTOTUNE = tf.data.AUTOTUNE


# ---------------------------------------------------------------------------
# Letterbox.


def _letterbox_batch(images, size, pad_value, antialias):
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4 or images.shape[-1] not in (3, None):
        raise ValueError(
            "`images` must have shape `[B, H, W, 3]`. "
            f"Received: images.shape={images.shape}"
        )
    out, scale, _, _, top, left = letterbox_canvas(
        images, size, pad_value, antialias)
    return out, scale, tf.stack([left, top])


@kzoo_export("kzoo.data.letterbox")
def letterbox(image, boxes, size, pad_value=114, antialias=True):
    """Resizes an image keeping its aspect ratio and pads it to a square.

    The longer side becomes `size`; the shorter one `round(side * scale)`;
    the resized image is centred on a `size x size` canvas filled with
    `pad_value` (offsets rounded down to whole pixels, so the content sits on
    the pixel grid). Boxes follow exactly.

    Formula:

    ```python
    scale = size / max(height, width)
    new_h, new_w = floor(height * scale + 0.5), floor(width * scale + 0.5)
    offset = (floor((size - new_w) / 2), floor((size - new_h) / 2))  # (x, y)
    boxes_out = boxes * scale + (offset_x, offset_y, offset_x, offset_y)
    ```

    The image itself is resized by `new_w / width` and `new_h / height`,
    which differ from `scale` by at most half a pixel over the image (as in
    YOLOv5's letterbox); boxes use `scale`, and `unletterbox_boxes` inverts
    that same map exactly.

    Args:
        image: `[H, W, 3]` image, any real dtype, pixel values in `[0, 255]`.
        boxes: `[N, 4]` boxes, `xyxy` in pixels of `image`.
        size: output side `S`, a Python int.
        pad_value: value of the padding pixels (YOLOv5's grey). Defaults to
            `114`.
        antialias: antialiased bilinear resize (an area-like filter when
            shrinking, as YOLOv5 uses OpenCV's `INTER_AREA`; it changes
            nothing when enlarging). Defaults to `True`.

    Returns:
        `(image, boxes, scale, offset)`: `float32 [S, S, 3]`, `float32
        [N, 4]` boxes in pixels of the letterboxed image, `float32` scalar
        scale and `float32 [2]` offset `(x, y)`.

    Example:

    >>> image, boxes, scale, offset = kzoo.data.letterbox(
    ...     tf.zeros([480, 640, 3], tf.uint8), [[64., 48., 128., 96.]], 320)
    >>> boxes.numpy(), float(scale), offset.numpy()
    (array([[32., 64., 64., 88.]], dtype=float32), 0.5, array([ 0., 40.], dtype=float32))

    Reference: the letterbox of YOLOv3 / YOLOv5 (Redmon & Farhadi, 2018;
    Ultralytics `utils/augmentations.py::letterbox`).
    """
    size = _check_positive_int(size, "size")
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError(
            "`image` must have shape `[H, W, 3]`. "
            f"Received: image.shape={image.shape}"
        )
    out, scale, offset = _letterbox_batch(
        image[None], size, pad_value, antialias)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
    boxes = boxes * scale + tf.tile(offset, [2])
    return out[0], boxes, scale, offset


@kzoo_export("kzoo.data.letterbox_images")
def letterbox_images(images, size, pad_value=114, antialias=True):
    """Letterboxes a batch of images of one common size (graph friendly).

    The batched form of `kzoo.data.letterbox` for serving models: works in a
    `tf.function` or a functional model with unknown `B`, `H` and `W`; every
    image of the batch gets the same scale and offset.

    Args:
        images: `[B, H, W, 3]`, `uint8` or float, pixel values in `[0, 255]`.
        size: output side `S`, a Python int.
        pad_value: value of the padding pixels. Defaults to `114`.
        antialias: antialiased bilinear resize. Defaults to `True`.

    Returns:
        `(images, scale, offset)`: `float32 [B, S, S, 3]`, `float32 [B]` and
        `float32 [B, 2]` offsets `(x, y)`.

    Example:

    >>> x, scale, offset = kzoo.data.letterbox_images(batch_uint8, 320)
    >>> detections = detector(x)  # boxes in the 320 x 320 frame
    >>> boxes = kzoo.data.unletterbox_boxes(detections["boxes"], scale,
    ...                                     offset, height, width)
    """
    size = _check_positive_int(size, "size")
    out, scale, offset = _letterbox_batch(images, size, pad_value, antialias)
    batch = tf.shape(out)[0]
    return (out, tf.fill([batch], scale),
            tf.tile(offset[None], tf.stack([batch, 1])))


@kzoo_export("kzoo.data.unletterbox_boxes")
def unletterbox_boxes(boxes, scale, offset, image_height, image_width):
    """Maps `xyxy` boxes from a letterboxed frame back to the original image.

    Inverse of the box map of `kzoo.data.letterbox`, then clipped to the
    original image: `clip((boxes - (ox, oy, ox, oy)) / scale, 0, (w, h))`.
    All-zero padding rows stay all zero.

    Args:
        boxes: `[..., N, 4]` boxes, `xyxy` in pixels of the letterboxed image.
        scale: scale of the letterbox, shape `[...]` (one per image; a scalar
            broadcasts).
        offset: `(x, y)` offsets, shape `[..., 2]`.
        image_height: original height(s), scalar or `[...]`.
        image_width: original width(s), scalar or `[...]`.

    Returns:
        `float32 [..., N, 4]` boxes in pixels of the original image(s).

    Example:

    >>> kzoo.data.unletterbox_boxes([[32., 64., 64., 88.]], 0.5, [0., 40.],
    ...                             480, 640)
    <tf.Tensor: shape=(1, 4), dtype=float32, numpy=array([[64., 48., 128., 96.]], ...)>
    """
    boxes = tf.cast(boxes, tf.float32)
    scale = tf.cast(scale, tf.float32)
    offset = tf.cast(offset, tf.float32)
    height = tf.cast(image_height, tf.float32)
    width = tf.cast(image_width, tf.float32)
    shift = tf.concat([offset, offset], axis=-1)[..., None, :]
    out = (boxes - shift) / scale[..., None, None]
    limits = tf.stack([width, height, width, height], axis=-1)[..., None, :]
    return tf.clip_by_value(out, 0.0, limits)


# ---------------------------------------------------------------------------
# Box-aware augmentation.


def _uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def affine_boxes(boxes, flip, scale, shift_x, shift_y, height, width):
    """Applies a flip + zoom-about-the-centre + shift to `xyxy` boxes.

    The map of `random_affine_images` (per image):
    `x' = f * s * (x - W / 2) + W / 2 + dx` and
    `y' = s * (y - H / 2) + H / 2 + dy`, with `f = -1` when flipped.

    Args:
        boxes: `[B, M, 4]` boxes, `xyxy` pixels.
        flip: `bool [B]`.
        scale: `[B]` zoom factors `s`.
        shift_x: `[B]` shifts `dx` in pixels.
        shift_y: `[B]` shifts `dy` in pixels.
        height: image height `H`.
        width: image width `W`.

    Returns:
        `float32 [B, M, 4]` boxes (not clipped).
    """
    boxes = tf.cast(boxes, tf.float32)
    cx = tf.cast(width, tf.float32) / 2.0
    cy = tf.cast(height, tf.float32) / 2.0
    f = tf.where(flip, -1.0, 1.0)[:, None]
    s = tf.cast(scale, tf.float32)[:, None]
    dx = tf.cast(shift_x, tf.float32)[:, None]
    dy = tf.cast(shift_y, tf.float32)[:, None]
    x1 = f * s * (boxes[..., 0] - cx) + cx + dx
    x2 = f * s * (boxes[..., 2] - cx) + cx + dx
    y1 = s * (boxes[..., 1] - cy) + cy + dy
    y2 = s * (boxes[..., 3] - cy) + cy + dy
    return tf.stack([tf.minimum(x1, x2), y1, tf.maximum(x1, x2), y2], -1)


def affine_images(images, flip, scale, shift_x, shift_y, fill_value=114.0):
    """Warps images by the map of `affine_boxes` (bilinear, constant fill).

    Pixel centres sit at `i + 0.5`, so the content under a box lands under
    the transformed box. Pixels mapped from outside the image take
    `fill_value`.

    Args:
        images: `float32 [B, H, W, 3]`.
        flip: `bool [B]`.
        scale: `[B]` zoom factors.
        shift_x: `[B]` shifts in pixels.
        shift_y: `[B]` shifts in pixels.
        fill_value: value outside the source image. Defaults to `114.0`.

    Returns:
        `float32 [B, H, W, 3]`.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    cx, cy = width / 2.0, height / 2.0
    sx = tf.where(flip, -1.0, 1.0) * tf.cast(scale, tf.float32)
    sy = tf.cast(scale, tf.float32)
    # Output pixel index -> input pixel index (inverse map, centres at +0.5).
    a0 = 1.0 / sx
    a2 = (0.5 - cx - tf.cast(shift_x, tf.float32)) / sx + cx - 0.5
    b1 = 1.0 / sy
    b2 = (0.5 - cy - tf.cast(shift_y, tf.float32)) / sy + cy - 0.5
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, zeros, a2, zeros, b1, b2, zeros, zeros], -1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=shape[1:3],
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def filter_boxes(boxes, classes, reference_boxes, height, width,
                 min_visibility=0.25, min_size=2.0):
    """Clips boxes to the image and drops the ones that mostly left it.

    A box is kept when its class is not `-1`, its clipped width and height
    are both `>= min_size` pixels and its clipped area is `>= min_visibility`
    times the area of its `reference_boxes` row (the unclipped transformed
    box). Dropped rows become padding (box `0`, class `-1`) and the kept rows
    are moved to the front, in their original order.

    Args:
        boxes: `[B, M, 4]` boxes, `xyxy` pixels, possibly outside the image.
        classes: `int32 [B, M]`, `-1` on padding rows.
        reference_boxes: `[B, M, 4]` boxes whose area is the reference.
        height: image height.
        width: image width.
        min_visibility: minimum visible fraction of the area. Defaults to
            `0.25`.
        min_size: minimum side in pixels. Defaults to `2.0`.

    Returns:
        `(boxes, classes)`, `float32 [B, M, 4]` and `int32 [B, M]`.
    """
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    clipped = tf.clip_by_value(
        boxes, 0.0, tf.stack([width, height, width, height]))
    w = clipped[..., 2] - clipped[..., 0]
    h = clipped[..., 3] - clipped[..., 1]
    ref = reference_boxes
    ref_area = (ref[..., 2] - ref[..., 0]) * (ref[..., 3] - ref[..., 1])
    keep = (
        (classes >= 0)
        & (w >= min_size)
        & (h >= min_size)
        & (w * h >= min_visibility * ref_area)
    )
    clipped = tf.where(keep[..., None], clipped, 0.0)
    classes = tf.where(keep, classes, -1)
    order = tf.argsort(tf.cast(~keep, tf.int32), axis=-1, stable=True)
    return (tf.gather(clipped, order, batch_dims=1),
            tf.gather(classes, order, batch_dims=1))


@kzoo_export("kzoo.data.DetectionAugmentation")
class DetectionAugmentation(ConstructorConfig):
    """Box-aware augmentation of a batch of detection examples.

    Per image (independent random draws, vectorised over the batch):

    1. horizontal flip with `flip_probability`;
    2. scale jitter: zoom about the image centre by `s ~ U(scale_range)`,
       then shift by `dx, dy ~ U(-translation, translation)` times the
       width / height (one affine warp, bilinear, `fill_value` outside the
       source image); boxes follow, are clipped to the image, and a box is
       dropped (with its class) when less than `min_visibility` of its area
       stays inside or a clipped side is below `min_size` px;
    3. colour jitter with `jitter_probability`: brightness, contrast,
       saturation and hue strengths with torchvision `ColorJitter` semantics
       (`kzoo.data.random_color_jitter` on `[0, 1]` pixels).

    Defaults follow YOLOv5's `hyp.scratch-low.yaml` (`fliplr=0.5`,
    `translate=0.1`, `hsv_v=0.4`, `hsv_s=0.7`, `hsv_h=0.015`, no contrast)
    with the milder scale range `[0.75, 1.25]` of keras-io's YOLOv8 example
    (`JitteredResize(scale_factor=(0.75, 1.3))`); YOLOv1/v2 used scaling
    and translation up to 20 % and exposure / saturation factors up to 1.5.

    Why not Keras' box-aware `RandomFlip` / `RandomZoom` / `RandomTranslation`
    / `RandomColorJitter` (Keras 3.15, checked inside `tf.data`): they draw
    from a stateful seed generator (two runs of the same seeded pipeline with
    `num_parallel_calls=4` flip different images), return float labels, move
    padding rows off zero (a flipped `[0, 0, 0, 0]` becomes `[W, 0, W, 0]`),
    have no minimum visible area (only a box pushed wholly out gets label
    -1, its coordinates left non-zero), and `RandomTranslation`'s default
    reflect fill mirrors objects that get no box.

    Called as `augment(batch, seed)` with `batch` a dict of contract B
    (`"images"` `[B, H, W, 3]` in `[0, 255]`, `"boxes"` `[B, M, 4]`,
    `"classes"` `[B, M]`, extra keys passed through) and `seed` an int
    tensor of shape `[2]`; returns the same dict, `float32` images in
    `[0, 255]`. The same seed gives the same result.

    Args:
        flip_probability: probability of a horizontal flip. Defaults to
            `0.5`.
        scale_range: `(min, max)` zoom factors; `(1, 1)` disables zooming.
            Defaults to `(0.75, 1.25)`.
        translation: maximum shift as a fraction of the image side.
            Defaults to `0.1`.
        jitter: `(brightness, contrast, saturation, hue)` strengths; all
            zero disables colour jitter. Defaults to `(0.4, 0.0, 0.7, 0.015)`.
        jitter_probability: probability of applying the colour jitter.
            Defaults to `1.0`.
        min_visibility: minimum fraction of a box's (transformed) area that
            must stay inside the image. Defaults to `0.25`.
        min_size: minimum side in pixels of a kept box. Defaults to `2.0`.
        fill_value: pixel value where the warp has no source (YOLOv5's
            grey, as the letterbox padding). Defaults to `114.0`.

    Example:

    >>> augment = kzoo.data.DetectionAugmentation(scale_range=(0.5, 1.5))
    >>> ds = kzoo.data.detection_dataset(voc, training=True, augment=augment,
    ...                                  seed=0)

    Reference: Redmon et al., "You Only Look Once", CVPR 2016 (section 2.2);
    Ultralytics YOLOv5 `data/hyps/hyp.scratch-low.yaml`.
    """

    def __init__(self, flip_probability=0.5, scale_range=(0.75, 1.25),
                 translation=0.1, jitter=(0.4, 0.0, 0.7, 0.015),
                 jitter_probability=1.0, min_visibility=0.25, min_size=2.0,
                 fill_value=114.0):
        for name, p in (("flip_probability", flip_probability),
                        ("jitter_probability", jitter_probability),
                        ("min_visibility", min_visibility)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(
                    f"`{name}` must be in [0, 1]. Received: {name}={p}")
        if len(scale_range) != 2 or not 0.0 < scale_range[0] <= scale_range[1]:
            raise ValueError(
                "`scale_range` must be (min, max) with 0 < min <= max. "
                f"Received: scale_range={scale_range}")
        if not 0.0 <= translation <= 1.0:
            raise ValueError(
                f"`translation` must be in [0, 1]. "
                f"Received: translation={translation}")
        if len(jitter) != 4 or any(j < 0 for j in jitter) or jitter[3] > 0.5:
            raise ValueError(
                "`jitter` must be 4 non-negative strengths (brightness, "
                f"contrast, saturation, hue <= 0.5). Received: jitter={jitter}")
        if min_size < 0:
            raise ValueError(
                f"`min_size` must be >= 0. Received: min_size={min_size}")
        self.flip_probability = float(flip_probability)
        self.scale_range = tuple(float(s) for s in scale_range)
        self.translation = float(translation)
        self.jitter = tuple(float(j) for j in jitter)
        self.jitter_probability = float(jitter_probability)
        self.min_visibility = float(min_visibility)
        self.min_size = float(min_size)
        self.fill_value = float(fill_value)

    def __call__(self, batch, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 5))
        images = tf.cast(batch["images"], tf.float32)
        boxes = tf.cast(batch["boxes"], tf.float32)
        classes = tf.cast(batch["classes"], tf.int32)
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        flip = _uniform([n], seeds[0]) < self.flip_probability
        lo, hi = self.scale_range
        scale = _uniform([n], seeds[1], lo, hi)
        t = self.translation
        shifts = _uniform([n, 2], seeds[2], -t, t) * tf.cast(
            tf.stack([width, height]), tf.float32)
        geometric = self.flip_probability > 0 or lo != 1.0 or hi != 1.0 or t > 0
        if geometric:
            images = affine_images(images, flip, scale, shifts[:, 0],
                                   shifts[:, 1], self.fill_value)
            moved = affine_boxes(boxes, flip, scale, shifts[:, 0],
                                 shifts[:, 1], height, width)
            boxes, classes = filter_boxes(
                moved, classes, moved, height, width,
                self.min_visibility, self.min_size)
        if self.jitter_probability > 0 and any(self.jitter):
            b, c, s, h = self.jitter
            images = random_color_jitter(
                images / 255.0, seeds[3], b, c, s, h,
                self.jitter_probability) * 255.0
        out = dict(batch)
        out.update(images=images, boxes=boxes, classes=classes)
        return out


# ---------------------------------------------------------------------------
# Padded batches.


def _largest_boxes(voc, max_boxes, include_difficult):
    """Per image, indices of the boxes to keep (the `max_boxes` largest)."""
    keep, truncated = [], []
    for path, boxes, difficult in zip(voc.image_paths, voc.boxes,
                                      voc.difficult):
        idx = np.arange(len(boxes))
        if not include_difficult:
            idx = idx[~difficult]
        if len(idx) > max_boxes:
            b = boxes[idx]
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            largest = np.sort(np.argsort(-area, kind="stable")[:max_boxes])
            truncated.append((path, len(idx) - max_boxes))
            idx = idx[largest]
        keep.append(idx)
    return keep, truncated


def _pad(boxes, classes, max_boxes):
    n = tf.shape(classes)[0]
    boxes = tf.pad(boxes, [[0, max_boxes - n], [0, 0]])
    classes = tf.pad(classes, [[0, max_boxes - n]], constant_values=-1)
    return tf.ensure_shape(boxes, [max_boxes, 4]), tf.ensure_shape(
        classes, [max_boxes])


def _truncate_in_graph(boxes, classes, max_boxes):
    n = tf.shape(classes)[0]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    k = tf.minimum(n, max_boxes)
    idx = tf.sort(tf.math.top_k(area, k).indices)
    return tf.gather(boxes, idx), tf.gather(classes, idx)


@kzoo_export("kzoo.data.detection_dataset")
def detection_dataset(voc_or_source, image_size=320, batch_size=8,
                      max_boxes=100, training=False, augment=None,
                      shuffle=None, seed=None, repeat=False,
                      drop_remainder=None, include_difficult=True,
                      include_metadata=False, pad_value=114, epochs=None,
                      initial_epoch=0):
    """Letterboxed, padded detection batches (contract B) from VOC or tf.data.

    Pipeline: (shuffle) -> read + decode -> `letterbox` to
    `image_size x image_size` -> pad boxes to `max_boxes` rows -> batch ->
    (augment, once per batch with a stateless seed drawn from `seed`) ->
    prefetch. Elements are dicts:

    * `"images"`: `float32 [B, S, S, 3]` in `[0, 255]`;
    * `"boxes"`: `float32 [B, M, 4]`, `xyxy` pixels of the `S x S` image,
      padding rows `0`, valid rows first;
    * `"classes"`: `int32 [B, M]`, `-1` on padding rows;
    * with `include_metadata`: `"scale"` `[B]`, `"offset"` `[B, 2]` (x, y)
      of the letterbox (`kzoo.data.unletterbox_boxes` maps boxes back),
      `"image_size"` `int32 [B, 2]` (height, width) and `"index"` `int32
      [B]` (position in `voc.image_paths`, or in the source dataset).

    `S`, `M` (and `B` when `drop_remainder`) are static. An image with more
    than `max_boxes` boxes keeps its `max_boxes` largest (by area, in their
    original order); for a `VOCDataset` one warning counts the dropped boxes
    and names the files (BCCD has at most 30 boxes per image); a
    `tf.data` source is truncated the same way in the graph, without a
    warning, and is shuffled (when asked) with a buffer of its cardinality,
    or 1024 elements when that is unknown. With
    `training=False` (and no shuffle / augment) the order is the source's,
    pass after pass; with a `seed` the shuffle and augmentation are
    reproducible whatever the parallelism.

    Args:
        voc_or_source: a `kzoo.data.VOCDataset`, or a `tf.data.Dataset` of
            dicts `{"image": [H, W, 3], "boxes": [N, 4] xyxy pixels,
            "classes": int [N]}` (e.g. `VOCDataset.as_dataset()`).
        image_size: side `S` of the letterboxed images. Defaults to `320`.
        batch_size: batch size. Defaults to `8`.
        max_boxes: box rows per image `M`. Defaults to `100`.
        training: training defaults for `shuffle`, `augment` and
            `drop_remainder`. Defaults to `False`.
        augment: callable `(batch, seed) -> batch`; `None` uses
            `kzoo.data.DetectionAugmentation()` when `training` and nothing
            otherwise; `False` disables it. Defaults to `None`.
        shuffle: reshuffle the images every pass; `None` means `training`.
            Defaults to `None`.
        seed: integer seed of the shuffle and augmentation. Defaults to
            `None` (nondeterministic).
        repeat: repeat forever (batches then span pass boundaries).
            Defaults to `False`.
        drop_remainder: drop the last partial batch; `None` means
            `training`. Defaults to `None`.
        include_difficult: keep VOC boxes flagged `<difficult>`. Defaults to
            `True`.
        include_metadata: add the letterbox metadata keys. Defaults to
            `False`.
        pad_value: letterbox padding value. Defaults to `114`.
        epochs: `None` for one pass (or an endless stream with `repeat`),
            reshuffled every time it is iterated; or, for a `VOCDataset`,
            the number of epochs to hold, each a function of
            `(seed, epoch)` alone, the same under any `tf.distribute`
            strategy (see `kzoo.data.two_view_dataset`). Defaults to
            `None`.
        initial_epoch: with `epochs`, the first epoch held. Defaults to
            `0`.

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> voc = kzoo.data.load_voc("../shared/datasets/bccd", "train")
    >>> ds = kzoo.data.detection_dataset(voc, image_size=320, batch_size=8,
    ...                                  training=True, seed=0)
    >>> batch = next(iter(ds))
    >>> batch["images"].shape, batch["boxes"].shape, batch["classes"].shape
    (TensorShape([8, 320, 320, 3]), TensorShape([8, 100, 4]), TensorShape([8, 100]))
    """
    image_size = _check_positive_int(image_size, "image_size")
    batch_size = _check_positive_int(batch_size, "batch_size")
    max_boxes = _check_positive_int(max_boxes, "max_boxes")
    if shuffle is None:
        shuffle = training
    if drop_remainder is None:
        drop_remainder = training
    if epochs is not None and (repeat or not isinstance(voc_or_source,
                                                        VOCDataset)):
        raise ValueError(
            "`epochs` needs a kzoo.data.VOCDataset (whose images can be "
            "permuted per epoch) and `repeat=False`. Received: "
            f"voc_or_source={type(voc_or_source).__name__}, repeat={repeat}")
    if augment is None:
        augment = DetectionAugmentation() if training else None
    elif augment is False:
        augment = None
    elif not callable(augment):
        raise TypeError(
            "`augment` must be a callable (batch, seed) -> batch, None or "
            f"False. Received: augment={augment!r}")

    if isinstance(voc_or_source, VOCDataset):
        voc = voc_or_source
        keep, truncated = _largest_boxes(voc, max_boxes, include_difficult)
        if truncated:
            shown = ", ".join(f"{os.path.basename(p)} ({k})"
                              for p, k in truncated[:5])
            more = (f" and {len(truncated) - 5} more"
                    if len(truncated) > 5 else "")
            warnings.warn(
                f"kzoo.data.detection_dataset: {len(truncated)} images have "
                f"more than max_boxes={max_boxes} boxes; dropped "
                f"{sum(k for _, k in truncated)} smallest boxes: "
                f"{shown}{more}.", stacklevel=2)
        boxes, classes = voc._ragged(keep=keep)
        heights = np.asarray([h for h, _ in voc.image_sizes], np.int32)
        widths = np.asarray([w for _, w in voc.image_sizes], np.int32)
        num_images = len(voc)
        table = {
            "path": list(voc.image_paths),
            "boxes": boxes,
            "classes": classes,
            "index": np.arange(num_images, dtype=np.int32),
            "image_size": np.stack([heights, widths], -1),
        }
        ds = tf.data.Dataset.from_tensor_slices(table)

        def read(ex):
            image = tf.io.decode_image(tf.io.read_file(ex["path"]), channels=3,
                                       expand_animations=False)
            image.set_shape([None, None, 3])
            return {"image": image, "boxes": tf.reshape(ex["boxes"], [-1, 4]),
                    "classes": ex["classes"], "index": ex["index"],
                    "image_size": ex["image_size"]}
        truncate = False
    elif isinstance(voc_or_source, tf.data.Dataset):
        ds = voc_or_source.enumerate().map(
            lambda i, ex: dict(ex, index=tf.cast(i, tf.int32)))
        num_images = int(ds.cardinality())
        if num_images < 0:
            num_images = None

        def read(ex):
            image = ex["image"]
            return {"image": image,
                    "boxes": tf.reshape(tf.cast(ex["boxes"], tf.float32),
                                        [-1, 4]),
                    "classes": tf.cast(ex["classes"], tf.int32),
                    "index": ex["index"],
                    "image_size": tf.shape(image)[:2]}
        truncate = True
    else:
        raise TypeError(
            "`voc_or_source` must be a kzoo.data.VOCDataset or a "
            "tf.data.Dataset of {'image', 'boxes', 'classes'} dicts. "
            f"Received: voc_or_source={type(voc_or_source).__name__}")

    if (drop_remainder and not repeat and num_images is not None
            and num_images < batch_size):
        raise ValueError(
            f"The dataset has {num_images} images, fewer than one batch, and "
            f"drop_remainder=True. Received: batch_size={batch_size}")

    def prepare(ex):
        ex = read(ex)
        boxes, classes = ex["boxes"], ex["classes"]
        if truncate:
            boxes, classes = _truncate_in_graph(boxes, classes, max_boxes)
        image, boxes, scale, offset = letterbox(
            ex["image"], boxes, image_size, pad_value)
        boxes, classes = _pad(boxes, classes, max_boxes)
        out = {"images": image, "boxes": boxes, "classes": classes}
        if include_metadata:
            out.update(scale=scale, offset=offset,
                       image_size=tf.cast(ex["image_size"], tf.int32),
                       index=ex["index"])
        return out

    deterministic = seed is not None or not shuffle
    if epochs is not None:  # keyed on (seed, epoch): permuted in the graph
        columns = {k: (v if isinstance(v, tf.RaggedTensor)
                       else tf.constant(v)) for k, v in table.items()}

        def make_epoch(epoch_seed):
            order = (_epochs.permutation(num_images, epoch_seed) if shuffle
                     else tf.range(num_images))
            one = tf.data.Dataset.from_tensor_slices(
                {k: tf.gather(v, order) for k, v in columns.items()})
            one = one.map(prepare, num_parallel_calls=AUTOTUNE,
                          deterministic=True)
            one = one.batch(batch_size, drop_remainder=drop_remainder)
            if augment is None:
                return one
            return tf.data.Dataset.zip(
                (one, _epochs.batch_seeds(epoch_seed)))

        steps = (num_images // batch_size if drop_remainder
                 else -(-num_images // batch_size))
        ds = _epochs.by_epoch(make_epoch, steps, seed, epochs, initial_epoch)
    else:
        if shuffle:
            ds = ds.shuffle(num_images or 1024, seed=seed,
                            reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(prepare, num_parallel_calls=AUTOTUNE,
                    deterministic=deterministic)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if augment is not None:  # one seed pair per batch
            ds = tf.data.Dataset.zip((ds, tf.data.Dataset.random(
                seed=seed, rerandomize_each_iteration=True).batch(2)))
    if augment is not None:
        ds = ds.map(lambda batch, s: augment(batch, s),
                    num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return ds.prefetch(AUTOTUNE)
