"""Weighted k-nearest-neighbour evaluation of frozen embeddings.

Implements the weighted kNN classifier of Wu et al. (2018), "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination"
(https://arxiv.org/abs/1805.01978), in the form used by self-supervised
learning libraries to monitor representation quality:

- solo-learn, `solo/utils/knn.py` (`WeightedKNNClassifier`,
  `distance_fx="cosine"`),
- lightly, `lightly/utils/benchmarking/knn.py` (`knn_predict`).

The math is written with `keras.ops`, so it runs on any Keras backend; inputs
and outputs are NumPy arrays.
"""

import numbers

import keras
import numpy as np
from keras import ops

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int as _check_positive_int
from kzoo._docs import fill_doc

_NORM_EPSILON = 1e-12


def _to_numpy(x):
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    return ops.convert_to_numpy(x)


def _to_2d_float32(x, arg_name):
    x = np.asarray(_to_numpy(x), dtype="float32")
    if x.ndim != 2:
        raise ValueError(
            f"`{arg_name}` must be a 2D array of shape `(num_examples, dim)`. "
            f"Received: {arg_name}.shape={x.shape}"
        )
    return x


def _check_train_and_queries(train, queries, train_name, query_name,
                             what="embedding", nonempty_queries=False):
    """2D float32 `train` and `queries` arrays with the same width, `train`
    (and, if asked, `queries`) non-empty; errors name the arguments."""
    train = _to_2d_float32(train, train_name)
    queries = _to_2d_float32(queries, query_name)
    for x, name, check in ((train, train_name, True),
                           (queries, query_name, nonempty_queries)):
        if check and x.shape[0] == 0:
            raise ValueError(
                f"`{name}` must contain at least one example. "
                f"Received: {name}.shape={x.shape}"
            )
    dim = train.shape[1]
    if queries.shape[1] != dim:
        raise ValueError(
            f"`{query_name}` must have the same {what} size as "
            f"`{train_name}` ({dim}). "
            f"Received: {query_name}.shape={queries.shape}"
        )
    return train, queries


def _labels_1d(labels, num_examples, arg_name, examples_name, kind=""):
    """`labels` as a 1D array with one label per example (a `[N, 1]`
    column is flattened); `kind` names them in the error ("integer")."""
    labels = np.asarray(_to_numpy(labels))
    if labels.ndim == 2 and labels.shape[-1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1 or labels.shape[0] != num_examples:
        kind = f"{kind} " if kind else ""
        raise ValueError(
            f"`{arg_name}` must be a 1D array with one {kind}label per row "
            f"of `{examples_name}` ({num_examples} rows). "
            f"Received: {arg_name}.shape={labels.shape}"
        )
    return labels


def _check_num_classes(num_classes, max_label, message):
    """`num_classes`, or `max_label + 1` when it is `None`; `message`
    starts the error when a label is not below it."""
    if num_classes is None:
        return max_label + 1
    num_classes = _check_positive_int(num_classes, "num_classes")
    if max_label >= num_classes:
        raise ValueError(f"{message} must be smaller than `num_classes`. "
                         f"Received: num_classes={num_classes}")
    return num_classes


def _to_labels(labels, num_examples, arg_name, examples_name):
    labels = _labels_1d(labels, num_examples, arg_name, examples_name,
                        "integer")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        as_int = labels.astype("int64")
        if not np.array_equal(as_int, labels):
            raise ValueError(
                f"`{arg_name}` must contain integer class indices. "
                f"Received: {arg_name}.dtype={labels.dtype}"
            )
        labels = as_int
    labels = labels.astype("int64")
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"`{arg_name}` must contain non-negative class indices. "
            f"Received: min({arg_name})={int(labels.min())}"
        )
    return labels


def _l2_normalize(x):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, _NORM_EPSILON)


@kzoo_export("kzoo.eval.embed")
def embed(model, images, batch_size=256):
    """Computes embeddings of `images` with a frozen `model`.

    The model is run in inference mode (`training=False`) one batch at a time:
    a `keras.Model` through `model.predict_on_batch()` (its compiled predict
    function, without progress bars), any other callable (for instance a
    `keras.layers.Layer`) as `model(x, training=False)`. Each batch is cast to
    `float32` only when it is fed, so large `uint8` image arrays are never
    copied whole.

    Args:
        model: A `keras.Model` or a callable mapping a batch of images to a
            `(batch, dim)` tensor of embeddings.
        images: NumPy array of shape `(num_images, ...)`, any dtype.
        batch_size: Integer, number of images per forward pass.
            Defaults to `256`.

    Returns:
        A `float32` NumPy array of shape `(num_images, dim)`.

    Example:

    >>> backbone = keras.Sequential(
    ...     [keras.Input((8, 8, 3)), keras.layers.Flatten(),
    ...      keras.layers.Dense(16)])
    >>> images = np.zeros((10, 8, 8, 3), dtype="uint8")
    >>> kzoo.eval.embed(backbone, images, batch_size=4).shape
    (10, 16)
    """
    batch_size = _check_positive_int(batch_size, "batch_size")
    images = _to_numpy(images)
    num_images = len(images)
    strategy = getattr(model, "distribute_strategy", None)
    replicas = getattr(strategy, "num_replicas_in_sync", 1)
    if isinstance(model, keras.Model) and replicas == 1:
        def forward(x):
            return model.predict_on_batch(x)
    elif callable(model):
        # Also models built under a multi-replica tf.distribute strategy:
        # there `predict_on_batch` runs the whole batch on every replica and
        # concatenates the copies (Keras 3.15), returning too many rows.
        def forward(x):
            return model(x, training=False)
    else:
        raise ValueError(
            "`model` must be a `keras.Model` or a callable. "
            f"Received: model={model!r}"
        )

    outputs = []
    for start in range(0, num_images, batch_size):
        x = np.asarray(images[start : start + batch_size], dtype="float32")
        y = forward(x)
        if isinstance(y, (dict, list, tuple)):
            raise ValueError(
                "`model` must return a single `(batch, dim)` tensor, not a "
                "structure of outputs; wrap the embedding branch in its own "
                f"model. Received: output type={type(y).__name__}"
            )
        y = np.asarray(_to_numpy(y), dtype="float32")
        if y.ndim != 2:
            raise ValueError(
                "`model` must return embeddings of shape `(batch, dim)`; add "
                "e.g. `keras.layers.GlobalAveragePooling2D()` after a "
                f"convolutional backbone. Received: output shape={y.shape}"
            )
        outputs.append(y)
    if not outputs:
        raise ValueError(
            f"`images` must contain at least one image. "
            f"Received: images.shape={np.shape(images)}"
        )
    return np.concatenate(outputs, axis=0)


_KNN_ARGS = """k: Integer, number of neighbours. Clipped to `num_train`.
    Defaults to `200`.
temperature: Positive float, temperature of the exponential
    weighting. Defaults to `0.1`.
num_classes: Integer, number of classes. If `None`, uses
    `max(train_labels) + 1`. Defaults to `None`.
batch_size: Integer, number of queries processed at once.
    Defaults to `1024`."""


@kzoo_export("kzoo.eval.knn_predict")
@fill_doc(knn_args=_KNN_ARGS)
def knn_predict(
    train_embeddings,
    train_labels,
    query_embeddings,
    k=200,
    temperature=0.1,
    num_classes=None,
    batch_size=1024,
):
    """Predicts labels with a temperature-weighted cosine kNN classifier.

    This is the kNN monitor of Wu et al. (2018), as implemented by solo-learn
    (`WeightedKNNClassifier` with `distance_fx="cosine"`) and lightly
    (`knn_predict`): both sets of embeddings are L2-normalised, each query
    takes its `k` most cosine-similar training examples, each neighbour votes
    for its class with weight `exp(similarity / temperature)`, and the class
    with the largest total weight is predicted.

    Queries are processed in chunks of `batch_size`, so peak memory is about
    `batch_size * len(train_embeddings)` similarity values (~200 MB for the
    defaults and 50,000 training examples), independent of the number of
    queries. Each chunk's weights are computed as
    `exp((similarity - max_similarity) / temperature)`, which rescales every
    query's votes by a positive constant: predictions are those of the plain
    formula, without overflow at small temperatures. Zero embeddings are
    normalised with an epsilon and have similarity 0 to everything.

    Args:
        train_embeddings: Array of shape `(num_train, dim)`.
        train_labels: Integer array of shape `(num_train,)`.
        query_embeddings: Array of shape `(num_queries, dim)`.
        {knn_args}

    Returns:
        An `int64` NumPy array of shape `(num_queries,)` of predicted labels.

    Example:

    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> labels = np.array([0, 0, 1])
    >>> kzoo.eval.knn_predict(train, labels, np.array([[0.1, 1.0]]), k=2)
    array([1])

    References:
        - [Wu et al., 2018](https://arxiv.org/abs/1805.01978)
        - solo-learn `solo/utils/knn.py`,
          lightly `lightly/utils/benchmarking/knn.py`
    """
    train_embeddings, query_embeddings = _check_train_and_queries(
        train_embeddings, query_embeddings, "train_embeddings",
        "query_embeddings")
    num_train, dim = train_embeddings.shape
    train_labels = _to_labels(
        train_labels, num_train, "train_labels", "train_embeddings"
    )
    k = _check_positive_int(k, "k")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(
            "`temperature` must be a positive finite number. "
            f"Received: temperature={temperature!r}"
        )
    batch_size = _check_positive_int(batch_size, "batch_size")
    num_classes = _check_num_classes(num_classes, int(train_labels.max()),
                                     "`train_labels`")

    k = min(k, num_train)
    temperature = float(temperature)
    num_queries = query_embeddings.shape[0]
    if num_queries == 0:
        return np.zeros((0,), dtype="int64")

    train = _l2_normalize(ops.convert_to_tensor(train_embeddings))
    train_t = ops.transpose(train)
    labels = ops.convert_to_tensor(train_labels.astype("int32"))

    predictions = []
    for start in range(0, num_queries, batch_size):
        query = ops.convert_to_tensor(
            query_embeddings[start : start + batch_size]
        )
        query = _l2_normalize(query)
        chunk = ops.shape(query)[0]
        similarity = ops.matmul(query, train_t)  # (chunk, num_train)
        top_similarity, top_index = ops.top_k(similarity, k=k, sorted=True)
        del similarity  # Free the largest buffer before the next chunk.
        top_labels = ops.take(labels, top_index)  # (chunk, k)
        weights = ops.exp(
            (top_similarity - top_similarity[:, :1]) / temperature
        )
        # Scatter-add the weights into (chunk, num_classes) vote tables
        # without materialising a (chunk, k, num_classes) one-hot tensor.
        rows = ops.expand_dims(ops.arange(chunk, dtype="int32"), -1)
        segment_ids = ops.reshape(rows * num_classes + top_labels, (-1,))
        votes = ops.segment_sum(
            ops.reshape(weights, (-1,)),
            segment_ids,
            num_segments=chunk * num_classes,
        )
        votes = ops.reshape(votes, (chunk, num_classes))
        predictions.append(ops.convert_to_numpy(ops.argmax(votes, axis=-1)))
    return np.concatenate(predictions).astype("int64")


@kzoo_export("kzoo.eval.knn_accuracy")
@fill_doc(knn_args=_KNN_ARGS)
def knn_accuracy(
    train_embeddings,
    train_labels,
    query_embeddings,
    query_labels,
    k=200,
    temperature=0.1,
    num_classes=None,
    batch_size=1024,
):
    """Top-1 accuracy of the weighted cosine kNN classifier.

    See `kzoo.eval.knn_predict` for the classifier (Wu et al., 2018, as in
    solo-learn and lightly).

    Args:
        train_embeddings: Array of shape `(num_train, dim)`.
        train_labels: Integer array of shape `(num_train,)`.
        query_embeddings: Array of shape `(num_queries, dim)`.
        query_labels: Integer array of shape `(num_queries,)`.
        {knn_args}

    Returns:
        A Python float in `[0, 1]`.

    Example:

    >>> train_emb = kzoo.eval.embed(backbone, x_train)
    >>> test_emb = kzoo.eval.embed(backbone, x_test)
    >>> acc = kzoo.eval.knn_accuracy(
    ...     train_emb, y_train, test_emb, y_test, k=200, temperature=0.1)
    """
    query_embeddings = _to_2d_float32(query_embeddings, "query_embeddings")
    query_labels = _to_labels(
        query_labels,
        query_embeddings.shape[0],
        "query_labels",
        "query_embeddings",
    )
    if query_embeddings.shape[0] == 0:
        raise ValueError(
            "`query_embeddings` must contain at least one example. "
            f"Received: query_embeddings.shape={query_embeddings.shape}"
        )
    predictions = knn_predict(
        train_embeddings,
        train_labels,
        query_embeddings,
        k=k,
        temperature=temperature,
        num_classes=num_classes,
        batch_size=batch_size,
    )
    return float(np.mean(predictions == query_labels))
