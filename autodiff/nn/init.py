"""Parameter initialisers (torch.nn.init), seedable.

Each writes into the tensor in place and returns it.  ``generator`` is a
numpy Generator; without one the default generator seeded by
``autodiff.manual_seed`` is used.
"""
import math

import numpy as np

from .. import _random
from .._grad_mode import no_grad


def _fans(t):
    if t.ndim < 2:
        raise ValueError("fan in and fan out can not be computed for a "
                         "tensor with fewer than 2 dimensions (shape %s)"
                         % (t.shape,))
    receptive = int(np.prod(t.shape[2:])) if t.ndim > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    if nonlinearity in ("linear", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError("unsupported nonlinearity %r" % (nonlinearity,))


def _write(t, values):
    with no_grad():
        t.copy_(np.asarray(values, dtype=t.dtype).reshape(t.shape))
    return t


def uniform_(t, a=0.0, b=1.0, generator=None):
    return _write(t, _random._rng(None, generator).uniform(a, b, t.shape))


def normal_(t, mean=0.0, std=1.0, generator=None):
    return _write(t, _random._rng(None, generator).normal(mean, std, t.shape))


def constant_(t, val):
    with no_grad():
        t.fill_(val)
    return t


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain=1.0, generator=None):
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, generator)


def xavier_normal_(t, gain=1.0, generator=None):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)),
                   generator)


def _kaiming_std(t, a, mode, nonlinearity):
    fan_in, fan_out = _fans(t)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError("mode %r not supported, use 'fan_in' or 'fan_out'"
                         % (mode,))
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                     generator=None):
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                    generator=None):
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), generator)
