"""Row-wise distance between two batches of embeddings."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.ops import l2_normalize
from kzoo.ops import safe_sqrt

_METRICS = ("l2", "squared_l2", "cosine")


@kzoo_export("kzoo.layers.Distance")
class Distance(keras.layers.Layer):
    """Row-wise distance between two batches of embeddings `[a, b]`.

    The merge layer of a siamese network: called on a list of two `[B, D]`
    tensors it returns the `[B, 1]` float32 distances `d(a_i, b_i)` of
    corresponding rows (not the `[B, B]` matrix of all pairs, which is
    `kzoo.ops.pairwise_distance`).

    - `"l2"`: Euclidean distance `||a - b||`. The square root is safe: a
      zero distance (identical embeddings) has a zero gradient, never NaN.
    - `"squared_l2"`: `||a - b||**2`.
    - `"cosine"`: `1 - cos(a, b)`, in `[0, 2]`. Zero vectors are normalised
      to zero (`kzoo.ops.l2_normalize`), so their distance to anything is
      `1`, finite.

    Computed in float32 whatever the layer's dtype policy.

    Args:
        metric: `"l2"`, `"squared_l2"` or `"cosine"`. Defaults to `"l2"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> a = np.array([[0.0, 0.0], [1.0, 0.0]], "float32")
    >>> b = np.array([[3.0, 4.0], [1.0, 0.0]], "float32")
    >>> kzoo.layers.Distance()([a, b])
    array([[5.], [0.]], dtype=float32)

    Reference:
        - [keras-io siamese network with a contrastive loss](
          https://keras.io/examples/vision/siamese_contrastive/).
    """

    def __init__(self, metric="l2", **kwargs):
        super().__init__(**kwargs)
        if metric not in _METRICS:
            raise ValueError(
                f"`metric` must be one of {_METRICS}. Received: metric={metric!r}"
            )
        self.metric = metric

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def _check_shapes(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                "`Distance` must be called on a list of two tensors `[a, b]`. "
                f"Received: input_shape={input_shape}"
            )
        a, b = input_shape
        if a[-1] is not None and b[-1] is not None and a[-1] != b[-1]:
            raise ValueError(
                "The two embeddings must have the same last dimension. "
                f"Received: input_shape={input_shape}"
            )

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "`Distance` must be called on a list of two tensors `[a, b]`. "
                f"Received: inputs={inputs!r}"
            )
        a = ops.cast(inputs[0], "float32")
        b = ops.cast(inputs[1], "float32")
        if self.metric == "cosine":
            cos = ops.sum(l2_normalize(a) * l2_normalize(b), axis=-1,
                          keepdims=True)
            return 1.0 - cos
        d2 = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
        if self.metric == "squared_l2":
            return d2
        return safe_sqrt(d2)

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        return tuple(input_shape[0][:-1]) + (1,)

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"metric": self.metric})
        return config
