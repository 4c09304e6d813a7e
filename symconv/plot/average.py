r"""Average pooling pictured: :math:`\partial y / \partial x` as exact fractions, and where a mean sends dy.

:func:`plot_avgpool_jacobian` draws dy/dx, each nonzero coloured by its value
and written as the fraction the derivation holds; :func:`plot_avgpool_routing`
draws which dy feed one entry of dx, each with its coefficient, and the
windows they average. Both return what they draw. What they show is read off
the derivation by :mod:`symconv.plot.average_reading`, which nothing here
second-guesses: no divisor is computed for a picture.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from symconv.plot.average_reading import (
    AVERAGE_LAYERS,
    avgpool_jacobian,
    avgpool_routing,
    check_average,
    check_avgpool_jacobian_size,
    fraction_text,
    sparse_jacobian,
)
from symconv.plot.drawing import (
    EMPTY,
    FILLED,
    IDLE,
    LABEL_LIMIT,
    MIN_LABEL_POINTS,
    TAB10,
    TARGET,
    cell_tex,
    equation_lines,
    grid_lines,
    new_figure,
    pale,
    picture_format,
    save,
    width_inches,
)
from symconv.plot.reading import check_index

#: Cells at least this wide (inches) carry their names in the routing picture.
_TEXT_CELL = 0.42


def _strong_colours(count):
    from matplotlib import colormaps

    return [colormaps["tab10"](TAB10[k % len(TAB10)])[:3] for k in range(count)]


# -- the Jacobian -----------------------------------------------------------------


def _value_colours(values, strong):
    """One colour per distinct value: tab10 for up to nine (pale under text), else a blue ramp, darker for larger."""
    if len(values) <= len(TAB10):
        return _strong_colours(len(values)) if strong else [pale(c) for c in _strong_colours(len(values))]
    from matplotlib import colormaps

    ramp = colormaps["Blues"]
    return [tuple(ramp(0.25 + 0.65 * k / (len(values) - 1))[:3]) for k in range(len(values))]


def plot_avgpool_jacobian(derivation, path, index_base: int = 0) -> dict[str, np.ndarray]:
    r"""Draw :math:`\partial y / \partial x` of an average pool; return ``{"x": matrix of Fractions}``.

    Each nonzero cell is coloured by its value and, when the cells are
    large enough, written as the exact fraction the derivation holds.

    >>> import tempfile, os
    >>> from symconv.spec.pool import pool_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(pool_spec("avgpool2d", (1, 1, 4, 4), kernel=2))
    >>> m = plot_avgpool_jacobian(d, os.path.join(tempfile.mkdtemp(), "j.png"))["x"]
    >>> m.shape, str(m[0, 0]), int((m != 0).sum())
    ((4, 16), '1/4', 16)
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from symconv.printing.latex import SymconvLatexPrinter
    from symconv.printing.present import choose_style, describe

    fmt = picture_format(path)
    spec = derivation.spec
    check_avgpool_jacobian_size(spec)
    rows, columns, coefficients = sparse_jacobian(derivation)
    shape = (math.prod(spec.output_shape), math.prod(spec.input))
    values = sorted(set(coefficients.tolist()))
    rank = {v: k + 1 for k, v in enumerate(values)}
    image = np.zeros(shape, dtype=np.uint8 if len(values) < 255 else np.int32)
    image[rows, columns] = [rank[v] for v in coefficients.tolist()]
    texts = [fraction_text(v) for v in coefficients.tolist()]
    small = max(shape) <= LABEL_LIMIT
    cell = min(0.42, 12.0 / shape[1], 9.0 / shape[0]) if small else 0.0
    size = min(8.0, 8.0 * 0.9 * cell / max((width_inches(t, 8) for t in texts), default=0.1)) if small else 0.0
    small = small and size >= MIN_LABEL_POINTS  # fractions shrunk to specks: the unlabelled picture
    colours = _value_colours(values, strong=not small)  # unlabelled cells may be a pixel wide: full colours
    printer = SymconvLatexPrinter(choose_style(spec, index_base))
    outputs, inputs = list(np.ndindex(*spec.output_shape)), list(np.ndindex(*spec.input))
    turned = small and len(printer.element_tex("x", inputs[0])) > 6  # full-index names stand on end
    legend = len(values) <= len(TAB10)
    figure = new_figure(*((max(7.0, cell * shape[1] + 2.6 + (1.2 if legend else 0)),
                           cell * shape[0] + 2.0 + (0.6 if turned else 0.0)) if small
                          else (11.0, min(8.0, max(3.5, 11.0 * shape[0] / shape[1] + 1.5)))))
    ax = figure.subplots()
    ax.imshow(image, cmap=ListedColormap([EMPTY] + colours), vmin=0, vmax=len(values), interpolation="nearest",
              aspect="equal")
    ax.set_title(rf"$\partial y / \partial x$: {shape[0]}$\times${shape[1]}, {len(rows)} nonzero", fontsize=11)
    if small:
        for row, column, text in zip(rows.tolist(), columns.tolist(), texts):
            ax.text(column, row, text, ha="center", va="center", fontsize=size)
        grid_lines(ax, *shape, colour="0.8", width=0.6)
        ticks = min(8.0, 8.0 * cell / 0.3)
        ax.set_yticks(range(shape[0]), [f"${printer.element_tex('y', o)}$" for o in outputs], fontsize=ticks)
        ax.set_xticks(range(shape[1]), [f"${printer.element_tex('x', a)}$" for a in inputs], fontsize=ticks,
                      rotation=90 if turned else 0)
    else:
        ax.set_xlabel("element of x\n(row-major flat index)")
        ax.set_ylabel("output y (row-major flat index)")
    # Thin lines between (n, c) slices: an average pool never mixes them.
    for edge, count, line in ((math.prod(spec.output_shape[2:]), shape[0], ax.axhline),
                              (math.prod(spec.input[2:]), shape[1], ax.axvline)):
        for position in range(edge, count, edge) if count // edge <= 64 else ():
            line(position - 0.5, color="0.55", linewidth=0.8)
    if legend:
        ax.legend(handles=[Patch(facecolor=c, edgecolor="0.6", label=fraction_text(v)) for v, c in zip(values, colours)],
                  title="value", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    reading = r"cell ($y_i$, $x_j$) holds $\partial y_i / \partial x_j$, 1/divisor of $y_i$'s window, or is blank (0)"
    figure.suptitle(f"{describe(spec)}\nJacobian of the derived forward: {reading}", fontsize=11)
    figure.supxlabel("one colour per value" + ("" if legend else " (darker: larger)") + "; the nonzeros of column "
                     r"$x_j$ are the windows that read it: $\partial L / \partial x_j$ adds their dy times these values",
                     fontsize=9)
    save(figure, path, fmt)
    matrix = np.full(shape, Fraction(0), dtype=object)
    np.add.at(matrix, (rows, columns), coefficients)
    return {"x": matrix}


# -- where the gradient of one x comes from ------------------------------------------


def _grid(shape):
    return (1,) + tuple(shape) if len(shape) == 1 else tuple(shape)


def _cell(spatial):
    return (0,) + tuple(spatial) if len(spatial) == 1 else tuple(spatial)


def _window_boxes(spec, rows, columns, wanted):
    """``{flat row: (top, bottom, left, right)}``: the x cells each wanted output reads, as a box."""
    boxes = {}
    for row in wanted:
        taps = np.array(np.unravel_index(columns[rows == row], spec.input)).T[:, 2:]
        cells = np.array([_cell(t) for t in taps])
        boxes[row] = (cells[:, 0].min(), cells[:, 0].max(), cells[:, 1].min(), cells[:, 1].max())
    return boxes


def plot_avgpool_routing(derivation, path, at, index_base: int = 0) -> dict[str, np.ndarray]:
    """Draw which dy feed ``gradients["dx"][at]`` and with what coefficient; return what is drawn.

    ``"dy"``: each dy's coefficient in the derived entry (Fractions, 0 where
    absent); ``"covered"``: how many windows read each x (int, x's shape),
    from the forward; ``"x"``: the element traced. On the picture, x's
    panel outlines each window that reads the traced element in its dy's
    colour.

    >>> import tempfile, os
    >>> from symconv.spec.pool import pool_spec
    >>> from symconv.engine.derive import derive
    >>> d = derive(pool_spec("avgpool1d", (1, 1, 5), kernel=3, stride=1))
    >>> r = plot_avgpool_routing(d, os.path.join(tempfile.mkdtemp(), "r.svg"), (0, 0, 2))
    >>> [str(v) for v in r["dy"][0, 0]], r["covered"][0, 0].tolist()
    (['1/3', '1/3', '1/3'], [1, 2, 3, 2, 1])
    """
    from matplotlib.patches import Rectangle

    from symconv.printing.latex import SymconvLatexPrinter
    from symconv.printing.present import choose_style, describe, describe_loss

    fmt = picture_format(path)
    spec = derivation.spec
    check_average(spec)
    at = check_index(derivation, "x", at)
    coefficients = avgpool_routing(derivation, at)
    rows, columns, _ = sparse_jacobian(derivation)
    covered = np.bincount(columns, minlength=math.prod(spec.input)).reshape(spec.input)
    target = np.zeros(spec.input, dtype=bool)
    target[at] = True
    lead, out = at[:2], spec.output_shape[2:]
    fed = [o for o in np.ndindex(*out) if coefficients[lead + o] != 0]
    many = len(fed) > len(TAB10)  # colours would repeat: one colour for all
    fills = [pale(FILLED, 0.45)] * len(fed) if many else [pale(c) for c in _strong_colours(len(fed))]
    edges = _strong_colours(len(fed))
    flat = [int(np.ravel_multi_index(lead + o, spec.output_shape)) for o in fed]
    boxes = _window_boxes(spec, rows, columns, flat)

    (x_rows, x_columns), (y_rows, y_columns) = _grid(spec.input[2:]), _grid(out)
    tallest = max(x_rows, y_rows)
    cell = min(0.75, 10.0 / (x_columns + y_columns), 6.0 / tallest)
    labelled = cell >= _TEXT_CELL
    fontsize = min(9.0, 9.0 * cell / 0.6)
    printer = SymconvLatexPrinter(choose_style(spec, index_base))
    expr = derivation.gradients["dx"][at]
    lhs = rf"\partial L / \partial {printer.element_tex('x', at)}"
    width = max(7.5, cell * (x_columns + y_columns) + 1.5)
    equation = equation_lines(lhs, printer.signed_terms(expr) if expr != 0 else ["0"], width)
    figure = new_figure(width, cell * tallest + 2.2 + 0.5 * equation.count("\n"))
    grid = figure.add_gridspec(1, 2, width_ratios=[x_columns, y_columns])
    where = "" if spec.input[:2] == (1, 1) else f"[n={lead[0] + index_base}, c={lead[1] + index_base}]"
    axes = []
    for column, height in enumerate((x_rows, y_rows)):
        place = grid[0, column]
        if height < tallest:  # the shorter grid sits on a blank filler, cells the same size in both
            place = place.subgridspec(2, 1, height_ratios=[height, tallest - height])[0, 0]
        axes.append(figure.add_subplot(place))
    ax_x, ax_dy = axes

    image = np.full((x_rows, x_columns, 3), IDLE)
    if many:  # outlines would pile up: the windows' cells tinted instead
        for row in flat:
            top, bottom, left, right = boxes[row]
            image[top:bottom + 1, left:right + 1] = pale(FILLED, 0.6)
    image[_cell(at[2:])] = TARGET
    ax_x.imshow(image, interpolation="nearest", aspect="equal")
    line = min(2.0, 8.0 * cell)  # points: thin lines on small cells, or they hide them
    for k, row in enumerate(flat if not many else ()):
        top, bottom, left, right = boxes[row]
        inset = 0.06 + 0.07 * (k % 4)  # overlapping windows' outlines side by side
        ax_x.add_patch(Rectangle((left - 0.5 + inset, top - 0.5 + inset), right - left + 1 - 2 * inset,
                                 bottom - top + 1 - 2 * inset, fill=False, edgecolor=edges[k], linewidth=line,
                                 zorder=3))
    ax_x.add_patch(Rectangle((_cell(at[2:])[1] - 0.5, _cell(at[2:])[0] - 0.5), 1, 1, fill=False,
                             edgecolor="black", linewidth=1.25 * line, zorder=4))

    image = np.full((y_rows, y_columns, 3), IDLE)
    for o, colour in zip(fed, fills):
        image[_cell(o)] = colour
    ax_dy.imshow(image, interpolation="nearest", aspect="equal")
    if labelled:
        inside = {tuple(np.unravel_index(c, spec.input)[2:]) for c in columns[np.isin(rows, flat)].tolist()}
        for spatial in np.ndindex(*spec.input[2:]):
            r, c = _cell(spatial)
            ax_x.text(c, r, f"${cell_tex('x', spatial, index_base)}$", ha="center", va="center", fontsize=fontsize,
                      color="black" if spatial in inside or spatial == at[2:] else "0.55", zorder=5)
            ax_x.text(c + 0.42, r - 0.42, str(covered[lead + spatial]), ha="right", va="top",
                      fontsize=0.7 * fontsize, color="0.35", zorder=5)
        for o in np.ndindex(*out):
            r, c = _cell(o)
            value = coefficients[lead + o]
            name = f"${cell_tex('dy', o, index_base)}$"
            ax_dy.text(c, r, name + (f"\n$\\times$ {fraction_text(value)}" if value else ""), ha="center",
                       va="center", fontsize=fontsize, color="black" if value else "0.55")
    for ax, (height, width) in ((ax_x, (x_rows, x_columns)), (ax_dy, (y_rows, y_columns))):
        if cell >= 0.15:  # below, the lines would hide the cells
            grid_lines(ax, height, width, colour="white", width=min(1.5, 6.0 * cell))
        ax.set_xticks([])
        ax.set_yticks([])
    ax_x.set_title(f"x{where}: the element traced (orange), the windows that read it"
                   + ("\ncorner: how many windows read each input" if labelled else ""), fontsize=10)
    ax_dy.set_title(f"dy{where}: the entries its gradient adds,\neach times its coefficient", fontsize=10)

    figure.suptitle(equation, fontsize=14)
    note = ("each window holding this x sends it its dy times the window's coefficient (1/divisor); "
            "overlapping windows add up" if fed else "no window reads this element, so its gradient is 0")
    figure.supxlabel(f"{describe(spec)}{describe_loss(derivation)}\n{note}", fontsize=10)
    save(figure, path, fmt)
    return {"dy": coefficients, "covered": covered, "x": target}


__all__ = ["avgpool_jacobian", "avgpool_routing", "plot_avgpool_jacobian", "plot_avgpool_routing", "check_average",
           "check_avgpool_jacobian_size", "fraction_text", "AVERAGE_LAYERS"]
