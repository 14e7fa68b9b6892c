"""Barlow Twins' redundancy-reduction loss on the cross-correlation matrix."""

from keras import ops

from kzoo import ops as kops
from kzoo._api import kzoo_export
from kzoo._checks import check_number
from kzoo.losses._docs import shared_loss_args
from kzoo.losses._gather import GatheringLoss


def _check_pair(z1, z2):
    s1, s2 = tuple(z1.shape), tuple(z2.shape)
    if len(s1) != 2 or len(s2) != 2 or any(
        a is not None and b is not None and a != b for a, b in zip(s1, s2)
    ):
        raise ValueError(
            "`z1` and `z2` must be `[N, D]` embeddings of the same shape. "
            f"Received: z1.shape={s1}, z2.shape={s2}"
        )


@kzoo_export("kzoo.losses.standardize_over_batch")
def standardize_over_batch(z, epsilon=1e-5):
    """Each embedding dimension standardised over the batch, in float32.

    What Barlow Twins' official code does with a `BatchNorm1d(affine=False)`
    in training mode: subtract the batch mean and divide by the square root
    of the *biased* batch variance (divided by `N`, not `N - 1`) plus
    `epsilon`.

    Formula:

    ```python
    z_norm = (z - mean(z, 0)) / sqrt(mean((z - mean(z, 0)) ** 2, 0) + epsilon)
    ```

    A constant dimension (zero variance; every dimension when `N = 1`) maps
    to zeros, with finite gradients, as long as `epsilon > 0`.

    Args:
        z: `[N, D]` embeddings.
        epsilon: non-negative number added to the variance. Defaults to
            `1e-5` (BatchNormalization's).

    Returns:
        `[N, D]` float32 tensor.
    """
    epsilon = check_number("epsilon", epsilon)
    z = kops.as_float32(z)
    centered = z - ops.mean(z, axis=0, keepdims=True)
    variance = ops.mean(ops.square(centered), axis=0, keepdims=True)
    return centered * ops.rsqrt(variance + epsilon)


@kzoo_export("kzoo.losses.barlow_twins_loss")
def barlow_twins_loss(z1, z2, lambda_=0.0051, epsilon=1e-5):
    """Barlow Twins' loss of a batch of embedding pairs (one scalar).

    Each of the `D` dimensions of `z1` and `z2` is standardised over the
    batch of `N` pairs (`kzoo.losses.standardize_over_batch`: mean 0,
    biased variance 1, as the official code's
    `BatchNorm1d(affine=False)`), then the `D x D` cross-correlation matrix
    `c` between the two views is pushed to the identity: the diagonal term
    makes each dimension invariant to the augmentations, the off-diagonal
    term decorrelates the dimensions (redundancy reduction). Computed in
    float32 whatever the input dtype.

    The paper's pseudo-code standardises with PyTorch's `z.std(0)`, which
    is Bessel-corrected (divides by `N - 1`): its `c` is `(N - 1) / N`
    times this one (for `epsilon = 0`). This function follows the official
    implementation (biased variance plus BatchNorm's `epsilon`), which is
    also what makes degenerate batches (`N = 1`, constant dimensions)
    finite: their standardised values are 0 and the loss is `D` (every
    `c_ii = 0`), with finite gradients.

    Formula:

    ```python
    z1n, z2n = standardize_over_batch(z1), standardize_over_batch(z2)
    c = z1n.T @ z2n / N                                    # [D, D]
    loss = sum_i (1 - c_ii) ** 2 + lambda_ * sum_{i != j} c_ij ** 2
    ```

    Args:
        z1: `[N, D]` projections of the first views.
        z2: `[N, D]` projections of the second views (row `k` pairs with
            `z1[k]`).
        lambda_: non-negative weight of the off-diagonal (redundancy
            reduction) term. Defaults to `0.0051` (the paper's).
        epsilon: non-negative number added to each dimension's variance
            before the division; keep it positive for finite values on
            degenerate batches. Defaults to `1e-5` (BatchNormalization's).

    Returns:
        Scalar float32 loss of the whole batch (not per example).

    Example:

    >>> z = np.array([[1.0, 0.0], [-1.0, 0.0]], "float32")
    >>> # dimension 0 is +-1 after standardisation (c_00 = 1), dimension 1
    >>> # is constant (standardised to 0, c_11 = 0): loss = (1 - 0) ** 2
    >>> round(float(kzoo.losses.barlow_twins_loss(z, z)), 4)
    1.0

    Reference:
        - [Zbontar et al., 2021, "Barlow Twins: Self-Supervised Learning
          via Redundancy Reduction"](https://arxiv.org/abs/2103.03230),
          eq. (1), (2) and Algorithm 1.
    """
    lambda_ = check_number("lambda_", lambda_)
    epsilon = check_number("epsilon", epsilon)
    _check_pair(z1, z2)
    z1 = standardize_over_batch(z1, epsilon)
    z2 = standardize_over_batch(z2, epsilon)
    n = ops.cast(ops.shape(z1)[0], "float32")
    c = ops.matmul(ops.transpose(z1), z2) / n
    on_diagonal = ops.sum(ops.square(1.0 - ops.diagonal(c)))
    is_diagonal = ops.eye(ops.shape(c)[0], dtype="bool")
    off_diagonal = ops.sum(ops.square(ops.where(is_diagonal, 0.0, c)))
    return on_diagonal + lambda_ * off_diagonal


@kzoo_export("kzoo.losses.BarlowTwinsLoss")
@shared_loss_args
class BarlowTwinsLoss(GatheringLoss):
    """Barlow Twins' cross-correlation loss, as a Keras loss.

    `y_pred` is a dict `{"z1": [N, D], "z2": [N, D]}` of the two views'
    projections (as returned by `kzoo.models.BarlowTwins` when called on
    two views); `y_true` is ignored (pass `None`).

    The loss is a property of the whole batch, not a mean of per-example
    terms (`kzoo.losses.barlow_twins_loss`). So that the
    `keras.losses.Loss` base class can still reduce it (and scale it by
    `1 / num_replicas` under `tf.distribute`, each replica computing the
    loss of its local batch), `call` returns the batch loss repeated once
    per example, shape `[N]`: the default `"sum_over_batch_size"` reduction
    (and `"mean"`) return the batch loss itself, `"sum"` returns `N` times
    it and `"none"` the `[N]` copies. `sample_weight` has no meaning for a
    batch-level loss and is an error.

    Formula:

    ```python
    c = standardize(z1).T @ standardize(z2) / N
    loss = sum_i (1 - c_ii) ** 2 + lambda_ * sum_{i != j} c_ij ** 2
    ```

    Args:
        lambda_: non-negative weight of the off-diagonal term. Defaults to
            `0.0051` (the paper's).
        epsilon: non-negative number added to each dimension's batch
            variance. Defaults to `1e-5` (BatchNormalization's).
        {loss_args}

    Example:

    >>> z = np.array([[1.0, 2.0], [-1.0, 0.0]], "float32")
    >>> loss = kzoo.losses.BarlowTwinsLoss(lambda_=1.0)
    >>> # both dimensions standardise to (1, -1): c is all ones, so the
    >>> # diagonal term is 0 and the off-diagonal one 1 + 1
    >>> round(float(loss(None, {"z1": z, "z2": z})), 4)
    2.0

    Reference:
        - [Zbontar et al., 2021, "Barlow Twins"](
          https://arxiv.org/abs/2103.03230).
    """

    def __init__(
        self,
        lambda_=0.0051,
        epsilon=1e-5,
        reduction="sum_over_batch_size",
        name="barlow_twins_loss",
        dtype=None,
        gather_distributed=True,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gather_distributed=gather_distributed)
        self.lambda_ = check_number("lambda_", lambda_)
        self.epsilon = check_number("epsilon", epsilon)

    def _local_call(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            shape = getattr(sample_weight, "shape", None)
            raise ValueError(
                "`BarlowTwinsLoss` is a loss of the whole batch (its "
                "cross-correlation matrix) and does not support "
                "`sample_weight`. Received: sample_weight="
                f"{type(sample_weight).__name__} of shape {shape}"
            )
        if y_true is None:
            # Keras' base class would try to convert `None` to a tensor.
            y_true = ()
        return super()._local_call(y_true, y_pred)

    def call(self, y_true, y_pred):
        if not isinstance(y_pred, dict) or {"z1", "z2"} - set(y_pred):
            keys = sorted(y_pred) if isinstance(y_pred, dict) else None
            raise ValueError(
                "`y_pred` must be a dict with keys 'z1', 'z2'. "
                f"Received: y_pred keys={keys}"
            )
        z1, z2 = y_pred["z1"], y_pred["z2"]
        loss = barlow_twins_loss(
            z1, z2, lambda_=self.lambda_, epsilon=self.epsilon
        )
        # One copy per example: the base class's mean reduction returns
        # the batch loss.
        return ops.broadcast_to(loss, (ops.shape(z1)[0],))

    def get_config(self):
        config = super().get_config()
        # keras.losses.Loss.get_config() omits the dtype policy.
        config["dtype"] = self._dtype_policy.name
        config["lambda_"] = self.lambda_
        config["epsilon"] = self.epsilon
        return config
