"""Reductions and scans with PyTorch's names, signatures and gradients:
prod, logsumexp, cumprod, cummax, cummin, norm, vector_norm, matrix_norm,
all, any, count_nonzero, nansum, nanmean, var/std with torch's
``correction=``/``unbiased=``, sort, argsort, topk, median and quantile.

How they are built.  Engine ops where a loop is needed: ``prod`` is a
reduce kind and ``cumprod`` its own op (C kernels with torch's backward
formulas, exact where entries are zero); sort/argsort/topk/median/
quantile use the engine's argsort op and cummax/cummin its cumarg op
(int64 indices, no gradient), the values then taken at the indices with
the take op, so the gradient goes to the index as in torch.  The rest
(logsumexp, the norms, all, any, count_nonzero, nansum, nanmean, var,
std, median() without dim) are compositions of recorded engine ops.
Nothing reads values into Python, so every op here replays under
``ad.compile`` (except matrix_norm's 'nuc'/2/-2, through linalg.svdvals)
and differentiates to any order.
"""
from __future__ import annotations

import collections
import math
import numbers

import numpy as np

from . import _engine
from ._dtypes import BOOL, I64, F32, F64, dtype_code
from ._engine import (Tensor, _axes_mask, _from_array, _reshape, _t,
                      concatenate, where)
from ._ops import _dim, var as _var_ddof
from ._shape_ops import _take, narrow, _positions

__all__ = ["prod", "logsumexp", "cumprod", "cummax", "cummin", "norm",
           "vector_norm", "matrix_norm", "all", "any", "count_nonzero",
           "nansum", "nanmean", "var", "std", "sort", "argsort", "topk",
           "median", "quantile", "return_types"]

# torch.return_types.*: the engine's (max, min) gains these
return_types = _engine.return_types
for _name in ("cummax", "cummin", "sort", "topk", "median"):
    setattr(return_types, _name,
            collections.namedtuple(_name, ["values", "indices"]))

_bool_all = all
_bool_any = any


# ------------------------------------------------------------- helpers

def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else _t(x)


def _code(t: Tensor) -> int:
    return dtype_code(t.dtype)


def _kw(dim, axis, keepdim, keepdims, name):
    """torch's dim=/keepdim= beside numpy's axis=/keepdims=."""
    if axis is not None:
        if dim is not None:
            raise TypeError("%s(): pass dim= or axis=, not both" % name)
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)


def _axes(t: Tensor, dim) -> list:
    """The reduced axes, sorted, non-negative (all for None)."""
    if t.ndim == 0:
        if dim is not None:
            for d in (dim if isinstance(dim, (tuple, list)) else (dim,)):
                _dim(d, 0)
        return []
    mask = _axes_mask(t.ndim, dim)
    return [i for i in range(t.ndim) if mask >> i & 1]


def _out_shape(shape, axes, keepdim, kept):
    if keepdim:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return kept


def _floating(t: Tensor, name: str) -> Tensor:
    if _code(t) in (I64, BOOL):
        raise RuntimeError("%s(): expected a floating point input, got %s"
                           % (name, t.dtype))
    return t


def _scalar_like(v, t: Tensor) -> Tensor:
    return _from_array(np.asarray(v), _code(t))


# -------------------------------------------------------- products

def _scan_dim(t: Tensor, dim, axis, name: str) -> int:
    """The (non-negative) dim of a scan: required, an int in
    [-ndim, ndim - 1] (a 0-d tensor counts as 1-d)."""
    if dim is None and axis is None:
        raise TypeError("%s() missing required argument 'dim'" % name)
    d = axis if dim is None else dim
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        raise TypeError("%s(): dim must be an int, got %r" % (name, d))
    n = t.ndim if t.ndim else 1
    d = int(d)
    if not -n <= d < n:
        raise IndexError("%s(): Dimension out of range (expected to be in "
                         "range of [%d, %d], but got %d): dim %d is out of "
                         "bounds for a tensor of dimension %d"
                         % (name, -n, n - 1, d, d, t.ndim))
    return d + n if d < 0 else d


def prod(x, dim=None, keepdim=False, *, dtype=None, axis=None,
         keepdims=None, out=None) -> Tensor:
    """Product of the entries over dim (all by default; numpy's tuple of
    axes also taken).  As torch: int64 and bool give int64 (wrapping).
    One engine op (reduce, kind prod) whose backward is torch's
    prod_backward: g * out / x in a slice without zeros; in a slice with
    one zero the product of the others at the zero and 0 elsewhere; with
    two or more zeros 0 -- never a division by zero.  Infinities and NaN
    as torch's too: 0 * inf in a product of the others gives NaN, the
    full product with two or more zeros gives zeros, and when the tensor
    has a zero, an inf/NaN entry of a zero-free slice gets the product of
    the others (torch's safe-zeros path), not g * out / x.
    Multiplication order: a contiguous run of the reduced entries is
    multiplied in 4 x 32 bytes of vector lanes (entry j into lane j mod
    32 for float32, 16 for float64), the lane products are multiplied in
    lane order, then the remaining tail in order (strided runs: in order);
    torch's order differs, so the last bits can (the tests compare
    float64 with torch at rtol 1e-12).  Float32 multiplies in float32,
    as torch's.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional (keyword only)
        Cast the input to it first.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.
    out : None
        For numpy's functions; must be None.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.prod(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1).tolist()
    [2.0, 12.0]
    """
    t = _engine._reduce_input(x, dtype, out, "prod")
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, "prod")
    axes = _axes(t, dim)
    if t.ndim == 0:
        return _engine._prod(t, None, keepdim)
    return _engine._prod(t, axes, keepdim)


def cumprod(x, dim=None, *, dtype=None, axis=None) -> Tensor:
    """Running products along dim (torch.cumprod): one engine op,
    accumulated in double as torch's CPU kernel (so torch's bits), with
    torch's cumprod_backward (zeros handled in O(n), no division by
    zero).  int64 and bool give int64 (wrapping), as torch.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int
        The dimension scanned (required).
    dtype : dtype, optional (keyword only)
        Cast the input to it first.
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    Tensor
        The shape of `x`.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.cumprod(ad.tensor([1, 2, 3, 4]), dim=0).tolist()
    [1, 2, 6, 24]
    """
    t = _tensor(x)
    d = _scan_dim(t, dim, axis, "cumprod")
    if dtype is not None:
        t = t.astype(dtype)
    if _code(t) == BOOL:
        t = t.astype(_engine.int64)
    return _engine._cumprod(t, d, False)


# ------------------------------------------------------- logsumexp

def logsumexp(x, dim=None, keepdim=False, *, axis=None,
              keepdims=None) -> Tensor:
    """log(sum(exp(x))) over dim, stable: the max is subtracted first
    (detached, infinities replaced by 0, as torch); integer inputs are
    cast to float32 as torch's default dtype.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints
        The dimensions reduced (required, as torch).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> x = ad.tensor([1000.0, 1000.0], dtype=ad.float64)
    >>> round(ad.logsumexp(x, dim=0).item(), 4)
    1000.6931
    """
    t = _tensor(x)
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, "logsumexp")
    if dim is None:
        raise TypeError("logsumexp() missing required argument 'dim'")
    if _code(t) in (I64, BOOL):
        t = t.astype(_engine.float32)
    axes = _axes(t, dim)
    if t.ndim == 0:
        return _reshape(logsumexp(_reshape(t, (1,)), 0), ())
    if t.size == 0:
        return _engine.log(_engine.sum(_engine.exp(t), axes, keepdim))
    m = _engine.amax(t, axes, True).detach()
    m = where(_engine.isinf(m), _scalar_like(0.0, t), m)
    s = _engine.log(_engine.sum(_engine.exp(t - m), axes, keepdim))
    return s + (m if keepdim else _reshape(
        m, tuple(v for i, v in enumerate(m.shape) if i not in axes)))


# ------------------------------------------------------ logical reductions

def _nonzero_mask(t: Tensor) -> Tensor:
    return t if _code(t) == BOOL else _engine.ne(t, 0)


def _logical(x, dim, keepdim, axis, keepdims, is_all, name):
    t = _tensor(x)
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, name)
    m = _nonzero_mask(t)
    axes = _axes(t, dim)
    if t.ndim == 0:
        return _reshape(m, ())
    shape = _out_shape(t.shape, axes, keepdim,
                       tuple(s for i, s in enumerate(t.shape)
                             if i not in axes))
    if _bool_any(t.shape[i] == 0 for i in axes):
        return _engine._full(shape, bool(is_all), _engine.bool_, False)
    r = (_engine.amin if is_all else _engine.amax)(m, axes, keepdim)
    return r


def all(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """True where every entry over dim is nonzero (a bool tensor; True
    over an empty dim), as torch.all.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        bool.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.all(ad.tensor([[1, 0], [2, 3]]), dim=1).tolist()
    [False, True]
    """
    return _logical(x, dim, keepdim, axis, keepdims, True, "all")


def any(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """True where some entry over dim is nonzero (a bool tensor).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.

    Returns
    -------
    Tensor
        bool.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.any(ad.tensor([[1, 0], [0, 0]]), dim=1).tolist()
    [True, False]
    """
    return _logical(x, dim, keepdim, axis, keepdims, False, "any")


def count_nonzero(x, dim=None, *, axis=None) -> Tensor:
    """The number of nonzero entries over dim (int64), as torch.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    Tensor
        int64.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.count_nonzero(ad.tensor([0.0, 1.0, 2.0])).item()
    2
    """
    t = _tensor(x)
    dim, _ = _kw(dim, axis, False, None, "count_nonzero")
    if t.ndim == 0:
        return _engine.sum(_nonzero_mask(t))
    return _engine.sum(_nonzero_mask(t), _axes(t, dim))


def nansum(x, dim=None, keepdim=False, *, dtype=None, axis=None,
           keepdims=None, out=None) -> Tensor:
    """The sum treating NaN as zero; NaN entries get a zero gradient.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional (keyword only)
        Cast the input to it first.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.
    out : None
        For numpy's functions; must be None.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.nansum(ad.tensor([1.0, float('nan'), 2.0])).item()
    3.0
    """
    t = _engine._reduce_input(x, dtype, out, "nansum")
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, "nansum")
    if _code(t) in (F32, F64):
        t = where(_engine.isnan(t), _scalar_like(0.0, t), t)
    return _engine.sum(t, dim, keepdim)


def nanmean(x, dim=None, keepdim=False, *, dtype=None, axis=None,
            keepdims=None, out=None) -> Tensor:
    """The mean of the non-NaN entries (NaN where all are NaN).  The
    entries of an all-NaN slice get a zero gradient (torch's: NaN).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional (keyword only)
        Cast the input to it first.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.
    out : None
        For numpy's functions; must be None.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.
    RuntimeError
        For an integer input.

    Examples
    --------
    >>> ad.nanmean(ad.tensor([1.0, float('nan'), 2.0])).item()
    1.5
    """
    t = _engine._reduce_input(x, dtype, out, "nanmean")
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, "nanmean")
    _floating(t, "nanmean")
    keep = _engine.logical_not(_engine.isnan(t))
    num = _engine.sum(where(keep, t, _scalar_like(0.0, t)), dim, keepdim)
    return num / _engine.sum(keep, dim, keepdim).astype(t.dtype)


# ------------------------------------------------------------ var, std

def _ddof(ddof, correction, unbiased, name):
    given = [v is not None for v in (ddof, correction, unbiased)]
    if sum(given) > 1:
        raise TypeError("%s(): pass only one of ddof=, correction= and "
                        "unbiased=" % name)
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError("%s(): unbiased must be a bool, got %r"
                            % (name, unbiased))
        return 1 if unbiased else 0
    v = correction if correction is not None else ddof
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError("%s(): correction must be a number, got %r"
                        % (name, v))
    return v


def var(x, axis=None, keepdims=False, ddof=None, dim=None, keepdim=None,
        dtype=None, out=None, *, correction=None, unbiased=None) -> Tensor:
    """Variance over dim (all by default).  The divisor is N - ddof:
    numpy's ddof=0 by default (autodiff's documented default; torch.var's
    default is correction=1: pass correction=1 or unbiased=True for it).
    torch's correction= and unbiased= are taken as in torch.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    axis : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdims : bool, default False
        Keep the reduced dimensions with size 1.
    ddof : number, optional
        The divisor is N - ddof (0 by default; clamped at 0, giving inf).
    dim, keepdim : optional
        torch's names of `axis` and `keepdims`.
    dtype : dtype, optional
        Cast the input to it first.
    out : None
        For numpy's functions; must be None.
    correction : number, optional (keyword only)
        torch's name of `ddof`.
    unbiased : bool, optional (keyword only)
        torch's old spelling: True is ddof=1.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When more than one of ddof, correction and unbiased is given, or an
        axis is not an int.
    IndexError
        When an axis is out of range.

    Examples
    --------
    >>> x = ad.tensor([1.0, 2.0, 3.0, 4.0])
    >>> ad.var(x).item(), round(ad.var(x, correction=1).item(), 4)
    (1.25, 1.6667)
    """
    return _var_ddof(x, axis, keepdims, _ddof(ddof, correction, unbiased,
                                              "var"), dim, keepdim, dtype,
                     out)


def std(x, axis=None, keepdims=False, ddof=None, dim=None, keepdim=None,
        dtype=None, out=None, *, correction=None, unbiased=None) -> Tensor:
    """Standard deviation: sqrt(var) with var's arguments and defaults.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    axis : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdims : bool, default False
        Keep the reduced dimensions with size 1.
    ddof : number, optional
        The divisor is N - ddof (0 by default; clamped at 0, giving inf).
    dim, keepdim : optional
        torch's names of `axis` and `keepdims`.
    dtype : dtype, optional
        Cast the input to it first.
    out : None
        For numpy's functions; must be None.
    correction : number, optional (keyword only)
        torch's name of `ddof`.
    unbiased : bool, optional (keyword only)
        torch's old spelling: True is ddof=1.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When more than one of ddof, correction and unbiased is given, or an
        axis is not an int.
    IndexError
        When an axis is out of range.

    Examples
    --------
    >>> ad.std(ad.tensor([1.0, 3.0])).item()
    1.0
    """
    return _engine.sqrt(var(x, axis, keepdims, ddof, dim, keepdim, dtype,
                            out, correction=correction, unbiased=unbiased))


# --------------------------------------------------------------- norms

def _safe_root(s: Tensor, p: float) -> Tensor:
    """s ** (1/p) with a zero gradient where s == 0 (torch's norms give 0
    there, not NaN)."""
    zero = _engine.eq(s, 0)
    one = _scalar_like(1.0, s)
    safe = where(zero, one, s)
    root = _engine.sqrt(safe) if p == 2 else safe ** (1.0 / p)
    return where(zero, _scalar_like(0.0, s), root)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    """torch.linalg.vector_norm: ord 2 (default), 1, inf, -inf, 0 (the
    count of nonzeros) or any other float p; over dim (all by default).
    Gradients as torch's (zero at a zero vector).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    ord : number, default 2
        2, 1, inf, -inf, 0 or any other p.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional (keyword only)
        Cast the input to it first.

    Returns
    -------
    Tensor

    Raises
    ------
    RuntimeError
        For an integer input.
    TypeError
        When `ord` is not a number.

    Examples
    --------
    >>> ad.linalg.vector_norm(ad.tensor([3.0, 4.0])).item()
    5.0
    """
    t = _tensor(x)
    if dtype is not None:
        t = t.astype(dtype)
    if _code(t) in (I64, BOOL):
        raise RuntimeError("linalg.vector_norm: Expected a floating point "
                           "or complex tensor as input. Got %s" % t.dtype)
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(
            ord, numbers.Real):
        raise TypeError("linalg.vector_norm: ord must be a number, got %r"
                        % (ord,))
    p = float(ord)
    axes = _axes(t, dim)
    if t.ndim == 0:
        axes = None
    a = _engine.abs(t)
    if p == math.inf or p == -math.inf:
        if t.size == 0:
            raise RuntimeError("linalg.vector_norm cannot compute the %s "
                               "norm on an empty tensor because the "
                               "operation does not have an identity" % ord)
        return (_engine.amax if p > 0 else _engine.amin)(a, axes, keepdim)
    if p == 0:
        return _engine.sum(_engine.ne(t, 0).astype(t.dtype), axes, keepdim)
    if p == 1:
        return _engine.sum(a, axes, keepdim)
    if p == 2:
        return _safe_root(_engine.sum(t * t, axes, keepdim), 2)
    zero = _engine.eq(a, 0)
    if p < 0:
        powed = a ** p
    else:
        powed = where(zero, _scalar_like(0.0, t),
                      where(zero, _scalar_like(1.0, t), a) ** p)
    s = _engine.sum(powed, axes, keepdim)
    if p < 0:
        return s ** (1.0 / p)
    return _safe_root(s, p)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *,
                dtype=None) -> Tensor:
    """torch.linalg.matrix_norm for ord 'fro', 1, -1, inf, -inf over the
    two dims, and 'nuc', 2, -2 through the singular values
    (ad.linalg.svdvals, the engine's LAPACK op: replays under ad.compile;
    the gradient of 2/-2 is torch's, undefined at repeated values).

    Parameters
    ----------
    A : Tensor or array
        At least 2-D: ``(*, m, n)``.
    ord : {"fro", "nuc", 1, -1, 2, -2, inf, -inf}, default "fro"
    dim : pair of ints, default (-2, -1)
        The matrix dimensions.
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional (keyword only)
        Cast the input to it first.

    Returns
    -------
    Tensor
        ``(*)``.

    Raises
    ------
    RuntimeError
        For fewer than 2 dimensions or an integer input.
    ValueError
        For an unsupported ord.

    Examples
    --------
    >>> round(ad.linalg.matrix_norm(ad.eye(2) * 3).item(), 4)
    4.2426
    """
    t = _tensor(A)
    if dtype is not None:
        t = t.astype(dtype)
    if t.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have "
                           "at least 2 dimensions.")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got "
                           "%r" % (dim,))
    r, c = _dim(dim[0], t.ndim), _dim(dim[1], t.ndim)
    if r == c:
        raise RuntimeError("linalg.matrix_norm: dims must be different. "
                           "Got (%d, %d)" % (dim[0], dim[1]))
    if ord == "fro":
        return vector_norm(t, 2, (r, c), keepdim)
    if ord in ("nuc", 2, -2):
        from .linalg import svdvals
        _floating(t, "linalg.matrix_norm")
        # the two dims last, then the singular values of each matrix
        rest = [i for i in range(t.ndim) if i not in (r, c)]
        m = _engine.permute(t, tuple(rest) + (r, c))
        s = svdvals(m)
        out = (_engine.sum(s, -1) if ord == "nuc" else
               _engine.amax(s, -1) if ord == 2 else _engine.amin(s, -1))
        if keepdim:
            shape = list(t.shape)
            shape[r] = shape[c] = 1
            out = _reshape(out, tuple(shape))
        return out
    if isinstance(ord, str) or ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError("linalg.matrix_norm: Order %r not supported."
                           % (ord,))
    _floating(t, "linalg.matrix_norm")
    # ord 1: max over columns of the column sums; inf: over rows
    inner, outer = (r, c) if abs(ord) == 1 else (c, r)
    s = _engine.sum(_engine.abs(t), inner, True)
    red = _engine.amax if ord > 0 else _engine.amin
    out = red(s, outer, True)
    if keepdim:
        return out
    return _reshape(out, tuple(v for i, v in enumerate(out.shape)
                               if i not in (r, c)))


def norm(x, p="fro", dim=None, keepdim=False, dtype=None) -> Tensor:
    """torch.norm: p='fro' (the 2-norm over dim, all by default), a
    number p (vector_norm over dim), 'nuc' (the nuclear norm).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    p : "fro", "nuc" or number, default "fro"
        "fro": the 2-norm over `dim`; a number: :func:`linalg.vector_norm
        <autodiff.linalg.vector_norm>` of that order; "nuc": the nuclear norm.
    dim : int or tuple of ints, optional
        The dimensions reduced (all by default).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    dtype : dtype, optional
        Cast the input to it first.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For another string `p`.

    Examples
    --------
    >>> ad.norm(ad.tensor([3.0, 4.0])).item()
    5.0
    """
    t = _tensor(x)
    if isinstance(p, str):
        if p == "fro":
            return vector_norm(t, 2, dim, keepdim, dtype=dtype)
        if p == "nuc":
            return matrix_norm(t, "nuc", dim if dim is not None else (-2, -1),
                               keepdim, dtype=dtype)
        raise RuntimeError("norm(): unsupported p %r" % (p,))
    if p is None:
        p = 2
    return vector_norm(t, p, dim, keepdim, dtype=dtype)


# --------------------------------------------------- data-dependent indices

def _dim_kw(dim, axis, default):
    if axis is not None:
        return axis
    return default if dim is None else dim


def sort(x, dim=-1, descending=False, stable=False, *, axis=None):
    """(values, indices) sorted along dim; NaN sorts as the largest
    value.  Always stable: equal entries keep their order, as torch's
    stable=True.  (torch 2.13's CPU sort with stable=False is stable only
    up to 16 entries along dim; beyond, its order of equal entries is an
    implementation detail, so autodiff gives the stable order for both.)
    The gradient goes to the index.  The engine's argsort and take ops:
    a compiled replay sorts the new values.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int, default -1
        The dimension sorted.
    descending : bool, default False
    stable : bool, default False
        Accepted; the sort is always stable.
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    (values, indices) : namedtuple of Tensor
        The sorted values and their int64 positions in `x`.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.sort(ad.tensor([3.0, 1.0, 2.0])).indices.tolist()
    [1, 2, 0]
    """
    t = _tensor(x)
    d = _dim(_dim_kw(dim, axis, -1), t.ndim)
    if t.ndim == 0:
        return return_types.sort(_reshape(t, ()),
                                 _from_array(np.zeros((), np.int64), I64))
    idx = _engine._argsort(t, d, bool(descending))
    return return_types.sort(_engine._take(t, idx, d), idx)


def argsort(x, dim=-1, descending=False, stable=False, *, axis=None):
    """The int64 indices that sort x along dim (stable; see sort).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int, default -1
        The dimension sorted.
    descending : bool, default False
    stable : bool, default False
        Accepted; the sort is always stable.
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    Tensor
        int64.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.argsort(ad.tensor([3.0, 1.0, 2.0]), descending=True).tolist()
    [0, 2, 1]
    """
    return sort(x, dim, descending, stable, axis=axis).indices


def topk(x, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (smallest) entries along dim,
    largest first (smallest first); NaN counts as largest.  Equal entries
    are taken by position (the first k of a stable sort): torch's order of
    ties is an implementation detail of its selection and can differ.
    sorted=False gives the same (sorted) result.  Engine ops (argsort,
    narrow, take): replayed by ad.compile.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    k : int
        How many entries, in [0, size of dim].
    dim : int, default -1
    largest : bool, default True
        False takes the smallest.
    sorted : bool, default True
        Accepted; the result is always sorted.

    Returns
    -------
    (values, indices) : namedtuple of Tensor

    Raises
    ------
    TypeError
        When `k` is not an int.
    RuntimeError
        When `k` is out of range.

    Examples
    --------
    >>> ad.topk(ad.tensor([1.0, 5.0, 3.0]), 2).values.tolist()
    [5.0, 3.0]
    """
    t = _tensor(x)
    d = _dim(-1 if dim is None else dim, t.ndim)
    n = t.shape[d] if t.ndim else 1
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError("topk(): k must be an int, got %r" % (k,))
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range (k=%d, dimension "
                           "size %d)" % (k, n))
    if t.ndim == 0:
        return return_types.topk(*sort(t))
    idx = narrow(_engine._argsort(t, d, bool(largest)), d, 0, k)
    return return_types.topk(_engine._take(t, idx, d), idx)


def _reduce_shape(shape, d, keepdim):
    return tuple(1 if i == d else s for i, s in enumerate(shape)) \
        if keepdim else tuple(s for i, s in enumerate(shape) if i != d)


def median(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The lower median (of two middles the smaller, as torch).  Without
    dim a 0-d tensor whose gradient is shared evenly among the entries
    equal to it (torch's); with dim, (values, indices), the gradient going
    to the index.  A NaN makes the median NaN (its index that of the first
    NaN).  Engine ops (argsort, take; without dim through the flattened
    tensor and the recorded sharing of _evenly): replayed by ad.compile.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int, optional
        Without it, the median of all entries (a 0-D tensor).
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    axis, keepdims : optional (keyword only)
        numpy's names of `dim` and `keepdim`.

    Returns
    -------
    Tensor, or (values, indices) : namedtuple of Tensor
        The latter with `dim`.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.median(ad.tensor([4.0, 1.0, 3.0, 2.0])).item()
    2.0
    """
    t = _tensor(x)
    dim, keepdim = _kw(dim, axis, keepdim, keepdims, "median")
    if dim is None:
        if t.size == 0:
            raise IndexError("median() input tensor cannot be empty")
        flat = _reshape(t, (t.size,))
        v = _reshape(median(flat, 0).values, ())
        if _code(t) not in (F32, F64):
            return v
        return _evenly(flat, v)
    d = _dim(dim, t.ndim)
    if t.ndim == 0:
        return return_types.median(_reshape(t, ()),
                                   _from_array(np.zeros((), np.int64), I64))
    if t.shape[d] == 0:
        raise IndexError("median(): Expected reduction dim %d to have "
                         "non-zero size." % d)
    n = t.shape[d]
    order = _engine._argsort(t, d, False)            # NaNs last, in order
    pos = _from_array(np.full(_reduce_shape(t.shape, d, True), (n - 1) // 2,
                              dtype=np.int64), I64)
    if t.dtype.kind == "f":
        # a row with NaNs: the first NaN, which the stable sort put at
        # position n - (number of NaNs)
        nans = _engine.sum(_engine.isnan(t), d, True)
        pos = where(nans > 0, n - nans, pos)
    idx = _engine._take(order, pos, d)
    vals = _engine._take(t, idx, d)
    shape = _reduce_shape(t.shape, d, keepdim)
    return return_types.median(_reshape(vals, shape), _reshape(idx, shape))


def _evenly(flat: Tensor, v: Tensor) -> Tensor:
    """v's value (bit for bit) with torch's evenly_distribute_backward:
    the gradient shared evenly among the entries of flat equal to v (the
    NaN entries when v is NaN).  Recorded ops only, no value read in
    Python, so ad.compile replays it:  r = v - sum(mask ? c - flat : 0) /
    count (c = flat detached: the sum is +0 for a finite v, so r is v,
    and NaN for a NaN v); an infinite v takes amax / amin of flat over the
    mask instead (whose ties are the mask)."""
    vd = v.detach()
    c = flat.detach()
    zero = _scalar_like(0.0, flat)
    inf = _scalar_like(math.inf, flat)
    ninf = _scalar_like(-math.inf, flat)
    mask = _engine.logical_or(
        _engine.eq(c, vd),
        _engine.logical_and(_engine.isnan(c), _engine.isnan(vd)))
    cnt = _engine.sum(mask).astype(flat.dtype)
    r = vd - _engine.sum(where(mask, c - flat, zero)) / cnt
    hi = _engine.amax(where(mask, flat, ninf))
    lo = _engine.amin(where(mask, flat, inf))
    return where(_engine.eq(vd, inf), hi,
                 where(_engine.eq(vd, ninf), lo, r))


_INTERP = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.quantile: q a float or a 1-D sequence/tensor in [0, 1] (its
    size becomes the first dim of the result); dim=None over all entries;
    a row with a NaN gives NaN.  The gradient goes through the sorted
    values.  Engine sort and take: replayed by ad.compile (a q tensor is
    read when recording).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    q : float, sequence or Tensor
        In [0, 1]; a 1-D q adds its size as the first dimension.
    dim : int, optional
        Over all entries by default.
    keepdim : bool, default False
        Keep the reduced dimensions with size 1.
    interpolation : str, default "linear" (keyword only)
        "linear", "lower", "higher", "midpoint" or "nearest": how to
        pick between the two nearest sorted values.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For another interpolation, or q outside [0, 1].
    RuntimeError
        For an integer input.

    Examples
    --------
    >>> ad.quantile(ad.tensor([1.0, 2.0, 3.0, 4.0]), 0.5).item()
    2.5
    """
    t = _tensor(x)
    _floating(t, "quantile")
    if interpolation not in _INTERP:
        raise ValueError("quantile() interpolation must be one of linear, "
                         "lower, higher, midpoint or nearest. Got %r"
                         % (interpolation,))
    scalar_q = isinstance(q, numbers.Real) or (
        isinstance(q, Tensor) and q.ndim == 0)
    qa = np.asarray(q.numpy() if isinstance(q, Tensor) else q,
                    dtype=np.float64).reshape(-1)
    if not scalar_q and np.ndim(q.numpy() if isinstance(q, Tensor)
                                else q) != 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if qa.size and (np.any(qa < 0) or np.any(qa > 1)):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    if dim is None:
        src = _reshape(t, (t.size,))
        d = 0
    else:
        d = _dim(dim, t.ndim)
        src = t if t.ndim else _reshape(t, (1,))
    n = src.shape[d]
    if n == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    # the engine's sort and a row's NaN test: recorded, so ad.compile
    # replays them (q itself is a constant of the recording)
    srt = sort(src, d).values                    # (.., n, ..) sorted
    hasnan = _engine.sum(_engine.isnan(src), d, True) > 0
    nan = _scalar_like(math.nan, t)
    outs = []
    for qv in qa:
        rank = qv * (n - 1)
        lo, hi = int(math.floor(rank)), int(math.ceil(rank))
        if interpolation == "nearest":
            lo = hi = int(np.round(rank))
        elif interpolation == "lower":
            hi = lo
        elif interpolation == "higher":
            lo = hi
        below = _narrow1(srt, d, lo)
        above = _narrow1(srt, d, hi)
        if interpolation == "midpoint":
            v = below + (above - below) * 0.5
        elif interpolation == "linear" and hi != lo:
            w = rank - lo
            # torch's lerp: from the nearer end
            v = (below + (above - below) * w) if w < 0.5 else (
                above - (above - below) * (1 - w))
        else:
            v = below
        outs.append(where(hasnan, nan, v))
    res = outs[0] if scalar_q else concatenate(
        [_reshape(o, (1,) + o.shape) for o in outs], 0)
    # res has dim d of size 1 (per q)
    lead = () if scalar_q else (len(qa),)
    body = res.shape[len(lead):]
    if dim is None:
        shape = tuple(1 for _ in t.shape) if keepdim else ()
    else:
        shape = body if keepdim else tuple(
            s for i, s in enumerate(body) if i != d)
        if t.ndim == 0:
            shape = ()
    return _reshape(res, lead + tuple(shape))


def _narrow1(t: Tensor, d: int, i: int) -> Tensor:
    pos = np.take(_positions(t.shape), [i], axis=d)
    return _take(t, pos)


# ------------------------------------------------------------- cummax

def _cum_extreme(x, dim, is_max, axis):
    name = "cummax" if is_max else "cummin"
    t = _tensor(x)
    d = _scan_dim(t, dim, axis, name)
    rt = return_types.cummax if is_max else return_types.cummin
    if t.ndim == 0:
        return rt(_reshape(t, ()), _from_array(np.zeros((), np.int64), I64))
    # the engine's cumarg op computes torch's indices (ties take the later
    # index, NaN propagates); the values are taken at them, so the
    # gradient goes to the index and a compiled replay recomputes both
    idx = _engine._cumarg(t, d, bool(is_max))
    return rt(_engine._take(t, idx, d), idx)


def cummax(x, dim=None, *, axis=None):
    """(values, indices) of the running maximum along dim, as torch (ties
    take the later index; a NaN propagates, the index following the
    latest NaN).  The gradient goes to the index.  Engine ops (cumarg,
    take): replayed by ad.compile.

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int
        The dimension scanned (required).
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    (values, indices) : namedtuple of Tensor
        The shape of `x`.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.cummax(ad.tensor([1.0, 3.0, 2.0]), dim=0).values.tolist()
    [1.0, 3.0, 3.0]
    """
    return _cum_extreme(x, dim, True, axis)


def cummin(x, dim=None, *, axis=None):
    """The running minimum (see cummax).

    Parameters
    ----------
    x : Tensor, array or number
        The input.
    dim : int
        The dimension scanned (required).
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    (values, indices) : namedtuple of Tensor
        The shape of `x`.

    Raises
    ------
    TypeError
        When a dim is not an int (or a scan's dim is missing).
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.cummin(ad.tensor([3.0, 1.0, 2.0]), dim=0).indices.tolist()
    [0, 1, 1]
    """
    return _cum_extreme(x, dim, False, axis)
