"""ad.compile: record a training step once, replay it in C.

The contract: **a compiled call gives bit for bit what running ``fn``
eagerly at that moment would give, or it records again, or it raises
NotCompilableError.**  It is never silently different.

* The first call with a given signature runs ``fn`` eagerly while
  recording everything it does: every op, ``backward()``, ``zero_grad()``
  and the optimizer's ``step()``, in-place writes.  Later calls copy the
  new argument data in and replay the recorded kernels in order, in C, with
  the GIL released; ``fn``'s Python code does not run.
* The signature is the structure of the arguments (positional, keyword,
  nested lists/tuples/dicts), the shapes and dtypes of their arrays and
  tensors, the values of Python scalars and strings, and the identity of
  every other object (models, optimizers, parameters).  A call with another
  signature records again (a small cache keeps ``cache_size`` recordings).
* State that a replay depends on is guarded: changing a module's
  attributes (``train()``/``eval()``, a replaced layer, dropout's ``p``),
  an optimizer's parameter groups or loaded state, or a referenced
  tensor's ``requires_grad`` invalidates the recordings (the engine's
  state epoch), and the next call records again.  Optimizer
  hyperparameters (``lr``, momentum, betas, weight decay, ...) are read
  live by every replay: schedulers just work.
* Gradients: a replay deposits into the same ``.grad`` tensors its
  recording made, so code in ``fn`` that reads ``p.grad`` after
  ``backward()`` (a manual update, clipping) sees every step's gradient.
* Randomness (dropout) is drawn by the engine's counter-based generator at
  every replay, exactly as an eager call draws it.
* Reading a tensor's value into Python inside ``fn`` (``item()``,
  ``numpy()``, ``float()``, ``bool()``, comparisons, printing) raises
  NotCompilableError while recording: a replay runs no Python, so the
  value would stay frozen.  So does a custom Function (its backward is
  Python) and higher-order differentiation.  Return what you need to read.
* Array arguments arrive in ``fn`` as :class:`ArrayInput` placeholders
  that the engine reads at every call: converting them with
  ``ad.tensor``, passing them to ops and layers, or as class labels to
  ``cross_entropy``/``nll_loss`` is replayed with each call's data and the
  dtype rules the plain array gets eagerly; numpy work on them raises
  NotCompilableError.  Tensor arguments that do not require grad arrive as
  placeholder tensors refreshed at every call (in-place writes to them are
  copied back to the caller's tensor).  Class labels given to
  ``cross_entropy``/``nll_loss`` as an int64 tensor -- an argument, an op's
  output in ``fn``, or a tensor from outside -- are read by the engine at
  every call.
* Python values that are not arguments (globals, closure variables, numpy
  arrays made in ``fn``) are constants of the recording, as with
  ``jax.jit``.
* Tensors returned by ``fn`` come back detached: the same objects at every
  call, holding that call's values.
* A compiled function called while another recording is active runs
  inline (it becomes part of the outer recording).  It cannot be called
  inside a custom Function's backward, and serves one thread at a time.
"""
import functools
import weakref
from collections import OrderedDict

import numpy as np

from . import _engine
from ._capture import ArrayInput, NotCompilableError
from ._creation import tensor
from ._engine import Tensor

__all__ = ["compile", "CompiledFunction", "NotCompilableError", "ArrayInput"]

_CONST_TYPES = (type(None), bool, int, float, complex, str, bytes)


def _is_const(obj):
    """Keyed by value (the others by shape and dtype, or identity)."""
    return type(obj) in _CONST_TYPES or isinstance(obj, np.generic)


def _flatten(obj, leaves):
    """The structure of obj as a hashable key; leaves collects the
    arrays, tensors and objects it holds (in order)."""
    t = type(obj)
    if t in (list, tuple):
        return (t.__name__, tuple(_flatten(o, leaves) for o in obj))
    if t is dict:
        keys = list(obj)
        try:
            hash(tuple(keys))
        except TypeError:
            raise TypeError("ad.compile: dict arguments need hashable keys")
        return ("dict", tuple((k, _flatten(obj[k], leaves)) for k in keys))
    if _is_const(obj):
        return ("c", t, obj)
    leaves.append(obj)
    if isinstance(obj, Tensor):
        if obj.requires_grad:
            return ("P",)
        return ("t", obj.shape, obj.dtype.str)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiub":
            raise TypeError("ad.compile: unsupported array argument of "
                            "dtype %s" % obj.dtype)
        return ("a", obj.shape, obj.dtype.str)
    return ("o",)


def _unflatten(obj, it):
    """obj's structure with its leaves taken from the iterator it."""
    t = type(obj)
    if t in (list, tuple):
        return t(_unflatten(o, it) for o in obj)
    if t is dict:
        return {k: _unflatten(v, it) for k, v in obj.items()}
    if _is_const(obj):
        return obj
    return next(it)


def _detached(obj):
    """obj with every Tensor replaced by a detached alias (same buffer)."""
    t = type(obj)
    if t in (list, tuple):
        return t(_detached(o) for o in obj)
    if t is dict:
        return {k: _detached(v) for k, v in obj.items()}
    if isinstance(obj, Tensor):
        return obj.detach()
    return obj


def _ref(obj):
    try:
        return weakref.ref(obj)
    except TypeError:           # not weak-referenceable: hold it
        return lambda: obj


class _Recording:
    __slots__ = ("program", "slots", "refs", "result", "binder")

    def __init__(self, program, slots, refs, result, binder):
        self.program = program
        self.slots = slots          # per leaf: (kind, placeholder, version)
        self.refs = refs            # per identity leaf: (index, weakref)
        self.result = result
        self.binder = binder        # the fast path's view, or None

    def serves(self, leaves):
        """Are the identity-keyed leaves the very objects recorded?"""
        for i, ref in self.refs:
            if ref() is not leaves[i]:
                return False
        return True

    def bind(self, leaves):
        for i, (kind, ph, _) in enumerate(self.slots):
            if kind == "t":
                _engine._write_into(ph, leaves[i].numpy())
                self.slots[i] = (kind, ph, _engine._version(ph))
            elif kind == "a":
                ph.set(leaves[i])

    def copy_back(self, leaves):
        # In-place writes of fn to a tensor argument reach the caller's
        # tensor, as they would eagerly.
        for i, (kind, ph, ver) in enumerate(self.slots):
            if kind == "t" and _engine._version(ph) != ver:
                leaves[i].copy_(ph)


def _binder(program, args, kwargs, slots, refs, result):
    """The fast path's description of a recording made with flat
    positional arguments (None for anything else)."""
    if kwargs or any(type(a) in (list, tuple, dict) for a in args):
        return None
    weak = dict(refs)
    specs, leaf = [], 0
    for a in args:
        if _is_const(a):
            specs.append((_engine.B_CONST, a, None))
            continue
        kind, ph, _ = slots[leaf]
        if kind == "a":
            specs.append((_engine.B_ARRAY, a, ph))
        elif kind == "t":
            specs.append((_engine.B_TENSOR, None, ph))
        else:
            specs.append((_engine.B_OBJECT, weak[leaf], None))
        leaf += 1
    return _engine._Binder(program, specs, result)


class CompiledFunction(_engine._FastCall):
    """What ``ad.compile(fn)`` returns; call it like fn.

    The common call -- the same positional arguments' kinds, shapes and
    objects as the last one -- is checked, bound and replayed by the
    engine's fast path (``_engine._FastCall``); this class is the general
    path behind it.

    Parameters
    ----------
    fn : callable
        The step function.
    cache_size : int, default 8
        How many recordings (signatures) are kept, least recently used
        dropped first.

    Attributes
    ----------
    fn : callable
        The wrapped function.
    last : object or None
        The last replayed recording's binder (internal; None after
        :meth:`clear_cache`).
    """

    def __init__(self, fn, cache_size=8):
        self.fn = fn
        self.cache_size = cache_size
        self._cache = OrderedDict()
        self.last = None
        functools.update_wrapper(self, fn)

    def _general(self, args, kwargs):
        if _engine.is_capturing():
            # Inside another recording: run inline, so this call becomes
            # part of the outer program.
            return self.fn(*args, **kwargs)
        if _engine._in_custom_backward():
            raise RuntimeError("a compiled function cannot be called inside "
                               "a custom Function's backward")
        leaves = []
        key = _flatten((args, kwargs), leaves)
        rec = self._cache.get(key)
        if rec is not None and rec.serves(leaves):
            self._cache.move_to_end(key)
            rec.bind(leaves)
            if rec.program.run():
                rec.copy_back(leaves)
                self.last = rec.binder
                return rec.result
            # stale (module, optimizer or flag changed): record again
        return self._record(key, args, kwargs, leaves)

    def _record(self, key, args, kwargs, leaves):
        self.last = None
        self._cache.pop(key, None)      # a stale or foreign recording
        program = _engine.Program()
        slots, refs, call_leaves = [], [], []
        for i, a in enumerate(leaves):
            if isinstance(a, Tensor) and not a.requires_grad:
                ph = tensor(a.numpy(), dtype=a.dtype)
                slots.append(("t", ph, _engine._version(ph)))
                call_leaves.append(ph)
            elif isinstance(a, np.ndarray):
                ph = ArrayInput(a.dtype, a.shape)
                ph.set(a)
                slots.append(("a", ph, 0))
                call_leaves.append(ph)
            else:
                slots.append(("o", None, 0))
                refs.append((i, _ref(a)))
                call_leaves.append(a)
        call_args, call_kwargs = _unflatten((args, kwargs), iter(call_leaves))
        # begin() and end() sit inside the try: an exception between them
        # -- a KeyboardInterrupt can arrive at any line -- must never leave
        # the recording active on this thread.
        try:
            program.begin()
            for kind, ph, _ in slots:
                if kind == "a" and ph.buffer.size:
                    program.bind_input(ph.buffer)
            result = _detached(self.fn(*call_args, **call_kwargs))
            program.end()
        except BaseException:
            program.abort()
            raise
        rec = _Recording(program, slots, refs, result,
                         _binder(program, args, kwargs, slots, refs, result))
        rec.copy_back(leaves)
        self._cache[key] = rec
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.last = rec.binder
        return result

    def clear_cache(self):
        """Drop every recording: the next call records again."""
        self._cache.clear()
        self.last = None

    @property
    def recordings(self):
        """The number of recordings (input signatures) in the cache."""
        return len(self._cache)


def compile(fn=None, *, cache_size=8):
    """Record fn once per input signature and replay it in C afterwards.

    Use as ``step = ad.compile(fn)`` or as a decorator ``@ad.compile``.
    See the module docstring for the contract.

    Parameters
    ----------
    fn : callable, optional
        The function (a training step: forward, backward, optimizer step).
        Without it, ``compile(cache_size=...)`` returns a decorator.
    cache_size : int, default 8 (keyword only)
        How many recordings (one per input signature) are kept.

    Returns
    -------
    CompiledFunction
        Call it as `fn`.  Its results are bit for bit those of calling fn
        eagerly.

    Raises
    ------
    NotCompilableError
        (from a call, while recording) for what a C replay cannot repeat:
        reading a tensor's value into Python, numpy draws without a fixed
        seed, custom Functions, higher-order gradients.

    Examples
    --------
    >>> model = nn.Linear(3, 1)
    >>> opt = ad.optim.SGD(model.parameters(), lr=0.1)
    >>> @ad.compile
    ... def step(x, y):
    ...     opt.zero_grad()
    ...     loss = nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> X, Y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    >>> for _ in range(3):
    ...     loss = step(X, Y)
    >>> step.recordings
    1
    """
    if fn is None:
        return lambda f: CompiledFunction(f, cache_size)
    return CompiledFunction(fn, cache_size)
