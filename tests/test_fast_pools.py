"""Pools, activations and the mean as term tables: exactly what the SymPy path gives.

Max pooling's winner indicators, the ReLUs' pieces and an average's 1/divisor
are factors of a TermTable (symconv/symbolic/atoms.py), differentiated by the
vectorized product rule and printed without SymPy. Here the same layers go
the slow way too (``method="structural"``: SymPy expressions, SymPy's
differentiation and SymPy's printers) and everything is compared: the
expressions, every document in every format and index base, the values in
floats (bit for bit: the sums run in SymPy's order) and exactly.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate
from symconv.printing.documents import render
from symconv.printing.formats import json_data
from symconv.reference.adaptive import adaptive_avg_pool_backward
from symconv.reference.avgpool import avg_pool_backward
from symconv.spec.command import spec_from_options

#: (layer, options): each derived alone and with the mean (N = 2 or 3, so 1/N shows).
LAYERS = {
    "max-k3s2p1": ("maxpool2d", dict(input="2,1,5,5", kernel="3", stride="2", padding="1")),
    "max-overlap-big": ("maxpool2d", dict(input="1,1,11,4", kernel="3,2", stride="1")),
    "max-lonely-edges": ("maxpool1d", dict(input="2,2,3", kernel="2", stride="1", padding="1")),
    "max-dilated-ceil": ("maxpool1d", dict(input="1,1,9", kernel="3", stride="2", dilation="2", ceil_mode=True)),
    "avg-no-count-ceil": ("avgpool2d", dict(input="2,1,6,5", kernel="3", stride="2", padding="1", ceil_mode=True,
                                            no_count_include_pad=True)),
    "avg-divisor": ("avgpool1d", dict(input="3,1,5", kernel="3", padding="1", divisor_override="7")),
    "relu": ("relu", dict(input="2,1,3,2")),
    "leaky-2/3": ("leaky_relu", dict(input="2,1,3", negative_slope="2/3")),
    "leaky--2": ("leaky_relu", dict(input="3,1,2", negative_slope="-2")),
    "leaky-1": ("leaky_relu", dict(input="2,1,2", negative_slope="1")),
    "stack": ("stack", dict(input="3,1,5,5", layers="conv2d(weight=2,1,2,2) | leaky_relu(negative_slope=1/10) "
                                                   "| maxpool2d(kernel=2, stride=1) | avgpool2d(kernel=2)")),
    "conv": ("conv2d", dict(input="3,1,4,3", weight="2,1,2,2", padding="1")),
    # the pools the pool interface brings: 3-D windows and PyTorch's adaptive ones, through the same builders
    "max3d": ("maxpool3d", dict(input="2,1,3,4,3", kernel="2", stride="1,2,1", padding="1")),
    "avg3d": ("avgpool3d", dict(input="2,1,3,3,4", kernel="2,3,2", stride="1", padding="1",
                                no_count_include_pad=True)),
    "adaptive-max": ("adaptive_maxpool2d", dict(input="2,1,5,7", output_size="3,4")),
    "adaptive-avg": ("adaptive_avgpool1d", dict(input="3,2,7", output_size="3")),
    "adaptive-avg3d": ("adaptive_avgpool3d", dict(input="2,1,3,5,4", output_size="2,3,3")),
    "adaptive-stack": ("stack", dict(input="2,1,5,5", layers="conv2d(weight=2,1,2,2) | relu "
                                                           "| adaptive_maxpool2d(output_size=3) "
                                                           "| adaptive_avgpool2d(output_size=2)")),
}
CASES = [(name, reduction) for name in LAYERS for reduction in ("sum", "mean")]


def _tables(d):
    if d.is_stack:
        return list(d.forward) + [t for grads in d.gradients for t in grads.values()]
    return [d.forward] + list(d.gradients.values())


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{r}" for n, r in CASES])
def pair(request):
    name, reduction = request.param
    layer, options = LAYERS[name]
    spec = spec_from_options(layer, **options)
    return derive(spec, reduction=reduction), derive(spec, reduction=reduction, method="structural")


def test_expressions_equal_the_sympy_paths(pair):
    fast, slow = pair
    for mine, theirs in zip(_tables(fast), _tables(slow)):
        assert mine.keys() == theirs.keys()
        for index, expr in theirs.items():
            assert mine[index] == expr, index


@pytest.mark.parametrize("fmt, base", [("json", 0), ("latex", 0), ("latex", 1), ("markdown", 1), ("text", 0)])
def test_documents_equal_sympys_printers(pair, fmt, base):
    fast, slow = pair
    assert render(fast, fmt, base) == render(slow, fmt, base)


def test_json_data_equals_sympy_str(pair):
    fast, slow = pair
    assert json_data(fast) == json_data(slow)


def _value_trials(shapes, rng):
    floats = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    exact = {name: np.vectorize(lambda v: Fraction(round(v * 3)), otypes=[object])(a) for name, a in floats.items()}
    ties = {name: np.vectorize(lambda v: Fraction(int(v > 0)), otypes=[object])(a) for name, a in floats.items()}
    return floats, exact, ties


def test_values_equal_sympy_evaluation_floats_bit_for_bit(pair):
    """Floats equal, not close: each entry's products and sum run in SymPy's order (verify's residuals keep)."""
    fast, slow = pair
    rng = np.random.default_rng(7)
    for mine, theirs in zip(_tables(fast), _tables(slow)):
        floats, exact, ties = _value_trials(mine.space.shapes, rng)
        for values, dtype in ((floats, float), (exact, object), (ties, object)):
            got = mine.evaluate(values, dtype)
            for index, expr in theirs.items():
                want = evaluate(expr, values)
                assert got[index] == want, (index, got[index], want)


def test_coefficients_of_one_size_but_both_signs_print_as_sympy_does():
    """A common size up to sign is taken out (``1/3*(a - b)``), integers without a fraction, as the SymPy printers do."""
    from symconv.printing.latex import table_rows
    from symconv.printing.notations import LatexNotation, TextNotation
    from symconv.printing.present import IndexStyle
    from symconv.printing.sympy_printers import printer_for
    from symconv.symbolic.space import ElementSpace
    from symconv.symbolic.terms import TermTable

    constants = [Fraction(1, 3), Fraction(-1, 3), Fraction(2), Fraction(-2), Fraction(-5, 2)]
    space = ElementSpace({"x": (6,), "dy": (1,)}, constants=constants)
    c = {v: space.constant_id(v) for v in constants}
    rows = [  # entry: (element, constant) per term
        [(0, c[Fraction(1, 3)]), (1, c[Fraction(-1, 3)])],
        [(2, c[Fraction(-1, 3)]), (3, c[Fraction(1, 3)]), (4, c[Fraction(-1, 3)])],
        [(0, c[Fraction(2)]), (5, c[Fraction(-2)])],
        [(1, c[Fraction(-2)]), (2, c[Fraction(-2)])],
        [(3, c[Fraction(-5, 2)]), (4, c[Fraction(1, 3)])],
        [(5, -1), (0, c[Fraction(-1, 3)])],
    ]
    entry = np.array([k for k, terms in enumerate(rows) for _ in terms])
    factors = np.array([pair for terms in rows for pair in terms])
    table = TermTable(space, (len(rows),), entry, factors).canonical()
    expressions = dict(table.items())
    assert table.str_entries() == [str(expressions[index]) for index in table]
    for notation, joiner in ((LatexNotation(IndexStyle()), " "), (TextNotation(IndexStyle(base=1)), "*")):
        printer = printer_for(notation)
        want = [(notation.lhs_text("y", i), printer.signed_terms(e)) for i, e in expressions.items()]
        assert table_rows("y", table, notation, joiner) == want


def test_family_factors_of_a_missing_tensor_are_missing_too():
    d = derive(spec_from_options("maxpool1d", input="1,1,4", kernel="2"))
    dx = d.gradients["dx"].evaluate({"dy": np.ones((1, 1, 2))})  # no x: the winners are unknown
    assert np.isnan(dx).all()
    d = derive(spec_from_options("relu", input="1,1,3"))
    assert np.isnan(d.gradients["dx"].evaluate({"dy": np.ones((1, 1, 3))})).all()


def test_an_integer_evaluation_refuses_a_fractional_constant():
    d = derive(spec_from_options("avgpool1d", input="1,1,4", kernel="2"))
    values = {"x": np.arange(4).reshape(1, 1, 4), "dy": np.ones((1, 1, 2), dtype=int)}
    with pytest.raises(ValueError, match="not all integers"):
        d.forward.evaluate(values, np.int64)
    assert d.forward.evaluate(values, object).tolist() == [[[Fraction(1, 2), Fraction(5, 2)]]]


WINDOWS = [(1, 1, 12, 12, 3, 1, 0), (2, 1, 5, 11, 2, 1, 1), (1, 2, 9, 9, 3, 2, 1), (1, 1, 4, 13, 3, 3, 1)]


@pytest.mark.parametrize("n, c, h, w, k, s, p", WINDOWS)
def test_indicator_order_is_sympys_default_sort_key(n, c, h, w, k, s, p):
    """The winner indicators' ranks sort them as SymPy's default_sort_key does (And vs lone comparisons, big indices)."""
    from sympy import default_sort_key

    d = derive(spec_from_options("maxpool2d", input=f"{n},{c},{h},{w}", kernel=str(k), stride=str(s),
                                 padding=str(p)))
    space = d.forward.space
    (family,), offset = space.families, space.family_offsets[0]
    used = [i for i in range(family.size) if family.str_texts(space)[i] is not None]
    rank = family.sort_ranks(space)
    objects = {i: space.sympy_factor(offset + i) for i in used}
    by_sympy = sorted(used, key=lambda i: default_sort_key(objects[i]))
    assert by_sympy == sorted(used, key=lambda i: rank[i])
    texts = family.str_texts(space)
    assert all(texts[i] == str(objects[i]) for i in used)


def test_scaling_multiplies_into_one_constant_and_keeps_the_terms():
    d = derive(spec_from_options("avgpool1d", input="2,1,4", kernel="2", padding="1"))
    dx = d.gradients["dx"]
    half = dx.scaled(Fraction(1, 2))
    assert half.terms == dx.terms
    for index, expr in dx.items():
        assert half[index] == (expr / 2).expand()
    assert set(half.space.constants) >= {Fraction(1, 4)}
    assert (half.factors >= half.space.constant_offset).sum(axis=1).max() == 1


def test_every_kind_and_format_has_no_sympy_fallback():
    """The array printers write every table symconv derives; the SymPy printer is only a fallback."""
    from symconv.printing import term_rows
    from symconv.printing.notations import LatexNotation, TextNotation
    from symconv.printing.present import IndexStyle

    for (layer, options), reduction in itertools.product(LAYERS.values(), ("sum", "mean")):
        d = derive(spec_from_options(layer, **options), reduction=reduction)
        for table, notation in itertools.product(_tables(d), (LatexNotation(IndexStyle()), TextNotation(IndexStyle()))):
            if not table.plain:
                term_rows._rows("y", table, notation)  # raises Unsupported if it would fall back


@pytest.mark.parametrize("factor", [Fraction(-1, 2), Fraction(2, 3), Fraction(-3), Fraction(5)])
@pytest.mark.parametrize("layer, options", [
    ("avgpool1d", dict(input="1,1,5", kernel="3", stride="1", padding="1", no_count_include_pad=True)),
    ("maxpool1d", dict(input="1,1,4", kernel="2", stride="1", padding="1")),
    ("leaky_relu", dict(input="1,1,3", negative_slope="-1/4")),
    ("conv1d", dict(input="1,1,4", weight="1,1,2")),
])
def test_any_rational_coefficient_prints_as_sympy_does(layer, options, factor):
    """Signs and numerators no layer makes today (the mean is 1/N): str(), LaTeX and text still match SymPy's."""
    from symconv.printing.latex import table_rows
    from symconv.printing.notations import LatexNotation, TextNotation
    from symconv.printing.present import IndexStyle
    from symconv.printing.sympy_printers import printer_for

    d = derive(spec_from_options(layer, **options))
    for table in _tables(d):
        scaled = table.scaled(factor)
        expressions = {index: (factor * expr).expand() for index, expr in table.items()}
        assert scaled.str_entries() == [str(expressions[index]) for index in scaled]
        for notation, joiner in ((LatexNotation(IndexStyle()), " "), (TextNotation(IndexStyle(base=1)), "*")):
            printer = printer_for(notation)
            want = [(notation.lhs_text("y", i), printer.signed_terms(e)) for i, e in expressions.items()]
            assert table_rows("y", scaled, notation, joiner) == want



@pytest.mark.parametrize("kind, options, reference", [
    ("avgpool1d", dict(input="1,1,600", kernel="3", stride="1", padding="1"),
     lambda dy, x: avg_pool_backward(dy, x, 3, 1, 1)),
    ("avgpool2d", dict(input="1,1,40,30", kernel="2", stride="1", padding="1", no_count_include_pad=True),
     lambda dy, x: avg_pool_backward(dy, x, 2, 1, 1, count_include_pad=False)),
    ("adaptive_avgpool1d", dict(input="1,1,601", output_size="300"),
     lambda dy, x: adaptive_avg_pool_backward(dy, x, (300,))),
])
def test_an_average_pools_windows_are_built_once_per_axis_not_once_per_output(kind, options, reference):
    """Each output's divisor reads its window from a per-axis table: building all the windows again for every
    output made a long average pool quadratic (a (1,1,2000) one took 2 s to derive, a (1,1,8000) one 38 s)."""
    from symconv.spec import adaptive, pool

    builders = [pool._axis_windows, adaptive._axis_windows]
    for built in builders:
        built.cache_clear()
    spec = spec_from_options(kind, **options)
    derivation = derive(spec)
    built = sum(b.cache_info().misses for b in builders)
    assert built <= spec.ndim, f"the windows were built {built} times for {spec.ndim} axes"
    rng = np.random.default_rng(0)
    x = rng.integers(-4, 5, spec.input).astype(object)
    dy = np.array([Fraction(int(v), 7) for v in rng.integers(-9, 10, spec.output_shape).ravel()],
                  dtype=object).reshape(spec.output_shape)
    dx = derivation.gradients["dx"].evaluate({"x": x, "dy": dy}, object)
    assert (dx == reference(dy, x)).all()
