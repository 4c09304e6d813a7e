"""Symbolic tensors: the elements ``x[n, c, i, j]`` a derivation speaks of, and tables of their products.

* :mod:`symconv.symbolic.tensors`: names and ``IndexedBase`` elements;
* :mod:`symconv.symbolic.terms`: sums of products held as integer arrays
  (:class:`~symconv.symbolic.terms.TermTable`), the form of a convolution.

The layer rules build their forwards from these and the engine
differentiates them; this package imports neither.
"""
