"""Per-epoch randomness for kzoo's samplers, written once.

Every kzoo sampler builds one epoch from a stateless seed (`int64 [2]`):
the order of the examples (`permutation`) and the seed of each batch
(`batch_seeds`) are pure functions of that seed. Where the epoch's seed
comes from is the only choice, made here:

- `epochs=None` (the default): the dataset is one epoch, and every new
  iterator draws a new epoch seed from `seed`
  (`tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`). This
  is what `model.fit(ds, epochs=E)` expects of a finite dataset: a new
  draw each epoch, the same sequence of draws for the same `seed`. But the
  draws follow the *number of iterators* created, and `fit` under a
  `tf.distribute` strategy creates one more than without one, so the
  batches differ between strategies.
- `epochs=E` (with `initial_epoch=k`): the dataset holds the epochs
  `k .. E-1` back to back, epoch `e` built from
  `stateless_fold_in(seed, e)`: the batches are a function of
  `(seed, epoch)` alone, the same on one device and under any strategy,
  and a run resumed at epoch `k` sees exactly the batches an
  uninterrupted run sees from epoch `k` on. Train it with
  `model.fit(ds, epochs=E, steps_per_epoch=S)` (`fit` then keeps one
  iterator across epochs; `S = len(ds) // (E - k)`, see
  `kzoo.data.steps_per_epoch`).
"""

import random

import tensorflow as tf

from kzoo._api import kzoo_export


# The Args text of `epochs` / `initial_epoch`, shared by the samplers.
EPOCHS_ARGS = """epochs: `None` for one epoch, redrawn every time it is iterated;
    or the number of epochs to hold, each a function of `(seed, epoch)`
    alone, the same under any `tf.distribute` strategy (train with
    `steps_per_epoch`; see `kzoo.data.steps_per_epoch`). Defaults to
    `None`.
initial_epoch: with `epochs`, the first epoch held (a resumed run's).
    Defaults to `0`."""


def check_epochs(epochs, initial_epoch):
    """Validates `(epochs, initial_epoch)`; returns them as ints (or None)."""
    if epochs is None:
        if initial_epoch:
            raise ValueError(
                "`initial_epoch` needs `epochs` (the epochs are keyed on "
                "their index only when the dataset holds them all). "
                f"Received: epochs=None, initial_epoch={initial_epoch}")
        return None, 0
    if (isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1):
        raise ValueError("`epochs` must be a positive integer or None. "
                         f"Received: epochs={epochs}")
    if (isinstance(initial_epoch, bool) or int(initial_epoch) != initial_epoch
            or not 0 <= initial_epoch < epochs):
        raise ValueError(
            "`initial_epoch` must be an integer in [0, epochs). Received: "
            f"initial_epoch={initial_epoch}, epochs={epochs}")
    return int(epochs), int(initial_epoch)


def _base_seed(seed):
    if seed is None:
        seed = random.SystemRandom().randrange(2**62)
    seed = int(seed)
    return tf.constant([seed % 2**31, seed // 2**31 % 2**31], tf.int64)


def epoch_seeds(seed, epochs=None, initial_epoch=0):
    """A dataset of one `int64 [2]` stateless seed per epoch (see above)."""
    epochs, initial_epoch = check_epochs(epochs, initial_epoch)
    if epochs is None:
        return tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True).batch(2).take(1)
    base = _base_seed(seed)
    return tf.data.Dataset.range(initial_epoch, epochs).map(
        lambda e: tf.random.experimental.stateless_fold_in(base, e))


def by_epoch(make_epoch, steps, seed, epochs=None, initial_epoch=0):
    """`make_epoch(epoch_seed)` for each epoch seed, back to back.

    `steps` is the number of batches of one epoch: the result's
    cardinality is known (`steps` times the number of epochs), so `fit`
    and `len(ds)` see it.
    """
    seeds = epoch_seeds(seed, epochs, initial_epoch)
    num_epochs = 1 if epochs is None else epochs - initial_epoch
    ds = seeds.flat_map(make_epoch)
    return ds.apply(tf.data.experimental.assert_cardinality(
        int(steps) * num_epochs))


def permutation(n, epoch_seed):
    """A uniformly random permutation of `range(n)` (`int32 [n]`)."""
    seed = tf.random.experimental.stateless_split(epoch_seed, 2)[0]
    return tf.argsort(tf.random.stateless_uniform([n], seed=seed),
                      stable=True)


def batch_seeds(epoch_seed, per_batch=None):
    """An infinite dataset of stateless seeds, one per batch of the epoch:
    `int64 [2]`, or `[per_batch, 2]` when `per_batch` is given."""
    base = tf.random.experimental.stateless_split(epoch_seed, 2)[1]

    def one(i):
        s = tf.random.experimental.stateless_fold_in(base, i)
        if per_batch is None:
            return s
        return tf.random.experimental.stateless_split(s, num=per_batch)
    return tf.data.Dataset.range(2**62).map(one)


@kzoo_export("kzoo.data.steps_per_epoch")
def steps_per_epoch(dataset, epochs, initial_epoch=0):
    """Batches per epoch of a sampler built with `epochs=`.

    `len(dataset) // (epochs - initial_epoch)`: the `steps_per_epoch` to
    pass to `model.fit` with a dataset that holds all its epochs.

    Args:
        dataset: a kzoo sampler's dataset built with `epochs` and
            `initial_epoch`.
        epochs: the `epochs` it was built with.
        initial_epoch: the `initial_epoch` it was built with. Defaults to
            `0`.

    Returns:
        An `int`.
    """
    epochs, initial_epoch = check_epochs(epochs, initial_epoch)
    total = int(dataset.cardinality())
    num_epochs = epochs - initial_epoch
    if total < 0 or total % num_epochs:
        raise ValueError(
            "The dataset does not hold a whole number of epochs (was it "
            "built with these `epochs` and `initial_epoch`?). Received: "
            f"len(dataset)={total}, epochs={epochs}, "
            f"initial_epoch={initial_epoch}")
    return total // num_epochs
