"""Tests for symconv.plot.pdf and the ``render`` command: LaTeX to PDF and PNG.

Compiling needs pdflatex (Debian: texlive-latex-base and
texlive-latex-recommended) and PNG also pdftoppm (poppler-utils); without
them those tests are skipped with the reason. The "not installed" messages
are tested everywhere, by hiding the tools.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from symconv.plot import pdf
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.printing.formats import render as render_text
from symconv.spec.conv import conv_spec

PDF_MAGIC, PNG_MAGIC = b"%PDF", b"\x89PNG\r\n\x1a\n"
SEED = ["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"]

needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (Debian: apt-get install texlive-latex-base texlive-latex-recommended)",
)
needs_pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None,
    reason="pdftoppm is not installed (Debian: apt-get install poppler-utils)",
)


def seed_document(index_base=1):
    d = derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)))
    return render_text(d, "latex", index_base, standalone=True)


def hide(monkeypatch, *tools):
    """Make shutil.which (as symconv.plot.pdf sees it) report these tools missing and the others present.

    The tests using it fail before any tool would run, so a made-up path is never executed.
    """
    monkeypatch.setattr(pdf.shutil, "which", lambda name, *a, **k: None if name in tools else f"/usr/bin/{name}")


def run_render(args):
    from symconv.cli.render import render

    return CliRunner().invoke(render, args)


# -- symconv.plot.pdf ----------------------------------------------------------------


@needs_pdflatex
def test_latex_compiles_to_a_pdf():
    document = pdf.compile_latex(seed_document())
    assert document.data.startswith(PDF_MAGIC)
    assert document.pages == 2  # the seeds' example: forward and dx, then dw and db


@needs_pdflatex
def test_a_latex_error_is_one_line_naming_it():
    with pytest.raises(SymconvError) as error:
        pdf.latex_to_pdf("\\documentclass{article}\n\\begin{document}\n\\nosuchcommand\n\\end{document}\n")
    message = str(error.value)
    assert message.startswith("render: pdflatex failed: Undefined control sequence")
    assert "\\nosuchcommand" in message and "\n" not in message


@needs_pdflatex
@needs_pdftoppm
def test_latex_to_png_gives_the_first_page():
    assert pdf.latex_to_png(seed_document()).startswith(PNG_MAGIC)


@pytest.mark.parametrize("tools, install", [
    (("pdflatex",), "apt-get install texlive-latex-base texlive-latex-recommended"),
    (("pdftoppm",), "apt-get install poppler-utils"),
])
def test_a_missing_tool_says_how_to_install_it(monkeypatch, tools, install):
    hide(monkeypatch, *tools)
    with pytest.raises(SymconvError) as error:
        pdf.latex_to_png(seed_document())
    assert str(error.value) == (
        f"render: {tools[0]} is not installed; expected it on PATH (Debian/Ubuntu: {install})"
    )


def test_png_checks_both_tools_before_compiling(monkeypatch):
    hide(monkeypatch, "pdftoppm")
    monkeypatch.setattr(pdf, "compile_latex", lambda text: pytest.fail("compiled before checking pdftoppm"))
    with pytest.raises(SymconvError, match="pdftoppm is not installed"):
        pdf.latex_to_png(seed_document())


# -- the render command ---------------------------------------------------------


@needs_pdflatex
def test_render_command_writes_a_pdf(tmp_path):
    result = run_render(SEED + ["--index-base", "1", "-o", str(tmp_path / "grads.pdf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grads.pdf").read_bytes().startswith(PDF_MAGIC)


@needs_pdflatex
def test_render_command_typesets_any_layer(tmp_path):
    result = run_render(["conv1d", "--input", "1,2,5", "--weight", "3,2,2", "--stride", "2",
                            "--reduction", "mean", "-o", str(tmp_path / "g.pdf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.pdf").read_bytes().startswith(PDF_MAGIC)


@needs_pdflatex
@needs_pdftoppm
def test_render_command_writes_a_png_of_the_first_page(tmp_path):
    from symconv.cli.app import SymconvGroup
    from symconv.cli.render import render

    result = CliRunner().invoke(SymconvGroup(commands={"render": render}),
                                ["render"] + SEED + ["-o", str(tmp_path / "grads.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grads.png").read_bytes().startswith(PNG_MAGIC)
    assert "grads.png shows page 1 of 2; -o FILE.pdf has them all" in result.output


@pytest.mark.parametrize("output, tools, fragment", [
    ("g.pdf", ("pdflatex",), "render: pdflatex is not installed; expected it on PATH "
                             "(Debian/Ubuntu: apt-get install texlive-latex-base texlive-latex-recommended)"),
    ("g.png", ("pdftoppm",), "render: pdftoppm is not installed; expected it on PATH "
                             "(Debian/Ubuntu: apt-get install poppler-utils)"),
])
def test_render_command_without_the_tools_fails_in_one_line(monkeypatch, tmp_path, output, tools, fragment):
    from symconv.cli.app import SymconvGroup
    from symconv.cli.render import render

    hide(monkeypatch, *tools)
    result = CliRunner().invoke(SymconvGroup(commands={"render": render}),
                                ["render"] + SEED + ["-o", str(tmp_path / output)])
    assert result.exit_code == 2
    assert result.output == f"Error: {fragment}\n"
    assert not (tmp_path / output).exists()


@pytest.mark.parametrize("args, fragment", [
    (SEED + ["-o", "grads.tex"], "got 'grads.tex', expected a file name ending in .pdf or .png"),
    (SEED + ["-o", "/no/such/dir/g.pdf"], "expected a file in an existing directory"),
    (SEED, "Missing option '-o'"),
    (["conv2d", "--input", "1,1,4,4", "--weight", "1,1,2", "-o", "g.pdf"], "weight: got '1,1,2'"),
])
def test_render_command_refuses_bad_options_with_exit_2(args, fragment):
    result = run_render(args)
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())


# -- every form, every layer, and the index formulas ---------------------------------


def run_in_group(args):
    from symconv.cli.app import SymconvGroup
    from symconv.cli.render import render

    return CliRunner().invoke(SymconvGroup(commands={"render": render}), ["render"] + args)


FORMS = {
    "element": SEED,
    "operator": SEED + ["--form", "operator"],
    "matrix": SEED + ["--form", "matrix", "--index-base", "1"],
    "derive-said": ["derive"] + SEED + ["--form", "matrix"],
    "options-first": ["-o", "{out}", "--form", "operator"] + SEED,
    "formula-conv1d": ["formula", "conv1d"],
    "formula-conv2d": ["formula", "conv2d"],
    "formula-maxpool2d": ["formula", "maxpool2d"],
    "formula-avgpool2d": ["formula", "avgpool2d"],
    "formula-maxpool1d": ["formula", "maxpool1d"],
    "formula-avgpool1d": ["formula", "avgpool1d"],
}


def with_output(args, path):
    args = [str(path) if a == "{out}" else a for a in args]
    return args if str(path) in args else args + ["-o", str(path)]


@needs_pdflatex
@pytest.mark.parametrize("name", sorted(FORMS))
def test_render_command_typesets_each_form_to_pdf(tmp_path, name):
    result = run_in_group(with_output(FORMS[name], tmp_path / "d.pdf"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d.pdf").read_bytes().startswith(PDF_MAGIC)


@needs_pdflatex
@needs_pdftoppm
@pytest.mark.parametrize("name", ["element", "operator", "matrix", "formula-conv2d"])
def test_render_command_typesets_each_form_to_png(tmp_path, name):
    result = run_in_group(with_output(FORMS[name], tmp_path / "d.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d.png").read_bytes().startswith(PNG_MAGIC)


@needs_pdflatex
@needs_pdftoppm
def test_a_png_is_cut_to_its_content(tmp_path):
    """The matrix pictures of the seeds' layer: a few pixels of white around them, not a page of it."""
    image = pytest.importorskip("PIL.Image")
    result = run_in_group(SEED + ["--form", "matrix", "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 0, result.output
    with image.open(tmp_path / "m.png") as png:
        pixels = np.asarray(png.convert("L"))
    height, width = pixels.shape
    a4 = (11.69 * pdf.PNG_DPI, 8.27 * pdf.PNG_DPI)  # inches times dots per inch
    assert height < a4[0] / 2 and width < a4[1] and height * width < a4[0] * a4[1] / 3
    ink = pixels < 255
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    margins = (rows[0], columns[0], height - 1 - rows[-1], width - 1 - columns[-1])
    assert all(abs(m - pdf.PNG_MARGIN) <= 1 for m in margins), margins  # ink on every side, near the edge


def test_the_content_box_keeps_a_margin_inside_the_page():
    page = np.full((50, 40), 255, dtype=np.uint8)
    assert pdf.content_box(page, 3) == (0, 0, 40, 50)  # blank: the whole page
    page[0:5, 30:40] = 0  # ink at the top right corner: the margin stops at the page's edge
    page[20, 10] = 254
    assert pdf.content_box(page, 3) == (7, 0, 33, 24)


def test_render_formula_typesets_what_formula_prints(monkeypatch, tmp_path):
    from symconv.printing.documents import formula_document

    typeset = []
    monkeypatch.setattr(pdf, "compile_latex", lambda text: typeset.append(text) or pdf.Pdf(b"%PDF-1.5", 1))
    hide(monkeypatch)  # every tool "present"; nothing runs
    result = run_in_group(["formula", "maxpool2d", "-o", str(tmp_path / "f.pdf")])
    assert result.exit_code == 0, result.output
    assert typeset == [formula_document("maxpool2d", "latex", standalone=True)]


@pytest.mark.parametrize("options", [["--index-base", "1"], ["--groups"], ["--groups", "--index-base", "1"]],
                         ids=["base1", "groups", "groups-base1"])
def test_render_formula_takes_formulas_index_base_and_groups(monkeypatch, tmp_path, options):
    from symconv.cli.app import cli

    expected = CliRunner().invoke(cli, ["formula", "conv1d", "--standalone"] + options).output
    typeset = []
    monkeypatch.setattr(pdf, "compile_latex", lambda text: typeset.append(text) or pdf.Pdf(b"%PDF-1.5", 1))
    hide(monkeypatch)
    result = run_in_group(["formula", "conv1d", *options, "-o", str(tmp_path / "f.pdf")])
    assert result.exit_code == 0, result.output
    assert typeset == [expected]
    assert expected != CliRunner().invoke(cli, ["formula", "conv1d", "--standalone"]).output  # the option mattered


def test_render_formula_refuses_groups_for_a_pool_before_typesetting(monkeypatch, tmp_path):
    typeset = []
    monkeypatch.setattr(pdf, "compile_latex", lambda text: typeset.append(text) or pdf.Pdf(b"%PDF-1.5", 1))
    hide(monkeypatch)
    result = run_in_group(["formula", "maxpool1d", "--groups", "-o", str(tmp_path / "f.pdf")])
    assert result.exit_code == 2 and "expected it only for conv1d, conv2d" in result.output
    assert typeset == [] and not (tmp_path / "f.pdf").exists()


@pytest.mark.parametrize("form, module", [("operator", "symconv.formula.operators"), ("matrix", "symconv.formula.matrix")])
def test_render_form_typesets_what_derive_form_prints(monkeypatch, tmp_path, form, module):
    from symconv.cli.app import cli

    expected = CliRunner().invoke(cli, ["derive"] + SEED + ["--form", form, "--standalone"]).output
    typeset = []
    monkeypatch.setattr(pdf, "compile_latex", lambda text: typeset.append(text) or pdf.Pdf(b"%PDF-1.5", 1))
    hide(monkeypatch)
    result = run_in_group(SEED + ["--form", form, "-o", str(tmp_path / "f.pdf")])
    assert result.exit_code == 0, result.output
    assert typeset == [expected]


LAYERS = {
    "maxpool2d-ceil": ["maxpool2d", "--input", "1,1,5,5", "--kernel", "2", "--ceil-mode", "--index-base", "1"],
    "maxpool1d": ["maxpool1d", "--input", "1,2,5", "--kernel", "3", "--stride", "1", "--padding", "1"],
    "avgpool1d": ["avgpool1d", "--input", "1,1,5", "--kernel", "2", "--no-count-include-pad"],
    "avgpool2d": ["avgpool2d", "--input", "1,1,4,4", "--kernel", "2"],
    "relu": ["relu", "--input", "1,1,3,3"],
    "leaky_relu": ["leaky_relu", "--input", "1,1,4", "--negative-slope", "1/10"],
    "stack": ["stack", "--input", "1,1,4,4", "--layers",
              "conv2d(weight=1,1,3,3, padding=1) | leaky_relu | maxpool2d(kernel=2)"],
}


@needs_pdflatex
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_render_command_typesets_every_kind_of_layer(tmp_path, name):
    result = run_in_group(LAYERS[name] + ["-o", str(tmp_path / "g.pdf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.pdf").read_bytes().startswith(PDF_MAGIC)


@pytest.mark.parametrize("args, fragment", [
    (["maxpool2d", "--input", "1,1,4,4", "--kernel", "2", "--form", "matrix", "-o", "g.pdf"],
     "Invalid value for '--form': got 'matrix' for maxpool2d, expected it only for conv1d, conv2d, "
     "conv_transpose1d and conv_transpose2d"),
    (["formula", "relu", "-o", "f.pdf"], "Invalid value for 'LAYER': 'relu' is not one of 'conv1d', 'conv2d', "
                                        "'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'maxpool1d', 'maxpool2d', "
                                        "'avgpool1d', 'avgpool2d'"),
    (["formula", "conv2d", "-o", "f.tex"], "got 'f.tex', expected a file name ending in .pdf or .png"),
    (["formula", "conv2d"], "Missing option '-o'"),
    (SEED + ["--form", "formula", "-o", "g.pdf"], "'formula' is not one of 'element', 'operator', 'matrix'"),
    ([], "Missing argument 'LAYER'"),
], ids=["form-for-a-pool", "formula-layer", "formula-suffix", "formula-no-output", "form-formula", "nothing"])
def test_render_command_refuses_with_one_line_and_exit_2(args, fragment):
    result = run_in_group(args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert fragment in result.output


@pytest.mark.parametrize("args", [["formula", "conv2d"], SEED + ["--form", "matrix"]], ids=["formula", "matrix"])
def test_render_without_pdflatex_names_both_packages(monkeypatch, tmp_path, args):
    hide(monkeypatch, "pdflatex")
    result = run_in_group(args + ["-o", str(tmp_path / "f.pdf")])
    assert result.exit_code == 2
    assert result.output == ("Error: render: pdflatex is not installed; expected it on PATH "
                             "(Debian/Ubuntu: apt-get install texlive-latex-base texlive-latex-recommended)\n")


def test_render_help_names_both_commands_and_the_packages():
    result = run_in_group(["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "derive Typeset the equations derive prints for LAYER." in text
    assert "formula Typeset the index formulas of LAYER, every size a symbol." in text
    assert "apt-get install texlive-latex-base texlive-latex-recommended" in text
