"""``symconv plot``: a picture of a derivation, written to the file ``-o`` names.

It takes the layer options of ``derive``, checks everything it can before
deriving, and the file's extension picks the format. Every refusal (a
:class:`click.BadParameter` here, a :class:`SymconvError` from the library)
is a usage error: one line and exit 2.

    symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 1,1 -o routing.png
    symconv plot maxpool2d --input 1,1,4,4 --kernel 2 --kind routing -o maxpool.png
    symconv plot avgpool2d --input 1,1,4,4 --kernel 3 --stride 1 --padding 1 --kind routing --at 1,1 -o avgpool.png

>>> from click.testing import CliRunner
>>> CliRunner().invoke(plot, ["conv1d", "--input", "1,1,4", "--weight", "1,1,2", "-o", "j.gif"]).exit_code
2
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

import click

from symconv.cli.files import replacing
from symconv.cli.options import check_output, index_base_option, layer_options, usage_errors
from symconv.errors import SymconvError
from symconv.names import CONV_KINDS, CONV_TRANSPOSE_KINDS
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size
from symconv.spec.values import parse_ints

#: The kinds whose pictures need no values: convolutions and transposed convolutions of one or two axes
#: (a 3-D layer has no flat picture).
LINEAR_KINDS = tuple(k for k, nd in {**CONV_KINDS, **CONV_TRANSPOSE_KINDS}.items() if nd <= 2)
#: 1-D and 2-D max pooling, adaptive or not: their pictures are drawn at values of x.
MAX_POOL_KINDS = ("maxpool1d", "maxpool2d", "adaptive_maxpool1d", "adaptive_maxpool2d")
#: 1-D and 2-D average pooling, adaptive or not: their gradient needs no values.
AVERAGE_KINDS = ("avgpool1d", "avgpool2d", "adaptive_avgpool1d", "adaptive_avgpool2d")
#: Every kind plot draws.
PICTURE_KINDS = LINEAR_KINDS + MAX_POOL_KINDS + AVERAGE_KINDS
#: The kinds that take --at, as refusals list them.
_AT_KINDS = f"{', '.join(LINEAR_KINDS)} and the average pools"
#: symconv.plot.jacobian.PICTURE_FORMATS, without importing NumPy before a refusal.
PICTURE_SUFFIXES = (".png", ".svg")
#: --index-base of the commands that write a file: it numbers --at too.
INDEX_BASE = index_base_option("Number elements from 0 (x_{00}) or 1 (x_{11}), in --at and on the output.")


def parse_at(text: str, shape: tuple[int, ...], tensor: str, index_base: int,
             weight_axes: tuple[str, str] = ("F", "C")) -> tuple[int, ...]:
    """``--at`` as a full 0-based index of ``tensor``.

    The spatial indices alone (``I,J``) are enough when the leading two axes
    (batch and channel, or filter and channel) have size 1; ``weight_axes``
    names w's two leading axes (a transposed convolution's are C, F).

    >>> parse_at("2,2", (1, 1, 4, 4), "x", 1)
    (0, 0, 1, 1)
    """
    spatial = len(shape) - 2
    names = {"x": ("N", "C"), "w": weight_axes}[tensor] + ("I", "J")[:spatial]
    full, short = ",".join(names), ",".join(names[2:])
    try:
        values = parse_ints(text, "--at", full)
    except SymconvError:
        raise click.BadParameter(f"got {text!r}, expected comma-separated integers {full}", param_hint="'--at'") from None
    if len(values) == spatial and shape[:2] == (1, 1):
        values = (index_base, index_base) + values
    if len(values) != len(shape):
        expected = f"{full} or {short}" if shape[:2] == (1, 1) else full
        raise click.BadParameter(
            f"got {text!r}, expected {expected} (an index of {tensor}, shape {','.join(map(str, shape))})",
            param_hint="'--at'",
        )
    index = tuple(v - index_base for v in values)
    if any(not 0 <= i < s for i, s in zip(index, shape)):
        raise click.BadParameter(
            f"got {text!r}, expected {index_base}-based indices inside {tensor} of shape "
            f"{','.join(map(str, shape))} (from {index_base} to size{'' if index_base else ' - 1'} per axis)",
            param_hint="'--at'",
        )
    return index


def read_values(source: str, spec, seed: int | None):
    """``--values`` as an array of x and a note for the picture's title.

    ``ties`` or ``distinct`` are generated with ``seed`` (0 when not given;
    :func:`symconv.plot.routing.pool_values`); otherwise ``source`` is numbers
    separated by commas or spaces (decimals or ``p/q``), or the name of a
    ``.npy`` file (read without pickles) or a text file of numbers (``#``
    starts a comment). Numbers fill x in row-major order; each is read by
    :class:`fractions.Fraction`, so nothing is evaluated as code.

    >>> from symconv.spec.pool import pool_spec
    >>> values, note = read_values("3, 1, 1/2, 3", pool_spec("maxpool1d", (1, 1, 4), kernel=2), None)
    >>> values.tolist(), note
    ([[[3.0, 1.0, 0.5, 3.0]]], 'as given')
    """
    import numpy as np

    from symconv.plot.routing import VALUE_KINDS, as_values, pool_values

    if source in VALUE_KINDS:
        seed = 0 if seed is None else seed
        return pool_values(spec, source, seed), f"{source}, seed {seed}"
    if seed is not None:
        raise click.BadParameter(f"got --seed with --values {source!r}, expected it only with ties or distinct",
                                 param_hint="'--seed'")
    if os.path.isfile(source):
        name = os.path.basename(source)
        if source.lower().endswith(".npy"):
            try:
                array = np.load(source, allow_pickle=False)
            except (OSError, ValueError):  # not an array file, or one of Python objects (pickles)
                raise SymconvError(f"values: got {source!r}, expected a .npy file of plain numbers "
                                   "(read without pickles, so arrays of Python objects are refused)") from None
            if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
                raise SymconvError(f"values: got {source!r} holding {array.dtype}, expected real numbers")
            if not np.isfinite(array).all():
                raise SymconvError(f"values: got NaN or infinity in {source!r}, expected finite numbers "
                                   f"(a picture of who receives each dy is drawn at real values)")
        else:
            try:
                with open(source, encoding="utf-8") as handle:
                    text = " ".join(line.split("#", 1)[0] for line in handle)
            except (OSError, UnicodeDecodeError) as error:
                raise SymconvError(f"values: got {source!r}, expected a text file of numbers ({error})") from None
            array = _numbers(text, repr(source))
        return as_values(spec, array, repr(source)), f"from {name}"
    if re.fullmatch(r"[\d\s,;.+\-/eE]+", source):
        return as_values(spec, _numbers(source, "--values"), "--values"), "as given"
    raise click.BadParameter(
        f"got {source!r}, expected ties, distinct, numbers such as 1,5,2,2 (row-major), "
        "or an existing .npy or text file", param_hint="'--values'",
    )


def _numbers(text, source):
    numbers = []
    for token in re.split(r"[,;\s]+", text.strip()):
        if token:
            try:
                numbers.append(float(Fraction(token)))
            except OverflowError:
                raise SymconvError(f"values: got {token!r} in {source}, expected a finite number a float64 can hold "
                                   f"(below 1.8e308 in size)") from None
            except (ValueError, ZeroDivisionError):
                raise SymconvError(f"values: got {token!r} in {source}, expected numbers such as 2, -0.5 or 1/3") from None
    return numbers


def _refuse(layer, reason, **given):
    """A BadParameter for the first option given that ``layer``'s picture does not take."""
    for name, value in given.items():
        if value is not None:
            option = "--" + name
            raise click.BadParameter(f"got {option} for {layer}, expected {reason}", param_hint=f"'{option}'")


def _routing_at(spec, kind, at_text, of, base, weight_axes, check_jacobian_size):
    """``--at`` as a 0-based index (routing), after checking what --kind allows; a Jacobian's size is checked."""
    if kind == "jacobian":
        for name, value in (("--at", at_text), ("--of", of)):
            if value is not None:
                raise click.BadParameter(f"got {name} with --kind jacobian, expected --kind routing", param_hint=f"'{name}'")
        check_jacobian_size(spec)
        return None
    tensor = (of or "dx")[1:]
    shape = spec.input if tensor == "x" else spec.weight
    if at_text is None:
        example = ",".join([str(base)] * (len(shape) - 2))
        raise click.BadParameter(f"missing, expected an element of {tensor} with --kind routing, e.g. --at {example}",
                                 param_hint="'--at'")
    return parse_at(at_text, shape, tensor, base, weight_axes)


@click.command()
@click.argument("layer", type=click.Choice(PICTURE_KINDS), metavar="LAYER")
@layer_options(kinds=PICTURE_KINDS, stack=False)
@click.option("--kind", type=click.Choice(["jacobian", "routing"]), default="jacobian", show_default=True,
              help="jacobian: sparsity of dy/dx (and dy/dw), for an average pool dy/dx's exact values; "
                   "routing: what feeds one gradient entry, or for max pooling where every dy goes.")
@click.option("--at", "at_text", metavar="I,J|N,C,I,J",
              help="conv and average pools, with --kind routing: the element of x (or of w with --of dw) to trace.")
@click.option("--of", "of", type=click.Choice(["dx", "dw"]), default=None,
              help="conv, with --kind routing: trace an entry of dx (default) or dw.")
@click.option("--values", "values", metavar="ties|distinct|NUMBERS|FILE",
              help="maxpool: the x that decides the winners: ties (seeded integers 0-4, some windows tied; "
                   "the default), distinct (no ties), numbers such as 1,5,2,2 in row-major order, "
                   "or a .npy or text file of them.")
@click.option("--seed", type=click.IntRange(min=0), help="maxpool: seed of --values ties or distinct [0].")
@INDEX_BASE
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Picture to write: .png or .svg.")
@usage_errors
def plot(layer, kind, at_text, of, values, seed, index_base, output, max_terms, reduction, **options):
    """Draw a picture of the derivation of LAYER (needs matplotlib).

    LAYER is conv1d, conv2d, conv_transpose1d, conv_transpose2d, maxpool1d,
    maxpool2d, adaptive_maxpool1d, adaptive_maxpool2d, avgpool1d, avgpool2d,
    adaptive_avgpool1d or adaptive_avgpool2d. A max pool's gradient depends
    on the values of x, so its pictures are drawn at --values: routing shows
    which input receives each dy (the first maximum of its window, ties
    marked), jacobian shows dy/dx at those values. An average pool's needs
    no values: jacobian writes each dy_i/dx_j as the exact fraction the
    derivation holds (1/divisor), routing --at shows which dy reach one x,
    each with its coefficient, and the windows they average.
    matplotlib comes with pip install "symconv[plot]".

    \b
    Examples (most on a 4x4 input):
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind jacobian -o jacobian.png
      symconv plot conv2d --input 1,1,4,4 --weight 1,1,2,2 --kind routing --at 2,2 --index-base 1 -o routing.svg
      symconv plot maxpool2d --input 1,1,4,4 --kernel 2 --kind routing --index-base 1 -o maxpool.png
      symconv plot maxpool1d --input 1,1,6 --kernel 3 --stride 1 --values 1,3,3,2,0,2 --kind routing -o mp1.png
      symconv plot adaptive_maxpool2d --input 1,1,5,5 --output-size 3 --kind routing -o adaptive.png
      symconv plot avgpool2d --input 1,1,4,4 --kernel 3 --stride 1 --padding 1 --kind jacobian -o avg.png
      symconv plot adaptive_avgpool1d --input 1,1,7 --output-size 3 --kind routing --at 3 -o adaptive_avg.svg
    """
    check_output(output, PICTURE_SUFFIXES, "'-o'")
    spec = spec_from_options(layer, **options)
    check_size(spec, max_terms)  # a layer too large to derive is refused before SymPy loads
    base = int(index_base)
    if layer in LINEAR_KINDS:
        from symconv.plot.jacobian import check_jacobian_size

        _refuse(layer, "it only for max pools (a convolution's pictures need no values)",
                values=values, seed=seed)
        at = _routing_at(spec, kind, at_text, of, base, ("C", "F") if layer in CONV_TRANSPOSE_KINDS else ("F", "C"),
                         check_jacobian_size)
    elif layer in AVERAGE_KINDS:
        from symconv.plot.average import check_avgpool_jacobian_size

        _refuse(layer, "it only for max pools (an average's pictures need no values)", values=values, seed=seed)
        _refuse(layer, f"it only for {', '.join(LINEAR_KINDS[:-1])} and {LINEAR_KINDS[-1]} (an average pool has "
                       "no weights)", of=of)
        at = _routing_at(spec, kind, at_text, None, base, ("F", "C"), check_avgpool_jacobian_size)
    else:
        _refuse(layer, f"it only for {_AT_KINDS} (a max pool's routing shows every dy)", at=at_text)
        _refuse(layer, f"it only for {', '.join(LINEAR_KINDS[:-1])} and {LINEAR_KINDS[-1]} (a max pool's routing "
                       "shows every dy)", of=of)
        from symconv.plot.pool import check_pool_jacobian_size

        if kind == "jacobian":
            check_pool_jacobian_size(spec)
        x, note = read_values("ties" if values is None else values, spec, seed)
    try:
        import matplotlib  # noqa: F401  (checked here for a clear message)
    except ImportError:
        raise SymconvError('plot: matplotlib is not installed; expected it for pictures (pip install "symconv[plot]")') from None
    from symconv.engine.derive import derive

    derivation = derive(spec, max_terms=None, reduction=reduction)
    # The picture is drawn into a temporary file that replaces the output only once complete.
    with replacing(output, "'-o'") as picture:
        if layer in LINEAR_KINDS:
            from symconv.plot.jacobian import plot_jacobian, plot_routing

            if kind == "jacobian":
                plot_jacobian(derivation, picture, index_base=base)
            else:
                plot_routing(derivation, picture, at, of=of or "dx", index_base=base)
        elif layer in AVERAGE_KINDS:
            from symconv.plot.average import plot_avgpool_jacobian, plot_avgpool_routing

            if kind == "jacobian":
                plot_avgpool_jacobian(derivation, picture, index_base=base)
            else:
                plot_avgpool_routing(derivation, picture, at, index_base=base)
        else:
            from symconv.plot.pool import plot_pool_jacobian, plot_pool_routing

            draw = plot_pool_jacobian if kind == "jacobian" else plot_pool_routing
            draw(derivation, x, picture, index_base=base, note=note)
