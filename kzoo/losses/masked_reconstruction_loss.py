"""Masked-autoencoder reconstruction loss: squared error on masked pixels."""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.losses._docs import shared_loss_args


def _check_shapes(y_true, y_pred):
    t, p = tuple(y_true.shape), tuple(y_pred.shape)
    ok = len(t) == len(p) and len(p) >= 2
    if ok:
        ok = all(a is None or b is None or a == b for a, b in zip(t[:-1], p[:-1]))
        ok = ok and (t[-1] is None or p[-1] is None or t[-1] == p[-1] + 1)
    if not ok:
        raise ValueError(
            "`y_true` must be `[B, H, W, C + 1]` (the target image, then the "
            "mask as last channel) for `y_pred` of shape `[B, H, W, C]`. "
            f"Received: y_true.shape={t}, y_pred.shape={p}"
        )


@kzoo_export("kzoo.losses.masked_reconstruction_loss")
def masked_reconstruction_loss(y_true, y_pred):
    """Per-example mean squared error over the masked pixels only.

    For masked-image modelling with a convolutional network (masked
    autoencoders, He et al., 2021, compute the loss on the masked patches
    only). `y_true` packs the clean target image and the mask: its first
    `C` channels are the target (e.g. in `[0, 1]`), its last channel is the
    binary mask, 1 where the pixel was masked in the network's input
    (values above 0.5 count as masked). Unmasked pixels contribute nothing:
    the loss and its gradient do not depend on `y_pred` there (the gradient
    is exactly 0). An example without masked pixels has loss 0 and zero
    gradient. Computed in float32 whatever the input dtype.

    Formula:

    ```python
    target, mask = y_true[..., :C], y_true[..., C:]      # mask: [B, H, W, 1]
    loss = sum(mask * (y_pred - target) ** 2, axis=(1, 2, 3))
           / max(C * sum(mask, axis=(1, 2, 3)), 1)
    ```

    Args:
        y_true: `[B, H, W, C + 1]`: target image channels, then the mask.
        y_pred: `[B, H, W, C]` reconstruction.

    Returns:
        Per-example loss, shape `[B]`, float32.

    Example:

    >>> target = np.zeros((1, 1, 2, 1), "float32")
    >>> mask = np.array([1.0, 0.0], "float32").reshape(1, 1, 2, 1)
    >>> y_pred = np.array([2.0, 5.0], "float32").reshape(1, 1, 2, 1)
    >>> # only the first pixel is masked: 2 ** 2 / 1
    >>> kzoo.losses.masked_reconstruction_loss(
    ...     np.concatenate([target, mask], -1), y_pred)
    array([4.], dtype=float32)

    Reference:
        - [He et al., 2021, "Masked Autoencoders Are Scalable Vision
          Learners"](https://arxiv.org/abs/2111.06377), section 3
          ("Reconstruction target").
    """
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    _check_shapes(y_true, y_pred)
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    channels = ops.shape(y_pred)[-1]
    target = y_true[..., :channels]
    masked = ops.greater(y_true[..., channels:], 0.5)  # [B, H, W, 1]
    # `where`, not a product: unmasked pixels get an exactly zero gradient
    # even where `y_pred` is not finite.
    error = ops.where(masked, y_pred - target, 0.0)
    axes = tuple(range(1, len(y_pred.shape)))
    squared = ops.sum(ops.square(error), axis=axes)
    count = ops.sum(ops.cast(masked, "float32"), axis=axes)
    count = count * ops.cast(channels, "float32")
    return squared / ops.maximum(count, 1.0)


@kzoo_export("kzoo.losses.MaskedReconstructionLoss")
@shared_loss_args
class MaskedReconstructionLoss(keras.losses.Loss):
    """Masked-autoencoder reconstruction loss, as a Keras loss.

    `y_true` is `[B, H, W, C + 1]`: the clean target image in its first `C`
    channels and the binary mask (1 = masked pixel) as its last channel;
    `y_pred` is the `[B, H, W, C]` reconstruction. Per example, the mean
    squared error over the masked pixels and all channels
    (`kzoo.losses.masked_reconstruction_loss`); an example without masked
    pixels contributes 0. Reduction and `sample_weight` (per example,
    `[B]`) are the `keras.losses.Loss` base class's: the default
    `"sum_over_batch_size"` reduction is the mean of the per-example losses.
    MAE's official code averages over all masked patches of the batch
    instead; the two agree when every example has the same number of
    masked pixels (a fixed masking ratio).

    Formula:

    ```python
    loss = mean_b(sum(mask_b * (y_pred_b - target_b) ** 2)
                  / max(C * sum(mask_b), 1))
    ```

    Args:
        {loss_args}

    Example:

    ```python
    # x: clean images in [0, 1]; mask: [B, H, W, 1], 1 on masked pixels
    model.compile(optimizer="adam", loss=kzoo.losses.MaskedReconstructionLoss())
    model.fit(x * (1 - mask), np.concatenate([x, mask], axis=-1))
    ```

    Reference:
        - [He et al., 2021, "Masked Autoencoders Are Scalable Vision
          Learners"](https://arxiv.org/abs/2111.06377).
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="masked_reconstruction_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return masked_reconstruction_loss(y_true, y_pred)

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        return config
