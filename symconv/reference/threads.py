"""One thread pool for the NumPy reference kernels, and the memory they run in.

NumPy releases the GIL inside its copies, element-wise loops and matrix
products, so cutting a batch into contiguous parts (at least one per core,
each a chunk the caches hold) and running them on threads that take them in
turn uses both cores of a small machine, as PyTorch's CPU kernels do. The
kernels decide what a part is (samples for convolution, (sample, channel)
pairs for pooling); this module only cuts and runs.

While a kernel runs, the OpenBLAS behind NumPy (when it is one) is held to
one thread. Otherwise each part's matrix products would start BLAS threads
of their own: four busy threads on two cores, and OpenBLAS serializes
concurrent callers besides. On the (8, 64, 56, 56) benchmark layer that
took the convolution's forward + backward from about 210 to 150 ms.

The first call also keeps glibc from handing freed memory back to the
system (:func:`keep_freed_memory`), so a call's buffers reuse the last
call's pages instead of faulting in fresh ones.

>>> run_parts(lambda part: part.stop - part.start, split(10, 3))
[3, 3, 4]
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pool = None
_running = threading.Lock()


def cores():
    """How many parts are worth making: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def split(length, parts):
    """``parts`` contiguous slices covering ``range(length)``, sizes within one.

    >>> split(5, 2)
    [slice(0, 2, None), slice(2, 5, None)]
    """
    parts = max(1, min(parts, length))
    bounds = [length * i // parts for i in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


#: Parts per core, at least, when a kernel runs on threads (see :func:`units`).
#: More and smaller parts would even out a thread that starts late or loses
#: its core for a while, but every part costs its own NumPy calls: on two
#: free cores 4 per core took the (8, 32, 28, 28) stride-2 benchmark layer
#: from 3.4 to 6.0 ms, 2 per core to 4.2 ms; a first large part per core and
#: a small second one (70/30) to 4.5 ms, without helping its single calls.
UNITS_PER_CORE = 1


def units(length, step, threaded):
    """Contiguous slices of ``range(length)`` for :func:`run_parts`, each of
    at most ``step`` items (a chunk the caches hold), and, when the work is
    to run on threads, at least :data:`UNITS_PER_CORE` per core. Threads
    take the parts in turn.

    >>> units(10, 4, threaded=False)
    [slice(0, 3, None), slice(3, 6, None), slice(6, 10, None)]
    """
    count = -(-length // max(1, step))
    if threaded:
        count = max(count, cores() * UNITS_PER_CORE)
    return split(length, count)


def run_parts(work, parts, threaded=True):
    """``[work(part) for part in parts]``, the parts run on threads.

    Each thread, the calling one among them, takes the next part not yet
    taken until none is left, so a thread that starts late (a busy core, a
    slow wake-up) leaves its part to the others instead of holding them up.
    With ``threaded=False``, or a single part, the calling thread runs them
    all. One call runs at a time (the BLAS setting is process-wide), so
    ``work`` must not itself call :func:`run_parts`: it would wait for itself.

    OpenBLAS is held to one thread either way: its own threads, on a core
    that something else keeps busy, made one (8, 32, 28, 28) convolution
    take 120 ms instead of 1.2 ms here, and the kernels' own threads use
    the cores already.
    """
    global _pool
    keep_freed_memory()
    with _running, _one_blas_thread():
        if not threaded or len(parts) < 2:
            return [work(part) for part in parts]
        results = [None] * len(parts)
        taken = itertools.count()

        def take_parts():
            index = next(taken)  # count's next is atomic under the GIL: each part is taken once
            while index < len(parts):
                results[index] = work(parts[index])
                index = next(taken)

        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="symconv-reference")
        helpers = [_pool.submit(take_parts) for _ in range(min(cores(), len(parts)) - 1)]
        try:
            take_parts()
        finally:  # never leave threads running past the lock, even on an error
            for helper in helpers:
                helper.exception()
        for helper in helpers:
            helper.result()
        return results


#: glibc's mallopt parameters, and the values it would reach by itself
#: after freeing one block of its largest dynamic threshold (32 MB on 64-bit).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 * 2**20, 64 * 2**20
_memory_kept = False


def keep_freed_memory():
    """Ask glibc, once, to keep freed blocks up to 32 MB for reuse (no-op elsewhere).

    By default glibc serves a large block with a fresh ``mmap`` and returns
    it to the system when freed, until a block that large has been freed
    once; then it raises both thresholds by itself. Until then every call
    of a kernel pays a page fault on each fresh page of its buffers: the
    (8, 32, 28, 28) stride-2 convolution about 1,200 a call, which made
    its cold calls about twice as slow as warm ones. Setting the thresholds
    glibc would reach anyway makes every call warm. A process that set its
    own (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``) is left alone.
    """
    global _memory_kept
    if _memory_kept:
        return
    _memory_kept = True
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):  # not a glibc system
        glibc = ""
    if not glibc.startswith("glibc") or any(name.startswith("MALLOC_") or name == "GLIBC_TUNABLES"
                                            for name in os.environ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def _openblas_threads():
    """``(get, set)`` for the thread count of the loaded OpenBLAS, or None.

    Looked up once NumPy has loaded it; a miss is remembered too.
    """
    global _blas_controls
    if _blas_controls is None:
        _blas_controls = _find_openblas() or ()
    return _blas_controls or None


_blas_controls = None


def _find_openblas():
    """NumPy's wheels bundle OpenBLAS under a prefixed name (``scipy_openblas``);
    distribution builds link the plain one. Other BLAS libraries, and systems
    without ``/proc/self/maps``, are left alone: the parts still run on
    threads, only less efficiently."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", ""), ("openblas", "64_")):
            get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


class _one_blas_thread:
    """Hold OpenBLAS to one thread inside the ``with`` block."""

    def __enter__(self):
        self.controls, self.before = _openblas_threads(), None
        if self.controls is not None:
            get, set_ = self.controls
            self.before = get()
            if self.before > 1:
                set_(1)

    def __exit__(self, *exc):
        if self.before is not None and self.before > 1:
            self.controls[1](self.before)
