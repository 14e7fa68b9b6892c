"""SimCLR's normalised temperature-scaled cross-entropy (NT-Xent) loss."""

from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import TemperatureLoss
from kzoo.losses._pairs import split_pair

# Logit of an anchor with itself: excluded from the softmax, finite.
_EXCLUDED = -1e30


@kzoo_export("kzoo.losses.nt_xent_loss")
def nt_xent_loss(z1, z2, temperature=0.1):
    """SimCLR's symmetric NT-Xent loss, per positive pair.

    The `2N` views `[z1; z2]` are L2-normalised (zero vectors stay zero).
    Anchor `i` (one of the `2N` views) has one positive, the other view of
    the same example, and the other `2N - 2` views as negatives; its loss is
    the cross-entropy of the softmax over the `2N - 1` other views. The
    result for pair `k` averages its two anchors, so the mean over the `N`
    pairs is the mean over the `2N` anchors (SimCLR's `L`). Computed in
    float32 whatever the input dtype.

    Formula:

    ```python
    s_ij = cos(v_i, v_j) / temperature          # v = concat([z1, z2])
    l_i = -log(exp(s_i,pos(i)) / sum_{j != i} exp(s_ij))
    loss_k = (l_k + l_{k+N}) / 2
    ```

    Args:
        z1: `[N, D]` projections of the first views.
        z2: `[N, D]` projections of the second views (row `k` pairs with
            `z1[k]`).
        temperature: positive softmax temperature. Defaults to `0.1`.

    Returns:
        Per-pair loss, shape `[N]`, float32.

    Reference:
        - [Chen et al., 2020, "SimCLR"](https://arxiv.org/abs/2002.05709),
          eq. (1) and Algorithm 1.
    """
    temperature = check_number("temperature", temperature, positive=True)
    z1 = kops.l2_normalize(z1)
    z2 = kops.l2_normalize(z2)
    z = ops.concatenate([z1, z2], axis=0)
    logits = ops.matmul(z, ops.transpose(z)) / temperature
    n2 = ops.shape(z)[0]
    logits = ops.where(ops.eye(n2, dtype="bool"), _EXCLUDED, logits)
    log_norm = ops.logsumexp(logits, axis=1)  # [2N]
    n = ops.shape(z1)[0]
    # The positives' logits, read from the same matrix as the normaliser.
    positive = ops.concatenate(
        [ops.diagonal(logits[:n, n:]), ops.diagonal(logits[n:, :n])], axis=0
    )
    per_anchor = log_norm - positive  # [2N]
    return 0.5 * (per_anchor[:n] + per_anchor[n:])


@kzoo_export("kzoo.losses.NTXentLoss")
@shared_loss_args
class NTXentLoss(TemperatureLoss):
    """SimCLR's NT-Xent loss, as a Keras loss.

    `y_true` is ignored (pass `None` or dummy targets). `y_pred` is either a
    dict `{"z1": [N, D], "z2": [N, D]}` of the two views' projections, or a
    single `[2N, D]` tensor whose first `N` rows are view 1 and last `N`
    rows view 2 (row `k` pairs with row `k + N`). Each of the `2N` views is
    an anchor with one positive and `2N - 2` negatives
    (`kzoo.losses.nt_xent_loss`). `call` returns one loss per positive pair,
    `[N]` (the mean of its two anchors), so reduction, `sample_weight`
    (shape `[N]`, per example) and `tf.distribute` scaling are the
    `keras.losses.Loss` base class's and the default reduction is the mean
    over the `2N` anchors. For `model.fit` with the loss passed to
    `compile`, the model must return the single `[2N, D]` tensor (e.g.
    `keras.layers.Concatenate(axis=0)` of the two views' projections):
    Keras' `compile` maps a dict output key by key to per-output losses.
    The dict form is for direct calls and for models that apply the loss
    themselves: `kzoo.models.SimCLR` trains with `fit` and no compiled
    loss, applying this loss to its `{"z1", "z2"}` outputs.

    Formula:

    ```python
    loss = mean_i -log(exp(s_i,pos(i)) / sum_{j != i} exp(s_ij))  # 2N anchors
    ```

    Args:
        temperature: positive softmax temperature. Defaults to `0.1`.
        {loss_args}

    Example:

    >>> z1 = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> loss = kzoo.losses.NTXentLoss(temperature=1.0)
    >>> # each anchor: positive cos 1, negatives cos 0 and 0:
    >>> # -log(e / (e + 2)) = log(1 + 2 / e)
    >>> round(float(loss(None, {"z1": z1, "z2": z1})), 4)
    0.5514

    Reference:
        - [Chen et al., 2020, "SimCLR"](https://arxiv.org/abs/2002.05709).
    """

    _stacked_pairs = True

    def __init__(
        self,
        temperature=0.1,
        reduction="sum_over_batch_size",
        name="nt_xent_loss",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(temperature, reduction, name, dtype,
                         gather_distributed)

    def _local_call(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            # Keras' base class would try to convert `None` to a tensor.
            y_true = ()
        return super()._local_call(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        z1, z2 = split_pair(y_pred, ("z1", "z2"), ("view 1", "view 2"))
        return nt_xent_loss(z1, z2, temperature=self.temperature)
