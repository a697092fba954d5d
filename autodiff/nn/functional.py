"""Functional forms of the activations and losses (torch.nn.functional)."""
from .._engine import (
    sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, gelu, silu,
    hardtanh, relu6, hardsigmoid, hardswish, mish, logsigmoid, softsign,
    tanhshrink, celu,
    softmax, log_softmax,
    mse_loss, l1_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits,
    linear,             # x @ W.T + b in one op
)
from .._losses import cross_entropy, nll_loss
# dropout: the engine's stream, or a numpy generator
from .._random import dropout
from .._shape_ops import pad

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
           "softplus", "gelu", "silu", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "mish", "logsigmoid", "softsign", "tanhshrink",
           "celu", "softmax", "log_softmax", "mse_loss",
           "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
           "dropout", "linear", "pad"]
