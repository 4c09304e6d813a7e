"""ReLU and leaky ReLU: PyTorch's subgradient at 0, exactly.

At x = 0 PyTorch's backward gives 0 for ReLU and ``negative_slope * dy`` for
leaky ReLU. The derived JSON strings are read back with ``parse_expr`` and
evaluated exactly, then compared with torch autograd (float64) and with the
rule written out here.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest
from sympy import Indexed, IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.printing.formats import render
from symconv.spec.options import build_spec
from symconv.spec.activation import activation_spec
from symconv.verify.layer import verify

NAMES = {name: IndexedBase(name) for name in ("x", "dy", "y", "dx")}
X, DY = NAMES["x"], NAMES["dy"]
KEY = re.compile(r"^([a-z]+)\[([0-9, ]+)\]$")

# Values around the kink: exact zeros, tiny and ordinary numbers of both signs.
AROUND_ZERO = [Fraction(-2), Fraction(-1, 1000), Fraction(0), Fraction(1, 1000), Fraction(3, 2), Fraction(0)]


def parse_table(entries, name):
    table = {}
    for key, text in entries.items():
        match = KEY.match(key)
        assert match and match.group(1) == name, key
        table[tuple(int(i) for i in match.group(2).split(","))] = parse_expr(text, local_dict=dict(NAMES))
    return table


def json_tables(spec, reduction="sum"):
    data = json.loads(render(derive(spec, reduction=reduction), "json"))
    assert set(data["gradients"]) == {"dx"}
    return data, parse_table(data["forward"], "y"), parse_table(data["gradients"]["dx"], "dx")


def substitution(**arrays):
    values = {}
    for name, array in arrays.items():
        for index in np.ndindex(*array.shape):
            v = Fraction(array[index])
            values[NAMES[name][index]] = Rational(v.numerator, v.denominator)
    return values


def exact_values(table, shape, values):
    assert set(table) == set(np.ndindex(*shape))
    out = np.empty(shape, dtype=object)
    for index, expr in table.items():
        value = expr.xreplace(values)
        assert value.is_Rational, (index, expr, value)
        out[index] = Fraction(int(value.p), int(value.q))
    return out


def torch_activation(torch, kind, slope, x, dy, reduction="sum"):
    F = torch.nn.functional
    xt = torch.tensor(np.asarray(x, dtype=float), dtype=torch.float64, requires_grad=True)
    y = F.relu(xt) if kind == "relu" else F.leaky_relu(xt, negative_slope=slope)
    loss = (y * torch.tensor(np.asarray(dy, dtype=float), dtype=torch.float64)).sum()
    if reduction == "mean":
        loss = loss / x.shape[0]
    loss.backward()
    return y.detach().numpy(), xt.grad.numpy()


def rule(x, dy, slope):
    """The stated rule: dy where x > 0, slope * dy where x <= 0 (0 for ReLU), exactly."""
    out = np.empty(x.shape, dtype=object)
    for index in np.ndindex(*x.shape):
        out[index] = Fraction(dy[index]) * (1 if x[index] > 0 else slope)
    return out


def grid(shape, rng):
    """Values from AROUND_ZERO (zeros guaranteed), shuffled into ``shape``."""
    size = int(np.prod(shape))
    picks = [AROUND_ZERO[i % len(AROUND_ZERO)] for i in range(size)]
    order = rng.permutation(size)
    out = np.empty(size, dtype=object)
    out[:] = [picks[i] for i in order]
    return out.reshape(shape)


ACTIVATIONS = [
    pytest.param("relu", None, Fraction(0), 0.0, id="relu"),
    pytest.param("leaky_relu", None, Fraction(1, 100), 0.01, id="leaky-default-0.01"),
    pytest.param("leaky_relu", "0.2", Fraction(1, 5), 0.2, id="leaky-0.2"),
    pytest.param("leaky_relu", "1/3", Fraction(1, 3), 1 / 3, id="leaky-1/3"),
    pytest.param("leaky_relu", "-0.5", Fraction(-1, 2), -0.5, id="leaky-negative-slope"),
    pytest.param("leaky_relu", "0", Fraction(0), 0.0, id="leaky-slope-0"),
    pytest.param("leaky_relu", "1", Fraction(1), 1.0, id="leaky-slope-1-identity"),
]

SHAPES = [
    pytest.param((1, 1, 6), id="1d"),
    pytest.param((2, 3, 2, 2), id="2d-N2-C3"),
]


def evaluated(kind, slope_text, shape):
    spec = build_spec(kind, ",".join(map(str, shape)), negative_slope=slope_text)
    _, forward, dx = json_tables(spec)
    rng = np.random.default_rng(len(shape))
    x = grid(shape, rng)
    dy = rng.integers(-9, 10, size=shape)
    values = substitution(x=x, dy=dy)
    return spec, x, dy, exact_values(forward, shape, values), exact_values(dx, shape, values)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", ACTIVATIONS)
def test_json_follows_the_rule_zeros_included(kind, slope_text, slope, torch_slope, shape):
    spec, x, dy, y_got, dx_got = evaluated(kind, slope_text, shape)
    assert spec.negative_slope == slope
    assert np.array_equal(dx_got, rule(x, dy, slope))
    assert np.array_equal(y_got, np.where(x > 0, x, x * slope))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", ACTIVATIONS)
def test_json_is_pytorchs_gradient_zeros_included(kind, slope_text, slope, torch_slope, shape):
    torch = pytest.importorskip("torch")
    _, x, dy, y_got, dx_got = evaluated(kind, slope_text, shape)
    y_torch, dx_torch = torch_activation(torch, kind, torch_slope, x, dy)
    np.testing.assert_allclose(y_got.astype(float), y_torch, rtol=1e-15, atol=0)
    np.testing.assert_allclose(dx_got.astype(float), dx_torch, rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", ACTIVATIONS)
def test_gradient_at_exactly_zero_is_pytorchs_choice(kind, slope_text, slope, torch_slope):
    torch = pytest.importorskip("torch")
    _, _, dx = json_tables(build_spec(kind, "1,1,3", negative_slope=slope_text))
    x, dy = np.zeros((1, 1, 3), dtype=int), np.array([[[5, -7, 100]]])
    got = exact_values(dx, (1, 1, 3), substitution(x=x, dy=dy))
    y_torch, dx_torch = torch_activation(torch, kind, torch_slope, x, dy)
    assert list(y_torch.ravel()) == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(got.astype(float), dx_torch, rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", ACTIVATIONS)
def test_gradient_at_exactly_zero_is_the_slope(kind, slope_text, slope, torch_slope):
    _, forward, dx = json_tables(build_spec(kind, "1,1,3", negative_slope=slope_text))
    x, dy = np.zeros((1, 1, 3), dtype=int), np.array([[[5, -7, 100]]])
    values = substitution(x=x, dy=dy)
    # PyTorch's choice: 0 for ReLU, negative_slope * dy for leaky ReLU.
    assert list(exact_values(dx, (1, 1, 3), values).ravel()) == [slope * 5, slope * -7, slope * 100]
    assert all(v == 0 for v in exact_values(forward, (1, 1, 3), values).ravel())


def test_relu_gradient_at_zero_is_zero_symbolically():
    dx = derive(activation_spec("relu", (1, 1, 1))).gradients["dx"][(0, 0, 0)]
    assert dx.xreplace({X[0, 0, 0]: 0}) == 0
    assert dx.xreplace({X[0, 0, 0]: Rational(1, 10**9)}) == DY[0, 0, 0]
    leaky = derive(activation_spec("leaky_relu", (1, 1, 1), Fraction(1, 100))).gradients["dx"][(0, 0, 0)]
    assert leaky.xreplace({X[0, 0, 0]: 0}) == DY[0, 0, 0] / 100


MEAN_CASES = [ACTIVATIONS[0], ACTIVATIONS[2]]


def mean_case(kind, slope_text):
    shape = (4, 2, 3)
    data, _, dx = json_tables(build_spec(kind, "4,2,3", negative_slope=slope_text), reduction="mean")
    assert data["layer"]["reduction"] == "mean"
    rng = np.random.default_rng(3)
    x, dy = grid(shape, rng), rng.integers(-9, 10, size=shape)
    return x, dy, exact_values(dx, shape, substitution(x=x, dy=dy))


@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", MEAN_CASES)
def test_mean_reduction_divides_by_the_batch(kind, slope_text, slope, torch_slope):
    x, dy, got = mean_case(kind, slope_text)
    assert np.array_equal(got, rule(x, dy, slope) / 4)


@pytest.mark.parametrize("kind, slope_text, slope, torch_slope", MEAN_CASES)
def test_mean_reduction_matches_torch(kind, slope_text, slope, torch_slope):
    torch = pytest.importorskip("torch")
    x, dy, got = mean_case(kind, slope_text)
    _, dx_torch = torch_activation(torch, kind, torch_slope, x, dy, reduction="mean")
    np.testing.assert_allclose(got.astype(float), dx_torch, rtol=1e-15, atol=0)


def test_each_gradient_entry_reads_only_its_own_x_and_dy():
    derivation = derive(activation_spec("leaky_relu", (2, 2, 3), Fraction(1, 10)))
    for index, expr in derivation.gradients["dx"].items():
        assert {s for s in expr.free_symbols if isinstance(s, Indexed)} == {X[index], DY[index]}


@pytest.mark.parametrize("text", ["0.01", "1/100", " 1/100 ", "0.010", "10/1000"])
def test_slope_spellings_are_the_same_number(text):
    assert build_spec("leaky_relu", "1,1,3", negative_slope=text).negative_slope == Fraction(1, 100)


def test_default_slope_is_pytorchs_0_01():
    assert build_spec("leaky_relu", "1,1,3").negative_slope == Fraction(1, 100)
    assert activation_spec("leaky_relu", (1, 1, 3)).negative_slope == Fraction(1, 100)


@pytest.mark.parametrize("kind, shape, options, fragments", [
    pytest.param("leaky_relu", "1,1,3", {"negative_slope": "abc"}, ["negative-slope: got 'abc'"], id="slope-word"),
    pytest.param("leaky_relu", "1,1,3", {"negative_slope": "1/0"}, ["negative-slope: got '1/0'"], id="slope-1/0"),
    pytest.param("leaky_relu", "1,1,3", {"negative_slope": "0.01.2"}, ["negative-slope: got '0.01.2'"],
                 id="slope-two-dots"),
    pytest.param("leaky_relu", "1,1,3", {"negative_slope": "__import__('os')"}, ["negative-slope"], id="slope-code"),
    pytest.param("relu", "1,1,3", {"negative_slope": "0.1"}, ["negative-slope: got '0.1'"], id="relu-with-slope"),
    pytest.param("relu", "1,1,3", {"kernel": "2"}, ["kernel: got '2'"], id="relu-with-kernel"),
    pytest.param("relu", "1,1,3", {"weight": "1,1,2"}, ["weight: got '1,1,2'"], id="relu-with-weight"),
    pytest.param("leaky_relu", "1,1,3", {"stride": "2"}, ["stride: got '2'"], id="leaky-with-stride"),
    pytest.param("relu", "3", {}, ["input: got '3'"], id="input-rank-1"),  # N,F: a linear layer's output, taken
    pytest.param("relu", "1,1,2,2,2,2", {}, ["input: got '1,1,2,2,2,2', expected 2 to 5"], id="input-rank-6"),
    pytest.param("relu", "1,0,3", {}, ["input"], id="input-zero"),
])
def test_bad_activation_options_are_refused(kind, shape, options, fragments):
    with pytest.raises(SymconvError) as caught:
        build_spec(kind, shape, **options)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_relu_latex_is_max_and_an_iverson_bracket():
    latex = render(derive(activation_spec("relu", (1, 1, 2, 2))), "latex", index_base=1)
    assert r"y_{12} &= \max(x_{12}, 0)" in latex
    assert r"\frac{\partial L}{\partial x_{12}} &= dy_{12}\,[x_{12} > 0]" in latex
    assert r"\mathbb{1}" not in latex and "Piecewise" not in latex


def test_leaky_relu_printing_shows_the_slope():
    derivation = derive(activation_spec("leaky_relu", (1, 1, 2), Fraction(1, 100)))
    latex = render(derivation, "latex")
    assert r"\frac{1}{100}" in latex and r"\mathbb{1}" not in latex and "Piecewise" not in latex
    text = render(derivation, "text")
    assert "negative slope 1/100" in text and "Piecewise" not in text


@pytest.mark.parametrize("kind, slope", [("relu", None), ("leaky_relu", Fraction(1, 5))])
def test_verify_passes(kind, slope):
    report = verify(derive(activation_spec(kind, (2, 2, 3, 3), slope)))
    assert report.passed, report.table()


@pytest.mark.parametrize("kind, shape", [("relu", (1, 1, 5, 5)), ("leaky_relu", (1, 1, 3))])
def test_verify_passes_for_an_odd_number_of_elements(kind, shape):
    report = verify(derive(activation_spec(kind, shape)))
    assert report.passed, report.table()
