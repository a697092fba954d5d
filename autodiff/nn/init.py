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
    """The recommended gain of an initialisation for a nonlinearity
    (torch.nn.init.calculate_gain): 1 for linear, sigmoid and conv, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu, 3/4 for
    selu.

    Parameters
    ----------
    nonlinearity : str
    param : float, optional
        leaky_relu's negative slope (0.01 by default).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For another nonlinearity.

    Examples
    --------
    >>> round(nn.init.calculate_gain('relu'), 4)
    1.4142
    """
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
    """Fill with draws of U(a, b) (torch.nn.init.uniform_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned.
    a, b : float, default 0.0, 1.0
        The bounds.
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Examples
    --------
    >>> w = nn.init.uniform_(ad.zeros(100), -1, 1, np.random.default_rng(0))
    >>> bool((w.abs() <= 1).all())
    True
    """
    return _write(t, _random._rng(None, generator).uniform(a, b, t.shape))


def normal_(t, mean=0.0, std=1.0, generator=None):
    """Fill with draws of N(mean, std^2) (torch.nn.init.normal_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned.
    mean : float, default 0.0
    std : float, default 1.0
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Examples
    --------
    >>> nn.init.normal_(ad.zeros(2, 3)).shape
    (2, 3)
    """
    return _write(t, _random._rng(None, generator).normal(mean, std, t.shape))


def constant_(t, val):
    """Fill with `val` (torch.nn.init.constant_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned.
    val : number

    Returns
    -------
    Tensor
        t.

    Examples
    --------
    >>> nn.init.constant_(ad.zeros(2), 0.5).tolist()
    [0.5, 0.5]
    """
    with no_grad():
        t.fill_(val)
    return t


def zeros_(t):
    """Fill with zeros (torch.nn.init.zeros_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned.

    Returns
    -------
    Tensor
        t.

    Examples
    --------
    >>> nn.init.zeros_(ad.ones(2)).tolist()
    [0.0, 0.0]
    """
    return constant_(t, 0.0)


def ones_(t):
    """Fill with ones (torch.nn.init.ones_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned.

    Returns
    -------
    Tensor
        t.

    Examples
    --------
    >>> nn.init.ones_(ad.zeros(2)).tolist()
    [1.0, 1.0]
    """
    return constant_(t, 1.0)


def xavier_uniform_(t, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out))
    (torch.nn.init.xavier_uniform_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned. At least 2-D.
    gain : float, default 1.0
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Raises
    ------
    ValueError
        For a tensor of fewer than 2 dimensions (no fan in / fan out).

    Examples
    --------
    >>> w = nn.init.xavier_uniform_(ad.zeros(3, 3))
    >>> bool((w.abs() <= 1).all())
    True
    """
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, generator)


def xavier_normal_(t, gain=1.0, generator=None):
    """Glorot normal: N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out))
    (torch.nn.init.xavier_normal_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned. At least 2-D.
    gain : float, default 1.0
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Raises
    ------
    ValueError
        For a tensor of fewer than 2 dimensions (no fan in / fan out).

    Examples
    --------
    >>> nn.init.xavier_normal_(ad.zeros(4, 3)).shape
    (4, 3)
    """
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
    """He uniform: U(-b, b) with b = gain sqrt(3 / fan)
    (torch.nn.init.kaiming_uniform_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned. At least 2-D.
    a : float, default 0.0
        The negative slope of leaky_relu.
    mode : {"fan_in", "fan_out"}, default "fan_in"
        Preserve the variance in the forward (fan_in) or backward pass.
    nonlinearity : str, default "leaky_relu"
        As :func:`calculate_gain`.
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Raises
    ------
    ValueError
        For a tensor of fewer than 2 dimensions (no fan in / fan out).
        Also for another mode or nonlinearity.

    Examples
    --------
    >>> nn.init.kaiming_uniform_(ad.zeros(4, 3), nonlinearity='relu').shape
    (4, 3)
    """
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                    generator=None):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)
    (torch.nn.init.kaiming_normal_).

    Parameters
    ----------
    t : Tensor
        Written in place (without recording) and returned. At least 2-D.
    a : float, default 0.0
        The negative slope of leaky_relu.
    mode : {"fan_in", "fan_out"}, default "fan_in"
        Preserve the variance in the forward (fan_in) or backward pass.
    nonlinearity : str, default "leaky_relu"
        As :func:`calculate_gain`.
    generator : numpy.random.Generator, optional
        The random stream (default: the generator seeded by
        :func:`autodiff.manual_seed`).

    Returns
    -------
    Tensor
        t.

    Raises
    ------
    ValueError
        For a tensor of fewer than 2 dimensions (no fan in / fan out).
        Also for another mode or nonlinearity.

    Examples
    --------
    >>> nn.init.kaiming_normal_(ad.zeros(4, 3)).shape
    (4, 3)
    """
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), generator)


def orthogonal_(t, gain=1.0, generator=None):
    """Fill t with a (semi-)orthogonal matrix, as torch.nn.init.orthogonal_
    (Saxe et al. 2013): trailing dimensions are flattened to (rows, cols);
    Q of the QR of a standard normal matrix, each column's sign made that
    of R's diagonal (a uniform draw), times gain.  Q^T Q = I (rows >= cols)
    or Q Q^T = I (rows < cols).

    Parameters
    ----------
    t : Tensor
        At least 2 dimensions; written in place and returned.
    gain : float
        Scaling factor.
    generator : numpy.random.Generator, optional
        The random stream (default: autodiff's default generator).
    """
    if t.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are "
                         "supported (got shape %s)" % (t.shape,))
    if t.numel() == 0:
        return t
    rows = t.shape[0]
    cols = t.numel() // rows
    flat = _random._rng(None, generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(t, q * gain)


def trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill t with N(mean, std^2) draws truncated to [a, b], as
    torch.nn.init.trunc_normal_: draws outside the bounds are redrawn
    (when [a, b] holds more than 30% of the mass), else uniform proposals
    on [a, b] are accepted with the normal's density (rejection sampling).

    Parameters
    ----------
    t : Tensor
        Written in place and returned.
    mean, std : float
        The normal distribution's mean and standard deviation.
    a, b : float
        The bounds (a <= b).
    generator : numpy.random.Generator, optional
        The random stream (default: autodiff's default generator).
    """
    if not a <= b:
        raise ValueError("trunc_normal_: a must not exceed b, got a=%r, b=%r"
                         % (a, b))
    if not std > 0:
        raise ValueError("trunc_normal_: std must be positive, got %r"
                         % (std,))
    if mean < a - 2 * std or mean > b + 2 * std:
        import warnings
        warnings.warn("mean is more than 2 std from [a, b] in "
                      "nn.init.trunc_normal_. The distribution of values may "
                      "be incorrect.", stacklevel=2)
    rng = _random._rng(None, generator)

    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    # the bounds as the tensor's dtype represents them (torch's rule)
    lo, hi = (float(np.asarray(v, dtype=t.dtype)) for v in (a, b))
    shape = t.shape
    if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
        out = np.asarray(rng.normal(mean, std, shape), dtype=t.dtype)
        bad = (out < lo) | (out > hi)
        while bad.any():
            out[bad] = rng.normal(mean, std, int(bad.sum()))
            bad = (out < lo) | (out > hi)
    else:
        log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2
        out = np.empty(shape, dtype=t.dtype)
        pending = np.ones(shape, dtype=bool)
        while pending.any():
            n = int(pending.sum())
            c = rng.uniform(a, b, n)
            ok = np.log(rng.uniform(0.0, 1.0, n)) <= \
                -0.5 * ((c - mean) / std) ** 2 - log_peak
            idx = np.flatnonzero(pending)[ok]
            out.flat[idx] = c[ok]
            pending.flat[idx] = False
    return _write(t, out)


def sparse_(t, sparsity, std=0.01, generator=None):
    """Fill the 2-D t as a sparse matrix, as torch.nn.init.sparse_
    (Martens 2010): N(0, std^2) values with ceil(sparsity * rows) entries
    of every column set to zero (rows drawn at random per column).

    Parameters
    ----------
    t : Tensor
        2 dimensions; written in place and returned.
    sparsity : float
        The fraction of each column's elements set to zero, in [0, 1].
    std : float
        The standard deviation of the non-zero values.
    generator : numpy.random.Generator, optional
        The random stream (default: autodiff's default generator).
    """
    if t.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported (got "
                         "shape %s)" % (t.shape,))
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError("sparse_: sparsity must be in [0, 1], got %r"
                         % (sparsity,))
    rows, cols = t.shape
    num_zeros = int(math.ceil(sparsity * rows))
    rng = _random._rng(None, generator)
    values = rng.normal(0.0, std, (rows, cols))
    for c in range(cols):
        values[rng.permutation(rows)[:num_zeros], c] = 0.0
    return _write(t, values)
