r"""Index formulas of a transposed convolution, for every size: derived from its definition, the scatter.

The forward says where each input entry goes, with a Kronecker delta:

.. math::

    y_{n,f,o} = \sum_{c=0}^{C-1} \sum_{i=0}^{L-1} \sum_{k=0}^{K-1}
        x_{n,c,i}\, w_{c,f,k}\, \delta_{o,\, iS + kD - P} + b_f,
    \qquad L_o = (L-1)S - 2P + D(K-1) + A + 1

(``A`` is PyTorch's ``output_padding``). Solving that delta for the tap gives
the forward as a gather, the shape of a convolution's dx; in the chain rule
for dx and dw it is solved for the output position instead (its coefficient
is 1, so no divisibility is needed), and what comes out is the seeds'
relation read the other way: dx is a plain convolution of dy with w,

.. math::

    \frac{\partial L}{\partial x_{n,c,i}} = \sum_{f=0}^{F-1}
        \sum_{k=\max(0, \lceil (P - iS)/D \rceil)}^{\min(K-1, \lfloor (L_o - 1 + P - iS)/D \rfloor)}
        dy_{n,f,\, iS + kD - P}\; w_{c,f,k}.

>>> formulas = transpose_formulas(AXES_T1D)
>>> print(formulas["dx"].expression())
Sum(dy[n, f, D*k - P + S*i]*w[c, f, k], (k, Max(0, ceiling((P - S*i)/D)), Max(Max(0, ceiling((P - S*i)/D)) - 1, Min(K - 1, floor((L_o + P - S*i - 1)/D)))), (f, 0, F - 1))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sympy import Integer

from symconv.errors import SymconvError
from symconv.formula.chain import Formula, _domains, composite, differentiate
from symconv.formula.sums import (
    BATCH, CHANNELS, FILTERS, GROUP_CHANNELS, GROUP_FILTERS, GROUPS, Axis, IndexSum, Limit, idx, offset_symbol,
    size_symbol,
)
from symconv.symbolic.tensors import base


@dataclass(frozen=True)
class TransposedAxis(Axis):
    """One spatial axis of a transposed convolution: its output grows with the stride."""

    output_padding: object = Integer(0)

    def out_size(self):
        """PyTorch's ``(H-1)S - 2P + D(K-1) + output_padding + 1``."""
        return ((self.size - 1) * self.stride - 2 * self.padding + self.dilation * (self.kernel - 1)
                + self.output_padding + 1)


def _axis(size, kernel, stride, padding, dilation, out, extra):
    return TransposedAxis(size_symbol(size), size_symbol(kernel), size_symbol(stride), offset_symbol(padding),
                          size_symbol(dilation), size_symbol(out), offset_symbol(extra))


AXES_T1D = (_axis("L", "K", "S", "P", "D", "L_o", "A"),)
AXES_T2D = (_axis("H", "KH", "SH", "PH", "DH", "H_o", "AH"), _axis("W", "KW", "SW", "PW", "DW", "W_o", "AW"))


#: Per tensor of a grouped transposed convolution: where its (group, member) pair of indices sits, and the
#: group's size. w's first axis is the input channel: PyTorch's ConvTranspose layout (C_in, C_out/G, *K).
PAIRS = {"x": (1, GROUP_CHANNELS), "dx": (1, GROUP_CHANNELS), "y": (1, GROUP_FILTERS), "dy": (1, GROUP_FILTERS),
         "w": (0, GROUP_CHANNELS), "dw": (0, GROUP_CHANNELS), "b": (0, GROUP_FILTERS), "db": (0, GROUP_FILTERS)}


def transpose_formulas(axes, grouped: bool = False) -> dict[str, Formula]:
    r"""Forward, dx, dw and db of a transposed convolution over ``axes``; with ``grouped``, of G groups.

    x is :math:`(N, C, ...)`, w :math:`(C, F, ...)` (PyTorch's layout), b and
    y have F channels. The forward is shown as the gather its delta gives;
    the gradients are differentiated from the scatter, delta and all. With
    groups, input channel :math:`gC_g + c` feeds the outputs :math:`gF_g + f`
    of its group only, and w's first axis is the input channel's
    :math:`gC_g + c` (as :func:`symconv.formula.index.conv_formulas` does,
    the derivation runs on the (group, member) pairs).
    """
    n, f, c, g = idx("n f c g")
    outs, taps, inputs = idx("o p")[: len(axes)], idx("k l")[: len(axes)], idx("i j")[: len(axes)]
    lead, groups = ((g,), [(g, GROUPS)]) if grouped else ((), [])
    channels, filters = (GROUP_CHANNELS, GROUP_FILTERS) if grouped else (CHANNELS, FILTERS)
    scatter = IndexSum(
        base("x")[(n,) + lead + (c,) + inputs] * base("w")[lead + (c, f) + taps],
        (Limit(c, 0, channels - 1),) + tuple(Limit(i, 0, a.size - 1) for i, a in zip(inputs, axes))
        + tuple(Limit(t, 0, a.kernel - 1) for t, a in zip(taps, axes)),
        deltas=tuple((o, a.position(i, t)) for o, a, i, t in zip(outs, axes, inputs, taps)),
    )
    y_domains = _domains([(n, BATCH)] + groups + [(f, filters)] + [(o, a.out) for o, a in zip(outs, axes)])
    bias = IndexSum(base("b")[lead + (f,)])
    forward = Formula("y", base("y")[(n,) + lead + (f,) + outs], (scatter, bias), y_domains, axes)
    x_domains = _domains([(n, BATCH)] + groups + [(c, channels)] + [(i, a.size) for i, a in zip(inputs, axes)])
    w_domains = _domains(groups + [(c, channels), (f, filters)] + [(t, a.kernel) for t, a in zip(taps, axes)])
    formulas = {
        "forward": replace(forward, terms=(scatter.eliminate().tighten(y_domains), bias)),
        "dx": differentiate(forward, "x", (n,) + lead + (c,) + inputs, x_domains),
        "dw": differentiate(forward, "w", lead + (c, f) + taps, w_domains),
        "db": differentiate(forward, "b", lead + (f,), _domains(groups + [(f, filters)])),
    }
    return {name: composite(formula, PAIRS) for name, formula in formulas.items()} if grouped else formulas


def transpose_sizes(spec, groups: bool = False) -> dict[str, int]:
    """Concrete values of the size symbols for a :class:`~symconv.spec.conv_transpose.ConvTransposeSpec`.

    With ``groups`` (the formulas of ``derive_formulas(..., groups=True)``) G too, and C_g, F_g.

    >>> from symconv.spec.conv_transpose import conv_transpose_spec
    >>> transpose_sizes(conv_transpose_spec("conv_transpose1d", (1, 2, 5), (2, 3, 2), stride=2, output_padding=1))
    {'N': 1, 'C': 2, 'F': 3, 'L': 5, 'K': 2, 'S': 2, 'P': 0, 'D': 1, 'A': 1}
    """
    if spec.groups != 1 and not groups:
        raise SymconvError(f"groups: got {spec.groups}, expected 1 (the index formulas without --groups)")
    axes = AXES_T1D if spec.ndim == 1 else AXES_T2D
    sizes = {"N": spec.input[0], "C": spec.input[1], "F": spec.out_channels}
    for a, size, kernel, stride, pad, dilation, extra in zip(
            axes, spec.input[2:], spec.weight[2:], spec.stride, spec.padding, spec.dilation, spec.output_padding):
        sizes.update({a.size.name: size, a.kernel.name: kernel, a.stride.name: stride, a.padding.name: pad,
                      a.dilation.name: dilation, a.output_padding.name: extra})
    if groups:
        sizes.update({GROUPS.name: spec.groups, GROUP_CHANNELS.name: spec.input[1] // spec.groups,
                      GROUP_FILTERS.name: spec.weight[1]})
    return sizes
