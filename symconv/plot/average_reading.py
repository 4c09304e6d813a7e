r"""What an average pool's pictures show, read off its derivation: dy/dx and one dx entry's coefficients.

An average's gradient needs no values of x: ``dx_a`` is the sum of the
``dy_o`` whose windows hold ``x_a``, each times that window's ``1/divisor``
(PyTorch's divisor: the padded window, the in-bounds count, or
``divisor_override``; an adaptive window's own size), so overlapping
windows add up.

* :func:`avgpool_jacobian`: the matrix :math:`\partial y / \partial x`
  (rows y, columns x, row-major flat indices) as :class:`fractions.Fraction`,
  read off the forward's term table: each term is an element of x times the
  table's constant, and nothing here computes a divisor.
* :func:`avgpool_routing`: the coefficient of every dy in one derived entry
  ``gradients["dx"][at]``, read off its terms.

Both work on a forward held as a term table and on one held as SymPy
expressions (``derive(spec, method="sympy")``); tests hold them equal to the
reference kernel's backward and to PyTorch's autograd.
:mod:`symconv.plot.average` draws them.

>>> from symconv.spec.pool import pool_spec
>>> from symconv.engine.derive import derive
>>> d = derive(pool_spec("avgpool1d", (1, 1, 4), kernel=2, stride=1))
>>> [[str(v) for v in row] for row in avgpool_jacobian(d)]
[['1/2', '1/2', '0', '0'], ['0', '1/2', '1/2', '0'], ['0', '0', '1/2', '1/2']]
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from symconv.errors import SymconvError
from symconv.layers import rule_for
from symconv.plot.pool import check_pool_jacobian_size
from symconv.plot.reading import check_index

#: What these pictures draw, for refusals.
AVERAGE_LAYERS = "a 1-D or 2-D average pool (avgpool1d, avgpool2d, adaptive_avgpool1d or adaptive_avgpool2d)"


def check_average(spec) -> None:
    """Refuse a layer that is not a 1-D or 2-D average pool (weightless, linear, x and y of one rank)."""
    if spec.is_stack or spec.parameters or len(spec.input) not in (3, 4) \
            or len(spec.output_shape) != len(spec.input) or not rule_for(spec).smooth or rule_for(spec).curved:
        raise SymconvError(f"layer: got {spec.kind}, expected {AVERAGE_LAYERS} for an average-pool picture")


def check_avgpool_jacobian_size(spec) -> None:
    """Refuse, before deriving, a layer these pictures do not draw or a dy/dx too large to draw."""
    check_average(spec)
    check_pool_jacobian_size(spec)


# -- reading the derivation -------------------------------------------------------


def _number(value, where):
    """A SymPy number as a Fraction; a coefficient that is not rational is not an average's."""
    if not value.is_Rational:
        raise SymconvError(f"{where}: got the coefficient {value}, expected a rational number (an average pool's)")
    return Fraction(int(value.p), int(value.q))


def _linear_terms(expr, name, where):
    """``[(index of name, Fraction)]``: the terms of a sum of ``number * name[index]``."""
    from sympy import Add, Indexed

    found = []
    for term in Add.make_args(expr):
        if term == 0:
            continue
        coefficient, rest = term.as_coeff_Mul()
        if not (isinstance(rest, Indexed) and rest.base.name == name):
            raise SymconvError(f"{where}: got the term {term}, expected a number times an element of {name}")
        found.append((tuple(int(i) for i in rest.indices), _number(coefficient, where)))
    return found


def _table_terms(table, name):
    """``(entry, element, coefficient)`` of a term table whose terms are one element of ``name`` times constants."""
    space = table.space
    factors = table.factors
    used = factors >= 0
    constant = factors >= space.constant_offset
    element = used & ~constant
    count = element.sum(axis=1)
    ids = np.where(element, factors, -1).max(axis=1) if len(factors) else np.zeros(0, dtype=np.int64)
    start, size = space.offsets.get(name, 0), math.prod(space.shapes.get(name, (0,)))
    wrong = (count != 1) | (ids >= space.size) | (ids < start) | (ids >= start + size)
    if name not in space.shapes or wrong.any():
        bad = int(np.argmax(wrong)) if len(wrong) else 0
        raise SymconvError(f"layer: got the term {table[np.unravel_index(table.entry[bad], table.shape)]}, "
                           f"expected a number times an element of {name} (an average pool's terms)")
    values = np.array(list(space.constants) + [Fraction(1)], dtype=object)
    coefficients = np.full(len(factors), Fraction(1), dtype=object)
    for column in range(factors.shape[1]):
        which = np.where(constant[:, column], factors[:, column] - space.constant_offset, len(values) - 1)
        coefficients = coefficients * values[which]
    return table.entry, ids - start, coefficients


def sparse_jacobian(derivation):
    """``(rows, columns, coefficients)`` of dy/dx's nonzero entries, read off the forward."""
    from symconv.symbolic.terms import TermTable

    forward = derivation.forward
    if isinstance(forward, TermTable):
        rows, columns, coefficients = _table_terms(forward, "x")
    else:
        rows, columns, values = [], [], []
        for row, index in enumerate(np.ndindex(*derivation.spec.output_shape)):
            for element, value in _linear_terms(forward[index], "x", f"y{index}"):
                rows.append(row)
                columns.append(int(np.ravel_multi_index(element, derivation.shapes["x"])))
                values.append(value)
        rows, columns = np.array(rows, dtype=np.int64), np.array(columns, dtype=np.int64)
        coefficients = np.array(values + [None], dtype=object)[:-1]
    keep = coefficients != 0
    return rows[keep], columns[keep], coefficients[keep]


def avgpool_jacobian(derivation) -> np.ndarray:
    r""":math:`\partial y / \partial x` as a matrix of Fractions: rows y, columns x, both row-major flat."""
    check_average(derivation.spec)
    rows, columns, coefficients = sparse_jacobian(derivation)
    matrix = np.full((math.prod(derivation.spec.output_shape), math.prod(derivation.spec.input)), Fraction(0),
                     dtype=object)
    np.add.at(matrix, (rows, columns), coefficients)
    return matrix


def avgpool_routing(derivation, at) -> np.ndarray:
    """The coefficient of each dy in ``gradients["dx"][at]``, a Fraction array of dy's shape (0 where absent)."""
    check_average(derivation.spec)
    at = check_index(derivation, "x", at)
    coefficients = np.full(derivation.spec.output_shape, Fraction(0), dtype=object)
    for index, value in _linear_terms(derivation.gradients["dx"][at], "dy", f"dx{at}"):
        coefficients[index] += value
    return coefficients


def fraction_text(value: Fraction) -> str:
    """``1/4``, ``1``, ``-1/2``: a coefficient as a cell shows it."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


__all__ = ["avgpool_jacobian", "avgpool_routing", "sparse_jacobian", "check_average", "check_avgpool_jacobian_size",
           "fraction_text", "AVERAGE_LAYERS"]
