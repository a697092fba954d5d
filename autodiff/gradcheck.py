"""Numerical derivatives and gradient checking.

``numerical_grad`` is the derivative as a limit, evaluated with a small h:
the forward quotient (f(x+h) - f(x))/h as taught, or the central one
(f(x+h) - f(x-h))/2h, whose error falls as h² instead of h.

``gradcheck`` and ``gradgradcheck`` follow ``torch.autograd.gradcheck``:
the analytic Jacobian (from backward(), the path training uses) against
the numerical one in float64, entry by entry, |a - n| <= atol + rtol |n|.
"""
import numbers
import warnings

import numpy as np

from . import _creation
from . import _engine as E
from ._grad_mode import no_grad
from .autograd import grad as _autograd_grad

__all__ = ["numerical_grad", "gradcheck", "gradgradcheck", "GradcheckError"]

Tensor = E.Tensor
_METHODS = ("central", "forward", "backward")


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytic and numerical derivatives
    disagree."""


def _scalar(v, what):
    if isinstance(v, Tensor):
        v = v.numpy()
    arr = np.asarray(v, dtype=np.float64)
    if arr.size != 1:
        raise ValueError("numerical_grad: %s must return a scalar, got "
                         "shape %s (use elementwise=True for an elementwise "
                         "function)" % (what, arr.shape))
    return float(arr.reshape(()))


def numerical_grad(f, x, eps=1e-6, method="central", elementwise=False):
    """The gradient of a scalar f at x by finite differences.

    method: "central" (f(x+h) - f(x-h)) / 2h, "forward"
    (f(x+h) - f(x)) / h -- the limit definition with h = eps -- or
    "backward" (f(x) - f(x-h)) / h.  x may be a number, an array or a
    Tensor; the result has x's type and shape.  f gets x's type too.
    With elementwise=True, f is taken to act elementwise and the quotient
    is formed at every point of x at once (two calls of f), giving f'
    over a whole grid.

    Parameters
    ----------
    f : callable
        ``f(x)`` returning a scalar (or, with elementwise, x's shape).
    x : number, array or Tensor
        The point.
    eps : float, default 1e-6
        The step h (positive).
    method : {"central", "forward", "backward"}, default "central"
    elementwise : bool, default False
        f acts elementwise: all points at once.

    Returns
    -------
    number, array or Tensor
        Of x's type and shape.

    Raises
    ------
    ValueError
        For another method or a non-positive eps.

    Examples
    --------
    >>> round(ad.numerical_grad(lambda x: x ** 3, 2.0), 6)
    12.0
    """
    if method not in _METHODS:
        raise ValueError("numerical_grad: method must be one of %s, got %r"
                         % (", ".join(_METHODS), method))
    if not eps > 0:
        raise ValueError("numerical_grad: eps must be positive, got %r"
                         % (eps,))
    kind = ("tensor" if isinstance(x, Tensor) else
            "scalar" if isinstance(x, numbers.Real) else "array")
    if kind == "tensor":
        base = x.numpy().astype(np.float64)
        dtype = x.dtype

        def call(v):
            with no_grad():
                return f(_creation.tensor(v, dtype=dtype))
    else:
        base = np.asarray(x, dtype=np.float64)

        def call(v):
            return f(float(v) if kind == "scalar" else v)

    lo = -eps if method != "forward" else 0.0
    hi = eps if method != "backward" else 0.0
    if elementwise:
        def ev(v):
            r = call(v)
            r = r.numpy() if isinstance(r, Tensor) else np.asarray(r)
            return r.astype(np.float64)
        g = (ev(base + hi) - ev(base + lo)) / (hi - lo)
    else:
        g = np.empty_like(base)
        flat = base.reshape(-1)
        gflat = g.reshape(-1)
        for i in range(flat.size):
            p = flat.copy()
            p[i] += hi
            q = flat.copy()
            q[i] += lo
            fp = _scalar(call(p.reshape(base.shape)), "f")
            fq = _scalar(call(q.reshape(base.shape)), "f")
            gflat[i] = (fp - fq) / (hi - lo)
    if kind == "tensor":
        return _creation.tensor(g, dtype=x.dtype)
    if kind == "scalar":
        return float(g)
    return g


# ------------------------------------------------------------- gradcheck

def _outputs(res):
    outs = list(res) if isinstance(res, (tuple, list)) else [res]
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError("gradcheck: the function must return Tensors; "
                            "output %d is a %s" % (i, type(o).__name__))
    return outs


def _prepare(inputs):
    ins = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, a in enumerate(ins)
            if isinstance(a, Tensor) and a.requires_grad]
    if not diff:
        raise ValueError("gradcheck: none of the inputs requires grad; "
                         "give at least one Tensor with requires_grad=True")
    for i in diff:
        if ins[i].dtype != E.float64:
            warnings.warn("gradcheck: input %d is %s, not float64; the "
                          "numerical derivative is not accurate enough in "
                          "single precision and the check may fail"
                          % (i, ins[i].dtype), UserWarning, stacklevel=3)
    return ins, diff


def _eval(f, ins, diff, datas):
    """f on fresh leaves holding datas (for the differentiated inputs)."""
    args = list(ins)
    leaves = []
    for i, d in zip(diff, datas):
        t = _creation.tensor(d, dtype=ins[i].dtype, requires_grad=True)
        args[i] = t
        leaves.append(t)
    return _outputs(f(*args)), leaves


def _analytic(f, ins, diff, datas):
    """The Jacobian row by row through backward() (the fused C sweep):
    J[o][i] of shape (out_o.size, in_i.size)."""
    outs, leaves = _eval(f, ins, diff, datas)
    jac = [[np.zeros((o.size, leaves[j].size)) for j in range(len(diff))]
           for o in outs]
    for oi, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for r in range(o.size):
            seed = np.zeros(o.size)
            seed[r] = 1.0
            for t in leaves:
                t.grad = None
            o.backward(_creation.tensor(seed.reshape(o.shape), dtype=o.dtype),
                       retain_graph=True)
            for j, t in enumerate(leaves):
                if t.grad is not None:
                    jac[oi][j][r] = t.grad.numpy().reshape(-1)
    return outs, jac


def _numerical(f, ins, diff, datas, eps):
    """Central differences of every output by every differentiated input
    entry, in float64 (the inputs' own dtype for the evaluation)."""
    outs0, _ = _eval(f, ins, diff, datas)
    jac = [[np.zeros((o.size, datas[j].size)) for j in range(len(diff))]
           for o in outs0]
    for j, d in enumerate(datas):
        flat = d.reshape(-1)
        for k in range(flat.size):
            vals = []
            for step in (eps, -eps):
                p = [x.copy() for x in datas]
                p[j].reshape(-1)[k] += step
                # grad mode stays on: f may take gradients itself
                # (gradgradcheck)
                outs, _ = _eval(f, ins, diff, p)
                vals.append([o.numpy().astype(np.float64).reshape(-1)
                             for o in outs])
            for oi in range(len(outs0)):
                jac[oi][j][:, k] = (vals[0][oi] - vals[1][oi]) / (2 * eps)
    return jac


def _report(name, pairs, atol, rtol):
    """A failure message with the worst entries, or None when they all
    agree.  pairs: (label, analytic, numerical, index formatter)."""
    lines = []
    for label, a, n in pairs:
        err = np.abs(a - n)
        bound = atol + rtol * np.abs(n)
        bad = ~(err <= bound)
        if not bad.any():
            continue
        excess = np.where(bad, err - bound, -np.inf)
        excess = np.where(np.isnan(excess), np.inf, excess)
        order = np.argsort(-excess, axis=None)[:5]
        lines.append("%s: %d of %d entries differ; worst:"
                     % (label, int(bad.sum()), a.size))
        for flat in order:
            idx = np.unravel_index(flat, a.shape)
            if not bad[idx]:
                break
            lines.append("    [output entry %d, input entry %d]  analytic "
                         "%.10g  numerical %.10g  |diff| %.3g"
                         % (idx[0], idx[1], a[idx], n[idx], err[idx]))
    if not lines:
        return None
    return ("%s: Jacobian mismatch (atol=%g, rtol=%g)\n" % (name, atol, rtol)
            + "\n".join(lines))


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3,
              raise_exception=True, fast_mode=False):
    """Check func's gradients against finite differences.

    inputs is a Tensor or a tuple (Tensors with requires_grad=True are
    differentiated; other entries are passed through).  Returns True when
    every entry satisfies |analytic - numerical| <= atol + rtol
    |numerical|; otherwise raises GradcheckError naming the worst entries
    with their indices and both values (or returns False when
    raise_exception=False).  fast_mode compares the single projection
    vᵀJu for random unit u and v instead of the whole Jacobian.

    Parameters
    ----------
    func : callable
        ``func(*inputs)`` returning a tensor or a tuple of tensors.
    inputs : Tensor or tuple
        Tensors with requires_grad=True are checked (use float64).
    eps : float, default 1e-6
        The finite-difference step.
    atol : float, default 1e-5
    rtol : float, default 1e-3
    raise_exception : bool, default True
        Raise on a mismatch instead of returning False.
    fast_mode : bool, default False
        Compare one random projection instead of the whole Jacobian.

    Returns
    -------
    bool

    Raises
    ------
    GradcheckError
        (a RuntimeError) on a mismatch, naming the worst entries.

    Examples
    --------
    >>> x = ad.tensor([0.5, 1.5], dtype=ad.float64, requires_grad=True)
    >>> ad.gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    True
    """
    ins, diff = _prepare(inputs)
    # the data passed on keeps the inputs' dtype (float32 stays float32)
    datas = [ins[i].numpy() for i in diff]
    if fast_mode:
        msg = _fast(func, ins, diff, datas, eps, atol, rtol)
    else:
        outs, ana = _analytic(func, ins, diff, datas)
        num = _numerical(func, ins, diff, datas, eps)
        pairs = []
        for oi in range(len(outs)):
            for j, i in enumerate(diff):
                pairs.append(("output %d w.r.t. input %d" % (oi, i),
                              ana[oi][j], num[oi][j]))
        msg = _report("gradcheck", pairs, atol, rtol)
    if msg is None:
        return True
    if raise_exception:
        raise GradcheckError(msg)
    return False


def _fast(func, ins, diff, datas, eps, atol, rtol):
    rng = np.random.default_rng(0)
    us = []
    for d in datas:
        u = rng.standard_normal(d.shape)
        us.append(u / max(np.linalg.norm(u), 1e-300))
    outs, leaves = _eval(func, ins, diff, datas)
    vs = []
    for o in outs:
        v = rng.standard_normal(o.shape)
        vs.append(v / max(np.linalg.norm(v), 1e-300))
    # analytic: vᵀ J u from one backward per output
    ana = 0.0
    for o, v in zip(outs, vs):
        if not o.requires_grad:
            continue
        for t in leaves:
            t.grad = None
        o.backward(_creation.tensor(v, dtype=o.dtype), retain_graph=True)
        for t, u in zip(leaves, us):
            if t.grad is not None:
                ana += float(np.sum(t.grad.numpy() * u))
    # numerical: the directional derivative along u, projected on v
    vals = []
    for step in (eps, -eps):
        p = [(d + step * u).astype(d.dtype) for d, u in zip(datas, us)]
        o2, _ = _eval(func, ins, diff, p)
        vals.append(sum(float(np.sum(o.numpy().astype(np.float64) * v))
                        for o, v in zip(o2, vs)))
    num = (vals[0] - vals[1]) / (2 * eps)
    a = np.array([[ana]])
    n = np.array([[num]])
    msg = _report("gradcheck (fast mode)", [("vᵀJu", a, n)], atol, rtol)
    return msg


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5,
                  rtol=1e-3, raise_exception=True, fast_mode=False):
    """Check second derivatives: gradcheck of the function
    (inputs, v) -> vᵀ∂func/∂inputs, computed with create_graph=True.
    grad_outputs (v) are random float64 when not given.

    Parameters
    ----------
    func : callable
        As :func:`gradcheck`.
    inputs : Tensor or tuple
        As :func:`gradcheck`.
    grad_outputs : Tensor or sequence, optional
        The vectors v (random float64 by default).
    eps : float, default 1e-6
    atol : float, default 1e-5
    rtol : float, default 1e-3
    raise_exception : bool, default True
    fast_mode : bool, default False

    Returns
    -------
    bool

    Raises
    ------
    GradcheckError
        On a mismatch.

    Examples
    --------
    >>> x = ad.tensor([0.5, 1.5], dtype=ad.float64, requires_grad=True)
    >>> ad.gradgradcheck(lambda t: (t ** 3).sum(), (x,))
    True
    """
    ins, diff = _prepare(inputs)
    probe = _outputs(func(*ins))
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        gouts = [_creation.tensor(rng.standard_normal(o.shape),
                                  dtype=o.dtype, requires_grad=True)
                 for o in probe]
    else:
        gouts = list(grad_outputs) if isinstance(grad_outputs,
                                                 (tuple, list)) \
            else [grad_outputs]
        gouts = [g if isinstance(g, Tensor) else _creation.tensor(g)
                 for g in gouts]
    n_in = len(ins)

    def first_order(*args):
        xs, vs = args[:n_in], args[n_in:]
        outs = _outputs(func(*xs))
        keep = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        targets = [xs[i] for i in diff]
        if not keep:
            return tuple(_creation.zeros_like(t) for t in targets)
        gs = _autograd_grad([o for o, _ in keep], targets,
                            grad_outputs=[v for _, v in keep],
                            create_graph=True, allow_unused=True)
        return tuple(_creation.zeros_like(t) if g is None else g
                     for g, t in zip(gs, targets))

    return gradcheck(first_order, tuple(ins) + tuple(gouts), eps=eps,
                     atol=atol, rtol=rtol, raise_exception=raise_exception,
                     fast_mode=fast_mode)
