"""Backend-neutral helpers for the kzoo.addons tests (TensorFlow, JAX and
PyTorch backends), bfloat16 included (numpy has no bfloat16 of its own, so
values come back as float32 numpy)."""

import keras
import numpy as np

BACKEND = keras.backend.backend()


def dtype_of(x):
    """The standardised dtype name of a tensor (`"float16"`, ...)."""
    return keras.backend.standardize_dtype(x.dtype)


def as_dtype(x, dtype):
    """`x` as an input of `dtype`: a numpy array where numpy has the dtype
    (float16 / float32 / float64: what a user passes), else a backend
    tensor (bfloat16)."""
    if dtype == "bfloat16":
        return keras.ops.cast(np.asarray(x, "float32"), dtype)
    return np.asarray(x, dtype)


def backend_dtype(dtype):
    """The dtype the backend gives an input of `dtype` (JAX without x64
    turns float64 into float32)."""
    return dtype_of(keras.ops.convert_to_tensor(np.zeros((1,), dtype)))


def f32(x):
    """A tensor (any float dtype, bfloat16 included) as float32 numpy."""
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")))


def value_and_grad(fn, x, dtype="float32"):
    """`(value, grad)` of the scalar `fn(e)` at `e = x` cast to `dtype`,
    differentiated at that dtype on the current backend; both come back as
    float32 numpy (grad None if `fn` does not depend on `e`), with the
    dtypes `(value_dtype, grad_dtype)` as a third element."""
    x = np.asarray(x, "float32")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        e = tf.cast(tf.constant(x), dtype)
        with tf.GradientTape() as tape:
            tape.watch(e)
            value = fn(e)
        grad = tape.gradient(value, e)
    elif BACKEND == "jax":
        import jax

        e = jax.numpy.asarray(x).astype(dtype)
        value, grad = jax.value_and_grad(fn)(e)
    elif BACKEND == "torch":
        import torch

        e = torch.tensor(x).to(getattr(torch, dtype)).requires_grad_()
        value = fn(e)
        grad = None
        if value.requires_grad:
            (grad,) = torch.autograd.grad(value, [e], allow_unused=True)
        value = value.detach()
    else:
        raise NotImplementedError(BACKEND)
    dtypes = (dtype_of(value), None if grad is None else dtype_of(grad))
    return f32(value), None if grad is None else f32(grad), dtypes
