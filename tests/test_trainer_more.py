"""The Trainer's data sources, metrics, weights, accumulation, moving
average and exact resume."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autodiff as ad
from autodiff import metrics as M
from autodiff import nn, optim
from conftest import require_torch

sk = pytest.importorskip("sklearn.metrics")


def blobs(n=96, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, n)
    X = (centers[y] + rng.normal(scale=1.5, size=(n, 2))).astype(dtype)
    return X, y


def make_model(seed=0, dtype=np.float64, dropout=0.0):
    ad.manual_seed(seed)
    layers = [nn.Linear(2, 16, dtype=dtype), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 3, dtype=dtype))
    return nn.Sequential(*layers)


def params(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_same(a, b, rtol=0.0):
    assert set(a) == set(b)
    for k in a:
        if rtol:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-13,
                                       err_msg=k)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class Kw(nn.Module):
    """A model taking its input by keyword (dict batches)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)


def trainer(model, lr=0.1, compile=True, loss=None, opt=optim.SGD):
    return ad.Trainer(model, loss or nn.CrossEntropyLoss(),
                      opt(model.parameters(), lr=lr), compile=compile)


# ----------------------------------------------------------------- metrics

def _batched(metric, out, y, sizes):
    metric.reset()
    s = 0
    for n in sizes:
        metric.update(out[s:s + n], y[s:s + n])
        s += n
    return metric.compute()


SIZES = [7, 16, 1, 30, 10]


def test_metrics_equal_sklearn_over_batches():
    rng = np.random.default_rng(1)
    n = sum(SIZES)
    out = rng.standard_normal((n, 6))
    y = rng.integers(0, 6, n)
    y[:3] = 5
    pred = out.argmax(1)
    assert _batched(M.Accuracy(), out, y, SIZES) == pytest.approx(
        sk.accuracy_score(y, pred), abs=1e-15)
    for k in (1, 2, 3, 5):
        assert _batched(M.TopKAccuracy(k), out, y, SIZES) == pytest.approx(
            sk.top_k_accuracy_score(y, out, k=k, labels=range(6)), abs=1e-15)
    assert _batched(M.F1Score(), out, y, SIZES) == pytest.approx(
        sk.f1_score(y, pred, average="macro"), abs=1e-12)
    # one-hot targets read as labels
    onehot = np.eye(6)[y]
    assert _batched(M.Accuracy(), out, onehot, SIZES) == pytest.approx(
        sk.accuracy_score(y, pred), abs=1e-15)
    # binary: one column of probabilities, or logits
    p = rng.random(n)
    yb = (rng.random(n) > 0.5).astype(np.float64)
    assert _batched(M.Accuracy(), p[:, None], yb, SIZES) == pytest.approx(
        sk.accuracy_score(yb, p > 0.5), abs=1e-15)
    acc = M.Accuracy()
    acc.logits = True
    z = rng.standard_normal(n)
    assert _batched(acc, z, yb, SIZES) == pytest.approx(
        sk.accuracy_score(yb, z > 0), abs=1e-15)
    f1 = M.F1Score()
    f1.logits = True
    assert _batched(f1, z, yb, SIZES) == pytest.approx(
        sk.f1_score(yb, z > 0, average="macro"), abs=1e-12)


def test_regression_metrics_equal_sklearn_over_batches():
    rng = np.random.default_rng(2)
    n = sum(SIZES)
    for shape in ((n,), (n, 1), (n, 3)):
        t = rng.standard_normal(shape) * 3 + 10
        o = t + rng.standard_normal(shape)
        assert _batched(M.MeanSquaredError(), o, t, SIZES) == pytest.approx(
            sk.mean_squared_error(t.reshape(n, -1), o.reshape(n, -1)),
            rel=1e-13)
        assert _batched(M.MeanAbsoluteError(), o, t, SIZES) == \
            pytest.approx(sk.mean_absolute_error(t.reshape(n, -1),
                                                 o.reshape(n, -1)), rel=1e-13)
        assert _batched(M.R2Score(), o, t, SIZES) == pytest.approx(
            sk.r2_score(t.reshape(n, -1), o.reshape(n, -1)), rel=1e-12)


def test_metric_state_round_trips_mid_epoch():
    rng = np.random.default_rng(3)
    out, y = rng.standard_normal((40, 4)), rng.integers(0, 4, 40)
    for make in (M.F1Score, M.R2Score, M.Accuracy):
        if make is M.R2Score:
            o, t = out[:, 0], out[:, 1] + out[:, 0]
        else:
            o, t = out, y
        a = make()
        a.update(o[:25], t[:25])
        b = make()
        b.load_state_dict(a.state_dict())
        a.update(o[25:], t[25:])
        b.update(o[25:], t[25:])
        assert a.compute() == b.compute()


def test_metric_names_and_task_checks():
    X, y = blobs(30)
    tr = trainer(make_model())
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        tr.fit(X, y, metrics=["auc"], verbose=0)
    with pytest.raises(ValueError, match="metric 'r2' needs a regression"):
        tr.fit(X, y, metrics=["r2"], verbose=0)
    reg = ad.Trainer(make_model(), nn.MSELoss(),
                     optim.SGD(make_model().parameters(), lr=0.1))
    with pytest.raises(ValueError, match="'accuracy' needs a classification"):
        reg.fit(X, np.zeros((30, 3)), metrics=["accuracy"], verbose=0)
    with pytest.raises(ValueError, match="distinct"):
        tr.fit(X, y, metrics=["f1", M.F1Score()], verbose=0)


def test_fit_logs_builtin_and_callable_metrics():
    X, y = blobs(64)
    tr = trainer(make_model())

    def error_rate(out, t):
        return float(np.mean(out.argmax(1) != t))
    hist = tr.fit(X, y, epochs=2, batch_size=16, shuffle=False, seed=0,
                  metrics=["accuracy", "f1", "top_k_accuracy", error_rate],
                  verbose=0, validation_data=(X, y))
    for k in ("accuracy", "f1", "top_k_accuracy", "error_rate",
              "val_accuracy", "val_f1", "val_error_rate"):
        assert len(hist[k]) == 2, k
    np.testing.assert_allclose(np.add(hist["accuracy"], hist["error_rate"]),
                               1.0, rtol=1e-12)
    assert hist["top_k_accuracy"] == [1.0, 1.0]       # k=5 > 3 classes
    ev = tr.evaluate(X, y, metrics=["f1"])
    pred = tr.predict(X).argmax(1)
    assert ev["f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"),
                                     abs=1e-12)
    assert hist["val_f1"][-1] == pytest.approx(ev["f1"], abs=1e-12)


# ------------------------------------------------------------ data sources

@pytest.mark.parametrize("compile", [True, False])
def test_iterable_of_batches_equals_arrays(compile):
    X, y = blobs(80)
    a = make_model()
    ha = trainer(a, compile=compile).fit(X, y, epochs=3, batch_size=16,
                                         shuffle=False, verbose=0)
    b = make_model()
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 80, 16)]
    hb = trainer(b, compile=compile).fit(batches, epochs=3, verbose=0)
    assert_same(params(a), params(b))
    assert ha["loss"] == hb["loss"]
    assert ha["accuracy"] == hb["accuracy"]
    # dict batches and tensors: the same again
    c = make_model()
    dicts = [{"x": ad.tensor(X[i:i + 16]), "label": ad.tensor(y[i:i + 16])}
             for i in range(0, 80, 16)]

    trainer(Kw(c), compile=compile).fit(dicts, epochs=3, verbose=0)
    assert_same(params(a), params(c))


def test_iterable_sources_are_checked():
    X, y = blobs(32)
    tr = trainer(make_model())
    with pytest.raises(ValueError, match="one-shot iterator cannot be read "
                                         "for 2 epochs"):
        tr.fit(iter([(X, y)]), epochs=2, verbose=0)
    with pytest.raises(ValueError, match="batch_size is set by the DataLoader"):
        tr.fit([(X, y)], batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="a batch must be"):
        tr.fit([X], verbose=0)
    with pytest.raises(ValueError, match="exactly one target entry"):
        tr.fit([{"x": X}], verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        tr.fit(X, verbose=0)


def test_tuple_of_inputs():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))
    t = (a[:, :1] - 2 * b[:, 1:]).astype(np.float64)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.g = nn.Linear(3, 1), nn.Linear(2, 1)

        def forward(self, u, v):
            return self.f(u) + self.g(v)
    ad.manual_seed(0)
    m = Two()
    tr = ad.Trainer(m, nn.MSELoss(), optim.SGD(m.parameters(), lr=0.1))
    hist = tr.fit((a, b), t, epochs=30, batch_size=8, verbose=0, seed=0,
                  metrics=["mse", "r2"])
    assert hist["r2"][-1] > 0.99
    assert tr.predict((a, b)).shape == (40, 1)
    assert tr.evaluate((a, b), t, metrics=["mse"])["mse"] == pytest.approx(
        np.mean((tr.predict((a, b)) - t) ** 2), rel=1e-6)


def test_integer_inputs_reach_an_embedding():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 10, (64, 4))
    y = (idx.sum(1) > 18).astype(np.int64)

    def run(compile):
        ad.manual_seed(0)
        m = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(16, 2))
        tr = ad.Trainer(m, nn.CrossEntropyLoss(),
                        optim.Adam(m.parameters(), lr=0.05), compile=compile)
        tr.fit(idx, y, epochs=3, batch_size=16, verbose=0, seed=0)
        return m, tr
    (m1, t1), (m2, _) = run(True), run(False)
    assert t1._not_compilable is False
    assert_same(params(m1), params(m2))


def test_validation_split_takes_the_last_samples():
    X, y = blobs(50)
    a, b = make_model(), make_model()
    ha = trainer(a).fit(X, y, epochs=2, validation_split=0.2, seed=0,
                        verbose=0)
    hb = trainer(b).fit(X[:40], y[:40], epochs=2, seed=0, verbose=0,
                        validation_data=(X[40:], y[40:]))
    assert_same(params(a), params(b))
    assert ha["val_loss"] == hb["val_loss"]
    with pytest.raises(ValueError, match="validation_split must be in"):
        trainer(a).fit(X, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="not both"):
        trainer(a).fit(X, y, validation_split=0.1, validation_data=(X, y),
                       verbose=0)


# ----------------------------------------------------------------- weights

def test_sample_weight_equals_duplicated_samples():
    """One full-batch step: integer weights are repeated samples."""
    X, y = blobs(24)
    w = np.random.default_rng(0).integers(0, 3, 24).astype(np.float64)
    a, b = make_model(), make_model()
    trainer(a).fit(X, y, batch_size=24, sample_weight=w, shuffle=False,
                   verbose=0)
    rep = np.repeat(np.arange(24), w.astype(int))
    trainer(b).fit(X[rep], y[rep], batch_size=len(rep), shuffle=False,
                   verbose=0)
    assert_same(params(a), params(b), rtol=1e-12)


def test_class_weight_equals_torch_weighted_cross_entropy():
    torch = require_torch()
    X, y = blobs(30)
    cw = {0: 0.5, 1: 2.0, 2: 1.25}
    m = make_model()
    tm = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                             torch.nn.Linear(16, 3)).double()
    tm.load_state_dict({k: torch.tensor(v) for k, v in params(m).items()})
    trainer(m).fit(X, y, batch_size=30, class_weight=cw, verbose=0)
    opt = torch.optim.SGD(tm.parameters(), lr=0.1)
    loss = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.25],
                                                         dtype=torch.float64))
    loss(tm(torch.tensor(X)), torch.tensor(y)).backward()
    opt.step()
    assert_same(params(m), {k: v.detach().numpy()
                            for k, v in tm.state_dict().items()}, rtol=1e-12)


def test_bad_weights_raise_before_training():
    X, y = blobs(20)
    m = make_model()
    before = params(m)
    tr = trainer(m)
    with pytest.raises(ValueError, match=r"sample_weight must have shape "
                                         r"\(20,\)"):
        tr.fit(X, y, sample_weight=np.ones(19), verbose=0)
    with pytest.raises(ValueError, match="non-negative"):
        tr.fit(X, y, sample_weight=-np.ones(20), verbose=0)
    with pytest.raises(ValueError, match=r"class_weight\[1\]"):
        tr.fit(X, y, class_weight={1: -2.0}, verbose=0)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        tr.fit(X, y, ema_decay=1.0, verbose=0)
    with pytest.raises(ValueError, match="accumulate_grad_batches must be"):
        tr.fit(X, y, accumulate_grad_batches=0, verbose=0)
    with pytest.raises(ValueError, match="grad_clip_norm must be"):
        tr.fit(X, y, grad_clip_norm=-1.0, verbose=0)
    assert_same(before, params(m))


# ---------------------------------------------- accumulation and averaging

@pytest.mark.parametrize("n", [64, 60])
def test_accumulated_batches_equal_one_large_batch(n):
    X, y = blobs(n)
    a, b = make_model(), make_model()
    trainer(a).fit(X, y, epochs=2, batch_size=8, accumulate_grad_batches=4,
                   shuffle=False, verbose=0)
    trainer(b).fit(X, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    assert_same(params(a), params(b), rtol=1e-12)


def test_compiled_step_takes_the_fast_path():
    # The trainer calls its compiled step with flat positional arguments,
    # so the replays after the first go through the engine's fast path
    # (a binder), for positional and keyword inputs, bit for bit eager.
    X, y = blobs(64)

    out = []
    for compile in (True, False):
        m, k = make_model(), make_model()
        tm, tk = trainer(m, compile=compile), trainer(Kw(k), compile=compile)
        tm.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        tk.fit([{"x": X[i:i + 16], "label": y[i:i + 16]}
                for i in range(0, 64, 16)], epochs=2, verbose=0)
        if compile:
            assert tm._compiled.last is not None
            assert tk._compiled.last is not None
            assert tm._compiled.recordings == tk._compiled.recordings == 1
        out += [params(m), params(k)]
    for got in out[1:]:
        assert_same(out[0], got)


def test_accumulation_and_weights_compiled_equal_eager():
    X, y = blobs(60)
    w = np.random.default_rng(1).random(60)
    out = []
    for compile in (True, False):
        m = make_model(dropout=0.2)
        tr = trainer(m, compile=compile, opt=optim.Adam, lr=0.01)
        h = tr.fit(X, y, epochs=3, batch_size=8, accumulate_grad_batches=3,
                   sample_weight=w, seed=5, verbose=0, ema_decay=0.9)
        out.append((params(m), h["loss"]))
    assert tr._not_compilable is False
    assert_same(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_ema_of_the_weights():
    X, y = blobs(40)
    m = make_model()
    snaps = []

    class Snap(ad.Callback):
        def on_batch_end(self, batch, logs=None):
            snaps.append(params(self.trainer.model))
    start = params(m)
    tr = trainer(m)
    d = 0.8
    hist = tr.fit(X, y, epochs=2, batch_size=10, ema_decay=d, verbose=0,
                  seed=0, callbacks=[Snap()], validation_data=(X, y))
    ema = start
    for s in snaps:
        ema = {k: ema[k] + (1 - d) * (s[k] - ema[k]) for k in ema}
    assert_same(params(m), ema, rtol=1e-13)
    # the last validation ran with the averaged weights
    assert hist["val_loss"][-1] == pytest.approx(tr.evaluate(X, y)["loss"],
                                                 rel=1e-13)


# ------------------------------------------------------------------ resume

SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import autodiff as ad
    from autodiff import nn, optim
    from autodiff.optim import lr_scheduler

    mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    acc, loader = int(sys.argv[4]), sys.argv[5] == "loader"
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    X = (np.eye(3)[y] @ rng.standard_normal((3, 5)) +
         rng.standard_normal((90, 5))).astype(np.float32)
    ad.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(32, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    class Kill(ad.Callback):
        def on_batch_end(self, batch, logs=None):
            if self.trainer._global_batch == 17:
                os._exit(3)          # no cleanup, as a killed process

    cbs = [ad.LRSchedulerCallback(sched),
           ad.EarlyStopping(monitor="val_loss", patience=50),
           ad.ModelCheckpoint(path, save_best_only=False, save_freq=3)]
    if mode == "kill":
        cbs.append(Kill())
    tr = ad.Trainer(model, nn.CrossEntropyLoss(), opt)
    if loader:       # shuffled by the loader, read by two worker threads
        from autodiff.data import DataLoader, TensorDataset
        data = dict(x=DataLoader(TensorDataset(X[:70], y[:70]), batch_size=9,
                                 shuffle=True, num_workers=2))
    else:
        data = dict(x=X[:70], y=y[:70], batch_size=9)
    hist = tr.fit(**data, epochs=5, seed=7,
                  validation_data=(X[70:], y[70:]), metrics=["accuracy", "f1"],
                  callbacks=cbs, verbose=0, accumulate_grad_batches=acc,
                  ema_decay=0.5, resume_from=path if mode == "resume" else None)
    np.savez(out, **{k: v.numpy() for k, v in model.state_dict().items()},
             **{"h_" + k: np.array(v) for k, v in hist.history.items()
                if k != "time"}, epochs=np.array(hist.epoch))
""")


@pytest.mark.slow
@pytest.mark.parametrize("acc,source", [(1, "arrays"), (2, "arrays"),
                                        (2, "loader")])
def test_killed_run_resumes_bit_identical(tmp_path, acc, source):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(ad.__file__))] +
        env.get("PYTHONPATH", "").split(os.pathsep))

    def run(mode, ck, out):
        return subprocess.run([sys.executable, str(script), mode, str(ck),
                               str(out), str(acc), source], env=env,
                              capture_output=True, text=True, timeout=300)
    r = run("full", tmp_path / "a.npz", tmp_path / "full.npz")
    assert r.returncode == 0, r.stderr
    r = run("kill", tmp_path / "b.npz", tmp_path / "never.npz")
    assert r.returncode == 3, r.stderr
    assert not (tmp_path / "never.npz").exists()
    st = ad.load(tmp_path / "b.npz")
    # 8 batches an epoch; the last save before the kill after batch 17 was
    # after batch 15: epoch 1's 7th, in the middle of a group of 2
    assert (st["epoch"], st["batch"], st["global_batch"]) == (1, 7, 15)
    assert (st["grads"] is None) == (acc == 1)
    r = run("resume", tmp_path / "b.npz", tmp_path / "resumed.npz")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "full.npz") as f, \
            np.load(tmp_path / "resumed.npz") as g:
        assert sorted(f.files) == sorted(g.files)
        for k in f.files:
            np.testing.assert_array_equal(f[k], g[k], err_msg=k)


def test_resume_checks_the_run(tmp_path):
    X, y = blobs(40)
    m = make_model()
    path = tmp_path / "ck.npz"
    trainer(m).fit(X, y, epochs=1, batch_size=8, verbose=0, seed=0,
                   callbacks=[ad.ModelCheckpoint(path, save_best_only=False,
                                                 save_freq=2)])
    with pytest.raises(ValueError, match="batch_size"):
        trainer(m).fit(X, y, epochs=2, batch_size=10, verbose=0, seed=0,
                       resume_from=path)
    with pytest.raises(ValueError, match="callbacks"):
        trainer(m).fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0,
                       resume_from=path, callbacks=[ad.EarlyStopping()])
    ad.save(m, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="not a resumable training state"):
        trainer(m).fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0,
                       resume_from=tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="save_best_only=False"):
        ad.ModelCheckpoint(path, save_freq=3)
    with pytest.raises(ValueError, match="save_freq must be"):
        ad.ModelCheckpoint(path, save_freq=0, save_best_only=False)


@pytest.mark.parametrize("compile", [True, False])
def test_dataloader_fed_fit(compile):
    from autodiff.data import DataLoader, TensorDataset
    X, y = blobs(80)
    a = make_model()
    ha = trainer(a, compile=compile).fit(X, y, epochs=2, batch_size=16,
                                         shuffle=False, verbose=0)
    b = make_model()
    dl = DataLoader(TensorDataset(X, y), batch_size=16)
    hb = trainer(b, compile=compile).fit(dl, epochs=2, verbose=0,
                                         validation_data=dl)
    assert_same(params(a), params(b))
    assert ha["loss"] == hb["loss"]
    assert hb["val_loss"][-1] == pytest.approx(
        trainer(b).evaluate(X, y)["loss"], rel=1e-12)
    # shuffled by a seeded generator: the same run twice
    runs = []
    for _ in range(2):
        m = make_model()
        dl = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True,
                        generator=np.random.default_rng(3), num_workers=2)
        runs.append((trainer(m, compile=compile).fit(
            dl, epochs=2, verbose=0)["loss"], params(m)))
    assert runs[0][0] == runs[1][0]
    assert_same(runs[0][1], runs[1][1])
    assert runs[0][0] != ha["loss"]
    np.testing.assert_array_equal(
        trainer(b).predict(DataLoader(TensorDataset(X, y), batch_size=7)),
        trainer(b).predict(X))


@pytest.mark.parametrize("compile", [True, False])
@pytest.mark.parametrize("clip", [dict(grad_clip_norm=0.3),
                                  dict(grad_clip_value=0.02),
                                  dict(grad_clip_norm=0.3,
                                       grad_clip_value=0.02)])
def test_gradient_clipping_equals_a_manual_loop(compile, clip):
    from autodiff.nn import utils
    X, y = blobs(48)
    a = make_model()
    trainer(a, compile=compile, opt=optim.Adam, lr=0.05).fit(
        X, y, epochs=2, batch_size=16, shuffle=False, verbose=0, **clip)
    b = make_model()
    opt = optim.Adam(b.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):
        for i in range(0, 48, 16):
            out = b(ad.tensor(X[i:i + 16]))
            loss = loss_fn(out, y[i:i + 16])
            opt.zero_grad()
            loss.backward()
            if "grad_clip_value" in clip:
                utils.clip_grad_value_(b.parameters(), clip["grad_clip_value"])
            if "grad_clip_norm" in clip:
                utils.clip_grad_norm_(b.parameters(), clip["grad_clip_norm"])
            opt.step()
    assert_same(params(a), params(b))
    c = make_model()
    trainer(c, compile=compile, opt=optim.Adam, lr=0.05).fit(
        X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert not all(np.array_equal(v, params(c)[k])
                   for k, v in params(a).items())
