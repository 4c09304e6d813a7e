"""``symconv explain``: a layer's backward pass derived step by step, each step checked against the reference kernels.

Importing this module loads neither SymPy nor NumPy: every refusal comes first.

>>> from click.testing import CliRunner
>>> CliRunner().invoke(explain, ["relu"]).exit_code
2
"""

from __future__ import annotations

import sys

import click

from symconv.cli.options import (
    OUTPUT, STANDALONE, check_output, check_standalone, format_option, index_base_option, one_layer_options,
    usage_errors, write_or_echo,
)
from symconv.errors import SymconvError
from symconv.names import EXPLAIN_KINDS
from symconv.spec.values import parse_ints

#: What --wrt takes: one gradient, or all of them (without --at).
WRT = ("x", "w", "b", "all")


def _spec(kind, input, options):
    """The layer of ``kind`` at the sizes given, or None; a layer option without --input is refused."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if input is None:
        if given:
            name = given[0].replace("_", "-")
            raise click.BadParameter(f"got --{name} without --input, expected the layer's options only with "
                                     "--input and --at", param_hint=f"'--{name}'")
        return None
    from symconv.spec.command import spec_from_options
    from symconv.spec.size import check_size

    spec = spec_from_options(kind, input, **options)
    check_size(spec)  # a layer too large to derive is too large to explain
    return spec


def _entry(text, kind, spec, wrt, index_base):
    """``--at`` as a 0-based index of the gradient (the spatial indices alone when the leading axes have size 1)."""
    from symconv.explain.build import gradient_shape

    quantity, shape = gradient_shape(kind, spec, wrt)
    try:
        values = parse_ints(text, "--at", "integers")
    except SymconvError:
        raise click.BadParameter(f"got {text!r}, expected comma-separated integers, an index of {quantity}",
                                 param_hint="'--at'") from None
    if len(values) == len(shape) - 2 and len(shape) > 2 and shape[:2] == (1, 1):
        values = (index_base, index_base) + values
    index = tuple(v - index_base for v in values)
    if len(index) != len(shape) or any(not 0 <= i < s for i, s in zip(index, shape)):
        last = "size" if index_base else "size - 1"
        raise click.BadParameter(
            f"got {text!r}, expected {len(shape)} indices inside {quantity} of shape {','.join(map(str, shape))}, "
            f"from {index_base} to {last} per axis", param_hint="'--at'")
    return index


@click.command()
@click.argument("kind", metavar="KIND")
@one_layer_options(kinds=EXPLAIN_KINDS)
@click.option("--wrt", type=click.Choice(WRT), default=None,
              help="The gradient to derive: x, w, b, or all [all; with --at: x].")
@click.option("--at", "at_text", metavar="N,C,I,J",
              help="With --input: the entry of the gradient to derive down to (I,J alone when N = C = 1, "
                   "F,C,K,L for w, F for b).")
@index_base_option("Count every index from 0 or 1, in --at and in the printed steps.")
@format_option("Output format; json holds each step's sides as SymPy expressions that parse_expr reads back, "
               "0-based whatever --index-base says.")
@STANDALONE
@click.option("--check", "show_check", is_flag=True,
              help="Print how each step was checked (entries compared, largest difference) instead of the steps.")
@OUTPUT
@usage_errors
def explain(kind, wrt, at_text, index_base, fmt, standalone, show_check, output, input, **options):
    """Derive KIND's backward pass step by step, each step checked.

    KIND is conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d or avgpool2d.
    Without --input, the derivation is in symbolic sizes (N, C, H, W, F, KH,
    KW, SH, SW, PH, PW, DH, DW; for the 1-D kinds L, K, S, P, D): the forward
    as a sum with its padding brackets, the chain rule over every output,
    its derivative as Iverson brackets, the brackets solved, the bounds
    tightened (symconv formula's result) and the operator form. With
    --input, the layer's options and --at, the same steps at those sizes
    down to one entry, ending in its closed form, naming what survives.

    Every step is evaluated exactly at 20 random layers (and at the layer's
    own sizes) and compared with the NumPy reference kernels; a step that
    disagrees makes the command exit 1.

    \b
    Examples:
      symconv explain conv2d --wrt x --format markdown
      symconv explain conv2d --input 1,1,4,4 --weight 1,1,2,2 --at 2,2 --index-base 1
      symconv explain conv1d --input 1,1,5 --weight 1,1,2 --stride 2 --at 3 --index-base 1 --format text
    """
    if kind not in EXPLAIN_KINDS:
        raise click.BadParameter(f"got {kind!r}, expected a kind explain derives: {', '.join(EXPLAIN_KINDS)}",
                                 param_hint="'KIND'")
    check_standalone(standalone, fmt)
    check_output(output)
    source = click.get_current_context().get_parameter_source("fmt")
    if show_check and fmt != "text" and source is click.core.ParameterSource.COMMANDLINE:
        raise click.BadParameter(f"got --format {fmt} with --check, expected text (the check is a table)",
                                 param_hint="'--format'")
    spec, base = _spec(kind, input, options), int(index_base)
    if spec is not None and at_text is None:
        raise click.BadParameter("missing, expected the entry to derive down to with --input (e.g. --at 0,0,1,1)",
                                 param_hint="'--at'")
    if spec is None and at_text is not None:
        raise click.BadParameter(f"got {at_text!r} without --input, expected --at only with the layer's sizes",
                                 param_hint="'--at'")
    at = None if spec is None else _entry(at_text, kind, spec, wrt, base)
    from symconv.explain import explain as explain_kind, write

    shown_base = 0 if fmt == "json" else base
    explanation = explain_kind(kind, spec, at, wrt, shown_base)
    report = explanation.report
    write_or_echo(report.table() if show_check else write(explanation, fmt, standalone), output)
    if not report.passed:
        failure = report.first_failure()
        click.echo(f"symconv explain: step {failure.number} ({failure.title}) failed its check: {failure.failure}",
                   err=True)
        sys.exit(1)
