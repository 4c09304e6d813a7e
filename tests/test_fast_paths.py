"""Every fast path gives exactly what the plain SymPy path gives.

The default derivation keeps sums of products as arrays (TermTable) and
prints and evaluates them without building SymPy objects. Here the same
layers are derived the slow way (SymPy expressions, one output at a time) and
everything is compared: expressions, JSON strings, LaTeX, text, values.
"""

import numpy as np
import pytest
from fractions import Fraction

from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate
from symconv.printing.formats import json_data, render
from symconv.spec.conv import conv_spec
from symconv.symbolic.terms import ElementSpace, TermTable

CONFIGS = {
    "seed-4x4": ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    "1d-groups-dilated": ("conv1d", (2, 4, 9), (4, 2, 3), dict(groups=2, dilation=2, padding=1)),
    "2d-multi-stride": ("conv2d", (2, 3, 6, 5), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2))),
    "2d-big-indices": ("conv2d", (1, 2, 12, 11), (3, 2, 3, 3), dict(stride=1)),  # x[0, 1, 10, 2] vs x[0, 1, 2, 10]
    "2d-same-no-bias": ("conv2d", (1, 2, 5, 5), (2, 2, 2, 3), dict(padding="same", bias=False)),
    "2d-depthwise": ("conv2d", (1, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=2, padding=1)),
}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def pair(request):
    kind, x, w, options = CONFIGS[request.param]
    spec = conv_spec(kind, x, w, **options)
    return derive(spec), derive(spec, method="structural")


def test_expressions_equal(pair):
    fast, slow = pair
    assert fast.forward.keys() == slow.forward.keys()
    for index, expr in slow.forward.items():
        assert fast.forward[index] == expr
    for name, table in slow.gradients.items():
        for index, expr in table.items():
            assert fast.gradients[name][index] == expr, (name, index)


def test_json_strings_equal_sympy_str(pair):
    fast, slow = pair
    assert json_data(fast) == json_data(slow)


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text"])
@pytest.mark.parametrize("base", [0, 1])
def test_printed_documents_equal(pair, fmt, base):
    fast, slow = pair
    assert render(fast, fmt, base) == render(slow, fmt, base)


def test_evaluation_equal_in_floats_and_exactly(pair):
    fast, slow = pair
    rng = np.random.default_rng(3)
    shapes = dict(fast.forward.space.shapes)
    floats = {k: rng.standard_normal(s) for k, s in shapes.items()}
    exact = {k: np.vectorize(lambda v: Fraction(int(v * 7), 5), otypes=[object])(a) for k, a in floats.items()}
    for name, table in slow.gradients.items():
        got = fast.gradients[name].evaluate(floats)
        got_exact = fast.gradients[name].evaluate(exact, dtype=object)
        for index, expr in table.items():
            assert got[index] == pytest.approx(float(evaluate(expr, floats)), rel=1e-12, abs=1e-12)
            assert got_exact[index] == evaluate(expr, exact)


def test_str_order_follows_printed_names_like_sympy():
    """SymPy sorts Indexed by printed name: x[0, 10] before x[0, 2]."""
    space = ElementSpace({"x": (1, 12)})
    table = TermTable(space, (1,), np.zeros(3, int), np.array([[2], [10], [11]]))
    assert table.str_entries() == [str(table[(0,)])] == ["x[0, 10] + x[0, 11] + x[0, 2]"]


def test_unused_tensor_values_are_not_read_as_zero():
    space = ElementSpace({"x": (2,), "w": (1,)})
    table = TermTable(space, (1,), np.array([0]), np.array([[0, 2]]))
    assert np.isnan(table.evaluate({"x": np.ones(2)})[0])  # w missing: NaN, not 0


# --------------------------------------------------------------------------
# Pooling and activations: their forward is built with SymPy objects, but the
# indicator's And is assembled without And's simplification pass, the
# product rule skips the search of the indicators' conditions, and the JSON
# printer remembers what it printed. Each must change nothing.
# --------------------------------------------------------------------------

POOLS = {
    "max-k3s2p1": ("maxpool2d", (1, 2, 5, 6), dict(kernel=3, stride=2, padding=1)),
    "max-overlap-ceil": ("maxpool2d", (2, 1, 5, 5), dict(kernel=2, stride=1, ceil_mode=True)),
    "max-1d-dilated": ("maxpool1d", (1, 2, 9), dict(kernel=3, stride=2, dilation=2, padding=1)),
    "avg-k3s2p1": ("avgpool2d", (1, 2, 5, 5), dict(kernel=3, stride=2, padding=1)),
}


@pytest.fixture(scope="module", params=list(POOLS), ids=list(POOLS))
def pool_pair(request):
    from symconv.spec.pool import pool_spec

    kind, shape, options = POOLS[request.param]
    spec = pool_spec(kind, shape, **options)
    return derive(spec), derive(spec, method="sympy")


def test_pool_gradients_equal_sympy_diff(pool_pair):
    fast, slow = pool_pair
    for name, table in slow.gradients.items():
        assert fast.gradients[name].keys() == table.keys()
        for index, expr in table.items():
            assert fast.gradients[name][index] == expr, (name, index)


def test_pool_json_strings_are_sympy_str(pool_pair):
    fast, _ = pool_pair
    data = json_data(fast)
    forward = {f"y[{', '.join(map(str, i))}]": str(e) for i, e in fast.forward.items()}
    assert data["forward"] == forward
    for name, table in fast.gradients.items():
        plain = {f"{name}[{', '.join(map(str, i))}]": str(e) for i, e in table.items()}
        assert data["gradients"][name] == plain


# A 3x4 window in scan order (x[0, 0, 1, 10] prints before x[0, 0, 1, 8], so
# SymPy's canonical order is not the scan order) and a 1-D window of three.
WINDOWS = {
    "2d-3x4-big-indices": [("x", (0, 0, i, j)) for i in (1, 2, 3) for j in (8, 9, 10, 11)],
    "1d-3": [("h2", (0, 1, i)) for i in range(3)],
}


@pytest.mark.parametrize("window", WINDOWS.values(), ids=WINDOWS.keys())
def test_indicators_are_what_sympys_piecewise_builds(window):
    """Same object, args, str and hash as SymPy's evaluated Piecewise(And(...))."""
    from sympy import And, Piecewise

    from symconv.layers.piecewise import first_maximum_indicator
    from symconv.symbolic.tensors import element

    window = [element(name, index) for name, index in window]
    for j, candidate in enumerate(window):
        built = first_maximum_indicator(window, j)
        conditions = [candidate > other for other in window[:j]] + [candidate >= other for other in window[j + 1:]]
        reference = Piecewise((1, And(*conditions)), (0, True))
        assert built == reference and built.args == reference.args
        assert built.args[0].cond.args == reference.args[0].cond.args
        assert str(built) == str(reference) and hash(built) == hash(reference)


def test_single_comparison_indicator_is_sympys():
    from sympy import Piecewise

    from symconv.layers.piecewise import first_maximum_indicator
    from symconv.symbolic.tensors import element

    a, b = element("x", (0, 0, 1)), element("x", (0, 0, 0))
    assert first_maximum_indicator([b, a], 1) == Piecewise((1, a > b), (0, True))
    assert first_maximum_indicator([a, b], 0) == Piecewise((1, a >= b), (0, True))
    assert first_maximum_indicator([a], 0) == 1


@pytest.mark.parametrize("slope", ["0", "1/100", "-2", "1"])
def test_activation_pieces_are_what_sympys_piecewise_builds(slope):
    from sympy import Piecewise, Rational

    from symconv.spec.activation import activation_spec
    from symconv.symbolic.tensors import element

    d = derive(activation_spec("leaky_relu", (1, 1, 2), negative_slope=Fraction(slope)))
    s = Rational(slope)
    for index in d.forward:
        z, dy = element("x", index), element("dy", index)
        assert d.forward[index] == Piecewise((z, z > 0), (s * z, True))  # slope 1: just z
        assert d.gradients["dx"][index] == dy * Piecewise((1, z > 0), (s, True))


def test_remembering_printer_keeps_strs_order_for_infinite_comparisons():
    from sympy import And, IndexedBase, oo

    from symconv.printing.formats import RememberingStrPrinter

    x = IndexedBase("x")
    # StrPrinter moves a comparison reading "... > -oo" to the front.
    for expr in (And(x[0] > x[1], x[2] > -oo), And(x[0] >= x[1], -oo < x[2], x[1] < oo)):
        assert RememberingStrPrinter().doprint(expr) == str(expr)
