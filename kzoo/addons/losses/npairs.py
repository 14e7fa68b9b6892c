"""N-pairs losses, compatible with `tfa.losses.npairs` (tensorflow-addons 0.23)."""

from keras import ops

import kzoo.ops
from kzoo._api import kzoo_export
from kzoo.addons.losses import _common


def _soft_target_cross_entropy(targets, logits):
    """Mean over rows of `-sum(targets * log_softmax(logits))`; 0 for B = 0."""
    log_probs = ops.log_softmax(logits, axis=-1)
    # where(): a -inf logit with a zero target adds 0, not 0 * -inf = NaN.
    per_row = -ops.sum(
        ops.where(targets > 0, targets * log_probs, 0.0), axis=-1
    )
    count = ops.cast(ops.shape(per_row)[0], per_row.dtype)
    return ops.divide_no_nan(ops.sum(per_row), count)


@kzoo_export("kzoo.addons.losses.npairs_loss", serializable=True)
def npairs_loss(y_true, y_pred):
    """N-pairs loss of a similarity matrix, as `tfa.losses`.

    Each row `i` of the similarity matrix `y_pred` (e.g. `a @ b.T` for
    anchors `a` and positives `b`) is a vector of logits; its target is
    uniform over the columns `j` with `y_true[j] == y_true[i]`. The loss is
    the softmax cross-entropy averaged over rows.

    Formula:

    ```python
    target[i, j] = (y_true[i] == y_true[j]) / count_j(y_true[i] == y_true[j])
    loss = mean_i(-sum_j target[i, j] * log_softmax(y_pred[i])[j])
    ```

    Returned in the dtype of `y_pred`, as tfa. Computed in float32
    (float64 stays float64); tfa computed float16 / bfloat16 logits in that
    dtype, kzoo in float32 (the results agree to that dtype's precision).
    `y_true` may be `[B]` or `[B, 1]` (tfa required `[B]`). An empty batch
    gives 0 (tfa: NaN).

    Args:
        y_true: integer class labels `[B]` or `[B, 1]`.
        y_pred: `[B, B]` similarity logits.

    Returns:
        Scalar loss in the dtype of `y_pred`.

    Reference:
        - [Sohn, 2016](https://papers.nips.cc/paper/6200-improved-deep-metric-learning-with-multi-class-n-pair-loss-objective).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    _common.check_class_labels(y_true)
    _common.check_logits(y_pred)
    _common.same_batch(y_true, y_pred, "y_true", "y_pred")
    dtype = _common.compute_dtype(y_pred)
    logits = ops.cast(y_pred, dtype)
    labels = _common.labels_column(y_true)
    targets = ops.cast(ops.equal(labels, ops.transpose(labels)), dtype)
    targets = targets / ops.sum(targets, axis=1, keepdims=True)
    loss = _soft_target_cross_entropy(targets, logits)
    return ops.cast(loss, _common.output_dtype(y_pred))


@kzoo_export("kzoo.addons.losses.npairs_multilabel_loss", serializable=True)
def npairs_multilabel_loss(y_true, y_pred):
    """N-pairs loss for multi-label data, as `tfa.losses`.

    `y_true[i, c] = 1` if sample `i` has class `c` (a dense `[B, C]` binary
    indicator or a `tf.SparseTensor`). Row `i`'s target is proportional to
    the label-overlap counts `|labels(i) & labels(j)|`.

    Formula:

    ```python
    overlap = y_true @ y_true.T
    target = overlap / overlap.sum(axis=1, keepdims=True)
    loss = mean_i(-sum_j target[i, j] * log_softmax(y_pred[i])[j])
    ```

    Difference from tfa: a sample without any label has an all-zero target
    and contributes 0 (tfa: 0 / 0 = NaN for the whole batch); the mean is
    still over all `B` rows.

    Args:
        y_true: `[B, C]` binary indicators (dense or sparse).
        y_pred: `[B, B]` similarity logits.

    Returns:
        Scalar loss in the dtype of `y_pred`.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    _common.check_logits(y_pred)
    dtype = _common.compute_dtype(y_pred)
    logits = ops.cast(y_pred, dtype)
    labels = ops.convert_to_tensor(y_true, sparse=False)
    shape = _common.static_shape(labels)
    if shape is not None and len(shape) != 2:
        raise ValueError(
            "`y_true` must be the `[B, C]` binary class indicators (1 if "
            "example i has class c; for one integer label per example use "
            f"`npairs_loss`). Received: y_true.shape={_common.fmt_shape(shape)}")
    _common.same_batch(labels, y_pred, "y_true", "y_pred")
    labels = ops.cast(labels, dtype)
    overlap = ops.matmul(labels, ops.transpose(labels))
    targets = ops.divide_no_nan(
        overlap, ops.sum(overlap, axis=1, keepdims=True)
    )
    loss = _soft_target_cross_entropy(targets, logits)
    return ops.cast(loss, _common.output_dtype(y_pred))


def _refuse_shards(loss, y_pred):
    """Logits `[B, B]` are computed by each replica from its own rows only:
    they cannot be gathered afterwards (embeddings can)."""
    if (not isinstance(y_pred, dict) and loss.gather_distributed
            and kzoo.ops.replicas_in_sync() > 1):
        raise ValueError(
            f"{type(loss).__name__} received similarity logits, which each "
            "replica of a tf.distribute strategy computes from its own "
            "shard, so it cannot give the single-device loss here. Pass the "
            "embeddings instead, y_pred={'anchors': [B, D], 'positives': "
            "[B, D]} (the loss gathers them and forms the logits of the "
            "global batch), or compute the logits from "
            "`kzoo.ops.gather_replicas` of both and the labels yourself and "
            "pass gather_distributed=False. Received: "
            f"{kzoo.ops.replicas_in_sync()} replicas, gather_distributed="
            "True")


def _logits(y_pred):
    """The `[B, B]` logits: `y_pred` itself, or `anchors . positives^T`."""
    if not isinstance(y_pred, dict):
        return y_pred
    missing = {"anchors", "positives"} - set(y_pred)
    if missing:
        raise ValueError(
            "`y_pred` must be the `[B, B]` logits or a dict with keys "
            f"'anchors' and 'positives'. Missing: {sorted(missing)}. "
            f"Received: y_pred keys={sorted(y_pred)}")
    anchors = ops.convert_to_tensor(y_pred["anchors"])
    positives = ops.convert_to_tensor(y_pred["positives"])
    a, p = _common.static_shape(anchors), _common.static_shape(positives)
    if a is not None and p is not None and (
            len(a) != 2 or len(p) != 2
            or None not in (a[0], p[0]) and a[0] != p[0]
            or None not in (a[1], p[1]) and a[1] != p[1]):
        raise ValueError(
            "`y_pred['anchors']` and `y_pred['positives']` must be `[B, D]` "
            "embeddings of the same shape (row i of both is pair i). "
            f"Received: anchors.shape={_common.fmt_shape(a)}, "
            f"positives.shape={_common.fmt_shape(p)}")
    return ops.matmul(anchors, ops.transpose(positives))


class _LogitsOrEmbeddings:
    """Mixin of the N-pairs losses: `y_pred` logits cannot be gathered
    across replicas (`_refuse_shards`)."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        _refuse_shards(self, y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)


@kzoo_export("kzoo.addons.losses.NpairsLoss")
class NpairsLoss(_LogitsOrEmbeddings, _common.LabelLoss):
    """N-pairs loss (`tfa.losses` drop-in).

    `y_true`: integer labels `[B]` or `[B, 1]`; `y_pred`: the `[B, B]`
    similarity logits between anchors and positives, or (a kzoo extension)
    the embeddings `{"anchors": [B, D], "positives": [B, D]}`, from which
    the logits are `anchors . positives^T`. `call` returns the batch's
    scalar loss; see `kzoo.addons.losses.npairs_loss`. Under a
    `tf.distribute` strategy with several replicas, pass the embeddings:
    they are gathered and the loss is the global batch's
    (`gather_distributed`); logits, computed per replica, are refused with
    an error.

    Args:
        name: name of the loss. Defaults to `"npairs_loss"`.
        reduction: applied by `keras.losses.Loss` to the scalar (only
            matters with `sample_weight`); `"auto"` means `"none"`.
            Defaults to `"none"` (tfa's fixed value).
        dtype: `None` (the default) follows tfa: the loss is computed in
            float32 (`keras.backend.floatx()`) and returned in the float
            dtype of `y_pred` (of the embeddings, for the dict form):
            float16 in, float16 out. A dtype or `keras.DTypePolicy` follows
            Keras 3: the inputs are cast to its compute dtype, which is also
            the result's.
    """

    def __init__(self, name="npairs_loss", reduction="none", dtype=None,
                 gather_distributed=True):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)

    def call(self, y_true, y_pred):
        return npairs_loss(y_true, _logits(y_pred))


@kzoo_export("kzoo.addons.losses.NpairsMultilabelLoss")
class NpairsMultilabelLoss(_LogitsOrEmbeddings,
                           _common.InBatchAddonsLoss):
    """Multi-label N-pairs loss (`tfa.losses` drop-in).

    `y_true`: `[B, C]` binary class indicators (dense or `tf.SparseTensor`);
    `y_pred`: `[B, B]` similarity logits, or the embeddings
    `{"anchors", "positives"}` as in `NpairsLoss` (needed, with dense
    `y_true`, under a `tf.distribute` strategy with several replicas). See
    `kzoo.addons.losses.npairs_multilabel_loss`.

    Args:
        name: name of the loss. Defaults to `"npairs_multilabel_loss"`.
        reduction: as in `NpairsLoss`. Defaults to `"none"`.
        dtype: as in `NpairsLoss`. Defaults to `None` (the dtype of
            `y_pred`).
    """

    def __init__(
        self, name="npairs_multilabel_loss", reduction="none", dtype=None,
        gather_distributed=True,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)

    def call(self, y_true, y_pred):
        return npairs_multilabel_loss(y_true, _logits(y_pred))
