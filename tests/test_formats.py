"""Printers: the JSON contract, LaTeX subscripts and documents, Markdown, text."""

import json
import re
import shutil
import subprocess

import pytest
from sympy import IndexedBase
from sympy.parsing.sympy_parser import parse_expr

from conftest import layer
from symconv.printing.formats import FORMATS, render
from symconv.printing.present import IndexStyle, choose_style
from symconv.spec.conv import conv_spec
from symconv.spec.adaptive import adaptive_pool_spec

NAMES = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
KEY = re.compile(r"^(y|dx|dw|db)\[(\d+(, \d+)*)\]$")

CONFIGS = {
    "seed-4x4": dict(),
    "1d-padded": dict(kind="conv1d", input=(2, 2, 5), weight=(2, 1, 3), padding=2, groups=2),
    "2d-strided-unreached": dict(input=(1, 2, 6, 5), weight=(3, 2, 3, 3), stride=2),
    "no-bias": dict(input=(1, 1, 3, 3), weight=(2, 1, 2, 2), bias=False),
}


def _reader():
    return {n: IndexedBase(n) for n in NAMES}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_json_contract_round_trips_exactly(config):
    d = layer(**config)
    data = json.loads(render(d, "json", index_base=1))  # json ignores the base
    assert list(data) == ["layer", "shapes", "forward", "gradients"]
    assert data["shapes"]["y"] == list(d.spec.output_shape)
    assert data["layer"]["kind"] == d.spec.kind
    expected_gradients = ["dx", "dw"] + (["db"] if d.spec.bias else [])
    assert list(data["gradients"]) == expected_gradients
    assert data["shapes"]["b"] == (None if not d.spec.bias else [d.spec.weight[0]])
    local = _reader()
    tables = {"y": (data["forward"], d.forward)}
    tables.update({n: (data["gradients"][n], d.gradients[n]) for n in expected_gradients})
    for name, (strings, exprs) in tables.items():
        assert len(strings) == len(exprs)  # every element present
        for index, expr in exprs.items():
            key = f"{name}[{', '.join(map(str, index))}]"
            assert KEY.match(key)
            assert strings[key] == str(expr)
            assert parse_expr(strings[key], local_dict=local) == expr


def test_json_zero_gradients_are_the_string_0():
    data = json.loads(render(layer(**CONFIGS["2d-strided-unreached"]), "json"))
    assert data["gradients"]["dx"]["dx[0, 1, 5, 4]"] == "0"


def test_compact_subscripts_only_when_unambiguous():
    assert choose_style(layer().spec, 1) == IndexStyle(1, True)
    assert not choose_style(layer(input=(2, 1, 4, 4)).spec, 0).compact  # N > 1
    assert not choose_style(layer(input=(1, 1, 10, 4)).spec, 1).compact  # x_{10,..}
    assert choose_style(layer(input=(1, 1, 10, 4)).spec, 0).compact  # 0..9 fits


def test_latex_of_seed_example_in_both_bases():
    d = layer()
    zero, one = render(d, "latex", 0), render(d, "latex", 1)
    assert r"y_{00} &= w_{00} x_{00} + w_{01} x_{01} + w_{10} x_{10} + w_{11} x_{11} + b" in zero
    assert r"y_{11} &= w_{11} x_{11} + w_{12} x_{12} + w_{21} x_{21} + w_{22} x_{22} + b" in one
    assert r"\frac{\partial L}{\partial x_{22}} &= dy_{11} w_{22} + dy_{12} w_{21} + dy_{21} w_{12} + dy_{22} w_{11}" in one
    assert r"\frac{\partial L}{\partial x_{44}} &= dy_{33} w_{22}" in one
    assert one.count(r"\begin{align*}") == 4


def test_latex_uses_commas_and_shows_zero_gradients():
    text = render(layer(**CONFIGS["2d-strided-unreached"]), "latex", 0)
    assert r"\frac{\partial L}{\partial x_{0,1,5,4}} &= 0" in text
    assert "b_{2}" in text


def test_long_sums_wrap_inside_align():
    text = render(layer(input=(1, 1, 6, 6), weight=(1, 1, 2, 2)), "latex", 1)
    db = text.split(r"\partial b} &= ")[1].split(r"\end{align*}")[0]
    assert db.count(r"&\quad +") == 4  # 25 terms, 6 per line


def test_markdown_uses_dollar_blocks_with_aligned():
    text = render(layer(), "markdown", 1)
    assert text.count("$$\n\\begin{aligned}") == 4
    assert "align*" not in text
    assert text.startswith("# conv2d")


def test_text_format_follows_the_index_base():
    text = render(layer(), "text", 1)
    assert "  dx[1,1] = dy[1,1]*w[1,1]\n" in text
    assert "  db = dy[1,1] + dy[1,2]" in text


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        render(layer(), "pdf")
    assert FORMATS == ("latex", "markdown", "text", "json")


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_standalone_latex_compiles_with_pdflatex(tmp_path, config):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (CI installs texlive-latex-base; apt-get install texlive-latex-base)")
    document = render(layer(**config), "latex", 1, standalone=True)
    assert document.startswith(r"\documentclass{article}") and document.endswith("\\end{document}\n")
    (tmp_path / "d.tex").write_text(document)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "d.pdf").stat().st_size > 1000
    assert "Overfull" not in run.stdout
    assert set(re.findall(r"\\usepackage\{(\w+)\}", document)) == {"amsmath", "amssymb"}


# --------------------------------------------------------------------------
# The JSON contract of every layer kind, read back through the CLI: each
# string parses to an expression structurally equal (==) to the derived one.
# SymPy's Piecewise writes its conditions canonically when built (x[0] < x[1]
# for x[1] > x[0]), so the derivation must build them that way too.
# --------------------------------------------------------------------------


def _pool(kind, shape, **options):
    from symconv.spec.pool import pool_spec

    return pool_spec(kind, shape, **options)


def _activation(kind, shape, slope=None):
    from fractions import Fraction

    from symconv.spec.activation import activation_spec

    return activation_spec(kind, shape, negative_slope=None if slope is None else Fraction(slope))


def _stack(shape, layers):
    from symconv.spec.stack import parse_layers, stack_spec

    return stack_spec(shape, parse_layers(layers))


CHAIN = "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2) | conv2d(weight=1,2,2,2)"
LEAKY_CHAIN = "conv2d(weight=1,1,2,2) | leaky_relu | maxpool2d(kernel=3, stride=1)"
LAYER_KINDS = {  # id: (CLI arguments after "derive", the same layer built by the library)
    "conv2d-strided-grouped": (["conv2d", "--input", "1,2,5,4", "--weight", "2,1,2,2", "--stride", "2", "--groups", "2"],
                               lambda: conv_spec("conv2d", (1, 2, 5, 4), (2, 1, 2, 2), stride=2, groups=2)),
    "maxpool1d": (["maxpool1d", "--input", "2,1,5", "--kernel", "2", "--stride", "1"],
                  lambda: _pool("maxpool1d", (2, 1, 5), kernel=2, stride=1)),
    "maxpool1d-dilated-padded": (["maxpool1d", "--input", "1,2,9", "--kernel", "3", "--stride", "2",
                                  "--dilation", "2", "--padding", "1"],
                                 lambda: _pool("maxpool1d", (1, 2, 9), kernel=3, stride=2, dilation=2, padding=1)),
    "maxpool2d-seed": (["maxpool2d", "--input", "1,1,4,4", "--kernel", "2"],
                       lambda: _pool("maxpool2d", (1, 1, 4, 4), kernel=2)),
    "maxpool2d-k3s2p1": (["maxpool2d", "--input", "1,2,5,5", "--kernel", "3", "--stride", "2", "--padding", "1"],
                         lambda: _pool("maxpool2d", (1, 2, 5, 5), kernel=3, stride=2, padding=1)),
    "maxpool2d-ceil-overlap": (["maxpool2d", "--input", "1,1,5,4", "--kernel", "2", "--stride", "2,1", "--ceil-mode"],
                               lambda: _pool("maxpool2d", (1, 1, 5, 4), kernel=2, stride=(2, 1), ceil_mode=True)),
    "maxpool2d-dilated": (["maxpool2d", "--input", "1,1,5,5", "--kernel", "2", "--stride", "1", "--dilation", "2"],
                          lambda: _pool("maxpool2d", (1, 1, 5, 5), kernel=2, stride=1, dilation=2)),
    "maxpool2d-big-indices-mean": (["maxpool2d", "--input", "2,1,3,12", "--kernel", "3", "--stride", "3",
                                    "--reduction", "mean"],
                                   lambda: _pool("maxpool2d", (2, 1, 3, 12), kernel=3, stride=3)),
    "avgpool1d-no-pad-count": (["avgpool1d", "--input", "1,1,6", "--kernel", "3", "--stride", "2", "--padding", "1",
                                "--no-count-include-pad"],
                               lambda: _pool("avgpool1d", (1, 1, 6), kernel=3, stride=2, padding=1,
                                             count_include_pad=False)),
    "avgpool2d-k3s2p1": (["avgpool2d", "--input", "1,1,5,5", "--kernel", "3", "--stride", "2", "--padding", "1"],
                         lambda: _pool("avgpool2d", (1, 1, 5, 5), kernel=3, stride=2, padding=1)),
    "maxpool3d": (["maxpool3d", "--input", "1,1,3,3,4", "--kernel", "2", "--stride", "1,1,2", "--padding", "1"],
                  lambda: _pool("maxpool3d", (1, 1, 3, 3, 4), kernel=2, stride=(1, 1, 2), padding=1)),
    "avgpool3d-ceil": (["avgpool3d", "--input", "1,2,3,3,3", "--kernel", "2", "--ceil-mode"],
                       lambda: _pool("avgpool3d", (1, 2, 3, 3, 3), kernel=2, ceil_mode=True)),
    "adaptive_maxpool2d": (["adaptive_maxpool2d", "--input", "1,1,5,4", "--output-size", "3,2"],
                           lambda: adaptive_pool_spec("adaptive_maxpool2d", (1, 1, 5, 4), (3, 2))),
    "adaptive_avgpool3d-global": (["adaptive_avgpool3d", "--input", "1,2,2,3,2", "--output-size", "1"],
                                  lambda: adaptive_pool_spec("adaptive_avgpool3d", (1, 2, 2, 3, 2), 1)),
    "relu": (["relu", "--input", "1,2,2,3"], lambda: _activation("relu", (1, 2, 2, 3))),
    "relu-3d": (["relu", "--input", "1,1,2,2,2"], lambda: _activation("relu", (1, 1, 2, 2, 2))),
    "leaky_relu": (["leaky_relu", "--input", "1,2,3"], lambda: _activation("leaky_relu", (1, 2, 3))),
    "leaky_relu-slope-1": (["leaky_relu", "--input", "1,1,3", "--negative-slope", "1"],
                           lambda: _activation("leaky_relu", (1, 1, 3), "1")),
    "leaky_relu-slope-minus-2": (["leaky_relu", "--input", "1,1,3", "--negative-slope", "-2"],
                                 lambda: _activation("leaky_relu", (1, 1, 3), "-2")),
    "stack-conv-relu-maxpool-conv": (["stack", "--input", "1,1,6,6", "--layers", CHAIN],
                                     lambda: _stack((1, 1, 6, 6), CHAIN)),
    "stack-leaky-mean": (["stack", "--input", "2,1,4,4", "--layers", LEAKY_CHAIN, "--reduction", "mean"],
                         lambda: _stack((2, 1, 4, 4), LEAKY_CHAIN)),
}


@pytest.mark.parametrize("arguments, build", LAYER_KINDS.values(), ids=LAYER_KINDS.keys())
def test_cli_json_of_every_layer_kind_round_trips_structurally(arguments, build):
    from click.testing import CliRunner

    from symconv.cli.app import cli
    from symconv.engine.derive import derive
    from symconv.printing.present import element_sections
    from symconv.engine.derive import derive_stack

    result = CliRunner().invoke(cli, ["derive", *arguments, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    reduction = "mean" if "mean" in arguments else "sum"
    spec = build()
    derivation = (derive_stack if spec.kind == "stack" else derive)(spec, reduction=reduction)
    assert data["layer"] == json.loads(json.dumps({**spec.to_dict(), "reduction": reduction}))
    local = {**_reader(), **{n: IndexedBase(n) for name in data["shapes"] for n in (name, "d" + name)}}
    checked = 0
    for section in element_sections(derivation):
        strings = data["forward"] if section.name == "forward" else data["gradients"][section.lhs]
        for index, expr in section.table.items():
            key = f"{section.lhs}[{', '.join(map(str, index))}]"
            parsed = parse_expr(strings[key], local_dict=local)
            assert parsed == expr, (key, strings[key], str(parsed))
            checked += 1
    assert checked == len(data["forward"]) + sum(len(g) for g in data["gradients"].values())
