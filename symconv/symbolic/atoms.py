r"""Factors that are functions of tensor elements: a window's first-maximum indicator, a ReLU's pieces.

A :class:`~symconv.symbolic.space.ElementSpace` numbers these after the
elements, one *family* at a time, so a
:class:`~symconv.symbolic.terms.TermTable` can hold a max pool's
``x_a [x_a wins]`` or a ReLU's ``dy [z > 0]`` as rows of integers like any
convolution term. Each family knows, for its factors:

* their values, computed from the elements' values (``values``), so that
  evaluating a table is still "multiply factor columns, sum per entry";
* the SymPy object each stands for (``sympy``), exactly as SymPy's
  constructors build it, for the mapping view of a table;
* SymPy's ``str()`` of each (``str_texts``) and their place in SymPy's
  order of factors (``sort_ranks``), for the JSON contract, without SymPy;
* ``derivative``: the family holding each factor's derivative with respect
  to its one element (a ramp's is a step), or None when the factors are
  piecewise constant (their derivative is 0 wherever it exists, which is
  PyTorch's convention for an argmax or a ReLU's mask).

The families:

* :class:`FirstMaximum`: ``Piecewise((1, cond), (0, True))``, ``cond``
  saying that element ``j`` of a window is its first maximum in scan order
  (greater than every element before it, at least every one after it);
* :class:`Step`: ``Piecewise((1, z > 0), (slope, True))``;
* :class:`Ramp`: ``Piecewise((z, z > 0), (slope*z, True))``, whose
  derivative is the :class:`Step` of the same slope.

>>> import numpy as np
>>> from symconv.symbolic.space import ElementSpace
>>> maxima = FirstMaximum(np.array([[0, 1]]))
>>> space = ElementSpace({"x": (2,)}, [maxima])
>>> maxima.str_texts(space).tolist()
['Piecewise((1, x[0] >= x[1]), (0, True))', 'Piecewise((1, x[0] < x[1]), (0, True))']
>>> space.flat_values({"x": np.array([3.0, 3.0])}, float).tolist()  # a tie goes to the first
[3.0, 3.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symconv.symbolic.space import NO_FACTOR

#: Comparison codes, in the order SymPy sorts the classes by name (And's 0 sorts first).
_GE, _LE, _GT, _LT = 1, 2, 3, 4
_OPERATORS = np.array(["", " >= ", " <= ", " > ", " < "], dtype=object)


def _missing(values, dtype):
    """Where ``values`` holds no number (a tensor that was not given)."""
    return np.equal(values, None) if dtype is object else np.isnan(values)


def rational_str(value: Fraction) -> str:
    """SymPy's ``str`` of a Rational: ``1/100``, ``-2``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def times_str(value: Fraction, text: str) -> str:
    """SymPy's ``str`` of ``value * element``: ``x[0]/100``, ``-2*x[0]``, ``2*x[0]/3``, ``0``."""
    if value == 0:
        return "0"
    sign, p, q = ("-" if value < 0 else ""), abs(value.numerator), value.denominator
    return sign + ("" if p == 1 else f"{p}*") + text + ("" if q == 1 else f"/{q}")


class FirstMaximum:
    """One indicator per slot of each window: is that slot the window's first maximum?

    ``windows[w]`` lists window ``w``'s element ids in scan order (row-major),
    padded with :data:`NO_FACTOR`. Factor ``w * width + j`` is the indicator
    of slot ``j``; exactly one slot per window is 1 at any values, so
    ``sum_j x_j [j wins]`` is the window's maximum, ties going to the first
    as in PyTorch. A window of one element needs no indicator (it is 1).
    """

    derivative = None

    def __init__(self, windows):
        self.windows = np.asarray(windows, dtype=np.int64).reshape(len(windows), -1)
        self.width = self.windows.shape[1]
        self.size = self.windows.size

    def values(self, elements, dtype):
        real = self.windows != NO_FACTOR
        gathered = elements[np.where(real, self.windows, 0)]
        missing = (_missing(gathered, dtype) & real).any(axis=1)
        ranked = np.where(real, gathered, -np.inf)
        if dtype is object:
            ranked[missing] = 0
        winner = np.argmax(ranked, axis=1)  # the first maximum, as PyTorch picks it
        out = np.zeros(self.windows.shape, dtype=dtype)
        out[np.arange(len(out)), winner] = 1
        out[missing] = None if dtype is object else np.nan
        return out.reshape(-1)

    def sympy(self, k: int, space):
        from symconv.symbolic.piecewise import first_maximum_indicator

        window = [int(i) for i in self.windows[k // self.width] if i != NO_FACTOR]
        elements = [space.sympy_elements[i] for i in window]
        ranks = [int(space.string_rank[i]) for i in window]
        return first_maximum_indicator(elements, k % self.width, ranks)

    def comparisons(self, rank):
        """See :meth:`_comparisons`; computed once (a family belongs to spaces of the same elements)."""
        if getattr(self, "_compared", None) is None:
            self._compared = self._comparisons(rank)
        return self._compared

    def _comparisons(self, rank):
        """Each indicator's condition in SymPy's canonical form, comparisons in And's order.

        Returns ``(codes, lhs, rhs, keys, counts)``: per factor (rows) the
        sorted comparisons' codes (:data:`_GE` ...), left and right element
        ids, their sort keys (code, left and right ranks in one integer), and
        how many there are. SymPy writes ``a > b`` with the element that
        sorts first on the left, turning the relation round when needed, and
        sorts an And's comparisons by class name, then left, then right side.
        """
        n, m = self.windows.shape
        candidate = np.broadcast_to(self.windows[:, :, None], (n, m, m))
        other = np.broadcast_to(self.windows[:, None, :], (n, m, m))
        j, i = np.indices((m, m))
        valid = (candidate != NO_FACTOR) & (other != NO_FACTOR) & (i != j)
        strict = np.broadcast_to(i < j, (n, m, m))  # earlier elements must be beaten strictly
        ahead = rank[np.maximum(candidate, 0)] < rank[np.maximum(other, 0)]
        codes = np.where(ahead, np.where(strict, _GT, _GE), np.where(strict, _LT, _LE))
        lhs, rhs = np.where(ahead, candidate, other), np.where(ahead, other, candidate)
        top = int(rank.max()) + 1 if len(rank) else 1
        keys = (codes * top + rank[np.maximum(lhs, 0)]) * top + rank[np.maximum(rhs, 0)]
        keys = np.where(valid, keys, -1)
        order = np.argsort(np.where(valid, keys, np.iinfo(np.int64).max), axis=2, kind="stable")[:, :, : m - 1]
        pick = lambda a: np.take_along_axis(a, order, axis=2).reshape(n * m, m - 1)  # noqa: E731
        return pick(codes), pick(lhs), pick(rhs), pick(keys), valid.sum(axis=2).reshape(-1)

    def str_texts(self, space):
        """SymPy's ``str`` of every indicator (None where a window's slot is empty or alone)."""
        codes, lhs, rhs, _, counts = self.comparisons(space.string_rank)
        texts = np.full(len(counts), None, dtype=object)
        if not codes.shape[1]:  # windows of one element: no indicator at all
            return texts
        used = np.arange(codes.shape[1]) < counts[:, None]
        codes, lhs, rhs = codes[used], lhs[used], rhs[used]
        # "(x[..] >= " and "x[..])" per element, so each comparison is one concatenation
        names = np.array(space.strings, dtype=object)
        left = np.stack(["(" + names + operator for operator in _OPERATORS.tolist()])
        compared = (left[codes, lhs] + (names + ")")[rhs]).tolist()
        ends = np.cumsum(counts).tolist()
        starts = [0] + ends[:-1]
        texts[:] = [None if a == b else "Piecewise((1, " + compared[a][1:-1] + "), (0, True))" if b == a + 1
                    else "Piecewise((1, " + " & ".join(compared[a:b]) + "), (0, True))"
                    for a, b in zip(starts, ends)]
        return texts

    def sort_ranks(self, space) -> np.ndarray:
        """Each indicator's rank in SymPy's order of these Piecewise objects (``default_sort_key``).

        Two indicators compare by their conditions: an And (class name
        'And') before a lone comparison; Ands by their number of
        comparisons, then comparison by comparison (class name, left, right);
        lone comparisons by class name, then left and right side.
        """
        codes, _, _, keys, counts = self.comparisons(space.string_rank)
        first = codes[:, 0] if codes.shape[1] else np.zeros(len(counts), dtype=np.int64)
        several = counts > 1
        columns = [np.where(several, 0, first), np.where(several, counts, 2)] + [keys[:, k] for k in range(keys.shape[1])]
        order = np.lexsort(columns[::-1])
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[order] = np.arange(len(order))
        return ranks


class Step:
    """``Piecewise((1, z > 0), (slope, True))`` for each element id in ``args``: a (leaky) ReLU's slope."""

    derivative = None

    def __init__(self, args, slope):
        self.args = np.asarray(args, dtype=np.int64)
        self.slope = Fraction(slope)
        self.size = len(self.args)

    def values(self, elements, dtype):
        z = elements[self.args]
        slope = self.slope if dtype is object else float(self.slope)
        out = np.where(_missing(z, dtype), None if dtype is object else np.nan, 0).astype(dtype)
        known = ~_missing(z, dtype)
        out[known] = np.where(z[known] > 0, 1, slope)
        return out

    def sympy(self, k: int, space):
        from sympy import Rational, S

        from symconv.symbolic.piecewise import piecewise

        z = space.sympy_elements[int(self.args[k])]
        return piecewise((S.One, z > 0), (Rational(self.slope.numerator, self.slope.denominator), True))

    def str_texts(self, space):
        names = np.array(space.strings, dtype=object)[self.args]
        return "Piecewise((1, " + names + f" > 0), ({rational_str(self.slope)}, True))"

    def sort_ranks(self, space) -> np.ndarray:
        return np.argsort(np.argsort(space.string_rank[self.args], kind="stable"), kind="stable")


class Ramp(Step):
    """``Piecewise((z, z > 0), (slope*z, True))``: a (leaky) ReLU's output; its derivative is a :class:`Step`."""

    def __init__(self, args, slope):
        super().__init__(args, slope)
        self.derivative = Step(self.args, self.slope)

    def values(self, elements, dtype):
        z = elements[self.args]
        slope = self.slope if dtype is object else float(self.slope)
        known = ~_missing(z, dtype)
        out = np.array(z, dtype=dtype)
        out[known] = np.where(z[known] > 0, z[known], z[known] * slope)
        return out

    def sympy(self, k: int, space):
        from sympy import Rational

        from symconv.symbolic.piecewise import piecewise

        z = space.sympy_elements[int(self.args[k])]
        return piecewise((z, z > 0), (Rational(self.slope.numerator, self.slope.denominator) * z, True))

    def str_texts(self, space):
        names = np.array(space.strings, dtype=object)[self.args]
        return np.array([f"Piecewise(({z}, {z} > 0), ({times_str(self.slope, z)}, True))" for z in names.tolist()],
                        dtype=object)
