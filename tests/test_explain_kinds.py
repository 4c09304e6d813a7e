"""symconv explain for conv3d and the transposed convolutions: the same steps, derived and checked, as for conv2d.

What is held here, beside what tests/test_explain.py holds for every kind:

* the random layers of a transposed convolution have output_padding above 0,
  and every general step passes its check at them;
* a transposed convolution's brackets are solved for the output position,
  with coefficient 1: no divisibility condition, and the words say so;
* its dx operator step is the forward of a convolution with input dy and
  weight w (the seeds' relation in reverse), term for term, and PyTorch's
  gradient agrees; conv3d's operator step reverses the kernel along its
  three axes;
* each tightened step's JSON is ``symconv formula --format json``'s result,
  string for string;
* at one entry, the closed form is the engine's element-wise derivation,
  every entry of small layers, and the sentences name the surviving terms;
* a wrong step of each new family is caught;
* JSON meets its schema and reads back to the references' values, LaTeX
  compiles, Markdown uses only what KaTeX renders.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest
from conftest import quick_first
from sympy import Add, Indexed, IndexedBase, Mul, Symbol, expand
from test_explain import KATEX, _compiles, read, run

from symconv.engine.derive import derive
from symconv.explain import explain, write
from symconv.explain.check import CheckReport, check_at, check_general
from symconv.explain.derivation import general_steps
from symconv.explain.families import SIZE_SETS, axes_of, random_specs
from symconv.explain.model import Step, Why
from symconv.formula.index import conv_formulas
from symconv.formula.sums import AXES_1D, AXES_2D, Limit, Span
from symconv.names import CONV_TRANSPOSE_KINDS, EXPLAIN_KINDS, FORMULA_LAYERS
from symconv.spec.conv import conv_spec
from symconv.spec.conv_transpose import conv_transpose_spec
from symconv.symbolic.tensors import base

NEW = ["conv3d", "conv_transpose1d", "conv_transpose2d"]
TRANSPOSED = [k for k in NEW if k in CONV_TRANSPOSE_KINDS]


def test_explain_covers_every_kind_with_a_general_formula():
    assert set(EXPLAIN_KINDS) == set(FORMULA_LAYERS)


@pytest.mark.parametrize("kind", TRANSPOSED)
def test_the_random_transposed_layers_hold_output_padding_stride_padding_and_dilation(kind):
    specs = random_specs(kind)
    assert len(specs) >= SIZE_SETS >= 20
    assert any(max(s.output_padding) > 0 for s in specs) and any(max(s.output_padding) == 0 for s in specs)
    assert any(max(s.stride) > 1 for s in specs) and any(max(s.dilation) > 1 for s in specs)
    assert any(max(s.padding) >= 2 for s in specs)
    report = explain(kind).report
    assert report.passed, report.table()
    assert "output paddings up to 2" in report.layers


# -- the general steps --------------------------------------------------------------

def _steps(kind, quantity):
    return {s.key: s for s in general_steps(kind, (quantity,)) if s.quantity == quantity}


@pytest.mark.parametrize("kind", TRANSPOSED)
@pytest.mark.parametrize("quantity", ["dx", "dw"])
def test_a_transposed_convolutions_bracket_is_solved_for_the_output_without_divisibility(kind, quantity):
    steps = _steps(kind, quantity)
    outputs = {"conv_transpose1d": ["o"], "conv_transpose2d": ["o", "p"]}[kind]
    for key in ("solved", "tightened", "operator"):
        (term,) = steps[key].terms
        assert [v.name for v, _ in term.solved] == outputs and not term.divides, key
    why = steps["solved"].why.plain()
    assert "for one output at most" in why and "no divisibility condition arises" in why and "inside y" in why
    (forward,) = [s for s in general_steps(kind, ("dx",)) if s.key == "forward"]
    scatter, bias = forward.terms
    assert len(scatter.deltas) == len(outputs) and not scatter.spans  # the scatter's brackets, as defined


def _renamed(expr, names):
    """``expr`` with its tensors renamed (``x`` -> ``dy``)."""
    return expr.replace(lambda e: isinstance(e, Indexed) and e.base.name in names,
                        lambda e: base(names[e.base.name])[e.indices])


@pytest.mark.parametrize("kind, axes", [("conv_transpose1d", AXES_1D), ("conv_transpose2d", AXES_2D)])
def test_a_transposed_convolutions_dx_is_a_convolutions_forward_of_dy_with_w(kind, axes):
    """The operator step, with its solved output substituted, is conv's forward definition read with x = dy,
    its channels C = F and its input sizes the transposed layer's output sizes: term for term."""
    (term,) = _steps(kind, "dx")["operator"].terms
    (product, _) = conv_formulas(axes)["forward"].definition
    n, f, c = (Symbol(s, integer=True, nonnegative=True) for s in "nfc")
    sizes = {Symbol("C", integer=True, positive=True): Symbol("F", integer=True, positive=True)}
    sizes.update({a.size: a.out for a in axes})
    swap = Symbol("swap", integer=True, nonnegative=True)
    swapped = product.rename({f: swap}).rename({c: f}).rename({swap: c}).substitute(sizes)
    swapped = replace(swapped, body=_renamed(swapped.body, {"x": "dy"}),
                      spans=tuple(Span(s.expr, s.lo, s.hi.xreplace(sizes)) for s in swapped.spans))
    # conv's output index i (j) reads the input at i*S + k*D - P; the transposed dx's entry i (j) is that output
    assert expand(swapped.expression() - term.expression()) == 0


@pytest.mark.parametrize("spec", quick_first([
    conv_transpose_spec("conv_transpose1d", (2, 3, 5), (3, 2, 3), stride=2, padding=1, output_padding=1),
    conv_transpose_spec("conv_transpose2d", (1, 2, 3, 4), (2, 3, 2, 3), stride=(3, 2), padding=(2, 1),
                        output_padding=(1, 1), dilation=(2, 1)),
], lambda s: s.kind))
def test_pytorch_agrees_that_a_transposed_convolutions_dx_is_a_convolution_of_dy_with_w(spec):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=spec.input), requires_grad=True)
    w = torch.tensor(rng.normal(size=spec.weight))
    dy = torch.tensor(rng.normal(size=spec.output_shape))
    transpose = functional.conv_transpose1d if spec.ndim == 1 else functional.conv_transpose2d
    y = transpose(x, w, stride=spec.stride, padding=spec.padding, output_padding=spec.output_padding,
                  dilation=spec.dilation)
    (dx,) = torch.autograd.grad(y, x, dy)
    conv = functional.conv1d if spec.ndim == 1 else functional.conv2d
    plain = conv(dy, w, stride=spec.stride, padding=spec.padding, dilation=spec.dilation)
    crop = (Ellipsis,) + tuple(slice(0, size) for size in spec.input[2:])
    assert torch.allclose(plain[crop], dx)


def test_conv3ds_operator_step_reverses_the_kernel_along_its_three_axes():
    (term,) = _steps("conv3d", "dx")["operator"].terms
    assert [v.name for v, _ in term.solved] == ["t", "i", "j"]
    assert sorted(str(d.divisor) for d in term.divides) == ["SD", "SH", "SW"]
    assert "w[f, c, KD - s - 1, KH - u - 1, KW - v - 1]" in str(term.body)
    assert _steps("conv3d", "dx")["operator"].operator == "dx-flip"


@pytest.mark.parametrize("kind", NEW)
def test_the_formula_step_in_json_is_formulas_json_string_for_string(kind):
    code, out, err = run("formula", kind, "--format", "json")
    assert code == 0, err
    formulas = json.loads(out)
    code, out, err = run("explain", kind, "--format", "json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    finals = {s.quantity: n for n, s in enumerate(general_steps(kind)) if s.formula}
    assert set(finals) == {"dx", "dw", "db"}
    for quantity, number in finals.items():
        assert steps[number]["lhs"] == formulas[quantity]["lhs"]
        assert steps[number]["rhs"] == formulas[quantity]["rhs"], quantity


# -- the checks can fail --------------------------------------------------------------

def _mutated(kind, key, quantity, change):
    steps = [s for s in general_steps(kind, (quantity,)) if s.key == key and s.quantity == quantity]
    return [replace(steps[0], terms=tuple(change(t) for t in steps[0].terms))]


def _depth_bound_one_less(term):
    limits = list(term.limits)
    (at,) = [n for n, l in enumerate(limits) if l.var.name == "t"]
    limits[at] = Limit(limits[at].var, limits[at].lo, limits[at].hi - 1, limits[at].tightened)
    return replace(term, limits=tuple(limits))


def _flipped_kernel(term):
    """w read from the other end, as a convolution's dx would: wrong for a transposed convolution."""
    def flip(e):
        return e.base[e.indices[:2] + tuple(Symbol("K") - 1 - i for i in e.indices[2:])]

    return replace(term, body=term.body.replace(lambda e: isinstance(e, Indexed) and e.base.name == "w", flip))


MUTATIONS = {
    "conv3d: depth bound off by one": ("conv3d", "tightened", "dx", _depth_bound_one_less),
    "conv3d: depth divisibility dropped": ("conv3d", "solved", "dx", lambda t: replace(t, divides=t.divides[1:])),
    "conv3d: dw's depth padding bracket dropped": ("conv3d", "solved", "dw", lambda t: replace(t, spans=t.spans[1:])),
    "transposed: the scatter lands P the wrong way": ("conv_transpose1d", "forward", "y", lambda t: replace(
        t, deltas=tuple((a, b + 2 * Symbol("P", integer=True, nonnegative=True)) for a, b in t.deltas))),
    "transposed: output_padding left out of y's size": ("conv_transpose1d", "tightened", "dw", lambda t: t.substitute(
        {Symbol("L_o", integer=True, positive=True): Symbol("L_o", integer=True, positive=True)
         - Symbol("A", integer=True, nonnegative=True)})),
    "transposed: dx's kernel flipped": ("conv_transpose1d", "operator", "dx", _flipped_kernel),
    "transposed: dy's range bracket dropped": ("conv_transpose2d", "solved", "dx", lambda t: replace(t, spans=())),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_wrong_step_of_a_new_family_fails_its_check(name):
    kind, key, quantity, change = MUTATIONS[name]
    if key == "forward":
        steps = [s for s in general_steps(kind, ("dx",)) if s.key == "forward"]
        steps = [replace(steps[0], terms=(change(steps[0].terms[0]),) + steps[0].terms[1:])]
    else:
        steps = _mutated(kind, key, quantity, change)
        assert steps[0].terms != _mutated(kind, key, quantity, lambda t: t)[0].terms, "the mutation changed nothing"
    checks = check_general(kind, steps, axes_of(kind))
    assert not checks[0].ok and checks[0].failure, name


# -- one entry ------------------------------------------------------------------------

SMALL = [
    conv_transpose_spec("conv_transpose1d", (1, 1, 3), (1, 1, 3), stride=2, padding=1, output_padding=1),
    conv_transpose_spec("conv_transpose2d", (1, 1, 2, 2), (1, 2, 2, 3), stride=2, padding=(1, 0),
                        output_padding=(1, 0), dilation=(1, 2)),
    conv_spec("conv3d", (1, 1, 3, 3, 3), (1, 1, 2, 2, 2), stride=(2, 1, 1), padding=(1, 0, 0)),
    conv_transpose_spec("conv_transpose1d", (2, 2, 3), (2, 1, 2), stride=3, padding=1, dilation=2, output_padding=2),
]


@pytest.mark.parametrize("spec", quick_first(SMALL, lambda s: s.kind + "x".join(map(str, s.input))))
def test_every_closed_form_is_the_derivations_entry(spec):
    derivation = derive(spec)
    for name, table in derivation.gradients.items():
        for index, expected in table.items():
            closed = explain(spec.kind, spec, index, wrt=name[1:], check=False).steps[-1].closed
            assert expand(closed - expected) == 0, (name, index)


@pytest.mark.parametrize("case", quick_first([
    (SMALL[0], (0, 0, 1), "x"), (SMALL[1], (0, 1, 1, 2), "w"), (SMALL[1], (1,), "b"), (SMALL[2], (0, 0, 1, 1, 1), "x"),
    (SMALL[2], (0, 0, 1, 0, 1), "w"), (SMALL[3], (1, 1, 2), "x"),
], lambda case: f"{case[0].kind}-d{case[2]}"))
def test_steps_at_one_entry_pass_their_checks_and_name_the_survivors(case):
    spec, at, wrt = case
    explanation = explain(spec.kind, spec, at, wrt=wrt, index_base=1)
    assert explanation.report.passed, explanation.report.table()
    assert [s.key for s in explanation.steps][-1] == "closed"
    text = write(explanation, "text")
    expected = derive(spec).gradients["d" + wrt][at]
    assert expand(explanation.steps[-1].closed - expected) == 0
    (brackets,) = [block for block in text.split("\nStep ")[1:] if "Iverson brackets" in block.splitlines()[0]]
    for product in Add.make_args(expected):  # each surviving term named: (y[o], w[k]), counted from 1
        factors = sorted(Mul.make_args(product), key=lambda e: e.base.name != "dy")
        if len(factors) == 2 and spec.input[:2] == (1, 1) and spec.output_shape[:2] == (1, 1):
            dy, other = factors
            pair = "(y[%s], %s[%s])" % (",".join(str(i + 1) for i in dy.indices[2:]), other.base.name,
                                        ",".join(str(i + 1) for i in other.indices[2:]))
            assert pair in brackets, (pair, brackets)
    if spec.kind in CONV_TRANSPOSE_KINDS and wrt != "b":
        assert "(output, input, tap) terms" in brackets
        (solved,) = [block for block in text.split("\nStep ")[1:] if block.splitlines()[0].endswith("solved")]
        assert "for the output gives" in solved


# -- documents and JSON --------------------------------------------------------------

ENTRY_ARGS = {
    "conv3d": ("--input", "1,1,3,3,3", "--weight", "1,1,2,2,2", "--stride", "2,1,1", "--at", "2,2,2",
               "--index-base", "1"),
    "conv_transpose1d": ("--input", "1,1,3", "--weight", "1,1,3", "--stride", "2", "--padding", "1",
                         "--output-padding", "1", "--at", "2", "--index-base", "1"),
    "conv_transpose2d": ("--input", "1,1,2,2", "--weight", "1,1,3,3", "--stride", "2", "--padding", "1",
                         "--output-padding", "1", "--at", "1,1,2,3", "--wrt", "w", "--index-base", "1"),
}


@pytest.mark.parametrize("args", quick_first(
    [("conv_transpose1d",), ("conv3d",), ("conv_transpose2d",)] + [(k,) + ENTRY_ARGS[k] for k in NEW],
    " ".join))
def test_json_meets_the_schema_and_reads_back_to_the_references_values(args):
    jsonschema = pytest.importorskip("jsonschema")
    from symconv.schemas import schema
    from symconv.spec.options import build_spec

    code, out, err = run("explain", *args, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    jsonschema.Draft202012Validator(schema("explain")).validate(document)
    kind = document["kind"]
    steps = [Step("read", entry["title"], entry["quantity"], read(entry["lhs"]), Why(entry["why"]),
                  closed=read(entry["rhs"])) for entry in document["steps"]]
    if "layer" in document:
        layer = document["layer"]
        options = {name: ",".join(map(str, layer[name])) for name in ("weight", "stride", "dilation")}
        if "output_padding" in layer:
            options.update(padding=",".join(map(str, layer["padding"])),
                           output_padding=",".join(map(str, layer["output_padding"])))
        else:
            options["padding"] = ",".join(str(lo) for lo, _ in layer["padding"])
        spec = build_spec(kind, ",".join(map(str, layer["input"])), **options)
        checks = check_at(kind, spec, steps, axes_of(kind))
    else:
        checks = check_general(kind, steps, axes_of(kind))
    assert all(c.ok for c in checks), CheckReport(kind, checks).table()


@pytest.mark.parametrize("args", quick_first([("conv_transpose2d",), ("conv3d",), ("conv_transpose1d",)]
                                             + [(k,) + ENTRY_ARGS[k] for k in NEW], " ".join))
def test_standalone_latex_compiles(args, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    code, source, err = run("explain", *args, "--standalone")
    assert code == 0, err
    assert r"\subsubsection*{Step 6. The operator form}" in source
    ok, log = _compiles(source, tmp_path)
    assert ok, log


@pytest.mark.parametrize("args", quick_first([("conv_transpose1d",), ("conv3d",), ("conv_transpose2d",),
                                              ("conv_transpose1d",) + ENTRY_ARGS["conv_transpose1d"]], " ".join))
def test_markdown_uses_only_what_katex_renders(args):
    code, text, err = run("explain", *args, "--format", "markdown")
    assert code == 0, err
    commands = set(re.findall(r"\\([A-Za-z]+)", text))
    assert commands <= KATEX, commands - KATEX
    assert text.count("$$") % 2 == 0 and "### Step 6. The operator form" in text


def test_the_transposed_documents_say_what_the_operator_is():
    code, text, err = run("explain", "conv_transpose1d", "--wrt", "x", "--format", "text")
    assert code == 0, err
    assert "= (dy_pad * w)[n, c, i]" in text and "not flipped" in text and "in reverse" in text
    assert "rot180" not in text and "dy~" not in text
    code, text, err = run("explain", "conv3d", "--wrt", "x", "--format", "text")
    assert "= (dy~ * flip(w))[n, c, z, h, q]" in text and "Reversing the kernel along each axis" in text


BAD = {
    "transposed groups": (["conv_transpose1d", "--input", "1,2,4", "--weight", "2,1,2", "--groups", "2", "--at",
                           "0,0,0"], "groups"),
    "conv3d padding mode": (["conv3d", "--input", "1,1,3,3,3", "--weight", "1,1,2,2,2", "--padding", "1",
                             "--padding-mode", "reflect", "--at", "0,0,0"], "padding-mode"),
    "transposed --at outside dx": (["conv_transpose1d", "--input", "1,1,3", "--weight", "1,1,2", "--at", "3"],
                                   "inside dx of shape 1,1,3"),
    "output padding too large": (["conv_transpose1d", "--input", "1,1,3", "--weight", "1,1,2", "--output-padding",
                                  "1", "--at", "0"], "output-padding"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_and_exit_2(name):
    args, words = BAD[name]
    code, out, err = run("explain", *args)
    assert code == 2, (name, out, err)
    assert err.strip().count("\n") == 0 and words in err and "Traceback" not in err, err
