"""``symconv verify``: derive a layer and prove the result three independent ways."""

from __future__ import annotations

import sys

import click

from symconv.cli.derive import _progress
from symconv.cli.options import (
    ANY_LAYER,
    LOSS,
    OUTPUT,
    SEED,
    TARGET,
    check_output,
    layer_options,
    loss_from_options,
    write_or_echo,
)
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size

#: Measured end-to-end speed of ``verify conv2d`` (the exact check is most of
#: it), used to decide before starting whether it will take over a second.
VERIFY_TERMS_PER_SECOND = 200_000


@click.command()
@ANY_LAYER
@layer_options
@LOSS
@TARGET
@SEED
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: the table; json: per tensor each comparison's result, largest error and tolerance.")
@OUTPUT
def verify(layer, seed, fmt, output, max_terms, reduction, loss, target, **options):
    """Derive LAYER and prove the result three independent ways.

    Compares the derived y, dx, dw, db with the NumPy reference kernels and
    with central finite differences at random float64 values (on at most 64
    entries per tensor, 32 in a stack; the table gives the count in
    parentheses), and checks exact equality in rational arithmetic. Exits 1
    on any mismatch.

    For max pooling and ReLU, random inputs are kept far from ties and
    kinks for the finite differences, and ties (constant and 0/1 inputs) are
    checked exactly against the reference instead.

    With --loss mse or cross_entropy the target t is drawn (labels in 0..K-1)
    unless --target gives it, dy is checked too, and the finite differences
    are those of the true loss. Cross-entropy's dy is not rational: its exact
    check is not run, and the exact trials give the layers below a rational dy.

    \b
    Examples:
      symconv verify conv2d --input 1,3,8,8 --weight 4,3,3,3 --stride 2 --padding 1
      symconv verify maxpool2d --input 2,3,7,7 --kernel 3 --stride 2 --padding 1
      symconv verify conv2d --input 1,1,4,4 --weight 1,1,2,2 --format json -o report.json
      symconv verify relu --input 2,3,1 --loss mse --target 0,1,2,3,4,5
      symconv verify linear --input 2,4 --weight 3,4 --loss cross_entropy --target 2,0
    """
    spec = spec_from_options(layer, **options)
    loss = loss_from_options(spec, loss, reduction)
    if target is not None:
        from symconv.spec.loss import read_target

        target = read_target(loss, target)  # refused before SymPy loads
    check_output(output)
    check_size(spec, max_terms, loss)  # a large layer is refused before SymPy loads
    with _progress(spec, "symconv: verifying", VERIFY_TERMS_PER_SECOND) as step:
        from symconv.engine.derive import derive
        from symconv.verify import verify as check

        derivation = derive(spec, max_terms=None, loss=loss)
        # one step for the derivation, then the checks' own steps
        report = check(derivation, seed=seed, progress=lambda done, total: step.at(1 + done, 1 + total),
                       target=target)
    if fmt == "json":
        from symconv.printing.formats import json_text

        text = json_text(report.to_dict({**spec.to_dict(), **loss.to_dict()}))  # the layer as derive writes it
    else:
        text = report.table()
    write_or_echo(text, output)
    if not report.passed:
        sys.exit(1)
