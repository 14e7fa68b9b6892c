"""Contrastive loss, compatible with `tfa.losses.contrastive` (tensorflow-addons 0.23)."""

from keras import ops

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.addons.losses import _common


def _same_rank(y_true, y_pred):
    """Align `[B]` with `[B, 1]` (as Keras' own function losses do) instead
    of broadcasting them to `[B, B]`."""
    t, p = len(y_true.shape), len(y_pred.shape)
    if t == p + 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    elif p == t + 1 and y_pred.shape[-1] == 1:
        y_pred = ops.squeeze(y_pred, -1)
    return y_true, y_pred


def _check_shapes(y_true, y_pred):
    """After `_same_rank`: the labels and distances must have one shape (tfa
    is elementwise); a clear error instead of a backend broadcast error,
    typically for `[B, D]` embeddings passed as `y_pred`."""
    t, p = _common.static_shape(y_true), _common.static_shape(y_pred)
    if t is None or p is None:
        return
    if len(t) == len(p) and all(
            a is None or b is None or a == b for a, b in zip(t, p)):
        return
    if len(p) == 1 or (len(p) == 2 and p[1] == 1):
        raise ValueError(
            "`y_true` must have the shape of `y_pred`, `[B]` or `[B, 1]`: "
            "one binary pair label (1 = similar) per distance "
            f"(y_pred.shape={_common.fmt_shape(p)}). "
            f"Received: y_true.shape={_common.fmt_shape(t)}"
        )
    raise ValueError(
        "`y_pred` must have shape `[B]` or `[B, 1]`: the pair distances "
        "(e.g. `norm(a - b, axis=1)` of the two `[B, D]` embeddings), not "
        "embeddings, one per label of `y_true` "
        f"(y_true.shape={_common.fmt_shape(t)}). "
        f"Received: y_pred.shape={_common.fmt_shape(p)}"
    )


@kzoo_export("kzoo.addons.losses.contrastive_loss", serializable=True)
def contrastive_loss(y_true, y_pred, margin=1.0):
    """Contrastive loss of pair distances, per pair, as `tfa.losses`.

    tfa's label convention: `y_true = 1` marks a *similar* pair (pulled
    together), `y_true = 0` a dissimilar one (pushed beyond `margin`).
    `y_pred` are distances (e.g. `norm(a - b, axis=1)`), not similarities.

    Formula:

    ```python
    loss = y_true * y_pred**2 + (1 - y_true) * max(margin - y_pred, 0)**2
    ```

    Unlike tfa, `y_true` `[B]` and `y_pred` `[B, 1]` (or the reverse) are
    aligned instead of broadcast to `[B, B]`, and other shape mismatches
    (e.g. `[B, D]` embeddings passed as `y_pred`) raise a `ValueError`
    instead of broadcasting or failing inside the backend.

    Returned in the dtype of `y_pred`, as tfa. Computed in float32 (float64
    stays float64); tfa computed float16 / bfloat16 inputs in that dtype,
    kzoo in float32 (the results agree to that dtype's precision).

    Args:
        y_true: binary pair labels, 1 = similar, 0 = dissimilar.
        y_pred: float pair distances `[B]` or `[B, 1]` (in general: the
            shape of `y_true`).
        margin: margin term. Defaults to `1.0`.

    Returns:
        Per-pair loss, the shape of `y_pred`.

    Reference:
        - [Hadsell et al., 2006](http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf).
    """
    y_pred = ops.convert_to_tensor(y_pred)
    out_dtype = _common.output_dtype(y_pred)
    dtype = _common.compute_dtype(y_pred)
    d = ops.cast(y_pred, dtype)
    y = ops.cast(ops.convert_to_tensor(y_true), dtype)
    y, d = _same_rank(y, d)
    _check_shapes(y, d)
    margin = ops.cast(margin, dtype)
    loss = y * ops.square(d) + (1.0 - y) * ops.square(ops.maximum(margin - d, 0.0))
    return ops.cast(loss, out_dtype)


@kzoo_export("kzoo.addons.losses.ContrastiveLoss")
@fill_doc(dtype_arg=_common.DTYPE_ARG)
class ContrastiveLoss(_common.AddonsLoss):
    """Contrastive loss (`tfa.losses` drop-in).

    `y_true`: binary pair labels, **1 = similar pair**, 0 = dissimilar (tfa's
    convention); `y_pred`: pair distances `[B]` or `[B, 1]`. Per-pair loss
    `y * d**2 + (1 - y) * max(margin - d, 0)**2`, reduced by the Keras base
    class (with `sample_weight`), `"sum_over_batch_size"` by default as in
    tfa.

    Args:
        margin: margin term. Defaults to `1.0`.
        reduction: `"sum_over_batch_size"`, `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"`/`None`, or tfa's `"auto"`
            (= `"sum_over_batch_size"`). `tf.keras.losses.Reduction.*`
            values work. Defaults to `"sum_over_batch_size"`.
        name: name of the loss. Defaults to `"contrastive_loss"`.
        {dtype_arg}
    """

    _default_reduction = "sum_over_batch_size"

    def __init__(
        self,
        margin=1.0,
        reduction="sum_over_batch_size",
        name="contrastive_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = margin

    def call(self, y_true, y_pred):
        return contrastive_loss(y_true, y_pred, margin=self.margin)

    def get_config(self):
        config = super().get_config()
        config["margin"] = _common.config_number(self.margin)
        return config
