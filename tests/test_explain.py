"""symconv explain: every step derived, every step checked, every format readable.

What is held here:

* the general steps of every kind with a general formula pass their checks
  (20 random layers each, strides, paddings and dilations above 1 among
  them) and the checks can fail: a step with a bound off by one, a bracket
  dropped, the kernel not flipped, or a chain rule over too few outputs is
  caught;
* the tightened step *is* ``symconv formula``'s result, term for term;
* at one entry the closed form equals the engine's element-wise derivation
  (the seeds' 4x4 example entry by entry, a stride-2 layer, every kind), and
  the sentences name exactly the terms that survive;
* the JSON meets its schema and its strings, read back by ``parse_expr``,
  evaluate to the reference kernels' values;
* LaTeX compiles with pdflatex, Markdown uses only what KaTeX renders;
* bad input is one line and exit status 2.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import one_based, quick_first
from sympy import Derivative, Indexed, IndexedBase, Symbol, expand
from sympy.parsing.sympy_parser import parse_expr

from symconv.cli.app import cli
from symconv.engine.derive import derive
from symconv.explain import explain, write
from symconv.explain.check import CheckReport, check_at, check_general
from symconv.explain.derivation import general_steps
from symconv.explain.evaluate import compile_expression
from symconv.explain.families import SIZE_SETS, axes_of, random_specs, size_values
from symconv.explain.model import Step, Why, self_contained
from symconv.formula.index import derive_formulas
from symconv.formula.sums import Limit
from symconv.names import EXPLAIN_KINDS
from symconv.spec.conv import conv_spec
from symconv.spec.pool import pool_spec

KINDS = list(EXPLAIN_KINDS)
TENSORS = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
SIZES = "N C H W F KH KW SH SW PH PW DH DW L K S P D".split()


def run(*args):
    """``symconv ARGS`` through click: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def read(text):
    """What a JSON reader does: tensors as IndexedBase, sizes as plain Symbols."""
    names = {n: IndexedBase(n) for n in TENSORS}
    names.update({n: Symbol(n) for n in SIZES})
    return parse_expr(text, local_dict=names)


# -- the general derivation: derived, checked, equal to formula's result ------------

@pytest.mark.parametrize("kind", quick_first(KINDS, str))
def test_every_general_step_of_every_kind_agrees_with_the_reference(kind):
    explanation = explain(kind)
    report = explanation.report
    assert report.passed, report.table()
    assert len(report.checks) == len(explanation.steps)
    for check in report.checks:
        assert check.layers >= SIZE_SETS and check.entries >= SIZE_SETS, check


@pytest.mark.parametrize("kind", KINDS)
def test_the_random_layers_hold_stride_padding_and_dilation_above_one(kind):
    specs = random_specs(kind)
    assert len(specs) >= 20
    assert any(max(s.stride) > 1 for s in specs) and any(max(s.stride) == 1 for s in specs)
    padding = [p if isinstance(p, int) else p[0] for s in specs for p in s.padding]
    assert max(padding) >= 2 and min(padding) == 0
    if kind.startswith("avg"):
        assert all(d == 1 for s in specs for d in s.dilation)  # PyTorch's avg_pool has none
    else:
        assert any(max(s.dilation) > 1 for s in specs)


EXPECTED_STEPS = {
    "conv": ["forward"] + ["chain", "brackets", "solved", "tightened", "operator"] * 2 + ["chain", "brackets", "solved"],
    "maxpool": ["forward", "chain", "brackets", "solved", "tightened"],
    "avgpool": ["forward", "chain", "brackets", "solved", "tightened", "operator"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_the_steps_of_a_hand_derivation(kind):
    steps = general_steps(kind)
    assert [s.key for s in steps] == EXPECTED_STEPS[re.sub(r"[12]d$", "", kind)]
    assert [s.quantity for s in steps][0] == "y"
    for step in steps:
        text = step.why.plain()
        assert text and "\n" not in text and text.endswith("."), (step.key, text)


@pytest.mark.parametrize("kind", KINDS)
def test_the_tightened_step_is_formulas_result_term_for_term(kind):
    formulas = derive_formulas(kind)
    finals = {}
    for step in general_steps(kind):
        if step.formula:
            finals[step.quantity] = step
    assert set(finals) == {name for name in formulas if name != "forward"}
    for name, step in finals.items():
        assert step.terms == formulas[name].terms, name
        assert expand(step.expression() - formulas[name].expression()) == 0


def test_the_forward_step_is_the_definition_with_its_padding_brackets():
    (step,) = [s for s in general_steps("conv1d", ("dx",)) if s.key == "forward"]
    product, bias = step.terms
    assert len(product.spans) == 1 and not any(l.tightened for l in product.limits)  # the bracket, not bounds
    assert str(bias.body) == "b[f]"


def test_the_brackets_are_solved_for_the_tap_with_the_dilations_divisibility():
    steps = {s.key: s for s in general_steps("conv1d", ("dx",))}
    (term,) = steps["solved"].terms
    (var, value), = term.solved
    assert var.name == "k" and str(value) == "(P - S*i + h)/D"
    assert [str(d.divisor) for d in term.divides] == ["D"]
    assert not term.deltas and [l.var.name for l in term.limits] == ["f", "i"]


def test_the_operator_form_solves_for_the_output_with_the_strides_divisibility():
    steps = {s.key: s for s in general_steps("conv2d", ("dx",))}
    (term,) = steps["operator"].terms
    assert [v.name for v, _ in term.solved] == ["i", "j"]
    assert sorted(str(d.divisor) for d in term.divides) == ["SH", "SW"]
    assert "w[f, c, KH - u - 1, KW - v - 1]" in str(term.body)  # the kernel turned by 180 degrees


def test_at_stride_and_dilation_one_the_operator_form_is_the_full_correlation_with_the_flipped_kernel():
    spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
    explanation = explain("conv2d", spec, (0, 0, 1, 1), check=False)
    (operator,) = [s for s in explanation.steps if s.key == "operator"]
    (term,) = operator.terms
    assert not term.divides  # 1 divides everything: no zeros between dy's entries
    assert str(term.body) == "dy[0, 0, i, j]*w[0, 0, 1 - u, 1 - v]"


# -- the checks can fail -------------------------------------------------------------

def _mutated(kind, key, quantity, change):
    steps = [s for s in general_steps(kind, (quantity,)) if s.key == key and s.quantity == quantity]
    return [replace(steps[0], terms=tuple(change(t) for t in steps[0].terms))]


def _upper_bound_one_less(term):
    limits = list(term.limits)
    limits[-1] = Limit(limits[-1].var, limits[-1].lo, limits[-1].hi - 1, limits[-1].tightened)
    return replace(term, limits=tuple(limits))


MUTATIONS = {
    "tightened bound off by one": ("conv2d", "tightened", "dx", _upper_bound_one_less),
    "divisibility dropped": ("conv1d", "solved", "dx", lambda t: replace(t, divides=())),
    "padding bracket dropped": ("conv1d", "brackets", "dw", lambda t: replace(t, spans=())),
    "kernel not flipped": ("conv1d", "operator", "dx", lambda t: replace(t, body=t.body.replace(
        lambda e: isinstance(e, Indexed) and e.base.name == "w",
        lambda e: e.base[e.indices[:2] + (Symbol("u", integer=True, nonnegative=True),)]))),
    "chain rule over too few outputs": ("maxpool1d", "chain", "dx", _upper_bound_one_less),
    "average divided by the wrong window": ("avgpool2d", "tightened", "dx", lambda t: replace(t, body=t.body * 2)),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_wrong_step_fails_its_check(name):
    kind, key, quantity, change = MUTATIONS[name]
    checks = check_general(kind, _mutated(kind, key, quantity, change), axes_of(kind))
    assert not checks[0].ok and checks[0].failure, name


def test_a_wrong_closed_form_fails_its_check_at_the_layers_sizes():
    spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
    steps = explain("conv2d", spec, (0, 0, 1, 1), check=False).steps
    closed = steps[-1]
    wrong = replace(closed, closed=closed.closed.subs(IndexedBase("w")[0, 0, 1, 1], IndexedBase("w")[0, 0, 0, 0]))
    (check,) = check_at("conv2d", spec, [wrong], axes_of("conv2d"))
    assert not check.ok
    report = CheckReport("conv2d", [check])
    assert "FAILED" in report.table() and not report.passed


# -- one entry: the seeds' examples -----------------------------------------------------

SEED = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))


def test_the_seeds_dx22_is_derived_step_by_step_down_to_its_closed_form():
    explanation = explain("conv2d", SEED, (0, 0, 1, 1), index_base=1)
    assert explanation.report.passed, explanation.report.table()
    closed = explanation.steps[-1].closed
    expected = sum(one_based("dy", *o) * one_based("w", *t) for o, t in
                   [((1, 1), (2, 2)), ((1, 2), (2, 1)), ((2, 1), (1, 2)), ((2, 2), (1, 1))])
    assert expand(closed - expected) == 0
    latex = write(explanation, "latex")
    assert r"\frac{\partial L}{\partial x_{22}} &= dy_{11} w_{22} + dy_{12} w_{21} + dy_{21} w_{12} + dy_{22} w_{11}" \
        in latex
    brackets = [s for s in explanation.steps if s.key == "brackets"][0]
    sentence = write(explanation, "text").split("Step 3.")[1].splitlines()[1]
    assert "Of the 36 (output, tap) terms, 4 have every bracket 1" in sentence, sentence
    assert "(y[1,1], w[2,2]), (y[1,2], w[2,1]), (y[2,1], w[1,2]) and (y[2,2], w[1,1])" in sentence
    assert brackets.quantity == "dx"


def _closed(kind, spec, quantity, index):
    steps = explain(kind, spec, index, wrt=quantity[1:], check=False).steps
    return steps[-1].closed


@pytest.mark.parametrize("spec", quick_first([
    SEED,
    conv_spec("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), stride=2),  # seed 002: stride 2
    conv_spec("conv1d", (2, 2, 6), (2, 2, 3), stride=2, padding=2, dilation=2),
    conv_spec("conv2d", (1, 2, 4, 3), (2, 2, 2, 2), stride=(2, 1), padding=1, bias=False),
], lambda s: "x".join(map(str, s.input)) + f"-s{s.stride[0]}"))
def test_every_closed_form_of_a_convolution_is_the_derivations_entry(spec):
    derivation = derive(spec)
    for name, table in derivation.gradients.items():
        for index, expected in table.items():
            assert expand(_closed(spec.kind, spec, name, index) - expected) == 0, (name, index)


@pytest.mark.parametrize("spec", quick_first([
    pool_spec("maxpool1d", (1, 2, 7), kernel=3, stride=2, padding=1, dilation=2),
    pool_spec("avgpool2d", (1, 1, 5, 4), kernel=(3, 2), stride=2, padding=1),
    pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2),
], lambda s: s.kind))
def test_every_closed_form_of_a_pool_has_the_derivations_value(spec):
    """At tied and distinct integer values: a max pool's selector is a function of x, not a symbol to compare."""
    import numpy as np

    from symconv.explain.evaluate import Tensor

    derivation = derive(spec)
    rng = np.random.default_rng(1)
    sizes = size_values(spec.kind, spec)  # a max pool's selector speaks of the window's sizes
    closed = {index: compile_expression(self_contained(_closed(spec.kind, spec, "dx", index), (), sizes))
              for index in derivation.gradients["dx"]}
    for values in (rng.integers(0, 2, spec.input), rng.permutation(int(np.prod(spec.input))).reshape(spec.input)):
        env = {"x": Tensor(values), "dy": Tensor(rng.integers(-3, 4, spec.output_shape))}
        for index, expected in derivation.gradients["dx"].items():
            assert closed[index](env) == compile_expression(expected)(env), index


def test_an_entry_no_output_reads_has_a_closed_form_of_zero():
    spec = conv_spec("conv1d", (1, 1, 7), (1, 1, 1), stride=3)  # x[1] lies between the windows
    explanation = explain("conv1d", spec, (0, 0, 1))
    assert explanation.report.passed and explanation.steps[-1].closed == 0
    assert "No term survives: the gradient at x[1] is 0." in write(explanation, "text")


@pytest.mark.parametrize("kind, spec, at, wrt", [
    ("conv2d", SEED, (0, 0, 1, 0), "w"),
    ("conv1d", conv_spec("conv1d", (2, 1, 5), (2, 1, 2), stride=2), (1,), "b"),
    ("maxpool2d", pool_spec("maxpool2d", (1, 1, 5, 5), kernel=3, stride=2, padding=1), (0, 0, 2, 2), "x"),
    ("avgpool1d", pool_spec("avgpool1d", (1, 1, 6), kernel=3, stride=2, padding=1), (0, 0, 3), "x"),
], ids=["dw", "db", "maxpool", "avgpool"])
@pytest.mark.slow
def test_steps_at_one_entry_pass_their_checks_for_each_gradient(kind, spec, at, wrt):
    explanation = explain(kind, spec, at, wrt=wrt)
    assert explanation.report.passed, explanation.report.table()
    assert explanation.steps[-1].key == "closed"
    assert all(str(s.lhs) == f"d{wrt}[{', '.join(map(str, at))}]" for s in explanation.steps[1:])


# -- JSON ----------------------------------------------------------------------------

def _json(*args):
    code, out, err = run("explain", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("args", quick_first([
    ("conv1d",), ("conv2d",), ("maxpool2d",), ("maxpool1d",), ("avgpool2d",), ("avgpool1d",),
    ("conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--at", "2,2", "--index-base", "1"),
    ("maxpool1d", "--input", "1,1,6", "--kernel", "3", "--stride", "2", "--padding", "1", "--at", "2"),
], " ".join))
def test_json_strings_read_back_by_parse_expr_give_the_references_values(args):
    document = _json(*args)
    kind = document["kind"]
    steps = [Step("read", entry["title"], entry["quantity"], read(entry["lhs"]), Why(entry["why"]),
                  closed=read(entry["rhs"])) for entry in document["steps"]]
    if "layer" in document:
        spec = _spec_of(document["layer"])
        checks = check_at(kind, spec, steps, axes_of(kind))
    else:
        checks = check_general(kind, steps, axes_of(kind))
    assert all(c.ok for c in checks), CheckReport(kind, checks).table()
    if "layer" in document:  # the entry, 0-based whatever --index-base said
        assert all(re.fullmatch(r"d[xwb]\[[0-9, ]+\]", s["lhs"]) for s in document["steps"][1:])


def _spec_of(layer):
    from symconv.spec.options import build_spec

    options = {"stride": ",".join(map(str, layer["stride"]))}
    if "weight" in layer:
        options.update(weight=",".join(map(str, layer["weight"])),
                       padding=",".join(str(lo) for lo, _ in layer["padding"]))
    else:
        options.update(kernel=",".join(map(str, layer["kernel"])), padding=",".join(map(str, layer["padding"])))
    return build_spec(layer["kind"], ",".join(map(str, layer["input"])), **options)


def test_json_keys_are_exactly_the_issues():
    document = _json("conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--at", "1")
    assert list(document) == ["kind", "layer", "steps"]
    assert all(list(step) == ["title", "quantity", "lhs", "rhs", "why"] for step in document["steps"])
    assert list(_json("conv1d")) == ["kind", "steps"]


@pytest.mark.parametrize("args", quick_first([
    ("conv1d", "--input", "1,1,5", "--weight", "2,1,2", "--at", "1,0,1", "--wrt", "w"), ("conv2d",),
    ("avgpool1d", "--wrt", "x"),
    ("conv2d", "--input", "1,2,5,5", "--weight", "2,2,3,3", "--stride", "2", "--padding", "1", "--at", "0,1,2,3"),
], " ".join))
def test_json_meets_the_explain_schema(args):
    jsonschema = pytest.importorskip("jsonschema")
    from symconv.schemas import schema

    document = _json(*args)
    jsonschema.Draft202012Validator(schema("explain")).validate(document)
    broken = dict(document, steps=[dict(document["steps"][0], quantity="dz")] + document["steps"][1:])
    assert list(jsonschema.Draft202012Validator(schema("explain")).iter_errors(broken))


# -- documents ------------------------------------------------------------------------

def _compiles(source, tmp_path):
    (tmp_path / "e.tex").write_text(source)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "e.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    return result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize("args", quick_first([
    ("conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--at", "2,2", "--index-base", "1"),
    ("conv2d",), ("maxpool2d", "--index-base", "1"), ("avgpool1d",),
    ("conv1d", "--input", "1,1,5", "--weight", "1,1,2", "--stride", "2", "--at", "3", "--index-base", "1"),
], " ".join))
def test_standalone_latex_compiles_with_numbered_steps(args, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    code, source, err = run("explain", *args, "--standalone")
    assert code == 0, err
    assert r"\subsubsection*{Step 1. The forward pass as a sum}" in source
    ok, log = _compiles(source, tmp_path)
    assert ok, log


def test_a_vanishing_term_is_shown_under_an_underbrace_and_said_in_words():
    latex = write(explain("conv1d", wrt="x", check=False), "latex")
    assert r"\underbrace{\frac{\partial b_{f'}}{\partial x_{n,c,h}}}_{=\,0}" in latex
    assert "The term of b vanishes: b does not depend on x." in latex


#: The LaTeX commands KaTeX renders that the Markdown may use (KaTeX's list of supported functions).
KATEX = {"begin", "end", "frac", "partial", "sum", "left", "right", "le", "ge", "leq", "geq", "mid", "text", "quad",
         "qquad", "phantom", "min", "max", "lfloor", "rfloor", "lceil", "rceil", "underbrace", "widetilde",
         "operatorname", "star", "mathrm", "mathbf", "cdot", "substack", "mathop", "limits", "infty", "times",
         "delta", "dots", "ldots", "sqrt", "div"}


@pytest.mark.parametrize("args", quick_first([("maxpool2d", "--index-base", "1"), ("conv2d",), ("avgpool2d",),
                                              ("conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--at", "2,2")],
                                             " ".join))
def test_markdown_uses_only_what_katex_renders(args):
    code, text, err = run("explain", *args, "--format", "markdown")
    assert code == 0, err
    commands = set(re.findall(r"\\([A-Za-z]+)", text))
    assert commands <= KATEX, commands - KATEX
    assert text.count("$$") % 2 == 0 and "\\begin{aligned}" in text and "\\begin{align*}" not in text
    assert "### Step 2. The chain rule over every output" in text


def test_the_text_document_numbers_its_steps_each_with_one_line_of_why():
    code, text, err = run("explain", "conv2d", "--wrt", "w", "--format", "text")
    assert code == 0, err
    numbers = [int(n) for n in re.findall(r"^Step (\d+)\. ", text, flags=re.M)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 6
    for block in text.split("\nStep ")[1:]:
        assert block.splitlines()[1].startswith("  ") and block.splitlines()[1].strip()


@pytest.mark.parametrize("kind", quick_first(["avgpool1d"] + [k for k in KINDS if k != "avgpool1d"], str))
def test_check_prints_each_steps_result_for_every_kind(kind):
    code, text, err = run("explain", kind, "--check")
    assert code == 0, err
    rows = [line for line in text.splitlines() if re.match(r"^\d+ ", line)]
    assert len(rows) == len(general_steps(kind)) and all(re.search(r" ok +The ", row) for row in rows), text
    assert text.rstrip().endswith("every step agrees with the reference kernels")


def test_check_at_an_entry_adds_each_step_at_the_layers_sizes():
    code, text, err = run("explain", "conv1d", "--input", "1,1,5", "--weight", "1,1,2", "--stride", "2",
                          "--at", "3", "--index-base", "1", "--check")
    assert code == 0, err
    at_sizes = [line for line in text.splitlines() if "the layer's sizes" in line]
    assert len(at_sizes) == 7 and at_sizes[-1].endswith("The closed form")


def test_a_failing_check_exits_1_with_one_line(monkeypatch):
    import symconv.explain.build as build
    from symconv.explain.check import StepCheck

    def failing(explanation, gradients, seed=0):
        return CheckReport(explanation.kind, [StepCheck(1, "y", "The forward pass as a sum", "random layers",
                                                        failure="y[0, 0, 0] is 1, the reference 2")])

    monkeypatch.setattr(build, "check_explanation", failing)
    code, out, err = run("explain", "conv1d", "--wrt", "b")
    assert code == 1 and err.strip().count("\n") == 0
    assert "step 1 (The forward pass as a sum) failed its check" in err
    assert "CHECK FAILED at step 1" in out


# -- bad input ------------------------------------------------------------------------

BAD = {
    "kind without a formula": (["relu"], "expected a kind explain derives"),
    "stack": (["stack"], "expected a kind explain derives"),
    "--at outside the gradient": (["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--at", "5,5",
                                   "--index-base", "1"], "inside dx of shape 1,1,4,4"),
    "--at not numbers": (["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--at", "a,b"], "'--at'"),
    "--wrt b without bias": (["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--no-bias", "--wrt", "b",
                              "--at", "0"], "without a bias"),
    "--wrt w for a pool": (["maxpool2d", "--wrt", "w"], "a pool has no parameters"),
    "sizes without --at": (["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"], "'--at': missing"),
    "--at without sizes": (["conv2d", "--at", "1,1"], "without --input"),
    "option without --input": (["conv2d", "--stride", "2"], "without --input"),
    "--wrt all with --at": (["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "--wrt", "all", "--at", "0"],
                            "got 'all' with --at"),
    "groups": (["conv1d", "--input", "1,2,4", "--weight", "2,1,2", "--groups", "2", "--at", "0,0,0"], "groups"),
    "ceil mode": (["maxpool1d", "--input", "1,1,5", "--kernel", "2", "--ceil-mode", "--at", "0"], "ceil"),
    "--check with json": (["conv1d", "--check", "--format", "json"], "with --check"),
    "--standalone with text": (["conv1d", "--standalone", "--format", "text"], "--standalone"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_and_exit_2(name):
    args, words = BAD[name]
    code, out, err = run("explain", *args)
    assert code == 2, (name, out, err)
    assert err.strip().count("\n") == 0 and words in err, err
    assert "Traceback" not in err


def test_explain_is_in_the_python_api_and_shows_itself_in_jupyter():
    import symconv

    explanation = symconv.explain("avgpool1d", check=False)
    assert explanation.report is None
    assert explanation._repr_markdown_().startswith("# avgpool1d: the backward pass step by step")
    (chain,) = [s for s in explanation.steps if s.key == "chain"]
    assert chain.expression().has(Derivative)  # the chain rule's derivative, left for the next step
