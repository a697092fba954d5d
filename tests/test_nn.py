"""autodiff.nn: module registration, layers, initialisers, activation and
loss modules, state dicts -- against numpy and (when importable) torch."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from autodiff.nn import init

from conftest import needs_torch, torch


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.scale = nn.Parameter(ad.ones(4))
        self.note = "not registered"

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 4)
        self.body = nn.Sequential(Block(), nn.ReLU(), Block())
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.out(self.drop(self.body(self.inp(x))))


# ------------------------------------------------------------ registration

def test_parameters_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # torch's order: modules in pre-order, each module's own parameters
    # before its children's.
    assert names == ["inp.weight", "inp.bias",
                     "body.0.scale", "body.0.fc.weight", "body.0.fc.bias",
                     "body.2.scale", "body.2.fc.weight", "body.2.fc.bias",
                     "out.weight"]
    params = list(net.parameters())
    assert len(params) == len(names)
    assert all(isinstance(p, nn.Parameter) for p in params)
    assert all(p.requires_grad and p.is_leaf for p in params)
    assert params[0] is net.inp.weight
    assert params[2] is net.body[0].scale
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.body[0].named_parameters(recurse=False)] == \
        ["scale"]
    assert sum(p.size for p in params) == \
        3 * 4 + 4 + 2 * (16 + 4 + 4) + 4 * 2
    # Plain attributes are not registered.
    assert net.body[0].note == "not registered"
    assert "note" not in dict(net.body[0].named_parameters())


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["inp", "body", "drop",
                                                    "out"]
    assert list(net.children())[1] is net.body
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "inp", "body", "body.0", "body.0.fc", "body.0.act",
                     "body.1", "body.2", "body.2.fc", "body.2.act", "drop",
                     "out"]
    mods = list(net.modules())
    assert mods[0] is net and len(mods) == len(names)
    assert sum(isinstance(m, nn.Linear) for m in mods) == 4


def test_shared_parameter_and_module_counted_once():
    a = nn.Linear(3, 3)
    b = nn.Linear(3, 3)
    b.weight = a.weight                  # tied weights
    seq = nn.Sequential(a, b)
    params = list(seq.parameters())
    assert len(params) == 3
    assert sum(p is a.weight for p in params) == 1
    shared = nn.Linear(2, 2)
    seq2 = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq2.parameters())) == 2
    assert sum(m is shared for m in seq2.modules()) == 1
    # The tied weight receives the gradient of both uses.
    x = ad.tensor(np.eye(3), dtype=ad.float32)
    seq(x).sum().backward()
    assert a.weight.grad is not None and b.bias.grad is not None


def test_reassign_and_delete():
    m = Block()
    m.fc = nn.Identity()                       # replace a submodule
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    # As in torch, only a Parameter (or None) may replace a parameter: a
    # plain value would silently drop it from parameters().
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = ad.ones(4)
    with pytest.raises(TypeError, match="parameter 'scale'"):
        m.scale = 3.0
    assert isinstance(m.scale, nn.Parameter)
    m.scale = nn.Parameter(ad.zeros(4))        # a new Parameter replaces it
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    assert not np.any(m.scale.numpy())
    m.scale = None                             # and None removes it
    assert list(m.parameters()) == [] and m.scale is None
    m.w = nn.Parameter(ad.zeros(2))
    del m.w
    assert list(m.parameters()) == []
    with pytest.raises(AttributeError):
        m.w
    m.register_parameter("bias", None)
    assert m.bias is None and list(m.parameters()) == []
    m.register_parameter("p", ad.ones(2))      # wrapped in a Parameter
    assert isinstance(m.p, nn.Parameter) and m.p.requires_grad


def test_attribute_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ad.zeros(1))
    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_buffers_in_state_dict_not_parameters():
    m = nn.Linear(2, 2)
    m.register_buffer("running", ad.tensor([1.0, 2.0]))
    assert [n for n, _ in m.named_buffers()] == ["running"]
    assert "running" not in dict(m.named_parameters())
    assert list(m.state_dict()) == ["weight", "bias", "running"]


def test_assigning_to_a_buffer_updates_it():
    m = nn.Linear(2, 2)
    m.register_buffer("running", ad.zeros(2))
    m.running = m.running + 1.0              # the usual way to update one
    assert list(m.state_dict()) == ["weight", "bias", "running"]
    np.testing.assert_array_equal(m.state_dict()["running"].numpy(), [1, 1])
    m.load_state_dict(dict(m.state_dict(), running=np.array([5.0, 6.0])))
    np.testing.assert_array_equal(m.running.numpy(), [5.0, 6.0])
    with pytest.raises(TypeError, match="buffer 'running'"):
        m.running = "not a tensor"
    m.running = None
    assert list(m.state_dict()) == ["weight", "bias"]


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.body.train()
    assert net.body[0].fc.training and not net.training
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.drop.training


def test_zero_grad_and_requires_grad():
    net = Net()
    net.train()
    net(ad.ones(2, 3)).sum().backward()
    assert net.inp.weight.grad is not None
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        if p.grad is not None:
            assert not np.any(p.grad.numpy())
    assert net.inp.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_every_module():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4
    net.apply(lambda m: init.zeros_(m.weight)
              if isinstance(m, nn.Linear) else None)
    assert all(not np.any(m.weight.numpy()) for m in net.modules()
               if isinstance(m, nn.Linear))


def test_forward_not_defined():
    with pytest.raises(NotImplementedError):
        nn.Module()(ad.ones(1))


# ------------------------------------------------------------------ Dropout

def test_dropout_scaling_and_fraction():
    ad.manual_seed(0)
    x = ad.ones(400, 500, dtype=ad.float64, requires_grad=True)
    p = 0.3
    y = nn.Dropout(p)(x)
    a = y.numpy()
    kept = a != 0
    np.testing.assert_allclose(a[kept], 1 / (1 - p), rtol=1e-15)
    assert abs((~kept).mean() - p) < 0.005         # 200,000 samples
    # The expectation is preserved.
    assert abs(a.mean() - 1.0) < 0.01
    # The gradient is the same mask and scale.
    (y * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * a, rtol=1e-15)


def test_dropout_seeded_reproducible():
    x = ad.ones(50, 40)
    ad.manual_seed(123)
    a = nn.Dropout(0.5)(x).numpy()
    ad.manual_seed(123)
    b = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(a, b)
    c = nn.Dropout(0.5)(x).numpy()          # the generator moved on
    assert not np.array_equal(a, c)
    g1 = nn.Dropout(0.5, generator=np.random.default_rng(7))
    g2 = nn.Dropout(0.5, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(g1(x).numpy(), g2(x).numpy())
    np.testing.assert_array_equal(
        F.dropout(x, 0.5, generator=np.random.default_rng(9)).numpy(),
        F.dropout(x, 0.5, generator=np.random.default_rng(9)).numpy())


def test_dropout_eval_and_edge_p():
    x = ad.tensor(np.arange(1.0, 13.0).reshape(3, 4))
    d = nn.Dropout(0.9)
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    net = nn.Sequential(nn.Dropout(0.5))
    net.eval()
    np.testing.assert_array_equal(net(x).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(),
                                  x.numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), 0 * x.numpy())
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(bad)
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, bad)
    assert "p=0.9" in repr(d)


# ------------------------------------------------------------------- Linear

def test_linear_default_init_bounds():
    ad.manual_seed(0)
    lin = nn.Linear(256, 300)
    bound = 1 / math.sqrt(256)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert w.shape == (300, 256) and b.shape == (300,)
    assert w.dtype == np.float32
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(b).max() <= bound * (1 + 1e-6)
    # Uniform on the whole interval, not a narrower one.
    assert np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert abs(w.mean()) < 0.02 * bound
    assert np.abs(b).max() > 0.8 * bound


def test_linear_forward_matches_numpy():
    rng = np.random.default_rng(0)
    lin = nn.Linear(5, 3, dtype=ad.float64)
    W, b = lin.weight.numpy(), lin.bias.numpy()
    x = rng.normal(size=(4, 5))
    np.testing.assert_allclose(lin(ad.tensor(x)).numpy(), x @ W.T + b,
                               rtol=1e-13, atol=1e-14)
    x3 = rng.normal(size=(2, 4, 5))
    np.testing.assert_allclose(lin(ad.tensor(x3)).numpy(), x3 @ W.T + b,
                               rtol=1e-13, atol=1e-14)
    x1 = rng.normal(size=5)
    np.testing.assert_allclose(lin(ad.tensor(x1)).numpy(), x1 @ W.T + b,
                               rtol=1e-13, atol=1e-14)
    nob = nn.Linear(5, 3, bias=False, dtype=ad.float64)
    assert nob.bias is None
    assert [n for n, _ in nob.named_parameters()] == ["weight"]
    np.testing.assert_allclose(nob(ad.tensor(x)).numpy(),
                               x @ nob.weight.numpy().T, rtol=1e-13)
    np.testing.assert_allclose(F.linear(ad.tensor(x), lin.weight).numpy(),
                               x @ W.T, rtol=1e-13)


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_torch(bias):
    rng = np.random.default_rng(1)
    lin = nn.Linear(5, 3, bias=bias, dtype=ad.float64)
    tlin = torch.nn.Linear(5, 3, bias=bias).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(lin.weight.numpy()))
        if bias:
            tlin.bias.copy_(torch.from_numpy(lin.bias.numpy()))
    x = rng.normal(size=(6, 5))
    w = rng.normal(size=(6, 3))
    xa = ad.tensor(x, requires_grad=True)
    ya = lin(xa)
    (ya * ad.tensor(w)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    yt = tlin(xt)
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ya.numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(),
                               tlin.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    if bias:
        np.testing.assert_allclose(lin.bias.grad.numpy(),
                                   tlin.bias.grad.numpy(), rtol=1e-12)


def test_linear_wrong_features_raises():
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError) as e:
        lin(ad.ones(3, 5))
    msg = str(e.value)
    assert "in_features=4" in msg and "(3, 5)" in msg and "5" in msg
    with pytest.raises(ValueError, match="in_features=4"):
        lin(ad.tensor(1.0))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        nn.Sequential(nn.Linear(3, 3), nn.Linear(4, 1))(ad.ones(2, 3))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 2)
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, 2.5)


def test_linear_generator_and_seed_reproducible():
    a = nn.Linear(6, 4, generator=np.random.default_rng(3))
    b = nn.Linear(6, 4, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    ad.manual_seed(11)
    c = nn.Linear(6, 4)
    ad.manual_seed(11)
    d = nn.Linear(6, 4)
    np.testing.assert_array_equal(c.weight.numpy(), d.weight.numpy())
    e = nn.Linear(6, 4)
    assert not np.array_equal(c.weight.numpy(), e.weight.numpy())


def test_sequential_container():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)),
                                       ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_children()] == ["enc", "act"]
    assert named.enc is named[0]
    with pytest.raises(TypeError, match="position 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    x = ad.tensor([[1.0, -2.0]])
    expected = layers[2](layers[1](layers[0](x))).numpy()
    np.testing.assert_array_equal(nn.Sequential(*layers)(x).numpy(),
                                  expected)


def test_flatten_and_identity():
    x = ad.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0)(x).shape == (24,)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(),
                                  np.arange(24.0).reshape(2, 12))
    assert nn.Identity()(x) is x


# -------------------------------------------------------------------- init

FAN_SHAPES = [(300, 500), (64, 32, 3, 3)]


def _fans(shape):
    rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * rf, shape[0] * rf


@pytest.mark.parametrize("shape", FAN_SHAPES, ids=["2d", "4d"])
def test_xavier(shape):
    fi, fo = _fans(shape)
    t = ad.zeros(*shape, dtype=ad.float64)
    assert init.xavier_uniform_(t, gain=2.0,
                                generator=np.random.default_rng(0)) is t
    a = 2.0 * math.sqrt(6.0 / (fi + fo))
    w = t.numpy()
    assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a
    np.testing.assert_allclose(w.std(), a / math.sqrt(3), rtol=0.02)
    init.xavier_normal_(t, gain=0.5, generator=np.random.default_rng(0))
    w = t.numpy()
    std = 0.5 * math.sqrt(2.0 / (fi + fo))
    np.testing.assert_allclose(w.std(), std, rtol=0.02)
    assert abs(w.mean()) < 0.02 * std
    assert np.abs(w).max() > 3 * std              # normal, not uniform


@pytest.mark.parametrize("shape", FAN_SHAPES, ids=["2d", "4d"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlin,a", [("relu", 0.0), ("leaky_relu", 0.2),
                                      ("tanh", 0.0)])
def test_kaiming(shape, mode, nonlin, a):
    fi, fo = _fans(shape)
    fan = fi if mode == "fan_in" else fo
    gain = init.calculate_gain(nonlin, a)
    std = gain / math.sqrt(fan)
    t = ad.zeros(*shape)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlin,
                          generator=np.random.default_rng(1))
    w = t.numpy()
    bound = math.sqrt(3.0) * std
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), std, rtol=0.02)
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlin,
                         generator=np.random.default_rng(1))
    w = t.numpy()
    np.testing.assert_allclose(w.std(), std, rtol=0.02)
    assert abs(w.mean()) < 0.02 * std


@needs_torch
def test_gains_and_fans_match_torch():
    for nl, p in [("linear", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3),
                  ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(
            torch.nn.init.calculate_gain(nl, p), rel=1e-12), nl
    for shape in FAN_SHAPES + [(7, 3, 5)]:
        assert init._fans(ad.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_init_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(ad.zeros(5))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_normal_(ad.zeros(5))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(ad.zeros(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_constant_zeros_ones():
    t = ad.full((3, 4), 7.0, dtype=ad.float64)
    assert init.zeros_(t) is t
    np.testing.assert_array_equal(t.numpy(), np.zeros((3, 4)))
    init.ones_(t)
    np.testing.assert_array_equal(t.numpy(), np.ones((3, 4)))
    init.constant_(t, -2.5)
    np.testing.assert_array_equal(t.numpy(), np.full((3, 4), -2.5))


def test_normal_and_uniform():
    t = ad.zeros(400, 500, dtype=ad.float64)
    init.normal_(t, mean=3.0, std=0.5, generator=np.random.default_rng(2))
    w = t.numpy()
    assert abs(w.mean() - 3.0) < 0.01
    np.testing.assert_allclose(w.std(), 0.5, rtol=0.01)
    init.uniform_(t, -2.0, 5.0, generator=np.random.default_rng(2))
    w = t.numpy()
    assert w.min() >= -2.0 and w.max() < 5.0
    assert w.min() < -1.99 and w.max() > 4.99
    assert abs(w.mean() - 1.5) < 0.02
    init.uniform_(t)
    assert t.numpy().min() >= 0.0 and t.numpy().max() < 1.0


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_,
                                init.xavier_uniform_, init.xavier_normal_,
                                init.kaiming_uniform_, init.kaiming_normal_])
def test_init_seedable(fn):
    def draw(**kw):
        t = ad.zeros(20, 30)
        fn(t, **kw)
        return t.numpy()
    np.testing.assert_array_equal(draw(generator=np.random.default_rng(4)),
                                  draw(generator=np.random.default_rng(4)))
    assert not np.array_equal(draw(generator=np.random.default_rng(4)),
                              draw(generator=np.random.default_rng(5)))
    ad.manual_seed(4)
    a = draw()
    ad.manual_seed(4)
    b = draw()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, draw())


def test_init_keeps_parameter_a_leaf():
    p = nn.Parameter(ad.zeros(4, 4))
    for fn in (init.xavier_uniform_, init.normal_, init.ones_):
        fn(p)
        assert p.is_leaf and p.requires_grad and p.grad is None
    (p * 2.0).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((4, 4), 2.0))


# -------------------------------------------------------------- activations

ACTIVATIONS = [
    (nn.Sigmoid, (), {}, F.sigmoid, {}),
    (nn.Tanh, (), {}, F.tanh, {}),
    (nn.ReLU, (), {}, F.relu, {}),
    (nn.LeakyReLU, (), {}, F.leaky_relu, {}),
    (nn.LeakyReLU, (0.2,), {}, F.leaky_relu, {"negative_slope": 0.2}),
    (nn.LeakyReLU, (), {"negative_slope": 0.3}, F.leaky_relu,
     {"negative_slope": 0.3}),
    (nn.ELU, (), {}, F.elu, {}),
    (nn.ELU, (0.5,), {}, F.elu, {"alpha": 0.5}),
    (nn.SELU, (), {}, F.selu, {}),
    (nn.GELU, (), {}, F.gelu, {}),
    (nn.SiLU, (), {}, F.silu, {}),
    (nn.Softplus, (), {}, F.softplus, {}),
    (nn.Softplus, (2.0, 1.0), {}, F.softplus, {"beta": 2.0,
                                               "threshold": 1.0}),
    (nn.Softmax, (), {"dim": 0}, F.softmax, {"dim": 0}),
    (nn.Softmax, (), {}, F.softmax, {"dim": -1}),
    (nn.LogSoftmax, (1,), {}, F.log_softmax, {"dim": 1}),
    (nn.LogSoftmax, (), {"dim": 0}, F.log_softmax, {"dim": 0}),
    (nn.Hardtanh, (), {}, F.hardtanh, {}),
    (nn.Hardtanh, (-0.5, 2.0), {}, F.hardtanh, {"min_val": -0.5,
                                                "max_val": 2.0}),
    (nn.Hardtanh, (), {"max_val": 0.0}, F.hardtanh, {"max_val": 0.0}),
    (nn.ReLU6, (), {}, F.relu6, {}),
    (nn.Hardsigmoid, (), {}, F.hardsigmoid, {}),
    (nn.Hardswish, (), {}, F.hardswish, {}),
    (nn.Mish, (), {}, F.mish, {}),
    (nn.LogSigmoid, (), {}, F.logsigmoid, {}),
    (nn.Softsign, (), {}, F.softsign, {}),
    (nn.Tanhshrink, (), {}, F.tanhshrink, {}),
    (nn.CELU, (), {}, F.celu, {}),
    (nn.CELU, (0.5,), {}, F.celu, {"alpha": 0.5}),
]
TORCH_ACT = {"Sigmoid": "Sigmoid", "Tanh": "Tanh", "ReLU": "ReLU",
             "LeakyReLU": "LeakyReLU", "ELU": "ELU", "SELU": "SELU",
             "GELU": "GELU", "SiLU": "SiLU", "Softplus": "Softplus",
             "Softmax": "Softmax", "LogSoftmax": "LogSoftmax",
             "Hardtanh": "Hardtanh", "ReLU6": "ReLU6",
             "Hardsigmoid": "Hardsigmoid", "Hardswish": "Hardswish",
             "Mish": "Mish", "LogSigmoid": "LogSigmoid",
             "Softsign": "Softsign", "Tanhshrink": "Tanhshrink",
             "CELU": "CELU"}
# torch's float64 Hardsigmoid backward multiplies by 1/6 rounded to
# float32 (0.16666667163...); autodiff's by 1/6
GRAD_RTOL = {"Hardsigmoid": 1e-7}


@pytest.mark.parametrize("cls,args,kw,fn,fkw", ACTIVATIONS,
                         ids=["%s-%d" % (a[0].__name__, i)
                              for i, a in enumerate(ACTIVATIONS)])
def test_activation_modules_equal_functional(cls, args, kw, fn, fkw):
    rng = np.random.default_rng(3)
    x = rng.normal(scale=2.0, size=(4, 5))
    x[0, 0] = 0.0
    mod = cls(*args, **kw)
    xa = ad.tensor(x, requires_grad=True)
    ya = mod(xa)
    np.testing.assert_array_equal(ya.numpy(), fn(ad.tensor(x), **fkw).numpy())
    assert list(mod.parameters()) == []
    assert cls.__name__ in repr(mod)
    for k, v in fkw.items():
        if k != "dim":
            assert "%s=%r" % (k, v) in repr(mod)
    if torch is not None:
        tkw = dict(fkw)
        tmod = getattr(torch.nn, TORCH_ACT[cls.__name__])(**tkw)
        xt = torch.tensor(x, requires_grad=True)
        yt = tmod(xt)
        np.testing.assert_allclose(ya.numpy(), yt.detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
        w = rng.normal(size=x.shape)
        (ya * ad.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(),
                                   rtol=GRAD_RTOL.get(cls.__name__, 1e-9),
                                   atol=1e-12)
        assert repr(mod) == repr(tmod)


@pytest.mark.parametrize("make", [
    lambda: nn.LeakyReLU(negative_slop=0.2),           # a typo
    lambda: nn.GELU(approximate="tanh"),               # not supported
    lambda: nn.ReLU(0.5),
    lambda: nn.Softplus(1.0, 20.0, 3.0),
    lambda: nn.ELU(0.5, alpha=0.7),
    lambda: nn.CrossEntropyLoss(label_smothing=0.1),   # a typo
    lambda: nn.CrossEntropyLoss(weight=[1.0, 2.0]),    # not a tensor
    lambda: nn.HuberLoss(beta=1.0),                    # SmoothL1Loss's
    lambda: nn.NLLLoss(-100, 5),
], ids=["typo", "gelu-approx", "relu-arg", "softplus-args", "elu-twice",
        "ce-typo", "ce-weight", "huber-beta", "nll-args"])
def test_unknown_module_options_raise(make):
    # Silently ignoring an option would silently compute something else.
    with pytest.raises(TypeError):
        make()


# (name, autodiff form, torch form by name in torch.nn.functional and its
# keyword arguments, kinks): the piecewise activations, as functions and
# as modules
KINKED = [
    ("hardtanh", F.hardtanh, "hardtanh", {}, [-1.0, 1.0]),
    ("hardtanh(-0.5, 2)", lambda t: F.hardtanh(t, -0.5, 2.0), "hardtanh",
     {"min_val": -0.5, "max_val": 2.0}, [-0.5, 2.0]),
    ("Hardtanh(-2, 0)", nn.Hardtanh(-2.0, 0.0), "hardtanh",
     {"min_val": -2.0, "max_val": 0.0}, [-2.0, 0.0]),
    ("relu6", F.relu6, "relu6", {}, [0.0, 6.0]),
    ("ReLU6", nn.ReLU6(), "relu6", {}, [0.0, 6.0]),
    ("hardsigmoid", F.hardsigmoid, "hardsigmoid", {}, [-3.0, 3.0]),
    ("Hardsigmoid", nn.Hardsigmoid(), "hardsigmoid", {}, [-3.0, 3.0]),
    ("hardswish", F.hardswish, "hardswish", {}, [-3.0, 3.0]),
    ("Hardswish", nn.Hardswish(), "hardswish", {}, [-3.0, 3.0]),
    ("celu", F.celu, "celu", {}, [0.0]),
    ("CELU(0.5)", nn.CELU(0.5), "celu", {"alpha": 0.5}, [0.0]),
    ("softsign", F.softsign, "softsign", {}, [0.0]),
]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fa,tname,tkw,kinks", KINKED,
                         ids=[k[0] for k in KINKED])
def test_activation_kinks_match_torch(name, fa, tname, tkw, kinks, dtype):
    """Values and derivatives AT the kinks exactly as torch's (e.g.
    hardtanh's gradient 0 at min_val, hardswish's 0 at -3 and 1 at 3),
    and close to torch's on both sides of each kink."""
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    at = np.array(kinks + [-0.0], dtype=dtype)
    eps = float(np.finfo(dtype).eps) * 8
    near = np.array([k + s * d for k in kinks for s in (-1, 1)
                     for d in (eps * max(1.0, abs(k)), 1e-3)], dtype=dtype)
    tf = getattr(torch.nn.functional, tname)
    for x, exact in ((at, True), (near, False)):
        xa = ad.tensor(x, requires_grad=True)
        xt = torch.tensor(x, dtype=tdt, requires_grad=True)
        ya, yt = fa(xa), tf(xt, **tkw)
        ya.backward(ad.ones(x.shape, dtype=dtype))
        yt.backward(torch.ones(x.shape, dtype=tdt))
        ga, gt = xa.grad.numpy(), xt.grad.numpy()
        if tname == "hardsigmoid" and dtype == np.float64:
            assert set(gt) <= {0.0, float(np.float32(1 / 6))}
            gt = np.where(gt == 0, 0.0, 1 / 6)      # see GRAD_RTOL
        if exact:
            np.testing.assert_array_equal(ya.numpy(), yt.detach().numpy(),
                                          err_msg=name)
            np.testing.assert_array_equal(ga, gt, err_msg=name)
        else:
            rtol = 1e-12 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(ya.numpy(), yt.detach().numpy(),
                                       rtol=rtol, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(ga, gt, rtol=rtol, atol=1e-12,
                                       err_msg=name)


def test_activation_options_are_checked():
    with pytest.raises(ValueError, match="min_val cannot be greater"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="min_val cannot be greater"):
        F.hardtanh(ad.tensor([0.0]), 1.0, -1.0)
    with pytest.raises(ValueError, match="alpha cannot be 0"):
        nn.CELU(0.0)
    with pytest.raises(ValueError, match="alpha cannot be 0"):
        F.celu(ad.tensor([0.0]), 0.0)
    # min_val == max_val is a constant, as in torch
    np.testing.assert_array_equal(
        F.hardtanh(ad.tensor([-1.0, 0.5, 2.0]), 0.5, 0.5).numpy(),
        [0.5, 0.5, 0.5])


def test_torch_inplace_flag_is_accepted():
    x = ad.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(nn.ReLU(inplace=True)(x).numpy(), [0, 2])
    np.testing.assert_array_equal(
        nn.LeakyReLU(0.5, inplace=True)(x).numpy(), [-0.5, 2])
    for mod in (nn.Hardtanh(inplace=True), nn.ReLU6(inplace=True),
                nn.Hardsigmoid(inplace=True), nn.Hardswish(inplace=True),
                nn.Mish(inplace=True), nn.CELU(inplace=True)):
        mod(x)
    for fn in (F.hardtanh, F.relu6, F.hardsigmoid, F.hardswish, F.mish,
               F.celu):
        np.testing.assert_array_equal(fn(x, inplace=True).numpy(),
                                      fn(x).numpy())
    np.testing.assert_array_equal(x.numpy(), [-1.0, 2.0])


# -------------------------------------------------------------------- losses

def _loss_data(name):
    rng = np.random.default_rng(5)
    if name in ("CrossEntropyLoss", "NLLLoss"):
        x = rng.normal(size=(6, 4))
        if name == "NLLLoss":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        return x, np.array([0, 3, 1, 1, 2, 0])
    if name == "BCELoss":
        return rng.uniform(0.05, 0.95, size=(6, 3)), \
            rng.integers(0, 2, size=(6, 3)).astype(np.float64)
    if name == "BCEWithLogitsLoss":
        return rng.normal(size=(6, 3)), rng.uniform(size=(6, 3))
    return rng.normal(size=(6, 3)), rng.normal(size=(6, 3))


LOSSES = [(nn.MSELoss, F.mse_loss), (nn.L1Loss, F.l1_loss),
          (nn.BCELoss, F.binary_cross_entropy),
          (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits),
          (nn.CrossEntropyLoss, F.cross_entropy), (nn.NLLLoss, F.nll_loss)]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("cls,fn", LOSSES, ids=[c.__name__ for c, _ in LOSSES])
def test_loss_modules_equal_functions(cls, fn, reduction):
    x, t = _loss_data(cls.__name__)
    mod = cls(reduction=reduction)
    target = t if t.dtype.kind == "i" else ad.tensor(t)
    xa = ad.tensor(x, requires_grad=True)
    la = mod(xa, target)
    lf = fn(ad.tensor(x), target, reduction=reduction)
    np.testing.assert_array_equal(la.numpy(), lf.numpy())
    assert la.shape == (() if reduction != "none" else
                        (x.shape[0],) if t.ndim == 1 else x.shape)
    none = fn(ad.tensor(x), target, reduction="none").numpy()
    if reduction == "sum":
        np.testing.assert_allclose(la.numpy(), none.sum(), rtol=1e-12)
    elif reduction == "mean":
        np.testing.assert_allclose(la.numpy(), none.mean(), rtol=1e-12)
    if torch is not None:
        tmod = getattr(torch.nn, cls.__name__)(reduction=reduction)
        xt = torch.tensor(x, requires_grad=True)
        lt = tmod(xt, torch.tensor(t))
        np.testing.assert_allclose(la.numpy(), lt.detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
        w = np.random.default_rng(0).normal(size=la.shape)
        (la * ad.tensor(w)).sum().backward()
        (lt * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(),
                                   rtol=1e-9, atol=1e-12)


def test_loss_ignore_index_and_bad_reduction():
    x, t = _loss_data("CrossEntropyLoss")
    t = t.copy()
    t[1] = 7
    a = nn.CrossEntropyLoss(ignore_index=7)(ad.tensor(x), t).item()
    keep = t != 7
    b = nn.CrossEntropyLoss()(ad.tensor(x[keep]), t[keep]).item()
    assert a == pytest.approx(b, rel=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(ad.ones(2), ad.ones(2), reduction="avg")


# --------------------------------------------------------------- state dict

def test_state_dict_round_trip_exact():
    ad.manual_seed(1)
    a = Net()
    ad.manual_seed(2)
    b = Net()
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    assert not any(v.requires_grad for v in sd.values())
    assert not np.array_equal(a.inp.weight.numpy(), b.inp.weight.numpy())
    out = b.load_state_dict(sd)
    assert out == {"missing_keys": [], "unexpected_keys": []}
    for (n, p), (m, q) in zip(a.named_parameters(), b.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert q.dtype == p.dtype and q.requires_grad and q.is_leaf
    # Loaded values are copies: training a does not move b.
    before = b.inp.weight.numpy()
    init.ones_(a.inp.weight)
    np.testing.assert_array_equal(b.inp.weight.numpy(), before)
    # numpy values load too, and float64 arrays are rounded to float32.
    b.load_state_dict({k: v.numpy().astype(np.float64)
                       for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(b.inp.weight.numpy(),
                                  np.ones((4, 3), np.float32))
    assert b.inp.weight.dtype == np.float32


def test_state_dict_values_share_memory():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    init.zeros_(lin.weight)
    np.testing.assert_array_equal(sd["weight"].numpy(), np.zeros((2, 2)))


def test_load_state_dict_mismatch_raises_and_changes_nothing():
    net = Net()
    before = {k: v.numpy() for k, v in net.state_dict().items()}
    good = {k: np.full(v.shape, 0.5, np.float32) for k, v in before.items()}

    bad = dict(good)
    bad["inp.weight"] = np.zeros((5, 3), np.float32)
    bad["out.weight"] = np.zeros((2,), np.float32)
    del bad["body.0.scale"]
    bad["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(bad)
    msg = str(e.value)
    for needle in ("inp.weight", "(5, 3)", "(4, 3)", "out.weight",
                   "body.0.scale", "Missing key(s)", "extra.weight",
                   "Unexpected key(s)", "Error(s) in loading state_dict for Net"):
        assert needle in msg, (needle, msg)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)

    for broken in ({k: v for k, v in good.items() if k != "out.weight"},
                   dict(good, surprise=np.zeros(1))):
        with pytest.raises(ValueError):
            net.load_state_dict(broken)
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)

    # strict=False: missing/unexpected are reported, the rest loads.
    res = net.load_state_dict(dict(
        {k: v for k, v in good.items() if k != "out.weight"}, surprise=1.0),
        strict=False)
    assert res == {"missing_keys": ["out.weight"],
                   "unexpected_keys": ["surprise"]}
    np.testing.assert_array_equal(net.inp.weight.numpy(), good["inp.weight"])
    np.testing.assert_array_equal(net.out.weight.numpy(), before["out.weight"])
    # A shape mismatch is an error even when not strict.
    with pytest.raises(ValueError, match="inp.weight"):
        net.load_state_dict(dict(good, **{"inp.weight": np.zeros((1, 1))}),
                            strict=False)


@needs_torch
def test_state_dict_interoperates_with_torch():
    a = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                            torch.nn.Linear(4, 2))
    assert list(a.state_dict()) == list(t.state_dict())
    a.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(a(ad.tensor(x)).numpy(),
                               t(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- repr

def test_repr_names_layers():
    r = repr(Net())
    for needle in ("Net(", "(inp): Linear(in_features=3, out_features=4, "
                   "bias=True)", "(body): Sequential(", "(0): Block(",
                   "(fc): Linear(in_features=4, out_features=4",
                   "(act): Tanh()", "(1): ReLU()", "(drop): Dropout(p=0.5, inplace=False)",
                   "(out): Linear(in_features=4, out_features=2, "
                   "bias=False)"):
        assert needle in r, (needle, r)
    assert r.count("\n") >= 10          # one layer per line, nested
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Linear(2, 3)) == \
        "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    p = nn.Parameter(ad.zeros(2))
    assert repr(p).startswith("Parameter containing:")


def test_parameter_construction():
    src = ad.tensor([1.0, 2.0], dtype=ad.float64)
    p = nn.Parameter(src)
    assert isinstance(p, ad.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float64
    q = nn.Parameter(np.array([1.0, 2.0]), requires_grad=False)
    assert not q.requires_grad
    # A Parameter made from a non-leaf tensor is a fresh leaf.
    x = ad.tensor([1.0], requires_grad=True)
    r = nn.Parameter(x * 3.0)
    assert r.is_leaf and r.requires_grad
    (r * 2.0).sum().backward()
    assert x.grad is None and r.grad.item() == 2.0
