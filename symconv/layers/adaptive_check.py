"""Adaptive pooling's part of ``symconv check``: calling a user's backward, its classic mistakes, the edge suite.

The mistakes, each computed on the window tables below with NumPy:

* ``adaptive-fixed-kernel``: windows of one fixed length ``L - (O-1)*(L//O)``
  at stride ``L//O`` (an ordinary pool that gives the right output size),
  which is PyTorch's only when O divides L;
* ``adaptive-floor-end``: windows ending at ``floor((i+1)L/O)`` instead of the
  ceiling, so that neighbours never overlap;
* ``max-ties-all`` / ``-split`` / ``-last`` (max): every tied maximum gets dy,
  ties share it, or the last one gets it (PyTorch gives it to the first).

>>> from symconv.spec.adaptive import adaptive_pool_spec
>>> spec = adaptive_pool_spec("adaptive_avgpool1d", (1, 1, 5), 3)
>>> fixed = {m.name: m for m in ADAPTIVE_AVG_CHECK.mistakes(spec)}["adaptive-fixed-kernel"]
>>> fixed.variants[0]({"x": np.zeros((1, 1, 5)), "dy": np.array([[[6.0, 6.0, 6.0]]])})["dx"].tolist()
[[[2.0, 4.0, 6.0, 4.0, 2.0]]]
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from symconv.errors import SymconvError
from symconv.layers.checking import CheckRule, Mistake


def pytorch_bounds(size, out):
    """PyTorch's adaptive windows of one axis: starts and exclusive ends."""
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _fixed_bounds(size, out):
    stride = size // out
    starts = np.arange(out) * stride
    return starts, starts + size - (out - 1) * stride


def _floor_bounds(size, out):
    i = np.arange(out)
    return i * size // out, (i + 1) * size // out


def window_table(input_shape, bounds):
    """Each window's flat indices into x in row-major scan order, and which are real taps.

    ``bounds`` holds per spatial axis the windows' ``(starts, ends)``; both
    results are shaped ``(N, C) + outputs + (taps,)``, a shorter window's
    missing taps pointing at its last element and marked not real.
    """
    nd = len(bounds)
    flat, real = np.zeros((), dtype=np.intp), np.ones((), dtype=bool)
    for axis, (starts, ends) in enumerate(bounds):
        longest = int((ends - starts).max())
        taps = np.arange(longest)
        shape = [1] * (2 * nd)
        shape[axis], shape[nd + axis] = len(starts), longest
        position = np.minimum(starts[:, None] + taps, ends[:, None] - 1)
        flat = flat + (position * math.prod(input_shape[3 + axis:])).reshape(shape)
        real = real & (starts[:, None] + taps < ends[:, None]).reshape(shape)
    flat, real = np.broadcast_arrays(flat, real)
    outputs = flat.shape[:nd]
    flat, real = flat.reshape(outputs + (-1,)), real.reshape(outputs + (-1,))
    lead = np.arange(math.prod(input_shape[:2])).reshape(tuple(input_shape[:2]) + (1,) * (nd + 1))
    return flat + lead * math.prod(input_shape[2:]), np.broadcast_to(real, tuple(input_shape[:2]) + real.shape)


def _bounds(spec, rule):
    return [rule(size, out) for size, out in zip(spec.input[2:], spec.output_size)]


def _max_dx(spec, bounds, ties):
    """dx of a max pool over ``bounds`` with a tie rule: "first" (PyTorch), "all", "split" or "last"."""
    flat, real = window_table(spec.input, bounds)

    def wrong(v):
        x, dy = v["x"], v["dy"]
        values = np.where(real, x.ravel()[flat], -np.inf)
        tied = real & (values == values.max(axis=-1, keepdims=True))
        if ties == "all":
            weight = tied.astype(float)
        elif ties == "split":
            weight = tied / tied.sum(axis=-1, keepdims=True)
        else:
            last = tied.shape[-1] - 1 - np.argmax(tied[..., ::-1], axis=-1)
            pick = np.argmax(tied, axis=-1) if ties == "first" else last
            weight = np.zeros(tied.shape)
            np.put_along_axis(weight, pick[..., None], 1.0, axis=-1)
        dx = np.zeros(x.size)
        np.add.at(dx, flat[real], (weight * dy[..., None])[real])
        return {"dx": dx.reshape(x.shape)}
    return wrong


def _avg_dx(spec, bounds):
    """dx of an average pool over ``bounds``, each window divided by its own count."""
    flat, real = window_table(spec.input, bounds)
    counts = real.sum(axis=-1)

    def wrong(v):
        dx = np.zeros(v["x"].size)
        share = np.broadcast_to((v["dy"] / counts)[..., None], real.shape)
        np.add.at(dx, flat[real], share[real])
        return {"dx": dx.reshape(v["x"].shape)}
    return wrong


_FIXED = ("adaptive-fixed-kernel", "the windows have one fixed length L - (O-1)*(L//O) at stride L//O (an ordinary "
          "pool): PyTorch's window i runs from floor(i*L/O) to ceil((i+1)*L/O), which differs for many sizes that O "
          "does not divide")
_FLOOR = ("adaptive-floor-end", "the windows end at floor((i+1)*L/O): PyTorch's end at ceil((i+1)*L/O), so "
          "neighbouring windows overlap where O does not divide L")
_TIES = {"all": "every tied maximum of a window gets dy", "split": "tied maxima share dy",
         "last": "the last of tied maxima gets dy"}


def _mistakes(spec, is_max):
    if is_max:
        def make(rule):
            return _max_dx(spec, _bounds(spec, rule), "first")
    else:
        def make(rule):
            return _avg_dx(spec, _bounds(spec, rule))
    found = [Mistake(*_FIXED, (make(_fixed_bounds),)), Mistake(*_FLOOR, (make(_floor_bounds),))]
    if is_max:
        found += [Mistake(f"max-ties-{how}", f"{words}: PyTorch gives it to the first maximum only (in row-major "
                          f"window order)", (_max_dx(spec, _bounds(spec, pytorch_bounds), how),))
                  for how, words in _TIES.items()]
    return tuple(found)


def _cs231n(spec):
    raise SymconvError(f"convention: got 'cs231n' for {spec.kind}, expected a pool with a kernel and a stride "
                       f"(cs231n's pool_param has no adaptive pooling)")


def _name(sizes, outs):
    shown = "x".join(map(str, sizes)) + " to " + "x".join(map(str, outs))
    if all(o == 1 for o in outs):
        return shown + " (global)"
    if outs == sizes:
        return shown + " (identity)"
    return shown + (" (even windows)" if all(s % o == 0 for s, o in zip(sizes, outs)) else " (overlapping windows)")


#: (size, output size) pairs of one axis: global, identity, even, and overlapping windows of every kind.
_AXIS_1D = [(1, 1), (4, 1), (7, 1), (3, 3), (5, 5), (8, 4), (6, 3), (9, 3), (5, 3), (7, 3), (7, 4), (7, 5), (7, 6),
            (10, 4), (10, 6), (10, 7), (11, 3), (11, 5), (13, 5), (5, 2), (5, 4), (3, 2), (4, 3), (9, 2), (9, 4),
            (9, 5), (9, 7), (9, 8), (6, 4), (6, 5), (12, 5), (12, 7)]
_AXIS_2D = [(4, 1), (5, 3), (7, 3), (6, 4), (4, 2), (5, 5)]
_AXIS_3D = [(2, 1), (3, 2), (4, 3), (5, 3)]


def _edge_cases(kind):
    nd = int(kind[-2])
    axes = {1: [(p,) for p in _AXIS_1D], 2: list(itertools.product(_AXIS_2D, repeat=2)),
            3: list(itertools.product(_AXIS_3D, repeat=3))[::2]}[nd]
    cases = []
    for number, pairs in enumerate(axes):
        sizes, outs = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
        lead = ((2, 3) if number % 7 == 3 else (1, 2) if number % 5 == 1 else (1, 1))
        cases.append((_name(sizes, outs) + (f", N={lead[0]} C={lead[1]}" if lead != (1, 1) else ""),
                      {"input": lead + sizes, "output_size": outs}))
    return cases


def _check(is_max):
    return CheckRule(
        config=lambda spec: {"input": spec.input, "output_size": spec.output_size},
        keywords=lambda spec: {"output_size": spec.output_size},
        torch_keywords=lambda spec: {"output_size": spec.output_size},
        cs231n=_cs231n,
        mistakes=lambda spec: _mistakes(spec, is_max),
        edge_cases=_edge_cases,
    )


ADAPTIVE_MAX_CHECK = _check(True)
ADAPTIVE_AVG_CHECK = _check(False)
