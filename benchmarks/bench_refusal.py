"""How quickly symconv refuses a layer too large to derive, and shows a large one in Jupyter.

Prints our time, the baseline's and the ratio, from one run:

* refusal: ``symconv derive`` of a layer over the default ``--max-terms``, in
  a fresh interpreter, against the floor of any click program (a fresh
  interpreter importing click and printing one line). The size guard imports
  neither SymPy nor NumPy, so the ratio should stay near 1.
* Jupyter display: :func:`symconv.printing.jupyter.derivation_latex` of a
  1x3x32x32 layer (its first equations only), against writing the whole
  LaTeX document with :func:`symconv.printing.formats.render`.

    .venv/bin/python benchmarks/bench_refusal.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _fresh(code: str, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _timed(function, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    refusal = _fresh("import sys; from symconv.cli import cli; sys.argv = ['symconv', 'derive', 'conv2d', "
                     "'--input', '8,64,64,64', '--weight', '64,64,7,7']; cli()")
    floor = _fresh("import click; click.echo('Error: x', err=True)")
    print(f"refusal over --max-terms: {refusal:.3f} s; baseline (python + click): {floor:.3f} s; "
          f"ratio {refusal / floor:.2f}")

    from symconv.engine.derive import derive
    from symconv.printing.formats import render
    from symconv.printing.jupyter import derivation_latex
    from symconv.spec import conv_spec

    d = derive(conv_spec("conv2d", (1, 3, 32, 32), (8, 3, 3, 3), padding=1))
    shown = _timed(lambda: derivation_latex(d))
    whole = _timed(lambda: render(d, "latex"), rounds=1)
    print(f"Jupyter display of a 1x3x32x32 layer: {shown:.3f} s; baseline (the whole LaTeX document): "
          f"{whole:.3f} s; ratio {shown / whole:.3f}")


if __name__ == "__main__":
    main()
