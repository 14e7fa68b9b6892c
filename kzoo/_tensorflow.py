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
