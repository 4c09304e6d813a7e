r"""How elements and equations read in LaTeX and in plain text, without SymPy.

A *notation* knows a document's index style (0- or 1-based, compact or with
commas) and spells an element (``x_{11}``, ``x[0,0,1,1]``), the left side of
an equation (``\frac{\partial L}{\partial x_{11}}``, ``dx[1,1]``) and the
layer-specific constructs (a max, an Iverson bracket, a common factor). The
tables held as arrays are written with these alone
(:mod:`symconv.printing.term_rows`); the SymPy printers
(:mod:`symconv.printing.sympy_printers`), which write tables of SymPy
expressions, inherit the same spelling (``printer_for`` there gives a
notation's SymPy printer when such a table has to be written).

>>> from symconv.printing.present import IndexStyle
>>> LatexNotation(IndexStyle(base=1, compact=True)).lhs_text("dx", (0, 0, 2, 0))
'\\frac{\\partial L}{\\partial x_{31}}'
>>> TextNotation(IndexStyle()).element_text("h2", (0, 1))
'h2[0,1]'
"""

from __future__ import annotations

import math

import numpy as np

from symconv.printing.present import LEADING_AXES, IndexStyle, split_name


def shown_columns(style: IndexStyle, name: str, shape) -> list:
    """Per shown axis, every element's index text (row-major), as :meth:`IndexStyle.shown` shows it."""
    drop = LEADING_AXES.get(split_name(name)[0], 0) if style.compact else 0
    grids = np.indices(shape).reshape(len(shape), -1)
    return [np.array([str(i + style.base) for i in range(shape[axis])], dtype=object)[grids[axis]]
            for axis in range(drop, len(shape))]


def _joined(columns, separator: str):
    joined = columns[0]
    for column in columns[1:]:
        joined = joined + (separator + column if separator else column)
    return joined


class LatexNotation:
    """LaTeX: ``x_{11}``, ``h^{(2)}_{0,0,1,1}``, ``\\max(...)``, ``\\,[...]``."""

    kind = "latex"
    SPELLING = {
        "max": r"\max(%s)",
        "bracket": r"\,[%s]",
        "factor": r"\frac{{{p}}}{{{q}}}\,",
        "integer": r"{p}\,",
        "open": r"\left(",
        "close": r"\right)",
        "iverson": r"[%s]",
        "softmax": r"\operatorname{softmax}(%s)_{%s}",
        "row": r"%s_{%s}",
        "sigma": r"\sigma(%s)",
        "dsigma": r"\sigma(%(z)s) \left(1 - \sigma(%(z)s)\right)",
        "dtanh": r"1 - \tanh^{2}(%s)",
        "eps": r"\epsilon",
        "times": " ",
        "normalized": r"\frac{%(num)s}{\sqrt{%(den)s}} \left(%(sum)s\right)",
    }

    #: How an intermediate quantity's name reads (a stack adds its layer: \hat{x}^{(3)}).
    STEMS = {"mu": r"\mu", "var": r"\sigma", "xhat": r"\hat{x}"}

    def __init__(self, style: IndexStyle = IndexStyle()):
        self.style = style

    def element_text(self, name, indices) -> str:
        """``x_{11}``, ``b`` or ``h^{(2)}_{0,0,1,1}``."""
        shown = self.style.shown(name, indices)
        separator = "" if self.style.compact else ","
        subscript = "_{%s}" % separator.join(map(str, shown)) if shown else ""
        return self._head(name) + subscript

    def _head(self, name) -> str:
        """An element's name before its subscript: ``x``, ``h^{(2)}``, ``\\mu``, ``{\\sigma^{(3)}}^{2}``."""
        stem, layer = split_name(name)
        # A stack's h2, w1, dh3 read h^{(2)}, w^{(1)}, dh^{(3)}, as in the seeds' Z^l.
        head = self.STEMS.get(stem, stem) + ("^{(%s)}" % layer if layer else "")
        if stem == "var":  # the variance is sigma squared: \sigma^{2}_{c}, {\sigma^{(3)}}^{2}_{c}
            head = "{%s}^{2}" % head if layer else head + "^{2}"
        return head

    def lhs_text(self, name, indices) -> str:
        """The left side of an equation: ``y_{11}``, or ``\\frac{\\partial L}{\\partial x_{11}}`` for a gradient."""
        if name.startswith("d"):
            return r"\frac{\partial L}{\partial %s}" % self.element_text(name[1:], indices)
        return self.element_text(name, indices)

    element_tex, lhs_tex = element_text, lhs_text

    def element_texts(self, name, shape) -> list[str]:
        """:meth:`element_text` of every element of a tensor, row-major, built with arrays."""
        head = self._head(name)
        columns = shown_columns(self.style, name, shape)
        if not columns:
            return [head] * math.prod(shape)
        return (head + "_{" + _joined(columns, "" if self.style.compact else ",") + "}").tolist()

    def lhs_texts(self, name, shape) -> list[str]:
        """:meth:`lhs_text` of every entry, row-major."""
        if name.startswith("d"):
            return [r"\frac{\partial L}{\partial " + t + "}" for t in self.element_texts(name[1:], shape)]
        return self.element_texts(name, shape)


class TextNotation:
    """Plain text: ``x[1,1]``, ``max(...)``, ``*[...]``."""

    kind = "text"
    SPELLING = {"max": "max(%s)", "bracket": "*[%s]", "factor": "{p}/{q}*", "integer": "{p}*", "open": "(",
                "close": ")", "iverson": "[%s]", "softmax": "softmax(%s)[%s]", "row": "%s[%s]",
                "sigma": "sigma(%s)", "dsigma": "sigma(%(z)s)*(1 - sigma(%(z)s))", "dtanh": "1 - tanh(%s)^2",
                "eps": "eps", "times": "*", "normalized": "%(num)s/sqrt(%(den)s)*(%(sum)s)"}

    def __init__(self, style: IndexStyle):
        self.style = style

    def element_text(self, name, indices) -> str:
        shown = self.style.shown(name, indices)
        return name + ("[" + ",".join(map(str, shown)) + "]" if shown else "")

    def lhs_text(self, name, indices) -> str:
        return self.element_text(name, indices)

    def element_texts(self, name, shape) -> list[str]:
        """:meth:`element_text` of every element of a tensor, row-major, built with arrays."""
        columns = shown_columns(self.style, name, shape)
        if not columns:
            return [name] * math.prod(shape)
        return (name + "[" + _joined(columns, ",") + "]").tolist()

    lhs_texts = element_texts
