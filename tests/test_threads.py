"""The engine's thread model (docs/ARCHITECTURE.md, "Thread model").

Each case runs in a subprocess, so a crash (the failure mode before the
thread model existed) fails the test instead of killing pytest; the child
prints OK as its last line after checking its results.  Sums are exact:
float64 with integer-valued data, so the order in which threads add their
contributions cannot change a bit.  No timing is asserted.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autodiff as ad

ITERS = int(os.environ.get("AUTODIFF_THREAD_ITERS", "150"))


def run_child(code, timeout=600):
    code = "ITERS = %d\n%s\n%s" % (ITERS, PRELUDE, textwrap.dedent(code))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, "exit code %d:\n%s" % (r.returncode,
                                                     out[-6000:])
    assert r.stdout.strip().endswith("OK"), out[-6000:]
    return r.stdout


# Shared by the children: threads that start together and report errors.
PRELUDE = """
import queue, sys, threading, time
import numpy as np
import autodiff as ad

def in_threads(n, fn):
    bar = threading.Barrier(n)
    errors = []
    def body(k):
        try:
            bar.wait()
            fn(k)
        except BaseException as e:
            import traceback
            errors.append((k, traceback.format_exc()))
    ts = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
"""


def test_concurrent_backward_sums_every_contribution():
    # Two threads, each its own graphs over the same parameters (one big
    # matrix and 100 small leaves, more than the sweep's first hash table
    # holds): every backward's contribution must land in .grad.
    run_child("""
    rng = np.random.default_rng(0)
    # big enough that the two sweeps (which run without the GIL) overlap
    n = 160
    W0 = rng.integers(-3, 4, (n, n)).astype(np.float64)
    B0 = [rng.integers(-3, 4, n).astype(np.float64) for _ in range(100)]
    X = [rng.integers(-2, 3, (n, n)).astype(np.float64) for _ in range(2)]

    def make():
        W = ad.tensor(W0, requires_grad=True)
        bs = [ad.tensor(b, requires_grad=True) for b in B0]
        return W, bs

    def step(W, bs, x):
        h = x @ W
        v = h.sum(axis=0)
        for j, b in enumerate(bs):
            v = v + (b if j % 10 == 0 else b * 0.0)
        loss = (h * h).sum() + (h * 3.0).sum() + (v * v).sum()
        loss.backward()

    W, bs = make()
    xs = [ad.tensor(x) for x in X]
    in_threads(2, lambda k: [step(W, bs, xs[k]) for _ in range(ITERS)])

    # the same work on one thread
    W1, bs1 = make()
    for k in range(2):
        for _ in range(ITERS):
            step(W1, bs1, xs[k])
    assert np.array_equal(W.grad.numpy(), W1.grad.numpy())
    for b, b1 in zip(bs, bs1):
        assert np.array_equal(b.grad.numpy(), b1.grad.numpy())
    print("OK")
    """)


def test_grad_reset_during_backward_lands_before_or_after():
    # One thread runs backward() again and again; another sets .grad =
    # None or zeroes it in place.  Each backward's gradient is deposited
    # whole: at the end .grad is k times one backward's gradient.
    run_child("""
    n = 384
    W = ad.tensor(np.arange(n * n, dtype=np.float64).reshape(n, n) % 7 - 3,
                  requires_grad=True)
    x = ad.tensor(np.arange(32.0 * n).reshape(32, n) % 5 - 2)
    opt = ad.optim.SGD([W], lr=0.0)

    def one():
        ((x @ W) * 2.0).sum().backward()

    W1 = ad.tensor(W.numpy(), requires_grad=True)
    ((x @ W1) * 2.0).sum().backward()
    unit = W1.grad.numpy()
    done = threading.Event()

    def work(k):
        if k == 0:
            for _ in range(ITERS):
                one()
            done.set()
        else:
            i = 0
            while not done.is_set():
                if i % 2:
                    W.grad = None
                else:
                    opt.zero_grad(set_to_none=False)
                g = W.grad
                assert g is None or g.shape == (n, n)
                i += 1
                time.sleep(0)           # let the other thread run

    in_threads(2, work)
    g = W.grad
    if g is not None:
        k = g.numpy()[unit != 0] / unit[unit != 0]
        assert np.all(k == k[0]) and k[0] == int(k[0]), k
        assert 0 <= k[0] <= ITERS
    print("OK")
    """)


def test_tensors_freed_on_other_threads():
    # A producer records graphs and hands the (non-leaf) outputs to a
    # consumer that drops them; the producer keeps recording and running
    # backward.  Its tape must reclaim the records the consumer freed.
    run_child("""
    q = queue.Queue(maxsize=64)
    consumed = threading.Event()
    W = ad.tensor(np.ones((16, 16)), requires_grad=True)
    x = ad.tensor(np.ones((4, 16)))
    result = {}

    class Sq(ad.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            a, = ctx.saved_tensors
            return g * 2.0 * a

    def producer():
        for i in range(ITERS * 4):
            h = (x @ W).tanh()
            q.put(Sq.apply(h) if i % 3 == 0 else h * 2.0)
            ((x @ W) * 1.0).sum().backward()
        q.put(None)
        consumed.wait()
        y = (x @ W) * 1.0           # processes the queue of foreign frees
        result["live"] = ad.memory_stats()["tape_live"]
        del y

    def consumer():
        while True:
            item = q.get()
            if item is None:
                break
            assert item.shape == (4, 16)
            del item
        consumed.set()

    in_threads(2, lambda k: producer() if k == 0 else consumer())
    assert result["live"] <= 8, result
    assert np.array_equal(W.grad.numpy(), np.full((16, 16), 4.0 * ITERS * 4))
    print("OK")
    """)


def test_graph_outlives_its_thread():
    # Tensors recorded on a thread that has exited (an orphaned tape) are
    # freed on the main thread; a custom Function's context among them is
    # released there too, and every byte comes back.
    run_child("""
    import gc
    released = []

    class Ctx:
        def __del__(self):
            released.append(1)

    class Id(ad.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.tag = Ctx()
            return a * 1.0

        @staticmethod
        def backward(ctx, g):
            return g

    base = ad.memory_stats()["bytes_in_use"]
    for rnd in range(ITERS // 10 + 1):
        box = []
        def worker():
            x = ad.tensor(np.ones(1000), requires_grad=True)
            y = Id.apply(x.sin())
            box.append(y * 2.0)
            box.append(y)
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        try:
            box[0] + box[1]
        except RuntimeError as e:
            assert "thread" in str(e), e
        else:
            raise AssertionError("an op on an exited thread's graph")
        d = box[0].detach()
        assert np.allclose(d.numpy(), 2 * np.sin(1.0))
        del box, d
    # Thread.join() returns before the worker's pthread exits: what the
    # main thread freed meanwhile waits on the worker's tape, which the
    # worker tears down as it exits; the custom contexts among it are then
    # released by the next release on a live thread (no Python runs on a
    # dying thread).  Poll for that (no time limit is asserted).
    import time
    for _ in range(3000):
        ad.tensor([1.0]).detach()
        gc.collect()
        if (len(released) == ITERS // 10 + 1
                and ad.memory_stats()["bytes_in_use"] == base):
            break
        time.sleep(0.01)
    assert len(released) == ITERS // 10 + 1, released
    assert ad.memory_stats()["bytes_in_use"] == base
    print("OK")
    """)


def test_shared_leaf_refcounts_across_threads():
    # Four threads build and drop graphs over the same leaves and swap
    # tensors between them; reference counts must stay exact (a lost
    # update frees a live tensor or leaks it).
    run_child("""
    import gc
    base = ad.memory_stats()["bytes_in_use"]
    a = ad.tensor(np.arange(64.0), requires_grad=True)
    b = ad.tensor(np.ones(64))
    shared = [a.detach() for _ in range(8)]

    def work(k):
        for i in range(ITERS * 2):
            y = (a * b + shared[i % 8]).sum()
            y.backward()
            shared[(i + k) % 8] = shared[(i + 3 * k) % 8].detach()

    in_threads(4, work)
    assert np.array_equal(a.grad.numpy(), np.full(64, 4.0 * ITERS * 2))
    del a, b, shared
    gc.collect()
    assert ad.memory_stats()["bytes_in_use"] == base
    print("OK")
    """)


def test_compiled_function_serves_one_thread_at_a_time():
    # Two threads call one compiled function at once with their own data:
    # a call either runs alone or raises RuntimeError; results are never
    # mixed (and nothing crashes).
    run_child("""
    rng = np.random.default_rng(1)
    W = ad.tensor(rng.integers(-2, 3, (128, 128)).astype(np.float64))
    X = [ad.tensor(rng.integers(-2, 3, (128, 128)).astype(np.float64) + k)
         for k in range(2)]

    @ad.compile
    def f(x, out):
        out.copy_(((x @ W) * (x @ W)).sum())

    want = []
    for k in range(2):
        o = ad.tensor(0.0, dtype=np.float64)
        f(X[k], o)
        want.append(float(o.item()))
    assert want[0] != want[1]
    refused = [0, 0]

    def work(k):
        o = ad.tensor(0.0, dtype=np.float64)
        xk = ad.tensor(X[k].numpy())
        for _ in range(ITERS):
            try:
                f(xk, o)
            except RuntimeError as e:
                assert "already running" in str(e), e
                refused[k] += 1
                continue
            got = float(o.item())
            assert got == want[k], (k, got, want)

    in_threads(2, work)
    print("refused", refused)
    print("OK")
    """)


def test_compiled_fast_path_serves_one_thread_at_a_time():
    # The same with numpy arguments, which the C-level fast path binds:
    # a second thread is refused before it binds, so a result is always
    # one whole call's (the result object is shared: another thread's
    # call may have refreshed it since, never half of it).
    run_child("""
    rng = np.random.default_rng(2)
    W = ad.tensor(rng.integers(-2, 3, (128, 128)).astype(np.float64))
    X = [rng.integers(-2, 3, (128, 128)).astype(np.float64) + k
         for k in range(2)]

    @ad.compile
    def f(x):
        h = ad.tensor(x) @ W
        return (h * h).sum()

    want = {float(f(X[k]).item()) for k in range(2)}
    assert len(want) == 2
    refused = [0, 0]

    def work(k):
        for _ in range(ITERS):
            try:
                r = f(X[k])
            except RuntimeError as e:
                assert "already running" in str(e), e
                refused[k] += 1
                continue
            assert float(r.item()) in want, (k, float(r.item()), want)

    in_threads(2, work)
    assert f.recordings == 1
    print("refused", refused)
    print("OK")
    """)


def test_consumer_thread_pool_stays_bounded():
    # A data-loading thread makes 1 MiB tensors that a consumer frees:
    # the consumer's pool must not keep them all (160 MiB here).
    out = run_child("""
    q = queue.Queue(maxsize=4)
    res = {}

    def producer():
        for _ in range(160):
            q.put(ad.zeros(131072, dtype=np.float64))
        q.put(None)

    def consumer():
        while True:
            t = q.get()
            if t is None:
                break
            del t
        res["pooled"] = ad.memory_stats()["bytes_pooled"]

    in_threads(2, lambda k: producer() if k == 0 else consumer())
    print("pooled", res["pooled"])
    assert res["pooled"] <= 80 << 20, res
    print("OK")
    """)
    assert "pooled" in out


# ---- in-process checks (no threads racing) ---------------------------------

def test_grad_cycle_is_refused():
    x = ad.tensor([1.0, 2.0])
    y = ad.tensor([3.0, 4.0])
    z = ad.tensor([5.0, 6.0])
    x.grad = y
    with pytest.raises(ValueError, match="cycle"):
        y.grad = x
    assert y.grad is None and x.grad is y
    y.grad = z
    with pytest.raises(ValueError, match="cycle"):
        z.grad = x
    assert z.grad is None
    z.grad = ad.tensor([0.0, 0.0])      # no cycle: fine
    with pytest.raises(ValueError):
        x.grad = x
    x.grad = None
    y.grad = x                          # the chain x -> y is gone
    assert y.grad is x


def test_grad_cycle_is_freed_without_the_collector():
    import gc
    import weakref
    gc.disable()
    try:
        x = ad.tensor(np.ones(3))
        y = ad.tensor(np.ones(3))
        x.grad = y
        with pytest.raises(ValueError):
            y.grad = x
        r = weakref.ref(x)
        del x, y
        assert r() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("mib", [1.1, 1.5, 3.01, 5.2, 9.7, 17.3, 33.9])
def test_pool_waste_is_bounded(mib):
    n = int(mib * (1 << 20)) // 8
    before = ad.memory_stats()["bytes_in_use"]
    t = ad.zeros(n, dtype=np.float64)
    used = ad.memory_stats()["bytes_in_use"] - before
    del t
    assert n * 8 <= used <= 1.125 * n * 8, (n * 8, used)


def test_steady_loop_allocates_nothing_with_large_buffers():
    # Sizes above 1 MiB use the finer classes: the same shapes every step
    # still find their buffers in the pool -- also when the pool is at its
    # cap with buffers of other sizes (they are evicted first).
    for n in (9.3, 10.7, 11.1, 12.9, 13.2, 14.8, 16.5):     # one at a time
        ad.zeros(int(n * 131072), dtype=np.float64)
    W = ad.tensor(np.ones((700, 700)), requires_grad=True)
    x = ad.tensor(np.ones((300, 700)))

    def step():
        loss = ((x @ W) * 0.5).sum()
        loss.backward()
        W.grad = None

    for _ in range(3):
        step()
    before = ad.memory_stats()["allocations"]
    for _ in range(20):
        step()
    assert ad.memory_stats()["allocations"] == before
