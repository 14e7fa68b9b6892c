"""Contrastive loss, compatible with `tfa.losses.contrastive` (tensorflow-addons 0.23)."""

import keras
from keras import ops

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


@keras.saving.register_keras_serializable(package="kzoo.addons")
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
    aligned instead of broadcast to `[B, B]`. Computed in float32 (float64
    stays float64) and returned in the dtype of `y_pred`.

    Args:
        y_true: binary pair labels, 1 = similar, 0 = dissimilar.
        y_pred: float pair distances, same shape as `y_true`.
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
    margin = ops.cast(margin, dtype)
    loss = y * ops.square(d) + (1.0 - y) * ops.square(ops.maximum(margin - d, 0.0))
    return ops.cast(loss, out_dtype)


@keras.saving.register_keras_serializable(package="kzoo.addons")
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
        dtype: dtype of the loss's computations. Defaults to `None`
            (floatx).
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
