"""Pairwise contrastive loss on siamese pair distances."""

import keras
from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args


def _as_vector(x, name):
    x = kops.as_float32(x)
    if len(x.shape) == 2 and x.shape[-1] == 1:
        x = ops.squeeze(x, axis=-1)
    if len(x.shape) != 1:
        raise ValueError(
            f"`{name}` must have shape `[B]` or `[B, 1]`. "
            f"Received: {name}.shape={tuple(x.shape)}"
        )
    return x


@kzoo_export("kzoo.losses.contrastive_loss")
def contrastive_loss(y_true, y_pred, margin=1.0, squared_margin=True):
    """Pairwise contrastive loss, per pair.

    `y_true = 0` marks a *similar* pair and `y_true = 1` a *dissimilar* one
    (the convention of keras-io's Keras 3 `siamese_contrastive` example; the
    opposite of tensorflow-addons' `contrastive_loss`). `y_pred` is the pair
    distance `d` (e.g. from `kzoo.layers.Distance`), not a similarity.

    Formula:

    ```python
    # squared_margin=True (the course's form)
    loss = 0.5 * (1 - y) * d**2 + 0.5 * y * max(0, margin - d**2)
    # squared_margin=False (Hadsell et al., 2006)
    loss = 0.5 * (1 - y) * d**2 + 0.5 * y * max(0, margin - d)**2
    ```

    Computed in float32 whatever the input dtype. Fractional `y_true` (soft
    labels) interpolate between the two terms.

    Args:
        y_true: `[B]` or `[B, 1]` pair labels, 0 similar, 1 dissimilar.
        y_pred: `[B]` or `[B, 1]` pair distances.
        margin: the margin `m` (on `d**2` when `squared_margin=True`, on `d`
            otherwise). Defaults to `1.0`.
        squared_margin: compare `d**2` (rather than `d`) to the margin.
            Defaults to `True`.

    Returns:
        Per-pair loss, shape `[B]`, float32.

    Reference:
        - [Hadsell, Chopra & LeCun, 2006](
          http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf).
    """
    y = _as_vector(y_true, "y_true")
    d = _as_vector(y_pred, "y_pred")
    d2 = ops.square(d)
    if squared_margin:
        push = ops.relu(margin - d2)
    else:
        push = ops.square(ops.relu(margin - d))
    return 0.5 * (1.0 - y) * d2 + 0.5 * y * push


@kzoo_export("kzoo.losses.ContrastiveLoss")
@shared_loss_args
class ContrastiveLoss(keras.losses.Loss):
    """Pairwise contrastive loss on siamese pair distances, as a Keras loss.

    `y_true`: `[B]` or `[B, 1]` pair labels, **0 for a similar pair, 1 for a
    dissimilar pair** (keras-io's `siamese_contrastive` convention).
    `y_pred`: `[B]` or `[B, 1]` pair distances `d`, e.g. the output of
    `kzoo.models.siamese_network` (`kzoo.layers.Distance`). Similar pairs are
    pulled together by `d**2`; dissimilar pairs are pushed until `d**2`
    (`squared_margin=True`, the course's form) or `d` (`False`, Hadsell et
    al.'s form) exceeds the margin. The loss is per pair, so reduction,
    `sample_weight` (shape `[B]`) and `tf.distribute` scaling are the
    `keras.losses.Loss` base class's: the default reduction is the mean over
    the pairs of `kzoo.losses.contrastive_loss`.

    Formula:

    ```python
    loss = 0.5 * (1 - y) * d**2 + 0.5 * y * max(0, margin - d**2)  # squared_margin
    loss = 0.5 * (1 - y) * d**2 + 0.5 * y * max(0, margin - d)**2  # otherwise
    ```

    Args:
        margin: non-negative margin. Defaults to `1.0`.
        squared_margin: whether the margin bounds `d**2` (`True`) or `d`
            (`False`). Defaults to `True`.
        {loss_args}

    Example:

    >>> loss = kzoo.losses.ContrastiveLoss(margin=1.0)
    >>> # similar pair at d = 0.5: 0.5 * 0.25; dissimilar pair at d = 0.5:
    >>> # 0.5 * (1 - 0.25)
    >>> float(loss(np.array([0.0, 1.0]), np.array([0.5, 0.5])))
    0.25

    Reference:
        - [Hadsell, Chopra & LeCun, 2006](
          http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf).
        - [keras-io, "Image similarity estimation using a Siamese Network
          with a contrastive loss"](
          https://keras.io/examples/vision/siamese_contrastive/).
    """

    def __init__(
        self,
        margin=1.0,
        squared_margin=True,
        reduction="sum_over_batch_size",
        name="contrastive_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = check_number("margin", margin)
        if not isinstance(squared_margin, bool):
            raise ValueError(
                "`squared_margin` must be a bool. "
                f"Received: squared_margin={squared_margin!r}"
            )
        self.squared_margin = squared_margin

    def call(self, y_true, y_pred):
        return contrastive_loss(
            y_true, y_pred, margin=self.margin,
            squared_margin=self.squared_margin,
        )

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        config.update(
            {"margin": self.margin, "squared_margin": self.squared_margin}
        )
        return config
