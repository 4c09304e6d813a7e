"""``symconv verify``: derive a layer and prove the result three independent ways."""

from __future__ import annotations

import sys

import click

from symconv.cli.derive import _progress
from symconv.cli.options import ANY_LAYER, OUTPUT, SEED, check_output, layer_options, write_or_echo
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size

#: Measured end-to-end speed of ``verify conv2d`` (the exact check is most of
#: it), used to decide before starting whether it will take over a second.
VERIFY_TERMS_PER_SECOND = 200_000


@click.command()
@ANY_LAYER
@layer_options
@SEED
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: the table; json: per tensor each comparison's result, largest error and tolerance.")
@OUTPUT
def verify(layer, seed, fmt, output, max_terms, reduction, **options):
    """Derive LAYER and prove the result three independent ways.

    Compares the derived y, dx, dw, db with the NumPy reference kernels and
    with central finite differences at random float64 values (on at most 64
    entries per tensor, 32 in a stack; the table gives the count in
    parentheses), and checks exact equality in rational arithmetic. Exits 1
    on any mismatch.

    For max pooling and ReLU, random inputs are kept far from ties and
    kinks for the finite differences, and ties (constant and 0/1 inputs) are
    checked exactly against the reference instead.

    \b
    Examples:
      symconv verify conv2d --input 1,3,8,8 --weight 4,3,3,3 --stride 2 --padding 1
      symconv verify maxpool2d --input 2,3,7,7 --kernel 3 --stride 2 --padding 1
      symconv verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --format json -o report.json
    """
    spec = spec_from_options(layer, **options)
    check_output(output)
    check_size(spec, max_terms)  # a large layer is refused before SymPy loads
    with _progress(spec, "symconv: verifying", VERIFY_TERMS_PER_SECOND) as step:
        from symconv.engine.derive import derive
        from symconv.verify import verify as check

        derivation = derive(spec, max_terms=None, reduction=reduction)
        # one step for the derivation, then the checks' own steps
        report = check(derivation, seed=seed, progress=lambda done, total: step.at(1 + done, 1 + total))
    if fmt == "json":
        from symconv.printing.formats import json_text

        text = json_text(report.to_dict({**spec.to_dict(), "reduction": reduction}))  # the layer as derive writes it
    else:
        text = report.table()
    write_or_echo(text, output)
    if not report.passed:
        sys.exit(1)
