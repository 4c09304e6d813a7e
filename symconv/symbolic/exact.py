"""Exact sums of products in integer arithmetic, for :meth:`TermTable.evaluate` with ``dtype=object``.

Evaluating half a million terms in ``fractions.Fraction`` costs seconds: every
product and every sum normalises a fraction with a gcd. Here the flat values
(whatever :meth:`ElementSpace.flat_values` put there: tensor elements, and any
factor computed from them) are first brought to one common denominator ``D``,
so that each is an integer numerator ``n = v * D``. A term of a table ``W``
factors wide (empty slots hold the value 1, numerator ``D``) is then the
product of ``W`` numerators, worth ``D**W`` times the term, and an entry is
the sum of its terms' products divided by ``D**W`` once, at the end.

The products and sums run in NumPy ``int64`` when the result provably fits:
a float64 evaluation of the same sums over the numerators' absolute values
bounds every entry (int64 wraps modulo 2**64, so only the entries need to
fit, not every partial product; see :func:`_fits_int64`).
Otherwise they run on Python ints in object arrays, which never overflow and
still cost a fraction of ``Fraction``'s arithmetic. Values that are neither
ints nor Fractions (``None`` for a missing tensor, say) leave the work to
plain object arithmetic, as before.

>>> from fractions import Fraction
>>> flat = np.array([Fraction(1, 2), 3, Fraction(2, 3), 1], dtype=object)  # the last is the empty slot's 1
>>> exact_sums(flat, np.array([[0, 1], [2, 3]]), np.array([0, 0]), 1)
array([Fraction(13, 6)], dtype=object)
"""

from __future__ import annotations

import math
from fractions import Fraction
from operator import attrgetter

import numpy as np

#: Sums are kept in int64 only while this bounds them: half of int64's
#: range, which leaves room for the float64 bound's own rounding.
INT64_SAFE = 2**62

_numerator, _denominator = attrgetter("numerator"), attrgetter("denominator")


def common_numerators(flat: np.ndarray):
    """``(numerators, D)``: Python ints with ``flat == numerators / D``, or None.

    None when some value is neither an int nor a Fraction (bools and NumPy
    integers and bools count as ints: an indicator factor may be one).
    """
    values = flat.tolist()
    kinds = set(map(type, values))
    if not all(issubclass(kind, (int, np.integer, np.bool_, Fraction)) for kind in kinds):
        return None
    if Fraction not in kinds:
        return (values if kinds <= {int} else [int(v) for v in values]), 1
    if not kinds <= {int, Fraction}:
        values = [v if type(v) is Fraction else int(v) for v in values]
    denominators = list(map(_denominator, values))
    common = math.lcm(*set(denominators))
    return [n * (common // d) for n, d in zip(map(_numerator, values), denominators)], common


def exact_sums(flat: np.ndarray, factors: np.ndarray, entry: np.ndarray, size: int) -> np.ndarray:
    """``out[e] = sum over the rows t with entry[t] == e of prod(flat[factors[t]])``, exactly.

    ``factors`` holds indices into ``flat`` (no empty-slot markers: the
    caller points those at a 1 in ``flat``). Returns an object array of
    ``size`` Python ints, or Fractions where the value is not an integer.
    """
    scaled = common_numerators(flat)
    if scaled is None:
        return _object_sums(flat, factors, entry, size)
    numerators, common = scaled
    largest = max(map(abs, numerators), default=0)
    width = factors.shape[1]
    if largest < INT64_SAFE and _fits_int64(np.array(numerators, dtype=np.float64), factors, entry, size):
        column_values = np.array(numerators, dtype=np.int64)
        out = np.zeros(size, dtype=np.int64)
    else:
        column_values = np.array(numerators, dtype=object)
        out = np.zeros(size, dtype=object)  # Python 0s, which add exactly
    products = column_values[factors[:, 0]]
    for column in range(1, width):
        products *= column_values[factors[:, column]]
    np.add.at(out, entry, products)
    scale = common**width
    sums = out.tolist()
    result = np.empty(size, dtype=object)
    result[:] = sums if scale == 1 else [s // scale if s % scale == 0 else Fraction(s, scale) for s in sums]
    return result


def _fits_int64(magnitudes: np.ndarray, factors: np.ndarray, entry: np.ndarray, size: int) -> bool:
    """Whether every entry's sum of |products| stays below :data:`INT64_SAFE`.

    ``magnitudes`` are the numerators in float64. NumPy's int64 products
    and sums wrap modulo 2**64, which is still exact ring arithmetic: a
    partial product or partial sum may overflow on the way (a huge product
    later times 0, say), and an entry whose true value lies inside int64's
    range still comes out exact. So it is enough to bound each entry's
    value, by its sum of absolute products, which float64 computes here to
    a relative error far below the factor of two :data:`INT64_SAFE` leaves.
    """
    magnitudes = np.abs(magnitudes)
    products = magnitudes[factors[:, 0]]
    for column in range(1, factors.shape[1]):
        products = products * magnitudes[factors[:, column]]
    if not len(products):
        return True
    return bool(np.bincount(entry, weights=products, minlength=size).max() < INT64_SAFE)


def _object_sums(flat: np.ndarray, factors: np.ndarray, entry: np.ndarray, size: int) -> np.ndarray:
    """The same sums in plain object arithmetic, whatever the values are."""
    products = flat[factors[:, 0]]
    for column in range(1, factors.shape[1]):
        products = products * flat[factors[:, column]]
    out = np.zeros(size, dtype=object)
    np.add.at(out, entry, products)
    return out
