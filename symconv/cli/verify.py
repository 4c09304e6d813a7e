"""``symconv verify``: derive a layer and prove the result three independent ways."""

from __future__ import annotations

import sys

import click

from symconv.cli.options import ANY_LAYER, SEED, layer_options
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size


@click.command()
@ANY_LAYER
@layer_options
@SEED
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
    spec = spec_from_options(layer, **options)
    check_size(spec, max_terms)  # a large layer is refused before SymPy loads
    from symconv.engine.derive import derive
    from symconv.verify import verify as check

    report = check(derive(spec, max_terms=None, reduction=reduction), seed=seed)
    click.echo(report.table(), nl=False)
    if not report.passed:
        sys.exit(1)
