"""The ``symconv plot`` and ``symconv render`` commands, for the main group to add.

Both take the same layer options as ``derive`` (from :mod:`symconv.cli`),
check everything they can before deriving, and write one file chosen by
``-o``: its extension picks the format. Every refusal (a
:class:`click.BadParameter` here, a :class:`SymconvError` from the library)
is a usage error: one line and exit 2 in the main group, exit 2 on its own.

    symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 1,1 -o routing.png
    symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf

>>> from click.testing import CliRunner
>>> CliRunner().invoke(plot, ["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", "j.gif"]).exit_code
2
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from symconv.cli import _layer_options, _spec_from_options
from symconv.errors import SymconvError
from symconv.options import LAYER_KINDS
from symconv.spec import CONV_KINDS, parse_ints

# Pictures are drawn for convolutions; any layer can be typeset.
_CONV_LAYER = click.argument("layer", type=click.Choice(sorted(CONV_KINDS)), metavar="LAYER")
_ANY_LAYER = click.argument("layer", type=click.Choice(LAYER_KINDS + ("stack",)), metavar="LAYER")
_INDEX_BASE = click.option(
    "--index-base", type=click.Choice(["0", "1"]), default="0", show_default=True,
    help="Number elements from 0 (x_{00}) or 1 (x_{11}), in --at and on the output.",
)


def _output(path: str, formats: tuple[str, ...]) -> str:
    """Check ``-o`` before any work: a known extension, in an existing directory."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise click.BadParameter(
            f"got {path!r}, expected a file name ending in {' or '.join(formats)}", param_hint="'-o'"
        )
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise click.BadParameter(f"got {path!r}, expected a file in an existing directory", param_hint="'-o'")
    return suffix


def _usage_errors(command):
    """Report a SymconvError as a usage error: one line and exit 2, in the main
    group (which treats both alike) and when a command is invoked on its own."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SymconvError as error:
            raise click.UsageError(str(error)) from None

    return wrapper


def parse_at(text: str, shape: tuple[int, ...], tensor: str, index_base: int) -> tuple[int, ...]:
    """``--at`` as a full 0-based index of ``tensor``.

    The spatial indices alone (``I,J``) are enough when the leading two axes
    (batch and channel, or filter and channel) have size 1.

    >>> parse_at("2,2", (1, 1, 4, 4), "x", 1)
    (0, 0, 1, 1)
    """
    spatial = len(shape) - 2
    names = {"x": ("N", "C"), "w": ("F", "C")}[tensor] + ("I", "J")[:spatial]
    full, short = ",".join(names), ",".join(names[2:])
    try:
        values = parse_ints(text, "--at", full)
    except SymconvError:
        raise click.BadParameter(f"got {text!r}, expected comma-separated integers {full}", param_hint="'--at'") from None
    if len(values) == spatial and shape[:2] == (1, 1):
        values = (index_base, index_base) + values
    if len(values) != len(shape):
        expected = f"{full} or {short}" if shape[:2] == (1, 1) else full
        raise click.BadParameter(
            f"got {text!r}, expected {expected} (an index of {tensor}, shape {','.join(map(str, shape))})",
            param_hint="'--at'",
        )
    index = tuple(v - index_base for v in values)
    if any(not 0 <= i < s for i, s in zip(index, shape)):
        raise click.BadParameter(
            f"got {text!r}, expected {index_base}-based indices inside {tensor} of shape "
            f"{','.join(map(str, shape))} (from {index_base} to size{'' if index_base else ' - 1'} per axis)",
            param_hint="'--at'",
        )
    return index


@click.command()
@_CONV_LAYER
@_layer_options
@click.option("--kind", type=click.Choice(["jacobian", "routing"]), default="jacobian", show_default=True,
              help="jacobian: sparsity of dy/dx and dy/dw; routing: what feeds one gradient entry.")
@click.option("--at", "at_text", metavar="I,J|N,C,I,J",
              help="With --kind routing: the element of x (or of w with --of dw) to trace.")
@click.option("--of", "of", type=click.Choice(["dx", "dw"]), default=None,
              help="With --kind routing: trace an entry of dx (default) or dw.")
@_INDEX_BASE
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Picture to write: .png or .svg.")
@_usage_errors
def plot(layer, kind, at_text, of, index_base, output, max_terms, reduction, **options):
    """Draw a picture of the derivation of LAYER, conv1d or conv2d (needs matplotlib).

    matplotlib comes with pip install "symconv[plot]".

    \b
    Examples (the seeds' 4x4 input and 2x2 filter):
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind jacobian -o jacobian.png
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 2,2 --index-base 1 -o routing.svg
    """
    from symconv.plot import PICTURE_FORMATS, check_jacobian_size

    _output(output, tuple(PICTURE_FORMATS))
    spec = _spec_from_options(layer, **options)
    base = int(index_base)
    if kind == "jacobian":
        for name, value in (("--at", at_text), ("--of", of)):
            if value is not None:
                raise click.BadParameter(f"got {name} with --kind jacobian, expected --kind routing", param_hint=f"'{name}'")
        check_jacobian_size(spec)
    else:
        of = of or "dx"
        tensor = of[1:]
        shape = spec.input if tensor == "x" else spec.weight
        if at_text is None:
            example = ",".join([str(base)] * (len(shape) - 2))
            raise click.BadParameter(f"missing, expected an element of {tensor} with --kind routing, e.g. --at {example}",
                                     param_hint="'--at'")
        at = parse_at(at_text, shape, tensor, base)
    try:
        import matplotlib  # noqa: F401  (checked here for a clear message)
    except ImportError:
        raise SymconvError('plot: matplotlib is not installed; expected it for pictures (pip install "symconv[plot]")') from None
    from symconv.engine import derive
    from symconv.plot import plot_jacobian, plot_routing

    derivation = derive(spec, max_terms=max_terms, reduction=reduction)
    if kind == "jacobian":
        plot_jacobian(derivation, output, index_base=base)
    else:
        plot_routing(derivation, output, at, of=of, index_base=base)


@click.command()
@_ANY_LAYER
@_layer_options
@_INDEX_BASE
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write: .pdf (every page) or .png (the first page).")
@_usage_errors
def render(layer, index_base, output, max_terms, reduction, **options):
    """Typeset the derivation of LAYER with pdflatex into a PDF or a PNG.

    Needs pdflatex (Debian: apt-get install texlive-latex-base
    texlive-latex-recommended), and pdftoppm for PNG (apt-get install
    poppler-utils).

    \b
    Example (the seeds' 4x4 input with a 2x2 filter, numbered from 1):
      symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf
    """
    from symconv import pdf

    suffix = _output(output, (".pdf", ".png"))
    spec = _spec_from_options(layer, **options)
    pdf.require("pdflatex", *(("pdftoppm",) if suffix == ".png" else ()))  # before deriving
    from symconv.cli import _derive
    from symconv.formats import render as render_text

    derivation = _derive(spec, max_terms, reduction)
    text = render_text(derivation, "latex", int(index_base), standalone=True)
    document = pdf.compile_latex(text)
    data = document.data if suffix == ".pdf" else pdf.pdf_to_png(document.data)
    Path(output).write_bytes(data)
    if suffix == ".png" and document.pages > 1:
        click.echo(f"symconv: {output} shows page 1 of {document.pages}; -o FILE.pdf has them all", err=True)

