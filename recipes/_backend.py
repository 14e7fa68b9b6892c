"""`--backend NAME` -> `KERAS_BACKEND`, before anything imports Keras.

Keras reads `KERAS_BACKEND` once, when it is first imported, and
`import kzoo` imports it; so a recipe that runs on several backends calls
`from_argv()` before `from kzoo import runs`. This module imports only the
standard library (not kzoo: that would import Keras). The flag itself is
declared, documented and checked by `kzoo.runs.add_common_args`.

Importing it puts the repository root on `sys.path` (a recipe run as
`python recipes/NAME.py` has only recipes/ there). It also keeps a
recipe's first lines kzoo's own: TensorFlow's C++
start-up notices (absl's pre-init banner, oneDNN's notice, the CUDA
probes of a machine without a GPU) are filtered out of the process's
stderr while TensorFlow is imported and lists its devices, and Keras'
"`shuffle=True` ... will be ignored" warning for `tf.data` input (which
kzoo's pipelines shuffle themselves) is silenced. Everything else written
to stderr then, warnings and errors included, is passed on;
`KZOO_TF_LOGS=1` passes on everything.
"""

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings

BACKENDS = ("tensorflow", "jax", "torch")  # kzoo.runs.BACKENDS

# `python recipes/NAME.py` puts recipes/ on sys.path; kzoo is one level up.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)


def from_argv(argv=None):
    """Sets `KERAS_BACKEND` from a `--backend NAME` in `argv`.

    An unknown name is left for the recipe's own parser to reject.

    Args:
        argv: the arguments. Defaults to `None` (`sys.argv[1:]`).

    Returns:
        The backend named, or `None` when `argv` names none.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--backend")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    backend = known.backend if known.backend in BACKENDS else None
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    warnings.filterwarnings("ignore", message=SHUFFLE_WARNING,
                            category=UserWarning)
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        quiet_tensorflow_startup()
    return backend


# Keras warns on every `fit` with a `tf.data.Dataset` and the default
# `shuffle=True`; kzoo's pipelines shuffle (seeded) themselves.
SHUFFLE_WARNING = r"`shuffle=True` was passed, but will be ignored"

# TensorFlow's start-up notices, as substrings of their lines. The CUDA
# ones are noise only on a machine without an NVIDIA driver: where one is
# installed, they say why the GPU is not used, and are kept.
STARTUP_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
)
CUDA_PROBES = (
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
)


def has_nvidia_driver():
    """Whether this machine has an NVIDIA driver loaded (Linux)."""
    return os.path.exists("/proc/driver/nvidia") or os.path.exists(
        "/dev/nvidiactl")


def is_startup_notice(line, gpu_driver=False):
    """Whether a stderr line is one of TensorFlow's start-up notices."""
    notices = STARTUP_NOTICES if gpu_driver else STARTUP_NOTICES + CUDA_PROBES
    return any(notice in line for notice in notices)


@contextlib.contextmanager
def filtered_stderr(drop):
    """Captures file descriptor 2 (C++ and Python writes alike) and, on
    exit, even on an exception, writes back every line `drop` refuses.

    Args:
        drop: a function of a line, true for a line to leave out.

    Yields:
        A list, filled on exit with the number of lines left out.
    """
    dropped = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield dropped
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines(True)
            kept = [line for line in lines if not drop(line)]
            dropped.append(len(lines) - len(kept))
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_tensorflow_startup():
    """Imports TensorFlow and lists its devices (where CUDA is probed)
    with its start-up notices filtered out of stderr.

    Does nothing when TensorFlow is already imported, is not installed, or
    `KZOO_TF_LOGS=1`. Listing the physical devices does not initialise
    TensorFlow's runtime, so logical CPU devices can still be configured
    afterwards.

    Returns:
        The number of lines left out.
    """
    if (os.environ.get("KZOO_TF_LOGS") == "1" or "tensorflow" in sys.modules
            or importlib.util.find_spec("tensorflow") is None):
        return 0
    gpu_driver = has_nvidia_driver()
    with filtered_stderr(
            lambda line: is_startup_notice(line, gpu_driver)) as dropped:
        import tensorflow as tf

        tf.config.list_physical_devices()
    return dropped[0]
