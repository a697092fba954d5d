"""Each GEMM of the large MLP's training step, timed alone.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python bench/mlp_gemms.py [--reps 7] [--threads 1] [--sizes ...]

The step of bench/run.py row 4 (64-1024-1024-10, batch 256, float32) makes
eight matrix products; this times each one alone, called exactly as the
engine calls it (csrc/ops_linalg.c through FN(gemm) in kernels.inc: scipy's
OpenBLAS sgemm, row-major operands passed as their column-major transposes,
the same transpose flags and beta), and prints its rate as a fraction of
the peak: a 1024^3 float32 product through the same BLAS in the same run.
With --torch it times torch.mm on the same shapes and layouts beside it
(MKL / oneDNN), which is what torch eager's step runs.  The "engine"
column is what autodiff's linear op takes for the product (the backward
ones through csrc/gemm.c on AVX-512 cpus, packing included): a forward
and backward with only that gradient wanted, less the forward alone.

The floor is the step's FLOPs at the peak rate; the sum of the GEMMs' own
times is what the step cannot go below without faster GEMMs.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="64,1024,1024,10")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--wall", action="store_true",
                    help="wall time even at one thread")
    ap.add_argument("--no-engine", action="store_true",
                    help="leave out the engine column")
    ap.add_argument("--torch", action="store_true",
                    help="also time torch.mm on the same shapes")
    return ap.parse_args()


ARGS = parse()
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))

from scipy.linalg import blas  # noqa: E402

import common  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits
    _LIMIT = threadpool_limits(limits=ARGS.threads)
except ImportError:  # pragma: no cover
    threadpool_info = None


def timed(step, n, reps):
    """Seconds per call: at one thread the calling thread's CPU time
    (every library here computes on the caller at one thread), so other
    processes on a shared machine inflate it much less than wall time;
    --wall or more threads: wall time."""
    one = ARGS.threads == 1 and not ARGS.wall
    return common.timed(step, n, reps,
                        time.thread_time if one else time.perf_counter)


def engine_gemm(ta, tb, a, b, beta, c):
    """c (m x n, row-major) = op(a) op(b) + beta c, as FN(gemm) asks
    BLAS: c^T = op(b)^T op(a)^T on the column-major views (no copy: a
    C-contiguous array's .T is Fortran-contiguous)."""
    return blas.sgemm(1.0, b.T, a.T, beta=beta, c=c.T, trans_a=tb,
                      trans_b=ta, overwrite_c=1)


def step_gemms(sizes, batch):
    """(name, ta, tb, m, n, k, beta) of every product of one step:
    forward x W^T (beta 1: the engine prefills the bias), then backward
    from the last layer: dX = g W (not for the first layer, whose input
    needs no gradient) and dW = g^T x."""
    out = []
    for j, (a, b) in enumerate(zip(sizes, sizes[1:])):
        out.append(("fwd  L%d  x W^T" % (j + 1), 0, 1, batch, b, a, 1.0))
    for j in range(len(sizes) - 2, -1, -1):
        a, b = sizes[j], sizes[j + 1]
        if j > 0:
            out.append(("bwd  L%d  dX = g W" % (j + 1), 0, 0, batch, a, b,
                        0.0))
        out.append(("bwd  L%d  dW = g^T x" % (j + 1), 1, 0, b, a, batch,
                    0.0))
    return out


def engine_time(name, a, b, reps, n_in):
    """The engine's cost of one backward product of a linear layer: x (N,
    in), W (M, in); dX = g W or dW = g^T x alone, forward subtracted."""
    import autodiff as ad
    if "dX" in name:            # a = g (N, M), b = W (M, in)
        g, W = a, b
        x = np.ones((g.shape[0], W.shape[1]), np.float32)
        rx, rw = True, False
    else:                       # a = g (N, M) as A^T, b = x (N, in)
        g, x = a, b
        W = np.ones((g.shape[1], x.shape[1]), np.float32)
        rx, rw = False, True
    X = ad.tensor(x, requires_grad=rx)
    Wt = ad.tensor(W, requires_grad=rw)
    G = ad.tensor(g)

    def fwd():
        with ad.no_grad():
            ad.linear(X, Wt)

    def both():
        X.grad = Wt.grad = None
        ad.linear(X, Wt).backward(G)
    return timed(both, n_in, reps) - timed(fwd, n_in, reps)


def operands(rng, ta, tb, m, n, k):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, b, np.zeros((m, n), np.float32)


def main():
    rng = np.random.default_rng(0)
    sizes = tuple(int(s) for s in ARGS.sizes.split(","))
    reps = ARGS.reps
    if threadpool_info is not None:
        for info in threadpool_info():
            if "scipy.libs" in info["filepath"]:
                print("scipy's OpenBLAS %s, core type %s, %d thread(s)"
                      % (info["version"], info["architecture"],
                         info["num_threads"]))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print("note: %s=%s is set (slower kernels)"
                  % (var, os.environ[var]))
    a, b, c = operands(rng, 0, 0, 1024, 1024, 1024)
    t = timed(lambda: engine_gemm(0, 0, a, b, 0.0, c), 5, reps)
    peak = 2 * 1024 ** 3 / t
    print("peak: 1024^3 sgemm through scipy's BLAS, %.1f GFLOP/s" %
          (peak / 1e9))
    x = np.asarray(a @ b)            # numpy's own BLAS, for comparison
    t_np = timed(lambda: np.matmul(a, b, out=x), 5, reps)
    print("      1024^3 through numpy's matmul, %.1f GFLOP/s"
          % (2 * 1024 ** 3 / t_np / 1e9))
    torch = None
    if ARGS.torch:
        try:
            import torch
            torch.set_num_threads(ARGS.threads)
        except ImportError:
            print("torch not installed: --torch ignored")
    print()
    head = "%-22s %-26s %9s %7s %8s" % ("product", "(m, n, k) ta tb beta",
                                        "us", "GFLOP/s", "of peak")
    if not ARGS.no_engine:
        head += " %9s %8s" % ("engine us", "of peak")
    if torch is not None:
        head += " %9s %8s" % ("torch us", "of peak")
    print(head)
    total_flops, total_t, total_torch, total_eng = 0, 0.0, 0.0, 0.0
    for name, ta, tb, m, n, k, beta in step_gemms(sizes, ARGS.batch):
        a, b, c = operands(rng, ta, tb, m, n, k)
        n_in = max(3, int(2e8 / (2 * m * n * k)))
        t = timed(lambda: engine_gemm(ta, tb, a, b, beta, c), n_in, reps)
        fl = 2 * m * n * k
        total_flops += fl
        total_t += t
        line = "%-22s %-26s %9.1f %7.1f %7.0f%%" % (
            name, "(%d, %d, %d) %d %d %g" % (m, n, k, ta, tb, beta),
            t * 1e6, fl / t / 1e9, 100 * fl / t / peak)
        if not ARGS.no_engine:
            te = t if name.startswith("fwd") else engine_time(
                name, a, b, reps, n_in)
            total_eng += te
            line += " %9.1f %7.0f%%" % (te * 1e6, 100 * fl / te / peak)
        if torch is not None:
            A = torch.from_numpy(a)
            B = torch.from_numpy(b)
            A = A.t() if ta else A
            B = B.t() if tb else B
            C = torch.from_numpy(c)
            tt = timed(lambda: torch.mm(A, B, out=C), n_in, reps)
            total_torch += tt
            line += " %9.1f %7.0f%%" % (tt * 1e6, 100 * fl / tt / peak)
        print(line)
    print()
    floor = total_flops / peak
    print("the step's GEMMs: %.1f MFLOP; floor (at peak) %.3f ms; the GEMMs "
          "alone %.3f ms (%.2fx the floor)"
          % (total_flops / 1e6, floor * 1e3, total_t * 1e3, total_t / floor))
    if not ARGS.no_engine:
        print("the engine's products (forward: BLAS as above): %.3f ms "
              "(%.2fx the floor)" % (total_eng * 1e3, total_eng / floor))
    if torch is not None:
        print("torch.mm on the same products: %.3f ms (%.2fx the floor)"
              % (total_torch * 1e3, total_torch / floor))


if __name__ == "__main__":
    main()
