"""Functional forms of the activations and losses (torch.nn.functional)."""
from .._engine import (  # noqa: F401
    sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, gelu, silu,
    softmax, log_softmax,
    mse_loss, l1_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits, cross_entropy, nll_loss,
)
from .. import _engine


from .._engine import linear  # noqa: F401,E402  x @ W.T + b in one op


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p)
    (see _engine.dropout: the engine's stream, or a numpy generator)."""
    return _engine.dropout(x, p, training, generator)
