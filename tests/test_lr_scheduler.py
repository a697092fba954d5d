"""Learning-rate schedulers against torch.optim.lr_scheduler: each scheduler
runs on our optimizer and torch's runs on a torch optimizer side by side,
and every group's lr (and momentum / beta1 where a scheduler cycles it)
must be the same float at every step; also resumes (last_epoch=k and
state_dict mid-run), torch's warnings and error messages, and compiled
training steps that a scheduler changes between replays."""
import math
import re
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.optim import lr_scheduler
from conftest import lazy_torch

torch = lazy_torch()
tsched = lazy_torch("torch.optim.lr_scheduler")

LRS = (0.1, 0.03, 0.25)          # one lr per parameter group


def make_opts(kind="sgd", n_groups=2):
    """Our optimizer and torch's, with n_groups groups of one parameter."""
    ours_p = [ad.tensor([1.0], requires_grad=True) for _ in range(n_groups)]
    theirs_p = [torch.zeros(1, requires_grad=True) for _ in range(n_groups)]
    out = []
    for lib, ps in ((optim, ours_p), (torch.optim, theirs_p)):
        groups = [{"params": [p], "lr": LRS[i]} for i, p in enumerate(ps)]
        if kind == "sgd":
            out.append(lib.SGD(groups, lr=0.1, momentum=0.9))
        elif kind == "sgd0":
            out.append(lib.SGD(groups, lr=0.1))
        else:
            out.append(lib.Adam(groups, lr=0.1, betas=(0.9, 0.99)))
    return out


def values(opt):
    """Every group's lr, momentum (SGD) and beta1 (Adam): what a scheduler
    may change."""
    out = []
    for g in opt.param_groups:
        out += [g["lr"], g.get("momentum"), g.get("betas", (None,))[0]]
    return out


def run(opt, sched, steps, metrics=None, epochs=None):
    """[values after construction, then after each optimizer + scheduler
    step]; epochs: pass these (possibly fractional) to step(epoch)."""
    seq = [values(opt)]
    for i in range(steps):
        opt.step()
        if metrics is not None:
            sched.step(metrics[i])
        elif epochs is not None:
            sched.step(epochs[i])
        else:
            sched.step()
        seq.append(values(opt))
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    return seq


def assert_same(ours, theirs):
    """The same floats, bit for bit: the same formulas evaluated in the
    same order as torch's."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, "step %d: %r != %r" % (i, a, b)


# ------------------------------------------------------------- the cases
#
# Each case: (name, optimizer kind, builder(rng) -> (kwargs factory, steps)).
# The factory gets the module (ours or torch's) and the optimizer, so that
# SequentialLR / ChainedScheduler can build their inner schedulers.


def _lambda(rng):
    a, b = rng.uniform(0.9, 0.999), rng.integers(1, 5)
    fns = [lambda e: a ** e, lambda e: 1.0 / (1 + e // b)]
    if rng.random() < 0.5:
        return lambda m, o: m.LambdaLR(o, fns[0]), 200
    return lambda m, o: m.LambdaLR(o, fns), 200


def _multiplicative(rng):
    a = rng.uniform(0.95, 1.0)
    fns = [lambda e: a, lambda e: 1.0 - 1.0 / (e + 50)]
    if rng.random() < 0.5:
        return lambda m, o: m.MultiplicativeLR(o, fns[0]), 200
    return lambda m, o: m.MultiplicativeLR(o, fns), 200


def _step(rng):
    kw = dict(step_size=int(rng.integers(1, 30)),
              gamma=float(rng.uniform(0.3, 0.99)))
    return lambda m, o: m.StepLR(o, **kw), 300


def _multistep(rng):
    ms = sorted(int(v) for v in rng.integers(0, 250, 6))
    ms.append(ms[2])                      # a repeated milestone: gamma ** 2
    kw = dict(milestones=ms, gamma=float(rng.uniform(0.3, 0.99)))
    return lambda m, o: m.MultiStepLR(o, **kw), 300


def _constant(rng):
    kw = dict(factor=float(rng.uniform(0.05, 1.0)),
              total_iters=int(rng.integers(0, 40)))
    return lambda m, o: m.ConstantLR(o, **kw), 100


def _linear(rng):
    kw = dict(start_factor=float(rng.uniform(0.01, 1.0)),
              end_factor=float(rng.uniform(0.0, 1.0)),
              total_iters=int(rng.integers(1, 150)))
    return lambda m, o: m.LinearLR(o, **kw), 200


def _exponential(rng):
    kw = dict(gamma=float(rng.uniform(0.95, 1.0)))
    return lambda m, o: m.ExponentialLR(o, **kw), 300


def _polynomial(rng):
    kw = dict(total_iters=int(rng.integers(1, 250)),
              power=float(rng.uniform(0.3, 3.0)))
    return lambda m, o: m.PolynomialLR(o, **kw), 300


def _cosine(rng):
    kw = dict(T_max=int(rng.integers(1, 60)),
              eta_min=float(rng.choice([0.0, rng.uniform(0, 0.01)])))
    return lambda m, o: m.CosineAnnealingLR(o, **kw), 300


def _warm_restarts(rng):
    kw = dict(T_0=int(rng.integers(1, 20)), T_mult=int(rng.integers(1, 4)),
              eta_min=float(rng.choice([0.0, rng.uniform(0, 0.01)])))
    return lambda m, o: m.CosineAnnealingWarmRestarts(o, **kw), 300


def _cyclic(rng):
    mode = str(rng.choice(["triangular", "triangular2", "exp_range"]))
    kw = dict(base_lr=[float(v) for v in rng.uniform(1e-4, 1e-2, 2)],
              max_lr=float(rng.uniform(0.05, 0.5)),
              step_size_up=int(rng.integers(1, 40)),
              step_size_down=(None if rng.random() < 0.3
                              else int(rng.integers(1, 40))),
              mode=mode, gamma=float(rng.uniform(0.98, 1.0)),
              base_momentum=float(rng.uniform(0.7, 0.85)),
              max_momentum=[float(v) for v in rng.uniform(0.86, 0.95, 2)])
    if rng.random() < 0.3:
        kw.update(scale_fn=lambda x: 0.5 * (1 + math.sin(x * math.pi / 2)),
                  scale_mode=str(rng.choice(["cycle", "iterations"])))
    if rng.random() < 0.2:
        kw["cycle_momentum"] = False
    return lambda m, o: m.CyclicLR(o, **kw), 300


def _one_cycle(rng):
    total = int(rng.integers(20, 300))
    kw = dict(max_lr=[float(v) for v in rng.uniform(0.05, 1.0, 2)],
              pct_start=float(rng.uniform(0.05, 0.45)),
              anneal_strategy=str(rng.choice(["cos", "linear"])),
              div_factor=float(rng.uniform(5, 50)),
              final_div_factor=float(rng.uniform(10, 1e4)),
              three_phase=bool(rng.random() < 0.5),
              base_momentum=float(rng.uniform(0.7, 0.85)),
              max_momentum=float(rng.uniform(0.86, 0.98)))
    if rng.random() < 0.5:
        kw["total_steps"] = total
    else:
        kw.update(epochs=int(rng.integers(1, 10)),
                  steps_per_epoch=int(rng.integers(2, 30)))
        total = kw["epochs"] * kw["steps_per_epoch"]
    if rng.random() < 0.2:
        kw["cycle_momentum"] = False
    return lambda m, o: m.OneCycleLR(o, **kw), total


def _sequential(rng):
    a, b = sorted(int(v) for v in rng.choice(np.arange(1, 150), 2,
                                             replace=False))
    f, g, t = (float(rng.uniform(0.1, 1)), float(rng.uniform(0.9, 0.99)),
               int(rng.integers(5, 80)))

    def make(m, o):
        return m.SequentialLR(o, [m.ConstantLR(o, factor=f, total_iters=3),
                                  m.ExponentialLR(o, gamma=g),
                                  m.CosineAnnealingLR(o, T_max=t)], [a, b])
    return make, 250


def _chained(rng):
    f, g, s = (float(rng.uniform(0.1, 1)), float(rng.uniform(0.9, 0.99)),
               int(rng.integers(2, 20)))

    def make(m, o):
        return m.ChainedScheduler([m.ConstantLR(o, factor=f, total_iters=7),
                                   m.ExponentialLR(o, gamma=g),
                                   m.StepLR(o, step_size=s, gamma=0.5)])
    return make, 200


CASES = [("LambdaLR", "sgd", _lambda),
         ("MultiplicativeLR", "sgd", _multiplicative),
         ("StepLR", "sgd", _step), ("MultiStepLR", "adam", _multistep),
         ("ConstantLR", "sgd", _constant), ("LinearLR", "adam", _linear),
         ("ExponentialLR", "sgd", _exponential),
         ("PolynomialLR", "sgd", _polynomial),
         ("CosineAnnealingLR", "sgd", _cosine),
         ("CosineAnnealingWarmRestarts", "adam", _warm_restarts),
         ("CyclicLR-sgd", "sgd", _cyclic), ("CyclicLR-adam", "adam", _cyclic),
         ("OneCycleLR-sgd", "sgd", _one_cycle),
         ("OneCycleLR-adam", "adam", _one_cycle),
         ("SequentialLR", "sgd", _sequential),
         ("ChainedScheduler", "adam", _chained)]
SEEDS = range(4)


def _params(cases=CASES):
    return [pytest.param(kind, build, seed, id="%s-%d" % (name, seed))
            for name, kind, build in cases for seed in SEEDS]


@pytest.mark.parametrize("kind,build,seed", _params())
def test_sequence_matches_torch(kind, build, seed):
    make, steps = build(np.random.default_rng(seed))
    ours, theirs = make_opts(kind)
    seq = run(ours, make(lr_scheduler, ours), steps)
    tseq = run(theirs, make(tsched, theirs), steps)
    assert_same(seq, tseq)
    assert len({s[0] for s in seq}) > 1                 # the lr did change


@pytest.mark.parametrize("kind,build,seed", _params())
def test_state_dict_resume_matches_torch(kind, build, seed):
    # k steps, then a new optimizer and scheduler load both state dicts
    # and continue; the original continues too
    rng = np.random.default_rng(seed)
    make, steps = build(rng)
    k = int(rng.integers(1, steps - 1))
    seqs = []
    for mod, opt in zip((lr_scheduler, tsched), make_opts(kind)):
        sched = make(mod, opt)
        run(opt, sched, k)
        sd = sched.state_dict()
        assert "optimizer" not in sd
        opt2 = make_opts(kind)[0 if mod is lr_scheduler else 1]
        sched2 = make(mod, opt2)
        opt2.load_state_dict(opt.state_dict())
        sched2.load_state_dict(sd)
        assert sched2.get_last_lr() == sched.get_last_lr()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            seqs.append(run(opt2, sched2, steps - k))
        assert run(opt, sched, steps - k) == seqs[-1]
    assert_same(*seqs)


RESUMABLE = [c for c in CASES
             if c[0] not in ("SequentialLR", "ChainedScheduler")]


@pytest.mark.parametrize("kind,build,seed", _params(RESUMABLE))
def test_last_epoch_resume_matches_torch(kind, build, seed):
    # a run of k steps, then a second scheduler built with last_epoch=k on
    # the same optimizer (its groups hold initial_lr etc.) continues
    rng = np.random.default_rng(seed)
    make, steps = build(rng)
    k = int(rng.integers(0, steps - 2))
    seqs = []
    for mod, opt in zip((lr_scheduler, tsched), make_opts(kind)):
        run(opt, make(mod, opt), k)
        seqs.append(run(opt, _with_last_epoch(make, mod, opt, k),
                        steps - k - 1))
    assert_same(*seqs)


def _with_last_epoch(make, mod, opt, k):
    """make's scheduler, but built with last_epoch=k."""
    def cls_with_last_epoch(name):
        cls = getattr(mod, name)
        return lambda *a, **kw: cls(*a, last_epoch=k, **kw)
    shim = type("M", (), {n: staticmethod(cls_with_last_epoch(n))
                          for n in lr_scheduler.__all__})
    return make(shim, opt)


def test_last_epoch_needs_initial_lr():
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        with pytest.raises(KeyError, match=re.escape(
                "param 'initial_lr' is not specified in param_groups[0] "
                "when resuming scheduler with last_epoch >= 0")):
            mod.StepLR(opt, step_size=2, last_epoch=3)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs(T_mult):
    # per-batch stepping: step(epoch + i / iters) with fractional epochs
    rng = np.random.default_rng(T_mult)
    epochs = sorted(float(v) for v in rng.uniform(0, 60, 150))
    epochs[:0] = [0.0, 0.25, 1.0, 4.0, 4.5]
    seqs = []
    for mod, opt in zip((lr_scheduler, tsched), make_opts("adam")):
        s = mod.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=T_mult,
                                            eta_min=1e-3)
        seqs.append(run(opt, s, len(epochs), epochs=epochs))
    assert_same(*seqs)
    for e, v in zip(epochs, seqs[0][1:]):       # the closed form
        ti, tc = 4, e
        while tc >= ti:
            tc -= ti
            ti *= T_mult
        want = 1e-3 + (LRS[0] - 1e-3) * (1 + math.cos(math.pi * tc / ti)) / 2
        assert v[0] == pytest.approx(want, rel=1e-9)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but "
                                         "got -1"):
        s.step(-1)


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.5)),
    ("ConstantLR", dict(factor=0.5, total_iters=4)),
    ("LinearLR", dict(start_factor=0.2, total_iters=6)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("PolynomialLR", dict(total_iters=8, power=2.0)),
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e)))])
def test_step_with_epoch_uses_closed_form(name, kw):
    # the deprecated step(epoch): torch's warning and its closed form
    seqs = []
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        s = getattr(mod, name)(opt, **kw)
        seq = []
        for e in [3, 1, 7, 12, 5, 0, 9]:
            opt.step()
            with pytest.warns(UserWarning, match=re.escape(
                    lr_scheduler.EPOCH_DEPRECATION_WARNING)):
                s.step(e)
            seq.append(s.get_last_lr())
        seqs.append(seq)
    assert_same(*seqs)


# ------------------------------------------------------ ReduceLROnPlateau

@pytest.mark.parametrize("seed", range(6))
def test_plateau_matches_torch(seed):
    rng = np.random.default_rng(seed)
    mode = str(rng.choice(["min", "max"]))
    kw = dict(mode=mode, factor=float(rng.uniform(0.1, 0.9)),
              patience=int(rng.integers(0, 6)),
              threshold=float(rng.choice([1e-4, 0.01, 0.5])),
              threshold_mode=str(rng.choice(["rel", "abs"])),
              cooldown=int(rng.integers(0, 4)),
              min_lr=(float(rng.uniform(0, 1e-3)) if seed % 2
                      else [1e-3, 1e-5]),
              eps=float(rng.choice([1e-8, 1e-4])))
    # a noisy decreasing (or increasing) curve with plateaus
    steps = 300
    trend = np.repeat(rng.uniform(0, 1, steps // 10).cumsum(), 10)
    metric = trend + rng.normal(0, 0.2, steps)
    if mode == "min":
        metric = -metric
    seqs, scheds = [], []
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        s = mod.ReduceLROnPlateau(opt, **kw)
        seqs.append(run(opt, s, steps, metrics=[float(m) for m in metric]))
        scheds.append(s)
    assert_same(*seqs)
    assert seqs[0][-1][0] < seqs[0][0][0]               # it did reduce
    for key in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
        assert getattr(scheds[0], key) == getattr(scheds[1], key)


def test_plateau_state_dict_resume():
    metric = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
    seqs = []
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        s = mod.ReduceLROnPlateau(opt, mode="max", patience=1, cooldown=1)
        run(opt, s, 6, metrics=[-m for m in metric])
        sd = s.state_dict()
        opt2 = make_opts()[0 if mod is lr_scheduler else 1]
        s2 = mod.ReduceLROnPlateau(opt2)            # mode etc. come back
        opt2.load_state_dict(opt.state_dict())
        s2.load_state_dict(sd)
        seqs.append(run(opt2, s2, 10, metrics=[-m for m in metric[6:]]))
        assert s2.mode_worse == -math.inf
    assert_same(*seqs)


# --------------------------------------------- CyclicLR / OneCycleLR: more

def test_cycle_momentum_needs_momentum():
    ours, theirs = make_opts()
    for mod, opt in ((lr_scheduler, ours), (tsched, theirs)):
        opt.defaults.pop("momentum")
        msg = ("optimizer must support momentum or beta1 with "
               "`cycle_momentum` option enabled")
        with pytest.raises(ValueError, match=re.escape(msg)):
            mod.CyclicLR(opt, 0.01, 0.1)
        with pytest.raises(ValueError, match=re.escape(msg)):
            mod.OneCycleLR(opt, 0.1, total_steps=10)
        s = mod.CyclicLR(opt, 0.01, 0.1, cycle_momentum=False)
        if mod is lr_scheduler:
            # ours raised before changing anything; torch's OneCycleLR set
            # initial_lr = max_lr / div_factor first, which CyclicLR's
            # initial step then uses
            assert s.get_last_lr() == [0.01, 0.01]
        else:
            assert s.get_last_lr() == [0.1 / 25] * 2


class Scale:
    """A callable object: its __dict__ goes into state_dict()."""

    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return 1.0 / (1 + self.k * x)


def test_callable_objects_in_state_dict():
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        s = mod.CyclicLR(opt, 0.01, 0.1, step_size_up=3, scale_fn=Scale(2))
        lam = mod.LambdaLR(opt, [Scale(3), lambda e: 1.0])
        sd, lsd = s.state_dict(), lam.state_dict()
        assert sd["_scale_fn_custom"] == {"k": 2}
        assert "_scale_fn_ref" not in sd
        assert lsd["lr_lambdas"] == [{"k": 3}, None]
        s2 = mod.CyclicLR(opt, 0.01, 0.1, step_size_up=3, scale_fn=Scale(9))
        s2.load_state_dict(sd)
        assert s2._scale_fn_custom.k == 2
        lam2 = mod.LambdaLR(opt, [Scale(5), lambda e: 1.0])
        lam2.load_state_dict(lsd)
        assert lam2.lr_lambdas[0].k == 3
        assert lsd["lr_lambdas"] == [{"k": 3}, None]    # not consumed


def test_one_cycle_past_total_steps():
    for mod, opt in zip((lr_scheduler, tsched), make_opts()):
        s = mod.OneCycleLR(opt, 0.1, total_steps=5)
        run(opt, s, 5)
        with pytest.raises(ValueError, match=re.escape(
                "Tried to step 6 times. The specified number of total "
                "steps is 5")):
            s.step()


# --------------------------------------------------------------- warnings

def _warned(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [str(x.message) for x in w]


def test_warnings_as_torch():
    ours, theirs = make_opts()
    got = []
    for mod, opt in ((lr_scheduler, ours), (tsched, theirs)):
        w = []
        s = mod.StepLR(opt, step_size=2)
        w.append(_warned(s.step))                 # before optimizer.step()
        s = mod.StepLR(opt, step_size=2)
        opt.step()
        w.append(_warned(s.step))                 # the right order: none
        w.append(_warned(s.get_lr))               # get_lr outside step()
        s = mod.ExponentialLR(opt, gamma=0.9)
        opt.step = lambda closure=None: None      # overridden afterwards
        w.append(_warned(s.step))
        w.append(_warned(s.step))                 # only on the first step
        got.append(w)
    assert got[0] == got[1]
    assert "before `optimizer.step()`" in got[0][0][0]
    assert got[0][1] == []
    assert "please use `get_last_lr()`" in got[0][2][0]
    assert "has been overridden" in got[0][3][0]
    assert got[0][4] == []


def test_optimizer_with_scheduler_still_copies():
    # the wrapper of step() the scheduler installs is not copied (as torch)
    import copy
    import pickle
    ours, _ = make_opts()
    lr_scheduler.StepLR(ours, step_size=2)
    ours.step()
    for dup in (copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):
        assert "step" not in vars(dup) and "_opt_called" not in vars(dup)
        assert dup.param_groups[0]["initial_lr"] == LRS[0]


# ------------------------------------------------------------ bad input

def _bad_cases(o):
    return [
        lambda m: m.ConstantLR(o, factor=1.5),
        lambda m: m.ConstantLR(o, factor=-0.1),
        lambda m: m.LinearLR(o, start_factor=0),
        lambda m: m.LinearLR(o, start_factor=1.2),
        lambda m: m.LinearLR(o, end_factor=-1),
        lambda m: m.LambdaLR(o, [lambda e: 1.0] * 3),
        lambda m: m.MultiplicativeLR(o, [lambda e: 1.0]),
        lambda m: m.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda m: m.CosineAnnealingWarmRestarts(o, T_0=2.5),
        lambda m: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0),
        lambda m: m.CosineAnnealingWarmRestarts(o, T_0=3, eta_min="0"),
        lambda m: m.CyclicLR(o, [0.1], 0.2),
        lambda m: m.CyclicLR(o, 0.1, (0.2, 0.3, 0.4)),
        lambda m: m.CyclicLR(o, 0.1, 0.2, mode="sawtooth"),
        lambda m: m.CyclicLR(o, 0.1, 0.2, max_momentum=[0.9]),
        lambda m: m.OneCycleLR(o, 0.1),
        lambda m: m.OneCycleLR(o, 0.1, total_steps=0),
        lambda m: m.OneCycleLR(o, 0.1, total_steps=5.0),
        lambda m: m.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3),
        lambda m: m.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1),
        lambda m: m.OneCycleLR(o, 0.1, total_steps=9, pct_start=1.5),
        lambda m: m.OneCycleLR(o, 0.1, total_steps=9, pct_start=1),
        lambda m: m.OneCycleLR(o, 0.1, total_steps=9, anneal_strategy="x"),
        lambda m: m.OneCycleLR(o, [0.1], total_steps=9),
        lambda m: m.ReduceLROnPlateau(o, factor=1.0),
        lambda m: m.ReduceLROnPlateau(o, mode="best"),
        lambda m: m.ReduceLROnPlateau(o, threshold_mode="relative"),
        lambda m: m.ReduceLROnPlateau(o, min_lr=[0.1]),
        lambda m: m.SequentialLR(o, [], []),
        lambda m: m.SequentialLR(o, [m.StepLR(o, 2)], [3]),
        lambda m: m.SequentialLR(o, [m.ReduceLROnPlateau(o)], []),
        lambda m: m.ChainedScheduler([]),
        lambda m: m.ChainedScheduler([m.ReduceLROnPlateau(o)]),
    ]


@pytest.mark.parametrize("i", range(len(_bad_cases(None))))
def test_bad_arguments_raise_torch_message(i):
    ours, theirs = make_opts()
    with pytest.raises(ValueError) as want:
        _bad_cases(theirs)[i](tsched)
    before = [dict((k, v) for k, v in g.items() if k != "params")
              for g in ours.param_groups]
    with pytest.raises(ValueError, match=re.escape(str(want.value))):
        _bad_cases(ours)[i](lr_scheduler)
    if i < 28:        # nothing changed (the others build inner schedulers)
        assert [dict((k, v) for k, v in g.items() if k != "params")
                for g in ours.param_groups] == before


def test_bad_arguments_where_torch_divides_by_zero():
    # torch fails later with ZeroDivisionError; ours says why at once
    ours, _ = make_opts()
    with pytest.raises(ValueError, match="step_size must be a positive "
                                         "integer, got 0"):
        lr_scheduler.StepLR(ours, step_size=0)
    with pytest.raises(ValueError, match="T_max must be positive, got 0"):
        lr_scheduler.CosineAnnealingLR(ours, T_max=0)
    with pytest.raises(ValueError, match="total_iters must be a positive "
                                         "integer, got 0"):
        lr_scheduler.PolynomialLR(ours, total_iters=0)


def test_not_an_optimizer():
    for mod in (lr_scheduler, tsched):
        for make in (lambda: mod.StepLR([1], 2),
                     lambda: mod.ReduceLROnPlateau([1]),
                     lambda: mod.CyclicLR("sgd", 0.1, 0.2),
                     lambda: mod.OneCycleLR(None, 0.1, total_steps=3)):
            with pytest.raises(TypeError, match="is not an Optimizer"):
                make()


def test_added_group_is_a_clear_error():
    # torch's zip(strict=True) fails with a bare message; ours names why
    ours, theirs = make_opts()
    s = lr_scheduler.LambdaLR(ours, lambda e: 0.5)
    ts = tsched.LambdaLR(theirs, lambda e: 0.5)
    ours.add_param_group({"params": [ad.tensor([0.0], requires_grad=True)]})
    theirs.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    ours.step()
    theirs.step()
    with pytest.raises(ValueError, match="zip"):
        ts.step()
    with pytest.raises(ValueError, match="the optimizer has 3 parameter "
                                         "groups but the scheduler has 2 "
                                         "learning rates"):
        s.step()


# ------------------------------------------------ compiled training steps

def _bits(t):
    return np.asarray(t.numpy()).tobytes()


COMPILED = [
    ("sgd", lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.2, step_size_up=2,
                                            mode="triangular2")),
    ("adam", lambda o: lr_scheduler.CyclicLR(o, 0.001, 0.05, step_size_up=3,
                                             mode="exp_range", gamma=0.9)),
    ("adam", lambda o: lr_scheduler.OneCycleLR(o, 0.05, total_steps=12,
                                               three_phase=True)),
    ("sgd", lambda o: lr_scheduler.OneCycleLR(o, 0.3, total_steps=12,
                                              anneal_strategy="linear")),
    ("sgd", lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 3, 2)),
    ("sgd", lambda o: lr_scheduler.LinearLR(o, 0.1, total_iters=6)),
    ("adam", lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.ConstantLR(o, 0.5, 2),
            lr_scheduler.PolynomialLR(o, 8, 2.0)], [3])),
    ("sgd", lambda o: lr_scheduler.ChainedScheduler(
        [lr_scheduler.MultiStepLR(o, [2, 4], 0.5),
         lr_scheduler.MultiplicativeLR(o, lambda e: 0.9)])),
    ("sgd", lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0,
                                                     factor=0.5)),
    # SGD built without momentum: CyclicLR's constructor sets it, so the
    # first step already has the momentum buffers
    ("sgd0", lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.2, step_size_up=3)),
]


@pytest.mark.parametrize("kind,make", COMPILED,
                         ids=[str(i) for i in range(len(COMPILED))])
def test_compiled_step_follows_scheduler(kind, make):
    # eager and ad.compile'd training steps, the scheduler stepped between
    # them: bit-identical parameters, and no recording again (the lr,
    # momentum and betas reach the replay through the group writes)
    twins = []
    for _ in range(2):
        ad.manual_seed(3)
        m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        o = (optim.Adam(m.parameters(), lr=0.01) if kind == "adam" else
             optim.SGD(m.parameters(), lr=0.1,
                       momentum=0.9 if kind == "sgd" else 0.0))
        twins.append((m, o, make(o)))

    def train(m, o, x, y):
        loss = nn.functional.cross_entropy(m(x), y)
        o.zero_grad()
        loss.backward()
        o.step()
        return loss

    step = ad.compile(train)
    lrs = set()
    for i in range(12):
        rng = np.random.default_rng(i)
        x = rng.standard_normal((6, 5)).astype(np.float32)
        y = rng.integers(0, 3, 6)
        losses = [fn(m, o, x, y) for fn, (m, o, _) in
                  zip((train, step), twins)]
        assert _bits(losses[0]) == _bits(losses[1]), i
        for p, q in zip(twins[0][0].parameters(), twins[1][0].parameters()):
            assert _bits(p) == _bits(q), i
        for (m, o, s), loss in zip(twins, losses):
            if isinstance(s, lr_scheduler.ReduceLROnPlateau):
                s.step(5.0)                              # a plateau
            else:
                s.step()
        assert values(twins[0][1]) == values(twins[1][1])
        lrs.add(twins[0][1].param_groups[0]["lr"])
    assert len(lrs) > 3
    assert step.recordings == 1
