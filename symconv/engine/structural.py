"""The chain rule on SymPy expressions, one output at a time (the path the array rule is proved against).

Forwards given as SymPy expressions (anything that is not a plain sum of
products held in a table) go through :func:`differentiate`, with

* ``"structural"``: the co-factor rule on each product term, and SymPy's
  ``diff`` for anything else (powers, functions);
* ``"sympy"``: ``sympy.diff(y_i, a)`` for each element ``a`` of ``y_i``.

>>> from sympy import IndexedBase
>>> x, w = IndexedBase("x"), IndexedBase("w")
>>> forward = {(0,): w[0] * x[0] + w[1] * x[1], (1,): w[0] * x[1] + w[1] * x[2]}
>>> differentiate(forward, {"x": (3,)})["dx"][(1,)]
dy[0]*w[1] + dy[1]*w[0]
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Mapping

from sympy import Add, Dummy, Indexed, Mul, Piecewise, Pow, S, diff

from symconv.symbolic.piecewise import piecewise
from symconv.symbolic.tensors import element, gradient_name, indices

METHODS = ("structural", "sympy")


def _is_piecewise_constant(factor) -> bool:
    """An indicator-like ``Piecewise`` whose every value is a number.

    Its derivative is 0 wherever it is differentiable (its conditions only
    decide which constant applies), which is the convention PyTorch follows
    for comparisons (max pooling's argmax, ReLU's mask).
    """
    return isinstance(factor, Piecewise) and all(value.is_Number for value, _ in factor.args)


def _piecewise_partial(factor, atom):
    """``d/da Piecewise((e_i, c_i), ...) = Piecewise((d e_i/da, c_i), ...)``.

    The conditions are constant wherever the function is differentiable;
    this is SymPy's own rule, built without re-simplifying the conditions
    (the forward wrote them canonical already), but with neighbouring pieces
    of equal value merged as SymPy merges them (see
    :func:`~symconv.layers.piecewise.piecewise`).
    """
    return piecewise(*((diff(value, atom), condition) for value, condition in factor.args))


def _structural_partials(term, wanted):
    """Yield ``(a, d term / d a)`` for each element ``a`` of ``term`` in ``wanted``.

    The product rule, factor by factor: a factor equal to ``a`` contributes
    the product of the other factors (its co-factor), a piecewise-constant
    factor (an indicator) contributes 0, a lone ``Piecewise`` its piecewise
    derivative, and any other factor holding ``a`` (a power, a function)
    sends the whole term to SymPy's ``diff``.
    """
    factors = Mul.make_args(term)
    if all(f.is_Number or isinstance(f, Indexed) or _is_piecewise_constant(f) for f in factors):
        # The common case (conv, pooling): numbers, elements and indicators.
        # Only the elements standing as factors have a nonzero derivative, so
        # the rule below needs no search of the indicators' conditions, which
        # mention every element of a pooling window.
        plain = [f for f in factors if isinstance(f, Indexed) and f.base.name in wanted]
        for atom in sorted(set(plain), key=str):
            if plain.count(atom) == 1:
                i = factors.index(atom)
                yield atom, Mul(*(factors[:i] + factors[i + 1:]))
            else:
                yield atom, diff(term, atom)
        return
    atoms = {a for a in term.atoms(Indexed) if a.base.name in wanted}
    for atom in sorted(atoms, key=str):
        plain = [i for i, f in enumerate(factors) if f == atom]
        other = [f for f in factors if f != atom and f.has(atom)]
        if all(_is_piecewise_constant(f) for f in other):
            if len(plain) == 1:
                i = plain[0]
                yield atom, Mul(*(factors[:i] + factors[i + 1:]))
            elif plain:
                yield atom, diff(term, atom)
            # no plain occurrence: only indicators hold the atom, derivative 0
        elif not plain and len(other) == 1 and isinstance(other[0], Piecewise):
            rest = [f for f in factors if f is not other[0]]
            yield atom, Mul(*rest, _piecewise_partial(other[0], atom))
        else:
            yield atom, _function_partial(term, atom)


#: A placeholder for the element a function is differentiated by (see :func:`_function_partial`).
_ELEMENT = Dummy("element")


@lru_cache(maxsize=4096)
def _placeholder_partial(template):
    return diff(template, _ELEMENT)


def _function_partial(term, atom):
    """``d term / d atom`` for a term holding ``atom`` inside a function (sigmoid's ``1/(1 + exp(-x))``,
    ``tanh(x)``), by SymPy's ``diff``.

    ``diff`` by an ``Indexed`` element is about 20 ms for such a term, by a
    plain symbol well under 1 ms; and an element-wise layer repeats the same
    term for every element. So the element is replaced by a placeholder
    symbol, the derivative taken once per distinct term (cached) and the
    element put back.
    """
    return _put_back(_placeholder_partial(term.xreplace({atom: _ELEMENT})), atom)


def _put_back(expr, atom):
    """``expr`` with the placeholder replaced by ``atom``, its powers rebuilt unevaluated.

    Evaluating ``(1 + exp(-x))**-2`` again asks SymPy's assumptions about
    ``exp(-x)`` (about 2 ms); the power was canonical with the placeholder and
    stays so with an element, which has no more assumptions than it. Sums and
    products are rebuilt normally: their order depends on the names.
    """
    if expr == _ELEMENT:
        return atom
    if not expr.args or not expr.has(_ELEMENT):
        return expr
    args = [_put_back(arg, atom) for arg in expr.args]
    return Pow(*args, evaluate=False) if isinstance(expr, Pow) else expr.func(*args)


def _partials(expr, wanted, method):
    """All nonzero ``(a, dy_i/da)`` of one output expression."""
    if method == "sympy":
        for atom in sorted(expr.atoms(Indexed), key=str):
            if atom.base.name in wanted:
                yield atom, diff(expr, atom)
        return
    for term in Add.make_args(expr):
        yield from _structural_partials(term, wanted)


def differentiate(
    forward: Mapping[tuple, object],
    shapes: Mapping[str, tuple[int, ...]],
    upstream: str = "dy",
    method: str = "structural",
) -> dict[str, dict[tuple, object]]:
    """Gradients of ``L = sum_i upstream_i * forward_i`` w.r.t. each tensor.

    ``shapes`` names the tensors to differentiate by and their shapes; every
    element of each appears in the result, those no output touches as 0.
    """
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}, expected one of {METHODS}")
    wanted = set(shapes)
    collected = defaultdict(list)
    for index, expr in forward.items():
        upstream_element = element(upstream, index)
        for atom, partial in _partials(expr, wanted, method):
            if partial != 0:
                collected[atom].append(Mul(upstream_element, partial))
    gradients = {}
    for name, shape in shapes.items():
        table = {}
        for index in indices(shape):
            terms = collected.get(element(name, index))
            table[index] = Add(*terms) if terms else S.Zero
        gradients[gradient_name(name)] = table
    return gradients
