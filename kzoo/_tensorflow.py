"""The one check for TensorFlow, used by kzoo's TensorFlow-only parts
(`kzoo.data`, `kzoo.export`, `kzoo.distribute`, TensorFlow-side recipes)."""

import importlib.util


def require_tensorflow(what):
    """Raises a clear `ImportError` when TensorFlow is not installed.

    Args:
        what: the kzoo feature that needs it, named in the message.
    """
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            f"{what} needs TensorFlow (tf.data, SavedModel, tf.distribute), "
            "which is not installed: `pip install tensorflow`. kzoo's "
            "losses, layers, models, metrics, `kzoo.ops`, `kzoo.boxes` and "
            "`kzoo.addons` run without it on Keras' JAX and PyTorch "
            "backends; feed them numpy arrays or a `keras.utils.PyDataset` "
            "(`kzoo.arrays`)."
        )


def require_tensorflow_backend(what):
    """Raises a clear `RuntimeError` unless Keras runs on TensorFlow.

    Writing a SavedModel traces the Keras model into a TensorFlow graph,
    which only Keras' TensorFlow backend can do.

    Args:
        what: the kzoo function that needs it, named in the message.
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{what} writes a SavedModel, which needs Keras' TensorFlow "
            f"backend (this process: {backend}). Save the model "
            "(`model.save('model.keras')`) and export it from a process "
            "with KERAS_BACKEND=tensorflow, e.g. `KERAS_BACKEND=tensorflow "
            "python -m kzoo.export embedding model.keras` for an image "
            "embedding model, or `python -m kzoo.export spec "
            "NAME.export.json` for the spec `kzoo.runs.Run.export_model` "
            "writes beside the model (any kind)."
        )


def import_keras_quietly():
    """Imports Keras (TensorFlow, on its backend) without TensorFlow's C++
    start-up lines.

    TensorFlow's native libraries print absl's "All log messages before
    absl::InitializeLog() is called are written to STDERR", oneDNN notices
    and, on a machine without a GPU, the failed CUDA probe straight to file
    descriptor 2 when they load and when the devices start, whatever
    `TF_CPP_MIN_LOG_LEVEL` says. Unless `TF_CPP_MIN_LOG_LEVEL` is set below
    2 (the user asked for TensorFlow's logs) or TensorFlow is already
    imported, descriptor 2 points at /dev/null for the import, and
    `TF_CPP_MIN_LOG_LEVEL` defaults to 2 for the rest of the process
    (TensorFlow's INFO and WARNING lines off). The devices are not started
    here (logical devices stay configurable: `--cpu-replicas`), so the
    CUDA probe of a CPU machine can still print when the first op runs.
    Python-level errors are raised as usual once descriptor 2 is back.
    """
    import os
    import sys

    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    quiet = ("tensorflow" not in sys.modules
             and (level is None or (level.isdigit() and int(level) >= 2)))
    if not quiet:
        import keras

        return keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras
