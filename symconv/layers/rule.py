"""The shape of one entry of the rule table: what symconv knows of a family of layer kinds.

Every stage that must treat a convolution differently from a max pool asks
the layer's :class:`LayerRule` (through :func:`symconv.layers.rule_for`)
instead of testing the spec's kind: the engine builds the forward and picks
the tensors to differentiate, the verifier takes the reference kernels and
the places where finite differences are meaningless, the printers take the
words and the operator form of the backward.

Names: a rule speaks of a layer's tensors by role (``x``, ``w``, ``b``, ``y``,
``dy``); ``names`` maps each role to the name it has in this derivation
(``x``/``y`` for a lone layer, ``h1``/``w2``/``dh3`` ... in a stack).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: The origin of an element that stays constant when the leaves move (an
#: input a plain ReLU clamped to 0, and whatever only copies or averages such).
CONSTANT = -1


@dataclass(frozen=True)
class LayerRule:
    """One family of layer kinds (``conv1d`` and ``conv2d`` share one rule).

    * ``forward(spec, names)``: every output as a TermTable (sums of
      products) or a dict of SymPy expressions, keyed by index; names hold
      ``x``, ``w``, ``b`` and the upstream ``dy``.
    * ``tensors(spec, names)``: ``{name: shape}`` of the inputs the loss is
      differentiated by, in the order their gradients are listed (``None``
      for an absent tensor, such as a convolution without bias).
    * ``reference(spec, names, scale)``: ``(forward, backward)`` NumPy
      callables on a dict of named arrays; backward reads ``"d" + y`` and
      returns every ``"d" + tensor`` times ``scale``.
    * ``smooth``: the layer is linear in each single input (no ties, no kinks).
    * ``details(spec)``: the words that describe the layer after its input shape.
    * ``chain(spec, tex)``: the backward as operator identities, one
      ``(lhs, rhs)`` LaTeX pair per gradient; ``tex`` maps each role to its
      LaTeX name and ``dy`` to the upstream gradient's.
    * ``kinks(spec, x, origin)``: where finite differences break down at the
      layer's input values ``x``: ``(distance, origin_out)``, the distance of
      every site from its kink (``None`` if the layer has none) and the
      origins of the layer's outputs. ``origin`` labels each element of x as
      a function of the leaves (see :func:`fresh_origins`): :data:`CONSTANT`
      where it stays put when the leaves move, and one label for elements
      that are the same function, copies of one value that move together
      (through max pools, flatten and element-wise layers), which therefore
      never tie as rivals.
    * ``kink_site``: what a site of ``distance`` is, for messages, with the
      layer's tensor names to fill in (``"window of {y}"``).
    * ``forms``: how a derivation of the layer can be shown (every entry;
      for convolutions also operator identities and matrix pictures).
    * ``winner``: each gradient goes to a window's first maximum, which
      the printers define as ``m``.
    * ``operators``: the name of the family's operator identities and matrix
      pictures (``"conv"``, ``"conv_transpose"``), by which the formula and
      printing stages find their own code for the forms beyond ``element``.
    * ``weight_axes``: the names of w's two leading axes, as pictures label
      them (a convolution's filter and channel ``("f", "c")``, a transposed
      convolution's ``("c", "f")``).
    * ``check``: what ``symconv check`` needs to call a user's backward of
      the layer and name its mistakes (:class:`symconv.layers.checking.CheckRule`).
    * ``kind_forms(kind)``: the forms of one kind of the family, when they
      are fewer than ``forms`` (conv3d has no matrix pictures); see
      :meth:`forms_of`.
    * ``form_refusal(spec, form)``: why this layer cannot be shown in one of
      its kind's forms after all (a padding mode, which the matrix pictures
      do not draw), as the one-line message of the refusal; ``None`` when it can.
    * ``rational``: rational inputs give rational outputs and gradients, so
      the exact check can run (not so for sigmoid, tanh, batch norm's root).
    * ``curved``: not linear in each single input (sigmoid, tanh, batch
      norm), so finite differences need a small step.
    * ``cancels``: the layer's input gradient sums to 0 over each channel
      (batch norm), so a bias just below it has a zero gradient that floats
      reach only up to round-off; the verifier compares with a noise floor.
    * ``titles``: the title of each intermediate table the forward lists
      before y, by its name before a stack's number (``{"mu": ...}``).
    * ``notes(spec, names)``: sentences a document adds about the layer
      (what its symbols mean, an identity its gradient obeys), each a pair
      ``(plain text, text with $LaTeX$)``; ``names`` are the layer's tensor names.
    """

    kinds: tuple[str, ...]
    forward: Callable
    tensors: Callable
    reference: Callable
    smooth: bool
    details: Callable
    chain: Callable
    kinks: Callable
    kink_site: str = ""
    winner: bool = False
    forms: tuple[str, ...] = ("element",)
    check: object = None
    rational: bool = True
    curved: bool = False
    cancels: bool = False
    titles: dict = None
    notes: Callable = None
    operators: str = ""
    weight_axes: tuple[str, str] = ("f", "c")
    kind_forms: Callable | None = None
    form_refusal: Callable = lambda spec, form: None

    def forms_of(self, kind: str) -> tuple[str, ...]:
        """How a layer of ``kind`` can be shown."""
        return self.forms if self.kind_forms is None else self.kind_forms(kind)


def axes_text(values) -> str:
    """``(2, 2)`` -> ``'2'``; ``(2, 1)`` -> ``'2,1'``: one value when every axis agrees."""
    values = [str(v) for v in values]
    return values[0] if len(set(values)) == 1 else ",".join(values)


def scaled(array, scale):
    """A reference gradient times the loss's scale, exactly for object arrays."""
    return array * scale if array.dtype == object else array * float(scale)


def input_only(spec, names) -> dict:
    """The tensors of a weightless layer: its input alone."""
    return {names["x"]: spec.input}


def fresh_origins(shape):
    """Origins of a tensor whose every element is a function of its own (a
    convolution's outputs, a batch norm's, the leaves): all labels distinct.

    Labels only ever meet within one tensor, so they need not differ from
    those of another. Two elements that are in fact equal functions but get
    distinct labels (two conv outputs that read only padding) are treated as
    rivals: their tie may void the finite differences, but never hides a kink.
    """
    return np.arange(math.prod(shape)).reshape(shape)


def fresh_kinks(spec, x, origin):
    """A layer that mixes its inputs (and its weights, which move too): no kink; every output a new function."""
    return None, fresh_origins(spec.output_shape)


def moving_average_origins(moving, shape):
    """Origins of an average pool's outputs from ``moving`` (the pool of the
    inputs' moving mask): constant where no input of the window moves, else new."""
    return np.where(moving == 0, CONSTANT, fresh_origins(shape))


def intermediate_names(names, roles) -> dict:
    """A layer's own intermediate tensors, numbered as its weight is: ``mu``, or ``mu3`` beside ``w3``."""
    weight = names.get("w", "")
    number = weight[len(weight.rstrip("0123456789")):]
    return {role: role + number for role in roles}
