"""Property tests (hypothesis): random layers and stacks of every kind, proven exactly.

* (a) the derived forward and gradients equal the NumPy reference kernels,
  called here directly, at rational values (``Fraction`` object arrays),
  for single layers and for stacks of up to 4 layers, sum and mean reduction;
* (b) each layer's adjoint identity, from the derivation alone: every layer
  is positively homogeneous in its input (linear for convolution and average
  pooling, Euler's identity for ReLU and max pooling), so
  ``<h_in, dh_in> = <h_out, dh_out> - <b, db>`` and, for a convolution,
  ``<w, dw> = <h_out, dh_out> - <b, db>``, exactly;
* (c) max pooling's derived gradient is PyTorch's at tie-heavy small integers;
* (d) invalid layers raise a one-line :class:`SymconvError` ``name: got ...,
  expected ...`` and never another exception, whichever way they are built.

Profiles: ``ci`` (the default: a fixed seed, a few hundred examples in all)
and ``long`` (5000 examples per property, a fresh seed every run), chosen by
the environment variable ``SYMCONV_HYPOTHESIS_PROFILE``. Neither writes an
example database, so no ``.hypothesis`` folder appears.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import symconv
from symconv import SymconvError
from symconv import reference as ref
from symconv.engine.derive import LAYER_NAMES, derive
from symconv.engine.evaluate import evaluate_table
from symconv.spec.options import build_spec
from symconv.spec.stack import tensor_names

#: Largest derivation drawn: each one derives in a few hundredths of a second.
BUDGET = 3000

_COMMON = dict(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=100, **_COMMON)
settings.register_profile("long", derandomize=False, max_examples=5000, print_blob=True, **_COMMON)
PROFILE = os.environ.get("SYMCONV_HYPOTHESIS_PROFILE", "ci")


def examples(ci: int):
    """The profile's settings; under ``ci``, ``ci`` examples for this property."""
    profile = settings.get_profile(PROFILE)
    return settings(profile, max_examples=ci) if PROFILE == "ci" else profile


# ---------------------------------------------------------------- strategies


def _axes(draw, ndim, values):
    """One value for every axis (sometimes as a plain int), or one per axis."""
    items = tuple(draw(values) for _ in range(ndim))
    return items[0] if len(set(items)) == 1 and draw(st.booleans()) else items


@st.composite
def shapes(draw, ndim=None):
    ndim = draw(st.sampled_from((1, 2, 1, 2, 3))) if ndim is None else ndim
    spatial = st.integers(1, 7) if ndim == 1 else st.integers(1, 5) if ndim == 2 else st.integers(1, 3)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + tuple(draw(spatial) for _ in range(ndim))


@st.composite
def conv_options(draw, shape):
    """Keywords of :func:`symconv.conv_spec` for a convolution of ``shape`` that mostly fits."""
    ndim, c = len(shape) - 2, shape[1]
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    filters = groups * draw(st.integers(1, 3 - groups // 2))
    form = draw(st.sampled_from(("int", "axes", "pairs", "same", "valid")))
    stride = 1 if form == "same" else _axes(draw, ndim, st.integers(1, 3))
    padding = {"int": lambda: draw(st.integers(0, 2)), "axes": lambda: _axes(draw, ndim, st.integers(0, 2)),
               "pairs": lambda: tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(ndim)),
               "same": lambda: "same", "valid": lambda: "valid"}[form]()
    pairs = [(0, 0)] * ndim if isinstance(padding, str) else (
        [padding if isinstance(padding, tuple) else (padding, padding) for padding in
         (padding if isinstance(padding, tuple) else (padding,) * ndim)])
    dilation = _axes(draw, ndim, st.integers(1, 2))
    kernel = []
    for axis, (lo, hi) in enumerate(pairs):
        d = dilation if isinstance(dilation, int) else dilation[axis]
        room = shape[2 + axis] + (10 if form == "same" else lo + hi)  # 'same' pads as the kernel needs
        kernel.append(draw(st.integers(1, max(1, min(3, (room - 1) // d + 1)))))
    # Mostly zeros; a mode PyTorch refuses for this padding (reflect on a short axis) is assumed away.
    mode = draw(st.sampled_from(("zeros", "zeros", "reflect", "replicate", "circular")))
    return dict(weight=(filters, c // groups, *kernel), stride=stride, padding=padding, dilation=dilation,
                groups=groups, bias=draw(st.booleans()), padding_mode=mode)


@st.composite
def conv_transpose_options(draw, shape):
    """Keywords of :func:`symconv.conv_transpose_spec` for a transposed convolution of ``shape``."""
    ndim, c = len(shape) - 2, shape[1]
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
    stride, dilation = _axes(draw, ndim, st.integers(1, 3)), _axes(draw, ndim, st.integers(1, 2))
    strides, dilations = _per_axis(stride, ndim), _per_axis(dilation, ndim)
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(strides, dilations))
    return dict(weight=(c, draw(st.integers(1, 2)), *(draw(st.integers(1, 3)) for _ in range(ndim))),
                stride=stride, padding=_axes(draw, ndim, st.integers(0, 2)),
                output_padding=extra[0] if len(set(extra)) == 1 and draw(st.booleans()) else extra,
                dilation=dilation, groups=groups, bias=draw(st.booleans()))


@st.composite
def pool_options(draw, shape, kind):
    ndim = len(shape) - 2
    kernel = tuple(draw(st.integers(1, 3 if ndim < 3 else 2)) for _ in range(ndim))
    options = dict(kernel=kernel if len(set(kernel)) > 1 or draw(st.booleans()) else kernel[0],
                   padding=tuple(draw(st.integers(0, k // 2)) for k in kernel),
                   stride=draw(st.none() | st.integers(1, 3)), ceil_mode=draw(st.booleans()))
    if kind.startswith("max"):
        options["dilation"] = _axes(draw, ndim, st.integers(1, 2))
    else:
        options["count_include_pad"] = draw(st.booleans())
        options["divisor_override"] = draw(st.none() | st.none() | st.integers(1, 5))
    return options


@st.composite
def adaptive_options(draw, shape):
    """An output size of at most the input's, per axis (one value when it fits every axis)."""
    sizes = tuple(draw(st.integers(1, size)) for size in shape[2:])
    return dict(output_size=sizes[0] if len(set(sizes)) == 1 and draw(st.booleans()) else sizes)

#: The kinds these properties draw: the convolutions, pools and piecewise-linear activations, all rational.
#: linear, flatten, sigmoid, tanh and batch norm have their own tests (test_linear.py, test_batchnorm.py,
#: test_sigmoid_tanh.py); three of them are not rational, which the exact properties here need.
KINDS = (tuple(symconv.names.CONV_KINDS) + tuple(symconv.names.CONV_TRANSPOSE_KINDS) + tuple(symconv.names.POOL_KINDS)
         + tuple(symconv.names.ADAPTIVE_KINDS) + ("relu", "leaky_relu"))

SLOPES = st.sampled_from([Fraction(1, 100), Fraction(1, 3), Fraction(0), Fraction(-2), Fraction(5, 2)])


def kinds_for(ndim):
    """The layer kinds that take an input of ``ndim`` spatial axes."""
    return [k for k in KINDS if not k.endswith("d") or k.endswith(f"{ndim}d")]


@st.composite
def recipes(draw, kind, shape):
    """Keywords of ``kind``'s public constructor, for an input of ``shape``."""
    if kind.startswith("conv_transpose"):
        return draw(conv_transpose_options(shape))
    if kind.startswith("conv"):
        return draw(conv_options(shape))
    if kind.startswith("adaptive"):
        return draw(adaptive_options(shape))
    if "pool" in kind:
        return draw(pool_options(shape, kind))
    return {"negative_slope": draw(SLOPES)} if kind == "leaky_relu" else {}


def api_spec(kind, shape, options, family=None):
    """The spec by the public constructors (``conv_spec``, ``pool_spec``, ``activation_spec``),
    the one for ``family`` (a kind) if given."""
    family = family or kind
    if family.startswith("conv_transpose"):
        return symconv.conv_transpose_spec(kind, shape, **options)
    if family.startswith("conv"):
        return symconv.conv_spec(kind, shape, **options)
    if family.startswith("adaptive"):
        return symconv.adaptive_pool_spec(kind, shape, **options)
    if "pool" in family:
        return symconv.pool_spec(kind, shape, **options)
    return symconv.activation_spec(kind, shape, **options)


def text(value):
    """A value as option text: ``2,1`` for per-axis ints; pairs stay tuples (no text form)."""
    if isinstance(value, tuple) and any(isinstance(v, tuple) for v in value):
        return value
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


#: Keywords of the constructors that build_spec spells as flags, and whether True sets the flag.
_FLAGS = {"bias": ("no_bias", False), "count_include_pad": ("no_count_include_pad", False),
          "ceil_mode": ("ceil_mode", True)}


def option_text(options):
    """The keywords as :func:`build_spec` reads them: text, and its flags."""
    out = {}
    for name, value in options.items():
        if name in _FLAGS:
            out[_FLAGS[name][0]] = bool(value) == _FLAGS[name][1]
        elif value is not None:
            out[name] = text(value)
    return out


def stack_options(options):
    """The keywords as a stack layer spells them (flags as ``true``/``false``)."""
    return {name: (("true" if value else "false") if name in _FLAGS else text(value))
            for name, value in options.items() if value is not None}


def stack_text(kind, options):
    """One layer in the stack syntax, or ``None`` if it needs [before, after] pairs."""
    written = stack_options(options)
    if any(isinstance(v, tuple) for v in written.values()):
        return None
    return f"{kind}({', '.join(f'{n}={v}' for n, v in written.items())})" if written else kind


@st.composite
def layers(draw, kinds=KINDS):
    """A single layer's spec by the constructors; from option text it must come out the same."""
    kind = draw(st.sampled_from(kinds))
    shape = draw(shapes(ndim=int(kind[-2]) if kind.endswith("d") else None))
    options = draw(recipes(kind, shape))
    try:
        spec = api_spec(kind, shape, options)
    except SymconvError:
        assume(False)
    assert build_spec(kind, text(shape), **option_text(options)) == spec
    assume(spec.estimate_terms() <= BUDGET)
    return spec


@st.composite
def stacks(draw):
    """A stack of 2 to 4 layers whose shapes chain, from the stack syntax where it can say them."""
    shape = draw(shapes())
    chosen, current, terms = [], shape, 0
    for _ in range(draw(st.integers(2, 4))):
        kind = draw(st.sampled_from(kinds_for(len(shape) - 2)))
        options = draw(recipes(kind, current))
        try:
            layer = api_spec(kind, current, options)
        except SymconvError:
            assume(False)
        terms += layer.estimate_terms()
        assume(terms <= BUDGET)
        chosen.append((kind, options))
        current = layer.output_shape
    written = [stack_text(kind, options) for kind, options in chosen]
    if all(written):
        spec = symconv.stack_spec(shape, symconv.parse_layers(" | ".join(written)))
    else:
        spec = symconv.stack_spec(shape, [(kind, stack_options(options)) for kind, options in chosen])
    assume(spec.estimate_terms() <= BUDGET)
    return spec


# ------------------------------------------------------- values and the chain


def chain(d):
    """``(layer, names, forward, gradients)`` per layer, a lone layer being a chain of one."""
    if d.is_stack:
        return list(zip(d.spec.layers, d.names, d.forward, d.gradients))
    return [(d.spec, LAYER_NAMES, d.forward, d.gradients)]


def leaves(d):
    """``{name: shape}`` of x, every weight and bias, and dy."""
    shapes = {"x": d.spec.input, "dy": d.spec.output_shape}
    for layer, names, _, _ in chain(d):
        if layer.parameters:
            shapes[names["w"]] = layer.weight
            if layer.bias:
                shapes[names["b"]] = layer.bias_shape
    return shapes


VALUE_STYLES = ("rational", "rational", "ties", "constant")


def draw_values(d, seed, style):
    """Exact values of every leaf: random rationals; x tie-heavy (0, 1, 2, -1) or constant."""
    rng = np.random.default_rng(seed)

    def rational(shape):
        a = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            a[index] = Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 10)))
        return a

    values = {name: rational(shape) for name, shape in leaves(d).items()}
    if style == "ties":
        values["x"] = rng.integers(-1, 3, size=d.spec.input).astype(object)
    elif style == "constant":
        values["x"] = np.full(d.spec.input, Fraction(int(rng.integers(-3, 4)), 2), dtype=object)
    return values


def derived(d, values):
    """Every output and gradient of the derivation, evaluated exactly along the chain."""
    values = dict(values)
    for layer, names, forward, _ in chain(d):
        values[names["y"]] = evaluate_table(forward, layer.output_shape, values, object)
    for _, _, _, gradients in reversed(chain(d)):
        for name, table in gradients.items():
            values[name] = evaluate_table(table, d.shapes[name[1:]], values, object)
    return values


def reference_layer(layer, values, names, scale):
    """One layer by :mod:`symconv.reference`, from the spec's own fields: ``(y, {gradient: value})``."""
    x, dy = values[names["x"]], values["d" + names["y"]] if "d" + names["y"] in values else None
    if layer.kind.startswith("conv_transpose"):
        options = dict(stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding,
                       dilation=layer.dilation, groups=layer.groups)
        w, b = values[names["w"]], values[names["b"]] if layer.bias else None
        if dy is None:
            return ref.conv_transpose_forward(x, w, b, **options)
        dx, dw, db = ref.conv_transpose_backward(dy * scale, x, w, **options)
        return {"dx": dx, "dw": dw, "db": db} if layer.bias else {"dx": dx, "dw": dw}
    if layer.parameters:
        options = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                       padding_mode=layer.padding_mode)
        w, b = values[names["w"]], values[names["b"]] if layer.bias else None
        if dy is None:
            return ref.conv_forward(x, w, b, **options)
        dx, dw, db = ref.conv_backward(dy * scale, x, w, **options)
        return {"dx": dx, "dw": dw, "db": db} if layer.bias else {"dx": dx, "dw": dw}
    if layer.kind.startswith("adaptive"):
        forward, backward = ((ref.adaptive_max_pool_forward, ref.adaptive_max_pool_backward) if "max" in layer.kind
                             else (ref.adaptive_avg_pool_forward, ref.adaptive_avg_pool_backward))
        return forward(x, layer.output_size) if dy is None else {"dx": backward(dy * scale, x, layer.output_size)}
    if "pool" in layer.kind:
        options = dict(stride=layer.stride, padding=layer.padding, ceil_mode=layer.ceil_mode)
        if layer.is_max:
            forward, backward, options = ref.max_pool_forward, ref.max_pool_backward, dict(
                options, dilation=layer.dilation)
        else:
            forward, backward, options = ref.avg_pool_forward, ref.avg_pool_backward, dict(
                options, count_include_pad=layer.count_include_pad, divisor_override=layer.divisor_override)
        return forward(x, layer.kernel, **options) if dy is None else {
            "dx": backward(dy * scale, x, layer.kernel, **options)}
    slope = layer.negative_slope
    return ref.relu_forward(x, slope) if dy is None else {"dx": ref.relu_backward(dy * scale, x, slope)}


def referenced(d, values):
    """The same tensors by the reference kernels composed along the chain (1/N on the last layer)."""
    values, steps = dict(values), chain(d)
    for layer, names, _, _ in steps:
        values[names["y"]] = reference_layer(layer, {k: v for k, v in values.items() if k[0] != "d"}, names, 1)
    for position, (layer, names, _, _) in reversed(list(enumerate(steps))):
        scale = Fraction(1, d.spec.input[0]) if d.reduction == "mean" and position == len(steps) - 1 else 1
        for role, value in reference_layer(layer, values, names, scale).items():
            values["d" + names[role[1:]]] = value
    return values


def assert_exactly_equal(got, want, name):
    assert got.shape == want.shape, f"{name}: shape {got.shape}, reference {want.shape}"
    inexact = [v for v in got.flat if not isinstance(v, (int, Fraction))]
    assert not inexact, f"{name}: derived values are not exact: {inexact[:3]}"
    for index in np.ndindex(*got.shape):
        assert got[index] == want[index], f"{name}{list(index)}: derived {got[index]}, reference {want[index]}"


def inner(a, b):
    return sum((p * q for p, q in zip(np.asarray(a).flat, np.asarray(b).flat)), Fraction(0))


# ---------------------------------------------------------------- properties


def check_against_reference(spec, seed, style, reduction):
    d = derive(spec, reduction=reduction)
    values = draw_values(d, seed, style)
    got, want = derived(d, values), referenced(d, values)
    computed = [name for name in got if name not in values]
    assert sorted(computed) == sorted(name for name in want if name not in values)
    for name in computed:
        assert_exactly_equal(got[name], want[name], name)


@examples(150)
@given(layers(), st.integers(0, 2**32 - 1), st.sampled_from(VALUE_STYLES), st.sampled_from(("sum", "mean")))
def test_a_layer_equals_the_reference_exactly(spec, seed, style, reduction):
    note(spec)
    check_against_reference(spec, seed, style, reduction)


@examples(60)
@given(stacks(), st.integers(0, 2**32 - 1), st.sampled_from(VALUE_STYLES), st.sampled_from(("sum", "mean")))
def test_a_stack_equals_the_reference_exactly(spec, seed, style, reduction):
    note(spec)
    check_against_reference(spec, seed, style, reduction)


@examples(100)
@given(st.one_of(layers(), stacks()), st.integers(0, 2**32 - 1), st.sampled_from(VALUE_STYLES))
def test_b_every_layer_satisfies_its_adjoint_identity(spec, seed, style):
    """``<h_in, dh_in> = <h_out, dh_out> - <b, db> = <w, dw>``, from the derivation alone."""
    note(spec)
    d = derive(spec)
    values = derived(d, draw_values(d, seed, style))
    for layer, names, _, _ in chain(d):
        x, y = names["x"], names["y"]
        out = inner(values[y], values["d" + y])
        if layer.parameters and layer.bias:
            out -= inner(values[names["b"]], values["d" + names["b"]])
        assert inner(values[x], values["d" + x]) == out, f"<{x}, d{x}> != <{y}, d{y}> - <b, db> ({layer.kind})"
        if layer.parameters:
            w = names["w"]
            assert inner(values[w], values["d" + w]) == out, f"<{w}, d{w}> != <{y}, d{y}> - <b, db>"


def torch_max(torch, spec, xt):
    """PyTorch's max pool (adaptive or not) of ``spec`` at ``xt``."""
    F = torch.nn.functional
    if spec.kind.startswith("adaptive"):
        return (F.adaptive_max_pool1d, F.adaptive_max_pool2d)[spec.ndim - 1](xt, spec.output_size)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spec.ndim - 1]
    return pool(xt, spec.kernel, spec.stride, spec.padding, spec.dilation, ceil_mode=spec.ceil_mode)


@examples(60)
@given(layers(kinds=("maxpool1d", "maxpool2d", "maxpool3d", "adaptive_maxpool1d", "adaptive_maxpool2d")),
       st.integers(0, 2**32 - 1), st.sampled_from(("ties", "constant")))
def test_c_max_pool_is_pytorchs_gradient_at_ties(spec, seed, style):
    torch = pytest.importorskip("torch")
    note(spec)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=spec.input) if style == "ties" else np.full(spec.input, 1)
    dy = rng.integers(-3, 4, size=spec.output_shape)
    got = derived(derive(spec), {"x": x.astype(object), "dy": dy.astype(object)})
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = torch_max(torch, spec, xt)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    np.testing.assert_array_equal(got["y"].astype(float), y.detach().numpy())
    np.testing.assert_array_equal(got["dx"].astype(float), xt.grad.numpy())


# ------------------------------------------------------------ invalid layers

#: One line, naming the parameter: ``name: got ..., expected ...`` (a few spec
#: messages, pinned verbatim elsewhere, say ``...; expected ...``).
MESSAGE = re.compile(r"^[a-z_-]+: got .*[,;] expected .+")
#: A stack's message says where, then the layer's own: ``layers: layer 2 (relu), applied to ...: input: got ...``.
STACK_MESSAGE = re.compile(r"^layers: (layer \d+[^:]*: )?([a-z_-]+: )?got .*[,;] expected .+")

class Huge:
    """Stands for 10**5000 until the layer is built: str() of the int itself raises
    (Python converts at most 4300 digits), and hypothesis shows what it draws."""

    def __repr__(self):
        return "10**5000"


HUGE = Huge()


def real(value, as_text=False):
    """``value`` with every :class:`Huge` made the int it stands for (or its digits)."""
    if isinstance(value, Huge):
        return "1" + "0" * 5000 if as_text else 10**5000
    if isinstance(value, (tuple, list)):
        return type(value)(real(v, as_text) for v in value)
    if isinstance(value, dict):
        return {k: real(v, as_text) for k, v in value.items()}
    return value
#: Bad values of a positive integer, by how the layer is built: the constructors
#: (Python values), build_spec with Python values (None means "not given"
#: there), and option text.
BAD = {
    "api": (0, -1, -7, 2**31, 10**20, HUGE, 1.5, 2.0, "2", True, None, float("nan")),
    "values": (0, -1, -7, 2**31, 10**20, HUGE, 1.5, 2.0, True, float("nan")),
    "text": ("0", "-1", "-7", "2147483648", "1" + "0" * 5000, "1.5", "2.0", "x", "", "1,,2", "nan", "2**3"),
}
BAD["stack"] = BAD["text"]
BAD_SLOPES = {"api": ("abc", "1e5000", "1e400", "1/0", "", float("nan"), float("inf"), 10**400, HUGE, [1]),
              "text": ("abc", "1e5000", "1e400", "1/0", "", "nan", "inf", "1" + "0" * 400)}
BAD_SLOPES["values"] = BAD_SLOPES["api"]
BAD_SLOPES["stack"] = BAD_SLOPES["text"]


def _per_axis(value, ndim):
    return value if isinstance(value, tuple) else (value,) * ndim


@st.composite
def invalid_layers(draw):
    """``(route, kind, shape, options, what)``: a valid layer with one thing made wrong."""
    kind = draw(st.sampled_from(KINDS))
    shape = draw(shapes(ndim=int(kind[-2]) if kind.endswith("d") else None))
    options = draw(recipes(kind, shape))
    try:
        api_spec(kind, shape, options)
    except SymconvError:
        assume(False)
    route, family = draw(st.sampled_from(("api", "values", "text", "stack"))), kind
    bad, ndim = st.sampled_from(BAD[route]), len(shape) - 2
    what = ["kind", "input", "input-length", "not-a-shape"] + (["foreign"] if route != "api" else [])
    if kind.startswith("conv_transpose"):
        what += ["weight", "channels", "groups", "stride", "dilation", "padding", "output-padding"]
    elif kind.startswith("conv"):
        what += ["weight", "channels", "kernel-too-large", "groups", "stride", "dilation", "padding", "same-stride",
                 "padding-mode"]
    elif kind.startswith("adaptive"):
        what += ["output-size", "output-size-larger", "output-size-length"]
    elif "pool" in kind:
        what += ["kernel", "kernel-too-large", "padding-over-half", "padding-pairs", "stride", "dilation", "divisor"]
    else:
        what += ["slope"]
    what = draw(st.sampled_from(what))
    axis = draw(st.integers(0, ndim - 1))
    shape, options = list(shape), dict(options)
    if what == "kind":
        kind = draw(st.sampled_from(("conv4d", "maxpool4d", "adaptive_maxpool3d", "Relu", "", "stack", "conv2d ",
                                     "pool")))
    elif what == "input":
        shape[draw(st.integers(0, len(shape) - 1))] = draw(bad)
    elif what == "not-a-shape":
        shape = draw(st.sampled_from((4, None, 2.5, HUGE) if route != "text" else ("1;1;4", "[1, 1, 4]", "")))
    elif what == "foreign":  # an option the kind does not take
        foreign = {"conv": ("kernel", "ceil_mode", "divisor_override"),
                   "maxp": ("weight", "groups", "divisor_override", "padding_mode"),
                   "avgp": ("weight", "dilation", "groups", "padding_mode"), "relu": ("kernel", "weight", "padding_mode"),
                   "leak": ("padding", "padding_mode"),
                   "adap": ("kernel", "stride", "padding", "padding_mode", "ceil_mode")}
        name = draw(st.sampled_from(foreign[kind[:4]]))
        if name == "padding_mode":  # a mode the convolutions take, on a layer that takes none
            options[name] = draw(st.sampled_from(("zeros", "reflect", "replicate", "circular")))
        else:
            options[name] = True if name == "ceil_mode" else draw(bad.filter(lambda v: v is not None and v != ""))
    elif what == "input-length":
        # An activation takes N,F (a linear layer's output) too: one axis is too few for every kind.
        shape = shape[:1] if not kind.endswith("d") or draw(st.booleans()) else shape + [3, 3, 3]
    elif what in ("weight", "channels"):
        weight = list(options["weight"])
        if what == "weight":
            weight[draw(st.integers(0, len(weight) - 1))] = draw(bad)
        else:  # a convolution's C/groups, a transposed convolution's C_in
            weight[0 if kind.startswith("conv_transpose") else 1] += draw(st.integers(1, 2))
        options["weight"] = tuple(weight)
    elif what == "kernel-too-large":
        key = "weight" if kind.startswith("conv") else "kernel"
        kernel = list(options["weight"][2:] if key == "weight" else _per_axis(options["kernel"], ndim))
        kernel[axis] = shape[2 + axis] + 1
        options.update({key: tuple(options["weight"][:2]) + tuple(kernel) if key == "weight" else tuple(kernel),
                        "padding": 0})
    elif what == "groups":
        options["groups"] = draw(bad | st.just(shape[1] + 1))
    elif what in ("stride", "dilation", "kernel"):
        if kind.startswith("avg") and what == "dilation":
            options["dilation"] = draw(st.sampled_from((2, (1,) * ndim + (1,)) if route == "api" else ("2",)))
        else:
            value = draw(bad.filter(lambda v: v is not None) | st.just((1,) * (ndim + 1)))
            options[what] = value if isinstance(value, (str, float, int)) or value is None else value
    elif what == "padding":
        options["padding"] = draw(st.sampled_from((-1, ((0, -1),) * ndim, 2**31, HUGE, "bogus", "",
                                                   ((1, 2, 3),) * ndim, 1.5, True)
                                                  + ((None,) if route == "api" else ())))
    elif what == "output-padding":  # as large as the stride and the dilation, or not an integer
        worst = max(_per_axis(options["stride"], ndim) + _per_axis(options["dilation"], ndim))
        options["output_padding"] = draw(st.sampled_from((worst, -1)) | bad.filter(lambda v: v is not None))
    elif what == "same-stride":
        options.update(padding="same", stride=draw(st.integers(2, 3)))
    elif what == "padding-mode":
        if draw(st.booleans()):  # a word that is no mode (None too, where it is not "not given")
            options["padding_mode"] = draw(st.sampled_from(("mirror", "", "zero", "Reflect101", 1)
                                                           + ((None, True) if route == "api" else ())))
        else:  # a padding the mode cannot fill from x: reflect >= the size, circular > the size
            mode = draw(st.sampled_from(("reflect", "circular")))
            padding = [0] * ndim
            padding[axis] = shape[2 + axis] + (mode == "circular")
            options.update(padding_mode=mode, padding=tuple(padding), stride=1)
    elif what == "padding-over-half":
        kernel = _per_axis(options["kernel"], ndim)
        padding = list(options["padding"])
        padding[axis] = kernel[axis] // 2 + 1
        options["padding"] = tuple(padding)
    elif what == "padding-pairs":
        options["padding"] = ((0, 0),) * ndim
    elif what == "divisor":
        options["divisor_override"] = 2 if kind.startswith("max") else draw(
            bad.filter(lambda v: v is not None and v not in (2, "2")))
    elif what == "output-size":
        options["output_size"] = draw(bad.filter(lambda v: v is not None))
    elif what == "output-size-larger":
        sizes = list(_per_axis(options["output_size"], ndim))
        sizes[axis] = shape[2 + axis] + draw(st.integers(1, 3))
        options["output_size"] = tuple(sizes)
    elif what == "output-size-length":
        options["output_size"] = tuple([1] * draw(st.sampled_from([n for n in (1, 2, 3, 4) if n != ndim and n > 1])))
    elif what == "slope":
        options["negative_slope"] = Fraction(1, 2) if kind == "relu" else draw(st.sampled_from(BAD_SLOPES[route]))
    return route, (family, kind), shape, options, what


def build(route, kinds, shape, options):
    """Build the layer the way ``route`` says (by ``family``'s constructor, for ``"api"``)."""
    family, kind = kinds
    shape, options = real(shape, route in ("text", "stack")), real(options, route in ("text", "stack"))
    shape = tuple(shape) if isinstance(shape, list) else shape
    if route == "api":
        return api_spec(kind, shape, options, family)
    if route == "values":
        flags = option_text({k: v for k, v in options.items() if k in _FLAGS})
        return build_spec(kind, shape, **{k: v for k, v in options.items() if k not in _FLAGS}, **flags)
    if route == "text":
        return build_spec(kind, ",".join(map(text, shape)) if isinstance(shape, tuple) else shape,
                          **option_text(options))
    return symconv.stack_spec(shape, [("relu", {}), (kind, stack_options(options))])


@examples(400)
@given(invalid_layers())
def test_d_an_invalid_layer_raises_one_line_naming_the_parameter(case):
    route, kind, shape, options, what = case
    note(f"{route}: {kind} {shape} {options} ({what})")
    with pytest.raises(SymconvError) as raised:
        build(route, kind, shape, options)
    message = str(raised.value)
    assert "\n" not in message
    assert (STACK_MESSAGE if route == "stack" else MESSAGE).match(message), message
