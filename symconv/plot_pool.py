"""Max pooling on numbers, pictured: which input each dy reaches.

PyTorch sends each window's gradient to its first maximum in row-major
order; :func:`maxpool_routing` applies that rule to concrete values (tests
hold it equal to the reference kernel's backward) and
:func:`plot_maxpool_routing` draws the result with tied windows marked.

>>> import numpy as np
>>> maxpool_routing(np.ones((2, 2)), kernel=2, stride=2).ties.tolist()
[[True]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symconv.errors import SymconvError
from symconv.plot import _IDLE, _cell_tex, _figure, _grid_lines, _palette, _save, picture_format



@dataclass(frozen=True)
class MaxPoolRouting:
    """Where max pooling sends each dy: PyTorch's first maximum in row-major order.

    ``winners[i, j]`` is the input position that receives ``dy[i, j]``,
    ``ties[i, j]`` says the window's maximum occurs more than once, and
    ``received[r, c]`` counts the dy entries input ``(r, c)`` receives
    (overlapping windows can send it several).
    """

    winners: np.ndarray
    ties: np.ndarray
    received: np.ndarray
    kernel: tuple[int, int]
    stride: tuple[int, int]


def _pair(value, name):
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in pair):
        raise SymconvError(f"{name}: got {value!r}, expected a positive integer or two")
    return tuple(int(v) for v in pair)


def maxpool_routing(x_values, kernel, stride) -> MaxPoolRouting:
    """Route each window's gradient to its first maximum (row-major), as PyTorch does.

    ``x_values`` is 2-D (a 1-D input is one row); no padding.

    >>> r = maxpool_routing(np.ones((4, 4)), 2, 2)
    >>> bool(r.ties.all()), r.winners[1, 1].tolist()
    (True, [2, 2])
    """
    x = np.asarray(x_values, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
        kernel = (1, kernel) if isinstance(kernel, (int, np.integer)) else kernel
        stride = (1, stride) if isinstance(stride, (int, np.integer)) else stride
    if x.ndim != 2:
        raise SymconvError(f"x: got an array of shape {x.shape}, expected a 1-D or 2-D input")
    kernel, stride = _pair(kernel, "kernel"), _pair(stride, "stride")
    if any(k > s for k, s in zip(kernel, x.shape)):
        raise SymconvError(f"kernel: got {kernel}, expected at most the input's size {x.shape}")
    out = tuple((s - k) // t + 1 for s, k, t in zip(x.shape, kernel, stride))
    winners = np.zeros(out + (2,), dtype=int)
    ties = np.zeros(out, dtype=bool)
    received = np.zeros(x.shape, dtype=int)
    for i, j in np.ndindex(*out):
        top, left = i * stride[0], j * stride[1]
        window = x[top:top + kernel[0], left:left + kernel[1]]
        first = np.unravel_index(int(np.argmax(window)), window.shape)  # argmax keeps the first
        winners[i, j] = (top + first[0], left + first[1])
        ties[i, j] = np.count_nonzero(window == window[first]) > 1
        received[tuple(winners[i, j])] += 1
    return MaxPoolRouting(winners, ties, received, kernel, stride)


def plot_maxpool_routing(x_values, kernel, stride, path, index_base: int = 0) -> MaxPoolRouting:
    """Draw the input with the winner of every window, and dy with where each entry goes.

    Tied windows are outlined in red on the input and marked "tie" on dy.

    >>> import tempfile, os
    >>> r = plot_maxpool_routing(np.ones((4, 4)), 2, 2, os.path.join(tempfile.mkdtemp(), "p.png"))
    >>> int(r.received.sum())
    4
    """
    from matplotlib.patches import Rectangle

    fmt = picture_format(path)
    routing = maxpool_routing(x_values, kernel, stride)
    x = np.asarray(x_values, dtype=float).reshape(routing.received.shape)
    out, kernel, stride = routing.ties.shape, routing.kernel, routing.stride
    palette = _palette(math.prod(out))
    cell = 0.7
    figure = _figure(max(7.0, cell * (x.shape[1] + out[1]) + 1.5), cell * max(x.shape[0], out[0]) + 1.6)
    ax_x, ax_dy = figure.subplots(1, 2, width_ratios=[x.shape[1], out[1]])

    image = np.empty(x.shape + (3,))
    image[...] = _IDLE
    gets = {}
    for k, (i, j) in enumerate(np.ndindex(*out)):
        winner = tuple(int(v) for v in routing.winners[i, j])
        image[winner] = palette[k]
        gets.setdefault(winner, []).append(_cell_tex("dy", (i, j), index_base))
    ax_x.imshow(image, interpolation="nearest", aspect="equal")
    for r, c in np.ndindex(*x.shape):
        text = f"{x[r, c]:.3g}"
        if (r, c) in gets:
            text += "\n" + "\n".join(f"${g}$" for g in gets[(r, c)][:2]) + ("\n..." if len(gets[(r, c)]) > 2 else "")
        ax_x.text(c, r, text, ha="center", va="center", fontsize=8)
    for k, (i, j) in enumerate(np.ndindex(*out)):
        if routing.ties[i, j]:
            # Each tied window in its own (darker) colour; overlapping windows
            # are inset by different amounts so their outlines stay apart.
            overlap = any(s < k_ for s, k_ in zip(stride, kernel))
            inset = 0.42 - (0.06 * (k % 4) if overlap else 0)
            ax_x.add_patch(Rectangle(
                (j * stride[1] - inset, i * stride[0] - inset), kernel[1] - 1 + 2 * inset, kernel[0] - 1 + 2 * inset,
                fill=False, edgecolor=[c - 0.45 for c in palette[k]], linestyle="--", linewidth=1.6,
            ))
    ax_x.set_title("x: each dy goes to the first maximum of its window", fontsize=10)

    image = np.array(palette).reshape(out + (3,))
    ax_dy.imshow(image, interpolation="nearest", aspect="equal")
    for i, j in np.ndindex(*out):
        winner = _cell_tex("x", tuple(int(v) for v in routing.winners[i, j]), index_base)
        label = f"${_cell_tex('dy', (i, j), index_base)}$\n$\\to {winner}$" + ("\ntie" if routing.ties[i, j] else "")
        ax_dy.text(j, i, label, ha="center", va="center", fontsize=8,
                   color="crimson" if routing.ties[i, j] else "black")
    ax_dy.set_title("dy: where each entry goes", fontsize=10)
    for ax, (rows, columns) in ((ax_x, x.shape), (ax_dy, out)):
        _grid_lines(ax, rows, columns, colour="white", width=2.0)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(
        f"max pooling, kernel {kernel[0]}x{kernel[1]}, stride {stride[0]}x{stride[1]}: "
        f"{int(routing.ties.sum())} of {routing.ties.size} windows tied (dashed outlines)",
        fontsize=11,
    )
    _save(figure, path, fmt)
    return routing
