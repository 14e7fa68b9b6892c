"""Backend-neutral test helpers: the same test runs under Keras'
TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND`)."""

import warnings

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
    `fn` returns a scalar tensor and `args` are arrays (numpy, ml_dtypes
    bfloat16 included, or backend), differentiated at their dtype.
    Gradients come back as numpy. An argument `fn` does not depend on
    (one reached only through `stop_gradient`) gets `None` on TensorFlow
    and PyTorch, an all-zero gradient on JAX (which has no `None`)."""
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
        # `convert_to_tensor`, not `torch.tensor`: numpy (ml_dtypes)
        # bfloat16 arrays are converted too.
        xs = [keras.ops.convert_to_tensor(a).detach().clone()
              .requires_grad_(True) for a in args]
        value = fn(*xs)
        if value.requires_grad:
            grads = _torch_grad(value, xs)
        else:  # `fn` does not depend on any argument
            grads = [None] * len(xs)
        value = value.detach()
    else:
        raise NotImplementedError(BACKEND)
    grads = [None if g is None else to_numpy(g) for g in grads]
    return to_numpy(value), grads


def _torch_grad(value, xs):
    import torch

    return torch.autograd.grad(value, xs, allow_unused=True)


def as_dtype(x, dtype):
    """`x` as a numpy array of `dtype`, bfloat16 included (ml_dtypes' numpy
    bfloat16, which every backend converts): what a user would feed."""
    if dtype == "bfloat16":
        import ml_dtypes

        return np.asarray(x, "float32").astype(ml_dtypes.bfloat16)
    return np.asarray(x, dtype)


def f32(x):
    """A tensor or array (any float dtype, bfloat16 included) as float32
    numpy."""
    return np.asarray(to_numpy(x), "float32")


def compiled(fn):
    """`fn` compiled the way Keras compiles a step on this backend: a
    TensorFlow graph (`tf.function`), `jax.jit`, and on PyTorch a whole
    graph captured by TorchDynamo (`torch.compile(fullgraph=True)`, run by
    the `aot_eager` backend: the captured graph, no code generation), fed
    torch tensors as Keras' trainer feeds its compiled step."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "torch":
        import torch

        graph = torch.compile(fn, backend="aot_eager", fullgraph=True)

        def call(*args):
            args = keras.tree.map_structure(keras.ops.convert_to_tensor, args)
            with warnings.catch_warnings():
                # Dynamo traces through Keras' lru_cache'd dtype helpers.
                warnings.filterwarnings(
                    "ignore", message=".*functools.lru_cache", category=UserWarning)
                return graph(*args)

        return call
    raise NotImplementedError(BACKEND)


def max_tensor_size(fn, *args):
    """The largest number of elements of any tensor computed for `fn(*args)`
    and its gradient with respect to `args` (as in `value_and_grad`).

    TensorFlow: the outputs of every op of the `tf.function` graph of the
    step (shapes of `args`, fixed); JAX: every variable of the jaxpr of
    `jax.value_and_grad`, nested jaxprs included; PyTorch: every tensor an
    aten op returns while the value and the gradient are computed (a
    dispatch mode that sees the backward pass too).
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def step(*xs):
            with tf.GradientTape() as tape:
                for x in xs:
                    tape.watch(x)
                value = fn(*xs)
            return value, tape.gradient(value, list(xs))

        specs = [tf.TensorSpec(np.shape(a), keras.backend.standardize_dtype(
            np.asarray(a).dtype)) for a in args]
        graph = tf.function(step).get_concrete_function(*specs).graph
        return max(t.shape.num_elements() or 0
                   for op in graph.get_operations() for t in op.outputs)
    if BACKEND == "jax":
        import jax

        jaxpr = jax.make_jaxpr(jax.value_and_grad(
            fn, argnums=tuple(range(len(args)))))(*args).jaxpr
        return _max_jaxpr_size(jaxpr)
    if BACKEND == "torch":
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        sizes = [0]

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in keras.tree.flatten(out):
                    if isinstance(t, torch.Tensor):
                        sizes.append(t.numel())
                return out

        xs = [keras.ops.convert_to_tensor(a).detach().clone()
              .requires_grad_(True) for a in args]
        with Record():
            value = fn(*xs)
            _torch_grad(value, xs)
        return max(sizes)
    raise NotImplementedError(BACKEND)


def _max_jaxpr_size(jaxpr):
    import jax
    import jax.extend  # noqa: F401  (jax.extend.core)

    size = 0
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            shape = getattr(v.aval, "shape", ())
            size = max(size, int(np.prod(shape, dtype=np.int64)))
        for param in eqn.params.values():
            for p in param if isinstance(param, (list, tuple)) else [param]:
                if isinstance(p, jax.extend.core.ClosedJaxpr):
                    p = p.jaxpr
                if isinstance(p, jax.extend.core.Jaxpr):
                    size = max(size, _max_jaxpr_size(p))
    return size


def assert_computed_in_float32(fn, *arrays, dtype):
    """`fn` of `arrays` given as `dtype` (`"float16"`, `"bfloat16"`: numpy
    arrays, as a user passes them) returns what `fn` returns for the same
    values given as float32: dtypes (float32 for the float results) and
    values. What "computed in float32 whatever the input dtype" means."""
    low = [as_dtype(a, dtype) for a in arrays]
    got = keras.tree.flatten(fn(*low))
    want = keras.tree.flatten(fn(*[np.asarray(a, "float32") for a in low]))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert dtype_of(g) == dtype_of(w)
        if "float" in dtype_of(w):
            assert dtype_of(w) == "float32"
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), rtol=1e-6)


def assert_finite(value, grads):
    """A loss value and its gradients are finite (no gradient missing)."""
    assert np.isfinite(float(f32(value)))
    for g in grads:
        assert g is not None and np.all(np.isfinite(f32(g)))


def assert_loss_survives_save(model, loss, x, y, batch_size, path):
    """A model compiled with `loss` saved to `path` and loaded back keeps
    the loss's config and evaluates to the same value."""
    import keras
    import pytest

    model.compile(optimizer="sgd", loss=loss)
    before = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == loss.get_config()
    assert loaded.evaluate(x, y, batch_size=batch_size, verbose=0) == \
        pytest.approx(before, rel=1e-6)
