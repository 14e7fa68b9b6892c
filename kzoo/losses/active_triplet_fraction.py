"""Fraction of active triplets in a batch, as a Keras metric."""

import keras

from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses.mining import check_distance
from kzoo.losses.triplet_loss import batch_all_triplet_loss


@kzoo_export("kzoo.losses.ActiveTripletFraction")
class ActiveTripletFraction(keras.metrics.Mean):
    """Fraction of the batch's valid triplets with a positive triplet loss.

    The batch-all statistic of Hermans et al. (2017), reported during
    `model.fit` next to `kzoo.losses.TripletLoss(mining="all")` (which
    averages over exactly these active triplets): compile with
    `metrics=[kzoo.losses.ActiveTripletFraction(margin, distance)]` using
    the loss's `margin` and `distance`. Each batch's fraction is
    recomputed from `(y_true, y_pred)` = (`[B]` integer labels, `[B, D]`
    embeddings) with `kzoo.losses.batch_all_triplet_loss`; the metric is the
    mean of the per-batch fractions since the last reset (each batch counts
    once; `sample_weight` is ignored). A batch without a valid triplet
    counts as 0. A fraction falling towards 0 during training means the
    margin is satisfied almost everywhere (the batch-all loss then averages
    over few triplets).

    Formula:

    ```python
    fraction = count(0.5 * max(0, margin + d[a, p] - d[a, n]) > 0)
               / count(valid triplets (a, p, n))
    ```

    Args:
        margin: non-negative margin. Defaults to `1.0`.
        distance: `"squared_l2"`, `"l2"` or `"cosine"`. Defaults to
            `"squared_l2"`.
        name: name of the metric. Defaults to `"active_triplet_fraction"`.
        dtype: dtype of the metric's result. Defaults to `None`.

    Example:

    ```python
    model.compile(
        optimizer="adam",
        loss=kzoo.losses.TripletLoss(margin=0.5, mining="all"),
        metrics=[kzoo.losses.ActiveTripletFraction(margin=0.5)],
    )
    ```

    Reference:
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737).
    """

    def __init__(self, margin=1.0, distance="squared_l2",
                 name="active_triplet_fraction", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.margin = check_number("margin", margin)
        check_distance(distance)
        self.distance = distance

    def update_state(self, y_true, y_pred, sample_weight=None):
        _, fraction = batch_all_triplet_loss(
            y_true, y_pred, margin=self.margin, distance=self.distance
        )
        return super().update_state(fraction)

    def get_config(self):
        config = super().get_config()
        config.update({"margin": self.margin, "distance": self.distance})
        return config
