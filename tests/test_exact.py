"""Exact evaluation in integer arithmetic: the same values as Fractions, int64 only where it cannot overflow."""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from conftest import layer
from symconv.engine.walk import evaluate
from symconv.symbolic import exact
from symconv.symbolic.exact import INT64_SAFE, common_numerators, exact_sums
from symconv.symbolic.terms import NO_FACTOR, ElementSpace, TermTable
from symconv.verify.checks import COMMON_DENOMINATOR, exact_integers
from symconv.verify.layer import verify


def fraction_sums(flat, factors, entry, size):
    """The sums the slow way, one Fraction at a time: what exact_sums must equal."""
    out = [Fraction(0)] * size
    for row, e in zip(factors.tolist(), entry.tolist()):
        term = Fraction(1)
        for f in row:
            term *= Fraction(flat[f]) if isinstance(flat[f], Fraction) else Fraction(int(flat[f]))
        out[e] += term
    return out


def random_table(rng, values, size, terms, width):
    flat = np.empty(len(values) + 1, dtype=object)
    flat[:-1] = values
    flat[-1] = 1  # the empty slot's 1, as ElementSpace.flat_values appends it
    factors = rng.integers(0, len(flat), size=(terms, width))
    entry = rng.integers(0, size, size=terms)
    return flat, factors, entry


def spy_on_int64(monkeypatch):
    """Record, for each exact_sums call, whether it took the int64 path."""
    seen = []
    original = exact._fits_int64

    def fits(*args):
        seen.append(original(*args))
        return seen[-1]

    monkeypatch.setattr(exact, "_fits_int64", fits)
    return seen


VALUE_KINDS = {
    "ints": lambda rng, n: [int(v) for v in rng.integers(-50, 51, n)],
    "fractions": lambda rng, n: [Fraction(int(p), int(q)) for p, q in zip(rng.integers(-9, 10, n), rng.integers(1, 10, n))],
    "mixed with bools": lambda rng, n: [bool(v) if i % 3 == 0 else Fraction(int(v), 7) if i % 3 == 1 else int(v)
                                        for i, v in enumerate(rng.integers(0, 5, n))],
    "numpy ints and bools": lambda rng, n: [np.int64(v) if v % 2 else np.bool_(v % 3 == 0) for v in rng.integers(-9, 10, n)],
    "huge ints": lambda rng, n: [int(v) * 2**70 + 1 for v in rng.integers(-9, 10, n)],
}


@pytest.mark.parametrize("kind", VALUE_KINDS)
@pytest.mark.parametrize("width", [1, 2, 3])
def test_exact_sums_equal_fraction_arithmetic(kind, width):
    rng = np.random.default_rng(width)
    flat, factors, entry = random_table(rng, VALUE_KINDS[kind](rng, 40), size=12, terms=300, width=width)
    got = exact_sums(flat, factors, entry, 12)
    assert got.dtype == object and got.tolist() == fraction_sums(flat, factors, entry, 12)
    # Integers come back as Python ints, not as Fractions or NumPy integers.
    assert all(type(v) is int or (type(v) is Fraction and v.denominator > 1) for v in got)


def test_an_entry_without_terms_is_an_exact_zero():
    flat = np.array([Fraction(1, 3), 1], dtype=object)
    got = exact_sums(flat, np.array([[0], [0]]), np.array([2, 2]), 4)
    assert got.tolist() == [0, 0, Fraction(2, 3), 0] and type(got[0]) is int


def test_sums_that_would_overflow_int64_take_python_ints(monkeypatch):
    """Each value and each product fits int64, but the sum of three does not: int64 would wrap."""
    seen = spy_on_int64(monkeypatch)
    big = 2**61 + 12345
    flat = np.array([big, 1], dtype=object)
    got = exact_sums(flat, np.array([[0, 1]] * 3), np.zeros(3, dtype=int), 1)
    assert got.tolist() == [3 * big] and seen == [False]


def test_products_that_would_overflow_int64_take_python_ints(monkeypatch):
    seen = spy_on_int64(monkeypatch)
    flat = np.array([2**40 + 1, -(2**35) - 7, 1], dtype=object)
    got = exact_sums(flat, np.array([[0, 1], [0, 0]]), np.array([0, 1]), 2)
    assert got.tolist() == [(2**40 + 1) * (-(2**35) - 7), (2**40 + 1) ** 2] and seen == [False]


def test_a_partial_product_may_wrap_when_the_entry_fits(monkeypatch):
    """2**40 * 2**40 overflows int64 on the way, but times 0 the term is 0: int64 stays exact."""
    seen = spy_on_int64(monkeypatch)
    flat = np.array([2**40, 2**40, 0, 3, 1], dtype=object)
    got = exact_sums(flat, np.array([[0, 1, 2], [3, 3, 4]]), np.array([0, 0]), 1)
    assert got.tolist() == [9] and seen == [True]


def test_small_values_take_int64(monkeypatch):
    seen = spy_on_int64(monkeypatch)
    rng = np.random.default_rng(0)
    flat, factors, entry = random_table(rng, VALUE_KINDS["fractions"](rng, 30), size=5, terms=200, width=2)
    assert exact_sums(flat, factors, entry, 5).tolist() == fraction_sums(flat, factors, entry, 5)
    assert seen == [True]


def test_values_other_than_ints_and_fractions_use_plain_object_arithmetic():
    assert common_numerators(np.array([1, 0.5], dtype=object)) is None
    flat = np.array([0.5, Fraction(1, 2), 1], dtype=object)
    assert exact_sums(flat, np.array([[0, 1]]), np.array([0]), 1).tolist() == [0.25]
    with pytest.raises(TypeError):  # a missing tensor (None) still cannot be used quietly
        exact_sums(np.array([None, 1], dtype=object), np.array([[0, 1]]), np.array([0]), 1)


def test_common_numerators_share_one_denominator():
    numerators, common = common_numerators(np.array([Fraction(1, 4), Fraction(-5, 6), 3, True], dtype=object))
    assert common == 12 and numerators == [3, -10, 36, 12]


def test_term_table_exact_values_equal_the_expression_walk():
    """TermTable.evaluate(object) against evaluating its SymPy expressions with Fractions."""
    d = layer("conv2d", (2, 2, 5, 5), (3, 2, 3, 3), stride=2, padding=1)
    rng = np.random.default_rng(3)
    shapes = {"x": (2, 2, 5, 5), "w": (3, 2, 3, 3), "b": (3,), "dy": d.spec.output_shape}
    values = {k: np.vectorize(lambda p, q: Fraction(int(p), int(q)), otypes=[object])(
        rng.integers(-9, 10, s), rng.integers(1, 10, s)) for k, s in shapes.items()}
    for table in [d.forward, *d.gradients.values()]:
        got = table.evaluate(values, object)
        assert all(got[index] == evaluate(expr, values) for index, expr in table.items())


def test_exact_integers_keep_ties_order_and_zeros():
    rng = np.random.default_rng(1)
    p, q = rng.integers(-9, 10, 500), rng.integers(1, 10, 500)
    scaled = exact_integers(p, q)
    rationals = [Fraction(int(a), int(b)) for a, b in zip(p, q)]
    assert scaled.dtype == object and all(type(v) is int for v in scaled)
    assert scaled.tolist() == [r * COMMON_DENOMINATOR for r in rationals]
    assert exact_integers(np.array([0, 1, 1])).tolist() == [0, 1, 1]


def _one_term_changed(table, term, column):
    """A copy of ``table`` whose term ``term`` reads the next element in slot ``column``."""
    factors = table.factors.copy()
    old = factors[term, column]
    factors[term, column] = (old + 1) % table.space.size if old != NO_FACTOR else 0
    return TermTable(table.space, table.shape, table.entry, factors)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("tensor", ["y", "dx", "dw", "db"])
def test_the_integer_check_catches_one_changed_term_anywhere(tensor, where):
    """One factor of one term changed in a term array (not a SymPy dict): the exact check says DIFFERENT."""
    d = layer("conv2d", (1, 2, 5, 5), (2, 2, 3, 3), padding=1)
    table = d.forward if tensor == "y" else d.gradients[tensor]
    term = {"first": 0, "middle": table.terms // 2, "last": table.terms - 1}[where]
    changed = _one_term_changed(table, term, 0)
    broken = replace(d, forward=changed) if tensor == "y" else replace(d, gradients={**d.gradients, tensor: changed})
    report = verify(broken, fd_samples=4)
    row = {check.name: check for check in report.checks}[tensor]
    assert not report.passed and row.exact is False


def test_a_layer_large_enough_for_int64_still_matches_the_reference(monkeypatch):
    seen = spy_on_int64(monkeypatch)
    report = verify(layer("conv2d", (1, 3, 12, 12), (4, 3, 3, 3), padding=1), fd_samples=4)
    assert report.passed and all(check.exact for check in report.checks)
    assert seen and all(seen)


def test_int64_bound_is_below_int64_range():
    assert INT64_SAFE * 2 <= 2**63
