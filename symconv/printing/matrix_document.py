r"""The matrix document: a small layer's gradients as the matrix pictures of :mod:`symconv.formula.matrix`.

>>> from symconv.engine.derive import derive
>>> from symconv.spec.conv import conv_spec
>>> print(matrix_document(derive(conv_spec("conv1d", (1, 1, 3), (1, 1, 2))), "text").splitlines()[0])
conv1d: x 1x1x3, w 1x1x2, stride 1, padding 0, dilation 1, indices from 0
"""

from __future__ import annotations

import numpy as np
from sympy import Matrix

from typing import NamedTuple

from symconv.errors import SymconvError
from symconv.formula import transpose_operators
from symconv.formula.matrix import jacobian, pictures, slices
from symconv.layers import rule_for
from symconv.printing import transpose_document
from symconv.printing.present import check_form, choose_style, describe
from symconv.symbolic.tensors import element


#: A 1-D layer's second picture, as ``(LaTeX, text)``.
_JACOBIAN_NOTE = (
    r" A 1-D layer's gradients are drawn again as $dy$ times the Jacobians $\partial y / \partial w$ and "
    r"$\partial y / \partial x$ (seed 000's banded matrix), taken from the forward; $\cdot$ is the matrix product.",
    " A 1-D layer's gradients are drawn again as dy . dy/dw and dy . dy/dx, where dy/dx is the Jacobian "
    "of y with respect to x (seed 000's banded matrix), taken from the forward; . is the matrix product.",
)


def caption(spec, tex: bool) -> str:
    """What the pictures of ``spec`` show, sentence by sentence, in LaTeX prose or plain text.

    Only what is drawn is named: the stride's zeros when a stride exceeds 1,
    the padding's frame when x has one, and so on; the matrix product only
    where a 1-D layer's Jacobians are drawn.

    >>> from symconv.spec.conv import conv_spec
    >>> print(caption(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2)), tex=False))
    * slides the right matrix over the left one and sums the products (cross-correlation, PyTorch's convolution). In dw, x and dy are drawn as they are. In dx, dy~ is dy framed in zeros, and w_rot is w turned by 180 degrees.
    """
    name = (lambda t: "$%s$" % t) if tex else (lambda t: t)
    tilde, rot, plain = ("$dy$ is", "$w$ is", "$dy$ is drawn as it is") if tex else \
        ("dy~ is dy", "w_rot is w", "dy~ is dy itself")
    lines = "rows and columns" if spec.ndim == 2 else "entries"
    reach = [d * (k - 1) for d, k in zip(spec.dilation, spec.weight[2:])]
    read = [(o - 1) * s + r + 1 for o, s, r in zip(spec.output_shape[2:], spec.stride, reach)]
    framed = any(lo > 0 or length > lo + size for (lo, _), length, size in zip(spec.padding, read, spec.input[2:]))
    cut = any(length < lo + size for (lo, _), length, size in zip(spec.padding, read, spec.input[2:]))
    strided = any(s > 1 for s in spec.stride)
    x_parts = (["framed by the padding's zeros"] if framed else []) + ([f"cut to the {lines} the windows read"] if cut else [])
    if x_parts and strided:
        dw = f"{name('x')} is {' and '.join(x_parts)}, and {name('dy')} has the stride's zeros between its entries"
    elif x_parts:
        dw = f"{name('x')} is {' and '.join(x_parts)}; {name('dy')} is drawn as it is"
    elif strided:
        dw = f"{name('x')} is drawn as it is; {name('dy')} has the stride's zeros between its entries"
    else:
        dw = f"{name('x')} and {name('dy')} are drawn as they are"
    # dy~ (operators.spread_dy): entry i at D(K-1) - P_b + iS, in H + D(K-1) places; those outside are dropped.
    border, dropped = False, False
    for size, r, (lo, _), o, s in zip(spec.input[2:], reach, spec.padding, spec.output_shape[2:], spec.stride):
        first, last = max(0, -((r - lo) // s)), min(o - 1, (size + r - 1 - (r - lo)) // s)
        border |= r - lo + first * s > 0 or r - lo + last * s < size + r - 1
        dropped |= first > 0 or last < o - 1
    tilde_parts = (["with the stride's zeros between its entries"] if strided else []) + (
        ["framed in zeros"] if border else [])
    dx = f"{tilde} {', '.join(tilde_parts)}" if tilde_parts else plain
    if dropped:
        dx += ", less the entries whose windows lie wholly in the padding"
    turned = f"{rot} turned by 180 degrees" + (
        ", with the dilation's zeros between its taps" if any(d > 1 for d in spec.dilation) else "")
    star = name("*")
    return (f"{star} slides the right matrix over the left one and sums the products (cross-correlation, "
            f"PyTorch's convolution). In {name('dw')}, {dw}. In {name('dx')}, {dx}, and {turned}.")


#: What the super- and subscripts of a multi-slice picture mean, as ``(LaTeX, text)``.
_SLICES_NOTE = (
    r"With several slices, $dw^{(n)}_{f,c}$ is what sample $n$ adds to $dw$ for filter $f$ and channel $c$, "
    r"and $dx^{(f)}_{n,c}$ what filter $f$ adds to $dx$ for sample $n$ and channel $c$; the last lines add them up.",
    "With several slices, dw^(n)_f,c is what sample n adds to dw for filter f and channel c, "
    "and dx^(f)_n,c what filter f adds to dx for sample n and channel c; the last lines add them up.",
)


def _labels(single, n, c, f, b):
    """What slice (n, c, f) adds to dw and to dx: ``dw^{(n)}_{f,c}``, ``dx^{(f)}_{n,c}`` (dw, dx if it is alone)."""
    if single:
        return {"w": "dw", "x": "dx"}
    return {"w": f"dw^{{({n + b})}}_{{{f + b},{c + b}}}", "x": f"dx^{{({f + b})}}_{{{n + b},{c + b}}}"}


def _jacobian_lead(name, single, n, c, f, b):
    r"""``dy \cdot \frac{\partial y}{\partial x}``: what the banded matrix is, written before it."""
    if single:
        return r"dy \cdot \frac{\partial y}{\partial %s}" % name
    rows = f"{n + b},{f + b}"
    columns = f"{n + b},{c + b}" if name == "x" else f"{f + b},{c + b}"
    return r"dy_{%s} \cdot \frac{\partial y_{%s}}{\partial %s_{%s}}" % (rows, rows, name, columns)


def _equations(derivation, index_base):
    """``(label, [(name, matrix)], note, lead, read_every)`` per picture, in the order shown.

    ``note`` is ``"product"`` for a Jacobian product, else what the
    correlation needs said ("read every 2 positions"); ``lead`` is the
    product written with symbols, LaTeX, before its matrices;
    ``read_every`` the positions per axis between results kept, or None.
    """
    spec = derivation.spec
    drawn = pictures(spec)
    single = len(drawn) == 1
    b = index_base
    dilated = any(d > 1 for d in spec.dilation)
    every = "read every " + " by ".join(map(str, spec.dilation)) + " positions" if dilated else ""
    for (n, c, f), m in drawn.items():
        labels = _labels(single, n, c, f, b)
        yield labels["w"], [("x", m["x"]), ("dy", m["dy"])], every, "", spec.dilation if dilated else None
        yield labels["x"], [("dy~", m["dy~"]), ("w_rot", m["w_rot"])], "", "", None
    if spec.ndim == 1:
        for n, c, f in drawn:
            dy = Matrix([[element("dy", (n, f, o)) for o in range(spec.output_shape[2])]])
            for name in ("w", "x"):
                matrices = [("dy", np.array(dy.tolist(), dtype=object)),
                            (f"dy/d{name}", np.array(jacobian(derivation, name, n, c, f).tolist(), dtype=object))]
                yield (_labels(single, n, c, f, b)[name], matrices, "product", _jacobian_lead(name, single, n, c, f, b),
                       None)


def matrix_document(derivation, fmt: str = "latex", index_base: int = 0, standalone: bool = False) -> str:
    """The pictures of a small derivation in LaTeX, Markdown, text or JSON.

    >>> from symconv.engine.derive import derive
    >>> from symconv.spec.conv import conv_spec
    >>> print(matrix_document(derive(conv_spec("conv1d", (1, 1, 3), (1, 1, 2))), "text").splitlines()[3])
      dw = x * dy
    """
    check_form(derivation, "matrix")
    if fmt not in WRITERS:
        raise SymconvError(f"format: got {fmt!r}, expected one of {', '.join(WRITERS)}")
    family = _family(derivation.spec)
    return WRITERS[fmt](derivation.spec, list(family.equations(derivation, index_base)), index_base, standalone)


def _json(spec, equations, index_base, standalone):
    from symconv.printing.formats import json_text

    return json_text({"layer": spec.to_dict(), "pictures": [
        {"gradient": label, "operator": "product" if note == "product" else "correlation",
         "read_every": list(every) if every else None,
         "factors": {name: [[str(e) for e in row] for row in m] for name, m in parts}}
        for label, parts, note, _, every in equations]})


def _text(spec, equations, index_base, standalone):
    from symconv.printing.formats import TextPrinter

    printer = TextPrinter(choose_style(spec, index_base))
    family = _family(spec)
    lines = [describe(spec) + f", indices from {index_base}",
             family.caption(spec, tex=False) + (_JACOBIAN_NOTE[1] if spec.ndim == 1 else "")]
    if len(family.slices(spec)) > 1:
        lines.append(family.slices_note[1])
    lines.append("")
    for label, parts, note, _, _ in equations:
        joiner = " . " if note == "product" else " * "
        lines.append(f"  {_plain_label(label)} = " + joiner.join(name for name, _ in parts)
                     + (f"  ({note})" if note and note != "product" else ""))
        for name, m in parts:
            cells = [[printer.doprint(e) for e in row] for row in m]
            width = max(len(t) for row in cells for t in row)
            lines += [f"    {name}:"] + ["      [" + "  ".join(t.rjust(width) for t in row) + "]" for row in cells]
    return "\n".join(lines + [""] + ["  " + text for _, text in family.sums(spec, index_base)]) + "\n"


def _math(fmt):
    def write(spec, equations, index_base, standalone):
        from symconv.printing.latex import SymconvLatexPrinter, math_document, tex_text

        printer = SymconvLatexPrinter(choose_style(spec, index_base), {"mat_str": "bmatrix", "mat_delim": ""})
        family = _family(spec)
        sums = family.sums(spec, index_base)

        def blocks(environment):
            drawn = []
            for label, parts, note, lead, _ in equations:
                operator = r" \cdot " if note == "product" else " * "
                tex = (lead + " = " if lead else "") + operator.join(printer.doprint(Matrix(m)) for _, m in parts)
                if note and note != "product":
                    tex += r" \quad \text{(%s)}" % note
                drawn.append("\\begin{%s}\n%s &= %s\n\\end{%s}" % (environment, label, tex, environment))
            drawn.append("\\begin{%s}\n%s\n\\end{%s}" % (environment, " \\\\\n".join(t for t, _ in sums), environment))
            return drawn

        intro = (tex_text(describe(spec)) + f", indices from {index_base}. " + family.caption(spec, tex=True)
                 + (_JACOBIAN_NOTE[0] if spec.ndim == 1 else "")
                 + (" " + family.slices_note[0] if len(family.slices(spec)) > 1 else ""))
        text = math_document(fmt, describe(spec), intro, blocks, standalone, "symconv: matrix pictures")
        # A picture has no page number, so that a PNG of it is cut to the pictures alone.
        return text.replace("\\begin{document}\n", "\\begin{document}\n\\pagestyle{empty}\n", 1)

    return write


#: The matrix document's writer for each format.
WRITERS = {"latex": _math("latex"), "markdown": _math("markdown"), "text": _text, "json": _json}


def _plain_label(label: str) -> str:
    return label.replace("^{(", "^(").replace(")}", ")").replace("_{", "_").replace("}", "")


def _sum_lines(spec, index_base):
    """How the slices add up, and db: ``(LaTeX, text)`` rows."""
    letters = "ij"[: spec.ndim]
    if len(slices(spec)) == 1:  # the seeds' db = sum_{i=1}^{3} sum_{j=1}^{3} dy_ij
        bounds = [(index_base, o - 1 + index_base) for o in spec.output_shape[2:]]
        sums = " ".join(r"\sum_{%s=%d}^{%d}" % (v, lo, hi) for v, (lo, hi) in zip(letters, bounds))
        text = ", ".join(f"{v} = {lo}..{hi}" for v, (lo, hi) in zip(letters, bounds))
        return [(r"db &= %s dy_{%s}" % (sums, letters), f"db = sum over {text} of dy[{','.join(letters)}]")]
    rows = [(r"db_f &= \sum_{n,%s} dy_{n,f,%s}" % (",".join(letters), ",".join(letters)),
             f"db[f] = sum over n, {', '.join(letters)} of dy[n, f, {', '.join(letters)}]"),
            (r"dw_{f,c} &= \sum_n dw^{(n)}_{f,c}, \qquad dx_{n,c} = \sum_f dx^{(f)}_{n,c}",
             "dw[f, c] = sum over n of dw^(n)[f, c]; dx[n, c] = sum over f of dx^(f)[n, c]")]
    return rows


class _Family(NamedTuple):
    """How one family of layers (:attr:`symconv.layers.rule.LayerRule.operators`) is pictured."""

    equations: object
    caption: object
    slices: object
    sums: object
    slices_note: tuple


#: Each family's pictures, captions, slices and closing sums.
FAMILIES = {
    "conv": _Family(_equations, caption, slices, _sum_lines, _SLICES_NOTE),
    "conv_transpose": _Family(transpose_document.equations, transpose_document.caption, transpose_operators.slices,
                              transpose_document.sum_rows, transpose_document.SLICES_NOTE),
}


def _family(spec) -> _Family:
    return FAMILIES[rule_for(spec).operators]
