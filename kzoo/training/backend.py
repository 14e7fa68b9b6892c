"""Which Keras backend a run is on, its precision policy, TensorFlow's logs.

The bottom of `kzoo.training`: the standard library only at import (Keras is
imported inside the functions that need it).
"""

import os


def keras_backend():
    """The name of Keras' backend (`"tensorflow"`, `"jax"` or `"torch"`)."""
    import keras

    return keras.backend.backend()


def on_tensorflow():
    """Whether Keras runs on TensorFlow (`tf.distribute`, `tf.data`,
    SavedModel export), the recipes' original path."""
    return keras_backend() == "tensorflow"


def quiet_tensorflow():
    """Silences TensorFlow's C++ INFO/WARNING logs (call before importing it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


PRECISIONS = ("float32", "bfloat16")


_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def set_precision(args):
    """Sets Keras' global dtype policy from `--mixed-precision`.

    `float32` -> `"float32"`, `bfloat16` -> `"mixed_bfloat16"` (layers
    compute in bfloat16, their weights stay float32). Called by
    `resolve_strategy`, so before any model is built; a namespace without
    the flag keeps the policy as it is.
    """
    precision = getattr(args, "mixed_precision", None)
    if precision is None:
        return
    import keras

    keras.mixed_precision.set_global_policy(_POLICIES[precision])


def check_backend(args):
    """Stops with a message when `--backend` is not the running backend."""
    wanted = getattr(args, "backend", None)
    if wanted and wanted != keras_backend():
        raise SystemExit(
            f"error: --backend {wanted}, but Keras was imported with the "
            f"{keras_backend()} backend before the flags were read. Set "
            f"KERAS_BACKEND={wanted} instead (this recipe does not apply "
            "--backend before importing Keras).")
