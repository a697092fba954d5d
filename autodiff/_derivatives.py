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
``node`` is ``_engine._node(out)``: (op, kind, flag, a, b, i0, iv, inputs,
saved, ctx).  Adding an op to the engine means adding its rule here.
"""
import math

import numpy as np

from . import _engine as E

_U = E.UNARY
_B = E.BINARY
_R = E.REDUCE
_L = E.LOSS
_NLL_NONE, _NLL_MEAN = E.NLL_REDUCTIONS["none"], E.NLL_REDUCTIONS["mean"]


def _const(arr, like):
    """A constant tensor (no grad) of like's dtype."""
    return E.tensor(np.asarray(arr), dtype=like.dtype)


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


# unary kinds whose rule reads the input's values (for a mask)
_READS_X = {_U[n] for n in ("abs", "relu", "leaky_relu", "elu", "selu",
                             "softplus", "clip")}


def _unary(node, y, g):
    _, k, _, a, b, _, _, (x,), _, _ = node
    xv = x.numpy() if k in _READS_X else None
    if k == _U["neg"]:
        d = -g
    elif k == _U["exp"]:
        d = g * y
    elif k == _U["log"]:
        d = g / x
    elif k == _U["sqrt"]:
        d = g / (y * 2.0)
    elif k == _U["abs"]:
        d = g * _const(np.sign(xv), g)
    elif k == _U["sin"]:
        d = g * x.cos()
    elif k == _U["cos"]:
        d = -(g * x.sin())
    elif k == _U["sigmoid"]:
        d = g * (y * (1.0 - y))
    elif k == _U["tanh"]:
        d = g * (1.0 - y * y)
    elif k == _U["relu"]:
        d = g * _const(xv > 0, g)
    elif k == _U["leaky_relu"]:
        d = g * _const(np.where(xv > 0, 1.0, a), g)
    elif k == _U["elu"]:
        # alpha e^x = y + alpha on the negative side
        d = E.where(xv > 0, g, g * (y + a))
    elif k == _U["selu"]:
        scale, alpha = 1.0507009873554804934, 1.6732632423543772848
        neg = _safe(x, xv > 0, 0.0).exp() * (scale * alpha)
        d = E.where(xv > 0, g * scale, g * neg)
    elif k == _U["softplus"]:
        lin = xv * a > b
        d = E.where(lin, g, g * (_safe(x, lin, 0.0) * a).sigmoid())
    elif k == _U["gelu"]:
        cdf = ((x * (1.0 / math.sqrt(2.0))).erf() + 1.0) * 0.5
        pdf = (x * x * -0.5).exp() * (1.0 / math.sqrt(2.0 * math.pi))
        d = g * (cdf + x * pdf)
    elif k == _U["silu"]:
        s = x.sigmoid()
        d = g * (s * (x * (1.0 - s) + 1.0))
    elif k == _U["clip"]:
        d = g * _const((xv >= a) & (xv <= b), g)
    elif k == _U["addc"]:
        d = g
    elif k == _U["mulc"]:
        d = g * a
    elif k == _U["rsubc"]:
        d = -g
    elif k == _U["rdivc"]:
        d = -(g * y) / x                      # d(a/x) = -a/x^2 = -y/x
    elif k == _U["powc"]:
        if a == 0.0:
            d = g * 0.0
        elif a == 2.0:
            d = g * (x * 2.0)
        elif a == 1.0:
            d = g
        else:
            d = g * (x ** (a - 1.0) * a)
    elif k == _U["rpowc"]:
        d = g * (y * math.log(a))
    elif k == _U["square"]:
        d = g * (x * 2.0)
    elif k == _U["divc"]:
        d = g / a
    elif k == _U["erf"]:
        d = g * ((x * x * -1.0).exp() * (2.0 / math.sqrt(math.pi)))
    else:
        raise NotImplementedError("no differentiable rule for unary kind %d"
                                  % k)
    return [d]


# --------------------------------------------------------------- binary

def _binary(node, out, g):
    _, k, _, _, _, _, _, (x, y), _, _ = node
    if k == _B["add"]:
        gx, gy = g, g
    elif k == _B["sub"]:
        gx, gy = g, -g
    elif k == _B["mul"]:
        gx, gy = g * y, g * x
    elif k == _B["div"]:
        gx, gy = g / y, -(g * out) / y
    elif k == _B["pow"]:
        xv, yv = np.broadcast_arrays(x.numpy(), y.numpy())
        # y x^(y-1) is already 0 where y == 0 (x != 0); a constant mask
        # there would cut its derivative in y (d2/dydx x^y = 1/x at y=0).
        # Only 0**0 needs it, with a safe base so no 0 * inf later on.
        zero_b = (yv == 0) & (xv == 0)
        gx = E.where(zero_b, 0.0, g * y * _safe(x, zero_b) ** (y - 1.0))
        flat = (xv == 0) & (yv >= 0)
        gy = E.where(flat, 0.0, g * out * _safe(x, flat).log())
    elif k in (_B["maximum"], _B["minimum"]):
        xv, yv = x.numpy(), y.numpy()
        first = xv > yv if k == _B["maximum"] else xv < yv
        second = yv > xv if k == _B["maximum"] else yv < xv
        tie = (xv == yv) * 0.5
        gx = g * _const(first + tie, g)
        gy = g * _const(second + tie, g)
    else:
        raise NotImplementedError("no differentiable rule for binary kind "
                                  "%d" % k)
    return [sum_to(gx, x.shape), sum_to(gy, y.shape)]


def _where(node, out, g):
    cond = node[8]
    return [E.where(cond, g, 0.0), E.where(cond, 0.0, g)]


# ----------------------------------------------------------- reductions

def _reduce(node, out, g):
    _, k, _, a, _, mask, _, (x,), _, _ = node
    keep = tuple(1 if (mask >> i) & 1 else d for i, d in enumerate(x.shape))
    gk = g.reshape(keep).broadcast_to(x.shape)
    if k == _R["sum"]:
        return [gk]
    if k == _R["mean"]:
        return [gk / a]
    # max / min: the gradient is shared among the elements equal to the
    # result, as in the C rule (ties split evenly)
    hit = x.numpy() == out.numpy().reshape(keep)
    axes = tuple(i for i in range(x.ndim) if (mask >> i) & 1)
    cnt = hit.sum(axis=axes, keepdims=True)
    return [gk * _const(hit / np.maximum(cnt, 1), g)]


# ---------------------------------------------------------------- shape

def _reshape(node, out, g):
    return [g.reshape(node[7][0].shape)]


def _permute(node, out, g):
    x = node[7][0]
    perm = node[6][:x.ndim]
    return [g.permute(tuple(int(i) for i in np.argsort(perm)))]


def _broadcast(node, out, g):
    return [sum_to(g, node[7][0].shape)]


def _concat(node, out, g):
    axis = node[5]
    grads, start = [], 0
    for x in node[7]:
        stop = start + x.shape[axis]
        key = (slice(None),) * axis + (slice(start, stop),)
        grads.append(g[key])
        start = stop
    return grads


def _gather(node, out, g):
    x = node[7][0]
    return [E._scatter_add(g, node[8], x.shape)]


def _scatter(node, out, g):
    x = node[7][0]
    return [E._gather_flat(g, node[8], x.shape)]


def _cast(node, out, g):
    return [g.astype(node[7][0].dtype)]


# --------------------------------------------------------------- linalg

def _mT(t):
    return E.swapaxes(t, -1, -2)


def _matmul(node, out, g):
    x, y = node[7]
    return [sum_to(g @ _mT(y), x.shape), sum_to(_mT(x) @ g, y.shape)]


def _linear(node, out, g):
    ins = node[7]
    x, w = ins[0], ins[1]
    grads = [g @ w, g.T @ x]
    if len(ins) == 3:
        grads.append(g.sum(axis=0))
    return grads


# ------------------------------------------------------------------- nn

def _softmax(node, out, g):
    axis, log = node[5], node[1]
    if log:
        return [g - out.exp() * g.sum(axis=axis, keepdims=True)]
    return [out * (g - (g * out).sum(axis=axis, keepdims=True))]


def _loss(node, out, g):
    _, k, _, _, _, _, _, (p, t), _, _ = node
    if k == _L["mse"]:
        d = (p - t) * g * 2.0
        return [d, -d]
    if k == _L["l1"]:
        d = g * _const(np.sign(p.numpy() - t.numpy()), g)
        return [d, -d]
    if k == _L["bce"]:
        den = E.clip(p * (1.0 - p), 1e-12, None)
        gp = g * (p - t) / den
        gt = g * (E.clip((1.0 - p).log(), -100.0, None)
                  - E.clip(p.log(), -100.0, None))
        return [gp, gt]
    if k == _L["bce_logits"]:
        return [g * (p.sigmoid() - t), -(g * p)]
    raise NotImplementedError("no differentiable rule for loss kind %d" % k)


def _nll(node, out, g):
    reduction, from_logits = node[1], node[2]
    ignore, x, labels = node[5], node[7][0], node[8]
    n, c = x.shape
    valid = labels != ignore
    onehot = np.zeros((n, c))
    onehot[np.arange(n)[valid], labels[valid]] = 1.0
    if reduction != _NLL_NONE:          # g is a scalar: per sample g (/ n)
        if reduction == _NLL_MEAN:
            g = g / float(np.count_nonzero(valid))
        g = g.reshape((1,)).broadcast_to((n,))
    gv = (g * _const(valid, g)).reshape((n, 1))
    gx = -(gv * _const(onehot, g))
    if from_logits:
        gx = gx + x.softmax(axis=1) * gv
    return [gx]


def _dropout(node, out, g):
    return [g * _const(node[8], g)]      # the saved mask, 1/(1-p) or 0


def _custom(node, out, g):
    return node[9]._backward(g)


RULES = {
    E.OPS["unary"]: _unary,
    E.OPS["binary"]: _binary,
    E.OPS["where"]: _where,
    E.OPS["reduce"]: _reduce,
    E.OPS["reshape"]: _reshape,
    E.OPS["permute"]: _permute,
    E.OPS["broadcast"]: _broadcast,
    E.OPS["concat"]: _concat,
    E.OPS["gather"]: _gather,
    E.OPS["scatter"]: _scatter,
    E.OPS["cast"]: _cast,
    E.OPS["matmul"]: _matmul,
    E.OPS["linear"]: _linear,
    E.OPS["softmax"]: _softmax,
    E.OPS["loss"]: _loss,
    E.OPS["nll"]: _nll,
    E.OPS["custom"]: _custom,
    E.OPS["dropout"]: _dropout,
}
