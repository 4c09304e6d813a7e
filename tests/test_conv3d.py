"""conv3d: spec, derivation, reference, printing, stacks and refusals, against PyTorch.

The expectations come from PyTorch's autograd (float64, ``torch.nn.functional.conv3d``),
from the NumPy reference evaluated on ``Fraction`` arrays, or from entries
small enough to derive by hand; never from the derivation itself.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

import symconv
from conftest import quick_first
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.formula.operators import check_identities, operator_gradients, output_padding
from symconv.printing.documents import render
from symconv.reference import conv_backward, conv_forward
from symconv.spec.conv import conv_spec
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional


def invoke(args):
    return CliRunner().invoke(cli, args)


# --------------------------------------------------------------------------
# PyTorch's conv3d, forward and every gradient, at random floats
# --------------------------------------------------------------------------


def torch_conv(x, w, b, stride, padding, dilation, groups, padding_mode="zeros", dy=None):
    """``(y, dy, dx, dw, db)`` by PyTorch: y = conv(x), L = sum(dy * y) with ``dy`` (random if not given).

    ``padding`` is what the user gave: a word goes to PyTorch as it is (it
    computes 'same' itself); numbers or [before, after] pairs pad with F.pad.
    """
    nd = x.ndim - 2
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    if isinstance(padding, str):
        y = conv(xt, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    else:
        per_axis = (padding,) * nd if isinstance(padding, int) else padding
        pairs = [p if isinstance(p, tuple) else (p, p) for p in per_axis]
        flat = [v for pair in reversed(pairs) for v in pair]  # F.pad: last axis first
        padded = F.pad(xt, flat) if padding_mode == "zeros" else F.pad(xt, flat, mode=padding_mode)
        y = conv(padded, wt, bt, stride=stride, dilation=dilation, groups=groups)
    dy = torch.tensor(np.random.default_rng(7).standard_normal(tuple(y.shape)) if dy is None else dy)
    y.backward(dy)
    return (y.detach().numpy(), dy.numpy(), xt.grad.numpy(), wt.grad.numpy(),
            None if b is None else bt.grad.numpy())


def assert_derivation_is_torchs(spec, padding_given, seed=0):
    """The derived forward and gradients, evaluated at random floats, equal PyTorch's."""
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(spec.input), rng.standard_normal(spec.weight)
    b = rng.standard_normal(spec.weight[0]) if spec.bias else None
    y, dy, dx, dw, db = torch_conv(x, w, b, spec.stride, padding_given, spec.dilation, spec.groups,
                                   spec.padding_mode)
    d = derive(spec)
    values = {"x": x, "w": w, "dy": dy, **({"b": b} if spec.bias else {})}
    np.testing.assert_allclose(d.forward.evaluate(values), y, rtol=1e-10, atol=1e-10)
    want = {"dx": dx, "dw": dw, "db": db}
    assert set(d.gradients) == ({"dx", "dw", "db"} if spec.bias else {"dx", "dw"})
    for name, table in d.gradients.items():
        np.testing.assert_allclose(table.evaluate(values), want[name], rtol=1e-10, atol=1e-10, err_msg=name)


#: (input, weight, options as the user gives them): every conv option in 3-D.
GRID = [
    ((1, 1, 3, 3, 3), (1, 1, 2, 2, 2), {}),
    ((2, 3, 4, 5, 3), (4, 3, 2, 3, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1))),
    ((1, 2, 5, 4, 4), (2, 2, 3, 2, 2), dict(dilation=(2, 1, 1), padding=((2, 0), (1, 1), (0, 1)))),
    ((1, 4, 3, 4, 5), (4, 2, 1, 2, 3), dict(groups=2, padding="same")),
    ((1, 2, 4, 3, 4), (2, 2, 2, 2, 3), dict(padding="same", dilation=(1, 2, 1))),
    ((2, 2, 4, 4, 4), (2, 1, 3, 3, 3), dict(groups=2, padding="valid", bias=False)),
    ((1, 3, 3, 3, 3), (3, 1, 2, 2, 2), dict(groups=3, stride=2, padding=1)),
    ((1, 1, 6, 5, 5), (1, 1, 3, 2, 2), dict(stride=(3, 2, 1), dilation=(2, 2, 1), padding=2)),
    ((1, 1, 2, 2, 2), (1, 1, 3, 3, 3), dict(padding=1)),
    ((1, 2, 7, 5, 5), (1, 2, 2, 2, 2), dict(stride=3, bias=False)),
    ((1, 2, 3, 4, 4), (3, 2, 3, 1, 2), dict(stride=(1, 2, 2), padding=((1, 2), (0, 0), (2, 1)), dilation=2)),
]


def case_id(case):
    shape, weight, options = case
    words = [",".join(map(str, shape)), ",".join(map(str, weight))]
    words += [f"{k}={''.join(str(v).split())}" for k, v in options.items()]
    return "-".join(words)


def spec_of(case, **more):
    shape, weight, options = case
    return conv_spec("conv3d", shape, weight, **options, **more)


@pytest.mark.parametrize("case", quick_first(GRID, case_id))
def test_conv3d_derivation_equals_pytorch(case):
    assert_derivation_is_torchs(spec_of(case), case[2].get("padding", 0))


@pytest.mark.parametrize("case", quick_first(GRID, case_id))
def test_conv3d_output_shape_is_pytorchs(case):
    shape, weight, options = case
    spec = spec_of(case)
    b = np.zeros(weight[0]) if spec.bias else None
    y = torch_conv(np.zeros(shape), np.zeros(weight), b, spec.stride, options.get("padding", 0), spec.dilation,
                   spec.groups)[0]
    assert spec.output_shape == y.shape


@pytest.mark.parametrize("case", quick_first(GRID, case_id))
def test_conv3d_size_guard_counts_every_term_exactly(case):
    spec = spec_of(case)
    d = derive(spec)
    assert spec.estimate_terms() == d.forward.terms + sum(t.terms for t in d.gradients.values())
    assert spec.count_entries() == sum(math.prod(s) for s in (spec.output_shape, spec.input, spec.weight)) + (
        spec.weight[0] if spec.bias else 0)


@pytest.mark.parametrize("case", quick_first(GRID[:6], case_id))
def test_conv3d_verify_passes_every_check_exact_included(case):
    report = symconv.verify(derive(spec_of(case)))
    assert report.passed, report.table()
    assert all(check.exact is True for check in report.checks)


@pytest.mark.parametrize("x_shape, w_shape, options", [
    ((3, 4, 7, 8, 6), (6, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=((1, 2), (0, 1), (2, 2)), dilation=(1, 2, 1),
                                            groups=2)),
    # F <= C at stride 1, padding within the kernel's reach: dx by the reference's correlation shortcut
    ((2, 8, 5, 6, 7), (4, 8, 3, 3, 2), dict(stride=1, padding=((1, 1), (2, 0), (0, 1)), dilation=(1, 1, 2), groups=1)),
], ids=["col2im", "shortcut"])
def test_conv3d_reference_equals_pytorch_on_a_larger_layer(x_shape, w_shape, options):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    y, dy, dx, dw, db = torch_conv(x, w, b, **options)
    np.testing.assert_allclose(conv_forward(x, w, b, **options), y, rtol=1e-10, atol=1e-10)
    for got, want in zip(conv_backward(dy, x, w, **options), (dx, dw, db)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_conv3d_reference_is_exact_on_fractions():
    rng = np.random.default_rng(4)

    def fractions(shape):
        return np.array([Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 8))) for _ in range(math.prod(shape))],
                        dtype=object).reshape(shape)

    x, w, b = fractions((1, 2, 3, 4, 3)), fractions((2, 1, 2, 2, 2)), fractions((2,))
    options = dict(stride=(1, 2, 1), padding=1, groups=2)
    y = conv_forward(x, w, b, **options)
    dy = fractions(y.shape)
    floats = conv_forward(x.astype(float), w.astype(float), b.astype(float), **options)
    assert all(isinstance(v, Fraction) for v in y.flat)
    np.testing.assert_allclose(y.astype(float), floats, rtol=1e-12)
    for exact, approx in zip(conv_backward(dy, x, w, **options),
                             conv_backward(dy.astype(float), x.astype(float), w.astype(float), **options)):
        assert all(isinstance(v, (int, Fraction)) for v in exact.flat)
        np.testing.assert_allclose(exact.astype(float), approx, rtol=1e-12, atol=1e-12)


def test_conv3d_json_reads_back_to_pytorchs_gradient_exactly():
    """The JSON contract: every string parses, and at small integers equals PyTorch's (exact in float64)."""
    spec = conv_spec("conv3d", (1, 2, 3, 3, 4), (2, 2, 2, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1))
    data = json.loads(render(derive(spec), "json"))
    assert data["layer"]["kind"] == "conv3d" and data["shapes"]["x"] == [1, 2, 3, 3, 4]
    rng = np.random.default_rng(5)
    x, w, b, dy = (rng.integers(-3, 4, size=s).astype(float) for s in (spec.input, spec.weight, (2,),
                                                                        spec.output_shape))
    y, dy, dx, dw, db = torch_conv(x, w, b, spec.stride, (1, 0, 1), spec.dilation, 1, dy=dy)  # exact: small ints
    names = {n: IndexedBase(n) for n in ("x", "w", "b", "dy")}
    values = {}
    for name, array in (("x", x), ("w", w), ("b", b), ("dy", dy)):
        for index in np.ndindex(*array.shape):
            values[names[name][index]] = Rational(int(array[index]))
    key = re.compile(r"^(\w+)\[([0-9, ]+)\]$")
    for section, want in (("forward", y), ("dx", dx), ("dw", dw), ("db", db)):
        entries = data["forward"] if section == "forward" else data["gradients"][section]
        assert len(entries) == want.size
        for text_key, text in entries.items():
            index = tuple(int(i) for i in key.match(text_key).group(2).split(","))
            assert parse_expr(text, local_dict=names).xreplace(values) == int(want[index]), (section, index)


# --------------------------------------------------------------------------
# Printing: subscripts, compact style, every format, the operator form
# --------------------------------------------------------------------------


def test_compact_subscripts_in_3d_follow_the_seeds():
    """x 2x2x2 with a 2x2x2 kernel: one output, and each x_{abc} meets w_{abc} only (by hand)."""
    text = invoke(["derive", "conv3d", "--input", "1,1,2,2,2", "--weight", "1,1,2,2,2", "--index-base", "1"]).output
    assert "y_{111} &= w_{111} x_{111} + w_{112} x_{112} + w_{121} x_{121} + w_{122} x_{122} + w_{211} x_{211} + w_{212} x_{212}" in text
    assert r"\frac{\partial L}{\partial x_{212}} &= dy_{111} w_{212}" in text
    assert r"\frac{\partial L}{\partial w_{122}} &= dy_{111} x_{122}" in text
    assert "dy_{tij} stands for" in text


def test_subscripts_keep_commas_when_not_compact():
    result = invoke(["derive", "conv3d", "--input", "2,1,1,1,2", "--weight", "1,1,1,1,2"])
    assert result.exit_code == 0, result.output
    assert "y_{1,0,0,0,0} &= w_{0,0,0,0,0} x_{1,0,0,0,0} + w_{0,0,0,0,1} x_{1,0,0,0,1} + b_{0}" in result.output
    assert "dy_{n,f,t,i,j} stands for" in result.output


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
def test_every_format_writes_every_entry(fmt):
    spec = conv_spec("conv3d", (1, 1, 3, 2, 2), (1, 1, 2, 1, 2), padding=(0, 1, 0))
    out = render(derive(spec), fmt)
    entries = math.prod(spec.output_shape) + math.prod(spec.input) + math.prod(spec.weight) + 1
    if fmt == "json":
        data = json.loads(out)
        assert sum(len(v) for v in data["gradients"].values()) + len(data["forward"]) == entries
    elif fmt == "text":
        assert len([line for line in out.splitlines() if re.match(r"^\s+d?[ywxb]\S* = ", line)]) == entries
    else:
        assert out.count("&=") == entries


@pytest.mark.parametrize("options", [dict(), dict(stride=(2, 1, 3), padding=(1, 0, 1)),
                                     dict(stride=2, dilation=(1, 2, 1), groups=2, padding=((0, 1), (1, 0), (2, 1)))],
                         ids=["plain", "stride-padding", "groups-dilation-pairs"])
def test_operator_identities_hold_in_3d(options):
    shape, weight = ((1, 2, 3, 4, 5), (2, 1 if options.get("groups") else 2, 2, 2, 2))
    spec = conv_spec("conv3d", shape, weight, **options)
    assert check_identities(derive(spec)) == {"dx": True, "dw": True, "db": True}
    # The same identities at floats are PyTorch's conv_transpose3d, with the output_padding they name.
    rng = np.random.default_rng(1)
    dy, x, w = (rng.standard_normal(s) for s in (spec.output_shape, spec.input, spec.weight))
    dx = operator_gradients(spec, dy, x, w)[0]
    if all(lo == hi for lo, hi in spec.padding):
        want = F.conv_transpose3d(torch.tensor(dy), torch.tensor(w), stride=spec.stride,
                                  padding=tuple(lo for lo, _ in spec.padding), dilation=spec.dilation,
                                  groups=spec.groups, output_padding=output_padding(spec))
        np.testing.assert_allclose(dx, want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
def test_operator_form_in_3d_names_the_depth_axis(fmt):
    result = invoke(["derive", "conv3d", "--input", "1,1,3,3,2", "--weight", "1,1,2,2,2", "--stride", "2,1,1",
                     "--padding", "1,0,0", "--form", "operator", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "KD" in result.output.replace("K_D", "KD") and "output" in result.output
    if fmt == "json":
        assert json.loads(result.output)["equal_to_derivation"] == {"dx": True, "dw": True, "db": True}
    elif fmt == "text":
        assert "w_rot[c, f, r, k, l] = w[f, c, KD-1-r, KH-1-k, KW-1-l]" in result.output
        assert "dy[..., t, i, j] goes to (2*t, i + 1, j + 1)" in result.output


def test_matrix_form_is_refused_for_conv3d_in_one_line():
    result = invoke(["derive", "conv3d", "--input", "1,1,2,2,2", "--weight", "1,1,1,1,1", "--form", "matrix"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: Invalid value for '--form': got 'matrix' for conv3d, expected it only for conv1d, conv2d, "
        "conv_transpose1d and conv_transpose2d")
    with pytest.raises(SymconvError, match=r"^layer: got conv3d, expected conv1d, conv2d, conv_transpose1d or "
                                           r"conv_transpose2d for --form matrix$"):
        render(derive(conv_spec("conv3d", (1, 1, 2, 2, 2), (1, 1, 1, 1, 1))), "latex", form="matrix")


def test_plot_refuses_conv3d():
    result = invoke(["plot", "conv3d", "--input", "1,1,2,2,2", "--weight", "1,1,1,1,1", "-o", "x.png"])
    assert result.exit_code == 2 and "'conv3d' is not one of" in result.output


# --------------------------------------------------------------------------
# Stacks, and the CLI end to end
# --------------------------------------------------------------------------


def test_a_3d_stack_verifies_and_writes_its_chain():
    stack = stack_spec((1, 1, 3, 4, 4), parse_layers(
        "conv3d(weight=2,1,2,3,3, padding=1) | relu | conv3d(weight=1,2,2,2,2, stride=2, bias=false)"))
    d = derive(stack)
    assert symconv.verify(d).passed
    latex = render(d, "latex")
    assert r"\partial b^{(1)} &= \textstyle\sum_{n,t,i,j} \partial h^{(1)}" in latex


def test_a_3d_stack_from_a_json_file(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"layers": [
        {"kind": "conv3d", "weight": [2, 1, 2, 2, 2], "padding": [[1, 0], [0, 1], [1, 1]], "dilation": [1, 1, 2]},
        {"kind": "leaky_relu", "negative_slope": "1/10"},
        {"kind": "conv3d", "weight": [1, 2, 1, 2, 1]}]}))
    result = invoke(["verify", "stack", "--input", "1,1,3,3,3", "--layers", str(path)])
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output


def test_cli_derive_and_verify_conv3d():
    args = ["--input", "1,2,3,3,3", "--weight", "2,1,2,2,2", "--groups", "2", "--stride", "1,2,1", "--padding", "1"]
    derived = invoke(["derive", "conv3d", *args, "--format", "json"])
    assert derived.exit_code == 0, derived.output
    layer = json.loads(derived.output)["layer"]
    assert layer["stride"] == [1, 2, 1] and layer["padding"] == [[1, 1]] * 3 and layer["groups"] == 2
    verified = invoke(["verify", "conv3d", *args])
    assert verified.exit_code == 0 and "all checks passed" in verified.output


# --------------------------------------------------------------------------
# Bad input: one line, the value as typed, what was expected
# --------------------------------------------------------------------------

BAD = [
    pytest.param("conv2d", "1,1,4,4,4", dict(weight="1,1,2,2"),
                 "input: got '1,1,4,4,4', expected 4 sizes N,C,H,W for conv2d", id="3d-sizes-for-conv2d"),
    pytest.param("conv3d", "1,1,4,4", dict(weight="1,1,2,2,2"),
                 "input: got '1,1,4,4', expected 5 sizes N,C,D,H,W for conv3d", id="2d-sizes-for-conv3d"),
    pytest.param("conv1d", "1,1,4,4,4", dict(weight="1,1,2"),
                 "input: got '1,1,4,4,4', expected 3 sizes N,C,L for conv1d", id="3d-sizes-for-conv1d"),
    pytest.param("conv3d", "1,1,4,4,4", dict(weight="1,1,2,2"),
                 "weight: got '1,1,2,2', expected 5 sizes F,C/groups,KD,KH,KW for conv3d", id="2d-weight"),
    pytest.param("conv3d", "1,1,4,4,4", dict(),
                 "weight: got nothing, expected --weight F,C/groups,KD,KH,KW for conv3d", id="no-weight"),
    pytest.param("conv3d", "1,1,4,4,4", dict(weight="1,1,2,2,2", stride="2,1"),
                 "stride: got '2,1', expected an integer or 3 comma-separated integers (one per axis D,H,W)",
                 id="stride-2-values"),
    pytest.param("conv3d", "1,1,4,4,4", dict(weight="1,1,2,2,2", dilation="1,1,0"),
                 "dilation: got '1,1,0', expected positive integers", id="dilation-0"),
    pytest.param("conv3d", "1,1,2,4,4", dict(weight="1,1,3,2,2"),
                 "weight: got '1,1,3,2,2', whose extent 3 on axis D (dilation 1 x (K-1) + 1) is larger than "
                 "the padded input 2; expected a kernel that fits", id="kernel-too-deep"),
    pytest.param("conv3d", "1,1,4,4,4", dict(weight="1,1,2,2,2", padding="same", stride="1,2,1"),
                 "padding: got 'same' with stride 1,2,1, expected stride 1 ('same' is only defined for stride 1, "
                 "as in PyTorch)", id="same-stride"),
    pytest.param("conv3d", "1,4,4,4,4", dict(weight="2,2,2,2,2", groups="3"),
                 "groups: got 3, expected a divisor of both C=4 and F=2", id="groups"),
    pytest.param("conv3d", "1,2,4,4,4", dict(weight="2,2,2,2,2", padding="1,1"),
                 "padding: got '1,1', expected an integer, 3 comma-separated integers (one per axis D,H,W), "
                 "one [before, after] pair per axis, 'same' or 'valid'", id="padding-2-values"),
]


@pytest.mark.parametrize("kind, shape, options, message", BAD)
def test_bad_3d_input_is_refused_in_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as raised:
        build_spec(kind, shape, **options)
    assert str(raised.value) == message


@pytest.mark.parametrize("kind, shape, options, message", BAD[:3])
def test_bad_3d_input_on_the_command_line_exits_2(kind, shape, options, message):
    args = ["derive", kind, "--input", shape] + [a for k, v in options.items() for a in (f"--{k}", v)]
    result = invoke(args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: " + message


def test_a_3d_layer_after_a_2d_one_is_refused_with_its_position():
    with pytest.raises(SymconvError) as raised:
        stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,2,2) | conv3d(weight=1,1,1,1,1)"))
    assert str(raised.value) == (
        "layers: layer 2 (conv3d), applied to the output of layer 1 (conv2d) of shape 1,1,3,3: "
        "input: got '1,1,3,3', expected 5 sizes N,C,D,H,W for conv3d")
