"""Evaluate a derivation along its chain, and the reference kernels composed the same way.

A single layer is a chain of one, named ``x``, ``w``, ``b``, ``y``; a stack's
layers carry their own names. Derived values: every layer's forward from
the previous layer's values, then every gradient from the upstream gradient
of the layer above. Reference values: each layer's reference kernels
(:func:`symconv.layers.rule_for`), composed the same way.
"""

from __future__ import annotations

from fractions import Fraction

from symconv.engine.derive import LAYER_NAMES
from symconv.engine.evaluate import evaluate_table
from symconv.layers import rule_for


def chain_of(derivation):
    """``(layers, names, forwards, gradients)``, one entry per layer."""
    if derivation.is_stack:
        return derivation.spec.layers, derivation.names, derivation.forward, derivation.gradients
    return (derivation.spec,), [LAYER_NAMES], [derivation.forward], [derivation.gradients]


def leaf_shapes(derivation) -> dict:
    """The tensors a user provides: x, every w and b, and dy."""
    shapes = {name: shape for name, shape in derivation.shapes.items()
              if shape is not None and (name == "x" or name[0] in "wb")}
    shapes["dy"] = derivation.shapes["y"]
    return shapes


def compared(derivation) -> list[str]:
    """Every tensor the chain computes: outputs in forward order, gradients backward."""
    layers, names, _, gradients = chain_of(derivation)
    return [n["y"] for n in names] + [name for grads in reversed(gradients) for name in grads]


def derived_chain(derivation, values, dtype) -> dict:
    """The leaves, and every derived output and gradient evaluated at them."""
    values = dict(values)
    _, names, forwards, gradients = chain_of(derivation)
    for name, table in zip(names, forwards):
        values[name["y"]] = evaluate_table(table, derivation.shapes[name["y"]], values, dtype)
    for grads in reversed(gradients):
        for name, table in grads.items():
            values[name] = evaluate_table(table, derivation.shapes[name[1:]], values, dtype)
    return values


def reference_chain(derivation, values) -> dict:
    """The same tensors by the reference kernels (the mean's 1/N on the last layer)."""
    values = dict(values)
    layers, names, _, _ = chain_of(derivation)
    scale = Fraction(1, derivation.spec.input[0]) if derivation.reduction == "mean" else 1
    backwards = []
    for position, (layer, name) in enumerate(zip(layers, names)):
        last = position == len(names) - 1
        forward, backward = rule_for(layer).reference(layer, name, scale if last else 1)
        values[name["y"]] = forward(values)
        backwards.append(backward)
    for backward in reversed(backwards):
        values.update(backward(values))
    return values


def reference_outputs(derivation, values) -> dict:
    """The leaves and every layer's output, by the reference kernels."""
    values = dict(values)
    layers, names, _, _ = chain_of(derivation)
    for layer, name in zip(layers, names):
        values[name["y"]] = rule_for(layer).reference(layer, name, 1)[0](values)
    return values


def reference_loss_output(derivation, values):
    """The chain's final output y by the reference kernels (what finite differences perturb)."""
    return reference_outputs(derivation, values)["y"]
