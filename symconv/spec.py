"""Layer specifications: validated, normalized, frozen.

A spec is the first stage of the data flow and the only place where user
numbers are checked. Everything downstream (the engine, the printers, the
verifier) may assume a spec is consistent. Conventions are PyTorch's:

* convolution is cross-correlation (the kernel is not flipped);
* output size per axis is ``floor((H + P_before + P_after - D(K-1) - 1)/S) + 1``;
* ``padding='same'`` needs stride 1; an odd total puts the extra row/column
  after (bottom/right), as ``torch.nn.functional.conv2d`` does.

This module imports nothing heavy: the CLI validates input before SymPy loads.

>>> spec = conv_spec("conv2d", input=(1, 1, 4, 4), weight=(1, 1, 2, 2))
>>> spec.output_shape
(1, 1, 3, 3)
>>> conv_spec("conv1d", input=(1, 1, 5), weight=(1, 1, 3), padding="same").padding
((1, 1),)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from symconv.errors import SymconvError

#: Default for the size guard: the number of forward and gradient terms above
#: which a derivation is refused before anything is built.
DEFAULT_MAX_TERMS = 2_000_000

CONV_KINDS = {"conv1d": 1, "conv2d": 2}

_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W")}
_KERNEL_NAMES = {1: ("K",), 2: ("KH", "KW")}


def _shown(value) -> str:
    """Show a user value the way they typed it (no tuple parentheses)."""
    if isinstance(value, (tuple, list)):
        return ",".join(_shown(v) for v in value)
    return str(value)


_INTEGER = re.compile(r"-?[0-9]+")


def _is_int(value) -> bool:
    # bool is an int subclass, but stride=True is a mistake, not a 1.
    return isinstance(value, int) and not isinstance(value, bool)


def parse_ints(text: str, name: str, expected: str) -> tuple[int, ...]:
    """Read ``"1,3,32,32"`` as integers, refusing anything else.

    >>> parse_ints("1, 3,32", "input", "N,C,L")
    (1, 3, 32)
    """
    parts = [p.strip() for p in str(text).split(",")]
    if any(_INTEGER.fullmatch(p) is None for p in parts):
        raise SymconvError(
            f"{name}: got {text!r}, expected comma-separated integers {expected}"
        )
    return tuple(int(p) for p in parts)


def _per_axis(value, name: str, ndim: int, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each at least ``minimum``."""
    values = (value,) * ndim if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != ndim or not all(_is_int(v) for v in values):
        raise SymconvError(
            f"{name}: got {_shown(value)!r}, expected one integer or {ndim} "
            f"comma-separated integers (one per spatial axis)"
        )
    for v in values:
        if v < minimum:
            raise SymconvError(
                f"{name}: got {_shown(value)!r}, expected integers >= {minimum}"
            )
    return values


def _resolve_padding(padding, ndim, stride, dilation, kernel):
    """Normalize padding to one ``(before, after)`` pair per spatial axis."""
    if isinstance(padding, str):
        mode = padding.strip().lower()
        if mode == "valid":
            return ((0, 0),) * ndim
        if mode == "same":
            if any(s != 1 for s in stride):
                raise SymconvError(
                    f"padding: got 'same' with stride {_shown(stride)}, "
                    f"expected stride 1 ('same' is only defined for stride 1, as in PyTorch)"
                )
            pairs = []
            for d, k in zip(dilation, kernel):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise SymconvError(
            f"padding: got {padding!r}, expected an integer, one per axis, 'same' or 'valid'"
        )
    if _is_int(padding):
        items = (padding,) * ndim
    else:
        items = tuple(padding) if isinstance(padding, (tuple, list)) else ()
    if len(items) != ndim:
        raise SymconvError(
            f"padding: got {_shown(padding)!r}, expected one integer or {ndim} "
            f"comma-separated integers (one per spatial axis), 'same' or 'valid'"
        )
    pairs = []
    for item in items:
        pair = (item, item) if _is_int(item) else tuple(item) if isinstance(item, (tuple, list)) else ()
        if len(pair) != 2 or not all(_is_int(p) for p in pair):
            raise SymconvError(f"padding: got {_shown(padding)!r}, expected integers")
        if min(pair) < 0:
            raise SymconvError(
                f"padding: got {_shown(padding)!r}, expected non-negative integers"
            )
        pairs.append(pair)
    return tuple(pairs)


def _window_counts(size, kernel, stride, dilation, before, out):
    """How many (output, tap) pairs of one axis land inside the input.

    For tap k, output o reads input o*S - P + k*D, which is inside x for
    ceil((P - kD)/S) <= o <= floor((size - 1 + P - kD)/S): a loop over the
    taps only, so the size guard answers at once even for huge inputs.
    """
    count = 0
    for k in range(kernel):
        shift = before - k * dilation
        first = max(0, -(-shift // stride))
        last = min(out - 1, (size - 1 + shift) // stride)
        count += max(0, last - first + 1)
    return count


@dataclass(frozen=True)
class ConvSpec:
    """A convolution layer, normalized: every per-axis value is a tuple.

    ``padding`` holds one ``(before, after)`` pair per spatial axis, whatever
    form the user gave; ``padding_mode`` remembers 'same' or 'valid' for display.
    """

    kind: str
    input: tuple[int, ...]
    weight: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int = 1
    bias: bool = True
    padding_mode: str | None = None

    @property
    def ndim(self) -> int:
        """Number of spatial axes: 1 for conv1d, 2 for conv2d."""
        return CONV_KINDS[self.kind]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, F, *spatial)`` of y."""
        n, f = self.input[0], self.weight[0]
        spatial = tuple(
            (h + lo + hi - d * (k - 1) - 1) // s + 1
            for h, k, s, d, (lo, hi) in zip(
                self.input[2:], self.weight[2:], self.stride, self.dilation, self.padding
            )
        )
        return (n, f) + spatial

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        return (self.weight[0],) if self.bias else None

    def product_terms(self) -> int:
        """Exact count of the x*w products in the forward (padding excluded)."""
        n, c = self.input[:2]
        f, cg = self.weight[:2]
        count = n * f * cg
        for h, k, s, d, (lo, _), out in zip(
            self.input[2:], self.weight[2:], self.stride, self.dilation,
            self.padding, self.output_shape[2:],
        ):
            count *= _window_counts(h, k, s, d, lo, out)
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

    def to_dict(self) -> dict:
        """The normalized spec as plain JSON-ready data."""
        return {
            "kind": self.kind,
            "input": list(self.input),
            "weight": list(self.weight),
            "bias": self.bias,
            "stride": list(self.stride),
            "padding": [list(p) for p in self.padding],
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
    x_axes = ",".join(("N", "C") + spatial)
    w_axes = ",".join(("F", "C/groups") + kernel_names)
    input, weight = tuple(input), tuple(weight)
    for name, shape, axes in (("input", input, x_axes), ("weight", weight, w_axes)):
        if len(shape) != ndim + 2:
            raise SymconvError(
                f"{name}: got {_shown(shape)!r}, expected {ndim + 2} sizes {axes} for {kind}"
            )
        if any(not _is_int(v) or v < 1 for v in shape):
            raise SymconvError(
                f"{name}: got {_shown(shape)!r}, expected positive integers {axes}"
            )
    if not _is_int(groups) or groups < 1:
        raise SymconvError(f"groups: got {groups!r}, expected a positive integer")
    c, f, cg = input[1], weight[0], weight[1]
    if c % groups or f % groups:
        raise SymconvError(
            f"groups: got {groups}, expected a divisor of both C={c} and F={f}"
        )
    if cg * groups != c:
        raise SymconvError(
            f"weight: got {_shown(weight)!r}, expected C/groups = {c}/{groups} = "
            f"{c // groups} input channels per filter (weight axis 1)"
        )
    stride = _per_axis(stride, "stride", ndim, 1)
    dilation = _per_axis(dilation, "dilation", ndim, 1)
    kernel = weight[2:]
    mode = padding.strip().lower() if isinstance(padding, str) else None
    pairs = _resolve_padding(padding, ndim, stride, dilation, kernel)
    for axis, h, k, d, (lo, hi) in zip(spatial, input[2:], kernel, dilation, pairs):
        reach = d * (k - 1) + 1
        if reach > h + lo + hi:
            raise SymconvError(
                f"weight: got {_shown(weight)!r}, whose extent {reach} on axis {axis} "
                f"(dilation {d} x (K-1) + 1) is larger than the padded input {h + lo + hi}; "
                f"expected a kernel that fits"
            )
    return ConvSpec(kind, input, weight, stride, pairs, dilation, groups, bias, mode)


def check_size(spec, max_terms: int = DEFAULT_MAX_TERMS) -> int:
    """Refuse, before building anything, a derivation over ``max_terms`` terms."""
    terms = spec.estimate_terms()
    if terms > max_terms:
        raise SymconvError(
            f"max-terms: this layer needs about {terms:,} terms, over the limit "
            f"{max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    return terms
