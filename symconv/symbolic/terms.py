"""Sparse polynomial tables: many sums of products of tensor elements, as arrays.

A convolution's forward and gradients are, entry by entry, sums of products
of tensor elements with coefficient 1, e.g. ``dx[0, 0, 1, 1] = dy[0, 0, 0, 0]*w[0, 0, 1, 1] + ...``.
Holding hundreds of thousands of such terms as SymPy objects costs seconds to
build and half a minute to print, so symconv keeps them as integer arrays:

* an :class:`ElementSpace` (:mod:`symconv.symbolic.space`) numbers every
  element of the named tensors, then the factors that are functions of them
  (:mod:`symconv.symbolic.atoms`: a max pool's winner indicators, a ReLU's
  pieces) and the rational constants (an average's 1/divisor);
* a :class:`TermTable` lists terms as rows ``(entry, factor ids...)``.

A table behaves as a read-only mapping ``index -> SymPy expression`` (built on
demand, for people and tests), and also evaluates, prints to SymPy's exact
``str()`` and renders LaTeX without ever building the expressions.

>>> import numpy as np
>>> space = ElementSpace({"w": (2,), "x": (3,)})
>>> table = TermTable(space, (2,), np.array([0, 0, 1]), np.array([[0, 2], [1, 3], [0, 3]]))
>>> table[(0,)]
w[0]*x[0] + w[1]*x[1]
>>> table.str_entries()
['w[0]*x[0] + w[1]*x[1]', 'w[0]*x[1]']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from functools import cached_property

import numpy as np

from symconv.symbolic.space import NO_FACTOR, ElementSpace
from symconv.symbolic.strs import general_str_entries


class TermTable(Mapping):
    """Sums of products, one per entry of an array of ``shape``.

    Row ``t`` is the product of the elements ``factors[t]`` (ids of
    ``space``, :data:`NO_FACTOR` for an empty slot) and belongs to the flat
    entry ``entry[t]``. Terms of one entry are distinct; order is free.
    """

    def __init__(self, space: ElementSpace, shape, entry, factors):
        self.space = space
        self.shape = tuple(shape)
        self.entry = np.asarray(entry, dtype=np.int64)
        factors = np.asarray(factors, dtype=np.int64)
        # Keep the width of a table without terms (every window in the padding): reshape(0, -1) cannot infer it.
        self.factors = factors.reshape(len(self.entry), factors.shape[-1] if factors.ndim == 2 else -1)

    # -- the mapping view: index -> SymPy expression -------------------------
    def __len__(self) -> int:
        return math.prod(self.shape)

    def __iter__(self):
        return iter(np.ndindex(*self.shape))

    def __getitem__(self, index):
        from sympy import Add, Mul, S

        flat = int(np.ravel_multi_index(tuple(index), self.shape))
        start, stop = self._bounds[flat], self._bounds[flat + 1]
        if start == stop:
            return S.Zero
        factor = self.space.sympy_factor
        rows = self.factors[self._by_entry[start:stop]]
        return Add(*(Mul(*(factor(f) for f in row if f != NO_FACTOR)) for row in rows.tolist()))

    @cached_property
    def _by_entry(self) -> np.ndarray:
        return np.argsort(self.entry, kind="stable")

    @cached_property
    def _bounds(self) -> np.ndarray:
        return np.searchsorted(self.entry[self._by_entry], np.arange(len(self) + 1))

    @property
    def terms(self) -> int:
        return len(self.entry)

    # -- ordering and printing ---------------------------------------------
    def ordered(self, rank: np.ndarray):
        """Terms sorted by entry, then by ``rank`` of their factors.

        Returns ``(rows, bounds)``: ``rows`` are the factor ids with each row
        sorted by rank (empty slots last) and ``bounds[e]:bounds[e+1]`` the
        rows of flat entry ``e``.
        """
        big = np.int64(rank.max() + 1 if len(rank) else 0)  # empty slots sort last
        keys = np.where(self.factors == NO_FACTOR, big, rank[self.factors])
        column_order = np.argsort(keys, axis=1, kind="stable")
        keys = np.take_along_axis(keys, column_order, axis=1)
        rows = np.take_along_axis(self.factors, column_order, axis=1)
        # lexsort's last key is the primary one: entry, then first factor, ...
        order = np.lexsort([keys[:, j] for j in reversed(range(keys.shape[1]))] + [self.entry])
        bounds = np.searchsorted(self.entry[order], np.arange(len(self) + 1))
        return rows[order], bounds

    def term_strings(self, names: list[str], rank: np.ndarray, joiner: str) -> tuple[list[str], np.ndarray]:
        """Each term printed as its factors' ``names`` joined, in ``rank`` order.

        Concatenation runs on object arrays, one column at a time, so the
        Python work per term is a single string addition in NumPy's loop.
        """
        rows, bounds = self.ordered(rank)
        table = np.array(names, dtype=object)
        texts = table[rows[:, 0]] if len(rows) else np.zeros(0, dtype=object)
        for column in range(1, rows.shape[1]):
            used = rows[:, column] != NO_FACTOR
            texts[used] = texts[used] + joiner + table[rows[used, column]]
        return texts.tolist(), bounds

    @property
    def plain(self) -> bool:
        """Every factor is a tensor element (no family factor, no constant): a convolution's sum of products."""
        return not len(self.factors) or int(self.factors.max()) < self.space.size

    def str_entries(self) -> list[str]:
        """Every entry exactly as SymPy's ``str()`` prints it, row-major; 0 if empty."""
        if not self.plain:
            return general_str_entries(self)
        rank = self.space.string_rank
        texts, bounds = self.term_strings(self.space.strings, rank, "*")
        starts, stops = bounds[:-1].tolist(), bounds[1:].tolist()
        return [" + ".join(texts[a:b]) if a < b else "0" for a, b in zip(starts, stops)]

    # -- new tables from this one -------------------------------------------
    def head(self, count: int) -> TermTable:
        """The same table with only the terms of its first ``count`` entries (row-major)."""
        keep = self.entry < count
        return TermTable(self.space, self.shape, self.entry[keep], self.factors[keep])

    def with_tensor(self, name: str, shape) -> TermTable:
        """The same terms in a space that also numbers the tensor ``name`` (an upstream gradient, say)."""
        if name in self.space.shapes:
            return self
        space = self.space.with_tensor(name, shape)
        moved = np.where(self.factors >= self.space.size, self.factors + (space.size - self.space.size), self.factors)
        return TermTable(space, self.shape, self.entry, moved)

    def scaled(self, value) -> TermTable:
        """Every term times the rational ``value`` (the mean's 1/N), multiplied into the term's constant.

        The expressions equal ``value * table[index]``, which SymPy
        distributes over the sums' terms.
        """
        value = Fraction(value)
        space = self.space
        constant = self.factors >= space.constant_offset
        has = constant.any(axis=1)
        old = np.where(has, np.where(constant, self.factors, 0).max(axis=1) - space.constant_offset, -1)
        known = list(space.constants) + [Fraction(1)]
        products = [c * value for c in known]
        space = space.with_constants(p for p in products if p != 1)
        ids = np.array([space.constant_id(p) if p != 1 else NO_FACTOR for p in products], dtype=np.int64)
        rest = np.where(constant, NO_FACTOR, self.factors)
        keep = (rest != NO_FACTOR).any(axis=0)  # drop the columns that held only constants
        factors = np.concatenate([ids[old][:, None], rest[:, keep]], axis=1)
        return TermTable(space, self.shape, self.entry, factors).canonical()

    def canonical(self) -> TermTable:
        """The same terms in the order SymPy keeps a sum's arguments, where that order changes a float sum.

        Evaluating sums the terms of an entry in table order. SymPy's ``Add``
        (which these tables' expressions used to be, and the float results of
        ``verify`` were measured with) keeps its terms in ``Basic.compare``
        order: products before a bare element (the class Mul is in SymPy's
        ordering of classes, Indexed is not), products of fewer factors
        first, a rational coefficient (``p/q``, by ``p`` then ``q``) before
        none, then the elements. A plain table (a convolution's) keeps its
        own order.
        """
        if self.plain:
            return self
        space = self.space
        constant = self.factors >= space.constant_offset
        has = constant.any(axis=1)
        which = np.where(constant, self.factors, 0).max(axis=1)[has] - space.constant_offset
        none = np.iinfo(np.int64).max
        p, q = np.full(len(self.entry), none), np.full(len(self.entry), none)
        p[has] = np.array([c.numerator for c in space.constants], dtype=np.int64)[which]
        q[has] = np.array([c.denominator for c in space.constants], dtype=np.int64)[which]
        count = (self.factors != NO_FACTOR).sum(axis=1)
        bare = (count == 1) & (self.factors.max(axis=1) < space.size)
        elements = np.where(constant, -2, self.factors)
        keys = [elements[:, j] for j in reversed(range(elements.shape[1]))] + [q, p, count, bare, self.entry]
        order = np.lexsort(keys)
        return TermTable(space, self.shape, self.entry[order], self.factors[order])

    # -- evaluation ---------------------------------------------------------
    def evaluate(self, values: Mapping[str, np.ndarray], dtype=float) -> np.ndarray:
        """Every entry at the given tensor values (floats, or exact ints and Fractions).

        Exact values (``dtype=object``) are summed in integer arithmetic
        (:mod:`symconv.symbolic.exact`), into Python ints and Fractions.
        """
        flat = self.space.flat_values(values, dtype)
        factors = np.where(self.factors == NO_FACTOR, len(flat) - 1, self.factors)
        if dtype is object:
            from symconv.symbolic.exact import exact_sums

            return exact_sums(flat, factors, self.entry, len(self)).reshape(self.shape)
        products = flat[factors[:, 0]]
        for column in range(1, factors.shape[1]):
            products = products * flat[factors[:, column]]
        return np.bincount(self.entry, weights=products, minlength=len(self)).reshape(self.shape)


def bias_terms(space: ElementSpace, name: str, shape) -> tuple[np.ndarray, np.ndarray]:
    """The ``+ b[c]`` terms of a layer with a bias: every entry of ``shape`` (row-major) and, as its one
    factor, the element of ``name`` at its channel (axis 1); ``(entries, factors)`` to join the others."""
    every = np.arange(math.prod(shape))
    channel = np.unravel_index(every, shape)[1]
    return every, np.stack([space.ids(name, channel), np.full_like(every, NO_FACTOR)], axis=1)
