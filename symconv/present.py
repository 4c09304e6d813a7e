"""Presentation: turn a derivation into titled sections of equations.

A presentation decides *what* is shown (which equations, in which order,
under which titles); the printers in :mod:`symconv.latex` and
:mod:`symconv.formats` decide *how* it is written.

The element-wise presentation lists the forward ``y = ...`` and then one
equation per entry of dx, dw and db, zeros included, in row-major order.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Leading axes that are batch/channel/filter axes, per tensor name: these are
#: dropped from compact subscripts when they are all of size 1.
LEADING_AXES = {"x": 2, "y": 2, "dy": 2, "dx": 2, "w": 2, "dw": 2, "b": 1, "db": 1}

#: Order in which factors drive the sorting of a sum's terms for display:
#: gradients read by dy index (as the seeds write them), the forward by w.
DISPLAY_PRIORITY = {"dy": 0, "w": 1, "x": 2, "b": 3}


@dataclass(frozen=True)
class IndexStyle:
    """How element subscripts are shown: 0- or 1-based, compact or with commas.

    Compact subscripts (``x_{11}``) drop the trivial batch/channel axes and
    concatenate the rest; they are used only when that is unambiguous.
    """

    base: int = 0
    compact: bool = False

    def shown(self, name: str, index) -> tuple[int, ...]:
        shifted = tuple(int(i) + self.base for i in index)
        if self.compact:
            return shifted[LEADING_AXES.get(name, 0):]
        return shifted


def choose_style(spec, index_base: int = 0) -> IndexStyle:
    """Compact subscripts when N = C = F = 1 and every index is one digit."""
    trivial = spec.input[0] == 1 and spec.input[1] == 1 and spec.weight[0] == 1
    sizes = spec.input[2:] + spec.weight[2:] + spec.output_shape[2:]
    single_digit = max(sizes) - 1 + index_base <= 9
    return IndexStyle(base=index_base, compact=trivial and single_digit)


def display_key(term):
    """Sort key putting a sum's terms in the order a person writes them."""
    from sympy import Indexed, Mul

    key = []
    for factor in Mul.make_args(term):
        if isinstance(factor, Indexed):
            name = factor.base.name
            key.append((DISPLAY_PRIORITY.get(name, 9), name, tuple(int(i) for i in factor.indices)))
    return tuple(sorted(key)) or ((99, "", ()),)


def display_rank(space):
    """Rank of each element of a TermTable's space in :func:`display_key` order."""
    import numpy as np

    priority = np.array([DISPLAY_PRIORITY.get(name, 9) for name in space.names])
    owners = space.owner(np.arange(space.size))
    return priority[owners] * space.size + np.arange(space.size)


@dataclass(frozen=True)
class Section:
    """A titled block of equations: ``lhs[index] = table[index]`` for every index.

    ``table`` maps each index to its right-hand side (a TermTable or a dict of
    SymPy expressions); ``lhs`` names the left-hand tensor ('y', 'dx', ...).
    """

    name: str  # 'forward', 'dx', 'dw', 'db'
    title: str
    lhs: str
    table: object


def describe(spec) -> str:
    """One line saying which layer this is, for titles and headers."""
    def axes(values):
        values = [str(v) for v in values]
        return values[0] if len(set(values)) == 1 else ",".join(values)

    pairs = ["x " + "x".join(map(str, spec.input)), "w " + "x".join(map(str, spec.weight))]
    pads = [f"{lo}" if lo == hi else f"{lo}/{hi}" for lo, hi in spec.padding]
    parts = [
        f"stride {axes(spec.stride)}",
        f"padding {spec.padding_mode or axes(pads)}",
        f"dilation {axes(spec.dilation)}",
    ]
    if spec.groups != 1:
        parts.append(f"groups {spec.groups}")
    if not spec.bias:
        parts.append("no bias")
    return f"{spec.kind}: " + ", ".join(pairs + parts)


_TITLES = {
    "forward": "Forward",
    "dx": "Gradient with respect to the input x",
    "dw": "Gradient with respect to the weights w",
    "db": "Gradient with respect to the bias b",
}


def element_sections(derivation, progress=None):
    """Forward and every gradient entry, element by element, section by section.

    ``progress``, if given, is called once after each section has been used,
    so a caller can show how far a long printing job has come.
    """
    sections = [Section("forward", _TITLES["forward"], "y", derivation.forward)]
    for name, table in derivation.gradients.items():
        sections.append(Section(name, _TITLES[name], name, table))
    for section in sections:
        yield section
        if progress is not None:
            progress()
