r"""SymPy printers in symconv's notation, for tables held as SymPy expressions.

Tables held as arrays (:class:`~symconv.symbolic.terms.TermTable`) are
written without SymPy (:mod:`symconv.printing.term_rows`); these printers
write the rest (expressions of other forms, formulas, matrix pictures) in
the same notation (:mod:`symconv.printing.notations`) with the same
readable constructs (:class:`~symconv.printing.notation.ReadableNotation`).
Importing this module imports SymPy.

>>> from symconv.symbolic.tensors import element
>>> from symconv.printing.present import IndexStyle
>>> printer = SymconvLatexPrinter(IndexStyle(base=1, compact=True))
>>> printer.doprint(element("w", (0, 0, 0, 1)) * element("x", (0, 0, 1, 1)))
'w_{12} x_{22}'
"""

from __future__ import annotations

from sympy import Indexed, Piecewise, S
from sympy.core.relational import Relational
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symconv.printing.notation import ReadableNotation
from symconv.printing.notations import LatexNotation, TextNotation
from symconv.printing.present import IndexStyle


class SymconvLatexPrinter(LatexNotation, ReadableNotation, LatexPrinter):
    """LaTeX printer for symconv's element-wise equations."""

    def __init__(self, style: IndexStyle = IndexStyle(), settings=None):
        LatexPrinter.__init__(self, settings or {})
        self.style = style

    def _print_Indexed(self, expr):
        return self.element_tex(expr.base.name, expr.indices)

    def _print_tanh(self, expr, exp=None):
        return r"\tanh%s(%s)" % ("^{%s}" % exp if exp else "", self._print(expr.args[0]))

    def _print_exp(self, expr, exp=None):
        text = r"e^{%s}" % self._print(expr.args[0])
        return r"\left(%s\right)^{%s}" % (text, exp) if exp else text


class TextPrinter(TextNotation, ReadableNotation, StrPrinter):
    """Plain-text equations with the same subscripts and term order as LaTeX."""

    # Indexed has its own _sympystr; a private printmethod makes ours win.
    printmethod = "_symconv_text"

    def __init__(self, style: IndexStyle):
        StrPrinter.__init__(self)
        self.style = style

    def _print_Indexed(self, expr):
        return self.element_text(expr.base.name, expr.indices)

    def _print_Pow(self, expr, rational=False):
        # x^2 as people write it (the JSON keeps SymPy's x**2); any inner power was written so already.
        return super()._print_Pow(expr, rational).replace("**", "^")


def printer_for(notation):
    """The SymPy printer writing ``notation`` (a notation's own, or the printer itself if it is one)."""
    if hasattr(notation, "doprint"):
        return notation
    return {"latex": SymconvLatexPrinter, "text": TextPrinter}[notation.kind](notation.style)


class RememberingStrPrinter(StrPrinter):
    """SymPy's ``str()`` printer that remembers what it has printed.

    A max pool's gradient repeats the forward's indicators, and every element
    recurs in many comparisons; printing each once made the JSON of a
    1x3x32x32 pool several times faster. The strings are the printer's own,
    so they are ``str()``'s (a test holds the two equal).
    """

    REMEMBERED = (Indexed, Relational, Piecewise)

    def __init__(self):
        super().__init__()
        self._printed = {}

    def _print_And(self, expr):
        # StrPrinter moves a comparison whose canonical form reads "... > -oo"
        # to the front; finding the canonical form cost ~80 us per comparison
        # (most of the printing time of a max pool), and only a comparison
        # with an infinite side can have that form, so others skip it.
        infinite = (S.Infinity, S.NegativeInfinity)
        if any(isinstance(a, Relational) and (a.lhs in infinite or a.rhs in infinite) for a in expr.args):
            return super()._print_And(expr)
        return self.stringify(expr.args, " & ", PRECEDENCE["BitwiseAnd"])

    def _print(self, expr, **kwargs):
        if kwargs or not isinstance(expr, self.REMEMBERED):
            return super()._print(expr, **kwargs)
        text = self._printed.get(expr)
        if text is None:
            text = self._printed[expr] = super()._print(expr)
        return text
