"""Every op: forward against numpy, backward against central differences.

Gradients are checked in float64 against a float64 numerical gradient with
the tight tolerances of conftest.TOL, and in float32 (same inputs, rounded)
with the looser float32 row.  Test values are drawn away from kinks (relu
and abs at 0, clip bounds, max ties, l1 at p == t) and log/sqrt inputs are
kept positive; ties and extreme values have tests of their own.
"""
import itertools
import math

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
import opdb
from conftest import (DTYPES, assert_close, check_grad, distinct, mlp,
                      nonzero, sample, torch)
from refs import (SELU_ALPHA, SELU_SCALE, np_log_softmax, np_reduce_loss,
                  np_sigmoid, np_softmax)
from conftest import require_torch

# ------------------------------------------------------------------ helpers


def rounded(a, dtype):
    """a rounded to dtype, back in float64: what the engine really sees."""
    return np.asarray(np.asarray(a, np.float64).astype(dtype), np.float64)


def check_op(fn, ref, inputs, dtype, wrt=None, out_dtype=None, seed=0):
    """Forward of fn against ref (numpy, float64, on the rounded inputs),
    then its gradient against central differences."""
    xs = [ad.tensor(np.asarray(a, np.float64), dtype=dtype) for a in inputs]
    out = fn(*xs)
    expected = np.asarray(ref(*[rounded(a, dtype) for a in inputs]))
    assert isinstance(out, ad.Tensor)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    assert out.dtype == np.dtype(out_dtype or dtype)
    assert_close(out.numpy(), expected, dtype)
    if wrt != []:
        check_grad(fn, inputs, dtype, wrt=wrt, seed=seed)


def grad_of(fn, arrays, dtype=np.float64, weights=None):
    """backward() gradients of fn(*tensors) seeded with weights (or 1)."""
    ts = [ad.tensor(np.asarray(a, np.float64), dtype=dtype,
                    requires_grad=True) for a in arrays]
    out = fn(*ts)
    if weights is None:
        out.backward(ad.ones(out.shape, dtype=out.dtype))
    else:
        out.backward(ad.tensor(np.asarray(weights), dtype=out.dtype))
    return out, [t.grad.numpy() for t in ts]


# ------------------------------------------------------------ binary ops

SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1)]


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


SHAPE_PAIRS = [(a, b) for a, b in itertools.product(SHAPES, SHAPES)
               if _broadcasts(a, b)]


# name -> (fn, numpy reference, data): every binary op of opdb under every
# spelling
BINARY = {name: (fn, o.ref, o.data) for name, o, fn in opdb.binary_forms()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary(op, sa, sb, dtype):
    fn, ref, data = BINARY[op]
    a, b = data(sa, sb, seed=len(sa) * 10 + len(sb))
    check_op(fn, ref, [a, b], dtype)


HIGH_DIM_PAIRS = [((2, 1, 4), (3, 1)), ((2, 3, 1, 5), (3, 4, 1)),
                  ((1, 3, 1), (2, 1, 4)), ((2, 3, 4), (2, 3, 4)),
                  ((5, 1, 1), (1, 1, 6)), ((2, 1, 3, 1), (1, 2, 1, 3))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", HIGH_DIM_PAIRS, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow",
                                "maximum", "minimum"])
def test_binary_high_dim_broadcast(op, sa, sb, dtype):
    fn, ref, data = BINARY[op]
    a, b = data(sa, sb, seed=len(sa) * 10 + len(sb))
    check_op(fn, ref, [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow",
                                "maximum"])
def test_binary_same_tensor_both_sides(op, dtype):
    fn, ref, _ = BINARY[op]
    x = sample((3, 4), 0.5, 2.0, seed=6)
    check_op(lambda t: fn(t, t), lambda a: ref(a, a), [x], dtype)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow",
                                "maximum"])
@pytest.mark.parametrize("which", [0, 1])
def test_binary_one_side_requires_grad(op, which):
    fn, ref, data = BINARY[op]
    a, b = data((3, 4), (4,), seed=3)
    check_op(fn, ref, [a, b], np.float64, wrt=[which])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_binary_mixed_dtypes_promote(op):
    fn, ref, data = BINARY[op]
    a, b = data((3, 4), (4,), seed=5)
    x = ad.tensor(a, dtype=np.float32, requires_grad=True)
    y = ad.tensor(b, dtype=np.float64, requires_grad=True)
    out = fn(x, y)
    assert out.dtype == np.float64
    assert_close(out.numpy(), ref(rounded(a, np.float32), b), np.float64)
    out.backward(ad.ones(out.shape, dtype=np.float64))
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
    _, (ga, gb) = grad_of(fn, [rounded(a, np.float32), b])
    assert_close(x.grad.numpy(), ga, np.float32, "grad")
    assert_close(y.grad.numpy(), gb, np.float64, "grad")


# ------------------------------------------------------ scalar operands

SCALAR_OPS = {form: (fn, ref) for form, (fn, ref, _) in
              opdb.SCALAR_FORMS.items()}
SCALAR_CASES = opdb.SCALAR_CASES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,c", SCALAR_CASES, ids=repr)
def test_scalar_operand(op, c, dtype):
    fn, ref = SCALAR_OPS[op]
    # Mixed signs, away from 0; a positive base for x ** c (c fractional).
    x = sample((3, 4), 0.5, 2.0, seed=11) if op == "x ** c" else \
        nonzero((3, 4), seed=11)
    # A Python or numpy scalar does not promote: the dtype is kept.
    check_op(lambda t: fn(t, c), lambda a: ref(a, float(c)), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [1, 2, 3, -1, -2, 2.0, -3.0])
@pytest.mark.parametrize("form", ["scalar", "tensor"])
def test_pow_negative_base_integer_exponent(form, c, dtype):
    x = nonzero((3, 4), seed=8)
    if form == "scalar":
        check_op(lambda t: t ** c, lambda a: a ** float(c), [x], dtype)
    else:
        e = np.full((4,), float(c))
        # Only the base: d/de of a^e = a^e ln(a) is nan for a < 0.
        check_op(lambda t, u: t ** u, np.power, [x, e], dtype, wrt=[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(SCALAR_OPS))
def test_scalar_operand_on_0d_tensor(op, dtype):
    fn, ref = SCALAR_OPS[op]
    check_op(lambda t: fn(t, 1.5), lambda a: ref(a, 1.5),
             [np.array(0.8)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_ndarray_operand(op, side, dtype):
    """A numpy array of the same dtype on either side of an operator."""
    fn, ref, data = BINARY[op]
    a, b = data((3, 4), (4,), seed=21)
    if side == "left":
        arr = rounded(a, dtype).astype(dtype)
        check_op(lambda t: fn(arr, t), lambda y: ref(arr, y), [b], dtype)
    else:
        arr = rounded(b, dtype).astype(dtype)
        check_op(lambda t: fn(t, arr), lambda x: ref(x, arr), [a], dtype)


# ---------------------------------------------------------------- unary

# name: (op on a tensor, numpy reference, (low, high, kinks to avoid)),
# for every elementwise row of opdb (unary kinds; scalar forms at a fixed
# constant)
UNARY = {o.name: (o.op, o.ref, (o.domain[0], o.domain[1], o.kinks))
         for o in opdb.ELEMENTWISE}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape, dtype):
    fn, ref, (low, high, avoid) = UNARY[name]
    x = sample(shape, low, high, seed=len(shape), avoid=avoid)
    check_op(fn, ref, [x], dtype)


def test_clip_covers_both_sides():
    """The clip samples really have values below, inside and above."""
    x = sample((2, 3, 4), -2, 2, seed=3, avoid=(-0.5, 0.7))
    assert (x < -0.5).any() and ((x > -0.5) & (x < 0.7)).any() \
        and (x > 0.7).any()


METHOD_PAIRS = opdb.METHOD_PAIRS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(METHOD_PAIRS))
def test_function_matches_method(name, dtype):
    f, m = METHOD_PAIRS[name]
    # Positive (log, sqrt), on both sides of 1.0 (maximum/minimum) and of
    # the clip bounds, away from all of them.
    x = sample((3, 4), 0.3, 2.7, seed=4, avoid=(0.6, 1.0, 1.7))
    w = np.random.default_rng(0).standard_normal(f(ad.tensor(x)).shape)
    yf, (gf,) = grad_of(f, [x], dtype, w)
    ym, (gm,) = grad_of(m, [x], dtype, w)
    assert yf.shape == ym.shape and yf.dtype == ym.dtype
    np.testing.assert_array_equal(yf.numpy(), ym.numpy())
    np.testing.assert_array_equal(gf, gm)
    assert np.any(gf != 0)


# ---------------------------------------------------------------- where

WHERE_SHAPES = opdb.WHERE_SHAPES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cond_form", opdb.WHERE_COND_FORMS)
@pytest.mark.parametrize("sc,sx,sy", WHERE_SHAPES, ids=str)
def test_where(sc, sx, sy, cond_form, dtype):
    rng = np.random.default_rng(len(sc) + 3 * len(sx) + 9 * len(sy))
    cond = rng.random(sc) < 0.5
    if cond.size > 1:
        cond.reshape(-1)[:2] = [True, False]        # both branches taken
    c = opdb.where_cond(cond, cond_form)
    x, y = sample(sx, seed=1), sample(sy, seed=2)
    check_op(lambda a, b: ad.where(c, a, b),
             lambda a, b: np.where(cond, a, b), [x, y], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_with_scalar_branch(dtype):
    x = sample((3, 4), seed=4, avoid=(0,))
    check_op(lambda t: ad.where(t > 0, t, 0.0),
             lambda a: np.where(a > 0, a, 0.0), [x], dtype)
    check_op(lambda t: ad.where(t > 0, 2.0, t * 3.0),
             lambda a: np.where(a > 0, 2.0, a * 3.0), [x], dtype)


# --------------------------------------------------------------- matmul

MATMUL_SHAPES = opdb.MATMUL.samples


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", list(opdb.MATMUL_FORMS))
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb, form, dtype):
    fn = opdb.MATMUL_FORMS[form]
    a, b = sample(sa, seed=1), sample(sb, seed=2)
    check_op(fn, np.matmul, [a, b], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_with_ndarray(dtype):
    a = rounded(sample((3, 4), seed=1), dtype).astype(dtype)
    b = sample((4, 2), seed=2)
    check_op(lambda t: a @ t, lambda y: a @ y, [b], dtype)
    check_op(lambda t: t.T @ a.T, lambda y: y.T @ a.T, [b], dtype)


# ----------------------------------------------------------- reductions

# name -> (function, method name, numpy reference, keyword arguments)
REDUCTIONS = {o.name: (o.op, o.meth, o.ref, o.kw) for o in opdb.REDUCTIONS}
AXES = opdb.REDUCTION_AXES


REDUCTION_CASES = opdb.REDUCTION_CASES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["function", "method", "dim="])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name,axis", REDUCTION_CASES, ids=repr)
def test_reduction(name, axis, keepdims, form, dtype):
    func, meth, ref, kw = REDUCTIONS[name]
    if form == "function":
        fn = lambda t: func(t, axis=axis, keepdims=keepdims, **kw)
    elif form == "method":
        fn = lambda t: getattr(t, meth)(axis, keepdims=keepdims, **kw)
    else:
        fn = lambda t: getattr(t, meth)(dim=axis, keepdim=keepdims, **kw)
    x = distinct((2, 3, 4), seed=7)
    check_op(fn, lambda a: ref(a, axis=axis, keepdims=keepdims, **kw),
             [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_of_vector_and_0d(name, dtype):
    func, _, ref, kw = REDUCTIONS[name]
    check_op(lambda t: func(t, **kw), lambda a: ref(a, **kw),
             [distinct((5,), seed=2)], dtype)
    if not name.startswith(("std", "var(ddof")):
        check_op(lambda t: func(t, **kw), lambda a: ref(a, **kw),
                 [np.array(0.7)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", opdb.REDUCTION_OTHER_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_other_shapes(name, shape, axis, keepdims, dtype):
    func, _, ref, kw = REDUCTIONS[name]
    group = np.prod(shape) if axis is None else \
        np.prod(np.array(shape)[list(np.atleast_1d(axis))])
    if group == 1 and (name.startswith("std") or "ddof" in name):
        axis = None     # a group of one: std is 0 (no gradient), ddof=1 0/0
    check_op(lambda t: func(t, axis=axis, keepdims=keepdims, **kw),
             lambda a: ref(a, axis=axis, keepdims=keepdims, **kw),
             [distinct(shape, seed=9)], dtype)


def _tie_grad(x, axis, is_max, g):
    """The even split of g among the elements equal to the max (min)."""
    r = (np.max if is_max else np.min)(x, axis=axis, keepdims=True)
    mask = (x == r).astype(np.float64)
    return mask / mask.sum(axis=axis, keepdims=True) * g


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)], ids=repr)
def test_max_min_ties_split_evenly(axis, is_max, keepdims, dtype):
    x = np.array([[1.0, 3.0, 3.0, 0.0],
                  [2.0, 2.0, 2.0, 2.0],
                  [3.0, -1.0, 0.5, 3.0]])
    if not is_max:
        x = -x
    fn = (lambda t: ad.max(t, axis=axis, keepdims=keepdims)) if is_max \
        else (lambda t: ad.min(t, axis=axis, keepdims=keepdims))
    out_shape = np.max(x, axis=axis, keepdims=True).shape
    g = np.arange(1.0, 1.0 + np.prod(out_shape)).reshape(out_shape)
    out, (gx,) = grad_of(fn, [x], dtype,
                         g if keepdims else np.squeeze(g, axis))
    assert_close(out.numpy(), (np.max if is_max else np.min)(
        x, axis=axis, keepdims=keepdims), dtype)
    expected = _tie_grad(x, axis, is_max, g)
    assert_close(gx, expected, dtype)
    # The shares of each reduced group add back up to its upstream grad.
    assert_close(np.sum(gx, axis=axis, keepdims=True), g, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_all_equal(dtype):
    out, (gx,) = grad_of(lambda t: t.max(), [np.full((2, 5), 1.5)], dtype)
    assert out.item() == 1.5
    assert_close(gx, np.full((2, 5), 0.1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_half_each(op, dtype):
    fn = getattr(ad, op)
    x = np.array([[1.0, 2.0, 3.0, 2.0], [2.0, 0.0, 2.0, 5.0]])
    y = np.array([2.0])                    # broadcast, ties at x == 2
    g = np.arange(1.0, 9.0).reshape(2, 4)
    out, (gx, gy) = grad_of(fn, [x, y], dtype, g)
    assert_close(out.numpy(), getattr(np, op)(x, y), dtype)
    win = (x > y) if op == "maximum" else (x < y)
    tie = (x == y)
    assert tie.sum() == 4
    assert_close(gx, g * win + 0.5 * g * tie, dtype)
    assert_close(gy, [np.sum(g * ~win * ~tie) + 0.5 * np.sum(g * tie)], dtype)
    # Same-shape ties: exactly 1/2 to each side.
    _, (ga, gb) = grad_of(fn, [x, x.copy()], dtype, g)
    assert_close(ga, 0.5 * g, dtype)
    assert_close(gb, 0.5 * g, dtype)


# --------------------------------------------------------------- shapes

X234 = distinct((2, 3, 4), seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", opdb.RESHAPE_SHAPES, ids=str)
@pytest.mark.parametrize("form", list(opdb.RESHAPE_FORMS))
def test_reshape(form, shape, dtype):
    fn = lambda t: opdb.RESHAPE_FORMS[form](t, shape)
    check_op(fn, lambda a: a.reshape(shape), [X234], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_and_reshape_0d(dtype):
    check_op(ad.flatten, lambda a: a.reshape(-1), [X234], dtype)
    check_op(lambda t: t.reshape(()), lambda a: a.reshape(()),
             [np.array([0.5])], dtype)
    check_op(lambda t: t.reshape(1, 1), lambda a: a.reshape(1, 1),
             [np.array(0.5)], dtype)


TRANSPOSES = opdb.TRANSPOSES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(TRANSPOSES))
def test_transpose(name, dtype):
    fn, ref = TRANSPOSES[name]
    check_op(fn, ref, [X234], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_2d_and_chained(dtype):
    x = distinct((3, 5), seed=3)
    check_op(lambda t: t.T, lambda a: a.T, [x], dtype)
    check_op(lambda t: t.T @ t, lambda a: a.T @ a, [x], dtype)
    check_op(lambda t: (t.permute(2, 0, 1) * 2.0).permute(1, 2, 0),
             lambda a: a * 2.0, [X234], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", opdb.EXPAND_AXES)
@pytest.mark.parametrize("form", list(opdb.EXPAND_FORMS))
def test_expand_dims(form, axis, dtype):
    fn = lambda t: opdb.EXPAND_FORMS[form](t, axis)
    check_op(fn, lambda a: np.expand_dims(a, axis), [X234], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form,axis", opdb.SQUEEZE_CASES, ids=repr)
def test_squeeze(form, axis, dtype):
    fn = lambda t: opdb.SQUEEZE_FORMS[form](t, axis)
    x = distinct((1, 3, 1, 4), seed=5)
    check_op(fn, lambda a: np.squeeze(a, axis), [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src,dst", opdb.BROADCASTS, ids=str)
def test_broadcast_to(src, dst, dtype):
    check_op(lambda t: ad.broadcast_to(t, dst),
             lambda a: np.broadcast_to(a, dst), [sample(src, seed=1)], dtype)


CONCATS = opdb.CONCATS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", list(opdb.CONCAT_FORMS))
@pytest.mark.parametrize("shapes,axis", CONCATS, ids=str)
def test_concatenate(shapes, axis, form, dtype):
    arrays = [sample(s, seed=i) for i, s in enumerate(shapes)]
    fn = lambda *ts: opdb.CONCAT_FORMS[form](ts, axis)
    check_op(fn, lambda *a: np.concatenate(a, axis), arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concatenate_constant_input_and_reuse(dtype):
    a, b = sample((2, 3), seed=1), sample((1, 3), seed=2)
    # Only the second input requires grad.
    check_op(lambda x, y: ad.concatenate([x, y], 0),
             lambda x, y: np.concatenate([x, y], 0), [a, b], dtype, wrt=[1])
    # The same tensor twice: its gradients add.
    check_op(lambda x: ad.concatenate([x, x * 2.0, x], 1),
             lambda x: np.concatenate([x, x * 2.0, x], 1), [a], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", opdb.STACK_AXES)
@pytest.mark.parametrize("form", ["stack", "dim="])
def test_stack(axis, form, dtype):
    arrays = [sample((2, 3), seed=i) for i in range(3)]
    fn = (lambda *ts: ad.stack(ts, axis)) if form == "stack" else \
        (lambda *ts: ad.stack(list(ts), dim=axis))
    check_op(fn, lambda *a: np.stack(a, axis), arrays, dtype)


# ------------------------------------------------------------- indexing

X345 = opdb.X345
INDEX_KEYS = opdb.GETITEM.samples


def _key_id(k):
    return repr(k).replace("\n", "").replace(" ", "")[:60]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", INDEX_KEYS, ids=_key_id)
def test_getitem(key, dtype):
    check_op(lambda t: t[key], lambda a: a[key], [X345], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_repeated_indices_accumulate(dtype):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    idx = np.array([0, 2, 2, 2, 3, 0])
    g = np.array([1.0, 10.0, 100.0, 1000.0, 0.5, 0.25])
    out, (gx,) = grad_of(lambda t: t[idx], [x], dtype, g)
    assert_close(out.numpy(), x[idx], dtype)
    expected = np.zeros(4)
    np.add.at(expected, idx, g)
    assert_close(gx, expected, dtype)
    assert gx[2] == 1110.0 and gx[1] == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_with_tensor_index(dtype):
    idx = ad.tensor([2, 0, 2])
    check_op(lambda t: t[idx], lambda a: a[[2, 0, 2]], [X345], dtype)
    check_op(lambda t: t[:, idx], lambda a: a[:, [2, 0, 2]], [X345], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_chained_and_iterated(dtype):
    check_op(lambda t: t[1:][:, ::2][..., 0],
             lambda a: a[1:][:, ::2][..., 0], [X345], dtype)
    check_op(lambda t: ad.stack([r * float(i + 1) for i, r in enumerate(t)]),
             lambda a: np.stack([r * (i + 1) for i, r in enumerate(a)]),
             [X345], dtype)


# ---------------------------------------------------------------- casts

CASTS = opdb.CASTS


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("name", list(CASTS))
def test_cast(name, src):
    cast, dst = CASTS[name]
    x = sample((3, 4), seed=1)
    t = ad.tensor(x, dtype=src)
    out = cast(t)
    assert out.dtype == np.dtype(dst) and out.shape == (3, 4)
    np.testing.assert_array_equal(out.numpy(), t.numpy().astype(dst))
    if dst == np.float64:
        # The square after the cast makes the gradient depend on the values.
        check_op(lambda a: cast(a) * cast(a), lambda a: a * a, [x], src,
                 out_dtype=dst)
    else:
        # Central differences through a float32 rounding are meaningless:
        # check d(sum(w * cast(x)^2))/dx = 2 w cast(x) directly.
        w = np.random.default_rng(1).standard_normal((3, 4))
        out, (g,) = grad_of(lambda a: cast(a) * cast(a), [x], src, w)
        assert out.dtype == np.float32
        x32 = rounded(x, np.float32)
        assert_close(out.numpy(), x32 * x32, np.float32)
        assert_close(g, 2 * w * x32, np.float32, "grad")


def test_cast_gradient_returns_in_source_dtype():
    x = ad.tensor(np.array([1.0, 2.0, 3.0]), dtype=np.float32,
                  requires_grad=True)
    y = x.double() * ad.tensor(np.array([1e-3, 1.0, 1e3]))
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(),
                                  np.array([1e-3, 1.0, 1e3], np.float32))


# ------------------------------------------------------ softmax family

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["function", "method", "dim="])
@pytest.mark.parametrize("axis", opdb.SOFTMAX_AXES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax(log, axis, form, dtype):
    f = ad.log_softmax if log else ad.softmax
    m = "log_softmax" if log else "softmax"
    fn = {"function": lambda t: f(t, axis),
          "method": lambda t: getattr(t, m)(axis),
          "dim=": lambda t: f(t, dim=axis)}[form]
    ref = np_log_softmax if log else np_softmax
    check_op(fn, lambda a: ref(a, axis), [sample((2, 3, 4), -3, 3, 1)],
             dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_default_axis_and_small_shapes(log, dtype):
    f = ad.log_softmax if log else ad.softmax
    ref = np_log_softmax if log else np_softmax
    check_op(f, lambda a: ref(a, -1), [sample((3, 5), seed=2)], dtype)
    check_op(f, lambda a: ref(a, -1), [sample((6,), seed=3)], dtype)
    check_op(f, lambda a: ref(a.reshape(1), -1).reshape(()),
             [np.array(0.3)], dtype)
    check_op(lambda t: f(t, 1), lambda a: ref(a, 1),
             [sample((4, 1), seed=4)], dtype)


# ------------------------------------------------------------------ scans

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["function", "method", "dim=", "axis="])
@pytest.mark.parametrize("axis", opdb.SCAN_AXES)
@pytest.mark.parametrize("o", opdb.SCANS, ids=opdb.ids(opdb.SCANS))
def test_scan(o, axis, form, dtype):
    fn = {"function": lambda t: o.op(t, axis),
          "method": lambda t: getattr(t, o.meth)(axis),
          "dim=": lambda t: o.op(t, dim=axis),
          "axis=": lambda t: o.op(t, axis=axis)}[form]
    check_op(fn, lambda a: o.ref(a, axis), [sample((2, 3, 4), seed=5)],
             dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("o", opdb.SCANS, ids=opdb.ids(opdb.SCANS))
def test_scan_vs_torch_and_edges(o, dtype):
    torch = require_torch()
    x = sample((3, 5), seed=6).astype(dtype)
    w = np.random.default_rng(1).standard_normal((3, 5))
    for dim in (0, 1, -1):
        a = ad.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        ya, yt = o.op(a, dim), o.torch(t, dim)
        assert_close(ya.numpy(), yt.detach().numpy(), dtype, "torch")
        (ya * ad.tensor(w, dtype=dtype)).sum().backward()
        (yt * torch.tensor(w, dtype=t.dtype)).sum().backward()
        assert_close(a.grad.numpy(), t.grad.numpy(), dtype, "torch")
    # 0-d and empty inputs, as torch
    assert float(o.op(ad.tensor(2.5), 0)) == 2.5
    assert o.op(ad.tensor(np.zeros((0, 3))), 0).shape == (0, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        o.op(ad.tensor(x), 2)
    with pytest.raises(TypeError, match="dim"):
        o.op(ad.tensor(x))


# ---------------------------------------------------------------- losses

# name -> (function, per-element numpy reference)
ELEMENTWISE_LOSSES = {o.name: (o.op, o.ref) for o in opdb.LOSSES}


def _loss_data(name, shape, seed):
    return opdb.loss(name).data(shape, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wrt", [[0], [1], [0, 1]], ids=["input", "target",
                                                         "both"])
@pytest.mark.parametrize("shape", [(5,), (3, 4)], ids=str)
@pytest.mark.parametrize("reduction", opdb.LOSS_REDUCTIONS + [None])
@pytest.mark.parametrize("name", list(ELEMENTWISE_LOSSES))
def test_elementwise_loss(name, reduction, shape, wrt, dtype):
    f, ref = ELEMENTWISE_LOSSES[name]
    p, t = _loss_data(name, shape, seed=len(shape))
    if reduction is None:                     # the default is 'mean'
        fn = lambda a, b: f(a, b)
        r = "mean"
    else:
        fn = lambda a, b: f(a, b, reduction=reduction)
        r = reduction
    check_op(fn, lambda a, b: np_reduce_loss(ref(a, b), r), [p, t], dtype,
             wrt=wrt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ELEMENTWISE_LOSSES))
def test_elementwise_loss_with_ndarray_target(name, dtype):
    f, ref = ELEMENTWISE_LOSSES[name]
    p, t = _loss_data(name, (3, 4), seed=9)
    t = rounded(t, dtype).astype(dtype)
    check_op(lambda a: f(a, t), lambda a: np.mean(ref(a, t)), [p], dtype)


N, C = opdb.CLASS_N, opdb.CLASS_C
LOGITS = opdb.CLASS_LOGITS
LABELS = opdb.CLASS_LABELS


def _label_forms(labels):
    return {f: opdb.label_form(labels, f) for f in opdb.LABEL_FORMS}


def _class_ref(name):
    return opdb.class_loss(name).ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", opdb.LABEL_FORMS)
@pytest.mark.parametrize("reduction", opdb.LOSS_REDUCTIONS)
@pytest.mark.parametrize("name", opdb.ids(opdb.CLASS_LOSSES))
def test_class_losses(name, reduction, form, dtype):
    f = getattr(ad, name)
    ref = _class_ref(name)
    labels = _label_forms(LABELS)[form]
    check_op(lambda x: f(x, labels, reduction=reduction),
             lambda x: ref(x, LABELS, reduction), [LOGITS], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore_index", opdb.IGNORE_INDICES)
@pytest.mark.parametrize("reduction", opdb.LOSS_REDUCTIONS)
@pytest.mark.parametrize("name", opdb.ids(opdb.CLASS_LOSSES))
def test_class_losses_ignore_index(name, reduction, ignore_index, dtype):
    f = getattr(ad, name)
    ref = _class_ref(name)
    labels = np.array([0, -100, 3, 1, 1]) if ignore_index == -100 else \
        LABELS.copy()
    assert 0 < np.sum(labels == ignore_index) < len(labels)
    if ignore_index == -100:
        fn = lambda x: f(x, labels, reduction=reduction)
    else:
        fn = lambda x: f(x, labels, reduction=reduction,
                         ignore_index=ignore_index)
    check_op(fn, lambda x: ref(x, labels, reduction, ignore_index),
             [LOGITS], dtype)
    # The ignored rows get exactly zero gradient.
    _, (g,) = grad_of(fn, [LOGITS], dtype)
    assert np.all(g[labels == ignore_index] == 0)
    assert np.all(g[labels != ignore_index] != 0) or name == "nll_loss"


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_of_log_softmax_is_cross_entropy(dtype):
    for reduction in ("mean", "sum", "none"):
        a, (ga,) = grad_of(lambda x: ad.cross_entropy(
            x, LABELS, reduction=reduction), [LOGITS], dtype)
        b, (gb,) = grad_of(lambda x: ad.nll_loss(
            ad.log_softmax(x, 1), LABELS, reduction=reduction), [LOGITS],
            dtype)
        assert_close(a.numpy(), b.numpy(), dtype)
        assert_close(ga, gb, dtype, "grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", opdb.LOSS_REDUCTIONS)
@pytest.mark.parametrize("name", opdb.ids(opdb.CLASS_LOSSES))
def test_class_losses_single_sample(name, reduction, dtype):
    f = getattr(ad, name)
    ref = _class_ref(name)
    x = LOGITS[1]
    expected = lambda a: ref(a[None], np.array([2]), reduction).reshape(())
    check_op(lambda t: f(t, 2, reduction=reduction), expected, [x], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("wrt", [[0], [0, 1]], ids=["logits", "both"])
def test_cross_entropy_probability_targets(reduction, wrt, dtype):
    probs = np_softmax(sample((N, C), -2, 2, seed=13), 1)

    def ref(x, p):
        per = -(p * np_log_softmax(x, 1)).sum(1)
        return np_reduce_loss(per, reduction)

    check_op(lambda x, p: ad.cross_entropy(x, p, reduction=reduction),
             ref, [LOGITS, probs], dtype, wrt=wrt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_one_hot_targets_match_labels(dtype):
    onehot = np.eye(C)[LABELS]
    a, (ga,) = grad_of(lambda x: ad.cross_entropy(x, LABELS), [LOGITS],
                       dtype)
    b, (gb,) = grad_of(lambda x: ad.cross_entropy(
        x, ad.tensor(onehot, dtype=dtype)), [LOGITS], dtype)
    assert_close(a.numpy(), b.numpy(), dtype)
    assert_close(ga, gb, dtype, "grad")


# ---------------------------------------------------- extreme values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fn,expected", [
    ("sigmoid", ad.sigmoid, [0.0, 1.0]),
    ("tanh", ad.tanh, [-1.0, 1.0]),
    ("silu", ad.silu, [0.0, 1000.0]),
    ("gelu", ad.gelu, [0.0, 1000.0]),
    ("elu", ad.elu, [-1.0, 1000.0]),
    ("selu", ad.selu, [-SELU_SCALE * SELU_ALPHA, SELU_SCALE * 1000.0]),
    ("softplus", ad.softplus, [0.0, 1000.0]),
    ("softplus(beta=3)", lambda t: ad.softplus(t, beta=3.0), [0.0, 1000.0]),
    ("relu", ad.relu, [0.0, 1000.0]),
    ("hardtanh", F.hardtanh, [-1.0, 1.0]),
    ("relu6", F.relu6, [0.0, 6.0]),
    ("hardsigmoid", F.hardsigmoid, [0.0, 1.0]),
    ("hardswish", F.hardswish, [0.0, 1000.0]),
    ("mish", F.mish, [0.0, 1000.0]),
    ("logsigmoid", F.logsigmoid, [-1000.0, 0.0]),
    ("softsign", F.softsign, [-1000 / 1001, 1000 / 1001]),
    ("tanhshrink", F.tanhshrink, [-999.0, 999.0]),
    ("celu", F.celu, [-1.0, 1000.0]),
    ("celu(0.5)", lambda t: F.celu(t, 0.5), [-0.5, 1000.0]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_activations_at_extremes(name, fn, expected, dtype):
    # Expected derivatives at -1000 and +1000.
    dexp = {"sigmoid": [0, 0], "tanh": [0, 0], "silu": [0, 1],
            "gelu": [0, 1], "elu": [0, 1], "selu": [0, SELU_SCALE],
            "softplus": [0, 1], "softplus(beta=3)": [0, 1],
            "relu": [0, 1], "hardtanh": [0, 0], "relu6": [0, 0],
            "hardsigmoid": [0, 0], "hardswish": [0, 1], "mish": [0, 1],
            "logsigmoid": [1, 0], "softsign": [1 / 1001 ** 2] * 2,
            "tanhshrink": [1, 1], "celu": [0, 1], "celu(0.5)": [0, 1]}[name]
    out, (g,) = grad_of(fn, [np.array([-1000.0, 1000.0])], dtype)
    assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(g))
    assert_close(out.numpy(), expected, dtype)
    assert_close(g, dexp, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fn,ref,dref", [
    ("log1p", ad.log1p, math.log1p, lambda v: 1 / (1 + v)),
    ("expm1", ad.expm1, math.expm1, math.exp),
    ("asinh", ad.asinh, math.asinh, lambda v: 1 / math.sqrt(1 + v * v)),
    ("atanh", ad.atanh, math.atanh, lambda v: 1 / (1 - v * v)),
    ("atan", ad.atan, math.atan, lambda v: 1 / (1 + v * v)),
    ("sinh", ad.sinh, math.sinh, math.cosh),
], ids=lambda v: v if isinstance(v, str) else "")
def test_tiny_inputs_keep_full_relative_precision(name, fn, ref, dref,
                                                  dtype):
    """Near 0 the result is about x itself: log1p and expm1 (and the
    inverse hyperbolics) must not lose it to cancellation in 1 + x."""
    xs = np.array([1e-20, -3e-12, 2e-7, -1e-5])
    out, (g,) = grad_of(fn, [xs], dtype)
    xr = xs.astype(dtype).astype(np.float64)
    want = np.array([ref(v) for v in xr])
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(out.numpy(), want, rtol=rtol, atol=0)
    np.testing.assert_allclose(g, [dref(v) for v in xr], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2])
def test_round_decimals_like_torch_and_numpy(decimals, dtype):
    """round(x, decimals=d): half to even at the d-th decimal, computed as
    torch does (x * 10**d rounded, / 10**d; x / 10**-d for d < 0) -- the
    same bits as torch's -- and gradient 0."""
    rng = np.random.default_rng(decimals + 7)
    x = (rng.standard_normal(200) * 300).astype(dtype)
    x[:6] = [2.5, -0.5, 1.5, 0.125, -0.375, 250.0]    # ties
    out, (g,) = grad_of(lambda t: ad.round(t, decimals=decimals), [x],
                        dtype)
    assert out.dtype == dtype
    assert_close(out.numpy(), np.round(x, decimals), dtype)
    np.testing.assert_array_equal(g, np.zeros_like(x))
    np.testing.assert_array_equal(
        ad.tensor(x).round(decimals=decimals).numpy(), out.numpy())
    if torch is not None:
        want = torch.round(torch.tensor(x), decimals=decimals).numpy()
        np.testing.assert_array_equal(out.numpy(), want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_large_values(dtype):
    out, (g,) = grad_of(ad.softmax, [np.array([1000.0, 0.0])], dtype,
                        np.array([1.0, -1.0]))
    assert_close(out.numpy(), [1.0, 0.0], dtype)
    assert np.all(np.isfinite(g))
    assert_close(g, [0.0, 0.0], dtype)
    # Shifting by a huge constant changes nothing.
    x = sample((2, 4), seed=3)
    for shift in (1e3, -1e3, 3e4):
        out, (g,) = grad_of(lambda t: ad.softmax(t + shift, 1), [x],
                            np.float64, np.arange(8.0).reshape(2, 4))
        assert_close(out.numpy(), np_softmax(x, 1), np.float32)
        _, (g0,) = grad_of(lambda t: ad.softmax(t, 1), [x], np.float64,
                           np.arange(8.0).reshape(2, 4))
        assert_close(g, g0, np.float32, "grad")


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_of_large_values(dtype):
    x = np.array([1000.0, 0.0, -1000.0])
    w = np.array([1.0, 2.0, 3.0])
    out, (g,) = grad_of(ad.log_softmax, [x], dtype, w)
    assert_close(out.numpy(), [0.0, -1000.0, -2000.0], dtype)
    assert np.all(np.isfinite(g))
    # d/dx of sum(w * log_softmax) = w - softmax * sum(w)
    assert_close(g, w - np.array([1.0, 0.0, 0.0]) * w.sum(), dtype)
    out, (g,) = grad_of(lambda t: ad.log_softmax(t, 0),
                        [np.array([[5e4, 5e4], [5e4 - 1, 5e4]])], dtype)
    assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(g))
    assert_close(out.numpy(), np_log_softmax(
        np.array([[0.0, 0.0], [-1.0, 0.0]]), 0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_of_large_logits(dtype):
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]])
    labels = np.array([2, 1])
    out, (g,) = grad_of(lambda t: ad.cross_entropy(t, labels,
                                                   reduction="none"),
                        [x], dtype)
    assert_close(out.numpy(), [2000.0, 0.0], dtype)
    assert np.all(np.isfinite(g))
    assert_close(g, [[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype)


@pytest.mark.parametrize("name", ["cross_entropy", "log_softmax"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_large_logit_offset_is_accurate(name, dtype):
    """Shifting logits by 5e4 (exact in float32) changes nothing: the
    results stay as accurate as without the shift."""
    x = np.array([[0.0, -1.0, -3.0, 2.0], [1.0, 0.5, -2.0, 0.0]])
    w = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]])
    if name == "cross_entropy":
        fn = lambda t: ad.cross_entropy(t, np.array([1, 3]),
                                        reduction="sum")
        w = None
    else:
        fn = lambda t: ad.log_softmax(t, 1)
    a, (ga,) = grad_of(fn, [x + 5e4], dtype, w)
    b, (gb,) = grad_of(fn, [x], np.float64, w)
    assert_close(a.numpy(), b.numpy(), dtype)
    # Both gradients are analytic: hold them to the forward tolerance.
    assert_close(ga, gb, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_at_zero_and_one(dtype):
    p = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    out, (gp, gt) = grad_of(
        lambda a, b: ad.binary_cross_entropy(a, b, reduction="none"),
        [p, t], dtype)
    assert np.all(np.isfinite(out.numpy()))
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gt))
    # Logs are clamped at -100 (as torch does).
    assert_close(out.numpy(), [0.0, 0.0, 100.0, 100.0], dtype)
    assert gp[0] == 0 and gp[1] == 0
    assert gp[2] < -1e6 and gp[3] > 1e6           # steep towards the target
    assert_close(gt, [100.0, -100.0, 100.0, -100.0], dtype)
    for r in ("mean", "sum"):
        v = ad.binary_cross_entropy(ad.tensor(p, dtype=dtype),
                                    ad.tensor(t, dtype=dtype), reduction=r)
        assert np.isfinite(v.item())


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_at_extremes(dtype):
    x = np.array([-1000.0, 1000.0, -1000.0, 1000.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    out, (gx, gt) = grad_of(
        lambda a, b: ad.binary_cross_entropy_with_logits(
            a, b, reduction="none"), [x, t], dtype)
    assert_close(out.numpy(), [0.0, 0.0, 1000.0, 1000.0], dtype)
    assert_close(gx, [0.0, 0.0, -1.0, 1.0], dtype)
    assert_close(gt, -x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_log_pow_keep_their_domain_finite(dtype):
    x = np.array([1e-3, 1.0, 50.0])
    for fn in (ad.log, ad.sqrt, lambda t: t ** 0.5, lambda t: t ** -1.0,
               lambda t: 1.0 / t):
        out, (g,) = grad_of(fn, [x], dtype)
        assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(g))
    out, (g,) = grad_of(lambda t: t ** 0, [np.array([0.0, 2.0])], dtype)
    assert_close(out.numpy(), [1.0, 1.0], dtype)
    assert_close(g, [0.0, 0.0], dtype)


# ------------------------------------------- larger tensors, compositions

@pytest.mark.parametrize("dtype", DTYPES)
def test_large_tensors(dtype):
    """Sizes above the engine's threshold for releasing the GIL."""
    x = sample((300, 200), -2, 2, seed=1)
    y = sample((200,), -2, 2, seed=2)
    xr, yr = rounded(x, dtype), rounded(y, dtype)
    w = np.random.default_rng(3).standard_normal((300, 200))
    out, (g,) = grad_of(ad.exp, [x], dtype, w)
    assert_close(out.numpy(), np.exp(xr), dtype)
    assert_close(g, w * np.exp(xr), dtype, "grad")
    out, (g,) = grad_of(lambda t: ad.softmax(t, 0), [x], dtype, w)
    s = np_softmax(xr, 0)
    assert_close(out.numpy(), s, dtype)
    assert_close(g, s * (w - np.sum(w * s, 0, keepdims=True)), dtype, "grad")
    out, (ga, gb) = grad_of(lambda a, b: a * b, [x, y], dtype, w)
    assert_close(out.numpy(), xr * yr, dtype)
    assert_close(ga, w * yr, dtype, "grad")
    assert_close(gb, np.sum(w * xr, 0), dtype, "grad")
    m = sample((200, 150), seed=4)
    mr = rounded(m, dtype)
    w2 = np.random.default_rng(5).standard_normal((300, 150))
    out, (ga, gb) = grad_of(ad.matmul, [x, m], dtype, w2)
    assert_close(out.numpy(), xr @ mr, dtype)
    assert_close(ga, w2 @ mr.T, dtype, "grad")
    assert_close(gb, xr.T @ w2, dtype, "grad")


@pytest.mark.parametrize("dtype", DTYPES)
def test_composite_mlp(dtype):
    check_grad(mlp, [sample((4, 3), seed=1), sample((3, 5), seed=2),
                      sample((5,), seed=3), sample((5, 3), seed=4)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_composite_reuse_of_one_input(dtype):
    """x reaches the output along several paths; the gradients add up."""
    def f(x, y):
        a = x * ad.exp(-x) + (x ** 2).mean(0)
        b = ad.where(x > 0, ad.sigmoid(x * y), x / y)
        return a.sum(1) * 0.5 + b.amax(1) + ad.var(x * y, 1)
    x = sample((3, 4), seed=5, avoid=(0,))
    y = nonzero((3, 4), seed=6)
    check_grad(f, [x, y], dtype)
    x32 = rounded(x, dtype)
    y32 = rounded(y, dtype)
    expected = (np.sum(x32 * np.exp(-x32) + np.mean(x32 ** 2, 0), 1) * 0.5
                + np.max(np.where(x32 > 0, np_sigmoid(x32 * y32), x32 / y32),
                         1) + np.var(x32 * y32, 1))
    with ad.no_grad():
        got = f(ad.tensor(x, dtype=dtype), ad.tensor(y, dtype=dtype))
    assert_close(got.numpy(), expected, dtype)
