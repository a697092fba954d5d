"""Interchange with numpy, PyTorch and JAX: DLPack in and out, and
numpy's functions called on tensors (``__array_function__``).

Memory is never shared with another library (README: "Memory is copied,
never shared with numpy"): ``Tensor.__dlpack__`` exports a copy (an
exporter asked for ``copy=False`` gets a BufferError), and
``from_dlpack`` copies what it imports.  The capsule's memory is a numpy
array that the capsule keeps alive.

numpy functions on tensors: the ones listed in ``_NUMPY`` run the autodiff
op (recorded, differentiable, replayed by ``ad.compile``), with numpy's
keywords; any other numpy function gets numpy arrays (copies) in place
of the tensors and returns what numpy returns, as it did before the
protocol (``np.allclose(t, a)``, ``np.testing`` ...).  While ``ad.compile``
records, that conversion raises ``NotCompilableError`` (a replay runs no
numpy).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["from_dlpack"]


def from_dlpack(ext: Any) -> Any:
    """A tensor holding a copy of any DLPack-exporting array on the CPU
    (numpy 2, PyTorch -- detach() a tensor that requires grad -- JAX,
    CuPy host arrays...), with the dtype ``ad.tensor`` gives its data:
    float32 and float64 kept, integers int64, bools bool.

    Parameters
    ----------
    ext : object
        An array with ``__dlpack__`` (an autodiff tensor is cloned).

    Returns
    -------
    Tensor
        A copy: no memory is shared.

    Raises
    ------
    TypeError
        For an object without ``__dlpack__``, or an unsupported dtype.

    Examples
    --------
    >>> ad.from_dlpack(np.arange(3.0)).tolist()
    [0.0, 1.0, 2.0]
    """
    from ._creation import tensor
    from ._engine import Tensor
    if isinstance(ext, Tensor):
        return ext.detach().clone()
    if not hasattr(ext, "__dlpack__"):
        raise TypeError("from_dlpack expects an object with __dlpack__ "
                        "(numpy 2, PyTorch, JAX arrays), got %s"
                        % type(ext).__name__)
    return tensor(np.from_dlpack(ext))


def dlpack(t: Any, stream: Any = None, max_version: Any = None,
           dl_device: Any = None, copy: Any = None) -> Any:
    if copy is False:
        raise BufferError("autodiff tensors do not share memory with other "
                          "libraries: __dlpack__(copy=False) cannot be "
                          "honoured; pass copy=None or True")
    if dl_device is not None and tuple(dl_device) != (1, 0):
        raise BufferError("autodiff tensors live on the CPU (DLPack device "
                          "(1, 0)), not %r" % (dl_device,))
    if stream is not None:
        raise BufferError("stream must be None for a CPU tensor, got %r"
                          % (stream,))
    arr = t.numpy()
    kw = {} if max_version is None else {"max_version": max_version}
    return arr.__dlpack__(**kw)


# ---- numpy's functions on tensors

def _axis(kw: dict[str, Any]) -> dict[str, Any]:
    for k in ("out", "where", "initial"):
        if kw.get(k, None) is not None:
            raise TypeError("numpy's %s= is not supported on autodiff "
                            "tensors" % k)
        kw.pop(k, None)
    return kw


def _table() -> dict[Callable[..., Any], Callable[..., Any]]:
    import autodiff as ad

    def red(f: Callable[..., Any]) -> Callable[..., Any]:
        def g(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
              keepdims: bool = False, **kw: Any) -> Any:
            _axis(dict(kw, out=out))
            r = f(a, axis=axis, keepdims=keepdims)
            return r if dtype is None else r.astype(dtype)
        return g

    def var(f: Callable[..., Any]) -> Callable[..., Any]:
        def g(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
              ddof: int = 0, keepdims: bool = False, **kw: Any) -> Any:
            _axis(dict(kw, out=out))
            r = f(a, axis=axis, ddof=ddof, keepdims=keepdims)
            return r if dtype is None else r.astype(dtype)
        return g

    def arg(f: Callable[..., Any]) -> Callable[..., Any]:
        def g(a: Any, axis: Any = None, out: Any = None,
              keepdims: bool = False) -> Any:
            _axis({"out": out})
            return f(a, axis, keepdims)
        return g

    return {
        np.sum: red(ad.sum), np.mean: red(ad.mean), np.max: red(ad.amax),
        np.amax: red(ad.amax), np.min: red(ad.amin), np.amin: red(ad.amin),
        np.prod: red(ad.prod), np.var: var(ad.var), np.std: var(ad.std),
        np.argmax: arg(ad.argmax), np.argmin: arg(ad.argmin),
        np.cumsum: lambda a, axis=None, dtype=None, out=None:
            ad.cumsum(a if axis is not None else ad.reshape(a, (-1,)),
                      0 if axis is None else axis, dtype=dtype),
        np.concatenate: lambda arrays, axis=0, out=None, dtype=None, **kw:
            ad.concatenate(arrays, axis) if dtype is None else
            ad.concatenate(arrays, axis).astype(dtype),
        np.stack: lambda arrays, axis=0, out=None, **kw:
            ad.stack(arrays, axis),
        np.reshape: lambda a, *args, **kw: ad.reshape(
            a, args[0] if args else kw.get("shape", kw.get("newshape"))),
        np.transpose: lambda a, axes=None: ad.transpose(a) if axes is None
            else ad.permute(a, axes),
        np.squeeze: lambda a, axis=None: ad.squeeze(a, axis),
        np.expand_dims: lambda a, axis: ad.expand_dims(a, axis),
        np.where: lambda c, *xy: ad.where(c, *xy) if len(xy) == 2 else
            np.where(np.asarray(c)),
        np.clip: lambda a, a_min=None, a_max=None, out=None, **kw:
            ad.clip(a, kw.get("min", a_min), kw.get("max", a_max)),
        np.dot: lambda a, b, out=None: ad.dot(a, b),
        np.round: lambda a, decimals=0, out=None: ad.round(
            a, decimals=decimals),
        np.around: lambda a, decimals=0, out=None: ad.round(
            a, decimals=decimals),
        np.flip: lambda m, axis=None: ad.flip(
            m, tuple(range(m.ndim)) if axis is None else axis),
        np.tril: lambda m, k=0: ad.tril(m, k),
        np.triu: lambda m, k=0: ad.triu(m, k),
        np.trace: lambda a, offset=0, axis1=0, axis2=1, dtype=None,
        out=None: ad.sum(ad.diagonal(a, offset, axis1, axis2), -1),
    }


_NUMPY: dict[Callable[..., Any], Callable[..., Any]] | None = None


def _as_numpy(o: Any) -> Any:
    from ._engine import Tensor
    if isinstance(o, Tensor):
        return o.numpy()
    if isinstance(o, (list, tuple)):
        return type(o)(_as_numpy(x) for x in o)
    return o


def array_function(func: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    global _NUMPY
    if _NUMPY is None:
        _NUMPY = _table()
    impl = _NUMPY.get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    # numpy's own function, on copies: what it did before the protocol
    return func(*_as_numpy(args), **{k: _as_numpy(v)
                                     for k, v in kwargs.items()})
