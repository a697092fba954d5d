"""Optimizers and lr schedulers against torch.optim's documented algorithms
(a numpy reference written here) and against PyTorch itself."""
import copy
import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.optim import lr_scheduler

from conftest import needs_torch, tol, torch

STEPS = 20
RTOL = tol(np.float64, "trajectory")["rtol"]
ATOL = tol(np.float64, "trajectory")["atol"]

# ------------------------------------------------------------ a small model
#
#   pred = tanh(X W1^T + b1) W2^T + b2,  loss = sum((pred - Y)^2) / (2N)
#   plus, on every third step only, sum(u^3 / 3 - u * c): on the other steps
#   u takes no part, so its grad is None and the optimizer must skip it.

N, IN, HID, OUT = 6, 4, 5, 3
NAMES = ("W1", "b1", "W2", "b2", "u")


def uses_u(step):
    return step % 3 == 0


def make_data():
    rng = np.random.default_rng(1234)
    init = {"W1": rng.normal(0, 0.5, (HID, IN)),
            "b1": rng.normal(0, 0.1, HID),
            "W2": rng.normal(0, 0.5, (OUT, HID)),
            "b2": rng.normal(0, 0.1, OUT),
            "u": rng.normal(0, 1.0, 4)}
    batches = [(rng.normal(size=(N, IN)), rng.normal(size=(N, OUT)))
               for _ in range(STEPS)]
    c = rng.normal(size=4)
    return init, batches, c


INIT, BATCHES, C_U = make_data()


def numpy_grads(P, step):
    """Analytic gradients of the loss at step (None for an unused u)."""
    X, Y = BATCHES[step]
    Z = X @ P["W1"].T + P["b1"]
    A = np.tanh(Z)
    R = A @ P["W2"].T + P["b2"] - Y
    dP = R / N
    dA = dP @ P["W2"]
    dZ = dA * (1 - A ** 2)
    g = {"W2": dP.T @ A, "b2": dP.sum(0), "W1": dZ.T @ X, "b1": dZ.sum(0),
         "u": P["u"] ** 2 - C_U if uses_u(step) else None}
    return g


class Net(nn.Module):
    def __init__(self, dtype=ad.float64):
        super().__init__()
        self.fc1 = nn.Linear(IN, HID, dtype=dtype)
        self.fc2 = nn.Linear(HID, OUT, dtype=dtype)
        self.u = nn.Parameter(ad.tensor(INIT["u"], dtype=dtype))
        self.fc1.load_state_dict({"weight": INIT["W1"], "bias": INIT["b1"]})
        self.fc2.load_state_dict({"weight": INIT["W2"], "bias": INIT["b2"]})

    def params(self):
        return [self.fc1.weight, self.fc1.bias, self.fc2.weight,
                self.fc2.bias, self.u]

    def loss(self, step):
        X, Y = BATCHES[step]
        dt = self.u.dtype
        pred = self.fc2(ad.tanh(self.fc1(ad.tensor(X, dtype=dt))))
        loss = ((pred - ad.tensor(Y, dtype=dt)) ** 2).sum() / (2.0 * N)
        if uses_u(step):
            u = self.u
            loss = loss + (u ** 3 / 3.0 - u * ad.tensor(C_U, dtype=dt)).sum()
        return loss

    def snapshot(self):
        return {k: p.numpy().copy() for k, p in zip(NAMES, self.params())}


def run_autodiff(make_opt, steps=STEPS, dtype=ad.float64, net=None,
                 opt=None, start=0):
    net = Net(dtype) if net is None else net
    opt = make_opt(net.params()) if opt is None else opt
    traj = []
    for s in range(start, start + steps):
        opt.zero_grad()
        net.loss(s).backward()
        opt.step()
        traj.append(net.snapshot())
    return traj, net, opt


# --------------------------------------------- numpy reference (torch docs)

def ref_update(kind, cfg, p, g, st):
    """One update of parameter p with gradient g; st is its state dict.
    Follows the pseudo-code in torch.optim's documentation."""
    st["step"] = st.get("step", 0) + 1
    t = st["step"]
    lr, wd = cfg["lr"], cfg.get("weight_decay", 0.0)
    if kind == "sgd":
        mom, damp = cfg.get("momentum", 0.0), cfg.get("dampening", 0.0)
        if wd:
            g = g + wd * p
        if mom:
            if "buf" not in st:
                st["buf"] = g.copy()
            else:
                st["buf"] = mom * st["buf"] + (1 - damp) * g
            g = g + mom * st["buf"] if cfg.get("nesterov") else st["buf"]
        return p - lr * g
    if kind in ("adam", "adamw"):
        b1, b2 = cfg.get("betas", (0.9, 0.999))
        eps = cfg.get("eps", 1e-8)
        if kind == "adamw":
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        m = st.get("m", np.zeros_like(p))
        v = st.get("v", np.zeros_like(p))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        mhat = m / (1 - b1 ** t)
        vhat = v / (1 - b2 ** t)
        if cfg.get("amsgrad"):
            st["vmax"] = np.maximum(st.get("vmax", np.zeros_like(p)), v)
            vhat = st["vmax"] / (1 - b2 ** t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)
    if kind == "rmsprop":
        alpha, eps = cfg.get("alpha", 0.99), cfg.get("eps", 1e-8)
        mom = cfg.get("momentum", 0.0)
        if wd:
            g = g + wd * p
        v = alpha * st.get("v", np.zeros_like(p)) + (1 - alpha) * g * g
        st["v"] = v
        vt = v
        if cfg.get("centered"):
            ga = alpha * st.get("ga", np.zeros_like(p)) + (1 - alpha) * g
            st["ga"] = ga
            vt = v - ga * ga
        if mom > 0:
            st["buf"] = mom * st.get("buf", np.zeros_like(p)) + \
                g / (np.sqrt(vt) + eps)
            return p - lr * st["buf"]
        return p - lr * g / (np.sqrt(vt) + eps)
    raise AssertionError(kind)


DEFAULT_LR = {"sgd": 1e-3, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2}
DEFAULT_WD = {"adamw": 1e-2}


def run_reference(kind, groups, steps=STEPS):
    """groups: list of (names, cfg).  Returns the trajectory."""
    P = {k: v.copy() for k, v in INIT.items()}
    state = {k: {} for k in NAMES}
    traj = []
    for s in range(steps):
        g = numpy_grads(P, s)
        for names, cfg in groups:
            cfg = dict(cfg)
            cfg.setdefault("lr", DEFAULT_LR[kind])
            cfg.setdefault("weight_decay", DEFAULT_WD.get(kind, 0.0))
            for k in names:
                if g[k] is None:
                    continue
                P[k] = ref_update(kind, cfg, P[k], g[k], state[k])
        traj.append({k: v.copy() for k, v in P.items()})
    return traj


# ------------------------------------------------------------------ torch

TORCH_CLS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW",
             "rmsprop": "RMSprop"}
AD_CLS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW,
          "rmsprop": optim.RMSprop}


def run_torch(kind, groups, steps=STEPS, dtype=None):
    dtype = dtype or torch.float64
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True)
         for k, v in INIT.items()}
    tgroups = [dict(cfg, params=[P[k] for k in names])
               for names, cfg in groups]
    if len(tgroups) == 1:
        opt = getattr(torch.optim, TORCH_CLS[kind])(
            tgroups[0].pop("params"), **tgroups[0])
    else:
        opt = getattr(torch.optim, TORCH_CLS[kind])(tgroups)
    c = torch.tensor(C_U, dtype=dtype)
    traj = []
    for s in range(steps):
        X, Y = (torch.tensor(a, dtype=dtype) for a in BATCHES[s])
        opt.zero_grad(set_to_none=True)
        pred = torch.tanh(X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
        loss = ((pred - Y) ** 2).sum() / (2.0 * N)
        if uses_u(s):
            loss = loss + (P["u"] ** 3 / 3.0 - P["u"] * c).sum()
        loss.backward()
        opt.step()
        traj.append({k: v.detach().numpy().copy() for k, v in P.items()})
    return traj


def assert_traj(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    assert len(actual) == len(expected)
    for s, (a, e) in enumerate(zip(actual, expected)):
        for k in NAMES:
            np.testing.assert_allclose(
                a[k], e[k], rtol=rtol, atol=atol,
                err_msg="%s: %s after step %d" % (what, k, s + 1))


CONFIGS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("sgd", dict(lr=0.1, weight_decay=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd", dict()),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("adam", dict(lr=0.01, weight_decay=0.1)),
    ("adam", dict(lr=0.01, amsgrad=True)),
    ("adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("adam", dict()),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw", dict(lr=0.01, amsgrad=True)),
    ("adamw", dict()),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.005, momentum=0.9)),
    ("rmsprop", dict(lr=0.005, momentum=0.5, centered=True,
                     weight_decay=0.1)),
    ("rmsprop", dict(lr=0.01, weight_decay=0.05, eps=1e-4)),
]
CONFIG_IDS = ["%s-%s" % (k, "-".join("%s=%s" % kv for kv in c.items())
                         or "defaults") for k, c in CONFIGS]


@pytest.mark.parametrize("kind,cfg", CONFIGS, ids=CONFIG_IDS)
def test_trajectory_matches_reference_and_torch(kind, cfg):
    traj, net, opt = run_autodiff(lambda ps: AD_CLS[kind](ps, **cfg))
    ref = run_reference(kind, [(NAMES, cfg)])
    assert_traj(traj, ref, what="reference")
    # The parameters really moved, and u only on its steps.
    assert not np.allclose(traj[-1]["W1"], INIT["W1"])
    np.testing.assert_array_equal(traj[1]["u"], traj[0]["u"])
    assert not np.array_equal(traj[3]["u"], traj[2]["u"])
    # Step counts are per parameter: u saw a gradient on 7 of 20 steps
    # (SGD's state_dict has no step, as torch's).
    sd = opt.state_dict()
    if kind == "sgd":       # torch's SGD state: the momentum buffer alone
        assert sorted(sd["state"]) == ([0, 1, 2, 3, 4] if cfg.get("momentum")
                                       else [])
        assert all(set(st) == {"momentum_buffer"}
                   for st in sd["state"].values())
    else:
        assert sd["state"][0]["step"] == STEPS
    steps = [opt.state[p]["step"] for p in net.params()]
    assert steps[0] == STEPS
    assert steps[4] == sum(uses_u(s) for s in range(STEPS))
    if torch is not None:
        assert_traj(traj, run_torch(kind, [(NAMES, cfg)]), what="torch")


@needs_torch
def test_reference_agrees_with_torch():
    # The reference itself is checked against torch on a few hard cases, so
    # a wrong reference cannot make the trajectory tests pass vacuously.
    for kind, cfg in [("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
                      ("adam", dict(lr=0.01, amsgrad=True,
                                    weight_decay=0.05)),
                      ("rmsprop", dict(lr=0.005, momentum=0.5, centered=True,
                                       weight_decay=0.1))]:
        assert_traj(run_reference(kind, [(NAMES, cfg)]),
                    run_torch(kind, [(NAMES, cfg)]), what=kind)


GROUPS = [
    ("sgd", [(("W1", "b1"), dict(lr=0.1)),
             (("W2", "b2", "u"), dict(lr=0.01, momentum=0.9))]),
    ("adam", [(("W1", "b1", "u"), dict(lr=0.02)),
              (("W2", "b2"), dict(lr=0.001, amsgrad=True))]),
    ("rmsprop", [(("W1",), dict(lr=0.01)),
                 (("b1", "W2", "b2", "u"), dict(lr=0.001, centered=True))]),
]


@pytest.mark.parametrize("kind,groups", GROUPS, ids=[g[0] for g in GROUPS])
def test_param_groups_with_different_lr(kind, groups):
    def make(ps):
        by = dict(zip(NAMES, ps))
        return AD_CLS[kind]([dict(cfg, params=[by[k] for k in names])
                             for names, cfg in groups])
    traj, _, opt = run_autodiff(make)
    assert [g["lr"] for g in opt.param_groups] == \
        [cfg["lr"] for _, cfg in groups]
    assert_traj(traj, run_reference(kind, groups), what="reference")
    if torch is not None:
        assert_traj(traj, run_torch(kind, groups), what="torch")
    # Different lrs really give a different trajectory from a single group.
    single = run_reference(kind, [(NAMES, groups[0][1])])
    assert not np.allclose(traj[-1]["W2"], single[-1]["W2"])


def test_group_lr_change_takes_effect():
    # Changing param_groups[i]["lr"] between steps (what a scheduler does)
    # must reach the C update.
    p = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    for lr in (0.1, 0.5, 0.0, 0.25):
        opt.param_groups[0]["lr"] = lr
        before = p.numpy()
        p.grad = ad.tensor([1.0, -3.0], dtype=ad.float64)
        opt.step()
        np.testing.assert_allclose(p.numpy(), before - lr * np.array(
            [1.0, -3.0]), rtol=1e-15)


def test_defaults_match_torch_signature():
    p = ad.tensor([1.0], requires_grad=True)
    assert optim.SGD([p]).defaults["lr"] == pytest.approx(1e-3)
    assert optim.Adam([p]).defaults["betas"] == (0.9, 0.999)
    assert optim.AdamW([p]).defaults["weight_decay"] == pytest.approx(1e-2)
    assert optim.RMSprop([p]).defaults["alpha"] == pytest.approx(0.99)
    if torch is not None:
        tp = [torch.zeros(1, requires_grad=True)]
        for name, cls in (("SGD", optim.SGD), ("Adam", optim.Adam),
                          ("AdamW", optim.AdamW), ("RMSprop", optim.RMSprop)):
            tdef = getattr(torch.optim, name)(tp).defaults
            for k, v in cls([p]).defaults.items():
                assert tdef[k] == v, (name, k, tdef[k], v)


# ---------------------------------------------------------------- zero_grad

def test_zero_grad_set_to_none_true_and_false():
    net = Net()
    opt = optim.SGD(net.params(), lr=0.1)
    net.loss(0).backward()
    grads = [p.grad for p in net.params()]
    assert all(g is not None for g in grads)
    assert any(np.any(g.numpy() != 0) for g in grads)

    opt.zero_grad(set_to_none=False)
    for p, g in zip(net.params(), grads):
        assert p.grad is not None
        assert p.grad.shape == p.shape
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))

    # After zeroing in place, backward accumulates into zeros: the same
    # gradient as a fresh one.
    net.loss(1).backward()
    acc = [p.grad.numpy() for p in net.params()[:4]]
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in net.params())
    net.loss(1).backward()
    for a, p in zip(acc, net.params()[:4]):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-14)
    assert net.u.grad is None          # step 1 does not use u

    # The default is set_to_none=True, as in torch.
    opt.zero_grad()
    assert all(p.grad is None for p in net.params())


def test_zero_grad_false_still_steps_zero_grads():
    # A zeroed (not None) gradient is a real gradient of zero: Adam counts
    # the step, like torch; SGD without decay leaves the value unchanged.
    p = ad.tensor([1.0, -1.0], dtype=ad.float64, requires_grad=True)
    q = ad.tensor([3.0], dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = ad.tensor([1.0, 1.0], dtype=ad.float64)
    q.grad = ad.tensor([1.0], dtype=ad.float64)
    opt.step()
    opt.zero_grad(set_to_none=False)
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, -1.1], rtol=1e-15)
    np.testing.assert_allclose(q.numpy(), [2.9], rtol=1e-15)


# ------------------------------------------------------- state_dict resume

RESUME = [
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd", dict(lr=0.1)),
    ("adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
    ("rmsprop", dict(lr=0.005, momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("kind,cfg", RESUME, ids=[r[0] for r in RESUME])
@pytest.mark.parametrize("via_file", [False, True], ids=["memory", "file"])
def test_state_dict_resume_is_exact(kind, cfg, via_file, tmp_path):
    make = lambda ps: AD_CLS[kind](ps, **cfg)            # noqa: E731
    full, _, _ = run_autodiff(make, steps=STEPS)

    half = STEPS // 2 + 1        # u's step count differs from the others'
    first, net, opt = run_autodiff(make, steps=half)
    opt_sd, model_sd = opt.state_dict(), net.state_dict()
    if via_file:
        ad.save({"model": net, "optim": opt}, tmp_path / "ckpt.npz")
        del net, opt
        ck = ad.load(tmp_path / "ckpt.npz")
        opt_sd, model_sd = ck["optim"], ck["model"]
    else:
        opt_sd = copy.deepcopy(opt_sd)
        model_sd = {k: v.numpy() for k, v in model_sd.items()}

    net2 = Net()
    net2.load_state_dict(model_sd)
    opt2 = make(net2.params())
    opt2.load_state_dict(opt_sd)
    rest, _, _ = run_autodiff(make, steps=STEPS - half, net=net2, opt=opt2,
                              start=half)
    for s, (a, b) in enumerate(zip(first + rest, full)):
        for k in NAMES:
            np.testing.assert_array_equal(
                a[k], b[k], err_msg="%s after step %d" % (k, s + 1))


def test_fresh_optimizer_does_not_resume():
    # Control for the resume test: without the loaded state the trajectory
    # differs, so the exact-equality test above can fail.
    make = lambda ps: optim.Adam(ps, lr=0.01)           # noqa: E731
    full, _, _ = run_autodiff(make)
    first, net, _ = run_autodiff(make, steps=10)
    rest, _, _ = run_autodiff(make, steps=10, net=net, opt=make(net.params()),
                              start=10)
    assert not np.array_equal(rest[-1]["W1"], full[-1]["W1"])


def test_state_dict_layout_and_snapshot():
    net = Net()
    opt = optim.Adam(net.params(), lr=0.01, amsgrad=True)
    assert opt.state_dict()["state"] == {}
    run_autodiff(None, steps=3, net=net, opt=opt)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3, 4]
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3, 4]
    assert sd["param_groups"][0]["lr"] == 0.01
    st0 = sd["state"][0]
    assert set(st0) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert st0["step"] == 3 and sd["state"][4]["step"] == 1
    assert st0["exp_avg"].shape == (HID, IN)
    # The state dict is a snapshot: later steps do not change it.
    saved = {k: v.copy() for k, v in st0.items() if k != "step"}
    run_autodiff(None, steps=2, net=net, opt=opt, start=3)
    for k, v in saved.items():
        np.testing.assert_array_equal(sd["state"][0][k], v)
    assert sd["state"][0]["step"] == 3
    assert opt.state_dict()["state"][0]["step"] == 5


def test_load_state_dict_mismatch_raises_and_changes_nothing():
    net = Net()
    opt = optim.SGD(net.params(), lr=0.1, momentum=0.9)
    run_autodiff(None, steps=2, net=net, opt=opt)
    sd = opt.state_dict()
    bad = copy.deepcopy(sd)
    bad["state"][0]["momentum_buffer"] = np.zeros((2, 2))
    bad["param_groups"][0]["lr"] = 123.0
    with pytest.raises(ValueError, match="parameter 0 momentum_buffer"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(
        opt.state_dict()["state"][0]["momentum_buffer"],
        sd["state"][0]["momentum_buffer"])
    other = optim.SGD(net.params()[:2], lr=0.1)
    with pytest.raises(ValueError, match="group of size"):
        other.load_state_dict(sd)
    two = optim.SGD([{"params": net.params()[:2]},
                     {"params": net.params()[2:]}], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        two.load_state_dict(sd)


# ------------------------------------------------------------------ float32

@pytest.mark.parametrize("kind,cfg", [
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict(lr=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
    ("rmsprop", dict(lr=0.005, momentum=0.5, centered=True)),
], ids=["sgd", "adam", "adamw", "rmsprop"])
def test_float32_model(kind, cfg):
    traj, net, opt = run_autodiff(lambda ps: AD_CLS[kind](ps, **cfg),
                                  dtype=ad.float32)
    for p in net.params():
        assert p.dtype == np.float32
    for st in opt.state_dict()["state"].values():
        for k, v in st.items():
            if k != "step":
                assert v.dtype == np.float32, k
    ref = run_reference(kind, [(NAMES, cfg)])
    assert_traj(traj, ref, rtol=2e-4, atol=2e-5, what="float64 reference")
    if torch is not None:
        assert_traj(traj, run_torch(kind, [(NAMES, cfg)],
                                    dtype=torch.float32),
                    rtol=1e-4, atol=1e-5, what="torch float32")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW,
                                 optim.RMSprop])
def test_bad_input(cls):
    p = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        cls([p], lr=-0.1)
    with pytest.raises(ValueError, match="learning rate"):
        cls([{"params": [p], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(iter(()), lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        cls([p * 2.0], lr=0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        cls([p], lr=0.1, weight_decay=-1.0)
    with pytest.raises(TypeError):
        cls(p, lr=0.1)                         # a Tensor, not an iterable
    with pytest.raises(TypeError, match="Tensors"):
        cls([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        cls([{"params": [p]}, {"params": [p]}], lr=0.1)
    q = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter group"):
        cls([{"params": [q]}, {"params": []}], lr=0.1)


def test_bad_hyperparameters():
    p = ad.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="beta parameter at index 0"):
        optim.AdamW([p], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="epsilon"):
        optim.RMSprop([p], eps=-1e-8)


def test_param_without_grad_is_skipped():
    p = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    q = ad.tensor([3.0], dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([q, p], lr=0.1, weight_decay=0.5)
    q.grad = ad.tensor([1.0], dtype=ad.float64)
    opt.step()
    np.testing.assert_allclose(q.numpy(), [3.0 - 0.1 * (1.0 + 0.5 * 3.0)])
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])


# -------------------------------------------------------------- schedulers

def _pair(lr=0.1, n_groups=1):
    ps = [ad.tensor([1.0], requires_grad=True) for _ in range(n_groups)]
    groups = [{"params": [q], "lr": lr * (i + 1)} for i, q in enumerate(ps)]
    ours = optim.SGD(groups, lr=lr)
    theirs = None
    if torch is not None:
        tps = [torch.zeros(1, requires_grad=True) for _ in range(n_groups)]
        theirs = torch.optim.SGD([{"params": [q], "lr": lr * (i + 1)}
                                  for i, q in enumerate(tps)], lr=lr)
    return ours, theirs


def _lr_sequence(opt, sched, epochs, metrics=None):
    seq = [[g["lr"] for g in opt.param_groups]]
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        seq.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == seq[-1]
    return np.array(seq)


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5),
     lambda b, e: b * 0.5 ** (e // 3)),
    ("StepLR", dict(step_size=1, gamma=0.9),
     lambda b, e: b * 0.9 ** e),
    ("ExponentialLR", dict(gamma=0.8),
     lambda b, e: b * 0.8 ** e),
    ("CosineAnnealingLR", dict(T_max=10),
     lambda b, e: (b * (1 + math.cos(math.pi * e / 10)) / 2)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01),
     lambda b, e: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * e / 7)) / 2),
]


@pytest.mark.parametrize("name,kw,formula", SCHEDULERS,
                         ids=["%s-%d" % (s[0], i)
                              for i, s in enumerate(SCHEDULERS)])
def test_scheduler_lr_sequence(name, kw, formula):
    epochs = 25
    ours, theirs = _pair(0.1, n_groups=2)
    sched = getattr(lr_scheduler, name)(ours, **kw)
    seq = _lr_sequence(ours, sched, epochs)
    expected = np.array([[formula(b, e) for b in (0.1, 0.2)]
                         for e in range(epochs + 1)])
    np.testing.assert_allclose(seq, expected, rtol=1e-12, atol=1e-15)
    assert len(set(seq[:, 0])) > 2                     # the lr did change
    if theirs is not None:
        tsched = getattr(torch.optim.lr_scheduler, name)(theirs, **kw)
        tseq = _lr_sequence(theirs, tsched, epochs)
        np.testing.assert_allclose(seq, tseq, rtol=1e-10, atol=1e-15)


PLATEAU_METRICS = [10, 9, 9, 9, 9, 9, 8.5, 8.5, 8.5, 8.5, 8, 8.0001, 8, 8,
                   8, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7]


@pytest.mark.parametrize("kw,metrics", [
    (dict(patience=2), PLATEAU_METRICS),
    (dict(patience=1, factor=0.5, cooldown=2), PLATEAU_METRICS),
    (dict(patience=0, factor=0.5, min_lr=0.02), PLATEAU_METRICS),
    (dict(patience=1, threshold=0.1, threshold_mode="abs"), PLATEAU_METRICS),
    (dict(mode="max", patience=2, factor=0.3),
     [20 - m for m in PLATEAU_METRICS]),
    (dict(mode="max", patience=1, threshold_mode="abs", threshold=0.5),
     [1, 2, 2.2, 2.4, 3, 3.1, 3.2, 3.3, 3.9, 4, 4, 4, 4, 4, 4]),
], ids=["min", "cooldown", "min_lr", "abs", "max", "max-abs"])
def test_reduce_lr_on_plateau(kw, metrics):
    ours, theirs = _pair(0.1, n_groups=2)
    sched = lr_scheduler.ReduceLROnPlateau(ours, **kw)
    seq = _lr_sequence(ours, sched, len(metrics), metrics)
    assert seq[-1, 0] < seq[0, 0]                      # it did reduce
    if "min_lr" not in kw:     # both groups are reduced together (until
        big = seq[:, 0] > 1e-7  # a reduction would be below eps=1e-8)
        np.testing.assert_allclose(seq[big, 1], 2 * seq[big, 0], rtol=1e-12)
    if theirs is not None:
        tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kw)
        tseq = _lr_sequence(theirs, tsched, len(metrics), metrics)
        np.testing.assert_allclose(seq, tseq, rtol=1e-12, atol=0)


def test_reduce_lr_on_plateau_by_hand():
    # patience=2: the lr falls on the third epoch without improvement.
    ours, _ = _pair(1.0)
    sched = lr_scheduler.ReduceLROnPlateau(ours, patience=2, factor=0.5)
    lrs = []
    for m in [5, 4, 4, 4, 4, 4, 4, 3]:
        sched.step(m)
        lrs.append(ours.param_groups[0]["lr"])
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]


def test_scheduler_bad_input():
    opt, _ = _pair()
    with pytest.raises(ValueError):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError):
        lr_scheduler.ReduceLROnPlateau(opt, mode="best")


def test_scheduler_drives_training_lr():
    # A scheduler's lr reaches the C update: with StepLR the second half
    # of the steps moves the parameter half as far.
    p = ad.tensor([0.0], dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    pos = []
    for _ in range(4):
        p.grad = ad.tensor([-1.0], dtype=ad.float64)
        opt.step()
        sched.step()
        pos.append(p.item())
    np.testing.assert_allclose(np.diff([0.0] + pos),
                               [0.1, 0.1, 0.05, 0.05], rtol=1e-14)


def test_scheduler_state_dict_round_trip():
    opt, _ = _pair(0.1)
    # as in torch, the current lr lives in the optimizer (StepLR updates
    # it recursively): a resume loads both state dicts
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    opt2, _ = _pair(0.1)
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sd)
    for _ in range(4):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched2.get_last_lr() == sched.get_last_lr()


# ------------------------------------------------------------ step(closure)

def test_step_with_closure():
    # The closure is evaluated with grad enabled (even under no_grad), its
    # loss is returned, and the update uses the gradients it computed.
    net = Net()
    opt = optim.SGD(net.params(), lr=0.1)
    ref = run_reference("sgd", [(NAMES, dict(lr=0.1))], steps=1)[0]

    def closure():
        opt.zero_grad()
        loss = net.loss(0)
        loss.backward()
        return loss
    with ad.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, ad.Tensor)
    X, Y = BATCHES[0]
    P = INIT
    pred = np.tanh(X @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]
    expected = ((pred - Y) ** 2).sum() / (2 * N) + \
        (P["u"] ** 3 / 3 - P["u"] * C_U).sum()
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    for k, v in net.snapshot().items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-12, err_msg=k)
    assert opt.step() is None


def test_repr_lists_groups():
    p = ad.tensor([1.0], requires_grad=True)
    q = ad.tensor([1.0], requires_grad=True)
    r = repr(optim.Adam([{"params": [p]}, {"params": [q], "lr": 0.5}],
                        lr=0.01))
    assert r.startswith("Adam (") and "Parameter Group 1" in r
    assert "lr: 0.01" in r and "lr: 0.5" in r and "amsgrad: False" in r


def test_interrupt_never_half_applies_a_multi_group_step():
    # A KeyboardInterrupt may land before any Python line of step(); with
    # two parameter groups the update must still be all or nothing.
    import dis
    import sys
    from autodiff.optim.optimizer import Optimizer

    def make():
        a = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
        b = ad.tensor([3.0], dtype=ad.float64, requires_grad=True)
        opt = ad.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}],
                           lr=0.1, momentum=0.9)
        ((a * a).sum() + (b * b).sum()).backward()
        return a, b, opt

    a, b, opt = make()
    before = (a.numpy(), b.numpy())
    opt.step()
    after = (a.numpy(), b.numpy())
    code = Optimizer.step.__code__
    lines = sorted({ln for _, ln in dis.findlinestarts(code)
                    if ln is not None and ln != code.co_firstlineno})
    fired = 0
    for line, hit in [(ln, h) for ln in lines for h in (1, 2, 3)]:
        a, b, opt = make()
        seen = [0]

        def local(frame, event, arg, line=line, hit=hit, seen=seen):
            if event == "line" and frame.f_lineno == line:
                seen[0] += 1
                if seen[0] == hit:
                    raise KeyboardInterrupt
            return local

        def glob(frame, event, arg):
            return local if frame.f_code is code else None

        old = sys.gettrace()
        sys.settrace(glob)
        try:
            opt.step()
        except KeyboardInterrupt:
            fired += 1
        finally:
            sys.settrace(old)
        state = (a.numpy(), b.numpy())
        applied = [np.array_equal(s, t) for s, t in zip(state, after)]
        untouched = [np.array_equal(s, t) for s, t in zip(state, before)]
        assert all(applied) or all(untouched), (line, state)
    assert fired >= 3
