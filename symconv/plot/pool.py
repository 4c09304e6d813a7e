r"""Max pooling on numbers, pictured: which input receives each dy, ties marked.

The routing itself (which input wins each window, at given values) is
computed in :mod:`symconv.plot.routing`; this module draws it.
:func:`plot_pool_routing`: x with the dy each input receives, dy with where
each entry goes; :func:`plot_pool_jacobian`: :math:`\partial y / \partial x`
at the values, one nonzero per row, inside the windows' structural band.
:func:`plot_maxpool_routing` draws a bare 1-D or 2-D array.
"""

from __future__ import annotations

import math

import numpy as np

from symconv.errors import SymconvError
from symconv.plot.drawing import (
    FILLED,
    IDLE,
    LABEL_LIMIT,
    MAX_SLICES,
    cell_tex,
    grid_lines,
    new_figure,
    pale,
    pale_colours,
    picture_format,
    save,
)
from symconv.plot.reading import MAX_JACOBIAN_SIDE
from symconv.plot.routing import MaxPoolRouting, array_spec, as_values, derived_routing, spatial_slice

#: Cells at least this wide (inches) carry their value and names.
_TEXT_CELL = 0.42
_TIE = "crimson"


# -- pictures -------------------------------------------------------------------


def _tile(position):
    """A palette slot per window: a 3x3 tiling, so neighbouring windows differ."""
    return position[-1] % 9 if len(position) == 1 else 3 * (position[0] % 3) + position[1] % 3


def _chosen_slices(spec):
    lead = list(np.ndindex(*spec.input[:2]))
    return lead[:MAX_SLICES], len(lead) - MAX_SLICES


def _grid(shape):
    return (1,) + tuple(shape) if len(shape) == 1 else tuple(shape)


def _cell(spatial):
    return (0,) + tuple(spatial) if len(spatial) == 1 else tuple(spatial)


def _overlapping(spec):
    """Whether the windows fail to tile x: along some axis one has a gap (dilation) or meets the next."""
    for axis in range(spec.ndim):
        windows = [positions for _, positions in spec.windows(axis)]
        if any(p and p[-1] - p[0] != len(p) - 1 for p in windows):
            return True
        if any(a and b and a[-1] >= b[0] for a, b in zip(windows, windows[1:])):
            return True
    return False


def _draw_x(ax, spec, x, routing, lead, colours, base, labelled, fontsize):
    from matplotlib.patches import Rectangle

    rows, columns = _grid(spec.input[2:])
    ax.imshow(np.full((rows, columns, 3), IDLE), interpolation="nearest", aspect="equal")
    gets = {}
    for o in np.ndindex(*spec.output_shape[2:]):
        winner = tuple(int(v) for v in routing.winners[lead + o])
        gets.setdefault(winner[2:], []).append(o)
    for spatial, outputs in gets.items():
        r, c = _cell(spatial)
        # A cell receiving several dy shows each one's colour as a stripe.
        for k, o in enumerate(outputs):
            ax.add_patch(Rectangle((c - 0.5 + k / len(outputs), r - 0.5), 1 / len(outputs), 1,
                                   facecolor=colours[o], edgecolor="none", zorder=1))
    if not _overlapping(spec):  # windows tile x: outline each one
        for o in np.ndindex(*spec.output_shape[2:]):
            starts = [spec.windows(axis)[i][1] for axis, i in enumerate(o)]
            (top, bottom), (left, right) = [(0, 0)] * (2 - len(o)) + [(s[0], s[-1]) for s in starts]
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                                   fill=False, edgecolor="0.3", linewidth=1.4, zorder=2))
    for o, taps in routing.maxima.items():
        if tuple(o[:2]) != lead:
            continue
        for k, tap in enumerate(taps):
            r, c = _cell(tap[2:])
            inset = 0.42 if k == 0 else 0.34
            ax.add_patch(Rectangle((c - inset, r - inset), 2 * inset, 2 * inset, fill=False, edgecolor=_TIE,
                                   linestyle="-" if k == 0 else "--", linewidth=1.6, zorder=3))
    if labelled:
        for spatial in np.ndindex(*spec.input[2:]):
            r, c = _cell(spatial)
            names = [f"${cell_tex('dy', o, base)}$" for o in gets.get(spatial, [])]
            text = "\n".join([f"{x[lead + spatial]:.3g}"] + names[:2] + (["..."] if len(names) > 2 else []))
            ax.text(c, r, text, ha="center", va="center", fontsize=fontsize, zorder=4)
    grid_lines(ax, rows, columns, colour="white", width=1.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_dy(ax, spec, x, routing, lead, colours, base, labelled, fontsize):
    out = spec.output_shape[2:]
    rows, columns = _grid(out)
    image = np.empty((rows, columns, 3))
    for o in np.ndindex(*out):
        image[_cell(o)] = colours[o]
    ax.imshow(image, interpolation="nearest", aspect="equal")
    if labelled:
        for o in np.ndindex(*out):
            tied = routing.ties[lead + o]
            winner = cell_tex("x", tuple(int(v) for v in routing.winners[lead + o][2:]), base)
            label = f"${cell_tex('dy', o, base)}$\n$\\to {winner}$"
            if tied:
                others = routing.maxima[lead + o][1:]
                label += f"\ntie: ${cell_tex('x', others[0][2:], base)}$" + (f" +{len(others) - 1}" if len(others) > 1 else "")
            r, c = _cell(o)
            ax.text(c, r, label, ha="center", va="center", fontsize=fontsize, color=_TIE if tied else "black")
    grid_lines(ax, rows, columns, colour="white", width=1.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _values_title(spec, routing, note):
    from symconv.printing.present import describe

    tied = int(routing.ties.sum())
    title = f"{describe(spec)}\n{tied} of {routing.ties.size} windows tied"
    return title + (f"; x: {note}" if note else "")


def plot_pool_routing(derivation, x_values, path, index_base: int = 0, note: str | None = None) -> MaxPoolRouting:
    """Draw, per (n, c) slice, x with the dy each input receives and dy with where each goes.

    The receivers are read off the derived dx at the values
    (:func:`derived_routing`), and returned. Tied windows' maxima are
    outlined in red: solid for the one that receives dy, dashed for the
    others. ``note`` (say, ``"ties, seed 0"``) is added to the title.

    >>> import tempfile, os
    >>> from symconv.spec.pool import pool_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2))
    >>> r = plot_pool_routing(d, np.ones((1, 1, 4, 4)), os.path.join(tempfile.mkdtemp(), "p.png"))
    >>> int(r.received.sum()), int(r.ties.sum())
    (4, 4)
    """
    fmt = picture_format(path)
    spec = derivation.spec
    routing = derived_routing(derivation, x_values)
    x = as_values(spec, x_values)
    (rows, columns), (out_rows, out_columns) = _grid(spec.input[2:]), _grid(spec.output_shape[2:])
    chosen, hidden = _chosen_slices(spec)
    tallest = max(rows, out_rows)
    cell = min(0.75, 10.0 / (columns + out_columns), 11.0 / (len(chosen) * tallest))
    labelled = cell >= _TEXT_CELL
    fontsize = min(8.0, 8.0 * cell / 0.6)
    title_room = 0.5  # inches above each slice
    figure = new_figure(max(7.5, cell * (columns + out_columns) + 1.5), len(chosen) * (cell * tallest + title_room) + 1.6)
    grid = figure.add_gridspec(len(chosen), 2, width_ratios=[columns, out_columns])
    palette = pale_colours(9)
    colours = {o: palette[_tile(o)] for o in np.ndindex(*spec.output_shape[2:])}
    trivial = spec.input[:2] == (1, 1)
    axes = []
    for row, lead in enumerate(chosen):
        where = "" if trivial else f"[n={lead[0] + index_base}, c={lead[1] + index_base}]"
        pair = []
        for column, (height, draw, title) in enumerate((  # x, then dy
            (rows, _draw_x, f"x{where}: the dy each input receives"),
            (out_rows, _draw_dy, f"dy{where}: where each entry goes"),
        )):
            # The shorter grid sits on a blank filler, so cells are the same size in both.
            place = grid[row, column]
            if height < tallest:
                place = place.subgridspec(2, 1, height_ratios=[height, tallest - height])[0, 0]
            ax = figure.add_subplot(place)
            draw(ax, spec, x, routing, lead, colours, index_base, labelled, fontsize)
            ax.set_title(title, fontsize=10)
            pair.append(ax)
        axes.append(pair)
    if hidden > 0:
        axes[-1][0].set_title(axes[-1][0].get_title() + f" (+{hidden} more slices)", fontsize=10)
    figure.suptitle(_values_title(spec, routing, note), fontsize=11)
    figure.supxlabel(
        "each dy goes to the first maximum of its window in row-major order (PyTorch's rule);\n"
        "one colour per window, striped where an input receives several;\n"
        "red: the maxima of a tied window (solid: the one that receives dy, dashed: the others)",
        fontsize=9,
    )
    save(figure, path, fmt)
    return routing


def plot_maxpool_routing(x_values, kernel, stride=None, path=None, index_base: int = 0,
                         padding=0, dilation=1, ceil_mode=False) -> MaxPoolRouting:
    """:func:`plot_pool_routing` for a bare 1-D or 2-D array; indices ``(i, j)``.

    >>> import tempfile, os
    >>> r = plot_maxpool_routing(np.ones((4, 4)), 2, 2, os.path.join(tempfile.mkdtemp(), "p.png"))
    >>> int(r.received.sum())
    4
    """
    from symconv.engine.derive import derive

    if path is None:
        raise SymconvError("path: got nothing, expected a .png or .svg file name")
    picture_format(path)
    spec, x = array_spec(x_values, kernel, stride, padding, dilation, ceil_mode)
    return spatial_slice(plot_pool_routing(derive(spec), x, path, index_base))


# -- the Jacobian at the values ---------------------------------------------------


def check_pool_jacobian_size(spec) -> None:
    """Refuse, before deriving, a dy/dx too large to draw."""
    rows, columns = math.prod(spec.output_shape), math.prod(spec.input)
    if max(rows, columns) > MAX_JACOBIAN_SIDE:
        raise SymconvError(
            f"plot: got a Jacobian dy/dx of {rows}x{columns}, expected at most "
            f"{MAX_JACOBIAN_SIDE} rows and columns; expected a smaller layer"
        )


def plot_pool_jacobian(derivation, x_values, path, index_base: int = 0, note: str | None = None) -> dict:
    r"""Draw :math:`\partial y / \partial x` of a max pool at the values; return its matrices.

    ``"x"``: where the derivative is not 0 (one input per output, read off
    the derived dx); ``"window"``: which x each y contains, the structure of
    the derived forward whatever the values. Rows are y and columns x,
    row-major flat indices.
    """
    from symconv.printing.latex import SymconvLatexPrinter
    from symconv.plot.jacobian import jacobian_sparsity
    from symconv.printing.present import choose_style

    fmt = picture_format(path)
    spec = derivation.spec
    check_pool_jacobian_size(spec)
    x = as_values(spec, x_values)
    routing = derived_routing(derivation, x)
    window = jacobian_sparsity(derivation, "x")
    outputs = list(np.ndindex(*spec.output_shape))
    nonzero = np.zeros_like(window)
    tied = np.zeros_like(window)
    for row, o in enumerate(outputs):
        nonzero[row, np.ravel_multi_index(tuple(routing.winners[o]), spec.input)] = True
        for tap in routing.maxima.get(o, ())[1:]:
            tied[row, np.ravel_multi_index(tap, spec.input)] = True
    image = np.full(window.shape + (3,), 1.0)
    image[window] = (0.86, 0.86, 0.86)
    image[tied] = pale((0.86, 0.08, 0.24), 0.6)
    image[nonzero] = FILLED
    small = max(window.shape) <= LABEL_LIMIT
    cell = min(0.4, 11.0 / window.shape[1], 7.0 / window.shape[0]) if small else 0.0
    size = ((max(7.5, cell * window.shape[1] + 2.8), cell * window.shape[0] + 2.4) if small
            else (10.0, min(9.0, max(4.0, 10.0 * window.shape[0] / window.shape[1] + 2.5))))
    figure = new_figure(*size)
    ax = figure.subplots()
    ax.imshow(image, interpolation="nearest", aspect="equal")
    ax.set_title(rf"$\partial y / \partial x$ at these values: {window.shape[0]}$\times${window.shape[1]}, "
                 f"{int(nonzero.sum())} nonzero\nwithin {int(window.sum())} window entries", fontsize=10)
    if small:
        printer = SymconvLatexPrinter(choose_style(spec, index_base))
        ticks = min(8.0, 8.0 * cell / 0.3)
        grid_lines(ax, *window.shape, colour="0.8", width=0.6)
        for row, column in zip(*np.nonzero(nonzero)):
            ax.text(column, row, "1", ha="center", va="center", color="white", fontsize=ticks)
        ax.set_yticks(range(len(outputs)), [f"${printer.element_tex('y', o)}$" for o in outputs], fontsize=ticks)
        ax.set_xticks(range(window.shape[1]),
                      [f"${printer.element_tex('x', a)}$ = {x[a]:.3g}" for a in np.ndindex(*spec.input)],
                      fontsize=ticks, rotation=90)
    else:
        ax.set_xlabel("element of x\n(row-major flat index)")
        ax.set_ylabel("output y (row-major flat index)")
    figure.suptitle(_values_title(spec, routing, note), fontsize=11)
    figure.supxlabel(
        "dark: the derivative is 1 (x is the first maximum of the window of y); "
        "grey: x is in the window, derivative 0;\nred: tied with the first maximum, derivative 0 "
        "(PyTorch's rule); blank: x is outside the window",
        fontsize=9,
    )
    save(figure, path, fmt)
    return {"x": nonzero, "window": window}


__all__ = ["plot_pool_routing", "plot_maxpool_routing", "check_pool_jacobian_size", "plot_pool_jacobian"]
