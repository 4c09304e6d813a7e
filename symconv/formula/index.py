r"""Index formulas: a layer's forward and gradients for every size at once.

The engine answers for one layer of given sizes; this module answers with the
sizes, stride, padding and dilation left as symbols. Nothing here is a typed-in
gradient: each formula is differentiated from the forward definition and
reduced by the delta calculus the hand derivations use (seed 001).

For a convolution (cross-correlation, zero padding) the forward is

.. math::

    y_{n,f,i} = \sum_{c=0}^{C-1} \sum_{k=0}^{K-1} w_{f,c,k}\, x_{n,c,iS+kD-P}\,
        [0 \le iS+kD-P \le L-1] + b_f

and, with :math:`L = \sum dy\, y`, the chain rule gives

.. math::

    \frac{\partial L}{\partial x_{n,c,h}} = \sum_{n',f',i'} \sum_{c',k'}
        dy_{n',f',i'}\, w_{f',c',k'}\, \delta_{n,n'} \delta_{c,c'}
        \delta_{h,\, i'S+k'D-P}\, [0 \le h \le L-1].

Each delta is solved for the innermost summation variable it holds (here the
tap :math:`k' = (h+P-i'S)/D`, an integer only when :math:`D \mid h+P-i'S`);
the solved variable's range becomes a condition on the others, and every
condition linear in one summation variable becomes that variable's bounds,
with a ceiling below and a floor above. The scatter "each output adds to the
inputs it read" turns into the gather "each input sums the outputs that read
it":

.. math::

    \frac{\partial L}{\partial x_{n,c,h}} = \sum_{f=0}^{F-1}
        \sum_{i=\max(0, \lceil (h+P-D(K-1))/S \rceil)}^{\min(L_o-1, \lfloor (h+P)/S \rfloor)}
        [D \mid h+P-iS]\; dy_{n,f,i}\, w_{f,c,(h+P-iS)/D}.

A grouped convolution (``groups=True``) is derived the same way, over each
element's pair (group, channel in the group) (:func:`conv_formulas`);
``index_base=1`` reads the result with every index counted from 1
(:mod:`symconv.formula.shift`).

>>> formulas = derive_formulas("conv1d")
>>> print(formulas["db"].expression())
Sum(dy[n, f, i], (i, 0, L_o - 1), (n, 0, N - 1))
"""

from __future__ import annotations

from dataclasses import replace

from sympy import Mul

from symconv.errors import SymconvError
from symconv.formula.sums import (  # noqa: F401  (re-exported: what the formulas are made of)
    BATCH,
    CHANNELS,
    FILTERS,
    AXES_1D,
    AXES_2D,
    AXES_3D,
    AXES_AVG,
    AXES_AVG_1D,
    GROUP_CHANNELS,
    GROUP_FILTERS,
    GROUP_SIZES,
    GROUPS,
    FirstArgmax,
    IndexSum,
    Limit,
    Span,
    idx,
    offset_symbol,
    split_deltas,
)
from symconv.formula.chain import Formula, _domains, composite, differentiate  # noqa: F401  (re-exported)
from symconv.formula.transpose import AXES_T1D, AXES_T2D, transpose_formulas
from symconv.names import FORMULA_LAYERS as LAYERS
from symconv.symbolic.tensors import base


class Formulas(dict):
    """A layer's formulas by name (``forward``, ``dx``, ...), as :func:`derive_formulas` returns them.

    A dict that knows its layer, whether its convolution has groups, and
    where its indices count from, so that Jupyter shows it as the document
    ``symconv formula LAYER --format markdown`` prints: the notes on what
    the formulas assume, then a titled block per formula. ``zero_based``
    holds the same formulas counted from 0, which the JSON contract always
    gives (as ``derive``'s JSON does whatever ``--index-base`` says).
    """

    def __init__(self, layer: str, formulas, groups: bool = False, index_base: int = 0, zero_based=None):
        super().__init__(formulas)
        self.layer, self.groups, self.index_base = layer, groups, index_base
        self.zero_based = dict(formulas) if zero_based is None else zero_based

    def __repr__(self) -> str:
        return f"Formulas({self.layer!r}, {dict.__repr__(self)})"


def axis_indices(ndim: int):
    """``(outputs, taps, input positions)``: one index symbol of each per spatial axis.

    1-D and 2-D layers use ``i, j`` (outputs), ``k, l`` (taps) and ``h, q``
    (positions of x) on their last axes; a 3-D layer's depth axis comes first
    with ``t``, ``r`` and ``z``.
    """
    letters = ("i j", "k l", "h q") if ndim < 3 else ("t i j", "r k l", "z h q")
    return tuple(idx(names)[:ndim] for names in letters)


def conv_formulas(axes, grouped: bool = False) -> dict[str, Formula]:
    r"""Forward, dx, dw and db of a convolution over ``axes``; with ``grouped``, of G groups.

    PyTorch's groups split the C channels and the F filters into G blocks in
    order: filter :math:`gF_g + f` of group g reads channels :math:`gC_g`
    to :math:`gC_g + C_g - 1`. An element of x is then named by its group
    and its channel in the group, :math:`x_{n,\,gC_g + c}` with
    :math:`0 \le c < C_g` (division with remainder: the pair is unique), and
    likewise w, b, y and dy by the group and the filter in the group. The
    derivation runs on those pairs (the forward is G convolutions side by
    side, so the chain rule gives :math:`\delta_{g,g'}\delta_{c,c'}`), and
    the results are written back with the composite indices.
    """
    n, f, c, g = idx("n f c g")
    outs, taps, places = axis_indices(len(axes))
    positions = tuple(a.position(o, t) for a, o, t in zip(axes, outs, taps))
    lead, groups = ((g,), [(g, GROUPS)]) if grouped else ((), [])
    channels, filters = (GROUP_CHANNELS, GROUP_FILTERS) if grouped else (CHANNELS, FILTERS)
    product = IndexSum(
        base("w")[lead + (f, c) + taps] * base("x")[(n,) + lead + (c,) + positions],
        (Limit(c, 0, channels - 1),) + tuple(Limit(t, 0, a.kernel - 1) for t, a in zip(taps, axes)),
        tuple(Span(p, 0, a.size - 1) for p, a in zip(positions, axes)),
    )
    y_domains = _domains([(n, BATCH)] + groups + [(f, filters)] + [(o, a.out) for o, a in zip(outs, axes)])
    forward_terms = (product, IndexSum(base("b")[lead + (f,)]))
    forward = Formula("y", base("y")[(n,) + lead + (f,) + outs], forward_terms, y_domains, axes)
    x_domains = _domains([(n, BATCH)] + groups + [(c, channels)] + [(p, a.size) for p, a in zip(places, axes)])
    w_domains = _domains(groups + [(f, filters), (c, channels)] + [(t, a.kernel) for t, a in zip(taps, axes)])
    formulas = {
        "forward": replace(forward, terms=(product.tighten(y_domains), forward_terms[1]), definition=forward_terms),
        "dx": differentiate(forward, "x", (n,) + lead + (c,) + places, x_domains),
        "dw": differentiate(forward, "w", lead + (f, c) + taps, w_domains),
        "db": differentiate(forward, "b", lead + (f,), _domains(groups + [(f, filters)])),
    }
    return {name: composite(formula, _PAIRS) for name, formula in formulas.items()} if grouped else formulas


#: Per tensor of a grouped convolution: where its (group, member) pair of indices sits, and the group's size.
_PAIRS = {"x": (1, GROUP_CHANNELS), "dx": (1, GROUP_CHANNELS), "y": (1, GROUP_FILTERS), "dy": (1, GROUP_FILTERS),
          "w": (0, GROUP_FILTERS), "dw": (0, GROUP_FILTERS), "b": (0, GROUP_FILTERS), "db": (0, GROUP_FILTERS)}


#: Each pool's axes and reduction: a max pool dilates, an average pool does not.
POOLS = {"maxpool1d": (AXES_1D, "max"), "maxpool2d": (AXES_2D, "max"),
         "avgpool1d": (AXES_AVG_1D, "sum"), "avgpool2d": (AXES_AVG, "sum")}


def pool_formulas(kind: str) -> dict[str, Formula]:
    """Forward and dx of a max or average pool, 1-D or 2-D (count_include_pad, no ceil_mode)."""
    axes, reduction = POOLS[kind]
    n, c = idx("n c")
    outs, taps, places = idx("i j")[: len(axes)], idx("k l")[: len(axes)], idx("h q")[: len(axes)]
    positions = tuple(a.position(o, t) for a, o, t in zip(axes, outs, taps))
    element = base("x")[(n, c) + positions]
    if reduction == "max":
        body = element * FirstArgmax(n, c, *outs, *taps)
    else:
        # No ceil_mode: every window lies inside the padded input, so the
        # count_include_pad divisor is the whole window, K (1-D) or KH*KW.
        body = element / Mul(*(a.kernel for a in axes))
    window = IndexSum(
        body, tuple(Limit(t, 0, a.kernel - 1) for t, a in zip(taps, axes)),
        tuple(Span(p, 0, a.size - 1) for p, a in zip(positions, axes)), reduction=reduction,
    )
    y_domains = _domains([(n, BATCH), (c, CHANNELS)] + [(o, a.out) for o, a in zip(outs, axes)])
    forward = Formula("y", base("y")[(n, c) + outs], (replace(window, reduction="sum"),), y_domains, axes)
    x_domains = _domains([(n, BATCH), (c, CHANNELS)] + [(p, a.size) for p, a in zip(places, axes)])
    return {
        "forward": replace(forward, terms=(window.tighten(y_domains),), definition=forward.terms),
        "dx": differentiate(forward, "x", (n, c) + places, x_domains),
    }


def derive_formulas(layer: str, groups: bool = False, index_base: int = 0) -> Formulas:
    """The index formulas of ``layer``: forward, dx and, for convolutions, dw and db.

    ``groups`` gives a convolution's formulas for G groups (G, C_g = C/G and
    F_g = F/G stay symbols); ``index_base`` 1 counts every index from 1.

    >>> sorted(derive_formulas("avgpool2d"))
    ['dx', 'forward']
    >>> print(derive_formulas("conv1d", index_base=1)["db"].expression())
    Sum(dy[n, f, i], (i, 1, L_o), (n, 1, N))
    """
    if layer not in BUILDERS:
        raise SymconvError(f"layer: got {layer!r}, expected one of {', '.join(LAYERS)}")
    if groups and layer not in GROUPED:
        raise SymconvError(f"groups: got --groups for {layer}, expected it only for "
                           f"{', '.join(GROUPED[:-1])} and {GROUPED[-1]}")
    if index_base not in (0, 1):
        raise SymconvError(f"index_base: got {index_base!r}, expected 0 or 1")
    formulas = BUILDERS[layer](groups)
    if index_base == 0:
        return Formulas(layer, formulas, groups)
    shifted = {name: formula.counted_from_one() for name, formula in formulas.items()}
    return Formulas(layer, shifted, groups, index_base, zero_based=formulas)


#: How each layer's formulas are built (from whether it has groups); the keys are
#: :data:`symconv.names.FORMULA_LAYERS`.
BUILDERS = {
    "conv1d": lambda groups: conv_formulas(AXES_1D, groups),
    "conv2d": lambda groups: conv_formulas(AXES_2D, groups),
    "conv3d": lambda groups: conv_formulas(AXES_3D, groups),
    "conv_transpose1d": lambda groups: transpose_formulas(AXES_T1D, groups),
    "conv_transpose2d": lambda groups: transpose_formulas(AXES_T2D, groups),
    "maxpool1d": lambda groups: pool_formulas("maxpool1d"),
    "maxpool2d": lambda groups: pool_formulas("maxpool2d"),
    "avgpool1d": lambda groups: pool_formulas("avgpool1d"),
    "avgpool2d": lambda groups: pool_formulas("avgpool2d"),
}
assert tuple(BUILDERS) == LAYERS
#: The layers whose formulas take groups.
GROUPED = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d")


def json_formulas(formulas: dict[str, Formula]) -> dict:
    """``{"dx": {"lhs": "dx[n, c, h, q]", "rhs": "<SymPy str>"}, ...}`` (the JSON contract).

    Always counted from 0 (a :class:`Formulas` counted from 1 gives its
    ``zero_based`` twins), with the output and group sizes written out.
    """
    zero = formulas.zero_based if isinstance(formulas, Formulas) else formulas
    return {name: {"lhs": str(f.sympy_lhs()), "rhs": str(f.sympy())} for name, f in zero.items()}


def spec_sizes(spec, groups: bool = False) -> dict[str, int]:
    """Concrete values of the size symbols for a :class:`~symconv.spec.conv.ConvSpec`.

    With ``groups`` (the formulas of ``derive_formulas(..., groups=True)``)
    G too, and C_g, F_g for the formulas as printed.

    >>> from symconv.spec.conv import conv_spec
    >>> spec_sizes(conv_spec("conv1d", (1, 2, 5), (3, 2, 2), stride=2))
    {'N': 1, 'C': 2, 'F': 3, 'L': 5, 'K': 2, 'S': 2, 'P': 0, 'D': 1}
    """
    if spec.groups != 1 and not groups:
        raise SymconvError(f"groups: got {spec.groups}, expected 1 (the index formulas without --groups)")
    if any(lo != hi for lo, hi in spec.padding):
        raise SymconvError(
            f"padding: got {[list(p) for p in spec.padding]}, expected the same padding on both sides"
        )
    if spec.padding_mode != "zeros":
        raise SymconvError(f"padding-mode: got {spec.padding_mode}, expected zeros (the index formulas pad with zeros)")
    axes = {1: AXES_1D, 2: AXES_2D, 3: AXES_3D}[spec.ndim]
    sizes = {"N": spec.input[0], "C": spec.input[1], "F": spec.weight[0]}
    for a, size, kernel, stride, (pad, _), dilation in zip(
        axes, spec.input[2:], spec.weight[2:], spec.stride, spec.padding, spec.dilation
    ):
        sizes.update({a.size.name: size, a.kernel.name: kernel, a.stride.name: stride,
                      a.padding.name: pad, a.dilation.name: dilation})
    if groups:
        sizes.update({GROUPS.name: spec.groups, GROUP_CHANNELS.name: spec.input[1] // spec.groups,
                      GROUP_FILTERS.name: spec.weight[0] // spec.groups})
    return sizes
