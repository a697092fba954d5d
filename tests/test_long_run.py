"""Leaks and long runs: 100,000 training steps (eager and compiled) keep
resident memory and the engine's pool flat; dropped tensors are freed by
reference counting alone (no cycles for the garbage collector); a tape that
is never backpropagated stays bounded; and a KeyboardInterrupt in the middle
of Trainer.fit leaves the model and the optimizer exactly at the last
completed step, from which training resumes.

Run with ``pytest -s`` to see the resident memory and pool numbers of the
long runs."""
import dis
import gc
import math
import os
import signal
import sys
import time
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine, _random, nn, optim
from autodiff.compile import CompiledFunction, _Recording
from autodiff.optim.optimizer import Optimizer
from autodiff.trainer import Callback, Trainer
from conftest import rss_bytes as _rss_bytes

HAVE_STATM = os.path.exists("/proc/self/statm")
POOL_KEYS = ("allocations", "bytes_in_use", "tape_records", "tape_live")


def _pool():
    s = ad.memory_stats()
    return {k: s[k] for k in POOL_KEYS + ("frees", "bytes_pooled")}


def _mib(n):
    return "%.2f MiB" % (n / 2.0 ** 20)


# ------------------------------------------------ 1. 100,000 training steps

LONG_STEPS = 100_000
WARMUP = 1_000          # a multiple of the 4 batches: same phase as the end
RSS_BOUND = 2 * 1024 * 1024


def _long_run_setup(compiled):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 8)).astype(np.float32)
    labels = rng.integers(0, 4, 64)
    ad.manual_seed(0)
    if compiled:
        # ReLU, MSE on one-hot targets, Adam; replayed by ad.compile.
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        opt = optim.Adam(model.parameters(), lr=1e-3)
        Y = np.eye(4, dtype=np.float32)[labels]
        batches = [(X[i * 16:(i + 1) * 16], Y[i * 16:(i + 1) * 16])
                   for i in range(4)]

        @ad.compile
        def step(xb, yb):
            loss = nn.functional.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    else:
        # Tanh, cross-entropy on labels, SGD with momentum; eager, with a
        # fresh input tensor every step as a user's loop would make.
        model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        batches = [(X[i * 16:(i + 1) * 16], labels[i * 16:(i + 1) * 16])
                   for i in range(4)]

        def step(xb, yb):
            loss = nn.functional.cross_entropy(model(ad.tensor(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    return model, opt, step, batches


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True],
                         ids=["eager", "compiled"])
def test_100k_steps_memory_flat(compiled):
    model, opt, step, batches = _long_run_setup(compiled)
    loss = step(*batches[0])
    first_loss = loss.item()
    for i in range(1, WARMUP):
        loss = step(*batches[i % 4])
    gc.collect()        # earlier tests' garbage must not be freed mid-run
    pool0 = _pool()
    rss0 = _rss_bytes() if HAVE_STATM else None
    rss_max = rss0
    t0 = time.perf_counter()
    for i in range(WARMUP, LONG_STEPS):
        loss = step(*batches[i % 4])
        if HAVE_STATM and i % 10_000 == 0:
            rss_max = max(rss_max, _rss_bytes())
    elapsed = time.perf_counter() - t0
    pool1 = _pool()
    rss1 = _rss_bytes() if HAVE_STATM else None
    last_loss = loss.item()

    mode = "compiled" if compiled else "eager"
    report = ("%s: %d steps, %.1f us/step after warm-up (%.2f s); loss "
              "%.4f -> %.4f" % (mode, LONG_STEPS,
                                elapsed / (LONG_STEPS - WARMUP) * 1e6,
                                elapsed, first_loss, last_loss))
    if HAVE_STATM:
        report += ("\n  RSS at step %d: %s, at step %d: %s (growth %+d "
                   "bytes, max sampled %s)"
                   % (WARMUP, _mib(rss0), LONG_STEPS, _mib(rss1),
                      rss1 - rss0, _mib(rss_max)))
    report += ("\n  pool at step %d: %s\n  pool at step %d: %s"
               % (WARMUP, pool0, LONG_STEPS, pool1))
    print("\n" + report)

    assert math.isfinite(last_loss) and last_loss < first_loss, report
    for p in model.parameters():
        assert np.all(np.isfinite(p.numpy())), report
    # The pool is flat: not one allocation after warm-up, the same bytes
    # and live records at the same phase of the batch cycle.
    assert pool1["allocations"] == pool0["allocations"], report
    assert pool1["bytes_in_use"] == pool0["bytes_in_use"], report
    assert pool1["tape_live"] == pool0["tape_live"], report
    assert pool1["tape_records"] <= 2 * pool1["tape_live"] + 1024, report
    if compiled:
        assert step.recordings == 1, report
    if HAVE_STATM:
        assert rss1 - rss0 < RSS_BOUND, report
        assert rss_max - rss0 < RSS_BOUND, report


# ------------------------------------ 2. dropped tensors die by refcount


class _ExpSavesOutput(ad.Function):
    # Saving the output in ctx is the classic way to build a cycle through
    # the graph (output -> record -> ctx -> output).
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y, = ctx.saved_tensors
        return g * y


def _build_graph(kind):
    """Build and (maybe) differentiate a graph; return weak references to
    every tensor involved and nothing strong."""
    x = ad.randn(6, 5, seed=0, requires_grad=True)
    w = ad.randn(5, 3, seed=1, requires_grad=True)
    b = ad.zeros(3, requires_grad=True)
    h = (x @ w + b).tanh()
    v = h.reshape(3, 6).T           # views share storage with h
    if kind == "custom_function":
        h = _ExpSavesOutput.apply(h)
    if kind == "retain_grad":
        h.retain_grad()
    loss = (h * h).sum() + v.mean()
    extra = []
    if kind in ("backward", "retain_grad", "custom_function"):
        loss.backward()
    elif kind == "create_graph":
        loss.backward(create_graph=True)
        gg = (x.grad * x.grad).sum()
        extra.append(gg)
        gg.backward()
    elif kind == "autograd_grad":
        gw, = ad.autograd.grad(loss, [w], create_graph=True)
        gg = (gw * gw).sum()
        extra += [gw, gg]
        gg.backward()
    elif kind == "functional":
        f = ad.value_and_grad(lambda a: (a.tanh() ** 2).sum())
        val, g = f(x)
        extra += [val, g]
    else:
        assert kind == "no_backward"
    ts = [x, w, b, h, v, loss] + extra
    ts += [t.grad for t in ts if t.grad is not None]
    return [weakref.ref(t) for t in ts]


@pytest.mark.parametrize("kind", ["no_backward", "backward", "retain_grad",
                                  "custom_function", "create_graph",
                                  "autograd_grad", "functional"])
def test_dropped_tensors_freed_without_gc(kind):
    gc.collect()
    base = _pool()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        refs = _build_graph(kind)
        # No gc.collect(): reference counting alone must free everything.
        alive = [r() for r in refs if r() is not None]
        assert not alive, "%d of %d tensors still alive without gc: %s" % (
            len(alive), len(refs), [t.shape for t in alive])
        del alive
        now = _pool()
        assert now["bytes_in_use"] == base["bytes_in_use"], (base, now)
        assert now["tape_live"] == base["tape_live"], (base, now)
        # ... and the collector finds no cycle we made.
        found = gc.collect()
        assert found == 0, "gc.collect() found %d unreachable objects" % found
        assert not gc.garbage
        assert _pool()["bytes_in_use"] == base["bytes_in_use"]
    finally:
        if was_enabled:
            gc.enable()


def _count_parameters():
    return sum(1 for o in gc.get_objects() if type(o) is nn.Parameter)


@pytest.mark.parametrize("compiled", [False, True],
                         ids=["eager", "compiled"])
def test_dropped_model_optimizer_and_program_freed_without_gc(compiled):
    # Parameters (a Python subclass of Tensor, so gc-tracked and countable
    # with gc.get_objects), optimizer state and a compiled program.
    gc.collect()
    base = _pool()
    n_params = _count_parameters()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        def run():
            model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(),
                                  nn.Linear(16, 4))
            opt = optim.Adam(model.parameters(), lr=1e-2)
            X = np.random.default_rng(0).standard_normal((16, 8)).astype(
                np.float32)
            y = np.arange(16) % 4

            def step(xb, yb):
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                return loss
            f = ad.compile(step) if compiled else (
                lambda xb, yb: step(ad.tensor(xb), yb))
            for _ in range(5):
                loss = f(X, y)
            assert _count_parameters() == n_params + 4
            refs = [weakref.ref(p) for p in model.parameters()]
            refs += [weakref.ref(t) for st in opt.state.values()
                     for t in st.values() if isinstance(t, ad.Tensor)]
            refs.append(weakref.ref(loss))
            return refs
        refs = run()
        assert all(r() is None for r in refs)
        assert _count_parameters() == n_params
        now = _pool()
        assert now["bytes_in_use"] == base["bytes_in_use"], (base, now)
        assert now["tape_live"] == base["tape_live"], (base, now)
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("compiled", [False, True],
                         ids=["eager", "compiled"])
def test_dropped_trainer_freed_without_gc(compiled):
    gc.collect()
    base = _pool()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        def run():
            model = nn.Sequential(nn.Linear(8, 4))
            tr = Trainer(model, nn.CrossEntropyLoss(),
                         optim.SGD(model.parameters(), lr=0.1,
                                   momentum=0.9), compile=compiled)
            X = np.random.default_rng(0).standard_normal((32, 8)).astype(
                np.float32)
            tr.fit(X, np.arange(32) % 4, epochs=2, batch_size=16,
                   verbose=0, seed=0)
            if compiled:
                assert tr._compiled.recordings == 1
            return [weakref.ref(tr.model)] + [
                weakref.ref(p) for p in model.parameters()]
        refs = run()
        assert all(r() is None for r in refs)
        assert _pool()["bytes_in_use"] == base["bytes_in_use"]
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------- 3. a tape that is never backpropagated

@pytest.mark.parametrize("variant", ["drop", "keep_one_old", "keep_some",
                                     "no_grad"])
def test_tape_without_backward_stays_bounded(variant):
    ad.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    X = ad.randn(32, 8, seed=1)
    Y = ad.randn(32, 4, seed=2)
    gc.collect()
    base = _pool()
    kept = []
    max_records, worst = 0, None
    for i in range(50_000):
        if variant == "no_grad":
            with ad.no_grad():
                loss = nn.functional.mse_loss(model(X), Y)
        else:
            loss = nn.functional.mse_loss(model(X), Y)
        if variant == "keep_one_old" and i == 10:
            kept.append(loss)           # its whole graph stays recorded
        if variant == "keep_some" and i % 10_000 == 5:
            kept.append(loss)
        if i == 1_000:
            warm = _pool()
        s = ad.memory_stats()
        if s["tape_records"] > max_records:
            max_records, worst = s["tape_records"], s
        assert s["tape_records"] <= 2 * s["tape_live"] + 1100, (i, s)
    end = _pool()
    msg = (variant, base, warm, end, worst)
    assert max_records <= 2200, msg
    assert end["allocations"] == warm["allocations"] or \
        variant == "keep_some", msg
    if variant == "keep_some":
        # the 4 losses kept after warm-up pin one graph of 4 records each
        # (Sequential's Linear + ReLU is one record)
        assert end["tape_live"] == warm["tape_live"] + 4 * 4, msg
    else:
        assert end["bytes_in_use"] == warm["bytes_in_use"], msg
        assert end["tape_live"] == warm["tape_live"], msg
    if variant == "no_grad":
        assert end["tape_records"] == base["tape_records"], msg
    assert all(math.isfinite(t.item()) for t in kept)
    del loss, kept
    after = _pool()
    assert after["tape_live"] == base["tape_live"], (base, after)
    assert after["bytes_in_use"] == base["bytes_in_use"], (base, after)


# ------------------------------------- 4. KeyboardInterrupt inside fit
#
# Trainer.fit shuffles with np.random.default_rng(seed) (one permutation
# per epoch) and every call of fit starts a new epoch 0 with a new stream,
# so an interrupted fit resumed by a second fit cannot replay the rest of
# the interrupted epoch.  What must hold: the model and the optimizer are
# exactly at the last completed step (params, Adam's step counts and
# moments), no ad.compile recording is left active, grad mode is on, and a
# second fit trains on from there.  When the interrupt falls on an epoch
# boundary, the resumed run equals an uninterrupted one bit for bit.

N_SAMPLES, BATCH = 96, 16           # 6 batches per epoch
N_FEAT, N_CLASS = 8, 4


def _data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N_SAMPLES, N_FEAT)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)
    return X, y


def _trainer(compile, loss_fn=None):
    ad.manual_seed(11)
    model = nn.Sequential(nn.Linear(N_FEAT, 16), nn.Tanh(),
                          nn.Linear(16, N_CLASS))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    return Trainer(model, loss_fn or nn.CrossEntropyLoss(), opt,
                   compile=compile)


def _snapshot(tr):
    """Parameters and the optimizer's state as numpy, for exact checks.
    State that is still all zeros at step 0 (allocated by a first step
    that was interrupted before its update) counts as no state."""
    sd = tr.optimizer.state_dict()["state"]
    state = {}
    for i, st in sd.items():
        st = {k: (np.array(v) if k != "step" else v) for k, v in st.items()}
        if st.get("step", 0) == 0 and not any(
                np.any(v) for k, v in st.items() if k != "step"):
            continue
        state[i] = st
    return [p.numpy().copy() for p in tr.model.parameters()], state


def _steps_done(tr):
    """Adam's step count, checked equal for every parameter (that has
    state: a first step interrupted half-way through allocating it leaves
    some parameters without)."""
    sd = tr.optimizer.state_dict()["state"]
    counts = {st.get("step", 0) for st in sd.values()} or {0}
    assert len(counts) == 1, "parameters disagree on the step count: %s" % (
        counts,)
    return counts.pop()


def _assert_same(a, b, what=""):
    pa, sa = a
    pb, sb = b
    assert len(pa) == len(pb)
    for i, (x, y) in enumerate(zip(pa, pb)):
        np.testing.assert_array_equal(x, y, err_msg="%s param %d" % (what, i))
    assert sa.keys() == sb.keys(), what
    for i in sa:
        assert sa[i].keys() == sb[i].keys(), what
        for k in sa[i]:
            np.testing.assert_array_equal(sa[i][k], sb[i][k],
                                          err_msg="%s state %d %s"
                                          % (what, i, k))


def _assert_clean(tr, where=""):
    """Invariants that must hold after any interrupt."""
    assert not _engine.is_capturing(), \
        "an ad.compile recording is left active: " + where
    assert getattr(_engine._capture_state, "program", None) is None, where
    assert ad.is_grad_enabled(), where
    for p in tr.model.parameters():
        assert np.all(np.isfinite(p.numpy())), where


@pytest.fixture(autouse=True)
def _no_capture_leaks_into_other_tests():
    # A failing interrupt test may leave a recording active; end it so the
    # failure does not spread to every later test.
    yield
    prog = getattr(_engine._capture_state, "program", None)
    if prog is not None:
        prog.abort()


class _InterruptAfter(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) after n completed steps."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def on_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt("after %d steps" % self.n)


class _InterruptAtEpochEnd(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("at the end of epoch %d" % epoch)


class _Bar:
    """Stands in for the tqdm bar, to see that fit closes it."""
    instances = []

    def __init__(self, *a, **k):
        self.closed = False
        _Bar.instances.append(self)

    def reset(self, total=None): pass
    def set_description(self, s): pass
    def set_postfix(self, **k): pass
    def update(self, n=1): pass

    def close(self):
        self.closed = True


@pytest.fixture
def fake_bar(monkeypatch):
    import autodiff.trainer as trainer_mod
    _Bar.instances = []
    monkeypatch.setattr(trainer_mod, "_progress",
                        lambda verbose, total: _Bar() if verbose else None)
    return _Bar.instances


MODES = pytest.mark.parametrize("compile", [True, False],
                                ids=["compiled", "eager"])


@MODES
def test_interrupt_from_callback_mid_epoch(compile, fake_bar):
    X, y = _data()
    n_done = 9                          # epoch 0 and 3 batches of epoch 1
    tr = _trainer(compile)
    saved_rng = _random._default_rng
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y, epochs=5, batch_size=BATCH, seed=7, verbose=1,
               callbacks=[_InterruptAfter(n_done)])
    _assert_clean(tr)
    assert _random._default_rng is saved_rng
    assert tr.model.training
    assert fake_bar and all(b.closed for b in fake_bar), \
        "fit left its progress bar open"
    # the epoch that completed is in the trainer's history
    assert tr.history.epoch == [0]
    assert _steps_done(tr) == n_done

    # Reference: the same 9 batches, in the order fit drew them, without
    # any interrupt (fit shuffles with one permutation per epoch).
    rng = np.random.default_rng(7)
    order = np.concatenate([rng.permutation(N_SAMPLES),
                            rng.permutation(N_SAMPLES)])[:n_done * BATCH]
    ref = _trainer(compile)
    ref.fit(X[order], y[order], epochs=1, batch_size=BATCH, shuffle=False,
            verbose=0)
    _assert_same(_snapshot(tr), _snapshot(ref), "after the interrupt")

    # Training resumes from there, exactly as from the reference state.
    h1 = tr.fit(X, y, epochs=3, batch_size=BATCH, seed=8, verbose=0)
    h2 = ref.fit(X, y, epochs=3, batch_size=BATCH, seed=8, verbose=0)
    _assert_clean(tr)
    assert _steps_done(tr) == n_done + 3 * 6
    _assert_same(_snapshot(tr), _snapshot(ref), "after resuming")
    assert h1["loss"] == h2["loss"]
    untrained = _trainer(compile).evaluate(X, y)["loss"]
    assert h1["loss"][-1] < h1["loss"][0] < untrained


@MODES
@pytest.mark.parametrize("shuffle", [False, True],
                         ids=["in_order", "generator_seed"])
def test_interrupt_at_epoch_boundary_resumes_exactly(compile, shuffle):
    # 2 epochs, Ctrl-C, 2 more epochs == 4 epochs in one go.  With
    # shuffling this needs one shuffle stream across both fit calls: a
    # numpy Generator as seed (np.random.default_rng passes it through).
    X, y = _data()

    def seed():
        return np.random.default_rng(5) if shuffle else None

    ref = _trainer(compile)
    hist_ref = ref.fit(X, y, epochs=4, batch_size=BATCH, shuffle=shuffle,
                       seed=seed(), verbose=0)

    tr = _trainer(compile)
    s = seed()
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y, epochs=4, batch_size=BATCH, shuffle=shuffle, seed=s,
               verbose=0, callbacks=[_InterruptAtEpochEnd(1)])
    _assert_clean(tr)
    assert _steps_done(tr) == 12
    assert tr.history.epoch == [0]      # epoch 1 ended in its callback
    hist = tr.fit(X, y, epochs=2, batch_size=BATCH, shuffle=shuffle,
                  seed=s, verbose=0)
    _assert_clean(tr)
    assert _steps_done(tr) == 24
    _assert_same(_snapshot(tr), _snapshot(ref), "resumed vs uninterrupted")
    assert hist["loss"] == hist_ref["loss"][2:]


def _loss_interrupting_once(n):
    """cross_entropy that raises KeyboardInterrupt on its n-th call (the
    n-th forward), as Ctrl-C inside the user's Python code would.  Named
    cross_entropy so that the Trainer passes class labels to it."""
    calls = [0]

    def cross_entropy(out, target):
        calls[0] += 1
        if calls[0] == n:
            raise KeyboardInterrupt("in the loss, call %d" % n)
        return nn.functional.cross_entropy(out, target)
    return cross_entropy


def test_interrupt_while_recording_the_compiled_step():
    # compile=True: the first step is recorded; Ctrl-C during that
    # recording must abort it (no capture left active, nothing cached),
    # leave the parameters untouched, and the next fit records afresh.
    X, y = _data()
    tr = _trainer(True, loss_fn=_loss_interrupting_once(1))
    before = _snapshot(tr)
    with pytest.raises(KeyboardInterrupt):
        tr.fit(X, y, epochs=2, batch_size=BATCH, seed=1, verbose=0)
    _assert_clean(tr)
    assert tr._compiled is not None and tr._compiled.recordings == 0
    assert _steps_done(tr) == 0
    _assert_same(_snapshot(tr), before, "after an aborted recording")
    tr.fit(X, y, epochs=2, batch_size=BATCH, seed=1, verbose=0)
    assert tr._compiled.recordings == 1
    ref = _trainer(True)
    ref.fit(X, y, epochs=2, batch_size=BATCH, seed=1, verbose=0)
    _assert_same(_snapshot(tr), _snapshot(ref), "recorded again")


# An interrupt can arrive between any two Python lines (a SIGINT handler
# runs at the next bytecode).  A trace function that raises at a chosen
# line simulates that deterministically: for every line of the code fit
# runs per step -- the trainer, ad.compile's record/replay and the
# optimizer -- interrupt there, check the invariants and that the state is
# exactly that after the completed steps, then resume.

def _functions_on_the_step_path():
    return [Trainer.fit, Trainer._fit, Trainer._run_epoch,
            Trainer._train_step, Trainer._step,
            CompiledFunction._general, CompiledFunction._record,
            _Recording.bind, Optimizer.step, Optimizer._init_state,
            Optimizer.zero_grad, optim.Adam._configure]


def _lines(fn):
    code = fn.__code__
    return sorted({ln for _, ln in dis.findlinestarts(code)
                   if ln is not None and ln != code.co_firstlineno})


class _RaiseAtLine:
    def __init__(self, code, line, hit):
        self.code, self.line, self.hit, self.count = code, line, hit, 0
        self.fired = False

    def global_trace(self, frame, event, arg):
        return self.local_trace if frame.f_code is self.code else None

    def local_trace(self, frame, event, arg):
        if event == "line" and frame.f_lineno == self.line and \
                not self.fired:
            self.count += 1
            if self.count == self.hit:
                self.fired = True
                raise KeyboardInterrupt("injected at %s line %d"
                                        % (self.code.co_name, self.line))
        return self.local_trace


@MODES
def test_interrupt_at_every_line_of_a_step(compile):
    X, y = _data()
    X, y = X[:48], y[:48]               # 3 batches per epoch
    kw = dict(batch_size=BATCH, shuffle=False, metrics=(), verbose=0)
    # reference states after k steps, k = 0 .. 9
    ref = _trainer(compile)
    states = [_snapshot(ref)]

    class Snap(Callback):
        def on_batch_end(self, batch, logs=None):
            states.append(_snapshot(ref))
    ref.fit(X, y, epochs=3, callbacks=[Snap()], **kw)
    assert len(states) == 10

    gc.collect()
    base = _pool()
    fired = 0
    for fn in _functions_on_the_step_path():
        for line in _lines(fn):
            for hit in (1, 4):
                tr = _trainer(compile)
                inj = _RaiseAtLine(fn.__code__, line, hit)
                where = "%s line %d, hit %d" % (fn.__qualname__, line, hit)
                old = sys.gettrace()
                sys.settrace(inj.global_trace)
                try:
                    tr.fit(X, y, epochs=2, **kw)
                except KeyboardInterrupt:
                    pass
                finally:
                    sys.settrace(old)
                if not inj.fired:
                    continue
                fired += 1
                _assert_clean(tr, where)
                k = _steps_done(tr)
                assert k <= 6, where
                _assert_same(_snapshot(tr), states[k], where)
                tr.fit(X, y, epochs=1, **kw)      # resumes
                _assert_clean(tr, where)
                assert _steps_done(tr) == k + 3, where
                if k % 3 == 0:
                    _assert_same(_snapshot(tr), states[k + 3], where)
    print("\ninterrupts injected at %d points" % fired)
    assert fired > 50
    del tr, inj
    gc.collect()        # exception tracebacks and trainers
    now = _pool()
    assert now["bytes_in_use"] == base["bytes_in_use"], (base, now)
    assert now["tape_live"] == base["tape_live"], (base, now)


@pytest.mark.skipif(not hasattr(signal, "setitimer"),
                    reason="needs signal.setitimer")
@MODES
def test_sigalrm_interrupt_during_long_fit(compile):
    # A real asynchronous interrupt: a timer signal whose handler raises
    # KeyboardInterrupt lands somewhere in a long fit.  Wherever it lands,
    # the state is that after the steps completed, as a run interrupted by
    # a callback after exactly that many steps shows.
    X, y = _data()

    def handler(signum, frame):
        raise KeyboardInterrupt("timer")

    landed = []
    for delay in (0.003, 0.011, 0.023, 0.037, 0.051):
        tr = _trainer(compile)
        old = signal.signal(signal.SIGALRM, handler)
        # The one-shot timer fires inside this try wherever it lands (fit
        # runs "forever"), so the KeyboardInterrupt never escapes to pytest.
        try:
            signal.setitimer(signal.ITIMER_REAL, delay)
            tr.fit(X, y, epochs=100_000, batch_size=BATCH, seed=2,
                   verbose=0)
        except KeyboardInterrupt:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        _assert_clean(tr)
        k = _steps_done(tr)
        landed.append(k)
        ref = _trainer(compile)
        if k:
            with pytest.raises(KeyboardInterrupt):
                ref.fit(X, y, epochs=100_000, batch_size=BATCH, seed=2,
                        verbose=0, callbacks=[_InterruptAfter(k)])
        _assert_same(_snapshot(tr), _snapshot(ref),
                     "timer after %g s, %d steps" % (delay, k))
        tr.fit(X, y, epochs=1, batch_size=BATCH, seed=3, verbose=0)
        _assert_clean(tr)
        assert _steps_done(tr) == k + 6
    print("\nSIGALRM landed after these numbers of steps:", landed)
