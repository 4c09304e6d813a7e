"""Forward definitions: the layer's outputs y as SymPy expressions of x, w, b.

This is the only place that knows what a layer computes; the engine
differentiates whatever is built here and never sees a gradient formula.

For a convolution (cross-correlation, PyTorch's convention), with ``g`` the
group of filter ``f`` and ``C_g`` the channels per group,

.. math::

    y_{n,f,o} = b_f + \\sum_{c'=0}^{C_g-1} \\sum_{k}
        w_{f,c',k}\\, x_{n,\\, gC_g + c',\\, oS - P + kD}

where the sum runs over kernel taps ``k`` whose input position lies inside x:
the zero padding contributes nothing, so it never appears.

>>> from symconv.spec import conv_spec
>>> y = conv_forward(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> y[(0, 0, 0)]
b[0] + w[0, 0, 0]*x[0, 0, 0] + w[0, 0, 1]*x[0, 0, 1]
"""

from __future__ import annotations

import itertools

from sympy import Add, Mul

from symconv.spec import ConvSpec
from symconv.tensors import element, indices


def _axis_taps(out, size, kernel, stride, dilation, before):
    """For one spatial axis: output position -> [(tap, input position)] inside x."""
    taps = {}
    for o in range(out):
        taps[o] = [
            (k, o * stride - before + k * dilation)
            for k in range(kernel)
            if 0 <= o * stride - before + k * dilation < size
        ]
    return taps


def conv_forward(spec: ConvSpec) -> dict[tuple[int, ...], object]:
    """Every output element of a convolution as an expression, keyed by index."""
    n_batch, channels = spec.input[:2]
    filters, per_group = spec.weight[:2]
    filters_per_group = filters // spec.groups
    out = spec.output_shape
    axis_taps = [
        _axis_taps(o, h, k, s, d, lo)
        for o, h, k, s, d, (lo, _) in zip(
            out[2:], spec.input[2:], spec.weight[2:], spec.stride, spec.dilation, spec.padding
        )
    ]
    forward = {}
    for index in indices(out):
        n, f, position = index[0], index[1], index[2:]
        first_channel = (f // filters_per_group) * per_group
        terms = []
        for cw in range(per_group):
            for pairs in itertools.product(*(t[o] for t, o in zip(axis_taps, position))):
                taps = tuple(k for k, _ in pairs)
                where = tuple(p for _, p in pairs)
                terms.append(
                    Mul(element("w", (f, cw) + taps), element("x", (n, first_channel + cw) + where))
                )
        if spec.bias:
            terms.append(element("b", (f,)))
        forward[index] = Add(*terms)
    return forward
