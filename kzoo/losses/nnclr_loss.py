"""NNCLR's loss: nearest neighbours from a support set as positives."""

from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import TemperatureLoss

_KEYS = ("nn1", "p2", "nn2", "p1")


def _cross_view(anchors, others, temperature):
    """Per-row `-log softmax` of the diagonal of `cos(anchors, others) / T`."""
    logits = ops.matmul(kops.l2_normalize(anchors),
                        ops.transpose(kops.l2_normalize(others))) / temperature
    return ops.logsumexp(logits, axis=1) - ops.diagonal(logits)


@kzoo_export("kzoo.losses.nnclr_loss")
def nnclr_loss(nn1, p2, nn2, p1, temperature=0.1):
    """NNCLR's symmetric loss, per example (Dwibedi et al., 2021, eq. 3-4).

    For example `i`, `nn1[i]` is the nearest neighbour of its first view's
    projection in the support set and `p2[i]` the prediction (or the
    projection, without a predictor) of its second view; the negatives of
    `nn1[i]` are the second views of the other examples of the batch (the
    cross-view softmax of the paper, not NT-Xent's `2N - 2` views). The
    same with the views swapped, and the two halves averaged. Everything is
    L2-normalised first; computed in float32.

    Formula:

    ```python
    s_ik = cos(nn1_i, p2_k) / temperature
    l_i = -log(exp(s_ii) / sum_k exp(s_ik))         # and l'_i with 2 <-> 1
    loss_i = (l_i + l'_i) / 2
    ```

    keras-io's `nnclr` example adds the transposed terms (the softmax over
    the column `k`) as well; lightly uses NT-Xent. This is the paper's.

    Args:
        nn1, p2, nn2, p1: `[N, D]` tensors (row `i` is example `i`).
        temperature: positive softmax temperature. Defaults to `0.1`.

    Returns:
        Per-example loss, shape `[N]`, float32.

    Reference:
        - [Dwibedi et al., 2021, "With a Little Help from My Friends:
          Nearest-Neighbor Contrastive Learning of Visual
          Representations"](https://arxiv.org/abs/2104.14548).
    """
    temperature = check_number("temperature", temperature, positive=True)
    nn1, p2, nn2, p1 = (ops.cast(x, "float32") for x in (nn1, p2, nn2, p1))
    return 0.5 * (_cross_view(nn1, p2, temperature)
                  + _cross_view(nn2, p1, temperature))


@kzoo_export("kzoo.losses.NNCLRLoss")
@shared_loss_args
class NNCLRLoss(TemperatureLoss):
    """NNCLR's loss, as a Keras loss (`kzoo.losses.nnclr_loss`).

    `y_true` is ignored. `y_pred` is a dict with `"nn1"`, `"p2"`, `"nn2"`,
    `"p1"` (`[N, D]` each: the support-set neighbours of the two views'
    projections and the two views' predictions), what
    `kzoo.models.NNCLR` returns in training. The negatives are the other
    examples of the *global* batch: under `tf.distribute` the replicas'
    rows are gathered first, so a step on N replicas equals the
    single-device step.

    Args:
        temperature: positive softmax temperature. Defaults to `0.1`.
        {loss_args}

    Example:

    >>> z = np.eye(2, dtype="float32")
    >>> loss = kzoo.losses.NNCLRLoss(temperature=1.0)
    >>> # positive cos 1, one negative cos 0: -log(e / (e + 1))
    >>> round(float(loss(None, {"nn1": z, "p2": z, "nn2": z, "p1": z})), 4)
    0.3133

    Reference:
        - [Dwibedi et al., 2021](https://arxiv.org/abs/2104.14548).
    """

    def __init__(self, temperature=0.1, reduction="sum_over_batch_size",
                 name="nnclr_loss", dtype=None, gather_distributed=True):
        super().__init__(temperature, reduction, name, dtype,
                         gather_distributed)

    def _local_call(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            y_true = ()
        return super()._local_call(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        if not isinstance(y_pred, dict) or set(_KEYS) - set(y_pred):
            keys = sorted(y_pred) if isinstance(y_pred, dict) else None
            raise ValueError(
                f"`y_pred` must be a dict with keys {list(_KEYS)}. Received: "
                f"y_pred keys={keys}")
        return nnclr_loss(*(y_pred[k] for k in _KEYS),
                          temperature=self.temperature)
