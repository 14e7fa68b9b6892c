"""ResNet backbones for 32x32 inputs (CIFAR stems: no stride-2 stem, no max-pool).

Each function builds a functional `keras.Model` from its arguments that maps
float images with pixel values in `[0, 255]` (the rescaling is inside the
model, so an exported model can take raw pixels) to pooled features `[B, D]`.
The global-average-pooling layer is named `"backbone_pool"`.
"""

import keras
from keras import layers

from kzoo._api import kzoo_export
from kzoo.layers._batch_norm import batch_normalization


def _bn(synchronized, name):
    return batch_normalization(synchronized=synchronized, name=name)


def _conv(filters, kernel, strides=1, name=None, kernel_initializer="he_normal"):
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        kernel_initializer=kernel_initializer,
        name=name,
    )


def _preact_bottleneck(x, filters, expansion, strides, projection, sync, name):
    """Pre-activation bottleneck block (He et al. 2016b, fig. 4e / 5)."""
    shortcut = x
    if projection:
        # As in keras-idiomatic-programmer's resnet_cifar10_v2 (the backbone
        # keras-io's SimSiam uses): the projection shortcut takes the block
        # input before its BN-ReLU.
        shortcut = _conv(filters * expansion, 1, strides, name=f"{name}_proj")(x)
    x = _bn(sync, f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = _conv(filters, 1, name=f"{name}_conv1")(x)
    x = _bn(sync, f"{name}_bn2")(x)
    x = layers.ReLU(name=f"{name}_relu2")(x)
    x = _conv(filters, 3, strides, name=f"{name}_conv2")(x)
    x = _bn(sync, f"{name}_bn3")(x)
    x = layers.ReLU(name=f"{name}_relu3")(x)
    x = _conv(filters * expansion, 1, name=f"{name}_conv3")(x)
    return layers.Add(name=f"{name}_add")([shortcut, x])


@kzoo_export("kzoo.models.cifar_resnet_v2")
def cifar_resnet_v2(
    depth=20,
    input_shape=(32, 32, 3),
    final_activation=False,
    synchronized_bn=False,
    name=None,
):
    """Pre-activation bottleneck ResNet for CIFAR (ResNet v2, depth 9n+2).

    The architecture of keras-idiomatic-programmer's `resnet_cifar10_v2`,
    which keras-io's SimSiam example uses as its "ResNet-20": a 3x3, 16
    filter stem, then three stages of bottleneck blocks (16x4, 64x2 and
    128x2 output filters; the last two stages stride 2), each stage a
    projection block followed by `depth // 9 - 1` identity blocks, then
    global average pooling. Output width: 256.

    Args:
        depth: network depth, `9n + 2` with `n >= 2` (20, 56, 110, 164, ...).
            Defaults to `20`.
        input_shape: input image shape. Defaults to `(32, 32, 3)`.
        final_activation: add a final BatchNormalization + ReLU before the
            pooling, as the full ResNet v2 classifier does. keras-io's
            SimSiam encoder pools the raw last block output, so this is off
            by default. Defaults to `False`.
        synchronized_bn: synchronise batch statistics across replicas under
            `tf.distribute` (`BatchNormalization(synchronized=True)`), so a
            step on N replicas equals the step on one device (on JAX,
            `keras.distribution.DataParallel` does so without it). Defaults
            to `False`.
        name: model name. Defaults to `f"resnet{depth}_cifar"`.

    Returns:
        A functional `keras.Model`: `[B, H, W, 3]` pixels in `[0, 255]` ->
        `[B, 256]` features.

    Example:

    >>> backbone = kzoo.models.cifar_resnet_v2(depth=20)
    >>> backbone.output_shape
    (None, 256)

    Reference:
        - [He et al., 2016, "Identity Mappings in Deep Residual Networks"](
          https://arxiv.org/abs/1603.05027).
    """
    if depth < 20 or (depth - 2) % 9 != 0:
        raise ValueError(
            "`depth` must be 9n + 2 with n >= 2 (20, 29, 38, 56, 110, ...). "
            f"Received: depth={depth}"
        )
    n_blocks = (depth - 2) // 9 - 1
    inputs = keras.Input(input_shape, name="images")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
    x = _conv(16, 3, name="stem_conv")(x)
    x = _bn(synchronized_bn, "stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, (filters, expansion, strides) in enumerate(
        [(16, 4, 1), (64, 2, 2), (128, 2, 2)]
    ):
        for block in range(n_blocks + 1):
            x = _preact_bottleneck(
                x,
                filters,
                expansion,
                strides if block == 0 else 1,
                projection=block == 0,
                sync=synchronized_bn,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    if final_activation:
        x = _bn(synchronized_bn, "final_bn")(x)
        x = layers.ReLU(name="final_relu")(x)
    x = layers.GlobalAveragePooling2D(name="backbone_pool")(x)
    return keras.Model(inputs, x, name=name or f"resnet{depth}_cifar")


@kzoo_export("kzoo.models.resnet20_cifar")
def resnet20_cifar(input_shape=(32, 32, 3), synchronized_bn=False, name=None):
    """ResNet-20 (v2 bottleneck) as in keras-io's SimSiam example.

    Shorthand for `kzoo.models.cifar_resnet_v2(depth=20, ...)`; about 0.57M
    parameters, 256-d features.

    Args:
        input_shape: input image shape. Defaults to `(32, 32, 3)`.
        synchronized_bn: cross-replica batch statistics. Defaults to
            `False`.
        name: model name. Defaults to `"resnet20_cifar"`.

    Returns:
        A functional `keras.Model` mapping pixels in `[0, 255]` to `[B, 256]`.
    """
    return cifar_resnet_v2(
        20,
        input_shape=input_shape,
        synchronized_bn=synchronized_bn,
        name=name or "resnet20_cifar",
    )


def _basic_block(x, filters, strides, sync, name):
    """Post-activation basic block (He et al. 2016a)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=strides, use_bias=False,
            kernel_initializer="he_normal", name=f"{name}_proj",
        )(x)
        shortcut = _bn(sync, f"{name}_proj_bn")(shortcut)
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv1",
    )(x)
    x = _bn(sync, f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(
        filters, 3, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv2",
    )(x)
    x = _bn(sync, f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


@kzoo_export("kzoo.models.resnet18_cifar")
def resnet18_cifar(
    input_shape=(32, 32, 3), width=64, synchronized_bn=False, name=None
):
    """ResNet-18 with a CIFAR stem (3x3 stride-1 convolution, no max-pool).

    The variant solo-learn and lightly use for CIFAR benchmarks: basic blocks
    `[2, 2, 2, 2]` with `width * (1, 2, 4, 8)` filters, then global average
    pooling (512-d features at the default width; about 11.2M parameters).

    Args:
        input_shape: input image shape. Defaults to `(32, 32, 3)`.
        width: filters of the first stage. Defaults to `64`.
        synchronized_bn: cross-replica batch statistics. Defaults to
            `False`.
        name: model name. Defaults to `"resnet18_cifar"`.

    Returns:
        A functional `keras.Model` mapping pixels in `[0, 255]` to
        `[B, 8 * width]`.

    Reference:
        - [He et al., 2016, "Deep Residual Learning for Image Recognition"](
          https://arxiv.org/abs/1512.03385).
    """
    inputs = keras.Input(input_shape, name="images")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
    x = layers.Conv2D(
        width, 3, padding="same", use_bias=False,
        kernel_initializer="he_normal", name="stem_conv",
    )(x)
    x = _bn(synchronized_bn, "stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, mult in enumerate((1, 2, 4, 8)):
        for block in range(2):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = _basic_block(
                x, width * mult, strides, synchronized_bn,
                name=f"stage{stage + 1}_block{block + 1}",
            )
    x = layers.GlobalAveragePooling2D(name="backbone_pool")(x)
    return keras.Model(inputs, x, name=name or "resnet18_cifar")
