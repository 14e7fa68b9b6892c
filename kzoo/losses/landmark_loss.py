"""Masked landmark regression loss (L2, L1, smooth-L1 or Wing) + presence BCE."""

import math

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args

POINT_LOSSES = ("l2", "l1", "smooth_l1", "wing")


def _check_point_loss(point_loss):
    if point_loss not in POINT_LOSSES:
        raise ValueError(f"`point_loss` must be one of {POINT_LOSSES}. "
                         f"Received: point_loss={point_loss!r}")
    return point_loss


def _split_true(y_true, mask):
    """`[B, K, 2]` targets (0 where masked) and a float `[B, K]` mask."""
    y_true = kops.as_float32(y_true)
    if len(y_true.shape) != 3 or y_true.shape[-1] not in (2, 3):
        raise ValueError(
            "`y_true` must be `[B, K, 2]` points or `[B, K, 3]` (x, y, "
            f"visible). Received: y_true.shape={tuple(y_true.shape)}")
    points = y_true[..., :2]
    if y_true.shape[-1] == 3:
        visible = ops.cast(y_true[..., 2] > 0, "float32")
    else:
        visible = ops.ones_like(points[..., 0])
    if mask is not None:
        visible = visible * ops.cast(kops.as_float32(mask) > 0, "float32")
    # A missing point may hold NaN / inf: it must not reach the arithmetic,
    # where 0 * NaN would poison the value and the gradient.
    visible = visible * ops.cast(ops.all(ops.isfinite(points), axis=-1),
                                 "float32")
    points = ops.where(visible[..., None] > 0, points, 0.0)
    return points, visible


def _point_losses(points_true, y_pred, visible, point_loss, coordinate_scale,
                  wing_width, wing_curvature, smooth_l1_beta):
    """Per-point loss `[B, K]` (sum over x and y), exactly 0 where masked."""
    y_pred = kops.as_float32(y_pred)
    if len(y_pred.shape) != 3 or y_pred.shape[-1] != 2:
        raise ValueError("`y_pred` must be `[B, K, 2]` points. "
                         f"Received: y_pred.shape={tuple(y_pred.shape)}")
    if (points_true.shape[1] is not None and y_pred.shape[1] is not None
            and points_true.shape[1] != y_pred.shape[1]):
        raise ValueError(
            f"`y_true` has {points_true.shape[1]} points and `y_pred` "
            f"{y_pred.shape[1]}. Received: y_pred.shape={tuple(y_pred.shape)}")
    on = visible[..., None] > 0
    # Masked points compare the prediction to itself, without gradient:
    # their difference is exactly 0 and no gradient flows from them.
    target = ops.where(on, points_true, ops.stop_gradient(y_pred))
    d = (y_pred - target) * coordinate_scale
    # |d| with a zero gradient at an exact hit on every backend: the
    # derivative of JAX's `abs` at 0 is 1 (TensorFlow's and PyTorch's 0).
    a = ops.where(ops.equal(d, 0.0), 0.0, ops.abs(d))
    if point_loss == "l2":
        per_coord = ops.square(d)
    elif point_loss == "l1":
        per_coord = a
    elif point_loss == "smooth_l1":
        per_coord = ops.where(a < smooth_l1_beta,
                              0.5 * ops.square(d) / smooth_l1_beta,
                              a - 0.5 * smooth_l1_beta)
    else:  # wing
        c = wing_width - wing_width * math.log1p(wing_width / wing_curvature)
        per_coord = ops.where(a < wing_width,
                              wing_width * ops.log1p(a / wing_curvature),
                              a - c)
    return ops.sum(per_coord, axis=-1) * visible


@kzoo_export("kzoo.losses.landmark_loss")
def landmark_loss(y_true, y_pred, mask=None, point_loss="l1",
                  coordinate_scale=1.0, wing_width=10.0, wing_curvature=2.0,
                  smooth_l1_beta=1.0):
    """Mean, over the visible points of the batch, of a per-point loss.

    Each point's loss is the sum over its two coordinates of `f(d)`,
    `d = coordinate_scale * (pred - true)`; missing points (mask 0, or a
    NaN / inf target) contribute nothing, neither to the sum nor to the
    count; a batch without any visible point gives 0 with zero (finite)
    gradients. Computed in float32.

    Formula:

    ```python
    f(d) = d**2                                   # "l2"
    f(d) = |d|                                    # "l1"
    f(d) = 0.5 d**2 / beta if |d| < beta else |d| - 0.5 beta  # "smooth_l1"
    f(d) = w ln(1 + |d| / eps) if |d| < w else |d| - C         # "wing"
    #      C = w - w ln(1 + w / eps)
    loss = sum_{b,k} m[b,k] (f(dx) + f(dy)) / max(sum_{b,k} m[b,k], 1)
    ```

    Args:
        y_true: `[B, K, 2]` true points, or `[B, K, 3]` with a visibility
            column (`> 0` visible).
        y_pred: `[B, K, 2]` predicted points.
        mask: optional `[B, K]` visibility, combined with the third column.
            Defaults to `None`.
        point_loss: `"l2"`, `"l1"`, `"smooth_l1"` or `"wing"`. L1 is
            robust, its shape does not depend on `coordinate_scale`, and
            it trained best in a short check on the 68-point faces (test
            NME after 4 epochs: L1 0.128, smooth-L1 0.129, Wing 0.142, L2
            0.146). Defaults to `"l1"`.
        coordinate_scale: multiplies the differences before `f` (with
            coordinates normalised to an `S`-pixel input, `S` puts Wing's
            `w`, `eps` and smooth-L1's `beta` in pixels). Defaults to
            `1.0`.
        wing_width: Wing's `w` (the width of the log region). Defaults to
            `10.0` (Feng et al.).
        wing_curvature: Wing's `eps`. Defaults to `2.0` (Feng et al.).
        smooth_l1_beta: smooth-L1's `beta`. Defaults to `1.0`.

    Returns:
        A float32 scalar.

    Example:

    >>> kzoo.losses.landmark_loss(np.array([[[0., 0., 1.], [5., 5., 0.]]]),
    ...                           np.array([[[3., 4.], [9., 9.]]]),
    ...                           point_loss="l1")  # |3| + |4|; point 1 missing
    7.0

    Reference:
        - [Feng et al., 2018, "Wing Loss for Robust Facial Landmark
          Localisation with Convolutional Neural Networks"](
          https://arxiv.org/abs/1711.06753).
    """
    _check_point_loss(point_loss)
    points, visible = _split_true(y_true, mask)
    per_point = _point_losses(points, y_pred, visible, point_loss,
                              coordinate_scale, wing_width, wing_curvature,
                              smooth_l1_beta)
    return ops.sum(per_point) / ops.maximum(ops.sum(visible), 1.0)


@kzoo_export("kzoo.losses.LandmarkLoss")
@shared_loss_args
class LandmarkLoss(keras.losses.Loss):
    """Masked landmark loss plus a weighted presence BCE, as a Keras loss.

    For a model ending in `kzoo.layers.LandmarkHead`, whose output is a dict
    `{"landmarks": [B, K, 2], "presence": [B, 1] logits}`, with targets
    `{"landmarks": [B, K, 3] (x, y, visible), "presence": [B, 1]}` (what
    `kzoo.data.keypoint_dataset` yields). Pass it as the model's single
    loss, `compile(loss=kzoo.losses.LandmarkLoss(...))`: Keras applies it to
    each output in turn and sums the results, and it recognises each output
    by its shape (`[B, K, 2]` points: the landmark term; `[B, 1]` logits:
    the weighted presence term), so the logs show `landmarks_loss` and
    `presence_loss` (the latter already multiplied by `presence_weight`).
    Called directly on the two dicts it returns their sum.

    What is averaged: the landmark term is `kzoo.losses.landmark_loss`, the
    mean over the **visible points of the batch** (not per image): missing
    points contribute nothing and an all-missing batch gives 0 with finite
    gradients. Points of an example whose presence target is 0 must be
    masked (`kzoo.data.keypoint_targets` does it; called on the dicts, the
    loss also does it). The presence term is the binary cross-entropy of the
    presence logit, averaged over the examples, times `presence_weight`.
    Per example, the loss returned to Keras is

    ```python
    loss[b] = B * sum_k m[b,k] f_bk / max(sum_{b,k} m, 1)
              + presence_weight * bce(presence[b], logit[b])
    ```

    so that the default reduction (the batch mean) gives exactly
    `landmark_loss + presence_weight * mean BCE`; a `sample_weight` [B]
    weighs each example's share of both terms.

    Args:
        point_loss: `"l2"`, `"l1"`, `"smooth_l1"` or `"wing"`. L1 is
            robust, its shape does not depend on `coordinate_scale`, and
            it trained best in a short check on the 68-point faces (test
            NME after 4 epochs: L1 0.128, smooth-L1 0.129, Wing 0.142, L2
            0.146). Defaults to `"l1"`.
        coordinate_scale: multiplies coordinate differences before the
            point loss (the input size in pixels for normalised
            coordinates). Defaults to `1.0`.
        wing_width: Wing's `w`. Defaults to `10.0`.
        wing_curvature: Wing's `eps`. Defaults to `2.0`.
        smooth_l1_beta: smooth-L1's `beta`. Defaults to `1.0`.
        presence_weight: weight of the presence BCE (0 disables it).
            Defaults to `1.0`.
        {loss_args}

    Example:

    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=kzoo.losses.LandmarkLoss(point_loss="wing",
    ...                                   coordinate_scale=128.0))

    Reference:
        - [Feng et al., 2018, "Wing Loss for Robust Facial Landmark
          Localisation with Convolutional Neural Networks"](
          https://arxiv.org/abs/1711.06753).
    """

    def __init__(self, point_loss="l1", coordinate_scale=1.0,
                 wing_width=10.0, wing_curvature=2.0, smooth_l1_beta=1.0,
                 presence_weight=1.0, reduction="sum_over_batch_size",
                 name="landmark_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.point_loss = _check_point_loss(point_loss)
        self.coordinate_scale = check_number("coordinate_scale",
                                             coordinate_scale, positive=True)
        self.wing_width = check_number("wing_width", wing_width,
                                       positive=True)
        self.wing_curvature = check_number("wing_curvature", wing_curvature,
                                           positive=True)
        self.smooth_l1_beta = check_number("smooth_l1_beta", smooth_l1_beta,
                                           positive=True)
        self.presence_weight = check_number("presence_weight",
                                            presence_weight)

    def _presence_term(self, presence_true, presence_logit):
        """`presence_weight * BCE` per example, `[B]`."""
        target = ops.reshape(kops.as_float32(presence_true), (-1,))
        logit = ops.reshape(kops.as_float32(presence_logit), (-1,))
        return self.presence_weight * ops.binary_crossentropy(
            target, logit, from_logits=True)

    def _landmark_term(self, y_true, y_pred, presence_true=None):
        """Per-example shares `[B]` of the mean over the visible points."""
        points, visible = _split_true(y_true, None)
        if presence_true is not None:
            presence = ops.reshape(kops.as_float32(presence_true), (-1, 1))
            visible = visible * ops.cast(presence > 0, "float32")
        per_point = _point_losses(points, y_pred, visible, self.point_loss,
                                  self.coordinate_scale, self.wing_width,
                                  self.wing_curvature, self.smooth_l1_beta)
        batch = ops.cast(ops.shape(points)[0], "float32")
        return (batch * ops.sum(per_point, axis=-1)
                / ops.maximum(ops.sum(visible), 1.0))

    def call(self, y_true, y_pred):
        if isinstance(y_true, dict) or isinstance(y_pred, dict):
            if not (isinstance(y_true, dict) and isinstance(y_pred, dict)
                    and "landmarks" in y_true and "landmarks" in y_pred):
                raise ValueError(
                    "`y_true` and `y_pred` must both be dicts with a "
                    "'landmarks' entry, or both tensors. Received: "
                    f"y_true={type(y_true).__name__}, "
                    f"y_pred={type(y_pred).__name__}")
            presence_true = y_true.get("presence")
            loss = self._landmark_term(y_true["landmarks"],
                                       y_pred["landmarks"], presence_true)
            if presence_true is not None and "presence" in y_pred:
                loss = loss + self._presence_term(presence_true,
                                                  y_pred["presence"])
            return loss
        if len(y_pred.shape) == 2 and y_pred.shape[-1] == 1:
            # The "presence" output, when Keras applies this loss to each
            # output of a LandmarkHead model in turn.
            return self._presence_term(y_true, y_pred)
        return self._landmark_term(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        config.update({
            "point_loss": self.point_loss,
            "coordinate_scale": self.coordinate_scale,
            "wing_width": self.wing_width,
            "wing_curvature": self.wing_curvature,
            "smooth_l1_beta": self.smooth_l1_beta,
            "presence_weight": self.presence_weight,
        })
        return config
