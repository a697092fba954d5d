# Part of autodiff/_engine.pyx (included there: one extension module,
# one per-thread tape and pool). The Tensor type and conversions.

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

_TYPE_NAMES = ["torch.FloatTensor", "torch.DoubleTensor", "torch.LongTensor",
               "torch.BoolTensor"]


class Size(tuple):
    """torch.Size: the shape as a tuple (``t.size()``)."""

    def __repr__(self):
        return "ad.Size(%r)" % (list(self),)

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


class _SizeAttr(int):
    """Tensor.size: the element count (numpy) that, called, gives the
    shape or one dimension of it (torch)."""

    def __new__(cls, n, shape):
        r = int.__new__(cls, n)
        r._shape = shape
        return r

    def __call__(self, dim=None):
        if dim is None:
            return Size(self._shape)
        nd = len(self._shape)
        d = _int_axis(dim)
        if not -nd <= d < nd:
            raise IndexError("Dimension out of range (expected to be in "
                             "range of [%d, %d], but got %d)"
                             % (-nd, nd - 1, d))
        return self._shape[d]


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
        cdef Tensor src
        if _making:
            return
        if type(self) is Tensor and args and not kwargs:
            # torch's legacy constructor: Tensor([1, 2]) or Tensor(2, 3)
            from autodiff._creation import FloatTensor
            src = FloatTensor(*args)
            ad_incref(src.t)
            self.t = src.t
            return
        raise TypeError(
            "Tensor objects are made by autodiff itself: use "
            "autodiff.tensor(data) (or zeros, ones, ...); a subclass "
            "instance comes from Tensor._make_subclass(cls, data, "
            "require_grad=False)")

    def __init__(self, *args, **kwargs):
        if self.t == NULL:
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
        """The shape, a tuple of ints (numpy's; ``size()`` gives torch's
        ad.Size)."""
        return _shape_of(self.t)

    @property
    def ndim(self):
        """The number of dimensions."""
        return self.t.ndim

    @property
    def size(self):
        """numpy's ``a.size`` (the element count) and torch's ``t.size()``
        (the shape, an ``ad.Size``) and ``t.size(dim)`` at once: an int
        that can be called."""
        return _SizeAttr(self.t.size, _shape_of(self.t))

    def numel(self):
        return self.t.size

    nelement = numel

    def dim(self):
        return self.t.ndim

    def element_size(self):
        return _NP_DTYPES[self.t.dtype].itemsize

    @property
    def device(self):
        """The device: always the CPU, ``device(type='cpu')``."""
        return _device.CPU

    @property
    def is_cuda(self):
        """False: autodiff has no GPU."""
        return False

    @property
    def dtype(self):
        """The dtype, a numpy dtype: float32, float64, int64 or bool."""
        return _NP_DTYPES[self.t.dtype]

    @property
    def is_leaf(self):
        """True for a tensor not made by a recorded op (created by the user,
        or computed without grad); backward() fills only leaves' .grad
        (and those with retain_grad())."""
        return self.t.rec < 0

    @property
    def requires_grad(self):
        """Whether operations on this tensor are recorded for autograd;
        settable on leaves (float dtypes only)."""
        return bool(self.t.requires_grad)

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.t.dtype > AD_F64:
            raise RuntimeError("only Tensors of floating point and complex "
                               "dtype can require gradients (this one is "
                               "%s; convert it with .float() first)"
                               % self.dtype)
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
        """The gradient accumulated by backward() (None before one), of
        this tensor's shape; settable to a tensor of that shape or None."""
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
        """The dimensions reversed (``permute(ndim - 1, ..., 0)``)."""
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

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None,
                   copy=None):
        """A DLPack capsule of a copy of the values (autodiff never shares
        its memory; copy=False raises BufferError)."""
        from autodiff import _interop
        return _interop.dlpack(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self):
        return (1, 0)                   # kDLCPU, device 0

    def __array_function__(self, func, types, args, kwargs):
        """numpy's functions on tensors: sum, mean, max, concatenate,
        where... run the autodiff op; the others get numpy copies
        (autodiff/_interop.py)."""
        from autodiff import _interop
        return _interop.array_function(func, args, kwargs)

    def item(self):
        if ad_capturing():
            _refuse_read("item()")
        if self.t.size != 1:
            raise ValueError("only a tensor with one element can be "
                             "converted to a Python scalar, got shape %s"
                             % (self.shape,))
        if self.t.dtype == AD_F64:
            return (<double *>ad_data(self.t))[0]
        if self.t.dtype == AD_I64:
            return (<int64_t *>ad_data(self.t))[0]
        if self.t.dtype == AD_BOOL:
            return (<uint8_t *>ad_data(self.t))[0] != 0
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

    def to(self, *args, dtype=None, device=None, copy=False,
           non_blocking=False):
        """torch's forms: to(dtype), to(device), to(device, dtype),
        to(other_tensor), keywords dtype=, device=, copy=.  This tensor
        itself when nothing changes (as torch, unless copy=True), else a
        converted copy; the device must be the CPU."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, _device.device)) and not (
                    isinstance(a, str) and a.replace("torch.", "") in
                    _dtypes._NAMES):
                device = a
            elif isinstance(a, int) and not isinstance(a, bool):
                device = a
            else:
                dtype = a
        _device.check_device(device)
        if dtype is None or _dtype_code(dtype) == self.t.dtype:
            return self.clone() if copy else self
        return self.astype(dtype)

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        raise RuntimeError("autodiff runs on the CPU only: there is no CUDA "
                           "device (drop .cuda(), or use .to(device) with "
                           "device='cpu')")

    def type(self, dtype=None):
        """torch's legacy form: without dtype the type name
        ('torch.FloatTensor', ...), with one a converted tensor."""
        if dtype is None:
            return _TYPE_NAMES[self.t.dtype]
        if isinstance(dtype, str) and dtype in _TYPE_NAMES:
            dtype = _NP_DTYPES[_TYPE_NAMES.index(dtype)]
        return self.to(dtype)

    def type_as(self, other):
        return self.to((<Tensor>_t(other)).dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool_)

    def int(self):
        """int64: torch's .int() is int32, which autodiff does not have."""
        return self.to(int64)

    def is_floating_point(self):
        return self.t.dtype <= AD_F64

    # ---- autograd
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's .grad.

        With create_graph=True the backward pass is itself recorded (the
        differentiable rules of autodiff/_derivatives.py), so the .grad
        tensors can be differentiated again; the graph is then retained.
        """
        if getattr(_hook_state, "depth", 0):
            raise RuntimeError("backward() cannot be called inside a custom "
                               "Function's backward; use "
                               "autodiff.autograd.grad there")
        if create_graph:
            from .autograd import _backward_create_graph
            _backward_create_graph(self, grad)
            return
        if _leaf_hooks:
            from ._hooks import backward_with_leaf_hooks
            backward_with_leaf_hooks(self, grad, retain_graph)
            return
        _sweep_backward(self, grad, retain_graph)

    def register_hook(self, hook):
        """Register hook(grad) -> Tensor or None, called with this tensor's
        gradient during backward; a returned tensor replaces the gradient
        (torch.Tensor.register_hook).

        Parameters
        ----------
        hook : callable
            Called as ``hook(grad)``.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.
        """
        from ._hooks import register_tensor_hook
        return register_tensor_hook(self, hook)

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

    def atan2_(self, other):
        return _inplace_arith(self, AD_B_ATAN2, other, "atan2_")

    arctan2_ = atan2_

    def hypot_(self, other):
        return _inplace_arith(self, AD_B_HYPOT, other, "hypot_")

    def fmod_(self, other):
        return _inplace_arith(self, AD_B_FMOD, other, "fmod_")

    def remainder_(self, other):
        return _inplace_arith(self, AD_B_REMAINDER, other, "remainder_")

    def xlogy_(self, other):
        return _inplace_arith(self, AD_B_XLOGY, other, "xlogy_")

    def lerp_(self, end, weight):
        return _inplace_composite(
            self, "lerp_", lambda: _up().ops.lerp(self, end, weight),
            (end, weight))

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return _inplace_composite(
            self, "addcmul_", lambda: _up().ops.addcmul(
                self, tensor1, tensor2, value=value), (tensor1, tensor2))

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return _inplace_composite(
            self, "addcdiv_", lambda: _up().ops.addcdiv(
                self, tensor1, tensor2, value=value), (tensor1, tensor2))

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        return _inplace_composite(
            self, "addmm_", lambda: _up().ops.addmm(
                self, mat1, mat2, beta=beta, alpha=alpha), (mat1, mat2))

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

    def __floordiv__(a, b):
        return _floor_divide(a, b)

    def __rfloordiv__(self, b):
        return _floor_divide(b, self)

    def __ifloordiv__(self, other):
        _check_inplace(self, "__ifloordiv__", other)
        _check_operand_shape(self, other, "__ifloordiv__")
        cdef int was = ad_grad_enabled()
        ad_set_grad_enabled(0)
        try:
            r = _floor_divide(self, other)
        finally:
            ad_set_grad_enabled(was)
        if r is NotImplemented:
            return NotImplemented
        if (<Tensor>r).t.dtype != self.t.dtype:
            raise RuntimeError("result type %s can't be cast to the desired "
                               "output type %s" % (r.dtype, self.dtype))
        return _inplace_store(self, <Tensor>r, "__ifloordiv__")

    def floor_divide(self, other):
        return floor_divide(self, other)

    def __imod__(self, other):
        return _inplace_arith(self, AD_B_REMAINDER, other, "__imod__")

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

    def __mod__(a, b):
        return _arith(AD_B_REMAINDER, a, b)

    def __rmod__(self, b):
        return _arith(AD_B_REMAINDER, b, self)

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

    # Comparisons give bool tensors (masks for where() and indexing).
    def __lt__(self, other):
        return _cmp(AD_C_LT, self, other)

    def __le__(self, other):
        return _cmp(AD_C_LE, self, other)

    def __gt__(self, other):
        return _cmp(AD_C_GT, self, other)

    def __ge__(self, other):
        return _cmp(AD_C_GE, self, other)

    def __eq__(self, other):
        if other is None:
            return False
        return _cmp(AD_C_EQ, self, other)

    def __ne__(self, other):
        if other is None:
            return True
        return _cmp(AD_C_NE, self, other)

    # Bitwise ops of int64 and bool tensors (logical ones of bool).
    def __and__(self, other):
        return _bitwise(AD_W_AND, self, other, "bitwise_and")

    def __or__(self, other):
        return _bitwise(AD_W_OR, self, other, "bitwise_or")

    def __xor__(self, other):
        return _bitwise(AD_W_XOR, self, other, "bitwise_xor")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        return bitwise_not(self)

    def logical_not(self):
        return logical_not(self)

    def logical_and(self, other):
        return logical_and(self, other)

    def logical_or(self, other):
        return logical_or(self, other)

    def logical_xor(self, other):
        return logical_xor(self, other)

    def eq(self, other): return eq(self, other)
    def ne(self, other): return ne(self, other)
    def lt(self, other): return lt(self, other)
    def le(self, other): return le(self, other)
    def gt(self, other): return gt(self, other)
    def ge(self, other): return ge(self, other)

    def isnan(self): return isnan(self)
    def isinf(self): return isinf(self)
    def isfinite(self): return isfinite(self)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

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
    def atan(self): return _unary(self, AD_U_ATAN, 0.0, 0.0)
    def asin(self): return _unary(self, AD_U_ASIN, 0.0, 0.0)
    def acos(self): return _unary(self, AD_U_ACOS, 0.0, 0.0)
    def sinh(self): return _unary(self, AD_U_SINH, 0.0, 0.0)
    def cosh(self): return _unary(self, AD_U_COSH, 0.0, 0.0)
    def asinh(self): return _unary(self, AD_U_ASINH, 0.0, 0.0)
    def acosh(self): return _unary(self, AD_U_ACOSH, 0.0, 0.0)
    def atanh(self): return _unary(self, AD_U_ATANH, 0.0, 0.0)
    def log1p(self): return _unary(self, AD_U_LOG1P, 0.0, 0.0)
    def expm1(self): return _unary(self, AD_U_EXPM1, 0.0, 0.0)
    def log2(self): return _unary(self, AD_U_LOG2, 0.0, 0.0)
    def log10(self): return _unary(self, AD_U_LOG10, 0.0, 0.0)
    def exp2(self): return _unary(self, AD_U_EXP2, 0.0, 0.0)
    def reciprocal(self): return _unary(self, AD_U_RECIPROCAL, 0.0, 0.0)
    def rsqrt(self): return _unary(self, AD_U_RSQRT, 0.0, 0.0)
    def sign(self): return _unary(self, AD_U_SIGN, 0.0, 0.0)
    def floor(self): return _unary(self, AD_U_FLOOR, 0.0, 0.0)
    def ceil(self): return _unary(self, AD_U_CEIL, 0.0, 0.0)
    def trunc(self): return _unary(self, AD_U_TRUNC, 0.0, 0.0)
    def frac(self): return _unary(self, AD_U_FRAC, 0.0, 0.0)

    def round(self, *, decimals=0):
        return round(self, decimals=decimals)

    def leaky_relu(self, negative_slope=0.01):
        return leaky_relu(self, negative_slope)

    def elu(self, alpha=1.0):
        return elu(self, alpha)

    def softplus(self, beta=1.0, threshold=20.0):
        return softplus(self, beta, threshold)

    def cumsum(self, dim=None, *, dtype=None, axis=None):
        return cumsum(self, dim, dtype=dtype, axis=axis)

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

    def atan2(self, other):
        return _fn_binary(AD_B_ATAN2, self, other, "atan2")

    arctan2 = atan2

    def hypot(self, other):
        return _fn_binary(AD_B_HYPOT, self, other, "hypot")

    def fmod(self, other):
        return _fn_binary(AD_B_FMOD, self, other, "fmod")

    def remainder(self, other):
        return _fn_binary(AD_B_REMAINDER, self, other, "remainder")

    def logaddexp(self, other):
        return _fn_binary(AD_B_LOGADDEXP, self, other, "logaddexp")

    def xlogy(self, other):
        return _fn_binary(AD_B_XLOGY, self, other, "xlogy")

    def matmul(self, other):
        return _matmul(self, other)

    # torch's composites of autodiff/_ops.py
    def mm(self, mat2):
        return _up().ops.mm(self, mat2)

    def mv(self, vec):
        return _up().ops.mv(self, vec)

    # torch's method forms of the arithmetic operators
    def add(self, other, *, alpha=1):
        return _up().ops.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return _up().ops.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _up().ops.mul(self, other)

    def div(self, other, *, rounding_mode=None):
        return _up().ops.div(self, other, rounding_mode=rounding_mode)

    def true_divide(self, other):
        return _up().ops.div(self, other)

    def contiguous(self, memory_format=None):
        """self: autodiff tensors are always contiguous."""
        return self

    def view_as(self, other):
        return self.view(other.shape)

    def equal(self, other):
        return _up().ops.equal(self, other)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _up().ops.allclose(self, other, rtol, atol, equal_nan)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _up().ops.isclose(self, other, rtol, atol, equal_nan)

    def bmm(self, mat2):
        return _up().ops.bmm(self, mat2)

    def outer(self, vec2):
        return _up().ops.outer(self, vec2)

    ger = outer

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _up().ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def lerp(self, end, weight):
        return _up().ops.lerp(self, end, weight)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return _up().ops.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return _up().ops.addcdiv(self, tensor1, tensor2, value=value)

    # dtype and out are what np.sum(t), np.mean(t)... pass
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None,
            dtype=None, out=None):
        return sum(self, axis, keepdims, dim, keepdim, dtype, out)

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None,
             dtype=None, out=None):
        return mean(self, axis, keepdims, dim, keepdim, dtype, out)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None,
            out=None):
        return _max_min(True, self, dim, keepdim, axis, keepdims, out)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None,
            out=None):
        return _max_min(False, self, dim, keepdim, axis, keepdims, out)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=False,
             out=None):
        return amax(self, axis, keepdims, dim, keepdim, out)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=False,
             out=None):
        return amin(self, axis, keepdims, dim, keepdim, out)

    def var(self, axis=None, keepdims=False, ddof=None, dim=None,
            keepdim=None, dtype=None, out=None, *, correction=None,
            unbiased=None):
        return _reductions().var(self, axis, keepdims, ddof, dim, keepdim,
                                 dtype, out, correction=correction,
                                 unbiased=unbiased)

    def std(self, axis=None, keepdims=False, ddof=None, dim=None,
            keepdim=None, dtype=None, out=None, *, correction=None,
            unbiased=None):
        return _reductions().std(self, axis, keepdims, ddof, dim, keepdim,
                                 dtype, out, correction=correction,
                                 unbiased=unbiased)

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

    # shape and indexing ops of autodiff/_shape_ops.py (torch's methods)
    def expand(self, *sizes):
        return _shape_ops().expand(self, *sizes)

    def expand_as(self, other):
        return _shape_ops().expand_as(self, other)

    def split(self, split_size, dim=0, *, axis=None):
        return _shape_ops().split(self, split_size, dim, axis=axis)

    def chunk(self, chunks, dim=0, *, axis=None):
        return _shape_ops().chunk(self, chunks, dim, axis=axis)

    def unbind(self, dim=0, *, axis=None):
        return _shape_ops().unbind(self, dim, axis=axis)

    def unflatten(self, dim, sizes):
        return _shape_ops().unflatten(self, dim, sizes)

    def repeat(self, *sizes):
        return _shape_ops().repeat(self, *sizes)

    def tile(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _shape_ops().tile(self, dims)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None,
                          axis=None):
        return _shape_ops().repeat_interleave(
            self, repeats, dim, output_size=output_size, axis=axis)

    def flip(self, *dims):
        return _shape_ops().flip(self, *dims)

    def roll(self, shifts, dims=None):
        return _shape_ops().roll(self, shifts, dims)

    def tril(self, diagonal=0):
        return _shape_ops().tril(self, diagonal)

    def triu(self, diagonal=0):
        return _shape_ops().triu(self, diagonal)

    def diag(self, diagonal=0):
        return _shape_ops().diag(self, diagonal)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return _shape_ops().diagonal(self, offset, dim1, dim2)

    def narrow(self, dim, start, length):
        return _shape_ops().narrow(self, dim, start, length)

    # linear algebra (autodiff/linalg.py)
    def det(self):
        return _linalg().det(self)

    def inverse(self):
        return _linalg().inv(self)

    def trace(self):
        return _linalg().trace(self)

    def slogdet(self):
        return _linalg().slogdet(self)

    def movedim(self, source, destination):
        return _shape_ops().movedim(self, source, destination)

    moveaxis = movedim

    def index_select(self, dim, index):
        return _shape_ops().index_select(self, dim, index)

    def gather(self, dim, index, *, sparse_grad=False):
        return _shape_ops().gather(self, dim, index)

    def take_along_dim(self, indices, dim=None, *, axis=None):
        return _shape_ops().take_along_dim(self, indices, dim, axis=axis)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        return _shape_ops().scatter(self, dim, index, src, value=value,
                                    reduce=reduce)

    def scatter_add(self, dim, index, src):
        return _shape_ops().scatter_add(self, dim, index, src)

    def masked_fill(self, mask, value):
        return _shape_ops().masked_fill(self, mask, value)

    def masked_select(self, mask):
        return _shape_ops().masked_select(self, mask)

    def nonzero(self, *, as_tuple=False):
        return _shape_ops().nonzero(self, as_tuple=as_tuple)


    # reductions and scans of autodiff/_reductions.py (torch's methods)
    def prod(self, dim=None, keepdim=False, *, dtype=None, axis=None,
             keepdims=None, out=None):
        return _reductions().prod(self, dim, keepdim, dtype=dtype, axis=axis,
                                  keepdims=keepdims, out=out)

    def logsumexp(self, dim=None, keepdim=False, *, axis=None,
                  keepdims=None):
        return _reductions().logsumexp(self, dim, keepdim, axis=axis,
                                       keepdims=keepdims)

    def cumprod(self, dim=None, *, dtype=None, axis=None):
        return _reductions().cumprod(self, dim, dtype=dtype, axis=axis)

    def cummax(self, dim=None, *, axis=None):
        return _reductions().cummax(self, dim, axis=axis)

    def cummin(self, dim=None, *, axis=None):
        return _reductions().cummin(self, dim, axis=axis)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return _reductions().norm(self, p, dim, keepdim, dtype)

    def all(self, dim=None, keepdim=False, *, axis=None, keepdims=None,
            out=None):
        _reduce_input(self, None, out, "all")
        return _reductions().all(self, dim, keepdim, axis=axis,
                                 keepdims=keepdims)

    def any(self, dim=None, keepdim=False, *, axis=None, keepdims=None,
            out=None):
        _reduce_input(self, None, out, "any")
        return _reductions().any(self, dim, keepdim, axis=axis,
                                 keepdims=keepdims)

    def count_nonzero(self, dim=None, *, axis=None):
        return _reductions().count_nonzero(self, dim, axis=axis)

    def nansum(self, dim=None, keepdim=False, *, dtype=None, axis=None,
               keepdims=None, out=None):
        return _reductions().nansum(self, dim, keepdim, dtype=dtype,
                                    axis=axis, keepdims=keepdims, out=out)

    def nanmean(self, dim=None, keepdim=False, *, dtype=None, axis=None,
                keepdims=None, out=None):
        return _reductions().nanmean(self, dim, keepdim, dtype=dtype,
                                     axis=axis, keepdims=keepdims, out=out)

    def sort(self, dim=-1, descending=False, stable=False, *, axis=None):
        return _reductions().sort(self, dim, descending, stable, axis=axis)

    def argsort(self, dim=-1, descending=False, stable=False, *, axis=None):
        return _reductions().argsort(self, dim, descending, stable,
                                     axis=axis)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return _reductions().topk(self, k, dim, largest, sorted)

    def median(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _reductions().median(self, dim, keepdim, axis=axis,
                                    keepdims=keepdims)

    def quantile(self, q, dim=None, keepdim=False, *,
                 interpolation="linear"):
        return _reductions().quantile(self, q, dim, keepdim,
                                      interpolation=interpolation)


cdef object _reductions_module = None

cdef object _reductions():
    """autodiff/_reductions.py, imported on first use (it imports this
    module)."""
    global _reductions_module
    if _reductions_module is None:
        from autodiff import _reductions
        _reductions_module = _reductions
    return _reductions_module


cdef object _linalg_module = None


cdef object _linalg():
    """autodiff/linalg.py, imported on first use (it imports this
    module)."""
    global _linalg_module
    if _linalg_module is None:
        from autodiff import linalg
        _linalg_module = linalg
    return _linalg_module


cdef object _shape_ops_module = None

cdef object _shape_ops():
    """autodiff/_shape_ops.py, imported on first use (it imports this
    module)."""
    global _shape_ops_module
    if _shape_ops_module is None:
        from autodiff import _shape_ops
        _shape_ops_module = _shape_ops
    return _shape_ops_module


# ------------------------------------------------------------- conversion

cdef inline bint _is_scalar(object o):
    # the test of _dtypes.is_scalar, inline for the arithmetic fast paths
    t = type(o)
    if t is float or t is int:
        return True
    return isinstance(o, (numbers.Real, np.floating, np.integer)) and \
        not isinstance(o, np.ndarray)

cdef inline bint _is_operand(object o):
    """What an op takes as the other operand of a tensor besides a
    tensor: a number, nested lists or tuples, an array, an ArrayInput."""
    return _is_scalar(o) or isinstance(o, (list, tuple, np.ndarray,
                                           ArrayInput))

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


# id(leaf) -> (weakref, hooks) of leaves with gradient hooks (autodiff._hooks)
_leaf_hooks = {}


def _sweep_backward(Tensor self, grad, retain_graph):
    """The C sweep of backward(): self's gradient into every leaf."""
    cdef Tensor g = None
    cdef ad_tensor *gp = NULL
    cdef ad_status s
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
