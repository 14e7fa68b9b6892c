"""Siamese, triplet and multi-stream networks built from embedding towers.

All three are plain functional `keras.Model`s assembled from built-in layers
and `kzoo.layers.Distance`, so they save to and load from `.keras` files
without custom model classes, and a tower used twice is one layer with one
set of weights.
"""

import keras

from kzoo._api import kzoo_export
from kzoo.layers.distance import Distance


def _tower_input_shape(tower, input_shape, arg_name="input_shape"):
    if input_shape is not None:
        return tuple(input_shape)
    try:
        inputs = tower.inputs
    except (AttributeError, ValueError):  # a layer, an unbuilt Sequential
        inputs = None
    if inputs:
        if len(inputs) != 1:
            raise ValueError(
                "A tower must take a single input tensor. "
                f"Received: tower.inputs={inputs}"
            )
        return tuple(inputs[0].shape[1:])
    raise ValueError(
        f"Cannot infer the input shape of tower {getattr(tower, 'name', tower)!r}"
        f" (it is not a built functional/Sequential model): pass "
        f"`{arg_name}`. Received: {arg_name}=None"
    )


def _check_tower(tower, arg_name="tower"):
    if not isinstance(tower, keras.layers.Layer):
        raise ValueError(
            f"`{arg_name}` must be a `keras.Model` (or layer) mapping inputs "
            f"to `[B, D]` embeddings. Received: {arg_name}={tower!r}"
        )


def _embedding_shape(tower, input_shape):
    try:
        outputs = tower.outputs
    except (AttributeError, ValueError):
        outputs = None
    if outputs:
        return tuple(outputs[0].shape)
    return tuple(tower.compute_output_shape((None,) + tuple(input_shape)))


@kzoo_export("kzoo.models.siamese_network")
def siamese_network(tower, distance="l2", input_shape=None, name="siamese"):
    """Siamese network: one shared tower embeds two inputs, compared by distance.

    Returns a functional `keras.Model` with two inputs (`input_a`,
    `input_b`, each `[B, *input_shape]`), both embedded by the *same* `tower`
    (one set of weights: the model's variables are the tower's) and merged
    by `kzoo.layers.Distance(distance)` into `[B, 1]` float32 distances.
    Train it with a contrastive loss on `((x1, x2), y)` batches from
    `kzoo.data.pair_dataset`, where `y = 0` marks a similar pair and `y = 1`
    a dissimilar one (keras-io's Keras 3 convention); evaluate with
    `kzoo.eval.verification_accuracy` / `kzoo.eval.roc_auc` on the predicted
    distances. `model.get_layer(tower.name)` is the trained tower.

    Args:
        tower: a `keras.Model` mapping `[B, *input_shape]` to embeddings
            `[B, D]`.
        distance: `"l2"`, `"squared_l2"` or `"cosine"` (see
            `kzoo.layers.Distance`). Defaults to `"l2"`.
        input_shape: shape of one input, without the batch axis. Defaults to
            `None` (the tower's own input shape).
        name: name of the model. Defaults to `"siamese"`.

    Returns:
        A `keras.Model` `[x1, x2] -> [B, 1]` distances.

    Example:

    ```python
    tower = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              kzoo.layers.EmbeddingHead(32)])
    model = kzoo.models.siamese_network(tower)
    model.compile("adam", loss=contrastive_loss)
    model.fit(kzoo.data.pair_dataset(images, labels, 64, seed=0), epochs=5)
    ```

    Reference:
        - [Bromley et al., 1993, "Signature Verification using a Siamese
          Time Delay Neural Network"](https://papers.nips.cc/paper/769).
        - [keras-io siamese network with a contrastive loss](
          https://keras.io/examples/vision/siamese_contrastive/).
    """
    _check_tower(tower)
    shape = _tower_input_shape(tower, input_shape)
    distance_layer = Distance(distance, name="distance")
    input_a = keras.Input(shape, name="input_a")
    input_b = keras.Input(shape, name="input_b")
    outputs = distance_layer([tower(input_a), tower(input_b)])
    return keras.Model([input_a, input_b], outputs, name=name)


@kzoo_export("kzoo.models.triplet_network")
def triplet_network(tower, input_shape=None, name="triplet"):
    """Triplet network: one shared tower embeds `[B, 3, ...]` triplets.

    Returns a functional `keras.Model` taking a stacked batch of triplets
    `[B, 3, *input_shape]` (anchor, positive, negative along axis 1, as
    yielded by `kzoo.data.triplet_dataset` and
    `kzoo.data.OfflineHardMiner`) and returning the stacked embeddings
    `[B, 3, D]`, the `y_pred` of a triplet loss without mining
    (`TripletLoss(mining="none")`). The tower is applied to each of the three
    slices by `keras.layers.TimeDistributed`: one set of weights, and each
    slice is a separate tower call (BatchNormalization statistics are those
    of the `B` anchors, positives and negatives separately).
    `model.get_layer("towers").layer` is the trained tower. Separate
    anchor, positive and negative arrays are fed as
    `np.stack([anchors, positives, negatives], axis=1)`.

    Args:
        tower: a `keras.Model` mapping `[B, *input_shape]` to embeddings
            `[B, D]`.
        input_shape: shape of one example, without the batch and triplet
            axes. Defaults to `None` (the tower's own input shape).
        name: name of the model. Defaults to `"triplet"`.

    Returns:
        A `keras.Model` `[B, 3, *input_shape] -> [B, 3, D]`.

    Example:

    ```python
    model = kzoo.models.triplet_network(tower)
    embeddings = model.predict(triplets)  # [B, 3, D]
    anchor, positive, negative = (embeddings[:, i] for i in range(3))
    ```

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832).
        - [keras-io siamese network with a triplet loss](
          https://keras.io/examples/vision/siamese_network/).
    """
    _check_tower(tower)
    shape = _tower_input_shape(tower, input_shape)
    inputs = keras.Input((3,) + shape, name="triplets")
    outputs = keras.layers.TimeDistributed(tower, name="towers")(inputs)
    return keras.Model(inputs, outputs, name=name)


@kzoo_export("kzoo.models.multi_stream_network")
def multi_stream_network(towers, distance="l2", input_shapes=None,
                         name="multi_stream"):
    """Multi-stream network: different towers, embeddings compared by distance.

    For inputs of different domains or shapes (a photo and a sketch, an
    image and a text vector, ...), each input gets its own tower; the
    towers must produce embeddings of the same width `D`, which are compared
    with `kzoo.layers.Distance(distance)`. With two towers the output is
    the `[B, 1]` distance `d(e_0, e_1)`, exactly like `siamese_network` but
    without weight sharing; with `n > 2` towers it is `[B, n (n - 1) / 2]`,
    the distances of every pair `(i, j)`, `i < j`, in the order
    `(0, 1), (0, 2), ..., (1, 2), ...`. Passing the same tower object twice
    shares its weights between those streams.

    Args:
        towers: list of at least two `keras.Model`s, tower `i` mapping
            `[B, *input_shapes[i]]` to `[B, D]`.
        distance: `"l2"`, `"squared_l2"` or `"cosine"`. Defaults to `"l2"`.
        input_shapes: list of the towers' input shapes (without the batch
            axis). Defaults to `None` (each tower's own input shape).
        name: name of the model. Defaults to `"multi_stream"`.

    Returns:
        A `keras.Model` `[x_0, ..., x_{n-1}] -> [B, n (n - 1) / 2]`.

    Example:

    ```python
    photo = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              kzoo.layers.EmbeddingHead(16)])
    text = keras.Sequential([keras.Input((300,)),
                             kzoo.layers.EmbeddingHead(16)])
    model = kzoo.models.multi_stream_network([photo, text], distance="cosine")
    d = model([photos, vectors])  # [B, 1]
    ```

    Reference:
        - [Hadsell et al., 2006, "Dimensionality Reduction by Learning an
          Invariant Mapping"](http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf).
    """
    towers = list(towers)
    if len(towers) < 2:
        raise ValueError(
            "`towers` must contain at least two towers. "
            f"Received: towers={towers}"
        )
    for i, tower in enumerate(towers):
        _check_tower(tower, f"towers[{i}]")
    if input_shapes is None:
        input_shapes = [None] * len(towers)
    input_shapes = list(input_shapes)
    if len(input_shapes) != len(towers):
        raise ValueError(
            "`input_shapes` must have one shape per tower "
            f"({len(towers)}). Received: input_shapes={input_shapes}"
        )
    shapes = [
        _tower_input_shape(t, s, f"input_shapes[{i}]")
        for i, (t, s) in enumerate(zip(towers, input_shapes))
    ]
    out_shapes = [_embedding_shape(t, s)[1:] for t, s in zip(towers, shapes)]
    if len(set(out_shapes)) != 1:
        raise ValueError(
            "All towers must produce embeddings of the same shape `[B, D]` "
            "to be compared by a distance. "
            f"Received: towers output shapes={[(None,) + s for s in out_shapes]}"
        )
    distance_layer = Distance(distance, name="distance")
    inputs = [keras.Input(s, name=f"input_{i}") for i, s in enumerate(shapes)]
    embeddings = [t(x) for t, x in zip(towers, inputs)]
    distances = [
        distance_layer([embeddings[i], embeddings[j]])
        for i in range(len(towers))
        for j in range(i + 1, len(towers))
    ]
    if len(distances) == 1:
        outputs = distances[0]
    else:
        outputs = keras.layers.Concatenate(axis=-1, name="distances")(distances)
    return keras.Model(inputs, outputs, name=name)
