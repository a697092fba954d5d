"""Sequence regression with a GRU: predict the next value of a noisy sine
wave from the values before it.

Training windows are cut from noisy sine waves of random phase and
frequency; a GRU reads each window and a linear layer predicts the next
(noisy) value at every step.  The held-out metric is the mean squared
error against the clean wave on unseen signals, beside the noise's own
variance (the floor a perfect denoiser would beat) and the error of
predicting the last observed value.  With matplotlib installed, a plot of
the prediction against the truth is saved to sine_gru.png (or outdir).
"""
import os
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim

NOISE = 0.1


def signals(n, length, rng):
    """n noisy sine waves (n, length, 1) and their clean values."""
    t = np.arange(length + 1)
    freq = rng.uniform(0.05, 0.15, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    clean = np.sin(2 * np.pi * freq * t + phase)
    noisy = clean + NOISE * rng.standard_normal(clean.shape)
    return (noisy[:, :-1, None].astype(np.float32),
            noisy[:, 1:, None].astype(np.float32),
            clean[:, 1:, None].astype(np.float32))


class Model(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out)


def main(steps=300, batch=32, length=40, lr=1e-2, seed=0, verbose=1,
         outdir=None):
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    ad.manual_seed(seed)
    model = Model()
    opt = optim.Adam(model.parameters(), lr=lr)

    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    train_step = ad.compile(step)
    losses = []
    for i in range(steps):
        x, y, _ = signals(batch, length, rng)
        losses.append(float(train_step(x, y)))
        if verbose and (i % 25 == 0 or i == steps - 1):
            print("step %3d  training MSE %.4f" % (i, losses[-1]))

    x, y, clean = signals(64, 80, np.random.default_rng(seed + 1))
    model.eval()
    with ad.no_grad():
        pred = model(x).numpy()
    warm = 10           # the first steps have too little history
    mse = float(np.mean((pred[:, warm:] - clean[:, warm:]) ** 2))
    last = float(np.mean((x[:, warm:] - clean[:, warm:]) ** 2))
    total = time.perf_counter() - t0
    path = None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot(x[0, :, 0], ".", color="0.6", label="noisy input")
        ax.plot(np.arange(1, 81), clean[0, :, 0], label="truth (clean)")
        ax.plot(np.arange(1, 81), pred[0, :, 0], label="GRU prediction")
        ax.set_xlabel("step")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title("next-value prediction, held-out signal")
        fig.tight_layout()
        path = os.path.join(outdir or ".", "sine_gru.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
    if verbose:
        print("held-out MSE vs the clean wave %.4f (noise variance %.4f, "
              "repeating the last value %.4f)" % (mse, NOISE ** 2, last))
        if path:
            print("plot saved to %s" % path)
        print("total %.2f s" % total)
    return {"losses": losses, "mse": mse, "last_value_mse": last,
            "path": path, "seconds": total}


if __name__ == "__main__":
    main()
