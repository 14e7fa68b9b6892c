"""Shared helpers for the tensorflow-addons compatible losses (private)."""

import keras
from keras import ops

import kzoo.ops
from kzoo.losses._gather import GatheringLoss

# Strings tensorflow-addons 0.23 accepts for `distance_metric`.
DISTANCE_METRICS = ("L2", "squared-L2", "angular")

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def output_dtype(x):
    """The dtype tfa returns for input `x`: its own float dtype (else float32)."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    return dtype if dtype in _FLOATS else "float32"


def compute_dtype(x):
    """float64 stays float64; everything else (incl. float16/bfloat16, as in
    tfa) is computed in float32."""
    return "float64" if output_dtype(x) == "float64" else "float32"


def check_distance_metric(distance_metric):
    if callable(distance_metric) or distance_metric in DISTANCE_METRICS:
        return
    hint = ""
    if distance_metric in ("L_2", "L_1"):
        hint = (
            " (tensorflow-addons < 0.11 called squared-L2 'L_2' and L2 'L_1'; "
            "0.23, which kzoo.addons follows, uses 'squared-L2' and 'L2')"
        )
    raise ValueError(
        "`distance_metric` must be one of "
        f"{', '.join(repr(m) for m in DISTANCE_METRICS)} or a callable mapping "
        f"`[B, D]` embeddings to a `[B, B]` distance matrix{hint}. "
        f"Received: distance_metric={distance_metric!r}"
    )


def distance_matrix(embeddings, distance_metric):
    """`[B, B]` float32 distances, as tfa's `distance_metric` handling.

    "L2": Euclidean distance (zero diagonal, zero and a zero gradient at
    zero distance); "squared-L2": its square; "angular": `max(1 - cos, 0)`
    of the l2-normalised rows (diagonal not forced to 0, as in tfa); a
    callable receives the float32 embeddings.
    """
    check_distance_metric(distance_metric)
    x = ops.cast(embeddings, "float32")
    if callable(distance_metric):
        return ops.cast(distance_metric(x), "float32")
    if distance_metric == "L2":
        return kzoo.ops.pairwise_distance(x, squared=False)
    if distance_metric == "squared-L2":
        return kzoo.ops.pairwise_distance(x, squared=True)
    return ops.maximum(kzoo.ops.cosine_distance(x), 0.0)


def labels_column(labels):
    """`[B]` or `[B, 1]` labels as a `[B, 1]` tensor (tfa's reshape)."""
    return ops.reshape(ops.convert_to_tensor(labels), (-1, 1))


def off_diagonal(n):
    """Boolean `[n, n]` mask, True off the diagonal."""
    i = ops.arange(n)
    return ops.not_equal(ops.expand_dims(i, 1), ops.expand_dims(i, 0))


# `initial` lets an empty batch reduce (Keras' TF backend refuses to take
# the min / max of an empty tensor eagerly); it never changes a value.
def _min(x, axis):
    return ops.min(x, axis=axis, keepdims=True, initial=float("inf"))


def _max(x, axis):
    return ops.max(x, axis=axis, keepdims=True, initial=float("-inf"))


def masked_maximum(data, mask, axis=-1):
    """tfa's `_masked_maximum`: max of `data` over `mask` along `axis`
    (keepdims). With an empty mask it returns the minimum over *all*
    entries along `axis`; tfa's losses rely on that fallback."""
    mask = ops.cast(mask, data.dtype)
    axis_minimums = _min(data, axis)
    return _max((data - axis_minimums) * mask, axis) + axis_minimums


def masked_minimum(data, mask, axis=-1):
    """tfa's `_masked_minimum`: min of `data` over `mask` along `axis`
    (keepdims). With an empty mask it returns the maximum over *all*
    entries along `axis`."""
    mask = ops.cast(mask, data.dtype)
    axis_maximums = _max(data, axis)
    return _min((data - axis_maximums) * mask, axis) + axis_maximums


def config_number(value):
    """A Python number for get_config (tfa evaluated tensor margins too)."""
    if isinstance(value, (int, float)):
        return value
    return float(ops.convert_to_numpy(value))


class AddonsLoss(keras.losses.Loss):
    """Base class: tfa's `"auto"` reduction and a dtype-preserving config.

    `reduction="auto"` (`tf.keras.losses.Reduction.AUTO`, which Keras 3
    rejects) maps to the class's tfa default.
    """

    _default_reduction = "none"

    def __init__(self, name=None, reduction=None, dtype=None):
        if reduction == "auto":
            reduction = self._default_reduction
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        return config


class InBatchAddonsLoss(GatheringLoss, AddonsLoss):
    """Base of the tfa losses that compare the examples of a batch: one
    scalar per batch, computed on the global batch under a `tf.distribute`
    strategy with several replicas (`kzoo.losses.GatheringLoss`; tfa
    computed it on each replica's shard); `gather_distributed=False`
    restores tfa's behaviour."""

    _batch_scalar = True


def first_occurrence_ids(labels):
    """Integer labels re-coded as the index of their first occurrence.

    Same equalities, but small numbers: Keras 3's `Loss.__call__` casts
    `y_true` to the loss dtype (float32), which would merge distinct large
    integer labels (e.g. 16777216 and 16777217); tf.keras 2 passed tfa the
    integers unchanged.
    """
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    big = 2**31 - 1
    index = ops.expand_dims(ops.arange(ops.shape(labels)[0], dtype="int32"), 0)
    return ops.min(ops.where(same, index, big), axis=1, initial=big)


class LabelLoss(InBatchAddonsLoss):
    """Base class of the in-batch losses whose `y_true` are class labels."""

    def _local_call(self, y_true, y_pred, sample_weight=None):
        # Re-coded after the gather: ids of first occurrences are only
        # comparable within one batch.
        y_true = ops.convert_to_tensor(y_true)
        if keras.backend.standardize_dtype(y_true.dtype).startswith(("int", "uint")):
            y_true = first_occurrence_ids(y_true)
        return super()._local_call(y_true, y_pred,
                                   sample_weight=sample_weight)
