"""`tf.data` pipelines for self-supervised pretext tasks."""

import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo._docs import fill_doc
from kzoo.data import _epochs
from kzoo.data._config import ConstructorConfig
from kzoo.data.pipelines import seeded_batches

AUTOTUNE = tf.data.AUTOTUNE


@kzoo_export("kzoo.data.pretext_dataset")
@fill_doc(epochs_args=_epochs.EPOCHS_ARGS)
def pretext_dataset(images, batch_size, transform, seed=None, shuffle=True,
                    drop_remainder=True, epochs=None, initial_epoch=0):
    """Batches of `(inputs, targets)` of a pretext task over images.

    The pretext transform (e.g. `kzoo.data.RotationPretext()`,
    `kzoo.data.JigsawPretext()`, `kzoo.data.ColorizationPretext()`,
    `kzoo.data.DenoisingPretext()`, `kzoo.data.MaskedPatchPretext()`) runs
    once per batch (vectorised) with a fresh stateless seed for each batch,
    drawn from `seed`: the same `seed` gives the same batches, epoch after
    epoch, whatever the `tf.data` parallelism, and each epoch draws new
    ones. The images stay in memory; batches are prefetched with
    `AUTOTUNE`. Batches are global: under `tf.distribute`, Keras splits each
    batch across the replicas (a transform may change the batch size, as
    `RotationPretext(all_rotations=True)` does).

    Args:
        images: `uint8` array `[N, H, W, 3]`.
        batch_size: global batch size (of images, before the transform).
        transform: callable `(images, seed) -> (inputs, targets)`.
        seed: integer seed of the shuffle and the transform. Defaults to
            `None` (nondeterministic).
        shuffle: reshuffle the examples every epoch. Defaults to `True`.
        drop_remainder: drop the last partial batch. Defaults to `True`.
        {epochs_args}

    Returns:
        A `tf.data.Dataset` of `(inputs, targets)`, ready for `model.fit`.

    Example:

    >>> ds = kzoo.data.pretext_dataset(
    ...     train.images, 128, kzoo.data.RotationPretext(), seed=0)
    >>> model.fit(ds, epochs=5)
    """
    if not callable(transform):
        raise ValueError(
            "`transform` must be a callable `(images, seed) -> (inputs, "
            f"targets)`. Received: transform={transform!r}"
        )
    ds = seeded_batches(images, batch_size, seed, shuffle, drop_remainder,
                        epochs=epochs, initial_epoch=initial_epoch)

    def apply(batch, s):
        inputs, targets = transform(batch, s[0])
        return inputs, targets

    ds = ds.map(apply, num_parallel_calls=AUTOTUNE,
                deterministic=seed is not None)
    return ds.prefetch(AUTOTUNE)


@kzoo_export("kzoo.data.NoisePretext")
class NoisePretext(ConstructorConfig):
    """A pretext transform that pairs each image with a noise vector.

    For models whose `train_step` draws nothing itself and reads its
    randomness from the batch (MAE's patch ranking, a GAN's latent
    codes): `(images, seed) -> ({"images": float32 images, "noise":
    [B, size]}, zeros [B])`, the noise drawn from the batch's stateless
    seed, so `kzoo.data.pretext_dataset` gives the same noise for the same
    seed and epoch on any strategy. The zero targets only satisfy `fit`.

    Args:
        size: length of each image's noise vector (MAE: the number of
            patches; DCGAN: the latent dimension).
        distribution: `"uniform"` on `[0, 1)` or `"normal"` (standard).
            Defaults to `"uniform"`.
    """

    def __init__(self, size, distribution="uniform"):
        size = check_positive_int(size, "size")
        if distribution not in ("uniform", "normal"):
            raise ValueError(
                "`distribution` must be 'uniform' or 'normal'. Received: "
                f"distribution={distribution!r}")
        self.size = size
        self.distribution = distribution

    def __call__(self, images, seed):
        batch = tf.shape(images)[0]
        draw = (tf.random.stateless_uniform if self.distribution == "uniform"
                else tf.random.stateless_normal)
        noise = draw([batch, self.size], seed)
        return ({"images": tf.cast(images, tf.float32), "noise": noise},
                tf.zeros([batch]))
