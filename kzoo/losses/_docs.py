"""The Args every kzoo loss shares, written once.

A loss's docstring holds the line `{loss_args}` where its Args end;
`shared_loss_args` replaces it with the `reduction`, `name` and `dtype`
entries (and `gather_distributed` for a `GatheringLoss`), the `name`
default read from the class's own signature, so the text cannot drift
from the code.
"""

import inspect

PLACEHOLDER = "{loss_args}"

_ENTRIES = {
    "reduction": ("Type of reduction to apply to the loss. Defaults to\n"
                  '`"sum_over_batch_size"`.'),
    "name": ('Optional name for the loss instance. Defaults to\n'
             '`"{name}"`.'),
    "dtype": ("The dtype of the loss's computations. Defaults to `None`\n"
              "(`keras.backend.floatx()`)."),
    "gather_distributed": (
        "under a `tf.distribute` strategy with several\n"
        "replicas, compute the loss on the global batch gathered from\n"
        "all replicas (`kzoo.losses.GatheringLoss`), so N devices train\n"
        "as one. Defaults to `True`."),
}


def shared_loss_args(cls):
    """Class decorator: fills `{loss_args}` in `cls.__doc__`."""
    doc = cls.__doc__ or ""
    lines = doc.split("\n")
    where = [i for i, line in enumerate(lines) if line.strip() == PLACEHOLDER]
    if len(where) != 1:
        raise ValueError(f"{cls.__name__}'s docstring needs one line "
                         f"{PLACEHOLDER}. Received: {len(where)}")
    indent = lines[where[0]][:len(lines[where[0]]) - len(
        lines[where[0]].lstrip())]
    parameters = inspect.signature(cls.__init__).parameters
    entries = []
    for arg, text in _ENTRIES.items():
        if arg not in parameters:
            continue
        text = text.replace("{name}", str(parameters["name"].default))
        body = text.replace("\n", "\n" + indent + "    ")
        entries.append(f"{indent}{arg}: {body}")
    lines[where[0]:where[0] + 1] = entries
    cls.__doc__ = "\n".join(lines)
    return cls
