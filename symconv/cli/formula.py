"""``symconv formula``: a layer's forward and gradients as index formulas, for every size.

Importing this module loads neither SymPy nor NumPy: the work is imported
inside the command, so ``symconv --help`` stays instant.

>>> from click.testing import CliRunner
>>> print(CliRunner().invoke(formula, ["conv1d", "--format", "text"]).output.splitlines()[0])
conv1d: index formulas for every size
"""

from __future__ import annotations

import click

from symconv.cli.options import (
    OUTPUT, STANDALONE, check_output, check_standalone, format_option, index_base_option, usage_errors, write_or_echo,
)
from symconv.names import CONV_KINDS, CONV_TRANSPOSE_KINDS, FORMULA_LAYERS

#: The LAYER argument of the commands that write index formulas.
FORMULA_LAYER = click.argument("layer", type=click.Choice(FORMULA_LAYERS), metavar="LAYER")


#: --index-base and --groups, shared by ``formula`` and ``render formula``.
FORMULA_INDEX_BASE = index_base_option(
    "Count every index from 0 or 1 in the printed formulas (sums from 1 to N, x[..., S*(i - 1) + D*(k - 1) - P + 1]).")
GROUPS = click.option("--groups", is_flag=True,
                      help="conv, conv_transpose: the formulas of a grouped convolution, G groups of C_g = C/G channels "
                           "and F_g = F/G filters (G stays a symbol; depthwise is G = C).")


def formula_text(layer: str, fmt: str, index_base: str, groups: bool, standalone: bool) -> str:
    """The index formulas of ``layer`` written in ``fmt``, after the checks both commands share."""
    grouped = [kind for kind in FORMULA_LAYERS if kind in CONV_KINDS or kind in CONV_TRANSPOSE_KINDS]
    if groups and layer not in grouped:
        raise click.BadParameter(f"got --groups for {layer}, expected it only for {', '.join(grouped[:-1])} and "
                                 f"{grouped[-1]}", param_hint="'--groups'")
    from symconv.formula.index import derive_formulas
    from symconv.printing.documents import render

    formulas = derive_formulas(layer, groups=groups, index_base=int(index_base))
    return render(formulas, fmt, standalone=standalone)


@click.command("formula")
@FORMULA_LAYER
@format_option("Output format; json holds SymPy expressions that parse_expr reads back, 0-based whatever "
               "--index-base says.")
@FORMULA_INDEX_BASE
@GROUPS
@STANDALONE
@OUTPUT
@usage_errors
def formula(layer, fmt, index_base, groups, standalone, output):
    """Print LAYER's forward and gradients as index formulas, for every size.

    LAYER is conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
    maxpool1d, maxpool2d, avgpool1d or avgpool2d. Sizes, stride, padding and
    dilation stay symbols (N, C, H, W, F, KH, KW, SH, SW, PH, PW, DH, DW; for
    the 1-D layers N, C, L, F, K, S, P, D; conv3d adds the depth axis D, KD,
    SD, PD, DD; a transposed convolution its output_padding, A or AH, AW) and the
    gradients are derived from the forward definition, with tightened
    summation bounds. With --groups, filter g*F_g + f of group g reads
    channels g*C_g to g*C_g + C_g - 1.

    \b
    Examples:
      symconv formula conv2d --format markdown
      symconv formula conv1d --groups --index-base 1 --format text
    """
    check_standalone(standalone, fmt)
    check_output(output)
    write_or_echo(formula_text(layer, fmt, index_base, groups, standalone), output)
