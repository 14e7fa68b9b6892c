"""CLIP's symmetric InfoNCE loss between two modalities."""

import math

from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import TemperatureLoss
from kzoo.losses._pairs import split_pair

# Logit of an excluded pair (a duplicate): out of the softmax, finite.
_EXCLUDED = -1e30


def _l2_normalize(x):
    x = kops.as_float32(x)
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True),
                                    1e-12))


@kzoo_export("kzoo.losses.clip_logits")
def clip_logits(embeddings_a, embeddings_b, scale=1.0 / 0.07, labels=None):
    """CLIP's `[N, N]` logits, with duplicates taken out of the softmax.

    `logits[i, j] = scale * cos(a_i, b_j)`; when `labels` is given, every
    pair `i != j` with `labels[i] == labels[j]` (the same word or class
    twice in the batch) gets a logit of `-1e30`, so it is neither a
    negative nor a second positive in either direction. Computed in
    float32.

    Args:
        embeddings_a: `[N, D]` embeddings of the first modality.
        embeddings_b: `[N, D]` embeddings of the second (row `i` pairs with
            `embeddings_a[i]`).
        scale: positive logit scale, `1 / temperature` (a float or a
            scalar tensor, e.g. `exp(t)` of a learnable `t`). Defaults to
            `1 / 0.07` (CLIP's initial value).
        labels: optional `[N]` integer ids; rows with equal ids are
            duplicates. Defaults to `None` (every other row is a negative).

    Returns:
        `[N, N]` float32 logits, rows indexed by `a`, columns by `b`.
    """
    if isinstance(scale, (int, float)):
        scale = check_number("scale", scale, positive=True)
    a = _l2_normalize(embeddings_a)
    b = _l2_normalize(embeddings_b)
    logits = ops.cast(scale, "float32") * ops.matmul(a, ops.transpose(b))
    if labels is not None:
        labels = ops.reshape(labels, (-1,))
        same = ops.equal(ops.expand_dims(labels, 0), ops.expand_dims(labels, 1))
        n = ops.shape(logits)[0]
        duplicate = ops.logical_and(same, ops.logical_not(
            ops.eye(n, dtype="bool")))
        logits = ops.where(duplicate, _EXCLUDED, logits)
    return logits


@kzoo_export("kzoo.losses.clip_loss")
def clip_loss(embeddings_a, embeddings_b, scale=1.0 / 0.07, labels=None):
    """CLIP's symmetric InfoNCE loss, per pair.

    Both embeddings are L2-normalised (zero vectors stay zero). Pair `i`
    is the positive of row `i` (a -> b: which `b` goes with `a_i`) and of
    column `i` (b -> a); the other rows of the batch are the negatives. The
    result for pair `i` averages its two cross-entropies, so the mean over
    the batch is CLIP's loss (the mean of the image-to-text and
    text-to-image losses). With `labels`, duplicates of pair `i` (same id)
    are left out of both softmaxes (`kzoo.losses.clip_logits`): two
    recordings of the same word in one batch are not pushed apart, and the
    loss can still reach 0.

    Formula:

    ```python
    s_ij = scale * cos(a_i, b_j)        # -inf where labels_i == labels_j, i != j
    loss_i = (-log softmax_j(s_i.)[i] - log softmax_j(s_.i)[i]) / 2
    ```

    Args:
        embeddings_a: `[N, D]` embeddings of the first modality.
        embeddings_b: `[N, D]` embeddings of the second.
        scale: positive logit scale `1 / temperature`. Defaults to
            `1 / 0.07`.
        labels: optional `[N]` ids marking duplicates. Defaults to `None`.

    Returns:
        Per-pair loss, shape `[N]`, float32.

    Reference:
        - [Radford et al., 2021, "Learning Transferable Visual Models From
          Natural Language Supervision"](https://arxiv.org/abs/2103.00020),
          Figure 3.
    """
    logits = clip_logits(embeddings_a, embeddings_b, scale, labels)
    positive = ops.diagonal(logits)
    a_to_b = ops.logsumexp(logits, axis=1) - positive
    b_to_a = ops.logsumexp(logits, axis=0) - positive
    return 0.5 * (a_to_b + b_to_a)


@kzoo_export("kzoo.losses.ClipLoss")
@shared_loss_args
class ClipLoss(TemperatureLoss):
    """CLIP's symmetric InfoNCE loss, as a Keras loss.

    `y_true`: `None`, or `[N]` integer ids marking duplicates (pairs of the
    batch with the same id are neither negatives nor positives of each
    other; see `kzoo.losses.clip_loss`). `y_pred`: a dict `{"a": [N, D],
    "b": [N, D]}` with an optional `"scale"` (the model's learnable logit
    scale, a scalar), or one `[2N, D]` tensor whose first `N` rows are `a`
    and last `N` rows `b`. Without `"scale"`, `1 / temperature` is used.
    `call` returns one loss per pair, so reduction and `sample_weight` are
    the base class's; the default reduction is CLIP's mean.

    Formula:

    ```python
    loss = mean_i (CE(s_i., i) + CE(s_.i, i)) / 2,  s_ij = scale * cos(a_i, b_j)
    ```

    Args:
        temperature: positive temperature used when `y_pred` has no
            `"scale"`. Defaults to `0.07` (CLIP's initial value).
        {loss_args}

    Example:

    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> loss = kzoo.losses.ClipLoss(temperature=1.0)
    >>> # each row and column: positive cos 1, negative cos 0:
    >>> # -log(e / (e + 1)) = log(1 + 1 / e)
    >>> round(float(loss(None, {"a": a, "b": a})), 4)
    0.3133

    Reference:
        - [Radford et al., 2021, "CLIP"](https://arxiv.org/abs/2103.00020).
    """

    _stacked_pairs = True

    def __init__(
        self,
        temperature=0.07,
        reduction="sum_over_batch_size",
        name="clip_loss",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(temperature, reduction, name, dtype,
                         gather_distributed)

    def _local_call(self, y_true, y_pred, sample_weight=None):
        if y_true is None:
            y_true = ()
        return super()._local_call(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        scale = 1.0 / self.temperature
        a, b = split_pair(y_pred, ("a", "b"), ("a", "b"))
        if isinstance(y_pred, dict) and "scale" in y_pred:
            scale = y_pred["scale"]
        labels = None
        if not (isinstance(y_true, tuple) and not y_true):
            labels = y_true
        return clip_loss(a, b, scale=scale, labels=labels)


def initial_logit_scale(temperature=0.07):
    """`log(1 / temperature)`: CLIP's initial value of its learnable `t`."""
    return math.log(1.0 / check_number("temperature", temperature,
                                       positive=True))
