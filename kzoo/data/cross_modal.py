"""Batches of cross-modal pairs for dual encoders (audio + image / text)."""

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.data import _epochs
from kzoo.data.pipelines import seeded_batches


@kzoo_export("kzoo.data.cross_modal_pairs")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def cross_modal_pairs(a, labels_a, b, labels_b, batch_size, seed=None,
                      shuffle=True, drop_remainder=True, epochs=None,
                      initial_epoch=0):
    """Each `a` with a random `b` of its label, redrawn every epoch.

    Every epoch visits each item of `a` once (shuffled), and pairs it with
    an item of `b` drawn uniformly among those with the same label (a
    recording of "three" with some image of a 3; with one `b` per label, a
    clip with its word's text). The draw is stateless and seeded: the same
    `seed` gives the same pairs, epoch after epoch. Elements are
    `({"a": [B, ...], "b": [B, ...]}, labels [B])`, what
    `kzoo.models.DualEncoder.fit` takes (the labels mark duplicates).

    Args:
        a: array `[N_a, ...]` of the first modality (e.g. waveforms).
        labels_a: `[N_a]` integer labels.
        b: array `[N_b, ...]` of the second modality (e.g. images).
        labels_b: `[N_b]` integer labels; every label of `a` must occur.
        batch_size: batch size.
        seed: integer seed. Defaults to `None` (nondeterministic).
        shuffle: reshuffle `a` every epoch. Defaults to `True`.
        drop_remainder: drop the last partial batch. Defaults to `True`.
        {epochs_args}

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> ds = kzoo.data.cross_modal_pairs(fsdd.waveforms, fsdd.labels,
    ...                                  digits.images, digits.labels, 64)
    """
    labels_a = np.asarray(labels_a).reshape(-1).astype(np.int64)
    labels_b = np.asarray(labels_b).reshape(-1).astype(np.int64)
    if len(labels_a) != len(a) or len(labels_b) != len(b):
        raise ValueError(
            "One label per item. Received: "
            f"{len(a)} a / {len(labels_a)} labels_a, "
            f"{len(b)} b / {len(labels_b)} labels_b")
    missing = sorted(set(labels_a.tolist()) - set(labels_b.tolist()))
    if missing:
        raise ValueError(
            f"Every label of `a` needs at least one `b`. Labels without b: "
            f"{missing[:10]}{' ...' if len(missing) > 10 else ''}. "
            f"Received: {len(set(labels_b.tolist()))} labels in labels_b")
    order = np.argsort(labels_b, kind="stable")
    sorted_labels = labels_b[order]
    classes, starts, counts = np.unique(sorted_labels, return_index=True,
                                        return_counts=True)
    # Per item of a: where its label's b items start, and how many.
    position = np.searchsorted(classes, labels_a)
    start_a = starts[position].astype(np.int64)
    count_a = counts[position].astype(np.int64)
    b_sorted = tf.constant(np.asarray(b)[order])
    a_const = tf.constant(np.asarray(a))

    def pair(index, seeds):
        u = tf.random.stateless_uniform(tf.shape(index), seeds[0],
                                        dtype=tf.float64)
        count = tf.gather(count_a, index)
        pick = tf.gather(start_a, index) + tf.minimum(
            tf.cast(tf.floor(u * tf.cast(count, tf.float64)), tf.int64),
            count - 1)
        return ({"a": tf.gather(a_const, index),
                 "b": tf.gather(b_sorted, pick)},
                tf.gather(labels_a, index))

    ds = seeded_batches(np.arange(len(labels_a), dtype=np.int64), batch_size,
                        seed=seed, shuffle=shuffle,
                        drop_remainder=drop_remainder, epochs=epochs,
                        initial_epoch=initial_epoch)
    return ds.map(pair, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)
