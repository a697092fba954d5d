"""Shape and indexing ops (autodiff/_shape_ops.py) against torch.

The rows and samples are opdb.SHAPE_OPS: for each sample, forward values
and gradients equal torch's autograd on the same float64 inputs,
gradcheck and gradgradcheck pass, the Tensor method equals the function,
and a compiled step replays bit for bit.  Their bad inputs are checked by
test_bad_input.py (opdb.bad_inputs).  Below: index and mask forms, dtypes,
the compile contract for data-dependent indices, nonzero, errors."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as NF
import opdb
from conftest import assert_close, needs_torch, torch
from opdb import ShapeCase, joined

# the shape and index ops, convolution and pooling (same kind of samples)
ROWS = (opdb.SHAPE_OPS + opdb.CONV + opdb.POOL + opdb.NORM +
        opdb.RNN_CELLS)
CASES = [(o, c) for o in ROWS for c in o.samples]
CASE_IDS = ["%s[%r]" % (o.name, c) for o, c in CASES]
FIRST = [(o, o.samples[0]) for o in ROWS]
FIRST_IDS = [o.name for o in ROWS]


def _pieces(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _run(o, c, seed=0, dtype=np.float64):
    xs = [ad.tensor(a.astype(dtype), requires_grad=True)
          for a in c.arrays(seed)]
    return xs, o.op(*xs, *c.args, **c.kw)


# ------------------------------------------------------------- vs torch

@needs_torch
@pytest.mark.parametrize("o,c", CASES, ids=CASE_IDS)
def test_values_and_gradients_match_torch(o, c):
    import torch
    xs, out = _run(o, c)
    ts = [torch.tensor(a, requires_grad=True) for a in c.arrays()]
    targs, tkw = c.torch_args()
    tout = o.torch(*ts, *targs, **tkw)
    pa, pt = _pieces(out), _pieces(tout)
    assert len(pa) == len(pt)
    rng = np.random.default_rng(3)
    loss_a, loss_t = None, None
    for a, t in zip(pa, pt):
        assert a.shape == tuple(t.shape), (a.shape, tuple(t.shape))
        assert a.dtype == ad.float64
        assert_close(a, t.detach().numpy(), kind="torch")
        w = rng.standard_normal(a.shape)
        la, lt = (a * ad.tensor(w)).sum(), (t * torch.tensor(w)).sum()
        loss_a = la if loss_a is None else loss_a + la
        loss_t = lt if loss_t is None else loss_t + lt
    loss_a.backward()
    gt = torch.autograd.grad(loss_t, ts, allow_unused=True)
    for x, g in zip(xs, gt):
        expect = np.zeros(x.shape) if g is None else g.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        assert_close(got, expect, kind="torch")


@pytest.mark.parametrize("o,c", CASES, ids=CASE_IDS)
def test_gradcheck(o, c):
    xs, _ = _run(o, c)
    fn = lambda *ts: joined(o.op(*ts, *c.args, **c.kw))  # noqa: E731
    assert ad.gradcheck(fn, tuple(xs))


@pytest.mark.parametrize("o,c", FIRST + [(o, o.samples[-1]) for o in ROWS],
                         ids=FIRST_IDS + [o.name + "-last" for o in ROWS])
def test_gradgradcheck(o, c):
    xs, out = _run(o, c)
    if joined(out).size == 0:
        pytest.skip("empty output")
    # squared, so that the second derivative is not identically zero
    fn = lambda *ts: joined(o.op(*ts, *c.args, **c.kw)) ** 2  # noqa: E731
    assert ad.gradgradcheck(fn, tuple(xs))


@pytest.mark.parametrize("o,c", [(o, c) for o, c in CASES if o.method],
                         ids=[i for (o, c), i in zip(CASES, CASE_IDS)
                              if o.method])
def test_method_equals_function(o, c):
    xs, out = _run(o, c)
    if callable(o.method):
        mout = o.method(*xs, *c.args, **c.kw)
    else:
        mout = getattr(xs[0], o.method)(*xs[1:], *c.args, **c.kw)
    for a, b in zip(_pieces(out), _pieces(mout)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("o,c", FIRST, ids=FIRST_IDS)
def test_float32_stays_float32(o, c):
    xs, out = _run(o, c, dtype=np.float32)
    _, ref = _run(o, c)
    for a, b in zip(_pieces(out), _pieces(ref)):
        assert a.dtype == ad.float32
        assert_close(a, b, dtype=np.float32)


# ------------------------------------------------------ compiled replay

def _steps(o, c, compiled):
    xs, y0 = _run(o, c)
    y0 = joined(y0)
    w = ad.tensor(np.random.default_rng(5).standard_normal(y0.shape))

    def step():
        for x in xs:
            x.grad = None
        y = joined(o.op(*xs, *c.args, **c.kw))
        (y * y * w).sum().backward()
        return y

    f = ad.compile(step) if compiled else step
    out = []
    for seed in (0, 1, 2):
        with ad.no_grad():
            for x, a in zip(xs, c.arrays(10 * seed)):
                x.copy_(ad.tensor(a))
        y = f()
        out.append((y.numpy().copy(), [x.grad.numpy().copy() for x in xs]))
    return out


@pytest.mark.parametrize("o,c", FIRST, ids=FIRST_IDS)
def test_compiled_replay_is_bit_identical(o, c):
    eager = _steps(o, c, False)
    comp = _steps(o, c, True)
    for (ye, ge), (yc, gc) in zip(eager, comp):
        np.testing.assert_array_equal(yc, ye)
        for a, b in zip(gc, ge):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(eager[0][0], eager[1][0])


@pytest.mark.parametrize("call,negative", [
    (lambda x, i: ad.index_select(x, 1, i), False),
    (lambda x, i: ad.take_along_dim(x, ad.tensor(i).reshape(1, -1)
                                    .expand(3, 2), 1), False),
    (lambda x, i: x[:, ad.tensor(i)], True),
], ids=["index_select", "take_along_dim", "getitem"])
def test_index_argument_of_a_compiled_function_replays(call, negative):
    """An integer array passed to the compiled function changes at every
    call: the engine reads it at every replay (take), so each call selects
    that call's columns, with its gradient; an index out of range raises
    during the replay as eagerly."""
    def step(idx):
        x.grad = None
        y = call(x, idx)
        (y * y).sum().backward()
        return y

    x = ad.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    f = ad.compile(step)
    for idx in ([0, 2], [3, 1], [1, 1], [-1, 0]):
        if idx[0] < 0 and not negative:
            continue
        want = np.arange(12.0).reshape(3, 4)[:, idx]
        np.testing.assert_array_equal(f(np.array(idx)).numpy(), want)
        g = np.zeros((3, 4))
        np.add.at(g, (slice(None), np.array(idx)), 2 * want)
        np.testing.assert_array_equal(x.grad.numpy(), g)
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.array([0, 4]))


@pytest.mark.parametrize("key", [
    lambda t: t(1, 0, -1, 0),
    lambda t: (slice(None), t(0, 2)),
    lambda t: (1, t([0], [2]), t(1, 3)),
    lambda t: (Ellipsis, t(3, -4)),
    lambda t: (t(1), slice(0, 2), t(0, 1)),
    lambda t: (None, t(1)),
    lambda t: (t(1, 0, 1), None, np.array([1, 2, 2]), 3),
    lambda t: t(-2),
], ids=["rows", "cols", "adjacent", "ellipsis", "split", "none", "mixed",
        "scalar"])
@needs_torch
def test_int_tensor_keys_match_torch_and_replay(key):
    """x[key] with int64 tensors in the key: torch's values and gradients
    (repeated indices accumulate), and a compiled step bit-identical to the
    eager one, following indices computed inside the step."""
    a = opdb.distinct((2, 3, 4), seed=3)
    x, tx = ad.tensor(a, requires_grad=True), torch.tensor(
        a, requires_grad=True)
    k = key(lambda *v: ad.tensor(v[0] if len(v) == 1 else list(v)))
    tk = key(lambda *v: torch.tensor(v[0] if len(v) == 1 else list(v)))
    y, ty = x[k], tx[tk]
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    w = np.random.default_rng(0).standard_normal(y.shape)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())

    def step(shift):
        x.grad = None
        # indices computed in the step: the same key, rolled by shift
        kk = key(lambda *v: (ad.tensor(v[0] if len(v) == 1 else list(v))
                             + ad.tensor(shift)) % 2 - 1)
        y = x[kk]
        (y * ad.tensor(w)).sum().backward()
        return y

    f = ad.compile(step)
    for shift in (0, 1, 0, 1):
        ye = step(np.array(shift)).detach().numpy()
        ge = x.grad.numpy().copy()
        np.testing.assert_array_equal(f(np.array(shift)).numpy(), ye)
        np.testing.assert_array_equal(x.grad.numpy(), ge)


@needs_torch
@pytest.mark.parametrize("key", [
    lambda t: (1, slice(None), t([0, 1])),
    lambda t: (t([0, 1]), slice(None), 2),
    lambda t: (None, 1, slice(None), t([0, 1])),
    lambda t: (1, t([True, False, True]), slice(0, 2)),
    lambda t: (t([1, 0]), None, 1, t([0, 3])),
    lambda t: (Ellipsis, 1, t([[0], [3]])),
], ids=["int-slice-list", "list-slice-int", "none-int", "int-mask",
        "none-between", "ellipsis"])
@pytest.mark.parametrize("form", ["list", "array", "tensor"])
def test_integers_select_first_as_in_torch(key, form):
    """torch applies integer indices as selects before advanced indexing,
    so x[1, :, [0, 1]] has shape (3, 2) where numpy's rule gives (2, 3):
    reading and item assignment follow torch, whatever form the index
    takes."""
    a = opdb.distinct((2, 3, 4), seed=4)
    conv = {"list": lambda v: v, "array": np.asarray,
            "tensor": ad.tensor}[form]
    k = key(conv)
    tk = key(lambda v: torch.tensor(v))
    want = torch.tensor(a)[tk]
    np.testing.assert_array_equal(ad.tensor(a)[k].numpy(), want.numpy())
    v = np.arange(want.numel(), dtype=np.float64).reshape(tuple(want.shape))
    x, tx = ad.tensor(a), torch.tensor(a)
    x[k] = v
    tx[tk] = torch.tensor(v)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())


def test_int_tensor_key_out_of_range_names_the_dimension():
    x = ad.tensor(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="index 5 is out of bounds for "
                       "dimension 1 with size 3"):
        x[:, ad.tensor([0, 5])]
    with pytest.raises(IndexError, match="index -3 is out of bounds for "
                       "dimension 0 with size 2"):
        x[ad.tensor([-3])]


@pytest.mark.parametrize("call", [
    lambda x, t: ad.gather(x, 1, t),
    lambda x, t: ad.masked_select(x, t),
    lambda x, t: x.nonzero(),
], ids=["gather", "masked_select", "nonzero"])
def test_tensor_indices_under_compile_are_refused(call):
    """Indices or masks held in tensors are data: reading them while
    recording raises NotCompilableError rather than freezing them."""
    x = ad.tensor(np.arange(6.0).reshape(2, 3) - 2.0, requires_grad=True)
    idx = ad.tensor(np.array([[0.0, 1.0, 1.0], [2.0, 0.0, 1.0]]))

    @ad.compile
    def f():
        return call(x, idx)

    with pytest.raises(ad.NotCompilableError):
        f()


def test_masked_fill_with_a_mask_tensor_replays_with_new_masks():
    """A mask tensor (a comparison computed inside the function) is a
    recorded op: each replay computes its mask from that call's data."""
    def f(a):
        x = ad.tensor(a)
        return ad.masked_fill(x, x > 0.5, -1.0) * 2

    step = ad.compile(f)
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = rng.standard_normal((3, 4))
        np.testing.assert_array_equal(step(a).numpy(), f(a).numpy())
    m = ad.tensor([1, 2, 3]).masked_fill(ad.tensor([True, False, True]), 2.7)
    assert m.dtype == np.int64 and m.tolist() == [2, 2, 2]


def test_closed_over_index_is_a_constant_of_the_recording():
    idx = np.array([[3, 0], [1, 1], [2, 0]])
    mask = np.array([True, False, True, True])

    @ad.compile
    def f(a):
        t = ad.tensor(a)
        return ad.gather(t, 1, idx).sum() + ad.masked_select(t, mask).sum()

    for seed in range(3):
        a = np.random.default_rng(seed).standard_normal((3, 4))
        expect = (np.take_along_axis(a, idx, 1).sum()
                  + a[:, mask].sum())
        assert_close(f(a).numpy(), expect, kind="rule")


# ------------------------------------------------ index and mask forms

X = opdb.distinct((3, 4, 5), seed=1)


@pytest.mark.parametrize("form", [
    lambda i: i, lambda i: i.astype(np.int32), lambda i: i.tolist(),
    lambda i: ad.tensor(i.astype(np.float64)),
    lambda i: i.astype(np.uint8)], ids=["int64", "int32", "list",
                                        "tensor", "uint8"])
def test_index_forms(form):
    idx = np.array([[[0, 3, 1, 0, 3]] * 2] * 3)
    want = np.take_along_axis(X, idx, 1)
    t = ad.tensor(X)
    np.testing.assert_array_equal(ad.gather(t, 1, form(idx)).numpy(), want)
    np.testing.assert_array_equal(
        ad.index_select(t, 2, form(idx[0, 0])).numpy(), X[:, :, idx[0, 0]])


@pytest.mark.parametrize("form", [
    lambda m: m, lambda m: m.astype(np.int64), lambda m: m.tolist(),
    lambda m: ad.tensor(m.astype(np.float64))],
    ids=["bool", "int", "list", "tensor"])
def test_mask_forms(form):
    m = X[0] > 0
    t = ad.tensor(X)
    np.testing.assert_array_equal(ad.masked_select(t, form(m)).numpy(),
                                  X[np.broadcast_to(m, X.shape)])
    np.testing.assert_array_equal(t.masked_fill(form(m), 7.0).numpy(),
                                  np.where(m, 7.0, X))


def test_bool_and_fractional_indices_are_refused():
    t = ad.tensor(X)
    with pytest.raises(TypeError, match="bool"):
        ad.index_select(t, 0, np.array([True, False, True]))
    with pytest.raises(TypeError, match="integers"):
        ad.gather(t, 0, ad.tensor(np.full((1, 1, 1), 0.5)))


def test_negative_indices_are_out_of_bounds_as_in_torch():
    """torch's index_select, gather, take_along_dim and scatter refuse
    negative indices (x[key] accepts them): an IndexError that is also
    torch's RuntimeError."""
    t = ad.tensor(X)
    for call in (lambda: ad.index_select(t, 1, [-1, 0]),
                 lambda: ad.gather(t, 2, np.full((3, 4, 1), -1)),
                 lambda: ad.take_along_dim(t, np.array([-1])),
                 lambda: ad.scatter(t, 0, np.full((1, 1, 1), -1), 1.0)):
        with pytest.raises(IndexError, match="index -1 is out of bounds"):
            call()
        with pytest.raises(RuntimeError):
            call()


def test_repeat_interleave_repeats_forms():
    t = ad.tensor(X[:, :2, 0])
    want = np.repeat(X[:, :2, 0], [2, 0, 1], axis=0)
    for reps in ([2, 0, 1], np.array([2, 0, 1], np.int32),
                 ad.tensor([2.0, 0.0, 1.0])):
        np.testing.assert_array_equal(
            t.repeat_interleave(reps, dim=0).numpy(), want)
    np.testing.assert_array_equal(
        ad.repeat_interleave(t, np.array([3]), axis=1).numpy(),
        np.repeat(X[:, :2, 0], 3, axis=1))


def test_axis_keyword_beside_dim():
    t = ad.tensor(X)
    for a, b in [(ad.split(t, 2, axis=1), ad.split(t, 2, dim=1)),
                 (ad.unbind(t, axis=2), ad.unbind(t, 2)),
                 (ad.chunk(t, 2, axis=-1), t.chunk(2, dim=-1))]:
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
    np.testing.assert_array_equal(
        ad.take_along_dim(t, np.zeros((1, 1, 1), np.int64), axis=1).numpy(),
        X[:, :1, :])
    with pytest.raises(TypeError, match="not both"):
        ad.split(t, 2, dim=1, axis=0)


def test_masked_fill_with_a_tensor_value_is_differentiable():
    x = ad.tensor(X, requires_grad=True)
    v = ad.tensor(2.0, requires_grad=True)
    m = X > 0
    y = x.masked_fill(m, v)
    np.testing.assert_array_equal(y.numpy(), np.where(m, 2.0, X))
    (y * 3.0).sum().backward()
    assert_close(v.grad.numpy(), 3.0 * m.sum(), kind="exact")
    np.testing.assert_array_equal(x.grad.numpy(), np.where(m, 0.0, 3.0))


def test_scatter_with_a_scalar_value():
    idx = np.array([[0, 2], [1, 1]])
    x = ad.tensor(np.zeros((2, 3)), requires_grad=True)
    y = ad.scatter(x, 1, idx, value=5.0)
    np.testing.assert_array_equal(y.numpy(), [[5, 0, 5], [0, 5, 0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(x.scatter(1, idx, 5.0).numpy(), y.numpy())


def test_split_pieces_have_torch_sizes():
    t = ad.tensor(np.arange(10.0))
    assert [p.shape for p in t.split(4)] == [(4,), (4,), (2,)]
    assert [p.shape for p in t.chunk(4)] == [(3,), (3,), (3,), (1,)]
    assert [p.shape for p in ad.tensor(np.zeros(6)).chunk(4)] == \
        [(2,), (2,), (2,)]
    assert len(t.unbind()) == 10 and t.unbind()[3].shape == ()
    assert t.unbind()[3].item() == 3.0


# ------------------------------------------------------------- nonzero

@needs_torch
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), ()])
def test_nonzero_matches_torch(shape):
    import torch
    a = np.round(opdb.distinct(shape, seed=4) * 3) if shape else \
        np.array(2.0)
    a[a > 0.5] = 0.0
    got = ad.nonzero(ad.tensor(a))
    want = torch.nonzero(torch.tensor(a))
    assert isinstance(got, ad.Tensor) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want.numpy())
    tup = ad.tensor(a).nonzero(as_tuple=True)
    wtup = torch.nonzero(torch.tensor(a), as_tuple=True)
    assert len(tup) == len(wtup)
    for p, q in zip(tup, wtup):
        np.testing.assert_array_equal(p, q.numpy())


# --------------------------------------------------------------- errors

def test_shape_errors_are_runtime_and_value_errors():
    """torch raises RuntimeError for these; the package's type for a bad
    value is ValueError: the error is both."""
    t = ad.tensor(np.zeros((2, 3)))
    for call in (lambda: t.expand(2, 4), lambda: t.split([1, 1], 1),
                 lambda: t.repeat(2), lambda: ad.diag(ad.zeros((2, 2, 2))),
                 lambda: NF.pad(t, (1,))):
        with pytest.raises(RuntimeError) as e1:
            call()
        assert isinstance(e1.value, ValueError)


def test_dim_errors_are_index_errors_naming_the_range():
    t = ad.tensor(np.zeros((2, 3)))
    for call in (lambda: t.flip(2), lambda: t.roll(1, -3),
                 lambda: t.narrow(5, 0, 1), lambda: t.diagonal(0, 0, 2),
                 lambda: t.index_select(2, [0]), lambda: t.movedim(0, 2),
                 lambda: t.unbind(2), lambda: t.gather(2, [[0]])):
        with pytest.raises(IndexError, match=r"range of \[-2, 1\]"):
            call()


def test_pad_value_with_another_mode_is_refused():
    t = ad.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="doesn't take in value"):
        NF.pad(t, (1, 1), mode="reflect", value=2.0)


def test_shapecase_ids_are_readable():
    assert repr(ShapeCase([(2, 3)], 1, np.zeros(2, np.int64))) == \
        "2x3,1,i[2]"


# ------------------------------------------------- 0-d and empty tensors

_Z, _E, _V = np.array(2.5), np.zeros((0, 3)), np.arange(4.0)
_I0 = np.array(0)
EDGE = [
    ("expand 0-d", lambda m, x: x.expand(3), _Z),
    ("expand empty", lambda m, x: x.expand(2, 0, 3), _E),
    ("split empty", lambda m, x: x.split(2), _E),
    ("split empty by 0", lambda m, x: x.split(0), _E),
    ("chunk empty", lambda m, x: x.chunk(3), _E),
    ("unbind empty", lambda m, x: x.unbind(1), _E),
    ("unbind 1-D", lambda m, x: x.unbind(0), _V),
    ("repeat 0-d", lambda m, x: x.repeat(2, 3), _Z),
    ("tile 0-d", lambda m, x: m.tile(x, (2,)), _Z),
    ("repeat_interleave 0-d", lambda m, x: x.repeat_interleave(3), _Z),
    ("flip 0-d", lambda m, x: x.flip(0), _Z),
    ("flip no dims", lambda m, x: x.flip(()), _V),
    ("roll 0-d", lambda m, x: x.roll(1), _Z),
    ("roll empty", lambda m, x: x.roll(1, 0), _E),
    ("tril empty", lambda m, x: x.tril(), _E),
    ("diag empty 2-D", lambda m, x: m.diag(x), _E),
    ("diag empty 1-D", lambda m, x: m.diag(x), np.zeros(0)),
    ("diag far offset", lambda m, x: m.diag(x, 9), np.ones((2, 3))),
    ("narrow 0-length at end", lambda m, x: x.narrow(0, 4, 0), _V),
    ("narrow -size", lambda m, x: x.narrow(0, -4, 2), _V),
    ("movedim 0-d", lambda m, x: x.movedim(0, 0), _Z),
    ("index_select 0-d", lambda m, x: x.index_select(0, _I0), _Z),
    ("index_select 0-d index", lambda m, x: x.index_select(0, _I0), _V),
    ("gather 0-d", lambda m, x: x.gather(0, _I0), _Z),
    ("gather 0-d index", lambda m, x: x.gather(0, _I0), _V),
    ("take_along_dim 0-d", lambda m, x: m.take_along_dim(x, _I0), _Z),
    ("masked_fill 0-d", lambda m, x: x.masked_fill(np.array(True), 1.0), _Z),
    ("masked_fill 0-d broadcast",
     lambda m, x: x.masked_fill(np.array([True, False]), 1.0), _Z),
    ("masked_select 0-d", lambda m, x: x.masked_select(np.array(True)), _Z),
    ("masked_select empty",
     lambda m, x: x.masked_select(np.zeros((0, 3), bool)), _E),
    ("pad 0-width", lambda m, x: m.nn.functional.pad(x, (0, 0)), _V),
    ("pad empty", lambda m, x: m.nn.functional.pad(x, (1, 1)), _E),
    ("pad circular whole", lambda m, x: m.nn.functional.pad(
        x, (3, 3), mode="circular"), np.arange(6.0).reshape(2, 3)),
    ("pad crop all", lambda m, x: m.nn.functional.pad(x, (-3, 0)),
     np.ones((2, 3))),
]


def _to_torch_arg(a):
    import torch
    return torch.as_tensor(a) if isinstance(a, np.ndarray) else a


class _TorchNS:
    """torch, with numpy array arguments converted (for the EDGE calls)."""

    def __getattr__(self, name):
        import torch
        import torch.nn.functional

        if name == "nn":
            return torch.nn
        f = getattr(torch, name)
        return lambda *a, **k: f(*[_to_torch_arg(v) for v in a], **k)


class _TorchTensor:
    def __init__(self, t):
        self.t = t

    def __getattr__(self, name):
        f = getattr(self.t, name)
        return lambda *a, **k: f(*[_to_torch_arg(v) for v in a], **k)


@needs_torch
@pytest.mark.parametrize("name,call,arr", EDGE, ids=[e[0] for e in EDGE])
def test_zero_dim_and_empty_match_torch(name, call, arr):
    import torch
    x = ad.tensor(arr, requires_grad=True)
    xt = torch.tensor(arr, requires_grad=True)
    uses_ns = name.startswith(("tile", "diag", "take_along", "pad"))
    out = call(ad, x)
    tout = call(_TorchNS(), xt) if uses_ns else call(None, _TorchTensor(xt))
    pa, pt = _pieces(out), _pieces(tout)
    assert len(pa) == len(pt)
    for a, t in zip(pa, pt):
        assert a.shape == tuple(t.shape)
        np.testing.assert_array_equal(a.numpy(), t.detach().numpy())
    if pa and pa[0].size:
        joined(out).sum().backward()
        torch.autograd.backward([t.sum() for t in pt])
        np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("call,exc,match", [
    (lambda: ad.unflatten(ad.tensor(2.5), 0, (1,)), IndexError,
     "no dimensions"),
    (lambda: ad.tensor(2.5).roll(1, 0), IndexError, "no dimensions"),
    (lambda: ad.tensor(2.5).repeat(), TypeError, "repeat sizes"),
    (lambda: ad.tensor(2.5).index_select(0, [0, 0]), RuntimeError,
     "only 1 value, got 2"),
    (lambda: ad.tensor(np.ones(3)).narrow(0, 1, 3), RuntimeError,
     r"start \(1\) \+ length \(3\) exceeds dimension size \(3\)"),
    (lambda: NF.pad(ad.tensor(np.ones((2, 3))), (-4, 0)), ValueError,
     "negative size"),
    (lambda: ad.scatter(ad.tensor(np.ones(3)), 0, [0], reduce="add",
                        src=ad.tensor(np.ones(3))), NotImplementedError,
     "reduce"),
], ids=["unflatten 0-d", "roll 0-d dim", "repeat()", "index_select 0-d",
        "narrow", "pad crop too much", "scatter reduce"])
def test_edge_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------- copies of torch views

@pytest.mark.parametrize("call", [
    lambda x: x.narrow(1, 0, 2), lambda x: x.unbind(0)[0],
    lambda x: x.diagonal(), lambda x: x.split(1)[1],
    lambda x: x.chunk(3, 1)[2],
    lambda x: x.expand(2, 2, 3), lambda x: x.movedim(0, 1)],
    ids=["narrow", "unbind", "diagonal", "split", "chunk", "expand",
         "movedim"])
def test_copies_of_torch_views_refuse_in_place_writes(call):
    """torch returns views here; these are copies, so an in-place write
    (which would not reach x) raises instead of silently missing it."""
    x = ad.tensor(np.arange(6.0).reshape(2, 3))
    y = call(x)
    with pytest.raises(RuntimeError, match="is a copy, not a view"):
        y.add_(1.0)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("call", [
    lambda x: x.flip(0), lambda x: x.roll(1), lambda x: x.repeat(2, 1),
    lambda x: ad.diag(x), lambda x: x.index_select(0, [1]),
    lambda x: x.gather(1, [[0], [1]]), lambda x: x.masked_fill(x > 2, 0.0),
    lambda x: x.tril()],
    ids=["flip", "roll", "repeat", "diag", "index_select", "gather",
         "masked_fill", "tril"])
def test_torch_copies_are_writable(call):
    x = ad.tensor(np.arange(6.0).reshape(2, 3))
    y = call(x)
    before = y.numpy()
    y.add_(1.0)
    np.testing.assert_array_equal(y.numpy(), before + 1.0)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(2, 3))


@needs_torch
@pytest.mark.parametrize("name", ["scatter", "scatter_add"])
def test_scatter_src_larger_than_index(name):
    """src may be larger than index (only its leading block is read); its
    gradient is zero elsewhere.  torch 2.13's forward agrees; its backward
    for src rejects this case (an index-shaped gradient for a larger
    src), so the gradient is checked by gradcheck."""
    import torch
    idx = np.array([[0, 3, 1], [2, 0, 3]])
    x, s = opdb.distinct((3, 4)), opdb.distinct((3, 5), seed=1)
    out = getattr(ad, name)(ad.tensor(x), 1, idx, ad.tensor(s))
    want = getattr(torch, name)(torch.tensor(x), 1, torch.tensor(idx),
                                torch.tensor(s))
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    xt = ad.tensor(x, requires_grad=True)
    st = ad.tensor(s, requires_grad=True)
    getattr(ad, name)(xt, 1, idx, st).sum().backward()
    expect = np.zeros((3, 5))
    expect[:2, :3] = 1.0
    np.testing.assert_array_equal(st.grad.numpy(), expect)
    assert ad.gradcheck(lambda a, b: getattr(ad, name)(a, 1, idx, b),
                        (xt, st))
