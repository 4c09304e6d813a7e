"""Documents of index formulas: what ``symconv formula`` writes and Jupyter shows.

:func:`write_formulas` assembles a layer's formulas (printed by
:mod:`symconv.printing.formula_print`) into LaTeX, Markdown, text or JSON; what
Jupyter shows of a formula and of a layer's formulas (:func:`formula_latex`,
:func:`formulas_latex`) comes from the same section builder, so a notebook
shows the same text the document holds.
"""

from __future__ import annotations

import json

from symconv.errors import SymconvError
from symconv.formula.index import GROUP_SIZES, Formula, Formulas, json_formulas
from symconv.names import FORMATS
from symconv.printing.formula_print import FormulaLatexPrinter, FormulaTextPrinter

# -- documents: the sections of a layer's formulas, in each format ---------


TITLES = {
    "size": "Output size",
    "groups": "Group sizes",
    "forward": "Forward",
    "dx": "Gradient with respect to the input x",
    "dw": "Gradient with respect to the weights w",
    "db": "Gradient with respect to the bias b",
}

#: What each layer's formulas assume, in one paragraph; ``$...$`` is math.
SCOPE = {
    "conv1d": "x has shape $(N, C, L)$, w $(F, C, K)$, b $(F)$; stride $S$, zero padding $P$ "
              "on both sides, dilation $D$, groups 1 (`--groups`, in Python `groups=True`, gives the formulas of G groups). "
              "The convolution is PyTorch's cross-correlation.",
    "conv2d": "x has shape $(N, C, H, W)$, w $(F, C, K_H, K_W)$, b $(F)$; stride $(S_H, S_W)$, "
              "zero padding $(P_H, P_W)$ on both sides, dilation $(D_H, D_W)$, groups 1 "
              "(`--groups`, in Python `groups=True`, gives the formulas of G groups). The convolution is PyTorch's cross-correlation.",
    "conv3d": "x has shape $(N, C, D, H, W)$, w $(F, C, K_D, K_H, K_W)$, b $(F)$; stride $(S_D, S_H, S_W)$, "
              "zero padding $(P_D, P_H, P_W)$ on both sides, dilation $(D_D, D_H, D_W)$, groups 1 "
              "(`--groups`, in Python `groups=True`, gives the formulas of G groups). The depth axis D has "
              "indices $t$ (output), $r$ (tap) and $z$ (input). The convolution is PyTorch's cross-correlation.",
    "conv_transpose1d": "x has shape $(N, C, L)$, w $(C, F, K)$ (PyTorch's ConvTranspose layout), b $(F)$; stride "
                        "$S$, padding $P$ cropped from both ends, dilation $D$, `output_padding` $A$ (smaller than "
                        "$S$ or $D$), groups 1 (`--groups` gives the formulas of G groups). Input $i$ reaches output $o = iS + kD - P$ at tap $k$: the forward "
                        "is that scatter, and the gradients are derived from it. Its delta is solved for the tap "
                        "in the forward and for the output position in dx and dw: dx comes out as a plain "
                        "convolution of dy with w (same stride, padding and dilation).",
    "conv_transpose2d": "x has shape $(N, C, H, W)$, w $(C, F, K_H, K_W)$ (PyTorch's ConvTranspose layout), b "
                        "$(F)$; stride $(S_H, S_W)$, padding $(P_H, P_W)$ cropped from both ends, dilation "
                        "$(D_H, D_W)$, `output_padding` $(A_H, A_W)$ (each smaller than its stride or dilation), "
                        "groups 1 (`--groups` gives the formulas of G groups). Input $(i, j)$ reaches output $(iS_H + kD_H - P_H, jS_W + lD_W - P_W)$ at tap "
                        "$(k, l)$: the forward is that scatter, and the gradients are derived from it. Its deltas "
                        "are solved for the taps in the forward and for the output positions in dx and dw: dx "
                        "comes out as a plain convolution of dy with w (same stride, padding and dilation).",
    "maxpool1d": "x has shape $(N, C, L)$; window $K$, stride $S$, padding $P$ holding $-\\infty$, "
                 "dilation $D$, `ceil_mode` off. arg max is the first maximum among the window's taps inside x "
                 "(PyTorch's rule for ties); its bracket is piecewise constant, so its derivative is "
                 "taken as 0, as PyTorch does.",
    "maxpool2d": "x has shape $(N, C, H, W)$; window $K_H \\times K_W$, stride $(S_H, S_W)$, "
                 "padding $(P_H, P_W)$ holding $-\\infty$, dilation $(D_H, D_W)$, `ceil_mode` off. "
                 "arg max is the first maximum in row-major order among the window's taps inside x "
                 "(PyTorch's rule for ties); its bracket is piecewise constant, so its derivative is "
                 "taken as 0, as PyTorch does.",
    "avgpool1d": "x has shape $(N, C, L)$; window $K$, stride $S$, zero padding $P$, with "
                 "`count_include_pad` on and `ceil_mode` off: every window lies inside the padded input, so the "
                 "divisor is always $K$. PyTorch's `avg_pool1d` has no dilation.",
    "avgpool2d": "x has shape $(N, C, H, W)$; window $K_H \\times K_W$, stride $(S_H, S_W)$, "
                 "zero padding $(P_H, P_W)$, with `count_include_pad` on, `ceil_mode` off and no "
                 "`divisor_override`: every window lies inside the padded input, so the divisor is "
                 "always $K_H K_W$. PyTorch's `avg_pool2d` has no dilation.",
}

#: A grouped convolution's shapes, per layer; :data:`_GROUPS` says who reads whom.
GROUPED_SCOPE = {
    "conv1d": "x has shape $(N, C, L)$, w $(F, C_g, K)$, b $(F)$; stride $S$, zero padding $P$ on both sides, "
              "dilation $D$, ",
    "conv2d": "x has shape $(N, C, H, W)$, w $(F, C_g, K_H, K_W)$, b $(F)$; stride $(S_H, S_W)$, zero padding "
              "$(P_H, P_W)$ on both sides, dilation $(D_H, D_W)$, ",
    "conv3d": "x has shape $(N, C, D, H, W)$, w $(F, C_g, K_D, K_H, K_W)$, b $(F)$; stride $(S_D, S_H, S_W)$, "
              "zero padding $(P_D, P_H, P_W)$ on both sides, dilation $(D_D, D_H, D_W)$, ",
    "conv_transpose1d": "x has shape $(N, C, L)$, w $(C, F_g, K)$ (PyTorch's ConvTranspose layout), b $(F)$; "
                        "stride $S$, padding $P$ cropped from both ends, dilation $D$, `output_padding` $A$, ",
    "conv_transpose2d": "x has shape $(N, C, H, W)$, w $(C, F_g, K_H, K_W)$ (PyTorch's ConvTranspose layout), b "
                        "$(F)$; stride $(S_H, S_W)$, padding $(P_H, P_W)$ cropped from both ends, dilation "
                        "$(D_H, D_W)$, `output_padding` $(A_H, A_W)$, ",
}
_GROUPS = (
    "and $G$ groups of $C_g = C/G$ channels and $F_g = F/G$ filters (depthwise: $G = C$, $C_g = 1$). "
    "Group $g$ ({g}) is filters ${shift} F_g + f$ and channels ${shift} C_g + c$ ({f}, {c}): its filters read "
    "its channels only, and its channels feed its filters only. The convolution is PyTorch's cross-correlation."
)


_GROUPS_TRANSPOSED = (
    "and $G$ groups of $C_g = C/G$ input channels and $F_g = F/G$ output channels. Group $g$ ({g}) is input "
    "channels ${shift} C_g + c$ and output channels ${shift} F_g + f$ ({c}, {f}): its input channels reach its "
    "output channels only. dx comes out as a plain grouped convolution of dy with w."
)
#: Who reads whom in a grouped layer, per layer (:data:`_GROUPS` for the convolutions).
GROUPS_TEXT = {"conv_transpose1d": _GROUPS_TRANSPOSED, "conv_transpose2d": _GROUPS_TRANSPOSED}


def scope(formulas) -> str:
    """What a layer's formulas assume, in one paragraph (``$...$`` is math)."""
    if not formulas.groups:
        return SCOPE[formulas.layer]
    if formulas.index_base == 0:
        ranges = dict(g="$0 \\le g < G$", f="$0 \\le f < F_g$", c="$0 \\le c < C_g$", shift="g")
    else:
        ranges = dict(g="$1 \\le g \\le G$", f="$1 \\le f \\le F_g$", c="$1 \\le c \\le C_g$", shift="(g - 1)")
    return GROUPED_SCOPE[formulas.layer] + GROUPS_TEXT.get(formulas.layer, _GROUPS).format(**ranges)


def conventions(index_base: int, layer: str = "") -> str:
    """How to read the formulas: where indices start, brackets, empty sums, how the gradients were derived."""
    start = "Indices are 0-based. " if index_base == 0 else (
        "Indices are 1-based: each formula is the 0-based one with every index $v$ read as $v - 1$ and every "
        "position $p$ written $p + 1$ (the JSON output stays 0-based). ")
    return start + CONVENTIONS.format(solved=SOLVED.get(layer, SOLVED[""]))


CONVENTIONS = (
    "$[\\cdot]$ is 1 when the condition inside holds and 0 otherwise; "
    "$a \\mid b$ reads a divides b. A sum whose lower bound exceeds its upper bound is empty. "
    "The gradients are derived from the forward: the chain rule over $L = \\sum_i dy_i y_i$ gives "
    "Kronecker deltas, each solved for {solved}, and the ranges of the solved variables become "
    "summation bounds, which turns the scatter into a gather."
)
#: Which variable each delta is solved for, per layer ("" for every layer not named).
SOLVED = {
    "": "the innermost summation variable it holds (for dx, the kernel tap)",
    **{layer: "the output position it holds (its coefficient is 1, so no divisibility is needed; the "
              "forward's own delta, written as a gather, is solved for the tap)"
       for layer in ("conv_transpose1d", "conv_transpose2d")},
}

_PLAIN = (("$", ""), ("\\mid", "|"), ("\\times", "x"), ("-\\infty", "-inf"), ("\\cdot", "."),
          ("\\sum", "sum"), (" \\le ", " <= "), ("_D", "D"), ("_H", "H"), ("_W", "W"), ("K_H", "KH"), ("`", ""))


def _plain(text: str) -> str:
    """A note's ``$...$`` math and backquoted names as plain text."""
    for tex, plain in _PLAIN:
        text = text.replace(tex, plain)
    return text


def _tex_prose(text: str) -> str:
    """A note for a LaTeX document: backquoted names in typewriter type, breakable after an underscore."""
    parts = text.split("`")
    parts[1::2] = [r"\texttt{%s}" % p.replace("_", r"\_\allowbreak{}") for p in parts[1::2]]
    return "".join(parts)


def formula_rows(formula: Formula, printer) -> tuple[list, list]:
    """``(rows, definitions)`` of one formula in the printer's language.

    ``rows`` are ``(lhs, relation, rhs)``: the chain rule's terms (a
    gradient's), then the reduced terms, a row with an empty lhs continuing
    the equation above (with an empty relation, the same product);
    ``definitions`` are rows of ``(name, value)``.
    """
    rows, definitions = [], []
    for position, term in enumerate(formula.chain):
        lines, _ = printer.index_sum(term)
        rows.append(("", "=" if position == 0 else "+", lines[0]))
        rows += [("", "", line) for line in lines[1:]]
    texts = []
    for term in formula.terms:
        lines, rows_of_term = printer.index_sum(term)
        texts.append(lines)
        definitions += rows_of_term
    rows.append(("", "=", " + ".join(lines[0] for lines in texts)))
    rows += [("", "", line) for lines in texts for line in lines[1:]]
    return [(printer._print(formula.lhs),) + rows[0][1:]] + rows[1:], definitions


def size_rows(axes, printer) -> list:
    """``(H_o, "=", floor(...) + 1)`` rows, one per spatial axis."""
    return [(printer._print(a.out), "=", printer._print(a.out_size())) for a in axes]


def _sections(formulas, printer):
    """``(name, rows, definitions)``: the output sizes, then each formula."""
    yield "size", size_rows(next(iter(formulas.values())).axes, printer), []
    if formulas.groups:
        yield "groups", [(printer._print(size), "=", printer._print(value)) for size, value in GROUP_SIZES.items()], []
    for name, formula in formulas.items():
        yield (name,) + formula_rows(formula, printer)


def latex_block(rows, definitions, environment: str) -> str:
    """Rows and "where" definitions in one ``align*`` or ``aligned`` environment."""
    lines = [f"{lhs} &{relation} {rhs}" if relation else r"&\qquad " + rhs for lhs, relation, rhs in rows]
    for position, row in enumerate(definitions):
        lead = r"\text{where } " if position == 0 else r"\phantom{\text{where }}"
        lines.append(r"&\qquad " + lead + r", \quad ".join(f"{a} = {b}" for a, b in row))
    return "\\begin{%s}\n%s\n\\end{%s}" % (environment, " \\\\\n".join(lines), environment)


def _text_block(rows, definitions):
    lines, pad = [], ""
    for lhs, relation, rhs in rows:
        if lhs:
            pad = " " * (len(lhs) + 3)
            lines.append(f"  {lhs} {relation} {rhs}")
        else:
            lines.append(pad + (f"{relation} {rhs}" if relation else f"    {rhs}"))
    for position, row in enumerate(definitions):
        lead = "    where " if position == 0 else "          "
        lines.append(lead + ", ".join(f"{a} = {b}" for a, b in row))
    return lines


def write_formulas(formulas: Formulas, fmt: str = "latex", standalone: bool = False) -> str:
    """A layer's formulas (from :func:`~symconv.formula.index.derive_formulas`) as a document in one of :data:`FORMATS`."""
    if fmt not in WRITERS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    return WRITERS[fmt](formulas, standalone)


def _title(formulas) -> str:
    return f"{formulas.layer}: index formulas for every size" + (", with groups" if formulas.groups else "")


def _notes(formulas) -> list[str]:
    return [scope(formulas), conventions(formulas.index_base, formulas.layer)]


def _json(formulas, standalone):
    return json.dumps(json_formulas(formulas), indent=1) + "\n"


def _text(formulas, standalone):
    printer, lines = FormulaTextPrinter(), [_title(formulas), ""] + [_plain(n) for n in _notes(formulas)]
    for name, rows, definitions in _sections(formulas, printer):
        lines += ["", TITLES[name]] + _text_block(rows, definitions)
    return "\n".join(lines) + "\n"


def _markdown(formulas, standalone):
    parts = ["# " + _title(formulas)] + _notes(formulas)
    for name, rows, definitions in _sections(formulas, FormulaLatexPrinter()):
        parts += ["## " + TITLES[name], "$$\n" + latex_block(rows, definitions, "aligned") + "\n$$"]
    return "\n\n".join(parts) + "\n"


def _latex(formulas, standalone):
    from symconv.printing.latex import DOCUMENT_HEAD

    sections = list(_sections(formulas, FormulaLatexPrinter()))
    if standalone:
        parts = [r"\section*{symconv: %s index formulas}" % formulas.layer.replace("_", r"\_")]
        parts += [_tex_prose(n) for n in _notes(formulas)]
        parts += [r"\subsection*{%s}" % TITLES[name] + "\n" + latex_block(rows, defs, "align*")
                  for name, rows, defs in sections]
        return DOCUMENT_HEAD + "\n\n".join(parts) + "\n\\end{document}\n"
    parts = ["% " + _title(formulas)] + ["% " + _plain(n) for n in _notes(formulas)]
    parts += ["% " + TITLES[name] + "\n" + latex_block(rows, defs, "align*") for name, rows, defs in sections]
    return "\n\n".join(parts) + "\n"


#: The formula document's writer for each format.
WRITERS = {"latex": _latex, "markdown": _markdown, "text": _text, "json": _json}


# -- Jupyter: what Formula._repr_latex_ and Formulas._repr_markdown_ show ----

def formula_latex(formula: Formula) -> str:
    r"""One formula as a MathJax ``$$`` block: its section of the document, then the output sizes it uses.

    >>> from symconv.formula.index import derive_formulas
    >>> print(formula_latex(derive_formulas("conv1d")["db"]))
    $$
    \begin{aligned}
    \frac{\partial L}{\partial b_{f}} &= \sum_{n',f',i'} dy_{n',f',i'} \delta_{f,f'} \\
     &= \sum_{n=0}^{N - 1} \sum_{i=0}^{L_{o} - 1} dy_{n,f,i} \\
    &\qquad \text{where } L_{o} = \left\lfloor{\frac{L + 2 P - D \left(K - 1\right) - 1}{S}}\right\rfloor + 1
    \end{aligned}
    $$
    """
    printer = FormulaLatexPrinter()
    rows, definitions = formula_rows(formula, printer)
    used = [a for a in formula.axes if any(t.expression().has(a.out) for t in formula.terms)]
    sizes = [(lhs, rhs) for lhs, _, rhs in size_rows(used, printer)]
    return "$$\n" + latex_block(rows, definitions + ([sizes] if sizes else []), "aligned") + "\n$$"


def formulas_latex(formulas: Formulas) -> str:
    """A layer's formulas as one MathJax ``$$`` block, a bold title over each section's ``aligned``."""
    lines = [r"&\text{%s, indices from %d}" % (_title(formulas).replace("_", r"\_"), formulas.index_base)]
    for name, rows, definitions in _sections(formulas, FormulaLatexPrinter()):
        lines += [r"&\textbf{%s}" % TITLES[name], "&" + latex_block(rows, definitions, "aligned")]
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"
