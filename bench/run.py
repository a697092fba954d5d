"""The benchmark suite: the same math in autodiff and in every installed peer,
measured in one run.

    python bench/run.py [--quick] [--threads 1] [--reps 5] [--out FILE]
                        [--only ROW[,ROW...]]

--only runs the named rows alone (names: %s).

Workloads
  1. per-op overhead: a chain of 60 elementwise ops (mul, add, sigmoid,
     tanh, relu) on a 16-element float32 tensor, forward + backward;
     microseconds per op
  2. the seed network: 1-2-1 sigmoid net on X = [[0], [1]], float64, one
     full-batch SGD step (forward, backward, update)
  3. small MLP 64-256-256-10 ReLU, softmax cross-entropy, SGD momentum 0.9,
     batch 32, float32, on scikit-learn's digits
  4. large MLP 64-1024-1024-10, batch 256, same recipe
  5. the floor: for 3 and 4, the step's matmul FLOPs at the machine's
     single-thread sgemm rate (a 1024x1024 float32 matmul, same run)
  7. conv2d forward + backward: batch 32, 3 -> 16 channels, 32x32, 3x3,
     padding 1, float32 (input, weight and bias gradients), beside torch
     eager; the floor is the same im2col GEMMs (forward, weight and input
     gradients) timed alone in numpy
  8. LeNet-5 training step (batch 64, 1x28x28, SGD momentum 0.9; bench/
     cnn.py) beside torch eager with the same initial weights; the floor
     is the step's GEMMs (im2col convolutions and linear layers) in numpy
  9. one training epoch of examples/digits_cnn.py's model (conv, batch
     norm, pooling, dropout; batch 32, Adam) beside the same model in torch
 10. one nn.TransformerEncoderLayer training step (forward, backward,
     SGD): batch 32, seq 64, d_model 128, 4 heads, feed-forward 512,
     dropout 0.1, float32; autodiff eager and ad.compile beside torch eager
 11. LSTM training step: nn.LSTM(32, 128) over a sequence of 50, batch
     32, a linear head on every step, MSE, SGD, float32; eager, compiled
     and torch eager from the same initial weights
 12. BatchNorm2d(64) on 64x64x16x16, training forward + backward,
     float32, beside torch eager
 13. LayerNorm(512) on 64x512, forward + backward, float32, beside torch
     eager
  6. 1M-element throughput (bench/throughput.py): the forward of common
     elementwise and reduction ops on 1M float32 elements beside numpy
     and torch (torch at --threads; run throughput.py itself for torch's
     default thread count as well)

Each cell is the median of --reps repetitions; each peer's column also shows
its time divided by autodiff's (> 1 means autodiff is faster).  Peers that
are not installed are reported as skipped.  Nothing here asserts anything
about time: the machine is shared and absolute times drift.
"""
import argparse
import os
import platform
import sys


ROWS = ("per-op", "seed", "small-mlp", "large-mlp", "conv", "lenet",
        "digits-cnn", "transformer", "lstm", "batchnorm", "layernorm",
        "throughput")
__doc__ = __doc__ % ", ".join(ROWS)


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=None, help="also write markdown here")
    ap.add_argument("--only", default=None,
                    help="comma-separated rows to run (default all): "
                         + ", ".join(ROWS))
    a = ap.parse_args()
    a.only = set(ROWS) if a.only is None else {
        r.strip() for r in a.only.split(",") if r.strip()}
    bad = sorted(a.only - set(ROWS))
    if bad:
        ap.error("unknown row(s) %s; the rows are %s"
                 % (", ".join(bad), ", ".join(ROWS)))
    return a


ARGS = parse()
# Pin the process to --threads cores: a peer whose runtime ignores the
# thread flags (XLA's) then cannot use more cores than the others.
if hasattr(os, "sched_setaffinity"):
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(cpus[:max(ARGS.threads, 1)]))
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if var in os.environ:
        print("note: %s is set, which makes OpenBLAS (numpy's, scipy's and "
              "so autodiff's) use slower kernels; run with "
              "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE to measure "
              "the machine" % var)
# Thread limits must be set before the peers load their thread pools.
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
if ARGS.threads == 1:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          "intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402
from common import chain, timed  # noqa: E402
from autodiff import nn, optim  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
    _LIMIT = threadpool_limits(limits=ARGS.threads)
except ImportError:  # pragma: no cover
    threadpool_limits = None
# The engine's own thread pool (and the BLAS again) at --threads.
ad.set_num_threads(ARGS.threads)

try:
    import torch
    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None
try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
except ImportError:
    jax = None
try:
    import autograd
    import autograd.numpy as anp
except ImportError:
    autograd = None
try:
    import sklearn
    from sklearn.datasets import load_digits
except ImportError:
    sklearn = None


# ------------------------------------------------------------ 1. per op

def bench_per_op(reps, n):
    x0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    res = {}
    x = ad.tensor(x0, requires_grad=True)

    def ad_step():
        x.grad = None
        chain(ad, x).backward()
    res["autodiff"] = timed(ad_step, n, reps) / 60
    if torch is not None:
        xt = torch.tensor(x0, requires_grad=True)

        def t_step():
            xt.grad = None
            chain(torch, xt).backward()
        res["torch eager"] = timed(t_step, n, reps) / 60
    if autograd is not None:
        class M:
            sigmoid = staticmethod(lambda v: 0.5 * (anp.tanh(v / 2) + 1))
            tanh = staticmethod(anp.tanh)
            relu = staticmethod(lambda v: anp.maximum(v, 0))
        g = autograd.grad(lambda v: chain(M, v))
        res["HIPS autograd"] = timed(lambda: g(x0), max(n // 10, 5),
                                     reps) / 60
    return res


# ----------------------------------------------------- 2. seed network

def bench_seed(reps, n):
    X0 = np.array([[0.0], [1.0]])
    Y0 = np.array([[0.0], [1.0]])
    rng = np.random.default_rng(0)
    W1_0, W2_0 = rng.normal(size=(1, 2)), rng.normal(size=(2, 1))
    lr = 0.5
    res = {}

    X, Y = ad.tensor(X0), ad.tensor(Y0)
    W1 = ad.tensor(W1_0, requires_grad=True)
    b1 = ad.zeros(2, dtype=ad.float64, requires_grad=True)
    W2 = ad.tensor(W2_0, requires_grad=True)
    b2 = ad.zeros(1, dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([W1, b1, W2, b2], lr=lr)

    def ad_step():
        out = ad.sigmoid(ad.sigmoid(X @ W1 + b1) @ W2 + b2)
        loss = ad.mse_loss(out, Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    res["autodiff"] = timed(ad_step, n, reps)

    def ad_fn(x, y):
        out = ad.sigmoid(ad.sigmoid(x @ W1 + b1) @ W2 + b2)
        loss = ad.mse_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    compiled = ad.compile(ad_fn)
    # the batch passed on every call, as numpy arrays (as JAX gets its)
    res["autodiff compiled"] = timed(lambda: compiled(X0, Y0), n, reps)

    P = [W1_0.copy(), np.zeros(2), W2_0.copy(), np.zeros(1)]

    def np_step():
        w1, c1, w2, c2 = P
        h = 1 / (1 + np.exp(-(X0 @ w1 + c1)))
        o = 1 / (1 + np.exp(-(h @ w2 + c2)))
        d_o = 2 * (o - Y0) / o.size * o * (1 - o)
        gw2 = h.T @ d_o
        d_h = d_o @ w2.T * h * (1 - h)
        gw1 = X0.T @ d_h
        for p, g in zip(P, (gw1, d_h.sum(0), gw2, d_o.sum(0))):
            p -= lr * g
    res["numpy (by hand)"] = timed(np_step, n, reps)

    if torch is not None:
        Xt, Yt = torch.tensor(X0), torch.tensor(Y0)
        pt = [torch.tensor(W1_0, requires_grad=True),
              torch.zeros(2, dtype=torch.float64, requires_grad=True),
              torch.tensor(W2_0, requires_grad=True),
              torch.zeros(1, dtype=torch.float64, requires_grad=True)]
        topt = torch.optim.SGD(pt, lr=lr)

        def t_step():
            out = torch.sigmoid(torch.sigmoid(Xt @ pt[0] + pt[1]) @ pt[2]
                                + pt[3])
            loss = torch.nn.functional.mse_loss(out, Yt)
            topt.zero_grad()
            loss.backward()
            topt.step()
        res["torch eager"] = timed(t_step, n, reps)

    if jax is not None:
        def jloss(p, x, y):
            h = jax.nn.sigmoid(x @ p[0] + p[1])
            o = jax.nn.sigmoid(h @ p[2] + p[3])
            return jnp.mean((o - y) ** 2)

        @jax.jit
        def jstep(p, x, y):
            g = jax.grad(jloss)(p, x, y)
            return [a - lr * b for a, b in zip(p, g)]
        state = {"p": [jnp.asarray(W1_0), jnp.zeros(2), jnp.asarray(W2_0),
                       jnp.zeros(1)]}
        Xj, Yj = jnp.asarray(X0), jnp.asarray(Y0)

        def j_step():
            state["p"] = jstep(state["p"], Xj, Yj)
            state["p"][0].block_until_ready()
        res["JAX jit"] = timed(j_step, n, reps)

    if autograd is not None:
        def aloss(p):
            h = 1 / (1 + anp.exp(-(X0 @ p[0] + p[1])))
            o = 1 / (1 + anp.exp(-(h @ p[2] + p[3])))
            return anp.mean((o - Y0) ** 2)
        ag = autograd.grad(aloss)
        ap = [W1_0.copy(), np.zeros(2), W2_0.copy(), np.zeros(1)]

        def a_step():
            g = ag(ap)
            for p, gg in zip(ap, g):
                p -= lr * gg
        res["HIPS autograd"] = timed(a_step, max(n // 5, 5), reps)
    return res


# --------------------------------------------------------------- 3, 4 MLPs

def digits():
    if sklearn is not None:
        X, y = load_digits(return_X_y=True)
        return (X / 16.0).astype(np.float32), y.astype(np.int64)
    rng = np.random.default_rng(0)          # same shapes if sklearn absent
    return (rng.random((1797, 64), dtype=np.float32),
            rng.integers(0, 10, 1797))


def mlp_flops(sizes, batch):
    fwd = sum(2 * batch * a * b for a, b in zip(sizes, sizes[1:]))
    first = 2 * batch * sizes[0] * sizes[1]
    return fwd + 2 * fwd - first      # forward, dW for all, dX but layer 1


def bench_mlp(sizes, batch, reps, n, lr=0.01, mom=0.9):
    X, y = digits()
    nb = len(X) // batch
    batches = [(X[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
               for i in range(max(nb, 1))]
    if nb == 0:
        reps_x = np.resize(X, (batch, X.shape[1]))
        batches = [(reps_x, np.resize(y, batch))]
    res = {}
    rng = np.random.default_rng(0)
    init = []
    for a, b in zip(sizes, sizes[1:]):
        bound = 1 / np.sqrt(a)
        init.append((rng.uniform(-bound, bound, (b, a)).astype(np.float32),
                     rng.uniform(-bound, bound, b).astype(np.float32)))

    def make_model():
        layers = []
        for (W, b) in init:
            lin = nn.Linear(W.shape[1], W.shape[0])
            with ad.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(b)
            layers += [lin, nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        return model, optim.SGD(model.parameters(), lr=lr, momentum=mom)

    # autodiff eager
    model, opt = make_model()
    ce = nn.CrossEntropyLoss()
    tb = [(ad.tensor(a), b) for a, b in batches]
    it = {"i": 0}

    def ad_step():
        xb, yb = tb[it["i"] % len(tb)]
        it["i"] += 1
        loss = ce(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    res["autodiff"] = timed(ad_step, n, reps)

    # A fresh model from the same initial values, as every peer gets:
    # the eager one is far into training by now, and its later values
    # (tiny, even subnormal, numbers) cost more per step.
    cmodel, copt = make_model()
    it["i"] = 0

    def ad_fn(xb, yb):
        loss = ce(cmodel(xb), yb)
        copt.zero_grad()
        loss.backward()
        copt.step()
        return loss
    compiled = ad.compile(ad_fn)

    def ad_compiled_step():
        xb, yb = batches[it["i"] % len(batches)]
        it["i"] += 1
        compiled(xb, yb)
    res["autodiff compiled"] = timed(ad_compiled_step, n, reps)

    # numpy by hand
    P = [(W.T.copy(), b.copy()) for W, b in init]
    V = [(np.zeros_like(W), np.zeros_like(b)) for W, b in P]

    def np_step():
        xb, yb = batches[it["i"] % len(batches)]
        it["i"] += 1
        hs = [xb]
        for j, (W, b) in enumerate(P):
            z = hs[-1] @ W + b
            hs.append(np.maximum(z, 0) if j < len(P) - 1 else z)
        z = hs[-1]
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        d = p / len(yb)
        for j in range(len(P) - 1, -1, -1):
            W, b = P[j]
            gW, gb = hs[j].T @ d, d.sum(0)
            if j:
                d = (d @ W.T) * (hs[j] > 0)
            vW, vb = V[j]
            vW *= mom
            vW += gW
            vb *= mom
            vb += gb
            W -= lr * vW
            b -= lr * vb
    res["numpy (by hand)"] = timed(np_step, n, reps)

    if torch is not None:
        tl = []
        for (W, b) in init:
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            tl += [lin, torch.nn.ReLU()]
        tm = torch.nn.Sequential(*tl[:-1])
        topt = torch.optim.SGD(tm.parameters(), lr=lr, momentum=mom)
        tce = torch.nn.CrossEntropyLoss()
        tbt = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in batches]

        def t_step():
            xb, yb = tbt[it["i"] % len(tbt)]
            it["i"] += 1
            loss = tce(tm(xb), yb)
            topt.zero_grad()
            loss.backward()
            topt.step()
        res["torch eager"] = timed(t_step, n, reps)

    if jax is not None:
        def jloss(p, x, yy):
            h = x
            for j, (W, b) in enumerate(p):
                h = h @ W + b
                if j < len(p) - 1:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h)
            return -jnp.mean(jnp.take_along_axis(logp, yy[:, None], 1))

        @jax.jit
        def jstep(p, v, x, yy):
            g = jax.grad(jloss)(p, x, yy)
            v = jax.tree_util.tree_map(lambda a, b: mom * a + b, v, g)
            p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, v)
            return p, v
        st = {"p": [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in init]}
        st["v"] = jax.tree_util.tree_map(jnp.zeros_like, st["p"])
        jb = [(jnp.asarray(a), jnp.asarray(b)) for a, b in batches]

        def j_step():
            xb, yb = jb[it["i"] % len(jb)]
            it["i"] += 1
            st["p"], st["v"] = jstep(st["p"], st["v"], xb, yb)
            st["p"][0][0].block_until_ready()
        res["JAX jit"] = timed(j_step, n, reps)

    if sklearn is not None:
        import warnings
        from sklearn.neural_network import MLPClassifier
        clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]),
                            solver="sgd", momentum=mom,
                            nesterovs_momentum=False, learning_rate_init=lr,
                            alpha=0.0, batch_size=batch)
        classes = np.arange(10)
        clf.partial_fit(batches[0][0], batches[0][1], classes=classes)

        def s_step():
            xb, yb = batches[it["i"] % len(batches)]
            it["i"] += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(xb, yb)
        res["sklearn MLPClassifier"] = timed(s_step, max(n // 2, 5), reps)
    return res


# ---------------------------------------------------------- 7. conv2d

def bench_conv(reps, n, N=32, C=3, O=16, H=32, k=3):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((N, C, H, H)).astype(np.float32)
    conv = nn.Conv2d(C, O, k, padding=1)
    x = ad.tensor(x0, requires_grad=True)

    def ad_step():
        x.grad = None
        conv.zero_grad()
        conv(x).sum().backward()
    res = {"autodiff": timed(ad_step, n, reps)}
    if torch is not None:
        tconv = torch.nn.Conv2d(C, O, k, padding=1)
        xt = torch.tensor(x0, requires_grad=True)

        def t_step():
            xt.grad = None
            tconv.zero_grad()
            tconv(xt).sum().backward()
        res["torch eager"] = timed(t_step, n, reps)
    # the floor: forward W (O, CK) @ col (CK, NL); weight gradient
    # g (O, NL) @ col^T; input gradient W^T @ g
    ck, nl = C * k * k, N * H * H
    w = rng.standard_normal((O, ck)).astype(np.float32)
    col = rng.standard_normal((ck, nl)).astype(np.float32)
    g = rng.standard_normal((O, nl)).astype(np.float32)

    def gemms():
        w @ col
        g @ col.T
        w.T @ g
    res["floor (the im2col GEMMs alone)"] = timed(gemms, n, reps)
    return res


def bench_transformer(reps, n, N=32, L=64, E=128, H=4, FF=512):
    """One nn.TransformerEncoderLayer training step (forward, backward,
    SGD), batch_first, dropout 0.1, float32: autodiff eager and compiled
    beside torch eager."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((N, L, E)).astype(np.float32)
    res = {}
    ad.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, FF, batch_first=True)
    opt = optim.SGD(layer.parameters(), lr=1e-3)
    x = ad.tensor(x0)

    def ad_step(x):
        opt.zero_grad()
        loss = (layer(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    res["autodiff"] = timed(lambda: ad_step(x), n, reps)
    compiled = ad.compile(ad_step)
    res["autodiff compiled"] = timed(lambda: compiled(x), n, reps)
    if torch is not None:
        tl = torch.nn.TransformerEncoderLayer(E, H, FF, batch_first=True)
        topt = torch.optim.SGD(tl.parameters(), lr=1e-3)
        xt = torch.tensor(x0)

        def t_step():
            topt.zero_grad()
            loss = (tl(xt) ** 2).mean()
            loss.backward()
            topt.step()
        res["torch eager"] = timed(t_step, n, reps)
    return res


def bench_lstm(reps, n, B=32, T=50, I=32, H=128):
    """One LSTM training step: nn.LSTM(I, H) over (T, B, I), a linear head
    on every step's output, MSE against a target, SGD; the same initial
    weights in every framework."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((T, B, I)).astype(np.float32)
    y0 = rng.standard_normal((T, B, 1)).astype(np.float32)
    lstm0 = nn.LSTM(I, H)
    head0 = nn.Linear(H, 1)
    state = {k: v.numpy().copy() for k, v in lstm0.state_dict().items()}
    hstate = {k: v.numpy().copy() for k, v in head0.state_dict().items()}

    def make():
        m, h = nn.LSTM(I, H), nn.Linear(H, 1)
        m.load_state_dict({k: ad.tensor(v) for k, v in state.items()})
        h.load_state_dict({k: ad.tensor(v) for k, v in hstate.items()})
        return m, h, optim.SGD(list(m.parameters()) + list(h.parameters()),
                               lr=1e-3)

    def ad_fn(m, h, opt, x, y):
        out, _ = m(x)
        loss = ((h(out) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    m, h, opt = make()
    xt, yt = ad.tensor(x0), ad.tensor(y0)
    res = {"autodiff": timed(lambda: ad_fn(m, h, opt, xt, yt), n, reps)}
    m, h, opt = make()
    compiled = ad.compile(ad_fn)
    res["autodiff compiled"] = timed(lambda: compiled(m, h, opt, x0, y0), n,
                                     reps)
    if torch is not None:
        tm, th = torch.nn.LSTM(I, H), torch.nn.Linear(H, 1)
        tm.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
        th.load_state_dict({k: torch.tensor(v) for k, v in hstate.items()})
        topt = torch.optim.SGD(list(tm.parameters()) +
                               list(th.parameters()), lr=1e-3)
        xs, ys = torch.tensor(x0), torch.tensor(y0)

        def t_step():
            out, _ = tm(xs)
            loss = ((th(out) - ys) ** 2).mean()
            topt.zero_grad()
            loss.backward()
            topt.step()
        res["torch eager"] = timed(t_step, n, reps)
    else:
        res["torch eager"] = None
    return res


def bench_norm(reps, n, kind):
    """BatchNorm2d (64, 64, 16, 16) or LayerNorm(512) on (64, 512),
    float32, training forward + backward (the issue's bar: at least as
    fast as torch eager)."""
    rng = np.random.default_rng(0)
    if kind == "batch":
        shape = (64, 64, 16, 16)
        ours, theirs = nn.BatchNorm2d(64), (
            torch.nn.BatchNorm2d(64) if torch is not None else None)
    else:
        shape = (64, 512)
        ours, theirs = nn.LayerNorm(512), (
            torch.nn.LayerNorm(512) if torch is not None else None)
    x0 = rng.standard_normal(shape).astype(np.float32)
    g0 = rng.standard_normal(shape).astype(np.float32)
    x, g = ad.tensor(x0, requires_grad=True), ad.tensor(g0)

    def ad_step():
        x.grad = None
        ours.zero_grad()
        ours(x).backward(g)
    res = {"autodiff": timed(ad_step, n, reps)}
    if torch is not None:
        xt = torch.tensor(x0, requires_grad=True)
        gt = torch.tensor(g0)

        def t_step():
            xt.grad = None
            theirs.zero_grad()
            theirs(xt).backward(gt)
        res["torch eager"] = timed(t_step, n, reps)
    return res


def sgemm_rate(reps):
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    b = a.copy()
    t = timed(lambda: a @ b, 5, reps)
    return 2 * 1024 ** 3 / t


# ------------------------------------------------------------------ report

def table(title, res, unit, scale):
    lines = ["### " + title, "",
             "| framework | %s | ratio (peer / autodiff) |" % unit,
             "|---|---:|---:|"]
    a = res["autodiff"]
    for k, v in res.items():
        if v is None:
            lines.append("| %s | skipped | |" % k)
            continue
        lines.append("| %s | %.3f | %s |"
                     % (k, v * scale, "1.0x" if k == "autodiff"
                        else "%.2fx" % (v / a)))
    return "\n".join(lines) + "\n"


def main():
    reps = ARGS.reps
    q = ARGS.quick
    peers = {"torch eager": torch, "JAX jit": jax, "HIPS autograd": autograd,
             "sklearn MLPClassifier": sklearn}
    out = ["# autodiff benchmarks", "",
           "machine: %s %s, %d cores; Python %s; numpy %s; BLAS threads %d"
           % (platform.system(), platform.machine(), os.cpu_count(),
              platform.python_version(), np.__version__, ARGS.threads),
           "peers: " + ", ".join(
               "%s %s" % (k, getattr(m, "__version__", "")) if m else
               "%s skipped (not installed)" % k for k, m in peers.items()),
           "", "median of %d repetitions per cell%s" % (
               reps, " (--quick)" if q else ""), ""]
    print("\n".join(out))

    def emit(text):
        print(text)
        out.append(text)
        sys.stdout.flush()

    only = ARGS.only
    if "per-op" in only:
        emit(table("1. per-op overhead (chain of 60 elementwise ops, 16 "
                   "floats, forward + backward)",
                   bench_per_op(reps, 50 if q else 300), "us per op", 1e6))
    if "seed" in only:
        emit(table("2. seed network 1-2-1 sigmoid, float64, one SGD step",
                   bench_seed(reps, 300 if q else 2000), "us per step", 1e6))
    mlps = [row for row in (
        ("small-mlp", "3. small MLP 64-256-256-10, batch 32",
         (64, 256, 256, 10), 32, 50 if q else 300),
        ("large-mlp", "4. large MLP 64-1024-1024-10, batch 256",
         (64, 1024, 1024, 10), 256, 5 if q else 30)) if row[0] in only]
    if mlps:
        rate = sgemm_rate(reps)
        for _, title, sizes, batch, n in mlps:
            res = bench_mlp(sizes, batch, reps, n)
            floor = mlp_flops(sizes, batch) / rate
            res["floor (FLOPs at peak sgemm)"] = floor
            emit(table(title + ", SGD momentum 0.9, float32", res,
                       "ms per step", 1e3))
        emit("sgemm peak (1024^3, float32, %d thread(s)): %.1f GFLOP/s\n"
             % (ARGS.threads, rate / 1e9))
    if "conv" in only:
        emit(table("7. conv2d forward + backward, batch 32, 3->16 channels, "
                   "32x32, 3x3, padding 1, float32",
                   bench_conv(reps, 5 if q else 30), "ms per step", 1e3))
    import cnn
    if "lenet" in only:
        emit(table("8. LeNet-5 training step, batch 64, 1x28x28, SGD "
                   "momentum 0.9, float32", cnn.bench_lenet(reps, 5 if q
                                                            else 30),
                   "ms per step", 1e3))
    if "digits-cnn" in only:
        emit(table("9. digits CNN (examples/digits_cnn.py), one training "
                   "epoch, 1,347 images, batch 32, Adam, float32",
                   cnn.bench_digits_cnn(reps), "ms per epoch", 1e3))
    if "transformer" in only:
        emit(table("10. TransformerEncoderLayer training step, batch 32, "
                   "seq 64, d_model 128, 4 heads, feed-forward 512, dropout "
                   "0.1, float32", bench_transformer(reps, 3 if q else 20),
                   "ms per step", 1e3))
    if "lstm" in only:
        emit(table("11. LSTM training step (nn.LSTM 32 -> 128, batch 32, "
                   "sequence 50, linear head, MSE, SGD), float32",
                   bench_lstm(reps, 3 if q else 10), "ms per step", 1e3))
    if "batchnorm" in only:
        emit(table("12. BatchNorm2d(64) on 64x64x16x16, training forward + "
                   "backward, float32",
                   bench_norm(reps, 10 if q else 50, "batch"),
                   "ms per step", 1e3))
    if "layernorm" in only:
        emit(table("13. LayerNorm(512) on 64x512, forward + backward, "
                   "float32", bench_norm(reps, 100 if q else 500, "layer"),
                   "ms per step", 1e3))
    if "throughput" in only:
        import throughput
        emit("### 6. 1M-element throughput, float32, forward (ms per call; "
             "ratios < 1 mean autodiff is faster)\n")
        emit("\n".join(throughput.run(reps, 3 if q else 10,
                                      torch_default=False,
                                      log=lambda line: None)) + "\n")
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
