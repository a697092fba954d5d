"""Time per epoch on scikit-learn's digits: autodiff's Trainer beside a
PyTorch eager loop with the same model (64-128-10 ReLU MLP), loss
(cross-entropy), optimizer (Adam, lr 1e-3) and batches (32, shuffled),
measured in the same run.  Prints medians and torch / autodiff.

    python bench/digits_epoch.py [--epochs 15] [--reps 3]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir,
                                "examples"))
import autodiff as ad  # noqa: E402
from autodiff import nn, optim  # noqa: E402
import digits_mlp  # noqa: E402


def run_autodiff(data, epochs, seed):
    X_train, X_test, y_train, y_test = data
    model = digits_mlp.build(seed)
    trainer = ad.Trainer(model, nn.CrossEntropyLoss(),
                         optim.Adam(model.parameters(), lr=1e-3))
    hist = trainer.fit(X_train, y_train, epochs=epochs, batch_size=32,
                       seed=seed, metrics=(), verbose=0)
    acc = trainer.evaluate(X_test, y_test)["accuracy"]
    return hist["time"], acc


def run_torch(data, epochs, seed):
    import torch
    X_train, X_test, y_train, y_test = data
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    times = []
    n = len(X_train)
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        for s in range(0, n, 32):
            idx = order[s:s + 32]
            xb = torch.from_numpy(X_train[idx])
            yb = torch.from_numpy(y_train[idx])
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test)).argmax(1).numpy()
    return times, float(np.mean(pred == y_test))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    data = digits_mlp.load(0)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    res = {"autodiff": [], "torch": []}
    accs = {}
    for rep in range(args.reps):
        t, accs["autodiff"] = run_autodiff(data, args.epochs, rep)
        res["autodiff"] += t[1:]            # drop the warm-up epoch
        if torch is not None:
            t, accs["torch"] = run_torch(data, args.epochs, rep)
            res["torch"] += t[1:]
    a = statistics.median(res["autodiff"])
    print("| framework | ms / epoch (median) | held-out acc | ratio to "
          "autodiff |")
    print("|---|---:|---:|---:|")
    print("| autodiff | %.2f | %.4f | 1.0x |" % (1e3 * a, accs["autodiff"]))
    if torch is not None:
        t = statistics.median(res["torch"])
        print("| torch %s eager | %.2f | %.4f | %.1fx |"
              % (torch.__version__, 1e3 * t, accs["torch"], t / a))
    else:
        print("| torch | skipped (not installed) | | |")


if __name__ == "__main__":
    main()
