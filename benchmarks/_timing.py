"""Shared helpers for the benchmark scripts: timing, peak memory, machine line.

Timing protocol, chosen for a small shared machine (2 cores, noisy):

* NumPy and PyTorch are timed in separate *blocks*, never call by call
  interleaved: both drive a thread pool (OpenBLAS, ATen) on the same cores,
  and alternating them leaves each pool cold or contended.
* Every block starts with a warm-up call, and the blocks alternate for a few
  rounds, so that a noisy moment hits both sides rather than one.
* The figure reported is the median over all rounds (the minimum is printed
  too: on a shared machine it is the best estimate of the uncontended time).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

try:
    import torch
except ImportError:  # the benchmarks still run, without the PyTorch column
    torch = None


def machine_line():
    parts = [
        platform.platform(),
        f"python {platform.python_version()}",
        f"cpus {os.cpu_count()}",
        f"numpy {np.__version__}",
    ]
    if torch is None:
        parts.append("torch not installed")
    else:
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    return ", ".join(parts)


def time_block(fn, repeats):
    """One warm-up call, then ``repeats`` timed calls; a list of seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def time_sides(sides, repeats, rounds=5):
    """Time every ``{name: {case: fn}}`` side in blocks that alternate per round.

    Returns ``{name: {case: [seconds, ...]}}`` over all rounds."""
    samples = {name: {case: [] for case in cases} for name, cases in sides.items()}
    for _ in range(rounds):
        for name, cases in sides.items():
            for case, fn in cases.items():
                samples[name][case] += time_block(fn, repeats[case] if isinstance(repeats, dict) else repeats)
    return samples


def median_ms(times):
    return 1e3 * statistics.median(times)


def min_ms(times):
    return 1e3 * min(times)


def ratio(mine, other):
    """``ours/torch`` from the medians, with the ratio of the minima in brackets."""
    return f"{median_ms(mine) / median_ms(other):.2f} ({min_ms(mine) / min_ms(other):.2f})"


def tracemalloc_peak_mb(fn):
    """Peak traced allocation during ``fn()`` in MB, above what was already
    allocated. NumPy reports its array buffers to tracemalloc; PyTorch does
    not, and the process's peak RSS (ru_maxrss) proved too coarse to isolate
    one call on this machine, so only our side gets a memory figure."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def print_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) if i else str(h).ljust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
