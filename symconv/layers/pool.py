r"""Forward definitions of pooling and activation layers, as SymPy expressions.

Max pooling is written so that differentiating it gives PyTorch's gradient
for every input, ties included. Each output is

.. math::  y_o = \sum_{a \in W_o} x_a \, [x_a \text{ is the first maximum of } W_o]

where the indicator is a ``Piecewise`` whose condition says that ``x_a`` is
greater than every element before it in the window (row-major scan order)
and at least every element after it. Exactly one indicator per window is 1,
so ``y_o`` equals the maximum, and since an indicator is constant wherever it
is differentiable, ``d y_o / d x_a`` is the indicator itself: ``dy_o`` goes to
the first maximum, as PyTorch's CPU kernels send it. Padding is -inf and
never selected, so padded positions simply do not appear.

Every ``Piecewise`` is built in the form SymPy's own constructor gives it
(each comparison canonical: ``x[0, 0, 0] < x[0, 0, 1]`` rather than
``x[0, 0, 1] > x[0, 0, 0]``), without running that constructor's checks, so
the JSON contract's strings read back with ``parse_expr`` to expressions
equal to these.

Average pooling is ``y_o = (1/divisor) * sum of the window's in-bounds x``;
ReLU is ``Piecewise((x, x > 0), (0, True))`` (derivative 0 at 0, as PyTorch)
and leaky ReLU ``Piecewise((x, x > 0), (slope*x, True))`` (slope at 0).

>>> from symconv.spec.pool import pool_spec
>>> y = pool_forward(pool_spec("maxpool1d", (1, 1, 2), kernel=2))
>>> y[(0, 0, 0)]
Piecewise((1, x[0, 0, 0] >= x[0, 0, 1]), (0, True))*x[0, 0, 0] + Piecewise((1, x[0, 0, 0] < x[0, 0, 1]), (0, True))*x[0, 0, 1]
"""

from __future__ import annotations

import itertools

from sympy import (
    Add, And, Basic, GreaterThan, LessThan, Mul, Piecewise, Rational, S, StrictGreaterThan, StrictLessThan,
    default_sort_key,
)
from sympy.core.sympify import _sympify
from sympy.functions.elementary.piecewise import ExprCondPair

from symconv.spec.pool import ActivationSpec, PoolSpec
from symconv.engine.tensors import element, indices


def canonical_ranks(elements) -> dict:
    """Each element's position in SymPy's canonical order of ``elements``.

    ``sympy.ordered`` sorts by node count, then ``default_sort_key``; the
    elements of one tensor all have the same node count, so the second
    decides (for an ``Indexed`` it compares the printed name: ``x[0, 10]``
    comes before ``x[0, 2]``).
    """
    return {e: position for position, e in enumerate(sorted(set(elements), key=default_sort_key))}


#: ``strict -> (relation, the same relation turned round)``.
_RELATIONS = {True: (StrictGreaterThan, StrictLessThan), False: (GreaterThan, LessThan)}


def beats(candidate, other, strict: bool, ranks):
    """``candidate > other`` (or ``>=``) in the form ``Relational.canonical`` gives it.

    SymPy's ``Piecewise`` makes every condition canonical when it is built,
    so ``parse_expr`` of the printed ``x[0, 1] > x[0, 0]`` holds
    ``x[0, 0] < x[0, 1]``: the sides in canonical order (``ranks`` gives the
    two elements' :func:`canonical_ranks`), the relation turned round.
    Written that way from the start, the derived expressions and the ones
    read back from their JSON are the same objects.

    Returns ``(key, comparison)``, ``key`` being the comparison's place in
    SymPy's order of comparisons (see :func:`all_of`).
    """
    relation, reversed_relation = _RELATIONS[strict]
    mine, theirs = ranks
    if mine < theirs:
        return (relation.__name__, mine, theirs), relation(candidate, other, evaluate=False)
    return (reversed_relation.__name__, theirs, mine), reversed_relation(other, candidate, evaluate=False)


def all_of(keyed):
    """``And`` of ``(key, comparison)`` pairs from :func:`beats`, between distinct elements.

    The same object as SymPy's ``And`` builds (a test holds them equal),
    without ``And``'s search for duplicate or contradictory conditions, of
    which a window has none: that search cost about 0.6 ms for a 3x3
    window's eight comparisons, seconds for a 32x32 max pool. ``And`` sorts
    its arguments with ``sympy.ordered``: comparisons between elements of
    one tensor have equal node counts, and ``default_sort_key`` orders them
    by class name, then left side, then right side, which is what the keys
    say with the elements' ranks in place of their (slow) sort keys.
    """
    if len(keyed) == 1:
        return keyed[0][1]
    conditions = [comparison for _, comparison in sorted(keyed, key=lambda pair: pair[0])]
    conjunction = Basic.__new__(And, *conditions)
    conjunction._argset = frozenset(conditions)
    return conjunction


def piecewise(*pieces):
    """``Piecewise(*pieces)`` as SymPy builds it, for conditions already canonical.

    On canonical conditions, none repeated or contradicting an earlier one
    and the last one True, SymPy's constructor changes nothing unless two
    neighbouring pieces have the same value, which it merges (leaky ReLU of
    slope 1 is just ``x``); only then is it run, since it costs ~0.2 ms a
    call. Otherwise the pieces are assembled directly: ``ExprCondPair``'s
    own checks (is the condition True, does it hold a Piecewise) took a
    fifth of a max pool's derivation.
    """
    values = [value for value, _ in pieces]
    if any(a == b for a, b in zip(values, values[1:])):
        return Piecewise(*pieces)
    pairs = (Basic.__new__(ExprCondPair, _sympify(value), _sympify(condition)) for value, condition in pieces)
    return Basic.__new__(Piecewise, *pairs)


def first_maximum_indicator(window, j, ranks=None):
    """``Piecewise((1, cond), (0, True))``: ``window[j]`` is the window's first maximum.

    ``cond`` says ``window[j] > e`` for every ``e`` before it in scan order
    and ``window[j] >= e`` for every ``e`` after it, each comparison in
    SymPy's canonical form (:func:`beats`). ``ranks`` holds the window's
    :func:`canonical_ranks`, in window order.
    """
    if len(window) == 1:
        return S.One
    if ranks is None:
        rank = canonical_ranks(window)
        ranks = [rank[e] for e in window]
    candidate, mine = window[j], ranks[j]
    keyed = [beats(candidate, window[i], i < j, (mine, ranks[i])) for i in range(len(window)) if i != j]
    return piecewise((S.One, all_of(keyed)), (S.Zero, S.true))


def _window_elements(spec: PoolSpec, index, input_name):
    """The in-bounds elements of one output's window, in row-major scan order."""
    n, c, position = index[0], index[1], index[2:]
    per_axis = [spec.windows(axis)[o][1] for axis, o in enumerate(position)]
    return [element(input_name, (n, c) + where) for where in itertools.product(*per_axis)]


def pool_forward(spec: PoolSpec, input_name: str = "x") -> dict:
    """Every output of a max or average pooling layer, keyed by index."""
    forward = {}
    if spec.is_max:  # ranked once: an element recurs in many windows
        rank = canonical_ranks(element(input_name, i) for i in indices(spec.input))
    for index in indices(spec.output_shape):
        window = _window_elements(spec, index, input_name)
        if spec.is_max:
            ranks = [rank[a] for a in window]
            forward[index] = Add(*(Mul(a, first_maximum_indicator(window, j, ranks)) for j, a in enumerate(window)))
        else:
            forward[index] = Mul(Rational(1, spec.divisor(index)), Add(*window))
    return forward


def activation_forward(spec: ActivationSpec, input_name: str = "x") -> dict:
    """Every output of ReLU or leaky ReLU, keyed by index."""
    forward = {}
    for index in indices(spec.input):
        z = element(input_name, index)
        forward[index] = piecewise((z, z > 0), (Rational(spec.negative_slope) * z, True))
    return forward
