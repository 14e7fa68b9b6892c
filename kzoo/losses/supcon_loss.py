"""Supervised contrastive loss (Khosla et al., 2020), L_out variant."""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import TemperatureLoss
from kzoo.losses.mining import flat_labels
from kzoo.losses.mining import masked_mean
from kzoo.losses.mining import masked_reduction

# Logit given to an anchor's own entry: exp() of it is exactly 0 next to any
# real logit, and it is finite, so no infinity reaches a gradient.
_EXCLUDED = -1e30


def _flatten_views(labels, embeddings):
    if labels is None:
        raise ValueError(
            "`SupConLoss` needs `y_true`, the `[B]` integer class labels. "
            "Received: y_true=None"
        )
    embeddings = ops.convert_to_tensor(embeddings)
    rank = len(embeddings.shape)
    if rank not in (2, 3):
        raise ValueError(
            "`y_pred` must be `[B, D]` embeddings or `[B, V, D]` embeddings "
            f"of V views. Received: y_pred.shape={tuple(embeddings.shape)}"
        )
    labels = flat_labels(labels, embeddings)
    if rank == 3:
        views = ops.shape(embeddings)[1]
        # Row b * V + v of the flattened batch is view v of example b.
        labels = ops.repeat(labels, views, axis=0)
        embeddings = ops.reshape(
            embeddings, (-1, ops.shape(embeddings)[2])
        )
    return labels, embeddings, rank


def _supcon_per_anchor(labels, embeddings, temperature):
    """`(values, valid)`, `[B]` or `[B, V]`: loss per anchor, has-positive mask."""
    view_labels, flat, rank = _flatten_views(labels, embeddings)
    z = kops.l2_normalize(flat)  # float32
    logits = ops.matmul(z, ops.transpose(z)) / temperature
    n = ops.shape(z)[0]
    self_mask = ops.eye(n, dtype="bool")
    same = ops.equal(
        ops.expand_dims(view_labels, 1), ops.expand_dims(view_labels, 0)
    )
    positives = ops.logical_and(same, ops.logical_not(self_mask))
    # log of the softmax over every other sample a != i (Khosla et al.'s A(i)).
    log_norm = ops.logsumexp(
        ops.where(self_mask, _EXCLUDED, logits), axis=1, keepdims=True
    )
    log_prob = logits - log_norm
    num_pos = ops.sum(ops.cast(positives, "float32"), axis=1)
    valid = ops.greater(num_pos, 0.0)
    mean_log_prob_pos = ops.divide_no_nan(
        ops.sum(ops.where(positives, log_prob, 0.0), axis=1), num_pos
    )
    values = ops.where(valid, -mean_log_prob_pos, 0.0)
    if rank == 3:
        shape = (ops.shape(embeddings)[0], ops.shape(embeddings)[1])
        values = ops.reshape(values, shape)
        valid = ops.reshape(valid, shape)
    return values, valid


@kzoo_export("kzoo.losses.supcon_loss")
def supcon_loss(labels, embeddings, temperature=0.1):
    """Supervised contrastive loss `L_out` (Khosla et al., 2020, eq. 2).

    The embeddings are L2-normalised (zero vectors stay zero); every sample
    `i` of the (flattened) batch is an anchor, its positives `P(i)` are the
    other samples with its label (other views of itself included), and the
    softmax runs over all other samples `A(i)`. Anchors without a positive
    are left out of the mean; a batch where no anchor has one gives 0. No
    `temperature / base_temperature` factor (the paper's equation, not the
    reference code's rescaling). Computed in float32 whatever the input
    dtype.

    Formula:

    ```python
    z = l2_normalize(embeddings)
    l_i = -mean_{p in P(i)} log(exp(z_i . z_p / t) / sum_{a != i} exp(z_i . z_a / t))
    loss = mean(l_i over the anchors with |P(i)| > 0)
    ```

    Args:
        labels: `[B]` (or `[B, 1]`) integer class labels.
        embeddings: `[B, D]`, or `[B, V, D]` for `V` views of each example
            (the views of example `b` share `labels[b]`).
        temperature: positive softmax temperature. Defaults to `0.1`.

    Returns:
        Float32 scalar.

    Reference:
        - [Khosla et al., 2020, "Supervised Contrastive Learning"](
          https://arxiv.org/abs/2004.11362), eq. (2).
    """
    temperature = check_number("temperature", temperature, positive=True)
    return masked_mean(*_supcon_per_anchor(labels, embeddings, temperature))


@kzoo_export("kzoo.losses.SupConLoss")
@shared_loss_args
class SupConLoss(TemperatureLoss):
    """Supervised contrastive loss (Khosla et al., 2020, `L_out`), as a Keras loss.

    `y_true`: `[B]` integer class labels. `y_pred`: `[B, D]` embeddings, or
    `[B, V, D]` with `V` views per example (as in Khosla et al.: the views
    are flattened into `B * V` anchors and every other view with the same
    label, including the other views of the same example, is a positive).
    The embeddings are L2-normalised inside.

    `call` returns the per-anchor loss (`[B]`, or `[B, V]` for multi-view
    input), 0 for anchors without a positive. `__call__` averages over the
    anchors *with* a positive only (`kzoo.losses.mining.masked_reduction`):
    the default `"sum_over_batch_size"` divides by their count, not by
    `B`, and a batch without any positive pair gives exactly 0.
    `sample_weight` is per example (`[B]`, shared by its views);
    `reduction="none"` returns the weighted per-anchor losses; the
    tf.distribute 1/replicas scaling of the base class is kept. Labels are
    compared exactly, never cast to float. Computed in float32 whatever
    the input dtype.

    Formula:

    ```python
    l_i = -mean_{p in P(i)} log softmax_{a != i}(z_i . z_a / temperature)[p]
    loss = mean(l_i over the anchors with a positive)
    ```

    Args:
        temperature: positive softmax temperature. Defaults to `0.1`.
        {loss_args}

    Example:

    >>> labels = np.array([0, 0, 1])
    >>> emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], "float32")
    >>> loss = kzoo.losses.SupConLoss(temperature=1.0)
    >>> # anchors 0 and 1: -log(e^1 / (e^1 + e^0)) = log(1 + e^-1); anchor 2
    >>> # has no positive and is left out of the mean
    >>> round(float(loss(labels, emb)), 4)
    0.3133

    Reference:
        - [Khosla et al., 2020, "Supervised Contrastive Learning"](
          https://arxiv.org/abs/2004.11362).
    """

    def __init__(
        self,
        temperature=0.1,
        reduction="sum_over_batch_size",
        name="supcon_loss",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(temperature, reduction, name, dtype,
                         gather_distributed)

    def _local_call(self, y_true, y_pred, sample_weight=None):
        # The base class would cast the labels to float and divide by B.
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            values, valid = _supcon_per_anchor(y_true, y_pred, self.temperature)
            return masked_reduction(
                values, valid, sample_weight=sample_weight,
                reduction=self.reduction, dtype=self.dtype,
            )

    def call(self, y_true, y_pred):
        return _supcon_per_anchor(y_true, y_pred, self.temperature)[0]
