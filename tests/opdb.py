"""The op database of the tests, in the manner of PyTorch's OpInfo
(torch/testing/_internal/common_methods_invocations.py).

One ``OpInfo`` per op, per engine kind and per option setting worth its own
test id.  Each says

* ``op``: the autodiff callable (tensors in, a tensor out);
* ``ref``: its numpy reference (tests/refs.py), float64 in and out;
* ``torch``: a callable on torch tensors, or None;
* ``sympy``: ``lambda sp, X: expression`` for elementwise ops, or None;
* ``domain`` and ``kinks``: where samples are drawn, and the points they
  keep away from (no derivative there);
* ``real``: the open interval where the function is real, for the fixed
  grids of test_oracle_sympy (default: the whole line, or the positive
  half for a positive domain);
* ``records``: the engine (op, kind) pairs the op records, checked against
  ``_engine.OPS``/``UNARY``/... by test_opdb.py;
* ``dtypes`` and ``tol`` (a purpose of ``conftest.tol``);
* ``fuzz``: whether the random graphs of fuzz_helpers.py may draw it;
* ``special``: whether test_bad_input/test_fuzz push NaN/inf through it;
* ``zero_grad``: its gradient is 0 wherever it exists (floor, sign, ...);
* ``bad``: the inputs it must reject (``BadInput``), with the exception
  type and message the tests expect.

Op families whose samples are not "an array from a domain" (shapes,
indexing, matmul, concatenation, ...) carry their sample lists here too
(``samples``), so every per-op test file parametrizes over this module.
Adding an op means adding its rows here; test_opdb.py fails until every
registered engine kind has one.
"""
import numpy as np

import autodiff as ad
import autodiff.nn.functional as NF
from autodiff import _engine as E
import refs
from conftest import (DTYPES, binary_data_default, binary_data_div,
                      binary_data_maxmin, binary_data_pow, distinct, nonzero,
                      require_torch, sample)


# ------------------------------------------------------------ torch, lazily

def _no_torch(*args, **kwargs):
    """Stands for every torch reference when torch is not installed: the
    test calling it skips with the one reason."""
    require_torch()


class _Lazy:
    """torch (or torch.nn.functional) imported on first attribute use, so
    this module imports without torch (its references then skip)."""

    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        import importlib
        try:
            mod = importlib.import_module(self._path)
        except ImportError:
            return _no_torch
        return getattr(mod, name)


T = _Lazy("torch")
TF = _Lazy("torch.nn.functional")


# ------------------------------------------------------------------ records

class BadInput:
    """A call the op must reject: ``make()`` returns (call, inputs); the
    call raises ``exc`` with a message matching ``match`` and containing
    every string of ``contains``; the inputs are left unchanged."""

    def __init__(self, name, make, exc, match, contains=()):
        self.name, self.make, self.exc = name, make, exc
        self.match, self.contains = match, tuple(contains)

    def __repr__(self):
        return self.name


class OpInfo:
    def __init__(self, name, op, ref=None, *, records=(), torch=None,
                 sympy=None, domain=(-2.0, 2.0), kinks=(), dtypes=DTYPES,
                 tol="default", fuzz=False, special=False, bad=(),
                 samples=(), method=None, numeric=True, real=None,
                 **extra):
        self.name, self.op, self.ref = name, op, ref
        self.records = tuple(records)
        self.torch, self.sympy = torch, sympy
        self.domain, self.kinks = tuple(domain), tuple(kinks)
        self.dtypes, self.tol = tuple(dtypes), tol
        self.fuzz, self.special = fuzz, special
        self.bad = tuple(bad)
        self.samples = list(samples)
        self.method = method
        self.numeric = numeric      # False: only for NaN/inf propagation
        self.real = real
        for k, v in extra.items():
            setattr(self, k, v)

    def __repr__(self):
        return "OpInfo(%r)" % self.name

    @property
    def positive(self):
        return self.domain[0] > 0

    def sample(self, shape, seed=0, margin=0.05):
        lo, hi = self.domain
        return sample(shape, lo, hi, seed=seed, avoid=self.kinks,
                      margin=margin)


def U(kind):
    return ("unary", kind)


def B(kind):
    return ("binary", kind)


# ===================================================================== unary
#
# One row per unary kind of the engine and per option setting.  Scalar
# forms (x + c, c ** x, ...) are unary kinds too (addc, powc, ...).

def _unary_call(fn):
    t = ad.tensor(np.random.default_rng(0).standard_normal(3),
                  requires_grad=True)
    return (lambda: fn(t)), [t]


def _sp_pw(sp, X, pos, neg):
    return sp.Piecewise((pos, X > 0), (neg, True))


def _sp_softplus(beta, threshold):
    def build(sp, X):
        b = sp.nsimplify(beta)
        return sp.Piecewise((X, b * X > threshold),
                            (sp.log(1 + sp.exp(b * X)) / b, True))
    return build


def _sp_selu(sp, X):
    scale = sp.Float(refs.SELU_SCALE_STR, 40)
    alpha = sp.Float(refs.SELU_ALPHA_STR, 40)
    return scale * _sp_pw(sp, X, X, alpha * (sp.exp(X) - 1))


def _sp_clip(lo, hi):
    def build(sp, X):
        parts = []
        if lo is not None:
            parts.append((sp.nsimplify(lo), X < lo))
        if hi is not None:
            parts.append((sp.nsimplify(hi), X > hi))
        return sp.Piecewise(*parts, (X, True))
    return build


def _torch_hardsigmoid(t):
    """torch's hardsigmoid; in float64 as relu6(x + 3) / 6 (the same
    values and kinks): torch's float64 backward multiplies by 1/6 rounded
    to float32 (0.16666667163...), autodiff by 1/6."""
    if t.dtype == T.float64:
        return TF.relu6(t + 3.0) / 6.0
    return TF.hardsigmoid(t)


def _softplus(beta, threshold, domain, kinks):
    name = "softplus(beta=%g, threshold=%g)" % (beta, threshold)
    return OpInfo(
        name, lambda t: ad.softplus(t, beta=beta, threshold=threshold),
        lambda x: refs.np_softplus(x, beta, threshold), records=[U("softplus")],
        torch=lambda t: TF.softplus(t, beta, threshold),
        sympy=_sp_softplus(beta, threshold), domain=domain, kinks=kinks,
        fuzz=False)


_INTS = (-2.0, -1.0, 0.0, 1.0, 2.0)                 # floor, ceil, trunc
_HALVES = (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)       # round (half to even)

UNARY = [
    OpInfo("neg", lambda t: -t, np.negative, records=[U("neg")],
           torch=lambda t: -t, sympy=lambda sp, X: -X, domain=(-3, 3),
           fuzz=True, special=True, method=lambda t: t.neg()),
    OpInfo("ad.negative", ad.negative, np.negative, records=[U("neg")],
           torch=lambda t: T.neg(t), domain=(-3, 3), special=True),
    OpInfo("exp", ad.exp, np.exp, records=[U("exp")],
           torch=lambda t: T.exp(t), sympy=lambda sp, X: sp.exp(X),
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.exp()),
    OpInfo("log", ad.log, np.log, records=[U("log")],
           torch=lambda t: T.log(t), sympy=lambda sp, X: sp.log(X),
           domain=(0.2, 4), fuzz=True, special=True,
           method=lambda t: t.log()),
    OpInfo("sqrt", ad.sqrt, np.sqrt, records=[U("sqrt")],
           torch=lambda t: T.sqrt(t), sympy=lambda sp, X: sp.sqrt(X),
           domain=(0.2, 4), fuzz=True, special=True,
           method=lambda t: t.sqrt()),
    OpInfo("abs", ad.abs, np.abs, records=[U("abs")],
           torch=lambda t: T.abs(t), sympy=lambda sp, X: sp.Abs(X),
           domain=(-3, 3), kinks=(0.0,), fuzz=True, special=True,
           method=lambda t: t.abs()),
    OpInfo("builtin abs", lambda t: abs(t), np.abs, records=[U("abs")],
           domain=(-3, 3), kinks=(0.0,)),
    OpInfo("sin", ad.sin, np.sin, records=[U("sin")],
           torch=lambda t: T.sin(t), sympy=lambda sp, X: sp.sin(X),
           domain=(-4, 4), fuzz=True, special=True,
           method=lambda t: t.sin()),
    OpInfo("tan", ad.tan, np.tan, records=[U("tan")],
           torch=lambda t: T.tan(t), sympy=lambda sp, X: sp.tan(X),
           domain=(-1.2, 1.2), fuzz=True, special=True,
           method=lambda t: t.tan()),
    OpInfo("atan", ad.atan, np.arctan, records=[U("atan")],
           torch=lambda t: T.atan(t), sympy=lambda sp, X: sp.atan(X),
           domain=(-4, 4), fuzz=True, special=True,
           method=lambda t: t.atan()),
    OpInfo("asin", ad.asin, np.arcsin, records=[U("asin")],
           torch=lambda t: T.asin(t), sympy=lambda sp, X: sp.asin(X),
           domain=(-0.9, 0.9), real=(-1, 1), special=True,
           method=lambda t: t.asin()),
    OpInfo("acos", ad.acos, np.arccos, records=[U("acos")],
           torch=lambda t: T.acos(t), sympy=lambda sp, X: sp.acos(X),
           domain=(-0.9, 0.9), real=(-1, 1), special=True,
           method=lambda t: t.acos()),
    OpInfo("sinh", ad.sinh, np.sinh, records=[U("sinh")],
           torch=lambda t: T.sinh(t), sympy=lambda sp, X: sp.sinh(X),
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.sinh()),
    OpInfo("cosh", ad.cosh, np.cosh, records=[U("cosh")],
           torch=lambda t: T.cosh(t), sympy=lambda sp, X: sp.cosh(X),
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.cosh()),
    OpInfo("asinh", ad.asinh, np.arcsinh, records=[U("asinh")],
           torch=lambda t: T.asinh(t), sympy=lambda sp, X: sp.asinh(X),
           domain=(-4, 4), fuzz=True, special=True,
           method=lambda t: t.asinh()),
    OpInfo("acosh", ad.acosh, np.arccosh, records=[U("acosh")],
           torch=lambda t: T.acosh(t), sympy=lambda sp, X: sp.acosh(X),
           domain=(1.1, 4), real=(1, np.inf), special=True,
           method=lambda t: t.acosh()),
    OpInfo("atanh", ad.atanh, np.arctanh, records=[U("atanh")],
           torch=lambda t: T.atanh(t), sympy=lambda sp, X: sp.atanh(X),
           domain=(-0.9, 0.9), real=(-1, 1), special=True,
           method=lambda t: t.atanh()),
    OpInfo("log1p", ad.log1p, np.log1p, records=[U("log1p")],
           torch=lambda t: T.log1p(t), sympy=lambda sp, X: sp.log(1 + X),
           domain=(-0.8, 3), real=(-1, np.inf), special=True,
           method=lambda t: t.log1p()),
    OpInfo("expm1", ad.expm1, np.expm1, records=[U("expm1")],
           torch=lambda t: T.expm1(t), sympy=lambda sp, X: sp.exp(X) - 1,
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.expm1()),
    OpInfo("log2", ad.log2, np.log2, records=[U("log2")],
           torch=lambda t: T.log2(t), sympy=lambda sp, X: sp.log(X, 2),
           domain=(0.2, 4), fuzz=True, special=True,
           method=lambda t: t.log2()),
    OpInfo("log10", ad.log10, np.log10, records=[U("log10")],
           torch=lambda t: T.log10(t), sympy=lambda sp, X: sp.log(X, 10),
           domain=(0.2, 4), fuzz=True, special=True,
           method=lambda t: t.log10()),
    OpInfo("exp2", ad.exp2, np.exp2, records=[U("exp2")],
           torch=lambda t: T.exp2(t), sympy=lambda sp, X: 2 ** X,
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.exp2()),
    OpInfo("reciprocal", ad.reciprocal, np.reciprocal,
           records=[U("reciprocal")], torch=lambda t: T.reciprocal(t),
           sympy=lambda sp, X: 1 / X, domain=(0.3, 3), fuzz=True,
           special=True, method=lambda t: t.reciprocal()),
    OpInfo("reciprocal(negative)", ad.reciprocal, np.reciprocal,
           records=[U("reciprocal")], torch=lambda t: T.reciprocal(t),
           domain=(-3, -0.3)),
    OpInfo("rsqrt", ad.rsqrt, refs.np_rsqrt, records=[U("rsqrt")],
           torch=lambda t: T.rsqrt(t), sympy=lambda sp, X: 1 / sp.sqrt(X),
           domain=(0.2, 4), fuzz=True, special=True,
           method=lambda t: t.rsqrt()),
    # steps: gradient 0 (frac: 1), sampled away from the steps
    OpInfo("sign", ad.sign, refs.np_sign, records=[U("sign")],
           torch=lambda t: T.sign(t), domain=(-3, 3), kinks=(0.0,),
           zero_grad=True, special=True, method=lambda t: t.sign()),
    OpInfo("floor", ad.floor, np.floor, records=[U("floor")],
           torch=lambda t: T.floor(t), domain=(-2.9, 2.9), kinks=_INTS,
           zero_grad=True, special=True, method=lambda t: t.floor()),
    OpInfo("ceil", ad.ceil, np.ceil, records=[U("ceil")],
           torch=lambda t: T.ceil(t), domain=(-2.9, 2.9), kinks=_INTS,
           zero_grad=True, special=True, method=lambda t: t.ceil()),
    OpInfo("round", ad.round, np.round, records=[U("round")],
           torch=lambda t: T.round(t), domain=(-2.9, 2.9), kinks=_HALVES,
           zero_grad=True, special=True, method=lambda t: t.round(),
           bad=[BadInput("decimals=%r" % (d,), lambda d=d: _unary_call(
               lambda t: ad.round(t, decimals=d)), TypeError,
               r"decimals.*must be int") for d in (1.5, True, None)]),
    # decimals: steps every 10**-decimals, too dense for the numeric tests
    # (tests/test_ops.py checks them against numpy and torch)
    OpInfo("round(decimals=2)", lambda t: ad.round(t, decimals=2),
           lambda x: np.round(x, 2), records=[U("round")],
           torch=lambda t: T.round(t, decimals=2), special=True,
           numeric=False, method=lambda t: t.round(decimals=2)),
    OpInfo("round(decimals=-1)", lambda t: ad.round(t, decimals=-1),
           lambda x: np.round(x, -1), records=[U("round")],
           torch=lambda t: T.round(t, decimals=-1), special=True,
           numeric=False),
    OpInfo("trunc", ad.trunc, np.trunc, records=[U("trunc")],
           torch=lambda t: T.trunc(t), domain=(-2.9, 2.9), kinks=_INTS,
           zero_grad=True, special=True, method=lambda t: t.trunc()),
    OpInfo("frac", ad.frac, refs.np_frac, records=[U("frac")],
           torch=lambda t: T.frac(t), domain=(-2.9, 2.9), kinks=_INTS,
           special=True, method=lambda t: t.frac()),
    OpInfo("cos", ad.cos, np.cos, records=[U("cos")],
           torch=lambda t: T.cos(t), sympy=lambda sp, X: sp.cos(X),
           domain=(-4, 4), fuzz=True, special=True,
           method=lambda t: t.cos()),
    OpInfo("square", ad.square, np.square, records=[U("square")],
           torch=lambda t: T.square(t), sympy=lambda sp, X: X ** 2,
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.square()),
    OpInfo("sigmoid", ad.sigmoid, refs.np_sigmoid, records=[U("sigmoid")],
           torch=lambda t: T.sigmoid(t),
           sympy=lambda sp, X: 1 / (1 + sp.exp(-X)), domain=(-6, 6),
           fuzz=True, special=True, method=lambda t: t.sigmoid()),
    OpInfo("tanh", ad.tanh, np.tanh, records=[U("tanh")],
           torch=lambda t: T.tanh(t), sympy=lambda sp, X: sp.tanh(X),
           domain=(-3, 3), fuzz=True, special=True,
           method=lambda t: t.tanh()),
    OpInfo("erf", ad.erf, refs.np_erf, records=[U("erf")],
           torch=lambda t: T.erf(t), sympy=lambda sp, X: sp.erf(X),
           domain=(-2, 2), fuzz=True),
    OpInfo("relu", ad.relu, refs.np_relu, records=[U("relu")],
           torch=lambda t: T.relu(t),
           sympy=lambda sp, X: _sp_pw(sp, X, X, 0), domain=(-3, 3),
           kinks=(0.0,), fuzz=True, special=True,
           method=lambda t: t.relu()),
    OpInfo("leaky_relu", ad.leaky_relu, refs.np_leaky_relu,
           records=[U("leaky_relu")], torch=lambda t: TF.leaky_relu(t),
           sympy=lambda sp, X: _sp_pw(sp, X, X, sp.Rational(1, 100) * X),
           domain=(-3, 3), kinks=(0.0,), fuzz=True),
    OpInfo("leaky_relu(0.2)", lambda t: ad.leaky_relu(t, negative_slope=0.2),
           lambda x: refs.np_leaky_relu(x, 0.2), records=[U("leaky_relu")],
           torch=lambda t: TF.leaky_relu(t, 0.2),
           sympy=lambda sp, X: _sp_pw(sp, X, X, sp.Rational(1, 5) * X),
           domain=(-3, 3), kinks=(0.0,)),
    OpInfo("elu", ad.elu, refs.np_elu, records=[U("elu")],
           torch=lambda t: TF.elu(t),
           sympy=lambda sp, X: _sp_pw(sp, X, X, sp.exp(X) - 1),
           domain=(-3, 3), kinks=(0.0,), fuzz=True),
    OpInfo("elu(0.5)", lambda t: ad.elu(t, alpha=0.5),
           lambda x: refs.np_elu(x, 0.5), records=[U("elu")],
           torch=lambda t: TF.elu(t, 0.5),
           sympy=lambda sp, X: _sp_pw(sp, X, X,
                                      sp.Rational(1, 2) * (sp.exp(X) - 1)),
           domain=(-3, 3), kinks=(0.0,)),
    OpInfo("elu(1.7)", lambda t: ad.elu(t, 1.7),
           lambda x: refs.np_elu(x, 1.7), records=[U("elu")],
           torch=lambda t: TF.elu(t, 1.7),
           sympy=lambda sp, X: _sp_pw(sp, X, X,
                                      sp.Rational(17, 10) * (sp.exp(X) - 1)),
           domain=(-3, 3), kinks=(0.0,)),
    OpInfo("selu", ad.selu, refs.np_selu, records=[U("selu")],
           torch=lambda t: T.selu(t), sympy=_sp_selu, domain=(-3, 3),
           kinks=(0.0,), fuzz=True, method=lambda t: t.selu()),
    OpInfo("softplus", ad.softplus, refs.np_softplus,
           records=[U("softplus")], torch=lambda t: TF.softplus(t),
           sympy=_sp_softplus(1, 20), domain=(-4, 4), fuzz=True,
           bad=[BadInput("beta=%r" % b, lambda b=b: _unary_call(
               lambda t: ad.softplus(t, beta=b)), ValueError, pat)
               for b, pat in ((-1, r"beta.*-1"), (0, r"beta.*0"))]),
    _softplus(2.0, 1.0, (-3, 3), (0.5,)),
    _softplus(0.5, 0.75, (-3, 3), (1.5,)),
    _softplus(2.0, 3.0, (-3, 3), (1.5,)),
    _softplus(0.5, 1.0, (-3, 4), (2.0,)),
    _softplus(2.0, 20.0, (-3, 3), ()),
    OpInfo("gelu", ad.gelu, refs.np_gelu, records=[U("gelu")],
           torch=lambda t: TF.gelu(t),
           sympy=lambda sp, X: X / 2 * (1 + sp.erf(X / sp.sqrt(2))),
           domain=(-4, 4), fuzz=True, method=lambda t: t.gelu()),
    OpInfo("silu", ad.silu, refs.np_silu, records=[U("silu")],
           torch=lambda t: TF.silu(t),
           sympy=lambda sp, X: X / (1 + sp.exp(-X)), domain=(-5, 5),
           fuzz=True, method=lambda t: t.silu()),
    # torch.nn.functional's activations (autodiff.nn.functional)
    OpInfo("hardtanh", NF.hardtanh, lambda x: np.clip(x, -1, 1),
           records=[U("hardtanh")], torch=lambda t: TF.hardtanh(t),
           sympy=_sp_clip(-1, 1), domain=(-3, 3), kinks=(-1.0, 1.0),
           fuzz=True, special=True,
           bad=[BadInput("min_val > max_val", lambda: _unary_call(
               lambda t: NF.hardtanh(t, 1.0, -1.0)), ValueError,
               r"min_val cannot be greater than max_val")]),
    OpInfo("hardtanh(-0.5, 2)", lambda t: NF.hardtanh(t, -0.5, 2.0),
           lambda x: np.clip(x, -0.5, 2), records=[U("hardtanh")],
           torch=lambda t: TF.hardtanh(t, -0.5, 2.0),
           sympy=_sp_clip(-0.5, 2), domain=(-3, 3), kinks=(-0.5, 2.0)),
    OpInfo("relu6", NF.relu6, lambda x: np.clip(x, 0, 6),
           records=[U("hardtanh")], torch=lambda t: TF.relu6(t),
           sympy=_sp_clip(0, 6), domain=(-2, 8), kinks=(0.0, 6.0),
           fuzz=True, special=True),
    OpInfo("hardsigmoid", NF.hardsigmoid, refs.np_hardsigmoid,
           records=[U("hardsigmoid")], torch=_torch_hardsigmoid,
           sympy=lambda sp, X: sp.Piecewise(
               (0, X < -3), (1, X > 3), (X / 6 + sp.Rational(1, 2), True)),
           domain=(-5, 5), kinks=(-3.0, 3.0), fuzz=True, special=True),
    OpInfo("hardswish", NF.hardswish, refs.np_hardswish,
           records=[U("hardswish")], torch=lambda t: TF.hardswish(t),
           sympy=lambda sp, X: sp.Piecewise(
               (0, X < -3), (X, X > 3), (X * (X + 3) / 6, True)),
           domain=(-5, 5), kinks=(-3.0, 3.0), fuzz=True, special=True),
    OpInfo("mish", NF.mish, refs.np_mish, records=[U("mish")],
           torch=lambda t: TF.mish(t),
           sympy=lambda sp, X: X * sp.tanh(sp.log(1 + sp.exp(X))),
           domain=(-5, 5), fuzz=True, special=True),
    OpInfo("logsigmoid", NF.logsigmoid, refs.np_logsigmoid,
           records=[U("logsigmoid")], torch=lambda t: TF.logsigmoid(t),
           sympy=lambda sp, X: -sp.log(1 + sp.exp(-X)), domain=(-6, 6),
           fuzz=True, special=True),
    # smooth, but its second derivative jumps at 0
    OpInfo("softsign", NF.softsign, refs.np_softsign,
           records=[U("softsign")], torch=lambda t: TF.softsign(t),
           sympy=lambda sp, X: sp.Piecewise((X / (1 + X), X > 0),
                                            (X / (1 - X), True)),
           domain=(-4, 4), kinks=(0.0,), fuzz=True, special=True),
    OpInfo("tanhshrink", NF.tanhshrink, refs.np_tanhshrink,
           records=[U("tanhshrink")], torch=lambda t: TF.tanhshrink(t),
           sympy=lambda sp, X: X - sp.tanh(X), domain=(-3, 3), fuzz=True,
           special=True),
    OpInfo("celu", NF.celu, refs.np_celu, records=[U("celu")],
           torch=lambda t: TF.celu(t),
           sympy=lambda sp, X: _sp_pw(sp, X, X, sp.exp(X) - 1),
           domain=(-3, 3), kinks=(0.0,), fuzz=True, special=True,
           bad=[BadInput("alpha=0", lambda: _unary_call(
               lambda t: NF.celu(t, alpha=0.0)), ValueError,
               r"alpha cannot be 0")]),
    OpInfo("celu(0.5)", lambda t: NF.celu(t, alpha=0.5),
           lambda x: refs.np_celu(x, 0.5), records=[U("celu")],
           torch=lambda t: TF.celu(t, 0.5),
           sympy=lambda sp, X: _sp_pw(sp, X, X, (sp.exp(2 * X) - 1) / 2),
           domain=(-3, 3), kinks=(0.0,), special=True),
    OpInfo("celu(2)", lambda t: NF.celu(t, 2.0),
           lambda x: refs.np_celu(x, 2.0), records=[U("celu")],
           torch=lambda t: TF.celu(t, 2.0),
           sympy=lambda sp, X: _sp_pw(sp, X, X, 2 * (sp.exp(X / 2) - 1)),
           domain=(-3, 3), kinks=(0.0,)),
    OpInfo("clip(min)", lambda t: ad.clip(t, min=-0.5),
           lambda x: np.maximum(x, -0.5), records=[U("clip")],
           torch=lambda t: T.clamp(t, min=-0.5), sympy=_sp_clip(-0.5, None),
           domain=(-2, 2), kinks=(-0.5,)),
    OpInfo("clip(max)", lambda t: ad.clip(t, max=0.7),
           lambda x: np.minimum(x, 0.7), records=[U("clip")],
           torch=lambda t: T.clamp(t, max=0.7), sympy=_sp_clip(None, 0.7),
           domain=(-2, 2), kinks=(0.7,)),
    OpInfo("clip(both)", lambda t: ad.clip(t, -0.5, 0.7),
           lambda x: np.clip(x, -0.5, 0.7), records=[U("clip")],
           torch=lambda t: T.clamp(t, -0.5, 0.7), sympy=_sp_clip(-0.5, 0.7),
           domain=(-2, 2), kinks=(-0.5, 0.7), fuzz=True, special=True),
    OpInfo("clip(-0.5, 1.5)", lambda t: ad.clip(t, -0.5, 1.5),
           lambda x: np.clip(x, -0.5, 1.5), records=[U("clip")],
           torch=lambda t: T.clamp(t, -0.5, 1.5), sympy=_sp_clip(-0.5, 1.5),
           domain=(-2, 2), kinks=(-0.5, 1.5)),
    OpInfo("clamp(both)", lambda t: ad.clamp(t, min=-0.5, max=0.7),
           lambda x: np.clip(x, -0.5, 0.7), records=[U("clip")],
           domain=(-2, 2), kinks=(-0.5, 0.7)),
    OpInfo("Tensor.clip(max)", lambda t: t.clip(max=0.7),
           lambda x: np.minimum(x, 0.7), records=[U("clip")],
           domain=(-2, 2), kinks=(0.7,)),
    OpInfo("Tensor.clamp(min)", lambda t: t.clamp(min=-0.5),
           lambda x: np.maximum(x, -0.5), records=[U("clip")],
           domain=(-2, 2), kinks=(-0.5,)),
]


# -------------------------------------------- scalar operands (unary kinds)
#
# SCALAR_FORMS: every way to write a tensor-scalar operation, with its
# numpy twin and the engine kind it records; SCALARS the constants
# test_ops.py combines them with (Python, numpy float32/64 and int types).

SCALAR_FORMS = {
    "x + c": (lambda x, c: x + c, lambda x, c: x + c, "addc"),
    "c + x": (lambda x, c: c + x, lambda x, c: c + x, "addc"),
    "x - c": (lambda x, c: x - c, lambda x, c: x - c, "addc"),
    "c - x": (lambda x, c: c - x, lambda x, c: c - x, "rsubc"),
    "x * c": (lambda x, c: x * c, lambda x, c: x * c, "mulc"),
    "c * x": (lambda x, c: c * x, lambda x, c: c * x, "mulc"),
    "x / c": (lambda x, c: x / c, lambda x, c: x / c, "divc"),
    "c / x": (lambda x, c: c / x, lambda x, c: c / x, "rdivc"),
    "x ** c": (lambda x, c: x ** c, lambda x, c: x ** c, "powc"),
    "c ** x": (lambda x, c: c ** x, lambda x, c: c ** x, "rpowc"),
}
SCALARS = [2, 3, 0, 1, -1, 2.5, -1.5, 0.5, np.float64(0.75),
           np.float32(3.0), np.int64(2)]
SCALAR_CASES = [(form, c) for form in SCALAR_FORMS for c in SCALARS
                if not (form == "x / c" and c == 0)          # x / 0
                and not (form == "c ** x" and c <= 0)]       # no real log(c)


def _sc(form, c, sympy=None, domain=(-2, 2), special=False, name=None,
        kinks=(), numeric=True):
    """A scalar-form row at one constant c."""
    fn, ref, kind = SCALAR_FORMS[form]
    return OpInfo(name or form.replace(" ", "").replace("c", repr(c)),
                  lambda t: fn(t, c), lambda x: ref(x, float(c)),
                  records=[U(kind)], torch=lambda t: fn(t, c), sympy=sympy,
                  domain=domain, kinks=kinks, special=special, form=form,
                  c=c, numeric=numeric)


def _R(sp, v):
    return sp.nsimplify(v, rational=True)


SCALAR = [
    _sc("x + c", 1.7, lambda sp, X: X + _R(sp, 1.7)),
    _sc("x + c", 2.25, lambda sp, X: X + _R(sp, 2.25)),
    _sc("x + c", 1.0, special=True),
    _sc("c + x", 1.7, lambda sp, X: _R(sp, 1.7) + X),
    _sc("x - c", 0.6, lambda sp, X: X - _R(sp, 0.6)),
    _sc("c - x", 0.6, lambda sp, X: _R(sp, 0.6) - X),
    _sc("c - x", 1 / 3, lambda sp, X: sp.Rational(1, 3) - X,
        name="1/3-x"),
    _sc("x * c", -1.3, lambda sp, X: X * _R(sp, -1.3)),
    _sc("x * c", 2.0, special=True),
    _sc("c * x", -1.3, lambda sp, X: _R(sp, -1.3) * X),
    _sc("x / c", 2.5, lambda sp, X: X / _R(sp, 2.5)),
    _sc("x / c", 7 / 3, lambda sp, X: X / sp.Rational(7, 3), name="x/(7/3)"),
    _sc("x / c", 0.0, special=True, numeric=False),
    _sc("c / x", 2.5, lambda sp, X: _R(sp, 2.5) / X, domain=(0.2, 4)),
    _sc("c / x", 1.0, special=True, domain=(0.2, 4)),
    _sc("x ** c", 2, lambda sp, X: X ** 2, special=True),
    _sc("x ** c", 3, lambda sp, X: X ** 3),
    _sc("x ** c", -1, lambda sp, X: 1 / X, domain=(0.2, 4)),
    _sc("x ** c", -2, lambda sp, X: X ** -2, domain=(0.2, 4)),
    _sc("x ** c", 0.5, lambda sp, X: sp.sqrt(X), domain=(0.2, 4),
        special=True),
    _sc("x ** c", -1.5, lambda sp, X: X ** sp.Rational(-3, 2),
        domain=(0.2, 4)),
    _sc("x ** c", 2.5, lambda sp, X: X ** sp.Rational(5, 2), domain=(0.2, 4)),
    _sc("x ** c", 2.7, lambda sp, X: X ** sp.Rational(27, 10),
        domain=(0.2, 4)),
    _sc("x ** c", 0, lambda sp, X: X ** 0),
    _sc("x ** c", 1, lambda sp, X: X),
    _sc("x ** c", 2.0),
    _sc("x ** c", np.float64(0.75), domain=(0.2, 4), name="x**0.75"),
    _sc("c ** x", 2, lambda sp, X: 2 ** X, special=True),
    _sc("c ** x", 0.5, lambda sp, X: sp.Rational(1, 2) ** X),
    _sc("c ** x", 3.7, lambda sp, X: sp.Rational(37, 10) ** X),
]
# piecewise linear rows: their gradient does not depend on the input
_LINEAR_KINDS = {"neg", "abs", "relu", "leaky_relu", "clip", "addc", "rsubc",
                 "mulc", "divc", "sign", "floor", "ceil", "round", "trunc",
                 "frac", "hardtanh", "hardsigmoid"}
for _o in UNARY + SCALAR:
    _o.linear = _o.records[0][1] in _LINEAR_KINDS or (
        _o.records[0][1] == "powc" and float(_o.c) in (0.0, 1.0))
# integer exponents of a negative base (nonzero samples)
NEG_BASE_EXPONENTS = (2, 3, -1, -2)


# ==================================================================== binary

def _data_maxmin_wide(sa, sb, seed):
    return binary_data_maxmin(sa, sb, seed, gap=0.05)


def _data_atan2(sa, sb, seed):
    """y away from 0 (the branch cut along the negative x axis)."""
    return nonzero(sa, 0.2, 2.0, seed=seed), sample(sb, seed=seed + 1)


MOD_UNIT = 0.7


def _data_mod(sa, sb, seed):
    """Divisors of magnitude MOD_UNIT * (1, 2 or 4) (jittered by 1%) and
    dividends MOD_UNIT * (k + f) with f in [0.15, 0.85]: every quotient,
    under any broadcast, stays at least 0.03 from an integer (the steps of
    fmod and remainder)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-3, 3, size=sa)
    a = MOD_UNIT * (k + rng.uniform(0.15, 0.85, size=sa))
    m = rng.choice([1.0, 2.0, 4.0], size=sb) * rng.uniform(0.99, 1.01, sb)
    b = MOD_UNIT * m * np.where(rng.random(sb) < 0.5, -1.0, 1.0)
    return np.asarray(a, np.float64), np.asarray(b, np.float64)


def _data_xlogy(sa, sb, seed):
    return sample(sa, seed=seed), sample(sb, 0.5, 2.0, seed=seed + 1)


def _xlogy_ref(a, b):
    import scipy.special
    return scipy.special.xlogy(a, b)


BINARY = [
    OpInfo("add", lambda a, b: a + b, np.add, records=[B("add")],
           torch=lambda a, b: a + b, data=binary_data_default, linear=True,
           fuzz=True, special=True),
    OpInfo("sub", lambda a, b: a - b, np.subtract, records=[B("sub")],
           torch=lambda a, b: a - b, data=binary_data_default, linear=True,
           fuzz=True, special=True),
    OpInfo("mul", lambda a, b: a * b, np.multiply, records=[B("mul")],
           torch=lambda a, b: a * b, data=binary_data_default,
           linear=False, fuzz=True, special=True),
    OpInfo("div", lambda a, b: a / b, np.divide, records=[B("div")],
           torch=lambda a, b: a / b, data=binary_data_div, linear=False,
           fuzz=True, special=True),
    OpInfo("pow", lambda a, b: a ** b, np.power, records=[B("pow")],
           torch=lambda a, b: a ** b, data=binary_data_pow, linear=False,
           fuzz=True, special=True),
    OpInfo("maximum", ad.maximum, np.maximum, records=[B("maximum")],
           torch=lambda a, b: T.maximum(a, b), data=binary_data_maxmin,
           data_hi=_data_maxmin_wide, linear=True, fuzz=True, special=True),
    OpInfo("minimum", ad.minimum, np.minimum, records=[B("minimum")],
           torch=lambda a, b: T.minimum(a, b), data=binary_data_maxmin,
           data_hi=_data_maxmin_wide, linear=True, fuzz=True, special=True),
    OpInfo("atan2", ad.atan2, np.arctan2, records=[B("atan2")],
           torch=lambda a, b: T.atan2(a, b), data=_data_atan2, linear=False,
           fuzz=True, special=True),
    OpInfo("hypot", ad.hypot, np.hypot, records=[B("hypot")],
           torch=lambda a, b: T.hypot(a, b), data=binary_data_default,
           linear=False, fuzz=True, special=True),
    OpInfo("fmod", ad.fmod, np.fmod, records=[B("fmod")],
           torch=lambda a, b: T.fmod(a, b), data=_data_mod, linear=True,
           fuzz=True, special=True),
    OpInfo("remainder", lambda a, b: a % b, np.remainder,
           records=[B("remainder")], torch=lambda a, b: a % b,
           data=_data_mod, linear=True, fuzz=True, special=True),
    OpInfo("logaddexp", ad.logaddexp, np.logaddexp, records=[B("logaddexp")],
           torch=lambda a, b: T.logaddexp(a, b), data=binary_data_default,
           linear=False, fuzz=True, special=True),
    OpInfo("xlogy", ad.xlogy, _xlogy_ref, records=[B("xlogy")],
           torch=lambda a, b: T.xlogy(a, b), data=_data_xlogy, linear=False,
           fuzz=True, special=True),
]
# Other spellings of the binary ops: (name, of, fn)
BINARY_ALIASES = [
    ("ad.add", "add", ad.add), ("ad.subtract", "sub", ad.subtract),
    ("ad.multiply", "mul", ad.multiply), ("ad.divide", "div", ad.divide),
    ("ad.power", "pow", ad.power),
    ("Tensor.pow", "pow", lambda a, b: a.pow(b)),
    ("Tensor.maximum", "maximum", lambda a, b: a.maximum(b)),
    ("Tensor.minimum", "minimum", lambda a, b: a.minimum(b)),
    ("ad.arctan2", "atan2", ad.arctan2),
    ("Tensor.atan2", "atan2", lambda a, b: a.atan2(b)),
    ("Tensor.hypot", "hypot", lambda a, b: a.hypot(b)),
    ("Tensor.fmod", "fmod", lambda a, b: a.fmod(b)),
    ("ad.remainder", "remainder", ad.remainder),
    ("Tensor.remainder", "remainder", lambda a, b: a.remainder(b)),
    ("Tensor.logaddexp", "logaddexp", lambda a, b: a.logaddexp(b)),
    ("Tensor.xlogy", "xlogy", lambda a, b: a.xlogy(b)),
]
BINARY_SHAPE_MISMATCHES = [((2, 3), (4,)), ((3,), (4,)),
                           ((2, 3, 4), (3, 5, 4)), ((5, 1), (2, 3))]


def binary(name):
    return next(o for o in BINARY if o.name == name)


def _binary_bad(fn, operator):
    """Shapes that do not broadcast, as tensors and with a numpy operand
    on the right (and on the left, for the operators)."""
    out = []
    for sa, sb in BINARY_SHAPE_MISMATCHES:
        sides = ("tensor", "ndarray right") + (
            ("ndarray left",) if operator else ())
        for side in sides:
            def make(sa=sa, sb=sb, side=side):
                rng = np.random.default_rng(0)
                a = ad.tensor(rng.standard_normal(sa), requires_grad=True)
                if side == "tensor":
                    b = ad.tensor(rng.standard_normal(sb), requires_grad=True)
                    return (lambda: fn(a, b)), [a, b]
                arr = np.ones(sb)
                if side == "ndarray right":
                    return (lambda: fn(a, arr)), [a, arr]
                return (lambda: fn(arr, a)), [a, arr]
            out.append(BadInput("%s %s %s" % (side, sa, sb), make,
                                ValueError, "broadcast",
                                contains=(str(sa), str(sb))
                                if side == "tensor" else ()))
    return out


for _o in BINARY:
    _o.bad = tuple(_binary_bad(_o.op, _o.name in ("add", "sub", "mul", "div",
                                                   "pow", "remainder")))
BINARY_ALIAS_BAD = [("%s: %s" % (a, b.name), b) for a, _, fn in BINARY_ALIASES
                    for b in _binary_bad(fn, False)]


def binary_forms():
    """(name, OpInfo, fn): every binary op under every spelling."""
    out = [(o.name, o, o.op) for o in BINARY]
    out += [(a, binary(of), fn) for a, of, fn in BINARY_ALIASES]
    return out


# ================================================================ reductions

def _kw(**kw):
    return kw


def _torch_prod(t, dim, keepdim):
    """torch.prod over a tuple of dims: one dim at a time, last first."""
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    for d in sorted((d % t.ndim for d in dims), reverse=True):
        t = T.prod(t, d, keepdim=keepdim)
    return t


REDUCTIONS = [
    OpInfo("sum", ad.sum, np.sum, records=[("reduce", "sum")],
           torch=lambda t, dim, keepdim: T.sum(t, dim=dim, keepdim=keepdim),
           meth="sum", kw={}, fuzz=True),
    OpInfo("mean", ad.mean, np.mean, records=[("reduce", "mean")],
           torch=lambda t, dim, keepdim: T.mean(t, dim=dim, keepdim=keepdim),
           meth="mean", kw={}, fuzz=True),
    # amax/amin: numpy's max and min (ad.max(x, dim) is torch's, returning
    # (values, indices): test_int_dtypes.py)
    OpInfo("max", ad.amax, np.max, records=[("reduce", "max")],
           torch=lambda t, dim, keepdim: T.amax(t, dim=dim, keepdim=keepdim),
           meth="amax", kw={}, fuzz=True),
    OpInfo("min", ad.amin, np.min, records=[("reduce", "min")],
           torch=lambda t, dim, keepdim: T.amin(t, dim=dim, keepdim=keepdim),
           meth="amin", kw={}, fuzz=True),
    OpInfo("prod", ad.prod, np.prod, records=[("reduce", "prod")],
           torch=lambda t, dim, keepdim: _torch_prod(t, dim, keepdim),
           meth="prod", kw={}),
    OpInfo("var", ad.var, refs.np_var,
           records=[("reduce", "mean"), B("sub"), B("mul")],
           torch=lambda t, dim, keepdim: T.var(t, dim=dim, keepdim=keepdim,
                                               correction=0),
           meth="var", kw={}, fuzz=True),
    OpInfo("var(ddof=1)", ad.var, refs.np_var,
           records=[("reduce", "mean"), B("sub"), B("mul")],
           torch=lambda t, dim, keepdim: T.var(t, dim=dim, keepdim=keepdim,
                                               correction=1),
           meth="var", kw={"ddof": 1}),
    OpInfo("std", ad.std, refs.np_std, records=[U("sqrt")],
           torch=lambda t, dim, keepdim: T.std(t, dim=dim, keepdim=keepdim,
                                               correction=0),
           meth="std", kw={}, fuzz=True),
    OpInfo("std(ddof=1)", ad.std, refs.np_std, records=[U("sqrt")],
           torch=lambda t, dim, keepdim: T.std(t, dim=dim, keepdim=keepdim,
                                               correction=1),
           meth="std", kw={"ddof": 1}),
]
REDUCTION_AXES = [None, 0, 1, 2, -1, -3, (0, 2), (-1, 0), (1, 2), (0, 1, 2),
                  ()]
# std over no axes is 0 (not differentiable); with ddof=1 var is 0/0.
REDUCTION_CASES = [(o.name, a) for o in REDUCTIONS for a in REDUCTION_AXES
                   if a != () or o.name in ("sum", "mean", "max", "min",
                                            "var")]
REDUCTION_OTHER_SHAPES = [
    ((2, 1, 3), 1), ((2, 1, 3), (0, 1)), ((1, 3, 1), None), ((1, 3, 1), 0),
    ((2, 3, 4, 5), (0, 2)), ((2, 3, 4, 5), (1, 3)), ((2, 3, 4, 5), (0, 3)),
    ((2, 3, 4, 5), (0, 1, 3)), ((2, 3, 4, 5), -2)]
# the axes of the torch oracle (on a (3, 4, 5) input)
REDUCTION_TORCH_AXES = [None, 0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2),
                        (-3, -1)]


def _bad_axes(fn):
    a = lambda: ad.tensor(np.random.default_rng(0).standard_normal((2, 3)),
                          requires_grad=True)
    axis_errors = (ValueError, IndexError)

    def mk(axis):
        def make():
            t = a()
            return (lambda: fn(t, axis=axis)), [t]
        return make
    return [BadInput("axis 2", mk(2), axis_errors, r"axis 2.*dimension 2"),
            BadInput("axis -3", mk(-3), axis_errors, r"axis -3.*dimension 2"),
            BadInput("axis (0, 5)", mk((0, 5)), axis_errors, r"axis 5"),
            BadInput("duplicate", mk((0, -2)), ValueError, r"duplicate"),
            BadInput("axis 1.5", mk(1.5), TypeError, r"axis.*1\.5")]


for _o in REDUCTIONS:
    if "ddof" not in _o.name:
        _o.bad = tuple(_bad_axes(_o.op))
REDUCTION_METHOD_BAD = [
    ("Tensor.sum(dim=)", _bad_axes(lambda x, axis: x.sum(dim=axis))),
    ("Tensor.mean(axis=, keepdims=True)",
     _bad_axes(lambda x, axis: x.mean(axis=axis, keepdims=True)))]


def reduction(name):
    return next(o for o in REDUCTIONS if o.name == name)


# ==================================================================== losses

def _loss_data_mse(shape, seed):
    return sample(shape, seed=seed), sample(shape, seed=seed + 1)


def _loss_data_l1(shape, seed):
    p = sample(shape, seed=seed)
    return p, p + nonzero(shape, 0.1, 1.0, seed + 1)


def _loss_data_bce(shape, seed):
    return sample(shape, 0.05, 0.95, seed), sample(shape, 0.0, 1.0, seed + 1)


def _loss_data_logits(shape, seed):
    return sample(shape, -4, 4, seed), sample(shape, 0.0, 1.0, seed + 1)


# wider samples for the torch oracle: (rng, shape) -> (input, target)
def _torch_data_normal(rng, shape):
    return rng.standard_normal(shape), rng.standard_normal(shape)


def _torch_data_unit(rng, shape):
    return rng.uniform(0.02, 0.98, shape), rng.uniform(0.0, 1.0, shape)


def _torch_data_logits(rng, shape):
    return rng.standard_normal(shape) * 4, rng.uniform(0.0, 1.0, shape)


LOSS_REDUCTIONS = ["mean", "sum", "none"]
LOSS_SHAPE_MISMATCHES = [((3,), (3, 1)), ((3, 1), (3,)), ((2, 3), (3,)),
                         ((4,), (1,)), ((2, 2), (4,))]


def _loss_bad(fn):
    def mismatch(sp, st, arr):
        def make():
            p = ad.tensor(np.full(sp, 0.5), requires_grad=True)
            t = np.full(st, 0.25) if arr else ad.tensor(np.full(st, 0.25))
            return (lambda: fn(p, t)), [p, t]
        return make
    out = []
    for sp, st in LOSS_SHAPE_MISMATCHES:
        for arr in (False, True):
            out.append(BadInput("shapes %s %s%s" % (sp, st,
                                                    " ndarray" if arr else ""),
                                mismatch(sp, st, arr), ValueError,
                                "same shape",
                                contains=() if arr else (str(sp), str(st))))

    def bad_reduction():
        a = ad.tensor(np.ones(3), requires_grad=True)
        return (lambda: fn(a, a, reduction="average")), [a]
    out.append(BadInput("reduction='average'", bad_reduction, ValueError,
                        r"'average'"))
    return out


def _bce_bad():
    out = []
    for bad, idx in ((1.5, 1), (-0.25, 2), (np.inf, 0), (-1e-9, 0)):
        def make(bad=bad, idx=idx):
            t = ad.tensor(np.array([0.0, 1.0, 1.0]))
            arr = np.array([0.5, 0.5, 0.5])
            arr[idx] = bad
            p = ad.tensor(arr, requires_grad=True)
            return (lambda: ad.binary_cross_entropy(p, t)), [p, t, arr]
        out.append(BadInput("input %g at %d" % (bad, idx), make, ValueError,
                            r"between 0 and 1",
                            contains=("%g" % bad, "index %d" % idx)))

    def f32():
        p = ad.tensor(np.array([2.0, 0.5], dtype=np.float32))
        return (lambda: ad.binary_cross_entropy(p, [0.0, 1.0])), [p]
    out.append(BadInput("float32 input 2", f32, ValueError, r"\b2\b"))
    return out


LOSSES = [
    OpInfo("mse_loss", ad.mse_loss, refs.np_mse, records=[("loss", "mse")],
           torch=lambda a, b, reduction="mean": TF.mse_loss(
               a, b, reduction=reduction),
           data=_loss_data_mse, torch_data=_torch_data_normal, fuzz=True,
           bad=_loss_bad(ad.mse_loss)),
    OpInfo("l1_loss", ad.l1_loss, refs.np_l1, records=[("loss", "l1")],
           torch=lambda a, b, reduction="mean": TF.l1_loss(
               a, b, reduction=reduction),
           data=_loss_data_l1, torch_data=_torch_data_normal, linear=True,
           fuzz=True,
           bad=_loss_bad(ad.l1_loss)),
    OpInfo("binary_cross_entropy", ad.binary_cross_entropy, refs.np_bce,
           records=[("loss", "bce")],
           torch=lambda a, b, reduction="mean": TF.binary_cross_entropy(
               a, b, reduction=reduction),
           data=_loss_data_bce, torch_data=_torch_data_unit, fuzz=True,
           bad=_loss_bad(ad.binary_cross_entropy) + _bce_bad()),
    OpInfo("binary_cross_entropy_with_logits",
           ad.binary_cross_entropy_with_logits, refs.np_bce_logits,
           records=[("loss", "bce_logits")],
           torch=lambda a, b, reduction="mean":
           TF.binary_cross_entropy_with_logits(a, b, reduction=reduction),
           data=_loss_data_logits, torch_data=_torch_data_logits,
           fuzz=True,
           bad=_loss_bad(ad.binary_cross_entropy_with_logits)),
    # delta / beta 0.8: both branches taken by the normal samples
    OpInfo("huber_loss",
           lambda a, b, reduction="mean": NF.huber_loss(
               a, b, reduction=reduction, delta=0.8),
           lambda p, t: refs.np_huber(p, t, 0.8),
           records=[("loss", "huber")],
           torch=lambda a, b, reduction="mean": TF.huber_loss(
               a, b, reduction=reduction, delta=0.8),
           data=_loss_data_mse, torch_data=_torch_data_normal, fuzz=True,
           bad=_loss_bad(NF.huber_loss)),
    OpInfo("smooth_l1_loss",
           lambda a, b, reduction="mean": NF.smooth_l1_loss(
               a, b, reduction=reduction, beta=0.8),
           lambda p, t: refs.np_smooth_l1(p, t, 0.8),
           records=[("loss", "smooth_l1")],
           torch=lambda a, b, reduction="mean": TF.smooth_l1_loss(
               a, b, reduction=reduction, beta=0.8),
           data=_loss_data_mse, torch_data=_torch_data_normal, fuzz=True,
           bad=_loss_bad(NF.smooth_l1_loss)),
]


def loss(name):
    return next(o for o in LOSSES if o.name == name)


# class losses: cross_entropy (softmax + nll) and nll_loss

CLASS_N, CLASS_C = 5, 4
CLASS_LOGITS = sample((CLASS_N, CLASS_C), -3, 3, seed=12)
CLASS_LABELS = np.array([0, 3, 1, 1, 2])
CLASS_LABELS_IGNORED = np.array([0, -100, 3, 1, -100])
IGNORE_INDICES = [-100, 1, 3]
LABEL_FORMS = ["int64", "int32", "tensor", "list"]


def label_form(labels, form):
    return {"int64": lambda: labels.astype(np.int64),
            "int32": lambda: labels.astype(np.int32),
            "tensor": lambda: ad.tensor(labels.astype(np.float64)),
            "list": lambda: labels.tolist()}[form]()


def _class_bad(fn, is_nll):
    x = lambda: ad.tensor(np.random.default_rng(0).standard_normal((4, 3)),
                          requires_grad=True)

    def mk(lab, tensor=False, **kw):
        def make():
            t = x()
            lv = ad.tensor(lab) if tensor else lab
            ins = [t] + ([lab] if isinstance(lab, np.ndarray) else [])
            return (lambda: fn(t, lv, **kw)), ins
        return make

    def mk3():
        t = ad.tensor(np.zeros((2, 3, 4)), requires_grad=True)
        return (lambda: fn(t, [0, 1])), [t]
    out = [
        BadInput("label 3 of 3 classes", mk(np.array([0, 1, 3, 2])),
                 IndexError, r"\b3\b.*3 classes", contains=("sample 2",)),
        BadInput("label -1", mk(np.array([0, -1, 1, 2])), IndexError,
                 r"-1.*3 classes"),
        BadInput("label 99 (tensor)", mk(np.array([0, 1, 2, 99]), True),
                 IndexError, r"99"),
        BadInput("2 labels for 4", mk(np.array([0, 1])), ValueError,
                 r"\(4\).*\(2\)"),
        BadInput("5 labels for 4 (list)", mk([0, 1, 2, 0, 1]), ValueError,
                 r"\(4\).*\(5\)"),
        BadInput("float labels", mk(np.array([0.0, 1.5, 2.0, 0.0])),
                 ValueError, r"integer"),
        BadInput("str labels", mk(np.array(["a", "b", "c", "d"])), TypeError,
                 r"integer|dtype"),
        BadInput("reduction='avg'", mk([0, 1, 2, 0], reduction="avg"),
                 ValueError, r"reduction.*'avg'"),
        BadInput("3-D input", mk3, ValueError, r"\(2, 3, 4\)"),
    ]
    if is_nll:
        out.append(BadInput("2-D labels",
                            mk(np.zeros((4, 2), dtype=np.int64)),
                            ValueError, r"shape \(4,\), got \(4, 2\)"))
    else:
        def probs():
            t = x()
            p = np.full((4, 2), 0.5)
            return (lambda: fn(t, p)), [t, p]
        out.append(BadInput("probabilities (4, 2) for (4, 3)", probs,
                            ValueError, r"\(4, 2\).*\(4, 3\)"))
    return out


CLASS_LOSSES = [
    OpInfo("cross_entropy", ad.cross_entropy, refs.np_cross_entropy,
           records=[("nll", None)],
           torch=lambda x, lab, **kw: TF.cross_entropy(x, lab, **kw),
           fuzz=True, bad=_class_bad(ad.cross_entropy, False)),
    OpInfo("nll_loss", ad.nll_loss, refs.np_nll, records=[("nll", None)],
           torch=lambda x, lab, **kw: TF.nll_loss(x, lab, **kw),
           fuzz=True, bad=_class_bad(ad.nll_loss, True)),
]


def class_loss(name):
    return next(o for o in CLASS_LOSSES if o.name == name)


# ================================================================== softmax

def _softmax_bad(fn):
    def mk(**kw):
        def make():
            t = ad.tensor(np.zeros((2, 3)), requires_grad=True)
            return (lambda: fn(t, **kw)), [t]
        return make
    errs = (ValueError, IndexError)
    return [BadInput("axis 2", mk(axis=2), errs, r"axis 2.*dimension 2"),
            BadInput("axis -3", mk(axis=-3), errs, r"axis -3.*dimension 2")]


SOFTMAX = [
    OpInfo("softmax", ad.softmax, refs.np_softmax, records=[("softmax", None)],
           torch=lambda t, dim: T.softmax(t, dim), meth="softmax",
           domain=(-3, 3), fuzz=True, bad=_softmax_bad(ad.softmax)),
    OpInfo("log_softmax", ad.log_softmax, refs.np_log_softmax,
           records=[("softmax", None)],
           torch=lambda t, dim: T.log_softmax(t, dim), meth="log_softmax",
           domain=(-3, 3), fuzz=True, bad=_softmax_bad(ad.log_softmax)),
]
SOFTMAX_AXES = [0, 1, 2, -1, -2, -3]


# ===================================================================== scans

SCANS = [
    OpInfo("cumsum", ad.cumsum, lambda a, dim: np.cumsum(a, axis=dim),
           records=[("cumsum", None)],
           torch=lambda t, dim: T.cumsum(t, dim), meth="cumsum"),
    OpInfo("cumprod", ad.cumprod, lambda a, dim: np.cumprod(a, axis=dim),
           records=[("cumprod", None)],
           torch=lambda t, dim: T.cumprod(t, dim), meth="cumprod"),
]
SCAN_AXES = [0, 1, 2, -1, -2, -3]


# ====================================================== matmul and linear

MATMUL_FORMS = {"@": lambda a, b: a @ b, "ad.matmul": ad.matmul,
                "method": lambda a, b: a.matmul(b), "ad.dot": ad.dot}
MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((1, 4), (4, 1)), ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (1, 4, 5)),
    ((1, 3, 4), (2, 4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
    ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (1, 5, 4, 2)),
    ((2, 2, 3, 4), (2, 2, 4, 2)), ((2, 2, 3, 4), (4, 2)),
    ((3, 4), (2, 2, 4, 2)), ((2, 1, 3, 4), (3, 4, 2)),
]
MATMUL_TORCH_SHAPES = [
    ((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
    ((4,), (4,)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (5, 4, 2)),
    ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((3, 0), (0, 2)),
    ((0, 3), (3, 2))]
MATMUL_MISMATCHES = [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)),
                     ((4,), (3, 2)), ((2, 3, 4), (2, 5, 6)),
                     ((2, 3, 4), (3, 4, 5)), ((2, 3), ())]


def _matmul_bad():
    out = []
    for sa, sb in MATMUL_MISMATCHES:
        for form, fn, arr in (("@", lambda a, b: a @ b, False),
                              ("ad.matmul", ad.matmul, False),
                              ("@ ndarray", lambda a, b: a @ b, True)):
            def make(sa=sa, sb=sb, fn=fn, arr=arr):
                rng = np.random.default_rng(0)
                a = ad.tensor(rng.standard_normal(sa), requires_grad=True)
                b = np.ones(sb) if arr else ad.tensor(
                    rng.standard_normal(sb), requires_grad=True)
                return (lambda: fn(a, b)), [a, b]
            out.append(BadInput("%s %s %s" % (form, sa, sb), make, ValueError,
                                "matmul", contains=() if form != "@" else
                                (str(sa), str(sb))))
    return out


MATMUL = OpInfo("matmul", ad.matmul, np.matmul, records=[("matmul", None)],
                torch=lambda a, b: T.matmul(a, b), samples=MATMUL_SHAPES,
                fuzz=True, bad=_matmul_bad())
LINEAR = OpInfo("linear", ad.linear, refs.np_linear,
                records=[("linear", None)],
                torch=lambda x, w, b=None: TF.linear(x, w, b),
                samples=[((3, 4), (2, 4), (2,)), ((3, 4), (2, 4), None),
                         ((2, 3, 4), (2, 4), (2,)), ((4,), (3, 4), (3,))],
                fuzz=True)
# nn.Sequential's Linear then ReLU in one record (tests/test_linear_relu.py:
# the two ops' bits, central differences, torch, gradgradcheck, replay)
LINEAR_RELU = OpInfo("linear_relu", E._linear_relu,
                     lambda x, w, b=None: np.maximum(refs.np_linear(x, w, b),
                                                     0),
                     records=[("linear_relu", None)],
                     torch=lambda x, w, b=None: T.relu(TF.linear(x, w, b)),
                     samples=LINEAR.samples)

# ================================================================ where

WHERE_SHAPES = [
    ((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), ()), ((4,), (3, 1), (3, 4)),
    ((), (3, 4), (4,)), ((3, 4), (4,), (3, 1)), ((1, 4), (3, 4), (1,)),
    ((2, 1, 1), (3, 1), (4,)),
]
WHERE_COND_FORMS = ["bool", "tensor", "list", "int"]


def where_cond(mask, form):
    return {"bool": lambda: mask,
            "tensor": lambda: ad.tensor(mask.astype(np.float64)),
            "list": lambda: mask.tolist(),
            "int": lambda: mask.astype(np.int64)}[form]()


WHERE = OpInfo("where", ad.where, np.where, records=[("where", None)],
               torch=lambda c, a, b: T.where(c, a, b), samples=WHERE_SHAPES,
               fuzz=True, bad=_binary_bad(
                   lambda a, b: ad.where(np.ones(a.shape, bool), a, b),
                   False))

# ================================================================== casts

CASTS = {
    "astype(float64)": (lambda t: t.astype(np.float64), np.float64),
    "astype(float32)": (lambda t: t.astype(np.float32), np.float32),
    "astype('float64')": (lambda t: t.astype("float64"), np.float64),
    "astype(ad.float32)": (lambda t: t.astype(ad.float32), np.float32),
    "float()": (lambda t: t.float(), np.float32),
    "double()": (lambda t: t.double(), np.float64),
    "to(float64)": (lambda t: t.to(ad.float64), np.float64),
}
CAST = OpInfo("cast", lambda t: t.astype(ad.float32), None,
              records=[("cast", None)], samples=list(CASTS))

# ============================================================ shape ops

RESHAPE_SHAPES = [(6, 4), (4, -1), (-1,), (2, -1, 2), (24,), (1, 24, 1),
                  (-1, 1), (3, 2, 4), (2, 3, 4)]
RESHAPE_FORMS = {"function": lambda t, s: ad.reshape(t, s),
                 "method": lambda t, s: t.reshape(s),
                 "method *args": lambda t, s: t.reshape(*s),
                 "view": lambda t, s: t.view(*s)}
TRANSPOSES = {
    "ad.transpose": (ad.transpose, lambda a: a.transpose()),
    "ad.transpose(axes)": (lambda t: ad.transpose(t, (1, 0, 2)),
                           lambda a: a.transpose(1, 0, 2)),
    ".T": (lambda t: t.T, lambda a: a.T),
    ".transpose()": (lambda t: t.transpose(), lambda a: a.transpose()),
    ".transpose(0, 2)": (lambda t: t.transpose(0, 2),
                         lambda a: np.swapaxes(a, 0, 2)),
    ".transpose(-1, 1)": (lambda t: t.transpose(-1, 1),
                          lambda a: np.swapaxes(a, -1, 1)),
    ".transpose((2, 0, 1))": (lambda t: t.transpose((2, 0, 1)),
                              lambda a: a.transpose(2, 0, 1)),
    "ad.permute": (lambda t: ad.permute(t, (2, 0, 1)),
                   lambda a: a.transpose(2, 0, 1)),
    ".permute": (lambda t: t.permute(1, 2, 0),
                 lambda a: a.transpose(1, 2, 0)),
    ".permute(-1, 0, 1)": (lambda t: t.permute(-1, 0, 1),
                           lambda a: a.transpose(2, 0, 1)),
    ".permute(identity)": (lambda t: t.permute((0, 1, 2)), lambda a: a),
    "ad.swapaxes": (lambda t: ad.swapaxes(t, 0, -1),
                    lambda a: np.swapaxes(a, 0, -1)),
    "ad.swapaxes(1, 2)": (lambda t: ad.swapaxes(t, 1, 2),
                          lambda a: np.swapaxes(a, 1, 2)),
}
EXPAND_AXES = [0, 1, 2, 3, -1, -2, -4]
EXPAND_FORMS = {"expand_dims": lambda t, a: ad.expand_dims(t, a),
                "unsqueeze": lambda t, a: ad.unsqueeze(t, a),
                "method": lambda t, a: t.unsqueeze(a)}
SQUEEZE_CASES = [(f, a) for f in ("function", "method", "dim=")
                 for a in (None, 0, 2, -2, -4, (0, 2), (0, -2))
                 if not (f == "dim=" and a is None)]
SQUEEZE_FORMS = {"function": lambda t, a: ad.squeeze(t, a),
                 "method": lambda t, a: t.squeeze(a),
                 "dim=": lambda t, a: t.squeeze(dim=a)}
BROADCASTS = [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((), (2, 3)),
              ((1, 4), (3, 4)), ((3, 4), (3, 4)), ((2, 1, 4), (2, 3, 4))]
CONCATS = [
    ([(2, 3), (4, 3), (1, 3)], 0), ([(2, 1), (2, 3)], 1),
    ([(2, 1), (2, 3), (2, 2)], -1), ([(2, 3, 4), (2, 1, 4)], 1),
    ([(2, 3, 4), (1, 3, 4)], -3), ([(2, 3, 2), (2, 3, 1), (2, 3, 4)], 2),
    ([(5,), (2,)], 0), ([(3, 4)], 0),
]
CONCAT_FORMS = {"concatenate": lambda ts, ax: ad.concatenate(ts, ax),
                "cat": lambda ts, ax: ad.cat(list(ts), axis=ax),
                "dim=": lambda ts, ax: ad.cat(ts, dim=ax)}
STACK_AXES = [0, 1, 2, -1, -3]

SHAPE = [
    OpInfo("reshape", ad.reshape, np.reshape, records=[("reshape", None)],
           samples=RESHAPE_SHAPES, fuzz=True),
    OpInfo("permute", ad.permute, np.transpose, records=[("permute", None)],
           samples=list(TRANSPOSES), fuzz=True),
    OpInfo("expand_dims", ad.expand_dims, np.expand_dims,
           records=[("reshape", None)], samples=EXPAND_AXES, fuzz=True),
    OpInfo("squeeze", ad.squeeze, np.squeeze, records=[("reshape", None)],
           samples=SQUEEZE_CASES, fuzz=True),
    OpInfo("broadcast_to", ad.broadcast_to, np.broadcast_to,
           records=[("broadcast", None)], samples=BROADCASTS, fuzz=True),
    OpInfo("concatenate", ad.concatenate, np.concatenate,
           records=[("concat", None)], samples=CONCATS, fuzz=True),
    OpInfo("stack", ad.stack, np.stack, records=[("concat", None)],
           samples=STACK_AXES, fuzz=True),
]

# ================================================================ indexing

X345 = distinct((3, 4, 5), seed=2)
INDEX_KEYS = [
    1, -1, (0, 2), (-1, -2, -3), (2, 3, 4),
    slice(None), slice(1, None), slice(None, None, 2), slice(None, None, -1),
    (slice(None), slice(1, 4, 2)),
    (slice(None, None, -2), slice(None), slice(4, 0, -3)),
    (slice(-2, None), -1, slice(None, -1)),
    None, (None, 1), (Ellipsis, 2), (1, Ellipsis), Ellipsis,
    (Ellipsis, None, slice(1, 3)), (0, None, Ellipsis, -1),
    np.array([0, 2, 2, 1]), [2, 0, 0], np.array([-1, 0, -1]),
    (np.array([0, 1, 1]), np.array([3, 3, 0])),
    (slice(None), np.array([1, 1, 3])),
    (Ellipsis, np.array([4, 4, 0, 4])),
    np.array([[0, 1], [2, 2]]),
    (np.array([1, 1, 1]), Ellipsis),
    (np.array([0, 2]), slice(None), np.array([1, 1])),
    X345 > 0,
    np.array([True, False, True]),
    (slice(None), np.array([True, False, True, True])),
    [True, True, False],
    (1, X345[1] < 0),
]
# gather records the getitem; its rule records a scatter, whose own rule
# is a gather again (checked at second and third order)
GETITEM = OpInfo("getitem", lambda t, k: t[k], lambda a, k: a[k],
                 records=[("gather", None), ("scatter", None)],
                 samples=INDEX_KEYS, fuzz=True)

# ====================================================== shape and index ops
#
# autodiff/_shape_ops.py: torch's shape and indexing ops, composed of the
# engine's gather/scatter/where/reshape/permute/broadcast.  A row's samples
# are ShapeCases: the shapes of its differentiable inputs and the other
# arguments (numpy index/mask arrays become torch tensors for the torch
# call).  tests/test_shape_ops.py checks every sample's values and
# gradients against torch, gradcheck and gradgradcheck; ops returning a
# tuple are compared piece by piece.

class ShapeCase:
    def __init__(self, shapes, *args, **kw):
        self.shapes, self.args, self.kw = tuple(shapes), args, kw

    def __repr__(self):
        parts = ["x".join(map(str, s)) or "0d" for s in self.shapes]
        parts += [_short(a) for a in self.args]
        parts += ["%s=%s" % (k, _short(v)) for k, v in self.kw.items()]
        return ",".join(parts)

    def arrays(self, seed=0):
        return [distinct(s, seed=seed + i) for i, s in
                enumerate(self.shapes)]

    def torch_args(self):
        conv = (lambda a: T.as_tensor(a) if isinstance(a, np.ndarray)
                else a)
        return ([conv(a) for a in self.args],
                {k: conv(v) for k, v in self.kw.items()})


def _short(a):
    if isinstance(a, np.ndarray):
        return "%s%s" % (a.dtype.kind, list(a.shape))
    return repr(a).replace(" ", "")


_C = ShapeCase
_I = lambda *v: np.array(v, dtype=np.int64)          # noqa: E731
_GATHER_IDX = np.array([[[0, 3, 1, 0, 3]] * 2] * 3)          # (3, 2, 5)
_SCATTER_IDX = np.array([[[0, 3, 1, 4]] * 2] * 2)            # (2, 2, 4)
_SCATTER_IDX0 = np.array([[[2, 0, 1, 2, 0]] * 3])            # (1, 3, 5)
_MASK = distinct((4, 5), seed=7) > 0
_MASK_B = distinct((3, 1, 5), seed=8) > 0


def _so_bad(name, fn, shape, exc, match, contains=()):
    """A BadInput calling fn on a float64 tensor of shape."""
    def make():
        t = ad.tensor(distinct(shape), requires_grad=True)
        return (lambda: fn(t)), [t]
    return BadInput(name, make, exc, match, contains)


_RT = RuntimeError          # what torch raises (ShapeOpError is one too)
_GR = ("gather", None)

SHAPE_OPS = [
    OpInfo("expand", lambda t, *s: t.expand(*s),
           torch=lambda t, *s: t.expand(*s), records=[("broadcast", None)],
           samples=[_C([(3, 1)], 2, 3, 4), _C([(3, 1)], -1, 5),
                    _C([(4,)], (2, 3, 4)), _C([()], 3, 2),
                    _C([(1, 4)], 2, -1, -1)],
           bad=[_so_bad("expand 3 to 4", lambda t: t.expand(2, 4), (2, 3),
                        _RT, r"expanded size.*\(4\).*existing size \(3\)"),
                _so_bad("expand fewer", lambda t: t.expand(3), (2, 3), _RT,
                        r"number of sizes provided \(1\)"),
                _so_bad("expand -1 new", lambda t: t.expand(-1, 2, 3),
                        (2, 3), _RT, r"leading, non-existing dimension 0")]),
    OpInfo("expand_as", lambda t, s: t.expand_as(ad.zeros(s)),
           torch=lambda t, s: t.expand_as(T.zeros(s)),
           records=[("broadcast", None)],
           samples=[_C([(3, 1)], (2, 3, 4)), _C([(4,)], (3, 4))]),
    OpInfo("split", ad.split, torch=lambda t, *a, **k: T.split(t, *a, **k),
           records=[_GR], method="split",
           samples=[_C([(5, 4)], 2), _C([(5, 4)], 2, 1), _C([(5, 4)], 5),
                    _C([(5, 4)], [1, 0, 4]), _C([(3, 4, 5)], [2, 3], -1),
                    _C([(3, 4, 5)], 3, dim=2), _C([(3, 4, 5)], 10, 2)],
           bad=[_so_bad("split sections", lambda t: ad.split(t, [1, 1], 1),
                        (2, 3), _RT, r"sum exactly to 3.*\[1, 1\]"),
                _so_bad("split 0", lambda t: ad.split(t, 0), (2, 3), _RT,
                        r"split_size can only be 0"),
                _so_bad("split dim", lambda t: ad.split(t, 1, 2), (2, 3),
                        IndexError, r"Dimension out of range.*got 2")]),
    OpInfo("chunk", ad.chunk, torch=lambda t, *a, **k: T.chunk(t, *a, **k),
           records=[_GR], method="chunk",
           samples=[_C([(5, 4)], 2), _C([(5, 4)], 3, 1), _C([(6, 2)], 3),
                    _C([(6, 2)], 4), _C([(3, 4, 5)], 7, -1)],
           bad=[_so_bad("chunk 0", lambda t: ad.chunk(t, 0), (2, 3), _RT,
                        r"greater than 0, got: 0")]),
    OpInfo("unbind", ad.unbind, torch=lambda t, *a, **k: T.unbind(t, *a,
                                                                  **k),
           records=[_GR], method="unbind",
           samples=[_C([(3, 4)]), _C([(3, 4)], 1), _C([(2, 3, 4)], -1),
                    _C([(5,)])]),
    OpInfo("unflatten", ad.unflatten, torch=T.unflatten,
           records=[("reshape", None)], method="unflatten",
           samples=[_C([(3, 8)], 1, (2, 4)), _C([(3, 8)], -1, (2, -1, 2)),
                    _C([(6, 5)], 0, (6,)), _C([(6, 5)], 0, (1, 6, 1))],
           bad=[_so_bad("unflatten sizes", lambda t: ad.unflatten(
                    t, 1, (2, 2)), (2, 3), _RT,
                    r"\[2, 2\] don't multiply up to the size of dim 1 \(3\)"),
                _so_bad("unflatten two -1", lambda t: ad.unflatten(
                    t, 1, (-1, -1)), (2, 3), _RT, r"only one dimension")]),
    OpInfo("repeat", lambda t, *s: t.repeat(*s),
           torch=lambda t, *s: t.repeat(*s), records=[_GR],
           samples=[_C([(2, 3)], 2, 1), _C([(2, 3)], 1, 2, 3),
                    _C([(3,)], (2, 2)), _C([()], 3), _C([(2, 3)], 0, 2)],
           bad=[_so_bad("repeat fewer", lambda t: t.repeat(2), (2, 3), _RT,
                        r"can not be smaller than number of dimensions")]),
    OpInfo("tile", ad.tile, torch=T.tile, records=[_GR], method="tile",
           samples=[_C([(2, 3)], (2,)), _C([(2, 3)], (2, 1, 2)),
                    _C([(2, 3)], (3, 2))]),
    OpInfo("repeat_interleave", ad.repeat_interleave,
           torch=T.repeat_interleave, records=[_GR],
           method="repeat_interleave",
           samples=[_C([(2, 3)], 2), _C([(2, 3)], 2, 1),
                    _C([(2, 3)], _I(1, 0, 3), 1), _C([(2, 3)], _I(2), 0),
                    _C([(3, 2)], _I(2, 1, 1), dim=0)],
           bad=[_so_bad("repeats length", lambda t: ad.repeat_interleave(
                    t, _I(1, 2, 3), 0), (2, 3), _RT,
                    r"repeats.size\(0\) = 3 and input.size\(0\) = 2"),
                _so_bad("repeats negative", lambda t: ad.repeat_interleave(
                    t, -1), (2, 3), _RT, r"non-negative")]),
    OpInfo("flip", ad.flip, torch=T.flip, records=[_GR], method="flip",
           samples=[_C([(3, 4)], (0,)), _C([(3, 4)], (0, 1)),
                    _C([(2, 3, 4)], (-1, 0)), _C([(2, 3, 4)], [1])],
           bad=[_so_bad("flip repeated", lambda t: ad.flip(t, (0, 0)),
                        (2, 3), _RT, r"dim 0 appears multiple times"),
                _so_bad("flip dim 3", lambda t: ad.flip(t, (3,)), (2, 3),
                        IndexError, r"range of \[-2, 1\], but got 3")]),
    OpInfo("roll", ad.roll, torch=T.roll, records=[_GR], method="roll",
           samples=[_C([(3, 4)], 1), _C([(3, 4)], -5), _C([(3, 4)], 2, 1),
                    _C([(2, 3, 4)], (1, -2), (0, 2)),
                    _C([(2, 3, 4)], (7,), (-1,))],
           bad=[_so_bad("roll align", lambda t: ad.roll(t, 1, (0, 1)),
                        (2, 3), _RT, r"shifts and dimensions must align")]),
    OpInfo("tril", ad.tril, torch=T.tril, records=[("where", None)],
           method="tril",
           samples=[_C([(4, 4)]), _C([(3, 5)], 1), _C([(2, 4, 3)], -1),
                    _C([(3, 4)], 9)],
           bad=[_so_bad("tril 1-D", ad.tril, (3,), _RT,
                        r"at least 2 dimensions")]),
    OpInfo("triu", ad.triu, torch=T.triu, records=[("where", None)],
           method="triu",
           samples=[_C([(4, 4)]), _C([(3, 5)], 2), _C([(2, 4, 3)], -2)]),
    OpInfo("diag", ad.diag, torch=T.diag, records=[("scatter", None)],
           method="diag",
           samples=[_C([(3,)]), _C([(3,)], 2), _C([(3,)], -1),
                    _C([(3, 4)]), _C([(3, 4)], 1), _C([(3, 4)], -2),
                    _C([(3, 4)], 7)],
           bad=[_so_bad("diag 3-D", ad.diag, (2, 2, 2), _RT,
                        r"Supports 1D or 2D tensors. Got 3D")]),
    OpInfo("diagonal", ad.diagonal, torch=T.diagonal, records=[_GR],
           method="diagonal",
           samples=[_C([(3, 4)]), _C([(3, 4)], 1), _C([(3, 4)], -2),
                    _C([(2, 3, 4)], 0, 1, 2), _C([(2, 3, 4)], 1, -1, 0),
                    _C([(2, 3, 4)], offset=-1, dim1=2, dim2=1)],
           bad=[_so_bad("diagonal same dims", lambda t: ad.diagonal(
                    t, 0, 1, 1), (2, 3), _RT, r"cannot be identical 1, 1")]),
    OpInfo("narrow", ad.narrow, torch=T.narrow, records=[_GR],
           method="narrow",
           samples=[_C([(5, 4)], 0, 1, 3), _C([(5, 4)], 1, -3, 2),
                    _C([(5, 4)], -1, 4, 0), _C([(2, 3, 4)], 2, 0, 4)],
           bad=[_so_bad("narrow too long", lambda t: ad.narrow(t, 1, 2, 2),
                        (2, 3), _RT, r"start \(2\) \+ length \(2\) exceeds"),
                _so_bad("narrow start", lambda t: ad.narrow(t, 1, 4, 0),
                        (2, 3), IndexError, r"start out of range"),
                _so_bad("narrow length", lambda t: ad.narrow(t, 1, 0, -1),
                        (2, 3), _RT, r"length must be non-negative")]),
    OpInfo("movedim", ad.movedim, torch=T.movedim, records=[("permute",
                                                             None)],
           method="movedim",
           samples=[_C([(2, 3, 4)], 0, 2), _C([(2, 3, 4)], -1, 0),
                    _C([(2, 3, 4)], (0, 1), (2, 0)),
                    _C([(2, 3, 4, 1)], [3, 0], [0, 3])],
           bad=[_so_bad("movedim lengths", lambda t: ad.movedim(
                    t, (0, 1), (0,)), (2, 3), _RT,
                    r"same number of dims as destination"),
                _so_bad("movedim repeated", lambda t: ad.movedim(
                    t, (0, 0), (0, 1)), (2, 3), _RT, r"repeated dim")]),
    OpInfo("moveaxis", ad.moveaxis, torch=T.moveaxis,
           records=[("permute", None)], method="moveaxis",
           samples=[_C([(2, 3, 4)], 1, -1)]),
    OpInfo("index_select", ad.index_select, torch=T.index_select,
           records=[_GR], method="index_select",
           samples=[_C([(4, 3)], 0, _I(3, 0, 3)), _C([(4, 3)], 1, _I(2)),
                    _C([(2, 3, 4)], -1, _I(3, 0, 1, 1)),
                    _C([(2, 3, 4)], 1, _I())],
           bad=[_so_bad("index_select bounds", lambda t: ad.index_select(
                    t, 1, _I(3)), (2, 3), IndexError,
                    r"index 3 is out of bounds for dimension 1 with size 3"),
                _so_bad("index_select 2-D index", lambda t: ad.index_select(
                    t, 1, np.zeros((1, 1), np.int64)), (2, 3), IndexError,
                    r"supposed to be a vector"),
                _so_bad("index_select float index", lambda t: ad.index_select(
                    t, 1, np.array([0.5])), (2, 3), TypeError,
                    r"integers")]),
    OpInfo("gather", ad.gather, torch=T.gather, records=[_GR],
           method="gather",
           samples=[_C([(3, 4, 5)], 1, _GATHER_IDX),
                    _C([(3, 4, 5)], 1, np.zeros((1, 0, 2), np.int64)),
                    _C([(4, 5)], 0, _I([3, 0], [2, 2])),
                    _C([(4, 5)], -1, _I([4, 0, 4, 4, 1, 2, 3]))],
           bad=[_so_bad("gather bounds", lambda t: ad.gather(t, 1, _I([3])),
                        (2, 3), IndexError,
                        r"index 3 is out of bounds for dimension 1"),
                _so_bad("gather ndim", lambda t: ad.gather(t, 1, _I(0)),
                        (2, 3), _RT, r"same number of dimensions"),
                _so_bad("gather size", lambda t: ad.gather(
                    t, 1, np.zeros((3, 1), np.int64)), (2, 3), _RT,
                    r"Size does not match at dimension 0")]),
    # an int64 tensor index: the engine's take/put_add ops, which read it
    # at run time (a compiled replay follows new indices)
    OpInfo("gather(int64 tensor)",
           lambda t, d, i: ad.gather(t, d, ad.tensor(i)), torch=T.gather,
           records=[("take", None)],
           method=lambda t, d, i: t.gather(d, ad.tensor(i)),
           samples=[_C([(3, 4, 5)], 1, _GATHER_IDX),
                    _C([(4, 5)], 0, _I([3, 0], [2, 2])),
                    _C([(4, 5)], -1, _I([4, 0, 4, 4, 1, 2, 3]))]),
    OpInfo("take_along_dim(int64 tensor)",
           lambda t, i, d: ad.take_along_dim(t, ad.tensor(i), d),
           torch=T.take_along_dim,
           records=[("take", None)],
           samples=[_C([(3, 4, 5)], _GATHER_IDX[:, :1], 1),
                    _C([(3, 1)], np.array([[0, 0, 0, 0]]), 0)]),
    OpInfo("scatter_add(int64 tensor)",
           lambda x, s, d, i: ad.scatter_add(x, d, ad.tensor(i), s),
           torch=lambda x, s, d, i: T.scatter_add(x, d, i, s),
           records=[("put_add", None)],
           samples=[_C([(3, 4, 5), (2, 2, 4)], 2, _SCATTER_IDX),
                    _C([(3, 4), (2, 4)], 0,
                       _I([0, 0, 2, 0], [0, 2, 2, 0]))]),
    OpInfo("take_along_dim", ad.take_along_dim, torch=T.take_along_dim,
           records=[_GR], method="take_along_dim",
           samples=[_C([(3, 4, 5)], _GATHER_IDX[:, :1], 1),
                    _C([(3, 4, 5)], np.array([[[1], [2]]]), 1),
                    _C([(3, 4)], np.array([[1, 11], [2, 5]])),
                    _C([(3, 1)], np.array([[0, 0, 0, 0]]), 0)],
           bad=[_so_bad("take_along_dim ndim", lambda t: ad.take_along_dim(
                    t, _I(0), 1), (2, 3), _RT,
                    r"2 dimensions for input, and 1 dimensions for indices")
                ]),
    # inputs (x, src); torch's argument order (x, dim, index, src)
    OpInfo("scatter", lambda x, s, d, i: ad.scatter(x, d, i, s),
           torch=lambda x, s, d, i: T.scatter(x, d, i, s),
           records=[_GR, ("where", None)],
           method=lambda x, s, d, i: x.scatter(d, i, s),
           samples=[_C([(3, 4, 5), (2, 2, 4)], 2, _SCATTER_IDX),
                    _C([(3, 4, 5), (1, 3, 5)], 0, _SCATTER_IDX0),
                    _C([(3, 4), (3, 4)], 1, _I([0, 1, 2, 3], [3, 2, 1, 0],
                                               [1, 3, 0, 2]))],
           bad=[_so_bad("scatter bounds", lambda t: ad.scatter(
                    t, 1, _I([3]), ad.ones((2, 3))), (2, 3), IndexError,
                    r"index 3 is out of bounds for dimension 1"),
                _so_bad("scatter size", lambda t: ad.scatter(
                    t, 1, _I([0, 1, 2, 0]), ad.ones((2, 3))), (2, 3), _RT,
                    r"Expected index \[1, 4\] to be no larger")]),
    OpInfo("scatter_add", lambda x, s, d, i: ad.scatter_add(x, d, i, s),
           torch=lambda x, s, d, i: T.scatter_add(x, d, i, s),
           records=[_GR, ("scatter", None)],
           method=lambda x, s, d, i: x.scatter_add(d, i, s),
           samples=[_C([(3, 4, 5), (2, 2, 4)], 2, _SCATTER_IDX),
                    _C([(3, 4, 5), (1, 3, 5)], 0, _SCATTER_IDX0),
                    _C([(3, 4), (2, 4)], 0, _I([0, 0, 2, 0], [0, 2, 2, 0]))]),
    OpInfo("masked_fill", ad.masked_fill, torch=T.masked_fill,
           records=[("where", None)], method="masked_fill",
           samples=[_C([(4, 5)], _MASK, 2.5), _C([(3, 4, 5)], _MASK, -1.0),
                    _C([(3, 4, 5)], _MASK_B, 0.0),
                    _C([(4, 5)], np.zeros((4, 5), bool), 3.0)],
           bad=[_so_bad("masked_fill value", lambda t: ad.masked_fill(
                    t, np.ones(3, bool), ad.ones(2)), (2, 3), _RT,
                    r"0-dimensional value tensor"),
                _so_bad("masked_fill shape", lambda t: ad.masked_fill(
                    t, np.ones(4, bool), 1.0), (2, 3), _RT,
                    r"mask of shape \(4,\).*shape \(2, 3\)")]),
    OpInfo("masked_select", ad.masked_select, torch=T.masked_select,
           records=[_GR], method="masked_select",
           samples=[_C([(4, 5)], _MASK), _C([(3, 4, 5)], _MASK),
                    _C([(3, 4, 5)], _MASK_B), _C([(4, 1)], _MASK),
                    _C([(4, 5)], np.zeros((4, 5), bool))],
           bad=[_so_bad("masked_select shape", lambda t: ad.masked_select(
                    t, np.ones(4, bool)), (2, 3), _RT,
                    r"mask of shape \(4,\)")]),
    OpInfo("pad:constant", NF.pad, torch=lambda t, *a, **k: TF.pad(
               t, *a, **k), records=[_GR, ("scatter", None)],
           samples=[_C([(3, 4)], (1, 2)), _C([(3, 4)], (1, 2, 0, 3)),
                    _C([(2, 3, 4)], (1, 1, 1, 1, 1, 1), value=1.5),
                    _C([(3, 4)], (-1, 2, 1, -2)), _C([(3, 4)], (0, 0)),
                    _C([(3, 4)], (2, -1), "constant", -2.0)],
           bad=[_so_bad("pad odd", lambda t: NF.pad(t, (1,)), (2, 3), _RT,
                        r"divisible by 2"),
                _so_bad("pad long", lambda t: NF.pad(t, (1,) * 6), (2, 3),
                        _RT, r"padding length 6 and input of dimension 2"),
                _so_bad("pad mode", lambda t: NF.pad(t, (1, 1), "foo"),
                        (2, 3), NotImplementedError,
                        r"Unrecognised padding mode foo")]),
] + [
    OpInfo("pad:" + _m, NF.pad, torch=lambda t, *a, **k: TF.pad(t, *a, **k),
           records=[_GR],
           samples=[_C([(2, 5)], (2, 1), _m), _C([(2, 3, 5)], (0, 3), _m),
                    _C([(2, 4, 5)], (1, 2, 3, 0), _m),
                    _C([(2, 4, 5)], (-1, 3, 2, -2), _m),
                    _C([(1, 2, 3, 4, 5)], (1, 1, 2, 1, 1, 2), _m)],
           bad=[_so_bad("pad too large", lambda t, m=_m: NF.pad(
               t, (6, 6), m), (2, 3), _RT, {
                   "reflect": r"Padding size should be less than",
                   "circular": r"wrapping around more than once",
                   "replicate": r"negative size"}[_m])]
           if _m != "replicate" else [])
    for _m in ("reflect", "replicate", "circular")
]

# ================================================================ dropout

DROPOUT_RNG_STATE = np.array([12345, 0], dtype=np.uint64)


def dropout_fixed(t, p=0.4):
    """Dropout with the engine's stream reset first: the same mask at
    every call (the mask is a constant of the derivative)."""
    ad.set_rng_state(DROPOUT_RNG_STATE)
    return ad.nn.functional.dropout(t, p)


DROPOUT = OpInfo("dropout", dropout_fixed, None, records=[("dropout", None)],
                 samples=[0.4, 0.9])

# ==================================================== custom Functions


class Cube(ad.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3.0 * x ** 2


class ScaledMul(ad.Function):
    """x * y * k with a non-Tensor argument k in the middle."""

    @staticmethod
    def forward(ctx, x, k, y):
        ctx.save_for_backward(x, y)
        ctx.k = k
        return x * y * k

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y * ctx.k, None, g * x * ctx.k


CUSTOM = [
    OpInfo("custom:Cube", lambda t: Cube.apply(t), lambda x: x ** 3,
           records=[("custom", None)], sympy=lambda sp, X: X ** 3),
    OpInfo("custom:ScaledMul", lambda a, b: ScaledMul.apply(a, 1.5, b),
           lambda a, b: a * b * 1.5, records=[("custom", None)]),
]


# ============================================================ composites
#
# torch ops written in autodiff/_ops.py as compositions of engine ops
# (mm, mv, bmm, outer, addmm, lerp, addcmul, addcdiv), one row per option
# setting.  ``samples``: (id, shapes); ``make(shapes, seed)`` gives the
# float64 inputs; ``method``/``inplace``: the Tensor spellings (None where
# torch has none).  tests/test_composites.py drives every row: values and
# gradients against torch, gradcheck and gradgradcheck in float64, replay
# under ad.compile bit for bit; the ``bad`` rows go to test_bad_input.


def _gen_default(shapes, seed):
    return [sample(s, seed=seed * 10 + i) for i, s in enumerate(shapes)]


def _gen_addcdiv(shapes, seed):
    """The divisor (third input) away from 0."""
    out = _gen_default(shapes, seed)
    out[2] = nonzero(shapes[2], seed=seed * 10 + 2)
    return out


def _gen_lerp_weight(shapes, seed):
    """Weights in [-1, 2]: both of torch's forms (|w| < 0.5 and not)."""
    out = _gen_default(shapes[:2], seed)
    w = sample(shapes[2], -1.0, 2.0, seed=seed * 10 + 2)
    w.reshape(-1)[:3] = [0.25, 0.75, 1.0][:w.size]     # both forms, w = 1
    return out + [w]


def _composite_bad(fn, cases, exc, match):
    """(shapes, strings the message names) that fn must reject."""
    out = []
    for shapes, contains in cases:
        def make(shapes=shapes):
            ts = [ad.tensor(sample(s, seed=i), requires_grad=True)
                  for i, s in enumerate(shapes)]
            return (lambda: fn(*ts)), ts
        out.append(BadInput("shapes %s" % (shapes,), make, exc, match,
                            contains=contains))
    return out


# ============================================================ convolution
#
# conv1d/conv2d/conv_transpose1d/2d (one "conv" record) and unfold / fold:
# inputs (x, weight[, bias]); the geometry as torch's arguments.

_CV = ShapeCase
CONV = [
    OpInfo("conv2d", NF.conv2d, torch=lambda *a, **k: TF.conv2d(*a, **k),
           records=[("conv", None)],
           samples=[_CV([(2, 4, 7, 6), (6, 2, 3, 2), (6,)], stride=2,
                        padding=1, groups=2),
                    _CV([(1, 3, 5, 5), (2, 3, 3, 3)], padding="same",
                        dilation=(2, 1)),
                    _CV([(3, 2, 6, 5), (4, 2, 1, 1), (4,)]),
                    _CV([(2, 4, 6, 6), (4, 1, 3, 3)], None, (1, 2), 1, 1, 4),
                    _CV([(3, 5, 4), (2, 3, 2, 2), (2,)], padding="valid")],
           bad=[_so_bad("conv2d channels", lambda t: NF.conv2d(
                    t, ad.zeros(4, 3, 3, 3, dtype=ad.float64)), (1, 2, 5, 5),
                    ValueError, r"expected input\(1, 2, 5, 5\) to have 3 "
                    r"channels, but got 2"),
                _so_bad("conv2d kernel", lambda t: NF.conv2d(
                    t, ad.zeros(1, 2, 6, 3, dtype=ad.float64)), (1, 2, 5, 5),
                    ValueError, r"Kernel size can't be greater than actual "
                    r"input size"),
                _so_bad("conv2d groups", lambda t: NF.conv2d(
                    t, ad.zeros(3, 1, 1, 1, dtype=ad.float64), groups=2),
                    (1, 2, 5, 5), ValueError, r"divisible by 2"),
                _so_bad("conv2d same stride", lambda t: NF.conv2d(
                    t, ad.zeros(1, 2, 1, 1, dtype=ad.float64), stride=2,
                    padding="same"), (1, 2, 5, 5), ValueError,
                    r"not supported for strided")]),
    OpInfo("conv1d", NF.conv1d, torch=lambda *a, **k: TF.conv1d(*a, **k),
           records=[("conv", None)],
           samples=[_CV([(2, 4, 9), (6, 2, 3), (6,)], stride=2, padding=2,
                        dilation=2, groups=2),
                    _CV([(3, 8), (2, 3, 4)], padding="same")]),
    OpInfo("conv_transpose2d", NF.conv_transpose2d,
           torch=lambda *a, **k: TF.conv_transpose2d(*a, **k),
           records=[("conv", None)],
           samples=[_CV([(2, 4, 4, 3), (4, 3, 3, 2), (6,)], stride=2,
                        padding=1, output_padding=1, groups=2),
                    _CV([(1, 2, 3, 3), (2, 3, 2, 2)], stride=(1, 2),
                        dilation=2, output_padding=(1, 0)),
                    _CV([(3, 4, 4), (3, 2, 3, 3)], padding=1)],
           bad=[_so_bad("conv_transpose2d output_padding", lambda t:
                        NF.conv_transpose2d(t, ad.zeros(
                            2, 1, 3, 3, dtype=ad.float64), stride=2,
                            output_padding=2), (1, 2, 3, 3), ValueError,
                        r"output padding must be smaller than either stride "
                        r"or dilation")]),
    OpInfo("conv_transpose1d", NF.conv_transpose1d,
           torch=lambda *a, **k: TF.conv_transpose1d(*a, **k),
           records=[("conv", None)],
           samples=[_CV([(2, 4, 5), (4, 1, 3), (2,)], stride=3, padding=1,
                        output_padding=2, groups=2)]),
    OpInfo("unfold", NF.unfold, torch=lambda *a, **k: TF.unfold(*a, **k),
           records=[("unfold", None)],
           samples=[_CV([(2, 3, 5, 6)], (2, 3), dilation=(1, 2), padding=1,
                        stride=(2, 1)),
                    _CV([(2, 4, 4)], 2)]),
    OpInfo("fold", NF.fold, torch=lambda *a, **k: TF.fold(*a, **k),
           records=[("fold", None)],
           samples=[_CV([(2, 12, 42)], (5, 6), 2, padding=1),
                    _CV([(2, 24, 6)], (4, 5), (2, 3), stride=(2, 1),
                        dilation=(1, 2), padding=(0, 1))],
           bad=[_so_bad("fold blocks", lambda t: NF.fold(t, (5, 6), 2),
                        (1, 8, 7), ValueError, r"calculated number of "
                        r"sliding blocks 4 \* 5 = 20, but got "
                        r"input.size\(2\)=7")]),
]


# ================================================================ pooling
#
# max pooling records one max_pool (its rule records pool_argmax and a
# put_add); avg pooling one avg_pool record (its rule records the
# transposed avg_pool).

def _pool_bad(name, fn, shape, match):
    return _so_bad(name, fn, shape, ValueError, match)


POOL = [
    OpInfo("max_pool2d", NF.max_pool2d,
           torch=lambda *a, **k: TF.max_pool2d(*a, **k),
           records=[("max_pool", None)],
           samples=[_CV([(2, 3, 7, 6)], 3, stride=2, padding=1),
                    _CV([(1, 2, 7, 7)], (2, 3), stride=(2, 1),
                        dilation=(2, 1), ceil_mode=True),
                    _CV([(3, 5, 4)], 2)],
           bad=[_pool_bad("max_pool2d pad", lambda t: NF.max_pool2d(
                    t, 2, padding=2), (1, 1, 5, 5), r"pad should be at most "
                    r"half of effective kernel size"),
                _pool_bad("max_pool2d small", lambda t: NF.max_pool2d(
                    t, 4), (1, 1, 3, 3), r"Output size is too small")]),
    OpInfo("max_pool1d", NF.max_pool1d,
           torch=lambda *a, **k: TF.max_pool1d(*a, **k),
           records=[("max_pool", None)],
           samples=[_CV([(2, 3, 9)], 3, 2, 1)]),
    OpInfo("avg_pool2d", NF.avg_pool2d,
           torch=lambda *a, **k: TF.avg_pool2d(*a, **k),
           records=[("avg_pool", None)],
           samples=[_CV([(2, 3, 7, 6)], 3, stride=2, padding=1),
                    _CV([(1, 2, 7, 7)], 3, stride=2, padding=1,
                        ceil_mode=True, count_include_pad=False),
                    _CV([(1, 2, 4, 6)], (2, 3), divisor_override=4)]),
    OpInfo("avg_pool1d", NF.avg_pool1d,
           torch=lambda *a, **k: TF.avg_pool1d(*a, **k),
           records=[("avg_pool", None)],
           samples=[_CV([(2, 3, 9)], 3, 2, 1)]),
    OpInfo("adaptive_avg_pool2d", NF.adaptive_avg_pool2d,
           torch=lambda *a, **k: TF.adaptive_avg_pool2d(*a, **k),
           records=[("avg_pool", None)],
           samples=[_CV([(2, 3, 7, 6)], (3, 4)), _CV([(2, 5, 5)], (None, 2))]),
    OpInfo("adaptive_avg_pool1d", NF.adaptive_avg_pool1d,
           torch=lambda *a, **k: TF.adaptive_avg_pool1d(*a, **k),
           records=[("avg_pool", None)],
           samples=[_CV([(2, 3, 7)], 3)]),
    OpInfo("adaptive_max_pool2d", NF.adaptive_max_pool2d,
           torch=lambda *a, **k: TF.adaptive_max_pool2d(*a, **k),
           records=[("max_pool", None)],
           samples=[_CV([(2, 3, 7, 6)], (4, 5))]),
    OpInfo("adaptive_max_pool1d", NF.adaptive_max_pool1d,
           torch=lambda *a, **k: TF.adaptive_max_pool1d(*a, **k),
           records=[("max_pool", None)],
           samples=[_CV([(2, 3, 7)], 3)]),
    # interpolate: one upsample record (its rule records the transposed
    # upsample); sizes up and down, scale factors (also non-integer, used
    # by the kernel as torch's), align_corners both ways, 1-d and 2-d
    OpInfo("interpolate", NF.interpolate,
           torch=lambda *a, **k: TF.interpolate(*a, **k),
           records=[("upsample", None)],
           samples=[_CV([(2, 3, 4, 5)], scale_factor=2),
                    _CV([(1, 2, 5, 4)], size=(7, 3), mode="bilinear"),
                    _CV([(1, 2, 4, 6)], scale_factor=(1.7, 0.6),
                        mode="bilinear", align_corners=True),
                    _CV([(2, 2, 5, 5)], scale_factor=1.5,
                        mode="nearest-exact"),
                    _CV([(2, 3, 6)], size=9, mode="linear"),
                    _CV([(2, 2, 7)], scale_factor=0.7, mode="linear",
                        align_corners=True),
                    _CV([(2, 2, 5)], size=8),
                    _CV([(1, 2, 5, 6)], size=(3, 9), mode="bilinear")],
           bad=[_so_bad("interpolate nearest align_corners",
                        lambda t: NF.interpolate(t, scale_factor=2,
                                                 align_corners=True),
                        (1, 1, 3, 3), ValueError, r"align_corners option "
                        r"can only be set with the interpolating modes"),
                _so_bad("interpolate bicubic", lambda t: NF.interpolate(
                    t, scale_factor=2, mode="bicubic"), (1, 1, 3, 3),
                    NotImplementedError, r"bicubic"),
                _so_bad("interpolate size and scale", lambda t:
                        NF.interpolate(t, size=4, scale_factor=2),
                        (1, 1, 3, 3), ValueError, r"only one of size or "
                        r"scale_factor should be defined"),
                _so_bad("interpolate 4D linear", lambda t: NF.interpolate(
                    t, size=4, mode="linear"), (1, 1, 3, 3),
                    NotImplementedError, r"Got 4D input, but linear mode "
                    r"needs 3D input")]),
]



# ========================================================== normalization
#
# layer_norm, group_norm and rms_norm: one "norm" record each (its rule
# records the derivative with ops).  Tensors first (x, weight, bias), the
# rest as keywords.

def _norm_fn(fn, rms=False):
    def call(x, *wb, shape=None, groups=None, eps=None):
        w = wb[0] if wb else None
        kw = {} if eps is None else {"eps": eps}
        if groups is not None:
            return fn(x, groups, w, wb[1] if len(wb) > 1 else None, **kw)
        if rms:
            return fn(x, shape, w, **kw)
        return fn(x, shape, w, wb[1] if len(wb) > 1 else None, **kw)
    return call


_BN_MEAN = np.array([0.5, -1.0, 2.0])
_BN_VAR = np.array([1.5, 0.25, 3.0])


def _torch():
    import torch
    return torch


def _bn_fn(fn, make):
    """batch_norm with tensors first: training without running stats
    (the batch's), eval with fixed running stats (fresh tensors each
    call, as the op only reads them there)."""
    def call(x, *wb, training=False, eps=1e-5):
        w = wb[0] if wb else None
        b = wb[1] if len(wb) > 1 else None
        if training:
            return fn(x, None, None, w, b, training=True, eps=eps)
        return fn(x, make(_BN_MEAN.astype(_np_dtype(x))),
                  make(_BN_VAR.astype(_np_dtype(x))), w, b, training=False,
                  eps=eps)
    return call


def _np_dtype(x):
    return np.float32 if "float32" in str(x.dtype) else np.float64


NORM = [
    OpInfo("layer_norm", _norm_fn(NF.layer_norm),
           torch=_norm_fn(TF.layer_norm), records=[("norm", None)],
           samples=[_CV([(3, 4, 5), (4, 5), (4, 5)], shape=(4, 5)),
                    _CV([(2, 6), (6,)], shape=(6,), eps=1e-3),
                    _CV([(2, 3, 4)], shape=(4,))],
           bad=[_so_bad("layer_norm shape", lambda t: NF.layer_norm(
                    t, (3,)), (2, 4), ValueError, r"normalized_shape=\[3\], "
                    r"expected input with shape \[\*, 3\], but got input of "
                    r"size \[2, 4\]"),
                _so_bad("layer_norm weight", lambda t: NF.layer_norm(
                    t, (4,), ad.ones(3, dtype=ad.float64)), (2, 4),
                    ValueError, r"expected weight of shape \[4\], got \[3\]")]),
    OpInfo("group_norm", _norm_fn(NF.group_norm),
           torch=_norm_fn(TF.group_norm), records=[("norm", None)],
           samples=[_CV([(2, 4, 3, 2), (4,), (4,)], groups=2),
                    _CV([(3, 6, 5), (6,), (6,)], groups=3, eps=1e-3),
                    _CV([(2, 4)], groups=4),
                    _CV([(2, 3, 4)], groups=1)],
           bad=[_so_bad("group_norm groups", lambda t: NF.group_norm(
                    t, 3), (2, 4, 5), ValueError, r"divisible by num_groups, "
                    r"but got input of shape \[2, 4, 5\] and num_groups=3")]),
    OpInfo("rms_norm", _norm_fn(NF.rms_norm, rms=True),
           torch=_norm_fn(TF.rms_norm, rms=True), records=[("norm", None)],
           samples=[_CV([(3, 4, 5), (4, 5)], shape=(4, 5)),
                    _CV([(2, 6)], shape=(6,), eps=1e-3),
                    _CV([(2, 3, 4), (4,)], shape=(4,), eps=0.5)],
           bad=[_so_bad("rms_norm shape", lambda t: NF.rms_norm(
                    t, (2, 4)), (2, 3, 4), ValueError, r"normalized_shape="
                    r"\[2, 4\], expected input with shape \[\*, 2, 4\]")]),
    OpInfo("batch_norm", _bn_fn(NF.batch_norm, ad.tensor),
           torch=_bn_fn(TF.batch_norm, lambda a: _torch().tensor(a)),
           records=[("batch_norm", None)],
           samples=[_CV([(4, 3), (3,), (3,)], training=True),
                    _CV([(2, 3, 5), (3,)], training=True, eps=1e-3),
                    _CV([(2, 3, 2, 2)], training=True),
                    _CV([(2, 3, 4), (3,), (3,)], training=False),
                    _CV([(3, 3, 2, 2)], training=False, eps=0.1)],
           bad=[_so_bad("batch_norm one value", lambda t: NF.batch_norm(
                    t, None, None, training=True), (1, 3), ValueError,
                    r"Expected more than 1 value per channel when training, "
                    r"got input size \(1, 3\)"),
                _so_bad("batch_norm weight", lambda t: NF.batch_norm(
                    t, None, None, ad.ones(2, dtype=ad.float64),
                    training=True), (4, 3), ValueError,
                    r"expected weight of shape \[3\], got \[2\]")]),
]


# ========================================================== recurrent cells
#
# The fused gate ops of the recurrent layers (csrc/ops_rnn.c): one step
# after the two GEMMs.  torch's reference is the cell's arithmetic on the
# same pre-activations (torch.nn.LSTMCell / GRUCell after their linears).

def _torch_lstm_cell(gi, gh, c):
    i, f, g, o = (gi + gh).chunk(4, 1)
    c2 = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return _torch().cat([o.sigmoid() * c2.tanh(), c2], 1)


def _torch_gru_cell(gi, gh, h):
    ir, iz, inn = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (inn + r * hn).tanh()
    return (h - n) * z + n


def _lstm_cell(gi, gh, c):
    return ad._engine._lstm_cell(gi, gh, c)


def _gru_cell(gi, gh, h):
    return ad._engine._gru_cell(gi, gh, h)


RNN_CELLS = [
    OpInfo("lstm_cell", _lstm_cell, torch=_torch_lstm_cell,
           records=[("lstm_cell", None)],
           samples=[_CV([(2, 8), (2, 8), (2, 2)]),
                    _CV([(3, 12), (3, 12), (3, 3)]),
                    _CV([(1, 4), (1, 4), (1, 1)])],
           bad=[_so_bad("lstm_cell shape", lambda t: _lstm_cell(
                    t, t, ad.zeros(2, 3, dtype=ad.float64)), (2, 8),
                    ValueError, r"lstm_cell: input gates \(2, 8\) and hidden "
                    r"gates \(2, 8\) must both be \(B, 4 H\) for cell state "
                    r"of shape \(2, 3\)")]),
    OpInfo("gru_cell", _gru_cell, torch=_torch_gru_cell,
           records=[("gru_cell", None)],
           samples=[_CV([(2, 6), (2, 6), (2, 2)]),
                    _CV([(3, 9), (3, 9), (3, 3)]),
                    _CV([(1, 3), (1, 3), (1, 1)])],
           bad=[_so_bad("gru_cell shape", lambda t: _gru_cell(
                    t, t, ad.zeros(3, 2, dtype=ad.float64)), (2, 6),
                    ValueError, r"gru_cell: input gates \(2, 6\)")]),
]


def _torch_seq(lstm):
    def run(xp, h, *rest, reverse=False):
        if lstm:
            c, w, b = rest[0], rest[1], rest[2] if len(rest) > 2 else None
        else:
            c, w, b = None, rest[0], rest[1] if len(rest) > 1 else None
        T = xp.shape[0]
        outs = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            gh = h @ w.T + (b if b is not None else 0)
            if lstm:
                o = _torch_lstm_cell(xp[t], gh, c)
                h, c = o.chunk(2, 1)
            else:
                o = h = _torch_gru_cell(xp[t], gh, h)
            outs[t] = o
        return _torch().stack(outs)
    return run


def _lstm_seq(xp, h, c, w, b=None, reverse=False):
    return ad._engine._lstm_seq(xp, h, c, w, b, reverse)


def _gru_seq(xp, h, w, b=None, reverse=False):
    return ad._engine._gru_seq(xp, h, w, b, reverse)


RNN_CELLS += [
    OpInfo("lstm_seq", _lstm_seq, torch=_torch_seq(True),
           records=[("lstm_seq", None)],
           samples=[_CV([(3, 2, 8), (2, 2), (2, 2), (8, 2), (8,)]),
                    _CV([(2, 3, 12), (3, 3), (3, 3), (12, 3)], reverse=True),
                    _CV([(1, 1, 4), (1, 1), (1, 1), (4, 1), (4,)],
                        reverse=True)],
           bad=[_so_bad("lstm_seq shape", lambda t: _lstm_seq(
                    t, ad.zeros(2, 2, dtype=ad.float64),
                    ad.zeros(2, 2, dtype=ad.float64),
                    ad.zeros(8, 2, dtype=ad.float64)), (3, 2, 6),
                    ValueError, r"lstm_seq: input projections \(3, 2, 6\) "
                    r"must be \(T, 2, 8\)")]),
    OpInfo("gru_seq", _gru_seq, torch=_torch_seq(False),
           records=[("gru_seq", None)],
           samples=[_CV([(3, 2, 6), (2, 2), (6, 2), (6,)]),
                    _CV([(2, 3, 9), (3, 3), (9, 3)], reverse=True),
                    _CV([(1, 1, 3), (1, 1), (3, 1), (3,)])],
           bad=[_so_bad("gru_seq weight", lambda t: _gru_seq(
                    t, ad.zeros(2, 2, dtype=ad.float64),
                    ad.zeros(6, 3, dtype=ad.float64)), (3, 2, 6),
                    ValueError, r"gru_seq: weight_hh \(6, 3\)")]),
]

def _C(name, op, torch, records, samples, make=_gen_default, method=None,
       inplace=None, bad=()):
    return OpInfo(name, op, None, torch=torch, records=records,
                  samples=samples, make=make, method=method, inplace=inplace,
                  bad=bad)


_MM_BAD = [([(2, 3), (4, 5)], ("2x3", "4x5")),
           ([(3,), (3, 4)], ("(3,)",)), ([(2, 3), (3,)], ("(3,)",)),
           ([(2, 2, 3), (3, 4)], ("(2, 2, 3)",))]
_ADDMM_BAD = [([(4,), (2, 3), (3, 3)], ("(4,)", "(2, 3)")),
              ([(3, 3), (2, 3), (3, 3)], ("(3, 3)", "(2, 3)")),
              ([(2, 3), (2, 4), (3, 3)], ("2x4", "3x3"))]
_ADDC_BAD = [([(2,), (3,), (2,)], ("(2,)", "(3,)")),
             ([(2, 3), (2, 3), (4, 1)], ("(2, 3)", "(4, 1)"))]

COMPOSITES = [
    # reductions and scans of autodiff/_reductions.py whose indices come
    # from an engine op without gradient (cumarg, argsort) and whose values
    # are taken there: replayed by ad.compile
    _C("cummax", lambda t: ad.cummax(t, -1).values,
       lambda t: T.cummax(t, -1).values, [("take", None)],
       [("3x6", [(3, 6)]), ("5", [(5,)])],
       method=lambda t: t.cummax(-1).values),
    _C("cummin(dim=0)", lambda t: ad.cummin(t, 0).values,
       lambda t: T.cummin(t, 0).values, [("take", None)],
       [("6x2", [(6, 2)]), ("4x1x3", [(4, 1, 3)])],
       method=lambda t: t.cummin(dim=0).values),
    _C("median()", ad.median, lambda t: T.median(t),
       [("where", None), ("reduce", "max")],
       [("3x5", [(3, 5)]), ("4", [(4,)]), ("1", [(1,)])],
       method=lambda t: t.median()),
    _C("mm", ad.mm, lambda a, b: T.mm(a, b), [("matmul", None)],
       [("3x4 @ 4x5", [(3, 4), (4, 5)]), ("1x4 @ 4x1", [(1, 4), (4, 1)])],
       method=lambda a, b: a.mm(b),
       bad=_composite_bad(ad.mm, _MM_BAD, RuntimeError, "mm")),
    _C("mv", ad.mv, lambda a, b: T.mv(a, b),
       [("matmul", None), ("reshape", None)],
       [("3x4 @ 4", [(3, 4), (4,)]), ("1x2 @ 2", [(1, 2), (2,)])],
       method=lambda a, b: a.mv(b),
       bad=_composite_bad(ad.mv, [([(2, 3), (4,)], ("2x3", "(4,)")),
                                  ([(2, 3), (3, 1)], ("(2, 3)", "(3, 1)")),
                                  ([(3,), (3,)], ("(3,)",))],
                          RuntimeError, "mv")),
    _C("bmm", ad.bmm, lambda a, b: T.bmm(a, b), [("matmul", None)],
       [("2x3x4 @ 2x4x5", [(2, 3, 4), (2, 4, 5)]),
        ("1x2x3 @ 1x3x1", [(1, 2, 3), (1, 3, 1)])],
       method=lambda a, b: a.bmm(b),
       bad=_composite_bad(
           ad.bmm, [([(2, 3, 4), (3, 4, 5)], ("[2, 4]", "[3, 4]")),
                    ([(2, 3, 4), (2, 5, 2)], ("[2, 4]", "[2, 5]")),
                    ([(3, 4), (2, 4, 5)], ("batch1", "(3, 4)"))],
           RuntimeError, "bmm")),
    _C("outer", ad.outer, lambda a, b: T.outer(a, b),
       [("binary", "mul"), ("reshape", None)],
       [("3 x 4", [(3,), (4,)]), ("1 x 2", [(1,), (2,)])],
       method=lambda a, b: a.outer(b),
       bad=_composite_bad(ad.outer, [([(2, 3), (3,)], ("2-D", "(2, 3)")),
                                     ([(3,), ()], ("vec2", "()"))],
                          RuntimeError, "outer")),
    _C("addmm", ad.addmm, lambda c, a, b: T.addmm(c, a, b),
       [("matmul", None), ("binary", "add")],
       [("(5,) + 3x4 @ 4x5", [(5,), (3, 4), (4, 5)]),
        ("3x5 + 3x4 @ 4x5", [(3, 5), (3, 4), (4, 5)]),
        ("(3, 1) + 3x2 @ 2x4", [(3, 1), (3, 2), (2, 4)]),
        ("() + 2x2 @ 2x3", [(), (2, 2), (2, 3)])],
       method=lambda c, a, b: c.addmm(a, b),
       inplace=lambda c, a, b: c.addmm_(a, b),
       bad=_composite_bad(ad.addmm, _ADDMM_BAD, RuntimeError, "addmm")),
    _C("addmm(beta=0.5, alpha=-2)",
       lambda c, a, b: ad.addmm(c, a, b, beta=0.5, alpha=-2),
       lambda c, a, b: T.addmm(c, a, b, beta=0.5, alpha=-2),
       [("matmul", None), ("binary", "add"), ("unary", "mulc")],
       [("(5,) + 3x4 @ 4x5", [(5,), (3, 4), (4, 5)]),
        ("3x5 + 3x4 @ 4x5", [(3, 5), (3, 4), (4, 5)])],
       method=lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=-2),
       inplace=lambda c, a, b: c.addmm_(a, b, beta=0.5, alpha=-2)),
    _C("addmm(beta=0)", lambda c, a, b: ad.addmm(c, a, b, beta=0),
       lambda c, a, b: T.addmm(c, a, b, beta=0),
       [("matmul", None), ("where", None)],
       [("3x5 + 3x4 @ 4x5", [(3, 5), (3, 4), (4, 5)])],
       method=lambda c, a, b: c.addmm(a, b, beta=0),
       inplace=lambda c, a, b: c.addmm_(a, b, beta=0)),
    _C("lerp(0.3)", lambda a, b: ad.lerp(a, b, 0.3),
       lambda a, b: T.lerp(a, b, 0.3),
       [("binary", "sub"), ("unary", "mulc"), ("binary", "add")],
       [("(3, 4) (4,)", [(3, 4), (4,)]), ("(3, 1) (1, 4)", [(3, 1), (1, 4)])],
       method=lambda a, b: a.lerp(b, 0.3),
       inplace=lambda a, b: a.lerp_(b, 0.3)),
    _C("lerp(0.8)", lambda a, b: ad.lerp(a, b, 0.8),
       lambda a, b: T.lerp(a, b, 0.8),
       [("binary", "sub"), ("unary", "mulc")],
       [("(3, 4) (4,)", [(3, 4), (4,)]), ("() (2, 3)", [(), (2, 3)])],
       method=lambda a, b: a.lerp(b, 0.8),
       inplace=lambda a, b: a.lerp_(b, 0.8)),
    _C("lerp(tensor weight)", ad.lerp, lambda a, b, w: T.lerp(a, b, w),
       [("binary", "sub"), ("binary", "mul"), ("binary", "add"),
        ("unary", "sign")],
       [("(3, 4) (3, 4) (3, 4)", [(3, 4), (3, 4), (3, 4)]),
        ("(3, 4) (4,) (3, 1)", [(3, 4), (4,), (3, 1)]),
        ("(4,) (3, 1) ()", [(4,), (3, 1), ()])],
       make=_gen_lerp_weight, method=lambda a, b, w: a.lerp(b, w),
       inplace=lambda a, b, w: a.lerp_(b, w),
       bad=_composite_bad(ad.lerp, [([(2,), (3,), (2,)], ("(2,)", "(3,)"))],
                          ValueError, "broadcast")),
    _C("prelu", NF.prelu, lambda a, w: TF.prelu(a, w),
       [("binary", "mul"), ("where", None)],
       [("(4, 3) (3,)", [(4, 3), (3,)]), ("(2, 3, 2) (1,)", [(2, 3, 2), (1,)]),
        ("(5,) ()", [(5,), ()]), ("(2, 4, 3, 2) (4,)", [(2, 4, 3, 2), (4,)])],
       bad=_composite_bad(NF.prelu, [([(2, 3, 4), (4,)], ("= 4", "= 3")),
                                     ([(2, 3), (1, 3)], ("ndim = 2",))],
                          RuntimeError, "prelu|Mismatch")),
    _C("addcmul", ad.addcmul, lambda a, b, c: T.addcmul(a, b, c),
       [("binary", "mul"), ("binary", "add")],
       [("(3, 4) (3, 4) (3, 4)", [(3, 4), (3, 4), (3, 4)]),
        ("(3, 4) (4,) (3, 1)", [(3, 4), (4,), (3, 1)]),
        ("(4,) (3, 1) ()", [(4,), (3, 1), ()])],
       method=lambda a, b, c: a.addcmul(b, c),
       inplace=lambda a, b, c: a.addcmul_(b, c),
       bad=_composite_bad(ad.addcmul, _ADDC_BAD, ValueError, "broadcast")),
    _C("addcmul(value=-0.5)", lambda a, b, c: ad.addcmul(a, b, c, value=-0.5),
       lambda a, b, c: T.addcmul(a, b, c, value=-0.5),
       [("binary", "mul"), ("binary", "add"), ("unary", "mulc")],
       [("(3, 4) (4,) (3, 1)", [(3, 4), (4,), (3, 1)])],
       method=lambda a, b, c: a.addcmul(b, c, value=-0.5),
       inplace=lambda a, b, c: a.addcmul_(b, c, value=-0.5)),
    _C("addcdiv", ad.addcdiv, lambda a, b, c: T.addcdiv(a, b, c),
       [("binary", "div"), ("binary", "add")],
       [("(3, 4) (3, 4) (3, 4)", [(3, 4), (3, 4), (3, 4)]),
        ("(3, 4) (4,) (3, 1)", [(3, 4), (4,), (3, 1)]),
        ("(4,) (3, 1) ()", [(4,), (3, 1), ()])],
       make=_gen_addcdiv, method=lambda a, b, c: a.addcdiv(b, c),
       inplace=lambda a, b, c: a.addcdiv_(b, c),
       bad=_composite_bad(ad.addcdiv, _ADDC_BAD, ValueError, "broadcast")),
    _C("addcdiv(value=2.5)", lambda a, b, c: ad.addcdiv(a, b, c, value=2.5),
       lambda a, b, c: T.addcdiv(a, b, c, value=2.5),
       [("binary", "div"), ("binary", "add"), ("unary", "mulc")],
       [("(3, 4) (4,) (3, 1)", [(3, 4), (4,), (3, 1)])],
       make=_gen_addcdiv, method=lambda a, b, c: a.addcdiv(b, c, value=2.5),
       inplace=lambda a, b, c: a.addcdiv_(b, c, value=2.5)),
]


# ad.linalg's LAPACK decompositions: one engine op, ``linalg``, a kind
# each (csrc/ops_decomp.c).  The inputs are made well conditioned (A +
# 2n I) or positive definite (a a^T + n I) inside the row's function, so
# central differences see the function of the free matrix.
def _la_cond(a):
    n = a.shape[-1]
    return a + 2.0 * n * ad.eye(n, dtype=a.dtype)


def _la_cond_t(a):
    n = a.shape[-1]
    return a + 2.0 * n * T.eye(n, dtype=a.dtype)


def _la_eigh(r):
    L, V = r
    return L.reshape(L.shape[:-1] + (1, L.shape[-1])) * V * V


def _la_qr(r):
    Q, R = r
    return ad.concatenate([Q.reshape(Q.shape[:-2] + (-1,)),
                           R.reshape(R.shape[:-2] + (-1,))], axis=-1) \
        if isinstance(Q, ad.Tensor) else \
        T.cat([Q.reshape(Q.shape[:-2] + (-1,)),
               R.reshape(R.shape[:-2] + (-1,))], dim=-1)


def _la_svd(r):
    U, S, Vh = r
    k = S.shape[-1]
    U, Vh = U[..., :, :k], Vh[..., :k, :]
    u = (U[..., :, :1] @ Vh[..., :1, :]).reshape(U.shape[:-2] + (-1,))
    if isinstance(S, ad.Tensor):
        return ad.concatenate([u, S], axis=-1)
    return T.cat([u, S], dim=-1)


def _la_spd(a):
    n = a.shape[-1]
    return a @ ad.swapaxes(a, -1, -2) + n * ad.eye(n, dtype=a.dtype)


def _la_spd_t(a):
    n = a.shape[-1]
    return a @ a.mT + n * T.eye(n, dtype=a.dtype)


COMPOSITES += [
    _C("linalg.inv", lambda a: ad.linalg.inv(_la_cond(a)),
       lambda a: T.linalg.inv(_la_cond_t(a)), [("linalg", "inv")],
       [("4x4", [(4, 4)]), ("2x3x3", [(2, 3, 3)]), ("1x1", [(1, 1)])]),
    _C("linalg.solve", lambda a, b: ad.linalg.solve(_la_cond(a), b),
       lambda a, b: T.linalg.solve(_la_cond_t(a), b),
       [("linalg", "solve")],
       [("3x3 3x2", [(3, 3), (3, 2)]), ("2x3x3 2x3x4", [(2, 3, 3),
                                                         (2, 3, 4)]),
        ("3x3 3", [(3, 3), (3,)])]),
    _C("linalg.det", lambda a: ad.linalg.det(a), lambda a: T.linalg.det(a),
       [("linalg", "det")], [("3x3", [(3, 3)]), ("2x4x4", [(2, 4, 4)])]),
    _C("linalg.slogdet", lambda a: ad.linalg.slogdet(a).logabsdet,
       lambda a: T.linalg.slogdet(a).logabsdet, [("linalg", "slogdet")],
       [("3x3", [(3, 3)]), ("2x4x4", [(2, 4, 4)])]),
    _C("linalg.cholesky", lambda a: ad.linalg.cholesky(_la_spd(a)),
       lambda a: T.linalg.cholesky(_la_spd_t(a)), [("linalg", "cholesky")],
       [("4x4", [(4, 4)]), ("2x3x3", [(2, 3, 3)])]),
    # sign-invariant functions of the eigenvectors
    _C("linalg.eigh", lambda a: _la_eigh(ad.linalg.eigh(a + ad.swapaxes(
        a, -1, -2))), lambda a: _la_eigh(T.linalg.eigh(a + a.mT)),
       [("linalg", "eigh")], [("4x4", [(4, 4)]), ("2x3x3", [(2, 3, 3)])]),
    _C("linalg.eigh(UPLO='U')", lambda a: _la_eigh(ad.linalg.eigh(
        a + ad.swapaxes(a, -1, -2), UPLO="U")),
       lambda a: _la_eigh(T.linalg.eigh(a + a.mT, UPLO="U")),
       [("linalg", "eigh")], [("3x3", [(3, 3)])]),
    _C("linalg.eigvalsh", lambda a: ad.linalg.eigvalsh(
        a + ad.swapaxes(a, -1, -2)), lambda a: T.linalg.eigvalsh(a + a.mT),
       [("linalg", "eigvalsh")], [("4x4", [(4, 4)]),
                                  ("2x3x3", [(2, 3, 3)])]),
    _C("linalg.qr", lambda a: _la_qr(ad.linalg.qr(a)),
       lambda a: _la_qr(T.linalg.qr(a)), [("linalg", "qr")],
       [("5x3", [(5, 3)]), ("4x4", [(4, 4)]), ("3x5", [(3, 5)]),
        ("2x4x3", [(2, 4, 3)])]),
    _C("linalg.qr(mode='complete')",
       lambda a: _la_qr(ad.linalg.qr(a, mode="complete")),
       lambda a: _la_qr(T.linalg.qr(a, mode="complete")),
       [("linalg", "qr")], [("3x4", [(3, 4)])]),
    # sign-invariant functions of the singular vectors
    _C("linalg.svd", lambda a: _la_svd(ad.linalg.svd(a, full_matrices=False)),
       lambda a: _la_svd(T.linalg.svd(a, full_matrices=False)),
       [("linalg", "svd")], [("5x3", [(5, 3)]), ("3x5", [(3, 5)]),
                             ("2x3x3", [(2, 3, 3)])]),
    _C("linalg.svd(full_matrices=True)", lambda a: _la_svd(ad.linalg.svd(a)),
       lambda a: _la_svd(T.linalg.svd(a)), [("linalg", "svd")],
       [("4x3", [(4, 3)]), ("2x4", [(2, 4)])]),
    _C("linalg.svdvals", ad.linalg.svdvals, lambda a: T.linalg.svdvals(a),
       [("linalg", "svdvals")], [("4x3", [(4, 3)]), ("2x3x5", [(2, 3, 5)])]),
]


def composite(name):
    return next(o for o in COMPOSITES if o.name == name)


def composite_cases():
    """(id, row, shapes) for every sample of every composite row."""
    return [("%s: %s" % (o.name, label), o, shapes)
            for o in COMPOSITES for label, shapes in o.samples]


# ====================================================== function vs method
#
# Module function vs Tensor method: same values, same gradients.
METHOD_PAIRS = {
    "exp": (ad.exp, lambda t: t.exp()),
    "log": (ad.log, lambda t: t.log()),
    "sqrt": (ad.sqrt, lambda t: t.sqrt()),
    "abs": (ad.abs, lambda t: t.abs()),
    "sin": (ad.sin, lambda t: t.sin()),
    "cos": (ad.cos, lambda t: t.cos()),
    "square": (ad.square, lambda t: t.square()),
    "negative": (ad.negative, lambda t: t.neg()),
    "sigmoid": (ad.sigmoid, lambda t: t.sigmoid()),
    "tanh": (ad.tanh, lambda t: t.tanh()),
    "relu": (ad.relu, lambda t: t.relu()),
    "leaky_relu": (lambda t: ad.leaky_relu(t, 0.3),
                   lambda t: t.leaky_relu(0.3)),
    "elu": (lambda t: ad.elu(t, 0.7), lambda t: t.elu(alpha=0.7)),
    "selu": (ad.selu, lambda t: t.selu()),
    "softplus": (lambda t: ad.softplus(t, 2.0, 3.0),
                 lambda t: t.softplus(beta=2.0, threshold=3.0)),
    "gelu": (ad.gelu, lambda t: t.gelu()),
    "silu": (ad.silu, lambda t: t.silu()),
    "clip": (lambda t: ad.clip(t, 0.6, 1.7), lambda t: t.clip(0.6, 1.7)),
    "clamp": (lambda t: ad.clamp(t, 0.6, 1.7), lambda t: t.clamp(0.6, 1.7)),
    "softmax": (lambda t: ad.softmax(t, 0), lambda t: t.softmax(0)),
    "log_softmax": (lambda t: ad.log_softmax(t, axis=1),
                    lambda t: t.log_softmax(dim=1)),
    "sum": (lambda t: ad.sum(t, 1), lambda t: t.sum(1)),
    "mean": (lambda t: ad.mean(t, 0, keepdims=True),
             lambda t: t.mean(0, keepdims=True)),
    "max": (lambda t: ad.max(t, 1).values, lambda t: t.max(1).values),
    "amax": (lambda t: ad.amax(t, 1), lambda t: t.amax(dim=1)),
    "min": (lambda t: ad.min(t), lambda t: t.min()),
    "amin": (lambda t: ad.amin(t, 0), lambda t: t.min(axis=0)),
    "var": (lambda t: ad.var(t, 1, ddof=1), lambda t: t.var(1, ddof=1)),
    "std": (lambda t: ad.std(t, 0), lambda t: t.std(0)),
    "reshape": (lambda t: ad.reshape(t, (4, 3)), lambda t: t.reshape(4, 3)),
    "flatten": (ad.flatten, lambda t: t.flatten()),
    "transpose": (ad.transpose, lambda t: t.transpose()),
    "permute": (lambda t: ad.permute(t, (1, 0)), lambda t: t.permute(1, 0)),
    "expand_dims": (lambda t: ad.expand_dims(t, 1),
                    lambda t: t.expand_dims(1)),
    "unsqueeze": (lambda t: ad.unsqueeze(t, 0), lambda t: t.unsqueeze(0)),
    "broadcast_to": (lambda t: ad.broadcast_to(t, (2, 3, 4)),
                     lambda t: t.broadcast_to((2, 3, 4))),
    "matmul": (lambda t: ad.matmul(t, t.T), lambda t: t.matmul(t.T)),
    "power": (lambda t: ad.power(t, 1.5), lambda t: t.pow(1.5)),
    "maximum": (lambda t: ad.maximum(t, 1.0), lambda t: t.maximum(1.0)),
    "minimum": (lambda t: ad.minimum(t, 1.0), lambda t: t.minimum(1.0)),
}


# =================================================== one example per row
#
# example(): (fn, arrays) with fn taking one tensor per array -- a call of
# the row that test_opdb.py records, to check that it records the engine
# kinds it declares and that their rules differentiate.

def _example(o):
    if o in BINARY:
        return o.op, list(o.data((2, 3), (3,), 0))
    if o in REDUCTIONS:
        return (lambda t: o.op(t, axis=1, **o.kw)), [distinct((2, 3))]
    if o in LOSSES:
        return o.op, list(o.data((2, 3), 0))
    if o in CLASS_LOSSES:
        return (lambda t: o.op(t, CLASS_LABELS)), [CLASS_LOGITS]
    if o in SOFTMAX or o in SCANS:
        return (lambda t: o.op(t, 1)), [sample((2, 3))]
    if o in SHAPE_OPS or o in CONV or o in POOL or o in NORM or \
            o in RNN_CELLS:
        c = o.samples[0]
        return (lambda *ts: joined(o.op(*ts, *c.args, **c.kw))), c.arrays()
    if o in COMPOSITES:
        return o.op, o.make(o.samples[0][1], 0)
    if o in CUSTOM:
        return o.op, [sample((3,), seed=1)] * (
            2 if o.name == "custom:ScaledMul" else 1)
    return EXAMPLES[o.name]()


def joined(out):
    """An op's output as one tensor: the pieces of a tuple (split, chunk,
    unbind) flattened and concatenated."""
    if isinstance(out, (tuple, list)):
        return ad.concatenate([ad.reshape(p, (-1,)) for p in out])
    return out


EXAMPLES = {
    "matmul": lambda: (MATMUL.op, [sample((2, 3)), sample((3, 4), seed=1)]),
    "linear": lambda: (LINEAR.op, [sample((2, 3)), sample((4, 3), seed=1),
                                   sample((4,), seed=2)]),
    "linear_relu": lambda: (LINEAR_RELU.op, [sample((2, 3)),
                                             sample((4, 3), seed=1),
                                             sample((4,), seed=2)]),
    "where": lambda: ((lambda a, b: ad.where(np.array([True, False, True]),
                                             a, b)),
                      [sample((3,)), sample((3,), seed=1)]),
    "cast": lambda: ((lambda t: CAST.op(t) * 2.0), [sample((3,))]),
    "reshape": lambda: ((lambda t: ad.reshape(t, (3, 2))), [sample((2, 3))]),
    "permute": lambda: ((lambda t: ad.permute(t, (1, 0))), [sample((2, 3))]),
    "expand_dims": lambda: ((lambda t: ad.expand_dims(t, 0)),
                            [sample((2, 3))]),
    "squeeze": lambda: ((lambda t: ad.squeeze(t, 0)), [sample((1, 3))]),
    "broadcast_to": lambda: ((lambda t: ad.broadcast_to(t, (2, 3))),
                             [sample((3,))]),
    "concatenate": lambda: ((lambda a, b: ad.concatenate([a, b])),
                            [sample((2,)), sample((3,), seed=1)]),
    "stack": lambda: ((lambda a, b: ad.stack([a, b])),
                      [sample((3,)), sample((3,), seed=1)]),
    # squared: the scatter of the gather's rule then depends on t
    "getitem": lambda: ((lambda t: ad.square(ad.sin(t)[np.array([0, 2, 2])])),
                        [sample((3,))]),
    "dropout": lambda: ((lambda t: dropout_fixed(t) * t), [sample((6,))]),
}


def example(o):
    if o in UNARY or o in SCALAR:
        return o.op, [o.sample((3,))]
    return _example(o)


# ================================================================ the lists

ELEMENTWISE = [o for o in UNARY + SCALAR if o.numeric]
ALL = (UNARY + SCALAR + BINARY + REDUCTIONS + LOSSES + CLASS_LOSSES + SOFTMAX
       + SCANS
       + [MATMUL, LINEAR, LINEAR_RELU, WHERE, CAST] + SHAPE + [GETITEM, DROPOUT] + CUSTOM
       + SHAPE_OPS + CONV + POOL + NORM + RNN_CELLS + COMPOSITES)


def by_name(name, table=None):
    hits = [o for o in (ALL if table is None else table) if o.name == name]
    assert len(hits) == 1, (name, len(hits))
    return hits[0]


def ids(ops):
    return [o.name for o in ops]


def with_arity(keep=None):
    """(name, row, arity) for every elementwise (1) and binary (2) row that
    keep (a filter such as with_torch) keeps."""
    keep = keep or (lambda ops: ops)
    return ([(o.name, o, 1) for o in keep(ELEMENTWISE)] +
            [(o.name, o, 2) for o in keep(BINARY)])


def arity_inputs(o, arity, seed, dtype):
    """Inputs of an elementwise (arity 1) or binary (arity 2, broadcast
    (3, 4) with (4,)) row, in dtype."""
    if arity == 1:
        arrays = [o.sample((3, 4), seed=seed)]
    else:
        arrays = list(o.data((3, 4), (4,), seed=seed))
    return [np.asarray(a, np.float64).astype(dtype) for a in arrays]


def with_sympy(ops=ELEMENTWISE):
    return [o for o in ops if o.sympy is not None]


def with_torch(ops=ELEMENTWISE):
    return [o for o in ops if o.torch is not None]


def fuzzed(ops=ELEMENTWISE):
    return [o for o in ops if o.fuzz]


def special(ops=UNARY + SCALAR):
    return [o for o in ops if o.special]


def bad_inputs():
    """(id, BadInput) for every rejection an op declares (and the other
    spellings of the binary ops and reductions)."""
    out = [("%s: %s" % (o.name, b.name), b) for o in ALL for b in o.bad]
    out += BINARY_ALIAS_BAD
    out += [("%s: %s" % (n, b.name), b) for n, bs in REDUCTION_METHOD_BAD
            for b in bs]
    return out


def records():
    """Every engine (op, kind) some row records."""
    out = set()
    for o in ALL:
        out.update(o.records)
    return out


assert len({o.name for o in ALL}) == len(ALL), "duplicate opdb names"
