"""One check of a user's backward at one configuration: call, compare, diagnose, rebuild, find blind spots."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symconv.check.call import Raised, Returned, make_caller
from symconv.check.diagnose import Outcomes, blind_spots, diagnose
from symconv.check.mistakes import mistakes_of
from symconv.check.probes import draw, shapes, wrong_mask
from symconv.check.reconstruct import formulas
from symconv.errors import SymconvError
from symconv.check.report import CheckReport, judge
from symconv.layers import rule_for
from symconv.names import CHECK_KINDS
from symconv.layers.checking import NAMES

#: Wrong entries rebuilt as formulas, per gradient.
REBUILT = 3
#: The most elements (of y, x and the parameters: ``spec.count_entries()``) a layer may hold to be checked.
#: Each probe holds float64 copies of them, and each mistake model reruns the reference on them: a layer
#: this large already takes the better part of a gigabyte.
MAX_ELEMENTS = 2**24


def check_layer_size(spec) -> None:
    """Refuse, before the user's code is loaded or any array allocated, a layer too large to check."""
    elements = spec.count_entries()
    if elements > MAX_ELEMENTS:
        raise SymconvError(
            f"input: got a layer of {elements:,} elements (x, y and the parameters together), expected at most "
            f"{MAX_ELEMENTS:,} for symconv check (a smaller layer)"
        )


def _rebuild(call, backward, probes, yours, right, gradient, partner, floors):
    """Up to REBUILT wrong entries as formulas, at the first probe where the first wrong entry is wrong."""
    for p, (_, probe) in enumerate(probes):
        mask = wrong_mask(yours[p][gradient], right[p][gradient], floors[p].get(gradient, 0.0))
        if mask.any():
            break
    entries = [tuple(int(i) for i in e) for e in np.argwhere(mask)[:REBUILT]]
    try:
        yours = formulas(call, probe, gradient, entries, partner)
    except (Raised, Returned):
        return ()
    right = formulas(backward, probe, gradient, entries, partner)
    if yours is None or right is None:
        return ()
    return tuple((entry, yours[entry], right[entry]) for entry in entries)


def run_check(spec, fn, convention: str = "plain", forward=None, seed: int = 0, target: str = "",
              explain: bool = True) -> CheckReport:
    """Check ``fn`` at ``spec``; ``explain`` also rebuilds wrong entries and looks for blind spots."""
    check_layer_size(spec)
    rule = rule_for(spec)
    if rule.check is None:
        raise SymconvError(f"kind: got {spec.kind!r}, expected one of {', '.join(CHECK_KINDS)} "
                           f"(the kinds whose mistakes symconv check knows)")
    call = make_caller(spec, rule, convention, fn, forward)
    probes = draw(spec, rule, seed)
    reference_forward, reference_backward = rule.reference(spec, NAMES, 1)
    right = [reference_backward(values) for _, values in probes]
    sizes = shapes(spec, rule)
    names = ["d" + name for name in sizes if name != "dy"]
    report = dict(convention=convention, target=target, spec=spec, probes=tuple(name for name, _ in probes))
    try:
        yours = [call(values) for _, values in probes]
    except (Raised, Returned) as problem:
        return CheckReport(ok=False, error=str(problem), **report)
    floors = [rule.check.noise(spec, values) if rule.check.noise else {} for _, values in probes]
    results = {g: judge(g, [y[g] for y in yours], [r[g] for r in right], [f.get(g, 0.0) for f in floors])
               for g in names}
    checked_forward = None
    if "y" in yours[0]:
        outputs = [reference_forward(values) for _, values in probes]  # batch norm's holds its statistics too
        outputs = [out[NAMES["y"]] if isinstance(out, dict) else out for out in outputs]
        checked_forward = judge("y", [y["y"] for y in yours], outputs)
    # A gradient of the wrong shape is diagnosed too (a transposed dw is a known mistake), but has no
    # wrong entries to rebuild.
    wrong = [g for g, result in results.items() if not result.ok]
    outcomes = Outcomes(mistakes_of(spec, rule, sizes), probes)
    findings = diagnose(outcomes, wrong, yours, right) if wrong else []
    spots = blind_spots(spec, rule, outcomes, right, seed) if explain else []
    if explain:
        for g in (g for g in wrong if results[g].wrong):
            partner = rule.check.partners.get(g)
            rebuilt = _rebuild(call, reference_backward, probes, yours, right, g, partner, floors)
            if rebuilt:
                results[g] = replace(results[g], formulas=rebuilt)
    ok = all(r.ok for r in results.values()) and (checked_forward is None or checked_forward.ok)
    return CheckReport(ok=ok, gradients=results, forward=checked_forward, diagnosis=tuple(findings),
                       blind_spots=tuple(spots), **report)
