"""Sort short digit sequences with a two-layer transformer encoder.

Each input is a sequence of 8 random digits; the target at position i is
the i-th smallest of them.  A token embedding plus a learned position
embedding feed nn.TransformerEncoder (two nn.TransformerEncoderLayer,
batch_first), and a linear head reads a digit off every position.  The
training step (fresh random sequences every step) is compiled with
ad.compile.  Prints the token accuracy on 1,000 held-out sequences.

The matrices are tiny, so BLAS runs on one thread (threadpoolctl, when
installed): OpenBLAS's worker threads only add waiting here, and on a
busy machine they stall single steps for hundreds of milliseconds.
"""
import contextlib
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim
import autodiff.nn.functional as F

SEQ, DIGITS = 8, 10


def batch(rng, n):
    x = rng.integers(0, DIGITS, (n, SEQ))
    return x, np.sort(x, axis=1)


class Sorter(nn.Module):
    def __init__(self, d_model=32, nhead=4, dim_feedforward=64,
                 num_layers=2):
        super().__init__()
        self.tok = nn.Embedding(DIGITS, d_model)
        self.pos = nn.Embedding(SEQ, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward,
                                           dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers)
        self.head = nn.Linear(d_model, DIGITS)
        self.positions = np.arange(SEQ)

    def forward(self, x):
        h = self.tok(x) + self.pos(self.positions)
        return self.head(self.encoder(h))          # (N, SEQ, DIGITS)


def accuracy(model, x, y):
    model.eval()
    with ad.no_grad():
        pred = model(x).numpy().argmax(-1)
    model.train()
    return float((pred == y).mean())


def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def main(steps=200, batch_size=64, lr=3e-3, seed=0, verbose=True):
    with one_blas_thread():
        return _main(steps, batch_size, lr, seed, verbose)


def _main(steps, batch_size, lr, seed, verbose):
    rng = np.random.default_rng(seed)
    ad.manual_seed(seed)
    model = Sorter()
    opt = optim.Adam(model.parameters(), lr=lr)
    x_test, y_test = batch(np.random.default_rng(seed + 1), 1000)

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, DIGITS), y)
        loss.backward()
        opt.step()
        return loss

    step = ad.compile(step)
    t0 = time.perf_counter()
    for i in range(steps):
        x, y = batch(rng, batch_size)
        loss = step(x, y.reshape(-1))
        if verbose and (i + 1) % 100 == 0:
            print("step %4d  loss %.4f" % (i + 1, loss.item()))
    seconds = time.perf_counter() - t0
    acc = accuracy(model, x_test, y_test)
    if verbose:
        print("%d steps in %.1f s; held-out token accuracy %.4f"
              % (steps, seconds, acc))
    return acc, seconds


if __name__ == "__main__":
    main()
