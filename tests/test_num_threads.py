"""ad.set_num_threads / ad.get_num_threads and the engine's thread pool
(csrc/threads.c, csrc/kernels_par.inc): every op family the pool splits
gives the same bits at 1, 2, 3 and 4 threads (more threads than cores
still make more pieces), forward and backward, eager and compiled, on sizes
above the pool's threshold (AD_PAR_ELEMS = 65536 elements a piece: 3
pieces need 196608) and below it; Python threads running large ops at once
get the single-threaded results.  No timing is asserted.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine, nn
from conftest import require_torch

THREADS = (1, 2, 3, 4)
BIG = (256, 1024)           # 262144 elements: 4 pieces of 65536


@pytest.fixture(autouse=True)
def _restore_threads():
    saved = ad.get_num_threads()
    yield
    ad.set_num_threads(saved)


def at_threads(fn, blas_too=False):
    """fn() at each thread count of the engine's pool; the list of its
    results (numpy arrays).  The BLAS stays at one thread (its matrix
    products are not the engine's, and OpenBLAS's bits change with its
    thread count, as PyTorch's do) unless blas_too: ad.set_num_threads
    itself."""
    out = []
    ad.set_num_threads(1)
    for t in THREADS:
        if blas_too:
            ad.set_num_threads(t)
        else:
            _engine._set_pool_threads(t)
        out.append([np.array(a, copy=True) for a in fn()])
    return out


def assert_same_bits(results):
    ref = results[0]
    for t, res in zip(THREADS[1:], results[1:]):
        for k, (a, b) in enumerate(zip(ref, res)):
            assert a.dtype == b.dtype and a.shape == b.shape, (t, k)
            assert np.array_equal(a.reshape(-1).view(np.uint8),
                                  b.reshape(-1).view(np.uint8)), \
                "result %d differs at %d threads" % (k, t)


def data(shape, dtype, seed=0, lo=-3.0, hi=3.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


# ------------------------------------------------------------ set / get

def test_set_get_num_threads():
    ad.set_num_threads(3)
    assert ad.get_num_threads() == 3
    ad.set_num_threads(np.int64(1))
    assert ad.get_num_threads() == 1


@pytest.mark.parametrize("bad, msg", [
    (0, "set_num_threads expects a positive integer"),
    (-2, "set_num_threads expects a positive integer"),
    (1.5, "set_num_threads expects an int, but got float"),
    ("2", "set_num_threads expects an int, but got str"),
    (True, "set_num_threads expects an int, but got bool"),
    (None, "set_num_threads expects an int, but got NoneType"),
])
def test_set_num_threads_errors_as_torch(bad, msg):
    ad.set_num_threads(2)
    with pytest.raises(RuntimeError) as e:
        ad.set_num_threads(bad)
    assert str(e.value) == msg
    assert ad.get_num_threads() == 2          # unchanged


def test_set_num_threads_sets_the_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ad.set_num_threads(1)
    blas = [i for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    assert blas, "no BLAS found by threadpoolctl"
    assert all(i["num_threads"] == 1 for i in blas), blas
    ad.set_num_threads(2)
    blas = [i for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    assert all(i["num_threads"] == 2 for i in blas), blas


def _child_threads(env_extra):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.update(env_extra)
    code = ("import os, autodiff as ad; "
            "print(ad.get_num_threads(), len(os.sched_getaffinity(0)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return [int(v) for v in r.stdout.split()]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"),
                    reason="needs os.sched_getaffinity")
def test_default_is_the_affinity_or_omp_num_threads():
    got, cores = _child_threads({})
    assert got == cores
    assert _child_threads({"OMP_NUM_THREADS": "3"})[0] == 3
    # not a positive integer: ignored, as the cores
    assert _child_threads({"OMP_NUM_THREADS": "0"})[0] == cores
    assert _child_threads({"OMP_NUM_THREADS": "x"})[0] == cores


# ------------------------------------------- bit-identical across counts

UNARY = ["exp", "tanh", "sigmoid", "relu", "gelu", "silu", "sin", "square",
         "softplus", "erf"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", UNARY)
def test_unary_same_bits(name, dtype):
    xs = data(BIG, dtype)
    g = data(BIG, dtype, seed=1)
    fn = getattr(ad, name, None) or getattr(nn.functional, name)

    def run():
        x = ad.tensor(xs, requires_grad=True)
        y = fn(x)
        y.backward(ad.tensor(g))
        return y.numpy(), x.grad.numpy()
    assert_same_bits(at_threads(run))


BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum",
          "atan2", "hypot", "logaddexp"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bshape", [BIG, (BIG[1],), (BIG[0], 1),
                                    (1, 3 * 65536 + 5)])
@pytest.mark.parametrize("name", BINARY)
def test_binary_same_bits(name, bshape, dtype):
    ashape = BIG if bshape != (1, 3 * 65536 + 5) else bshape
    a_np = data(ashape, dtype, lo=0.5, hi=2.0)
    b_np = data(bshape, dtype, seed=2, lo=0.5, hi=2.0)
    fn = getattr(ad, name)

    def run():
        a = ad.tensor(a_np, requires_grad=True)
        b = ad.tensor(b_np, requires_grad=True)
        y = fn(a, b)
        y.backward(ad.tensor(data(y.shape, dtype, seed=3)))
        return y.numpy(), a.grad.numpy(), b.grad.numpy()
    assert_same_bits(at_threads(run))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_bias_gradient_same_bits(dtype):
    # the bias gradient is a sum over the batch axis (columns split)
    x_np = data((512, 64), dtype)
    g_np = data((512, 1024), dtype, seed=4)

    def run():
        ad.manual_seed(0)
        lin = nn.Linear(64, 1024, dtype=dtype)
        x = ad.tensor(x_np, requires_grad=True)
        y = lin(x) + ad.tensor(np.ones(1024, dtype))
        y.backward(ad.tensor(g_np))
        return (y.numpy(), x.grad.numpy(), lin.weight.grad.numpy(),
                lin.bias.grad.numpy())
    res = at_threads(run)
    assert_same_bits(res)
    # and it is the plain column sum, in float64 exactly
    if dtype == np.float64:
        np.testing.assert_allclose(res[1][3], g_np.sum(0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [1, 0])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_same_bits(log, dim, dtype):
    x_np = data((1024, 300), dtype)
    g_np = data((1024, 300), dtype, seed=5)
    fn = ad.log_softmax if log else ad.softmax

    def run():
        x = ad.tensor(x_np, requires_grad=True)
        y = fn(x, dim)
        y.backward(ad.tensor(g_np))
        return y.numpy(), x.grad.numpy()
    assert_same_bits(at_threads(run))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1},
                                {"weight": True, "ignore_index": 3}])
def test_cross_entropy_same_bits(kw, dtype):
    n, c = 2048, 200
    x_np = data((n, c), dtype)
    lab = np.random.default_rng(6).integers(0, c, n)
    kw = dict(kw)
    if kw.get("weight"):
        kw["weight"] = ad.tensor(data((c,), dtype, lo=0.1, hi=2.0))

    def run():
        x = ad.tensor(x_np, requires_grad=True)
        per = ad.cross_entropy(x, ad.tensor(lab), reduction="none", **kw)
        loss = ad.cross_entropy(x, ad.tensor(lab), **kw)
        (per.sum() + loss).backward()
        return per.numpy(), loss.numpy(), x.grad.numpy()
    assert_same_bits(at_threads(run))


OPTIMS = {
    "sgd": lambda p: ad.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                  weight_decay=1e-3),
    "adam": lambda p: ad.optim.Adam(p, lr=1e-2, amsgrad=True),
    "adamw": lambda p: ad.optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: ad.optim.RMSprop(p, lr=1e-2, centered=True,
                                          momentum=0.5),
    "nadam": lambda p: ad.optim.NAdam(p, lr=1e-2, weight_decay=1e-2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMS))
def test_optimizer_update_same_bits(name, dtype):
    p_np = data((600, 600), dtype)
    gs = [data((600, 600), dtype, seed=10 + i) for i in range(3)]

    def run():
        p = ad.tensor(p_np, requires_grad=True)
        opt = OPTIMS[name]([p])
        for g in gs:
            opt.zero_grad()
            (p * ad.tensor(g)).sum().backward()
            opt.step()
        return (p.numpy(),)
    assert_same_bits(at_threads(run))


def mlp_step(model, opt, x, y):
    loss = ad.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def training_same_bits(make_model, x_np, y_np, compiled, blas_too=False):
    """Three Adam steps of make_model() (seeded), eager or compiled: the
    losses and parameters have the same bits at every thread count."""
    def run():
        ad.manual_seed(0)
        model = make_model()
        opt = ad.optim.Adam(model.parameters(), lr=1e-3)
        step = ad.compile(mlp_step) if compiled else mlp_step
        losses = [step(model, opt, ad.tensor(x_np), ad.tensor(y_np)).item()
                  for _ in range(3)]
        return [np.array(losses)] + [p.numpy() for p in model.parameters()]
    assert_same_bits(at_threads(run, blas_too))


@pytest.mark.parametrize("compiled", [False, True])
def test_mlp_training_same_bits(compiled):
    """A large MLP's training steps (every split kernel at once), eager and
    as a compiled replay."""
    training_same_bits(
        lambda: nn.Sequential(nn.Linear(64, 1024), nn.ReLU(),
                              nn.Linear(1024, 1024), nn.Tanh(),
                              nn.Linear(1024, 10)),
        data((256, 64), np.float32),
        np.random.default_rng(7).integers(0, 10, 256), compiled)


@pytest.mark.skipif(not _engine._sgemm_kernel_ok(),
                    reason="no AVX-512F: linear's products run in BLAS")
@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("sizes,batch", [((64, 1024, 1024, 10), 256),
                                         ((64, 256, 256, 10), 32),
                                         ((40, 50, 30), 1100)])
def test_mlp_training_same_bits_with_the_blas_at_the_thread_count(
        sizes, batch, compiled):
    """ad.set_num_threads(n) itself, the BLAS at n threads too: linear's
    float32 products (forward, dx, dW) run the engine's own kernel at
    every n, shared out over the pool, so MLPs -- the large one's products
    split into panels and row groups, the small one's on one thread, a
    narrow one over 1100 samples, whose forward is BLAS's (more than 1024
    samples) on one BLAS thread (fewer than 2^22 multiply-adds) and its
    backward the kernel's -- still give the same bits."""
    def make():
        layers = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])
    training_same_bits(make, data((batch, sizes[0]), np.float32),
                       np.random.default_rng(9).integers(0, sizes[-1], batch),
                       compiled, blas_too=True)


def rnn_run(name, T, B, I, H, layers, bidir, compiled=False):
    """An LSTM's or GRU's forward and backward in float32 (seeded): its
    outputs, final states and every gradient (input, initial states,
    parameters); compiled: two SGD steps through ad.compile first."""
    lstm = name == "LSTM"

    def run():
        ad.manual_seed(3)
        m = getattr(nn, name)(I, H, num_layers=layers, bidirectional=bidir)
        rng = np.random.default_rng(T * B + H)
        D = layers * (2 if bidir else 1)
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        h0 = rng.standard_normal((D, B, H)).astype(np.float32)
        c0 = rng.standard_normal((D, B, H)).astype(np.float32)
        g = rng.standard_normal((T, B, D // layers * H)).astype(np.float32)

        def forward(x, h0, c0):
            y, hx = m(x, (h0, c0) if lstm else h0)
            hn, cn = hx if lstm else (hx, hx * hx)
            return y, hn, cn
        if compiled:
            opt = ad.optim.SGD(m.parameters(), lr=0.1)

            def step(x, h0, c0):
                opt.zero_grad()
                y, hn, cn = forward(x, h0, c0)
                loss = (y * ad.tensor(g)).sum() + (cn * cn).sum()
                loss.backward()
                opt.step()
                return loss
            f = ad.compile(step)
            for _ in range(2):
                f(x, h0, c0)
        X = ad.tensor(x, requires_grad=True)
        H0 = ad.tensor(h0, requires_grad=True)
        C0 = ad.tensor(c0, requires_grad=True)
        y, hn, cn = forward(X, H0, C0)
        ((y * ad.tensor(g)).sum() + hn.sum() * 0.5 +
         (cn * cn).sum()).backward()
        return ([y.numpy(), hn.numpy(), cn.numpy(), X.grad.numpy(),
                 H0.grad.numpy()] + ([C0.grad.numpy()] if lstm else []) +
                [p.numpy() for p in m.parameters()] +
                [p.grad.numpy() for p in m.parameters()])
    return run


# (T, B, I, H, layers, bidirectional): a batch of 40 in five 8-row blocks
# (two pieces on the pool), 11 rows with 37 units (partial blocks and
# panels) in two bidirectional layers, the benchmark's 32 x 128 over 50
# steps (its W_hh gradient 2^23 multiply-adds)
RNN_SHAPES = [(6, 40, 8, 64, 1, False), (5, 11, 7, 37, 2, True),
              (50, 32, 32, 128, 1, False)]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("shape", RNN_SHAPES)
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_rnn_same_bits_at_every_pool_thread_count(name, shape, compiled):
    """With the pool at more than one thread a float32 LSTM or GRU runs
    each block of 8 batch rows through the whole sequence on one thread
    (ops_rnn.c's rows path; at one thread the serial loop): the same
    products and cells element by element, so every output and gradient
    keeps its bits, eager and in a compiled replay."""
    assert_same_bits(at_threads(rnn_run(name, *shape, compiled=compiled)))


@pytest.mark.skipif(not _engine._sgemm_kernel_ok(),
                    reason="no AVX-512F: the products run in BLAS")
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_rnn_with_the_blas_at_the_thread_count(name):
    """ad.set_num_threads(n) itself: where the BLAS would use its own
    threads (the input projection over 1600 rows, W_hh's gradient), the
    engine's kernel runs those products on the pool from two threads on
    (the BLAS, at one thread, keeps them at one): the same bits at 2, 3
    and 4 threads, and the values of the one-thread BLAS run to float32
    rounding."""
    res = at_threads(rnn_run(name, 50, 32, 32, 128, 1, False), blas_too=True)
    assert_same_bits(res[1:])
    for a, b in zip(res[0], res[1]):
        scale = max(float(np.abs(a).max()), 1.0)
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5 * scale)


# ------------------------------------------- concurrent Python threads

def test_concurrent_threads_share_the_pool():
    """Python threads running large ops at once (the GIL is released in
    the large kernels, so they meet in the pool: one gets it, the others
    run serially): every result equals the single-threaded one."""
    xs = [data(BIG, np.float32, seed=20 + k) for k in range(3)]

    def work(x_np):
        x = ad.tensor(x_np, requires_grad=True)
        y = ad.log_softmax(ad.tanh(x) * x + 1.0, 1)
        y.backward(ad.ones_like(y))
        return y.numpy().copy(), x.grad.numpy().copy()

    ad.set_num_threads(1)
    want = [work(x) for x in xs]
    ad.set_num_threads(2)
    errors, got = [], {}
    bar = threading.Barrier(len(xs))

    def body(k):
        try:
            bar.wait()
            for _ in range(int(os.environ.get("AUTODIFF_THREAD_ITERS",
                                              "20"))):
                got[k] = work(xs[k])
                for a, b in zip(want[k], got[k]):
                    assert np.array_equal(a, b), k
        except BaseException as e:       # reported below
            errors.append((k, repr(e)))
    ts = [threading.Thread(target=body, args=(k,)) for k in range(len(xs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert sorted(got) == [0, 1, 2]


# ------------------------- convolution, pooling, normalization (issue 16)

def step_same_bits(fn, arrays, dtype, blas_too=False):
    """fn(*tensors) -> output, from leaves made of `arrays` (x0 + a, as a
    training step sees them); its output and every input's gradient, eager
    and as a compiled replay, at each thread count: the same bits.  With
    blas_too the BLAS follows the thread count as well (ad.set_num_threads
    itself)."""
    gy = {}

    def run(compiled):
        leaves = [nn.Parameter(ad.zeros(*a.shape, dtype=dtype))
                  for a in arrays]

        def step(*xs):
            for p in leaves:
                p.grad = None
            y = fn(*[p + x for p, x in zip(leaves, xs)])
            if "g" not in gy:
                gy["g"] = data(y.shape, np.dtype(y.dtype.name), seed=99)
            (y * ad.tensor(gy["g"])).sum().backward()
            return y
        f = ad.compile(step) if compiled else step
        out = []
        for _ in range(2 if compiled else 1):    # record, then replay
            y = f(*[ad.tensor(a) for a in arrays])
            out = [y.numpy().copy()] + [p.grad.numpy().copy()
                                        for p in leaves]
        return out

    def both():
        return run(False) + run(True)
    if blas_too:
        res = []
        for t in THREADS:
            ad.set_num_threads(t)
            res.append([np.array(a, copy=True) for a in both()])
    else:
        res = at_threads(both)
    assert_same_bits(res)
    half = len(res[0]) // 2
    for a, b in zip(res[0][:half], res[0][half:]):    # eager == compiled
        assert np.array_equal(a, b)
    return res[0][:half]


F = nn.functional
CONVS = {
    # name: (input shape, weight shape, kwargs); big ones cross the
    # pool's threshold (and cut the weight's gradient into pieces)
    "big": ((32, 3, 32, 32), (16, 3, 3, 3), dict(padding=1)),
    "big_strided_groups": ((24, 4, 30, 30), (8, 2, 3, 3),
                           dict(stride=2, padding=2, dilation=2, groups=2)),
    "lenet2": ((64, 6, 12, 12), (16, 6, 5, 5), {}),
    "pointwise": ((16, 32, 24, 24), (48, 32, 1, 1), {}),
    "depthwise": ((16, 16, 32, 32), (32, 1, 3, 3),
                  dict(padding=1, groups=16)),
    "small": ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding=1)),
    # a GEMM whose bits OpenBLAS's threaded dgemm changes (K = 576)
    "one_sample": ((1, 64, 14, 14), (128, 64, 3, 3), dict(padding=1)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv2d_same_bits(name, dtype):
    xs, ws, kw = CONVS[name]
    arrays = [data(xs, dtype), data(ws, dtype, seed=1),
              data((ws[0],), dtype, seed=2)]
    step_same_bits(lambda x, w, b: F.conv2d(x, w, b, **kw), arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_same_bits_with_the_blas_at_the_thread_count(dtype):
    """set_num_threads(n) sets the BLAS to n too; the convolution's GEMMs
    run with it at one thread (OpenBLAS's threaded dgemm gives other bits),
    so its results still do not change (a single large sample: the pool
    cannot split it, the BLAS would)."""
    for name in ("one_sample", "big"):
        xs, ws, kw = CONVS[name]
        arrays = [data(xs, dtype), data(ws, dtype, seed=1)]
        step_same_bits(lambda x, w: F.conv2d(x, w, **kw), arrays, dtype,
                       blas_too=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_and_transposed_same_bits(dtype):
    arrays = [data((32, 8, 2000), dtype), data((16, 8, 5), dtype, seed=1)]
    step_same_bits(lambda x, w: F.conv1d(x, w, padding=2), arrays, dtype)
    arrays = [data((16, 8, 20, 20), dtype), data((8, 4, 3, 3), dtype, seed=1)]
    step_same_bits(lambda x, w: F.conv_transpose2d(x, w, stride=2),
                   arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unfold_fold_same_bits(dtype):
    arrays = [data((32, 4, 24, 24), dtype)]
    step_same_bits(lambda x: F.unfold(x, 3, padding=1, stride=2), arrays,
                   dtype)
    arrays = [data((32, 36, 144), dtype)]
    step_same_bits(lambda x: F.fold(x, (24, 24), 3, padding=1, stride=2),
                   arrays, dtype)


def test_conv_weight_gradient_in_pieces_matches_torch():
    """The weight's gradient summed in fixed pieces of the batch (8 here)
    is still the gradient: against torch in float64."""
    torch = require_torch()
    xs, ws, kw = CONVS["big"]
    x, w = data(xs, np.float64), data(ws, np.float64, seed=1)
    g = data((32, 16, 32, 32), np.float64, seed=2)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(tx, tw, **kw).backward(torch.tensor(g))
    for t in THREADS:
        ad.set_num_threads(t)
        ax = ad.tensor(x, requires_grad=True)
        aw = ad.tensor(w, requires_grad=True)
        F.conv2d(ax, aw, **kw).backward(ad.tensor(g))
        np.testing.assert_allclose(aw.grad.numpy(), tw.grad.numpy(),
                                   rtol=1e-11, atol=1e-10)
        np.testing.assert_allclose(ax.grad.numpy(), tx.grad.numpy(),
                                   rtol=1e-11, atol=1e-10)


POOLS = {
    "max2": lambda x: F.max_pool2d(x, 2),
    "max3_pad": lambda x: F.max_pool2d(x, 3, stride=2, padding=1,
                                       dilation=1, ceil_mode=True),
    "avg3": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
    "avg_nopad": lambda x: F.avg_pool2d(x, 2, count_include_pad=False,
                                        divisor_override=None),
    "adaptive_avg": lambda x: F.adaptive_avg_pool2d(x, (5, 7)),
    "adaptive_max": lambda x: F.adaptive_max_pool2d(x, (5, 7)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 16, 24, 24), (2, 3, 6, 6)])
@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_same_bits(name, shape, dtype):
    step_same_bits(POOLS[name], [data(shape, dtype)], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_indices_same_bits(dtype):
    x_np = data((32, 16, 24, 24), dtype)

    def run():
        y, i = F.max_pool2d(ad.tensor(x_np), 2, return_indices=True)
        return y.numpy(), i.numpy()
    assert_same_bits(at_threads(run))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 16, 16, 16), (4, 3, 5, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_same_bits(training, shape, dtype):
    C = shape[1]
    arrays = [data(shape, dtype), data((C,), dtype, seed=1, lo=0.5),
              data((C,), dtype, seed=2)]

    def run():
        rm = ad.tensor(data((C,), dtype, seed=3))
        rv = ad.tensor(data((C,), dtype, seed=4, lo=0.5))
        out = step_same_bits(
            lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training,
                                         momentum=0.1), arrays, dtype)
        return out + [rm.numpy(), rv.numpy()]
    # the running stats too (updated by every run: compare whole runs)
    res = []
    for t in THREADS:
        _engine._set_pool_threads(t)
        res.append([np.array(a, copy=True) for a in run()])
    assert_same_bits(res)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["layer", "group", "rms"])
def test_norm_same_bits(kind, dtype):
    shape = (64, 32, 8, 16)
    C = shape[1]
    if kind == "layer":
        arrays = [data(shape, dtype), data(shape[-2:], dtype, seed=1),
                  data(shape[-2:], dtype, seed=2)]
        fn = lambda x, w, b: F.layer_norm(x, shape[-2:], w, b)  # noqa: E731
    elif kind == "group":
        arrays = [data(shape, dtype), data((C,), dtype, seed=1),
                  data((C,), dtype, seed=2)]
        fn = lambda x, w, b: F.group_norm(x, 4, w, b)  # noqa: E731
    else:
        arrays = [data(shape, dtype), data(shape[-1:], dtype, seed=1)]
        fn = lambda x, w: F.rms_norm(x, shape[-1:], w)  # noqa: E731
    step_same_bits(fn, arrays, dtype)


def test_norm_affine_gradients_in_pieces_match_torch():
    """layer_norm's weight and bias gradients summed over 4 fixed pieces
    of the rows (ad_norm_pieces) are still the gradients: against torch in
    float64, at every thread count."""
    torch = require_torch()
    x, w, b = (data((2048, 128), np.float64), data((128,), np.float64, 1),
               data((128,), np.float64, 2))
    g = data((2048, 128), np.float64, seed=3)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.layer_norm(tx, (128,), tw, tb).backward(
        torch.tensor(g))
    for t in THREADS:
        ad.set_num_threads(t)
        ax, aw, ab = (ad.tensor(a, requires_grad=True) for a in (x, w, b))
        F.layer_norm(ax, (128,), aw, ab).backward(ad.tensor(g))
        for ours, theirs in ((ax, tx), (aw, tw), (ab, tb)):
            np.testing.assert_allclose(ours.grad.numpy(),
                                       theirs.grad.numpy(), rtol=1e-10,
                                       atol=1e-10)


@pytest.mark.parametrize("compiled", [False, True])
def test_cnn_training_same_bits(compiled):
    """LeNet-5-like training steps (conv, batch norm, pooling, linear,
    Adam): every split kernel of a CNN at once."""
    training_same_bits(
        lambda: nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.AvgPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(),
            nn.Linear(120, 10)),
        data((64, 1, 28, 28), np.float32),
        np.random.default_rng(8).integers(0, 10, 64), compiled)


def test_small_products_run_on_one_blas_thread():
    """A product of fewer than 2^22 multiply-adds runs on one BLAS thread
    whatever ad.set_num_threads says (OpenBLAS's threads lose on them
    inside a step), and so does every product of a thread running alone
    (a replica); linear's own backward kernel takes the one-thread
    products.  A small MLP layer gives the 1-thread bits at 2 threads."""
    ad.set_num_threads(2)
    one = _engine._blas_one_thread
    assert one(32, 256, 256) and one(32, 10, 256)
    assert one(2047, 1024, 2) and not one(2048, 1024, 2)
    assert not one(256, 1024, 1024)
    run = _engine._ReplicaRun()
    run.begin(1)
    try:
        assert one(256, 1024, 1024)
    finally:
        run.end()
    assert not one(256, 1024, 1024)
    ad.set_num_threads(1)
    assert one(256, 1024, 1024)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 256)).astype(np.float32)
    g = rng.standard_normal((32, 256)).astype(np.float32)
    out = []
    for t in (1, 2):
        ad.set_num_threads(t)
        ad.manual_seed(0)
        lin = nn.Linear(256, 256)
        xt = ad.tensor(x, requires_grad=True)
        y = lin(xt)
        y.backward(ad.tensor(g))
        out.append([a.numpy().tobytes() for a in
                    (y, xt.grad, lin.weight.grad, lin.bias.grad)])
    assert out[0] == out[1]


@pytest.mark.parametrize("value,expected", [
    ("0", 0), ("120", 120), ("1000000", 1000000), ("", 500), ("abc", 500),
    ("-5", 500), ("2000000", 500), ("12us", 500), (None, 500)])
def test_spin_time_from_the_environment(value, expected):
    """AUTODIFF_SPIN_US: how long idle pool and crew threads poll before
    they sleep; a value out of 0..1000000 or not an integer keeps the
    default."""
    env = dict(os.environ)
    env.pop("AUTODIFF_SPIN_US", None)
    if value is not None:
        env["AUTODIFF_SPIN_US"] = value
    out = subprocess.run(
        [sys.executable, "-c",
         "import autodiff._engine as e; print(e._spin_us())"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert int(out) == expected


@pytest.mark.parametrize("spin", ["0", "500"])
def test_pool_results_do_not_depend_on_the_spin_time(spin):
    """Idle threads sleeping at once (0) or polling: the same bits for an
    op the pool splits, and a step of a model, at 2 threads."""
    code = (
        "import hashlib, numpy as np, autodiff as ad\n"
        "ad.set_num_threads(2)\n"
        "x = ad.tensor(np.linspace(-3, 3, 262144, dtype=np.float32)"
        ".reshape(256, 1024), requires_grad=True)\n"
        "y = (x.tanh() * x).sum()\n"
        "y.backward()\n"
        "print(y.item().hex(),"
        " hashlib.sha256(x.grad.numpy().tobytes()).hexdigest())\n")
    env = dict(os.environ, AUTODIFF_SPIN_US=spin)
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout
    env["AUTODIFF_SPIN_US"] = "1000"
    ref = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out == ref and out.strip()
