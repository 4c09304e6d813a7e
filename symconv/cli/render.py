"""``symconv render``: typeset a derivation or index formulas with pdflatex into a PDF or a PNG.

It takes the words of ``derive`` or ``formula`` (``render [derive] LAYER ...``
or ``render formula LAYER``), checks everything it can before deriving, and
the extension of ``-o`` picks the format. Every refusal is a usage error:
one line and exit 2.

    symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf
    symconv render formula conv2d -o formulas.pdf
"""

from __future__ import annotations

import click

from symconv.cli.files import write_file
from symconv.cli.formula import FORMULA_INDEX_BASE, FORMULA_LAYER, GROUPS, formula_text
from symconv.cli.options import (
    ANY_LAYER,
    FORM,
    LOSS,
    check_form,
    check_output,
    layer_options,
    loss_from_options,
    usage_errors,
)
from symconv.cli.plot import INDEX_BASE
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size

DOCUMENT_SUFFIXES = (".pdf", ".png")

_DOCUMENT = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                         help="File to write: .pdf (every page) or .png (the first page).")


def _typeset(text: str, output: str, suffix: str) -> None:
    """Compile a standalone document and write the PDF, or its first page as a PNG."""
    from symconv.plot import pdf

    document = pdf.compile_latex(text)
    data = document.data if suffix == ".pdf" else pdf.pdf_to_png(document.data)
    write_file(output, data, "'-o'")  # all at once: a failed run leaves an existing file alone
    if suffix == ".png" and document.pages > 1:
        click.echo(f"symconv: {output} shows page 1 of {document.pages}; -o FILE.pdf has them all", err=True)


def _require_tools(suffix: str) -> None:
    from symconv.plot import pdf

    pdf.require("pdflatex", *(("pdftoppm",) if suffix == ".png" else ()))


class _RenderGroup(click.Group):
    """``render derive ...`` and ``render formula ...``; anything else is read as derive.

    So ``symconv render conv2d --input ...`` keeps working, options first or last.
    """

    def parse_args(self, ctx, args):
        # No words at all: derive's own "Missing argument 'LAYER'", on one line.
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["derive"] + list(args)
        return super().parse_args(ctx, args)


@click.group(cls=_RenderGroup)
def render():
    """Typeset a derivation or index formulas with pdflatex into a PDF or a PNG.

    The same words as derive or formula, then -o FILE.pdf or -o FILE.png;
    "derive" may be left out.

    \b
    Needs pdflatex, and pdftoppm for PNG; on Debian or Ubuntu:
      apt-get install texlive-latex-base texlive-latex-recommended
      apt-get install poppler-utils

    \b
    Examples (a 4x4 input with a 2x2 filter, numbered from 1):
      symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf
      symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix -o matrices.png
      symconv render maxpool2d --input 1,1,4,4 --kernel 2 -o maxpool.pdf
      symconv render formula conv2d -o formulas.pdf
    """


@render.command("derive")
@ANY_LAYER
@layer_options
@LOSS
@FORM
@INDEX_BASE
@_DOCUMENT
@usage_errors
def render_derive(layer, form, index_base, output, max_terms, reduction, loss, **options):
    """Typeset the equations derive prints for LAYER.

    LAYER is any layer derive takes: a convolution (conv1d, conv2d, conv3d), a
    transposed one (conv_transpose1d, conv_transpose2d, conv_transpose3d), a
    pool (max, average, adaptive; 1-D to 3-D), an activation (relu,
    leaky_relu, sigmoid, tanh), linear, flatten, a batch norm, or stack (with
    --layers).
    """
    suffix = check_output(output, DOCUMENT_SUFFIXES, "'-o'")
    spec = spec_from_options(layer, **options)
    loss = loss_from_options(spec, loss, reduction, form)
    check_form(form, layer)
    _require_tools(suffix)  # before deriving
    check_size(spec, max_terms, loss)
    from symconv.engine.derive import derive
    from symconv.printing.documents import render as render_text

    from symconv.cli.derive import _progress

    with _progress(spec) as step:  # the derivation and its typesetting, on a terminal only
        step.total(2)
        derivation = derive(spec, max_terms=None, loss=loss)
        step()
        text = render_text(derivation, "latex", int(index_base), True, form)
        step()
    _typeset(text, output, suffix)


@render.command("formula")
@FORMULA_LAYER
@FORMULA_INDEX_BASE
@GROUPS
@_DOCUMENT
@usage_errors
def render_formula(layer, index_base, groups, output):
    """Typeset the index formulas of LAYER, every size a symbol.

    LAYER is any layer symconv formula takes, with its --index-base and --groups.
    """
    suffix = check_output(output, DOCUMENT_SUFFIXES, "'-o'")
    text = formula_text(layer, "latex", index_base, groups, standalone=True)  # refusals before the tools
    _require_tools(suffix)
    _typeset(text, output, suffix)
