"""Indexing and item assignment: ``x[key]`` and ``x[key] = value``.

numpy computes which flat positions a key selects (:func:`_flat_index`,
numpy's semantics for every key form, except that integers select before
advanced indices apply, as in torch: :func:`_torch_index`); the engine
gathers them in one op
(``_engine._gather``).  Assignment follows torch's ``index_put_``: written
in place (a version bump), or -- when grad mode is on and the tensor or
the value requires grad -- recomputed with recorded ops, the tensor then
taking the result (``_engine._rebind``), so it is differentiable.
"""
import dis
import sys
import threading

import numpy as np

from . import _engine
from ._dtypes import I64, dtype_code
from ._engine import (Tensor, _as_ndarray, _buffer_view, _check_writable,
                      _copy_into, _from_array, _gather, _gather_flat,
                      _mark_modified, _rebind, _reshape, _scatter_add,
                      _shares_buffer, broadcast_to, is_capturing,
                      is_grad_enabled, set_grad_enabled, where)


def _index_part(k):
    """One part of a key as numpy indexes with it: int64 and bool tensors
    are integer and mask indices (read now: under ad.compile, numpy()
    refuses, as the positions would be frozen), float tensors holding
    integers are accepted as integer indices."""
    if isinstance(k, Tensor):
        arr = k.numpy()
        if arr.dtype.kind in "bi":
            return arr
        if np.any(arr != np.round(arr)) or not np.all(np.isfinite(arr)):
            raise IndexError("tensors used as indices must hold integers")
        return arr.astype(np.int64)
    if isinstance(k, list):
        arr = np.asarray(k)
        # numpy indexes with an empty list as with an empty integer array
        return arr.astype(np.int64) if arr.size == 0 else arr
    return k


def _index_key(key):
    if isinstance(key, tuple):
        return tuple([_index_part(k) for k in key])
    return _index_part(key)


def _is_basic(key):
    """Only ints, slices, None and Ellipsis: torch returns a view."""
    for k in (key if isinstance(key, tuple) else (key,)):
        if k is None or k is Ellipsis or isinstance(k, slice):
            continue
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            continue
        return False
    return True


def _is_int(k):
    """An integer index that torch applies as a select (Python and numpy
    integers, 0-d integer arrays), before any advanced index."""
    if isinstance(k, (bool, np.bool_)):
        return False
    if isinstance(k, (int, np.integer)):
        return True
    return isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu"


def _torch_index(a, key):
    """a[key] with torch's rule where numpy's differs: integers select
    first (torch's applySelect), and the advanced indices that remain are
    then adjacent or not by themselves -- so x[1, :, [0, 1]] has shape
    (3, 2) as in torch, where numpy gives (2, 3).  a: an array or a view."""
    parts = key if isinstance(key, tuple) else (key,)
    ints = [_is_int(k) for k in parts]
    if not any(ints) or all(ints) or all(
            _is_int(k) or k is None or k is Ellipsis or isinstance(k, slice)
            for k in parts):
        return a[key]
    first, rest = [], []
    for k, i in zip(parts, ints):
        if i:
            first.append(k)
            continue
        rest.append(k)
        if k is Ellipsis:
            first.append(k)
        elif k is not None:
            n = k.ndim if isinstance(k, np.ndarray) and \
                k.dtype == np.bool_ else 1
            first.extend([slice(None)] * n)
    return a[tuple(first)][tuple(rest)]


def _flat_index(shape, key):
    """The flat (C order) positions that key selects in a contiguous array
    of this shape, shaped like the result: torch's semantics for every
    key form (key already through _index_part).  Built per axis from the
    strides on broadcast views, so only the selected positions are ever
    materialised: x[0] of a (1000, 1000) tensor makes 1000 indices, not
    the million that np.arange(size).reshape(shape)[key] would."""
    shape = tuple(shape)
    nd = len(shape)
    if nd == 0:
        total = np.zeros((), dtype=np.int64)[key]
    else:
        total = None
        stride = 1
        for d in range(nd - 1, -1, -1):
            ax = np.arange(shape[d], dtype=np.int64) * stride
            stride *= shape[d]
            view = np.broadcast_to(
                ax.reshape((1,) * d + (shape[d],) + (1,) * (nd - 1 - d)),
                shape)
            part = _torch_index(view, key)
            total = part if total is None else total + part
    return np.asarray(total, dtype=np.int64, order="C")   # keeps 0-d


def _int_tensor_key(x, key):
    """x[key] where key holds int64 tensors (and no bool or float tensor):
    the positions are computed by recorded engine ops from the tensors'
    values, so a compiled replay follows new indices (the numpy path would
    read them once).  Each int64 tensor t indexing axis d contributes
    stride[d] * t, looked up in a table with take (bounds checked, negative
    values counting from the end, in C at run time) and spread over the
    result by a constant gather whose map numpy computes from the shapes
    alone; the rest of the key gives a constant base.  None when the key
    is not of this form or an edge case (empty axes or indices) is left to
    the numpy path."""
    parts = list(key) if isinstance(key, tuple) else [key]
    if not any(isinstance(p, Tensor) and p.dtype == np.int64 for p in parts):
        return None
    shape = x.shape
    nd = len(shape)
    consumed, tens = 0, []
    for i, p in enumerate(parts):
        if isinstance(p, Tensor):
            if p.dtype != np.int64 or p.size == 0:
                return None
            tens.append(i)
            consumed += 1
            continue
        p = parts[i] = _index_part(p)
        if p is None or p is Ellipsis:
            continue
        consumed += p.ndim if isinstance(p, np.ndarray) and \
            p.dtype == np.bool_ else 1
    if sum(p is Ellipsis for p in parts) > 1 or consumed > nd or \
            0 in shape:
        return None
    # the axis each tensor indexes
    axes, ax = {}, 0
    for i, p in enumerate(parts):
        if p is Ellipsis:
            ax += nd - consumed
        elif p is None:
            continue
        elif i in tens:
            axes[i] = ax
            ax += 1
        else:
            ax += p.ndim if isinstance(p, np.ndarray) and \
                p.dtype == np.bool_ else 1
    # 0-d tensors are integers (selects, torch's rule); others arrays
    zeros = list(parts)
    for i in tens:
        zeros[i] = 0 if parts[i].ndim == 0 else \
            np.zeros(parts[i].shape, dtype=np.int64)
    base = _flat_index(shape, tuple(zeros))
    strides = np.cumprod((1,) + tuple(shape[:0:-1]))[::-1]
    total = None
    for i in tens:
        d, t = axes[i], parts[i]
        n = t.size
        table = _from_array(np.arange(shape[d], dtype=np.int64)
                            .reshape((1,) * d + (shape[d],))
                            * int(strides[d]), I64)
        off = _engine._take(table, _reshape(t, (1,) * d + (n,)), d, True)
        if t.ndim == 0:
            off = broadcast_to(_reshape(off, ()), base.shape)
        else:
            # which element of t each result position uses
            vshape = shape[:d] + (n,) + shape[d + 1:]
            view = np.broadcast_to(np.arange(n, dtype=np.int64).reshape(
                (1,) * d + (n,) + (1,) * (nd - d - 1)), vshape)
            probe = list(zeros)
            probe[i] = np.arange(n, dtype=np.int64).reshape(t.shape)
            where_t = np.asarray(_torch_index(view, tuple(probe)),
                                 dtype=np.int64, order="C")
            off = _gather(_reshape(off, (n,)), where_t, False)
        total = off if total is None else total + off
    if base.any():
        total = total + _from_array(base, I64)
    flat = _reshape(x, (x.size,))
    return _reshape(_engine._take(flat, _reshape(total, (total.size,)), 0),
                    base.shape)


def getitem(x, key):
    """x[key]: one gather op (differentiable); a copy, also where torch
    would return a view (such a copy then refuses in-place writes, except
    in ``x[key] op= v``: see :func:`augmented_writeback`).  Keys with
    int64 tensors compute their positions with recorded ops
    (:func:`_int_tensor_key`)."""
    r = _int_tensor_key(x, key)
    if r is not None:
        return r
    basic = _is_basic(key)
    r = _gather(x, _flat_index(x.shape, _index_key(key)), basic)
    if basic and _reads_augmented_target(sys._getframe(1)):
        pending = _aug.__dict__.setdefault("pending", {})
        if len(pending) >= 8:       # statements that raised half way
            pending.clear()
        pending[id(r)] = r
    return r


# ------------------------------------------- x[key] op= v on a copy
#
# Python runs ``x[key] += v`` as ``t = x[key]; t = t.__iadd__(v);
# x[key] = t``.  In torch t is a view and the in-place op writes x; here t
# is a copy, which refuses in-place ops -- except when the bytecode shows
# that t was read by this very augmented assignment (getitem called from
# the ``COPY 2; COPY 2; BINARY_SUBSCR`` that only ``x[key] op= v``
# compiles to) and that the in-place op's result is stored straight back
# into x[key] (the next instruction is STORE_SUBSCR).  The copy is then
# unreachable by any name, and the write-back gives x torch's values.
# Anything else (another Python, an unknown pattern) keeps refusing.

_aug = threading.local()
_OP = dis.opmap
_CACHE = _OP.get("CACHE", -1)
_COPY = _OP.get("COPY", -1)
_SWAP = _OP.get("SWAP", -1)
_BINARY_OP = _OP.get("BINARY_OP", -1)
_BINARY_SUBSCR = _OP.get("BINARY_SUBSCR", -1)
_BINARY_SLICE = _OP.get("BINARY_SLICE", -1)
_STORE_SUBSCR = _OP.get("STORE_SUBSCR", -1)
_STORE_SLICE = _OP.get("STORE_SLICE", -1)
# BINARY_OP's argument for the in-place operators (+= ... ^=, 3.11+)
_INPLACE_ARGS = {i for i, (_, s) in enumerate(
    getattr(dis, "_nb_ops", ())) if s.endswith("=") and s not in ("==",)}


_codes = {}


def _bytecode(frame):
    """frame's co_code, cached per code object (CPython 3.11 builds a new
    bytes object on every co_code access)."""
    c = frame.f_code
    b = _codes.get(c)
    if b is None:
        if len(_codes) > 512:
            _codes.clear()
        b = _codes[c] = c.co_code
    return b


def _reads_augmented_target(frame):
    if _COPY < 0:                   # Python < 3.11: not recognised
        return False
    code, i = _bytecode(frame), frame.f_lasti
    if i < 4 or i + 1 >= len(code):
        return False
    op = code[i]
    if op == _BINARY_SUBSCR:
        need = 2
    elif op == _BINARY_SLICE:
        need = 3
    else:
        return False
    for j in range(1, need + 1):
        k = i - 2 * j
        if k < 0 or code[k] != _COPY or code[k + 1] != need:
            return False
    return True


def augmented_writeback(t):
    """True if the in-place op now running on the copy t is that of an
    ``x[key] op= v`` whose result is stored back into x[key] (called by
    the engine's in-place check, from inside the operator)."""
    pending = getattr(_aug, "pending", None)
    if not pending or pending.pop(id(t), None) is not t:
        return False
    frame = sys._getframe(1)
    code, i = _bytecode(frame), frame.f_lasti
    if i + 1 >= len(code) or code[i] != _BINARY_OP or \
            code[i + 1] not in _INPLACE_ARGS:
        return False
    i += 2
    while i < len(code) and code[i] in (_CACHE, _SWAP):
        i += 2
    return i < len(code) and code[i] in (_STORE_SUBSCR, _STORE_SLICE)


# ------------------------------------------------------- item assignment

def _last_positions(fi):
    """Positions in fi of the last occurrence of each index, or None when
    every index occurs once: with repeated indices the last value is
    written (torch leaves that case undefined for index_put_)."""
    if fi.shape[0] < 2:
        return None
    uniq, first = np.unique(fi[::-1], return_index=True)
    if uniq.shape[0] == fi.shape[0]:
        return None
    return np.sort(fi.shape[0] - 1 - first)


def _value_shape(vshape, target):
    """vshape with leading 1s beyond target's rank dropped (numpy and
    torch accept them), checked to broadcast to target."""
    vs = tuple(vshape)
    while len(vs) > len(target) and vs[0] == 1:
        vs = vs[1:]
    try:
        ok = np.broadcast_shapes(vs, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("shape mismatch: value tensor of shape %s cannot "
                         "be broadcast to indexing result of shape %s"
                         % (tuple(vshape), target))
    return vs


def setitem(self, key, value):
    """self[key] = value, as torch's index_put_.  In place (a version
    bump) unless grad mode is on and self or value requires grad: then
    the new value is computed with recorded ops and this object takes
    the resulting tensor (differentiable)."""
    grad = is_grad_enabled()
    _check_writable(self, "item assignment")
    if grad and self.requires_grad and self.is_leaf:
        raise RuntimeError("a leaf Variable that requires grad is being "
                           "used in an in-place operation.")
    if isinstance(value, Tensor):
        vshape = value.shape
    else:
        value = _as_ndarray(value)
        if value.dtype.kind not in "fbiu":
            raise TypeError("cannot assign values of dtype %s to a %s tensor"
                            % (value.dtype, self.dtype))
        vshape = value.shape
    idx = _flat_index(self.shape, _index_key(key))
    target = tuple(idx.shape)
    vs = _value_shape(vshape, target)
    fi = idx.reshape(-1)
    pos = None if _is_basic(key) else _last_positions(fi)
    differentiable = grad and (self.requires_grad or (
        isinstance(value, Tensor) and value.requires_grad))
    if differentiable:
        if _shares_buffer(self):
            raise RuntimeError(
                "item assignment: this tensor of shape %s shares its memory "
                "with another tensor (a reshape, view or detach of it, or "
                "the tensor it is a reshape of), which would not see a "
                "recorded assignment. Assign into a tensor of its own "
                "(y = y.clone() first) or build the value out of place "
                "(ad.where)"
                % (self.shape,))
        if self.is_leaf and is_capturing():
            raise RuntimeError(
                "item assignment: assigning a value that requires grad into "
                "a leaf tensor that ad.compile does not own cannot be "
                "recorded; create the tensor inside the compiled function "
                "or use ad.where")
        _rebind(self, _index_put(self, fi, pos,
                                 _assigned(self, value, vs, target)))
        return
    if is_capturing():
        # recorded ops and a COPY instruction: a replay redoes the write
        was = is_grad_enabled()
        set_grad_enabled(False)
        try:
            new = _index_put(self, fi, pos, _assigned(self, value, vs,
                                                      target))
        finally:
            set_grad_enabled(was)
        _copy_into(self, new)
        return
    # eager: numpy writes straight into the buffer, touching only the
    # selected elements
    arr = value.numpy() if isinstance(value, Tensor) else value
    vals = np.broadcast_to(np.asarray(arr).reshape(vs), target).reshape(-1)
    if pos is not None:
        fi = fi[pos]
        vals = vals[pos]
    if fi.shape[0]:
        _buffer_view(self)[fi] = vals
    _mark_modified(self)


def _assigned(self, value, vs, target):
    """value as a tensor of self's dtype and the indexed shape
    (recorded when value requires grad)."""
    if isinstance(value, Tensor):
        v = value
        if v.dtype != self.dtype:
            v = v.astype(self.dtype)
    else:
        v = _from_array(value, dtype_code(self.dtype))
    if v.shape != vs:
        v = _reshape(v, vs)
    if vs != target:
        v = broadcast_to(v, target)
    return v


def _index_put(x, fi, pos, v):
    """x with x.flat[fi] = v.flat (the last of repeated indices, pos),
    from recorded ops: the gradient reaches x where nothing was assigned
    and v through a gather of the assigned positions."""
    vflat = _reshape(v, (v.size,))
    if pos is not None:
        vflat = _gather_flat(vflat, pos, (pos.shape[0],))
        fi = fi[pos]
    scattered = _scatter_add(vflat, fi, x.shape)
    mask = np.zeros(x.size, dtype=bool)
    mask[fi] = True
    return where(mask.reshape(x.shape), scattered, x)
