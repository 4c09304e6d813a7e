r"""ReLU and leaky ReLU: forward, reference, kinks and words.

ReLU is ``Piecewise((x, x > 0), (0, True))`` (derivative 0 at 0, as PyTorch)
and leaky ReLU ``Piecewise((x, x > 0), (slope*x, True))`` (slope at 0).

>>> from symconv.spec.activation import activation_spec
>>> activation_forward(activation_spec("relu", (1, 1, 2)))[(0, 0, 1)]
Piecewise((x[0, 0, 1], x[0, 0, 1] > 0), (0, True))
"""

from __future__ import annotations

import math

import numpy as np

from symconv.layers.activation_check import CHECK
from symconv.layers.rule import CONSTANT, LayerRule, input_only
from symconv.symbolic.atoms import Ramp
from symconv.symbolic.space import ElementSpace
from symconv.symbolic.terms import TermTable


def activation_forward(spec, input_name: str = "x", upstream: str = "dy") -> TermTable:
    """Every output of ReLU or leaky ReLU: one ramp factor per element (just the element for slope 1).

    The ramp's derivative, the step ``Piecewise((1, z > 0), (slope, True))``,
    is in the same space, for the engine to differentiate it into.
    """
    shapes = {input_name: spec.input, upstream: spec.output_shape}
    count = math.prod(spec.input)
    elements = np.arange(count, dtype=np.int64)  # the input comes first in the space
    if spec.negative_slope == 1:  # Piecewise((z, z > 0), (z, True)) is z
        return TermTable(ElementSpace(shapes), spec.output_shape, elements, elements[:, None])
    ramp = Ramp(elements, spec.negative_slope)
    space = ElementSpace(shapes, [ramp, ramp.derivative])
    return TermTable(space, spec.output_shape, elements, (space.family_of(ramp) + elements)[:, None])


def _reference(spec, names, scale):
    from symconv.reference.activation import relu_backward, relu_forward  # loaded when a check needs them

    x, up, slope = names["x"], "d" + names["y"], spec.negative_slope

    def backward(values):
        gradient = relu_backward(values[up], values[x], slope)
        return {"d" + x: gradient * scale if gradient.dtype == object else gradient * float(scale)}

    return (lambda values: relu_forward(values[x], slope)), backward


def _details(spec) -> list[str]:
    return [f"negative slope {spec.negative_slope}"] if spec.kind == "leaky_relu" else []


def _chain(spec, tex):
    x, up, slope = tex["x"], tex["dy"], spec.negative_slope
    if spec.kind == "relu":
        return [(r"\partial " + x, r"%s \odot [%s > 0]" % (up, x))]
    return [(r"\partial " + x, r"%s \odot ([%s > 0] + \tfrac{%d}{%d}[%s \le 0])"
             % (up, x, slope.numerator, slope.denominator, x))]


def _kinks(spec, x, origin):
    """Every moving input's distance from 0; a plain ReLU's clamped inputs become
    constant, and the rest keep their origins (equal inputs give equal outputs)."""
    distance = np.where(origin == CONSTANT, np.inf, np.abs(x))
    return distance, np.where(x < 0, CONSTANT, origin) if spec.negative_slope == 0 else origin


RULE = LayerRule(
    kinds=("relu", "leaky_relu"),
    forward=lambda spec, names: activation_forward(spec, names["x"], names["dy"]),
    tensors=input_only,
    reference=_reference,
    smooth=False,
    details=_details,
    chain=_chain,
    kinks=_kinks,
    kink_site="input {x}",
    check=CHECK,
)
