"""maxpool3d and avgpool3d: the derived gradients against PyTorch, the NumPy reference and rules by hand.

Expectations never come from symconv's derivation itself: PyTorch's autograd
(float64), :mod:`symconv.reference` on ``Fraction`` arrays, or a window
written out by hand. The derived expressions are read back from the JSON
output with ``parse_expr`` and evaluated exactly, or evaluated in float64
for the random-float comparisons.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.errors import SymconvError
from symconv.printing.formats import render
from symconv.reference import avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward
from symconv.spec.options import build_spec
from symconv.spec.pool import pool_spec
from symconv.spec.stack import parse_layers, stack_spec
from symconv.verify import verify

NAMES = {name: IndexedBase(name) for name in ("x", "dy", "y", "dx")}
KEY = re.compile(r"^([a-z]+)\[([0-9, ]+)\]$")


def _param(kind, shape, options, name, slow=False):
    return pytest.param(kind, shape, options, id=name, marks=pytest.mark.slow if slow else ())


MAX_3D = [
    _param("maxpool3d", (1, 1, 4, 4, 4), {"kernel": 2}, "k2"),
    _param("maxpool3d", (1, 1, 2, 3, 3), {"kernel": (1, 3, 3), "stride": 1, "padding": (0, 1, 1)},
           "k1,3,3-s1-p0,1,1-overlap", True),
    _param("maxpool3d", (1, 1, 3, 5, 5), {"kernel": (1, 2, 2), "stride": (1, 2, 2)}, "c3d-pool1-k1,2,2"),
    _param("maxpool3d", (1, 1, 3, 5, 5), {"kernel": 2, "stride": 1, "dilation": (1, 2, 2)}, "dilation-1,2,2", True),
    _param("maxpool3d", (1, 1, 5, 5, 5), {"kernel": 2, "ceil_mode": True}, "ceil-k2", True),
    _param("maxpool3d", (2, 2, 3, 3, 3), {"kernel": 2, "stride": 1}, "N2-C2-overlap", True),
    _param("maxpool3d", (1, 1, 4, 4, 5), {"kernel": (2, 2, 3), "stride": (2, 1, 2), "padding": 1},
           "rect-k2,2,3-s2,1,2-p1", True),
]
AVG_3D = [
    _param("avgpool3d", (1, 1, 4, 4, 4), {"kernel": 2}, "k2"),
    _param("avgpool3d", (1, 1, 3, 4, 4), {"kernel": 3, "stride": 1, "padding": 1}, "k3-s1-p1-count-pad"),
    _param("avgpool3d", (1, 1, 5, 5, 5), {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False},
           "k3-s2-p1-no-count-pad", True),
    _param("avgpool3d", (1, 1, 6, 5, 5), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
           "ceil-window-past-padding", True),
    _param("avgpool3d", (1, 1, 4, 4, 4), {"kernel": 2, "stride": 1, "divisor_override": 3}, "divisor-3", True),
    _param("avgpool3d", (2, 2, 3, 4, 4), {"kernel": (1, 2, 3), "stride": (1, 2, 1), "padding": (0, 1, 1)},
           "N2-C2-rect", True),
]


@functools.cache
def derived(kind, shape, options):
    """(spec, {"y": {index: expr}, "dx": {index: expr}}, derivation), the tables read back from JSON."""
    spec = pool_spec(kind, shape, **dict(options))
    derivation = derive(spec)
    data = json.loads(render(derivation, "json"))
    tables = {}
    for name, entries in (("y", data["forward"]), ("dx", data["gradients"]["dx"])):
        tables[name] = {}
        for key, text in entries.items():
            stem, index = KEY.match(key).groups()
            assert stem == name
            tables[name][tuple(int(i) for i in index.split(","))] = parse_expr(text, local_dict=dict(NAMES))
    return spec, tables, derivation


def frozen(options):
    return tuple(sorted(options.items()))


def exact(table, shape, **arrays):
    """Every expression with every element replaced by a Rational: an array of Fractions."""
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


def torch_pool(kind, x, dy, options):
    """PyTorch's y and the autograd gradient of sum(y * dy), float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(np.asarray(x, dtype=float), requires_grad=True)
    keywords = {"stride": options.get("stride"), "padding": options.get("padding", 0),
                "ceil_mode": options.get("ceil_mode", False)}
    if kind == "maxpool3d":
        y = F.max_pool3d(xt, options["kernel"], dilation=options.get("dilation", 1), **keywords)
    else:
        y = F.avg_pool3d(xt, options["kernel"], count_include_pad=options.get("count_include_pad", True),
                         divisor_override=options.get("divisor_override"), **keywords)
    y.backward(torch.tensor(np.asarray(dy, dtype=float)))
    return y.detach().numpy(), xt.grad.numpy()


def reference(kind, x, dy, options):
    common = {"stride": options.get("stride"), "padding": options.get("padding", 0),
              "ceil_mode": options.get("ceil_mode", False)}
    if kind == "maxpool3d":
        forward, backward, common = max_pool_forward, max_pool_backward, dict(common, dilation=options.get("dilation", 1))
    else:
        forward, backward = avg_pool_forward, avg_pool_backward
        common.update(count_include_pad=options.get("count_include_pad", True),
                      divisor_override=options.get("divisor_override"))
    return forward(x, options["kernel"], **common), backward(dy, x, options["kernel"], **common)


def values(mode, shape, rng):
    if mode == "ties":  # small integers: many ties, negatives included
        return rng.integers(-1, 2, size=shape)
    if mode == "constant":  # one tie per window; negative, so a 0-padding would win
        return np.full(shape, -2)
    if mode == "distinct":
        return (rng.permutation(int(np.prod(shape))) - 20).reshape(shape)
    return np.frompyfunc(Fraction, 2, 1)(rng.integers(-20, 21, size=shape), 7)  # "fractions"


def objects(array):
    return np.frompyfunc(Fraction, 1, 1)(np.asarray(array)).astype(object)


# -- PyTorch at small integers (ties) and exact rationals -----------------------------


@pytest.mark.parametrize("mode", ["ties", "constant", "distinct"])
@pytest.mark.parametrize("kind, shape, options", MAX_3D)
def test_maxpool3d_json_is_exactly_pytorchs_gradient_ties_included(kind, shape, options, mode):
    spec, tables, _ = derived(kind, shape, frozen(options))
    rng = np.random.default_rng(zlib.crc32(repr((shape, options, mode)).encode()))
    x, dy = values(mode, shape, rng), rng.integers(-9, 10, size=spec.output_shape)
    y_torch, dx_torch = torch_pool(kind, x, dy, options)
    # Small integers: PyTorch's float64 results are exact, so the comparison is exact.
    np.testing.assert_array_equal(exact(tables["y"], spec.output_shape, x=x).astype(float), y_torch)
    np.testing.assert_array_equal(exact(tables["dx"], shape, x=x, dy=dy).astype(float), dx_torch)


@pytest.mark.parametrize("mode", ["ties", "fractions"])
@pytest.mark.parametrize("kind, shape, options", MAX_3D[:3] + AVG_3D)
def test_pool3d_json_equals_the_reference_on_fraction_arrays(kind, shape, options, mode):
    spec, tables, _ = derived(kind, shape, frozen(options))
    rng = np.random.default_rng(zlib.crc32(repr((kind, shape, options, mode)).encode()))
    x, dy = objects(values(mode, shape, rng)), objects(rng.integers(-9, 10, size=spec.output_shape))
    y_ref, dx_ref = reference(kind, x, dy, options)
    assert all(isinstance(v, (int, Fraction)) for v in list(y_ref.flat) + list(dx_ref.flat))
    assert np.array_equal(exact(tables["y"], spec.output_shape, x=x), y_ref)
    assert np.array_equal(exact(tables["dx"], shape, x=x, dy=dy), dx_ref)


@pytest.mark.parametrize("kind, shape, options", MAX_3D + AVG_3D)
def test_pool3d_matches_pytorch_at_random_floats(kind, shape, options):
    spec, _, derivation = derived(kind, shape, frozen(options))
    rng = np.random.default_rng(zlib.crc32(repr((kind, shape, options)).encode()))
    x, dy = rng.standard_normal(shape), rng.standard_normal(spec.output_shape)
    y_torch, dx_torch = torch_pool(kind, x, dy, options)
    got = {"x": x, "dy": dy}
    y = evaluate_table(derivation.forward, spec.output_shape, got)
    dx = evaluate_table(derivation.gradients["dx"], shape, got)
    np.testing.assert_allclose(y, y_torch, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_torch, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("winner, tied", [
    ((0, 0, 0), [(0, 0, 0), (1, 1, 1)]),  # the first in scan order: depth, then rows, then columns
    ((0, 1, 1), [(1, 0, 0), (0, 1, 1)]),  # an earlier depth slice wins whatever its row and column
    ((1, 0, 1), [(1, 1, 0), (1, 0, 1)]),  # within a slice, the earlier row
    ((0, 0, 0), [(d, h, w) for d in range(2) for h in range(2) for w in range(2)]),  # all tied
])
def test_a_tied_2x2x2_window_sends_dy_to_its_first_maximum_in_scan_order(winner, tied):
    x = np.zeros((1, 1, 2, 2, 2), dtype=int)
    for position in tied:
        x[(0, 0) + position] = 3
    _, tables, _ = derived("maxpool3d", (1, 1, 2, 2, 2), frozen({"kernel": 2}))
    dx = exact(tables["dx"], (1, 1, 2, 2, 2), x=x, dy=np.full((1, 1, 1, 1, 1), 5))
    expected = np.zeros((1, 1, 2, 2, 2), dtype=int)
    expected[(0, 0) + winner] = 5
    assert np.array_equal(dx, expected)


def test_overlapping_3d_windows_accumulate_at_a_shared_winner():
    x = np.zeros((1, 1, 3, 3, 3), dtype=int)
    x[0, 0, 1, 1, 1] = 7  # the centre wins all eight 2x2x2 windows at stride 1
    _, tables, _ = derived("maxpool3d", (1, 1, 3, 3, 3), frozen({"kernel": 2, "stride": 1}))
    dy = np.arange(1, 9).reshape(1, 1, 2, 2, 2)
    dx = exact(tables["dx"], (1, 1, 3, 3, 3), x=x, dy=dy)
    assert dx[0, 0, 1, 1, 1] == dy.sum() and np.count_nonzero(dx) == 1


def test_avgpool3d_spreads_dy_over_its_window_by_the_divisor():
    # 2x2x2 windows at stride 2 on 2x2x4: each dy splits in 8 equal parts over its own block.
    spec, tables, _ = derived("avgpool3d", (1, 1, 2, 2, 4), frozen({"kernel": 2}))
    dx = exact(tables["dx"], (1, 1, 2, 2, 4), dy=np.array([8, 16]).reshape(1, 1, 1, 1, 2))
    assert np.array_equal(dx[0, 0], np.concatenate([np.ones((2, 2, 2), int), 2 * np.ones((2, 2, 2), int)], axis=2))


# -- the NumPy reference kernels in 3-D -----------------------------------------------


def test_the_3d_reference_is_pytorch_with_ties_nan_and_every_option():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    tried = 0
    for trial in range(150):
        shape = (2, 2) + tuple(int(s) for s in rng.integers(2, 7, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, 3))
        s, d = tuple(int(v) for v in rng.integers(1, 3, 3)), tuple(int(v) for v in rng.integers(1, 3, 3))
        p, ceil = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k), bool(rng.integers(0, 2))
        x = rng.integers(0, 3, shape).astype(float)
        if trial % 3 == 0:
            x[rng.random(shape) < 0.1] = np.nan
        xt = torch.tensor(x, requires_grad=True)
        try:
            y = F.max_pool3d(xt, k, s, p, d, ceil_mode=ceil)
        except RuntimeError:  # a window that does not fit: refused by both
            continue
        dy = rng.integers(-3, 4, tuple(y.shape)).astype(float)
        y.backward(torch.tensor(dy))
        np.testing.assert_array_equal(max_pool_forward(x, k, s, p, d, ceil), y.detach().numpy())
        np.testing.assert_array_equal(max_pool_backward(dy, x, k, s, p, d, ceil), xt.grad.numpy())
        x = rng.standard_normal(shape)
        xt = torch.tensor(x, requires_grad=True)
        include, override = bool(rng.integers(0, 2)), (None, 3)[int(rng.integers(0, 2))]
        try:
            y = F.avg_pool3d(xt, k, s, p, ceil_mode=ceil, count_include_pad=include, divisor_override=override)
        except RuntimeError:
            continue
        dy = rng.standard_normal(tuple(y.shape))
        y.backward(torch.tensor(dy))
        np.testing.assert_allclose(avg_pool_forward(x, k, s, p, ceil, include, override), y.detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(avg_pool_backward(dy, x, k, s, p, ceil, include, override), xt.grad.numpy(),
                                   rtol=1e-12, atol=1e-12)
        tried += 1
    assert tried > 50


def test_the_3d_reference_pools_fraction_arrays_exactly():
    rng = np.random.default_rng(0)
    x = np.frompyfunc(Fraction, 2, 1)(rng.integers(-9, 10, (1, 2, 3, 4, 4)), 3)
    dy = np.frompyfunc(Fraction, 2, 1)(rng.integers(-9, 10, (1, 2, 2, 3, 3)), 5)
    for forward, backward, options in ((max_pool_forward, max_pool_backward, {}),
                                       (avg_pool_forward, avg_pool_backward, {"count_include_pad": False})):
        y, dx = forward(x, 2, 2, 1, **options), backward(dy, x, 2, 2, 1, **options)
        assert y.dtype == object and all(isinstance(v, Fraction) for v in y.flat)
        np.testing.assert_allclose(y.astype(float), forward(x.astype(float), 2, 2, 1, **options), atol=1e-14)
        np.testing.assert_allclose(dx.astype(float), backward(dy.astype(float), x.astype(float), 2, 2, 1, **options),
                                   atol=1e-14)


# -- verify, stacks, printing -----------------------------------------------------------


@pytest.mark.parametrize("kind, shape, options", [
    ("maxpool3d", (1, 2, 4, 5, 5), {"kernel": 2, "stride": (1, 2, 2), "padding": 1}),
    ("avgpool3d", (2, 1, 4, 5, 5), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                    "count_include_pad": False}),
])
def test_verify_passes_every_check_including_the_exact_one(kind, shape, options):
    report = verify(derive(pool_spec(kind, shape, **options)))
    assert report.passed and {c.name for c in report.checks} == {"y", "dx"}
    assert "equal" in report.table()


def test_a_stack_of_3d_pools_and_activations_verifies():
    layers = parse_layers("maxpool3d(kernel=2, stride=1, padding=1) | leaky_relu(negative_slope=1/10) | "
                          "avgpool3d(kernel=2, ceil_mode=true)")
    spec = stack_spec((1, 2, 3, 3, 3), layers)
    assert spec.output_shape == (1, 2, 2, 2, 2)
    assert verify(derive(spec)).passed


@pytest.mark.parametrize("values", ["normal", "integers"])
def test_a_3d_stack_matches_pytorch_end_to_end(values):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    spec = stack_spec((2, 1, 3, 4, 3), parse_layers(
        "maxpool3d(kernel=2, stride=1, padding=1) | leaky_relu | adaptive_avgpool3d(output_size=2,3,2)"))
    d = derive(spec)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(spec.input) if values == "normal" else rng.integers(-2, 3, spec.input).astype(float)
    dy = rng.standard_normal(spec.output_shape)
    got = {"x": x, "dy": dy}
    for names, table in zip(d.names, d.forward):
        got[names["y"]] = evaluate_table(table, d.shapes[names["y"]], got)
    for gradients in reversed(d.gradients):
        for name, table in gradients.items():
            got[name] = evaluate_table(table, d.shapes[name[1:]], got)
    xt = torch.tensor(x, requires_grad=True)
    y = F.adaptive_avg_pool3d(F.leaky_relu(F.max_pool3d(xt, 2, stride=1, padding=1), 0.01), (2, 3, 2))
    y.backward(torch.tensor(dy))
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["dx"], xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt, expected", [
    ("latex", [r"\max(x_{111}, x_{112}, x_{121}", r"m_{tij} is the winner", r"dy_{tij}"]),
    ("markdown", [r"\max(x_{111}", "$$"]),
    ("text", ["y[1,1,1] = max(x[1,1,1], x[1,1,2]", "m = the winner of a window"]),
])
def test_maxpool3d_prints_in_every_format(fmt, expected):
    result = CliRunner().invoke(cli, ["derive", "maxpool3d", "--input", "1,1,2,2,4", "--kernel", "2",
                                      "--index-base", "1", "--format", fmt])
    assert result.exit_code == 0, result.output
    for piece in expected:
        assert piece in result.output, (piece, result.output[:600])


def test_maxpool3d_json_holds_the_layer_and_every_entry():
    data = json.loads(CliRunner().invoke(cli, ["derive", "maxpool3d", "--input", "1,1,3,2,2", "--kernel", "2,1,1",
                                               "--stride", "1", "--format", "json"]).stdout)
    assert data["layer"] == {"kind": "maxpool3d", "input": [1, 1, 3, 2, 2], "kernel": [2, 1, 1], "stride": [1, 1, 1],
                             "padding": [0, 0, 0], "ceil_mode": False, "output": [1, 1, 2, 2, 2],
                             "dilation": [1, 1, 1], "reduction": "sum"}
    assert len(data["forward"]) == 8 and len(data["gradients"]["dx"]) == 12


# -- bad input: one line each -------------------------------------------------------


@pytest.mark.parametrize("kind, shape, options, message", [
    ("maxpool3d", "1,1,4,4", {"kernel": "2"}, "input: got '1,1,4,4', expected 5 sizes N,C,D,H,W for maxpool3d"),
    ("avgpool3d", (1, 1, 4, 4), {"kernel": "2"}, "input: got '1,1,4,4', expected 5 sizes N,C,D,H,W for avgpool3d"),
    ("maxpool3d", (1, 1, 4, 4, 4), {}, "kernel: got nothing, expected --kernel K or KD,KH,KW for maxpool3d"),
    ("maxpool3d", (1, 1, 4, 4, 4), {"kernel": "2,2"},
     "kernel: got '2,2', expected an integer or 3 comma-separated integers (one per axis D,H,W)"),
    ("maxpool3d", (1, 1, 4, 4, 4), {"kernel": "3", "padding": "0,0,2"},
     "padding: got '0,0,2', expected at most half the kernel (3 // 2 = 1)"),
    ("maxpool3d", (1, 1, 2, 4, 4), {"kernel": "3"}, "kernel: got '3', whose extent 3 on axis D"),
    ("avgpool3d", (1, 1, 4, 4, 4), {"kernel": "2", "dilation": "2"}, "dilation: got '2', expected no dilation for avgpool3d"),
    ("maxpool3d", (1, 1, 4, 4, 4), {"kernel": "2", "divisor_override": "2"}, "divisor-override: got '2', expected no"),
    ("maxpool3d", (1, 1, 4, 4, 4), {"kernel": "2", "output_size": "2"}, "output-size: got '2', expected no output-size"),
])
def test_bad_3d_pools_are_refused_in_one_line(kind, shape, options, message):
    with pytest.raises(SymconvError) as raised:
        build_spec(kind, ",".join(map(str, shape)) if isinstance(shape, tuple) else shape, **options)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_the_cli_refuses_a_2d_input_for_maxpool3d_with_exit_2_and_one_line():
    result = CliRunner().invoke(cli, ["derive", "maxpool3d", "--input", "1,1,4,4", "--kernel", "2"])
    assert result.exit_code == 2 and "expected 5 sizes N,C,D,H,W for maxpool3d" in result.output
    assert "Traceback" not in result.output
