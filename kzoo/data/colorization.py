"""Colourisation pretext task and sRGB <-> CIE Lab conversions."""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data._config import ConstructorConfig

# sRGB (linear) -> CIE XYZ, and the D65 (2 degree observer) white point:
# the constants of scikit-image's `rgb2lab` / `lab2rgb`.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # (6 / 29) ** 3, as rounded by the CIE formulas
_KAPPA = 7.787  # (29 / 6) ** 2 / 3


def _srgb_to_linear(c):
    return tf.where(
        c > 0.04045,
        tf.pow((tf.maximum(c, 0.04045) + 0.055) / 1.055, 2.4),
        c / 12.92,
    )


def _linear_to_srgb(c):
    return tf.where(
        c > 0.0031308,
        1.055 * tf.pow(tf.maximum(c, 0.0031308), 1.0 / 2.4) - 0.055,
        12.92 * c,
    )


def _f(t):
    return tf.where(
        t > _EPSILON,
        tf.pow(tf.maximum(t, _EPSILON), 1.0 / 3.0),
        _KAPPA * t + 16.0 / 116.0,
    )


def _f_inverse(f):
    threshold = _EPSILON ** (1.0 / 3.0)
    return tf.where(
        f > threshold,
        tf.pow(tf.maximum(f, threshold), 3.0),
        (f - 16.0 / 116.0) / _KAPPA,
    )


@kzoo_export("kzoo.data.rgb_to_lab")
def rgb_to_lab(rgb):
    """Converts sRGB colours to CIE L*a*b* (D65 white).

    The standard sRGB transfer curve, sRGB primaries to CIE XYZ, and the
    CIE 1976 L*a*b* formulas relative to the D65 white of the 2 degree
    observer: the same constants and results as scikit-image's `rgb2lab`.

    Args:
        rgb: tensor `[..., 3]` of sRGB colours in `[0, 1]` (any float or
            integer dtype; not rescaled).

    Returns:
        `float32` tensor `[..., 3]` of `(L, a, b)`: `L` in `[0, 100]`,
        `a` and `b` roughly in `[-128, 127]`.

    Example:

    >>> lab = kzoo.data.rgb_to_lab([1.0, 0.0, 0.0])  # sRGB red
    >>> # lab is about [53.24, 80.09, 67.20]
    """
    rgb = tf.cast(rgb, tf.float32)
    linear = _srgb_to_linear(rgb)
    xyz = tf.linalg.matvec(tf.constant(_XYZ_FROM_RGB, tf.float32), linear)
    fx, fy, fz = tf.unstack(_f(xyz / tf.constant(_D65, tf.float32)), axis=-1)
    return tf.stack(
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1
    )


@kzoo_export("kzoo.data.lab_to_rgb")
def lab_to_rgb(lab):
    """Converts CIE L*a*b* (D65 white) colours to sRGB in `[0, 1]`.

    The inverse of `kzoo.data.rgb_to_lab`, with scikit-image's `lab2rgb`
    conventions: a negative Z (a very large `b`) is set to 0, and colours
    outside the sRGB gamut are clipped to `[0, 1]`.

    Args:
        lab: tensor `[..., 3]` of `(L, a, b)` colours.

    Returns:
        `float32` tensor `[..., 3]` of sRGB colours in `[0, 1]`.
    """
    lab = tf.cast(lab, tf.float32)
    l, a, b = tf.unstack(lab, axis=-1)
    fy = (l + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = tf.maximum(fy - b / 200.0, 0.0)
    xyz = _f_inverse(tf.stack([fx, fy, fz], axis=-1))
    xyz = xyz * tf.constant(_D65, tf.float32)
    rgb_from_xyz = tf.linalg.inv(
        tf.constant(_XYZ_FROM_RGB, tf.float64)
    )
    linear = tf.linalg.matvec(tf.cast(rgb_from_xyz, tf.float32), xyz)
    return tf.clip_by_value(_linear_to_srgb(linear), 0.0, 1.0)


def _lightness_to_gray(l):
    # sRGB grey of lightness L (a = b = 0): linear R = G = B = Y / Yn = Y.
    return _linear_to_srgb(_f_inverse((l + 16.0) / 116.0))


@kzoo_export("kzoo.data.ColorizationPretext")
class ColorizationPretext(ConstructorConfig):
    """Colourisation inputs and targets for a batch of images.

    The self-supervised task of Zhang et al. (2016) and Larsson et al.
    (2016): a network sees only the lightness of an image and predicts its
    colour. The input is the CIE L* channel rendered as the neutral sRGB
    grey of the same lightness (`lab_to_rgb((L, 0, 0))`, computed so that the
    three channels are exactly equal), as `float32` pixels in `[0, 255]`
    with 3 channels, so any kzoo backbone takes it unchanged.

    With `target="lab"` (default), the target is the chrominance, the
    `(a, b)` channels of CIE Lab divided by 128, `float32 [B, H, W, 2]`
    roughly in `[-1, 1]`: Lab separates the luminance, which the input
    already carries, from the colour, so the network predicts only what it
    cannot see (the target of Zhang et al. and Larsson et al.). This is a
    regression target for a pixel loss (e.g. mean squared or absolute
    error on a `[B, H, W, 2]` head), not Zhang et al.'s classification over
    313 quantised ab bins with class rebalancing. With `target="rgb"`, the
    target is the original image as sRGB in `[0, 1]`, `float32
    [B, H, W, 3]` (the network must then also reproduce the lightness).

    `ColorizationPretext.colorize(inputs, ab)` recombines a grey input and
    a (predicted) `"lab"` target into an sRGB image, to look at the
    predictions.

    Takes images `[B, H, W, 3]` of pixels in `[0, 255]` (any dtype) and
    returns `(inputs, targets)`; the `seed` is not used (the task is
    deterministic).

    Args:
        target: `"lab"` (ab / 128) or `"rgb"` (sRGB in `[0, 1]`). Defaults
            to `"lab"`.

    Example:

    >>> pretext = kzoo.data.ColorizationPretext()
    >>> gray, ab = pretext(images, seed=tf.constant([1, 2]))
    >>> rgb = kzoo.data.ColorizationPretext.colorize(gray, model(gray))

    References:
        - [Zhang et al., 2016](https://arxiv.org/abs/1603.08511):
          Colorful Image Colorization.
        - [Larsson et al., 2016](https://arxiv.org/abs/1603.06668):
          Learning Representations for Automatic Colorization.
    """

    def __init__(self, target="lab"):
        if target not in ("lab", "rgb"):
            raise ValueError(
                f"`target` must be 'lab' or 'rgb'. Received: target={target}"
            )
        self.target = target

    def __call__(self, images, seed=None):
        rgb = tf.cast(images, tf.float32) / 255.0
        lab = rgb_to_lab(rgb)
        gray = _lightness_to_gray(lab[..., :1])
        inputs = tf.repeat(gray, 3, axis=-1) * 255.0
        if self.target == "lab":
            return inputs, lab[..., 1:] / 128.0
        return inputs, rgb

    @staticmethod
    def colorize(inputs, ab):
        """sRGB `float32` pixels in `[0, 255]` from a grey input and ab / 128.

        Args:
            inputs: grey images `[B, H, W, 3]` in `[0, 255]`, as returned by
                the pretext (only the first channel is read).
            ab: `[B, H, W, 2]` chrominance divided by 128 (a `"lab"`
                target or a prediction of it).

        Returns:
            `float32` sRGB images `[B, H, W, 3]` in `[0, 255]`.
        """
        gray = tf.cast(inputs, tf.float32)[..., :1] / 255.0
        l = rgb_to_lab(tf.repeat(gray, 3, axis=-1))[..., :1]
        lab = tf.concat([l, tf.cast(ab, tf.float32) * 128.0], axis=-1)
        return lab_to_rgb(lab) * 255.0
