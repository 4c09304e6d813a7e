"""Output formats: one entry point, :func:`render`, for every printer.

* ``latex``: ``align*`` blocks (``standalone`` makes a complete document);
* ``markdown``: headings and ``$$`` blocks for MathJax/KaTeX;
* ``text``: plain ``dx[1,1] = dy[1,1]*w[1,1] + ...`` lines;
* ``json``: the stable machine contract (below), always 0-based.

The JSON contract::

    {"layer": {...normalized spec...},
     "shapes": {"x": [...], "w": [...], "b": [...] or null, "y": [...]},
     "forward": {"y[0, 0, 0, 0]": "<expr>", ...},
     "gradients": {"dx": {"dx[0, 0, 0, 0]": "<expr>", ...}, "dw": {...}, "db": {...}}}

Every element is present (a zero gradient is ``"0"``); every expression is
SymPy's ``str()`` and reads back exactly with ``parse_expr`` given the tensor
names as ``IndexedBase``. Without a bias, ``shapes.b`` is null and there is no
``db``.
"""

from __future__ import annotations

import json

from sympy.printing.str import StrPrinter

from symconv.latex import latex_document, markdown_document
from symconv.present import IndexStyle, choose_style, describe, display_key, element_sections

FORMATS = ("latex", "markdown", "text", "json")


class TextPrinter(StrPrinter):
    """Plain-text equations with the same subscripts and term order as LaTeX."""

    # Indexed has its own _sympystr; a private printmethod makes ours win.
    printmethod = "_symconv_text"

    def __init__(self, style: IndexStyle):
        super().__init__()
        self.style = style

    def _print_Indexed(self, expr):
        name = expr.base.name
        shown = self.style.shown(name, expr.indices)
        return name + ("[" + ",".join(map(str, shown)) + "]" if shown else "")

    def _as_ordered_terms(self, expr, order=None):
        from sympy import Add

        return sorted(Add.make_args(expr), key=display_key)


def text_document(derivation, style: IndexStyle) -> str:
    printer = TextPrinter(style)
    lines = [describe(derivation.spec), f"indices are {style.base}-based; dy = dL/dy"]
    for section in element_sections(derivation):
        lines += ["", section.title]
        lines += [f"  {printer.doprint(lhs)} = {printer.doprint(rhs)}" for lhs, rhs in section.rows]
    return "\n".join(lines) + "\n"


def _key(name, index) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


def json_data(derivation) -> dict:
    """The JSON contract as Python data (strings from SymPy's ``str``)."""
    shapes = derivation.shapes
    return {
        "layer": derivation.spec.to_dict(),
        "shapes": {k: (list(v) if v is not None else None) for k, v in shapes.items()},
        "forward": {_key("y", i): str(e) for i, e in derivation.forward.items()},
        "gradients": {
            name: {_key(name, i): str(e) for i, e in table.items()}
            for name, table in derivation.gradients.items()
        },
    }


def json_text(data: dict) -> str:
    """JSON with one line per element: readable, diffable, valid."""

    def block(value, depth):
        if not isinstance(value, dict) or not any(isinstance(v, (dict, str)) for v in value.values()):
            return json.dumps(value)
        pad = " " * (depth + 1)
        items = [f"{pad}{json.dumps(k)}: {block(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"

    return block(data, 0) + "\n"


def render(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """The derivation written in one of :data:`FORMATS`."""
    style = choose_style(derivation.spec, index_base)
    if fmt == "latex":
        return latex_document(derivation, style, standalone)
    if fmt == "markdown":
        return markdown_document(derivation, style)
    if fmt == "text":
        return text_document(derivation, style)
    if fmt == "json":
        return json_text(json_data(derivation))
    raise ValueError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
