"""Name the mistake behind a wrong gradient, and the mistakes a configuration cannot see.

A class is named for a gradient when the user's answer equals what that
mistake gives (:mod:`symconv.check.mistakes`, ``rule.check.mistakes``) on
every probe, or, for ``scaled``, a constant times the right answer. Only
gradients that are wrong are diagnosed, so nothing is named for a right one.

A mistake is a blind spot of the configuration for a gradient when each of
its ways of being made gives the right answer there on every probe: a check
at that configuration would pass a function that makes it. The suggestion is
the first change of configuration (from a list ordered from the smallest)
under which the mistake shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from symconv.check.probes import draw, same, shapes
from symconv.check.mistakes import mistakes_of
from symconv.errors import SymconvError
from symconv.layers.checking import NAMES, config_words
from symconv.spec.options import build_spec


@dataclass(frozen=True)
class Finding:
    """One named mistake: its class, the gradients that show it, and what it is in words."""

    name: str
    gradients: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class BlindSpot:
    """A mistake this configuration cannot reveal in ``gradients``, and the change that would."""

    name: str
    gradients: tuple[str, ...]
    message: str
    suggest: str


class Outcomes:
    """What each mistake gives on each probe, computed once."""

    def __init__(self, mistakes, probes):
        self.mistakes, self.probes, self._cache = mistakes, probes, {}

    def of(self, mistake, variant):
        key = (mistake.name, variant)
        if key not in self._cache:
            self._cache[key] = [mistake.variants[variant](values) for _, values in self.probes]
        return self._cache[key]


def factor_text(factor: float) -> str:
    """A factor as a short fraction when it is one (``0.5`` -> ``'1/2'``), else to 6 digits."""
    fraction = Fraction(factor).limit_denominator(1000)
    if abs(float(fraction) - factor) <= 1e-9 * abs(factor):
        return str(fraction)
    return f"{factor:.6g}"


def _scaled(gradients, yours, right):
    found = {}
    for g in gradients:
        if any(u[g].shape != r[g].shape for u, r in zip(yours, right)):
            continue  # a reshaped gradient is not a multiple of the right one
        u = np.concatenate([p[g].ravel() for p in yours])
        e = np.concatenate([p[g].ravel() for p in right])
        norm = float(e @ e)
        if norm == 0 or not np.all(np.isfinite(u)):
            continue
        factor = float(u @ e) / norm
        if factor != 0 and factor_text(factor) != "1" and same(u, factor * e):  # 1: right but for round-off
            found.setdefault(factor_text(factor), []).append(g)
    return [Finding("scaled", tuple(gs), f"{', '.join(gs)} {'is' if len(gs) == 1 else 'are'} {text} times "
                    f"the right gradient") for text, gs in found.items()]


def diagnose(outcomes: Outcomes, wrong: list[str], yours: list[dict], right: list[dict]) -> list[Finding]:
    """The mistakes whose gradients equal the user's wrong ones on every probe."""
    findings = []
    for mistake in outcomes.mistakes:
        matched = []
        for g in wrong:
            for variant in range(len(mistake.variants)):
                given = outcomes.of(mistake, variant)
                if all(g in m and same(u[g], m[g]) for m, u in zip(given, yours)):
                    matched.append(g)
                    break
        if matched:
            findings.append(Finding(mistake.name, tuple(matched), f"{', '.join(matched)}: {mistake.message}"))
    return findings + _scaled(wrong, yours, right)


def invisible(outcomes: Outcomes, mistake, right: list[dict]) -> tuple[str, ...]:
    """The gradients in which every way of making ``mistake`` gives the right answer on every probe."""
    hidden = {}
    for variant in range(len(mistake.variants)):
        for m, r in zip(outcomes.of(mistake, variant), right):
            for g, value in m.items():
                hidden[g] = hidden.get(g, True) and same(value, r[g])
    return tuple(g for g, unseen in hidden.items() if unseen)


def _candidates(config: dict):
    """Changes of configuration, smallest first: one option at a time, then two."""
    nd = len(config["input"]) - 2
    zero = all(p in (0, (0, 0)) for p in config.get("padding", ())) if config.get("padding") != "same" else False
    singles = []
    if config["input"][0] == 1:
        singles.append({"input": (2,) + tuple(config["input"][1:])})
    if "stride" in config:
        singles.append({"stride": (2,) * nd} if all(s == 1 for s in config["stride"]) else {"stride": (1,) * nd})
    if "padding" in config and zero:
        singles.append({"padding": (1,) * nd})
    if all(d == 1 for d in config.get("dilation", (2,))):
        singles.append({"dilation": (2,) * nd})
    for name in ("weight", "kernel"):
        if name in config:
            shape = tuple(config[name])
            lead = shape[:2] if name == "weight" else ()
            sizes = shape[len(lead):]
            singles.append({name: lead + tuple(k + 1 for k in sizes)})
    if "weight" in config and len(config["weight"]) == 2 and len(config["input"]) == 2:  # linear: a larger square w
        (n, size), out = config["input"], config["weight"][0]
        grown = max(size, out) + 1
        singles.append({"input": (n, grown), "weight": (grown, grown)})
    if "weight" in config:
        f, cg = config["weight"][:2]
        singles.append({"weight": (2 * f,) + tuple(config["weight"][1:])})
        if config.get("groups", 1) == 1:
            c = config["input"][1]
            c2, f2 = (c if c % 2 == 0 else 2 * c), (f if f % 2 == 0 else 2 * f)
            singles.append({"groups": 2, "input": config["input"][:1] + (c2,) + tuple(config["input"][2:]),
                            "weight": (f2, c2 // 2) + tuple(config["weight"][2:])})
    if "kernel" in config:
        singles += [{"ceil_mode": True}, {"no_count_include_pad": True}]
    if "output_size" in config:  # adaptive pools: other output sizes give other windows
        singles += [{"output_size": tuple(o + step for o in config["output_size"])} for step in (1, -1)]
    singles.append({"input": tuple(config["input"][:2]) + tuple(h + 2 for h in config["input"][2:])})
    for change in singles:
        yield {**config, **change}
    for i, first in enumerate(singles):
        for second in singles[i + 1:]:
            if not set(first) & set(second):
                yield {**config, **first, **second}


def _spec_from(kind, config):
    rest = {name: value for name, value in config.items() if name != "input"}
    try:
        return build_spec(kind, tuple(config["input"]), **rest)
    except SymconvError:
        return None


def suggest(spec, rule, mistake_name: str, gradients, seed: int) -> str:
    """The first change of configuration under which ``mistake_name`` shows in all of ``gradients``."""
    config = rule.check.config(spec)
    for candidate in _candidates(config):
        changed = _spec_from(spec.kind, candidate)
        if changed is None or changed.estimate_terms() > 5_000_000:
            continue
        sizes = shapes(changed, rule)
        probes = draw(changed, rule, seed)
        _, backward = rule.reference(changed, NAMES, 1)
        right = [backward(values) for _, values in probes]
        mistake = next(m for m in mistakes_of(changed, rule, sizes) if m.name == mistake_name)
        outcomes = Outcomes((mistake,), probes)
        hidden = invisible(outcomes, mistake, right)
        # Shown in every gradient it hides here, which needs it to give them there (linear's dx only for a square w).
        made = {g for v in range(len(mistake.variants)) for given in outcomes.of(mistake, v) for g in given}
        if set(gradients) <= made and not set(gradients) & set(hidden):
            return config_words(config, candidate)
    return ""


def blind_spots(spec, rule, outcomes: Outcomes, right: list[dict], seed: int) -> list[BlindSpot]:
    spots = []
    for mistake in outcomes.mistakes:
        hidden = invisible(outcomes, mistake, right)
        change = suggest(spec, rule, mistake.name, hidden, seed) if hidden else ""
        if change:  # none: the layer cannot make this mistake at any size (ReLU has no windows to overwrite)
            spots.append(BlindSpot(mistake.name, hidden,
                                   f"{', '.join(hidden)}: this configuration cannot reveal it ({mistake.message})",
                                   f"try {change}"))
    return spots
