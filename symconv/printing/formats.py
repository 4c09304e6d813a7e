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

from sympy import Indexed, Piecewise, S
from sympy.core.relational import Relational
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symconv.errors import SymconvError
from symconv.names import FORMATS
from symconv.printing.latex import latex_document, markdown_document, table_rows
from symconv.printing.notation import ReadableNotation
from symconv.printing.present import IndexStyle, choose_style, describe, element_sections, notes
from symconv.symbolic.terms import TermTable



class TextPrinter(ReadableNotation, StrPrinter):
    """Plain-text equations with the same subscripts and term order as LaTeX."""

    SPELLING = {"max": "max(%s)", "bracket": "*[%s]", "factor": "{p}/{q}*", "integer": "{p}*", "open": "(",
                "close": ")", "iverson": "[%s]", "softmax": "softmax(%s)[%s]", "row": "%s[%s]",
                "sigma": "sigma(%s)", "dsigma": "sigma(%(z)s)*(1 - sigma(%(z)s))", "dtanh": "1 - tanh(%s)^2",
                "eps": "eps", "times": "*", "normalized": "%(num)s/sqrt(%(den)s)*(%(sum)s)"}

    # Indexed has its own _sympystr; a private printmethod makes ours win.
    printmethod = "_symconv_text"

    def __init__(self, style: IndexStyle):
        super().__init__()
        self.style = style

    def element_text(self, name, indices) -> str:
        shown = self.style.shown(name, indices)
        return name + ("[" + ",".join(map(str, shown)) + "]" if shown else "")

    def lhs_text(self, name, indices) -> str:
        return self.element_text(name, indices)

    def _print_Indexed(self, expr):
        return self.element_text(expr.base.name, expr.indices)

    def _print_Pow(self, expr, rational=False):
        # x^2 as people write it (the JSON keeps SymPy's x**2); any inner power was written so already.
        return super()._print_Pow(expr, rational).replace("**", "^")


def text_document(derivation, style: IndexStyle, progress=None) -> str:
    printer = TextPrinter(style)
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
        rows = table_rows(section.lhs, section.table, printer, "*")
        lines += [f"  {lhs} = {' '.join(terms)}" for lhs, terms in rows]
    return "\n".join(lines) + "\n"


def _key(name, index) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


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


def entry_strings(name: str, table, printer: StrPrinter | None = None) -> dict[str, str]:
    """``{"dx[0, 0, 1, 1]": str(expression), ...}`` for every entry of a table.

    A TermTable prints itself, to the same strings as SymPy's ``str()``
    (tests hold the two equal) but without building the expressions. Other
    tables go through ``printer``, by default a fresh RememberingStrPrinter.
    """
    if isinstance(table, TermTable):
        return dict(zip((_key(name, i) for i in table), table.str_entries()))
    printer = printer or RememberingStrPrinter()
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
    forward, gradients = {}, {}
    printer = RememberingStrPrinter()  # shared: gradients repeat the forward's pieces
    for section in element_sections(derivation, progress):
        if section.name == "forward":
            forward.update(entry_strings(section.lhs, section.table, printer))
        else:
            gradients[section.lhs] = entry_strings(section.lhs, section.table, printer)
    return {
        "layer": {**derivation.spec.to_dict(), **_loss_keys(derivation)},
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
