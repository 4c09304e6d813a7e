"""The reference kernels' thread pool: parts taken by whichever thread is free, and memory kept for reuse."""

import os
import subprocess
import sys
import threading

import pytest

from symconv.reference import threads


class Idle:
    """A thread pool whose threads never start: every task is reported done without running."""

    def submit(self, fn):
        from concurrent.futures import Future

        future = Future()
        future.set_result(None)
        return future


def test_parts_run_once_each_and_come_back_in_order():
    ran = []
    results = threads.run_parts(lambda part: ran.append(part) or (part.start, part.stop), threads.split(10, 3))
    assert results == [(0, 3), (3, 6), (6, 10)]
    assert sorted(ran, key=lambda part: part.start) == threads.split(10, 3)


def test_a_thread_that_never_starts_leaves_its_part_to_the_others(monkeypatch):
    """With one fixed part per thread the calling thread would wait for the helpers' parts forever."""
    monkeypatch.setattr(threads, "_pool", Idle())
    caller, seen = threading.get_ident(), []
    results = threads.run_parts(lambda part: seen.append(threading.get_ident()) or part.start, threads.split(9, 3))
    assert results == [0, 3, 6] and seen == [caller] * 3


def test_an_error_in_a_part_is_raised_and_leaves_no_thread_running():
    def work(part):
        if part.start == 2:
            raise ValueError("part 2")
        return part.start

    with pytest.raises(ValueError, match="part 2"):
        threads.run_parts(work, threads.split(4, 2))
    assert not threads._running.locked()
    assert threads.run_parts(lambda part: part.start, threads.split(4, 2)) == [0, 2]


def test_one_part_runs_on_the_calling_thread():
    assert threads.run_parts(lambda part: (part, threading.get_ident()), [slice(0, 9)]) == [
        (slice(0, 9), threading.get_ident())]


FAULTS = """
import resource, sys
import numpy as np
from symconv.reference import threads
if sys.argv[1] == "kept":
    threads.keep_freed_memory()
faults = []
for _ in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(2**18); b = np.ones(2**18); c = np.ones(2**18)  # three 2 MB buffers, as a kernel's call makes
    del a, b, c
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults)[10])
"""


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc thresholds only")
def test_freed_buffers_are_reused_without_page_faults():
    def median_faults(mode):
        run = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True,
                             env={"PATH": "/usr/bin:/bin"})
        return int(run.stdout)

    assert median_faults("default") > 500  # glibc returns each 2 MB block: its pages fault in again
    assert median_faults("kept") < 20
