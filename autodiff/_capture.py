"""The pure-Python pieces of a compiled step's recording that the engine
itself uses: the error that refuses a step, and the placeholder that a
numpy array argument becomes while ``ad.compile`` records.

A leaf module (numpy and ``_dtypes`` only): the compiled engine module
imports it, so it must not import the engine.  The engine turns an
``ArrayInput`` into a tensor (``_engine._input_tensor``) of the dtype that
``_dtypes.infer_code`` gives its ``probe()``.
"""
import numpy as np

from ._dtypes import F32, F64

__all__ = ["NotCompilableError", "ArrayInput", "SRC_I64", "LinAlgError"]

# The source kind of int64 data for ad_fill_from (AD_SRC_I64 in
# csrc/autodiff.h; the engine module checks it when it loads).
SRC_I64 = 2


class NotCompilableError(RuntimeError):
    """A step does something a compiled recording could not replay exactly
    (read a tensor's value into Python, run a custom Function's Python
    backward, ...).  Raised while recording, before any update: run that
    step eagerly instead."""


class LinAlgError(RuntimeError):
    """A matrix that a decomposition cannot handle (singular, not positive
    definite, no convergence): torch.linalg.LinAlgError, a RuntimeError.
    Raised by the engine's linalg op (AD_ERR_LINALG), eagerly and in a
    compiled replay alike; exported as ``ad.linalg.LinAlgError``."""


class ArrayInput:
    """What a compiled function's body receives for a numpy array argument
    while it is recorded (ad.compile).

    Its data changes with every call, so the engine reads it at every
    replay: converting it to a tensor (``ad.tensor(x)``, passing it to an
    op or a layer) or using it as class labels (``cross_entropy(out, y)``)
    is replayed with the new values, with exactly the dtype rules that the
    plain array would get eagerly.  Anything that would read its values in
    Python or numpy (numpy functions, arithmetic on the array, indexing,
    iterating) raises NotCompilableError: a replay runs no Python, so the
    result would be frozen at the first call's data.
    """
    __slots__ = ("dtype", "shape", "buffer", "kind")
    __hash__ = object.__hash__

    def __init__(self, dtype, shape):
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        k = self.dtype.kind
        # kind: the format of the buffer the engine reads (its source
        # kind), not the dtype of the tensors made from it
        if k in "iub":
            self.kind = SRC_I64         # the engine reads int64 labels
            bdt = np.int64
        elif k == "f" and self.dtype.itemsize == 8:
            self.kind = F64
            bdt = np.float64
        elif k == "f":
            self.kind = F32             # float16 widens exactly
            bdt = np.float32
        else:
            raise TypeError("ad.compile: unsupported array argument of "
                            "dtype %s" % self.dtype)
        self.buffer = np.zeros(self.shape, dtype=bdt)

    def set(self, arr):
        """Copy a call's array in (same shape)."""
        np.copyto(self.buffer, arr, casting="unsafe")

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return self.buffer.size

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return "ArrayInput(shape=%s, dtype=%s)" % (self.shape, self.dtype)

    def probe(self):
        """An empty array of the caller's dtype, for the dtype rules."""
        return np.empty(0, dtype=self.dtype)

    def labels(self, name):
        if self.kind != SRC_I64:
            raise NotCompilableError(
                "%s: float class labels given to a compiled function would "
                "be converted in Python and frozen; pass integer labels "
                "(y.astype(np.int64)) to it" % name)
        return self.buffer.reshape(-1)     # the caller checks the shape

    def __array__(self, dtype=None, copy=None):
        raise NotCompilableError(
            "a numpy array argument of a compiled function is read by numpy "
            "or Python code while ad.compile records it (shape %s, dtype %s);"
            " a replay runs no Python, so that result would stay frozen at "
            "the first call's data. Do the numpy work before calling the "
            "compiled function, or use autodiff ops on ad.tensor(x)"
            % (self.shape, self.dtype))

    def _refuse(self, *args, **kwargs):
        self.__array__()

    def _binop(self, other):
        # as numpy does, defer to a type that opts out of ufuncs
        # (__array_ufunc__ = None): a Tensor's reflected operator then
        # converts this input
        if getattr(type(other), "__array_ufunc__", 0) is None:
            return NotImplemented
        self.__array__()

    __iter__ = __getitem__ = __setitem__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _binop
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = _binop
    __rmatmul__ = _binop
    __floordiv__ = __rfloordiv__ = __mod__ = __neg__ = __abs__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __bool__ = __int__ = __float__ = __index__ = _refuse
    astype = tolist = copy = reshape = sum = mean = max = min = _refuse
    argmax = argmin = item = view = ravel = flatten = _refuse
