"""Keypoints (facial landmarks): letterboxing, augmentation, tf.data.

Reading the data is `kzoo.data.keypoint_sources` (its names are
importable from here too).

Conventions, shared by `kzoo.layers.LandmarkHead`, `kzoo.losses.LandmarkLoss`
and `kzoo.eval.landmark_metrics`:

- A keypoint is `(x, y)` in **continuous pixel coordinates**: pixel
  `(row i, column j)` covers `[j, j + 1) x [i, i + 1)`, so its centre is
  `(j + 0.5, i + 0.5)`, the image spans `[0, W] x [0, H]`, and resizing an
  image by a factor `s` maps `x` to `s * x` exactly (TensorFlow's
  `half_pixel_centers` convention); a horizontal flip maps `x` to `W - x`.
- Keypoints come with a **mask** `[..., K]`: 1 for a visible / annotated
  point, 0 for a missing one. Missing coordinates are stored as 0 (never
  NaN), and every transform keeps them at 0 with mask 0.
- The 68 points follow the iBUG / 300-W markup (Sagonas et al., 2013):
  jaw 0-16, eyebrows 17-21 and 22-26, nose bridge 27-30, nostrils 31-35,
  eyes 36-41 and 42-47, outer lips 48-59, inner lips 60-67, numbered from
  the image left (the subject's right) for a frontal face.
  `IBUG_68_FLIP_PERMUTATION` is its mirror map: after a horizontal flip,
  point `i` is the flipped point `perm[i]`, so that point 36 (outer corner
  of the eye on the image left) is again on the image left.
- Models see a square `S x S` **letterboxed** canvas (aspect ratio kept,
  centred, padded) and predict coordinates **normalised to it**: `x / S`,
  `y / S` in `[0, 1]` inside the canvas.

Example:

>>> train = kzoo.data.load_facial_keypoints("train", "../shared/datasets")
>>> canvas = kzoo.data.letterbox_keypoint_dataset(train, 128)
>>> ds = kzoo.data.keypoint_dataset(
...     canvas.images, canvas.keypoints, canvas.mask, batch_size=32,
...     augment=kzoo.data.KeypointAugmentation(), shuffle=True, seed=0)
"""

import collections
import math

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.data import _epochs
from kzoo.data._config import ConstructorConfig
from kzoo.data._letterbox import letterbox_canvas
from kzoo.data.augment import random_color_jitter
from kzoo.data.pipelines import seeded_batches
# Reading (no TensorFlow) lives in kzoo.data.keypoint_sources; its public
# names stay importable from here too.
from kzoo.data.keypoint_sources import FACIAL_KEYPOINTS_SPLITS  # noqa: F401
from kzoo.data.keypoint_sources import KeypointDataset
from kzoo.data.keypoint_sources import _check_positive_int
from kzoo.data.keypoint_sources import held_out_people
from kzoo.data.keypoint_sources import load_facial_keypoints
from kzoo.data.keypoint_sources import load_keypoints_csv
from kzoo.data.keypoint_sources import person_of
from kzoo.data.keypoint_sources import read_keypoints_csv
from kzoo.data.keypoint_sources import resolve_facial_keypoints_dir
from kzoo.data.keypoint_sources import select_keypoints
from kzoo.data.keypoint_sources import split_held_out_people

AUTOTUNE = tf.data.AUTOTUNE


def _mirror_pairs_to_permutation(num_points, pairs):
    perm = list(range(num_points))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


# The 68-point iBUG / 300-W mirror map: pairs swapped by a horizontal flip
# (the points not listed, 8, 27-30, 33, 51, 57, 62, 66, lie on the
# symmetry axis and map to themselves).
IBUG_68_FLIP_PERMUTATION = kzoo_export("kzoo.data.IBUG_68_FLIP_PERMUTATION")(_mirror_pairs_to_permutation(68, (
    # jaw line: 0 <-> 16, 1 <-> 15, ..., 7 <-> 9
    *((i, 16 - i) for i in range(8)),
    # eyebrows: 17 <-> 26, ..., 21 <-> 22
    *((17 + i, 26 - i) for i in range(5)),
    # nostrils: 31 <-> 35, 32 <-> 34
    (31, 35), (32, 34),
    # eyes: outer corners 36 <-> 45, upper lids 37 <-> 44, 38 <-> 43, inner
    # corners 39 <-> 42, lower lids 40 <-> 47, 41 <-> 46
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    # outer lips: corners 48 <-> 54, upper 49 <-> 53, 50 <-> 52, lower
    # 55 <-> 59, 56 <-> 58
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),
    # inner lips: corners 60 <-> 64, upper 61 <-> 63, lower 65 <-> 67
    (60, 64), (61, 63), (65, 67),
)))


LetterboxedKeypoints = kzoo_export("kzoo.data.LetterboxedKeypoints")(collections.namedtuple(
    "LetterboxedKeypoints",
    ["images", "keypoints", "mask", "scale", "offset", "image_sizes"],
))
LetterboxedKeypoints.__doc__ = """A keypoint dataset letterboxed to `S x S`.

Fields:
    images: `uint8` array `[N, S, S, 3]`.
    keypoints: `float32` `[N, K, 2]` in canvas pixels (0 where missing).
    mask: `float32` `[N, K]`.
    scale: `float32` `[N, 2]`, `(sx, sy)` of the map original -> canvas.
    offset: `float32` `[N, 2]`, `(ox, oy)` of that map
        (`canvas = original * scale + offset`).
    image_sizes: `int32` `[N, 2]`, the original `(height, width)`.
"""


@kzoo_export("kzoo.data.check_flip_permutation")
def check_flip_permutation(permutation, num_keypoints=None):
    """Validates a flip permutation: a permutation of `range(K)`, an involution.

    A mirror map swaps pairs of points (left <-> right) and fixes the points
    on the symmetry axis, so applying it twice must give the identity.

    Args:
        permutation: sequence of `K` integers; `"ibug68"` stands for
            `IBUG_68_FLIP_PERMUTATION`.
        num_keypoints: the expected `K`, or `None`. Defaults to `None`.

    Returns:
        The permutation as a tuple of ints.

    Example:

    >>> kzoo.data.check_flip_permutation([1, 0, 2])
    (1, 0, 2)
    """
    if isinstance(permutation, str):
        if permutation != "ibug68":
            raise ValueError("`permutation` must be a sequence of indices or "
                             f"'ibug68'. Received: permutation={permutation!r}")
        permutation = IBUG_68_FLIP_PERMUTATION
    try:
        perm = tuple(int(p) for p in permutation)
    except (TypeError, ValueError):
        raise ValueError("`permutation` must be a sequence of integers. "
                         f"Received: permutation={permutation!r}")
    k = len(perm)
    if sorted(perm) != list(range(k)):
        raise ValueError("`permutation` must contain each index 0..K-1 once. "
                         f"Received: permutation={perm}")
    if any(perm[perm[i]] != i for i in range(k)):
        raise ValueError("`permutation` must be an involution (a mirror map: "
                         "perm[perm[i]] == i). Received: "
                         f"permutation={perm}")
    if num_keypoints is not None and k != num_keypoints:
        raise ValueError(f"`permutation` has {k} entries for {num_keypoints} "
                         f"keypoints. Received: permutation={perm}")
    return perm


# ---------------------------------------------------------------------------
# Letterbox: aspect-preserving resize to a square canvas, keypoints exact.


def _letterbox(images, size, pad_value, antialias):
    """`images` `[B, H, W, C]` -> canvas, `(sx, sy)`, `(ox, oy)` (scalars):
    the per-axis scales of the rounded resize, so keypoints map exactly."""
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    x, _, new_h, new_w, top, left = letterbox_canvas(
        images, size, pad_value, antialias)
    sxy = tf.stack([tf.cast(new_w, tf.float32) / tf.cast(shape[2], tf.float32),
                    tf.cast(new_h, tf.float32) / tf.cast(shape[1], tf.float32)])
    return x, sxy, tf.stack([left, top])


@kzoo_export("kzoo.data.letterbox_keypoints")
def letterbox_keypoints(image, keypoints, size, mask=None, pad_value=0,
                        antialias=True):
    """Resizes an image into a `size x size` canvas, keypoints following.

    The longer side becomes `size`, the shorter `round(side * size /
    longer)`, the resized image is centred (offsets rounded down to whole
    pixels) on a canvas filled with `pad_value`. Because the image is
    resized by `new_w / W` and `new_h / H` exactly (TensorFlow's half-pixel
    resize), the keypoint map uses those two factors and is exact:

    Formula:

    ```python
    sx, sy = new_w / W, new_h / H
    ox, oy = (size - new_w) // 2, (size - new_h) // 2
    x_canvas, y_canvas = x * sx + ox, y * sy + oy
    ```

    Args:
        image: `[H, W, 3]` image, pixel values in `[0, 255]`.
        keypoints: `[K, 2]` `(x, y)` pixels of `image`.
        size: canvas side `S`, a Python int.
        mask: optional `[K]` visibility; missing points stay at 0. Defaults
            to `None` (all visible).
        pad_value: value of the padding pixels. Defaults to `0`.
        antialias: antialiased resize (an area-like filter when shrinking).
            Defaults to `True`.

    Returns:
        `(image, keypoints, scale, offset)`: `float32 [S, S, 3]`, `float32
        [K, 2]` canvas pixels, `float32 [2]` `(sx, sy)` and `float32 [2]`
        `(ox, oy)`.

    Example:

    >>> img, pts, scale, offset = kzoo.data.letterbox_keypoints(
    ...     tf.zeros([128, 64, 3]), [[32., 64.]], 64)
    >>> pts.numpy(), offset.numpy()
    (array([[32., 32.]], dtype=float32), array([16., 0.], dtype=float32))
    """
    size = _check_positive_int(size, "size")
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3:
        raise ValueError("`image` must be `[H, W, C]`. "
                         f"Received: image.shape={image.shape}")
    x, sxy, oxy = _letterbox(image[None], size, pad_value, antialias)
    points = tf.cast(keypoints, tf.float32) * sxy + oxy
    if mask is not None:
        points = tf.where(tf.cast(mask, tf.float32)[:, None] > 0, points, 0.0)
    return x[0], points, sxy, oxy


@kzoo_export("kzoo.data.letterbox_keypoint_images")
def letterbox_keypoint_images(images, size, pad_value=0, antialias=True):
    """Letterboxes a batch of images of one common size (graph friendly).

    The batched form of `kzoo.data.letterbox_keypoints` for serving: works
    in a `tf.function` with unknown `B`, `H` and `W`; every image of the
    batch gets the same scale and offset. Map predictions back with
    `kzoo.data.unletterbox_keypoints`.

    Args:
        images: `[B, H, W, 3]`, `uint8` or float, values in `[0, 255]`.
        size: canvas side `S`, a Python int.
        pad_value: value of the padding pixels. Defaults to `0`.
        antialias: antialiased resize. Defaults to `True`.

    Returns:
        `(images, scale, offset)`: `float32 [B, S, S, 3]`, `float32 [B, 2]`
        `(sx, sy)` and `float32 [B, 2]` `(ox, oy)`.

    Example:

    >>> x, scale, offset = kzoo.data.letterbox_keypoint_images(batch, 128)
    """
    size = _check_positive_int(size, "size")
    x, sxy, oxy = _letterbox(images, size, pad_value, antialias)
    batch = tf.shape(x)[0]
    return (x, tf.tile(sxy[None], tf.stack([batch, 1])),
            tf.tile(oxy[None], tf.stack([batch, 1])))


@kzoo_export("kzoo.data.unletterbox_keypoints")
def unletterbox_keypoints(keypoints, scale, offset):
    """Maps canvas keypoints back to the original image: `(p - offset) / scale`.

    Inverse of the map of `kzoo.data.letterbox_keypoints` (not clipped:
    predicted points may lie outside the image).

    Args:
        keypoints: `[..., K, 2]` canvas pixels.
        scale: `[..., 2]` `(sx, sy)` (a `[2]` vector broadcasts).
        offset: `[..., 2]` `(ox, oy)`.

    Returns:
        `float32 [..., K, 2]` pixels of the original image.

    Example:

    >>> kzoo.data.unletterbox_keypoints([[32., 32.]], [0.5, 0.5], [16., 0.])
    <tf.Tensor: ... numpy=array([[32., 64.]], dtype=float32)>
    """
    scale = tf.cast(scale, tf.float32)
    offset = tf.cast(offset, tf.float32)
    return ((tf.cast(keypoints, tf.float32) - offset[..., None, :])
            / scale[..., None, :])


@kzoo_export("kzoo.data.letterbox_keypoint_dataset")
def letterbox_keypoint_dataset(dataset, size, pad_value=0, antialias=True):
    """Letterboxes every image of a `KeypointDataset` to `size x size`.

    Done once, up front (the canvases are the in-memory cache; training
    augmentation then works on them with exact keypoint maps).

    Args:
        dataset: a `kzoo.data.KeypointDataset`.
        size: canvas side `S`.
        pad_value: padding value. Defaults to `0`.
        antialias: antialiased resize. Defaults to `True`.

    Returns:
        A `kzoo.data.LetterboxedKeypoints`.

    Example:

    >>> canvas = kzoo.data.letterbox_keypoint_dataset(train, 128)
    """
    size = _check_positive_int(size, "size")
    n = len(dataset.images)
    images = np.zeros((n, size, size, 3), np.uint8)
    points = np.zeros(np.shape(dataset.keypoints), np.float32)
    scale = np.zeros((n, 2), np.float32)
    offset = np.zeros((n, 2), np.float32)
    sizes = np.zeros((n, 2), np.int32)
    fn = tf.function(lambda im, pt, m: letterbox_keypoints(
        im, pt, size, m, pad_value, antialias), reduce_retracing=True)
    for i, image in enumerate(dataset.images):
        x, p, s, o = fn(image, dataset.keypoints[i], dataset.mask[i])
        images[i] = np.clip(np.round(x.numpy()), 0, 255).astype(np.uint8)
        points[i], scale[i], offset[i] = p.numpy(), s.numpy(), o.numpy()
        sizes[i] = image.shape[:2]
    return LetterboxedKeypoints(images, points,
                                np.asarray(dataset.mask, np.float32), scale,
                                offset, sizes)


# ---------------------------------------------------------------------------
# Keypoint-aware augmentation.


def _uniform(shape, seed, minval=0.0, maxval=1.0):
    return tf.random.stateless_uniform(shape, seed, minval=minval,
                                       maxval=maxval)


@kzoo_export("kzoo.data.warp_affine")
def warp_affine(images, keypoints, matrices, fill_value=0.0):
    """Warps images by per-image affine maps; keypoints follow exactly.

    `matrices` are the *forward* maps in continuous pixel coordinates
    (`p' = A p + b`, rows `[[a00, a01, b0], [a10, a11, b1]]`): a keypoint
    `p` moves to `A p + b` and the output pixel centred at `q` samples
    (bilinearly) the input at `A^-1 (q - b)`. The output has the input's
    size; outside the input it is `fill_value`.

    Args:
        images: `float32 [B, H, W, C]`.
        keypoints: `[B, K, 2]` `(x, y)` pixels.
        matrices: `[B, 2, 3]` forward affine maps.
        fill_value: value outside the input. Defaults to `0.0`.

    Returns:
        `(images, keypoints)`, `float32`.

    Example:

    >>> shift = tf.constant([[[1., 0., 5.], [0., 1., 0.]]])  # 5 px right
    >>> x, pts = kzoo.data.warp_affine(images, points, shift)
    """
    images = tf.cast(images, tf.float32)
    matrices = tf.cast(matrices, tf.float32)
    batch = tf.shape(images)[0]
    bottom = tf.tile(tf.constant([[[0.0, 0.0, 1.0]]]), [batch, 1, 1])
    forward = tf.concat([matrices, bottom], axis=1)  # [B, 3, 3]
    inverse = tf.linalg.inv(forward)
    # Index coordinates (pixel centres at integers) of the sampler:
    # in_idx = inverse @ (out_idx + 0.5) - 0.5.
    half = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    minus_half = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5],
                              [0.0, 0.0, 1.0]])
    sampler = tf.matmul(minus_half, tf.matmul(inverse, half))
    transforms = tf.reshape(sampler, [batch, 9])[:, :8]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(fill_value, tf.float32), interpolation="BILINEAR",
        fill_mode="CONSTANT")
    points = tf.cast(keypoints, tf.float32)
    points = (tf.einsum("bij,bkj->bki", matrices[:, :, :2], points)
              + matrices[:, None, :, 2])
    return out, points


@kzoo_export("kzoo.data.KeypointAugmentation")
class KeypointAugmentation(ConstructorConfig):
    """Random geometric and colour augmentation of a batch, keypoints following.

    For each image of a batch of square `S x S` canvases (e.g. from
    `kzoo.data.letterbox_keypoint_dataset`), one affine map about the canvas
    centre `c = (S/2, S/2)` is drawn and applied to the image (bilinear,
    `fill_value` outside) and exactly to its keypoints:

    Formula:

    ```python
    p' = c + t + R(theta) @ (z * (F(p) - c))
    # F: horizontal flip x -> S - x with `flip_probability` (and the
    #    keypoint indices permuted by `flip_permutation`);
    # z ~ U(scale): zoom (z > 1 with the shift t is a random crop of side
    #    S / z, z < 1 shows more background);
    # theta ~ U(-max_rotation, max_rotation) degrees (positive: clockwise
    #    on screen, as the y axis points down);
    # t ~ U(-max_shift, max_shift) * S, per axis.
    ```

    Then, with `jitter_probability`, a colour jitter
    (`kzoo.data.random_color_jitter`: brightness, contrast, saturation,
    hue). Keypoints may leave the canvas; they keep their mask (the target
    is still well defined). Missing points (mask 0) stay at 0. Stateless:
    the same `seed` gives the same batch.

    Args:
        scale: `(min, max)` zoom factors. Defaults to `(0.9, 1.1)`.
        max_shift: largest translation per axis, as a fraction of `S`.
            Defaults to `0.08`.
        max_rotation: largest rotation, degrees (0 disables it). Defaults
            to `15.0`.
        flip_probability: probability of a horizontal flip. Defaults to
            `0.5`.
        flip_permutation: the mirror map of the keypoint indices (see
            `kzoo.data.check_flip_permutation`); `"ibug68"` is
            `IBUG_68_FLIP_PERMUTATION`. Required when `flip_probability >
            0`. Defaults to `"ibug68"`.
        jitter: `(brightness, contrast, saturation, hue)` strengths.
            Defaults to `(0.3, 0.3, 0.3, 0.02)`.
        jitter_probability: probability of the colour jitter. Defaults to
            `0.8`.
        fill_value: pixel value outside the warped image (use the
            letterbox `pad_value`). Defaults to `0.0`.

    Example:

    >>> augment = kzoo.data.KeypointAugmentation(max_rotation=10.0)
    >>> images, points, mask = augment(canvas, points, mask,
    ...                                seed=tf.constant([1, 2]))
    """

    def __init__(self, scale=(0.9, 1.1), max_shift=0.08, max_rotation=15.0,
                 flip_probability=0.5, flip_permutation="ibug68",
                 jitter=(0.3, 0.3, 0.3, 0.02), jitter_probability=0.8,
                 fill_value=0.0):
        scale = tuple(float(s) for s in scale)
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1]:
            raise ValueError("`scale` must be (min, max) with 0 < min <= max. "
                             f"Received: scale={scale}")
        if not 0.0 <= max_shift <= 1.0:
            raise ValueError("`max_shift` must be in [0, 1]. "
                             f"Received: max_shift={max_shift}")
        if not 0.0 <= max_rotation <= 180.0:
            raise ValueError("`max_rotation` must be in [0, 180] degrees. "
                             f"Received: max_rotation={max_rotation}")
        for name, p in (("flip_probability", flip_probability),
                        ("jitter_probability", jitter_probability)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]. "
                                 f"Received: {name}={p}")
        if flip_permutation is None:
            if flip_probability > 0:
                raise ValueError(
                    "A horizontal flip needs `flip_permutation` (the mirror "
                    "map of the keypoint indices); pass one or "
                    "flip_probability=0. Received: flip_permutation=None")
        elif isinstance(flip_permutation, str):
            check_flip_permutation(flip_permutation)
        else:
            flip_permutation = list(check_flip_permutation(flip_permutation))
        jitter = tuple(float(j) for j in jitter)
        if len(jitter) != 4 or any(j < 0 for j in jitter) or jitter[3] > 0.5:
            raise ValueError(
                "`jitter` must be 4 non-negative strengths (brightness, "
                f"contrast, saturation, hue <= 0.5). Received: jitter={jitter}")
        self.scale = scale
        self.max_shift = float(max_shift)
        self.max_rotation = float(max_rotation)
        self.flip_probability = float(flip_probability)
        self.flip_permutation = flip_permutation
        self.jitter = jitter
        self.jitter_probability = float(jitter_probability)
        self.fill_value = float(fill_value)

    def matrices(self, batch, size, seed):
        """The forward `[B, 2, 3]` maps and `[B]` flip flags of one batch."""
        seeds = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 5))
        size = tf.cast(size, tf.float32)
        zoom = _uniform([batch], seeds[0], self.scale[0], self.scale[1])
        theta = _uniform([batch], seeds[1], -self.max_rotation,
                         self.max_rotation) * (math.pi / 180.0)
        shift = _uniform([batch, 2], seeds[2], -self.max_shift,
                         self.max_shift) * size
        flip = _uniform([batch], seeds[3]) < self.flip_probability
        sign = tf.where(flip, -1.0, 1.0)
        cos, sin = tf.cos(theta) * zoom, tf.sin(theta) * zoom
        rz = tf.stack([tf.stack([cos, -sin], -1),
                       tf.stack([sin, cos], -1)], axis=1)  # R(theta) z
        # F(p) = diag(sign, 1) p + f, f = (S, 0) when flipped, else 0:
        # p' = (R z diag(sign, 1)) p + c + t + R z (f - c).
        a = rz * tf.stack([sign, tf.ones([batch])], -1)[:, None, :]
        c = tf.stack([size / 2.0, size / 2.0])
        f = tf.stack([tf.where(flip, size, 0.0), tf.zeros([batch])], -1)
        b = c[None] + shift + tf.einsum("bij,bj->bi", rz, f - c[None])
        return tf.concat([a, b[:, :, None]], axis=-1), flip

    def __call__(self, images, keypoints, mask, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 2))
        images = tf.cast(images, tf.float32)
        mask = tf.cast(mask, tf.float32)
        shape = tf.shape(images)
        matrices, flip = self.matrices(shape[0], shape[2], seeds[0])
        x, points = warp_affine(images, keypoints, matrices, self.fill_value)
        if self.flip_permutation is not None:
            perm = tf.constant(check_flip_permutation(self.flip_permutation),
                               tf.int32)
            points = tf.where(flip[:, None, None],
                              tf.gather(points, perm, axis=1), points)
            mask = tf.where(flip[:, None], tf.gather(mask, perm, axis=1), mask)
        points = tf.where(mask[..., None] > 0, points, 0.0)
        if self.jitter_probability > 0 and any(self.jitter):
            b, c, s, h = self.jitter
            x = random_color_jitter(tf.clip_by_value(x / 255.0, 0.0, 1.0),
                                    seeds[1], b, c, s, h,
                                    self.jitter_probability) * 255.0
        return x, points, mask


# ---------------------------------------------------------------------------
# tf.data.


@kzoo_export("kzoo.data.keypoint_targets")
def keypoint_targets(keypoints, mask, size, presence=None):
    """The training targets of `kzoo.losses.LandmarkLoss` for canvas keypoints.

    Args:
        keypoints: `[B, K, 2]` canvas pixels.
        mask: `[B, K]` visibility.
        size: canvas side `S` (coordinates are divided by it).
        presence: `[B]` presence targets; `None` means 1 where any point is
            visible, else 0. The points of an example with presence 0 are
            masked. Defaults to `None`.

    Returns:
        `{"landmarks": float32 [B, K, 3] (x / S, y / S, mask), "presence":
        float32 [B, 1]}`.
    """
    mask = tf.cast(mask, tf.float32)
    if presence is None:
        presence = tf.cast(tf.reduce_any(mask > 0, axis=-1), tf.float32)
    presence = tf.reshape(tf.cast(presence, tf.float32), [-1, 1])
    mask = mask * tf.cast(presence > 0, tf.float32)  # absent: no points
    points = tf.where(mask[..., None] > 0,
                      tf.cast(keypoints, tf.float32) / tf.cast(size, tf.float32),
                      0.0)
    return {"landmarks": tf.concat([points, mask[..., None]], axis=-1),
            "presence": presence}


@kzoo_export("kzoo.data.keypoint_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def keypoint_dataset(images, keypoints, mask, batch_size, augment=None,
                     shuffle=False, seed=None, drop_remainder=False,
                     presence=None, epochs=None, initial_epoch=0):
    """Batches of `(float32 images in [0, 255], landmark targets)`.

    Elements are `(images [B, S, S, 3], {"landmarks": [B, K, 3],
    "presence": [B, 1]})` as `kzoo.data.keypoint_targets` builds them
    (coordinates normalised by `S`, third column the mask), ready for a
    model ending in `kzoo.layers.LandmarkHead` compiled with
    `kzoo.losses.LandmarkLoss`. The augmentation runs once per batch with a
    fresh stateless seed drawn from `seed`.

    Args:
        images: `uint8` `[N, S, S, 3]` square canvases.
        keypoints: `[N, K, 2]` canvas pixels.
        mask: `[N, K]` visibility.
        batch_size: global batch size.
        augment: callable `(images, keypoints, mask, seed) -> same`, e.g.
            `kzoo.data.KeypointAugmentation()`. Defaults to `None`.
        shuffle: reshuffle every epoch. Defaults to `False`.
        seed: shuffle and augmentation seed. Defaults to `None`.
        drop_remainder: drop the last partial batch. Defaults to `False`.
        presence: `[N]` presence targets, see `keypoint_targets`. Defaults
            to `None`.
        {epochs_args}

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> ds = kzoo.data.keypoint_dataset(canvas.images, canvas.keypoints,
    ...                                 canvas.mask, 32, shuffle=True, seed=0)
    """
    batch_size = _check_positive_int(batch_size, "batch_size")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise ValueError("`images` must be square canvases `[N, S, S, C]`. "
                         f"Received: images.shape={images.shape}")
    n, size = images.shape[0], images.shape[1]
    keypoints = np.asarray(keypoints, np.float32)
    mask = np.asarray(mask, np.float32)
    if keypoints.ndim != 3 or keypoints.shape[0] != n or keypoints.shape[-1] != 2:
        raise ValueError("`keypoints` must be `[N, K, 2]` with N = len(images). "
                         f"Received: keypoints.shape={keypoints.shape}")
    if mask.shape != keypoints.shape[:2]:
        raise ValueError("`mask` must be `[N, K]`. "
                         f"Received: mask.shape={mask.shape}")
    if presence is None:
        presence = np.any(mask > 0, axis=-1).astype(np.float32)
    presence = np.asarray(presence, np.float32).reshape(n)
    if drop_remainder and n < batch_size:
        raise ValueError(f"The dataset has {n} examples, fewer than one batch,"
                         f" and drop_remainder=True. Received: "
                         f"batch_size={batch_size}")
    ds = seeded_batches((images, keypoints, mask, presence), batch_size,
                        seed, shuffle, drop_remainder, epochs=epochs,
                        initial_epoch=initial_epoch)
    if augment is not None:
        def make(batch, s):
            x, p, m = augment(batch[0], batch[1], batch[2], s[0])
            return x, keypoint_targets(p, m, size, batch[3])
    else:
        def make(batch, s):
            x, p, m, pres = batch
            return tf.cast(x, tf.float32), keypoint_targets(p, m, size, pres)

    ds = ds.map(make, num_parallel_calls=AUTOTUNE,
                deterministic=seed is not None)
    return ds.prefetch(AUTOTUNE)
