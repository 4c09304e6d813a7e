"""From user text to a layer spec: the one reader of option values.

The CLI (``--stride 2,1``) and the stack syntax (``conv2d(weight=4,3,3,3,
stride=2)``) both hand this module option *text*; it decides which options a
layer accepts, reads each value strictly (integers, the words it knows, and
decimal or ``p/q`` numbers as :class:`fractions.Fraction` - nothing is
ever evaluated as code) and builds the spec. Every message says what the
option may be, in words: ``stride: got '1.5', expected an integer or 2
comma-separated integers (one per axis H,W)``.

>>> build_spec("maxpool2d", "1,1,5,5", kernel="2", ceil_mode=True).output_shape
(1, 1, 3, 3)
>>> build_spec("relu", "1,1,4", weight="1,1,2")
Traceback (most recent call last):
...
symconv.errors.SymconvError: weight: got '1,1,2', expected no weight for relu (it takes: no options)
"""

from __future__ import annotations

from symconv.errors import SymconvError
from symconv.names import (
    ACTIVATION_KINDS, ADAPTIVE_KINDS, CONV_KINDS, CONV_TRANSPOSE_KINDS, LAYER_KINDS, NORM_KINDS, POOL_KINDS,
)
from symconv.spec.conv import conv_spec, padding_expected
from symconv.spec.conv_transpose import conv_transpose_spec, input_axes, weight_axes
from symconv.spec.dense import flatten_spec, linear_spec
from symconv.spec.norm import batchnorm_spec
from symconv.spec.values import as_given, axis_names, parse_ints, per_axis_expected, read_ints
from symconv.spec.activation import activation_spec
from symconv.spec.pool import pool_spec
from symconv.spec.adaptive import adaptive_pool_spec

#: The options each kind of layer takes (the CLI's names, with _ for -).
ACCEPTS = {
    **{kind: ("weight", "stride", "padding", "padding_mode", "dilation", "groups", "no_bias") for kind in CONV_KINDS},
    **{kind: ("weight", "stride", "padding", "output_padding", "dilation", "groups", "no_bias")
       for kind in CONV_TRANSPOSE_KINDS},
    **{kind: ("kernel", "stride", "padding", "dilation", "ceil_mode")
       for kind in ("maxpool1d", "maxpool2d", "maxpool3d")},
    **{kind: ("kernel", "stride", "padding", "ceil_mode", "no_count_include_pad", "divisor_override")
       for kind in ("avgpool1d", "avgpool2d", "avgpool3d")},
    **{kind: ("output_size",) for kind in ADAPTIVE_KINDS},
    "relu": (),
    "leaky_relu": ("negative_slope",),
    "sigmoid": (),
    "tanh": (),
    "linear": ("weight", "no_bias"),
    "flatten": (),
    "batchnorm1d": ("eps",),
    "batchnorm2d": ("eps",),
}

#: How a kind's input is described when it cannot be read (by the spec otherwise).
INPUT_AXES = {"linear": "N,IN", "flatten": "N,C,...", "batchnorm1d": "N,C or N,C,L", "batchnorm2d": "N,C,H,W"}


def _ints(text, name, expected):
    """One integer, or one per axis, from text (or an int / tuple already read).

    ``expected`` is the whole phrase for the message: ``"an integer"``, or
    what :func:`symconv.spec.values.per_axis_expected` says for the layer.
    """
    if isinstance(text, (int, tuple)):
        return text
    values = read_ints(text, name, expected)
    return values[0] if len(values) == 1 else values


def _int(text, name):
    """One integer (groups, divisor-override) from text, or a value already read."""
    if isinstance(text, (int, tuple)):
        return text
    values = read_ints(text, name, "a positive integer")
    if len(values) != 1:
        raise SymconvError(f"{name}: got {text!r}, expected a positive integer")
    return values[0]


def build_spec(kind: str, input, /, **options):
    """A validated spec for ``kind`` from option text; ``None`` means "not given".

    Flags (``no_bias``, ``ceil_mode``, ``no_count_include_pad``) are booleans.
    ``kind`` and ``input`` are positional only, so that an option of either
    name (a stack layer's ``input=...``) is refused like any unknown option.
    """
    if kind not in LAYER_KINDS:
        raise SymconvError(f"layer: got {kind!r}, expected one of {', '.join(LAYER_KINDS)}")
    # By identity: 0 == False, and stride=0 must be refused, not taken for "not given".
    given = {name: value for name, value in options.items() if value is not None and value is not False}
    for name, value in given.items():
        if name not in ACCEPTS[kind]:
            takes = ", ".join(n.replace("_", "-") for n in ACCEPTS[kind]) or "no options"
            shown = name.replace("_", "-")
            raise SymconvError(f"{shown}: got {as_given(value)}, expected no {shown} for {kind} (it takes: {takes})")
    ndim = (CONV_KINDS.get(kind) or CONV_TRANSPOSE_KINDS.get(kind) or POOL_KINDS.get(kind)
            or ADAPTIVE_KINDS.get(kind) or None)
    axes = INPUT_AXES.get(kind) or (f"N,C,{axis_names(ndim)}" if ndim else "N,C,L, N,C,H,W or N,C,D,H,W")
    if kind in CONV_TRANSPOSE_KINDS:
        axes = input_axes(ndim)
    shape = input if isinstance(input, tuple) else parse_ints(input, "input", axes)
    return _BUILDERS[kind](kind, shape, ndim, given)


def _conv(kind, shape, ndim, given):
    per_axis = per_axis_expected(ndim)
    kernel_axes = {1: "F,C/groups,K", 2: "F,C/groups,KH,KW", 3: "F,C/groups,KD,KH,KW"}[ndim]
    if "weight" not in given:
        raise SymconvError(f"weight: got nothing, expected --weight {kernel_axes} for {kind}")
    padding = given.get("padding", 0)
    if isinstance(padding, str) and padding.strip().lower() in ("same", "valid"):
        padding = padding.strip().lower()
    else:
        padding = _ints(padding, "padding", padding_expected(ndim))
    weight = given["weight"]
    return conv_spec(
        kind, shape,
        weight if isinstance(weight, tuple) else parse_ints(weight, "weight", kernel_axes),
        stride=_ints(given.get("stride", 1), "stride", per_axis),
        padding=padding,
        dilation=_ints(given.get("dilation", 1), "dilation", per_axis),
        groups=_int(given.get("groups", 1), "groups"),
        bias=not given.get("no_bias", False),
        padding_mode=given.get("padding_mode", "zeros"),
    )


def _conv_transpose(kind, shape, ndim, given):
    per_axis = per_axis_expected(ndim)
    if "weight" not in given:
        raise SymconvError(f"weight: got nothing, expected --weight {weight_axes(ndim)} for {kind}")
    weight = given["weight"]
    padding = given.get("padding", 0)
    if isinstance(padding, str) and padding.strip().lower() in ("same", "valid"):
        raise SymconvError(f"padding: got {padding!r}, expected {per_axis} (ConvTranspose takes no 'same' or 'valid')")
    return conv_transpose_spec(
        kind, shape,
        weight if isinstance(weight, tuple) else parse_ints(weight, "weight", weight_axes(ndim)),
        stride=_ints(given.get("stride", 1), "stride", per_axis),
        padding=_ints(padding, "padding", per_axis),
        output_padding=_ints(given.get("output_padding", 0), "output-padding", per_axis),
        dilation=_ints(given.get("dilation", 1), "dilation", per_axis),
        groups=_int(given.get("groups", 1), "groups"),
        bias=not given.get("no_bias", False),
    )


def _pool(kind, shape, ndim, given):
    per_axis = per_axis_expected(ndim)
    if "kernel" not in given:
        kernel = "K" if ndim == 1 else "K or K" + ",K".join(axis_names(ndim).split(","))
        raise SymconvError(f"kernel: got nothing, expected --kernel {kernel} for {kind}")
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
        divisor_override=None if divisor is None else _int(divisor, "divisor-override"),
    )


def _adaptive(kind, shape, ndim, given):
    if "output_size" not in given:
        per_axis = "" if ndim == 1 else f" or one per axis {axis_names(ndim)}"
        raise SymconvError(f"output-size: got nothing, expected --output-size O{per_axis} for {kind}")
    return adaptive_pool_spec(kind, shape, _ints(given["output_size"], "output-size", per_axis_expected(ndim)))


def _activation(kind, shape, ndim, given):
    # The slope's text is read (strictly, as a decimal or p/q) by activation_spec.
    return activation_spec(kind, shape, given.get("negative_slope"))


def _linear(kind, shape, ndim, given):
    if "weight" not in given:
        raise SymconvError("weight: got nothing, expected --weight OUT,IN for linear")
    weight = given["weight"]
    return linear_spec(shape, weight if isinstance(weight, tuple) else parse_ints(weight, "weight", "OUT,IN"),
                       bias=not given.get("no_bias", False))


def _flatten(kind, shape, ndim, given):
    return flatten_spec(shape)


def _batchnorm(kind, shape, ndim, given):
    # eps's text is read (strictly, as a decimal or p/q) by batchnorm_spec.
    return batchnorm_spec(kind, shape, given.get("eps"))


#: Each kind's spec builder, from the option text :func:`build_spec` accepted.
_BUILDERS = {**{kind: _conv for kind in CONV_KINDS}, **{kind: _conv_transpose for kind in CONV_TRANSPOSE_KINDS},
             **{kind: _pool for kind in POOL_KINDS}, **{kind: _adaptive for kind in ADAPTIVE_KINDS},
             **{kind: _activation for kind in ACTIVATION_KINDS}, "linear": _linear, "flatten": _flatten,
             **{kind: _batchnorm for kind in NORM_KINDS}}
