"""Transposed convolution specs (PyTorch's ``ConvTranspose1d/2d/3d``): validated, normalized, frozen.

A transposed convolution scatters each input entry, times the kernel, into
the output: input position ``i`` reaches, at tap ``k``, output position
``o = i*S - P + k*D`` (positions outside ``[0, out)`` are cropped off). With
PyTorch's weight layout ``(C_in, C_out/groups, *K)`` and groups G, channel c
of group g feeds the ``C_out/G`` outputs of that group:

.. math::

    y_{n,\\, gC_{og} + f,\\, o} = b_{gC_{og} + f} + \\sum_{c, i, k}
        x_{n,\\, gC_{ig} + c,\\, i}\\, w_{gC_{ig} + c,\\, f,\\, k}\\, [o = iS - P + kD]

and the output size per axis is ``(H-1)*S - 2P + D(K-1) + output_padding + 1``.
``output_padding`` adds positions at the end that no input reaches (only the
bias); PyTorch requires each value to be smaller than the stride or the
dilation of its axis.

Nothing heavy is imported: the CLI validates input before SymPy loads.

>>> spec = conv_transpose_spec("conv_transpose2d", (1, 1, 3, 3), (1, 2, 3, 3), stride=2, padding=1, output_padding=1)
>>> spec.output_shape
(1, 2, 6, 6)
>>> conv_transpose_spec("conv_transpose1d", (1, 1, 4), (1, 1, 3), stride=2, output_padding=2)
Traceback (most recent call last):
...
symconv.errors.SymconvError: output-padding: got '2', expected each value smaller than its axis's stride or dilation (axis L: output_padding 2, stride 2, dilation 1), as PyTorch requires
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from symconv.errors import SymconvError
from symconv.names import CONV_TRANSPOSE_KINDS
from symconv.spec.counting import window_counts
from symconv.spec.values import MAX_INTEGER, is_int, per_axis, shape_of, shown

_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_KERNEL_NAMES = {1: ("K",), 2: ("KH", "KW"), 3: ("KD", "KH", "KW")}


def transposed_size(size: int, kernel: int, stride: int, padding: int, dilation: int, output_padding: int) -> int:
    """Outputs along one axis: ``(size-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1``.

    >>> transposed_size(3, kernel=3, stride=2, padding=1, dilation=1, output_padding=1)
    6
    """
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def input_axes(ndim: int) -> str:
    """The axes of a transposed convolution's input, as messages name them: ``N,C_in,H,W``."""
    return ",".join(("N", "C_in") + _SPATIAL_NAMES[ndim])


def weight_axes(ndim: int) -> str:
    """The axes of its weight, PyTorch's layout: ``C_in,C_out/groups,KH,KW``."""
    return ",".join(("C_in", "C_out/groups") + _KERNEL_NAMES[ndim])


@dataclass(frozen=True)
class ConvTransposeSpec:
    """A transposed convolution, normalized: every per-axis value is a tuple.

    ``weight`` is ``(C_in, C_out/groups, *K)``; ``padding`` one integer per
    axis, cropped from both ends of the full output, as PyTorch's
    ConvTranspose takes it.
    """

    kind: str
    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    bias: bool = True

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    #: The tensors a layer learns, beside its input (a stack numbers them w1, b1, ...).
    parameters = ("w", "b")

    @property
    def ndim(self) -> int:
        """Number of spatial axes: 1, 2 or 3."""
        return CONV_TRANSPOSE_KINDS[self.kind]

    @property
    def out_channels(self) -> int:
        """C_out = (C_out/groups) x groups."""
        return self.weight[1] * self.groups

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, C_out, *spatial)`` of y."""
        spatial = tuple(
            transposed_size(h, k, s, p, d, op)
            for h, k, s, p, d, op in zip(self.input[2:], self.weight[2:], self.stride, self.padding,
                                         self.dilation, self.output_padding)
        )
        return (self.input[0], self.out_channels) + spatial

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return (self.out_channels,) if self.bias else None

    def product_terms(self) -> int:
        """Exact count of the x*w products in the forward (those cropped off excluded).

        Per axis, the (input, tap) pairs that land inside the output: the
        count of (output, tap) pairs of a convolution with input and output
        swapped (:func:`~symconv.spec.counting.window_counts`).
        """
        n, c_in = self.input[:2]
        count = n * c_in * self.weight[1]
        for h, k, s, d, p, out in zip(self.input[2:], self.weight[2:], self.stride, self.dilation,
                                      self.padding, self.output_shape[2:]):
            count *= window_counts(out, k, s, d, p, h)
        return count

    def estimate_terms(self) -> int:
        """Terms in the forward and all gradients: each product once in y, dx and dw; bias and db per output."""
        outputs = math.prod(self.output_shape)
        return 3 * self.product_terms() + (2 * outputs if self.bias else 0)

    def count_entries(self) -> int:
        """Equations in the forward and all gradients, one per element of y, x, w and b."""
        shapes = (self.output_shape, self.input, self.weight) + ((self.bias_shape,) if self.bias else ())
        return sum(math.prod(shape) for shape in shapes)

    def to_dict(self) -> dict:
        """The normalized spec as plain JSON-ready data."""
        return {
            "kind": self.kind,
            "input": list(self.input),
            "weight": list(self.weight),
            "bias": self.bias,
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "output": list(self.output_shape),
        }


def conv_transpose_spec(
    kind: str,
    input: Iterable[int],
    weight: Iterable[int],
    stride=1,
    padding=0,
    output_padding=0,
    dilation=1,
    groups: int = 1,
    bias: bool = True,
) -> ConvTransposeSpec:
    """Validate a transposed convolution and return its normalized spec.

    Every refusal is a :class:`SymconvError` naming the parameter, the value
    received and what was expected.

    >>> conv_transpose_spec("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), groups=2).output_shape
    (1, 6, 7, 7)
    >>> conv_transpose_spec("conv_transpose2d", (1, 4, 5, 5), (3, 3, 3, 3))
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: weight: got '3,3,3,3', expected C_in = 4 input channels on weight axis 0 (ConvTranspose's weight is C_in,C_out/groups,KH,KW)
    """
    if kind not in CONV_TRANSPOSE_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(CONV_TRANSPOSE_KINDS)}")
    ndim = CONV_TRANSPOSE_KINDS[kind]
    spatial = _SPATIAL_NAMES[ndim]
    input = shape_of(input, "input", ("N", "C_in") + spatial, kind)
    weight = shape_of(weight, "weight", ("C_in", "C_out/groups") + _KERNEL_NAMES[ndim], kind)
    if not is_int(groups) or not 1 <= groups <= MAX_INTEGER:
        raise SymconvError(f"groups: got {shown(groups)!r}, expected a positive integer")
    c_in = input[1]
    if c_in % groups:
        raise SymconvError(f"groups: got {groups}, expected a divisor of C_in={c_in}")
    if weight[0] != c_in:
        raise SymconvError(
            f"weight: got {shown(weight)!r}, expected C_in = {c_in} input channels on weight axis 0 "
            f"(ConvTranspose's weight is {weight_axes(ndim)})"
        )
    if isinstance(padding, str):
        raise SymconvError(f"padding: got {padding!r}, expected an integer per axis (ConvTranspose takes "
                           f"no 'same' or 'valid')")
    stride = per_axis(stride, "stride", ndim, 1)
    dilation = per_axis(dilation, "dilation", ndim, 1)
    pads = per_axis(padding, "padding", ndim, 0)
    extra = per_axis(output_padding, "output-padding", ndim, 0)
    for axis, op, s, d in zip(spatial, extra, stride, dilation):
        if op >= s and op >= d:
            raise SymconvError(
                f"output-padding: got {shown(output_padding)!r}, expected each value smaller than its axis's "
                f"stride or dilation (axis {axis}: output_padding {op}, stride {s}, dilation {d}), as PyTorch requires"
            )
    for axis, h, k, s, p, d, op in zip(spatial, input[2:], weight[2:], stride, pads, dilation, extra):
        out = transposed_size(h, k, s, p, d, op)
        if out < 1:
            raise SymconvError(
                f"padding: got {shown(padding)!r}, which leaves axis {axis} an output size of "
                f"({h}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {out}; expected an output size of at least 1"
            )
    return ConvTransposeSpec(kind, input, weight, stride, pads, extra, dilation, groups, bias)
