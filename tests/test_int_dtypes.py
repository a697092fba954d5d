"""int64 and bool tensors against torch: creation, promotion, arithmetic,
comparisons, bitwise ops, casts, argmax/argmin, max/min along a dim,
reductions, indexing and labels, and replay under ad.compile.

The ops without a gradient (comparisons, bitwise ops, argmax and argmin:
the engine's NONDIFF_OPS) are tested here kind by kind; the opdb tables
cover the differentiable ones.
"""
import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine as E
from conftest import lazy_torch

torch = lazy_torch()

I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min

INTS = np.array([[3, -7, 0, I64_MAX], [2, 2, -1, 5]], dtype=np.int64)
INTS2 = np.array([[3, 2, 0, 1], [-4, 2, 9, 5]], dtype=np.int64)
BOOLS = np.array([[True, False, True, False], [False, False, True, True]])
FLOATS = np.array([[1.5, -2.0, np.nan, np.inf], [2.0, -0.0, 0.0, -np.inf]])


def tname(t):
    return str(t.dtype).replace("torch.", "")


def same(a, t):
    """The autodiff tensor a equals the torch tensor t: dtype and bits."""
    assert a.dtype.name == tname(t), (a.dtype, t.dtype)
    assert a.shape == tuple(t.shape)
    np.testing.assert_array_equal(a.numpy(), t.numpy())


def both(arr):
    return ad.tensor(arr), torch.tensor(arr)


# ------------------------------------------------------------ creation

@pytest.mark.parametrize("data", [1, -3, True, [1, 2], [[True], [False]],
                                  [1, 2.5], 2.5, np.arange(3),
                                  np.array([True, False]), np.int64(4),
                                  np.bool_(False)],
                         ids=repr)
def test_creation_infers_torch_dtype(data):
    same(ad.tensor(data), torch.tensor(data))


def test_creation_functions():
    same(ad.full((2, 3), 7), torch.full((2, 3), 7))
    same(ad.full((2,), True), torch.full((2,), True))
    same(ad.full((2,), 2 ** 62 + 1), torch.full((2,), 2 ** 62 + 1))
    same(ad.zeros(3, dtype=ad.long), torch.zeros(3, dtype=torch.long))
    same(ad.ones(2, 2, dtype=ad.bool), torch.ones(2, 2, dtype=torch.bool))
    same(ad.zeros_like(ad.tensor([1, 2])), torch.zeros_like(
        torch.tensor([1, 2])))
    assert ad.int64 is ad.long and ad.bool is ad.bool_
    assert ad.tensor(INTS).numpy().dtype == np.int64
    np.testing.assert_array_equal(ad.tensor(INTS).numpy(), INTS)
    assert ad.tensor([5])[0].item() == 5 and \
        type(ad.tensor([5])[0].item()) is int
    assert ad.tensor([True]).sum().item() == 1
    assert ad.tensor(True).item() is True
    assert repr(ad.tensor([1, 2])) == "tensor([1, 2])"


@pytest.mark.parametrize("make", [
    lambda: ad.tensor([1, 2], requires_grad=True),
    lambda: ad.tensor([1, 2]).requires_grad_(),
    lambda: ad.tensor([True]).requires_grad_(True),
    lambda: ad.zeros(2, dtype=ad.int64, requires_grad=True),
    lambda: ad.full((2,), 3, requires_grad=True),
    lambda: ad.tensor(ad.tensor([1]), requires_grad=True),
])
def test_integer_tensors_cannot_require_grad(make):
    with pytest.raises(RuntimeError, match="floating point"):
        make()


def test_integer_results_never_require_grad():
    x = ad.tensor([1.5, -2.0], requires_grad=True)
    for r in (x > 0, x.long(), x.bool(), x.argmax(), x == x,
              ad.isnan(x), x.max(0).indices):
        assert not r.requires_grad and r.is_leaf
        assert not r.is_floating_point()
    # a float made from them starts a new graph
    y = (x > 0).float() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])


# ----------------------------------------------------------- promotion

OPERANDS = {
    "i64": lambda: INTS2, "bool": lambda: BOOLS,
    "f32": lambda: FLOATS.astype(np.float32), "f64": lambda: FLOATS,
    "int": lambda: 3, "negint": lambda: -2, "float": lambda: 2.5,
    "True": lambda: True,
}
ARITH = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "maximum": lambda a, b: (a.maximum(b) if hasattr(b, "shape") else None),
    "pow": lambda a, b: a ** b,
}


def _pair(name):
    v = OPERANDS[name]()
    if isinstance(v, np.ndarray):
        return ad.tensor(v), torch.tensor(v)
    return v, v


def _attempt(fn):
    try:
        return fn(), None
    except Exception as e:            # noqa: BLE001 -- compared below
        return None, e


@pytest.mark.parametrize("op", list(ARITH))
@pytest.mark.parametrize("left", ["i64", "bool"])
@pytest.mark.parametrize("right", list(OPERANDS))
def test_arithmetic_promotion_and_values_match_torch(op, left, right):
    a, ta = _pair(left)
    b, tb = _pair(right)
    if op == "pow" and right in ("i64", "negint"):
        a, ta = ad.tensor(np.abs(INTS) % 5), torch.tensor(np.abs(INTS) % 5)
        if right == "negint":
            b = tb = 2
    r, err = _attempt(lambda: ARITH[op](a, b))
    tr, terr = _attempt(lambda: ARITH[op](ta, tb))
    if terr is not None or tr is None:
        assert r is None, "torch raised %r, autodiff gave %r" % (terr, r)
        return
    if (op, left, right) == ("pow", "bool", "True"):
        # torch special-cases bool ** True; autodiff refuses bool pow
        assert isinstance(err, TypeError) and "pow" in str(err)
        return
    assert err is None, err
    assert r.dtype.name == tname(tr)
    want = tr.numpy()
    if r.dtype.kind == "f":
        np.testing.assert_allclose(r.numpy(), want, rtol=1e-6)
    else:
        np.testing.assert_array_equal(r.numpy(), want)


def test_integer_arithmetic_wraps_like_torch():
    a, ta = both(np.array([I64_MAX, I64_MIN, 3], dtype=np.int64))
    same(a + 1, ta + 1)
    same(a - 1, ta - 1)
    same(a * 3, ta * 3)
    same(-a, -ta)
    same(abs(a), abs(ta))
    same(a ** 2, ta ** 2)


def test_integer_scalar_rules():
    a, ta = both(INTS)
    same(2 - a, 2 - ta)
    same(3 * a, 3 * ta)
    same(2.5 * a, 2.5 * ta)
    same(a / 2, ta / 2)
    same(1 / ad.tensor([1, 2, 4]), 1 / torch.tensor([1, 2, 4]))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        a ** -1
    b, tb = both(BOOLS)
    for bad in (lambda: b - b, lambda: a - b, lambda: b - a, lambda: b - 1,
                lambda: 1 - b, lambda: a - True, lambda: True - a):
        with pytest.raises(RuntimeError, match="Subtraction"):
            bad()
    with pytest.raises(RuntimeError, match="Negation"):
        -b
    same(b + 1, tb + 1)
    same(b * True, tb * True)


@pytest.mark.parametrize("name", ["neg", "abs", "sign", "square", "relu",
                                  "floor", "ceil", "round", "trunc",
                                  "exp", "sin", "sqrt", "sigmoid", "log1p"])
def test_unary_on_integers_matches_torch(name):
    x = np.array([[3, -7, 0], [2, 1, -1]], dtype=np.int64)
    a, ta = both(x)
    r = getattr(a, name)()
    tr = getattr(ta, name)()
    assert r.dtype.name == tname(tr)
    np.testing.assert_allclose(r.numpy(), tr.numpy(), rtol=1e-6)


def test_clamp_of_integers_keeps_int64():
    a, ta = both(INTS)
    same(a.clamp(-1, 3), ta.clamp(-1, 3))
    same(ad.clamp(a, min=0), torch.clamp(ta, min=0))
    r = a.clamp(0.5, 2.5)
    assert r.dtype == np.float32


# --------------------------------------------------------- comparisons

CMP = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__",
       "gt": "__gt__", "ge": "__ge__"}


def test_every_nondiff_kind_is_tested_here():
    assert E.NONDIFF_OPS == {"compare", "bitwise", "argreduce", "argsort",
                             "cumarg", "pool_argmax"}
    assert set(E.KINDS["compare"]) == set(CMP)
    assert set(E.KINDS["bitwise"]) == set(BITWISE)
    assert set(E.KINDS["argreduce"]) == {"argmax", "argmin"}


@pytest.mark.parametrize("kind", list(CMP))
@pytest.mark.parametrize("left,right", [
    ("f64", "f64"), ("f32", "f64"), ("i64", "i64"), ("i64", "f32"),
    ("bool", "bool"), ("bool", "i64"), ("f64", "float"), ("i64", "int"),
    ("i64", "float"), ("bool", "True")])
def test_comparisons_match_torch(kind, left, right):
    a, ta = _pair(left)
    b, tb = _pair(right)
    if left == right and left != "f64":
        b, tb = a[:1], ta[:1]                   # broadcast a row
    r = getattr(a, CMP[kind])(b)
    same(r, getattr(ta, CMP[kind])(tb))
    same(getattr(ad, kind)(a, b), getattr(torch, kind)(ta, tb))
    same(getattr(a, kind)(b), getattr(ta, kind)(tb))


def test_nan_and_inf_predicates():
    a, ta = both(FLOATS)
    for name in ("isnan", "isinf", "isfinite"):
        same(getattr(ad, name)(a), getattr(torch, name)(ta))
        same(getattr(a, name)(), getattr(ta, name)())
    i, ti = both(INTS)
    same(ad.isfinite(i), torch.isfinite(ti))
    same(ad.isnan(i), torch.isnan(ti))


def test_equality_with_none_and_hash():
    a = ad.tensor([1, 2])
    assert (a == None) is False and (a != None) is True  # noqa: E711
    assert len({a, a}) == 1


# -------------------------------------------------------- bitwise, logic

BITWISE = {"and": "__and__", "or": "__or__", "xor": "__xor__"}


@pytest.mark.parametrize("kind", list(BITWISE))
@pytest.mark.parametrize("left,right", [("i64", "i64"), ("bool", "bool"),
                                        ("bool", "i64"), ("i64", "int"),
                                        ("bool", "True")])
def test_bitwise_match_torch(kind, left, right):
    a, ta = _pair(left)
    b, tb = _pair(right)
    op = BITWISE[kind]
    same(getattr(a, op)(b), getattr(ta, op)(tb))
    same(getattr(ad, "bitwise_" + kind)(a, b),
         getattr(torch, "bitwise_" + kind)(ta, tb))
    if not isinstance(b, ad.Tensor):
        rop = "__r" + op[2:]
        same(getattr(a, rop)(b), getattr(ta, rop)(tb))


def test_invert_and_logical_ops_match_torch():
    a, ta = both(INTS)
    b, tb = both(BOOLS)
    f, tf = both(FLOATS)
    same(~a, ~ta)
    same(~b, ~tb)
    for name in ("logical_and", "logical_or", "logical_xor"):
        same(getattr(ad, name)(f, b), getattr(torch, name)(tf, tb))
        same(getattr(a, name)(b), getattr(ta, name)(tb))
    same(ad.logical_not(f), torch.logical_not(tf))
    same(a.logical_not(), ta.logical_not())


def test_bitwise_of_floats_is_a_type_error():
    f = ad.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="int64 and bool"):
        f & f
    with pytest.raises(TypeError, match="int64 and bool"):
        ad.bitwise_not(f)


# ------------------------------------------------------------- casts

def test_casts_match_torch():
    vals = np.array([1.7, -1.7, 0.0, -0.0, 2.0 ** 62, np.nan, np.inf,
                     -np.inf, 1e30, -1e30, 0.5])
    for dt in (np.float32, np.float64):
        a, ta = both(vals.astype(dt))
        same(a.long(), ta.long())
        same(a.bool(), ta.bool())
        same(a.to(ad.int64), ta.to(torch.int64))
    i, ti = both(INTS)
    same(i.float(), ti.float())
    same(i.double(), ti.double())
    same(i.bool(), ti.bool())
    b, tb = both(BOOLS)
    same(b.long(), tb.long())
    same(b.float(), tb.float())
    same(b.astype(ad.float64), tb.to(torch.float64))


def test_float_ops_refuse_nothing_silently():
    """Ops without an integer kernel compute in float32, as torch."""
    a, ta = both(INTS2)
    same(ad.softmax(a.float(), 1), torch.softmax(ta.float(), 1))
    assert ad.exp(a).dtype == np.float32
    assert ad.mean(a.float()).dtype == np.float32
    with pytest.raises(RuntimeError, match="floating point"):
        a.mean()


# ------------------------------------------------- argmax, max with dim

TIES = np.array([[[1.0, 3.0, 3.0, 0.0], [2.0, np.nan, 5.0, np.nan],
                  [-1.0, -1.0, -1.0, -1.0]],
                 [[0.0, -0.0, 0.0, 1.0], [np.inf, 2.0, np.inf, -np.inf],
                  [4.0, 4.0, 7.0, 7.0]]])


@pytest.mark.parametrize("kind", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("data", ["ties", "ints"])
def test_argmax_argmin_match_torch(kind, dim, keepdim, data):
    arr = {"ties": TIES, "ints": np.stack([INTS, INTS2]),
           "bools": np.stack([BOOLS, ~BOOLS])}[data]
    a, ta = both(arr)
    same(getattr(ad, kind)(a, dim, keepdim),
         getattr(torch, kind)(ta, dim, keepdim))
    same(getattr(a, kind)(dim=dim, keepdim=keepdim),
         getattr(ta, kind)(dim=dim, keepdim=keepdim))


def test_argmax_errors_like_torch():
    with pytest.raises(RuntimeError, match="does not support bool"):
        ad.argmax(ad.tensor([True, False]))
    with pytest.raises(IndexError, match="numel"):
        ad.argmax(ad.zeros(0))
    with pytest.raises(IndexError, match="dim 1 to have non-zero size"):
        ad.argmax(ad.zeros(2, 0), 1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ad.argmax(ad.zeros(2, 3), 2)
    same(ad.argmax(ad.tensor(5.0)), torch.argmax(torch.tensor(5.0)))
    same(ad.argmax(ad.tensor(5.0), 0), torch.argmax(torch.tensor(5.0), 0))


@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_match_torch_values_indices_and_gradient(
        is_max, dim, keepdim):
    """The gradient goes to the returned index alone (torch's), unlike
    amax, which shares it among ties."""
    arr = np.where(np.isnan(TIES), 1.0, TIES)
    arr = np.where(np.isinf(arr), 9.0, arr)
    x = ad.tensor(arr, requires_grad=True)
    tx = torch.tensor(arr, requires_grad=True)
    name = "max" if is_max else "min"
    r = getattr(x, name)(dim, keepdim)
    tr = getattr(tx, name)(dim, keepdim)
    assert r.values.dtype == np.float64 and r[1] is r.indices
    same(r.values.detach(), tr.values.detach())
    same(r.indices, tr.indices)
    w = np.random.default_rng(1).standard_normal(tr.values.shape)
    (r.values * ad.tensor(w)).sum().backward()
    (tr.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    f = getattr(ad, name)(x, dim, keepdim=keepdim)
    same(f.values.detach(), tr.values.detach())


def test_max_min_forms():
    a, ta = both(TIES)
    same(a.max(), ta.max())
    same(ad.min(a), torch.min(ta))
    b, tb = both(TIES[::-1].copy())
    same(ad.max(a, b), torch.max(ta, tb))
    same(a.min(b), ta.min(tb))
    i, ti = both(np.stack([INTS, INTS2]))
    mi, tmi = i.max(1), ti.max(1)
    same(mi.values, tmi.values)
    same(mi.indices, tmi.indices)
    bo, tbo = both(np.stack([BOOLS, ~BOOLS]))
    same(bo.max(), tbo.max())
    same(bo.min(2).values, tbo.min(2).values)
    np.testing.assert_array_equal(a.max(axis=1).numpy(),
                                  np.max(TIES, axis=1))
    with pytest.raises(TypeError, match="both dim and axis"):
        a.max(1, axis=1)


def test_max_with_dim_has_second_and_third_order_gradients():
    x = np.random.default_rng(0).standard_normal((3, 4))
    f = lambda t: (t.max(1).values ** 3).sum()  # noqa: E731
    assert ad.gradcheck(lambda t: t.min(0).values ** 2,
                        [ad.tensor(x, requires_grad=True)])
    assert ad.gradgradcheck(lambda t: t.max(1).values ** 3,
                            [ad.tensor(x, requires_grad=True)])
    h = ad.hessian(f)(x)
    tx = torch.tensor(x)
    th = torch.autograd.functional.hessian(
        lambda t: (t.max(1).values ** 3).sum(), tx)
    np.testing.assert_allclose(np.asarray(h), th.numpy(), rtol=1e-12)


# ---------------------------------------------------------- reductions

def test_integer_reductions_match_torch():
    a, ta = both(np.stack([INTS, INTS2]))
    same(a.sum(), ta.sum())                     # wraps past INT64_MAX
    same(a.sum(1), ta.sum(1))
    same(a.sum((0, 2), keepdim=True), ta.sum((0, 2), keepdim=True))
    same(ad.amax(a, 2), torch.amax(ta, 2))
    same(a.amin(0), ta.amin(0))
    b, tb = both(np.stack([BOOLS, ~BOOLS]))
    same(b.sum(), tb.sum())
    same(b.sum(2), tb.sum(2))
    same(b.amax(1), tb.amax(1))
    same(ad.tensor(2 ** 53 + 1).sum() + ad.tensor([1]),
         torch.tensor(2 ** 53 + 1).sum() + torch.tensor([1]))


# ------------------------------------------------------- where, indexing

def test_where_with_bool_tensor_condition_matches_torch():
    f, tf = both(FLOATS)
    i, ti = both(INTS)
    c, tc = f > 0, tf > 0
    same(ad.where(c, f, 0.0), torch.where(tc, tf, 0.0))
    same(ad.where(c, i, -1), torch.where(tc, ti, -1))
    same(ad.where(c, i, 2.5), torch.where(tc, ti, 2.5))
    same(ad.where(c, i, f), torch.where(tc, ti, tf))
    x = ad.tensor(np.abs(np.nan_to_num(FLOATS, posinf=3.0, neginf=-3.0)) + 1,
                  requires_grad=True)
    ad.where(x > 2, x * 3, x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(),
                                  np.where(x.numpy() > 2, 3.0, 1.0))


def test_indexing_with_int64_and_bool_tensors_matches_torch():
    f, tf = both(np.arange(12.0).reshape(3, 4))
    idx, tidx = both(np.array([2, 0, 2]))
    same(f[idx], tf[tidx])
    same(f[f > 5], tf[tf > 5])
    same(f[:, ad.tensor([True, False, True, False])],
         tf[:, torch.tensor([True, False, True, False])])
    i, ti = both(INTS)
    same(i[i > 0], ti[ti > 0])
    x = ad.tensor(np.arange(6.0), requires_grad=True)
    x[ad.tensor([1, 1, 4])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 2, 0, 0, 1, 0])


def test_labels_as_int64_tensors():
    logits = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([2, 0, 1, 2])
    a = ad.cross_entropy(ad.tensor(logits), ad.tensor(labels))
    b = ad.cross_entropy(ad.tensor(logits), labels)
    t = torch.nn.functional.cross_entropy(torch.tensor(logits),
                                          torch.tensor(labels))
    assert a.item() == b.item()
    np.testing.assert_allclose(a.item(), t.item(), rtol=1e-12)
    acc = (ad.tensor(logits).argmax(1) == ad.tensor(labels)).float().mean()
    assert acc.item() == np.mean(logits.argmax(1) == labels)


# ---------------------------------------------------- compiled replay

def test_compiled_replay_of_comparisons_argmax_and_max_is_bit_identical():
    def f(x):
        t = ad.tensor(x)
        m = t.max(1)
        mask = (t > 0) & ~ad.isnan(t)
        return (ad.where(mask, t, 0.0).sum() + m.values.sum()
                + m.indices.float().sum() + t.argmin(0).float().sum()
                + t.long().float().sum())

    step = ad.compile(f)
    rng = np.random.default_rng(3)
    for _ in range(4):
        x = rng.standard_normal((5, 4))
        x[rng.integers(0, 5), rng.integers(0, 4)] = np.nan
        want = f(x).numpy()
        got = step(x).numpy()
        np.testing.assert_array_equal(got, want)


def test_compiled_training_step_with_int_labels_and_accuracy():
    ad.manual_seed(0)
    model = ad.nn.Linear(4, 3)
    opt = ad.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        out = model(ad.tensor(x))
        loss = ad.cross_entropy(out, y)
        loss.backward()
        opt.step()
        correct = (out.argmax(1) == ad.tensor(y)).sum()
        return loss, correct

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((6, 4)) for _ in range(3)]
    ys = [rng.integers(0, 3, 6) for _ in range(3)]
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    eager = [tuple(r.numpy() for r in step(x, y)) for x, y in zip(xs, ys)]
    model.load_state_dict({k: ad.tensor(v) for k, v in state.items()})
    opt = ad.optim.SGD(model.parameters(), lr=0.1)
    compiled = ad.compile(step)
    got = [tuple(r.numpy() for r in compiled(x, y)) for x, y in zip(xs, ys)]
    for (l1, c1), (l2, c2) in zip(eager, got):
        np.testing.assert_array_equal(l1, l2)
        assert c1 == c2 and c2.dtype == np.int64


@pytest.mark.parametrize("kind", ["argument", "computed", "constant"])
def test_compiled_step_reads_int64_tensor_labels_at_every_call(kind):
    """Labels as int64 tensors -- an argument, an op's output inside the
    step, a tensor outside it changed between calls -- are read by the
    engine at every replay: eager and compiled agree bit for bit."""
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((8, 5)).astype(np.float32) for _ in range(4)]
    ys = [rng.integers(0, 3, 8) for _ in range(4)]

    def run(compiled):
        ad.manual_seed(0)
        model = ad.nn.Linear(5, 3)
        opt = ad.optim.SGD(model.parameters(), lr=0.1)
        const = ad.tensor(ys[0])

        def step(x, y):
            out = model(x)
            lab = {"argument": y, "computed": (-out).argmax(1),
                   "constant": const}[kind]
            loss = ad.nn.functional.cross_entropy(out, lab)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        losses = []
        for i in range(8):
            const.copy_(ad.tensor(ys[i % 4]))
            losses.append(f(ad.tensor(xs[i % 4]),
                            ad.tensor(ys[i % 4])).item())
        return losses, model.weight.numpy()

    (l1, w1), (l2, w2) = run(False), run(True)
    assert l1 == l2 and len(set(l1)) > 1
    assert w1.tobytes() == w2.tobytes()


def test_int64_tensor_labels_checked_at_every_replay():
    model = ad.nn.Linear(5, 3)

    def f(x, y):
        return ad.nn.functional.cross_entropy(model(x), y)
    step = ad.compile(f)
    x = ad.tensor(np.ones((2, 5), np.float32))
    assert step(x, ad.tensor([0, 2])).item() == f(x, ad.tensor([0, 2])).item()
    with pytest.raises(IndexError, match="target 3 is out of bounds"):
        step(x, ad.tensor([0, 3]))
    with pytest.raises(ValueError, match="expected input batch_size"):
        f(x, ad.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"class labels of shape \(2,\)"):
        f(x, ad.tensor([[[0, 1]]]))


# ----------------------------------------- floor division and remainders

def test_integer_division_and_remainders_match_torch():
    a = np.array([7, -7, 7, -7, 0, 2 ** 62, I64_MIN, I64_MIN, 5])
    b = np.array([2, 2, -2, -2, 3, 3, -1, 7, -1])
    x, tx = both(a)
    y, ty = both(b)
    same(x // y, tx // ty)
    same(x % y, tx % ty)
    same(ad.fmod(x, y), torch.fmod(tx, ty))
    same(ad.remainder(x, y), torch.remainder(tx, ty))
    same(ad.floor_divide(x, 3), torch.floor_divide(tx, 3))
    same(x // 2, tx // 2)
    same(-9 // y, -9 // ty)
    same(x % 3, tx % 3)
    same(x // 2.5, tx // 2.5)
    for bad in (lambda: x // ad.tensor([0]), lambda: x % 0,
                lambda: ad.fmod(x, ad.zeros(1, dtype=ad.int64))):
        with pytest.raises(ValueError, match="ZeroDivisionError"):
            bad()


def test_float_floor_division_matches_torch_bits():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.standard_normal(200) * 10,
                        [7.5, -7.5, 0.5, -0.5, 1e300, 3.0, 0.0, -0.0,
                         np.inf, np.nan, 5.0, -3.0, 1.0]])
    b = np.concatenate([rng.standard_normal(200) * 3,
                        [2.0, 2.0, -1.0, 0.3, 1e-300, 0.0, -1.0, 2.0, 2.0,
                         1.0, np.inf, 0.0, -0.0]])
    for dt in (np.float32, np.float64):
        with np.errstate(over="ignore"):        # 1e300 in float32: inf
            x, tx = both(a.astype(dt))
            y, ty = both(b.astype(dt))
        r, t = (x // y).numpy(), (tx // ty).numpy()
        np.testing.assert_array_equal(r, t)
        np.testing.assert_array_equal(np.signbit(r), np.signbit(t))
    v = ad.tensor(a[:50], requires_grad=True)
    (v // 3).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), np.zeros(50))


def test_floor_division_replays_under_compile():
    f = lambda p, q: ad.tensor(p) // ad.tensor(q)  # noqa: E731
    step = ad.compile(f)
    rng = np.random.default_rng(1)
    for _ in range(3):
        p, q = rng.standard_normal(8) * 9, rng.standard_normal(8)
        np.testing.assert_array_equal(step(p, q).numpy(), f(p, q).numpy())
    g = ad.compile(lambda p: ad.tensor(p) % 3 + ad.tensor(p) // 2)
    for p in (np.arange(-5, 5), np.arange(10, 30, 2)):
        want = ad.tensor(p) % 3 + ad.tensor(p) // 2
        same(g(p), torch.tensor(p) % 3 + torch.tensor(p) // 2)
        assert g(p).tolist() == want.tolist()


# ------------------------------------------- indices computed in the step

def test_take_put_add_and_argsort_replay_with_indices_from_the_step():
    """gather/take_along_dim/scatter_add with an int64 index tensor, and
    sort/topk, read their indices at run time: a compiled replay follows
    indices computed inside the step (argmax, argsort)."""
    def f(a):
        x = ad.tensor(a)
        i = x.argmax(1, keepdim=True)
        s = ad.sort(x, 1, descending=True)
        top = ad.topk(x, 2, 1)
        return (ad.gather(x, 1, i).sum() + s.values[:, 0].sum()
                + ad.take_along_dim(x, s.indices, 1)[:, -1].sum()
                + ad.scatter_add(ad.zeros_like(x), 1, i, ad.ones_like(x)
                                 [:, :1]).sum(0)[0]
                + top.values.sum() + top.indices.float().sum())

    step = ad.compile(f)
    rng = np.random.default_rng(7)
    for _ in range(4):
        a = rng.standard_normal((5, 6))
        np.testing.assert_array_equal(step(a).numpy(), f(a).numpy())
    with pytest.raises(IndexError, match="out of bounds for dimension 1"):
        ad.gather(ad.zeros(2, 3), 1, ad.tensor([[0], [3]]))
    with pytest.raises(TypeError, match="int64"):
        from autodiff import _engine
        _engine._take(ad.zeros(2, 3), ad.tensor([[0.0]]), 1)


def test_sort_matches_torch_with_ties_nan_and_gradient():
    rng = np.random.default_rng(0)
    a = np.round(rng.standard_normal((4, 40)) * 2) / 2     # many ties
    a[1, [3, 17]] = np.nan
    a[2, :] = 1.0
    for desc in (False, True):
        x = ad.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        s = ad.sort(x, 1, descending=desc)
        ts = torch.sort(tx, dim=1, descending=desc, stable=True)
        np.testing.assert_array_equal(s.values.detach().numpy(),
                                      ts.values.detach().numpy())
        np.testing.assert_array_equal(s.indices.numpy(), ts.indices.numpy())
        w = rng.standard_normal(a.shape)
        (s.values * ad.tensor(w)).sum().backward()
        (ts.values * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    i, ti = both(np.array([[3, -1, 3, 0, -1]]))
    same(ad.sort(i, 1).values, torch.sort(ti, dim=1, stable=True).values)
    same(ad.argsort(i, 1), torch.argsort(ti, dim=1, stable=True))


# ------------------------------------------- cumarg: cummax / cummin

@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dt", ["i64", "bool", "f32", "f64"])
def test_cumarg_indices_and_values_match_torch_for_every_dtype(name, dt):
    """The engine's cumarg op (no gradient) gives torch's indices for every
    dtype: ties take the later index, a NaN propagates; the values are
    taken at them (same dtype)."""
    rng = np.random.default_rng(3)
    a = rng.integers(-2, 3, (4, 9))
    if dt == "bool":
        a = a > 0
    elif dt in ("f32", "f64"):
        a = a.astype(np.float32 if dt == "f32" else np.float64)
        a[1, [2, 6]] = np.nan
        a[2, 0] = np.nan
    for dim in (0, 1, -1):
        r = getattr(ad, name)(ad.tensor(a), dim)
        tr = getattr(torch, name)(torch.tensor(a), dim)
        same(r.values, tr.values)
        same(r.indices, tr.indices)
    # replayed: the indices are recomputed from each call's values
    step = ad.compile(lambda x: getattr(ad, name)(ad.tensor(x), 1).indices)
    for seed in range(3):
        b = np.random.default_rng(seed).integers(-2, 3, (3, 7))
        b = (b > 0) if dt == "bool" else b
        np.testing.assert_array_equal(
            step(b).numpy(), getattr(torch, name)(torch.tensor(b), 1)
            .indices.numpy())


def test_pool_argmax_indices_are_int64_without_gradient():
    """max pooling's indices (the pool_argmax op, no backward): int64,
    never requiring grad, torch's values; the values' gradient goes
    through take."""
    import autodiff.nn.functional as NF
    a = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    x = ad.tensor(a, requires_grad=True)
    v, i = NF.max_pool2d(x, 2, return_indices=True)
    tv, ti = torch.nn.functional.max_pool2d(torch.tensor(a), 2,
                                            return_indices=True)
    assert i.dtype == np.int64 and not i.requires_grad and v.requires_grad
    same(i, ti)
