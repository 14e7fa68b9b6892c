import csv
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kzoo.eval import KNNMonitor  # noqa: E402
from kzoo.eval import embed  # noqa: E402


def tiny_data(num, seed):
    # Class = brightest colour channel, so embeddings carry label information.
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=num)
    images = rng.uniform(0, 0.5, size=(num, 8, 8, 3))
    images[np.arange(num), :, :, labels] += 0.5
    return images.astype("float32"), labels


def tiny_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(
                3, kernel_initializer=keras.initializers.GlorotUniform(seed=0)
            ),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_logs_history_and_csv_logger(tmp_path, capsys):
    x_train, y_train = tiny_data(64, seed=0)
    x_test, y_test = tiny_data(32, seed=1)
    monitor = KNNMonitor(x_train, y_train, x_test, y_test, k=5, verbose=1)
    csv_path = str(tmp_path / "log.csv")
    history = tiny_model().fit(
        x_train,
        y_train,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[monitor, keras.callbacks.CSVLogger(csv_path)],
    )
    values = history.history["knn_accuracy"]
    assert len(values) == 2
    assert all(0.0 <= v <= 1.0 for v in values)
    assert [epoch for epoch, _ in monitor.history] == [1, 2]
    assert [acc for _, acc in monitor.history] == values
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert [float(row["knn_accuracy"]) for row in rows] == pytest.approx(values)
    out = capsys.readouterr().out
    assert out.count("knn_accuracy=") == 2


def test_every_n_epochs_and_last_epoch():
    x_train, y_train = tiny_data(40, seed=2)
    x_test, y_test = tiny_data(20, seed=3)
    monitor = KNNMonitor(
        x_train, y_train, x_test, y_test, every_n_epochs=2, k=5,
        name="knn", verbose=0,
    )
    history = tiny_model().fit(
        x_train, y_train, epochs=3, batch_size=20, verbose=0,
        callbacks=[monitor],
    )
    assert [epoch for epoch, _ in monitor.history] == [2, 3]
    assert len(history.history["knn"]) == 2
    assert len(history.history["loss"]) == 3


def test_embedding_fn_and_accuracy_value():
    x_train, y_train = tiny_data(48, seed=4)
    x_test, y_test = tiny_data(24, seed=5)
    encoder = keras.Sequential([keras.Input((8, 8, 3)),
                                keras.layers.GlobalAveragePooling2D()])
    calls = []

    def embedding_fn(images):
        calls.append(len(images))
        return embed(encoder, images)

    monitor = KNNMonitor(
        x_train, y_train, x_test, y_test, k=5, embedding_fn=embedding_fn,
        verbose=0,
    )
    tiny_model().fit(x_train, y_train, epochs=1, verbose=0,
                     callbacks=[monitor])
    assert calls == [48, 24]
    # Mean colour identifies the brightest channel perfectly.
    assert monitor.history == [(1, 1.0)]


def test_invalid_arguments():
    x, y = tiny_data(8, seed=6)
    with pytest.raises(ValueError, match=r"Received: every_n_epochs=0$"):
        KNNMonitor(x, y, x, y, every_n_epochs=0)
    with pytest.raises(ValueError, match=r"Received: test_labels.shape=\(7,\)$"):
        KNNMonitor(x, y, x, y[:7])
    with pytest.raises(ValueError, match=r"Received: temperature=0$"):
        KNNMonitor(x, y, x, y, temperature=0)
