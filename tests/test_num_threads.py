"""ad.set_num_threads / ad.get_num_threads and the engine's thread pool
(csrc/threads.c, csrc/kernels_par.inc): every op family the pool splits
gives the same bits at 1, 2 and 3 threads, forward and backward, eager and
compiled, on sizes above the pool's threshold (AD_PAR_ELEMS = 65536
elements a piece: 3 pieces need 196608); Python threads running large ops
at once get the single-threaded results.  No timing is asserted.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine, nn

THREADS = (1, 2, 3)
BIG = (256, 1024)           # 262144 elements: 4 pieces of 65536


@pytest.fixture(autouse=True)
def _restore_threads():
    saved = ad.get_num_threads()
    yield
    ad.set_num_threads(saved)


def at_threads(fn):
    """fn() at each thread count of the engine's pool; the list of its
    results (numpy arrays).  The BLAS stays at one thread: its matrix
    products are not the engine's, and OpenBLAS's bits change with its
    thread count (as PyTorch's do)."""
    out = []
    ad.set_num_threads(1)
    for t in THREADS:
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


@pytest.mark.parametrize("compiled", [False, True])
def test_mlp_training_same_bits(compiled):
    """A large MLP's training steps (every split kernel at once), eager and
    as a compiled replay."""
    x_np = data((256, 64), np.float32)
    y_np = np.random.default_rng(7).integers(0, 10, 256)

    def run():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(),
                              nn.Linear(1024, 1024), nn.Tanh(),
                              nn.Linear(1024, 10))
        opt = ad.optim.Adam(model.parameters(), lr=1e-3)
        step = ad.compile(mlp_step) if compiled else mlp_step
        losses = [step(model, opt, ad.tensor(x_np), ad.tensor(y_np)).item()
                  for _ in range(3)]
        return [np.array(losses)] + [p.numpy() for p in model.parameters()]
    assert_same_bits(at_threads(run))


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
