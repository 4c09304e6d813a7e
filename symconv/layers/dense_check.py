"""The fully connected layer's and flatten's part of ``symconv check``.

linear: ``fn(dy, x, w, b)`` returns ``(dx, dw, db)``, with w in PyTorch's
(OUT, IN) layout, ``y = x w^T + b``; under ``--convention torch`` it is
``torch.nn.functional.linear`` itself. Its own mistake:

* ``weight-layout``: the gradients of ``y = x w`` (the (IN, OUT) layout of
  the course's affine layer) written for PyTorch's ``y = x w^T``:
  ``dw = x^T dy``, the transpose of ``dy^T x``, and, when w is square,
  ``dx = dy w^T`` instead of ``dy w``.

flatten: ``fn(dy, x)`` returns dx, dy put back in x's shape; under ``--convention
torch`` it is ``torch.flatten`` (called with ``start_dim=1``). Its own mistakes
read dy back in another order than the one flatten wrote it in:

* ``column-major``: ``dy.reshape(x.shape, order="F")``;
* ``channels-last``: as if x had been flattened as (N, ..., C), TensorFlow's
  order, and the channel axis moved back to second place (for an (N, C, L)
  input the same as column-major, so only this one is named there).

>>> from symconv.spec.dense import flatten_spec
>>> mistakes = {m.name: m for m in FLATTEN_CHECK.mistakes(flatten_spec((1, 2, 2)))}
>>> mistakes["channels-last"].variants[0]({"x": np.zeros((1, 2, 2)), "dy": np.array([[1.0, 2.0, 3.0, 4.0]])})["dx"].tolist()
[[[1.0, 3.0], [2.0, 4.0]]]
"""

from __future__ import annotations

import numpy as np

from symconv.layers.checking import CheckRule, Mistake, no_cs231n


def _linear_config(spec) -> dict:
    config = {"input": spec.input, "weight": spec.weight}
    if not spec.bias:
        config["no_bias"] = True
    return config


def _layout(spec):
    out, into = spec.weight

    def wrong(v):
        grads = {"dw": v["x"].T @ v["dy"]}
        if out == into:  # only then does dy w^T have dx's shape
            grads["dx"] = v["dy"] @ v["w"].T
        return grads
    return wrong


def _linear_mistakes(spec):
    return (Mistake("weight-layout", "w is PyTorch's (OUT, IN) and y = x w^T, so dx = dy w and dw = dy^T x; x^T dy "
                    "and dy w^T are the gradients of y = x w, the (IN, OUT) layout", (_layout(spec),)),)


def _linear_edge_cases(kind):
    cases = []
    for n in (1, 2, 3, 5):
        for into, out in ((1, 1), (1, 4), (4, 1), (3, 3), (2, 5), (6, 2), (8, 8), (7, 3)):
            cases.append((f"x {n}x{into}, w {out}x{into}", {"input": (n, into), "weight": (out, into)}))
    for n, into, out in ((1, 3, 2), (2, 4, 4), (4, 1, 3), (3, 6, 1)):
        cases.append((f"x {n}x{into}, w {out}x{into}, no bias",
                      {"input": (n, into), "weight": (out, into), "no_bias": True}))
    return cases


def _flatten_config(spec) -> dict:
    return {"input": spec.input}


def _column_major(v):
    return {"dx": v["dy"].reshape(v["x"].shape, order="F")}


def _channels_last(v):
    n, c, *rest = v["x"].shape
    return {"dx": np.moveaxis(v["dy"].reshape((n, *rest, c)), -1, 1)}


def _flatten_mistakes(spec):
    last = ("dy is read as if x had been flattened channels-last (N, ..., C), TensorFlow's order; PyTorch's "
            "flatten reads x row-major in (N, C, ...) order")
    if len(spec.input) == 3:  # (N, C, L): the two orders are one
        return (Mistake("channels-last", last + " (for an N,C,L input the same as putting dy back column-major, "
                        "order='F')", (_channels_last,)),)
    return (Mistake("column-major", "dy is put back in x's shape column-major (order='F'); flatten writes x "
                    "row-major, so the gradient reads dy back the same way", (_column_major,)),
            Mistake("channels-last", last, (_channels_last,)))


_FLATTEN_SHAPES = [(1, 1), (2, 3), (1, 1, 1), (1, 2, 3), (2, 3, 1), (3, 1, 4), (1, 4, 4), (2, 2, 5), (1, 1, 1, 1),
                   (1, 2, 2, 2), (2, 3, 2, 4), (1, 1, 5, 3), (3, 2, 1, 1), (1, 4, 3, 3), (2, 1, 2, 6), (1, 3, 1, 7),
                   (4, 2, 2, 1), (1, 8, 2, 2), (2, 2, 3, 3, 3), (1, 1, 2, 3, 4), (1, 3, 2, 2, 2), (2, 2, 1, 4, 1),
                   (1, 6), (5, 2, 2), (1, 16, 1, 1), (2, 1, 1, 9), (3, 3, 3), (1, 2, 7, 1), (2, 5, 2, 2),
                   (1, 1, 4, 4, 1)]


def _flatten_edge_cases(kind):
    return [(f"input {'x'.join(map(str, shape))}", {"input": shape}) for shape in _FLATTEN_SHAPES]


LINEAR_CHECK = CheckRule(
    config=_linear_config,
    keywords=lambda spec: {},
    torch_keywords=lambda spec: {},
    cs231n=lambda spec: no_cs231n(spec.kind, "the course's affine layer keeps w as (IN, OUT), the transpose of "
                                            "PyTorch's: wrap it to take and return w as (OUT, IN) and use "
                                            "--convention plain"),
    mistakes=_linear_mistakes,
    edge_cases=_linear_edge_cases,
    partners={"dx": "w", "dw": "x"},
)

FLATTEN_CHECK = CheckRule(
    config=_flatten_config,
    keywords=lambda spec: {},
    torch_keywords=lambda spec: {"start_dim": 1},
    cs231n=lambda spec: no_cs231n(spec.kind, "the course flattens inside its affine layer"),
    mistakes=_flatten_mistakes,
    edge_cases=_flatten_edge_cases,
)
