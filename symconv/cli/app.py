"""The ``symconv`` command: parse, call one library function, echo.

Every refusal is one line on stderr, ``Error: <parameter>: got <value>,
expected <what>``, with exit status 2 and no traceback. User strings are
only ever split and read as integers: nothing is evaluated as code.

SymPy is imported inside the commands that need it, and only after the size
guard (:func:`symconv.spec.size.check_size`), so ``--help``, ``--version`` and
every refusal return at once.
"""

from __future__ import annotations

import os
import sys

import click

from symconv import __version__
from symconv.errors import SymconvError
from symconv.names import LAYER_KINDS
from symconv.spec.size import DEFAULT_MAX_TERMS, check_size
from symconv.spec.values import MAX_INTEGER, parse_ints

FORMATS = ("latex", "markdown", "text", "json")  # symconv.printing.formats.FORMATS, without importing SymPy

#: Measured end-to-end speed (JSON or LaTeX of a conv2d layer, 2-core machine),
#: used to decide before starting whether a job will take over two seconds.
TERMS_PER_SECOND = 600_000


class SymconvGroup(click.Group):
    """A group whose errors are a single line, usage text left out.

    Commands kept in their own modules (they reuse this module's options)
    are imported only when named, which also keeps start-up fast.
    """

    LAZY = {"formula": "symconv.cli.formula", "plot": "symconv.cli.extra", "render": "symconv.cli.extra"}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            try:
                module = importlib.import_module(self.LAZY[name])
            except ImportError:
                return None
            return getattr(module, name)
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.ClickException, SymconvError) as error:
            if not standalone_mode:
                raise
            message = error.format_message() if isinstance(error, click.ClickException) else str(error)
            # Some click messages list choices on several lines: keep one.
            click.echo("Error: " + " ".join(message.split()), err=True)
            sys.exit(getattr(error, "exit_code", 2))
        except click.exceptions.Abort:
            if not standalone_mode:
                raise
            click.echo("Aborted!", err=True)
            sys.exit(1)
        if standalone_mode:
            sys.exit(code or 0)
        return code


def _layer_options(function):
    """The options every layer command shares, in the order --help lists them.

    Values stay text (None when not given) until :func:`symconv.spec.options.build_spec`
    reads them, so one reader serves the CLI and the stack syntax alike.
    """
    options = [
        click.option("--input", "input_shape", required=True, metavar="N,C,H,W",
                     help="Input shape: N,C,L (1-D) or N,C,H,W (2-D)."),
        click.option("--weight", metavar="F,Cg,KH,KW",
                     help="conv: weight shape F,C/groups,K or F,C/groups,KH,KW."),
        click.option("--kernel", metavar="K[,K]", help="pool: window size, one value or one per axis."),
        click.option("--stride", metavar="S[,S]",
                     help="Stride, one value or one per axis [conv: 1; pool: the kernel]."),
        click.option("--padding", metavar="P[,P]|same|valid",
                     help="Padding per side, one value or one per axis; conv also 'same' / 'valid' [0]."),
        click.option("--dilation", metavar="D[,D]", help="conv, maxpool: dilation, one value or one per axis [1]."),
        click.option("--groups", metavar="G", help="conv: blocked connections; C and F divisible by it [1]."),
        click.option("--no-bias", is_flag=True, help="conv: leave out the bias b (and db)."),
        click.option("--ceil-mode", is_flag=True, help="pool: round the output size up (PyTorch's ceil_mode)."),
        click.option("--no-count-include-pad", is_flag=True,
                     help="avgpool: divide by the in-bounds count, not the padded window."),
        click.option("--divisor-override", metavar="D", help="avgpool: divide every window by D."),
        click.option("--negative-slope", metavar="A", help="leaky_relu: slope below 0, e.g. 0.01 or 1/100 [0.01]."),
        click.option("--layers", metavar="SPEC|FILE.json",
                     help="stack: layers such as \"conv2d(weight=4,3,3,3, padding=1) | relu | maxpool2d(kernel=2)\", "
                          "or a JSON file {\"layers\": [{\"kind\": \"relu\"}, ...]}."),
        click.option("--reduction", type=click.Choice(["sum", "mean"]), default="sum", show_default=True,
                     help="Loss L = sum(dy*y), or its mean over the batch (divides gradients by N)."),
        click.option("--max-terms", default=DEFAULT_MAX_TERMS, show_default=True,
                     type=click.IntRange(min=1, max=MAX_INTEGER),
                     help="Refuse layers whose derivation has more terms (or equations) than this."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _spec_from_options(layer, input_shape, reduction="sum", layers=None, **options):
    """The validated spec of LAYER (or of a stack) from the command line's option text."""
    from symconv.spec.options import build_spec

    if layer != "stack":
        if layers is not None:
            raise SymconvError(f"layers: got {layers!r}, expected --layers only with the layer 'stack'")
        return build_spec(layer, input_shape, **options)
    from symconv.spec.stack import parse_layers, stack_spec

    given = [name.replace("_", "-") for name, value in options.items() if value not in (None, False)]
    if given:
        raise SymconvError(f"{given[0]}: got a value for stack, expected the layers' options inside --layers")
    if layers is None:
        raise SymconvError("layers: got nothing, expected --layers \"conv2d(weight=...) | relu | ...\" for stack")
    return stack_spec(parse_ints(input_shape, "input", "N,C,L or N,C,H,W"), parse_layers(layers))


def _derive(spec, max_terms, reduction):
    """The derivation of a layer or a stack (SymPy is imported here, not at start-up).

    The size guard runs first, so that refusing a layer never waits for SymPy.
    """
    check_size(spec, max_terms)
    if spec.is_stack:
        from symconv.engine.derive import derive_stack

        return derive_stack(spec, max_terms=max_terms, reduction=reduction)
    from symconv.engine.derive import derive as derive_layer

    return derive_layer(spec, max_terms=max_terms, reduction=reduction)


class _progress:
    """A progress bar on stderr for jobs estimated over two seconds, on a terminal only.

    Used as ``with _progress(spec) as step: step.total(n); ... step()``;
    elsewhere (pipes, files, tests) nothing is printed.
    """

    def __init__(self, spec):
        seconds = spec.estimate_terms() / TERMS_PER_SECOND
        self.show = seconds > 2 and sys.stderr.isatty()
        self.bar = None

    def __enter__(self):
        return self

    def total(self, steps: int):
        if self.show:
            self.bar = click.progressbar(length=steps, label="symconv: deriving", file=sys.stderr).__enter__()

    def __call__(self):
        if self.bar is not None:
            self.bar.update(1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


_LAYER = click.argument("layer", type=click.Choice(LAYER_KINDS + ("stack",)), metavar="LAYER")


@click.group(cls=SymconvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symconv")
def cli():
    """Derive and prove the gradients of convolution and pooling layers.

    \b
    Examples:
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2
      symconv verify conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1
    """


@cli.command()
@_LAYER
@_layer_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="latex", show_default=True,
              help="Output format; json is 0-based whatever --index-base says.")
@click.option("--index-base", type=click.Choice(["0", "1"]), default="0", show_default=True,
              help="Number elements from 0 (x_{00}) or 1 (x_{11}).")
@click.option("--standalone", is_flag=True,
              help="With --format latex: a complete document for pdflatex.")
@click.option("--form", type=click.Choice(["element", "operator", "matrix"]), default="element",
              show_default=True,
              help="element: every entry; operator: dx, dw, db as (transposed) convolutions; "
                   "matrix: the seeds' bmatrix pictures (conv, small layers).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def derive(layer, fmt, index_base, standalone, output, max_terms, reduction, form, **options):
    """Derive the forward and the gradients of LAYER element by element.

    LAYER is conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d,
    relu, leaky_relu, or stack (with --layers). A convolution gets dx, dw
    and db; the others dx; a stack every tensor, layer by layer.

    \b
    Examples (the seeds' 4x4 input with a 2x2 filter, numbered from 1):
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1
      symconv derive maxpool2d --input 1,1,4,4 --kernel 2 --index-base 1
      symconv derive stack --input 1,1,6,6 --layers "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix --index-base 1
    """
    spec = _spec_from_options(layer, **options)
    if output and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise click.BadParameter(
            f"got {output!r}, expected a file in an existing directory", param_hint="'--output'"
        )
    if standalone and fmt != "latex":
        raise click.BadParameter(
            f"got --standalone with --format {fmt}, expected --format latex", param_hint="'--standalone'"
        )
    if form != "element" and not layer.startswith("conv"):
        raise click.BadParameter(f"got {form!r} for {layer}, expected it only for conv1d and conv2d",
                                 param_hint="'--form'")
    with _progress(spec) as step:
        derivation = _derive(spec, max_terms, reduction)  # refuses a large layer before importing SymPy
        from symconv.printing.formats import render
        from symconv.printing.present import element_sections

        step.total(1 + len(list(element_sections(derivation))))  # derive, then each section
        step()
        if form == "element":
            text = render(derivation, fmt, int(index_base), standalone, progress=step)
        else:
            from symconv.cli import formula as cli_forms

            document = cli_forms.operator_document if form == "operator" else cli_forms.matrix_document
            text = document(derivation, fmt, int(index_base), standalone)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@_LAYER
@_layer_options
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the random test values (NumPy's, so not negative).")
def verify(layer, seed, max_terms, reduction, **options):
    """Derive LAYER and prove the result three independent ways.

    Compares the derived y, dx, dw, db with the NumPy reference kernels and
    with central finite differences at random float64 values, and checks
    exact equality in rational arithmetic. Exits 1 on any mismatch.

    For max pooling and ReLU, random inputs are kept far from ties and
    kinks for the finite differences, and ties (constant and 0/1 inputs) are
    checked exactly against the reference instead.

    \b
    Examples:
      symconv verify conv2d --input 1,3,8,8 --weight 4,3,3,3 --stride 2 --padding 1
      symconv verify maxpool2d --input 2,3,7,7 --kernel 3 --stride 2 --padding 1
    """
    spec = _spec_from_options(layer, **options)
    derivation = _derive(spec, max_terms, reduction)
    if spec.is_stack:
        from symconv.verify.stack import verify_stack as check
    else:
        from symconv.verify.layer import verify as check
    report = check(derivation, seed=seed)
    click.echo(report.table(), nl=False)
    if not report.passed:
        sys.exit(1)


def main():  # console-script entry point
    cli()
