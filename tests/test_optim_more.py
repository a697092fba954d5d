"""Adagrad, Adadelta, Adamax, NAdam, RAdam, LBFGS, maximize on every
optimizer and torch.nn.utils' gradient utilities, against PyTorch itself:
trajectories, state_dicts both ways, compiled replay bit for bit, bad
arguments with torch's messages."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.nn import utils as nnu

from conftest import lazy_torch

torch = lazy_torch()

STEPS = 24
F64 = dict(rtol=1e-9, atol=1e-12)
F32 = dict(rtol=2e-4, atol=2e-5)

# ------------------------------------------------------------ the problem
#
#   loss = |A w - b|^2 + 0.1 sum(w^3) + sum((V - C)^2 * 0.5) + u-term:
#   u takes part on every third step only (its grad is None otherwise, and
#   the optimizer must skip it, its step count included).

_rng = np.random.default_rng(2024)
A = _rng.normal(size=(6, 4))
B = _rng.normal(size=6)
C = _rng.normal(size=(2, 3))
W0 = _rng.normal(size=4) * 0.5
V0 = _rng.normal(size=(2, 3))
U0 = _rng.normal(size=3)


def _loss(lib, w, v, u, step):
    At, Bt, Ct = (lib.tensor(a, dtype=w.dtype) for a in (A, B, C))
    r = At @ w - Bt
    loss = (r * r).sum() + (w * w * w).sum() * 0.1 + \
        ((v - Ct) * (v - Ct)).sum() * 0.5
    if step % 3 == 0:
        loss = loss + (u * u * u * u).sum() * 0.25 - u.sum()
    return loss


def _params(lib, dtype):
    return [lib.tensor(a, dtype=dtype, requires_grad=True)
            for a in (W0, V0, U0)]


def _opt(lib, name, params, cfg, groups):
    cls = getattr(optim if lib is ad else torch.optim, name)
    if groups:      # two groups: the second with its own lr
        return cls([{"params": params[:2]},
                    {"params": params[2:], "lr": cfg.get("lr", 1e-2) * 3}],
                   **cfg)
    return cls(params, **cfg)


def run(lib, name, cfg, dtype="float64", steps=STEPS, groups=False,
        start=None):
    """(trajectory, optimizer, params); start: (params, state_dict) to
    resume from."""
    dt = getattr(ad if lib is ad else torch, dtype)
    ps = _params(lib, dt)
    if start is not None:
        with lib.no_grad():
            for p, a in zip(ps, start[0]):
                p.copy_(lib.tensor(a, dtype=dt))
    opt = _opt(lib, name, ps, cfg, groups)
    if start is not None:
        opt.load_state_dict(start[1])
    traj = []
    first = 0 if start is None else steps
    for s in range(first, first + steps):
        opt.zero_grad()
        _loss(lib, *ps, s).backward()
        opt.step()
        traj.append([(p.detach() if lib is torch else p).numpy().copy()
                     for p in ps])
    return traj, opt, ps


def assert_traj(a, b, **tolerance):
    assert len(a) == len(b)
    for s, (xa, xb) in enumerate(zip(a, b)):
        for i, (pa, pb) in enumerate(zip(xa, xb)):
            np.testing.assert_allclose(pa, pb, err_msg="param %d, step %d"
                                       % (i, s + 1), **tolerance)


def random_configs(name, n=4, seed=0):
    """n random hyperparameter settings of optimizer name (each also
    exercising weight decay and maximize)."""
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    out = []
    for k in range(n):
        cfg = {"weight_decay": [0.0, 0.05, 0.2][k % 3],
               "maximize": bool(k % 2)}
        if name == "Adagrad":
            cfg.update(lr=rng.uniform(0.02, 0.2),
                       lr_decay=rng.choice([0.0, 0.05]),
                       initial_accumulator_value=rng.choice([0.0, 0.3]),
                       eps=rng.choice([1e-10, 1e-3]))
        elif name == "Adadelta":
            cfg.update(lr=rng.uniform(0.3, 1.0), rho=rng.uniform(0.5, 0.95),
                       eps=rng.choice([1e-6, 1e-3]))
        elif name in ("Adamax", "NAdam", "RAdam"):
            cfg.update(lr=rng.uniform(0.01, 0.05),
                       betas=(rng.choice([0.3, 0.9]),
                              rng.choice([0.9, 0.999])),
                       eps=rng.choice([1e-8, 1e-4]))
            if name == "NAdam":
                cfg.update(momentum_decay=rng.choice([4e-3, 0.05]))
            if name != "Adamax":
                cfg.update(decoupled_weight_decay=bool(k >= 2))
        elif name == "SGD":
            mom = rng.choice([0.0, 0.9]) if k < 2 else 0.8
            cfg.update(lr=rng.uniform(0.005, 0.02), momentum=mom,
                       nesterov=bool(k >= 2),
                       dampening=0.3 if k == 1 and mom else 0.0)
        elif name in ("Adam", "AdamW"):
            cfg.update(lr=rng.uniform(0.01, 0.05), amsgrad=bool(k >= 2))
        elif name == "RMSprop":
            cfg.update(lr=rng.uniform(0.002, 0.01), centered=bool(k % 2),
                       momentum=rng.choice([0.0, 0.5]))
        out.append(cfg)
    return out


NEW = ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
ALL = NEW + ["SGD", "Adam", "AdamW", "RMSprop"]
CASES = [(n, c) for n in ALL for c in random_configs(n)]
IDS = ["%s-%d" % (n, i % 4) for i, (n, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,cfg", CASES, ids=IDS)
def test_trajectory_equals_torch_float64(name, cfg):
    ours, opt, ps = run(ad, name, cfg)
    theirs, topt, _ = run(torch, name, cfg)
    assert_traj(ours, theirs, **F64)
    # the parameters moved, u only on its steps
    assert not np.allclose(ours[-1][0], W0)
    np.testing.assert_array_equal(ours[1][2], ours[0][2])
    assert not np.array_equal(ours[3][2], ours[2][2])


@pytest.mark.parametrize("name", ALL)
def test_trajectory_equals_torch_float32(name):
    cfg = random_configs(name)[1]
    ours, _, ps = run(ad, name, cfg, dtype="float32")
    assert ps[0].dtype == np.float32
    theirs, _, _ = run(torch, name, cfg, dtype="float32")
    assert_traj(ours, theirs, **F32)


@pytest.mark.parametrize("name", NEW)
def test_param_groups_equal_torch(name):
    cfg = random_configs(name)[2]
    ours, opt, _ = run(ad, name, cfg, groups=True)
    theirs, _, _ = run(torch, name, cfg, groups=True)
    assert_traj(ours, theirs, **F64)
    assert opt.param_groups[1]["lr"] == pytest.approx(cfg["lr"] * 3)


def _np(v):
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def assert_state_equal(sd, tsd, **tolerance):
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, tst in tsd["state"].items():
        st = sd["state"][i]
        assert set(st) == set(tst), (i, set(st), set(tst))
        for k, tv in tst.items():
            np.testing.assert_allclose(np.asarray(_np(st[k]), float),
                                       np.asarray(_np(tv), float),
                                       err_msg="state %d %s" % (i, k),
                                       **tolerance)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g == tg


@pytest.mark.parametrize("name,cfg", [(n, random_configs(n)[3])
                                      for n in ALL], ids=ALL)
def test_state_dict_equals_torch(name, cfg):
    _, opt, _ = run(ad, name, cfg)
    _, topt, _ = run(torch, name, cfg)
    assert_state_equal(opt.state_dict(), topt.state_dict(), **F64)


def test_nadam_mu_product_dtype_follows_torch():
    # torch keeps mu_product as a float32 number (the default dtype) and
    # casts it to the parameter's dtype when a state_dict is loaded
    _, opt, _ = run(ad, "NAdam", {}, steps=3)
    _, topt, _ = run(torch, "NAdam", {}, steps=3)
    mp, tmp = (o.state_dict()["state"][0]["mu_product"] for o in (opt, topt))
    assert mp.dtype == np.float32 and tmp.dtype == torch.float32
    assert mp.shape == ()
    assert float(mp) == float(tmp)
    opt.load_state_dict(topt.state_dict())
    assert opt.state_dict()["state"][0]["mu_product"].dtype == np.float64


def test_adagrad_state_exists_from_construction():
    ps, tps = _params(ad, ad.float64), _params(torch, torch.float64)
    opt = optim.Adagrad(ps, initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad(tps, initial_accumulator_value=0.25)
    assert_state_equal(opt.state_dict(), topt.state_dict(), rtol=0)
    np.testing.assert_array_equal(opt.state_dict()["state"][1]["sum"],
                                  np.full((2, 3), 0.25))


@pytest.mark.parametrize("name", ALL)
def test_load_torch_state_dict_and_continue(name):
    cfg = random_configs(name)[3]
    half = STEPS // 2 + 1
    full, _, _ = run(torch, name, cfg, steps=2 * half)
    first, topt, tps = run(torch, name, cfg, steps=half)
    start = ([p.detach().numpy().copy() for p in tps], topt.state_dict())
    rest, opt, _ = run(ad, name, cfg, steps=half, start=start)
    assert_traj(first + rest, full, **F64)
    # and our state_dict loads back into torch (its arrays as tensors:
    # torch's loader takes no numpy arrays)
    sd = opt.state_dict()
    sd["state"] = {i: {k: torch.tensor(v) for k, v in st.items()}
                   for i, st in sd["state"].items()}
    t2 = _opt(torch, name, _params(torch, torch.float64), cfg, False)
    t2.load_state_dict(sd)
    assert_state_equal(opt.state_dict(), t2.state_dict(), rtol=0)


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip_is_exact(name):
    cfg = random_configs(name)[2]
    full, _, _ = run(ad, name, cfg, steps=2 * 10)
    first, opt, ps = run(ad, name, cfg, steps=10)
    start = ([p.numpy().copy() for p in ps], opt.state_dict())
    rest, _, _ = run(ad, name, cfg, steps=10, start=start)
    if name == "NAdam":
        # loading casts mu_product (float32) to the parameters' dtype, as
        # torch's load_state_dict does: the resumed run is float64 there
        # and the uninterrupted one float32 (test_load_torch_state_dict_*
        # checks the resumed run against torch's)
        assert_traj(first + rest, full, rtol=1e-6, atol=1e-9)
        return
    for a, b in zip(first + rest, full):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------ ad.compile

def _train_step(model, opt, xb, tb, clip=None):
    loss = nn.functional.mse_loss(model(xb), tb) * 20.0
    opt.zero_grad()
    loss.backward()
    total = None
    if clip is not None:
        total = nnu.clip_grad_norm_(model.parameters(), clip[0],
                                    norm_type=clip[1])
        nnu.clip_grad_value_(model.parameters(), clip[2])
    opt.step()
    return loss if total is None else (loss, total)


def _model(dtype):
    ad.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 6, dtype=dtype), nn.Tanh(),
                         nn.Linear(6, 2, dtype=dtype))


def _compiled_vs_eager(make_opt, dtype, clip=None, steps=9):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(24, 4)).astype(dtype)
    T = rng.normal(size=(24, 2)).astype(dtype)
    m1, m2 = _model(dtype), _model(dtype)
    o1, o2 = make_opt(m1.parameters()), make_opt(m2.parameters())
    step = ad.compile(_train_step)
    outs = []
    for i in range(steps):
        sl = slice((i % 3) * 8, (i % 3 + 1) * 8)
        r1 = _train_step(m1, o1, ad.tensor(X[sl]), ad.tensor(T[sl]), clip)
        r2 = step(m2, o2, X[sl], T[sl], clip)
        r1, r2 = ((r1,), (r2,)) if clip is None else (r1, r2)
        for a, b in zip(r1, r2):
            assert a.item() == b.item(), i
        outs.append(r1)
    for (n, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)
    assert step.recordings == 1
    assert o1.state_dict()["state"].keys() == o2.state_dict()["state"].keys()
    for i, st in o1.state_dict()["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(
                v, o2.state_dict()["state"][i][k], err_msg=k)
    return outs


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_step_is_bit_identical(name, dtype):
    cfg = random_configs(name)[3]
    _compiled_vs_eager(lambda ps: getattr(optim, name)(ps, **cfg), dtype)


def test_compiled_step_sees_a_changed_lr():
    def make(ps):
        return optim.RAdam(ps, lr=0.01)
    rng = np.random.default_rng(1)
    X, T = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    m1, m2 = _model(np.float64), _model(np.float64)
    o1, o2 = make(m1.parameters()), make(m2.parameters())
    step = ad.compile(_train_step)
    for i in range(8):
        for o in (o1, o2):
            o.param_groups[0]["lr"] = 0.01 * (i + 1)
        _train_step(m1, o1, ad.tensor(X), ad.tensor(T))
        step(m2, o2, X, T)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert step.recordings == 1


@pytest.mark.parametrize("norm_type", [1.0, 2.0, float("inf"), 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_clipping_is_bit_identical(norm_type, dtype):
    outs = _compiled_vs_eager(lambda ps: optim.Adam(ps, lr=0.01), dtype,
                              clip=(0.5, norm_type, 0.05))
    # the clipping was active: the totals exceed max_norm
    assert all(total.item() > 0.5 for _, total in outs)


# ------------------------------------------------------ bad hyperparameters

BAD = [
    ("Adagrad", dict(lr=-0.1)), ("Adagrad", dict(lr_decay=-1.0)),
    ("Adagrad", dict(weight_decay=-1.0)),
    ("Adagrad", dict(initial_accumulator_value=-1.0)),
    ("Adagrad", dict(eps=-1.0)),
    ("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(rho=-0.1)), ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-1.0)),
    ("Adamax", dict(lr=-1.0)), ("Adamax", dict(eps=-1.0)),
    ("Adamax", dict(betas=(1.0, 0.9))), ("Adamax", dict(betas=(0.9, -0.1))),
    ("Adamax", dict(weight_decay=-1.0)),
    ("NAdam", dict(lr=-1.0)), ("NAdam", dict(eps=-1.0)),
    ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(weight_decay=-0.1)),
    ("NAdam", dict(momentum_decay=-0.1)),
    ("RAdam", dict(lr=-1.0)), ("RAdam", dict(eps=-1.0)),
    ("RAdam", dict(betas=(-0.5, 0.9))), ("RAdam", dict(weight_decay=-0.1)),
    ("SGD", dict(lr=-1.0)), ("SGD", dict(momentum=-0.5)),
    ("SGD", dict(weight_decay=-1.0)), ("SGD", dict(nesterov=True)),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(betas=(0.9, 1.0))), ("AdamW", dict(eps=-1.0)),
    ("RMSprop", dict(alpha=-0.5)), ("LBFGS", dict(lr=-1.0)),
]


@pytest.mark.parametrize("name,cfg", BAD,
                         ids=["%s-%s" % (n, "-".join(c)) for n, c in BAD])
def test_bad_hyperparameters_raise_torchs_message(name, cfg):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)],
                                   **cfg)
    p = ad.zeros(2, requires_grad=True)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([p], **cfg)
    assert str(ours.value).startswith(str(theirs.value)), \
        (str(ours.value), str(theirs.value))


@pytest.mark.parametrize("name", ALL)
def test_implementation_flags(name):
    p = ad.zeros(2, requires_grad=True)
    cls = getattr(optim, name)
    with pytest.raises(ValueError, match="differentiable=True is not "
                       "supported"):
        cls([p], differentiable=True)
    kw = {"foreach": True}
    if name in ("SGD", "Adam", "AdamW", "Adagrad"):
        kw["fused"] = False
        with pytest.raises(RuntimeError, match="`fused` and `foreach` "
                           "cannot be `True` together"):
            cls([p], fused=True, foreach=True)
        assert cls([p], fused=True).defaults["fused"] is True
    opt = cls([p], **kw)
    assert opt.defaults["foreach"] is True


@pytest.mark.parametrize("name", ALL + ["LBFGS"])
def test_defaults_equal_torch(name):
    theirs = getattr(torch.optim, name)(
        [torch.zeros(1, requires_grad=True)]).defaults
    assert getattr(optim, name)([ad.zeros(1, requires_grad=True)]).defaults \
        == theirs


def test_sgd_positional_order_is_torchs():
    p = ad.zeros(1, requires_grad=True)
    g = optim.SGD([p], 0.1, 0.9, 0.0, 0.01, True).param_groups[0]
    assert (g["lr"], g["momentum"], g["dampening"], g["weight_decay"],
            g["nesterov"]) == (0.1, 0.9, 0.0, 0.01, True)


# ------------------------------------------------------------ clip_grad_*

def _grads(dtypes, seed=0, none_at=1):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 2, 2), (7,)]
    ours, theirs = [], []
    for i, (s, dt) in enumerate(zip(shapes, dtypes)):
        g = rng.normal(size=s) * (i + 1)
        p = ad.zeros(s, dtype=dt, requires_grad=True)
        tp = torch.zeros(s, dtype=getattr(torch, dt), requires_grad=True)
        if i != none_at:
            p.grad = ad.tensor(g, dtype=dt)
            tp.grad = torch.tensor(g, dtype=getattr(torch, dt))
        ours.append(p)
        theirs.append(tp)
    return ours, theirs


NORMS = [1.0, 2.0, float("inf"), 3.0, 0.5, 0.0, -float("inf")]
DTYPE_SETS = [("float64",) * 4, ("float32",) * 4,
              ("float32", "float64", "float32", "float32")]


@pytest.mark.parametrize("norm_type", NORMS)
@pytest.mark.parametrize("dtypes", DTYPE_SETS, ids=["f64", "f32", "mixed"])
@pytest.mark.parametrize("max_norm", [1.0, 1e3])
def test_clip_grad_norm_equals_torch(norm_type, dtypes, max_norm):
    ps, tps = _grads(dtypes)
    total = nnu.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm,
                                            norm_type=norm_type)
    assert isinstance(total, ad.Tensor) and total.shape == ()
    assert total.dtype == str(ttotal.dtype).replace("torch.", "")
    f64 = "float32" not in dtypes
    np.testing.assert_allclose(total.item(), ttotal.item(),
                               rtol=1e-12 if f64 else 1e-6)
    for p, tp in zip(ps, tps):
        if tp.grad is None:
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(),
                                   rtol=1e-12 if p.dtype == "float64"
                                   else 1e-6, atol=0)


def test_clip_grad_norm_single_tensor_and_no_grads():
    p = ad.tensor([3.0, 4.0], dtype=ad.float64, requires_grad=True)
    p.grad = ad.tensor([3.0, 4.0], dtype=ad.float64)
    total = nnu.clip_grad_norm_(p, 1.0)
    assert total.item() == 5.0
    np.testing.assert_allclose(p.grad.numpy(),
                               np.array([3.0, 4.0]) / (5.0 + 1e-6), rtol=1e-15)
    q = ad.zeros(3, requires_grad=True)
    total = nnu.clip_grad_norm_([q], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(
        [torch.zeros(3, requires_grad=True)], 1.0)
    assert total.item() == ttotal.item() == 0.0
    assert total.dtype == "float32" and q.grad is None
    with pytest.warns(UserWarning, match="empty generator"):
        nnu.clip_grad_norm_((x for x in []), 1.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_nonfinite(bad, norm_type):
    ps, tps = _grads(("float64",) * 4)
    for p in (ps[0].grad, tps[0].grad):
        p[1, 1] = bad
    before = [None if p.grad is None else p.grad.numpy().copy() for p in ps]
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type,
                                       error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as ours:
        nnu.clip_grad_norm_(ps, 1.0, norm_type, error_if_nonfinite=True)
    assert str(ours.value) == str(theirs.value)
    for p, b in zip(ps, before):     # nothing changed
        if b is not None:
            np.testing.assert_array_equal(p.grad.numpy(), b)
    # without the error: scaled by the non-finite norm, as torch
    total = nnu.clip_grad_norm_(ps, 1.0, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type)
    np.testing.assert_array_equal(total.item(), ttotal.item())
    for p, tp in zip(ps, tps):
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_clip_grad_norm_nonfinite_raises_in_replay():
    p = ad.zeros(3, dtype=ad.float64, requires_grad=True)

    def step(x):
        p.grad = None
        (p * x).sum().backward()
        return nnu.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)

    f = ad.compile(step)
    np.testing.assert_allclose(f(np.array([3.0, 4.0, 0.0])).item(), 5.0,
                               rtol=1e-15)
    assert f(np.array([0.0, 0.0, 2.0])).item() == 2.0
    with pytest.raises(RuntimeError, match="total norm of order 2.0 for "
                       "gradients from `parameters` is non-finite"):
        f(np.array([np.inf, 0.0, 0.0]))
    assert f.recordings == 1


@pytest.mark.parametrize("clip_value", [0.5, 2.0, -0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_value_equals_torch(clip_value, dtype):
    ps, tps = _grads((dtype,) * 4)
    for p in (ps[2].grad, tps[2].grad):
        p[0, 0, 0] = float("nan")
    nnu.clip_grad_value_(ps, clip_value)
    torch.nn.utils.clip_grad_value_(tps, clip_value)
    for p, tp in zip(ps, tps):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_clip_bad_input():
    with pytest.raises(TypeError, match=r"parameters\[1\] is a ndarray"):
        nnu.clip_grad_norm_([ad.zeros(2), np.zeros(2)], 1.0)
    with pytest.raises(TypeError, match="parameters"):
        nnu.clip_grad_value_([1.0], 1.0)
    with pytest.raises(ValueError, match="could not convert string to "
                       "float: 'big'"):
        nnu.clip_grad_norm_([ad.zeros(2)], "big")


def test_parameters_to_vector_and_back_equal_torch():
    ps, tps = _params(ad, ad.float64), _params(torch, torch.float64)
    vec = nnu.parameters_to_vector(ps)
    tvec = torch.nn.utils.parameters_to_vector(tps)
    np.testing.assert_array_equal(vec.numpy(), tvec.detach().numpy())
    # a recorded op: gradients reach the parameters
    (vec * ad.arange(vec.numel(), dtype=ad.float64)).sum().backward()
    np.testing.assert_array_equal(ps[1].grad.numpy(),
                                  np.arange(4, 10).reshape(2, 3))
    new = np.linspace(-1, 1, vec.numel() + 2)       # longer: tail ignored
    nnu.vector_to_parameters(ad.tensor(new), ps)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tps)
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(p.numpy(), tp.detach().numpy())
    assert ps[0].requires_grad and ps[0].is_leaf
    with pytest.raises(TypeError) as theirs:
        torch.nn.utils.vector_to_parameters(new, tps)
    with pytest.raises(TypeError) as ours:
        nnu.vector_to_parameters(new, ps)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match=r"shape \(5,\) cannot fill "
                       "parameters of 13 elements"):
        nnu.vector_to_parameters(ad.zeros(5, dtype=ad.float64), ps)
    with pytest.raises(TypeError, match="vec is float32 but parameter 0 "
                       "is float64"):
        nnu.vector_to_parameters(ad.zeros(13), ps)
    np.testing.assert_array_equal(ps[2].numpy(), tps[2].detach().numpy())


def test_vector_to_parameters_replays():
    p = ad.zeros((2, 2), dtype=ad.float64, requires_grad=True)

    def step(v):
        nnu.vector_to_parameters(ad.tensor(v) * 2.0, [p])
        return nnu.parameters_to_vector([p]).sum()

    f = ad.compile(step)
    for k in range(3):
        v = np.arange(4.0) + k
        assert f(v).item() == (2 * v).sum()
        np.testing.assert_array_equal(p.numpy(), 2 * v.reshape(2, 2))


# ------------------------------------------------------------------- LBFGS

def run_lbfgs(lib, cfg, dtype="float64", steps=4, opt_state=None):
    dt = getattr(ad if lib is ad else torch, dtype)
    ps = _params(lib, dt)[:2]
    opt = (optim if lib is ad else torch.optim).LBFGS(ps, **cfg)
    if opt_state is not None:
        opt.load_state_dict(opt_state)

    def closure():
        opt.zero_grad()
        loss = _loss(lib, ps[0], ps[1], None, 1)
        loss.backward()
        return loss
    traj, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()
                            if lib is torch else opt.step(closure)))
        traj.append([(p.detach() if lib is torch else p).numpy().copy()
                     for p in ps])
    return traj, losses, opt


LBFGS_CFGS = [dict(), dict(line_search_fn="strong_wolfe"),
              dict(lr=0.5, max_iter=5, history_size=3),
              dict(line_search_fn="strong_wolfe", history_size=2,
                   max_iter=7, max_eval=9),
              dict(lr=0.1, max_iter=3, tolerance_change=1e-3)]


@pytest.mark.parametrize("cfg", LBFGS_CFGS,
                         ids=["-".join(map(str, c.values())) or "defaults"
                              for c in LBFGS_CFGS])
def test_lbfgs_equals_torch(cfg):
    ours, lo, opt = run_lbfgs(ad, cfg)
    theirs, lt, topt = run_lbfgs(torch, cfg)
    assert_traj(ours, theirs, **F64)
    np.testing.assert_allclose(lo, lt, **F64)
    st, tst = opt.state_dict()["state"][0], topt.state_dict()["state"][0]
    assert set(st) == set(tst)
    for k in ("func_evals", "n_iter"):
        assert st[k] == tst[k], k
    for k in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(st[k], tst[k].numpy(), **F64)
    assert len(st["old_dirs"]) == len(tst["old_dirs"])
    ours32, _, _ = run_lbfgs(ad, cfg, dtype="float32")
    theirs32, _, _ = run_lbfgs(torch, cfg, dtype="float32")
    assert_traj(ours32, theirs32, rtol=1e-3, atol=1e-4)


def test_lbfgs_resumes_from_torch_state():
    cfg = dict(line_search_fn="strong_wolfe", max_iter=3, history_size=4)
    full, _, _ = run_lbfgs(torch, cfg, steps=4)
    first, _, topt = run_lbfgs(torch, cfg, steps=2)
    tstate = topt.state_dict()
    ps = _params(ad, ad.float64)[:2]
    with ad.no_grad():
        for p, a in zip(ps, first[-1]):
            p.copy_(a)
    opt = optim.LBFGS(ps, **cfg)
    opt.load_state_dict(tstate)

    def closure():
        opt.zero_grad()
        loss = _loss(ad, ps[0], ps[1], None, 1)
        loss.backward()
        return loss
    rest = []
    for _ in range(2):
        opt.step(closure)
        rest.append([p.numpy().copy() for p in ps])
    assert_traj(first + rest, full, **F64)


def test_lbfgs_refuses_compile_and_bad_arguments():
    p = ad.zeros(2, dtype=ad.float64, requires_grad=True)
    opt = optim.LBFGS([p])

    def closure():
        opt.zero_grad()
        loss = ((p - 1.0) ** 2).sum()
        loss.backward()
        return loss

    f = ad.compile(lambda: opt.step(closure))
    with pytest.raises(ad.NotCompilableError, match="LBFGS.step cannot run "
                       "inside an ad.compile recording"):
        f()
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])
    opt.step(closure)
    np.testing.assert_allclose(p.numpy(), [1.0, 1.0], rtol=1e-12)
    q = ad.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter "
                       "options"):
        optim.LBFGS([{"params": [p]}, {"params": [q]}])
    with pytest.raises(ValueError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ValueError, match="history_size"):
        optim.LBFGS([p], history_size=0)


def test_state_from_before_the_new_options_gets_their_defaults():
    # an optimizer pickled before maximize/foreach/... existed: its groups
    # take the defaults of the options they lack, as torch's __setstate__
    p = ad.tensor([1.0, -2.0], dtype=ad.float64, requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    st = opt.__getstate__()
    st["param_groups"] = [{k: v for k, v in g.items()
                           if k not in ("maximize", "foreach", "fused")}
                          for g in st["param_groups"]]
    old = optim.Adam.__new__(optim.Adam)
    old.__setstate__(st)
    g = old.param_groups[0]
    assert (g["maximize"], g["foreach"], g["fused"]) == (False, None, None)
    p.grad = ad.tensor([0.5, 0.5], dtype=ad.float64)
    old.step()
    tp = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adam([tp], lr=0.1)
    tp.grad = torch.tensor([0.5, 0.5], dtype=torch.float64)
    topt.step()
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **F64)
