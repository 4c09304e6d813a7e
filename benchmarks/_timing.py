"""Shared helpers for the benchmark scripts: timing, peak memory, machine line.

Two timing protocols, chosen for a small shared machine (2 cores, noisy);
the reference benchmarks report both from one run.

*Blocks* (:func:`time_sides`), a kernel's steady speed:

* NumPy and PyTorch are timed in separate *blocks*, never call by call
  interleaved: both drive a thread pool (OpenBLAS, ATen) on the same cores,
  and alternating them leaves each pool cold or contended.
* Every block starts with a warm-up call, and the blocks alternate for a few
  rounds, so that a noisy moment hits both sides rather than one.

*Single calls* (:func:`time_single_calls`), the speed ``verify`` and
``check`` see: they call a kernel once or a few times, between other work.
Each case is called once per side in turn, ours then PyTorch's, so no call
follows a call of the same kernel; a round runs every case, and the rounds
repeat. Whatever a call leaves behind (freed memory returned to the
system, idle threads, cold caches) the next call of that kernel pays for.

Either way, the figure reported is the median over all calls, with the
interquartile range (25th to 75th percentile) as its spread. The ratio is
that of the medians; for blocks the ratio of the minima follows (on a shared
machine the best estimate of the uncontended times), for single calls the
interquartile range of the per-round ratios (each call of ours against the
PyTorch call right after it).
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


def time_single_calls(sides, rounds):
    """Time every ``{name: {case: fn}}`` call by call: for each round and case,
    one call of each side in turn, after one untimed call of each (imports,
    first allocations). Returns ``{name: {case: [seconds, ...]}}``."""
    samples = {name: {case: [] for case in cases} for name, cases in sides.items()}
    for cases in sides.values():
        for fn in cases.values():
            fn()
    cases = list(next(iter(sides.values())))
    for _ in range(rounds):
        for case in cases:
            for name in sides:
                start = time.perf_counter()
                sides[name][case]()
                samples[name][case].append(time.perf_counter() - start)
    return samples


def median_ms(times):
    return 1e3 * statistics.median(times)


def min_ms(times):
    return 1e3 * min(times)


def spread_ms(times):
    """``median [25th-75th percentile]`` in ms."""
    q1, q2, q3 = (1e3 * q for q in statistics.quantiles(times, n=4)) if len(times) > 1 else [1e3 * times[0]] * 3
    return f"{1e3 * statistics.median(times):.2f} [{q1:.2f}-{q3:.2f}]"


def ratio(mine, other):
    """``ours/torch`` from the medians, with the ratio of the minima in brackets."""
    return f"{median_ms(mine) / median_ms(other):.2f} ({min_ms(mine) / min_ms(other):.2f})"


def comparison_rows(samples, cases, paired=False):
    """One row per case: ``[case, ours, torch, ratio]`` from ``{"ours": ..., "torch": ...}`` samples.

    Times are ``median [interquartile range]``. With ``paired`` (single
    calls: the i-th calls of both sides were made in the same round) the
    ratio's bracket is the interquartile range of the per-round ratios;
    otherwise the ratio of the minima."""
    rows = []
    for case in cases:
        mine = samples["ours"][case]
        row = [case, spread_ms(mine)]
        if "torch" in samples:
            other = samples["torch"][case]
            if paired:
                per_round = [a / b for a, b in zip(mine, other)]
                q1, _, q3 = statistics.quantiles(per_round, n=4)
                row += [spread_ms(other), f"{median_ms(mine) / median_ms(other):.2f} [{q1:.2f}-{q3:.2f}]"]
            else:
                row += [spread_ms(other), ratio(mine, other)]
        else:
            row += ["-", "-"]
        rows.append(row)
    return rows


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
