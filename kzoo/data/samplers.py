"""Pair, triplet and class-balanced samplers for metric learning.

`tf.data` datasets over in-memory arrays `images [N, ...]` and integer
`labels [N]`, for the three ways of feeding a metric-learning model:

- `pair_dataset`: `((x1, x2), y)` pairs for a siamese network and a
  contrastive loss (`kzoo.models.siamese_network`);
- `triplet_dataset`: stacked `[B, 3, ...]` (anchor, positive, negative)
  triplets for a triplet network without mining
  (`kzoo.models.triplet_network`; `kzoo.data.OfflineHardMiner` yields the
  same triplets chosen by offline hard mining over a memory bank);
- `class_balanced_dataset`: `P x K` batches (P classes, K examples each)
  for losses that mine pairs or triplets inside the batch (online mining:
  batch-hard, semi-hard, lifted, N-pairs, ...).

The arrays stay in memory and are captured by the `tf.data` functions
(`tf.gather` on index batches); images are cast to `float32` per batch, as
in `kzoo.data.labeled_dataset`. Every sampler is seedable: the same `seed`
gives the same batches, epoch after epoch, and a new epoch draws new pairs /
triplets / classes; with `epochs=` the dataset holds all the epochs,
each a function of `(seed, epoch)` alone, the same on one device and
under any strategy (`kzoo/data/_epochs.py`). Batches are global: under
`tf.distribute`, Keras splits each batch across the replicas (see
`num_replicas` of `class_balanced_dataset`).
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int as _check_positive_int
from kzoo._docs import fill_doc
from kzoo.data import _epochs
from kzoo.data.augment import random_flip_and_translate

AUTOTUNE = tf.data.AUTOTUNE


def _check_arrays(images, labels):
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[-1] == 1:
        labels = labels.reshape(-1)
    if len(images.shape) < 1 or labels.ndim != 1 or (
        labels.shape[0] != images.shape[0]
    ):
        raise ValueError(
            "`images` must be an array `[N, ...]` and `labels` an integer "
            "array `[N]` with one label per image. "
            f"Received: images.shape={tuple(images.shape)}, "
            f"labels.shape={labels.shape}"
        )
    if labels.shape[0] == 0:
        raise ValueError(
            "`images` must contain at least one example. "
            f"Received: images.shape={tuple(images.shape)}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        as_int = labels.astype("int64")
        if not np.array_equal(as_int, labels):
            raise ValueError(
                "`labels` must contain integer class ids. "
                f"Received: labels.dtype={labels.dtype}"
            )
        labels = as_int
    return images, labels.astype("int64")


class _ClassIndex:
    """Examples grouped by class: `order[starts[c] : starts[c] + counts[c]]`
    are the indices of class `classes[c]`; `class_of[i]` is the class
    position of example `i` and `rank[i]` its position in `order`."""

    def __init__(self, labels):
        self.order = np.argsort(labels, kind="stable").astype("int64")
        self.classes, self.starts, self.counts = np.unique(
            labels[self.order], return_index=True, return_counts=True
        )
        self.starts = self.starts.astype("int64")
        self.counts = self.counts.astype("int64")
        self.class_of = np.searchsorted(self.classes, labels).astype("int64")
        self.rank = np.empty_like(self.order)
        self.rank[self.order] = np.arange(len(labels), dtype="int64")
        self.num_examples = len(labels)

    def eligible_anchors(self):
        """Indices of the examples whose class has at least two examples."""
        return np.flatnonzero(self.counts[self.class_of] >= 2).astype("int64")

    def tensors(self):
        return {
            name: tf.constant(getattr(self, name))
            for name in ("order", "starts", "counts", "class_of", "rank")
        }


def _uniform_below(shape, maxval, seed):
    """Stateless uniform integers in `[0, maxval)`, `maxval` a tensor >= 1
    broadcast to `shape` (element-wise bounds)."""
    u = tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float64)
    maxval = tf.cast(maxval, tf.float64)
    draw = tf.cast(tf.floor(u * maxval), tf.int64)
    return tf.minimum(draw, tf.cast(maxval, tf.int64) - 1)


def _other_example_of_class(anchors, t, seed):
    """A uniformly drawn *different* example of the anchor's class (the class
    must have at least two examples)."""
    c = tf.gather(t["class_of"], anchors)
    start = tf.gather(t["starts"], c)
    count = tf.gather(t["counts"], c)
    offset = _uniform_below(tf.shape(anchors), count - 1, seed) + 1
    position = start + (tf.gather(t["rank"], anchors) - start + offset) % count
    return tf.gather(t["order"], position)


def _example_of_other_class(anchors, t, num_examples, seed):
    """A uniformly drawn example of any other class than the anchor's."""
    c = tf.gather(t["class_of"], anchors)
    start = tf.gather(t["starts"], c)
    count = tf.gather(t["counts"], c)
    r = _uniform_below(tf.shape(anchors), num_examples - count, seed)
    position = tf.where(r >= start, r + count, r)
    return tf.gather(t["order"], position)


def _gather_images(images, indices):
    return tf.cast(tf.gather(images, indices), tf.float32)


def _batch_seeds(seed, rerandomize=True):
    """An infinite dataset of `[2]` stateless seeds: new ones for every
    iterator (`rerandomize`), or the same stream for every iterator."""
    return tf.data.Dataset.random(
        seed=seed, rerandomize_each_iteration=rerandomize
    ).batch(2)


def _pair_batches(images, labels, batch_size, positive_fraction):
    """`(make_batch(i, seed), num_batches)` of `pair_dataset`, checked."""
    images, labels = _check_arrays(images, labels)
    batch_size = _check_positive_int(batch_size, "batch_size")
    if (
        isinstance(positive_fraction, bool)
        or not isinstance(positive_fraction, numbers.Real)
        or not 0.0 <= positive_fraction <= 1.0
    ):
        raise ValueError(
            "`positive_fraction` must be a number in [0, 1]. "
            f"Received: positive_fraction={positive_fraction!r}"
        )
    index = _ClassIndex(labels)
    eligible = index.eligible_anchors()
    if positive_fraction > 0 and eligible.size == 0:
        raise ValueError(
            "Similar pairs need a class with at least two examples, and every "
            "class has one. Received: positive_fraction="
            f"{positive_fraction}, number of classes={len(index.classes)}"
        )
    if positive_fraction < 1 and len(index.classes) < 2:
        raise ValueError(
            "Dissimilar pairs need at least two classes. Received: "
            f"positive_fraction={positive_fraction}, "
            f"labels with a single class={index.classes.tolist()}"
        )
    n = index.num_examples
    num_batches = math.ceil(n / batch_size)
    last_size = n - (num_batches - 1) * batch_size
    t = index.tensors()
    eligible_t = tf.constant(eligible if eligible.size else np.zeros(1, "int64"))
    num_eligible = max(int(eligible.size), 1)
    images_t = tf.convert_to_tensor(images)
    fraction = float(positive_fraction)

    def make_batch(i, s):
        size = tf.where(i == num_batches - 1, last_size, batch_size)
        size = tf.cast(size, tf.int64)
        num_pos = tf.cast(
            tf.round(fraction * tf.cast(size, tf.float64)), tf.int64
        )
        num_neg = size - num_pos
        s = tf.random.experimental.stateless_split(s, num=5)
        pos_anchor = tf.gather(
            eligible_t, _uniform_below([num_pos], num_eligible, s[0])
        )
        pos_other = _other_example_of_class(pos_anchor, t, s[1])
        neg_anchor = _uniform_below([num_neg], n, s[2])
        neg_other = _example_of_other_class(neg_anchor, t, n, s[3])
        first = tf.concat([pos_anchor, neg_anchor], 0)
        second = tf.concat([pos_other, neg_other], 0)
        y = tf.concat(
            [tf.zeros([num_pos], tf.float32), tf.ones([num_neg], tf.float32)],
            0,
        )
        perm = tf.argsort(
            tf.random.stateless_uniform([size], seed=s[4]), stable=True
        )
        first, second, y = (tf.gather(v, perm) for v in (first, second, y))
        x1 = _gather_images(images_t, first)
        x2 = _gather_images(images_t, second)
        return (x1, x2), tf.expand_dims(y, -1)

    return make_batch, num_batches


@kzoo_export("kzoo.data.pair_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def pair_dataset(images, labels, batch_size, positive_fraction=0.5,
                 seed=None, epochs=None, initial_epoch=0):
    """Batches of random similar / dissimilar pairs for a siamese network.

    Elements are `((x1, x2), y)`: `x1`, `x2` are `float32` batches
    `[b, ...]` of the images, `y` a `float32` `[b, 1]` tensor with
    **`y = 0` for a similar pair** (same label) and **`y = 1` for a
    dissimilar pair** (different labels). This is the convention of
    keras-io's Keras 3 `siamese_contrastive` example, whose contrastive loss
    is `(1 - y) * d**2 + y * max(margin - d, 0)**2` on the `[B, 1]`
    distances `d` of `kzoo.models.siamese_network` (the shape of `y`).
    tensorflow-addons' `ContrastiveLoss` (`kzoo.addons.losses`) uses the
    opposite convention (1 = similar): give it `1 - y`.

    Every batch holds exactly `round(positive_fraction * b)` similar pairs
    and the rest dissimilar, in random order. A similar pair is an example
    and a uniformly drawn *different* example of its class (anchors are
    drawn uniformly among the examples of classes with at least two
    examples); a dissimilar pair is a uniformly drawn example and a
    uniformly drawn example of any other class. Pairs are drawn with
    replacement and redrawn every epoch; one epoch is `N` pairs
    (`ceil(N / batch_size)` batches, the last one possibly smaller).

    Args:
        images: array `[N, ...]` (images or features), any numeric dtype.
        labels: integer array `[N]` of class ids.
        batch_size: number of pairs per batch. Defaults to none (required).
        positive_fraction: fraction of similar pairs in every batch, in
            `[0, 1]`. Defaults to `0.5` (balanced).
        seed: integer seed. Defaults to `None` (nondeterministic).
        {epochs_args}

    Returns:
        A `tf.data.Dataset` of `((x1, x2), y)`.

    Example:

    ```python
    ds = kzoo.data.pair_dataset(x_train, y_train, batch_size=64, seed=0)
    model = kzoo.models.siamese_network(tower)
    model.compile("rmsprop", loss=contrastive_loss)  # y = 0: similar
    model.fit(ds, epochs=10)
    ```

    Reference:
        - [keras-io siamese network with a contrastive loss](
          https://keras.io/examples/vision/siamese_contrastive/).
        - [Hadsell et al., 2006](http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf).
    """
    make_batch, num_batches = _pair_batches(images, labels, batch_size,
                                            positive_fraction)
    ds = _epochs.by_epoch(
        lambda epoch_seed: tf.data.Dataset.zip(
            (tf.data.Dataset.range(num_batches),
             _epochs.batch_seeds(epoch_seed))),
        num_batches, seed, epochs, initial_epoch)
    ds = ds.map(make_batch, num_parallel_calls=AUTOTUNE,
                deterministic=seed is not None)
    return ds.prefetch(AUTOTUNE)


@kzoo_export("kzoo.data.triplet_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def triplet_dataset(images, labels, batch_size, seed=None, epochs=None,
                    initial_epoch=0):
    """Batches of random (anchor, positive, negative) triplets.

    Elements are `(triplets, triplet_labels)`:

    - `triplets`: `float32` `[b, 3, ...]`, the anchor, positive and negative
      images stacked along axis 1: the input of
      `kzoo.models.triplet_network`, whose `[b, 3, D]` output is the
      `y_pred` of a triplet loss without mining
      (`TripletLoss(mining="none")`);
    - `triplet_labels`: `int32` `[b, 3]`, the class labels of the three
      (the anchor's twice, then the negative's). Losses without mining ignore
      them; they make `model.fit(ds)` work unchanged and the batches
      checkable.

    Every example of a class with at least two examples is the anchor of
    exactly one triplet per epoch, in a new random order each epoch;
    examples of single-example classes are never anchors (they have no
    positive) but can be negatives. The positive is a uniformly drawn
    *different* example of the anchor's class, the negative a uniformly
    drawn example of any other class; both are redrawn every epoch. The
    last batch of an epoch may be smaller.

    Args:
        images: array `[N, ...]`, any numeric dtype.
        labels: integer array `[N]` of class ids.
        batch_size: number of triplets per batch. Defaults to none
            (required).
        seed: integer seed. Defaults to `None` (nondeterministic).
        {epochs_args}

    Returns:
        A `tf.data.Dataset` of `(triplets, triplet_labels)`.

    Example:

    ```python
    ds = kzoo.data.triplet_dataset(x_train, y_train, batch_size=32, seed=0)
    model = kzoo.models.triplet_network(tower)
    model.compile("adam", loss=triplet_loss)  # y_pred: [B, 3, D]
    model.fit(ds, epochs=10)
    ```

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832).
        - [keras-io siamese network with a triplet loss](
          https://keras.io/examples/vision/siamese_network/).
    """
    images, labels = _check_arrays(images, labels)
    batch_size = _check_positive_int(batch_size, "batch_size")
    index = _ClassIndex(labels)
    eligible = index.eligible_anchors()
    if eligible.size == 0 or len(index.classes) < 2:
        raise ValueError(
            "Triplets need a class with at least two examples (anchor and "
            "positive) and a second class (negative). Received: labels with "
            f"{len(index.classes)} classes and largest class size "
            f"{int(index.counts.max())}"
        )
    t = index.tensors()
    n = index.num_examples
    images_t = tf.convert_to_tensor(images)
    labels_t = tf.constant(labels.astype("int32"))

    def make_batch(anchors, s):
        s = tf.random.experimental.stateless_split(s, num=2)
        positives = _other_example_of_class(anchors, t, s[0])
        negatives = _example_of_other_class(anchors, t, n, s[1])
        indices = tf.stack([anchors, positives, negatives], axis=1)
        return _gather_images(images_t, indices), tf.gather(labels_t, indices)

    eligible_t = tf.constant(eligible)

    def make_epoch(epoch_seed):
        anchors = tf.gather(eligible_t,
                            _epochs.permutation(eligible.size, epoch_seed))
        return tf.data.Dataset.zip((
            tf.data.Dataset.from_tensor_slices(anchors).batch(batch_size),
            _epochs.batch_seeds(epoch_seed)))

    ds = _epochs.by_epoch(make_epoch, math.ceil(eligible.size / batch_size),
                          seed, epochs, initial_epoch)
    ds = ds.map(make_batch, num_parallel_calls=AUTOTUNE,
                deterministic=seed is not None)
    return ds.prefetch(AUTOTUNE)


def _class_groups(members, k, seed, rerandomize=True):
    """An infinite dataset of `[k]` groups of one class's example indices.

    Each pass over the class is a new random permutation, cut into groups
    of `k`. The `r < k` examples left at the end of a pass start the next
    group, completed by the first `k - r` examples of the next pass that are
    not among them (the others keep their random order), so a group never
    holds the same example twice, and every example comes once per pass.
    A class with fewer than `k` examples gives one group per pass: its
    permutation repeated up to `k` (repetition is unavoidable).
    """
    n = len(members)
    members = tf.constant(members, tf.int64)
    seeds = _batch_seeds(seed, rerandomize)

    def permutation(s):
        return tf.gather(members, tf.argsort(
            tf.random.stateless_uniform([n], seed=s), stable=True))

    if n < k:
        reps = -(-k // n)
        return seeds.map(lambda s: tf.tile(permutation(s), [reps])[None, :k]
                         ).unbatch()

    def one_pass(state, s):
        left, r = state  # left[:r] are the previous pass's leftover examples
        perm = permutation(s)
        fresh = tf.logical_not(tf.reduce_any(
            perm[:, None] == left[None, :r], axis=1))
        # the first k - r fresh examples complete the leftover group
        front = tf.logical_and(
            fresh, tf.cumsum(tf.cast(fresh, tf.int64)) <= k - r)
        stream = tf.concat([left[:r], tf.boolean_mask(perm, front),
                            tf.boolean_mask(perm, tf.logical_not(front))], 0)
        used = (r + n) // k * k
        groups = tf.reshape(stream[:used], [-1, k])
        rest = stream[used:]
        left = tf.concat([rest, tf.zeros([k - tf.size(rest)], tf.int64)], 0)
        return (tf.ensure_shape(left, [k]), tf.cast(tf.size(rest), tf.int64)
                ), groups

    initial = (tf.zeros([k], tf.int64), tf.constant(0, tf.int64))
    return seeds.scan(initial, one_pass).unbatch()


@kzoo_export("kzoo.data.class_balanced_dataset")
def class_balanced_dataset(images, labels, classes_per_batch,
                           examples_per_class, seed=None, num_replicas=1,
                           steps_per_epoch=None, epochs=None,
                           initial_epoch=0, augment_pad=None):
    """`P x K` batches (P classes, K examples each) for online mining.

    Losses that mine pairs or triplets inside the batch (batch-hard and
    semi-hard triplet, lifted structure, multi-similarity, ...) need several
    examples of each class in every batch. Built like tensorflow-similarity's
    samplers: one infinite, reshuffled dataset of example indices per class,
    interleaved by `tf.data.Dataset.choose_from_datasets` following a stream
    of class choices: `P = classes_per_batch` distinct classes drawn
    uniformly (without replacement) per block, each repeated
    `K = examples_per_class` times. Elements are `(images, labels)`:
    `float32` `[R * P * K, ...]` and `int32` `[R * P * K]`, block after
    block, each block's `K` examples of a class consecutive.

    Within a class, examples come in a random order without repetition
    until the class is exhausted, then in a new random order, and the `K`
    examples of a class in a block are always distinct (also across the
    boundary between two passes over the class); only a class with fewer
    than `K` examples repeats examples inside a block (a class with a single
    example gives `K` copies of it).

    Distributed training: with `num_replicas=R` the global batch is `R`
    consecutive `P x K` blocks (`R * P * K` examples). Keras (`tf.distribute`)
    splits a global batch into `R` consecutive equal slices, one per
    replica, so every replica sees a full `P x K` structure and its
    in-batch mining finds its `K - 1` positives per anchor. Blocks are drawn
    independently: two replicas may see the same class.

    Args:
        images: array `[N, ...]`, any numeric dtype.
        labels: integer array `[N]` of class ids.
        classes_per_batch: `P`, distinct classes per block, at most the
            number of classes. Defaults to none (required).
        examples_per_class: `K`, examples per class in a block. Defaults to
            none (required).
        seed: integer seed. Defaults to `None` (nondeterministic).
        num_replicas: `R`, number of `P x K` blocks per global batch (the
            number of replicas of the `tf.distribute` strategy). Defaults to
            `1`.
        steps_per_epoch: number of batches per epoch (per iteration of the
            dataset). Defaults to `None` (`max(1, N // (R * P * K))`, about
            one pass over the data).
        epochs: `None` for a dataset of `steps_per_epoch` batches, redrawn
            every time it is iterated; or the number of epochs to hold:
            one stream of `epochs * steps_per_epoch` batches that depends
            on `seed` alone, the same under any `tf.distribute` strategy
            (train with `steps_per_epoch`). Defaults to `None`.
        initial_epoch: with `epochs`, the first epoch held (a resumed
            run's: the stream's first `initial_epoch * steps_per_epoch`
            batches are skipped). Defaults to `0`.
        augment_pad: `None` for the images as given, or the classic
            augmentation of every batch: a random horizontal flip, then a
            random shift of up to `augment_pad` pixels
            (`kzoo.data.random_flip_and_translate`), its stateless seeds a
            stream of `seed + 1` that follows the batches (with `epochs`:
            the same on any strategy, and a resumed run skips the same
            `initial_epoch * steps_per_epoch` seeds). Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`.

    Example:

    ```python
    strategy = tf.distribute.MirroredStrategy()
    ds = kzoo.data.class_balanced_dataset(
        x_train, y_train, classes_per_batch=16, examples_per_class=4,
        seed=0, num_replicas=strategy.num_replicas_in_sync)
    model.compile("adam", loss=kzoo.addons.losses.TripletSemiHardLoss())
    model.fit(ds, epochs=10)
    ```

    Reference:
        - [Hermans et al., 2017, "In Defense of the Triplet Loss for Person
          Re-Identification"](https://arxiv.org/abs/1703.07737) (P x K
          batches).
        - tensorflow-similarity, `tensorflow_similarity/samplers/`.
    """
    images, labels = _check_arrays(images, labels)
    p = _check_positive_int(classes_per_batch, "classes_per_batch")
    k = _check_positive_int(examples_per_class, "examples_per_class")
    r = _check_positive_int(num_replicas, "num_replicas")
    if augment_pad is not None:
        augment_pad = _check_positive_int(augment_pad, "augment_pad")
    index = _ClassIndex(labels)
    num_classes = len(index.classes)
    if p > num_classes:
        raise ValueError(
            f"`classes_per_batch` must be at most the number of classes "
            f"({num_classes}). Received: classes_per_batch={p}"
        )
    global_batch = r * p * k
    if steps_per_epoch is None:
        steps_per_epoch = max(1, index.num_examples // global_batch)
    steps_per_epoch = _check_positive_int(steps_per_epoch, "steps_per_epoch")
    epochs, initial_epoch = _epochs.check_epochs(epochs, initial_epoch)
    rerandomize = epochs is None

    per_class = [
        _class_groups(
            index.order[index.starts[c]:index.starts[c] + index.counts[c]], k,
            None if seed is None else seed + 1 + c, rerandomize)
        for c in range(num_classes)
    ]

    def block_choices(s):
        scores = tf.random.stateless_uniform([num_classes], seed=s)
        return tf.cast(tf.argsort(scores, stable=True)[:p], tf.int64)

    choices = _batch_seeds(seed, rerandomize).map(block_choices).unbatch()
    # One element per chosen class: its K examples, then one per example.
    ds = tf.data.Dataset.choose_from_datasets(per_class, choices).unbatch()
    ds = ds.batch(global_batch, drop_remainder=True)
    if epochs is None:
        ds = ds.take(steps_per_epoch)
    else:
        ds = ds.take(epochs * steps_per_epoch).skip(
            initial_epoch * steps_per_epoch)
    images_t = tf.convert_to_tensor(images)
    labels_t = tf.constant(labels.astype("int32"))
    ds = ds.map(
        lambda idx: (_gather_images(images_t, idx), tf.gather(labels_t, idx)),
        num_parallel_calls=AUTOTUNE,
    )
    if augment_pad is not None:
        seeds = _batch_seeds(None if seed is None else seed + 1, rerandomize)
        if epochs is not None:
            seeds = seeds.skip(initial_epoch * steps_per_epoch)

        def augment(batch, s):
            batch_images, batch_labels = batch
            return (random_flip_and_translate(batch_images, s, augment_pad),
                    batch_labels)

        ds = tf.data.Dataset.zip((ds, seeds)).map(
            augment, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


@kzoo_export("kzoo.data.fixed_pairs")
def fixed_pairs(labels, seed, pairs_per_example):
    """A fixed set of pair indices `(i1, i2, y)` from `pair_dataset`.

    The sampler runs on the indices `0..N-1` instead of the images, once
    (`pairs_per_example` passes of `N` pairs, half similar), so the same
    seed gives the same pairs and the pairs cost no image memory: the
    fixed validation and test pairs of `recipes/siamese_contrastive.py`
    and of its preset's re-measure.

    Args:
        labels: `int` class labels `[N]`.
        seed: the sampler's seed.
        pairs_per_example: passes over the `N` examples.

    Returns:
        `(i1, i2, y)`, `int64` arrays; `y` is 0 for a similar pair, 1 for
        a dissimilar one.
    """
    make_batch, num_batches = _pair_batches(
        np.arange(len(labels), dtype="int32"), np.asarray(labels), 4096, 0.5)
    # Frozen: the per-iterator stream `pair_dataset` had before its epochs
    # were keyed on (seed, epoch), so that the shipped siamese preset's
    # card keeps being re-measured on the very pairs it states.
    ds = tf.data.Dataset.zip(
        (tf.data.Dataset.range(num_batches), _batch_seeds(seed))
    ).map(make_batch)
    i1, i2, y = [], [], []
    for (a, b), t in ds.repeat(pairs_per_example).as_numpy_iterator():
        i1.append(a)
        i2.append(b)
        y.append(t[:, 0])
    return (np.concatenate(i1).astype("int64"),
            np.concatenate(i2).astype("int64"),
            np.concatenate(y).astype("int64"))
