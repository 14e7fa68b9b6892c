"""A small Darknet-style backbone (tiny-YOLO's) trained from scratch."""

import numbers

import keras
from keras import layers

from kzoo._api import kzoo_export
from kzoo.layers._batch_norm import batch_normalization


@kzoo_export("kzoo.models.tiny_darknet")
def tiny_darknet(input_shape=(320, 320, 3), width=16, output_stride=32,
                 bn_momentum=0.99, synchronized_bn=False, name="tiny_darknet"):
    """Tiny-YOLO's backbone: 3 x 3 conv-BN-LeakyReLU blocks and max-pooling.

    Six `3 x 3 Conv (no bias) -> BatchNormalization -> LeakyReLU(0.1)`
    blocks with `width, 2 width, ..., 32 width` filters (16 ... 512 by
    default, as tiny-YOLOv2's first six convolutions); a `2 x 2` max-pool
    with stride 2 follows each of the first `log2(output_stride)` blocks.
    The input is rescaled from `[0, 255]` inside the model (`Rescaling(1 /
    255)`, as darknet feeds `[0, 1]` pixels), so an exported detector takes
    raw pixels. Output: the feature map `[N, H / stride, W / stride, 32
    width]` (a `10 x 10` grid for a 320 input at stride 32).

    At `width=16`, 320 x 320 inputs: about 1.6 M parameters and 0.63
    GMAC per image (a from-scratch backbone: this machine cannot download
    pretrained weights).

    Args:
        input_shape: `(H, W, 3)`; `H` and `W` multiples of `output_stride`
            (or `None`). Defaults to `(320, 320, 3)`.
        width: filters of the first block, doubled at each block. Defaults
            to `16`.
        output_stride: `32` (five pools) or `16` (four). Defaults to `32`.
        bn_momentum: momentum of the BatchNormalization moving statistics
            (what inference uses; lower it for very short trainings).
            Defaults to `0.99` (darknet's and Keras').
        synchronized_bn: cross-replica batch statistics. Defaults to
            `False`.
        name: model name. Defaults to `"tiny_darknet"`.

    Returns:
        A functional `keras.Model`: float images in `[0, 255]` -> features.

    Example:

    >>> backbone = kzoo.models.tiny_darknet((320, 320, 3))
    >>> backbone.output_shape
    (None, 10, 10, 512)

    Reference:
        - [Redmon & Farhadi, 2017, "YOLO9000"](
          https://arxiv.org/abs/1612.08242); darknet's `yolov2-tiny.cfg`.
    """
    if (isinstance(width, bool) or not isinstance(width, numbers.Integral)
            or width < 1):
        raise ValueError(
            f"`width` must be a positive integer. Received: width={width!r}")
    if output_stride not in (16, 32):
        raise ValueError("`output_stride` must be 16 or 32. "
                         f"Received: output_stride={output_stride!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError("`input_shape` must be (H, W, channels). "
                         f"Received: input_shape={input_shape}")
    for side in input_shape[:2]:
        if side is not None and side % output_stride:
            raise ValueError(
                f"`input_shape` sides must be multiples of output_stride="
                f"{output_stride}. Received: input_shape={input_shape}")
    if not 0.0 <= bn_momentum < 1.0:
        raise ValueError("`bn_momentum` must be in [0, 1). "
                         f"Received: bn_momentum={bn_momentum!r}")
    pools = {16: 4, 32: 5}[output_stride]
    inputs = keras.Input(input_shape, name="images")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i in range(6):
        x = layers.Conv2D(width * 2 ** i, 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal",
                          name=f"conv{i}")(x)
        x = batch_normalization(momentum=bn_momentum,
                                synchronized=synchronized_bn,
                                name=f"bn{i}")(x)
        x = layers.LeakyReLU(0.1, name=f"leaky{i}")(x)
        if i < pools:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return keras.Model(inputs, x, name=name)
