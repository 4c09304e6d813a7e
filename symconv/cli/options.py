"""The options the commands share, each defined once, and the checks they share.

Values stay text (None when not given) until :func:`symconv.spec.command.spec_from_options`
reads them, so one reader serves the command line and the stack syntax alike.
Nothing here imports SymPy or NumPy: every refusal comes before they load.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from symconv.cli.files import check_writable, write_file
from symconv.errors import SymconvError
from symconv.names import CONV_KINDS, CONV_TRANSPOSE_KINDS, FORMATS, FORMS, LAYER_KINDS, LOSSES, PADDING_MODES, STACK
from symconv.spec.size import DEFAULT_MAX_TERMS
from symconv.spec.values import MAX_INTEGER

#: The LAYER argument of the commands that take any layer, or a stack.
ANY_LAYER = click.argument("layer", type=click.Choice(LAYER_KINDS + (STACK,)), metavar="LAYER")

_INPUT_HELP = "Input shape: N,C,L (1-D), N,C,H,W (2-D) or N,C,D,H,W (3-D); N,IN for linear."

_LAYER_OPTIONS = [
    click.option("--input", "input", required=True, metavar="N,C,H,W", help=_INPUT_HELP),
    click.option("--weight", metavar="F,Cg,KH,KW",
                 help="conv: weight shape F,C/groups,K, F,C/groups,KH,KW or F,C/groups,KD,KH,KW; "
                      "conv_transpose: C_in,C_out/groups then K per axis; linear: OUT,IN."),
    click.option("--kernel", metavar="K[,K]", help="pool: window size, one value or one per axis."),
    click.option("--stride", metavar="S[,S]",
                 help="Stride, one value or one per axis [conv: 1; pool: the kernel]."),
    click.option("--padding", metavar="P[,P]|same|valid",
                 help="Padding per side, one value or one per axis; conv also 'same' / 'valid' [0]."),
    click.option("--padding-mode", type=click.Choice(PADDING_MODES),
                 help="conv: what the padding holds, as torch.nn.Conv2d's padding_mode: zeros, or x's own entries "
                      "(reflect, replicate, circular), whose gradient flows back into x [zeros]."),
    click.option("--output-padding", metavar="OP[,OP]",
                 help="conv_transpose: positions added at the end of each axis, each smaller than its stride or "
                      "dilation [0]."),
    click.option("--dilation", metavar="D[,D]", help="conv, maxpool: dilation, one value or one per axis [1]."),
    click.option("--groups", metavar="G", help="conv: blocked connections; C and F divisible by it [1]."),
    click.option("--no-bias", is_flag=True, help="conv, linear: leave out the bias b (and db)."),
    click.option("--ceil-mode", is_flag=True, help="pool: round the output size up (PyTorch's ceil_mode)."),
    click.option("--no-count-include-pad", is_flag=True,
                 help="avgpool: divide by the in-bounds count, not the padded window."),
    click.option("--divisor-override", metavar="D", help="avgpool: divide every window by D."),
    click.option("--output-size", metavar="O[,O]",
                 help="adaptive pools: outputs per axis, one value or one per axis (1: global pooling)."),
    click.option("--negative-slope", metavar="A", help="leaky_relu: slope below 0, e.g. 0.01 or 1/100 [0.01]."),
    click.option("--eps", metavar="E", help="batchnorm: added to the variance, e.g. 1e-5 or 1/100000 [1e-5]."),
    click.option("--layers", metavar="SPEC|FILE.json",
                 help="stack: layers such as \"conv2d(weight=4,3,3,3, padding=1) | relu | maxpool2d(kernel=2)\", "
                      "or a JSON file {\"layers\": [{\"kind\": \"relu\"}, ...]}."),
    click.option("--reduction", metavar="sum|mean",
                 help="PyTorch's reduction of the loss: sum, or mean (--loss sum: over the batch N; mse: over "
                      "all elements; cross_entropy: over the batch) [sum for --loss sum, else mean]."),
    click.option("--max-terms", default=DEFAULT_MAX_TERMS, show_default=True,
                 type=click.IntRange(min=1, max=MAX_INTEGER),
                 help="Refuse layers whose derivation has more terms (or equations) than this."),
]


#: The name of each option above, as its command's keyword and :data:`symconv.spec.options.ACCEPTS` spell it.
_NAMES = ["input", "weight", "kernel", "stride", "padding", "padding_mode", "output_padding", "dilation", "groups",
          "no_bias", "ceil_mode", "no_count_include_pad", "divisor_override", "output_size", "negative_slope", "eps",
          "layers", "reduction", "max_terms"]


def layer_options(function=None, *, kinds=None, stack=True):
    """The options that say which layer, in the order --help lists them.

    With ``kinds``, only the options some of those kinds accept (a command
    shows only what it takes), ``--layers`` only with ``stack``.
    """
    if function is None:
        return lambda f: layer_options(f, kinds=kinds, stack=stack)
    from symconv.spec.options import ACCEPTS

    wanted = None if kinds is None else (
        {"input", "reduction", "max_terms"} | {name for kind in kinds for name in ACCEPTS[kind]}
        | ({"layers"} if stack else set()))
    for name, option in reversed(list(zip(_NAMES, _LAYER_OPTIONS))):
        if wanted is None or name in wanted:
            function = option(function)
    return function


#: The options of one layer only (no stack, no loss, no size guard), for ``symconv check``;
#: --input is checked by the command, since ``--suite`` brings its own sizes.
_ONE_LAYER_OPTIONS = [click.option("--input", "input", metavar="N,C,H,W", help=_INPUT_HELP)] + [
    option for name, option in zip(_NAMES, _LAYER_OPTIONS)
    if name not in ("input", "layers", "reduction", "max_terms")]


def one_layer_options(function=None, *, kinds=None):
    """The options of a single layer, --input optional, in the order --help lists them.

    With ``kinds``, only --input and the options some of those kinds accept.
    """
    if function is None:
        return lambda f: one_layer_options(f, kinds=kinds)
    from symconv.spec.options import ACCEPTS

    names = ["input"] + _NAMES[1:-3]
    wanted = None if kinds is None else {"input"} | {name for kind in kinds for name in ACCEPTS[kind]}
    for name, option in reversed(list(zip(names, _ONE_LAYER_OPTIONS))):
        if wanted is None or name in wanted:
            function = option(function)
    return function


def format_option(help_text: str):
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="latex", show_default=True,
                        help=help_text)


def index_base_option(help_text: str = "Number elements from 0 (x_{00}) or 1 (x_{11})."):
    return click.option("--index-base", type=click.Choice(["0", "1"]), default="0", show_default=True,
                        help=help_text)


STANDALONE = click.option("--standalone", is_flag=True, help="With --format latex: a complete document for pdflatex.")

FORM = click.option(
    "--form", type=click.Choice(FORMS), default="element", show_default=True,
    help="element: every entry; operator: dx, dw, db as (transposed) convolutions; "
         "matrix: the gradients as matrix pictures, drawn as by hand (conv, small layers).")

OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
                      help="Write to this file instead of standard output.")

LOSS = click.option(
    "--loss", type=click.Choice(LOSSES), default="sum", show_default=True,
    help="sum: L = sum(dy*y), dy given; mse: PyTorch's mse_loss(y, t), t of y's shape; cross_entropy: "
         "PyTorch's cross_entropy of logits y (N,K) and labels t (N,). With mse or cross_entropy, "
         "dy = dL/dy is derived from the loss and printed first.")

TARGET = click.option(
    "--target", metavar="T,T,...",
    help="With --loss mse or cross_entropy: the target instead of drawn values, row-major "
         "(cross_entropy: N labels, each in 0..K-1; mse: one number per element of y, e.g. 0.5 or 1/3).")


def loss_from_options(spec, loss: str, reduction: str | None, form: str = "element"):
    """The loss of a command line, checked against the layer's output (and refused with a form it lacks)."""
    from symconv.spec.loss import loss_spec

    checked = loss_spec(loss, reduction, spec.output_shape)
    if checked.derives and form != "element":
        raise SymconvError(f"loss: got {loss} with --form {form}, expected --loss sum "
                           f"(the operator and matrix forms start from a given dy)")
    return checked


SEED = click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
                    help="Seed of the random test values (NumPy's, so not negative).")


def check_output(path: str | None, suffixes: tuple[str, ...] = (), hint: str = "'--output'") -> str:
    """Refuse, before any work, an output file with a wrong suffix or one that could not be written
    (:func:`symconv.cli.files.check_writable`: a directory, no such directory, no permission)."""
    if path is None:
        return ""
    suffix = Path(path).suffix.lower()
    if suffixes and suffix not in suffixes:
        raise click.BadParameter(f"got {path!r}, expected a file name ending in {' or '.join(suffixes)}",
                                 param_hint=hint)
    check_writable(path, hint)
    return suffix


def check_standalone(standalone: bool, fmt: str) -> None:
    if standalone and fmt != "latex":
        raise click.BadParameter(
            f"got --standalone with --format {fmt}, expected --format latex", param_hint="'--standalone'"
        )


def form_kinds(form: str) -> list[str]:
    """The kinds a form is drawn for: every entry for all; operator identities for the (transposed)
    convolutions; matrix pictures for those of one or two axes (the rules' ``forms`` agree, a test holds it)."""
    if form == "element":
        return list(LAYER_KINDS)
    return [kind for kind, ndim in {**CONV_KINDS, **CONV_TRANSPOSE_KINDS}.items() if form == "operator" or ndim <= 2]


def check_form(form: str, layer: str) -> None:
    """Refuse, before anything loads, a form the layer does not have."""
    kinds = form_kinds(form)
    if form != "element" and layer not in kinds:
        listed = ", ".join(kinds[:-1]) + " and " + kinds[-1]
        raise click.BadParameter(f"got {form!r} for {layer}, expected it only for {listed}", param_hint="'--form'")


def write_or_echo(text: str, output: str | None, hint: str = "'--output'") -> None:
    """Write ``text`` to ``output`` all at once (:func:`symconv.cli.files.write_file`), or echo it."""
    if output:
        write_file(output, text, hint)
    else:
        # color=True: symconv's documents hold no terminal colours, so click need not
        # search them for some (a regex over every byte: 8 ms for a 4.5 MB JSON).
        click.echo(text, nl=False, color=True)


def usage_errors(command):
    """Report a SymconvError as a usage error: one line and exit 2, in the main
    group (which treats both alike) and when a command is invoked on its own."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SymconvError as error:
            raise click.UsageError(str(error)) from None

    return wrapper
