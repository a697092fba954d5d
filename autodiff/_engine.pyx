# cython: language_level=3
"""The one boundary between Python and the C engine in csrc/.

Everything here is argument checking, conversion and calls into C: no
numeric loops.  Each C status becomes a Python exception carrying the
engine's message, which names the shapes, dtypes or values involved.
"""
cimport cython
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
from autodiff import _capture, _dtypes

cdef extern from "Python.h" nogil:
    void *PyEval_SaveThread()
    void PyEval_RestoreThread(void *)



# ---------------------------------------------------------------- errors

cdef object NotCompilableError = _capture.NotCompilableError
cdef object ArrayInput = _capture.ArrayInput


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
# The lock hooks are installed but unlocking is decided per kernel size.
# Hooks cannot be used from inside 'with nogil' code: the engine calls
# them only from ops, which this module always calls with the GIL.
ad_set_lock_hooks(<ad_unlock_fn>_unlock, <ad_relock_fn>_relock)


# ------------------------------------------------------------------ dtypes

# The numpy dtypes and the dtype rules are autodiff/_dtypes.py's; its codes
# must be the engine's.
if (_dtypes.F32, _dtypes.F64, _capture.SRC_I64) != (AD_F32, AD_F64,
                                                    AD_SRC_I64):
    raise ImportError("autodiff/_dtypes.py or _capture.py does not match "
                      "the engine's dtype codes")
float32 = _dtypes.float32
float64 = _dtypes.float64
_NP_DTYPES = _dtypes.NP_DTYPES
cdef object _infer_code = _dtypes.infer_code
cdef object _ARGUMENT = _dtypes.ARGUMENT
cdef object _OPERAND = _dtypes.OPERAND

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
    cdef object flatten, getitem, setitem

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
        _upper = u
    return _upper


# ------------------------------------------------------------------ tensor

# Only this module makes Tensor objects (a Tensor whose C pointer is NULL
# would crash every method): __cinit__ refuses unless this flag is set.
cdef bint _making = False

cdef inline Tensor _wrap(ad_tensor *t):
    global _making
    _making = True
    try:
        r = Tensor.__new__(Tensor)
    finally:
        _making = False
    (<Tensor>r).t = t
    return <Tensor>r

cdef inline tuple _shape_of(ad_tensor *t):
    return tuple([t.shape[i] for i in range(t.ndim)])

cdef int _fill_shape(object shape, int64_t *out) except -1:
    cdef int n = len(shape)
    if n > AD_MAX_DIMS:
        raise ValueError("tensors have at most %d dimensions, got shape %r"
                         % (AD_MAX_DIMS, tuple(shape)))
    for i in range(n):
        d = shape[i]
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            raise TypeError("shape entries must be integers, got %r in %r"
                            % (d, tuple(shape)))
        if not -2 ** 63 <= d < 2 ** 63:     # would raise OverflowError
            raise ValueError("shape %r is too large: %d elements do not fit "
                             "in 64 bits" % (tuple(shape), d))
        out[i] = d
    return n

cpdef Tensor _from_array(object arr, int dt):
    """A new leaf holding a copy of a numpy array (any strides or order)."""
    cdef int64_t shp[8]
    cdef ad_tensor *t
    cdef const unsigned char[::1] mv
    npdt = _NP_DTYPES[dt]
    # asarray, not ascontiguousarray: that one turns a 0-d array into 1-d.
    arr = np.asarray(arr, dtype=npdt, order="C")
    cdef int nd = _fill_shape(arr.shape, shp)
    _check(ad_empty(<ad_dtype>dt, nd, shp, &t))
    cdef Tensor r = _wrap(t)
    if t.size:
        mv = arr.reshape(-1).view(np.uint8)
        memcpy(ad_data(t), &mv[0], mv.shape[0])
    return r

cpdef object _as_ndarray(object data):
    """data (not an ArrayInput) as a numpy array, checked to be regular
    and numeric-looking (its dtype is checked by _dtypes.infer_code)."""
    if isinstance(data, Tensor):
        return (<Tensor>data).numpy()
    if isinstance(data, (list, tuple)):
        data = [x.numpy() if isinstance(x, Tensor) else x for x in data]
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError("cannot make a tensor from %s: the data is ragged or "
                        "not numeric" % type(data).__name__)
    return arr

cpdef Tensor _input_tensor(object inp, int code):
    """A tensor of dtype code from an ArrayInput's buffer, which a
    compiled replay reads again at every call."""
    cdef int64_t shp[8]
    cdef ad_tensor *t
    cdef const unsigned char[::1] mv
    cdef int nd = _fill_shape(inp.shape, shp)
    cdef int kind = inp.kind
    _check(ad_empty(<ad_dtype>code, nd, shp, &t))
    r = _wrap(t)
    if t.size:
        mv = inp.buffer.reshape(-1).view(np.uint8)
        _check(ad_fill_from(t, &mv[0], kind))
    return r


@cython.freelist(512)
@cython.no_gc
cdef class Tensor:
    """An n-dimensional float32 or float64 array that records operations.

    Create tensors with :func:`autodiff.tensor` and friends.  Memory is
    always copied in and out: a later change to a numpy array cannot
    change a tensor or a recorded gradient.
    """
    cdef ad_tensor *t
    cdef object _grad
    cdef object __weakref__

    __array_ufunc__ = None      # ndarray + Tensor -> Tensor.__radd__
    __array_priority__ = 1000

    def __cinit__(self, *args, **kwargs):
        if not _making:
            raise TypeError(
                "Tensor objects are made by autodiff itself: use "
                "autodiff.tensor(data) (or zeros, ones, ...); a subclass "
                "instance comes from Tensor._make_subclass(cls, data, "
                "require_grad=False)")

    def __init__(self, *args, **kwargs):
        raise TypeError("use autodiff.tensor(data) to create a Tensor")

    @staticmethod
    def _make_subclass(cls, data, require_grad=False):
        """An instance of the Tensor subclass cls sharing data's memory,
        as a new leaf (torch.Tensor._make_subclass)."""
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise TypeError("_make_subclass: cls must be a subclass of "
                            "Tensor, got %r" % (cls,))
        if not isinstance(data, Tensor):
            raise TypeError("_make_subclass: data must be a Tensor, got %s"
                            % type(data).__name__)
        r = _as_subclass(cls, data.detach())
        r.requires_grad_(bool(require_grad))
        return r

    def __dealloc__(self):
        if self.t != NULL:
            ad_decref(self.t)
            self.t = NULL

    # ---- properties
    @property
    def shape(self):
        return _shape_of(self.t)

    @property
    def ndim(self):
        return self.t.ndim

    @property
    def size(self):
        return self.t.size

    @property
    def dtype(self):
        return _NP_DTYPES[self.t.dtype]

    @property
    def is_leaf(self):
        return self.t.rec < 0

    @property
    def requires_grad(self):
        return bool(self.t.requires_grad)

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if self.t.rec >= 0 and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of "
                               "leaf tensors; use detach() for a tensor "
                               "that does not require grad")
        ad_set_requires_grad(self.t, 1 if requires_grad else 0)
        return self

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward()."""
        if not self.t.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has "
                               "requires_grad=False")
        if self.t.rec >= 0:
            self.t.retains_grad = 1

    @property
    def _retains_grad(self):
        return bool(self.t.retains_grad)

    @property
    def grad(self):
        cdef ad_tensor *g = ad_get_grad(self.t)     # a new reference
        if g == NULL:
            return None
        if self._grad is not None and (<Tensor>self._grad).t == g:
            ad_decref(g)
            return self._grad
        self._grad = _wrap(g)
        return self._grad

    @grad.setter
    def grad(self, value):
        cdef Tensor v
        if value is None:
            _check(ad_set_grad(self.t, NULL))
            self._grad = None
            return
        if not isinstance(value, Tensor):
            value = _up().tensor(value, dtype=self.dtype)
        v = value
        if v is self or v.t == self.t:
            # Tensor objects are not tracked by the cycle collector (no
            # cycle can form through them otherwise), so refuse this one.
            raise ValueError("a tensor cannot be its own grad")
        if v.shape != self.shape or v.t.dtype != self.t.dtype:
            raise ValueError("assigned grad of shape %s and dtype %s does "
                             "not match the tensor's %s %s"
                             % (v.shape, v.dtype, self.shape, self.dtype))
        _check(ad_set_grad(self.t, v.t))
        self._grad = v

    @property
    def data(self):
        """The values as a new leaf that shares this tensor's memory."""
        return self.detach()

    @property
    def T(self):
        return self.permute(*range(self.t.ndim - 1, -1, -1))

    # ---- conversion
    def numpy(self):
        """A copy of the values as a numpy array."""
        cdef unsigned char[::1] mv
        if ad_capturing():
            _refuse_read("numpy()")
        arr = np.empty(_shape_of(self.t), dtype=_NP_DTYPES[self.t.dtype])
        if self.t.size:
            mv = arr.reshape(-1).view(np.uint8)
            memcpy(&mv[0], ad_data(self.t), mv.shape[0])
        return arr

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a Tensor cannot be viewed as a numpy array "
                             "without a copy; use copy=None or True")
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def item(self):
        if ad_capturing():
            _refuse_read("item()")
        if self.t.size != 1:
            raise ValueError("only a tensor with one element can be "
                             "converted to a Python scalar, got shape %s"
                             % (self.shape,))
        if self.t.dtype == AD_F64:
            return (<double *>ad_data(self.t))[0]
        return float((<float *>ad_data(self.t))[0])

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return self.item()

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.t.size != 1:
            raise ValueError("the truth value of a tensor with more than "
                             "one element is ambiguous")
        return bool(self.item())

    def __format__(self, spec):
        """f"{t:.2f}" formats the value of a one-element tensor; other
        tensors accept only an empty spec (their str), as torch."""
        if self.t.size == 1 and (spec or self.t.ndim == 0):
            return format(self.item(), spec)
        if not spec:
            return format(str(self), spec)
        raise TypeError("unsupported format string passed to "
                        "Tensor.__format__ (for a tensor of shape %s; only "
                        "one-element tensors format their value)"
                        % (self.shape,))

    def __len__(self):
        if self.t.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.t.shape[0]

    def __iter__(self):
        if self.t.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.t.shape[0]):
            yield self[i]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.t.dtype == AD_F64:
            extra += ", dtype=float64"
        if self.t.requires_grad:
            extra += ", requires_grad=True"
        return "tensor(%s%s)" % (body, extra)

    def __hash__(self):
        return id(self)

    def __reduce__(self):
        return (_up().tensor, (self.numpy(), self.dtype,
                               bool(self.t.requires_grad)))

    def detach(self):
        cdef ad_tensor *o
        _check(ad_detach(self.t, &o))
        return _wrap(o)

    def clone(self):
        """A copy with its own memory, recorded (gradient passes through)."""
        cdef ad_tensor *o
        _check(ad_clone(self.t, <ad_dtype>self.t.dtype, &o))
        return _wrap(o)

    def astype(self, dtype):
        cdef ad_tensor *o
        _check(ad_cast(self.t, <ad_dtype>_dtype_code(dtype), &o))
        return _wrap(o)

    def to(self, dtype):
        """This tensor itself when it has that dtype already (as torch),
        else a converted copy."""
        if _dtype_code(dtype) == self.t.dtype:
            return self
        return self.astype(dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    # ---- autograd
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad.

        With create_graph=True the backward pass is itself recorded (the
        differentiable rules of autodiff/_derivatives.py), so the .grad
        tensors can be differentiated again; the graph is then retained.
        """
        cdef Tensor g = None
        cdef ad_tensor *gp = NULL
        cdef ad_status s
        if getattr(_hook_state, "depth", 0):
            raise RuntimeError("backward() cannot be called inside a custom "
                               "Function's backward; use "
                               "autodiff.autograd.grad there")
        if create_graph:
            from .autograd import _backward_create_graph
            _backward_create_graph(self, grad)
            return
        if grad is not None:
            g = grad if isinstance(grad, Tensor) else _up().tensor(
                grad, dtype=self.dtype)
            if g.shape != self.shape:
                raise ValueError("grad of shape %s does not match the "
                                 "tensor's shape %s" % (g.shape, self.shape))
            gp = g.t
        with nogil:
            s = ad_backward_sweep(self.t, gp)
        if s == AD_OK and not retain_graph:
            ad_backward_release(self.t)
        _check(s)

    # ---- in place: write into this tensor's own buffer and bump its
    # version, so a graph that saved the old value refuses backward().
    # Under grad mode a tensor that requires grad refuses them, as torch
    # does for leaves (autodiff cannot rebase a recorded graph either).
    def zero_(self):
        _check_inplace(self, "zero_", None)
        _check(ad_fill_(self.t, 0.0))
        return self

    def fill_(self, value):
        _check_inplace(self, "fill_", value)
        _check(ad_fill_(self.t, float(value)))
        return self

    def copy_(self, src):
        """Copy src's values in (broadcast to this shape, cast to this
        dtype)."""
        _check_inplace(self, "copy_", src)
        cdef Tensor s = src if isinstance(src, Tensor) else _up().tensor(
            src, dtype=self.dtype)
        if s.shape != self.shape:
            s = _inplace_operand(self, s, "copy_")
        _check(ad_copy_data(self.t, s.t))
        return self

    def add_(self, other, alpha=1.0):
        """self += alpha * other; other broadcasts to self's shape."""
        _check_inplace(self, "add_", other)
        _check_operand_shape(self, other, "add_")
        cdef Tensor o = other if isinstance(other, Tensor) else _operand(
            other, self.t.dtype)
        if o.shape == self.shape and o.t.dtype == self.t.dtype:
            _check(ad_axpy_(self.t, float(alpha), o.t))
            return self
        if alpha != 1:
            o = _no_grad_arith(AD_B_MUL, o, float(alpha))
        return _inplace_store(self, _no_grad_arith(AD_B_ADD, self, o), "add_")

    def sub_(self, other, alpha=1.0):
        """self -= alpha * other; other broadcasts to self's shape."""
        _check_inplace(self, "sub_", other)
        return self.add_(other, -alpha)

    def mul_(self, other):
        return _inplace_arith(self, AD_B_MUL, other, "mul_")

    def div_(self, other):
        return _inplace_arith(self, AD_B_DIV, other, "div_")

    def pow_(self, exponent):
        return _inplace_arith(self, AD_B_POW, exponent, "pow_")

    def clamp_(self, min=None, max=None):
        """Clamp to [min, max] in place (at least one bound, as torch)."""
        _check_inplace(self, "clamp_", None)
        if min is None and max is None:
            raise RuntimeError("clamp_: At least one of 'min' or 'max' must "
                               "not be None")
        lo = -np.inf if min is None else float(min)
        hi = np.inf if max is None else float(max)
        cdef int was = ad_grad_enabled()
        ad_set_grad_enabled(0)
        try:
            r = _unary(self, AD_U_CLIP, lo, hi)
        finally:
            ad_set_grad_enabled(was)
        return _inplace_store(self, r, "clamp_")

    clip_ = clamp_

    # x += y and friends: Python rebinds x to what these return, which is
    # x itself.  An operand of an unsupported type gives NotImplemented
    # (then TypeError), as for x + y.
    def __iadd__(self, other):
        return _inplace_arith(self, AD_B_ADD, other, "__iadd__")

    def __isub__(self, other):
        return _inplace_arith(self, AD_B_SUB, other, "__isub__")

    def __imul__(self, other):
        return _inplace_arith(self, AD_B_MUL, other, "__imul__")

    def __itruediv__(self, other):
        return _inplace_arith(self, AD_B_DIV, other, "__itruediv__")

    def __ipow__(self, other):
        return _inplace_arith(self, AD_B_POW, other, "__ipow__")

    def __setitem__(self, key, value):
        _up().setitem(self, key, value)

    # ---- arithmetic
    def __add__(a, b):
        return _arith(AD_B_ADD, a, b)

    def __radd__(self, b):
        return _arith(AD_B_ADD, b, self)

    def __sub__(a, b):
        return _arith(AD_B_SUB, a, b)

    def __rsub__(self, b):
        return _arith(AD_B_SUB, b, self)

    def __mul__(a, b):
        return _arith(AD_B_MUL, a, b)

    def __rmul__(self, b):
        return _arith(AD_B_MUL, b, self)

    def __truediv__(a, b):
        return _arith(AD_B_DIV, a, b)

    def __rtruediv__(self, b):
        return _arith(AD_B_DIV, b, self)

    def __pow__(a, b, mod):
        return _arith(AD_B_POW, a, b)

    def __rpow__(self, b, mod):
        return _arith(AD_B_POW, b, self)

    def __matmul__(a, b):
        return _matmul(a, b)

    def __rmatmul__(self, b):
        return _matmul(b, self)

    def __neg__(self):
        return _unary(self, AD_U_NEG, 0.0, 0.0)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary(self, AD_U_ABS, 0.0, 0.0)

    # Comparisons give numpy bool arrays: masks for where() and indexing.
    def __lt__(self, other):
        return self.numpy() < _cmp_value(other)

    def __le__(self, other):
        return self.numpy() <= _cmp_value(other)

    def __gt__(self, other):
        return self.numpy() > _cmp_value(other)

    def __ge__(self, other):
        return self.numpy() >= _cmp_value(other)

    def __eq__(self, other):
        if other is None:
            return False
        return self.numpy() == _cmp_value(other)

    def __ne__(self, other):
        if other is None:
            return True
        return self.numpy() != _cmp_value(other)

    def __getitem__(self, key):
        return _up().getitem(self, key)

    # ---- methods mirroring the module functions
    def exp(self): return _unary(self, AD_U_EXP, 0.0, 0.0)
    def log(self): return _unary(self, AD_U_LOG, 0.0, 0.0)
    def sqrt(self): return _unary(self, AD_U_SQRT, 0.0, 0.0)
    def abs(self): return _unary(self, AD_U_ABS, 0.0, 0.0)
    def sin(self): return _unary(self, AD_U_SIN, 0.0, 0.0)
    def cos(self): return _unary(self, AD_U_COS, 0.0, 0.0)
    def square(self): return _unary(self, AD_U_SQUARE, 0.0, 0.0)
    def neg(self): return _unary(self, AD_U_NEG, 0.0, 0.0)
    def sigmoid(self): return _unary(self, AD_U_SIGMOID, 0.0, 0.0)
    def tanh(self): return _unary(self, AD_U_TANH, 0.0, 0.0)
    def relu(self): return _unary(self, AD_U_RELU, 0.0, 0.0)
    def selu(self): return _unary(self, AD_U_SELU, 0.0, 0.0)
    def gelu(self): return _unary(self, AD_U_GELU, 0.0, 0.0)
    def silu(self): return _unary(self, AD_U_SILU, 0.0, 0.0)
    def erf(self): return _unary(self, AD_U_ERF, 0.0, 0.0)
    def tan(self): return _unary(self, AD_U_TAN, 0.0, 0.0)

    def leaky_relu(self, negative_slope=0.01):
        return leaky_relu(self, negative_slope)

    def elu(self, alpha=1.0):
        return elu(self, alpha)

    def softplus(self, beta=1.0, threshold=20.0):
        return softplus(self, beta, threshold)

    def softmax(self, axis=-1, dim=None):
        return softmax(self, axis, dim)

    def log_softmax(self, axis=-1, dim=None):
        return log_softmax(self, axis, dim)

    def clip(self, min=None, max=None):
        return clip(self, min, max)

    clamp = clip

    def pow(self, exponent):
        return _arith(AD_B_POW, self, exponent)

    def maximum(self, other):
        return maximum(self, other)

    def minimum(self, other):
        return minimum(self, other)

    def matmul(self, other):
        return _matmul(self, other)

    # dtype and out are what np.sum(t), np.mean(t)... pass
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None,
            dtype=None, out=None):
        return sum(self, axis, keepdims, dim, keepdim, dtype, out)

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None,
             dtype=None, out=None):
        return mean(self, axis, keepdims, dim, keepdim, dtype, out)

    def max(self, axis=None, keepdims=False, dim=None, keepdim=None,
            out=None):
        return max(self, axis, keepdims, dim, keepdim, out)

    def min(self, axis=None, keepdims=False, dim=None, keepdim=None,
            out=None):
        return min(self, axis, keepdims, dim, keepdim, out)

    def var(self, axis=None, keepdims=False, ddof=0, dim=None, keepdim=None,
            dtype=None, out=None):
        return _up().var(self, axis, keepdims, ddof, dim, keepdim, dtype,
                         out)

    def std(self, axis=None, keepdims=False, ddof=0, dim=None, keepdim=None,
            dtype=None, out=None):
        return _up().std(self, axis, keepdims, ddof, dim, keepdim, dtype,
                         out)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        return _up().flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return permute(self, dims)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            return permute(self, tuple(axes[0]))
        if len(axes) == 0:
            return permute(self, tuple(range(self.t.ndim - 1, -1, -1)))
        if len(axes) == 2:
            return _up().swapaxes(self, axes[0], axes[1])
        return permute(self, axes)

    def expand_dims(self, axis):
        return _up().expand_dims(self, axis)

    unsqueeze = expand_dims

    def squeeze(self, axis=None, dim=None):
        return _up().squeeze(self, axis if dim is None else dim)

    def broadcast_to(self, shape):
        return broadcast_to(self, shape)


# ------------------------------------------------------------- conversion

cdef object _cmp_value(object other):
    return other.numpy() if isinstance(other, Tensor) else other

cdef inline bint _is_scalar(object o):
    # the test of _dtypes.is_scalar, inline for the arithmetic fast paths
    t = type(o)
    if t is float or t is int:
        return True
    return isinstance(o, (numbers.Real, np.floating, np.integer)) and \
        not isinstance(o, np.ndarray)

cpdef Tensor _operand(object o, int dt):
    """A tensor for the other operand of a tensor of dtype code dt:
    Tensors as they are, anything else of the dtype _dtypes.infer_code
    gives it (numpy float arrays keep theirs, so promotion happens;
    numbers and lists take dt)."""
    if isinstance(o, Tensor):
        return <Tensor>o
    if type(o) is ArrayInput:
        return _input_tensor(o, _infer_code(o, o.probe(), None, _OPERAND,
                                            dt))
    arr = _as_ndarray(o)
    if arr.dtype.kind not in "fbiu":
        raise TypeError("unsupported operand of type %s (dtype %s)"
                        % (type(o).__name__, arr.dtype))
    return _from_array(arr, _infer_code(o, arr, None, _OPERAND, dt))

cdef Tensor _promote(Tensor a, int dt):
    cdef ad_tensor *o
    if a.t.dtype == dt:
        return a
    _check(ad_cast(a.t, <ad_dtype>dt, &o))
    return _wrap(o)


# -------------------------------------------------------------- in place

cdef int _check_inplace(Tensor self, str name, object other) except -1:
    """Refuse an in-place write that would silently not do what it does
    in torch: into a copy that torch would have made a view, or one that
    would cut a recorded graph."""
    if self.t.flags & AD_T_COPY_OF_VIEW:
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
    _check_inplace(self, name, other)
    _check_operand_shape(self, other, name)
    r = _no_grad_arith(k, self, other)
    if r is NotImplemented:
        if name.startswith("__"):
            return NotImplemented
        raise TypeError("%s: unsupported operand of type %s; expected a "
                        "Tensor, array or number" % (name,
                                                     type(other).__name__))
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
    _check(ad_unary(k, x.t, a, b, &o))
    return _wrap(o)

cdef Tensor _binary(ad_binary_kind k, Tensor a, Tensor b):
    cdef ad_tensor *o
    if a.t.dtype != b.t.dtype:
        a = _promote(a, AD_F64)
        b = _promote(b, AD_F64)
    _check(ad_binary(k, a.t, b.t, &o))
    return _wrap(o)

cdef object _arith(ad_binary_kind k, object a, object b):
    """Binary arithmetic with fast paths for a Python scalar operand."""
    cdef Tensor x
    cdef double c
    if type(a) is Tensor and type(b) is Tensor:
        return _binary(k, <Tensor>a, <Tensor>b)
    if isinstance(a, Tensor):
        x = <Tensor>a
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
            if not _is_scalar(b) and not isinstance(b, (list, tuple,
                                                        np.ndarray,
                                                        ArrayInput)):
                return NotImplemented
            b = _operand(b, x.t.dtype)
        return _binary(k, x, <Tensor>b)
    if not isinstance(b, Tensor):
        return NotImplemented
    x = <Tensor>b
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
    if not isinstance(a, (list, tuple, np.ndarray, ArrayInput)) and \
            not _is_scalar(a):
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

def clip(x, min=None, max=None):
    """Clamp to [min, max]; gradient 1 inside, 0 outside."""
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
        tx = _promote(tx, AD_F64)
        ty = _promote(ty, AD_F64)
    cond = condition.numpy() if isinstance(condition, Tensor) else condition
    tc = _from_array(np.asarray(cond) != 0, tx.t.dtype)
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

def max(x, axis=None, keepdims=False, dim=None, keepdim=None, out=None):
    """Largest value; the gradient is shared evenly among ties."""
    return _reduce(AD_R_MAX, _reduce_input(x, None, out, "max"), axis,
                   keepdims, dim, keepdim)

def min(x, axis=None, keepdims=False, dim=None, keepdim=None, out=None):
    return _reduce(AD_R_MIN, _reduce_input(x, None, out, "min"), axis,
                   keepdims, dim, keepdim)

amax = max
amin = min


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
    cdef Py_ssize_t n = t.t.size * (8 if t.t.dtype == AD_F64 else 4)
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
    cdef Tensor tx = _t(x)
    cdef Tensor w = _t(weight)
    cdef Tensor b = None if bias is None else _operand(bias, w.t.dtype)
    cdef ad_tensor *o
    if tx.t.dtype != w.t.dtype:
        tx = _promote(tx, AD_F64)
        w = _promote(w, AD_F64)
        if b is not None:
            b = _promote(b, AD_F64)
    if tx.t.ndim == 2:
        _check(ad_linear(tx.t, w.t, NULL if b is None else b.t, &o))
        return _wrap(o)
    if tx.t.ndim == 0:
        raise ValueError("linear: input must have at least one dimension")
    lead = tx.shape[:-1]
    flat = reshape(tx, (int(np.prod(lead)), tx.shape[-1]))
    _check(ad_linear((<Tensor>flat).t, w.t, NULL if b is None else b.t, &o))
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
                              object reduction):
    cdef Tensor p = _t(input)
    cdef Tensor t = _operand(target, p.t.dtype)
    cdef ad_tensor *o
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r"
                         % (reduction,))
    if p.t.dtype != t.t.dtype:
        p = _promote(p, AD_F64)
        t = _promote(t, AD_F64)
    _check(ad_loss(k, p.t, t.t, &o))
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

def _nll(Tensor x, labels, int64_t ignore_index, int from_logits,
         str reduction):
    """The fused NLL (or, from_logits, cross-entropy) op of x (N, C) and
    int64 labels (N,), checked by autodiff/_losses.py."""
    cdef ad_tensor *o
    cdef const int64_t[::1] lv = labels
    red = (AD_NLL_NONE if reduction == "none" else
           AD_NLL_SUM if reduction == "sum" else AD_NLL_MEAN)
    _check(ad_nll(x.t, &lv[0] if lv.shape[0] else NULL, ignore_index,
                  from_logits, red, &o))
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
        ad_set_requires_grad(o, 1)
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
    _check(ad_full(<ad_dtype>_dtype_code(dtype), nd, shp, float(fill_value),
                   &o))
    t = _wrap(o)
    if requires_grad:
        ad_set_requires_grad(o, 1)
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
        ad_set_requires_grad(o, 1)
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


# -------------------------------------------------------------- optimizers


from libc.stdlib cimport calloc, free

OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP = 0, 1, 2, 3


cdef class FusedUpdate:
    """The C side of an optimizer: fixed arrays of parameter and state
    pointers, updated by one call per step (autodiff.optim uses it)."""
    cdef ad_tensor **params
    cdef ad_tensor **state
    cdef int64_t *steps
    cdef int n
    cdef list _keep
    cdef ad_optim_cfg cfg

    def __cinit__(self, params, state, steps):
        cdef int i
        self.n = len(params)
        if len(state) != 3 * self.n or len(steps) != self.n:
            raise ValueError("need 3 state slots and one step count per "
                             "parameter")
        self.params = <ad_tensor **>calloc(self.n + 1, sizeof(ad_tensor *))
        self.state = <ad_tensor **>calloc(3 * self.n + 1,
                                          sizeof(ad_tensor *))
        self.steps = <int64_t *>calloc(self.n + 1, sizeof(int64_t))
        if not self.params or not self.state or not self.steps:
            raise MemoryError("out of memory building an optimizer")
        self._keep = list(params) + [s for s in state if s is not None]
        # Each pointer holds a reference: the C tensors stay valid even if
        # a Python object later holds another one (x[i] = v on a tensor
        # that does not require grad, with v requiring grad).
        for i in range(self.n):
            if not isinstance(params[i], Tensor):
                raise TypeError("parameter %d is a %s, not a Tensor"
                                % (i, type(params[i]).__name__))
            self.steps[i] = steps[i]
            self.params[i] = (<Tensor>params[i]).t
            ad_incref(self.params[i])
        for i in range(3 * self.n):
            if state[i] is not None:
                if not isinstance(state[i], Tensor):
                    raise TypeError("optimizer state %d is a %s, not a "
                                    "Tensor" % (i, type(state[i]).__name__))
                self.state[i] = (<Tensor>state[i]).t
                ad_incref(self.state[i])

    def __dealloc__(self):
        cdef int i
        if self.params:
            for i in range(self.n):
                if self.params[i]:
                    ad_decref(self.params[i])
        if self.state:
            for i in range(3 * self.n):
                if self.state[i]:
                    ad_decref(self.state[i])
        free(self.params)
        free(self.state)
        free(self.steps)

    def configure(self, int kind, double lr, double weight_decay=0.0,
                  double momentum=0.0, double dampening=0.0,
                  bint nesterov=False, double beta1=0.9, double beta2=0.999,
                  double eps=1e-8, bint amsgrad=False, double alpha=0.99,
                  bint centered=False):
        self.cfg.kind = kind
        self.cfg.lr = lr
        self.cfg.weight_decay = weight_decay
        self.cfg.momentum = momentum
        self.cfg.dampening = dampening
        self.cfg.nesterov = nesterov
        self.cfg.beta1 = beta1
        self.cfg.beta2 = beta2
        self.cfg.eps = eps
        self.cfg.amsgrad = amsgrad
        self.cfg.alpha = alpha
        self.cfg.centered = centered

    def step_counts(self):
        return [self.steps[i] for i in range(self.n)]


def _step_all(list kernels):
    """Run every FusedUpdate's step in one call: no Python bytecode runs
    between the groups, so a KeyboardInterrupt cannot land between two of
    them and leave an optimizer step half-applied."""
    cdef FusedUpdate k
    for obj in kernels:
        k = obj
        if ad_capturing():
            _capture_keep(k)
        _check(ad_optim_step(&k.cfg, k.n, k.params, k.state, k.steps))


def _check_writable(Tensor t, str name):
    """Raise what an in-place write into t by name would raise under
    no_grad (t is a copy that torch would have made a view)."""
    if t.t.flags & AD_T_COPY_OF_VIEW:
        _check_inplace(t, name, None)


def _as_subclass(cls, Tensor src):
    """An instance of the Tensor subclass cls sharing src's tensor (used by
    nn.Parameter)."""
    global _making
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError("_as_subclass: %r is not a Tensor subclass" % (cls,))
    _making = True
    try:
        r = Tensor.__new__(cls)
    finally:
        _making = False
    ad_incref(src.t)
    (<Tensor>r).t = src.t
    return r


# ------------------------------------------------------- compiled programs


import threading as _threading
import warnings as _warnings

_capture_state = _threading.local()

cdef _refuse_read(str what):
    # A value read into Python during a recording would be frozen at its
    # first value, and a replay would silently differ from eager.
    raise NotCompilableError(
        "Tensor.%s reads a tensor's value into Python while ad.compile is "
        "recording; a replay runs no Python, so the value would stay frozen "
        "at this step's. Return the tensor from the compiled function and "
        "read it after the call (comparisons, printing, float(), bool() and "
        "numpy conversions all read values)" % what)

cdef _capture_keep(obj):
    prog = getattr(_capture_state, "program", None)
    if prog is not None:
        (<Program>prog).keep.append(obj)

def is_capturing():
    return bool(ad_capturing())


cdef class Program:
    """A recorded step: begin(), run the Python code once, end(); then
    run() replays it in C with the GIL released."""
    cdef ad_program *p
    cdef public list keep
    cdef bint release_gil

    def __cinit__(self):
        self.p = NULL
        self.keep = []
        self.release_gil = True

    def __dealloc__(self):
        if self.p != NULL:
            ad_program_free(self.p)
            self.p = NULL

    def begin(self):
        if self.p != NULL:
            raise RuntimeError("this program was already recorded")
        _check(ad_capture_begin(&self.p))
        _capture_state.program = self

    def bind_input(self, arr):
        """Register a C-contiguous array whose contents a replay reads
        (an ArrayInput's buffer)."""
        cdef const unsigned char[::1] mv = arr.reshape(-1).view(np.uint8)
        if self.p == NULL:
            raise RuntimeError("bind_input() before begin()")
        self.keep.append(arr)
        if mv.shape[0]:
            _check(ad_capture_input(self.p, &mv[0], mv.shape[0]))

    def end(self):
        if self.p == NULL:
            raise RuntimeError("end() before begin()")
        _capture_state.program = None
        _check(ad_capture_end(self.p))
        # Dropping and retaking the GIL costs more than a tiny program.
        self.release_gil = ad_program_work(self.p) > 4096

    def abort(self):
        # Safe after a failed begin(): only our own registration is cleared
        # (ad_program_free ends the capture only if it is ours, too).
        if getattr(_capture_state, "program", None) is self:
            _capture_state.program = None
        if self.p != NULL:
            ad_program_free(self.p)
            self.p = NULL

    def run(self):
        """Replay; False (nothing ran) when the program is stale and must
        be recorded again."""
        cdef ad_status s
        if self.p == NULL:
            raise RuntimeError("nothing was recorded")
        if self.release_gil:
            with nogil:
                s = ad_program_run(self.p)
        else:
            s = ad_program_run(self.p)
        if s == AD_RERECORD:
            return False
        _check(s)
        return True

    def size(self):
        cdef int64_t recs = 0
        if self.p == NULL:
            raise RuntimeError("nothing was recorded")
        n = ad_program_size(self.p, &recs)
        return {"instructions": n, "records": recs}


# ----------------------------------------- the compiled call's fast path
#
# A CompiledFunction (compile.py) hands each recording a _Binder: per
# positional argument, what the recording was made with.  A call whose
# arguments match the last recording used is checked and bound here, in
# C-level code: identity through weak references, array shapes and
# formats through the buffer protocol, data by memcpy into the recorded
# inputs, then the replay.  Everything else takes compile.py's general
# path (which records again when needed).

cdef enum:
    _B_OBJECT = 0       # identity (weakref)
    _B_CONST = 1        # equal value of the same type
    _B_ARRAY = 2        # ndarray copied into an ArrayInput's buffer
    _B_TENSOR = 3       # Tensor (no grad) copied into a placeholder

B_OBJECT, B_CONST, B_ARRAY, B_TENSOR = (_B_OBJECT, _B_CONST, _B_ARRAY,
                                        _B_TENSOR)

@cython.auto_pickle(False)
cdef class _Binder:
    cdef Program program
    cdef list kinds, refs, shapes, formats, dsts
    cdef Py_ssize_t nargs
    cdef public object result
    cdef public bint needs_copy_back

    def __init__(self, Program program, specs, result):
        """specs: per positional argument (kind, value, placeholder)."""
        cdef Py_buffer view
        self.program = program
        self.result = result
        self.nargs = len(specs)
        self.kinds, self.refs, self.shapes = [], [], []
        self.formats, self.dsts = [], []
        self.needs_copy_back = False
        for kind, value, ph in specs:
            self.kinds.append(kind)
            self.refs.append(value)
            if kind == _B_ARRAY:
                self.shapes.append(tuple(value.shape))
                # the format the caller's arrays come in; a replay memcpys
                # only when it is the buffer's own (else: general path)
                fmt = None
                if value.dtype == ph.buffer.dtype:
                    PyObject_GetBuffer(ph.buffer, &view,
                                       PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
                    fmt = (<bytes>view.format)
                    PyBuffer_Release(&view)
                self.formats.append(fmt)
                self.dsts.append(ph.buffer)
            elif kind == _B_TENSOR:
                self.shapes.append(None)
                self.formats.append(None)
                self.dsts.append(ph)
                self.needs_copy_back = True
            else:
                self.shapes.append(None)
                self.formats.append(None)
                self.dsts.append(None)

    cdef int bind(self, tuple args) except -1:
        """1: bound; 0: these arguments need the general path."""
        cdef Py_ssize_t i
        cdef int kind
        cdef Py_buffer view, dview
        cdef Tensor src, dst
        cdef object a
        if len(args) != self.nargs:
            return 0
        for i in range(self.nargs):
            a = args[i]
            kind = self.kinds[i]
            if kind == _B_OBJECT:
                if (<object>self.refs[i])() is not a:
                    return 0
            elif kind == _B_CONST:
                v = self.refs[i]
                if type(a) is not type(v) or not (a == v):
                    return 0
            elif kind == _B_ARRAY:
                if type(a) is not np.ndarray or self.formats[i] is None:
                    return 0
                try:                    # not C-contiguous: general path
                    PyObject_GetBuffer(a, &view, PyBUF_C_CONTIGUOUS |
                                       PyBUF_FORMAT)
                except (BufferError, ValueError):
                    return 0
                try:
                    if (strcmp(view.format, <bytes>self.formats[i]) != 0 or
                            a.shape != self.shapes[i]):
                        return 0
                    PyObject_GetBuffer(self.dsts[i], &dview,
                                       PyBUF_C_CONTIGUOUS)
                    if dview.len == view.len and view.len:
                        memcpy(dview.buf, view.buf, view.len)
                    PyBuffer_Release(&dview)
                finally:
                    PyBuffer_Release(&view)
            else:                       # _B_TENSOR
                if not isinstance(a, Tensor):
                    return 0
                src = <Tensor>a
                dst = <Tensor>self.dsts[i]
                if (src.t.requires_grad or src.t.dtype != dst.t.dtype or
                        src.t.size != dst.t.size or
                        _shape_of(src.t) != _shape_of(dst.t)):
                    return 0
                _check(ad_copy_data(dst.t, src.t))
        return 1


@cython.auto_pickle(False)
cdef class _FastCall:
    """Base of CompiledFunction: the call's fast path (see _Binder).

    One call at a time: binding the inputs, the replay and copying back
    all use the recording's placeholders, so a call from a second thread
    while one runs raises (the owner is set and checked with the GIL
    held; the same thread may enter again -- a call inlined into a
    recording, or after an interrupted call)."""
    cdef public _Binder last
    cdef unsigned long owner

    def __call__(self, *args, **kwargs):
        cdef unsigned long me = PyThread_get_thread_ident()
        cdef unsigned long prev = self.owner
        if prev != 0 and prev != me:
            raise RuntimeError("this compiled function is already running "
                               "on another thread; a compiled function "
                               "serves one call at a time (compile one per "
                               "thread)")
        self.owner = me
        try:
            return self._call(args, kwargs)
        finally:
            self.owner = prev

    cdef object _call(self, tuple args, dict kwargs):
        cdef _Binder b = self.last
        cdef ad_status s
        if (b is not None and not kwargs and not ad_capturing() and
                b.bind(args)):
            if b.needs_copy_back:
                return self._general(args, kwargs)
            if b.program.release_gil:
                with nogil:
                    s = ad_program_run(b.program.p)
            else:
                s = ad_program_run(b.program.p)
            if s == AD_OK:
                return b.result
            if s != AD_RERECORD:
                _check(s)
        return self._general(args, kwargs)


def _write_into(Tensor t, arr):
    """Copy a numpy array's values into t's buffer (same size and dtype)."""
    cdef const unsigned char[::1] mv
    a = np.ascontiguousarray(arr, dtype=_NP_DTYPES[t.t.dtype])
    if a.size != t.t.size:
        raise ValueError("expected %d values for a tensor of shape %s, got "
                         "an array of shape %s" % (t.t.size, t.shape,
                                                   a.shape))
    if t.t.size:
        mv = a.reshape(-1).view(np.uint8)
        memcpy(ad_data(t.t), &mv[0], mv.shape[0])
    ad_mark_modified(t.t)


def _zero_grads(params, bint set_to_none):
    """Clear (None) or zero the grads of params (Module and Optimizer)."""
    cdef Tensor t
    for p in params:
        if set_to_none:
            p.grad = None
        else:
            t = p
            _check(ad_zero_grad(t.t))


def _bump_epoch():
    """Invalidate every compiled recording (state they baked in changed:
    a module attribute, an optimizer's parameter groups or state)."""
    ad_bump_epoch()


# ------------------------------------------- the graph and custom ops
#
# Read by autodiff/autograd.py: the differentiable backward walks the
# records through _node() and re-expresses each op's derivative with
# recorded ops (autodiff/_derivatives.py).


# The op registry, read from C (csrc/registry.c): nothing here lists ops.
OPS = {}                # op name -> code
KINDS = {}              # op name -> {kind name -> code}
_OP_NAMES = []
_KIND_NAMES = []        # per op code: kind names by code
_KIND_PARAMS = []       # per op code: per kind, the names of a and b
_ATTRS = []             # per op code: ((name, type, offset), ...)


cdef str _cstr(const char *s):
    return s.decode() if s != NULL else ""


cdef _read_registry():
    cdef int op, k, i
    cdef const ad_attrdef *at
    for op in range(ad_op_count()):
        name = _cstr(ad_op_name(op))
        OPS[name] = op
        _OP_NAMES.append(name)
        _KIND_NAMES.append(tuple([_cstr(ad_kind_name(op, k))
                                  for k in range(ad_op_kinds(op))]))
        _KIND_PARAMS.append(tuple([(_cstr(ad_kind_param(op, k, 0)),
                                    _cstr(ad_kind_param(op, k, 1)))
                                   for k in range(ad_op_kinds(op))]))
        if _KIND_NAMES[op]:
            KINDS[name] = {n: k for k, n in enumerate(_KIND_NAMES[op])}
        attrs = []
        for i in range(ad_op_nattrs(op)):
            at = ad_op_attr(op, i)
            attrs.append((_cstr(at.name), at.type, at.offset))
        _ATTRS.append(tuple(attrs))


_read_registry()
UNARY = KINDS["unary"]
BINARY = KINDS["binary"]
REDUCE = KINDS["reduce"]
LOSS = KINDS["loss"]
NLL_REDUCTIONS = {"none": AD_NLL_NONE, "mean": AD_NLL_MEAN,
                  "sum": AD_NLL_SUM}


class Node(tuple):
    """A record of the graph, as the differentiable backward reads it:
    the op's name, its kind's name (None for an op without kinds), the
    input tensors, the attributes by name (``node.attrs.axis``), what the
    record saved (a numpy array, or None) and a custom op's context."""
    __slots__ = ()
    _fields = ("op", "kind", "inputs", "attrs", "saved", "ctx")

    def __new__(cls, op, kind, inputs, attrs, saved, ctx):
        return tuple.__new__(cls, (op, kind, inputs, attrs, saved, ctx))

    op = property(lambda self: self[0])
    kind = property(lambda self: self[1])
    inputs = property(lambda self: self[2])
    attrs = property(lambda self: self[3])
    saved = property(lambda self: self[4])
    ctx = property(lambda self: self[5])

    def __repr__(self):
        return "Node(op=%r, kind=%r, attrs=%r, %d inputs)" % (
            self[0], self[1], self[3], len(self[2]))


class Attrs:
    """An op record's attributes by name (see ad_attrs in autodiff.h)."""
    __slots__ = ("__dict__",)

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __getattr__(self, name):
        raise AttributeError("this op has no attribute %r (it has: %s)" % (
            name, ", ".join(sorted(self.__dict__)) or "none"))

    def __eq__(self, other):
        return isinstance(other, Attrs) and self.__dict__ == other.__dict__

    def __repr__(self):
        return "Attrs(%s)" % ", ".join(
            "%s=%r" % kv for kv in sorted(self.__dict__.items()))


cdef object _attrs(int op, int kind, const char *raw, int ndim):
    cdef dict d = {}
    cdef const int32_t *dims
    cdef int typ, off
    for name, typ, off in _ATTRS[op]:
        if typ == AD_ATTR_F64:
            d[name] = (<const double *>(raw + off))[0]
        elif typ == AD_ATTR_I64:
            d[name] = (<const int64_t *>(raw + off))[0]
        elif typ == AD_ATTR_I32:
            d[name] = (<const int32_t *>(raw + off))[0]
        elif typ == AD_ATTR_U32:
            d[name] = (<const uint32_t *>(raw + off))[0]
        else:                                   # AD_ATTR_DIMS
            dims = <const int32_t *>(raw + off)
            d[name] = tuple([dims[i] for i in range(ndim)])
    if _KIND_PARAMS[op]:                        # unary: a and b by name too
        for i, pname in enumerate(_KIND_PARAMS[op][kind]):
            if pname:
                d[pname] = d["ab"[i]]
    return Attrs(**d)


def _node_key(Tensor t):
    """An identity for t's C tensor, shared by every Python handle."""
    return <size_t>t.t


def _version(Tensor t):
    return ad_version(t.t)


def _node(Tensor t):
    """The record that made t as a Node, or None for a leaf."""
    cdef ad_node_info info
    cdef ad_tensor *x
    _check(ad_node(t.t, &info))
    if info.op < 0:
        return None
    inputs = []
    for i in range(info.nin):
        x = ad_node_input(t.t, i)
        ad_incref(x)
        inputs.append(_wrap(x))
    saved = None
    cdef int how = ad_op_saved(info.op)
    if info.saved != NULL:
        if how == AD_SAVED_LIKE_OUT:
            saved = np.empty(_shape_of(t.t), dtype=_NP_DTYPES[t.t.dtype])
        elif how == AD_SAVED_IDX_OUT:
            saved = np.empty(t.t.size, dtype=np.int64)
        elif how == AD_SAVED_IDX_IN:
            saved = np.empty(inputs[0].size, dtype=np.int64)
        elif how == AD_SAVED_LABELS:            # one label per row
            saved = np.empty(inputs[0].shape[0], dtype=np.int64)
        if saved is not None and saved.size:
            memcpy(<void *><size_t>saved.ctypes.data, info.saved,
                   saved.nbytes)
    ctx = None
    if info.ext != NULL:
        ctx = <object>info.ext
    names = _KIND_NAMES[info.op]
    return Node(_OP_NAMES[info.op], names[info.kind] if names else None,
                inputs, _attrs(info.op, info.kind, <const char *>&info.attrs,
                               t.t.ndim),
                saved, ctx)


def _alias(Tensor x):
    """A recorded identity of x (a reshape to its own shape): a node of
    its own, so a gradient taken with respect to it counts only the paths
    through it."""
    cdef ad_tensor *o
    _check(ad_reshape(x.t, x.t.ndim, x.t.shape, &o))
    return _wrap(o)


def _scatter_add(g, idx, shape):
    """zeros(shape) with zeros.flat[idx[i]] += g.flat[i] (recorded; its
    derivative is the gather with the same indices)."""
    cdef Tensor gt = _t(g)
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef int nd = _fill_shape(tuple(shape), shp)
    cdef const int64_t[::1] iv = np.ascontiguousarray(idx, dtype=np.int64)
    if iv.shape[0] != gt.t.size:
        raise ValueError("scatter_add: %d indices for %d values"
                         % (iv.shape[0], gt.t.size))
    _check(ad_scatter_add(gt.t, &iv[0] if iv.shape[0] else NULL, nd, shp,
                          &o))
    return _wrap(o)


def _gather_flat(x, idx, shape):
    """out.flat[i] = x.flat[idx[i]], out of the given shape (recorded)."""
    cdef Tensor xt = _t(x)
    cdef int64_t shp[8]
    cdef ad_tensor *o
    cdef int nd = _fill_shape(tuple(shape), shp)
    cdef const int64_t[::1] iv = np.ascontiguousarray(idx, dtype=np.int64)
    _check(ad_gather(xt.t, &iv[0] if iv.shape[0] else NULL, nd, shp, &o))
    return _wrap(o)


cdef ad_status _custom_backward(void *ctx, ad_tensor *gout, int nin,
                                ad_tensor **gin) noexcept with gil:
    # Runs inside backward() (the engine has swapped in a scratch tape, so
    # ops the user enables recording for never touch the swept one); grad
    # mode starts off, as in PyTorch; park any exception for _raise.
    cdef int was = ad_grad_enabled()
    cdef Tensor gi
    ad_set_grad_enabled(0)
    _hook_state.depth = getattr(_hook_state, "depth", 0) + 1
    try:
        ad_incref(gout)
        grads = (<object>ctx)._backward(_wrap(gout))
        if len(grads) != nin:
            raise RuntimeError("custom backward produced %d gradients for "
                               "%d inputs" % (len(grads), nin))
        for i in range(nin):
            if grads[i] is not None:
                gi = grads[i]
                ad_incref(gi.t)
                gin[i] = gi.t
        return AD_OK
    except BaseException as e:
        _hook_state.exc = e
        return AD_ERR_STATE
    finally:
        _hook_state.depth -= 1
        ad_set_grad_enabled(was)


cdef void _custom_release(void *ctx) noexcept with gil:
    Py_DECREF(<object>ctx)


ad_set_custom_hooks(_custom_backward, _custom_release)


def _custom(inputs, Tensor y, ctx):
    """Record y (computed without recording) as the output of a custom op
    on the Tensors in inputs; ctx._backward(grad) gives their gradients."""
    cdef int n = len(inputs)
    cdef ad_tensor *stack[8]
    cdef ad_tensor **xs = stack
    cdef ad_tensor *o
    cdef Tensor x
    keep = []
    if n > 8:
        keep = np.empty(n, dtype=np.uintp)
        xs = <ad_tensor **><size_t>keep.ctypes.data
    for i in range(n):
        x = inputs[i]
        xs[i] = x.t
    Py_INCREF(ctx)                  # owned by the record from here on
    _check(ad_custom(n, xs, y.t, <void *>ctx, &o))
    return _wrap(o)


def _in_custom_backward():
    """Is a custom Function's backward running on this thread?"""
    return getattr(_hook_state, "depth", 0) > 0
