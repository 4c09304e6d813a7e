r"""The ``symconv formula`` command, and the entry points of the other forms.

Beside the element-wise equations, symconv shows a layer three more ways:

* ``formula``: index formulas with symbolic sizes, derived from the forward
  (:mod:`symconv.formula`), printed here as LaTeX, Markdown, text or JSON;
* ``operator``: dx, dw, db as a transposed convolution, a correlation and a
  sum, built explicitly and checked (:func:`operator_document`);
* ``matrix``: the seeds' bmatrix pictures of a small layer (:func:`matrix_document`).

Like :mod:`symconv.cli`, importing this module loads neither SymPy nor
NumPy: the work is imported inside the functions, so ``symconv --help``
stays instant once the command is registered.

>>> from click.testing import CliRunner
>>> print(CliRunner().invoke(formula, ["conv1d", "--format", "text"]).output.splitlines()[0])
conv1d: index formulas for every size
"""

from __future__ import annotations

import json
import os

import click

LAYERS = ("conv1d", "conv2d", "maxpool2d", "avgpool2d")  # symconv.formula.LAYERS, without SymPy
FORMATS = ("latex", "markdown", "text", "json")

_TITLES = {
    "size": "Output size",
    "forward": "Forward",
    "dx": "Gradient with respect to the input x",
    "dw": "Gradient with respect to the weights w",
    "db": "Gradient with respect to the bias b",
}

#: What each layer's formulas assume, in one paragraph; ``$...$`` is math.
_SCOPE = {
    "conv1d": "x has shape $(N, C, L)$, w $(F, C, K)$, b $(F)$; stride $S$, zero padding $P$ "
              "on both sides, dilation $D$, groups 1 (grouped convolutions are not covered). "
              "The convolution is PyTorch's cross-correlation.",
    "conv2d": "x has shape $(N, C, H, W)$, w $(F, C, K_H, K_W)$, b $(F)$; stride $(S_H, S_W)$, "
              "zero padding $(P_H, P_W)$ on both sides, dilation $(D_H, D_W)$, groups 1 "
              "(grouped convolutions are not covered). The convolution is PyTorch's cross-correlation.",
    "maxpool2d": "x has shape $(N, C, H, W)$; window $K_H \\times K_W$, stride $(S_H, S_W)$, "
                 "padding $(P_H, P_W)$ holding $-\\infty$, dilation $(D_H, D_W)$, `ceil_mode` off. "
                 "arg max is the first maximum in row-major order among the window's taps inside x "
                 "(PyTorch's rule for ties); its bracket is piecewise constant, so its derivative is "
                 "taken as 0, as PyTorch does.",
    "avgpool2d": "x has shape $(N, C, H, W)$; window $K_H \\times K_W$, stride $(S_H, S_W)$, "
                 "zero padding $(P_H, P_W)$, with `count_include_pad` on, `ceil_mode` off and no "
                 "`divisor_override`: every window lies inside the padded input, so the divisor is "
                 "always $K_H K_W$. PyTorch's `avg_pool2d` has no dilation.",
}

_CONVENTIONS = (
    "Indices are 0-based. $[\\cdot]$ is 1 when the condition inside holds and 0 otherwise; "
    "$a \\mid b$ reads a divides b. A sum whose lower bound exceeds its upper bound is empty. "
    "The gradients are derived from the forward: the chain rule over $L = \\sum_i dy_i y_i$ gives "
    "Kronecker deltas, each solved for the innermost summation variable it holds (for dx, the "
    "kernel tap), and the ranges of the solved variables become summation bounds, which turns "
    "the scatter into a gather."
)

_PLAIN = (("$", ""), ("\\mid", "|"), ("\\times", "x"), ("-\\infty", "-inf"), ("\\cdot", "."),
          ("\\sum", "sum"), ("_H", "H"), ("_W", "W"), ("K_H", "KH"))


def _plain(text: str) -> str:
    """A note's ``$...$`` math and backquoted names as plain text."""
    for tex, plain in _PLAIN + (("`", ""),):
        text = text.replace(tex, plain)
    return text


def _tex_prose(text: str) -> str:
    """A note for a LaTeX document: backquoted names in typewriter type."""
    parts = text.split("`")
    parts[1::2] = [r"\texttt{%s}" % p.replace("_", r"\_") for p in parts[1::2]]
    return "".join(parts)


def _sections(layer, formulas, printer):
    """``(name, rows, definitions)`` per section, in the printer's language.

    ``rows`` are ``(lhs, relation, rhs)``, a row with an empty lhs continuing
    the equation above (with an empty relation, the same product);
    ``definitions`` are rows of ``(name, value)``.
    """
    axes = next(iter(formulas.values())).axes
    yield "size", [(printer._print(a.out), "=", printer._print(a.out_size())) for a in axes], []
    for name, formula in formulas.items():
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
        first = [" + ".join(lines[0] for lines in texts)]
        rows += [("", "=", first[0])] + [("", "", line) for lines in texts for line in lines[1:]]
        yield name, [(printer._print(formula.lhs),) + rows[0][1:]] + rows[1:], definitions


def _latex_block(rows, definitions, environment):
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


def formula_document(layer: str, fmt: str = "latex", standalone: bool = False) -> str:
    """The index formulas of ``layer`` written in one of :data:`FORMATS`.

    >>> print(formula_document("conv1d", "text").splitlines()[6])
      L_o = floor((L + 2*P - D*(K - 1) - 1)/S) + 1
    """
    from symconv.formula import derive_formulas, json_formulas
    from symconv.formula_print import FormulaLatexPrinter, FormulaTextPrinter
    from symconv.latex import DOCUMENT_HEAD

    formulas = derive_formulas(layer)
    if fmt == "json":
        return json.dumps(json_formulas(formulas), indent=1) + "\n"
    title = f"{layer}: index formulas for every size"
    notes = [_SCOPE[layer], _CONVENTIONS]
    if fmt == "text":
        printer, lines = FormulaTextPrinter(), [title, ""] + [_plain(n) for n in notes]
        for name, rows, definitions in _sections(layer, formulas, printer):
            lines += ["", _TITLES[name]] + _text_block(rows, definitions)
        return "\n".join(lines) + "\n"
    printer = FormulaLatexPrinter()
    sections = list(_sections(layer, formulas, printer))
    if fmt == "markdown":
        parts = ["# " + title] + notes
        for name, rows, definitions in sections:
            parts += ["## " + _TITLES[name], "$$\n" + _latex_block(rows, definitions, "aligned") + "\n$$"]
        return "\n\n".join(parts) + "\n"
    if fmt != "latex":
        raise ValueError(f"format: got {fmt!r}, expected one of {', '.join(FORMATS)}")
    if standalone:
        parts = [r"\section*{symconv: %s index formulas}" % layer] + [_tex_prose(n) for n in notes]
        parts += [r"\subsection*{%s}" % _TITLES[name] + "\n" + _latex_block(rows, defs, "align*")
                  for name, rows, defs in sections]
        return DOCUMENT_HEAD + "\n\n".join(parts) + "\n\\end{document}\n"
    parts = ["% " + title] + ["% " + _plain(n) for n in notes]
    parts += ["% " + _TITLES[name] + "\n" + _latex_block(rows, defs, "align*") for name, rows, defs in sections]
    return "\n\n".join(parts) + "\n"


def operator_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """dx, dw and db of a derivation as operator identities (see :mod:`symconv.operators`)."""
    from symconv.operators import operator_document as document

    return document(derivation, fmt, index_base, standalone)


def matrix_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """The seeds' matrix pictures of a small derivation (see :mod:`symconv.matrix`)."""
    from symconv.matrix import matrix_document as document

    return document(derivation, fmt, index_base, standalone)


@click.command("formula")
@click.argument("layer", type=click.Choice(LAYERS), metavar="LAYER")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="latex", show_default=True,
              help="Output format; json holds SymPy expressions that parse_expr reads back.")
@click.option("--standalone", is_flag=True, help="With --format latex: a complete document for pdflatex.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def formula(layer, fmt, standalone, output):
    """Print LAYER's forward and gradients as index formulas, for every size.

    LAYER is conv1d, conv2d, maxpool2d or avgpool2d. Sizes, stride, padding
    and dilation stay symbols (N, C, H, W, F, KH, KW, SH, SW, PH, PW, DH, DW;
    for conv1d N, C, L, F, K, S, P, D) and the gradients are derived from the
    forward definition, with tightened summation bounds.

    \b
    Example:
      symconv formula conv2d --format markdown
    """
    if standalone and fmt != "latex":
        raise click.BadParameter(
            f"got --standalone with --format {fmt}, expected --format latex", param_hint="'--standalone'"
        )
    if output and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise click.BadParameter(f"got {output!r}, expected a file in an existing directory",
                                 param_hint="'--output'")
    text = formula_document(layer, fmt, standalone)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)
