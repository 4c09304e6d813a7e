r"""The ``symconv formula`` command, and the entry points of the other forms.

Beside the element-wise equations, symconv shows a layer three more ways:

* ``formula``: index formulas with symbolic sizes, derived from the forward
  (:mod:`symconv.formula.index`), printed as LaTeX, Markdown, text or JSON
  (:mod:`symconv.printing.formula_document`);
* ``operator``: dx, dw, db as a transposed convolution, a correlation and a
  sum, built explicitly and checked (:func:`operator_document`);
* ``matrix``: the seeds' bmatrix pictures of a small layer (:func:`matrix_document`).

Like :mod:`symconv.cli.app`, importing this module loads neither SymPy nor
NumPy: the work is imported inside the functions, so ``symconv --help``
stays instant once the command is registered.

>>> from click.testing import CliRunner
>>> print(CliRunner().invoke(formula, ["conv1d", "--format", "text"]).output.splitlines()[0])
conv1d: index formulas for every size
"""

from __future__ import annotations

import os

import click

LAYERS = ("conv1d", "conv2d", "maxpool2d", "avgpool2d")  # symconv.formula.index.LAYERS, without SymPy
FORMATS = ("latex", "markdown", "text", "json")  # symconv.printing.formula_document.FORMATS, without SymPy


def formula_document(layer: str, fmt: str = "latex", standalone: bool = False) -> str:
    """The index formulas of ``layer`` in one of :data:`FORMATS` (:func:`symconv.printing.formula_document.write_formulas`).

    >>> print(formula_document("conv1d", "text").splitlines()[6])
      L_o = floor((L + 2*P - D*(K - 1) - 1)/S) + 1
    """
    from symconv.formula.index import derive_formulas
    from symconv.printing.formula_document import write_formulas

    return write_formulas(derive_formulas(layer), fmt, standalone)


def operator_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """dx, dw and db of a derivation as operator identities (see :mod:`symconv.formula.operators`)."""
    from symconv.formula.operators import operator_document as document

    return document(derivation, fmt, index_base, standalone)


def matrix_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """The seeds' matrix pictures of a small derivation (see :mod:`symconv.formula.matrix`)."""
    from symconv.formula.matrix import matrix_document as document

    return document(derivation, fmt, index_base, standalone)


@click.command("formula")
@click.argument("layer", type=click.Choice(LAYERS), metavar="LAYER")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="latex", show_default=True,
              help="Output format; json holds SymPy expressions that parse_expr reads back.")
@click.option("--standalone", is_flag=True, help="With --format latex: a complete document for pdflatex.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def formula(layer, fmt, standalone, output):
    """Print LAYER's forward and gradients as index formulas, for every size.

    LAYER is conv1d, conv2d, maxpool2d or avgpool2d. Sizes, stride, padding
    and dilation stay symbols (N, C, H, W, F, KH, KW, SH, SW, PH, PW, DH, DW;
    for conv1d N, C, L, F, K, S, P, D) and the gradients are derived from the
    forward definition, with tightened summation bounds.

    \b
    Example:
      symconv formula conv2d --format markdown
    """
    if standalone and fmt != "latex":
        raise click.BadParameter(
            f"got --standalone with --format {fmt}, expected --format latex", param_hint="'--standalone'"
        )
    if output and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise click.BadParameter(f"got {output!r}, expected a file in an existing directory",
                                 param_hint="'--output'")
    text = formula_document(layer, fmt, standalone)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)
