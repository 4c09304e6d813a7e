"""Transposed convolutions beyond the element-wise form: index formulas, operator identities, matrix pictures,
pictures and JSON Schemas, each checked against the element-wise derivation or PyTorch."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from functools import lru_cache

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import Indexed, IndexedBase, Integer, Symbol, expand
from sympy.parsing.sympy_parser import parse_expr

from conftest import quick_first
from test_formula import _by_name, each_entry
from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.engine.evaluate import evaluate_table
from symconv.formula.index import derive_formulas
from symconv.formula.operators import correlate
from symconv.formula.transpose import transpose_sizes
from symconv.formula.transpose_operators import pictures
from symconv.spec.conv_transpose import conv_transpose_spec

TENSORS = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
SIZES = "N C F L K S P D A H W KH KW SH SW PH PW DH DW AH AW".split()


def _read(text):
    """What a JSON reader does: tensors as IndexedBase, sizes as plain Symbols."""
    return parse_expr(text, local_dict={**{n: IndexedBase(n) for n in TENSORS}, **{n: Symbol(n) for n in SIZES}})


@lru_cache(maxsize=None)
def _contract(layer, groups=False):
    args = ["formula", layer, "--format", "json"] + (["--groups"] if groups else [])
    data = json.loads(CliRunner().invoke(cli, args).output)
    return {name: (_read(entry["lhs"]), _read(entry["rhs"])) for name, entry in data.items()}


def _assert_formulas_equal_the_derivation(spec, groups=False):
    """Every formula of ``symconv formula`` (its JSON, 0-based), at the spec's sizes, entry by entry.

    The free indices run over their domains (with groups, the left side's composite indices
    ``g*C_g + c`` name each entry once), as tests/test_formula.py does for convolutions.
    """
    sizes = transpose_sizes(spec, groups)
    d = derive(spec)
    tables = {"forward": d.forward, **d.gradients}
    for name, (lhs, rhs) in _contract(spec.kind, groups).items():
        rhs, lhs, seen = _by_name(rhs, sizes), _by_name(lhs, sizes), set()
        for values in each_entry(derive_formulas(spec.kind, groups=groups)[name], sizes):
            index = tuple(int(_by_name(i, values)) for i in lhs.indices)
            assert index not in seen, (name, index)
            seen.add(index)
            got = _by_name(rhs, values).doit()
            assert expand(got) == expand(tables[name][index]), (spec, name, index)
        assert seen == set(tables[name]), name  # every entry, once


def _spec_id(spec):
    parts = [spec.input, spec.weight[2:], spec.stride, spec.padding, spec.output_padding, spec.dilation]
    return "-".join(f"{letter}{'x'.join(map(str, values))}" for letter, values in zip("_kspad", parts))


def _grid_1d():
    specs = []
    for k, s, p, op, d in itertools.product((1, 2, 3), (1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2)):
        if op >= s and op >= d:
            continue
        length = 2 + (k + s + p + op + d) % 3
        try:
            specs.append(conv_transpose_spec("conv_transpose1d", (1, 1, length), (1, 1, k), stride=s, padding=p,
                                             output_padding=op, dilation=d))
        except Exception:  # noqa: BLE001  (padding that crops every output)
            continue
    return specs


GRID_1D = _grid_1d()
GRID_2D = [
    conv_transpose_spec("conv_transpose2d", (1, 1, 2, 3), (1, 1, 3, 2), stride=(2, 1), padding=(1, 0),
                        output_padding=(1, 0), dilation=(1, 2)),
    conv_transpose_spec("conv_transpose2d", (1, 1, 3, 2), (1, 1, 2, 2), stride=(3, 2), padding=(2, 1),
                        output_padding=(2, 1)),
    conv_transpose_spec("conv_transpose2d", (1, 1, 2, 2), (1, 1, 2, 3), stride=1, padding=(0, 1), dilation=(2, 1),
                        output_padding=(1, 0)),
    conv_transpose_spec("conv_transpose2d", (2, 2, 2, 2), (2, 3, 2, 2), stride=2, padding=1, output_padding=1),
    conv_transpose_spec("conv_transpose1d", (2, 3, 3), (3, 2, 2), stride=2, padding=1, dilation=2,
                        output_padding=1),
]


def test_the_1d_grid_holds_every_combination():
    assert len(GRID_1D) > 100
    for pick, values in ((lambda s: s.stride[0], {1, 2, 3}), (lambda s: s.padding[0], {0, 1, 2}),
                         (lambda s: s.output_padding[0], {0, 1, 2}), (lambda s: s.dilation[0], {1, 2}),
                         (lambda s: s.weight[2], {1, 2, 3})):
        assert {pick(s) for s in GRID_1D} == values


@pytest.mark.parametrize("spec", quick_first(GRID_1D[1::2], _spec_id))
def test_conv_transpose1d_formulas_equal_the_derivation(spec):
    _assert_formulas_equal_the_derivation(spec)


@pytest.mark.parametrize("spec", quick_first(GRID_2D, _spec_id))
def test_conv_transpose2d_formulas_and_channels_equal_the_derivation(spec):
    _assert_formulas_equal_the_derivation(spec)


GROUPED = [
    conv_transpose_spec("conv_transpose1d", (2, 4, 3), (4, 1, 2), stride=2, padding=1, output_padding=1, groups=2),
    conv_transpose_spec("conv_transpose2d", (1, 3, 2, 2), (3, 2, 2, 2), stride=(2, 1), dilation=(1, 2), groups=3),
    conv_transpose_spec("conv_transpose1d", (1, 2, 3), (2, 3, 3), stride=3, output_padding=2),  # groups 1 as G = 1
]


@pytest.mark.parametrize("spec", quick_first(GROUPED, _spec_id))
def test_grouped_formulas_equal_the_derivation(spec):
    _assert_formulas_equal_the_derivation(spec, groups=True)


@pytest.mark.parametrize("spec", quick_first([GRID_2D[0], GRID_1D[17], GRID_2D[3]], _spec_id))
def test_formulas_counted_from_one_equal_the_derivation(spec):
    """The 1-based formulas, at 1-based indices, give the 0-based entries with every element index one more."""
    formulas = derive_formulas(spec.kind, index_base=1)
    sizes = transpose_sizes(spec)
    d = derive(spec)
    tables = {"forward": d.forward, **d.gradients}
    for name, formula in formulas.items():
        rhs, lhs = formula.sympy(), formula.sympy_lhs()
        rhs = rhs.xreplace({s: Integer(sizes[s.name]) for s in rhs.free_symbols if s.name in sizes})
        for index, expected in list(tables[name].items())[::3]:
            got = rhs.xreplace({s: Integer(i + 1) for s, i in zip(lhs.indices, index)}).doit()
            shifted = expected.replace(lambda e: isinstance(e, Indexed),
                                       lambda e: e.base[tuple(i + 1 for i in e.indices)])
            assert expand(got) == expand(shifted), (name, index)


def test_dx_is_derived_as_a_plain_convolution_of_dy_with_w():
    """The chain rule's delta is solved for the output position: a gather over taps, no divisibility."""
    for layer in ("conv_transpose1d", "conv_transpose2d"):
        dx = derive_formulas(layer)["dx"]
        (term,) = dx.terms
        assert not term.divides and not term.spans
        assert [v.name for v in (limit.var for limit in term.limits)] == ["f", "k", "l"][: 1 + int(layer[-2])]
        solved = dict((v.name, value) for v, value in term.solved)
        (axis, *_), inputs = dx.axes, dx.lhs.indices[2:]
        assert solved["o"] == inputs[0] * axis.stride + Symbol("k", integer=True, nonnegative=True) * axis.dilation \
            - axis.padding
        assert {e.base.name for e in term.body.atoms(Indexed)} == {"dy", "w"}
        forward = derive_formulas(layer)["forward"].terms[0]
        assert forward.divides  # the forward, the same delta solved for the tap: the scatter as a gather


def test_every_format_of_the_formulas():
    for layer, fmt in itertools.product(("conv_transpose1d", "conv_transpose2d"), ("latex", "markdown", "text", "json")):
        result = CliRunner().invoke(cli, ["formula", layer, "--format", fmt])
        assert result.exit_code == 0, result.output
        if fmt == "json":
            assert set(json.loads(result.output)) == {"forward", "dx", "dw", "db"}
        else:
            assert "Output size" in result.output and "plain convolution of dy with w" in result.output
    grouped = CliRunner().invoke(cli, ["formula", "conv_transpose2d", "--groups", "--format", "text"])
    assert grouped.exit_code == 0 and "input channels g C_g + c and output channels g F_g + f" in grouped.output


# -- --form operator -------------------------------------------------------------------

OPERATOR_LAYERS = [
    ("conv_transpose2d", "2,4,3,3", "4,1,3,3", dict(stride="2", padding="1", output_padding="1", groups="2")),
    ("conv_transpose1d", "1,2,3", "2,2,2", dict(stride="1", dilation="2", output_padding="1")),
    ("conv_transpose2d", "1,1,2,3", "1,2,2,3", dict(stride="3,2", padding="1,2", dilation="2,1", output_padding="2,1")),
    ("conv_transpose3d", "1,2,2,2,1", "2,1,2,1,2", dict(stride="2,1,1", padding="1,0,0", output_padding="1,0,0")),
]
_STATED = re.compile(r"dx = conv\(dy, w; stride (.+?), padding (.+?), dilation (.+?), groups (\d+)\)")


def _values(text, ndim):
    """``2`` or ``(2, 1)`` as written by the document, one int per axis."""
    numbers = [int(v) for v in re.findall(r"\d+", text)]
    return tuple(numbers) * (ndim if len(numbers) == 1 else 1)


@pytest.mark.parametrize("kind, shape, weight, options", OPERATOR_LAYERS, ids=[l[0] + l[2] for l in OPERATOR_LAYERS])
def test_the_operator_document_states_the_convolution_that_dx_is(kind, shape, weight, options):
    """Read the convolution off the text (and the JSON), run it in PyTorch on dy and w, find the derived dx."""
    torch = pytest.importorskip("torch")
    args = ["derive", kind, "--input", shape, "--weight", weight, "--form", "operator"]
    args += [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", v)]
    text = CliRunner().invoke(cli, args + ["--format", "text"]).output
    data = json.loads(CliRunner().invoke(cli, args + ["--format", "json"]).output)
    assert "dx equal; dw equal; db equal" in text and all(data["equal_to_derivation"].values())
    spec = conv_transpose_spec(kind, tuple(map(int, shape.split(","))), tuple(map(int, weight.split(","))),
                               **{k: tuple(map(int, v.split(","))) if "," in v else int(v) for k, v in options.items()})
    stride, padding, dilation, groups = _STATED.search(text).groups()
    stated = dict(stride=_values(stride, spec.ndim), padding=_values(padding, spec.ndim),
                  dilation=_values(dilation, spec.ndim), groups=int(groups))
    listed = data["convolution"]
    assert stated == dict(stride=tuple(listed["stride"]), padding=tuple(listed["padding"]),
                          dilation=tuple(listed["dilation"]), groups=listed["groups"])
    rng = np.random.default_rng(5)
    dy, w = rng.standard_normal(spec.output_shape), rng.standard_normal(spec.weight)
    conv = getattr(torch.nn.functional, f"conv{spec.ndim}d")(torch.tensor(dy), torch.tensor(w), **stated).numpy()
    if listed["cut_to"] is not None:
        assert f"cut to the input's {'x'.join(map(str, listed['cut_to']))} positions" in text
        conv = conv[(Ellipsis,) + tuple(slice(0, n) for n in listed["cut_to"])]
    derived = evaluate_table(derive(spec).gradients["dx"], spec.input, {"dy": dy, "w": w})
    np.testing.assert_allclose(conv, derived, atol=1e-12)


def test_the_operator_document_says_the_seeds_relation():
    text = CliRunner().invoke(cli, ["derive", "conv_transpose1d", "--input", "1,1,2", "--weight", "1,1,3", "--stride",
                                    "2", "--form", "operator", "--format", "text"]).output
    assert ("the gradient of a transposed convolution with respect to its input is a plain convolution: dy convolved "
            "with w itself (not rotated), with the layer's own stride, padding, dilation and groups") in text


# -- --form matrix --------------------------------------------------------------------------

MATRIX_LAYERS = [
    conv_transpose_spec("conv_transpose1d", (1, 1, 3), (1, 1, 2), stride=2),
    conv_transpose_spec("conv_transpose1d", (2, 1, 3), (1, 2, 3), stride=2, padding=1, dilation=2, output_padding=1),
    conv_transpose_spec("conv_transpose2d", (1, 1, 2, 2), (1, 1, 3, 3), stride=2, padding=1, output_padding=1),
    conv_transpose_spec("conv_transpose2d", (1, 2, 2, 3), (2, 1, 2, 2), stride=(1, 2), dilation=(2, 1), groups=2,
                        output_padding=(1, 0)),
]


@pytest.mark.parametrize("spec", MATRIX_LAYERS, ids=_spec_id)
def test_the_pictures_correlate_back_to_the_derivation(spec):
    d = derive(spec)
    dx, dw = np.full(spec.input, 0, dtype=object), np.full(spec.weight, 0, dtype=object)

    def slide(left, right, read_every):  # the picture's *: plain correlation, one result in read_every kept
        read_every = tuple(read_every) + (1,) * (2 - len(read_every))
        out = [(a - b) // s + 1 for a, b, s in zip(left.shape, right.shape, read_every)]
        return correlate(left[None, None], right[None, None], (1, 1), read_every, out)[0, 0]

    for (n, c, f), m in pictures(spec).items():
        dx[n, c] += slide(m["dy_pad"], m["w"], spec.stride).reshape(-1)[: np.prod(spec.input[2:])].reshape(
            spec.input[2:])
        dw[c, f % spec.weight[1]] += slide(m["dy_pad"], m["x"], spec.dilation).reshape(-1)[
            : np.prod(spec.weight[2:])].reshape(spec.weight[2:])
    for name, got, shape in (("dx", dx, spec.input), ("dw", dw, spec.weight)):
        for index in np.ndindex(*shape):
            assert expand(got[index]) == expand(d.gradients[name][index]), (name, index)


@pytest.mark.parametrize("form", ["matrix", "operator"])
def test_the_documents_compile(form, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    for spec in MATRIX_LAYERS[1:3]:
        args = ["derive", spec.kind, "--input", ",".join(map(str, spec.input)), "--weight",
                ",".join(map(str, spec.weight)), "--stride", ",".join(map(str, spec.stride)), "--padding",
                ",".join(map(str, spec.padding)), "--output-padding", ",".join(map(str, spec.output_padding)),
                "--dilation", ",".join(map(str, spec.dilation)), "--form", form, "--standalone"]
        (tmp_path / "d.tex").write_text(CliRunner().invoke(cli, args).output)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout[-2000:]


def test_the_matrix_form_is_refused_in_3d():
    result = CliRunner().invoke(cli, ["derive", "conv_transpose3d", "--input", "1,1,2,2,2", "--weight", "1,1,2,2,2",
                                      "--form", "matrix"])
    assert result.exit_code == 2
    assert "got 'matrix' for conv_transpose3d, expected it only for conv1d, conv2d, conv_transpose1d and " \
           "conv_transpose2d" in result.output


# -- plot and schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("of, at", [("dx", (0, 0, 1, 1)), ("dw", (1, 0, 0, 1))])
def test_routing_marks_exactly_the_factors_of_the_gradient_entry(of, at, tmp_path):
    pytest.importorskip("matplotlib")
    from symconv.plot.jacobian import plot_routing
    from symconv.plot.reading import gradient_terms

    d = derive(conv_transpose_spec("conv_transpose2d", (1, 2, 2, 2), (2, 1, 3, 3), stride=2, padding=1,
                                   output_padding=1))
    marks = plot_routing(d, tmp_path / "r.png", at, of=of)
    assert (tmp_path / "r.png").stat().st_size > 0
    expected = {name: set() for name in ("x", "w", "dy")}
    for term in gradient_terms(d, at, of):
        for name, index in term:
            expected[name].add(index)
    assert expected[of[1:]] == set()
    for name, marked in marks.items():
        assert {tuple(map(int, i)) for i in np.argwhere(marked)} == expected[name], name


def test_the_plot_command_draws_a_conv_transpose2d(tmp_path):
    pytest.importorskip("matplotlib")
    for kind, more in (("routing", ["--at", "1,1", "--index-base", "1"]), ("jacobian", [])):
        out = tmp_path / f"{kind}.png"
        result = CliRunner().invoke(cli, ["plot", "conv_transpose2d", "--input", "1,1,2,2", "--weight", "1,1,3,3",
                                          "--stride", "2", "--output-padding", "1", "--kind", kind, "-o", str(out)]
                                    + more)
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 0


def test_the_schemas_hold_the_new_layer_and_can_fail():
    jsonschema = pytest.importorskip("jsonschema")
    from symconv.schemas import schema

    validator = jsonschema.Draft202012Validator(schema("derive"))
    args = ["derive", "conv_transpose2d", "--input", "1,1,2,2", "--weight", "1,2,2,2", "--stride", "2", "--format",
            "json"]
    element = json.loads(CliRunner().invoke(cli, args).output)
    operator = json.loads(CliRunner().invoke(cli, args + ["--form", "operator"]).output)
    matrix = json.loads(CliRunner().invoke(cli, args + ["--form", "matrix"]).output)
    for data in (element, operator, matrix):
        assert list(validator.iter_errors(data)) == []
    broken = json.loads(json.dumps(element))
    broken["layer"]["padding"] = [[0, 0], [0, 0]]  # a convolution's pairs
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(operator))
    broken["output_padding"] = broken.pop("convolution")["padding"]  # a convolution's operator key
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(element))
    del broken["layer"]["output_padding"]
    assert list(validator.iter_errors(broken))
    checked = CliRunner().invoke(cli, ["check", "torch.nn.functional:conv_transpose2d", "conv_transpose2d",
                                       "--convention", "torch", "--input", "1,2,2,2", "--weight", "2,1,3,3",
                                       "--stride", "2", "--output-padding", "1", "--format", "json"])
    assert checked.exit_code == 0
    assert list(jsonschema.Draft202012Validator(schema("check")).iter_errors(json.loads(checked.stdout))) == []
