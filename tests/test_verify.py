"""Derived gradients against the reference, finite differences, exact
arithmetic and (when installed) PyTorch, on a grid of layers."""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from sympy import Indexed, S

from conftest import layer
from symconv.engine.evaluate import evaluate_table
from symconv.verify.checks import rel_error
from symconv.verify.layer import verify

# (id, kind, input, weight, options): strides 1-3, paddings 0-2 / same / valid,
# dilations 1-2, groups 1 / 2 / depthwise, rectangular, N, C, F > 1, and sizes
# the stride does not divide.
GRID = [
    ("1d-basic", "conv1d", (1, 1, 4), (1, 1, 2), {}),
    ("1d-s3-p2-nondiv", "conv1d", (2, 3, 10), (2, 3, 3), dict(stride=3, padding=2)),
    ("1d-d2-same", "conv1d", (1, 2, 7), (3, 2, 4), dict(dilation=2, padding="same")),
    ("1d-groups2", "conv1d", (2, 4, 6), (6, 2, 3), dict(groups=2, padding=1)),
    ("1d-depthwise", "conv1d", (1, 3, 8), (3, 1, 3), dict(groups=3, stride=2)),
    ("2d-seed-4x4", "conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    ("2d-seed-5x5-s2", "conv2d", (1, 1, 5, 5), (1, 1, 3, 3), dict(stride=2)),
    ("2d-s2-p1-multi", "conv2d", (2, 3, 7, 7), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ("2d-s3-nondiv", "conv2d", (1, 2, 8, 7), (2, 2, 2, 3), dict(stride=3)),
    ("2d-rect-pad-pair", "conv2d", (1, 2, 5, 8), (3, 2, 3, 2), dict(padding=(2, 0), stride=(1, 2))),
    ("2d-d2", "conv2d", (1, 1, 7, 6), (2, 1, 3, 2), dict(dilation=2, padding=1)),
    ("2d-d-rect", "conv2d", (2, 2, 6, 9), (2, 2, 2, 3), dict(dilation=(2, 1), stride=(1, 3))),
    ("2d-same-even", "conv2d", (1, 2, 5, 6), (2, 2, 2, 4), dict(padding="same")),
    ("2d-same-dilated", "conv2d", (1, 1, 6, 6), (1, 1, 3, 2), dict(padding="same", dilation=2)),
    ("2d-valid", "conv2d", (1, 2, 4, 5), (2, 2, 3, 3), dict(padding="valid")),
    ("2d-groups2", "conv2d", (1, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, padding=1)),
    ("2d-depthwise-x2", "conv2d", (2, 3, 5, 4), (6, 1, 2, 2), dict(groups=3, stride=2)),
    ("2d-no-bias", "conv2d", (1, 2, 4, 4), (3, 2, 2, 2), dict(bias=False, padding=2)),
]


@pytest.mark.parametrize("kind,input,weight,options", [g[1:] for g in GRID], ids=[g[0] for g in GRID])
def test_derived_gradients_pass_all_three_checks(kind, input, weight, options):
    report = verify(layer(kind, input, weight, **options), seed=1)
    assert report.passed, report.table()
    names = [check.name for check in report.checks]
    assert names == ["y", "dx", "dw"] + (["db"] if options.get("bias", True) else [])
    assert all(check.exact is True for check in report.checks)


def test_a_wrong_gradient_is_caught_by_every_check():
    """Tamper with one dx entry: the verifier must notice it all three ways."""
    d = layer("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
    dx = dict(d.gradients["dx"])
    some_element = sorted(dx[(0, 0, 1, 1)].atoms(Indexed), key=str)[0]
    dx[(0, 0, 1, 1)] = dx[(0, 0, 1, 1)] + S.Half * some_element
    broken = replace(d, gradients={**d.gradients, "dx": dx})
    report = verify(broken, fd_samples=100)
    row = {check.name: check for check in report.checks}["dx"]
    assert not report.passed
    assert row.vs_reference > 1e-3 and row.vs_finite_differences > 1e-3 and row.exact is False
    assert "DIFFERENT" in report.table() and "FAIL" in report.table()


def test_rel_error_is_cs231n():
    assert rel_error([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)
    assert rel_error([0.0], [1e-12]) == pytest.approx(1e-4)


TORCH_GRID = [g for g in GRID if g[0] in ("1d-s3-p2-nondiv", "1d-d2-same", "1d-depthwise", "2d-s2-p1-multi",
                                          "2d-s3-nondiv", "2d-rect-pad-pair", "2d-d-rect", "2d-same-even",
                                          "2d-groups2", "2d-depthwise-x2")]


@pytest.mark.parametrize("kind,input,weight,options", [g[1:] for g in TORCH_GRID], ids=[g[0] for g in TORCH_GRID])
@pytest.mark.filterwarnings("ignore:Using padding=.same.")
def test_derived_gradients_equal_torch_autograd(kind, input, weight, options):
    torch = pytest.importorskip("torch")
    d = layer(kind, input, weight, **options)
    rng = np.random.default_rng(7)
    values = {"x": rng.standard_normal(input), "w": rng.standard_normal(weight),
              "b": rng.standard_normal(weight[:1]), "dy": rng.standard_normal(d.spec.output_shape)}
    tensors = {k: torch.tensor(v, requires_grad=k != "dy") for k, v in values.items()}
    conv = torch.nn.functional.conv1d if kind == "conv1d" else torch.nn.functional.conv2d
    pad = options.get("padding", 0)
    y = conv(tensors["x"], tensors["w"], tensors["b"], stride=options.get("stride", 1), padding=pad,
             dilation=options.get("dilation", 1), groups=options.get("groups", 1))
    (y * tensors["dy"]).sum().backward()
    derived_y = evaluate_table(d.forward, d.spec.output_shape, values)
    assert rel_error(derived_y, y.detach().numpy()) < 1e-12
    for name in ("x", "w", "b"):
        derived = evaluate_table(d.gradients["d" + name], values[name].shape, values)
        assert rel_error(derived, tensors[name].grad.numpy()) < 1e-10, name


def test_exact_check_uses_rationals_not_floats():
    d = layer("conv1d", (1, 1, 3), (1, 1, 2))
    values = {"x": np.array([[[Fraction(1, 3), Fraction(2, 7), Fraction(-1, 2)]]], dtype=object),
              "dy": np.array([[[Fraction(1, 9), Fraction(5, 11)]]], dtype=object),
              "w": np.array([[[Fraction(3), Fraction(-2, 5)]]], dtype=object)}
    dw = evaluate_table(d.gradients["dw"], (1, 1, 2), values, dtype=object)
    assert dw[0, 0, 0] == Fraction(1, 3) * Fraction(1, 9) + Fraction(2, 7) * Fraction(5, 11)
