"""Offline hard triplet mining over a memory bank (`OfflineHardMiner`)."""

import keras
import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data.samplers import _check_arrays
from kzoo.eval.knn import _check_positive_int
from kzoo.ops import cosine_distance
from kzoo.ops import pairwise_distance


@kzoo_export("kzoo.data.OfflineHardMiner")
class OfflineHardMiner(keras.callbacks.Callback):
    """Offline hard triplet mining over a memory bank, refreshed during `fit`.

    Every `refresh_every` training steps (and once when `dataset()` is
    called, if `refresh()` never was), the memory bank (all examples, or a random subset of `bank_size`
    examples redrawn at each refresh) is embedded with the current
    `embedding_model`; then every bank example whose class has another
    example and which has an example of another class in the bank becomes
    an anchor, with:

    - its *hardest positive*: the farthest other example of its class in the
      bank;
    - its *hardest negative*: the closest example of another class in the
      bank.

    Ties go to the lowest index. `dataset()` yields batches of these mined
    triplets in the format of `kzoo.data.triplet_dataset` (`float32`
    `[B, 3, ...]` stacked anchor / positive / negative images and `int32`
    `[B, 3]` labels), cycling through them in random order, forever (pass
    `steps_per_epoch` to `fit`). The miner is itself the Keras callback that
    refreshes the mining: pass it in `callbacks`, or call `refresh()`
    yourself. The dataset does not prefetch, so the next batch drawn after a
    refresh comes from the new mining (unless a `tf.distribute` strategy
    prefetches batches to the devices).

    Hard mining is sensitive to label noise and can collapse a model early in
    training (FaceNet prefers semi-hard negatives); it is typically used
    after a warm-up or with a bank of moderate size.

    Args:
        images: array `[N, ...]`, any numeric dtype.
        labels: integer array `[N]` of class ids.
        embedding_model: the tower: a `keras.Model` or a callable mapping a
            `float32` batch of images to `[b, D]` embeddings. A `keras.Model`
            runs in inference mode (`kzoo.eval.embed`); any other callable is
            called as `embedding_model(batch)`.
        batch_size: number of triplets per batch. Defaults to none
            (required).
        refresh_every: number of training steps between two refreshes.
            Defaults to `100`.
        bank_size: size of the memory bank. Defaults to `None` (all `N`
            examples).
        distance: `"l2"` or `"cosine"`, the distance of the mining. Defaults
            to `"l2"`.
        embed_batch_size: batch size of the embedding passes. Defaults to
            `256`.
        seed: integer seed of the bank subsets and the batch order. Defaults
            to `None` (nondeterministic).

    Example:

    ```python
    tower = keras.Sequential([...])
    model = kzoo.models.triplet_network(tower)
    miner = kzoo.data.OfflineHardMiner(
        x_train, y_train, tower, batch_size=32, refresh_every=200, seed=0)
    model.compile("adam", loss=triplet_loss)  # y_pred: [B, 3, D]
    model.fit(miner.dataset(), steps_per_epoch=500, epochs=10,
              callbacks=[miner])
    ```

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832)
          (offline mining of hardest positives and negatives).
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """

    def __init__(
        self,
        images,
        labels,
        embedding_model,
        batch_size,
        refresh_every=100,
        bank_size=None,
        distance="l2",
        embed_batch_size=256,
        seed=None,
    ):
        super().__init__()
        self.images, self.labels = _check_arrays(images, labels)
        if not callable(embedding_model):
            raise ValueError(
                "`embedding_model` must be a `keras.Model` or a callable. "
                f"Received: embedding_model={embedding_model!r}"
            )
        self.embedding_model = embedding_model
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.refresh_every = _check_positive_int(refresh_every, "refresh_every")
        if bank_size is not None:
            bank_size = _check_positive_int(bank_size, "bank_size")
        self.bank_size = bank_size
        if distance not in ("l2", "cosine"):
            raise ValueError(
                "`distance` must be 'l2' or 'cosine'. "
                f"Received: distance={distance!r}"
            )
        self.distance = distance
        self.embed_batch_size = _check_positive_int(
            embed_batch_size, "embed_batch_size"
        )
        self.seed = seed
        self._seed_sequence = np.random.SeedSequence(seed)
        self._bank_rng = np.random.default_rng(self._seed_sequence.spawn(1)[0])
        self._mined = None
        self._steps = 0
        self.num_refreshes = 0

    @property
    def triplets(self):
        """The current mined triplets as index arrays
        `(anchors, positives, negatives)` into `images`, or `None` before
        the first refresh."""
        return self._mined

    def _embed(self, bank):
        everything = len(bank) == len(self.labels)
        if isinstance(self.embedding_model, keras.Model):
            from kzoo.eval.knn import embed

            images = self.images if everything else self.images[bank]
            return embed(self.embedding_model, images,
                         batch_size=self.embed_batch_size)
        outputs = []
        for start in range(0, len(bank), self.embed_batch_size):
            chunk = bank[start:start + self.embed_batch_size]
            x = np.asarray(self.images[chunk], dtype="float32")
            y = self.embedding_model(x)
            y = np.asarray(keras.ops.convert_to_numpy(y), dtype="float32")
            if y.ndim != 2 or y.shape[0] != len(chunk):
                raise ValueError(
                    "`embedding_model` must return `[batch, dim]` embeddings. "
                    f"Received: output shape={y.shape}"
                )
            outputs.append(y)
        return np.concatenate(outputs, axis=0)

    def refresh(self):
        """Embeds the memory bank with the current model and re-mines.

        Returns:
            The number of mined triplets (anchors).
        """
        n = len(self.labels)
        if self.bank_size is None or self.bank_size >= n:
            bank = np.arange(n, dtype="int64")
        else:
            bank = np.sort(
                self._bank_rng.choice(n, self.bank_size, replace=False)
            ).astype("int64")
        embeddings = self._embed(bank)
        if embeddings.shape[0] != len(bank):
            raise ValueError(
                "`embedding_model` must return one embedding per image. "
                f"Received: {embeddings.shape[0]} embeddings for "
                f"{len(bank)} images"
            )
        bank_labels = self.labels[bank]
        bank_t = keras.ops.convert_to_tensor(embeddings)
        anchors, positives, negatives = [], [], []
        chunk_size = 256  # 256 x 50,000 float32 distances: 51 MB.
        for start in range(0, len(bank), chunk_size):
            rows = np.arange(start, min(start + chunk_size, len(bank)))
            query = bank_t[start:start + len(rows)]
            if self.distance == "l2":
                d = pairwise_distance(query, bank_t, squared=True)
            else:
                d = cosine_distance(query, bank_t)
            d = keras.ops.convert_to_numpy(d)
            same = bank_labels[rows][:, None] == bank_labels[None, :]
            not_self = np.ones_like(same)
            not_self[np.arange(len(rows)), rows] = False
            positive_mask = same & not_self
            negative_mask = ~same
            valid = positive_mask.any(1) & negative_mask.any(1)
            hardest_negative = np.where(negative_mask, d, np.inf).argmin(1)
            hardest_positive = np.where(positive_mask, d, -np.inf).argmax(1)
            anchors.append(rows[valid])
            positives.append(hardest_positive[valid])
            negatives.append(hardest_negative[valid])
        anchors = np.concatenate(anchors)
        if anchors.size == 0:
            raise ValueError(
                "No anchor in the memory bank has both a positive (another "
                "example of its class) and a negative (another class). "
                f"Received: bank_size={len(bank)}, classes in the bank="
                f"{np.unique(bank_labels).size}"
            )
        self._mined = (
            bank[anchors],
            bank[np.concatenate(positives)],
            bank[np.concatenate(negatives)],
        )
        self.num_refreshes += 1
        return int(anchors.size)

    def _generate(self):
        rng = np.random.default_rng(self._seed_sequence.spawn(1)[0])
        current, perm, position = None, None, 0
        while True:
            mined = self._mined
            if mined is not current:
                current = mined
                perm, position = rng.permutation(len(mined[0])), 0
            chosen, needed = [], self.batch_size
            while needed:
                if position >= len(perm):
                    perm, position = rng.permutation(len(perm)), 0
                take = perm[position:position + needed]
                chosen.append(take)
                position += len(take)
                needed -= len(take)
            chosen = np.concatenate(chosen)
            indices = np.stack([m[chosen] for m in current], axis=1)
            yield (
                np.asarray(self.images[indices.reshape(-1)], "float32").reshape(
                    indices.shape + tuple(self.images.shape[1:])
                ),
                self.labels[indices].astype("int32"),
            )

    def dataset(self):
        """An infinite `tf.data.Dataset` of mined triplets.

        Mines once first if `refresh()` was never called. Elements are
        `(triplets, triplet_labels)`, `float32` `[B, 3, ...]` and `int32`
        `[B, 3]`, as in `kzoo.data.triplet_dataset`. The dataset is backed by
        a Python generator (`tf.data.Dataset.from_generator`): it cannot be
        serialised (no tf.data service, no multi-worker autosharding).

        Returns:
            A `tf.data.Dataset`.
        """
        if self._mined is None:
            self.refresh()
        shape = tuple(self.images.shape[1:])
        ds = tf.data.Dataset.from_generator(
            self._generate,
            output_signature=(
                tf.TensorSpec((self.batch_size, 3) + shape, tf.float32),
                tf.TensorSpec((self.batch_size, 3), tf.int32),
            ),
        )
        # Batches are produced on demand, so a refresh takes effect at the
        # next batch (tf.data would otherwise inject a prefetch buffer).
        options = tf.data.Options()
        options.experimental_optimization.inject_prefetch = False
        return ds.with_options(options)

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps % self.refresh_every == 0:
            self.refresh()


@kzoo_export("kzoo.data.hard_triplet_dataset")
def hard_triplet_dataset(images, labels, embedding_model, batch_size,
                         refresh_every=100, **kwargs):
    """Offline hard-mined triplets and the callback that refreshes them.

    A shortcut for `miner = kzoo.data.OfflineHardMiner(...)` and
    `miner.dataset()`; see `kzoo.data.OfflineHardMiner`.

    Args:
        images: array `[N, ...]`.
        labels: integer array `[N]` of class ids.
        embedding_model: a `keras.Model` or callable images -> `[b, D]`.
        batch_size: number of triplets per batch. Defaults to none
            (required).
        refresh_every: training steps between two re-minings. Defaults to
            `100`.
        **kwargs: the other `OfflineHardMiner` arguments (`bank_size`,
            `distance`, `embed_batch_size`, `seed`).

    Returns:
        A tuple `(dataset, miner)`: pass `miner` in the `callbacks` of `fit`.

    Example:

    ```python
    ds, miner = kzoo.data.hard_triplet_dataset(x, y, tower, 32, seed=0)
    model.fit(ds, steps_per_epoch=500, epochs=10, callbacks=[miner])
    ```
    """
    miner = OfflineHardMiner(images, labels, embedding_model, batch_size,
                             refresh_every=refresh_every, **kwargs)
    return miner.dataset(), miner
