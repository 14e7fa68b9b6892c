"""`tf.data` pipelines over in-memory arrays."""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.data import _epochs
from kzoo.data.augment import SimSiamAugmentation

AUTOTUNE = tf.data.AUTOTUNE


def _check_batch_size(batch_size):
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size}"
        )


def seeded_batches(images, batch_size, seed=None, shuffle=True,
                   drop_remainder=True, seeds_per_batch=1, epochs=None,
                   initial_epoch=0):
    """`(batch, seeds)` pairs: the shared core of the per-batch pipelines.

    Each epoch permutes `images` (unless `shuffle=False`), batches them,
    and zips each batch with `seeds_per_batch` stateless seeds (`int64`
    `[seeds_per_batch, 2]`), all drawn from the epoch's seed
    (`kzoo.data._epochs`): the same `seed` gives the same batches and
    seeds, epoch after epoch, whatever the parallelism of the map that
    follows; with `epochs`, a function of `(seed, epoch)` alone. Raises
    when `drop_remainder` would leave no batch. `images` may be a tuple of
    arrays of the same length (gathered together).
    """
    _check_batch_size(batch_size)
    n = len(tf.nest.flatten(images)[0])
    if drop_remainder and n < batch_size:
        raise ValueError(
            f"The dataset has {n} images, fewer than one batch, and "
            f"drop_remainder=True. Received: batch_size={batch_size}"
        )
    steps = n // batch_size if drop_remainder else -(-n // batch_size)
    source = tf.nest.map_structure(tf.constant, images)

    # Permuted indices, batched, then one gather per batch: the images are
    # copied once per batch, not element by element through a shuffle
    # buffer.
    def make_epoch(epoch_seed):
        ds = tf.data.Dataset.from_tensor_slices(
            _epochs.permutation(n, epoch_seed) if shuffle
            else tf.range(n, dtype=tf.int32))
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(lambda index: tf.nest.map_structure(
            lambda a: tf.gather(a, index), source))
        return tf.data.Dataset.zip(
            (ds, _epochs.batch_seeds(epoch_seed, seeds_per_batch)))

    return _epochs.by_epoch(make_epoch, steps, seed, epochs, initial_epoch)


@kzoo_export("kzoo.data.two_view_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def two_view_dataset(images, batch_size, augment=None, seed=None,
                     shuffle=True, drop_remainder=True, num_views=2,
                     epochs=None, initial_epoch=0):
    """Batches of independently augmented views of the same images.

    Elements are dicts `{"view_1": [B, H, W, 3], "view_2": ...}` of
    `float32` pixels in `[0, 255]`, ready for `kzoo.models.SimSiam.fit`.
    The augmentation runs once per batch (vectorised) with a fresh stateless
    seed for each batch and view, drawn from `seed`: the same `seed` gives
    the same views, epoch after epoch, whatever the `tf.data` parallelism.
    The decoded images stay in memory (the cache); batches are prefetched
    with `AUTOTUNE`. Batches are global: under `tf.distribute`, Keras splits
    each batch across the replicas.

    Args:
        images: `uint8` array `[N, H, W, 3]`.
        batch_size: global batch size. Defaults to none (required).
        augment: callable `(images, seed) -> views`. Defaults to
            `kzoo.data.SimSiamAugmentation()`.
        seed: integer seed of the shuffle and the augmentation. Defaults to
            `None` (nondeterministic).
        shuffle: reshuffle the examples every epoch. Defaults to `True`.
        drop_remainder: drop the last partial batch (SimSiam's batch
            statistics are poor on tiny batches). Defaults to `True`.
        num_views: number of views (`view_1` ... `view_n`). Defaults to `2`.
        {epochs_args}

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> ds = kzoo.data.two_view_dataset(train.images, batch_size=128, seed=0)
    >>> model.fit(ds, epochs=5)
    """
    _check_batch_size(batch_size)
    if num_views < 1:
        raise ValueError(
            f"`num_views` must be >= 1. Received: num_views={num_views}"
        )
    augment = augment or SimSiamAugmentation()
    ds = seeded_batches(images, batch_size, seed, shuffle, drop_remainder,
                        seeds_per_batch=num_views, epochs=epochs,
                        initial_epoch=initial_epoch)

    def make_views(batch, s):
        return {
            f"view_{i + 1}": augment(batch, s[i]) for i in range(num_views)
        }

    ds = ds.map(make_views, num_parallel_calls=AUTOTUNE,
                deterministic=seed is not None)
    return ds.prefetch(AUTOTUNE)


@kzoo_export("kzoo.data.labeled_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def labeled_dataset(images, labels, batch_size, shuffle=False, seed=None,
                    augment=None, drop_remainder=False, epochs=None,
                    initial_epoch=0):
    """Batches of `(float32 images in [0, 255], labels)` for supervised use.

    Args:
        images: `uint8` array `[N, H, W, 3]`.
        labels: integer array `[N]`.
        batch_size: global batch size.
        shuffle: reshuffle every epoch. Defaults to `False`.
        seed: shuffle / augmentation seed. Defaults to `None`.
        augment: optional callable `(images, seed) -> images` applied per
            batch. Defaults to `None`.
        drop_remainder: drop the last partial batch. Defaults to `False`.
        {epochs_args}

    Returns:
        A `tf.data.Dataset`.
    """
    _check_batch_size(batch_size)
    ds = seeded_batches((images, labels), batch_size, seed, shuffle,
                        drop_remainder=drop_remainder, epochs=epochs,
                        initial_epoch=initial_epoch)
    if augment is not None:
        ds = ds.map(
            lambda xy, s: (augment(xy[0], s[0]), xy[1]),
            num_parallel_calls=AUTOTUNE, deterministic=seed is not None,
        )
    else:
        ds = ds.map(lambda xy, s: (tf.cast(xy[0], tf.float32), xy[1]),
                    num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
