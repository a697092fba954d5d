"""The CNN rows of bench/run.py: a LeNet-5 training step and an epoch of
the digits CNN (examples/digits_cnn.py), autodiff eager and compiled
beside torch eager with the same initial weights (copied through
state_dict: the parameter names are torch's).  Imported by run.py, which
sets the thread counts first.
"""
import os
import sys

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from common import timed

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None


def lenet(mod):
    """LeNet-5 for 1x28x28 inputs in autodiff.nn or torch.nn."""
    return mod.Sequential(
        mod.Conv2d(1, 6, 5, padding=2), mod.ReLU(), mod.MaxPool2d(2),
        mod.Conv2d(6, 16, 5), mod.ReLU(), mod.MaxPool2d(2),
        mod.Flatten(), mod.Linear(16 * 5 * 5, 120), mod.ReLU(),
        mod.Linear(120, 84), mod.ReLU(), mod.Linear(84, 10))


def _twin(model, tmodel):
    """Loads torch's initial weights (and buffers) into the autodiff model."""
    model.load_state_dict({k: ad.tensor(v.detach().numpy().copy())
                           for k, v in tmodel.state_dict().items()})


def _steps(model, opt, tmodel, topt, batches, n, reps):
    """Eager, compiled and torch training steps over the batches."""
    ce = nn.CrossEntropyLoss()
    it = {"i": 0}
    tb = [(ad.tensor(x), ad.tensor(y)) for x, y in batches]

    def ad_step():
        xb, yb = tb[it["i"] % len(tb)]
        it["i"] += 1
        loss = ce(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    res = {"autodiff": timed(ad_step, n, reps)}

    def ad_fn(xb, yb):
        loss = ce(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    compiled = ad.compile(ad_fn)

    def ad_compiled():
        xb, yb = tb[it["i"] % len(tb)]
        it["i"] += 1
        compiled(xb, yb)
    res["autodiff compiled"] = timed(ad_compiled, n, reps)
    if tmodel is not None:
        tce = torch.nn.CrossEntropyLoss()
        ttb = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

        def t_step():
            xb, yb = ttb[it["i"] % len(ttb)]
            it["i"] += 1
            loss = tce(tmodel(xb), yb)
            topt.zero_grad()
            loss.backward()
            topt.step()
        res["torch eager"] = timed(t_step, n, reps)
    return res


def bench_lenet(reps, n, batch=64):
    """One SGD-momentum step of LeNet-5 on a batch of 64 1x28x28 images;
    the floor is the step's GEMMs (im2col convolutions and linear layers,
    forward, weight and input gradients) timed alone in numpy."""
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((batch, 1, 28, 28)).astype(np.float32),
                rng.integers(0, 10, batch)) for _ in range(4)]
    tmodel = topt = None
    model = lenet(nn)
    if torch is not None:
        torch.manual_seed(0)
        tmodel = lenet(torch.nn)
        _twin(model, tmodel)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    res = _steps(model, opt, tmodel, topt, batches, n, reps)

    def mats(m, k, nn_):
        return (rng.standard_normal((m, k)).astype(np.float32),
                rng.standard_normal((k, nn_)).astype(np.float32),
                rng.standard_normal((m, nn_)).astype(np.float32))
    # (out, reduction, columns) of each product; input gradient or not
    shapes = [(6, 25, batch * 28 * 28, False), (16, 150, batch * 10 * 10, True),
              (batch, 400, 120, True), (batch, 120, 84, True),
              (batch, 84, 10, True)]
    ops = [(mats(m, k, c), ig) for m, k, c, ig in shapes]

    def gemms():
        for (a, b, g), ig in ops:
            a @ b                   # forward
            a.T @ g                 # one operand's gradient
            if ig:
                g @ b.T             # the other's
    res["floor (the step's GEMMs alone)"] = timed(gemms, n, reps)
    return res


def bench_digits_cnn(reps, n_epochs=1):
    """One epoch (batch 32, Adam, train mode) of examples/digits_cnn.py's
    model on its 1,347 training images; seconds per epoch."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, os.pardir, "examples"))
    try:
        import digits_cnn
    finally:
        sys.path.pop(0)
    X_train, _, y_train, _ = digits_cnn.load(0)
    bs = 32
    batches = [(X_train[i:i + bs], np.asarray(y_train[i:i + bs]))
               for i in range(0, len(X_train), bs)]
    model = digits_cnn.build(0)
    tmodel = topt = None
    if torch is not None:
        tm = torch.nn
        torch.manual_seed(0)
        tmodel = tm.Sequential(
            tm.Conv2d(1, 16, 3, padding=1), tm.BatchNorm2d(16), tm.ReLU(),
            tm.Conv2d(16, 32, 3, padding=1), tm.BatchNorm2d(32), tm.ReLU(),
            tm.MaxPool2d(2), tm.Dropout(0.25), tm.Flatten(),
            tm.Linear(32 * 4 * 4, 128), tm.ReLU(), tm.Dropout(0.25),
            tm.Linear(128, 10))
        _twin(model, tmodel)
        topt = torch.optim.Adam(tmodel.parameters(), lr=2e-3)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    res = _steps(model, opt, tmodel, topt, batches, len(batches) * n_epochs,
                 reps)
    # seconds per step -> per epoch
    return {k: v * len(batches) for k, v in res.items()}
