"""The differentiation engine: gradients of a forward, by the chain rule.

Given outputs ``y_i`` as expressions and the upstream gradient ``dy``, the
loss is ``L = sum_i dy_i y_i`` and for every input element ``a``

.. math::  \\frac{\\partial L}{\\partial a} = \\sum_i dy_i \\frac{\\partial y_i}{\\partial a}.

Sparsity is used from the start: each ``y_i`` is visited once and only the
elements it actually contains receive a term, so the cost is linear in the
number of terms (differentiating L itself w.r.t. every input is quadratic).

Two interchangeable rules give ``dy_i/da``:

* ``"structural"`` (default): y_i is a sum of products; the derivative of a
  product with respect to a factor that occurs in it exactly once, to the
  first power, is the product of the other factors (its co-factor). Anything
  else (powers, functions) falls back to SymPy's ``diff`` on that term.
* ``"sympy"``: ``sympy.diff(y_i, a)`` for each element ``a`` of ``y_i``.

Tests show the two equal, entry by entry, on a grid of layers.

>>> from symconv.spec import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> d.gradients["dx"][(0, 0, 1)]
dy[0, 0, 0]*w[0, 0, 1] + dy[0, 0, 1]*w[0, 0, 0]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from sympy import Add, Indexed, Mul, S, diff

from symconv.forward import conv_forward
from symconv.spec import DEFAULT_MAX_TERMS, ConvSpec, check_size
from symconv.tensors import element, gradient_name, indices

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


@dataclass(frozen=True)
class Derivation:
    """A layer, its forward expressions and the gradients derived from them."""

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


def derive(spec: ConvSpec, method: str = "structural", max_terms: int = DEFAULT_MAX_TERMS) -> Derivation:
    """Build the forward of ``spec`` and differentiate it into dx, dw, db."""
    check_size(spec, max_terms)
    forward = conv_forward(spec)
    wrt = {"x": spec.input, "w": spec.weight}
    if spec.bias:
        wrt["b"] = spec.bias_shape
    return Derivation(spec, forward, differentiate(forward, wrt, method=method))
