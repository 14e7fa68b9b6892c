"""Colourisation inputs and targets, and sRGB <-> CIE Lab, with keras.ops."""

import keras
import numpy as np

from kzoo._api import kzoo_export
from kzoo._data_ops import KERAS_OPS
from kzoo._docs import fill_doc
from kzoo.layers._pretext_layer import PretextLayer

# scikit-image's `rgb2lab` constants:
# sRGB (linear) -> CIE XYZ and the D65 (2 degree observer) white point.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# The inverse, computed in float64, then rounded to float32.
_RGB_FROM_XYZ = tuple(
    tuple(float(v) for v in row) for row in
    np.linalg.inv(np.array(_XYZ_FROM_RGB, np.float64)).astype(np.float32)
)
_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # (6 / 29) ** 3, as rounded by the CIE formulas
_KAPPA = 7.787  # (29 / 6) ** 2 / 3


RGB_TO_LAB_DOC = """Args:
    rgb: tensor `[..., 3]` of sRGB colours in `[0, 1]` (any float or
        integer dtype; not rescaled).

Returns:
    `float32` tensor `[..., 3]` of `(L, a, b)`: `L` in `[0, 100]`, `a` and
    `b` roughly in `[-128, 127]`."""
COLORIZE_DOC = """Args:
    inputs: grey images `[B, H, W, 3]` in `[0, 255]`, as returned by the
        task (only the first channel is read).
    ab: `[B, H, W, 2]` chrominance divided by 128 (a `"lab"` target or a
        prediction of it).

Returns:
    `float32` sRGB images `[B, H, W, 3]` in `[0, 255]`."""


def _srgb_to_linear(o, c):
    return o.where(
        c > 0.04045,
        o.power((o.maximum(c, 0.04045) + 0.055) / 1.055, 2.4),
        c / 12.92,
    )


def _linear_to_srgb(o, c):
    return o.where(
        c > 0.0031308,
        1.055 * o.power(o.maximum(c, 0.0031308), 1.0 / 2.4) - 0.055,
        12.92 * c,
    )


def _f(o, t):
    return o.where(
        t > _EPSILON,
        o.power(o.maximum(t, _EPSILON), 1.0 / 3.0),
        _KAPPA * t + 16.0 / 116.0,
    )


def _f_inverse(o, f):
    threshold = _EPSILON ** (1.0 / 3.0)
    return o.where(
        f > threshold,
        o.power(o.maximum(f, threshold), 3.0),
        (f - 16.0 / 116.0) / _KAPPA,
    )


def _matvec(matrix, x, y, z):
    # Elementwise products, not a matmul: exact float32 on accelerators
    # whose matmuls default to reduced precision (TF32).
    return [row[0] * x + row[1] * y + row[2] * z for row in matrix]


@fill_doc(rgb_to_lab_doc=RGB_TO_LAB_DOC)
def rgb_to_lab(rgb):
    """Converts sRGB colours to CIE L*a*b* (D65 white), with `keras.ops`.

    The standard sRGB transfer curve, sRGB primaries to CIE XYZ, and the
    CIE 1976 L*a*b* formulas relative to the D65 white of the 2 degree
    observer, as scikit-image's `rgb2lab`. `kzoo.data.rgb_to_lab` is the
    same computation with TensorFlow (for `tf.data`).

    {rgb_to_lab_doc}

    Example:

    ```python
    from kzoo.layers.colorization_split import rgb_to_lab
    lab = rgb_to_lab(np.array([1.0, 0.0, 0.0]))  # about [53.24, 80.09, 67.20]
    ```
    """
    return rgb_to_lab_ops(KERAS_OPS, rgb)


def rgb_to_lab_ops(o, rgb):
    """`rgb_to_lab` on the ops namespace `o` (`kzoo._data_ops`)."""
    linear = _srgb_to_linear(o, o.cast(rgb, "float32"))
    xyz = _matvec(_XYZ_FROM_RGB, linear[..., 0], linear[..., 1],
                  linear[..., 2])
    fx, fy, fz = [_f(o, v / w) for v, w in zip(xyz, _D65)]
    return o.stack(
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1
    )


def lab_to_rgb(lab):
    """Converts CIE L*a*b* (D65 white) colours to sRGB, with `keras.ops`.

    The inverse of `rgb_to_lab` with scikit-image's `lab2rgb` conventions:
    a negative Z (a very large `b`) is set to 0, and colours outside the
    sRGB gamut are clipped to `[0, 1]`. `kzoo.data.lab_to_rgb` is the same
    computation with TensorFlow.

    Args:
        lab: tensor `[..., 3]` of `(L, a, b)` colours.

    Returns:
        `float32` tensor `[..., 3]` of sRGB colours in `[0, 1]`.
    """
    return lab_to_rgb_ops(KERAS_OPS, lab)


def lab_to_rgb_ops(o, lab):
    """`lab_to_rgb` on the ops namespace `o` (`kzoo._data_ops`)."""
    lab = o.cast(lab, "float32")
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = o.maximum(fy - lab[..., 2] / 200.0, 0.0)
    x, y, z = [_f_inverse(o, f) * w for f, w in zip((fx, fy, fz), _D65)]
    linear = o.stack(_matvec(_RGB_FROM_XYZ, x, y, z), axis=-1)
    return o.clip(_linear_to_srgb(o, linear), 0.0, 1.0)


def _lightness_to_gray(o, lightness):
    # sRGB grey of lightness L (a = b = 0): linear R = G = B = Y / Yn = Y.
    return _linear_to_srgb(o, _f_inverse(o, (lightness + 16.0) / 116.0))


def _check_images(shape, name):
    if len(shape) < 1 or shape[-1] != 3:
        raise ValueError(
            f"`{name}` takes RGB images (last axis 3). "
            f"Received: images.shape={tuple(shape)}"
        )


def _check_target(target):
    if target not in ("lab", "rgb"):
        raise ValueError(
            f"`target` must be 'lab' or 'rgb'. Received: target={target}"
        )
    return target


def colorization_split(o, images, target, name="ColorizationSplit"):
    """The colourisation task written once on the ops namespace `o`
    (`kzoo._data_ops`): `float32` grey inputs in `[0, 255]` and the
    `"lab"` (ab / 128) or `"rgb"` target."""
    _check_images(images.shape, name)
    rgb = o.cast(images, "float32") / 255.0
    lab = rgb_to_lab_ops(o, rgb)
    gray = _lightness_to_gray(o, lab[..., :1])
    inputs = o.repeat(gray, 3, axis=-1) * 255.0
    return inputs, (lab[..., 1:] / 128.0 if target == "lab" else rgb)


def colorize_ops(o, inputs, ab):
    """`ColorizationSplit.colorize` on the ops namespace `o`."""
    gray = o.cast(inputs, "float32")[..., :1] / 255.0
    lightness = rgb_to_lab_ops(o, o.repeat(gray, 3, axis=-1))[..., :1]
    lab = o.concatenate([lightness, o.cast(ab, "float32") * 128.0], axis=-1)
    return lab_to_rgb_ops(o, lab) * 255.0


@kzoo_export("kzoo.layers.ColorizationSplit")
class ColorizationSplit(PretextLayer):
    """Splits images into a grey input and a colour target.

    The colourisation task of Zhang et al. (2016) and Larsson et al.
    (2016), computed with `keras.ops` so that it runs on any backend
    (TensorFlow, JAX, PyTorch), inside a training step on an accelerator,
    and in a `tf.data` map under any backend (with TensorFlow there).
    `kzoo.data.ColorizationPretext`, the `tf.data` transform, runs the same
    implementation (`colorization_split`). The network sees only the lightness
    of an image and predicts its colour: the input is the CIE L* channel
    rendered as the neutral sRGB grey of the same lightness
    (`lab_to_rgb((L, 0, 0))`, three exactly equal channels) in `[0, 255]`.

    With `target="lab"` (default), the target is the chrominance, the
    `(a, b)` channels of CIE Lab divided by 128, `[B, H, W, 2]` roughly in
    `[-1, 1]` (a regression target for a pixel loss). With `target="rgb"`,
    the target is the original image as sRGB in `[0, 1]`, `[B, H, W, 3]`.
    `ColorizationSplit.colorize(inputs, ab)` recombines a grey input and a
    (predicted) `"lab"` target into an sRGB image. Nothing is random.

    Input: images `[..., H, W, 3]` of sRGB pixels in `[0, 255]` (any
    dtype). Output: a tuple `(inputs, targets)`, floats of the layer's
    compute dtype (`float32` by default; the colour maths runs in
    `float32`). The layer is applied in training and inference alike (its
    outputs define the task).

    Args:
        target: `"lab"` (ab / 128) or `"rgb"` (sRGB in `[0, 1]`). Defaults
            to `"lab"`.
        **kwargs: base layer arguments.

    Example:

    ```python
    split = kzoo.layers.ColorizationSplit()
    gray, ab = split(images)  # inside a custom train_step
    rgb = kzoo.layers.ColorizationSplit.colorize(gray, model(gray))
    ```

    References:
        - [Zhang et al., 2016, "Colorful Image Colorization"](
          https://arxiv.org/abs/1603.08511).
        - [Larsson et al., 2016, "Learning Representations for Automatic
          Colorization"](https://arxiv.org/abs/1603.06668).
    """

    def __init__(self, target="lab", **kwargs):
        super().__init__(**kwargs)
        self.target = _check_target(target)

    _random = False  # nothing is random: no seed

    def _task(self, o, images, seed):
        return colorization_split(o, images, self.target)

    @staticmethod
    @fill_doc(colorize_doc=COLORIZE_DOC)
    def colorize(inputs, ab):
        """sRGB `float32` pixels in `[0, 255]` from a grey input and ab / 128.

        {colorize_doc}
        """
        return colorize_ops(KERAS_OPS, inputs, ab)

    def compute_output_spec(self, images):
        _check_images(images.shape, type(self).__name__)
        shape = tuple(images.shape)
        channels = 2 if self.target == "lab" else 3
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape[:-1] + (channels,),
                              dtype=self.compute_dtype),
        )

    def _task_config(self):
        return {"target": self.target}
