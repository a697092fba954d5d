"""The binary math kinds (atan2, hypot, fmod, remainder, logaddexp, xlogy)
beyond their opdb rows: torch's special values (NaN, infinities, signed
zeros) in values and gradients, scalar operands on either side, the %
operator, the in-place forms and the argument errors."""
import numpy as np
import pytest

import autodiff as ad
import opdb
from conftest import lazy_torch

torch = lazy_torch()

NAMES = ["atan2", "hypot", "fmod", "remainder", "logaddexp", "xlogy"]
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e308,
                    -1e308, 5e-324, 0.5, -2.0, 3.0, -3.0, 40.0, -1000.0])
DTYPES = [np.float32, np.float64]


def _tdt(dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


def _same(got, want, what, rtol):
    """Equal values, NaN in the same places and zeros of the same sign."""
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), what)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=0,
                               err_msg=what)
    zero = ok & (want == 0)
    np.testing.assert_array_equal(np.signbit(got[zero]),
                                  np.signbit(want[zero]), what + " (signs)")


def _grid(dtype):
    with np.errstate(all="ignore"):
        s = SPECIAL.astype(dtype)
    a, b = np.meshgrid(s, s, indexing="ij")
    return a.ravel(), b.ravel()


def _torch_quotient_overflows(name, a, b):
    """Where torch's vectorised CPU fmod (and remainder, built on it) gives
    NaN: a finite dividend whose quotient overflows (1e308 by 0.5, 1 by a
    subnormal).  C's fmod (here, as numpy and Python) gives the exact
    remainder there."""
    if name in ("fmod", "remainder"):
        with np.errstate(all="ignore"):
            return np.isfinite(a) & (b != 0) & np.isinf(a / b)
    return np.zeros(b.shape, bool)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_special_values_and_gradients_match_torch(name, dtype):
    a, b = _grid(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    xa = ad.tensor(a, requires_grad=True)
    xb = ad.tensor(b, requires_grad=True)
    ta = torch.tensor(a, dtype=_tdt(dtype), requires_grad=True)
    tb = torch.tensor(b, dtype=_tdt(dtype), requires_grad=True)
    out = getattr(ad, name)(xa, xb)
    tout = getattr(torch, name)(ta, tb)
    assert out.dtype == np.dtype(dtype)
    keep = ~_torch_quotient_overflows(name, a, b)
    _same(out.numpy()[keep], tout.detach().numpy()[keep], name, rtol)
    w = np.where(np.arange(a.size) % 3 == 0, -1.5, 1.0).astype(dtype)
    out.backward(ad.tensor(w))
    tout.backward(torch.tensor(w))
    _same(xa.grad.numpy(), ta.grad.numpy(), name + " grad input", rtol)
    _same(xb.grad.numpy(), tb.grad.numpy(), name + " grad other", rtol)


def test_fmod_exact_for_a_subnormal_divisor():
    """The one place the values differ from torch's CPU kernels (see
    _torch_quotient_overflows): C's (and Python's) exact result."""
    import math
    x = ad.tensor(np.array([1.0, -1.0, 0.5]))
    d = 5e-324
    np.testing.assert_array_equal(ad.fmod(x, d).numpy(),
                                  [math.fmod(1.0, d), math.fmod(-1.0, d),
                                   math.fmod(0.5, d)])
    np.testing.assert_array_equal(np.signbit(ad.fmod(x, d).numpy()),
                                  [False, True, False])
    np.testing.assert_array_equal((x % d).numpy(), [0.0, -0.0, 0.0])
    big = ad.tensor(np.array([1e308, -1e308]))
    np.testing.assert_array_equal(ad.fmod(big, 0.5).numpy(), [0.0, -0.0])
    np.testing.assert_array_equal(ad.remainder(big, 0.75).numpy(),
                                  [1e308 % 0.75, -1e308 % 0.75])


def test_remainder_has_the_divisors_sign_fmod_the_dividends():
    a = np.array([5.5, -5.5, 5.5, -5.5, 3.0, -3.0, 0.0, -0.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 1.5, 1.5, -1.0, 1.0])
    r = ad.remainder(ad.tensor(a), ad.tensor(b)).numpy()
    f = ad.fmod(ad.tensor(a), ad.tensor(b)).numpy()
    np.testing.assert_array_equal(r, [1.5, 0.5, -0.5, -1.5, 0.0, 0.0, 0.0,
                                      -0.0])
    np.testing.assert_array_equal(f, [1.5, -1.5, 1.5, -1.5, 0.0, -0.0, 0.0,
                                      -0.0])
    # zero signs as torch (fmod's), not numpy's (the divisor's)
    np.testing.assert_array_equal(np.signbit(r), [0, 0, 1, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(r, [x % y for x, y in zip(a, b)])


@pytest.mark.parametrize("name", ["fmod", "remainder"])
def test_mod_gradient_in_the_divisor_is_minus_the_quotient(name):
    a = ad.tensor([7.0, -7.0, 7.0, -7.0, 1.0], requires_grad=True)
    b = ad.tensor([2.0, 2.0, -2.0, -2.0, 3.0], requires_grad=True)
    getattr(ad, name)(a, b).sum().backward()
    q = np.array([3.5, -3.5, -3.5, 3.5, 1 / 3])
    want = -(np.trunc(q) if name == "fmod" else np.floor(q))
    np.testing.assert_array_equal(b.grad.numpy(), want)
    np.testing.assert_array_equal(a.grad.numpy(), np.ones(5))


def test_xlogy_zero_cases_as_torch():
    x = ad.tensor(np.array([0.0, 0.0, 0.0, 0.0, 2.0, 0.0]),
                  requires_grad=True)
    y = ad.tensor(np.array([0.0, np.nan, -1.0, 3.0, 0.0, np.inf]),
                  requires_grad=True)
    out = ad.xlogy(x, y)
    np.testing.assert_array_equal(out.numpy(),
                                  [0.0, np.nan, 0.0, 0.0, -np.inf, 0.0])
    out.sum().backward()
    # d/dx: log y, but 0 where x == 0 and y <= 0 (torch's choice)
    np.testing.assert_array_equal(
        x.grad.numpy(), [0.0, np.nan, 0.0, np.log(3.0), -np.inf, np.inf])
    np.testing.assert_array_equal(y.grad.numpy(),
                                  [np.nan, np.nan, -0.0, 0.0, np.inf, 0.0])


def test_logaddexp_is_stable():
    a = ad.tensor([1000.0, -1000.0, np.inf, -np.inf, 0.0])
    b = ad.tensor([1000.0, -1000.0, np.inf, -np.inf, -np.inf])
    np.testing.assert_allclose(
        ad.logaddexp(a, b).numpy(),
        [1000.0 + np.log(2.0), -1000.0 + np.log(2.0), np.inf, -np.inf, 0.0])


# -------------------------------------------------------- scalar operands

SCALAR_FORMS = {
    # torch.atan2, hypot and logaddexp take tensors only: c as a 0-d one
    "fn(x, c)": (lambda n, x, c: getattr(ad, n)(x, c),
                 lambda n, t, c: getattr(torch, n)(t, torch.tensor(
                     c, dtype=t.dtype))),
    "x.method(c)": (lambda n, x, c: getattr(x, n)(c),
                    lambda n, t, c: getattr(t, n)(torch.tensor(
                        c, dtype=t.dtype))),
    "fn(c, x)": (lambda n, x, c: getattr(ad, n)(c, x),
                 lambda n, t, c: getattr(torch, n)(torch.tensor(
                     c, dtype=t.dtype), t)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", [2.5, -1.5, 3, np.float64(0.75)])
@pytest.mark.parametrize("form", list(SCALAR_FORMS))
@pytest.mark.parametrize("name", NAMES)
def test_scalar_operand_keeps_the_tensors_dtype(name, form, c, dtype):
    fa, ft = SCALAR_FORMS[form]
    arr = np.array([[0.3, -1.7, 2.9], [4.1, -0.6, 1.2]])
    if name == "xlogy" and form == "fn(c, x)":
        arr = np.abs(arr)
    x = ad.tensor(arr, dtype=dtype, requires_grad=True)
    t = torch.tensor(arr, dtype=_tdt(dtype), requires_grad=True)
    out, tout = fa(name, x, c), ft(name, t, c)
    assert out.dtype == np.dtype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=rtol,
                               atol=1e-6 if dtype == np.float32 else 1e-14)
    w = np.arange(out.size, dtype=np.float64).reshape(out.shape) - 2.0
    out.backward(ad.tensor(w, dtype=dtype))
    tout.backward(torch.tensor(w, dtype=_tdt(dtype)))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mod_operator_both_sides_and_ndarray(dtype):
    arr = np.array([5.5, -5.5, 0.7, -2.25])
    x = ad.tensor(arr, dtype=dtype, requires_grad=True)
    t = torch.tensor(arr, dtype=_tdt(dtype), requires_grad=True)
    # torch has no derivative for a scalar dividend (remainder.Scalar_Tensor,
    # autodiff has): a 0-d tensor on its side
    c7, c75 = (torch.tensor(v, dtype=_tdt(dtype)) for v in (7.0, -7.5))
    cases = [(x % 2, t % 2), (x % -1.5, t % -1.5), (7 % x, c7 % t),
             (-7.5 % x, c75 % t),
             (x % np.array([2.0, 3.0, -1.0, 0.5], dtype),
              t % torch.tensor([2.0, 3.0, -1.0, 0.5], dtype=_tdt(dtype))),
             (np.array([2.0, 3.0, -1.0, 0.5], dtype) % x,
              torch.tensor([2.0, 3.0, -1.0, 0.5], dtype=_tdt(dtype)) % t),
             (x % x.detach() * 0.3, t % t.detach() * 0.3)]
    for i, (a, b) in enumerate(cases):
        assert isinstance(a, ad.Tensor), i
        assert a.dtype == np.dtype(dtype), i
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-6,
                                   atol=1e-6, err_msg=str(i))
    s = sum(((i + 1.0) * a).sum() for i, (a, _) in enumerate(cases))
    ts = sum(((i + 1.0) * b).sum() for i, (_, b) in enumerate(cases))
    s.backward()
    ts.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_mixed_dtypes_promote():
    x = ad.tensor(np.array([1.0, -2.0, 3.0]), dtype=np.float32)
    y = ad.tensor(np.array([0.5, 0.25, -2.0]), dtype=np.float64)
    for name in NAMES:
        out = getattr(ad, name)(x, y)
        assert out.dtype == np.float64, name
        want = getattr(torch, name)(torch.tensor(x.numpy()),
                                    torch.tensor(y.numpy()))
        np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-12,
                                   err_msg=name)


# --------------------------------------------------------------- in place

INPLACE = ["atan2_", "hypot_", "fmod_", "remainder_", "xlogy_"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INPLACE)
def test_inplace_forms_match_torch(name, dtype):
    a = np.array([[0.3, -1.7, 2.9], [4.1, -0.6, 1.2]])
    b = np.array([1.5, -0.4, 2.0])
    x = ad.tensor(a, dtype=dtype)
    t = torch.tensor(a, dtype=_tdt(dtype))
    v = x._version if hasattr(x, "_version") else None
    r = getattr(x, name)(ad.tensor(b, dtype=dtype))
    getattr(t, name)(torch.tensor(b, dtype=_tdt(dtype)))
    assert r is x
    if v is not None:
        assert x._version > v
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)
    # a scalar operand
    getattr(x, name)(2.5)
    getattr(t, name)(torch.tensor(2.5, dtype=_tdt(dtype)))
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)


def test_imod():
    x = ad.tensor([5.5, -5.5, 1.0])
    y = x
    y %= 2.0
    assert y is x
    np.testing.assert_array_equal(x.numpy(), [1.5, 0.5, 1.0])
    x %= ad.tensor([1.0, 0.3, -0.75])
    np.testing.assert_allclose(x.numpy(), np.remainder([1.5, 0.5, 1.0],
                                                      [1.0, 0.3, -0.75]))


@pytest.mark.parametrize("name", INPLACE + ["__imod__"])
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        getattr(x, name)(ad.tensor([1.0, 3.0]))
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("name", INPLACE + ["__imod__"])
def test_inplace_operand_must_broadcast_to_self(name):
    x = ad.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2,\)"):
        getattr(x, name)(ad.ones((2, 2)))
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("name", NAMES)
def test_bad_operand_type(name):
    x = ad.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="%s.*str" % name):
        getattr(ad, name)(x, "a")
    with pytest.raises(TypeError, match="%s.*dict" % name):
        getattr(x, name)({})
    with pytest.raises(TypeError, match="str"):
        getattr(ad, name)("a", x)


def test_mod_of_unsupported_type_is_a_type_error():
    x = ad.tensor([1.0, 2.0])
    with pytest.raises(TypeError):
        x % "a"
    with pytest.raises(TypeError):
        {} % x


@pytest.mark.parametrize("name", NAMES)
def test_shape_mismatch_names_the_shapes(name):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\).*broadcast"):
        getattr(ad, name)(ad.ones((2, 3)), ad.ones((4,)))


def test_every_new_kind_has_an_opdb_row_with_torch():
    for name in NAMES:
        o = opdb.binary(name)
        assert o.torch is not None and o.special
