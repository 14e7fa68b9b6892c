"""Colourisation pretext task and sRGB <-> CIE Lab conversions."""

from kzoo._api import kzoo_export
from kzoo._data_ops import TF_OPS
from kzoo._docs import fill_doc
from kzoo.data._config import ConstructorConfig
from kzoo.layers.colorization_split import COLORIZE_DOC
from kzoo.layers.colorization_split import RGB_TO_LAB_DOC
from kzoo.layers.colorization_split import _check_target
from kzoo.layers.colorization_split import colorization_split
from kzoo.layers.colorization_split import colorize_ops
from kzoo.layers.colorization_split import lab_to_rgb_ops
from kzoo.layers.colorization_split import rgb_to_lab_ops


@kzoo_export("kzoo.data.rgb_to_lab")
@fill_doc(rgb_to_lab_doc=RGB_TO_LAB_DOC)
def rgb_to_lab(rgb):
    """Converts sRGB colours to CIE L*a*b* (D65 white).

    The standard sRGB transfer curve, sRGB primaries to CIE XYZ, and the
    CIE 1976 L*a*b* formulas relative to the D65 white of the 2 degree
    observer: the same constants and results as scikit-image's `rgb2lab`.
    With TensorFlow (for `tf.data`); the computation is
    `kzoo.layers.colorization_split.rgb_to_lab`'s.

    {rgb_to_lab_doc}

    Example:

    >>> lab = kzoo.data.rgb_to_lab([1.0, 0.0, 0.0])  # sRGB red
    >>> # lab is about [53.24, 80.09, 67.20]
    """
    return rgb_to_lab_ops(TF_OPS, rgb)


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
    return lab_to_rgb_ops(TF_OPS, lab)


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
        self.target = _check_target(target)

    def __call__(self, images, seed=None):
        return colorization_split(TF_OPS, images, self.target,
                                  name=type(self).__name__)

    @staticmethod
    @fill_doc(colorize_doc=COLORIZE_DOC)
    def colorize(inputs, ab):
        """sRGB `float32` pixels in `[0, 255]` from a grey input and ab / 128.

        {colorize_doc}
        """
        return colorize_ops(TF_OPS, inputs, ab)
