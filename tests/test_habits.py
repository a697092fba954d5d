"""Habits from PyTorch and numpy that used to silently do nothing, or fail
where users expect them to work: in-place operators, writes into copies
that torch would have made views, item assignment, numpy's reductions,
format specs, flatten(start_dim), numpy scalar dtypes, integer data that
requires grad, and the error paths of loading state, class labels and
copying an optimizer."""
import copy
import re
import tracemalloc

import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine as E
from autodiff._indexing import _flat_index
from autodiff import nn, optim

from conftest import needs_torch, numerical_grad, torch

F32, F64 = np.float32, np.float64
LEAF_MSG = ("a leaf Variable that requires grad is being used in an "
            "in-place operation.")


def arr(shape, seed=0, dtype=F64):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def version(t):
    return E._version(t)


# ---------------------------------------------------------- in-place ops

INPLACE = [
    # (name, call on the tensor, numpy reference on the array)
    ("+=", lambda t, o: t.__iadd__(o), lambda a, o: a + o),
    ("-=", lambda t, o: t.__isub__(o), lambda a, o: a - o),
    ("*=", lambda t, o: t.__imul__(o), lambda a, o: a * o),
    ("/=", lambda t, o: t.__itruediv__(o), lambda a, o: a / o),
    ("add_", lambda t, o: t.add_(o), lambda a, o: a + o),
    ("add_ alpha", lambda t, o: t.add_(o, alpha=-0.5),
     lambda a, o: a - 0.5 * o),
    ("sub_", lambda t, o: t.sub_(o), lambda a, o: a - o),
    ("sub_ alpha", lambda t, o: t.sub_(o, alpha=2.0), lambda a, o: a - 2 * o),
    ("mul_", lambda t, o: t.mul_(o), lambda a, o: a * o),
    ("div_", lambda t, o: t.div_(o), lambda a, o: a / o),
    ("copy_", lambda t, o: t.copy_(o),
     lambda a, o: np.broadcast_to(o, a.shape)),
]


@pytest.mark.parametrize("name,op,ref", INPLACE, ids=[c[0] for c in INPLACE])
@pytest.mark.parametrize("operand", ["same", "row", "scalar", "f64 tensor",
                                     "list"])
def test_in_place_ops_write_into_the_tensor(name, op, ref, operand):
    a = arr((2, 3), 1, F32)
    o = {"same": arr((2, 3), 2, F32) + 3,
         "row": arr((3,), 3, F32) + 3,
         "scalar": 1.75,
         "f64 tensor": arr((2, 3), 4, F64) + 3,
         "list": [1.5, 2.5, 4.0]}[operand]
    t = ad.tensor(a)
    alias = t.reshape(6)            # a real view: sees the write
    v0 = version(t)
    other = ad.tensor(o) if operand in ("same", "row") else (
        ad.tensor(o, dtype=F64) if operand == "f64 tensor" else o)
    out = op(t, other)
    assert out is t                 # x += y keeps x bound to the same object
    assert t.dtype == np.float32    # self's dtype, as torch
    expected = ref(a.astype(F64), np.asarray(o, dtype=F64)).astype(F32)
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(alias.numpy(), t.numpy().reshape(6))
    assert version(t) > v0


def test_clamp_pow_fill_zero_in_place():
    t = ad.tensor([-2.0, 0.5, 3.0])
    assert t.clamp_(-1.0, 1.0) is t
    np.testing.assert_array_equal(t.numpy(), [-1.0, 0.5, 1.0])
    assert t.clip_(min=0.0) is t
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.5, 1.0])
    t.clamp_(max=0.75)
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.5, 0.75])
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        t.clamp_()
    t.pow_(2.0)
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.25, 0.5625])
    t **= 0.5
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.5, 0.75])
    assert t.fill_(3.0) is t and t.zero_() is t
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.0, 0.0])


@needs_torch
def test_in_place_ops_match_torch():
    a, o = arr((3, 4), 5), arr((4,), 6) + 2.0
    for name, op, _ in INPLACE:
        t, tt = ad.tensor(a), torch.tensor(a)
        op(t, ad.tensor(o))
        getattr(tt, {"+=": "__iadd__", "-=": "__isub__", "*=": "__imul__",
                     "/=": "__itruediv__"}.get(name, name.split()[0]))(
            torch.tensor(o), **({"alpha": -0.5} if name == "add_ alpha" else
                                {"alpha": 2.0} if name == "sub_ alpha"
                                else {}))
        np.testing.assert_allclose(t.numpy(), tt.numpy(), rtol=1e-12,
                                   err_msg=name)
    t, tt = ad.tensor(a), torch.tensor(a)
    t.clamp_(-0.5, 0.25)
    tt.clamp_(-0.5, 0.25)
    np.testing.assert_array_equal(t.numpy(), tt.numpy())


def test_the_manual_sgd_habit_trains():
    """with no_grad(): p -= lr * p.grad used to rebind p and train
    nothing."""
    model = nn.Linear(3, 1, generator=np.random.default_rng(0))
    x = ad.tensor(arr((16, 3), 1, F32))
    y = ad.tensor(arr((16, 1), 2, F32))
    w = model.weight
    losses = []
    for _ in range(20):
        loss = ad.mse_loss(model(x), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with ad.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert model.weight is w and w.is_leaf and w.requires_grad
    assert losses[-1] < 0.8 * losses[0]


def test_in_place_matches_the_optimizer():
    rng = np.random.default_rng(3)
    a, b = nn.Linear(4, 2, generator=rng), nn.Linear(4, 2)
    b.load_state_dict(a.state_dict())
    opt = optim.SGD(b.parameters(), lr=0.05)
    x = ad.tensor(arr((8, 4), 4, F32))
    for _ in range(3):
        for m in (a, b):
            m.zero_grad()
            m(x).square().mean().backward()
        with ad.no_grad():
            for p in a.parameters():
                p.sub_(p.grad, alpha=0.05)
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_operand_broadcasts_to_self_never_the_reverse():
    t = ad.ones(2, 3)
    t += ad.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(t.numpy(), [[2, 3, 4], [2, 3, 4]])
    s = ad.zeros(3)
    before = version(s)
    for call in (lambda: s.__iadd__(ad.ones(2, 3)),
                 lambda: s.add_(ad.ones(2, 3)),
                 lambda: s.mul_(np.ones((2, 3))),
                 lambda: s.copy_(ad.ones(2, 3)),
                 lambda: s.sub_(ad.ones(2))):
        with pytest.raises(ValueError) as e:
            call()
        assert "(3,)" in str(e.value), str(e.value)
        assert "(2, 3)" in str(e.value) or "(2,)" in str(e.value)
    np.testing.assert_array_equal(s.numpy(), [0, 0, 0])
    assert version(s) == before


def test_unsupported_operand_is_a_type_error():
    t = ad.ones(3)
    with pytest.raises(TypeError):
        t += "abc"
    with pytest.raises(TypeError):
        t.mul_({"a": 1})
    with pytest.raises(TypeError):
        t.add_("abc")
    np.testing.assert_array_equal(t.numpy(), [1, 1, 1])


@needs_torch
def test_leaf_that_requires_grad_refuses_in_place_as_torch():
    tt = torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError) as te:
        tt.add_(1)
    assert str(te.value) == LEAF_MSG
    p = ad.zeros(3, requires_grad=True)
    for call in (lambda: p.add_(1.0), lambda: p.sub_(1.0),
                 lambda: p.mul_(2.0), lambda: p.div_(2.0),
                 lambda: p.clamp_(0.0), lambda: p.fill_(1.0),
                 lambda: p.zero_(), lambda: p.copy_(ad.ones(3)),
                 lambda: p.__iadd__(1.0), lambda: p.__isub__(1.0),
                 lambda: p.__imul__(1.0), lambda: p.__itruediv__(1.0),
                 lambda: p.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError) as e:
            call()
        assert str(e.value) == str(te.value)
    assert version(p) == 0
    with ad.no_grad():              # allowed, as torch
        p += 1.0
        p[1] = 5.0
    np.testing.assert_array_equal(p.numpy(), [1, 5, 1])
    assert p.is_leaf and p.requires_grad


def test_non_leaf_refuses_in_place_and_no_grad_bumps_the_version():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    for call in (lambda: h.add_(1.0), lambda: h.__imul__(2.0),
                 lambda: h.clip_(0.0, 1.0), lambda: h.copy_(ad.ones(2))):
        with pytest.raises(RuntimeError, match="out-of-place form, x = x "
                                               r"\+ y") as e:
            call()
        assert "recorded graph" in str(e.value)
    np.testing.assert_array_equal(h.numpy(), [3.0, 6.0])
    with ad.no_grad():
        h += 1.0                    # allowed, and y's graph saw the old h
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y.backward()
    assert x.grad is None


def test_operand_that_requires_grad_is_not_silently_dropped():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    acc = ad.zeros(2)
    with pytest.raises(RuntimeError, match="operand requires grad"):
        acc += x
    with pytest.raises(RuntimeError, match="operand requires grad"):
        acc.copy_(x)
    np.testing.assert_array_equal(acc.numpy(), [0, 0])
    with ad.no_grad():
        acc += x
    np.testing.assert_array_equal(acc.numpy(), [1, 2])
    assert not acc.requires_grad


def _sgd_step(w, x, y):
    loss = ((x @ w - y) ** 2).mean()
    # (zeroed in place: a compiled replay re-reads this grad tensor, while
    # w.grad = None would make backward create a new one each replay)
    w.grad.zero_()
    loss.backward()
    with ad.no_grad():
        w -= 0.1 * w.grad
        w.clamp_(-0.5, 0.5)
    return loss


def test_in_place_ops_replay_under_compile():
    """The out-of-place result is a forward record and the copy a COPY
    instruction, so a replay recomputes the update: bit-for-bit eager."""
    w0 = arr((3, 1), 7, F32)
    we = ad.tensor(w0, requires_grad=True)
    wc = ad.tensor(w0, requires_grad=True)
    we.grad, wc.grad = ad.zeros_like(we), ad.zeros_like(wc)
    step = ad.compile(_sgd_step)
    for i in range(5):
        x, y = arr((8, 3), 10 + i, F32), arr((8, 1), 20 + i, F32)
        le = _sgd_step(we, ad.tensor(x), ad.tensor(y))
        lc = step(wc, x, y)
        assert le.item() == lc.item()
        np.testing.assert_array_equal(we.numpy(), wc.numpy())
    assert step.recordings == 1


def test_item_assignment_replays_under_compile():
    def f(x):
        y = x * 2.0
        y[0] = x[1] + 1.0
        y[:, 1] = 7.0
        return y.sum()

    g = ad.compile(f)
    for i in range(3):
        x = arr((2, 3), 30 + i)     # a tensor argument: a placeholder
        assert g(ad.tensor(x)).item() == f(ad.tensor(x)).item()

    def step(w, x):                 # the recorded (differentiable) form
        y = w * x
        y[0] = y[1] * 3.0
        loss = (y * y).sum()
        w.grad.zero_()
        loss.backward()
        return loss

    we = ad.tensor(np.ones((2, 3)), requires_grad=True)
    wc = ad.tensor(np.ones((2, 3)), requires_grad=True)
    we.grad, wc.grad = ad.zeros_like(we), ad.zeros_like(wc)
    h = ad.compile(step)
    for i in range(3):
        x = arr((2, 3), 40 + i)
        assert h(wc, x).item() == step(we, ad.tensor(x)).item()
        np.testing.assert_array_equal(wc.grad.numpy(), we.grad.numpy())
    assert h.recordings == 1


# ------------------------------------------------- copies that look like views

def _view_like(w):
    return {"w[0]": w[0], "w[:, 1]": w[:, 1], "w[...]": w[...],
            "w[None]": w[None], "w[0, 0]": w[0, 0], "w[::2]": w[::2],
            "w.T": w.T, "transpose": w.transpose(1, 0),
            "transpose()": w.transpose(), "permute": w.permute(1, 0),
            "swapaxes": ad.swapaxes(w, 0, 1),
            "broadcast_to": w.broadcast_to((4, 2, 3)),
            "w[0].reshape": w[0].reshape(3, 1), "w.T.flatten": w.T.flatten(),
            "w[0].detach": w[0].detach(), "w.T.data": w.T.data,
            "w[1].unsqueeze": w[1].unsqueeze(0), "iter": next(iter(w))}


def test_in_place_on_a_copy_that_torch_makes_a_view_raises():
    w = ad.tensor(arr((2, 3), 8))
    before = w.numpy()
    for name, c in _view_like(w).items():
        snapshot = c.numpy()
        for call in (lambda: c.fill_(1.0), lambda: c.zero_(),
                     lambda: c.add_(1.0), lambda: c.__iadd__(1.0),
                     lambda: c.__isub__(1.0), lambda: c.mul_(2.0),
                     lambda: c.div_(2.0), lambda: c.clamp_(0.0),
                     lambda: c.copy_(np.ones(c.shape)),
                     lambda: c.__setitem__(..., 1.0)):
            with pytest.raises(RuntimeError) as e:
                call()
            msg = str(e.value)
            assert "is a copy, not a view" in msg, (name, msg)
            assert "w[0] = value" in msg
        np.testing.assert_array_equal(c.numpy(), snapshot, err_msg=name)
    np.testing.assert_array_equal(w.numpy(), before)
    with ad.no_grad():              # not a grad-mode matter
        with pytest.raises(RuntimeError, match="copy, not a view"):
            w[0].fill_(1.0)


def test_advanced_indexing_returns_writable_copies_as_torch():
    w = ad.zeros(3, 2)
    for c in (w[[0, 2]], w[np.array([True, False, True])],
              w[ad.tensor([1.0])], w[[0, 1], [1, 1]]):
        c.fill_(5.0)                # a copy in torch too
        np.testing.assert_array_equal(c.numpy(), np.full(c.shape, 5.0))
    np.testing.assert_array_equal(w.numpy(), np.zeros((3, 2)))


def test_reshape_views_stay_writable_and_share_memory():
    w = ad.zeros(2, 3)
    for v in (w.reshape(6), w.view(3, 2), w.flatten(), w.unsqueeze(0),
              w.reshape(1, 2, 3).squeeze(0), w.detach(), w.data,
              w.broadcast_to((2, 3))):
        v.add_(1.0)
    np.testing.assert_array_equal(w.numpy(), np.full((2, 3), 8.0))
    assert w.float() is w and w.to(ad.float32) is w     # as torch
    assert w.double() is not w and w.double().dtype == np.float64


@needs_torch
def test_view_writes_match_torch():
    a = arr((2, 3), 9)
    w, tw = ad.tensor(a), torch.tensor(a)
    w.reshape(6).mul_(2.0)
    tw.reshape(6).mul_(2.0)
    w[0] = 1.0
    tw[0] = 1.0
    w[:, 1] = w[:, 1] + 3.0
    tw[:, 1] += 3.0
    w[[0, 1], 2] += 1.0             # advanced: a copy in torch too
    tw[[0, 1], 2] += 1.0
    np.testing.assert_array_equal(w.numpy(), tw.numpy())
    # w[:, 1] += 3 runs (w[:, 1]).__iadd__(3) on a copy, then stores it
    # back: the copy sees from the bytecode that it is read and stored by
    # this augmented assignment, so it is allowed (torch's values)
    w[:, 1] += 3.0
    tw[:, 1] += 3.0
    np.testing.assert_array_equal(w.numpy(), tw.numpy())
    # a copy that outlives the statement still refuses
    col = w[:, 1]
    with pytest.raises(RuntimeError, match=r"w\[0\] = w\[0\] \+ v"):
        col += 3.0
    np.testing.assert_array_equal(w.numpy(), tw.numpy())


# --------------------------------------------------------- item assignment

KEYS = [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 0), slice(1, None),
        (slice(None, None, 2), slice(1, 3)), (None, 1), (1, None, 0),
        [0, 2], (slice(None), [3, 0]), ([0, 2], [1, 3]),
        np.array([True, False, True]), (np.array([True, False, True]), 1),
        np.arange(12).reshape(3, 4) % 3 == 0, "tensor", (1, "tensor")]


def _key(k):
    return ad.tensor([2.0, 0.0]) if isinstance(k, str) else (
        tuple(_key(p) for p in k) if isinstance(k, tuple) else k)


def _np_key(k):
    return np.array([2, 0]) if isinstance(k, str) else (
        tuple(_np_key(p) for p in k) if isinstance(k, tuple) else k)


@pytest.mark.parametrize("ki", range(len(KEYS)))
@pytest.mark.parametrize("value", ["scalar", "full", "row", "tensor",
                                   "leading ones"])
def test_item_assignment_in_place_matches_numpy(ki, value):
    key = KEYS[ki]
    a = arr((3, 4), 11)
    ref = a.copy()
    sel_shape = ref[_np_key(key)].shape
    v = {"scalar": 2.5, "full": arr(sel_shape, 12),
         "row": arr(sel_shape[-1:], 13),
         "tensor": ad.tensor(arr(sel_shape, 14), dtype=F32),
         "leading ones": arr((1, 1) + sel_shape, 15)}[value]
    ref[_np_key(key)] = v.numpy() if isinstance(v, ad.Tensor) else np.asarray(
        v).reshape(np.shape(v)[2:] if value == "leading ones" else np.shape(v))
    t = ad.tensor(a)
    v0 = version(t)
    t[_key(key)] = v
    np.testing.assert_array_equal(t.numpy(), ref)
    assert t.dtype == np.float64 and version(t) > v0


def test_item_assignment_dtype_and_errors_leave_the_tensor_alone():
    t = ad.zeros(2, 3)
    t[0] = np.array([1.1, 2.2, 3.3], dtype=F64)   # stays float32
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy()[0], np.float32([1.1, 2.2, 3.3]))
    before, v0 = t.numpy(), version(t)
    with pytest.raises(ValueError, match=r"value tensor of shape \(2,\) "
                                         r"cannot be broadcast to indexing "
                                         r"result of shape \(3,\)"):
        t[1] = ad.ones(2)
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2,\)"):
        t[:, 0] = np.ones((2, 2))
    with pytest.raises(IndexError):
        t[5] = 1.0
    with pytest.raises(TypeError):
        t[0] = "abc"
    np.testing.assert_array_equal(t.numpy(), before)
    assert version(t) == v0


def test_repeated_indices_write_the_last_value():
    t = ad.zeros(4)
    t[[1, 3, 1, 1]] = ad.tensor([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_array_equal(t.numpy(), [0, 40, 0, 20])
    x = ad.zeros(4)
    v = ad.tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
    x[[1, 3, 1, 1]] = v             # recorded: v requires grad
    np.testing.assert_array_equal(x.numpy(), [0, 40, 0, 20])
    (x * ad.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    # only the written values reach the result
    np.testing.assert_array_equal(v.grad.numpy(), [0, 4, 0, 2])


TORCH_KEYS = [(slice(None), 0), 1, (Ellipsis, slice(1, 3)), [2, 0],
              ([0, 1], [3, 3]), "mask"]


@needs_torch
@pytest.mark.parametrize("ki", range(len(TORCH_KEYS)))
def test_differentiable_item_assignment_matches_torch(ki):
    key = TORCH_KEYS[ki]
    a = arr((3, 4), 16)
    mask = a > 0
    k = mask if key == "mask" else key
    sel = a[k].shape
    b = arr(sel[-1:] if sel else (), 17)
    gout = arr((3, 4), 18)
    x = ad.tensor(a, requires_grad=True)
    v = ad.tensor(b, requires_grad=True)
    y = x * 2.0
    y[k] = v * 3.0
    assert not y.is_leaf and y.requires_grad
    (y.exp() * ad.tensor(gout)).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tv = torch.tensor(b, requires_grad=True)
    ty = tx * 2.0
    ty[torch.tensor(mask) if key == "mask" else k] = tv * 3.0
    (ty.exp() * torch.tensor(gout)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-12)


def test_differentiable_item_assignment_central_differences():
    a, b = arr((3, 4), 19), arr((3,), 20)

    def f(x, v):
        y = x * x
        y[:, 1] = v * 2.0
        y[0, ::2] = 1.5
        return (y * y).sum()

    x = ad.tensor(a, requires_grad=True)
    v = ad.tensor(b, requires_grad=True)
    f(x, v).backward()
    gx, gv = numerical_grad(
        lambda x_, v_: f(ad.tensor(x_), ad.tensor(v_)).item(), [a, b])
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(v.grad.numpy(), gv, rtol=1e-6, atol=1e-8)
    # the differentiable rules (higher order) see the same graph
    x2 = ad.tensor(a, requires_grad=True)
    v2 = ad.tensor(b, requires_grad=True)
    g1, g2 = ad.autograd.grad(f(x2, v2), [x2, v2])
    np.testing.assert_allclose(g1.numpy(), gx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g2.numpy(), gv, rtol=1e-6, atol=1e-8)


@needs_torch
def test_assigning_a_value_that_requires_grad_into_a_plain_tensor():
    """out = zeros(n); out[i] = f(x): the tensor joins the graph, as in
    torch, instead of silently dropping the gradient."""
    a = arr((3,), 21)
    x = ad.tensor(a, requires_grad=True)
    out = ad.zeros(3, 2, dtype=ad.float64)
    for i in range(3):
        out[i] = x[i] * ad.tensor([1.0, 2.0])
    assert out.requires_grad and not out.is_leaf
    out.square().sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tout = torch.zeros(3, 2, dtype=torch.float64)
    for i in range(3):
        tout[i] = tx[i] * torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert tout.requires_grad and not tout.is_leaf
    tout.square().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_item_assignment_on_a_shared_buffer_is_refused():
    x = ad.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 2.0
    flat = y.reshape(2, 2)          # shares y's memory
    with pytest.raises(RuntimeError, match="shares its memory"):
        y[0] = 5.0
    with pytest.raises(RuntimeError, match="shares its memory"):
        flat[0, 0] = 5.0
    np.testing.assert_array_equal(y.detach().numpy(), [2, 4, 6, 8])
    del flat
    y[0] = 5.0                      # its own memory again
    np.testing.assert_array_equal(y.detach().numpy(), [5, 4, 6, 8])
    e = x.exp()                     # exp saves its output: not a sharer
    e[1] = 0.0
    e.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(),
                               [np.exp(1.0), 0, np.exp(3.0), np.exp(4.0)],
                               rtol=1e-6)


def test_item_assignment_keeps_retain_grad_and_the_graph_before_it():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 3.0
    y.retain_grad()
    z = y.sum()                     # uses the old y
    y[0] = 0.0
    (z + (y * y).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3 + 36.0, 3 + 54.0])
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 12.0, 18.0])


def test_differentiable_assignment_into_a_leaf_is_refused_while_compiling():
    w = ad.tensor([1.0, 2.0], requires_grad=True)

    def f(buf):
        buf[0] = w.sum()
        return buf.sum()

    with pytest.raises(RuntimeError, match="ad.compile"):
        ad.compile(f)(np.zeros(2))


# ---------------------------------------------------- numpy, format, flatten

@pytest.mark.parametrize("fn", [np.sum, np.mean, np.max, np.min, np.amax,
                                np.amin, np.std, np.var])
def test_numpy_reductions_accept_numpy_keywords(fn):
    a = arr((3, 4), 22)
    t = ad.tensor(a)
    for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True},
               {"axis": (0, 1)}):
        r = fn(t, **kw)
        assert isinstance(r, ad.Tensor)
        np.testing.assert_allclose(r.numpy(), fn(a, **kw), rtol=1e-12)
    with pytest.raises(TypeError, match="out= is not supported"):
        fn(t, out=np.zeros(()))


def test_reduction_dtype_argument():
    t = ad.tensor([1.0, 2.0, 3.0])
    s = np.sum(t, dtype=np.float64)
    assert s.dtype == np.float64 and s.item() == 6.0
    assert ad.mean(t, dtype=ad.float64).dtype == np.float64
    assert t.sum(dtype=ad.float32).dtype == np.float32
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    x.sum(dtype=ad.float64).backward()      # a recorded cast
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@needs_torch
def test_format_follows_torch():
    t, tt = ad.tensor(1.23456), torch.tensor(1.23456)
    assert f"{t:.2f}" == f"{tt:.2f}" == "1.23"
    assert f"{t:>8.3f}" == f"{tt:>8.3f}"
    assert f"{t}" == f"{tt}" == format(t.item())
    # one element of any shape formats its value (torch: only 0-d)
    assert f"{ad.tensor([2.5]):.2f}" == "2.50"
    assert f"{ad.tensor([[7.0]]):e}" == "7.000000e+00"
    assert f"{ad.tensor([2.5])}" == str(ad.tensor([2.5]))
    m = ad.tensor([1.0, 2.0])
    assert f"{m}" == format(m, "") == str(m)
    with pytest.raises(TypeError) as want:
        f"{torch.tensor([1.0, 2.0]):.2f}"
    with pytest.raises(TypeError) as got:
        f"{m:.2f}"
    assert str(got.value).startswith(str(want.value))


@needs_torch
def test_flatten_matches_torch():
    shapes = [(), (5,), (2, 3), (2, 3, 4), (2, 1, 3, 2)]
    for shape in shapes:
        a = np.arange(int(np.prod(shape)), dtype=F32).reshape(shape)
        nd = max(len(shape), 1)
        for s in range(-nd - 1, nd + 1):
            for e in range(-nd - 1, nd + 1):
                t, tt = ad.tensor(a), torch.tensor(a)
                try:
                    want = tt.flatten(s, e)
                except (IndexError, RuntimeError) as err:
                    with pytest.raises(type(err)) as got:
                        t.flatten(s, e)
                    assert str(got.value) == str(err)
                    with pytest.raises(type(err)):
                        ad.flatten(t, s, e)
                    continue
                assert t.flatten(s, e).shape == tuple(want.shape)
                np.testing.assert_array_equal(ad.flatten(t, s, e).numpy(),
                                              want.numpy())
    x = ad.zeros(2, 3, 4)
    assert x.flatten(1).shape == (2, 12) and x.flatten().shape == (24,)
    x.flatten(1).fill_(1.0)         # a view, as torch
    assert x.numpy().sum() == 24


@needs_torch
def test_nn_flatten_of_a_0d_tensor_is_torchs_index_error():
    with pytest.raises(IndexError) as want:
        torch.nn.Flatten()(torch.tensor(2.0))
    with pytest.raises(IndexError) as got:
        nn.Flatten()(ad.tensor(2.0))
    assert str(got.value) == str(want.value)
    assert nn.Flatten(0)(ad.tensor(2.0)).shape == (1,)
    assert nn.Flatten()(ad.zeros(2, 3, 4)).shape == (2, 12)


def test_numpy_scalars_keep_their_dtype():
    assert ad.tensor(np.float64(1.5)).dtype == np.float64
    assert ad.tensor(np.float32(1.5)).dtype == np.float32
    assert ad.tensor(np.array(1.5)).dtype == np.float64
    assert ad.tensor(1.5).dtype == np.float32          # Python floats
    assert ad.tensor([np.float64(1.5)]).dtype == np.float32   # lists
    assert ad.tensor(np.int64(3)).dtype == np.int64
    assert ad.tensor(np.float64(1.5), dtype=ad.float32).dtype == np.float32
    assert ad.tensor(np.float64(0.1)).item() == 0.1    # no float32 rounding


@needs_torch
def test_integer_data_cannot_require_grad():
    with pytest.raises(RuntimeError) as want:
        torch.tensor([1, 2], requires_grad=True)
    for data in ([1, 2], np.arange(3), 3, True, [True, False],
                 np.array([1, 2], dtype=np.uint8)):
        with pytest.raises(RuntimeError) as got:
            ad.tensor(data, requires_grad=True)
        assert str(got.value).startswith(str(want.value))
    t = ad.tensor([1, 2], dtype=ad.float32, requires_grad=True)
    assert t.requires_grad and t.dtype == np.float32
    assert ad.tensor([1.0, 2], requires_grad=True).requires_grad
    assert not ad.tensor([1, 2]).requires_grad         # still converted


# ------------------------------------------------------------ error paths

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)


def test_load_state_dict_checks_dtypes_before_copying_anything():
    m = Two()
    before = {k: v.numpy() for k, v in m.state_dict().items()}
    good = {k: np.full(v.shape, 7.0) for k, v in before.items()}
    for bad in (np.array(["x", "y"]), np.array([1j, 2j]),
                np.array([None, None])):
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict(dict(good, **{"b.bias": bad}))
        assert isinstance(e.value, ValueError)  # as autodiff raised before
        msg = str(e.value)
        assert msg.startswith("Error(s) in loading state_dict for Two:")
        assert "b.bias" in msg and str(bad.dtype) in msg, msg
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)
    m.load_state_dict(good)
    assert all((v.numpy() == 7.0).all() for v in m.state_dict().values())


@needs_torch
def test_load_state_dict_message_follows_torch():
    sd = {"weight": np.zeros((3, 3), F32), "extra": np.zeros(1, F32)}
    with pytest.raises(RuntimeError) as want:
        torch.nn.Linear(2, 3).load_state_dict(
            {k: torch.from_numpy(v) for k, v in sd.items()})
    m = nn.Linear(2, 3)
    with pytest.raises(RuntimeError) as got:
        m.load_state_dict(sd)
    expected = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", r"(\1)",
                      str(want.value)).replace(" \n", "\n")
    assert str(got.value) == expected
    res = m.load_state_dict({"weight": np.ones((3, 2)), "extra": 1.0},
                            strict=False)
    assert res == {"missing_keys": ["bias"], "unexpected_keys": ["extra"]}
    np.testing.assert_array_equal(m.weight.numpy(), np.ones((3, 2)))


def test_load_state_dict_into_a_parameter_that_is_a_copy_is_refused():
    lin = nn.Linear(2, 2)
    other = nn.Linear(2, 2)
    lin.weight = nn.Parameter(other.weight.T)      # a copy, not a view
    before = lin.bias.numpy()
    with pytest.raises(RuntimeError, match="copy, not a view"):
        lin.load_state_dict({"weight": np.ones((2, 2)),
                             "bias": np.ones(2)})
    np.testing.assert_array_equal(lin.bias.numpy(), before)


def _trained(cls, **kw):
    net = nn.Linear(3, 2, generator=np.random.default_rng(0))
    opt = cls(net.parameters(), **kw)
    x = ad.tensor(arr((4, 3), 23, F32))
    for _ in range(2):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    return net, opt, x


@pytest.mark.parametrize("step", [-1, 2.5, float("nan"), float("inf"),
                                  "3", True, np.array([1, 2]), None,
                                  2 ** 63, -0.5])
def test_optimizer_rejects_a_bad_step_and_changes_nothing(step):
    net, opt, _ = _trained(optim.Adam, lr=0.01)
    sd = opt.state_dict()
    bad = copy.deepcopy(sd)
    bad["state"][1]["step"] = step
    bad["param_groups"][0]["lr"] = 0.5
    with pytest.raises(ValueError, match="parameter 1 step"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"][0]["lr"] == 0.01
    for i in sd["state"]:
        for k, v in sd["state"][i].items():
            np.testing.assert_array_equal(after["state"][i][k], v)


def test_optimizer_accepts_integral_steps_of_any_type():
    for step in (3, 3.0, np.int64(3), np.float32(3.0), np.array(3)):
        net, opt, x = _trained(optim.Adam, lr=0.01)
        sd = opt.state_dict()
        sd["state"][0]["step"] = step
        opt.load_state_dict(sd)
        assert opt.state_dict()["state"][0]["step"] == 3
        opt.step()
        assert all(np.isfinite(p.numpy()).all() for p in net.parameters())


def test_optimizer_rejects_bad_arrays_keys_and_options():
    net, opt, _ = _trained(optim.Adam, lr=0.01)
    sd = opt.state_dict()
    for edit, needle in (
            (lambda s: s["state"][0].__setitem__("exp_avg", np.zeros(3)),
             "parameter 0 exp_avg: shape"),
            (lambda s: s["state"][0].__setitem__(
                "exp_avg", np.full((2, 3), "a")), "not numeric"),
            (lambda s: s["state"][0].__setitem__("momentum_buffer",
                                                 np.zeros((2, 3))),
             "unknown state 'momentum_buffer' for Adam"),
            (lambda s: s["param_groups"][0].__setitem__("lr", -1.0),
             "parameter group 0.*learning rate"),
            (lambda s: s["param_groups"][0].__setitem__("betas", (1.5, 0.9)),
             "beta")):
        bad = copy.deepcopy(sd)
        edit(bad)
        with pytest.raises(ValueError, match=needle):
            opt.load_state_dict(bad)
        after = opt.state_dict()
        assert after["param_groups"][0]["lr"] == 0.01
        assert after["param_groups"][0]["betas"] == (0.9, 0.999)
        np.testing.assert_array_equal(after["state"][0]["exp_avg"],
                                      sd["state"][0]["exp_avg"])


@pytest.mark.parametrize("fn", [ad.cross_entropy, ad.nll_loss])
def test_huge_float_labels_name_the_value(fn):
    x = ad.zeros(2, 3)
    for bad, err, text in ((1e30, IndexError, "1e+30"),
                           (-1e30, IndexError, "-1e+30"),
                           (float("inf"), IndexError, "inf"),
                           (2.0 ** 63, IndexError, "9.223372036854776e+18"),
                           (float("nan"), ValueError, "nan"),
                           (1.5, ValueError, "1.5")):
        with pytest.raises(err) as e:
            fn(x, np.array([1.0, bad]))
        assert text in str(e.value) and "sample 1" in str(e.value)
    with pytest.raises(IndexError, match="18446744073709551615"):
        fn(x, np.array([1, 2 ** 64 - 1], dtype=np.uint64))
    with pytest.raises(IndexError, match="target 3 is out of bounds"):
        fn(x, np.array([1.0, 3.0]))
    assert np.isfinite(fn(x, np.array([1.0, 2.0])).item())


@pytest.mark.parametrize("cls,kw", [(optim.Adam, {"lr": 0.01}),
                                    (optim.SGD, {"lr": 0.1,
                                                 "momentum": 0.9}),
                                    (optim.RMSprop, {"lr": 0.01,
                                                     "centered": True})])
def test_deepcopy_of_an_optimizer_after_step(cls, kw):
    net, opt, x = _trained(cls, **kw)
    net2, opt2 = copy.deepcopy((net, opt))
    assert opt2._kernels is None                    # rebuilt lazily
    p, p2 = list(net.parameters()), list(net2.parameters())
    assert all(a is b for a, b in zip(opt2.param_groups[0]["params"], p2))
    for a, b in zip(p, p2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert E._node_key(a) != E._node_key(b)     # own memory
    st, st2 = opt.state_dict(), opt2.state_dict()
    for i in st["state"]:
        for k, v in st["state"][i].items():
            np.testing.assert_array_equal(st2["state"][i][k], v)
    # the copy trains on its own: the original does not move
    frozen = [a.numpy() for a in p]
    for _ in range(3):
        opt2.zero_grad()
        net2(x).square().mean().backward()
        opt2.step()
    for a, f in zip(p, frozen):
        np.testing.assert_array_equal(a.numpy(), f)
    p0, p20 = p[0], opt2.param_groups[0]["params"][0]
    opt.state_dict(), opt2.state_dict()     # sync the C step counts
    assert opt.state[p0]["step"] == 2       # (SGD's state_dict has none)
    assert opt2.state[p20]["step"] == 5
    # ...and the original, trained the same way, ends where the copy did
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    for a, b in zip(p, p2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------ indexing cost

FLAT_KEYS = [0, -1, 2, (1,), (0, 1), (slice(None), 1), (Ellipsis,),
             (Ellipsis, 1), (None,), (None, 0), (1, None, slice(None)),
             slice(None, None, -1), (slice(1, None), slice(None, None, 2)),
             (slice(5, 1, -2),), [0, 2], [[0], [1]], np.array([2, -1]),
             ([0, 1], [2, 0]), (slice(None), [3, 1, 3]),
             (slice(None), None, [0, 0]), ([1], Ellipsis, [2]),
             (np.array([[0, 1]]), slice(None), np.array([[1], [0]])),
             np.array([True, False, True]), (np.array([True, False, True]),
                                             slice(1, 3)),
             (Ellipsis, np.array([False, True, True, False])),
             np.ones((3, 4), bool), np.zeros((3, 4), bool), [], (1, [])]


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 2), (3, 4, 1, 2)])
def test_flat_index_equals_the_arange_formula(shape):
    n = 0
    for key in FLAT_KEYS:
        try:
            old = np.asarray(np.arange(int(np.prod(shape)),
                                       dtype=np.int64).reshape(shape)[key],
                             dtype=np.int64)
        except IndexError as e:
            with pytest.raises(IndexError) as got:
                _flat_index(shape, key)
            assert str(got.value) == str(e)
            continue
        new = _flat_index(shape, key)
        assert new.dtype == np.int64 and new.shape == old.shape, key
        np.testing.assert_array_equal(new, old, err_msg=repr(key))
        n += 1
    assert n > 20
    for key in ((), None, Ellipsis, (None, None)):      # 0-d tensors
        np.testing.assert_array_equal(
            _flat_index((), key), np.arange(1).reshape(())[key])


def test_indexing_builds_only_the_selected_indices():
    assert _flat_index((1000, 1000), 0).shape == (1000,)
    assert _flat_index((1000, 1000), (slice(None), 3)).size == 1000
    x = ad.zeros(1000, 1000)
    x[0]                            # warm up
    tracemalloc.start()
    try:
        row = x[999]
        x[5] = 1.0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the old np.arange(x.size) index alone was 8 MB
    assert peak < 200_000, peak
    assert row.shape == (1000,)
    np.testing.assert_array_equal(x[5].numpy(), np.ones(1000))
    rows = [r for r in ad.tensor(np.arange(12.0).reshape(4, 3))]
    np.testing.assert_array_equal(rows[3].numpy(), [9, 10, 11])


# ---- set_grad_enabled: a function, a context manager and a decorator

def test_set_grad_enabled_as_context_manager_restores_the_mode():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with ad.set_grad_enabled(False):
        assert not ad.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert ad.is_grad_enabled()
    with pytest.raises(KeyError):
        with ad.set_grad_enabled(False):
            raise KeyError("x")
    assert ad.is_grad_enabled()
    with ad.no_grad():
        with ad.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not ad.is_grad_enabled()


def test_set_grad_enabled_as_a_function_and_decorator():
    try:
        ad.set_grad_enabled(False)
        assert not ad.is_grad_enabled()
    finally:
        ad.set_grad_enabled(True)
    assert ad.is_grad_enabled()

    @ad.set_grad_enabled(False)
    def f(t):
        return (t * 2).requires_grad, ad.is_grad_enabled()
    assert ad.is_grad_enabled()          # decorating switched nothing
    assert f(ad.tensor([1.0], requires_grad=True)) == (False, False)
    assert ad.is_grad_enabled()
    with pytest.raises(TypeError, match="bool"):
        ad.set_grad_enabled("no")


# ---- the Trainer's metrics follow the task

def _regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    return X, (X @ rng.normal(size=(3, 1))).astype(np.float32)


def test_trainer_reports_no_accuracy_for_regression():
    X, Y = _regression_data()
    m = ad.nn.Linear(3, 1)
    tr = ad.Trainer(m, ad.nn.MSELoss(), ad.optim.SGD(m.parameters(), lr=0.1))
    assert tr.task == "regression"
    hist = tr.fit(X, Y, epochs=2, verbose=0, seed=0, validation_data=(X, Y))
    assert set(hist.history) == {"loss", "val_loss", "time"}
    with pytest.raises(ValueError, match="regression loss"):
        tr.fit(X, Y, metrics=("accuracy",), verbose=0)
    hist = tr.fit(X, Y, epochs=1, metrics="mae", verbose=0, seed=0)
    mae = float(np.mean(np.abs(tr.predict(X) - Y)))
    assert abs(tr.evaluate(X, Y, metrics="mae")["mae"] - mae) < 1e-6


@pytest.mark.parametrize("loss,task", [
    (ad.nn.CrossEntropyLoss(), "classification"),
    (ad.nn.BCEWithLogitsLoss(), "classification"),
    (ad.nn.functional.cross_entropy, "classification"),
    (ad.nn.L1Loss(), "regression"), (ad.nn.functional.mse_loss,
                                     "regression")])
def test_trainer_infers_the_task_from_the_loss(loss, task):
    m = ad.nn.Linear(3, 2)
    tr = ad.Trainer(m, loss, ad.optim.SGD(m.parameters(), lr=0.1))
    assert tr.task == task
    with pytest.raises(ValueError, match="task"):
        ad.Trainer(m, loss, ad.optim.SGD(m.parameters(), lr=0.1),
                   task="ranking")
