"""Helpers for the tests of linear, flatten, sigmoid, tanh and batch norm: the JSON
contract read back with ``parse_expr``, evaluated at values, and compared with PyTorch.

Nothing here uses symconv's own evaluator: the strings of ``--format json`` are
parsed back and every element replaced by its value, so what is checked is
what a user reading the JSON would compute.
"""

from __future__ import annotations

import json
import re

import numpy as np
from sympy import Float, Indexed, IndexedBase
from sympy.parsing.sympy_parser import parse_expr

from symconv.printing.formats import render

KEY = re.compile(r"^([a-z]+\d*)\[([0-9, ]+)\]$")


def json_of(derivation) -> dict:
    return json.loads(render(derivation, "json"))


def reader(data) -> dict:
    """Every tensor of the output, and each with a d in front, as an ``IndexedBase``."""
    names = set(data["shapes"]) | {"d" + name for name in data["shapes"]}
    return {name: IndexedBase(name) for name in names}


def parsed_tables(data) -> list[tuple[str, dict]]:
    """``[(name, {index: expression})]`` in the order the JSON lists them: forward, then gradients."""
    local = reader(data)
    tables: dict[str, dict] = {}
    for entries in [data["forward"], *data["gradients"].values()]:
        for key, text in entries.items():
            name, index = KEY.match(key).groups()
            tables.setdefault(name, {})[tuple(int(i) for i in index.split(", "))] = parse_expr(text, local_dict=local)
    return list(tables.items())


def evaluate_json(data, leaves: dict) -> dict:
    """Every table of the JSON output evaluated in order at the leaves' float values.

    A table may only use tensors given as leaves or listed before it (the
    contract's order); any other name raises KeyError here.
    """
    values = {name: np.asarray(array, dtype=float) for name, array in leaves.items()}
    for name, table in parsed_tables(data):
        shape = tuple(data["shapes"][name[1:]] if name not in data["shapes"] else data["shapes"][name])
        out = np.zeros(shape)
        for index, expr in table.items():
            elements = {e: Float(values[e.base.name][tuple(int(i) for i in e.indices)], 30)
                        for e in expr.atoms(Indexed)}
            out[index] = float(expr.xreplace(elements))
        values[name] = out
    return values


def torch_grads(function, leaves: dict, dy):
    """``(y, {name: gradient})`` of ``sum(dy * function(**tensors))`` by PyTorch's autograd, in float64."""
    import torch

    tensors = {name: torch.tensor(np.asarray(value, dtype=float), requires_grad=True) for name, value in leaves.items()}
    y = function(**tensors)
    y.backward(torch.tensor(np.asarray(dy, dtype=float)))
    return y.detach().numpy(), {name: t.grad.numpy() for name, t in tensors.items()}


def close(a, b, tolerance=1e-9) -> bool:
    """cs231n's relative error, below ``tolerance`` (with an absolute floor for values near 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tolerance * np.maximum(1e-6, np.abs(a) + np.abs(b))))
