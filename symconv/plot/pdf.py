"""Compile symconv's standalone LaTeX into a PDF, and a PDF page into a PNG.

Pure functions from text or bytes to bytes. The work happens in a temporary
directory with the system's ``pdflatex`` (TeX Live) and ``pdftoppm``
(poppler); a missing tool or a failed run is a :class:`SymconvError` of one
line, which for a missing tool says how to install it.

The standalone document needs only ``amsmath`` and ``amssymb``, both in
Debian's ``texlive-latex-base``.

>>> import shutil
>>> from symconv.spec import conv_spec
>>> from symconv.engine.derive import derive
>>> from symconv.printing.formats import render
>>> text = render(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), "latex", standalone=True)
>>> latex_to_pdf(text)[:4] if shutil.which("pdflatex") else b"%PDF"
b'%PDF'
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from symconv.errors import SymconvError

#: How to get each tool on Debian or Ubuntu, quoted in the error message.
INSTALL = {
    "pdflatex": "apt-get install texlive-latex-base texlive-latex-recommended",
    "pdftoppm": "apt-get install poppler-utils",
}
#: Seconds before a run is abandoned (a big layer is hundreds of pages).
TIMEOUT = 600
#: PNG resolution, dots per inch.
PNG_DPI = 150


@dataclass(frozen=True)
class Pdf:
    """A compiled document: its bytes and its page count (from pdflatex's log)."""

    data: bytes
    pages: int


def require(*tools: str) -> list[str]:
    """The paths of the named tools, or a one-line error saying how to install the first missing one.

    >>> require()
    []
    """
    paths = []
    for name in tools:
        path = shutil.which(name)
        if path is None:
            raise SymconvError(
                f"render: {name} is not installed; expected it on PATH "
                f"(Debian/Ubuntu: {INSTALL[name]})"
            )
        paths.append(path)
    return paths


def _run(command, workdir, what):
    try:
        return subprocess.run(
            command, cwd=workdir, capture_output=True, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        raise SymconvError(f"render: {what} took over {TIMEOUT} s; expected a smaller layer") from None


def _first_error(log: str) -> str:
    """pdflatex's first ``! message`` and the line it points at, on one line."""
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("! "):
            where = next((l.strip() for l in lines[number + 1:number + 8] if l.startswith("l.")), "")
            return " ".join(f"{line[2:]} {where}".split())
    return "no error message in the log"


def compile_latex(text: str) -> Pdf:
    """Run pdflatex once on a complete document and return the PDF.

    One run is enough: the documents symconv writes have no references.
    """
    (pdflatex,) = require("pdflatex")
    with tempfile.TemporaryDirectory(prefix="symconv-") as workdir:
        Path(workdir, "symconv.tex").write_text(text, encoding="utf-8")
        command = [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "symconv.tex"]
        finished = _run(command, workdir, "pdflatex")
        log_path = Path(workdir, "symconv.log")
        log = log_path.read_text(encoding="latin-1") if log_path.exists() else ""
        pdf_path = Path(workdir, "symconv.pdf")
        if finished.returncode != 0 or not pdf_path.exists():
            raise SymconvError(f"render: pdflatex failed: {_first_error(log)}")
        pages = re.search(r"Output written on symconv\.pdf \((\d+) pages?", log)
        return Pdf(pdf_path.read_bytes(), int(pages.group(1)) if pages else 1)


def latex_to_pdf(text: str) -> bytes:
    """The PDF of a complete LaTeX document, as bytes."""
    return compile_latex(text).data


def pdf_to_png(pdf: bytes, dpi: int = PNG_DPI) -> bytes:
    """The first page of a PDF as a PNG, through ``pdftoppm -singlefile``."""
    (pdftoppm,) = require("pdftoppm")
    with tempfile.TemporaryDirectory(prefix="symconv-") as workdir:
        Path(workdir, "page.pdf").write_bytes(pdf)
        finished = _run([pdftoppm, "-png", "-r", str(dpi), "-singlefile", "page.pdf", "page"], workdir, "pdftoppm")
        png = Path(workdir, "page.png")
        if finished.returncode != 0 or not png.exists():
            message = " ".join(finished.stderr.decode(errors="replace").split()) or "no message"
            raise SymconvError(f"render: pdftoppm failed: {message}")
        return png.read_bytes()


def latex_to_png(text: str, dpi: int = PNG_DPI) -> bytes:
    """The first page of a LaTeX document as a PNG.

    Both tools are checked before anything runs, so a missing pdftoppm is
    reported without compiling first.
    """
    require("pdflatex", "pdftoppm")
    return pdf_to_png(latex_to_pdf(text), dpi)
