"""Letterboxing: an aspect-preserving resize onto a square canvas.

The one geometry behind `kzoo.data.letterbox` / `letterbox_images` (boxes)
and `letterbox_keypoints` / `letterbox_keypoint_images` (points): the
longer side becomes `size`, each side is rounded half up (at least 1
pixel), and the image is centred with the padding split floor-first
(top / left get the smaller half).
"""

import tensorflow as tf


def letterbox_geometry(height, width, size):
    """Scale, resized size and offsets for a `height x width` image.

    Returns:
        `(scale, new_h, new_w, top, left)`: the float32 scale
        `size / max(height, width)`, the int32 resized height and width,
        and the float32 top and left padding.
    """
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    scale = tf.cast(size, tf.float32) / tf.maximum(height, width)
    new_h = tf.clip_by_value(tf.floor(height * scale + 0.5), 1.0, size)
    new_w = tf.clip_by_value(tf.floor(width * scale + 0.5), 1.0, size)
    top = tf.floor((size - new_h) / 2.0)
    left = tf.floor((size - new_w) / 2.0)
    return scale, tf.cast(new_h, tf.int32), tf.cast(new_w, tf.int32), top, left


def letterbox_canvas(images, size, pad_value, antialias):
    """`images` `[B, H, W, C]` (one size) on `size x size` float32 canvases.

    Returns:
        `(canvas, scale, new_h, new_w, top, left)`, the geometry as
        `letterbox_geometry` gives it.
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    scale, new_h, new_w, top, left = letterbox_geometry(
        shape[1], shape[2], size)
    resized = tf.image.resize(
        tf.cast(images, tf.float32), tf.stack([new_h, new_w]),
        method="bilinear", antialias=antialias)
    top_i, left_i = tf.cast(top, tf.int32), tf.cast(left, tf.int32)
    paddings = [[0, 0], [top_i, size - new_h - top_i],
                [left_i, size - new_w - left_i], [0, 0]]
    canvas = tf.pad(resized, paddings, constant_values=float(pad_value))
    canvas = tf.ensure_shape(
        canvas, [images.shape[0], size, size, images.shape[-1]])
    return canvas, scale, new_h, new_w, top, left
