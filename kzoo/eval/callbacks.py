"""Keras callbacks that evaluate representations during training."""

import keras
import numpy as np

from kzoo._api import kzoo_export
from kzoo.eval.knn import _check_positive_int
from kzoo.eval.knn import _to_labels
from kzoo.eval.knn import _to_numpy
from kzoo.eval.knn import embed
from kzoo.eval.knn import knn_accuracy


@kzoo_export("kzoo.eval.KNNMonitor")
class KNNMonitor(keras.callbacks.Callback):
    """Reports weighted kNN accuracy of the model's embeddings during `fit()`.

    At the end of every `every_n_epochs`-th epoch, and at the last epoch of
    `fit()`, embeds `train_images` and `test_images` with the model (or
    `embedding_fn`), classifies the test embeddings with the weighted cosine
    kNN classifier of `kzoo.eval.knn_accuracy` (Wu et al., 2018; the kNN
    monitor of solo-learn and lightly) and writes the accuracy into the epoch
    `logs` under `name`. It therefore appears in `History.history`, in the
    progress bar and in the `keras.callbacks.CSVLogger` /
    `keras.callbacks.TensorBoard` callbacks placed **after** this one in the
    `callbacks` list.

    As with `fit(validation_freq=...)`, the key is absent from `logs` on epochs
    that are not evaluated, so with `every_n_epochs > 1`
    `history.history[name]` has one entry per evaluation; `CSVLogger` fixes
    its columns at the first epoch, so it only records `name` when the first
    epoch is evaluated (`every_n_epochs=1`); the recipes' `history.csv`
    writer (`kzoo.training.run.history_csv`) keeps every column. The evaluations are also kept in
    `self.history` as `(epoch, accuracy)` pairs with 1-based epoch numbers (as
    printed by the progress bar).

    Args:
        train_images: Array of labelled images forming the kNN memory bank.
        train_labels: Integer array of shape `(len(train_images),)`.
        test_images: Array of images to classify.
        test_labels: Integer array of shape `(len(test_images),)`.
        every_n_epochs: Integer, evaluation period in epochs.
            Defaults to `1`.
        k: Integer, number of neighbours. Defaults to `200`.
        temperature: Positive float, temperature of the neighbour weights.
            Defaults to `0.1`.
        batch_size: Integer, batch size of the embedding forward passes.
            Defaults to `256`.
        embedding_fn: Optional callable mapping an image array to a
            `(num_images, dim)` array of embeddings, e.g.
            `lambda x: kzoo.eval.embed(backbone, x)` when the trained model
            is not itself the encoder (SimSiam, BYOL, ... wrappers). If
            `None`, uses `kzoo.eval.embed(self.model, images, batch_size)`.
            Defaults to `None`.
        name: String, key of the accuracy in `logs`.
            Defaults to `"knn_accuracy"`.
        verbose: Integer, `1` prints one line per evaluation, `0` is silent.
            Defaults to `1`.

    Example:

    ```python
    monitor = kzoo.eval.KNNMonitor(
        x_train[:10000], y_train[:10000], x_test, y_test,
        every_n_epochs=5,
        embedding_fn=lambda x: kzoo.eval.embed(encoder, x),
    )
    model.fit(
        dataset,
        epochs=100,
        callbacks=[monitor, keras.callbacks.CSVLogger("log.csv")],
    )
    print(monitor.history[-1])  # (100, 0.83...)
    ```

    References:
        - [Wu et al., 2018](https://arxiv.org/abs/1805.01978)
        - solo-learn `solo/utils/knn.py`,
          lightly `lightly/utils/benchmarking/knn.py`
    """

    def __init__(
        self,
        train_images,
        train_labels,
        test_images,
        test_labels,
        every_n_epochs=1,
        k=200,
        temperature=0.1,
        batch_size=256,
        embedding_fn=None,
        name="knn_accuracy",
        verbose=1,
    ):
        super().__init__()
        self.train_images = _to_numpy(train_images)
        self.test_images = _to_numpy(test_images)
        self.train_labels = _to_labels(
            train_labels, len(self.train_images), "train_labels",
            "train_images",
        )
        self.test_labels = _to_labels(
            test_labels, len(self.test_images), "test_labels", "test_images"
        )
        self.every_n_epochs = _check_positive_int(
            every_n_epochs, "every_n_epochs"
        )
        self.k = _check_positive_int(k, "k")
        if not np.isscalar(temperature) or not temperature > 0:
            raise ValueError(
                "`temperature` must be a positive number. "
                f"Received: temperature={temperature!r}"
            )
        self.temperature = float(temperature)
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if embedding_fn is not None and not callable(embedding_fn):
            raise ValueError(
                "`embedding_fn` must be a callable or `None`. "
                f"Received: embedding_fn={embedding_fn!r}"
            )
        self.embedding_fn = embedding_fn
        self.name = name
        self.verbose = verbose
        self.history = []

    def _embed(self, images):
        if self.embedding_fn is not None:
            return _to_numpy(self.embedding_fn(images))
        return embed(self.model, images, batch_size=self.batch_size)

    def evaluate(self):
        """Computes the kNN accuracy of the current model.

        Returns:
            A Python float in `[0, 1]`.
        """
        return knn_accuracy(
            self._embed(self.train_images),
            self.train_labels,
            self._embed(self.test_images),
            self.test_labels,
            k=self.k,
            temperature=self.temperature,
        )

    def _should_evaluate(self, epoch):
        if (epoch + 1) % self.every_n_epochs == 0:
            return True
        total_epochs = (self.params or {}).get("epochs")
        return total_epochs is not None and epoch + 1 == total_epochs

    def on_epoch_end(self, epoch, logs=None):
        if not self._should_evaluate(epoch):
            return
        accuracy = self.evaluate()
        if logs is not None:
            logs[self.name] = accuracy
        self.history.append((epoch + 1, accuracy))
        if self.verbose:
            print(
                f"Epoch {epoch + 1}: {self.name}={accuracy:.4f} "
                f"(k={min(self.k, len(self.train_labels))}, "
                f"temperature={self.temperature:g})"
            )
