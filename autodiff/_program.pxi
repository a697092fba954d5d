# Part of autodiff/_engine.pyx (included there: one extension module,
# one per-thread tape and pool). Compiled programs and the compiled call's fast path.

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


# ------------------------------------------------------------- replicas

MAX_REPLICAS = AD_MAX_CREW + 1

@cython.auto_pickle(False)
cdef class _ReplicaRun:
    """One replicas step's random streams (ad_rng_replicas_begin), and the
    replay of the replicas' compiled steps at once (ad_programs_run).

    begin(m) starts m streams at the engine stream's offset (and makes
    this thread run alone, ad_alone_swap, until end()); enter(r) /
    exit() make replica r's this thread's stream around a call (a
    recording, or a replay on the general path); run(fns, argss) binds
    each compiled function's arguments on its fast path and replays all
    at once, replica i on crew thread i (0: this one), the GIL released;
    end() moves the engine stream's offset past every replica's draws."""
    cdef ad_rng_stream s[AD_MAX_CREW + 1]
    cdef ad_rng_stream *prev
    cdef int m
    cdef bint entered, began, was_alone

    def begin(self, int m):
        if not 1 <= m <= AD_MAX_CREW + 1:
            raise ValueError("1 to %d replicas, got %d"
                             % (AD_MAX_CREW + 1, m))
        self.m = m
        ad_rng_replicas_begin(self.s, m)
        # until end(), this thread runs alone (inline pool, BLAS at one
        # thread), as the crew threads do: the recordings, the replays
        # and the update then compute the same way at every thread count
        if not self.began:
            self.was_alone = ad_alone_swap(1)
            self.began = True

    def enter(self, int r):
        if not 0 <= r < self.m or self.entered:
            raise RuntimeError("_ReplicaRun.enter(%d): no such stream, or "
                               "one entered already" % r)
        self.prev = ad_rng_stream_swap(&self.s[r])
        self.entered = True

    def exit(self):
        if self.entered:
            ad_rng_stream_swap(self.prev)
            self.prev = NULL
            self.entered = False

    def end(self):
        ad_rng_replicas_end(self.s, self.m)
        if self.began:
            ad_alone_swap(self.was_alone)
            self.began = False

    def run(self, list fns, list argss):
        """True: all replayed; False: one is stale (nothing ran, record
        again); None: one cannot take the fast path (nothing ran; some
        inputs may be bound already: the general path binds again)."""
        cdef ad_program *ps[AD_MAX_CREW + 1]
        cdef _FastCall f
        cdef _Binder b
        cdef ad_status s
        cdef int i, m = len(fns)
        if m != self.m or len(argss) != m or ad_capturing():
            return None
        for i in range(m):
            f = <_FastCall?>fns[i]
            b = f.last
            if (b is None or b.needs_copy_back or f.owner != 0 or
                    not b.bind(<tuple?>argss[i])):
                return None
            ps[i] = b.program.p
        with nogil:
            s = ad_programs_run(ps, m, self.s)
        if s == AD_RERECORD:
            return False
        _check(s)
        return True


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


def _epoch():
    """The engine's state epoch (compiled recordings made under another
    are stale)."""
    return ad_epoch()


def _bump_epoch():
    """Invalidate every compiled recording (state they baked in changed:
    a module attribute, an optimizer's parameter groups or state)."""
    ad_bump_epoch()
