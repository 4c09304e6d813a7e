"""``symconv derive``: the forward and the gradients of a layer, element by element."""

from __future__ import annotations

import sys

import click

from symconv.cli.options import (
    ANY_LAYER,
    FORM,
    OUTPUT,
    STANDALONE,
    check_form,
    check_output,
    check_standalone,
    format_option,
    index_base_option,
    layer_options,
    write_or_echo,
)
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size

#: Measured end-to-end speed (JSON or LaTeX of a conv2d layer, 2-core machine),
#: used to decide before starting whether a job will take over two seconds.
TERMS_PER_SECOND = 600_000


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


@click.command()
@ANY_LAYER
@layer_options
@format_option("Output format; json is 0-based whatever --index-base says.")
@index_base_option()
@STANDALONE
@FORM
@OUTPUT
def derive(layer, fmt, index_base, standalone, output, max_terms, reduction, form, **options):
    """Derive the forward and the gradients of LAYER element by element.

    LAYER is conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d,
    relu, leaky_relu, or stack (with --layers). A convolution gets dx, dw
    and db; the others dx; a stack every tensor, layer by layer.

    \b
    Examples (a 4x4 input with a 2x2 filter, numbered from 1):
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1
      symconv derive maxpool2d --input 1,1,4,4 --kernel 2 --index-base 1
      symconv derive stack --input 1,1,6,6 --layers "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix --index-base 1
    """
    spec = spec_from_options(layer, **options)
    check_output(output)
    check_standalone(standalone, fmt)
    check_form(form, layer)
    check_size(spec, max_terms)  # a large layer is refused before SymPy loads
    with _progress(spec) as step:
        from symconv.engine.derive import derive as derive_spec
        from symconv.printing.documents import render
        from symconv.printing.present import element_sections

        derivation = derive_spec(spec, max_terms=None, reduction=reduction)
        step.total(1 + len(list(element_sections(derivation))))  # derive, then each section
        step()
        text = render(derivation, fmt, int(index_base), standalone, form, progress=step)
    write_or_echo(text, output)


