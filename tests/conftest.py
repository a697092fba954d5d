"""Shared test helpers: the one tolerance table, a float64 central-difference
gradient, a gradient check in the style of torch.autograd.gradcheck, and the
small helpers several test files use (alive, rss_bytes, mlp, needs_torch,
lazy_torch)."""
import os

import numpy as np
import pytest

import autodiff as ad

try:
    import torch
except ImportError:       # pragma: no cover - depends on the environment
    torch = None

# The one line every PyTorch-oracle test skips with when torch is missing
# (the [test] extra has no torch; [oracle] adds it), also the run's header.
TORCH_MISSING = ("PyTorch is not installed: the tests comparing with it skip "
                 "(pip install 'autodiff-tape[oracle]')")
HAVE_TORCH = torch is not None
needs_torch = pytest.mark.skipif(torch is None, reason=TORCH_MISSING)


def require_torch():
    """torch, or skip the calling test (or module, at module level) with
    the one reason."""
    if torch is None:
        pytest.skip(TORCH_MISSING, allow_module_level=True)
    return torch


class _NoTorch:
    """Stands for torch (or one of its modules) when torch is not installed:
    the test touching any of its public names skips with the one reason, so
    a module's tests that never touch it still run.  Touching one at import
    time is a collection error (not a whole module skipped quietly).  Private
    names raise AttributeError, as pytest's collection probes those."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        pytest.skip(TORCH_MISSING)

    def __repr__(self):
        return "<%s: not installed>" % self._name


def lazy_torch(name="torch"):
    """The module `name` (torch or a submodule) when torch is installed, else
    a stand-in that skips the test that uses it (see _NoTorch)."""
    if torch is None:
        return _NoTorch(name)
    import importlib
    return importlib.import_module(name)


def pytest_report_header(config):
    if torch is None:
        return TORCH_MISSING
    return "torch " + torch.__version__ + " (the oracle)"

DTYPES = (np.float32, np.float64)

# The single tolerance table: (rtol, atol) per dtype and purpose.  Each atol
# is scaled by max(1, max|expected|) in assert_close (and close()).
#   fwd         an op's values against a numpy reference computed in
#               float64 from the same (dtype-rounded) inputs
#   grad        a backward() gradient against numerical_grad()
#   rule        two analytic computations of one derivative (the recorded
#               Python rules against the fused C backward, hessians, ...)
#   rule_edge   the same at extreme and edge values
#   exact       bit for bit
#   hessian     hessians, jacobians and hvps against each other or torch
#   rule_torch  second and third derivatives against torch
#   fn_api      the functional transforms against closed forms
#   cast        derivatives through a float32 rounding
#   sympy       values and derivatives against sympy/mpmath (40 digits)
#   sympy_order derivatives of order 1 to 4 on a grid against sympy
#   torch       values and gradients against torch (same dtype)
#   torch_grad  gradients of whole random graphs against torch
#   special     NaN/inf propagation against numpy (fuzzed)
#   nan_inf     the same on a fixed list of special values
#   trajectory  optimizer trajectories against a numpy reference
TOL = {
    np.float32: {"fwd": (2e-5, 2e-6), "grad": (2e-3, 2e-4),
                 "rule": (1e-5, 1e-5), "sympy": (1e-5, 2e-6),
                 "sympy_grad": (1e-5, 2e-5), "torch": (1e-3, 2e-3),
                 "torch_graph": (1e-7, 2e-3),
                 "special": (1e-5, 0.0), "nan_inf": (1e-6, 0.0)},
    np.float64: {"fwd": (1e-10, 1e-12), "grad": (1e-6, 1e-8),
                 "exact": (0.0, 0.0), "rule": (1e-12, 1e-12),
                 "rule_edge": (1e-13, 1e-14), "hessian": (1e-11, 1e-12),
                 "fn_api": (1e-8, 1e-9),
                 "rule_torch": (1e-10, 1e-12), "sympy": (1e-10, 1e-13),
                 "sympy_order": (1e-10, 1e-10),
                 "sympy_grad": (1e-10, 1e-13), "torch": (1e-9, 1e-11),
                 "torch_grad": (1e-8, 1e-10), "torch_clamped": (1e-7, 1e-11),
                 "special": (1e-12, 0.0), "nan_inf": (1e-6, 0.0),
                 "nan_inf_binary": (1e-15, 0.0), "cast": (1e-6, 1e-6),
                 "trajectory": (1e-6, 1e-10)},
}
EPS = 1e-6          # central-difference step, always taken in float64


def tol(dtype, kind="fwd"):
    """{"rtol": ..., "atol": ...} for dtype and purpose (see TOL)."""
    rtol, atol = TOL[np.dtype(dtype).type][kind]
    return {"rtol": rtol, "atol": atol}


def assert_close(actual, expected, dtype=np.float64, kind="fwd",
                 err_msg=""):
    """assert_allclose with the table's tolerances for dtype and kind;
    Tensors are accepted on either side."""
    if isinstance(actual, ad.Tensor):
        actual = actual.numpy()
    if isinstance(expected, ad.Tensor):
        expected = expected.numpy()
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (err_msg, actual.shape,
                                            expected.shape)
    t = tol(dtype, kind)
    finite = expected[np.isfinite(expected)]
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=t["rtol"],
                               atol=t["atol"] * scale, err_msg=err_msg)


def numerical_grad(f, arrays, eps=EPS, wrt=None):
    """Central differences of the scalar function f(*arrays) in float64.

    Returns one gradient array per input array (None for inputs not in
    wrt, which defaults to all of them)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]  # own copies
    wrt = range(len(arrays)) if wrt is None else wrt
    grads = [None] * len(arrays)
    for k in wrt:
        flat = arrays[k].reshape(-1)        # a view: arrays are contiguous
        g = np.zeros(flat.shape[0])
        for i in range(flat.shape[0]):
            old = flat[i]
            flat[i] = old + eps
            fp = f(*arrays)
            flat[i] = old - eps
            fm = f(*arrays)
            flat[i] = old
            g[i] = (fp - fm) / (2 * eps)
        grads[k] = g.reshape(arrays[k].shape)
    return grads


def check_grad(fn, inputs, dtype, wrt=None, seed=0, eps=EPS):
    """Check backward() of fn against central differences.

    fn maps tensors to a tensor.  inputs are arrays; they are rounded to
    dtype, the ones in wrt (default all) require grad.  The output is
    seeded with fixed random weights W, so the check covers
    d(sum(W * fn))/d(input) -- not only the gradient of a plain sum, which
    would be zero for, e.g., softmax.  The numerical side evaluates fn in
    float64 (under no_grad) at the same rounded inputs.  Returns the output
    tensor of the dtype run."""
    inputs = [np.asarray(np.asarray(a, dtype=np.float64), dtype=dtype)
              for a in inputs]
    wrt = list(range(len(inputs)) if wrt is None else wrt)
    ts = [ad.tensor(a, dtype=dtype, requires_grad=i in wrt)
          for i, a in enumerate(inputs)]
    out = fn(*ts)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(ad.tensor(np.asarray(w), dtype=out.dtype))

    def f(*arrays):
        with ad.no_grad():
            o = fn(*[ad.tensor(a, dtype=np.float64) for a in arrays])
        return float(np.sum(np.asarray(o.numpy(), np.float64) * w))

    num = numerical_grad(f, inputs, eps, wrt)
    for i in wrt:
        g = ts[i].grad
        assert g is not None, "input %d received no gradient" % i
        assert g.shape == inputs[i].shape, (i, g.shape, inputs[i].shape)
        assert g.dtype == np.dtype(dtype), (i, g.dtype, dtype)
        assert_close(g.numpy(), num[i], dtype, "grad",
                     err_msg="gradient of input %d" % i)
    return out


# ------------------------------------------------------ test data (seeded)

def sample(shape, low=-2.0, high=2.0, seed=0, avoid=(), margin=0.05):
    """Uniform values in [low, high] none of which lies within margin of a
    point in avoid (kinks of the function under test)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.uniform(low, high, size=shape), dtype=np.float64)
    for _ in range(1000):
        bad = np.zeros(x.shape, bool)
        for p in avoid:
            bad |= np.abs(x - p) < margin
        if not bad.any():
            return x
        x = np.where(bad, rng.uniform(low, high, size=shape), x)
    raise AssertionError("could not sample away from %r" % (avoid,))


def nonzero(shape, low=0.5, high=2.0, seed=0):
    """Values with |v| in [low, high] and random signs."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(low, high, size=shape)
    return np.asarray(np.where(rng.random(shape) < 0.5, -mag, mag))


def distinct(shape, seed=0, spacing=0.1):
    """A random permutation of well separated values (no ties)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    v = (np.arange(n) - n / 2) * spacing + rng.uniform(0, spacing / 4, n)
    return rng.permutation(v).reshape(shape)


# Operand pairs (a, b) of given shapes for the binary ops' tests.

def binary_data_default(sa, sb, seed):
    return sample(sa, seed=seed), sample(sb, seed=seed + 1)


def binary_data_div(sa, sb, seed):
    return sample(sa, seed=seed), nonzero(sb, seed=seed + 1)


def binary_data_pow(sa, sb, seed):
    return sample(sa, 0.5, 2.0, seed=seed), sample(sb, -2.0, 2.0, seed + 1)


def binary_data_maxmin(sa, sb, seed, gap=0.02):
    """No pair of broadcast elements closer than gap (no ties)."""
    for s in range(seed, seed + 1000):
        a, b = sample(sa, seed=s), sample(sb, seed=s + 7919)
        if np.min(np.abs(np.subtract(a, b))) > gap:
            return a, b
    raise AssertionError("no tie-free sample")


# ------------------------------------------------------------ small helpers

def alive():
    """The engine still computes values and gradients correctly."""
    x = ad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])


def rss_bytes():
    """Current resident set size (not the peak) from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mlp(x, w1, b1, w2):
    """A two-layer tanh network with a cross-entropy loss on 4 samples."""
    h = ad.tanh(x @ w1 + b1)
    return ad.cross_entropy(h @ w2, np.array([0, 2, 1, 2]))
