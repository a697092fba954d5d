"""The fused dense layer and its ReLU (csrc/ops_linalg.c: linear_relu):
nn.Sequential runs a plain Linear followed by a plain ReLU as one record,
relu(x W^T + b) with the ReLU in the product's output pass.  It must give
the two ops' bits -- forward, every gradient, eager and compiled, at any
thread count -- and step aside wherever the two calls could differ: hooks,
a subclass, a forward set on the instance."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine as E
from autodiff import autograd, nn
from autodiff.gradcheck import gradcheck, gradgradcheck
from autodiff.nn import functional as F
from conftest import check_grad, require_torch

# (N, in, M): the engine's forward kernel (float32, >= 16 outputs or 8 to
# 15 over >= 128 samples, <= 1024 samples, x within 1 MB: partial 8-row
# blocks and 32-sample panels), and BLAS beside it (a 10-wide layer over 5
# samples, 1025 samples), with the backward's kernel from 2^20
# multiply-adds
SHAPES = [(37, 20, 45), (256, 64, 1024), (5, 3, 10), (1025, 16, 20),
          (64, 200, 129), (1, 17, 16), (130, 30, 10)]


def _data(N, i, M, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, i)).astype(dtype)
    W = rng.standard_normal((M, i)).astype(dtype)
    b = rng.standard_normal(M).astype(dtype)
    g = rng.standard_normal((N, M)).astype(dtype)
    return x, W, b, g


def _run(fused, x, W, b, g, bias=True):
    """relu(linear) forward and its gradients (x, W, b): one record or the
    two ops."""
    X = ad.tensor(x, requires_grad=True)
    Wt = ad.tensor(W, requires_grad=True)
    B = ad.tensor(b, requires_grad=True) if bias else None
    if fused:
        y = E._linear_relu(X, Wt, B)
        assert E._node(y).op == "linear_relu"
    else:
        y = ad.relu(ad.linear(X, Wt, B))
    y.backward(ad.tensor(g))
    return [y.numpy()] + [t.grad.numpy() for t in (X, Wt, B)
                          if t is not None]


def _same_bits(a, b):
    assert len(a) == len(b)
    for k, (u, v) in enumerate(zip(a, b)):
        assert u.dtype == v.dtype and u.shape == v.shape, k
        assert u.tobytes() == v.tobytes(), "result %d differs" % k


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,i,M", SHAPES)
def test_fused_gives_the_two_ops_bits(N, i, M, dtype, bias, threads):
    before = ad.get_num_threads()
    ad.set_num_threads(threads)
    try:
        x, W, b, g = _data(N, i, M, dtype, N + i + M)
        _same_bits(_run(True, x, W, b, g, bias), _run(False, x, W, b, g, bias))
    finally:
        ad.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,i,M", [(40, 1, 32), (3, 1, 10)])
def test_zeros_nan_inf_and_negative_zero(N, i, M, dtype):
    """Pre-activations exactly 0 and -0 (gradient 0 there, as relu's),
    NaN (kept; its gradient 0) and +-inf, in both the kernel's output pass
    and BLAS's path."""
    x = np.ones((N, 1), dtype)
    W = np.zeros((M, 1), dtype)
    W[:4, 0] = [np.nan, np.inf, -np.inf, -0.0]
    W[4:, 0] = np.linspace(-2, 2, M - 4)
    b = np.zeros(M, dtype)
    b[4] = -0.0
    g = np.random.default_rng(3).standard_normal((N, M)).astype(dtype)
    g[0, :4] = [np.inf, np.nan, -np.inf, 1.0]
    fused, plain = _run(True, x, W, b, g), _run(False, x, W, b, g)
    _same_bits(fused, plain)
    assert np.isnan(fused[0][:, 0]).all() and (fused[0][:, 2] == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_against_central_differences(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5))
    W = rng.standard_normal((7, 5))
    b = rng.standard_normal(7) + 0.3
    check_grad(lambda x_, w_, b_: E._linear_relu(x_, w_, b_), [x, W, b],
               dtype)
    check_grad(lambda x_, w_: E._linear_relu(x_, w_), [x, W], dtype)


def test_gradcheck_and_gradgradcheck_in_float64():
    rng = np.random.default_rng(5)
    ins = [ad.tensor(rng.standard_normal(s), requires_grad=True)
           for s in ((4, 3), (5, 3), (5,))]
    assert gradcheck(E._linear_relu, ins)
    assert gradgradcheck(E._linear_relu, ins)


def test_double_backward_records_the_rule():
    """create_graph: the gradient is made of recorded ops (the mask as a
    constant, then linear's rule) and differentiates again to the two
    ops' second derivatives."""
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s) for s in ((4, 3), (5, 3), (5,))]
    w = ad.tensor(rng.standard_normal((4, 5)))
    out = []
    for fused in (True, False):
        ts = [ad.tensor(a, requires_grad=True) for a in arrays]
        y = E._linear_relu(*ts) if fused else ad.relu(ad.linear(*ts))
        gs = autograd.grad((y * w).sum(), ts, create_graph=True)
        s = sum((g * g).sum() for g in gs)
        second = autograd.grad(s, ts, allow_unused=True)
        out.append([g.numpy() for g in gs] +
                   [None if g is None else g.numpy() for g in second])
    assert out[0][-1] is None and out[1][-1] is None   # b: not reached
    for a, b in zip(out[0][:-1], out[1][:-1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(dtype):
    torch = require_torch()
    x, W, b, g = _data(33, 24, 40, dtype, 7)
    ours = _run(True, x, W, b, g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    ty = torch.relu(torch.nn.functional.linear(tx, tw, tb))
    ty.backward(torch.tensor(g))
    theirs = [ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(),
              tb.grad.numpy()]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, rtol=tol, atol=tol)


def test_writes_to_the_output_as_with_the_two_ops():
    """The backward reads the output (kept by the record, as torch's relu
    keeps its result): item assignment on it (the supported in-place form)
    gives the two ops' gradients, and an in-place op raises as on theirs."""
    rng = np.random.default_rng(14)
    x_np, W_np = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    grads, errors = [], []
    for fused in (True, False):
        x = ad.tensor(x_np, requires_grad=True)
        W = ad.tensor(W_np)
        y = E._linear_relu(x, W) if fused else ad.relu(ad.linear(x, W))
        y[1] = 5.0
        (y * y).sum().backward()
        grads.append(x.grad.numpy())
        y = E._linear_relu(x, W) if fused else ad.relu(ad.linear(x, W))
        with pytest.raises(RuntimeError) as e:
            y.add_(1.0)
        errors.append(str(e.value))
    assert grads[0].tobytes() == grads[1].tobytes()
    assert (grads[0][1] == 0).all()
    assert errors[0] == errors[1] and "in-place" in errors[0]


def test_shape_and_dtype_errors_name_linear():
    with pytest.raises(ValueError, match=r"linear: input \(2, 3\), weight "
                                         r"\(4, 5\)"):
        E._linear_relu(ad.ones(2, 3), ad.ones(4, 5))
    with pytest.raises(ValueError, match="at least one dimension"):
        E._linear_relu(ad.tensor(1.0), ad.ones(4, 1))


def test_leading_dimensions_as_linear():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 4))
    W = rng.standard_normal((5, 4))
    y = E._linear_relu(ad.tensor(x), ad.tensor(W))
    assert y.shape == (2, 3, 5)
    assert y.numpy().tobytes() == ad.relu(ad.linear(
        ad.tensor(x), ad.tensor(W))).numpy().tobytes()
    y1 = E._linear_relu(ad.tensor(x[0, 0]), ad.tensor(W))
    assert y1.shape == (5,)


# ------------------------------------------------------------ Sequential

def _mlp(dtype=None, sizes=(20, 64, 48, 10), seed=0):
    ad.manual_seed(seed)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b, dtype=dtype), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _ops(y):
    """The op names from y back to the input, along input 0."""
    names = []
    node = E._node(y)
    while node is not None:
        names.append(node.op if node.kind is None else node.kind)
        node = E._node(node.inputs[0]) if node.inputs[0].requires_grad \
            else None
    return names


def _unfused(model, x):
    for m in model:
        x = m(x) if not isinstance(m, nn.ReLU) else F.relu(x)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_fuses_and_keeps_the_bits(dtype):
    model = _mlp(dtype)
    x = np.random.default_rng(9).standard_normal((32, 20)).astype(dtype)
    res = []
    for run in (model, lambda t: _unfused(model, t)):
        model.zero_grad()
        X = ad.tensor(x, requires_grad=True)
        y = run(X)
        ops = _ops(y)
        (y * y).sum().backward()
        res.append((ops, [y.numpy(), X.grad.numpy()] +
                    [p.grad.numpy() for p in model.parameters()]))
    assert res[0][0] == ["linear", "linear_relu", "linear_relu"]
    assert res[1][0] == ["linear", "relu", "linear", "relu", "linear"]
    _same_bits(res[0][1], res[1][1])


def test_sequential_training_compiled_replays_eager_bits():
    """SGD steps of a Sequential with fused layers: the compiled replay's
    losses and parameters are the eager steps' bits."""
    x = np.random.default_rng(10).standard_normal((64, 20)).astype(
        np.float32)
    y = np.random.default_rng(11).integers(0, 10, 64)
    out = []
    for compiled in (False, True):
        model = _mlp(np.float32, sizes=(20, 300, 40, 10))
        opt = ad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        ce = nn.CrossEntropyLoss()

        def step(xb, yb):
            loss = ce(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        losses = [f(ad.tensor(x), y).numpy().copy() for _ in range(4)]
        out.append(losses + [p.numpy() for p in model.parameters()])
    _same_bits(out[0], out[1])


def test_hooks_subclasses_and_instance_forwards_are_not_fused():
    x = ad.tensor(np.random.default_rng(12).standard_normal((4, 20)))
    model = _mlp()
    seen = []
    h = model[1].register_forward_hook(lambda m, a, o: seen.append(a[0]))
    y = model(x)
    assert len(seen) == 1 and seen[0].shape == (4, 64)     # pre-activation
    assert _ops(y) == ["linear", "linear_relu", "relu", "linear"]
    h.remove()
    h = model[0].register_forward_pre_hook(lambda m, a: (a[0] * 2.0,))
    y_hooked = model(x)
    assert _ops(y_hooked) == ["linear", "linear_relu", "relu", "linear"]
    h.remove()
    np.testing.assert_array_equal(y_hooked.numpy(),
                                  model(x * 2.0).numpy())

    class Shifted(nn.Linear):
        def forward(self, t):
            return super().forward(t) + 1.0
    sub = nn.Sequential(Shifted(20, 8), nn.ReLU())
    ad.manual_seed(0)
    plain = nn.Sequential(nn.Linear(20, 8), nn.ReLU())
    plain.load_state_dict(sub.state_dict())
    np.testing.assert_array_equal(
        sub(x).numpy(), F.relu(plain[0](x) + 1.0).numpy())

    inst = _mlp()
    inst[0].forward = lambda t: ad.linear(t, inst[0].weight) * 0.0
    y = inst(x)
    assert _ops(y) == ["linear", "linear_relu", "relu", "mulc", "linear"]
    assert y.numpy().tobytes() == inst[4](F.relu(inst[2](F.relu(
        inst[0](x))))).numpy().tobytes()


def test_sequential_edges():
    """Linear last (never followed), Linear Linear ReLU, ReLU first, a
    ReLU subclass, and a bad input's error -- as the two calls give."""
    ad.manual_seed(0)
    a, b = nn.Linear(6, 5), nn.Linear(5, 4)

    class MyReLU(nn.ReLU):
        pass
    x = ad.tensor(np.random.default_rng(13).standard_normal((3, 6)),
                  dtype=ad.float32)
    cases = [
        (nn.Sequential(a), lambda: a(x), ["linear"]),
        (nn.Sequential(a, b, nn.ReLU()), lambda: F.relu(b(a(x))),
         ["linear_relu", "linear"]),
        (nn.Sequential(nn.ReLU(), a, nn.ReLU()), lambda: F.relu(a(F.relu(x))),
         ["linear_relu", "relu"]),
        (nn.Sequential(a, MyReLU()), lambda: F.relu(a(x)),
         ["relu", "linear"]),
    ]
    for model, ref, ops in cases:
        y = model(x)
        assert y.numpy().tobytes() == ref().numpy().tobytes()
        x.requires_grad = True
        assert _ops(model(x))[:len(ops)] == ops
        x.requires_grad = False
    with pytest.raises(ValueError, match="Linear.in_features=6.: input of "
                                         "shape .3, 7. has 7 features"):
        nn.Sequential(a, nn.ReLU())(ad.ones(3, 7))
