"""Counting, in closed form, the (output, tap) pairs of an axis that read the input.

The size guard (:func:`symconv.spec.size.check_size`) must answer at once however
large the layer it is refusing, so it cannot loop over taps or windows.

>>> window_counts(size=4, kernel=2, stride=1, dilation=1, before=0, out=3)
6
"""

from __future__ import annotations


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """``sum(floor((a*i + b) / m) for i in range(n))`` in O(log) steps (n >= 0, m >= 1, any a, b).

    The Euclid-like reduction of AtCoder Library's ``floor_sum``; Python's
    floor division makes it right for negative ``a`` and ``b`` too.

    >>> floor_sum(7, 3, -2, 5) == sum((-2 * i + 5) // 3 for i in range(7))
    True
    """
    total = 0
    while n > 0:
        quotient, a = divmod(a, m)
        total += quotient * (n * (n - 1) // 2)
        quotient, b = divmod(b, m)
        total += quotient * n
        top = a * n + b
        if top < m:
            break
        n, b = divmod(top, m)
        m, a = a, m
    return total


def window_counts(size, kernel, stride, dilation, before, out):
    """How many (output, tap) pairs of one axis land inside the input.

    Output o reads, at tap k, the input position o*S - P + k*D. For tap k that
    is inside x for B(k) = ceil((P - kD)/S) <= o <= floor((size - 1 + P - kD)/S)
    = A(k), so the count is the sum over k of min(out - 1, A(k)) - max(0, B(k)) + 1
    where that is positive. A and B fall as k grows: the taps that reach the
    input form one range, split in at most three pieces by where the clamps
    bite, and each piece is a sum of floors (:func:`floor_sum`). The guard
    thus answers at once whatever the sizes, as it must before refusing them.
    """
    s, d, p = stride, dilation, before
    lo = max(0, ceil_div(p - (out - 1) * s, d))    # B(k) <= out - 1 from here on
    hi = min(kernel - 1, (size - 1 + p) // d)       # A(k) >= 0 up to here
    if lo > hi:
        return 0
    full = (size - 1 + p - (out - 1) * s) // d      # A(k) >= out - 1 up to here
    start = ceil_div(p, d)                         # B(k) <= 0 from here on

    def sum_a(first, last):  # sum of A(k) = floor((size - 1 + p - d*k) / s)
        return floor_sum(last - first + 1, s, -d, size - 1 + p - d * first) if last >= first else 0

    def sum_b(first, last):  # sum of B(k) = -floor((d*k - p) / s)
        return -floor_sum(last - first + 1, s, d, d * first - p) if last >= first else 0

    upper = (out - 1) * max(0, min(hi, full) - lo + 1) + sum_a(max(lo, full + 1), hi)
    lower = sum_b(lo, min(hi, start - 1))
    return upper - lower + (hi - lo + 1)
