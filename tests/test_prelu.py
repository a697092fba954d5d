"""nn.functional.prelu and nn.PReLU against torch: values (signed zeros
and NaN included), gradients for input and weight (scalar, one and per
channel slopes, 0-d to 4-d inputs), gradcheck, gradgradcheck, replay
under ad.compile bit for bit, the module's state_dict and errors."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from conftest import lazy_torch

torch = lazy_torch()

# (input shape, weight shape)
CASES = [((), (1,)), ((), ()), ((5,), (1,)), ((4, 3), (3,)), ((4, 3), (1,)),
         ((2, 3, 5), (3,)), ((2, 3, 5), ()), ((2, 4, 3, 2), (4,)),
         ((1, 1), (1,))]


def _data(xs, ws, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs)
    if x.size > 2:
        x.flat[0], x.flat[1] = 0.0, -0.0          # the kink, both zeros
    w = rng.uniform(-1.0, 1.0, ws)
    return x, w


@pytest.mark.parametrize("xs,ws", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_gradients_match_torch(xs, ws, dtype):
    x_np, w_np = _data(xs, ws, 0)
    x_np, w_np = x_np.astype(dtype), w_np.astype(dtype)
    g_np = np.random.default_rng(1).standard_normal(xs).astype(dtype)
    x = ad.tensor(x_np, requires_grad=True)
    w = ad.tensor(w_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    tw = torch.tensor(w_np, requires_grad=True)
    y, ty = F.prelu(x, w), torch.nn.functional.prelu(tx, tw)
    assert y.shape == tuple(ty.shape) and y.dtype == x.dtype
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(np.signbit(y.numpy()),
                                  np.signbit(ty.detach().numpy()))
    (y * ad.tensor(g_np)).sum().backward()
    (ty * torch.tensor(g_np)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=tol,
                               atol=tol)


def test_nan_and_infinities_as_torch():
    x_np = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -3.0])
    for wv in (0.25, -0.5, 0.0):
        y = F.prelu(ad.tensor(x_np), ad.tensor([wv], dtype=ad.float64))
        ty = torch.nn.functional.prelu(torch.tensor(x_np),
                                       torch.tensor([wv], dtype=torch.float64))
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(np.signbit(y.numpy()),
                                      np.signbit(ty.numpy()))


@pytest.mark.parametrize("xs,ws", [((5,), (1,)), ((3, 4), (4,)),
                                   ((2, 3, 2), (3,)), ((2, 3), ())])
def test_gradcheck_and_gradgradcheck(xs, ws):
    rng = np.random.default_rng(2)
    x_np = rng.standard_normal(xs)
    x_np[np.abs(x_np) < 0.05] = 0.5               # away from the kink
    x = ad.tensor(x_np, requires_grad=True)
    w = ad.tensor(rng.uniform(-1, 1, ws), requires_grad=True)
    assert ad.gradcheck(F.prelu, (x, w), eps=1e-6, atol=1e-6, rtol=1e-5)
    assert ad.gradgradcheck(F.prelu, (x, w), eps=1e-6, atol=1e-6,
                            rtol=1e-5)


def test_second_derivative_matches_torch():
    x_np, w_np = _data((3, 4), (4,), 3)
    x = ad.tensor(x_np, requires_grad=True)
    w = ad.tensor(w_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    tw = torch.tensor(w_np, requires_grad=True)
    gx, gw = ad.autograd.grad((F.prelu(x, w) ** 2).sum(), (x, w),
                              create_graph=True)
    tgx, tgw = torch.autograd.grad(
        (torch.nn.functional.prelu(tx, tw) ** 2).sum(), (tx, tw),
        create_graph=True)
    ((gx * gx).sum() + gw.sum()).backward()
    ((tgx * tgx).sum() + tgw.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_replay_is_bit_identical(dtype):
    x = ad.tensor(np.zeros((4, 3), dtype), requires_grad=True)
    m = nn.PReLU(3, dtype=ad.float64 if dtype == np.float64 else None)
    g = ad.tensor(np.random.default_rng(6).standard_normal((4, 3)),
                  dtype=dtype)

    def step():
        x.grad = None
        m.weight.grad = None
        y = m(x)
        (y * g).sum().backward()
        return y

    def run(f):
        out = []
        for seed in (0, 1, 2):
            x_np, w_np = _data((4, 3), (3,), seed)
            with ad.no_grad():
                x.copy_(ad.tensor(x_np.astype(dtype)))
                m.weight.copy_(ad.tensor(w_np.astype(dtype)))
            y = f()
            out.append((y.numpy().copy(), x.grad.numpy().copy(),
                        m.weight.grad.numpy().copy()))
        return out

    eager, comp = run(step), run(ad.compile(step))
    for e, c in zip(eager, comp):
        for a, b in zip(e, c):
            assert a.tobytes() == b.tobytes()


def test_module_matches_torch_and_loads_its_state_dict():
    m, tm = nn.PReLU(), torch.nn.PReLU()
    assert repr(m) == repr(tm) == "PReLU(num_parameters=1)"
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    np.testing.assert_array_equal(m.weight.numpy(), tm.weight.detach().numpy())
    m3, tm3 = nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
    with torch.no_grad():
        tm3.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))
    m3.load_state_dict({k: ad.tensor(v.numpy())
                        for k, v in tm3.state_dict().items()})
    x_np = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(
        np.float32)
    np.testing.assert_array_equal(m3(ad.tensor(x_np)).numpy(),
                                  tm3(torch.tensor(x_np)).detach().numpy())
    assert [n for n, _ in m3.named_parameters()] == ["weight"]
    m3.reset_parameters()
    np.testing.assert_allclose(m3.weight.numpy(), [0.1, 0.1, 0.1])
    # trains: the slope moves towards the data's slope
    model = nn.Sequential(nn.Linear(2, 2), nn.PReLU())
    with ad.no_grad():              # negative outputs whatever the seed
        model[0].weight.copy_(ad.eye(2))
        model[0].bias.fill_(0.0)
    opt = ad.optim.SGD(model.parameters(), lr=0.1)
    w0 = model[1].weight.item()
    model(ad.ones(4, 2) * -1).sum().backward()
    opt.step()
    assert model[1].weight.item() != w0


def test_errors_as_torch():
    x = ad.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="parameter numbers = 4 and "
                                           "channel size = 3"):
        F.prelu(x, ad.ones(4))
    with pytest.raises(RuntimeError, match="scalar or 1D"):
        F.prelu(x, ad.ones(1, 3))
    with pytest.raises(RuntimeError, match="channel size = 1"):
        F.prelu(ad.zeros(5), ad.ones(5))
    with pytest.raises(TypeError, match="float64 and float32"):
        F.prelu(x.double(), ad.ones(1))
    with pytest.raises(TypeError):
        F.prelu(np.zeros(3), ad.ones(1))
    with pytest.raises(ValueError):
        nn.PReLU(0)
