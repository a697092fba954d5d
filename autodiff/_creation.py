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
    """A new leaf tensor holding a copy of `data` (torch.tensor).

    Parameters
    ----------
    data : Tensor, array, number or nested sequence
        Numpy arrays of any strides or order are copied; so is a tensor
        (the copy is recorded by ad.compile, which replays it with the
        tensor's new values).
    dtype : dtype, optional
        The dtype of the result.  Without it the dtype follows the data:
        Python floats give float32, ints int64, bools bool; numpy arrays
        keep float32, float64, int64 and bool (other integer types become
        int64, float16 float32); a tensor keeps its own.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).
        Also for data that is not numeric (strings, objects).

    Examples
    --------
    >>> ad.tensor([1.0, 2.0]).dtype, ad.tensor([1, 2]).dtype
    (dtype('float32'), dtype('int64'))
    >>> ad.tensor(np.arange(3.0)).dtype
    dtype('float64')
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> x.is_leaf, x.requires_grad
    (True, True)
    """
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
    """A tensor holding a copy of a numpy array, its dtype kept
    (torch.from_numpy shares the memory; autodiff copies, so later writes
    to the array cannot reach the tensor or its gradients).

    Parameters
    ----------
    arr : numpy.ndarray

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When `arr` is not a numpy array or has an unsupported dtype.

    Examples
    --------
    >>> a = np.zeros(2)
    >>> t = ad.from_numpy(a)
    >>> a[0] = 5.0
    >>> t.tolist(), t.dtype
    ([0.0, 0.0], dtype('float64'))
    """
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
    """A tensor of the given shape filled with `fill_value` (torch.full).

    Parameters
    ----------
    shape : int or sequence of ints
    fill_value : number
        The value; without `dtype`, an int gives int64, a bool bool, a float
        float32 (torch's rule).
    dtype : dtype, optional
        The dtype of the result.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.full((2, 2), 7).tolist()
    [[7, 7], [7, 7]]
    """
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
    """A tensor of zeros (torch.zeros).

    Parameters
    ----------
    *shape : int or sequence of ints
        The shape, as separate ints ``(2, 3)`` or one sequence ``((2, 3))``.
    dtype : dtype, optional
        The dtype (float32 by default).
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.zeros(2, 3).shape, ad.zeros((2, 3)).dtype
    ((2, 3), dtype('float32'))
    """
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
    """A tensor of ones (torch.ones).

    Parameters
    ----------
    *shape : int or sequence of ints
        The shape, as separate ints ``(2, 3)`` or one sequence ``((2, 3))``.
    dtype : dtype, optional
        The dtype (float32 by default).
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.ones(2, dtype=ad.int64).tolist()
    [1, 1]
    """
    check_device(device)
    return _full(shape, 1.0, dtype, requires_grad, True)


def zeros_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """Zeros of the shape (and dtype) of `x` (torch.zeros_like).

    Parameters
    ----------
    x : Tensor or array
        The tensor whose shape (and, without `dtype`, dtype) is taken.
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.zeros_like(ad.ones(2, 3)).shape
    (2, 3)
    """
    check_device(device)
    return _full_like(x, 0.0, dtype, requires_grad)


def ones_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """Ones of the shape (and dtype) of `x` (torch.ones_like).

    Parameters
    ----------
    x : Tensor or array
        The tensor whose shape (and, without `dtype`, dtype) is taken.
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.ones_like(ad.tensor([1, 2])).tolist()
    [1, 1]
    """
    check_device(device)
    return _full_like(x, 1.0, dtype, requires_grad)


def full_like(x: _TensorLike, fill_value: SupportsFloat,
              dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """`fill_value` in the shape (and dtype) of `x` (torch.full_like).

    Parameters
    ----------
    x : Tensor or array
        The tensor whose shape (and, without `dtype`, dtype) is taken.
    fill_value : number
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.full_like(ad.zeros(2), 0.5).tolist()
    [0.5, 0.5]
    """
    check_device(device)
    return _full_like(x, fill_value, dtype, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1,
           dtype: npt.DTypeLike | None = None,
           requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """Values from `start` to `stop` (excluded) in steps of `step`
    (torch.arange): int64 when start, stop and step are all ints, else
    float32 (or `dtype`).

    Parameters
    ----------
    start : number
        The first value; with `stop` None, the end (starting at 0).
    stop : number, optional
        The end, excluded.
    step : number, default 1
        Not zero.
    dtype : dtype, optional
        The dtype of the result.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
        1-D.
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).
    ValueError
        When `step` is 0.

    Examples
    --------
    >>> ad.arange(4).tolist(), ad.arange(0, 1, 0.25).tolist()
    ([0, 1, 2, 3], [0.0, 0.25, 0.5, 0.75])
    """
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
    """`num` evenly spaced values from `start` to `stop`, both included
    (torch.linspace; numpy's default of 50 steps).

    Parameters
    ----------
    start, stop : number
        The first and the last value.
    num : int, default 50
        The number of values.
    dtype : dtype, optional
        The dtype (float32 by default).
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
        1-D, of length `num`.
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    check_device(device)
    return tensor(np.linspace(start, stop, num), dtype=dtype or float32,
                  requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: npt.DTypeLike | None = None,
        requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """The identity matrix (ones on the diagonal), n x m (torch.eye).

    Parameters
    ----------
    n : int
        The number of rows.
    m : int, optional
        The number of columns (n by default).
    dtype : dtype, optional
        The dtype (float32 by default).
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
        2-D.
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    check_device(device)
    return tensor(np.eye(n, m), dtype=dtype or float32,
                  requires_grad=requires_grad)


def empty(*shape: Any, dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of the given shape (torch.empty); autodiff zeroes its memory,
    where torch leaves it uninitialised.

    Parameters
    ----------
    *shape : int or sequence of ints
        The shape, as separate ints ``(2, 3)`` or one sequence ``((2, 3))``.
    dtype : dtype, optional
        The dtype (float32 by default).
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> ad.empty(2).tolist()
    [0.0, 0.0]
    """
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad,
                 device=device)


def empty_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """A tensor of the shape (and dtype) of `x` (torch.empty_like); zeroed.

    Parameters
    ----------
    x : Tensor or array
        The tensor whose shape (and, without `dtype`, dtype) is taken.
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Record operations on the result for autograd (float dtypes only).
    device : str or device, optional (keyword only)
        "cpu" or None; autodiff has no other device.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).
    """
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
    """torch's legacy constructor of a float32 tensor: ``FloatTensor(data)``
    copies data into float32, ``FloatTensor(2, 3)`` gives zeros of that shape
    (torch leaves them uninitialised), ``FloatTensor()`` an empty tensor.

    Parameters
    ----------
    *args : data, or ints
        The data, or the sizes.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        For anything else (several non-int arguments).

    Examples
    --------
    >>> ad.FloatTensor(2).dtype
    dtype('float32')
    """
    return _legacy(float32, args)


def DoubleTensor(*args: Any) -> Tensor:
    """torch's legacy constructor of a float64 tensor: ``DoubleTensor(data)``
    copies data into float64, ``DoubleTensor(2, 3)`` gives zeros of that shape
    (torch leaves them uninitialised), ``DoubleTensor()`` an empty tensor.

    Parameters
    ----------
    *args : data, or ints
        The data, or the sizes.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        For anything else (several non-int arguments).

    Examples
    --------
    >>> ad.DoubleTensor(2).dtype
    dtype('float64')
    """
    return _legacy(float64, args)


def LongTensor(*args: Any) -> Tensor:
    """torch's legacy constructor of a int64 tensor: ``LongTensor(data)``
    copies data into int64, ``LongTensor(2, 3)`` gives zeros of that shape
    (torch leaves them uninitialised), ``LongTensor()`` an empty tensor.

    Parameters
    ----------
    *args : data, or ints
        The data, or the sizes.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        For anything else (several non-int arguments).

    Examples
    --------
    >>> ad.LongTensor(2).dtype
    dtype('int64')
    """
    return _legacy(int64, args)


def BoolTensor(*args: Any) -> Tensor:
    """torch's legacy constructor of a bool tensor: ``BoolTensor(data)`` copies
    data into bool, ``BoolTensor(2, 3)`` gives zeros of that shape (torch
    leaves them uninitialised), ``BoolTensor()`` an empty tensor.

    Parameters
    ----------
    *args : data, or ints
        The data, or the sizes.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        For anything else (several non-int arguments).

    Examples
    --------
    >>> ad.BoolTensor(2).dtype
    dtype('bool')
    """
    return _legacy(bool_, args)


def as_tensor(data: _TensorLike, dtype: npt.DTypeLike | None = None,
              device: Any = None) -> Tensor:
    """`data` itself when it is a tensor of the requested dtype, else a new
    tensor (torch.as_tensor; a numpy array is copied, never shared).

    Parameters
    ----------
    data : Tensor, array, number or nested sequence
    dtype : dtype, optional
        The dtype wanted; None keeps a tensor's, or infers data's as
        :func:`tensor` does.
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
    Raises
    ------
    RuntimeError
        For a device other than the CPU, or requires_grad with an integer
        or bool dtype.
    TypeError
        For a dtype autodiff does not have (float32, float64, int64 and bool
        are supported).

    Examples
    --------
    >>> x = ad.ones(2)
    >>> ad.as_tensor(x) is x, ad.as_tensor(x, dtype=ad.float64) is x
    (True, False)
    """
    if isinstance(data, Tensor) and (dtype is None or
                                     dtype_code(dtype) ==
                                     dtype_code(data.dtype)):
        if device is not None:
            data.to(device)         # a non-CPU device raises
        return data
    return tensor(data, dtype=dtype, device=device)
