"""torch's composite ops (autodiff/_ops.py: mm, mv, bmm, outer, addmm,
lerp, addcmul, addcdiv), driven by opdb.COMPOSITES: values and gradients
against torch, gradcheck and gradgradcheck in float64 (central
differences), replays under ad.compile bit for bit, the Tensor method and
in-place spellings; the shape errors are opdb ``bad`` rows (checked by
test_bad_input.py)."""
import numpy as np
import pytest

import autodiff as ad
import opdb
from conftest import DTYPES, assert_close, sample
from conftest import require_torch

CASES = opdb.composite_cases()
IDS = [c[0] for c in CASES]


def _tdt(torch, dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


@pytest.fixture(scope="module")
def torch():
    return require_torch()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,o,shapes", CASES, ids=IDS)
def test_matches_torch(torch, name, o, shapes, dtype):
    """Values and the gradient of a weighted sum, in the same dtype."""
    arrays = [np.asarray(a).astype(dtype) for a in o.make(shapes, 3)]
    xa = [ad.tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, dtype=_tdt(torch, dtype), requires_grad=True)
          for a in arrays]
    ya, yt = o.op(*xa), o.torch(*xt)
    assert ya.dtype == np.dtype(dtype)
    assert ya.shape == tuple(yt.shape), name
    assert_close(ya.numpy(), yt.detach().numpy(), dtype, "torch",
                 err_msg=name)
    w = np.random.default_rng(4).standard_normal(ya.shape)
    ya.backward(ad.tensor(w, dtype=dtype))
    yt.backward(torch.tensor(w, dtype=_tdt(torch, dtype)))
    for i, (a, t) in enumerate(zip(xa, xt)):
        if t.grad is None:          # addmm(beta=0): torch gives no grad
            np.testing.assert_array_equal(a.grad.numpy(), 0.0)
            continue
        assert a.grad.shape == a.shape
        assert_close(a.grad.numpy(), t.grad.numpy(), dtype, "torch",
                     err_msg="%s input %d" % (name, i))


def _f64(o, shapes):
    return [ad.tensor(np.asarray(a, np.float64), requires_grad=True)
            for a in o.make(shapes, 5)]


@pytest.mark.parametrize("name,o,shapes", CASES, ids=IDS)
def test_gradcheck(name, o, shapes):
    assert ad.gradcheck(o.op, tuple(_f64(o, shapes)), eps=1e-6, atol=1e-7,
                        rtol=1e-5)


@pytest.mark.parametrize("name,o,shapes", CASES, ids=IDS)
def test_gradgradcheck(name, o, shapes):
    assert ad.gradgradcheck(o.op, tuple(_f64(o, shapes)), eps=1e-6,
                            atol=1e-6, rtol=1e-4)


# ---------------------------------------------- replay under ad.compile

def _run_steps(o, shapes, dtype, compiled):
    xs = [ad.tensor(np.asarray(a).astype(dtype), requires_grad=True)
          for a in o.make(shapes, 0)]
    y0 = o.op(*xs)
    w = ad.tensor(np.random.default_rng(5).standard_normal(y0.shape),
                  dtype=dtype)

    def step():
        for x in xs:
            x.grad = None
        y = o.op(*xs)
        (y * w).sum().backward()
        return y

    f = ad.compile(step) if compiled else step
    out = []
    for seed in (0, 1, 2):
        with ad.no_grad():
            for x, a in zip(xs, o.make(shapes, seed)):
                x.copy_(ad.tensor(np.asarray(a).astype(dtype)))
        y = f()
        out.append((y.numpy().copy(), [x.grad.numpy().copy() for x in xs]))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,o,shapes", CASES, ids=IDS)
def test_compiled_replay_is_bit_identical(name, o, shapes, dtype):
    eager = _run_steps(o, shapes, dtype, compiled=False)
    comp = _run_steps(o, shapes, dtype, compiled=True)
    for (ye, ge), (yc, gc) in zip(eager, comp):
        np.testing.assert_array_equal(yc, ye, err_msg=name)
        for a, b in zip(gc, ge):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.array_equal(eager[0][0], eager[1][0])


# ------------------------------------------------- methods and in place

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,o,shapes",
                         [c for c in CASES if c[1].method is not None],
                         ids=[c[0] for c in CASES if c[1].method is not None])
def test_method_is_the_function(name, o, shapes, dtype):
    arrays = [np.asarray(a).astype(dtype) for a in o.make(shapes, 1)]
    fa = [ad.tensor(a, requires_grad=True) for a in arrays]
    ma = [ad.tensor(a, requires_grad=True) for a in arrays]
    yf, ym = o.op(*fa), o.method(*ma)
    np.testing.assert_array_equal(ym.numpy(), yf.numpy())
    yf.sum().backward()
    ym.sum().backward()
    for a, b in zip(fa, ma):
        np.testing.assert_array_equal(b.grad.numpy(), a.grad.numpy())


def _inplace_cases():
    """The samples where self already has the result's shape (torch's
    in-place forms never grow self)."""
    out = []
    for c in CASES:
        o, shapes = c[1], c[2]
        if o.inplace is None:
            continue
        y = o.op(*[ad.tensor(a) for a in o.make(shapes, 0)])
        if y.shape == tuple(shapes[0]):
            out.append(c)
    return out


INPLACE = _inplace_cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,o,shapes", INPLACE,
                         ids=[c[0] for c in INPLACE])
def test_inplace_is_the_out_of_place_result(torch, name, o, shapes, dtype):
    arrays = [np.asarray(a).astype(dtype) for a in o.make(shapes, 2)]
    want = o.op(*[ad.tensor(a) for a in arrays]).numpy()
    xs = [ad.tensor(a) for a in arrays]
    r = o.inplace(*xs)
    assert r is xs[0]
    np.testing.assert_array_equal(xs[0].numpy(), want)
    for x, a in zip(xs[1:], arrays[1:]):
        np.testing.assert_array_equal(x.numpy(), a)      # operands intact
    ts = [torch.tensor(a) for a in arrays]
    o.inplace(*ts)
    assert_close(xs[0].numpy(), ts[0].numpy(), dtype, "torch", err_msg=name)


@pytest.mark.parametrize("o", [o for o in opdb.COMPOSITES if o.inplace],
                         ids=[o.name for o in opdb.COMPOSITES if o.inplace])
def test_inplace_refuses_a_leaf_that_requires_grad(o):
    shapes = [s for s in o.samples[-1][1]]
    arrays = o.make(shapes, 0)
    xs = [ad.tensor(a) for a in arrays]
    xs[0] = ad.tensor(np.broadcast_to(
        arrays[0], o.op(*xs).shape).copy(), requires_grad=True)
    before = xs[0].numpy().copy()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        o.inplace(*xs)
    np.testing.assert_array_equal(xs[0].numpy(), before)


def test_inplace_result_must_keep_selfs_shape():
    x = ad.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"lerp_.*\(4,\).*\(3, 4\)"):
        x.lerp_(ad.ones((3, 4)), 0.3)
    with pytest.raises(ValueError, match=r"addcmul_.*\(4,\).*\(2, 4\)"):
        x.addcmul_(ad.ones((2, 4)), ad.ones(4))
    np.testing.assert_array_equal(x.numpy(), np.ones(4))


# ------------------------------------------------------ special behaviour

def test_lerp_is_exact_at_the_ends_and_picks_torchs_form(torch):
    a = sample((3, 5), seed=1)
    b = sample((3, 5), seed=2)
    x, e = ad.tensor(a), ad.tensor(b)
    np.testing.assert_array_equal(ad.lerp(x, e, 1.0).numpy(), b)
    np.testing.assert_array_equal(ad.lerp(x, e, 0.0).numpy(), a)
    # a tensor weight gives, element by element, the scalar weight's bits
    w = np.array([-1.0, 0.0, 0.25, 0.4999, 0.5, 0.75, 1.0, 1.5, -0.5,
                  -0.4999, 2.0, 0.1, 0.9, 0.6, 0.3])
    got = ad.lerp(x, e, ad.tensor(np.broadcast_to(w, (3, 15))[:, :5]
                                  .copy())).numpy()
    for j, wj in enumerate(w[:5]):
        np.testing.assert_array_equal(
            got[:, j], ad.lerp(ad.tensor(a[:, j]), ad.tensor(b[:, j]),
                               float(wj)).numpy())
    # torch within a rounding of the inputs' scale (its vectorised kernel
    # fuses the multiply-add)
    for wj in w:
        np.testing.assert_allclose(
            ad.lerp(x, e, float(wj)).numpy(),
            torch.lerp(torch.tensor(a), torch.tensor(b), float(wj)).numpy(),
            rtol=0, atol=4 * np.finfo(float).eps)


def test_lerp_float32_scalar_weight_in_float32():
    a = np.float32([1.0, -3.0, 2.5])
    b = np.float32([2.0, 7.0, -1.5])
    out = ad.lerp(ad.tensor(a), ad.tensor(b), 0.7)
    assert out.dtype == np.float32
    w = np.float32(0.7)
    np.testing.assert_array_equal(out.numpy(),
                                  b - (b - a) * (np.float32(1) - w))


def test_addmm_beta_zero_ignores_nan_in_input():
    c = ad.tensor(np.full((2, 3), np.nan), requires_grad=True)
    m1 = ad.tensor(sample((2, 4), seed=1), requires_grad=True)
    m2 = ad.tensor(sample((4, 3), seed=2))
    out = ad.addmm(c, m1, m2, beta=0, alpha=1.5)
    np.testing.assert_allclose(out.numpy(), 1.5 * (m1.numpy() @ m2.numpy()),
                               rtol=1e-12)
    out.sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), np.zeros((2, 3)))
    np.testing.assert_allclose(m1.grad.numpy(),
                               1.5 * np.ones((2, 3)) @ m2.numpy().T,
                               rtol=1e-12)


def test_outer_is_exact_and_ger_is_outer():
    a, b = sample((3,), seed=1), sample((4,), seed=2)
    np.testing.assert_array_equal(ad.outer(a, b).numpy(), np.outer(a, b))
    np.testing.assert_array_equal(ad.tensor(a).ger(ad.tensor(b)).numpy(),
                                  np.outer(a, b))


def test_composites_take_arrays_and_promote():
    a = sample((2, 3), seed=1)
    b = sample((3, 2), seed=2).astype(np.float32)
    out = ad.mm(ad.tensor(a), b)          # float64 with float32
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), a @ b.astype(np.float64))
    out = ad.addcmul(ad.tensor(a, dtype=np.float32), 2.0, [1.0, 2.0, 3.0],
                     value=0.5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), a + 0.5 * 2.0 * np.array(
        [1.0, 2.0, 3.0]), rtol=1e-6)


def test_mv_and_mm_of_empty_inner_dimension():
    out = ad.mv(ad.zeros((3, 0)), ad.zeros((0,)))
    np.testing.assert_array_equal(out.numpy(), np.zeros(3))
    out = ad.mm(ad.zeros((2, 0)), ad.zeros((0, 4)))
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 4)))


def test_inplace_composites_replay_under_compile():
    """An EMA-style state update (lerp_, addcmul_, addcdiv_, addmm_) in a
    compiled step: each replay updates the state as the eager step does,
    bit for bit."""
    def make():
        return [ad.tensor(sample((3, 3), seed=s)) for s in (1, 2, 3, 4)]

    def step(state, x):
        ema, sq, acc, mm = state
        ema.lerp_(x, 0.1)
        sq.addcmul_(x, x, value=0.5)
        acc.addcdiv_(x, sq.abs() + 1.0, value=-0.25)
        mm.addmm_(x, ema, beta=0.5, alpha=0.3)
        return ema + sq + acc + mm

    eager, comp = make(), make()
    f = ad.compile(lambda x: step(comp, x))
    for seed in range(4):
        x = sample((3, 3), seed=10 + seed)
        ye = step(eager, ad.tensor(x)).numpy()
        yc = f(x).numpy()
        np.testing.assert_array_equal(yc, ye)
        for a, b in zip(comp, eager):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
