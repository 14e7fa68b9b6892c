"""The training package: what every recipe shares, one module per concern.

Bottom to top: `flags` (argparse types and strategy names; standard library
only, so `kzoo.distribute` can use it), `backend`, `strategy`,
`optimizers`, `args`, `run`, `session`, `self_supervised`. `kzoo.runs`
gathers their public names for recipes and users. This `__init__` imports
nothing, so importing `kzoo.training.flags` stays light.
"""
