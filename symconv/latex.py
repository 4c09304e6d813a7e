r"""LaTeX for derivations: a SymPy ``LatexPrinter`` that writes like the seeds.

What it changes from SymPy's printer:

* element subscripts follow an :class:`~symconv.present.IndexStyle`:
  ``x_{11}`` (compact, 1-based) or ``x_{0,0,1,1}``;
* gradient entries on the left are written ``\frac{\partial L}{\partial x_{11}}``;
* a sum's terms come in reading order (the forward by weight index, gradients
  by dy index), not SymPy's canonical order;
* long sums wrap inside ``align*`` so a page never overflows.

>>> from symconv.tensors import element
>>> from symconv.present import IndexStyle
>>> printer = SymconvLatexPrinter(IndexStyle(base=1, compact=True))
>>> printer.doprint(element("w", (0, 0, 0, 1)) * element("x", (0, 0, 1, 1)))
'w_{12} x_{22}'
>>> printer.doprint(element("dx", (0, 0, 2, 0)))
'\\frac{\\partial L}{\\partial x_{31}}'
"""

from __future__ import annotations

from sympy.printing.latex import LatexPrinter

from symconv.present import IndexStyle, describe, display_key, element_sections

#: Terms per line before an ``align*`` row wraps: compact subscripts are
#: narrow; ``dy_{0,1,2,3} x_{0,1,4,5}`` is about twice as wide.
TERMS_PER_LINE = {True: 6, False: 4}

DOCUMENT_HEAD = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{amssymb}
% Wider text without the geometry package: only amsmath and amssymb are needed.
\addtolength{\textwidth}{4cm}
\addtolength{\oddsidemargin}{-2cm}
\allowdisplaybreaks
\begin{document}
"""


class SymconvLatexPrinter(LatexPrinter):
    """LaTeX printer for symconv's element-wise equations."""

    def __init__(self, style: IndexStyle = IndexStyle(), settings=None):
        super().__init__(settings or {})
        self.style = style

    def _subscript(self, name, indices):
        shown = self.style.shown(name, indices)
        if not shown:
            return ""
        separator = "" if self.style.compact else ","
        return "_{%s}" % separator.join(map(str, shown))

    def _print_Indexed(self, expr):
        name = expr.base.name
        if name in ("dx", "dw", "db"):
            inner = name[1:] + self._subscript(name, expr.indices)
            return r"\frac{\partial L}{\partial %s}" % inner
        return name + self._subscript(name, expr.indices)

    def _as_ordered_terms(self, expr, order=None):
        from sympy import Add

        return sorted(Add.make_args(expr), key=display_key)

    def sum_lines(self, expr) -> list[str]:
        """The terms of ``expr`` joined with signs, split into lines."""
        per_line = TERMS_PER_LINE[self.style.compact]
        terms = self._as_ordered_terms(expr)
        lines, current = [], ""
        for position, term in enumerate(terms):
            if position and position % per_line == 0:
                lines.append(current)
                current = ""
            if term.could_extract_minus_sign():
                sign, term = "- ", -term
            else:
                sign = "+ " if position else ""
            text = self._print(term)
            if self._needs_add_brackets(term):
                text = r"\left(%s\right)" % text
            current += (" " if current else "") + sign + text
        lines.append(current)
        return lines


def align_block(rows, printer: SymconvLatexPrinter, environment: str = "align*") -> str:
    """``lhs &= rhs`` rows in one ``align*`` (or ``aligned``) environment."""
    body = []
    for lhs, rhs in rows:
        lines = printer.sum_lines(rhs)
        body.append(printer.doprint(lhs) + " &= " + lines[0])
        body.extend(r"&\quad " + line for line in lines[1:])
    return "\\begin{%s}\n%s\n\\end{%s}" % (environment, " \\\\\n".join(body), environment)


def _intro(derivation, style):
    spec = derivation.spec
    letters = ("i", "j")[: spec.ndim]
    sub = "".join(letters) if style.compact else ",".join(("n", "f") + letters)
    return (
        describe(spec)
        + f". Output y has shape {tuple(spec.output_shape)}; "
        + f"indices are {style.base}-based; $dy_{{{sub}}}$ stands for "
        + f"$\\partial L / \\partial y_{{{sub}}}$."
    )


def latex_document(derivation, style: IndexStyle, standalone: bool = False) -> str:
    """Element-wise equations as a LaTeX fragment or a complete document."""
    printer = SymconvLatexPrinter(style)
    parts = []
    for section in element_sections(derivation):
        heading = (
            r"\subsection*{%s}" % section.title if standalone else "% " + section.title
        )
        parts.append(heading + "\n" + align_block(section.rows, printer))
    body = "\n\n".join(parts) + "\n"
    intro = _intro(derivation, style)
    if not standalone:
        return "% " + intro.replace("$", "") + "\n\n" + body
    return DOCUMENT_HEAD + r"\section*{symconv}" + "\n" + intro + "\n\n" + body + "\\end{document}\n"


def markdown_document(derivation, style: IndexStyle) -> str:
    """Markdown with ``$$`` blocks (``aligned`` inside) for MathJax and KaTeX."""
    printer = SymconvLatexPrinter(style)
    parts = ["# " + describe(derivation.spec), _intro(derivation, style)]
    for section in element_sections(derivation):
        parts.append("## " + section.title)
        parts.append("$$\n" + align_block(section.rows, printer, "aligned") + "\n$$")
    return "\n\n".join(parts) + "\n"
