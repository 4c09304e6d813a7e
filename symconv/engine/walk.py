"""Evaluate SymPy expressions at concrete values, in floats or exactly, by walking them.

The derived expressions are sums of products of tensor elements and numbers
(with, for sigmoid, tanh and batch norm, ``exp``, ``tanh`` and roots, which
only floats can hold), so they are evaluated by walking the expression tree directly: no
``lambdify`` (which fails on expressions of thousands of terms) and no
``subs`` (slow and symbolic). With ``fractions.Fraction`` values the result is
exact.

>>> from fractions import Fraction
>>> import numpy as np
>>> from symconv.symbolic.tensors import element
>>> expr = element("x", (0,)) * element("w", (1,)) + 2
>>> values = {"x": np.array([Fraction(1, 3)], dtype=object), "w": np.array([0, Fraction(3, 4)], dtype=object)}
>>> evaluate(expr, values)
Fraction(9, 4)
"""

from __future__ import annotations

import operator
from fractions import Fraction

import numpy as np
from sympy import Add, And, Indexed, Integer, KroneckerDelta, Mul, Not, Or, Piecewise, Pow, Rational, exp, tanh
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFalse, BooleanTrue


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
    if isinstance(expr, Piecewise):
        for value, condition in expr.args:
            if holds(condition, values):
                return evaluate(value, values)
        raise ValueError(f"no piece of {expr} applies")
    if isinstance(expr, Pow) and expr.exp.is_Integer:
        return evaluate(expr.base, values) ** int(expr.exp)
    if isinstance(expr, KroneckerDelta):  # a loss's label indicator [t[n] = k]
        return int(evaluate(expr.args[0], values) == evaluate(expr.args[1], values))
    if isinstance(expr, Pow):  # a root: a float, whatever the base (no Fraction holds sqrt(2))
        return np.float64(evaluate(expr.base, values)) ** float(expr.exp)
    if isinstance(expr, exp):
        return np.exp(np.float64(evaluate(expr.args[0], values)))
    if isinstance(expr, tanh):
        return np.tanh(np.float64(evaluate(expr.args[0], values)))
    if expr.is_Number:
        return float(expr)
    raise TypeError(f"cannot evaluate a {type(expr).__name__}: {expr}")


_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
            "==": operator.eq, "!=": operator.ne}


def holds(condition, values) -> bool:
    """Truth of a condition (relationals joined by And/Or/Not) at the values.

    Comparisons are exact for Fractions and plain float comparisons for
    floats, so ties resolve exactly as the reference kernels resolve them.
    """
    if isinstance(condition, BooleanTrue):
        return True
    if isinstance(condition, BooleanFalse):
        return False
    if isinstance(condition, And):
        return all(holds(c, values) for c in condition.args)
    if isinstance(condition, Or):
        return any(holds(c, values) for c in condition.args)
    if isinstance(condition, Not):
        return not holds(condition.args[0], values)
    if isinstance(condition, Relational):
        compare = _COMPARE[condition.rel_op]
        return bool(compare(evaluate(condition.lhs, values), evaluate(condition.rhs, values)))
    raise TypeError(f"cannot decide a {type(condition).__name__}: {condition}")
