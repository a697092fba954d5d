"""The compile contract: a compiled call gives bit for bit what running fn
eagerly at that moment would give, or records again, or raises
NotCompilableError.  Each test is a situation where replays used to
silently diverge from eager; each runs an eager twin and a compiled twin
from the same seed and compares bits."""
import gc

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.optim import lr_scheduler


def bits(t):
    return np.asarray(t.numpy()).tobytes()


def same_params(m1, m2):
    for (n, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters()):
        assert bits(a) == bits(b), n


def twins(opt=lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), seed=0,
          dtype=np.float32, din=5, dout=3):
    out = []
    for _ in range(2):
        ad.manual_seed(seed)
        m = nn.Sequential(nn.Linear(din, 8, dtype=dtype), nn.Tanh(),
                          nn.Linear(8, dout, dtype=dtype))
        out.append((m, opt(list(m.parameters()))))
    return out


def batch(i, n=6, din=5, classes=3, dtype=np.float32):
    rng = np.random.default_rng(100 + i)
    return (rng.standard_normal((n, din)).astype(dtype),
            rng.integers(0, classes, n))


def ce_step(model, opt, x, y):
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def run_both(step_fn, n=6, between=None, **kw):
    """step_fn eagerly on twin 0, compiled on twin 1, comparing bits after
    every call; between(i, twin) runs the same change on both twins."""
    (m1, o1), (m2, o2) = twins(**kw)
    step = ad.compile(step_fn)
    for i in range(n):
        x, y = batch(i)
        l1 = step_fn(m1, o1, x, y)
        l2 = step(m2, o2, x, y)
        assert bits(l1) == bits(l2), i
        same_params(m1, m2)
        if between is not None:
            between(i, (m1, o1))
            between(i, (m2, o2))
    return step, (m1, o1), (m2, o2)


# ---- 1. hyperparameters read live; structure changes record again

def test_lr_edited_in_param_groups_applies_to_replays():
    def change(i, twin):
        twin[1].param_groups[0]["lr"] = 0.5 / (i + 1)
    step, _, _ = run_both(ce_step, between=change)
    assert step.recordings == 1          # no re-recording was needed


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.7),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4),
])
# built after the first optimizer step: torch warns the same way
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_schedulers_apply_to_replays(make):
    scheds = {}

    def change(i, twin):
        scheds.setdefault(id(twin[1]), make(twin[1])).step()
    run_both(ce_step, between=change, n=7)


@pytest.mark.parametrize("key,values", [
    ("momentum", [0.5, 0.0, 0.99]), ("weight_decay", [0.1, 0.0, 0.3]),
    ("dampening", [0.2, 0.5, 0.0])])
def test_sgd_options_edited_after_recording(key, values):
    def change(i, twin):
        twin[1].param_groups[0][key] = values[i % len(values)]
    run_both(ce_step, between=change)


@pytest.mark.parametrize("key,values", [
    ("betas", [(0.8, 0.99), (0.5, 0.9)]), ("eps", [1e-3, 1e-6]),
    ("weight_decay", [0.1, 0.0]), ("amsgrad", [True, False])])
def test_adam_options_edited_after_recording(key, values):
    def change(i, twin):
        twin[1].param_groups[0][key] = values[i % len(values)]
    run_both(ce_step, between=change,
             opt=lambda ps: optim.Adam(ps, lr=0.05))


def test_momentum_switched_on_after_recording():
    def change(i, twin):
        if i == 2:
            twin[1].param_groups[0]["momentum"] = 0.9
    run_both(ce_step, between=change, opt=lambda ps: optim.SGD(ps, lr=0.1))


def test_param_group_added_after_first_step_is_trained():
    def build():
        ad.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        ps = list(m.parameters())
        return m, optim.SGD(ps[:2], lr=0.1)
    (m1, o1), (m2, o2) = build(), build()
    step = ad.compile(ce_step)
    for i in range(5):
        x, y = batch(i)
        l1 = ce_step(m1, o1, x, y)
        l2 = step(m2, o2, x, y)
        assert bits(l1) == bits(l2)
        if i == 1:
            for m, o in ((m1, o1), (m2, o2)):
                o.add_param_group({"params": list(m.parameters())[2:],
                                   "lr": 0.3})
    same_params(m1, m2)
    # the late group really trained (eagerly too)
    ad.manual_seed(0)
    fresh = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    assert bits(list(fresh.parameters())[2]) != bits(list(m1.parameters())[2])


def test_parameter_appended_to_a_group_is_trained():
    def build():
        ad.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
        ps = list(m.parameters())
        return m, optim.Adam(ps[:3], lr=0.05), ps[3]
    (m1, o1, b1), (m2, o2, b2) = build(), build()
    before = bits(b1)
    step = ad.compile(ce_step)
    for i in range(5):
        x, y = batch(i)
        assert bits(ce_step(m1, o1, x, y)) == bits(step(m2, o2, x, y))
        if i == 1:
            o1.param_groups[0]["params"].append(b1)
            o2.param_groups[0]["params"].append(b2)
    same_params(m1, m2)
    assert bits(b1) != before


# ---- 2. optimizer state loaded after recording

@pytest.mark.parametrize("opt", [
    lambda ps: optim.Adam(ps, lr=0.05),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True)])
def test_load_state_dict_after_recording(opt):
    (m1, o1), (m2, o2) = twins(opt=opt)
    step = ad.compile(ce_step)
    saved = None
    for i in range(8):
        x, y = batch(i)
        assert bits(ce_step(m1, o1, x, y)) == bits(step(m2, o2, x, y)), i
        same_params(m1, m2)
        if i == 2:
            saved = (o1.state_dict(), m1.state_dict())
            saved = ({"state": {k: dict(v) for k, v in
                                saved[0]["state"].items()},
                      "param_groups": saved[0]["param_groups"]},
                     {k: v.numpy() for k, v in saved[1].items()})
        if i == 5:              # roll both back to step 3
            for m, o in ((m1, o1), (m2, o2)):
                o.load_state_dict(saved[0])
                m.load_state_dict(saved[1])
        sd1, sd2 = o1.state_dict(), o2.state_dict()
        for k in sd1["state"]:
            for name, v in sd1["state"][k].items():
                w = sd2["state"][k][name]
                assert np.asarray(v).tobytes() == np.asarray(w).tobytes(), \
                    (i, k, name)


# ---- 3. gradients read after backward() inside the compiled function

def sgd_step(model, x, y):
    """The README's manual update: reads p.grad after backward()."""
    loss = nn.functional.cross_entropy(model(x), y)
    for p in model.parameters():
        p.grad = None
    loss.backward()
    with ad.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-0.1)
    return loss


def manual_step(model, opt, x, y):
    return sgd_step(model, x, y)


def test_manual_update_reads_each_steps_gradient():
    run_both(manual_step)


def test_grad_read_after_backward_is_fresh_each_replay():
    (m1, o1), (m2, o2) = twins()

    def f(model, opt, x, y):
        loss = ce_step(model, opt, x, y)
        return loss, model[0].weight.grad

    step = ad.compile(f)
    for i in range(4):
        x, y = batch(i)
        l1, g1 = f(m1, o1, x, y)
        l2, g2 = step(m2, o2, x, y)
        assert bits(g1) == bits(g2) and bits(l1) == bits(l2)
        assert bits(m2[0].weight.grad) == bits(g1)


def test_zero_grad_in_place_zeroes_whatever_grad_exists_at_replay():
    def f(model, opt, x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss
    run_both(f)


def test_accumulating_gradients_without_zero_grad():
    def f(model, opt, x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss
    _, (m1, _), (m2, _) = run_both(f, n=4)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert bits(a.grad) == bits(b.grad)


# ---- 4. values computed from data at record time

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index_divisor_follows_each_batch(reduction):
    def f(model, opt, x, y):
        per = nn.functional.cross_entropy(model(x), y, ignore_index=1,
                                          reduction=reduction)
        loss = per if reduction != "none" else per.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    step, _, _ = run_both(f, n=8)
    assert step.recordings == 1


def test_nll_mean_with_every_label_ignored_is_nan_as_torch():
    x = ad.tensor(np.zeros((3, 4)), requires_grad=True)
    loss = ad.nll_loss(x, [2, 2, 2], ignore_index=2)
    assert np.isnan(loss.item())


# ---- 5. integer and odd-dtype arguments flow in on every call

@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.bool_,
                                   np.float16, np.float64])
def test_array_arguments_of_any_dtype_flow_in(dtype):
    w = ad.tensor(np.linspace(-1, 1, 12).reshape(4, 3), requires_grad=True)

    def f(pix):
        x = ad.tensor(pix) / 255.0
        loss = (ad.tensor(x) @ w).tanh().sum()
        w.grad = None
        loss.backward()
        return loss, w.grad

    step = ad.compile(f)
    rng = np.random.default_rng(0)
    for i in range(4):
        pix = rng.integers(0, 2 if dtype is np.bool_ else 250,
                           (5, 4)).astype(dtype)
        le, ge = f(pix)
        ge = ge.numpy()
        lc, gc_ = step(pix)
        assert bits(le) == bits(lc) and ge.tobytes() == bits(gc_), i
    assert step.recordings == 1


def test_labels_of_any_integer_dtype_flow_in():
    for dtype in (np.uint8, np.int16, np.int32):
        def f(model, opt, x, y):
            return ce_step(model, opt, x, y.astype(dtype) if False else y)
        (m1, o1), (m2, o2) = twins()
        step = ad.compile(ce_step)
        for i in range(4):
            x, y = batch(i)
            y = y.astype(dtype)
            assert bits(ce_step(m1, o1, x, y)) == bits(step(m2, o2, x, y))
        same_params(m1, m2)


@pytest.mark.parametrize("body", [
    lambda y: y - 1, lambda y: y.astype(np.float32), lambda y: y[0],
    lambda y: np.eye(3)[y], lambda y: list(y), lambda y: int(y.sum())])
def test_numpy_work_on_an_array_argument_refuses(body):
    def f(model, opt, x, y):
        body(y)
        return ce_step(model, opt, x, y)
    (m, o), _ = twins()
    step = ad.compile(f)
    before = [bits(p) for p in m.parameters()]
    x, y = batch(0)
    with pytest.raises(ad.NotCompilableError, match="numpy"):
        step(m, o, x, y)
    assert [bits(p) for p in m.parameters()] == before
    assert not ad._engine.is_capturing()


def test_float_labels_given_directly_refuse():
    (m, o), _ = twins()
    step = ad.compile(ce_step)
    x, y = batch(0)
    with pytest.raises(ad.NotCompilableError, match="integer labels"):
        step(m, o, x, y.astype(np.float32))


@pytest.mark.parametrize("labels", ["float", "bool"])
def test_trainer_with_float_or_bool_class_labels_matches_eager(labels):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 2 if labels == "bool" else 3, 40)
    y = y.astype(np.float32) if labels == "float" else y.astype(bool)
    hist = []
    for compile_ in (True, False):
        (m, o), _ = twins()
        tr = ad.Trainer(m, nn.CrossEntropyLoss(), o, compile=compile_)
        h = tr.fit(X, y, epochs=2, batch_size=8, seed=0, verbose=0)
        hist.append((h["loss"], [bits(p) for p in m.parameters()]))
        if compile_:
            assert tr._compiled.recordings >= 1 and not tr._not_compilable
    assert hist[0] == hist[1]


def test_tensor_argument_written_in_place_reaches_the_caller():
    def f(buf, w):
        with ad.no_grad():
            buf.copy_(buf * 2.0 + w)
        return buf.sum()
    step = ad.compile(f)
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    b1, b2 = ad.tensor([1.0, 1.0]), ad.tensor([1.0, 1.0])
    for i in range(3):
        r1 = f(b1, w)
        r2 = step(b2, w)
        assert bits(r1) == bits(r2) and bits(b1) == bits(b2), i


# ---- 7. identity: a recording never serves another object

def test_a_new_model_with_a_reused_id_is_trained():
    step = ad.compile(sgd_step)
    x, y = batch(0)
    reused = 0
    for trial in range(10):
        ad.manual_seed(trial)
        m = nn.Linear(5, 3)
        step(m, x, y)
        old = id(m)
        del m                   # freed at once; the next Linear takes its
        m = nn.Linear(5, 3)     # memory, and so its id
        me = nn.Linear(5, 3)
        me.load_state_dict({k: v.numpy() for k, v in m.state_dict().items()})
        reused += id(m) == old
        before = [bits(p) for p in m.parameters()]
        assert bits(step(m, x, y)) == bits(sgd_step(me, x, y))
        assert [bits(p) for p in m.parameters()] != before
        same_params(m, me)
        del m, me
    assert reused > 0           # the situation did arise


def test_recording_holds_no_strong_reference_to_the_model():
    step = ad.compile(ce_step)
    (m, o), _ = twins()
    step(m, o, *batch(0))
    import weakref
    r = weakref.ref(m)
    del m, o
    gc.collect()
    assert r() is None


# ---- state of modules and tensors

def test_eval_and_train_after_recording_record_again():
    def f(model, opt, x, y):
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        if model.training:
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss

    def toggle(i, twin):
        twin[0].train(i % 2 == 1)
    run_both(f, between=toggle)


def test_freezing_a_layer_after_recording():
    def freeze(i, twin):
        if i == 2:
            twin[0][0].weight.requires_grad_(False)
            twin[0][0].weight.grad = None
    run_both(ce_step, between=freeze)


def test_replacing_a_layer_after_recording():
    def replace(i, twin):
        if i == 2:
            ad.manual_seed(7)
            twin[0][2] = nn.Linear(8, 3)
            twin[1].add_param_group({"params": list(twin[0][2].parameters())})
    run_both(ce_step, between=replace)


# ---- 8. nesting

def test_compiled_call_inside_another_recording_runs_inline():
    inner = ad.compile(ce_step)
    (m1, o1), (m2, o2) = twins()
    step = ad.compile(lambda m, o, x, y: inner(m, o, x, y) * 1.0)
    for i in range(5):
        x, y = batch(i)
        assert bits(ce_step(m1, o1, x, y)) == bits(step(m2, o2, x, y))
    same_params(m1, m2)
    assert inner.recordings == 0 and step.recordings == 1


def test_compiled_call_inside_a_custom_backward_raises():
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    inner = ad.compile(lambda a: (w * a).sum())

    class F(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            inner(np.ones(2, np.float32))
            return g * 2.0

    x = ad.tensor([1.0, 3.0], requires_grad=True)
    y = F.apply(x).sum()
    with pytest.raises(RuntimeError, match="custom Function's backward"):
        y.backward()
    assert x.grad is None
    (x * 1.0).sum().backward()          # the engine is still usable
    assert x.grad.numpy().tolist() == [1.0, 1.0]


# ---- 6. randomness: dropout draws from the engine's stream

def dropout_model(seed=0):
    ad.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3),
                      nn.Linear(16, 3))
    return m, optim.Adam(m.parameters(), lr=0.01)


def test_dropout_replays_draw_fresh_masks_bit_identical_to_eager():
    (m1, o1), (m2, o2) = dropout_model(), dropout_model()
    step = ad.compile(ce_step)
    losses = set()
    for i in range(6):
        x, y = batch(i)
        ad.manual_seed(1000 + i)
        l1 = ce_step(m1, o1, x, y)
        ad.manual_seed(1000 + i)
        l2 = step(m2, o2, x, y)
        assert bits(l1) == bits(l2), i
        same_params(m1, m2)
    # without reseeding, consecutive replays draw different masks
    x, y = batch(0)
    for i in range(3):
        losses.add(bits(step(m2, o2, x, y)))
    assert len(losses) == 3 and step.recordings == 1


def test_trainer_compiles_models_with_dropout_and_matches_eager():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 5)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    out = []
    for compile_ in (True, False):
        m, o = dropout_model()
        tr = ad.Trainer(m, nn.CrossEntropyLoss(), o, compile=compile_)
        h = tr.fit(X, y, epochs=3, batch_size=16, seed=5, verbose=0,
                   validation_data=(X[:8], y[:8]))
        out.append((h["loss"], h["val_loss"],
                    [bits(p) for p in m.parameters()]))
        if compile_:
            assert tr._compiled.recordings >= 1 and not tr._not_compilable
    assert out[0] == out[1]


def test_dropout_mask_statistics_and_gradient():
    ad.manual_seed(3)
    x = ad.ones(200, 100, dtype=ad.float64, requires_grad=True)
    y = nn.functional.dropout(x, 0.25)
    mask = y.numpy()
    kept = mask != 0
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.75}
    assert abs(kept.mean() - 0.75) < 0.01
    y.sum().backward()
    assert x.grad.numpy().tobytes() == mask.tobytes()


def test_dropout_is_reproducible_from_the_rng_state():
    x = ad.tensor(np.arange(1.0, 41.0).reshape(4, 10))
    state = ad.get_rng_state()
    a = nn.functional.dropout(x, 0.5)
    b = nn.functional.dropout(x, 0.5)
    ad.set_rng_state(state)
    c = nn.functional.dropout(x, 0.5)
    assert bits(a) == bits(c) and bits(a) != bits(b)


def test_dropout_gradcheck_and_gradgradcheck_with_a_fixed_stream():
    x = ad.tensor(np.random.default_rng(0).standard_normal((3, 4)),
                  requires_grad=True)
    state = ad.get_rng_state()

    def f(t):
        ad.set_rng_state(state)
        return nn.functional.dropout(t, 0.4) * t
    assert ad.gradcheck(f, (x,))
    assert ad.gradgradcheck(f, (x,))


def test_dropout_with_a_numpy_generator_refuses_to_compile():
    m = nn.Sequential(nn.Linear(5, 3),
                      nn.Dropout(0.5, generator=np.random.default_rng(0)))
    o = optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ad.NotCompilableError, match="generator"):
        ad.compile(ce_step)(m, o, *batch(0))


# ---- the call's fast path binds exactly what the general path binds

def test_fast_path_matches_eager_for_every_argument_form():
    w = ad.tensor(np.linspace(-1, 1, 6).reshape(3, 2), dtype=ad.float64,
                  requires_grad=True)

    def f(x, scale, *rest, k=1.0):
        out = (ad.tensor(x) @ w).tanh().sum() * scale * k
        for r in rest:
            out = out + ad.tensor(r).sum()
        return out

    step = ad.compile(f)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 3))
    calls = [
        (base, 2.0), (base * 3, 2.0), (np.asfortranarray(base), 2.0),
        (base[:, ::-1], 2.0), (base.astype(np.float32), 2.0),
        (base, 3.0), (base, 2), (base, np.float64(2.0)),
        (base, 2.0, np.arange(3)), (base, 2.0, np.arange(3) * 2),
        (base, 2.0, np.ones(2)),
        (ad.tensor(base), 2.0), (ad.tensor(base * 2), 2.0),
    ]
    for args in calls * 2:
        assert bits(step(*args)) == bits(f(*args)), args[1:]
        assert bits(step(*args, k=0.5)) == bits(f(*args, k=0.5))


@pytest.mark.parametrize("body", [
    lambda w, x: ad.autograd.grad((w * x).sum(), w)[0].sum(),
    lambda w, x: ad.grad(lambda v: (v * x).sum())(w).sum(),
    lambda w, x: (w * x).sum().backward(create_graph=True)])
def test_higher_order_inside_a_recording_refuses(body):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    step = ad.compile(lambda x: body(w, ad.tensor(x)))
    with pytest.raises(ad.NotCompilableError, match="Python"):
        step(np.ones(2))
    assert not ad._engine.is_capturing()


def test_trainer_model_sees_a_tensor_and_compiles():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 3)

        def forward(self, x):                # Tensor methods on the input
            return self.fc(x.reshape(x.shape[0], -1) * 0.5)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 2, 3)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    out = []
    for compile_ in (True, False):
        ad.manual_seed(0)
        m = Net()
        tr = ad.Trainer(m, nn.CrossEntropyLoss(),
                        optim.SGD(m.parameters(), lr=0.1), compile=compile_)
        h = tr.fit(X, y, epochs=2, batch_size=8, seed=0, verbose=0)
        out.append((h["loss"], [bits(p) for p in m.parameters()]))
        if compile_:
            assert tr._compiled.recordings == 1 and not tr._not_compilable
    assert out[0] == out[1]
