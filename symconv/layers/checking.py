"""What ``symconv check`` must know of a family of layers to call a user's backward and judge it.

A :class:`CheckRule` is the check's part of a :class:`~symconv.layers.rule.LayerRule`:

* ``config(spec)``: the layer as the options that rebuild it
  (:func:`symconv.spec.options.build_spec`'s names, values read already);
  the check changes one of them to find the configuration that reveals a
  mistake, and prints the change as command-line options;
* ``keywords(spec)``: the options a user's ``fn(dy, x, ..., **opts)`` may take
  (``stride``, ``padding``, ``kernel_size``...), one value per spatial axis;
* ``torch_keywords(spec)``: the same under PyTorch's functional names and
  forms (``torch.nn.functional.conv2d(padding='same')``);
* ``cs231n(spec)``: the ``conv_param`` / ``pool_param`` dict of the course's
  convention, or a :class:`SymconvError` when the layer has none;
* ``mistakes(spec)``: the classic mistakes of the family, each a
  :class:`Mistake` that computes the gradient the mistake would give;
* ``partners``: for each gradient, the tensor it is bilinear in together
  with ``dy`` (a convolution's ``dx`` in ``dy`` and ``w``), so a user's
  wrong entry can be reconstructed as a formula by probing;
* ``edge_cases(kind)``: the edge-suite's configurations, ``(name, config)``;
* ``per_sample``: the layer treats each sample on its own, so the mistakes
  any such layer can make apply too (:mod:`symconv.check.mistakes`: a
  parameter's gradient from one sample, ``=`` for ``+=``). Batch norm's
  samples meet in its statistics, so it models its own;
* ``noise(spec, values)``: for a gradient that is a small difference of
  large terms, ``{gradient: scale}`` of those terms at one probe; round-off
  follows them, so the tolerance is taken relative to them
  (:func:`symconv.check.probes.wrong_mask`).

A mistake never reads a formula from the symbolic engine: it runs the NumPy
reference kernels on altered inputs or options (a flipped kernel, stride 1),
so that "your dx is what the kernel-not-flipped mistake gives" is a claim
about numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from symconv.errors import SymconvError

#: The names of a lone layer's tensors, as the check's probes hold them.
NAMES = {"x": "x", "w": "w", "b": "b", "y": "y"}


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: its class name, the words for it, and what it computes.

    ``wrong(values)`` maps the probe's named arrays (``x``, ``w``, ``b``,
    ``dy``) to the gradients the mistake gives, keyed ``dx``, ``dw``...;
    the gradients it leaves right are left out. A mistake may have several
    ways of being made (``variants``): each is such a function.
    """

    name: str
    message: str
    variants: tuple[Callable[[dict], dict], ...]


@dataclass(frozen=True)
class CheckRule:
    config: Callable
    keywords: Callable
    torch_keywords: Callable
    cs231n: Callable
    mistakes: Callable
    edge_cases: Callable
    partners: dict = field(default_factory=dict)
    per_sample: bool = True
    noise: Callable | None = None


def no_cs231n(kind: str, why: str):
    """The refusal of the cs231n convention for a kind the course has no such function for."""
    raise SymconvError(f"convention: got 'cs231n' for {kind}, expected conv2d, maxpool2d or avgpool2d ({why})")


def embed(dy, shape):
    """``dy`` in the top-left corner of zeros of ``shape`` (each axis at least as long)."""
    out = np.zeros(shape, dtype=dy.dtype)
    out[tuple(slice(0, s) for s in dy.shape)] = dy
    return out


def crop(array, shape):
    """The top-left corner of ``array`` of ``shape``."""
    return array[tuple(slice(0, s) for s in shape)]


def config_words(before: dict, after: dict) -> str:
    """The options that turn configuration ``before`` into ``after``, as command-line text."""
    words = []
    for name in after:
        if after[name] == before.get(name):
            continue
        flag = "--" + name.replace("_", "-")
        value = after[name]
        if value is True:
            words.append(flag)
        elif value is False or value is None:
            words.append(f"without {flag}")
        else:
            words.append(f"{flag} {option_text(value, name)}")
    for name in before:
        if name not in after and before[name] not in (None, False):
            words.append(f"without --{name.replace('_', '-')}")
    return " ".join(words)


#: Options whose value is a shape, written out in full; the others may say one value for every axis.
SHAPES = ("input", "weight")


def option_text(value, name: str = "") -> str:
    """A read option back as the text that gives it: ``(2, 2)`` -> ``'2'``; pairs as ``[0, 1]``."""
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            if all(lo == hi for lo, hi in value):
                return option_text(tuple(lo for lo, _ in value), name)
            return ",".join(f"[{lo}, {hi}]" for lo, hi in value)
        values = [str(v) for v in value]
        return values[0] if name not in SHAPES and len(set(values)) == 1 else ",".join(values)
    return str(value)
