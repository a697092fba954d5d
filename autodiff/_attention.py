"""Attention (torch.nn.functional.scaled_dot_product_attention).

Composed of recorded engine ops -- matmul, masked_fill, softmax, dropout
-- so the gradient (to any order) is theirs and a compiled step replays
it.  torch's math backend is followed: scores ``(q * scale) @ k^T``, a
float mask added, a boolean mask (True = take part) and ``is_causal``
filling -inf, softmax over the keys, dropout, then ``@ v``.  As torch's
``_safe_softmax``, a query whose every key is masked gets weights 0 (its
output is 0, and no gradient flows through the row) instead of NaN;
MultiheadAttention's need_weights path uses the plain softmax (NaN rows),
as torch does.
"""
from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from . import _creation, _engine
from ._ops import matmul as _matmul
from ._engine import Tensor
from ._random import dropout as _dropout_fn
from ._shape_ops import ShapeOpError

__all__ = ["scaled_dot_product_attention", "AttentionError"]

_NEG_INF = float("-inf")


class AttentionError(ShapeOpError):
    """A bad shape, dtype or argument combination for attention: a
    RuntimeError as torch raises, and a ValueError."""


def _float_tensor(x, name: str, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError("%s(): argument '%s' must be a Tensor, not %s"
                        % (fn, name, type(x).__name__))
    if x.dtype.kind != "f":
        raise TypeError("%s(): %s must be a floating point tensor, got %s"
                        % (fn, name, x.dtype))
    return x


@functools.lru_cache(maxsize=32)
def _causal_bias(L: int, S: int, dtype: str) -> Tensor:
    """is_causal as an additive mask, as torch's math backend: torch keeps
    ones(L, S).tril(), so key j > i gets -inf, the others 0 (a constant,
    made once per shape and dtype and never written; no row is fully
    masked).  Adding it is cheaper than masked_fill: its backward passes
    the gradient on unchanged."""
    m = np.triu(np.full((L, S), -np.inf, dtype=dtype), 1)
    return _creation.tensor(m)


def causal_bias(L: int, S: int, dtype) -> Tensor:
    return _causal_bias(int(L), int(S), np.dtype(dtype).name)


def _attend(q: Tensor, k: Tensor, v: Tensor, blocked, bias, scale: float,
            dropout_p: float, safe: bool, need_weights: bool = False,
            rows_may_be_empty: bool = True):
    """softmax((q * scale) @ k^T + bias, -inf where blocked) @ v.

    blocked: a bool tensor broadcastable to the scores (True = masked
    out) or None; bias: a float tensor broadcastable to them, or None.
    safe: fully masked rows get weights 0 (torch's _safe_softmax)
    instead of NaN (rows_may_be_empty=False: the caller knows none is).
    Returns (output, weights or None)."""
    s = _matmul(q * scale, k.transpose(-2, -1))
    if bias is not None:
        s = s + bias
    fully = None
    if safe and rows_may_be_empty and bias is None and blocked is not None:
        # rows with no key to attend to: leave them unmasked (a finite
        # softmax) and zero their weights afterwards
        fully = blocked.all(-1, keepdim=True)
        blocked = _engine.logical_and(blocked, _engine.logical_not(fully))
    if blocked is not None:
        s = s.masked_fill(blocked, _NEG_INF)
    if safe and rows_may_be_empty and bias is not None:
        fully = (s == _NEG_INF).all(-1, keepdim=True)
        s = s.masked_fill(fully, 0.0)
    p = _engine.softmax(s, -1)
    if fully is not None:
        p = p.masked_fill(fully, 0.0)
    if dropout_p > 0.0:
        p = _dropout_fn(p, dropout_p)
    out = _matmul(p, v)
    return out, (p if need_weights else None)


def _check_dropout(p, fn: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or \
            not 0.0 <= p <= 1.0:
        raise ValueError("%s(): dropout_p must be a number in [0, 1], got %r"
                         % (fn, p))
    return float(p)


def _broadcast(shapes, what: str, fn: str):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise AttentionError("%s(): %s of shapes %s do not broadcast"
                             % (fn, what, ", ".join(str(list(s))
                                                    for s in shapes))
                             ) from None


def scaled_dot_product_attention(query, key, value, attn_mask=None,
                                 dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None,
                                 enable_gqa: bool = False) -> Tensor:
    """torch.nn.functional.scaled_dot_product_attention:
    softmax(q @ k^T * scale + mask) @ v over the last two dims.

    query (..., L, E), key (..., S, E), value (..., S, Ev), leading dims
    broadcast; scale defaults to 1/sqrt(E).  attn_mask broadcastable to
    (..., L, S): bool (True = take part) or float of query's dtype (added
    to the scores).  is_causal: query i attends to keys 0..i (together
    with attn_mask it raises, as torch).  dropout_p drops attention
    weights (always, as torch's functional form: pass 0.0 in eval).
    enable_gqa: key/value may have fewer heads (dim -3) than query, a
    divisor of them; each is repeated for its group of query heads.

    Parameters
    ----------
    query : Tensor
        ``(..., L, E)``.
    key : Tensor
        ``(..., S, E)``.
    value : Tensor
        ``(..., S, Ev)``.
    attn_mask : Tensor, optional
        Broadcastable to ``(..., L, S)``.
    dropout_p : float, default 0.0
    is_causal : bool, default False
    scale : float, optional
        1/sqrt(E) by default.
    enable_gqa : bool, default False
        Grouped-query attention.

    Returns
    -------
    Tensor
        ``(..., L, Ev)``.

    Raises
    ------
    ValueError
        For shapes that do not fit, or is_causal with attn_mask (RuntimeError
        and ValueError, as torch).

    Shape
    -----
    - query ``(N, ..., L, E)``, key ``(N, ..., S, E)``, value ``(N, ..., S,
      Ev)``; output ``(N, ..., L, Ev)``.

    Examples
    --------
    >>> q = ad.ones(2, 3, 4)
    >>> F.scaled_dot_product_attention(q, q, q).shape
    (2, 3, 4)
    """
    fn = "scaled_dot_product_attention"
    q = _float_tensor(query, "query", fn)
    k = _float_tensor(key, "key", fn)
    v = _float_tensor(value, "value", fn)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError("%s(): Expected query, key, and value to have the "
                        "same dtype, but got query.dtype: %s key.dtype: %s "
                        "and value.dtype: %s instead."
                        % (fn, q.dtype, k.dtype, v.dtype))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise AttentionError("%s(): query, key and value must have at least "
                             "2 dims (..., seq, features), got %s, %s and %s"
                             % (fn, list(q.shape), list(k.shape),
                                list(v.shape)))
    if q.shape[-1] != k.shape[-1]:
        raise AttentionError("%s(): query %s and key %s must have the same "
                             "last dim (the embedding)"
                             % (fn, list(q.shape), list(k.shape)))
    if k.shape[-2] != v.shape[-2]:
        raise AttentionError("%s(): key %s and value %s must have the same "
                             "sequence length (dim -2)"
                             % (fn, list(k.shape), list(v.shape)))
    dropout_p = _check_dropout(dropout_p, fn)
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and v.ndim >= 3:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise AttentionError(
                "%s(): with enable_gqa the number of query heads (dim -3 of "
                "%s) must be a multiple of key's %s and value's %s"
                % (fn, list(q.shape), list(k.shape), list(v.shape)))
        if hk != hq:
            k = k.repeat_interleave(hq // hk, -3)
        if hv != hq:
            v = v.repeat_interleave(hq // hv, -3)
    _broadcast([q.shape[:-2], k.shape[:-2], v.shape[:-2]],
               "the batch dims of query, key and value", fn)
    L, S = q.shape[-2], k.shape[-2]
    if scale is None:
        sc = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else math.inf
    elif isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError("%s(): scale must be a number or None, got %r"
                        % (fn, scale))
    else:
        sc = float(scale)
    blocked = bias = None
    if is_causal:
        if attn_mask is not None:
            raise AttentionError("%s(): Explicit attn_mask should not be set "
                                 "when is_causal=True" % fn)
        bias = causal_bias(L, S, q.dtype)
    elif attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError("%s(): attn_mask must be a Tensor or None, not "
                            "%s" % (fn, type(attn_mask).__name__))
        if attn_mask.dtype == np.bool_:
            blocked = _engine.logical_not(attn_mask)
        elif attn_mask.dtype == q.dtype:
            bias = attn_mask
        else:
            raise TypeError("%s(): Expected attn_mask dtype to be bool or "
                            "to match query dtype, but got attn_mask.dtype: "
                            "%s and query.dtype: %s instead."
                            % (fn, attn_mask.dtype, q.dtype))
        if attn_mask.ndim == 0:
            raise AttentionError("%s(): attn_mask must have at least 1 dim"
                                 % fn)
        scores = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2])) + \
            (L, S)
        try:
            full = np.broadcast_shapes(scores, attn_mask.shape)
        except ValueError:
            full = None
        if full is None or tuple(full) != scores:
            raise AttentionError("%s(): attn_mask %s does not broadcast to "
                                 "the attention scores %s"
                                 % (fn, list(attn_mask.shape), list(scores)))
    out, _ = _attend(q, k, v, blocked, bias, sc, dropout_p, safe=True,
                     rows_may_be_empty=not is_causal)
    return out
