"""ad.compile: record a training step once, replay it in C.

The contract is that of ``jax.jit`` and CUDA graphs:

* The first call with given input shapes and dtypes runs ``fn`` normally
  (eagerly) while recording everything it does: every op, ``backward()``,
  ``zero_grad()`` and the optimizer's ``step()``, in-place writes.
* Later calls with the same shapes and dtypes copy the new input data into
  the recorded input buffers and replay the recorded kernels in order, in C,
  with the GIL released. ``fn``'s Python code does not run. The call
  returns the same objects ``fn`` returned the first time, holding fresh
  values. Replay is bit-for-bit equal to eager execution of the same steps.
* Anything Python decided or read during the recording is frozen: control
  flow, ``item()``/``numpy()`` values (a RuntimeWarning says so), values of
  Python scalars, numpy randomness (e.g. dropout masks), learning rates
  read by the optimizer. A call with other shapes, dtypes or Python scalar
  arguments records again (a small cache keeps a few recordings).

Arguments: numpy arrays, lists and tensors that do not require grad are
inputs whose data is copied in on every call (integer arrays too: class
labels for cross_entropy/nll_loss). Tensors that require grad (parameters)
and other objects (models, optimizers) are passed through as they are and
must be the same objects on every call.
"""
import functools
from collections import OrderedDict

import numpy as np

from . import _engine
from ._engine import Tensor



class NotCompilableError(RuntimeError):
    """The step does something a recording cannot replay (a custom
    Function's Python backward).  Nothing was updated: run it eagerly."""


def _slot(a):
    """(kind, key part) for one argument."""
    if isinstance(a, Tensor):
        if a.requires_grad:
            return "pass", ("P", id(a))
        return "tensor", ("t", a.shape, a.dtype.str)
    if isinstance(a, (np.ndarray, list)):
        arr = np.asarray(a)
        if arr.dtype.kind in "iu":
            return "labels", ("i", arr.shape)
        if arr.dtype.kind in "fb":
            dt = arr.dtype if arr.dtype.kind == "f" and \
                arr.dtype.itemsize == 8 else np.dtype(np.float32)
            if isinstance(a, list):
                dt = np.dtype(np.float32)
            return "tensor", ("a", arr.shape, dt.str)
        raise TypeError("ad.compile: unsupported array argument of dtype %s"
                        % arr.dtype)
    if a is None or isinstance(a, (bool, int, float, str, bytes)):
        return "const", ("c", type(a).__name__, a)
    return "pass", ("o", id(a))


class _Recording:
    def __init__(self, program, binders, result):
        self.program = program
        self.binders = binders          # (index, kind, placeholder)
        self.result = result

    def bind(self, args):
        for i, kind, ph in self.binders:
            a = args[i]
            if kind == "labels":
                _engine._write_labels(ph, a)
            else:
                _engine._write_into(ph, a.numpy() if isinstance(a, Tensor)
                                    else a)


class CompiledFunction:
    """What ``ad.compile(fn)`` returns; call it like fn."""

    def __init__(self, fn, cache_size=8):
        self.fn = fn
        self.cache_size = cache_size
        self._cache = OrderedDict()
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        slots = [_slot(a) for a in args]
        key = tuple(k for _, k in slots)
        rec = self._cache.get(key)
        if rec is None:
            return self._record(key, args, slots)
        self._cache.move_to_end(key)
        rec.bind(args)
        rec.program.run()
        return rec.result

    def _record(self, key, args, slots):
        program = _engine.Program()
        binders, call_args = [], []
        for i, (a, (kind, _)) in enumerate(zip(args, slots)):
            if kind == "tensor":
                if isinstance(a, Tensor):
                    ph = _engine.tensor(a.numpy())
                else:
                    ph = _engine.tensor(np.asarray(a), dtype=np.dtype(
                        key[i][2]))
                binders.append((i, kind, ph))
                call_args.append(ph)
            elif kind == "labels":
                ph = np.array(a, dtype=np.int64, order="C", copy=True)
                binders.append((i, kind, ph))
                call_args.append(ph)
            else:
                call_args.append(a)
        # begin() and end() sit inside the try: an exception between them
        # -- a KeyboardInterrupt can arrive at any line -- must never leave
        # the recording active on this thread.
        try:
            program.begin()
            for _, kind, ph in binders:
                if kind == "labels":
                    program.bind_labels(ph)
            result = self.fn(*call_args)
            program.end()
        except BaseException:
            program.abort()
            raise
        self._cache[key] = _Recording(program, binders, result)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def clear_cache(self):
        self._cache.clear()

    @property
    def recordings(self):
        return len(self._cache)


def compile(fn=None, *, cache_size=8):
    """Record fn once per input signature and replay it in C afterwards.

    Use as ``step = ad.compile(fn)`` or as a decorator ``@ad.compile``.
    See the module docstring for the contract."""
    if fn is None:
        return lambda f: CompiledFunction(f, cache_size)
    return CompiledFunction(fn, cache_size)
