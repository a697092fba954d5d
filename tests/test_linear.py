"""The fused dense-layer op: ad.linear(x, W, b) = x @ W.T + b."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from conftest import assert_close, check_grad

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape", [(5, 3), (3,), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_grad(dtype, xshape, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xshape)
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(4)
    expect = x @ W.T + (b if bias else 0)
    out = ad.linear(ad.tensor(x, dtype=dtype), ad.tensor(W, dtype=dtype),
                    ad.tensor(b, dtype=dtype) if bias else None)
    assert out.shape == expect.shape
    assert_close(out.numpy(), expect, dtype)
    if bias:
        check_grad(lambda x_, w_, b_: ad.linear(x_, w_, b_), [x, W, b],
                   dtype)
    else:
        check_grad(lambda x_, w_: ad.linear(x_, w_), [x, W], dtype)


def test_linear_matches_matmul_composition_exactly_in_float64():
    rng = np.random.default_rng(2)
    x = ad.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    W = ad.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b = ad.tensor(rng.standard_normal(3), requires_grad=True)
    g = rng.standard_normal((6, 3))
    ad.linear(x, W, b).backward(ad.tensor(g))
    fused = [t.grad.numpy() for t in (x, W, b)]
    for t in (x, W, b):
        t.grad = None
    (x @ W.T + b).backward(ad.tensor(g))
    for f, t in zip(fused, (x, W, b)):
        np.testing.assert_allclose(f, t.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("shapes", [((5, 3), (4, 2), (4,)),
                                    ((5, 3), (4, 3), (3,)),
                                    ((5, 3), (4, 3, 1), (4,))])
def test_linear_bad_shapes_name_them(shapes):
    xs, ws, bs = shapes
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        ad.linear(ad.zeros(xs), ad.zeros(ws), ad.zeros(bs))


def test_nn_linear_uses_one_record():
    lin = ad.nn.Linear(3, 2)
    before = ad.memory_stats()["tape_live"]
    y = lin(ad.randn(4, 3, seed=0))
    assert ad.memory_stats()["tape_live"] - before == 1
    assert y.requires_grad


# The float32 backward's products from about 2^20 multiply-adds run
# through the engine's own AVX-512 kernel (csrc/gemm.c) where the cpu has
# it: dx = g W with W packed, dW = g^T x with g^T and x packed, and the
# bias gradient summed while g^T is packed.  Shapes with partial 8-row
# blocks and 32-column panels, narrow heads (10 outputs) and the large
# MLP's layers.
PACKED_SHAPES = [(256, 1024, 10), (256, 64, 1024), (37, 300, 129),
                 (8, 512, 512), (300, 33, 170), (1000, 20, 60),
                 (64, 1024, 1024)]

# The float32 forward with at least 16 outputs (8 to 15 over 128 or more
# samples), at most 1024 samples and x within 1 MB runs
# through the same kernel where the cpu has AVX-512 (ad_sgemm_xwt: W read
# in place, x packed transposed, C^T stored transposed with the bias added
# in its output pass).  Shapes with partial 8-row blocks of W (M % 8),
# partial 32-sample panels (N % 32, also below 16), K not a multiple of 16
# (the transposing pack's last columns), K = 1, and either side of the
# 16-output, narrow-head, 1024-sample and 1 MB limits (the BLAS path beside
# it).
FORWARD_SHAPES = PACKED_SHAPES + [(1, 17, 16), (33, 1, 23), (5, 16, 15),
                                  (47, 8, 8192), (256, 1024, 40),
                                  (257, 1024, 40), (1024, 16, 20),
                                  (1025, 16, 20), (31, 100, 1000),
                                  (128, 40, 10), (127, 40, 10), (128, 40, 8),
                                  (128, 40, 7), (64, 512, 12), (1100, 64, 128),
                                  (1600, 32, 512)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("N,i,M", FORWARD_SHAPES)
def test_linear_float32_forward_against_float64(N, i, M, bias, threads):
    before = ad.get_num_threads()
    ad.set_num_threads(threads)
    try:
        rng = np.random.default_rng(N * 7 + i + M)
        x = rng.standard_normal((N, i)).astype(np.float32)
        W = rng.standard_normal((M, i)).astype(np.float32)
        b = rng.standard_normal(M).astype(np.float32)
        y = ad.linear(ad.tensor(x), ad.tensor(W),
                      ad.tensor(b) if bias else None).numpy()
    finally:
        ad.set_num_threads(before)
    ref = x.astype(np.float64) @ W.astype(np.float64).T
    if bias:
        ref += b
    assert y.dtype == np.float32 and y.shape == (N, M)
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-6 * np.sqrt(i) *
                               max(np.abs(ref).max(), 1.0))


def test_linear_float32_forward_nonfinite():
    """inf and NaN in x or W reach exactly the outputs they touch, as in
    float64: the kernel's padding (rows past M, samples past N, columns
    past K) adds nothing to a real output."""
    rng = np.random.default_rng(3)
    N, i, M = 37, 33, 41
    x = rng.standard_normal((N, i)).astype(np.float32)
    W = rng.standard_normal((M, i)).astype(np.float32)
    x[3, 5] = np.inf
    W[7, 2] = np.nan
    y = ad.linear(ad.tensor(x), ad.tensor(W)).numpy()
    with np.errstate(invalid="ignore"):
        ref = x.astype(np.float64) @ W.astype(np.float64).T
    assert (np.isnan(y) == np.isnan(ref)).all()
    assert (np.isinf(y) == np.isinf(ref)).all()
    fin = np.isfinite(ref)
    np.testing.assert_allclose(y[fin], ref[fin], rtol=0, atol=1e-4)


def _linear_grads(x, W, b, g, bias=True, wgrad=True):
    X = ad.tensor(x, requires_grad=True)
    Wt = ad.tensor(W, requires_grad=wgrad)
    B = ad.tensor(b, requires_grad=True) if bias else None
    ad.linear(X, Wt, B).backward(ad.tensor(g))
    return [t.grad.numpy() if t is not None and t.grad is not None else None
            for t in (X, Wt, B)]


@pytest.fixture
def one_thread():
    """One thread (the kernel's bits are the same at any count:
    tests/test_num_threads.py)."""
    before = ad.get_num_threads()
    ad.set_num_threads(1)
    yield
    ad.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("N,i,M", PACKED_SHAPES)
def test_linear_float32_backward_products_against_float64(N, i, M, threads):
    before = ad.get_num_threads()
    ad.set_num_threads(threads)
    try:
        _check_products(N, i, M)
    finally:
        ad.set_num_threads(before)


def _check_products(N, i, M):
    rng = np.random.default_rng(N + i + M)
    x = rng.standard_normal((N, i)).astype(np.float32)
    W = rng.standard_normal((M, i)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    g = rng.standard_normal((N, M)).astype(np.float32)
    dx, dW, db = _linear_grads(x, W, b, g)
    x64, W64, g64 = (a.astype(np.float64) for a in (x, W, g))
    # float32 sums of i or N products of unit normals: relative to the
    # largest entry, well under 1e-5
    for got, ref in ((dx, g64 @ W64), (dW, g64.T @ x64)):
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0,
                                   atol=2e-6 * np.abs(ref).max() *
                                   np.sqrt(max(N, M)))
    # the bias gradient: each column summed over the rows in order, in
    # float32, from 0 -- the bits of the unfused column sum
    ref = np.zeros(M, np.float32)
    for r in range(N):
        ref += g[r]
    assert db.tobytes() == ref.tobytes()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("bias,wgrad", [(True, False), (False, True)])
def test_linear_float32_backward_without_some_gradients(bias, wgrad):
    """A frozen weight (the bias gradient then summed alone) or no bias:
    the same values as with every gradient wanted."""
    rng = np.random.default_rng(5)
    N, i, M = 128, 96, 200
    x = rng.standard_normal((N, i)).astype(np.float32)
    W = rng.standard_normal((M, i)).astype(np.float32)
    b = rng.standard_normal(M).astype(np.float32)
    g = rng.standard_normal((N, M)).astype(np.float32)
    full = _linear_grads(x, W, b, g)
    part = _linear_grads(x, W, b, g, bias=bias, wgrad=wgrad)
    assert part[0].tobytes() == full[0].tobytes()
    if wgrad:
        assert part[1].tobytes() == full[1].tobytes()
    else:
        assert part[1] is None
    if bias:
        assert part[2].tobytes() == full[2].tobytes()
    else:
        assert part[2] is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_mlp_step_compiled_matches_eager_bitwise(dtype):
    """An MLP whose backward products take the packed kernel (float32)
    or BLAS (float64): eager and ad.compile give the same bits, step after
    step."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((96, 48)).astype(dtype)
    y = rng.integers(0, 10, 96)

    def make():
        ad.manual_seed(3)
        model = ad.nn.Sequential(ad.nn.Linear(48, 256), ad.nn.ReLU(),
                                 ad.nn.Linear(256, 256), ad.nn.ReLU(),
                                 ad.nn.Linear(256, 10))
        if dtype == "float64":
            model = model.double()
        return model, ad.optim.SGD(model.parameters(), lr=0.05,
                                   momentum=0.9)

    def step(model, opt, xb, yb):
        loss = ad.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    m1, o1 = make()
    m2, o2 = make()
    compiled = ad.compile(lambda xb, yb: step(m2, o2, xb, yb))
    for _ in range(3):
        l1 = step(m1, o1, ad.tensor(X), ad.tensor(y))
        l2 = compiled(X, y)
        assert l1.numpy().tobytes() == l2.numpy().tobytes()
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert p1.numpy().tobytes() == p2.numpy().tobytes()
        assert p1.grad.numpy().tobytes() == p2.grad.numpy().tobytes()


def test_linear_backward_replay_takes_the_path_of_its_thread_count():
    """The engine's kernel (one thread) or BLAS (more) is chosen when the
    record runs: a step recorded at 2 threads and replayed at 1 gives the
    bits of the eager step at 1, and at 2 those of the eager step at 2."""
    rng = np.random.default_rng(9)
    X = ad.tensor(rng.standard_normal((512, 1024)).astype(np.float32))
    G = ad.tensor(rng.standard_normal((512, 512)).astype(np.float32))
    ad.manual_seed(0)
    lin = nn.Linear(1024, 512)

    def step(x, g):
        lin.zero_grad()
        lin(x).backward(g)

    def grads():
        return [p.grad.numpy().tobytes() for p in lin.parameters()]
    compiled = ad.compile(step)
    before = ad.get_num_threads()
    try:
        ad.set_num_threads(2)
        compiled(X, G)
        for threads in (1, 2, 1):
            ad.set_num_threads(threads)
            step(X, G)
            eager = grads()
            compiled(X, G)
            assert grads() == eager
            assert compiled.recordings == 1
    finally:
        ad.set_num_threads(before)
