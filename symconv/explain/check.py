r"""Every step is an equation; check each against the NumPy reference kernels.

A general step (symbolic sizes) is instantiated at :data:`~symconv.explain.families.SIZE_SETS`
random small layers (the first plain, others with stride 3, padding 2 and
dilation 2, the rest drawn at random), each at random integer values of x, w,
b and dy, and evaluated exactly (:mod:`symconv.explain.evaluate`) at entries
of its left-hand side (all of them, or a random sample of
:data:`ENTRIES` with the first and the last); the value must equal the
reference kernel's: the forward's output for a step about y, the gradient's
entry for the others. The chain rule's :math:`\partial y_o/\partial t_e` is
asked of the reference too: the backward of a dy that is 1 at output o and
0 elsewhere. A step at one entry is checked the same way at the layer's own
sizes, on :data:`DRAWS` draws of values.

What is evaluated is each side as the JSON holds it, the output sizes
(``H_o``) left as symbols whose values come with the layer
(:func:`~symconv.explain.model.evaluable`); the tests read the JSON strings
back with ``parse_expr`` and check those too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from sympy import Derivative

from symconv.explain.evaluate import Tensor, compile_expression
from symconv.explain.families import NAMES, random_specs, size_values, spec_sizes
from symconv.explain.model import evaluable
from symconv.layers import rule_for

#: Entries of a step's left-hand side compared per layer, at most.
ENTRIES = 12
#: Draws of values for a step at one entry.
DRAWS = 3
#: The largest difference allowed between an exact value and the reference's float64.
TOLERANCE = 1e-9
#: The chain rule's derivative costs one reference backward per output: at a layer's own sizes it is
#: evaluated up to this many outputs (it is always evaluated at the random layers).
JACOBIAN_OUTPUTS = 512


@dataclass
class StepCheck:
    """One step's check: where it was evaluated, how many entries, the largest difference, the first failure."""

    number: int
    quantity: str
    title: str
    where: str
    layers: int = 0
    entries: int = 0
    largest: float = 0.0
    failure: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and (self.entries > 0 or bool(self.skipped))


@dataclass
class CheckReport:
    """Every step's check, in the order of the steps."""

    kind: str
    checks: list = field(default_factory=list)
    layers: str = ""  # what the random layers held, in words: "strides up to 3, paddings up to 2, ..."

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def first_failure(self) -> StepCheck | None:
        return next((c for c in self.checks if not c.ok), None)

    def table(self) -> str:
        """One line per step: what ``symconv explain --check`` prints."""
        header = ("step", "quantity", "checked at", "entries", "largest difference", "result", "title")
        rows = [(str(c.number), c.quantity, c.where, str(c.entries), f"{c.largest:.1e}",
                 ("not run: " + c.skipped) if c.skipped else "ok" if c.ok else "FAILED", c.title)
                for c in self.checks]
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        lines = [f"symconv explain {self.kind}: every step evaluated exactly and compared with the NumPy reference "
                 f"kernels"]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                  for row in [header, tuple("-" * w for w in widths)] + rows]
        failure = self.first_failure()
        lines.append(f"step {failure.number} failed: {failure.failure}" if failure else
                     "every step agrees with the reference kernels")
        return "\n".join(lines) + "\n"


def _values(spec, rng, tensors, draw: int):
    """Integer values of every input and of dy: small (ties for a max pool on every other draw)."""
    values = {}
    for name, shape in tensors.items():
        if shape is not None:
            values[name] = rng.integers(0, 3, size=shape) if name == "x" and draw % 2 else \
                rng.integers(-3, 4, size=shape)
    values["dy"] = rng.integers(-3, 4, size=spec.output_shape)
    return values


class _Layer:
    """A layer at values: the reference's forward, backward and Jacobian entries, and the evaluation environment."""

    def __init__(self, kind, spec, rng, draw):
        rule = rule_for(spec)
        self.tensors = rule.tensors(spec, NAMES)
        self.values = _values(spec, rng, self.tensors, draw)
        floats = {k: v.astype(float) for k, v in self.values.items()}
        self.forward_kernel, self.backward_kernel = rule.reference(spec, NAMES, 1)
        self.floats = floats
        self.reference = {"y": self.forward_kernel(floats), **self.backward_kernel(floats)}
        self.env = {**spec_sizes(kind, spec), **{k: Tensor(v) for k, v in self.values.items()},
                    "jacobian": self.jacobian}
        self.rows = {}

    def jacobian(self, tensor, output, at):
        r""":math:`\partial y_{output} / \partial t_{at}`: the reference backward of a dy that is 1 at ``output``."""
        if output not in self.rows:
            one = np.zeros(self.reference["y"].shape)
            one[output] = 1.0
            self.rows[output] = self.backward_kernel({**self.floats, "dy": one})
        return Fraction(self.rows[output]["d" + tensor][at])


def _entries(shape, rng):
    every = list(np.ndindex(*shape))
    if len(every) <= ENTRIES:
        return every
    chosen = rng.choice(len(every) - 2, size=ENTRIES - 2, replace=False) + 1
    return [every[0], every[-1]] + [every[int(i)] for i in sorted(chosen)]


def _compare(check, compiled, layer, lhs, entries):
    """Evaluate at each entry; record the largest difference and the first failure."""
    free = [s.name for s in lhs.indices if not s.is_Integer]
    for entry in entries:
        env = dict(layer.env)
        env.update(zip(free, entry))
        index = tuple(int(i) if i.is_Integer else env[i.name] for i in lhs.indices)
        expected = layer.reference[lhs.base.name][index]
        try:
            value = compiled(env)
        except (IndexError, KeyError, ZeroDivisionError, TypeError) as error:
            check.failure = check.failure or f"{lhs.base.name}{list(index)}: {error}"
            continue
        difference = abs(float(value) - float(expected))
        check.largest = max(check.largest, difference)
        check.entries += 1
        if difference > TOLERANCE * max(1.0, abs(float(expected))) and not check.failure:
            check.failure = f"{lhs.base.name}{list(index)} is {value}, the reference {expected}"


def _shape(lhs, layer):
    return layer.reference[lhs.base.name].shape


def describe_layers(specs) -> str:
    """``strides up to 3, paddings up to 2, dilations up to 2``: the range the random layers covered."""
    def largest(values):
        return max(v if isinstance(v, int) else max(v) for spec in specs for v in values(spec))

    words = [f"strides up to {largest(lambda s: s.stride)}", f"paddings up to {largest(lambda s: s.padding)}"]
    dilation = largest(lambda s: s.dilation)
    return ", ".join(words + ([f"dilations up to {dilation}"] if dilation > 1 else ["no dilation"]))


def check_general(kind: str, steps, axes, seed: int = 0, first: int = 1) -> list[StepCheck]:
    """Each general step at :data:`~symconv.explain.families.SIZE_SETS` random layers (see the module docstring)."""
    rng = np.random.default_rng(seed)
    specs = random_specs(kind, seed=seed)
    compiled = [compile_expression(evaluable(s.expression())) for s in steps]
    checks = [StepCheck(first + n, s.quantity, s.title, "random layers") for n, s in enumerate(steps)]
    for draw, spec in enumerate(specs):
        layer = _Layer(kind, spec, rng, draw)
        for step, function, check in zip(steps, compiled, checks):
            if step.quantity != "y" and layer.tensors.get(step.quantity[1:]) is None:
                continue  # no bias, no db
            check.layers += 1
            _compare(check, function, layer, step.lhs, _entries(_shape(step.lhs, layer), rng))
    return checks


def check_at(kind: str, spec, steps, axes, seed: int = 0, first: int = 1) -> list[StepCheck]:
    """Each step instantiated at ``spec``'s sizes (one entry, or the forward's every output) on :data:`DRAWS` draws."""
    rng = np.random.default_rng(seed)
    sizes = size_values(kind, spec)
    compiled = [compile_expression(evaluable(s.expression(), sizes)) for s in steps]
    checks = [StepCheck(first + n, s.quantity, s.title, "the layer's sizes") for n, s in enumerate(steps)]
    outputs = int(np.prod(spec.output_shape))
    for step, check in zip(steps, checks):
        if outputs > JACOBIAN_OUTPUTS and step.expression().has(Derivative):
            check.skipped = f"{outputs} outputs, a backward pass each"
    for draw in range(DRAWS):
        layer = _Layer(kind, spec, rng, draw)
        for step, function, check in zip(steps, compiled, checks):
            check.layers = DRAWS
            if check.skipped:
                continue
            entries = [()] if all(i.is_Integer for i in step.lhs.indices) else _entries(_shape(step.lhs, layer), rng)
            _compare(check, function, layer, step.lhs, entries)
    return checks
