"""Adaptive pools: PyTorch's windows, the derived gradients against PyTorch and the reference, bad input.

The windows are checked against PyTorch itself (pooling one-hot inputs), the
derived expressions are read back from the JSON output with ``parse_expr``
and evaluated exactly (small integers, where max pools tie) or in float64
(random floats), and compared with PyTorch's autograd and with
:mod:`symconv.reference.adaptive` on ``Fraction`` arrays.
"""

from __future__ import annotations

import functools
import json
import re
import time
import zlib
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

import symconv
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.errors import SymconvError
from symconv.layers import rule_for
from symconv.layers.rule import CONSTANT, fresh_origins
from symconv.printing.formats import render
from symconv.reference import (
    adaptive_avg_pool_backward,
    adaptive_avg_pool_forward,
    adaptive_max_pool_backward,
    adaptive_max_pool_forward,
)
from symconv.spec.adaptive import adaptive_pool_spec
from symconv.spec.options import build_spec
from symconv.spec.size import check_size
from symconv.spec.stack import parse_layers, stack_spec
from symconv.verify import verify

torch = pytest.importorskip("torch")
F = torch.nn.functional
TORCH = {"adaptive_avgpool1d": F.adaptive_avg_pool1d, "adaptive_avgpool2d": F.adaptive_avg_pool2d,
         "adaptive_avgpool3d": F.adaptive_avg_pool3d, "adaptive_maxpool1d": F.adaptive_max_pool1d,
         "adaptive_maxpool2d": F.adaptive_max_pool2d}
NAMES = {name: IndexedBase(name) for name in ("x", "dy", "y", "dx")}
KEY = re.compile(r"^([a-z]+)\[([0-9, ]+)\]$")


def _param(kind, shape, size, name, slow=False):
    return pytest.param(kind, shape, size, id=name, marks=pytest.mark.slow if slow else ())


MAX = [
    _param("adaptive_maxpool1d", (1, 1, 7), 3, "1d-7to3-overlap"),
    _param("adaptive_maxpool1d", (2, 2, 10), 4, "1d-10to4-N2-C2", True),
    _param("adaptive_maxpool1d", (1, 1, 6), 1, "1d-global", True),
    _param("adaptive_maxpool2d", (1, 1, 5, 5), (3, 2), "2d-5x5to3x2"),
    _param("adaptive_maxpool2d", (1, 2, 4, 6), 1, "2d-global", True),
    _param("adaptive_maxpool2d", (2, 1, 7, 5), (4, 5), "2d-7x5to4x5-identity-W", True),
    _param("adaptive_maxpool2d", (1, 1, 6, 6), (4, 4), "2d-6x6to4x4", True),
]
AVG = [
    _param("adaptive_avgpool1d", (1, 1, 7), 3, "1d-7to3-overlap"),
    _param("adaptive_avgpool1d", (2, 3, 9), 4, "1d-9to4-N2-C3", True),
    _param("adaptive_avgpool2d", (1, 1, 5, 7), (3, 4), "2d-5x7to3x4"),
    _param("adaptive_avgpool2d", (2, 2, 4, 4), 1, "2d-global", True),
    _param("adaptive_avgpool2d", (1, 1, 6, 5), (6, 2), "2d-identity-H", True),
    _param("adaptive_avgpool3d", (1, 1, 3, 4, 5), (2, 3, 2), "3d-3x4x5to2x3x2"),
    _param("adaptive_avgpool3d", (2, 1, 3, 3, 3), 1, "3d-global", True),
]


@functools.cache
def derived(kind, shape, size):
    """(spec, {"y": ..., "dx": ...} read back from the JSON, derivation)."""
    spec = adaptive_pool_spec(kind, shape, size)
    derivation = derive(spec)
    data = json.loads(render(derivation, "json"))
    assert data["layer"] == {**spec.to_dict(), "reduction": "sum"}
    tables = {}
    for name, entries in (("y", data["forward"]), ("dx", data["gradients"]["dx"])):
        tables[name] = {}
        for key, text in entries.items():
            stem, index = KEY.match(key).groups()
            assert stem == name
            tables[name][tuple(int(i) for i in index.split(","))] = parse_expr(text, local_dict=dict(NAMES))
    return spec, tables, derivation


def exact(table, shape, **arrays):
    values = {}
    for name, array in arrays.items():
        for index in np.ndindex(*array.shape):
            v = Fraction(array[index])
            values[NAMES[name][index]] = Rational(v.numerator, v.denominator)
    out = np.empty(shape, dtype=object)
    for index, expr in table.items():
        value = expr.xreplace(values)
        assert value.is_Rational, (index, value)
        out[index] = Fraction(int(value.p), int(value.q))
    return out


def torch_pool(kind, x, dy, size):
    xt = torch.tensor(np.asarray(x, dtype=float), requires_grad=True)
    y = TORCH[kind](xt, size)
    y.backward(torch.tensor(np.asarray(dy, dtype=float)))
    return y.detach().numpy(), xt.grad.numpy()


def reference(kind, x, dy, size):
    if "max" in kind:
        return adaptive_max_pool_forward(x, size), adaptive_max_pool_backward(dy, x, size)
    return adaptive_avg_pool_forward(x, size), adaptive_avg_pool_backward(dy, x, size)


def inputs(mode, shape, rng):
    if mode == "ties":
        return rng.integers(-1, 2, size=shape)
    if mode == "constant":
        return np.full(shape, -2)
    if mode == "distinct":
        return (rng.permutation(int(np.prod(shape))) - 20).reshape(shape)
    return np.frompyfunc(Fraction, 2, 1)(rng.integers(-20, 21, size=shape), 7)  # "fractions"


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# -- the windows are PyTorch's --------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 14))
def test_the_windows_are_pytorchs_for_every_output_size(size):
    eye = torch.eye(size, dtype=torch.float64).reshape(size, 1, size)  # row a: the one-hot input at a
    for out in range(1, size + 1):
        reads = (F.adaptive_avg_pool1d(eye, out)[:, 0, :] != 0).numpy().T  # reads[i, a]: window i reads a
        windows = adaptive_pool_spec("adaptive_avgpool1d", (1, 1, size), out).windows(0)
        assert [positions for _, positions in windows] == [list(np.nonzero(row)[0]) for row in reads]
        assert all(start == positions[0] for start, positions in windows)


def test_windows_overlap_where_o_does_not_divide_l():
    spec = adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 5, 4), (3, 2))
    assert [p for _, p in spec.windows(0)] == [[0, 1], [1, 2, 3], [3, 4]]  # floor(i*5/3) .. ceil((i+1)*5/3) - 1
    assert [p for _, p in spec.windows(1)] == [[0, 1], [2, 3]]
    assert spec.output_shape == (1, 1, 3, 2)


# -- PyTorch: small integers (ties) exactly, random floats closely -------------------------


@pytest.mark.parametrize("mode", ["ties", "constant", "distinct"])
@pytest.mark.parametrize("kind, shape, size", MAX)
def test_adaptive_max_json_is_exactly_pytorchs_gradient_ties_included(kind, shape, size, mode):
    spec, tables, _ = derived(kind, shape, size)
    rng = rng_for(kind, shape, size, mode)
    x, dy = inputs(mode, shape, rng), rng.integers(-9, 10, size=spec.output_shape)
    y_torch, dx_torch = torch_pool(kind, x, dy, size)
    np.testing.assert_array_equal(exact(tables["y"], spec.output_shape, x=x).astype(float), y_torch)
    np.testing.assert_array_equal(exact(tables["dx"], shape, x=x, dy=dy).astype(float), dx_torch)


@pytest.mark.parametrize("mode", ["ties", "fractions"])
@pytest.mark.parametrize("kind, shape, size", AVG)
def test_adaptive_avg_json_is_pytorchs_gradient(kind, shape, size, mode):
    spec, tables, _ = derived(kind, shape, size)
    rng = rng_for(kind, shape, size, mode)
    x, dy = inputs(mode, shape, rng), rng.integers(-9, 10, size=spec.output_shape)
    y_torch, dx_torch = torch_pool(kind, x, dy, size)
    np.testing.assert_allclose(exact(tables["y"], spec.output_shape, x=x).astype(float), y_torch, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(exact(tables["dx"], shape, x=x, dy=dy).astype(float), dx_torch, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kind, shape, size", MAX + AVG)
def test_adaptive_pools_match_pytorch_at_random_floats(kind, shape, size):
    spec, _, derivation = derived(kind, shape, size)
    rng = rng_for(kind, shape, size, "floats")
    x, dy = rng.standard_normal(shape), rng.standard_normal(spec.output_shape)
    y_torch, dx_torch = torch_pool(kind, x, dy, size)
    values = {"x": x, "dy": dy}
    np.testing.assert_allclose(evaluate_table(derivation.forward, spec.output_shape, values), y_torch,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(evaluate_table(derivation.gradients["dx"], shape, values), dx_torch,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["ties", "fractions"])
@pytest.mark.parametrize("kind, shape, size", MAX[:1] + MAX[3:4] + AVG)
def test_adaptive_json_equals_the_reference_on_fraction_arrays(kind, shape, size, mode):
    spec, tables, _ = derived(kind, shape, size)
    rng = rng_for(kind, shape, size, mode, "reference")
    x = np.frompyfunc(Fraction, 1, 1)(inputs(mode, shape, rng)).astype(object)
    dy = np.frompyfunc(Fraction, 2, 1)(rng.integers(-9, 10, size=spec.output_shape), 5).astype(object)
    y_ref, dx_ref = reference(kind, x, dy, size)
    assert all(isinstance(v, (int, Fraction)) for v in list(y_ref.flat) + list(dx_ref.flat))
    assert np.array_equal(exact(tables["y"], spec.output_shape, x=x), y_ref)
    assert np.array_equal(exact(tables["dx"], shape, x=x, dy=dy), dx_ref)


def test_global_pooling_is_the_mean_and_the_max_of_the_whole_map():
    x = np.arange(12).reshape(1, 1, 3, 4)
    _, avg, _ = derived("adaptive_avgpool2d", (1, 1, 3, 4), 1)
    _, top, _ = derived("adaptive_maxpool2d", (1, 2, 4, 6), 1)
    assert exact(avg["y"], (1, 1, 1, 1), x=x)[0, 0, 0, 0] == Fraction(11, 2)
    assert exact(avg["dx"], (1, 1, 3, 4), dy=np.full((1, 1, 1, 1), 24)).tolist() == [[np.full((3, 4), 2).tolist()]]
    x = np.zeros((1, 2, 4, 6), dtype=int)
    x[0, 0, 1, 2] = x[0, 0, 3, 0] = 5  # a tie: the first in row-major order takes dy
    dx = exact(top["dx"], (1, 2, 4, 6), x=x, dy=np.array([7, 3]).reshape(1, 2, 1, 1))
    assert dx[0, 0, 1, 2] == 7 and dx[0, 0, 3, 0] == 0 and dx[0, 1, 0, 0] == 3 and np.count_nonzero(dx) == 2


def test_an_overlap_position_takes_dy_from_both_windows():
    # 5 to 3: windows [0,1] [1,2,3] [3,4]; position 1 is the maximum of the first two.
    _, tables, _ = derived("adaptive_maxpool1d", (1, 1, 5), 3)
    dx = exact(tables["dx"], (1, 1, 5), x=np.array([[[0, 9, 1, 1, 0]]]), dy=np.array([[[2, 3, 4]]]))
    assert dx.tolist() == [[[0, 5, 0, 4, 0]]]


# -- the reference kernels on their own -------------------------------------------------


def test_the_adaptive_reference_is_pytorch_with_ties_and_nan():
    rng = np.random.default_rng(14)
    for trial in range(100):
        nd = int(rng.integers(1, 4))
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + tuple(int(s) for s in rng.integers(1, 9, nd))
        size = tuple(int(rng.integers(1, s + 1)) for s in shape[2:])
        kinds = ["adaptive_avgpool%dd" % nd] + (["adaptive_maxpool%dd" % nd] if nd < 3 else [])
        for kind in kinds:
            x = rng.integers(0, 3, shape).astype(float) if "max" in kind else rng.standard_normal(shape)
            if "max" in kind and trial % 3 == 0:
                x[rng.random(shape) < 0.15] = np.nan  # a NaN wins its window, the last NaN takes dy
            dy = rng.standard_normal(x.shape[:2] + size)
            y_torch, dx_torch = torch_pool(kind, x, dy, size)
            y, dx = reference(kind, x, dy, size)
            np.testing.assert_allclose(y, y_torch, rtol=1e-12, atol=1e-12, equal_nan=True)
            np.testing.assert_allclose(dx, dx_torch, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: adaptive_avg_pool_forward(np.zeros((1, 1, 3)), 4), "output_size: at most the input size 3"),
    (lambda: adaptive_max_pool_forward(np.zeros((1, 1, 3, 3)), (2, 0)), "output_size: every value must be >= 1"),
    (lambda: adaptive_max_pool_forward(np.zeros((1, 1, 3, 3)), (2, 2, 2)), "output_size: expected 2 value(s)"),
    (lambda: adaptive_avg_pool_backward(np.zeros((1, 1, 2)), np.zeros((1, 1, 3)), 3), "dy: expected shape (1, 1, 3)"),
    (lambda: adaptive_avg_pool_forward(np.zeros((3, 3)), 1), "x: expected a 3-D (N, C, L)"),
])
def test_the_adaptive_reference_refuses_bad_arguments(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert message in str(raised.value)


# -- verify, stacks, the size guard -------------------------------------------------------


@pytest.mark.parametrize("kind, shape, size", [
    ("adaptive_maxpool2d", (2, 2, 5, 7), (3, 4)),
    ("adaptive_avgpool3d", (1, 2, 3, 4, 5), (2, 3, 3)),
    ("adaptive_maxpool1d", (2, 1, 9), 4),
])
def test_verify_passes_every_check_including_the_exact_one(kind, shape, size):
    report = verify(derive(adaptive_pool_spec(kind, shape, size)))
    assert report.passed and "equal" in report.table()


@pytest.mark.parametrize("text, shape, expected", [
    ("conv2d(weight=2,1,3,3, padding=1) | relu | adaptive_avgpool2d(output_size=1)", (1, 1, 5, 5), (1, 2, 1, 1)),
    ("conv1d(weight=2,1,2) | relu | adaptive_maxpool1d(output_size=3) | conv1d(weight=1,2,2)", (2, 1, 8), (2, 1, 2)),
    ("maxpool3d(kernel=2, stride=1) | leaky_relu | adaptive_avgpool3d(output_size=2,1,2)", (1, 2, 3, 3, 4),
     (1, 2, 2, 1, 2)),
])
def test_stacks_with_adaptive_pools_verify(text, shape, expected):
    spec = stack_spec(shape, parse_layers(text))
    assert spec.output_shape == expected
    assert verify(derive(spec)).passed


def test_the_max_kinks_are_each_windows_lead_over_its_runner_up():
    spec = adaptive_pool_spec("adaptive_maxpool1d", (1, 1, 5), 3)  # windows [0,1] [1,2,3] [3,4]
    x = np.array([[[4.0, 1.0, 3.0, 2.5, 2.0]]])
    lead, origin = rule_for(spec).kinks(spec, x, fresh_origins(x.shape))
    assert lead.tolist() == [[[3.0, 0.5, 0.5]]] and origin.tolist() == [[[0, 2, 3]]]  # each window's winner
    fixed = np.array([[[CONSTANT, CONSTANT, 2, CONSTANT, CONSTANT]]])  # only x[2] moves: windows 0 and 2 are constant
    lead, origin = rule_for(spec).kinks(spec, x, fixed)
    assert origin.tolist() == [[[CONSTANT, 2, CONSTANT]]] and lead[0, 0, 1] == 0.5


def test_the_size_guard_counts_in_closed_form_and_bounds_the_terms():
    for kind, shape, size in [("adaptive_maxpool2d", (1, 2, 7, 5), (3, 2)), ("adaptive_avgpool1d", (2, 1, 11), 4),
                              ("adaptive_maxpool1d", (1, 1, 9), 9)]:
        spec = adaptive_pool_spec(kind, shape, size)
        d = derive(spec)
        terms = sum(len(expr.args) if expr.is_Add else 1 for expr in d.forward.values())
        assert spec.estimate_terms() >= 2 * terms
    start = time.perf_counter()
    huge = adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 2**31 - 1, 2**31 - 1), 3)
    with pytest.raises(SymconvError, match="max-terms: this layer needs"):
        check_size(huge)
    assert time.perf_counter() - start < 0.5


# -- printing ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, expected", [
    ("latex", [r"y_{11} &= \max(x_{11}, x_{12}, x_{21}, x_{22})", r"\,[x_{22} = m_{11}]", "output size 2",
               r"m_{ij} is the winner"]),
    ("markdown", [r"\max(x_{11}, x_{12}", r"= m_{11}]", "$$"]),
    ("text", ["y[1,1] = max(x[1,1], x[1,2], x[2,1], x[2,2])", "m = the winner of a window",
              "dy[1,1]*[x[2,2] = m[1,1]] + dy[1,2]*[x[2,2] = m[1,2]]"]),
])
def test_adaptive_max_prints_in_every_format_with_the_winner_notes(fmt, expected):
    result = CliRunner().invoke(cli, ["derive", "adaptive_maxpool2d", "--input", "1,1,3,3", "--output-size", "2",
                                      "--index-base", "1", "--format", fmt])
    assert result.exit_code == 0, result.output
    for piece in expected:
        assert piece in result.output, (piece, result.output[:800])


def test_adaptive_avg_prints_its_windows_and_divisors():
    text = CliRunner().invoke(cli, ["derive", "adaptive_avgpool1d", "--input", "1,1,5", "--output-size", "3",
                                    "--format", "text"]).output
    assert "y[1] = 1/3*(x[1] + x[2] + x[3])" in text and "dx[3] = dy[1]/3 + dy[2]/2" in text
    assert text.startswith("adaptive_avgpool1d: x 1x1x5, output size 3")


def test_the_json_layer_of_an_adaptive_pool():
    data = json.loads(CliRunner().invoke(cli, ["derive", "adaptive_avgpool3d", "--input", "1,1,3,2,2",
                                               "--output-size", "2,1,2", "--format", "json"]).stdout)
    assert data["layer"] == {"kind": "adaptive_avgpool3d", "input": [1, 1, 3, 2, 2], "output_size": [2, 1, 2],
                             "output": [1, 1, 2, 1, 2], "reduction": "sum"}
    assert set(data) == {"layer", "shapes", "forward", "gradients"} and len(data["gradients"]["dx"]) == 12


def test_a_stack_prints_the_adaptive_max_pool_as_unpooling():
    latex = render(derive(stack_spec((1, 1, 4, 4), parse_layers("relu | adaptive_maxpool2d(output_size=3)"))),
                   "latex")
    assert r"\partial h^{(1)} &= \operatorname{maxunpool}(\partial y)" in latex
    assert "adaptive\\_maxpool2d (output size 3)" in latex


# -- bad input: one line each ---------------------------------------------------------------


@pytest.mark.parametrize("kind, shape, options, message", [
    ("adaptive_avgpool1d", "1,1,4", {"output_size": "5"},
     "output-size: got '5', expected at most the input's size on each axis (output_size larger than the input "
     "on axis L: 5 > 4)"),
    ("adaptive_maxpool2d", "1,1,4,3", {"output_size": "2,4"}, "output_size larger than the input on axis W: 4 > 3"),
    ("adaptive_avgpool2d", "1,1,4,4", {"output_size": "0"}, "output-size: got '0', expected positive integers"),
    ("adaptive_avgpool2d", "1,1,4,4", {"output_size": "2,-1"}, "output-size: got '2,-1', expected positive integers"),
    ("adaptive_avgpool2d", "1,1,4,4", {"output_size": "2,2,2"},
     "output-size: got '2,2,2', expected an integer or 2 comma-separated integers (one per axis H,W)"),
    ("adaptive_avgpool3d", "1,1,4,4,4", {"output_size": "2,2"},
     "output-size: got '2,2', expected an integer or 3 comma-separated integers (one per axis D,H,W)"),
    ("adaptive_maxpool2d", "1,1,4,4,4", {"output_size": "2"},
     "input: got '1,1,4,4,4', expected 4 sizes N,C,H,W for adaptive_maxpool2d"),
    ("adaptive_maxpool1d", "1,1,4", {"output_size": "1.5"}, "output-size: got '1.5', expected an integer"),
    ("adaptive_maxpool1d", "1,1,4", {}, "output-size: got nothing, expected --output-size O for adaptive_maxpool1d"),
    ("adaptive_avgpool2d", "1,1,4,4", {}, "output-size: got nothing, expected --output-size O or one per axis H,W"),
    ("adaptive_avgpool2d", "1,1,4,4", {"output_size": "1", "kernel": "2"},
     "kernel: got '2', expected no kernel for adaptive_avgpool2d (it takes: output-size)"),
    ("adaptive_maxpool2d", "1,1,4,4", {"output_size": "1", "padding_mode": "reflect"},
     "padding-mode: got 'reflect', expected no padding-mode for adaptive_maxpool2d (it takes: output-size)"),
    ("maxpool2d", "1,1,4,4", {"kernel": "2", "padding_mode": "circular"},
     "padding-mode: got 'circular', expected no padding-mode for maxpool2d"),
])
def test_bad_adaptive_pools_are_refused_in_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as raised:
        build_spec(kind, shape, **options)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("call, message", [
    (lambda: adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 4, 4, 4), 2),
     "input: got '1,1,4,4,4', expected 4 sizes N,C,H,W for adaptive_maxpool2d"),
    (lambda: adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 4, 4), (2, 2, 2)),
     "output-size: got '2,2,2', expected an integer or 2 comma-separated integers"),
    (lambda: adaptive_pool_spec("adaptive_maxpool3d", (1, 1, 4, 4, 4), 2), "layer: got 'adaptive_maxpool3d'"),
    (lambda: adaptive_pool_spec("adaptive_avgpool1d", (1, 1, 4), None), "output-size: got 'None'"),
    (lambda: symconv.adaptive_pool_spec("adaptive_avgpool1d", (1, 1, 4), True), "output-size: got 'True'"),
])
def test_the_python_constructor_refuses_bad_values_in_one_line(call, message):
    with pytest.raises(SymconvError) as raised:
        call()
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("layers, message", [
    ("adaptive_avgpool2d(output_size=5)", "layers: layer 1 (adaptive_avgpool2d), applied to the input of shape "
                                          "1,1,4,4: output-size: got '5', expected at most the input's size"),
    ("relu | adaptive_maxpool2d(output_size=2, padding_mode=zeros)", "padding-mode: got 'zeros', expected no "
                                                                     "padding-mode for adaptive_maxpool2d"),
    ("adaptive_avgpool2d", "output-size: got nothing"),
])
def test_the_stack_syntax_refuses_bad_adaptive_layers(layers, message):
    with pytest.raises(SymconvError) as raised:
        stack_spec((1, 1, 4, 4), parse_layers(layers))
    assert message in str(raised.value)


def test_the_cli_refuses_with_exit_2_and_one_line():
    for args, message in [
        (["--input", "1,1,3,3", "--output-size", "4"], "output_size larger than the input on axis H: 4 > 3"),
        (["--input", "1,1,3,3,3", "--output-size", "2"], "expected 4 sizes N,C,H,W for adaptive_maxpool2d"),
        (["--input", "1,1,3,3", "--output-size", "2", "--kernel", "2"], "expected no kernel for adaptive_maxpool2d"),
    ]:
        result = CliRunner().invoke(cli, ["derive", "adaptive_maxpool2d", *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


# -- pictures and symconv check ------------------------------------------------------------


def test_the_routing_picture_of_an_adaptive_max_pool_sends_dy_where_the_reference_does(tmp_path):
    pytest.importorskip("matplotlib")
    from symconv.plot.pool import plot_pool_routing
    from symconv.plot.routing import pool_values

    spec = adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 5, 5), (3, 2))
    x = pool_values(spec, "ties", seed=3)
    routing = plot_pool_routing(derive(spec), x, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    for o in np.ndindex(*spec.output_shape):  # one-hot dy: the reference backward names the receiver
        dy = np.zeros(spec.output_shape)
        dy[o] = 1
        receiver = np.unravel_index(np.argmax(adaptive_max_pool_backward(dy, x, (3, 2))), x.shape)
        assert tuple(routing.winners[o]) == receiver
    assert int(routing.received.sum()) == 6


def test_plot_draws_adaptive_pools_and_refuses_3d_ones(tmp_path):
    pytest.importorskip("matplotlib")
    ok = CliRunner().invoke(cli, ["plot", "adaptive_maxpool1d", "--input", "1,1,7", "--output-size", "3",
                                  "--values", "1,3,3,2,0,2,2", "--kind", "jacobian", "-o", str(tmp_path / "j.png")])
    assert ok.exit_code == 0, ok.output
    average = CliRunner().invoke(cli, ["plot", "adaptive_avgpool2d", "--input", "1,1,4,4", "--output-size", "2",
                                       "-o", str(tmp_path / "a.png")])
    assert average.exit_code == 0, average.output  # symconv.plot.average's picture, tested in test_plot_average
    refused = CliRunner().invoke(cli, ["plot", "adaptive_avgpool3d", "--input", "1,1,4,4,4", "--output-size", "2",
                                       "-o", str(tmp_path / "p.png")])
    assert refused.exit_code == 2 and "'adaptive_avgpool3d' is not one of" in refused.output


@pytest.mark.parametrize("kind", [pytest.param(k, marks=() if k == "adaptive_maxpool2d" else pytest.mark.slow)
                                  for k in TORCH])
def test_pytorch_passes_the_adaptive_edge_suite(kind):
    from symconv.check.suite import run_suite

    result = run_suite(TORCH[kind], kind, "torch")
    assert result.ok and len(result.cases) >= 30 and not [c for c in result.cases if c.skipped]


def test_check_names_the_fixed_kernel_mistake_and_its_blind_spot():
    from symconv.check import check_backward

    def fixed_kernel(dy, x, output_size):  # an ordinary pool with the right output size
        (o,), size = output_size, x.shape[-1]
        stride = size // o
        kernel = size - (o - 1) * stride
        dx = np.zeros_like(x)
        for i in range(o):
            dx[..., i * stride:i * stride + kernel] += dy[..., i:i + 1] / kernel
        return dx

    wrong = check_backward(fixed_kernel, "adaptive_avgpool1d", input=(1, 1, 7), output_size=4)
    assert not wrong.ok and [f.name for f in wrong.diagnosis] == ["adaptive-fixed-kernel"]
    hidden = check_backward(fixed_kernel, "adaptive_avgpool1d", input=(1, 1, 8), output_size=4)
    assert hidden.ok and "adaptive-fixed-kernel" in {b.name for b in hidden.blind_spots}


def test_the_readme_shows_real_adaptive_output():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    printed = CliRunner().invoke(cli, "derive adaptive_avgpool1d --input 1,1,5 --output-size 3 --format text".split())
    for line in ("  y[1] = 1/3*(x[1] + x[2] + x[3])", "  dx[3] = dy[1]/3 + dy[2]/2"):
        assert line in readme and line in printed.stdout
