r"""Index formulas counted from 1: the 0-based formulas under the change of variables :math:`v \to v - 1`.

A formula derived with indices from 0 holds for indices from 1 once every
index symbol :math:`v` (free or summed) is replaced by :math:`v - 1`, the
0-based value of the 1-based index, and every position :math:`p` written
inside a tensor, a Kronecker delta, a range condition or a solved tap becomes
:math:`p + 1`. So ``x[n, c, S*i + D*k - P]`` becomes
``x[n, c, S*(i - 1) + D*(k - 1) - P + 1]``, a sum from 0 to ``F - 1`` one
from 1 to ``F``, and a tightened bound ``Max(0, a) + 1`` is written
``Max(1, a + 1)``. Nothing is derived again: the 1-based formulas are the
0-based ones read in other variables, and the tests evaluate both against
the same element-wise derivation.

>>> from symconv.formula.sums import IndexSum, Limit, idx
>>> from symconv.symbolic.tensors import base
>>> n, i = idx("n i")
>>> term = IndexSum(base("dy")[n, i], (Limit(i, 0, n + 2),))
>>> print(counted_from_one(term, {n}).expression())
Sum(dy[n, i], (i, 1, n + 2))
"""

from __future__ import annotations

from dataclasses import replace

from sympy import Indexed, Max, Min

from symconv.formula.sums import Divides, FirstArgmax, IndexSum, Limit, Span


class FirstArgmaxFrom1(FirstArgmax):
    """:class:`FirstArgmax` whose arguments count from 1 (its window's elements too)."""

    index_base = 1

    def definition(self):
        """The 0-based bracket at the 0-based arguments, its elements of x read from 1."""
        return one_more(FirstArgmax(*(a - 1 for a in self.args)).definition())


def plus_one(value):
    """``value + 1``, carried into ``Max`` and ``Min``: ``Max(0, a) + 1`` is ``Max(1, a + 1)``."""
    if isinstance(value, (Max, Min)):
        return value.func(*(plus_one(a) for a in value.args))
    return value + 1


def one_more(expr):
    """Every element's indices, and every max-pool selector's arguments, one more: positions counted from 1."""
    expr = expr.replace(lambda e: isinstance(e, Indexed), lambda e: e.base[tuple(i + 1 for i in e.indices)])
    return expr.replace(lambda e: type(e) is FirstArgmax, lambda e: FirstArgmaxFrom1(*(a + 1 for a in e.args)))


def counted_from_one(term: IndexSum, free) -> IndexSum:
    """``term`` with its ``free`` index symbols and its own summed and solved ones counted from 1."""
    indices = set(free) | {limit.var for limit in term.limits} | {var for var, _ in term.solved}
    down = {v: v - 1 for v in indices}  # the 0-based value of each 1-based index

    def at(value):
        return value.xreplace(down) if hasattr(value, "xreplace") else value

    return replace(
        term,
        body=one_more(at(term.body)),
        limits=tuple(Limit(l.var, plus_one(at(l.lo)), plus_one(at(l.hi)), l.tightened) for l in term.limits),
        spans=tuple(Span(at(s.expr) + 1, plus_one(at(s.lo)), plus_one(at(s.hi))) for s in term.spans),
        divides=tuple(Divides(d.divisor, at(d.numerator)) for d in term.divides),
        deltas=tuple((at(a) + 1, at(b) + 1) for a, b in term.deltas),
        solved=tuple((var, at(value) + 1) for var, value in term.solved),
    )


def element_from_one(element: Indexed, free) -> Indexed:
    """A formula's left-hand side counted from 1: ``dx[n, g*C_g + c, h]`` -> ``dx[n, C_g*(g - 1) + c, h]``."""
    return one_more(element.xreplace({v: v - 1 for v in free}))
