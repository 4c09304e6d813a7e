"""``symconv derive``: the forward and the gradients of a layer, element by element."""

from __future__ import annotations

import sys
import threading
import time

import click

from symconv.cli.options import (
    ANY_LAYER,
    FORM,
    LOSS,
    OUTPUT,
    STANDALONE,
    check_form,
    check_output,
    check_standalone,
    format_option,
    index_base_option,
    layer_options,
    loss_from_options,
    write_or_echo,
)
from symconv.spec.command import spec_from_options
from symconv.spec.size import check_size, estimate_work

def one_blas_thread() -> None:
    """Ask OpenBLAS for one thread, before NumPy loads it: deriving and printing multiply no matrices.

    OpenBLAS starts a thread per core when NumPy is imported, and those
    threads spin for a while: on a 2-core machine that took ``import numpy``
    from about 0.07 to 0.12 s of CPU and slowed the rest of a short command
    alike. A value the user set is kept; once NumPy is loaded this changes
    nothing (in-process callers such as tests).
    """
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


#: Measured end-to-end speed (JSON or LaTeX of a conv2d layer, 2-core machine),
#: used to decide before starting whether a job is expected to take over a second.
TERMS_PER_SECOND = 600_000
#: A job expected to run longer than this shows its bar at once; any other job
#: that is still running after this long shows it then (pooling layers and the
#: exact check cost far more per term than a convolution's derivation).
SHOW_AFTER_SECONDS = 1.0
#: How often a shown bar is redrawn while a long step runs (its clock moves).
REDRAW_SECONDS = 0.5
#: Characters in the bar itself: the whole line stays under 60 columns.
BAR_WIDTH = 24


class _progress:
    """A progress bar on stderr for jobs that run over a second, on a terminal only.

    Used as ``with _progress(spec) as step: step.total(n); ... step()`` (or
    ``step.at(done, total)``). On a terminal the bar appears at once when
    ``estimate_work(spec) / terms_per_second`` exceeds
    :data:`SHOW_AFTER_SECONDS`, else once the job has run that long; a
    background thread draws it, so a long first step (the derivation) is not
    silent. Elsewhere (pipes, files, tests) nothing is printed, ever; and
    nothing but the bar goes to stderr.
    """

    def __init__(self, spec, label: str = "symconv: deriving", terms_per_second: float | None = None):
        self.label = label
        self.terminal = sys.stderr is not None and sys.stderr.isatty()
        self.expected = estimate_work(spec) / (terms_per_second or TERMS_PER_SECOND)
        self.done, self.steps = 0, 1  # until total() says how many steps there are
        self.shown, self.line = False, ""
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = None
        self.start = time.monotonic()

    def __enter__(self):
        self.start = time.monotonic()
        if self.terminal:
            if self.expected > SHOW_AFTER_SECONDS:
                self.shown = True
                self._draw()
            self.thread = threading.Thread(target=self._run, name="symconv-progress", daemon=True)
            self.thread.start()
        return self

    def _run(self):
        if not self.shown:
            if self.stop.wait(SHOW_AFTER_SECONDS):
                return  # finished within a second: never shown
            with self.lock:
                if not self.stop.is_set():
                    self.shown = True
                    self._draw()
        while not self.stop.wait(REDRAW_SECONDS):
            with self.lock:
                self._draw()

    def _draw(self, end: str = ""):
        done, steps = min(self.done, self.steps), max(self.steps, 1)
        filled = BAR_WIDTH * done // steps
        seconds = int(time.monotonic() - self.start)
        line = f"\r{self.label} [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] {100 * done // steps:3d}%  {seconds}s"
        if line != self.line or end:  # redraw only what changed
            self.line = line
            sys.stderr.write(line + end)
            sys.stderr.flush()

    def at(self, done: int, steps: int):
        """``done`` of ``steps`` steps are done (the total may grow as work is discovered)."""
        with self.lock:
            self.done, self.steps = done, steps
            if self.shown and not self.stop.is_set():
                self._draw()

    def total(self, steps: int):
        self.at(self.done, steps)

    def __call__(self):
        self.at(self.done + 1, self.steps)

    def __exit__(self, exc_type, *exc):
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        if self.shown:  # a finished job ends at 100%, a failed one where it stopped
            if exc_type is None:
                self.done = self.steps
            self._draw(end="\n")
        return False


@click.command()
@ANY_LAYER
@layer_options
@LOSS
@format_option("Output format; json is 0-based whatever --index-base says.")
@index_base_option()
@STANDALONE
@FORM
@OUTPUT
def derive(layer, fmt, index_base, standalone, output, max_terms, reduction, loss, form, **options):
    """Derive the forward and the gradients of LAYER element by element.

    LAYER is a convolution (conv1d, conv2d, conv3d), a transposed one
    (conv_transpose1d, conv_transpose2d, conv_transpose3d), a pool
    (maxpool1d/2d/3d, avgpool1d/2d/3d, adaptive_avgpool1d/2d/3d,
    adaptive_maxpool1d/2d with --output-size), an activation (relu,
    leaky_relu, sigmoid, tanh), linear, flatten, batchnorm1d, batchnorm2d, or
    stack (with --layers). A (transposed) convolution, a linear layer and a
    batch norm get dx, dw and db; the others dx; a stack every tensor, layer
    by layer.

    \b
    Examples (a 4x4 input with a 2x2 filter, numbered from 1):
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --index-base 1
      symconv derive maxpool2d --input 1,1,4,4 --kernel 2 --index-base 1
      symconv derive adaptive_avgpool2d --input 1,1,5,5 --output-size 2 --format text
      symconv derive stack --input 1,1,6,6 --layers "conv2d(weight=2,1,3,3, padding=1) | relu | maxpool2d(kernel=2)"
      symconv derive batchnorm2d --input 2,1,2,2 --format text
      symconv derive conv2d --input 1,1,4,4 --weight 1,1,2,2 --form matrix --index-base 1
      symconv derive conv3d --input 1,1,3,3,3 --weight 1,1,2,2,2 --padding 1 --padding-mode reflect
      symconv derive relu --input 2,3,1 --loss mse --format text
      symconv derive linear --input 2,4 --weight 3,4 --loss cross_entropy --index-base 1
    """
    spec = spec_from_options(layer, **options)
    loss = loss_from_options(spec, loss, reduction, form)
    check_output(output)
    check_standalone(standalone, fmt)
    check_form(form, layer)
    check_size(spec, max_terms, loss)  # a large layer is refused before SymPy loads
    one_blas_thread()
    with _progress(spec) as step:
        from symconv.engine.derive import derive as derive_spec
        from symconv.printing.documents import render
        from symconv.printing.present import element_sections

        derivation = derive_spec(spec, max_terms=None, loss=loss)
        step.total(1 + len(list(element_sections(derivation))))  # derive, then each section
        step()
        text = render(derivation, fmt, int(index_base), standalone, form, progress=step)
    write_or_echo(text, output)


