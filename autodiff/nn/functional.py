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
    """Zero each element with probability p and scale the rest by 1/(1-p).

    Without a generator the mask comes from the engine's stream
    (``ad.manual_seed``), drawn again by every compiled replay.  With a
    numpy ``generator`` it is drawn in Python, which a compiled step
    cannot replay (NotCompilableError while recording)."""
    if generator is None:
        return _engine.dropout(x, p, training)
    if not 0.0 <= p <= 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, "
                         "but got %r" % (p,))
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if _engine.is_capturing():
        raise _engine.NotCompilableError(
            "dropout with a numpy generator draws its mask in Python, which "
            "a compiled replay would freeze; use the engine's stream "
            "(generator=None, seeded by ad.manual_seed)")
    rng = _engine._rng(None, generator)
    keep = rng.random(x.shape) >= p
    mask = _engine.tensor(keep, dtype=x.dtype) * (1.0 / (1.0 - p))
    return x * mask
