r"""The losses a derivation can end in: each one's definition, reference and words.

A loss is written as a sum of terms, each with the elements of y it reads,
already divided by the reduction's divisor; the engine differentiates the
terms (:mod:`symconv.engine.loss`), so dy = dL/dy is derived from this
definition, never typed in:

* mse: one term per element, ``(y[i] - t[i])^2 / M``;
* cross-entropy: one term per sample,
  ``(log(sum_k exp(y[n, k])) - sum_k [t[n] = k] y[n, k]) / N``: the label's
  logit ``y[n, t[n]]`` picked by the indicator ``[t[n] = k]``, which SymPy
  holds as ``KroneckerDelta(k, t[n])`` (printed as an Iverson bracket, and
  read back by ``parse_expr``). Each ``t[n]`` stands for an integer label in
  0..K-1.

The sum loss ``L = sum(dy * y)`` has no rule: its dy is given, not derived.

>>> from symconv.spec.loss import loss_spec
>>> loss_rule_for(loss_spec("mse", "sum", (1, 2))).terms(loss_spec("mse", "sum", (1, 2)))[0]
((-t[0, 0] + y[0, 0])**2, [y[0, 0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from symconv.errors import SymconvError
from symconv.symbolic.tensors import element, indices

# SymPy and the reference kernels are imported where a loss's terms or reference are built: the
# printers read this table's words for every document, most of which have no derived loss.


@dataclass(frozen=True)
class LossRule:
    """One loss.

    * ``terms(loss)``: ``[(term, [elements of y it reads])]``, their sum being L;
    * ``reference(loss)``: ``(terms(y, t), backward(y, t))`` in NumPy: the
      unreduced terms (their sum over divisor is L) and dy;
    * ``rational``: dy is a rational function of y and t, so it is checked in
      exact arithmetic (and central differences of L have no truncation error);
    * ``saturates``: large logits saturate it (softmax), so the verifier
      draws weights at PyTorch's initialization scale
      (:func:`symconv.verify.loop.at_init_scale`);
    * ``draw_target(loss, rng)``, ``exact_target(loss, rng)``: t at float and at
      rational values (labels for cross-entropy); ``given_target(loss, flat,
      exact)`` the user's values (:func:`symconv.spec.loss.read_target`) as such an array;
    * ``chain(loss)``: dy as the first step of a stack's chain, ``(lhs, rhs)`` in LaTeX;
    * ``definition(loss)``: L in LaTeX (inline) and in plain text;
    * ``words(loss)``: what the loss is, for titles.
    """

    kinds: tuple[str, ...]
    terms: Callable
    reference: Callable
    rational: bool
    saturates: bool
    draw_target: Callable
    exact_target: Callable
    given_target: Callable
    chain: Callable
    definition: Callable
    words: Callable


def _scale(loss):
    from sympy import Rational

    return Rational(1, loss.divisor)


def _fraction_array(numerators, denominators):
    array = np.empty(numerators.shape, dtype=object)
    for index in np.ndindex(*numerators.shape):
        array[index] = Fraction(int(numerators[index]), int(denominators[index]))
    return array


def _given_numbers(loss, flat, exact):
    if not exact:
        return np.array([float(v) for v in flat]).reshape(loss.target_shape)
    array = np.empty(len(flat), dtype=object)
    array[:] = [Fraction(v) for v in flat]
    return array.reshape(loss.target_shape)


def _over(loss, text_form: bool = False) -> str:
    """The reduction's factor in front of a formula: ``\\frac{1}{4}``, ``1/4*``, or nothing."""
    if loss.divisor == 1:
        return ""
    return f"1/{loss.divisor}*" if text_form else r"\frac{1}{%d}" % loss.divisor


# -- mse --------------------------------------------------------------------------------------------

def _mse_terms(loss):
    from sympy import Mul, Pow

    scale, terms = _scale(loss), []
    for i in indices(loss.output):
        y = element("y", i)
        # Pow and Mul unevaluated: evaluating either asks SymPy's assumptions of the sum (about 2 ms each);
        # nothing simplifies, and the derivative (evaluated) comes out the same.
        square = Pow(y - element("t", i), 2, evaluate=False)
        terms.append((square if scale == 1 else Mul(scale, square, evaluate=False), [y]))
    return terms


def _mse_reference(loss):
    from symconv.reference.loss import mse_backward, mse_terms

    return (lambda y, t: mse_terms(y, t)), (lambda y, t: mse_backward(y, t, loss.divisor))


def _mse_chain(loss):
    factor = Fraction(2, loss.divisor)
    p, q = factor.numerator, factor.denominator
    shown = "" if factor == 1 else str(p) if q == 1 else r"\frac{%d}{%d}" % (p, q)
    return [(r"\partial y", shown + (r"\," if shown else "") + "(y - t)")]


def _mse_definition(loss):
    return (_over(loss) + r"\sum_{i} (y_{i} - t_{i})^2", _over(loss, True) + "sum_i (y[i] - t[i])^2")


def _mse_words(loss):
    size = int(np.prod(loss.output))
    return "mse loss, " + ("summed" if loss.reduction == "sum" else f"mean over the {size} elements of y")


# -- cross-entropy ----------------------------------------------------------------------------------

def _ce_terms(loss):
    from sympy import Add, KroneckerDelta, Mul, exp, log

    n_samples, classes = loss.output
    scale, terms = _scale(loss), []
    for n in range(n_samples):
        row = [element("y", (n, k)) for k in range(classes)]
        label = element("t", (n,))
        picked = Add(*[KroneckerDelta(k, label) * logit for k, logit in enumerate(row)])
        # Held unevaluated: SymPy would distribute the scale and the minus over every
        # term of the row (a third of a second for K = 30); the derivative is the same.
        inside = Add(log(Add(*[exp(logit) for logit in row])), Mul(-1, picked, evaluate=False), evaluate=False)
        terms.append((Mul(scale, inside, evaluate=False), row))
    return terms


def _ce_reference(loss):
    from symconv.reference.loss import cross_entropy_backward, cross_entropy_terms

    return (lambda y, t: cross_entropy_terms(y, t)), (lambda y, t: cross_entropy_backward(y, t, loss.divisor))


def _labels(loss, rng):
    n_samples, classes = loss.output
    return rng.integers(0, classes, size=n_samples)


def _ce_chain(loss):
    inside = r"\operatorname{softmax}(y_{n})_{k} - [t_{n} = k]"
    return [(r"\partial y_{n,k}", inside if loss.divisor == 1 else _over(loss) + r"\left(" + inside + r"\right)")]


def _ce_definition(loss):
    return (_over(loss) + r"\sum_{n} \left(\log \sum_{k} e^{y_{n,k}} - y_{n,t_{n}}\right)",
            _over(loss, True) + "sum_n (log(sum_k exp(y[n,k])) - y[n,t[n]])")


def _ce_words(loss):
    return "cross-entropy loss, " + ("summed over the batch" if loss.reduction == "sum"
                                     else f"mean over the batch of N = {loss.output[0]}")


#: Each derived loss's rule, keyed by the loss's name (``--loss``).
LOSS_RULES = {
    "mse": LossRule(
        kinds=("mse",), terms=_mse_terms, reference=_mse_reference, rational=True, saturates=False,
        draw_target=lambda loss, rng: rng.standard_normal(loss.target_shape),
        exact_target=lambda loss, rng: _fraction_array(rng.integers(-9, 10, size=loss.target_shape),
                                                       rng.integers(1, 10, size=loss.target_shape)),
        given_target=_given_numbers,
        chain=_mse_chain, definition=_mse_definition, words=_mse_words,
    ),
    "cross_entropy": LossRule(
        kinds=("cross_entropy",), terms=_ce_terms, reference=_ce_reference, rational=False, saturates=True,
        draw_target=_labels, exact_target=_labels,
        given_target=lambda loss, flat, exact: np.array(flat, dtype=np.int64).reshape(loss.target_shape),
        chain=_ce_chain, definition=_ce_definition, words=_ce_words,
    ),
}


def loss_rule_for(loss) -> LossRule:
    """The rule of a derived loss; a :class:`SymconvError` for one symconv does not derive."""
    rule = LOSS_RULES.get(getattr(loss, "kind", None))
    if rule is None:
        raise SymconvError(f"loss: got {getattr(loss, 'kind', loss)!r}, expected one of {', '.join(LOSS_RULES)}")
    return rule
