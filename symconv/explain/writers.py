r"""An explanation as a document: LaTeX (a textbook page), Markdown (KaTeX), plain text, or JSON.

Each writer prints the same derived steps, numbered, each with its title,
its one line of why and its equation; the steps are grouped by what they
derive (the forward, then each gradient). :data:`WRITERS` holds one writer
per format.

The JSON::

    {"kind": "conv2d", "layer": {...} (with sizes only),
     "steps": [{"title": str, "quantity": "y"|"dx"|"dw"|"db", "lhs": str, "rhs": str, "why": str}, ...]}

``lhs`` and ``rhs`` are SymPy's ``str()`` in the form of ``symconv formula
--format json`` (output sizes written out, a max pool's selector as its
product of steps, the chain rule's primed indices renamed ``i1``), read back
by ``parse_expr`` with the tensor names as ``IndexedBase`` and the size names
as ``Symbol``; always 0-based.
"""

from __future__ import annotations

import json
import re

from sympy import Indexed

from symconv.errors import SymconvError
from symconv.explain.model import Explanation, json_string
from symconv.explain.printers import (
    ClosedLatexPrinter, ClosedTextPrinter, ExplainLatexPrinter, ExplainTextPrinter, why_text,
)
from symconv.explain.words import element_of
from symconv.names import FORMATS
from symconv.printing.formula_document import SCOPE, latex_block, size_rows
from symconv.printing.latex import DOCUMENT_HEAD, TERMS_PER_LINE, tex_text
from symconv.printing.present import IndexStyle, choose_style, describe

#: The heading over each group of steps.
GROUPS = {"y": "The forward pass", "dx": "The gradient with respect to the input x",
          "dw": "The gradient with respect to the weights w", "db": "The gradient with respect to the bias b"}

#: The operator notation each operator step is, in LaTeX and in text; ``{}`` is the entry's subscript.
OPERATORS = {
    "dx": (r"\left(\widetilde{dy} \star \operatorname{rot180}(w)\right)_{%s}", "(dy~ * rot180(w))[%s]"),
    "dx-ones": (r"\left(\widetilde{dy} \star \mathbf{1}\right)_{%s} / |K|", "(dy~ * ones)[%s] / |K|"),
    "dw": (r"\left(x^{\mathrm{pad}} \star dy\right)_{%s}", "(x_pad * dy)[%s]"),
}
#: What each operator notation's symbols stand for, said once before the steps.
OPERATOR_NOTES = {
    "dy": "$\\widetilde{dy}$ is dy with $S - 1$ zeros between neighbouring entries ($S$ the stride) and zeros "
          "around them",
    "dx": "$\\operatorname{rot180}(w)$ the kernel turned by 180 degrees",
    "dx-ones": "$\\mathbf{1}$ a window of ones and $|K|$ its size",
    "dw": "$x^{\\mathrm{pad}}$ the zero-padded input",
    "star": "$\\star$ a correlation (the kernel slid over the other tensor)",
}


def _style(explanation) -> IndexStyle:
    if explanation.spec is None:
        return IndexStyle(explanation.index_base, False)
    return choose_style(explanation.spec, explanation.index_base)


def _numbered(explanation):
    """``(group, [(number, step), ...])`` in order: the forward, then each gradient."""
    groups, number = {}, 0
    for step in explanation.steps:
        number += 1
        groups.setdefault(step.quantity, []).append((number, step))
    return list(groups.items())


def _title(explanation, printer=None, math: str = "") -> str:
    """The document's title; at one entry it names the gradient's entry (in ``printer``'s mathematics)."""
    if explanation.at is None:
        return f"{explanation.kind}: the backward pass step by step, for every size"
    entry = [s for s in explanation.steps if s.quantity != "y"][0].shown_lhs
    shown = printer._print(entry) if printer is not None else str(entry)
    return f"{explanation.kind}: the gradient {math}{shown}{math}, step by step"


def _checked(explanation) -> str:
    report = explanation.report
    if report is None:
        return "These steps have not been checked."
    failure = report.first_failure()
    if failure is not None:
        return f"CHECK FAILED at step {failure.number}: {failure.failure}."
    general = [c for c in report.checks if c.where == "random layers"]
    at = [c for c in report.checks if c.where != "random layers"]
    text = "Every step below is an equation symconv checked against the NumPy reference kernels"
    if general:
        text += (f": evaluated exactly at {general[0].layers} random layers ({report.layers}) and random integer "
                 f"values, at {sum(c.entries for c in general)} entries in all, each gave the reference's value")
    if at:
        text += (", and" if general else ":") + f" at this layer's sizes, on {at[0].layers} draws of values"
    return text + "."


def _notes(explanation, fmt: str) -> list[str]:
    """The paragraphs before the steps (``$...$`` mathematics): the layer, the notation, what was checked."""
    base = explanation.index_base
    # The formulas' note on the layer, without its word on --groups (explain takes no groups).
    scope = re.sub(r" \(`--groups`[^)]*\)", "", SCOPE[explanation.kind])
    layer = scope if explanation.spec is None else describe(explanation.spec) + "."
    conventions = (f"$L = \\sum dy\\, y$, so $dy$ stands for $\\partial L / \\partial y$. Indices are {base}-based; "
                   "$[\\cdot]$ is 1 when the condition inside holds and 0 otherwise (an Iverson bracket: "
                   "$[a = b]$ is Kronecker's delta), $a \\mid b$ reads a divides b, and a primed index ($i'$) is "
                   "one the chain rule sums over.")
    notes = [layer, conventions, _checked(explanation)]
    used = [step.operator for step in explanation.steps if step.operator]
    if used:
        keys = (["dy"] if any(k.startswith("dx") for k in used) else []) + list(dict.fromkeys(used)) + ["star"]
        words = [OPERATOR_NOTES[k] for k in keys]
        notes.append(", ".join(words[:-1]) + " and " + words[-1] + ".")
    if fmt == "text":
        return [_plain(n) for n in notes]
    if fmt == "latex":
        return [_tex_prose(n) for n in notes]
    return notes


_PLAIN = (("$", ""), ("\\sum dy\\, y", "sum dy*y"), ("\\partial ", "d"), ("[\\cdot]", "[.]"), ("\\mid", "|"),
          ("\\widetilde{dy}", "dy~"), ("\\operatorname{rot180}(w)", "rot180(w)"), ("x^{\\mathrm{pad}}", "x_pad"),
          ("\\mathbf{1}", "ones"),
          ("\\star", "*"), ("\\times", "x"), ("-\\infty", "-inf"), ("\\le", "<="), ("_H", "H"), ("_W", "W"),
          ("`", ""))


def _plain(text: str) -> str:
    for tex, plain in _PLAIN:
        text = text.replace(tex, plain)
    return text


def _tex_prose(text: str) -> str:
    """Prose with ``$...$`` mathematics and backquoted names, made safe for LaTeX outside the mathematics."""
    parts = text.split("$")
    parts[0::2] = [tex_text(p).replace("`", "") for p in parts[0::2]]
    return "$".join(parts)


def _subscript(printer, step, latex: bool) -> str:
    """The entry's indices as the printer writes them: ``n,c,h,q``, ``22`` or ``n, c, h, q``."""
    tex = printer._print(element_of(step.shown_lhs))
    if latex:
        return tex.split("_", 1)[1][1:-1] if "_" in tex else ""
    return tex[tex.index("[") + 1:-1] if "[" in tex else ""


#: Characters of LaTeX source in one row before its brackets are split over several rows.
ROW_WIDTH = 160


def _split(line: str, latex: bool) -> list[str]:
    """A long row of Iverson brackets split between brackets, so that a page holds it."""
    marker = r" \left[" if latex else " ["
    if not latex or len(line) <= ROW_WIDTH or line.count(marker) < 2:
        return [line]
    pieces, rows = line.split(marker), []
    current = pieces[0]
    for piece in pieces[1:]:
        if len(current) + len(piece) > ROW_WIDTH and marker.strip() in current:
            rows.append(current)
            current = marker.strip() + piece
        else:
            current += marker + piece
    return rows + [current]


def _vanished(step, printer, derivative, variables, latex: bool) -> str:
    """``+ sum over the outputs (and the term's taps) of dy times a derivative that is 0``, under an underbrace."""
    shown = printer._print(derivative)
    terms = [t for t in step.shown if t.body.has(Indexed)]
    dy = [e for t in terms for e in t.body.atoms(Indexed) if e.base.name == "dy"]
    if not dy:
        return (r"+ \underbrace{%s}_{=\,0}" if latex else "+ %s (= 0)") % shown
    summed = tuple(dy[0].indices) + tuple(variables)
    outputs = ",".join(printer._print(i) for i in summed) if latex else ", ".join(map(str, summed))
    if latex:
        return r"+ \sum_{%s} %s \underbrace{%s}_{=\,0}" % (outputs, printer._print(dy[0]), shown)
    return "+ sum_{%s} %s*%s (= 0)" % (outputs, printer._print(dy[0]), shown)


def _rows(step, printer, closed_printer, latex: bool, style: IndexStyle):
    """``(rows, definitions)`` of one step: ``(lhs, relation, rhs)`` rows, continuation rows with an empty lhs."""
    if step.closed is not None:
        name, index = step.lhs.base.name, tuple(int(i) for i in step.lhs.indices)
        lhs = closed_printer.lhs_text(name, index)
        terms = closed_printer.signed_terms(step.closed) if step.closed != 0 else ["0"]
        per_line = TERMS_PER_LINE[style.compact]
        lines = [" ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
        return [(lhs, "=", lines[0])] + [("", "", line) for line in lines[1:]], []
    texts, definitions = [], []
    for position, term in enumerate(step.shown):
        lines, rows_of_term = printer.index_sum(term)
        lines = [piece for line in lines for piece in _split(line, latex)]
        if position and texts:
            texts[-1] += " + " + lines[0]  # the next term follows the last line of the one before
            texts += lines[1:]
        else:
            texts += lines
        definitions += rows_of_term
    texts = texts or ["0"]
    rows = [(printer._print(step.shown_lhs), "=", texts[0])] + [("", "", line) for line in texts[1:]]
    for derivative, _, variables in step.vanished:
        if derivative is not None:
            rows.append(("", "", _vanished(step, printer, derivative, variables, latex)))
    if step.operator:
        template = OPERATORS[step.operator][0 if latex else 1]
        rows.append(("", "=", template % _subscript(printer, step, latex)))
    return rows, definitions


def _why(step, printer, fmt: str) -> str:
    """The step's line of why, and the sentence of each term that vanished."""
    return " ".join([why_text(step.why, printer, fmt)] + [why_text(why, printer, fmt) for _, why, _ in step.vanished])


def _printers(explanation, latex: bool):
    style, sizes = _style(explanation), explanation.sizes
    if latex:
        return ExplainLatexPrinter(style.compact, sizes), ClosedLatexPrinter(style, sizes), style
    return ExplainTextPrinter(style.compact, sizes), ClosedTextPrinter(style, sizes), style


def _size_rows(explanation, printer):
    if explanation.spec is not None:
        return []
    return size_rows(explanation.axes, printer)


def _latex(explanation, standalone: bool) -> str:
    printer, closed, style = _printers(explanation, True)
    title = tex_text(explanation.kind) + _title(explanation, printer, "$")[len(explanation.kind):]
    parts = [r"\section*{symconv explain: %s}" % title] + _notes(explanation, "latex")
    sizes = _size_rows(explanation, printer)
    if sizes:
        parts.append(r"\subsection*{Output size}" + "\n" + latex_block(sizes, [], "align*"))
    for group, steps in _numbered(explanation):
        parts.append(r"\subsection*{%s}" % GROUPS[group])
        for number, step in steps:
            rows, definitions = _rows(step, printer, closed, True, style)
            parts.append(r"\subsubsection*{Step %d. %s}" % (number, tex_text(step.title)) + "\n"
                         + _why(step, printer, "latex") + "\n" + latex_block(rows, definitions, "align*"))
    body = "\n\n".join(parts) + "\n"
    return DOCUMENT_HEAD + body + "\\end{document}\n" if standalone else body


def _markdown(explanation, standalone: bool) -> str:
    printer, closed, style = _printers(explanation, True)
    parts = ["# " + _title(explanation, printer, "$")] + _notes(explanation, "markdown")
    sizes = _size_rows(explanation, printer)
    if sizes:
        parts += ["## Output size", "$$\n" + latex_block(sizes, [], "aligned") + "\n$$"]
    for group, steps in _numbered(explanation):
        parts.append("## " + GROUPS[group])
        for number, step in steps:
            rows, definitions = _rows(step, printer, closed, True, style)
            parts += [f"### Step {number}. {step.title}", _why(step, printer, "markdown"),
                      "$$\n" + latex_block(rows, definitions, "aligned") + "\n$$"]
    return "\n\n".join(parts) + "\n"


def _text_block(rows, definitions) -> list[str]:
    lines, pad = [], ""
    for lhs, relation, rhs in rows:
        if lhs:
            pad = " " * (len(lhs) + 3)
            lines.append(f"  {lhs} {relation} {rhs}")
        else:
            lines.append(pad + (f"{relation} {rhs}" if relation else f"    {rhs}"))
    for position, row in enumerate(definitions):
        lines.append(("    where " if position == 0 else "          ") + ", ".join(f"{a} = {b}" for a, b in row))
    return lines


def _text(explanation, standalone: bool) -> str:
    printer, closed, style = _printers(explanation, False)
    lines = [_title(explanation, printer), ""] + _notes(explanation, "text")
    sizes = _size_rows(explanation, printer)
    if sizes:
        lines += ["", "Output size"] + _text_block(sizes, [])
    for group, steps in _numbered(explanation):
        lines += ["", GROUPS[group]]
        for number, step in steps:
            rows, definitions = _rows(step, printer, closed, False, style)
            lines += ["", f"Step {number}. {step.title}", "  " + _why(step, printer, "text")]
            lines += _text_block(rows, definitions)
    return "\n".join(lines) + "\n"


def _json(explanation, standalone: bool) -> str:
    if explanation.index_base != 0:
        raise SymconvError(f"index_base: got {explanation.index_base}, expected 0 for JSON (its strings count from 0)")
    printer = ExplainTextPrinter()
    document = {"kind": explanation.kind}
    if explanation.spec is not None:
        document["layer"] = explanation.spec.to_dict()
    document["steps"] = [{"title": step.title, "quantity": step.quantity, "lhs": json_string(step.lhs),
                          "rhs": json_string(step.expression(), explanation.axes, explanation.sizes),
                          "why": _why(step, printer, "json")} for step in explanation.steps]
    return json.dumps(document, indent=1) + "\n"


#: The writer of each format: (explanation, standalone) -> text.
WRITERS = {"latex": _latex, "markdown": _markdown, "text": _text, "json": _json}
assert tuple(WRITERS) == FORMATS


def _markdown_display(explanation) -> str:
    return write_explanation(explanation, "markdown")


# Jupyter shows an explanation as its Markdown document (KaTeX or MathJax renders its mathematics).
Explanation._repr_markdown_ = _markdown_display


def write_explanation(explanation, fmt: str = "latex", standalone: bool = False) -> str:
    """An explanation as a document in one of :data:`~symconv.names.FORMATS`."""
    if fmt not in WRITERS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    if standalone and fmt != "latex":
        raise SymconvError(f"standalone: got --standalone with --format {fmt}, expected --format latex")
    return WRITERS[fmt](explanation, standalone)
