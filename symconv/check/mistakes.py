"""The mistakes the backward of any layer that treats each sample on its own
(``rule.check.per_sample``; all but batch norm) can make, beside each
family's own (``rule.check.mistakes``).

* ``batch-not-summed``: a parameter's gradient from one sample (the first,
  or the last, as ``=`` in a loop over the batch leaves it);
* ``overwrite-not-accumulate``: ``=`` where ``+=`` is needed, so the last
  window in row-major output order wins. For an input entry, either the last
  window that covers it writes its part (``dx[window] = ...``), or the last
  one whose part is not zero (``dx[argmax] = ...``); for a parameter, the
  last output alone (``dw[f] = ...`` in a loop over n, i, j).

Both are computed with the layer's own reference kernels only: the windows
that cover an input are found by running the forward on one-hot inputs, and
each window's part by running the backward on one-hot dy.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from symconv.layers.checking import NAMES, Mistake

#: Above this many (output, input) pairs per sample, the overwrite mistake is not modelled (memory).
OVERWRITE_PAIRS = 2_000_000


def _reference(spec, rule):
    return rule.reference(spec, NAMES, 1)


def _batch_not_summed(spec, rule, parameters):
    one = replace(spec, input=(1,) + tuple(spec.input[1:]))
    _, backward = _reference(one, rule)

    def sample(n):
        def wrong(v):
            single = {name: (a[n:n + 1] if name in ("x", "dy") else a) for name, a in v.items()}
            grads = backward(single)
            return {g: grads[g] for g in parameters}
        return wrong
    variants = (sample(0),) if spec.input[0] == 1 else (sample(0), sample(-1))
    return Mistake("batch-not-summed", "a parameter's gradient comes from one sample only: it must be summed "
                   "over the whole batch", variants)


def _coverage(spec, rule, shapes):
    """``covers[o, e]``: output o of a sample reads input entry e (the same for every sample)."""
    forward, _ = _reference(one_sample := replace(spec, input=(1,) + tuple(spec.input[1:])), rule)
    entries = math.prod(spec.input[1:])
    ones = {name: np.ones(shape) for name, shape in shapes.items() if name not in ("x", "dy")}
    if "b" in ones:
        ones["b"] = np.zeros(shapes["b"])
    hot = np.eye(entries).reshape((entries,) + tuple(spec.input[1:]))
    many = replace(one_sample, input=(entries,) + tuple(spec.input[1:]))
    y = _reference(many, rule)[0]({**ones, "x": hot})
    base = forward({**ones, "x": np.zeros((1,) + tuple(spec.input[1:]))})
    return (y != base).reshape(entries, -1).T


def _overwrite(spec, rule, shapes, parameters):
    outputs, entries = math.prod(spec.output_shape[1:]), math.prod(spec.input[1:])
    variants = []
    if outputs * entries <= OVERWRITE_PAIRS:
        covers = _coverage(spec, rule, shapes)
        many = replace(spec, input=(outputs,) + tuple(spec.input[1:]))
        _, backward = _reference(many, rule)
        hot_dy = np.eye(outputs).reshape((outputs,) + tuple(spec.output_shape[1:]))

        def parts(v, n):
            """``part[o, e]``: d y[n, o] / d x[n, e] at this probe."""
            x = np.repeat(v["x"][n:n + 1], outputs, axis=0)
            return backward({**v, "x": x, "dy": hot_dy})["dx"].reshape(outputs, entries)

        def last_writer(reach):
            def wrong(v):
                dx = np.zeros(v["x"].shape)
                for n in range(spec.input[0]):
                    part = parts(v, n)
                    mask = reach(covers, part)
                    last = outputs - 1 - np.argmax(mask[::-1], axis=0)
                    columns = np.arange(entries)
                    value = v["dy"][n].reshape(-1)[last] * part[last, columns]
                    dx[n] = np.where(mask.any(axis=0), value, 0.0).reshape(dx.shape[1:])
                return {"dx": dx}
            return wrong
        variants += [last_writer(lambda covers, part: covers), last_writer(lambda covers, part: part != 0)]
    if parameters:
        _, backward = _reference(spec, rule)
        spatial = tuple(-1 for _ in spec.output_shape[2:])

        def last_output(v):
            dy = np.zeros_like(v["dy"])
            dy[(-1, slice(None)) + spatial] = v["dy"][(-1, slice(None)) + spatial]
            grads = backward({**v, "dy": dy})
            return {g: grads[g] for g in parameters}
        variants.append(last_output)
    return Mistake("overwrite-not-accumulate", "= where += is needed: where windows overlap (or several outputs "
                   "read one entry), the last window in row-major output order overwrites the others",
                   tuple(variants))


def mistakes_of(spec, rule, shapes) -> tuple[Mistake, ...]:
    """Every mistake a check looks for in a layer: the family's own, then the ones of every layer."""
    parameters = tuple("d" + name for name in shapes if name not in ("x", "dy"))
    found = tuple(rule.check.mistakes(spec))
    if not rule.check.per_sample:  # samples meet (batch norm): the family models these mistakes itself
        return found
    if parameters:
        found += (_batch_not_summed(spec, rule, parameters),)
    return found + (_overwrite(spec, rule, shapes, parameters),)
