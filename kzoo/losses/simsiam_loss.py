"""SimSiam's symmetric negative cosine similarity loss."""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo.losses._docs import shared_loss_args


def _l2_normalize(x, epsilon=1e-12):
    # ops.normalize would divide by max(norm, eps) too; written out so the
    # epsilon is explicit: a zero vector maps to zero (finite gradient),
    # never to NaN.
    sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, epsilon))


@kzoo_export("kzoo.losses.negative_cosine_similarity")
def negative_cosine_similarity(p, z):
    """Negative cosine similarity `D(p, z)` with a stop-gradient on `z`.

    Formula:

    ```python
    loss = -sum(l2_normalize(p) * l2_normalize(stop_gradient(z)), axis=-1)
    ```

    Computed in float32 whatever the input dtype (float16 / bfloat16 inputs
    would otherwise lose the normalisation to rounding). A zero vector is
    normalised to zero, giving a loss of 0 and finite gradients.

    Args:
        p: predictor output, shape `[B, D]`.
        z: target projection, shape `[B, D]`; no gradient flows into it.

    Returns:
        Per-example loss, shape `[B]`, in `[-1, 1]`.

    Reference:
        - [Chen & He, 2021](https://arxiv.org/abs/2011.10566), eq. (1).
    """
    p = kops.as_float32(p)
    # A tensor first: PyTorch's `stop_gradient` takes tensors only, not
    # the numpy arrays a user may pass.
    z = ops.stop_gradient(kops.as_float32(z))
    return -ops.sum(_l2_normalize(p) * _l2_normalize(z), axis=-1)


@kzoo_export("kzoo.losses.simsiam_loss")
def simsiam_loss(p1, p2, z1, z2):
    """SimSiam's symmetrised loss, per example.

    Formula:

    ```python
    loss = D(p1, z2) / 2 + D(p2, z1) / 2
    ```

    where `D` is `kzoo.losses.negative_cosine_similarity` (stop-gradient on
    the `z` argument). The minimum, -1, is reached when each view's
    prediction points the same way as the other view's projection.

    Args:
        p1: predictor output for view 1, `[B, D]`.
        p2: predictor output for view 2, `[B, D]`.
        z1: projector output for view 1, `[B, D]`.
        z2: projector output for view 2, `[B, D]`.

    Returns:
        Per-example loss, shape `[B]`.

    Reference:
        - [Chen & He, 2021](https://arxiv.org/abs/2011.10566), eq. (2).
    """
    return 0.5 * negative_cosine_similarity(
        p1, z2
    ) + 0.5 * negative_cosine_similarity(p2, z1)


@kzoo_export("kzoo.losses.SimSiamLoss")
@shared_loss_args
class SimSiamLoss(keras.losses.Loss):
    """SimSiam's symmetric negative cosine similarity, as a Keras loss.

    `y_pred` is a dict with keys `"p1"`, `"p2"`, `"z1"`, `"z2"` (as returned
    by `kzoo.models.SimSiam` when called on two views); `y_true` is ignored
    (pass `None`). Reduction, `sample_weight` and the scaling for
    `tf.distribute` are left to the `keras.losses.Loss` base class, so the
    default `"sum_over_batch_size"` reduction gives the batch mean of
    `kzoo.losses.simsiam_loss`.

    Formula:

    ```python
    loss = mean(D(p1, z2) / 2 + D(p2, z1) / 2)
    ```

    Args:
        {loss_args}

    Example:

    >>> import numpy as np
    >>> p = np.eye(2, dtype="float32")
    >>> loss = kzoo.losses.SimSiamLoss()
    >>> float(loss(None, {"p1": p, "p2": p, "z1": p, "z2": p}))
    -1.0

    Reference:
        - [Chen & He, 2021](https://arxiv.org/abs/2011.10566).
    """

    def __init__(
        self, reduction="sum_over_batch_size", name="simsiam_loss", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # SimSiam has no targets; Keras' base class would try to convert
        # `None` to a tensor, so pass an empty structure instead.
        if y_true is None:
            y_true = ()
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        missing = {"p1", "p2", "z1", "z2"} - set(y_pred)
        if missing:
            raise ValueError(
                "`y_pred` must be a dict with keys 'p1', 'p2', 'z1', 'z2'. "
                f"Missing: {sorted(missing)}. Received: y_pred keys="
                f"{sorted(y_pred)}"
            )
        return simsiam_loss(y_pred["p1"], y_pred["p2"], y_pred["z1"], y_pred["z2"])

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        return config
