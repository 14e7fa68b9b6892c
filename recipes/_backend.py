"""`--backend NAME` -> `KERAS_BACKEND`, before anything imports Keras.

Keras reads `KERAS_BACKEND` once, when it is first imported, and
`import kzoo` imports it; so a recipe that runs on several backends calls
`from_argv()` before `from kzoo import runs`. This module imports only the
standard library (not kzoo: that would import Keras). The flag itself is
declared, documented and checked by `kzoo.runs.add_common_args`.
"""

import argparse
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")  # kzoo.runs.BACKENDS


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
    if known.backend in BACKENDS:
        os.environ["KERAS_BACKEND"] = known.backend
        return known.backend
    return None
