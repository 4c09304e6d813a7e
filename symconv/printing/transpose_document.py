r"""What the operator and matrix documents say of a transposed convolution (:mod:`symconv.formula.transpose_operators`).

The operator document's identities, with the layer's numbers and in plain
words, lead with the seeds' relation read backwards: the gradient of a
transposed convolution with respect to its input is a plain convolution of
dy with w, with the layer's own stride, padding, dilation and groups. The
matrix document's pictures are that convolution drawn by hand.

>>> from symconv.spec.conv_transpose import conv_transpose_spec
>>> rows = identity_lines(conv_transpose_spec("conv_transpose1d", (1, 1, 2), (1, 1, 3), stride=2))
>>> print(rows[0][1])
dx = conv(dy, w; stride 2, padding 0, dilation 1, groups 1)
"""

from __future__ import annotations

import numpy as np
from sympy import Matrix

from symconv.formula.transpose_operators import convolution_length, jacobian, pictures, reach, slices, unread
from symconv.symbolic.tensors import element


def _axes(values) -> str:
    """``2`` when every axis has 2, else ``(2, 3)``."""
    values = [str(v) for v in values]
    return values[0] if len(set(values)) == 1 else "(" + ", ".join(values) + ")"


def _apart(values) -> str:
    return "next to each other" if all(v == 1 for v in values) else f"{_axes(values)} apart"


def convolution(spec) -> dict:
    """The plain convolution dx is: ``{"stride", "padding", "dilation", "groups", "cut_to"}``."""
    longer = convolution_length(spec) != tuple(spec.input[2:])
    return {"stride": list(spec.stride), "padding": list(spec.padding), "dilation": list(spec.dilation),
            "groups": spec.groups, "cut_to": list(spec.input[2:]) if longer else None}


def _words(spec):
    """The sentences, as ``{name: (LaTeX, text)}``; ``|`` marks where a LaTeX row may end."""
    s, p, d, g = (_axes(v) for v in (spec.stride, spec.padding, spec.dilation, (spec.groups,)))
    torch = f"conv{spec.ndim}d(dy, w, stride={s}, padding={p}, dilation={d}, groups={g})"
    letters = ("o", "p", "q")[: spec.ndim]
    where = ", ".join(letters)
    goes = ", ".join(f"{v} + {lo}" if lo else v for v, lo in zip(letters, spec.padding))
    front = "no padding in front" if not any(spec.padding) else \
        f"{_axes(spec.padding)} zero{'' if all(v == 1 for v in spec.padding) else 's'} of padding in front"
    grid = "x".join(map(str, reach(spec)))
    pad = f"{{dy}} with {front}, |over the {grid} positions the inputs reach: {{at}}"
    if any(unread(spec)):
        one = all(v == 1 for v in unread(spec))
        count = "entry" if one else f"{_axes(unread(spec))} entries"
        pad += (f"; |its last {count}, which the {{op}} adds beyond the padding, "
                f"|{'is' if one else 'are'} never read (no input reaches {'it' if one else 'them'})")
    kept = "every result is kept" if all(v == 1 for v in spec.dilation) else \
        f"only one result in {_axes(spec.dilation)} is kept"
    cut = convolution(spec)["cut_to"]
    step = "one position" if all(v == 1 for v in spec.stride) else f"{s} positions"
    relation = ("the gradient of a transposed convolution with respect to its input is a plain convolution: "
                "|{dy} convolved with {w} itself (not rotated), with the layer's own stride, padding, dilation "
                f"and groups, |PyTorch's {torch}")
    if cut:
        relation += (f", |cut to the input's {'x'.join(map(str, cut))} positions (an {{op}} of at least the stride "
                     "makes that convolution longer)")
    return {
        "relation": relation,
        "pad": pad,
        "slide": f"{{w}} slides over {{pad}} {step} at a time (stride {s}), its taps {_apart(spec.dilation)} "
                 f"(dilation {d})",
        "kernel": f"{{x}} is the kernel, its entries {_apart(spec.stride)} (stride {s}), |and {kept} (dilation {d})",
        "db": "every entry of {dy} for output channel {f}, added up",
        "at": (f"$dy_{{\\dots,{','.join(letters)}}}$ goes to ${goes.replace(' ', '')}$",
               f"dy[..., {where}] goes to {goes}"),
    }


_NAMES = {"tex": {"dy": "$dy$", "w": "$w$", "x": "$x$", "f": "$f$", "pad": r"$dy^{\mathrm{pad}}$",
                  "op": r"output\_padding"},
          "text": {"dy": "dy", "w": "w", "x": "x", "f": "f", "pad": "dy_pad", "op": "output_padding"}}


def identity_lines(spec, index_base: int = 0):
    """``(LaTeX, text)`` rows: each identity with this layer's numbers, then what each name in it means."""
    s, p, d, g = (_axes(v) for v in (spec.stride, spec.padding, spec.dilation, (spec.groups,)))
    words = _words(spec)  # dy[..., o] goes to o + P whatever the indices count from
    names = {"tex": dict(_NAMES["tex"], at=words["at"][0]), "text": dict(_NAMES["text"], at=words["at"][1])}

    def said(name_tex, name_text, key):
        first, *rest = (part.strip() for part in words[key].format(**names["tex"]).split("|"))
        tex = [r"\qquad %s\colon\ \text{%s}" % (name_tex, first) if name_tex else r"\qquad \text{%s}" % first]
        tex += [r"\qquad\qquad \text{%s}" % part for part in rest]
        lead = f"  {name_text}: " if name_text else "  "
        text = [lead + words[key].format(**names["text"]).replace(" |", " ").replace("|", "")] + [None] * len(rest)
        return list(zip(tex, text))

    letters = ",".join(("o", "p", "q")[: spec.ndim])
    return [
        (r"dx = \operatorname{conv}(dy, w;\ \text{stride } %s,\ \text{padding } %s,\ \text{dilation } %s,\ "
         r"\text{groups } %s)" % (s, p, d, g),
         f"dx = conv(dy, w; stride {s}, padding {p}, dilation {d}, groups {g})"),
        (r"\phantom{dx} = dy^{\mathrm{pad}} \star^{%s}_{%s} w" % (s, d), f"   = dy_pad (*)^{s}_{d} w"),
        *said("", "", "relation"),
        *said(r"dy^{\mathrm{pad}}", "dy_pad", "pad"),
        *said(r"\star^{%s}_{%s}" % (s, d), f"(*)^{s}_{d}", "slide"),
        (r"dw = dy^{\mathrm{pad}} \star^{%s}_{%s} x" % (d, s), f"dw = dy_pad (*)^{d}_{s} x"),
        *said(r"\star^{%s}_{%s}" % (d, s), f"(*)^{d}_{s}", "kernel"),
        (r"db_f = \sum_{n,%s} dy_{n,f,%s}" % (letters, letters),
         f"db[f] = sum_{{n, {letters.replace(',', ', ')}}} dy[n, f, {letters.replace(',', ', ')}]"),
        (r"\qquad \text{%s}" % words["db"].format(**names["tex"]).capitalize(),
         "  " + words["db"].format(**names["text"]).capitalize()),
    ]


def json_extra(spec) -> dict:
    """What the operator JSON adds: the convolution dx is, ready to call."""
    return {"convolution": convolution(spec)}


# -- the matrix document --------------------------------------------------------


def caption(spec, tex: bool) -> str:
    """What the pictures of ``spec`` show, in LaTeX prose or plain text; only what is drawn is named."""
    name = (lambda t: "$%s$" % t) if tex else (lambda t: t)
    pad = name(r"dy^{\mathrm{pad}}") if tex else "dy_pad"
    framed = any(spec.padding) or any(r > p + o for r, p, o in zip(reach(spec), spec.padding, spec.output_shape[2:]))
    parts = (["framed by the padding's zeros" if framed else "drawn as it is"]
             + (["less its last entries, which no input reaches"] if any(unread(spec)) else []))
    strided, dilated = any(v > 1 for v in spec.stride), any(v > 1 for v in spec.dilation)
    dx = f"{name('w')} is drawn with the dilation's zeros between its taps" if dilated else f"{name('w')} is drawn as it is"
    dx += ", and the result is read every " + " by ".join(map(str, spec.stride)) + " positions" if strided else ""
    dw = f"{name('x')} has the stride's zeros between its entries" if strided else f"{name('x')} is drawn as it is"
    dw += ", and the result is read every " + " by ".join(map(str, spec.dilation)) + " positions" if dilated else ""
    return (f"{name('*')} slides the right matrix over the left one and sums the products (cross-correlation, "
            f"PyTorch's convolution): {name('dx')} is the plain convolution of {name('dy')} with {name('w')}. "
            f"{pad} is {name('dy')} {' and '.join(parts)}. In {name('dx')}, {dx}. In {name('dw')}, {dw}.")


def _labels(single, n, c, f, b):
    if single:
        return {"w": "dw", "x": "dx"}
    return {"w": f"dw^{{({n + b})}}_{{{c + b},{f + b}}}", "x": f"dx^{{({f + b})}}_{{{n + b},{c + b}}}"}


def equations(derivation, index_base):
    """``(label, [(name, matrix)], note, lead, read_every)`` per picture, as the matrix document draws them."""
    spec = derivation.spec
    drawn = pictures(spec)
    single, b = len(drawn) == 1, index_base

    def every(values):
        return ("read every " + " by ".join(map(str, values)) + " positions", tuple(values)) \
            if any(v > 1 for v in values) else ("", None)

    for (n, c, f), m in drawn.items():
        labels = _labels(single, n, c, f, b)
        note, read = every(spec.stride)
        yield labels["x"], [("dy_pad", m["dy_pad"]), ("w", m["w"])], note, "", read
        note, read = every(spec.dilation)
        yield labels["w"], [("dy_pad", m["dy_pad"]), ("x", m["x"])], note, "", read
    if spec.ndim == 1:
        for n, c, f in drawn:
            dy = Matrix([[element("dy", (n, f, o)) for o in range(spec.output_shape[2])]])
            for name in ("x", "w"):
                matrices = [("dy", np.array(dy.tolist(), dtype=object)),
                            (f"dy/d{name}", np.array(jacobian(derivation, name, n, c, f).tolist(), dtype=object))]
                rows = f"{n + b},{f + b}"
                columns = f"{n + b},{c + b}" if name == "x" else f"{c + b},{f + b}"
                lead = (r"dy \cdot \frac{\partial y}{\partial %s}" % name if single else
                        r"dy_{%s} \cdot \frac{\partial y_{%s}}{\partial %s_{%s}}" % (rows, rows, name, columns))
                yield _labels(single, n, c, f, b)[name], matrices, "product", lead, None


def sum_rows(spec, index_base):
    """How the slices add up, and db: ``(LaTeX, text)`` rows."""
    letters = "ij"[: spec.ndim]
    if len(slices(spec)) == 1:
        bounds = [(index_base, o - 1 + index_base) for o in spec.output_shape[2:]]
        sums = " ".join(r"\sum_{%s=%d}^{%d}" % (v, lo, hi) for v, (lo, hi) in zip(letters, bounds))
        text = ", ".join(f"{v} = {lo}..{hi}" for v, (lo, hi) in zip(letters, bounds))
        return [(r"db &= %s dy_{%s}" % (sums, letters), f"db = sum over {text} of dy[{','.join(letters)}]")]
    return [(r"db_f &= \sum_{n,%s} dy_{n,f,%s}" % (",".join(letters), ",".join(letters)),
             f"db[f] = sum over n, {', '.join(letters)} of dy[n, f, {', '.join(letters)}]"),
            (r"dw_{c,f} &= \sum_n dw^{(n)}_{c,f}, \qquad dx_{n,c} = \sum_f dx^{(f)}_{n,c}",
             "dw[c, f] = sum over n of dw^(n)[c, f]; dx[n, c] = sum over f of dx^(f)[n, c]")]


#: What the super- and subscripts of a multi-slice picture mean, as ``(LaTeX, text)``.
SLICES_NOTE = (
    r"With several slices, $dw^{(n)}_{c,f}$ is what sample $n$ adds to $dw$ for input channel $c$ and output "
    r"channel $f$, and $dx^{(f)}_{n,c}$ what output channel $f$ adds to $dx$ for sample $n$ and channel $c$; "
    r"the last lines add them up.",
    "With several slices, dw^(n)_c,f is what sample n adds to dw for input channel c and output channel f, "
    "and dx^(f)_n,c what output channel f adds to dx for sample n and channel c; the last lines add them up.",
)
