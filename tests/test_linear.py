"""The fully connected layer and flatten: against PyTorch, exactly against the reference, in stacks.

Expectations come from PyTorch's autograd (float64), from the NumPy reference
on Fraction arrays, or from the definition written out by hand; never from
symconv's own derivation.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from readback import close, evaluate_json, json_of, torch_grads
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.reference import flatten_backward, flatten_forward, linear_backward, linear_forward
from symconv.spec.dense import flatten_spec, linear_spec
from symconv.spec.options import build_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.symbolic.tensors import element
from symconv.verify import verify
from symconv.verify.checks import fractions

torch = pytest.importorskip("torch")
F = torch.nn.functional

LINEAR = {  # id: (input N,IN, weight OUT,IN, bias)
    "1x2-to-3": ((1, 2), (3, 2), True),
    "2x3-to-2": ((2, 3), (2, 3), True),
    "3x1-to-1": ((3, 1), (1, 1), True),
    "2x4-to-3-no-bias": ((2, 4), (3, 4), False),
    "2x64-to-8": ((2, 64), (8, 64), True),
}


@pytest.mark.parametrize("input, weight, bias", LINEAR.values(), ids=LINEAR.keys())
def test_linear_forward_and_every_gradient_equal_pytorchs(input, weight, bias):
    spec = linear_spec(input, weight, bias)
    rng = np.random.default_rng(1)
    leaves = {"x": rng.standard_normal(input), "w": rng.standard_normal(weight)}
    if bias:
        leaves["b"] = rng.standard_normal(weight[0])
    dy = rng.standard_normal(spec.output_shape)
    values = evaluate_json(json_of(derive(spec)), {**leaves, "dy": dy})
    y, grads = torch_grads(lambda x, w, b=None: F.linear(x, w, b), leaves, dy)
    assert close(values["y"], y)
    for name in leaves:
        assert close(values["d" + name], grads[name]), name


def test_linear_is_the_sum_of_products_written_out():
    d = derive(linear_spec((1, 2), (2, 2)))
    x, w, b = (lambda i, j: element("x", (i, j))), (lambda i, j: element("w", (i, j))), (lambda i: element("b", (i,)))
    dy = lambda i, j: element("dy", (i, j))  # noqa: E731
    assert d.forward[(0, 1)] == w(1, 0) * x(0, 0) + w(1, 1) * x(0, 1) + b(1)
    assert d.gradients["dx"][(0, 0)] == dy(0, 0) * w(0, 0) + dy(0, 1) * w(1, 0)
    assert d.gradients["dw"][(1, 0)] == dy(0, 1) * x(0, 0)
    assert d.gradients["db"][(1,)] == dy(0, 1)


@pytest.mark.parametrize("input, weight, bias", LINEAR.values(), ids=LINEAR.keys())
def test_the_size_guard_counts_a_linear_layer_exactly(input, weight, bias):
    spec = linear_spec(input, weight, bias)
    d = derive(spec)
    assert spec.estimate_terms() == d.forward.terms + sum(g.terms for g in d.gradients.values())
    assert spec.count_entries() == len(d.forward) + sum(len(g) for g in d.gradients.values())


@pytest.mark.parametrize("input, weight, bias", LINEAR.values(), ids=LINEAR.keys())
def test_verify_passes_exactly_for_linear(input, weight, bias):
    report = verify(derive(linear_spec(input, weight, bias)))
    assert report.passed and all(check.exact is True for check in report.checks)


def test_the_linear_reference_is_exact_on_fractions_and_agrees_with_pytorch():
    rng = np.random.default_rng(2)
    x, w, b, dy = (rng.integers(-5, 6, size=s) for s in ((2, 3), (4, 3), (4,), (2, 4)))
    exact = linear_forward(fractions(x, np.full(x.shape, 3)), fractions(w), fractions(b))
    by_hand = [[sum(Fraction(int(x[n, i]), 3) * int(w[o, i]) for i in range(3)) + int(b[o]) for o in range(4)]
               for n in range(2)]
    assert exact.tolist() == by_hand
    y, grads = torch_grads(lambda x, w, b: F.linear(x, w, b), {"x": x, "w": w, "b": b}, dy)
    assert close(linear_forward(x * 1.0, w * 1.0, b * 1.0), y)
    for got, name in zip(linear_backward(dy * 1.0, x * 1.0, w * 1.0), "xwb"):
        assert close(got, grads[name]), name
    dx, dw, db = linear_backward(fractions(dy), fractions(x), fractions(w))
    assert dx.dtype == object and dx.tolist() == (dy @ w).tolist() and dw.tolist() == (dy.T @ x).tolist()


# ------------------------------------------------------------------ flatten

FLATTEN = {"1x2x2": (1, 2, 2), "2x3x2x2": (2, 3, 2, 2), "2x5": (2, 5), "1x2x1x2x3": (1, 2, 1, 2, 3)}


@pytest.mark.parametrize("shape", FLATTEN.values(), ids=FLATTEN.keys())
def test_flatten_is_torch_flatten_forward_and_backward(shape):
    spec = flatten_spec(shape)
    rng = np.random.default_rng(3)
    leaves, dy = {"x": rng.standard_normal(shape)}, rng.standard_normal(spec.output_shape)
    values = evaluate_json(json_of(derive(spec)), {**leaves, "dy": dy})
    y, grads = torch_grads(lambda x: torch.flatten(x, 1), leaves, dy)
    assert spec.output_shape == tuple(y.shape)
    assert np.array_equal(values["y"], y) and np.array_equal(values["dx"], grads["x"])
    assert np.array_equal(flatten_forward(leaves["x"]), y) and np.array_equal(flatten_backward(dy, shape), grads["x"])


def test_flatten_sends_each_gradient_back_to_the_element_it_copied():
    d = derive(flatten_spec((1, 2, 2, 2)))
    assert d.forward[(0, 5)] == element("x", (0, 1, 0, 1))
    assert d.gradients["dx"][(0, 1, 0, 1)] == element("dy", (0, 5))
    report = verify(d)
    assert report.passed and all(check.exact is True for check in report.checks)


# ------------------------------------------------------------------ stacks

CNN = "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | flatten | linear(weight=3,8)"


def _torch_cnn(x, w1, b1, w2, b2):
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    return F.linear(torch.flatten(h, 1), w2, b2)


def test_a_small_cnn_equals_pytorch_end_to_end():
    spec = stack_spec((2, 1, 4, 4), parse_layers(CNN))
    d = derive(spec)
    assert d.names[-1] == {"x": "h4", "y": "y", "w": "w2", "b": "b2"}
    rng = np.random.default_rng(4)
    leaves = {"x": rng.standard_normal((2, 1, 4, 4)), "w1": rng.standard_normal((2, 1, 3, 3)),
              "b1": rng.standard_normal(2), "w2": rng.standard_normal((3, 8)), "b2": rng.standard_normal(3)}
    dy = rng.standard_normal((2, 3))
    values = evaluate_json(json_of(d), {**leaves, "dy": dy})
    y, grads = torch_grads(_torch_cnn, leaves, dy)
    assert close(values["y"], y)
    for name in leaves:
        assert close(values["d" + name], grads[name]), name
    report = verify(d)
    assert report.passed and all(check.exact is True for check in report.checks)


def test_a_json_stack_file_gives_the_same_network(tmp_path):
    path = tmp_path / "cnn.json"
    path.write_text(json.dumps({"layers": [
        {"kind": "conv2d", "weight": [2, 1, 3, 3], "padding": 1}, {"kind": "relu"},
        {"kind": "maxpool2d", "kernel": 2}, {"kind": "flatten"}, {"kind": "linear", "weight": [3, 8]}]}))
    assert stack_spec((2, 1, 4, 4), parse_layers(str(path))) == stack_spec((2, 1, 4, 4), parse_layers(CNN))


def test_relu_takes_a_linear_layers_output():
    spec = stack_spec((2, 3), parse_layers("linear(weight=4,3) | relu | linear(weight=2,4, bias=false)"))
    assert [layer.output_shape for layer in spec.layers] == [(2, 4), (2, 4), (2, 2)]
    assert verify(derive(spec)).passed


def test_the_cli_derives_and_verifies_a_stack_with_flatten_and_linear():
    runner = CliRunner()
    result = runner.invoke(cli, ["verify", "stack", "--input", "1,1,4,4", "--layers", CNN])
    assert result.exit_code == 0 and "all checks passed" in result.output
    result = runner.invoke(cli, ["derive", "stack", "--input", "1,1,4,4", "--layers", CNN, "--format", "text"])
    assert result.exit_code == 0
    assert "  y[0,0] = w2[0,0]*h4[0,0] + " in result.output
    assert r"\partial h^{(4)} &= \partial y\, w^{(2)}" in runner.invoke(
        cli, ["derive", "stack", "--input", "1,1,4,4", "--layers", CNN]).output


# ------------------------------------------------------------------ bad input

BAD = {  # id: (kind, input text, options, the one-line message's start)
    "in-mismatch": ("linear", "2,64", {"weight": "8,63"},
                    "weight: got '8,63', expected IN = 64, the size of one input sample"),
    "no-weight": ("linear", "2,3", {}, "weight: got nothing, expected --weight OUT,IN for linear"),
    "weight-rank": ("linear", "2,3", {"weight": "8,3,1"}, "weight: got '8,3,1', expected 2 sizes OUT,IN for linear"),
    "image-input": ("linear", "2,1,4,4", {"weight": "3,16"},
                    "input: got '2,1,4,4', expected 2 sizes N,IN for linear (put a flatten before it)"),
    "zero-out": ("linear", "2,3", {"weight": "0,3"}, "weight: got '0,3', expected positive integers OUT,IN"),
    "kernel": ("linear", "2,3", {"weight": "2,3", "kernel": "2"}, "kernel: got '2', expected no kernel for linear"),
    "flatten-1d": ("flatten", "4", {}, "input: got '4', expected 2 to 5 sizes N,C,... for flatten"),
    "flatten-weight": ("flatten", "1,2,2", {"weight": "1,1"}, "weight: got '1,1', expected no weight for flatten"),
    "flatten-zero": ("flatten", "1,0,2", {}, "input: got '1,0,2', expected positive integers"),
}


@pytest.mark.parametrize("kind, shape, options, message", BAD.values(), ids=BAD.keys())
def test_bad_linear_and_flatten_input_is_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as caught:
        build_spec(kind, shape, **options)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    arguments = ["derive", kind, "--input", shape] + [a for n, v in options.items() for a in (f"--{n}", v)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2 and result.output.strip() == "Error: " + str(caught.value)


def test_a_linear_layer_that_does_not_fit_the_flattened_size_is_named_in_the_stack():
    with pytest.raises(SymconvError) as caught:
        stack_spec((2, 1, 4, 4), parse_layers("conv2d(weight=2,1,3,3, padding=1) | flatten | linear(weight=3,16)"))
    assert str(caught.value) == (
        "layers: layer 3 (linear), applied to the output of layer 2 (flatten) of shape 2,32: "
        "weight: got '3,16', expected IN = 32, the size of one input sample (weight axis 1 of OUT,IN)")
