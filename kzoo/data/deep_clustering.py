"""Pseudo-labelled batches, sampled uniformly over clusters (DeepCluster).

`UniformLabelSampler` holds the current pseudo-labels of a training set and
draws, for each epoch, the same number of examples from every cluster (Caron
et al., 2018: "sample images based on a uniform distribution over the
classes, or pseudo-labels"); `deep_cluster_dataset` turns it into a
`tf.data.Dataset` of `(images, pseudo_labels)` batches. The labels are
replaced between epochs by `kzoo.models.DeepClusterCallback` (or by
`sampler.set_labels(...)`); each pass over the dataset reads them once, when
it starts, so they never change inside an epoch.
"""

import threading

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.eval.knn import _check_positive_int

AUTOTUNE = tf.data.AUTOTUNE


def _check_labels(labels, num_examples, num_clusters):
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[-1] == 1:
        labels = labels.reshape(-1)
    if labels.ndim != 1 or labels.shape[0] != num_examples:
        raise ValueError(
            "`labels` must be an integer array with one pseudo-label per "
            f"example ({num_examples}). Received: labels.shape={labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        as_int = labels.astype("int64")
        if not np.array_equal(as_int, labels):
            raise ValueError(
                "`labels` must contain integer cluster ids. "
                f"Received: labels.dtype={labels.dtype}"
            )
        labels = as_int
    labels = labels.astype("int64")
    if labels.min() < 0 or labels.max() >= num_clusters:
        raise ValueError(
            f"`labels` must be cluster ids in [0, {num_clusters}). "
            f"Received: labels in [{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


@kzoo_export("kzoo.data.UniformLabelSampler")
class UniformLabelSampler:
    """Draws each epoch's examples uniformly over the pseudo-labels.

    DeepCluster's clusters are very unbalanced (k-means on features of a
    random network puts most images in a few clusters), and a classifier
    trained on them would learn to predict the big ones. The paper therefore
    samples "based on a uniform distribution over the classes, or
    pseudo-labels" (the reference code's `UnifLabelSampler`): every epoch
    draws the same number of examples from every non-empty cluster.

    An epoch is `steps_per_epoch * batch_size` examples `S`. With `K'`
    non-empty clusters, every cluster gets `S // K'` draws and `S % K'`
    clusters drawn at random get one more, so the counts are equal within
    one. Inside a cluster the draws are stratified: a cluster of `n`
    examples asked for `m` draws gives every example `m // n` times plus a
    random subset of `m % n` examples once more (without replacement when
    `m <= n`; the reference code draws independently with replacement).
    The examples of an epoch are then shuffled together.

    The sampler keeps its own copy of the labels (`set_labels`). Each call
    of `sample_epoch()` (one per pass over `kzoo.data.deep_cluster_dataset`)
    reads the current labels once, so a change made during an epoch applies
    from the next epoch on. Until the first `set_labels`, the labels are a
    random balanced assignment (`i % num_clusters`, shuffled), so a batch can
    be drawn before any clustering (Keras does so to build a model under a
    `tf.distribute` strategy).

    Args:
        num_examples: number of training examples `N`.
        num_clusters: number of clusters `k` (the size of the classifier).
        batch_size: global batch size. Defaults to none (required).
        steps_per_epoch: batches per epoch. Defaults to `None`:
            `max(1, N // batch_size)`, about one pass over the data, as in the
            paper.
        labels: optional initial pseudo-labels `[N]`. Defaults to `None`.
        seed: integer seed of the draws. An epoch's draws depend only on
            the seed, the labels' `version` and the draw's `key` (see
            `sample_epoch`), not on `tf.data` parallelism or timing.
            Defaults to `None` (nondeterministic).

    Example:

    >>> sampler = kzoo.data.UniformLabelSampler(50000, 100, batch_size=256)
    >>> sampler.set_labels(pseudo_labels)
    >>> indices, labels = sampler.sample_epoch()
    >>> np.bincount(labels, minlength=100)  # all 499 or 500

    Reference:
        - [Caron et al., 2018, "Deep Clustering for Unsupervised Learning of
          Visual Features"](https://arxiv.org/abs/1807.05520), section 3.3;
          `UnifLabelSampler` in facebookresearch/deepcluster `util.py`.
    """

    def __init__(self, num_examples, num_clusters, batch_size,
                 steps_per_epoch=None, labels=None, seed=None):
        self.num_examples = _check_positive_int(num_examples, "num_examples")
        self.num_clusters = _check_positive_int(num_clusters, "num_clusters")
        if self.num_clusters > self.num_examples:
            raise ValueError(
                "`num_clusters` must not exceed the number of examples "
                f"({self.num_examples}). Received: num_clusters={num_clusters}"
            )
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if steps_per_epoch is None:
            steps_per_epoch = max(1, self.num_examples // self.batch_size)
        self.steps_per_epoch = _check_positive_int(
            steps_per_epoch, "steps_per_epoch"
        )
        self.seed = seed
        self._entropy = np.random.SeedSequence(seed).entropy
        self._lock = threading.Lock()
        self._draws = 0
        # (labels, version): replaced as a whole, read once per epoch.
        self._state = (None, 0)
        if labels is None:
            rng = np.random.default_rng([self._entropy, 0])
            self._state = (self._freeze(rng.permutation(
                np.arange(self.num_examples) % self.num_clusters)), 0)
        else:
            self.set_labels(labels)

    @staticmethod
    def _freeze(labels):
        labels = np.array(labels, dtype="int64", copy=True)
        labels.setflags(write=False)
        return labels

    @property
    def labels(self):
        """The current pseudo-labels, a read-only `int64` array `[N]`."""
        return self._state[0]

    @property
    def version(self):
        """How many times `set_labels` was called."""
        return self._state[1]

    @property
    def samples_per_epoch(self):
        """`steps_per_epoch * batch_size`."""
        return self.steps_per_epoch * self.batch_size

    def set_labels(self, labels):
        """Replaces the pseudo-labels, from the next epoch on.

        Args:
            labels: integer array `[N]` of cluster ids in `[0, k)`; copied.
        """
        labels = self._freeze(
            _check_labels(labels, self.num_examples, self.num_clusters)
        )
        with self._lock:
            self._state = (labels, self._state[1] + 1)
            self._draws = 0

    def sample_epoch(self, key=None):
        """Draws the examples of one epoch.

        Args:
            key: optional integer naming the draw: with a `seed`, the same
                labels and `key` give the same epoch. Defaults to `None`
                (the next of a sequence of draws, restarted by
                `set_labels`).

        Returns:
            A tuple `(indices, labels)` of `int64` arrays of length
            `steps_per_epoch * batch_size`: the example indices in the order
            of the epoch and their pseudo-labels (all read from the same
            labels).
        """
        with self._lock:
            labels, version = self._state
            if key is None:
                stream, draw = 1, self._draws
                self._draws += 1
            else:
                stream, draw = 2, int(key) & 0xFFFFFFFFFFFFFFFF
        rng = np.random.default_rng([self._entropy, stream, version, draw])
        order = np.argsort(labels, kind="stable")
        clusters, starts, sizes = np.unique(
            labels[order], return_index=True, return_counts=True
        )
        total = self.samples_per_epoch
        counts = np.full(len(clusters), total // len(clusters), "int64")
        counts[rng.choice(len(clusters), total % len(clusters),
                          replace=False)] += 1
        # A random order inside every cluster (sort by cluster, then by a
        # random key); cluster c's j-th draw is the (j % size)-th of it.
        order = order[np.lexsort((rng.random(len(labels)), labels[order]))]
        cluster_of_draw = np.repeat(np.arange(len(clusters)), counts)
        first_draw = np.repeat(np.cumsum(counts) - counts, counts)
        j = np.arange(total, dtype="int64") - first_draw
        positions = starts[cluster_of_draw] + j % sizes[cluster_of_draw]
        indices = order[positions]
        indices = indices[rng.permutation(total)]
        return indices.astype("int64"), labels[indices]


@kzoo_export("kzoo.data.deep_cluster_dataset")
def deep_cluster_dataset(images, sampler, augment=None, seed=None):
    """Batches of `(images, pseudo_labels)` sampled uniformly over clusters.

    Every pass over the dataset is one epoch: `sampler.steps_per_epoch`
    batches of `sampler.batch_size` images drawn by
    `sampler.sample_epoch()` (the same number of images from every cluster,
    shuffled), with the pseudo-labels read once at the start of the pass.
    Elements are `float32` images in `[0, 255]` `[B, H, W, C]` (augmented
    when `augment` is given) and `int32` pseudo-labels `[B]`, ready for
    `kzoo.models.DeepCluster.fit`.

    The images stay in memory; a Python generator gathers each batch
    (`tf.data.Dataset.from_generator`, so the dataset cannot be serialised:
    no tf.data service, no multi-worker autosharding), then the
    augmentation runs per batch (vectorised, in parallel) with a fresh
    stateless seed drawn from `seed`, and batches are prefetched inside the
    epoch. `kzoo.models.DeepClusterCallback` replaces the labels in
    `on_epoch_begin`, before Keras starts the epoch's pass, so every batch
    of an epoch uses the assignment made at its start. Each pass draws its
    examples with a key taken when its iterator is created, so with seeded
    samplers the epochs are reproducible.

    Pass the dataset to `fit` **without** `steps_per_epoch`: its length is
    fixed (the sampler's), and Keras then starts a new pass at every epoch,
    after `on_epoch_begin`. With `steps_per_epoch`, Keras creates the next
    pass's iterator at the end of an epoch, before the callback has
    reassigned the labels, and that pass may read the old ones.

    Args:
        images: array `[N, H, W, C]` of the training images (`uint8` or
            float in `[0, 255]`).
        sampler: a `kzoo.data.UniformLabelSampler` over the `N` images.
        augment: optional callable `(images, seed) -> images` applied to
            every batch (`float32` pixels in `[0, 255]`, a stateless seed of
            shape `[2]`), e.g. the paper's random resized crop and flip:
            `kzoo.data.SimSiamAugmentation(crop_scale=(0.08, 1.0),
            jitter_probability=0.0, grayscale_probability=0.0)`, or
            `kzoo.data.random_flip_and_translate`. Defaults to `None` (no
            augmentation, images cast to `float32`).
        seed: integer seed of the augmentation. Defaults to `None`
            (nondeterministic).

    Returns:
        A `tf.data.Dataset` of `sampler.steps_per_epoch` batches.

    Example:

    ```python
    sampler = kzoo.data.UniformLabelSampler(len(x), 100, batch_size=256,
                                            seed=0)
    ds = kzoo.data.deep_cluster_dataset(x, sampler, seed=0)
    callback = kzoo.models.DeepClusterCallback(x, sampler, seed=0)
    model = kzoo.models.DeepCluster(backbone, num_clusters=100)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(ds, epochs=100, callbacks=[callback])
    ```

    Reference:
        - [Caron et al., 2018](https://arxiv.org/abs/1807.05520).
    """
    if not isinstance(sampler, UniformLabelSampler):
        raise ValueError(
            "`sampler` must be a `kzoo.data.UniformLabelSampler`. "
            f"Received: sampler={sampler!r}"
        )
    if len(images) != sampler.num_examples:
        raise ValueError(
            f"`images` must hold the sampler's {sampler.num_examples} "
            f"examples. Received: len(images)={len(images)}"
        )
    if augment is not None and not callable(augment):
        raise ValueError(
            "`augment` must be a callable `(images, seed) -> images` or "
            f"`None`. Received: augment={augment!r}"
        )
    images = np.asarray(images)
    batch_size = sampler.batch_size
    steps = sampler.steps_per_epoch

    def epoch(key):
        indices, labels = sampler.sample_epoch(key=key)
        for step in range(steps):
            batch = slice(step * batch_size, (step + 1) * batch_size)
            yield images[indices[batch]], labels[batch].astype("int32")

    signature = (
        tf.TensorSpec((batch_size,) + images.shape[1:],
                      tf.as_dtype(images.dtype)),
        tf.TensorSpec((batch_size,), tf.int32),
    )
    # One key per pass, drawn when the pass's iterator is created (in the
    # main thread): the epochs do not depend on when the generator runs,
    # nor on iterators Keras creates and drops between epochs.
    plan_seed = None
    if sampler.seed is not None:
        plan_seed = int(
            np.random.SeedSequence(sampler._entropy).generate_state(1)[0]
        )
    keys = tf.data.Dataset.random(
        seed=plan_seed, rerandomize_each_iteration=True
    ).take(1)
    ds = keys.flat_map(
        lambda key: tf.data.Dataset.from_generator(
            epoch, output_signature=signature, args=(key,)
        )
    )
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    if augment is None:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y),
                    num_parallel_calls=AUTOTUNE)
    else:
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2)

        def augment_batch(xy, s):
            x = augment(tf.cast(xy[0], tf.float32), s)
            return tf.cast(x, tf.float32), xy[1]

        ds = tf.data.Dataset.zip((ds, seeds)).map(
            augment_batch, num_parallel_calls=AUTOTUNE, deterministic=True,
        )
    return ds.prefetch(AUTOTUNE)
