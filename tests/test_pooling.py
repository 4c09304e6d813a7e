"""Max and average pooling: symconv's gradients against PyTorch, the NumPy
reference and seed 004's unpooling / spreading rules.

The expectations never come from symconv itself: they are PyTorch's autograd
(float64), :mod:`symconv.reference` evaluated on ``Fraction`` arrays, or a
rule written out by hand. The derived expressions are read back from the JSON
output with ``parse_expr`` and evaluated exactly with ``xreplace``.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import zlib
from fractions import Fraction

import numpy as np
import pytest
from sympy import IndexedBase, Rational
from sympy.parsing.sympy_parser import parse_expr

from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.printing.formats import render
from symconv.spec.options import build_spec
from symconv.reference import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from symconv.spec.pool import pool_spec

NAMES = {name: IndexedBase(name) for name in ("x", "dy", "y", "dx")}
X, DY = NAMES["x"], NAMES["dy"]
KEY = re.compile(r"^([a-z]+\d*)\[([0-9, ]+)\]$")


# --------------------------------------------------------------------------
# Helpers: the JSON contract read back, exact evaluation, PyTorch.
# --------------------------------------------------------------------------


def frozen(options: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def parse_table(entries: dict, name: str) -> dict:
    """``{"dx[0, 0, 1]": "..."}`` -> ``{(0, 0, 1): sympy expression}``."""
    table = {}
    for key, text in entries.items():
        match = KEY.match(key)
        assert match and match.group(1) == name, key
        table[tuple(int(i) for i in match.group(2).split(","))] = parse_expr(text, local_dict=dict(NAMES))
    return table


@functools.cache
def derived_json(kind, shape, options, reduction="sum"):
    """(spec, JSON data, {"y": {index: expr}, "dx": {index: expr}}) for one layer."""
    spec = pool_spec(kind, shape, **dict(options))
    data = json.loads(render(derive(spec, reduction=reduction), "json"))
    tables = {"y": parse_table(data["forward"], "y"), "dx": parse_table(data["gradients"]["dx"], "dx")}
    return spec, data, tables


def substitution(**arrays) -> dict:
    """``{x[i]: Rational, dy[j]: Rational, ...}`` for every element of every array."""
    values = {}
    for name, array in arrays.items():
        for index in np.ndindex(*array.shape):
            v = Fraction(array[index])
            values[NAMES[name][index]] = Rational(v.numerator, v.denominator)
    return values


def exact_values(table: dict, shape, values) -> np.ndarray:
    """Each expression with every element replaced: an array of Fractions."""
    assert set(table) == set(np.ndindex(*shape)), "the JSON must hold every element"
    out = np.empty(shape, dtype=object)
    for index, expr in table.items():
        value = expr.xreplace(values)
        assert value.is_Rational, f"{index}: {expr} did not evaluate to a number: {value}"
        out[index] = Fraction(int(value.p), int(value.q))
    return out


def fractions(array) -> np.ndarray:
    out = np.empty(np.shape(array), dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = Fraction(array[index])
    return out


def torch_pool(torch, kind, x, dy, options, reduction="sum"):
    """PyTorch's forward and autograd gradient (float64) of sum(y * dy) (/ N for the mean)."""
    F = torch.nn.functional
    xt = torch.tensor(np.asarray(x, dtype=float), dtype=torch.float64, requires_grad=True)
    dyt = torch.tensor(np.asarray(dy, dtype=float), dtype=torch.float64)
    kw = {"kernel_size": options["kernel"], "stride": options.get("stride"),
          "padding": options.get("padding", 0), "ceil_mode": options.get("ceil_mode", False)}
    if kind.startswith("max"):
        kw["dilation"] = options.get("dilation", 1)
        y = (F.max_pool1d if kind == "maxpool1d" else F.max_pool2d)(xt, **kw)
    else:
        kw["count_include_pad"] = options.get("count_include_pad", True)
        divisor = options.get("divisor_override")
        if kind == "avgpool2d":
            y = F.avg_pool2d(xt, divisor_override=divisor, **kw)
        elif divisor is None:
            y = F.avg_pool1d(xt, **kw)
        else:  # avg_pool1d has no divisor_override: lift to a unit height
            lift = {k: ((1, v) if k in ("kernel_size", "stride", "padding") and v is not None else v)
                    for k, v in kw.items()}
            lift["padding"] = (0, kw["padding"])
            y = F.avg_pool2d(xt.unsqueeze(2), divisor_override=divisor, **lift).squeeze(2)
    loss = (y * dyt).sum()
    if reduction == "mean":
        loss = loss / x.shape[0]
    loss.backward()
    return y.detach().numpy(), xt.grad.numpy()


def reference_pool(kind, x, dy, options, scale=1):
    """symconv.reference on Fraction arrays: exact y and dx."""
    kernel = options["kernel"]
    common = {"stride": options.get("stride"), "padding": options.get("padding", 0),
              "ceil_mode": options.get("ceil_mode", False)}
    if kind.startswith("max"):
        common["dilation"] = options.get("dilation", 1)
        forward, backward = max_pool_forward, max_pool_backward
    else:
        common["count_include_pad"] = options.get("count_include_pad", True)
        common["divisor_override"] = options.get("divisor_override")
        forward, backward = avg_pool_forward, avg_pool_backward
    xq, dyq = fractions(x), fractions(dy)
    return forward(xq, kernel, **common), backward(dyq, xq, kernel, **common) * Fraction(scale)


def inputs(mode, shape, rng):
    size = int(np.prod(shape))
    if mode == "random":  # small integers: many ties, negatives included
        return rng.integers(-3, 4, size=shape)
    if mode == "constant":  # every window tied; negative, so a 0-padding would win
        return np.full(shape, -2)
    if mode == "zeros-ones":
        return rng.integers(0, 2, size=shape)
    if mode == "distinct":
        return (rng.permutation(size) - size // 2).reshape(shape)
    if mode == "fractions":
        return fractions(rng.integers(-20, 21, size=shape)) / 7
    raise AssertionError(mode)


def lists(options):
    """Per-axis tuples as lists for PyTorch; everything else unchanged."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


# --------------------------------------------------------------------------
# The configuration tables.
# --------------------------------------------------------------------------

MAX_CONFIGS = [
    pytest.param("maxpool2d", (1, 1, 4, 4), {"kernel": 2}, id="2x2-s2"),
    pytest.param("maxpool2d", (1, 1, 4, 4), {"kernel": 3, "stride": 1}, id="3x3-s1-overlapping"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}, id="3x3-s2-p1"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 2, "stride": 1, "dilation": 2}, id="2x2-s1-dilation2"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 2, "stride": 2, "ceil_mode": True}, id="ceil-H5-k2-s2"),
    pytest.param("maxpool2d", (1, 1, 6, 6), {"kernel": 2, "padding": 1, "ceil_mode": True}, id="ceil-p1-H6"),
    pytest.param("maxpool2d", (2, 2, 3, 3), {"kernel": 2, "stride": 1}, id="N2-C2-2x2-s1"),
    pytest.param("maxpool2d", (1, 1, 4, 5), {"kernel": (2, 3), "stride": (2, 1), "padding": (1, 1)},
                 id="rect-2x3-s2,1-p1"),
    pytest.param("maxpool1d", (1, 1, 6), {"kernel": 2}, id="1d-k2"),
    pytest.param("maxpool1d", (1, 1, 5), {"kernel": 1, "stride": 2}, id="1d-k1-s2"),
    pytest.param("maxpool1d", (2, 2, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                 id="1d-k3-s2-p1-ceil-N2-C2"),
    pytest.param("maxpool1d", (1, 1, 9), {"kernel": 3, "stride": 2, "padding": 1, "dilation": 2}, id="1d-k3-d2-p1"),
    pytest.param("maxpool1d", (1, 1, 5), {"kernel": 4, "stride": 1, "padding": 2}, id="1d-k4-p2-half-kernel"),
]

AVG_CONFIGS = [
    pytest.param("avgpool2d", (1, 1, 4, 4), {"kernel": 2}, id="2x2-s2"),
    pytest.param("avgpool2d", (1, 1, 4, 4), {"kernel": 3, "stride": 1}, id="3x3-s1-overlapping"),
    pytest.param("avgpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}, id="3x3-s2-p1-count-pad"),
    pytest.param("avgpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False},
                 id="3x3-s2-p1-no-count-pad"),
    pytest.param("avgpool2d", (1, 1, 5, 5), {"kernel": 2, "ceil_mode": True}, id="ceil-H5-k2-s2"),
    pytest.param("avgpool2d", (1, 1, 6, 6), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                 id="ceil-window-past-padding"),
    pytest.param("avgpool2d", (1, 1, 6, 6),
                 {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
                 id="ceil-window-past-padding-no-count-pad"),
    pytest.param("avgpool2d", (1, 1, 4, 4), {"kernel": 2, "stride": 1, "divisor_override": 3}, id="divisor-3"),
    pytest.param("avgpool2d", (1, 1, 5, 5),
                 {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 5},
                 id="divisor-5-ceil-p1"),
    pytest.param("avgpool2d", (2, 3, 4, 4), {"kernel": (2, 3), "stride": (1, 2), "padding": (1, 1)},
                 id="N2-C3-rect"),
    pytest.param("avgpool1d", (1, 1, 6), {"kernel": 2}, id="1d-k2"),
    pytest.param("avgpool1d", (2, 2, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                 id="1d-ceil-count-pad-N2-C2"),
    pytest.param("avgpool1d", (1, 1, 7),
                 {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
                 id="1d-ceil-no-count-pad"),
    pytest.param("avgpool1d", (1, 2, 5), {"kernel": 2, "stride": 1, "padding": 1, "divisor_override": 4},
                 id="1d-divisor-4"),
]


# --------------------------------------------------------------------------
# The JSON strings evaluate exactly to PyTorch's gradient, ties included.
# --------------------------------------------------------------------------


@functools.cache
def evaluated(kind, shape, options, mode, reduction="sum"):
    """Inputs of one mode and the JSON expressions evaluated on them, exactly."""
    spec, data, tables = derived_json(kind, shape, options, reduction)
    rng = np.random.default_rng(zlib.crc32(repr((kind, shape, options, mode)).encode()))
    x = inputs(mode, shape, rng)
    dy = rng.integers(-9, 10, size=spec.output_shape)
    values = substitution(x=x, dy=dy)
    return data, x, dy, exact_values(tables["y"], spec.output_shape, values), exact_values(tables["dx"], shape, values)


MAX_MODES = ["random", "constant", "zeros-ones", "distinct"]
AVG_MODES = ["random", "fractions"]


@pytest.mark.parametrize("mode", MAX_MODES)
@pytest.mark.parametrize("kind, shape, options", MAX_CONFIGS)
def test_max_pool_json_is_exactly_pytorchs_gradient(kind, shape, options, mode):
    torch = pytest.importorskip("torch")
    _, x, dy, y_got, dx_got = evaluated(kind, shape, frozen(options), mode)
    y_torch, dx_torch = torch_pool(torch, kind, x, dy, lists(options))
    # Small integers: PyTorch's float64 results are exact, so equality is exact.
    np.testing.assert_array_equal(y_got.astype(float), y_torch)
    np.testing.assert_array_equal(dx_got.astype(float), dx_torch)


@pytest.mark.parametrize("mode", MAX_MODES)
@pytest.mark.parametrize("kind, shape, options", MAX_CONFIGS)
def test_max_pool_json_equals_the_reference_exactly(kind, shape, options, mode):
    _, x, dy, y_got, dx_got = evaluated(kind, shape, frozen(options), mode)
    y_ref, dx_ref = reference_pool(kind, x, dy, options)
    assert np.array_equal(y_got, y_ref)
    assert np.array_equal(dx_got, dx_ref)


@pytest.mark.parametrize("mode", AVG_MODES)
@pytest.mark.parametrize("kind, shape, options", AVG_CONFIGS)
def test_avg_pool_json_is_pytorchs_gradient(kind, shape, options, mode):
    torch = pytest.importorskip("torch")
    _, x, dy, y_got, dx_got = evaluated(kind, shape, frozen(options), mode)
    y_torch, dx_torch = torch_pool(torch, kind, np.asarray(x, dtype=float), dy, lists(options))
    np.testing.assert_allclose(y_got.astype(float), y_torch, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dx_got.astype(float), dx_torch, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", AVG_MODES)
@pytest.mark.parametrize("kind, shape, options", AVG_CONFIGS)
def test_avg_pool_json_equals_the_reference_exactly(kind, shape, options, mode):
    _, x, dy, y_got, dx_got = evaluated(kind, shape, frozen(options), mode)
    y_ref, dx_ref = reference_pool(kind, x, dy, options)  # exact rationals
    assert np.array_equal(y_got, y_ref)
    assert np.array_equal(dx_got, dx_ref)


MEAN_CONFIGS = [
    pytest.param("maxpool2d", (2, 1, 4, 4), {"kernel": 2}, id="max-2x2-N2"),
    pytest.param("maxpool1d", (3, 2, 5), {"kernel": 3, "stride": 1, "padding": 1}, id="max-1d-N3"),
    pytest.param("avgpool2d", (2, 2, 4, 4), {"kernel": 3, "stride": 1, "padding": 1}, id="avg-3x3-N2"),
    pytest.param("avgpool1d", (4, 1, 5), {"kernel": 2, "padding": 1, "count_include_pad": False}, id="avg-1d-N4"),
]


@pytest.mark.parametrize("kind, shape, options", MEAN_CONFIGS)
def test_mean_reduction_matches_torch(kind, shape, options):
    torch = pytest.importorskip("torch")
    data, x, dy, _, dx_got = evaluated(kind, shape, frozen(options), "random", "mean")
    assert data["layer"]["reduction"] == "mean"
    _, dx_torch = torch_pool(torch, kind, x, dy, lists(options), reduction="mean")
    np.testing.assert_allclose(dx_got.astype(float), dx_torch, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kind, shape, options", MEAN_CONFIGS)
def test_mean_reduction_divides_the_gradient_by_the_batch(kind, shape, options):
    _, x, dy, _, dx_got = evaluated(kind, shape, frozen(options), "random", "mean")
    _, dx_ref = reference_pool(kind, x, dy, options, scale=Fraction(1, shape[0]))
    assert np.array_equal(dx_got, dx_ref)


# --------------------------------------------------------------------------
# Seed 004: max-unpooling with remembered indices; average pooling spreads dy.
# --------------------------------------------------------------------------


def symbolic_dx(kind, shape, options, x):
    """dx with x replaced by numbers and dy left symbolic: exact SymPy expressions."""
    spec = pool_spec(kind, shape, **options)
    derivation = derive(spec)
    values = substitution(x=np.asarray(x))
    return spec, {index: expr.xreplace(values) for index, expr in derivation.gradients["dx"].items()}


def test_seed_004_max_unpool_puts_dy_at_the_remembered_argmax():
    x = np.array([[[[1, 9, 2, 3],
                    [4, 0, 8, 5],
                    [7, 6, 0, 1],
                    [2, 3, 4, 9]]]])
    # The argmax of each 2x2 window, remembered by hand: window (i, j) -> input position.
    remembered = {(0, 0): (0, 1), (0, 1): (1, 2), (1, 0): (2, 0), (1, 1): (3, 3)}
    _, dx = symbolic_dx("maxpool2d", (1, 1, 4, 4), {"kernel": 2}, x)
    expected = {(0, 0, r, c): 0 for r in range(4) for c in range(4)}
    for (i, j), (r, c) in remembered.items():
        expected[(0, 0, r, c)] = DY[0, 0, i, j]
    assert dx == expected


def test_seed_004_remembered_indices_agree_with_pytorchs_return_indices():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1, 9, 2, 3], [4, 0, 8, 5], [7, 6, 0, 1], [2, 3, 4, 9]]]])
    _, indices = torch.nn.functional.max_pool2d(torch.tensor(x, dtype=torch.float64), 2, return_indices=True)
    _, dx = symbolic_dx("maxpool2d", (1, 1, 4, 4), {"kernel": 2}, x)
    for (i, j), flat in np.ndenumerate(indices.numpy()[0, 0]):
        assert dx[(0, 0, int(flat) // 4, int(flat) % 4)] == DY[0, 0, i, j]


@pytest.mark.parametrize("window, winner", [
    pytest.param([[5, 5], [5, 5]], (0, 0), id="all-equal-first"),
    pytest.param([[1, 3], [3, 0]], (0, 1), id="tie-row-major-beats-column"),
    pytest.param([[0, 0], [5, 5]], (1, 0), id="tie-in-second-row"),
    pytest.param([[-1, -1], [-1, -1]], (0, 0), id="all-equal-negative"),
    pytest.param([[0, 1], [0, 1]], (0, 1), id="zeros-ones"),
])
def test_ties_send_dy_to_the_first_maximum_in_row_major_order(window, winner):
    _, dx = symbolic_dx("maxpool2d", (1, 1, 2, 2), {"kernel": 2}, [[window]])
    for (r, c) in itertools.product(range(2), range(2)):
        assert dx[(0, 0, r, c)] == (DY[0, 0, 0, 0] if (r, c) == winner else 0)


def test_overlapping_1d_windows_with_ties_follow_the_rule():
    # windows [2,2] [2,1] [1,2]: first maxima at 0, 1 and 3 (the rule, by hand).
    _, dx = symbolic_dx("maxpool1d", (1, 1, 4), {"kernel": 2, "stride": 1}, [[[2, 2, 1, 2]]])
    assert [dx[(0, 0, i)] for i in range(4)] == [DY[0, 0, 0], DY[0, 0, 1], 0, DY[0, 0, 2]]


def test_overlapping_max_windows_accumulate_at_a_shared_winner():
    # The centre of a 3x3 input wins all four 2x2/s1 windows.
    x = [[[[0, 1, 0], [1, 7, 1], [0, 1, 0]]]]
    _, dx = symbolic_dx("maxpool2d", (1, 1, 3, 3), {"kernel": 2, "stride": 1}, x)
    assert dx[(0, 0, 1, 1)] == DY[0, 0, 0, 0] + DY[0, 0, 0, 1] + DY[0, 0, 1, 0] + DY[0, 0, 1, 1]
    assert all(value == 0 for index, value in dx.items() if index != (0, 0, 1, 1))
    # And 1-D: [0, 5, 0, 0] with k3/s1, 5 wins both windows.
    _, dx = symbolic_dx("maxpool1d", (1, 1, 4), {"kernel": 3, "stride": 1}, [[[0, 5, 0, 0]]])
    assert [dx[(0, 0, i)] for i in range(4)] == [0, DY[0, 0, 0] + DY[0, 0, 1], 0, 0]


def test_padding_is_minus_infinity_and_never_selected():
    # windows (-1,0,1) (0,1,2) (1,2,3) over [-5,-6,-7]: maxima -5 -5 -6 at 0, 0, 1.
    x = np.array([[[-5, -6, -7]]])
    spec, dx = symbolic_dx("maxpool1d", (1, 1, 3), {"kernel": 3, "stride": 1, "padding": 1}, x)
    assert [dx[(0, 0, i)] for i in range(3)] == [DY[0, 0, 0] + DY[0, 0, 1], DY[0, 0, 2], 0]
    forward = derive(spec).forward
    values = substitution(x=x)
    assert [forward[(0, 0, o)].xreplace(values) for o in range(3)] == [-5, -5, -6]


def test_seed_004_avg_pool_spreads_8_as_2_in_each_of_4_slots():
    spec = pool_spec("avgpool2d", (1, 1, 2, 2), kernel=2)
    dx = derive(spec).gradients["dx"]
    dy = substitution(dy=np.array([[[[8]]]]))
    assert {index: expr.xreplace(dy) for index, expr in dx.items()} == {
        (0, 0, 0, 0): 2, (0, 0, 0, 1): 2, (0, 0, 1, 0): 2, (0, 0, 1, 1): 2}
    # Symbolically: every slot holds a quarter of dy.
    assert all(expr == DY[0, 0, 0, 0] / 4 for expr in dx.values())


def test_seed_004_avg_pool_4x4_spreads_each_dy_over_its_own_block():
    dy = np.array([[[[8, 4], [12, 16]]]])
    dx = derive(pool_spec("avgpool2d", (1, 1, 4, 4), kernel=2)).gradients["dx"]
    values = substitution(dy=dy)
    got = np.array([[dx[(0, 0, r, c)].xreplace(values) for c in range(4)] for r in range(4)], dtype=object)
    expected = np.kron(dy[0, 0] // 4, np.ones((2, 2), dtype=int))  # each block: dy / 4
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("kind, shape, options, dy, expected", [
    pytest.param("avgpool1d", (1, 1, 4), {"kernel": 3, "stride": 1}, [[[6, 12]]], [2, 6, 6, 4], id="1d-k3-s1"),
    pytest.param("avgpool2d", (1, 1, 3, 3), {"kernel": 2, "stride": 1}, [[[[4, 4], [4, 4]]]],
                 [[1, 2, 1], [2, 4, 2], [1, 2, 1]], id="2d-k2-s1"),
    pytest.param("avgpool1d", (1, 1, 5), {"kernel": 3, "stride": 2}, [[[3, 9]]], [1, 1, 4, 3, 3], id="1d-k3-s2"),
])
def test_overlapping_avg_windows_accumulate(kind, shape, options, dy, expected):
    dx = derive(pool_spec(kind, shape, **options)).gradients["dx"]
    values = substitution(dy=np.array(dy))
    got = np.empty(shape, dtype=object)
    for index, expr in dx.items():
        got[index] = expr.xreplace(values)
    assert np.array_equal(got.reshape(np.shape(expected)), np.array(expected))


@pytest.mark.parametrize("count_include_pad, divisors", [
    pytest.param(True, [2, 2, 2], id="count-include-pad"),   # the window clipped to the padded input
    pytest.param(False, [1, 2, 2], id="in-bounds-count"),
])
def test_avg_pool_divisors_with_padding(count_include_pad, divisors):
    # avgpool1d k2 s2 p1 on L=5: windows (-1,0) (1,2) (3,4).
    spec = pool_spec("avgpool1d", (1, 1, 5), kernel=2, padding=1, count_include_pad=count_include_pad)
    forward = derive(spec).forward
    members = [[0], [1, 2], [3, 4]]
    for o, (inside, q) in enumerate(zip(members, divisors)):
        assert forward[(0, 0, o)] == sum(X[0, 0, i] for i in inside) / q


@pytest.mark.parametrize("count_include_pad, divisor", [
    pytest.param(True, 2, id="count-include-pad"),
    pytest.param(False, 1, id="in-bounds-count"),
])
def test_ceil_mode_window_hanging_past_the_padding(count_include_pad, divisor):
    # L=6, k3 s2 p1, ceil: the last window reads 5, 6 (right padding), 7 (past it).
    spec = pool_spec("avgpool1d", (1, 1, 6), kernel=3, stride=2, padding=1, ceil_mode=True,
                     count_include_pad=count_include_pad)
    assert spec.output_shape == (1, 1, 4)
    assert derive(spec).forward[(0, 0, 3)] == X[0, 0, 5] / divisor


def test_divisor_override_replaces_every_divisor():
    spec = pool_spec("avgpool1d", (1, 1, 5), kernel=2, padding=1, divisor_override=3)
    forward = derive(spec).forward
    assert [forward[(0, 0, o)] for o in range(3)] == [
        X[0, 0, 0] / 3, (X[0, 0, 1] + X[0, 0, 2]) / 3, (X[0, 0, 3] + X[0, 0, 4]) / 3]


def test_inputs_no_window_reads_get_a_literal_zero():
    # 5x5 with 2x2/s2 (floor): row 4 and column 4 are never read.
    _, data, _ = derived_json("maxpool2d", (1, 1, 5, 5), frozen({"kernel": 2}))
    dx = data["gradients"]["dx"]
    for r, c in itertools.product(range(5), range(5)):
        text = dx[f"dx[0, 0, {r}, {c}]"]
        assert (text == "0") == (r == 4 or c == 4), (r, c, text)


# --------------------------------------------------------------------------
# The JSON contract for pools.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind, shape, options", [
    pytest.param("maxpool2d", (2, 3, 4, 4), {"kernel": 2}, id="max2d"),
    pytest.param("avgpool1d", (1, 2, 5), {"kernel": 2, "padding": 1}, id="avg1d"),
])
def test_json_contract_for_pools(kind, shape, options):
    spec, data, _ = derived_json(kind, shape, frozen(options))
    assert set(data) == {"layer", "shapes", "forward", "gradients"}
    assert set(data["gradients"]) == {"dx"}
    assert data["shapes"] == {"x": list(shape), "y": list(spec.output_shape)}
    assert set(data["forward"]) == {f"y[{', '.join(map(str, i))}]" for i in np.ndindex(*spec.output_shape)}
    assert set(data["gradients"]["dx"]) == {f"dx[{', '.join(map(str, i))}]" for i in np.ndindex(*shape)}
    layer = data["layer"]
    assert layer["kind"] == kind and layer["input"] == list(shape)
    assert layer["stride"] == layer["kernel"]  # stride defaults to the kernel
    assert layer["reduction"] == "sum"
    if kind.startswith("max"):
        assert layer["dilation"] == [1] * spec.ndim
    else:
        assert layer["count_include_pad"] is True and layer["divisor_override"] is None


# --------------------------------------------------------------------------
# Geometry and refusals, as PyTorch.
# --------------------------------------------------------------------------


def test_output_shapes_and_refusals_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    disagreements = []
    grid = itertools.product(("maxpool1d", "avgpool1d"), range(1, 8), range(1, 5), range(1, 4), range(3),
                             (1, 2, 3), (False, True))
    for kind, size, k, s, p, d, ceil in grid:
        if kind.startswith("avg") and d != 1:
            continue
        x = torch.zeros(1, 1, size, dtype=torch.float64)
        try:
            if kind.startswith("max"):
                theirs = tuple(F.max_pool1d(x, k, s, p, d, ceil_mode=ceil).shape)
            else:
                theirs = tuple(F.avg_pool1d(x, k, s, p, ceil_mode=ceil).shape)
        except (RuntimeError, ValueError):
            theirs = None
        try:
            ours = pool_spec(kind, (1, 1, size), k, s, p, d, ceil).output_shape
        except SymconvError:
            ours = None
        extent_too_large = d * (k - 1) + 1 > size + 2 * p  # refused on purpose (issue: kernel larger than input)
        # Also refused on purpose: a (dilated) window that reads only padding,
        # whose max PyTorch gives as -inf with no usable gradient.
        padding_only = theirs is not None and any(
            all(not 0 <= o * s - p + t * d < size for t in range(k)) for o in range(theirs[-1])
        )
        if ours != theirs and not (ours is None and (extent_too_large or padding_only)):
            disagreements.append((kind, size, k, s, p, d, ceil, ours, theirs))
    assert disagreements == []


OVER_HALF = [
    pytest.param("maxpool2d", (1, 1, 6, 6), {"kernel": 3, "padding": 2}, "padding: got '2'", id="max-k3-p2"),
    pytest.param("maxpool2d", (1, 1, 9, 9), {"kernel": 3, "dilation": 2, "padding": 2}, "padding: got '2'",
                 id="max-k3-d2-p2-half-kernel-not-effective"),
    pytest.param("maxpool1d", (1, 1, 6), {"kernel": 2, "padding": 2}, "padding: got '2'", id="max1d-k2-p2"),
    pytest.param("avgpool2d", (1, 1, 6, 6), {"kernel": (4, 2), "padding": (2, 2)}, "padding: got '2,2'",
                 id="avg-per-axis-over-half"),
    pytest.param("avgpool1d", (1, 1, 6), {"kernel": 1, "padding": 1}, "padding: got '1'", id="avg1d-k1-p1"),
]


@pytest.mark.parametrize("kind, shape, options, where", OVER_HALF)
def test_padding_over_half_the_kernel_is_refused(kind, shape, options, where):
    with pytest.raises(SymconvError, match=re.escape(where)):
        pool_spec(kind, shape, **options)


@pytest.mark.parametrize("kind, shape, options, where", OVER_HALF)
def test_pytorch_refuses_the_same_padding(kind, shape, options, where):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.zeros(shape, dtype=torch.float64)
    function = {"maxpool1d": F.max_pool1d, "maxpool2d": F.max_pool2d,
                "avgpool1d": F.avg_pool1d, "avgpool2d": F.avg_pool2d}[kind]
    with pytest.raises(RuntimeError):
        function(x, **{("kernel_size" if k == "kernel" else k): v for k, v in lists(options).items()})


# Padding up to half the kernel, with the output shape worked out by hand:
# floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1 per axis.
UP_TO_HALF = [
    pytest.param("maxpool2d", (1, 1, 6, 6), {"kernel": 3, "padding": 1}, (1, 1, 2, 2), id="k3-p1"),
    pytest.param("maxpool2d", (1, 1, 6, 6), {"kernel": 3, "dilation": 2, "padding": 1}, (1, 1, 2, 2),
                 id="k3-d2-p1"),
    pytest.param("maxpool1d", (1, 1, 6), {"kernel": 4, "padding": 2}, (1, 1, 2), id="k4-p2"),
    pytest.param("avgpool2d", (1, 1, 6, 6), {"kernel": (4, 2), "padding": (2, 1)}, (1, 1, 2, 4),
                 id="avg-4,2-p2,1"),
    pytest.param("maxpool2d", (1, 1, 3, 3), {"kernel": 3}, (1, 1, 1, 1), id="kernel-equals-input"),
    pytest.param("maxpool1d", (1, 1, 2), {"kernel": 4, "padding": 1}, (1, 1, 1), id="kernel-equals-padded-input"),
]


@pytest.mark.parametrize("kind, shape, options, output", UP_TO_HALF)
def test_padding_up_to_half_the_kernel_is_accepted(kind, shape, options, output):
    spec = pool_spec(kind, shape, **options)
    ndim = len(shape) - 2
    given = options.get("padding", 0)
    # The padding is kept as given (not clamped), and the layer has PyTorch's output shape.
    assert spec.padding == (tuple(given) if isinstance(given, tuple) else (given,) * ndim)
    assert spec.output_shape == output
    # Every window reads at least one element of x, which is why PyTorch stops at half the kernel.
    for axis in range(ndim):
        assert all(inside for _, inside in spec.windows(axis))


@pytest.mark.parametrize("kind, shape, options, output", UP_TO_HALF)
def test_pytorch_accepts_the_same_padding_with_that_output(kind, shape, options, output):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.zeros(shape, dtype=torch.float64)
    function = {"maxpool1d": F.max_pool1d, "maxpool2d": F.max_pool2d,
                "avgpool1d": F.avg_pool1d, "avgpool2d": F.avg_pool2d}[kind]
    y = function(x, **{("kernel_size" if k == "kernel" else k): v for k, v in lists(options).items()})
    assert tuple(y.shape) == output


@pytest.mark.parametrize("kind, shape, options, fragments", [
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "5"}, ["kernel: got '5'", "padded input 4"],
                 id="kernel-larger-than-input"),
    pytest.param("maxpool2d", "1,1,1,1", {"kernel": "4", "padding": "1"}, ["kernel: got '4'", "padded input 3"],
                 id="kernel-larger-than-padded-input"),
    pytest.param("maxpool1d", "1,1,4", {"kernel": "3", "dilation": "2"}, ["kernel: got '3'", "extent 5"],
                 id="dilated-kernel-larger-than-input"),
    pytest.param("avgpool2d", "1,1,4,4", {"kernel": "2", "stride": "0"}, ["stride: got '0'"], id="stride-0"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "0"}, ["kernel: got '0'"], id="kernel-0"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2", "dilation": "0"}, ["dilation: got '0'"], id="dilation-0"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2", "padding": "-1"}, ["padding: got '-1'"], id="padding-neg"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2,2,2"}, ["kernel: got '2,2,2'"], id="kernel-3-axes"),
    pytest.param("maxpool2d", "1,1,4,4", {}, ["kernel: got nothing"], id="kernel-missing"),
    pytest.param("avgpool2d", "1,1,4,4", {"kernel": "2", "divisor_override": "0"}, ["divisor-override: got 0"],
                 id="divisor-0"),
    pytest.param("avgpool2d", "1,1,4,4", {"kernel": "2", "divisor_override": "-2"}, ["divisor-override: got -2"],
                 id="divisor-negative"),
    pytest.param("avgpool2d", "1,1,4,4", {"kernel": "2", "dilation": "2"}, ["dilation: got '2'"],
                 id="avg-dilation"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2", "divisor_override": "2"}, ["divisor-override: got '2'"],
                 id="max-divisor"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2", "no_count_include_pad": True}, ["no-count-include-pad"],
                 id="max-count-include-pad"),
    pytest.param("maxpool2d", "1,1,4,4", {"kernel": "2", "weight": "1,1,2,2"}, ["weight: got '1,1,2,2'"],
                 id="pool-weight"),
    pytest.param("maxpool1d", "1,1,4,4", {"kernel": "2"}, ["input: got '1,1,4,4'"], id="1d-given-2d-input"),
    pytest.param("avgpool2d", "1,1,0,4", {"kernel": "1"}, ["input: got '1,1,0,4'"], id="empty-input"),
])
def test_bad_pool_options_are_refused_naming_the_parameter(kind, shape, options, fragments):
    with pytest.raises(SymconvError) as caught:
        build_spec(kind, shape, **options)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("kind, size, options, outputs", [
    pytest.param("maxpool1d", 5, {"kernel": 2, "padding": 1}, 3, id="start-in-right-padding-dropped"),
    pytest.param("maxpool1d", 5, {"kernel": 2}, 3, id="start-at-last-input-kept"),
    pytest.param("avgpool1d", 6, {"kernel": 3, "stride": 2, "padding": 1}, 4, id="hangs-past-padding-kept"),
    pytest.param("avgpool1d", 4, {"kernel": 2, "stride": 3, "padding": 1}, 2,
                 id="stride3-next-start-in-right-padding-dropped"),
])
def test_ceil_mode_keeps_a_last_window_only_if_it_starts_in_the_input_or_left_padding(kind, size, options, outputs):
    # Last window's start: (outputs - 1) * stride - padding, which must be < size.
    spec = pool_spec(kind, (1, 1, size), ceil_mode=True, **options)
    assert spec.output_shape == (1, 1, outputs)
    stride = options.get("stride", options["kernel"])
    assert (outputs - 1) * stride - options.get("padding", 0) < size <= outputs * stride - options.get("padding", 0)


def test_stride_defaults_to_the_kernel():
    assert pool_spec("maxpool2d", (1, 1, 6, 6), kernel=(3, 2)).stride == (3, 2)
    assert build_spec("avgpool1d", "1,1,7", kernel="3").output_shape == (1, 1, 2)


# --------------------------------------------------------------------------
# Printing: max(...) and Iverson brackets, never a wall of relationals.
# --------------------------------------------------------------------------


def test_max_pool_latex_reads_like_the_seeds():
    latex = render(derive(pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2)), "latex", index_base=1)
    assert r"y_{11} &= \max(x_{11}, x_{12}, x_{21}, x_{22})" in latex
    assert r"y_{22} &= \max(x_{33}, x_{34}, x_{43}, x_{44})" in latex
    assert r"\frac{\partial L}{\partial x_{12}} &= dy_{11}\,[x_{12} = m_{11}]" in latex
    assert r"\frac{\partial L}{\partial x_{44}} &= dy_{22}\,[x_{44} = m_{22}]" in latex


def test_overlapping_max_pool_latex_lists_one_bracket_per_window():
    latex = render(derive(pool_spec("maxpool2d", (1, 1, 3, 3), kernel=2, stride=1)), "latex", index_base=1)
    row = next(line for line in latex.splitlines() if line.startswith(r"\frac{\partial L}{\partial x_{22}}"))
    for window in ("11", "12", "21", "22"):
        assert rf"dy_{{{window}}}\,[x_{{22}} = m_{{{window}}}]" in row


PRINT_CONFIGS = [
    pytest.param("maxpool2d", (1, 1, 4, 4), {"kernel": 2}, id="seed-4x4"),
    pytest.param("maxpool2d", (2, 2, 3, 3), {"kernel": 2, "stride": 1}, id="N2-C2-overlapping"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}, id="3x3-s2-p1"),
    pytest.param("maxpool2d", (1, 1, 5, 5), {"kernel": 2, "ceil_mode": True}, id="ceil"),
    pytest.param("maxpool1d", (1, 1, 9), {"kernel": 3, "stride": 2, "padding": 1, "dilation": 2}, id="1d-dilated"),
]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("kind, shape, options", PRINT_CONFIGS)
def test_max_pool_printing_has_no_relationals(kind, shape, options, reduction):
    derivation = derive(pool_spec(kind, shape, **options), reduction=reduction)
    for fmt in ("latex", "markdown"):
        text = render(derivation, fmt, index_base=1)
        assert r"\max(" in text and "= m_{" in text
        for banned in (">", "<", r"\geq", r"\ge ", r"\leq", r"\mathbb{1}", "Piecewise", r"\begin{cases}", "True"):
            assert banned not in text, (fmt, banned)
    text = render(derivation, "text", index_base=1)
    assert "max(" in text and "= m[" in text
    for banned in (">", "<", "Piecewise", "True"):
        assert banned not in text, ("text", banned)


def test_avg_pool_latex_takes_the_common_divisor_out():
    latex = render(derive(pool_spec("avgpool2d", (1, 1, 4, 4), kernel=2)), "latex", index_base=1)
    assert r"y_{11} &= \frac{1}{4}\,(x_{11} + x_{12} + x_{21} + x_{22})" in latex
    assert r"\frac{\partial L}{\partial x_{12}} &= \frac{dy_{11}}{4}" in latex
    assert r"\max" not in latex and r"\mathbb{1}" not in latex


# --------------------------------------------------------------------------
# A window of padding only (refused, as PyTorch has no gradient there).
# --------------------------------------------------------------------------


def test_max_pool_window_of_padding_only_is_refused_or_minus_infinity():
    try:
        spec = pool_spec("maxpool1d", (1, 1, 1), kernel=2, stride=1, padding=1, dilation=2)
    except SymconvError:
        return
    value = derive(spec).forward[(0, 0, 0)].xreplace(substitution(x=np.array([[[5]]])))
    assert value == float("-inf") or str(value) == "-oo"


def test_pytorch_gives_minus_infinity_for_a_window_of_padding_only():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.max_pool1d(torch.tensor([[[5.0]]], dtype=torch.float64), 2, stride=1,
                                            padding=1, dilation=2)
    assert theirs.shape == (1, 1, 1) and float(theirs[0, 0, 0]) == float("-inf")
