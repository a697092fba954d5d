"""Per-op overhead: forward plus backward of elementwise ops on a 16-element
float32 tensor, autodiff beside PyTorch (and numpy forward-only as a floor),
measured in the same run.

    python bench/op_overhead.py [--reps 7] [--iters 20000]

Prints the median over --reps repetitions of the time per iteration, and
each peer's time divided by autodiff's (higher means autodiff is faster).
Benchmarks assert nothing; the machine is shared and absolute times drift.
"""
import argparse
import platform

import numpy as np

import autodiff as ad
from common import chain, timed


def single_op_cases(x_ad, torch, x_t):
    cases = {}

    def ad_mul():
        y = (x_ad * x_ad).sum()
        y.backward()

    def ad_sigmoid():
        y = ad.sigmoid(x_ad).sum()
        y.backward()

    cases["mul + sum, fwd+bwd"] = [("autodiff", ad_mul)]
    cases["sigmoid + sum, fwd+bwd"] = [("autodiff", ad_sigmoid)]
    if torch is not None:
        def t_mul():
            y = (x_t * x_t).sum()
            y.backward()

        def t_sigmoid():
            y = torch.sigmoid(x_t).sum()
            y.backward()
        cases["mul + sum, fwd+bwd"].append(("torch", t_mul))
        cases["sigmoid + sum, fwd+bwd"].append(("torch", t_sigmoid))
    return cases


def chain_cases(x_ad, torch, x_t, n_ops=60):
    """A chain of n_ops elementwise ops (mul, add, sigmoid, tanh, relu)."""
    def ad_chain():
        chain(ad, x_ad, n_ops).backward()

    cases = [("autodiff", ad_chain)]
    if torch is not None:
        def t_chain():
            chain(torch, x_t, n_ops).backward()
        cases.append(("torch", t_chain))
    return {"chain of %d ops, per op" % n_ops: cases}, n_ops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20000)
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    x0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    x_ad = ad.tensor(x0, requires_grad=True)
    x_t = torch.tensor(x0, requires_grad=True) if torch is not None else None

    print("machine: %s, %s, Python %s, numpy %s%s"
          % (platform.machine(), platform.processor() or "cpu",
             platform.python_version(), np.__version__,
             ", torch %s" % torch.__version__ if torch else ", torch absent"))
    print()
    print("| case | autodiff (us) | torch (us) | torch / autodiff |")
    print("|---|---:|---:|---:|")
    cases = single_op_cases(x_ad, torch, x_t)
    chain, n_ops = chain_cases(x_ad, torch, x_t)
    for name, runs in list(cases.items()) + list(chain.items()):
        div = n_ops if name.startswith("chain") else 1
        iters = args.iters // div * 4 if div > 1 else args.iters
        iters = max(iters, 200)
        times = {who: timed(fn, iters, args.reps) / div * 1e6
                 for who, fn in runs}
        a = times["autodiff"]
        t = times.get("torch")
        print("| %s | %.3f | %s | %s |"
              % (name, a, "%.3f" % t if t else "skipped",
                 "%.1fx" % (t / a) if t else "-"))


if __name__ == "__main__":
    main()
