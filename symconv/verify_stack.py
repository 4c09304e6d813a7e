"""Prove a stack's derivation, layer by layer and end to end.

The derived expressions are evaluated along the chain (each layer's forward
from the previous layer's values, then each layer's gradients from the next
layer's upstream gradient) and every tensor, intermediate or not, is
compared with the reference kernels composed the same way. Finite
differences of the composed reference loss check dx and every parameter's
gradient end to end, and the whole chain is also evaluated exactly in
rational arithmetic, including a constant input (ties in every max window).

>>> from symconv.stack import derive_stack, parse_layers, stack_spec
>>> spec = stack_spec((1, 1, 4, 4), parse_layers("conv2d(weight=1,1,2,2) | relu"))
>>> verify_stack(derive_stack(spec)).passed
True
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from symconv.evaluate import evaluate_table
from symconv.verify import (
    EXACT_TERM_LIMIT,
    Check,
    Report,
    _fractions,
    finite_differences,
    layer_kernels,
    rel_error,
)


def _leaf_shapes(derivation):
    """The tensors a user provides: x, every w and b, and dy."""
    shapes = {name: shape for name, shape in derivation.shapes.items()
              if shape is not None and (name == "x" or name[0] in "wb")}
    shapes["dy"] = derivation.shapes["y"]
    return shapes


def _derived_chain(derivation, values, dtype):
    values = dict(values)
    for names, table in zip(derivation.names, derivation.forward):
        values[names["y"]] = evaluate_table(table, derivation.shapes[names["y"]], values, dtype)
    for grads in reversed(derivation.gradients):
        for name, table in grads.items():
            values[name] = evaluate_table(table, derivation.shapes[name[1:]], values, dtype)
    return values


def _reference_chain(derivation, values):
    values = dict(values)
    scale = Fraction(1, derivation.spec.input[0]) if derivation.reduction == "mean" else 1
    kernels = []
    for position, (layer, names) in enumerate(zip(derivation.spec.layers, derivation.names)):
        last = position == len(derivation.names) - 1
        kernels.append(layer_kernels(layer, names, scale if last else 1))
        values[names["y"]] = kernels[-1][0](values)
    for forward, backward, _ in reversed(kernels):
        values.update(backward(values))
    return values


def _compared(derivation):
    """Every tensor the chain computes: outputs in forward order, gradients backward."""
    outputs = [names["y"] for names in derivation.names]
    gradients = [name for grads in reversed(derivation.gradients) for name in grads]
    return outputs + gradients


def verify_stack(derivation, seed: int = 0, fd_samples: int = 32, exact: bool | None = None) -> Report:
    """Check a :class:`~symconv.stack.StackDerivation`; see the module docstring."""
    rng = np.random.default_rng(seed)
    shapes = _leaf_shapes(derivation)
    values = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    derived = _derived_chain(derivation, values, float)
    expected = _reference_chain(derivation, values)
    if exact is None:
        exact = derivation.spec.estimate_terms() <= EXACT_TERM_LIMIT // 4
    exact_equal = {}
    if exact:
        random = {k: _fractions(rng.integers(-9, 10, size=s), rng.integers(1, 10, size=s)) for k, s in shapes.items()}
        ties = dict(random, x=_fractions(np.zeros(shapes["x"], dtype=int)))
        names = _compared(derivation)
        exact_equal = {name: True for name in names}
        for trial in (random, ties):
            got, want = _derived_chain(derivation, trial, object), _reference_chain(derivation, trial)
            for name in names:
                exact_equal[name] &= bool(np.array_equal(got[name], want[name]))
    divisor = derivation.spec.input[0] if derivation.reduction == "mean" else 1

    checks = []
    for name in _compared(derivation):
        fd_error, count = None, 0
        leaf = name[1:]
        if name.startswith("d") and leaf in shapes:
            entries = list(np.ndindex(*shapes[leaf]))
            if len(entries) > fd_samples:
                picks = rng.choice(len(entries), size=fd_samples, replace=False)
                entries = [entries[i] for i in sorted(picks)]
            # A small step: inside the stack, ReLU and max inputs are conv
            # outputs, which random values do not keep away from kinks.
            estimates = finite_differences(lambda v: _reference_chain_forward(derivation, v),
                                           values, leaf, entries, 1e-6, divisor)
            fd_error = rel_error([derived[name][i] for i in entries], estimates)
            count = len(entries)
        checks.append(Check(name, rel_error(derived[name], expected[name]), fd_error, count,
                            exact_equal.get(name) if exact else None))
    title = "stack: " + " | ".join(layer.kind for layer in derivation.spec.layers)
    title += ", x " + "x".join(map(str, derivation.spec.input))
    if derivation.reduction == "mean":
        title += ", mean reduction"
    return Report(title, seed, tuple(checks))


def _reference_chain_forward(derivation, values):
    values = dict(values)
    for layer, names in zip(derivation.spec.layers, derivation.names):
        values[names["y"]] = layer_kernels(layer, names)[0](values)
    return values["y"]

