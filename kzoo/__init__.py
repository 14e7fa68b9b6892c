"""kzoo: a Keras 3 model zoo for metric learning, self-supervised learning
and YOLO-style detection.

`import kzoo` registers every serialisable kzoo class with Keras (losses,
layers, models, metrics, `kzoo.addons`), so `keras.models.load_model` finds
them in a fresh process, on every backend. Those modules use `keras.ops`
only: under Keras' JAX or PyTorch backend nothing here imports TensorFlow.
The TensorFlow-only parts (`kzoo.data`, `kzoo.export`, `kzoo.distribute`)
load on first use; under the TensorFlow backend, `import kzoo` also
registers `kzoo.data`'s serialisable pipeline objects.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "addons",
    "arrays",
    "boxes",
    "data",
    "distribute",
    "eval",
    "export",
    "layers",
    "losses",
    "models",
    "ops",
    "presets",
    "runs",
    "search",
)

__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"kzoo.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


def _register_serializables():
    """Imports the modules that define registered classes (~0.1 s on top of
    `import keras`, which they need anyway). Keras is imported without
    TensorFlow's C++ start-up lines (`kzoo._tensorflow.
    import_keras_quietly`; `TF_CPP_MIN_LOG_LEVEL=0` shows them)."""
    from kzoo._tensorflow import import_keras_quietly

    keras = import_keras_quietly()

    for name in ("losses", "layers", "models", "eval", "addons"):
        importlib.import_module(f"kzoo.{name}")
    if keras.backend.backend() == "tensorflow":
        from kzoo.data import _registered  # noqa: F401  (TensorFlow loaded)


_register_serializables()

