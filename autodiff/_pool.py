"""Pooling (torch.nn.functional.max_pool1d/2d, avg_pool1d/2d,
adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d).

Engine ops (``csrc/ops_pool.c``): ``max_pool`` gives each window's maximum
(torch's rule: the first maximum, a NaN wins) and keeps its index for the
backward, which adds the gradient there; with ``return_indices``,
``pool_argmax`` gives the indices (no gradient) and the values are
``take`` at them, so the gradient goes through take's backward (a
compiled replay recomputes the indices either way);
``avg_pool`` averages each window, and its backward is the same op in
the transposed direction.  This module checks the arguments and computes
the output size as torch does (ceil_mode, adaptive sizes with None);
1-d pooling runs as 2-d with a height of 1, unbatched inputs gain a batch
dim.
"""
from __future__ import annotations

import numbers

from . import _engine
from ._conv import _pair
from ._engine import Tensor, _reshape

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d"]


def _image(input, nd: int, fn: str):
    """input as (N, C, H, W) and a function giving the result back its
    caller's layout (unbatched, 1-d)."""
    if not isinstance(input, Tensor):
        raise TypeError("%s(): argument 'input' must be a Tensor, not %s"
                        % (fn, type(input).__name__))
    x = input
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError("%s: Expected %dD or %dD (batch mode) tensor for "
                         "input, but got input of size: %s"
                         % (fn, nd + 1, nd + 2, list(x.shape)))
    lead = x.shape[:-nd]
    if x.ndim == nd + 1:
        x = _reshape(x, (1,) + x.shape)
    if nd == 1:
        x = _reshape(x, x.shape[:2] + (1,) + x.shape[2:])
    if x.shape[2] < 1 or x.shape[3] < 1 or 0 in x.shape[:2]:
        raise ValueError("%s: Expected input's non-batch dimensions to have "
                         "positive length, but got input of size: %s"
                         % (fn, list(input.shape)))

    def back(t):
        return _reshape(t, lead + t.shape[-nd:])
    return x, back


def _out_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """torch's pooling_output_shape."""
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window(x, nd, kernel_size, stride, padding, dilation, ceil_mode, fn):
    k = _pair(kernel_size, "kernel_size", nd, fn, one=True)
    st = k if stride is None or (not isinstance(stride, numbers.Integral)
                                 and len(tuple(stride)) == 0) \
        else _pair(stride, "stride", nd, fn, one=True)
    pad = _pair(padding, "padding", nd, fn, one=True)
    dil = _pair(dilation, "dilation", nd, fn, one=True)
    if nd == 1:
        k, st, pad, dil = (1,) + k, (1,) + st, (0,) + pad, (1,) + dil
    for i in range(2):
        if k[i] < 1 or st[i] < 1 or dil[i] < 1:
            raise ValueError("%s: kernel_size, stride and dilation must be "
                             "greater than zero, got %s, %s and %s"
                             % (fn, k[-nd:], st[-nd:], dil[-nd:]))
        if pad[i] < 0 or pad[i] > k[i] // 2:
            raise ValueError("%s: pad should be at most half of effective "
                             "kernel size, but got pad=%d, kernel_size=%d "
                             "and dilation=%d" % (fn, pad[i], k[i], dil[i]))
    out = tuple(_out_size(x.shape[2 + i], k[i], st[i], pad[i], dil[i],
                          bool(ceil_mode)) for i in range(2))
    if out[0] < 1 or out[1] < 1:
        raise ValueError("%s: Given input size: (%dx%dx%d). Calculated "
                         "output size: (%dx%dx%d). Output size is too small"
                         % (fn, x.shape[1], x.shape[2], x.shape[3],
                            x.shape[1], out[0], out[1]))
    return k, st, pad, dil, out


def _maxima(x, back, k, st, pad, dil, out, adaptive, return_indices):
    """max pooling of x (N, C, H, W): one max_pool op; with
    return_indices, pool_argmax's indices too and the values take at them
    (the gradient through take's backward).  back: the caller's layout."""
    if not return_indices:
        return back(_engine._max_pool(x, k, st, pad, dil, out, adaptive))
    idx = _engine._max_pool(x, k, st, pad, dil, out, adaptive, True)
    n, c, h, w = x.shape
    oh, ow = idx.shape[2:]
    v = _engine._take(_reshape(x, (n, c, h * w)),
                      _reshape(idx, (n, c, oh * ow)), 2)
    return back(_reshape(v, (n, c, oh, ow))), back(idx)


def _max_pool(input, nd, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices, fn):
    x, back = _image(input, nd, fn)
    k, st, pad, dil, out = _window(x, nd, kernel_size, stride, padding,
                                   dilation, ceil_mode, fn)
    return _maxima(x, back, k, st, pad, dil, out, False, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool2d: (N, C, H, W) or (C, H, W); with
    return_indices also the flat (h * W + w) int64 index of each maximum.

    Parameters
    ----------
    input : Tensor
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        The window by default.
    padding : int or pair of ints, default 0
        Implicit -inf padding (at most half the window).
    dilation : int or pair of ints, default 1
    ceil_mode : bool, default False
        Round the output size up.
    return_indices : bool, default False
        Also return the int64 indices of the maxima (flat over each plane).

    Returns
    -------
    Tensor, or (Tensor, Tensor) with return_indices

    Raises
    ------
    ValueError
        For an input of the wrong rank, a window larger than the padded
        input, or padding over half the window.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)``
      (nn.MaxPool2d's formula).

    Examples
    --------
    >>> F.max_pool2d(ad.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)[1].tolist()
    [[[[5, 7], [13, 15]]]]
    """
    return _max_pool(input, 2, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices, "max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool1d: (N, C, L) or (C, L).

    Parameters
    ----------
    input : Tensor
    kernel_size : int
    stride : int, optional
        The window by default.
    padding : int, default 0
        Implicit -inf padding (at most half the window).
    dilation : int, default 1
    ceil_mode : bool, default False
        Round the output size up.
    return_indices : bool, default False
        Also return the int64 indices of the maxima (flat over each plane).

    Returns
    -------
    Tensor, or (Tensor, Tensor) with return_indices

    Raises
    ------
    ValueError
        For an input of the wrong rank, a window larger than the padded
        input, or padding over half the window.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, L_out)``.

    Examples
    --------
    >>> F.max_pool1d(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
    [[[3.0, 2.0]]]
    """
    return _max_pool(input, 1, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices, "max_pool1d")


def _avg_pool(input, nd, kernel_size, stride, padding, ceil_mode,
              count_include_pad, divisor_override, fn):
    x, back = _image(input, nd, fn)
    k, st, pad, _, out = _window(x, nd, kernel_size, stride, padding, 1,
                                 ceil_mode, fn)
    if divisor_override is not None and (
            not isinstance(divisor_override, numbers.Integral)
            or divisor_override == 0):
        raise ValueError("%s: divisor must be not zero, got %r"
                         % (fn, divisor_override))
    return back(_engine._avg_pool(x, k, st, pad, out, False,
                                  bool(count_include_pad),
                                  int(divisor_override or 0)))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """torch.nn.functional.avg_pool2d.

    Parameters
    ----------
    input : Tensor
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        The window by default.
    padding : int or pair of ints, default 0
        Implicit zero padding (at most half the window).
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Count the padding in the divisor.
    divisor_override : int, optional
        Divide by it instead of the window's size.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an input of the wrong rank, a window larger than the padded
        input, or padding over half the window.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> F.avg_pool2d(ad.ones(1, 1, 4, 4), 2, divisor_override=2).tolist()
    [[[[2.0, 2.0], [2.0, 2.0]]]]
    """
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override, "avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """torch.nn.functional.avg_pool1d.

    Parameters
    ----------
    input : Tensor
    kernel_size : int
    stride : int, optional
        The window by default.
    padding : int, default 0
        Implicit zero padding (at most half the window).
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Count the padding in the divisor.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an input of the wrong rank, a window larger than the padded
        input, or padding over half the window.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, L_out)``.

    Examples
    --------
    >>> F.avg_pool1d(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).tolist()
    [[[2.0, 1.0]]]
    """
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None, "avg_pool1d")


def _adaptive_size(x, nd, output_size, fn):
    if nd == 1:
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 1:
                raise ValueError("%s: output_size must be an int or a "
                                 "1-tuple, got %r" % (fn, output_size))
            output_size = output_size[0]
        sizes = (1, output_size)
    elif isinstance(output_size, numbers.Integral) or output_size is None:
        sizes = (output_size, output_size)
    else:
        sizes = tuple(output_size)
        if len(sizes) != 2:
            raise ValueError("%s: output_size must be an int or a pair, got "
                             "%r" % (fn, output_size))
    out = tuple(x.shape[2 + i] if s is None else s
                for i, s in enumerate(sizes))
    for s in out:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or \
                s < 0:
            raise ValueError("%s: output_size must hold non-negative ints or "
                             "None, got %r" % (fn, output_size))
        if s == 0:
            raise ValueError("%s: output size 0 is not supported" % fn)
    return tuple(int(s) for s in out)


def _adaptive_avg(input, nd, output_size, fn):
    x, back = _image(input, nd, fn)
    out = _adaptive_size(x, nd, output_size, fn)
    return back(_engine._avg_pool(x, (1, 1), (1, 1), (0, 0), out, True,
                                  False, 0))


def adaptive_avg_pool2d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool2d: bins [floor(i H / OH),
    ceil((i + 1) H / OH)); output_size an int, a pair, None keeping a
    size.

    Parameters
    ----------
    input : Tensor
    output_size : int or pair of (int or None)
        None keeps that size.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an input of the wrong rank or a bad output_size.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, S_0, S_1)``.

    Examples
    --------
    >>> F.adaptive_avg_pool2d(ad.ones(2, 3, 5, 7), (1, None)).shape
    (2, 3, 1, 7)
    """
    return _adaptive_avg(input, 2, output_size, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input, output_size):
    """torch.nn.functional.adaptive_avg_pool1d.

    Parameters
    ----------
    input : Tensor
    output_size : int

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an input of the wrong rank or a bad output_size.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, S)``.

    Examples
    --------
    >>> F.adaptive_avg_pool1d(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 1).tolist()
    [[[1.5]]]
    """
    return _adaptive_avg(input, 1, output_size, "adaptive_avg_pool1d")


def _adaptive_max(input, nd, output_size, return_indices, fn):
    x, back = _image(input, nd, fn)
    out = _adaptive_size(x, nd, output_size, fn)
    return _maxima(x, back, (1, 1), (1, 1), (0, 0), (1, 1), out, True,
                   return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """torch.nn.functional.adaptive_max_pool2d.

    Parameters
    ----------
    input : Tensor
    output_size : int or pair of (int or None)
    return_indices : bool, default False
        Also return the int64 indices of the maxima.

    Returns
    -------
    Tensor, or (Tensor, Tensor) with return_indices

    Raises
    ------
    ValueError
        For an input of the wrong rank or a bad output_size.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, S_0, S_1)``.

    Examples
    --------
    >>> F.adaptive_max_pool2d(ad.arange(4.0).reshape(1, 1, 2, 2), 1).tolist()
    [[[[3.0]]]]
    """
    return _adaptive_max(input, 2, output_size, return_indices,
                         "adaptive_max_pool2d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """torch.nn.functional.adaptive_max_pool1d.

    Parameters
    ----------
    input : Tensor
    output_size : int
    return_indices : bool, default False
        Also return the int64 indices of the maxima.

    Returns
    -------
    Tensor, or (Tensor, Tensor) with return_indices

    Raises
    ------
    ValueError
        For an input of the wrong rank or a bad output_size.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, S)``.

    Examples
    --------
    >>> F.adaptive_max_pool1d(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]]), 1).tolist()
    [[[3.0]]]
    """
    return _adaptive_max(input, 1, output_size, return_indices,
                         "adaptive_max_pool1d")


# ----------------------------------------------- rules (higher order)

def max_pool_rule(node, out, g):
    """max_pool's derivative with recorded ops: the maxima's indices again
    (pool_argmax, no gradient) and g added there (put_add, whose own
    derivative is take)."""
    a = node.attrs
    x = node.inputs[0]
    idx = _engine._max_pool(x, (a.kh, a.kw), (a.sh, a.sw), (a.ph, a.pw),
                            (a.dh, a.dw), (a.oh, a.ow), a.adaptive, True)
    n, c, h, w = x.shape
    gx = _engine._put_add(_reshape(g, (n, c, a.oh * a.ow)),
                          _reshape(idx, (n, c, a.oh * a.ow)), 2,
                          (n, c, h * w))
    return [_reshape(gx, x.shape)]


def avg_pool_rule(node, out, g):
    """avg_pool's derivative: the same op in the other direction."""
    a = node.attrs
    x = node.inputs[0]
    k, st, pad = (a.kh, a.kw), (a.sh, a.sw), (a.ph, a.pw)
    if a.adjoint:           # x: (N, C, OH, OW); g: the image's shape
        return [_engine._avg_pool(g, k, st, pad, (a.oh, a.ow), a.adaptive,
                                  a.count_include_pad, a.divisor)]
    return [_engine._avg_pool(g, k, st, pad, (a.oh, a.ow), a.adaptive,
                              a.count_include_pad, a.divisor, True,
                              x.shape[2:])]
