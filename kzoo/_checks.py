"""Argument checks shared by kzoo's modules (no TensorFlow, no Keras).

One definition per rule, so that every public function refuses the same
values with the same message ("... Received: name=value").
"""

import numbers


def check_positive_int(value, name):
    """`value` as an `int` if it is an integer >= 1 (NumPy integers too;
    not `bool`, not a float), else a `ValueError` naming `name`."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError(f"`{name}` must be a positive integer. "
                         f"Received: {name}={value!r}")
    return int(value)


def check_number(name, value, positive=False):
    """`value` as a `float` if it is a real number >= 0 (> 0 when
    `positive`; not `bool`), else a `ValueError` naming `name`."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = value > 0 if positive else value >= 0
    if not ok:
        bound = "a positive" if positive else "a non-negative"
        raise ValueError(
            f"`{name}` must be {bound} number. Received: {name}={value!r}"
        )
    return float(value)
