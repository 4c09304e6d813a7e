r"""The building blocks of index formulas: symbolic sizes, axes, bounded sums, first-argmax selectors.

An :class:`IndexSum` is one term of a general formula: a product of tensor
elements with affine indices, summed over index ranges whose bounds are
tightened so that every term reads inside the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sympy import (
    And, Eq, Function, Heaviside, Integer, KroneckerDelta, Max, Min, Mod, Mul,
    Piecewise, Product, Sum, Symbol, ceiling, diff, floor, fraction, together,
)

from symconv.symbolic.tensors import base



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
#: The depth axis of a 3-D layer: D its size (``DD`` its dilation), before AXES_2D's H and W.
AXES_3D = (_axis("D", "KD", "SD", "PD", "DD", "D_o"),) + AXES_2D
#: PyTorch's avg_pool1d and avg_pool2d have no dilation: their taps are consecutive.
AXES_AVG_1D = (_axis("L", "K", "S", "P", None, "L_o"),)
AXES_AVG = (_axis("H", "KH", "SH", "PH", None, "H_o"), _axis("W", "KW", "SW", "PW", None, "W_o"))
BATCH, CHANNELS, FILTERS = size_symbol("N"), size_symbol("C"), size_symbol("F")
#: A grouped convolution's groups G, and each group's channels C_g = C/G and filters F_g = F/G.
GROUPS, GROUP_CHANNELS, GROUP_FILTERS = size_symbol("G"), size_symbol("C_g"), size_symbol("F_g")
#: What the group sizes stand for: written out where a formula must stand alone (JSON).
GROUP_SIZES = {GROUP_CHANNELS: CHANNELS / GROUPS, GROUP_FILTERS: FILTERS / GROUPS}


def idx(names: str):
    """Index symbols from a space-separated list: ``idx("n c")``."""
    return tuple(offset_symbol(name) for name in names.split())


class FirstArgmax(Function):
    r"""Iverson bracket :math:`[(k,l)` is the first maximum of window :math:`(i,j)` of :math:`x_{n,c}]`.

    Arguments ``(n, c, i, j, k, l)`` for a 2-D pool, ``(n, c, i, k)`` for a
    1-D one. They hold no element of x, so its derivative is 0: the selector
    is piecewise constant, which is the subgradient of max PyTorch uses (ties
    go to the first maximum in row-major order; taps in the padding hold
    :math:`-\infty`).

    >>> n, c, i, j, k, l = idx("n c i j k l")
    >>> FirstArgmax(n, c, i, j, k, l).diff(base("x")[n, c, i, j])
    0
    """

    nargs = (4, 6)

    @classmethod
    def eval(cls, *args):
        return None  # never evaluated symbolically: it names a condition

    @property
    def axes(self):
        """The spatial axes of the window: :data:`AXES_1D` or :data:`AXES_2D`."""
        return AXES_2D if len(self.args) == 6 else AXES_1D

    def parts(self):
        """``(n, c, outputs, taps)``: the window's sample and channel, its output index and the chosen tap."""
        n, c, *rest = self.args
        half = len(rest) // 2
        return n, c, tuple(rest[:half]), tuple(rest[half:])

    def definition(self):
        """The bracket as plain SymPy: a product over the window of Heaviside steps.

        Every other tap (kk, ll) inside x must hold less (if before (k, l) in
        row-major order) or at most as much (if after). Products of Piecewise
        leak their bound variable in SymPy, hence Heaviside, whose second
        argument is its value at 0 (ties).
        """
        n, c, outs, taps = self.parts()
        axes, others = self.axes, (Symbol("kk"), Symbol("ll"))[: len(outs)]
        places = [a.position(o, t) for a, o, t in zip(axes, outs, others)]
        inside = Mul(*(Heaviside(p, 1) * Heaviside(a.size - 1 - p, 1) for p, a in zip(places, axes)))
        chosen = base("x")[(n, c) + tuple(a.position(o, t) for a, o, t in zip(axes, outs, taps))]
        order = others[0] - taps[0]  # row-major: (kk - k) KW + ll - l
        for axis, other, tap in zip(axes[1:], others[1:], taps[1:]):
            order = order * axis.kernel + other - tap
        later = Heaviside(order, 1)
        beaten = 1 - Heaviside(chosen - base("x")[(n, c) + tuple(places)], later)
        limits = [(t, 0, a.kernel - 1) for t, a in zip(others, axes)]
        return Product(1 - inside * beaten, *reversed(limits))


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
        """Solve every Kronecker delta for a summation variable it holds (see :meth:`_solve`)."""
        current = self
        while current.deltas:
            (a, b), rest = current.deltas[0], current.deltas[1:]
            current = replace(current, deltas=rest)._solve(a - b)
        return current

    def _solve(self, equation) -> IndexSum:
        """Solve ``equation = 0`` for the innermost summation variable with coefficient +-1, if one
        has it (no divisibility condition: an output index of a scatter), else the innermost."""
        bound = [limit for limit in self.limits if equation.has(limit.var)]
        if not bound:
            raise ValueError(f"a delta on free indices only: {equation} = 0")
        unit = [limit for limit in bound if diff(equation, limit.var) in (1, -1)]
        limit = (unit or bound)[-1]
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


