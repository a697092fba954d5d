"""A steady training loop does not allocate: the engine's pool counters stay
constant after warm-up, and resident memory stays flat."""
import gc
import os

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from conftest import rss_bytes as _rss_bytes


def make_loop(batch=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch * 4, 8)).astype(np.float32)
    y = rng.integers(0, 3, batch * 4)
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    state = {"i": 0}

    def step():
        i = state["i"] % 4
        state["i"] += 1
        xb = ad.tensor(X[i * batch:(i + 1) * batch])
        loss = loss_fn(model(xb), y[i * batch:(i + 1) * batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def test_allocation_count_constant_over_1000_steps():
    step = make_loop()
    for _ in range(20):
        step()
    gc.collect()        # earlier tests' garbage must not free mid-loop
    before = ad.memory_stats()
    for _ in range(1000):
        step()
    after = ad.memory_stats()
    assert after["allocations"] == before["allocations"], (before, after)
    assert after["bytes_in_use"] <= before["bytes_in_use"], (before, after)


def test_allocation_count_constant_with_adam_and_retained_loss():
    # Keeping last step's loss alive across the next step must not leak.
    ad.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    X = ad.randn(32, 4, seed=2)
    Y = ad.randn(32, 1, seed=3)
    kept = []
    for i in range(1020):
        if i == 20:
            gc.collect()        # earlier tests' garbage must not free mid-loop
            before = ad.memory_stats()
        loss = nn.functional.mse_loss(model(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        kept = [loss]
    after = ad.memory_stats()
    assert after["allocations"] == before["allocations"], (before, after)
    # Dead records between live ones are compacted away in amortised
    # batches, so the tape stays bounded while live records stay few.
    assert after["tape_live"] <= before["tape_live"] + 1
    assert after["tape_records"] <= 2048
    assert kept[0].item() == kept[0].item()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                    reason="needs /proc")
def test_resident_memory_flat_over_20000_steps():
    step = make_loop()
    for _ in range(500):
        step()
    rss0 = _rss_bytes()
    allocs0 = ad.memory_stats()["allocations"]
    for _ in range(20000):
        step()
    growth = _rss_bytes() - rss0
    assert ad.memory_stats()["allocations"] == allocs0
    assert growth < 2 * 1024 * 1024, "resident memory grew by %d bytes" % growth


def _issue13_models():
    """Models of issue 13's layers: a CNN with batch norm, both poolings,
    channel dropout, group and layer norm; a token model with an
    embedding and a transformer encoder layer."""
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout2d(0.2), nn.Conv2d(4, 6, 1),
        nn.GroupNorm(2, 6), nn.AvgPool2d(2), nn.Flatten(),
        nn.LayerNorm(6 * 2 * 2), nn.Linear(6 * 2 * 2, 3))

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 16)
            self.enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1,
                                                  batch_first=True)
            self.out = nn.Linear(16, 3)

        def forward(self, t):
            return self.out(self.enc(self.emb(t)).mean(1))
    return {"cnn": cnn, "tokens": Tokens()}


@pytest.mark.parametrize("name", ["cnn", "tokens"])
def test_compiled_steps_of_issue13_layers_allocate_nothing(name):
    """A steady compiled training step of conv, normalization, pooling,
    dropout, embedding and attention layers takes every buffer from the
    pool: the allocation count does not move over 50 steps."""
    ad.manual_seed(0)
    model = _issue13_models()[name]
    opt = ad.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    if name == "cnn":
        xs = [ad.tensor(rng.standard_normal((6, 1, 8, 8)).astype(np.float32))
              for _ in range(3)]
    else:
        xs = [ad.tensor(rng.integers(0, 10, (6, 5))) for _ in range(3)]
    ys = [ad.tensor(rng.integers(0, 3, 6)) for _ in range(3)]

    def step(x, y):
        opt.zero_grad()
        loss = ad.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    f = ad.compile(step)
    for i in range(3):
        f(xs[i], ys[i])
    before = ad.memory_stats()["allocations"]
    for i in range(50):
        f(xs[i % 3], ys[i % 3])
    assert ad.memory_stats()["allocations"] == before
    assert f.recordings == 1
