"""Specs of the element-wise activations: ReLU, leaky ReLU, sigmoid and tanh, PyTorch's conventions.

>>> activation_spec("relu", (1, 2, 3)).output_shape
(1, 2, 3)
>>> activation_spec("leaky_relu", (1, 1, 2), "1/10").negative_slope
Fraction(1, 10)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from symconv.errors import SymconvError
from symconv.names import ACTIVATION_KINDS
from symconv.spec.values import as_given, axis_names, shape_of, shown

#: A slope as text: a decimal (with an exponent of at most three digits, so that
#: reading it cannot build a number of a billion digits) or a ratio p/q.
_SLOPE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?|[+-]?[0-9]+/[0-9]+")

#: The axes an activation's input may have, by rank: after a linear layer, or a 1-d, 2-d or 3-d map.
_AXES = {2: ("N", "F"), 3: ("N", "C", "L"), 4: ("N", "C", "H", "W"), 5: ("N", "C", "D", "H", "W")}


@dataclass(frozen=True)
class ActivationSpec:
    """An element-wise activation: ReLU, leaky ReLU with ``negative_slope``, sigmoid or tanh."""

    kind: str
    input: tuple[int, ...]
    negative_slope: Fraction = Fraction(0)

    is_stack = False
    parameters = ()

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.input

    @property
    def sympy_terms(self) -> bool:
        """Sigmoid and tanh are built with SymPy (the size guard weighs their terms: spec/size.py); ReLUs are tables."""
        return self.kind in ("sigmoid", "tanh")

    @property
    def ndim(self) -> int:
        return len(self.input) - 2

    def estimate_terms(self) -> int:
        count = 1
        for size in self.input:
            count *= size
        return 4 * count

    def count_entries(self) -> int:
        """Equations in y and dx, one per element."""
        return 2 * math.prod(self.input)

    def to_dict(self) -> dict:
        data = {"kind": self.kind, "input": list(self.input), "output": list(self.input)}
        if self.kind == "leaky_relu":
            data["negative_slope"] = str(self.negative_slope)
        return data


def activation_spec(kind, input, negative_slope=None) -> ActivationSpec:
    """Validate an activation layer: input N,F (after a linear layer), N,C,L, N,C,H,W or N,C,D,H,W."""
    if kind not in ACTIVATION_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(ACTIVATION_KINDS)}")
    input = tuple(input) if isinstance(input, (tuple, list)) else (input,)
    if len(input) not in _AXES:
        raise SymconvError(
            f"input: got {shown(input)!r}, expected 2 to 5 positive integers N,F, N,C,L, N,C,H,W or N,C,D,H,W"
        )
    input = shape_of(input, "input", _AXES[len(input)], kind)
    if kind != "leaky_relu":
        if negative_slope not in (None, 0):
            raise SymconvError(f"negative-slope: got {as_given(negative_slope)}, expected it only with leaky_relu")
        return ActivationSpec(kind, input, Fraction(0))
    slope = Fraction(1, 100) if negative_slope is None else negative_slope
    not_a_number = SymconvError(
        f"negative-slope: got {shown(negative_slope)!r}, expected a number such as 0.01, 1e-2 "
        f"(an exponent of at most three digits) or 1/100"
    )
    if isinstance(slope, str):
        if _SLOPE.fullmatch(slope.strip()) is None:
            raise not_a_number
        slope = slope.strip()
    try:
        slope = Fraction(slope)
        float(slope)  # PyTorch's negative_slope is a double: refuse what one cannot hold
    except (TypeError, ValueError, ZeroDivisionError):
        raise not_a_number from None
    except OverflowError:
        raise SymconvError(
            f"negative-slope: got {shown(negative_slope)!r}, expected a number a float64 can hold "
            f"(below 1.8e308 in size), as PyTorch's negative_slope is one"
        ) from None
    return ActivationSpec(kind, input, slope)
