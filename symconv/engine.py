"""The differentiation engine: gradients of a forward, by the chain rule.

Given outputs ``y_i`` as expressions and the upstream gradient ``dy``, the
loss is ``L = sum_i dy_i y_i`` and for every input element ``a``

.. math::  \\frac{\\partial L}{\\partial a} = \\sum_i dy_i \\frac{\\partial y_i}{\\partial a}.

Sparsity is used from the start: each ``y_i`` is visited once and only the
elements it actually contains receive a term, so the cost is linear in the
number of terms (differentiating L itself w.r.t. every input is quadratic).

The rule that gives ``dy_i/da`` is the product rule. A forward held as a
:class:`~symconv.terms.TermTable` (a sum of products per output, which is
what a convolution is) is differentiated all at once with arrays: for every
term and every factor slot, the term's derivative with respect to that
factor is the product of the other factors (its co-factor), so the whole
chain rule is one pass over the forward's terms,
:func:`differentiate_terms`. Forwards given as SymPy expressions (anything
that is not a plain sum of products) go through :func:`differentiate`, with

* ``"structural"``: the same co-factor rule on each product term, and
  SymPy's ``diff`` for anything else (powers, functions);
* ``"sympy"``: ``sympy.diff(y_i, a)`` for each element ``a`` of ``y_i``.

Tests show all of them equal to SymPy's ``diff``, entry by entry, on a grid
of layers.

>>> from symconv.spec import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> d.gradients["dx"][(0, 0, 1)]
dy[0, 0, 0]*w[0, 0, 1] + dy[0, 0, 1]*w[0, 0, 0]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from sympy import Add, Indexed, Mul, S, diff

from symconv.forward import conv_forward
from symconv.spec import DEFAULT_MAX_TERMS, ConvSpec, check_size
from symconv.tensors import element, gradient_name, indices
from symconv.terms import NO_FACTOR, TermTable

METHODS = ("structural", "sympy")


def _structural_partials(term, wanted):
    """Yield ``(a, d term / d a)`` for each element ``a`` of ``term`` in ``wanted``."""
    factors = Mul.make_args(term)
    for position, factor in enumerate(factors):
        if isinstance(factor, Indexed):
            if factor.base.name not in wanted:
                continue
            others = factors[:position] + factors[position + 1:]
            if any(other.has(factor) for other in others):
                yield factor, diff(term, factor)
            else:
                yield factor, Mul(*others)
        else:
            # A power or a function of elements: no co-factor shortcut.
            for atom in factor.atoms(Indexed):
                if atom.base.name in wanted:
                    yield atom, diff(term, atom)


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


def differentiate_terms(forward: TermTable, wrt, upstream: str = "dy") -> dict[str, TermTable]:
    """Gradients of ``L = sum_i upstream_i * forward_i`` by the product rule, vectorized.

    For a term ``t = f_1 f_2 ... f_k`` of output ``i`` and each slot ``j``,
    ``d t / d f_j`` is the product of the other factors, so the gradient of
    the tensor owning ``f_j`` receives the term ``upstream_i * prod_{l != j} f_l``
    at ``f_j``'s entry. A factor repeated in a term contributes once per slot,
    which is the product rule for powers. The upstream tensor must be in the
    forward's element space, with the forward's shape.
    """
    space = forward.space
    upstream_ids = space.offsets[upstream] + forward.entry
    width = forward.factors.shape[1]
    owners = space.owner(np.where(forward.factors == NO_FACTOR, 0, forward.factors))
    pieces = {name: ([], []) for name in wrt}
    for slot in range(width):
        ids = forward.factors[:, slot]
        others = [forward.factors[:, j] for j in range(width) if j != slot]
        for name in wrt:
            mine = (ids != NO_FACTOR) & (owners[:, slot] == space.names.index(name))
            if not mine.any():
                continue
            entries, factors = pieces[name]
            entries.append(ids[mine] - space.offsets[name])
            factors.append(np.stack([upstream_ids[mine]] + [o[mine] for o in others], axis=1))
    gradients = {}
    for name in wrt:
        entries, factors = pieces[name]
        if not entries:
            entries, factors = [np.zeros(0, np.int64)], [np.zeros((0, width), np.int64)]
        gradients[gradient_name(name)] = TermTable(
            space, space.shapes[name], np.concatenate(entries), np.concatenate(factors)
        )
    return gradients


@dataclass(frozen=True)
class Derivation:
    """A layer, its forward and the gradients derived from it.

    ``forward`` and each ``gradients[name]`` map an index to a SymPy
    expression (a :class:`~symconv.terms.TermTable` or a dict).
    """

    spec: ConvSpec
    forward: dict = field(repr=False)
    gradients: dict = field(repr=False)

    @property
    def shapes(self) -> dict[str, tuple[int, ...] | None]:
        return {
            "x": self.spec.input,
            "w": self.spec.weight,
            "b": self.spec.bias_shape,
            "y": self.spec.output_shape,
        }


def derive(spec: ConvSpec, method: str = "terms", max_terms: int = DEFAULT_MAX_TERMS) -> Derivation:
    """Build the forward of ``spec`` and differentiate it into dx, dw, db.

    ``method`` is ``"terms"`` (the vectorized product rule, default), or
    ``"structural"`` / ``"sympy"`` to differentiate SymPy expressions of the
    same forward one output at a time (slow; kept to prove the fast path).
    """
    check_size(spec, max_terms)
    forward = conv_forward(spec)
    wrt = ["x", "w"] + (["b"] if spec.bias else [])
    if method == "terms":
        return Derivation(spec, forward, differentiate_terms(forward, wrt))
    expressions = dict(forward.items())
    shapes = {name: forward.space.shapes[name] for name in wrt}
    return Derivation(spec, expressions, differentiate(expressions, shapes, method=method))
