"""``symconv check --suite edge``: one backward over a catalogue of edge configurations of its kind.

The catalogue is the layer family's (``rule.check.edge_cases``): stride equal
to the kernel, dilation, groups and depthwise, asymmetric 'same' padding,
1x1 kernels, kernel = input, overlapping pools, ceil_mode's last windows,
count_include_pad off... Each configuration is checked as ``symconv check``
checks one (blind spots and rebuilt formulas left out, for speed); one the
convention cannot express (cs231n has no dilation) is skipped, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from symconv.check.run import run_check
from symconv.errors import SymconvError
from symconv.layers import RULES
from symconv.printing.formats import json_text
from symconv.printing.present import describe
from symconv.spec.options import build_spec


@dataclass(frozen=True)
class Case:
    name: str
    spec: object
    report: object = None
    skipped: str = ""


@dataclass(frozen=True)
class SuiteResult:
    kind: str
    convention: str
    target: str
    cases: tuple

    @property
    def ran(self):
        return [c for c in self.cases if not c.skipped]

    @property
    def ok(self) -> bool:
        return bool(self.ran) and all(c.report.ok for c in self.ran)


def edge_specs(kind: str):
    """``(name, spec)`` of every configuration in ``kind``'s edge catalogue."""
    for name, config in RULES[kind].check.edge_cases(kind):
        rest = {option: value for option, value in config.items() if option != "input"}
        yield name, build_spec(kind, tuple(config["input"]), **rest)


def run_suite(fn, kind: str, convention: str = "plain", forward=None, seed: int = 0, target: str = "") -> SuiteResult:
    cases = []
    for name, spec in edge_specs(kind):
        try:
            report = run_check(spec, fn, convention, forward, seed, target, explain=False)
        except SymconvError as error:
            cases.append(Case(name, spec, skipped=str(error)))
            continue
        cases.append(Case(name, spec, report))
    return SuiteResult(kind, convention, target, tuple(cases))


def _verdict(case) -> tuple[str, str]:
    if case.skipped:
        return "skip", case.skipped
    report = case.report
    if report.ok:
        return "ok", ""
    if report.error:
        return "WRONG", report.error
    parts = []
    for name, g in ([("y", report.forward)] if report.forward else []) + list(report.gradients.items()):
        if not g.ok:
            parts.append(f"{name} {g.problem or f'{len(g.wrong)} entries wrong'}")
    named = [f.name for f in report.diagnosis]
    return "WRONG", "; ".join(parts) + (f" ({', '.join(named)})" if named else "")


def _summary(result) -> str:
    wrong = sum(1 for c in result.ran if not c.report.ok)
    skipped = len(result.cases) - len(result.ran)
    text = f"{len(result.cases)} configurations of {result.kind}: {len(result.ran) - wrong} ok, {wrong} wrong"
    text += f", {skipped} skipped (the {result.convention} convention cannot express them)" if skipped else ""
    if not result.ran:
        text += "; nothing could be run, so nothing is proven"
    return text


def text(result) -> str:
    lines = [f"symconv check --suite edge: {result.target} on {result.kind} ({result.convention} convention)", ""]
    width = max(len(c.name) for c in result.cases)
    for case in result.cases:
        verdict, why = _verdict(case)
        lines.append(f"{verdict:<5}  {case.name:<{width}}  {why}".rstrip())
        if verdict != "ok":
            lines.append(f"{'':<5}  {'':<{width}}  layer: {describe(case.spec)}")
    return "\n".join(lines + ["", _summary(result)]) + "\n"


def markdown(result) -> str:
    lines = [f"**symconv check --suite edge** `{result.target}` on {result.kind} ({result.convention} convention)",
             "", "| result | configuration | details |", "|---|---|---|"]
    for case in result.cases:
        verdict, why = _verdict(case)
        lines.append(f"| {verdict} | {case.name} | {why} |")
    return "\n".join(lines + ["", _summary(result)]) + "\n"


def latex(result) -> str:
    from symconv.check.writers import _tex

    rows = [f"{v} & {_tex(c.name)} & {_tex(w)} \\\\" for c in result.cases for v, w in [_verdict(c)]]
    return "\n".join([r"\begin{tabular}{lll}", r"result & configuration & details \\ \hline", *rows,
                      r"\end{tabular}", "", _tex(_summary(result))]) + "\n"


def json_report(result) -> str:
    data = {"ok": result.ok, "kind": result.kind, "convention": result.convention, "target": result.target,
            "configurations": []}
    for case in result.cases:
        entry = {"name": case.name, "layer": case.spec.to_dict()}
        if case.skipped:
            entry.update(ok=None, skipped=case.skipped)
        else:
            report = case.report.to_dict()
            entry.update({key: report[key] for key in ("ok", "gradients", "diagnosis") if key in report})
            for key in ("forward", "error"):
                if key in report:
                    entry[key] = report[key]
        data["configurations"].append(entry)
    data["summary"] = _summary(result)
    return json_text(data, records=True)


SUITE_WRITERS = {"text": text, "markdown": markdown, "latex": latex, "json": json_report}
