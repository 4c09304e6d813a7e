"""Output formats: one entry point, :func:`render`, for every printer.

* ``latex``: ``align*`` blocks (``standalone`` makes a complete document);
* ``markdown``: headings and ``$$`` blocks for MathJax/KaTeX;
* ``text``: plain ``dx[1,1] = dy[1,1]*w[1,1] + ...`` lines;
* ``json``: the stable machine contract (below), always 0-based.

The JSON contract::

    {"layer": {...normalized spec..., ["loss": "mse" | "cross_entropy",] "reduction": "sum" | "mean"},
     "shapes": {"x": [...], "w": [...], "b": [...] or null, "y": [...][, "t": [...]]},
     "forward": {"y[0, 0, 0, 0]": "<expr>", ...},
     "gradients": {["dy": {...},] "dx": {"dx[0, 0, 0, 0]": "<expr>", ...}, "dw": {...}, "db": {...}}}

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
    lines += [plain for plain, _ in told.layer_notes]
    if told.loss is not None:
        lines.append("loss: " + told.loss[1])
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
        pairs = zip(index_strings(name, table.shape), table.str_entries())
        plain = all(n.isidentifier() for n in table.space.names + [name])  # then nothing in them needs escaping
        return TableStrings(pairs) if plain else dict(pairs)
    if printer is None:
        from symconv.printing.sympy_printers import RememberingStrPrinter

        printer = RememberingStrPrinter()
    return {_key(name, i): printer.doprint(e) for i, e in table.items()}


def _loss_keys(derivation) -> dict:
    """What the layer's JSON says of the loss: the reduction, and a derived loss's name before it."""
    if derivation.loss is None:
        return {"reduction": derivation.reduction}
    return derivation.loss.to_dict()


def json_data(derivation, progress=None) -> dict:
    """The JSON contract as Python data (strings from SymPy's ``str``).

    A stack's "forward" holds every layer's output (h1[...], ..., y[...]) and
    its "gradients" one table per tensor (dy's consumers first: dh2, dw2, ...).
    With a derived loss, "layer" names it ("loss": "mse", then "reduction"),
    "shapes" holds the target t and "gradients" begins with dy, in y and t.
    """
    forwards, gradients = [], {}
    printer = None  # a RememberingStrPrinter, shared: gradients repeat the forward's pieces
    for section in element_sections(derivation, progress):
        if printer is None and not isinstance(section.table, TermTable):
            from symconv.printing.sympy_printers import RememberingStrPrinter

            printer = RememberingStrPrinter()
        if section.name == "forward":
            forwards.append(entry_strings(section.lhs, section.table, printer))
        else:
            gradients[section.lhs] = entry_strings(section.lhs, section.table, printer)
    forward = TableStrings() if forwards and all(isinstance(f, TableStrings) for f in forwards) else {}
    for strings in forwards:
        forward.update(strings)
    return {
        "layer": {**derivation.spec.to_dict(), **_loss_keys(derivation)},
        "shapes": {k: (list(v) if v is not None else None) for k, v in derivation.shapes.items()},
        "forward": forward,
        "gradients": gradients,
    }


class TableStrings(dict):
    """``{"dx[0, 0, 1]": "<expr>", ...}`` whose strings JSON writes as they are.

    A :class:`~symconv.symbolic.terms.TermTable` spells its entries with
    tensor names (identifiers), digits, brackets, operators and SymPy's
    words: nothing JSON escapes, so :func:`json_text` skips the escaping.
    """


def json_text(data: dict, records: bool = False) -> str:
    """JSON with one line per element: readable, diffable, valid.

    With ``records``, a list of objects (a check's diagnoses, a suite's
    configurations) is written one object at a time too. The text is built
    as a list of pieces joined once, so a table of 20 MB is copied once.
    """

    def nested(v):
        return isinstance(v, (dict, str)) or (records and isinstance(v, list) and any(isinstance(i, dict) for i in v))

    pieces = []
    put = pieces.append

    def block(value, depth):
        pad = " " * (depth + 1)
        if isinstance(value, dict) and value and all(type(k) is str and type(v) is str for k, v in value.items()):
            # a table of equations: what json.dumps gives each string, without its per-call overhead
            plain = isinstance(value, TableStrings)
            put("{\n")
            first = True
            for k, v in value.items():
                if not first:
                    put(",\n")
                first = False
                put(pad)
                put(_quoted(k))
                put(": ")
                if plain:
                    put('"')
                    put(v)
                    put('"')
                else:
                    put(_quoted(v))
            put("\n" + " " * depth + "}")
            return
        if records and isinstance(value, list) and any(isinstance(v, dict) for v in value):
            put("[\n")
            for position, v in enumerate(value):
                put((",\n" if position else "") + pad)
                block(v, depth + 1)
            put("\n" + " " * depth + "]")
            return
        if not isinstance(value, dict) or not any(nested(v) for v in value.values()):
            put(json.dumps(value))
            return
        put("{\n")
        for position, (k, v) in enumerate(value.items()):
            put(("," if position else "") + ("\n" if position else "") + pad + json.dumps(k) + ": ")
            block(v, depth + 1)
        put("\n" + " " * depth + "}")

    block(data, 0)
    put("\n")
    return "".join(pieces)


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
