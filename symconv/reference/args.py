"""Argument checks shared by the NumPy reference kernels.

:mod:`symconv.reference.conv` (convolution) and :mod:`symconv.reference.maxpool`
(pooling) take their sizes as Python ints or one int per spatial axis, and
both refuse anything else with one ``ValueError`` line naming the argument.
"""

from __future__ import annotations

import numpy as np


def as_int(name, value):
    """``value`` as an int; bools are refused (``stride=True`` is a bug)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an int, got {value!r}")
    return int(value)


def as_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a bool, got {value!r}")
    return bool(value)


def per_axis(name, value, nd, minimum):
    """One int per spatial axis from an int or a sequence of ``nd`` ints,
    each at least ``minimum``.

    >>> per_axis("stride", 2, 2, 1)
    (2, 2)
    >>> per_axis("stride", (2, 0), 2, 1)
    Traceback (most recent call last):
    ...
    ValueError: stride: every value must be >= 1, got (2, 0)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{name}: expected {nd} value(s), one per spatial axis, got {value!r}")
        values = tuple(as_int(name, v) for v in value)
    else:
        values = (as_int(name, value),) * nd
    if any(v < minimum for v in values):
        raise ValueError(f"{name}: every value must be >= {minimum}, got {value!r}")
    return values
