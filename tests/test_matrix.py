"""Matrix pictures: the seeds' drawings, exact, and proved by correlating them back."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from sympy import Matrix, expand

from symconv.printing.matrix_document import caption, matrix_document
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.formula.matrix import jacobian, pictures
from symconv.formula.operators import correlate, symbolic_tensors
from symconv.spec.conv import conv_spec
from symconv.symbolic.tensors import element

SEED_DW = (
    r"dw &= \begin{bmatrix}x_{11} & x_{12} & x_{13} & x_{14}\\x_{21} & x_{22} & x_{23} & x_{24}"
    r"\\x_{31} & x_{32} & x_{33} & x_{34}\\x_{41} & x_{42} & x_{43} & x_{44}\end{bmatrix} * "
    r"\begin{bmatrix}dy_{11} & dy_{12} & dy_{13}\\dy_{21} & dy_{22} & dy_{23}\\dy_{31} & dy_{32} & dy_{33}\end{bmatrix}"
)
SEED_DX = (
    r"dx &= \begin{bmatrix}0 & 0 & 0 & 0 & 0\\0 & dy_{11} & dy_{12} & dy_{13} & 0\\0 & dy_{21} & dy_{22} & dy_{23} & 0"
    r"\\0 & dy_{31} & dy_{32} & dy_{33} & 0\\0 & 0 & 0 & 0 & 0\end{bmatrix} * "
    r"\begin{bmatrix}w_{22} & w_{21}\\w_{12} & w_{11}\end{bmatrix}"
)


def test_the_seeds_4x4_pictures():
    """Seed 002's summary: dw = x * dy and dx = (dy framed in zeros) * (w turned by 180 degrees)."""
    text = matrix_document(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), "latex", 1)
    assert SEED_DW in text and SEED_DX in text
    assert r"db &= \sum_{i=1}^{3} \sum_{j=1}^{3} dy_{ij}" in text


def test_the_seeds_1d_jacobian_is_banded():
    """Seed 000: dy/dx = [[w1 w2 0 0], [0 w1 w2 0], [0 0 w1 w2]] and dx = dy . dy/dx."""
    d = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    w1, w2 = element("w", (0, 0, 0)), element("w", (0, 0, 1))
    assert jacobian(d, "x", 0, 0, 0) == Matrix([[w1, w2, 0, 0], [0, w1, w2, 0], [0, 0, w1, w2]])
    dy = Matrix([[element("dy", (0, 0, o)) for o in range(3)]])
    assert list(dy * jacobian(d, "x", 0, 0, 0)) == [d.gradients["dx"][(0, 0, h)] for h in range(4)]
    assert list(dy * jacobian(d, "w", 0, 0, 0)) == [expand(d.gradients["dw"][(0, 0, k)]) for k in range(2)]


LAYERS = [
    ("conv1d", (1, 1, 5), (1, 1, 2), dict(stride=2, padding=1)),
    ("conv1d", (2, 1, 6), (2, 1, 3), dict(stride=3, padding=2, dilation=2)),
    ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    ("conv2d", (1, 2, 5, 5), (2, 2, 3, 2), dict(stride=2, padding=1, dilation=(1, 2))),
    ("conv2d", (1, 1, 5, 4), (1, 1, 2, 3), dict(stride=(3, 2), padding=(0, 2))),
    ("conv2d", (1, 2, 4, 4), (2, 1, 2, 2), dict(stride=2, groups=2)),
]


@pytest.mark.parametrize("kind, shape, weight, options", LAYERS)
def test_pictures_correlate_back_to_the_derivation(kind, shape, weight, options):
    spec = conv_spec(kind, shape, weight, **options)
    d = derive(spec)
    dx, dw = np.full(spec.input, 0, dtype=object), np.full(spec.weight, 0, dtype=object)
    per_group = spec.weight[0] // spec.groups
    for (n, c, f), m in pictures(spec).items():
        def slide(left, right, read_every):  # the picture's *: plain correlation, read every D
            out = [(a - b) // s + 1 for a, b, s in zip(left.shape, right.shape, read_every)]
            return correlate(left[None, None], right[None, None], (1, 1), read_every, out)[0, 0]

        dilation = spec.dilation + (1,) if spec.ndim == 1 else spec.dilation
        dx[n, c] += slide(m["dy~"], m["w_rot"], (1, 1)).reshape(spec.input[2:])
        dw[f, c % spec.weight[1]] += slide(m["x"], m["dy"], dilation).reshape(spec.weight[2:])
    for index in np.ndindex(*spec.input):
        assert expand(dx[index]) == expand(d.gradients["dx"][index]), ("dx", index)
    for index in np.ndindex(*spec.weight):
        assert expand(dw[index]) == expand(d.gradients["dw"][index]), ("dw", index)
    assert per_group * spec.groups == spec.weight[0]


REFUSED = [
    ((1, 1, 16, 16), (1, 1, 3, 3), {}, "input: got 1,1,16,16"),
    ((1, 1, 11, 11), (1, 1, 3, 3), dict(padding=1), "input: got 1,1,11,11, whose pictures need 13"),
    ((2, 3, 4, 4), (3, 3, 2, 2), {}, "slices: got 18"),
]


@pytest.mark.parametrize("shape, weight, options, message", REFUSED)
def test_too_large_to_draw_is_refused_in_one_line(shape, weight, options, message):
    with pytest.raises(SymconvError) as raised:
        matrix_document(derive(conv_spec("conv2d", shape, weight, **options)))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
def test_matrix_document_formats(fmt):
    text = matrix_document(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), fmt, 1)
    if fmt == "json":
        pictures_ = json.loads(text)["pictures"]
        assert pictures_[0]["factors"]["x"] == [["x[0, 0, 0]"], ["x[0, 0, 1]"], ["x[0, 0, 2]"], ["x[0, 0, 3]"]]
    elif fmt == "text":
        assert "  dx = dy . dy/dx" in text and "[w[1]  w[2]     0     0]" in text
    else:
        assert r"\begin{bmatrix}" in text and "\\mathbb" not in text


@pytest.mark.parametrize("shape, weight, options", [
    ((1, 2, 5, 5), (2, 2, 3, 2), dict(stride=2, padding=1, dilation=(1, 2))),
    # Pictures of 12 columns, past amsmath's default limit of 10 (MaxMatrixCols).
    ((1, 1, 10, 10), (1, 1, 3, 3), dict(padding=1)),
], ids=["strided", "12-columns"])
def test_matrix_document_compiles(tmp_path, shape, weight, options):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    d = derive(conv_spec("conv2d", shape, weight, **options))
    (tmp_path / "m.tex").write_text(matrix_document(d, "latex", 1, True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "m.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


SEED_000_DX = (  # dx = dy . dy/dx, the product written out before the matrices
    r"dx &= dy \cdot \frac{\partial y}{\partial x} = \begin{bmatrix}dy_{1} & dy_{2} & dy_{3}\end{bmatrix} \cdot "
    r"\begin{bmatrix}w_{1} & w_{2} & 0 & 0\\0 & w_{1} & w_{2} & 0\\0 & 0 & w_{1} & w_{2}\end{bmatrix}"
)


def test_the_banded_jacobian_is_labelled():
    text = matrix_document(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), "latex", 1)
    assert SEED_000_DX in text
    assert r"dw &= dy \cdot \frac{\partial y}{\partial w} = \begin{bmatrix}dy_{1} & dy_{2} & dy_{3}\end{bmatrix} \cdot " in text
    assert r"Jacobians $\partial y / \partial w$ and $\partial y / \partial x$" in matrix_document(
        derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), "markdown", 1)
    assert "Jacobian" not in matrix_document(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), "latex", 1)


def test_multi_slice_labels_are_explained_and_the_jacobian_products_share_them():
    d = derive(conv_spec("conv1d", (2, 1, 4), (1, 1, 2)))
    latex = matrix_document(d, "latex", 1)
    assert r"$dw^{(n)}_{f,c}$ is what sample $n$ adds to $dw$ for filter $f$ and channel $c$" in \
        matrix_document(d, "markdown", 1)
    assert "% conv1d: x 2x1x4" in latex and r"dw^{(n)}_{f,c} is what sample n adds to dw" in latex
    assert r"dx^{(1)}_{2,1} &= dy_{2,1} \cdot \frac{\partial y_{2,1}}{\partial x_{2,1}} = \begin{bmatrix}" in latex
    assert r"dw^{(2)}_{1,1} &= dy_{2,1} \cdot \frac{\partial y_{2,1}}{\partial w_{1,1}} = \begin{bmatrix}" in latex
    assert "With several slices, dw^(n)_f,c is what sample n adds" in matrix_document(d, "text", 1).splitlines()[2]
    labels = [p["gradient"] for p in json.loads(matrix_document(d, "json", 1))["pictures"]]
    assert labels == ["dw^{(1)}_{1,1}", "dx^{(1)}_{1,1}", "dw^{(2)}_{1,1}", "dx^{(1)}_{2,1}"] * 2
    single = matrix_document(derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2))), "latex", 1)
    assert "several slices" not in single


@pytest.mark.parametrize("shape, weight", [((1, 1, 4), (1, 1, 2)), ((2, 1, 5), (2, 1, 2))])
def test_1d_matrix_document_compiles(shape, weight, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    d = derive(conv_spec("conv1d", shape, weight, stride=2, padding=1))
    (tmp_path / "m.tex").write_text(matrix_document(d, "latex", 1, True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "m.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


CAPTIONED = [  # every clause of the caption, present and absent
    ((1, 1, 4, 4), (1, 1, 2, 2), {}),
    ((1, 1, 5, 5), (1, 1, 3, 2), dict(stride=2, padding=1, dilation=(1, 2))),
    ((1, 1, 7, 6), (1, 1, 2, 2), dict(stride=(2, 3))),
    ((1, 1, 5, 4), (1, 1, 1, 1), dict(padding=(1, 0))),
    ((1, 1, 6, 6), (1, 1, 1, 2), {}),
    ((1, 1, 6, 5), (1, 1, 1, 1), dict(stride=(2, 1), padding=(1, 0))),  # cut, then a stride's zero at the border
]


def _entries(matrix):
    return {e for e in np.asarray(matrix).flat if e != 0}


@pytest.mark.parametrize("shape, weight, options", CAPTIONED)
def test_the_caption_names_what_the_pictures_show_and_nothing_else(shape, weight, options):
    """Each clause against the drawn arrays: stride's zeros, padding's frame, cut rows, dilation's zeros."""
    spec = conv_spec("conv2d", shape, weight, **options)
    (m,) = pictures(spec).values()
    x, dy = symbolic_tensors(spec)[1][0, 0], symbolic_tensors(spec)[0][0, 0]
    text = caption(spec, tex=False)
    assert ("dy has the stride's zeros" in text) == (m["dy"].shape != dy.shape)
    assert ("framed by the padding's zeros" in text) == (0 in set(m["x"].flat))
    assert ("cut to the rows and columns the windows read" in text) == (_entries(m["x"]) != set(x.flat))
    assert ("x and dy are drawn as they are" in text) == (m["x"].shape == x.shape and m["dy"].shape == dy.shape)
    tilde = m["dy~"]
    frame = [tilde[0], tilde[-1], tilde[:, 0], tilde[:, -1]]  # a border row or column of zeros only
    assert ("framed in zeros" in text) == any(not _entries(line) for line in frame)
    assert ("less the entries" in text) == (_entries(m["dy~"]) != set(dy.flat))
    assert ("dilation's zeros" in text) == (0 in set(m["w_rot"].flat))
    assert "matrix product" not in text and "matrix product" not in matrix_document(derive(spec), "latex")


def test_the_matrix_product_is_named_where_it_is_drawn():
    """Only a 1-D layer draws dy times its Jacobians; the seeds' 2-D pictures have no product dot."""
    one = derive(conv_spec("conv1d", (1, 1, 4), (1, 1, 2)))
    assert r"$\cdot$ is the matrix product" in matrix_document(one, "markdown")
    assert ". is the matrix product" in matrix_document(one, "text")
    seed = matrix_document(derive(conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))), "markdown", 1)
    assert r"\cdot" not in seed and "product." not in seed
    assert "In $dx$, $dy$ is framed in zeros, and $w$ is turned by 180 degrees." in seed
