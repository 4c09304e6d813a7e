"""Specs of the fully connected layer and of the flatten that feeds it, PyTorch's conventions.

* ``linear``: ``y = x w^T + b`` with x of shape ``N,IN``, the weight
  ``OUT,IN`` (``torch.nn.Linear``'s layout) and the bias ``OUT``;
* ``flatten``: ``N,C,... -> N,C*...`` in row-major order, as ``torch.flatten(x, 1)``.

>>> linear_spec((2, 64), (8, 64)).output_shape
(2, 8)
>>> flatten_spec((2, 4, 4, 4)).output_shape
(2, 64)
>>> linear_spec((2, 63), (8, 64))
Traceback (most recent call last):
...
symconv.errors.SymconvError: weight: got '8,64', expected IN = 63, the size of one input sample (weight axis 1 of OUT,IN)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from symconv.errors import SymconvError
from symconv.spec.values import shape_of, shown


@dataclass(frozen=True)
class LinearSpec:
    """A fully connected layer: input ``N,IN``, weight ``OUT,IN``, bias ``OUT`` (unless ``bias`` is False)."""

    kind: str
    input: tuple[int, int]
    weight: tuple[int, int]
    bias: bool = True

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    parameters = ("w", "b")
    ndim = 0

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.input[0], self.weight[0])

    @property
    def bias_shape(self) -> tuple[int] | None:
        return (self.weight[0],) if self.bias else None

    def estimate_terms(self) -> int:
        """Exactly the terms derived: each product ``w x`` once in y, dx and dw; a bias and a dy term per output."""
        n, (out, size) = self.input[0], self.weight
        return 3 * n * out * size + (2 * n * out if self.bias else 0)

    def count_entries(self) -> int:
        shapes = (self.output_shape, self.input, self.weight) + ((self.bias_shape,) if self.bias else ())
        return sum(math.prod(shape) for shape in shapes)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": list(self.input), "weight": list(self.weight), "bias": self.bias,
                "output": list(self.output_shape)}


@dataclass(frozen=True)
class FlattenSpec:
    """``N,C,...`` to ``N,C*...``: every axis after the batch axis, joined in row-major order."""

    kind: str
    input: tuple[int, ...]

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    parameters = ()

    @property
    def ndim(self) -> int:
        return len(self.input) - 2

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.input[0], math.prod(self.input[1:]))

    def estimate_terms(self) -> int:
        """One term per element in y and one in dx."""
        return 2 * math.prod(self.input)

    def count_entries(self) -> int:
        return 2 * math.prod(self.input)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": list(self.input), "output": list(self.output_shape)}


def linear_spec(input, weight, bias: bool = True) -> LinearSpec:
    """Validate a linear layer: ``input`` N,IN and ``weight`` OUT,IN with the same IN."""
    given = tuple(input) if isinstance(input, (tuple, list)) else (input,)
    if len(given) != 2:
        hint = " (put a flatten before it)" if len(given) > 2 else ""
        raise SymconvError(f"input: got {shown(input)!r}, expected 2 sizes N,IN for linear{hint}")
    input = shape_of(given, "input", ("N", "IN"), "linear")
    weight = shape_of(weight, "weight", ("OUT", "IN"), "linear")
    if weight[1] != input[1]:
        raise SymconvError(f"weight: got {shown(weight)!r}, expected IN = {input[1]}, the size of one input "
                           f"sample (weight axis 1 of OUT,IN)")
    if not isinstance(bias, bool):
        raise SymconvError(f"bias: got {bias!r}, expected True or False")
    return LinearSpec("linear", input, weight, bias)


#: The axes a flatten's input may have, by rank.
_FLATTEN_AXES = {2: ("N", "F"), 3: ("N", "C", "L"), 4: ("N", "C", "H", "W"), 5: ("N", "C", "D", "H", "W")}


def flatten_spec(input) -> FlattenSpec:
    """Validate a flatten: any input of 2 to 5 axes, N first."""
    given = tuple(input) if isinstance(input, (tuple, list)) else (input,)
    if len(given) not in _FLATTEN_AXES:
        raise SymconvError(f"input: got {shown(input)!r}, expected 2 to 5 sizes N,C,... for flatten")
    return FlattenSpec("flatten", shape_of(given, "input", _FLATTEN_AXES[len(given)], "flatten"))
