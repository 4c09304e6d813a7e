"""Transposed convolutions (conv_transpose1d/2d/3d): spec, reference kernel, derivation, stacks, bad input, check.

Every derived forward and gradient is compared with PyTorch's autograd at
random floats and proved exactly at rationals; the NumPy reference kernel is
compared with PyTorch on its own, in float64 and with Fractions.
"""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.errors import SymconvError
from symconv.reference.conv_transpose import conv_transpose_backward, conv_transpose_forward
from symconv.spec.conv_transpose import conv_transpose_spec
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.verify.layer import verify
from symconv.verify.stack import verify_stack

torch = pytest.importorskip("torch")
FUNCTIONS = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
             3: torch.nn.functional.conv_transpose3d}


def _options(spec):
    return dict(stride=spec.stride, padding=spec.padding, output_padding=spec.output_padding,
                dilation=spec.dilation, groups=spec.groups)


def _torch_layer(spec, x, w, b, dy):
    """y and the gradients (dx, dw, db) by PyTorch's autograd, float64."""
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    bt = torch.tensor(b, requires_grad=True) if spec.bias else None
    y = FUNCTIONS[spec.ndim](xt, wt, bt, **_options(spec))
    y.backward(torch.tensor(dy))
    grads = {"dx": xt.grad.numpy(), "dw": wt.grad.numpy()} | ({"db": bt.grad.numpy()} if spec.bias else {})
    return y.detach().numpy(), grads


def _grid(ndim):
    """(stride, padding, output_padding, dilation, groups, bias) that PyTorch accepts, with a small input."""
    cases = []
    for s, p, op, d, g, bias in itertools.product((1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2), (1, 2), (True, False)):
        if op >= s and op >= d:
            continue
        spatial, kernel = {1: ((4,), (3,)), 2: ((3, 2), (2, 3)), 3: ((2, 2, 1), (2, 1, 2))}[ndim]
        try:
            cases.append(conv_transpose_spec(f"conv_transpose{ndim}d", (2, 2 * g) + spatial, (2 * g, 2) + kernel,
                                             stride=s, padding=p, output_padding=op, dilation=d, groups=g, bias=bias))
        except SymconvError:  # the padding crops everything
            continue
    return cases


def _name(spec):
    return (f"{spec.kind[-2:]}-s{spec.stride[0]}-p{spec.padding[0]}-op{spec.output_padding[0]}-d{spec.dilation[0]}"
            f"-g{spec.groups}{'' if spec.bias else '-nobias'}")


GRID = [spec for ndim in (1, 2, 3) for spec in _grid(ndim)]
#: A quick case per kind in the quick loop; the others (hundreds of layers) are slow.
QUICK = {next(s for s in GRID if s.ndim == n and s.stride[0] == 2 and s.output_padding[0] == 1 and s.groups == 2
              and s.padding[0] == 1) for n in (1, 2, 3)}


def test_the_grid_covers_every_option():
    for ndim in (1, 2, 3):
        specs = [s for s in GRID if s.ndim == ndim]
        assert len(specs) > 80
        assert {s.stride[0] for s in specs} == {1, 2, 3} and {s.padding[0] for s in specs} == {0, 1, 2}
        assert {s.output_padding[0] for s in specs} == {0, 1, 2} and {s.dilation[0] for s in specs} == {1, 2}
        assert {s.groups for s in specs} == {1, 2} and {s.bias for s in specs} == {True, False}


@pytest.mark.parametrize("spec", [pytest.param(s, id=_name(s), marks=() if s in QUICK else pytest.mark.slow)
                                  for s in GRID])
def test_the_derivation_equals_pytorchs_autograd(spec):
    rng = np.random.default_rng(abs(hash(_name(spec))) % 2**32)
    x, w, dy = (rng.standard_normal(shape) for shape in (spec.input, spec.weight, spec.output_shape))
    b = rng.standard_normal(spec.out_channels)
    y, grads = _torch_layer(spec, x, w, b, dy)
    d = derive(spec)
    values = {"x": x, "w": w, "b": b, "dy": dy}
    np.testing.assert_allclose(evaluate_table(d.forward, spec.output_shape, values), y, atol=1e-12)
    assert set(d.gradients) == set(grads)
    for name, table in d.gradients.items():
        np.testing.assert_allclose(evaluate_table(table, d.shapes[name[1:]], values), grads[name], atol=1e-12)


@pytest.mark.parametrize("spec", [pytest.param(s, id=_name(s), marks=() if s in QUICK else pytest.mark.slow)
                                  for s in GRID[::7]])
def test_the_reference_kernel_equals_pytorch_and_is_exact_at_fractions(spec):
    rng = np.random.default_rng(1)
    x, w, dy = (rng.standard_normal(shape) for shape in (spec.input, spec.weight, spec.output_shape))
    b = rng.standard_normal(spec.out_channels)
    y, grads = _torch_layer(spec, x, w, b, dy)
    bias = b if spec.bias else None
    np.testing.assert_allclose(conv_transpose_forward(x, w, bias, **_options(spec)), y, atol=1e-12)
    for name, got in zip(("dx", "dw", "db"), conv_transpose_backward(dy, x, w, **_options(spec))):
        if name in grads:
            np.testing.assert_allclose(got, grads[name], atol=1e-12)
    # Fractions: the same kernel, exactly; its values are exact and equal the float run at those points.
    exact = {name: np.vectorize(lambda v: Fraction(int(v), 7), otypes=[object])(rng.integers(-9, 10, shape))
             for name, shape in (("x", spec.input), ("w", spec.weight), ("dy", spec.output_shape))}
    got = conv_transpose_backward(exact["dy"], exact["x"], exact["w"], **_options(spec))
    floats = conv_transpose_backward(*(exact[n].astype(float) for n in ("dy", "x", "w")), **_options(spec))
    for a, f in zip(got, floats):
        assert all(isinstance(v, (int, Fraction)) for v in a.flat)
        np.testing.assert_allclose(a.astype(float), f, atol=1e-12)


@pytest.mark.parametrize("spec", [pytest.param(s, id=_name(s), marks=() if s in QUICK else pytest.mark.slow)
                                  for s in GRID[::11]])
def test_verify_proves_it_three_ways_and_the_exact_check_finds_equality(spec):
    report = verify(derive(spec), exact=True)
    assert report.passed, report.table()
    assert all(check.exact is True for check in report.checks)
    assert {check.name for check in report.checks} == {"y", "dx", "dw"} | ({"db"} if spec.bias else set())


def test_product_terms_count_the_forward_exactly():
    for spec in GRID[::3]:
        forward = derive(spec).forward
        bias_terms = np.prod(spec.output_shape) if spec.bias else 0
        assert forward.terms - bias_terms == spec.product_terms(), spec
        assert spec.estimate_terms() == sum(t.terms for t in derive(spec).gradients.values()) + forward.terms


STACK = "conv2d(weight=2,1,3,3, padding=1) | relu | conv_transpose2d(weight=2,1,3,3, stride=2, padding=1, output_padding=1)"


@pytest.mark.parametrize("how", ["text", "json"])
def test_a_stack_through_conv2d_relu_conv_transpose2d_is_verified_and_is_pytorchs(how, tmp_path):
    if how == "text":
        layers = parse_layers(STACK)
    else:
        path = tmp_path / "net.json"
        path.write_text('{"layers": [{"kind": "conv2d", "weight": [2, 1, 3, 3], "padding": 1}, {"kind": "relu"}, '
                        '{"kind": "conv_transpose2d", "weight": [2, 1, 3, 3], "stride": 2, "padding": 1, '
                        '"output_padding": 1}]}')
        layers = parse_layers(str(path))
    spec = stack_spec((2, 1, 3, 3), layers)
    assert spec.output_shape == (2, 1, 6, 6)
    d = derive(spec)
    assert verify_stack(d).passed
    rng = np.random.default_rng(3)
    values = {name: rng.standard_normal(shape) for name, shape in d.shapes.items() if shape is not None
              and name in ("x", "w1", "b1", "w2", "b2")}
    values["dy"] = rng.standard_normal(spec.output_shape)
    # The chain evaluated: forward layer by layer, then the gradients from the top down.
    for layer, names, forward in zip(spec.layers, d.names, d.forward):
        values[names["y"]] = evaluate_table(forward, layer.output_shape, values)
    for gradients in reversed(d.gradients):
        for name, table in gradients.items():
            values[name] = evaluate_table(table, d.shapes[name[1:]], values)
    x, w1, b1, w2, b2 = (torch.tensor(values[n], requires_grad=True) for n in ("x", "w1", "b1", "w2", "b2"))
    y = torch.nn.functional.conv_transpose2d(torch.relu(torch.nn.functional.conv2d(x, w1, b1, padding=1)),
                                             w2, b2, stride=2, padding=1, output_padding=1)
    y.backward(torch.tensor(values["dy"]))
    np.testing.assert_allclose(values["y"], y.detach().numpy(), atol=1e-12)
    for name, tensor in (("dx", x), ("dw1", w1), ("db1", b1), ("dw2", w2), ("db2", b2)):
        np.testing.assert_allclose(values[name], tensor.grad.numpy(), atol=1e-12)


#: One line per refusal: (kind, input, options as the CLI spells them, what the message must say).
BAD = [
    ("conv_transpose2d", "1,2,3,3", dict(weight="2,1,3,3", stride="2", output_padding="2"),
     "output-padding: got '2', expected each value smaller than its axis's stride or dilation (axis H: "
     "output_padding 2, stride 2, dilation 1), as PyTorch requires"),
    ("conv_transpose1d", "1,1,4", dict(weight="1,1,3", output_padding="1"), "output-padding: got '1', expected"),
    ("conv_transpose2d", "1,2,3,3", dict(weight="2,1,3,3", stride="2,1", output_padding="1,1"),
     "(axis W: output_padding 1, stride 1, dilation 1)"),
    ("conv_transpose2d", "1,2,3,3", dict(weight="3,1,3,3"), "weight: got '3,1,3,3', expected C_in = 2 input channels"),
    ("conv_transpose2d", "1,3,3,3", dict(weight="3,1,3,3", groups="2"), "groups: got 2, expected a divisor of C_in=3"),
    ("conv_transpose2d", "1,2,3,3,3", dict(weight="2,1,3,3"), "input: got '1,2,3,3,3', expected 4 sizes N,C_in,H,W"),
    ("conv_transpose2d", "1,2,3,3", dict(weight="2,1,3,3,3"), "weight: got '2,1,3,3,3', expected 4 sizes"),
    ("conv_transpose1d", "1,2,3,3", dict(weight="2,1,3"), "input: got '1,2,3,3', expected 3 sizes N,C_in,L"),
    ("conv_transpose3d", "1,2,3,3", dict(weight="2,1,3,3,3"), "input: got '1,2,3,3', expected 5 sizes N,C_in,D,H,W"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", padding="2"),
     "padding: got '2', which leaves axis H an output size of (2-1)*1 - 2*2 + 1*(2-1) + 0 + 1 = -1; "
     "expected an output size of at least 1"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", padding="same"), "padding: got 'same', expected"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", output_padding="-1"), "output-padding: got '-1', expected"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", output_padding="1,1,1"),
     "output-padding: got '1,1,1', expected an integer or 2 comma-separated integers (one per axis H,W)"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", stride="0"), "stride: got '0', expected"),
    ("conv_transpose2d", "1,1,2,2", dict(weight="1,1,2,2", kernel="2"), "kernel: got '2', expected no kernel for"),
    ("conv_transpose2d", "1,1,2,2", {}, "weight: got nothing, expected --weight C_in,C_out/groups,KH,KW"),
    ("conv2d", "1,1,4,4", dict(weight="1,1,2,2", output_padding="1"),
     "output-padding: got '1', expected no output-padding for conv2d"),
]
MESSAGE = re.compile(r"^[a-z_-]+: got .*[,;] expected .+")


@pytest.mark.parametrize("kind, shape, options, message", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_naming_the_parameter(kind, shape, options, message):
    with pytest.raises(SymconvError) as raised:
        build_spec(kind, shape, **options)
    text = str(raised.value)
    assert "\n" not in text and MESSAGE.match(text) and message in text, text
    args = ["derive", kind, "--input", shape] + [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", v)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == "Error: " + text


def test_a_stack_layer_is_refused_with_its_place():
    with pytest.raises(SymconvError, match=r"^layers: layer 2 \(conv_transpose2d\), applied to the output of layer 1 "
                                           r"\(relu\) of shape 1,1,3,3: output-padding: got '2', expected"):
        stack_spec((1, 1, 3, 3), parse_layers("relu | conv_transpose2d(weight=1,1,2,2, stride=2, output_padding=2)"))


def test_options_are_shown_only_where_they_are_taken():
    assert "--output-padding" in CliRunner().invoke(cli, ["derive", "--help"]).output
    assert "--output-padding" in CliRunner().invoke(cli, ["plot", "--help"]).output
    result = CliRunner().invoke(cli, ["derive", "maxpool2d", "--input", "1,1,4,4", "--kernel", "2",
                                      "--output-padding", "1"])
    assert result.exit_code == 2 and "expected no output-padding for maxpool2d" in result.output


def test_every_format_of_a_3d_layer_derives():
    for fmt in ("latex", "markdown", "text", "json"):
        result = CliRunner().invoke(cli, ["derive", "conv_transpose3d", "--input", "1,1,2,1,2", "--weight", "1,2,1,2,2",
                                          "--stride", "2", "--output-padding", "1", "--format", fmt])
        assert result.exit_code == 0, result.output
        if fmt == "json":
            data = json.loads(result.output)
            shape = torch.nn.functional.conv_transpose3d(torch.zeros(1, 1, 2, 1, 2), torch.zeros(1, 2, 1, 2, 2),
                                                         stride=2, output_padding=1).shape
            assert data["layer"]["output"] == list(shape) and len(data["forward"]) == shape.numel()
        else:
            assert "conv_transpose3d: x 1x1x2x1x2, w 1x2x1x2x2, stride 2, padding 0, output_padding 1" in \
                result.output.replace("\\_", "_")


# -- symconv check -------------------------------------------------------------------


def test_pytorchs_own_conv_transpose_passes_every_edge_case():
    from symconv.check.suite import run_suite

    for kind in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"):
        result = run_suite(getattr(torch.nn.functional, kind), kind, "torch")
        assert result.ok and len(result.ran) >= 30, kind


def test_a_backward_with_the_kernel_rotated_is_diagnosed():
    from symconv.check import check_backward

    def rotated(dy, x, w, b, stride, padding, output_padding, dilation, groups):
        dx, dw, db = conv_transpose_backward(dy, x, w, stride, padding, output_padding, dilation, groups)
        dx_wrong, _, _ = conv_transpose_backward(dy, x, w[..., ::-1, ::-1], stride, padding, output_padding,
                                                 dilation, groups)
        return dx_wrong, dw, db

    report = check_backward(rotated, "conv_transpose2d", input=(1, 2, 3, 3), weight=(2, 1, 3, 3), stride=2)
    assert not report.ok
    assert [d.name for d in report.diagnosis] == ["kernel-flipped"]
