# Part of autodiff/_engine.pyx (included there: one extension module,
# one per-thread tape and pool). The recorded graph as Python sees it, and custom ops.

# ------------------------------------------- the graph and custom ops
#
# Read by autodiff/autograd.py: the differentiable backward walks the
# records through _node() and re-expresses each op's derivative with
# recorded ops (autodiff/_derivatives.py).


# The op registry, read from C (csrc/registry.c): nothing here lists ops.
OPS = {}                # op name -> code
KINDS = {}              # op name -> {kind name -> code}
NONDIFF_OPS = set()     # ops without a gradient (int64 or bool outputs)
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
        if not ad_op_differentiable(op):
            NONDIFF_OPS.add(name)
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
        elif how == AD_SAVED_LABELS:    # one label per (n, d1, ...)
            sh = inputs[0].shape
            saved = np.empty(sh[:1] + sh[2:], dtype=np.int64)
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
