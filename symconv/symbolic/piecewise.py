r"""Comparisons and ``Piecewise`` built exactly as SymPy's constructors would build them.

Max pooling and the ReLUs are written with ``Piecewise`` indicators; SymPy's
``Piecewise`` and ``And`` put every comparison in a canonical form when they
are built, so the JSON contract's strings read back with ``parse_expr`` to
expressions equal to the derived ones only if the derivation writes them in
that form from the start. This module builds them so, without running the
constructors' checks (which cost seconds on a 32x32 max pool).

>>> from sympy import IndexedBase
>>> x = IndexedBase("x")
>>> first_maximum_indicator([x[0], x[1]], 0)
Piecewise((1, x[0] >= x[1]), (0, True))
"""

from __future__ import annotations

from sympy import (
    And, Basic, GreaterThan, LessThan, Piecewise, S, StrictGreaterThan, StrictLessThan,
    default_sort_key,
)
from sympy.core.sympify import _sympify
from sympy.functions.elementary.piecewise import ExprCondPair



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
