"""Data-parallel scaling on this machine: the large MLP (64-1024-1024-10,
float32, SGD momentum 0.9) trained by 1 and 2 MPI ranks (one BLAS thread
each), with the allreduce timed separately.

    python bench/scaling.py [--steps 40] [--reps 5] [--batch 256]

Needs ``pip install 'autodiff[mpi]'``; launches ``mpiexec -n 1`` and
``mpiexec -n 2`` on itself. Each step: compiled zero_grad + forward +
backward, then ``distributed.allreduce_gradients`` (the "comm" column:
packing, the MPI allreduce and unpacking) and the optimizer's C step.

Rows:
  weak    every rank trains on --batch samples (2 ranks: twice the data)
  strong  the global batch is 2 x --batch (1 rank: all of it; 2 ranks:
          --batch each)
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


def worker(batch, steps, reps):
    import numpy as np

    import autodiff as ad
    from autodiff import distributed as dist
    from autodiff import nn, optim
    dist.init()
    ad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(),
                          nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dist.broadcast_parameters(model)
    rng = np.random.default_rng(dist.rank())
    x = rng.standard_normal((batch, 64)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    loss_fn = nn.CrossEntropyLoss()

    @ad.compile
    def fwd_bwd(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    def step():
        fwd_bwd(x, y)
        t = time.perf_counter()
        dist.allreduce_gradients(model, weight=batch)
        c = time.perf_counter() - t
        opt.step()
        return c

    for _ in range(5):
        step()
    totals, comms = [], []
    for _ in range(reps):
        dist.barrier()
        t0 = time.perf_counter()
        c = sum(step() for _ in range(steps))
        totals.append((time.perf_counter() - t0) / steps)
        comms.append(c / steps)
    dist.check_parameters(model)
    if dist.is_main():
        print(json.dumps({"step": statistics.median(totals),
                          "comm": statistics.median(comms)}))


def launch(n, batch, steps, reps):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    out = subprocess.run(
        [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__),
         "--worker", "--batch", str(batch), "--steps", str(steps),
         "--reps", str(reps)], env=env, capture_output=True, text=True,
        check=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    if a.worker:
        worker(a.batch, a.steps, a.reps)
        return
    b = a.batch
    one = launch(1, b, a.steps, a.reps)
    one2 = launch(1, 2 * b, a.steps, a.reps)
    two = launch(2, b, a.steps, a.reps)
    print("large MLP 64-1024-1024-10, float32, 1 BLAS thread per rank; "
          "ms per step (comm: allreduce_gradients)\n")
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


if __name__ == "__main__":
    main()
