"""The differential harness of ad.compile.

Hypothesis draws a model (layers, activations, dropout, dtype), a loss, an
optimizer, a scheduler and a sequence of actions -- training steps with
batches of varying size, learning-rate and option edits, scheduler steps,
saving and loading optimizer and model state, adding parameter groups,
reading gradients, reseeding, train/eval toggles, freezing a layer.  Two
twins built from the same seed run it: one calls the step function
eagerly, the other through ad.compile.  After every action their losses,
parameters, gradients and optimizer state must be equal bit for bit.  The
Trainer gets the same treatment (compile=True against compile=False).

All tests are derandomized so CI is deterministic; AUTODIFF_FUZZ_EXAMPLES
multiplies the number of examples.
"""
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import autodiff as ad
from autodiff import nn, optim
from autodiff.optim import lr_scheduler
from fuzz_helpers import fuzz_settings

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              # random action orders step a scheduler before the optimizer
              # now and then: torch's warning, as torch gives it
              pytest.mark.filterwarnings(
                  "ignore:Detected call of `lr_scheduler.step")]


DIN, CLASSES = 5, 4

ACTIVATIONS = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU, "elu": lambda: nn.ELU(alpha=0.7), "selu": nn.SELU,
    "silu": nn.SiLU, "leaky": lambda: nn.LeakyReLU(0.05),
    "softplus": lambda: nn.Softplus(beta=2.0),
    "hardtanh": lambda: nn.Hardtanh(-0.5, 2.0), "relu6": nn.ReLU6,
    "hardsigmoid": nn.Hardsigmoid, "hardswish": nn.Hardswish,
    "mish": nn.Mish, "logsigmoid": nn.LogSigmoid, "softsign": nn.Softsign,
    "tanhshrink": nn.Tanhshrink, "celu": lambda: nn.CELU(alpha=0.5),
}

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9,
                                         nesterov=True, weight_decay=1e-3),
    "sgd_dampening": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5,
                                          dampening=0.3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam_amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True,
                                          weight_decay=1e-2),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "rmsprop_centered": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5,
                                                 centered=True),
}

OPTIONS = {           # hyperparameters an action may set, per optimizer
    "sgd": {"momentum": [0.0, 0.5], "weight_decay": [0.0, 0.01]},
    "sgd_momentum": {"momentum": [0.9, 0.3], "weight_decay": [0.0, 0.1]},
    "sgd_dampening": {"dampening": [0.0, 0.3]},
    "adam": {"betas": [(0.9, 0.999), (0.8, 0.9)], "eps": [1e-8, 1e-4],
             "amsgrad": [False, True]},
    "adam_amsgrad": {"weight_decay": [0.0, 0.1]},
    "adamw": {"weight_decay": [0.01, 0.2], "betas": [(0.9, 0.99)]},
    "rmsprop": {"alpha": [0.99, 0.9], "momentum": [0.0, 0.4],
                "centered": [False, True]},
    "rmsprop_centered": {"eps": [1e-8, 1e-3]},
}

SCHEDULERS = {
    "none": None,
    "step": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "exp": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5),
}


def _labels(y, n_out):
    return y % n_out


LOSSES = {
    # name: (out features, fn(out, y_int, y_float), target kind)
    "ce": (CLASSES, lambda o, y, t: nn.functional.cross_entropy(o, y)),
    "ce_ignore": (CLASSES, lambda o, y, t: nn.functional.cross_entropy(
        o, y, ignore_index=1)),
    "ce_sum": (CLASSES, lambda o, y, t: nn.CrossEntropyLoss(
        reduction="sum")(o, y) * 0.1),
    "nll": (CLASSES, lambda o, y, t: nn.functional.nll_loss(
        ad.log_softmax(o, axis=1), y)),
    "mse": (2, lambda o, y, t: nn.functional.mse_loss(o, t)),
    "l1": (2, lambda o, y, t: nn.L1Loss()(o, t)),
    "bce_logits": (2, lambda o, y, t: nn.functional
                   .binary_cross_entropy_with_logits(o, t)),
    "bce": (2, lambda o, y, t: nn.BCELoss()(ad.sigmoid(o), t)),
}


def build(cfg):
    ad.manual_seed(cfg["seed"])
    dt = cfg["dtype"]
    n_out = LOSSES[cfg["loss"]][0]
    layers, width = [], DIN
    for i, (w, act, drop) in enumerate(cfg["layers"]):
        layers += [nn.Linear(width, w, dtype=dt), ACTIVATIONS[act]()]
        if drop:
            layers.append(nn.Dropout(drop))
        width = w
    layers.append(nn.Linear(width, n_out, dtype=dt))
    model = nn.Sequential(*layers)
    opt = OPTIMIZERS[cfg["opt"]](list(model.parameters()))
    make = SCHEDULERS[cfg["sched"]]
    return {"model": model, "opt": opt, "sched": make(opt) if make else None}


def make_step(cfg):
    loss_fn = LOSSES[cfg["loss"]][1]

    def step(model, opt, x, y, t):
        out = model(ad.tensor(x))
        loss = loss_fn(out, y, ad.tensor(t))
        opt.zero_grad(set_to_none=cfg["set_to_none"])
        loss.backward()
        opt.step()
        return loss, model[0].weight.grad

    return step


def batch(cfg, i, n):
    rng = np.random.default_rng(1000 + i)
    x = rng.standard_normal((n, DIN)).astype(cfg["dtype"])
    y = rng.integers(0, CLASSES, n)
    if cfg["loss"] == "ce_ignore":
        y[: n // 3] = 1                 # a varying share is ignored
    t = rng.uniform(0.05, 0.95, (n, 2)).astype(cfg["dtype"])
    return x, y, t


def bits(t):
    return None if t is None else np.asarray(t.numpy()).tobytes()


def snapshot(tw):
    model, opt = tw["model"], tw["opt"]
    sd = opt.state_dict()
    state = {k: {n: np.asarray(v).tobytes() for n, v in st.items()}
             for k, st in sd["state"].items()}
    return ([bits(p) for p in model.parameters()],
            [bits(p.grad) for p in model.parameters()],
            state, [{k: v for k, v in g.items() if k != "params"}
                    for g in sd["param_groups"]], model.training)


def act(tw, action, cfg):
    """Apply one non-step action to a twin (the same on both)."""
    kind = action[0]
    model, opt = tw["model"], tw["opt"]
    if kind == "lr":
        for g in opt.param_groups:
            g["lr"] = action[1]
    elif kind == "option":
        _, key, value = action
        for g in opt.param_groups:
            g[key] = value
    elif kind == "sched":
        if tw["sched"] is not None:
            tw["sched"].step()
    elif kind == "save":
        tw["saved"] = (
            {"state": {k: {n: (np.array(v) if isinstance(v, np.ndarray)
                               else v) for n, v in st.items()}
                       for k, st in opt.state_dict()["state"].items()},
             "param_groups": opt.state_dict()["param_groups"]},
            {k: v.numpy() for k, v in model.state_dict().items()})
    elif kind == "load":
        if "saved" in tw and len(tw["saved"][0]["param_groups"]) == len(
                opt.param_groups):
            opt.load_state_dict(tw["saved"][0])
            model.load_state_dict(tw["saved"][1])
    elif kind == "train":
        model.train(action[1])
    elif kind == "freeze":
        p = model[0].weight
        p.requires_grad_(not action[1])
        p.grad = None
    elif kind == "split_group":
        # move the last layer into a group of its own, with its own lr
        last = list(model[-1].parameters())
        if len(opt.param_groups) == 1:
            g = opt.param_groups[0]["params"]
            g[:] = [q for q in g if all(q is not p for p in last)]
            opt.add_param_group({"params": last, "lr": action[1]})
            if tw["sched"] is not None:   # as in torch, a scheduler holds
                # one base lr per group: build it again for the new group
                tw["sched"] = SCHEDULERS[cfg["sched"]](opt)


@st.composite
def configs(draw):
    nlayers = draw(st.integers(1, 2))
    layers = [(draw(st.sampled_from([4, 7])),
               draw(st.sampled_from(sorted(ACTIVATIONS))),
               draw(st.sampled_from([0.0, 0.0, 0.3])))
              for _ in range(nlayers)]
    cfg = {"seed": draw(st.integers(0, 3)), "layers": layers,
           "dtype": draw(st.sampled_from([np.float32, np.float64])),
           "loss": draw(st.sampled_from(sorted(LOSSES))),
           "opt": draw(st.sampled_from(sorted(OPTIMIZERS))),
           "sched": draw(st.sampled_from(sorted(SCHEDULERS))),
           "set_to_none": draw(st.booleans())}
    options = OPTIONS[cfg["opt"]]
    action = st.one_of(
        st.tuples(st.just("step"), st.sampled_from([3, 6, 6, 9])),
        st.tuples(st.just("step"), st.sampled_from([6])),
        st.tuples(st.just("lr"), st.sampled_from([0.001, 0.02, 0.1])),
        st.sampled_from([("option", k, v) for k, vs in options.items()
                         for v in vs]),
        st.just(("sched",)), st.just(("save",)), st.just(("load",)),
        st.tuples(st.just("train"), st.booleans()),
        st.tuples(st.just("freeze"), st.booleans()),
        st.tuples(st.just("split_group"), st.sampled_from([0.003, 0.05])),
        st.tuples(st.just("seed"), st.integers(0, 5)),
    )
    cfg["actions"] = draw(st.lists(action, min_size=3, max_size=14))
    return cfg


@fuzz_settings(300)
@given(cfg=configs())
def test_compiled_steps_equal_eager_after_every_action(cfg):
    note(repr(cfg))
    eager, comp = build(cfg), build(cfg)
    step = make_step(cfg)
    compiled = ad.compile(step)
    i = 0
    for action in cfg["actions"]:
        if action[0] == "seed":
            eager["seed"] = comp["seed"] = action[1]
            continue
        if action[0] != "step":
            act(eager, action, cfg)
            act(comp, action, cfg)
        else:
            x, y, t = batch(cfg, i, action[1])
            i += 1
            s = eager.get("seed", 0) * 1000 + i
            ad.manual_seed(s)
            le, ge = step(eager["model"], eager["opt"], x, y, t)
            le, ge = bits(le), bits(ge)
            ad.manual_seed(s)
            lc, gc_ = compiled(comp["model"], comp["opt"], x, y, t)
            assert bits(lc) == le, (i, action)
            assert bits(gc_) == ge, (i, action)
        assert snapshot(eager) == snapshot(comp), (i, action)


@fuzz_settings(60)
@given(cfg=configs(), epochs=st.integers(1, 3),
       batch_size=st.sampled_from([5, 8, 16]),
       scheduler=st.booleans(), validate=st.booleans())
def test_trainer_compiled_equals_eager(cfg, epochs, batch_size, scheduler,
                                       validate):
    note(repr(cfg))
    rng = np.random.default_rng(cfg["seed"])
    X = rng.standard_normal((30, DIN)).astype(cfg["dtype"])
    n_out = LOSSES[cfg["loss"]][0]
    classify = n_out == CLASSES
    y = (rng.integers(0, CLASSES, 30) if classify else
         rng.uniform(0.05, 0.95, (30, n_out)).astype(cfg["dtype"]))
    loss = {"ce": nn.CrossEntropyLoss(), "ce_ignore":
            nn.CrossEntropyLoss(ignore_index=1), "ce_sum":
            nn.CrossEntropyLoss(reduction="sum"), "nll": None,
            "mse": nn.MSELoss(), "l1": nn.L1Loss(),
            "bce_logits": nn.BCEWithLogitsLoss(), "bce": None}[cfg["loss"]]
    if loss is None:
        loss = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    runs = []
    for compile_ in (True, False):
        tw = build(cfg)
        tr = ad.Trainer(tw["model"], loss, tw["opt"], compile=compile_)
        cbs = [ad.LRSchedulerCallback(tw["sched"])] if (
            scheduler and tw["sched"] is not None) else []
        h = tr.fit(X, y, epochs=epochs, batch_size=batch_size, seed=7,
                   verbose=0, callbacks=cbs,
                   validation_data=(X[:10], y[:10]) if validate else None)
        runs.append(({k: v for k, v in h.history.items() if k != "time"},
                     snapshot(tw)))
        if compile_:
            assert not tr._not_compilable
    assert runs[0] == runs[1]
