# cython: language_level=3
"""The one boundary between Python and the C engine in csrc/.

Everything here is argument checking, conversion and calls into C: no
numeric loops.  Each C status becomes a Python exception carrying the
engine's message, which names the shapes, dtypes or values involved.

One extension module (one per-thread tape and pool), its source split by
concern: this file (errors, BLAS, dtypes, the ops), _tensor.pxi (the
Tensor type), _optim.pxi (FusedUpdate), _program.pxi (compiled programs
and the fast call path) and _graph.pxi (the graph reader and custom ops),
included below; the declarations of the C API are in _capi.pxd.
"""
cimport cython
import collections
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release,
                             PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITE)
from cpython.memoryview cimport PyMemoryView_FromMemory
from libc.string cimport strcmp
from cpython.pythread cimport PyThread_get_thread_ident

from autodiff._capi cimport *

import numbers
import re
import threading

import numpy as np

# Leaf modules (numpy only) that this one builds on.  The Python modules
# above it (_creation, _ops, _indexing, ...) import this one, so it reaches
# them only at call time, through _up() below.
from autodiff import _capture, _device, _dtypes

cdef extern from "Python.h" nogil:
    void *PyEval_SaveThread()
    void PyEval_RestoreThread(void *)



# ---------------------------------------------------------------- errors

cdef object NotCompilableError = _capture.NotCompilableError
cdef object ArrayInput = _capture.ArrayInput
cdef object LinAlgError = _capture.LinAlgError


# An exception raised by Python code the engine called back (a custom
# Function's backward) waits here until the C call returns its status.
_hook_state = threading.local()

cdef int _raise(ad_status s) except -1:
    exc = getattr(_hook_state, "exc", None)
    if exc is not None:
        _hook_state.exc = None
        raise exc
    msg = ad_last_error().decode("utf-8", "replace")
    if s == AD_ERR_NOMEM:
        raise MemoryError(msg)
    if s == AD_ERR_SHAPE or s == AD_ERR_VALUE:
        raise ValueError(msg)
    if s == AD_ERR_INDEX:
        raise IndexError(msg)
    if s == AD_ERR_TYPE:
        raise TypeError(msg)
    if s == AD_ERR_LINALG:
        raise LinAlgError(msg)
    raise RuntimeError(msg)

cdef inline int _check(ad_status s) except -1:
    if s != AD_OK:
        _raise(s)
    return 0


# ------------------------------------------------- BLAS and the GIL hooks

_SGEMM_SIG = ("void (char *, char *, int *, int *, int *, float *, float *, "
              "int *, float *, int *, float *, float *, int *)")

cdef void *_unlock() noexcept nogil:
    # Called by the engine, always with the GIL held (see ad_nogil_begin).
    return PyEval_SaveThread()

cdef void _relock(void *state) noexcept nogil:
    PyEval_RestoreThread(state)


def _init_blas():
    """Hand scipy's BLAS sgemm/dgemm to the engine, checking signatures."""
    try:
        from scipy.linalg import cython_blas
    except ImportError as e:  # pragma: no cover - scipy is a dependency
        raise ImportError("autodiff needs scipy for its BLAS matrix "
                          "products: pip install scipy") from e
    ptrs = []
    for name, ctype in (("sgemm", "float"), ("dgemm", "double")):
        cap = cython_blas.__pyx_capi__[name]
        sig = PyCapsule_GetName(cap)
        text = re.sub(r"__pyx_t_\w+?_s\b", "float",
                      re.sub(r"__pyx_t_\w+?_d\b", "double",
                             sig.decode("ascii")))
        want = _SGEMM_SIG.replace("float", ctype)
        if text != want:
            raise ImportError(
                "scipy.linalg.cython_blas.%s has signature %r; autodiff "
                "expects %r" % (name, text, want))
        ptrs.append(<size_t>PyCapsule_GetPointer(cap, sig))
    ad_set_blas(<ad_sgemm_fn><void *><size_t>ptrs[0],
                <ad_dgemm_fn><void *><size_t>ptrs[1])

_init_blas()

# LAPACK's signatures (scipy's cython_lapack capsules, T for the element
# type), in the order of csrc/autodiff.h's AD_LAPACK_FNS.
_LAPACK_SIGS = {
    "getrf": "void (int *, int *, T *, int *, int *, int *)",
    "getrs": "void (char *, int *, int *, T *, int *, int *, T *, int *, "
             "int *)",
    "potrf": "void (char *, int *, T *, int *, int *)",
    "trtrs": "void (char *, char *, char *, int *, int *, T *, int *, T *, "
             "int *, int *)",
    "syevd": "void (char *, char *, int *, T *, int *, T *, T *, int *, "
             "int *, int *, int *)",
    "geqrf": "void (int *, int *, T *, int *, T *, T *, int *, int *)",
    "orgqr": "void (int *, int *, int *, T *, int *, T *, T *, int *, "
             "int *)",
    "gesdd": "void (char *, int *, int *, T *, int *, T *, T *, int *, T *, "
             "int *, T *, int *, int *, int *)",
}


def _init_lapack():
    """Hand scipy's LAPACK routines (s and d) to the engine, checking
    each capsule's signature (ImportError on a mismatch)."""
    from scipy.linalg import cython_lapack
    cdef int i
    for i in range(AD_LAPACK_COUNT):
        name = ad_lapack_name(i).decode("ascii")
        ptrs = []
        for prefix, ctype in (("s", "float"), ("d", "double")):
            cap = cython_lapack.__pyx_capi__[prefix + name]
            sig = PyCapsule_GetName(cap)
            text = re.sub(r"__pyx_t_\w+?_s\b", "float",
                          re.sub(r"__pyx_t_\w+?_d\b", "double",
                                 sig.decode("ascii")))
            want = _LAPACK_SIGS[name].replace("T", ctype)
            if text != want:
                raise ImportError(
                    "scipy.linalg.cython_lapack.%s%s has signature %r; "
                    "autodiff expects %r" % (prefix, name, text, want))
            ptrs.append(<size_t>PyCapsule_GetPointer(cap, sig))
        ad_set_lapack(i, <void *><size_t>ptrs[0], <void *><size_t>ptrs[1])

_init_lapack()
# The lock hooks are installed but unlocking is decided per kernel size.
# Hooks cannot be used from inside 'with nogil' code: the engine calls
# them only from ops, which this module always calls with the GIL.
ad_set_lock_hooks(<ad_unlock_fn>_unlock, <ad_relock_fn>_relock)


# ------------------------------------------------------------------ dtypes

# The numpy dtypes and the dtype rules are autodiff/_dtypes.py's; its codes
# must be the engine's.
if (_dtypes.F32, _dtypes.F64, _dtypes.I64, _dtypes.BOOL,
        _capture.SRC_I64) != (AD_F32, AD_F64, AD_I64, AD_BOOL, AD_SRC_I64):
    raise ImportError("autodiff/_dtypes.py or _capture.py does not match "
                      "the engine's dtype codes")
float32 = _dtypes.float32
float64 = _dtypes.float64
int64 = _dtypes.int64
bool_ = _dtypes.bool_
_NP_DTYPES = _dtypes.NP_DTYPES
cdef object _infer_code = _dtypes.infer_code
cdef object _ARGUMENT = _dtypes.ARGUMENT
cdef object _OPERAND = _dtypes.OPERAND

def _dtype_code_of(dtype):
    """The engine's code of a dtype argument (TypeError if unsupported)."""
    return _dtype_code(dtype)

cdef int _dtype_code(object dtype) except -1:
    # the common arguments without a call into _dtypes.dtype_code
    if dtype is None or dtype is float32:
        return AD_F32
    if dtype is float64:
        return AD_F64
    return _dtypes.dtype_code(dtype)


# --------------------------------------------------------- the layer above
#
# Functions of the Python modules that Tensor methods and a few engine
# paths call, looked up on first use (those modules import this one).

cdef class _Upper:
    cdef object tensor, matmul, var, std, swapaxes, expand_dims, squeeze
    cdef object flatten, getitem, setitem, ops

cdef _Upper _upper = None

cdef _Upper _up():
    global _upper
    if _upper is None:
        from autodiff import _creation, _indexing, _ops
        u = _Upper()
        u.tensor = _creation.tensor
        u.matmul, u.var, u.std = _ops.matmul, _ops.var, _ops.std
        u.swapaxes, u.expand_dims = _ops.swapaxes, _ops.expand_dims
        u.squeeze, u.flatten = _ops.squeeze, _ops.flatten
        u.getitem, u.setitem = _indexing.getitem, _indexing.setitem
        u.ops = _ops
        _upper = u
    return _upper


include "_tensor.pxi"


# Tensor.t() (torch's 2-D transpose): a def method cannot be named t, the
# name of the C struct field, so the method is put in the type's dict.
cdef extern from "Python.h":
    ctypedef struct PyObject
    ctypedef struct PyTypeObject:
        PyObject *tp_dict
    void PyType_Modified(PyTypeObject *)
    int PyDict_SetItem(PyObject *, PyObject *, PyObject *) except -1


def _tensor_t(self):
    """t() -> Tensor: a 2-D tensor transposed, 0-D and 1-D as they are
    (torch.t)."""
    return _up().ops.t(self)

PyDict_SetItem((<PyTypeObject *>Tensor).tp_dict, <PyObject *>"t",
               <PyObject *>_tensor_t)
PyType_Modified(<PyTypeObject *>Tensor)


# -------------------------------------------------------------- in place

cdef object _indexing_module = None

cdef object _indexing_mod():
    global _indexing_module
    if _indexing_module is None:
        from autodiff import _indexing
        _indexing_module = _indexing
    return _indexing_module

cdef int _check_inplace(Tensor self, str name, object other,
                        bint rebind=False) except -1:
    """Refuse an in-place write that would silently not do what it does
    in torch: into a copy that torch would have made a view, or one that
    would cut a recorded graph.  With rebind (the augmented operators),
    return 1 for the copy read by ``x[key] op= v`` when the op must be
    recorded: the caller then returns the out-of-place result, which
    Python stores into x[key] (a recorded, differentiable assignment)."""
    cdef bint writeback = False
    if self.t.flags & AD_T_COPY_OF_VIEW:
        writeback = _indexing_mod().augmented_writeback(self)
    if writeback and rebind and ad_grad_enabled() and (
            self.t.requires_grad or (isinstance(other, Tensor) and
                                     (<Tensor>other).t.requires_grad)):
        return 1
    if self.t.flags & AD_T_COPY_OF_VIEW and not writeback:
        raise RuntimeError(
            "%s: this tensor of shape %s is a copy, not a view of the tensor "
            "it was taken from: autodiff tensors are contiguous, so basic "
            "indexing, .T, transpose, permute, swapaxes and broadcast_to "
            "return copies (PyTorch returns views), and writing into one "
            "would not change the original. Assign into the original "
            "instead (w[0] = value, and w[0] = w[0] + v for w[0] += v) or "
            "use the out-of-place result (y = w[0] + 1)" % (name, self.shape))
    if not ad_grad_enabled():
        return 0
    if self.t.requires_grad:
        if self.t.rec < 0:
            raise RuntimeError("a leaf Variable that requires grad is being "
                               "used in an in-place operation.")
        raise RuntimeError(
            "%s: in-place operations on a tensor that is part of a recorded "
            "graph (a non-leaf that requires grad) are not supported by "
            "autodiff, whose tape cannot rebase the graph onto the new "
            "value. Use the out-of-place form, x = x + y (item assignment "
            "x[idx] = value is supported and differentiable)" % name)
    if isinstance(other, Tensor) and (<Tensor>other).t.requires_grad:
        raise RuntimeError(
            "%s: the operand requires grad but this tensor does not: an "
            "in-place result cannot carry a gradient in autodiff, so it "
            "would be lost. Use the out-of-place form, x = x + y, or "
            "detach() the operand" % name)
    return 0

cdef object _no_grad_arith(ad_binary_kind k, object a, object b):
    cdef int was = ad_grad_enabled()
    ad_set_grad_enabled(0)
    try:
        return _arith(k, a, b)
    finally:
        ad_set_grad_enabled(was)

cdef object _inplace_store(Tensor self, Tensor r, str name):
    """Copy an out-of-place result (computed without recording) into
    self's buffer.  While ad.compile records, the op that made r is a
    forward record and ad_copy_data a COPY instruction, so a replay
    recomputes both."""
    if r.shape != self.shape:
        raise ValueError("%s: output with shape %s doesn't match the "
                         "broadcast shape %s" % (name, self.shape, r.shape))
    _check(ad_copy_data(self.t, r.t))
    return self

cdef int _check_operand_shape(Tensor self, object other,
                              str name) except -1:
    """The operand must broadcast to self's shape (never the other way,
    as torch): checked before anything is computed."""
    if isinstance(other, Tensor):
        oshape = other.shape
    elif isinstance(other, (np.ndarray, list, tuple)):
        try:
            oshape = np.shape(other)
        except ValueError:
            return 0            # ragged: the conversion will say so
    else:
        return 0
    try:
        ok = np.broadcast_shapes(oshape, self.shape) == self.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("%s: an operand of shape %s cannot be broadcast to "
                         "this tensor's shape %s" % (name, tuple(oshape),
                                                     self.shape))
    return 0

cdef object _inplace_arith(Tensor self, ad_binary_kind k, object other,
                           str name):
    if _check_inplace(self, name, other, True) == 1:
        _check_operand_shape(self, other, name)
        r = _arith(k, self, other)      # x[key] op= v, recorded
        if r is not NotImplemented and r.dtype != self.dtype:
            if np.dtype(self.dtype).kind != "f":
                raise RuntimeError("result type %s can't be cast to the "
                                   "desired output type %s"
                                   % (r.dtype, self.dtype))
            r = r.to(self.dtype)        # float64 into float32, as torch
        return r
    _check_operand_shape(self, other, name)
    r = _no_grad_arith(k, self, other)
    if r is NotImplemented:
        if name.startswith("__"):
            return NotImplemented
        raise TypeError("%s: unsupported operand of type %s; expected a "
                        "Tensor, array or number" % (name,
                                                     type(other).__name__))
    return _inplace_store(self, <Tensor>r, name)

cdef object _inplace_composite(Tensor self, str name, object fn,
                               tuple operands):
    """self.<name>(...) for a composite of _ops (lerp_, addcmul_, ...):
    the checks of any in-place op, then fn() computed without recording
    and copied into self's buffer (its shape must be self's)."""
    for o in operands:
        _check_inplace(self, name, o)
    cdef int was = ad_grad_enabled()
    ad_set_grad_enabled(0)
    try:
        r = fn()
    finally:
        ad_set_grad_enabled(was)
    return _inplace_store(self, <Tensor>r, name)

cdef Tensor _inplace_operand(Tensor self, Tensor s, str name):
    """s broadcast to self's shape (never the other way, as torch)."""
    cdef int was
    _check_operand_shape(self, s, name)
    was = ad_grad_enabled()
    ad_set_grad_enabled(0)
    try:
        return broadcast_to(s, self.shape)
    finally:
        ad_set_grad_enabled(was)


# -------------------------------------------------------------------- ops

cdef Tensor _unary(Tensor x, ad_unary_kind k, double a, double b):
    cdef ad_tensor *o
    if x.t.dtype > AD_F64:
        return _int_unary(x, k, a, b)
    _check(ad_unary(k, x.t, a, b, &o))
    return _wrap(o)

cdef Tensor _scalar_tensor(object v, int code):
    return _from_array(np.asarray(v), code)

cdef Tensor _int_unary(Tensor x, ad_unary_kind k, double a, double b):
    """A unary op of an int64 or bool tensor, as torch: the ops that keep
    integers (neg, abs, sign, square, relu, rounding) stay int64; the rest
    compute in the default float dtype, float32."""
    cdef int dt = x.t.dtype
    if dt == AD_BOOL and k in (AD_U_NEG, AD_U_ABS, AD_U_SQUARE):
        if k == AD_U_NEG:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not "
                "supported. If you are trying to invert a mask, use the `~` "
                "or `logical_not()` operator instead.")
        x = _promote(x, AD_I64)
        dt = AD_I64
    if k == AD_U_NEG:
        return _binary(AD_B_SUB, _scalar_tensor(0, dt), x)
    if k == AD_U_ABS:
        return _binary(AD_B_MAXIMUM, x, _unary(x, AD_U_NEG, 0.0, 0.0))
    if k == AD_U_SQUARE:
        return _binary(AD_B_MUL, x, x)
    if k == AD_U_RELU:
        return _binary(AD_B_MAXIMUM, x, _scalar_tensor(0, dt))
    if k in (AD_U_FLOOR, AD_U_CEIL, AD_U_ROUND, AD_U_TRUNC):
        return x.clone()
    if k == AD_U_SIGN:
        if dt == AD_BOOL:
            return x.clone()
        zero = _scalar_tensor(0, dt)
        return _binary(AD_B_SUB, _promote(_compare(AD_C_GT, x, zero), dt),
                       _promote(_compare(AD_C_LT, x, zero), dt))
    return _unary(_promote(x, AD_F32), k, a, b)

cdef str _BOOL_SUB = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If "
    "you are trying to invert a mask, use the `~` or `logical_not()` "
    "operator instead.")

cdef Tensor _binary(ad_binary_kind k, Tensor a, Tensor b):
    cdef ad_tensor *o
    cdef int code
    if k == AD_B_SUB and (a.t.dtype == AD_BOOL or b.t.dtype == AD_BOOL):
        raise RuntimeError(_BOOL_SUB)
    if a.t.dtype != b.t.dtype:
        code = _dtypes.promote(a.t.dtype, b.t.dtype)
        a = _promote(a, code)
        b = _promote(b, code)
    if k == AD_B_DIV and a.t.dtype > AD_F64:
        a = _promote(a, AD_F32)         # true division: the default float
        b = _promote(b, AD_F32)
    _check(ad_binary(k, a.t, b.t, &o))
    return _wrap(o)

cdef Tensor _compare(ad_compare_kind k, Tensor a, Tensor b):
    """A bool tensor: a < b etc., in the promoted dtype of a and b."""
    cdef ad_tensor *o
    cdef int code
    if a.t.dtype != b.t.dtype:
        code = _dtypes.promote(a.t.dtype, b.t.dtype)
        a = _promote(a, code)
        b = _promote(b, code)
    _check(ad_compare(k, a.t, b.t, &o))
    return _wrap(o)

cdef object _cmp(ad_compare_kind k, Tensor a, object b):
    """The comparison operators: a bool tensor (NotImplemented for an
    operand that is no number, array or tensor)."""
    if not isinstance(b, Tensor):
        if not _is_operand(b):
            return NotImplemented
        b = _operand(b, a.t.dtype)
    return _compare(k, a, <Tensor>b)

cdef Tensor _cmpfn(ad_compare_kind k, object a, object b):
    cdef Tensor t = _t(a)
    return _compare(k, t, _operand(b, t.t.dtype))

cdef object _bitwise(ad_bitwise_kind k, object a, object b, str name):
    cdef ad_tensor *o
    cdef Tensor x, y
    if not isinstance(a, Tensor):
        a, b = b, a
    x = <Tensor>a
    if not isinstance(b, Tensor):
        if not _is_operand(b):
            return NotImplemented
        b = _operand(b, x.t.dtype)
    y = <Tensor>b
    if x.t.dtype <= AD_F64 or y.t.dtype <= AD_F64:
        raise TypeError("%s is only for int64 and bool tensors, got %s and "
                        "%s" % (name, x.dtype, y.dtype))
    if x.t.dtype != y.t.dtype:
        x = _promote(x, AD_I64)
        y = _promote(y, AD_I64)
    _check(ad_bitwise(k, x.t, y.t, &o))
    return _wrap(o)

def eq(a, b): return _cmpfn(AD_C_EQ, a, b)
def ne(a, b): return _cmpfn(AD_C_NE, a, b)
def lt(a, b): return _cmpfn(AD_C_LT, a, b)
def le(a, b): return _cmpfn(AD_C_LE, a, b)
def gt(a, b): return _cmpfn(AD_C_GT, a, b)
def ge(a, b): return _cmpfn(AD_C_GE, a, b)
greater, greater_equal, less, less_equal = gt, ge, lt, le
not_equal = ne

def bitwise_and(a, b): return _bitwise(AD_W_AND, _t(a), b, "bitwise_and")
def bitwise_or(a, b): return _bitwise(AD_W_OR, _t(a), b, "bitwise_or")
def bitwise_xor(a, b): return _bitwise(AD_W_XOR, _t(a), b, "bitwise_xor")

def logical_not(x):
    """True where x is zero (a bool tensor)."""
    cdef Tensor t = _t(x)
    return _compare(AD_C_EQ, t, _scalar_tensor(0, t.t.dtype))

def logical_and(a, b):
    return _bitwise(AD_W_AND, _promote(_t(a), AD_BOOL),
                    _promote(_t(b), AD_BOOL), "logical_and")

def logical_or(a, b):
    return _bitwise(AD_W_OR, _promote(_t(a), AD_BOOL),
                    _promote(_t(b), AD_BOOL), "logical_or")

def logical_xor(a, b):
    return _bitwise(AD_W_XOR, _promote(_t(a), AD_BOOL),
                    _promote(_t(b), AD_BOOL), "logical_xor")

def bitwise_not(x):
    """~x: logical not of a bool tensor, -x - 1 of an int64 one."""
    cdef Tensor t = _t(x)
    if t.t.dtype == AD_BOOL:
        return logical_not(t)
    if t.t.dtype != AD_I64:
        raise TypeError("bitwise_not is only for int64 and bool tensors, "
                        "got %s" % t.dtype)
    return _bitwise(AD_W_XOR, t, _scalar_tensor(-1, AD_I64), "bitwise_not")

def isnan(x):
    cdef Tensor t = _t(x)
    return _compare(AD_C_NE, t, t)

cdef Tensor _vs_inf(object x, bint finite):
    """|x| < inf (finite) or |x| == inf; integers are always finite."""
    cdef Tensor t = _t(x)
    if t.t.dtype > AD_F64:
        return _compare(AD_C_EQ if finite else AD_C_NE, t, t)
    return _compare(AD_C_LT if finite else AD_C_EQ,
                    _unary(t, AD_U_ABS, 0.0, 0.0),
                    _scalar_tensor(np.inf, t.t.dtype))

def isfinite(x): return _vs_inf(x, True)
def isinf(x): return _vs_inf(x, False)

cdef object _int_scalar_arith(ad_binary_kind k, Tensor x, object c,
                              bint reflected):
    """x (int64 or bool) op the number c, or c op x: by category as torch
    (a float number makes float32, an int one int64)."""
    cdef int code = _infer_code(c, None, None, _OPERAND, x.t.dtype)
    if k == AD_B_SUB and (isinstance(c, (bool, np.bool_)) or
                          x.t.dtype == AD_BOOL):
        raise RuntimeError(_BOOL_SUB)
    if code <= AD_F64 or k == AD_B_DIV:
        x = _promote(x, code if code <= AD_F64 else AD_F32)
        return _arith(k, c, x) if reflected else _arith(k, x, c)
    if k == AD_B_POW and not reflected and c < 0:
        raise RuntimeError("Integers to negative integer powers are not "
                           "allowed.")
    s = _scalar_tensor(c, code)
    return _binary(k, s, x) if reflected else _binary(k, x, s)

cdef object _arith(ad_binary_kind k, object a, object b):
    """Binary arithmetic with fast paths for a Python scalar operand."""
    cdef Tensor x
    cdef double c
    if type(a) is Tensor and type(b) is Tensor:
        return _binary(k, <Tensor>a, <Tensor>b)
    if isinstance(a, Tensor):
        x = <Tensor>a
        if _is_scalar(b) and x.t.dtype > AD_F64:
            return _int_scalar_arith(k, x, b, False)
        if _is_scalar(b):
            c = b
            if k == AD_B_ADD:
                return _unary(x, AD_U_ADDC, c, 0.0)
            if k == AD_B_SUB:
                return _unary(x, AD_U_ADDC, -c, 0.0)
            if k == AD_B_MUL:
                return _unary(x, AD_U_MULC, c, 0.0)
            if k == AD_B_DIV:
                return _unary(x, AD_U_DIVC, c, 0.0)
            if k == AD_B_POW:
                return _unary(x, AD_U_POWC, c, 0.0)
        if not isinstance(b, Tensor):
            if not _is_operand(b):
                return NotImplemented
            b = _operand(b, x.t.dtype)
        return _binary(k, x, <Tensor>b)
    if not isinstance(b, Tensor):
        return NotImplemented
    x = <Tensor>b
    if _is_scalar(a) and x.t.dtype > AD_F64:
        return _int_scalar_arith(k, x, a, True)
    if _is_scalar(a):
        c = a
        if k == AD_B_ADD:
            return _unary(x, AD_U_ADDC, c, 0.0)
        if k == AD_B_SUB:
            return _unary(x, AD_U_RSUBC, c, 0.0)
        if k == AD_B_MUL:
            return _unary(x, AD_U_MULC, c, 0.0)
        if k == AD_B_DIV:
            return _unary(x, AD_U_RDIVC, c, 0.0)
        if k == AD_B_POW:
            return _unary(x, AD_U_RPOWC, c, 0.0)
    if not _is_operand(a):
        return NotImplemented
    return _binary(k, _operand(a, x.t.dtype), x)

cpdef Tensor _t(object x):
    """Coerce a module-function argument to a Tensor (of the dtype
    _dtypes.infer_code gives data)."""
    if isinstance(x, Tensor):
        return <Tensor>x
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError("expected a Tensor, array or number, got %s"
                        % type(x).__name__)
    if type(x) is ArrayInput:
        return _input_tensor(x, _infer_code(x, x.probe(), None, _ARGUMENT))
    arr = _as_ndarray(x)
    return _from_array(arr, _infer_code(x, arr, None, _ARGUMENT))


cdef object _fn_arith(ad_binary_kind k, object a, object b, str name):
    """_arith for the module functions, which have no reflected operand
    to fall back on: NotImplemented becomes a TypeError."""
    r = _arith(k, _t(a), b)
    if r is NotImplemented:
        raise TypeError("%s: unsupported operand of type %s; expected a "
                        "Tensor, array or number" % (name, type(b).__name__))
    return r

def add(a, b): return _fn_arith(AD_B_ADD, a, b, "add")
def subtract(a, b): return _fn_arith(AD_B_SUB, a, b, "subtract")
def multiply(a, b): return _fn_arith(AD_B_MUL, a, b, "multiply")
def divide(a, b): return _fn_arith(AD_B_DIV, a, b, "divide")
def power(a, b): return _fn_arith(AD_B_POW, a, b, "power")
def negative(x): return _unary(_t(x), AD_U_NEG, 0.0, 0.0)
def exp(x): return _unary(_t(x), AD_U_EXP, 0.0, 0.0)
def log(x): return _unary(_t(x), AD_U_LOG, 0.0, 0.0)
def sqrt(x): return _unary(_t(x), AD_U_SQRT, 0.0, 0.0)
def abs(x): return _unary(_t(x), AD_U_ABS, 0.0, 0.0)
def sin(x): return _unary(_t(x), AD_U_SIN, 0.0, 0.0)
def tan(x): return _unary(_t(x), AD_U_TAN, 0.0, 0.0)
def cos(x): return _unary(_t(x), AD_U_COS, 0.0, 0.0)
def square(x): return _unary(_t(x), AD_U_SQUARE, 0.0, 0.0)
def atan(x): return _unary(_t(x), AD_U_ATAN, 0.0, 0.0)
def asin(x): return _unary(_t(x), AD_U_ASIN, 0.0, 0.0)
def acos(x): return _unary(_t(x), AD_U_ACOS, 0.0, 0.0)
def sinh(x): return _unary(_t(x), AD_U_SINH, 0.0, 0.0)
def cosh(x): return _unary(_t(x), AD_U_COSH, 0.0, 0.0)
def asinh(x): return _unary(_t(x), AD_U_ASINH, 0.0, 0.0)
def acosh(x): return _unary(_t(x), AD_U_ACOSH, 0.0, 0.0)
def atanh(x): return _unary(_t(x), AD_U_ATANH, 0.0, 0.0)
def log1p(x): return _unary(_t(x), AD_U_LOG1P, 0.0, 0.0)
def expm1(x): return _unary(_t(x), AD_U_EXPM1, 0.0, 0.0)
def log2(x): return _unary(_t(x), AD_U_LOG2, 0.0, 0.0)
def log10(x): return _unary(_t(x), AD_U_LOG10, 0.0, 0.0)
def exp2(x): return _unary(_t(x), AD_U_EXP2, 0.0, 0.0)
def reciprocal(x): return _unary(_t(x), AD_U_RECIPROCAL, 0.0, 0.0)
def rsqrt(x): return _unary(_t(x), AD_U_RSQRT, 0.0, 0.0)

# steps, as torch: gradient 0 (frac's is 1)
def sign(x): return _unary(_t(x), AD_U_SIGN, 0.0, 0.0)
def floor(x): return _unary(_t(x), AD_U_FLOOR, 0.0, 0.0)
def ceil(x): return _unary(_t(x), AD_U_CEIL, 0.0, 0.0)
def trunc(x): return _unary(_t(x), AD_U_TRUNC, 0.0, 0.0)
def frac(x): return _unary(_t(x), AD_U_FRAC, 0.0, 0.0)

def round(x, *, decimals=0):
    """Round half to even; with decimals, to that many decimal places
    (negative: to tens, hundreds, ...), scaled by 10**decimals as torch."""
    if isinstance(decimals, bool) or not isinstance(decimals,
                                                     (int, np.integer)):
        raise TypeError("round(): argument 'decimals' must be int, not %s"
                        % type(decimals).__name__)
    return _unary(_t(x), AD_U_ROUND, float(decimals), 0.0)

def sigmoid(x):
    """1 / (1 + e^-x), computed stably; derivative s (1 - s)."""
    return _unary(_t(x), AD_U_SIGMOID, 0.0, 0.0)

def tanh(x):
    """Hyperbolic tangent; derivative 1 - tanh(x)^2."""
    return _unary(_t(x), AD_U_TANH, 0.0, 0.0)

def relu(x):
    """max(x, 0); derivative 1 for x > 0, else 0."""
    return _unary(_t(x), AD_U_RELU, 0.0, 0.0)

def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, else negative_slope * x."""
    return _unary(_t(x), AD_U_LEAKY_RELU, float(negative_slope), 0.0)

def elu(x, alpha=1.0):
    """x for x > 0, else alpha (e^x - 1)."""
    return _unary(_t(x), AD_U_ELU, float(alpha), 0.0)

def selu(x):
    """scale * elu(x, alpha) with the self-normalising constants."""
    return _unary(_t(x), AD_U_SELU, 0.0, 0.0)

def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, linear where beta x > threshold."""
    if beta <= 0:
        raise ValueError("softplus: beta must be positive, got %r" % (beta,))
    return _unary(_t(x), AD_U_SOFTPLUS, float(beta), float(threshold))

def gelu(x):
    """x Phi(x) with Phi the standard normal CDF (exact, erf form)."""
    return _unary(_t(x), AD_U_GELU, 0.0, 0.0)

def silu(x):
    """x sigmoid(x), also called swish."""
    return _unary(_t(x), AD_U_SILU, 0.0, 0.0)

def erf(x):
    """The error function, 2/sqrt(pi) times the integral of e^(-t^2)."""
    return _unary(_t(x), AD_U_ERF, 0.0, 0.0)

# torch.nn.functional's activations (exported by autodiff.nn.functional),
# with torch's signatures: inplace is accepted, the result is a new tensor

def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; gradient 1 strictly inside, else 0
    (0 at min_val and max_val, as torch)."""
    lo, hi = float(min_val), float(max_val)
    if lo > hi:
        raise ValueError("hardtanh: min_val cannot be greater than max_val "
                         "(got %r > %r)" % (min_val, max_val))
    return _unary(_t(input), AD_U_HARDTANH, lo, hi)

def relu6(input, inplace=False):
    """min(max(x, 0), 6): hardtanh(x, 0, 6), as torch (gradient 0 at 0
    and at 6)."""
    return _unary(_t(input), AD_U_HARDTANH, 0.0, 6.0)

def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6; gradient 1/6 strictly inside (-3, 3), else 0."""
    return _unary(_t(input), AD_U_HARDSIGMOID, 0.0, 0.0)

def hardswish(input, inplace=False):
    """x relu6(x + 3) / 6; gradient 0 up to -3 (inclusive), x/3 + 1/2
    inside, 1 from 3 on, as torch."""
    return _unary(_t(input), AD_U_HARDSWISH, 0.0, 0.0)

def mish(input, inplace=False):
    """x tanh(softplus(x))."""
    return _unary(_t(input), AD_U_MISH, 0.0, 0.0)

def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|), stable for any x."""
    return _unary(_t(input), AD_U_LOGSIGMOID, 0.0, 0.0)

def softsign(input):
    """x / (1 + |x|)."""
    return _unary(_t(input), AD_U_SOFTSIGN, 0.0, 0.0)

def tanhshrink(input):
    """x - tanh(x)."""
    return _unary(_t(input), AD_U_TANHSHRINK, 0.0, 0.0)

def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, else alpha (e^(x/alpha) - 1) (expm1)."""
    a = float(alpha)
    if a == 0.0:
        raise ValueError("celu: alpha cannot be 0")
    return _unary(_t(input), AD_U_CELU, a, 0.0)

def clip(x, min=None, max=None):
    """Clamp to [min, max]; gradient 1 inside, 0 outside."""
    cdef Tensor t = _t(x)
    if t.t.dtype > AD_F64 and all(
            v is None or isinstance(v, (int, np.integer)) for v in (min, max)):
        if t.t.dtype == AD_BOOL:
            t = _promote(t, AD_I64)
        if min is not None:
            t = _binary(AD_B_MAXIMUM, t, _scalar_tensor(min, AD_I64))
        if max is not None:
            t = _binary(AD_B_MINIMUM, t, _scalar_tensor(max, AD_I64))
        return t if t is not x else t.clone()
    lo = -np.inf if min is None else float(min)
    hi = np.inf if max is None else float(max)
    return _unary(_t(x), AD_U_CLIP, lo, hi)

clamp = clip

def maximum(a, b):
    a = _t(a)
    return _binary(AD_B_MAXIMUM, a, _operand(b, (<Tensor>a).t.dtype))

def minimum(a, b):
    a = _t(a)
    return _binary(AD_B_MINIMUM, a, _operand(b, (<Tensor>a).t.dtype))

cdef object _fn_binary(ad_binary_kind k, object a, object b, str name):
    """A binary kind of the engine as a module function: a Python scalar,
    list or array on either side takes the other operand's dtype (as for
    x + 2); with no tensor at all, the first operand is converted as any
    argument."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a)
    r = _arith(k, a, b)
    if r is NotImplemented:
        bad = b if isinstance(a, Tensor) else a
        raise TypeError("%s: unsupported operand of type %s; expected a "
                        "Tensor, array or number" % (name, type(bad).__name__))
    return r

def atan2(input, other):
    """The angle of the point (other, input): atan(input / other) in the
    right quadrant, as torch.atan2 (torch.arctan2, numpy's arctan2)."""
    return _fn_binary(AD_B_ATAN2, input, other, "atan2")

arctan2 = atan2

def hypot(input, other):
    """sqrt(input^2 + other^2) without overflow or underflow."""
    return _fn_binary(AD_B_HYPOT, input, other, "hypot")

def fmod(input, other):
    """C's fmod: input - trunc(input / other) * other, with the sign of
    input (torch.fmod)."""
    return _fn_binary(AD_B_FMOD, input, other, "fmod")

cdef object _floor_divide(object a, object b):
    """a // b as torch.floor_divide: exact floor division of integers
    (ZeroDivisionError on a zero divisor), and for floats torch's
    div_floor (the quotient of a - fmod(a, b), corrected toward -inf and
    rounded), IEEE a / b where b == 0; zero gradient, as torch."""
    cdef Tensor ta, tb
    cdef ad_tensor *o
    cdef int code
    if isinstance(a, Tensor):
        ta = <Tensor>a
        if not isinstance(b, Tensor) and not _is_operand(b):
            return NotImplemented
        tb = _operand(b, ta.t.dtype)
    else:
        if not isinstance(b, Tensor):
            return NotImplemented
        tb = <Tensor>b
        if not _is_operand(a):
            return NotImplemented
        ta = _operand(a, tb.t.dtype)
    code = _dtypes.promote(ta.t.dtype, tb.t.dtype)
    if code == AD_BOOL:
        code = AD_I64
    ta = _promote(ta, code)
    tb = _promote(tb, code)
    if code == AD_I64:
        _check(ad_binary(AD_B_DIV, ta.t, tb.t, &o))
        return _wrap(o)
    mod = _binary(AD_B_FMOD, ta, tb)
    div = _binary(AD_B_DIV, _binary(AD_B_SUB, ta, mod), tb)
    zero = _scalar_tensor(0, code)
    fix = logical_and(_compare(AD_C_NE, mod, zero),
                      _compare(AD_C_NE, _compare(AD_C_LT, tb, zero),
                               _compare(AD_C_LT, mod, zero)))
    div = where(fix, _unary(div, AD_U_ADDC, -1.0, 0.0), div)
    fl = _unary(div, AD_U_FLOOR, 0.0, 0.0)
    fl = where(_compare(AD_C_GT, _binary(AD_B_SUB, div, fl),
                        _scalar_tensor(0.5, code)),
               _unary(fl, AD_U_ADDC, 1.0, 0.0), fl)
    q = _binary(AD_B_DIV, ta, tb)
    fl = where(_compare(AD_C_EQ, div, zero),            # zero, signed as a / b
               _unary(q, AD_U_MULC, 0.0, 0.0), fl)
    return where(_compare(AD_C_EQ, tb, zero),
                 _unary(q, AD_U_FLOOR, 0.0, 0.0), fl)

def floor_divide(input, other):
    r = _floor_divide(_t(input), other)
    if r is NotImplemented:
        raise TypeError("floor_divide: unsupported operand of type %s"
                        % type(other).__name__)
    return r

def remainder(input, other):
    """Python's modulus: input - floor(input / other) * other, with the
    sign of other (torch.remainder, the % operator)."""
    return _fn_binary(AD_B_REMAINDER, input, other, "remainder")

def logaddexp(input, other):
    """log(exp(input) + exp(other)), computed stably."""
    return _fn_binary(AD_B_LOGADDEXP, input, other, "logaddexp")

def xlogy(input, other):
    """input * log(other), 0 where input == 0 (even where other is 0),
    NaN where other is NaN, as torch.xlogy."""
    return _fn_binary(AD_B_XLOGY, input, other, "xlogy")

def where(condition, x, y):
    """x where condition is true, else y (numpy broadcasting)."""
    cdef Tensor tx, ty, tc
    cdef ad_tensor *o
    if isinstance(x, Tensor):
        tx = x
        ty = _operand(y, tx.t.dtype)
    elif isinstance(y, Tensor):
        ty = y
        tx = _operand(x, ty.t.dtype)
    else:
        tx = _t(x)
        ty = _operand(y, tx.t.dtype)
    if tx.t.dtype != ty.t.dtype:
        code = _dtypes.promote(tx.t.dtype, ty.t.dtype)
        tx = _promote(tx, code)
        ty = _promote(ty, code)
    if isinstance(condition, Tensor):       # (recorded: replays with it)
        tc = _promote(<Tensor>condition, AD_BOOL)
    else:
        tc = _from_array(np.asarray(condition) != 0, AD_BOOL)
    _check(ad_where(tc.t, tx.t, ty.t, &o))
    return _wrap(o)


# -------------------------------------------------------------- reductions

cpdef object _int_axis(object a):
    """An axis as a Python int; floats, strings, None, bool... are a
    TypeError (int() would truncate 1.5, or raise OverflowError)."""
    if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
        raise TypeError("axis must be an int, got %r" % (a,))
    return int(a)

cpdef uint32_t _axes_mask(int ndim, object axis) except? 0xFFFFFFFF:
    cdef uint32_t mask = 0
    if axis is None:
        return (1u << ndim) - 1u if ndim < 32 else 0xFFFFFFFE
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError("axis must be an int or a tuple of ints, got %r"
                            % (axis,))
        ai = int(a)
        if ai < -ndim or ai >= ndim:
            raise np.exceptions.AxisError(ai, ndim) if hasattr(
                np, "exceptions") else IndexError(
                "axis %d is out of bounds for a tensor of dimension %d"
                % (ai, ndim))
        if ai < 0:
            ai += ndim
        if mask >> ai & 1:
            raise ValueError("duplicate value in 'axis': %r" % (axis,))
        mask |= 1u << ai
    return mask

cdef Tensor _reduce(ad_reduce_kind k, object x, object axis, object keepdims,
                    object dim, object keepdim):
    cdef Tensor t = _t(x)
    cdef ad_tensor *o
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    cdef uint32_t mask = _axes_mask(t.t.ndim, axis)
    if t.t.dtype == AD_BOOL and k != AD_R_MEAN:
        # as torch: the sum of bools is int64, their max and min bool
        r = _reduce(k, _promote(t, AD_I64), axis, keepdims, None, None)
        return r if k == AD_R_SUM or k == AD_R_PROD else _promote(r, AD_BOOL)
    if t.t.dtype == AD_I64 and k == AD_R_MEAN:
        raise RuntimeError("mean(): could not infer output dtype. Input "
                           "dtype must be either a floating point or "
                           "complex dtype. Got: Long")
    _check(ad_reduce(k, t.t, mask, 1 if keepdims else 0, &o))
    return _wrap(o)

cpdef Tensor _reduce_input(object x, object dtype, object out, str name):
    """x as a tensor of dtype (recorded cast) for a reduction; out= (which
    numpy's np.sum(t) passes as None) is not supported."""
    if out is not None:
        raise TypeError("%s: out= is not supported (got %s); autodiff "
                        "returns a new tensor: use y = t.%s(...)"
                        % (name, type(out).__name__, name))
    cdef Tensor t = _t(x)
    if dtype is not None and _dtype_code(dtype) != t.t.dtype:
        t = t.astype(dtype)
    return t

def sum(x, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None,
        out=None):
    return _reduce(AD_R_SUM, _reduce_input(x, dtype, out, "sum"), axis,
                   keepdims, dim, keepdim)

def mean(x, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None,
         out=None):
    return _reduce(AD_R_MEAN, _reduce_input(x, dtype, out, "mean"), axis,
                   keepdims, dim, keepdim)

def amax(x, axis=None, keepdims=False, dim=None, keepdim=None, out=None):
    """Largest value over axis (all by default); the gradient is shared
    evenly among ties (torch.amax, numpy's max)."""
    return _reduce(AD_R_MAX, _reduce_input(x, None, out, "amax"), axis,
                   keepdims, dim, keepdim)

def amin(x, axis=None, keepdims=False, dim=None, keepdim=None, out=None):
    return _reduce(AD_R_MIN, _reduce_input(x, None, out, "amin"), axis,
                   keepdims, dim, keepdim)

return_types = type("return_types", (), {
    "max": collections.namedtuple("max", ["values", "indices"]),
    "min": collections.namedtuple("min", ["values", "indices"]),
})

cdef int _one_dim(Tensor t, object dim) except -1:
    cdef int nd = t.t.ndim if t.t.ndim else 1
    d = _int_axis(dim)
    if d < -nd or d >= nd:
        raise IndexError("Dimension out of range (expected to be in range of "
                         "[%d, %d], but got %d)" % (-nd, nd - 1, d))
    return d + nd if d < 0 else d

def argmax(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The int64 index of the largest entry along dim (of the flattened
    tensor by default): the first on ties, a NaN counting as largest."""
    return _argreduce(AD_A_ARGMAX, x, dim, keepdim, axis, keepdims)

def argmin(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    return _argreduce(AD_A_ARGMIN, x, dim, keepdim, axis, keepdims)

cdef Tensor _argreduce(ad_argreduce_kind k, object x, object dim,
                       object keepdim, object axis, object keepdims):
    cdef Tensor t = _t(x)
    cdef ad_tensor *o
    if t.t.dtype == AD_BOOL:
        raise RuntimeError("%s(): does not support bool input"
                           % ("argmax" if k == AD_A_ARGMAX else "argmin"))
    if dim is None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    cdef int d = -1 if dim is None else _one_dim(t, dim)
    _check(ad_argreduce(k, t.t, d, 1 if keepdim else 0, &o))
    return _wrap(o)

cdef object _max_min(bint is_max, object x, object dim, object keepdim,
                     object axis, object keepdims, object out):
    """torch.max/min: over everything; (values, indices) along an int
    dim; maximum/minimum with a tensor as the second argument.  numpy's
    axis= gives the values alone (np.max(t, axis) calls t.max(axis=))."""
    cdef str name = "max" if is_max else "min"
    cdef Tensor t, idx, iota, fill
    cdef int d, n
    if dim is not None and not isinstance(dim, (int, np.integer, tuple,
                                                list)) or \
            isinstance(dim, list) and dim and not isinstance(
                dim[0], (int, np.integer)):
        if out is not None or axis is not None or keepdims is not None:
            raise TypeError("%s(input, other) takes no other arguments"
                            % name)
        return maximum(x, dim) if is_max else minimum(x, dim)
    kd = keepdim if keepdim is not None else (keepdims or False)
    t = _reduce_input(x, None, out, name)
    if dim is None or isinstance(dim, (tuple, list)):
        return _reduce(AD_R_MAX if is_max else AD_R_MIN, t,
                       dim if dim is not None else axis, kd, None, None)
    if axis is not None:
        raise TypeError("%s() got both dim and axis" % name)
    d = _one_dim(t, dim)
    idx = _argreduce(AD_A_ARGMAX if is_max else AD_A_ARGMIN,
                     _promote(t, AD_I64) if t.t.dtype == AD_BOOL else t, d,
                     kd, None, None)
    rt = return_types.max if is_max else return_types.min
    if t.t.dtype > AD_F64 or t.t.ndim == 0:
        return rt(_reduce(AD_R_MAX if is_max else AD_R_MIN, t, d, kd, None,
                          None), idx)
    # The value at the index, so that the gradient goes to that entry alone
    # (torch's), from recorded ops (a compiled replay recomputes it): the
    # max of x where the position is the index, -inf (+inf) elsewhere.
    n = t.t.shape[d]
    shape = [1] * t.t.ndim
    shape[d] = n
    iota = _from_array(np.arange(n, dtype=np.int64).reshape(shape), AD_I64)
    fill = _scalar_tensor(-np.inf if is_max else np.inf, t.t.dtype)
    pos = idx if kd else _up().expand_dims(idx, d)
    picked = where(_compare(AD_C_EQ, iota, pos), t, fill)
    return rt(_reduce(AD_R_MAX if is_max else AD_R_MIN, picked, d, kd, None,
                      None), idx)

def max(x, dim=None, keepdim=None, *, axis=None, keepdims=None, out=None):
    """torch.max: the largest value (gradient shared among ties, as
    torch); with an int dim, (values, indices) along it, the gradient
    going to the index; with a tensor, maximum(x, other)."""
    return _max_min(True, x, dim, keepdim, axis, keepdims, out)

def min(x, dim=None, keepdim=None, *, axis=None, keepdims=None, out=None):
    return _max_min(False, x, dim, keepdim, axis, keepdims, out)


# ------------------------------------------------------------------ shapes

def reshape(x, shape):
    """A view with a new shape (one entry may be -1); shares memory."""
    cdef Tensor t = _t(x)
    cdef int64_t shp[8]
    cdef ad_tensor *o
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = list(shape)
    neg = [i for i, d in enumerate(shape) if d == -1]
    if len(neg) > 1:
        raise ValueError("can only specify one unknown dimension (-1), got "
                         "shape %r" % (tuple(shape),))
    if neg:
        known = 1
        for i, d in enumerate(shape):
            if i != neg[0]:
                known *= d
        if known == 0 or t.t.size % known:
            raise ValueError("cannot reshape a tensor of shape %s (%d "
                             "elements) into shape %r"
                             % (t.shape, t.t.size, tuple(shape)))
        shape[neg[0]] = t.t.size // known
    cdef int nd = _fill_shape(shape, shp)
    _check(ad_reshape(t.t, nd, shp, &o))
    return _wrap(o)

def _reshape(Tensor t, shape):
    """reshape(t, shape) for a shape of known sizes (no -1): the shape
    helpers of autodiff/_ops.py."""
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef int nd = _fill_shape(shape, shp)
    _check(ad_reshape(t.t, nd, shp, &o))
    return _wrap(o)

def permute(x, dims):
    cdef Tensor t = _t(x)
    cdef int perm[8]
    cdef ad_tensor *o
    dims = tuple(dims)
    if len(dims) != t.t.ndim:
        raise ValueError("permutation %r does not match a tensor of shape %s"
                         % (dims, t.shape))
    for i, d in enumerate(dims):
        d = _int_axis(d)
        if not -t.t.ndim <= d < t.t.ndim:   # before the C int overflows
            raise ValueError("permutation %r is not valid for a tensor of "
                             "shape %s" % (dims, t.shape))
        perm[i] = d + t.t.ndim if d < 0 else d
    _check(ad_permute(t.t, perm, &o))
    return _wrap(o)

def broadcast_to(x, shape):
    cdef Tensor t = _t(x)
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef int nd = _fill_shape(tuple(shape), shp)
    if tuple(shape) == t.shape:
        # nothing to copy: a view sharing the buffer (as torch), not a
        # second handle on the same tensor
        return reshape(t, shape)
    _check(ad_broadcast_to(t.t, nd, shp, &o))
    return _wrap(o)

def concatenate(tensors, axis=0, dim=None):
    """Join tensors along an existing axis."""
    cdef ad_tensor *ptrs[1024]
    cdef ad_tensor *o
    if dim is not None:
        axis = dim
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("need at least one tensor to concatenate")
    if len(ts) > 1024:
        raise ValueError("concatenate takes at most 1024 tensors, got %d"
                         % len(ts))
    if any((<Tensor>x).t.dtype != (<Tensor>ts[0]).t.dtype for x in ts):
        ts = [_promote(x, AD_F64) for x in ts]
    nd = (<Tensor>ts[0]).t.ndim
    if nd == 0:
        raise ValueError("zero-dimensional tensors cannot be concatenated")
    a = _int_axis(axis)
    if a < -nd or a >= nd:
        raise IndexError("axis %d is out of bounds for tensors of dimension "
                         "%d" % (a, nd))
    if a < 0:
        a += nd
    for i, x in enumerate(ts):
        ptrs[i] = (<Tensor>x).t
    _check(ad_concat(len(ts), ptrs, a, &o))
    return _wrap(o)

cat = concatenate


# ------------------------------------- indexing (autodiff/_indexing.py)

def _gather(Tensor x, idx, bint basic):
    """x.flat[idx] shaped like idx (int64, C order): indexing's one op.
    basic: a key torch answers with a view; this copy then refuses
    in-place writes, which would be lost."""
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef const int64_t[::1] iv
    cdef int nd = _fill_shape(idx.shape, shp)
    iv = idx.reshape(-1)
    _check(ad_gather(x.t, &iv[0] if iv.shape[0] else NULL, nd, shp, &o))
    if basic:
        o.flags |= AD_T_COPY_OF_VIEW
    return _wrap(o)

def _take(x, idx, int axis, bint wrap=False):
    """torch.gather(x, axis, idx) as one engine op reading idx (an int64
    tensor) at run time: recorded, so a compiled replay follows new
    indices; differentiable in x.  axis: already non-negative.  wrap:
    negative indices count from the end (x[t]), errors worded as torch's
    indexing."""
    cdef ad_tensor *o
    cdef Tensor tx = _t(x), ti = _index_tensor(idx)
    _check(ad_take(tx.t, ti.t, axis, wrap, &o))
    return _wrap(o)

def _put_add(g, idx, int axis, shape):
    """Zeros of shape with g added at the positions idx names along axis
    (take's transpose; torch.scatter_add into zeros)."""
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef Tensor tg = _t(g), ti = _index_tensor(idx)
    cdef int nd = _fill_shape(tuple(shape), shp)
    _check(ad_put_add(tg.t, ti.t, axis, nd, shp, &o))
    return _wrap(o)

def _prod(x, axis, bint keepdim):
    """The product over axis (None: all; an int or a tuple), one recorded
    reduce of kind prod (bool gives int64, as torch)."""
    return _reduce(AD_R_PROD, x, axis, keepdim, None, None)

def _cumprod(x, int axis, bint reverse):
    """Running products along a (normalised) axis, from the end when
    reverse; one recorded op (torch's cumprod_backward)."""
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    _check(ad_cumprod(t.t, axis, reverse, &o))
    return _wrap(o)

def _cumarg(x, int axis, bint is_max):
    """torch.cummax / cummin's int64 indices along a (normalised) axis (a
    recorded op without gradient, so a compiled replay recomputes them)."""
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    _check(ad_cumarg(t.t, axis, is_max, &o))
    return _wrap(o)

def _argsort(x, int axis, bint descending):
    """The stable sorting permutation along axis (int64; a recorded op
    without gradient, so a compiled replay sorts the new values)."""
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    _check(ad_argsort(t.t, axis, descending, &o))
    return _wrap(o)

# ------------------------------- convolution (autodiff/nn/_conv.py)

def _conv(x, w, b, stride, padding, dilation, int groups, bint transposed,
          output_padding):
    """conv2d / conv_transpose2d as one engine op: x (N, C, H, W), the
    geometry as (h, w) pairs of ints, already checked and normalised by
    the Python layer (nn/_conv.py); b a tensor or None."""
    cdef ad_conv_params p
    cdef ad_tensor *o
    cdef Tensor tx = _t(x), tw = _t(w), tb
    cdef ad_tensor *bp = NULL
    if b is not None:
        tb = _t(b)
        bp = tb.t
    for i in range(2):
        p.stride[i] = stride[i]
        p.pad[i] = padding[i]
        p.dil[i] = dilation[i]
        p.outpad[i] = output_padding[i]
    p.groups = groups
    p.transposed = transposed
    _check(ad_conv(tx.t, tw.t, bp, &p, &o))
    return _wrap(o)

cdef struct _window:
    int k[2]
    int st[2]
    int pad[2]
    int dil[2]

cdef _window _pairs(kernel_size, dilation, padding, stride):
    """unfold's and fold's (h, w) pairs as C ints."""
    cdef _window wd
    for i in range(2):
        wd.k[i] = kernel_size[i]
        wd.st[i] = stride[i]
        wd.pad[i] = padding[i]
        wd.dil[i] = dilation[i]
    return wd

def _unfold(x, kernel_size, dilation, padding, stride):
    """torch.nn.functional.unfold of a 4-D x: (h, w) pairs of ints."""
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    cdef _window wd = _pairs(kernel_size, dilation, padding, stride)
    _check(ad_unfold(t.t, wd.k, wd.st, wd.pad, wd.dil, &o))
    return _wrap(o)

def _fold(x, output_size, kernel_size, dilation, padding, stride):
    """torch.nn.functional.fold of a 3-D x: (h, w) pairs of ints."""
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    cdef _window wd = _pairs(kernel_size, dilation, padding, stride)
    _check(ad_fold(t.t, output_size[0], output_size[1], wd.k, wd.st, wd.pad,
                   wd.dil, &o))
    return _wrap(o)

# ----------------------------------------- pooling (autodiff/_pool.py)

cdef void _pool_params(ad_pool_params *p, kernel, stride, padding, dilation,
                       out, bint adaptive, bint count_include_pad,
                       int64_t divisor):
    for i in range(2):
        p.k[i] = kernel[i]
        p.stride[i] = stride[i]
        p.pad[i] = padding[i]
        p.dil[i] = dilation[i]
        p.out[i] = out[i]
    p.adaptive = adaptive
    p.count_include_pad = count_include_pad
    p.divisor = divisor

def _max_pool(x, kernel, stride, padding, dilation, out, bint adaptive,
              bint indices=False):
    """Each pooling window's maximum of a 4-D x, (N, C, *out) (the max_pool
    op: its backward adds the gradient at each maximum, torch's rule: the
    first, a NaN wins); indices: the flat (ih W + iw) index of each
    maximum instead, int64 (the pool_argmax op, no gradient)."""
    cdef ad_pool_params p
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    _pool_params(&p, kernel, stride, padding, dilation, out, adaptive, 0, 0)
    _check(ad_pool_argmax(t.t, &p, &o) if indices
           else ad_max_pool(t.t, &p, &o))
    return _wrap(o)

def _avg_pool(x, kernel, stride, padding, out, bint adaptive,
              bint count_include_pad, int64_t divisor, bint adjoint=False,
              image=(0, 0)):
    """Window averages of a 4-D x (N, C, *out); adjoint: the transpose,
    x of shape (N, C, *out) spread back over an image of size image."""
    cdef ad_pool_params p
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    _pool_params(&p, kernel, stride, padding, (1, 1), out, adaptive,
                 count_include_pad, divisor)
    _check(ad_avg_pool(t.t, &p, adjoint, image[0], image[1], &o))
    return _wrap(o)

# ----------------------------------- recurrent cells (autodiff/_rnn.py)

def _lstm_cell(gi, gh, c):
    """One LSTM step after its GEMMs (one engine op): gi, gh (B, 4H) the
    input and hidden projections, c (B, H); returns (h', c') packed as
    (B, 2H)."""
    cdef ad_tensor *o
    cdef Tensor ti = _t(gi), th = _t(gh), tc = _t(c)
    _check(ad_lstm_cell(ti.t, th.t, tc.t, &o))
    return _wrap(o)

def _gru_cell(gi, gh, h):
    """One GRU step after its GEMMs (one engine op): gi, gh (B, 3H) the
    input and hidden projections, h (B, H); returns h' (B, H)."""
    cdef ad_tensor *o
    cdef Tensor ti = _t(gi), th = _t(gh), tx = _t(h)
    _check(ad_gru_cell(ti.t, th.t, tx.t, &o))
    return _wrap(o)

# ----------------------------------- interpolation (autodiff/_upsample.py)

def _upsample(x, int kind, bint align_corners, bint one_d, image, out,
              scales, bint adjoint=False):
    """x (N, C, *image) resized to (N, C, *out) (kind 0 nearest, 1
    (bi)linear, 2 nearest-exact; scales: the user's factors, 0 for none);
    adjoint: the transpose, x (N, C, *out) added back into (N, C, *image)."""
    cdef ad_upsample_params p
    cdef ad_tensor *o
    cdef Tensor t = _t(x)
    p.kind = kind
    p.align_corners = align_corners
    p.one_d = one_d
    for i in range(2):
        p.image[i] = image[i]
        p.out[i] = out[i]
        p.scale[i] = scales[i]
    _check(ad_upsample(t.t, &p, adjoint, &o))
    return _wrap(o)

# ----------------------------------- normalization (autodiff/_norm.py)

def _norm(x, w, b, int64_t K, int64_t G, int64_t S, bint rms, double eps):
    """Normalization over rows of K contiguous elements of x (layer,
    group or RMS norm, one engine op): w and b (tensors or None) hold
    G K / S values, element k of row r taking ((r % G) K + k) / S."""
    cdef ad_tensor *o
    cdef Tensor tx = _t(x), tw, tb
    cdef ad_tensor *wp = NULL
    cdef ad_tensor *bp = NULL
    if w is not None:
        tw = _t(w)
        wp = tw.t
    if b is not None:
        tb = _t(b)
        bp = tb.t
    _check(ad_norm(tx.t, wp, bp, K, G, S, rms, eps, &o))
    return _wrap(o)

cdef ad_tensor *_opt_t(x, list keep):
    cdef Tensor t
    if x is None:
        return NULL
    t = _t(x)
    keep.append(t)
    return t.t

def _lstm_seq(xp, h0, c0, w_hh, b_hh, bint reverse):
    """One LSTM direction over a sequence (one engine op): xp (T, B, 4H)
    the input projections, h0, c0 (B, H), w_hh (4H, H), b_hh (4H,) or
    None; returns (h_t, c_t) of every step packed as (T, B, 2H)."""
    cdef ad_tensor *o
    cdef Tensor tx = _t(xp), th = _t(h0), tc = _t(c0), tw = _t(w_hh)
    cdef list keep = []
    cdef ad_tensor *bp = _opt_t(b_hh, keep)
    _check(ad_lstm_seq(tx.t, th.t, tc.t, tw.t, bp, reverse, &o))
    return _wrap(o)

def _gru_seq(xp, h0, w_hh, b_hh, bint reverse):
    """One GRU direction over a sequence (one engine op): xp (T, B, 3H),
    h0 (B, H), w_hh (3H, H), b_hh (3H,) or None; returns h_t of every
    step, (T, B, H)."""
    cdef ad_tensor *o
    cdef Tensor tx = _t(xp), th = _t(h0), tw = _t(w_hh)
    cdef list keep = []
    cdef ad_tensor *bp = _opt_t(b_hh, keep)
    _check(ad_gru_seq(tx.t, th.t, tw.t, bp, reverse, &o))
    return _wrap(o)

def _batch_norm(x, w, b, running_mean, running_var, num_batches_tracked,
                bint training, double momentum, double eps):
    """torch's batch_norm as one engine op: x (N, C, *), the others
    tensors or None; in training the running stats are updated in place
    (momentum 1 / num_batches_tracked when that is given)."""
    cdef ad_tensor *o
    cdef Tensor tx = _t(x)
    cdef list keep = []
    cdef ad_tensor *wp = _opt_t(w, keep)
    cdef ad_tensor *bp = _opt_t(b, keep)
    cdef ad_tensor *mp = _opt_t(running_mean, keep)
    cdef ad_tensor *vp = _opt_t(running_var, keep)
    cdef ad_tensor *np_ = _opt_t(num_batches_tracked, keep)
    _check(ad_batch_norm(tx.t, wp, bp, mp, vp, np_, training, momentum, eps,
                         &o))
    return _wrap(o)

LINALG_KINDS = {"inv": AD_LA_INV, "solve": AD_LA_SOLVE, "det": AD_LA_DET,
                "slogdet": AD_LA_SLOGDET, "cholesky": AD_LA_CHOLESKY,
                "eigh": AD_LA_EIGH, "eigvalsh": AD_LA_EIGVALSH,
                "qr": AD_LA_QR, "svd": AD_LA_SVD, "svdvals": AD_LA_SVDVALS}


def _decomp(str kind, xs, bint upper=False, bint full=False):
    """One LAPACK decomposition (ad.linalg's engine op): kind names an
    AD_LINALG_KINDS entry, xs its input tensors (A, or A and B for
    solve).  Multi-output kinds come back packed along the last axis."""
    cdef ad_tensor *o
    cdef ad_tensor *ins[2]
    cdef Tensor a = <Tensor?>xs[0]
    cdef int n = len(xs)
    if n < 1 or n > 2:
        raise ValueError("linalg: one or two inputs, got %d" % n)
    ins[0] = a.t
    if n == 2:
        ins[1] = (<Tensor?>xs[1]).t
    _check(ad_linalg(<ad_linalg_kind>LINALG_KINDS[kind], n, ins, upper,
                     full, &o))
    return _wrap(o)


cdef Tensor _index_tensor(object idx):
    """An index as an int64 tensor: int64 tensors as they are (recorded
    data), numpy and Python integer data as a constant int64 tensor."""
    if isinstance(idx, Tensor):
        if (<Tensor>idx).t.dtype != AD_I64:
            raise TypeError("index must be an int64 tensor, got %s"
                            % (<Tensor>idx).dtype)
        return <Tensor>idx
    arr = np.asarray(idx)
    if arr.dtype.kind not in "iu":
        raise TypeError("index must be integer data, got dtype %s"
                        % arr.dtype)
    return _from_array(arr, AD_I64)

def _shares_buffer(Tensor t):
    return bool(ad_shares_buffer(t.t))

def _rebind(Tensor self, Tensor new):
    """self takes new's C tensor: a recorded item assignment makes self
    the output of the ops that computed its new value."""
    cdef ad_tensor *old = self.t
    if old.retains_grad:
        new.t.retains_grad = 1
    ad_incref(new.t)
    self.t = new.t
    self._grad = None
    ad_decref(old)

def _copy_into(Tensor dst, Tensor src):
    """dst's buffer takes src's values (a COPY instruction when recorded
    by ad.compile)."""
    _check(ad_copy_data(dst.t, src.t))

def _buffer_view(Tensor t):
    """A writable flat numpy view of t's data, for immediate use only."""
    cdef Py_ssize_t n = t.t.size * _NP_DTYPES[t.t.dtype].itemsize
    mv = PyMemoryView_FromMemory(<char *>ad_data(t.t), n, PyBUF_WRITE)
    return np.frombuffer(mv, dtype=_NP_DTYPES[t.t.dtype])

def _mark_modified(Tensor t):
    """Bump t's version after a write into its buffer."""
    ad_mark_modified(t.t)


# ------------------------------------------------------------ linear algebra

cdef object _matmul2(object a, object b):
    """a @ b when both are 2-D tensors of one dtype whose inner dimensions
    agree (one engine call), else None."""
    cdef ad_tensor *o
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        return None
    cdef Tensor x = <Tensor>a, y = <Tensor>b
    if (x.t.ndim != 2 or y.t.ndim != 2 or x.t.dtype != y.t.dtype or
            x.t.shape[1] != y.t.shape[0]):
        return None
    _check(ad_matmul(x.t, y.t, &o))
    return _wrap(o)

def _matmul2d(a, b):
    return _matmul2(a, b)

cdef object _matmul(object a, object b):
    """a @ b: two matrices straight to the engine, anything else through
    matmul's 1-D and batched shape logic (autodiff/_ops.py)."""
    r = _matmul2(a, b)
    return _up().matmul(a, b) if r is None else r

def _mm(Tensor x, Tensor y):
    """The engine's matmul of two tensors of one dtype: (m, k) @ (k, n),
    or batched (1 or b, m, k) @ (b, k, n)."""
    cdef ad_tensor *o
    _check(ad_matmul(x.t, y.t, &o))
    return _wrap(o)

def linear(x, weight, bias=None):
    """x @ weight.T + bias in one op (torch.nn.functional.linear): weight
    is (out_features, in_features); x may have any leading dimensions."""
    return _linear_op(x, weight, bias, False)

def _linear_relu(x, weight, bias=None):
    """relu(linear(x, weight, bias)) in one record (ad_linear_relu), with
    the two ops' bits: nn.Sequential's Linear then ReLU."""
    return _linear_op(x, weight, bias, True)

cdef object _linear_op(x, weight, bias, bint relu):
    cdef Tensor tx = _t(x)
    cdef Tensor w = _t(weight)
    cdef Tensor b = None if bias is None else _operand(bias, w.t.dtype)
    cdef ad_tensor *o
    if tx.t.dtype != w.t.dtype:
        tx = _promote(tx, AD_F64)
        w = _promote(w, AD_F64)
        if b is not None:
            b = _promote(b, AD_F64)
    if tx.t.ndim == 0:
        raise ValueError("linear: input must have at least one dimension")
    lead = tx.shape[:-1]
    if tx.t.ndim != 2:
        tx = reshape(tx, (int(np.prod(lead)), tx.shape[-1]))
    if relu:
        _check(ad_linear_relu(tx.t, w.t, NULL if b is None else b.t, &o))
    else:
        _check(ad_linear(tx.t, w.t, NULL if b is None else b.t, &o))
    if len(lead) == 1:
        return _wrap(o)
    return reshape(_wrap(o), lead + (w.shape[0],))


# ----------------------------------------------------------------- softmax

cdef int _axis(int ndim, object axis, object dim) except -100:
    if dim is not None:
        axis = dim
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError("axis must be an int, got %r" % (axis,))
    a = int(axis)
    if a < -ndim or a >= ndim:
        raise IndexError("axis %d is out of bounds for a tensor of dimension "
                         "%d" % (a, ndim))
    return a + ndim if a < 0 else a

def cumsum(x, dim=None, *, dtype=None, axis=None):
    """Running sums along dim (torch.cumsum; numpy's axis= also taken);
    with dtype, the input is cast to it first.  int64 and bool give int64
    (wrapping), as torch."""
    cdef Tensor t = _t(x)
    if dim is None and axis is None:
        raise TypeError("cumsum() missing required argument 'dim'")
    if dtype is not None:
        t = t.astype(dtype)
    if t.t.dtype == AD_BOOL:            # as torch: int64 running counts
        t = _promote(t, AD_I64)
    return _cumsum(t, _axis(t.t.ndim if t.t.ndim else 1, axis, dim), False)


def _cumsum(Tensor t, int axis, bint reverse):
    """Running sums along a (normalised) axis, from the end when reverse;
    recorded (the derivative of one is the other)."""
    cdef ad_tensor *o
    _check(ad_cumsum(t.t, axis, reverse, &o))
    return _wrap(o)


def softmax(x, axis=-1, dim=None):
    """e^x / sum(e^x) along axis, stable for large values."""
    cdef Tensor t = _t(x)
    cdef ad_tensor *o
    if t.t.ndim == 0:
        t = reshape(t, (1,))
        return reshape(softmax(t), ())
    _check(ad_softmax(t.t, _axis(t.t.ndim, axis, dim), 0, &o))
    return _wrap(o)

def log_softmax(x, axis=-1, dim=None):
    """x - logsumexp(x) along axis, stable for large values."""
    cdef Tensor t = _t(x)
    cdef ad_tensor *o
    if t.t.ndim == 0:
        t = reshape(t, (1,))
        return reshape(log_softmax(t), ())
    _check(ad_softmax(t.t, _axis(t.t.ndim, axis, dim), 1, &o))
    return _wrap(o)


# ------------------------------------------------------------------ losses

cdef object _reduction(Tensor per, object reduction):
    if reduction == "mean":
        return _reduce(AD_R_MEAN, per, None, False, None, None)
    if reduction == "sum":
        return _reduce(AD_R_SUM, per, None, False, None, None)
    if reduction == "none":
        return per
    raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r"
                     % (reduction,))

cdef object _elementwise_loss(ad_loss_kind k, object input, object target,
                              object reduction, double a=0.0):
    cdef Tensor p = _t(input)
    cdef Tensor t = _operand(target, p.t.dtype)
    cdef ad_tensor *o
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r"
                         % (reduction,))
    if p.t.dtype != t.t.dtype:
        p = _promote(p, AD_F64)
        t = _promote(t, AD_F64)
    _check(ad_loss_a(k, p.t, t.t, a, &o))
    return _reduction(_wrap(o), reduction)

def mse_loss(input, target, reduction="mean"):
    """Mean squared error; input and target must have the same shape."""
    return _elementwise_loss(AD_L_MSE, input, target, reduction)

def l1_loss(input, target, reduction="mean"):
    return _elementwise_loss(AD_L_L1, input, target, reduction)

def binary_cross_entropy(input, target, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)), logs clamped at -100 like torch."""
    return _elementwise_loss(AD_L_BCE, input, target, reduction)

def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """BCE of sigmoid(input), computed stably from the logits."""
    return _elementwise_loss(AD_L_BCE_LOGITS, input, target, reduction)

def _loss_a(str kind, input, target, double a, reduction="mean"):
    """The elementwise loss kind 'huber' (a: delta) or 'smooth_l1' (a:
    beta) of input and target (same shape), then the reduction; the
    argument checks are autodiff/_losses.py's."""
    return _elementwise_loss(AD_L_HUBER if kind == "huber" else
                             AD_L_SMOOTH_L1, input, target, reduction, a)

def _nll(Tensor x, labels, int64_t ignore_index, int from_logits,
         str reduction, Tensor weight=None, double label_smoothing=0.0):
    """The fused NLL (or, from_logits, cross-entropy) op of x (N, C, d1,
    ...) and int64 labels (N, d1, ...): an array checked by
    autodiff/_losses.py, or an int64 tensor (read by the engine, so a
    compiled replay reads its current values); weight None or (C,) of x's
    dtype; label_smoothing torch's."""
    cdef ad_tensor *o
    cdef ad_tensor *w = weight.t if weight is not None else NULL
    cdef const int64_t[::1] lv
    red = (AD_NLL_NONE if reduction == "none" else
           AD_NLL_SUM if reduction == "sum" else AD_NLL_MEAN)
    if isinstance(labels, Tensor):
        _check(ad_nll_full(x.t, NULL, (<Tensor>labels).t, w, ignore_index,
                           from_logits, label_smoothing, red, &o))
        return _wrap(o)
    lv = labels.reshape(-1)
    _check(ad_nll_full(x.t, &lv[0] if lv.shape[0] else NULL, NULL, w,
                       ignore_index, from_logits, label_smoothing, red, &o))
    return _wrap(o)


# ------------- constructors and random (autodiff/_creation.py, _random.py)

def _copy_leaf(Tensor x, object dtype, object requires_grad):
    """A new leaf copy of x (of dtype, or x's), made by the engine: no
    numpy round trip, and replayed with x's new values by ad.compile."""
    cdef ad_tensor *o
    cdef int code = x.t.dtype if dtype is None else _dtype_code(dtype)
    cdef int was = ad_grad_enabled()
    ad_set_grad_enabled(0)
    s = ad_clone(x.t, <ad_dtype>code, &o)
    ad_set_grad_enabled(was)
    _check(s)
    r = _wrap(o)
    if requires_grad:
        r.requires_grad_(True)
    return r

def _full(shape, fill_value, dtype, requires_grad, bint varargs=False):
    """full(): shape an int or a sequence of ints; varargs: zeros' and
    ones' shape argument tuple, (2, 3) or ((2, 3),)."""
    cdef int64_t shp[8]
    cdef ad_tensor *o
    if varargs:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
    elif isinstance(shape, (int, np.integer)):
        shape = (shape,)
    cdef int nd = _fill_shape(tuple(shape), shp)
    cdef int code
    if dtype is None and not varargs and isinstance(fill_value, (
            bool, np.bool_, int, np.integer)):
        # torch.full infers the dtype of the fill value: bool or int64
        code = AD_BOOL if isinstance(fill_value, (bool, np.bool_)) else AD_I64
    else:
        code = _dtype_code(dtype)
    if code == AD_I64:          # exactly, beyond 2**53 too
        t = _from_array(np.full(tuple(shape), fill_value, dtype=np.int64),
                        AD_I64)
    else:
        _check(ad_full(<ad_dtype>code, nd, shp, float(fill_value), &o))
        t = _wrap(o)
    if requires_grad:
        t.requires_grad_(True)
    return t

def _full_like(x, fill_value, dtype, requires_grad):
    """full_like(): x's shape, and x's dtype unless dtype is given."""
    cdef Tensor t = _t(x)
    cdef ad_tensor *o
    cdef int code = t.t.dtype if dtype is None else _dtype_code(dtype)
    _check(ad_full(<ad_dtype>code, t.t.ndim, t.t.shape, float(fill_value),
                   &o))
    r = _wrap(o)
    if requires_grad:
        r.requires_grad_(True)
    return r

def _rng_manual_seed(uint64_t seed):
    ad_manual_seed(seed)

def _rng_state_get():
    """The engine stream's (seed, offset)."""
    cdef uint64_t seed, offset
    ad_get_rng_state(&seed, &offset)
    return seed, offset

def _rng_state_set(uint64_t seed, uint64_t offset):
    ad_set_rng_state(seed, offset)

def _dropout(Tensor t, double p):
    """Dropout with a mask from the engine's stream (0 < p < 1)."""
    cdef ad_tensor *o
    _check(ad_dropout(t.t, p, &o))
    return _wrap(o)


# ---------------------------------------------------------- engine control

def is_grad_enabled():
    return bool(ad_grad_enabled())

def set_grad_enabled(mode):
    ad_set_grad_enabled(1 if mode else 0)

def memory_stats():
    """The engine's pool counters (process-wide) and this thread's tape."""
    cdef ad_memory_stats st
    ad_get_memory_stats(&st)
    return {"bytes_in_use": st.bytes_in_use,
            "bytes_pooled": st.bytes_pooled,
            "allocations": st.allocations,
            "frees": st.frees,
            "tape_records": st.tape_records,
            "tape_live": st.tape_live}

def empty_cache():
    """Return this thread's pooled buffers to the system allocator."""
    ad_pool_trim()

def _set_pool_threads(int n):
    """The engine's thread pool size (n >= 1; autodiff/_threads.py checks
    and also sets the BLAS's)."""
    if n < 1:
        raise ValueError("_set_pool_threads: n must be >= 1, got %d" % n)
    ad_set_num_threads(n)

def _get_pool_threads():
    return ad_get_num_threads()

def _set_flush_denormal(bint on):
    """FTZ/DAZ on this thread (csrc/threads.c: ad_set_flush_denormal);
    whether the cpu has the mode."""
    return bool(ad_set_flush_denormal(on))

def _flush_denormal():
    """Whether this thread flushes subnormals (its MXCSR FTZ/DAZ bits)."""
    return bool(ad_flush_denormal())

def _spin_us():
    """How long (microseconds) an idle pool or crew thread polls for work
    before it sleeps (AUTODIFF_SPIN_US, read once; default 500)."""
    return ad_spin_us()

def _blas_one_thread(int64_t m, int64_t n, int64_t k):
    """Whether this thread's m x n x k product runs on one BLAS thread
    (csrc/threads.c: ad_blas_one_thread)."""
    return bool(ad_blas_one_thread(m, n, k))

def _sgemm_kernel_ok():
    """Whether linear's float32 products run the engine's own kernel on
    this cpu (AVX-512F; csrc/gemm.c: ad_sgemm_packed_ok)."""
    return bool(ad_sgemm_packed_ok())

def _set_blas_threads_seen(int n):
    """The BLAS thread count set_num_threads set, as the engine reads it
    (csrc/threads.c: ad_blas_one_thread)."""
    ad_set_blas_threads(n)

def _set_blas_thread_fns(pairs):
    """Register the BLAS libraries' thread-count setters and getters
    (addresses of OpenBLAS's openblas_set_num_threads and
    openblas_get_num_threads, at most 4 pairs): the convolution's pieces
    run with them at one thread (csrc/threads.c, ad_parallel_for_blas)."""
    cdef ad_blas_set_threads_fn sets[4]
    cdef ad_blas_get_threads_fn gets[4]
    pairs = list(pairs)
    if len(pairs) > 4:
        raise ValueError("_set_blas_thread_fns: at most 4 libraries, got %d"
                         % len(pairs))
    for i, (st, gt) in enumerate(pairs):
        if not st or not gt:
            raise ValueError("_set_blas_thread_fns: a NULL function")
        sets[i] = <ad_blas_set_threads_fn><void *><size_t>st
        gets[i] = <ad_blas_get_threads_fn><void *><size_t>gt
    ad_set_blas_thread_fns(len(pairs), sets, gets)


include "_optim.pxi"
include "_program.pxi"
include "_graph.pxi"
