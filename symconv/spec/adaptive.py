"""Specs of adaptive pooling layers: the output size is given, the windows follow from it.

PyTorch's rule (``torch.nn.functional.adaptive_avg_pool2d``,
``adaptive_max_pool2d``): along an axis of input size ``L`` pooled to ``O``
outputs, output ``i`` reads the input positions

.. math::  \\lfloor iL/O \\rfloor \\le a < \\lceil (i+1)L/O \\rceil,

so neighbouring windows overlap by one position when ``O`` does not divide
``L``, and windows may differ in length by one or two. ``O = 1`` is global
pooling; ``O = L`` is the identity. There is no padding: every window lies
inside x, and an average divides by its own element count.

symconv refuses an ``output_size`` larger than the input (PyTorch would
repeat input entries in several windows).

>>> spec = adaptive_pool_spec("adaptive_avgpool1d", (1, 1, 5), 3)
>>> [positions for _, positions in spec.windows(0)]
[[0, 1], [1, 2, 3], [3, 4]]
>>> spec.divisor((0, 0, 1))
3
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from symconv.errors import SymconvError
from symconv.names import ADAPTIVE_KINDS
from symconv.spec.counting import floor_sum
from symconv.spec.values import axis_names, per_axis, shape_of, shown


@functools.lru_cache(maxsize=64)
def _axis_windows(size: int, out: int) -> tuple:
    """``(start, positions)`` per output of one axis, PyTorch's adaptive windows."""
    return tuple((i * size // out, list(range(i * size // out, -(-(i + 1) * size // out)))) for i in range(out))


def window_total(size: int, out: int) -> int:
    """The window lengths of one axis summed, in closed form (the size guard loops over nothing).

    ``sum(ceil((i+1)L/O) - floor(iL/O))``; the ceilings are ``-floor(-(i+1)L/O)``.

    >>> window_total(5, 3) == sum(len(p) for _, p in _axis_windows(5, 3))
    True
    """
    return -floor_sum(out, out, -size, -size) - floor_sum(out, out, size, 0)


@dataclass(frozen=True)
class AdaptivePoolSpec:
    """An adaptive average or max pooling layer: its input and the output size per spatial axis."""

    kind: str
    input: tuple[int, ...]
    output_size: tuple[int, ...]

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    parameters = ()

    @property
    def ndim(self) -> int:
        return ADAPTIVE_KINDS[self.kind]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.input[:2] + self.output_size

    def windows(self, axis: int) -> list[tuple[int, list[int]]]:
        """Per output position of one spatial axis: (start, input positions), PyTorch's adaptive windows."""
        return list(_axis_windows(self.input[2 + axis], self.output_size[axis]))

    def divisor(self, output_index) -> int:
        """An adaptive average divides by its window's element count."""
        return math.prod(len(_axis_windows(self.input[2 + axis], self.output_size[axis])[o][1])
                         for axis, o in enumerate(output_index[2:]))

    def estimate_terms(self) -> int:
        """Window elements over all outputs; a max needs about a window's length as many pieces per element.

        For a max, each window length is bounded by ``ceil(L/O) + 1``, so the
        estimate is an upper bound, as the plain pools' is.
        """
        total = 2 * self.input[0] * self.input[1]
        for size, out in zip(self.input[2:], self.output_size):
            elements = window_total(size, out)
            total *= elements * (-(-size // out) + 1) if self.kind.startswith("adaptive_max") else elements
        return total

    def count_entries(self) -> int:
        """Equations in y and dx, one per element."""
        return math.prod(self.output_shape) + math.prod(self.input)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "input": list(self.input), "output_size": list(self.output_size),
                "output": list(self.output_shape)}


def adaptive_pool_spec(kind, input, output_size) -> AdaptivePoolSpec:
    """Validate an adaptive pooling layer and return its spec.

    >>> adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 4, 4), (2, 5))
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: output-size: got '2,5', expected at most the input's size on each axis (output_size larger than the input on axis W: 5 > 4)
    """
    if kind not in ADAPTIVE_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(ADAPTIVE_KINDS)}")
    ndim = ADAPTIVE_KINDS[kind]
    names = axis_names(ndim).split(",")
    input = shape_of(input, "input", ("N", "C") + tuple(names), kind)
    sizes = per_axis(output_size, "output-size", ndim, 1)
    for name, size, out in zip(names, input[2:], sizes):
        if out > size:
            raise SymconvError(
                f"output-size: got {shown(output_size)!r}, expected at most the input's size on each axis "
                f"(output_size larger than the input on axis {name}: {out} > {size})"
            )
    return AdaptivePoolSpec(kind, input, sizes)
