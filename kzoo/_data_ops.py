"""One implementation of a transform, run in `tf.data` and in the step.

kzoo's transforms (the pretext tasks' corruptions, rotations, masks) are
written once, as functions of an *ops namespace* `o` that has the names of
`keras.ops` (`o.where`, `o.reshape`, `o.image.resize`, ...) plus a few
random draws that take the seed as their first argument:

- `KERAS_OPS`: `keras.ops` and `keras.random` of the current backend, with
  a `keras.random.SeedGenerator` as seed: what a layer runs inside a model
  or a compiled training step, on any backend.
- `TF_OPS`: the same functions of Keras' TensorFlow backend, with a
  stateless seed (an integer tensor `[2]`): what a `tf.data` map runs,
  whatever Keras' backend is. One stateless seed per batch, drawn by the
  pipeline from the dataset's seed, makes the batches the same for the
  same seed whatever the `tf.data` parallelism.

This is the mechanism of Keras' own preprocessing layers (a private
`DataLayer` whose `self.backend` switches to TensorFlow inside a
`tf.data` graph), kept small and inside kzoo: the only Keras names it
reads are the backend modules `keras.src.backend.tensorflow.*`, the ones
that `keras.ops` itself calls. Under the TensorFlow backend the two
namespaces compute with the same TensorFlow kernels.

A transform draws its random numbers with `o.uniform`, `o.normal`,
`o.randint`; when it needs several independent draws from one stateless
seed it calls `o.split_seed(seed, n)` (a `SeedGenerator` advances by
itself, so `KERAS_OPS` returns it `n` times). `o.select_apply(mask, fn,
images, *per_image)` applies `fn` to the images `mask` selects: on every
image then a select under `KERAS_OPS` (static shapes), on the selected
ones only under `TF_OPS` (same values, less work in `tf.data`).
"""

import importlib
import sys

import keras


class _KerasOps:
    """`keras.ops` + `keras.random` with `SeedGenerator` (or int) seeds."""

    name = "keras"

    def __getattr__(self, name):
        return getattr(keras.ops, name)

    @property
    def image(self):
        return keras.ops.image

    def uniform(self, seed, shape, minval=0.0, maxval=1.0, dtype="float32"):
        return keras.random.uniform(shape, minval=minval, maxval=maxval,
                                    dtype=dtype, seed=seed)

    def normal(self, seed, shape, mean=0.0, stddev=1.0, dtype="float32"):
        return keras.random.normal(shape, mean=mean, stddev=stddev,
                                   dtype=dtype, seed=seed)

    def randint(self, seed, shape, minval, maxval, dtype="int32"):
        return keras.random.randint(shape, minval, maxval, dtype=dtype,
                                    seed=seed)

    def split_seed(self, seed, n):
        return [seed] * n

    def select_apply(self, mask, fn, images, *per_image):
        """`fn(images, *per_image)` where `mask` `[B]` is true, else the
        image: computed for every image, then selected (static shapes, as
        a compiled step needs)."""
        out = fn(images, *per_image)
        return keras.ops.where(
            keras.ops.reshape(mask, (-1,) + (1,) * (len(images.shape) - 1)),
            out, images)


class _TensorFlowOps:
    """Keras' TensorFlow backend functions + stateless TensorFlow draws."""

    name = "tensorflow"
    _MODULES = ("core", "numpy", "math", "nn", "linalg")

    def __init__(self):
        self._cache = {}

    def _backend(self, module):
        return importlib.import_module(
            f"keras.src.backend.tensorflow.{module}")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            for module in self._MODULES:
                fn = getattr(self._backend(module), name, None)
                if callable(fn):
                    cache[name] = fn
                    break
            else:
                raise AttributeError(
                    f"Keras' TensorFlow backend has no op {name!r}")
        return cache[name]

    @property
    def image(self):
        return self._backend("image")

    @staticmethod
    def _seed(seed):
        import tensorflow as tf

        return tf.cast(seed, tf.int64)

    def uniform(self, seed, shape, minval=0.0, maxval=1.0, dtype="float32"):
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, self._seed(seed), minval,
                                           maxval, dtype=dtype)

    def normal(self, seed, shape, mean=0.0, stddev=1.0, dtype="float32"):
        import tensorflow as tf

        return tf.random.stateless_normal(shape, self._seed(seed), mean,
                                          stddev, dtype=dtype)

    def randint(self, seed, shape, minval, maxval, dtype="int32"):
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, self._seed(seed), minval,
                                           maxval, dtype=dtype)

    def split_seed(self, seed, n):
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(self._seed(seed), n)
        return [seeds[i] for i in range(n)]

    def select_apply(self, mask, fn, images, *per_image):
        """`fn(images, *per_image)` where `mask` `[B]` is true, else the
        image: computed on the selected images only (gathered, then
        scattered back), the same values as `KERAS_OPS.select_apply`
        without the work on the others (`tf.data` allows dynamic shapes)."""
        import tensorflow as tf

        index = tf.where(mask)
        out = fn(tf.gather_nd(images, index),
                 *(tf.gather_nd(a, index) for a in per_image))
        return tf.tensor_scatter_nd_update(images, index,
                                           tf.cast(out, images.dtype))


KERAS_OPS = _KerasOps()
TF_OPS = _TensorFlowOps()


def in_tf_graph(inputs):
    """True for a symbolic `tf.Tensor` (a `tf.data` map, a `tf.function`)
    while Keras' backend is not TensorFlow: there, `keras.ops` cannot run
    and a layer computes with `TF_OPS`."""
    if keras.backend.backend() == "tensorflow":
        return False
    if "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf

    return isinstance(inputs, tf.Tensor) and not tf.executing_eagerly()


class TFSeedStream:
    """Stateless TensorFlow seeds for a layer called in `tf.data` under
    another backend: a `tf.random.Generator` made from the layer's integer
    seed (or nondeterministic for `None`) on first use, outside any graph
    being traced. Not a Keras variable: never saved, never tracked."""

    def __init__(self, seed):
        self.seed = seed
        self._generator = None

    def next(self):
        import tensorflow as tf

        if self._generator is None:
            with tf.init_scope():
                self._generator = (
                    tf.random.Generator.from_non_deterministic_state()
                    if self.seed is None
                    else tf.random.Generator.from_seed(self.seed))
        return self._generator.make_seeds(1)[:, 0]
