"""Evaluate a derivation along its chain, and the reference kernels composed the same way.

A single layer is a chain of one, named ``x``, ``w``, ``b``, ``y``; a stack's
layers carry their own names. Derived values: every layer's forward from
the previous layer's values, then every gradient from the upstream gradient
of the layer above. Reference values: each layer's reference kernels
(:func:`symconv.layers.rule_for`), composed the same way.

With a derived loss (mse, cross-entropy) the leaves are x, the parameters
and the target t, and dy is computed, by the derived table and by the
loss's reference (:mod:`symconv.reference.loss`), unless the values already
hold one: cross-entropy's exact trials give a rational dy, since its
softmax is not rational, and so check the chain below dy exactly.
"""

from __future__ import annotations

from fractions import Fraction

from symconv.engine.derive import LAYER_NAMES
from symconv.engine.evaluate import evaluate_table
from symconv.layers import rule_for
from symconv.layers.loss import loss_rule_for
from symconv.spec.stack import TARGET


def chain_of(derivation):
    """``(layers, names, forwards, gradients)``, one entry per layer."""
    if derivation.is_stack:
        return derivation.spec.layers, derivation.names, derivation.forward, derivation.gradients
    return (derivation.spec,), [LAYER_NAMES], [derivation.forward], [derivation.gradients]


def intermediates_of(derivation) -> list:
    """Per layer, the tables of the quantities its forward computes before its output (most: none)."""
    return derivation.intermediates if derivation.is_stack else [derivation.intermediates]


def _run_forward(forward, values, output):
    """A reference forward's result into ``values``: its output, or its named quantities and output."""
    result = forward(values)
    if isinstance(result, dict):
        values.update(result)
    else:
        values[output] = result


def leaf_shapes(derivation) -> dict:
    """The tensors a user provides: x, every w and b, and dy (or, with a derived loss, the target t)."""
    shapes = {name: shape for name, shape in derivation.shapes.items()
              if shape is not None and (name == "x" or name[0] in "wb")}
    if derivation.loss is None:
        shapes["dy"] = derivation.shapes["y"]
    else:
        shapes[TARGET] = derivation.shapes[TARGET]
    return shapes


def compared(derivation) -> list[str]:
    """Every tensor the chain computes: outputs (and their intermediates) in forward order, then dy
    of a derived loss, gradients backward."""
    layers, names, _, gradients = chain_of(derivation)
    outputs = [step for n, steps in zip(names, intermediates_of(derivation)) for step in [*steps, n["y"]]]
    loss = ["dy"] if derivation.loss is not None else []
    return outputs + loss + [name for grads in reversed(gradients) for name in grads]


def divisor(derivation) -> int:
    """What the reduction divides the summed loss terms by."""
    if derivation.loss is not None:
        return derivation.loss.divisor
    return derivation.spec.input[0] if derivation.reduction == "mean" else 1


def loss_terms(derivation, values):
    """The reference loss's terms at y = ``values["y"]``: their sum over :func:`divisor` is L.

    For the sum loss they are ``dy * y``; for mse and cross-entropy the
    unreduced terms against the target t.
    """
    if derivation.loss is None:
        return values["dy"] * values["y"]
    terms, _ = loss_rule_for(derivation.loss).reference(derivation.loss)
    return terms(values["y"], values[TARGET])


def derived_chain(derivation, values, dtype) -> dict:
    """The leaves, and every derived output and gradient evaluated at them."""
    values = dict(values)
    _, names, forwards, gradients = chain_of(derivation)
    for name, table, steps in zip(names, forwards, intermediates_of(derivation)):
        for step, step_table in steps.items():
            values[step] = evaluate_table(step_table, derivation.shapes[step], values, dtype)
        values[name["y"]] = evaluate_table(table, derivation.shapes[name["y"]], values, dtype)
    if derivation.loss is not None and "dy" not in values:
        values["dy"] = evaluate_table(derivation.dy, derivation.shapes["y"], values, dtype)
    for grads in reversed(gradients):
        for name, table in grads.items():
            values[name] = evaluate_table(table, derivation.shapes[name[1:]], values, dtype)
    return values


def reference_chain(derivation, values) -> dict:
    """The same tensors by the reference kernels (the sum loss's mean: 1/N on the last layer)."""
    values = dict(values)
    layers, names, _, _ = chain_of(derivation)
    scale = Fraction(1, divisor(derivation)) if derivation.loss is None and divisor(derivation) != 1 else 1
    backwards = []
    for position, (layer, name) in enumerate(zip(layers, names)):
        last = position == len(names) - 1
        forward, backward = rule_for(layer).reference(layer, name, scale if last else 1)
        _run_forward(forward, values, name["y"])
        backwards.append(backward)
    if derivation.loss is not None and "dy" not in values:
        _, loss_backward = loss_rule_for(derivation.loss).reference(derivation.loss)
        values["dy"] = loss_backward(values["y"], values[TARGET])
    for backward in reversed(backwards):
        values.update(backward(values))
    return values


def reference_outputs(derivation, values) -> dict:
    """The leaves and every layer's output, by the reference kernels."""
    values = dict(values)
    layers, names, _, _ = chain_of(derivation)
    for layer, name in zip(layers, names):
        _run_forward(rule_for(layer).reference(layer, name, 1)[0], values, name["y"])
    return values


def reference_loss_output(derivation, values):
    """The chain's final output y by the reference kernels (what finite differences perturb)."""
    return reference_outputs(derivation, values)["y"]
