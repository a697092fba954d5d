"""Trainer.fit / evaluate / predict, History and the callbacks."""
import copy
import io
import re
import sys

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff import trainer as trainer_mod
from autodiff.optim import lr_scheduler


def blobs(n=120, seed=0):
    """Three well separated Gaussian blobs in 2-D (float32, int labels)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, n)
    X = (centers[y] + rng.normal(scale=0.5, size=(n, 2))).astype(np.float32)
    return X, y


def make_model(seed=0, dropout=0.0):
    ad.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, 3))
    return nn.Sequential(*layers)


def make_trainer(model, lr=0.05, opt=optim.Adam):
    return ad.Trainer(model, nn.CrossEntropyLoss(),
                      opt(model.parameters(), lr=lr))


def params_of(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


class Script(ad.Callback):
    """Writes a scripted value into the logs at each epoch end (placed
    before the callback under test) and snapshots the parameters."""

    def __init__(self, key, values):
        self.key, self.values = key, list(values)
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.snapshots.append(params_of(self.trainer.model))


# --------------------------------------------------------------------- fit

def test_fit_history_per_epoch():
    X, y = blobs()
    model = make_model()
    tr = make_trainer(model)
    hist = tr.fit(X, y, epochs=8, batch_size=16, seed=0, verbose=0)
    assert isinstance(hist, ad.History)
    assert hist.epoch == list(range(8))
    assert tr.history is hist
    for k in ("loss", "accuracy", "time"):
        assert len(hist[k]) == 8, k
    assert not any(k.startswith("val_") for k in hist.history)
    assert all(0.0 <= a <= 1.0 for a in hist["accuracy"])
    assert all(np.isfinite(hist["loss"]))
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["accuracy"][-1] > 0.95           # separable blobs
    assert "epochs=8" in repr(hist)


def test_fit_with_validation_data():
    X, y = blobs(150)
    Xv, yv = blobs(60, seed=1)
    model = make_model()
    tr = make_trainer(model)
    hist = tr.fit(X, y, epochs=5, validation_data=(Xv, yv), seed=0,
                  verbose=0)
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(hist[k]) == 5, k
    # The last val_ entries are what evaluate gives on the final model.
    ev = tr.evaluate(Xv, yv)
    assert hist["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-6)
    assert hist["val_accuracy"][-1] == pytest.approx(ev["accuracy"])
    assert hist["val_loss"][-1] < hist["val_loss"][0]


def test_epoch_loss_is_the_sample_mean_of_batch_losses():
    # lr = 0: the parameters do not move, so the epoch loss equals the loss
    # of the whole set, even with a last batch of a different size.
    X, y = blobs(50)
    model = make_model()
    tr = ad.Trainer(model, nn.CrossEntropyLoss(),
                    optim.SGD(model.parameters(), lr=0.0))
    hist = tr.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    full = nn.CrossEntropyLoss()(model(ad.tensor(X)), y).item()
    assert hist["loss"][0] == pytest.approx(full, rel=1e-5)
    acc = np.mean(model(ad.tensor(X)).numpy().argmax(1) == y)
    assert hist["accuracy"][0] == pytest.approx(acc)


def test_fit_deterministic_given_seed():
    # Same initial weights, same fit seed -> identical parameters, even
    # though the model has Dropout and the default generator is not
    # re-seeded between the runs.
    X, y = blobs()
    base = make_model(seed=3, dropout=0.3)
    runs = []
    for _ in range(2):
        model = copy.deepcopy(base)
        tr = make_trainer(model)
        hist = tr.fit(X, y, epochs=3, batch_size=10, seed=42, verbose=0)
        runs.append((params_of(model), hist["loss"]))
    for k in runs[0][0]:
        np.testing.assert_array_equal(runs[0][0][k], runs[1][0][k],
                                      err_msg=k)
    assert runs[0][1] == runs[1][1]
    # Control: another seed gives another run.
    model = make_model(seed=3, dropout=0.3)
    make_trainer(model).fit(X, y, epochs=3, batch_size=10, seed=43,
                            verbose=0)
    assert not np.array_equal(params_of(model)["0.weight"],
                              runs[0][0]["0.weight"])


def test_fit_seed_independent_of_global_generator_state():
    # With a seed, the state of the default generator (here moved on by a
    # different number of draws) does not change the run, and fit leaves
    # the default generator as it found it.
    X, y = blobs(60)
    base = make_model(seed=3, dropout=0.5)
    weights = []
    for burn in (0, 5):
        model = copy.deepcopy(base)
        tr = make_trainer(model)
        ad.manual_seed(100)
        for _ in range(burn):
            ad.rand(10)
        tr.fit(X, y, epochs=2, batch_size=8, seed=7, verbose=0)
        after = ad.rand(3).numpy()
        ad.manual_seed(100)
        for _ in range(burn):
            ad.rand(10)
        np.testing.assert_array_equal(after, ad.rand(3).numpy())
        weights.append(params_of(model)["0.weight"])
    np.testing.assert_array_equal(weights[0], weights[1])


def test_fit_without_shuffle_is_deterministic_in_order():
    X, y = blobs(40)
    res = []
    for s in (1, 2):
        model = make_model(seed=0)
        make_trainer(model).fit(X, y, epochs=2, shuffle=False, seed=s,
                                verbose=0)
        res.append(params_of(model)["0.weight"])
    np.testing.assert_array_equal(res[0], res[1])


def test_evaluate_and_predict_shapes():
    X, y = blobs(70)
    model = make_model(dropout=0.5)
    tr = make_trainer(model)
    tr.fit(X, y, epochs=3, verbose=0, seed=0)
    out = tr.predict(X, batch_size=16)
    assert out.shape == (70, 3) and out.dtype == np.float32
    # eval mode: Dropout off, so predict equals the deterministic forward.
    model.eval()
    with ad.no_grad():
        direct = model(ad.tensor(X)).numpy()
    np.testing.assert_allclose(out, direct, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(tr.predict(X), tr.predict(X))
    ev = tr.evaluate(X, y, batch_size=16)
    assert set(ev) == {"loss", "accuracy"}
    full = nn.CrossEntropyLoss()(ad.tensor(direct), y).item()
    assert ev["loss"] == pytest.approx(full, rel=1e-5)
    assert ev["accuracy"] == pytest.approx(np.mean(direct.argmax(1) == y))
    assert tr.evaluate(X, y, metrics=()).keys() == {"loss"}
    assert tr.predict(X[:1]).shape == (1, 3)
    assert tr.predict(ad.tensor(X[:5])).shape == (5, 3)


def test_evaluate_and_predict_keep_the_models_mode():
    X, y = blobs(20)
    model = make_model(dropout=0.5)
    tr = make_trainer(model)
    model.eval()
    tr.predict(X)
    assert not model.training and not model[2].training
    tr.evaluate(X, y)
    assert not model.training
    model.train()
    tr.predict(X)
    tr.evaluate(X, y)
    assert model.training and model[2].training
    # fit trains in train mode (Dropout active).
    model.eval()
    seen = []
    class Spy(ad.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(self.trainer.model[2].training)
    tr.fit(X, y, epochs=1, verbose=0, callbacks=[Spy()], seed=0)
    assert seen and all(seen)


def test_regression_and_one_hot_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    Y = X @ rng.normal(size=(3, 2)).astype(np.float32)
    ad.manual_seed(0)
    model = nn.Linear(3, 2)
    tr = ad.Trainer(model, nn.MSELoss(), optim.Adam(model.parameters(),
                                                     lr=0.05))
    hist = tr.fit(X, Y, epochs=30, metrics=(), verbose=0, seed=0)
    assert set(hist.history) == {"loss", "time"}
    assert hist["loss"][-1] < 0.05 * hist["loss"][0]
    assert tr.predict(X).shape == (64, 2)
    # A multi-output target with the default metrics does not crash.
    tr.fit(X, Y, epochs=1, verbose=0, seed=0)

    # Class-probability (one-hot) targets with CrossEntropyLoss: accuracy
    # compares the arg-max class.
    Xc, yc = blobs(90)
    onehot = np.eye(3, dtype=np.float32)[yc]
    model = make_model()
    tr = make_trainer(model)
    hist = tr.fit(Xc, onehot, epochs=10, verbose=0, seed=0)
    assert hist["accuracy"][-1] > 0.9
    ev = tr.evaluate(Xc, onehot)
    assert ev["accuracy"] == pytest.approx(
        np.mean(tr.predict(Xc).argmax(1) == yc))


def test_binary_classification_accuracy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    for loss, head in ((nn.BCEWithLogitsLoss(), []),
                       (nn.BCELoss(), [nn.Sigmoid()])):
        ad.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 1), *head)
        tr = ad.Trainer(model, loss, optim.Adam(model.parameters(), lr=0.1))
        hist = tr.fit(X, y, epochs=20, verbose=0, seed=0)
        assert hist["accuracy"][-1] > 0.9
        out = tr.predict(X)
        thresh = 0.0 if head == [] else 0.5
        acc = np.mean((out > thresh) == (y > 0.5))
        assert tr.evaluate(X, y)["accuracy"] == pytest.approx(acc)


# ---------------------------------------------------------------- bad input

def test_mismatched_lengths_raise():
    X, y = blobs(30)
    tr = make_trainer(make_model())
    with pytest.raises(ValueError, match=r"\(30, 2\).*\(29,\)"):
        tr.fit(X, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        tr.evaluate(X[:10], y)
    with pytest.raises(ValueError, match="same number of samples"):
        tr.fit(X, y, validation_data=(X, y[:5]), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        tr.fit(X[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        tr.fit(X, y, batch_size=0, verbose=0)
    before = params_of(tr.model)
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        tr.fit(X, y, metrics=("accuracy", "f2"), verbose=0)
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        tr.evaluate(X, y, metrics=("f2",))
    # Bad input is rejected before any training step.
    for k, v in params_of(tr.model).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_metrics_as_a_single_string():
    X, y = blobs(30)
    tr = make_trainer(make_model())
    hist = tr.fit(X, y, epochs=1, metrics="accuracy", verbose=0, seed=0)
    assert set(hist.history) == {"loss", "accuracy", "time"}
    assert set(tr.evaluate(X, y, metrics="accuracy")) == {"loss", "accuracy"}


# ---------------------------------------------------------------- callbacks

def test_early_stopping_patience():
    X, y = blobs(40)
    tr = make_trainer(make_model())
    scores = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0, 0.5, 0.1]
    script = Script("score", scores)
    es = ad.EarlyStopping(monitor="score", patience=3)
    hist = tr.fit(X, y, epochs=10, callbacks=[script, es], verbose=0,
                  seed=0)
    # Best at epoch 2; epochs 3, 4, 5 do not improve -> stop after 5.
    assert hist.epoch == [0, 1, 2, 3, 4, 5]
    assert es.stopped_epoch == 5
    assert hist["score"] == scores[:6]

    es2 = ad.EarlyStopping(monitor="score", patience=4)
    hist = tr.fit(X, y, epochs=10, callbacks=[Script("score", scores), es2],
                  verbose=0, seed=0)
    assert len(hist.epoch) == 10 and es2.stopped_epoch is None


def test_early_stopping_min_delta_and_mode():
    X, y = blobs(40)
    tr = make_trainer(make_model())
    es = ad.EarlyStopping(monitor="score", patience=2, min_delta=0.5)
    hist = tr.fit(X, y, epochs=10, verbose=0, seed=0, callbacks=[
        Script("score", [5.0, 4.8, 4.6, 4.0, 3.9, 3.8, 3.7, 1, 1, 1]), es])
    assert hist.epoch == [0, 1, 2]             # 4.8 and 4.6 are too small
    acc = ad.EarlyStopping(monitor="val_acc", patience=1)
    assert acc.mode == "max"
    hist = tr.fit(X, y, epochs=10, verbose=0, seed=0, callbacks=[
        Script("val_acc", [0.5, 0.6, 0.55, 0.7, 0.8, 0.9, 1, 1, 1, 1]),
        acc])
    assert hist.epoch == [0, 1, 2]
    with pytest.raises(ValueError, match="mode"):
        ad.EarlyStopping(mode="up")
    with pytest.raises(KeyError, match="nope"):
        tr.fit(X, y, epochs=1, verbose=0,
               callbacks=[ad.EarlyStopping(monitor="nope")])


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_restore_best_weights(restore):
    X, y = blobs(40)
    model = make_model()
    tr = make_trainer(model)
    script = Script("score", [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 9, 9, 9, 9])
    es = ad.EarlyStopping(monitor="score", patience=3,
                          restore_best_weights=restore)
    tr.fit(X, y, epochs=10, callbacks=[script, es], verbose=0, seed=0)
    final = params_of(model)
    best, last = script.snapshots[2], script.snapshots[-1]
    assert not np.array_equal(best["0.weight"], last["0.weight"])
    expected = best if restore else last
    for k in final:
        np.testing.assert_array_equal(final[k], expected[k], err_msg=k)


def test_lr_scheduler_callback_changes_lr():
    X, y = blobs(40)
    model = make_model()
    tr = make_trainer(model, lr=0.1, opt=optim.SGD)
    sched = lr_scheduler.StepLR(tr.optimizer, step_size=1, gamma=0.5)
    lrs = []

    class Spy(ad.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            lrs.append(self.trainer.optimizer.param_groups[0]["lr"])
    hist = tr.fit(X, y, epochs=4, verbose=0, seed=0,
                  callbacks=[Spy(), ad.LRSchedulerCallback(sched)])
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.025, 0.0125])
    np.testing.assert_allclose(hist["lr"], [0.05, 0.025, 0.0125, 0.00625])
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(0.00625)


def test_lr_scheduler_callback_plateau():
    X, y = blobs(40)
    tr = make_trainer(make_model(), lr=0.1, opt=optim.SGD)
    sched = lr_scheduler.ReduceLROnPlateau(tr.optimizer, patience=1,
                                           factor=0.5)
    hist = tr.fit(X, y, epochs=6, verbose=0, seed=0, callbacks=[
        Script("val_loss", [3.0, 2.0, 2.0, 2.0, 2.0, 1.0]),
        ad.LRSchedulerCallback(sched, monitor="val_loss")])
    np.testing.assert_allclose(hist["lr"], [0.1, 0.1, 0.1, 0.05, 0.05,
                                            0.05])


@pytest.mark.parametrize("best_only", [True, False])
def test_model_checkpoint_saves_best_model(tmp_path, best_only):
    X, y = blobs(40)
    model = make_model()
    tr = make_trainer(model)
    path = tmp_path / "best.npz"
    script = Script("val_loss", [3.0, 2.0, 2.5, 1.0, 1.5, 1.2])
    # the weights alone, or the whole training state (its "model" entry)
    ck = ad.ModelCheckpoint(path, monitor="val_loss",
                            save_best_only=best_only,
                            save_weights_only=best_only)
    tr.fit(X, y, epochs=6, callbacks=[script, ck], verbose=0, seed=0)
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]
    saved = ad.load(path)
    if not best_only:
        assert saved["epoch"] == 6 and saved["batch"] == 0
        saved = saved["model"]
    expected = script.snapshots[3] if best_only else script.snapshots[-1]
    assert set(saved) == set(expected)
    for k in expected:
        np.testing.assert_array_equal(saved[k].numpy(), expected[k],
                                      err_msg=k)
    fresh = make_model(seed=99)
    fresh.load_state_dict(saved)
    fresh.eval()
    model.load_state_dict(expected)
    model.eval()
    np.testing.assert_array_equal(fresh(ad.tensor(X)).numpy(),
                                  model(ad.tensor(X)).numpy())


def test_model_checkpoint_max_mode_and_missing_key(tmp_path):
    X, y = blobs(40)
    model = make_model()
    tr = make_trainer(model)
    path = tmp_path / "acc.npz"
    script = Script("val_accuracy", [0.2, 0.9, 0.5, 0.7])
    tr.fit(X, y, epochs=4, verbose=0, seed=0, callbacks=[
        script, ad.ModelCheckpoint(path, monitor="val_accuracy")])
    saved = ad.load(path)["model"]
    np.testing.assert_array_equal(saved["0.weight"].numpy(),
                                  script.snapshots[1]["0.weight"])
    with pytest.raises(KeyError, match="val_loss"):
        tr.fit(X, y, epochs=1, verbose=0,
               callbacks=[ad.ModelCheckpoint(tmp_path / "x.npz")])


def test_stop_training_from_callback_and_hooks_order():
    X, y = blobs(40)
    tr = make_trainer(make_model())
    calls = []

    class Rec(ad.Callback):
        def on_train_begin(self, logs=None): calls.append("begin")
        def on_epoch_begin(self, epoch, logs=None): calls.append(("e", epoch))
        def on_batch_end(self, batch, logs=None): calls.append("b")
        def on_epoch_end(self, epoch, logs=None):
            calls.append(("end", epoch))
            if epoch == 1:
                self.trainer.stop_training = True
        def on_train_end(self, logs=None): calls.append("finish")
    hist = tr.fit(X, y, epochs=5, batch_size=20, verbose=0, callbacks=[Rec()])
    assert hist.epoch == [0, 1]
    assert calls == ["begin", ("e", 0), "b", "b", ("end", 0), ("e", 1), "b",
                     "b", ("end", 1), "finish"]


# ------------------------------------------------------------------ History

def _history():
    h = ad.History()
    for e, (l, a) in enumerate([(1.0, 0.5), (0.6, 0.7), (0.4, 0.8)]):
        h._append(e, {"loss": l, "accuracy": a, "val_loss": l + 0.1,
                      "val_accuracy": a - 0.1})
    return h


def test_history_plot_returns_figure_and_writes_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    h = _history()
    fig = h.plot()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    assert [len(ax.get_lines()) for ax in axes] == [2, 2]   # train and val
    np.testing.assert_allclose(axes[0].get_lines()[0].get_ydata(),
                               [1.0, 0.6, 0.4])
    path = tmp_path / "curves.png"
    fig2 = h.plot(path)
    assert isinstance(fig2, Figure)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)
    plt.close(fig2)


def test_history_plot_keeps_the_users_backend(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    prev = matplotlib.get_backend()
    try:
        plt.switch_backend("pdf")
        fig = _history().plot(tmp_path / "c.png")
        assert matplotlib.get_backend().lower() == "pdf"
        plt.close(fig)
    finally:
        plt.switch_backend(prev)


def test_history_plot_without_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"matplotlib.*autodiff-tape\[plot\]"):
        _history().plot()


def test_history_plot_without_matplotlib_via_import_hook(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named %r" % name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError) as e:
        _history().plot()
    assert "matplotlib" in str(e.value) and "plot" in str(e.value)


# ------------------------------------------------------------ progress bar

class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class NotTTY(io.StringIO):
    def isatty(self):
        return False


def _fit_with_stderr(monkeypatch, stream, verbose):
    monkeypatch.setattr(sys, "stderr", stream)
    X, y = blobs(40)
    make_trainer(make_model()).fit(X, y, epochs=2, batch_size=10,
                                   verbose=verbose, seed=0)
    monkeypatch.undo()
    return stream.getvalue()


def test_progress_bar_shown_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    out = _fit_with_stderr(monkeypatch, FakeTTY(), verbose=1)
    assert "epoch 2/2" in out and "loss" in out


def test_no_progress_bar_when_verbose_0(monkeypatch):
    assert _fit_with_stderr(monkeypatch, FakeTTY(), verbose=0) == ""
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    assert trainer_mod._progress(0, 10) is None


def test_no_progress_bar_when_stderr_not_a_terminal(monkeypatch, capsys):
    assert _fit_with_stderr(monkeypatch, NotTTY(), verbose=1) == ""
    monkeypatch.setattr(sys, "stderr", NotTTY())
    assert trainer_mod._progress(1, 10) is None
    monkeypatch.undo()
    capsys.readouterr()
    X, y = blobs(20)
    make_trainer(make_model()).fit(X, y, epochs=2, verbose=1, seed=0)
    captured = capsys.readouterr()
    # without a terminal: one line per epoch on stdout, as Keras prints
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 2
    for i, line in enumerate(lines):
        assert re.fullmatch(r"Epoch %d/2 - \d+\.\d\ds - loss: \d\.\d{4} - "
                            r"accuracy: \d\.\d{4}" % (i + 1), line), line
