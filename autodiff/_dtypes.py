"""Dtypes: the two tensor dtypes, dtype arguments, and the one rule that
decides the dtype of a tensor made from data that has none of its own.

A leaf module (numpy only): the compiled engine module imports it, so it
must not import the engine.  Every place that turns Python numbers, lists
or numpy data into a tensor asks :func:`infer_code`; nothing else decides.
"""
import numbers

import numpy as np

__all__ = ["float32", "float64", "NP_DTYPES", "F32", "F64", "dtype_code",
           "infer_code", "TENSOR", "ARGUMENT", "OPERAND", "is_scalar"]

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)

# The engine's dtype codes (ad_dtype in csrc/autodiff.h; the engine module
# checks them against the C enum when it loads) and each one's numpy dtype.
F32, F64 = 0, 1
NP_DTYPES = (float32, float64)


def dtype_code(dtype):
    """The code of a dtype argument: None (the default, float32), a numpy
    dtype, type or name, or a torch dtype's name.  Anything but float32
    and float64 is a TypeError."""
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
    if name in ("float32", "float", "f4", "single"):
        return F32
    if name in ("float64", "double", "f8"):
        return F64
    raise TypeError("unsupported dtype %r: autodiff tensors are float32 or "
                    "float64" % (dtype,))


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
    """The dtype code (F32 or F64) of a tensor made from data.

    The one place that decides it.  arr is ``np.asarray(data)`` when the
    caller has it already (for an ``ArrayInput``, a compiled function's
    array argument: its ``probe()``).  Tensors are not inferred: they have
    a dtype.  The rule, in order:

    1. Data that is not numeric -- strings, objects, complex numbers -- is
       a TypeError, even with a dtype (which must not let strings be
       parsed or complex values lose their imaginary part).
    2. An explicit ``dtype`` wins.
    3. Python data (numbers and nested lists or tuples) depends on the
       context:

       * ``TENSOR`` -- ``ad.tensor(data)``, as ``torch.tensor``: it has no
         dtype of its own and takes ``default``.
       * ``ARGUMENT`` -- an argument of a module function
         (``ad.exp(0.5)``, ``ad.sum([1.0, 2.0])``), as numpy's functions:
         the dtype numpy gives it, so a Python float is float64 and
         Python ints are integer data (rule 5).
       * ``OPERAND`` -- the other operand of a tensor (``x + [1.0]``,
         ``ad.maximum(x, 0.0)``, a loss target; ``default`` is that
         tensor's dtype): it takes the tensor's dtype, and so does any
         scalar, numpy ones too -- a number never promotes
         (``x32 * np.float64(2)`` is float32, as the scalar fast path of
         the arithmetic operators computes it).
    4. numpy float64 data (arrays, 0-d arrays, numpy scalars, array
       arguments of compiled functions) stays float64, and numpy float32
       stays float32.  Then float32 with float64 gives float64.
    5. Integer, unsigned, bool and float16 (or longdouble) data takes
       ``default``: float32, the default float dtype, except where a
       caller says otherwise (the functional transforms, ``ad.grad(f)(x)``,
       differentiate in float64: they pass ``ARGUMENT`` and F64).

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
                        "autodiff tensors are float32 or float64" % adt)
    if dtype is not None:
        return dtype_code(dtype)
    t = type(data)
    if t is not np.ndarray and context != ARGUMENT:
        if t in _PYTHON or (isinstance(data, (list, tuple, float, int))
                            and not isinstance(data, np.generic)):
            return default                              # Python data
        if context == OPERAND and is_scalar(data):
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
