"""The ``symconv plot`` and ``symconv render`` commands, for the main group to add.

Both take the layer options of ``derive`` (from :mod:`symconv.cli.app`), check
everything they can before deriving, and write one file chosen by ``-o``:
its extension picks the format. ``render`` also typesets the index formulas
of ``symconv formula``: it takes the words of either command
(``render [derive] LAYER ...`` or ``render formula LAYER``). Every refusal
(a :class:`click.BadParameter` here, a :class:`SymconvError` from the
library) is a usage error: one line and exit 2 in the main group, exit 2 on
its own.

    symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 1,1 -o routing.png
    symconv plot maxpool2d --input 1,1,4,4 --kernel 2 --kind routing -o maxpool.png
    symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf
    symconv render formula conv2d -o formulas.pdf

>>> from click.testing import CliRunner
>>> CliRunner().invoke(plot, ["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", "j.gif"]).exit_code
2
"""

from __future__ import annotations

import functools
import os
import re
from fractions import Fraction
from pathlib import Path

import click

from symconv.cli.app import _layer_options, _spec_from_options
from symconv.cli.formula import LAYERS as FORMULA_LAYERS
from symconv.errors import SymconvError
from symconv.names import LAYER_KINDS
from symconv.names import CONV_KINDS
from symconv.spec.size import check_size
from symconv.spec.values import parse_ints

# Pictures are drawn for convolutions and max pooling; any layer can be typeset.
_PICTURE_LAYER = click.argument(
    "layer", type=click.Choice(sorted(CONV_KINDS) + ["maxpool1d", "maxpool2d"]), metavar="LAYER"
)
_ANY_LAYER = click.argument("layer", type=click.Choice(LAYER_KINDS + ("stack",)), metavar="LAYER")
#: symconv.plot.jacobian.PICTURE_FORMATS, without importing NumPy before a refusal.
PICTURE_SUFFIXES = (".png", ".svg")
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


def read_values(source: str, spec, seed: int | None):
    """``--values`` as an array of x and a note for the picture's title.

    ``ties`` or ``distinct`` are generated with ``seed`` (0 when not given;
    :func:`symconv.plot.routing.pool_values`); otherwise ``source`` is numbers
    separated by commas or spaces (decimals or ``p/q``), or the name of a
    ``.npy`` file (read without pickles) or a text file of numbers (``#``
    starts a comment). Numbers fill x in row-major order; each is read by
    :class:`fractions.Fraction`, so nothing is evaluated as code.

    >>> from symconv.spec.pool import pool_spec
    >>> values, note = read_values("3, 1, 1/2, 3", pool_spec("maxpool1d", (1, 1, 4), kernel=2), None)
    >>> values.tolist(), note
    ([[[3.0, 1.0, 0.5, 3.0]]], 'as given')
    """
    import numpy as np

    from symconv.plot.routing import VALUE_KINDS, as_values, pool_values

    if source in VALUE_KINDS:
        seed = 0 if seed is None else seed
        return pool_values(spec, source, seed), f"{source}, seed {seed}"
    if seed is not None:
        raise click.BadParameter(f"got --seed with --values {source!r}, expected it only with ties or distinct",
                                 param_hint="'--seed'")
    if os.path.isfile(source):
        name = os.path.basename(source)
        if source.lower().endswith(".npy"):
            try:
                array = np.load(source, allow_pickle=False)
            except (OSError, ValueError):  # not an array file, or one of Python objects (pickles)
                raise SymconvError(f"values: got {source!r}, expected a .npy file of plain numbers "
                                   "(read without pickles, so arrays of Python objects are refused)") from None
            if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
                raise SymconvError(f"values: got {source!r} holding {array.dtype}, expected real numbers")
        else:
            try:
                with open(source, encoding="utf-8") as handle:
                    text = " ".join(line.split("#", 1)[0] for line in handle)
            except (OSError, UnicodeDecodeError) as error:
                raise SymconvError(f"values: got {source!r}, expected a text file of numbers ({error})") from None
            array = _numbers(text, repr(source))
        return as_values(spec, array, repr(source)), f"from {name}"
    if re.fullmatch(r"[\d\s,;.+\-/eE]+", source):
        return as_values(spec, _numbers(source, "--values"), "--values"), "as given"
    raise click.BadParameter(
        f"got {source!r}, expected ties, distinct, numbers such as 1,5,2,2 (row-major), "
        "or an existing .npy or text file", param_hint="'--values'",
    )


def _numbers(text, source):
    numbers = []
    for token in re.split(r"[,;\s]+", text.strip()):
        if token:
            try:
                numbers.append(float(Fraction(token)))
            except (ValueError, ZeroDivisionError):
                raise SymconvError(f"values: got {token!r} in {source}, expected numbers such as 2, -0.5 or 1/3") from None
    return numbers


def _refuse(layer, reason, **given):
    """A BadParameter for the first option given that ``layer``'s picture does not take."""
    for name, value in given.items():
        if value is not None:
            option = "--" + name
            raise click.BadParameter(f"got {option} for {layer}, expected {reason}", param_hint=f"'{option}'")


def _conv_at(spec, kind, at_text, of, base):
    """``--at`` as a 0-based index (routing), after checking what --kind allows."""
    from symconv.plot.jacobian import check_jacobian_size

    if kind == "jacobian":
        for name, value in (("--at", at_text), ("--of", of)):
            if value is not None:
                raise click.BadParameter(f"got {name} with --kind jacobian, expected --kind routing", param_hint=f"'{name}'")
        check_jacobian_size(spec)
        return None
    tensor = (of or "dx")[1:]
    shape = spec.input if tensor == "x" else spec.weight
    if at_text is None:
        example = ",".join([str(base)] * (len(shape) - 2))
        raise click.BadParameter(f"missing, expected an element of {tensor} with --kind routing, e.g. --at {example}",
                                 param_hint="'--at'")
    return parse_at(at_text, shape, tensor, base)


@click.command()
@_PICTURE_LAYER
@_layer_options
@click.option("--kind", type=click.Choice(["jacobian", "routing"]), default="jacobian", show_default=True,
              help="jacobian: sparsity of dy/dx (and dy/dw); routing: what feeds one gradient entry, "
                   "or for max pooling where every dy goes.")
@click.option("--at", "at_text", metavar="I,J|N,C,I,J",
              help="conv, with --kind routing: the element of x (or of w with --of dw) to trace.")
@click.option("--of", "of", type=click.Choice(["dx", "dw"]), default=None,
              help="conv, with --kind routing: trace an entry of dx (default) or dw.")
@click.option("--values", "values", metavar="ties|distinct|NUMBERS|FILE",
              help="maxpool: the x that decides the winners: ties (seeded integers 0-4, some windows tied; "
                   "the default), distinct (no ties), numbers such as 1,5,2,2 in row-major order, "
                   "or a .npy or text file of them.")
@click.option("--seed", type=click.IntRange(min=0), help="maxpool: seed of --values ties or distinct [0].")
@_INDEX_BASE
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Picture to write: .png or .svg.")
@_usage_errors
def plot(layer, kind, at_text, of, values, seed, index_base, output, max_terms, reduction, **options):
    """Draw a picture of the derivation of LAYER (needs matplotlib).

    LAYER is conv1d, conv2d, maxpool1d or maxpool2d. A max pool's gradient
    depends on the values of x, so its pictures are drawn at --values:
    routing shows which input receives each dy (the first maximum of its
    window, ties marked), jacobian shows dy/dx at those values.
    matplotlib comes with pip install "symconv[plot]".

    \b
    Examples (the seeds' 4x4 input and 2x2 filter):
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind jacobian -o jacobian.png
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 2,2 --index-base 1 -o routing.svg
      symconv plot maxpool2d --input 1,1,4,4 --kernel 2 --kind routing --index-base 1 -o maxpool.png
      symconv plot maxpool1d --input 1,1,6 --kernel 3 --stride 1 --values 1,3,3,2,0,2 --kind routing -o mp1.png
    """
    _output(output, PICTURE_SUFFIXES)
    spec = _spec_from_options(layer, **options)
    check_size(spec, max_terms)  # a layer too large to derive is refused before SymPy loads
    base = int(index_base)
    if layer in CONV_KINDS:
        _refuse(layer, "it only for maxpool1d and maxpool2d (a convolution's pictures need no values)",
                values=values, seed=seed)
        at = _conv_at(spec, kind, at_text, of, base)
    else:
        _refuse(layer, "it only for conv1d and conv2d (a max pool's routing shows every dy)", at=at_text, of=of)
        from symconv.plot.pool import check_pool_jacobian_size

        if kind == "jacobian":
            check_pool_jacobian_size(spec)
        x, note = read_values("ties" if values is None else values, spec, seed)
    try:
        import matplotlib  # noqa: F401  (checked here for a clear message)
    except ImportError:
        raise SymconvError('plot: matplotlib is not installed; expected it for pictures (pip install "symconv[plot]")') from None
    from symconv.engine.derive import derive

    derivation = derive(spec, max_terms=max_terms, reduction=reduction)
    if layer in CONV_KINDS:
        from symconv.plot.jacobian import plot_jacobian, plot_routing

        if kind == "jacobian":
            plot_jacobian(derivation, output, index_base=base)
        else:
            plot_routing(derivation, output, at, of=of or "dx", index_base=base)
    else:
        from symconv.plot.pool import plot_pool_jacobian, plot_pool_routing

        draw = plot_pool_jacobian if kind == "jacobian" else plot_pool_routing
        draw(derivation, x, output, index_base=base, note=note)


# -- render: derive or formula documents through pdflatex ----------------------


_DOCUMENT = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                         help="File to write: .pdf (every page) or .png (the first page).")


def _typeset(text: str, output: str, suffix: str) -> None:
    """Compile a standalone document and write the PDF, or its first page as a PNG."""
    from symconv.plot import pdf

    document = pdf.compile_latex(text)
    data = document.data if suffix == ".pdf" else pdf.pdf_to_png(document.data)
    Path(output).write_bytes(data)
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
    Examples (the seeds' 4x4 input with a 2x2 filter, numbered from 1):
      symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1 -o grads.pdf
      symconv render conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix -o matrices.png
      symconv render maxpool2d --input 1,1,4,4 --kernel 2 -o maxpool.pdf
      symconv render formula conv2d -o formulas.pdf
    """


@render.command("derive")
@_ANY_LAYER
@_layer_options
@click.option("--form", type=click.Choice(["element", "operator", "matrix"]), default="element", show_default=True,
              help="element: every entry; operator: dx, dw, db as (transposed) convolutions; "
                   "matrix: the seeds' bmatrix pictures (conv, small layers).")
@_INDEX_BASE
@_DOCUMENT
@_usage_errors
def render_derive(layer, form, index_base, output, max_terms, reduction, **options):
    """Typeset the equations derive prints for LAYER.

    LAYER is any layer derive takes: conv1d, conv2d, maxpool1d, maxpool2d,
    avgpool1d, avgpool2d, relu, leaky_relu, or stack (with --layers).
    """
    suffix = _output(output, (".pdf", ".png"))
    spec = _spec_from_options(layer, **options)
    if form != "element" and layer not in CONV_KINDS:
        raise click.BadParameter(f"got {form!r} for {layer}, expected it only for conv1d and conv2d",
                                 param_hint="'--form'")
    _require_tools(suffix)  # before deriving
    from symconv.cli.app import _derive

    derivation = _derive(spec, max_terms, reduction)
    if form == "element":
        from symconv.printing.formats import render as render_text

        text = render_text(derivation, "latex", int(index_base), standalone=True)
    else:
        from symconv.cli import formula as cli_forms

        document = cli_forms.operator_document if form == "operator" else cli_forms.matrix_document
        text = document(derivation, "latex", int(index_base), True)
    _typeset(text, output, suffix)


@render.command("formula")
@click.argument("layer", type=click.Choice(FORMULA_LAYERS), metavar="LAYER")
@_DOCUMENT
@_usage_errors
def render_formula(layer, output):
    """Typeset the index formulas of LAYER, every size a symbol.

    LAYER is conv1d, conv2d, maxpool2d or avgpool2d, as for symconv formula.
    """
    suffix = _output(output, (".pdf", ".png"))
    _require_tools(suffix)
    from symconv.cli.formula import formula_document

    _typeset(formula_document(layer, "latex", standalone=True), output, suffix)
