"""The neutral grey of an image's lightness, as a layer."""

import keras
from keras import ops

from kzoo._api import kzoo_export

# The luminance row (Y) of sRGB -> CIE XYZ, scikit-image's constants (the
# ones `kzoo.data.rgb_to_lab` uses).
_Y_FROM_LINEAR_RGB = (0.212671, 0.715160, 0.072169)


@kzoo_export("kzoo.layers.LuminanceGray")
class LuminanceGray(keras.layers.Layer):
    """Replaces each pixel by the neutral sRGB grey of the same lightness.

    The input that `kzoo.data.ColorizationPretext` gives its network,
    computed inside a model: so that a colorization encoder, trained on
    grey images, is evaluated and served on the same kind of input when
    it is given colour images.

    Formula:

    ```
    Y = 0.212671 R_lin + 0.715160 G_lin + 0.072169 B_lin   # CIE luminance
    grey = 255 * srgb(Y)          # R = G = B, the sRGB grey of lightness L*(Y)
    ```

    where `R_lin = srgb^-1(R / 255)` is the standard sRGB transfer curve.
    A neutral grey of luminance `Y` has linear `R = G = B = Y`, so this is
    `lab_to_rgb((L*, 0, 0))` of the pixel's `L*` without going through Lab.

    Input: `[..., 3]` sRGB pixels in `[0, 255]` (any dtype). Output: the
    same shape, `float32` (the layer's compute dtype), three equal channels
    in `[0, 255]`. No weights.

    Example:

    ```python
    encoder = keras.Sequential([keras.Input((32, 32, 3)),
                                kzoo.layers.LuminanceGray(), backbone])
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(
                "LuminanceGray takes RGB images (last axis 3). "
                f"Received: input_shape={input_shape}")

    def call(self, inputs):
        rgb = ops.cast(inputs, self.compute_dtype) / 255.0
        linear = ops.where(
            rgb > 0.04045,
            ops.power((ops.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4),
            rgb / 12.92)
        y = ops.sum(linear * ops.convert_to_tensor(
            _Y_FROM_LINEAR_RGB, self.compute_dtype), axis=-1, keepdims=True)
        y = ops.clip(y, 0.0, 1.0)
        gray = ops.where(
            y > 0.0031308,
            1.055 * ops.power(ops.maximum(y, 0.0031308), 1.0 / 2.4) - 0.055,
            12.92 * y)
        return ops.repeat(gray * 255.0, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
