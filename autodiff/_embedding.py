"""Embeddings (torch.nn.functional.embedding, embedding_bag).

A lookup is the engine's ``take`` of the weight's rows at int64 indices
read at run time, so a compiled replay follows each call's indices and
the gradient is take's scatter-add (repeated indices accumulate, in index
order).  ``padding_idx`` rows get no gradient (their lookups are routed
through a detached copy by ``where``, also recorded).  Bags reduce the
looked-up rows with recorded ops.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _creation, _engine
from ._capture import ArrayInput, NotCompilableError
from ._engine import Tensor, _reshape, broadcast_to, where
from ._grad_mode import no_grad

__all__ = ["embedding", "embedding_bag"]


def _indices(input, fn: str) -> Tensor:
    """input as an int64 tensor: int64 tensors as they are, integer arrays
    and lists converted (an integer array argument of a compiled function
    is refilled at every replay)."""
    if isinstance(input, Tensor):
        if input.dtype != np.int64:
            raise TypeError("%s(): Expected tensor for argument #1 'indices' "
                            "to have one of the following scalar types: "
                            "Long, Int; but got %s instead"
                            % (fn, input.dtype))
        return input
    if type(input) is ArrayInput:
        if input.dtype.kind not in "iu":
            raise TypeError("%s(): indices must be integers, got an array "
                            "of %s" % (fn, input.dtype))
        return _creation.tensor(input, dtype=np.int64)
    arr = np.asarray(input)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError("%s(): indices must be integers, got %s"
                        % (fn, arr.dtype))
    return _creation.tensor(arr.astype(np.int64))


def _padding_idx(padding_idx, num: int, fn: str):
    if padding_idx is None:
        return None
    if not isinstance(padding_idx, numbers.Integral) or not \
            -num <= padding_idx < num:
        raise ValueError("%s(): Padding_idx must be within num_embeddings "
                         "(%d), got %r" % (fn, num, padding_idx))
    return int(padding_idx) % num


def _renorm(weight, idx, max_norm, norm_type):
    """torch's embedding_renorm_: rows referenced by idx whose norm exceeds
    max_norm are scaled in place to max_norm (no gradient)."""
    if idx.size == 0:
        return
    rows = np.unique(idx.numpy())
    with no_grad():
        w = weight.detach().numpy()
        norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type,
                               axis=1)
        scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        new = w.copy()
        new[rows] = (w[rows] * scale[:, None]).astype(w.dtype)
        weight.copy_(_creation.tensor(new, dtype=weight.dtype))


def _lookup(weight, idx, pidx):
    """weight's rows at idx: idx.shape + (D,); no gradient to pidx's row."""
    num, dim = weight.shape
    flat = _reshape(idx, (idx.size, 1))
    j = broadcast_to(flat, (idx.size, dim))
    out = _engine._take(weight, j, 0)
    if pidx is not None:
        out = where(j == pidx, out.detach(), out)
    return _reshape(out, idx.shape + (dim,))


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False) -> Tensor:
    """torch.nn.functional.embedding: the rows of weight (num, dim) at the
    int64 indices input, shape input.shape + (dim,).  sparse=True is
    accepted and gives the same (dense) gradient; scale_grad_by_freq is
    not supported.

    Parameters
    ----------
    input : Tensor or array
        int64 indices.
    weight : Tensor
        ``(num_embeddings, embedding_dim)``.
    padding_idx : int, optional
        Its row gets no gradient.
    max_norm : float, optional
        Renormalize the looked-up rows in place to at most this norm.
    norm_type : float, default 2.0
    scale_grad_by_freq : bool, default False
        True is not supported.
    sparse : bool, default False
        Accepted; the gradient is dense.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When weight is not 2-D or padding_idx is out of range.
    IndexError
        For an index out of range.
    NotImplementedError
        For scale_grad_by_freq=True.

    Shape
    -----
    - input ``(*)``; output ``(*, embedding_dim)``.

    Examples
    --------
    >>> F.embedding(ad.tensor([2, 0]), ad.eye(3)).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError("embedding(): weight must be a 2-D tensor (num_"
                         "embeddings, embedding_dim), got %s"
                         % (getattr(weight, "shape", type(weight)),))
    if scale_grad_by_freq:
        raise NotImplementedError("embedding(): scale_grad_by_freq=True is "
                                  "not supported")
    idx = _indices(input, "embedding")
    pidx = _padding_idx(padding_idx, weight.shape[0], "embedding")
    if max_norm is not None:
        if _engine.is_capturing():
            raise NotCompilableError(
                "embedding(max_norm=...) rescales the rows it reads in "
                "Python: it cannot replay under ad.compile")
        _renorm(weight, idx, max_norm, norm_type)
    return _lookup(weight, idx, pidx)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False,
                  per_sample_weights=None, include_last_offset=False,
                  padding_idx=None) -> Tensor:
    """torch.nn.functional.embedding_bag: the sum, mean or max of the
    looked-up rows of each bag -- the rows of a 2-D input (B, L), or the
    runs of a 1-D input that offsets start.  per_sample_weights (mode
    'sum') scale each row; padding_idx rows are left out of their bag
    (and of its count for 'mean'); an empty bag gives zeros.

    Parameters
    ----------
    input : Tensor or array
        int64 indices, ``(B, L)``, or 1-D with offsets.
    weight : Tensor
        ``(num_embeddings, embedding_dim)``.
    offsets : Tensor or array, optional
        The start of each bag in a 1-D input.
    max_norm : float, optional
    norm_type : float, default 2
    scale_grad_by_freq : bool, default False
        True is not supported.
    mode : {"sum", "mean", "max"}, default "mean"
    sparse : bool, default False
        Accepted; the gradient is dense.
    per_sample_weights : Tensor, optional
        Of the input's shape (mode "sum").
    include_last_offset : bool, default False
        offsets ends with the input's length.
    padding_idx : int, optional
        Its rows are left out of their bags.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For an unknown mode, bad offsets, or a weight that is not 2-D.
    NotImplementedError
        For scale_grad_by_freq=True.

    Shape
    -----
    - input ``(B, L)`` or ``(N,)`` with offsets ``(B,)``; output
      ``(B, embedding_dim)``.

    Examples
    --------
    >>> F.embedding_bag(ad.tensor([[0, 1]]), ad.eye(2), mode='sum').tolist()
    [[1.0, 1.0]]
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError("embedding_bag(): mode has to be one of sum, mean "
                         "or max, got %r" % (mode,))
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError("embedding_bag(): weight must be a 2-D tensor")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding_bag(): scale_grad_by_freq=True "
                                  "is not supported")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. "
            "per_sample_weights is only supported for mode='sum' (got "
            "mode='%s'). Please open a feature request on GitHub." % mode)
    idx = _indices(input, "embedding_bag")
    num, dim = weight.shape
    pidx = _padding_idx(padding_idx, num, "embedding_bag")
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag(): if input is 2-D, then "
                             "offsets has to be None")
        B, L = idx.shape
        bag = np.repeat(np.arange(B, dtype=np.int64), L)
        flat = _reshape(idx, (B * L,))
        psw = None if per_sample_weights is None else _reshape(
            per_sample_weights, (B * L,))
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("embedding_bag(): offsets has to be a 1-D "
                             "tensor but got None")
        off = offsets.numpy() if isinstance(offsets, Tensor) \
            else np.asarray(offsets)
        off = off.astype(np.int64).reshape(-1)
        n = idx.size
        if include_last_offset:
            if off.size == 0:
                off = np.array([n], dtype=np.int64)
            bounds = np.append(off[:-1], n)
            B = off.size - 1
        else:
            bounds = np.append(off, n)
            B = off.size
        if off.size and (off[0] != 0 or np.any(np.diff(bounds) < 0)
                         or bounds[-1] > n):
            raise ValueError("embedding_bag(): offsets must start at 0 and "
                             "not decrease, got %s" % (off.tolist(),))
        bag = np.repeat(np.arange(B, dtype=np.int64), np.diff(bounds[:B + 1]))
        flat = idx
        psw = per_sample_weights
    else:
        raise ValueError("embedding_bag(): input has to be 1D or 2D Tensor, "
                         "but got Tensor of dimension %d" % idx.ndim)
    if max_norm is not None:
        if _engine.is_capturing():
            raise NotCompilableError(
                "embedding_bag(max_norm=...) rescales rows in Python: it "
                "cannot replay under ad.compile")
        _renorm(weight, flat, max_norm, norm_type)
    rows = _lookup(weight, flat, None)                      # (n, dim)
    n = flat.size
    keep = None
    if pidx is not None:
        keep = _reshape(flat != pidx, (n, 1))               # bool (n, 1)
    if psw is not None:
        rows = rows * _reshape(psw, (n, 1))
    if mode == "max":
        neg = _creation.full((n, dim), -np.inf, dtype=weight.dtype)
        if keep is not None:
            rows = where(keep, rows, neg)
        return _bag_max(rows, bag, B, dim, weight.dtype, keep is not None)
    if keep is not None:
        rows = where(keep, rows, rows * 0.0)
    j = _creation.tensor(np.broadcast_to(bag[:, None], (n, dim)).copy())
    out = _engine._put_add(rows, j, 0, (B, dim))
    if mode == "mean":
        if keep is None:
            counts = np.bincount(bag, minlength=B).astype(np.float64)
            out = out / _creation.tensor(
                np.maximum(counts, 1.0)[:, None].astype(out.dtype))
        else:
            ones = keep.astype(weight.dtype)
            cnt = _engine._put_add(_reshape(ones, (n, 1)),
                                   _creation.tensor(bag[:, None].copy()),
                                   0, (B, 1))
            one = _creation.ones((B, 1), dtype=weight.dtype)
            out = out / _engine.maximum(cnt, one)
    return out


def _bag_max(rows, bag, B, dim, dt, padded_rows):
    """The max of each bag's rows (bags are runs of rows): padded to the
    longest bag with -inf and reduced; an empty bag (or, with padding_idx,
    one of padding rows only) gives zeros, as torch."""
    n = rows.shape[0]
    counts = np.bincount(bag, minlength=B)
    L = int(counts.max()) if B and n else 0
    if L == 0:
        return _creation.zeros((B, dim), dtype=dt)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    slot = bag * L + (np.arange(n) - starts[bag])
    # row i goes to slot[i]; the other slots read the -inf row n
    src = np.full(B * L, n, dtype=np.int64)
    src[slot] = np.arange(n)
    neg = _creation.full((1, dim), -np.inf, dtype=dt)
    table = _engine.concatenate([rows, neg], 0)
    j = _creation.tensor(np.broadcast_to(src[:, None], (B * L, dim)).copy())
    m = _engine.amax(_reshape(_engine._take(table, j, 0), (B, L, dim)), 1)
    empty = _creation.tensor(np.broadcast_to((counts == 0)[:, None],
                                             (B, dim)).copy())
    if padded_rows:
        empty = empty | (m == -np.inf)
    return where(empty, _creation.zeros((B, dim), dtype=dt), m)
