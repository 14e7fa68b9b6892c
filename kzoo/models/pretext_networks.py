"""Classifiers over a backbone for the pretext tasks with class labels."""

import keras
from keras import layers

from kzoo._api import kzoo_export
from kzoo.layers.batch_normalization import BatchNormalization


def _check_classes(num_classes, name):
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(
            f"`{name}` must be an integer >= 2. Received: {name}={num_classes}")


@kzoo_export("kzoo.models.pretext_classifier")
def pretext_classifier(backbone, num_classes, hidden_dims=(),
                       feature_batch_norm=True, name=None):
    """`images -> logits`: a backbone and an MLP over its pooled features.

    The network of the pretext tasks whose label is one class per input:
    rotation prediction (4 classes, Gidaris et al. 2018, RotNet) and the
    DeepCluster pseudo-labels. Hidden blocks are `Dense -> BatchNorm ->
    ReLU`; the output is a linear layer (logits: train with
    `SparseCategoricalCrossentropy(from_logits=True)`) in float32.

    kzoo's ResNet backbones pool features that are not normalised (the
    pre-activation ResNet-20 of keras-io's SimSiam has no final BN-ReLU:
    feature norms are about 100 at initialisation), so a linear layer on
    them starts with logits of magnitude ~10 and SGD at the usual CIFAR
    learning rate 0.1 diverges. `feature_batch_norm` puts a
    `BatchNormalization` between the features and the head.

    Args:
        backbone: a `keras.Model` mapping images to features `[B, F]`.
        num_classes: number of pretext classes.
        hidden_dims: hidden widths of the head. Defaults to `()` (linear).
        feature_batch_norm: batch-normalise the features before the head.
            Defaults to `True`.
        name: model name. Defaults to `"pretext_classifier"`.

    Returns:
        A functional `keras.Model` with the backbone as a nested model
        (evaluate and export `backbone`).
    """
    _check_classes(num_classes, "num_classes")
    inputs = keras.Input(tuple(backbone.inputs[0].shape[1:]), name="images")
    x = backbone(inputs)
    if feature_batch_norm:
        x = BatchNormalization(name="feature_bn")(x)
    for i, units in enumerate(hidden_dims):
        x = layers.Dense(int(units), use_bias=False, name=f"head_dense_{i}")(x)
        x = BatchNormalization(name=f"head_bn_{i}")(x)
        x = layers.ReLU(name=f"head_relu_{i}")(x)
    logits = layers.Dense(int(num_classes), name="logits", dtype="float32")(x)
    return keras.Model(inputs, logits, name=name or "pretext_classifier")


@kzoo_export("kzoo.models.jigsaw_network")
def jigsaw_network(backbone, num_permutations, num_tiles=9, hidden_dim=1024,
                   name=None):
    """Context-free network of Noroozi & Favaro (2016): shared tile tower.

    Input `[B, num_tiles, t, t, 3]`: every tile goes through the same
    backbone (shared weights, `TimeDistributed`), each tile's features
    through a shared `Dense(hidden_dim) -> BatchNorm -> ReLU` (the paper's
    per-tile fc6), the `num_tiles` results are concatenated in tile order
    and a `Dense(hidden_dim) -> BatchNorm -> ReLU` (fc7) then a linear layer
    give the logits over the permutation set. The tiles only meet after the
    tower, so the backbone cannot solve the puzzle from low-level edge
    continuity of neighbouring pixels (the reason for the gap between
    tiles, `kzoo.data.JigsawPretext`).

    Args:
        backbone: a `keras.Model` mapping `[B, t, t, 3]` tiles to `[B, F]`.
        num_permutations: size of the permutation set (classes).
        num_tiles: tiles per puzzle. Defaults to `9`.
        hidden_dim: width of fc6 and fc7. Defaults to `1024`.
        name: model name. Defaults to `"jigsaw_network"`.

    Returns:
        A functional `keras.Model` `[B, num_tiles, t, t, 3] -> [B, N]` logits.

    Reference:
        - [Noroozi & Favaro, 2016, "Unsupervised Learning of Visual
          Representations by Solving Jigsaw Puzzles"](
          https://arxiv.org/abs/1603.09246).
    """
    _check_classes(num_permutations, "num_permutations")
    tile_shape = tuple(backbone.inputs[0].shape[1:])
    inputs = keras.Input((int(num_tiles),) + tile_shape, name="tiles")
    x = layers.TimeDistributed(backbone, name="tile_tower")(inputs)
    x = layers.TimeDistributed(
        layers.Dense(hidden_dim, use_bias=False), name="fc6")(x)
    x = layers.TimeDistributed(BatchNormalization(), name="fc6_bn")(x)
    x = layers.ReLU(name="fc6_relu")(x)
    x = layers.Flatten(name="concat_tiles")(x)
    x = layers.Dense(hidden_dim, use_bias=False, name="fc7")(x)
    x = BatchNormalization(name="fc7_bn")(x)
    x = layers.ReLU(name="fc7_relu")(x)
    logits = layers.Dense(int(num_permutations), name="logits",
                          dtype="float32")(x)
    return keras.Model(inputs, logits, name=name or "jigsaw_network")
