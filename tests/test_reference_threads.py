"""The reference kernels' thread pool: pieces taken by whichever thread is free, and memory kept for reuse."""

import platform
import subprocess
import sys
import threading

import pytest

from symconv.reference import threads


def test_pieces_cover_the_parts_in_order_each_run_once():
    ran = []
    results = threads.run_parts(lambda piece: ran.append(piece) or (piece.start, piece.stop),
                                [slice(0, 3), slice(3, 13)])
    assert results == [(0, 2), (2, 3), (3, 8), (8, 10), (10, 13)]  # 3 cut 2 + 1, 10 cut 5 + 3 + 2
    assert sorted(ran, key=lambda piece: piece.start) == [slice(a, b) for a, b in results]


def test_a_thread_that_starts_late_leaves_its_pieces_to_the_others():
    """The helper thread is held up on its first piece until every other piece is done:
    with one fixed half per thread this would wait forever (here: time out)."""
    caller = threading.get_ident()
    started, done, by_caller, held = threading.Event(), threading.Event(), [], []
    pieces = threads.split(8, 2)  # cut into 2 + 1 + 1 and 2 + 1 + 1

    def work(piece):
        if threading.get_ident() != caller:
            held.append(piece)
            started.set()
            assert done.wait(timeout=20), "the calling thread did not take over the helper's pieces"
        else:
            assert started.wait(timeout=20), "the helper thread never started"
            by_caller.append(piece)
            if len(by_caller) == 5:  # all but the held one
                done.set()
        return piece.start

    results = threads.run_parts(work, pieces)
    assert results == [0, 2, 3, 4, 6, 7]
    assert len(held) == 1 and len(by_caller) == 5


def test_an_error_in_a_piece_is_raised_and_leaves_no_thread_running():
    def work(piece):
        if piece.start == 6:
            raise ValueError("piece 6")
        return piece.start

    with pytest.raises(ValueError, match="piece 6"):
        threads.run_parts(work, threads.split(8, 2))
    assert not threads._running.locked()
    assert threads.run_parts(lambda piece: piece.start, threads.split(4, 2)) == [0, 1, 2, 3]


def test_the_halves_are_taken_before_the_quarters(monkeypatch):
    """With the helper threads held back (their tasks never run), the calling thread takes every piece in turn."""
    from concurrent.futures import Future

    class Idle:
        def submit(self, fn):
            future = Future()
            future.set_result(None)
            return future

    monkeypatch.setattr(threads, "_pool", Idle())
    taken = []
    results = threads.run_parts(lambda piece: taken.append(piece.start) or piece.start, threads.split(16, 2))
    assert taken == [0, 8, 4, 6, 12, 14] and results == [0, 4, 6, 8, 12, 14]


def test_one_part_runs_on_the_calling_thread_uncut():
    assert threads.run_parts(lambda piece: (piece, threading.get_ident()), [slice(0, 9)]) == [
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


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds only")
def test_freed_buffers_are_reused_without_page_faults():
    def median_faults(mode):
        run = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True,
                             env={"PATH": "/usr/bin:/bin"})
        return int(run.stdout)

    assert median_faults("default") > 500  # glibc returns each 2 MB block: its pages fault in again
    assert median_faults("kept") < 20
