"""Index formulas: derived, read back from JSON, and proved entry by entry.

The proof instantiates each general formula at concrete sizes, through the
JSON contract (``parse_expr``, substitution, ``.doit()``), and compares it
exactly with the element-wise derivation of :func:`symconv.engine.derive.derive`,
on grids that hold every stride 1-3, padding 0-2 (as far as it is legal),
dilation 1-2 and kernel 1-4, with odd, even and non-divisible sizes.
Convolutions and average pools are compared symbolically; max pools at
chosen values of x (see the pool section for why), and, when installed,
with PyTorch.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
import shutil
import subprocess
import sys
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest
from conftest import quick_first
from click.testing import CliRunner
from sympy import (
    Add, And, Eq, Equality, Function, GreaterThan, Heaviside, Indexed, IndexedBase, Integer, LessThan, Max,
    Min, Mod, Mul, Piecewise, Pow, Product, Rational, StrictGreaterThan, StrictLessThan, Sum, Symbol, ceiling,
    expand, false, floor, true,
)
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli.formula import formula
from symconv.printing.documents import formula_document
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.formula.index import AXES_1D, derive_formulas, spec_sizes
from symconv.names import FORMULA_LAYERS
from symconv.printing.formula_document import TITLES
from symconv.printing.formula_print import FormulaLatexPrinter, FormulaTextPrinter
from symconv.printing.latex import DOCUMENT_HEAD
from symconv.spec.conv import conv_spec
from symconv.spec.pool import pool_spec

TENSORS = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
SIZES = "N C H W F KH KW SH SW PH PW DH DW L K S P D G KD SD PD DD".split()
LAYER_NAMES = list(FORMULA_LAYERS)


def read(text):
    """What a JSON reader does: tensors as IndexedBase, sizes as plain Symbols."""
    names = {n: IndexedBase(n) for n in TENSORS}
    names.update({n: Symbol(n) for n in SIZES})
    return parse_expr(text, local_dict=names)


@lru_cache(maxsize=None)
def contract(layer):
    """The parsed JSON of ``symconv formula LAYER --format json``: {name: (lhs, rhs)}."""
    data = json.loads(CliRunner().invoke(formula, [layer, "--format", "json"]).output)
    return {name: (read(entry["lhs"]), read(entry["rhs"])) for name, entry in data.items()}


def instantiate(layer, sizes):
    """Each formula at concrete sizes: {name: function(index) -> value after doit}."""
    values = {Symbol(k): Integer(v) for k, v in sizes.items()}
    out = {}
    for name, (lhs, rhs) in contract(layer).items():
        rhs = rhs.xreplace(values)
        out[name] = lambda index, lhs=lhs, rhs=rhs: rhs.xreplace(
            {s: Integer(i) for s, i in zip(lhs.indices, index)}).doit()
    return out


def assert_formulas_equal_engine(layer, spec):
    formulas = instantiate(layer, spec_sizes(spec))
    derivation = derive(spec)
    tables = {"forward": derivation.forward, **derivation.gradients}
    for name, table in tables.items():
        for index, expected in table.items():
            value = formulas[name](index)
            assert expand(value) == expand(expected), (layer, spec, name, index)


def conv_id(spec):
    """``1x1x5-k2-s1-p0-d1``: a grid layer in one short word."""
    parts = [spec.input, spec.weight[2:], spec.stride, [lo for lo, _ in spec.padding], spec.dilation]
    return "-".join(letter + "x".join(map(str, values)) for letter, values in zip(("", "k", "s", "p", "d"), parts))


#: (kernel, stride, padding, dilation): every combination the conv1d grid holds.
CONV1D_CASES = list(itertools.product((1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (1, 2)))


def conv1d_length(k, s, p, d):
    """5 or 6 in turn (odd and even), two more while the kernel's reach D(K-1)+1 passes the padded input."""
    length = 5 + (k + s + p + d) % 2
    while d * (k - 1) + 1 > length + 2 * p:
        length += 2
    return length


CONV1D_GRID = [conv_spec("conv1d", (1, 1, conv1d_length(k, s, p, d)), (1, 1, k), stride=s, padding=p, dilation=d)
               for k, s, p, d in CONV1D_CASES]

CONV2D_GRID = [  # per-axis mixtures: odd/even and non-divisible sizes, padding wider than the kernel
    ((1, 1, 5, 4), (1, 1, 3, 2), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))),
    ((1, 1, 4, 5), (1, 1, 2, 3), dict(stride=(3, 1), padding=(0, 2), dilation=(1, 2))),
    ((1, 1, 6, 5), (1, 1, 4, 1), dict(stride=(2, 2), padding=(1, 2), dilation=(1, 1))),
    ((1, 1, 5, 6), (1, 1, 1, 4), dict(stride=(1, 3), padding=(2, 0), dilation=(2, 1))),
    ((1, 1, 4, 4), (1, 1, 2, 2), dict(stride=1, padding=0, dilation=1)),
    ((1, 1, 5, 5), (1, 1, 3, 3), dict(stride=2, padding=1, dilation=2)),
    ((1, 1, 6, 6), (1, 1, 3, 2), dict(stride=3, padding=2, dilation=(1, 2))),
]

CONV3D_GRID = [  # every axis its own stride 1-3, padding 0-2, dilation 1-2 and kernel 1-3, odd and even sizes
    ((1, 1, 3, 3, 3), (1, 1, 2, 2, 2), dict(stride=1, padding=0, dilation=1)),
    ((1, 1, 4, 3, 5), (1, 1, 2, 3, 2), dict(stride=(2, 1, 3), padding=(1, 2, 0), dilation=(1, 1, 2))),
    ((1, 1, 5, 4, 4), (1, 1, 3, 1, 2), dict(stride=(3, 2, 1), padding=(2, 0, 1), dilation=(2, 1, 1))),
    ((1, 1, 4, 5, 4), (1, 1, 1, 2, 3), dict(stride=(1, 3, 2), padding=(0, 1, 2), dilation=(1, 2, 1))),
    ((1, 1, 3, 4, 4), (1, 1, 2, 2, 1), dict(stride=2, padding=1, dilation=2)),
]

CHANNEL_GRID = [  # N, C, F > 1: the channel sums and the filter/batch deltas
    ("conv1d", (2, 2, 5), (3, 2, 2), dict(stride=2, padding=1, dilation=2)),
    ("conv2d", (2, 2, 4, 3), (2, 2, 2, 2), dict(stride=(2, 1), padding=(1, 0))),
]
#: conv3d's channels case, checked by compile_exact (doit takes seconds a 3-D layer).
CHANNEL_GRID_3D = [("conv3d", (2, 2, 3, 2, 3), (2, 2, 2, 1, 2), dict(stride=(1, 1, 2), padding=(1, 0, 1)))]


def test_conv1d_grid_holds_every_combination_at_odd_and_even_lengths():
    assert len(CONV1D_GRID) == len(CONV1D_CASES) == 72
    cases = {(spec.weight[2], spec.stride[0], spec.padding[0][0], spec.dilation[0]) for spec in CONV1D_GRID}
    assert cases == set(CONV1D_CASES)
    assert {spec.input[2] % 2 for spec in CONV1D_GRID} == {0, 1}
    assert {conv1d_length(4, s, 0, 2) for s in (1, 2, 3)} == {7, 8}  # the reach 7 that 5 and 6 would not fit


@pytest.mark.parametrize("spec", quick_first(CONV1D_GRID, conv_id))
def test_conv1d_formulas_equal_the_derivation(spec):
    assert_formulas_equal_engine("conv1d", spec)


@pytest.mark.parametrize("spec", quick_first([conv_spec("conv2d", *case[:2], **case[2]) for case in CONV2D_GRID], conv_id))
def test_conv2d_formulas_equal_the_derivation(spec):
    assert_formulas_equal_engine("conv2d", spec)


@pytest.mark.parametrize("kind, shape, weight, options", CHANNEL_GRID)
def test_formulas_with_channels_equal_the_derivation(kind, shape, weight, options):
    assert_formulas_equal_engine(kind, conv_spec(kind, shape, weight, **options))


def test_dx_is_a_gather_with_the_tap_solved_and_bounds_tightened():
    (term,) = derive_formulas("conv1d")["dx"].terms
    axis = AXES_1D[0]
    h, i, f = (Symbol(n, integer=True, nonnegative=True) for n in "hif")
    K, S, P, D = axis.kernel, axis.stride, axis.padding, axis.dilation
    assert [l.var for l in term.limits] == [f, i]
    assert term.limits[1].lo == Max(0, ceiling((h + P - D * (K - 1)) / S))
    assert term.limits[1].hi == Min(axis.out - 1, floor((h + P) / S))
    (tap, solution), = term.solved
    assert solution == (h + P - i * S) / D
    assert [(d.divisor, d.numerator) for d in term.divides] == [(D, h + P - i * S)]
    assert not term.spans and not term.deltas  # every delta and padding condition was used up


def test_json_contract_keys_and_left_sides():
    data = {layer: json.loads(formula_document(layer, "json")) for layer in LAYER_NAMES}
    assert {k: v["lhs"] for k, v in data["conv2d"].items()} == {
        "forward": "y[n, f, i, j]", "dx": "dx[n, c, h, q]", "dw": "dw[f, c, k, l]", "db": "db[f]"}
    assert {k: v["lhs"] for k, v in data["conv1d"].items()} == {
        "forward": "y[n, f, i]", "dx": "dx[n, c, h]", "dw": "dw[f, c, k]", "db": "db[f]"}
    for pool in ("maxpool2d", "avgpool2d"):
        assert {k: v["lhs"] for k, v in data[pool].items()} == {"forward": "y[n, c, i, j]", "dx": "dx[n, c, h, q]"}
    for pool in ("maxpool1d", "avgpool1d"):
        assert {k: v["lhs"] for k, v in data[pool].items()} == {"forward": "y[n, c, i]", "dx": "dx[n, c, h]"}
    for layer in data.values():
        for entry in layer.values():
            assert read(entry["rhs"]).free_symbols  # parses, and speaks of sizes and indices


# -- pools: the formulas against the engine's element-wise derivation -----
#
# The grids hold every legal (kernel 1-4, stride 1-3, padding 0-2 up to
# PyTorch's K // 2, dilation 1-2 for max) on each axis, at odd, even and
# non-divisible sizes, with ceil_mode off and (average) count_include_pad on
# and no divisor_override: what the formulas cover. ceil_mode, count_include_pad
# off and divisor_override change the divisor or add a last window the
# formulas do not describe (their scope note says so), so no grid holds them.
#
# The JSON formulas are evaluated by compile_exact below, which keeps SymPy's
# semantics (Karr's sums, Heaviside at 0) in exact arithmetic at a thousandth
# of doit's cost; tests hold it equal to doit, and every fourth average pool
# also goes through doit itself.
#
# Average pooling is linear: evaluated on x and dy as SymPy elements, each
# formula is the derivation's sum, symbolically, entry by entry. Max pooling
# is not: the derivation holds one Piecewise first-maximum indicator per window
# element (comparisons of x), the formula a product of Heaviside steps over the
# window (FirstArgmax.definition), and SymPy cannot decide that the two are the
# same function of x (nor can its doit be afforded on a grid: about a second an
# entry). So a max pool is compared exactly, every entry, at several assignments
# of integer values to x chosen for the first-maximum rule: all-equal windows
# (all 0, all -1), 0/1 and {-1, 0, 1} values (many ties) and distinct values;
# dy holds powers of two, so a sum of dy's names the outputs it came from.

def _karr(combine, unit, invert):
    """A SymPy Sum (or Product) over ``lo..hi`` under Karr's convention, as SymPy's doit does.

    An upper bound below the lower bound minus one gives the inverse over the
    gap (minus the sum, one over the product): the formulas guard their
    tightened bounds against it, and an evaluator that summed nothing there
    would hide a missing guard.
    """
    def run(body, var, lo, hi, env):
        first, last = lo(env), hi(env)
        span = range(first, last + 1) if last >= first - 1 else range(last + 1, first)
        total = unit
        for value in span:
            env[var] = value
            total = combine(total, body(env))
        env.pop(var, None)
        return total if last >= first - 1 else invert(total)
    return run


_SUM, _PRODUCT = _karr(operator.add, 0, operator.neg), _karr(operator.mul, 1, lambda t: 1 / Fraction(t))
_RELATIONS = {StrictGreaterThan: operator.gt, GreaterThan: operator.ge, StrictLessThan: operator.lt,
              LessThan: operator.le, Equality: operator.eq}
_CALLS = {Max: max, Min: min, floor: math.floor, ceiling: math.ceil, Mod: operator.mod}


def _pair(combine, left, right):
    return lambda env: combine(left(env), right(env))


def _heaviside(step, at_zero, env):
    value = step(env)
    return 1 if value > 0 else 0 if value < 0 else at_zero(env)


def compile_exact(expr, memo=None):
    """``expr`` as a function of an environment {symbol name: int, tensor name: lookup}, in exact arithmetic.

    What ``.xreplace(values).doit()`` would give, node by node, in Python
    integers and Fractions (a few microseconds a node instead of SymPy's
    milliseconds); :func:`test_exact_evaluation_is_sympys_doit` holds the two
    equal. An unknown node fails loudly with its type.
    """
    memo = {} if memo is None else memo
    if expr in memo:
        return memo[expr]
    kind = type(expr)
    if expr.is_Rational:
        value = int(expr) if expr.is_Integer else Fraction(expr.p, expr.q)
        compiled = lambda env: value
    elif expr in (true, false):
        truth = bool(expr)
        compiled = lambda env: truth
    elif isinstance(expr, Symbol):  # looked up by name: a str hashes faster than a Symbol
        name = expr.name
        compiled = lambda env: env[name]
    elif isinstance(expr, Indexed):
        name, index = expr.base.name, [compile_exact(i, memo) for i in expr.indices]
        if all(i.is_Integer for i in expr.indices):  # the derivation's elements: x[0, 0, 2, 1]
            fixed = tuple(int(i) for i in expr.indices)
            compiled = lambda env: env[name][fixed]
        else:
            compiled = lambda env: env[name][tuple([i(env) for i in index])]
    elif kind in (Sum, Product):
        run, compiled = (_SUM if kind is Sum else _PRODUCT), compile_exact(expr.function, memo)
        for var, lo, hi in expr.limits:  # the innermost first
            compiled = functools.partial(run, compiled, var.name, compile_exact(lo, memo), compile_exact(hi, memo))
    elif kind is Piecewise:
        pieces = [(compile_exact(v, memo), compile_exact(c, memo)) for v, c in expr.args]
        compiled = lambda env: next(value(env) for value, holds in pieces if holds(env))
    else:
        args = [compile_exact(a, memo) for a in expr.args]
        if kind in (Add, Mul):  # folded pairwise: a closure a term beats a generator
            compiled = functools.reduce(functools.partial(_pair, operator.add if kind is Add else operator.mul), args)
        elif kind is And:
            compiled = lambda env: all([a(env) for a in args])
        elif kind is Heaviside:  # SymPy's Heaviside(a, h0): h0 at a = 0
            compiled = functools.partial(_heaviside, *args)
        elif kind in _RELATIONS:
            relation, (a, b) = _RELATIONS[kind], args
            compiled = lambda env: relation(a(env), b(env))
        elif kind is Pow and expr.exp.is_Integer:  # 1/D: a Fraction, never a float
            base, power = args[0], int(expr.exp)
            compiled = lambda env: Fraction(base(env)) ** power if power < 0 else base(env) ** power
        elif kind in _CALLS:
            call = _CALLS[kind]
            compiled = lambda env: call(*(a(env) for a in args))
        else:
            raise TypeError(f"compile_exact: got a {kind.__name__} ({expr}), expected a node of the formulas")
    memo[expr] = compiled
    return compiled


class Values:
    """An array read at integer indices, refusing negative ones (no wrap-around).

    Its entries are Python integers or SymPy elements (``x[0, 0, 1, 2]``).
    Outside the array it gives ``outside`` or, with None, fails: dy must
    never be read out of range (the bounds are tight); a max pool's bracket
    reads every tap of its window and multiplies those in the padding by 0,
    so x gives a value there larger than any inside, which would win every
    maximum were a padding tap ever counted.
    """

    def __init__(self, array, outside=None):
        self.array, self.outside = np.asarray(array).astype(object), outside  # Python ints, no overflow

    def __getitem__(self, index):
        if min(index) >= 0:
            try:
                return self.array[index]
            except IndexError:  # past the end
                pass
        if self.outside is None:
            raise IndexError(f"read at {index}, outside the shape {self.array.shape}")
        return self.outside


def _pool_axis_cases(dilations):
    """Every legal (kernel, stride, padding, dilation) of one axis: PyTorch's padding <= K // 2."""
    return [(k, s, p, d) for k, s, d in itertools.product((1, 2, 3, 4), (1, 2, 3), dilations)
            for p in range(k // 2 + 1)]


def _pool_axis_size(case, preferred):
    """The first size from ``preferred`` up that the case fits (its windows all reach the input)."""
    k, s, p, d = case
    for size in range(preferred, 16):
        try:
            pool_spec("maxpool1d", (1, 1, size), kernel=k, stride=s, padding=p, dilation=d)
            return size
        except SymconvError:
            continue
    raise AssertionError(f"no size fits {case}")


POOL_KINDS = ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d")


def pool_grid(kind):
    """Every legal axis case on the H (or L) axis and, shifted by 7 places, on the W axis.

    Sizes cycle through 4, 5, 6, 7, 3 (odd, even, many not divisible by the
    stride); every fifth layer has N = C = 2.
    """
    cases = _pool_axis_cases((1, 2) if kind.startswith("max") else (1,))
    ndim = int(kind[-2])
    specs = []
    for position, (ah, aw) in enumerate(zip(cases, cases[7:] + cases[:7])):
        axes = ((ah, 0), (aw, 2))[:ndim]
        sizes = [_pool_axis_size(a, (4, 5, 6, 7, 3)[(position + shift) % 5]) for a, shift in axes]
        options = {name: tuple(a[axis] for a, _ in axes)
                   for axis, name in enumerate(("kernel", "stride", "padding", "dilation"))}
        if not kind.startswith("max"):
            del options["dilation"]
        batch = (2, 2) if position % 5 == 0 else (1, 1)
        specs.append(pool_spec(kind, batch + tuple(sizes), **options))
    return specs


POOL_GRIDS = {kind: pool_grid(kind) for kind in POOL_KINDS}


def _axis_case(spec, axis):
    return spec.kernel[axis], spec.stride[axis], spec.padding[axis], spec.dilation[axis]


@pytest.mark.parametrize("kind", POOL_KINDS)
def test_pool_grid_covers_every_legal_axis_case_on_every_axis(kind):
    cases = set(_pool_axis_cases((1, 2) if kind.startswith("max") else (1,)))
    grid = POOL_GRIDS[kind]
    axes = range(int(kind[-2]))
    assert len(cases) == (48 if kind.startswith("max") else 24) == len(grid)
    for axis in axes:
        assert {_axis_case(spec, axis) for spec in grid} == cases
    sizes = [spec.input[2 + axis] for spec in grid for axis in axes]
    assert {size % 2 for size in sizes} == {0, 1}
    remainders = [(spec.input[2 + a] + 2 * spec.padding[a] - spec.dilation[a] * (spec.kernel[a] - 1) - 1)
                  % spec.stride[a] for spec in grid for a in axes]
    assert any(remainders) and not all(remainders)  # a last window that ends short of the input, and one that does not
    assert {spec.input[:2] for spec in grid} == {(1, 1), (2, 2)}


def pool_sizes(spec):
    """The size symbols' values for a :class:`~symconv.spec.pool.PoolSpec` (an average pool has no D)."""
    names = ("N", "C", "H", "W", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW") if len(spec.input) == 4 else \
        ("N", "C", "L", "K", "S", "P", "D")
    values = spec.input + spec.kernel + spec.stride + spec.padding + spec.dilation
    return {k: v for k, v in zip(names, values) if spec.is_max or not k.startswith("D")}


@lru_cache(maxsize=None)
def compiled_contract(kind):
    """{name: (free index names, exact function)} of the JSON contract, sizes still symbols.

    The sizes go in with the environment: substituting them into the
    expression costs SymPy half a second a layer, re-simplifying every Max.
    """
    return {name: ([i.name for i in lhs.indices], compile_exact(rhs)) for name, (lhs, rhs) in contract(kind).items()}


def pool_formulas_at(spec, x, dy):
    """``at(name, index)``: a pool formula's value at the sizes of ``spec`` for these x and dy arrays.

    A max pool's x reads, in the padding, a value above every value inside.
    """
    outside = max(abs(v) for v in np.asarray(x).flat) + 100 if spec.is_max else None
    env = dict(pool_sizes(spec))
    env.update(x=Values(x, outside), dy=Values(dy))
    compiled = compiled_contract(spec.kind)

    def at(name, index):
        free, formula = compiled[name]
        env.update(zip(free, index))
        return formula(env)

    return at


def pool_id(spec):
    """``1x1x5x4-k3x2-s2x1-p1x0-d2x1``: a grid layer in one short word."""
    parts = [spec.input, spec.kernel, spec.stride, spec.padding] + ([spec.dilation] if spec.is_max else [])
    return "-".join(letter + "x".join(map(str, values)) for letter, values in zip(("", "k", "s", "p", "d"), parts))


def _tables(derivation):
    return {"forward": derivation.forward, "dx": derivation.gradients["dx"]}


def max_pool_assignments(spec):
    """``(name, x)`` of the value assignments a max pool is checked at."""
    rng = np.random.default_rng(sum(spec.input + spec.kernel + spec.stride + spec.padding + spec.dilation))
    shape = spec.input
    return [("all 0", np.zeros(shape, int)), ("all -1", np.full(shape, -1)),
            ("0/1", rng.integers(0, 2, shape)), ("-1/0/1", rng.integers(-1, 2, shape)),
            ("distinct", rng.permutation(np.prod(shape)).reshape(shape) - 5)]


def _powers_of_two(shape):
    return np.array([2 ** position for position in range(int(np.prod(shape)))], dtype=object).reshape(shape)


@pytest.mark.parametrize("spec", quick_first(POOL_GRIDS["maxpool1d"] + POOL_GRIDS["maxpool2d"], pool_id))
def test_maxpool_formulas_equal_the_derivation_at_tied_and_distinct_values(spec):
    memo = {}  # the windows share their elements and comparisons
    engine = {name: {index: compile_exact(e, memo) for index, e in table.items()}
              for name, table in _tables(derive(spec)).items()}
    dy = _powers_of_two(spec.output_shape)
    for assignment, x in max_pool_assignments(spec):
        formula, inside = pool_formulas_at(spec, x, dy), {"x": Values(x), "dy": Values(dy)}
        for name, table in engine.items():
            for index, entry in table.items():
                assert formula(name, index) == entry(inside), (assignment, name, index)


def _elements(name, shape):
    """An object array of SymPy elements ``name[i, ...]``."""
    return np.array([IndexedBase(name)[i] for i in np.ndindex(*shape)] + [None], dtype=object)[:-1].reshape(shape)


@pytest.mark.parametrize("spec", quick_first(POOL_GRIDS["avgpool1d"] + POOL_GRIDS["avgpool2d"], pool_id))
def test_avgpool_formulas_equal_the_derivation(spec):
    """Symbolic equality: the formulas evaluated on x and dy as SymPy elements give the derivation's sums."""
    formula = pool_formulas_at(spec, _elements("x", spec.input), _elements("dy", spec.output_shape))
    for name, table in _tables(derive(spec)).items():
        for index, expected in table.items():
            assert expand(formula(name, index)) == expand(expected), (name, index)


@pytest.mark.parametrize("spec", quick_first(POOL_GRIDS["avgpool1d"][::4] + POOL_GRIDS["avgpool2d"][::4], pool_id))
def test_avgpool_formulas_through_doit_equal_the_derivation(spec):
    """Every fourth layer again through SymPy's own doit (18 ms an entry), as the convolutions are."""
    formulas = instantiate(spec.kind, pool_sizes(spec))
    for name, table in _tables(derive(spec)).items():
        for index, expected in table.items():
            assert expand(formulas[name](index)) == expand(expected), (name, index)


a, b = Symbol("a"), Symbol("b")

# -- conv3d: the formulas against the derivation, exactly and through doit ---
#
# A 3-D formula's triple sums make SymPy's doit cost seconds a layer, so every
# entry of every grid layer is evaluated by compile_exact, on x, w, b and dy
# as SymPy elements (symbolic equality, as for the average pools), and one
# layer's entries, every fifth, through doit as well.

CONV3D_SPECS = [conv_spec("conv3d", *case[:2], **case[2]) for case in CONV3D_GRID]


def test_conv3d_grid_holds_every_stride_padding_dilation_and_kernel_on_every_axis():
    for axis in range(3):
        assert {s.stride[axis] for s in CONV3D_SPECS} == {1, 2, 3}
        assert {s.padding[axis][0] for s in CONV3D_SPECS} == {0, 1, 2}
        assert {s.dilation[axis] for s in CONV3D_SPECS} == {1, 2}
        assert {s.weight[2 + axis] for s in CONV3D_SPECS} == {1, 2, 3}
        assert {s.input[2 + axis] % 2 for s in CONV3D_SPECS} == {0, 1}


class Whole(Values):
    """:class:`Values` read at a solved tap, a Fraction that is whole wherever its bracket lets it be read."""

    def __getitem__(self, index):
        assert all(Fraction(i).denominator == 1 for i in index), index
        return super().__getitem__(tuple(int(i) for i in index))


def conv_formulas_at(spec):
    """``at(name, index)``: a convolution's JSON formula at the sizes of ``spec``, on its tensors as SymPy elements."""
    env = dict(spec_sizes(spec))
    env.update({name: Whole(_elements(name, shape)) for name, shape in
                (("x", spec.input), ("w", spec.weight), ("b", (spec.weight[0],)), ("dy", spec.output_shape))})
    compiled = compiled_contract(spec.kind)

    def at(name, index):
        free, formula = compiled[name]
        env.update(zip(free, index))
        return formula(env)

    return at


@pytest.mark.parametrize("spec", quick_first(CONV3D_SPECS + [conv_spec(kind, shape, weight, **options) for
                                              kind, shape, weight, options in CHANNEL_GRID_3D], conv_id))
def test_conv3d_formulas_equal_the_derivation(spec):
    formula = conv_formulas_at(spec)
    derivation = derive(spec)
    for name, table in {"forward": derivation.forward, **derivation.gradients}.items():
        for index, expected in table.items():
            assert expand(formula(name, index)) == expand(expected), (name, index)


def test_conv3d_formulas_through_doit_equal_the_derivation():
    spec = CONV3D_SPECS[1]
    formulas, derivation = instantiate("conv3d", spec_sizes(spec)), derive(spec)
    for name, table in {"forward": derivation.forward, **derivation.gradients}.items():
        for index in list(table)[::5]:
            assert expand(formulas[name](index)) == expand(table[index]), (name, index)

EXACT_CASES = [  # (expression, values): the SymPy semantics the evaluator keeps, each against doit
    (Sum(a * b, (a, 1, b)), {b: 4}),
    (Sum(a, (a, b, 2)), {b: 3}),  # empty: the upper bound is the lower one minus one
    (Sum(a, (a, b, 1)), {b: 5}),  # Karr: minus the sum over 2..4
    (Product(a, (a, b, 2)), {b: 5}),  # Karr: one over the product over 3..4
    (Heaviside(a, 1) + Heaviside(a - 1, Rational(1, 2)) + Heaviside(a - 2, 1), {a: 1}),
    (Piecewise((a, Eq(Mod(a, 2), 0) & (a > b)), (-a, True)), {a: -3, b: -4}),
    (floor(a / 2) + ceiling(a / 3) + Max(a, b, 0) + Min(a, 1) + b / a ** 2, {a: -5, b: -7}),
]


@pytest.mark.parametrize("expr, values", EXACT_CASES, ids=[str(e) for e, _ in EXACT_CASES])
def test_exact_evaluation_is_sympys_doit(expr, values):
    assert compile_exact(expr)({s.name: v for s, v in values.items()}) == expr.xreplace(values).doit()


def test_exact_evaluation_of_a_max_pool_is_sympys_doit():
    """A few entries of a small max pool both ways: the evaluator's against SymPy's own doit (a second each)."""
    spec = pool_spec("maxpool2d", (1, 1, 3, 4), kernel=2, stride=1, padding=1)
    x, dy = np.array([[[[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]]]]), _powers_of_two(spec.output_shape)
    sizes = {Symbol(k): Integer(v) for k, v in pool_sizes(spec).items()}

    class Value(Function):
        """x's values go in before doit, as a function of x's indices, so that each window's
        product of steps collapses to 0 or 1 as it is formed; outside x it stays a symbol, times 0."""

        @classmethod
        def eval(cls, *index):
            if all(i.is_Integer and 0 <= i < n for i, n in zip(index, x.shape)):
                return Integer(int(x[tuple(int(i) for i in index)]))

    dy_values = {IndexedBase("dy")[i]: Integer(int(v)) for i, v in np.ndenumerate(dy)}
    formula = pool_formulas_at(spec, x, dy)
    entries = {"forward": [(0, 0, 0, 0), (0, 0, 1, 2), (0, 0, 3, 4)], "dx": [(0, 0, 0, 0), (0, 0, 1, 2)]}
    for name, indices in entries.items():
        lhs, rhs = contract("maxpool2d")[name]
        rhs = rhs.xreplace(sizes).replace(lambda e: isinstance(e, Indexed) and e.base.name == "x",
                                          lambda e: Value(*e.indices))
        for index in indices:
            slow = rhs.xreplace(dict(zip(lhs.indices, map(Integer, index)))).doit().xreplace(dy_values)
            assert formula(name, index) == slow, (name, index)


TORCH_LAYERS = [spec for kind in POOL_KINDS for spec in POOL_GRIDS[kind][::9]]


@pytest.mark.parametrize("spec", TORCH_LAYERS, ids=pool_id)
def test_pool_formulas_match_torch(spec):
    """The formulas at PyTorch's numbers, ties included: an independent reference for the same claim."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, spec.input)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    options = dict(kernel_size=spec.kernel, stride=spec.stride, padding=spec.padding)
    ndim = len(spec.input) - 2
    pool = getattr(F, ("max_pool%dd" if spec.is_max else "avg_pool%dd") % ndim)
    yt = pool(xt, dilation=spec.dilation, **options) if spec.is_max else pool(xt, count_include_pad=True, **options)
    dy = rng.integers(1, 9, tuple(yt.shape))
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    formula = pool_formulas_at(spec, x, dy)
    for name, expected in (("forward", yt.detach().numpy()), ("dx", xt.grad.numpy())):
        got = np.array([float(formula(name, index)) for index in np.ndindex(*expected.shape)])
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-12, atol=0, err_msg=name)


# -- groups: G groups, the composite indices g*C_g + c and g*F_g + f ---------

GROUP_GRID = [  # groups 1, 2 and depthwise (G = C, one or two filters a channel), 1-D and 2-D
    ("conv1d", (1, 3, 5), (2, 3, 2), dict(stride=2, padding=1, groups=1)),
    ("conv1d", (2, 4, 6), (4, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    ("conv1d", (1, 3, 6), (6, 1, 2), dict(stride=3, padding=2, groups=3)),
    ("conv2d", (1, 2, 4, 3), (2, 2, 2, 2), dict(dilation=(1, 2), padding=1, groups=1)),
    ("conv2d", (1, 4, 4, 5), (2, 2, 2, 3), dict(stride=(2, 1), padding=(1, 0), groups=2)),
    ("conv2d", (2, 3, 3, 4), (3, 1, 3, 2), dict(stride=(1, 2), padding=(1, 1), groups=3)),
    ("conv3d", (1, 4, 2, 3, 3), (2, 2, 2, 1, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1), groups=2)),
]


@lru_cache(maxsize=None)
def grouped_contract(kind):
    """``symconv formula KIND --groups --format json``, parsed: {name: (lhs, rhs)}."""
    result = CliRunner().invoke(formula, [kind, "--groups", "--format", "json"])
    assert result.exit_code == 0, result.output
    return {name: (read(e["lhs"]), read(e["rhs"])) for name, e in json.loads(result.output).items()}


def _by_name(expr, values):
    """``expr`` at the integer ``values`` of its symbols, named (so assumptions do not matter)."""
    return expr.xreplace({s: Integer(values[s.name]) for s in expr.free_symbols if s.name in values})


def each_entry(formula, sizes):
    """Every assignment of a formula's free indices in their domains, at concrete sizes: {name: value}."""
    names, outputs = [v.name for v in formula.domains], {a.out: a.out_size() for a in formula.axes}
    ranges = [range(int(_by_name(lo.subs(outputs), sizes)), int(_by_name(hi.subs(outputs), sizes)) + 1)
              for lo, hi in formula.domains.values()]
    return [dict(zip(names, values)) for values in itertools.product(*ranges)]


@pytest.mark.parametrize("kind, shape, weight, options", GROUP_GRID,
                         ids=[f"{k}-g{o['groups']}-{'x'.join(map(str, x))}" for k, x, _, o in GROUP_GRID])
def test_grouped_formulas_equal_the_derivation(kind, shape, weight, options):
    """The JSON of --groups at the layer's sizes: the left side names each entry once, the right one equals it."""
    spec = conv_spec(kind, shape, weight, **options)
    sizes = spec_sizes(spec, groups=True)
    derivation = derive(spec)
    tables = {"forward": derivation.forward, **derivation.gradients}
    for name, (lhs, rhs) in grouped_contract(kind).items():
        rhs, seen = _by_name(rhs, sizes), set()
        for values in each_entry(derive_formulas(kind, groups=True)[name], sizes):
            index = tuple(int(_by_name(i, values)) for i in _by_name(lhs, sizes).indices)
            assert index not in seen, (name, index)
            seen.add(index)
            assert expand(_by_name(rhs, values).doit()) == expand(tables[name][index]), (name, index)
        assert seen == set(tables[name]), name  # every entry, once


def test_a_group_reads_its_own_channels():
    """Filter g F_g + f of group g reads channels g C_g + c; dx of channel g C_g + c sums its group's filters."""
    formulas = derive_formulas("conv1d", groups=True)
    n, f, c, g, i, k = (Symbol(v, integer=True, nonnegative=True) for v in "nfcgik")
    FG, CG = (Symbol(v, integer=True, positive=True) for v in ("F_g", "C_g"))
    assert formulas["forward"].lhs == IndexedBase("y")[n, g * FG + f, i]
    (product, _) = formulas["forward"].terms
    (x,) = [e for e in product.body.atoms(Indexed) if e.base.name == "x"]
    assert x.indices[:2] == (n, g * CG + c)
    assert [(l.var, l.hi) for l in product.limits][0] == (c, CG - 1)
    (term,) = formulas["dx"].terms
    assert formulas["dx"].lhs.indices[1] == g * CG + c and [(l.var, l.hi) for l in term.limits][0] == (f, FG - 1)
    text = formula_document_of("conv1d", ["--groups", "--format", "text"])
    assert "Group sizes\n  C_g = C/G\n  F_g = F/G" in text and "Group g (0 <= g < G) is filters g F_g + f" in text


def formula_document_of(layer, options):
    result = CliRunner().invoke(formula, [layer] + options)
    assert result.exit_code == 0, result.output
    return result.output


# -- counted from 1: --index-base 1 ------------------------------------------

class From1:
    """An array read at 1-based indices (``x[1]`` is entry 0), refusing 0 and what lies past the end."""

    def __init__(self, array, outside=None):
        self.values = Values(array, outside)

    def __getitem__(self, index):
        # A solved tap, (h + P - S*(i - 1) - 1)/D + 1, is a Fraction, whole wherever the bracket lets it be read.
        assert all(Fraction(i).denominator == 1 for i in index), index
        return self.values[tuple(int(i) - 1 for i in index)]


def formulas_from_one_at(kind, sizes, tensors, outside=None, groups=False):
    """``at(name, 0-based index)``: the 1-based formula, evaluated at the 1-based index, on 1-based tensors."""
    formulas = derive_formulas(kind, groups=groups, index_base=1)
    env = {k: v for k, v in sizes.items()}
    env.update({name: From1(array, outside if name == "x" else None) for name, array in tensors.items()})
    compiled = {name: ([v.name for v in f.lhs.free_symbols & set(f.domains)], f, compile_exact(f.sympy().xreplace(
        {s: Integer(sizes[s.name]) for s in f.sympy().free_symbols if s.name in sizes})))
        for name, f in formulas.items()}

    def at(name, index):
        _, f, function = compiled[name]
        index1 = tuple(i + 1 for i in index)
        assignments = [v for v in each_entry(f, sizes)
                       if tuple(int(_by_name(i, {**sizes, **v})) for i in f.lhs.indices) == index1]
        (values,) = assignments
        return function({**env, **values})

    return at


FROM_ONE = [  # (kind, spec): a convolution of each kind, with groups, and every pool
    ("conv1d", conv_spec("conv1d", (2, 2, 6), (3, 2, 3), stride=2, padding=1, dilation=2)),
    ("conv2d", conv_spec("conv2d", (1, 2, 5, 4), (2, 2, 2, 3), stride=(2, 1), padding=(1, 2), dilation=(2, 1))),
    ("conv2d-groups", conv_spec("conv2d", (1, 4, 4, 4), (2, 2, 2, 2), stride=2, padding=1, groups=2)),
    ("conv3d", conv_spec("conv3d", (1, 1, 4, 3, 4), (1, 1, 2, 2, 3), stride=(2, 1, 1), padding=(1, 0, 2),
                         dilation=(1, 1, 2))),
    ("conv3d-groups", conv_spec("conv3d", (1, 2, 3, 3, 3), (2, 1, 2, 2, 2), stride=2, padding=1, groups=2)),
    ("avgpool1d", pool_spec("avgpool1d", (1, 2, 7), kernel=3, stride=2, padding=1)),
    ("avgpool2d", pool_spec("avgpool2d", (1, 1, 5, 4), kernel=(3, 2), stride=(2, 1), padding=(1, 1))),
]


@pytest.mark.parametrize("case, spec", FROM_ONE, ids=[c for c, _ in FROM_ONE])
def test_formulas_counted_from_one_equal_the_derivation(case, spec):
    """Linear layers symbolically: the 1-based formula at index + 1, reading x[1] as x[0], is the derivation's entry."""
    kind, groups = spec.kind, case.endswith("groups")
    sizes = spec_sizes(spec, groups=groups) if kind.startswith("conv") else pool_sizes(spec)
    tensors = {"x": _elements("x", spec.input), "dy": _elements("dy", spec.output_shape)}
    if kind.startswith("conv"):
        tensors.update(w=_elements("w", spec.weight), b=_elements("b", (spec.weight[0],)))
    at = formulas_from_one_at(kind, sizes, tensors, groups=groups)
    derivation = derive(spec)
    for name, table in {"forward": derivation.forward, **derivation.gradients}.items():
        for index, expected in table.items():
            assert expand(at(name, index)) == expand(expected), (name, index)


@pytest.mark.parametrize("spec", [pool_spec("maxpool1d", (1, 1, 7), kernel=3, stride=2, padding=1, dilation=2),
                                  pool_spec("maxpool2d", (1, 2, 4, 5), kernel=(2, 3), stride=(1, 2), padding=1)],
                         ids=pool_id)
def test_max_pool_formulas_counted_from_one_equal_the_derivation(spec):
    """At tied and distinct values of x, as the 0-based ones are checked (the selector counted from 1 too)."""
    memo = {}
    engine = {name: {index: compile_exact(e, memo) for index, e in table.items()}
              for name, table in _tables(derive(spec)).items()}
    dy = _powers_of_two(spec.output_shape)
    for assignment, x in max_pool_assignments(spec):
        outside = max(abs(v) for v in np.asarray(x).flat) + 100
        at = formulas_from_one_at(spec.kind, pool_sizes(spec), {"x": x, "dy": dy}, outside)
        inside = {"x": Values(x), "dy": Values(dy)}
        for name, table in engine.items():
            for index, entry in table.items():
                assert at(name, index) == entry(inside), (assignment, name, index)


def test_counted_from_one_reads_as_the_hand_derivations_do():
    """Sums from 1 to N, positions (i - 1) S + (k - 1) D - P + 1, bounds max(1, ...) and min(L_o, ...)."""
    text = formula_document_of("conv1d", ["--index-base", "1", "--format", "text"])
    assert "Indices are 1-based" in text and "Indices are 0-based" not in text
    assert "y[n, f, i] = sum_{c=1}^{C} sum_{k=k_min}^{k_max} w[f, c, k]*x[n, c, S*(i - 1) + D*(k - 1) - P + 1] + b[f]" in text
    assert "= sum_{f=1}^{F} sum_{i=i_min}^{i_max} [D | h + P - S*(i - 1) - 1] dy[n, f, i]*w[f, c, k]" in text
    assert "i_min = Max(1, ceiling((h + P - D*(K - 1) - 1)/S) + 1), i_max = Min(L_o, floor((h + P - 1)/S) + 1)" in text
    assert "db[f] = sum_{n', f', i'} dy[n', f', i'] delta(f, f')\n        = sum_{n=1}^{N} sum_{i=1}^{L_o} dy[n, f, i]" in text
    pool = formula_document_of("maxpool2d", ["--index-base", "1", "--format", "text"])
    assert "[(k, l) = argmax_{(u, v)} x[n, c, SH*(i - 1) + DH*(u - 1) - PH + 1, SW*(j - 1) + DW*(v - 1) - PW + 1]]" in pool
    grouped = formula_document_of("conv2d", ["--groups", "--index-base", "1", "--format", "text"])
    assert "dx[n, C_g*(g - 1) + c, h, q] = " in grouped and "Group g (1 <= g <= G) is filters (g - 1) F_g + f" in grouped
    latex = formula_document_of("conv2d", ["--index-base", "1"])
    assert r"\sum_{f=1}^{F}" in latex and r"S_{H} \left(i - 1\right) + D_{H} \left(k - 1\right) - P_{H} + 1" in latex


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_json_is_zero_based_whatever_the_index_base(layer):
    options = ["--groups"] if layer.startswith("conv") else []
    zero, one = (formula_document_of(layer, options + ["--format", "json", "--index-base", b]) for b in "01")
    assert zero == one == formula_document_of(layer, options + ["--format", "json"])


# -- printing --------------------------------------------------------------

def test_latex_of_the_general_dx():
    lines, rows = FormulaLatexPrinter().index_sum(derive_formulas("conv2d")["dx"].terms[0])
    assert lines == [
        r"\sum_{f=0}^{F - 1} \sum_{i=i_{\min}}^{i_{\max}} \sum_{j=j_{\min}}^{j_{\max}} "
        r"\left[D_{H} \mid h + P_{H} - i S_{H}\right] \left[D_{W} \mid q + P_{W} - j S_{W}\right] "
        r"dy_{n,f,i,j} w_{f,c,k,l}"]
    assert rows[0] == [("k", r"\frac{h + P_{H} - i S_{H}}{D_{H}}"), ("l", r"\frac{q + P_{W} - j S_{W}}{D_{W}}")]
    assert rows[1] == [
        (r"i_{\min}", r"\max\left(0, \left\lceil{\frac{h + P_{H} - D_{H} \left(K_{H} - 1\right)}{S_{H}}}\right\rceil\right)"),
        (r"i_{\max}", r"\min\left(H_{o} - 1, \left\lfloor{\frac{h + P_{H}}{S_{H}}}\right\rfloor\right)"),
    ]


def test_text_of_the_chain_rule_keeps_its_deltas():
    lines, _ = FormulaTextPrinter().index_sum(derive_formulas("conv1d")["dx"].chain[0])
    assert lines == [
        "sum_{n', f', i', c', k'} dy[n', f', i']*w[f', c', k']",
        "delta(n, n') delta(c, c') delta(h, S*i' + D*k' - P)",
        "[0 <= S*i' + D*k' - P <= L - 1]",
    ]


def test_output_size_is_stated():
    text = formula_document("conv2d", "text")
    assert "H_o = floor((H + 2*PH - DH*(KH - 1) - 1)/SH) + 1" in text
    assert "i_min = Max(0, ceiling((h + PH - DH*(KH - 1))/SH)), i_max = Min(H_o - 1, floor((h + PH)/SH))" in text


def test_markdown_uses_display_blocks_katex_reads():
    for layer in LAYER_NAMES:
        text = formula_document(layer, "markdown")
        assert text.count("$$") % 2 == 0 and "\\begin{aligned}" in text
        assert "\\mathbb" not in text and "\\operatorname*" not in text and "\\begin{align*}" not in text


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_standalone_latex_compiles(layer, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    source = formula_document(layer, "latex", standalone=True)
    assert "\\usepackage{amsmath}" in source and "\\usepackage{geometry}" not in source
    (tmp_path / "f.tex").write_text(source)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]

@pytest.mark.parametrize("layer, options", [("conv2d", ["--groups", "--index-base", "1"]), ("conv1d", ["--groups"]),
                                            ("maxpool2d", ["--index-base", "1"]), ("maxpool1d", ["--index-base", "1"])],
                         ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_grouped_and_one_based_standalone_latex_compiles(layer, options, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    (tmp_path / "f.tex").write_text(formula_document_of(layer, options + ["--standalone"]))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


def test_the_python_api_takes_groups_and_the_index_base():
    import symconv

    formulas = symconv.formula("conv2d", groups=True, index_base=1)
    assert (formulas.layer, formulas.groups, formulas.index_base) == ("conv2d", True, 1)
    assert symconv.render(formulas, "text") == formula_document_of("conv2d", ["--groups", "--index-base", "1",
                                                                             "--format", "text"])
    assert formulas._repr_latex_().startswith(
        "$$\n\\begin{aligned}\n&\\text{conv2d: index formulas for every size, with groups, indices from 1}")


# -- Jupyter ---------------------------------------------------------------

def _markdown_section(document, title):
    """The ``$$ ... $$`` block under ``## title`` in a Markdown document."""
    return "$$" + document.split("## " + title + "\n\n$$", 1)[1].split("\n$$", 1)[0] + "\n$$"


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_a_formula_shows_in_jupyter_as_its_section_of_the_document(layer):
    """Its _repr_latex_ is the Markdown document's block for it, plus the output sizes it uses."""
    document = formula_document(layer, "markdown")
    for name, one in derive_formulas(layer).items():
        shown, section = one._repr_latex_(), _markdown_section(document, TITLES[name])
        if "_{o}" not in section:
            assert shown == section
            continue
        rest, sizes = shown.removesuffix("\n\\end{aligned}\n$$").rsplit(" \\\\\n", 1)
        assert rest + "\n\\end{aligned}\n$$" == section
        assert sizes.startswith(r"&\qquad ") and all(
            f"{out} = " in sizes for out in ("H_{o}", "W_{o}", "L_{o}") if out in section)


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_a_layers_formulas_show_in_jupyter_as_the_markdown_document(layer):
    formulas = derive_formulas(layer)
    document = formula_document(layer, "markdown")
    assert formulas._repr_markdown_() == document
    shown = formulas._repr_latex_()
    assert shown.startswith("$$\n\\begin{aligned}\n&\\text{%s: index formulas" % layer.replace("_", "\\_"))
    for title in ["Output size"] + [TITLES[name] for name in formulas]:  # each section's block, verbatim
        assert r"&\textbf{%s}" % title in shown
        assert _markdown_section(document, title).removeprefix("$$\n").removesuffix("\n$$") in shown
    assert repr(formulas).startswith(f"Formulas({layer!r}, {{'forward': Formula(")


def test_jupyter_latex_compiles(tmp_path):
    """Every _repr_latex_, of each formula and of each layer's formulas, typeset in one document."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    blocks = []
    for layer in LAYER_NAMES:
        formulas = derive_formulas(layer)
        blocks += [formulas._repr_latex_()] + [f._repr_latex_() for f in formulas.values()]
    (tmp_path / "j.tex").write_text(DOCUMENT_HEAD + "\n\n".join(blocks) + "\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "j.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


# -- the command -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_command_prints_every_form(layer, fmt):
    result = CliRunner().invoke(formula, [layer, "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.output == formula_document(layer, fmt)


BAD_ARGUMENTS = [
    (["conv4d"], "conv4d"),
    (["maxpool2d", "--groups"], "got --groups for maxpool2d, expected it only for conv1d, conv2d, conv3d, "
                                "conv_transpose1d and conv_transpose2d"),
    (["conv1d", "--index-base", "2"], "'2' is not one of '0', '1'"),
    (["conv1d", "--groups", "4"], "unexpected extra argument (4)"),
    (["conv2d", "--format", "html"], "html"),
    (["conv2d", "--format", "text", "--standalone"], "--standalone"),
    (["conv2d", "-o", "/no/such/directory/f.tex"], "existing directory"),
]


@pytest.mark.parametrize("arguments, named", BAD_ARGUMENTS, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_command_refuses_bad_input(arguments, named):
    result = CliRunner().invoke(formula, arguments)
    assert result.exit_code == 2 and named in result.output


def test_command_writes_a_file_and_has_an_example(tmp_path):
    target = tmp_path / "conv1d.tex"
    assert CliRunner().invoke(formula, ["conv1d", "--standalone", "-o", str(target)]).exit_code == 0
    assert target.read_text().startswith("\\documentclass")
    assert "symconv formula conv2d" in CliRunner().invoke(formula, ["--help"]).output


def test_importing_the_forms_command_does_not_load_sympy():
    code = "import sys, symconv.cli.formula; print('sympy' in sys.modules, 'numpy' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "False"]


def test_spec_sizes_refuses_what_the_formulas_do_not_cover():
    with pytest.raises(SymconvError, match="groups: got 2"):
        spec_sizes(conv_spec("conv1d", (1, 2, 5), (2, 1, 2), groups=2))
    assert spec_sizes(conv_spec("conv1d", (1, 2, 5), (4, 1, 2), groups=2), groups=True)["F_g"] == 2
    with pytest.raises(SymconvError, match="groups: got --groups for avgpool1d, expected it only for conv1d, conv2d, "
                                           "conv3d, conv_transpose1d and conv_transpose2d$"):
        derive_formulas("avgpool1d", groups=True)
    with pytest.raises(SymconvError, match="index_base: got 2, expected 0 or 1"):
        derive_formulas("conv1d", index_base=2)
    with pytest.raises(SymconvError, match="padding"):
        spec_sizes(conv_spec("conv1d", (1, 1, 5), (1, 1, 2), padding="same"))
    with pytest.raises(SymconvError, match="^padding-mode: got reflect, expected zeros"):
        spec_sizes(conv_spec("conv3d", (1, 1, 3, 3, 3), (1, 1, 2, 2, 2), padding=1, padding_mode="reflect"))
