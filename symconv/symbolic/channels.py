r"""A layer defined channel by channel: element-wise steps and means over a channel, on scalar symbols.

Batch normalization is not a sum of products, and written out element by
element its gradient is dense within a channel: every dx of a channel
depends on every x of it. Held as a :class:`ChannelGraph`, it is defined
once, for *one* element of *one* channel, by named steps such as

.. math::  \mu = \operatorname{mean}(x), \quad
           \sigma^2 = \operatorname{mean}((x - \mu)^2), \quad
           \hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}, \quad
           y = w \hat{x} + b,

where a step is either element-wise or the mean of an element-wise
expression over the channel's M values. :mod:`symconv.engine.channels`
differentiates such a graph step by step (each step's partial derivatives
by SymPy, the sums over a channel kept as named quantities) and only then
writes every element out, so the cost stays linear in the layer's size.

>>> graph = ChannelGraph.build((2, 1, 2), {"x": "x", "y": "y", "m": "m"}, [], per_channel=("m",))
>>> graph.symbols["m"], graph.count, graph.shape_of("m")
(_m, 4, (1,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelStep:
    """One named step: ``role = expr`` per element, or ``role = mean(expr)`` over the channel when ``mean``."""

    role: str
    mean: bool
    expr: object


@dataclass(frozen=True)
class ChannelGraph:
    """Steps over one channel of an input of ``shape`` (``N, C, ...``, the channel on axis 1).

    * ``names``: each role's tensor name in this derivation (``x``, ``w``,
      ``mu`` ..., or ``h2``, ``w3``, ``mu3`` in a stack), ``dy`` the upstream
      gradient's;
    * ``symbols``: each role's scalar SymPy symbol (a ``Dummy`` named by the role);
    * ``per_channel``: the roles with one value per channel (the parameters
      and the means); the others have one per element of x;
    * ``parameters``: the per-channel roles that are learned (their
      gradients are listed, before dx);
    * ``steps``: in forward order; the last one is y.
    """

    shape: tuple
    names: dict
    symbols: dict
    per_channel: frozenset
    parameters: tuple
    steps: tuple

    @classmethod
    def build(cls, shape, names, steps, per_channel=(), parameters=()):
        """A graph with one symbol per role in ``names``: a Dummy, so that it never meets the
        ``IndexedBase`` of the same name when the elements are written out."""
        from sympy import Dummy  # here: the rule table loads this module, and deriving a conv needs no SymPy

        symbols = {role: Dummy(role) for role in names}
        return cls(tuple(shape), dict(names), symbols, frozenset(per_channel), tuple(parameters), tuple(steps))

    @property
    def count(self) -> int:
        """M: the values of one channel (N times the spatial size)."""
        return math.prod(self.shape) // self.shape[1]

    def shape_of(self, role: str) -> tuple:
        return (self.shape[1],) if role in self.per_channel else self.shape

    def with_steps(self, steps) -> "ChannelGraph":
        """The same graph with these steps (written in its own symbols)."""
        return ChannelGraph(self.shape, self.names, self.symbols, self.per_channel, self.parameters, tuple(steps))
