"""Index formulas: derived, read back from JSON, and proved entry by entry.

The proof instantiates each general formula at concrete sizes, through the
JSON contract (``parse_expr``, substitution, ``.doit()``), and compares it
exactly with the element-wise derivation of :func:`symconv.engine.derive`.
Pools have no element-wise engine here: they are compared with loop oracles
written below and, when installed, with PyTorch.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import Function, Indexed, IndexedBase, Integer, Max, Min, Symbol, ceiling, expand, floor
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli_forms import formula, formula_document
from symconv.engine import derive
from symconv.errors import SymconvError
from symconv.formula import AXES_1D, derive_formulas, spec_sizes
from symconv.formula_print import FormulaLatexPrinter, FormulaTextPrinter
from symconv.spec import conv_spec

TENSORS = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
SIZES = "N C H W F KH KW SH SW PH PW DH DW L K S P D".split()


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


def _specs(kind, grid):
    """The layers of a grid that are valid (a kernel too wide for its input is skipped)."""
    for shape, weight, options in grid:
        try:
            yield conv_spec(kind, shape, weight, **options)
        except SymconvError:
            continue


CONV1D_GRID = [  # every kernel, stride, padding and dilation; lengths 5 and 6 in turn (odd and even)
    ((1, 1, 5 + (k + s + p + d) % 2), (1, 1, k), dict(stride=s, padding=p, dilation=d))
    for k, s, p, d in itertools.product((1, 2, 3, 4), (1, 2, 3), (0, 1, 2), (1, 2))
]

CONV2D_GRID = [  # per-axis mixtures: odd/even and non-divisible sizes, padding wider than the kernel
    ((1, 1, 5, 4), (1, 1, 3, 2), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1))),
    ((1, 1, 4, 5), (1, 1, 2, 3), dict(stride=(3, 1), padding=(0, 2), dilation=(1, 2))),
    ((1, 1, 6, 5), (1, 1, 4, 1), dict(stride=(2, 2), padding=(1, 2), dilation=(1, 1))),
    ((1, 1, 5, 6), (1, 1, 1, 4), dict(stride=(1, 3), padding=(2, 0), dilation=(2, 1))),
    ((1, 1, 4, 4), (1, 1, 2, 2), dict(stride=1, padding=0, dilation=1)),
    ((1, 1, 5, 5), (1, 1, 3, 3), dict(stride=2, padding=1, dilation=2)),
    ((1, 1, 6, 6), (1, 1, 3, 2), dict(stride=3, padding=2, dilation=(1, 2))),
]

CHANNEL_GRID = [  # N, C, F > 1: the channel sums and the filter/batch deltas
    ("conv1d", (2, 2, 5), (3, 2, 2), dict(stride=2, padding=1, dilation=2)),
    ("conv2d", (2, 2, 4, 3), (2, 2, 2, 2), dict(stride=(2, 1), padding=(1, 0))),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(_specs("conv1d", CONV1D_GRID)), ids=str)
def test_conv1d_formulas_equal_the_derivation(spec):
    assert_formulas_equal_engine("conv1d", spec)


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(_specs("conv2d", CONV2D_GRID)), ids=str)
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
    data = {layer: json.loads(formula_document(layer, "json")) for layer in ("conv1d", "conv2d", "maxpool2d", "avgpool2d")}
    assert {k: v["lhs"] for k, v in data["conv2d"].items()} == {
        "forward": "y[n, f, i, j]", "dx": "dx[n, c, h, q]", "dw": "dw[f, c, k, l]", "db": "db[f]"}
    assert {k: v["lhs"] for k, v in data["conv1d"].items()} == {
        "forward": "y[n, f, i]", "dx": "dx[n, c, h]", "dw": "dw[f, c, k]", "db": "db[f]"}
    for pool in ("maxpool2d", "avgpool2d"):
        assert {k: v["lhs"] for k, v in data[pool].items()} == {"forward": "y[n, c, i, j]", "dx": "dx[n, c, h, q]"}
    for layer in data.values():
        for entry in layer.values():
            assert read(entry["rhs"]).free_symbols  # parses, and speaks of sizes and indices


# -- pools: loop oracles ---------------------------------------------------

POOL_GRID = [  # PyTorch's rule: padding at most half the (dilated) window
    dict(shape=(1, 1, 4, 5), kernel=(2, 3), stride=(2, 1), padding=(1, 1), dilation=(1, 1)),
    dict(shape=(1, 2, 5, 4), kernel=(3, 2), stride=(2, 2), padding=(1, 0), dilation=(2, 1)),
]


def _pool_windows(shape, kernel, stride, padding, dilation):
    """``(i, j, [(h, q) inside x])`` for each output of a pool, taps in row-major order."""
    out = [(s + 2 * p - d * (k - 1) - 1) // st + 1
           for s, k, st, p, d in zip(shape[2:], kernel, stride, padding, dilation)]
    for i, j in itertools.product(range(out[0]), range(out[1])):
        taps = [(i * stride[0] + k * dilation[0] - padding[0], j * stride[1] + l * dilation[1] - padding[1])
                for k, l in itertools.product(range(kernel[0]), range(kernel[1]))]
        yield i, j, [(h, q) for h, q in taps if 0 <= h < shape[2] and 0 <= q < shape[3]]


def pool_oracle(kind, x, dy, shape, kernel, stride, padding, dilation):
    """y and dx of a pool by its definition: the first maximum, or the mean over K_H K_W."""
    y, dx = np.zeros(dy.shape, dtype=object), np.zeros(x.shape, dtype=object)
    for n, c in itertools.product(range(shape[0]), range(shape[1])):
        for i, j, inside in _pool_windows(shape, kernel, stride, padding, dilation):
            if kind == "maxpool2d":
                h, q = max(inside, key=lambda t: (x[n, c][t], -inside.index(t)))  # first maximum wins
                y[n, c, i, j] = x[n, c, h, q]
                dx[n, c, h, q] += dy[n, c, i, j]
            else:
                share = Integer(1) / (kernel[0] * kernel[1])
                y[n, c, i, j] = sum(x[n, c, h, q] for h, q in inside) * share
                for h, q in inside:
                    dx[n, c, h, q] += dy[n, c, i, j] * share
    return y, dx


def _pool_sizes(shape, kernel, stride, padding, dilation):
    names = ("N", "C", "H", "W", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW")
    return dict(zip(names, shape + kernel + stride + padding + dilation))


def _values(name, array):
    return {IndexedBase(name)[index]: Integer(int(v)) for index, v in np.ndenumerate(array)}


def _numbers(name, array):
    """``name[i, ...]`` as a function that is the number ``array[i, ...]`` once its indices are."""

    class Value(Function):
        @classmethod
        def eval(cls, *index):
            # Outside x (a padding tap) it stays a symbol: the formula multiplies it by 0.
            if all(i.is_Integer and 0 <= i < n for i, n in zip(index, array.shape)):
                return Integer(int(array[tuple(int(i) for i in index)]))

    return lambda expr: expr.replace(lambda e: isinstance(e, Indexed) and e.base.name == name,
                                     lambda e: Value(*e.indices))


#: (case, entries of y, entries of dx) checked: a max pool's entry takes about a second to doit,
#: so its proof samples corners, edges and the interior; an average pool's is checked whole.
POOL_ENTRIES = {
    "avgpool2d": [(dict(POOL_GRID[0], dilation=(1, 1)), None, None),
                  (dict(POOL_GRID[1], dilation=(1, 1)), None, None)],
    "maxpool2d": [(POOL_GRID[0], [(0, 0, 0, 0), (0, 0, 2, 4)], [(0, 0, 0, 0), (0, 0, 1, 2), (0, 0, 3, 4)]),
                  (POOL_GRID[1], [(0, 0, 0, 0), (0, 1, 1, 1), (0, 1, 0, 1)],
                   [(0, 0, 0, 0), (0, 1, 2, 1), (0, 0, 4, 3), (0, 1, 3, 0)])],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["avgpool2d", "maxpool2d"])
def test_pool_formulas_equal_their_definition(kind):
    for case, y_entries, dx_entries in POOL_ENTRIES[kind]:
        rng = np.random.default_rng(7)
        x = rng.integers(0, 3, case["shape"])  # few values: many ties, to test the first-maximum rule
        out = [(s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, st, p, d in
               zip(case["shape"][2:], case["kernel"], case["stride"], case["padding"], case["dilation"])]
        dy = rng.integers(1, 9, case["shape"][:2] + tuple(out))
        y_expected, dx_expected = pool_oracle(kind, x, dy, **case)
        # x's values go in before doit (as a function of its indices), so that each
        # window's first-maximum product collapses to 0 or 1 as soon as it is formed.
        with_x, dy_values = _numbers("x", x), {IndexedBase("dy")[i]: Integer(int(v)) for i, v in np.ndenumerate(dy)}
        sizes = {Symbol(k): Integer(v) for k, v in _pool_sizes(**case).items()}
        for name, expected, entries in (("forward", y_expected, y_entries), ("dx", dx_expected, dx_entries)):
            lhs, rhs = contract(kind)[name]
            rhs = with_x(rhs.xreplace(sizes))
            for index in entries or list(np.ndindex(*expected.shape)):
                value = rhs.xreplace({s: Integer(i) for s, i in zip(lhs.indices, index)}).doit()
                assert value.xreplace(dy_values) == expected[index], (kind, case, name, index)


@pytest.mark.parametrize("kind", ["avgpool2d", "maxpool2d"])
def test_pool_oracle_matches_torch(kind):
    torch = pytest.importorskip("torch")
    case = POOL_GRID[1] if kind == "maxpool2d" else dict(POOL_GRID[0])
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, case["shape"]).astype(float)
    xt = torch.tensor(x, requires_grad=True)
    if kind == "maxpool2d":
        yt = torch.nn.functional.max_pool2d(xt, case["kernel"], case["stride"], case["padding"], case["dilation"])
    else:
        yt = torch.nn.functional.avg_pool2d(xt, case["kernel"], case["stride"], case["padding"],
                                            count_include_pad=True)
    dy = rng.integers(1, 9, tuple(yt.shape)).astype(float)
    yt.backward(torch.tensor(dy))
    y, dx = pool_oracle(kind, x, dy, **case)
    assert np.allclose(yt.detach().numpy(), y.astype(float))
    assert np.allclose(xt.grad.numpy(), dx.astype(float))


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
    for layer in ("conv1d", "conv2d", "maxpool2d", "avgpool2d"):
        text = formula_document(layer, "markdown")
        assert text.count("$$") % 2 == 0 and "\\begin{aligned}" in text
        assert "\\mathbb" not in text and "\\operatorname*" not in text and "\\begin{align*}" not in text


@pytest.mark.parametrize("layer", ["conv1d", "conv2d", "maxpool2d", "avgpool2d"])
def test_standalone_latex_compiles(layer, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    source = formula_document(layer, "latex", standalone=True)
    assert "\\usepackage{amsmath}" in source and "\\usepackage{geometry}" not in source
    (tmp_path / "f.tex").write_text(source)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


# -- the command -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
@pytest.mark.parametrize("layer", ["conv1d", "conv2d", "maxpool2d", "avgpool2d"])
def test_command_prints_every_form(layer, fmt):
    result = CliRunner().invoke(formula, [layer, "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.output == formula_document(layer, fmt)


BAD_ARGUMENTS = [
    (["conv3d"], "conv3d"),
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
    code = "import sys, symconv.cli_forms; print('sympy' in sys.modules, 'numpy' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "False"]


def test_spec_sizes_refuses_what_the_formulas_do_not_cover():
    with pytest.raises(SymconvError, match="groups: got 2"):
        spec_sizes(conv_spec("conv1d", (1, 2, 5), (2, 1, 2), groups=2))
    with pytest.raises(SymconvError, match="padding"):
        spec_sizes(conv_spec("conv1d", (1, 1, 5), (1, 1, 2), padding="same"))
