"""1M-element throughput: the forward of common elementwise and reduction
ops on 1M float32 elements, autodiff beside numpy and torch, measured in the
same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python bench/throughput.py [--reps 7] [--n 20] [--out FILE]

Columns (milliseconds per call, median of --reps blocks of up to --n calls
(fewer for slow steps); the frameworks take turns within each repetition):
  autodiff          under ad.no_grad() (no graph recorded)
  autodiff rg       inputs with requires_grad=True (the graph node is
                    recorded; forward only, no backward)
  numpy             the same forward in numpy (single thread)
  torch 1t          torch.set_num_threads(1), under torch.no_grad()
  torch dflt        torch at its default thread count (printed), no_grad
and the ratios autodiff / numpy and autodiff / torch 1t (< 1 means autodiff
is faster).  The first 10 rows are the ops the quality bar names (within
1.2x of numpy); the rest are reported for information.  Shapes: (1000000,)
except softmax and logsumexp, which reduce dim=-1 of (1000, 1000).
Nothing here asserts anything about time.
"""
import argparse
import datetime
import platform
import statistics
import time

import numpy as np

import autodiff as ad

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

N = 1_000_000


def interleaved(steps, n, reps, torch_dflt=None):
    """Median seconds per call of each step, the steps taking turns within
    every repetition (so drift from other load on a shared machine hits
    them alike).  "t1" runs torch at 1 thread; with torch_dflt, the same
    step is timed again as "td" at that many threads."""
    order = list(steps.items())
    if torch_dflt is not None and "t1" in steps:
        order.append(("td", steps["t1"]))
    out = {k: [] for k, _ in order}
    calls = {}
    for k, f in order:              # warm-up: pools, caches
        f()
        t0 = time.perf_counter()
        f()
        # blocks of up to n calls, fewer for slow steps (~30 ms a block)
        calls[k] = max(1, min(n, int(0.03 / (time.perf_counter() - t0))))
    for _ in range(reps):
        for k, f in order:
            if torch is not None and k in ("t1", "td"):
                torch.set_num_threads(1 if k == "t1" else torch_dflt)
            m = calls[k]
            t0 = time.perf_counter()
            for _ in range(m):
                f()
            out[k].append((time.perf_counter() - t0) / m)
    if torch is not None and torch_dflt is not None:
        torch.set_num_threads(torch_dflt)
    return {k: statistics.median(v) for k, v in out.items()}


def inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    pos = (np.abs(x) + np.float32(0.5)).astype(np.float32)
    # near 1, so that prod/cumprod of 1M elements stay finite and normal
    near1 = (1 + rng.standard_normal(N) * 1e-4).astype(np.float32)
    return {"x": x, "y": y, "pos": pos, "near1": near1,
            "m": x.reshape(1000, 1000)}


def np_softmax(m):
    e = np.exp(m - m.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_logsumexp(m):
    mx = m.max(-1, keepdims=True)
    return (mx + np.log(np.exp(m - mx).sum(-1, keepdims=True)))[:, 0]


# name -> (input names, numpy fn, autodiff fn, torch fn)
def cases():
    A = ad
    T = torch
    c = [
        ("add", ("x", "y"), np.add, lambda a, b: a + b, lambda a, b: a + b),
        ("mul", ("x", "y"), np.multiply, lambda a, b: a * b,
         lambda a, b: a * b),
        ("exp", ("x",), np.exp, A.exp, T and T.exp),
        ("log", ("pos",), np.log, A.log, T and T.log),
        ("tanh", ("x",), np.tanh, A.tanh, T and T.tanh),
        ("sigmoid", ("x",), lambda a: 1 / (1 + np.exp(-a)), A.sigmoid,
         T and T.sigmoid),
        ("relu", ("x",), lambda a: np.maximum(a, 0), A.relu, T and T.relu),
        ("sum", ("x",), np.sum, lambda a: a.sum(), lambda a: a.sum()),
        ("amax", ("x",), np.max, lambda a: A.amax(a), lambda a: T.amax(a)),
        ("mean", ("x",), np.mean, lambda a: a.mean(), lambda a: a.mean()),
        # ---- informational
        ("where(x>0,x,y)", ("x", "y"), lambda a, b: np.where(a > 0, a, b),
         lambda a, b: A.where(a > 0, a, b), lambda a, b: T.where(a > 0, a, b)),
        ("softmax(-1) 1000x1000", ("m",), np_softmax,
         lambda a: A.softmax(a, dim=-1), lambda a: T.softmax(a, dim=-1)),
        ("logsumexp(-1) 1000x1000", ("m",), np_logsumexp,
         lambda a: A.logsumexp(a, dim=-1), lambda a: T.logsumexp(a, dim=-1)),
        ("cumsum", ("x",), np.cumsum, lambda a: A.cumsum(a, 0),
         lambda a: T.cumsum(a, 0)),
        ("prod", ("near1",), np.prod, lambda a: A.prod(a), lambda a: a.prod()),
        ("cumprod", ("near1",), np.cumprod, lambda a: A.cumprod(a, 0),
         lambda a: T.cumprod(a, 0)),
        ("sqrt", ("pos",), np.sqrt, A.sqrt, T and T.sqrt),
        ("abs", ("x",), np.abs, A.abs, T and T.abs),
        ("pow(x, 1.5)", ("pos",), lambda a: np.power(a, np.float32(1.5)),
         lambda a: a ** 1.5, lambda a: a ** 1.5),
        ("neg", ("x",), np.negative, lambda a: -a, lambda a: -a),
    ]
    return c


COMMON = 10


def run(reps=7, n=20, torch_default=True, log=print):
    """Returns the markdown lines of the table (also printed via log)."""
    data = inputs()
    ad_in = {k: ad.tensor(v) for k, v in data.items()}
    ad_rg = {k: ad.tensor(v, requires_grad=True) for k, v in data.items()}
    t_in = ({k: torch.from_numpy(v) for k, v in data.items()}
            if torch is not None else None)
    dflt = torch.get_num_threads() if torch is not None else 0
    lines = ["| op | autodiff | autodiff rg | numpy | torch 1t | %s | "
             "ad / numpy | ad / torch 1t |"
             % ("torch %dt" % dflt if torch_default else "-"),
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for line in lines:
        log(line)
    for i, (name, args, f_np, f_ad, f_t) in enumerate(cases()):
        if i == COMMON:
            row = "| *(informational)* | | | | | | | |"
            lines.append(row)
            log(row)
        a_np = [data[k] for k in args]
        a_ad = [ad_in[k] for k in args]
        a_rg = [ad_rg[k] for k in args]
        steps = {"np": lambda: f_np(*a_np), "rg": lambda: f_ad(*a_rg)}

        def ad_step():
            with ad.no_grad():
                f_ad(*a_ad)
        steps["ad"] = ad_step
        if torch is not None:
            a_t = [t_in[k] for k in args]

            def t_step():
                with torch.no_grad():
                    f_t(*a_t)
            steps["t1"] = t_step
        tm = interleaved(steps, n, reps,
                         torch_dflt=dflt if torch_default else None)
        t_np, t_ad, t_rg = tm["np"], tm["ad"], tm["rg"]
        t_1, t_d = tm.get("t1"), tm.get("td")

        def ms(v):
            return "%.3f" % (v * 1e3) if v is not None else "-"
        row = "| %s | %s | %s | %s | %s | %s | %.2fx | %s |" % (
            name, ms(t_ad), ms(t_rg), ms(t_np), ms(t_1), ms(t_d),
            t_ad / t_np, "%.2fx" % (t_ad / t_1) if t_1 else "-")
        lines.append(row)
        log(row)
    return lines


def header(reps, n):
    dflt = torch.get_num_threads() if torch is not None else 0
    return ("%s; machine: %s %s, %s; Python %s; numpy %s; torch %s "
            "(default %d threads); milliseconds per call, median of %d "
            "blocks of %d calls"
            % (datetime.datetime.now(datetime.timezone.utc)
               .strftime("%Y-%m-%d %H:%M UTC"), platform.system(),
               platform.machine(), platform.processor() or "cpu",
               platform.python_version(), np.__version__,
               torch.__version__ if torch is not None else "absent",
               dflt, reps, n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--out", default=None, help="also write markdown here")
    args = ap.parse_args()
    h = header(args.reps, args.n)
    print(h)
    print()
    lines = run(args.reps, args.n)
    if args.out:
        with open(args.out, "w") as f:
            f.write(h + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
