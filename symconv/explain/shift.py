"""Indices counted from the document's base: what a step shows, from what it holds (counted from 0).

The explanation's steps are derived counted from 0; a document counted from
1 shows the same steps read in other variables
(:func:`symconv.formula.shift.counted_from_one`): every index symbol v read as
v - 1, every position written p + 1. Nothing is derived again.

>>> from symconv.symbolic.tensors import element
>>> Shift(1, ()).element(element("dy", (0, 0, 1, 1)))
dy[1, 1, 2, 2]
"""

from __future__ import annotations

from symconv.formula.shift import counted_from_one, element_from_one, one_more
from symconv.formula.sums import IndexSum, Span


class Shift:
    """How a step counted from 0 is shown counted from ``base``, given its free index symbols."""

    def __init__(self, base: int, free=()):
        self.base, self.free = base, tuple(free)

    def term(self, term: IndexSum) -> IndexSum:
        return counted_from_one(term, self.free) if self.base else term

    def terms(self, terms) -> tuple:
        return tuple(self.term(t) for t in terms)

    def lhs(self, element):
        """A left-hand side with free index symbols (``dx[n, c, h]``) or concrete (``dx[0, 0, 1]``)."""
        return element_from_one(element, self.free) if self.base else element

    def element(self, element):
        """A concrete element, or an expression of them: every position one more."""
        return one_more(element) if self.base else element

    def index(self, value):
        """A concrete index (an output row, a tap): one more."""
        return value + self.base

    def span(self, span: Span) -> Span:
        """A range bracket on free indices only (``0 <= h <= H - 1``)."""
        return self.term(IndexSum(1, spans=(span,))).spans[0]
