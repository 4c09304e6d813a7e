r"""LaTeX for derivations: a SymPy ``LatexPrinter`` that writes like the seeds.

What it changes from SymPy's printer:

* element subscripts follow an :class:`~symconv.present.IndexStyle`:
  ``x_{11}`` (compact, 1-based) or ``x_{0,0,1,1}``;
* gradient entries on the left are written ``\frac{\partial L}{\partial x_{11}}``;
* a sum's terms come in reading order (the forward by weight index, gradients
  by dy index), not SymPy's canonical order;
* long sums wrap inside ``align*`` so a page never overflows.

Sums of products held in a :class:`~symconv.terms.TermTable` are written
from the table's arrays, each element printed once, in exactly the text the
printer gives the same expression; tests hold the two paths equal.

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

from symconv.present import IndexStyle, describe, display_key, display_rank, element_sections
from symconv.terms import TermTable

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

    def element_tex(self, name, indices) -> str:
        """``x_{11}``, ``b`` or ``\\frac{\\partial L}{\\partial x_{0,0,1,1}}``."""
        shown = self.style.shown(name, indices)
        separator = "" if self.style.compact else ","
        subscript = "_{%s}" % separator.join(map(str, shown)) if shown else ""
        if name in ("dx", "dw", "db"):
            return r"\frac{\partial L}{\partial %s}" % (name[1:] + subscript)
        return name + subscript

    def _print_Indexed(self, expr):
        return self.element_tex(expr.base.name, expr.indices)

    def _as_ordered_terms(self, expr, order=None):
        from sympy import Add

        return sorted(Add.make_args(expr), key=display_key)

    def signed_terms(self, expr) -> list[str]:
        """The terms of ``expr`` in reading order, each after its sign but the first's."""
        texts = []
        for position, term in enumerate(self._as_ordered_terms(expr)):
            if term.could_extract_minus_sign():
                sign, term = "- ", -term
            else:
                sign = "+ " if position else ""
            text = self._print(term)
            if self._needs_add_brackets(term):
                text = r"\left(%s\right)" % text
            texts.append(sign + text)
        return texts


def table_rows(lhs: str, table, print_element, print_terms, joiner: str):
    """``(lhs text, [signed term texts])`` for every entry of ``table``, row-major.

    A :class:`TermTable` is printed from its arrays (each element printed
    once); any other mapping expression by expression with ``print_terms``.
    """
    if not isinstance(table, TermTable):
        return [(print_element(lhs, index), print_terms(expr)) for index, expr in table.items()]
    space = table.space
    names = [print_element(name, index) for _, name, index in space.each()]
    texts, bounds = table.term_strings(names, display_rank(space), joiner)
    rows = []
    for index, start, stop in zip(table, bounds[:-1].tolist(), bounds[1:].tolist()):
        terms = texts[start:stop]
        rows.append((print_element(lhs, index), [terms[0]] + ["+ " + t for t in terms[1:]] if terms else ["0"]))
    return rows


def align_block(rows, per_line: int, environment: str = "align*") -> str:
    """``lhs &= rhs`` rows in one ``align*`` (or ``aligned``) environment."""
    body = []
    for lhs, terms in rows:
        lines = [" ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
        body.append(lhs + " &= " + lines[0])
        body.extend(r"&\quad " + line for line in lines[1:])
    return "\\begin{%s}\n%s\n\\end{%s}" % (environment, " \\\\\n".join(body), environment)


def _blocks(derivation, style, environment, progress=None):
    printer = SymconvLatexPrinter(style)
    for section in element_sections(derivation, progress):
        rows = table_rows(section.lhs, section.table, printer.element_tex, printer.signed_terms, " ")
        yield section, align_block(rows, TERMS_PER_LINE[style.compact], environment)


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


def latex_document(derivation, style: IndexStyle, standalone: bool = False, progress=None) -> str:
    """Element-wise equations as a LaTeX fragment or a complete document."""
    parts = []
    for section, block in _blocks(derivation, style, "align*", progress):
        heading = r"\subsection*{%s}" % section.title if standalone else "% " + section.title
        parts.append(heading + "\n" + block)
    body = "\n\n".join(parts) + "\n"
    intro = _intro(derivation, style)
    if not standalone:
        return "% " + intro.replace("$", "") + "\n\n" + body
    return DOCUMENT_HEAD + r"\section*{symconv}" + "\n" + intro + "\n\n" + body + "\\end{document}\n"


def markdown_document(derivation, style: IndexStyle, progress=None) -> str:
    """Markdown with ``$$`` blocks (``aligned`` inside) for MathJax and KaTeX."""
    parts = ["# " + describe(derivation.spec), _intro(derivation, style)]
    for section, block in _blocks(derivation, style, "aligned", progress):
        parts.append("## " + section.title)
        parts.append("$$\n" + block + "\n$$")
    return "\n\n".join(parts) + "\n"
