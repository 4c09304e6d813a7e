"""Peak resident memory of symconv's largest jobs, against the interpreter with its libraries loaded.

The size guard (``--max-terms``, 2,000,000 terms by default) bounds memory
as well as time: every job it lets through must stay under 2 GB. Printed
from one run, each job in a fresh interpreter (its peak RSS read with
``resource.getrusage`` of the child):

* the CIFAR-sized layer, x 1,3,32,32, w 8,3,3,3, padding 1, to JSON;
* the largest conv2d under the default --max-terms (x 1,3,48,48, 1.6 M terms), to JSON and to LaTeX;
* its verify;
* a max pool, an average pool and a ReLU near the limit;

against ``import sympy, numpy, click`` alone (the floor of any run).

    .venv/bin/python benchmarks/bench_memory.py
"""

from __future__ import annotations

import resource
import subprocess
import sys

LIMIT_MB = 2048

JOBS = [
    ("derive conv2d x 1,3,32,32 w 8,3,3,3 p1 (CIFAR), json",
     ["derive", "conv2d", "--input", "1,3,32,32", "--weight", "8,3,3,3", "--padding", "1", "--format", "json"]),
    ("derive conv2d x 1,3,48,48 w 8,3,3,3 p1 (1.6 M terms), json",
     ["derive", "conv2d", "--input", "1,3,48,48", "--weight", "8,3,3,3", "--padding", "1", "--format", "json"]),
    ("derive conv2d x 1,3,48,48 w 8,3,3,3 p1, latex",
     ["derive", "conv2d", "--input", "1,3,48,48", "--weight", "8,3,3,3", "--padding", "1"]),
    ("verify conv2d x 1,3,48,48 w 8,3,3,3 p1",
     ["verify", "conv2d", "--input", "1,3,48,48", "--weight", "8,3,3,3", "--padding", "1"]),
    ("derive maxpool2d x 1,12,32,32 k3 s1 p1 (1.99 M terms), json",
     ["derive", "maxpool2d", "--input", "1,12,32,32", "--kernel", "3", "--stride", "1", "--padding", "1",
      "--format", "json"]),
    ("derive avgpool2d x 1,48,32,32 k3 s1 p1 (0.9 M terms), json",
     ["derive", "avgpool2d", "--input", "1,48,32,32", "--kernel", "3", "--stride", "1", "--padding", "1",
      "--format", "json"]),
    ("derive relu x 1,64,64,64 (1.0 M terms), json",
     ["derive", "relu", "--input", "1,16,64,64", "--format", "json"]),
]


def peak_mb(args) -> tuple[float, int]:
    """Peak RSS in MB of one fresh child running ``args``, and its exit status."""
    code = (
        "import resource, subprocess, sys\n"
        f"p = subprocess.run({args!r}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024, int(out[1])


def main():
    floor, _ = peak_mb([sys.executable, "-c", "import sympy, numpy, click"])
    print(f"{'job':<60} {'ours MB':>8} {'floor MB':>9} {'ratio':>6}  under {LIMIT_MB} MB")
    for label, args in JOBS:
        mb, status = peak_mb([sys.executable, "-m", "symconv", *args])
        flag = "yes" if mb < LIMIT_MB else "NO"
        note = "" if status in (0,) else f"  (exit {status})"
        print(f"{label:<60} {mb:8.0f} {floor:9.0f} {mb / floor:6.1f}  {flag}{note}")


if __name__ == "__main__":
    main()
