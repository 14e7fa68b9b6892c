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
- one implementation: a subclass writes `_augment(o, images, seed)` (and
  optionally `_inference(o, images)`) once, on the ops namespace `o` of
  `kzoo._data_ops`. Inside a model or a compiled step it runs with
  `keras.ops` and the layer's `SeedGenerator`; called on a symbolic
  `tf.Tensor` under another backend (a `tf.data` map), `__call__` skips
  Keras' `Layer.__call__` and runs the same function with Keras'
  TensorFlow backend functions and a stateless seed from a
  `tf.random.Generator` made from `seed` (Keras' own preprocessing layers
  switch their backend the same way, through a private base class that has
  moved between the Keras versions kzoo supports). `kzoo.data.augment`'s
  functions are the same functions, called with a pipeline's stateless
  seed.
"""

import keras

from kzoo._data_ops import KERAS_OPS
from kzoo._data_ops import TF_OPS
from kzoo._data_ops import TFSeedStream
from kzoo._data_ops import in_tf_graph


def is_float_dtype(dtype):
    return "float" in keras.backend.standardize_dtype(dtype)


class ImageAugmentationLayer(keras.layers.Layer):
    """Base class: float pixels, `training`, seed, `tf.data` routing.

    Subclasses implement `_augment(o, images, seed)` on the ops namespace
    `o` (images are floats `[B, H, W, 3]` in `[0, 1]`; an unbatched
    `[H, W, 3]` input comes as a batch of one) and optionally
    `_inference(o, images)` (default: the identity).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int)
                                 or isinstance(seed, bool)):
            raise ValueError("`seed` must be `None` or an integer. "
                             f"Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._tf_seeds = TFSeedStream(seed)

    def build(self, input_shape):
        if len(input_shape) not in (3, 4) or input_shape[-1] != 3:
            raise ValueError(
                f"{self.__class__.__name__} takes RGB images, [B, H, W, 3] "
                "or [H, W, 3] (channels last). "
                f"Received: input_shape={tuple(input_shape)}")

    def __call__(self, inputs, *args, **kwargs):
        if in_tf_graph(inputs):
            self.build(tuple(inputs.shape))
            training = kwargs.get("training", args[0] if args else None)
            return self._run(TF_OPS, inputs,
                             True if training is None else training,
                             self._tf_seeds.next())
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=True):
        return self._run(KERAS_OPS, inputs, training, self.seed_generator)

    def _run(self, o, inputs, training, seed):
        # In tf.data the maths runs in float32 (Keras' TF backend functions).
        dtype = self.compute_dtype if o is KERAS_OPS else "float32"
        images = o.cast(inputs, dtype)
        if not is_float_dtype(inputs.dtype):
            images = images / 255.0
        unbatched = len(inputs.shape) == 3
        if unbatched:
            images = images[None]
        images = self._augment(o, images, seed) if training else \
            self._inference(o, images)
        images = o.cast(images, self.compute_dtype)
        return images[0] if unbatched else images

    def _inference(self, o, images):
        return images

    def _augment(self, o, images, seed):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
