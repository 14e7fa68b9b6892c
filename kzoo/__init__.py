"""kzoo: a Keras 3 / TensorFlow model zoo for metric learning,
self-supervised learning and YOLO-style detection.

Subpackages are imported lazily, so `import kzoo` is cheap and
`kzoo.losses`, `kzoo.models`, ... load TensorFlow only when first used.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "addons",
    "boxes",
    "data",
    "distribute",
    "eval",
    "export",
    "layers",
    "losses",
    "models",
    "ops",
    "runs",
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
