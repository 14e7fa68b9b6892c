"""In-batch mining helpers for metric-learning losses (keras.ops, on every
Keras backend).

Everything here works on a batch of `B` integer labels and the `[B, B]`
matrix of pairwise distances between the batch's embeddings
(`distance_matrix`). Indices follow the usual anchor / positive / negative
naming: `a` an anchor, `p` a *positive* of `a` (same label, `p != a`), `n`
a *negative* of `a` (different label). Results are float32 and contain no
NaN or infinity on degenerate batches (one class, no positive pair,
duplicated or zero embeddings): entries without a valid choice are 0 and
flagged `False` in the returned validity mask.

Used by `kzoo.losses.TripletLoss` (`mining="all" | "hard" | "semi-hard"`)
and `kzoo.losses.SupConLoss`; `masked_reduction` is the reduction those
losses apply instead of the `keras.losses.Loss` base class's.
"""

from keras import ops

from kzoo import ops as kops

DISTANCES = ("squared_l2", "l2", "cosine")

# Fill value of masked-out entries inside min / max reductions: finite, so
# that no infinity ever reaches a gradient; farther than any real distance.
_BIG = 1e30
_FLOAT32_MAX = 3.4028234663852886e38


def check_distance(distance):
    """Raises a `ValueError` unless `distance` is one of `DISTANCES`."""
    if distance not in DISTANCES:
        raise ValueError(
            f"`distance` must be one of {DISTANCES}. "
            f"Received: distance={distance!r}"
        )


def compact_labels(labels):
    """Integer labels re-coded as the batch index of their first occurrence.

    The same equalities between labels, with values in `[0, B)`: a float cast
    cannot merge two large distinct ids (float32 represents integers
    exactly only up to 2**24, float16 up to 2048). `[B, 1]` labels are
    flattened.

    Args:
        labels: `[B]` or `[B, 1]` class labels (any dtype).

    Returns:
        `[B]` int32 tensor.

    Example:

    >>> kzoo.losses.mining.compact_labels(np.array([7, 2**30, 7, 3]))
    array([0, 1, 0, 3], dtype=int32)
    """
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    index = ops.arange(ops.shape(labels)[0], dtype="int32")
    big = ops.cast(2**31 - 1, "int32")
    return ops.min(ops.where(same, ops.expand_dims(index, 0), big), axis=1)


def _same_label(labels):
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    return ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))


def positive_mask(labels):
    """`[B, B]` bool: `mask[a, p]` iff `labels[a] == labels[p]` and `a != p`."""
    same = _same_label(labels)
    n = ops.shape(same)[0]
    return ops.logical_and(same, ops.logical_not(ops.eye(n, dtype="bool")))


def negative_mask(labels):
    """`[B, B]` bool: `mask[a, n]` iff `labels[a] != labels[n]`."""
    return ops.logical_not(_same_label(labels))


def triplet_mask(labels):
    """`[B, B, B]` bool: `mask[a, p, n]` iff `(a, p, n)` is a valid triplet.

    Valid means `p` is a positive of `a` (same label, `p != a`) and `n` a
    negative of `a` (different label).
    """
    pos = positive_mask(labels)
    neg = negative_mask(labels)
    return ops.logical_and(ops.expand_dims(pos, 2), ops.expand_dims(neg, 1))


def distance_matrix(embeddings, distance="squared_l2"):
    """`[B, B]` float32 pairwise distances between the rows of `embeddings`.

    - `"squared_l2"`: `||x_i - x_j||**2`;
    - `"l2"`: `||x_i - x_j||`, with a zero (not NaN) gradient at zero
      distance (`kzoo.ops.pairwise_distance`);
    - `"cosine"`: `1 - cos(x_i, x_j)`; a zero vector is at distance 1 from
      everything.

    Args:
        embeddings: `[B, D]` embeddings, any float dtype.
        distance: `"squared_l2"`, `"l2"` or `"cosine"`. Defaults to
            `"squared_l2"`.

    Returns:
        `[B, B]` float32 tensor.
    """
    check_distance(distance)
    if distance == "cosine":
        return kops.cosine_distance(embeddings)
    return kops.pairwise_distance(embeddings, squared=distance == "squared_l2")


def _masked_max(x, mask, axis):
    return ops.max(ops.where(mask, x, -_BIG), axis=axis)


def _masked_min(x, mask, axis):
    return ops.min(ops.where(mask, x, _BIG), axis=axis)


def batch_hard(labels, distances):
    """Batch-hard mining: hardest positive and hardest negative per anchor.

    For each anchor `a`: `d(a, p*)` with `p*` the *farthest* positive and
    `d(a, n*)` with `n*` the *closest* negative (Hermans et al., 2017).

    Args:
        labels: `[B]` class labels.
        distances: `[B, B]` distances (`distance_matrix`).

    Returns:
        `(hardest_positive, hardest_negative, valid)`: two `[B]` float32
        distances and a `[B]` bool mask, `True` where the anchor has at
        least one positive and one negative; the distances are 0 where it
        is `False`.

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """
    distances = kops.as_float32(distances)
    pos = positive_mask(labels)
    neg = negative_mask(labels)
    has_pos = ops.any(pos, axis=1)
    has_neg = ops.any(neg, axis=1)
    valid = ops.logical_and(has_pos, has_neg)
    hardest_pos = ops.where(valid, _masked_max(distances, pos, axis=1), 0.0)
    hardest_neg = ops.where(valid, _masked_min(distances, neg, axis=1), 0.0)
    return hardest_pos, hardest_neg, valid


def semi_hard_index(negatives, distances):
    """Index of FaceNet's semi-hard negative for every (anchor, positive) pair.

    For the pair `(a, p)` (any `p`; only the positives of `a` are meant to
    be used) the chosen negative `n` is the *closest negative farther than
    `p`*, the negative of `a` with the smallest `d(a, n) > d(a, p)`
    (strictly greater); when no negative of `a` is farther than `p`, it is
    the *farthest* negative of `a` (tensorflow-addons' fallback). Among
    negatives at exactly the same distance one of them is returned.

    The selection costs `O(B**2 log B)` time and `O(B**2)` memory: each
    anchor's negative distances are sorted once and every `d(a, p)` is
    binary-searched in them (`kzoo.ops.searchsorted_rows(..., side="right")`). It is
    computed without gradient; gather the chosen distance from the
    differentiable matrix (`ops.take_along_axis(distances, index, axis=1)`)
    so that the gradient flows through `d(a, n)`. A distance of `+inf` or
    NaN is ranked as the largest finite float32: the index always points
    at a negative of the anchor (when it has one).

    Args:
        negatives: `[B, B]` bool, `negatives[a, n]` iff `n` is a negative
            of `a` (`negative_mask(labels)`).
        distances: `[B, B]` distances (`distance_matrix`).

    Returns:
        `(index, has_negative)`: `[B, B]` int32 indices in `[0, B)` of the
        chosen negative, indexed `[a, p]`, and the `[B]` bool mask of the
        anchors that have at least one negative. An anchor without any
        negative gets index 0 (an arbitrary valid index; mask it out).
    """
    d = ops.stop_gradient(kops.as_float32(distances))
    negatives = ops.cast(negatives, "bool")
    # Sort key: each negative's distance (+inf and NaN replaced by the
    # largest finite float32), +inf for the other entries, so that an
    # anchor's negatives come first, in ascending order of distance.
    finite = ops.where(ops.less_equal(d, _FLOAT32_MAX), d, _FLOAT32_MAX)
    key = ops.where(negatives, finite, float("inf"))
    order = ops.argsort(key, axis=1)
    sorted_key = ops.take_along_axis(key, order, axis=1)
    # Number of the anchor's negatives at distance <= d(a, p): the position,
    # in the sorted row, of the first negative strictly farther than p.
    first_farther = kops.searchsorted_rows(sorted_key, d, side="right")
    num_negatives = ops.sum(ops.cast(negatives, "int32"), axis=1)
    has_farther = ops.less(first_farther, ops.expand_dims(num_negatives, 1))
    last = ops.maximum(ops.shape(d)[0] - 1, 0)
    position = ops.where(
        has_farther,
        ops.minimum(first_farther, last),
        # no negative farther than p: the anchor's farthest one
        ops.expand_dims(ops.maximum(num_negatives - 1, 0), 1),
    )
    index = ops.take_along_axis(order, ops.cast(position, "int32"), axis=1)
    return ops.cast(index, "int32"), ops.greater(num_negatives, 0)


def semi_hard(labels, distances):
    """FaceNet's semi-hard negative for every (anchor, positive) pair.

    For the pair `(a, p)` the chosen negative is the *closest negative
    farther than the positive*: `min {d(a, n) : d(a, n) > d(a, p)}`. When no
    negative is farther than the positive, it is the *largest* negative
    distance of the anchor, `max_n d(a, n)` (the fallback of
    tensorflow-addons' `triplet_semihard_loss`, its "negatives_inside").
    With a hinge `max(0, margin + d(a, p) - d(a, n))` this equals FaceNet's
    rule of taking negatives inside the margin band `d(a, p) < d(a, n) <
    d(a, p) + margin`: a closest farther negative outside the band gives a
    zero loss either way.

    The negative is picked by `semi_hard_index` (sort each anchor's
    negative distances, binary-search `d(a, p)`: `O(B**2 log B)` time,
    `O(B**2)` memory) and its distance gathered from `distances`, so the
    gradient flows through the chosen `d(a, n)` only. When several
    negatives are at exactly the chosen distance, the whole gradient goes
    to one of them (a `min` over the `[B, B, B]` triplets would split it
    between them); the values are the same.

    Args:
        labels: `[B]` class labels.
        distances: `[B, B]` distances (`distance_matrix`).

    Returns:
        `(negative_distance, valid)`: `[B, B]` float32 chosen `d(a, n)` per
        `(a, p)` and a `[B, B]` bool mask, `True` where `p` is a positive of
        `a` and `a` has at least one negative; the distance is 0 where it is
        `False`.

    Reference:
        - [Schroff et al., 2015, "FaceNet"](https://arxiv.org/abs/1503.03832),
          section 3.2.
    """
    distances = kops.as_float32(distances)
    pos = positive_mask(labels)
    index, has_negative = semi_hard_index(negative_mask(labels), distances)
    chosen = ops.take_along_axis(distances, index, axis=1)  # d(a, n(a, p))
    valid = ops.logical_and(pos, ops.expand_dims(has_negative, 1))
    return ops.where(valid, chosen, 0.0), valid


def batch_all(labels, distances, margin):
    """Batch-all mining: the hinge of every valid triplet of the batch.

    Args:
        labels: `[B]` class labels.
        distances: `[B, B]` distances (`distance_matrix`).
        margin: the triplet margin `m`.

    Returns:
        `(hinge, valid)`: `[B, B, B]` float32 `max(0, m + d(a, p) - d(a, n))`
        indexed `[a, p, n]` (0 for invalid triplets) and the `[B, B, B]`
        bool `triplet_mask`. The *active* triplets are `hinge > 0`.

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """
    distances = kops.as_float32(distances)
    valid = triplet_mask(labels)
    hinge = ops.relu(
        margin + ops.expand_dims(distances, 2) - ops.expand_dims(distances, 1)
    )
    return ops.where(valid, hinge, 0.0), valid


def masked_mean(values, mask):
    """Mean of `values` over the `True` entries of `mask`; 0 if there are none."""
    mask = ops.cast(mask, "bool")
    total = ops.sum(ops.where(mask, kops.as_float32(values), 0.0))
    return ops.divide_no_nan(total, ops.sum(ops.cast(mask, "float32")))


def masked_reduction(values, mask, sample_weight=None,
                     reduction="sum_over_batch_size", dtype=None):
    """`keras.losses.Loss` reductions restricted to the entries of `mask`.

    The reduction of the in-batch losses: entries outside `mask` (anchors
    without a valid positive / negative, inactive triplets) count neither
    in the sum nor in the divisor.

    - `"sum_over_batch_size"` / `"mean"`: `sum(w * values) / count(mask)`;
    - `"mean_with_sample_weight"`: `sum(w * values) / sum(w)`;
    - `"sum"`: `sum(w * values)`;
    - `"none"` / `None`: `w * values`, zeros outside `mask`;

    with `w = sample_weight * mask`. A mask without `True` entry gives 0.
    As in `keras.losses.Loss`, the averaging reductions are divided by the
    number of replicas in sync under `tf.distribute` (each replica averages
    its own valid entries).

    Args:
        values: `[B, ...]` per-anchor (per pair, per triplet) losses, first
            axis the anchor.
        mask: bool tensor of the shape of `values`.
        sample_weight: per-anchor weights, `[B]` or `[B, 1]`, broadcast over
            the other axes. Defaults to `None` (all ones).
        reduction: one of the `keras.losses.Loss` reductions. Defaults to
            `"sum_over_batch_size"`.
        dtype: dtype of the result. Defaults to `None` (float32).

    Returns:
        Scalar (or `values`-shaped for `"none"`) tensor.
    """
    values = kops.as_float32(values)
    mask = ops.cast(mask, "bool")
    weights = ops.cast(mask, "float32")
    if sample_weight is not None:
        sample_weight = kops.as_float32(sample_weight)
        rank = len(values.shape)
        sample_weight = ops.reshape(
            sample_weight, (ops.shape(values)[0],) + (1,) * (rank - 1)
        )
        weights = weights * sample_weight
    # `where`, not a product: an excluded entry never leaks into the result.
    weighted = ops.where(mask, values * weights, 0.0)
    if reduction is None or reduction == "none":
        out = weighted
    else:
        out = ops.sum(weighted)
        if reduction != "sum":
            if reduction == "mean_with_sample_weight":
                divisor = ops.sum(weights)
            else:
                divisor = ops.sum(ops.cast(mask, "float32"))
            out = kops.scale_for_replicas(ops.divide_no_nan(out, divisor))
    return ops.cast(out, dtype or "float32")


def flat_labels(labels, embeddings):
    """`labels` as `[B]`, checked to hold one label per row of `embeddings`.

    Raises a `ValueError` naming both shapes when the (static) sizes differ.
    """
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    n, b = labels.shape[0], embeddings.shape[0]
    if n is not None and b is not None and n != b:
        raise ValueError(
            "`y_true` must hold one label per example. Received: "
            f"y_true.shape={(n,)} and y_pred.shape={tuple(embeddings.shape)}"
        )
    return labels
