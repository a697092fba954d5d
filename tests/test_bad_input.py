"""Bad input raises a clear Python exception naming the shapes, dtypes or
values involved; the user's inputs are left untouched, nothing leaks, and
the process carries on.  NaN and inf propagate as in numpy."""
import copy
import gc

import numpy as np
import pytest

import autodiff as ad
import opdb
from conftest import alive as _alive
from conftest import tol


# ---------------------------------------------------------------- helpers

def _snap(x):
    if isinstance(x, ad.Tensor):
        g = x.grad
        return ("T", x.numpy(), x.shape, x.dtype, x.requires_grad, x.is_leaf,
                None if g is None else g.numpy())
    if isinstance(x, np.ndarray):
        return ("A", x.copy(), x.flags["C_CONTIGUOUS"], x.strides)
    return ("O", copy.deepcopy(x))


def _same(x, s):
    if s[0] == "T":
        _, val, shape, dtype, rg, leaf, grad = s
        assert x.shape == shape and x.dtype == dtype
        assert x.requires_grad == rg and x.is_leaf == leaf
        np.testing.assert_array_equal(x.numpy(), val)
        g = x.grad
        assert (g is None) == (grad is None)
        if g is not None:
            np.testing.assert_array_equal(g.numpy(), grad)
    elif s[0] == "A":
        np.testing.assert_array_equal(x, s[1])
        assert x.strides == s[3]
    else:
        assert x == s[1]


@pytest.fixture(autouse=True, scope="module")
def _collect_earlier_garbage():
    """Other modules' garbage must not be freed between the two pool
    readings of check_raises (that would look like a negative leak)."""
    gc.collect()


def check_raises(exc, match, fn, *inputs):
    """fn() raises exc with a message matching match; the inputs are
    unchanged afterwards; no buffer or tape record leaked."""
    before = ad.memory_stats()
    snaps = [_snap(x) for x in inputs]
    with pytest.raises(exc, match=match or None) as info:
        fn()
    msg = str(info.value)
    del info
    for x, s in zip(inputs, snaps):
        _same(x, s)
    after = ad.memory_stats()
    if after["bytes_in_use"] != before["bytes_in_use"]:
        gc.collect()            # a traceback cycle may hold temporaries
        after = ad.memory_stats()
    assert after["bytes_in_use"] == before["bytes_in_use"], msg
    assert after["tape_live"] == before["tape_live"], msg
    _alive()
    return msg


def T(shape, rg=True, dtype=np.float64, seed=0):
    arr = np.random.default_rng(seed).standard_normal(shape)
    return ad.tensor(arr.astype(dtype), requires_grad=rg)


# ------------------------------------------------- every op's bad inputs

BAD = opdb.bad_inputs()


@pytest.mark.parametrize("bad", [b for _, b in BAD], ids=[i for i, _ in BAD])
def test_op_rejects_bad_input(bad):
    """Each rejection opdb declares: the exception type, a message naming
    the offending shapes or values, the inputs untouched, nothing leaked."""
    fn, inputs = bad.make()
    msg = check_raises(bad.exc, bad.match, fn, *inputs)
    for s in bad.contains:
        assert s in msg, (msg, s)


# --------------------------------------------------------- shape mismatch

def test_mixed_dtype_shape_mismatch_names_shapes():
    a = T((2, 3), dtype=np.float32)
    b = T((2, 2))
    msg = check_raises(ValueError, r"\(2, 3\).*\(2, 2\)", lambda: a * b, a, b)
    assert "broadcast" in msg


def test_broadcast_to_concat_stack_where_mismatch():
    a = T((2, 3))
    b = T((2, 4), seed=1)
    c = T((2, 3, 1), seed=2)
    msg = check_raises(ValueError, r"\(2, 3\).*\(3, 3\)",
                       lambda: ad.broadcast_to(a, (3, 3)), a)
    msg = check_raises(ValueError, r"\(2, 3\).*\(2, 4\)",
                       lambda: ad.concatenate([a, b], axis=0), a, b)
    assert "axis 0" in msg
    check_raises(ValueError, r"\(2, 3\).*\(2, 3, 1\)",
                 lambda: ad.concatenate([a, c], axis=1), a, c)
    check_raises(ValueError, r"\(2, 3\).*\(2, 4\)",
                 lambda: ad.stack([a, b]), a, b)
    check_raises(ValueError, "at least one", lambda: ad.concatenate([]))
    check_raises(ValueError, "zero-dimensional",
                 lambda: ad.concatenate([ad.tensor(1.0), ad.tensor(2.0)]))
    mask = np.ones((5,), bool)
    check_raises(ValueError, r"broadcast", lambda: ad.where(mask, a, a),
                 a, mask)


def test_reshape_wrong_size():
    a = T((2, 3))
    msg = check_raises(ValueError, r"\(2, 3\)", lambda: a.reshape(4, 2), a)
    assert "(4, 2)" in msg
    check_raises(ValueError, r"\(2, 3\)", lambda: ad.reshape(a, (4, -1)), a)
    check_raises(ValueError, r"-1", lambda: a.reshape(-1, -1), a)
    check_raises(ValueError, r"negative|\(-2, -3\)",
                 lambda: a.reshape(-2, -3), a)
    check_raises(ValueError, r"\(2, 3\)", lambda: a.reshape(7), a)
    check_raises(ValueError, r"\(2, 3\)", lambda: a.view(0, 6), a)


def test_backward_grad_mismatch():
    a = T((2, 3))
    y = a * 2.0
    check_raises(ValueError, r"\(3, 2\).*\(2, 3\)",
                 lambda: y.backward(ad.ones(3, 2, dtype=ad.float64)), a, y)
    check_raises(TypeError, "str|dtype",
                 lambda: y.backward("abc"), a, y)


# ------------------------------------------------------------ wrong types

@pytest.mark.parametrize("bad", ["abc", None, {"a": 1}, {1, 2}, object(),
                                 b"xy"],
                         ids=["str", "None", "dict", "set", "object",
                              "bytes"])
def test_wrong_operand_types(bad):
    a = T((3,))
    for fn in (lambda: a + bad, lambda: bad + a, lambda: a - bad,
               lambda: bad - a, lambda: a * bad, lambda: a / bad,
               lambda: bad / a, lambda: a ** bad, lambda: a @ bad,
               lambda: ad.add(a, bad), lambda: ad.multiply(a, bad),
               lambda: ad.subtract(a, bad), lambda: ad.divide(a, bad),
               lambda: ad.power(a, bad), lambda: ad.maximum(a, bad),
               lambda: ad.minimum(a, bad), lambda: ad.matmul(a, bad),
               lambda: ad.where([True, False, True], a, bad),
               lambda: ad.mse_loss(a, bad)):
        check_raises(TypeError, "", fn, a)
    for fn in (ad.exp, ad.log, ad.relu, ad.sigmoid, ad.sum, ad.softmax,
               ad.tanh, ad.negative, lambda x: ad.reshape(x, (1,)),
               lambda x: ad.add(x, a), lambda x: ad.matmul(x, a),
               lambda x: ad.concatenate([a, x]),
               lambda x: ad.mse_loss(x, a)):
        msg = check_raises(TypeError, "", lambda: fn(bad), a)
        assert type(bad).__name__ in msg or "dtype" in msg or \
            "unsupported" in msg, msg


def test_module_functions_name_the_bad_type():
    a = T((3,))
    for fn in (ad.add, ad.subtract, ad.multiply, ad.divide, ad.power):
        check_raises(TypeError, r"str", lambda: fn(a, "abc"), a)
        check_raises(TypeError, r"NoneType|None", lambda: fn(a, None), a)
        check_raises(TypeError, r"dict", lambda: fn(a, {}), a)
        check_raises(TypeError, r"str", lambda: fn("abc", a), a)


@pytest.mark.parametrize("data", [
    np.array([1 + 2j, 3j]), np.array([1.0, 2.0], dtype=np.complex64),
    np.array([1, "a"], dtype=object), np.array([None, None]),
    np.array(["1.0", "2.0"]), np.array([np.datetime64("2020-01-01")]),
    [1j, 2.0], "abc", None, {"a": 1}, [1.0, None],
], ids=lambda d: type(d).__name__ + ":" + str(getattr(d, "dtype", "")))
def test_unsupported_data(data):
    a = T((2,))
    msg = check_raises(TypeError, "", lambda: ad.tensor(data), a)
    assert ("dtype" in msg or type(data).__name__ in msg or
            "not numeric" in msg or "float" in msg), msg
    if isinstance(data, np.ndarray):
        assert str(data.dtype) in msg or "not numeric" in msg, msg
        check_raises(TypeError, "", lambda: a + data, a, data)
        check_raises(TypeError, "", lambda: a * data, a, data)
        check_raises(TypeError, "", lambda: ad.from_numpy(data), a, data)


@pytest.mark.parametrize("dtype", [np.complex128, np.int32,
                                   np.float16, np.uint8, "complex64",
                                   "int8", "object", "float128x"])
def test_unsupported_dtype_argument(dtype):
    msg = check_raises(TypeError, "dtype|float32, float64, int64 or bool",
                       lambda: ad.tensor([1.0, 2.0], dtype=dtype))
    check_raises(TypeError, "dtype|float32 or float64",
                 lambda: ad.zeros(3, dtype=dtype))
    a = T((2,))
    check_raises(TypeError, "dtype|float32 or float64",
                 lambda: a.astype(dtype), a)
    del msg


def test_ragged_and_bad_shapes():
    check_raises(ValueError, r"inhomogeneous|ragged|shape",
                 lambda: ad.tensor([[1.0, 2.0], [3.0]]))
    check_raises(TypeError, r"2\.5", lambda: ad.zeros((2, 2.5)))
    check_raises(TypeError, r"'a'", lambda: ad.ones(("a", 2)))
    check_raises(ValueError, r"negative.*\(2, -3\)",
                 lambda: ad.zeros((2, -3)))
    check_raises(ValueError, r"at most 8 dimensions",
                 lambda: ad.zeros((1,) * 9))
    check_raises(ValueError, r"at most 8 dimensions",
                 lambda: ad.tensor(np.zeros((1,) * 9)))


def test_from_numpy_requires_ndarray():
    check_raises(TypeError, "list", lambda: ad.from_numpy([1.0, 2.0]))


# ---------------------------------------------------------- class labels
# (the rejections are opdb's BadInputs of cross_entropy and nll_loss)

@pytest.mark.parametrize("fn", [ad.cross_entropy, ad.nll_loss],
                         ids=["cross_entropy", "nll_loss"])
def test_ignore_index_may_lie_outside_the_class_range(fn):
    x = T((4, 3))
    out = fn(x, np.array([0, -100, 2, 1]))
    assert np.isfinite(out.item())


# -------------------------------------------------------------------- axes

AXIS_ERRORS = (ValueError, IndexError)


def test_bad_axis_of_a_0d_reduction():
    # (the reductions' other bad axes are opdb's BadInputs)
    s = ad.tensor(1.0)
    check_raises(AXIS_ERRORS, r"axis 0.*dimension 0",
                 lambda: s.sum(axis=0), s)


def test_bad_axes_in_softmax_concat_squeeze_and_friends():
    a = T((2, 3))
    for fn in (ad.softmax, ad.log_softmax):          # positional axis
        check_raises(AXIS_ERRORS, r"axis 2.*dimension 2",
                     lambda: fn(a, 2), a)
    check_raises(AXIS_ERRORS, r"axis 2.*dimension 2",
                 lambda: ad.concatenate([a, a], axis=2), a)
    check_raises(AXIS_ERRORS, r"axis -3",
                 lambda: ad.cat([a, a], dim=-3), a)
    check_raises(AXIS_ERRORS, r"axis 4.*dimension 3",
                 lambda: ad.stack([a, a], axis=4), a)
    check_raises(AXIS_ERRORS, r"axis 2.*dimension 2",
                 lambda: ad.squeeze(a, 2), a)
    check_raises(ValueError, r"axis 1.*\(2, 3\).*size is 3",
                 lambda: a.squeeze(1), a)
    check_raises(AXIS_ERRORS, r"axis 3", lambda: ad.expand_dims(a, 3), a)
    check_raises(AXIS_ERRORS, r"axis 2", lambda: ad.swapaxes(a, 0, 2), a)
    check_raises(ValueError, r"\(0, 0\)|permutation",
                 lambda: a.permute(0, 0), a)
    check_raises(ValueError, r"\(0, 1, 2\).*\(2, 3\)",
                 lambda: a.permute(0, 1, 2), a)
    check_raises(ValueError, r"permutation", lambda: a.permute(0, 5), a)


# ------------------------------------------------------------ absurd sizes

@pytest.mark.parametrize("make", [
    lambda: ad.zeros(10 ** 15),
    lambda: ad.zeros((2 ** 40, 2 ** 40)),
    lambda: ad.ones((2 ** 31, 2 ** 31, 4), dtype=ad.float64),
    lambda: ad.full((10 ** 8, 10 ** 8), 1.0),
    lambda: ad.broadcast_to(ad.zeros(1), (2 ** 30, 2 ** 30)),
    lambda: ad.zeros((10 ** 6, 1)) @ ad.zeros((1, 10 ** 7)),
    lambda: ad.tensor(np.zeros(1)).reshape(1, 2 ** 40, 2 ** 40),
], ids=["1e15", "2^80", "2^64", "1e16", "bcast", "matmul", "reshape"])
def test_absurd_sizes(make):
    msg = check_raises((MemoryError, ValueError), r"\d", make)
    assert "too large" in msg or "allocate" in msg or "elements" in msg, msg


# ------------------------------------------------------------ bad values

# ---------------------------------------------------- NaN and inf inputs

def _np(f, *args):
    with np.errstate(all="ignore"):
        return f(*args)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e308,
                    -1e308, 5e-324])


SPECIAL_UNARY = [(o.name, o.op, o.ref) for o in opdb.special()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fa,fn", SPECIAL_UNARY, ids=[
    u[0] for u in SPECIAL_UNARY])
def test_nan_inf_propagate_like_numpy_unary(dtype, name, fa, fn):
    x = SPECIAL.astype(dtype) if dtype == np.float64 else \
        _np(lambda: SPECIAL.astype(dtype))
    want = _np(fn, x)
    got = fa(ad.tensor(x))
    assert got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), want, equal_nan=True,
                               err_msg=name, **tol(dtype, "nan_inf"))
    # signs of infinities and NaN positions agree exactly
    np.testing.assert_array_equal(np.isnan(got.numpy()), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got.numpy()),
                                  np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got.numpy()),
                                  np.isneginf(want))


def test_named_special_values():
    assert ad.exp(ad.tensor(np.inf)).item() == np.inf
    assert ad.exp(ad.tensor(-np.inf)).item() == 0.0
    assert ad.log(ad.tensor(0.0)).item() == -np.inf
    assert np.isnan(ad.log(ad.tensor(-1.0)).item())
    assert np.isnan(ad.sqrt(ad.tensor(-1.0)).item())
    assert np.isnan(ad.relu(ad.tensor(np.nan)).item())
    assert ad.sigmoid(ad.tensor(-np.inf)).item() == 0.0
    assert ad.sigmoid(ad.tensor(np.inf)).item() == 1.0


@pytest.mark.parametrize("name,fa,fn", [
    (o.name, o.op, o.ref) for o in opdb.special(opdb.BINARY)],
    ids=opdb.ids(opdb.special(opdb.BINARY)))
def test_nan_inf_propagate_like_numpy_binary(name, fa, fn):
    a = np.repeat(SPECIAL, len(SPECIAL))
    b = np.tile(SPECIAL, len(SPECIAL))
    want = _np(fn, a, b)
    got = fa(ad.tensor(a), ad.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want),
                                  err_msg=name)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], err_msg=name,
                               **tol(np.float64, "nan_inf_binary"))


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_nan_inf_in_reductions_like_numpy(axis):
    x = np.array([[1.0, np.nan, 3.0, -1.0],
                  [np.inf, 2.0, -np.inf, 0.0],
                  [4.0, 5.0, np.inf, 6.0],
                  [-np.inf, -1.0, -2.0, -np.inf]])
    for fa, fn in ((ad.sum, np.sum), (ad.mean, np.mean), (ad.max, np.max),
                   (ad.min, np.min), (ad.amax, np.amax)):
        got = fa(ad.tensor(x), axis=axis).numpy()
        want = _np(fn, x, axis)
        np.testing.assert_array_equal(got, want)


def test_nan_in_softmax_and_losses_propagates():
    x = np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 3.0]])
    s = ad.softmax(ad.tensor(x), axis=1).numpy()
    assert np.all(np.isnan(s[0])) and np.all(np.isfinite(s[1]))
    ls = ad.log_softmax(ad.tensor(x), axis=1).numpy()
    assert np.all(np.isnan(ls[0])) and np.all(np.isfinite(ls[1]))
    ce = ad.cross_entropy(ad.tensor(x), [0, 1], reduction="none").numpy()
    assert np.isnan(ce[0]) and np.isfinite(ce[1])
    m = ad.mse_loss(ad.tensor([np.nan, 1.0]), [0.0, 1.0], "none").numpy()
    assert np.isnan(m[0]) and m[1] == 0.0
    # softmax of +inf next to finite values: numpy-like nan (inf - inf)
    # is NOT produced; the max subtraction keeps the row finite
    r = ad.softmax(ad.tensor([[0.0, 1000.0, -1000.0]]), axis=1).numpy()
    np.testing.assert_allclose(r, [[0.0, 1.0, 0.0]], atol=1e-300)


def test_nan_gradient_flows_to_the_nan_input_only():
    x = ad.tensor(np.array([1.0, np.nan, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    g = x.grad.numpy()
    assert np.isnan(g[1]) and g[0] == 2.0 and g[2] == 4.0


# ------------------------------------------------ calculus API misuse

CALC_ERRORS = [
    # (call, exception, message pattern)
    (lambda: ad.grad(lambda x: x * 2.0)([1.0, 2.0]), TypeError,
     r"scalar output.*\(2,\)"),
    (lambda: ad.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0), ValueError,
     "argnums 2 is out of range"),
    (lambda: ad.grad(lambda x: x, argnums="0")(1.0), TypeError, "argnums"),
    (lambda: ad.grad(lambda x: x)(True), TypeError, "bool"),
    (lambda: ad.grad(lambda x: x)("1.0"), TypeError, "str"),
    (lambda: ad.grad(lambda x: x)(np.array(["a"])), TypeError, "dtype"),
    (lambda: ad.grad(lambda x: "nope")(1.0), TypeError, "returned a str"),
    (lambda: ad.vjp(lambda x: x * 2.0, np.ones(3))[1](np.ones(2)),
     ValueError, r"cotangent of shape \(2,\).*\(3,\)"),
    (lambda: ad.jvp(lambda x: x, (np.ones(3),), (np.ones(2),)), ValueError,
     r"tangent of shape \(2,\).*\(3,\)"),
    (lambda: ad.jvp(lambda x: x, np.ones(3), np.ones(3)), TypeError,
     "tuple"),
    (lambda: ad.jvp(lambda x, y: x, (1.0, 2.0), (1.0,)), ValueError,
     "2 primals but 1 tangents"),
    (lambda: ad.hvp(lambda x: x * 2.0, np.ones(2), np.ones(2)), TypeError,
     r"scalar output.*\(2,\)"),
    (lambda: ad.hvp(lambda x: (x * x).sum(), np.ones(2), np.ones(3)),
     ValueError, r"vector of shape \(3,\).*\(2,\)"),
    (lambda: ad.vjp(lambda x: x), TypeError, "arguments"),
    (lambda: ad.numerical_grad(lambda x: x, 1.0, method="limit"),
     ValueError, "central, forward, backward"),
    (lambda: ad.numerical_grad(lambda x: x, 1.0, eps=0.0), ValueError,
     "eps must be positive"),
    (lambda: ad.numerical_grad(lambda x: x * 2, np.ones(3)), ValueError,
     r"scalar.*\(3,\)"),
    (lambda: ad.gradcheck(lambda x: x * 2.0, (ad.ones(2),)), ValueError,
     "none of the inputs requires grad"),
    (lambda: ad.gradcheck(lambda x: x.numpy(),
                          (ad.ones(2, dtype=ad.float64,
                                   requires_grad=True),)),
     TypeError, "output 0 is a ndarray"),
    (lambda: ad.autograd.grad(ad.ones(1, requires_grad=True) * 2, [1.0]),
     TypeError, r"inputs\[0\] is a float"),
    (lambda: ad.autograd.grad(ad.ones(1) * 2,
                              [ad.ones(1, requires_grad=True)]),
     RuntimeError, "does not require grad"),
]


@pytest.mark.parametrize("i", range(len(CALC_ERRORS)))
def test_calculus_api_misuse_raises_clearly(i):
    call, exc, pattern = CALC_ERRORS[i]
    with pytest.raises(exc, match=pattern):
        call()


def test_autograd_grad_unused_and_shape_checks():
    x = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    z = ad.tensor([3.0], dtype=ad.float64, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"inputs\[1\].*allow_unused"):
        ad.autograd.grad(y.sum(), [x, z])
    gx, gz = ad.autograd.grad(y.sum(), [x, z], allow_unused=True)
    assert gz is None
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="one element"):
        ad.autograd.grad(y, [x])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ad.autograd.grad(y, [x], grad_outputs=[np.ones(3)])
    # nothing was consumed or written by the failures
    assert x.grad is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_scatter_add_index_out_of_range():
    from autodiff import _engine
    with pytest.raises(IndexError, match="index 5 is out of bounds.*\\(3,\\)"):
        _engine._scatter_add(ad.ones(2), np.array([0, 5]), (3,))
    with pytest.raises(ValueError, match="3 indices for 2 values"):
        _engine._scatter_add(ad.ones(2), np.array([0, 1, 2]), (3,))


def test_create_graph_backward_bad_grad_shape():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="one element"):
        y.backward(create_graph=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(ad.ones(3), create_graph=True)
    assert x.grad is None
