"""Sigmoid and tanh: derived by the engine, printed in their familiar forms, read back, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import diff, exp, tanh

from readback import close, evaluate_json, json_of, parsed_tables, torch_grads
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.printing.formats import render
from symconv.reference import sigmoid_backward, sigmoid_forward, tanh_backward, tanh_forward
from symconv.spec.activation import activation_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.symbolic.tensors import element
from symconv.verify import verify
from symconv.verify.checks import IRRATIONAL

torch = pytest.importorskip("torch")

SHAPES = {"N,F": (2, 3), "N,C,L": (1, 2, 3), "N,C,H,W": (2, 1, 2, 2)}
KINDS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_gradient_equal_pytorchs(kind, shape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape) * 3  # well into both tails
    dy = rng.standard_normal(shape)
    values = evaluate_json(json_of(derive(activation_spec(kind, shape))), {"x": x, "dy": dy})
    y, grads = torch_grads(lambda x: KINDS[kind](x), {"x": x}, dy)
    assert close(values["y"], y) and close(values["dx"], grads["x"])


@pytest.mark.parametrize("kind", KINDS)
def test_the_reference_kernels_equal_pytorch_even_far_out(kind):
    x = np.array([-800.0, -40.0, -1.5, 0.0, 2.0, 40.0, 800.0])
    dy = np.linspace(-1, 1, x.size)
    y, grads = torch_grads(lambda x: KINDS[kind](x), {"x": x}, dy)
    forward, backward = {"sigmoid": (sigmoid_forward, sigmoid_backward), "tanh": (tanh_forward, tanh_backward)}[kind]
    assert np.all(np.isfinite(forward(x))) and close(forward(x), y) and close(backward(dy, x), grads["x"])


def test_the_gradient_is_sympys_derivative_of_the_forward():
    """Derived by the engine from the forward (the sigmoid written 1/(1 + exp(-x))), not typed in."""
    for kind, function in (("sigmoid", lambda z: 1 / (1 + exp(-z))), ("tanh", tanh)):
        d = derive(activation_spec(kind, (1, 2)))
        z = element("x", (0, 1))
        assert d.forward[(0, 1)] == function(z)
        assert d.gradients["dx"][(0, 1)] == element("dy", (0, 1)) * diff(function(z), z)


@pytest.mark.parametrize("kind", KINDS)
def test_the_json_reads_back_to_the_derived_expressions(kind):
    d = derive(activation_spec(kind, (2, 2)))
    tables = dict(parsed_tables(json_of(d)))
    assert tables["y"] == dict(d.forward.items()) and tables["dx"] == dict(d.gradients["dx"].items())


FORMS = {  # (kind, format): lines the document holds
    ("sigmoid", "latex"): [r"y_{0,1} &= \sigma(x_{0,1})",
                           r"\frac{\partial L}{\partial x_{0,1}} &= dy_{0,1} \sigma(x_{0,1}) \left(1 - \sigma(x_{0,1})\right)"],
    ("sigmoid", "markdown"): [r"y_{0,1} &= \sigma(x_{0,1})",
                              r"&= dy_{0,1} \sigma(x_{0,1}) \left(1 - \sigma(x_{0,1})\right)"],
    ("sigmoid", "text"): ["  y[0,1] = sigma(x[0,1])", "  dx[0,1] = dy[0,1]*sigma(x[0,1])*(1 - sigma(x[0,1]))",
                          "sigma(z) = 1/(1 + exp(-z))"],
    ("tanh", "latex"): [r"y_{0,1} &= \tanh(x_{0,1})",
                        r"\frac{\partial L}{\partial x_{0,1}} &= dy_{0,1} \left(1 - \tanh^{2}(x_{0,1})\right)"],
    ("tanh", "markdown"): [r"&= dy_{0,1} \left(1 - \tanh^{2}(x_{0,1})\right)"],
    ("tanh", "text"): ["  y[0,1] = tanh(x[0,1])", "  dx[0,1] = dy[0,1]*(1 - tanh(x[0,1])^2)"],
    ("sigmoid", "json"): ['"dx[0, 1]": "exp(-x[0, 1])*dy[0, 1]/(1 + exp(-x[0, 1]))**2"'],
    ("tanh", "json"): ['"dx[0, 1]": "(1 - tanh(x[0, 1])**2)*dy[0, 1]"'],
}


@pytest.mark.parametrize("kind, fmt", FORMS, ids=[f"{k}-{f}" for k, f in FORMS])
def test_the_derivatives_read_in_their_familiar_forms(kind, fmt):
    text = render(derive(activation_spec(kind, (1, 2))), fmt)
    for line in FORMS[(kind, fmt)]:
        assert line in text


@pytest.mark.parametrize("kind", KINDS)
def test_verify_passes_without_the_exact_check_and_says_why(kind):
    report = verify(derive(activation_spec(kind, (2, 2, 3))))
    assert report.passed
    assert [check.exact for check in report.checks] == [None, None]
    assert report.to_dict()["tensors"]["dx"]["exact"] == {"ok": None, "note": IRRATIONAL}


def test_a_stack_with_both_equals_pytorch():
    spec = stack_spec((3, 4), parse_layers("linear(weight=5,4) | tanh | linear(weight=2,5) | sigmoid"))
    rng = np.random.default_rng(6)
    leaves = {"x": rng.standard_normal((3, 4)), "w1": rng.standard_normal((5, 4)), "b1": rng.standard_normal(5),
              "w2": rng.standard_normal((2, 5)), "b2": rng.standard_normal(2)}
    dy = rng.standard_normal((3, 2))
    d = derive(spec)
    values = evaluate_json(json_of(d), {**leaves, "dy": dy})
    f = torch.nn.functional
    y, grads = torch_grads(lambda x, w1, b1, w2, b2: torch.sigmoid(f.linear(torch.tanh(f.linear(x, w1, b1)), w2, b2)),
                           leaves, dy)
    assert close(values["y"], y)
    for name in leaves:
        assert close(values["d" + name], grads[name]), name
    assert verify(d).passed
    chain = render(d, "latex")
    assert r"\partial h^{(3)} &= \partial y \odot \sigma(h^{(3)}) \odot (1 - \sigma(h^{(3)}))" in chain
    assert r"\partial h^{(1)} &= \partial h^{(2)} \odot (1 - \tanh^{2}(h^{(1)}))" in chain


def test_the_cli_verifies_them_and_refuses_a_slope():
    runner = CliRunner()
    result = runner.invoke(cli, ["verify", "tanh", "--input", "2,3"])
    assert result.exit_code == 0 and "not run" in result.output and "all checks passed" in result.output
    result = runner.invoke(cli, ["derive", "sigmoid", "--input", "2,3", "--negative-slope", "0.1"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: negative-slope: got '0.1', expected no negative-slope for sigmoid (it takes: no options)"
