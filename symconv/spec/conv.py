"""Layer specifications: validated, normalized, frozen.

A spec is the first stage of the data flow and the only place where user
numbers are checked. Everything downstream (the engine, the printers, the
verifier) may assume a spec is consistent. Conventions are PyTorch's:

* convolution is cross-correlation (the kernel is not flipped);
* output size per axis is ``floor((H + P_before + P_after - D(K-1) - 1)/S) + 1``;
* ``padding='same'`` needs stride 1; an odd total puts the extra row/column
  after (bottom/right), as ``torch.nn.functional.conv2d`` does;
* ``padding_mode`` is ``torch.nn.Conv2d``'s: ``'zeros'``, or ``'reflect'``,
  ``'replicate'``, ``'circular'``, whose padded entries are x's own entries
  (reflect needs a padding smaller than the input, circular at most the input).

This module imports nothing heavy: the CLI validates input before SymPy loads.

>>> spec = conv_spec("conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2))
>>> spec.output_shape
(1, 1, 3, 3)
>>> conv_spec("conv1d", input=(1, 1, 5), weight=(1, 1, 3), padding="same").padding
((1, 1),)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from symconv.errors import SymconvError
from symconv.names import CONV_KINDS, PADDING_MODES
from symconv.spec.counting import window_counts
from symconv.spec.values import (
    MAX_INTEGER,
    as_given,
    check_bound,
    check_kernel_fits,
    is_int,
    output_size,
    per_axis,
    per_axis_expected,
    shape_of,
    shown,
)

_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_KERNEL_NAMES = {1: ("K",), 2: ("KH", "KW"), 3: ("KD", "KH", "KW")}

#: What each padding mode allows on one side of an axis of ``size`` (PyTorch's limits), and why.
_MODE_LIMITS = {
    "reflect": (lambda size: size - 1, "reflect mirrors the input without repeating its edge, so the "
                                       "padding must be smaller than the input"),
    "circular": (lambda size: size, "circular padding may wrap around the input at most once"),
}


def padding_expected(ndim: int) -> str:
    """What a convolution's padding may be, as the messages say it."""
    return per_axis_expected(ndim, "'same'", "'valid'")


def _resolve_padding(padding, ndim, stride, dilation, kernel):
    """Normalize padding to one ``(before, after)`` pair per spatial axis."""
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "same":
            if any(s != 1 for s in stride):
                raise SymconvError(
                    f"padding: got 'same' with stride {shown(stride)}, "
                    f"expected stride 1 ('same' is only defined for stride 1, as in PyTorch)"
                )
            pairs = []
            for d, k in zip(dilation, kernel):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise SymconvError(f"padding: got {shown(padding)!r}, expected {padding_expected(ndim)}")
    if is_int(padding):
        items = (padding,) * ndim
    else:
        items = tuple(padding) if isinstance(padding, (tuple, list)) else ()
    if len(items) != ndim:
        raise SymconvError(
            f"padding: got {shown(padding)!r}, expected "
            f"{per_axis_expected(ndim, 'one [before, after] pair per axis', repr('same'), repr('valid'))}"
        )
    pairs = []
    for item in items:
        pair = (item, item) if is_int(item) else tuple(item) if isinstance(item, (tuple, list)) else ()
        if len(pair) != 2 or not all(is_int(p) for p in pair):
            raise SymconvError(
                f"padding: got {shown(padding)!r}, expected per axis an integer or a [before, after] pair of integers"
            )
        if min(pair) < 0:
            raise SymconvError(f"padding: got {shown(padding)!r}, expected non-negative integers")
        check_bound("padding", padding, pair)
        pairs.append(pair)
    return tuple(pairs)


def read_padding_mode(mode) -> str:
    """``zeros``, ``reflect``, ``replicate`` or ``circular`` (any case, spaces around allowed)."""
    word = mode.strip().lower() if isinstance(mode, str) else None
    if word not in PADDING_MODES:
        raise SymconvError(f"padding-mode: got {as_given(mode)}, expected {', '.join(PADDING_MODES[:-1])} "
                           f"or {PADDING_MODES[-1]}")
    return word


def _check_mode_fits(mode, given, pairs, spatial, input):
    """Refuse a padding that ``mode`` cannot fill from x, as PyTorch's ``F.pad`` does."""
    if mode not in _MODE_LIMITS:
        return
    largest, why = _MODE_LIMITS[mode]
    for axis, size, pair in zip(spatial, input, pairs):
        if max(pair) > largest(size):
            raise SymconvError(
                f"padding: got {shown(given)!r} with padding-mode {mode}, expected at most {largest(size)} "
                f"on axis {axis} of size {size} ({why}, as in PyTorch)"
            )


@dataclass(frozen=True)
class ConvSpec:
    """A convolution layer, normalized: every per-axis value is a tuple.

    ``padding`` holds one ``(before, after)`` pair per spatial axis, whatever
    form the user gave; ``padding_string`` remembers 'same' or 'valid' (None
    for numbers) for display; ``padding_mode`` says what the padded entries
    hold (PyTorch's ``padding_mode``: zeros, or x's own entries).
    """

    kind: str
    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int = 1
    bias: bool = True
    padding_string: str | None = None
    padding_mode: str = "zeros"

    is_stack = False
    sympy_terms = False  # its terms are term tables (the size guard's weight: spec/size.py)
    #: The tensors a layer learns, beside its input (a stack numbers them w1, b1, ...).
    parameters = ("w", "b")

    @property
    def ndim(self) -> int:
        """Number of spatial axes: 1 for conv1d, 2 for conv2d, 3 for conv3d."""
        return CONV_KINDS[self.kind]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, F, *spatial)`` of y."""
        n, f = self.input[0], self.weight[0]
        spatial = tuple(
            output_size(h, k, s, lo, hi, d)
            for h, k, s, d, (lo, hi) in zip(
                self.input[2:], self.weight[2:], self.stride, self.dilation, self.padding
            )
        )
        return (n, f) + spatial

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return (self.weight[0],) if self.bias else None

    def product_terms(self) -> int:
        """Exact count of the x*w products in the forward (zero padding excluded;
        every tap reads an entry of x with another padding mode)."""
        n, c = self.input[:2]
        f, cg = self.weight[:2]
        count = n * f * cg
        for h, k, s, d, (lo, _), out in zip(
            self.input[2:], self.weight[2:], self.stride, self.dilation,
            self.padding, self.output_shape[2:],
        ):
            count *= window_counts(h, k, s, d, lo, out) if self.padding_mode == "zeros" else out * k
        return count

    def estimate_terms(self) -> int:
        """Terms in the forward and all gradients, computed without SymPy.

        Each product x*w appears once in y, once in dx and once in dw; each
        output contributes a bias term to y and a dy term to db.
        """
        outputs = 1
        for size in self.output_shape:
            outputs *= size
        return 3 * self.product_terms() + (2 * outputs if self.bias else 0)

    def count_entries(self) -> int:
        """Equations in the forward and all gradients, one per element of y, x, w and b.

        Usually fewer than the terms; not when most entries are 0 (a long
        stride skipping most of x), which the size guard must count too.
        """
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
            "padding": [list(p) for p in self.padding],
            "padding_string": self.padding_string,
            "padding_mode": self.padding_mode,
            "dilation": list(self.dilation),
            "groups": self.groups,
            "output": list(self.output_shape),
        }


def conv_spec(
    kind: str,
    input: Iterable[int],
    weight: Iterable[int],
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    bias: bool = True,
    padding_mode: str = "zeros",
) -> ConvSpec:
    """Validate a convolution layer and return its normalized spec.

    Every refusal is a :class:`SymconvError` naming the parameter, the value
    received and what was expected.

    >>> conv_spec("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), stride=(2, 1), padding=1).output_shape
    (1, 4, 4, 8)
    >>> conv_spec("conv2d", (1, 3, 8, 8), (4, 2, 3, 3))
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: weight: got '4,2,3,3', expected C/groups = 3/1 = 3 input channels per filter (weight axis 1)
    """
    if kind not in CONV_KINDS:
        raise SymconvError(
            f"layer: got {kind!r}, expected one of {', '.join(sorted(CONV_KINDS))}"
        )
    ndim = CONV_KINDS[kind]
    spatial, kernel_names = _SPATIAL_NAMES[ndim], _KERNEL_NAMES[ndim]
    input = shape_of(input, "input", ("N", "C") + spatial, kind)
    weight = shape_of(weight, "weight", ("F", "C/groups") + kernel_names, kind)
    if not is_int(groups) or not 1 <= groups <= MAX_INTEGER:
        raise SymconvError(f"groups: got {shown(groups)!r}, expected a positive integer")
    c, f, cg = input[1], weight[0], weight[1]
    if c % groups or f % groups:
        raise SymconvError(
            f"groups: got {groups}, expected a divisor of both C={c} and F={f}"
        )
    if cg * groups != c:
        raise SymconvError(
            f"weight: got {shown(weight)!r}, expected C/groups = {c}/{groups} = "
            f"{c // groups} input channels per filter (weight axis 1)"
        )
    stride = per_axis(stride, "stride", ndim, 1)
    dilation = per_axis(dilation, "dilation", ndim, 1)
    kernel = weight[2:]
    mode = read_padding_mode(padding_mode)
    string = padding.strip().lower() if isinstance(padding, str) else None
    pairs = _resolve_padding(padding, ndim, stride, dilation, kernel)
    _check_mode_fits(mode, padding, pairs, spatial, input[2:])
    for axis, h, k, d, (lo, hi) in zip(spatial, input[2:], kernel, dilation, pairs):
        check_kernel_fits("weight", weight, axis, k, d, h + lo + hi)
    return ConvSpec(kind, input, weight, stride, pairs, dilation, groups, bias, string, mode)


