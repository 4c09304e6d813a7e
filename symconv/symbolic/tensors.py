"""Symbolic tensors: the names x, w, b, dy, y and the elements built from them.

Element ``(n, c, i, j)`` of x is ``x[n, c, i, j]``, a SymPy ``Indexed`` on an
``IndexedBase`` with plain integer indices (an ``Idx`` would print its range
into LaTeX subscripts). The same names are what the JSON contract parses back.

>>> element("x", (0, 1, 2, 3))
x[0, 1, 2, 3]
"""

from __future__ import annotations

import itertools
from functools import lru_cache


@lru_cache(maxsize=None)
def base(name: str):
    """The one ``IndexedBase`` per tensor name, shared by the whole package."""
    from sympy import IndexedBase

    return IndexedBase(name)


def element(name: str, index: tuple[int, ...]):
    """The symbolic element ``name[index]`` (a SymPy ``Indexed``; SymPy is imported on first use)."""
    from sympy import Indexed, Integer

    return Indexed(base(name), *(Integer(i) for i in index))


def indices(shape: tuple[int, ...]):
    """Every index of a tensor of ``shape``, in row-major order."""
    return itertools.product(*(range(s) for s in shape))


def gradient_name(tensor: str) -> str:
    """``'x'`` -> ``'dx'``: the name of the loss gradient of a tensor."""
    return "d" + tensor
