"""Printing index formulas: LaTeX and plain text for :mod:`symconv.formula.index`.

The formulas hold sums with symbolic bounds, Kronecker deltas, divisibility
conditions and solved taps; these printers write them the way the seeds do:
sums with tightened bounds, Iverson brackets ``[D | h + P - iS]``, a
"where" line for the solved taps, and size names with subscripts (``S_H``).

The documents built from these printers (what ``symconv formula`` writes and
what Jupyter shows) are in :mod:`symconv.printing.formula_document`.
"""

from __future__ import annotations

import re

from sympy import (
    And, Eq, Indexed, Integer, KroneckerDelta, Mod, Mul,
    Piecewise, Sum, Symbol, fraction,
)
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symconv.formula.index import AXES_2D, FirstArgmax, IndexSum, idx
from symconv.symbolic.tensors import base
from symconv.printing.latex import SymconvLatexPrinter
from symconv.printing.present import DISPLAY_PRIORITY, IndexStyle


def display_parts(term: IndexSum):
    """What a reader sees of a term: bounds built of max/min/floor/ceiling named.

    Returns ``(limits, brackets, body, rows)``: ``limits`` as ``(var, lo,
    hi)`` with ``i_min`` / ``i_max`` for tightened bounds, ``brackets`` the
    Iverson conditions, and ``rows`` of ``(name, value)`` definitions: the
    solved taps the body names (``k = (h+P-iS)/D``), then each variable's bounds.
    """
    rows = [[(v, value) for v, value in term.solved if term.body.has(v)]]
    limits = []
    for limit in term.limits:
        lo, hi = limit.lo, limit.hi
        if limit.tightened:
            lo, hi = Symbol(limit.var.name + "_min"), Symbol(limit.var.name + "_max")
            rows.append([(lo, limit.lo), (hi, limit.hi)])
        limits.append((limit.var, lo, hi))
    # Unevaluated: SymPy would write Mod(h - 1, D) as Mod(h + D - 1, D).
    brackets = [Eq(Mod(d.numerator, d.divisor, evaluate=False), 0) for d in term.divides]
    brackets += [And(s.lo <= s.expr, s.expr <= s.hi) for s in term.spans]
    body = term.body
    if term.reduction == "max":  # the max itself is written, not its selector
        body = body.replace(lambda e: isinstance(e, FirstArgmax), lambda e: Integer(1))
    return limits, brackets, body, [row for row in rows if row]


def _argmax_parts(expr: FirstArgmax):
    """``(chosen taps, "u" or "(u, v)", the window's element at taps u, v)`` of a max pool's selector.

    Counted from 1 (a :class:`~symconv.formula.shift.FirstArgmaxFrom1`), tap u reads ``(i-1)S + (u-1)D - P + 1``.
    """
    n, c, outs, taps = expr.parts()
    over, b = idx("u v")[: len(taps)], getattr(expr, "index_base", 0)
    window = base("x")[(n, c) + tuple(a.position(o - b, t - b) + b for a, o, t in zip(expr.axes, outs, over))]
    return taps, over[0].name if len(over) == 1 else "(%s)" % ", ".join(v.name for v in over), window


#: Reading order of index letters and sizes inside a sum: ``i S + k D - P``, ``H + P - 1``.
_LETTERS = "ngfctijzhqoprkluvDHWLNCFKSPA"


def _rank(expr) -> int:
    names = [s.name[0] for s in expr.free_symbols if isinstance(s, Symbol)]
    return min((_LETTERS.find(n) % len(_LETTERS) for n in names), default=len(_LETTERS))


def term_key(term):
    """Reading order of a sum's terms: sums first, numbers last, positive before negative."""
    return (not term.has(Sum), term.is_number, term.could_extract_minus_sign(), _rank(term))


def _factor_key(factor):
    if factor.is_Number:
        return (0, 0, "")
    if isinstance(factor, (FirstArgmax, Piecewise)):
        return (1, 0, "")  # Iverson brackets lead
    if isinstance(factor, Indexed):
        return (2, DISPLAY_PRIORITY.get(factor.base.name, 9), factor.base.name)
    if isinstance(factor, Symbol):
        return (3 if factor.name[0].islower() else 4, 0, factor.name)
    return (5, 0, str(factor))


def _bounds(condition):
    """``(lo, expr, hi)`` of ``lo <= expr <= hi`` written as an And, else None."""
    relations = And.make_args(condition)
    if len(relations) == 2:
        (a, b), (c, d) = ((r.lts, r.gts) for r in relations)
        if b == c:
            return a, b, d
        if d == a:
            return c, a, b
    return None


def _delta_args(a, b):
    # The free index first: delta_{h, i'S + k'D - P}, as the hand derivations write it.
    return (b, a) if isinstance(b, Symbol) and "'" not in b.name and not (
        isinstance(a, Symbol) and "'" not in a.name) else (a, b)


def _sorted_deltas(term):
    return sorted(term.deltas, key=lambda pair: _rank(_delta_args(*pair)[0]))


_SUBSCRIPTED = re.compile(r"^([KSPDA])([DHW])$|^([DHWL])_o$|^(\w+?)_(min|max)$")


class FormulaLatexPrinter(SymconvLatexPrinter):
    r"""LaTeX for index formulas: Iverson brackets, divisibility, deltas, reading order.

    >>> h, i = idx("h i")
    >>> a = AXES_2D[0]
    >>> FormulaLatexPrinter().doprint(Piecewise((base("dy")[i], Eq(Mod(h + a.padding - i * a.stride, a.dilation), 0)), (0, True)))
    '\\left[D_{H} \\mid h + P_{H} - i S_{H}\\right] dy_{i}'
    """

    line_width = 200  # characters of LaTeX source before a chain rule is wrapped

    def __init__(self, settings=None):
        super().__init__(IndexStyle(), settings)

    def _print_Symbol(self, expr, style="plain"):
        match = _SUBSCRIPTED.match(expr.name)
        if match is None:
            return super()._print_Symbol(expr, style)
        letter, axis, size, name, end = match.groups()
        if letter:
            return "%s_{%s}" % (letter, axis)
        if size:
            return "%s_{o}" % size
        return r"%s_{\%s}" % (self._print(Symbol(name)), end)

    def _print_Indexed(self, expr):
        name = expr.base.name
        # A thin space after each comma once an index is an expression: x_{n,c,iS + kD - P,\,j}.
        separator = r",\," if any(i.is_Add for i in expr.indices) else ","
        tex = "%s_{%s}" % (name, separator.join(self._print(i) for i in expr.indices))
        return r"\frac{\partial L}{\partial %s}" % tex[1:] if name in ("dx", "dw", "db") else tex

    def _as_ordered_terms(self, expr, order=None):
        return sorted(LatexPrinter._as_ordered_terms(self, expr, order), key=term_key)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            return "- " + self._print(-expr)
        numerator, denominator = fraction(expr, exact=True)
        if denominator != 1:
            return r"\frac{%s}{%s}" % (self._print(numerator), self._print(denominator))
        factors = sorted(Mul.make_args(expr), key=_factor_key)
        texts = []
        for position, factor in enumerate(factors):
            text = self._print(factor)
            if self._needs_mul_brackets(factor, first=position == 0, last=position == len(factors) - 1) \
                    and not isinstance(factor, Piecewise):
                text = r"\left(%s\right)" % text
            texts.append(text)
        return " ".join(texts)

    def _print_Piecewise(self, expr):
        if len(expr.args) != 2 or tuple(expr.args[1]) != (0, True):
            return super()._print_Piecewise(expr)
        value, condition = expr.args[0]
        brackets = [r"\left[%s\right]" % self._print(c) for c in And.make_args(condition)]
        return " ".join(brackets + [self._print(value)])

    def _print_Equality(self, expr):
        left, right = expr.args
        if isinstance(left, Mod) and right == 0:
            return r"%s \mid %s" % (self._print(left.args[1]), self._print(left.args[0]))
        return super()._print_Relational(expr)

    def _print_And(self, expr):
        chain = _bounds(expr)
        if chain is None:
            return r" \wedge ".join(self._print(a) for a in expr.args)
        return r" \le ".join(self._print(a) for a in chain)

    def _print_KroneckerDelta(self, expr, exp=None):
        return r"\delta_{%s,%s}" % tuple(self._print(a) for a in _delta_args(*expr.args))

    def _print_FirstArgmax(self, expr):
        taps, over, window = _argmax_parts(expr)
        chosen = ", ".join(map(self._print, taps))
        return r"\left[%s = \mathop{\mathrm{arg\,max}}\limits_{%s} %s\right]" % (
            chosen if len(taps) == 1 else "(%s)" % chosen, over.replace(" ", ""), self._print(window))

    _print_FirstArgmaxFrom1 = _print_FirstArgmax  # SymPy looks a Function's printer up by its own name

    def index_sum(self, term: IndexSum) -> tuple[str, list]:
        """``(lines of tex, rows of (name, value) definitions)``: one line, or three for a chain rule."""
        limits, brackets, body, rows = display_parts(term)
        show = self._print
        if term.reduction == "max":
            ranges = r" \\ ".join(r"%s \le %s \le %s" % (show(lo), show(v), show(hi)) for v, lo, hi in limits)
            head = r"\max_{\substack{%s}} " % ranges
        elif term.deltas:  # the chain rule, over the full ranges: variables only
            head = r"\sum_{%s} " % ",".join(show(v) for v, _, _ in limits)
        else:
            head = "".join(r"\sum_{%s=%s}^{%s} " % (show(v), show(lo), show(hi)) for v, lo, hi in limits)
        text = show(body)
        if body.is_Add:
            text = r"\left(%s\right)" % text
        deltas = [show(KroneckerDelta(a, b, evaluate=False)) for a, b in _sorted_deltas(term)]
        brackets = [r"\left[%s\right]" % show(b) for b in brackets]
        if term.deltas:  # long: the deltas and the padding brackets go on lines of their own
            lines = [head + text] + [" ".join(group) for group in (deltas, brackets) if group]
            lines = [" ".join(lines)] if len(" ".join(lines)) <= self.line_width else lines
        else:
            lines = [head + " ".join(brackets + [text])]
            if len(lines[0]) > self.line_width and brackets:  # a max pool's selector is long
                lines = [head + " ".join(brackets), text]
        return lines, [[(show(a), show(b)) for a, b in row] for row in rows]


class FormulaTextPrinter(StrPrinter):
    """Plain text for index formulas: ``sum_{i=i_min}^{i_max} [DH | h + PH - i*SH] dy[n, f, i]``.

    >>> from symconv.formula.index import AXES_1D
    >>> n, f, i = idx("n f i")
    >>> FormulaTextPrinter().doprint(Sum(base("dy")[n, f, i], (i, 0, AXES_1D[0].out - 1)))
    'sum_{i=0}^{L_o - 1} dy[n, f, i]'
    """

    printmethod = "_symconv_formula_text"  # Indexed has its own _sympystr
    line_width = 110

    def _print_Indexed(self, expr):
        return "%s[%s]" % (expr.base.name, ", ".join(self._print(i) for i in expr.indices))

    def _as_ordered_terms(self, expr, order=None):
        return sorted(StrPrinter._as_ordered_terms(self, expr, order), key=term_key)

    def _print_Piecewise(self, expr):
        if len(expr.args) != 2 or tuple(expr.args[1]) != (0, True):
            return super()._print_Piecewise(expr)
        value, condition = expr.args[0]
        return " ".join(["[%s]" % self._print(c) for c in And.make_args(condition)] + [self._print(value)])

    def _print_Equality(self, expr):
        left, right = expr.args
        if isinstance(left, Mod) and right == 0:
            return "%s | %s" % (self._print(left.args[1]), self._print(left.args[0]))
        return super()._print_Relational(expr)

    def _print_And(self, expr):
        chain = _bounds(expr)
        return " and ".join(map(self._print, expr.args)) if chain is None else " <= ".join(map(self._print, chain))

    def _print_KroneckerDelta(self, expr):
        return "delta(%s, %s)" % tuple(self._print(a) for a in _delta_args(*expr.args))

    def _print_FirstArgmax(self, expr):
        taps, over, window = _argmax_parts(expr)
        chosen = ", ".join(map(self._print, taps))
        return "[%s = argmax_{%s} %s]" % (chosen if len(taps) == 1 else "(%s)" % chosen, over, self._print(window))

    _print_FirstArgmaxFrom1 = _print_FirstArgmax

    def _print_Sum(self, expr):
        sums = "".join("sum_{%s=%s}^{%s} " % tuple(map(self._print, limit)) for limit in reversed(expr.limits))
        return sums + self._print(expr.function)

    def index_sum(self, term: IndexSum) -> tuple[str, list]:
        """``(lines of text, rows of (name, value) definitions)``, as :meth:`FormulaLatexPrinter.index_sum`."""
        limits, brackets, body, rows = display_parts(term)
        show = self._print
        if term.reduction == "max":
            head = "max_{%s} " % ", ".join("%s <= %s <= %s" % (show(lo), show(v), show(hi)) for v, lo, hi in limits)
        elif term.deltas:
            head = "sum_{%s} " % ", ".join(show(v) for v, _, _ in limits)
        else:
            head = "".join("sum_{%s=%s}^{%s} " % (show(v), show(lo), show(hi)) for v, lo, hi in limits)
        text = "(%s)" % show(body) if body.is_Add else show(body)
        deltas = [show(KroneckerDelta(a, b, evaluate=False)) for a, b in _sorted_deltas(term)]
        brackets = ["[%s]" % show(b) for b in brackets]
        if term.deltas:
            lines = [head + text] + [" ".join(group) for group in (deltas, brackets) if group]
            lines = [" ".join(lines)] if len(" ".join(lines)) <= self.line_width else lines
        else:
            lines = [head + " ".join(brackets + [text])]
        return lines, [[(show(a), show(b)) for a, b in row] for row in rows]
