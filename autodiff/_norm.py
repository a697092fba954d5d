"""Normalization (torch.nn.functional.layer_norm, group_norm, rms_norm).

One engine op, ``norm`` (``csrc/ops_norm.c``): x viewed as rows of K
contiguous elements, statistics per row in double (two passes: mean,
then the biased variance, or the mean square for RMS norm), the output
in a second pass, and a fused backward from the saved (mean, rstd) per
row.  Layer norm's rows are the normalized shape; group norm's are
(C / G) * spatial per image and group, with one weight per channel.
This module checks the arguments as torch does (ValueError naming the
shapes) and gives the op's rule for higher order (``norm_rule``: the
same derivative written with recorded ops).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _engine
from ._engine import Tensor

__all__ = ["layer_norm", "group_norm", "rms_norm", "batch_norm"]


def _as_tensor(x, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError("%s(): argument '%s' must be a Tensor, not %s"
                        % (fn, name, type(x).__name__))
    return x


def _shape(ns, fn: str) -> tuple:
    if isinstance(ns, numbers.Integral) and not isinstance(ns, bool):
        return (int(ns),)
    try:
        t = tuple(ns)
    except TypeError:
        t = None
    if t is None or not all(isinstance(i, numbers.Integral) and
                            not isinstance(i, bool) for i in t):
        raise TypeError("%s(): normalized_shape must be an int or a tuple "
                        "of ints, got %r" % (fn, ns))
    return tuple(int(i) for i in t)


def _affine(t, name: str, shape: tuple, fn: str, x: Tensor):
    if t is None:
        return None
    t = _as_tensor(t, name, fn)
    if tuple(t.shape) != shape:
        raise ValueError("%s(): expected %s of shape %s, got %s (input %s)"
                         % (fn, name, list(shape), list(t.shape),
                            list(x.shape)))
    return t


def _rows(x: Tensor, ns: tuple, fn: str) -> int:
    n = len(ns)
    if n == 0 or tuple(x.shape[x.ndim - n:]) != ns or x.ndim < n:
        raise ValueError("%s(): Given normalized_shape=%s, expected input "
                         "with shape [*, %s], but got input of size %s"
                         % (fn, list(ns), ", ".join(map(str, ns)),
                            list(x.shape)))
    return int(np.prod(ns, dtype=np.int64))


def _eps(eps, fn: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or \
            not eps >= 0:
        raise ValueError("%s(): eps must be a non-negative number, got %r"
                         % (fn, eps))
    return float(eps)


def layer_norm(input, normalized_shape, weight=None, bias=None,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.layer_norm: normalize over the last
    len(normalized_shape) dims (biased variance), then weight and bias
    (elementwise, shaped like normalized_shape).

    Parameters
    ----------
    input : Tensor
    normalized_shape : int or sequence of ints
        The trailing shape normalized.
    weight, bias : Tensor, optional
        Of normalized_shape.
    eps : float, default 1e-5

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When the shapes do not fit.
    TypeError
        When weight or bias has another dtype than the input.

    Shape
    -----
    - input ``(*, normalized_shape)``; output the same.

    Examples
    --------
    >>> x = ad.tensor([[1.0, 3.0]], dtype=ad.float64)
    >>> F.layer_norm(x, (2,)).numpy().round(4).tolist()
    [[-1.0, 1.0]]
    """
    fn = "layer_norm"
    x = _as_tensor(input, "input", fn)
    ns = _shape(normalized_shape, fn)
    K = _rows(x, ns, fn)
    w = _affine(weight, "weight", ns, fn, x)
    b = _affine(bias, "bias", ns, fn, x)
    return _engine._norm(x, w, b, K, 1, 1, False, _eps(eps, fn))


def rms_norm(input, normalized_shape, weight=None,
             eps: float | None = None) -> Tensor:
    """torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) * weight
    over the last len(normalized_shape) dims; eps None is
    torch.finfo(input.dtype).eps.

    Parameters
    ----------
    input : Tensor
    normalized_shape : int or sequence of ints
    weight : Tensor, optional
        Of normalized_shape.
    eps : float, optional
        The machine epsilon of the input's dtype by default.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When the shapes do not fit.
    TypeError
        When weight or bias has another dtype than the input.

    Shape
    -----
    - input ``(*, normalized_shape)``; output the same.

    Examples
    --------
    >>> F.rms_norm(ad.tensor([[3.0, 4.0]], dtype=ad.float64), (2,)).numpy().round(4).tolist()
    [[0.8485, 1.1314]]
    """
    fn = "rms_norm"
    x = _as_tensor(input, "input", fn)
    ns = _shape(normalized_shape, fn)
    K = _rows(x, ns, fn)
    w = _affine(weight, "weight", ns, fn, x)
    if eps is None:
        eps = float(np.finfo(np.float32 if x.dtype == _engine.float32
                             else np.float64).eps) \
            if x.dtype in (_engine.float32, _engine.float64) else 0.0
    return _engine._norm(x, w, None, K, 1, 1, True, _eps(eps, fn))


def group_norm(input, num_groups: int, weight=None, bias=None,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.group_norm: x (N, C, *) normalized over each
    of num_groups groups of C / num_groups channels (and all spatial
    positions), then weight and bias per channel.

    Parameters
    ----------
    input : Tensor
        ``(N, C, *)``.
    num_groups : int
        Divides C.
    weight, bias : Tensor, optional
        ``(C,)``.
    eps : float, default 1e-5

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When the shapes do not fit.
    TypeError
        When weight or bias has another dtype than the input.

    Shape
    -----
    - input ``(N, C, *)``; output the same.

    Examples
    --------
    >>> F.group_norm(ad.randn(2, 4, 3), 2).shape
    (2, 4, 3)
    """
    fn = "group_norm"
    x = _as_tensor(input, "input", fn)
    if isinstance(num_groups, bool) or \
            not isinstance(num_groups, numbers.Integral) or num_groups < 1:
        raise ValueError("group_norm(): num_groups must be a positive "
                         "integer, got %r" % (num_groups,))
    G = int(num_groups)
    if x.ndim < 2:
        raise ValueError("group_norm(): Expected at least 2 dimensions for "
                         "input tensor but received %d (input %s)"
                         % (x.ndim, list(x.shape)))
    C = x.shape[1]
    if C % G != 0:
        raise ValueError("group_norm(): Expected number of channels in input "
                         "to be divisible by num_groups, but got input of "
                         "shape %s and num_groups=%d" % (list(x.shape), G))
    S = int(np.prod(x.shape[2:], dtype=np.int64))
    w = _affine(weight, "weight", (C,), fn, x)
    b = _affine(bias, "bias", (C,), fn, x)
    return _engine._norm(x, w, b, (C // G) * S, G, S, False, _eps(eps, fn))


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm: x (N, C, *) normalized per channel,
    by the batch's statistics (biased variance) in training -- updating
    running_mean / running_var in place, if given, with momentum and the
    unbiased variance -- else by the running statistics.

    Parameters
    ----------
    input : Tensor
        ``(N, C, *)``.
    running_mean, running_var : Tensor or None
        ``(C,)``; updated in place in training.  Required in evaluation.
    weight, bias : Tensor, optional
        ``(C,)``.
    training : bool, default False
        Use the batch's statistics (and update the running ones).
    momentum : float, default 0.1
    eps : float, default 1e-5

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When the shapes do not fit.
    TypeError
        When weight or bias has another dtype than the input.
        Also (ValueError) without running statistics in evaluation.

    Shape
    -----
    - input ``(N, C, *)``; output the same.

    Examples
    --------
    >>> x = ad.tensor([[1.0], [3.0]], dtype=ad.float64)
    >>> F.batch_norm(x, None, None, training=True).numpy().round(4).tolist()
    [[-1.0], [1.0]]
    """
    return _batch_norm(input, running_mean, running_var, weight, bias,
                       training, momentum, eps, None)


def _batch_norm(input, running_mean, running_var, weight, bias, training,
                momentum, eps, num_batches_tracked) -> Tensor:
    fn = "batch_norm"
    x = _as_tensor(input, "input", fn)
    if x.ndim < 2:
        raise ValueError("batch_norm(): expected an input of at least 2 "
                         "dims (N, C, *), got %s" % (list(x.shape),))
    C = x.shape[1]
    w = _affine(weight, "weight", (C,), fn, x)
    b = _affine(bias, "bias", (C,), fn, x)
    rm = _affine(running_mean, "running_mean", (C,), fn, x)
    rv = _affine(running_var, "running_var", (C,), fn, x)
    if num_batches_tracked is None and (
            isinstance(momentum, bool) or
            not isinstance(momentum, numbers.Real)):
        raise ValueError("batch_norm(): momentum must be a number, got %r"
                         % (momentum,))
    return _engine._batch_norm(
        x, w, b, rm, rv, num_batches_tracked, bool(training),
        0.0 if num_batches_tracked is not None else float(momentum),
        _eps(eps, fn))


def batch_norm_rule(node, out, g):
    """The batch_norm op's derivative with recorded ops (for higher
    order): x viewed as (N, C, S); training: the batch statistics'
    derivative, gx = rstd (gh - mean(gh) - xhat mean(gh xhat)); eval: the
    affine map, gx = g w rstd (running stats are constants)."""
    a = node.attrs
    ins = node.inputs
    x = ins[0]
    i = 1
    w = b = None
    if a.has_w:
        w, i = ins[i], i + 1
    if a.has_b:
        b, i = ins[i], i + 1
    N, C = x.shape[0], x.shape[1]
    S = x.size // (N * C) if N * C else 0
    x3 = x.reshape((N, C, S))
    g3 = g.reshape((N, C, S))
    axes = (0, 2)
    if a.training:
        xc = x3 - x3.mean(axis=axes, keepdims=True)
        rstd = ((xc * xc).mean(axis=axes, keepdims=True) + a.eps).rsqrt()
    else:
        rm, rv = ins[i].detach(), ins[i + 1].detach()
        xc = x3 - rm.reshape((1, C, 1))
        rstd = (rv.reshape((1, C, 1)) + a.eps).rsqrt()
    xh = xc * rstd
    gh = g3 * w.reshape((1, C, 1)) if w is not None else g3
    if a.training:
        gx = rstd * (gh - gh.mean(axis=axes, keepdims=True)
                     - xh * (gh * xh).mean(axis=axes, keepdims=True))
    else:
        gx = gh * rstd
    grads = [gx.reshape(x.shape)]
    if w is not None:
        grads.append((g3 * xh).sum(axis=axes).reshape(w.shape))
    if b is not None:
        grads.append(g3.sum(axis=axes).reshape(b.shape))
    return grads + [None] * (len(ins) - len(grads))


def norm_rule(node, out, g):
    """The norm op's derivative with recorded ops (for higher order): x
    viewed as (R / G, G, C / G, S), the affine values as (1, G, C / G, 1);
    xhat = (x - mean) rstd, gh = g w:
    gx = rstd (gh - mean(gh) - xhat mean(gh xhat)), gw = sum g xhat,
    gb = sum g."""
    a = node.attrs
    ins = node.inputs
    x = ins[0]
    w = ins[1] if a.has_w else None
    K, G, S = a.K, a.G, a.S
    Cg = K // S
    R = x.size // K if K else 0
    shape4 = (R // G, G, Cg, S)
    x4 = x.reshape(shape4)
    g4 = g.reshape(shape4)
    axes = (2, 3)
    if a.rms:
        xc = x4
    else:
        xc = x4 - x4.mean(axis=axes, keepdims=True)
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = (var + a.eps).rsqrt()
    xh = xc * rstd
    gh = g4 * w.reshape((1, G, Cg, 1)) if w is not None else g4
    inner = gh - xh * (gh * xh).mean(axis=axes, keepdims=True)
    if not a.rms:
        inner = inner - gh.mean(axis=axes, keepdims=True)
    grads = [(rstd * inner).reshape(x.shape)]
    if w is not None:
        grads.append((g4 * xh).sum(axis=(0, 3)).reshape(w.shape))
    if a.has_b:
        b = ins[-1]
        grads.append(g4.sum(axis=(0, 3)).reshape(b.shape))
    return grads
