"""Higher-order derivatives: the differentiable backward rules
(autodiff/_derivatives.py), autograd.grad(create_graph=True),
backward(create_graph=True), the functional transforms and gradcheck.

1. Every op: the recorded (differentiable) first-order gradient equals the
   fused C backward() in float64, and gradgradcheck passes.
2. (Scalar functions against sympy up to the 4th order: test_oracle_sympy.py.)
3. Hessians, Jacobians, jvp/vjp/hvp and third derivatives against torch.
4. Semantics of the functional API and of autograd.grad.
5. Semantics of gradcheck, gradgradcheck and numerical_grad.
"""
import math
import warnings
import zlib

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as NF
import opdb
from autodiff import _engine as E
from autodiff import autograd
from conftest import assert_close, distinct, mlp, nonzero, sample
from conftest import require_torch

F64 = ad.float64
F32 = ad.float32

# ------------------------------------------------------------------ helpers


def spread(shape, low, high, seed=0, avoid=(), margin=0.05):
    """Evenly spread values over [low, high] (jittered, shuffled), none
    within margin of a point in avoid: every branch of a piecewise
    function gets points."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    step = (high - low) / max(n - 1, 1)
    x = np.linspace(low, high, n) + rng.uniform(-0.3, 0.3, n) * step
    for p in avoid:
        near = np.abs(x - p) < margin
        x = np.where(near, p + np.where(x >= p, 1, -1) * 2 * margin, x)
    return rng.permutation(x).reshape(shape)


def close(actual, expected, kind="rule", dtype=np.float64, msg=""):
    """conftest.assert_close with the tolerances of purpose kind."""
    assert_close(actual, expected, dtype, kind, err_msg=msg)


def t64(a, rg=False):
    return ad.tensor(np.asarray(a, dtype=np.float64), dtype=F64,
                     requires_grad=rg)


# ===================================================== 1. every op, 2nd order
#
# name -> (fn, input arrays, indices of the inputs to differentiate).
# Linear (and piecewise linear) ops are squared after the op: the gradient
# that reaches the op's rule then depends on x, so the second derivative
# runs through the op's recorded rule too.

CASES = {}
KINKS = {}          # name -> kinks its inputs must lie on both sides of


def case(name, fn, inputs, wrt=None, kinks=None):
    assert name not in CASES, name
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    CASES[name] = (fn, inputs, list(range(len(inputs))) if wrt is None
                   else list(wrt))
    if kinks:
        KINKS[name] = kinks


def sq(t):
    return t * t


U_SHAPE = (3, 3)

# ---- unary kinds: every elementwise row of opdb (scalar forms below)
UNARY = [o for o in opdb.UNARY if o.numeric]
for _i, _o in enumerate(UNARY):
    case("unary:" + _o.name, _o.op,
         [spread(U_SHAPE, *_o.domain, seed=_i, avoid=_o.kinks)],
         kinks=_o.kinks)
# relu & co. have zero second derivative; squared, their rules see a
# gradient that depends on x
for _n in ("abs", "relu", "leaky_relu(0.2)", "clip(both)"):
    _o = opdb.by_name(_n)
    case("unary:" + _n + "^2", lambda t, f=_o.op: sq(f(t)),
         [spread(U_SHAPE, -2, 2, seed=50, avoid=_o.kinks)], kinks=_o.kinks)
for _n in ("hardtanh", "relu6", "hardsigmoid"):
    _o = opdb.by_name(_n)
    case("unary:" + _n + "^2", lambda t, f=_o.op: sq(f(t)),
         [spread(U_SHAPE, *_o.domain, seed=51, avoid=_o.kinks)],
         kinks=_o.kinks)

# ---- scalar operand forms: opdb's rows at one constant each, and
# compositions of them
for _j, _o in enumerate(o for o in opdb.SCALAR if o.numeric):
    case("scalar:" + _o.name, _o.op,
         [sample(U_SHAPE, *_o.domain, seed=_j, avoid=_o.kinks)])
case("scalar:c/x(nonzero)", lambda t: 2.5 / t, [nonzero(U_SHAPE, seed=8)])
case("scalar:(x+c)^2", lambda t: sq(t + 1.7), [sample(U_SHAPE, seed=9)])
case("scalar:(c-x)^2", lambda t: sq(0.6 - t), [sample(U_SHAPE, seed=10)])
case("scalar:(x*c)^2", lambda t: sq(t * -1.3), [sample(U_SHAPE, seed=11)])
case("scalar:(x/c)^2", lambda t: sq(t / 2.5), [sample(U_SHAPE, seed=12)])
for _c in opdb.NEG_BASE_EXPONENTS:     # integer exponents, negative base
    case("scalar:x**%r(neg base)" % (_c,), lambda t, c=_c: t ** c,
         [nonzero(U_SHAPE, seed=14)])
case("scalar:x**0 * x", lambda t: t ** 0 * t, [sample(U_SHAPE, seed=15)])
case("scalar:pow(x,1.5)", lambda t: ad.power(t, 1.5),
     [sample(U_SHAPE, 0.5, 2.0, seed=17)])
case("scalar:x.pow(3)", lambda t: t.pow(3), [sample(U_SHAPE, seed=18)])

# ---- binary ops with broadcasting


BINARY = {o.name: (o.op, getattr(o, "data_hi", o.data))
          for o in opdb.BINARY}
LINEAR_BINARY = tuple(o.name for o in opdb.BINARY if o.linear)
PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)),
         ((), (2, 3)), ((2, 3), ()), ((2, 1, 3), (2, 1))]
for _op, (_f, _data) in BINARY.items():
    for _j, (_sa, _sb) in enumerate(PAIRS):
        fn = (lambda a, b, f=_f: sq(f(a, b))) if _op in LINEAR_BINARY \
            else _f
        case("binary:%s%s%s" % (_op, _sa, _sb), fn,
             list(_data(_sa, _sb, seed=10 * _j)))
case("binary:pow(exponent 0)", lambda a, b: a ** b,
     [sample((2, 1), 0.5, 2.0, seed=1), np.array([0.0, 1.5, -1.0])])
case("binary:pow(negative base, integer exponent)", lambda a, b: a ** b,
     [nonzero((2, 3), seed=2), np.array([2.0, 0.0, -1.0])], wrt=[0])
case("binary:x*x", lambda t: t * t, [sample((4,), seed=1)])
case("binary:x/(x+3)", lambda t: t / (t + 3.0), [sample((4,), seed=2)])
case("binary:x**x", lambda t: t ** t, [sample((4,), 0.5, 2.0, seed=3)])
case("binary:maximum(x,x)", lambda t: sq(ad.maximum(t, t)),
     [sample((4,), seed=4)])
case("binary:ndarray*x", lambda t: np.array([1.5, -2.0, 0.5]) * sq(t),
     [sample((2, 3), seed=5)])

# ---- where
_WS = [((3,), (3,), (3,)), ((2, 1), (1, 3), ()), ((3,), (2, 1), (2, 3)),
       ((2, 3), (3,), (2, 1))]
for _j, (_sc, _sx, _sy) in enumerate(_WS):
    _cond = np.random.default_rng(_j).random(_sc) < 0.5
    _cond.reshape(-1)[:2] = [True, False]
    case("where%s%s%s" % (_sc, _sx, _sy),
         lambda a, b, c=_cond: sq(ad.where(c, a, b)),
         [sample(_sx, seed=_j), sample(_sy, seed=_j + 1)])
case("where(x>0,x**2,sin x)",
     lambda t: ad.where(t > 0, t ** 2, ad.sin(t)),
     [spread((3, 3), -2, 2, seed=3, avoid=(0.0,))], kinks=(0.0,))
case("where(x>0,x*x,0)", lambda t: ad.where(t > 0, t * t, 0.0),
     [spread((3, 3), -2, 2, seed=4, avoid=(0.0,))], kinks=(0.0,))
case("where(x>0,2,exp x)", lambda t: ad.where(t > 0, 2.0, ad.exp(t)),
     [spread((3, 3), -2, 2, seed=5, avoid=(0.0,))], kinks=(0.0,))

# ---- reductions
X_RED = distinct((2, 3, 2), seed=7, spacing=0.3)
for _name in ("sum", "mean", "max", "min"):
    _f = getattr(ad, _name)
    for _ax in (None, 1, -1, (0, 2)):
        for _kd in (False, True):
            case("reduce:%s(axis=%r,keepdims=%s)" % (_name, _ax, _kd),
                 lambda t, f=_f, ax=_ax, kd=_kd: sq(f(t, axis=ax,
                                                      keepdims=kd)),
                 [X_RED])
case("reduce:sum(axis=())", lambda t: sq(ad.sum(t, axis=())), [X_RED])
for _ax in (None, 1, -1, (0, 2)):
    for _kd in (False, True):
        case("reduce:prod(axis=%r,keepdims=%s)" % (_ax, _kd),
             lambda t, ax=_ax, kd=_kd: ad.prod(t, axis=ax, keepdims=kd),
             [X_RED])
# zeros: one and two per slice (the rule is torch's safe-zeros product of
# the others, exact there)
_X_ZERO = np.array([[0.0, 1.5, -0.7], [0.0, 0.0, 1.2], [0.4, -1.1, 0.9]])
case("reduce:prod(dim=1) zeros", lambda t: sq(ad.prod(t, 1)), [_X_ZERO])
case("reduce:prod(0-d)", lambda t: sq(ad.prod(t)), [np.array(0.7)])
case("reduce:method amax(dim=0)", lambda t: sq(t.amax(dim=0)), [X_RED])
case("take:sort values", lambda t: sq(ad.sort(t, 1).values), [X_RED])
case("reduce:max(dim=0).values", lambda t: sq(t.max(dim=0).values), [X_RED])
case("reduce:amin(0-d)", lambda t: sq(ad.amin(t)), [np.array(0.7)])
for _name in ("var", "std"):
    _f = getattr(ad, _name)
    for _ax in (None, 1, (0, 2)):
        for _kd in (False, True):
            for _dd in (0, 1):
                case("reduce:%s(axis=%r,keepdims=%s,ddof=%d)"
                     % (_name, _ax, _kd, _dd),
                     lambda t, f=_f, ax=_ax, kd=_kd, dd=_dd: f(
                         t, axis=ax, keepdims=kd, ddof=dd), [X_RED])

# ---- shapes
X234 = sample((2, 3, 4), seed=21)
SHAPE_OPS = {
    "reshape(6,4)": lambda t: t.reshape(6, 4),
    "reshape(-1)": lambda t: ad.reshape(t, (-1,)),
    "reshape(2,12,1)": lambda t: t.reshape((2, 12, 1)),
    "view(4,-1)": lambda t: t.view(4, -1),
    "flatten": ad.flatten,
    "permute(2,0,1)": lambda t: ad.permute(t, (2, 0, 1)),
    "permute(1,2,0)": lambda t: t.permute(1, 2, 0),
    "transpose()": lambda t: ad.transpose(t),
    "transpose(0,2)": lambda t: t.transpose(0, 2),
    "swapaxes(0,-1)": lambda t: ad.swapaxes(t, 0, -1),
    "T of 2-D": lambda t: t.reshape(6, 4).T,
    "expand_dims(0)": lambda t: ad.expand_dims(t, 0),
    "expand_dims(-1)": lambda t: ad.expand_dims(t, -1),
    "unsqueeze(1)": lambda t: t.unsqueeze(1),
    "squeeze()": lambda t: ad.squeeze(t.reshape(1, 6, 1, 4)),
    "squeeze(0)": lambda t: ad.squeeze(t.reshape(1, 6, 1, 4), 0),
    "squeeze((0,2))": lambda t: t.reshape(1, 6, 1, 4).squeeze((0, 2)),
    "broadcast_to(2,2,3,4)": lambda t: ad.broadcast_to(t, (2, 2, 3, 4)),
    "broadcast_to(row)": lambda t: ad.broadcast_to(t[:, :1, :],
                                                   (2, 3, 4)),
    "broadcast_to(0-d)": lambda t: ad.broadcast_to(t[0, 0, 0], (2, 3)),
    "getitem 1": lambda t: t[1],
    "getitem -1": lambda t: t[-1],
    "getitem (0,2)": lambda t: t[0, 2],
    "getitem (1,2,3)": lambda t: t[1, 2, 3],
    "getitem 1:": lambda t: t[:, 1:],
    "getitem ::2": lambda t: t[..., ::2],
    "getitem ::-1": lambda t: t[::-1],
    "getitem (:,1:3,::-2)": lambda t: t[:, 1:3, ::-2],
    "getitem (...,1)": lambda t: t[..., 1],
    "getitem None": lambda t: t[None, 1],
    "getitem int array (repeats)": lambda t: t[:, np.array([0, 2, 2, 1])],
    "getitem negative int array": lambda t: t[np.array([-1, 0, -1])],
    "getitem list": lambda t: t[[1, 0, 1]],
    "getitem 2-D int array": lambda t: t[1, np.array([[0, 1], [2, 2]])],
    "getitem (arr,arr)": lambda t: t[np.array([0, 1, 1]),
                                     np.array([2, 2, 0])],
    "getitem (:,arr)": lambda t: t[:, np.array([1, 1, 0])],
    "getitem tensor index": lambda t: t[:, ad.tensor([2, 0, 2])],
    "getitem bool mask": lambda t: t[X234 > 0],
    "getitem bool 1-D": lambda t: t[:, np.array([True, False, True])],
    "getitem (1,mask2d)": lambda t: t[1, X234[1] < 0],
    "getitem chained": lambda t: t[1:][:, ::2][..., 0],
    "iterate+stack": lambda t: ad.stack([r * float(i + 1)
                                         for i, r in enumerate(t)]),
}
for _n, _f in SHAPE_OPS.items():
    case("shape:" + _n, lambda t, f=_f: sq(f(t)), [X234])
    if _n.startswith("getitem"):
        # indexing a function of x: the scatter records of the gather rule
        # then get an x-dependent gradient at the next order (so the
        # scatter rule's own recording is checked at third order)
        case("shape:" + _n + " of sin(x)", lambda t, f=_f: sq(f(ad.sin(t))),
             [X234])

CONCATS = [([(2, 3), (1, 3)], 0), ([(2, 1), (2, 3), (2, 2)], 1),
           ([(2, 3, 2), (2, 3, 1)], -1), ([(3, 2)], 0), ([(5,), (2,)], 0)]
for _j, (_shapes, _ax) in enumerate(CONCATS):
    case("concatenate%s axis=%d" % (_shapes, _ax),
         lambda *ts, ax=_ax: sq(ad.concatenate(ts, ax)),
         [sample(s, seed=_j * 5 + i) for i, s in enumerate(_shapes)])
case("cat(dim=1)", lambda a, b: sq(ad.cat([a, b], dim=1)),
     [sample((2, 2), seed=1), sample((2, 3), seed=2)])
case("concatenate reuse", lambda t: sq(ad.concatenate([t, t * 2.0, t], 1)),
     [sample((2, 2), seed=3)])
case("concatenate const input",
     lambda a, b: sq(ad.concatenate([a, b], 0)),
     [sample((2, 3), seed=4), sample((1, 3), seed=5)], wrt=[1])
for _ax in (0, 1, -1):
    case("stack axis=%d" % _ax, lambda *ts, ax=_ax: sq(ad.stack(ts, ax)),
         [sample((2, 3), seed=i) for i in range(3)])

# ---- matmul
MATMULS = [((3, 2), (2, 4)), ((2,), (2, 3)), ((3, 2), (2,)), ((3,), (3,)),
           ((2, 3, 2), (2, 2, 4)), ((3, 2), (2, 2, 4)),
           ((1, 3, 2), (2, 2, 4)), ((2, 3, 2), (2, 4)), ((2,), (2, 2, 3)),
           ((2, 1, 3, 2), (3, 2, 2))]
for _j, (_sa, _sb) in enumerate(MATMULS):
    case("matmul%s@%s" % (_sa, _sb), lambda a, b: a @ b,
         [sample(_sa, seed=_j), sample(_sb, seed=_j + 50)])
case("ad.matmul", ad.matmul, [sample((2, 3), seed=1), sample((3, 2), 2)])
case("ad.dot", ad.dot, [sample((3,), seed=1), sample((3, 2), seed=2)])
case("x@x.T", lambda t: t @ t.T, [sample((2, 3), seed=3)])
case("matmul ndarray@x", lambda t: sq(np.array([[1.0, 2.0], [0.5, -1.0]])
                                      @ t), [sample((2, 3), seed=4)])

# ---- linear
case("linear(bias)", ad.linear, [sample((3, 4), seed=1),
                                 sample((2, 4), seed=2),
                                 sample((2,), seed=3)])
case("linear(no bias)", lambda x, w: ad.linear(x, w),
     [sample((3, 4), seed=4), sample((2, 4), seed=5)])
case("linear(3-D input)", ad.linear, [sample((2, 3, 4), seed=6),
                                      sample((2, 4), seed=7),
                                      sample((2,), seed=8)])
case("linear(1-D input)", ad.linear, [sample((4,), seed=9),
                                      sample((3, 4), seed=10),
                                      sample((3,), seed=11)])
case("linear then tanh", lambda x, w, b: ad.tanh(ad.linear(x, w, b)),
     [sample((3, 4), seed=12), sample((2, 4), seed=13),
      sample((2,), seed=14)])
# Sequential's fused Linear + ReLU (piecewise linear: squared)
case("linear_relu", lambda x, w, b: sq(E._linear_relu(x, w, b)),
     [sample((3, 4), seed=15), sample((5, 4), seed=16),
      sample((5,), seed=17)])

# ---- softmax family
for _log in (False, True):
    _f = ad.log_softmax if _log else ad.softmax
    _nm = "log_softmax" if _log else "softmax"
    for _ax in (0, 1, -1):
        case("%s(2,3) axis=%d" % (_nm, _ax), lambda t, f=_f, a=_ax: f(t, a),
             [sample((2, 3), -3, 3, seed=_ax + 5)])
    case("%s(2,3,2) axis=1" % _nm, lambda t, f=_f: f(t, axis=1),
         [sample((2, 3, 2), -3, 3, seed=9)])
    case("%s 1-D" % _nm, _f, [sample((4,), -3, 3, seed=10)])
    case("%s 0-d" % _nm, lambda t, f=_f: sq(f(t) + t), [np.array(0.3)])

# ---- scans
for _ax in (0, 1, -1):
    # times t: cumsum is linear, so its own second derivative is zero
    case("cumsum(2,3) dim=%d" % _ax, lambda t, a=_ax: ad.cumsum(t, a) * t,
         [sample((2, 3), seed=_ax + 20)])
case("cumsum 0-d", lambda t: sq(ad.cumsum(t, 0) + t), [np.array(0.4)])
case("cumsum then square", lambda t: sq(ad.cumsum(t, dim=1)),
     [sample((2, 4), seed=23)])
for _ax in (0, 1, -1):
    case("cumprod(2,3) dim=%d" % _ax, lambda t, a=_ax: ad.cumprod(t, a),
         [sample((2, 3), seed=_ax + 30)])
case("cumprod zeros", lambda t: sq(ad.cumprod(t, 1)),
     [np.array([[0.5, 0.0, 1.3, -0.8], [0.0, 1.1, 0.0, 0.7],
                [1.2, -0.6, 0.9, 0.0]])])
case("cumprod 0-d", lambda t: sq(ad.cumprod(t, 0) + t), [np.array(0.4)])

# ---- the LAPACK decompositions (the engine's linalg op, one kind each)
_EYE3 = np.eye(3)
case("linalg.inv", lambda t: ad.linalg.inv(t + 6.0 * ad.tensor(_EYE3)),
     [sample((3, 3), seed=30)])
case("linalg.solve", lambda a, b: ad.linalg.solve(
    a + 6.0 * ad.tensor(_EYE3), b), [sample((3, 3), seed=31),
                                     sample((3, 2), seed=32)])
case("linalg.det", lambda t: ad.linalg.det(t), [sample((2, 3, 3), seed=33)])
case("linalg.slogdet", lambda t: ad.linalg.slogdet(t).logabsdet,
     [sample((3, 3), seed=34)])
case("linalg.cholesky", lambda t: ad.linalg.cholesky(
    t @ ad.swapaxes(t, -1, -2) + 3.0 * ad.tensor(_EYE3)),
    [sample((3, 3), seed=35)])
case("linalg.eigh", lambda t: ad.linalg.eigh(t + ad.swapaxes(t, -1, -2))
     .eigenvectors ** 2 + 0.0, [sample((3, 3), seed=36)])
case("linalg.qr", lambda t: ad.linalg.qr(t).R ** 2 + 0.0,
     [sample((4, 3), seed=38)])
case("linalg.svd", lambda t: ad.linalg.svd(t, full_matrices=False)
     .U ** 2 + 0.0, [sample((4, 3), seed=39)])
case("linalg.svdvals", lambda t: ad.linalg.svdvals(t),
     [sample((2, 3, 4), seed=40)])
case("linalg.eigvalsh", lambda t: ad.linalg.eigvalsh(
    t + ad.swapaxes(t, -1, -2)), [sample((2, 3, 3), seed=37)])

# ---- convolution (one conv record; its rules record conv and unfold, and
# unfold's rule records fold)
case("conv2d", lambda x, w, b: sq(NF.conv2d(x, w, b, stride=(2, 1),
                                            padding=1, groups=2)),
     [sample((2, 4, 5, 4), seed=40), sample((2, 2, 3, 2), seed=41),
      sample((2,), seed=42)])
case("conv_transpose2d", lambda x, w: sq(NF.conv_transpose2d(
    x, w, stride=2, padding=1, output_padding=1, dilation=(1, 2))),
    [sample((2, 2, 3, 3), seed=43), sample((2, 3, 2, 2), seed=44)])
case("unfold", lambda x: sq(NF.unfold(x, 2, padding=1)),
     [sample((1, 2, 3, 3), seed=45)])
case("fold", lambda x: sq(NF.fold(x, (3, 3), 2)),
     [sample((1, 8, 4), seed=46)])

# ---- pooling
case("avg_pool2d", lambda x: sq(NF.avg_pool2d(x, 3, 2, 1)),
     [sample((1, 2, 5, 4), seed=47)])
case("adaptive_avg_pool2d", lambda x: sq(NF.adaptive_avg_pool2d(x, (2, 3))),
     [sample((1, 2, 5, 4), seed=48)])
case("max_pool2d", lambda x: sq(NF.max_pool2d(x, 2)),
     [sample((1, 2, 4, 4), seed=49)])
case("interpolate bilinear", lambda x: sq(NF.interpolate(
    x, scale_factor=1.5, mode="bilinear")), [sample((1, 2, 3, 4), seed=50)])
case("interpolate nearest", lambda x: sq(NF.interpolate(x, size=(5, 3))),
     [sample((1, 2, 3, 4), seed=51)])

# ---- normalization (one norm record; its rule records the derivative)
case("layer_norm", lambda x, w, b: sq(NF.layer_norm(x, (3,), w, b)),
     [sample((2, 3), seed=50), sample((3,), seed=51), sample((3,), seed=52)])
case("group_norm", lambda x, w, b: sq(NF.group_norm(x, 2, w, b)),
     [sample((2, 4, 2), seed=53), sample((4,), seed=54),
      sample((4,), seed=55)])
case("rms_norm", lambda x, w: sq(NF.rms_norm(x, (2, 2), w)),
     [sample((2, 2, 2), seed=56), sample((2, 2), seed=57)])
case("batch_norm", lambda x, w, b: sq(NF.batch_norm(x, None, None, w, b,
                                                    training=True)),
     [sample((3, 2, 2), seed=58), sample((2,), seed=59),
      sample((2,), seed=60)])

# ---- recurrent cells (one lstm_cell / gru_cell record; the rules record
# the derivative) and a two-step LSTM and GRU through the layers
case("lstm_cell", lambda a, b, c: sq(ad._engine._lstm_cell(a, b, c)),
     [sample((2, 8), seed=61), sample((2, 8), seed=62),
      sample((2, 2), seed=63)])
case("gru_cell", lambda a, b, h: sq(ad._engine._gru_cell(a, b, h)),
     [sample((2, 6), seed=64), sample((2, 6), seed=65),
      sample((2, 2), seed=66)])


def _lstm_seq(x, w_ih, w_hh, b):
    from autodiff import _rnn
    out, (h, c) = _rnn.rnn("LSTM", x, None, [w_ih, w_hh, b, b], 1, True,
                           False, 0.0, False, False, 2)
    return sq(out) + h * c


def _gru_seq(x, w_ih, w_hh, b):
    from autodiff import _rnn
    out, h = _rnn.rnn("GRU", x, None, [w_ih, w_hh, b, b], 1, True,
                      False, 0.0, False, False, 2)
    return sq(out) + h


case("lstm_seq", lambda x, h, c, w, b: sq(ad._engine._lstm_seq(
    x, h, c, w, b, True)), [sample((2, 1, 8), seed=75), sample((1, 2), seed=76),
                          sample((1, 2), seed=77), sample((8, 2), seed=78),
                          sample((8,), seed=79)])
case("gru_seq", lambda x, h, w: sq(ad._engine._gru_seq(x, h, w, None, False)),
     [sample((2, 1, 6), seed=80), sample((1, 2), seed=81),
      sample((6, 2), seed=82)])
case("lstm", _lstm_seq, [sample((2, 1, 3), seed=67), sample((8, 3), seed=68),
                         sample((8, 2), seed=69), sample((8,), seed=70)])
case("gru", _gru_seq, [sample((2, 1, 3), seed=71), sample((6, 3), seed=72),
                       sample((6, 2), seed=73), sample((6,), seed=74)])

# ---- losses
LOSS_SHAPE = (2, 3)


def _loss_data(name, seed):
    return opdb.loss(name).data(LOSS_SHAPE, seed)


for _j, _lo in enumerate(opdb.LOSSES):
    _n, _f = _lo.name, _lo.op
    for _r in opdb.LOSS_REDUCTIONS:
        fn = (lambda p, t, f=_f, r=_r: f(p, t, reduction=r))
        if getattr(_lo, "linear", False):  # piecewise linear: squared
            fn = (lambda p, t, f=_f, r=_r: sq(f(p, t, reduction=r)))
        case("loss:%s(%s)" % (_n, _r), fn, list(_loss_data(_n, seed=_j)))
    case("loss:%s(default)" % _n, _f, list(_loss_data(_n, seed=_j + 7)))

CE_LOGITS = opdb.CLASS_LOGITS
LABELS = opdb.CLASS_LABELS
LABELS_IGN = opdb.CLASS_LABELS_IGNORED
for _cl in opdb.CLASS_LOSSES:
    _n, _f = _cl.name, _cl.op
    for _r in opdb.LOSS_REDUCTIONS:
        case("loss:%s(%s)" % (_n, _r),
             lambda x, f=_f, r=_r: sq(f(x, LABELS, reduction=r)),
             [CE_LOGITS])
        case("loss:%s(%s, ignored -100)" % (_n, _r),
             lambda x, f=_f, r=_r: sq(f(x, LABELS_IGN, reduction=r)),
             [CE_LOGITS])
        case("loss:%s(%s, ignore_index=1)" % (_n, _r),
             lambda x, f=_f, r=_r: sq(f(x, LABELS, reduction=r,
                                        ignore_index=1)),
             [CE_LOGITS])
        case("loss:%s(%s, single sample)" % (_n, _r),
             lambda x, f=_f, r=_r: sq(f(x, 2, reduction=r)), [CE_LOGITS[1]])
    case("loss:%s(tensor labels)" % _n,
         lambda x, f=_f: sq(f(x, ad.tensor(LABELS.astype(np.float64)))),
         [CE_LOGITS])
for _r in ("mean", "sum", "none"):
    case("loss:nll_loss(log_softmax, %s)" % _r,
         lambda x, r=_r: ad.nll_loss(ad.log_softmax(x, 1), LABELS,
                                     reduction=r), [CE_LOGITS])
    _probs = np.exp(CE_LOGITS[::-1] * 0.5)
    _probs /= _probs.sum(1, keepdims=True)
    case("loss:cross_entropy(probs, %s)" % _r,
         lambda x, p, r=_r: ad.cross_entropy(x, p, reduction=r),
         [CE_LOGITS, _probs])
case("loss:cross_entropy(probs ndarray)",
     lambda x: ad.cross_entropy(x, np.full((5, 4), 0.25)), [CE_LOGITS])
# the nll op's class weights, label smoothing and (N, C, d) inputs
CE_WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
CE_LOGITS_3D = sample((3, 4, 2), -3, 3, seed=75)
LABELS_3D = np.array([[0, 3], [-100, 1], [2, 2]])
for _r in ("mean", "sum", "none"):
    case("loss:cross_entropy(weight, smoothing, %s)" % _r,
         lambda x, r=_r: sq(ad.cross_entropy(
             x, LABELS_IGN, weight=ad.tensor(CE_WEIGHT), reduction=r,
             label_smoothing=0.2)), [CE_LOGITS])
    case("loss:cross_entropy((N, C, d), weight, smoothing, %s)" % _r,
         lambda x, r=_r: sq(ad.cross_entropy(
             x, LABELS_3D, weight=ad.tensor(CE_WEIGHT), reduction=r,
             label_smoothing=0.1)), [CE_LOGITS_3D])
    case("loss:nll_loss((N, C, d), weight, %s)" % _r,
         lambda x, r=_r: sq(ad.nll_loss(
             x, LABELS_3D, weight=ad.tensor(CE_WEIGHT), reduction=r)),
         [CE_LOGITS_3D])


# ---- dropout (a fixed rng state) and custom Functions whose backward is
# written with ops

Cube, ScaledMul = opdb.Cube, opdb.ScaledMul
case("dropout", lambda t: opdb.dropout_fixed(t) * t, [sample((3, 4), seed=5)])
case("dropout(0.9)", lambda t: ad.sin(opdb.dropout_fixed(t, 0.9)),
     [sample((20,), seed=6)])


case("custom:Cube", lambda t: Cube.apply(t), [sample((4,), seed=1)])
case("custom:sin(Cube)", lambda t: ad.sin(Cube.apply(t)),
     [sample((4,), seed=2)])
case("custom:ScaledMul", lambda a, b: ScaledMul.apply(a, 1.5, b),
     [sample((2, 3), seed=3), sample((3,), seed=4)[None].repeat(2, 0)])

# ---- compositions


case("composite:mlp", mlp, [sample((4, 3), seed=1), sample((3, 2), seed=2),
                             sample((2,), seed=3), sample((2, 3), seed=4)],
     wrt=[1, 2, 3])
case("composite:reuse",
     lambda x, y: (x * ad.exp(-x) + (x ** 2).mean(0)).sum(1) * 0.5
     + ad.where(x > 0, ad.sigmoid(x * y), x / y).max(1) + ad.var(x * y, 1),
     [sample((3, 4), seed=5, avoid=(0,)), nonzero((3, 4), seed=6)])


CASE_IDS = sorted(CASES)


def _leaves(inputs, wrt):
    return [t64(a, i in wrt) for i, a in enumerate(inputs)]


def _weights(shape, name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))   # stable
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name", CASE_IDS)
def test_first_order_create_graph_matches_c_backward(name):
    fn, inputs, wrt = CASES[name]
    ts = _leaves(inputs, wrt)
    out = fn(*ts)
    assert out.dtype == np.float64
    w = t64(_weights(out.shape, name))
    loss = (out * w).sum()
    diff = [ts[i] for i in wrt]
    gs = autograd.grad(loss, diff, create_graph=True)
    assert len(gs) == len(diff)
    loss.backward()                 # the fused C sweep, on the same graph
    for i, t, g in zip(wrt, diff, gs):
        assert isinstance(g, ad.Tensor)
        assert g.shape == t.shape and g.dtype == t.dtype, (i, g.shape)
        assert t.grad is not None
        close(g, t.grad, msg="%s: input %d" % (name, i))
    if name not in ZERO_GRAD:
        assert any(np.any(g.numpy() != 0) for g in gs)


# d/dx x**0 = 0; the steps (floor, sign, ...): 0 away from their steps
ZERO_GRAD = {"scalar:x**0"} | {"unary:" + o.name for o in UNARY
                               if getattr(o, "zero_grad", False)}


@pytest.mark.parametrize("name", CASE_IDS)
def test_gradgradcheck(name):
    fn, inputs, wrt = CASES[name]
    ts = _leaves(inputs, wrt)
    with ad.no_grad():
        shape = fn(*ts).shape
    # weights of the output: a random v, itself differentiated (so the
    # check covers d/dv of the recorded vᵀJ as well as d/dx)
    v = t64(_weights(shape, name), rg=True)
    assert ad.gradgradcheck(fn, ts, grad_outputs=[v])


@pytest.mark.parametrize("name", CASE_IDS)
def test_second_order_autograd_grad_matches_c_backward(name):
    """The recorded first-order graph, differentiated again by the Python
    walk (autograd.grad) and by the C sweep (backward): the same.  This is
    where the rules of ops that only appear inside other rules (scatter,
    from the gather rule) run."""
    fn, inputs, wrt = CASES[name]
    ts = _leaves(inputs, wrt)
    out = fn(*ts)
    loss = (out * t64(_weights(out.shape, name))).sum()
    diff = [ts[i] for i in wrt]
    gs = autograd.grad(loss, diff, create_graph=True)
    rng = np.random.default_rng(7)
    s = None
    for g in gs:
        if g.requires_grad:
            term = (g * t64(rng.standard_normal(g.shape))).sum()
            s = term if s is None else s + term
    if s is None:
        # the gradient does not depend on the inputs: nothing to recurse
        assert name in LINEAR_CASES, name
        return
    hs = autograd.grad(s, diff, create_graph=True, allow_unused=True)
    s.backward()
    for i, t, h in zip(wrt, diff, hs):
        if h is None:
            assert t.grad is None or not np.any(t.grad.numpy()), (name, i)
            continue
        assert h.shape == t.shape
        close(h, t.grad, msg="%s: input %d" % (name, i))


@pytest.mark.parametrize("name", CASE_IDS)
def test_third_order_gradcheck(name):
    """Finite differences of the second-order gradient (recorded by the
    Python walk) against its C backward: every rule's output, at every
    order, is itself recorded with the right derivative."""
    fn, inputs, wrt = CASES[name]
    ts = _leaves(inputs, wrt)
    with ad.no_grad():
        w = t64(_weights(fn(*ts).shape, name))
    rng = np.random.default_rng(11)
    us = [t64(rng.standard_normal(ts[i].shape)) for i in wrt]

    def second(*xs):
        diff = [xs[i] for i in wrt]
        gs = autograd.grad((fn(*xs) * w).sum(), diff, create_graph=True)
        s = None
        for g, u in zip(gs, us):
            if g.requires_grad:
                term = (g * u).sum()
                s = term if s is None else s + term
        if s is None:
            return tuple(ad.zeros_like(t) for t in diff)
        hs = autograd.grad(s, diff, create_graph=True, allow_unused=True)
        return tuple(ad.zeros_like(t) if h is None else h
                     for h, t in zip(hs, diff))

    assert ad.gradcheck(second, ts)


# cases whose gradient does not depend on the input
LINEAR_CASES = ({"unary:" + o.name for o in UNARY if o.linear}
                | {"scalar:" + o.name for o in opdb.SCALAR if o.linear}
                | {"loss:l1_loss(default)"})


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kinked_cases_sample_every_branch(name):
    """The inputs of piecewise cases really exercise every branch (and stay
    away from the kinks, where no derivative exists)."""
    x = CASES[name][1][0]
    edges = [-np.inf] + sorted(KINKS[name]) + [np.inf]
    for lo, hi in zip(edges[:-1], edges[1:]):
        assert ((x > lo) & (x < hi)).any(), (name, lo, hi)
    for k in KINKS[name]:
        assert np.min(np.abs(x - k)) > 0.01


def test_every_op_code_has_a_case_and_a_rule():
    """Each op code of the engine (and each unary/binary/loss kind) is
    recorded by at least one case above, and has a differentiable rule."""
    from autodiff import _engine as E
    from autodiff._derivatives import RULES
    assert set(RULES) == set(E.OPS) - E.NONDIFF_OPS
    assert E.NONDIFF_OPS == {"compare", "bitwise", "argreduce", "argsort",
                             "cumarg", "pool_argmax"}
    seen = set()

    def visit(t, acc):
        stack, done = [t], set()
        while stack:
            u = stack.pop()
            k = E._node_key(u)
            if k in done:
                continue
            done.add(k)
            node = E._node(u)
            if node is None:
                continue
            acc.add((node.op, node.kind if node.op in (
                "unary", "binary", "loss") else None))
            stack.extend(x for x in node.inputs if x.requires_grad)

    for name in CASE_IDS:
        fn, inputs, wrt = CASES[name]
        ts = _leaves(inputs, wrt)
        out = fn(*ts)
        visit(out, seen)
        # the recorded first-order graph (e.g. scatter, from gather's rule)
        gs = autograd.grad((out * t64(_weights(out.shape, name))).sum(),
                           [ts[i] for i in wrt], create_graph=True)
        for g in gs:
            if g.requires_grad:
                visit(g, seen)
    # casts are covered by their own tests below
    x = t64([1.0], True)
    visit(x.astype(F32).astype(F64), seen)
    need = {(op, k) for op in ("unary", "binary", "loss")
            for k in E.KINDS[op]}
    need |= {(op, None) for op in E.OPS
             if op not in ("unary", "binary", "loss")
             and op not in E.NONDIFF_OPS}
    assert need <= seen, sorted(need - seen)


def _nest(transform, f, n):
    for _ in range(n):
        f = transform(f)
    return f


def test_pow_mixed_partials_at_zero_exponent_are_symmetric():
    """d2/dydx x**y = x**(y-1) (1 + y log x) is 1/x at y = 0: the Hessian
    is symmetric there (a constant y == 0 mask in the x-rule lost it)."""
    H = ad.hessian(lambda v: v[0] ** v[1])(np.array([2.0, 0.0]))
    close(H, [[0.0, 0.5], [0.5, math.log(2.0) ** 2]], "rule_edge")
    assert ad.grad(ad.grad(lambda a, b: a ** b, 0), 1)(2.0, 0.0) == 0.5
    assert ad.grad(ad.grad(lambda a, b: a ** b, 1), 0)(2.0, 0.0) == 0.5
    # 0 ** 0 == 1 for every exponent path: derivatives 0 in x, no nan
    b0 = t64(0.0)
    for k in (1, 2, 3):
        d = _nest(ad.grad, lambda a: a ** b0, k)(0.0)
        assert d == 0.0, (k, d)
    # 0 ** 2: d/dx = 0, d2/dx2 = 2, d/dy = 0 (0 * log 0 taken as 0)
    b2 = t64(2.0)
    assert ad.grad(lambda a: a ** b2)(0.0) == 0.0
    assert ad.grad(ad.grad(lambda a: a ** b2))(0.0) == 2.0
    assert ad.grad(lambda e: t64(0.0) ** e)(2.0) == 0.0


# first-order gradients of the recorded rules equal the C kernels bit for
# bit (or as nan where C gives nan) at extreme and edge values
EXTREMES = {
    "sigmoid": (ad.sigmoid, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "tanh": (ad.tanh, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "gelu": (ad.gelu, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "silu": (ad.silu, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "selu": (ad.selu, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "elu": (ad.elu, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "softplus": (ad.softplus, [[-1000.0, -30.0, 20.0, 30.0, 1000.0]]),
    "softplus(beta=3)": (lambda t: ad.softplus(t, beta=3.0),
                         [[-1000.0, 1000.0, 20.0 / 3]]),
    "erf": (ad.erf, [[-30.0, 30.0]]),
    "mish": (NF.mish, [[-1000.0, -30.0, 20.0, 30.0, 1000.0]]),
    "logsigmoid": (NF.logsigmoid, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "celu": (lambda t: NF.celu(t, 0.5), [[-1000.0, -30.0, 30.0, 1000.0]]),
    "softsign": (NF.softsign, [[-1e300, -30.0, 30.0, 1e300]]),
    "tanhshrink": (NF.tanhshrink, [[-1000.0, -30.0, 30.0, 1000.0]]),
    "hardswish": (NF.hardswish, [[-1000.0, -3.0, 3.0, 1000.0]]),
    "exp": (ad.exp, [[-1000.0, 700.0]]),
    "log": (ad.log, [[1e-300, 1e300]]),
    "sqrt": (ad.sqrt, [[1e-300, 1e300]]),
    "2**x": (lambda t: 2.0 ** t, [[-1000.0, 1000.0]]),
    "relu/abs/clip at kinks": (
        lambda t: ad.relu(t) + ad.abs(t) * 2.0 + ad.clip(t, 0.0, 1.0) * 3.0,
        [[0.0, 1.0, -0.0]]),
    "x**0 at 0": (lambda t: t ** 0, [[0.0, 2.0]]),
    "pow edges": (lambda a, b: a ** b, [[0.0, 0.0, 1.5, 0.0, 2.0],
                                        [2.0, 0.0, 0.0, 3.0, 1.0]]),
    "max ties": (lambda t: ad.amax(t, 1), [[[1.0, 3.0, 3.0, 0.0],
                                           [2.0, 2.0, 2.0, 2.0]]]),
    "min ties all": (lambda t: ad.min(t), [[[1.0, 1.0], [1.0, 1.0]]]),
    "maximum ties": (ad.maximum, [[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]]),
    "minimum ties": (ad.minimum, [[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]]),
    "bce at 0 and 1": (
        lambda a, b: ad.binary_cross_entropy(a, b, reduction="none"),
        [[0.0, 1.0, 0.0, 1.0, 0.5, 1e-300], [0.0, 1.0, 1.0, 0.0, 0.3, 1.0]]),
    "bce_with_logits extremes": (
        lambda a, b: ad.binary_cross_entropy_with_logits(a, b, "none"),
        [[-1000.0, 1000.0, -1000.0, 1000.0, -40.0, 40.0],
         [0.0, 1.0, 1.0, 0.0, 0.5, 0.5]]),
    "softmax extremes": (lambda t: ad.softmax(t, 1),
                         [[[1000.0, -1000.0, 0.0], [-50.0, -50.0, -50.0]]]),
    "log_softmax extremes": (lambda t: ad.log_softmax(t, 1),
                             [[[1000.0, -1000.0, 0.0],
                               [-50.0, -50.0, -50.0]]]),
    "cross_entropy large logits": (
        lambda t: ad.cross_entropy(t, [2, 1], reduction="none"),
        [[[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]]]),
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_first_order_matches_c_at_extremes(name):
    fn, arrays = EXTREMES[name]
    ts = [t64(a, True) for a in arrays]
    out = fn(*ts)
    w = t64(_weights(out.shape, name))
    loss = (out * w).sum()
    gs = autograd.grad(loss, ts, create_graph=True)
    loss.backward()
    for t, g in zip(ts, gs):
        a, c = g.numpy(), t.grad.numpy()
        np.testing.assert_array_equal(np.isnan(a), np.isnan(c))
        np.testing.assert_array_equal(np.isinf(a), np.isinf(c))
        fin = np.isfinite(c)
        close(a[fin], c[fin], "rule_edge", msg=name)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "gelu", "silu", "selu",
                                  "elu", "softplus", "erf", "mish",
                                  "logsigmoid", "celu", "tanhshrink",
                                  "bce_with_logits extremes",
                                  "softmax extremes", "log_softmax extremes",
                                  "cross_entropy large logits"])
def test_second_order_at_extremes_matches_torch(name, torch):
    """Saturated activations and losses: finite second derivatives, the
    same as torch's (no inf * 0 from a branch not taken)."""
    F = torch.nn.functional
    ref = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
           "silu": F.silu, "selu": F.selu, "elu": F.elu,
           "softplus": F.softplus, "erf": torch.erf, "mish": F.mish,
           "logsigmoid": F.logsigmoid, "tanhshrink": F.tanhshrink,
           "celu": lambda t: F.celu(t, 0.5),
           "bce_with_logits extremes":
               lambda a, b: F.binary_cross_entropy_with_logits(
                   a, b, reduction="none"),
           "softmax extremes": lambda t: torch.softmax(t, 1),
           "log_softmax extremes": lambda t: torch.log_softmax(t, 1),
           "cross_entropy large logits": lambda t: F.cross_entropy(
               t, torch.tensor([2, 1]), reduction="none")}[name]
    fn, arrays = EXTREMES[name]
    if name in ("softplus", "selu", "elu", "gelu", "silu", "sigmoid",
                "tanh", "mish", "logsigmoid", "celu", "tanhshrink"):
        # not at softplus' exact threshold (x * beta == 20), where torch's
        # double backward takes the linear branch but its forward not
        arrays = [[-1000.0, -30.0, -3.0, 3.0, 30.0, 1000.0]]
    if name == "mish":
        # torch's second derivative of mish is NaN at 1000 (its exp(x)
        # overflows); autodiff's is 0 there (test_mish_saturates below)
        arrays = [[-1000.0, -30.0, -3.0, 3.0, 30.0, 80.0]]
    ts = [t64(a, True) for a in arrays]
    tts = [tt(torch, a, True) for a in arrays]
    rng = np.random.default_rng(3)
    oa, ot = fn(*ts), ref(*tts)
    w = rng.standard_normal(oa.shape)
    ga = autograd.grad((oa * t64(w)).sum(), ts, create_graph=True)
    gt = torch.autograd.grad((ot * tt(torch, w)).sum(), tts,
                             create_graph=True)
    us = [rng.standard_normal(np.shape(a)) for a in arrays]
    sa = sum((g * t64(u)).sum() for g, u in zip(ga, us))
    st = sum((g * tt(torch, u)).sum() for g, u in zip(gt, us))
    ha = autograd.grad(sa, ts, allow_unused=True)
    ht = torch.autograd.grad(st, tts, allow_unused=True)
    for h, r in zip(ha, ht):
        h = np.zeros(r.shape) if h is None else h.numpy()
        assert np.all(np.isfinite(h)), (name, h)
        close(h, r.numpy(), "rule_torch", msg=name)


def test_mish_saturates_at_every_order():
    """mish(x) = x for large x: derivatives 1, 0, 0 (no inf * 0 from its
    exp(x) overflowing), and 0 for very negative x."""
    f = lambda t: NF.mish(t).sum()
    x = t64([-1000.0, 1000.0], True)
    g1 = autograd.grad(f(x), [x], create_graph=True)[0]
    g2 = autograd.grad(g1.sum(), [x], create_graph=True)[0]
    g3 = autograd.grad(g2.sum(), [x])[0]
    np.testing.assert_array_equal(g1.numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(g2.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(g3.numpy(), [0.0, 0.0])


# ---- casts: float32 <-> float64 (gradgradcheck's finite differences are
# meaningless through a float32 rounding, so the second derivative is
# checked against its closed form)

@pytest.mark.parametrize("src,dst", [(F32, F64), (F64, F32)],
                         ids=["f32->f64", "f64->f32"])
def test_cast_first_and_second_order(src, dst):
    x0 = sample((2, 3), seed=3)
    w = _weights((2, 3), "cast")
    u = _weights((2, 3), "cast-u")
    x = ad.tensor(x0, dtype=src, requires_grad=True)
    y = x.astype(dst)
    assert y.dtype == np.dtype(dst)
    loss = (y ** 3 * ad.tensor(w, dtype=dst)).sum()
    g, = autograd.grad(loss, x, create_graph=True)
    assert g.dtype == np.dtype(src) and g.requires_grad
    loss.backward(retain_graph=True)
    close(g, x.grad, "cast")
    xr = x.numpy().astype(np.float64)
    close(g, 3 * w * xr ** 2, "cast")
    h, = autograd.grad((g * ad.tensor(u, dtype=src)).sum(), x,
                       create_graph=True)
    assert h.dtype == np.dtype(src)
    close(h, 6 * w * u * xr, "cast")
    h3, = autograd.grad(h.sum(), x)
    close(h3, 6 * w * u, "cast")


def test_cast_round_trip_inside_float64_graph():
    x = t64(sample((4,), seed=5), True)
    y = x.astype(F32).astype(F64)
    loss = (ad.sin(y) * y).sum()
    g, = autograd.grad(loss, x, create_graph=True)
    yr = x.numpy().astype(np.float32).astype(np.float64)
    close(g, np.cos(yr) * yr + np.sin(yr), "cast")
    h, = autograd.grad(g.sum(), x)
    assert h.dtype == np.float64
    close(h, -np.sin(yr) * yr + 2 * np.cos(yr), "cast")


# ================================================= 3. torch as the oracle

@pytest.fixture(scope="module")
def torch():
    return require_torch()


def tt(torch, a, rg=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64,
                        requires_grad=rg)


_rng = np.random.default_rng(2024)
X_MLP = _rng.standard_normal((5, 3))
Y_MLP = _rng.standard_normal((5, 2))
LAB_MLP = np.array([0, 2, 1, 1, 3])
A_QUAD = _rng.standard_normal((5, 5))


def _unpack(theta, shapes):
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(theta[i:i + n].reshape(s))
        i += n
    return out


MLP_SHAPES = [(3, 4), (4,), (4, 2)]
LIN_SHAPES = [(4, 3), (4,)]


def mlp_mse(lib):
    def f(theta):
        w1, b1, w2 = _unpack(theta, MLP_SHAPES)
        if lib == "ad":
            h = ad.tanh(t64(X_MLP) @ w1 + b1)
            return ad.mean((h @ w2 - t64(Y_MLP)) ** 2)
        import torch
        h = torch.tanh(torch.tensor(X_MLP) @ w1 + b1)
        return torch.mean((h @ w2 - torch.tensor(Y_MLP)) ** 2)
    return f, 12 + 4 + 8


def linear_softmax_ce(lib):
    def f(theta):
        w, b = _unpack(theta, LIN_SHAPES)
        if lib == "ad":
            return ad.cross_entropy(ad.linear(t64(X_MLP), w, b), LAB_MLP)
        import torch
        return torch.nn.functional.cross_entropy(
            torch.nn.functional.linear(torch.tensor(X_MLP), w, b),
            torch.tensor(LAB_MLP))
    return f, 16


def mlp_softplus_ce(lib):
    def f(theta):
        w1, b1, w2 = _unpack(theta, MLP_SHAPES)
        if lib == "ad":
            h = ad.softplus(t64(X_MLP) @ w1 + b1)
            return ad.cross_entropy(ad.log_softmax(h @ w2, 1) * 2.0,
                                    LAB_MLP % 2, reduction="sum")
        import torch
        F = torch.nn.functional
        h = F.softplus(torch.tensor(X_MLP) @ w1 + b1)
        return F.cross_entropy(F.log_softmax(h @ w2, 1) * 2.0,
                               torch.tensor(LAB_MLP % 2), reduction="sum")
    return f, 24


def quad_form(lib):
    def f(x):
        if lib == "ad":
            return x @ (t64(A_QUAD) @ x)
        import torch
        return x @ (torch.tensor(A_QUAD) @ x)
    return f, 5


def log_sum_exp(lib):
    def f(x):
        if lib == "ad":
            return ad.log(ad.sum(ad.exp(x)))
        import torch
        return torch.logsumexp(x, 0)
    return f, 6


def sigmoid_bce(lib):
    def f(x):
        t = np.linspace(0.1, 0.9, 6)
        if lib == "ad":
            return ad.binary_cross_entropy(ad.sigmoid(x), t64(t)) + \
                ad.std(x * x)
        import torch
        F = torch.nn.functional
        return F.binary_cross_entropy(torch.sigmoid(x), torch.tensor(t)) + \
            torch.std(x * x, correction=0)
    return f, 6


HESS_FUNCS = {"mlp_mse": mlp_mse, "linear_softmax_ce": linear_softmax_ce,
              "mlp_softplus_ce": mlp_softplus_ce, "x^T A x": quad_form,
              "logsumexp": log_sum_exp, "sigmoid_bce+std": sigmoid_bce}


@pytest.mark.parametrize("name", list(HESS_FUNCS))
def test_hessian_matches_torch(name, torch):
    fa, n = HESS_FUNCS[name]("ad")
    ft, _ = HESS_FUNCS[name]("torch")
    theta = np.random.default_rng(len(name)).standard_normal(n) * 0.7
    H = ad.hessian(fa)(theta)
    assert isinstance(H, np.ndarray) and H.shape == (n, n)
    Ht = torch.autograd.functional.hessian(ft, tt(torch, theta)).numpy()
    close(H, Ht, "rule_torch", msg=name)
    close(H, H.T, "rule_torch")
    if name == "x^T A x":
        close(H, A_QUAD + A_QUAD.T)
    # the gradient as well, and a Tensor argument gives a Tensor Hessian
    g = ad.grad(fa)(theta)
    xt = tt(torch, theta, True)
    ft(xt).backward()
    close(g, xt.grad.numpy(), "hessian")
    Ht2 = ad.hessian(fa)(t64(theta))
    assert isinstance(Ht2, ad.Tensor) and Ht2.dtype == np.float64
    close(Ht2, H, "exact")


def _jac_f1(lib):
    M = np.arange(12.0).reshape(3, 4) / 7 - 0.8
    if lib == "ad":
        return lambda x: ad.softmax(x @ t64(M))
    import torch
    return lambda x: torch.softmax(x @ torch.tensor(M), 0)


def _jac_f2(lib):
    if lib == "ad":
        return lambda x: ad.tanh(x) * ad.flatten(x.reshape(2, 2).T) \
            + x.sum() * ad.sin(x)
    import torch
    return lambda x: torch.tanh(x) * x.reshape(2, 2).T.flatten() \
        + x.sum() * torch.sin(x)


def _jac_f3(lib):
    if lib == "ad":
        return lambda x: ad.stack([x[0] * x[1], ad.exp(x[2]) / x[0],
                                   (x ** 2).mean()]).reshape(3, 1)
    import torch
    return lambda x: torch.stack([x[0] * x[1], torch.exp(x[2]) / x[0],
                                  (x ** 2).mean()]).reshape(3, 1)


JAC_FUNCS = {"softmax(xM)": (_jac_f1, 3), "tanh*perm+sum*sin": (_jac_f2, 4),
             "stack": (_jac_f3, 3)}


@pytest.mark.parametrize("name", list(JAC_FUNCS))
def test_jacobian_matches_torch(name, torch):
    make, n = JAC_FUNCS[name]
    x = np.random.default_rng(n).uniform(0.5, 1.5, n)
    J = ad.jacobian(make("ad"))(x)
    Jt = torch.autograd.functional.jacobian(make("torch"),
                                            tt(torch, x)).numpy()
    assert J.shape == Jt.shape
    close(J, Jt, "rule")
    # the Jacobian of the Jacobian (second derivatives)
    JJ = ad.jacobian(ad.jacobian(make("ad")))(x)
    JJt = torch.autograd.functional.jacobian(
        lambda u: torch.autograd.functional.jacobian(make("torch"), u,
                                                     create_graph=True),
        tt(torch, x)).numpy()
    close(JJ, JJt, "hessian")


def test_jacobian_of_two_arguments_matches_torch(torch):
    a = np.random.default_rng(1).standard_normal((2, 3))
    b = np.random.default_rng(2).standard_normal((3, 2))
    Ja, Jb = ad.jacobian(lambda p, q: ad.tanh(p @ q), argnums=(0, 1))(a, b)
    Ta, Tb = torch.autograd.functional.jacobian(
        lambda p, q: torch.tanh(p @ q), (tt(torch, a), tt(torch, b)))
    assert Ja.shape == (2, 2, 2, 3) and Jb.shape == (2, 2, 3, 2)
    close(Ja, Ta.numpy())
    close(Jb, Tb.numpy())
    # negative argnums picks the last argument
    Jb2 = ad.jacobian(lambda p, q: ad.tanh(p @ q), argnums=-1)(a, b)
    close(Jb2, Jb, "exact")


def _fxy(lib):
    if lib == "ad":
        return lambda x, y: ad.sin(x) * y + ad.exp(x * y[::-1]) * 0.5
    import torch
    return lambda x, y: torch.sin(x) * y + torch.exp(x * y.flip(0)) * 0.5


def test_jvp_vjp_match_torch(torch):
    rng = np.random.default_rng(3)
    x, y, tx, ty, v = (rng.standard_normal(3) for _ in range(5))
    out, tan = ad.jvp(_fxy("ad"), (x, y), (tx, ty))
    to, ttan = torch.autograd.functional.jvp(
        _fxy("torch"), (tt(torch, x), tt(torch, y)),
        (tt(torch, tx), tt(torch, ty)))
    assert isinstance(out, np.ndarray) and isinstance(tan, np.ndarray)
    close(out, to.numpy())
    close(tan, ttan.numpy())
    out2, vjp_fn = ad.vjp(_fxy("ad"), x, y)
    gx, gy = vjp_fn(v)
    to2, (tgx, tgy) = torch.autograd.functional.vjp(
        _fxy("torch"), (tt(torch, x), tt(torch, y)), tt(torch, v))
    close(out2, to2.numpy())
    close(gx, tgx.numpy())
    close(gy, tgy.numpy())
    # vjp_fn can be called again with another cotangent
    gx2, _ = vjp_fn(2 * v)
    close(gx2, 2 * tgx.numpy())
    # jvp of a one-argument function with Tensor primals gives Tensors
    o3, t3 = ad.jvp(lambda a: ad.tanh(a) * a, (t64(x),), (t64(tx),))
    assert isinstance(t3, ad.Tensor) and not t3.requires_grad
    to3, tt3 = torch.autograd.functional.jvp(
        lambda a: torch.tanh(a) * a, tt(torch, x), tt(torch, tx))
    close(t3, tt3.numpy())
    with pytest.raises(ValueError):
        vjp_fn(np.ones(4))


def test_hvp_matches_torch(torch):
    fa, n = mlp_mse("ad")
    ft, _ = mlp_mse("torch")
    rng = np.random.default_rng(4)
    theta, v = rng.standard_normal(n) * 0.5, rng.standard_normal(n)
    val, hv = ad.hvp(fa, theta, v)
    tval, thv = torch.autograd.functional.hvp(ft, tt(torch, theta),
                                              tt(torch, v))
    assert isinstance(val, np.ndarray) and val.shape == ()   # like theta
    close(val, tval.item())
    vf, hf = ad.hvp(lambda x: x ** 3, 1.5, 2.0)      # floats give floats
    assert type(vf) is float and type(hf) is float
    assert (vf, hf) == (1.5 ** 3, 6 * 1.5 * 2.0)
    close(hv, thv.numpy(), "hessian")
    close(hv, ad.hessian(fa)(theta) @ v, "hessian")
    # two inputs
    f2 = lambda a, b: ad.sum(ad.sin(a) * b * b)
    a, b, va, vb = (rng.standard_normal(3) for _ in range(4))
    val2, (ha, hb) = ad.hvp(f2, (a, b), (va, vb))
    tv2, (tha, thb) = torch.autograd.functional.hvp(
        lambda p, q: torch.sum(torch.sin(p) * q * q),
        (tt(torch, a), tt(torch, b)), (tt(torch, va), tt(torch, vb)))
    close(val2, tv2.item())
    close(ha, tha.numpy())
    close(hb, thb.numpy())


def _third_fn(lib):
    A = np.array([[0.5, -1.0, 0.3], [0.2, 0.4, -0.7], [1.1, 0.0, 0.6]])
    if lib == "ad":
        def f(x):
            h = ad.tanh(x) ** 2 * ad.sin(t64(A) @ x)
            return (h * ad.softmax(x * x)).sum() + ad.log(1.0 + x * x).mean()
        return f
    import torch

    def f(x):
        h = torch.tanh(x) ** 2 * torch.sin(torch.tensor(A) @ x)
        return (h * torch.softmax(x * x, 0)).sum() + \
            torch.log(1.0 + x * x).mean()
    return f


def test_third_order_create_graph_matches_torch(torch):
    rng = np.random.default_rng(5)
    x0, u, v = (rng.standard_normal(3) for _ in range(3))
    xa = t64(x0, True)
    ya = _third_fn("ad")(xa)
    g1, = autograd.grad(ya, xa, create_graph=True)
    g2, = autograd.grad((g1 * t64(u)).sum(), xa, create_graph=True)
    g3, = autograd.grad((g2 * t64(v)).sum(), xa, create_graph=True)
    g4, = autograd.grad(g3.sum(), xa)
    xt = tt(torch, x0, True)
    yt = _third_fn("torch")(xt)
    t1, = torch.autograd.grad(yt, xt, create_graph=True)
    t2, = torch.autograd.grad((t1 * tt(torch, u)).sum(), xt,
                              create_graph=True)
    t3, = torch.autograd.grad((t2 * tt(torch, v)).sum(), xt,
                              create_graph=True)
    t4, = torch.autograd.grad(t3.sum(), xt)
    close(ya.numpy(), yt.detach().numpy())
    for a, b, k in ((g1, t1, 1), (g2, t2, 2), (g3, t3, 3), (g4, t4, 4)):
        close(a, b.detach().numpy(), "rule_torch",
              msg="order %d" % k)
    # the same third derivative through backward(create_graph=True)
    xb = t64(x0, True)
    _third_fn("ad")(xb).backward(create_graph=True)
    gb = xb.grad
    xb.grad = None
    (gb * t64(u)).sum().backward(create_graph=True)
    hb = xb.grad
    xb.grad = None
    (hb * t64(v)).sum().backward()
    close(xb.grad, t3.detach().numpy(), "rule_torch")
    # and through the functional API: the diagonal of the 3rd derivative
    # along u (d/dx of uᵀ H u)
    f = _third_fn("ad")
    d3 = ad.grad(lambda x: ad.hvp(f, x, t64(u))[1] @ t64(u))(x0)
    tu = tt(torch, u)
    td3, = torch.autograd.grad(
        (torch.autograd.grad((torch.autograd.grad(
            _third_fn("torch")(xt), xt, create_graph=True)[0] * tu).sum(),
            xt, create_graph=True)[0] * tu).sum(), xt)
    close(d3, td3.numpy(), "rule_torch")


# ====================================================== 4. functional API

def test_argnums_int_tuple_and_negative():
    f = lambda x, y, z: x * y ** 2 + ad.sin(z) * x
    args = (1.5, -0.7, 0.4)
    gx = ad.grad(f)(*args)
    gy = ad.grad(f, argnums=1)(*args)
    gz = ad.grad(f, argnums=-1)(*args)
    assert gx == pytest.approx(0.49 + math.sin(0.4), rel=1e-14)
    assert gy == pytest.approx(2 * 1.5 * -0.7, rel=1e-14)
    assert gz == pytest.approx(math.cos(0.4) * 1.5, rel=1e-14)
    both = ad.grad(f, argnums=(0, -1))(*args)
    assert isinstance(both, tuple) and len(both) == 2
    assert both == (gx, gz)
    one = ad.grad(f, argnums=(1,))(*args)
    assert isinstance(one, tuple) and one == (gy,)
    with pytest.raises(ValueError):
        ad.grad(f, argnums=3)(*args)
    with pytest.raises(TypeError):
        ad.grad(f, argnums=(0, 1.0))(*args)


def test_result_types_mirror_argument_types():
    f = lambda x: ad.sum(x * x * x)
    g = ad.grad(f)(2.0)
    assert type(g) is float and g == 12.0
    g = ad.grad(f)(3)                       # an int is a number too
    assert type(g) is float and g == 27.0
    a = np.array([1.0, -2.0])
    g = ad.grad(f)(a)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64
    np.testing.assert_array_equal(g, 3 * a ** 2)
    g = ad.grad(f)([1.0, -2.0])             # a list is an array
    assert isinstance(g, np.ndarray)
    np.testing.assert_array_equal(g, 3 * a ** 2)
    t = t64(a)
    g = ad.grad(f)(t)
    assert isinstance(g, ad.Tensor) and not g.requires_grad
    np.testing.assert_array_equal(g.numpy(), 3 * a ** 2)
    assert not t.requires_grad and t.grad is None      # t is untouched
    # the second derivative keeps the types too
    h = ad.grad(ad.grad(f))(2.0)
    assert type(h) is float and h == 12.0
    gg = ad.grad(lambda x, y: ad.sum(x * y), argnums=(0, 1))(a, 2.0)
    assert isinstance(gg[0], np.ndarray) and type(gg[1]) is float
    np.testing.assert_array_equal(gg[0], [2.0, 2.0])
    assert gg[1] == -1.0
    with pytest.raises(TypeError):
        ad.grad(f)(True)
    with pytest.raises(TypeError):
        ad.grad(f)("1.0")


def test_value_and_grad():
    f = lambda x: ad.sum(ad.exp(x)) * 2.0
    v, g = ad.value_and_grad(f)(0.5)
    assert type(v) is float and type(g) is float
    assert v == pytest.approx(2 * math.exp(0.5), rel=1e-15)
    assert g == pytest.approx(2 * math.exp(0.5), rel=1e-15)
    a = np.array([0.1, 0.2])
    v, g = ad.value_and_grad(f)(a)
    assert isinstance(g, np.ndarray)
    close(v, 2 * np.exp(a).sum())
    close(g, 2 * np.exp(a))
    v, (g1, g2) = ad.value_and_grad(lambda x, y: x * y * y,
                                    argnums=(0, 1))(3.0, 2.0)
    assert (v, g1, g2) == (12.0, 4.0, 12.0)
    # value_and_grad of a gradient: f' and f''
    v, g = ad.value_and_grad(ad.grad(lambda x: x ** 4))(1.5)
    assert v == pytest.approx(4 * 1.5 ** 3, rel=1e-14)
    assert g == pytest.approx(12 * 1.5 ** 2, rel=1e-14)


def test_closures_no_perturbation_confusion():
    # d/dx [x * d/dy (x y)] = d/dx [x * x] = 2x
    assert ad.grad(lambda x: x * ad.grad(lambda y: x * y)(1.0))(3.0) == 6.0
    # Siskind & Pearlmutter: d/dx [x * d/dy (x + y)] = 1, not 2
    assert ad.grad(lambda x: x * ad.grad(lambda y: x + y)(1.0))(1.0) == 1.0
    # the inner transform differentiates with respect to a closed-over
    # Tensor argument of the outer one only through its own argument
    r = ad.grad(lambda x: ad.grad(lambda y: y * ad.sin(x))(x))(0.3)
    assert r == pytest.approx(math.cos(0.3), rel=1e-14)
    # nested transforms of the same variable: d/dx (x * d/dx x^2) = 4x
    r = ad.grad(lambda x: x * ad.grad(lambda u: u * u)(x))(1.25)
    assert r == pytest.approx(5.0, rel=1e-15)


def test_functions_that_ignore_their_argument_give_zero():
    assert ad.grad(lambda x: 3.0)(2.0) == 0.0
    assert ad.grad(lambda x: t64(3.0))(2.0) == 0.0
    g = ad.grad(lambda x, y: ad.sin(y), argnums=0)(np.ones(3), 0.5)
    assert isinstance(g, np.ndarray)
    np.testing.assert_array_equal(g, np.zeros(3))
    # a linear function has a zero second derivative (not an error)
    assert ad.grad(ad.grad(lambda x: x * 3.0 + 1.0))(0.7) == 0.0
    H = ad.hessian(lambda x: ad.sum(x * 2.0))(np.ones(3))
    np.testing.assert_array_equal(H, np.zeros((3, 3)))
    J = ad.jacobian(lambda x: t64(np.ones(2)))(np.ones(3))
    np.testing.assert_array_equal(J, np.zeros((2, 3)))


def test_non_scalar_output_raises_type_error_with_shape():
    with pytest.raises(TypeError, match=r"\(3,\)"):
        ad.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(TypeError, match=r"\(2, 2\)"):
        ad.value_and_grad(lambda x: x.reshape(2, 2))(np.ones(4))
    with pytest.raises(TypeError, match=r"\(3,\)"):
        ad.hvp(lambda x: x * 2.0, np.ones(3), np.ones(3))
    # elementwise_grad accepts it
    close(ad.elementwise_grad(lambda x: x * x)(np.arange(3.0)),
          [0.0, 2.0, 4.0])


def test_transforms_work_inside_no_grad():
    f = lambda x: ad.sum(ad.sin(x) * x)
    a = np.array([0.4, -1.1])
    with ad.no_grad():
        assert not ad.is_grad_enabled()
        g = ad.grad(f)(a)
        h = ad.hessian(f)(a)
        gg = ad.grad(ad.grad(lambda x: x ** 3))(2.0)
        v, hv = ad.hvp(f, a, np.ones(2))
        assert not ad.is_grad_enabled()
    assert ad.is_grad_enabled()
    close(g, np.cos(a) * a + np.sin(a))
    close(h, np.diag(-np.sin(a) * a + 2 * np.cos(a)))
    assert gg == 12.0
    close(hv, h @ np.ones(2))


def test_backward_create_graph_accumulates_and_differentiates_again():
    a = np.array([1.0, -2.0, 0.5])
    x = t64(a, True)
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    close(g, 3 * a ** 2)
    (x * x).sum().backward(create_graph=True)       # accumulates
    g = x.grad
    assert g.requires_grad
    close(g, 3 * a ** 2 + 2 * a)
    x.grad = None
    g.sum().backward()              # d/dx sum(3x^2 + 2x) = 6x + 2
    close(x.grad, 6 * a + 2)
    assert not x.grad.requires_grad
    # a retained intermediate gets a recorded .grad too
    x = t64(a, True)
    h = x * x
    h.retain_grad()
    ad.sin(h).sum().backward(create_graph=True)
    close(h.grad, np.cos(a * a))
    assert h.grad.requires_grad
    close(x.grad, 2 * a * np.cos(a * a))
    x.grad = None
    h.grad.sum().backward()         # d/dx cos(x^2) = -2x sin(x^2)
    close(x.grad, -2 * a * np.sin(a * a))
    # with a grad argument
    x = t64(a, True)
    (x ** 2).backward(t64([1.0, 2.0, 3.0]), create_graph=True)
    close(x.grad, 2 * a * [1.0, 2.0, 3.0])
    assert x.grad.requires_grad
    with pytest.raises(ValueError):
        (x ** 2).backward(t64([1.0, 2.0]), create_graph=True)
    with pytest.raises(RuntimeError):
        (x ** 2).backward(create_graph=True)         # non-scalar, no grad


def test_autograd_grad_allow_unused_and_errors():
    x, y, z = t64([1.0, 2.0], True), t64([3.0], True), t64([0.5], True)
    out = (x * x).sum() + y.sum() * 2.0
    gx, gy, gz = autograd.grad(out, [x, y, z], allow_unused=True)
    close(gx, [2.0, 4.0])
    close(gy, [2.0])
    assert gz is None
    with pytest.raises(RuntimeError, match="not used"):
        autograd.grad(out, [x, z])
    with pytest.raises(ValueError, match="shape"):
        autograd.grad(x * 2.0, x, grad_outputs=t64([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        autograd.grad([x * 2.0], [x], grad_outputs=[t64([1.0, 1.0])] * 2)
    with pytest.raises(RuntimeError, match="one element"):
        autograd.grad(x * 2.0, x)
    with pytest.raises(RuntimeError, match="require"):
        autograd.grad(out, t64([1.0]))
    with pytest.raises(TypeError):
        autograd.grad(out, [np.ones(2)])
    # a single input gives a 1-tuple; grad_outputs as an ndarray; several
    # outputs sum
    r = autograd.grad([x * 2.0, x * x], x,
                      grad_outputs=[np.array([1.0, 1.0]),
                                    np.array([1.0, -1.0])])
    assert isinstance(r, tuple) and len(r) == 1
    close(r[0], [2.0 + 2.0, 2.0 - 4.0])
    assert not r[0].requires_grad           # create_graph=False


def test_autograd_grad_does_not_consume_the_graph():
    x = t64([0.3, -0.8], True)
    y = (ad.tanh(x) * x).sum()
    g1, = autograd.grad(y, x)
    g2, = autograd.grad(y, x, create_graph=True)
    g3, = autograd.grad(y, x, retain_graph=False)
    close(g1, g2, "exact")
    close(g1, g3, "exact")
    assert x.grad is None                   # nothing accumulated
    y.backward()
    close(x.grad, g1, "exact")


def test_in_place_change_after_recording_raises():
    x = t64([0.3, -0.8], True)
    e = ad.exp(x)                           # saves its output
    y = (e * e).sum()
    with ad.no_grad():                      # (grad mode refuses it)
        e.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        autograd.grad(y, x)
    w = t64([1.0, 2.0], True)
    z = (w * w).sum()                       # reads its input
    with ad.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        autograd.grad(z, w, create_graph=True)
    with pytest.raises(RuntimeError, match="in-place"):
        z.backward(create_graph=True)


def test_hessian_of_float32_input_is_float32():
    f = lambda x: ad.sum(ad.sin(x) * x * x)
    a = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    H = ad.hessian(f)(a)
    assert isinstance(H, np.ndarray) and H.dtype == np.float32
    assert H.shape == (3, 3)
    H64 = ad.hessian(f)(a.astype(np.float64))
    assert H64.dtype == np.float64
    close(H, H64, "rule", np.float32)
    Ht = ad.hessian(f)(ad.tensor(a, dtype=F32))
    assert isinstance(Ht, ad.Tensor) and Ht.dtype == np.float32
    g = ad.grad(f)(a)
    assert g.dtype == np.float32
    d = a.astype(np.float64)
    close(np.diag(H64), -np.sin(d) * d * d + 4 * np.cos(d) * d
          + 2 * np.sin(d))


def test_jacobian_shapes_and_grad_of_grad_of_tensor_function():
    J = ad.jacobian(lambda x: x.reshape(2, 3) * 2.0)(np.ones(6))
    assert J.shape == (2, 3, 6)
    np.testing.assert_array_equal(J.reshape(6, 6), 2 * np.eye(6))
    J0 = ad.jacobian(lambda x: ad.sum(x ** 2))(np.array([1.0, 2.0]))
    assert J0.shape == (2,)
    np.testing.assert_array_equal(J0, [2.0, 4.0])


# ================================================ 5. gradcheck & friends

class WrongAt2(ad.Function):
    """x ** 2 whose backward is wrong at entry 2 only."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        wrong = np.ones(x.shape)
        wrong[2] = 1.5
        return g * x * 2.0 * ad.tensor(wrong, dtype=x.dtype)


class ConstBackward(ad.Function):
    """x ** 3 whose backward is right (first order) but built from a numpy
    constant: its own derivative is lost (second order wrong)."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * ad.tensor(3 * x.numpy() ** 2, dtype=x.dtype)


def test_gradcheck_true_on_correct_functions():
    x = t64(sample((4,), seed=1), True)
    y = t64(nonzero((4,), seed=2), True)
    assert ad.gradcheck(lambda a, b: a * ad.sin(b) / b, (x, y)) is True
    assert ad.gradcheck(lambda a: Cube.apply(a), x) is True
    assert ad.gradcheck(lambda a: Cube.apply(a), (x,), fast_mode=True)
    # a non-differentiated argument is passed through
    assert ad.gradcheck(lambda a, k: a * k, (x, 3.0))
    assert ad.gradgradcheck(lambda a: Cube.apply(a), (x,))
    assert ad.gradgradcheck(lambda a, b: ad.tanh(a * b), (x, y))


def test_gradcheck_reports_wrong_backward():
    x = t64([0.5, -1.0, 2.0, 1.5], True)
    f = lambda a: WrongAt2.apply(a)
    with pytest.raises(ad.GradcheckError) as ei:
        ad.gradcheck(f, (x,))
    assert isinstance(ei.value, RuntimeError)
    msg = str(ei.value)
    assert "analytic" in msg and "numerical" in msg
    assert "output entry 2, input entry 2" in msg
    assert "1 of 16 entries" in msg
    # the values: analytic 1.5 * 2 * 2.0 = 6, numerical 4
    assert "analytic 6" in msg and "numerical 4" in msg
    assert ad.gradcheck(f, (x,), raise_exception=False) is False
    with pytest.raises(ad.GradcheckError):
        ad.gradcheck(f, (x,), fast_mode=True)
    assert ad.gradcheck(f, (x,), fast_mode=True,
                        raise_exception=False) is False
    # entries other than 2 are right: a slice avoiding it passes
    assert ad.gradcheck(lambda a: WrongAt2.apply(a)[:2] + a[2:].sum(),
                        (x,))


def test_gradcheck_tolerances_are_used():
    x = t64([1.0, 2.0], True)
    # a 1e-4 relative error: caught with a tight rtol, accepted with loose
    class Off(ad.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 3.0

        @staticmethod
        def backward(ctx, g):
            return g * (3.0 * (1 + 1e-4))
    f = lambda a: Off.apply(a)
    assert ad.gradcheck(f, (x,), rtol=1e-3)
    assert not ad.gradcheck(f, (x,), rtol=1e-6, atol=1e-8,
                            raise_exception=False)


def test_gradcheck_warns_for_float32():
    x = ad.tensor([0.5, 1.0], dtype=F32, requires_grad=True)
    with pytest.warns(UserWarning, match="float64"):
        ad.gradcheck(lambda a: a * a, (x,), raise_exception=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # and float64 does not warn
        ad.gradcheck(lambda a: a * a, (t64([0.5, 1.0], True),))
    with pytest.raises(ValueError):
        ad.gradcheck(lambda a: a * a, (t64([1.0]),))   # nothing to check


def test_gradgradcheck_catches_non_differentiable_backward():
    x = t64([0.5, -1.0, 1.5], True)
    f = lambda a: ConstBackward.apply(a)
    assert ad.gradcheck(f, (x,))                   # first order is right
    assert ad.gradgradcheck(f, (x,), raise_exception=False) is False
    with pytest.raises(ad.GradcheckError, match="analytic"):
        ad.gradgradcheck(f, (x,))
    # and the recorded first-order gradient differs from the true one only
    # in its own derivative
    g, = autograd.grad(f(x).sum(), x, create_graph=True)
    close(g, 3 * x.numpy() ** 2)
    assert ad.gradgradcheck(lambda a: Cube.apply(a), (x,))


def test_numerical_grad_methods_and_types():
    f = lambda v: v ** 3 if not isinstance(v, np.ndarray) else np.sum(v ** 3)
    for method in ("central", "forward", "backward"):
        g = ad.numerical_grad(f, 1.3, method=method)
        assert type(g) is float
        assert g == pytest.approx(3 * 1.3 ** 2, rel=1e-5)
        ga = ad.numerical_grad(f, np.array([1.3, -0.4]), method=method)
        assert isinstance(ga, np.ndarray) and ga.shape == (2,)
        close(ga, 3 * np.array([1.3, -0.4]) ** 2, "rule", np.float32)
        gt = ad.numerical_grad(lambda t: (t ** 3).sum(),
                               t64([1.3, -0.4]), method=method)
        assert isinstance(gt, ad.Tensor) and gt.dtype == np.float64
        close(gt, 3 * np.array([1.3, -0.4]) ** 2, "rule", np.float32)
    with pytest.raises(ValueError, match="method"):
        ad.numerical_grad(f, 1.3, method="midpoint")
    with pytest.raises(ValueError):
        ad.numerical_grad(f, 1.3, eps=0.0)


def test_numerical_grad_error_orders():
    f = lambda v: v ** 3
    exact = 3 * 1.3 ** 2
    err = {m: abs(ad.numerical_grad(f, 1.3, eps=1e-4, method=m) - exact)
           for m in ("central", "forward", "backward")}
    assert err["central"] < err["forward"] / 100
    assert err["central"] < err["backward"] / 100
    # forward and backward err on opposite sides (f'' > 0)
    assert ad.numerical_grad(f, 1.3, eps=1e-4, method="forward") > exact
    assert ad.numerical_grad(f, 1.3, eps=1e-4, method="backward") < exact
    # the orders: halving h halves the forward error (O(h)) and quarters
    # the central one (O(h^2))
    e = {m: [abs(ad.numerical_grad(f, 1.3, eps=h, method=m) - exact)
             for h in (1e-2, 5e-3)] for m in ("central", "forward")}
    assert e["forward"][0] / e["forward"][1] == pytest.approx(2.0, rel=0.02)
    assert e["central"][0] / e["central"][1] == pytest.approx(4.0, rel=0.02)
    # forward error ~ h f''/2 = h * 3 * 1.3
    assert err["forward"] == pytest.approx(1e-4 * 3 * 1.3, rel=1e-3)


def test_numerical_grad_elementwise():
    grid = np.linspace(-2.0, 2.0, 9)
    g = ad.numerical_grad(np.sin, grid, elementwise=True)
    assert isinstance(g, np.ndarray) and g.shape == grid.shape
    close(g, np.cos(grid), "fn_api")
    gt = ad.numerical_grad(ad.tanh, t64(grid), elementwise=True)
    assert isinstance(gt, ad.Tensor)
    close(gt, 1 - np.tanh(grid) ** 2, "fn_api")
    gf = ad.numerical_grad(np.sin, grid, elementwise=True, method="forward")
    assert np.max(np.abs(gf - np.cos(grid))) > \
        10 * np.max(np.abs(g - np.cos(grid)))
    # without elementwise a non-scalar f is an error
    with pytest.raises(ValueError, match="scalar"):
        ad.numerical_grad(np.sin, grid)
    # agrees with the analytic elementwise_grad
    close(ad.elementwise_grad(ad.sin)(grid), g, "fn_api")
