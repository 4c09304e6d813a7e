"""From user text to a layer spec: the one reader of option values.

The CLI (``--stride 2,1``) and the stack syntax (``conv2d(weight=4,3,3,3,
stride=2)``) both hand this module option *text*; it decides which options a
layer accepts, reads each value strictly (integers, the words it knows, and
decimal or ``p/q`` numbers through :class:`fractions.Fraction` - nothing is
ever evaluated as code) and builds the spec.

>>> build_spec("maxpool2d", "1,1,5,5", kernel="2", ceil_mode=True).output_shape
(1, 1, 3, 3)
>>> build_spec("relu", "1,1,4", weight="1,1,2")
Traceback (most recent call last):
...
symconv.errors.SymconvError: weight: got '1,1,2', expected no weight for relu (it takes: no options)
"""

from __future__ import annotations

from fractions import Fraction

from symconv.errors import SymconvError
from symconv.spec import CONV_KINDS, conv_spec, parse_ints
from symconv.spec_pool import ACTIVATION_KINDS, POOL_KINDS, activation_spec, pool_spec

LAYER_KINDS = tuple(CONV_KINDS) + tuple(POOL_KINDS) + ACTIVATION_KINDS

#: The options each kind of layer takes (the CLI's names, with _ for -).
ACCEPTS = {
    **{kind: ("weight", "stride", "padding", "dilation", "groups", "no_bias") for kind in CONV_KINDS},
    "maxpool1d": ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    "maxpool2d": ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    "avgpool1d": ("kernel", "stride", "padding", "ceil_mode", "no_count_include_pad", "divisor_override"),
    "avgpool2d": ("kernel", "stride", "padding", "ceil_mode", "no_count_include_pad", "divisor_override"),
    "relu": (),
    "leaky_relu": ("negative_slope",),
}


def _ints(text, name, expected):
    """One integer, or one per axis, from text (or an int / tuple already read)."""
    if isinstance(text, (int, tuple)):
        return text
    values = parse_ints(text, name, expected)
    return values[0] if len(values) == 1 else values


def _number(text, name):
    if isinstance(text, (int, Fraction)):
        return Fraction(text)
    try:
        return Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise SymconvError(f"{name}: got {text!r}, expected a number such as 0.01 or 1/100") from None


def build_spec(kind: str, input, **options):
    """A validated spec for ``kind`` from option text; ``None`` means "not given".

    Flags (``no_bias``, ``ceil_mode``, ``no_count_include_pad``) are booleans.
    """
    if kind not in LAYER_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(LAYER_KINDS)}")
    given = {name: value for name, value in options.items() if value not in (None, False)}
    for name, value in given.items():
        if name not in ACCEPTS[kind]:
            takes = ", ".join(n.replace("_", "-") for n in ACCEPTS[kind]) or "no options"
            shown = name.replace("_", "-")
            raise SymconvError(f"{shown}: got {value!r}, expected no {shown} for {kind} (it takes: {takes})")
    ndim = CONV_KINDS.get(kind) or POOL_KINDS.get(kind) or None
    axes = "N,C,L" if ndim == 1 else "N,C,H,W" if ndim == 2 else "N,C,L or N,C,H,W"
    shape = input if isinstance(input, tuple) else parse_ints(input, "input", axes)
    per_axis = "one integer or " + ",".join(["S"] * (ndim or 1))
    if kind in CONV_KINDS:
        if "weight" not in given:
            raise SymconvError(f"weight: got nothing, expected --weight {'F,Cg,K' if ndim == 1 else 'F,Cg,KH,KW'} for {kind}")
        padding = given.get("padding", 0)
        if isinstance(padding, str) and padding.strip().lower() in ("same", "valid"):
            padding = padding.strip().lower()
        else:
            padding = _ints(padding, "padding", "P or " + ",".join(["P"] * ndim) + ", or 'same' / 'valid'")
        weight = given["weight"]
        return conv_spec(
            kind, shape,
            weight if isinstance(weight, tuple) else parse_ints(weight, "weight", "F,Cg,K" if ndim == 1 else "F,Cg,KH,KW"),
            stride=_ints(given.get("stride", 1), "stride", per_axis),
            padding=padding,
            dilation=_ints(given.get("dilation", 1), "dilation", per_axis),
            groups=_ints(given.get("groups", 1), "groups", "G"),
            bias=not given.get("no_bias", False),
        )
    if kind in POOL_KINDS:
        if "kernel" not in given:
            raise SymconvError(f"kernel: got nothing, expected --kernel K{'' if ndim == 1 else '[,K]'} for {kind}")
        stride = given.get("stride")
        divisor = given.get("divisor_override")
        return pool_spec(
            kind, shape,
            kernel=_ints(given["kernel"], "kernel", per_axis),
            stride=None if stride is None else _ints(stride, "stride", per_axis),
            padding=_ints(given.get("padding", 0), "padding", per_axis),
            dilation=_ints(given.get("dilation", 1), "dilation", per_axis),
            ceil_mode=bool(given.get("ceil_mode", False)),
            count_include_pad=not given.get("no_count_include_pad", False),
            divisor_override=None if divisor is None else _ints(divisor, "divisor-override", "D"),
        )
    slope = given.get("negative_slope")
    return activation_spec(kind, shape, None if slope is None else _number(slope, "negative-slope"))
