"""How layer-specific constructs read, shared by the LaTeX and text printers.

SymPy would print max pooling's first-maximum indicators as walls of
comparisons and ReLU as a ``Piecewise``; a reader of the seeds expects
``max(...)``, Iverson brackets and a common factor taken out. Likewise
sigmoid, held as ``1/(1 + exp(-x))`` (so that its JSON string reads back),
reads ``sigma(x)``, its derivative ``exp(-x)/(1 + exp(-x))**2`` reads
``sigma(x)(1 - sigma(x))``, tanh's ``1 - tanh(x)^2``, and a batch norm's
``var + 1/100000`` reads ``var + eps``. A printer that mixes in
:class:`ReadableNotation` gets those, and supplies only its own spelling of
each construct (``SPELLING``) and of an element (``element_text``).
A loss's dy reads as the hand derivations write it: ``softmax(y_n)_k - [t_n = k]``
for cross-entropy (SymPy's ``exp(y[n, k])/(...)`` and ``KroneckerDelta(k, t[n])``).
"""

from __future__ import annotations

from sympy import Add, Indexed, Integer, Mul, Pow, Rational, exp, tanh

from symconv.printing.present import (
    display_key,
    indicator_parts,
    relu_input,
    softmax_parts,
    split_name,
    upstream_element,
    window_maximum,
)


class ReadableNotation:
    """Mixin for SymPy printers: max, Iverson brackets, common factors, term order."""

    #: {"max": "...%s...", "bracket": "...%s...", "factor": "...{p}...{q}...", "integer": "{p}...",
    #:  "open": "(", "close": ")", "iverson": "[%s]", "softmax": "...%s...%s...", "row": "%s...%s...",
    #:  "sigma": "...%s...", "dsigma": "...%(z)s...", "dtanh": "...%s...", "eps": "...", "times": " ",
    #:  "normalized": "...%(num)s...%(den)s...%(sum)s..."}
    SPELLING: dict = {}

    def _print_Pow(self, expr, *args, **kwargs):
        z = sigmoid_argument(expr)
        if z is not None:
            return self.SPELLING["sigma"] % self._print(z)
        return super()._print_Pow(expr, *args, **kwargs)

    def _print_Add(self, expr, *args, **kwargs):
        z = tanh_derivative_argument(expr)
        if z is not None:
            return self.SPELLING["dtanh"] % self._print(z)
        variance = epsilon_sum(expr)
        if variance is not None:
            return self._print(variance) + " + " + self.SPELLING["eps"]
        return super()._print_Add(expr, *args, **kwargs)

    def _as_ordered_terms(self, expr, order=None):
        return sorted(Add.make_args(expr), key=display_key)

    def factor_text(self, number) -> str:
        """A rational factor in front of a term or a bracket: ``\\frac{1}{2}\\,`` or ``2\\,``."""
        if number.q == 1:
            return self.SPELLING["integer"].format(p=number.p)
        return self.SPELLING["factor"].format(p=number.p, q=number.q)

    def _print_KroneckerDelta(self, expr):
        # A loss's label indicator KroneckerDelta(k, t[n]), read [t_n = k].
        numbers = [a for a in expr.args if a.is_Integer]
        if len(numbers) != 1:
            return self.SPELLING["iverson"] % " = ".join(self._print(a) for a in expr.args)
        label = next(a for a in expr.args if a is not numbers[0])
        return self.SPELLING["iverson"] % f"{self._print(label)} = {int(numbers[0]) + self.style.base}"

    def _print_softmax(self, coefficient, logit, row) -> str:
        head = ",".join(str(int(i) + self.style.base) for i in logit.indices[:-1])
        text = self.SPELLING["softmax"] % (self.SPELLING["row"] % (logit.base.name, head),
                                           int(logit.indices[-1]) + self.style.base)
        return text if coefficient == 1 else self.factor_text(coefficient) + text

    def _print_Mul(self, expr):
        softmax = softmax_parts(expr)
        if softmax is not None:
            return self._print_softmax(*softmax)
        factors = Mul.make_args(expr)
        derivative = sigmoid_derivative(factors)
        if derivative is not None:
            z, rest = derivative
            text = self.SPELLING["dsigma"] % {"z": self._print(z)}
            return self._print(Mul(*rest)) + self.SPELLING["times"] + text if rest else text
        sums = [f for f in factors if isinstance(f, Add)]
        roots = [f for f in factors if isinstance(f, Pow) and f.exp == Rational(-1, 2) and epsilon_sum(f.base) is not None]
        rest = [f for f in factors if f not in sums and f not in roots]
        if len(sums) == 1 and len(roots) == 1 and rest:
            # A batch norm's dx: w/sqrt(var + eps), then the bracket (dy - db/M - xhat dw/M).
            return self.SPELLING["normalized"] % {"num": self._print(Mul(*rest)), "den": self._print(roots[0].base),
                                                  "sum": self._print(sums[0])}
        if len(sums) == 1 and tanh_derivative_argument(sums[0]) is not None:
            rest = [f for f in factors if f is not sums[0]]  # dy first, then (1 - tanh^2)
            inside = self.SPELLING["open"] + self._print(sums[0]) + self.SPELLING["close"]
            return self._print(Mul(*rest)) + self.SPELLING["times"] + inside if rest else inside
        # A 0/1 Piecewise factor is an Iverson bracket: [x_12 = m_11] for max
        # pooling's winner (named after the dy it multiplies), else [cond].
        brackets = [(f, indicator_parts(f)) for f in factors if indicator_parts(f) is not None]
        if len(brackets) != 1:
            return super()._print_Mul(expr)
        factor, (condition, winner) = brackets[0]
        rest = [f for f in factors if f is not factor]
        upstream = upstream_element(rest)
        if winner is not None and upstream is not None:
            # The winner is named after the output whose gradient it takes:
            # m for y, m3 for a stack's h3 (whose gradient is dh3).
            _, layer = split_name(upstream.base.name)
            inside = self._print(winner) + " = " + self.element_text("m" + layer, upstream.indices)
        else:
            inside = self._print(condition)
        return self._print(Mul(*rest)) + self.SPELLING["bracket"] % inside

    def _print_Piecewise(self, expr):
        z = relu_input(expr)
        if z is not None:
            return self.SPELLING["max"] % (self._print(z) + ", 0")
        print_cases = getattr(super(), "_print_Piecewise", None)
        if print_cases is not None:
            return print_cases(expr)
        # Plain text: (a if cond else b), the way the pieces are tried.
        *pieces, (last, _) = expr.args
        text = self._print(last)
        for value, condition in reversed(pieces):
            text = f"{self._print(value)} if {self._print(condition)} else {text}"
        return "(" + text + ")"

    def signed_terms(self, expr) -> list[str]:
        """The terms of ``expr`` in reading order, each after its sign but the first's."""
        window = window_maximum(expr)
        if window is not None:
            return [self.SPELLING["max"] % ", ".join(self._print(e) for e in window)]
        terms = [_softmax_with_coefficient(term) for term in self._as_ordered_terms(expr)]
        common = _common_coefficient(terms)
        if common is not None:
            terms = [term / common for term in terms]
        texts = []
        for position, term in enumerate(terms):
            if term.could_extract_minus_sign():
                sign, term = "- ", -term
            else:
                sign = "+ " if position else ""
            text = self._print(term)
            if getattr(self, "_needs_add_brackets", lambda t: False)(term):
                text = self.SPELLING["open"] + text + self.SPELLING["close"]
            texts.append(sign + text)
        if common is not None and len(texts) > 1:
            texts[0] = self.factor_text(common) + "(" + texts[0]
            texts[-1] += ")"
        elif common is not None:
            texts[0] = self.factor_text(common) + texts[0]
        return texts


def _softmax_with_coefficient(term):
    """A softmax term with the number in its sum taken out as its coefficient (``exp/(2a + 2b)`` -> ``1/2 exp/(a + b)``)."""
    parts = softmax_parts(term)
    if parts is None:
        return term
    coefficient, logit, row = parts
    return Mul(coefficient, exp(logit), Pow(Add(*[exp(e) for e in row]), Integer(-1)))


def _common_coefficient(terms):
    """The rational coefficient (not 1) shared by all terms, as average pooling has.

    A loss's ``1/3 y - 1/3 t`` shares one up to sign: its size is taken out.
    """
    coefficients = {term.as_coeff_Mul()[0] for term in terms}
    sizes = {abs(c) for c in coefficients}
    if len(coefficients) != 1 and len(sizes) != 1:
        return None
    common = coefficients.pop() if len(coefficients) == 1 else sizes.pop()
    return common if isinstance(common, Rational) and common not in (1, -1) and len(terms) > 1 else None


def sigmoid_argument(expr):
    """``z`` if ``expr`` is ``1/(1 + exp(-z))``, sigmoid as symconv holds it, else None."""
    if isinstance(expr, Pow) and expr.exp == -1:
        return _one_plus_exp_minus(expr.base)
    return None


def _one_plus_exp_minus(base):
    """``z`` if ``base`` is ``1 + exp(-z)``."""
    if isinstance(base, Add) and len(base.args) == 2 and 1 in base.args:
        other = base.args[0] if base.args[1] == 1 else base.args[1]
        if isinstance(other, exp):
            return -other.args[0]
    return None


def sigmoid_derivative(factors):
    """``(z, other factors)`` if ``factors`` hold ``exp(-z)`` and ``(1 + exp(-z))**-2``:
    sigmoid's derivative, which is ``sigma(z)(1 - sigma(z))``."""
    for position, factor in enumerate(factors):
        if isinstance(factor, Pow) and factor.exp == -2:
            z = _one_plus_exp_minus(factor.base)
            if z is not None and exp(-z) in factors:
                rest = [f for i, f in enumerate(factors) if i != position and f != exp(-z)]
                return z, rest
    return None


def tanh_derivative_argument(expr):
    """``z`` if ``expr`` is ``1 - tanh(z)**2``, tanh's derivative as SymPy writes it."""
    if isinstance(expr, Add) and len(expr.args) == 2 and 1 in expr.args:
        other = expr.args[0] if expr.args[1] == 1 else expr.args[1]
        coefficient, power = other.as_coeff_Mul()
        if coefficient == -1 and isinstance(power, Pow) and power.exp == 2 and isinstance(power.base, tanh):
            return power.base.args[0]
    return None


def epsilon_sum(expr):
    """The variance element ``var`` if ``expr`` is ``var + eps`` (a batch norm's, eps a positive number)."""
    if isinstance(expr, Add) and len(expr.args) == 2:
        number, rest = expr.as_coeff_Add()
        if number.is_Rational and number > 0 and isinstance(rest, Indexed) and split_name(rest.base.name)[0] == "var":
            return rest
    return None
