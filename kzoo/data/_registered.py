"""Imports the modules defining `kzoo.data`'s classes, so that the
serialisable ones register with Keras (private; `import kzoo` does it under
the TensorFlow backend, where TensorFlow is loaded already). The list is
generated from the `kzoo_export` declarations (`kzoo.data._CLASS_MODULES`).
"""

import importlib

from kzoo.data import _CLASS_MODULES

for _module in _CLASS_MODULES:
    importlib.import_module(_module)
