"""Derive a layer or a stack: one loop over layers, each differentiated by its own rule.

A single layer is a chain of one. Each layer's forward comes from its rule
(:mod:`symconv.layers`), with the layer's tensor names; its gradients are
those of ``L = sum(d{y} * y)`` (:mod:`symconv.engine.differentiate`), so
in a stack each layer's upstream gradient is the one the layer above
derived for its input, as in a hand derivation's chain.

>>> from symconv.spec.conv import conv_spec
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> d.gradients["dx"][(0, 0, 1)]
dy[0, 0, 0]*w[0, 0, 1] + dy[0, 0, 1]*w[0, 0, 0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fractions import Fraction

from symconv.engine.differentiate import differentiate, differentiate_terms
from symconv.errors import SymconvError
from symconv.layers import rule_for
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size
from symconv.spec.stack import tensor_names
from symconv.symbolic.terms import TermTable

METHODS = ("terms", "structural", "sympy")
REDUCTIONS = ("sum", "mean")
#: A lone layer's tensor names (a stack's are numbered, see :func:`symconv.spec.stack.tensor_names`).
LAYER_NAMES = {"x": "x", "y": "y", "w": "w", "b": "b"}


@dataclass(frozen=True)
class Derivation:
    """A layer, its forward and the gradients derived from it.

    ``forward`` and each ``gradients[name]`` map an index to a SymPy
    expression (a :class:`~symconv.symbolic.terms.TermTable` or a dict).
    ``shapes`` names every tensor involved (``None`` for an absent bias);
    ``reduction`` is ``"sum"`` (``L = sum dy*y``) or ``"mean"`` (divided by the batch N).
    """

    spec: object
    forward: dict = field(repr=False)
    gradients: dict = field(repr=False)
    shapes: dict = field(repr=False)
    reduction: str = "sum"

    #: Printers and verifiers show a stack's chain; a single layer has none.
    is_stack = False


@dataclass(frozen=True)
class StackDerivation:
    """Each layer's forward and gradients, with per-layer tensor names.

    ``names[k]``, ``forward[k]`` and ``gradients[k]`` are layer k's (0-based);
    ``shapes`` names every tensor of the stack.
    """

    spec: object
    names: list = field(repr=False)
    forward: list = field(repr=False)
    gradients: list = field(repr=False)
    shapes: dict = field(repr=False)
    reduction: str = "sum"

    is_stack = True


def _scaled(table, factor: Fraction):
    """A gradient table times a number (for the mean reduction): a TermTable scales its terms' constants."""
    if isinstance(table, TermTable):
        return table.scaled(factor)
    from sympy import Mul, Rational

    return {index: Mul(Rational(factor.numerator, factor.denominator), expr) for index, expr in table.items()}


def derive_layer(spec, names=LAYER_NAMES, method: str = "terms"):
    """``(forward, gradients, tensors)`` of one layer, its tensors named by ``names``.

    A forward held as a TermTable is differentiated by the vectorized
    product rule (``method="terms"``) or, as SymPy expressions, one output
    at a time (``"structural"`` / ``"sympy"``, slow; kept to prove the fast
    path); other forwards always one output at a time.
    """
    rule = rule_for(spec)
    upstream = "d" + names["y"]
    forward = rule.forward(spec, {**names, "dy": upstream})
    tensors = rule.tensors(spec, names)
    wrt = {name: shape for name, shape in tensors.items() if shape is not None}
    if isinstance(forward, TermTable) and method == "terms":
        return forward, differentiate_terms(forward, list(wrt), upstream), tensors
    if isinstance(forward, TermTable):
        forward = dict(forward.items())
    one_at_a_time = "structural" if method == "terms" else method
    return forward, differentiate(forward, wrt, upstream=upstream, method=one_at_a_time), tensors


def derive(spec, method: str = "terms", max_terms: int | None = DEFAULT_MAX_TERMS, reduction: str = "sum"):
    """Build the forward of ``spec`` (a layer or a stack) and differentiate it into its gradients.

    A convolution gives dx, dw (and db); a pooling or activation layer dx; a
    stack every tensor, layer by layer, the last layer's upstream being dy.
    With ``reduction="mean"`` the loss is divided by the batch size N: the
    last layer's gradients carry 1/N, and the layers below inherit it
    through their upstream gradients. ``max_terms=None`` skips the size
    guard, for a caller that has run it (:func:`symconv.spec.size.check_size`)
    before importing SymPy.
    """
    if reduction not in REDUCTIONS:
        raise SymconvError(f"reduction: got {reduction!r}, expected one of {', '.join(REDUCTIONS)}")
    if method not in METHODS:
        raise SymconvError(f"method: got {method!r}, expected one of {', '.join(METHODS)}")
    if max_terms is not None:
        check_size(spec, max_terms)
    layers, names = (spec.layers, tensor_names(spec)) if spec.is_stack else ((spec,), [LAYER_NAMES])
    forwards, gradients, shapes = [], [], {names[0]["x"]: spec.input}
    for layer, name in zip(layers, names):
        forward, grads, tensors = derive_layer(layer, name, method)
        shapes.update(tensors)
        shapes[name["y"]] = layer.output_shape
        forwards.append(forward)
        gradients.append(grads)
    if reduction == "mean":
        factor = Fraction(1, spec.input[0])
        gradients[-1] = {name: _scaled(table, factor) for name, table in gradients[-1].items()}
    if spec.is_stack:
        return StackDerivation(spec, names, forwards, gradients, shapes, reduction)
    return Derivation(spec, forwards[0], gradients[0], shapes, reduction)


def derive_stack(spec, max_terms: int = DEFAULT_MAX_TERMS, reduction: str = "sum") -> StackDerivation:
    """:func:`derive` for a stack spec (the name reads better where only stacks are meant)."""
    return derive(spec, max_terms=max_terms, reduction=reduction)
