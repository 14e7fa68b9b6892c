"""`BatchNormalization` computed by TensorFlow's fused kernel where it can."""

import os

import keras

from kzoo._api import kzoo_export

# TensorFlow's fused kernel (cuDNN's rule, kept on CPU by tf.keras 2)
# refuses a smaller epsilon.
_FUSED_MIN_EPSILON = 1.001e-5
_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@kzoo_export("kzoo.layers.BatchNormalization")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras' `BatchNormalization`, trained with TensorFlow's fused kernel.

    The same layer, arguments, weights and results as
    `keras.layers.BatchNormalization`. Only how a training step computes it
    under the TensorFlow backend differs: Keras 3 normalises with about ten
    element-wise and reduction ops (moments, their gradients), each a pass
    over the activations on the CPU's plain kernels; TensorFlow's
    `FusedBatchNormV3` does the batch statistics, the normalisation and
    (in the backward pass) the gradient in one oneDNN kernel each, and
    grappler fuses a following ReLU into it. tf.keras 2 used that kernel by
    default (`fused=True`); Keras 3 dropped it. Measured on a 2-core
    Sapphire Rapids CPU (`benchmarks/bench_batch_norm.py`), a SimSiam
    ResNet-20 training step runs 1.6x faster in float32 and 1.8x faster
    under `mixed_bfloat16`, where the element-wise ops otherwise run on
    emulated bfloat16 arithmetic.

    The batch statistics are exactly Keras': the moving variance is updated
    with the biased batch variance (the fused kernel returns the unbiased
    one, which is rescaled by `(n - 1) / n`) and the momentum is Keras'.
    Statistics and normalisation are computed in float32 for float16 /
    bfloat16 inputs, as Keras does. Inference (`training=False`) is Keras'
    own computation, so exported graphs (SavedModel, LiteRT, ONNX) contain
    the plain multiply-add that converters fold into the convolution.

    Keras' computation is used unchanged where the fused kernel does not
    apply: other backends (XLA fuses the ops itself under JAX), a channel
    axis other than the last, rank outside 2-4, a mask, batch
    renormalisation, `synchronized=True` (cross-replica statistics), an
    `epsilon` below `1.001e-5` (the kernel's minimum) or a float64
    layer (`dtype="float64"`). The environment variable
    `KZOO_FUSED_BATCH_NORM=0` turns the fused kernel off everywhere (for
    comparisons: `benchmarks/bench_precision.py`).

    Args:
        **kwargs: `keras.layers.BatchNormalization`'s arguments (`axis`,
            `momentum`, `epsilon`, `center`, `scale`, initializers,
            regularizers, constraints, `synchronized`, ...), with its
            defaults.

    Example:

    >>> layer = kzoo.layers.BatchNormalization()
    >>> y = layer(np.random.rand(8, 4, 4, 16).astype("float32"), training=True)
    >>> y.shape
    TensorShape([8, 4, 4, 16])
    """

    def _fusable(self, inputs, training, mask):
        if keras.backend.backend() != "tensorflow":
            return False
        if os.environ.get("KZOO_FUSED_BATCH_NORM", "1") == "0":
            return False
        if not (training and self.trainable):
            return False
        rank = len(inputs.shape)
        axis = self.axis if self.axis >= 0 else self.axis + rank
        return (mask is None and not self.renorm and not self.synchronized
                and 2 <= rank <= 4 and axis == rank - 1
                and self.epsilon >= _FUSED_MIN_EPSILON
                and keras.backend.standardize_dtype(inputs.dtype)
                in _FUSED_DTYPES)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = inputs
        shape = tf.shape(x)
        channels = x.shape[-1]
        rank = len(x.shape)
        if rank != 4:
            # The kernel takes NHWC: (N, C) -> (N, 1, 1, C),
            # (N, T, C) -> (N, T, 1, C).
            x = tf.reshape(x, tf.concat(
                [shape[:-1], tf.ones([4 - rank], tf.int32), shape[-1:]], 0))
        gamma = (tf.cast(self.gamma, "float32") if self.scale
                 else tf.ones([channels], "float32"))
        beta = (tf.cast(self.beta, "float32") if self.center
                else tf.zeros([channels], "float32"))
        empty = tf.zeros([0], "float32")
        y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty,
            epsilon=float(self.epsilon), exponential_avg_factor=1.0,
            data_format="NHWC", is_training=True)
        # The kernel's batch variance is the unbiased one (for a running
        # estimate); Keras averages the biased one, which it normalises with.
        count = tf.cast(tf.size(x) // channels, "float32")
        variance = variance * tf.maximum(count - 1.0, 0.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum
                                + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum
                                    + variance * (1.0 - momentum))
        if rank != 4:
            y = tf.reshape(y, shape)
        return tf.cast(y, self.compute_dtype)
