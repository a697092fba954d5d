"""Trainer(replicas=N) against one replica and against the engine's and
BLAS's own threads, on the two small models of the suite:

  mlp  the small digits MLP of bench/run.py (64-256-256-10 ReLU, SGD
       momentum 0.9, batch 32, float32)
  cnn  examples/digits_cnn.py's model (conv, batch norm, pooling,
       dropout; Adam, batch 32, float32)

    python bench/replicas.py [--reps 7] [--epochs 2] [--only mlp|cnn]
                             [--batch 32]

Rows, for each model (ms per training step through Trainer.fit at the
global batch --batch, whole epochs over the digits, medians of --reps
runs, in one run):
  1 thread                   replicas=1, ad.set_num_threads(1)
  2 threads (pool + BLAS)    replicas=1, ad.set_num_threads(2)
  replicas=2, 1 thread each  replicas=2, ad.set_num_threads(1)
  replicas=2, 2 threads      replicas=2, ad.set_num_threads(2)
and where the time of a replicas step goes: one compiled step (forward,
backward, update) alone on the global batch and on one share, and the
replicas step alone (split, parallel replay, combine + update, loss and
outputs read) without the Trainer's loop.  Speedups are against the
first row of the same run.  Run with env -u OPENBLAS_CORETYPE -u
OPENBLAS_L2_SIZE.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.trainer import Trainer, _Batch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, os.pardir, "examples"))
import digits_cnn  # noqa: E402


def digits():
    """scikit-learn's digits as bench/run.py reads them (it parses its
    own arguments at import, so it is not imported)."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def mlp(seed=0):
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
                          nn.ReLU(), nn.Linear(256, 10))
    return model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def cnn(seed=0):
    model = digits_cnn.build(seed)
    return model, optim.Adam(model.parameters(), lr=2e-3)


def data(which):
    if which == "mlp":
        return digits()
    X, _, y, _ = digits_cnn.load(0)
    return X, np.asarray(y)


def fit_ms(which, replicas, threads, epochs, reps, bs=32):
    """Median ms per step of Trainer.fit over `epochs` epochs."""
    X, y = data(which)
    ad.set_num_threads(threads)
    out = []
    for _ in range(reps):
        model, opt = (mlp if which == "mlp" else cnn)()
        tr = Trainer(model, nn.CrossEntropyLoss(), opt, replicas=replicas)
        tr.fit(X, y, epochs=1, batch_size=bs, seed=0, verbose=0)  # record
        t0 = time.perf_counter()
        tr.fit(X, y, epochs=epochs, batch_size=bs, seed=0, verbose=0)
        steps = epochs * -(-len(y) // bs)
        out.append((time.perf_counter() - t0) / steps * 1e3)
    return statistics.median(out)


def batches(X, y, bs):
    """The data's whole batches of bs in order.  The steps below cycle
    through them: one batch repeated for thousands of steps drives SGD's
    momentum on the digits' always-zero pixels into float32 subnormals,
    which made the update ~8x slower than in a real epoch."""
    return [_Batch((X[i:i + bs],), {}, y[i:i + bs], None)
            for i in range(0, len(y) - bs + 1, bs)]


def per_step_ms(step, bs_list, reps, n):
    """Median over reps of ms per step, n steps cycling through bs_list."""
    ts, k = [], 0
    for _ in range(reps):
        step(bs_list[k % len(bs_list)])
        t0 = time.perf_counter()
        for i in range(n):
            step(bs_list[(k + i) % len(bs_list)])
        k += n + 1
        ts.append((time.perf_counter() - t0) / n * 1e3)
    return statistics.median(ts)


def parts_ms(which, reps, n=200, batch=32):
    """A compiled step alone at the batch and at half of it (one share);
    a replicas step alone."""
    X, y = data(which)
    ad.set_num_threads(1)
    res = {}
    for bs in (batch, batch // 2):
        model, opt = (mlp if which == "mlp" else cnn)()
        tr = Trainer(model, nn.CrossEntropyLoss(), opt)
        res["compiled step, batch %d" % bs] = per_step_ms(
            lambda b: tr._train_step(b, 1.0, True, True), batches(X, y, bs),
            reps, n)
    model, opt = (mlp if which == "mlp" else cnn)()
    tr = Trainer(model, nn.CrossEntropyLoss(), opt, replicas=2)
    tr.fit(X[:2 * batch], y[:2 * batch], epochs=1, batch_size=batch,
           verbose=0)
    from autodiff._replicas import _Replicas
    rep = _Replicas(tr, 2)
    res["replicas=2 step alone, batch %d" % batch] = per_step_ms(
        rep.step, batches(X, y, batch), reps, n)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--only", choices=("mlp", "cnn"))
    ap.add_argument("--batch", type=int, default=32,
                    help="global batch (each of 2 replicas takes half)")
    a = ap.parse_args()
    print("load average: %.1f %.1f %.1f" % os.getloadavg())
    for which in ("mlp", "cnn"):
        if a.only and which != a.only:
            continue
        rows = [("1 thread", 1, 1), ("2 threads (pool + BLAS)", 1, 2),
                ("replicas=2, 1 thread each", 2, 1),
                ("replicas=2, 2 threads", 2, 2)]
        print("\n%s: ms per step (Trainer.fit, batch %d), median of %d"
              % (which, a.batch, a.reps))
        base = None
        for name, r, t in rows:
            ms = fit_ms(which, r, t, a.epochs, a.reps, a.batch)
            base = base or ms
            print("  %-28s %8.3f   %.2fx" % (name, ms, base / ms))
        for name, ms in parts_ms(which, a.reps, batch=a.batch).items():
            print("  %-32s %8.3f" % (name, ms))


if __name__ == "__main__":
    main()
