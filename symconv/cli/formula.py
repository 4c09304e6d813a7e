"""``symconv formula``: a layer's forward and gradients as index formulas, for every size.

Importing this module loads neither SymPy nor NumPy: the work is imported
inside the command, so ``symconv --help`` stays instant.

>>> from click.testing import CliRunner
>>> print(CliRunner().invoke(formula, ["conv1d", "--format", "text"]).output.splitlines()[0])
conv1d: index formulas for every size
"""

from __future__ import annotations

import click

from symconv.cli.options import OUTPUT, STANDALONE, check_output, check_standalone, format_option, write_or_echo
from symconv.names import FORMULA_LAYERS

#: The LAYER argument of the commands that write index formulas.
FORMULA_LAYER = click.argument("layer", type=click.Choice(FORMULA_LAYERS), metavar="LAYER")


@click.command("formula")
@FORMULA_LAYER
@format_option("Output format; json holds SymPy expressions that parse_expr reads back.")
@STANDALONE
@OUTPUT
def formula(layer, fmt, standalone, output):
    """Print LAYER's forward and gradients as index formulas, for every size.

    LAYER is conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d or avgpool2d.
    Sizes, stride, padding and dilation stay symbols (N, C, H, W, F, KH, KW,
    SH, SW, PH, PW, DH, DW; for the 1-D layers N, C, L, F, K, S, P, D) and the
    gradients are derived from the forward definition, with tightened
    summation bounds.

    \b
    Example:
      symconv formula conv2d --format markdown
    """
    check_standalone(standalone, fmt)
    check_output(output)
    from symconv.printing.documents import formula_document

    write_or_echo(formula_document(layer, fmt, standalone), output)
