"""Compile symconv's standalone LaTeX into a PDF, and a PDF page into a PNG.

Pure functions from text or bytes to bytes. The work happens in a temporary
directory with the system's ``pdflatex`` (TeX Live) and ``pdftoppm``
(poppler); a missing tool or a failed run is a :class:`SymconvError` of one
line, which for a missing tool says how to install it.

A PNG shows the page's content, not the page: :func:`pdf_to_png` renders
the page once in grey, finds the box of every pixel that is not white, and
renders again cut to that box (``pdftoppm -x -y -W -H``) with
:data:`PNG_MARGIN` pixels of white around it. No image library is needed:
the grey page is a PGM, which NumPy reads as it is.

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
#: White kept around a PNG's content, in pixels.
PNG_MARGIN = 8


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


def _pdftoppm(pdftoppm, workdir, options, name):
    """Run ``pdftoppm`` on page 1 of ``page.pdf`` into ``name`` (its suffix says the format) and read it."""
    stem, suffix = name.rsplit(".", 1)
    command = [pdftoppm, *options, "-f", "1", "-l", "1", "-singlefile", "page.pdf", stem]
    finished = _run(command, workdir, "pdftoppm")
    path = Path(workdir, name)
    if finished.returncode != 0 or not path.exists():
        message = " ".join(finished.stderr.decode(errors="replace").split()) or "no message"
        raise SymconvError(f"render: pdftoppm failed: {message}")
    return path.read_bytes()


def read_pgm(data: bytes):
    """A binary PGM (``P5``, 8 bits, as ``pdftoppm -gray`` writes) as a 2-D uint8 array.

    >>> read_pgm(b"P5\\n3 2\\n255\\n" + bytes([255, 0, 255, 255, 255, 7])).tolist()
    [[255, 0, 255], [255, 255, 7]]
    """
    import numpy as np

    fields, position = [], 0
    while len(fields) < 4:  # magic, width, height, maximum; '#' starts a comment
        while data[position:position + 1].isspace():
            position += 1
        if data[position:position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maximum = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic != b"P5" or maximum > 255:
        raise SymconvError(f"render: pdftoppm wrote a {magic.decode(errors='replace')} image; expected an 8-bit PGM")
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height, offset=position + 1)
    return pixels.reshape(height, width)


def content_box(gray, margin: int = PNG_MARGIN) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the pixels that are not white, ``margin`` more on each side.

    Kept inside the page; a blank page keeps its whole area.

    >>> import numpy as np
    >>> page = np.full((100, 80), 255, dtype=np.uint8)
    >>> page[30:41, 20:26] = 0
    >>> content_box(page, 5)
    (15, 25, 16, 21)
    """
    import numpy as np

    height, width = gray.shape
    rows, columns = np.flatnonzero((gray < 255).any(axis=1)), np.flatnonzero((gray < 255).any(axis=0))
    if rows.size == 0:
        return 0, 0, width, height
    left, top = max(0, int(columns[0]) - margin), max(0, int(rows[0]) - margin)
    right, bottom = min(width, int(columns[-1]) + 1 + margin), min(height, int(rows[-1]) + 1 + margin)
    return left, top, right - left, bottom - top


def pdf_to_png(pdf: bytes, dpi: int = PNG_DPI, margin: int = PNG_MARGIN) -> bytes:
    """The first page of a PDF as a PNG, cut to its content with ``margin`` pixels of white around it."""
    (pdftoppm,) = require("pdftoppm")
    with tempfile.TemporaryDirectory(prefix="symconv-") as workdir:
        Path(workdir, "page.pdf").write_bytes(pdf)
        gray = read_pgm(_pdftoppm(pdftoppm, workdir, ["-gray", "-r", str(dpi)], "grey.pgm"))
        x, y, width, height = content_box(gray, margin)
        box = ["-x", str(x), "-y", str(y), "-W", str(width), "-H", str(height)]
        return _pdftoppm(pdftoppm, workdir, ["-png", "-r", str(dpi), *box], "page.png")


def latex_to_png(text: str, dpi: int = PNG_DPI) -> bytes:
    """The first page of a LaTeX document as a PNG.

    Both tools are checked before anything runs, so a missing pdftoppm is
    reported without compiling first.
    """
    require("pdflatex", "pdftoppm")
    return pdf_to_png(latex_to_pdf(text), dpi)
