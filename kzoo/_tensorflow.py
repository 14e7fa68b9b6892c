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
