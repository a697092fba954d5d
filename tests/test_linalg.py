"""ad.linalg (autodiff/linalg.py) against torch.linalg.

Each case is a function of a namespace (autodiff or torch) and float64
inputs, returning tensors that are well defined (sign-invariant functions
of eigen- and singular vectors).  For each case: values and the gradient
of a random weighting equal torch's autograd (float64), gradcheck and
gradgradcheck pass, and under ad.compile every case -- the compositions
(einsum, tensordot, trace) and the decompositions (the engine's linalg
op over LAPACK) -- replays bit for bit, forward and gradients.  Then the
errors: singular and non positive definite matrices (also inside a
replay), shapes, einsum equations."""
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import autodiff as ad
from conftest import assert_close, needs_torch


class NS:
    """The namespace a case is written against: autodiff or torch."""

    def __init__(self, torch_mod=None):
        self.torch = torch_mod
        if torch_mod is None:
            self.m, self.linalg = ad, ad.linalg
        else:
            self.m, self.linalg = torch_mod, torch_mod.linalg

    def mt(self, x):
        return x.mT if self.torch is not None else ad.swapaxes(x, -1, -2)

    def eye(self, n, like):
        if self.torch is not None:
            return self.torch.eye(n, dtype=like.dtype)
        return ad.eye(n, dtype=like.dtype)


def _spd(ns, a):
    return a @ ns.mt(a) + a.shape[-1] * ns.eye(a.shape[-1], a)


def _cond(ns, a):          # well conditioned: diagonally dominant
    return a + 2 * a.shape[-1] * ns.eye(a.shape[-1], a)


def _eigh(ns, a, uplo="L"):
    L, V = ns.linalg.eigh(a + ns.mt(a), UPLO=uplo)
    return L, V * V, V[..., :, :1] @ ns.mt(V[..., :, :1])


def _svd(ns, a, full):
    U, S, Vh = ns.linalg.svd(a, full_matrices=full)
    k = S.shape[-1]
    U, Vh = U[..., :, :k], Vh[..., :k, :]
    return S, U * U, Vh * Vh, U[..., :, :1] @ Vh[..., :1, :]


def _qr(ns, a, mode="reduced"):
    Q, R = ns.linalg.qr(a, mode=mode)
    return Q, R


# name, fn(ns, *inputs), input shapes, compiles (replays) or raises
CASES = [
    ("einsum-mm", lambda ns, a, b: ns.m.einsum("ij,jk->ik", a, b),
     [(3, 4), (4, 5)], True),
    ("einsum-implicit", lambda ns, a, b: ns.m.einsum("ij,jk", a, b),
     [(3, 4), (4, 5)], True),
    ("einsum-implicit-order", lambda ns, a, b: ns.m.einsum("ba,b", a, b),
     [(2, 3), (2,)], True),
    ("einsum-bmm", lambda ns, a, b: ns.m.einsum("bij,bjk->bik", a, b),
     [(2, 3, 4), (2, 4, 5)], True),
    ("einsum-diag", lambda ns, a: ns.m.einsum("ii->i", a), [(4, 4)], True),
    ("einsum-trace", lambda ns, a: ns.m.einsum("ii", a), [(4, 4)], True),
    ("einsum-outer", lambda ns, a, b: ns.m.einsum("i,j->ij", a, b),
     [(3,), (4,)], True),
    ("einsum-permute", lambda ns, a: ns.m.einsum("ijk->kji", a),
     [(2, 3, 4)], True),
    ("einsum-sumall", lambda ns, a: ns.m.einsum("ij->", a), [(3, 4)], True),
    ("einsum-dot", lambda ns, a, b: ns.m.einsum("i,i->", a, b),
     [(5,), (5,)], True),
    ("einsum-hadamard", lambda ns, a, b: ns.m.einsum("ab,ab->ab", a, b),
     [(3, 4), (3, 4)], True),
    ("einsum-bilinear",
     lambda ns, a, w, b: ns.m.einsum("bn,anm,bm->ba", a, w, b),
     [(2, 3), (4, 3, 5), (2, 5)], True),
    ("einsum-three", lambda ns, a, b, c: ns.m.einsum("i,i,i->i", a, b, c),
     [(4,), (4,), (4,)], True),
    ("einsum-repeat-3", lambda ns, a: ns.m.einsum("iji->j", a),
     [(3, 2, 3)], True),
    ("einsum-broadcast-1", lambda ns, a, b: ns.m.einsum("i,i->i", a, b),
     [(3,), (1,)], True),
    ("einsum-ellipsis",
     lambda ns, a, b: ns.m.einsum("...ij,jk->...ik", a, b),
     [(2, 3, 4), (4, 5)], True),
    ("einsum-ellipsis-broadcast",
     lambda ns, a, b: ns.m.einsum("...i,...i->...", a, b),
     [(2, 1, 3), (4, 3)], True),
    ("einsum-ellipsis-sum", lambda ns, a: ns.m.einsum("...ij->ij", a),
     [(2, 3, 3)], True),
    ("einsum-ellipsis-implicit", lambda ns, a: ns.m.einsum("...ij", a),
     [(2, 3, 4)], True),
    ("einsum-spaces", lambda ns, a, b: ns.m.einsum("i j , j k -> k i",
                                                  a, b),
     [(2, 3), (3, 2)], True),
    ("einsum-list", lambda ns, a, b: ns.m.einsum("ij,j->i", [a, b]),
     [(2, 3), (3,)], True),
    ("einsum-sublist",
     lambda ns, a, b: ns.m.einsum(a, [0, 1], b, [1, 2], [0, 2]),
     [(2, 3), (3, 4)], True),
    ("einsum-sublist-ellipsis",
     lambda ns, a, b: ns.m.einsum(a, [Ellipsis, 0, 1], b, [1, 2],
                                  [Ellipsis, 0, 2]),
     [(2, 2, 3), (3, 4)], True),
    ("tensordot-2", lambda ns, a, b: ns.m.tensordot(a, b),
     [(3, 4, 5), (4, 5, 2)], True),
    ("tensordot-1", lambda ns, a, b: ns.m.tensordot(a, b, dims=1),
     [(3, 4), (4, 5)], True),
    ("tensordot-0", lambda ns, a, b: ns.m.tensordot(a, b, dims=0),
     [(2, 3), (4,)], True),
    ("tensordot-lists",
     lambda ns, a, b: ns.m.tensordot(a, b, dims=([1, 0], [0, 1])),
     [(3, 4, 5), (4, 3, 2)], True),
    ("trace", lambda ns, a: ns.m.trace(a), [(4, 4)], True),
    ("trace-rect", lambda ns, a: ns.m.trace(a), [(3, 5)], True),
    ("inv", lambda ns, a: ns.linalg.inv(_cond(ns, a)), [(4, 4)], True),
    ("inv-batched", lambda ns, a: ns.linalg.inv(_cond(ns, a)),
     [(2, 3, 3)], True),
    ("inverse", lambda ns, a: ns.m.inverse(_cond(ns, a)), [(3, 3)], True),
    ("det", lambda ns, a: ns.linalg.det(_cond(ns, a)), [(3, 3)], True),
    ("det-raw", lambda ns, a: ns.m.det(a), [(2, 4, 4)], True),
    ("slogdet", lambda ns, a: ns.linalg.slogdet(a), [(2, 3, 3)], True),
    ("solve", lambda ns, a, b: ns.linalg.solve(_cond(ns, a), b),
     [(3, 3), (3, 2)], True),
    ("solve-vector", lambda ns, a, b: ns.linalg.solve(_cond(ns, a), b),
     [(3, 3), (3,)], True),
    ("solve-batch-vector", lambda ns, a, b: ns.linalg.solve(_cond(ns, a), b),
     [(2, 3, 3), (2, 3)], True),
    ("solve-broadcast", lambda ns, a, b: ns.linalg.solve(_cond(ns, a), b),
     [(3, 3), (2, 3, 4)], True),
    ("solve-right",
     lambda ns, a, b: ns.linalg.solve(_cond(ns, a), b, left=False),
     [(3, 3), (2, 3)], True),
    ("cholesky", lambda ns, a: ns.linalg.cholesky(_spd(ns, a)),
     [(4, 4)], True),
    ("cholesky-upper-batched",
     lambda ns, a: ns.linalg.cholesky(_spd(ns, a), upper=True),
     [(2, 3, 3)], True),
    ("qr-tall", lambda ns, a: _qr(ns, a), [(5, 3)], True),
    ("qr-square", lambda ns, a: _qr(ns, a), [(4, 4)], True),
    ("qr-wide", lambda ns, a: _qr(ns, a), [(3, 5)], True),
    ("qr-batched", lambda ns, a: _qr(ns, a), [(2, 4, 3)], True),
    ("qr-complete-wide", lambda ns, a: _qr(ns, a, "complete"), [(3, 4)],
     True),
    ("eigh", lambda ns, a: _eigh(ns, a), [(4, 4)], True),
    ("eigh-upper-batched", lambda ns, a: _eigh(ns, a, "U"), [(2, 3, 3)],
     True),
    ("eigvalsh", lambda ns, a: ns.linalg.eigvalsh(a + ns.mt(a)),
     [(2, 4, 4)], True),
    ("eigvalsh-upper",
     lambda ns, a: ns.linalg.eigvalsh(a + ns.mt(a), UPLO="U"),
     [(3, 3)], True),
    ("svd-tall", lambda ns, a: _svd(ns, a, True), [(5, 3)], True),
    ("svd-wide", lambda ns, a: _svd(ns, a, True), [(3, 5)], True),
    ("svd-square-batched", lambda ns, a: _svd(ns, a, True), [(2, 3, 3)],
     True),
    ("svd-full-tall", lambda ns, a: _svd(ns, a, True), [(4, 3)], True),
    ("svd-full-wide", lambda ns, a: _svd(ns, a, True), [(2, 4)], True),
    ("svdvals", lambda ns, a: ns.linalg.svdvals(a), [(2, 4, 3)], True),
    ("pinv", lambda ns, a: ns.linalg.pinv(a), [(4, 3)], True),
]
IDS = [c[0] for c in CASES]
COMPILED = [c for c in CASES if c[3]]


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _pieces(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _fn(f):
    return lambda *xs: tuple(_pieces(f(NS(), *xs)))


@needs_torch
@pytest.mark.parametrize("name,f,shapes,compiles", CASES, ids=IDS)
def test_values_and_gradients_match_torch(name, f, shapes, compiles):
    import torch
    arrs = _arrays(shapes)
    xs = [ad.tensor(a, requires_grad=True) for a in arrs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    pa, pt = _pieces(f(NS(), *xs)), _pieces(f(NS(torch), *ts))
    assert len(pa) == len(pt)
    rng = np.random.default_rng(3)
    la, lt = 0.0, 0.0
    for a, t in zip(pa, pt):
        assert a.shape == tuple(t.shape), (a.shape, tuple(t.shape))
        assert a.dtype == ad.float64
        assert_close(a, t.detach().numpy(), kind="torch")
        if not t.requires_grad:          # slogdet's sign
            continue
        w = rng.standard_normal(a.shape)
        la = la + (a * ad.tensor(w)).sum()
        lt = lt + (t * torch.tensor(w)).sum()
    la.backward()
    gt = torch.autograd.grad(lt, ts)
    for x, g in zip(xs, gt):
        assert_close(x.grad, g.numpy(), kind="torch")


@pytest.mark.parametrize("name,f,shapes,compiles", CASES, ids=IDS)
def test_gradcheck(name, f, shapes, compiles):
    xs = tuple(ad.tensor(a, requires_grad=True) for a in _arrays(shapes))
    assert ad.gradcheck(_fn(f), xs)


@pytest.mark.parametrize("name,f,shapes,compiles", CASES, ids=IDS)
def test_gradgradcheck(name, f, shapes, compiles):
    xs = tuple(ad.tensor(a, requires_grad=True) for a in _arrays(shapes))
    # squared, so that linear ops have a second derivative too
    fn = lambda *ts: tuple(p * p for p in _fn(f)(*ts))  # noqa: E731
    assert ad.gradgradcheck(fn, xs)


def _steps(f, shapes, compiled):
    xs = [ad.tensor(a, requires_grad=True) for a in _arrays(shapes)]
    outs0 = _pieces(f(NS(), *xs))
    ws = [ad.tensor(np.random.default_rng(5).standard_normal(o.shape))
          for o in outs0]

    def step():
        for x in xs:
            x.grad = None
        outs = _pieces(f(NS(), *xs))
        loss = None
        for o, w in zip(outs, ws):
            term = (o * o * w).sum()
            loss = term if loss is None else loss + term
        loss.backward()
        return outs[0]

    fn = ad.compile(step) if compiled else step
    res = []
    for seed in (0, 1, 2):
        with ad.no_grad():
            for x, a in zip(xs, _arrays(shapes, 10 * seed + 1)):
                x.copy_(ad.tensor(a))
        y = fn()
        res.append((y.numpy().copy(), [x.grad.numpy().copy() for x in xs]))
    return res


@pytest.mark.parametrize("name,f,shapes,compiles", COMPILED,
                         ids=[c[0] for c in COMPILED])
def test_compiled_replay_is_bit_identical(name, f, shapes, compiles):
    eager = _steps(f, shapes, False)
    comp = _steps(f, shapes, True)
    for (ye, ge), (yc, gc) in zip(eager, comp):
        np.testing.assert_array_equal(ye, yc)
        for a, b in zip(ge, gc):
            np.testing.assert_array_equal(a, b)


def test_array_arguments_replay_under_compile():
    # a numpy array passed to a compiled einsum/tensordot is an input of
    # the recording: each call's values are used
    w = ad.tensor(np.random.default_rng(9).standard_normal((3, 2)),
                  requires_grad=True)

    def step(x):
        w.grad = None
        y = ad.einsum("bi,ij->bj", x, w) + ad.tensordot(x, w, dims=1)
        (y * y).sum().backward()
        return y

    f = ad.compile(step)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((4, 3))
        yc, gc = f(x).numpy().copy(), w.grad.numpy().copy()
        ye = step(x).numpy()
        np.testing.assert_array_equal(yc, ye)
        np.testing.assert_array_equal(gc, w.grad.numpy())


def test_matrix_rank_and_pinv_replay_under_compile():
    # the cutoff is computed with recorded ops: each replay decides on its
    # own input's singular values
    f = ad.compile(lambda x: ad.linalg.matrix_rank(ad.tensor(x)))
    p = ad.compile(lambda x: ad.linalg.pinv(ad.tensor(x), atol=1e-3))
    for a in (np.eye(3), np.diag([1.0, 1.0, 0.0]), np.zeros((3, 3)),
              np.diag([1.0, 1e-4, 2.0])):
        assert f(a).dtype == ad.int64
        np.testing.assert_array_equal(f(a).numpy(),
                                      ad.linalg.matrix_rank(a).numpy())
        np.testing.assert_array_equal(
            p(a).numpy(), ad.linalg.pinv(a, atol=1e-3).numpy())


def test_float32_stays_float32():
    a = np.random.default_rng(0).standard_normal((3, 3)) + 6 * np.eye(3)
    for fn in (ad.linalg.inv, ad.linalg.det, ad.linalg.cholesky,
               lambda x: ad.linalg.qr(x).R, ad.linalg.svdvals,
               lambda x: ad.linalg.eigh(x).eigenvalues,
               lambda x: ad.einsum("ij,jk->ik", x, x)):
        s = a @ a.T
        out32 = fn(ad.tensor(s.astype(np.float32)))
        out64 = fn(ad.tensor(s))
        assert out32.dtype == ad.float32
        np.testing.assert_allclose(out32.numpy(), out64.numpy(),
                                   rtol=1e-4, atol=1e-4)


@needs_torch
@pytest.mark.parametrize("name,f,shapes,compiles",
                         [c for c in CASES if c[0] in (
                             "einsum-bilinear", "tensordot-lists", "inv",
                             "solve", "det-raw", "cholesky", "qr-wide",
                             "eigh", "svd-tall", "pinv")])
def test_float32_gradients_match_torch(name, f, shapes, compiles):
    import torch
    arrs = [a.astype(np.float32) for a in _arrays(shapes)]
    xs = [ad.tensor(a, requires_grad=True) for a in arrs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    pa, pt = _pieces(f(NS(), *xs)), _pieces(f(NS(torch), *ts))
    la, lt = 0.0, 0.0
    for a, t in zip(pa, pt):
        assert a.dtype == ad.float32
        assert_close(a, t.detach().numpy(), dtype=np.float32, kind="torch")
        la, lt = la + a.sum(), lt + t.sum()
    la.backward()
    for x, g in zip(xs, torch.autograd.grad(lt, ts)):
        assert x.grad.dtype == ad.float32
        assert_close(x.grad, g.numpy(), dtype=np.float32, kind="torch")


def test_mixed_dtypes_promote_as_torch():
    f32 = ad.tensor(np.ones((2, 2), np.float32))
    f64 = ad.tensor(np.ones((2, 2)))
    i64 = ad.tensor(np.ones((2, 2), np.int64))
    assert ad.einsum("ij,jk", f32, i64).dtype == ad.float32
    assert ad.einsum("ij,jk", f32, f64).dtype == ad.float64
    assert ad.tensordot(i64, f32, dims=1).dtype == ad.float32
    assert ad.linalg.solve(f64 + ad.tensor(np.eye(2)),
                           f32).dtype == ad.float64
    with pytest.raises(TypeError, match="int64"):
        ad.einsum("ij,jk", i64, i64)      # matmul takes floats only


def test_tensor_methods_and_aliases():
    a = ad.tensor(np.random.default_rng(1).standard_normal((3, 3))
                  + 4 * np.eye(3))
    np.testing.assert_array_equal(a.det().numpy(), ad.linalg.det(a).numpy())
    np.testing.assert_array_equal(a.inverse().numpy(),
                                  ad.linalg.inv(a).numpy())
    np.testing.assert_array_equal(a.trace().numpy(), ad.trace(a).numpy())
    assert ad.inverse is ad.linalg.inv and ad.det is ad.linalg.det
    assert ad.einsum is ad.linalg.einsum
    s, l = a.slogdet()
    assert float(s) == 1.0
    np.testing.assert_allclose(float(l), np.log(abs(np.linalg.det(
        a.numpy()))), rtol=1e-12)


def test_namedtuples():
    a = ad.tensor(np.random.default_rng(2).standard_normal((4, 3)))
    r = ad.linalg.qr(a)
    assert r.Q.shape == (4, 3) and r.R.shape == (3, 3)
    r = ad.linalg.svd(a)
    assert (r.U.shape, r.S.shape, r.Vh.shape) == ((4, 4), (3,), (3, 3))
    r = ad.linalg.eigh(ad.tensor(np.eye(3)))
    assert r.eigenvalues.shape == (3,) and r.eigenvectors.shape == (3, 3)
    r = ad.linalg.slogdet(ad.tensor(-np.eye(3)))
    assert float(r.sign) == -1.0 and float(r.logabsdet) == 0.0


def test_results_are_values_of_the_factorizations():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 5, 3))
    U, S, Vh = ad.linalg.svd(ad.tensor(a), full_matrices=False)
    rec = (U.numpy() * S.numpy()[..., None, :]) @ Vh.numpy()
    np.testing.assert_allclose(rec, a, atol=1e-12)
    assert np.all(np.diff(S.numpy(), axis=-1) <= 0)       # descending
    sym = a[0, :3] + a[0, :3].T
    L, V = ad.linalg.eigh(ad.tensor(sym))
    assert np.all(np.diff(L.numpy()) > 0)                  # ascending
    np.testing.assert_allclose(V.numpy() @ np.diag(L.numpy())
                               @ V.numpy().T, sym, atol=1e-12)


HESSIAN_CASES = [
    ("logabsdet", lambda ns, a: ns.linalg.slogdet(_cond(ns, a))[1]),
    ("det", lambda ns, a: ns.linalg.det(a)),
    ("inv", lambda ns, a: (ns.linalg.inv(_cond(ns, a)) ** 2).sum()),
    ("cholesky", lambda ns, a: (ns.linalg.cholesky(_spd(ns, a)) ** 3).sum()),
    ("qr", lambda ns, a: (ns.linalg.qr(a)[1] ** 2 * a[:3, :]).sum()),
    ("eigh", lambda ns, a: sum((p * p).sum() for p in _eigh(ns, a))),
    ("svd", lambda ns, a: sum((p * p * p).sum()
                              for p in _svd(ns, a, False))),
    ("einsum", lambda ns, a: ns.m.einsum("ij,jk,ki->", a, a, a)),
]


@needs_torch
@pytest.mark.parametrize("name,f", HESSIAN_CASES,
                         ids=[c[0] for c in HESSIAN_CASES])
def test_hessian_matches_torch(name, f):
    # the whole matrix of second derivatives, through the recorded
    # backward (ad.hessian) against torch.autograd.functional.hessian
    import torch
    shape = (4, 3) if name == "qr" else (3, 3)
    a = np.random.default_rng(8).standard_normal(shape)
    got = ad.hessian(lambda x: f(NS(), x))(ad.tensor(a))
    want = torch.autograd.functional.hessian(lambda x: f(NS(torch), x),
                                             torch.tensor(a))
    assert_close(got, want.numpy(), kind="rule_torch")


@needs_torch
def test_empty_inputs_match_torch():
    import torch
    for fn, shape in (("inv", (0, 3, 3)), ("det", (0, 0)),
                      ("svdvals", (0, 2, 3)), ("det", (2, 0, 0))):
        a = np.ones(shape)
        got = getattr(ad.linalg, fn)(ad.tensor(a))
        want = getattr(torch.linalg, fn)(torch.tensor(a))
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for shapes in (((0, 3), (3, 2)), ((2, 0), (0, 2))):
        xs = [np.ones(s) for s in shapes]
        got = ad.einsum("ij,jk->ik", *[ad.tensor(x) for x in xs])
        want = torch.einsum("ij,jk->ik", *[torch.tensor(x) for x in xs])
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ------------------------------------------------- random einsum equations

@st.composite
def _einsum_case(draw):
    """1-3 operands over labels a-d (repeats within an operand allowed),
    sizes 1-3 with size-1 dims broadcasting against larger ones, an
    optional leading ellipsis, implicit or explicit output."""
    letters = "abcd"
    sizes = {l: draw(st.integers(1, 3)) for l in letters}
    n_ops = draw(st.integers(1, 3))
    use_ell = draw(st.booleans())
    ell_shape = tuple(draw(st.lists(st.integers(1, 2), max_size=2))) \
        if use_ell else ()
    terms, shapes = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(letters), min_size=0,
                               max_size=3))
        shape = [sizes[l] if draw(st.integers(0, 4)) else 1
                 for l in labels]
        for i, l in enumerate(labels):          # repeats: equal sizes
            if l in labels[:i]:
                shape[i] = shape[labels.index(l)]
        term = "".join(labels)
        if use_ell and draw(st.booleans()):
            k = draw(st.integers(0, len(ell_shape)))
            eshape = tuple(1 if draw(st.integers(0, 3)) == 0 else s
                           for s in ell_shape[len(ell_shape) - k:])
            term, shape = "..." + term, list(eshape) + shape
        terms.append(term)
        shapes.append(tuple(shape))
    eq = ",".join(terms)
    if draw(st.booleans()):
        seen = sorted({l for t in terms for l in t if l != "."})
        out = draw(st.permutations(seen))
        out = out[:draw(st.integers(0, len(out)))]
        ell = "..." if any("..." in t for t in terms) and \
            draw(st.booleans()) else ""
        eq += "->" + ell + "".join(out)
    return eq, shapes


@needs_torch
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(_einsum_case())
def test_random_einsum_equations_match_torch(case):
    import torch
    eq, shapes = case
    arrs = _arrays(shapes, 11)
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    try:
        want = torch.einsum(eq, *ts)
    except RuntimeError as e:           # torch refuses: so must we
        with pytest.raises(RuntimeError):
            ad.einsum(eq, *[ad.tensor(a) for a in arrs])
        note("torch: %s" % e)
        return
    xs = [ad.tensor(a, requires_grad=True) for a in arrs]
    got = ad.einsum(eq, *xs)
    assert got.shape == tuple(want.shape), eq
    assert_close(got, want.detach().numpy(), kind="torch")
    w = np.random.default_rng(4).standard_normal(got.shape)
    (got * ad.tensor(w)).sum().backward()
    gts = torch.autograd.grad((want * torch.tensor(w)).sum(), ts,
                              allow_unused=True)
    for x, g in zip(xs, gts):
        expect = np.zeros(x.shape) if g is None else g.numpy()
        got_g = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        assert_close(got_g, expect, kind="torch")


# ------------------------------------------------------------------ errors

def test_singular_matrix_raises_linalg_error():
    z = ad.tensor(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ad.linalg.LinAlgError, match="linalg.inv.*singular"):
        ad.linalg.inv(z)
    with pytest.raises(RuntimeError, match="linalg.solve.*singular"):
        ad.linalg.solve(z, ad.tensor(np.ones(2)))
    assert issubclass(ad.linalg.LinAlgError, RuntimeError)


@needs_torch
@pytest.mark.parametrize("m", [[[1.0, 2.0], [2.0, 4.0]],
                               [[1.0, 0.0], [0.0, 0.0]],
                               [[0.0, 0.0], [0.0, 0.0]]])
def test_det_gradient_at_singular_matrix_is_the_cofactor(m):
    # torch 2.13's create_graph backward gives the cofactor matrix (its
    # plain backward gives zeros here); both of ours give the cofactor
    import torch
    xt = torch.tensor(m, dtype=torch.float64, requires_grad=True)
    expect = torch.autograd.grad(torch.linalg.det(xt), xt,
                                 create_graph=True)[0].detach().numpy()
    x = ad.tensor(np.array(m), requires_grad=True)
    d = ad.linalg.det(x)
    assert float(d) == 0.0
    d.backward()
    assert_close(x.grad, expect, kind="torch")
    x2 = ad.tensor(np.array(m), requires_grad=True)
    g, = ad.autograd.grad(ad.linalg.det(x2), [x2], create_graph=True)
    assert_close(g, expect, kind="torch")


@needs_torch
def test_repeated_values_with_only_values_used_match_torch():
    # eigh/svd with only the eigen/singular values used take torch's
    # short formula (no division by gaps), finite at repeated values
    import torch
    for fn, tfn in ((lambda a: ad.linalg.eigh(a).eigenvalues,
                     lambda a: torch.linalg.eigh(a).eigenvalues),
                    (lambda a: ad.linalg.svd(a).S,
                     lambda a: torch.linalg.svd(a).S),
                    (ad.linalg.svdvals, torch.linalg.svdvals),
                    (ad.linalg.eigvalsh, torch.linalg.eigvalsh)):
        x = ad.tensor(2 * np.eye(3), requires_grad=True)
        (fn(x) * ad.tensor([1.0, 2.0, 3.0])).sum().backward()
        xt = torch.tensor(2 * np.eye(3), requires_grad=True)
        (tfn(xt) * torch.tensor([1.0, 2.0, 3.0],
                                dtype=torch.float64)).sum().backward()
        assert np.all(np.isfinite(x.grad.numpy()))
        assert_close(x.grad, xt.grad.numpy(), kind="torch")


@needs_torch
def test_matrix_rank_matches_torch():
    import torch
    rng = np.random.default_rng(6)
    low = rng.standard_normal((2, 5, 2)) @ rng.standard_normal((2, 2, 4))
    for a, kw in ((low, {}), (np.ones((3, 3)), {}), (np.eye(4), {}),
                  (np.diag([1.0, 1e-3, 1e-9]), {"atol": 1e-4}),
                  (np.diag([1.0, 1e-3, 1e-9]), {"rtol": 1e-2})):
        r = ad.linalg.matrix_rank(ad.tensor(a), **kw)
        assert r.dtype == ad.int64
        np.testing.assert_array_equal(
            r.numpy(), torch.linalg.matrix_rank(torch.tensor(a),
                                                **kw).numpy())


@pytest.mark.parametrize("fn", ["eigh", "svd", "svdvals"])
def test_not_converging_raises_linalg_error(fn):
    # torch's text ("The algorithm failed to converge ..."): capitalised by
    # the engine's op (eigh), not by the Function path (svd)
    with pytest.raises(ad.linalg.LinAlgError,
                       match="(?i)linalg.%s: the algorithm failed to "
                             "converge" % fn):
        getattr(ad.linalg, fn)(ad.tensor(np.full((3, 3), np.nan)))


def test_gradient_to_one_input_of_solve():
    a = np.random.default_rng(7).standard_normal((3, 3)) + 6 * np.eye(3)
    A, B = ad.tensor(a), ad.tensor(np.ones((3, 2)), requires_grad=True)
    ad.linalg.solve(A, B).sum().backward()
    assert A.grad is None
    np.testing.assert_allclose(B.grad.numpy(),
                               np.linalg.solve(a.T, np.ones((3, 2))),
                               rtol=1e-12)


def test_not_positive_definite_raises():
    with pytest.raises(ad.linalg.LinAlgError,
                       match="cholesky.*not positive-definite"):
        ad.linalg.cholesky(ad.tensor(-np.eye(3)))


@pytest.mark.parametrize("fn", [ad.linalg.inv, ad.linalg.det,
                                ad.linalg.cholesky, ad.linalg.eigh,
                                lambda x: ad.linalg.slogdet(x)])
def test_non_square_raises(fn):
    with pytest.raises(RuntimeError, match="square matrices.*2 by 3"):
        fn(ad.tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fn(ad.tensor(np.ones(3)))


def test_integer_input_raises():
    with pytest.raises(TypeError, match="floating point"):
        ad.linalg.inv(ad.tensor(np.eye(2, dtype=np.int64), dtype=ad.int64))


def test_solve_shape_errors():
    a = ad.tensor(np.eye(3))
    with pytest.raises(ValueError, match="Incompatible shapes"):
        ad.linalg.solve(a, ad.tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match="batch dimensions"):
        ad.linalg.solve(ad.tensor(np.ones((2, 3, 3))),
                        ad.tensor(np.ones((4, 3, 1))))


@pytest.mark.parametrize("eq,shapes,msg", [
    ("ij,jk", [(2, 3)], "fewer operands"),
    ("ij", [(2, 3), (3, 2)], "more operands"),
    ("i->j", [(2,)], "output subscript j does not appear"),
    ("i->ii", [(2,)], "more than once"),
    ("ij", [(2,)], "does not match the number of dimensions"),
    ("i1", [(2, 2)], "invalid subscript"),
    ("..i", [(2,)], "invalid subscript"),
    ("ij,jk", [(2, 3), (4, 5)], "subscript j has size 4"),
    ("ii", [(2, 3)], "repeated for operand 0"),
    ("ij->j->i", [(2, 2)], "more than one '->'"),
    (None, [(2, 2)], "valid range"),
])
def test_bad_einsum_equations(eq, shapes, msg):
    ops = [ad.tensor(np.ones(s)) for s in shapes]
    args = (eq, *ops) if eq is not None else (ops[0], [0, 60])
    with pytest.raises(RuntimeError, match=msg):
        ad.einsum(*args)
    with pytest.raises(ValueError, match=msg):
        ad.einsum(*args)


def test_tensordot_and_trace_errors():
    a, b = ad.tensor(np.ones((2, 3))), ad.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match="contracted dimensions need to "
                                         "match.*size 3.*size 4"):
        ad.tensordot(a, b, dims=1)
    with pytest.raises(ValueError, match="same length"):
        ad.tensordot(a, b, dims=([0, 1], [0]))
    with pytest.raises(ValueError, match="dims >= 0"):
        ad.tensordot(a, b, dims=-1)
    with pytest.raises(RuntimeError, match="expected a matrix.*dim 1"):
        ad.trace(ad.tensor(np.ones(3)))


def test_qr_complete_tall_backward_raises_as_torch():
    x = ad.tensor(np.random.default_rng(0).standard_normal((4, 3)),
                  requires_grad=True)
    Q, R = ad.linalg.qr(x, mode="complete")
    assert Q.shape == (4, 4) and R.shape == (4, 3)
    with pytest.raises(RuntimeError, match="not differentiable when "
                                           "mode='complete'"):
        Q.sum().backward()
    with pytest.raises(ValueError, match="unrecognized mode"):
        ad.linalg.qr(x, mode="bogus")


# ------------------------------------- the engine's linalg op under compile

def _train(compiled, dtype=np.float64, steps=4):
    """A training-like step through every kind of the linalg op: a
    parameter W, a batch x passed as a numpy array, SGD with momentum."""
    rng = np.random.default_rng(7)
    W = ad.tensor(rng.standard_normal((3, 3)).astype(dtype),
                  requires_grad=True)
    opt = ad.optim.SGD([W], lr=0.01, momentum=0.9)
    eye = ad.tensor(np.eye(3), dtype=W.dtype)

    def step(x):
        opt.zero_grad()
        A = W + 6.0 * eye
        S = A @ ad.swapaxes(A, -1, -2)
        y = ad.linalg.solve(A, x)
        loss = ((ad.linalg.inv(A) * ad.linalg.inv(A)).sum()
                + (y * y).sum() + ad.linalg.det(A) * 1e-3
                + ad.linalg.slogdet(A).logabsdet
                + ad.linalg.cholesky(S).sum()
                + ad.linalg.eigvalsh(S).sum() * 1e-2
                + (ad.linalg.eigh(S).eigenvectors ** 2
                   * ad.linalg.eigh(S).eigenvalues).sum() * 1e-2
                + (ad.linalg.qr(A).R ** 2).sum() * 1e-2
                + ad.linalg.svdvals(A).sum() * 1e-2
                + (ad.linalg.svd(A).U ** 2 * ad.linalg.svd(A).S).sum()
                * 1e-2 + ad.linalg.pinv(A).sum())
        loss.backward()
        opt.step()
        return loss

    fn = ad.compile(step) if compiled else step
    out = []
    for i in range(steps):
        x = np.random.default_rng(100 + i).standard_normal((3, 2)) \
            .astype(dtype)
        loss = fn(x)
        out.append((loss.numpy().copy(), W.numpy().copy(),
                    W.grad.numpy().copy()))
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linalg_op_trains_under_compile_bit_identically(dtype):
    eager, comp = _train(False, dtype), _train(True, dtype)
    for e, c in zip(eager, comp):
        for a, b in zip(e, c):
            np.testing.assert_array_equal(a, b)


def test_compiled_replay_raises_on_a_singular_matrix():
    # the replay runs the LAPACK forward again: a singular input raises
    # LinAlgError there too (never a stale or NaN-filled result)
    f = ad.compile(lambda x: ad.linalg.inv(ad.tensor(x)))
    good = np.array([[2.0, 1.0], [1.0, 3.0]])
    f(good)
    np.testing.assert_array_equal(f(good).numpy(), np.linalg.inv(good))
    with pytest.raises(ad.linalg.LinAlgError, match="linalg.inv.*singular"):
        f(np.array([[1.0, 2.0], [2.0, 4.0]]))
    g = ad.compile(lambda x: ad.linalg.cholesky(ad.tensor(x)))
    g(good)
    g(good)
    with pytest.raises(ad.linalg.LinAlgError, match="positive-definite"):
        g(np.array([[1.0, 2.0], [2.0, 1.0]]))
    np.testing.assert_array_equal(f(good).numpy(), np.linalg.inv(good))


@needs_torch
def test_linalg_errors_name_the_batch_element_as_torch():
    import torch
    a = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 4.0]]])
    for fn in (lambda m, x: m.linalg.inv(x),
               lambda m, x: m.linalg.solve(x, x),
               lambda m, x: m.linalg.cholesky(x)):
        with pytest.raises(RuntimeError) as et:
            fn(torch, torch.tensor(a))
        with pytest.raises(ad.linalg.LinAlgError) as ea:
            fn(ad, ad.tensor(a))
        assert "(Batch element 1)" in str(et.value)
        assert "(Batch element 1)" in str(ea.value)


def test_slogdet_backward_at_a_singular_matrix_raises():
    x = ad.tensor(np.array([[1.0, 2.0], [2.0, 4.0]]), requires_grad=True)
    s = ad.linalg.slogdet(x)
    assert float(s.sign) == 0.0 and float(s.logabsdet) == -np.inf
    with pytest.raises(ad.linalg.LinAlgError, match="singular"):
        s.logabsdet.backward()


def test_qr_complete_of_an_empty_matrix_is_the_identity():
    # orgqr still runs (n == 0): its workspace is queried, not assumed
    q = ad.linalg.qr(ad.tensor(np.zeros((2, 3, 0))), mode="complete")
    np.testing.assert_array_equal(q.Q.numpy(), np.broadcast_to(np.eye(3),
                                                                (2, 3, 3)))
    assert q.R.shape == (2, 3, 0)
