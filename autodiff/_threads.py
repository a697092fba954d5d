"""Thread control: ad.set_num_threads / ad.get_num_threads, and the
floating-point mode ad.set_flush_denormal.

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

__all__ = ["set_num_threads", "get_num_threads", "set_flush_denormal"]


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
    torch's: BLAS's bits may change with its thread count.  Linear's
    float32 products on AVX-512 cpus run the engine's own kernel where
    their shapes suit it (up to 1024 samples; docs/ARCHITECTURE.md), at
    any n, and its bits do not change with n.

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


def set_flush_denormal(mode):
    """Flush subnormal ("denormal") floats to zero on the CPU, or stop, as
    torch.set_flush_denormal: results below the smallest normal number
    (float32 ~1.18e-38, float64 ~2.2e-308) become 0, and such numbers read
    as inputs count as 0 (the x86 FTZ and DAZ bits).  Arithmetic on
    subnormals takes a slow path in the cpu; a long training run can leave
    many of them in its state (SGD's momentum for weights whose gradient
    is always 0, such as those of an image's blank border pixels, decays
    to the smallest subnormal and stays there), and a step then takes up
    to 1.7x as long (bench/RESULTS.md).  Off by default, as in torch.

    The mode belongs to the calling thread, as torch's: it also applies to
    numpy and to Python's own float arithmetic on that thread.  The
    engine's pool and crew threads take the mode of the thread whose work
    they run (each job), so a result does not depend on the thread count;
    BLAS's own worker threads, at more than one BLAS thread, keep theirs.

    Parameters
    ----------
    mode : bool
        True to flush, False to keep subnormals (IEEE 754 arithmetic).

    Returns
    -------
    bool
        True where the cpu has the mode (x86-64), else False (nothing
        changed).

    Raises
    ------
    RuntimeError
        When `mode` is not a bool (as torch).

    Examples
    --------
    >>> ad.set_flush_denormal(True)
    True
    >>> (ad.tensor([1e-323], dtype=ad.float64) * 1.0).tolist()
    [0.0]
    >>> ad.set_flush_denormal(False)
    True
    >>> (ad.tensor([1e-323], dtype=ad.float64) * 1.0).tolist()
    [1e-323]
    """
    if not isinstance(mode, bool):
        raise RuntimeError("flush_denormal expects a bool, but got %s"
                           % type(mode).__name__)
    return _engine._set_flush_denormal(mode)
