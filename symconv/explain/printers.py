r"""How a step is written: LaTeX and text printers for the steps, and the why sentences in each.

The formula printers (:mod:`symconv.printing.formula_print`) already write
sums with bounds, divisibility and range brackets, solved taps and max-pool
selectors the way the seeds do; these add what a step holds besides:

* a Kronecker delta is an Iverson bracket, ``[h = i'S + k'D - P]``;
* the chain rule's derivative, :math:`\partial y_{n',f',i'} / \partial x_{n,c,h}`;
* an element at one entry in the derive printer's subscripts (``x_{22}``
  when the batch, channel and filter axes are 1);
* a closed form exactly as ``symconv derive`` writes that entry.

>>> from sympy import KroneckerDelta, Symbol
>>> from symconv.symbolic.tensors import base
>>> h, i = Symbol("h"), Symbol("i'")
>>> ExplainLatexPrinter().doprint(KroneckerDelta(h, 2 * i, evaluate=False))
"\\left[h = 2 i'\\right]"
>>> ExplainLatexPrinter(compact=True).doprint(base("dy")[0, 0, 1, 2] * base("w")[0, 0, 2, 1])
'dy_{12} w_{21}'
"""

from __future__ import annotations

from sympy import Basic, Derivative, Indexed, Mod, Mul, Sum
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symconv.explain.model import Bracket, Why
from symconv.printing.formats import TextPrinter
from symconv.printing.formula_print import (
    FormulaLatexPrinter, FormulaTextPrinter, _argmax_parts, _delta_args, _rank,
)
from symconv.printing.latex import SymconvLatexPrinter, tex_text
from symconv.printing.present import LEADING_AXES, IndexStyle


def _sides(a, b):
    """A bracket's two sides, a free index (or an expression) on the left of a number: ``[i' + k' = 2]``."""
    a, b = _delta_args(a, b)
    return (b, a) if a.is_number and not b.is_number else (a, b)


def reading_order(term):
    """A sum's terms as a reader writes them: positive before negative, so ``3 - i`` rather than ``-i + 3``;
    among the positive ones sums first and numbers last (``h + P - i S``, ``i + k - 1``)."""
    return (term.could_extract_minus_sign(), not term.has(Sum), term.is_number, _rank(term))


def _shown_indices(expr, compact: bool) -> list:
    """The indices of ``expr`` shown: the batch/channel/filter ones dropped when ``compact`` and concrete."""
    indices = list(expr.indices)
    lead = LEADING_AXES.get(expr.base.name, 0)
    if compact and all(i.is_Integer for i in indices[:lead]):
        indices = indices[lead:]
    return indices


def _digits(indices) -> bool:
    return bool(indices) and all(i.is_Integer and 0 <= i <= 9 for i in indices)


def _selector(printer, expr, latex: bool) -> str:
    """A max pool's first-maximum bracket, its window written at the layer's sizes when the printer has them."""
    taps, over, window = _argmax_parts(expr)
    window = window.xreplace(printer.sizes) if printer.sizes else window
    chosen = ", ".join(map(printer._print, taps))
    chosen = chosen if len(taps) == 1 else "(%s)" % chosen
    if latex:
        return r"\left[%s = \mathop{\mathrm{arg\,max}}\limits_{%s} %s\right]" % (
            chosen, over.replace(" ", ""), printer._print(window))
    return "[%s = argmax_{%s} %s]" % (chosen, over, printer._print(window))


class ExplainLatexPrinter(FormulaLatexPrinter):
    """The formula printer, with deltas as brackets, the chain rule's derivative and compact subscripts.

    ``sizes`` (``{size symbol: value}``) are the layer's, for a max pool's window.
    """

    def __init__(self, compact: bool = False, sizes=None, settings=None):
        super().__init__(settings)
        self.compact, self.sizes = compact, sizes or {}

    def _print_FirstArgmax(self, expr):
        return _selector(self, expr, True)

    _print_FirstArgmaxFrom1 = _print_FirstArgmax

    def _print_Indexed(self, expr):
        name, indices = expr.base.name, _shown_indices(expr, self.compact)
        if self.compact and _digits(indices):
            sub = "".join(str(i) for i in indices)  # x_{22}, as the seeds write it
        else:
            sub = (r",\," if any(i.is_Add for i in indices) else ",").join(self._print(i) for i in indices)
        tex = "%s_{%s}" % (name, sub) if sub else name
        return r"\frac{\partial L}{\partial %s}" % tex[1:] if name in ("dx", "dw", "db") else tex

    def _as_ordered_terms(self, expr, order=None):
        return sorted(LatexPrinter._as_ordered_terms(self, expr, order), key=reading_order)

    def _print_KroneckerDelta(self, expr, exp=None):
        a, b = _sides(*expr.args)
        return r"\left[%s = %s\right]" % (self._print(a), self._print(b))

    def _print_Derivative(self, expr):
        (by, _), = expr.variable_count
        if isinstance(expr.expr, Indexed):
            return r"\frac{\partial %s}{\partial %s}" % (self._print(expr.expr), self._print(by))
        return r"\frac{\partial}{\partial %s} \left(%s\right)" % (self._print(by), self._print(expr.expr))

    def _print_Equality(self, expr):
        if isinstance(expr.lhs, Mod) and expr.rhs == 0:
            return super()._print_Equality(expr)
        return "%s = %s" % (self._print(expr.lhs), self._print(expr.rhs))


class ExplainTextPrinter(FormulaTextPrinter):
    """Plain text: ``[h = S*i' + D*k' - P]``, ``d y[n', f', i'] / d x[n, c, h]``, ``a = b``."""

    def __init__(self, compact: bool = False, sizes=None, settings=None):
        super().__init__(settings)
        self.compact, self.sizes = compact, sizes or {}

    def _print_FirstArgmax(self, expr):
        return _selector(self, expr, False)

    _print_FirstArgmaxFrom1 = _print_FirstArgmax

    def _print_Indexed(self, expr):
        # Concrete compact indices as derive's text writes them (x[2,2]); others as the formulas do.
        indices = _shown_indices(expr, self.compact)
        separator = "," if self.compact and all(i.is_Integer for i in indices) else ", "
        sub = separator.join(self._print(i) for i in indices)
        return "%s[%s]" % (expr.base.name, sub) if sub else expr.base.name

    def _as_ordered_terms(self, expr, order=None):
        return sorted(StrPrinter._as_ordered_terms(self, expr, order), key=reading_order)

    def _print_Mul(self, expr):
        # dy first and the chain rule's derivative after it, as the LaTeX reads: dy[i']*d y[i']/d x[h]
        derivatives = [f for f in expr.args if isinstance(f, Derivative)]
        if derivatives and len(expr.args) > len(derivatives):
            rest = Mul(*(f for f in expr.args if not isinstance(f, Derivative)))
            return "*".join([self._print(rest)] + [self._print(d) for d in derivatives])
        return super()._print_Mul(expr)

    def _print_KroneckerDelta(self, expr):
        a, b = _sides(*expr.args)
        return "[%s = %s]" % (self._print(a), self._print(b))

    def _print_Derivative(self, expr):
        (by, _), = expr.variable_count
        inner = self._print(expr.expr)
        return "d %s/d %s" % (inner if isinstance(expr.expr, Indexed) else "(%s)" % inner, self._print(by))

    def _print_Equality(self, expr):
        if isinstance(expr.lhs, Mod) and expr.rhs == 0:
            return super()._print_Equality(expr)
        return "%s = %s" % (self._print(expr.lhs), self._print(expr.rhs))


class ClosedLatexPrinter(SymconvLatexPrinter):
    """A closed form exactly as ``symconv derive`` prints the entry (its subscripts, its order of terms)."""

    def __init__(self, style: IndexStyle, sizes=None):
        super().__init__(style)
        self.selector = ExplainLatexPrinter(compact=style.compact, sizes=sizes)
        self.shift = style.base

    def _print_FirstArgmax(self, expr):
        from symconv.formula.shift import one_more

        return self.selector._print(one_more(expr) if self.shift else expr)


class ClosedTextPrinter(TextPrinter):
    """A closed form as ``symconv derive --format text`` prints the entry."""

    def __init__(self, style: IndexStyle, sizes=None):
        super().__init__(style)
        self.selector = ExplainTextPrinter(compact=style.compact, sizes=sizes)

    def _print_FirstArgmax(self, expr):
        from symconv.formula.shift import one_more

        return self.selector._print(one_more(expr) if self.style.base else expr)


def _listed(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def _value(value, printer, math: str) -> str:
    """One value of a why sentence: mathematics between ``math`` delimiters, words as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return _listed([_value(v, printer, math) for v in value])
    if isinstance(value, Bracket):
        inside = printer._print(value.condition)
        bracket = r"\left[%s\right]" % inside if math else "[%s]" % inside
        return math + bracket + math
    if isinstance(value, tuple):
        return math + "(" + ", ".join(printer._print(v) for v in value) + ")" + math
    if isinstance(value, Basic):
        return math + printer._print(value) + math
    return str(value)


def why_text(why: Why, printer, fmt: str) -> str:
    """The sentence in ``fmt``: LaTeX (and Markdown) with ``$...$`` mathematics, or plain text."""
    math = "" if fmt in ("text", "json") else "$"
    template = tex_text(why.template) if fmt == "latex" else why.template
    return template.format(*(_value(v, printer, math) for v in why.values))

