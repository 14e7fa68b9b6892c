"""Command-line flags shared by every recipe: names, argparse types and the
distribution group.

The lowest layer of the training code: it imports only the standard
library, so `kzoo.distribute` (TensorFlow mechanics) and `kzoo.runs` (what
recipes share) both build on it without importing each other.
"""

import argparse

BACKENDS = ("tensorflow", "jax", "torch")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def _number_type(convert, kind, accept, bound, name, doc):
    """An argparse `type`: `convert(text)`, which must satisfy `accept`."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {kind}, got {text!r}")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = parse.__qualname__ = name
    parse.__doc__ = f"argparse type: {doc}."
    return parse


positive_int = _number_type(int, "an integer", lambda v: v >= 1, ">= 1",
                            "positive_int", "an integer >= 1")
non_negative_int = _number_type(int, "an integer", lambda v: v >= 0, ">= 0",
                                "non_negative_int", "an integer >= 0")
positive_float = _number_type(float, "a number", lambda v: v > 0, "> 0",
                              "positive_float", "a float > 0")
non_negative_float = _number_type(float, "a number", lambda v: v >= 0,
                                  ">= 0", "non_negative_float",
                                  "a float >= 0")
unit_interval_float = _number_type(float, "a number", lambda v: 0 <= v < 1,
                                   "in [0, 1)", "unit_interval_float",
                                   "a float in [0, 1)")



def add_distribution_flags(parser, strategy_help, cpu_replicas_help):
    """The "distribution" group: `--strategy` (`STRATEGIES`, default
    `auto`) and `--cpu-replicas N`, with each backend's help text.

    `kzoo.distribute.add_distribute_args` (TensorFlow) and
    `add_backend_distribute_args` (JAX, PyTorch) are this with their own
    help, so the flags stay the same on every backend.

    Returns:
        The argument group.
    """
    group = parser.add_argument_group("distribution")
    group.add_argument("--strategy", choices=STRATEGIES, default="auto",
                       help=f"{strategy_help} Default: auto.")
    group.add_argument("--cpu-replicas", type=positive_int, default=None,
                       metavar="N",
                       help=f"{cpu_replicas_help} Default: none.")
    return group
