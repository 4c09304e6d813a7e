"""Numbering every factor a table of terms speaks of: tensor elements, then other factors, then numbers.

An :class:`ElementSpace` gives each element of the named tensors an integer
id (one contiguous range per tensor, row-major inside it). After the
elements come the ids of *families* of factors that are not elements but
functions of them (a max pool's first-maximum indicators, a ReLU's pieces;
:mod:`symconv.symbolic.atoms`), and last the ids of rational *constants*
(an average's 1/divisor, the mean's 1/N). A term of a
:class:`~symconv.symbolic.terms.TermTable` is a product of such ids.

Evaluating a table takes one value per id from :meth:`ElementSpace.flat_values`:
the elements' values, then each family's values computed from them, then
the constants, so any evaluator that multiplies factor columns of that flat
array handles every kind of factor alike.

>>> from fractions import Fraction
>>> space = ElementSpace({"w": (2,), "x": (3,)}, constants=[Fraction(1, 2)])
>>> space.size, space.total, space.constant_id(Fraction(1, 2))
(5, 6, 5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from functools import cached_property

import numpy as np

#: Marks an unused factor slot (a term with fewer factors than the table's width).
NO_FACTOR = -1

#: Cached per-element data a space derived from another (same tensors) can share.
_ELEMENT_CACHES = ("strings", "string_rank", "sympy_elements", "_starts")


def index_strings(name: str, shape) -> list[str]:
    """``name[i, j, ...]`` for every index of ``shape``, row-major, as SymPy's ``str`` prints an element."""
    grids = np.indices(shape).reshape(len(shape), -1)
    joined = np.full(grids.shape[1], name + "[", dtype=object)
    for axis, column in enumerate(grids):
        texts = np.array([str(i) for i in range(shape[axis])], dtype=object)[column]
        joined = joined + (texts if axis == 0 else ", " + texts)
    return (joined + "]").tolist()


class ElementSpace:
    """Ids for tensor elements, then for each family's factors, then for constants.

    ``size`` counts the tensor elements alone; ``total`` every id. A family
    is any object with a ``size`` (its number of factors) and
    ``values(flat, dtype)``, computing its factors' values from the
    elements' (see :mod:`symconv.symbolic.atoms`).
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], families=(), constants=()):
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.names = list(self.shapes)
        sizes = [math.prod(shape) for shape in self.shapes.values()]
        self.offsets = dict(zip(self.names, np.cumsum([0] + sizes[:-1]).tolist()))
        self.size = sum(sizes)
        self.families = tuple(families)
        starts = np.cumsum([self.size] + [f.size for f in self.families]).tolist()
        self.family_offsets, self.constant_offset = starts[:-1], starts[-1]
        self.constants = tuple(Fraction(c) for c in constants)
        self._constant_ids = {c: self.constant_offset + i for i, c in enumerate(self.constants)}
        self.total = self.constant_offset + len(self.constants)
        #: What printers compute once per space (SymPy's strings and order of every factor).
        self.cache = {}

    def cached(self, key: str, build):
        """``build(self)``, computed on the first call for ``key`` and kept in :attr:`cache`."""
        if key not in self.cache:
            self.cache[key] = build(self)
        return self.cache[key]

    # -- ids ------------------------------------------------------------------
    def ids(self, name: str, *index_arrays) -> np.ndarray:
        """Ids of the elements ``name[index]`` given one integer array per axis."""
        flat = np.ravel_multi_index(index_arrays, self.shapes[name])
        return self.offsets[name] + np.asarray(flat, dtype=np.int64)

    @cached_property
    def _starts(self) -> np.ndarray:
        return np.array([self.offsets[n] for n in self.names] + [self.size], dtype=np.int64)

    def owner(self, ids: np.ndarray) -> np.ndarray:
        """Position in ``names`` of the tensor each id belongs to; ``len(names)`` for any other factor."""
        return np.searchsorted(self._starts, ids, side="right") - 1

    def locate(self, element_id: int) -> tuple[str, tuple[int, ...]]:
        """``(name, index)`` of one element's id."""
        name = self.names[int(self.owner(np.array([element_id]))[0])]
        index = np.unravel_index(element_id - self.offsets[name], self.shapes[name])
        return name, tuple(int(i) for i in index)

    def family_of(self, family) -> int:
        """The id of ``family``'s first factor (the family must be one of this space's)."""
        for offset, mine in zip(self.family_offsets, self.families):
            if mine is family:
                return offset
        raise ValueError("the family is not in this space")

    def constant_id(self, value) -> int:
        """The id of a constant of this space."""
        return self._constant_ids[Fraction(value)]

    def with_constants(self, values) -> ElementSpace:
        """The same space with ``values`` among its constants (ids of everything else unchanged)."""
        new = [Fraction(v) for v in dict.fromkeys(values) if Fraction(v) not in self._constant_ids]
        if not new:
            return self
        space = ElementSpace(self.shapes, self.families, self.constants + tuple(new))
        for name in _ELEMENT_CACHES:  # the elements are the same: share what was computed for them
            if name in self.__dict__:
                space.__dict__[name] = self.__dict__[name]
        return space

    def with_tensor(self, name: str, shape) -> ElementSpace:
        """The same space with one more tensor after the others (ids at or above ``size`` move up by its size)."""
        return ElementSpace({**self.shapes, name: tuple(shape)}, self.families, self.constants)

    def each(self):
        """``(id, name, index)`` for every element, in id order."""
        element_id = 0
        for name, shape in self.shapes.items():
            for index in np.ndindex(*shape):
                yield element_id, name, index
                element_id += 1

    # -- how SymPy would see the elements ------------------------------------
    @cached_property
    def strings(self) -> list[str]:
        """Each element as SymPy's ``str`` prints an ``Indexed``: ``x[0, 1, 2, 3]``."""
        return [text for name, shape in self.shapes.items() for text in index_strings(name, shape)]

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

    def sympy_factor(self, factor_id: int):
        """The SymPy object of any id: an element, a family's factor, or a Rational."""
        if factor_id < self.size:
            return self.sympy_elements[factor_id]
        if factor_id >= self.constant_offset:
            from sympy import Rational

            value = self.constants[factor_id - self.constant_offset]
            return Rational(value.numerator, value.denominator)
        cache = self.cache.setdefault("sympy", {})
        if factor_id not in cache:
            position = int(np.searchsorted(self.family_offsets, factor_id, side="right")) - 1
            cache[factor_id] = self.families[position].sympy(factor_id - self.family_offsets[position], self)
        return cache[factor_id]

    # -- values ---------------------------------------------------------------
    def flat_values(self, values: Mapping[str, np.ndarray], dtype) -> np.ndarray:
        """Every id's value in id order, followed by a 1 for :data:`NO_FACTOR`.

        The elements' values come from ``values`` (a tensor missing there is
        filled with NaN, or None for exact values, so a table that needs it
        cannot quietly use zeros); each family computes its factors' values
        from them (missing where their elements are); the constants are
        Fractions for ``dtype=object``, else converted to ``dtype``.
        """
        missing = None if dtype is object else np.nan
        parts = [
            np.asarray(values[name], dtype=dtype).reshape(-1)
            if name in values
            else np.full(math.prod(self.shapes[name]), missing, dtype=dtype)
            for name in self.names
        ]
        elements = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
        extra = [family.values(elements, dtype) for family in self.families]
        return np.concatenate([elements] + extra + [self._constant_values(dtype), np.ones(1, dtype=dtype)])

    def _constant_values(self, dtype) -> np.ndarray:
        if dtype is object:
            return np.array(self.constants + (0,), dtype=object)[:-1]  # Fractions kept as they are
        floating = np.issubdtype(np.dtype(dtype), np.floating)
        if not floating and any(c.denominator != 1 for c in self.constants):
            raise ValueError(f"constants {', '.join(map(str, self.constants))} are not all integers: "
                             f"evaluate with dtype=object (Fractions) or float")
        return np.array([float(c) if floating else int(c) for c in self.constants], dtype=dtype)
