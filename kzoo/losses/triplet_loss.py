"""Triplet loss: explicit triplets or in-batch mining (all, hard, semi-hard).

Every mode uses the same per-triplet term

```python
0.5 * max(0, margin + d(a, p) - d(a, n))
```

(the course's triplet loss, with its factor 1/2), so `mining` only changes
which triplets are formed and what is averaged:

| `mining`      | `y_true`    | `y_pred`              | averaged over |
|---------------|-------------|-----------------------|---------------|
| `"none"`      | ignored     | `[B, 3, D]` (a, p, n) | the `B` triplets |
| `"all"`       | `[B]` ints  | `[B, D]`              | the *active* triplets (positive loss) |
| `"hard"`      | `[B]` ints  | `[B, D]`              | the anchors with a positive and a negative |
| `"semi-hard"` | `[B]` ints  | `[B, D]`              | the (anchor, positive) pairs whose anchor has a negative |

A batch with no valid (or no active) triplet gives exactly 0.
"""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo._docs import fill_doc
from kzoo.losses import mining as mining_lib
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import GatheringLoss
from kzoo.losses.mining import check_distance
from kzoo.losses.mining import masked_mean
from kzoo.losses.mining import masked_reduction

MINING = ("none", "all", "hard", "semi-hard")


def _row_distance(x, y, distance):
    x = kops.as_float32(x)
    y = kops.as_float32(y)
    if distance == "cosine":
        return 1.0 - ops.sum(kops.l2_normalize(x) * kops.l2_normalize(y), axis=-1)
    d2 = ops.sum(ops.square(x - y), axis=-1)
    if distance == "squared_l2":
        return d2
    return kops.safe_sqrt(d2)


@kzoo_export("kzoo.losses.triplet_loss")
def triplet_loss(anchor, positive, negative, margin=1.0, distance="squared_l2"):
    """Triplet loss of explicit (anchor, positive, negative) triplets.

    Formula:

    ```python
    loss = 0.5 * max(0, margin + d(anchor, positive) - d(anchor, negative))
    ```

    Computed in float32 whatever the input dtype. For `distance="l2"` the
    square root has a zero (not NaN) gradient at zero distance.

    Args:
        anchor: `[B, D]` anchor embeddings.
        positive: `[B, D]` embeddings of the same class as the anchors.
        negative: `[B, D]` embeddings of another class.
        margin: non-negative margin. Defaults to `1.0`.
        distance: `"squared_l2"`, `"l2"` or `"cosine"` (`1 - cos`).
            Defaults to `"squared_l2"`.

    Returns:
        Per-triplet loss, shape `[B]`, float32.

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832).
    """
    check_distance(distance)
    d_ap = _row_distance(anchor, positive, distance)
    d_an = _row_distance(anchor, negative, distance)
    return 0.5 * ops.relu(margin + d_ap - d_an)


def _check_labelled_batch(labels, embeddings):
    if labels is None:
        raise ValueError(
            "In-batch triplet mining needs `y_true`, the `[B]` integer class "
            "labels. Received: y_true=None"
        )
    embeddings = ops.convert_to_tensor(embeddings)
    if len(embeddings.shape) != 2:
        raise ValueError(
            "In-batch triplet mining needs `y_pred` embeddings of shape "
            f"`[B, D]`. Received: y_pred.shape={tuple(embeddings.shape)}"
        )
    labels = mining_lib.flat_labels(labels, embeddings)
    return labels, embeddings


def _mined(labels, embeddings, margin, distance, mining):
    """`(values, mask)`: per-anchor / per-pair / per-triplet losses."""
    labels, embeddings = _check_labelled_batch(labels, embeddings)
    d = mining_lib.distance_matrix(embeddings, distance)
    if mining == "hard":
        hardest_pos, hardest_neg, valid = mining_lib.batch_hard(labels, d)
        values = 0.5 * ops.relu(margin + hardest_pos - hardest_neg)
    elif mining == "semi-hard":
        negative, valid = mining_lib.semi_hard(labels, d)
        values = 0.5 * ops.relu(margin + d - negative)
    else:  # "all": the mean runs over the active triplets only
        hinge, _ = mining_lib.batch_all(labels, d, margin)
        values = 0.5 * hinge
        valid = ops.greater(hinge, 0.0)
    return ops.where(valid, values, 0.0), valid


_TRIPLET_ARGS = """labels: `[B]` (or `[B, 1]`) integer class labels.
embeddings: `[B, D]` embeddings.
margin: non-negative margin. Defaults to `1.0`.
distance: `"squared_l2"`, `"l2"` or `"cosine"`. Defaults to
    `"squared_l2"`."""


@kzoo_export("kzoo.losses.batch_all_triplet_loss")
@fill_doc(triplet_args=_TRIPLET_ARGS)
def batch_all_triplet_loss(labels, embeddings, margin=1.0, distance="squared_l2"):
    """Batch-all triplet loss and the fraction of active triplets.

    Every valid triplet `(a, p, n)` of the batch (`p` same label as `a`,
    `p != a`; `n` another label) is formed; the loss is the mean of
    `0.5 * max(0, margin + d(a, p) - d(a, n))` over the *active* triplets,
    those with a positive loss (Hermans et al.'s "batch all", averaged as
    in their `BA_{!=0}` variant). Both results are 0 on a batch without a
    valid triplet.

    Formula:

    ```python
    terms = 0.5 * max(0, margin + d[a, p] - d[a, n])  # valid triplets
    loss = sum(terms) / count(terms > 0)
    fraction = count(terms > 0) / count(valid triplets)
    ```

    Args:
        {triplet_args}

    Returns:
        `(loss, fraction)`: float32 scalars.

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """
    check_distance(distance)
    labels, embeddings = _check_labelled_batch(labels, embeddings)
    d = mining_lib.distance_matrix(embeddings, distance)
    hinge, valid = mining_lib.batch_all(labels, d, margin)
    active = ops.greater(hinge, 0.0)
    loss = masked_mean(0.5 * hinge, active)
    fraction = ops.divide_no_nan(
        ops.sum(ops.cast(active, "float32")), ops.sum(ops.cast(valid, "float32"))
    )
    return loss, fraction


@kzoo_export("kzoo.losses.batch_hard_triplet_loss")
@fill_doc(triplet_args=_TRIPLET_ARGS)
def batch_hard_triplet_loss(labels, embeddings, margin=1.0,
                            distance="squared_l2"):
    """Batch-hard triplet loss: hardest positive and negative per anchor.

    Formula:

    ```python
    per_anchor = 0.5 * max(0, margin + max_p d[a, p] - min_n d[a, n])
    loss = mean(per_anchor over anchors with a positive and a negative)
    ```

    Args:
        {triplet_args}

    Returns:
        Float32 scalar; 0 if no anchor has both a positive and a negative.

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """
    check_distance(distance)
    return masked_mean(*_mined(labels, embeddings, margin, distance, "hard"))


@kzoo_export("kzoo.losses.semi_hard_triplet_loss")
@fill_doc(triplet_args=_TRIPLET_ARGS)
def semi_hard_triplet_loss(labels, embeddings, margin=1.0,
                           distance="squared_l2"):
    """Semi-hard triplet loss (FaceNet), over all (anchor, positive) pairs.

    Every pair `(a, p)` (same label, `a != p`) is matched with the closest
    negative farther than `p`; if there is none, with the farthest negative
    of `a` (tensorflow-addons' fallback; see
    `kzoo.losses.mining.semi_hard`). The loss is the mean over the pairs
    whose anchor has at least one negative. With `distance="squared_l2"`
    this is half tensorflow-addons' `triplet_semihard_loss` (whose
    `"L_2"` distance is squared) wherever tfa's value is finite and every
    anchor has a negative.

    Formula:

    ```python
    per_pair = 0.5 * max(0, margin + d[a, p] - d[a, semi_hard_negative(a, p)])
    loss = mean(per_pair over the (a, p) pairs whose anchor has a negative)
    ```

    Args:
        {triplet_args}

    Returns:
        Float32 scalar; 0 if there is no such pair.

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832).
    """
    check_distance(distance)
    return masked_mean(*_mined(labels, embeddings, margin, distance, "semi-hard"))


@kzoo_export("kzoo.losses.TripletLoss")
@shared_loss_args
class TripletLoss(GatheringLoss):
    """Triplet loss, on explicit triplets or mined inside the batch.

    Every mode uses the course's per-triplet term `0.5 * max(0, margin +
    d(a, p) - d(a, n))` with `d` the chosen `distance`; `mining` selects the
    triplets and what the default reduction averages:

    - `"none"`: `y_pred` is `[B, 3, D]` stacked (anchor, positive, negative)
      embeddings (`kzoo.models.triplet_network`), `y_true` is ignored (pass
      `None` or dummy targets). One loss per triplet, reduced by the
      `keras.losses.Loss` base class (mean over the `B` triplets).
    - `"all"` (batch-all): `y_true` `[B]` integer labels, `y_pred` `[B, D]`
      embeddings. Mean over the *active* triplets (positive loss) among all
      valid `(a, p, n)` of the batch. The fraction of active triplets is
      returned by `kzoo.losses.batch_all_triplet_loss` and reported during
      `model.fit` by the metric `kzoo.losses.ActiveTripletFraction`
      (`compile(loss=TripletLoss(mining="all"),
      metrics=[ActiveTripletFraction()])`, same margin and distance).
    - `"hard"` (batch-hard): per anchor, its farthest positive and closest
      negative; mean over the anchors that have a positive and a negative.
    - `"semi-hard"` (FaceNet): per (anchor, positive) pair, the closest
      negative farther than the positive, else the farthest negative
      (tensorflow-addons' fallback); mean over the pairs whose anchor has a
      negative.

    In-batch modes: `call` returns the unreduced losses indexed by anchor
    first (`[B]` per anchor for `"hard"`, `[B, B]` per (anchor, positive)
    for `"semi-hard"`, `[B, B, B]` per (anchor, positive, negative) for
    `"all"`), 0 for excluded entries; `__call__` reduces them over the
    included entries only (`kzoo.losses.mining.masked_reduction`), so
    `"sum_over_batch_size"` divides by their count, not by `B`.
    `sample_weight` is per anchor (`[B]`); `reduction="none"` returns the
    weighted unreduced tensor; the tf.distribute 1/replicas scaling of the
    base class is kept. A batch with no valid (or no active) triplet gives
    exactly 0. Labels are compared exactly, never cast to float.
    Computed in float32 whatever the input dtype. `"all"` builds
    `[B, B, B]` tensors: memory grows as `B**3` (16.8M entries per tensor
    for `B = 256`); `"semi-hard"` sorts each anchor's negative distances
    and binary-searches the positives' (`O(B**2 log B)` time, `[B, B]`
    tensors only; with negatives tied at exactly the chosen distance the
    gradient goes to one of them, see `kzoo.losses.mining.semi_hard`).

    Formula:

    ```python
    loss = mean(0.5 * max(0, margin + d(a, p) - d(a, n)))  # over the selection
    ```

    Args:
        margin: non-negative margin. Defaults to `1.0`.
        distance: `"squared_l2"` (`||a - b||**2`), `"l2"` (`||a - b||`, safe
            gradient at 0) or `"cosine"` (`1 - cos(a, b)`). Defaults to
            `"squared_l2"`.
        mining: `"none"`, `"all"`, `"hard"` or `"semi-hard"`. Defaults to
            `"none"`.
        {loss_args}

    Example:

    >>> labels = np.array([0, 0, 1, 1])
    >>> emb = np.array([[0.0], [0.5], [1.0], [3.0]], "float32")
    >>> loss = kzoo.losses.TripletLoss(mining="hard", distance="l2")
    >>> # per anchor 0.5 * max(0, 1 + hardest_pos - hardest_neg):
    >>> # 0.5 * (1 + .5 - 1), 0.5 * (1 + .5 - .5), 0.5 * (1 + 2 - .5),
    >>> # 0.5 * (1 + 2 - 2.5)
    >>> float(loss(labels, emb))
    0.5625

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832).
        - [Hermans et al., 2017, "In Defense of the Triplet Loss"](
          https://arxiv.org/abs/1703.07737).
    """

    def _in_batch(self):
        return self.mining != "none"  # explicit triplets: per example

    def __init__(
        self,
        margin=1.0,
        distance="squared_l2",
        mining="none",
        reduction="sum_over_batch_size",
        name="triplet_loss",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)
        self.margin = check_number("margin", margin)
        check_distance(distance)
        if mining not in MINING:
            raise ValueError(
                f"`mining` must be one of {MINING}. Received: mining={mining!r}"
            )
        self.distance = distance
        self.mining = mining

    def _local_call(self, y_true, y_pred, sample_weight=None):
        if self.mining == "none":
            if y_true is None:
                # Keras' base class would try to convert `None` to a tensor.
                y_true = ()
            return super()._local_call(y_true, y_pred, sample_weight=sample_weight)
        # In-batch mining: the base class would cast the labels to float and
        # average over B; reduce over the included entries instead.
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
            values, mask = _mined(
                y_true, y_pred, self.margin, self.distance, self.mining
            )
            return masked_reduction(
                values, mask, sample_weight=sample_weight,
                reduction=self.reduction, dtype=self.dtype,
            )

    def call(self, y_true, y_pred):
        if self.mining != "none":
            return _mined(
                y_true, y_pred, self.margin, self.distance, self.mining
            )[0]
        if len(y_pred.shape) != 3 or y_pred.shape[1] != 3:
            raise ValueError(
                '`TripletLoss(mining="none")` needs `y_pred` of shape '
                "`[B, 3, D]` (anchor, positive, negative). "
                f"Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        return triplet_loss(
            y_pred[:, 0], y_pred[:, 1], y_pred[:, 2],
            margin=self.margin, distance=self.distance,
        )

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        config.update(
            {
                "margin": self.margin,
                "distance": self.distance,
                "mining": self.mining,
            }
        )
        return config
