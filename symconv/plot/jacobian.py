r"""Pictures of a derivation, read off the derived expressions.

* :func:`plot_jacobian`: the sparsity of :math:`\partial y / \partial x` and
  :math:`\partial y / \partial w` (rows: the outputs y flattened, columns: the
  elements of x or w), the banded, Toeplitz structure the seeds write out by
  hand. Small panels name each nonzero entry (``w_{11}``) as the seeds'
  Jacobian matrices do.
* :func:`plot_routing`: on the x, w and dy grids side by side, which entries
  feed one entry of dx (or dw). Each term of the sum gets its own colour, so
  the pairs ``dy_{ij} w_{kl}`` and the flipped kernel show at a glance.
* :mod:`symconv.plot.pool`: for max pooling, whose gradient depends on
  the values of x, which input each dy reaches at given values (tied
  windows marked) and dy/dx at those values.

Nothing here recomputes a gradient from a formula: the sparsity comes from the
forward's term table (or the atoms of the SymPy expressions) and the routing
from the atoms of ``derivation.gradients[...][index]``. The functions that
compute (``jacobian_sparsity``, ``gradient_routing``)
need only NumPy and SymPy; those that draw import matplotlib when called, and
never its global ``pyplot`` state, so they work headless and leave a
notebook's own backend alone.

>>> from symconv.spec.conv import conv_spec
>>> from symconv.engine.derive import derive
>>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
>>> jacobian_sparsity(d, "x").astype(int)
array([[1, 1, 0, 0],
       [0, 1, 1, 0],
       [0, 0, 1, 1]])
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from symconv.errors import SymconvError

#: Picture formats, chosen by the output file's extension.
PICTURE_FORMATS = {".png": "png", ".svg": "svg"}
#: Largest Jacobian side drawn: a bigger one is a grey square at any resolution.
MAX_JACOBIAN_SIDE = 4096
#: Cells are named (and ticks labelled) only in panels up to this many rows and columns.
LABEL_LIMIT = 36
#: Smallest font (points) a Jacobian's cell names are drawn at; below, no names.
MIN_LABEL_POINTS = 5.0
#: Routing pictures draw at most this many 2-D slices per tensor.
MAX_SLICES = 4
DPI = 110

# Colours: pale enough for black text on top.
_EMPTY = (1.0, 1.0, 1.0)
_IDLE = (0.95, 0.95, 0.95)
_FILLED = (0.23, 0.36, 0.57)
_TARGET = (0.96, 0.64, 0.35)


# -- computing: what the pictures show -------------------------------------


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


def _shape_of(derivation, name):
    return derivation.spec.output_shape if name == "dy" else derivation.shapes[name]


def check_jacobian_size(spec) -> None:
    """Refuse, before deriving, a Jacobian too large to draw."""
    rows = math.prod(spec.output_shape)
    for name, shape in (("x", spec.input), ("w", spec.weight)):
        columns = math.prod(shape)
        if max(rows, columns) > MAX_JACOBIAN_SIDE:
            raise SymconvError(
                f"plot: got a Jacobian dy/d{name} of {rows}x{columns}, expected at most "
                f"{MAX_JACOBIAN_SIDE} rows and columns; expected a smaller layer"
            )


def jacobian_sparsity(derivation, wrt: str) -> np.ndarray:
    """Boolean matrix: ``[i, j]`` is true when output ``y_i`` contains element ``j`` of ``wrt``.

    Rows and columns are row-major flat indices. Every coefficient of a
    convolution's forward is 1, so "contains" is "dy_i/da_j is not zero".
    Read from the forward's term table, or from the atoms of each expression
    when the forward is a mapping of SymPy expressions.
    """
    from symconv.symbolic.terms import TermTable

    shape = derivation.shapes[wrt]
    matrix = np.zeros((math.prod(derivation.spec.output_shape), math.prod(shape)), dtype=bool)
    forward = derivation.forward
    if isinstance(forward, TermTable):
        offset = forward.space.offsets[wrt]
        for slot in range(forward.factors.shape[1]):
            ids = forward.factors[:, slot]
            mine = (ids >= offset) & (ids < offset + matrix.shape[1])
            matrix[forward.entry[mine], ids[mine] - offset] = True
        return matrix
    from sympy import Indexed

    for row, expr in enumerate(forward[index] for index in np.ndindex(*derivation.spec.output_shape)):
        for atom in expr.atoms(Indexed):
            if atom.base.name == wrt:
                matrix[row, np.ravel_multi_index(tuple(int(i) for i in atom.indices), shape)] = True
    return matrix


def _check_index(derivation, name, at):
    shape = _shape_of(derivation, name)
    at = tuple(int(i) for i in at)
    if len(at) != len(shape) or any(not 0 <= i < s for i, s in zip(at, shape)):
        raise SymconvError(
            f"at: got {at}, expected a 0-based index of {name} with shape {tuple(shape)}"
        )
    return at


def gradient_terms(derivation, at, of: str = "dx"):
    """The terms of ``derivation.gradients[of][at]`` in reading order, each as its elements.

    >>> from symconv.spec.conv import conv_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    >>> gradient_terms(d, (0, 0, 1))
    [[('dy', (0, 0, 0)), ('w', (0, 0, 1))], [('dy', (0, 0, 1)), ('w', (0, 0, 0))]]
    """
    from sympy import Add, Indexed, Mul

    from symconv.printing.present import display_key

    if of not in derivation.gradients:
        raise SymconvError(f"of: got {of!r}, expected one of {', '.join(derivation.gradients)}")
    expr = derivation.gradients[of][_check_index(derivation, of[1:], at)]
    terms = []
    for term in sorted(Add.make_args(expr), key=display_key):
        factors = [f for f in Mul.make_args(term) if isinstance(f, Indexed)]
        terms.append([(f.base.name, tuple(int(i) for i in f.indices)) for f in factors])
    return [t for t in terms if t]


def gradient_routing(derivation, at, of: str = "dx") -> dict[str, np.ndarray]:
    """For x, w and dy, a boolean array marking the elements in ``gradients[of][at]``.

    These are exactly the atoms of the derived SymPy expression: for dx the
    dy and w entries of its sum (x itself has none), for dw the dy and x.
    """
    if of not in ("dx", "dw"):
        raise SymconvError(f"of: got {of!r}, expected dx or dw")
    highlighted = {name: np.zeros(_shape_of(derivation, name), dtype=bool) for name in ("x", "w", "dy")}
    for term in gradient_terms(derivation, at, of):
        for name, index in term:
            highlighted[name][index] = True
    return highlighted


# -- drawing helpers -------------------------------------------------------


def _figure(width, height):
    # A Figure without pyplot: no global backend to switch (matplotlib.use
    # would change a notebook's inline backend) and savefig picks the Agg or
    # SVG canvas by format, so this runs on machines without a display.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(figure, path, fmt):
    # Constrained layout keeps panels apart but lets a title or label wider
    # than its panel run off the canvas; the tight box grows the canvas to
    # hold every text drawn.
    figure.savefig(path, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.15)


def _pale(colour, amount=0.55):
    return tuple(amount + (1 - amount) * c for c in colour[:3])


#: tab10 without its orange, which marks the element differentiated.
_TAB10 = (0, 2, 3, 4, 5, 6, 7, 8, 9)


def _palette(count):
    """``count`` pale colours; they repeat past :data:`_TAB10`'s nine, so callers check."""
    from matplotlib import colormaps

    colours = [colormaps["tab10"](k) for k in _TAB10]
    return [_pale(colours[k % len(colours)]) for k in range(count)]


def _cell_tex(name, spatial, base):
    """``x_{22}`` for a cell: spatial indices only (the panel title gives n and c)."""
    shown = [i + base for i in spatial]
    separator = "" if max(shown, default=0) < 10 else ","
    return f"{name}_{{{separator.join(map(str, shown))}}}"


def _grid_lines(ax, rows, columns, colour="white", width=1.0):
    ax.set_xticks(np.arange(-0.5, columns, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color=colour, linewidth=width)
    ax.tick_params(which="minor", length=0)


def _width_inches(tex, size=14):
    """Rough printed width of a mathtext fragment: subscripts are about 0.7 of a letter."""
    import re

    plain = re.sub(r"\\[a-z]+", "x", tex)  # \partial and friends: one glyph
    subscripts = sum(len(part) for part in re.findall(r"_\{([^}]*)\}", plain))
    letters = len(re.sub(r"_\{[^}]*\}|[{} ]", "", plain))
    return (letters + 0.7 * subscripts) * 0.6 * size / 72


def _equation_lines(lhs, terms, width, max_lines=3, size=14):
    """mathtext lines ``lhs = t1 + t2 ...`` wrapped to ``width`` inches; past ``max_lines``, cut with a count."""
    budget = width - _width_inches(lhs + "=", size) - 0.4
    lines, current, used = [], [], 0.0
    for term in terms:
        need = _width_inches(term, size) + 0.25
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


# -- the Jacobian ----------------------------------------------------------


def _jacobian_labels(derivation, wrt, sparsity, printer):
    """``{(row, column): LaTeX of dy_i/da_j}``, differentiated from the derived forward."""
    from sympy import diff

    from symconv.symbolic.tensors import element

    outputs = list(np.ndindex(*derivation.spec.output_shape))
    shape = derivation.shapes[wrt]
    labels = {}
    for row, column in zip(*np.nonzero(sparsity)):
        atom = element(wrt, np.unravel_index(column, shape))
        labels[(int(row), int(column))] = printer.doprint(diff(derivation.forward[outputs[row]], atom))
    return labels


def _draw_jacobian_panel(ax, sparsity, labels, row_names, column_names, title, blocks, name, cell):
    image = np.empty(sparsity.shape + (3,))
    image[...] = _EMPTY
    kinds = list(dict.fromkeys(labels[key] for key in sorted(labels))) if labels else []
    if 1 < len(kinds) <= len(_TAB10):
        # One colour per distinct derivative: equal weights line up as diagonals.
        colours = dict(zip(kinds, _palette(len(kinds))))
        for (row, column), text in labels.items():
            image[row, column] = colours[text]
    else:  # too many kinds for distinct colours: cycling them would mislead
        image[sparsity] = _pale(_FILLED, 0.6) if labels else _FILLED
    ax.imshow(image, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=11)
    if labels:
        # Shrink the names until the widest fits its cell.
        size = min(8.0, 8.0 * 0.9 * cell / max(_width_inches(t, 8) for t in labels.values()))
        for (row, column), text in labels.items():
            ax.text(column, row, f"${text}$", ha="center", va="center", fontsize=size)
        _grid_lines(ax, *sparsity.shape, colour="0.8", width=0.6)
        ticks = min(8.0, 8.0 * cell / 0.3)
        ax.set_yticks(range(len(row_names)), [f"${n}$" for n in row_names], fontsize=ticks)
        turn = 90 if max(len(n) for n in column_names) > 6 else 0  # x_{0,0,1,2} is too wide
        ax.set_xticks(range(len(column_names)), [f"${n}$" for n in column_names], fontsize=ticks, rotation=turn)
    else:
        ax.set_xlabel(f"element of {name}\n(row-major flat index)")
        ax.set_ylabel("output y (row-major flat index)")
    # Thin lines between channel blocks (x: per n, c; w: per f, c; y: per n, f).
    row_block, column_block = blocks
    for edge in range(row_block, sparsity.shape[0], row_block) if sparsity.shape[0] // row_block <= 64 else ():
        ax.axhline(edge - 0.5, color="0.55", linewidth=0.8)
    for edge in range(column_block, sparsity.shape[1], column_block) if sparsity.shape[1] // column_block <= 64 else ():
        ax.axvline(edge - 0.5, color="0.55", linewidth=0.8)


def plot_jacobian(derivation, path, index_base: int = 0) -> dict[str, np.ndarray]:
    """Draw the sparsity of dy/dx and dy/dw side by side; return the two boolean matrices.

    >>> import tempfile, os
    >>> from symconv.spec.conv import conv_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)))
    >>> path = os.path.join(tempfile.mkdtemp(), "jacobian.png")
    >>> {k: m.shape for k, m in plot_jacobian(d, path).items()}
    {'x': (9, 16), 'w': (9, 4)}
    """
    from symconv.printing.latex import SymconvLatexPrinter
    from symconv.printing.present import choose_style, describe

    fmt = picture_format(path)
    check_jacobian_size(derivation.spec)
    printer = SymconvLatexPrinter(choose_style(derivation.spec, index_base))
    outputs = list(np.ndindex(*derivation.spec.output_shape))
    matrices = {name: jacobian_sparsity(derivation, name) for name in ("x", "w")}
    rows = len(outputs)
    small = rows <= LABEL_LIMIT and all(m.shape[1] <= LABEL_LIMIT for m in matrices.values())
    widths = [m.shape[1] for m in matrices.values()]
    cell = min(0.42, 12.0 / sum(widths)) if small else 0.0  # inches; at most about 15 inches wide
    labels = {name: None for name in matrices}
    if small:
        labels = {name: _jacobian_labels(derivation, name, m, printer) for name, m in matrices.items()}
        widest = max((_width_inches(t, 8) for panel in labels.values() for t in panel.values()), default=0.1)
        # Names shrunk below MIN_LABEL_POINTS to fit their cells are specks,
        # not text: such a layer gets the unlabelled picture.
        small = 8.0 * 0.9 * cell / widest >= MIN_LABEL_POINTS
        if not small:
            labels, cell = {name: None for name in matrices}, 0.0
    if small:
        turned = any(len(printer.element_tex(name, np.zeros(len(derivation.shapes[name]), int))) > 6
                     for name in matrices)  # full-index names stand on end below the panel
        size = (max(7.0, cell * sum(widths) + 2.6), cell * rows + 1.8 + (0.6 if turned else 0.0))
    else:
        size = (11.0, min(8.0, max(3.5, 11.0 * rows / sum(widths) + 1.5)))
    figure = _figure(*size)
    # Narrow panels (few weights) keep a visible share of the width.
    axes = figure.subplots(1, 2, width_ratios=[max(w, 0.2 * max(widths)) for w in widths])
    for ax, (name, matrix) in zip(axes, matrices.items()):
        shape = derivation.shapes[name]
        # Two short lines: a narrow panel (few weights) is narrower than one long one.
        title = rf"$\partial y / \partial {name}$: {matrix.shape[0]}$\times${matrix.shape[1]}" + f"\n{int(matrix.sum())} nonzero"
        _draw_jacobian_panel(
            ax, matrix, labels[name],
            [printer.element_tex("y", i) for i in outputs],
            [printer.element_tex(name, i) for i in np.ndindex(*shape)],
            title,
            (math.prod(derivation.spec.output_shape[2:]), math.prod(shape[2:])),
            name,
            cell,
        )
    reading = (r"cell ($y_i$, $a_j$) holds $\partial y_i / \partial a_j$" if small
               else r"a cell ($y_i$, $a_j$) is filled where $y_i$ contains $a_j$")
    figure.suptitle(f"{describe(derivation.spec)}\nJacobians of the derived forward: {reading}; blank = 0",
                    fontsize=11)
    _save(figure, path, fmt)
    return matrices


# -- routing of one gradient entry -----------------------------------------


def _slices(shape, marked):
    """The 2-D slices (leading indices) worth drawing: those holding a marked element."""
    lead = [tuple(index) for index in np.ndindex(*shape[:2]) if marked[index].any()]
    return lead or [(0, 0)]


def _draw_grid(ax, name, spatial_shape, colours, labelled, base, title, target=None):
    """One slice as a grid of cells, each coloured and named; ``target`` is outlined."""
    rows, columns = (1,) + spatial_shape if len(spatial_shape) == 1 else spatial_shape
    image = np.empty((rows, columns, 3))
    image[...] = _IDLE
    for spatial, colour in colours.items():
        image[(0,) + spatial if len(spatial) == 1 else spatial] = colour
    ax.imshow(image, interpolation="nearest", aspect="equal")
    _grid_lines(ax, rows, columns, colour="white", width=2.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if target is not None:
        from matplotlib.patches import Rectangle

        column, row = target[-1], target[0] if len(target) == 2 else 0
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5, zorder=3))
    for spatial in np.ndindex(*spatial_shape):
        if spatial in colours or labelled:
            where = (spatial[-1], spatial[0] if len(spatial) == 2 else 0)
            ax.text(*where, f"${_cell_tex(name, spatial, base)}$", ha="center", va="center",
                    fontsize=9, color="black" if spatial in colours else "0.55")
    ax.set_title(title, fontsize=10)


_LEADING = {"x": ("n", "c"), "w": ("f", "c"), "dy": ("n", "f")}


def plot_routing(derivation, path, at, of: str = "dx", index_base: int = 0) -> dict[str, np.ndarray]:
    """Draw which x, w and dy entries feed ``gradients[of][at]``; return them as boolean arrays.

    ``at`` is a full 0-based index of x (``of="dx"``) or w (``of="dw"``);
    ``index_base`` only changes the names written on the picture.

    >>> import tempfile, os
    >>> from symconv.spec.conv import conv_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)))
    >>> marks = plot_routing(d, os.path.join(tempfile.mkdtemp(), "r.svg"), (0, 0, 1, 1))
    >>> [tuple(map(int, i)) for i in np.argwhere(marks["w"])]
    [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (0, 0, 1, 1)]
    """
    from symconv.printing.latex import SymconvLatexPrinter
    from symconv.printing.present import choose_style, describe

    fmt = picture_format(path)
    highlighted = gradient_routing(derivation, at, of)
    terms = gradient_terms(derivation, at, of)
    at = _check_index(derivation, of[1:], at)
    target = of[1:]
    printer = SymconvLatexPrinter(choose_style(derivation.spec, index_base))

    # One colour per term, so a dy and the factor it multiplies match.
    palette = _palette(len(terms))
    colour_of = {}
    for k, term in enumerate(terms):
        for element_key in term:
            colour_of.setdefault(element_key, palette[k] if len(terms) <= len(_TAB10) else _pale(_FILLED, 0.45))
    colour_of[(target, at)] = _TARGET

    panels = []
    for name in ("x", "w", "dy"):
        shape = _shape_of(derivation, name)
        marked = highlighted[name].copy()
        if name == target:
            marked[at] = True
        chosen = _slices(shape, marked)
        panels.append((name, shape, chosen[:MAX_SLICES], len(chosen) - MAX_SLICES))

    widths = [shape[-1] for _, shape, _, _ in panels]
    cell = 0.55 if max(widths) <= 10 else max(0.12, 6.0 / max(widths))
    title_room = 0.45 / cell  # a panel title, in cells
    stacks = [len(chosen) * ((shape[2] if len(shape) == 4 else 1) + title_room) for _, shape, chosen, _ in panels]
    figure = _figure(max(7.0, cell * sum(widths) + 1.5), cell * max(stacks) + 1.5)
    grid = figure.add_gridspec(1, 3, width_ratios=widths)
    for column, (name, shape, chosen, hidden) in enumerate(panels):
        # Each tensor stacks its slices from the top, cells the same size in
        # every panel; a blank filler takes what is left of a shorter stack.
        filler = max(stacks) - stacks[column]
        ratios = [stacks[column] / len(chosen)] * len(chosen) + ([filler] if filler > 1e-9 else [])
        cells = grid[0, column].subgridspec(len(ratios), 1, height_ratios=ratios)
        trivial = shape[:2] == (1, 1)
        for row, lead in enumerate(chosen):
            ax = figure.add_subplot(cells[row, 0])
            colours = {
                index[2:]: colour for (owner, index), colour in colour_of.items()
                if owner == name and tuple(index[:2]) == lead
            }
            first, second = _LEADING[name]
            title = name if trivial else f"{name}[{first}={lead[0] + index_base}, {second}={lead[1] + index_base}]"
            if hidden > 0 and row == len(chosen) - 1:
                title += f" (+{hidden} more)"
            mark = at[2:] if name == target and tuple(at[:2]) == lead else None
            _draw_grid(ax, name, tuple(shape[2:]), colours, max(shape[2:]) <= 10, index_base, title, mark)

    # "\partial L / \partial x_{22}": a \frac is tiny in a one-line title.
    lhs = rf"\partial L / \partial {printer.element_tex(target, at)}"
    expr = derivation.gradients[of][at]
    equation = _equation_lines(lhs, printer.signed_terms(expr) if expr != 0 else ["0"], figure.get_figwidth())
    note = "orange, outlined: the element differentiated; " + (
        "one colour per term of the sum" if len(terms) <= len(_TAB10) else "blue: the factors of its terms"
    )
    if not terms:
        note = "no output reads this element, so its gradient is 0"
    figure.suptitle(equation, fontsize=14)
    roles = r"x: input, w: weights, dy: upstream gradient $\partial L / \partial y$"
    figure.supxlabel(f"{describe(derivation.spec)}\n{roles}\n{note}", fontsize=10)
    _save(figure, path, fmt)
    return highlighted
