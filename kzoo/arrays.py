"""Batches of in-memory image arrays as `keras.utils.PyDataset`s.

The input path that needs no TensorFlow: NumPy arrays in, NumPy batches out,
for `fit` / `evaluate` / `predict` under every Keras backend (JAX, PyTorch,
TensorFlow). The images stay `uint8` until the model reads them.

- `kzoo.arrays.TwoViewArrays`: shuffled `uint8` image batches for a
  two-view model that makes its own views on the accelerator
  (`kzoo.models.SimSiam(..., augmentation=...)`): what
  `kzoo.data.two_view_dataset` is to the `tf.data` path, without the
  augmentation.
- `kzoo.arrays.LabeledArrays`: `(images, labels)` batches, optionally
  shuffled and randomly flipped, as `kzoo.data.labeled_dataset`.

Shuffles and flips are seeded: the `k`-th order (and flips) come from
`numpy.random.default_rng((seed, k, stream))`, redrawn at each
`on_epoch_end` (Keras calls it after every epoch, and once more after the
batch `fit` may peek at to build the model), so the same `seed` gives the
same batches whatever the number of workers. Pass `shuffle=False` to `fit`:
its own shuffle reorders a `PyDataset`'s batches from Python's global
random state.
"""

import math

import keras
import numpy as np


def _check_batch_size(batch_size):
    if (isinstance(batch_size, bool) or int(batch_size) != batch_size
            or batch_size < 1):
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size}"
        )
    return int(batch_size)


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "`images` must be an array of images `[N, H, W, C]`. "
            f"Received: images.shape={images.shape}"
        )
    return images


class _EpochArrays(keras.utils.PyDataset):
    """Base: batches of rows of `num_examples`, reordered every epoch."""

    def __init__(self, num_examples, batch_size, seed, shuffle,
                 drop_remainder, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = _check_batch_size(batch_size)
        if seed is not None and (isinstance(seed, bool)
                                 or int(seed) != seed):
            raise ValueError(
                f"`seed` must be `None` or an integer. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.num_examples = int(num_examples)
        if self.drop_remainder and self.num_examples < self.batch_size:
            raise ValueError(
                f"The arrays hold {self.num_examples} examples, fewer than "
                "one batch, and drop_remainder=True. "
                f"Received: batch_size={self.batch_size}"
            )
        if self.seed is None:
            self._unseeded = np.random.default_rng()
        self.epoch = 0
        self._start_epoch()

    def _rng(self, stream):
        """A generator for `stream` of the current epoch."""
        if self.seed is None:
            return self._unseeded
        return np.random.default_rng((self.seed, self.epoch, stream))

    def _start_epoch(self):
        n = self.num_examples
        self._order = (self._rng(0).permutation(n) if self.shuffle
                       else np.arange(n))

    def __len__(self):
        if self.drop_remainder:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def _rows(self, index):
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index out of range: {index} (the epoch has "
                f"{len(self)} batches).")
        return self._order[index * self.batch_size:
                           (index + 1) * self.batch_size]

    def on_epoch_end(self):
        self.epoch += 1
        self._start_epoch()


class TwoViewArrays(_EpochArrays):
    """Shuffled `uint8` image batches for a model that augments on device.

    Each item is a 1-tuple `(images,)`, `uint8` `[batch_size, H, W, C]`
    (the raw pixels): `fit` feeds them to a `kzoo.models.TwoViewModel`
    built with an `augmentation` layer, which draws the two views inside
    the compiled training step, on the accelerator. Batching follows
    `kzoo.data.two_view_dataset`: the examples are reshuffled every epoch
    from `seed` and the last partial batch is dropped. Needs no TensorFlow.

    Args:
        images: `uint8` array `[N, H, W, C]`, held in memory (not copied).
        batch_size: global batch size (under
            `keras.distribution.DataParallel` the batch is split across
            the devices).
        seed: integer seed of the shuffle, redrawn at each
            `on_epoch_end` (see the module docstring). `None` draws a
            fresh order every epoch. Defaults to `None`.
        shuffle: reshuffle the examples every epoch. Defaults to `True`.
        drop_remainder: drop the last partial batch (two-view models'
            batch statistics are poor on tiny batches). Defaults to `True`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:

    ```python
    # uint8 in, views in [0, 255] out (kzoo.runs.pixel_view_augmentation)
    augmentation = kzoo.runs.pixel_view_augmentation(seed=0)
    model = kzoo.models.SimSiam(backbone, augmentation=augmentation)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.6))
    model.fit(kzoo.arrays.TwoViewArrays(images, batch_size=128, seed=0),
              epochs=5, shuffle=False)
    ```
    """

    def __init__(self, images, batch_size, seed=None, shuffle=True,
                 drop_remainder=True, **kwargs):
        self.images = _check_images(images)
        super().__init__(len(self.images), batch_size, seed, shuffle,
                         drop_remainder, **kwargs)

    def __getitem__(self, index):
        return (self.images[self._rows(index)],)


class LabeledArrays(_EpochArrays):
    """`(float32 images in [0, 255], int32 labels)` batches, optionally
    shuffled and flipped.

    The array counterpart of `kzoo.data.labeled_dataset`: by default the
    examples in order, every batch kept (the last one may be smaller).
    With `flip`, each image is mirrored left-right with probability 0.5,
    drawn again every epoch from `seed` (the augmentation of
    `kzoo.eval.augmented_linear_probe`). Needs no TensorFlow.

    Args:
        images: array `[N, H, W, C]`, any dtype (returned as `float32`).
        labels: integer array `[N]`.
        batch_size: batch size.
        shuffle: reshuffle the examples every epoch. Defaults to `False`.
        seed: integer seed of the shuffle and the flips (redrawn every
            epoch, as `TwoViewArrays`). Defaults to `None`.
        flip: random horizontal flips. Defaults to `False`.
        drop_remainder: drop the last partial batch. Defaults to `False`.
        **kwargs: `keras.utils.PyDataset` arguments.

    Example:

    ```python
    train = kzoo.arrays.LabeledArrays(images, labels, 128, shuffle=True,
                                      seed=0, flip=True)
    classifier.fit(train, epochs=5, shuffle=False)
    ```
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=None,
                 flip=False, drop_remainder=False, **kwargs):
        self.images = _check_images(images)
        self.labels = np.asarray(labels).reshape(-1).astype("int32")
        if len(self.labels) != len(self.images):
            raise ValueError(
                "`images` and `labels` must have the same length. Received: "
                f"{len(self.images)} images and {len(self.labels)} labels")
        self.flip = bool(flip)
        super().__init__(len(self.images), batch_size, seed, shuffle,
                         drop_remainder, **kwargs)

    def _start_epoch(self):
        super()._start_epoch()
        if self.flip:
            self._flips = self._rng(1).random(self.num_examples) < 0.5

    def __getitem__(self, index):
        rows = self._rows(index)
        images = self.images[rows].astype("float32")
        if self.flip:
            flipped = self._flips[rows]
            images[flipped] = images[flipped][:, :, ::-1]
        return images, self.labels[rows]
