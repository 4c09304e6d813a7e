"""Call the user's backward the way its convention says, and read back what it returns.

A caller is a function ``call(values) -> {"dx": array, "dw": ..., "y": ...}``
from one probe's named arrays (``x``, ``w``, ``b``, ``dy``). What it returns
is only converted to float64, never judged; a wrong structure (two arrays
where three were due) is a :class:`Returned` problem, and an exception the
user's code raises is a :class:`Raised`, each with one line to show.

* ``plain``: ``fn(dy, x, w, b, **opts)`` returns ``(dx, dw, db)``; pools and
  activations ``fn(dy, x, **opts)`` return ``dx``;
* ``cs231n``: ``fn(dout, cache)`` with the course's cache, or the cache the
  user's forward returned with its ``out``;
* ``torch``: ``fn(x, w, b, **opts)`` returns y, and autograd gives the rest.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import traceback

import numpy as np

from symconv.errors import SymconvError

CONVENTIONS = ("plain", "cs231n", "torch")
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Raised(Exception):
    """The user's function raised: the message says what, and where in the user's code."""


class Returned(Exception):
    """The user's function returned something of the wrong structure."""


def _where(error) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(f.filename).startswith(_HERE)]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {os.path.basename(last.filename)}:{last.lineno}, in {last.name})"


def _run(what, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, whatever it prints sent to stderr (stdout holds the report, maybe JSON)."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return fn(*args, **kwargs)
    except (Exception, SystemExit) as error:  # sys.exit() in the user's code is its failure, not symconv's exit
        raise Raised(f"{what} raised {type(error).__name__}: {error}{_where(error)}") from None


def _accepted(fn, keywords: dict, unreadable_takes_all: bool) -> dict:
    """The keywords ``fn``'s signature names (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return dict(keywords) if unreadable_takes_all else {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(keywords)
    names = {p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.KEYWORD_ONLY}
    return {name: value for name, value in keywords.items() if name in names}


def _arrays(result, names, what):
    """The returned gradients as float64 arrays, keyed by name."""
    if len(names) == 1 and not isinstance(result, (tuple, list)):
        result = (result,)
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a {type(result).__name__}"
        raise Returned(f"{what} returned {got}, expected {len(names)}: ({', '.join(names)})")
    arrays = {}
    for name, value in zip(names, result):
        try:
            arrays[name] = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise Returned(f"{what} returned for {name} a {type(value).__name__} that is not an array of numbers "
                           f"({error})") from None
    return arrays


def _copies(values, names):
    return [np.array(values[name], dtype=np.float64) for name in names]


def make_caller(spec, rule, convention: str, fn, forward=None):
    """``call(values)`` for the user's ``fn`` under ``convention``; SymconvError when the layer has no such form."""
    if convention not in CONVENTIONS:
        raise SymconvError(f"convention: got {convention!r}, expected one of {', '.join(CONVENTIONS)}")
    if forward is not None and convention != "cs231n":
        raise SymconvError(f"forward: got a forward function with --convention {convention}, expected "
                           f"--forward only with --convention cs231n")
    present = [name for name, shape in rule.tensors(spec, {"x": "x", "w": "w", "b": "b", "y": "y"}).items()
               if shape is not None and name != "x"]
    grads = ["dx"] + ["d" + name for name in present]
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "the function"))
    what = f"{name}()"
    if convention == "plain":
        keywords = _accepted(fn, rule.check.keywords(spec), unreadable_takes_all=False)
        return lambda v: _arrays(_run(what, fn, *_copies(v, ["dy", "x"] + present), **keywords), grads, what)
    if convention == "cs231n":
        param = rule.check.cs231n(spec)
        return _cs231n_caller(fn, forward, param, present, grads, what)
    return _torch_caller(spec, rule, fn, present, grads, what)


def _cs231n_caller(fn, forward, param, present, grads, what):
    forward_what = f"{getattr(forward, '__qualname__', 'forward')}()"

    def call(v):
        inputs = _copies(v, ["x"] + present)
        out = {}
        if forward is None:
            cache = tuple(inputs) + (dict(param),)
        else:
            result = _run(forward_what, forward, *inputs, dict(param))
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise Returned(f"{forward_what} returned {type(result).__name__}, expected a pair (out, cache)")
            out = _arrays(result[:1], ["y"], forward_what)
            cache = result[1]
        return {**out, **_arrays(_run(what, fn, np.array(v["dy"]), cache), grads, what)}
    return call


def _is_function_apply(fn) -> bool:
    owner = getattr(fn, "__self__", None)
    try:
        import torch
    except ImportError:
        return False
    return isinstance(owner, type) and issubclass(owner, torch.autograd.Function)


def _torch_caller(spec, rule, fn, present, grads, what):
    try:
        import torch
    except ImportError:
        raise SymconvError("convention: got 'torch', expected PyTorch to be installed (pip install torch)") from None
    keywords = {} if _is_function_apply(fn) else _accepted(fn, rule.check.torch_keywords(spec),
                                                           unreadable_takes_all=True)

    def call(v):
        inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in _copies(v, ["x"] + present)]
        y = _run(what, fn, *inputs, **keywords)
        if not isinstance(y, torch.Tensor):
            raise Returned(f"{what} returned a {type(y).__name__}, expected a torch.Tensor y")
        if tuple(y.shape) != tuple(np.shape(v["dy"])):
            raise Returned(f"{what} returned y of shape {list(y.shape)}, expected {list(np.shape(v['dy']))}")
        if not y.requires_grad:
            raise Returned(f"{what} returned a y that does not require grad: autograd cannot reach x")
        _run(f"the backward of {what}", y.backward, torch.tensor(v["dy"], dtype=y.dtype))
        result = {"y": y.detach().to(torch.float64).numpy().copy()}
        for name, tensor in zip(grads, inputs):
            grad = tensor.grad
            result[name] = np.zeros(tensor.shape) if grad is None else grad.detach().to(torch.float64).numpy().copy()
        return result
    return call
