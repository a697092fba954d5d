"""Convolutions (torch.nn.functional.conv1d, conv2d, conv_transpose1d,
conv_transpose2d) and the sliding-patch ops unfold / fold.

Each is one engine op (``csrc/ops_conv.c``: im2col and BLAS GEMMs per
group, the backward's GEMMs with transpose flags); this module checks and
normalises the arguments as torch does: ints or pairs, ``padding='same'``
/ ``'valid'``, unbatched inputs.  1-d forms run as 2-d with a height of 1.
``padding='same'`` with an odd total padding pads the extra row or column
on the right and bottom first (``nn.functional.pad``), as torch does.
"""
from __future__ import annotations

import numbers

from . import _engine
from ._engine import Tensor, _reshape

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
           "unfold", "fold"]


def _pair(v, name: str, n: int, fn: str, one: bool = False) -> tuple:
    """An int or a sequence of n ints (or, with one, of 1 int, as torch's
    pooling accepts) as an n-tuple of ints."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),) * n
    try:
        t = tuple(v)
    except TypeError:
        t = None
    if one and t is not None and len(t) == 1:
        t = t * n
    if t is None or len(t) != n or not all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool)
            for i in t):
        raise TypeError("%s(): %s must be an int or a tuple of %d ints, got "
                        "%r" % (fn, name, n, v))
    return tuple(int(i) for i in t)


def _as_tensor(x, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError("%s(): argument '%s' must be a Tensor, not %s"
                        % (fn, name, type(x).__name__))
    return x


def _batched(x: Tensor, nd: int, fn: str):
    """x with a batch dim (torch accepts unbatched inputs), and whether
    one was added."""
    if x.ndim == nd + 1:
        return _reshape(x, (1,) + x.shape), True
    if x.ndim != nd + 2:
        raise ValueError("Expected %dD (unbatched) or %dD (batched) input to "
                         "%s, but got input of size: %s"
                         % (nd + 1, nd + 2, fn, list(x.shape)))
    return x, False


def _operands(input, weight, bias, groups, nd: int, fn: str):
    """The checks every convolution makes: tensors, groups, weight ndim."""
    x = _as_tensor(input, "input", fn)
    w = _as_tensor(weight, "weight", fn)
    if bias is not None:
        _as_tensor(bias, "bias", fn)
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError("%s(): groups must be a positive integer, got %r"
                         % (fn, groups))
    if w.ndim != nd + 2:
        raise ValueError("%s(): weight must be %dD, got weight of size %s"
                         % (fn, nd + 2, list(w.shape)))
    return x, w


def _conv(input, weight, bias, stride, padding, dilation, groups, nd: int,
          fn: str) -> Tensor:
    x, w = _operands(input, weight, bias, groups, nd, fn)
    x, added = _batched(x, nd, fn)
    st = _pair(stride, "stride", nd, fn)
    dil = _pair(dilation, "dilation", nd, fn)
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in st):
                raise ValueError("padding='same' is not supported for "
                                 "strided convolutions")
            total = [d * (k - 1) for d, k in zip(dil, w.shape[2:])]
            pad = tuple(t // 2 for t in total)
            extra = [t - 2 * p for t, p in zip(total, pad)]
            if any(extra):
                from ._shape_ops import pad as _pad
                widths = []
                for e in reversed(extra):   # last dim first, right side
                    widths += [0, e]
                x = _pad(x, widths)
        else:
            raise ValueError("Invalid padding string %r, should be one of "
                             "'valid' or 'same'" % (padding,))
    else:
        pad = _pair(padding, "padding", nd, fn)
    if nd == 1:
        x = _reshape(x, x.shape[:2] + (1,) + x.shape[2:])
        w = _reshape(w, w.shape[:2] + (1,) + w.shape[2:])
        st, pad, dil = (1,) + st, (0,) + pad, (1,) + dil
    y = _engine._conv(x, w, bias, st, pad, dil, int(groups), False, (0, 0))
    if nd == 1:
        y = _reshape(y, y.shape[:2] + y.shape[3:])
    if added:
        y = _reshape(y, y.shape[1:])
    return y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1) -> Tensor:
    """torch.nn.functional.conv2d: input (N, C, H, W) or (C, H, W), weight
    (O, C / groups, kh, kw), bias (O,) or None; padding an int, a pair,
    'valid' or 'same' (stride 1 only).

    Parameters
    ----------
    input : Tensor
        The input (float32 or float64).
    weight : Tensor
        ``(O, C / groups, kH, kW)``.
    bias : Tensor, optional
        ``(O,)``.
    stride : int or pair of ints, default 1
    padding : int, pair of ints, "valid" or "same", default 0
    dilation : int or pair of ints, default 1
    groups : int, default 1
        Channel groups (divides C and O).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, O, H_out, W_out)``.
    - ``H_out = floor((H + 2 padding - dilation (k - 1) - 1) / stride + 1)``.

    Examples
    --------
    >>> F.conv2d(ad.ones(1, 1, 3, 3), ad.ones(1, 1, 2, 2)).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2,
                 "conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups=1) -> Tensor:
    """torch.nn.functional.conv1d: input (N, C, L) or (C, L), weight
    (O, C / groups, k).

    Parameters
    ----------
    input : Tensor
        The input (float32 or float64).
    weight : Tensor
        ``(O, C / groups, k)``.
    bias : Tensor, optional
        ``(O,)``.
    stride : int or tuple of one int, default 1
    padding : int, "valid" or "same", default 0
    dilation : int or tuple of one int, default 1
    groups : int, default 1
        Channel groups (divides C and O).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, O, L_out)``.
    - ``L_out = floor((L + 2 padding - dilation (k - 1) - 1) / stride + 1)``.

    Examples
    --------
    >>> F.conv1d(ad.tensor([[[1.0, 2.0, 3.0]]]), ad.tensor([[[1.0, -1.0]]])).tolist()
    [[[-1.0, -1.0]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1,
                 "conv1d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding,
                    groups, dilation, nd: int, fn: str) -> Tensor:
    x, w = _operands(input, weight, bias, groups, nd, fn)
    if isinstance(padding, str):
        raise ValueError("%s(): padding must be an int or a tuple of ints; "
                         "'same' and 'valid' are not supported (as torch)"
                         % fn)
    x, added = _batched(x, nd, fn)
    st = _pair(stride, "stride", nd, fn)
    pad = _pair(padding, "padding", nd, fn)
    op = _pair(output_padding, "output_padding", nd, fn)
    dil = _pair(dilation, "dilation", nd, fn)
    if nd == 1:
        x = _reshape(x, x.shape[:2] + (1,) + x.shape[2:])
        w = _reshape(w, w.shape[:2] + (1,) + w.shape[2:])
        st, pad, op, dil = (1,) + st, (0,) + pad, (0,) + op, (1,) + dil
    y = _engine._conv(x, w, bias, st, pad, dil, int(groups), True, op)
    if nd == 1:
        y = _reshape(y, y.shape[:2] + y.shape[3:])
    if added:
        y = _reshape(y, y.shape[1:])
    return y


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1) -> Tensor:
    """torch.nn.functional.conv_transpose2d: input (N, Cin, H, W), weight
    (Cin, O / groups, kh, kw); output size (H - 1) stride - 2 padding +
    dilation (kh - 1) + output_padding + 1.

    Parameters
    ----------
    input : Tensor
        The input (float32 or float64).
    weight : Tensor
        ``(C, O / groups, kH, kW)``.
    bias : Tensor, optional
        ``(O,)``.
    stride : int or pair of ints, default 1
    padding : int or pair of ints, default 0
    output_padding : int or pair of ints, default 0
        Added to one side of the output (less than stride or dilation).
    dilation : int or pair of ints, default 1
    groups : int, default 1
        Channel groups (divides C and O).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, O, H_out, W_out)``.
    - ``H_out = (H - 1) stride - 2 padding + dilation (k - 1) + output_padding
      + 1``.

    Examples
    --------
    >>> F.conv_transpose2d(ad.ones(1, 1, 2, 2), ad.ones(1, 1, 2, 2), stride=2).shape
    (1, 1, 4, 4)
    """
    return _conv_transpose(input, weight, bias, stride, padding,
                           output_padding, groups, dilation, 2,
                           "conv_transpose2d")


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0,
                     output_padding=0, groups=1, dilation=1) -> Tensor:
    """torch.nn.functional.conv_transpose1d: input (N, Cin, L), weight
    (Cin, O / groups, k).

    Parameters
    ----------
    input : Tensor
        The input (float32 or float64).
    weight : Tensor
        ``(C, O / groups, k)``.
    bias : Tensor, optional
        ``(O,)``.
    stride : int or tuple of one int, default 1
    padding : int, default 0
    output_padding : int or tuple of one int, default 0
        Added to one side of the output (less than stride or dilation).
    dilation : int or tuple of one int, default 1
    groups : int, default 1
        Channel groups (divides C and O).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C, L)`` or ``(C, L)``; output ``(N, O, L_out)``.
    - ``L_out = (L - 1) stride - 2 padding + dilation (k - 1) + output_padding
      + 1``.

    Examples
    --------
    >>> F.conv_transpose1d(ad.ones(1, 1, 3), ad.ones(1, 1, 2)).tolist()
    [[[1.0, 2.0, 2.0, 1.0]]]
    """
    return _conv_transpose(input, weight, bias, stride, padding,
                           output_padding, groups, dilation, 1,
                           "conv_transpose1d")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """torch.nn.functional.unfold: the sliding (kh, kw) patches of input
    (N, C, H, W) or (C, H, W) as columns, (N, C kh kw, L).

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)`` or ``(C, H, W)``.
    kernel_size : int or pair of ints
    dilation : int or pair of ints, default 1
    padding : int or pair of ints, default 0
    stride : int or pair of ints, default 1

    Returns
    -------
    Tensor
        ``(N, C kH kW, L)``, L the number of patches.

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C, H, W)``; output ``(N, C kH kW, L)``.

    Examples
    --------
    >>> F.unfold(ad.zeros(1, 2, 4, 4), 2).shape
    (1, 8, 9)
    """
    x = _as_tensor(input, "input", "unfold")
    added = x.ndim == 3
    if added:
        x = _reshape(x, (1,) + x.shape)
    y = _engine._unfold(x, _pair(kernel_size, "kernel_size", 2, "unfold"),
                        _pair(dilation, "dilation", 2, "unfold"),
                        _pair(padding, "padding", 2, "unfold"),
                        _pair(stride, "stride", 2, "unfold"))
    return _reshape(y, y.shape[1:]) if added else y


def fold(input, output_size, kernel_size, dilation=1, padding=0,
         stride=1) -> Tensor:
    """torch.nn.functional.fold: unfold's transpose, summing the columns
    of input (N, C kh kw, L) or (C kh kw, L) into (N, C, *output_size).

    Parameters
    ----------
    input : Tensor
        ``(N, C kH kW, L)`` or ``(C kH kW, L)``.
    output_size : int or pair of ints
        (H, W).
    kernel_size : int or pair of ints
    dilation : int or pair of ints, default 1
    padding : int or pair of ints, default 0
    stride : int or pair of ints, default 1

    Returns
    -------
    Tensor
        ``(N, C, H, W)``: overlapping entries summed.

    Raises
    ------
    ValueError
        For inputs or weights of the wrong rank, channel counts that do not
        match, bad stride / padding / dilation, or an output size below 1.
    TypeError
        For integer inputs or mismatched dtypes.

    Shape
    -----
    - input ``(N, C kH kW, L)``; output ``(N, C, H, W)``.

    Examples
    --------
    >>> F.fold(F.unfold(ad.ones(1, 1, 3, 3), 2), 3, 2).tolist()
    [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]
    """
    x = _as_tensor(input, "input", "fold")
    added = x.ndim == 2
    if added:
        x = _reshape(x, (1,) + x.shape)
    y = _engine._fold(x, _pair(output_size, "output_size", 2, "fold"),
                      _pair(kernel_size, "kernel_size", 2, "fold"),
                      _pair(dilation, "dilation", 2, "fold"),
                      _pair(padding, "padding", 2, "fold"),
                      _pair(stride, "stride", 2, "fold"))
    return _reshape(y, y.shape[1:]) if added else y


# ----------------------------------------------- rules (higher order)
#
# Each op's derivative written with recorded ops (autograd's Python walk,
# for create_graph and the functional transforms): a convolution's input
# gradient is the transposed convolution of g and the weight's is g times
# the unfolded input; unfold and fold are each other's transpose.

def _pairs(a):
    return (a.sh, a.sw), (a.ph, a.pw), (a.dh, a.dw)


def _rows(t, n: int, groups: int):
    """(N, C, ...) as (N, groups, C / groups, rest) for per-group GEMMs."""
    c = t.shape[1] // groups
    return _reshape(t, (n, groups, c, t.size // (n * groups * c)))


def conv_rule(node, out, g):
    from ._ops import swapaxes
    from ._shape_ops import narrow
    a = node.attrs
    x, w = node.inputs[0], node.inputs[1]
    st, pad, dil = _pairs(a)
    G, N = a.groups, x.shape[0]
    kh, kw = w.shape[2:]
    if not a.transposed:
        sizes = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                 zip(g.shape[2:], st, pad, dil, (kh, kw))]
        op = tuple(h - s for h, s in zip(x.shape[2:], sizes))
        gx = _engine._conv(g, w, None, st, pad, dil, G, True, op)
        cols = _engine._unfold(x, (kh, kw), dil, pad, st)
        gw = (_rows(g, N, G) @ swapaxes(_rows(cols, N, G), -1, -2)).sum(
            axis=0)
    else:
        gx = _engine._conv(g, w, None, st, pad, dil, G, False, (0, 0))
        cols = _engine._unfold(g, (kh, kw), dil, pad, st)
        H, W = x.shape[2:]
        if gx.shape[2:] != (H, W):      # output_padding >= stride
            cols = _reshape(cols, cols.shape[:2] + gx.shape[2:])
            cols = narrow(narrow(cols, 2, 0, H), 3, 0, W)
            gx = narrow(narrow(gx, 2, 0, H), 3, 0, W)
        gw = (_rows(x, N, G) @ swapaxes(_rows(cols, N, G), -1, -2)).sum(
            axis=0)
    grads = [gx, _reshape(gw, w.shape)]
    if len(node.inputs) > 2:
        grads.append(g.sum(axis=(0, 2, 3)))
    return grads


def unfold_rule(node, out, g):
    a = node.attrs
    st, pad, dil = _pairs(a)
    return [_engine._fold(g, (a.H, a.W), (a.kh, a.kw), dil, pad, st)]


def fold_rule(node, out, g):
    a = node.attrs
    st, pad, dil = _pairs(a)
    return [_engine._unfold(g, (a.kh, a.kw), dil, pad, st)]
