"""Property tests (hypothesis): random expression graphs against numpy and
central differences, random bad input against the documented exception
types, and ad.compile replay against eager training on random networks.

All tests are derandomized so CI is deterministic.  AUTODIFF_FUZZ_EXAMPLES
multiplies every max_examples (e.g. AUTODIFF_FUZZ_EXAMPLES=10 for a long
bug hunt).
"""
import gc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note
from hypothesis import strategies as st

import autodiff as ad
import opdb
from autodiff import nn, optim
from conftest import DTYPES, assert_close, numerical_grad, tol
from conftest import alive as _alive
from fuzz_helpers import OPS, Graph
from fuzz_helpers import fuzz_settings as _fuzz_settings

# numpy warns when junk values overflow a cast or reduce an empty slice
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def fuzz_settings(n):
    return _fuzz_settings(n, HealthCheck.filter_too_much)


# ======================================================= random graphs

def _draw_graph(data):
    g = Graph(data, st, np.float64)
    dtype = g.dtype = np.dtype(g.choice(DTYPES)).type
    shape = g.shape(3, 12)
    depth = g.choice([1, 2, 2, 3, 3, 3, 4, 4])
    root = g.build(shape, depth, root=True)
    note(g.describe(root))
    return g, root, shape, dtype


def _engine_forward(g, root, dtype, grad=True):
    leaves = g.used_leaves(root)
    ts = {i: ad.tensor(g.leaves[i], dtype=dtype, requires_grad=grad)
          for i in leaves}
    return ts, g.run(root, ts, engine=True, dtype=dtype)


def _as64(v):
    if isinstance(v, ad.Tensor):
        return np.asarray(v.numpy(), np.float64)
    return np.asarray(v, np.float64)


@pytest.mark.slow
@fuzz_settings(2000)
@given(data=st.data())
def test_random_graph_forward_and_gradient(data):
    g, root, shape, dtype = _draw_graph(data)
    assume(g.nodes[root][0] != "leaf")
    leaves = g.used_leaves(root)
    ts, vals = _engine_forward(g, root, dtype)
    out = vals[root]
    assert isinstance(out, ad.Tensor)
    assert out.shape == shape, (out.shape, shape)
    assert out.dtype == np.dtype(dtype)

    # Each op against its numpy twin on the engine's own input values
    # (so float32 rounding does not accumulate along the graph).
    for i in g.reachable(root):
        name, params, kids = g.nodes[i]
        if name in ("leaf", "const"):
            continue
        with np.errstate(all="ignore"):
            want = OPS[name][1](params, *[
                g.values[k] if g.nodes[k][0] == "const" else _as64(vals[k])
                for k in kids])
        got = vals[i]
        assert got.dtype == np.dtype(dtype), (name, got.dtype)
        assert got.shape == np.shape(want), (name, got.shape, np.shape(want))
        assert_close(got.numpy(), want, dtype, err_msg=name)

    # The whole graph against numpy (float64 all the way).
    if dtype == np.float64:
        assert_close(out.numpy(), g.values[root], dtype)

    # Gradients of sum(w * out) against central differences of the
    # float64 graph at the same (rounded) inputs.
    w = np.random.default_rng(len(g.nodes)).standard_normal(out.shape)
    out.backward(ad.tensor(w, dtype=dtype))

    def f(*arrays):
        with ad.no_grad():
            o = g.run(root, {i: ad.tensor(a, dtype=np.float64)
                             for i, a in zip(leaves, arrays)},
                      engine=True, dtype=np.float64)[root]
        return float(np.sum(_as64(o) * w))

    num = numerical_grad(f, [g.leaves[i] for i in leaves])
    for i, n in zip(leaves, num):
        gr = ts[i].grad
        assert gr is not None, "leaf x%d got no gradient" % i
        assert gr.shape == n.shape and gr.dtype == np.dtype(dtype)
        assert_close(gr.numpy(), n, dtype, "grad",
                     err_msg="gradient of x%d" % i)


@fuzz_settings(600)
@given(data=st.data())
def test_random_graph_create_graph_matches_backward(data):
    """autograd.grad(create_graph=True) walks the graph in Python with
    differentiable rules: it must agree with the C backward sweep, and
    its result must itself be differentiable."""
    g, root, shape, dtype = _draw_graph(data)
    assume(g.nodes[root][0] != "leaf")
    leaves = g.used_leaves(root)
    ts, vals = _engine_forward(g, root, dtype)
    out = vals[root]
    w = np.random.default_rng(len(g.nodes)).standard_normal(out.shape)
    wt = ad.tensor(w, dtype=dtype)
    grads = ad.autograd.grad((out * wt).sum(), [ts[i] for i in leaves],
                             create_graph=True, allow_unused=True)
    ts2, vals2 = _engine_forward(g, root, dtype)
    vals2[root].backward(wt)
    for i, gc_ in zip(leaves, grads):
        ref = ts2[i].grad.numpy()
        if gc_ is None:
            assert np.all(ref == 0), "x%d: None but backward gave %r" % (
                i, ref)
            continue
        assert gc_.shape == ref.shape and gc_.dtype == ref.dtype
        assert_close(gc_.numpy(), ref, dtype, err_msg="x%d" % i)
    # Second order: differentiate sum(v * grad) again; it must not fail
    # and must give finite values of the right shapes.
    live = [(i, gr) for i, gr in zip(leaves, grads)
            if gr is not None and gr.requires_grad]
    if live:
        v = [ad.tensor(np.random.default_rng(i).standard_normal(gr.shape),
                       dtype=dtype) for i, gr in live]
        s = sum(((gr * vi).sum() for (_, gr), vi in zip(live, v)),
                ad.tensor(0.0, dtype=dtype))
        if s.requires_grad:
            gg = ad.autograd.grad(s, [ts[i] for i in leaves],
                                  allow_unused=True)
            for i, x in zip(leaves, gg):
                if x is not None:
                    assert x.shape == ts[i].shape
                    assert np.all(np.isfinite(x.numpy()))


# ======================================================= random bad input

DOCUMENTED = (ValueError, TypeError, IndexError, MemoryError, RuntimeError)
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.0,
           1e308, -1e308, 5e-324, 1e-30, 88.0, -88.0, 1e4]


class Outcome:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    @property
    def ok(self):
        return self.error is None


def attempt(fn, extra=(), check_leaks=True):
    """Run fn: it must succeed or raise a documented exception type (or
    one of extra) with a message; an error must not leak engine memory or
    tape records."""
    before = ad.memory_stats()
    try:
        value = fn()
    except DOCUMENTED + tuple(extra) as e:
        msg, kind = str(e), type(e)
    else:
        return Outcome(value=value)
    # Outside the except block: the traceback (and the frames holding
    # the call's temporaries) is gone now.
    assert msg.strip(), "%s with an empty message" % kind.__name__
    if not check_leaks:
        return Outcome(error=kind)
    after = ad.memory_stats()
    if (after["bytes_in_use"], after["tape_live"]) != (
            before["bytes_in_use"], before["tape_live"]):
        gc.collect()
        after = ad.memory_stats()
    # (<=: the collection may also free garbage made before the call)
    assert after["bytes_in_use"] <= before["bytes_in_use"], (
        "leak after %s: %s" % (kind.__name__, msg))
    assert after["tape_live"] <= before["tape_live"], (
        "tape leak after %s: %s" % (kind.__name__, msg))
    return Outcome(error=kind)


def numpy_outcome(fn):
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")     # mean of empty slice, ...
            return Outcome(value=np.asarray(fn()))
    except Exception as e:          # numpy's own verdict, any type
        return Outcome(error=type(e))


def same_as_numpy(got, want, rtol=1e-6, exact_shape=True, err="",
                  atol=1e-300):
    """got (a Tensor) equals numpy's want: same shape, NaN where numpy
    has NaN, infinities of the same sign, finite values close."""
    g = np.asarray(got.numpy(), np.float64)
    w = np.asarray(want, np.float64)
    if exact_shape:
        assert g.shape == w.shape, (g.shape, w.shape, err)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=err)
    np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w),
                                  err_msg=err)
    np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w),
                                  err_msg=err)
    fin = np.isfinite(w)
    np.testing.assert_allclose(g[fin], w[fin], rtol=rtol, atol=atol,
                               err_msg=err)


def rounding_atol(x, dtype, power=1):
    """An absolute tolerance for sums of x's values (or their squares):
    the summation order and the precision of intermediates differ."""
    fin = np.abs(np.asarray(x, np.float64)[np.isfinite(x)])
    eps = 1e-6 if np.dtype(dtype).itemsize == 4 else 1e-14
    return 1e-300 + eps * fin.max(initial=0) ** power


# ------------------------------------------------------ input strategies

@st.composite
def shapes(draw, max_ndim=4, max_side=4, zeros=True):
    nd = draw(st.integers(0, max_ndim))
    lo = 0 if zeros else 1
    return tuple(draw(st.integers(lo, max_side)) for _ in range(nd))


@st.composite
def special_arrays(draw, shape=None, dtype=None):
    """Float arrays of special and ordinary values, in awkward layouts:
    non-contiguous, reversed, Fortran, broadcast (0 strides), byte
    swapped, unaligned, read-only."""
    if shape is None:
        shape = draw(shapes())
    dtype = dtype or draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    pool = np.array(SPECIAL + list(rng.standard_normal(8)))
    with np.errstate(all="ignore"):
        base = rng.choice(pool, size=shape).astype(dtype)
    layout = draw(st.sampled_from(["plain", "strided", "reversed", "fortran",
                                   "broadcast", "byteswap", "unaligned",
                                   "readonly", "transposed"]))
    if base.ndim == 0 and layout in ("strided", "unaligned"):
        layout = "plain"
    if layout == "strided":
        big = np.zeros(tuple(2 * d for d in shape), dtype)
        view = big[tuple(slice(None, None, 2) for _ in shape)]
        view[...] = base
        base = view
    elif layout == "reversed" and base.ndim:
        base = base[::-1]
    elif layout == "fortran":
        base = np.asfortranarray(base)
    elif layout == "broadcast" and base.ndim:
        base = np.broadcast_to(base[:1] if base.shape[0] else base,
                               base.shape)
    elif layout == "byteswap":
        base = base.astype(base.dtype.newbyteorder())
    elif layout == "unaligned":
        buf = np.zeros(base.nbytes + 1, np.uint8)
        un = buf[1:].view(dtype).reshape(base.shape)
        un[...] = base
        base = un
    elif layout == "readonly":
        base = base.copy()
        base.flags.writeable = False
    elif layout == "transposed":
        base = np.ascontiguousarray(base.T).T
    return base


def _junk_factories():
    return {
        "str": lambda: "abc", "None": lambda: None, "dict": lambda: {"a": 1},
        "set": lambda: {1, 2}, "object": lambda: object(),
        "bytes": lambda: b"xy", "complex": lambda: 1 + 2j,
        "complex array": lambda: np.array([1 + 2j, 3j]),
        "object array": lambda: np.array([1, "a"], dtype=object),
        "None array": lambda: np.array([None, None]),
        "str array": lambda: np.array(["1.0", "2.0"]),
        "datetime": lambda: np.array([np.datetime64("2020-01-01")]),
        "structured": lambda: np.zeros(2, dtype=[("a", "f8")]),
        "ragged": lambda: [[1.0, 2.0], [3.0]],
        "nested None": lambda: [1.0, None],
        "list of str": lambda: ["a", "b"],
        "huge int": lambda: 10 ** 400, "big int": lambda: 2 ** 70,
        "neg huge int": lambda: -(10 ** 400),
        "nan": lambda: float("nan"), "inf": lambda: float("inf"),
        "bool": lambda: True, "np.bool_": lambda: np.bool_(False),
        "int array": lambda: np.array([1, -2, 3]),
        "uint64 array": lambda: np.array([2 ** 64 - 1, 0], np.uint64),
        "bool array": lambda: np.array([True, False]),
        "float16 array": lambda: np.array([1.0, 65504.0], np.float16),
        "int8 array": lambda: np.array([-128, 127], np.int8),
        "empty list": lambda: [], "empty array": lambda: np.zeros(0),
        "empty 2d": lambda: np.zeros((0, 3)), "0-d array": lambda:
            np.array(2.5), "tuple": lambda: (1.0, 2.0),
        "nested tuple": lambda: ((1.0,), (2.0,)),
        "range": lambda: range(3), "generator": lambda: (i for i in range(2)),
        "memoryview": lambda: memoryview(b"ab"),
        "matrix": lambda: np.asarray([[1.0, 2.0]]).view(np.matrix),
        "masked": lambda: np.ma.array([1.0, 2.0], mask=[0, 1]),
        "tensor 0-d": lambda: ad.tensor(1.5),
        "tensor (2, 3)": lambda: ad.ones((2, 3), dtype=ad.float64),
        "tensor empty": lambda: ad.zeros((0,)),
        "tensor needing grad": lambda: ad.ones((3,), requires_grad=True),
        "9-d array": lambda: np.zeros((1,) * 9),
        "big list": lambda: [1.0] * 1000,
    }


JUNK = _junk_factories()
# Python ints beyond the float range fail their float() conversion with
# OverflowError, exactly as numpy (np.ones(2) + 10**400) and float() do.
HUGE_INTS = ("huge int", "neg huge int")


@st.composite
def junk(draw):
    name = draw(st.sampled_from(sorted(JUNK)))
    return name, JUNK[name]()


def _rand_tensor(draw, shape=None, dtype=None, rg=None):
    arr = draw(special_arrays(shape=shape, dtype=dtype))
    rg = draw(st.booleans()) if rg is None else rg
    return ad.tensor(np.array(arr), requires_grad=rg)


def _extra(*names):
    return (OverflowError,) if any(n in HUGE_INTS for n in names) else ()


# name -> (engine form, numpy form): opdb's rows marked ``special``
UNARY_REF = {o.name: (o.op, o.ref) for o in opdb.special()}
OTHER_UNARY = {
    "leaky_relu": ad.leaky_relu, "elu": ad.elu, "selu": ad.selu,
    "softplus": ad.softplus, "gelu": ad.gelu, "silu": ad.silu,
    "erf": ad.erf, "softmax": ad.softmax, "log_softmax": ad.log_softmax,
    "sum": ad.sum, "mean": ad.mean, "max": ad.max, "min": ad.min,
    "var": ad.var, "std": ad.std, "flatten": ad.flatten,
    "transpose": ad.transpose, "squeeze": ad.squeeze,
    "detach": lambda t: t.detach(), "clone": lambda t: t.clone(),
    "float": lambda t: t.float(), "double": lambda t: t.double(),
    "T": lambda t: t.T, "item": lambda t: t.item(),
    "tolist": lambda t: t.tolist(), "len": lambda t: len(t),
    "bool": lambda t: bool(t), "iter": lambda t: list(t),
    "repr": lambda t: repr(t), "neg": lambda t: -t,
    "abs()": lambda t: abs(t), "pos": lambda t: +t,
    "compare": lambda t: t > 0.5,
}


def _check_backward(out, inputs):
    """backward() through a successful result with NaN/inf values: no
    crash, and every gradient has its input's shape."""
    if not isinstance(out, ad.Tensor) or not out.requires_grad:
        return
    r = attempt(lambda: out.backward(ad.ones(out.shape, dtype=out.dtype)))
    if r.ok:
        for t in inputs:
            if isinstance(t, ad.Tensor) and t.requires_grad and \
                    t.grad is not None:
                assert t.grad.shape == t.shape


@fuzz_settings(600)
@given(x=special_arrays(), op=st.sampled_from(sorted(UNARY_REF)),
       rg=st.booleans())
def test_fuzz_special_values_propagate_like_numpy(x, op, rg):
    fa, fn = UNARY_REF[op]
    t = attempt(lambda: ad.tensor(x, requires_grad=rg))
    assert t.ok, "a float array of any layout is valid input"
    t = t.value
    np.testing.assert_array_equal(t.numpy(), x)
    assert t.dtype == x.dtype.newbyteorder("=")
    r = attempt(lambda: fa(t))
    assert r.ok, op
    with np.errstate(all="ignore"):
        want = fn(np.array(x))
    assert r.value.dtype == t.dtype
    same_as_numpy(r.value, want, rtol=tol(x.dtype, "special")["rtol"],
                  err=op)
    _check_backward(r.value, [t])
    _alive()


@fuzz_settings(800)
@given(a=special_arrays(), b=special_arrays(), data=st.data(),
       op=st.sampled_from(opdb.ids(opdb.BINARY) + ["where", "matmul"]))
def test_fuzz_binary_any_shapes_and_layouts(a, b, op, data):
    """Two arrays of random (often incompatible) shapes, as tensors or
    raw numpy operands: numpy's verdict on the shapes, numpy's values."""
    fa = {o.name: o.op for o in opdb.BINARY}
    fa.update({"matmul": lambda x, y: x @ y,
          "where": lambda x, y: ad.where(np.asarray(x) > 0 if not
                                         isinstance(x, ad.Tensor) else
                                         x.numpy() > 0, x, y)})
    fa = fa[op]
    fn = {o.name: o.ref for o in opdb.BINARY}
    fn.update({"matmul": np.matmul,
               "where": lambda x, y: np.where(x > 0, x, y)})
    fn = fn[op]
    form = data.draw(st.sampled_from(["tt", "ta", "at"]))
    rg = data.draw(st.booleans())
    ta = ad.tensor(np.array(a), requires_grad=rg) if form != "at" else a
    tb = ad.tensor(np.array(b), requires_grad=rg) if form != "ta" else b
    r = attempt(lambda: fa(ta, tb))
    want = numpy_outcome(lambda: fn(np.asarray(a, np.float64),
                                    np.asarray(b, np.float64)))
    if op == "pow" and want.ok:
        # numpy computes x ** 0.5 as sqrt(x): nan at -inf where C's
        # pow (and the engine) give +inf
        want.value = np.where(np.isneginf(a) & (np.asarray(b) == 0.5),
                              np.inf, want.value)
    if r.ok:
        assert want.ok or op == "matmul", (
            "numpy rejects %s %s for %s" % (a.shape, b.shape, op))
        if op == "matmul":
            if want.ok:
                assert r.value.shape == want.value.shape
        else:
            # mixed precision promotes to float64; float32 keeps float32
            rtol = tol(r.value.dtype, "special")["rtol"]
            if a.dtype.itemsize == 4 or b.dtype.itemsize == 4:
                a32 = np.asarray(a, np.float64).astype(r.value.dtype)
                b32 = np.asarray(b, np.float64).astype(r.value.dtype)
                want = numpy_outcome(lambda: fn(a32, b32))
                if op == "pow":
                    want.value = np.where(np.isneginf(a32) & (b32 == 0.5),
                                          np.inf, want.value)
            same_as_numpy(r.value, want.value, rtol=rtol, err=op)
        _check_backward(r.value, [ta, tb])
    else:
        # a shape numpy accepts must not be rejected
        assert not want.ok, (op, a.shape, b.shape, r.error)
    _alive()


def _ops_taking_a_value(t):
    """Calls (name, fn(value)) that put an arbitrary value somewhere an
    operand, shape, axis, parameter or label is expected."""
    return [
        ("t + v", lambda v: t + v), ("v + t", lambda v: v + t),
        ("t - v", lambda v: t - v), ("v / t", lambda v: v / t),
        ("t * v", lambda v: t * v), ("t ** v", lambda v: t ** v),
        ("v ** t", lambda v: v ** t), ("t @ v", lambda v: t @ v),
        ("v @ t", lambda v: v @ t),
        ("add", lambda v: ad.add(v, t)), ("maximum", lambda v: ad.maximum(t, v)),
        ("minimum", lambda v: ad.minimum(v, t)),
        ("where cond", lambda v: ad.where(v, t, t)),
        ("where x", lambda v: ad.where(True, v, t)),
        ("where y", lambda v: ad.where(False, t, v)),
        ("exp", lambda v: ad.exp(v)), ("relu", lambda v: ad.relu(v)),
        ("softmax", lambda v: ad.softmax(v)),
        ("softmax axis", lambda v: ad.softmax(t, v)),
        ("log_softmax dim", lambda v: ad.log_softmax(t, dim=v)),
        ("sum axis", lambda v: ad.sum(t, axis=v)),
        ("mean axis keepdims", lambda v: t.mean(v, keepdims=True)),
        ("max dim", lambda v: t.amax(dim=v)),
        ("var ddof", lambda v: ad.var(t, ddof=v)),
        ("std axis", lambda v: ad.std(t, v)),
        ("reshape", lambda v: ad.reshape(t, v)),
        ("reshape *", lambda v: t.reshape(v, -1)),
        ("view", lambda v: t.view(v)),
        ("permute", lambda v: ad.permute(t, v)),
        ("permute *", lambda v: t.permute(v, 0)),
        ("transpose", lambda v: ad.transpose(t, v)),
        ("swapaxes", lambda v: ad.swapaxes(t, 0, v)),
        ("expand_dims", lambda v: ad.expand_dims(t, v)),
        ("squeeze", lambda v: ad.squeeze(t, v)),
        ("broadcast_to", lambda v: ad.broadcast_to(t, v)),
        ("concatenate", lambda v: ad.concatenate([t, v])),
        ("concatenate list", lambda v: ad.concatenate(v)),
        ("concatenate axis", lambda v: ad.concatenate([t, t], v)),
        ("stack", lambda v: ad.stack([t, v])),
        ("stack list", lambda v: ad.stack(v)),
        ("stack axis", lambda v: ad.stack([t, t], axis=v)),
        ("getitem", lambda v: t[v]), ("getitem tuple", lambda v: t[v, 0]),
        ("matmul", lambda v: ad.matmul(t, v)),
        ("linear w", lambda v: ad.linear(t, v)),
        ("linear b", lambda v: ad.linear(t, ad.ones((2, t.shape[-1] if
                                                    t.ndim else 1)), v)),
        ("leaky_relu", lambda v: ad.leaky_relu(t, v)),
        ("elu", lambda v: ad.elu(t, alpha=v)),
        ("softplus beta", lambda v: ad.softplus(t, beta=v)),
        ("softplus threshold", lambda v: ad.softplus(t, threshold=v)),
        ("clip", lambda v: ad.clip(t, v, None)), ("clamp", lambda v:
                                                  ad.clamp(t, max=v)),
        ("mse", lambda v: ad.mse_loss(t, v)),
        ("mse reduction", lambda v: ad.mse_loss(t, t, reduction=v)),
        ("l1", lambda v: ad.l1_loss(v, t)),
        ("bce", lambda v: ad.binary_cross_entropy(t, v)),
        ("bce input", lambda v: ad.binary_cross_entropy(v, t)),
        ("bce logits", lambda v: ad.binary_cross_entropy_with_logits(t, v)),
        ("cross_entropy", lambda v: ad.cross_entropy(t, v)),
        ("cross_entropy input", lambda v: ad.cross_entropy(v, [0])),
        ("cross_entropy ignore", lambda v: ad.cross_entropy(
            t, np.zeros(len(t) if t.ndim else 1, int), ignore_index=v)),
        ("nll_loss", lambda v: ad.nll_loss(t, v)),
        ("nll reduction", lambda v: ad.nll_loss(
            t, np.zeros(len(t) if t.ndim else 1, int), reduction=v)),
        ("tensor", lambda v: ad.tensor(v)),
        ("tensor dtype", lambda v: ad.tensor([1.0], dtype=v)),
        ("tensor float64", lambda v: ad.tensor(v, dtype=ad.float64)),
        ("from_numpy", lambda v: ad.from_numpy(v)),
        ("zeros", lambda v: ad.zeros(v)), ("ones dtype", lambda v:
                                           ad.ones(2, dtype=v)),
        ("full", lambda v: ad.full(v, 1.0)), ("full value", lambda v:
                                              ad.full((2,), v)),
        ("zeros_like", lambda v: ad.zeros_like(v)),
        ("full_like", lambda v: ad.full_like(t, v)),
        ("arange", lambda v: ad.arange(v)), ("arange step", lambda v:
                                             ad.arange(0, 3, v)),
        ("linspace", lambda v: ad.linspace(0, 1, v)),
        ("eye", lambda v: ad.eye(v)), ("randn", lambda v: ad.randn(v)),
        ("rand seed", lambda v: ad.rand(2, seed=v)),
        ("astype", lambda v: t.astype(v)), ("to", lambda v: t.to(v)),
        ("add_", lambda v: t.detach().clone().add_(v)),
        ("copy_", lambda v: t.detach().clone().copy_(v)),
        ("fill_", lambda v: t.detach().clone().fill_(v)),
        ("grad =", lambda v: setattr(t.detach().clone().requires_grad_(),
                                     "grad", v)),
        ("backward grad", lambda v: (t * 2.0).backward(v)),
        ("autograd.grad inputs", lambda v: ad.autograd.grad(
            (t * 2.0).sum(), v)),
        ("autograd.grad outputs", lambda v: ad.autograd.grad(v, [t])),
        ("grad_outputs", lambda v: ad.autograd.grad(
            [t * 2.0], [t], grad_outputs=[v])),
        ("compare", lambda v: t < v), ("eq", lambda v: t == v),
        ("compile", lambda v: [_COMPILED(v), _COMPILED(v)]),
        ("compile with t", lambda v: [_COMPILED2(t, v), _COMPILED2(t, v)]),
    ]


# Recorded on the first call with each argument signature, replayed after.
_COMPILED = ad.compile(lambda a: ad.sum(ad.multiply(a, 2.0)))
_COMPILED2 = ad.compile(lambda a, b: ad.where(True, a, b).sum())


@pytest.mark.slow
@fuzz_settings(2000)
@given(data=st.data())
def test_fuzz_junk_anywhere_raises_documented_errors(data):
    """Any value in any argument: success or a documented exception
    with a message, never a crash, leak or foreign exception."""
    t = _rand_tensor(data.draw, rg=True)
    calls = _ops_taking_a_value(t)
    name, fn = data.draw(st.sampled_from(calls), label="call")
    if data.draw(st.booleans()):
        vname, v = data.draw(junk(), label="junk")
    else:
        vname, v = "array", data.draw(special_arrays())
    note("%s(%s)" % (name, vname))
    r = attempt(lambda: fn(v), extra=_extra(vname))
    if r.ok and isinstance(r.value, ad.Tensor):
        _check_backward(r.value, [t, v])
    _alive()


@st.composite
def axis_args(draw, ndim):
    """Axes: in range, out of range, negative, huge, duplicated, tuples,
    lists, numpy ints."""
    one = st.one_of(st.integers(-ndim - 2, ndim + 1),
                    st.sampled_from([2 ** 31, -(2 ** 31) - 1, 2 ** 63,
                                     2 ** 70, -(2 ** 70)]),
                    st.integers(-ndim - 1, ndim).map(np.int64))
    return draw(st.one_of(st.none(), one,
                          st.lists(one, max_size=4).map(tuple)))


@st.composite
def shape_args(draw, size):
    """Shapes for reshape/broadcast_to: mostly plausible, some with -1,
    zeros, negatives or absurd sizes."""
    kind = draw(st.sampled_from(["factor", "random", "absurd"]))
    if kind == "absurd":
        return draw(st.sampled_from([(2 ** 40, 2 ** 40), (2 ** 62, 4),
                                     (2 ** 63,), (-(2 ** 63), 1), (2 ** 70,),
                                     (2 ** 31, 2 ** 31, 0), (-2, -3),
                                     (3, -1, -1), (0, -1), (-1,) * 9]))
    if kind == "factor" and size > 0:
        out, n = [], size
        for p in (2, 3, 5, 7):
            while n % p == 0:
                out.append(p)
                n //= p
        if n > 1:
            out.append(n)
        out = draw(st.permutations(out)) if out else []
        if out and draw(st.booleans()):
            out[draw(st.integers(0, len(out) - 1))] = -1
        return tuple(out)
    return tuple(draw(st.lists(st.integers(-1, 5), max_size=5)))


SHAPE_OPS = {
    "reshape": (lambda t, a: ad.reshape(t, a), lambda x, a: x.reshape(a)),
    "broadcast_to": (lambda t, a: ad.broadcast_to(t, a),
                     lambda x, a: np.broadcast_to(x, a)),
    "sum": (lambda t, a: ad.sum(t, a), lambda x, a: np.sum(x, a)),
    "mean": (lambda t, a: ad.mean(t, a, keepdims=True),
             lambda x, a: np.mean(x, a, keepdims=True)),
    "max": (lambda t, a: ad.amax(t, a), lambda x, a: np.max(x, a)),
    "min": (lambda t, a: t.amin(a, keepdims=True),
            lambda x, a: np.min(x, a, keepdims=True)),
    "var": (lambda t, a: ad.var(t, a), lambda x, a: np.var(x, a)),
    "std": (lambda t, a: ad.std(t, a, ddof=1),
            lambda x, a: np.std(x, a, ddof=1)),
    "permute": (lambda t, a: ad.permute(t, a),
                lambda x, a: np.transpose(x, a)),
    "squeeze": (lambda t, a: ad.squeeze(t, a),
                lambda x, a: np.squeeze(x, a)),
    "expand_dims": (lambda t, a: ad.expand_dims(t, a),
                    lambda x, a: np.expand_dims(x, a)),
    "softmax": (lambda t, a: ad.softmax(t, a), None),
    "concatenate": (lambda t, a: ad.concatenate([t, t], a),
                    lambda x, a: np.concatenate([x, x], a)),
    "stack": (lambda t, a: ad.stack([t, t, t], a),
              lambda x, a: np.stack([x, x, x], a)),
}
AXIS_OPS = {"sum", "mean", "max", "min", "var", "std", "squeeze",
            "expand_dims", "softmax", "concatenate", "stack"}


@fuzz_settings(1500)
@given(x=special_arrays(), op=st.sampled_from(sorted(SHAPE_OPS)),
       data=st.data())
def test_fuzz_shapes_and_axes_agree_with_numpy(x, op, data):
    """Random shapes (0-size too) and random, often invalid, axes and
    target shapes: a documented exception, or numpy's result."""
    fa, fn = SHAPE_OPS[op]
    if op in AXIS_OPS:
        arg = data.draw(axis_args(x.ndim), label="axis")
    elif op == "permute":
        arg = tuple(data.draw(st.one_of(
            st.permutations(range(x.ndim)),
            st.lists(st.integers(-x.ndim - 1, x.ndim), max_size=5))))
    else:
        arg = data.draw(shape_args(x.size), label="shape")
    t = ad.tensor(np.array(x), requires_grad=data.draw(st.booleans()))
    if op == "softmax" and not isinstance(arg, (int, np.integer)):
        arg = 0 if arg is None else arg
    r = attempt(lambda: fa(t, arg))
    if fn is None:
        want = Outcome(value=None)
    else:
        want = numpy_outcome(lambda: fn(np.asarray(x, np.float64), arg))
    if r.ok:
        assert isinstance(r.value, ad.Tensor)
        if want.ok and want.value is not None:
            rtol = 1e-5 if x.dtype.itemsize == 4 else 1e-9
            if op in ("mean", "var", "std"):
                rtol = 1e-4 if x.dtype.itemsize == 4 else 1e-7
            if op in ("sum", "mean", "var", "std"):
                # sums of huge values overflow differently in float32
                fin = np.isfinite(np.asarray(x, np.float64))
                if not fin.all() or np.abs(x[fin]).max(initial=0) > 1e30:
                    assert r.value.shape == want.value.shape
                    _check_backward(r.value, [t])
                    return
            atol = rounding_atol(x, x.dtype, 2 if op == "var" else 1)
            if op in ("var", "std"):
                # squares of tiny deviations underflow in float32
                tiny = np.finfo(x.dtype).tiny * 16
                atol += tiny if op == "var" else np.sqrt(tiny)
            same_as_numpy(r.value, want.value.astype(np.float64),
                          rtol=rtol, err=op, atol=atol)
        _check_backward(r.value, [t])
    else:
        # what numpy can do (within the engine's 8 dimensions and 2**40
        # elements), the engine can do
        # numpy features the engine does not offer: concatenate(axis=None)
        # (a flattening join), expand_dims with a tuple of axes, and axis
        # 0 of a 0-d array (test_bad_input requires an error there)
        if op == "concatenate" and arg is None or \
                op == "expand_dims" and not isinstance(
                    arg, (int, np.integer)) or \
                x.ndim == 0 and op in AXIS_OPS or \
                op == "reshape" and any(d < -1 for d in arg):
            # (numpy takes any negative size as -1; the engine only -1)
            return
        if want.ok and want.value is not None and \
                want.value.ndim <= 8 and want.value.size < 2 ** 40:
            raise AssertionError("numpy computes %s(%s, %r) but the engine "
                                 "raised %s" % (op, x.shape, arg,
                                                r.error.__name__))
    _alive()


@st.composite
def index_keys(draw, shape):
    """numpy index keys, valid or not: ints (in and out of range, huge),
    slices (any start/stop/step, step 0), None, Ellipsis (once or
    twice), integer arrays/lists/tensors, boolean masks of right and
    wrong shapes, floats and strings."""
    def part():
        d = draw(st.integers(-1, 4))
        n = shape[d] if 0 <= d < len(shape) else 3
        return draw(st.one_of(
            st.integers(-n - 2, n + 1),
            st.sampled_from([2 ** 63 - 1, -(2 ** 63), 2 ** 70]),
            st.builds(slice, st.none() | st.integers(-6, 6),
                      st.none() | st.integers(-6, 6),
                      st.none() | st.integers(-3, 3)),
            st.just(None), st.just(Ellipsis),
            st.lists(st.integers(-n - 1, n), max_size=4).map(np.array),
            st.lists(st.integers(-n, max(n - 1, 0)), max_size=4),
            st.lists(st.booleans(), min_size=max(n - 1, 0),
                     max_size=n + 1).map(lambda b: np.array(b, bool)),
            st.lists(st.integers(-n, max(n - 1, 0)), max_size=3).map(
                lambda v: ad.tensor(np.array(v, np.float64))),
            st.sampled_from([1.5, "a", np.array([0.5]),
                             np.array([[0, 1], [1, 0]]),
                             np.zeros(0, np.int64), np.array(1)]),
        ))
    kind = draw(st.sampled_from(["one", "tuple", "mask"]))
    if kind == "one":
        return part()
    if kind == "mask":
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        sh = list(shape)
        if sh and draw(st.booleans()):
            sh[draw(st.integers(0, len(sh) - 1))] += draw(
                st.sampled_from([-1, 1]))
        return rng.random(tuple(max(s, 0) for s in sh)) < 0.5
    return tuple(part() for _ in range(draw(st.integers(0, 4))))


def _np_key(k):
    if isinstance(k, tuple):
        return tuple(_np_key(p) for p in k)
    if isinstance(k, ad.Tensor):
        return k.numpy().astype(np.int64)
    return k


def _is_int(k):
    if isinstance(k, (bool, np.bool_)):
        return False
    return isinstance(k, (int, np.integer)) or (
        isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu")


def _torch_order(a, key):
    """a[key] by torch's rule where it differs from numpy's: integers are
    selects applied first (np.take along their axes, last axis first), and
    the rest of the key indexes what remains with numpy's rules -- so
    x[1, :, [0, 1]] is (3, 2) for x of shape (2, 3, 4), not (2, 3)."""
    parts = key if isinstance(key, tuple) else (key,)
    if not any(_is_int(k) for k in parts) or not any(
            isinstance(k, (list, np.ndarray)) and not _is_int(k)
            for k in parts):
        return a[key]
    width = [0 if k is None or k is Ellipsis else
             (np.ndim(k) if np.asarray(k).dtype == np.bool_ and
              not isinstance(k, (int, np.integer)) else 1) for k in parts]
    ax, selects = 0, []
    for k, w in zip(parts, width):
        if k is Ellipsis:
            ax += a.ndim - sum(width)
        elif _is_int(k):
            selects.append((ax, int(k)))
        ax += w
    for axis, i in sorted(selects, reverse=True):
        a = np.take(a, i, axis=axis)
    return a[tuple(k for k in parts if not _is_int(k))]


@pytest.mark.slow
@fuzz_settings(1500)
@given(x=special_arrays(), data=st.data())
def test_fuzz_getitem_agrees_with_numpy(x, data):
    """numpy's semantics, except where torch's differ (integers select
    first: _torch_order)."""
    key = data.draw(index_keys(x.shape), label="key")
    t = ad.tensor(np.array(x), requires_grad=True)
    r = attempt(lambda: t[key])
    want = numpy_outcome(lambda: _torch_order(np.asarray(x, np.float64),
                                              _np_key(key)))
    if r.ok:
        assert want.ok, "numpy rejects key %r for shape %s" % (key, x.shape)
        same_as_numpy(r.value, want.value, rtol=0, err=repr(key))
        w = np.random.default_rng(0).standard_normal(r.value.shape)
        r.value.backward(ad.tensor(w, dtype=r.value.dtype))
        # the gradient scatters (and accumulates) w back
        expected = np.zeros(x.shape)
        flat = _torch_order(np.arange(x.size).reshape(x.shape),
                            _np_key(key))
        np.add.at(expected.reshape(-1), np.asarray(flat).reshape(-1),
                  w.reshape(-1))
        np.testing.assert_allclose(t.grad.numpy(), expected,
                                   rtol=1e-5 if x.dtype.itemsize == 4
                                   else 1e-12, atol=1e-300)
    else:
        assert not want.ok or want.value.ndim > 8, (
            "numpy indexes shape %s with %r, the engine raised %s"
            % (x.shape, key, r.error.__name__))
        assert r.error is not RuntimeError
    _alive()


@fuzz_settings(800)
@given(data=st.data(), name=st.sampled_from(["cross_entropy", "nll_loss"]))
def test_fuzz_class_labels(data, name):
    """Labels of any count, dtype, range or form, on inputs of any shape;
    out-of-range labels are an IndexError, everything valid matches
    numpy."""
    f = getattr(ad, name)
    shape = data.draw(st.sampled_from([(4, 3), (1, 1), (3,), (0, 3), (2, 0),
                                       (2, 3, 2), (), (5, 1)]))
    x = data.draw(special_arrays(shape=shape))
    t = ad.tensor(np.array(x), requires_grad=True)
    n = shape[0] if len(shape) == 2 else 1
    c = shape[-1] if shape else 1
    labels = data.draw(st.one_of(
        st.lists(st.integers(-1, c), min_size=n, max_size=n).map(np.array),
        st.lists(st.integers(-3, c + 2), max_size=6).map(np.array),
        st.lists(st.integers(0, max(c - 1, 0)), min_size=n, max_size=n).map(
            lambda v: np.array(v, data.draw(st.sampled_from(
                [np.int64, np.int32, np.uint8, np.float64, np.float32,
                 np.int16, bool])))),
        st.integers(-2, c + 1), st.sampled_from([2 ** 63, 2 ** 70, -100]),
        st.just(np.full(n, 0.5)), st.just(np.zeros((n, 2), np.int64)),
        st.just(np.full((n, c), 1.0 / max(c, 1))), st.just(["a"] * n),
        st.just(np.array([np.nan] * n)), st.just([2 ** 70] * n)))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none", "avg"]))
    ignore = data.draw(st.sampled_from([-100, 0, 1, 2 ** 63, -(2 ** 63)]))
    note("%s%s labels=%r reduction=%s ignore=%r"
         % (name, shape, labels, reduction, ignore))
    r = attempt(lambda: f(t, labels, reduction=reduction,
                          ignore_index=ignore))
    if not r.ok:
        return
    out = r.value
    lab = np.asarray(labels)
    if lab.dtype.kind in "iub" and lab.ndim <= 1 and len(shape) in (1, 2) \
            and c > 0 \
            and np.all(np.isfinite(x)) and np.abs(x).max(initial=0) < 1e30:
        # a valid call: compare with numpy
        from refs import np_class_loss
        x64 = np.asarray(x, np.float64)
        lab = lab.astype(np.int64)
        lab = lab.reshape(-1)[0] if len(shape) == 1 else lab.reshape(-1)
        with np.errstate(all="ignore"):
            want = np_class_loss(x64, lab, reduction, ignore,
                                 name == "cross_entropy")
        same_as_numpy(out, want, rtol=1e-4 if x.dtype.itemsize == 4
                      else 1e-9, atol=rounding_atol(x, x.dtype))
    _check_backward(out, [t])
    _alive()


@fuzz_settings(150)
@given(make=st.sampled_from([
    lambda: ad.zeros(2 ** 41), lambda: ad.zeros((2 ** 40, 2 ** 40)),
    lambda: ad.ones((2 ** 31, 2 ** 31, 4), dtype=ad.float64),
    lambda: ad.full((10 ** 8, 10 ** 8), 1.0), lambda: ad.zeros(2 ** 70),
    lambda: ad.zeros((2 ** 62, 2 ** 62, 0)),
    lambda: ad.broadcast_to(ad.zeros(1), (2 ** 30, 2 ** 30, 2 ** 4)),
    lambda: ad.broadcast_to(ad.zeros((0,)), (2 ** 62, 2 ** 62, 0)),
    lambda: ad.zeros((10 ** 6, 1)) @ ad.zeros((1, 10 ** 7)),
    lambda: ad.zeros((2 ** 21, 1, 1)) @ ad.zeros((1, 2 ** 20)),
    lambda: ad.linear(ad.zeros((2 ** 21, 1)), ad.zeros((2 ** 21, 1))),
    lambda: ad.tensor(np.zeros(1)).reshape(1, 2 ** 40, 2 ** 40),
    lambda: ad.zeros((2 ** 21, 1)) + ad.zeros((1, 2 ** 21)),
    lambda: ad.where(np.ones((2 ** 21, 1), bool), ad.zeros((1, 2 ** 21)),
                     0.0),
    lambda: ad.maximum(ad.zeros((2 ** 21, 1, 1)), ad.zeros((2 ** 21, 1))),
    lambda: ad.expand_dims(ad.zeros((2 ** 21, 1)), 1) * ad.zeros(2 ** 21),
    lambda: ad.tensor(np.broadcast_to(np.zeros(1), (2 ** 21, 2 ** 21))),
    lambda: ad.randn(2 ** 21, 2 ** 21), lambda: ad.eye(2 ** 21),
    lambda: ad.arange(0, 1e300), lambda: ad.linspace(0, 1, 2 ** 62),
    lambda: ad.concatenate([ad.zeros((2 ** 20, 1)).broadcast_to(
        (2 ** 20, 2 ** 21))] * 2),
    lambda: ad.stack([ad.zeros(1).broadcast_to((2 ** 21, 2 ** 21))] * 2),
    lambda: ad.zeros((2 ** 21, 1)).broadcast_to((2 ** 21, 2 ** 21)).sum(),
    lambda: ad.softmax(ad.zeros((1, 1)).broadcast_to((2 ** 21, 2 ** 21))),
    lambda: ad.cross_entropy(ad.zeros((1, 1)).broadcast_to(
        (2 ** 21, 2 ** 21)), np.zeros(2 ** 21, np.int64)),
    lambda: ad.mse_loss(ad.zeros(1).broadcast_to((2 ** 21, 2 ** 21)),
                        ad.zeros(1).broadcast_to((2 ** 21, 2 ** 21))),
    lambda: ad.zeros(1).broadcast_to((2 ** 21, 2 ** 21))[::2, ::2],
    lambda: ad.zeros(1).broadcast_to((2 ** 21, 2 ** 21)).permute(1, 0),
]), rg=st.booleans())
def test_fuzz_absurd_sizes(make, rg):
    """Anything that would need more than 2**40 elements fails fast with
    MemoryError or ValueError (never tries, never crashes)."""
    r = attempt(make)
    assert not r.ok and issubclass(r.error, (MemoryError, ValueError)), \
        r.error
    _alive()


@fuzz_settings(600)
@given(data=st.data())
def test_fuzz_backward_misuse(data):
    """backward()/autograd.grad in odd states: twice, on non-scalars,
    after the graph is freed, through no_grad, with odd seeds."""
    shape = data.draw(shapes(max_ndim=3))
    x = ad.tensor(np.array(data.draw(special_arrays(shape=shape))),
                  requires_grad=data.draw(st.booleans()))
    steps = data.draw(st.lists(st.sampled_from([
        "y=x*2", "y=exp", "y=sum", "y=detach", "y=nograd", "backward",
        "backward ones", "backward retain", "backward wrong", "grad",
        "grad create", "zero grad", "x.grad=None", "requires_grad_",
        "retain_grad", "item", "numpy"]), min_size=1, max_size=8))
    note(repr(steps))
    y = x

    def failing_backward_keeps_leaf_grad(fn):
        # A failed backward may already have written the .grad of
        # intermediate tensors that retain_grad() (so no leak check),
        # but it leaves the leaves' .grad untouched.
        before = None if x.grad is None else x.grad.numpy().copy()
        r = attempt(fn, check_leaks=False)
        if not r.ok:
            if before is None:
                assert x.grad is None
            else:
                np.testing.assert_array_equal(x.grad.numpy(), before)
        return r

    for s in steps:
        if s == "y=x*2":
            y = x * 2.0
        elif s == "y=exp":
            y = ad.exp(y)
        elif s == "y=sum":
            y = y.sum()
        elif s == "y=detach":
            y = y.detach()
        elif s == "y=nograd":
            with ad.no_grad():
                y = y * 3.0
        elif s == "backward":
            failing_backward_keeps_leaf_grad(lambda: y.backward())
        elif s == "backward ones":
            failing_backward_keeps_leaf_grad(
                lambda: y.backward(ad.ones(y.shape, dtype=y.dtype)))
        elif s == "backward retain":
            failing_backward_keeps_leaf_grad(
                lambda: y.backward(np.ones(y.shape), retain_graph=True))
        elif s == "backward wrong":
            failing_backward_keeps_leaf_grad(
                lambda: y.backward(np.ones(y.shape + (2,))))
        elif s == "grad":
            attempt(lambda: ad.autograd.grad(y, [x]))
        elif s == "grad create":
            attempt(lambda: ad.autograd.grad(
                y, [x], grad_outputs=[np.ones(y.shape)], create_graph=True))
        elif s == "zero grad":
            if x.grad is not None:
                x.grad.zero_()
        elif s == "x.grad=None":
            x.grad = None
        elif s == "requires_grad_":
            attempt(lambda: y.requires_grad_(True))
        elif s == "retain_grad":
            attempt(lambda: y.retain_grad())
        elif s == "item":
            attempt(lambda: y.item())
        else:
            y.numpy()
    if x.grad is not None:
        assert x.grad.shape == x.shape
    _alive()


# ======================================== compiled replay against eager

ACTIVATIONS = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU, "selu": nn.SELU, "softplus": nn.Softplus,
    "identity": nn.Identity, "hardtanh": nn.Hardtanh, "relu6": nn.ReLU6,
    "hardsigmoid": nn.Hardsigmoid, "hardswish": nn.Hardswish,
    "mish": nn.Mish, "logsigmoid": nn.LogSigmoid, "softsign": nn.Softsign,
    "tanhshrink": nn.Tanhshrink, "celu": nn.CELU,
}


@st.composite
def optimizer_configs(draw):
    name = draw(st.sampled_from(["sgd", "sgd", "adam", "adamw", "rmsprop"]))
    lr = draw(st.sampled_from([0.1, 0.05, 1e-2, 1e-3]))
    wd = draw(st.sampled_from([0.0, 0.0, 1e-3, 1e-2]))
    if name == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
        nesterov = momentum > 0 and draw(st.booleans())
        dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.1]))
        return name, optim.SGD, dict(lr=lr, momentum=momentum,
                                     nesterov=nesterov, dampening=dampening,
                                     weight_decay=wd)
    if name in ("adam", "adamw"):
        return name, optim.Adam if name == "adam" else optim.AdamW, dict(
            lr=lr, betas=draw(st.sampled_from([(0.9, 0.999), (0.5, 0.9),
                                               (0.0, 0.99)])),
            eps=draw(st.sampled_from([1e-8, 1e-6])), weight_decay=wd,
            amsgrad=draw(st.booleans()))
    return name, optim.RMSprop, dict(
        lr=lr, alpha=draw(st.sampled_from([0.99, 0.9])),
        eps=draw(st.sampled_from([1e-8, 1e-6])), weight_decay=wd,
        momentum=draw(st.sampled_from([0.0, 0.5])),
        centered=draw(st.booleans()))


def _network(sizes, acts, dtype, seed):
    ad.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, dtype=dtype))
        if i < len(acts):
            layers.append(ACTIVATIONS[acts[i]]())
    return nn.Sequential(*layers)


@fuzz_settings(300)
@given(data=st.data(), opt=optimizer_configs(),
       dtype=st.sampled_from(DTYPES),
       loss_name=st.sampled_from(["mse", "cross_entropy"]),
       hidden=st.lists(st.integers(1, 8), min_size=1, max_size=3),
       n_in=st.integers(1, 6), n_out=st.integers(1, 5),
       zero_via=st.sampled_from(["optimizer", "module"]),
       seed=st.integers(0, 2 ** 31 - 1))
def test_fuzz_compiled_training_is_bit_for_bit_eager(
        data, opt, dtype, loss_name, hidden, n_in, n_out, zero_via, seed):
    """Random MLPs, activations, losses and optimizers: ad.compile's
    replayed steps equal eager steps exactly (losses and parameters),
    also with a few eager steps first, several batch sizes (several
    recordings) and zero_grad(set_to_none=...) varying between them."""
    acts = data.draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)),
                              min_size=len(hidden), max_size=len(hidden)))
    sizes = [n_in] + hidden + [n_out]
    m1 = _network(sizes, acts, dtype, seed)
    m2 = _network(sizes, acts, dtype, seed + 1)     # other init...
    m2.load_state_dict(m1.state_dict())             # ...then the same
    for (_, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(a.numpy(), b.numpy())
    name, cls, kw = opt
    o1 = cls(list(m1.parameters()), **kw)
    o2 = cls(list(m2.parameters()), **kw)
    note("%s %s %s %s %r" % (sizes, acts, loss_name, name, kw))

    def step_fn(model, optimizer, xb, yb, set_to_none):
        out = model(xb)
        if loss_name == "mse":
            loss = nn.functional.mse_loss(out, yb)
        else:
            loss = nn.functional.cross_entropy(out, yb)
        zeroer = optimizer if zero_via == "optimizer" else model
        zeroer.zero_grad(set_to_none=set_to_none)
        loss.backward()
        optimizer.step()
        return loss

    step = ad.compile(step_fn)
    rng = np.random.default_rng(seed)
    batch_sizes = data.draw(st.lists(st.integers(1, 8), min_size=1,
                                     max_size=2, unique=True))
    warmup = data.draw(st.integers(0, 2))
    n_steps = data.draw(st.integers(2, 6))
    recorded = set()
    for i in range(warmup + n_steps):
        b = batch_sizes[i % len(batch_sizes)]
        set_to_none = data.draw(st.booleans())
        X = (rng.standard_normal((b, n_in)) * 2).astype(dtype)
        if loss_name == "mse":
            Y = rng.standard_normal((b, n_out)).astype(dtype)
            y_eager = ad.tensor(Y)
        else:
            Y = rng.integers(0, n_out, b)
            y_eager = Y
        l1 = step_fn(m1, o1, ad.tensor(X), y_eager, set_to_none)
        if i < warmup:
            l2 = step_fn(m2, o2, ad.tensor(X), y_eager, set_to_none)
        else:
            l2 = step(m2, o2, X, Y, set_to_none)
            recorded.add((b, set_to_none))
        assert l2.dtype == l1.dtype == np.dtype(dtype)
        v1, v2 = l1.item(), l2.item()
        assert v1 == v2 or (np.isnan(v1) and np.isnan(v2)), (i, v1, v2)
        for (n, a), (_, c) in zip(m1.named_parameters(),
                                  m2.named_parameters()):
            assert np.array_equal(a.numpy(), c.numpy(), equal_nan=True), (
                "step %d: parameter %s differs" % (i, n))
    assert step.recordings == len(recorded)


# ============================== regressions found by the tests above

def test_fuzz_regressions_matmul_and_indexing_with_empty_dims():
    # (n, k) @ (0, k, m) read k*m values from the empty operand: the
    # batch broadcast took max(1, 0) = 1 (a segfault for large k*m).
    x = ad.ones((300, 300), dtype=ad.float64, requires_grad=True)
    y = ad.ones((0, 300, 300), dtype=ad.float64, requires_grad=True)
    z = x @ y
    assert z.shape == (0, 300, 300)
    z.sum().backward()
    assert np.all(x.grad.numpy() == 0) and y.grad.shape == (0, 300, 300)
    assert (ad.ones((0, 2, 3)) @ ad.ones((1, 3, 4))).shape == (0, 2, 4)
    # a 0 inner dimension with batch dims: reshape(-1, 0) was ambiguous
    assert (ad.zeros((0, 0, 0)) @ ad.zeros((0, 0))).shape == (0, 0, 0)
    out = ad.zeros((2, 3, 0)) @ ad.zeros((0, 4))
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3, 4)))
    out = ad.linear(ad.zeros((2, 3, 0)), ad.zeros((4, 0)), ad.ones(4))
    np.testing.assert_array_equal(out.numpy(), np.ones((2, 3, 4)))
    # an empty list indexes like an empty integer array (as in numpy)
    assert ad.zeros((3, 2))[[]].shape == (0, 2)


def test_fuzz_regressions_matrix_seed_does_not_crash():
    # numpy's SeedSequence recursed on np.matrix seeds until the C stack
    # overflowed (a segfault); the engine passes plain arrays on
    m = np.asarray([[1, 2]]).view(np.matrix)
    np.testing.assert_array_equal(ad.rand(3, seed=m).numpy(),
                                  ad.rand(3, seed=np.array([[1, 2]])).numpy())
    with pytest.raises(TypeError):
        ad.randn(2, seed=np.asarray([[1.5]]).view(np.matrix))


@pytest.mark.parametrize("call,exc", [
    (lambda: ad.zeros(2 ** 70), ValueError),
    (lambda: ad.ones((3,)).reshape(2 ** 70), ValueError),
    (lambda: ad.broadcast_to(ad.ones(3), (2 ** 70, 3)), ValueError),
    (lambda: ad.ones((2, 3)).permute(0, 2 ** 70), ValueError),
    (lambda: ad.cross_entropy(ad.ones((2, 3)), [0, 1],
                              ignore_index=2 ** 70), ValueError),
    (lambda: ad.softmax(ad.ones((2, 3)), 1.5), TypeError),
    (lambda: ad.log_softmax(ad.ones((2, 3)), "a"), TypeError),
    (lambda: ad.ones((2, 3)).permute(0, float("inf")), TypeError),
    (lambda: ad.swapaxes(ad.ones((2, 3)), 0, 1.0), TypeError),
    (lambda: ad.expand_dims(ad.ones((2, 3)), float("nan")), TypeError),
    (lambda: ad.squeeze(ad.ones((1, 3)), 0.0), TypeError),
    (lambda: ad.concatenate([ad.ones(2)] * 2, 0.5), TypeError),
    (lambda: ad.arange(0, 3, 0), ValueError),
    (lambda: ad.ones(3)[ad.tensor([np.inf])], IndexError),
], ids=["zeros", "reshape", "broadcast_to", "permute", "ignore_index",
        "softmax", "log_softmax", "permute inf", "swapaxes", "expand_dims",
        "squeeze", "concatenate", "arange", "tensor index inf"])
def test_fuzz_regressions_documented_exception_types(call, exc):
    # were OverflowError, ZeroDivisionError, a silently truncated axis,
    # or a misleading out-of-bounds message
    with pytest.raises(exc) as info:
        call()
    assert str(info.value)


def test_fuzz_regressions_var_ddof_beyond_count_is_inf_like_numpy():
    x = np.arange(6.0).reshape(2, 3)
    for ddof in (6, 7, 100, 2 ** 70):
        assert ad.var(ad.tensor(x), ddof=ddof).item() == np.inf
        assert ad.std(ad.tensor(x), ddof=ddof).item() == np.inf
    np.testing.assert_array_equal(
        ad.var(ad.tensor(x), axis=1, ddof=4).numpy(), [np.inf, np.inf])


@pytest.mark.parametrize("zero_via", ["optimizer", "module"])
def test_fuzz_regressions_compiled_zero_grad_keeps_grads(zero_via):
    # zero_grad(set_to_none=False) found no grad to zero while recording,
    # so replays accumulated every step's gradient
    def make():
        ad.manual_seed(0)
        m = nn.Linear(2, 1)
        return m, optim.SGD(list(m.parameters()), lr=0.1)

    def step_fn(m, o, x, y, set_to_none):
        loss = nn.functional.mse_loss(m(x), y)
        (o if zero_via == "optimizer" else m).zero_grad(
            set_to_none=set_to_none)
        loss.backward()
        o.step()
        return loss

    (m1, o1), (m2, o2) = make(), make()
    step = ad.compile(step_fn)
    rng = np.random.default_rng(0)
    for i in range(6):
        x = rng.standard_normal((3 + i % 2, 2)).astype(np.float32)
        y = rng.standard_normal((3 + i % 2, 1)).astype(np.float32)
        stn = i % 3 == 0
        l1 = step_fn(m1, o1, ad.tensor(x), ad.tensor(y), stn)
        l2 = step(m2, o2, x, y, stn)
        assert l1.item() == l2.item(), i
        assert np.array_equal(m1.weight.numpy(), m2.weight.numpy()), i
        assert np.array_equal(m1.weight.grad.numpy(),
                              m2.weight.grad.numpy()), i
