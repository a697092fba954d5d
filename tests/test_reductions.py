"""Reductions and scans (autodiff/_reductions.py) against torch: values,
dtypes, gradients (float64, torch autograd), ties/NaN/zeros, gradcheck and
gradgradcheck, compiled replays bit for bit (or NotCompilableError where
documented) and error messages."""
import math

import numpy as np
import pytest

import autodiff as ad
from conftest import lazy_torch, require_torch

torch = lazy_torch()


def _leaf(a, dtype=None):
    return ad.tensor(a, dtype=dtype, requires_grad=True)


def _tree(o):
    """A result (tensor or (values, indices)) as a list of tensors."""
    return list(o) if isinstance(o, tuple) else [o]


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


# name, autodiff call, torch call, input shape, positive input, replays
# under ad.compile (all do: True)
CASES = [
    ("prod_all", lambda x: ad.prod(x), lambda x: torch.prod(x), (3, 4),
     False, True),
    ("prod_dim", lambda x: x.prod(1), lambda x: x.prod(1), (3, 5), False,
     True),
    ("prod_keep", lambda x: ad.prod(x, 0, keepdim=True),
     lambda x: torch.prod(x, 0, keepdim=True), (4, 3), False, True),
    ("prod_axis_np", lambda x: ad.prod(x, axis=2, keepdims=True),
     lambda x: torch.prod(x, 2, keepdim=True), (2, 3, 7), False, True),
    ("logsumexp", lambda x: ad.logsumexp(x, 1),
     lambda x: torch.logsumexp(x, 1), (3, 5), False, True),
    ("logsumexp_tuple", lambda x: x.logsumexp((0, 2), keepdim=True),
     lambda x: x.logsumexp((0, 2), keepdim=True), (2, 3, 4), False, True),
    ("cumprod0", lambda x: ad.cumprod(x, 0), lambda x: torch.cumprod(x, 0),
     (5, 3), False, True),
    ("cumprod1", lambda x: x.cumprod(dim=1), lambda x: x.cumprod(dim=1),
     (2, 9), False, True),
    ("cummax", lambda x: ad.cummax(x, 1), lambda x: torch.cummax(x, 1),
     (3, 6), False, True),
    ("cummin", lambda x: x.cummin(0), lambda x: x.cummin(0), (6, 2), False,
     True),
    ("norm_fro", lambda x: ad.norm(x), lambda x: torch.norm(x), (3, 4),
     False, True),
    ("norm_p3_dim", lambda x: x.norm(3, 1), lambda x: x.norm(3, 1), (3, 4),
     False, True),
    ("vnorm2", lambda x: ad.linalg.vector_norm(x, dim=1),
     lambda x: torch.linalg.vector_norm(x, dim=1), (3, 4), False, True),
    ("vnorm1", lambda x: ad.linalg.vector_norm(x, 1, keepdim=True),
     lambda x: torch.linalg.vector_norm(x, 1, keepdim=True), (3, 4), False,
     True),
    ("vnorm_inf", lambda x: ad.linalg.vector_norm(x, math.inf, 0),
     lambda x: torch.linalg.vector_norm(x, math.inf, 0), (3, 4), False,
     True),
    ("vnorm_-inf", lambda x: ad.linalg.vector_norm(x, -math.inf, 1),
     lambda x: torch.linalg.vector_norm(x, -math.inf, 1), (3, 4), False,
     True),
    ("vnorm_0.5", lambda x: ad.linalg.vector_norm(x, 0.5, (0, 1)),
     lambda x: torch.linalg.vector_norm(x, 0.5, (0, 1)), (3, 4), False,
     True),
    ("vnorm_-1.5", lambda x: ad.linalg.vector_norm(x, -1.5),
     lambda x: torch.linalg.vector_norm(x, -1.5), (5,), False, True),
    ("mnorm_fro", lambda x: ad.linalg.matrix_norm(x),
     lambda x: torch.linalg.matrix_norm(x), (2, 3, 4), False, True),
    ("mnorm_1", lambda x: ad.linalg.matrix_norm(x, 1),
     lambda x: torch.linalg.matrix_norm(x, 1), (2, 3, 4), False, True),
    ("mnorm_-1", lambda x: ad.linalg.matrix_norm(x, -1, keepdim=True),
     lambda x: torch.linalg.matrix_norm(x, -1, keepdim=True), (3, 4),
     False, True),
    ("mnorm_inf", lambda x: ad.linalg.matrix_norm(x, math.inf, (0, 2)),
     lambda x: torch.linalg.matrix_norm(x, math.inf, (0, 2)), (3, 2, 4),
     False, True),
    ("mnorm_-inf", lambda x: ad.linalg.matrix_norm(x, -math.inf),
     lambda x: torch.linalg.matrix_norm(x, -math.inf), (4, 3), False, True),
    ("nansum", lambda x: ad.nansum(x, 1), lambda x: torch.nansum(x, 1),
     (3, 4), False, True),
    ("nanmean", lambda x: x.nanmean(), lambda x: x.nanmean(), (3, 4), False,
     True),
    ("var_correction", lambda x: ad.var(x, 1, correction=1),
     lambda x: torch.var(x, 1, correction=1), (3, 5), False, True),
    ("var_unbiased", lambda x: x.var(unbiased=True),
     lambda x: x.var(unbiased=True), (3, 5), False, True),
    ("var_unbiased_false", lambda x: x.var(dim=0, unbiased=False,
                                           keepdim=True),
     lambda x: x.var(dim=0, unbiased=False, keepdim=True), (3, 5), False,
     True),
    ("std_correction2", lambda x: ad.std(x, dim=(0, 1), correction=2),
     lambda x: torch.std(x, dim=(0, 1), correction=2), (3, 5), False, True),
    ("sort", lambda x: ad.sort(x), lambda x: torch.sort(x), (3, 5), False,
     True),
    ("sort_desc0", lambda x: x.sort(0, descending=True),
     lambda x: x.sort(0, descending=True), (5, 3), False, True),
    ("topk", lambda x: ad.topk(x, 2), lambda x: torch.topk(x, 2), (3, 5),
     False, True),
    ("topk_smallest", lambda x: x.topk(3, 0, largest=False),
     lambda x: x.topk(3, 0, largest=False), (5, 3), False, True),
    ("median_all", lambda x: ad.median(x), lambda x: torch.median(x),
     (3, 5), False, True),
    ("median_dim", lambda x: x.median(1), lambda x: x.median(1), (3, 4),
     False, True),
    ("median_keep", lambda x: ad.median(x, 0, keepdim=True),
     lambda x: torch.median(x, 0, keepdim=True), (5, 3), False, True),
    ("quantile", lambda x: ad.quantile(x, 0.3),
     lambda x: torch.quantile(x, 0.3), (3, 5), False, True),
    ("quantile_vec", lambda x: x.quantile([0.1, 0.5, 0.95], 1, True),
     lambda x: x.quantile(torch.tensor([0.1, 0.5, 0.95], dtype=x.dtype), 1,
                          True), (3, 5), False, True),
    ("quantile_mid", lambda x: ad.quantile(x, 0.4, 0,
                                           interpolation="midpoint"),
     lambda x: torch.quantile(x, 0.4, 0, interpolation="midpoint"), (5, 2),
     False, True),
    ("quantile_near", lambda x: ad.quantile(x, [0.25, 0.6], 0,
                                            interpolation="nearest"),
     lambda x: torch.quantile(x, torch.tensor([0.25, 0.6], dtype=x.dtype),
                              0, interpolation="nearest"), (5, 2), False,
     True),
    ("quantile_lower", lambda x: ad.quantile(x, 0.7, 1,
                                             interpolation="lower"),
     lambda x: torch.quantile(x, 0.7, 1, interpolation="lower"), (2, 6),
     False, True),
    ("quantile_higher", lambda x: ad.quantile(x, 0.7, 1,
                                              interpolation="higher"),
     lambda x: torch.quantile(x, 0.7, 1, interpolation="higher"), (2, 6),
     False, True),
]
IDS = [c[0] for c in CASES]
BY_NAME = {c[0]: c for c in CASES}


def _input(shape, seed=0, positive=False):
    a = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(a) + 0.5 if positive else a


def _both(case, a):
    _, f, g, *_ = case
    x = _leaf(a)
    tx = torch.tensor(a, requires_grad=True)
    return x, _tree(f(x)), tx, _tree(g(tx))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_gradient_match_torch(case):
    a = _input(case[3], 1, case[4])
    x, ys, tx, tys = _both(case, a)
    assert len(ys) == len(tys)
    for y, ty in zip(ys, tys):
        assert y.shape == tuple(ty.shape)
        assert str(y.dtype).split(".")[-1] == str(ty.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-12, atol=1e-14)
    w = np.random.default_rng(2).standard_normal(ys[0].shape)
    (ys[0] * ad.tensor(w)).sum().backward()
    (tys[0] * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_stays_float32(case):
    a = _input(case[3], 3, case[4]).astype(np.float32)
    y = _tree(case[1](ad.tensor(a)))[0]
    ty = _tree(case[2](torch.tensor(a)))[0]
    assert y.dtype == ad.float32
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_and_gradgradcheck(case):
    a = _input(case[3], 4, case[4])
    f = case[1]
    x = _leaf(a)
    assert ad.gradcheck(lambda t: _tree(f(t))[0], (x,), atol=1e-6)
    assert ad.gradgradcheck(lambda t: _tree(f(t))[0], (x,), atol=1e-6)


def _steps(case, compiled):
    f = case[1]
    x = _leaf(_input(case[3], 0, case[4]))
    w = ad.tensor(_input(_tree(f(x))[0].shape, 9))

    def step():
        x.grad = None
        y = _tree(f(x))[0]
        (y * y * w).sum().backward()
        return y

    g = ad.compile(step) if compiled else step
    out = []
    for seed in (0, 1, 2):
        with ad.no_grad():
            x.copy_(ad.tensor(_input(case[3], 10 + seed, case[4])))
        y = g()
        out.append((y.numpy().copy(), x.grad.numpy().copy()))
    return out


@pytest.mark.parametrize("case", [c for c in CASES if c[5]],
                         ids=[c[0] for c in CASES if c[5]])
def test_compiled_replay_is_bit_identical(case):
    eager = _steps(case, False)
    comp = _steps(case, True)
    for (ye, ge), (yc, gc) in zip(eager, comp):
        np.testing.assert_array_equal(yc, ye)
        np.testing.assert_array_equal(gc, ge)
    assert not np.array_equal(eager[0][0], eager[1][0])


# ------------------------------------------------------------- zeros

@pytest.mark.parametrize("zeros", [[2], [1, 3], [0, 1, 4]])
def test_prod_gradient_with_zeros(zeros):
    a = _input((2, 5), 5)
    a[:, zeros] = 0.0
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    y, ty = ad.prod(x, 1), torch.prod(tx, 1)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    # second order, to torch's (its prod backward is differentiable)
    x2, tx2 = _leaf(a), torch.tensor(a, requires_grad=True)
    g, = ad.autograd.grad(ad.prod(x2), x2, create_graph=True)
    (g * g).sum().backward()
    tg, = torch.autograd.grad(torch.prod(tx2), tx2, create_graph=True)
    (tg * tg).sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), tx2.grad.numpy(),
                               rtol=1e-10, atol=1e-12)
    assert ad.gradgradcheck(lambda t: ad.prod(t, 1), (_leaf(a),))


def test_cumprod_gradient_with_zeros():
    a = _input((2, 7), 6)
    a[0, 2] = a[1, 0] = a[1, 5] = 0.0
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    w = _input((2, 7), 7)
    (ad.cumprod(x, 1) * ad.tensor(w)).sum().backward()
    (torch.cumprod(tx, 1) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    assert ad.gradgradcheck(lambda t: ad.cumprod(t, 1), (_leaf(a),))


def test_prod_empty_and_int_dtypes():
    assert ad.prod(ad.zeros((0, 3)), 0).numpy().tolist() == [1.0] * 3
    i = ad.tensor([[2, 3], [4, -5]])
    assert ad.prod(i).dtype == ad.int64 and ad.prod(i).item() == -120
    assert ad.prod(i, 1).numpy().tolist() == [6, -20]
    b = ad.tensor([True, False])
    assert ad.prod(b).dtype == ad.int64 and ad.prod(b).item() == 0
    assert ad.cumprod(i, 0).numpy().tolist() == [[2, 3], [8, -15]]


def test_norm_gradient_at_zero_is_zero():
    for ord_ in (2, 3, 0.5, 1, math.inf):
        x = _leaf(np.zeros((2, 3)))
        tx = torch.zeros((2, 3), dtype=torch.float64, requires_grad=True)
        ad.linalg.vector_norm(x, ord_, 1).sum().backward()
        torch.linalg.vector_norm(tx, ord_, 1).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    a = np.array([[0.0, 2.0, -1.0], [0.0, 0.0, 3.0]])
    for ord_ in (0.5, 3, 2):
        x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
        ad.linalg.vector_norm(x, ord_, 1).sum().backward()
        torch.linalg.vector_norm(tx, ord_, 1).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(),
                                   rtol=1e-12)


def test_vector_norm_ord0_counts_nonzeros():
    a = np.array([[0.0, 2.0, -1.0], [0.0, 0.0, 3.0]])
    y = ad.linalg.vector_norm(ad.tensor(a), 0, 1)
    assert y.numpy().tolist() == [2.0, 1.0]
    assert y.dtype == ad.float64


@pytest.mark.parametrize("ord_", ["nuc", 2, -2])
@pytest.mark.parametrize("dim,keepdim", [((-2, -1), False), ((0, 2), True),
                                         ((2, 1), False)])
def test_matrix_norm_svd_orders_match_torch(ord_, dim, keepdim):
    torch = require_torch()
    a = np.random.default_rng(5).standard_normal((3, 4, 2))
    x = ad.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = ad.linalg.matrix_norm(x, ord_, dim, keepdim)
    ty = torch.linalg.matrix_norm(tx, ord_, dim, keepdim)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(1).standard_normal(y.shape)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9,
                               atol=1e-12)
    if ord_ == "nuc" and dim == (-2, -1):
        np.testing.assert_allclose(
            ad.norm(ad.tensor(a[0]), "nuc").numpy(),
            torch.norm(torch.tensor(a[0]), "nuc").numpy(), rtol=1e-12)


def test_matrix_norm_errors():
    x = ad.tensor(np.eye(3))
    with pytest.raises(RuntimeError, match="not supported"):
        ad.linalg.matrix_norm(x, 3)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        ad.linalg.matrix_norm(ad.tensor([1.0, 2.0]))


# ---------------------------------------------------------- logsumexp

def test_logsumexp_is_stable_and_handles_inf():
    a = np.array([[1000.0, 1000.0, -1000.0], [-np.inf, -np.inf, -np.inf],
                  [np.inf, 1.0, 2.0]])
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    y, ty = ad.logsumexp(x, 1), torch.logsumexp(tx, 1)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y[0].backward()
    ty[0].backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    ints = ad.logsumexp(ad.tensor([[1, 2], [3, 4]]), 1)
    assert ints.dtype == ad.float32
    with pytest.raises(TypeError, match="dim"):
        ad.logsumexp(x)


# ------------------------------------------------------ all, any, count

def test_all_any_count_nonzero():
    a = np.array([[0.0, 1.0, np.nan], [2.0, 3.0, -1.0]])
    for dt in (None, np.int64, bool):
        arr = a if dt is None else np.nan_to_num(a).astype(dt)
        x, tx = ad.tensor(arr), torch.tensor(arr)
        for dim in (None, 0, 1, (0, 1)):
            kw = {} if dim is None else {"dim": dim}
            for name in ("all", "any"):
                y = getattr(ad, name)(x, **kw)
                ty = getattr(torch, name)(tx, **kw)
                assert y.dtype == ad.bool_
                assert y.numpy().tolist() == ty.numpy().tolist(), (name, dim)
            y = ad.count_nonzero(x, **kw)
            assert y.dtype == ad.int64
            assert y.numpy().tolist() == torch.count_nonzero(
                tx, **kw).numpy().tolist()
    x = ad.tensor(a)
    assert x.all(1, keepdim=True).shape == (2, 1)
    assert x.any(axis=0, keepdims=True).shape == (1, 3)
    e = ad.zeros((0, 2))
    assert ad.all(e).item() is True and ad.any(e).item() is False
    assert ad.all(e, 0).numpy().tolist() == [True, True]


def test_all_any_replay():
    x = ad.tensor(np.zeros(4))

    @ad.compile
    def f(t):
        return ad.all(t > 0), ad.any(t > 0), ad.count_nonzero(t)

    outs = []
    for v in ([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 3.0, 4.0], [0.0] * 4):
        r = f(ad.tensor(v))
        outs.append([o.numpy().tolist() for o in r])
    assert outs == [[True, True, 4], [False, True, 3], [False, False, 0]]


# ------------------------------------------------------------ nan ops

def test_nansum_nanmean_with_nan():
    a = np.array([[np.nan, 1.0, 2.0], [np.nan, np.nan, np.nan]])
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    for name, kw in (("nansum", {"dim": 1}), ("nanmean", {"dim": 1}),
                     ("nansum", {}), ("nanmean", {"dim": 0})):
        x.grad, tx.grad = None, None
        y, ty = getattr(ad, name)(x, **kw), getattr(torch, name)(tx, **kw)
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        y.sum().backward()
        ty.sum().backward()
        g, tg = x.grad.numpy(), tx.grad.numpy()
        if name == "nanmean":
            # documented difference: an all-NaN slice's entries get a zero
            # gradient, where torch's (1/0) * 0 gives NaN
            assert np.all(g[np.isnan(tg)] == 0)
            g, tg = g[~np.isnan(tg)], tg[~np.isnan(tg)]
        np.testing.assert_array_equal(g, tg)


# ------------------------------------------------------------ var, std

def test_var_default_is_numpy_and_correction_as_torch():
    a = _input((4, 3), 8)
    x, tx = ad.tensor(a), torch.tensor(a)
    # the documented autodiff default: numpy's ddof=0
    np.testing.assert_allclose(x.var().item(), np.var(a), rtol=1e-14)
    np.testing.assert_allclose(ad.std(x, 0).numpy(), np.std(a, 0),
                               rtol=1e-14)
    for kw in ({"correction": 0}, {"correction": 1}, {"correction": 2.5},
               {"unbiased": True}, {"unbiased": False}):
        np.testing.assert_allclose(ad.var(x, dim=1, **kw).numpy(),
                                   torch.var(tx, dim=1, **kw).numpy(),
                                   rtol=1e-14)
        np.testing.assert_allclose(x.std(**kw).item(),
                                   tx.std(**kw).item(), rtol=1e-14)
    one = ad.tensor([3.0])
    assert math.isnan(one.var(correction=1).item())
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert math.isnan(torch.tensor([3.0]).var(correction=1).item())
    with pytest.raises(TypeError, match="only one of"):
        ad.var(x, ddof=1, correction=1)
    with pytest.raises(TypeError, match="unbiased must be a bool"):
        ad.var(x, unbiased=1)


# -------------------------------------------------------- sort and ties

TIES = np.array([[3.0, 1.0, 2.0, 1.0, 3.0, 1.0],
                 [0.0, -0.0, 5.0, 5.0, np.nan, -1.0],
                 [np.nan, 2.0, np.nan, 2.0, 2.0, 0.0]])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("stable", [False, True])
def test_sort_ties_and_nan_as_torch(descending, stable):
    for a in (TIES, TIES.T.copy()):
        for dim in (0, 1, -1):
            y = ad.sort(ad.tensor(a), dim, descending, stable)
            ty = torch.sort(torch.tensor(a), dim=dim, descending=descending,
                            stable=stable)
            np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
            np.testing.assert_array_equal(y.indices.numpy(),
                                          ty.indices.numpy())
            assert y.indices.dtype == ad.int64
            np.testing.assert_array_equal(
                ad.argsort(ad.tensor(a), dim, descending).numpy(),
                torch.argsort(torch.tensor(a), dim, descending).numpy())


def test_sort_is_stable_for_long_rows():
    """torch's stable=False order of ties is unspecified beyond 16
    entries; autodiff's sort is stable for both, as torch's stable=True."""
    a = np.random.default_rng(3).integers(0, 4, (3, 300)).astype(float)
    for desc in (False, True):
        for stable in (False, True):
            y = ad.sort(ad.tensor(a), descending=desc, stable=stable)
            ty = torch.sort(torch.tensor(a), descending=desc, stable=True)
            np.testing.assert_array_equal(y.indices.numpy(),
                                          ty.indices.numpy())


def test_median_and_cummax_indices_on_long_rows_match_torch():
    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 16, 17, 64, 257):
        a = rng.integers(0, 4, (4, n)).astype(float)
        for name in ("median", "cummax", "cummin"):
            y = getattr(ad, name)(ad.tensor(a), 1)
            ty = getattr(torch, name)(torch.tensor(a), 1)
            np.testing.assert_array_equal(y.indices.numpy(),
                                          ty.indices.numpy())
            np.testing.assert_array_equal(y.values.numpy(),
                                          ty.values.numpy())


def test_sort_int_and_bool():
    a = np.array([[3, -1, 2, -1, np.iinfo(np.int64).min, 7]])
    for arr in (a, a > 0):
        for desc in (False, True):
            y = ad.sort(ad.tensor(arr), descending=desc)
            ty = torch.sort(torch.tensor(arr), descending=desc, stable=True)
            np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
            np.testing.assert_array_equal(y.indices.numpy(),
                                          ty.indices.numpy())


def test_sort_gradient_goes_to_the_index():
    x = _leaf(TIES[:1].copy())
    v = ad.sort(x, descending=True).values
    (v * ad.tensor(np.arange(6.0))).sum().backward()
    tx = torch.tensor(TIES[:1].copy(), requires_grad=True)
    tv = torch.sort(tx, descending=True, stable=True).values
    (tv * torch.arange(6.0, dtype=torch.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("largest", [True, False])
def test_topk_ties(largest):
    """Values as torch; among equal values autodiff takes the first
    positions (a stable sort), torch's order of ties is an implementation
    detail of its selection algorithm (documented difference)."""
    a = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0],
                  [2.0, 2.0, 2.0, 2.0, 1.0, 1.0]])
    for k in (1, 2, 3, 6):
        y = ad.topk(ad.tensor(a), k, largest=largest)
        ty = torch.topk(torch.tensor(a), k, largest=largest)
        np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
        idx = y.indices.numpy()
        np.testing.assert_array_equal(np.take_along_axis(a, idx, 1),
                                      ty.values.numpy())
        ref = torch.sort(torch.tensor(a), descending=largest,
                         stable=True).indices[:, :k].numpy()
        np.testing.assert_array_equal(idx, ref)
    assert ad.topk(ad.tensor(a), 0).values.shape == (2, 0)
    with pytest.raises(RuntimeError, match="out of range"):
        ad.topk(ad.tensor(a), 7)
    with pytest.raises(TypeError, match="k must be an int"):
        ad.topk(ad.tensor(a), 1.5)


def test_topk_nan_is_largest():
    a = np.array([1.0, np.nan, 3.0, 2.0])
    y = ad.topk(ad.tensor(a), 2)
    ty = torch.topk(torch.tensor(a), 2)
    np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
    np.testing.assert_array_equal(y.indices.numpy(), ty.indices.numpy())


# ------------------------------------------------------------ median

def test_median_lower_middle_and_ties():
    for a in (np.array([4.0, 1.0, 3.0, 2.0]), np.array([1.0, 2.0, 2.0, 2.0,
                                                        5.0]),
              np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 2.0]])):
        y, ty = ad.median(ad.tensor(a)), torch.median(torch.tensor(a))
        assert y.shape == () and y.item() == ty.item()
    # the gradient of the full median is shared among the equal entries
    a = np.array([1.0, 2.0, 2.0, 2.0, 5.0])
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    ad.median(x).backward()
    torch.median(tx).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    # with dim: values as torch; indices point at an entry equal to it
    a = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]])
    y = ad.median(ad.tensor(a), 1)
    ty = torch.median(torch.tensor(a), 1)
    np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
    np.testing.assert_array_equal(
        np.take_along_axis(a, y.indices.numpy()[:, None], 1)[:, 0],
        ty.values.numpy())


def test_median_all_infinite_and_nan_gradient():
    for a in (np.array([np.inf, np.inf, 1.0]), np.array([-np.inf, 2.0]),
              np.array([np.nan, 1.0, np.nan, 2.0])):
        x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
        y, ty = ad.median(x), torch.median(tx)
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        y.backward()
        ty.backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_norm_ties_share_the_gradient():
    a = np.array([[3.0, -3.0, 1.0], [2.0, -2.0, 2.0]])
    for f, g in ((lambda t: ad.linalg.vector_norm(t, math.inf, 1),
                  lambda t: torch.linalg.vector_norm(t, math.inf, 1)),
                 (lambda t: ad.linalg.vector_norm(t, -math.inf),
                  lambda t: torch.linalg.vector_norm(t, -math.inf)),
                 (lambda t: ad.linalg.matrix_norm(t, 1),
                  lambda t: torch.linalg.matrix_norm(t, 1)),
                 (lambda t: ad.linalg.matrix_norm(t, math.inf),
                  lambda t: torch.linalg.matrix_norm(t, math.inf))):
        x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
        f(x).sum().backward()
        g(tx).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(),
                                   rtol=1e-15)


def test_median_nan():
    a = np.array([[1.0, np.nan, 3.0, np.nan], [1.0, 2.0, 3.0, 4.0]])
    y, ty = ad.median(ad.tensor(a), 1), torch.median(torch.tensor(a), 1)
    np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
    np.testing.assert_array_equal(y.indices.numpy(), ty.indices.numpy())
    assert math.isnan(ad.median(ad.tensor(a)).item())


def test_median_errors():
    with pytest.raises(IndexError, match="empty"):
        ad.median(ad.zeros((0,)))
    with pytest.raises(IndexError, match="Dimension out of range"):
        ad.median(ad.zeros((2, 3)), 2)
    assert ad.median(ad.tensor([[3, 1, 2]]), 1).values.dtype == ad.int64


# ------------------------------------------------------------ quantile

def test_quantile_nan_and_errors():
    a = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    y = ad.quantile(ad.tensor(a), 0.5, 1)
    ty = torch.quantile(torch.tensor(a), 0.5, 1)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    x = ad.tensor(np.arange(6.0))
    with pytest.raises(RuntimeError, match=r"range \[0, 1\]"):
        ad.quantile(x, 1.5)
    with pytest.raises(ValueError, match="interpolation"):
        ad.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(RuntimeError, match="floating point"):
        ad.quantile(ad.tensor([1, 2, 3]), 0.5)
    with pytest.raises(RuntimeError, match="scalar or 1D"):
        ad.quantile(x, [[0.5]])
    assert ad.quantile(x, [0.2, 0.4], keepdim=True).shape == (2, 1)
    np.testing.assert_array_equal(
        ad.quantile(x, [0.2, 0.4], keepdim=True).numpy(),
        torch.quantile(torch.tensor(np.arange(6.0)), torch.tensor(
            [0.2, 0.4], dtype=torch.float64), keepdim=True).numpy())


# ----------------------------------------------------------- cummax/min

def test_cummax_cummin_ties_and_nan_as_torch():
    a = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 5.0],
                  [2.0, np.nan, 1.0, np.nan, 7.0, 0.0],
                  [0.0, -0.0, 0.0, -1.0, -1.0, -2.0]])
    for name in ("cummax", "cummin"):
        for dim in (0, 1):
            y = getattr(ad, name)(ad.tensor(a), dim)
            ty = getattr(torch, name)(torch.tensor(a), dim)
            np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
            np.testing.assert_array_equal(y.indices.numpy(),
                                          ty.indices.numpy())
        i = np.array([[3, 1, 3, 4], [0, 0, -1, 2]])
        y = getattr(ad, name)(ad.tensor(i), 1)
        ty = getattr(torch, name)(torch.tensor(i), 1)
        assert y.values.dtype == ad.int64
        np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
        np.testing.assert_array_equal(y.indices.numpy(), ty.indices.numpy())


def test_cummax_long_rows_random_ties_as_torch():
    rng = np.random.default_rng(6)
    a = rng.integers(-3, 3, (3, 2000)).astype(float)
    a[0, 500] = np.nan
    a[2, ::7] = -0.0
    for name in ("cummax", "cummin"):
        y = getattr(ad, name)(ad.tensor(a), 1)
        ty = getattr(torch, name)(torch.tensor(a), 1)
        np.testing.assert_array_equal(y.values.numpy(), ty.values.numpy())
        np.testing.assert_array_equal(y.indices.numpy(), ty.indices.numpy())


def test_cummax_gradient_goes_to_the_index():
    a = np.array([1.0, 3.0, 3.0, 2.0, 4.0])
    x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
    (ad.cummax(x, 0).values * ad.tensor(np.arange(5.0))).sum().backward()
    (torch.cummax(tx, 0).values * torch.arange(5.0,
                                               dtype=torch.float64)
     ).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    with pytest.raises(TypeError, match="dim"):
        ad.cummax(x)


# ------------------------------------------------------ misc arguments

def test_zero_dim_inputs():
    s = ad.tensor(2.5)
    ts = torch.tensor(2.5)
    assert ad.prod(s).item() == 2.5
    assert ad.logsumexp(s, 0).item() == torch.logsumexp(ts, 0).item()
    assert ad.sort(s).values.shape == ()
    assert ad.median(s).item() == 2.5
    assert ad.cummax(s, 0).indices.item() == 0
    assert ad.all(s).item() is True


def test_dims_out_of_range():
    x = ad.zeros((2, 3))
    for call in (lambda: ad.sort(x, 2), lambda: ad.cumprod(x, -3),
                 lambda: ad.topk(x, 1, 5), lambda: ad.cummax(x, 2)):
        with pytest.raises(IndexError, match="out of range"):
            call()


# ------------------------------------- the C kernels: zeros, bits, edges

def _zero_lines(dtype=np.float64):
    """Rows with no zero, one, two, and zeros first and last."""
    a = _input((4, 9), 11).astype(dtype)
    a[1, 4] = 0
    a[2, [2, 6]] = 0
    a[3, [0, 8]] = 0
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["prod", "cumprod"])
def test_zeros_per_slice_match_torch(name, dtype):
    a = _zero_lines(dtype)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for dim in (0, 1, -1):
        x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
        y, ty = getattr(ad, name)(x, dim), getattr(torch, name)(tx, dim)
        if name == "cumprod":       # torch's accumulation: torch's bits
            np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        else:
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(),
                                       rtol=rtol)
        w = _input(y.shape, 12).astype(dtype)
        (y * ad.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(),
                                   rtol=rtol, atol=rtol)


def test_prod_float64_of_many_entries_within_1e12_of_torch():
    a = 1 + np.random.default_rng(0).standard_normal((7, 1000)) * 1e-3
    for dim in (None, 0, 1):
        y = ad.prod(ad.tensor(a)) if dim is None else ad.prod(ad.tensor(a),
                                                              dim)
        ty = torch.prod(torch.tensor(a)) if dim is None else torch.prod(
            torch.tensor(a), dim)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)


def test_cumprod_float32_bits_equal_torch():
    a = (1 + np.random.default_rng(1).standard_normal((60, 300)) * 1e-2)
    a = a.astype(np.float32)
    for dim in (0, 1):
        np.testing.assert_array_equal(
            ad.cumprod(ad.tensor(a), dim).numpy(),
            torch.cumprod(torch.tensor(a), dim).numpy())


def test_empty_dims_as_torch():
    for shape, dim in (((0, 3), 0), ((3, 0), 1), ((0, 3), 1)):
        a = np.zeros(shape)
        x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
        y, ty = ad.prod(x, dim), torch.prod(tx, dim)
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        y.sum().backward()
        assert x.grad.shape == shape
        assert ad.cumprod(x, dim).shape == shape
        for name in ("cummax", "cummin"):
            r = getattr(ad, name)(ad.tensor(a), dim)
            tr = getattr(torch, name)(torch.tensor(a), dim)
            assert r.values.shape == tuple(tr.values.shape)
            assert r.indices.shape == tuple(tr.indices.shape)


def test_int64_prod_cumprod_cumsum_wrap_as_torch():
    a = np.array([[2 ** 40, 2 ** 30, -3, 7], [5, -1, 2 ** 62, 4]])
    for dim in (0, 1):
        for name in ("prod", "cumprod", "cumsum"):
            y = getattr(ad, name)(ad.tensor(a), dim)
            ty = getattr(torch, name)(torch.tensor(a), dim)
            assert y.dtype == ad.int64
            np.testing.assert_array_equal(y.numpy(), ty.numpy())
    b = np.array([[True, False, True], [True, True, True]])
    for name in ("prod", "cumprod", "cumsum"):
        y = getattr(ad, name)(ad.tensor(b), 1)
        ty = getattr(torch, name)(torch.tensor(b), 1)
        assert y.dtype == ad.int64
        np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_bad_dims_name_the_dim_and_ndim():
    x = ad.zeros((2, 3))
    for call in (lambda: ad.cumprod(x, 2), lambda: ad.cummax(x, -3),
                 lambda: ad.cummin(x, 5), lambda: x.cumprod(dim=2)):
        with pytest.raises(IndexError, match=r"dim -?\d.*dimension 2"):
            call()
    with pytest.raises(IndexError, match=r"axis 2.*dimension 2"):
        ad.prod(x, 2)
    with pytest.raises(TypeError, match="dim"):
        ad.cumprod(x, 1.5)


def test_replays_follow_zeros_ties_nan_and_infinities():
    """One compiled step through prod, cumprod, cummax, cummin and the
    full median: every call's values and gradients equal the eager
    step's, bit for bit, as the zeros, ties, NaN and infinities move."""
    def data(seed):
        rng = np.random.default_rng(seed)
        a = np.round(rng.standard_normal((4, 6)) * 2) / 2   # ties, zeros
        a[seed % 4, seed % 6] = [np.nan, np.inf, -np.inf, 0.0][seed % 4]
        return a

    x = _leaf(data(0))

    def step():
        x.grad = None
        fin = ad.where(ad.isfinite(x), x, ad.zeros_like(x))
        y = (ad.prod(fin, 1).sum() + ad.cumprod(fin, 0).sum()
             + ad.cummax(x, 1).values.nansum()
             + ad.cummin(fin, 0).values.sum()
             + ad.median(fin) + ad.nansum(ad.median(x)))
        y.backward()
        return y

    comp = ad.compile(step)
    for seed in range(6):
        with ad.no_grad():
            x.copy_(ad.tensor(data(seed)))
        ye = step().numpy().copy()
        ge = x.grad.numpy().copy()
        yc = comp().numpy().copy()
        gc = x.grad.numpy().copy()
        np.testing.assert_array_equal(yc, ye)
        np.testing.assert_array_equal(gc, ge)


def test_prod_gradient_with_infinities_and_nan_as_torch():
    inf, nan = math.inf, math.nan
    for rows in ([[0.0, 0.0, inf]], [[0.0, nan, 2.0]], [[0.0, inf, 2.0]],
                 [[inf, 2.0, 3.0]], [[nan, 0.0, 1.0], [0.0, 0.0, 5.0]],
                 [[0.0, 0.0, inf], [1.0, 0.0, 3.0]],
                 [[0.0, 0.0, inf], [inf, 2.0, 3.0]],
                 [[nan, -2.0, 3.0], [0.0, 1.0, 1.0]],
                 [[inf, -inf, 2.0], [0.0, 1.0, 1.0]],
                 [[nan, -inf, -2.0], [0.0, 1.0, 1.0]],
                 [[-inf, nan, nan], [0.0, 1.0, 1.0]],
                 [[-inf, 2.0, -inf, -inf], [0.0, 1.0, 1.0, 2.0]]):
        a = np.array(rows)
        for dim in (None, 1):
            x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
            y = ad.prod(x) if dim is None else ad.prod(x, dim)
            ty = torch.prod(tx) if dim is None else torch.prod(tx, dim)
            y.sum().backward()
            ty.sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy(),
                                          err_msg="%s dim %s" % (rows, dim))
    x = _leaf(np.array(math.inf))           # 0-d: the gradient is g
    ad.prod(x).backward()
    assert x.grad.item() == 1.0


def test_random_mixes_of_zeros_infinities_and_nan_as_torch():
    """prod (over a dim and over all) and cumprod on draws from {0, inf,
    -inf, NaN, finite}: values and gradients as torch's, NaN for NaN."""
    rng = np.random.default_rng(0)
    vals = np.array([0.0, 0.0, np.inf, -np.inf, np.nan, 1.5, -0.7, 2.0, 0.3])
    for _ in range(60):
        a = rng.choice(vals, size=(3, 6))
        w = rng.standard_normal((3, 6))
        for dim in (0, 1):
            for f, tf in ((lambda u, d: ad.cumprod(u, d),
                           lambda u, d: torch.cumprod(u, d)),
                          (lambda u, d: ad.prod(u, d),
                           lambda u, d: torch.prod(u, d)),
                          (lambda u, d: ad.prod(u),
                           lambda u, d: torch.prod(u))):
                x, tx = _leaf(a), torch.tensor(a, requires_grad=True)
                y, ty = f(x, dim), tf(tx, dim)
                np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
                ww = w if y.shape == a.shape else np.ones(y.shape)
                (y * ad.tensor(ww)).sum().backward()
                (ty * torch.tensor(ww)).sum().backward()
                np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(),
                                           rtol=1e-12, err_msg=str(a))
