"""L2 normalisation as a layer."""

import keras

from kzoo._api import kzoo_export
from kzoo.ops import l2_normalize


@kzoo_export("kzoo.layers.L2Normalize")
class L2Normalize(keras.layers.Layer):
    """Scales each vector along `axis` to unit Euclidean norm.

    Computes `x / max(||x||, sqrt(epsilon))` in float32
    (`kzoo.ops.l2_normalize`): a zero vector maps to zero (not NaN), with
    finite gradients. The usual last layer of a metric-learning embedding.

    Args:
        axis: axis (or list of axes) to normalise. Defaults to `-1`.
        epsilon: lower bound of the squared norm. Defaults to `1e-12`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> kzoo.layers.L2Normalize()(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8], [0. , 0. ]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = [int(a) for a in axis]
        else:
            axis = int(axis)
        if float(epsilon) <= 0:
            raise ValueError(
                f"`epsilon` must be positive. Received: epsilon={epsilon}"
            )
        self.axis = axis
        self.epsilon = float(epsilon)
        self.built = True

    def call(self, inputs):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        return l2_normalize(inputs, axis=axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config
