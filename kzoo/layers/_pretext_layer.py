"""Private base of the pretext layers (`QuarterRotations`, `JigsawTiles`,
`ColorizationSplit`, `DenoisingCorruption`, `PatchMasking`).

A subclass writes its task once, `_task(o, images, seed) -> outputs`, on
the ops namespace `o` of `kzoo._data_ops`, and `_task_config()` (its
constructor arguments). The base runs the task with `keras.ops` and the
layer's `SeedGenerator` inside a model or a compiled step, and with
TensorFlow and a stateless seed (from a `tf.random.Generator` made from
`seed`) when called on a symbolic `tf.Tensor` under another backend, i.e.
in a `tf.data` map; the `kzoo.data` pretext transforms call the same
`_task` function with the pipeline's seed. Float outputs come in the
layer's compute dtype, integer labels as they are.
"""

import keras

from kzoo._data_ops import KERAS_OPS
from kzoo._data_ops import TF_OPS
from kzoo._data_ops import TFSeedStream
from kzoo._data_ops import in_tf_graph


def check_image_batch(shape):
    """Raises unless `shape` is a batch `[B, H, W, C]`."""
    if len(shape) != 4:
        raise ValueError(
            "`images` must be a batch `[B, H, W, C]`. "
            f"Received: images.shape={tuple(shape)}"
        )


class PretextLayer(keras.layers.Layer):
    """Base class: one task function, in the step and in `tf.data`."""

    # Subclasses without randomness (colourisation) set this to False:
    # they take no `seed`.
    _random = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if self._random:
            self.seed = seed
            self.seed_generator = keras.random.SeedGenerator(seed)

    def __call__(self, inputs, *args, **kwargs):
        if in_tf_graph(inputs):
            seed = None
            if self._random:
                stream = self.__dict__.get("_tf_seeds")
                if stream is None:
                    stream = TFSeedStream(self.seed)
                    object.__setattr__(self, "_tf_seeds", stream)
                seed = stream.next()
            return self._transform(TF_OPS, inputs, seed)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, images):
        return self._transform(
            KERAS_OPS, images, self.seed_generator if self._random else None)

    def _transform(self, o, images, seed):
        return tuple(
            o.cast(t, self.compute_dtype)
            if "float" in keras.backend.standardize_dtype(t.dtype) else t
            for t in self._task(o, images, seed))

    def _task(self, o, images, seed):
        raise NotImplementedError

    def _task_config(self):
        return {}

    def get_config(self):
        config = super().get_config()
        config.update(self._task_config())
        if self._random:
            config["seed"] = self.seed
        return config
