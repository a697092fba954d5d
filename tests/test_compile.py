"""ad.compile: replay equals eager execution bit for bit."""
import gc
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9,
                                     nesterov=True, weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-2, centered=True,
                                        momentum=0.5),
}


def make(opt_name, dtype, seed=0, act=nn.Tanh):
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12, dtype=dtype), act(),
                          nn.Linear(12, 4, dtype=dtype))
    return model, OPTIMIZERS[opt_name](list(model.parameters()))


def data(n=48, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 6)).astype(dtype),
            rng.integers(0, 4, n), rng.standard_normal((n, 4)).astype(dtype))


def classify(model, opt, xb, yb):
    loss = nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def regress(model, opt, xb, tb):
    out = model(xb)
    loss = nn.functional.mse_loss(out, tb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss, out


def same_params(m1, m2):
    for (n, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(a.numpy(), b.numpy()), n


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_replay_is_bit_for_bit(opt_name, dtype):
    X, y, _ = data(dtype=dtype)
    m1, o1 = make(opt_name, dtype)
    m2, o2 = make(opt_name, dtype)
    step = ad.compile(classify)
    for i in range(12):
        sl = slice((i % 3) * 16, (i % 3 + 1) * 16)
        l1 = classify(m1, o1, ad.tensor(X[sl]), y[sl])
        l2 = step(m2, o2, X[sl], y[sl])
        assert l1.item() == l2.item(), i
    same_params(m1, m2)
    assert step.recordings == 1


@pytest.mark.parametrize("act", [nn.ReLU, nn.Sigmoid, nn.GELU, nn.ELU])
def test_regression_replay_returns_same_objects_refreshed(act):
    X, _, T = data()
    m1, o1 = make("momentum", np.float32, act=act)
    m2, o2 = make("momentum", np.float32, act=act)
    step = ad.compile(regress)
    first = None
    for i in range(8):
        sl = slice((i % 3) * 16, (i % 3 + 1) * 16)
        l1, out1 = regress(m1, o1, ad.tensor(X[sl]), ad.tensor(T[sl]))
        l2, out2 = step(m2, o2, X[sl], T[sl])
        if first is None:
            first = (l2, out2)
        assert l2 is first[0] and out2 is first[1]
        assert np.array_equal(out1.numpy(), out2.numpy())
        assert l1.item() == l2.item()
    same_params(m1, m2)


def test_new_shapes_record_again_and_replay_each():
    X, y, _ = data(n=40)
    m1, o1 = make("adam", np.float32)
    m2, o2 = make("adam", np.float32)
    step = ad.compile(classify)
    for i in range(9):
        sl = slice(0, 16) if i % 3 else slice(16, 40)  # 16 or 24 rows
        l1 = classify(m1, o1, ad.tensor(X[sl]), y[sl])
        l2 = step(m2, o2, X[sl], y[sl])
        assert l1.item() == l2.item()
    assert step.recordings == 2
    same_params(m1, m2)


def op_zoo(x, w, labels):
    """Every op kind once, so replay exercises each forward entry."""
    h = ad.linear(x, w)                               # linear
    h = h * 0.5 + 1.0                                 # unary scalar ops
    h = ad.tanh(h) + ad.sigmoid(h) * ad.exp(-h.abs())
    h = ad.maximum(h, h * 0.3) - ad.minimum(h, 0.1)   # binary
    hh = h.reshape(-1, 2).T.reshape(h.shape)          # reshape, permute
    h = h + hh.mean(axis=0, keepdims=True)            # reduce, broadcast add
    h = ad.where(np.arange(h.shape[1]) % 2 == 0, h, h ** 2)
    h = ad.concatenate([h, ad.softmax(h, axis=1)], axis=1)[:, 1:6]
    h = h.astype(ad.float64).astype(ad.float32)       # casts
    m = (h @ h.T).max(axis=1) + ad.log_softmax(h, axis=0).sum(axis=0)[0]
    l1 = ad.cross_entropy(h, labels)
    l2 = ad.binary_cross_entropy_with_logits(h, ad.sigmoid(h).detach())
    l3 = ad.nll_loss(ad.log_softmax(h, axis=1), labels, reduction="sum")
    return m.var() + l1 + l2 + l3 * 0.01 + ad.l1_loss(h, h * 0.9)


def test_every_op_replays_exactly():
    rng = np.random.default_rng(3)
    w = ad.tensor(rng.standard_normal((8, 5)).astype(np.float32),
                  requires_grad=True)

    def f(x, labels):
        w.grad = None
        loss = op_zoo(x, w, labels)
        loss.backward()
        return loss, w.grad

    step = ad.compile(f)
    for i in range(4):
        x = rng.standard_normal((6, 5)).astype(np.float32)
        labels = rng.integers(0, 5, 6)
        eager_loss, eager_grad = f(ad.tensor(x), labels)
        e = (eager_loss.item(), eager_grad.numpy())
        c_loss, c_grad = step(x, labels)
        assert c_loss.item() == e[0], i
        assert np.array_equal(w.grad.numpy(), e[1]), i


@pytest.mark.parametrize("read", [
    lambda y: y.item(), lambda y: y.numpy(), lambda y: float(y),
    lambda y: bool(y > 0), lambda y: repr(y), lambda y: np.asarray(y)])
def test_reading_values_while_recording_refuses(read):
    x = ad.tensor([1.0, 2.0], requires_grad=True)

    def f(a):
        y = (a * x).sum()
        read(y)
        return y

    step = ad.compile(f)
    with pytest.raises(ad.NotCompilableError, match="frozen"):
        step(np.ones(2, np.float32))
    assert not ad._engine.is_capturing()
    assert step.recordings == 0


def test_error_while_recording_leaves_no_capture_behind():
    def bad(a):
        ad.tensor(a) * 2
        raise KeyError("boom")

    step = ad.compile(bad)
    with pytest.raises(KeyError):
        step(np.ones(3))
    assert not ad._engine.is_capturing()
    z = ad.tensor([1.0], requires_grad=True)
    (z * 3).sum().backward()
    assert z.grad.item() == 3.0


def test_compiled_loop_does_not_allocate():
    X, y, _ = data()
    m, o = make("adam", np.float32)
    step = ad.compile(classify)
    for i in range(10):
        step(m, o, X[:16], y[:16])
    gc.collect()        # earlier tests' garbage must not free mid-loop
    before = ad.memory_stats()
    for i in range(1000):
        sl = slice((i % 3) * 16, (i % 3 + 1) * 16)
        step(m, o, X[sl], y[sl])
    after = ad.memory_stats()
    assert after["allocations"] == before["allocations"], (before, after)
    assert after["bytes_in_use"] <= before["bytes_in_use"]


def test_trainer_compiles_by_default_and_matches_eager():
    X, y, _ = data(n=64)
    hists = []
    for compile_ in (True, False):
        m, o = make("momentum", np.float32)
        tr = ad.Trainer(m, nn.CrossEntropyLoss(), o, compile=compile_)
        h = tr.fit(X, y, epochs=3, batch_size=20, seed=0, verbose=0)
        hists.append((h["loss"], [p.numpy() for p in m.parameters()]))
    assert hists[0][0] == hists[1][0]
    for a, b in zip(hists[0][1], hists[1][1]):
        assert np.array_equal(a, b)
