"""autodiff.distributed: the C gradient packing (always), a world of one
in-process, and real jobs of 2 and 3 ranks launched with mpiexec as
subprocesses (worker scripts in tmp_path, results in npz/json files, a
timeout on every launch). The MPI tests skip when mpi4py or mpiexec is
missing (pip install 'autodiff-tape[mpi]')."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import autodiff as ad
from conftest import needs_torch
from autodiff import _engine

HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


needs_mpi4py = pytest.mark.skipif(
    not HAVE_MPI4PY, reason="mpi4py not installed: pip install "
    "'autodiff-tape[mpi]' to run the distributed tests")
needs_mpiexec = pytest.mark.skipif(
    not HAVE_MPI4PY or _mpiexec() is None,
    reason="mpi4py or mpiexec not found: pip install 'autodiff-tape[mpi]' to run "
    "the multi-rank tests")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ad.__file__)))

HEADER = """\
import json, sys
import numpy as np
import autodiff as ad
from autodiff import distributed as dist
OUT = sys.argv[1]
dist.init()
R, W = dist.rank(), dist.world_size()
def save(name, obj):
    with open("%s/%s.%d.json" % (OUT, name, R), "w") as f:
        json.dump(obj, f)
"""


def run_job(tmp_path, body, n, timeout=90, args=()):
    """Run HEADER + body on n ranks (sys.argv[2:] = args); returns
    (returncode, stdout+stderr)."""
    script = tmp_path / "worker.py"
    script.write_text(HEADER + textwrap.dedent(body))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(
                   [ROOT, os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([_mpiexec(), "-n", str(n), sys.executable,
                        str(script), str(tmp_path), *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def load(tmp_path, name, n):
    out = []
    for r in range(n):
        with open(tmp_path / ("%s.%d.json" % (name, r))) as f:
            out.append(json.load(f))
    return out


# ------------------------------------------------- packing, in C (no MPI)

@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pack_unpack_against_numpy(dt):
    rng = np.random.default_rng(0)
    ps = [ad.tensor(rng.standard_normal(s), dtype=dt, requires_grad=True)
          for s in [(3, 4), (5,), (2, 2)]]
    grads = [rng.standard_normal(p.shape).astype(dt) for p in ps]
    for p, g in zip(ps[:2], grads):
        p.grad = ad.tensor(g)
    buf = np.full(12 + 5 + 4 + 3, np.nan, dtype=dt)
    _engine._pack_grads(ps, buf, 0.5)
    want = np.concatenate([(0.5 * grads[0].astype(np.float64)).astype(dt)
                           .ravel(), (0.5 * grads[1].astype(np.float64))
                           .astype(dt), np.zeros(4, dt), [1, 1, 0]])
    np.testing.assert_array_equal(buf, want)
    src = rng.standard_normal(buf.size).astype(dt)
    _engine._unpack_grads(ps, src, 0.25)
    exp = (0.25 * src.astype(np.float64)).astype(dt)
    np.testing.assert_array_equal(ps[0].grad.numpy(), exp[:12].reshape(3, 4))
    np.testing.assert_array_equal(ps[1].grad.numpy(), exp[12:17])
    assert ps[2].grad is None           # no grad: left alone


def test_pack_errors_change_nothing():
    p = ad.zeros(4, dtype=ad.float64, requires_grad=True)
    p.grad = ad.ones(4, dtype=ad.float64)
    with pytest.raises(ValueError, match="holds 4 elements but the 1 "
                       "parameters need 5"):
        _engine._pack_grads([p], np.zeros(4), 1.0)
    with pytest.raises(TypeError, match="parameter 0 is float64 in a "
                       "float32 buffer"):
        _engine._unpack_grads([p], np.zeros(5, np.float32), 1.0)
    with pytest.raises(TypeError, match="float32 or float64 numpy array"):
        _engine._pack_grads([p], np.zeros(5, np.int64), 1.0)
    with pytest.raises(TypeError, match="parameter 0 is a list"):
        _engine._pack_grads([[1.0]], np.zeros(5), 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), np.ones(4))


def test_import_without_init():
    from autodiff import distributed as dist
    if not dist.is_initialized():
        with pytest.raises(RuntimeError, match="call autodiff.distributed"
                           r".init\(\) first"):
            dist.rank()


def test_init_without_mpi4py_names_the_extra(monkeypatch):
    from autodiff import distributed as dist
    monkeypatch.setattr(dist, "_comm", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(ImportError, match=r"pip install 'autodiff-tape\[mpi\]'"):
        dist.init()
    assert not dist.is_initialized()


# ------------------------------------------- a world of one, in-process

@needs_mpi4py
def test_world_of_one_in_process():
    from autodiff import distributed as dist
    dist.init()
    dist.init()                          # idempotent
    assert dist.is_initialized()
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    assert dist.is_main()
    dist.barrier()
    assert dist.broadcast_object({"a": [1, 2]}) == {"a": [1, 2]}
    assert dist.allreduce(3.5) == 3.5
    assert dist.allreduce(4, op="max") == 4
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(dist.allreduce(a, op="sum"), a)
    t = dist.allreduce(ad.tensor(a, dtype=ad.float32), op="min")
    assert t.dtype == ad.float32
    np.testing.assert_array_equal(t.numpy(), a.astype(np.float32))
    with pytest.raises(ValueError, match="op must be one of 'mean', 'sum', "
                       "'max', 'min', not 'avg'"):
        dist.allreduce(1.0, op="avg")
    with pytest.raises(TypeError, match="expected a number, a numpy array "
                       "or a Tensor, got str"):
        dist.allreduce("x")
    model = ad.nn.Linear(3, 2, dtype=ad.float64)
    model(ad.tensor(a, dtype=ad.float64)).sum().backward()
    before = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    w0 = model.weight.numpy().copy()
    dist.allreduce_gradients(model, weight=3.0)   # world of one: unchanged
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), before[n])
    dist.broadcast_parameters(model)
    np.testing.assert_array_equal(model.weight.numpy(), w0)
    dist.check_parameters(model)
    with pytest.raises(ValueError, match="weight must be finite and >= 0, "
                       "got -1.0"):
        dist.allreduce_gradients(model, weight=-1)
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=0.1))
    ref = w0 - 0.1 * before["weight"]
    opt.step()
    np.testing.assert_allclose(model.weight.numpy(), ref, rtol=1e-15)
    assert opt.param_groups[0]["lr"] == 0.1
    assert "SGD" in repr(opt)
    opt.zero_grad()
    assert model.weight.grad is None


@needs_mpi4py
@pytest.mark.parametrize("call", [
    "barrier()", "broadcast_object(1)", "allreduce(1.0)",
    "allreduce_gradients([x])", "broadcast_parameters([x])",
    "check_parameters([x])"])
def test_collectives_refuse_a_recording(call):
    from autodiff import distributed as dist
    dist.init()

    @ad.compile
    def step(x):
        y = (x * x).sum()
        eval("dist." + call, {"dist": dist, "x": x})
        return y

    x = ad.ones(3, dtype=ad.float64, requires_grad=True)
    with pytest.raises(ad.NotCompilableError, match="is a collective: it "
                       "cannot run inside an ad.compile recording"):
        step(x)


# ---------------------------------------------------- jobs under mpiexec

TRAIN = """
from autodiff import nn
ad.manual_seed(100 + R)              # different initial weights per rank
X = np.random.default_rng(0).standard_normal((64, 5))
y = np.sin(X.sum(1, keepdims=True))
def make():
    return nn.Sequential(nn.Linear(5, 8, dtype=ad.float64), nn.Tanh(),
                         nn.Linear(8, 1, dtype=ad.float64))
model = make()
opt = dist.DistributedOptimizer(ad.optim.Adam(model.parameters(), lr=0.01))
# the reference: one process on the whole batch, from the same start
ref = make()
ref.load_state_dict(model.state_dict())
ropt = ad.optim.Adam(ref.parameters(), lr=0.01)
for step in range(10):
    rows = np.arange(step * 16, step * 16 + 16) % 64
    mine = np.array_split(rows, W)[R]
    opt.zero_grad()
    loss = ((model(ad.tensor(X[mine])) - ad.tensor(y[mine])) ** 2).mean()
    loss.backward()
    opt.step(weight=len(mine))
    ropt.zero_grad()
    rl = ((ref(ad.tensor(X[rows])) - ad.tensor(y[rows])) ** 2).mean()
    rl.backward()
    ropt.step()
dist.check_parameters(model)
save("train", {n: p.numpy().tolist() for n, p in model.named_parameters()})
save("ref", {n: p.numpy().tolist() for n, p in ref.named_parameters()})
if R == W - 1:
    with ad.no_grad():
        model[0].bias.add_(1e-12)
try:
    dist.check_parameters(model)
    save("diverged", "no error")
except RuntimeError as e:
    save("diverged", str(e))
"""


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_training_identical_on_ranks_and_equal_to_one_process(tmp_path, n):
    rc, out = run_job(tmp_path, TRAIN, n)
    assert rc == 0, out
    got = load(tmp_path, "train", n)
    ref = load(tmp_path, "ref", 1)[0]
    for r in range(1, n):
        assert got[r] == got[0]                    # bit-identical
    for name, v in ref.items():
        np.testing.assert_allclose(got[0][name], v, rtol=1e-12, atol=1e-14)
    assert sorted(got[0]) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    msgs = load(tmp_path, "diverged", n)
    assert all(m == "check_parameters: 0.bias differs between rank 0 and "
               "rank(s) [%d]" % (n - 1) for m in msgs)


RAGGED = """
import torch
torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(1)
X = rng.standard_normal((NROWS, 4))
y = rng.integers(0, 3, NROWS)
Wt = rng.standard_normal((3, 4))
mine = np.array_split(np.arange(NROWS), W)[R]
w = ad.tensor(Wt, requires_grad=True)
b = ad.zeros(3, dtype=ad.float64, requires_grad=True)
unused = ad.zeros(2, dtype=ad.float64, requires_grad=True)
if len(mine):
    out = ad.tensor(X[mine]) @ w.T + b
    loss = ad.nn.functional.cross_entropy(out, ad.tensor(y[mine]))
    (loss + (unused.sum() * 0 if R == 0 else 0)).backward()
dist.allreduce_gradients([w, b, unused], weight=len(mine))
tw = torch.tensor(Wt, requires_grad=True)
tb = torch.zeros(3, requires_grad=True)
torch.nn.functional.cross_entropy(torch.tensor(X) @ tw.T + tb,
                                  torch.tensor(y)).backward()
save("grads", {"w": w.grad.numpy().tolist(), "b": b.grad.numpy().tolist(),
               "unused": unused.grad.numpy().tolist(),
               "tw": tw.grad.numpy().tolist(), "tb": tb.grad.numpy().tolist()})
"""


@needs_mpiexec
@needs_torch
@pytest.mark.parametrize("nrows", [10, 2])     # 4/3/3 and 1/1/0 at 3 ranks
def test_ragged_shares_weighted_exactly(tmp_path, nrows):
    rc, out = run_job(tmp_path, RAGGED.replace("NROWS", str(nrows)), 3)
    assert rc == 0, out
    gs = load(tmp_path, "grads", 3)
    for g in gs:
        assert g == {**gs[0], "tw": g["tw"], "tb": g["tb"]}
        np.testing.assert_allclose(g["w"], g["tw"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g["b"], g["tb"], rtol=1e-12, atol=1e-15)
        assert g["unused"] == [0.0, 0.0]     # a grad only rank 0 had


COLLECTIVES = """
a = np.array([R + 1.0, -R, 2.0 * R])
res = {op: dist.allreduce(a, op=op).tolist()
       for op in ("mean", "sum", "max", "min")}
res["float"] = dist.allreduce(float(R + 1))
res["int_sum"] = dist.allreduce(R + 1, op="sum")
t = dist.allreduce(ad.tensor(a, dtype=ad.float32), op="sum")
res["tensor"] = [str(t.dtype), t.numpy().tolist()]
try:
    dist.allreduce(np.array([True]))
except TypeError as e:
    res["bool"] = str(e)
m0 = ad.nn.Linear(2, 1)
try:
    ad.Trainer(m0, ad.nn.MSELoss(), dist.DistributedOptimizer(
        ad.optim.SGD(m0.parameters(), lr=0.1))).fit(
            np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
except ValueError as e:
    res["wrapped"] = str(e)
res["obj"] = dist.broadcast_object({"seed": 7} if R == 1 else None, root=1)
m = ad.nn.Linear(3, 2)
with ad.no_grad():
    m.weight.fill_(R)
opt = ad.optim.Adam(m.parameters(), lr=0.1)
if R == 0:
    m(ad.ones(1, 3)).sum().backward()
    opt.step()
dist.broadcast_optimizer_state(opt)
sd = opt.state_dict()
res["opt"] = {k: np.asarray(v).tolist() for k, v in sd["state"][0].items()}
dist.broadcast_parameters(m)
res["weight"] = m.weight.numpy().tolist()
bad = [ad.zeros(2 + R)]
try:
    dist.broadcast_parameters(bad)
except ValueError as e:
    res["mismatch"] = str(e)
dist.barrier()
save("coll", res)
"""


@needs_mpiexec
def test_collectives_on_three_ranks(tmp_path):
    rc, out = run_job(tmp_path, COLLECTIVES, 3)
    assert rc == 0, out
    rs = load(tmp_path, "coll", 3)
    a = np.array([[r + 1.0, -r, 2.0 * r] for r in range(3)])
    for res in rs:
        np.testing.assert_allclose(res["mean"], a.mean(0), rtol=1e-15)
        assert res["sum"] == a.sum(0).tolist()
        assert res["max"] == a.max(0).tolist()
        assert res["min"] == a.min(0).tolist()
        assert res["float"] == 2.0 and res["int_sum"] == 6
        assert res["tensor"] == ["float32", a.sum(0).tolist()]
        assert res["obj"] == {"seed": 7}
        assert res["bool"] == "allreduce: arrays of dtype bool cannot be " \
            "reduced"
        assert res["wrapped"].startswith("the Trainer averages the gradients "
                                         "over the ranks itself")
        assert res["opt"]["step"] == 1 and len(res["opt"]) == 3
        # Adam's first step from 0 with grad 1: -lr / (1 + eps)
        np.testing.assert_allclose(res["weight"], np.full((2, 3), -0.1),
                                   rtol=1e-5)  # float32 Adam
        assert res["mismatch"] == ("broadcast_parameters: rank 0 has 0 of "
                                   "shape (2,) (float32), rank 1 has 0 of "
                                   "shape (3,) (float32)")
    # rank 0 stepped: every rank now holds its weights and Adam state
    assert rs[1]["opt"] == rs[0]["opt"] == rs[2]["opt"]
    assert rs[1]["weight"] == rs[0]["weight"] == rs[2]["weight"]


CRASH = """
import time
if R == 1:
    raise RuntimeError("boom on rank 1")
dist.barrier()                  # rank 0 would wait here forever
time.sleep(60)
"""


@needs_mpiexec
def test_a_failing_rank_ends_the_job(tmp_path):
    t0 = time.monotonic()
    rc, out = run_job(tmp_path, CRASH, 2, timeout=60)
    assert rc != 0
    assert "RuntimeError: boom on rank 1" in out
    assert time.monotonic() - t0 < 60


RECORDING = """
@ad.compile
def step(x):
    y = (x * x).sum()
    y.backward()
    dist.allreduce_gradients([x])
    return y
x = ad.ones(3, dtype=ad.float64, requires_grad=True)
try:
    step(x)
    save("rec", "no error")
except ad.NotCompilableError as e:
    save("rec", str(e))
"""


@needs_mpiexec
def test_collective_in_a_recording_raises_on_every_rank(tmp_path):
    rc, out = run_job(tmp_path, RECORDING, 2)
    assert rc == 0, out
    for m in load(tmp_path, "rec", 2):
        assert m.startswith("autodiff.distributed.allreduce_gradients is a "
                            "collective: it cannot run inside an ad.compile "
                            "recording")


# ------------------------------------------------------ Trainer at N ranks

TRAINER = """
from autodiff import nn
rng = np.random.default_rng(3)
X = rng.standard_normal((97, 6))     # the last batch of 32 has 1 row
yc = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
yr = np.stack([X[:, 0] * X[:, 1], X[:, 3]], 1)
sw = rng.uniform(0.5, 2.0, 97)
Xv, yv = X[:30] + 0.1, yc[:30]

def model(out):
    ad.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16, dtype=ad.float64), nn.Tanh(),
                         nn.Linear(16, out, dtype=ad.float64))

def fit(distributed, regression):
    m = model(2 if regression else 3)
    opt = ad.optim.Adam(m.parameters(), lr=0.05)
    loss = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    tr = ad.Trainer(m, loss, opt, distributed=distributed)
    cbs = [ad.ModelCheckpoint("%s/ck%d_%s.npz" % (OUT, R, distributed),
                              monitor="loss")]
    if regression:
        h = tr.fit(X, yr, epochs=4, batch_size=32, seed=5, callbacks=cbs,
                   metrics=["mse", "r2"], sample_weight=sw, verbose=0,
                   grad_clip_norm=0.5)
    else:
        h = tr.fit(X, yc, epochs=4, batch_size=32, seed=5, callbacks=cbs,
                   metrics=["accuracy", "f1"], validation_data=(Xv, yv),
                   verbose=2, ema_decay=0.9)
    return {k: [float(v) for v in vs] for k, vs in h.history.items()
            if k != "time"}, {n: p.numpy().tolist()
                              for n, p in m.named_parameters()}

for regression in (False, True):
    hist, params = fit("auto", regression)
    ref_hist, ref_params = fit(False, regression)
    save("hist%d" % regression, [hist, params, ref_hist, ref_params])
"""


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_trainer_history_equals_one_process(tmp_path, n):
    rc, out = run_job(tmp_path, TRAINER, n, timeout=120)
    assert rc == 0, out
    for regression in (0, 1):
        res = load(tmp_path, "hist%d" % regression, n)
        hist, params, ref_hist, ref_params = res[0]
        assert sorted(hist) == sorted(ref_hist)
        assert len(hist["loss"]) == 4
        for k in ref_hist:
            np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-12,
                                       err_msg=k)
        for name in ref_params:
            np.testing.assert_allclose(params[name], ref_params[name],
                                       rtol=1e-12, atol=1e-14)
        for r in range(1, n):
            assert res[r][0] == hist           # identical logs
            assert res[r][1] == params         # bit-identical weights
    # one line per epoch (rank 0's) for the distributed run and the
    # reference of every rank (which trains alone, so all print)
    assert out.count("Epoch 1/4") == 1 + n
    # ModelCheckpoint: rank 0 writes, the others do not
    assert (tmp_path / "ck0_auto.npz").exists()
    assert not any((tmp_path / ("ck%d_auto.npz" % r)).exists()
                   for r in range(1, n))


# ------------------------------- in-process pieces of the distributed fit

@pytest.mark.parametrize("name", ["accuracy", "top_k_accuracy", "mse", "mae",
                                  "r2", "f1"])
def test_metric_merge_equals_one_pass(name):
    """Running states of three parts (as three ranks keep them) merged in
    order give the metric of all the samples (sklearn's)."""
    import sklearn.metrics as skm
    from autodiff import metrics
    rng = np.random.default_rng(5)
    if name in ("mse", "mae", "r2"):
        out = rng.standard_normal((50, 2))
        y = out + rng.standard_normal((50, 2))
        ref = {"mse": skm.mean_squared_error, "mae": skm.mean_absolute_error,
               "r2": skm.r2_score}[name](y, out)
    else:
        out = rng.standard_normal((50, 4))
        y = rng.integers(0, 4, 50)
        y[:20] = 1                              # the first part lacks 3
        ref = {"accuracy": lambda: skm.accuracy_score(y, out.argmax(1)),
               "top_k_accuracy": lambda: skm.top_k_accuracy_score(
                   y, out, k=3, labels=range(4)),
               "f1": lambda: skm.f1_score(y, out.argmax(1),
                                          average="macro")}[name]()

    def make():
        return (metrics.TopKAccuracy(3) if name == "top_k_accuracy"
                else metrics.get(name))
    parts = []
    for sl in (slice(0, 20), slice(20, 21), slice(21, 50)):
        m = make()
        m.update(out[sl], y[sl])
        parts.append(m.state_dict())
    m = make()
    for st in parts:
        m.merge(st)
    np.testing.assert_allclose(m.compute(), ref, rtol=1e-12)


def test_trainer_sharded_argument():
    model = ad.nn.Linear(2, 1)
    tr = ad.Trainer(model, ad.nn.MSELoss(), ad.optim.SGD(
        model.parameters(), lr=0.1), distributed=False)
    X, y = np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="sharded must be True or False, "
                       "got 'yes'"):
        tr.fit(X, y, sharded="yes", verbose=0)
    with pytest.raises(ValueError, match="Trainer.fit: sharded=True is for "
                       "arrays that each rank loads alone; a DataLoader is "
                       "split over the ranks by a DistributedSampler"):
        tr.fit([(X, y)], sharded=True, verbose=0)
    Xr = np.random.default_rng(0).standard_normal((20, 2))
    runs = []
    for sharded in (True, False):               # one process: no effect
        ad.manual_seed(0)
        m = ad.nn.Linear(2, 1, dtype=ad.float64)
        h = ad.Trainer(m, ad.nn.MSELoss(), ad.optim.SGD(
            m.parameters(), lr=0.1), distributed=False).fit(
                Xr, Xr[:, :1] * 2, epochs=2, batch_size=8, seed=1,
                sharded=sharded, verbose=0)
        runs.append(h["loss"])
    assert runs[0] == runs[1] and len(runs[0]) == 2


def test_trainer_distributed_argument():
    model = ad.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="distributed must be 'auto', True "
                       "or False, got 'yes'"):
        ad.Trainer(model, ad.nn.MSELoss(), ad.optim.SGD(
            model.parameters(), lr=0.1), distributed="yes")


@needs_mpi4py
def test_trainer_world_of_one_is_the_plain_trainer():
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5])[:, None]
    runs = []
    for distributed in (True, False):
        ad.manual_seed(1)
        m = ad.nn.Linear(3, 1, dtype=ad.float64)
        h = ad.Trainer(m, ad.nn.MSELoss(), ad.optim.SGD(
            m.parameters(), lr=0.1), distributed=distributed).fit(
                X, y, epochs=3, batch_size=16, seed=2, verbose=0)
        runs.append((h.history["loss"], m.weight.numpy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


@needs_mpiexec
def test_digits_mpi_example_prints_the_same_at_two_ranks():
    """The README's two-rank command: the lines of one process (time
    column aside), from rank 0 only."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        os.pardir, "examples", "digits_mpi.py")
    if not os.path.exists(path):
        pytest.skip("examples/ is not beside tests/")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    outs = []
    for cmd in ([sys.executable, path],
                [_mpiexec(), "-n", "2", sys.executable, path]):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        outs.append([" - ".join(x for i, x in enumerate(line.split(" - "))
                                if i != 1) for line in p.stdout.splitlines()])
    assert outs[0][:-1] == outs[1][:-1] and len(outs[0]) == 6
    assert outs[0][-1].startswith("ranks: 1, val_accuracy: ")
    assert outs[1][-1] == outs[0][-1].replace("ranks: 1", "ranks: 2")


BATCHNORM = """
from autodiff import nn
rng = np.random.default_rng(4)
X = rng.standard_normal((90, 5)) * 3 + 1
y = (X[:, 0] > 1).astype(np.int64)
ad.manual_seed(R)                          # rank 0's weights win
m = nn.Sequential(nn.Linear(5, 8, dtype=ad.float64),
                  nn.BatchNorm1d(8, dtype=ad.float64), nn.ReLU(),
                  nn.Dropout(0.2), nn.Linear(8, 2, dtype=ad.float64))
tr = ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(m.parameters(),
                                                       lr=0.1))
h = tr.fit(X, y, epochs=3, batch_size=30, seed=1, verbose=0,
           validation_data=(X[:20], y[:20]))
save("bn", [{k: v for k, v in h.history.items() if k != "time"},
            {k: v.numpy().tolist() for k, v in m.state_dict().items()}])
"""


@needs_mpiexec
def test_trainer_batchnorm_and_dropout_stay_identical(tmp_path):
    """BatchNorm's per-share statistics and per-rank dropout masks: the
    weights stay bit-identical (averaged gradients), the running statistics
    are rank 0's, so validation and the logs agree on every rank."""
    rc, out = run_job(tmp_path, BATCHNORM, 2)
    assert rc == 0, out
    a, b = load(tmp_path, "bn", 2)
    assert a == b
    assert len(a[0]["val_loss"]) == 3
    assert "1.running_mean" in a[1]


# ------------------- DataLoaders, accumulation, sharding at N ranks

LOADER = """
from autodiff import nn
from autodiff.data import DataLoader, Dataset, DistributedSampler
rng = np.random.default_rng(3)
X = rng.standard_normal((96, 6))
y = ((X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1))
Xv, yv = X[:40] + 0.1, y[:40]

class Rec(Dataset):
    # records the indices read, in order
    def __init__(self, X, y):
        self.X, self.y, self.seen = X, y, []
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        self.seen.append(int(i))
        return self.X[i], self.y[i]

def fit(world, rank, distributed):
    ad.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 16, dtype=ad.float64), nn.Tanh(),
                      nn.Linear(16, 3, dtype=ad.float64))
    ds, vs = Rec(X, y), Rec(Xv, yv)
    loader = DataLoader(ds, batch_size=32 // world, sampler=DistributedSampler(
        ds, num_replicas=world, rank=rank, shuffle=True, seed=7))
    val = DataLoader(vs, batch_size=8, sampler=DistributedSampler(
        vs, num_replicas=world, rank=rank, shuffle=False))
    tr = ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.Adam(
        m.parameters(), lr=0.05), distributed=distributed)
    h = tr.fit(loader, epochs=3, seed=5, verbose=0, validation_data=val,
               metrics=["accuracy", "f1"])
    return ({k: v for k, v in h.history.items() if k != "time"},
            {n: p.numpy().tolist() for n, p in m.named_parameters()},
            ds.seen)

res = {"dist": fit(W, R, "auto"), "one": fit(1, 0, False)}

# the sampler of a batch sampler gets set_epoch too
from autodiff.data import BatchSampler
bds = Rec(X, y)
m = nn.Linear(6, 3, dtype=ad.float64)
ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(m.parameters(), lr=0.1)
           ).fit(DataLoader(bds, batch_sampler=BatchSampler(
               DistributedSampler(bds, shuffle=True, seed=7), 16, False)),
                 epochs=2, verbose=0)
res["batch_sampler"] = bds.seen

def err(f):
    try:
        f()
        return "no error"
    except ValueError as e:
        return str(e)

def plain():
    m = nn.Linear(6, 3, dtype=ad.float64)
    ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(
        m.parameters(), lr=0.1)).fit(DataLoader(Rec(X, y), batch_size=8,
                                                shuffle=True), verbose=0)

class Unsized:
    def __init__(self, batches):
        self.batches = batches
    def __iter__(self):
        return iter(self.batches)

def unequal(wrap):
    m = nn.Linear(6, 3, dtype=ad.float64)
    batches = [(X[i:i + 8], y[i:i + 8]) for i in range(0, 8 * (3 + R), 8)]
    ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(
        m.parameters(), lr=0.1)).fit(wrap(batches), epochs=2, verbose=0)

res["plain"] = err(plain)

def wrong_world():
    m = nn.Linear(6, 3, dtype=ad.float64)
    ds = Rec(X, y)
    ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(
        m.parameters(), lr=0.1)).fit(DataLoader(ds, batch_size=8,
        sampler=DistributedSampler(ds, num_replicas=3, rank=R)), verbose=0)

res["wrong"] = err(wrong_world)
res["sized"] = err(lambda: unequal(list))
res["unsized"] = err(lambda: unequal(Unsized))
dist.barrier()                           # nobody is left in a collective
save("loader", res)
"""


@needs_mpiexec
def test_trainer_dataloader_with_distributed_sampler(tmp_path):
    """A DataLoader with a DistributedSampler (batch 16 per rank) gives the
    History of one process reading batches of 32 from the same sampler
    seed, epoch after epoch (set_epoch), validation on a sharded loader
    included; a plain DataLoader and unequal step counts raise on every
    rank."""
    rc, out = run_job(tmp_path, LOADER, 2)
    assert rc == 0, out
    rs = load(tmp_path, "loader", 2)
    hist, params, _ = rs[0]["dist"]
    ref_hist, ref_params, ref_seen = rs[0]["one"]
    assert sorted(hist) == ["accuracy", "f1", "loss", "val_accuracy",
                            "val_f1", "val_loss"]
    for k in ref_hist:
        assert len(hist[k]) == 3
        np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-12,
                                   err_msg=k)
    for name in ref_params:
        np.testing.assert_allclose(params[name], ref_params[name],
                                   rtol=1e-12, atol=1e-14)
    perms = [np.random.default_rng(7 + e).permutation(96) for e in range(3)]
    assert ref_seen == np.concatenate(perms).tolist()   # a new order each
    for r in range(2):
        assert rs[r]["dist"][0] == hist and rs[r]["dist"][1] == params
        assert rs[r]["dist"][2] == np.concatenate(
            [p[r::2] for p in perms]).tolist()
        assert rs[r]["plain"] == (
            "Trainer.fit: at 2 ranks a DataLoader with a RandomSampler would "
            "give every rank the same batches; build it with sampler="
            "DistributedSampler(dataset, shuffle=True, seed=...) so that each "
            "rank reads its own share (its batch_size is then the batch of "
            "one rank)")
        assert rs[r]["sized"] == (
            "Trainer.fit: every rank must run the same number of steps, but "
            "in epoch 1 rank 0 has 3 batches, rank 1 has 4 batches (a "
            "DistributedSampler gives every rank the same number of samples; "
            "with sharded arrays the ranks agree by themselves)")
        assert rs[r]["batch_sampler"] == rs[r]["dist"][2][:96]
        assert rs[r]["wrong"] == (
            "Trainer.fit: the DistributedSampler was built for rank %d of 3, "
            "but this is rank %d of 2" % (r, r))
        assert rs[r]["unsized"] == rs[r]["sized"].replace(
            "rank 1 has 4", "rank 1 has at least 4")


ACCUM = """
from autodiff import nn
rng = np.random.default_rng(3)
X = rng.standard_normal((97, 6))
y = ((X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1))
sw = rng.uniform(0.5, 2.0, 97)
val = (X[:31] + 0.1, y[:31], sw[:31])

def model():
    ad.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16, dtype=ad.float64), nn.Tanh(),
                         nn.Linear(16, 3, dtype=ad.float64))

def fit(distributed, weighted, compile=True):
    m = model()
    tr = ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.Adam(
        m.parameters(), lr=0.05), distributed=distributed, compile=compile)
    h = tr.fit(X, y, epochs=3, batch_size=16, accumulate_grad_batches=3,
               sample_weight=sw if weighted else None, seed=5, verbose=0,
               validation_data=val, metrics=["accuracy", "f1"])
    return ({k: v for k, v in h.history.items() if k != "time"},
            {n: p.numpy().tolist() for n, p in m.named_parameters()})

res = {}
for weighted in (False, True):
    res["acc%d" % weighted] = [fit("auto", weighted), fit(False, weighted)]
res["eager"] = fit("auto", True, compile=False)

# sharded arrays: rank r loads 70 - 20 r rows (5, 4 and 2 batches of 16:
# the ranks out of data take empty shares); the reference reads the same
# global batches from a list
def shard_fit(data, sharded):
    m = model()
    tr = ad.Trainer(m, nn.CrossEntropyLoss(), ad.optim.SGD(
        m.parameters(), lr=0.1), distributed="auto" if sharded else False)
    kw = dict(epochs=2, verbose=0, validation_data=val)
    h = (tr.fit(*data, batch_size=16, shuffle=False, sharded=True, **kw)
         if sharded else tr.fit(data, **kw))
    return ({k: v for k, v in h.history.items() if k != "time"},
            {n: p.numpy().tolist() for n, p in m.named_parameters()})

n = 70 - 20 * R
mine = slice(100 * R, 100 * R + n)
Xs = np.random.default_rng(10).standard_normal((100 * W, 6))
ys = (Xs[:, 0] > 0).astype(np.int64)
steps = (70 + 15) // 16
ref = []
for t in range(steps):
    rows = np.concatenate([np.arange(100 * r, 100 * r + 70 - 20 * r)[
        16 * t:16 * t + 16] for r in range(W)])
    ref.append((Xs[rows], ys[rows]))
res["sharded"] = [shard_fit((Xs[mine], ys[mine]), True),
                  shard_fit(ref, False)]
save("accum", res)
"""


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_trainer_accumulation_and_sharding_equal_one_process(tmp_path, n):
    """accumulate_grad_batches=3 at n ranks (one allreduce per group,
    weighted by the local sample counts; ragged last group; with and
    without sample weights; compiled and eager) gives one process's
    History and weights; validation arrays split over the ranks give its
    val_ logs; sharded=True arrays of unequal lengths equal one process
    on the concatenated batches."""
    rc, out = run_job(tmp_path, ACCUM, n, timeout=120)
    assert rc == 0, out
    rs = load(tmp_path, "accum", n)
    for key in ("acc0", "acc1", "sharded"):
        (hist, params), (ref_hist, ref_params) = rs[0][key]
        assert sorted(hist) == sorted(ref_hist)
        assert "val_accuracy" in hist and len(hist["loss"]) >= 2
        for k in ref_hist:
            np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-12,
                                       err_msg="%s %s" % (key, k))
        for name in ref_params:
            np.testing.assert_allclose(params[name], ref_params[name],
                                       rtol=1e-12, atol=1e-14, err_msg=key)
        for r in range(1, n):
            assert rs[r][key][0] == [hist, params]
    eager_hist, eager_params = rs[0]["eager"]
    for k, v in rs[0]["acc1"][0][0].items():
        np.testing.assert_allclose(eager_hist[k], v, rtol=1e-12)


# ------------------------------------- overlapping the allreduce (overlap=True)

OVERLAP = """
from autodiff import nn
DT = {"float32": ad.float32, "float64": ad.float64}[sys.argv[2]]
X = np.random.default_rng(5).standard_normal((40, 6))
Y = np.random.default_rng(6).standard_normal((40, 2))
def run(overlap, cap):
    ad.manual_seed(7)
    m = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 16),
                      nn.Tanh(), nn.Linear(16, 2)).to(DT)
    extra = nn.Linear(3, 2).to(DT)   # a layer only rank 0 uses
    ps = list(m.parameters()) + list(extra.parameters())
    opt = dist.DistributedOptimizer(ad.optim.SGD(ps, lr=0.05, momentum=0.9),
                                    overlap=overlap, bucket_bytes=cap)
    states, nb = [], None
    if opt.overlap:
        nb = len(opt._overlap.buckets)
    for step in range(5):
        rows = np.arange(step * 8, step * 8 + 8)
        mine = rows[R::W][:max(1, 3 - R + step % 2)]  # ragged shares
        opt.zero_grad()
        opt.set_weight(len(mine))
        def loss_of(rows):
            out = m(ad.tensor(X[rows], dtype=DT))
            loss = ((out - ad.tensor(Y[rows], dtype=DT)) ** 2).mean()
            if R == 0:
                loss = loss + extra(ad.ones(1, 3, dtype=DT)).sum() * 0.1
            return loss
        if step == 2:          # accumulate two backward()s
            with opt.no_sync():
                loss_of(mine[:1]).backward()
            loss_of(mine).backward()
        elif step == 3:        # no backward at all: step reduces .grad
            pass
        else:
            loss_of(mine).backward()
        if opt.overlap:
            states.append(opt._overlap.watch.state)
        opt.step()
    return ([p.numpy().tolist() for p in ps], states, nb)
plain, _, _ = run(False, 0)
res = {"plain": plain}
for cap in (1, 600, 1 << 26):
    got, states, nb = run(True, cap)
    res[str(cap)] = {"params": got, "states": states, "nb": nb}
save("overlap", res)
"""


def run_overlap(tmp_path, n, dt):
    """OVERLAP on n ranks in dtype dt; every rank's results."""
    rc, out = run_job(tmp_path, OVERLAP, n, timeout=120, args=(dt,))
    assert rc == 0, out
    return load(tmp_path, "overlap", n)


@needs_mpiexec
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_overlap_equals_the_plain_allreduce_bit_for_bit(tmp_path, dt):
    got = run_overlap(tmp_path, 2, dt)
    assert got[0]["plain"] == got[1]["plain"]
    for cap, nb in (("1", 8), ("600", None), (str(1 << 26), 1)):
        for r in range(2):
            res = got[r][cap]
            assert res["params"] == got[0]["plain"], (cap, r)   # bit-equal
            # the sweep handed the buckets over (state 2) except at the
            # step without backward (armed, 1: step() packed .grad)
            assert res["states"] == [2, 2, 2, 1, 2]
            if nb is not None:
                assert res["nb"] == nb
            else:
                assert 1 < res["nb"] < 8


@needs_mpiexec
def test_overlap_at_three_ranks_matches_the_plain_path(tmp_path):
    got = run_overlap(tmp_path, 3, "float64")
    plain = got[0]["plain"]
    for r in range(3):
        assert got[r]["plain"] == plain
        for cap in ("1", "600", str(1 << 26)):
            # every rank identical; against the plain path to 1e-15 (MPICH
            # may sum 3 ranks in another order for another message size)
            assert got[r][cap]["params"] == got[0][cap]["params"]
            for a, b in zip(got[r][cap]["params"], plain):
                np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-16)


OVERLAP_ERRORS = """
from autodiff import nn
m = nn.Linear(4, 3, dtype=ad.float64)
opt = dist.DistributedOptimizer(ad.optim.SGD(m.parameters(), lr=0.1),
                                overlap=True)
x = ad.ones(2, 4, dtype=ad.float64)
msgs = {}
def attempt(name, fn):
    try:
        fn()
        msgs[name] = "no error"
    except Exception as e:
        msgs[name] = "%s: %s" % (type(e).__name__, e)
# 1. a backward that fails on rank 1 only: every rank's step raises
h = m(x)
if R == 1:
    with ad.no_grad():
        m.weight.mul_(1.0)           # saved input modified in place
attempt("backward", lambda: (h * h).sum().backward())
attempt("failed_step", opt.step)
# 2. the next step works again, and equals the plain path
opt.zero_grad()
m(x).sum().backward()
attempt("second_backward", lambda: m(x).sum().backward())
attempt("late_weight", lambda: opt.set_weight(2))
attempt("weight_mismatch", lambda: opt.step(weight=3))
# 3. grads changed between backward and step without synchronize
opt.zero_grad()
m(x).sum().backward()
with ad.no_grad():
    m.bias.grad.mul_(0.5)
attempt("changed", opt.step)
# 4. synchronize, clip, step
opt.zero_grad()
m(x).sum().backward()
opt.synchronize()
ad.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
attempt("sync_step", opt.step)
def step_in_no_sync():
    with opt.no_sync():
        opt.step()
attempt("no_sync_step", step_in_no_sync)
# 5. ad.compile refuses a backward while armed
@ad.compile
def fwd_bwd(x):
    loss = m(x).sum()
    loss.backward()
    return loss
opt.zero_grad()
attempt("compile", lambda: fwd_bwd(x))
dist.check_parameters(m)
save("errors", msgs)
"""


@needs_mpiexec
def test_overlap_errors_raise_on_every_rank_without_hanging(tmp_path):
    rc, out = run_job(tmp_path, OVERLAP_ERRORS, 2, timeout=90)
    assert rc == 0, out
    got = load(tmp_path, "errors", 2)
    assert got[0]["backward"] == "no error"
    assert got[1]["backward"].startswith(
        "RuntimeError: one of the tensors needed for gradient computation "
        "has been modified by an in-place operation")
    for r in range(2):
        m = got[r]
        assert m["failed_step"] == (
            "RuntimeError: backward() failed on 1 rank(s) (with its own "
            "error there); no rank applied this step's gradients")
        assert m["second_backward"].startswith(
            "RuntimeError: backward() reached the parameters of a "
            "DistributedOptimizer(overlap=True) whose gradients were already "
            "handed to the allreduce")
        assert m["late_weight"] == (
            "RuntimeError: set_weight() after backward(): the gradients were "
            "already packed with weight 1.0; call it before backward()")
        assert m["weight_mismatch"] == (
            "ValueError: DistributedOptimizer(overlap=True): step(weight=3.0) "
            "but backward() ran with weight 1.0; the weight must be known "
            "before backward(): call set_weight(3.0) before it")
        assert m["changed"].startswith(
            "RuntimeError: the gradient of parameter 1 (float64 (3,)) changed "
            "between backward() and step()")
        assert m["sync_step"] == "no error"
        assert m["no_sync_step"] == ("RuntimeError: step() or synchronize() "
                                     "inside no_sync(): leave it first")
        assert "a DistributedOptimizer(overlap=True) is armed on this thread"\
            in m["compile"]


@needs_mpi4py
def test_overlap_at_a_world_of_one_is_the_plain_optimizer():
    from autodiff import distributed as dist
    dist.init()
    model = ad.nn.Linear(3, 2, dtype=ad.float64)
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=0.5),
                                    overlap=True)
    assert not opt.overlap                 # nothing to overlap with
    x = ad.ones(4, 3, dtype=ad.float64)
    w0 = model.weight.numpy().copy()
    opt.set_weight(4)
    with opt.no_sync():
        model(x).sum().backward()
    model(x).sum().backward()
    g = model.weight.grad.numpy().copy()
    np.testing.assert_array_equal(g, np.full((2, 3), 8.0))
    opt.synchronize()
    opt.step()
    np.testing.assert_array_equal(model.weight.numpy(), w0 - 0.5 * g)
    with pytest.raises(ValueError, match="set_weight: weight must be finite "
                       "and >= 0, got -2.0"):
        opt.set_weight(-2)
    with pytest.raises(ValueError, match="step\\(weight=...\\) after "
                       "synchronize\\(\\): pass the weight to synchronize"):
        opt.synchronize()
        opt.step(weight=2)


def test_a_closed_watch_lets_a_new_one_arm_at_once():
    # A dropped DistributedOptimizer(overlap=True) closes its watch, but the
    # watch object lives on until its communication thread has exited
    # (asynchronously): a new optimizer must be able to arm on this thread
    # meanwhile (it failed at random when the old thread was slow).
    from autodiff import _engine
    m = ad.nn.Linear(3, 2, dtype=ad.float64)
    ps = list(m.parameters())
    old = _engine._Watch([ps])
    old.arm(1.0)
    new = _engine._Watch([ps])
    with pytest.raises(RuntimeError, match="another DistributedOptimizer"
                       "\\(overlap=True\\) is armed on this thread"):
        new.arm(1.0)
    old.close()                       # still referenced, like the thread's
    new.arm(1.0)
    assert new.state == 1
    m(ad.ones(4, 3, dtype=ad.float64)).sum().backward()
    assert new.state == 2             # the new watch got the buckets
    assert old.state == 1             # the closed one was let go of
    np.testing.assert_array_equal(new.buffer(0)[:6], np.full(6, 4.0))
