"""The replica count of TensorFlow's distribution context.

A leaf module (TensorFlow imported on call), so that `kzoo.ops` and
`kzoo.distribute` both read it without importing each other.
"""


def tensorflow_replicas_in_sync():
    """How many replicas share the batch being computed on, seen from here.

    Inside a replica context of a `tf.distribute.Strategy` with `N > 1`
    replicas (a `train_step` under `MirroredStrategy`, `model.fit`'s loss),
    `N`; everywhere else 1: the default strategy, a cross-replica context
    (where tensors already hold the whole batch) and eager code.
    """
    import tensorflow as tf

    if not tf.distribute.has_strategy() or \
            tf.distribute.in_cross_replica_context():
        return 1
    context = tf.distribute.get_replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)
