"""Dtypes: the four tensor dtypes (float32 and float64, which can require
grad; int64 and bool, for indices, labels and masks), dtype arguments, the
one rule that decides the dtype of a tensor made from data that has none
of its own, and the promotion of two operands' dtypes.

A leaf module (numpy only): the compiled engine module imports it, so it
must not import the engine.  Every place that turns Python numbers, lists
or numpy data into a tensor asks :func:`infer_code`; nothing else decides.
"""
import numbers

import numpy as np

__all__ = ["float32", "float64", "int64", "bool_", "NP_DTYPES", "F32",
           "F64", "I64", "BOOL", "dtype_code", "infer_code", "promote",
           "is_float", "TENSOR", "ARGUMENT", "OPERAND", "is_scalar"]

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

# The engine's dtype codes (ad_dtype in csrc/autodiff.h; the engine module
# checks them against the C enum when it loads) and each one's numpy dtype.
F32, F64, I64, BOOL = 0, 1, 2, 3
NP_DTYPES = (float32, float64, int64, bool_)

_NAMES = {"float32": F32, "float": F32, "f4": F32, "single": F32,
          "float64": F64, "double": F64, "f8": F64,
          "int64": I64, "long": I64, "i8": I64,
          "bool": BOOL, "bool_": BOOL, "b1": BOOL}


def is_float(code):
    """float32 and float64: the dtypes that can require grad."""
    return code <= F64


def promote(a, b):
    """The dtype code of an op between tensors of codes a and b, as torch's
    promotion of two dimensioned tensors: bool < int64 < float, and within
    the floats the wider one (int64 with float32 is float32)."""
    if a == b:
        return a
    if is_float(a) and is_float(b):
        return F64
    if is_float(a) or is_float(b):
        return a if is_float(a) else b
    return I64                                   # int64 with bool


def dtype_code(dtype):
    """The code of a dtype argument: None (the default, float32), a numpy
    dtype, type or name, or a torch dtype's name.  Anything but float32,
    float64, int64 and bool is a TypeError."""
    if dtype is None or dtype is float32:
        return F32
    if dtype is float64:
        return F64
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None)
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
    name = str(name).replace("torch.", "")
    code = _NAMES.get(name)
    if code is None:
        raise TypeError("unsupported dtype %r: autodiff tensors are float32, "
                        "float64, int64 or bool" % (dtype,))
    return code


def is_scalar(o):
    """A Python or numpy real number (not an array, not even 0-d)."""
    t = type(o)
    if t is float or t is int:
        return True
    return isinstance(o, (numbers.Real, np.floating, np.integer)) and \
        not isinstance(o, np.ndarray)


# The contexts of infer_code
TENSOR, ARGUMENT, OPERAND = "tensor", "argument", "operand"
_PYTHON = frozenset([float, int, bool, list, tuple])


def infer_code(data, arr=None, dtype=None, context=TENSOR, default=F32):
    """The dtype code of a tensor made from data.

    The one place that decides it.  arr is ``np.asarray(data)`` when the
    caller has it already (for an ``ArrayInput``, a compiled function's
    array argument: its ``probe()``).  Tensors are not inferred: they have
    a dtype.  The rule, in order:

    1. Data that is not numeric -- strings, objects, complex numbers -- is
       a TypeError, even with a dtype (which must not let strings be
       parsed or complex values lose their imaginary part).
    2. An explicit ``dtype`` wins.
    3. ``TENSOR`` -- ``ad.tensor(data)``, ``ad.from_numpy``, as
       ``torch.tensor``: bool data (Python or numpy) is bool, integer
       data (signed or unsigned) is int64, Python floats take ``default``
       (float32), numpy float64 and float32 keep their dtype, float16
       widens to float32.
    4. ``ARGUMENT`` -- an argument of a module function (``ad.exp(0.5)``,
       ``ad.sum([1.0, 2.0])``), as numpy's functions would see it: numpy
       and Python float64 data is float64, float32 stays float32, and
       integer, bool and float16 data takes ``default`` -- float32, or
       float64 in the functional transforms (``ad.grad(f)(3)``
       differentiates in float64).
    5. ``OPERAND`` -- the other operand of a tensor (``x + [1.0]``,
       ``ad.maximum(x, 0.0)``, a loss target; ``default`` is that
       tensor's dtype).  Of a float tensor it takes the tensor's dtype, a
       number never promotes (``x32 * np.float64(2)`` is float32, as the
       scalar fast path computes it).  Of an int64 or bool tensor it goes
       by category as torch: float data makes float32 (float64 for a
       numpy float64 array with dimensions), integer data int64, bool
       data the tensor's dtype.

    ``ad.tensor``, the module functions' argument conversion, the
    operands of arithmetic and binary ops, ``ad.compile``'s array
    arguments (in each of those) and the functional transforms all ask
    this function; nothing else decides a dtype for data.
    """
    if arr is None:
        arr = np.asarray(data)
    adt = arr.dtype
    kind = adt.kind
    if kind not in "fbiu":
        raise TypeError("cannot make a tensor from data of dtype %s; "
                        "autodiff tensors are float32, float64, int64 or "
                        "bool" % adt)
    if dtype is not None:
        return dtype_code(dtype)
    t = type(data)
    python = t is not np.ndarray and (
        t in _PYTHON or (isinstance(data, (list, tuple, float, int))
                         and not isinstance(data, np.generic)))
    if context == OPERAND:
        if is_float(default):
            if python or is_scalar(data):
                return default
        elif kind == "f":
            if python or is_scalar(data) or arr.ndim == 0:
                return F32
            return F64 if adt.itemsize == 8 else F32
        elif kind == "b":
            return default
        else:
            return I64
    if context == TENSOR:
        if kind == "b":
            return BOOL
        if kind in "iu":
            return I64
        if python:
            return default
    if kind == "f":
        if adt is float64:
            return F64
        if adt is float32:
            return F32
        size = adt.itemsize          # (a non-native byte order)
        if size == 8 or size == 4:
            return F64 if size == 8 else F32
    return default
