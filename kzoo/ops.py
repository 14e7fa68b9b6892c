"""Numerical building blocks shared by losses, layers and metrics (keras.ops)."""

import keras
from keras import ops


def as_float32(x):
    """`x` (a tensor, a numpy array, a Python number or list) as a float32
    tensor, on every backend.

    `keras.ops.cast(x, "float32")` does not do it on Keras' PyTorch backend
    for a numpy bfloat16 array (ml_dtypes): it is converted to a bfloat16
    tensor whatever dtype is asked for, and the computation that follows
    would run in bfloat16. Converting to a tensor first, then casting, gives
    float32 everywhere.
    """
    return ops.cast(ops.convert_to_tensor(x), "float32")


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """`x / max(||x||, sqrt(epsilon))` along `axis`, computed in float32.

    A zero vector maps to zero (not NaN), with finite gradients.

    Args:
        x: tensor.
        axis: axis to normalise. Defaults to `-1`.
        epsilon: lower bound of the squared norm. Defaults to `1e-12`.

    Returns:
        Float32 tensor of the shape of `x`.
    """
    x = as_float32(x)
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(sq, epsilon))


def pairwise_distance(x, y=None, squared=False):
    """Pairwise Euclidean distances between the rows of `x` (and `y`).

    Computed in float32 as `|a|^2 - 2 a.b + |b|^2`, clipped at 0. For
    `squared=False` the square root is taken with a safe gradient: where the
    squared distance is 0 (the diagonal, duplicated embeddings) the distance
    is exactly 0 and its gradient 0, never NaN (the derivative of `sqrt` at
    0 is infinite). With `y=None` the diagonal is exactly 0.

    Args:
        x: `[N, D]` embeddings.
        y: `[M, D]` embeddings; `None` means `x`. Defaults to `None`.
        squared: return squared distances. Defaults to `False`.

    Returns:
        `[N, M]` float32 distances.

    Example:

    >>> kzoo.ops.pairwise_distance(np.array([[0., 0.], [3., 4.]]))
    array([[0., 5.], [5., 0.]])
    """
    x = as_float32(x)
    same = y is None
    y = x if same else as_float32(y)
    x_sq = ops.sum(ops.square(x), axis=-1, keepdims=True)
    y_sq = ops.sum(ops.square(y), axis=-1, keepdims=True)
    d2 = x_sq - 2.0 * ops.matmul(x, ops.transpose(y)) + ops.transpose(y_sq)
    d2 = ops.maximum(d2, 0.0)
    if same:
        n = ops.shape(x)[0]
        d2 = d2 * (1.0 - ops.eye(n, dtype="float32"))
    if squared:
        return d2
    return safe_sqrt(d2)


def safe_sqrt(x):
    """`sqrt(x)` for `x >= 0` with a zero (not infinite/NaN) gradient at 0."""
    positive = ops.greater(x, 0.0)
    safe = ops.where(positive, x, ops.ones_like(x))
    return ops.where(positive, ops.sqrt(safe), ops.zeros_like(x))


def cosine_distance(x, y=None):
    """Pairwise cosine distance `1 - cos(x_i, y_j)`, in `[0, 2]`, float32."""
    xn = l2_normalize(x)
    yn = xn if y is None else l2_normalize(y)
    return 1.0 - ops.matmul(xn, ops.transpose(yn))


def searchsorted_rows(sorted_rows, values, side="left"):
    """Row-wise `searchsorted`: `out[i, j]` is the insertion index of
    `values[i, j]` in the ascending row `sorted_rows[i]`.

    `keras.ops.searchsorted` takes a 1-D sequence only; this is its batched
    form for `[R, N]` rows and `[R, M]` queries, on each backend's own
    kernel (`tf.searchsorted` and `torch.searchsorted` take rows natively,
    JAX maps `jnp.searchsorted` over them with `jax.vmap`).

    Args:
        sorted_rows: `[R, N]` tensor, each row sorted ascending.
        values: `[R, M]` queries, of the dtype of `sorted_rows`.
        side: `"left"` (first index where a value could go) or `"right"`
            (last one). Defaults to `"left"`.

    Returns:
        int32 `[R, M]` indices in `[0, N]`; NumPy's order on every
        backend: `-0.0 == 0.0`, infinities at their place, a NaN query
        after every number (`N` for a row without NaN).
    """
    if side not in ("left", "right"):
        raise ValueError(
            f"`side` must be 'left' or 'right'. Received: side={side!r}")
    sorted_rows = ops.convert_to_tensor(sorted_rows)
    values = ops.convert_to_tensor(values, dtype=sorted_rows.dtype)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        out = tf.searchsorted(sorted_rows, values, side=side,
                              out_type="int32")
        if side == "left" and values.dtype.is_floating:
            # A NaN query goes after every number, as in NumPy, JAX and
            # PyTorch (TensorFlow's lower bound puts it at 0).
            out = tf.where(tf.math.is_nan(values),
                           tf.shape(sorted_rows, out_type="int32")[-1], out)
        return out
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return jax.vmap(
            lambda row, v: jnp.searchsorted(row, v, side=side)
        )(sorted_rows, values).astype("int32")
    if backend == "torch":
        import torch

        return torch.searchsorted(
            sorted_rows.contiguous(), values.contiguous(),
            right=side == "right", out_int32=True)
    return ops.vectorized_map(  # any other backend
        lambda rv: ops.searchsorted(rv[0], rv[1], side=side),
        (sorted_rows, values))


def scale_for_replicas(value):
    """Divides a per-replica loss term by the number of replicas.

    Keras' convention under `tf.distribute`: each replica returns its local
    mean divided by the number of replicas, the gradients are summed across
    replicas, so the update is the one of the global-batch mean
    (`keras.losses.Loss.__call__` does the same for compiled losses).
    Identity outside a strategy and on other backends.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            value = value * (1.0 / replicas)
    return value


def add_regularization_losses(loss, losses):
    """`loss` plus each of `losses` (a model's `model.losses`), summed and
    scaled by `scale_for_replicas` like the loss, as Keras'
    `Model.compute_loss` adds them."""
    for extra in losses:
        loss = loss + scale_for_replicas(ops.sum(ops.cast(extra, loss.dtype)))
    return loss


def replicas_in_sync():
    """Replicas sharing the batch computed on here (1 off `tf.distribute`).

    `N` inside a replica context of a TensorFlow strategy with `N > 1`
    replicas (a `train_step` under `MirroredStrategy`); 1 everywhere else.
    On JAX, `keras.distribution.DataParallel` jit-compiles the step over
    the global batch sharded across the devices, and XLA's SPMD
    partitioner keeps each op's single-device meaning (it inserts the
    all-gathers / all-reduces): in-batch losses and batch-norm statistics
    already see the global batch (tests/test_distribute_jax.py). That does
    not hold for code that runs per device (`jax.shard_map`, `jax.pmap`),
    which sees only its shard and is not gathered. PyTorch has no
    multi-device Keras distribution: one process sees its whole batch.
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    from kzoo._replicas import tensorflow_replicas_in_sync

    return tensorflow_replicas_in_sync()


def gather_replicas(x):
    """The global batch of `x`, every replica's rows in replica order, with
    gradients routed back to the replica that produced each row
    (`kzoo.distribute.gather_replicas`); `x` when `replicas_in_sync()` is
    1, which includes JAX's `DataParallel`, whose jit-compiled step holds
    the global batch already."""
    if replicas_in_sync() == 1:
        return x
    from kzoo import distribute

    return distribute.gather_replicas(x)


def local_rows(x, rows):
    """This replica's `rows` rows of a `gather_replicas` result (`x` when
    `replicas_in_sync()` is 1, e.g. under JAX's `DataParallel`, where `x`
    is the global batch and the rows stay sharded across the devices)."""
    if replicas_in_sync() == 1:
        return x
    from kzoo import distribute

    return distribute.local_rows(x, rows)
