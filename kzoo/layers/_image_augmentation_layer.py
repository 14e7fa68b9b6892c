"""Private base of kzoo's random image layers (`RandomResizedCrop`,
`RandomColorJitter`, `SimSiamAugment`).

What it gives its subclasses:

- pixels: integer inputs (`uint8`) are read as `[0, 255]` and converted to
  floats in `[0, 1]`; float inputs are taken to be in `[0, 1]` already.
  The output is in the layer's compute dtype, whatever `training` is.
- `training`: `call(inputs, training=True)`, as Keras' own `Random*`
  layers: a direct call (or a `tf.data` map) augments; inside a model,
  `fit` augments and `predict` / `evaluate` do not.
- randomness: a `keras.random.SeedGenerator(seed)`, so the layer is
  seeded the same way under every backend and runs inside a compiled
  (jitted) training step.
- `tf.data` under the JAX or PyTorch backend. Keras' preprocessing layers
  do this by subclassing a private base
  (`keras.src.layers.preprocessing.data_layer.DataLayer`, until 2025
  `...tf_data_layer.TFDataLayer`, keras-team/keras#21598) that re-routes
  their `self.backend` ops to TensorFlow in a graph. That class is not
  part of the public API and has moved within the Keras versions kzoo
  supports (`keras>=3.10`), so these layers do not build on it. Instead,
  when the backend is not TensorFlow and the input is a symbolic
  `tf.Tensor` (a `tf.data` map function, or any `tf.function`),
  `__call__` skips Keras' `Layer.__call__` and runs the subclass's
  TensorFlow implementation (`_tf_call`), which for kzoo's layers is the
  `tf.data` version in `kzoo.data.augment` (same distribution: the tests
  check it), seeded by a `tf.random.Generator` made from `seed`. Under the
  TensorFlow backend no switch is needed: the `keras.ops` code is
  TensorFlow code.
"""

import sys

import keras
from keras import ops


def in_foreign_tf_graph(inputs):
    """True for a symbolic `tf.Tensor` while Keras' backend is not TF."""
    if keras.backend.backend() == "tensorflow":
        return False
    if "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf

    return isinstance(inputs, tf.Tensor) and not tf.executing_eagerly()


def is_float_dtype(dtype):
    return "float" in keras.backend.standardize_dtype(dtype)


class ImageAugmentationLayer(keras.layers.Layer):
    """Base class: float pixels, `training`, seed, `tf.data` routing.

    Subclasses implement `_augment(images)` with `keras.ops` (images are
    float `[B, H, W, 3]` in `[0, 1]`; an unbatched `[H, W, 3]` input comes
    as a batch of one) and optionally `_inference(images)` (default: the
    identity); for `tf.data` under the other backends, the same with
    TensorFlow ops: `_tf_augment(images)` (drawing its stateless seeds
    with `self._tf_seed()`) and `_tf_inference(images)`.
    """

    # Subclasses whose randomness lives in sub-layers set this to False.
    _own_seed_generator = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int)
                                 or isinstance(seed, bool)):
            raise ValueError("`seed` must be `None` or an integer. "
                             f"Received: seed={seed!r}")
        self.seed = seed
        if self._own_seed_generator:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self._tf_generator = None

    def build(self, input_shape):
        if len(input_shape) not in (3, 4) or input_shape[-1] != 3:
            raise ValueError(
                f"{self.__class__.__name__} takes RGB images, [B, H, W, 3] "
                "or [H, W, 3] (channels last). "
                f"Received: input_shape={tuple(input_shape)}")

    def __call__(self, inputs, *args, **kwargs):
        if in_foreign_tf_graph(inputs):
            training = kwargs.get("training", args[0] if args else None)
            return self._tf_call(inputs,
                                 True if training is None else training)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=True):
        images = ops.cast(inputs, self.compute_dtype)
        if not is_float_dtype(inputs.dtype):
            images = images / 255.0
        unbatched = len(inputs.shape) == 3
        if unbatched:
            images = images[None]
        images = self._augment(images) if training else \
            self._inference(images)
        return images[0] if unbatched else images

    def _inference(self, images):
        return images

    def _augment(self, images):
        raise NotImplementedError

    # TensorFlow versions, for `tf.data` under the JAX / PyTorch backends.

    def _tf_call(self, inputs, training):
        import tensorflow as tf

        # kzoo.data.augment computes in float32.
        images = tf.cast(inputs, "float32")
        if not inputs.dtype.is_floating:
            images = images / 255.0
        unbatched = inputs.shape.rank == 3
        if unbatched:
            images = images[None]
        images = self._tf_augment(images) if training else \
            self._tf_inference(images)
        images = tf.cast(images, self.compute_dtype)
        return images[0] if unbatched else images

    def _tf_seed(self):
        """A fresh stateless seed (int64 `[2]`) from the layer's TF
        generator, made on first use (outside any graph being traced)."""
        import tensorflow as tf

        if self._tf_generator is None:
            with tf.init_scope():
                generator = (
                    tf.random.Generator.from_non_deterministic_state()
                    if self.seed is None
                    else tf.random.Generator.from_seed(self.seed))
            # Not tracked as a Keras sub-object (it is TF state under another
            # backend, never saved).
            object.__setattr__(self, "_tf_generator", generator)
        return self._tf_generator.make_seeds(1)[:, 0]

    def _tf_inference(self, images):
        return images

    def _tf_augment(self, images):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
