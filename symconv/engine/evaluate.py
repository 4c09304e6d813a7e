"""Evaluate derived tables at concrete values, in floats or exactly.

A :class:`~symconv.symbolic.terms.TermTable` evaluates itself with array
operations (exact values in integer arithmetic); any other table, a mapping
from index to SymPy expression, is walked expression by expression
(:mod:`symconv.engine.walk`). SymPy is imported only for the latter, so
verifying a derivation held in term arrays never loads it.
"""

from __future__ import annotations

import numpy as np

from symconv.symbolic.terms import TermTable


def evaluate_table(table, shape, values, dtype=float) -> np.ndarray:
    """An array of ``shape`` holding the value of each ``table[index]``.

    A :class:`~symconv.symbolic.terms.TermTable` evaluates itself with array
    operations; other tables are walked expression by expression.
    """
    if isinstance(table, TermTable):
        return table.evaluate(values, dtype)
    from symconv.engine.walk import evaluate

    out = np.zeros(shape, dtype=dtype)
    for index, expr in table.items():
        out[index] = evaluate(expr, values)
    return out


def __getattr__(name):
    """``evaluate`` and ``holds`` live in :mod:`symconv.engine.walk`; importing them from here loads it."""
    if name in ("evaluate", "holds"):
        from symconv.engine import walk

        return getattr(walk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
