"""Backend-neutral test helpers: the same test runs under Keras'
TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND`)."""

import keras
import numpy as np

BACKEND = keras.backend.backend()


def to_numpy(x):
    """A backend tensor (or nest of them) as numpy."""
    return keras.tree.map_structure(
        lambda t: np.asarray(keras.ops.convert_to_numpy(t)), x)


def dtype_of(x):
    """The standardised dtype name of a tensor (`"float32"`, ...)."""
    return keras.backend.standardize_dtype(x.dtype)


def value_and_grad(fn, *args):
    """`(fn(*args), [d fn / d arg for arg in args])` on the current backend;
    `fn` returns a scalar tensor and `args` are arrays (numpy or backend),
    differentiated at their dtype. Gradients come back as numpy."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xs = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            value = fn(*xs)
        grads = tape.gradient(value, xs)
    elif BACKEND == "jax":
        import jax

        xs = [jax.numpy.asarray(a) for a in args]
        value, grads = jax.value_and_grad(
            lambda *v: fn(*v), argnums=tuple(range(len(xs))))(*xs)
    elif BACKEND == "torch":
        import torch

        xs = [torch.tensor(np.asarray(keras.ops.convert_to_numpy(a)),
                           requires_grad=True) for a in args]
        value = fn(*xs)
        grads = torch.autograd.grad(value, xs, allow_unused=True)
        value = value.detach()
    else:
        raise NotImplementedError(BACKEND)
    grads = [None if g is None else to_numpy(g) for g in grads]
    return to_numpy(value), grads
