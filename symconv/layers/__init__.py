"""The layer rule table: one module per kind family, one :class:`LayerRule` each.

* :mod:`symconv.layers.conv`: conv1d, conv2d, conv3d (without matrix pictures)
* :mod:`symconv.layers.conv_transpose`: conv_transpose1d, conv_transpose2d, and conv_transpose3d
  (without matrix pictures)
* :mod:`symconv.layers.maxpool`: maxpool1d, maxpool2d, maxpool3d
* :mod:`symconv.layers.avgpool`: avgpool1d, avgpool2d, avgpool3d
* :mod:`symconv.layers.adaptive`: adaptive_maxpool1d/2d, adaptive_avgpool1d/2d/3d (two rules)
* :mod:`symconv.layers.activation`: relu, leaky_relu
* :mod:`symconv.layers.smooth`: sigmoid, tanh
* :mod:`symconv.layers.linear`: linear; :mod:`symconv.layers.flatten`: flatten
* :mod:`symconv.layers.batchnorm`: batchnorm1d, batchnorm2d

:func:`rule_for` is the only place in symconv that asks which kind a spec
is; a kind without a rule is refused by name.

>>> from symconv.spec import pool_spec
>>> rule_for(pool_spec("maxpool2d", (1, 1, 4, 4), kernel=2)).winner
True
"""

from __future__ import annotations

from symconv.errors import SymconvError
from symconv.layers import (
    activation, adaptive, avgpool, batchnorm, conv, conv_transpose, flatten, linear, maxpool, smooth,
)
from symconv.layers.rule import LayerRule

#: Every layer kind's rule, keyed by the kind's name.
RULES: dict[str, LayerRule] = {kind: rule for rule in (conv.RULE, conv_transpose.RULE, conv_transpose.RULE_3D,
                                                       maxpool.RULE, avgpool.RULE, adaptive.MAX_RULE,
                                                       adaptive.AVG_RULE, activation.RULE, smooth.RULE, linear.RULE,
                                                       flatten.RULE, batchnorm.RULE)
                               for kind in rule.kinds}


def rule_for(spec) -> LayerRule:
    """The rule of ``spec``'s kind; a :class:`SymconvError` naming the kind for one symconv does not know."""
    rule = RULES.get(getattr(spec, "kind", None))
    if rule is None:
        raise SymconvError(
            f"layer: got {getattr(spec, 'kind', type(spec).__name__)!r}, expected one of {', '.join(RULES)}"
        )
    return rule


__all__ = ["LayerRule", "RULES", "rule_for"]
