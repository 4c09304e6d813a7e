r"""Rich display in Jupyter: derivations and formulas as MathJax.

:func:`install` makes the functions methods (``Derivation._repr_latex_``, ...).
:func:`derivation_latex` writes one ``$$\begin{aligned} ... \end{aligned}$$``
block (MathJax and KaTeX both render ``aligned``) with a titled, aligned
block per section. A notebook would choke on a layer with a hundred thousand
equations, so each section shows its first :data:`MAX_EQUATIONS` equations
and each equation its first :data:`MAX_TERMS` terms, then a ``\vdots`` row
saying how many there are; :func:`symconv.printing.formats.render` prints them all.

>>> from symconv.spec.conv import conv_spec
>>> from symconv.engine.derive import derive
>>> text = derivation_latex(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))))
>>> print(text.splitlines()[6])
y_{0} &= w_{0} x_{0} + w_{1} x_{1} + b \\
"""

from __future__ import annotations

import sys



#: Equations shown per section (forward, dx, dw, db) before a \vdots row.
MAX_EQUATIONS = 40
#: Terms shown per equation before ``+ \cdots``.
MAX_TERMS = 24


def _first_rows(section, printer, count):
    """``(lhs, [terms])`` of the first ``count`` equations of a section, row-major.

    A TermTable keeps only the terms of those entries and is printed from its
    arrays, so a huge layer costs about what its first equations do.
    """
    import itertools

    from symconv.printing.latex import table_rows
    from symconv.symbolic.terms import TermTable

    table = section.table
    if isinstance(table, TermTable):
        table = table.head(count)
    else:
        table = dict(itertools.islice(table.items(), count))
    rows = table_rows(section.lhs, table, printer, " ")
    return rows[:count]


def _section_block(section, printer, per_line, max_equations, max_terms):
    from symconv.printing.latex import align_block

    total = len(section.table)
    rows = []
    for lhs, terms in _first_rows(section, printer, max_equations):
        if len(terms) > max_terms:
            terms = terms[:max_terms] + [rf"+ \cdots \text{{ ({len(terms)} terms)}}"]
        rows.append((lhs, terms))
    lines = ["&" + text_tex(section.title, "textbf"), "&" + align_block(rows, per_line, "aligned")]
    if total > len(rows):
        lines.append(rf"&\vdots \quad \text{{(first {len(rows)} of {total} equations; "
                     rf"symconv.printing.formats.render prints them all)}}")
    return lines


def text_tex(words: str, command: str = "text") -> str:
    r"""Words in math mode, as ``\text{...}``, safe for MathJax, KaTeX and LaTeX alike.

    An underscore (leaky_relu, ceil_mode) cannot stay inside ``\text``:
    LaTeX and KaTeX refuse a bare one, and MathJax prints an escaped one
    with its backslash. Outside, in math mode, ``\_`` is an underscore in
    all three.

    >>> text_tex("leaky_relu, ceil_mode")
    '\\text{leaky}\\_\\text{relu, ceil}\\_\\text{mode}'
    """
    return r"\_".join(rf"\{command}{{{part}}}" for part in words.split("_"))


def _subscript(derivation, style):
    from symconv.printing.latex import y_subscript  # the LaTeX document's own letters

    return y_subscript(derivation.spec, style)


def _notes(derivation, style):
    """What the symbols mean, as math-mode lines: dy, the max-pool winner m, the mean."""
    from symconv.printing.present import notes

    told = notes(derivation)
    sub = _subscript(derivation, style)
    lines = [rf"dy_{{{sub}}} \text{{ stands for }} \partial L / \partial y_{{{sub}}}"]
    if told.winner or told.stack_winners:
        lines.append(
            rf"m_{{{sub}}} \text{{ is the winner of the window of max-pool output {sub}: its first maximum "
            r"in row-major order (PyTorch's rule for ties)}"
        )
    if told.mean_over is not None:
        lines.append(rf"\text{{the loss is the mean over the batch: every gradient is divided by }} N = {told.mean_over}")
    return ["&" + line for line in lines]


#: What a stack's chain writes, as the LaTeX document says it (two lines).
_CHAIN_NOTES = (
    r"&\text{Last layer first: } \hat{*} \text{ is the transposed convolution, } \star"
    r"\text{ the correlation that gives a filter's gradient, } \odot \text{ the element-wise product;}",
    r"&\text{maxunpool sends each gradient to its window's first maximum, avgunpool spreads it evenly}",
)
#: The chain's third line when a convolution pads with x's own entries (a padding mode).
_FOLD_LINE = (r"&\operatorname{pad}_m \text{ fills the padding with the input's own entries (padding mode } m"
              r"\text{), and } \operatorname{fold}_m \text{ adds the padded input's gradient back onto the entries they copy}")


def derivation_latex(derivation, index_base: int = 0, max_equations: int = MAX_EQUATIONS,
                     max_terms: int = MAX_TERMS) -> str:
    """The element-wise equations of a derivation as one MathJax ``$$`` block.

    Suitable for ``Derivation._repr_latex_`` and ``StackDerivation._repr_latex_``;
    subscripts, term order and line wrapping are those of
    :func:`symconv.printing.formats.render` (``latex``). A header says which layer,
    how indices count and what dy (and a max pool's m) stand for; a
    stack's chain comes first, as in the LaTeX document.
    """
    from symconv.printing.latex import TERMS_PER_LINE, align_block
    from symconv.printing.notations import LatexNotation
    from symconv.printing.present import choose_style, describe, element_sections

    style = choose_style(derivation.spec, index_base)
    printer = LatexNotation(style)
    lines = ["&" + text_tex(f"{describe(derivation.spec)}; indices {style.base}-based")]
    lines += _notes(derivation, style)
    if derivation.is_stack:
        from symconv.printing.latex import chain_note, chain_rows  # the LaTeX document's own chain

        rows = chain_rows(derivation)
        folds = [_FOLD_LINE] if chain_note(rows) != chain_note([]) else []
        lines += [r"&\textbf{The chain}", *_CHAIN_NOTES, *folds, "&" + align_block(rows, 1, "aligned")]
    for section in element_sections(derivation):
        lines += _section_block(section, printer, TERMS_PER_LINE[style.compact], max_equations, max_terms)
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"


def install() -> None:
    """Give derivations and formulas their Jupyter displays (``_repr_latex_``, ``_repr_markdown_``).

    Printing is installed from here, as SymPy's ``init_printing`` does, so
    that the engine and the formulas never import the printers: deriving
    loads no printing at all. ``import symconv`` installs it on first use of
    the public API; calling it again changes nothing. The formulas (SymPy
    objects) get theirs when their module is loaded, so that deriving and
    printing a layer never imports SymPy.
    """
    from symconv.engine.derive import Derivation, StackDerivation

    Derivation._repr_latex_ = derivation_latex
    StackDerivation._repr_latex_ = derivation_latex
    if _FORMULAS in sys.modules:
        _install_formulas(sys.modules[_FORMULAS])
    elif not any(isinstance(finder, _WhenImported) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WhenImported(_FORMULAS, _install_formulas))


#: The module of the formula classes, whose displays wait until it is loaded.
_FORMULAS = "symconv.formula.index"


def _install_formulas(module) -> None:
    # The writers are looked up when a display is asked for: this runs while
    # the formula module is being loaded, perhaps by the writers' own module.
    def document():
        from symconv.printing import formula_document

        return formula_document

    module.Formula._repr_latex_ = lambda formula: document().formula_latex(formula)
    module.Formulas._repr_latex_ = lambda formulas: document().formulas_latex(formulas)
    module.Formulas._repr_markdown_ = lambda formulas: document().write_formulas(formulas, "markdown")


class _WhenImported:
    """A meta-path finder that runs ``then(module)`` once the module ``name`` has been executed, then leaves."""

    def __init__(self, name: str, then):
        self.name, self.then = name, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Then(spec.loader, self.then)  # a loader may serve other modules: wrap, never patch
        return spec


class _Then:
    """A loader that runs ``then(module)`` after ``loader`` has executed the module."""

    def __init__(self, loader, then):
        self.loader, self.then = loader, then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.then(module)

    def __getattr__(self, name):  # get_code, get_source, ...: the wrapped loader's
        return getattr(self.loader, name)


__all__ = ["derivation_latex", "install", "text_tex", "MAX_EQUATIONS", "MAX_TERMS"]
