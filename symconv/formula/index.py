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

>>> formulas = derive_formulas("conv1d")
>>> print(formulas["db"].expression())
Sum(dy[n, f, i], (i, 0, L_o - 1), (n, 0, N - 1))
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sympy import (
    And, Eq, Function, Heaviside, Indexed, Integer, KroneckerDelta, Max, Min, Mod, Mul,
    Piecewise, Product, Sum, Symbol, ceiling, diff, floor, fraction, together,
)

from symconv.errors import SymconvError
from symconv.symbolic.tensors import base

from symconv.names import FORMULA_LAYERS as LAYERS  # noqa: E402


def size_symbol(name: str) -> Symbol:
    """A size, kernel, stride or dilation: a positive integer."""
    return Symbol(name, integer=True, positive=True)


def offset_symbol(name: str) -> Symbol:
    """A padding, or an element index: a non-negative integer."""
    return Symbol(name, integer=True, nonnegative=True)


@dataclass(frozen=True)
class Axis:
    """One spatial axis: input size, kernel, stride, padding, dilation, output size."""

    size: Symbol
    kernel: Symbol
    stride: Symbol
    padding: Symbol
    dilation: object  # a Symbol, or Integer(1) for a pool without dilation
    out: Symbol

    def out_size(self):
        """PyTorch's ``floor((H + 2P - D(K-1) - 1)/S) + 1``."""
        reach = self.dilation * (self.kernel - 1)
        return floor((self.size + 2 * self.padding - reach - 1) / self.stride) + 1

    def position(self, output, tap):
        """The input position that output ``output`` reads at tap ``tap``."""
        return output * self.stride + tap * self.dilation - self.padding


def _axis(size, kernel, stride, padding, dilation, out):
    return Axis(size_symbol(size), size_symbol(kernel), size_symbol(stride),
                offset_symbol(padding), size_symbol(dilation) if dilation else Integer(1),
                size_symbol(out))


AXES_1D = (_axis("L", "K", "S", "P", "D", "L_o"),)
AXES_2D = (_axis("H", "KH", "SH", "PH", "DH", "H_o"), _axis("W", "KW", "SW", "PW", "DW", "W_o"))
#: PyTorch's avg_pool2d has no dilation: its taps are consecutive.
AXES_AVG = (_axis("H", "KH", "SH", "PH", None, "H_o"), _axis("W", "KW", "SW", "PW", None, "W_o"))
BATCH, CHANNELS, FILTERS = size_symbol("N"), size_symbol("C"), size_symbol("F")


def idx(names: str):
    """Index symbols from a space-separated list: ``idx("n c")``."""
    return tuple(offset_symbol(name) for name in names.split())


class FirstArgmax(Function):
    r"""Iverson bracket :math:`[(k,l)` is the first maximum of window :math:`(i,j)` of :math:`x_{n,c}]`.

    Arguments ``(n, c, i, j, k, l)``. They hold no element of x, so its
    derivative is 0: the selector is piecewise constant, which is the
    subgradient of max PyTorch uses (ties go to the first maximum in
    row-major order; taps in the padding hold :math:`-\infty`).

    >>> n, c, i, j, k, l = idx("n c i j k l")
    >>> FirstArgmax(n, c, i, j, k, l).diff(base("x")[n, c, i, j])
    0
    """

    nargs = 6

    @classmethod
    def eval(cls, *args):
        return None  # never evaluated symbolically: it names a condition

    def definition(self):
        """The bracket as plain SymPy: a product over the window of Heaviside steps.

        Every other tap (kk, ll) inside x must hold less (if before (k, l) in
        row-major order) or at most as much (if after). Products of Piecewise
        leak their bound variable in SymPy, hence Heaviside, whose second
        argument is its value at 0 (ties).
        """
        n, c, i, j, k, l = self.args
        (ah, aw), (kk, ll) = AXES_2D, (Symbol("kk"), Symbol("ll"))
        ph, pw = ah.position(i, kk), aw.position(j, ll)
        inside = Mul(*(Heaviside(p, 1) * Heaviside(a.size - 1 - p, 1) for p, a in ((ph, ah), (pw, aw))))
        chosen = base("x")[n, c, ah.position(i, k), aw.position(j, l)]
        later = Heaviside((kk - k) * aw.kernel + ll - l, 1)
        beaten = 1 - Heaviside(chosen - base("x")[n, c, ph, pw], later)
        return Product(1 - inside * beaten, (ll, 0, aw.kernel - 1), (kk, 0, ah.kernel - 1))


@dataclass(frozen=True)
class Limit:
    """A summation variable and its bounds; ``tightened`` once derived from conditions."""

    var: Symbol
    lo: object
    hi: object
    tightened: bool = False


@dataclass(frozen=True)
class Span:
    """The condition ``lo <= expr <= hi`` (an Iverson bracket until it becomes bounds)."""

    expr: object
    lo: object
    hi: object


@dataclass(frozen=True)
class Divides:
    """The condition that ``divisor`` divides ``numerator`` (written :math:`d \\mid m`)."""

    divisor: object
    numerator: object


def _subs(value, mapping):
    return value.subs(mapping) if hasattr(value, "subs") else value


@dataclass(frozen=True)
class IndexSum:
    """``sum over limits of [conditions] * deltas * body``, the object being reduced.

    ``solved`` maps each variable eliminated by a delta to its solution; the
    body keeps the variable's name (``w[f, c, k]`` with ``k = (h+P-iS)/D``)
    and :meth:`expression` substitutes it. ``reduction`` is ``"max"`` only
    for a max pool's forward, whose body carries its :class:`FirstArgmax`.
    """

    body: object
    limits: tuple = ()
    spans: tuple = ()
    divides: tuple = ()
    deltas: tuple = ()
    solved: tuple = ()
    reduction: str = "sum"

    def substitute(self, mapping, body: bool = True) -> IndexSum:
        """Apply ``mapping`` everywhere (to the body too unless ``body=False``)."""
        return replace(
            self,
            body=self.body.subs(mapping) if body else self.body,
            limits=tuple(replace(l, lo=_subs(l.lo, mapping), hi=_subs(l.hi, mapping)) for l in self.limits),
            spans=tuple(Span(s.expr.subs(mapping), s.lo, s.hi) for s in self.spans),
            divides=tuple(Divides(d.divisor, d.numerator.subs(mapping)) for d in self.divides),
            deltas=tuple((a.subs(mapping), b.subs(mapping)) for a, b in self.deltas),
            solved=tuple((v, s.subs(mapping)) for v, s in self.solved),
        )

    def rename(self, mapping) -> IndexSum:
        """Rename index symbols, bound ones included."""
        renamed = self.substitute(mapping)
        return replace(
            renamed,
            limits=tuple(replace(l, var=mapping.get(l.var, l.var)) for l in renamed.limits),
            solved=tuple((mapping.get(v, v), s) for v, s in renamed.solved),
        )

    def eliminate(self) -> IndexSum:
        """Solve every Kronecker delta for the innermost summation variable it holds."""
        current = self
        while current.deltas:
            (a, b), rest = current.deltas[0], current.deltas[1:]
            current = replace(current, deltas=rest)._solve(a - b)
        return current

    def _solve(self, equation) -> IndexSum:
        bound = [limit for limit in self.limits if equation.has(limit.var)]
        if not bound:
            raise ValueError(f"a delta on free indices only: {equation} = 0")
        limit = bound[-1]
        var = limit.var
        coefficient = diff(equation, var)
        rest = equation.subs(var, 0)
        if coefficient.has(var) or coefficient.is_positive is None and coefficient.is_negative is None:
            raise ValueError(f"cannot solve {equation} = 0 for {var}")
        # coefficient*var + rest = 0, written var = numerator/divisor with divisor > 0.
        numerator, divisor = (-rest, coefficient) if coefficient.is_positive else (rest, -coefficient)
        solution = numerator / divisor
        divides = () if divisor == 1 else (Divides(divisor, numerator),)
        limits = tuple(l for l in self.limits if l.var != var)
        reduced = replace(self, limits=limits)
        trivial = isinstance(solution, Symbol)
        reduced = reduced.substitute({var: solution}, body=trivial)
        return replace(
            reduced,
            spans=reduced.spans + (Span(solution, limit.lo, limit.hi),),
            divides=reduced.divides + divides,
            solved=reduced.solved + (() if trivial else ((var, solution),)),
        )

    def tighten(self, domains) -> IndexSum:
        """Turn each condition linear in a summation variable into its bounds.

        ``lo <= a v + r <= hi`` with ``a > 0`` gives ``ceil((lo - r)/a) <= v <=
        floor((hi - r)/a)``; with ``a < 0`` the two swap. A condition on free
        indices that their ``domains`` (var -> (lo, hi)) imply is dropped.
        """
        limits, kept = list(self.limits), []
        for span in (_cleared(s) for s in self.spans):
            inner = [n for n, l in enumerate(limits) if span.expr.has(l.var)]
            if not inner:
                if not _implied(span, domains):
                    kept.append(span)
                continue
            limit = limits[inner[-1]]
            slope = diff(span.expr, limit.var)
            if slope.has(limit.var) or not (slope.is_positive or slope.is_negative):
                kept.append(span)
                continue
            rest = span.expr.subs(limit.var, 0)
            if slope.is_positive:
                lower, upper = ceiling((span.lo - rest) / slope), floor((span.hi - rest) / slope)
            else:
                lower, upper = ceiling((rest - span.hi) / -slope), floor((rest - span.lo) / -slope)
            limits[inner[-1]] = Limit(limit.var, Max(limit.lo, lower), Min(limit.hi, upper), True)
        return replace(self, limits=tuple(limits), spans=tuple(kept))

    def conditions(self) -> list:
        """The remaining Iverson brackets as SymPy booleans."""
        return [Eq(Mod(d.numerator, d.divisor), 0) for d in self.divides] + [
            And(s.lo <= s.expr, s.expr <= s.hi) for s in self.spans
        ]

    def expression(self, guard: bool = True):
        """The term as one SymPy expression (``Sum``, ``Piecewise``...).

        SymPy's ``Sum`` follows Karr's convention, where an upper bound below
        the lower bound minus one gives minus the sum over the gap; a
        tightened range can be that empty (a window wholly in the padding),
        so with ``guard`` its upper bound is written ``Max(lo - 1, hi)``,
        which makes an empty range sum to 0 as in ordinary notation.
        """
        body = self.body.subs(dict(self.solved))
        conditions = self.conditions()
        if conditions:
            body = Piecewise((body, And(*conditions)), (0, True))
        limits = [
            (l.var, l.lo, Max(l.lo - 1, l.hi) if guard and l.tightened else l.hi)
            for l in reversed(self.limits)  # SymPy lists the innermost first
        ]
        return Sum(body, *limits) if limits else body


def _cleared(span: Span) -> Span:
    """``lo <= m/d <= hi`` as ``d lo <= m <= d hi`` when d is positive: no fractions in bounds."""
    numerator, denominator = fraction(together(span.expr))
    if denominator != 1 and denominator.is_positive:
        return Span(numerator, span.lo * denominator, span.hi * denominator)
    return span


def _at_least(expr, bound, domains) -> bool:
    """Whether ``expr >= bound`` for every free index in its domain (linear worst case)."""
    gap = expr - bound
    for var, (lo, hi) in domains.items():
        slope = diff(gap, var)
        if slope == 0:
            continue
        if slope.has(var) or not (slope.is_nonnegative or slope.is_nonpositive):
            return False
        gap = gap.subs(var, lo if slope.is_nonnegative else hi)  # the worst case
    return bool(gap.is_nonnegative)


def _implied(span: Span, domains) -> bool:
    return _at_least(span.expr, span.lo, domains) and _at_least(span.hi, span.expr, domains)


def split_deltas(expr):
    """``(deltas as (a, b) pairs, the rest)`` of a product."""
    deltas, rest = [], []
    for factor in Mul.make_args(expr):
        (deltas.append(factor.args) if isinstance(factor, KroneckerDelta) else rest.append(factor))
    return tuple(deltas), Mul(*rest)


@dataclass(frozen=True)
class Formula:
    """``lhs = sum of terms``, plus how it was reached.

    ``chain`` holds the gradient's chain-rule terms before any delta was
    eliminated (empty for a forward); ``domains`` the free indices' ranges;
    ``axes`` the spatial axes whose output sizes the terms use.
    """

    name: str
    lhs: Indexed
    terms: tuple
    domains: dict
    axes: tuple
    chain: tuple = ()
    notes: tuple = field(default=())

    def expression(self, guard: bool = True):
        """The right-hand side in terms of the output-size symbols (``H_o``)."""
        return sum((t.expression(guard) for t in self.terms), Integer(0))

    def sympy(self):
        """Self-contained right-hand side: output sizes and selectors written out."""
        sizes = {a.out: a.out_size() for a in self.axes}
        expr = self.expression().subs(sizes)
        return expr.replace(lambda e: isinstance(e, FirstArgmax), lambda e: e.definition())

    def _repr_latex_(self) -> str:  # Jupyter shows the formula as the document prints it
        from symconv.printing.formula_document import formula_latex

        return formula_latex(self)


class Formulas(dict):
    """A layer's formulas by name (``forward``, ``dx``, ...), as :func:`derive_formulas` returns them.

    A dict that knows its layer, so that Jupyter shows it as the document
    ``symconv formula LAYER --format markdown`` prints: the notes on what
    the formulas assume, then a titled block per formula.
    """

    def __init__(self, layer: str, formulas):
        super().__init__(formulas)
        self.layer = layer

    def __repr__(self) -> str:
        return f"Formulas({self.layer!r}, {dict.__repr__(self)})"

    def _repr_markdown_(self) -> str:
        from symconv.printing.formula_document import write_formulas

        return write_formulas(self, "markdown")

    def _repr_latex_(self) -> str:
        from symconv.printing.formula_document import formulas_latex

        return formulas_latex(self)


def _prime(symbols):
    return {s: offset_symbol(s.name + "'") for s in symbols}


def differentiate(forward: Formula, tensor: str, free: tuple, domains: dict) -> Formula:
    """``d/d tensor[free]`` of ``L = sum dy y``: chain rule, then deltas eliminated, then bounds."""
    outputs = forward.lhs.indices
    rename = _prime(outputs)
    sizes = [forward.domains[o][1] for o in outputs]
    output_limits = tuple(Limit(rename[o], 0, hi) for o, hi in zip(outputs, sizes))
    upstream = base("dy")[tuple(rename[o] for o in outputs)]
    chain, terms = [], []
    for term in forward.terms:
        local = {**rename, **_prime(l.var for l in term.limits)}
        term = term.rename(local)
        deltas, rest = split_deltas(diff(term.body, base(tensor)[free]))
        if rest == 0:
            continue
        raw = IndexSum(upstream * rest, output_limits + term.limits, term.spans, deltas=deltas)
        chain.append(raw)
        reduced = raw.eliminate().tighten(domains)
        left = [l.var for l in reduced.limits] + [v for v, _ in reduced.solved]
        terms.append(reduced.rename({v: offset_symbol(v.name.rstrip("'")) for v in left}))
    lhs = base("d" + tensor)[free]
    return Formula("d" + tensor, lhs, tuple(terms), domains, forward.axes, tuple(chain))


def _domains(pairs):
    return {var: (Integer(0), size - 1) for var, size in pairs}


def conv_formulas(axes) -> dict[str, Formula]:
    """Forward, dx, dw and db of a convolution over ``axes`` (groups = 1)."""
    n, f, c = idx("n f c")
    outs, taps, places = idx("i j")[: len(axes)], idx("k l")[: len(axes)], idx("h q")[: len(axes)]
    positions = tuple(a.position(o, t) for a, o, t in zip(axes, outs, taps))
    product = IndexSum(
        base("w")[(f, c) + taps] * base("x")[(n, c) + positions],
        (Limit(c, 0, CHANNELS - 1),) + tuple(Limit(t, 0, a.kernel - 1) for t, a in zip(taps, axes)),
        tuple(Span(p, 0, a.size - 1) for p, a in zip(positions, axes)),
    )
    y_domains = _domains([(n, BATCH), (f, FILTERS)] + [(o, a.out) for o, a in zip(outs, axes)])
    forward_terms = (product, IndexSum(base("b")[f]))
    forward = Formula("y", base("y")[(n, f) + outs], forward_terms, y_domains, axes)
    x_domains = _domains([(n, BATCH), (c, CHANNELS)] + [(p, a.size) for p, a in zip(places, axes)])
    w_domains = _domains([(f, FILTERS), (c, CHANNELS)] + [(t, a.kernel) for t, a in zip(taps, axes)])
    return {
        "forward": replace(forward, terms=(product.tighten(y_domains), forward_terms[1])),
        "dx": differentiate(forward, "x", (n, c) + places, x_domains),
        "dw": differentiate(forward, "w", (f, c) + taps, w_domains),
        "db": differentiate(forward, "b", (f,), _domains([(f, FILTERS)])),
    }


def pool_formulas(kind: str) -> dict[str, Formula]:
    """Forward and dx of ``maxpool2d`` or ``avgpool2d`` (count_include_pad, no ceil_mode)."""
    axes = AXES_2D if kind == "maxpool2d" else AXES_AVG
    n, c, i, j, k, l, h, q = idx("n c i j k l h q")
    positions = (axes[0].position(i, k), axes[1].position(j, l))
    element = base("x")[(n, c) + positions]
    if kind == "maxpool2d":
        body, reduction = element * FirstArgmax(n, c, i, j, k, l), "max"
    else:
        # No ceil_mode: every window lies inside the padded input, so the
        # count_include_pad divisor is the whole window, KH*KW.
        body, reduction = element / (axes[0].kernel * axes[1].kernel), "sum"
    window = IndexSum(
        body, (Limit(k, 0, axes[0].kernel - 1), Limit(l, 0, axes[1].kernel - 1)),
        tuple(Span(p, 0, a.size - 1) for p, a in zip(positions, axes)), reduction=reduction,
    )
    y_domains = _domains([(n, BATCH), (c, CHANNELS), (i, axes[0].out), (j, axes[1].out)])
    forward = Formula("y", base("y")[n, c, i, j], (replace(window, reduction="sum"),), y_domains, axes)
    x_domains = _domains([(n, BATCH), (c, CHANNELS), (h, axes[0].size), (q, axes[1].size)])
    return {
        "forward": replace(forward, terms=(window.tighten(y_domains),)),
        "dx": differentiate(forward, "x", (n, c, h, q), x_domains),
    }


def derive_formulas(layer: str) -> Formulas:
    """The index formulas of ``layer``: forward, dx and, for convolutions, dw and db.

    >>> sorted(derive_formulas("avgpool2d"))
    ['dx', 'forward']
    """
    if layer == "conv1d":
        return Formulas(layer, conv_formulas(AXES_1D))
    if layer == "conv2d":
        return Formulas(layer, conv_formulas(AXES_2D))
    if layer in ("maxpool2d", "avgpool2d"):
        return Formulas(layer, pool_formulas(layer))
    raise SymconvError(f"layer: got {layer!r}, expected one of {', '.join(LAYERS)}")


def json_formulas(formulas: dict[str, Formula]) -> dict:
    """``{"dx": {"lhs": "dx[n, c, h, q]", "rhs": "<SymPy str>"}, ...}`` (the JSON contract)."""
    return {name: {"lhs": str(f.lhs), "rhs": str(f.sympy())} for name, f in formulas.items()}


def spec_sizes(spec) -> dict[str, int]:
    """Concrete values of the size symbols for a :class:`~symconv.spec.conv.ConvSpec`.

    >>> from symconv.spec.conv import conv_spec
    >>> spec_sizes(conv_spec("conv1d", (1, 2, 5), (3, 2, 2), stride=2))
    {'N': 1, 'C': 2, 'F': 3, 'L': 5, 'K': 2, 'S': 2, 'P': 0, 'D': 1}
    """
    if spec.groups != 1:
        raise SymconvError(f"groups: got {spec.groups}, expected 1 (the index formulas have no groups)")
    if any(lo != hi for lo, hi in spec.padding):
        raise SymconvError(
            f"padding: got {[list(p) for p in spec.padding]}, expected the same padding on both sides"
        )
    axes = AXES_1D if spec.ndim == 1 else AXES_2D
    sizes = {"N": spec.input[0], "C": spec.input[1], "F": spec.weight[0]}
    for a, size, kernel, stride, (pad, _), dilation in zip(
        axes, spec.input[2:], spec.weight[2:], spec.stride, spec.padding, spec.dilation
    ):
        sizes.update({a.size.name: size, a.kernel.name: kernel, a.stride.name: stride,
                      a.padding.name: pad, a.dilation.name: dilation})
    return sizes
