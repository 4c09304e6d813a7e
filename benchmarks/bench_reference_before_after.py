"""The reference kernels of another revision, today's and PyTorch's, interleaved in one run.

Run from the repository root:

    .venv/bin/python benchmarks/bench_reference_before_after.py --before main

Prints, never asserts. The four layers of issue 17's goal 5, forward +
backward in float64: conv x (32,3,32,32) w (16,3,3,3) p1; conv x
(8,32,28,28) w (32,32,3,3) s2 p1; max and average pool 3x3 s2 p1 on x
(8,64,56,56). ``symconv/reference/`` of the ``--before`` revision is copied
out of git into a temporary package (its imports renamed), so both versions
run in one process, on the same inputs, in turns.

Both protocols of ``_timing.py``: blocks (each side's calls in a row, the
blocks alternating over rounds) and single calls (per round and layer:
before, PyTorch, ours, PyTorch, so that each of the two follows a PyTorch
call as ``check --convention torch`` makes them). Times are medians with the
interquartile range; ratios are to the PyTorch calls of the same protocol.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_line, spread_ms, torch  # noqa: E402

import symconv.reference as ours  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {
    "conv x32,3,32,32 w16,3,3,3 p1": ("conv", (32, 3, 32, 32), (16, 3, 3, 3), 1, 1),
    "conv x8,32,28,28 w32,32,3,3 s2 p1": ("conv", (8, 32, 28, 28), (32, 32, 3, 3), 2, 1),
    "max pool 3x3 s2 p1 x8,64,56,56": ("max", (8, 64, 56, 56)),
    "avg pool 3x3 s2 p1 x8,64,56,56": ("avg", (8, 64, 56, 56)),
}


def load_before(revision, into):
    """``symconv/reference`` at ``revision``, importable as ``reference_before``."""
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "symconv/reference/"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    package = Path(into) / "reference_before"
    package.mkdir()
    for name in names:
        if not name.endswith(".py"):
            continue
        text = subprocess.run(["git", "show", f"{revision}:{name}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
        text = text.replace("from symconv.reference import", "from reference_before import")
        text = text.replace("symconv.reference.", "reference_before.")
        (package / Path(name).name).write_text(text)
    sys.path.insert(0, str(into))
    return importlib.import_module("reference_before")


def runner(module, layer, rng):
    kind = layer[0]
    if kind == "conv":
        _, xs, ws, stride, padding = layer
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        dy = rng.standard_normal(ours.conv_forward(x, w, b, stride=stride, padding=padding).shape)
        if module is torch:
            xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
            dyt = torch.tensor(dy)

            def run():
                for t in (xt, wt, bt):
                    t.grad = None
                torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(dyt)
            return run
        return lambda: (module.conv_forward(x, w, b, stride=stride, padding=padding),
                        module.conv_backward(dy, x, w, stride=stride, padding=padding))
    x = rng.standard_normal(layer[1])
    dy = rng.standard_normal(ours.max_pool_forward(x, 3, 2, 1).shape)
    if module is torch:
        pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
        xt, dyt = torch.tensor(x, requires_grad=True), torch.tensor(dy)

        def run():
            xt.grad = None
            pool(xt, 3, 2, 1).backward(dyt)
        return run
    forward, backward = ((module.max_pool_forward, module.max_pool_backward) if kind == "max"
                         else (module.avg_pool_forward, module.avg_pool_backward))
    return lambda: (forward(x, 3, 2, 1), backward(dy, x, 3, 2, 1))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision to compare with (default: main)")
    parser.add_argument("--rounds", type=int, default=5, help="block rounds (20 calls each); single calls: 6x")
    args = parser.parse_args()
    if torch is None:
        sys.exit("PyTorch is not installed")
    with tempfile.TemporaryDirectory() as into:
        before = load_before(args.before, into)
        sides = {"before": before, "ours": ours, "torch": torch}
        fns = {side: {name: runner(module, layer, np.random.default_rng(0)) for name, layer in LAYERS.items()}
               for side, module in sides.items()}
        print(f"reference kernels, {args.before} against the working tree and PyTorch: forward + backward, float64")
        print(machine_line())
        print(time.strftime("%Y-%m-%d %H:%M:%S"), "load average", open("/proc/loadavg").read().split()[:3])
        blocks = {side: {name: [] for name in LAYERS} for side in sides}
        for _ in range(args.rounds):
            for side in sides:
                for name in LAYERS:
                    fns[side][name]()
                    blocks[side][name] += [timed(fns[side][name]) for _ in range(20)]
        single = {side: {name: [] for name in LAYERS} for side in ("before", "ours", "torch before", "torch ours")}
        for side in sides:
            for fn in fns[side].values():
                fn()
        for _ in range(6 * args.rounds):
            for name in LAYERS:
                for side, key in (("before", "before"), ("torch", "torch before"), ("ours", "ours"),
                                  ("torch", "torch ours")):
                    single[key][name].append(timed(fns[side][name]))
        report("Blocks", blocks, "torch", "torch")
        report("Single calls, each after a PyTorch call", single, "torch before", "torch ours")


def report(title, samples, torch_before, torch_ours):
    print()
    print(f"{title}: ms, median [interquartile range]; ratios to PyTorch's medians")
    width = max(len(name) for name in LAYERS)
    print(f"{'layer':{width}}  {'before':>20}  {'ours':>20}  {'PyTorch':>20}  before/PT  ours/PT")
    for name in LAYERS:
        b, o = samples["before"][name], samples["ours"][name]
        tb, to = samples[torch_before][name], samples[torch_ours][name]
        pt = tb + to if torch_before != torch_ours else tb
        ratios = statistics.median(b) / statistics.median(tb), statistics.median(o) / statistics.median(to)
        print(f"{name:{width}}  {spread_ms(b):>20}  {spread_ms(o):>20}  {spread_ms(pt):>20}  "
              f"{ratios[0]:9.2f}  {ratios[1]:7.2f}")


if __name__ == "__main__":
    main()
