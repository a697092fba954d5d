"""Data-parallel scaling on this machine: the large MLP (64-1024-1024-10,
float32, SGD momentum 0.9) and the digits CNN (examples/digits_cnn.py's
model, bench/run.py's row 9: float32, Adam) trained by 1 and 2 MPI ranks
(one BLAS thread each), with the allreduce timed separately.

    python bench/scaling.py [--steps 40] [--reps 5] [--batch 256]
                            [--cnn-batch 32] [--only mlp|cnn|overlap]

Needs ``pip install 'autodiff[mpi]'``; launches ``mpiexec -n 1`` and
``mpiexec -n 2`` on itself. Each step: compiled zero_grad + forward +
backward, then ``distributed.allreduce_gradients`` (the "comm" column:
packing, the MPI allreduce and unpacking) and the optimizer's C step.

Rows:
  weak    every rank trains on --batch samples (2 ranks: twice the data)
  strong  the global batch is 2 x --batch (1 rank: all of it; 2 ranks:
          --batch each)
A third table compares, at 2 ranks and eager (ad.compile refuses
overlap), DistributedOptimizer's reduction after backward with
overlap=True (``--only overlap``: that table alone).
Throughput = global samples per second; the speedup compares 2 ranks with
1 rank at the same global batch. Median of --reps blocks of --steps steps.
Nothing here asserts anything about time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def build(model_name):
    """The model, its optimizer and one batch's shapes: (model, opt,
    input shape without the batch dimension)."""
    import autodiff as ad
    from autodiff import nn, optim
    ad.manual_seed(0)
    if model_name == "mlp":
        model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(),
                              nn.Linear(1024, 1024), nn.ReLU(),
                              nn.Linear(1024, 10))
        return model, optim.SGD(model.parameters(), lr=0.01,
                                momentum=0.9), (64,)
    sys.path.insert(0, os.path.join(HERE, os.pardir, "examples"))
    try:
        import digits_cnn
    finally:
        sys.path.pop(0)
    model = digits_cnn.build(0)
    return model, optim.Adam(model.parameters(), lr=2e-3), (1, 8, 8)


def worker(model_name, batch, steps, reps):
    import numpy as np

    import autodiff as ad
    from autodiff import distributed as dist
    from autodiff import nn
    dist.init()
    model, opt, shape = build(model_name)
    dist.broadcast_parameters(model)
    rng = np.random.default_rng(dist.rank())
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    loss_fn = nn.CrossEntropyLoss()

    @ad.compile
    def fwd_bwd(x, y):
        opt.zero_grad()
        loss = loss_fn(model(ad.tensor(x)), y)
        loss.backward()
        return loss

    def step():
        fwd_bwd(x, y)
        t = time.perf_counter()
        dist.allreduce_gradients(model, weight=batch)
        c = time.perf_counter() - t
        opt.step()
        return c

    res = _measure(step, steps, reps, dist, model)
    if dist.is_main():
        print(json.dumps(res))

def _measure(step, steps, reps, dist, model):
    """Median seconds per step and per step's comm part (step() returns
    it) over reps blocks of steps, after 5 warm-up steps."""
    for _ in range(5):
        step()
    totals, comms = [], []
    for _ in range(reps):
        dist.barrier()
        t0 = time.perf_counter()
        c = sum(step() for _ in range(steps))
        totals.append((time.perf_counter() - t0) / steps)
        comms.append(c / steps)
    dist.check_parameters(dict(model.named_parameters()))  # not BN stats
    return {"step": statistics.median(totals),
            "comm": statistics.median(comms)}


def overlap_worker(batch, steps, reps, overlap):
    """Eager steps (ad.compile refuses overlap) through
    DistributedOptimizer(overlap=...); times the whole step and step()
    (the exposed reduction: waiting for the allreduce, unpacking, the
    update)."""
    import numpy as np

    import autodiff as ad
    from autodiff import distributed as dist
    from autodiff import nn, optim
    dist.init()
    ad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(),
                          nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    opt = dist.DistributedOptimizer(
        optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        overlap=overlap)
    rng = np.random.default_rng(dist.rank())
    x = ad.tensor(rng.standard_normal((batch, 64)).astype(np.float32))
    y = ad.tensor(rng.integers(0, 10, batch))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        opt.set_weight(batch)
        loss_fn(model(x), y).backward()
        t = time.perf_counter()
        opt.step()
        return time.perf_counter() - t

    res = _measure(step, steps, reps, dist, model)
    res["buckets"] = len(opt._overlap.buckets) if opt.overlap else 1
    if dist.is_main():
        print(json.dumps(res))


def overlap_rows(batch, steps, reps):
    """2 ranks, eager: the reduction after backward vs overlapped with it,
    interleaved (plain, overlap, plain, overlap) to share the noise."""
    runs = {False: [], True: []}
    for _ in range(2):
        for ov in (False, True):
            runs[ov].append(launch("overlap", 2, batch, steps, reps,
                                   ["--overlap-mode", str(int(ov))]))
    print("\n2 ranks, eager (ad.compile refuses overlap), batch %d per rank; "
          "step() ms = the exposed reduction + the update\n" % batch)
    print("| row | buckets | ms per step | step() ms | samples/s | "
          "vs after-backward |")
    print("|---|---:|---:|---:|---:|---:|")
    base = None
    for ov, name in ((False, "allreduce after backward"),
                     (True, "overlap=True")):
        st = statistics.median(r["step"] for r in runs[ov])
        cm = statistics.median(r["comm"] for r in runs[ov])
        sps = 2 * batch / st
        base = base or sps
        print("| %s | %d | %.2f | %.2f | %.0f | %.2fx |" % (
            name, runs[ov][0]["buckets"], 1e3 * st, 1e3 * cm, sps,
            sps / base))


def launch(model_name, n, batch, steps, reps, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    out = subprocess.run(
        [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__),
         "--worker", model_name, "--batch", str(batch), "--steps",
         str(steps), "--reps", str(reps), *extra], env=env,
        capture_output=True,
        text=True, check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(model_name, title, b, steps, reps):
    one = launch(model_name, 1, b, steps, reps)
    one2 = launch(model_name, 1, 2 * b, steps, reps)
    two = launch(model_name, 2, b, steps, reps)
    print("%s, 1 BLAS thread per rank; ms per step (comm: "
          "allreduce_gradients)\n" % title)
    print("| row | ranks | batch per rank | ms per step | comm ms | "
          "samples/s | vs 1 rank |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def row(name, n, per, r, base):
        sps = n * per / r["step"]
        print("| %s | %d | %d | %.2f | %.2f | %.0f | %s |" % (
            name, n, per, 1e3 * r["step"], 1e3 * r["comm"], sps,
            "%.2fx" % (sps / base) if base else "1.00x"))
    row("weak", 1, b, one, None)
    row("weak", 2, b, two, b / one["step"])
    row("strong", 1, 2 * b, one2, None)
    row("strong", 2, b, two, 2 * b / one2["step"])
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--cnn-batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", choices=("mlp", "cnn", "overlap"))
    ap.add_argument("--worker", choices=("mlp", "cnn", "overlap"))
    ap.add_argument("--overlap-mode", type=int, default=0)
    a = ap.parse_args()
    if a.worker == "overlap":
        overlap_worker(a.batch, a.steps, a.reps, bool(a.overlap_mode))
        return
    if a.worker:
        worker(a.worker, a.batch, a.steps, a.reps)
        return
    if a.only in (None, "mlp"):
        table("mlp", "large MLP 64-1024-1024-10, float32, SGD momentum 0.9",
              a.batch, a.steps, a.reps)
    if a.only in (None, "cnn"):
        # a step of a few ms: more of them per block
        table("cnn", "digits CNN (examples/digits_cnn.py), float32, Adam",
              a.cnn_batch, 5 * a.steps, a.reps)
    if a.only in (None, "overlap"):
        overlap_rows(a.batch, a.steps, a.reps)


if __name__ == "__main__":
    main()
