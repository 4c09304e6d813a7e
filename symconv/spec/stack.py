r"""Stacks of layers: parse them, chain their shapes, derive them layer by layer.

A stack is written ``conv2d(weight=4,3,3,3, padding=1) | relu | maxpool2d(kernel=2)``
(the CLI's option names, ``_`` or ``-``; flags as ``ceil_mode=true``,
``bias=false``), or as JSON: ``{"layers": [{"kind": "conv2d", "weight": [4, 3, 3, 3],
"padding": 1}, {"kind": "relu"}]}``, where a convolution's padding may also be
``[[before, after], ...]`` per axis, as the JSON output prints it, and ``null``
means not given. The text is read by a small tokenizer and a recursive-descent
parser; values go to :func:`symconv.spec.options.build_spec`. Nothing is evaluated.

Tensors are named by one rule: the input is ``x``, layer k's output ``h{k}``
(the last one ``y``), the j-th layer *with parameters* (any kind whose spec
has ``parameters``: a convolution, and every other kind that learns a
weight and a bias) numbers them ``w{j}``, ``b{j}``, and a loss's target is
``t``. A lone layer's parameters stay ``w``, ``b``.
Each layer is derived on its own, with its output's gradient (``dy``, or
``dh{k}``) as upstream, so the gradients read as seed 004's chain:

.. math::  \partial h^{(k-1)} = \operatorname{rot180}(W) \,\hat{*}\, \partial h^{(k)}
           \quad\text{(convolution)}, \qquad
           \partial h^{(k-1)} = \partial h^{(k)} \odot [h^{(k-1)} > 0] \quad\text{(ReLU)}.

>>> stack = parse_layers("conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)")
>>> [kind for kind, _ in stack]
['conv2d', 'relu', 'maxpool2d']
>>> stack_spec((1, 1, 4, 4), stack).output_shape
(1, 2, 2, 2)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from symconv.errors import SymconvError
from symconv.names import LAYER_KINDS
from symconv.spec.options import build_spec
from symconv.spec.values import shown

_TOKEN = re.compile(r"\s*(?:(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:/\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)|(?P<symbol>[(),=|]))")
#: Flags as the stack syntax writes them -> (build_spec's flag, whether "true" sets it).
_FLAGS = {
    "bias": ("no_bias", False), "no_bias": ("no_bias", True),
    "count_include_pad": ("no_count_include_pad", False),
    "no_count_include_pad": ("no_count_include_pad", True),
    "ceil_mode": ("ceil_mode", True),
}


def _tokens(text: str):
    """``(kind, text, character)`` per token, ``character`` counting from 1 in ``text``."""
    position, tokens = 0, []
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SymconvError(
                f"layers: got {text!r}, expected layer(option=value, ...) | ... made of names, numbers "
                f"and ( ) , = |; cannot read {text[position:position + 12]!r} at character {position + 1}"
            )
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return tokens


class _Parser:
    """stack := layer ('|' layer)* ; layer := NAME ['(' [arg (',' arg)*] ')'] ;
    arg := NAME '=' value ; value := atom (',' atom)* (an atom followed by '=' starts the next arg).

    Each refusal says what was expected and what was found, with the character
    (counting from 1) of both: ``expected ')' to close the '(' of conv2d at
    character 7, found '|' at character 23``.
    """

    def __init__(self, text):
        self.text, self.tokens, self.at = text, _tokens(text), 0

    def peek(self, offset=0):
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None, len(self.text) + 1)

    def next(self):
        token = self.peek()
        self.at += 1
        return token

    def refuse(self, expected, found=None):
        kind, value, where = self.peek()
        found = "the end" if kind is None else f"{found or repr(shown(value))} at character {where}"
        raise SymconvError(f"layers: got {self.text!r}, expected {expected}, found {found}")

    def refuse_inside(self, layer, opened, expected):
        """The end or a '|' inside a layer's parentheses means they were never closed."""
        if self.peek()[0] is None or self.peek()[1] == "|":
            expected = f"')' to close the '(' of {layer} at character {opened}"
        self.refuse(expected)

    def refuse_unmatched(self):
        if self.peek()[1] == ")":
            self.refuse("every ')' to close a '('", "an unmatched ')'")

    def stack(self):
        if not self.tokens:
            raise SymconvError(f"layers: got {self.text!r}, expected at least one layer, "
                               f"such as 'conv2d(weight=2,1,3,3) | relu'")
        layers = [self.layer("a layer name")]
        while self.peek()[0] is not None:
            if self.peek()[1] != "|":
                self.refuse_unmatched()
                kind, options = layers[-1]
                self.refuse(f"'|' or the end after {kind}{'(...)' if options else ''}")
            pipe = self.next()[2]
            layers.append(self.layer(f"a layer name after the '|' at character {pipe}"))
        return layers

    def layer(self, expected):
        if self.peek()[0] != "name":
            self.refuse_unmatched()
            self.refuse(expected)
        kind = self.next()[1]
        options = {}
        if self.peek()[1] == "(":
            options = self.arguments(kind, self.next()[2])
        return kind, options

    def arguments(self, layer, opened):
        """The options inside ``layer(...)``, whose '(' is at character ``opened``."""
        options, expected = {}, "an option (name=value) or ')'"
        while self.peek()[1] != ")":
            if self.peek()[0] != "name":
                self.refuse_inside(layer, opened, expected)
            name = self.next()[1].replace("-", "_")
            if self.peek()[1] != "=":
                self.refuse_inside(layer, opened, f"'=' after the option name {name}")
            self.next()
            atoms = [self.atom(layer, opened, name)]
            while (self.peek()[1] == "," and self.peek(1)[0] in ("number", "name")
                   and self.peek(2)[1] != "="):
                self.next()
                atoms.append(self.atom(layer, opened, name))
            if name in options:
                raise SymconvError(f"layers: got {name} twice in {layer}(...), expected each option once")
            options[name] = ",".join(atoms)
            if self.peek()[1] == ",":
                comma = self.next()[2]
                expected = f"an option (name=value) after the ',' at character {comma}"
                if self.peek()[1] == ")":
                    self.refuse(expected)  # a trailing comma
            elif self.peek()[1] != ")":
                self.refuse_inside(layer, opened, f"',' or ')' after the value of {name}")
        self.next()
        return options

    def atom(self, layer, opened, name):
        if self.peek()[0] not in ("number", "name"):
            self.refuse_inside(layer, opened, f"a value for {name} (a number or a word)")
        return self.next()[1]


def parse_layers(text: str) -> list[tuple[str, dict]]:
    """``[(kind, {option: text})]`` from the stack syntax or a ``.json`` file's path."""
    text = str(text).strip()
    if text.endswith(".json"):
        return _json_layers(text)
    return _Parser(text).stack()


def _json_layers(path: str):
    try:
        with open(path, encoding="utf-8-sig") as handle:  # -sig: with or without a byte-order mark
            data = json.load(handle)
    except (OSError, ValueError, RecursionError) as error:
        # ValueError: bad JSON, bytes that are not UTF-8, or an integer of over 4300 digits
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(";")[0]
        raise SymconvError(f"layers: got {path!r}, expected a readable JSON file in UTF-8 ({reason})") from None
    items = data.get("layers") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) and "kind" in i for i in items):
        raise SymconvError(f"layers: got {path!r}, expected {{\"layers\": [{{\"kind\": ...}}, ...]}}")
    layers = []
    for position, item in enumerate(items, start=1):
        options = {}
        for name, value in item.items():
            if name != "kind" and value is not None:  # null: not given
                options[name.replace("-", "_")] = _json_option(value, name, position, item["kind"])
        layers.append((str(item["kind"]), options))
    return layers


def _json_option(value, name, position, kind):
    """A JSON value as build_spec reads it: flags and numbers as text, as on the
    command line; a list of integers as ``"2,1"``; a list holding lists (the
    ``[[before, after], ...]`` padding the JSON output prints) as tuples, which
    the spec validates pair by pair."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return ",".join(map(str, value))
    if isinstance(value, list) and all(isinstance(v, (int, list)) and not isinstance(v, bool) for v in value):
        items = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if all(isinstance(x, int) and not isinstance(x, bool) for v in items if isinstance(v, tuple) for x in v):
            return items
    raise SymconvError(
        f"layers: layer {position} ({kind}): {name}: got {json.dumps(value)[:60]}, expected a number, "
        f"a string, true / false, a list of integers or, for padding, [before, after] pairs"
    )


def _options_for(kind, options, position):
    """Stack option text -> build_spec keywords (flags to booleans)."""
    keywords = {}
    for name, value in options.items():
        if name in _FLAGS:
            if not isinstance(value, str) or value.lower() not in ("true", "false"):
                raise SymconvError(f"layers: layer {position} ({kind}): {name}: got {shown(value)!r}, "
                                   f"expected true or false")
            flag, when_true = _FLAGS[name]
            if flag in keywords:
                raise SymconvError(f"layers: layer {position} ({kind}): got {name} and its opposite, expected one of them")
            keywords[flag] = (value.lower() == "true") == when_true
        else:
            keywords[name] = value
    return keywords


@dataclass(frozen=True)
class StackSpec:
    """Layers whose shapes chain: each layer's input is the previous output."""

    input: tuple[int, ...]
    layers: tuple

    kind = "stack"
    is_stack = True
    sympy_terms = False  # the size guard weighs each layer's own (spec/size.py)

    @property
    def ndim(self) -> int:
        return len(self.input) - 2

    @property
    def output_shape(self):
        return self.layers[-1].output_shape

    def estimate_terms(self) -> int:
        return sum(layer.estimate_terms() for layer in self.layers)

    def count_entries(self) -> int:
        return sum(layer.count_entries() for layer in self.layers)

    def to_dict(self) -> dict:
        return {"kind": "stack", "input": list(self.input), "layers": [l.to_dict() for l in self.layers],
                "output": list(self.output_shape)}


def stack_spec(input, layers) -> StackSpec:
    """Validate a stack: every layer, and that each output fits the next input."""
    if not layers:
        raise SymconvError("layers: got nothing, expected at least one layer")
    input = tuple(input) if isinstance(input, (tuple, list)) else (input,)  # its first layer checks it
    shape, specs = input, []
    for position, (kind, options) in enumerate(layers, start=1):
        if kind == "stack" or kind not in LAYER_KINDS:
            raise SymconvError(
                f"layers: layer {position}: got {kind!r}, expected one of {', '.join(LAYER_KINDS)}"
            )
        keywords = _options_for(kind, options, position)
        try:
            spec = build_spec(kind, shape, **keywords)
        except SymconvError as error:
            source = "the input" if position == 1 else f"the output of layer {position - 1} ({specs[-1].kind})"
            raise SymconvError(
                f"layers: layer {position} ({kind}), applied to {source} of shape "
                f"{shown(shape)}: {error}"
            ) from None
        specs.append(spec)
        shape = spec.output_shape
    return StackSpec(input, tuple(specs))


#: The name of a loss's target (mse's tensor, cross-entropy's labels).
TARGET = "t"


def tensor_names(stack: StackSpec):
    """Per layer: ``{"x": input name, "y": output name, "w"/"b": parameter names}``.

    >>> stack = stack_spec((1, 1, 6, 6), parse_layers("conv2d(weight=2,1,3,3) | relu | conv2d(weight=1,2,2,2)"))
    >>> tensor_names(stack)
    [{'x': 'x', 'y': 'h1', 'w': 'w1', 'b': 'b1'}, {'x': 'h1', 'y': 'h2'}, {'x': 'h2', 'y': 'y', 'w': 'w2', 'b': 'b2'}]
    """
    names, learning = [], 0
    for position, layer in enumerate(stack.layers, start=1):
        entry = {"x": "x" if position == 1 else f"h{position - 1}",
                 "y": "y" if position == len(stack.layers) else f"h{position}"}
        if layer.parameters:  # numbered in the order of the layers that have any
            learning += 1
            entry.update({role: f"{role}{learning}" for role in layer.parameters})
        names.append(entry)
    return names
