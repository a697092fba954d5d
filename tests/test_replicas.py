"""Trainer(replicas=N): data-parallel replicas on threads of one process
(autodiff/_replicas.py, ad_programs_run in csrc/program.c).

The promise: a float64 model without randomness or batch statistics,
trained with N replicas, ends where one replica with the same global
batch ends, up to summation order: the gradient of a batch is the sum of
its shares' gradients, added in another order than one GEMM over the
whole batch adds them, so "equal" here is allclose at 1e-12 (measured
differences are ~1e-16), never bit equality with replicas=1.  Runs with
the same number of replicas are bit-identical to each other."""
import threading

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff._replicas import _Replicas, _shares
from autodiff.trainer import Trainer

TOL = dict(rtol=1e-12, atol=1e-13)


def data(n=100, d=6, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.standard_normal((n, d)) + np.eye(k, d)[y]
    return X.astype(dtype), y


def mlp(d=6, k=3, seed=0, dtype=np.float64):
    ad.manual_seed(seed)
    m = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, k))
    return m.double() if dtype == np.float64 else m


def small_cnn(seed=0):
    ad.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 2 * 2, 3)).double()


def params(m):
    return [p.numpy().copy() for p in m.parameters()]


def train(replicas, model=None, X=None, y=None, opt="sgd", epochs=3,
          batch_size=32, loss=None, seed=3, **kw):
    if X is None:
        X, y = data()
    m = model if model is not None else mlp()
    o = (optim.SGD(m.parameters(), lr=0.1, momentum=0.9) if opt == "sgd"
         else optim.Adam(m.parameters(), lr=0.01))
    tr = Trainer(m, loss or nn.CrossEntropyLoss(), o, replicas=replicas)
    h = tr.fit(X, y, epochs=epochs, batch_size=batch_size, seed=seed,
               verbose=0, **kw)
    return m, h, tr


def assert_close(a, b, **tol):
    for p, q in zip(a, b):
        np.testing.assert_allclose(p, q, **(tol or TOL))


# ------------------------------------------------------------- splitting

@pytest.mark.parametrize("k,n", [(32, 2), (33, 2), (4, 3), (2, 3), (1, 4),
                                 (10, 4), (64, 64)])
def test_shares_are_array_split(k, n):
    want = [(a[0], a[-1] + 1) for a in np.array_split(np.arange(k), n)
            if len(a)]
    assert _shares(k, n) == want


# -------------------------------------------------------- the arguments

@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None,
                                 ad._engine.MAX_REPLICAS + 1])
def test_bad_replicas(bad):
    m = mlp()
    with pytest.raises(ValueError, match="replicas must be an integer"):
        Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                replicas=bad)


def test_numpy_integer_replicas():
    m = mlp()
    tr = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                 replicas=np.int64(2))
    assert tr.replicas == 2 and type(tr.replicas) is int


@pytest.mark.parametrize("case", ["accumulate", "compile", "world"])
def test_refuses_what_it_cannot_keep_exact(case, monkeypatch):
    X, y = data()
    m = mlp()
    before = params(m)
    tr = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                 replicas=2, compile=case != "compile", distributed=False)
    kw = {}
    if case == "accumulate":
        kw["accumulate_grad_batches"] = 2
        match = "accumulate_grad_batches=2"
    elif case == "compile":
        match = "compile=False"
    else:
        monkeypatch.setattr(Trainer, "_world", lambda self: 2)
        match = "2 MPI ranks"
    with pytest.raises(ValueError, match=match):
        tr.fit(X, y, epochs=1, verbose=0, **kw)
    assert_close(params(m), before, rtol=0, atol=0)


def test_refuses_a_model_that_cannot_be_recorded():
    class Twice(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3).double()

        def forward(self, x):
            return Twice.apply(self.lin(x))

    X, y = data()
    m = M()
    before = params(m)
    tr = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                 replicas=2)
    with pytest.raises(ValueError, match="cannot be recorded.*replicas=1"):
        tr.fit(X, y, epochs=1, verbose=0)
    assert_close(params(m), before, rtol=0, atol=0)
    # one replica falls back to eager steps, as before
    Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1)
            ).fit(X, y, epochs=1, verbose=0)


# ------------------------------------------------- one replica's result

@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_float64_mlp_equals_one_replica(n, opt):
    m1, h1, _ = train(1, opt=opt)
    mn, hn, _ = train(n, opt=opt)
    assert_close(params(mn), params(m1))
    np.testing.assert_allclose(hn.history["loss"], h1.history["loss"], **TOL)
    np.testing.assert_allclose(hn.history["accuracy"],
                               h1.history["accuracy"], rtol=0, atol=0)


def test_float64_cnn_equals_one_replica():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 1, 4, 4))
    y = rng.integers(0, 3, 40)
    m1, h1, _ = train(1, model=small_cnn(), X=X, y=y, batch_size=16)
    m2, h2, _ = train(2, model=small_cnn(), X=X, y=y, batch_size=16)
    assert_close(params(m2), params(m1))
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], **TOL)


def test_float32_close_to_one_replica():
    X, y = data(dtype=np.float32)
    m1, h1, _ = train(1, model=mlp(dtype=np.float32), X=X, y=y)
    m2, h2, _ = train(2, model=mlp(dtype=np.float32), X=X, y=y)
    assert m2[0].weight.dtype == ad.float32
    assert_close(params(m2), params(m1), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"],
                               rtol=1e-5)


@pytest.mark.parametrize("batch_size,n", [(2, 3), (1, 2), (5, 4)])
def test_empty_and_unequal_shares(batch_size, n):
    X, y = data(23)
    m1, _, _ = train(1, X=X, y=y, batch_size=batch_size, epochs=2)
    mn, _, _ = train(n, X=X, y=y, batch_size=batch_size, epochs=2)
    assert_close(params(mn), params(m1))


def test_regression_loss_and_two_inputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(6, 4).double()
            self.b = nn.Linear(2, 4).double()

        def forward(self, x, z):
            return (self.a(x) * self.b(z).tanh()).sum(1)

    rng = np.random.default_rng(2)
    X, Z, y = (rng.standard_normal((50, 6)), rng.standard_normal((50, 2)),
               rng.standard_normal(50))
    out = []
    for n in (1, 3):
        ad.manual_seed(0)
        m = Two()
        train(n, model=m, X=(X, Z), y=y, loss=nn.MSELoss(), batch_size=16)
        out.append(params(m))
    assert_close(out[1], out[0])


def test_sample_and_class_weights():
    X, y = data()
    w = np.random.default_rng(5).random(len(y))
    kw = dict(sample_weight=w, class_weight={0: 2.0, 1: 0.5, 2: 1.0})
    m1, h1, _ = train(1, **kw)
    m2, h2, _ = train(3, **kw)
    assert_close(params(m2), params(m1))
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], **TOL)


def test_clipping_ema_and_validation():
    X, y = data(120)
    kw = dict(grad_clip_norm=0.5, grad_clip_value=0.3, ema_decay=0.9,
              validation_data=(X[100:], y[100:]), metrics=["accuracy", "f1"])
    m1, h1, t1 = train(1, X=X[:100], y=y[:100], **kw)
    m2, h2, t2 = train(2, X=X[:100], y=y[:100], **kw)
    assert_close(params(m2), params(m1))
    for k in h1.history:
        if k != "time":
            np.testing.assert_allclose(h2.history[k], h1.history[k],
                                       err_msg=k, **TOL)
    e1, e2 = t1.evaluate(X, y), t2.evaluate(X, y)
    np.testing.assert_allclose(e2["loss"], e1["loss"], **TOL)
    np.testing.assert_allclose(t2.predict(X), t1.predict(X), **TOL)


def test_iterable_of_dict_batches_with_keyword_inputs():
    class K(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3).double()

        def forward(self, x=None, bias=None):
            return self.lin(x) + bias

    X, y = data(60)
    bias = np.random.default_rng(3).standard_normal((60, 3))
    batches = [dict(x=X[i:i + 16], bias=bias[i:i + 16], y=y[i:i + 16])
               for i in range(0, 60, 16)]
    out = []
    for n in (1, 2):
        ad.manual_seed(0)
        m = K()
        Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                replicas=n).fit(batches, epochs=2, verbose=0)
        out.append(params(m))
    assert_close(out[1], out[0])


def test_callbacks_see_the_same_losses():
    class Losses(ad.Callback):
        def __init__(self):
            self.seen = []

        def on_batch_end(self, batch, logs=None):
            self.seen.append(logs["loss"])

    c1, c2 = Losses(), Losses()
    train(1, callbacks=[c1])
    train(2, callbacks=[c2])
    assert len(c1.seen) == len(c2.seen) == 12
    np.testing.assert_allclose(c2.seen, c1.seen, **TOL)


def test_state_dict_and_checkpoint_names_unchanged(tmp_path):
    m1, _, _ = train(1, epochs=1)
    m2, _, t2 = train(2, epochs=1, callbacks=[ad.ModelCheckpoint(
        tmp_path / "w.npz", monitor="loss", save_weights_only=True)])
    assert list(m2.state_dict()) == list(m1.state_dict())
    st = ad.load(tmp_path / "w.npz")
    assert sorted(st) == sorted(m1.state_dict())
    assert t2._replicas is None         # dropped when fit returns


def test_resume_is_bit_identical(tmp_path):
    """Interrupted after batch 7 (saved after batch 6) and resumed: the
    same bits as the run that never stopped, dropout included."""
    def model():
        return dropout_mlp(0.3)

    class Stop(ad.Callback):
        def on_batch_end(self, batch, logs=None):
            if self.trainer._global_batch == 7:
                raise KeyboardInterrupt

    full, _, _ = train(2, model=model(), epochs=3)
    path = tmp_path / "ck.npz"
    ck = ad.ModelCheckpoint(path, save_best_only=False, save_freq=3,
                            save_weights_only=False)
    with pytest.raises(KeyboardInterrupt):
        train(2, model=model(), epochs=3, callbacks=[ck, Stop()])
    ck2 = ad.ModelCheckpoint(tmp_path / "ck2.npz", save_best_only=False,
                             save_freq=3, save_weights_only=False)
    resumed, _, _ = train(2, model=model(), epochs=3, resume_from=path,
                          callbacks=[ck2])
    assert_close(params(resumed), params(full), rtol=0, atol=0)


# ------------------------------------------------- randomness, batch norm

def dropout_mlp(p):
    ad.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(32, 3)).double()


def test_runs_are_bit_identical_and_dropout_is_reproducible():
    a, _, _ = train(3, model=dropout_mlp(0.5))
    b, _, _ = train(3, model=dropout_mlp(0.5))
    one, _, _ = train(1, model=dropout_mlp(0.5))
    assert_close(params(a), params(b), rtol=0, atol=0)
    # each replica draws its own stream: not one replica's masks
    assert not np.allclose(params(a)[0], params(one)[0])


def test_dropout_p0_equals_one_replica():
    a, _, _ = train(2, model=dropout_mlp(0.0))
    one, _, _ = train(1, model=dropout_mlp(0.0))
    assert_close(params(a), params(one))


def test_batchnorm_is_ddp_without_syncbatchnorm():
    """Each share normalized by its own statistics, the gradients summed
    with the shares' weights, running statistics replica 0's: the update
    DistributedDataParallel makes (broadcast_buffers, no SyncBatchNorm),
    simulated here eagerly with two copies of the model."""
    def model():
        ad.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                             nn.Linear(8, 3)).double()

    X, y = data(64)
    m, _, _ = train(2, model=model(), X=X, y=y, epochs=2, shuffle=False)

    ref = model()
    other = model()
    opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    ce = nn.CrossEntropyLoss()
    for _ in range(2):
        for i in range(0, 64, 32):
            with ad.no_grad():
                for p, q in zip(other.parameters(), ref.parameters()):
                    p.copy_(q)
            opt.zero_grad()
            for p in other.parameters():
                p.grad = None
            for mod, lo, hi in ((ref, i, i + 16), (other, i + 16, i + 32)):
                loss = ce(mod(ad.tensor(X[lo:hi])), y[lo:hi]) * 0.5
                loss.backward()
            with ad.no_grad():
                for p, q in zip(ref.parameters(), other.parameters()):
                    p.grad.add_(q.grad)
            opt.step()
    assert_close(params(m), params(ref))
    for (k, a), (_, b) in zip(m.state_dict().items(),
                              ref.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), err_msg=k, **TOL)
    # not the full batch's statistics (one replica)
    one, _, _ = train(1, model=model(), X=X, y=y, epochs=2, shuffle=False)
    assert not np.allclose(one[1].running_mean.numpy(),
                           m[1].running_mean.numpy(), rtol=1e-6)


# ----------------------------------------------- the replicas machinery

def test_steps_replay_in_parallel_after_recording(monkeypatch):
    calls = []
    orig = _Replicas._general

    def general(self, argss):
        calls.append(len(argss))
        return orig(self, argss)

    monkeypatch.setattr(_Replicas, "_general", general)
    X, y = data(96)
    train(2, X=X, y=y, epochs=3)
    # recorded once (the first step); every other step on the fast path
    assert calls == [2]


def test_replicas_follow_the_model():
    """A change of the model between fits (dtype, training flag) is seen
    by the replicas: they are made again from it."""
    X, y = data()
    m = mlp(dtype=np.float32)
    o = optim.SGD(m.parameters(), lr=0.1)
    tr = Trainer(m, nn.CrossEntropyLoss(), o, replicas=2)
    tr.fit(X.astype(np.float32), y, epochs=1, verbose=0)
    m.double()
    m1 = mlp()
    with ad.no_grad():
        for p, q in zip(m1.parameters(), m.parameters()):
            p.copy_(q)
    o1 = optim.SGD(m1.parameters(), lr=0.1)
    Trainer(m1, nn.CrossEntropyLoss(), o1).fit(X, y, epochs=1, verbose=0,
                                                  seed=4)
    Trainer(m, nn.CrossEntropyLoss(), o, replicas=2).fit(
        X, y, epochs=1, verbose=0, seed=4)
    assert m[0].weight.dtype == ad.float64
    assert_close(params(m), params(m1))


def test_replica_parameters_alias_the_model():
    X, y = data(40)
    m = mlp()
    tr = Trainer(m, nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1),
                 replicas=3)
    seen = {}

    class Peek(ad.Callback):
        def on_batch_end(self, batch, logs=None):
            rep = self.trainer._replicas
            seen["same"] = all(
                np.array_equal(p.numpy(), q.numpy())
                for r in (1, 2) for p, q in zip(rep.params[0],
                                                rep.params[r]))
            m[0].weight.data.numpy()     # reading is fine
            with ad.no_grad():
                m[0].bias.add_(1.0)
            seen["moved"] = np.array_equal(rep.params[2][1].numpy(),
                                           m[0].bias.numpy())
            with ad.no_grad():
                m[0].bias.sub_(1.0)

    tr.fit(X, y, epochs=1, verbose=0, callbacks=[Peek()])
    assert seen == {"same": True, "moved": True}


def test_two_trainers_with_replicas_on_two_threads():
    """The crew serves one call at a time; a second thread's replicas run
    serially on that thread, with the same results.  (No seed, no
    shuffling: fit(seed=...) seeds process-wide generators; the models are
    made on this thread for the same reason: mlp() seeds the global
    generator before drawing the initial weights.)"""
    X, y = data(64)
    kw = dict(X=X, y=y, epochs=4, seed=None, shuffle=False)
    want, _, _ = train(2, **kw)
    models = [mlp() for _ in range(2)]
    got, errors = {}, []

    def run(i):
        try:
            got[i] = params(train(2, model=models[i], **kw)[0])
        except Exception as e:          # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for i in range(2):
        assert_close(got[i], params(want), rtol=0, atol=0)


def test_replica_run_errors_and_staleness():
    """_ReplicaRun.run: a failing replica's error names it and the others
    still ran; a stale program runs none; a program twice is refused."""
    def f(a):
        return ad.linalg.inv(ad.tensor(a))

    fns = [ad.compile(f), ad.compile(f)]
    good = np.eye(2)
    singular = np.zeros((2, 2))
    for fn in fns:
        fn(good)
    run = ad._engine._ReplicaRun()
    run.begin(2)
    assert run.run(fns, [(good * 2,), (good * 4,)]) is True
    np.testing.assert_allclose(fns[0].last.result.numpy(), good / 2)
    np.testing.assert_allclose(fns[1].last.result.numpy(), good / 4)
    with pytest.raises(ad.linalg.LinAlgError, match="^replica 1: "):
        run.run(fns, [(good * 8,), (singular,)])
    np.testing.assert_allclose(fns[0].last.result.numpy(), good / 8)
    with pytest.raises(RuntimeError, match="twice"):
        run.run([fns[0], fns[0]], [(good,), (good,)])
    ad._engine._bump_epoch()
    assert run.run(fns, [(good * 3,), (good * 3,)]) is False
    np.testing.assert_allclose(fns[0].last.result.numpy(), good / 8)
    assert run.run(fns, [(good,)]) is None        # not begin()'s count
    run.end()
    with pytest.raises(ValueError, match="1 to"):
        run.begin(0)


def test_replicas_give_the_same_bits_at_every_thread_count():
    """Each replica runs alone (its pool inline, its BLAS on one thread),
    in the recording, the replays and the update: a float32 model whose
    shares' products are large enough for BLAS threads (512x512 by a
    share of 32 rows: 2^23 multiply-adds) trains to the same bits with
    ad.set_num_threads(1) and (2)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((128, 64)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    saved = ad.get_num_threads()
    out = []
    try:
        for t in (1, 2):
            ad.set_num_threads(t)
            ad.manual_seed(1)
            m = nn.Sequential(nn.Linear(64, 512), nn.ReLU(),
                              nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10))
            o = optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
            tr = Trainer(m, nn.CrossEntropyLoss(), o, replicas=2)
            h = tr.fit(X, y, epochs=2, batch_size=64, seed=0, verbose=0)
            out.append(([p.numpy().tobytes() for p in m.parameters()],
                        h["loss"]))
    finally:
        ad.set_num_threads(saved)
    assert out[0] == out[1]
