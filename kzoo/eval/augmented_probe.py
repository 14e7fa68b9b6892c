"""Linear probe trained through a frozen backbone on augmented images."""

import keras
import numpy as np

from kzoo._api import kzoo_export


@kzoo_export("kzoo.eval.augmented_linear_probe")
def augmented_linear_probe(
    backbone,
    train_images,
    train_labels,
    test_images,
    test_labels,
    num_classes=None,
    epochs=5,
    batch_size=128,
    learning_rate=0.03,
    momentum=0.9,
    flip=True,
    seed=0,
    verbose=0,
):
    """keras-io's linear evaluation: a softmax layer on a frozen backbone.

    The protocol of keras-io's SimSiam example, so its reported figure can
    be compared like for like: the backbone is frozen (called with
    `training=False`), a `Dense(num_classes, activation="softmax")` layer is
    trained on its features with SGD (momentum 0.9, cosine decay from 0.03
    over all steps) for 5 epochs on horizontally flipped training images
    (keras-io's `random_crop` to the full image size is the identity), and
    the test accuracy is reported. Unlike `kzoo.eval.linear_probe`, features
    are recomputed every step (so augmentation applies) and not
    standardised, which makes this probe much weaker per epoch.

    The input is `tf.data` (`kzoo.data.labeled_dataset`) under the
    TensorFlow backend; under JAX and PyTorch it is
    `kzoo.arrays.LabeledArrays` (same protocol, NumPy's random flips and
    shuffle, no TensorFlow needed), so the figure differs from the
    TensorFlow backend's by the draws only.

    Args:
        backbone: frozen `keras.Model`, images (pixels in `[0, 255]`) ->
            features `[B, F]`.
        train_images: `[N, H, W, 3]` array.
        train_labels: `[N]` integer labels.
        test_images: `[M, H, W, 3]` array.
        test_labels: `[M]` integer labels.
        num_classes: number of classes. Defaults to `None` (max label + 1).
        epochs: training epochs. Defaults to `5` (keras-io).
        batch_size: batch size. Defaults to `128` (keras-io).
        learning_rate: initial learning rate of the cosine decay. Defaults
            to `0.03` (keras-io).
        momentum: SGD momentum. Defaults to `0.9` (keras-io).
        flip: random horizontal flips of the training images. Defaults to
            `True`.
        seed: seed of the classifier initialisation, shuffling and flips.
            Defaults to `0`.
        verbose: `fit` verbosity. Defaults to `0`.

    Returns:
        dict `{"accuracy": test accuracy, "train_accuracy": last-epoch
        training accuracy}`.

    Example:

    >>> kzoo.eval.augmented_linear_probe(backbone, x_train, y_train,
    ...                                  x_test, y_test)["accuracy"]

    Reference:
        - [keras-io SimSiam example, "Evaluating our SSL method"](
          https://keras.io/examples/vision/simsiam/).
    """
    train_labels = np.asarray(train_labels).reshape(-1).astype("int32")
    test_labels = np.asarray(test_labels).reshape(-1).astype("int32")
    if len(train_images) != len(train_labels):
        raise ValueError(
            "`train_images` and `train_labels` must have the same length. "
            f"Received: train_labels.shape={train_labels.shape}"
        )
    if len(test_images) != len(test_labels):
        raise ValueError(
            "`test_images` and `test_labels` must have the same length. "
            f"Received: test_labels.shape={test_labels.shape}"
        )
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    steps = epochs * int(np.ceil(len(train_images) / batch_size))

    train_ds, test_ds = _probe_data(train_images, train_labels, test_images,
                                    test_labels, batch_size, flip, seed)

    backbone.trainable = False
    try:
        inputs = keras.Input(backbone.input_shape[1:])
        features = backbone(inputs, training=False)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        )(features)
        model = keras.Model(inputs, outputs, name="augmented_linear_probe")
        model.compile(
            optimizer=keras.optimizers.SGD(
                keras.optimizers.schedules.CosineDecay(learning_rate, steps),
                momentum=momentum),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = model.fit(train_ds, epochs=epochs, verbose=verbose,
                            shuffle=False)
        _, accuracy = model.evaluate(test_ds, verbose=0)
    finally:
        backbone.trainable = True
    return {"accuracy": float(accuracy),
            "train_accuracy": float(history.history["accuracy"][-1])}


def _probe_data(train_images, train_labels, test_images, test_labels,
                batch_size, flip, seed):
    """`(train, test)` inputs of the probe: `tf.data` on TensorFlow, else
    `kzoo.arrays` (both: flipped, shuffled training batches, every batch
    kept; the test batches in order)."""
    if keras.backend.backend() != "tensorflow":
        from kzoo.arrays import LabeledArrays

        return (LabeledArrays(train_images, train_labels, batch_size,
                              shuffle=True, seed=seed, flip=flip),
                LabeledArrays(test_images, test_labels, batch_size))

    import tensorflow as tf

    from kzoo.data.augment import random_flip_left_right
    from kzoo.data.pipelines import labeled_dataset

    def augment(images, s):
        x = tf.cast(images, tf.float32)
        return random_flip_left_right(x, s) if flip else x

    return (labeled_dataset(train_images, train_labels, batch_size,
                            shuffle=True, seed=seed, augment=augment),
            labeled_dataset(test_images, test_labels, batch_size))
