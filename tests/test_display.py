"""Tests for symconv.printing.jupyter: derivations as MathJax LaTeX, reports as HTML tables."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser

import pytest

from symconv.printing.jupyter import MAX_EQUATIONS, derivation_latex, text_tex
from symconv.verify.html import report_html
from symconv.engine.derive import derive
from symconv.printing.formats import render
from symconv.spec.conv import conv_spec
from symconv.verify.checks import Check, Report
from symconv.verify.layer import verify


def equations(text):
    """The ``lhs &= rhs`` rows (continuations joined) of LaTeX text, whitespace normalized."""
    rows = []
    for line in text.splitlines():
        line = line.strip().removesuffix("\\\\").strip()
        if line.startswith(r"&\quad"):
            rows[-1] += " " + line.removeprefix(r"&\quad").strip()
        elif "&=" in line:
            rows.append(line)
    return rows


# -- derivation_latex -----------------------------------------------------------


def test_one_mathjax_block_of_aligned_equations():
    text = derivation_latex(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), index_base=1)
    assert text.startswith("$$\n\\begin{aligned}") and text.endswith("\\end{aligned}\n$$")
    assert text.count("$$") == 2
    assert text.count("\\begin{aligned}") == text.count("\\end{aligned}") == 5  # outer + 4 sections
    assert text.count("{") == text.count("}")
    # The seeds' dx_22: dy meets the filter rotated by 180 degrees.
    assert (r"\frac{\partial L}{\partial x_{22}} &= dy_{11} w_{22} + dy_{12} w_{21} + dy_{21} w_{12} "
            r"+ dy_{22} w_{11}") in text


@pytest.mark.parametrize("layer", [
    ("conv1d", (1, 1, 4), (1, 1, 2), {}),
    ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    ("conv2d", (2, 2, 3, 3), (3, 2, 2, 2), {"stride": 2, "padding": 1}),
    ("conv2d", (1, 4, 3, 3), (2, 2, 2, 2), {"groups": 2, "bias": False}),
], ids=["1d", "4x4", "channels-stride-padding", "groups-no-bias"])
@pytest.mark.parametrize("index_base", [0, 1])
def test_small_layers_show_every_equation_as_the_latex_format_prints_it(layer, index_base):
    kind, x, w, options = layer
    d = derive(conv_spec(kind, x, w, **options))
    shown = equations(derivation_latex(d, index_base=index_base, max_terms=10_000))
    assert shown == equations(render(d, "latex", index_base))
    assert "\\vdots" not in derivation_latex(d, index_base=index_base)


def test_sympy_expressions_show_as_the_term_tables_do():
    spec = conv_spec("conv2d", (1, 2, 4, 4), (2, 2, 2, 2), stride=2, padding=1)
    assert derivation_latex(derive(spec, method="sympy")) == derivation_latex(derive(spec))


def test_big_sections_are_cut_with_a_note():
    d = derive(conv_spec("conv1d", (1, 1, 100), (1, 1, 3)))
    text = derivation_latex(d)
    rows = equations(text)
    forward = [r for r in rows if r.startswith("y_")]
    assert len(forward) == MAX_EQUATIONS and forward[-1].startswith("y_{0,0,39}")
    assert r"\vdots \quad \text{(first 40 of 98 equations; symconv.printing.formats.render prints them all)}" in text
    assert r"\text{(first 40 of 100 equations;" in text  # dx
    assert r"first 3 of" not in text  # dw has 3 entries: all shown
    # dw_0 has 98 terms: the first 24, then a count.
    dw0 = next(r for r in rows if r.startswith(r"\frac{\partial L}{\partial w_{0,0,0}}"))
    assert dw0.count("dy_") == 24 and dw0.endswith(r"+ \cdots \text{ (98 terms)}")


def test_a_big_layer_shows_only_its_first_equations():
    """How quick that is, benchmarks/bench_refusal.py measures; here, that the display stays small."""
    d = derive(conv_spec("conv2d", (2, 3, 32, 32), (8, 3, 3, 3), padding=1))
    text = derivation_latex(d)
    assert len(text) < 200_000
    assert text.count(r"\vdots") == 3  # y, dx and dw cut after MAX_EQUATIONS; the 8 of db all shown


def test_mean_reduction_shows_the_factor():
    d = derive(conv_spec("conv1d", (2, 1, 3), (1, 1, 2)), reduction="mean")
    assert r"\frac{1}{2}" in derivation_latex(d)


# -- every kind of layer, in MathJax, KaTeX and LaTeX alike -------------------------


def layer_derivation(name):
    """The derivation of a KINDS entry, built from its option text as the CLI builds it."""
    import symconv

    kind, reduction, options = KINDS[name]
    return symconv.derive(symconv.spec_from_options(kind, **options), max_terms=10**6, reduction=reduction)


KINDS = {
    "conv1d-cut": ("conv1d", "sum", {"input": "1,1,60", "weight": "1,1,3"}),
    "maxpool2d-ceil-mean": ("maxpool2d", "mean", {"input": "2,1,5,5", "kernel": "2", "ceil_mode": True}),
    "avgpool1d-no-pad-count": ("avgpool1d", "sum", {"input": "1,1,5", "kernel": "2", "padding": "1",
                                                    "no_count_include_pad": True}),
    "relu": ("relu", "sum", {"input": "1,2,3"}),
    "leaky_relu": ("leaky_relu", "sum", {"input": "1,1,2,2", "negative_slope": "1/10"}),
    "stack": ("stack", "sum", {"input": "1,1,4,4",
                               "layers": "conv2d(weight=1,1,3,3, padding=1) | leaky_relu | maxpool2d(kernel=2)"}),
    "conv3d-reflect": ("conv3d", "sum", {"input": "1,1,2,3,3", "weight": "1,1,1,2,2", "padding": "1",
                                         "padding_mode": "reflect"}),
    "conv_transpose2d": ("conv_transpose2d", "sum", {"input": "1,1,2,2", "weight": "1,1,2,2", "stride": "2",
                                                     "output_padding": "1"}),
    "maxpool3d": ("maxpool3d", "sum", {"input": "1,1,2,2,2", "kernel": "2"}),
    "adaptive_avgpool2d": ("adaptive_avgpool2d", "mean", {"input": "2,1,3,4", "output_size": "2"}),
    "linear": ("linear", "sum", {"input": "2,3", "weight": "2,3"}),
    "relu-after-linear": ("relu", "sum", {"input": "2,3"}),
    "sigmoid": ("sigmoid", "sum", {"input": "1,1,2"}),
    "batchnorm1d": ("batchnorm1d", "sum", {"input": "3,2"}),
    "cnn": ("stack", "sum", {"input": "2,1,4,4", "layers": "conv2d(weight=2,1,3,3, padding=1) | relu | "
                                                          "maxpool2d(kernel=2) | flatten | linear(weight=3,8)"}),
}


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_a_derived_loss_shows_itself(loss):
    import symconv

    spec = symconv.spec_from_options("linear", "2,3", weight="2,3")
    d = symconv.derive(spec, loss=loss)
    tex = d._repr_latex_()
    assert tex.count("$$") == 2 and "dy" in tex
    for group in text_groups(tex):
        assert not set(group) & set("_$&%#\\^"), group


def text_groups(tex):
    r"""The contents of every ``\text{...}`` and ``\textbf{...}``, braces matched."""
    groups = []
    for match in re.finditer(r"\\text(?:bf)?\{", tex):
        depth, start = 1, match.end()
        for end in range(start, len(tex)):
            depth += {"{": 1, "}": -1}.get(tex[end], 0)
            if depth == 0:
                groups.append(tex[start:end])
                break
    return groups


@pytest.mark.parametrize("name", sorted(KINDS))
def test_no_text_holds_what_katex_or_latex_refuses(name):
    # KaTeX and LaTeX refuse a bare _ in \text, MathJax prints \_ there with its
    # backslash, and a $ inside would end the $$ block early in a notebook.
    text = derivation_latex(layer_derivation(name), index_base=1)
    groups = text_groups(text)
    assert groups, "no text at all?"
    for group in groups:
        assert not set(group) & set("_$&%#\\^"), group
    assert text.count("$$") == 2


def test_underscores_are_set_in_math_between_texts():
    assert text_tex("leaky_relu") == r"\text{leaky}\_\text{relu}"
    assert text_tex("Layer 2 (leaky_relu): forward", "textbf") == r"\textbf{Layer 2 (leaky}\_\textbf{relu): forward}"
    assert text_tex("conv2d: x 1x1x4x4") == r"\text{conv2d: x 1x1x4x4}"


def test_the_header_says_what_the_symbols_stand_for():
    text = derivation_latex(layer_derivation("maxpool2d-ceil-mean"), index_base=1)
    head = text.split(r"\textbf{Forward}")[0]
    assert r"dy_{n,f,i,j} \text{ stands for } \partial L / \partial y_{n,f,i,j}" in head
    assert r"m_{n,f,i,j} \text{ is the winner of the window" in head  # [x = m] in dx uses it
    assert r"every gradient is divided by } N = 2" in head
    assert r"= m_{" in text


def test_a_stack_shows_its_chain_first():
    text = derivation_latex(layer_derivation("stack"), index_base=1)
    chain = text.index(r"\textbf{The chain}")
    assert chain < text.index(r"\textbf{Layer 1 (conv2d): forward, h1 from x}")
    assert r"\partial h^{(2)} &= \operatorname{maxunpool}(\partial y)" in text
    assert r"\partial x &= \operatorname{rot180}(w^{(1)}) \,\hat{*}\, \partial h^{(1)}" in text
    assert r"m_{ij} \text{ is the winner" in text  # the max pool inside the stack


def test_derivations_show_themselves_in_jupyter():
    for name in ("conv1d-cut", "stack"):
        derivation = layer_derivation(name)
        assert derivation._repr_latex_() == derivation_latex(derivation)


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_block_is_valid_latex(name):
    from symconv.plot.pdf import latex_to_pdf

    body = derivation_latex(layer_derivation(name), index_base=1).replace("$$", "", 1).rsplit("$$", 1)[0]
    document = (
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n\\allowdisplaybreaks\n"
        "\\begin{document}\n\\[" + body + "\\]\n\\end{document}\n"
    )
    assert latex_to_pdf(document).startswith(b"%PDF")


# -- report_html ----------------------------------------------------------------


class _Table(HTMLParser):
    """Collects the rows of cells of an HTML table, and the caption."""

    def __init__(self):
        super().__init__()
        self.rows, self.caption, self._cell, self._in_caption = [], "", None, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        elif self._in_caption:
            self.caption += data


def parse(page):
    table = _Table()
    table.feed(page)
    return table


def test_report_rows_are_the_text_tables_rows():
    report = verify(derive(conv_spec("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), stride=2, padding=1)))
    page = report_html(report)
    table = parse(page)
    text_rows = [re.split(r"\s{2,}", line.strip()) for line in report.table().splitlines()[1:]]
    del text_rows[1]  # the dashes under the header
    text_rows = text_rows[: len(report.checks) + 1]
    assert table.rows == text_rows
    assert table.caption == f"{report.title} (seed 0)"
    assert "all checks passed" in page


def test_a_failing_check_shows_in_red_and_the_verdict_says_so():
    checks = (Check("y", 1e-16, None, 0, True), Check("dx", 0.5, 1e-12, 8, False))
    page = report_html(Report("conv1d: <made up>", 3, checks))
    rows = parse(page).rows
    assert rows[1] == ["y", "1.0e-16", "-", "equal", "ok"]
    assert rows[2] == ["dx", "5.0e-01", "1.0e-12 (8)", "DIFFERENT", "FAIL"]
    assert 'style="color:#cf222e;font-weight:bold">FAIL' in page
    assert "MISMATCH: some checks failed" in page
    assert "&lt;made up&gt;" in page and "<made up>" not in page


def test_exact_not_run_is_said():
    page = report_html(Report("t", 0, (Check("dw", 0.0, 0.0, 4, None),)))
    assert parse(page).rows[1] == ["dw", "0.0e+00", "0.0e+00 (4)", "not run", "ok"]


def test_reports_show_themselves_in_jupyter():
    from symconv.engine.derive import derive_stack
    from symconv.spec.stack import parse_layers, stack_spec
    from symconv.verify.stack import verify_stack

    report = verify_stack(derive_stack(stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,2,2) | relu"))))
    page = report._repr_html_()
    assert page == report_html(report)
    rows = parse(page).rows
    assert [row[0] for row in rows[1:]] == [check.name for check in report.checks]
    assert parse(page).caption.startswith("stack: conv2d | relu")
