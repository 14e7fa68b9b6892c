"""Distance matrices, compatible with `tfa.losses.metric_learning`."""

from keras import ops

import kzoo.ops
from kzoo.addons.losses import _common


def pairwise_distance(feature, squared=False):
    """`[B, B]` Euclidean (or squared) distances between the rows of `feature`.

    As tfa: negative rounding clipped to 0, diagonal exactly 0; the square
    root has a zero (not NaN) gradient at zero distance. Computed in float32,
    returned in the dtype of `feature`.
    """
    feature = ops.convert_to_tensor(feature)
    d = kzoo.ops.pairwise_distance(ops.cast(feature, "float32"), squared=squared)
    return ops.cast(d, _common.output_dtype(feature))


def angular_distance(feature):
    """`[B, B]` angular distance `max(1 - cos(f_i, f_j), 0)`, as tfa.

    Rows are l2-normalised with tfa's epsilon (a zero row is at distance 1
    from everything). Computed in float32, returned in the dtype of
    `feature`.
    """
    feature = ops.convert_to_tensor(feature)
    d = _common.distance_matrix(feature, "angular")
    return ops.cast(d, _common.output_dtype(feature))
