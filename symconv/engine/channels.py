r"""The chain rule through a :class:`~symconv.symbolic.channels.ChannelGraph`, kept compact.

Reverse mode, step by step from y back to x: a step ``z = f(a, ...)``
sends its adjoint ``dz`` to each input ``a`` as ``dz * df/da`` (SymPy's
``diff`` of the step's own definition), summed over the channel when ``a``
has one value per channel; a mean ``z = mean(f)`` sends ``dz df/da / M``.
Nothing about any layer's gradient is written here.

The sums over a channel are then reduced, using only the graph's own
definitions:

* every element-wise value is written in the *basis* of the last
  intermediate linear in x (for batch norm, ``x = mu + xhat sqrt(var + eps)``,
  solved from xhat's definition), expanded, and every factor that is constant
  on the channel is taken out of the sum;
* the definition of each mean, written in that basis, fixes one more sum:
  ``mean(x) = mu`` gives ``sum xhat = 0`` (and ``mean((x - mu)^2) = var`` gives
  ``sum xhat^2``);
* the sums left are the channel's sums of products such as ``sum dy`` and
  ``sum dy xhat``; a parameter's gradient equal to one of them names it
  (``db``, ``dw``), and dx reads it from there.

For batch norm this gives, with no formula typed in, the compact textbook
form: ``dx = w / sqrt(var + eps) * (dy - db/M - xhat dw/M)``. Only then is
every element written out, each entry a few terms, so the cost is linear in
the size (11 terms per element of x).

>>> from symconv.symbolic.channels import ChannelGraph, ChannelStep
>>> graph = ChannelGraph.build((2, 1), {"x": "x", "m": "m", "y": "y", "dy": "dy"}, [], per_channel=("m",))
>>> x, m = graph.symbols["x"], graph.symbols["m"]
>>> graph = graph.with_steps([ChannelStep("m", True, x), ChannelStep("y", False, x - m)])
>>> forward, steps, gradients, shapes = derive_channels(graph)
>>> steps["m"][(0,)], forward[(1, 0)], gradients["dx"][(0, 0)]
(x[0, 0]/2 + x[1, 0]/2, -m[0] + x[1, 0], dy[0, 0]/2 - dy[1, 0]/2)
"""

from __future__ import annotations

from collections import defaultdict

from sympy import Add, Dummy, Function, Integer, Mul, Pow, S, diff, expand, factor_terms

from symconv.symbolic.tensors import element, gradient_name, indices


class ChannelSum(Function):
    """The sum of an element-wise expression over one channel's M values (kept unevaluated)."""


def _per_channel(graph, role: str) -> bool:
    """A role, or the gradient of one (``dw``), that has one value per channel."""
    return role in graph.per_channel or (role.startswith("d") and role[1:] in graph.per_channel)


def _adjoints(graph, upstream, count):
    """The adjoint of x and of every parameter, as channel-level expressions with ChannelSums."""
    symbols = graph.symbols
    adjoint = defaultdict(lambda: S.Zero)
    adjoint["y"] = upstream
    for step in reversed(graph.steps):
        incoming = adjoint.pop(step.role)
        for role, symbol in symbols.items():
            if role == step.role or not step.expr.has(symbol):
                continue
            contribution = incoming * diff(step.expr, symbol)
            if step.mean:
                contribution = contribution / count
            if role in graph.per_channel:
                contribution = ChannelSum(contribution)
            adjoint[role] += contribution
    return adjoint


class _Reducer:
    """Sums over a channel, reduced with the graph's definitions (see the module docstring)."""

    def __init__(self, graph, count):
        self.count = Integer(count)
        self.element = {graph.symbols[r] for r in graph.symbols if not _per_channel(graph, r)}
        # A sum constant on the channel under a root or a power (var + eps) stands as one symbol while
        # sums are reduced: expand() would otherwise multiply numbers into it (1/(2 var + 1/50000)),
        # and its powers would no longer cancel.
        bases = {p.base for step in graph.steps for p in step.expr.atoms(Pow)
                 if isinstance(p.base, Add) and not p.base.free_symbols & self.element}
        self.hidden = {base: Dummy("s") for base in bases}
        self.shown = {symbol: base for base, symbol in self.hidden.items()}
        self.basis = self._basis(graph)
        self.known = {}
        for step in graph.steps:
            if step.mean:
                self._learn(step.expr, graph.symbols[step.role])

    def _basis(self, graph):
        """x in terms of the last element-wise intermediate z = a x + c (a, c constant on the channel).

        Solved as ``x = (z - c) / a`` rather than by ``solve``, which would
        rewrite ``sqrt(var + 1/100000)`` as ``sqrt(1000000 var + 10)/1000`` and
        hide the powers of ``var + eps`` that must cancel. No such step: x itself.
        """
        x = graph.symbols["x"]
        for step in reversed(graph.steps[:-1]):
            slope = diff(step.expr, x)
            if not step.mean and slope != 0 and not slope.has(x):
                offset = step.expr.xreplace({x: S.Zero})
                return {x: self.hide(expand((graph.symbols[step.role] - offset) / slope))}
        return {}

    def hide(self, expr):
        return expr.xreplace(self.hidden)

    def show(self, expr):
        return expr.xreplace(self.shown)

    def split(self, expr):
        """``[(constant on the channel, element-wise part)]`` for each term of the expanded ``expr``."""
        parts = []
        for term in Add.make_args(expand(self.hide(expr).xreplace(self.basis))):
            inside, outside = [], []
            for factor in Mul.make_args(term):
                varies = not factor.has(ChannelSum) and bool(factor.free_symbols & self.element)
                (inside if varies else outside).append(factor)
            parts.append((Mul(*outside), Mul(*inside)))
        return parts

    def _learn(self, summand, mean):
        """``sum summand = M * mean``: solved for the one sum it leaves unknown, if one."""
        rest, unknown = S.Zero, defaultdict(lambda: S.Zero)
        for outside, inside in self.split(summand):
            value = self.sum_of(inside)
            if isinstance(value, ChannelSum):
                unknown[inside] += outside
            else:
                rest += outside * value
        if len(unknown) == 1:
            (inside, coefficient), = unknown.items()
            self.known[inside] = factor_terms(expand((self.count * mean - rest) / coefficient))

    def sum_of(self, inside):
        if inside == 1:
            return self.count
        return self.known.get(inside, ChannelSum(inside))

    def reduce(self, expr):
        """``expr`` with every ChannelSum reduced, innermost first, and x in the basis."""
        reduced = self.hide(expr).replace(lambda e: isinstance(e, ChannelSum), self._reduce_sum)
        return expand(reduced.xreplace(self.basis))

    def _reduce_sum(self, total):
        return Add(*(outside * self.sum_of(inside) for outside, inside in self.split(total.args[0])))


def _named_sums(graph, gradients):
    """``{ChannelSum(e): D_p / c}`` for each parameter gradient ``D_p = c * ChannelSum(e)``."""
    names = {}
    for role in graph.parameters:
        coefficient, rest = gradients[role].as_coeff_Mul()
        if isinstance(rest, ChannelSum):
            names[rest] = graph.symbols[gradient_name(role)] / coefficient
    return names


class _Writer:
    """Channel-level expressions written out per element, with the graph's tensor names."""

    def __init__(self, graph):
        self.graph = graph
        self.channels = defaultdict(list)
        for index in indices(graph.shape):
            self.channels[index[1]].append(index)
        self.roles = {symbol: role for role, symbol in graph.symbols.items()}

    def _at(self, index, symbols):
        """Each of ``symbols`` as its tensor's element at ``index`` (its channel's, for a per-channel one)."""
        graph = self.graph
        return {symbol: element(graph.names[role], (index[1],) if _per_channel(graph, role) else index)
                for symbol, role in ((s, self.roles[s]) for s in symbols)}

    def _written_sums(self, expr, channel):
        """``expr`` with every sum over the channel written out, term by term."""
        def write(total):
            summand = total.args[0]
            symbols = summand.free_symbols
            return Add(*(summand.xreplace(self._at(i, symbols)) for i in self.channels[channel]))

        return expr.replace(lambda e: isinstance(e, ChannelSum), write)

    def elements(self, expr) -> dict:
        """An element-wise expression at every index of x (a sum left unnamed written out: dense)."""
        table = {}
        for channel, members in self.channels.items():
            here = self._written_sums(expr, channel) if expr.has(ChannelSum) else expr
            symbols = {s for s in here.free_symbols if s in self.roles}
            for index in members:
                table[index] = here.xreplace(self._at(index, symbols))
        return {index: table[index] for index in indices(self.graph.shape)}

    def channel_sums(self, expr) -> dict:
        """A per-channel expression (its sums over the channel written out) at every channel."""
        table = {}
        for channel, members in sorted(self.channels.items()):
            here = self._written_sums(expr, channel)
            table[(channel,)] = here.xreplace(self._at(members[0], here.free_symbols & set(self.roles)))
        return table


def derive_channels(graph, scale=1):
    """``(forward, intermediates, gradients, shapes)`` of a channel graph.

    ``forward`` is y's table; ``intermediates`` every other step's table, in
    forward order; ``gradients`` each parameter's gradient, then dx (which
    reads them); ``shapes`` names every tensor. ``scale`` multiplies the
    upstream gradient (the mean reduction's 1/N).
    """
    count = graph.count
    symbols, writer = graph.symbols, _Writer(graph)
    adjoint = _adjoints(graph, scale * symbols["dy"], count)
    reducer = _Reducer(graph, count)
    reduced = {role: reducer.reduce(adjoint[role]) for role in (*graph.parameters, "x")}
    dx = reducer.show(factor_terms(expand(reduced["x"].xreplace(_named_sums(graph, reduced)))))
    reduced = {role: reducer.show(value) for role, value in reduced.items()}
    intermediates, shapes = {}, {}
    for step in graph.steps[:-1]:
        name = graph.names[step.role]
        if step.mean:
            intermediates[name] = writer.channel_sums(ChannelSum(step.expr) / count)
        else:
            intermediates[name] = writer.elements(step.expr)
        shapes[name] = graph.shape_of(step.role)
    gradients = {gradient_name(graph.names[role]): writer.channel_sums(reduced[role]) for role in graph.parameters}
    gradients[gradient_name(graph.names["x"])] = writer.elements(dx)
    forward = writer.elements(graph.steps[-1].expr)
    return forward, intermediates, gradients, shapes
