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

import math
import re
from dataclasses import dataclass
from typing import Iterable

from symconv.spec.counting import window_counts
from symconv.errors import SymconvError
from symconv.names import CONV_KINDS

#: Default for the size guard: the number of forward and gradient terms above
#: which a derivation is refused before anything is built.
DEFAULT_MAX_TERMS = 2_000_000

#: The largest size, stride, padding, dilation, group count or divisor accepted
#: (and the largest --max-terms). No real layer comes near it, and below it the
#: index arithmetic (o*S - P + k*D, under 2**34) stays far inside the int64
#: arrays the forward and the NumPy reference build; larger Python ints overflow
#: them. cuDNN and TensorFlow keep sizes in int32 too.
MAX_INTEGER = 2**31 - 1


_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W")}
_KERNEL_NAMES = {1: ("K",), 2: ("KH", "KW")}


def _shown(value) -> str:
    """Show a user value the way they typed it: ``2,1`` (no tuple parentheses),
    pairs as JSON writes them (``[1,1],[0,0]``), and long text cut short."""
    if isinstance(value, (tuple, list)):
        return ",".join(f"[{_shown(v)}]" if isinstance(v, (tuple, list)) else _shown(v) for v in value)
    text = str(value)
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} characters)"


def axis_names(ndim: int) -> str:
    """The spatial axes as messages name them: ``L`` (1-D) or ``H,W`` (2-D)."""
    return ",".join(_SPATIAL_NAMES[ndim])


def per_axis_expected(ndim: int, *more: str) -> str:
    """What a stride, kernel, padding or dilation may be: one value for every axis, or one per axis.

    >>> per_axis_expected(2)
    'an integer or 2 comma-separated integers (one per axis H,W)'
    >>> per_axis_expected(1, "'same'", "'valid'")
    "an integer, 'same' or 'valid'"
    """
    choices = ["an integer"] + ([f"{ndim} comma-separated integers (one per axis {axis_names(ndim)})"]
                                if ndim > 1 else []) + list(more)
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]


_INTEGER = re.compile(r"-?[0-9]+")


def _too_large(name: str, value) -> SymconvError:
    return SymconvError(f"{name}: got {_shown(value)!r}, expected integers of at most {MAX_INTEGER} (2**31 - 1)")


def _check_bound(name: str, value, values) -> None:
    """Refuse integers beyond :data:`MAX_INTEGER` (``value`` is what the user gave, for the message)."""
    if any(abs(v) > MAX_INTEGER for v in values):
        raise _too_large(name, value)


def _is_int(value) -> bool:
    # bool is an int subclass, but stride=True is a mistake, not a 1.
    return isinstance(value, int) and not isinstance(value, bool)


def read_ints(text: str, name: str, expected: str) -> tuple[int, ...]:
    """Read ``"2,1"`` as integers; refuse anything else, saying ``expected`` in full.

    Integers beyond :data:`MAX_INTEGER` are refused here, before Python is
    asked to convert a number of thousands of digits.

    >>> read_ints("2, 1", "stride", "an integer")
    (2, 1)
    >>> read_ints("2.5", "stride", "an integer")
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: stride: got '2.5', expected an integer
    """
    parts = [p.strip() for p in str(text).split(",")]
    if any(_INTEGER.fullmatch(p) is None for p in parts):
        raise SymconvError(f"{name}: got {_shown(text)!r}, expected {expected}")
    if any(len(p.lstrip("-").lstrip("0")) > len(str(MAX_INTEGER)) for p in parts):
        raise _too_large(name, text)  # int() of 5,000 digits would raise ValueError
    values = tuple(int(p) for p in parts)
    _check_bound(name, text, values)
    return values


def parse_ints(text: str, name: str, expected: str) -> tuple[int, ...]:
    """Read ``"1,3,32,32"`` as integers, refusing anything else.

    >>> parse_ints("1, 3,32", "input", "N,C,L")
    (1, 3, 32)
    """
    return read_ints(text, name, f"comma-separated integers {expected}")


def _at_least(minimum: int) -> str:
    return {0: "non-negative integers", 1: "positive integers"}.get(minimum, f"integers >= {minimum}")


def _per_axis(value, name: str, ndim: int, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each at least ``minimum``."""
    values = (value,) * ndim if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != ndim or not all(_is_int(v) for v in values):
        raise SymconvError(f"{name}: got {_shown(value)!r}, expected {per_axis_expected(ndim)}")
    if any(v < minimum for v in values):
        raise SymconvError(f"{name}: got {_shown(value)!r}, expected {_at_least(minimum)}")
    _check_bound(name, value, values)
    return values


def _shape(value, name: str, axes: tuple[str, ...], kind: str) -> tuple[int, ...]:
    """A tensor shape: one positive integer per axis in ``axes``."""
    shape = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(shape) != len(axes):
        raise SymconvError(
            f"{name}: got {_shown(value)!r}, expected {len(axes)} sizes {','.join(axes)} for {kind}"
        )
    if any(not _is_int(v) or v < 1 for v in shape):
        raise SymconvError(f"{name}: got {_shown(value)!r}, expected positive integers {','.join(axes)}")
    _check_bound(name, value, shape)
    return shape


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
                    f"padding: got 'same' with stride {_shown(stride)}, "
                    f"expected stride 1 ('same' is only defined for stride 1, as in PyTorch)"
                )
            pairs = []
            for d, k in zip(dilation, kernel):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise SymconvError(f"padding: got {_shown(padding)!r}, expected {padding_expected(ndim)}")
    if _is_int(padding):
        items = (padding,) * ndim
    else:
        items = tuple(padding) if isinstance(padding, (tuple, list)) else ()
    if len(items) != ndim:
        raise SymconvError(
            f"padding: got {_shown(padding)!r}, expected "
            f"{per_axis_expected(ndim, 'one [before, after] pair per axis', repr('same'), repr('valid'))}"
        )
    pairs = []
    for item in items:
        pair = (item, item) if _is_int(item) else tuple(item) if isinstance(item, (tuple, list)) else ()
        if len(pair) != 2 or not all(_is_int(p) for p in pair):
            raise SymconvError(
                f"padding: got {_shown(padding)!r}, expected per axis an integer or a [before, after] pair of integers"
            )
        if min(pair) < 0:
            raise SymconvError(f"padding: got {_shown(padding)!r}, expected non-negative integers")
        _check_bound("padding", padding, pair)
        pairs.append(pair)
    return tuple(pairs)


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

    is_stack = False
    #: The tensors a layer learns, beside its input (a stack numbers them w1, b1, ...).
    parameters = ("w", "b")

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
            count *= window_counts(h, k, s, d, lo, out)
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
    input = _shape(input, "input", ("N", "C") + spatial, kind)
    weight = _shape(weight, "weight", ("F", "C/groups") + kernel_names, kind)
    if not _is_int(groups) or not 1 <= groups <= MAX_INTEGER:
        raise SymconvError(f"groups: got {_shown(groups)!r}, expected a positive integer")
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
        check_kernel_fits("weight", weight, axis, k, d, h + lo + hi)
    return ConvSpec(kind, input, weight, stride, pairs, dilation, groups, bias, mode)


def check_kernel_fits(name: str, given, axis: str, kernel: int, dilation: int, padded: int) -> None:
    """Refuse a (dilated) kernel longer than the padded input on one axis (``H``, ``W`` or ``L``)."""
    reach = dilation * (kernel - 1) + 1
    if reach > padded:
        raise SymconvError(
            f"{name}: got {_shown(given)!r}, whose extent {reach} on axis {axis} "
            f"(dilation {dilation} x (K-1) + 1) is larger than the padded input {padded}; "
            f"expected a kernel that fits"
        )


def check_size(spec, max_terms: int = DEFAULT_MAX_TERMS) -> int:
    """Refuse, before building anything, a derivation over ``max_terms`` terms.

    Each entry costs at least a line even when it is 0, so a layer with more
    entries than terms is measured by its entries. Returns the term estimate.
    """
    terms, entries = spec.estimate_terms(), spec.count_entries()
    if entries > max(terms, max_terms):
        raise SymconvError(
            f"max-terms: this layer needs {entries:,} equations (one per element of every tensor "
            f"and gradient), over the limit {max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    if terms > max_terms:
        raise SymconvError(
            f"max-terms: this layer needs about {terms:,} terms, over the limit "
            f"{max_terms:,}; expected a smaller layer or a larger --max-terms"
        )
    return terms
