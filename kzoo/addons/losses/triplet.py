"""Triplet losses, compatible with `tfa.losses.triplet` (tensorflow-addons 0.23).

Semi-hard (FaceNet) and batch-hard triplet mining over the mini-batch, with
tensorflow-addons' exact mining rules, fallbacks and averaging.
"""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.addons.losses import _common
from kzoo.losses import mining


def _distances_and_masks(y_true, y_pred, distance_metric):
    y_true = ops.convert_to_tensor(y_true)
    embeddings = ops.convert_to_tensor(y_pred)
    _common.check_embeddings(y_true, embeddings)
    labels = _common.labels_column(y_true)
    pdist = _common.distance_matrix(embeddings, distance_metric)
    adjacency = ops.equal(labels, ops.transpose(labels))
    positives = ops.logical_and(
        adjacency, _common.off_diagonal(ops.shape(labels)[0])
    )
    return embeddings, pdist, adjacency, positives


@kzoo_export("kzoo.addons.losses.triplet_semihard_loss", serializable=True)
def triplet_semihard_loss(y_true, y_pred, margin=1.0, distance_metric="L2"):
    """Triplet loss with semi-hard negative mining, as `tfa.losses`.

    For every positive pair `(a, p)` (same label, `a != p`, both orders) the
    negative is the *semi-hard* one: the closest negative `n` of the anchor
    that is strictly farther than the positive, `d(a, n) > d(a, p)`. If the
    anchor has no such negative, the anchor's farthest negative is used; if
    the anchor has no negative at all (one-class batch), tfa's masked
    maximum falls back to the smallest entry of the anchor's distance row
    (0 for "L2"/"squared-L2": its own diagonal), so the pair costs
    `margin + d(a, p)`.

    Formula:

    ```python
    loss = sum over positive pairs (a, p) of max(margin + d(a, p) - d(a, n), 0)
           / number of positive pairs
    ```

    Computed in float32 (float16 / bfloat16 inputs are cast up, as in tfa)
    and returned in the dtype of `y_pred`, as tfa. float64 inputs are also
    computed in float32 (tfa: in float64) and returned as float64.

    Differences from tfa: a batch without any positive pair (all labels
    distinct, or a batch of one) gives 0, not tfa's NaN (0 / 0); gradients
    stay finite, also for duplicated embeddings (zero distances). The
    negative is found by sorting each anchor's negative distances and
    binary-searching `d(a, p)` (`kzoo.losses.mining.semi_hard_index`):
    `O(B**2 log B)` time and `O(B**2)` memory instead of tfa's `[B, B, B]`
    masks. Its distance is gathered from the distance matrix, so the value
    is exactly `d(a, n)` (tfa's masked-minimum arithmetic,
    `(d - max) + max`, can differ from it by a rounding error) and, when
    several negatives are at exactly the chosen distance, the gradient goes
    to one of them instead of being split between them.

    Args:
        y_true: integer class labels, `[B]` or `[B, 1]`.
        y_pred: embeddings `[B, D]`, typically l2-normalised.
        margin: margin term. Defaults to `1.0`.
        distance_metric: `"L2"` (Euclidean, not squared), `"squared-L2"`,
            `"angular"` (`1 - cosine similarity`), or a callable mapping the
            float32 `[B, D]` embeddings to a `[B, B]` distance matrix.
            Defaults to `"L2"`.

    Returns:
        Scalar loss in the dtype of `y_pred`.

    Example (tfa's docstring example; one class, so the pair costs
    `margin + sqrt(2)`):

    >>> from kzoo import addons as tfa
    >>> y_pred = [[0.0, 1.0], [1.0, 0.0]]
    >>> round(float(tfa.losses.triplet_semihard_loss([0, 0], y_pred)), 6)
    2.414214

    Reference:
        - [Schroff et al., 2015](https://arxiv.org/abs/1503.03832).
    """
    embeddings, pdist, adjacency, positives = _distances_and_masks(
        y_true, y_pred, distance_metric
    )
    negatives = ops.logical_not(adjacency)

    # Index n(a, p) of the closest negative with d(a, n) > d(a, p), else of
    # the anchor's farthest negative (sort + binary search, no [B, B, B]).
    index, has_negative = mining.semi_hard_index(negatives, pdist)
    chosen = ops.take_along_axis(pdist, index, axis=1)  # d(a, n(a, p))
    # An anchor without negatives: tfa's masked maximum over an empty mask
    # is the minimum of the anchor's whole row (`initial`: empty batch).
    row_minimum = _common.reduce_min(pdist, axis=1, keepdims=True)
    semihard_negatives = ops.where(
        ops.expand_dims(has_negative, 1), chosen, row_minimum
    )

    margin = ops.cast(margin, "float32")
    loss_mat = ops.maximum(margin + pdist - semihard_negatives, 0.0)
    loss_sum = ops.sum(ops.where(positives, loss_mat, 0.0))
    num_positives = ops.sum(ops.cast(positives, "float32"))
    loss = ops.divide_no_nan(loss_sum, num_positives)
    return ops.cast(loss, _common.output_dtype(embeddings))


@kzoo_export("kzoo.addons.losses.triplet_hard_loss", serializable=True)
def triplet_hard_loss(
    y_true, y_pred, margin=1.0, soft=False, distance_metric="L2"
):
    """Batch-hard triplet loss, as `tfa.losses`.

    For every anchor, the hardest positive (largest positive distance) and
    the hardest negative (smallest negative distance). As in tfa: an anchor
    without positives uses the smallest entry of its distance row (0 for
    "L2"/"squared-L2": its diagonal); an anchor without negatives (one-class
    batch) uses the largest entry of its row. The mean is over *all* anchors.

    Formula:

    ```python
    loss = mean over anchors a of max(d(a, p*) - d(a, n*) + margin, 0)
    # soft=True:
    loss = mean over anchors a of log(1 + exp(d(a, p*) - d(a, n*)))
    ```

    The soft margin is evaluated as a stable softplus: equal to tfa's
    `log1p(exp(x))` wherever that is finite, and finite (with a finite
    gradient) where tfa's overflows to inf.

    Computed in float32 and returned in the dtype of `y_pred`, as in
    `triplet_semihard_loss`. An empty batch gives 0 (tfa: NaN).

    Args:
        y_true: integer class labels, `[B]` or `[B, 1]`.
        y_pred: embeddings `[B, D]`, typically l2-normalised.
        margin: margin term (unused when `soft=True`). Defaults to `1.0`.
        soft: use the soft-margin version. Defaults to `False`.
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable,
            as in `triplet_semihard_loss`. Defaults to `"L2"`.

    Returns:
        Scalar loss in the dtype of `y_pred`.

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """
    embeddings, pdist, adjacency, positives = _distances_and_masks(
        y_true, y_pred, distance_metric
    )
    hard_negatives = _common.masked_minimum(
        pdist, ops.logical_not(adjacency), axis=1
    )
    hard_positives = _common.masked_maximum(pdist, positives, axis=1)
    gap = hard_positives - hard_negatives
    if soft:
        per_anchor = ops.softplus(gap)
    else:
        per_anchor = ops.maximum(gap + ops.cast(margin, "float32"), 0.0)
    count = ops.cast(ops.shape(per_anchor)[0], "float32")
    loss = ops.divide_no_nan(ops.sum(per_anchor), count)
    return ops.cast(loss, _common.output_dtype(embeddings))


class _TripletBase(_common.LabelLoss):
    def __init__(self, margin, distance_metric, name, reduction, dtype,
                 gather_distributed):
        _common.check_distance_metric(distance_metric)
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)
        self.margin = margin
        self.distance_metric = distance_metric

    def get_config(self):
        config = super().get_config()
        metric = self.distance_metric
        if callable(metric):
            metric = keras.saving.serialize_keras_object(metric)
        config.update(
            margin=_common.config_number(self.margin), distance_metric=metric
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("distance_metric"), dict):
            config["distance_metric"] = keras.saving.deserialize_keras_object(
                config["distance_metric"]
            )
        return cls(**config)


@kzoo_export("kzoo.addons.losses.TripletSemiHardLoss")
@fill_doc(reduction_arg=_common.REDUCTION_ARG, dtype_arg=_common.DTYPE_ARG)
class TripletSemiHardLoss(_TripletBase):
    """Triplet loss with semi-hard negative mining (`tfa.losses` drop-in).

    The loss encourages each positive distance to be smaller, by `margin`,
    than the anchor's semi-hard negative distance: the smallest negative
    distance that is still larger than the positive distance; if there is
    none, the largest negative distance. See
    `kzoo.addons.losses.triplet_semihard_loss` for the exact rule. The
    mining always runs in float32.

    `y_true`: integer labels `[B]` or `[B, 1]`; `y_pred`: embeddings
    `[B, D]`. `call` returns the batch's scalar loss, which the Keras base
    class leaves as is (tfa used `reduction="none"` for the same reason).

    Difference from tfa: 0 instead of NaN on a batch without positive pairs.

    Args:
        margin: margin term. Defaults to `1.0`.
        distance_metric: `"L2"` (Euclidean, not squared), `"squared-L2"`,
            `"angular"`, or a callable `[B, D] -> [B, B]` (registered Keras
            serializable functions survive `get_config`). Defaults to `"L2"`.
        name: optional name. Defaults to `None` (`"triplet_semi_hard_loss"`).
        {reduction_arg}
        {dtype_arg}

    Example:

    ```python
    from kzoo import addons as tfa

    model.compile(optimizer="adam", loss=tfa.losses.TripletSemiHardLoss())
    model.fit(images, integer_labels, batch_size=64)
    ```
    """

    def __init__(
        self,
        margin=1.0,
        distance_metric="L2",
        name=None,
        reduction="none",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(margin, distance_metric, name, reduction, dtype,
                         gather_distributed)

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(
            y_true, y_pred, margin=self.margin,
            distance_metric=self.distance_metric,
        )


@kzoo_export("kzoo.addons.losses.TripletHardLoss")
@fill_doc(dtype_arg=_common.DTYPE_ARG)
class TripletHardLoss(_TripletBase):
    """Batch-hard triplet loss (`tfa.losses` drop-in).

    For every anchor, the largest positive distance should be smaller than
    the smallest negative distance by `margin`; with `soft=True` the hinge
    is replaced by `log(1 + exp(.))`. The mean is over all anchors. See
    `kzoo.addons.losses.triplet_hard_loss` for the exact rule.

    Args:
        margin: margin term. Defaults to `1.0`.
        soft: use the soft-margin version. Defaults to `False`.
        distance_metric: `"L2"`, `"squared-L2"`, `"angular"` or a callable.
            Defaults to `"L2"`.
        name: optional name. Defaults to `None` (`"triplet_hard_loss"`).
        reduction: as in `TripletSemiHardLoss`. Defaults to `"none"`.
        {dtype_arg}
    """

    def __init__(
        self,
        margin=1.0,
        soft=False,
        distance_metric="L2",
        name=None,
        reduction="none",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(margin, distance_metric, name, reduction, dtype,
                         gather_distributed)
        self.soft = soft

    def call(self, y_true, y_pred):
        return triplet_hard_loss(
            y_true, y_pred, margin=self.margin, soft=self.soft,
            distance_metric=self.distance_metric,
        )

    def get_config(self):
        config = super().get_config()
        config["soft"] = bool(self.soft)
        return config
