"""Differentiable backward rules: each op's derivative written with ops.

The C engine's first-order backward (``ad_bw_<op>`` beside each forward in
``csrc/ops_*.c``) is a fused kernel: fast, but its result is a plain
buffer with no history.  For ``backward(create_graph=True)`` and the
functional transforms (``ad.grad(ad.grad(f))``) the backward pass must be
recorded on the tape like any forward computation.  This table gives, per
op code, the same derivative as the C rule expressed with recorded ops, so
it can be differentiated again to any order.  Masks that the C rules take
from comparisons (relu, abs, max, clip, ...) are constants here: their
derivative is zero almost everywhere, as in PyTorch.

A rule is ``rule(node, out, g) -> [grad for each input or None]`` where
``node`` is ``_engine._node(out)``, a Node read from the C registry:
``node.op`` and ``node.kind`` (names), ``node.inputs``, ``node.attrs``
(the op's attributes by name: ``node.attrs.axis``), ``node.saved`` and
``node.ctx``.  ``RULES`` is keyed by op name, and the ops with kinds
(unary, binary, loss) dispatch to tables keyed by kind name --
``UNARY_RULES``, ``BINARY_RULES``, ``LOSS_RULES``, one entry per kind, as
HIPS autograd's ``defvjp`` -- so adding an op or a kind means adding one
entry; tests/test_opdb.py fails while one is missing.
"""
import math

import numpy as np

from . import _conv, _creation, _norm, _ops, _pool, _rnn, _upsample
from . import _engine as E

_NLL_NONE, _NLL_MEAN = E.NLL_REDUCTIONS["none"], E.NLL_REDUCTIONS["mean"]


def _const(arr, like):
    """A constant tensor (no grad) of like's dtype."""
    return _creation.tensor(np.asarray(arr), dtype=like.dtype)


def sum_to(g, shape):
    """Sum a gradient over the broadcast dimensions down to shape."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, d in enumerate(shape)
        if d == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes)
    return g.reshape(shape)


# ---------------------------------------------------------------- unary

def _safe(x, mask, value=1.0):
    """x with the masked entries replaced by a harmless constant, so a
    branch not taken by a where() never yields inf * 0 in a later order."""
    return E.where(mask, value, x)


# Each unary kind's rule: d(kind)/dx * g from x, the output y, g and the
# scalar attributes a, b; xv is x's values (numpy) for the kinds that read
# them for a mask.  Registered by name, as HIPS autograd's defvjp.
UNARY_RULES = {}
_READS_X = set()


def _defunary(name, reads_x=False):
    def register(rule):
        UNARY_RULES[name] = rule
        if reads_x:
            _READS_X.add(name)
        return rule
    return register


_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934, 1.6732632423543772848
_LN2, _LN10 = math.log(2.0), math.log(10.0)

_defunary("neg")(lambda x, y, g, a, b, xv: -g)
_defunary("exp")(lambda x, y, g, a, b, xv: g * y)
_defunary("log")(lambda x, y, g, a, b, xv: g / x)
_defunary("sqrt")(lambda x, y, g, a, b, xv: g / (y * 2.0))
_defunary("abs", True)(
    lambda x, y, g, a, b, xv: g * _const(np.sign(xv), g))
_defunary("sin")(lambda x, y, g, a, b, xv: g * x.cos())
_defunary("cos")(lambda x, y, g, a, b, xv: -(g * x.sin()))
_defunary("tan")(lambda x, y, g, a, b, xv: g * (1.0 + y * y))
_defunary("sigmoid")(lambda x, y, g, a, b, xv: g * (y * (1.0 - y)))
_defunary("tanh")(lambda x, y, g, a, b, xv: g * (1.0 - y * y))
_defunary("relu", True)(lambda x, y, g, a, b, xv: g * _const(xv > 0, g))
_defunary("leaky_relu", True)(
    lambda x, y, g, a, b, xv: g * _const(np.where(xv > 0, 1.0, a), g))
# alpha e^x = y + alpha on the negative side
_defunary("elu", True)(
    lambda x, y, g, a, b, xv: E.where(xv > 0, g, g * (y + a)))


@_defunary("selu", True)
def _selu(x, y, g, a, b, xv):
    neg = _safe(x, xv > 0, 0.0).exp() * (_SELU_SCALE * _SELU_ALPHA)
    return E.where(xv > 0, g * _SELU_SCALE, g * neg)


@_defunary("softplus", True)
def _softplus(x, y, g, a, b, xv):
    lin = xv * a > b
    return E.where(lin, g, g * (_safe(x, lin, 0.0) * a).sigmoid())


@_defunary("gelu")
def _gelu(x, y, g, a, b, xv):
    cdf = ((x * (1.0 / math.sqrt(2.0))).erf() + 1.0) * 0.5
    pdf = (x * x * -0.5).exp() * (1.0 / math.sqrt(2.0 * math.pi))
    return g * (cdf + x * pdf)


@_defunary("silu")
def _silu(x, y, g, a, b, xv):
    s = x.sigmoid()
    return g * (s * (x * (1.0 - s) + 1.0))


_defunary("clip", True)(
    lambda x, y, g, a, b, xv: g * _const((xv >= a) & (xv <= b), g))
_defunary("addc")(lambda x, y, g, a, b, xv: g)
_defunary("mulc")(lambda x, y, g, a, b, xv: g * a)
_defunary("rsubc")(lambda x, y, g, a, b, xv: -g)
# d(a/x) = -a/x^2 = -y/x
_defunary("rdivc")(lambda x, y, g, a, b, xv: -(g * y) / x)


@_defunary("powc")
def _powc(x, y, g, a, b, xv):
    if a == 0.0:
        return g * 0.0
    if a == 2.0:
        return g * (x * 2.0)
    if a == 1.0:
        return g
    return g * (x ** (a - 1.0) * a)


_defunary("rpowc")(lambda x, y, g, a, b, xv: g * (y * math.log(a)))
_defunary("square")(lambda x, y, g, a, b, xv: g * (x * 2.0))
_defunary("divc")(lambda x, y, g, a, b, xv: g / a)
_defunary("erf")(lambda x, y, g, a, b, xv: g * (
    (x * x * -1.0).exp() * (2.0 / math.sqrt(math.pi))))
_defunary("atan")(lambda x, y, g, a, b, xv: g / (x * x + 1.0))
_defunary("asin")(lambda x, y, g, a, b, xv: g * (1.0 - x * x).rsqrt())
_defunary("acos")(lambda x, y, g, a, b, xv: -(g * (1.0 - x * x).rsqrt()))
_defunary("sinh")(lambda x, y, g, a, b, xv: g * x.cosh())
_defunary("cosh")(lambda x, y, g, a, b, xv: g * x.sinh())
_defunary("asinh")(lambda x, y, g, a, b, xv: g * (x * x + 1.0).rsqrt())
_defunary("acosh")(
    lambda x, y, g, a, b, xv: g * ((x - 1.0) * (x + 1.0)).rsqrt())
_defunary("atanh")(lambda x, y, g, a, b, xv: g / (1.0 - x * x))
_defunary("log1p")(lambda x, y, g, a, b, xv: g / (x + 1.0))
_defunary("expm1")(lambda x, y, g, a, b, xv: g * (y + 1.0))
_defunary("log2")(lambda x, y, g, a, b, xv: g / (x * _LN2))
_defunary("log10")(lambda x, y, g, a, b, xv: g / (x * _LN10))
_defunary("exp2")(lambda x, y, g, a, b, xv: g * (y * _LN2))
_defunary("reciprocal")(lambda x, y, g, a, b, xv: -(g * (y * y)))
_defunary("rsqrt")(lambda x, y, g, a, b, xv: g * (y * y * y) * -0.5)
# steps: 0 almost everywhere (and at the steps too, as torch); frac: 1
for _step in ("sign", "floor", "ceil", "round", "trunc"):
    _defunary(_step)(lambda x, y, g, a, b, xv: g * 0.0)
_defunary("frac")(lambda x, y, g, a, b, xv: g)

# activations; the masks are open intervals, as torch's kinks
_defunary("hardtanh", True)(
    lambda x, y, g, a, b, xv: g * _const((xv > a) & (xv < b), g))
_defunary("hardsigmoid", True)(
    lambda x, y, g, a, b, xv: g * _const(
        np.where((xv > -3.0) & (xv < 3.0), 1.0 / 6.0, 0.0), g))


@_defunary("hardswish", True)
def _hardswish(x, y, g, a, b, xv):
    mid = (xv > -3.0) & (xv < 3.0)
    return E.where(mid, g * (x / 3.0 + 0.5), g * _const(xv >= 3.0, g))


@_defunary("mish")
def _mish(x, y, g, a, b, xv):
    t = E.softplus(x).tanh()
    return g * (t + x * x.sigmoid() * (1.0 - t * t))


_defunary("logsigmoid")(lambda x, y, g, a, b, xv: g * (-x).sigmoid())


@_defunary("softsign")
def _softsign(x, y, g, a, b, xv):
    d = x.abs() + 1.0
    return g / (d * d)


@_defunary("tanhshrink")
def _tanhshrink(x, y, g, a, b, xv):
    t = x.tanh()
    return g * (t * t)


# e^(x/alpha) on the negative side
_defunary("celu", True)(lambda x, y, g, a, b, xv: E.where(
    xv > 0, g, g * (_safe(x, xv > 0, 0.0) * (1.0 / a)).exp()))

def _unary(node, y, g):
    name, (x,), at = node.kind, node.inputs, node.attrs
    if name not in UNARY_RULES:
        raise NotImplementedError("no differentiable rule for unary kind %r"
                                  % (name,))
    xv = x.numpy() if name in _READS_X else None
    return [UNARY_RULES[name](x, y, g, at.a, at.b, xv)]


# --------------------------------------------------------------- binary

# Each binary kind's rule: (gx, gy) shaped like the output, from x, y,
# the output and g (summed down to the inputs' shapes by _binary).
BINARY_RULES = {
    "add": lambda x, y, out, g: (g, g),
    "sub": lambda x, y, out, g: (g, -g),
    "mul": lambda x, y, out, g: (g * y, g * x),
    "div": lambda x, y, out, g: (g / y, -(g * out) / y),
}


def _pow(x, y, out, g):
    xv, yv = np.broadcast_arrays(x.numpy(), y.numpy())
    # y x^(y-1) is already 0 where y == 0 (x != 0); a constant mask
    # there would cut its derivative in y (d2/dydx x^y = 1/x at y=0).
    # Only 0**0 needs it, with a safe base so no 0 * inf later on.
    zero_b = (yv == 0) & (xv == 0)
    gx = E.where(zero_b, 0.0, g * y * _safe(x, zero_b) ** (y - 1.0))
    flat = (xv == 0) & (yv >= 0)
    gy = E.where(flat, 0.0, g * out * _safe(x, flat).log())
    return gx, gy


def _extremum(is_max):
    def rule(x, y, out, g):
        # the gradient goes to the larger (smaller) input; ties split it
        xv, yv = x.numpy(), y.numpy()
        first = xv > yv if is_max else xv < yv
        second = yv > xv if is_max else yv < xv
        tie = (xv == yv) * 0.5
        return g * _const(first + tie, g), g * _const(second + tie, g)
    return rule


BINARY_RULES["pow"] = _pow
BINARY_RULES["maximum"] = _extremum(True)
BINARY_RULES["minimum"] = _extremum(False)


# torch's formulas (tools/autograd/derivatives.yaml); each matches its C
# twin in kernels.inc (binary_bwd)

def _atan2(x, y, out, g):
    # 1 / (x^2 + y^2), 0 where that is 0 (a constant mask, as torch)
    d = x * x + y * y
    zero = d.numpy() == 0
    recip = E.where(zero, 0.0, 1.0 / _safe(d, zero))
    return g * y * recip, g * -x * recip


def _floordiv(xv, yv):
    """torch's div(rounding_mode="floor") of numpy arrays (c10's
    div_floor_floating), in their dtype."""
    with np.errstate(all="ignore"):
        m = np.fmod(xv, yv)
        d = (xv - m) / yv
        d = np.where((m != 0) & ((yv < 0) != (m < 0)), d - 1, d)
        f = np.floor(d)
        f = np.where(d - f > 0.5, f + 1, f)
        f = np.where(d == 0, np.copysign(np.zeros_like(d), xv / yv), f)
        return np.where(yv == 0, xv / yv, f)


def _remainder(x, y, out, g):
    # the quotient is a step function: a constant of the derivative
    xv, yv = np.broadcast_arrays(x.numpy(), y.numpy())
    return g, -g * _const(_floordiv(xv, yv), g)


def _xlogy(x, y, out, g):
    # d/dx = xlogy(g, y), 0 where x == 0 and y <= 0 (torch's choice, the
    # derivative along x = 0); a safe y there, so no g / 0 later on
    xv, yv = np.broadcast_arrays(x.numpy(), y.numpy())
    flat = (xv == 0) & (yv <= 0)
    return E.where(flat, 0.0, E.xlogy(g, _safe(y, flat))), g * x / y


BINARY_RULES["atan2"] = _atan2
BINARY_RULES["hypot"] = lambda x, y, out, g: (g * x / out, g * y / out)
BINARY_RULES["fmod"] = lambda x, y, out, g: (g, -g * (x / y).trunc())
BINARY_RULES["remainder"] = _remainder
BINARY_RULES["logaddexp"] = lambda x, y, out, g: (
    g / ((y - x).exp() + 1.0), g / ((x - y).exp() + 1.0))
BINARY_RULES["xlogy"] = _xlogy


def _binary(node, out, g):
    name, (x, y) = node.kind, node.inputs
    if name not in BINARY_RULES:
        raise NotImplementedError("no differentiable rule for binary kind "
                                  "%r" % (name,))
    gx, gy = BINARY_RULES[name](x, y, out, g)
    return [sum_to(gx, x.shape), sum_to(gy, y.shape)]


def _where(node, out, g):
    cond = node.saved != 0
    return [E.where(cond, g, 0.0), E.where(cond, 0.0, g)]


# ----------------------------------------------------------- reductions

def _reduce(node, out, g):
    (x,), mask = node.inputs, node.attrs.axes
    keep = tuple(1 if (mask >> i) & 1 else d for i, d in enumerate(x.shape))
    gk = g.reshape(keep).broadcast_to(x.shape)
    if node.kind == "sum":
        return [gk]
    if node.kind == "mean":
        return [gk / float(node.attrs.count)]
    if node.kind == "prod":
        return [_prod_rule(x, mask, g)]
    # max / min: the gradient is shared among the elements equal to the
    # result, as in the C rule (ties split evenly)
    hit = x.numpy() == out.numpy().reshape(keep)
    axes = tuple(i for i in range(x.ndim) if (mask >> i) & 1)
    cnt = hit.sum(axis=axes, keepdims=True)
    return [gk * _const(hit / np.maximum(cnt, 1), g)]


def _to_last(x, axes):
    """x with axes moved last and merged into one: (t, perm, shape of the
    permuted x)."""
    rest = [i for i in range(x.ndim) if i not in axes]
    perm = tuple(rest + list(axes))
    xp = x.permute(perm) if perm != tuple(range(x.ndim)) else x
    kept = tuple(x.shape[i] for i in rest)
    n = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    return xp.reshape(kept + (n,)), perm, xp.shape


def _from_last(t, perm, pshape):
    t = t.reshape(pshape)
    if perm == tuple(range(len(perm))):
        return t
    return t.permute(tuple(int(i) for i in np.argsort(perm)))


def _prod_rule(x, mask, g):
    """torch's prod_safe_zeros_backward: g times the product of the other
    entries of the slice, as exclusive running products from both ends
    (recorded cumprods: no division, exact at zeros, any order)."""
    axes = [i for i in range(x.ndim) if (mask >> i) & 1]
    if x.ndim == 0:
        return g.reshape(())
    xl, perm, pshape = _to_last(x, axes)
    n = xl.shape[-1]
    gl = g.reshape(xl.shape[:-1] + (1,))
    if n == 0:
        return _from_last(gl.broadcast_to(xl.shape), perm, pshape)
    ones = _const(np.ones(xl.shape[:-1] + (1,)), x)
    a = E.concatenate([ones, xl[..., :n - 1]], -1)
    b = E.concatenate([xl[..., 1:], ones], -1)
    last = xl.ndim - 1
    others = E._cumprod(a, last, False) * E._cumprod(b, last, True)
    return _from_last(others * gl, perm, pshape)


# ---------------------------------------------------------------- shape

def _reshape(node, out, g):
    return [g.reshape(node.inputs[0].shape)]


def _permute(node, out, g):
    perm = node.attrs.perm
    return [g.permute(tuple(int(i) for i in np.argsort(perm)))]


def _broadcast(node, out, g):
    return [sum_to(g, node.inputs[0].shape)]


def _concat(node, out, g):
    axis = node.attrs.axis
    grads, start = [], 0
    for x in node.inputs:
        stop = start + x.shape[axis]
        key = (slice(None),) * axis + (slice(start, stop),)
        grads.append(g[key])
        start = stop
    return grads


def _gather(node, out, g):
    return [E._scatter_add(g, node.saved, node.inputs[0].shape)]


def _scatter(node, out, g):
    return [E._gather_flat(g, node.saved, node.inputs[0].shape)]


def _take(node, out, g):
    x, idx = node.inputs
    if node.attrs.wrap:     # x[t]: negative indices count from the end
        n = x.shape[node.attrs.axis] if x.ndim else 1
        idx = E.where(idx < 0, idx + n, idx)
    return [E._put_add(g, idx, node.attrs.axis, x.shape), None]


def _put_add(node, out, g):
    return [E._take(g, node.inputs[1], node.attrs.axis), None]


def _cast(node, out, g):
    return [g.astype(node.inputs[0].dtype)]


# --------------------------------------------------------------- linalg

def _mT(t):
    return _ops.swapaxes(t, -1, -2)


def _matmul(node, out, g):
    x, y = node.inputs
    return [sum_to(g @ _mT(y), x.shape), sum_to(_mT(x) @ g, y.shape)]


def _linear(node, out, g):
    ins = node.inputs
    x, w = ins[0], ins[1]
    grads = [g @ w, g.T @ x]
    if len(ins) == 3:
        grads.append(g.sum(axis=0))
    return grads


def _linear_relu(node, out, g):
    # relu's rule (g where the output is > 0: a constant mask), then
    # linear's
    return _linear(node, out, g * _const(out.numpy() > 0, g))


def _linalg_rule(node, out, g):
    # the LAPACK decompositions: one rule per kind, beside the functions
    # in linalg.py (imported here, on first use: linalg imports autograd)
    from . import linalg
    return linalg.RULES[node.kind](node, out, g)


# ------------------------------------------------------------------- nn

def _cumsum(node, out, g):
    at = node.attrs
    return [E._cumsum(g, at.axis, not at.reverse)]


def _cumprod(node, out, g):
    """d/dx_i of sum_k g_k y_k = sum_{k >= i} g_k prod_{j <= k, j != i}
    x_j (k <= i, j >= k from the end): the running products of the
    (n, n) matrix whose row i is x with x_i replaced by 1 (a recorded
    cumprod, so zeros are exact and the rule differentiates again).
    O(n^2) per line: this path is for higher order, not training."""
    (x,), at = node.inputs, node.attrs
    if x.ndim == 0 or x.shape[at.axis] <= 1:
        return [g]
    xl, perm, pshape = _to_last(x, [at.axis])
    gl = g.permute(perm).reshape(xl.shape) if perm != tuple(
        range(x.ndim)) else g.reshape(xl.shape)
    n = xl.shape[-1]
    lead = xl.shape[:-1]
    eye = np.eye(n, dtype=bool)
    rows = E.where(eye, _const(1.0, x),
                   xl.reshape(lead + (1, n)).broadcast_to(lead + (n, n)))
    c = E._cumprod(rows, len(lead) + 1, bool(at.reverse))
    k, i = np.meshgrid(np.arange(n), np.arange(n))
    keep = _const((k <= i) if at.reverse else (k >= i), x)
    gx = (c * (gl.reshape(lead + (1, n)) * keep)).sum(axis=-1)
    return [_from_last(gx, perm, pshape)]


def _softmax(node, out, g):
    axis, log = node.attrs.axis, node.attrs.log
    if log:
        return [g - out.exp() * g.sum(axis=axis, keepdims=True)]
    return [out * (g - (g * out).sum(axis=axis, keepdims=True))]


# Each elementwise loss kind's rule: (d/dprediction, d/dtarget) * g.
def _mse(p, t, g):
    d = (p - t) * g * 2.0
    return d, -d


def _l1(p, t, g):
    d = g * _const(np.sign(p.numpy() - t.numpy()), g)
    return d, -d


def _bce(p, t, g):
    den = E.clip(p * (1.0 - p), 1e-12, None)
    gt = g * (E.clip((1.0 - p).log(), -100.0, None)
              - E.clip(p.log(), -100.0, None))
    return g * (p - t) / den, gt


def _huber(p, t, g, delta):
    # torch's branches: d clamped to [-delta, delta] (a recorded clip)
    d = E.clip(p - t, -delta, delta) * g
    return d, -d


def _smooth_l1(p, t, g, beta):
    d = E.clip((p - t) / beta, -1.0, 1.0) * g
    return d, -d


# (p, t, g) -> gradients; the kinds with an attribute take it as a 4th
LOSS_RULES = {
    "mse": _mse,
    "l1": _l1,
    "bce": _bce,
    "bce_logits": lambda p, t, g: (g * (p.sigmoid() - t), -(g * p)),
    "huber": _huber,
    "smooth_l1": _smooth_l1,
}
_LOSS_WITH_A = ("huber", "smooth_l1")


def _loss(node, out, g):
    name, (p, t) = node.kind, node.inputs
    if name not in LOSS_RULES:
        raise NotImplementedError("no differentiable rule for loss kind %r"
                                  % (name,))
    if name in _LOSS_WITH_A:
        return list(LOSS_RULES[name](p, t, g, node.attrs.a))
    return list(LOSS_RULES[name](p, t, g))


def _nll(node, out, g):
    at, x, labels = node.attrs, node.inputs[0], node.saved
    reduction, from_logits, ignore = at.reduction, at.from_logits, \
        at.ignore_index
    eps = at.label_smoothing
    n, c = x.shape[0], x.shape[1]
    rest = tuple(x.shape[2:])
    lab = labels.reshape((n,) + rest)
    valid = lab != ignore
    # onehot (N, C, d1, ...) of the labels taken; w the class weights
    onehot = np.moveaxis(np.eye(c)[np.where(valid, lab, 0)], -1, 1) \
        * np.expand_dims(valid, 1)
    w = node.inputs[1].numpy() if len(node.inputs) > 1 else np.ones(c)
    wy = np.where(valid, w[np.where(valid, lab, 0)], 0.0)
    if reduction != _NLL_NONE:          # g is a scalar: per sample g (/ W)
        if reduction == _NLL_MEAN:
            g = g / float(wy.sum())
        g = g.reshape((1,) * (1 + len(rest))).broadcast_to((n,) + rest)
    g = g.reshape((n, 1) + rest)
    gv = g * _const(np.expand_dims(wy, 1), g)
    gx = -(1 - eps) * (gv * _const(onehot, g))
    wc = _const(w.reshape((1, c) + (1,) * len(rest)), g)
    gm = g * _const(np.expand_dims(valid, 1).astype(float), g)
    if from_logits:
        sm = x.softmax(axis=1)
        gx = gx + (1 - eps) * sm * gv
        if eps:
            gx = gx + (eps / c) * gm * (float(w.sum()) * sm - wc)
    elif eps:
        gx = gx - (eps / c) * gm * wc
    return [gx]


def _dropout(node, out, g):
    return [g * _const(node.saved, g)]      # the saved mask, 1/(1-p) or 0


def _custom(node, out, g):
    return node.ctx._backward(g)


# Keyed by op name, as the registry in C names them.
RULES = {
    "unary": _unary,
    "binary": _binary,
    "where": _where,
    "reduce": _reduce,
    "reshape": _reshape,
    "permute": _permute,
    "broadcast": _broadcast,
    "concat": _concat,
    "gather": _gather,
    "scatter": _scatter,
    "cast": _cast,
    "matmul": _matmul,
    "linear": _linear,
    "linear_relu": _linear_relu,
    "softmax": _softmax,
    "loss": _loss,
    "nll": _nll,
    "custom": _custom,
    "dropout": _dropout,
    "cumsum": _cumsum,
    "cumprod": _cumprod,
    "take": _take,
    "put_add": _put_add,
    "linalg": _linalg_rule,
    "conv": _conv.conv_rule,
    "unfold": _conv.unfold_rule,
    "fold": _conv.fold_rule,
    "avg_pool": _pool.avg_pool_rule,
    "max_pool": _pool.max_pool_rule,
    "upsample": _upsample.upsample_rule,
    "norm": _norm.norm_rule,
    "batch_norm": _norm.batch_norm_rule,
    "lstm_cell": _rnn.lstm_cell_rule,
    "gru_cell": _rnn.gru_cell_rule,
    "lstm_seq": _rnn.lstm_seq_rule,
    "gru_seq": _rnn.gru_seq_rule,
}
