"""Module containers, traversal, hooks, dtype conversion, the new
initialisers and nn.summary -- against the torch twin of each model."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import init

from conftest import lazy_torch

torch = lazy_torch()


def _tensor(lib, a):
    return ad.tensor(a) if lib is nn else torch.tensor(a)


def _twin(lib):
    """The same nested model in autodiff (lib=nn) or torch (torch.nn)."""
    T = _tensor

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(lib.Linear(3, 4),
                                           lib.BatchNorm1d(4), lib.ReLU())
            self.heads = lib.ModuleList([lib.Linear(4, 2), lib.Linear(4, 2)])
            self.extra = lib.ModuleDict(OrderedDict(
                [("proj", lib.Linear(2, 2)), ("act", lib.Tanh())]))
            self.scales = lib.ParameterList(
                [lib.Parameter(T(lib, np.ones(2, np.float32))),
                 T(lib, np.full(2, 0.5, np.float32))])
            self.offsets = lib.ParameterDict(
                {"y": T(lib, np.zeros(2, np.float32)),
                 "x": lib.Parameter(T(lib, np.full(2, 0.1, np.float32)))})
            self.register_buffer("scratch", T(lib, np.zeros(2, np.float32)),
                                 persistent=False)
            self.register_buffer("count", T(lib, np.zeros(1, np.float32)))

        def forward(self, x):
            h = self.features(x)
            h = self.heads[0](h) + self.heads[1](h)
            h = self.extra["act"](self.extra["proj"](h))
            return h * self.scales[0] * self.scales[1] + self.offsets["x"] \
                - self.offsets["y"]
    return Net()


def _pair(dtype64=True):
    a, t = _twin(nn), _twin(torch.nn)
    if dtype64:
        a.double()
        t.double()
    a.load_state_dict({k: v.detach().numpy()
                       for k, v in t.state_dict().items()})
    return a, t


def _np(x):
    if isinstance(x, np.ndarray):
        return x
    return x.detach().numpy() if hasattr(x, "detach") else x.numpy()


def _close(a, b, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)


X = np.random.default_rng(0).standard_normal((6, 3))


# ------------------------------------------------------- state dicts, repr

def test_state_dict_keys_order_and_loading_match_torch_both_ways():
    a, t = _twin(nn), _twin(torch.nn)
    assert list(a.state_dict()) == list(t.state_dict())
    assert "scratch" not in a.state_dict()          # persistent=False
    assert [n for n, _ in a.named_buffers()] == \
        [n for n, _ in t.named_buffers()]
    assert [n for n, _ in a.named_parameters()] == \
        [n for n, _ in t.named_parameters()]
    # torch -> autodiff
    a.double()
    t.double()
    a.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    _close(a(ad.tensor(X)), t(torch.tensor(X)))
    for (k, va), vt in zip(a.state_dict().items(), t.state_dict().values()):
        _close(va, vt)                  # the running stats moved alike
    # autodiff -> torch, into a fresh twin
    t2 = _twin(torch.nn).double()
    t2.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                        for k, v in a.state_dict().items()})
    a.eval()
    t2.eval()
    _close(a(ad.tensor(X)), t2(torch.tensor(X)))


def test_shared_parameters_in_state_dict_and_named_parameters():
    for lib in (nn, torch.nn):
        lin = lib.Linear(2, 2)
        m = lib.Sequential(lin, lib.ReLU(), lin)
        if lib is nn:
            ours = (list(m.state_dict()),
                    [n for n, _ in m.named_parameters()],
                    [n for n, _ in m.named_parameters(remove_duplicate=False)],
                    [n for n, _ in m.named_modules()],
                    [n for n, _ in m.named_modules(remove_duplicate=False)],
                    [n for n, _ in m.named_children()])
        else:
            theirs = (list(m.state_dict()),
                      [n for n, _ in m.named_parameters()],
                      [n for n, _ in m.named_parameters(
                          remove_duplicate=False)],
                      [n for n, _ in m.named_modules()],
                      [n for n, _ in m.named_modules(remove_duplicate=False)],
                      [n for n, _ in m.named_children()])
    assert ours == theirs
    assert ours[0] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_named_members_prefix_and_recurse_match_torch():
    a, t = _twin(nn), _twin(torch.nn)
    for kw in ({"prefix": "model"}, {"recurse": False},
               {"prefix": "m", "recurse": False}):
        assert [n for n, _ in a.named_parameters(**kw)] == \
            [n for n, _ in t.named_parameters(**kw)]
        assert [n for n, _ in a.named_buffers(**kw)] == \
            [n for n, _ in t.named_buffers(**kw)]
    assert [n for n, _ in a.named_modules(prefix="r")] == \
        [n for n, _ in t.named_modules(prefix="r")]
    assert [type(c).__name__ for c in a.children()] == \
        [type(c).__name__ for c in t.children()]
    assert len(list(a.buffers())) == len(list(t.buffers())) == 5
    assert [n for n, _ in a.named_buffers(recurse=False)] == \
        ["scratch", "count"]


def test_repr_equals_torch():
    def models(lib):
        return [
            _twin(lib),
            lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4),
                           lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(),
                           lib.Dropout(0.25), lib.Linear(16, 3)),
            lib.ModuleList([lib.Linear(2, 2) for _ in range(3)] +
                           [lib.Tanh(), lib.Tanh()]),
            lib.ModuleList(),
            lib.ModuleDict({"emb": lib.Embedding(10, 4),
                            "norm": lib.LayerNorm(4), "act": lib.GELU(),
                            "lstm": lib.LSTM(4, 8, batch_first=True)}),
            lib.TransformerEncoder(lib.TransformerEncoderLayer(
                8, 2, 16, batch_first=True), 2, enable_nested_tensor=False),
            lib.ParameterDict(),
        ]
    for a, t in zip(models(nn), models(torch.nn)):
        assert repr(a) == repr(t)
    pl = [lib.ParameterList([lib.Parameter(_tensor(lib, np.zeros((2, 3))))])
          for lib in (nn, torch.nn)]
    assert repr(pl[0]) == repr(pl[1])
    assert "(0): Parameter containing: [torch.float64 of size 2x3]" in \
        repr(pl[0])


def test_extra_repr_multiline_without_children_is_indented_as_torch():
    class M(nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"

    class TM(torch.nn.Module):
        def extra_repr(self):
            return "a=1\nb=2"
    assert repr(M()) == repr(TM()).replace("TM", "M") == "M(\n  a=1\n  b=2\n)"


# ------------------------------------------------------------- containers

def _names(m):
    return [(n, type(c).__name__ + str(getattr(c, "out_features", "")))
            for n, c in m.named_children()]


def _lin(lib, k):
    return lib.Linear(1, k)


def test_module_list_methods_match_torch():
    out = []
    for lib in (nn, torch.nn):
        ml = lib.ModuleList([_lin(lib, k) for k in (1, 2, 3)])
        ml.append(_lin(lib, 4))
        ml.extend([_lin(lib, 5)])
        ml.insert(1, _lin(lib, 6))
        ml += [_lin(lib, 7)]
        del ml[0]
        popped = ml.pop(-2)
        ml[0] = _lin(lib, 8)
        sl = ml[1:3]
        del ml[::2]
        both = ml + sl
        out.append((_names(ml), _names(sl), _names(both),
                    popped.out_features, len(ml), ml[-1].out_features,
                    list(ml.state_dict())))
    assert out[0] == out[1]
    with pytest.raises(IndexError, match="index 9 is out of range"):
        nn.ModuleList([nn.ReLU()])[9]
    with pytest.raises(TypeError, match="ModuleList takes Modules, got int"):
        nn.ModuleList().append(3)
    with pytest.raises(TypeError, match="should be called with an iterable"):
        nn.ModuleList().extend(3)


def test_sequential_methods_match_torch():
    out = []
    for lib in (nn, torch.nn):
        s = lib.Sequential(*[_lin(lib, k) for k in (1, 2, 3)])
        s.append(_lin(lib, 4))
        s.insert(0, _lin(lib, 5))
        s.insert(-1, _lin(lib, 6))
        s.extend(lib.Sequential(_lin(lib, 7)))
        del s[1]
        popped = s.pop(0)
        s[-1] = _lin(lib, 8)
        s2 = s + lib.Sequential(_lin(lib, 9))
        s3 = s[1:3] * 2
        s += lib.Sequential(_lin(lib, 10))
        del s[0:2]
        out.append((_names(s), _names(s2), _names(s3), popped.out_features,
                    type(s[1:]).__name__, list(s.state_dict())))
    assert out[0] == out[1]
    od = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh())]))
    assert list(od._modules) == ["a", "b"] and type(od[1]) is nn.Tanh
    with pytest.raises(ValueError, match="supports only objects of "
                       "Sequential class"):
        nn.Sequential() + [nn.ReLU()]
    with pytest.raises(ValueError, match="Non-positive multiplication"):
        nn.Sequential(nn.ReLU()) * 0
    with pytest.raises(IndexError, match="Index out of range: 5"):
        nn.Sequential(nn.ReLU()).insert(5, nn.ReLU())
    with pytest.raises(IndexError, match="index -3 is out of range"):
        nn.Sequential(nn.ReLU(), nn.ReLU())[-3]


def test_module_dict_methods_match_torch():
    out = []
    for lib in (nn, torch.nn):
        d = lib.ModuleDict({"b": _lin(lib, 1), "a": _lin(lib, 2)})
        d.update([("c", _lin(lib, 3)), ("b", _lin(lib, 4))])
        d.update(OrderedDict([("z", _lin(lib, 5))]))
        d["y"] = _lin(lib, 6)
        popped = d.pop("a")
        del d["c"]
        out.append((list(d.keys()), [m.out_features for m in d.values()],
                    "z" in d, "a" in d, len(d), list(iter(d)),
                    popped.out_features, list(d.state_dict())))
        d.clear()
        out.append(len(d))
    assert out[:2] == out[2:]
    with pytest.raises(KeyError):
        nn.ModuleDict()["nope"]
    with pytest.raises(TypeError, match="ModuleDict takes Modules"):
        nn.ModuleDict({"a": 1})
    with pytest.raises(ValueError, match="element #0 has length 3"):
        nn.ModuleDict([("a", nn.ReLU(), 1)])
    with pytest.raises(TypeError, match="should be called with an iterable"):
        nn.ModuleDict().update(3)


def test_parameter_list_and_dict_match_torch():
    out = []
    for lib in (nn, torch.nn):
        T = _tensor
        pl = lib.ParameterList([T(lib, np.ones(2)), T(lib, np.zeros(3))])
        pl.append(lib.Parameter(T(lib, np.ones((2, 2)))))
        pl.extend([T(lib, np.ones(1))])
        pl[0] = T(lib, np.full(2, 3.0))
        pd = lib.ParameterDict({"w": T(lib, np.ones(2)),
                                "b": T(lib, np.zeros(1))})
        pd["c"] = T(lib, np.ones(3))
        pd.update([("a", T(lib, np.ones(4)))])
        b = pd.pop("b")
        pd.setdefault("d", T(lib, np.ones(5)))
        k, _ = pd.popitem()
        m = lib.Module()
        m.pl, m.pd = pl, pd
        out.append((
            len(pl), [type(p).__name__ for p in pl],
            [tuple(p.shape) for p in pl[1:]], float(_np(pl[0])[0]),
            list(pd.keys()), tuple(b.shape), k, "w" in pd,
            pd.get("zz") is None, [tuple(v.shape) for v in pd.values()],
            list(m.state_dict()), [n for n, _ in m.named_parameters()],
            repr(pl), repr(pd), list((pd | pd.copy()).keys())))
    assert out[0] == out[1]
    with pytest.raises(IndexError, match="index 4 is out of range"):
        nn.ParameterList([ad.ones(1)] * 4)[4]
    with pytest.raises(TypeError, match="not a string"):
        nn.ParameterDict()[1]
    with pytest.raises(TypeError, match="ParameterList.extend should be "
                       "called with an iterable, but got Tensor"):
        nn.ParameterList().extend(ad.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be "
                       "called"):
        nn.ParameterList()(1)


# ------------------------------------------------------- module utilities

def test_get_submodule_parameter_buffer_as_torch():
    a, t = _twin(nn), _twin(torch.nn)
    assert a.get_submodule("features.1") is a.features[1]
    assert a.get_submodule("") is a
    assert a.get_parameter("heads.1.bias") is a.heads[1].bias
    assert a.get_buffer("features.1.running_var") is \
        a.features[1].running_var
    for target, fn in (("features.9", "get_submodule"),
                       ("features.0.weight.x", "get_submodule"),
                       ("heads.0.nope", "get_parameter"),
                       ("features.1.running_mean", "get_parameter"),
                       ("heads.0.weight", "get_buffer")):
        with pytest.raises(AttributeError) as ea:
            getattr(a, fn)(target)
        with pytest.raises(AttributeError) as et:
            getattr(t, fn)(target)
        assert str(ea.value) == str(et.value)


def test_register_buffer_checks_as_torch():
    for lib in (nn, torch.nn):
        m = lib.Linear(2, 2)
        with pytest.raises(KeyError, match="attribute 'weight' already "
                           "exists"):
            m.register_buffer("weight", _tensor(lib, np.zeros(1)))
        with pytest.raises(KeyError) as e:
            m.register_buffer("a.b", None)
        assert e.value.args[0] == 'buffer name can\'t contain "."'
        with pytest.raises(TypeError, match="cannot assign 'int' object to "
                           "buffer 'c'"):
            m.register_buffer("c", 3)
    m = nn.Linear(2, 2)
    m.register_buffer("tmp", ad.zeros(2), persistent=False)
    m.register_buffer("keep", ad.zeros(2))
    assert list(m.state_dict()) == ["weight", "bias", "keep"]
    assert [n for n, _ in m.named_buffers()] == ["tmp", "keep"]
    m.register_buffer("tmp", ad.ones(2))        # persistent again
    assert list(m.state_dict()) == ["weight", "bias", "tmp", "keep"]
    m.load_state_dict({k: v.numpy() for k, v in m.state_dict().items()})


def test_apply_requires_grad_zero_grad():
    a, t = _twin(nn), _twin(torch.nn)
    seen = []
    a.apply(lambda m: seen.append(type(m).__name__))
    tseen = []
    t.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen
    assert a.requires_grad_(False) is a
    assert not any(p.requires_grad for p in a.parameters())
    a.requires_grad_()
    a.double()
    a(ad.tensor(X)).sum().backward()
    a.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any()
               for p in a.parameters())
    a.zero_grad()
    assert all(p.grad is None for p in a.parameters())


# ------------------------------------------------------- dtype conversion

def test_to_float64_keeps_parameter_objects_and_trains_as_float64_model():
    ad.manual_seed(5)
    m32 = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(),
                        nn.Linear(5, 2))
    sd = {k: v.numpy().copy() for k, v in m32.state_dict().items()}
    params = list(m32.parameters())
    opt = ad.optim.Adam(m32.parameters(), lr=0.01)     # built before .to
    assert m32.to(ad.float64) is m32
    assert list(m32.parameters()) == params or all(
        p is q for p, q in zip(m32.parameters(), params))
    assert all(p.dtype == np.float64 and p.requires_grad for p in params)
    assert m32[1].num_batches_tracked.dtype == np.int64     # kept, as torch
    assert m32[1].running_mean.dtype == np.float64
    m64 = nn.Sequential(nn.Linear(3, 5, dtype=ad.float64),
                        nn.BatchNorm1d(5, dtype=ad.float64), nn.Tanh(),
                        nn.Linear(5, 2, dtype=ad.float64))
    m64.load_state_dict(sd)
    opt64 = ad.optim.Adam(m64.parameters(), lr=0.01)
    y = ad.tensor(np.random.default_rng(1).standard_normal((6, 2)))
    for m, o in ((m32, opt), (m64, opt64)):
        for _ in range(3):
            o.zero_grad()
            ((m(ad.tensor(X)) - y) ** 2).mean().backward()
            o.step()
    for (k, a), b in zip(m32.state_dict().items(), m64.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert opt.state[params[0]]["exp_avg"].dtype == np.float64


def test_to_after_steps_casts_optimizer_state_and_keeps_training():
    m = nn.Linear(3, 2)
    opt = ad.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    x = ad.tensor(X.astype(np.float32))
    m(x).sum().backward()
    opt.step()
    buf = opt.state[m.weight]["momentum_buffer"].numpy().astype(np.float64)
    w = m.weight.numpy().astype(np.float64)
    m.double()
    m.zero_grad()
    m(ad.tensor(X)).sum().backward()
    g = m.weight.grad.numpy()
    opt.step()
    st = opt.state[m.weight]
    assert st["momentum_buffer"].dtype == np.float64
    assert "step" not in opt.state_dict()["state"][0]      # as torch's SGD
    np.testing.assert_allclose(m.weight.numpy(), w - 0.1 * (0.9 * buf + g),
                               rtol=1e-12)


def test_to_grad_converted_type_and_errors():
    m = nn.Linear(2, 2)
    m(ad.ones(1, 2)).sum().backward()
    m.to(dtype=ad.float64)
    assert m.weight.grad.dtype == np.float64
    m.float()
    assert m.weight.dtype == np.float32 and m.bias.grad.dtype == np.float32
    bn = nn.BatchNorm1d(2)
    bn.type(ad.float64)             # torch's type(): integers too
    assert bn.num_batches_tracked.dtype == np.float64
    assert nn.Linear(1, 1).type("torch.DoubleTensor").weight.dtype == \
        np.float64
    w = m.weight
    with pytest.raises(TypeError, match="float32 or float64 only.*float16"):
        m.half()
    with pytest.raises(TypeError, match="float32 or float64 only"):
        m.to(ad.int64)
    assert m.weight is w and w.dtype == np.float32     # nothing changed
    assert m.to("cpu", ad.float64) is m and w.dtype == np.float64
    assert m.to(ad.zeros(1)).weight.dtype == np.float32


def test_to_dtype_invalidates_compiled_step():
    m = nn.Linear(3, 1)
    opt = ad.optim.SGD(m.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (m(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    f = ad.compile(step)
    f(ad.tensor(X.astype(np.float32)))
    m.double()
    ref = nn.Linear(3, 1, dtype=ad.float64)
    ref.load_state_dict(m.state_dict())
    ropt = ad.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(2):
        out = f(ad.tensor(X))
        ropt.zero_grad()
        rl = (ref(ad.tensor(X)) ** 2).mean()
        rl.backward()
        ropt.step()
        np.testing.assert_array_equal(out.numpy(), rl.numpy())
    np.testing.assert_array_equal(m.weight.numpy(), ref.weight.numpy())


# ------------------------------------------------------------------ hooks

def _hooked_run(lib, m, register):
    x = _tensor(lib, X.copy())
    x.requires_grad_(True)
    log = []
    handles = register(m, log)
    out = m(x)
    (out ** 2).sum().backward()
    return m, x, out, log, handles


def _compare_hooked(register):
    a, t = _pair()
    ra = _hooked_run(nn, a, register)
    rt = _hooked_run(torch.nn, t, register)
    _close(ra[2], rt[2])
    _close(ra[1].grad, rt[1].grad)
    for (n, pa), pt in zip(ra[0].named_parameters(), rt[0].parameters()):
        _close(pa.grad, pt.grad)
    assert len(ra[3]) == len(rt[3]) > 0
    for la, lt in zip(ra[3], rt[3]):
        assert la[0] == lt[0]
        for va, vt in zip(la[1:], lt[1:]):
            assert (va is None) == (vt is None)
            if va is not None:
                _close(va, vt)
    return ra, rt


def test_forward_hooks_replace_inputs_and_outputs_as_torch():
    def register(m, log):
        return [
            m.features.register_forward_pre_hook(
                lambda mod, args: (args[0] * 2,)),
            m.heads[0].register_forward_hook(
                lambda mod, args, out: log.append(("h0", args[0], out))),
            m.heads[1].register_forward_hook(lambda mod, args, out: out * 3),
            m.extra["proj"].register_forward_pre_hook(
                lambda mod, args, kwargs: ((args[0] + 1,), kwargs),
                with_kwargs=True),
            m.extra["proj"].register_forward_hook(
                lambda mod, args, kwargs, out: log.append(("p", out)),
                with_kwargs=True, prepend=True),
        ]
    ra, rt = _compare_hooked(register)
    for h in ra[4]:
        h.remove()
    a, _ = _pair()
    a.load_state_dict(ra[0].state_dict())
    # removed: the plain model again (BatchNorm stats moved alike)
    _close(ra[0](ad.tensor(X)), a(ad.tensor(X)))


def test_always_call_forward_hook_runs_when_forward_raises():
    logs = []
    for lib in (nn, torch.nn):
        log = []
        m = lib.Linear(3, 2)
        m.register_forward_hook(lambda mod, a, o: log.append(("plain", o)))
        m.register_forward_hook(lambda mod, a, o: log.append(("always", o)),
                                always_call=True)
        # torch: RuntimeError; autodiff: ValueError naming the shapes
        with pytest.raises(RuntimeError if lib is torch.nn else ValueError,
                           match="shape|mat1"):
            m(_tensor(lib, np.zeros((2, 4), np.float32)))
        logs.append(log)
    assert logs[0] == logs[1] == [("always", None)]


def test_full_backward_hooks_see_and_modify_gradients_as_torch():
    def register(m, log):
        def hook(mod, gin, gout):
            log.append(("bw", gin[0], gout[0]))
            return (gin[0] * 0.5,)

        def pre(mod, gout):
            log.append(("pre", gout[0]))
            return (gout[0] * 3,)

        def seen(mod, gin, gout):
            log.append(("seen", gin[0], gout[0]))
        return [m.features[0].register_full_backward_hook(hook),
                m.heads[1].register_full_backward_pre_hook(pre),
                m.extra["proj"].register_full_backward_hook(seen),
                m.heads[0].register_full_backward_hook(seen, prepend=True)]
    _compare_hooked(register)


def test_backward_hook_with_several_and_non_tensor_inputs():
    class Two(nn.Module):
        def forward(self, a, k, b):
            return a * b * k

    class TTwo(torch.nn.Module):
        def forward(self, a, k, b):
            return a * b * k
    res = []
    for lib, M in ((nn, Two), (torch.nn, TTwo)):
        log = []
        m = M()

        def hook(mod, gin, gout):
            log.append(gin)
            return (gin[0] * 2, None, gin[2])
        m.register_full_backward_hook(hook)
        a = _tensor(lib, X.copy()).requires_grad_(True)
        b = _tensor(lib, X.copy() + 1).requires_grad_(True)
        m(a, 3.0, b).sum().backward()
        res.append((log, a.grad, b.grad))
    (la, ga, gb), (lt, ta, tb) = res
    assert la[0][1] is None and lt[0][1] is None
    _close(la[0][0], lt[0][0])
    _close(ga, ta)
    _close(gb, tb)


def test_backward_hook_when_no_input_requires_grad_fires_on_output():
    for lib in (nn, torch.nn):
        log = []
        m = lib.Linear(3, 2).double()
        m.register_full_backward_hook(
            lambda mod, gin, gout: log.append((gin, tuple(gout[0].shape))))
        with pytest.warns(UserWarning) if lib is torch.nn else \
                _no_warning():
            m(_tensor(lib, X.copy())).sum().backward()
        assert log == [((None,), (6, 2))]
        assert m.weight.grad is not None


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_backward_hook_bad_returns_raise():
    m = nn.Linear(3, 2, dtype=ad.float64)
    m.register_full_backward_hook(lambda mod, gin, gout: (gin[0], gin[0]))
    x = ad.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input, "
                       "got 2, but expected 1"):
        m(x).sum().backward()
    m2 = nn.Sequential(nn.ReLU(), nn.ReLU())
    m2.register_full_backward_hook(lambda mod, gin, gout: None)
    with pytest.raises(NotImplementedError, match="one Tensor"):
        class Tup(nn.Module):
            def forward(self, x):
                return x, x
        t = Tup()
        t.register_full_backward_hook(lambda mod, gin, gout: None)
        t(x)


def test_tensor_hooks_match_torch():
    res = []
    for lib in (nn, torch.nn):
        x = _tensor(lib, X.copy()).requires_grad_(True)
        seen = []
        h1 = x.register_hook(lambda g: g * 2)
        x.register_hook(lambda g: seen.append(g.numpy().copy()))
        y = x * 3
        y.register_hook(lambda g: g + 1)
        hy = y.register_hook(lambda g: g * 5)
        (y ** 2).sum().backward()
        g1 = x.grad.numpy().copy()
        # a second backward accumulates the hooked gradient onto .grad
        z = x * 3
        z.register_hook(lambda g: g * 7)
        (z ** 2).sum().backward()
        g2 = x.grad.numpy().copy()
        h1.remove()
        hy.remove()
        h1.remove()                         # twice: a no-op
        x.grad = None
        (x * x).sum().backward()
        res.append((g1, g2, seen, x.grad.numpy().copy()))
    for a, t in zip(*res):
        _close(np.asarray(a), np.asarray(t))


def test_tensor_hook_registered_under_no_grad_and_in_autograd_grad():
    res = []
    for lib, no_grad, grad in ((nn, ad.no_grad, ad.autograd.grad),
                               (torch.nn, torch.no_grad,
                                torch.autograd.grad)):
        x = _tensor(lib, X.copy()).requires_grad_(True)
        y = x * 2
        with no_grad():
            y.register_hook(lambda g: g * 10)
        (y * y).sum().backward()
        z = x * 3
        z.register_hook(lambda g: g - 1)
        gz, = grad((z * z).sum(), [x])
        leaf = _tensor(lib, X.copy()).requires_grad_(True)
        leaf.register_hook(lambda g: g * 10)
        gl, = grad((leaf * leaf).sum(), [leaf], create_graph=True)
        (leaf ** 3).sum().backward(create_graph=True)
        res.append((x.grad, gz, gl, leaf.grad))
    for a, t in zip(*res):
        _close(a, t)


def test_tensor_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ad.ones(2).register_hook(lambda g: g)
    x = ad.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)
    x.register_hook(lambda g: ad.ones(3))
    with pytest.raises(RuntimeError, match="hook returned a gradient of "
                       r"shape \(3,\), expected \(2,\)"):
        (x * 2).sum().backward()
    assert x.grad is None


# ------------------------------------------------- hooks under ad.compile

def _compiled_step(model):
    opt = ad.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    return ad.compile(step)


@pytest.mark.parametrize("kind", ["forward", "forward_pre", "backward",
                                  "backward_pre", "leaf"])
def test_compile_refuses_hooks_then_records_after_removal(kind):
    m = nn.Sequential(nn.Linear(3, 4, dtype=ad.float64), nn.Tanh(),
                      nn.Linear(4, 1, dtype=ad.float64))
    ref = nn.Sequential(nn.Linear(3, 4, dtype=ad.float64), nn.Tanh(),
                        nn.Linear(4, 1, dtype=ad.float64))
    ref.load_state_dict(m.state_dict())
    reg = {"forward": lambda: m[0].register_forward_hook(
               lambda mod, a, o: None),
           "forward_pre": lambda: m[2].register_forward_pre_hook(
               lambda mod, a: None),
           "backward": lambda: m[0].register_full_backward_hook(
               lambda mod, gi, go: None),
           "backward_pre": lambda: m[2].register_full_backward_pre_hook(
               lambda mod, go: None),
           "leaf": lambda: m[0].weight.register_hook(lambda g: g)}[kind]
    h = reg()
    f = _compiled_step(m)
    w0 = m[0].weight.numpy().copy()
    with pytest.raises(ad.NotCompilableError, match="hook"):
        f(ad.tensor(X))
    np.testing.assert_array_equal(m[0].weight.numpy(), w0)   # no update
    h.remove()
    ropt = ad.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        out = f(ad.tensor(X))
        ropt.zero_grad()
        rl = (ref(ad.tensor(X)) ** 2).mean()
        rl.backward()
        ropt.step()
        np.testing.assert_array_equal(out.numpy(), rl.numpy())


def test_compile_refuses_tensor_hook_inside_step():
    m = nn.Linear(3, 1, dtype=ad.float64)

    def step(x):
        y = m(x)
        y.register_hook(lambda g: g * 2)
        loss = y.sum()
        loss.backward()
        return loss
    with pytest.raises(ad.NotCompilableError, match="register_hook"):
        ad.compile(step)(ad.tensor(X))


def test_compile_ignores_leaf_hook_outside_the_graph():
    other = ad.ones(2, requires_grad=True)
    h = other.register_hook(lambda g: g * 2)
    m = nn.Linear(3, 1, dtype=ad.float64)
    f = _compiled_step(m)
    f(ad.tensor(X))
    f(ad.tensor(X))         # replays: the hooked leaf is not in this graph
    h.remove()


# ------------------------------------------------------------------- init

def test_orthogonal_properties():
    g = np.random.default_rng(0)
    for shape, gain in (((6, 4), 1.0), ((4, 6), 2.0), ((3, 2, 2, 2), 0.5),
                        ((5, 5), 1.0)):
        w = init.orthogonal_(ad.zeros(*shape, dtype=ad.float64), gain,
                             generator=g)
        q = w.numpy().reshape(shape[0], -1)
        small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)),
                                   atol=1e-12)
    with pytest.raises(ValueError, match="Only tensors with 2 or more "
                       "dimensions"):
        init.orthogonal_(ad.zeros(3))
    assert init.orthogonal_(ad.zeros(0, 3)).shape == (0, 3)
    # a uniform draw (Haar): R's diagonal made positive, so the first
    # column's first entry is positive and negative equally often
    signs = [np.sign(init.orthogonal_(ad.zeros(3, 3, dtype=ad.float64),
                                      generator=g).numpy()[0, 0])
             for _ in range(400)]
    assert 150 < sum(s > 0 for s in signs) < 250


def test_trunc_normal_bounds_and_moments_against_scipy():
    from scipy.stats import truncnorm
    g = np.random.default_rng(1)
    for mean, std, a, b in ((0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 1.0),
                            (0.0, 1.0, 1.0, 3.0), (0.0, 0.02, -0.04, 0.04)):
        w = init.trunc_normal_(ad.zeros(200, 300, dtype=ad.float64), mean,
                               std, a, b, generator=g).numpy()
        assert w.min() >= a and w.max() <= b
        d = truncnorm((a - mean) / std, (b - mean) / std, loc=mean,
                      scale=std)
        n = w.size
        assert abs(w.mean() - d.mean()) < 5 * d.std() / math.sqrt(n)
        assert abs(w.var() - d.var()) < 5 * d.var() * math.sqrt(2.0 / n) * 2
    w32 = init.trunc_normal_(ad.zeros(1000), a=-0.1, b=0.1).numpy()
    assert w32.dtype == np.float32 and np.abs(w32).max() <= np.float32(0.1)
    with pytest.raises(ValueError, match="a must not exceed b"):
        init.trunc_normal_(ad.zeros(2), a=1.0, b=0.0)
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(ad.zeros(2), mean=10.0)


def test_sparse_zeros_per_column_and_std():
    g = np.random.default_rng(2)
    for rows, cols, sparsity in ((10, 30, 0.25), (7, 5, 0.1), (4, 3, 1.0),
                                 (5, 2, 0.0)):
        w = init.sparse_(ad.zeros(rows, cols, dtype=ad.float64), sparsity,
                         generator=g).numpy()
        zeros = (w == 0).sum(axis=0)
        assert (zeros == math.ceil(sparsity * rows)).all()
    w = init.sparse_(ad.zeros(400, 500, dtype=ad.float64), 0.5, std=0.3,
                     generator=g).numpy()
    nz = w[w != 0]
    assert abs(nz.std() - 0.3) < 0.01 and abs(nz.mean()) < 0.01
    # the zeros fall on different rows in different columns
    assert len({tuple(np.flatnonzero(w[:, c] == 0)) for c in range(5)}) == 5
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.sparse_(ad.zeros(2, 2, 2), 0.5)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\]"):
        init.sparse_(ad.zeros(2, 2), 1.5)


# ---------------------------------------------------------------- summary

def test_summary_shapes_and_counts(capsys):
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),
                      nn.Linear(4 * 6 * 6, 10), nn.BatchNorm1d(10))
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
                            torch.nn.Flatten(),
                            torch.nn.Linear(4 * 6 * 6, 10),
                            torch.nn.BatchNorm1d(10))
    m[3].bias.requires_grad_(False)
    text = nn.summary(m, (2, 1, 8, 8))
    assert capsys.readouterr().out.strip() == text.strip()
    rows = {line.split()[0]: line for line in text.split("\n")}
    x = torch.zeros(2, 1, 8, 8)
    for i, layer in enumerate(t):
        x = layer(x)
        own = sum(p.numel() for p in layer.parameters())
        line = rows[str(i)]
        assert str(list(x.shape)) in line
        assert line.split()[-1] == "{:,}".format(own)
    total = sum(p.numel() for p in t.parameters())
    assert "Total params: {:,}".format(total) in text
    assert "Trainable params: {:,}".format(total - 10) in text
    assert "Non-trainable params: 10" in text
    assert m.training                   # mode kept, no hooks left
    assert not any(mod.__dict__.get("_forward_hooks") for mod in m.modules())
    emb = nn.Sequential(nn.Embedding(10, 3))
    assert "[4, 5, 3]" in nn.summary(emb, (4, 5), dtypes=ad.int64,
                                     print_summary=False)
    with pytest.raises(ValueError, match="input_size must be a shape"):
        nn.summary(m, "2x1")
    with pytest.raises(ValueError, match="2 dtypes for 1 inputs"):
        nn.summary(m, (2, 1, 8, 8), dtypes=[ad.float32, ad.float32])
