"""Ops composed in Python from the engine's ops: where a composite is as
good as a kernel (variance, standard deviation, 1-D and batched matmul via
reshapes, torch's mm/mv/bmm/outer/addmm over the engine's matmul and
elementwise ops, lerp/addcmul/addcdiv, the shape helpers over reshape and
permute, stack via expand_dims and concatenate).  Each result is recorded
op by op, so gradients and compiled replays need nothing more.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from . import _engine
from ._dtypes import dtype_code, float64
from ._engine import (Tensor, _axes_mask, _int_axis, _matmul2d, _mm,
                      _operand, _reduce_input, _reshape, _t, broadcast_to,
                      clip, concatenate, permute, sign, sqrt, where)

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import _Axis, _Int, _Operand, _TensorLike

__all__ = ["matmul", "dot", "mm", "mv", "bmm", "outer", "addmm", "lerp",
           "addcmul", "addcdiv", "var", "std", "transpose", "swapaxes",
           "expand_dims", "unsqueeze", "squeeze", "flatten", "stack",
           "t", "equal", "allclose", "isclose", "numel", "is_tensor",
           "add", "sub", "mul", "div", "true_divide", "neg", "clone"]


# ------------------------------------------------------------ linear algebra

def matmul(a: _TensorLike, b: _Operand) -> Tensor:
    """The matrix product with numpy's (and torch's) rules: 2-D @ 2-D, batched
    with broadcast batch dimensions, and 1-D vectors taken as a row (first
    operand) or a column (second) and squeezed back.

    Parameters
    ----------
    a : Tensor or array
        The first operand (at least 1-D).
    b : Tensor, array or number
        The second operand (at least 1-D); float32 with float64 computes in
        float64.

    Returns
    -------
    Tensor
        ``(..., n, p)`` for ``(..., n, m) @ (..., m, p)``.

    Raises
    ------
    ValueError
        For a 0-D operand, inner sizes that differ, or batch dimensions that
        do not broadcast.

    Examples
    --------
    >>> ad.matmul(ad.ones(2, 3), ad.ones(3, 4)).shape
    (2, 4)
    >>> ad.matmul(ad.ones(5, 2, 3), ad.ones(3)).shape
    (5, 2)
    """
    out = _matmul2d(a, b)           # two matrices: straight to the engine
    if out is not None:
        return out
    x = a if isinstance(a, Tensor) else _t(a)
    y = b if isinstance(b, Tensor) else _operand(b, dtype_code(x.dtype))
    if x.dtype is not y.dtype:     # float32 with float64 gives float64
        x, y = (x if x.dtype is float64 else x.astype(float64),
                y if y.dtype is float64 else y.astype(float64))
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: input operand does not have enough "
                         "dimensions (shapes %s and %s)" % (x.shape, y.shape))
    xs, ys = x.shape, y.shape
    squeeze_front = x.ndim == 1
    squeeze_back = y.ndim == 1
    if squeeze_front:
        x = _reshape(x, (1, xs[0]))
    if squeeze_back:
        y = _reshape(y, (ys[0], 1))
    if x.shape[-1] != y.shape[-2]:
        raise ValueError("matmul: shapes %s and %s are not aligned: %d "
                         "(dim %d) != %d (dim %d)"
                         % (xs, ys, x.shape[-1], len(xs) - 1, y.shape[-2],
                            0 if len(ys) == 1 else len(ys) - 2))
    if x.ndim == 2 and y.ndim == 2:
        out = _mm(x, y)
    elif y.ndim == 2:
        # (..., m, k) @ (k, n): one large GEMM over the stacked rows.
        lead = x.shape[:-1]
        # not -1: that is ambiguous when the inner dimension is 0
        flat = _reshape(x, (int(np.prod(lead)), x.shape[-1]))
        out = _reshape(_mm(flat, y), lead + (y.shape[-1],))
    else:
        bx, by = x.shape[:-2], y.shape[:-2]
        try:
            batch = np.broadcast_shapes(bx, by)
        except ValueError:
            raise ValueError("matmul: the batch dimensions of shapes %s and "
                             "%s cannot be broadcast together (%s vs %s)"
                             % (xs, ys, bx, by)) from None
        nb = int(np.prod(batch)) if batch else 1
        if bx != batch and not (x.ndim == 2):
            x = broadcast_to(x, batch + x.shape[-2:])
        if by != batch:
            y = broadcast_to(y, batch + y.shape[-2:])
        x3 = _reshape(x, (1 if x.ndim == 2 else nb,) + x.shape[-2:])
        y3 = _reshape(y, (nb,) + y.shape[-2:])
        out = _reshape(_mm(x3, y3), batch + (x.shape[-2], y.shape[-1]))
    if squeeze_front and squeeze_back:
        return _reshape(out, out.shape[:-2])
    if squeeze_front:
        return _reshape(out, out.shape[:-2] + out.shape[-1:])
    if squeeze_back:
        return _reshape(out, out.shape[:-1])
    return out


def dot(a: _TensorLike, b: _Operand) -> Tensor:
    """The product of two operands as :func:`matmul` (for 1-D vectors, the
    inner product; torch.dot takes 1-D only).

    Parameters
    ----------
    a : Tensor or array
    b : Tensor, array or number

    Returns
    -------
    Tensor
        A 0-D tensor for two vectors.

    Raises
    ------
    ValueError
        As :func:`matmul`.

    Examples
    --------
    >>> ad.dot(ad.tensor([1.0, 2.0]), ad.tensor([3.0, 4.0])).item()
    11.0
    """
    return matmul(a, b)


# torch's fixed-rank products: each checks its ranks and sizes with
# torch's messages (naming the shapes), then one engine matmul

def _pair(a: _TensorLike, b: _Operand) -> tuple[Tensor, Tensor]:
    """Two tensors of one dtype (float32 with float64 gives float64, as
    matmul)."""
    x = a if isinstance(a, Tensor) else _t(a)
    y = b if isinstance(b, Tensor) else _operand(b, dtype_code(x.dtype))
    if x.dtype is not y.dtype:
        x, y = (x if x.dtype is float64 else x.astype(float64),
                y if y.dtype is float64 else y.astype(float64))
    return x, y


def _x(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _mat(name: str, t: Tensor, what: str) -> None:
    if t.ndim != 2:
        raise RuntimeError("%s: %s must be a matrix, got a %d-D tensor of "
                           "shape %s" % (name, what, t.ndim, t.shape))


def _mm2(name: str, x: Tensor, y: Tensor, first: str) -> Tensor:
    _mat(name, x, first)
    _mat(name, y, "mat2")
    if x.shape[1] != y.shape[0]:
        raise RuntimeError("%s: mat1 and mat2 shapes cannot be multiplied "
                           "(%s and %s)" % (name, _x(x.shape), _x(y.shape)))
    return _mm(x, y)


def mm(input: _TensorLike, mat2: _Operand) -> Tensor:
    """The product of two matrices, (n, m) @ (m, p) -> (n, p) (torch.mm; no
    broadcasting).

    Parameters
    ----------
    input : Tensor or array
        ``(n, m)``.
    mat2 : Tensor or array
        ``(m, p)``.

    Returns
    -------
    Tensor
        ``(n, p)``.

    Raises
    ------
    RuntimeError
        When the ranks or the sizes do not match (the message names the
        shapes).

    Examples
    --------
    >>> ad.mm(ad.ones(2, 3), ad.ones(3, 2)).tolist()
    [[3.0, 3.0], [3.0, 3.0]]
    """
    return _mm2("mm", *_pair(input, mat2), "self")


def mv(input: _TensorLike, vec: _Operand) -> Tensor:
    """A matrix times a vector, (n, m) @ (m,) -> (n,) (torch.mv).

    Parameters
    ----------
    input : Tensor or array
        ``(n, m)``.
    vec : Tensor or array
        ``(m,)``.

    Returns
    -------
    Tensor
        ``(n,)``.

    Raises
    ------
    RuntimeError
        When the ranks or the sizes do not match (the message names the
        shapes).

    Examples
    --------
    >>> ad.mv(ad.eye(2) * 2, ad.tensor([1.0, 3.0])).tolist()
    [2.0, 6.0]
    """
    x, v = _pair(input, vec)
    if x.ndim != 2 or v.ndim != 1:
        raise RuntimeError("mv: vector + matrix @ vector expected, got "
                           "shapes %s and %s" % (x.shape, v.shape))
    if x.shape[1] != v.shape[0]:
        raise RuntimeError("mv: size mismatch, got mat (%s), vec (%d): "
                           "shapes %s and %s" % (_x(x.shape), v.shape[0],
                                                  x.shape, v.shape))
    out = _mm(x, _reshape(v, (v.shape[0], 1)))
    return _reshape(out, (x.shape[0],))


def bmm(input: _TensorLike, mat2: _Operand) -> Tensor:
    """Batched matrix products, (b, n, m) @ (b, m, p) -> (b, n, p) (torch.bmm;
    no broadcasting).

    Parameters
    ----------
    input : Tensor or array
        ``(b, n, m)``.
    mat2 : Tensor or array
        ``(b, m, p)``.

    Returns
    -------
    Tensor
        ``(b, n, p)``.

    Raises
    ------
    RuntimeError
        When the ranks or the sizes do not match (the message names the
        shapes).

    Examples
    --------
    >>> ad.bmm(ad.ones(4, 2, 3), ad.ones(4, 3, 5)).shape
    (4, 2, 5)
    """
    x, y = _pair(input, mat2)
    for t, what in ((x, "batch1"), (y, "batch2")):
        if t.ndim != 3:
            raise RuntimeError("bmm: %s must be a 3D tensor, got shape %s"
                               % (what, t.shape))
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[1]:
        raise RuntimeError(
            "bmm: expected size for first two dimensions of batch2 tensor "
            "to be: [%d, %d] but got: [%d, %d] (shapes %s and %s)"
            % (x.shape[0], x.shape[2], y.shape[0], y.shape[1], x.shape,
               y.shape))
    return _mm(x, y)


def outer(input: _TensorLike, vec2: _Operand) -> Tensor:
    """The outer product of two vectors, ``out[i, j] = input[i] * vec2[j]``
    (torch.outer, torch.ger).

    Parameters
    ----------
    input : Tensor or array
        ``(n,)``.
    vec2 : Tensor or array
        ``(m,)``.

    Returns
    -------
    Tensor
        ``(n, m)``.

    Raises
    ------
    RuntimeError
        When an operand is not 1-D.

    Examples
    --------
    >>> ad.outer(ad.tensor([1.0, 2.0]), ad.tensor([1.0, 10.0])).tolist()
    [[1.0, 10.0], [2.0, 20.0]]
    """
    x, y = _pair(input, vec2)
    for t, what in ((x, "self"), (y, "vec2")):
        if t.ndim != 1:
            raise RuntimeError("outer: expected 1-D argument %s, but got "
                               "%d-D (shape %s)" % (what, t.ndim, t.shape))
    return _reshape(x, (x.shape[0], 1)) * _reshape(y, (1, y.shape[0]))


def _expands_to(name: str, t: Tensor, shape: tuple[int, ...]) -> None:
    """t must broadcast to shape (never the other way), as torch's expand:
    a RuntimeError naming both shapes."""
    try:
        ok = np.broadcast_shapes(t.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError("%s: the tensor of shape %s cannot be expanded "
                           "to the result's shape %s" % (name, t.shape,
                                                         shape))


def addmm(input: _TensorLike, mat1: _Operand, mat2: _Operand, *,
          beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` (torch.addmm).

    Parameters
    ----------
    input : Tensor, array or number
        Broadcasts to the ``(n, p)`` product.  With beta == 0 it is ignored
        (NaN and inf in it do not propagate; its gradient is zero), as torch.
    mat1 : Tensor or array
        ``(n, m)``.
    mat2 : Tensor or array
        ``(m, p)``.
    beta : number, default 1 (keyword only)
    alpha : number, default 1 (keyword only)

    Returns
    -------
    Tensor
        ``(n, p)``.

    Raises
    ------
    RuntimeError
        When the ranks or the sizes do not match (the message names the
        shapes).
        Also when `input` does not broadcast to ``(n, p)``.

    Examples
    --------
    >>> ad.addmm(ad.ones(2), ad.eye(2), ad.eye(2), beta=0.5).tolist()
    [[1.5, 0.5], [0.5, 1.5]]
    """
    prod = _mm2("addmm", *_pair(mat1, mat2), "mat1")
    inp = input if isinstance(input, Tensor) else _operand(
        input, dtype_code(prod.dtype))
    _expands_to("addmm", inp, prod.shape)
    if alpha != 1:
        prod = prod * alpha
    if inp.dtype is not prod.dtype:
        inp, prod = _pair(inp, prod)
    if beta == 0:
        if inp.requires_grad:       # a zero gradient, and no NaN * 0
            return prod + where(np.zeros(inp.shape, bool), inp, 0.0)
        return prod
    if beta != 1:
        inp = inp * beta
    return inp + prod


def lerp(input: _TensorLike, end: _Operand,
         weight: _Operand) -> Tensor:
    """Linear interpolation ``input + weight * (end - input)`` (torch.lerp),
    computed as torch does: for |weight| >= 0.5 as
    ``end - (end - input) * (1 - weight)``, exact at weight = 1.

    Parameters
    ----------
    input : Tensor or array
        The start.
    end : Tensor, array or number
        The end.
    weight : number or Tensor
        A tensor weight broadcasts with `input` and `end` (and is replayed
        with its new values by a compiled step).

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> ad.lerp(ad.tensor([0.0, 10.0]), ad.tensor([10.0, 20.0]), 0.25).tolist()
    [2.5, 12.5]
    """
    x, e = _pair(input, end)
    if not isinstance(weight, Tensor) and np.ndim(weight) == 0 and \
            not isinstance(weight, (list, tuple)):
        w = float(weight)
        if abs(w) < 0.5:
            return x + (e - x) * w
        # 1 - w in the tensors' precision, as torch's opmath
        dt = np.float32 if x.dtype is not float64 else np.float64
        return e - (e - x) * float(dt(1.0) - dt(w))
    wt = weight if isinstance(weight, Tensor) else _operand(
        weight, dtype_code(x.dtype))
    if wt.dtype is not x.dtype:
        x, wt = _pair(x, wt)
        x, e = _pair(x, e)
    d = e - x
    small = x + wt * d
    large = e - d * (1.0 - wt)
    # 1 where |w| >= 0.5, else 0: x - 0.5 is 0 only at 0.5, so the sign
    # is exact; the products by 0 and 1 are exact too
    big = clip(sign(wt.abs() - 0.5) + 1.0, 0.0, 1.0)
    return small * (1.0 - big) + large * big


def _check_broadcast(name: str, *ts: Tensor) -> None:
    try:
        np.broadcast_shapes(*[t.shape for t in ts])
    except ValueError:
        raise ValueError("%s: shapes %s cannot be broadcast together"
                         % (name, ", ".join(str(t.shape) for t in ts))
                         ) from None


def _addc(name: str, input: _TensorLike, tensor1: _Operand,
          tensor2: _Operand, value: float, divide: bool) -> Tensor:
    """input + value * tensor1 (* or /) tensor2, broadcasting."""
    x, t1 = _pair(input, tensor1)
    x, t2 = _pair(x, tensor2)
    t1, t2 = _pair(t1, t2)
    _check_broadcast(name, x, t1, t2)
    if value != 1:
        t1 = t1 * value
    return x + (t1 / t2 if divide else t1 * t2)


def addcmul(input: _TensorLike, tensor1: _Operand, tensor2: _Operand, *,
            value: float = 1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (torch.addcmul), broadcasting.

    Parameters
    ----------
    input, tensor1, tensor2 : Tensor, array or number
        The operands; they broadcast.
    value : number, default 1 (keyword only)
        The scale of the product.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> ad.addcmul(ad.ones(2), ad.tensor([1.0, 2.0]), ad.tensor([3.0, 4.0]), value=0.5).tolist()
    [2.5, 5.0]
    """
    return _addc("addcmul", input, tensor1, tensor2, value, False)


def addcdiv(input: _TensorLike, tensor1: _Operand, tensor2: _Operand, *,
            value: float = 1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (torch.addcdiv), broadcasting.

    Parameters
    ----------
    input, tensor1, tensor2 : Tensor, array or number
        The operands; they broadcast.
    value : number, default 1 (keyword only)
        The scale of the quotient.

    Returns
    -------
    Tensor
        Of the broadcast shape.

    Raises
    ------
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> ad.addcdiv(ad.ones(2), ad.tensor([1.0, 2.0]), ad.tensor([4.0, 4.0])).tolist()
    [1.25, 1.5]
    """
    return _addc("addcdiv", input, tensor1, tensor2, value, True)


# -------------------------------------------------------------- reductions

def var(x: _TensorLike, axis: _Axis = None, keepdims: bool = False,
        ddof: int = 0, dim: _Axis = None, keepdim: bool | None = None,
        dtype: npt.DTypeLike | None = None, out: None = None) -> Tensor:
    """The variance over the given axes, with numpy's default ddof=0 (torch's
    default, the unbiased estimate, is ddof=1: ``var(x, ddof=1)``).

    Parameters
    ----------
    x : Tensor, array or number
        The input (a float dtype).
    axis : int or tuple of ints, optional
        The axes reduced (all by default).
    keepdims : bool, default False
        Keep the reduced axes with size 1.
    ddof : int, default 0
        The divisor is N - ddof (clamped at 0, giving inf, as numpy).
    dim, keepdim : optional
        torch's names of `axis` and `keepdims`.
    dtype : dtype, optional
        Cast the input to it first.
    out : None
        For numpy's functions; must be None.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an axis is not an int or `out` is given.
    IndexError
        When an axis is out of range.

    Examples
    --------
    >>> x = ad.tensor([1.0, 2.0, 3.0, 4.0])
    >>> ad.var(x).item(), round(ad.var(x, ddof=1).item(), 4)
    (1.25, 1.6667)
    """
    t = _reduce_input(x, dtype, out, "var")
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    if axis is None:
        n = t.size                  # the count of the values reduced
    else:
        mask = _axes_mask(t.ndim, axis)
        n = 1
        for i, size in enumerate(t.shape):
            if mask >> i & 1:
                n *= size
    d = t - _engine.mean(t, axis, True)
    # as numpy: the divisor is clamped at 0 (giving inf), never negative
    return _engine.sum(d * d, axis, keepdims) / float(
        n - ddof if n > ddof else 0)


def std(x: _TensorLike, axis: _Axis = None, keepdims: bool = False,
        ddof: int = 0, dim: _Axis = None, keepdim: bool | None = None,
        dtype: npt.DTypeLike | None = None, out: None = None) -> Tensor:
    """The standard deviation, ``sqrt(var(...))``; numpy's default ddof=0
    (torch's is ddof=1).

    Parameters
    ----------
    x : Tensor, array or number
        The input (a float dtype).
    axis : int or tuple of ints, optional
        The axes reduced (all by default).
    keepdims : bool, default False
        Keep the reduced axes with size 1.
    ddof : int, default 0
        The divisor of the variance is N - ddof.
    dim, keepdim : optional
        torch's names of `axis` and `keepdims`.
    dtype : dtype, optional
        Cast the input to it first.
    out : None
        For numpy's functions; must be None.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an axis is not an int or `out` is given.
    IndexError
        When an axis is out of range.

    Examples
    --------
    >>> ad.std(ad.tensor([1.0, 3.0])).item()
    1.0
    """
    return sqrt(var(_reduce_input(x, dtype, out, "std"), axis, keepdims,
                    ddof, dim, keepdim))


# ------------------------------------------------------------------ shapes

def _axis(a: object) -> int:
    """An axis as a Python int (_int_axis: a TypeError for anything but
    an integer)."""
    return a if type(a) is int else _int_axis(a)


def transpose(x: _TensorLike, axes: Sequence[_Int] | None = None) -> Tensor:
    """numpy's transpose: the axes reversed, or permuted by `axes` (a view
    sharing memory).  torch's ``transpose(x, dim0, dim1)`` is
    :func:`swapaxes`.

    Parameters
    ----------
    x : Tensor or array
    axes : sequence of ints, optional
        The permutation (reversed by default).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When `axes` is not a permutation of the dimensions.

    Examples
    --------
    >>> ad.transpose(ad.zeros(2, 3, 4)).shape
    (4, 3, 2)
    """
    t = x if isinstance(x, Tensor) else _t(x)
    if axes is None:
        axes = tuple(range(t.ndim - 1, -1, -1))
    return permute(t, axes)


def swapaxes(x: _TensorLike, axis1: _Int, axis2: _Int) -> Tensor:
    """Swap two axes (numpy.swapaxes, torch.transpose(x, dim0, dim1)).

    Parameters
    ----------
    x : Tensor or array
    axis1, axis2 : int
        The axes swapped.

    Returns
    -------
    Tensor

    Raises
    ------
    IndexError
        When an axis is out of range.
    TypeError
        When an axis is not an int.

    Examples
    --------
    >>> ad.swapaxes(ad.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    t = x if isinstance(x, Tensor) else _t(x)
    nd = t.ndim
    a1 = _axis(axis1)
    a2 = _axis(axis2)
    for a in (a1, a2):
        if a < -nd or a >= nd:
            raise IndexError("axis %d is out of bounds for a tensor of "
                             "dimension %d" % (a, nd))
    perm = list(range(nd))
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return permute(t, perm)


def expand_dims(x: _TensorLike, axis: _Int) -> Tensor:
    """Insert a dimension of size 1 at `axis` (numpy.expand_dims,
    torch.unsqueeze); a view sharing memory.

    Parameters
    ----------
    x : Tensor or array
    axis : int
        Its position in the result (negative counts from the end).

    Returns
    -------
    Tensor

    Raises
    ------
    IndexError
        When the axis is out of range for the result.

    Examples
    --------
    >>> ad.unsqueeze(ad.zeros(2, 3), -1).shape
    (2, 3, 1)
    """
    t = x if isinstance(x, Tensor) else _t(x)
    shape = list(t.shape)
    nd = len(shape) + 1
    a = _axis(axis)
    if a < -nd or a >= nd:
        raise IndexError("axis %d is out of bounds for the result of "
                         "dimension %d" % (a, nd))
    shape.insert(a + nd if a < 0 else a, 1)
    return _reshape(t, shape)


unsqueeze = expand_dims


def squeeze(x: _TensorLike, axis: _Axis = None) -> Tensor:
    """Remove dimensions of size 1: all of them, or the given ones
    (numpy.squeeze; torch.squeeze ignores a given dim whose size is not 1,
    which raises here, as numpy).

    Parameters
    ----------
    x : Tensor or array
    axis : int or tuple of ints, optional
        The dimensions removed (all of size 1 by default).

    Returns
    -------
    Tensor
        A view sharing memory.

    Raises
    ------
    IndexError
        When an axis is out of range.
    ValueError
        When a given axis does not have size 1.

    Examples
    --------
    >>> ad.squeeze(ad.zeros(1, 3, 1)).shape
    (3,)
    """
    t = x if isinstance(x, Tensor) else _t(x)
    shape = t.shape
    if axis is None:
        return _reshape(t, [d for d in shape if d != 1])
    nd = len(shape)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    drop = set()
    for a in axes:
        a = _axis(a)
        if a < -nd or a >= nd:
            raise IndexError("axis %d is out of bounds for a tensor of "
                             "dimension %d" % (a, nd))
        a = a + nd if a < 0 else a
        if shape[a] != 1:
            raise ValueError("cannot squeeze axis %d of a tensor of shape %s:"
                             " its size is %d, not 1" % (a, shape, shape[a]))
        drop.add(a)
    return _reshape(t, [d for i, d in enumerate(shape) if i not in drop])


def _dim(d: _Int, ndim: int) -> int:
    """A dim in torch's range [-ndim, ndim - 1] (a 0-d tensor counts as
    1-d), made non-negative."""
    n = ndim if ndim > 0 else 1
    d = _axis(d)
    if not -n <= d < n:
        raise IndexError("Dimension out of range (expected to be in range "
                         "of [%d, %d], but got %d)" % (-n, n - 1, d))
    return d + n if d < 0 else d


def flatten(x: _TensorLike, start_dim: _Int = 0, end_dim: _Int = -1) -> Tensor:
    """Merge the dimensions start_dim..end_dim into one (torch.flatten); a
    view sharing memory.  A 0-D tensor becomes 1-D.

    Parameters
    ----------
    x : Tensor or array
    start_dim : int, default 0
    end_dim : int, default -1

    Returns
    -------
    Tensor

    Raises
    ------
    IndexError
        When a dim is out of range.
    RuntimeError
        When start_dim comes after end_dim.

    Examples
    --------
    >>> ad.flatten(ad.zeros(2, 3, 4), 1).shape
    (2, 12)
    """
    t = x if isinstance(x, Tensor) else _t(x)
    s = t.shape
    a = _dim(start_dim, len(s))
    b = _dim(end_dim, len(s))
    if a > b:
        raise RuntimeError("flatten() has invalid args: start_dim cannot "
                           "come after end_dim")
    if not s:
        return _reshape(t, (1,))
    n = 1
    for d in s[a:b + 1]:
        n *= d
    return _reshape(t, s[:a] + (n,) + s[b + 1:])


def stack(tensors: Iterable[_TensorLike], axis: _Int = 0,
          dim: _Int | None = None) -> Tensor:
    """Join tensors of one shape along a new axis (torch.stack, numpy.stack).

    Parameters
    ----------
    tensors : iterable of Tensor or array
        At least one; all of the same shape (mixed dtypes give float64).
    axis : int, default 0
        The new axis's position in the result.
    dim : int, optional
        torch's name of `axis`.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For no tensors or tensors of different shapes.
    IndexError
        When the axis is out of range.

    Examples
    --------
    >>> ad.stack([ad.zeros(3), ad.ones(3)], dim=1).shape
    (3, 2)
    """
    if dim is not None:
        axis = dim
    ts = [x if isinstance(x, Tensor) else _t(x) for x in tensors]
    if not ts:
        raise ValueError("need at least one tensor to stack")
    shape0 = ts[0].shape
    for i, x in enumerate(ts):
        if x.shape != shape0:
            raise ValueError("stack expects tensors of equal shape, got %s "
                             "(tensor 0) and %s (tensor %d)"
                             % (shape0, x.shape, i))
    first = expand_dims(ts[0], axis)        # checks axis
    shape = first.shape
    return concatenate([first] + [_reshape(x, shape) for x in ts[1:]], axis)


# ------------------------------------------------- torch's small helpers

def t(input: _TensorLike) -> Tensor:
    """torch.t: a 2-D tensor transposed; 0-D and 1-D tensors as they are.

    Parameters
    ----------
    input : Tensor or array
        At most 2-D.

    Returns
    -------
    Tensor

    Raises
    ------
    RuntimeError
        For more than 2 dimensions.

    Examples
    --------
    >>> ad.t(ad.zeros(2, 3)).shape
    (3, 2)
    """
    x = input if isinstance(input, Tensor) else _t(input)
    if x.ndim > 2:
        raise RuntimeError("t() expects a tensor with <= 2 dimensions, but "
                           "self is %dD" % x.ndim)
    if x.ndim < 2:
        return x
    return permute(x, (1, 0))


def _both(name: str, input: object, other: object) -> tuple:
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("%s(): argument 'input' and 'other' must be "
                        "Tensors, not %s and %s" % (
                            name, type(input).__name__,
                            type(other).__name__))
    return input.detach().numpy(), other.detach().numpy()


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both tensors have the same shape and the same elements
    (torch.equal; NaN is never equal).

    Parameters
    ----------
    input, other : Tensor

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        When an argument is not a tensor.

    Examples
    --------
    >>> ad.equal(ad.tensor([1.0, 2.0]), ad.tensor([1.0, 2.0]))
    True
    """
    a, b = _both("equal", input, other)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def isclose(input: Tensor, other: _Operand, rtol: float = 1e-05,
            atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol * |other|`` elementwise
    (torch.isclose); no gradient.

    Parameters
    ----------
    input : Tensor
    other : Tensor, array or number
        They broadcast.
    rtol : float, default 1e-05
        The relative tolerance.
    atol : float, default 1e-08
        The absolute tolerance.
    equal_nan : bool, default False
        Count two NaNs as close.

    Returns
    -------
    Tensor
        bool, of the broadcast shape.

    Raises
    ------
    TypeError
        When `input` is not a tensor.

    Examples
    --------
    >>> ad.isclose(ad.tensor([1.0, 1.1]), 1.0).tolist()
    [True, False]
    """
    if not isinstance(other, Tensor):
        other = _t(other)
    a, b = _both("isclose", input, other)
    return _engine._from_array(np.isclose(a, b, rtol=rtol, atol=atol,
                                          equal_nan=equal_nan),
                               dtype_code(np.bool_))


def allclose(input: Tensor, other: _Operand, rtol: float = 1e-05,
             atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds everywhere (torch.allclose).

    Parameters
    ----------
    input : Tensor
    other : Tensor, array or number
        They broadcast.
    rtol : float, default 1e-05
        The relative tolerance.
    atol : float, default 1e-08
        The absolute tolerance.
    equal_nan : bool, default False
        Count two NaNs as close.

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        When `input` is not a tensor.

    Examples
    --------
    >>> ad.allclose(ad.tensor([1.0, 2.0]), ad.tensor([1.0, 2.0 + 1e-7]))
    True
    """
    if not isinstance(other, Tensor):
        other = _t(other)
    a, b = _both("allclose", input, other)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def numel(input: Tensor) -> int:
    """The number of elements (torch.numel).

    Parameters
    ----------
    input : Tensor

    Returns
    -------
    int

    Raises
    ------
    TypeError
        When `input` is not a tensor.

    Examples
    --------
    >>> ad.numel(ad.zeros(2, 3))
    6
    """
    if not isinstance(input, Tensor):
        raise TypeError("numel(): argument 'input' must be Tensor, not %s"
                        % type(input).__name__)
    return int(input.numel())


def is_tensor(obj: object) -> bool:
    """True when `obj` is a tensor (torch.is_tensor).

    Parameters
    ----------
    obj : object

    Returns
    -------
    bool

    Examples
    --------
    >>> ad.is_tensor(ad.zeros(1)), ad.is_tensor(np.zeros(1))
    (True, False)
    """
    return isinstance(obj, Tensor)


# torch's arithmetic functions (the engine's add/subtract/multiply/divide
# with torch's keywords)

def add(input: _Operand, other: _Operand, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other`` (torch.add), broadcasting.

    Parameters
    ----------
    input, other : Tensor, array or number
        The operands; a number or array takes the tensor operand's dtype.
    alpha : number, default 1 (keyword only)
        The scale of `other`.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an operand is not a tensor, array or number.
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> ad.add(ad.tensor([1.0, 2.0]), 1.0, alpha=2).tolist()
    [3.0, 4.0]
    """
    if alpha != 1:
        other = _engine.multiply(other, alpha) if isinstance(
            other, Tensor) else np.multiply(other, alpha)
    return _engine.add(input, other)


def sub(input: _Operand, other: _Operand, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other`` (torch.sub), broadcasting.

    Parameters
    ----------
    input, other : Tensor, array or number
        The operands.
    alpha : number, default 1 (keyword only)
        The scale of `other`.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an operand is not a tensor, array or number.
    ValueError
        When the shapes do not broadcast; for bool operands (RuntimeError).

    Examples
    --------
    >>> ad.sub(ad.tensor([1.0, 2.0]), 1.0).tolist()
    [0.0, 1.0]
    """
    if alpha != 1:
        other = _engine.multiply(other, alpha) if isinstance(
            other, Tensor) else np.multiply(other, alpha)
    return _engine.subtract(input, other)


def mul(input: _Operand, other: _Operand) -> Tensor:
    """``input * other`` (torch.mul), broadcasting.

    Parameters
    ----------
    input, other : Tensor, array or number

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an operand is not a tensor, array or number.
    ValueError
        When the shapes do not broadcast.

    Examples
    --------
    >>> ad.mul(ad.tensor([1.0, 2.0]), 3).tolist()
    [3.0, 6.0]
    """
    return _engine.multiply(input, other)


def div(input: _Operand, other: _Operand, *,
        rounding_mode: str | None = None) -> Tensor:
    """``input / other`` (torch.div): true division (integers give float32),
    or rounded by `rounding_mode`.

    Parameters
    ----------
    input, other : Tensor, array or number
        They broadcast.
    rounding_mode : {None, "floor", "trunc"}, optional (keyword only)
        "floor": :func:`floor_divide`; "trunc": rounded toward zero (float
        operands only here).

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For another rounding_mode, or shapes that do not broadcast.
    NotImplementedError
        For "trunc" with integer tensors.

    Examples
    --------
    >>> ad.div(ad.tensor([-7.0, 7.0]), 2, rounding_mode='trunc').tolist()
    [-3.0, 3.0]
    """
    if rounding_mode is None:
        return _engine.divide(input, other)
    if rounding_mode == "floor":
        return _engine.floor_divide(input, other)
    if rounding_mode == "trunc":
        q = _engine.divide(input, other)
        kinds = [np.dtype(o.dtype).kind for o in (input, other)
                 if isinstance(o, Tensor)]
        if kinds and all(k in "bi" for k in kinds):
            raise NotImplementedError(
                "div(rounding_mode='trunc') of integer tensors is not "
                "implemented; use rounding_mode='floor' or float tensors")
        return _engine.trunc(q)
    raise ValueError("div expected rounding_mode to be one of None, "
                     "'trunc', or 'floor' but found %r" % (rounding_mode,))


def true_divide(input: _Operand, other: _Operand) -> Tensor:
    """``input / other`` (torch.true_divide): integers give float32.

    Parameters
    ----------
    input, other : Tensor, array or number

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When an operand is not a tensor, array or number.

    Examples
    --------
    >>> ad.true_divide(ad.tensor([1, 2]), 2).tolist()
    [0.5, 1.0]
    """
    return _engine.divide(input, other)


def neg(input: _TensorLike) -> Tensor:
    """``-input`` (torch.neg); refuses bool tensors (RuntimeError), as torch.

    Parameters
    ----------
    input : Tensor, array or number

    Returns
    -------
    Tensor

    Raises
    ------
    RuntimeError
        For a bool tensor.

    Examples
    --------
    >>> ad.neg(ad.tensor([1, -2])).tolist()
    [-1, 2]
    """
    return _engine.negative(input)


def clone(input: Tensor) -> Tensor:
    """A copy of `input` that stays in the graph: gradients flow back through
    it (torch.clone).

    Parameters
    ----------
    input : Tensor

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When `input` is not a tensor.

    Examples
    --------
    >>> x = ad.ones(2, requires_grad=True)
    >>> y = ad.clone(x)
    >>> y is x, y.requires_grad
    (False, True)
    """
    if not isinstance(input, Tensor):
        raise TypeError("clone(): argument 'input' must be Tensor, not %s"
                        % type(input).__name__)
    return input.clone()
