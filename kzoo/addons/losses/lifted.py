"""Lifted structured loss, compatible with `tfa.losses.lifted` (tensorflow-addons 0.23)."""

from keras import ops

import kzoo.ops
from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.addons.losses import _common


@kzoo_export("kzoo.addons.losses.lifted_struct_loss", serializable=True)
def lifted_struct_loss(labels, embeddings, margin=1.0):
    """Lifted structured loss, as `tfa.losses` (note tfa's argument names).

    For every positive pair `(i, j)` (same label, `i != j`, both orders),
    with Euclidean (not squared) distances `d`:

    ```python
    J_ij = d(i, j) + log(sum over negatives k of i: exp(margin - d(i, k))
                         + sum over negatives k of j: exp(margin - d(j, k)))
    loss = sum over positive pairs of max(J_ij, 0)**2 / (2 * number of positive pairs)
    ```

    The log-sum-exp is stabilised with `max(m_i, m_j)`, `m_i` the largest
    `margin - d(i, k)` over i's negatives, as in tfa (and the Caffe layer it
    follows); computed per row, so O(B^2) memory instead of tfa's O(B^3),
    and the exponentials of non-negative entries (which could overflow in
    tfa) are never formed.

    Computed in float32 (float16 / bfloat16 inputs are cast up, as in tfa;
    float64 ones too, where tfa kept float64), returned in the dtype of
    `embeddings`, as tfa.

    Difference from tfa: 0, not NaN, when the batch has no positive pair
    (0 / 0) or only one class (log of an empty sum); gradients stay finite.

    Args:
        labels: integer class labels, `[B]` or `[B, 1]`.
        embeddings: `[B, D]` embeddings (tfa: "should not be l2 normalized").
        margin: margin term. Defaults to `1.0`.

    Returns:
        Scalar loss in the dtype of `embeddings`.

    Reference:
        - [Oh Song et al., 2016](https://arxiv.org/abs/1511.06452).
    """
    labels = ops.convert_to_tensor(labels)
    embeddings = ops.convert_to_tensor(embeddings)
    _common.check_embeddings(labels, embeddings, "labels", "embeddings")
    labels = _common.labels_column(labels)
    pdist = kzoo.ops.pairwise_distance(ops.cast(embeddings, "float32"))
    adjacency = ops.equal(labels, ops.transpose(labels))
    negatives = ops.logical_not(adjacency)
    positives = ops.logical_and(
        adjacency, _common.off_diagonal(ops.shape(labels)[0])
    )

    diff = ops.cast(margin, "float32") - pdist
    # m_i: largest margin - d(i, k) over i's negatives (tfa's masked maximum).
    row_max = _common.masked_maximum(diff, negatives, axis=1)  # [B, 1]
    # e_i = sum over i's negatives of exp(margin - d(i, k) - m_i), >= 1 if
    # i has a negative. The where() keeps non-negatives out of exp().
    shifted = ops.where(negatives, diff - row_max, 0.0)
    row_sum = ops.sum(
        ops.where(negatives, ops.exp(shifted), 0.0), axis=1, keepdims=True
    )
    pair_max = ops.maximum(row_max, ops.transpose(row_max))  # max(m_i, m_j)
    pair_sum = row_sum * ops.exp(row_max - pair_max) + ops.transpose(
        row_sum
    ) * ops.exp(ops.transpose(row_max) - pair_max)
    has_negatives = ops.greater(pair_sum, 0.0)
    loss_mat = (
        pair_max + ops.log(ops.where(has_negatives, pair_sum, 1.0)) + pdist
    )

    valid = ops.logical_and(positives, has_negatives)
    squared_hinge = ops.where(valid, ops.square(ops.maximum(loss_mat, 0.0)), 0.0)
    num_positives = ops.sum(ops.cast(positives, "float32"))
    loss = 0.5 * ops.divide_no_nan(ops.sum(squared_hinge), num_positives)
    return ops.cast(loss, _common.output_dtype(embeddings))


@kzoo_export("kzoo.addons.losses.LiftedStructLoss")
@fill_doc(reduction_arg=_common.REDUCTION_ARG, dtype_arg=_common.DTYPE_ARG)
class LiftedStructLoss(_common.LabelLoss):
    """Lifted structured loss (`tfa.losses` drop-in).

    Encourages every positive distance to be smaller than all the negative
    distances of both members of the pair, through a smooth (log-sum-exp)
    maximum; see `kzoo.addons.losses.lifted_struct_loss`.

    `y_true`: integer labels `[B]` or `[B, 1]`; `y_pred`: embeddings
    `[B, D]`. `call` returns the batch's scalar loss.

    Difference from tfa: 0 instead of NaN on a batch without positive pairs
    or with a single class.

    Args:
        margin: margin term. Defaults to `1.0`.
        name: optional name. Defaults to `None` (`"lifted_struct_loss"`).
        {reduction_arg}
        {dtype_arg}
    """

    def __init__(self, margin=1.0, name=None, reduction="none", dtype=None,
                 gather_distributed=True):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)
        self.margin = margin

    def call(self, y_true, y_pred):
        _common.check_embeddings(y_true, y_pred)  # the class's names
        return lifted_struct_loss(y_true, y_pred, margin=self.margin)

    def get_config(self):
        config = super().get_config()
        config["margin"] = _common.config_number(self.margin)
        return config
