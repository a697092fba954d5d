"""
Compiled training steps and the memory counters
===============================================

``ad.compile(fn)`` records everything one call of ``fn`` does -- the
forward pass, ``backward()``, ``zero_grad()``, the optimizer's ``step()``
-- and replays the recording in C on later calls with arguments of the
same shapes, without running any Python.  The contract: a replay gives
bit for bit what running ``fn`` eagerly would give, or it records again,
or it raises ``ad.NotCompilableError``.
"""
import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff import nn, optim

rng = np.random.default_rng(0)
X = rng.random((640, 64), dtype=np.float32)
y = rng.integers(0, 10, 640)


def make():
    ad.manual_seed(0)             # the same initial weights each time
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def make_step(model, opt):
    def step(xb, yb):
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


# %%
# Eager and compiled, side by side
# --------------------------------
# Two copies of the same model train on the same 20 batches, one eagerly,
# one through ``ad.compile``.  The first compiled call records (and runs
# eagerly); the other 19 replay.

eager_model, eager_opt = make()
eager_step = make_step(eager_model, eager_opt)
model, opt = make()
step = ad.compile(make_step(model, opt))

eager_losses, compiled_losses = [], []
for i in range(20):
    xb, yb = X[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)]
    eager_losses.append(eager_step(xb, yb).item())
    compiled_losses.append(step(xb, yb).item())
print("loss after 20 steps: eager %.7f, compiled %.7f"
      % (eager_losses[-1], compiled_losses[-1]))
assert eager_losses == compiled_losses
for (name, p), q in zip(model.named_parameters(), eager_model.parameters()):
    assert np.array_equal(p.numpy(), q.numpy()), name
print("every parameter equal bit for bit")

# %%
# What a compiled step may not do
# -------------------------------
# Reading a value into Python inside the step (``item()``, printing, an
# ``if`` on a tensor) would freeze that value into the recording, so it
# raises ``NotCompilableError`` instead: return the tensor and read it
# after the call.


@ad.compile
def bad_step(xb, yb):
    loss = nn.functional.cross_entropy(model(xb), yb)
    print(loss.item())
    return loss


try:
    bad_step(X[:32], y[:32])
except ad.NotCompilableError as e:
    print("NotCompilableError:", str(e).split("\n")[0])
else:
    raise AssertionError("item() inside a compiled function must raise")

# %%
# The memory counters
# -------------------
# Buffers come from a per-thread pool of size classes, so a loop that
# makes the same shapes at every step finds each buffer in the pool after
# the first steps.  ``ad.memory_stats()`` counts the bytes in use and
# pooled and the allocations made from the system; ``ad.empty_cache()``
# hands the pooled buffers back to the system.  Two fresh models train
# for 20 steps from an emptied pool, one eagerly and one compiled: the
# count grows during the first steps, then not at all.


def make_wide(width):
    ad.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(),
                          nn.Linear(width, 10))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


counts = {}
for kind, width in (("eager", 256), ("compiled", 512)):
    fn = make_step(*make_wide(width))
    fn = ad.compile(fn) if kind == "compiled" else fn
    ad.empty_cache()
    start = ad.memory_stats()["allocations"]
    counts[kind] = []
    for i in range(20):
        fn(X[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)])
        counts[kind].append(ad.memory_stats()["allocations"] - start)
    print("%-8s new system allocations after each step: %s"
          % (kind, counts[kind][:4] + ["..."] + counts[kind][-1:]))
    assert counts[kind][0] > 0
    assert all(c == counts[kind][1] for c in counts[kind][1:])
print(ad.memory_stats())

fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, c in counts.items():
    ax.plot(range(1, 21), c, ".-", label=kind)
ax.set_xlabel("training step")
ax.set_ylabel("system allocations since the start")
ax.set_xticks([1, 5, 10, 15, 20])
ax.legend()
ax.set_title("the pool serves every buffer after the warm-up")
