"""Issue 17 (Speed II), goals 1 and 3: pools and activations against the convolution, the small example against start-up.

Prints, from one run, our time, the baseline's and the ratio for:

1. ``derive maxpool2d`` and ``derive avgpool2d`` (x 1,3,32,32, kernel 3,
   stride 2, padding 1, ``--format json``) against ``derive conv2d`` (x
   1,3,32,32, w 8,3,3,3, padding 1, ``--format json``); also ``derive relu``
   on the same input (goal: each at most 0.3);
3. the README's first example (``derive conv2d --input 1,1,4,4 --weight
   1,1,2,2``) against ``python -c "import sympy, numpy, click"`` (goal: at
   most 0.6); and ``symconv --help`` and a refusal against the 0.15 s budget.

Every timing is a fresh interpreter, end to end, output to /dev/null. The
commands are interleaved round by round (each round runs every command
once, in a rotating order), so a machine shared with other work slows them
alike; each line shows medians over the rounds and the median of the
per-round ratios, then the same ratio of CPU time (user + system, the
smallest of the rounds), which a busy machine disturbs far less than wall
time. Compiled bytecode is written and used as an installed package would
(``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment,
and one untimed round warms the caches first).

With ``--before DIR`` (a checkout of symconv from before this work, e.g.
``git archive 91de236 | tar -x -C DIR``) the same conv2d command is timed
with that checkout's package (on ``PYTHONPATH``, this interpreter), and the
pools are also shown against it: the baseline the issue measured.

    .venv/bin/python benchmarks/bench_speed2.py [--rounds 9] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

SYMCONV = [sys.executable, "-m", "symconv"]
POOL = ["--input", "1,3,32,32", "--kernel", "3", "--stride", "2", "--padding", "1", "--format", "json"]
COMMANDS = {
    "conv": SYMCONV + ["derive", "conv2d", "--input", "1,3,32,32", "--weight", "8,3,3,3", "--padding", "1",
                       "--format", "json"],
    "maxpool": SYMCONV + ["derive", "maxpool2d"] + POOL,
    "avgpool": SYMCONV + ["derive", "avgpool2d"] + POOL,
    "relu": SYMCONV + ["derive", "relu", "--input", "1,3,32,32", "--format", "json"],
    "example": SYMCONV + ["derive", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2"],
    "imports": [sys.executable, "-c", "import sympy, numpy, click"],
    "help": SYMCONV + ["--help"],
    "refusal": SYMCONV + ["derive", "conv2d", "--input", "1,3,256,256", "--weight", "64,3,7,7"],
}
#: (ours, baseline, goal) per line.
RATIOS = [("maxpool", "conv", 0.3), ("avgpool", "conv", 0.3), ("relu", "conv", 0.3), ("example", "imports", 0.6)]
BUDGETS = [("help", 0.15), ("refusal", 0.15)]


def _environment() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time(command, path, env) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; ``path``: a checkout to import symconv from."""
    if path is not None:
        env = dict(env, PYTHONPATH=path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=path,
                               check=False)
    if completed.returncode not in (0, 2):  # 2: the refusal, on purpose
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr.decode()[-500:]}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(commands: dict, rounds: int) -> tuple[dict, dict]:
    env = _environment()
    names = list(commands)
    for name in names:  # warm-up: bytecode written, files in the page cache
        _time(*commands[name], env)
    wall, cpu = {name: [] for name in names}, {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            w, c = _time(*commands[name], env)
            wall[name].append(w)
            cpu[name].append(c)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--before", help="a checkout of symconv from before this work: its conv2d is timed too")
    arguments = parser.parse_args()
    commands = {name: (command, None) for name, command in COMMANDS.items()}
    ratios = list(RATIOS)
    if arguments.before:
        commands["conv before"] = (COMMANDS["conv"], os.path.abspath(arguments.before))
        ratios += [(name, "conv before", 0.3) for name in ("maxpool", "avgpool", "relu")]
    wall, cpu = measure(commands, arguments.rounds)
    median = {name: statistics.median(values) for name, values in wall.items()}
    least = {name: min(values) for name, values in cpu.items()}
    print(f"{arguments.rounds} rounds, interleaved; wall medians (min) in seconds; CPU = least user+system")
    for ours, baseline, goal in ratios:
        per_round = statistics.median(a / b for a, b in zip(wall[ours], wall[baseline]))
        print(f"{ours:8s} {median[ours]:.3f} ({min(wall[ours]):.3f})  vs {baseline:11s} {median[baseline]:.3f} "
              f"({min(wall[baseline]):.3f})  ratio {median[ours] / median[baseline]:.2f} "
              f"(per round {per_round:.2f}; CPU {least[ours]:.3f}/{least[baseline]:.3f} = "
              f"{least[ours] / least[baseline]:.2f}; goal <= {goal})")
    for name, budget in BUDGETS:
        print(f"{name:8s} {median[name]:.3f} ({min(wall[name]):.3f}; CPU {least[name]:.3f})  budget {budget} s")


if __name__ == "__main__":
    main()
