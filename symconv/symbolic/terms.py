"""Sparse polynomial tables: many sums of products of tensor elements, as arrays.

A convolution's forward and gradients are, entry by entry, sums of products
of tensor elements with coefficient 1, e.g. ``dx[0, 0, 1, 1] = dy[0, 0, 0, 0]*w[0, 0, 1, 1] + ...``.
Holding hundreds of thousands of such terms as SymPy objects costs seconds to
build and half a minute to print, so symconv keeps them as integer arrays:

* an :class:`ElementSpace` numbers every element of the named tensors;
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
from functools import cached_property

import numpy as np

#: Marks an unused factor slot (a term with fewer factors than the table's width).
NO_FACTOR = -1


class ElementSpace:
    """One contiguous range of integer ids per tensor, row-major inside it."""

    def __init__(self, shapes: Mapping[str, tuple[int, ...]]):
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.names = list(self.shapes)
        sizes = [math.prod(shape) for shape in self.shapes.values()]
        self.offsets = dict(zip(self.names, np.cumsum([0] + sizes[:-1]).tolist()))
        self.size = sum(sizes)

    def ids(self, name: str, *index_arrays) -> np.ndarray:
        """Ids of the elements ``name[index]`` given one integer array per axis."""
        flat = np.ravel_multi_index(index_arrays, self.shapes[name])
        return self.offsets[name] + np.asarray(flat, dtype=np.int64)

    def owner(self, ids: np.ndarray) -> np.ndarray:
        """Position in ``names`` of the tensor each id belongs to."""
        starts = np.array([self.offsets[n] for n in self.names])
        return np.searchsorted(starts, ids, side="right") - 1

    def locate(self, element_id: int) -> tuple[str, tuple[int, ...]]:
        """``(name, index)`` of one id."""
        name = self.names[int(self.owner(np.array([element_id]))[0])]
        index = np.unravel_index(element_id - self.offsets[name], self.shapes[name])
        return name, tuple(int(i) for i in index)

    def each(self):
        """``(id, name, index)`` for every element, in id order."""
        element_id = 0
        for name, shape in self.shapes.items():
            for index in np.ndindex(*shape):
                yield element_id, name, index
                element_id += 1

    @cached_property
    def strings(self) -> list[str]:
        """Each element as SymPy's ``str`` prints an ``Indexed``: ``x[0, 1, 2, 3]``."""
        return [f"{name}[{', '.join(map(str, index))}]" for _, name, index in self.each()]

    @cached_property
    def string_rank(self) -> np.ndarray:
        """Rank of each element among all, in the order SymPy sorts them.

        SymPy orders ``Indexed`` factors and terms by their printed names, so
        ``x[0, 10]`` comes before ``x[0, 2]``; tests check this against str().
        """
        order = sorted(range(self.size), key=self.strings.__getitem__)
        rank = np.empty(self.size, dtype=np.int64)
        rank[order] = np.arange(self.size)
        return rank

    @cached_property
    def sympy_elements(self) -> list:
        from symconv.symbolic.tensors import element

        return [element(name, index) for _, name, index in self.each()]

    def flat_values(self, values: Mapping[str, np.ndarray], dtype) -> np.ndarray:
        """All element values in id order, followed by a 1 for :data:`NO_FACTOR`.

        A tensor missing from ``values`` is filled with NaN (None for exact
        values), so a table that needs it cannot quietly use zeros.
        """
        missing = None if dtype is object else np.nan
        parts = [
            np.asarray(values[name], dtype=dtype).reshape(-1)
            if name in values
            else np.full(math.prod(self.shapes[name]), missing, dtype=dtype)
            for name in self.names
        ]
        return np.concatenate(parts + [np.ones(1, dtype=dtype)])


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
        elements = self.space.sympy_elements
        rows = self.factors[self._by_entry[start:stop]]
        return Add(*(Mul(*(elements[f] for f in row if f != NO_FACTOR)) for row in rows.tolist()))

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

    def str_entries(self) -> list[str]:
        """Every entry exactly as SymPy's ``str()`` prints it, row-major; 0 if empty."""
        rank = self.space.string_rank
        texts, bounds = self.term_strings(self.space.strings, rank, "*")
        starts, stops = bounds[:-1].tolist(), bounds[1:].tolist()
        return [" + ".join(texts[a:b]) if a < b else "0" for a, b in zip(starts, stops)]

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
