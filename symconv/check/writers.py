"""A check report in words: one writer per format (text, Markdown, LaTeX, JSON).

Text lists the first :data:`SHOWN` wrong entries of each gradient (the JSON
lists all). Indices are 0-based full indices, ``dx[n, c, h, w]``, as NumPy
and PyTorch index.
"""

from __future__ import annotations

#: Wrong entries listed per gradient in text, Markdown and LaTeX.
SHOWN = 20


def _index(index) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


def _coefficient(c: float) -> str:
    from symconv.check.diagnose import factor_text

    return factor_text(c)


def formula_text(terms, tex: bool = False) -> str:
    """``dy[0, 0, 1]*w[0, 0, 0] + 1/2*dy[0, 0, 2]``; LaTeX subscripts with ``tex``."""
    if not terms:
        return "0"
    parts = []
    for c, factors in terms:
        names = [(f"{name}_{{{','.join(map(str, index))}}}" if tex
                  else f"{name}{_index(index)}") for name, index in factors]
        product = (" " if tex else "*").join(names)
        text = _coefficient(abs(c))
        body = product if text == "1" else f"{text}{' ' if tex else '*'}{product}"
        if tex and text != "1" and "/" in text:
            p, q = text.split("/")
            body = rf"\tfrac{{{p}}}{{{q}}} {product}"
        parts.append(("- " if c < 0 else "+ ") + body)
    joined = " ".join(parts)
    return joined[2:] if joined.startswith("+ ") else "-" + joined[2:]


def _describe(report) -> str:
    from symconv.printing.present import describe

    return describe(report.spec)


def _status(g) -> str:
    if g.problem:
        return g.problem
    if g.ok:
        return "ok"
    total = 1
    for s in g.expected_shape:
        total *= s
    return f"{len(g.wrong)} of {total} entries wrong, largest error {g.max_abs_error:.3g}"


def _headline(report) -> str:
    if report.error:
        return f"WRONG: {report.error}"
    wrong = [name for name, g in _all(report) if not g.ok]
    if not wrong:
        return "OK: every gradient equals the exact one on every probe."
    return f"WRONG: {', '.join(wrong)} {'differs' if len(wrong) == 1 else 'differ'} from the exact gradient."


def _all(report):
    items = list(report.gradients.items())
    if report.forward is not None:
        items = [("y (forward)", report.forward)] + items
    return items


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def text(report) -> str:
    lines = [f"symconv check: {report.target} ({report.convention} convention)",
             f"layer: {_describe(report)}",
             f"probes: {', '.join(report.probes)}", "", _headline(report)]
    width = max([len(name) for name, _ in _all(report)] + [2])
    for name, g in _all(report):
        lines.append(f"  {name:<{width}}  {'ok   ' if g.ok else 'WRONG'}  shape {_shape(g.shape):<10} {_status(g)}")
        if g.wrong:
            more = f" ... ({len(g.wrong) - SHOWN} more)" if len(g.wrong) > SHOWN else ""
            lines.append(f"  {'':<{width}}  wrong entries: " + ", ".join(map(_index, g.wrong[:SHOWN])) + more)
    if report.diagnosis:
        lines += ["", "Diagnosis"] + [f"  {f.name}: {f.message}" for f in report.diagnosis]
    elif not report.ok and not report.error:
        lines += ["", "Diagnosis", "  no known mistake gives these gradients"]
    rebuilt = [(name, g) for name, g in report.gradients.items() if g.formulas]
    if rebuilt:
        lines += ["", "Wrong entries rebuilt by probing (yours, then the right one):"]
        for name, g in rebuilt:
            for entry, yours, right in g.formulas:
                lines += [f"  {name}{_index(entry)}", f"    yours: {formula_text(yours)}",
                          f"    right: {formula_text(right)}"]
    if report.blind_spots:
        lines += ["", "Blind spots (mistakes this configuration cannot reveal)"]
        lines += [f"  {b.name}: {b.message}; {b.suggest}" for b in report.blind_spots]
    return "\n".join(lines) + "\n"


def markdown(report) -> str:
    lines = [f"**symconv check** `{report.target}` ({report.convention} convention): {_describe(report)}", "",
             f"**{_headline(report)}**", "", "| tensor | result | shape | details |", "|---|---|---|---|"]
    for name, g in _all(report):
        shown = ", ".join(f"`{_index(e)}`" for e in g.wrong[:SHOWN]) + (" ..." if len(g.wrong) > SHOWN else "")
        details = _status(g) + (f": {shown}" if g.wrong else "")
        lines.append(f"| {name} | {'ok' if g.ok else '**wrong**'} | {_shape(g.shape)} | {details} |")
    if report.diagnosis:
        lines += ["", "**Diagnosis**", ""] + [f"- `{f.name}`: {f.message}" for f in report.diagnosis]
    for name, g in report.gradients.items():
        for entry, yours, right in g.formulas:
            lines += ["", f"`{name}{_index(entry)}`: yours ${formula_text(yours, tex=True)}$, "
                          f"right ${formula_text(right, tex=True)}$"]
    if report.blind_spots:
        lines += ["", "**Blind spots**", ""] + [f"- `{b.name}`: {b.message}; {b.suggest}"
                                                 for b in report.blind_spots]
    return "\n".join(lines) + "\n"


def _tex(words: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                          ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("^", r"\^{}"), ("~", r"\~{}")):
        words = words.replace(char, escaped)
    return words


def latex(report) -> str:
    lines = [r"\begin{tabular}{llll}", r"tensor & result & shape & details \\ \hline"]
    for name, g in _all(report):
        lines.append(f"{_tex(name)} & {'ok' if g.ok else 'wrong'} & {_shape(g.shape)} & {_tex(_status(g))} \\\\")
    lines.append(r"\end{tabular}")
    body = [r"\paragraph{symconv check} \texttt{" + _tex(report.target) + "} (" + report.convention +
            " convention): " + _tex(_describe(report)) + ".", "", _tex(_headline(report)), "", *lines]
    if report.diagnosis:
        body += ["", r"\begin{itemize}"] + [r"\item \texttt{" + _tex(f.name) + "}: " + _tex(f.message)
                                            for f in report.diagnosis] + [r"\end{itemize}"]
    for name, g in report.gradients.items():
        for entry, yours, right in g.formulas:
            sub = ",".join(map(str, entry))
            body += ["", r"\[ d" + name[1:] + "_{" + sub + r"} = " + formula_text(yours, tex=True) +
                     r" \quad\text{(yours)}, \qquad " + formula_text(right, tex=True) + r" \quad\text{(right)} \]"]
    if report.blind_spots:
        body += ["", r"\paragraph{Blind spots}", r"\begin{itemize}"] + [
            r"\item \texttt{" + _tex(b.name) + "}: " + _tex(b.message) + "; " + _tex(b.suggest)
            for b in report.blind_spots] + [r"\end{itemize}"]
    return "\n".join(body) + "\n"


WRITERS = {"text": text, "markdown": markdown, "latex": latex, "json": lambda report: report.to_json()}
