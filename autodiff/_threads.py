"""Thread control: ad.set_num_threads / ad.get_num_threads.

One number sets both the engine's own thread pool (csrc/threads.c, which
splits the large elementwise, row and optimizer kernels) and the BLAS the
engine calls for matrix products (scipy's OpenBLAS; numpy ships a second
copy, set too), so that the two never oversubscribe the cores: the pool's
workers and BLAS's never run at the same time, and each uses at most n.

The default is the number of cores this process may run on
(os.sched_getaffinity), or OMP_NUM_THREADS when that is set to a positive
integer, as PyTorch does.  At import only the engine's pool is set; the
BLAS keeps its own default (OPENBLAS_NUM_THREADS or its core count) until
set_num_threads is called.

The engine's convolution splits its batch over the pool with its GEMMs
inside the pieces; while such a job runs on several threads, every loaded
OpenBLAS runs on one thread (registered here, set back after the job).
"""
import operator
import os

from . import _engine

__all__ = ["set_num_threads", "get_num_threads"]


def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n >= 1:
            return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# OpenBLAS's setters, by the symbol each build exports: the plain library,
# scipy's wheels (scipy_openblas, 32-bit ints) and numpy's (64-bit ints,
# trailing underscore).
_OPENBLAS_SETTERS = ("openblas_set_num_threads",
                     "scipy_openblas_set_num_threads",
                     "scipy_openblas_set_num_threads64_",
                     "openblas_set_num_threads64_")


def _loaded_openblas():
    """Paths of the OpenBLAS libraries mapped into this process (Linux)."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and "openblas" in parts[5].lower():
                    p = parts[5].strip()
                    if p not in paths:
                        paths.append(p)
    except OSError:
        pass
    return paths


_OPENBLAS_GETTERS = tuple(n.replace("_set_", "_get_")
                          for n in _OPENBLAS_SETTERS)


def _openblas_thread_fns():
    """(setter, getter) addresses of every loaded OpenBLAS, for the engine's
    convolution pieces (which run the BLAS on one thread meanwhile)."""
    import ctypes
    pairs = []
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in zip(_OPENBLAS_SETTERS, _OPENBLAS_GETTERS):
            st = getattr(lib, set_name, None)
            gt = getattr(lib, get_name, None)
            if st is not None and gt is not None:
                pairs.append((ctypes.cast(st, ctypes.c_void_p).value,
                              ctypes.cast(gt, ctypes.c_void_p).value))
                break
    return pairs[:4]


def _set_blas_threads(n):
    """Every BLAS in the process to n threads: threadpoolctl when it is
    installed (it knows MKL and BLIS too), else each loaded OpenBLAS through
    its own setter.  Loads scipy's BLAS first (the engine's)."""
    import importlib
    importlib.import_module("scipy.linalg.cython_blas")   # maps the library
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        threadpool_limits(limits=n, user_api="blas")
        return
    import ctypes
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                fn.restype = None
                fn(n)
                break


def set_num_threads(n):
    """Use n threads (n >= 1) for the engine's kernels and for BLAS, as
    torch.set_num_threads.  Results do not depend on n: elementwise kernels
    give the same bits (each element's arithmetic is unchanged), and the
    split reductions combine in an order fixed by the shape alone
    (docs/ARCHITECTURE.md, "Thread pool"); matrix products excepted, as
    torch's: BLAS's bits may change with its thread count, and linear's
    float32 backward runs the engine's kernel at n = 1, BLAS at more.

    Parameters
    ----------
    n : int
        The number of threads, at least 1.

    Raises
    ------
    RuntimeError
        When `n` is not a positive int (as torch).

    Examples
    --------
    >>> n = ad.get_num_threads()
    >>> ad.set_num_threads(1)
    >>> ad.get_num_threads()
    1
    >>> ad.set_num_threads(n)
    """
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise RuntimeError("set_num_threads expects an int, but got %s"
                           % type(n).__name__)
    n = operator.index(n)
    if n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    _set_blas_threads(n)
    _engine._set_blas_threads_seen(n)
    _engine._set_pool_threads(n)


def get_num_threads():
    """The number of threads set_num_threads set (or the default)."""
    return _engine._get_pool_threads()


_engine._set_pool_threads(_default_threads())
_engine._set_blas_threads_seen(_default_threads())
_engine._set_blas_thread_fns(_openblas_thread_fns())
