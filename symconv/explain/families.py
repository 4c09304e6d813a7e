"""The kinds an explanation covers: their size symbols, concrete sizes from a spec, and random layers to check at.

The kinds are :data:`symconv.names.EXPLAIN_KINDS` (general formulas whose steps it knows),
named by the user; a spec's own kind is never asked (the reference kernels
come from its rule, :func:`symconv.layers.rule_for`).

>>> from symconv.spec.conv import conv_spec
>>> spec_sizes("conv1d", conv_spec("conv1d", (1, 2, 5), (3, 2, 2), stride=2))["L_o"]
2
>>> specs = random_specs("maxpool2d", 20)
>>> len(specs), any(max(s.stride) > 1 for s in specs), any(max(s.dilation) > 1 for s in specs)
(20, True, True)
"""

from __future__ import annotations

import numpy as np
from sympy import Integer, Symbol

from symconv.errors import SymconvError
from symconv.formula.index import AXES_1D, AXES_2D, BATCH, CHANNELS, FILTERS, POOLS, spec_sizes as conv_sizes
from symconv.names import CONV_KINDS, EXPLAIN_KINDS, POOL_KINDS
from symconv.spec.conv import conv_spec
from symconv.spec.pool import pool_spec

#: How many random layers every general step is checked at.
SIZE_SETS = 20
#: Names of the tensors, as a rule's reference kernels take them.
NAMES = {"x": "x", "w": "w", "b": "b", "y": "y"}


#: The formulas' spatial axes of each kind: size, kernel, stride, padding, dilation (1 for an average pool),
#: output size, as symbols.
AXES = {"conv1d": AXES_1D, "conv2d": AXES_2D, **{kind: axes for kind, (axes, _) in POOLS.items()}}


def axes_of(kind: str):
    """The formula's spatial axes of ``kind`` (size, kernel, stride, padding, dilation, output size)."""
    return AXES[kind]


def size_symbols(kind: str) -> list[Symbol]:
    """Every size symbol the kind's steps may hold: N, C (F), and per axis H, KH, SH, PH, DH, H_o."""
    symbols = [BATCH, CHANNELS] + ([FILTERS] if kind in CONV_KINDS else [])
    for axis in axes_of(kind):
        symbols += [s for s in (axis.size, axis.kernel, axis.stride, axis.padding, axis.dilation, axis.out)
                    if isinstance(s, Symbol)]
    return symbols


def _pool_sizes(kind: str, spec) -> dict[str, int]:
    if spec.ceil_mode:
        raise SymconvError("ceil-mode: got --ceil-mode, expected it off (the general formulas assume ceil_mode off)")
    if not getattr(spec, "count_include_pad", True):
        raise SymconvError("no-count-include-pad: got it, expected count_include_pad on (the general formulas "
                           "divide by the whole window)")
    if getattr(spec, "divisor_override", None) is not None:
        raise SymconvError(f"divisor-override: got {spec.divisor_override}, expected none (the general formulas "
                           "divide by the whole window)")
    sizes = {"N": spec.input[0], "C": spec.input[1]}
    for position, axis in enumerate(axes_of(kind)):
        sizes.update({axis.size.name: spec.input[2 + position], axis.kernel.name: spec.kernel[position],
                      axis.stride.name: spec.stride[position], axis.padding.name: spec.padding[position]})
        if isinstance(axis.dilation, Symbol):
            sizes[axis.dilation.name] = spec.dilation[position]
    return sizes


def spec_sizes(kind: str, spec) -> dict[str, int]:
    """Each size symbol's value (output sizes included) for a spec of ``kind``; what the formulas do not cover is refused."""
    if kind not in EXPLAIN_KINDS:
        raise SymconvError(f"KIND: got {kind!r}, expected a kind explain derives: {', '.join(EXPLAIN_KINDS)}")
    sizes = conv_sizes(spec) if kind in CONV_KINDS else _pool_sizes(kind, spec)
    for position, axis in enumerate(axes_of(kind)):
        sizes[axis.out.name] = spec.output_shape[2 + position]
    return sizes


def size_values(kind: str, spec) -> dict:
    """``{size symbol: Integer}`` for a spec of ``kind``: what instantiates a general step."""
    sizes = spec_sizes(kind, spec)
    return {s: Integer(sizes[s.name]) for s in size_symbols(kind) if s.name in sizes}


def _conv_axis(rng, plain: bool):
    kernel, stride, dilation, padding = (1 + int(rng.integers(3)), 1 + int(rng.integers(3)),
                                         1 + int(rng.integers(2)), int(rng.integers(3)))
    if plain:
        stride, dilation, padding = 1, 1, 0
    reach = dilation * (kernel - 1) + 1
    return max(1, reach - 2 * padding) + int(rng.integers(3)), kernel, stride, padding, dilation


def _random_conv(kind, rng, number):
    ndim = CONV_KINDS[kind]
    n, c, f = (1 + int(rng.integers(2)) for _ in range(3))
    axes = [_conv_axis(rng, plain=number == 0) for _ in range(ndim)]
    if number in (1, 2):  # stride 3 with dilation 2 and padding 2, on the first axis
        axes[0] = (axes[0][0] + 4, axes[0][1], 3, 2, 2)
    size, kernel, stride, padding, dilation = zip(*axes)
    return conv_spec(kind, (n, c) + size, (f, c) + kernel, stride=stride, padding=padding, dilation=dilation)


def _random_pool(kind, rng, number):
    ndim, dilates = POOL_KINDS[kind], kind in ("maxpool1d", "maxpool2d")
    axes = []
    for axis in range(ndim):
        kernel = 4 if number in (1, 2) and axis == 0 else 1 + int(rng.integers(4))
        stride = 1 if number == 0 else (3 if number in (1, 2) and axis == 0 else 1 + int(rng.integers(3)))
        padding = kernel // 2 if number in (1, 2) else (0 if number == 0 else int(rng.integers(kernel // 2 + 1)))
        dilation = 1 if number == 0 or not dilates else (2 if number in (1, 2) else 1 + int(rng.integers(2)))
        axes.append((kernel, stride, padding, dilation))
    options = {name: tuple(a[i] for a in axes) for i, name in enumerate(("kernel", "stride", "padding", "dilation"))}
    if not dilates:
        del options["dilation"]
    n, c = (1 + int(rng.integers(2)) for _ in range(2))
    for extra in range(12):
        sizes = tuple(max(1, d * (k - 1) + 1 - 2 * p) + int(rng.integers(3)) + extra for k, _, p, d in axes)
        try:
            return pool_spec(kind, (n, c) + sizes, **options)
        except SymconvError:
            continue
    raise AssertionError(f"no size fits the pool {options}")  # pragma: no cover (a window always fits 12 more)


def random_specs(kind: str, count: int = SIZE_SETS, seed: int = 0) -> list:
    """``count`` small random layers of ``kind``: the first plain (stride 1, no padding, dilation 1), the next two
    with stride 3, padding 2 (a pool's largest) and dilation 2 on the first axis, the rest drawn at random."""
    if kind not in EXPLAIN_KINDS:
        raise SymconvError(f"KIND: got {kind!r}, expected a kind explain derives: {', '.join(EXPLAIN_KINDS)}")
    rng = np.random.default_rng(seed)
    draw = _random_conv if kind in CONV_KINDS else _random_pool
    return [draw(kind, rng, number) for number in range(count)]
