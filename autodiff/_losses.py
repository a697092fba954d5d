"""The class-label losses: argument checks, class labels made int64, and
class-probability targets; the loss itself is one fused op in C
(``_engine._nll``).  The elementwise losses (mse, l1, bce) are engine entry
points of their own.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._capture import ArrayInput
from ._dtypes import dtype_code
from ._engine import Tensor, _nll, _operand, _reshape, _t, log_softmax

if TYPE_CHECKING:
    from ._engine import _Reduction, _TensorLike

__all__ = ["cross_entropy", "nll_loss"]

_REDUCTIONS = ("mean", "sum", "none")
_INT64 = np.dtype(np.int64)


def _labels(target: Any, n: int, name: str) -> Any:
    """target as n int64 class labels, checked: integral values only, in
    the int64 range, one per sample.  An int64 tensor is returned as it is
    (the engine reads it and checks the range)."""
    if type(target) is ArrayInput:
        # an argument of a compiled function: its int64 buffer is a
        # registered input, so the engine reads each call's labels
        arr = target.labels(name)
        if arr.shape[0] != n:
            raise ValueError("%s: expected input batch_size (%d) to match "
                             "target batch_size (%d)" % (name, n,
                                                         arr.shape[0]))
        return arr
    if isinstance(target, Tensor):
        if target.dtype == _INT64:
            # read by the engine (the C op checks the range on every run),
            # so a compiled step reads each call's labels
            if target.ndim != 1:
                raise ValueError("%s: expected 1-D class labels" % name)
            if target.shape[0] != n:
                raise ValueError("%s: expected input batch_size (%d) to "
                                 "match target batch_size (%d)"
                                 % (name, n, target.shape[0]))
            return target
        arr = target.numpy()
    else:
        arr = np.asarray(target)
    if arr.dtype.kind == "f":
        flat = arr.reshape(-1)
        bad = np.flatnonzero(flat != np.round(flat))
        if bad.size:
            raise ValueError("%s: class labels must be integers, got %r "
                             "(sample %d)" % (name, flat[bad[0]].item(),
                                              bad[0]))
        # checked before the cast, which would wrap 1e30 or inf to an
        # arbitrary (often negative) int64
        bad = np.flatnonzero(np.abs(flat) >= 2.0 ** 63)
        if bad.size:
            raise IndexError("%s: target %r is out of bounds (sample %d)"
                             % (name, flat[bad[0]].item(), bad[0]))
    elif arr.dtype.kind == "u" and arr.size and arr.max() >= 2 ** 63:
        raise IndexError("%s: target %d is out of bounds" % (name,
                                                             arr.max()))
    elif arr.dtype.kind not in "iub":
        raise TypeError("%s: class labels must be integers, got dtype %s"
                        % (name, arr.dtype))
    if arr.ndim > 1:
        raise ValueError("%s: expected 1-D class labels" % name)
    if not (arr.dtype is _INT64 and arr.ndim == 1
            and arr.flags.c_contiguous):
        arr = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError("%s: expected input batch_size (%d) to match target "
                         "batch_size (%d)" % (name, n, arr.shape[0]))
    return arr


def _nll_loss(input: Any, target: Any, reduction: Any, ignore: Any,
              from_logits: int, name: str) -> Tensor:
    try:
        ignore = operator.index(ignore)
    except TypeError:
        raise TypeError("%s: ignore_index must be an integer, got %r"
                        % (name, ignore)) from None
    if not -2 ** 63 <= ignore < 2 ** 63:    # would raise OverflowError
        raise ValueError("%s: ignore_index %d is out of the int64 range"
                         % (name, ignore))
    x = _t(input)
    if reduction not in _REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r"
                         % (reduction,))
    single = x.ndim == 1
    if single:
        x = _reshape(x, (1, x.shape[0]))
    if x.ndim != 2:
        raise ValueError("%s: expected input of shape (N, C) or (C,), got %s"
                         % (name, x.shape))
    if (from_logits and not isinstance(target, (int, np.integer))
            and not single and (
                target.ndim if isinstance(target, (Tensor, np.ndarray))
                else np.ndim(target)) == 2):
        # Class probabilities as targets (same shape as the logits).
        p = _operand(target, dtype_code(x.dtype))
        if p.shape != x.shape:
            raise ValueError("%s: probability target of shape %s does not "
                             "match input %s" % (name, p.shape, x.shape))
        per = -(log_softmax(x, 1) * p).sum(1)
        if reduction == "mean":
            return per.mean()
        return per.sum() if reduction == "sum" else per
    labels = _labels([target] if single and np.ndim(target) == 0 else target,
                     x.shape[0], name)
    per = _nll(x, labels, ignore, from_logits, reduction)
    if single and reduction == "none":
        return _reshape(per, ())
    return per


def cross_entropy(input: _TensorLike, target: _TensorLike,
                  reduction: _Reduction = "mean",
                  ignore_index: int = -100) -> Tensor:
    """Softmax cross-entropy of logits (N, C) and integer labels (N,),
    fused in C; also accepts class-probability targets of shape (N, C)."""
    return _nll_loss(input, target, reduction, ignore_index, 1,
                     "cross_entropy")


def nll_loss(input: _TensorLike, target: _TensorLike,
             reduction: _Reduction = "mean",
             ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood of log-probabilities (N, C) and labels."""
    return _nll_loss(input, target, reduction, ignore_index, 0, "nll_loss")
