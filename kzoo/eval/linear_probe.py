"""Linear evaluation ("linear probe") of frozen, precomputed features."""

import math
import numbers

import keras
import numpy as np

from kzoo._api import kzoo_export
from kzoo.eval.knn import _check_num_classes
from kzoo.eval.knn import _check_positive_int
from kzoo.eval.knn import _check_train_and_queries
from kzoo.eval.knn import _to_labels

_STD_EPSILON = 1e-6


class _SeededBatches(keras.utils.PyDataset):
    """Mini-batches of in-memory arrays, reshuffled every epoch from `seed`.

    Shuffling here (instead of `fit(shuffle=True)`, which draws from the global
    TensorFlow seed) makes the probe reproducible without touching global
    random state.
    """

    def __init__(self, x, y, batch_size, seed):
        super().__init__(workers=1, use_multiprocessing=False)
        self._x = x
        self._y = y
        self._batch_size = batch_size
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(x))

    def __len__(self):
        return math.ceil(len(self._x) / self._batch_size)

    def __getitem__(self, index):
        rows = self._order[
            index * self._batch_size : (index + 1) * self._batch_size
        ]
        return self._x[rows], self._y[rows]

    def on_epoch_end(self):
        self._order = self._rng.permutation(len(self._x))


def _accuracy(model, features, labels, batch_size):
    logits = model.predict(features, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


@kzoo_export("kzoo.eval.linear_probe")
def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes=None,
    epochs=30,
    batch_size=256,
    learning_rate=1e-3,
    weight_decay=0.0,
    seed=0,
    verbose=0,
):
    """Trains a linear classifier on frozen features and reports accuracy.

    This is the standard frozen-feature linear evaluation protocol of
    self-supervised learning (e.g. SimCLR, Chen et al., 2020, and the
    linear-evaluation scripts of solo-learn and lightly) in its cheapest form:
    features are computed once by the frozen backbone (e.g. with
    `kzoo.eval.embed`), standardised with the mean and standard deviation of
    the training split, and a single `keras.layers.Dense(num_classes)` layer is
    trained on them with softmax cross-entropy, **without data
    augmentation**. The keras-io SimSiam example
    (https://keras.io/examples/vision/simsiam/) instead trains the linear
    layer through the frozen backbone on flipped/cropped images; numbers from
    the two protocols are close but not identical.

    The optimizer is `keras.optimizers.AdamW` when `weight_decay > 0`, else
    `keras.optimizers.Adam`. The layer is initialised and the data shuffled
    from `seed` only (global random state is left untouched), so two calls
    with the same arguments give the same result on the same machine.

    Args:
        train_features: Array of shape `(num_train, dim)`.
        train_labels: Integer array of shape `(num_train,)`.
        test_features: Array of shape `(num_test, dim)`.
        test_labels: Integer array of shape `(num_test,)`.
        num_classes: Integer, number of classes. If `None`, uses
            `max(train_labels, test_labels) + 1`. Defaults to `None`.
        epochs: Integer, number of training epochs. Defaults to `30`.
        batch_size: Integer, mini-batch size. Defaults to `256`.
        learning_rate: Float, learning rate. Defaults to `1e-3`.
        weight_decay: Float, decoupled weight decay of AdamW; `0` uses Adam.
            Defaults to `0.0`.
        seed: Integer, seed of the initialisation and shuffling.
            Defaults to `0`.
        verbose: Verbosity passed to `model.fit()`. Defaults to `0`.

    Returns:
        A dict `{"accuracy": test_accuracy, "train_accuracy": train_accuracy}`
        of Python floats in `[0, 1]`.

    Example:

    >>> train_features = kzoo.eval.embed(backbone, x_train)
    >>> test_features = kzoo.eval.embed(backbone, x_test)
    >>> result = kzoo.eval.linear_probe(
    ...     train_features, y_train, test_features, y_test, epochs=30)
    >>> result["accuracy"]

    References:
        - [Chen et al., 2020](https://arxiv.org/abs/2002.05709) (SimCLR,
          linear evaluation protocol)
        - [Kolesnikov et al., 2019](https://arxiv.org/abs/1901.09005)
          (Revisiting Self-Supervised Visual Representation Learning)
    """
    train_features, test_features = _check_train_and_queries(
        train_features, test_features, "train_features", "test_features",
        what="feature", nonempty_queries=True)
    num_train, dim = train_features.shape
    train_labels = _to_labels(
        train_labels, num_train, "train_labels", "train_features"
    )
    test_labels = _to_labels(
        test_labels, test_features.shape[0], "test_labels", "test_features"
    )
    epochs = _check_positive_int(epochs, "epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(
            "`learning_rate` must be a positive number. "
            f"Received: learning_rate={learning_rate!r}"
        )
    if not isinstance(weight_decay, numbers.Real) or not weight_decay >= 0:
        raise ValueError(
            "`weight_decay` must be a non-negative number. "
            f"Received: weight_decay={weight_decay!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(
            f"`seed` must be an integer. Received: seed={seed!r}"
        )
    num_classes = _check_num_classes(
        num_classes, int(max(train_labels.max(), test_labels.max())),
        "Labels")

    # Standardise with train-split statistics; the epsilon keeps constant
    # features finite (they become exactly 0).
    mean = train_features.mean(axis=0, dtype="float64")
    std = train_features.std(axis=0, dtype="float64")
    scale = 1.0 / (std + _STD_EPSILON)
    train_x = ((train_features - mean) * scale).astype("float32")
    test_x = ((test_features - mean) * scale).astype("float32")
    train_y = train_labels.astype("int32")

    model = keras.Sequential(
        [
            keras.Input((dim,)),
            keras.layers.Dense(
                num_classes,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=int(seed)
                ),
                bias_initializer="zeros",
                name="linear_probe",
            ),
        ],
        name="linear_probe",
    )
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(
            learning_rate=learning_rate, weight_decay=weight_decay
        )
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        _SeededBatches(train_x, train_y, batch_size, int(seed)),
        epochs=epochs,
        shuffle=False,  # Batches are already shuffled from `seed`.
        verbose=verbose,
    )
    return {
        "accuracy": _accuracy(model, test_x, test_labels, batch_size),
        "train_accuracy": _accuracy(model, train_x, train_labels, batch_size),
    }
