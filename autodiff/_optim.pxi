# Part of autodiff/_engine.pyx (included there: one extension module,
# one per-thread tape and pool). The C side of the optimizers.

# -------------------------------------------------------------- optimizers


from libc.stdlib cimport calloc, free

OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP = 0, 1, 2, 3
OPT_ADAGRAD, OPT_ADADELTA, OPT_ADAMAX, OPT_NADAM, OPT_RADAM = 4, 5, 6, 7, 8
OPT_CLIP_NORM, OPT_CLIP_VALUE = 9, 10


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
        if self.cfg.total:
            ad_decref(self.cfg.total)
        free(self.params)
        free(self.state)
        free(self.steps)

    def configure(self, int kind, double lr, double weight_decay=0.0,
                  double momentum=0.0, double dampening=0.0,
                  bint nesterov=False, double beta1=0.9, double beta2=0.999,
                  double eps=1e-8, bint amsgrad=False, double alpha=0.99,
                  bint centered=False, bint maximize=False,
                  double lr_decay=0.0, double rho=0.9,
                  double momentum_decay=4e-3, bint decoupled=False,
                  double clip=0.0, double norm_type=2.0,
                  bint error_if_nonfinite=False, Tensor total=None):
        """Set the hyperparameters the next step (and every replay of a
        compiled step) reads; kind is one of the OPT_* constants (the
        clipping kinds change the grads: clip is max_norm or the clip
        value, total receives the total norm)."""
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
        self.cfg.maximize = maximize
        self.cfg.lr_decay = lr_decay
        self.cfg.rho = rho
        self.cfg.momentum_decay = momentum_decay
        self.cfg.decoupled = decoupled
        self.cfg.clip = clip
        self.cfg.norm_type = norm_type
        self.cfg.error_if_nonfinite = error_if_nonfinite
        if total is not None:
            ad_incref(total.t)
        if self.cfg.total:
            ad_decref(self.cfg.total)
        self.cfg.total = total.t if total is not None else NULL

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


cdef _grads_copy(bint pack, list params, object buf, double scale):
    # the C pointers of params, then one C call on buf's memory
    cdef Py_buffer view
    cdef int i, n = len(params)
    cdef int dt
    cdef ad_tensor **ps
    if not isinstance(buf, np.ndarray) or buf.dtype not in (np.float32,
                                                            np.float64):
        raise TypeError("the gradient buffer must be a float32 or float64 "
                        "numpy array, not %r" % (buf,))
    dt = AD_F64 if buf.dtype == np.float64 else AD_F32
    for i in range(n):
        if not isinstance(params[i], Tensor):
            raise TypeError("parameter %d is a %s, not a Tensor"
                            % (i, type(params[i]).__name__))
    PyObject_GetBuffer(buf, &view, PyBUF_C_CONTIGUOUS |
                       (PyBUF_WRITE if pack else 0))
    ps = <ad_tensor **>calloc(n + 1, sizeof(ad_tensor *))
    if not ps:
        PyBuffer_Release(&view)
        raise MemoryError("out of memory packing gradients")
    try:
        for i in range(n):
            ps[i] = (<Tensor>params[i]).t
        if pack:
            _check(ad_grads_pack(n, ps, dt, view.buf, buf.size, scale))
        else:
            _check(ad_grads_unpack(n, ps, dt, view.buf, buf.size, scale))
    finally:
        free(ps)
        PyBuffer_Release(&view)


def _pack_grads(list params, object buf, double scale):
    """Write scale * each parameter's grad (zeros without one) into the
    flat numpy array buf, one after the other, then one flag per parameter
    (1.0: it has a grad); in C without the GIL (autodiff.distributed)."""
    _grads_copy(True, params, buf, scale)


def _unpack_grads(list params, object buf, double scale):
    """Set each existing grad to scale * its segment of buf (the layout of
    _pack_grads), in place, in C without the GIL."""
    _grads_copy(False, params, buf, scale)


cdef class _Watch:
    """The engine's watch over gradient buckets (autodiff.distributed's
    overlap=True): buckets is a list of lists of leaf tensors (one dtype
    each, float32 or float64), in the order the communication thread
    reduces them.  The backward sweep on the thread that armed it packs
    each finished bucket into its buffer (buffer(b): the ad_grads_pack
    layout, then the weight and a failure flag) and posts it; take(b)
    waits for bucket b without the GIL."""
    cdef ad_watch *w
    cdef ad_mailbox *mb
    cdef readonly int nbuckets
    cdef list _bufs

    def __cinit__(self, list buckets):
        cdef int nb = len(buckets), n = 0, b, k
        cdef int *start = NULL
        cdef ad_tensor **ps = NULL
        cdef int64_t ln
        cdef void *p
        flat = [t for bk in buckets for t in bk]
        n = len(flat)
        for t in flat:
            if not isinstance(t, Tensor):
                raise TypeError("a watch holds Tensors, not %s"
                                % type(t).__name__)
        start = <int *>calloc(nb + 1, sizeof(int))
        ps = <ad_tensor **>calloc(n + 1, sizeof(ad_tensor *))
        self.mb = ad_mailbox_new(nb)
        try:
            if not start or not ps or not self.mb:
                raise MemoryError("out of memory making a watch")
            k = 0
            for b in range(nb):
                start[b] = k
                k += len(buckets[b])
            start[nb] = k
            for k in range(n):
                ps[k] = (<Tensor>flat[k]).t
            _check(ad_watch_new(n, ps, nb, start, ad_mailbox_post,
                                <void *>self.mb, ad_mailbox_free, &self.w))
        except BaseException:
            ad_mailbox_free(self.mb)
            self.mb = NULL
            raise
        finally:
            free(start)
            free(ps)
        self.nbuckets = nb
        self._bufs = []
        for b in range(nb):
            p = ad_watch_buf(self.w, b, &ln)
            dt = np.float64 if str(buckets[b][0].dtype) == "float64" \
                else np.float32
            mv = PyMemoryView_FromMemory(<char *>p, ln * np.dtype(dt).itemsize,
                                         PyBUF_WRITE)
            self._bufs.append(np.frombuffer(mv, dtype=dt))

    def __dealloc__(self):
        if self.w:
            ad_mailbox_close(self.mb)   # the mailbox goes with the watch
            ad_watch_free(self.w)
            self.w = NULL
        elif self.mb:
            ad_mailbox_free(self.mb)
        self.mb = NULL

    def buffer(self, int b):
        """Bucket b's buffer (a numpy view of the engine's memory)."""
        return self._bufs[b]

    def arm(self, double weight):
        """Arm on this thread for the next backward, with this weight."""
        _check(ad_watch_arm(self.w, weight))

    def disarm(self):
        ad_watch_disarm(self.w)

    @property
    def state(self):
        """0 idle, 1 armed, 2 every bucket handed over."""
        return ad_watch_state(self.w)

    def flush(self):
        """Hand over the buckets not handed over yet, from the .grads."""
        _check(ad_watch_flush(self.w))

    def check(self):
        """The position (in bucket order) of the first leaf whose .grad
        changed after the sweep packed it, -1 when none."""
        return ad_watch_check(self.w)

    def take(self, int b):
        """Wait (without the GIL) for bucket b; False once closed."""
        cdef int r
        with nogil:
            r = ad_mailbox_take(self.mb, b)
        return r == 0

    def close(self):
        """Retire the watch (a new one may be armed on its thread at once,
        without waiting for this object to be freed: the communication
        thread holding it exits asynchronously) and wake every take() with
        False."""
        if self.w:
            ad_watch_close(self.w)
        ad_mailbox_close(self.mb)
