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

from symconv.errors import SymconvError
from symconv.names import FORMATS
from symconv.printing.latex import latex_document, markdown_document, table_rows
from symconv.printing.notations import TextNotation
from symconv.printing.present import IndexStyle, choose_style, describe, element_sections, notes
from symconv.symbolic.space import index_strings
from symconv.symbolic.terms import TermTable

#: The SymPy printers that used to live here, loaded (with SymPy) on first use.
_SYMPY_PRINTERS = ("TextPrinter", "RememberingStrPrinter")


def __getattr__(name):
    if name in _SYMPY_PRINTERS:
        from symconv.printing import sympy_printers

        return getattr(sympy_printers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def text_document(derivation, style: IndexStyle, progress=None) -> str:
    notation = TextNotation(style)
    lines = [describe(derivation.spec), f"indices are {style.base}-based; dy = dL/dy"]
    told = notes(derivation)
    if told.winner:
        lines.append("m = the winner of a window: its first maximum in row-major order (PyTorch's tie rule)")
    if told.stack_winners:
        lines.append("m, m1, m2, ... = the winner of a window of y, h1, h2, ...: its first maximum in row-major order (PyTorch's tie rule)")
    if told.mean_over is not None:
        lines.append(f"loss = mean over the batch: every gradient is divided by N = {told.mean_over}")
    for section in element_sections(derivation, progress):
        lines += ["", section.title]
        rows = table_rows(section.lhs, section.table, notation, "*")
        lines += [f"  {lhs} = {' '.join(terms)}" for lhs, terms in rows]
    return "\n".join(lines) + "\n"


def _key(name, index) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


#: json.dumps of a string (ensure_ascii, as its defaults): the C function it calls.
_quoted = json.encoder.encode_basestring_ascii


def entry_strings(name: str, table, printer=None) -> dict[str, str]:
    """``{"dx[0, 0, 1, 1]": str(expression), ...}`` for every entry of a table.

    A TermTable prints itself, to the same strings as SymPy's ``str()``
    (tests hold the two equal) but without building the expressions. Other
    tables go through ``printer``, by default a fresh RememberingStrPrinter.
    """
    if isinstance(table, TermTable):
        return dict(zip(index_strings(name, table.shape), table.str_entries()))
    if printer is None:
        from symconv.printing.sympy_printers import RememberingStrPrinter

        printer = RememberingStrPrinter()
    return {_key(name, i): printer.doprint(e) for i, e in table.items()}


def json_data(derivation, progress=None) -> dict:
    """The JSON contract as Python data (strings from SymPy's ``str``).

    A stack's "forward" holds every layer's output (h1[...], ..., y[...]) and
    its "gradients" one table per tensor (dy's consumers first: dh2, dw2, ...).
    """
    forward, gradients = {}, {}
    printer = None  # a RememberingStrPrinter, shared: gradients repeat the forward's pieces
    for section in element_sections(derivation, progress):
        if printer is None and not isinstance(section.table, TermTable):
            from symconv.printing.sympy_printers import RememberingStrPrinter

            printer = RememberingStrPrinter()
        if section.name == "forward":
            forward.update(entry_strings(section.lhs, section.table, printer))
        else:
            gradients[section.lhs] = entry_strings(section.lhs, section.table, printer)
    return {
        "layer": {**derivation.spec.to_dict(), "reduction": derivation.reduction},
        "shapes": {k: (list(v) if v is not None else None) for k, v in derivation.shapes.items()},
        "forward": forward,
        "gradients": gradients,
    }


def json_text(data: dict, records: bool = False) -> str:
    """JSON with one line per element: readable, diffable, valid.

    With ``records``, a list of objects (a check's diagnoses, a suite's
    configurations) is written one object at a time too.
    """

    def nested(v):
        return isinstance(v, (dict, str)) or (records and isinstance(v, list) and any(isinstance(i, dict) for i in v))

    def block(value, depth):
        pad = " " * (depth + 1)
        if isinstance(value, dict) and value and all(type(k) is str and type(v) is str for k, v in value.items()):
            # a table of equations: what json.dumps gives each string, without its per-call overhead
            text = ",\n".join([pad + _quoted(k) + ": " + _quoted(v) for k, v in value.items()])
            return "{\n" + text + "\n" + " " * depth + "}"
        if records and isinstance(value, list) and any(isinstance(v, dict) for v in value):
            return "[\n" + ",\n".join(pad + block(v, depth + 1) for v in value) + "\n" + " " * depth + "]"
        if not isinstance(value, dict) or not any(nested(v) for v in value.values()):
            return json.dumps(value)
        items = [f"{pad}{json.dumps(k)}: {block(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"

    return block(data, 0) + "\n"


def render(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False, progress=None) -> str:
    """The derivation written in one of :data:`FORMATS`.

    ``progress`` is called after each section (forward, dx, dw, db) is written.
    """
    if fmt not in WRITERS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    return WRITERS[fmt](derivation, choose_style(derivation.spec, index_base), standalone, progress)


#: The element-wise document's writer for each format: (derivation, style, standalone, progress) -> text.
WRITERS = {
    "latex": latex_document,
    "markdown": lambda derivation, style, standalone, progress: markdown_document(derivation, style, progress),
    "text": lambda derivation, style, standalone, progress: text_document(derivation, style, progress),
    "json": lambda derivation, style, standalone, progress: json_text(json_data(derivation, progress)),
}
