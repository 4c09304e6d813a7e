r"""LaTeX for derivations, written like the seeds.

What the notation (:class:`~symconv.printing.notations.LatexNotation`, and
for tables of SymPy expressions its SymPy printer) changes from SymPy's:

* element subscripts follow an :class:`~symconv.printing.present.IndexStyle`:
  ``x_{11}`` (compact, 1-based) or ``x_{0,0,1,1}``;
* gradient entries on the left are written ``\frac{\partial L}{\partial x_{11}}``;
* a sum's terms come in reading order (the forward by weight index, gradients
  by dy index), not SymPy's canonical order;
* long sums wrap inside ``align*`` so a page never overflows.

Tables held as a :class:`~symconv.symbolic.terms.TermTable` are written
from the table's arrays, each element printed once, in exactly the text the
SymPy printer gives the same expression, without importing SymPy; tests hold
the two paths equal.

>>> from symconv.printing.present import IndexStyle
>>> notation = LatexNotation(IndexStyle(base=1, compact=True))
>>> notation.element_text("w", (0, 0, 0, 1)), notation.lhs_text("dx", (0, 0, 2, 0))
('w_{12}', '\\frac{\\partial L}{\\partial x_{31}}')
"""

from __future__ import annotations

from symconv.layers import rule_for
from symconv.names import OUTPUT_LETTERS
from symconv.printing.notations import LatexNotation
from symconv.printing.present import IndexStyle, describe, display_rank, element_sections, notes, split_name
from symconv.symbolic.terms import TermTable

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
% amsmath's matrices stop at 10 columns unless told; matrix pictures reach 12
% per side, a 1-D Jacobian more.
\setcounter{MaxMatrixCols}{64}
\begin{document}
"""


def __getattr__(name):
    if name == "SymconvLatexPrinter":  # the SymPy printer that used to live here, loaded (with SymPy) on first use
        from symconv.printing.sympy_printers import SymconvLatexPrinter

        return SymconvLatexPrinter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def table_rows(lhs: str, table, printer, joiner: str):
    """``(lhs text, [signed term texts])`` for every entry of ``table``, row-major.

    A :class:`TermTable` is printed from its arrays (each element printed
    once); any other mapping expression by expression, by the notation's
    SymPy printer. ``printer`` is a notation (:mod:`symconv.printing.notations`)
    or a SymPy printer in one.
    """
    if not isinstance(table, TermTable):
        from symconv.printing.sympy_printers import printer_for

        sympy_printer = printer_for(printer)
        return [(printer.lhs_text(lhs, index), sympy_printer.signed_terms(expr)) for index, expr in table.items()]
    if not table.plain:
        from symconv.printing.term_rows import general_rows

        return general_rows(lhs, table, printer)
    space = table.space
    names = [text for name, shape in space.shapes.items() for text in printer.element_texts(name, shape)]
    texts, bounds = table.term_strings(names, display_rank(space), joiner)
    rows = []
    for head, start, stop in zip(printer.lhs_texts(lhs, table.shape), bounds[:-1].tolist(), bounds[1:].tolist()):
        terms = texts[start:stop]
        rows.append((head, [terms[0]] + ["+ " + t for t in terms[1:]] if terms else ["0"]))
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
    printer = LatexNotation(style)
    for section in element_sections(derivation, progress):
        rows = table_rows(section.lhs, section.table, printer, " ")
        yield section, align_block(rows, TERMS_PER_LINE[style.compact], environment)


def math_document(fmt: str, title: str, intro: str, blocks, standalone: bool, heading: str) -> str:
    """A document of display-math blocks: Markdown, a LaTeX fragment, or a standalone LaTeX document.

    ``blocks(environment)`` gives the blocks in ``aligned`` (Markdown's
    ``$$``) or ``align*``; ``intro`` is prose with inline ``$...$`` math,
    which a LaTeX fragment keeps as a comment; ``heading`` titles the
    standalone document.
    """
    if fmt == "markdown":
        return "\n\n".join(["# " + title, intro] + ["$$\n" + b + "\n$$" for b in blocks("aligned")]) + "\n"
    if not standalone:
        return "\n\n".join(["% " + intro.replace("$", "")] + blocks("align*")) + "\n"
    body = "\n\n".join([r"\section*{%s}" % heading, intro] + blocks("align*"))
    return DOCUMENT_HEAD + body + "\n\\end{document}\n"


def tex_text(text: str) -> str:
    """Plain words (layer names such as leaky_relu, ceil_mode) made safe for LaTeX text."""
    for char in "\\&%#_":
        text = text.replace(char, "\\" + char)
    return text


def y_letters(spec) -> tuple[str, ...]:
    """The letters of y's index: n,k for logits (N,K), else n,f and the spatial ones ((t,) i, j)."""
    rank = len(spec.output_shape)
    return ("n", "k") if rank == 2 else ("n", "f") + OUTPUT_LETTERS[rank - 2]


def y_subscript(spec, style) -> str:
    """y's index as the documents write it: ``ij`` when compact, else ``n,f,i,j`` (``n,k`` for logits)."""
    letters = y_letters(spec)
    return "".join(letters[2:]) if style.compact else ",".join(letters)


def _intro(derivation, style):
    spec = derivation.spec
    sub = y_subscript(spec, style)
    at = "_{%s}" % sub if sub else ""
    text = (
        tex_text(describe(spec))
        + f". Output y has shape {tuple(spec.output_shape)}; "
        + f"indices are {style.base}-based; $dy{at}$ stands for "
        + f"$\\partial L / \\partial y{at}$."
    )
    told = notes(derivation)
    if told.stack_winners:
        text += (
            " $m_{...}$ is the winner of the window of $y_{...}$, and $m^{(l)}_{...}$ that of"
            " $h^{(l)}_{...}$: the window's first maximum in row-major order (PyTorch's rule for"
            " ties), so exactly one element per window receives its gradient."
        )
    if told.winner:
        text += (
            f" $m_{{{sub}}}$ is the winner of the window of $y_{{{sub}}}$: its first maximum in"
            " row-major order (PyTorch's rule for ties), so exactly one $x$ per window receives"
            f" $dy_{{{sub}}}$."
        )
    if told.mean_over is not None:
        text += f" The loss is the mean over the batch: every gradient is divided by N = {told.mean_over}."
    for _, tex in told.layer_notes:
        text += " " + tex
    if told.loss is not None:
        text += " The loss is " + told.loss[0]
    return text


def chain_rows(derivation):
    """A stack's backward pass in operator form, one row per step (seed 004's chain)."""
    def tensor(name):
        stem, layer = split_name(name)
        return stem + ("^{(%s)}" % layer if layer else "")

    rows = []
    for layer, names in zip(reversed(derivation.spec.layers), reversed(derivation.names)):
        tex = {role: tensor(name) for role, name in names.items()}
        tex["dy"] = r"\partial " + tensor(names["y"])
        rows += rule_for(layer).chain(layer, tex)
    if derivation.loss is not None:  # the chain starts from the loss's dy
        from symconv.layers.loss import loss_rule_for

        rows = loss_rule_for(derivation.loss).chain(derivation.loss) + rows
    return [(lhs, [rhs]) for lhs, rhs in rows]


_CHAIN_NOTE = (
    "The chain, last layer first: $\\hat{*}$ is the transposed convolution, $\\star$ the"
    " correlation that gives a filter's gradient, $\\odot$ the element-wise product;"
    " maxunpool sends each gradient to its window's first maximum, avgunpool spreads it evenly."
)
#: Added to the chain's note when a convolution pads with x's own entries (a padding mode).
FOLD_NOTE = (
    " $\\operatorname{pad}_m$ fills the padding with the input's own entries (padding mode m), and"
    " $\\operatorname{fold}_m$ adds the padded input's gradient back onto the entries they copy."
)


def chain_note(rows) -> str:
    """The note that says what the chain's operators are, the padding modes' too if it has any."""
    folds = any(r"\operatorname{fold}" in rhs for _, (rhs,) in rows)
    return _CHAIN_NOTE + (FOLD_NOTE if folds else "")


_LOSS_CHAIN_NOTE = " It starts from the loss's $\\partial y$, derived from the loss's definition."


def _chain_note(derivation, rows) -> str:
    """The chain's note, with the padding modes' and the loss's sentences where the chain has them."""
    return chain_note(rows) + (_LOSS_CHAIN_NOTE if derivation.loss is not None else "")


def latex_document(derivation, style: IndexStyle, standalone: bool = False, progress=None) -> str:
    """Element-wise equations as a LaTeX fragment or a complete document."""
    parts = []
    if derivation.is_stack:
        heading = r"\subsection*{The chain}" if standalone else "% The chain"
        rows = chain_rows(derivation)
        note = _chain_note(derivation, rows)
        note = note if standalone else "% " + note.replace("$", "")
        parts.append(heading + "\n" + note + "\n" + align_block(rows, 1))
    for section, block in _blocks(derivation, style, "align*", progress):
        heading = r"\subsection*{%s}" % tex_text(section.title) if standalone else "% " + section.title
        parts.append(heading + "\n" + block)
    body = "\n\n".join(parts) + "\n"
    intro = _intro(derivation, style)
    if not standalone:
        return "% " + intro.replace("$", "") + "\n\n" + body
    return DOCUMENT_HEAD + r"\section*{symconv}" + "\n" + intro + "\n\n" + body + "\\end{document}\n"


def markdown_document(derivation, style: IndexStyle, progress=None) -> str:
    """Markdown with ``$$`` blocks (``aligned`` inside) for MathJax and KaTeX."""
    parts = ["# " + describe(derivation.spec), _intro(derivation, style)]
    if derivation.is_stack:
        rows = chain_rows(derivation)
        parts += ["## The chain", _chain_note(derivation, rows), "$$\n" + align_block(rows, 1, "aligned") + "\n$$"]
    for section, block in _blocks(derivation, style, "aligned", progress):
        parts.append("## " + section.title)
        parts.append("$$\n" + block + "\n$$")
    return "\n\n".join(parts) + "\n"
