"""Creation functions: tensors from data, filled tensors, ranges, eye.

Written on the engine's entry points (``_engine._from_array``,
``_engine._full``, ``_engine._copy_leaf``); the dtype of data without one
of its own is decided by ``_dtypes.infer_code`` alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, SupportsFloat, overload

import numpy as np

from ._capture import ArrayInput
from ._device import check_device
from ._dtypes import (bool_, dtype_code, float32, float64, infer_code, int64,
                      is_float)
from ._engine import (Tensor, _as_ndarray, _copy_leaf, _from_array, _full,
                      _full_like, _input_tensor)

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import _Int, _TensorLike

__all__ = ["tensor", "from_numpy", "full", "zeros", "ones", "zeros_like",
           "ones_like", "full_like", "arange", "linspace", "eye", "empty",
           "empty_like", "FloatTensor", "DoubleTensor", "LongTensor",
           "BoolTensor", "as_tensor"]


def tensor(data: _TensorLike, dtype: npt.DTypeLike | None = None,
           requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of data (scalars, nested lists,
    numpy arrays of any strides or order, or tensors).  Python numbers and
    lists, and integer or bool data, are float32; numpy float64 and
    float32 data keep their dtype; a tensor keeps its own (the rule:
    ``autodiff._dtypes.infer_code``).  device: the CPU or None."""
    check_device(device)
    if type(data) is ArrayInput:
        r = _input_tensor(data, infer_code(data, data.probe(), dtype))
        if requires_grad:
            r.requires_grad_(True)
        return r
    if isinstance(data, Tensor):
        # a copy made by the engine: no numpy round trip, and replayed
        # with the tensor's new values when recorded by ad.compile
        return _copy_leaf(data, dtype, requires_grad)
    arr = _as_ndarray(data)
    code = infer_code(data, arr, dtype)     # also rejects non-numeric data
    if requires_grad and not is_float(code):
        raise RuntimeError("Only Tensors of floating point and complex dtype "
                           "can require gradients (got %s data; pass "
                           "dtype=ad.float32 to convert it)" % arr.dtype)
    t = _from_array(arr, code)
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(arr: npt.NDArray[Any]) -> Tensor:
    """A tensor holding a copy of a numpy array (its dtype kept for float
    arrays).  Unlike torch.from_numpy the memory is not shared, so later
    writes to arr cannot reach the tensor or its gradients."""
    if not isinstance(arr, np.ndarray):
        raise TypeError("from_numpy expects a numpy.ndarray, got %s"
                        % type(arr).__name__)
    return tensor(arr)


def _shape_args(shape: tuple[Any, ...]) -> Any:
    """zeros(2, 3) or zeros((2, 3)): the shape either way."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def full(shape: _Int | Sequence[_Int], fill_value: SupportsFloat,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return _full(shape, fill_value, dtype, requires_grad)


# zeros(2, 3) or zeros((2, 3)); likewise ones, randn, rand
@overload
def zeros(shape: Sequence[_Int], /, *, dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor: ...
@overload
def zeros(*shape: _Int, dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor: ...
def zeros(*shape: Any, dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device)
    return _full(shape, 0.0, dtype, requires_grad, True)


@overload
def ones(shape: Sequence[_Int], /, *, dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor: ...
@overload
def ones(*shape: _Int, dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor: ...
def ones(*shape: Any, dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device)
    return _full(shape, 1.0, dtype, requires_grad, True)


def zeros_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return _full_like(x, 0.0, dtype, requires_grad)


def ones_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return _full_like(x, 1.0, dtype, requires_grad)


def full_like(x: _TensorLike, fill_value: SupportsFloat,
              dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return _full_like(x, fill_value, dtype, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1,
           dtype: npt.DTypeLike | None = None,
           requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """torch.arange: int64 when start, stop and step are all integers,
    else float32 (or dtype)."""
    check_device(device)
    if stop is None:
        start, stop = 0, start
    if step == 0:               # numpy raises ZeroDivisionError
        raise ValueError("arange: step must be nonzero")
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
               for v in (start, stop, step))
    if dtype is None:
        dtype = int64 if ints else float32
    return tensor(np.arange(start, stop, step), dtype=dtype,
                  requires_grad=requires_grad)


def linspace(start: float, stop: float, num: int = 50,
             dtype: npt.DTypeLike | None = None,
             requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return tensor(np.linspace(start, stop, num), dtype=dtype or float32,
                  requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: npt.DTypeLike | None = None,
        requires_grad: bool = False, *, device: Any = None) -> Tensor:
    check_device(device)
    return tensor(np.eye(n, m), dtype=dtype or float32,
                  requires_grad=requires_grad)


def empty(*shape: Any, dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor:
    """torch.empty; autodiff's memory is zeroed (torch's is not)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad,
                 device=device)


def empty_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False, *, device: Any = None) -> Tensor:
    return zeros_like(x, dtype, requires_grad, device=device)


# ---- torch's legacy constructors

def _legacy(dtype: Any, args: tuple[Any, ...]) -> Tensor:
    """FloatTensor([1, 2]) (a copy of data in dtype) or FloatTensor(2, 3)
    (zeros of that shape; torch leaves them uninitialised)."""
    if not args:
        return zeros(0, dtype=dtype)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
           for a in args):
        return zeros(*args, dtype=dtype)
    if len(args) == 1:
        return tensor(args[0], dtype=dtype)
    raise TypeError("expected data or integer sizes, got %r" % (args,))


def FloatTensor(*args: Any) -> Tensor:
    return _legacy(float32, args)


def DoubleTensor(*args: Any) -> Tensor:
    return _legacy(float64, args)


def LongTensor(*args: Any) -> Tensor:
    return _legacy(int64, args)


def BoolTensor(*args: Any) -> Tensor:
    return _legacy(bool_, args)


def as_tensor(data: _TensorLike, dtype: npt.DTypeLike | None = None,
              device: Any = None) -> Tensor:
    """torch.as_tensor: data itself when it is a tensor of that dtype,
    else a new tensor (``tensor(data, dtype)``; never sharing numpy's
    memory, unlike torch)."""
    if isinstance(data, Tensor) and (dtype is None or
                                     dtype_code(dtype) ==
                                     dtype_code(data.dtype)):
        if device is not None:
            data.to(device)         # a non-CPU device raises
        return data
    return tensor(data, dtype=dtype, device=device)
