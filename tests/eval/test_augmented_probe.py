import keras
import numpy as np

import kzoo


def _backbone():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x)


def _data(n, seed):
    # class = which colour channel is bright: linearly separable features
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 60, (n, 8, 8, 3))
    images[np.arange(n), :, :, labels] += 190
    return images.astype("uint8"), labels


def test_learns_separable_classes_and_leaves_backbone_unfrozen():
    keras.utils.set_random_seed(0)
    backbone = _backbone()
    xtr, ytr = _data(300, 0)
    xte, yte = _data(90, 1)
    result = kzoo.eval.augmented_linear_probe(
        backbone, xtr, ytr, xte, yte, epochs=8, batch_size=32, learning_rate=0.5)
    assert result["accuracy"] > 0.9
    assert backbone.trainable


def test_random_labels_stay_near_chance():
    keras.utils.set_random_seed(0)
    xtr, _ = _data(300, 0)
    xte, _ = _data(300, 1)
    rng = np.random.default_rng(5)
    result = kzoo.eval.augmented_linear_probe(
        _backbone(), xtr, rng.integers(0, 3, 300), xte, rng.integers(0, 3, 300),
        epochs=3, batch_size=32)
    assert result["accuracy"] < 0.5
