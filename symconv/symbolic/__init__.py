"""Symbolic tensors: the elements ``x[n, c, i, j]`` a derivation speaks of, and tables of their products.

* :mod:`symconv.symbolic.tensors`: names and ``IndexedBase`` elements;
* :mod:`symconv.symbolic.terms`: sums of products held as integer arrays
  (:class:`~symconv.symbolic.terms.TermTable`), the form of every layer's
  forward and gradients;
* :mod:`symconv.symbolic.space`: the ids of a table's factors: elements,
  factors computed from elements (:mod:`symconv.symbolic.atoms`: a max
  pool's winner indicators, a ReLU's ramp and step) and rational constants;
* :mod:`symconv.symbolic.strs`, :mod:`symconv.symbolic.exact`: SymPy's
  ``str`` of a table and its exact values, without SymPy;
* :mod:`symconv.symbolic.piecewise`: ``Piecewise`` objects built as SymPy
  builds them, for the expressions a table stands for.

The layer rules build their forwards from these and the engine
differentiates them; this package imports neither. SymPy is imported only
when an expression is asked for.
"""
