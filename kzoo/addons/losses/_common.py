"""Shared helpers for the tensorflow-addons compatible losses (private)."""

import keras
from keras import ops

import kzoo.ops
from kzoo.losses._gather import GatheringLoss

# Docstring text of the addons losses' common arguments (`kzoo._docs`).
DTYPE_ARG = """dtype: `None` (the default) follows tfa: the loss is computed in
    float32 (`keras.backend.floatx()`) and returned in the float
    dtype of `y_pred` (float16 in, float16 out). A dtype or
    `keras.DTypePolicy` follows Keras 3: the inputs are cast to its
    compute dtype, which is also the result's."""
REDUCTION_ARG = """reduction: applied by `keras.losses.Loss` to the scalar (only
    matters with `sample_weight`); `"auto"` means `"none"`. tfa
    ignored this argument. Defaults to `"none"`."""

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


def as_tensors(x):
    """Numpy arrays and lists (also as the values of a dict `y_pred`) as
    backend tensors; tensors and variables unchanged."""
    if isinstance(x, dict):
        return {k: as_tensors(v) for k, v in x.items()}
    if getattr(x, "dtype", None) is None or type(x).__module__ == "numpy":
        return ops.convert_to_tensor(x)
    return x


def float_dtype(x):
    """The float dtype of tensor `x` (of the values of a dict: their common
    one), else None. Convert numpy inputs first (`as_tensors`): the answer
    is then the backend's (JAX without x64 turns float64 into float32)."""
    if isinstance(x, dict):
        dtypes = {float_dtype(v) for v in x.values()}
        if not dtypes or None in dtypes:
            return None
        if len(dtypes) == 1:
            return dtypes.pop()
        return "float64" if "float64" in dtypes else "float32"
    dtype = keras.backend.standardize_dtype(x.dtype)
    return dtype if dtype in _FLOATS else None


# --- shape checks: a clear ValueError instead of a backend broadcast error --


def static_shape(x):
    """`x.shape` as a tuple (None for unknown dims), or None if the rank is
    unknown (a TF graph tensor of unknown rank)."""
    try:
        return tuple(None if d is None else int(d) for d in x.shape)
    except (TypeError, ValueError):
        return None


def fmt_shape(shape):
    return str(tuple(shape))


def check_class_labels(labels, name="y_true"):
    """`labels` must be `[B]` or `[B, 1]` class ids."""
    shape = static_shape(labels)
    if shape is None or len(shape) == 1 or (
            len(shape) == 2 and shape[1] in (1, None)):
        return
    raise ValueError(
        f"`{name}` must be integer class labels of shape `[B]` or `[B, 1]` "
        "(one label per example; for multi-label `[B, C]` indicators use "
        f"`npairs_multilabel_loss`). Received: {name}.shape={fmt_shape(shape)}"
    )


def same_batch(a, b, a_name, b_name):
    """The leading dims of `a` and `b` must match where both are known."""
    sa, sb = static_shape(a), static_shape(b)
    if not sa or not sb or None in (sa[0], sb[0]) or sa[0] == sb[0]:
        return
    raise ValueError(
        f"`{a_name}` and `{b_name}` must have the same batch size (first "
        f"dimension). Received: {a_name}.shape={fmt_shape(sa)}, "
        f"{b_name}.shape={fmt_shape(sb)}"
    )


def check_embeddings(labels, embeddings, labels_name="y_true",
                     name="y_pred"):
    """`[B]`/`[B, 1]` labels and `[B, D]` embeddings."""
    check_class_labels(labels, labels_name)
    shape = static_shape(embeddings)
    if shape is not None and len(shape) != 2:
        raise ValueError(
            f"`{name}` must be `[B, D]` embeddings, one row per label of "
            f"`{labels_name}`. Received: {name}.shape={fmt_shape(shape)}"
        )
    same_batch(labels, embeddings, labels_name, name)


def check_logits(logits, name="y_pred"):
    """`[B, B]` similarity logits."""
    shape = static_shape(logits)
    if shape is None:
        return
    if len(shape) != 2 or (None not in shape and shape[0] != shape[1]):
        raise ValueError(
            f"`{name}` must be the `[B, B]` similarity logits between the "
            "anchors and the positives (e.g. `anchors @ transpose(positives)`"
            "), one row and one column per example. Received: "
            f"{name}.shape={fmt_shape(shape)}"
        )


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
    """`[B]` or `[B, 1]` labels (already checked) as a `[B, 1]` tensor
    (tfa's reshape)."""
    return ops.reshape(ops.convert_to_tensor(labels), (-1, 1))


def off_diagonal(n):
    """Boolean `[n, n]` mask, True off the diagonal."""
    i = ops.arange(n)
    return ops.not_equal(ops.expand_dims(i, 1), ops.expand_dims(i, 0))


def _empty_reduction(x, axis, keepdims, initial):
    shape = list(x.shape)
    shape[axis] = 1
    if not keepdims:
        del shape[axis]
    return ops.full(shape, initial, dtype=x.dtype)


# `initial` lets an empty batch reduce (Keras' TF backend refuses to take
# the min / max of an empty tensor eagerly); it never changes a value.
# Keras' PyTorch backend returns a wrongly shaped (and typed) result for an
# empty tensor with `initial`, so that case is built here.
def reduce_min(x, axis, keepdims=False, initial=float("inf")):
    if keras.backend.backend() == "torch" and 0 in tuple(x.shape):
        return _empty_reduction(x, axis, keepdims, initial)
    return ops.min(x, axis=axis, keepdims=keepdims, initial=initial)


def reduce_max(x, axis, keepdims=False, initial=float("-inf")):
    if keras.backend.backend() == "torch" and 0 in tuple(x.shape):
        return _empty_reduction(x, axis, keepdims, initial)
    return ops.max(x, axis=axis, keepdims=keepdims, initial=initial)


def _min(x, axis):
    return reduce_min(x, axis, keepdims=True)


def _max(x, axis):
    return reduce_max(x, axis, keepdims=True)


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
    """Base class: tfa's `"auto"` reduction and tfa's result dtype.

    `reduction="auto"` (`tf.keras.losses.Reduction.AUTO`, which Keras 3
    rejects) maps to the class's tfa default.

    `dtype=None` (the default) keeps tfa's convention: the loss is computed
    in `keras.backend.floatx()` (float32; Keras 3's `Loss.__call__` casts
    the inputs to it) and the result is cast back to the float dtype of
    `y_pred` (float16, bfloat16, float32, float64), as tfa's classes under
    tf.keras 2 returned `y_pred`'s dtype. An explicit `dtype` (a dtype name
    or a `keras.DTypePolicy`) gives Keras 3's convention: the inputs are
    cast to its compute dtype and the result has that dtype.
    """

    _default_reduction = "none"

    def __init__(self, name=None, reduction=None, dtype=None):
        if reduction == "auto":
            reduction = self._default_reduction
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self._follow_input_dtype = dtype is None

    def __call__(self, y_true, y_pred, sample_weight=None):
        out_dtype = None
        if self._follow_input_dtype:
            y_pred = as_tensors(y_pred)
            out_dtype = float_dtype(y_pred)
        loss = super().__call__(y_true, y_pred, sample_weight=sample_weight)
        if out_dtype is not None and (
                keras.backend.standardize_dtype(loss.dtype) != out_dtype):
            loss = ops.cast(loss, out_dtype)
        return loss

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy; None keeps
        # tfa's result dtype (the dtype of y_pred).
        config["dtype"] = (None if self._follow_input_dtype
                           else self._dtype_policy.name)
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
    return reduce_min(ops.where(same, index, big), axis=1, initial=big)


class LabelLoss(InBatchAddonsLoss):
    """Base class of the in-batch losses whose `y_true` are class labels."""

    def _local_call(self, y_true, y_pred, sample_weight=None):
        # Re-coded after the gather: ids of first occurrences are only
        # comparable within one batch.
        y_true = ops.convert_to_tensor(y_true)
        # Checked before the re-coding flattens them.
        check_class_labels(y_true)
        if keras.backend.standardize_dtype(y_true.dtype).startswith(("int", "uint")):
            y_true = first_occurrence_ids(y_true)
        return super()._local_call(y_true, y_pred,
                                   sample_weight=sample_weight)
