"""The seeds' worked examples, asserted exactly.

Each expected value below is transcribed from a hand derivation in
shared/seeds/ (1-based where the seed is 1-based), never produced by symconv.
"""

from sympy import Add, KroneckerDelta, S

from conftest import layer, one_based as e
from symconv.symbolic.tensors import element


def test_1d_x4_w2_forward_and_gradients():
    """Seeds 000/002: x of 4, w of 2, stride 1, no padding."""
    d = layer("conv1d", (1, 1, 4), (1, 1, 2))
    y, g = d.forward, d.gradients
    assert y[(0, 0, 0)] == e("w", 1) * e("x", 1) + e("w", 2) * e("x", 2) + e("b")
    assert y[(0, 0, 1)] == e("w", 1) * e("x", 2) + e("w", 2) * e("x", 3) + e("b")
    assert y[(0, 0, 2)] == e("w", 1) * e("x", 3) + e("w", 2) * e("x", 4) + e("b")
    assert g["db"][(0,)] == e("dy", 1) + e("dy", 2) + e("dy", 3)
    assert g["dw"][(0, 0, 0)] == e("x", 1) * e("dy", 1) + e("x", 2) * e("dy", 2) + e("x", 3) * e("dy", 3)
    assert g["dw"][(0, 0, 1)] == e("x", 2) * e("dy", 1) + e("x", 3) * e("dy", 2) + e("x", 4) * e("dy", 3)
    # dx is the zero-padded dy convolved with the flipped w.
    assert g["dx"][(0, 0, 0)] == e("dy", 1) * e("w", 1)
    assert g["dx"][(0, 0, 1)] == e("dy", 1) * e("w", 2) + e("dy", 2) * e("w", 1)
    assert g["dx"][(0, 0, 2)] == e("dy", 2) * e("w", 2) + e("dy", 3) * e("w", 1)
    assert g["dx"][(0, 0, 3)] == e("dy", 3) * e("w", 2)


def test_2d_4x4_w2x2_forward(seed_4x4):
    """Seed 002, equation (1): y_ij = sum_kl w_kl x_{i+k-1, j+l-1} + b."""
    assert seed_4x4.forward[(0, 0, 0, 0)] == (
        e("w", 1, 1) * e("x", 1, 1) + e("w", 1, 2) * e("x", 1, 2)
        + e("w", 2, 1) * e("x", 2, 1) + e("w", 2, 2) * e("x", 2, 2) + e("b")
    )
    for i in range(1, 4):
        for j in range(1, 4):
            expected = Add(*(e("w", k, l) * e("x", i + k - 1, j + l - 1) for k in (1, 2) for l in (1, 2)))
            assert seed_4x4.forward[(0, 0, i - 1, j - 1)] == expected + e("b")


def test_2d_4x4_dx_is_padded_dy_convolved_with_flipped_w(seed_4x4):
    """Seed 002, equation (7): dx_mn = sum_ij dy_ij w_{m-i+1, n-j+1}, w extended by 0."""
    for m in range(1, 5):
        for n in range(1, 5):
            terms = [
                e("dy", i, j) * e("w", m - i + 1, n - j + 1)
                for i in range(1, 4)
                for j in range(1, 4)
                if 1 <= m - i + 1 <= 2 and 1 <= n - j + 1 <= 2
            ]
            assert seed_4x4.gradients["dx"][(0, 0, m - 1, n - 1)] == Add(*terms)
    # The seed's two corners: dx_11 = dy_11 w_11 and dx_44 = dy_33 w_22.
    assert seed_4x4.gradients["dx"][(0, 0, 0, 0)] == e("dy", 1, 1) * e("w", 1, 1)
    assert seed_4x4.gradients["dx"][(0, 0, 3, 3)] == e("dy", 3, 3) * e("w", 2, 2)


def test_2d_4x4_dw_is_x_convolved_with_dy_and_db_is_sum(seed_4x4):
    for p in (1, 2):
        for q in (1, 2):
            expected = Add(*(e("dy", i, j) * e("x", i + p - 1, j + q - 1) for i in range(1, 4) for j in range(1, 4)))
            assert seed_4x4.gradients["dw"][(0, 0, p - 1, q - 1)] == expected
    assert seed_4x4.gradients["db"][(0,)] == Add(*(e("dy", i, j) for i in range(1, 4) for j in range(1, 4)))


def test_5x5_w3x3_stride2_seed_003():
    """Seed 003: o_11..o_22, dL/dx_13, dL/dw_11 (1-based, stride 2)."""
    d = layer("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), stride=2)
    starts = {(1, 1): (1, 1), (1, 2): (1, 3), (2, 1): (3, 1), (2, 2): (3, 3)}
    for (oi, oj), (xi, xj) in starts.items():
        expected = Add(*(e("x", xi + r, xj + c) * e("w", r + 1, c + 1) for r in range(3) for c in range(3)))
        assert d.forward[(0, 0, oi - 1, oj - 1)] == expected + e("b")
    dx, dw = d.gradients["dx"], d.gradients["dw"]
    assert dx[(0, 0, 0, 2)] == e("dy", 1, 1) * e("w", 1, 3) + e("dy", 1, 2) * e("w", 1, 1)
    assert dx[(0, 0, 0, 0)] == e("dy", 1, 1) * e("w", 1, 1)
    assert dx[(0, 0, 0, 1)] == e("dy", 1, 1) * e("w", 1, 2)
    assert dx[(0, 0, 0, 3)] == e("dy", 1, 2) * e("w", 1, 2)
    assert dx[(0, 0, 0, 4)] == e("dy", 1, 2) * e("w", 1, 3)
    assert dw[(0, 0, 0, 0)] == (
        e("dy", 1, 1) * e("x", 1, 1) + e("dy", 1, 2) * e("x", 1, 3)
        + e("dy", 2, 1) * e("x", 3, 1) + e("dy", 2, 2) * e("x", 3, 3)
    )


def test_5x5_w3x3_stride2_seed_001_y11():
    """Seed 001 (0-based): y_11 = sum_{p,q=2..4} x_pq w_{p-2,q-2} + b."""
    d = layer("conv2d", (1, 1, 5, 5), (1, 1, 3, 3), stride=2)
    expected = Add(*(
        element("x", (0, 0, p, q)) * element("w", (0, 0, p - 2, q - 2))
        for p in range(2, 5) for q in range(2, 5)
    ))
    assert d.forward[(0, 0, 1, 1)] == expected + element("b", (0,))


def _padded_x(n, c, i, j, size, pad):
    """Seed 001's x^pad: x shifted by P, zero outside."""
    h, w = size
    if 0 <= i - pad < h and 0 <= j - pad < w:
        return element("x", (n, c, i - pad, j - pad))
    return S.Zero


def test_seed_001_index_formulas_with_channels_stride_and_padding():
    """Seed 001's general results, Kronecker deltas and all, on N, C, F > 1.

    dL/dx_{n',c',i,j} = sum_{f,k,l,p,q} dy_{n',f,k,l} d(p+kS, i+P) d(q+lS, j+P) w_{f,c',p,q}
    dL/dw_{f',c',i,j} = sum_{n,k,l} dy_{n,f',k,l} x^pad_{n,c',i+Sk,j+Sl}
    dL/db_{f'}        = sum_{n,k,l} dy_{n,f',k,l}
    """
    N, C, F, H, W, HH, WW, S_, P = 2, 2, 3, 5, 6, 3, 2, 2, 1
    d = layer("conv2d", (N, C, H, W), (F, C, HH, WW), stride=S_, padding=P)
    _, _, Hh, Hw = d.spec.output_shape
    assert (Hh, Hw) == (1 + (H + 2 * P - HH) // S_, 1 + (W + 2 * P - WW) // S_)
    for (n, c, i, j), derived in d.gradients["dx"].items():
        formula = Add(*(
            element("dy", (n, f, k, l)) * KroneckerDelta(p + k * S_, i + P)
            * KroneckerDelta(q + l * S_, j + P) * element("w", (f, c, p, q))
            for f in range(F) for k in range(Hh) for l in range(Hw)
            for p in range(HH) for q in range(WW)
        ))
        assert derived == formula, (n, c, i, j)
    for (f, c, i, j), derived in d.gradients["dw"].items():
        formula = Add(*(
            element("dy", (n, f, k, l)) * _padded_x(n, c, i + S_ * k, j + S_ * l, (H, W), P)
            for n in range(N) for k in range(Hh) for l in range(Hw)
        ))
        assert derived == formula, (f, c, i, j)
    for (f,), derived in d.gradients["db"].items():
        assert derived == Add(*(element("dy", (n, f, k, l)) for n in range(N) for k in range(Hh) for l in range(Hw)))


def test_rows_no_window_reaches_get_zero_gradient():
    """H=6, K=3, S=2: output 2 rows cover input rows 0..4; row 5 is never read."""
    d = layer("conv2d", (1, 1, 6, 6), (1, 1, 3, 3), stride=2)
    assert d.spec.output_shape == (1, 1, 2, 2)
    for (_, _, i, j), value in d.gradients["dx"].items():
        assert (value == 0) == (i == 5 or j == 5)
