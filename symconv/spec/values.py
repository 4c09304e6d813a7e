"""Reading and checking user numbers: the one place that says what a value may be.

Every message names the parameter, the value as the user typed it and what
was expected. Nothing here imports SymPy or NumPy.

>>> read_ints("2, 1", "stride", "an integer")
(2, 1)
>>> output_size(5, kernel=2, stride=2, before=0, after=0, dilation=1, ceil_mode=True)
3
"""

from __future__ import annotations

import re

from symconv.errors import SymconvError

#: The largest size, stride, padding, dilation, group count or divisor accepted
#: (and the largest --max-terms). No real layer comes near it, and below it the
#: index arithmetic (o*S - P + k*D, under 2**34) stays far inside the int64
#: arrays the forward and the NumPy reference build; larger Python ints overflow
#: them. cuDNN and TensorFlow keep sizes in int32 too.
MAX_INTEGER = 2**31 - 1


_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_KERNEL_NAMES = {1: ("K",), 2: ("KH", "KW"), 3: ("KD", "KH", "KW")}


def shown(value) -> str:
    """Show a user value the way they typed it: ``2,1`` (no tuple parentheses),
    pairs as JSON writes them (``[1,1],[0,0]``), and long text cut short."""
    if isinstance(value, (tuple, list)):
        return ",".join(f"[{shown(v)}]" if isinstance(v, (tuple, list)) else shown(v) for v in value)
    try:
        text = str(value)
    except ValueError:  # an int of over 4300 digits, which Python refuses to convert
        text = f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} characters)"


def as_given(value) -> str:
    """A value as a message quotes it: its repr, but an int as :func:`shown` writes it
    (``repr`` of an int of over 4300 digits raises)."""
    return shown(value) if is_int(value) else repr(value)


def axis_names(ndim: int) -> str:
    """The spatial axes as messages name them: ``L`` (1-D), ``H,W`` (2-D) or ``D,H,W`` (3-D)."""
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


def too_large(name: str, value) -> SymconvError:
    return SymconvError(f"{name}: got {shown(value)!r}, expected integers of at most {MAX_INTEGER} (2**31 - 1)")


def check_bound(name: str, value, values) -> None:
    """Refuse integers beyond :data:`MAX_INTEGER` (``value`` is what the user gave, for the message)."""
    if any(abs(v) > MAX_INTEGER for v in values):
        raise too_large(name, value)


def is_int(value) -> bool:
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
    if is_int(text) and abs(text) > MAX_INTEGER:
        raise too_large(name, text)  # before str(), which refuses an int of over 4300 digits
    parts = [p.strip() for p in str(text).split(",")]
    if any(_INTEGER.fullmatch(p) is None for p in parts):
        raise SymconvError(f"{name}: got {shown(text)!r}, expected {expected}")
    if any(len(p.lstrip("-").lstrip("0")) > len(str(MAX_INTEGER)) for p in parts):
        raise too_large(name, text)  # int() of 5,000 digits would raise ValueError
    values = tuple(int(p) for p in parts)
    check_bound(name, text, values)
    return values


def parse_ints(text: str, name: str, expected: str) -> tuple[int, ...]:
    """Read ``"1,3,32,32"`` as integers, refusing anything else.

    >>> parse_ints("1, 3,32", "input", "N,C,L")
    (1, 3, 32)
    """
    return read_ints(text, name, f"comma-separated integers {expected}")


def _at_least(minimum: int) -> str:
    return {0: "non-negative integers", 1: "positive integers"}.get(minimum, f"integers >= {minimum}")


def per_axis(value, name: str, ndim: int, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each at least ``minimum``."""
    values = (value,) * ndim if is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) != ndim or not all(is_int(v) for v in values):
        raise SymconvError(f"{name}: got {shown(value)!r}, expected {per_axis_expected(ndim)}")
    if any(v < minimum for v in values):
        raise SymconvError(f"{name}: got {shown(value)!r}, expected {_at_least(minimum)}")
    check_bound(name, value, values)
    return values


def shape_of(value, name: str, axes: tuple[str, ...], kind: str) -> tuple[int, ...]:
    """A tensor shape: one positive integer per axis in ``axes``."""
    shape = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(shape) != len(axes):
        raise SymconvError(
            f"{name}: got {shown(value)!r}, expected {len(axes)} sizes {','.join(axes)} for {kind}"
        )
    if any(not is_int(v) or v < 1 for v in shape):
        raise SymconvError(f"{name}: got {shown(value)!r}, expected positive integers {','.join(axes)}")
    check_bound(name, value, shape)
    return shape


def check_kernel_fits(name: str, given, axis: str, kernel: int, dilation: int, padded: int) -> None:
    """Refuse a (dilated) kernel longer than the padded input on one axis (``H``, ``W`` or ``L``)."""
    reach = dilation * (kernel - 1) + 1
    if reach > padded:
        raise SymconvError(
            f"{name}: got {shown(given)!r}, whose extent {reach} on axis {axis} "
            f"(dilation {dilation} x (K-1) + 1) is larger than the padded input {padded}; "
            f"expected a kernel that fits"
        )


def output_size(size: int, kernel: int, stride: int, before: int, after: int, dilation: int = 1,
                ceil_mode: bool = False) -> int:
    """Outputs along one axis, PyTorch's rule for convolution and pooling alike.

    ``floor((size + before + after - dilation*(kernel-1) - 1) / stride) + 1``,
    rounded up instead with ``ceil_mode``, where a last window that would
    start inside the right padding is dropped.
    """
    span = size + before + after - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out


#: A number as text: a decimal (with an exponent of at most three digits, so that
#: reading it cannot build a number of a billion digits) or a ratio p/q.
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?|[+-]?[0-9]+/[0-9]+")


def read_fraction(value, name: str, example: str):
    """A decimal or ``p/q`` (text, int or Fraction) as an exact :class:`fractions.Fraction`
    that a float64 can hold, as PyTorch's double options are.

    >>> read_fraction("1e-5", "eps", "1e-5")
    Fraction(1, 100000)
    >>> read_fraction("0.1.2", "eps", "1e-5")
    Traceback (most recent call last):
    ...
    symconv.errors.SymconvError: eps: got '0.1.2', expected a number such as 1e-5 (an exponent of at most three digits) or a ratio p/q
    """
    from fractions import Fraction

    wrong = SymconvError(f"{name}: got {shown(value)!r}, expected a number such as {example} "
                         f"(an exponent of at most three digits) or a ratio p/q")
    if isinstance(value, float):
        value = repr(value)  # its shortest decimal: 1e-05 is 1/100000, not the binary double's fraction
    if isinstance(value, str):
        if NUMBER_TEXT.fullmatch(value.strip()) is None:
            raise wrong
        value = value.strip()
    elif isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise wrong
    try:
        number = Fraction(value)
        float(number)
    except (TypeError, ValueError, ZeroDivisionError):
        raise wrong from None
    except OverflowError:
        raise SymconvError(f"{name}: got {shown(value)!r}, expected a number a float64 can hold "
                           f"(below 1.8e308 in size), as PyTorch's {name} is one") from None
    return number
