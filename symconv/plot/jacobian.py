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

import numpy as np

from symconv.layers import rule_for
from symconv.plot.drawing import (
    DPI,
    EMPTY,
    FILLED,
    IDLE,
    LABEL_LIMIT,
    MAX_SLICES,
    MIN_LABEL_POINTS,
    PICTURE_FORMATS,
    TAB10,
    TARGET,
    cell_tex,
    equation_lines,
    new_figure,
    grid_lines,
    pale,
    pale_colours,
    picture_format,
    save,
    width_inches,
)
from symconv.plot.reading import (
    MAX_JACOBIAN_SIDE,
    check_index,
    check_jacobian_size,
    gradient_routing,
    gradient_terms,
    jacobian_sparsity,
    shape_of,
)

__all__ = ["plot_jacobian", "plot_routing", "jacobian_sparsity", "gradient_routing", "gradient_terms",
           "check_jacobian_size", "picture_format", "PICTURE_FORMATS", "MAX_JACOBIAN_SIDE", "DPI"]


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
    image[...] = EMPTY
    kinds = list(dict.fromkeys(labels[key] for key in sorted(labels))) if labels else []
    if 1 < len(kinds) <= len(TAB10):
        # One colour per distinct derivative: equal weights line up as diagonals.
        colours = dict(zip(kinds, pale_colours(len(kinds))))
        for (row, column), text in labels.items():
            image[row, column] = colours[text]
    else:  # too many kinds for distinct colours: cycling them would mislead
        image[sparsity] = pale(FILLED, 0.6) if labels else FILLED
    ax.imshow(image, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=11)
    if labels:
        # Shrink the names until the widest fits its cell.
        size = min(8.0, 8.0 * 0.9 * cell / max(width_inches(t, 8) for t in labels.values()))
        for (row, column), text in labels.items():
            ax.text(column, row, f"${text}$", ha="center", va="center", fontsize=size)
        grid_lines(ax, *sparsity.shape, colour="0.8", width=0.6)
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
        widest = max((width_inches(t, 8) for panel in labels.values() for t in panel.values()), default=0.1)
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
    figure = new_figure(*size)
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
    save(figure, path, fmt)
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
    image[...] = IDLE
    for spatial, colour in colours.items():
        image[(0,) + spatial if len(spatial) == 1 else spatial] = colour
    ax.imshow(image, interpolation="nearest", aspect="equal")
    grid_lines(ax, rows, columns, colour="white", width=2.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if target is not None:
        from matplotlib.patches import Rectangle

        column, row = target[-1], target[0] if len(target) == 2 else 0
        ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5, zorder=3))
    for spatial in np.ndindex(*spatial_shape):
        if spatial in colours or labelled:
            where = (spatial[-1], spatial[0] if len(spatial) == 2 else 0)
            ax.text(*where, f"${cell_tex(name, spatial, base)}$", ha="center", va="center",
                    fontsize=9, color="black" if spatial in colours else "0.55")
    ax.set_title(title, fontsize=10)


_LEADING = {"x": ("n", "c"), "dy": ("n", "f")}


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
    at = check_index(derivation, of[1:], at)
    target = of[1:]
    printer = SymconvLatexPrinter(choose_style(derivation.spec, index_base))

    # One colour per term, so a dy and the factor it multiplies match.
    palette = pale_colours(len(terms))
    colour_of = {}
    for k, term in enumerate(terms):
        for element_key in term:
            colour_of.setdefault(element_key, palette[k] if len(terms) <= len(TAB10) else pale(FILLED, 0.45))
    colour_of[(target, at)] = TARGET

    panels = []
    for name in ("x", "w", "dy"):
        shape = shape_of(derivation, name)
        marked = highlighted[name].copy()
        if name == target:
            marked[at] = True
        chosen = _slices(shape, marked)
        panels.append((name, shape, chosen[:MAX_SLICES], len(chosen) - MAX_SLICES))

    widths = [shape[-1] for _, shape, _, _ in panels]
    cell = 0.55 if max(widths) <= 10 else max(0.12, 6.0 / max(widths))
    title_room = 0.45 / cell  # a panel title, in cells
    stacks = [len(chosen) * ((shape[2] if len(shape) == 4 else 1) + title_room) for _, shape, chosen, _ in panels]
    figure = new_figure(max(7.0, cell * sum(widths) + 1.5), cell * max(stacks) + 1.5)
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
            first, second = rule_for(derivation.spec).weight_axes if name == "w" else _LEADING[name]
            title = name if trivial else f"{name}[{first}={lead[0] + index_base}, {second}={lead[1] + index_base}]"
            if hidden > 0 and row == len(chosen) - 1:
                title += f" (+{hidden} more)"
            mark = at[2:] if name == target and tuple(at[:2]) == lead else None
            _draw_grid(ax, name, tuple(shape[2:]), colours, max(shape[2:]) <= 10, index_base, title, mark)

    # "\partial L / \partial x_{22}": a \frac is tiny in a one-line title.
    lhs = rf"\partial L / \partial {printer.element_tex(target, at)}"
    expr = derivation.gradients[of][at]
    equation = equation_lines(lhs, printer.signed_terms(expr) if expr != 0 else ["0"], figure.get_figwidth())
    note = "orange, outlined: the element differentiated; " + (
        "one colour per term of the sum" if len(terms) <= len(TAB10) else "blue: the factors of its terms"
    )
    if not terms:
        note = "no output reads this element, so its gradient is 0"
    figure.suptitle(equation, fontsize=14)
    roles = r"x: input, w: weights, dy: upstream gradient $\partial L / \partial y$"
    figure.supxlabel(f"{describe(derivation.spec)}\n{roles}\n{note}", fontsize=10)
    save(figure, path, fmt)
    return highlighted
