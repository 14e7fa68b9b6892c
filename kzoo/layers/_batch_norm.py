"""`BatchNormalization` with kzoo's `synchronized` rule (private)."""

import keras


def batch_normalization(synchronized=False, **kwargs):
    """A `keras.layers.BatchNormalization` whose batch statistics are
    cross-replica when `synchronized=True`, on every backend.

    Keras implements `synchronized=True` for `tf.distribute` only (other
    backends raise). Under JAX, `keras.distribution.DataParallel` shards
    the batch inside one jit-compiled step, so a batch mean is already over
    the global batch (XLA inserts the all-reduce): plain
    `BatchNormalization` is the synchronised one there. The PyTorch backend
    has no multi-device Keras distribution, so one device sees the whole
    batch. kzoo therefore passes `synchronized` to Keras on TensorFlow only.
    """
    if synchronized and keras.backend.backend() == "tensorflow":
        kwargs["synchronized"] = True
    from kzoo.layers.batch_normalization import BatchNormalization

    return BatchNormalization(**kwargs)
