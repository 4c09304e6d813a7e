"""Self-check of the backward gallery in this folder, against PyTorch's autograd.

Run: /work/main/.venv/bin/python examples/backward/_selfcheck.py

For every example file it reads KIND, CONVENTION, FUNCTION, FORWARD, OPTIONS and
MISTAKE, calls the function the way `symconv check` does, and compares it with
the exact gradient from torch autograd (float64) on random float inputs and on
small-integer inputs (many ties, exact zeros):

* a right one (MISTAKE None) must match to 1e-9 on both;
* a wrong one must miss by more than 1e-6 on the integer inputs, and on the
  float inputs too, except a mistake that only shows on ties or zeros
  (max-ties-*, relu-at-zero), which must match there, since it is the only mistake;
* where the mistake has an exact model (the gradient it claims to compute, built
  here independently with torch or NumPy), the function must equal that model
  to 1e-9 on both inputs: that is the proof it makes that one mistake and no other.

It also checks the files' form (constants, imports, docstring, sizes) and that
the gallery covers what it promises. Exits 1 on any failure.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import itertools
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tF

sys.dont_write_bytecode = True  # leave no __pycache__ in the gallery
torch.set_default_dtype(torch.float64)
HERE = Path(__file__).resolve().parent

MISTAKES = (
    "kernel-not-flipped", "stride-ignored", "dilation-ignored", "padding-offset", "groups-ignored",
    "overwrite-not-accumulate", "batch-not-summed", "scaled", "max-ties-all", "max-ties-split",
    "max-ties-last", "avg-divisor", "relu-at-zero",
)
#: Mistakes that change nothing unless the input has ties (max pools) or exact zeros (ReLU).
TIE_ONLY = {"max-ties-all", "max-ties-split", "max-ties-last", "relu-at-zero"}
KINDS = ("conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "relu", "leaky_relu")
CONVENTIONS = ("plain", "cs231n", "torch")
RIGHT_TOL = 1e-9
WRONG_TOL = 1e-6
MAX_ELEMENTS = 300


# ---------------------------------------------------------------------------
# The layer described by KIND and OPTIONS, and its exact gradient.

def _axes(value, nd, default):
    if value is None:
        value = default
    return (value,) * nd if isinstance(value, int) else tuple(value)


class Layer:
    def __init__(self, kind, options):
        o = dict(options)
        self.kind = kind
        self.family = "conv" if kind.startswith("conv") else "pool" if "pool" in kind else "act"
        self.input = tuple(o.pop("input"))
        self.nd = len(self.input) - 2
        nd = self.nd
        if self.family == "conv":
            self.weight = tuple(o.pop("weight"))
            self.bias = bool(o.pop("bias", True))
            self.stride = _axes(o.pop("stride", None), nd, 1)
            pad = o.pop("padding", 0)
            items = (pad,) * nd if isinstance(pad, int) else tuple(pad)
            self.pads = tuple((p, p) if isinstance(p, int) else tuple(p) for p in items)
            self.dilation = _axes(o.pop("dilation", None), nd, 1)
            self.groups = int(o.pop("groups", 1))
        elif self.family == "pool":
            self.kernel = _axes(o.pop("kernel"), nd, None)
            self.stride = _axes(o.pop("stride", None), nd, self.kernel)
            self.padding = _axes(o.pop("padding", None), nd, 0)
            self.dilation = _axes(o.pop("dilation", None), nd, 1)
            self.ceil_mode = bool(o.pop("ceil_mode", False))
            self.count_include_pad = bool(o.pop("count_include_pad", True))
        else:
            self.negative_slope = float(o.pop("negative_slope", 0.01 if kind == "leaky_relu" else 0.0))
        if o:
            raise ValueError(f"unknown options {sorted(o)}")

    # The options as `symconv check` passes them to a plain function.
    def plain_options(self):
        if self.family == "conv":
            symmetric = all(a == b for a, b in self.pads)
            padding = tuple(a for a, _ in self.pads) if symmetric else self.pads
            return dict(stride=self.stride, padding=padding, dilation=self.dilation, groups=self.groups)
        if self.family == "pool":
            return dict(kernel_size=self.kernel, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, ceil_mode=self.ceil_mode,
                        count_include_pad=self.count_include_pad)
        return {}

    def tensor_names(self):
        if self.family == "conv":
            return ("dx", "dw", "db") if self.bias else ("dx", "dw")
        return ("dx",)

    def forward(self, x, w=None, b=None, **over):
        """The layer in torch (``over`` replaces options, for the mistake models)."""
        if self.family == "conv":
            stride = over.get("stride", self.stride)
            pads = over.get("pads", self.pads)
            dilation = over.get("dilation", self.dilation)
            groups = over.get("groups", self.groups)
            if all(a == c for a, c in pads):
                padding = tuple(a for a, _ in pads)
            else:
                x = tF.pad(x, [v for pair in reversed(pads) for v in pair])
                padding = 0
            conv = tF.conv1d if self.nd == 1 else tF.conv2d
            return conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if self.kind.startswith("maxpool"):
            pool = tF.max_pool1d if self.nd == 1 else tF.max_pool2d
            return pool(x, self.kernel, self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode)
        if self.kind.startswith("avgpool"):
            pool = tF.avg_pool1d if self.nd == 1 else tF.avg_pool2d
            return pool(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode,
                        count_include_pad=self.count_include_pad)
        if self.kind == "relu":
            return tF.relu(x)
        return tF.leaky_relu(x, self.negative_slope)


def autograd(fn, arrays, dy):
    """y = fn(*arrays) in torch float64, and the gradients of <y, dy> w.r.t. every array."""
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*leaves)
    y.backward(torch.tensor(dy))
    grads = tuple(t.grad.numpy() if t.grad is not None else np.zeros_like(a) for t, a in zip(leaves, arrays))
    return y.detach().numpy(), grads


def reference(layer, x, w, b, dy):
    arrays = (x, w, b) if layer.family == "conv" and layer.bias else (x, w) if layer.family == "conv" else (x,)
    return autograd(lambda *t: layer.forward(*t), arrays, dy)[1]


# ---------------------------------------------------------------------------
# Exact models of the mistakes: the gradient each one claims to compute.

def _crop(y, shape):
    return y[(Ellipsis,) + tuple(slice(0, s) for s in shape[2:])]


def _conv_args(layer, x, w, b):
    return (x, w, b) if layer.bias else (x, w)


def _conv_model(layer, x, w, b, dy, **over):
    """Gradients of the layer with some options replaced, its output cropped to dy's shape."""
    def fn(x, w, b=None):
        return _crop(layer.forward(x, w, b, **over), dy.shape)
    return autograd(fn, _conv_args(layer, x, w, b), dy)[1]


def pool_ties(layer, x, dy, rule):
    """A max pool's dx when each window's dy goes to its tied maxima by ``rule``."""
    dx = np.zeros_like(x)
    for o in np.ndindex(*dy.shape[2:]):
        positions = _windows(layer, o, layer.kernel, layer.dilation, layer.padding)
        for n, c in np.ndindex(*x.shape[:2]):
            values = [x[(n, c) + p] for p in positions]
            top = max(values)
            tied = [p for p, v in zip(positions, values) if v == top]
            share = {"first": tied[:1], "last": tied[-1:], "all": tied, "split": tied}[rule]
            for p in share:
                dx[(n, c) + p] += dy[(n, c) + o] / (len(tied) if rule == "split" else 1)
    return dx


def _windows(layer, o, kernel, dilation, padding):
    """The in-bounds taps of output position ``o``'s window, in row-major order."""
    axes = []
    for a in range(layer.nd):
        start = o[a] * layer.stride[a] - padding[a]
        taps = (start + k * dilation[a] for k in range(kernel[a]))
        axes.append([t for t in taps if 0 <= t < layer.input[2 + a]])
    return list(itertools.product(*axes))


def overwrite(layer, x, w, dy):
    """dx when every window assigns its contribution (``=``) instead of adding it, looping
    over n, then f (conv) or c (pool), then the output positions in row-major order."""
    dx = np.zeros_like(x)
    if layer.family == "conv":
        fg, cg = w.shape[0] // layer.groups, w.shape[1]
        kernel = w.shape[2:]
        for n, f in np.ndindex(dy.shape[:2]):
            channels = slice(f // fg * cg, (f // fg + 1) * cg)
            for o in np.ndindex(*dy.shape[2:]):
                for p in _windows(layer, o, kernel, layer.dilation, [a for a, _ in layer.pads]):
                    k = tuple((p[a] - o[a] * layer.stride[a] + layer.pads[a][0]) // layer.dilation[a]
                              for a in range(layer.nd))
                    dx[(n, channels) + p] = w[(f, slice(None)) + k] * dy[(n, f) + o]
        return dx
    for n, c in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*dy.shape[2:]):
            positions = _windows(layer, o, layer.kernel, layer.dilation, layer.padding)
            values = [x[(n, c) + p] for p in positions]
            first = positions[values.index(max(values))]
            for p in positions:
                dx[(n, c) + p] = dy[(n, c) + o] if p == first else 0.0
    return dx


def model(mistake, layer, x, w, b, dy, ref):
    """The mistake's gradient as a tuple like ``ref``, or None when it has no closed model."""
    ones = tuple([1] * layer.nd)
    if mistake == "kernel-not-flipped":
        flipped = np.ascontiguousarray(np.flip(w, axis=tuple(range(2, w.ndim))))
        return (_conv_model(layer, x, flipped, b, dy)[0],) + ref[1:]
    if mistake == "stride-ignored":  # in dx and dw, as these files make it
        return _conv_model(layer, x, w, b, dy, stride=ones)
    if mistake == "dilation-ignored":
        return _conv_model(layer, x, w, b, dy, dilation=ones)
    if mistake == "padding-offset":
        x_pad = np.pad(x, ((0, 0), (0, 0)) + layer.pads)
        dx_pad = _conv_model(layer, x_pad, w, b, dy, pads=((0, 0),) * layer.nd)[0]
        return (_crop(dx_pad, x.shape),) + ref[1:]
    if mistake == "groups-ignored":
        cg = w.shape[1]
        grads = _conv_model(layer, np.ascontiguousarray(x[:, :cg]), w, b, dy, groups=1)
        dx = np.zeros_like(x)
        dx[:, :cg] = grads[0]
        return (dx,) + grads[1:]
    if mistake == "batch-not-summed":
        grads = _conv_model(layer, x[:1].copy(), w, b, dy[:1].copy())
        return (ref[0],) + grads[1:]
    if mistake == "overwrite-not-accumulate":
        return (overwrite(layer, x, w, dy),) + ref[1:]
    if mistake == "relu-at-zero":
        return (dy * (x >= 0),)
    if mistake in ("max-ties-all", "max-ties-split", "max-ties-last"):
        return (pool_ties(layer, x, dy, mistake.rsplit("-", 1)[1]),)
    if mistake == "avg-divisor":  # every window divided by the full kernel size
        pad = []
        for a in reversed(range(layer.nd)):
            need = (dy.shape[2 + a] - 1) * layer.stride[a] + layer.kernel[a]
            extra = max(0, need - layer.input[2 + a] - 2 * layer.padding[a])
            pad += [layer.padding[a], layer.padding[a] + extra]
        pool = tF.avg_pool1d if layer.nd == 1 else tF.avg_pool2d
        return autograd(lambda t: pool(tF.pad(t, pad), layer.kernel, layer.stride), (x,), dy)[1]
    return None


def scale_model(user, ref):
    """For `scaled`: each tensor a constant multiple c * true; returns the model and the factors."""
    factors = []
    for g, t in zip(user, ref):
        tt = float(np.sum(t * t))
        factors.append(float(np.sum(g * t)) / tt if tt else 1.0)
    return tuple(c * t for c, t in zip(factors, ref)), factors


# ---------------------------------------------------------------------------
# Calling the example the way `symconv check` does.

def load(path):
    spec = importlib.util.spec_from_file_location(f"backward_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resolve(module, dotted):
    obj = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def single(value, what):
    assert len(set(value)) == 1, f"cs231n needs one {what} for every axis, got {value}"
    return value[0]


def call(module, layer, x, w, b, dy):
    """(y from the user's forward or None, the user's gradients as a tuple)."""
    fn = resolve(module, module.FUNCTION)
    conv = layer.family == "conv"
    x, dy = x.copy(), dy.copy()
    w = w.copy() if w is not None else None
    b = b.copy() if b is not None else None
    if module.CONVENTION == "plain":
        params = inspect.signature(fn).parameters
        opts = {k: v for k, v in layer.plain_options().items() if k in params}
        args = (dy, x, w, b) if conv and layer.bias else (dy, x, w) if conv else (dy, x)
        out = fn(*args, **opts)
        return None, tuple(out) if isinstance(out, (tuple, list)) else (out,)
    if module.CONVENTION == "cs231n":
        forward = resolve(module, module.FORWARD) if module.FORWARD else None
        if conv:
            param = {"stride": single(layer.stride, "stride"), "pad": single(layer.pads, "padding")[0]}
            y, cache = forward(x, w, b, param) if forward else (None, (x, w, b, param))
        else:
            param = {"pool_height": layer.kernel[0], "pool_width": layer.kernel[1],
                     "stride": single(layer.stride, "stride")}
            y, cache = forward(x, param) if forward else (None, (x, param))
        out = fn(dy, cache)
        return y, tuple(out) if isinstance(out, (tuple, list)) else (out,)
    arrays = _conv_args(layer, x, w, b) if conv else (x,)
    return autograd(fn, arrays, dy)


# ---------------------------------------------------------------------------
# Inputs.

def inputs(layer, mode, rng):
    if mode == "float":
        draw = rng.standard_normal
    else:
        low, high = {"conv": (-3, 4), "pool": (0, 3), "act": (-2, 3)}[layer.family]

        def draw(shape):
            return rng.integers(low, high, size=shape).astype(np.float64)
    x = draw(layer.input)
    w = draw(layer.weight) if layer.family == "conv" else None
    b = draw((layer.weight[0],)) if layer.family == "conv" and layer.bias else None
    if layer.family == "conv" and not layer.bias:
        y = layer.forward(torch.tensor(x), torch.tensor(w))
    else:
        y = layer.forward(*(torch.tensor(a) for a in (x, w, b) if a is not None))
    if mode == "float":
        dy = rng.standard_normal(tuple(y.shape))
    else:  # nonzero, so no window's contribution can vanish
        dy = rng.choice(np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]), size=tuple(y.shape))
    return x, w, b, dy, y.numpy()


def max_error(a, b):
    return max(float(np.max(np.abs(u - v))) if u.size else 0.0 for u, v in zip(a, b))


def off_tensors(user, ref, names):
    return [n for n, u, v in zip(names, user, ref) if np.max(np.abs(u - v)) > WRONG_TOL]


# ---------------------------------------------------------------------------
# Form of a file.

def check_form(path, module):
    problems = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if name.split(".")[0] not in ("numpy", "torch"):
                problems.append(f"imports {name}")
    doc = ast.get_docstring(tree) or ""
    lines = [line for line in doc.splitlines() if line.strip()]
    if not 2 <= len(lines) <= 4:
        problems.append(f"docstring has {len(lines)} lines, expected 2-4")
    for name in ("KIND", "CONVENTION", "FUNCTION", "FORWARD", "OPTIONS", "MISTAKE"):
        if not hasattr(module, name):
            problems.append(f"no {name}")
    if problems:
        return problems
    if module.KIND not in KINDS:
        problems.append(f"KIND {module.KIND!r}")
    if module.CONVENTION not in CONVENTIONS:
        problems.append(f"CONVENTION {module.CONVENTION!r}")
    if module.MISTAKE is not None and module.MISTAKE not in MISTAKES:
        problems.append(f"MISTAKE {module.MISTAKE!r}")
    if module.FORWARD is not None and module.CONVENTION != "cs231n":
        problems.append("FORWARD given outside the cs231n convention")
    if module.CONVENTION == "cs231n" and module.KIND not in ("conv2d", "maxpool2d", "avgpool2d"):
        problems.append("cs231n convention for a kind it does not have")
    if module.CONVENTION == "torch" and module.FUNCTION.endswith(".apply"):
        owner = resolve(module, module.FUNCTION.rsplit(".", 1)[0])
        if not (isinstance(owner, type) and issubclass(owner, torch.autograd.Function)):
            problems.append("FUNCTION .apply of something that is not a torch.autograd.Function")
    return problems


# ---------------------------------------------------------------------------

def check_file(path):
    """(module, layer, report line, list of failures)."""
    module = load(path)
    failures = check_form(path, module)
    if failures:
        return module, None, f"{path.name}: form", failures
    layer = Layer(module.KIND, module.OPTIONS)
    mistake = module.MISTAKE
    names = layer.tensor_names()
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    notes = {}
    for mode in ("float", "int"):
        x, w, b, dy, y_ref = inputs(layer, mode, rng)
        for a in (x, w, dy):
            if a is not None and a.size > MAX_ELEMENTS:
                failures.append(f"a tensor of {a.size} elements (more than {MAX_ELEMENTS})")
        ref = reference(layer, x, w, b, dy)
        y, user = call(module, layer, x, w, b, dy)
        if len(user) != len(ref) or any(u.shape != r.shape for u, r in zip(user, ref)):
            failures.append(f"{mode}: returned shapes {[u.shape for u in user]}, expected {[r.shape for r in ref]}")
            continue
        if y is not None and np.max(np.abs(np.asarray(y) - y_ref)) > RIGHT_TOL:
            failures.append(f"{mode}: the file's forward differs from PyTorch's")
        err = max_error(user, ref)
        notes[mode] = err
        if mistake is None:
            if err >= RIGHT_TOL:
                failures.append(f"{mode}: a right one misses by {err:.3g} ({','.join(off_tensors(user, ref, names))})")
        elif mode == "float" and mistake in TIE_ONLY:
            if err >= RIGHT_TOL:
                failures.append(f"float: {mistake} should only show on ties/zeros, but misses by {err:.3g}")
        else:
            if err <= WRONG_TOL:
                failures.append(f"{mode}: a wrong one matches (error {err:.3g})")
            else:
                notes[f"off_{mode}"] = off_tensors(user, ref, names)
        if layer.kind.startswith("maxpool") and mode == "int":
            first = pool_ties(layer, x, dy, "first")
            if np.max(np.abs(first - ref[0])) > RIGHT_TOL:
                failures.append("PyTorch does not give a window's dy to its first maximum here")
        if mistake == "scaled":
            expected, factors = scale_model(user, ref)
            notes["factors"] = factors
            if all(abs(c - 1) < 1e-9 for c in factors):
                failures.append(f"{mode}: scaled by 1")
        else:
            expected = model(mistake, layer, x, w, b, dy, ref) if mistake else None
        if expected is not None:
            gap = max_error(user, expected)
            notes["model"] = max(gap, notes.get("model", 0.0))
            if gap >= RIGHT_TOL:
                failures.append(f"{mode}: differs from the model of {mistake} by {gap:.3g}")
    off = notes.get("off_int") or notes.get("off_float") or []
    model_note = ("no model" if "model" not in notes else
                  "model exact" if notes["model"] < RIGHT_TOL else "model differs")
    if "factors" in notes:
        model_note += " (factors " + ", ".join(f"{c:.4g}" for c in notes["factors"]) + ")"
    line = (f"{path.name:36s} {module.KIND:9s} {module.CONVENTION:6s} {str(mistake):24s} "
            f"float {notes.get('float', float('nan')):8.2e}  int {notes.get('int', float('nan')):8.2e}  "
            f"{'wrong: ' + ','.join(off) if off else 'right':13s} {model_note if mistake else ''}")
    return module, layer, line, failures


def check_coverage(checked):
    problems = []
    right = [(m, layer) for m, layer in checked if m.MISTAKE is None]
    wrong = [m for m, _ in checked if m.MISTAKE is not None]
    if len(wrong) < 15 or len(right) < 3:
        problems.append(f"{len(wrong)} wrong and {len(right)} right, expected at least 15 and 3")
    missing = set(MISTAKES) - {m.MISTAKE for m in wrong}
    if missing:
        problems.append(f"no example of {sorted(missing)}")
    cs231n = [m for m, _ in checked if m.CONVENTION == "cs231n"]
    if len(cs231n) < 3 or not any(m.FORWARD for m in cs231n):
        problems.append("expected at least 3 cs231n examples, one with FORWARD")
    functions = [m for m, _ in checked if m.CONVENTION == "torch" and m.FUNCTION.endswith(".apply")]
    if len(functions) < 2:
        problems.append("expected at least 2 torch.autograd.Function examples")
    kinds = {m.KIND for m, _ in checked}
    if not {"conv1d", "conv2d", "maxpool2d", "avgpool2d", "relu"} <= kinds:
        problems.append(f"kinds {sorted(kinds)} miss some of conv1d, conv2d, maxpool2d, avgpool2d, relu")
    if not any(m.KIND == "conv2d" and m.CONVENTION == "plain" and max(layer.stride) > 1
               and max(max(p) for p in layer.pads) > 0 and max(layer.dilation) > 1 and layer.groups > 1
               for m, layer in right):
        problems.append("no right plain conv2d with stride, padding, dilation and groups")
    if not any(m.KIND == "conv2d" and m.CONVENTION == "cs231n" and m.FORWARD for m, _ in right):
        problems.append("no right cs231n conv2d with its forward")
    if not any(m.KIND == "maxpool2d" and m.CONVENTION == "plain"
               and any(k > s for k, s in zip(layer.kernel, layer.stride)) for m, layer in right):
        problems.append("no right plain maxpool2d with overlapping windows")
    return problems


def main():
    start = time.perf_counter()
    files = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    checked, failed = [], 0
    for path in files:
        try:
            module, layer, line, failures = check_file(path)
        except Exception as error:  # a crash is a failure of that file, not of the run
            module, layer, line, failures = None, None, f"{path.name}: crashed", [repr(error)]
        print(line)
        for failure in failures:
            print(f"    FAIL {failure}")
        failed += bool(failures)
        if module is not None and layer is not None:
            checked.append((module, layer))
    coverage = check_coverage(checked)
    for problem in coverage:
        print(f"FAIL coverage: {problem}")
    right = sum(m.MISTAKE is None for m, _ in checked)
    print(f"\n{len(files)} files ({right} right, {len(checked) - right} wrong): "
          f"{len(files) - failed} pass, {failed} fail; coverage {'ok' if not coverage else 'FAILS'}; "
          f"{time.perf_counter() - start:.1f} s")
    return 1 if failed or coverage else 0


if __name__ == "__main__":
    sys.exit(main())
