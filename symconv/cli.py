"""The ``symconv`` command: parse, call one library function, echo.

Every refusal is one line on stderr, ``Error: <parameter>: got <value>,
expected <what>``, with exit status 2 and no traceback. User strings are
only ever split and read as integers: nothing is evaluated as code.

SymPy is imported inside the commands that need it, so ``--help`` and
``--version`` return at once.
"""

from __future__ import annotations

import os
import sys

import click

from symconv import __version__
from symconv.errors import SymconvError
from symconv.spec import CONV_KINDS, DEFAULT_MAX_TERMS, conv_spec, parse_ints

FORMATS = ("latex", "markdown", "text", "json")  # symconv.formats.FORMATS, without importing SymPy

#: Measured end-to-end speed (JSON or LaTeX of a conv2d layer, 2-core machine),
#: used to decide before starting whether a job will take over two seconds.
TERMS_PER_SECOND = 600_000


class SymconvGroup(click.Group):
    """A group whose errors are a single line, usage text left out."""

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
    """The options every layer command shares, in the order --help lists them."""
    options = [
        click.option("--input", "input_shape", required=True, metavar="N,C,H,W",
                     help="Input shape: N,C,L for conv1d, N,C,H,W for conv2d."),
        click.option("--weight", "weight_shape", required=True, metavar="F,Cg,KH,KW",
                     help="Weight shape: F,C/groups,K or F,C/groups,KH,KW."),
        click.option("--stride", default="1", show_default=True, metavar="S[,S]",
                     help="Stride, one value or one per spatial axis."),
        click.option("--padding", default="0", show_default=True, metavar="P[,P]|same|valid",
                     help="Zero padding per side, one value or one per axis, or 'same' / 'valid'."),
        click.option("--dilation", default="1", show_default=True, metavar="D[,D]",
                     help="Kernel dilation, one value or one per spatial axis."),
        click.option("--groups", default=1, show_default=True, type=int,
                     help="Blocked connections: C and F must both be divisible by it."),
        click.option("--no-bias", is_flag=True, help="Leave out the bias b (and db)."),
        click.option("--max-terms", default=DEFAULT_MAX_TERMS, show_default=True,
                     type=click.IntRange(min=1),
                     help="Refuse layers whose derivation has more terms than this."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _spec_from_options(layer, input_shape, weight_shape, stride, padding, dilation, groups, no_bias):
    ndim = CONV_KINDS[layer]
    axes = "one integer or " + ",".join(["S"] * ndim)
    if padding.strip().lower() in ("same", "valid"):
        pad = padding.strip().lower()
    else:
        pad = parse_ints(padding, "padding", "P or " + ",".join(["P"] * ndim) + ", or 'same' / 'valid'")
        pad = pad[0] if len(pad) == 1 else pad
    stride_values = parse_ints(stride, "stride", axes)
    dilation_values = parse_ints(dilation, "dilation", axes.replace("S", "D"))
    return conv_spec(
        layer,
        input=parse_ints(input_shape, "input", "N,C,L" if ndim == 1 else "N,C,H,W"),
        weight=parse_ints(weight_shape, "weight", "F,Cg,K" if ndim == 1 else "F,Cg,KH,KW"),
        stride=stride_values[0] if len(stride_values) == 1 else stride_values,
        padding=pad,
        dilation=dilation_values[0] if len(dilation_values) == 1 else dilation_values,
        groups=groups,
        bias=not no_bias,
    )


class _progress:
    """A progress bar on stderr for jobs estimated over two seconds, on a terminal only.

    Used as ``with _progress(spec, steps) as step: ... step()``; elsewhere
    (pipes, files, tests) ``step`` does nothing and nothing is printed.
    """

    def __init__(self, spec, steps: int):
        seconds = spec.estimate_terms() / TERMS_PER_SECOND
        self.bar = None
        if seconds > 2 and sys.stderr.isatty():
            self.bar = click.progressbar(length=steps, label="symconv: deriving", file=sys.stderr)

    def __enter__(self):
        if self.bar is None:
            return lambda: None
        bar = self.bar.__enter__()
        return lambda: bar.update(1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


_LAYER = click.argument("layer", type=click.Choice(sorted(CONV_KINDS)), metavar="LAYER")


@click.group(cls=SymconvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symconv")
def cli():
    """Derive and prove the gradients of convolution layers.

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
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def derive(layer, fmt, index_base, standalone, output, max_terms, **options):
    """Derive y, dx, dw and db of LAYER (conv1d or conv2d) element by element.

    \b
    Example (the seeds' 4x4 input with a 2x2 filter, numbered from 1):
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1
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
    from symconv.engine import derive as derive_layer
    from symconv.formats import render

    sections = 1 + (3 if spec.bias else 2)  # forward, dx, dw (, db)
    with _progress(spec, steps=1 + sections) as step:
        derivation = derive_layer(spec, max_terms=max_terms)
        step()
        text = render(derivation, fmt, int(index_base), standalone, progress=step)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@_LAYER
@_layer_options
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random test values.")
def verify(layer, seed, max_terms, **options):
    """Derive LAYER and prove the result three independent ways.

    Compares the derived y, dx, dw, db with the NumPy reference kernels and
    with central finite differences at random float64 values, and checks
    exact equality in rational arithmetic. Exits 1 on any mismatch.

    \b
    Example:
      symconv verify conv2d --input 1,3,8,8 --weight 4,3,3,3 --stride 2 --padding 1
    """
    spec = _spec_from_options(layer, **options)
    from symconv.engine import derive as derive_layer
    from symconv.verify import verify as verify_derivation

    report = verify_derivation(derive_layer(spec, max_terms=max_terms), seed=seed)
    click.echo(report.table(), nl=False)
    if not report.passed:
        sys.exit(1)


def main():  # console-script entry point
    cli()
