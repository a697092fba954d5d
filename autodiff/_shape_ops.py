"""Shape and indexing ops with PyTorch's names and semantics, composed of
the engine's ops (reshape, permute, broadcast_to, the flat-index gather,
its transpose scatter_add, where, ...): expand, split, chunk, unbind,
unflatten, repeat, tile, repeat_interleave, flip, roll, tril, triu, diag,
diagonal, narrow, movedim, index_select, gather, take_along_dim, scatter,
scatter_add, masked_fill, masked_select, nonzero and nn.functional.pad.

How they are built.  Most of these ops only move values around: the
positions they read are computed in numpy at call time from the input's
*shape* (and from index or mask arrays), as flat C-order positions, and the
engine gathers them in one recorded op (``_gather``).  Its gradient is the
scatter-add of the same positions (repeated positions accumulate), whose
own derivative is the gather again, so every op here differentiates to any
order with no rule of its own and replays under ``ad.compile`` as the
ordinary gathers, reshapes and wheres it recorded.

Indices and masks.  Index arguments go through one helper, ``_as_index``
(numpy int64; autodiff tensors through ``.numpy()``), masks through
``_as_mask`` (numpy bool).  Both are read in Python at call time, so under
``ad.compile`` they follow the compile contract: an index or mask that is
a numpy array built in the function or closed over is a constant of the
recording; one passed as an argument of the compiled function (an
``ArrayInput``) or held in a tensor is data the replay could not re-read
in Python, and reading it raises ``NotCompilableError`` (the step then runs
eagerly) -- never a replay silently frozen at the first call's indices.
``masked_select`` and ``nonzero`` have an output shape that depends on the
data: the same rule applies to them.

Errors follow PyTorch's messages.  Where PyTorch raises a bare
``RuntimeError`` for a bad size or argument, these ops raise
``ShapeOpError``, which is both a ``RuntimeError`` (as in torch, so ported
``except RuntimeError`` code works) and a ``ValueError`` (the package's
type for a bad value); dims out of range raise ``IndexError`` as in torch.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._dtypes import I64
from . import _creation, _engine
from ._capture import ArrayInput
from ._engine import (Tensor, _from_array, _gather, _reshape, _scatter_add, _t,
                      broadcast_to, permute, where)
from ._indexing import _flat_index, _index_put, _last_positions
from ._ops import _dim

__all__ = ["ShapeOpError", "IndexOutOfBoundsError", "expand", "expand_as",
           "split", "chunk", "unbind", "unflatten", "repeat", "tile", "repeat_interleave",
           "flip", "roll", "tril", "triu", "diag", "diagonal", "narrow",
           "movedim", "moveaxis", "index_select", "gather",
           "take_along_dim", "scatter", "scatter_add", "masked_fill",
           "masked_select", "nonzero", "pad"]


class ShapeOpError(ValueError, RuntimeError):
    """A bad size or argument of a shape or indexing op: a RuntimeError as
    PyTorch raises, and a ValueError."""


# ------------------------------------------------------------- helpers

def _as_index(obj) -> np.ndarray:
    """An index argument as a numpy int64 array: numpy integer arrays,
    Python ints and lists, autodiff tensors (through .numpy(); float
    tensors must hold integers).  Bool arrays are refused (torch wants
    int64 indices)."""
    if isinstance(obj, Tensor):
        arr = obj.numpy()
    else:
        arr = np.asarray(obj)
    if arr.dtype.kind == "b":
        raise TypeError("expected an integer index, got a bool array; use "
                        "a mask op (masked_select, masked_fill) or "
                        "nonzero() for masks")
    if arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise TypeError("index values must be integers, got %s"
                            % (arr.dtype,))
    elif arr.dtype.kind not in "iu":
        raise TypeError("expected an integer index, got dtype %s"
                        % (arr.dtype,))
    return arr.astype(np.int64)


def _as_mask(obj) -> np.ndarray:
    """A mask argument as a numpy bool array (any numeric value: nonzero
    is True; autodiff tensors through .numpy())."""
    if isinstance(obj, Tensor):
        arr = obj.numpy()
    else:
        arr = np.asarray(obj)
    if arr.dtype.kind not in "fbiu":
        raise TypeError("expected a bool mask, got dtype %s" % (arr.dtype,))
    return arr != 0 if arr.dtype.kind != "b" else arr


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else _t(x)


def _dim_kw(dim, axis, default=None):
    """torch's dim= beside numpy's axis= (one of them)."""
    if axis is not None:
        if dim is not None and dim is not default and dim != default:
            raise TypeError("pass dim= or axis=, not both")
        return axis
    return dim


def _positions(shape) -> np.ndarray:
    """np.arange over the flat positions, shaped like the tensor: numpy
    then moves positions around exactly as it would move the values."""
    return np.arange(int(np.prod(shape, dtype=np.int64)),
                     dtype=np.int64).reshape(shape)


def _take(x: Tensor, pos: np.ndarray, view: bool = False) -> Tensor:
    """x.flat[pos], shaped like pos: one recorded gather.  view: torch
    returns a view here, so this copy refuses in-place writes (which
    would not reach x), as basic indexing's copies do."""
    # np.asarray, not ascontiguousarray: that makes a 0-d array 1-d
    return _gather(x, np.asarray(pos, dtype=np.int64, order="C"), view)


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral,)):
        if isinstance(v, Tensor) and v.ndim == 0:
            return int(_as_index(v))
        raise TypeError("%s must be an int, got %r" % (what, v))
    return int(v)


def _sizes(args, what):
    """*sizes or one sequence of sizes, as a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, np.ndarray)):
        args = tuple(args[0])
    return tuple(_int(s, what) for s in args)


def _dims(args, ndim):
    """*dims or one sequence (or int) of dims, normalised and checked for
    repeats."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = [_dim(d, ndim) for d in args]
    for i, d in enumerate(out):
        if d in out[:i]:
            raise ShapeOpError("dim %d appears multiple times in the list "
                               "of dims" % d)
    return out


# ------------------------------------------------------------ expanding

def expand(x, *sizes) -> Tensor:
    """Tensor.expand(*sizes): broadcast to sizes, -1 keeping a dim; new
    dims are added in front.  A copy here (a view in torch)."""
    t = _tensor(x)
    sizes = _sizes(sizes, "expand size")
    shape = t.shape
    if len(sizes) < len(shape):
        raise ShapeOpError(
            "expand: the number of sizes provided (%d) must be greater or "
            "equal to the number of dimensions in the tensor (%d); tensor "
            "shape %s" % (len(sizes), len(shape), shape))
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise ShapeOpError(
                    "The expanded size of the tensor (%d) isn't allowed in "
                    "a leading, non-existing dimension %d" % (s, i))
            target.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            s = have
        elif s != have and have != 1:
            raise ShapeOpError(
                "The expanded size of the tensor (%d) must match the "
                "existing size (%d) at non-singleton dimension %d.  Target "
                "sizes: %s.  Tensor sizes: %s"
                % (s, have, i, list(sizes), list(shape)))
        elif s < 0:
            raise ShapeOpError("expand: invalid size %d at dimension %d"
                               % (s, i))
        target.append(s)
    return broadcast_to(t, tuple(target))


def expand_as(x, other) -> Tensor:
    return expand(x, tuple(_tensor(other).shape))


def repeat(x, *sizes) -> Tensor:
    """Tensor.repeat(*sizes): tile the tensor sizes[i] times along each
    dim (numpy's tile; len(sizes) >= x.ndim, extra dims in front)."""
    t = _tensor(x)
    if not sizes:
        raise TypeError("repeat() missing the repeat sizes")
    sizes = _sizes(sizes, "repeat size")
    if len(sizes) < t.ndim:
        raise ShapeOpError(
            "Number of dimensions of repeat dims can not be smaller than "
            "number of dimensions of tensor (repeats %s for a tensor of "
            "shape %s)" % (sizes, t.shape))
    for s in sizes:
        if s < 0:
            raise ShapeOpError("repeat: repeats must be non-negative, got "
                               "%s" % (sizes,))
    pos = _positions(t.shape).reshape((1,) * (len(sizes) - t.ndim)
                                      + t.shape)
    return _take(t, np.tile(pos, sizes))


def tile(x, dims) -> Tensor:
    """torch.tile: repeat with dims padded by leading 1s to x.ndim.

    Parameters
    ----------
    x : Tensor or array
        The input.
    dims : sequence of ints
        The repetitions per dimension.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.tile(ad.tensor([1, 2]), (2,)).tolist()
    [1, 2, 1, 2]
    """
    t = _tensor(x)
    dims = _sizes((dims,) if not isinstance(dims, (tuple, list))
                  else tuple(dims), "tile dims")
    if len(dims) < t.ndim:
        dims = (1,) * (t.ndim - len(dims)) + dims
    return repeat(t, dims)


def repeat_interleave(x, repeats, dim=None, *, output_size=None,
                      axis=None) -> Tensor:
    """Repeat each element repeats times (an int, or one count per
    element along dim) -- numpy's repeat.  dim=None flattens first.

    Parameters
    ----------
    x : Tensor or array
        The input.
    repeats : int or sequence of ints or Tensor
        One count, or one per element along dim.
    dim : int, optional
        Without it the tensor is flattened first.
    output_size : int, optional (keyword only)
        The total length, as torch (checked).
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.repeat_interleave(ad.tensor([1, 2]), 2).tolist()
    [1, 1, 2, 2]
    """
    t = _tensor(x)
    dim = _dim_kw(dim, axis)
    if isinstance(repeats, (numbers.Integral,)) and not isinstance(
            repeats, bool):
        reps = np.int64(repeats)
    else:
        reps = _as_index(repeats)
        if reps.ndim > 1:
            raise ShapeOpError("repeat_interleave: repeats must be 0-dim or "
                               "1-dim tensor, got shape %s"
                               % (reps.shape,))
    if np.any(reps < 0):
        raise ShapeOpError("repeat_interleave: repeats must be "
                           "non-negative")
    if dim is None:
        pos = _positions((t.size,))
        d = 0
    else:
        d = _dim(dim, t.ndim)
        pos = _positions(t.shape if t.ndim else (1,))
    n = pos.shape[d]
    if reps.ndim == 1 and reps.shape[0] != n:
        if reps.shape[0] == 1:
            reps = reps.reshape(())
        else:
            raise ShapeOpError(
                "repeats must have the same size as input along dim, but "
                "got repeats.size(0) = %d and input.size(%d) = %d"
                % (reps.shape[0], d, n))
    out = np.repeat(pos, reps, axis=d)
    if output_size is not None and out.shape[d] != output_size:
        raise ShapeOpError("repeat_interleave: output_size %d does not "
                           "match the total of repeats %d"
                           % (output_size, out.shape[d]))
    return _take(t, out)


# --------------------------------------------------------------- views

def narrow(x, dim, start, length) -> Tensor:
    """x's elements start..start+length along dim (a copy; torch: a
    view).  start may be negative (counted from the end).

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
    start : int
        The first index (negative: from the end).
    length : int

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.narrow(ad.arange(5), 0, 1, 3).tolist()
    [1, 2, 3]
    """
    t = _tensor(x)
    if t.ndim == 0:
        raise ShapeOpError("narrow() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, t.ndim)
    size = t.shape[d]
    start = _int(start, "narrow start")
    length = _int(length, "narrow length")
    if not -size <= start <= size:
        raise IndexError("start out of range (expected to be in range of "
                         "[%d, %d], but got %d)" % (-size, size, start))
    if start < 0:
        start += size
    if length < 0:
        raise ShapeOpError("narrow(): length must be non-negative.")
    if start + length > size:
        raise ShapeOpError("start (%d) + length (%d) exceeds dimension size "
                           "(%d)." % (start, length, size))
    return _slice(t, d, start, start + length)


def _slice(t: Tensor, d: int, a: int, b: int) -> Tensor:
    """t[..., a:b, ...] along dim d: one gather."""
    if a == 0 and b == t.shape[d]:
        # the whole tensor: a recorded alias sharing its memory (a view,
        # as in torch)
        return _reshape(t, t.shape)
    key = (slice(None),) * d + (slice(a, b),)
    # only the selected positions are built (not the whole arange)
    return _take(t, _flat_index(t.shape, key), True)


def split(x, split_size_or_sections, dim=0, *, axis=None) -> tuple:
    """torch.split: pieces of split_size along dim (the last one smaller),
    or of the given section sizes (which must sum to the size).

    Parameters
    ----------
    x : Tensor or array
        The input.
    split_size_or_sections : int or sequence of ints
        The size of each piece, or the list of sizes.
    dim : int, default 0
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    tuple of Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> [p.shape for p in ad.split(ad.arange(5), 2)]
    [(2,), (2,), (1,)]
    """
    t = _tensor(x)
    dim = _dim_kw(dim, axis, 0)
    if t.ndim == 0:
        raise ShapeOpError("split expects at least a 1-dimensional tensor")
    d = _dim(dim, t.ndim)
    size = t.shape[d]
    s = split_size_or_sections
    if isinstance(s, (numbers.Integral,)) and not isinstance(s, bool):
        s = int(s)
        if s < 0:
            raise ShapeOpError("split expects split_size be non-negative, "
                               "but got split_size=%d" % s)
        if s == 0:
            if size != 0:
                raise ShapeOpError(
                    "split_size can only be 0 if dimension size is 0, but "
                    "got dimension size of %d" % size)
            return (_slice(t, d, 0, 0),)
        bounds = list(range(0, size, s)) or [0]
        sections = [min(s, size - a) for a in bounds]
    else:
        sections = [_int(v, "split size") for v in s]
        if any(v < 0 for v in sections) or builtin_sum(sections) != size:
            raise ShapeOpError(
                "split_with_sizes expects split_sizes to sum exactly to %d "
                "(input tensor's size at dimension %d), but got "
                "split_sizes=%s" % (size, d, sections))
    out, a = [], 0
    for n in sections:
        out.append(_slice(t, d, a, a + n))
        a += n
    return tuple(out)


builtin_sum = sum


def chunk(x, chunks, dim=0, *, axis=None) -> tuple:
    """torch.chunk: ceil(size / chunks) per piece, so possibly fewer than
    chunks pieces.

    Parameters
    ----------
    x : Tensor or array
        The input.
    chunks : int
        The number of pieces wanted (positive).
    dim : int, default 0
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    tuple of Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> len(ad.chunk(ad.arange(6), 4))
    3
    """
    t = _tensor(x)
    dim = _dim_kw(dim, axis, 0)
    chunks = _int(chunks, "chunks")
    if chunks <= 0:
        raise ShapeOpError("chunk expects `chunks` to be greater than 0, "
                           "got: %d" % chunks)
    if t.ndim == 0:
        raise ShapeOpError("chunk expects at least a 1-dimensional tensor")
    d = _dim(dim, t.ndim)
    size = t.shape[d]
    step = -(-size // chunks)
    if size == 0:
        # torch gives chunks empty pieces
        return tuple(_slice(t, d, 0, 0) for _ in range(chunks))
    return split(t, step, d)


def unbind(x, dim=0, *, axis=None) -> tuple:
    """The slices along dim, that dim removed.

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int, default 0
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    tuple of Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> [t.tolist() for t in ad.unbind(ad.tensor([[1, 2], [3, 4]]), 1)]
    [[1, 3], [2, 4]]
    """
    t = _tensor(x)
    dim = _dim_kw(dim, axis, 0)
    if t.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no "
                         "dimensions")
    d = _dim(dim, t.ndim)
    pos = _positions(t.shape)
    return tuple(_take(t, np.asarray(np.take(pos, i, axis=d)), True)
                 for i in range(t.shape[d]))


def unflatten(x, dim, sizes) -> Tensor:
    """Split dim into sizes (one of them may be -1).

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
        The dimension split.
    sizes : sequence of ints
        Their product is the size of dim (one may be -1).

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.unflatten(ad.zeros(2, 6), 1, (2, 3)).shape
    (2, 2, 3)
    """
    t = _tensor(x)
    if t.ndim == 0:
        raise IndexError("unflatten: Dimension specified as %r but tensor "
                         "has no dimensions" % (dim,))
    d = _dim(dim, t.ndim)
    sizes = _sizes((sizes,), "unflatten size")
    if not sizes:
        raise ShapeOpError("unflatten: sizes must be non-empty")
    size = t.shape[d] if t.ndim else 1
    neg = [i for i, s in enumerate(sizes) if s == -1]
    if len(neg) > 1:
        raise ShapeOpError("unflatten: only one dimension can be inferred "
                           "(sizes %s)" % (list(sizes),))
    known = 1
    for s in sizes:
        if s != -1:
            if s < 0:
                raise ShapeOpError("unflatten: invalid size %d in %s"
                                   % (s, list(sizes)))
            known *= s
    sizes = list(sizes)
    if neg:
        if known == 0 or size % known:
            raise ShapeOpError(
                "unflatten: Provided sizes %s don't multiply up to the size "
                "of dim %d (%d) in the input tensor" % (sizes, d, size))
        sizes[neg[0]] = size // known
    elif known != size:
        raise ShapeOpError(
            "unflatten: Provided sizes %s don't multiply up to the size of "
            "dim %d (%d) in the input tensor" % (sizes, d, size))
    return _reshape(t, t.shape[:d] + tuple(sizes) + t.shape[d + 1:])


def movedim(x, source, destination) -> Tensor:
    """Move dims source to positions destination (ints or sequences),
    keeping the others in order (a permute).

    Parameters
    ----------
    x : Tensor or array
        The input.
    source : int or sequence of ints
    destination : int or sequence of ints

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.movedim(ad.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    t = _tensor(x)
    src = list(source) if isinstance(source, (tuple, list)) else [source]
    dst = (list(destination) if isinstance(destination, (tuple, list))
           else [destination])
    if len(src) != len(dst):
        raise ShapeOpError(
            "movedim: Invalid source or destination dims: source (%s dims) "
            "should contain the same number of dims as destination (%s dims)"
            % (src, dst))
    nd = t.ndim
    s = [_dim(a, nd) for a in src]
    e = [_dim(a, nd) for a in dst]
    for name, lst, orig in (("source", s, src), ("destination", e, dst)):
        if len(set(lst)) != len(lst):
            raise ShapeOpError("movedim: repeated dim in `%s` (%s)"
                               % (name, orig))
    if nd == 0:
        return _reshape(t, ())
    perm = [i for i in range(nd) if i not in s]
    for dst_i, src_i in sorted(zip(e, s)):
        perm.insert(dst_i, src_i)
    return permute(t, perm)


moveaxis = movedim


def flip(x, *dims) -> Tensor:
    """Reverse the order of elements along dims.

    Parameters
    ----------
    x : Tensor or array
        The input.
    *dims : int or sequence of ints
        The dimensions reversed.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.flip(ad.tensor([1, 2, 3]), 0).tolist()
    [3, 2, 1]
    """
    t = _tensor(x)
    ds = _dims(dims, t.ndim)
    pos = _positions(t.shape)
    if t.ndim:
        key = [slice(None)] * t.ndim
        for d in ds:
            key[d] = slice(None, None, -1)
        pos = pos[tuple(key)]
    return _take(t, pos)


def roll(x, shifts, dims=None) -> Tensor:
    """Roll elements along dims by shifts (dims None: over the flattened
    tensor, shape kept).

    Parameters
    ----------
    x : Tensor or array
        The input.
    shifts : int or sequence of ints
    dims : int or sequence of ints, optional

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.roll(ad.tensor([1, 2, 3]), 1).tolist()
    [3, 1, 2]
    """
    t = _tensor(x)
    sh = list(shifts) if isinstance(shifts, (tuple, list)) else [shifts]
    sh = [_int(s, "roll shift") for s in sh]
    pos = _positions(t.shape)
    if dims is None:
        if len(sh) != 1:
            raise ShapeOpError("shifts and dimensions must align. shifts: "
                               "%d, dims:0" % len(sh))
        return _take(t, np.roll(pos.reshape(-1), sh[0]).reshape(t.shape))
    ds = list(dims) if isinstance(dims, (tuple, list)) else [dims]
    if len(sh) != len(ds):
        raise ShapeOpError("shifts and dimensions must align. shifts: %d, "
                           "dims:%d" % (len(sh), len(ds)))
    if t.ndim == 0:
        raise IndexError("roll: Dimension specified as %r but tensor has no "
                         "dimensions" % (ds[0],))
    ds = [_dim(d, t.ndim) for d in ds]
    return _take(t, np.roll(pos, sh, axis=ds))


# ------------------------------------------------------------ triangles

def _tri_mask(t: Tensor, diagonal, upper: bool, name: str) -> np.ndarray:
    if t.ndim < 2:
        raise ShapeOpError("%s: input tensor must have at least 2 "
                           "dimensions, got shape %s" % (name, t.shape))
    k = _int(diagonal, "diagonal")
    n, m = t.shape[-2:]
    if upper:
        return ~np.tri(n, m, k - 1, dtype=bool)
    return np.tri(n, m, k, dtype=bool)


def tril(x, diagonal=0) -> Tensor:
    """The lower triangle of the last two dims (elements above diagonal
    zeroed).

    Parameters
    ----------
    x : Tensor or array
        The input. At least 2-D.
    diagonal : int, default 0
        0 the main diagonal, positive above it, negative below.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.tril(ad.ones(2, 2)).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    t = _tensor(x)
    return where(_tri_mask(t, diagonal, False, "tril"), t, 0.0)


def triu(x, diagonal=0) -> Tensor:
    """The upper triangle of the last two dims (elements below diagonal
    zeroed).

    Parameters
    ----------
    x : Tensor or array
        The input. At least 2-D.
    diagonal : int, default 0
        0 the main diagonal, positive above it, negative below.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.triu(ad.ones(2, 2)).tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    t = _tensor(x)
    return where(_tri_mask(t, diagonal, True, "triu"), t, 0.0)


def diagonal(x, offset=0, dim1=0, dim2=1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes, appended as the last dim
    (numpy's diagonal; a copy, a view in torch).

    Parameters
    ----------
    x : Tensor or array
        The input. At least 2-D.
    offset : int, default 0
        Which diagonal.
    dim1, dim2 : int, default 0, 1
        The plane.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.

    Examples
    --------
    >>> ad.diagonal(ad.tensor([[1, 2], [3, 4]])).tolist()
    [1, 4]
    """
    t = _tensor(x)
    if t.ndim < 2:
        raise ShapeOpError("diagonal: expected a tensor of at least 2 "
                           "dimensions, got shape %s" % (t.shape,))
    a, b = _dim(dim1, t.ndim), _dim(dim2, t.ndim)
    if a == b:
        raise ShapeOpError("diagonal dimensions cannot be identical %d, %d"
                           % (dim1, dim2))
    off = _int(offset, "offset")
    return _take(t, np.diagonal(_positions(t.shape), off, a, b), True)


def diag(x, diagonal=0) -> Tensor:
    """1-D: the square matrix with x on the given diagonal; 2-D: that
    diagonal as a 1-D tensor.

    Parameters
    ----------
    x : Tensor or array
        The input. 1-D or 2-D.
    diagonal : int, default 0
        Which diagonal.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    TypeError
        For a 1-D int64 or bool input (the engine's scatter, which builds
        the matrix, is float only).

    Examples
    --------
    >>> ad.diag(ad.tensor([1.0, 2.0])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    t = _tensor(x)
    k = _int(diagonal, "diagonal")
    if t.ndim == 1:
        n = t.shape[0] + abs(k)
        rows = np.arange(t.shape[0], dtype=np.int64) + max(-k, 0)
        cols = np.arange(t.shape[0], dtype=np.int64) + max(k, 0)
        return _scatter_add(t, rows * n + cols, (n, n))
    if t.ndim == 2:
        # torch.diag of a matrix is a copy, not a view
        return _take(t, np.diagonal(_positions(t.shape), k))
    raise ShapeOpError("diag(): Supports 1D or 2D tensors. Got %dD"
                       % t.ndim)


# ------------------------------------------------------ index / gather

def _flat_along(shape, d, index) -> np.ndarray:
    """Flat positions in a tensor of shape of the elements
    index[i...] along dim d, the other coordinates those of the index
    itself (torch.gather's addressing); index already checked."""
    strides = np.cumprod((1,) + tuple(shape[::-1]), dtype=np.int64)
    strides = strides[:len(shape)][::-1]
    pos = np.zeros(index.shape, dtype=np.int64)
    for i in range(len(shape)):
        if i == d:
            coord = index
        else:
            r = np.arange(index.shape[i], dtype=np.int64)
            coord = r.reshape((1,) * i + (-1,) + (1,) * (len(shape) - 1 - i))
        pos = pos + coord * strides[i]
    return pos


class IndexOutOfBoundsError(IndexError, RuntimeError):
    """An index outside [0, size) (torch's gather and scatter raise a
    RuntimeError, its index_select an IndexError: this is both)."""


def _check_bounds(idx, size, d):
    """Indices in [0, size): as torch, negative indices are out of bounds
    for these ops (they are not for x[key])."""
    if idx.size:
        bad = idx[(idx < 0) | (idx >= size)]
        if bad.size:
            raise IndexOutOfBoundsError(
                "index %d is out of bounds for dimension %d with size %d"
                % (bad.flat[0], d, size))


def index_select(x, dim, index) -> Tensor:
    """The entries of index (a 1-D or 0-d int array) along dim.

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
    index : Tensor, array or sequence of ints
        1-D or 0-D, int64.

    Returns
    -------
    Tensor
        x's shape with dim's size that of index.

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    IndexOutOfBoundsError
        For an index out of range.
    NotCompilableError
        For an index held in a tensor or passed to a compiled function,
        while ad.compile records (it is read in Python).

    Examples
    --------
    >>> ad.index_select(ad.tensor([[1, 2], [3, 4]]), 1, [1]).tolist()
    [[2], [4]]
    """
    t = _tensor(x)
    index = _input_index(index)
    if isinstance(index, Tensor) and index.dtype == np.int64 and \
            t.ndim > 0 and index.ndim <= 1:
        # read by the engine at run time: replays follow new indices
        d = _dim(dim, t.ndim)
        shp = [1] * t.ndim
        shp[d] = index.size
        j = _reshape(index, tuple(shp))
        shp = list(t.shape)
        shp[d] = index.size
        return _engine._take(t, broadcast_to(j, tuple(shp)), d)
    idx = _as_index(index)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector, "
                         "got shape %s" % (idx.shape,))
    idx = idx.reshape(-1)
    d = _dim(dim, t.ndim)
    size = t.shape[d] if t.ndim else 1
    _check_bounds(idx, size, d)
    if t.ndim == 0:
        # torch: one index, a 0-d result
        if idx.shape[0] != 1:
            raise ShapeOpError("index_select(): Index to scalar can have "
                               "only 1 value, got %d value(s)"
                               % idx.shape[0])
        return _take(t, np.zeros((), dtype=np.int64))
    return _take(t, np.take(_positions(t.shape), idx, axis=d))


def _index_shape_check(op: str, t: Tensor, d: int, ishape) -> None:
    for i in range(t.ndim):
        if i != d and ishape[i] > t.shape[i]:
            raise ShapeOpError(
                "Size does not match at dimension %d expected index %s to be "
                "no larger than self %s apart from dimension %d"
                % (i, list(ishape), list(t.shape), d))


def _engine_index(index) -> bool:
    """An int64 tensor index of at least one dim: taken by the engine's
    take/put_add ops, which read it at run time (so a compiled replay
    follows indices computed in the step, argsort's or argmax's)."""
    return isinstance(index, Tensor) and index.dtype == np.int64 and \
        index.ndim > 0


def _input_index(index):
    """An integer array argument of a compiled function (ArrayInput) as
    the int64 tensor a replay refills with each call's values; anything
    else unchanged."""
    if type(index) is ArrayInput and index.dtype.kind in "iu":
        return _creation.tensor(index, dtype=np.int64)
    return index


def gather(x, dim, index, *, sparse_grad=False) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (and so on): index
    has x's number of dims and is no larger than x apart from dim.  An
    int64 tensor index is read by the engine op (replayed by ad.compile);
    numpy and list indices are constants.

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
    index : Tensor, array or sequence of ints
        int64, of x's number of dimensions.
    sparse_grad : bool, default False (keyword only)
        Accepted for torch's signature.

    Returns
    -------
    Tensor
        The shape of index.

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    IndexOutOfBoundsError
        For an index out of range.

    Examples
    --------
    >>> ad.gather(ad.tensor([[1, 2], [3, 4]]), 1, ad.tensor([[1], [0]])).tolist()
    [[2], [3]]
    """
    t = _tensor(x)
    index = _input_index(index)
    if _engine_index(index) and t.ndim > 0:
        d = _dim(dim, t.ndim)
        if index.ndim != t.ndim:
            raise ShapeOpError("Index tensor must have the same number of "
                               "dimensions as input tensor (index shape %s, "
                               "input shape %s)" % (index.shape, t.shape))
        _index_shape_check("gather", t, d, index.shape)
        return _engine._take(t, index, d)
    idx = _as_index(index)
    d = _dim(dim, t.ndim)
    shape = t.shape if t.ndim else (1,)
    out_shape = idx.shape
    if t.ndim <= 1 and idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.ndim != len(shape):
        raise ShapeOpError("Index tensor must have the same number of "
                           "dimensions as input tensor (index shape %s, "
                           "input shape %s)" % (idx.shape, t.shape))
    for i in range(len(shape)):
        if i != d and idx.shape[i] > shape[i]:
            raise ShapeOpError(
                "Size does not match at dimension %d expected index %s to be "
                "no larger than self %s apart from dimension %d"
                % (i, list(idx.shape), list(t.shape), d))
    _check_bounds(idx, shape[d], d)
    return _take(t, _flat_along(shape, d, idx).reshape(out_shape))


def _along_shapes(tshape, ishape, d: int):
    """The shapes input and indices broadcast to apart from dim d, where
    each keeps its own size (take_along_dim)."""
    a, b = list(tshape), list(ishape)
    a[d] = b[d] = 1
    try:
        common = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise ShapeOpError("take_along_dim: input of shape %s and indices "
                           "of shape %s do not broadcast apart from dim %d"
                           % (tuple(tshape), tuple(ishape), d)) from None
    xs, js = list(common), list(common)
    xs[d], js[d] = tshape[d], ishape[d]
    return tuple(xs), tuple(js)


def take_along_dim(x, indices, dim=None, *, axis=None) -> Tensor:
    """numpy's take_along_axis with broadcasting of x and indices apart
    from dim; dim=None takes from the flattened tensor.

    Parameters
    ----------
    x : Tensor or array
        The input.
    indices : Tensor, array or sequence of ints
        int64.
    dim : int, optional
        Without it, from the flattened tensor.
    axis : int, optional (keyword only)
        numpy's name of `dim`.

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    IndexOutOfBoundsError
        For an index out of range.
    NotCompilableError
        For an index held in a tensor or passed to a compiled function,
        while ad.compile records (it is read in Python).

    Examples
    --------
    >>> ad.take_along_dim(ad.tensor([10, 20, 30]), ad.tensor([2, 0])).tolist()
    [30, 10]
    """
    t = _tensor(x)
    dim = _dim_kw(dim, axis)
    indices = _input_index(indices)
    if _engine_index(indices) and dim is not None and t.ndim > 0 and \
            indices.ndim == t.ndim:
        d = _dim(dim, t.ndim)
        xs, js = _along_shapes(t.shape, indices.shape, d)
        if xs != t.shape:
            t = broadcast_to(t, xs)
        if js != indices.shape:
            indices = broadcast_to(indices, js)
        return _engine._take(t, indices, d)
    idx = _as_index(indices)
    if dim is None:
        flat = idx.reshape(-1)
        _check_bounds(flat, t.size, 0)
        return _take(t, flat)
    d = _dim(dim, t.ndim)
    if idx.ndim != t.ndim:
        raise ShapeOpError(
            "torch.take_along_dim(): input and indices should have the same "
            "number of dimensions, but got %d dimensions for input, and %d "
            "dimensions for indices" % (t.ndim, idx.ndim))
    if t.ndim == 0:
        return gather(t, 0, idx)
    xs, js = _along_shapes(t.shape, idx.shape, d)
    if xs != t.shape:
        t = broadcast_to(t, xs)
    idx = np.broadcast_to(idx, tuple(js))
    return gather(t, d, idx)


def _scatter_positions(x: Tensor, d: int, idx: np.ndarray, src_shape):
    """(flat positions in x, flat positions in src) of torch.scatter's
    addressing: index no larger than x apart from d, nor than src."""
    shape = x.shape if x.ndim else (1,)
    if idx.ndim != len(shape) and not (idx.ndim == 0 and len(shape) == 1):
        raise ShapeOpError("Index tensor must have the same number of "
                           "dimensions as self tensor (index shape %s, self "
                           "shape %s)" % (idx.shape, x.shape))
    idx = idx.reshape(idx.shape if idx.ndim else (1,))
    sshape = None
    if src_shape is not None:
        sshape = tuple(src_shape) if len(src_shape) else (1,)
    for i in range(len(shape)):
        if ((i != d and idx.shape[i] > shape[i]) or
                (sshape is not None and idx.shape[i] > sshape[i])):
            raise ShapeOpError(
                "Expected index %s to be no larger than self %s apart from "
                "dimension %d and to be no larger size than src %s"
                % (list(idx.shape), list(x.shape), d,
                   list(src_shape if src_shape is not None else ())))
    _check_bounds(idx, shape[d], d)
    dst = _flat_along(shape, d, idx).reshape(-1)
    src = _flat_along(sshape, -1, idx).reshape(-1) if src_shape is not None \
        else None
    return dst, src


def scatter(x, dim, index, src=None, *, value=None, reduce=None) -> Tensor:
    """Out of place scatter_: x with x[index[i][j]][j] = src[i][j] for
    dim=0 (and so on); src may be a scalar (value).  With repeated
    indices the last write wins (torch leaves it unspecified).
    Differentiable in x (zero gradient where written) and src.

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
    index : Tensor, array or sequence of ints
        int64.
    src : Tensor or number, optional
        The values written.
    value : number, optional (keyword only)
        A scalar src.
    reduce : {None, "add", "multiply"}, optional (keyword only)
        Combine instead of overwriting, as torch's deprecated argument.

    Returns
    -------
    Tensor
        A new tensor (x is not modified).

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    IndexOutOfBoundsError
        For an index out of range.
    NotCompilableError
        For an index held in a tensor or passed to a compiled function,
        while ad.compile records (it is read in Python).

    Examples
    --------
    >>> ad.scatter(ad.zeros(3), 0, ad.tensor([2]), ad.tensor([5.0])).tolist()
    [0.0, 0.0, 5.0]
    """
    if reduce is not None:
        raise NotImplementedError("scatter: reduce= is not supported; use "
                                  "scatter_add")
    t = _tensor(x)
    d = _dim(dim, t.ndim)
    idx = _as_index(index)
    if src is None and value is None:
        raise TypeError("scatter() missing the src (or value) argument")
    sv = src if src is not None else value
    if isinstance(sv, numbers.Real) and not isinstance(sv, Tensor):
        dst, _ = _scatter_positions(t, d, idx, None)
        mask = np.zeros(t.size, dtype=bool)
        mask[dst] = True
        return where(mask.reshape(t.shape), float(sv), t)
    s = _src_tensor(t, sv)
    dst, spos = _scatter_positions(t, d, idx, s.shape)
    v = _take(s, spos)
    pos = _last_positions(dst)
    return _index_put(t, dst, pos, v)


def _src_tensor(t: Tensor, sv) -> Tensor:
    if isinstance(sv, Tensor):
        s = sv
    else:
        s = _t(np.asarray(sv, dtype=np.float64)).astype(t.dtype)
    if s.dtype != t.dtype:
        s = s.astype(t.dtype)
    if s.ndim != t.ndim:
        raise ShapeOpError("scatter: src must have the same number of "
                           "dimensions as self (src shape %s, self shape %s)"
                           % (s.shape, t.shape))
    return s


def scatter_add(x, dim, index, src) -> Tensor:
    """Out of place scatter_add_: x plus src's values added at
    index along dim (repeated indices accumulate).

    Parameters
    ----------
    x : Tensor or array
        The input.
    dim : int
    index : Tensor, array or sequence of ints
        int64.
    src : Tensor
        The values added.

    Returns
    -------
    Tensor
        A new tensor.

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    IndexOutOfBoundsError
        For an index out of range.
    NotCompilableError
        For an index held in a tensor or passed to a compiled function,
        while ad.compile records (it is read in Python).
    TypeError
        For int64 or bool tensors (the engine's scatter is float only).

    Examples
    --------
    >>> ad.scatter_add(ad.zeros(2), 0, ad.tensor([1, 1]), ad.tensor([1.0, 2.0])).tolist()
    [0.0, 3.0]
    """
    t = _tensor(x)
    d = _dim(dim, t.ndim)
    if _engine_index(index) and t.ndim > 0 and index.ndim == t.ndim and \
            t.dtype.kind == "f":
        s = _src_tensor(t, src)
        _index_shape_check("scatter_add", t, d, index.shape)
        if any(i > j for i, j in zip(index.shape, s.shape)):
            raise ShapeOpError(
                "Expected index %s to be no larger than self %s apart from "
                "dimension %d and to be no larger size than src %s"
                % (list(index.shape), list(t.shape), d, list(s.shape)))
        if s.shape != index.shape:           # the block the index covers
            s = s[tuple(slice(0, n) for n in index.shape)]
        return t + _engine._put_add(s, index, d, t.shape)
    idx = _as_index(index)
    s = _src_tensor(t, src)
    dst, spos = _scatter_positions(t, d, idx, s.shape)
    return t + _scatter_add(_take(s, spos), dst, t.shape)


# ------------------------------------------------------------- masks

def _mask_shape(name: str, m, t: Tensor):
    """The shape mask m and tensor t broadcast to, or a ShapeOpError."""
    try:
        return np.broadcast_shapes(m.shape, t.shape)
    except ValueError:
        raise ShapeOpError("%s: the mask of shape %s does not broadcast "
                           "with the tensor of shape %s"
                           % (name, m.shape, t.shape)) from None


def masked_fill(x, mask, value) -> Tensor:
    """x with value where mask is true (mask broadcast with x; value a
    number or a 0-d tensor, differentiable).

    Parameters
    ----------
    x : Tensor or array
        The input.
    mask : Tensor or array of bool
        Broadcasts with x.
    value : number or 0-D Tensor

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    NotCompilableError
        As for index arguments.

    Examples
    --------
    >>> ad.masked_fill(ad.zeros(3), ad.tensor([True, False, True]), 1.0).tolist()
    [1.0, 0.0, 1.0]
    """
    t = _tensor(x)
    # a mask tensor is used as it is: recorded, so a compiled replay
    # recomputes it (a numpy mask is a constant)
    m = (mask if mask.dtype == np.bool_ else mask != 0) \
        if isinstance(mask, Tensor) else _as_mask(mask)
    shape = _mask_shape("masked_fill", m, t)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeOpError(
                "masked_fill_ only supports a 0-dimensional value tensor, "
                "but got tensor with %d dimension(s)." % value.ndim)
        v = value if value.dtype == t.dtype else value.astype(t.dtype)
    else:
        if isinstance(value, np.ndarray) and value.ndim != 0:
            raise ShapeOpError(
                "masked_fill_ only supports a 0-dimensional value tensor, "
                "but got tensor with %d dimension(s)." % value.ndim)
        v = float(value) if t.is_floating_point() else \
            _t(np.asarray(value)).astype(t.dtype)     # as torch: cast
    if tuple(shape) != t.shape:
        t = broadcast_to(t, shape)
    return where(m, v, t)


def masked_select(x, mask) -> Tensor:
    """The elements of x where mask (broadcast with x) is true, as a 1-D
    tensor.  Its length depends on the mask's values: under ad.compile a
    mask that is a tensor or an argument of the compiled function raises
    NotCompilableError (a numpy mask built in the function is a
    constant of the recording).

    Parameters
    ----------
    x : Tensor or array
        The input.
    mask : Tensor or array of bool
        Broadcasts with x.

    Returns
    -------
    Tensor
        1-D.

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    NotCompilableError
        For a tensor or argument mask while ad.compile records.

    Examples
    --------
    >>> ad.masked_select(ad.tensor([1, 2, 3]), ad.tensor([True, False, True])).tolist()
    [1, 3]
    """
    t = _tensor(x)
    m = _as_mask(mask)
    shape = _mask_shape("masked_select", m, t)
    pos = np.broadcast_to(_positions(t.shape), shape)
    return _take(t, pos[np.broadcast_to(m, shape)])


def nonzero(x, *, as_tuple=False):
    """The indices of the nonzero elements: an (n, ndim) int64 tensor, or
    with as_tuple=True a tuple of ndim 1-D int64 tensors (numpy's
    nonzero).  The result depends on x's values: not differentiable, and
    under ad.compile reading x raises NotCompilableError.

    Parameters
    ----------
    x : Tensor or array
        The input.
    as_tuple : bool, default False (keyword only)
        Return one 1-D tensor per dimension.

    Returns
    -------
    Tensor or tuple of Tensor
        int64.

    Raises
    ------
    NotCompilableError
        While ad.compile records.

    Examples
    --------
    >>> ad.nonzero(ad.tensor([0, 5, 0, 7])).tolist()
    [[1], [3]]
    """
    arr = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if as_tuple:
        if arr.ndim == 0:
            return (_from_array(np.nonzero(arr.reshape(1))[0], I64),)
        return tuple(_from_array(i, I64) for i in np.nonzero(arr))
    if arr.ndim == 0:
        return _from_array(np.zeros((int(arr != 0), 0)), I64)
    return _from_array(np.argwhere(arr), I64)


# --------------------------------------------------------------- pad

_PAD_MODES = {"reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}


def pad(x, pad, mode="constant", value=None) -> Tensor:
    """torch.nn.functional.pad: pad = (left, right) of the last dim, then
    of the one before, ...  Modes constant (value, default 0), reflect,
    replicate and circular; negative pads crop.  Gradients flow to x
    (summed over the copies reflect, replicate and circular make).

    Parameters
    ----------
    x : Tensor or array
        The input.
    pad : sequence of ints
        (left, right) of the last dimension, then of the one before, ...
    mode : {"constant", "reflect", "replicate", "circular"}, default "constant"
    value : number, optional
        The fill of constant mode (0 by default).

    Returns
    -------
    Tensor

    Raises
    ------
    ShapeOpError
        (a RuntimeError and ValueError) for a bad size or argument.
    IndexError
        When a dim is out of range.
    NotImplementedError
        For another mode.

    Examples
    --------
    >>> F.pad(ad.tensor([1.0, 2.0]), (1, 2)).tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    """
    t = _tensor(x)
    pads = [_int(p, "pad") for p in pad]
    if len(pads) % 2:
        raise ShapeOpError("Padding length must be divisible by 2")
    if len(pads) > 2 * t.ndim:
        raise ShapeOpError(
            "Padding length should be less than or equal to two times the "
            "input dimension but got padding length %d and input of "
            "dimension %d" % (len(pads), t.ndim))
    if mode != "constant" and mode not in _PAD_MODES:
        raise NotImplementedError("Unrecognised padding mode %s" % mode)
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ShapeOpError('Padding mode "%s" doesn\'t take in value '
                           'argument' % mode)
    nd = t.ndim
    width = [(0, 0)] * nd
    for i in range(len(pads) // 2):
        width[nd - 1 - i] = (pads[2 * i], pads[2 * i + 1])
    for (a, b), n in zip(width, t.shape):
        if n + a + b < 0:
            raise ShapeOpError(
                "pad: padding %s of a dimension of size %d gives a negative "
                "size (input %s)" % ((a, b), n, t.shape))
    pos = _positions(t.shape)
    grow = [(max(a, 0), max(b, 0)) for a, b in width]
    crop = tuple(slice(max(-a, 0), (n + max(a, 0) + max(b, 0)) - max(-b, 0))
                 for (a, b), n in zip(width, t.shape))
    if mode == "circular":
        # torch crops first, then wraps what is left
        pos = pos[tuple(slice(max(-a, 0), n - max(-b, 0))
                        for (a, b), n in zip(width, t.shape))]
        crop = None
    if mode == "constant":
        fill = 0.0 if value is None else float(value)
        big = np.pad(pos, grow, mode="constant", constant_values=-1)[crop]
        inside = big >= 0
        if inside.all():
            return _take(t, big)
        out = _scatter_add(_take(t, big[inside]), np.flatnonzero(inside),
                           big.shape)
        if fill == 0.0:
            return out
        return where(inside, out, fill)
    for (a, b), n in zip(grow, pos.shape):
        if not (a or b):
            continue
        if mode == "reflect" and (a >= n or b >= n):
            raise ShapeOpError(
                "Argument #4: Padding size should be less than the "
                "corresponding input dimension, but got: padding (%d, %d) "
                "of a dimension of size %d (input %s)" % (a, b, n, t.shape))
        if mode == "circular" and (a > n or b > n):
            raise ShapeOpError("Padding value causes wrapping around more "
                               "than once (padding (%d, %d) of a dimension "
                               "of size %d)" % (a, b, n))
        if mode == "replicate" and n == 0:
            raise ShapeOpError("pad: replicate padding of an empty "
                               "dimension (input %s)" % (t.shape,))
    big = np.pad(pos, grow, mode=_PAD_MODES[mode])
    return _take(t, big if crop is None else big[crop])
