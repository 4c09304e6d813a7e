"""Evaluate derived expressions at concrete values, in floats or exactly.

The derived expressions are sums of products of tensor elements and numbers,
so they are evaluated by walking the expression tree directly: no
``lambdify`` (which fails on expressions of thousands of terms) and no
``subs`` (slow and symbolic). With ``fractions.Fraction`` values the result is
exact.

>>> from fractions import Fraction
>>> import numpy as np
>>> from symconv.tensors import element
>>> expr = element("x", (0,)) * element("w", (1,)) + 2
>>> values = {"x": np.array([Fraction(1, 3)], dtype=object), "w": np.array([0, Fraction(3, 4)], dtype=object)}
>>> evaluate(expr, values)
Fraction(9, 4)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from sympy import Add, Indexed, Integer, Mul, Pow, Rational

from symconv.terms import TermTable


def evaluate(expr, values):
    """Value of ``expr`` with each ``name[i, ...]`` taken from ``values[name]``."""
    if isinstance(expr, Indexed):
        return values[expr.base.name][tuple(int(i) for i in expr.indices)]
    if isinstance(expr, Add):
        total = 0
        for arg in expr.args:
            total = total + evaluate(arg, values)
        return total
    if isinstance(expr, Mul):
        product = 1
        for arg in expr.args:
            product = product * evaluate(arg, values)
        return product
    if isinstance(expr, Integer):
        return int(expr)
    if isinstance(expr, Rational):
        return Fraction(int(expr.p), int(expr.q))
    if isinstance(expr, Pow) and expr.exp.is_Integer:
        return evaluate(expr.base, values) ** int(expr.exp)
    if expr.is_Number:
        return float(expr)
    raise TypeError(f"cannot evaluate a {type(expr).__name__}: {expr}")


def evaluate_table(table, shape, values, dtype=float) -> np.ndarray:
    """An array of ``shape`` holding the value of each ``table[index]``.

    A :class:`~symconv.terms.TermTable` evaluates itself with array
    operations; other tables are walked expression by expression.
    """
    if isinstance(table, TermTable):
        return table.evaluate(values, dtype)
    out = np.zeros(shape, dtype=dtype)
    for index, expr in table.items():
        out[index] = evaluate(expr, values)
    return out
