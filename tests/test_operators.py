"""Operator identities: built explicitly, equal to the derivation exactly, and to PyTorch numerically."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from symconv.printing.operator_document import operator_document
from symconv.engine.derive import derive
from symconv.errors import SymconvError
from symconv.formula.operators import (
    check_identities, dy_placement, operator_gradients, output_padding, rotate_w, spread_dy,
)
from symconv.reference import conv_backward
from symconv.spec.conv import conv_spec

LAYERS = [  # (kind, input, weight, options): strides that do not divide, padding wider than D(K-1), groups
    ("conv1d", (1, 1, 4), (1, 1, 2), {}),
    ("conv1d", (1, 1, 7), (1, 1, 3), dict(stride=3, padding=2, dilation=1)),
    ("conv1d", (2, 2, 6), (3, 2, 2), dict(stride=2, padding=3, dilation=2)),
    ("conv1d", (1, 2, 6), (2, 1, 2), dict(padding="same", groups=2)),
    ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), {}),
    ("conv2d", (1, 2, 5, 6), (2, 2, 3, 2), dict(stride=(2, 3), padding=(1, 2), dilation=(1, 2))),
    ("conv2d", (2, 1, 5, 5), (2, 1, 2, 3), dict(stride=2, padding=(0, 1), dilation=(2, 1))),
    ("conv2d", (1, 4, 5, 4), (4, 2, 2, 2), dict(stride=(1, 2), padding=1, groups=2)),
    ("conv2d", (1, 1, 5, 5), (1, 1, 2, 2), dict(padding="same")),
]
IDS = [f"{kind}-{'x'.join(map(str, x))}-{'x'.join(map(str, w))}-{o}" for kind, x, w, o in LAYERS]


def _spec(case):
    kind, shape, weight, options = case
    return conv_spec(kind, shape, weight, **options)


def _random(spec, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(spec.output_shape), rng.standard_normal(spec.input), rng.standard_normal(spec.weight))


@pytest.mark.parametrize("case", LAYERS, ids=IDS)
def test_each_identity_equals_the_derivation_exactly(case):
    assert check_identities(derive(_spec(case))) == {"dx": True, "dw": True, "db": True}


@pytest.mark.parametrize("case", LAYERS, ids=IDS)
def test_identities_match_the_reference_numerically(case):
    spec = _spec(case)
    dy, x, w = _random(spec)
    expected = conv_backward(dy, x, w, stride=spec.stride, padding=spec.padding,
                             dilation=spec.dilation, groups=spec.groups)
    for got, want in zip(operator_gradients(spec, dy, x, w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


OUTPUT_PADDING = [  # (input, kernel, stride, padding, dilation) -> the rows no window reads
    ((5, 5), (2, 2), 2, 0, 1, (1, 1)),
    ((4, 4), (2, 2), 2, 0, 1, (0, 0)),
    ((7, 6), (3, 3), 3, 1, 1, (0, 2)),
    ((8, 8), (3, 3), 2, 1, 2, (1, 1)),
]


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, expected", OUTPUT_PADDING)
def test_output_padding(size, kernel, stride, padding, dilation, expected):
    spec = conv_spec("conv2d", (1, 1) + size, (1, 1) + kernel, stride=stride, padding=padding, dilation=dilation)
    assert output_padding(spec) == expected


@pytest.mark.parametrize("case", [c for c in LAYERS if "same" not in str(c[3])],
                         ids=[i for i, c in zip(IDS, LAYERS) if "same" not in str(c[3])])
def test_identities_match_torch(case):
    torch = pytest.importorskip("torch")
    spec = _spec(case)
    dy, x, w = _random(spec, seed=1)
    dx, dw, _ = operator_gradients(spec, dy, x, w)
    padding = tuple(lo for lo, _ in spec.padding)
    options = dict(stride=spec.stride, padding=padding, dilation=spec.dilation, groups=spec.groups)
    transpose = torch.nn.functional.conv_transpose1d if spec.ndim == 1 else torch.nn.functional.conv_transpose2d
    t = torch.tensor
    # conv_transpose needs the output_padding computed here to give back x's size.
    np.testing.assert_allclose(transpose(t(dy), t(w), output_padding=output_padding(spec), **options).numpy(), dx,
                               rtol=1e-10, atol=1e-10)
    grad = torch.nn.grad
    input_fn, weight_fn = (grad.conv1d_input, grad.conv1d_weight) if spec.ndim == 1 else (grad.conv2d_input, grad.conv2d_weight)
    np.testing.assert_allclose(input_fn(x.shape, t(w), t(dy), **options).numpy(), dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(weight_fn(t(x), w.shape, t(dy), **options).numpy(), dw, rtol=1e-10, atol=1e-10)


def test_the_seeds_padded_dy_and_rotated_w():
    """Seed 002: dx = [0-framed dy] * [w22 w21; w12 w11] for the 4x4 input and 2x2 filter."""
    spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 2, 2))
    names = np.array([["dy11", "dy12", "dy13"], ["dy21", "dy22", "dy23"], ["dy31", "dy32", "dy33"]], dtype=object)
    tilde = spread_dy(spec, names.reshape(1, 1, 3, 3))[0, 0]
    assert tilde.tolist() == [[0] * 5] + [[0] + row + [0] for row in names.tolist()] + [[0] * 5]
    w = np.array([["w11", "w12"], ["w21", "w22"]], dtype=object).reshape(1, 1, 2, 2)
    assert rotate_w(spec, w)[0, 0].tolist() == [["w22", "w21"], ["w12", "w11"]]


def test_stride_two_spreads_dy_and_keeps_output_padding_rows():
    spec = conv_spec("conv1d", (1, 1, 6), (1, 1, 2), stride=2)  # windows at 0, 2, 4: all six read
    tilde = spread_dy(spec, np.array([[["a", "b", "c"]]], dtype=object))[0, 0]
    assert tilde.tolist() == [0, "a", 0, "b", 0, "c", 0]
    spec = conv_spec("conv1d", (1, 1, 7), (1, 1, 2), stride=2)  # the seventh is never read
    assert output_padding(spec) == (1,)
    assert spread_dy(spec, np.array([[["a", "b", "c"]]], dtype=object))[0, 0].tolist() == [0, "a", 0, "b", 0, "c", 0, 0]


@pytest.mark.parametrize("fmt", ["latex", "markdown", "text", "json"])
def test_operator_document_formats(fmt):
    d = derive(conv_spec("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), stride=2, padding=1))
    text = operator_document(d, fmt, 1)
    if fmt == "json":
        data = json.loads(text)
        assert data["output_padding"] == [0, 0] and data["equal_to_derivation"] == {"dx": True, "dw": True, "db": True}
    else:
        assert "transpose" in text and "dx equal; dw equal; db equal" in text


def test_operator_document_compiles(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    d = derive(conv_spec("conv2d", (1, 2, 5, 4), (2, 2, 2, 3), stride=(2, 1), padding=1, dilation=(1, 2)))
    (tmp_path / "o.tex").write_text(operator_document(d, "latex", 0, True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "o.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]


def test_operator_document_refuses_other_layers():
    from symconv.spec.pool import pool_spec

    with pytest.raises(SymconvError, match="layer: got maxpool2d, expected conv1d, conv2d, conv3d, conv_transpose1d, "
                                           "conv_transpose2d or conv_transpose3d for --form operator"):
        operator_document(derive(pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2)))


# -- the identity lines: counted from --index-base, and true of the arrays ---

def test_identity_lines_counted_from_one_read_like_the_seeds():
    """The issue's layer: 1-based, dy's first entry sits at position 2 of dy~ (2 i), and w_rot reverses K+1-k."""
    d = derive(conv_spec("conv1d", (1, 1, 5), (1, 1, 2), stride=2))
    text = operator_document(d, "text", 1).splitlines()
    assert text[0] == "conv1d: x 1x1x5, w 1x1x2, stride 2, padding 0, dilation 1, indices from 1"
    assert text[5:7] == [
        "    dy~: dy with 1 zero inserted between neighbouring entries (stride 2), placed in a row of 6 zeros "
        "per slice: dy[..., i] goes to 2*i",
        "    w_rot: w turned by 180 degrees, filters and channels swapped: w_rot[c, f, k] = w[f, c, K+1-k]"]
    assert "    dy~: dy with 1 zero inserted between neighbouring entries (stride 2), placed in a row of 6 zeros " \
        "per slice: dy[..., i] goes to 2*i + 1" in operator_document(d, "text", 0)
    latex = operator_document(d, "latex", 1)
    assert latex.startswith("% conv1d: x 1x1x5, w 1x1x2, stride 2, padding 0, dilation 1, indices from 1. ")
    assert (r"&\qquad \widetilde{dy}\colon\ \text{$dy$ with 1 zero inserted between neighbouring entries "
            r"(stride 2),} \\" + "\n" + r"&\qquad\qquad \text{placed in a row of 6 zeros per slice: "
            r"$dy_{\dots,i}$ goes to $2\,i$} \\") in latex
    assert (r"&\qquad w^{\mathrm{rot}}\colon\ \text{$w$ turned by 180 degrees, filters and channels swapped: "
            r"$w^{\mathrm{rot}}_{c,f,k} = w_{f,c,K+1-k}$} \\") in latex


def test_identity_lines_of_a_2d_layer_name_both_axes():
    d = derive(conv_spec("conv2d", (1, 1, 5, 6), (1, 1, 3, 2), stride=(2, 3), padding=(1, 2)))
    latex = operator_document(d, "latex", 0)
    assert r"$dy_{\dots,i,j}$ goes to $(2\,i + 1, 3\,j - 1)$" in latex
    assert r"$w^{\mathrm{rot}}_{c,f,k,l} = w_{f,c,K_H-1-k,K_W-1-l}$" in latex
    assert r"&db_f = \sum_{n,i,j} dy_{n,f,i,j}" in latex
    text = operator_document(d, "text", 1)
    assert "dy~: dy with (1, 2) zeros inserted between neighbouring entries (stride (2, 3)), placed in a 7x7 grid " \
           "of zeros per slice: dy[..., i, j] goes to (2*i, 3*j - 3); the entries that land outside it are dropped " \
           "(their windows lie wholly in the padding)" in text
    assert "w_rot[c, f, k, l] = w[f, c, KH+1-k, KW+1-l]" in text
    assert "db[f] = sum_{n, i, j} dy[n, f, i, j]" in text
    identities = json.loads(operator_document(d, "json", 1))["identities"]  # JSON keys count from 0
    assert "dy[..., i, j] goes to (2*i + 1, 3*j - 1)" in identities[2]


PLAIN = [  # the layers whose identity lines say each thing and its opposite
    ("conv1d", (1, 1, 5), (1, 1, 2), {}),
    ("conv1d", (1, 1, 7), (1, 1, 2), dict(stride=2, dilation=2)),
    ("conv1d", (1, 1, 6), (1, 1, 2), dict(stride=3, padding=2)),
    ("conv2d", (1, 1, 4, 4), (1, 1, 2, 2), dict(stride=2, padding=1)),
    ("conv2d", (1, 1, 6, 5), (1, 1, 1, 1), dict(stride=(2, 1), padding=(1, 0))),
]


@pytest.mark.parametrize("case", PLAIN, ids=[f"{k}-{'x'.join(map(str, x))}-{o}" for k, x, _, o in PLAIN])
def test_the_plain_words_are_true_of_the_arrays(case):
    """Zeros inserted, the grid's size, dropped entries, x_pad's size, taps and kept results: each against the arrays."""
    spec = _spec(case)
    text = operator_document(derive(spec), "text")
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("    ")}
    dy = np.arange(1, 1 + int(np.prod(spec.output_shape))).reshape(spec.output_shape)
    tilde = spread_dy(spec, dy)
    inserted = [s - 1 for s in spec.stride]
    if any(inserted):
        said = inserted[0] if len(set(inserted)) == 1 else tuple(inserted)
        assert f"with {said} zero" in lines["dy~"]
    else:
        assert "with nothing inserted between its entries (stride 1)" in lines["dy~"]
    assert "x".join(map(str, tilde.shape[2:])) + (" zeros" if spec.ndim == 1 else " grid") in lines["dy~"]
    assert ("are dropped" in lines["dy~"]) == (np.count_nonzero(tilde) < dy.size)
    assert ("output_padding" in lines) == any(output_padding(spec))
    read = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in
            zip(spec.output_shape[2:], spec.stride, spec.dilation, spec.weight[2:])]
    assert f"over the {'x'.join(map(str, read))} positions the windows read" in lines["x_pad"]
    kernel = next(line for name, line in lines.items() if name.startswith("(*)^"))
    assert ("only one result in" in kernel) == any(d > 1 for d in spec.dilation)
    assert ("entries next to each other (stride 1)" in kernel) == all(s == 1 for s in spec.stride)
    assert "taps 1 apart" not in text and "read every" not in text  # the old wording


@pytest.mark.parametrize("base", [0, 1])
@pytest.mark.parametrize("case", [c for c in LAYERS if "groups" not in c[3]],
                         ids=[i for i, c in zip(IDS, LAYERS) if "groups" not in c[3]])
def test_the_stated_placement_and_rotation_are_the_arrays(case, base):
    """dy_{i} is where the identity line says (counted from base) and nowhere else; w_rot reverses as it says."""
    spec = _spec(case)
    dy, _, w = _random(spec, seed=2)
    tilde, rot = spread_dy(spec, dy), rotate_w(spec, w)
    expected = np.zeros_like(tilde)
    placement = dy_placement(spec, base)
    for index in np.ndindex(*dy.shape):
        at = tuple(s * (i + base) + offset - base for (s, offset), i in zip(placement, index[2:]))
        if all(0 <= p < n for p, n in zip(at, tilde.shape[2:])):  # entries before the start are dropped
            expected[index[:2] + at] = dy[index]
    np.testing.assert_array_equal(tilde, expected)
    flip = 1 if base else -1  # K-1-k from 0, K+1-k from 1
    for f, c in np.ndindex(*spec.weight[:2]):
        for tap in np.ndindex(*spec.weight[2:]):
            source = tuple(k + flip - (t + base) - base for k, t in zip(spec.weight[2:], tap))
            assert rot[c, f][tap] == w[f, c][source]


@pytest.mark.parametrize("base", [0, 1])
@pytest.mark.parametrize("kind, shape, weight", [("conv1d", (1, 1, 5), (1, 1, 2)),
                                                 ("conv2d", (2, 1, 5, 6), (1, 1, 3, 2))])
def test_operator_document_compiles_counted_from_either_base(kind, shape, weight, base, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    d = derive(conv_spec(kind, shape, weight, stride=2, padding=1))
    (tmp_path / "o.tex").write_text(operator_document(d, "latex", base, True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "o.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout[-2000:]
