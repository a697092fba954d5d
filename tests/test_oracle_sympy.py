"""Scalar functions against derivatives taken symbolically by sympy and
evaluated in 40-digit mpmath arithmetic.

1. Every elementwise row of opdb with a sympy expression: values and first
   derivatives on a dense grid, in float64 and float32, with a weighted
   seed and through a 0-d tensor.
2. The same rows (and a few compositions) to the 4th order, by nested
   ad.grad and nested ad.elementwise_grad; x ** y's mixed partials.
"""
import itertools
import math

import numpy as np
import pytest

import autodiff as ad
import opdb
from conftest import assert_close, tol

sympy = pytest.importorskip("sympy")
mpmath = pytest.importorskip("mpmath")

X = sympy.Symbol("x", real=True)

# ============================================ 1. first order, dense grids

GRID = np.concatenate([np.linspace(-6.0, 6.0, 97),
                       [-30.0, -12.5, -9.0, 7.5, 11.0, 25.0, 1e-3, -1e-3,
                        0.37, -0.37, 1e-6, -2e-6]])
POSGRID = np.concatenate([np.linspace(0.05, 8.0, 60),
                          [1e-4, 1e-2, 0.5, 1.0, 2.0, 17.0, 123.0, 1e4]])


def _real(o, pts):
    """The points of a grid where the row's function is real (its
    ``real`` interval, open)."""
    if getattr(o, "real", None) is None:
        return pts
    lo, hi = o.real
    return [p for p in pts if lo < p < hi]


# name -> (sympy expression, autodiff function, grid, kinks)
CASES = {o.name: (o.sympy(sympy, X), o.op,
                  np.array(_real(o, POSGRID if o.positive else GRID)),
                  list(o.kinks))
         for o in opdb.with_sympy(opdb.ELEMENTWISE + opdb.CUSTOM)}


def _mp_eval(expr, xs, symbol=X):
    """Value of a sympy expression at each float in xs, in 40-digit
    arithmetic, rounded once to float64."""
    f = sympy.lambdify(symbol, expr, modules="mpmath")
    out = []
    with mpmath.workdps(40):
        for v in xs:
            out.append(float(f(mpmath.mpf(float(v)))))
    return np.array(out)


def _points(name):
    expr, fn, grid, kinks = CASES[name]
    pts = np.array([p for p in grid
                    if all(abs(p - k) > 1e-9 for k in kinks)])
    if name == "exp" or "**x" in name:
        pts = pts[np.abs(pts) < 200]
    return pts


def _allclose(actual, desired, dtype, kind, err_msg=""):
    """assert_allclose with conftest's (unscaled) tolerances."""
    np.testing.assert_allclose(actual, desired, err_msg=err_msg,
                               **tol(dtype, kind))


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_derivative_vs_sympy_float64(name):
    expr, fn, _, _ = CASES[name]
    pts = _points(name)
    want_y = _mp_eval(expr, pts)
    want_d = _mp_eval(sympy.diff(expr, X), pts)

    x = ad.tensor(pts, dtype=ad.float64, requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float64 and y.shape == pts.shape
    y.backward(ad.ones(pts.shape, dtype=ad.float64))
    _allclose(y.numpy(), want_y, np.float64, "sympy", "%s values" % name)
    _allclose(x.grad.numpy(), want_d, np.float64, "sympy_grad",
              "%s derivative" % name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivative_with_weighted_seed_and_scalar_path(name):
    """The chain rule multiplies by the incoming gradient elementwise, and
    a single scalar point through .sum() gives the same derivative."""
    expr, fn, _, _ = CASES[name]
    pts = _points(name)[::7]
    w = np.random.default_rng(1).uniform(-2, 2, pts.shape)
    want_d = _mp_eval(sympy.diff(expr, X), pts)
    x = ad.tensor(pts, dtype=ad.float64, requires_grad=True)
    fn(x).backward(ad.tensor(w, dtype=ad.float64))
    _allclose(x.grad.numpy(), w * want_d, np.float64, "sympy_grad")
    p = float(pts[len(pts) // 2])
    s = ad.tensor(p, dtype=ad.float64, requires_grad=True)
    fn(s).sum().backward()
    _allclose(s.grad.numpy().reshape(-1)[0], want_d[len(pts) // 2],
              np.float64, "sympy_grad")


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_derivative_vs_sympy_float32(name):
    expr, fn, _, _ = CASES[name]
    pts = _points(name).astype(np.float32)
    pts = pts[np.abs(pts) <= 40]
    p64 = pts.astype(np.float64)
    want_y = _mp_eval(expr, p64)
    want_d = _mp_eval(sympy.diff(expr, X), p64)
    x = ad.tensor(pts, requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.backward(ad.ones(pts.shape))
    assert x.grad.dtype == np.float32
    sy = np.maximum(1.0, np.abs(want_y))
    sd = np.maximum(1.0, np.abs(want_d))
    _allclose(y.numpy() / sy, want_y / sy, np.float32, "sympy")
    _allclose(x.grad.numpy() / sd, want_d / sd, np.float32, "sympy_grad")


# ====================================== 2. nested grad, to the 4th order

_PTS = [-1.7, -0.6, 0.3, 1.1, 2.4]
_POS = [0.35, 0.9, 1.6, 3.2]


def _order_points(o):
    pts = _real(o, _POS if o.positive else _PTS)
    return [p for p in pts if all(abs(p - k) > 0.05 for k in o.kinks)]


# compositions (not single ops): name -> (sympy builder, function, points)
COMPOSITES = {
    "x*sin(x)": (lambda s, X: X * s.sin(X), lambda x: x * ad.sin(x), _PTS),
    "x**2*exp(x)": (lambda s, X: X ** 2 * s.exp(X),
                    lambda x: x ** 2 * ad.exp(x), _PTS),
    "x*x*exp(x)": (lambda s, X: X ** 2 * s.exp(X),
                   lambda x: x * x * ad.exp(x), _PTS),
    "x**-1(both signs)": (lambda s, X: 1 / X, lambda x: x ** -1,
                          _POS + [-0.8, -2.1]),
    "sin(x)/x": (lambda s, X: s.sin(X) / X, lambda x: ad.sin(x) / x,
                 [-1.7, 0.3, 1.1, 2.4]),
    "(x+1)/(x**2+1)": (lambda s, X: (X + 1) / (X ** 2 + 1),
                       lambda x: (x + 1.0) / (x ** 2 + 1.0), _PTS),
    "tanh(sin(x))*exp(-x/2)": (
        lambda s, X: s.tanh(s.sin(X)) * s.exp(-X / 2),
        lambda x: ad.tanh(ad.sin(x)) * ad.exp(x * -0.5), _PTS),
}
# name -> (sympy expression builder (sp, X), autodiff function, points)
SYMPY = {o.name: (o.sympy, o.op, _order_points(o))
         for o in opdb.with_sympy(opdb.ELEMENTWISE + opdb.CUSTOM)
         if o.name != "abs"}     # |x|'' is a DiracDelta (no mpmath value)
SYMPY.update(COMPOSITES)


def _nest(transform, f, n):
    for _ in range(n):
        f = transform(f)
    return f


def _assert_rel(got, want, msg=""):
    rtol = tol(np.float64, "sympy")["rtol"]
    assert abs(got - want) <= rtol * max(1.0, abs(want)), (msg, got, want)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("name", list(SYMPY))
def test_nested_grad_matches_sympy(name, order):
    build, fn, pts = SYMPY[name]
    want = _mp_eval(sympy.diff(build(sympy, X), X, order), pts)
    d = _nest(ad.grad, fn, order)
    for p, w in zip(pts, want):
        got = d(p)
        assert isinstance(got, float), type(got)
        _assert_rel(got, w, msg="%s order %d at %g" % (name, order, p))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "x*sin(x)",
                                  "(x+1)/(x**2+1)", "softplus", "erf",
                                  "2**x", "sin(x)/x"])
def test_nested_elementwise_grad_matches_sympy(name, order):
    build, fn, _ = SYMPY[name]
    grid = np.linspace(-2.9, 3.1, 13)       # avoids 0 (for sin(x)/x)
    want = _mp_eval(sympy.diff(build(sympy, X), X, order), grid)
    d = _nest(ad.elementwise_grad, fn, order)
    got = d(grid)
    assert isinstance(got, np.ndarray) and got.shape == grid.shape
    assert_close(got, want, np.float64, "sympy_order")
    # a Tensor grid gives a Tensor back, with the same values
    gt = d(ad.tensor(grid, dtype=ad.float64))
    assert isinstance(gt, ad.Tensor) and not gt.requires_grad
    assert_close(gt, got, np.float64, "rule")


_XY_POINTS = [(1.3, 0.7), (0.6, 2.2), (2.1, -1.4)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_pow_x_y_mixed_partials_match_sympy(order):
    """x**y with both operands tensors: every sequence of argnums up to
    order 4, i.e. all mixed partials."""
    Xs, Y = sympy.symbols("x y", real=True)
    expr = Xs ** Y
    for seq in itertools.product((0, 1), repeat=order):
        f = opdb.binary("pow").op
        for k in seq:
            f = ad.grad(f, argnums=k)
        dexpr = expr
        for k in seq:
            dexpr = sympy.diff(dexpr, (Xs, Y)[k])
        lam = sympy.lambdify((Xs, Y), dexpr, modules="mpmath")
        for x, y in _XY_POINTS:
            with mpmath.workdps(40):
                want = float(lam(mpmath.mpf(x), mpmath.mpf(y)))
            got = f(x, y)
            _assert_rel(got, want, msg="%s at %s" % (seq, (x, y)))


def test_grad_argnums_tuple_gives_both_partials_of_pow():
    Xs, Y = sympy.symbols("x y", real=True)
    gx, gy = ad.grad(lambda a, b: a ** b, argnums=(0, 1))(1.3, 0.7)
    _assert_rel(gx, 0.7 * 1.3 ** -0.3)
    _assert_rel(gy, 1.3 ** 0.7 * math.log(1.3))
    # the Hessian of x**y by nesting tuple argnums: H[i][j]
    H = [ad.grad(lambda a, b, i=i: ad.grad(lambda p, q: p ** q,
                                           argnums=(0, 1))(a, b)[i],
                 argnums=(0, 1))(1.3, 0.7) for i in (0, 1)]
    for i, j in itertools.product((0, 1), repeat=2):
        d = sympy.diff(Xs ** Y, (Xs, Y)[i], (Xs, Y)[j])
        with mpmath.workdps(40):
            want = float(sympy.lambdify((Xs, Y), d, "mpmath")(
                mpmath.mpf(1.3), mpmath.mpf(0.7)))
        _assert_rel(H[i][j], want, msg=(i, j))
