"""Plain constants every stage agrees on: layer kinds, output formats and forms, tensor names.

Nothing here imports anything, so the command line can offer its choices
(and refuse a wrong one) before SymPy or NumPy loads. The rule table in
:mod:`symconv.layers` must serve exactly :data:`LAYER_KINDS` (a test holds it).
"""

#: Convolutions and their number of spatial axes.
CONV_KINDS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
#: Transposed convolutions (PyTorch's ConvTranspose) and their number of spatial axes.
CONV_TRANSPOSE_KINDS = {"conv_transpose1d": 1, "conv_transpose2d": 2, "conv_transpose3d": 3}
#: Max and average pools and their number of spatial axes.
POOL_KINDS = {"maxpool1d": 1, "maxpool2d": 2, "maxpool3d": 3, "avgpool1d": 1, "avgpool2d": 2, "avgpool3d": 3}
#: Adaptive pools (``--output-size``, PyTorch's windows) and their number of spatial axes.
ADAPTIVE_KINDS = {"adaptive_avgpool1d": 1, "adaptive_avgpool2d": 2, "adaptive_avgpool3d": 3,
                  "adaptive_maxpool1d": 1, "adaptive_maxpool2d": 2}
#: Element-wise activations (any input N,... of at least two axes).
ACTIVATION_KINDS = ("relu", "leaky_relu", "sigmoid", "tanh")
#: Fully connected layers (input N,IN) and the reshape that feeds them (N,C,... -> N,C*...).
DENSE_KINDS = ("linear", "flatten")
#: Batch normalization in training mode, and its number of axes after N,C (batchnorm1d: N,C or N,C,L).
NORM_KINDS = {"batchnorm1d": 1, "batchnorm2d": 2}
#: How a convolution fills its padding (PyTorch's ``padding_mode``): zeros, or x's own entries.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
#: Every single-layer kind, in the order help texts list them.
LAYER_KINDS = (tuple(CONV_KINDS) + tuple(CONV_TRANSPOSE_KINDS) + tuple(POOL_KINDS) + tuple(ADAPTIVE_KINDS)
               + ACTIVATION_KINDS + DENSE_KINDS + tuple(NORM_KINDS))
#: The kinds ``symconv check`` knows the classic mistakes and edge cases of: every one.
CHECK_KINDS = LAYER_KINDS
#: The word that asks for a stack of layers (``--layers``) where a kind is expected.
STACK = "stack"

#: Output formats of every document symconv writes.
FORMATS = ("latex", "markdown", "text", "json")
#: How a derivation is shown: every entry, operator identities, or matrix pictures.
FORMS = ("element", "operator", "matrix")
#: The layers that have general index formulas (``symconv formula``).
FORMULA_LAYERS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "maxpool1d", "maxpool2d",
                  "avgpool1d", "avgpool2d")

#: The layers ``symconv explain`` derives step by step: every layer with a general formula.
EXPLAIN_KINDS = FORMULA_LAYERS

#: The letters of a layer's output index per spatial axis, as printed sums and subscripts name them
#: (a 3-D layer's depth axis first).
OUTPUT_LETTERS = {1: ("i",), 2: ("i", "j"), 3: ("t", "i", "j")}

#: The losses a layer or a stack can end in (``--loss``): today's ``L = sum(dy*y)``
#: with dy given, PyTorch's ``mse_loss`` against a target t, and its ``cross_entropy``
#: of logits y (N,K) against integer labels t (N,).
LOSSES = ("sum", "mse", "cross_entropy")
#: How a loss reduces to one number (``--reduction``), as PyTorch's ``reduction``.
REDUCTIONS = ("sum", "mean")

#: A single layer's tensors and their gradients.
TENSOR_NAMES = ("x", "w", "b", "dy", "y", "dx", "dw", "db")
