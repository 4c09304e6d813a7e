"""Drawing helpers shared by every picture: figures without pyplot, colours, cell names, equations.

matplotlib is imported inside the functions, and never its global
``pyplot`` state, so pictures work headless and leave a notebook's own
backend alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from symconv.errors import SymconvError

#: Picture formats, chosen by the output file's extension.
PICTURE_FORMATS = {".png": "png", ".svg": "svg"}
#: Cells are named (and ticks labelled) only in panels up to this many rows and columns.
LABEL_LIMIT = 36
#: Smallest font (points) a Jacobian's cell names are drawn at; below, no names.
MIN_LABEL_POINTS = 5.0
#: Routing pictures draw at most this many 2-D slices per tensor.
MAX_SLICES = 4
DPI = 110

# Colours: pale enough for black text on top.
EMPTY = (1.0, 1.0, 1.0)
IDLE = (0.95, 0.95, 0.95)
FILLED = (0.23, 0.36, 0.57)
TARGET = (0.96, 0.64, 0.35)



def picture_format(path) -> str:
    """``'png'`` or ``'svg'`` from a file name, refusing anything else.

    >>> picture_format("docs/routing.svg")
    'svg'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in PICTURE_FORMATS:
        raise SymconvError(
            f"output: got {str(path)!r}, expected a file name ending in "
            f"{' or '.join(PICTURE_FORMATS)}"
        )
    return PICTURE_FORMATS[suffix]




def new_figure(width, height):
    # A Figure without pyplot: no global backend to switch (matplotlib.use
    # would change a notebook's inline backend) and savefig picks the Agg or
    # SVG canvas by format, so this runs on machines without a display.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(figure, path, fmt):
    # Constrained layout keeps panels apart but lets a title or label wider
    # than its panel run off the canvas; the tight box grows the canvas to
    # hold every text drawn.
    figure.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.15)


def pale(colour, amount=0.55):
    return tuple(amount + (1 - amount) * c for c in colour[:3])


#: tab10 without its orange, which marks the element differentiated.
#: The tab10 colours used for terms, red (1) left out for marking ties.
TAB10 = (0, 2, 3, 4, 5, 6, 7, 8, 9)


def pale_colours(count):
    """``count`` pale colours; they repeat past :data:`TAB10`'s nine, so callers check."""
    from matplotlib import colormaps

    colours = [colormaps["tab10"](k) for k in TAB10]
    return [pale(colours[k % len(colours)]) for k in range(count)]


def cell_tex(name, spatial, base):
    """``x_{22}`` for a cell: spatial indices only (the panel title gives n and c)."""
    shown = [i + base for i in spatial]
    separator = "" if max(shown, default=0) < 10 else ","
    return f"{name}_{{{separator.join(map(str, shown))}}}"


def grid_lines(ax, rows, columns, colour="white", width=1.0):
    ax.set_xticks(np.arange(-0.5, columns, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color=colour, linewidth=width)
    ax.tick_params(which="minor", length=0)


def width_inches(tex, size=14):
    """Rough printed width of a mathtext fragment: subscripts are about 0.7 of a letter."""
    import re

    plain = re.sub(r"\\[a-z]+", "x", tex)  # \partial and friends: one glyph
    subscripts = sum(len(part) for part in re.findall(r"_\{([^}]*)\}", plain))
    letters = len(re.sub(r"_\{[^}]*\}|[{} ]", "", plain))
    return (letters + 0.7 * subscripts) * 0.6 * size / 72


def equation_lines(lhs, terms, width, max_lines=3, size=14):
    """mathtext lines ``lhs = t1 + t2 ...`` wrapped to ``width`` inches; past ``max_lines``, cut with a count."""
    budget = width - width_inches(lhs + "=", size) - 0.4
    lines, current, used = [], [], 0.0
    for term in terms:
        need = width_inches(term, size) + 0.25
        if current and used + need > budget:
            lines.append(current)
            current, used = [], 0.0
        current.append(term)
        used += need
    lines.append(current)
    cut = len(lines) > max_lines
    lines = [" ".join(line) for line in lines[:max_lines]] or ["0"]
    if cut:
        lines[-1] += rf" + \cdots\ ({len(terms)}\ \mathrm{{terms}})"
    text = [f"${lhs} = {lines[0] or '0'}$"] + [rf"$\quad {line}$" for line in lines[1:]]
    return "\n".join(text)
