"""
Distributed training
====================

``autodiff.distributed`` trains on N processes (*ranks*) at once: each
computes the gradient of its share of every batch, one fused allreduce
averages the gradients, and every rank applies the same update, so the
parameters stay identical.  The transport is MPI through mpi4py
(``pip install 'autodiff-tape[mpi]'``); the guide is
:doc:`../distributed`.

The same script runs on one process (a *world of one*) and under a
launcher::

    python train.py
    mpiexec -n 2 python train.py
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import autodiff as ad
from autodiff import distributed as dist

# %%
# The training script
# -------------------
# Every rank seeds the same initial weights, takes its contiguous share
# of each batch of 64 and calls ``step(weight=len(share))``: the
# allreduce then computes sum(w_r g_r) / sum(w_r), exactly the gradient of
# the whole batch's mean loss, whatever the number of ranks.

SCRIPT = r'''
import numpy as np
import autodiff as ad
from autodiff import distributed as dist
from autodiff import nn, optim

dist.init()             # a world of one without a launcher
ad.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16, dtype=ad.float64), nn.Tanh(),
                      nn.Linear(16, 1, dtype=ad.float64))
opt = dist.DistributedOptimizer(optim.SGD(model.parameters(), lr=0.1))
rng = np.random.default_rng(0)
X = rng.normal(size=(640, 8))
y = np.sin(X.sum(axis=1, keepdims=True))
for i in range(50):
    batch = np.arange(64 * (i % 10), 64 * (i % 10 + 1))
    share = np.array_split(batch, dist.world_size())[dist.rank()]
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(ad.tensor(X[share])),
                                  ad.tensor(y[share]))
    loss.backward()
    opt.step(weight=len(share))
dist.check_parameters(model)        # raises if the ranks diverged
flat = np.concatenate([p.numpy().ravel() for p in model.parameters()])
if dist.is_main():
    print("ranks %d  parameters %r" % (dist.world_size(), flat[:3].tolist()))
    np.save(__import__("sys").argv[1], flat)
'''

# %%
# A world of one
# --------------
# Without a launcher, ``dist.init()`` makes a world of one rank; the
# script runs as plain Python.

work = tempfile.mkdtemp()
script = os.path.join(work, "train.py")
with open(script, "w") as f:
    f.write(SCRIPT)
# the child processes import the autodiff this page documents
here = os.path.dirname(os.path.dirname(os.path.abspath(ad.__file__)))
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH",
                                                            "")]))
one = subprocess.run([sys.executable, script, os.path.join(work, "one.npy")],
                     env=env, capture_output=True, text=True, timeout=300)
print(one.stdout.strip())
assert one.returncode == 0, one.stderr

# %%
# Two ranks
# ---------
# ``mpiexec -n 2`` starts the same script twice; each rank computes the
# gradient of 32 of the 64 samples of every batch.  The parameters agree
# with the single process up to the rounding of a sum taken in another
# order.

mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
if not os.path.exists(mpiexec):
    mpiexec = shutil.which("mpiexec")
assert mpiexec, "mpiexec not found: pip install 'autodiff-tape[mpi]'"
two = subprocess.run([mpiexec, "-n", "2", sys.executable, script,
                      os.path.join(work, "two.npy")],
                     env=env, capture_output=True, text=True, timeout=300)
print(two.stdout.strip())
assert two.returncode == 0, two.stderr
a, b = np.load(os.path.join(work, "one.npy")), np.load(os.path.join(work,
                                                                   "two.npy"))
print("largest difference: %.1e" % np.abs(a - b).max())
assert np.allclose(a, b, rtol=1e-12, atol=1e-14)

# %%
# In this process
# ---------------
# The API works here too: ``dist.init()`` gives the world of one, and
# ``ad.Trainer`` trains distributed whenever the world has more than one
# rank (``batch_size`` is then the global batch).

dist.init()
print("rank", dist.rank(), "of", dist.world_size())
assert (dist.rank(), dist.world_size()) == (0, 1)
shutil.rmtree(work)
