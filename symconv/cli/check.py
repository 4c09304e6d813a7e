"""``symconv check``: run somebody's backward, name the wrong entries, the mistake, and the blind spots."""

from __future__ import annotations

import sys

import click

from symconv.cli.options import OUTPUT, SEED, check_output, one_layer_options, usage_errors, write_or_echo
from symconv.names import CHECK_KINDS

_FORMATS = ("text", "markdown", "latex", "json")


@click.command()
@click.argument("target", metavar="TARGET")
@click.argument("kind", type=click.Choice(CHECK_KINDS), metavar="KIND")
@one_layer_options
@click.option("--convention", type=click.Choice(["plain", "cs231n", "torch"]), default="plain", show_default=True,
              help="How TARGET is called: plain fn(dy, x, w, b, **opts) -> (dx, dw, db); cs231n fn(dout, cache); "
                   "torch fn(x, w, b, **opts) -> y, through autograd.")
@click.option("--forward", metavar="TARGET", help="cs231n: the forward that builds the cache (its out is checked too).")
@SEED
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="text", show_default=True,
              help="How the report is written.")
@click.option("--suite", type=click.Choice(["edge"]),
              help="Run TARGET over the built-in edge configurations of KIND instead of one layer.")
@OUTPUT
@usage_errors
def check(target, kind, convention, forward, seed, fmt, suite, output, input, **options):
    """Check the backward pass TARGET of a KIND layer against the exact gradient.

    TARGET is path/to/file.py:function or package.module:function (attribute
    paths such as file.py:MyConv.apply too); loading it runs that file.
    Exits 0 when every gradient is right, 1 when one is wrong (or TARGET
    raises, or returns the wrong shape), 2 for bad input.

    \b
    Examples:
      symconv check my_layers.py:conv_backward conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1
      symconv check layers.py:conv_backward_naive conv2d --convention cs231n --input 2,3,7,7 --weight 4,3,3,3
      symconv check torch.nn.functional:conv2d conv2d --convention torch --suite edge
    """
    check_output(output)
    from symconv.check.target import load_target
    from symconv.errors import SymconvError

    if suite:
        given = [name for name, value in [("input", input), *options.items()] if value not in (None, False)]
        if given:
            raise SymconvError(f"{given[0].replace('_', '-')}: got a value with --suite {suite}, expected no "
                               f"layer options (the suite brings its own configurations)")
    elif input is None:
        from symconv.spec.options import INPUT_AXES

        axes = INPUT_AXES.get(kind, "N,C,L, N,C,H,W or N,C,D,H,W")
        raise SymconvError(f"input: got nothing, expected --input {axes} (or --suite edge)")
    if forward is not None and convention != "cs231n":
        raise SymconvError(f"forward: got {forward!r} with --convention {convention}, expected --forward only "
                           f"with --convention cs231n")
    if suite:
        from symconv.check.suite import SUITE_WRITERS, run_suite

        fn = load_target(target)
        before = load_target(forward, "forward") if forward else None
        result = run_suite(fn, kind, convention, before, seed, target)
        write_or_echo(SUITE_WRITERS[fmt](result), output)
        sys.exit(0 if result.ok else 1)
    from symconv.check.run import check_layer_size, run_check
    from symconv.check.writers import WRITERS
    from symconv.spec.options import build_spec

    spec = build_spec(kind, input, **options)
    check_layer_size(spec)  # before the user's code is loaded or an array allocated
    fn = load_target(target)
    before = load_target(forward, "forward") if forward else None
    report = run_check(spec, fn, convention, before, seed, target)
    write_or_echo(WRITERS[fmt](report), output)
    sys.exit(0 if report.ok else 1)
