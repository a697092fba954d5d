"""Derivatives as functions, as HIPS autograd and JAX name them.

``grad(f)`` is the function x -> f'(x).  The transforms nest to any
order: ``grad(grad(f))`` is f'' and ``hessian(f)`` is
``jacobian(grad(f))``.  Arguments may be Tensors, numpy arrays or Python
numbers, and each gradient comes back as the type of its argument (a
float for a float, an array for an array, a Tensor for a Tensor).

How nesting works: every transform evaluates f on fresh nodes for the
differentiated arguments (a recorded alias of a Tensor that already
requires grad, or a new leaf), so the gradient counts only the paths
through the argument -- a closure over an outer variable is a constant to
the inner transform, as in JAX.  Inside another transform's f (or when an
argument already requires grad) the backward pass is recorded
(``create_graph``), which is what lets the outer transform differentiate
the inner result.
"""
import functools
import numbers
import threading

import numpy as np

from . import _creation, _ops
from ._dtypes import ARGUMENT, F64, NP_DTYPES, infer_code
from . import _engine as E
from .autograd import grad as _autograd_grad

__all__ = ["grad", "value_and_grad", "elementwise_grad", "jacobian",
           "hessian", "vjp", "jvp", "hvp"]

Tensor = E.Tensor
_state = threading.local()


def _depth():
    return getattr(_state, "depth", 0)


class _Tracing:
    """Marks that f is being evaluated by a transform (so transforms
    called inside it record their backward pass)."""

    def __enter__(self):
        _state.depth = _depth() + 1

    def __exit__(self, *exc):
        _state.depth -= 1


def _argnums_tuple(argnums, nargs, name):
    single = isinstance(argnums, numbers.Integral)
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError("%s: argnums must be an int or a tuple of ints, "
                            "got %r" % (name, argnums))
        if not -nargs <= a < nargs:
            raise ValueError("%s: argnums %d is out of range for a function "
                             "called with %d positional arguments"
                             % (name, a, nargs))
    return single, tuple(a % nargs for a in nums)


def _lift(x, name):
    """A differentiable node for argument x, and how to give results back.

    Returns (node, kind, nested): kind is 'tensor', 'array' or 'scalar';
    nested tells that x already requires grad (an outer transform's
    variable)."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            return E._alias(x), "tensor", True
        return x.detach().requires_grad_(True), "tensor", False
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("%s: cannot differentiate with respect to a bool"
                        % name)
    # Differentiated in float64 unless the data is float32 (the dtype
    # rule, _dtypes.infer_code, with float64 as the default).
    if isinstance(x, numbers.Real):
        x = float(x)                # the gradient comes back as a float
        dt = NP_DTYPES[infer_code(x, context=ARGUMENT, default=F64)]
        return _creation.tensor(x, dtype=dt, requires_grad=True), \
            "scalar", False
    if isinstance(x, (np.ndarray, list, tuple)):
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise TypeError("%s: cannot differentiate with respect to an "
                            "array of dtype %s" % (name, arr.dtype))
        dt = NP_DTYPES[infer_code(x, arr, context=ARGUMENT, default=F64)]
        return _creation.tensor(arr, dtype=dt, requires_grad=True), \
            "array", False
    raise TypeError("%s: cannot differentiate with respect to a %s; pass a "
                    "Tensor, numpy array or number" % (name, type(x).__name__))


def _lower(t, kind, keep_graph):
    """Give a result back as the kind of the argument it belongs to; a
    result an outer transform still differentiates stays a Tensor."""
    if keep_graph and t.requires_grad:
        return t
    if kind == "tensor":
        return t if keep_graph else t.detach()
    if kind == "array":
        return t.numpy()
    return float(t.item()) if t.size == 1 else t.numpy()


def _as_tensor_out(out, like, name):
    if isinstance(out, Tensor):
        return out
    try:
        arr = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("%s: the function returned a %s, expected a Tensor, "
                        "array or number" % (name, type(out).__name__))
    return _creation.tensor(arr, dtype=like.dtype)


def _call(f, args, kwargs, argnums, name):
    """Run f on lifted arguments: (out Tensor, lifted nodes, kinds,
    create_graph)."""
    args = list(args)
    nodes, kinds, nested = [], [], False
    for i in argnums:
        node, kind, nst = _lift(args[i], name)
        args[i] = node
        nodes.append(node)
        kinds.append(kind)
        nested = nested or nst
    create = nested or _depth() > 0
    with _Tracing():
        out = f(*args, **kwargs)
    return out, nodes, kinds, create


def _grads(out, nodes, seed, create):
    """d<out, seed>/d node for each node; zeros where out does not depend
    on a node."""
    if not isinstance(out, Tensor) or not out.requires_grad:
        return [_creation.zeros_like(n) for n in nodes]
    gs = _autograd_grad(out, nodes, grad_outputs=seed, create_graph=create,
                        allow_unused=True)
    res = []
    for n, g in zip(nodes, gs):
        if g is None:
            g = _creation.zeros_like(n)
        elif g.dtype != n.dtype:
            g = g.astype(n.dtype)
        res.append(g)
    return res


def _value_and_grad(f, argnums, args, kwargs, name, scalar=True):
    single, nums = _argnums_tuple(argnums, len(args), name)
    with _grad_on():
        out, nodes, kinds, create = _call(f, args, kwargs, nums, name)
        outt = _as_tensor_out(out, nodes[0], name)
        if scalar and outt.size != 1:
            raise TypeError("%s requires a function with a scalar output; "
                            "it returned shape %s (use elementwise_grad or "
                            "jacobian)" % (name, outt.shape))
        gs = _grads(outt, nodes, _creation.ones_like(outt), create)
    res = tuple(_lower(g, k, create) for g, k in zip(gs, kinds))
    value = _lower(outt, kinds[0], create)
    return value, (res[0] if single else res)


class _grad_on:
    """Transforms work under no_grad() too: they switch recording on for
    their own evaluation, as torch.func does."""

    def __enter__(self):
        self.prev = E.is_grad_enabled()
        E.set_grad_enabled(True)

    def __exit__(self, *exc):
        E.set_grad_enabled(self.prev)
        return False


def grad(f, argnums=0):
    """The gradient of a scalar-valued f with respect to argument(s)
    argnums: ``grad(f)(x)`` is df/dx at x.  With a tuple of argnums the
    result is a tuple of gradients.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number. Its output must have
        one element.
    argnums : int or tuple of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple
        of results.

    Returns
    -------
    callable
        ``grad_f(*args, **kwargs)``: the gradient(s) of f at the arguments.
        The result comes back as the type of its argument: a float for a
        Python number, an array for an array, a Tensor for a Tensor.

    Raises
    ------
    TypeError
        When a differentiated argument is a bool or not numeric, or f
        returns something that is not a tensor, array or number.
    ValueError
        When an argnum is out of range.
        (from the returned function); TypeError also when f's output has
        more than one element.

    Examples
    --------
    >>> df = ad.grad(lambda x: x ** 3)
    >>> df(2.0)
    12.0
    >>> ad.grad(ad.grad(lambda x: x ** 3))(2.0)
    12.0
    >>> ad.grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (4.0, 3.0)
    """
    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        return _value_and_grad(f, argnums, args, kwargs, "grad")[1]
    return grad_f


def value_and_grad(f, argnums=0):
    """f and its gradient in one evaluation: ``(f(x), grad(f)(x))``.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number. Its output must have
        one element.
    argnums : int or tuple of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple
        of results.

    Returns
    -------
    callable
        ``vg(*args, **kwargs)`` returning ``(value, gradient)``.

    Raises
    ------
    TypeError
        When a differentiated argument is a bool or not numeric, or f
        returns something that is not a tensor, array or number.
    ValueError
        When an argnum is out of range.

    Examples
    --------
    >>> ad.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    @functools.wraps(f)
    def vg(*args, **kwargs):
        return _value_and_grad(f, argnums, args, kwargs, "value_and_grad")
    return vg


def elementwise_grad(f, argnums=0):
    """For an elementwise f, the derivative at every point at once:
    ``elementwise_grad(f)(xs)[i] == f'(xs[i])`` (the gradient of
    sum(f(x))), e.g. to plot f' over a grid.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number.
    argnums : int or tuple of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple
        of results.

    Returns
    -------
    callable
        ``eg(*args, **kwargs)``: the gradient of ``sum(f(...))``, of the
        argument's shape.

    Raises
    ------
    TypeError
        When a differentiated argument is a bool or not numeric, or f
        returns something that is not a tensor, array or number.
    ValueError
        When an argnum is out of range.

    Examples
    --------
    >>> ad.elementwise_grad(ad.sin)(np.array([0.0, np.pi])).round(4).tolist()
    [1.0, -1.0]
    """
    @functools.wraps(f)
    def eg(*args, **kwargs):
        return _value_and_grad(f, argnums, args, kwargs, "elementwise_grad",
                               scalar=False)[1]
    return eg


def _jac_rows(outt, node, create):
    """The Jacobian d out / d node, shape out.shape + node.shape."""
    rows = []
    n = outt.size
    for j in range(n):
        seed = np.zeros(n)
        seed[j] = 1.0
        seed = _creation.tensor(seed.reshape(outt.shape), dtype=outt.dtype)
        rows.append(_grads(outt, [node], seed, create)[0])
    if not rows:
        return _creation.zeros(*(outt.shape + node.shape), dtype=node.dtype)
    return _ops.stack(rows).reshape(outt.shape + node.shape)


def jacobian(f, argnums=0):
    """The Jacobian of f: ``jacobian(f)(x)`` has shape
    f(x).shape + x.shape, entry [i, j] = d f_i / d x_j.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number.
    argnums : int or tuple of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple
        of results.

    Returns
    -------
    callable
        ``jf(*args, **kwargs)``: the Jacobian(s), of shape
        ``f(x).shape + x.shape``.

    Raises
    ------
    TypeError
        When a differentiated argument is a bool or not numeric, or f
        returns something that is not a tensor, array or number.
    ValueError
        When an argnum is out of range.

    Examples
    --------
    >>> ad.jacobian(lambda x: x * 2)(np.array([1.0, 2.0])).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    @functools.wraps(f)
    def jf(*args, **kwargs):
        single, nums = _argnums_tuple(argnums, len(args), "jacobian")
        with _grad_on():
            out, nodes, kinds, create = _call(f, args, kwargs, nums,
                                              "jacobian")
            outt = _as_tensor_out(out, nodes[0], "jacobian")
            res = tuple(_lower(_jac_rows(outt, n, create), k, create)
                        for n, k in zip(nodes, kinds))
        return res[0] if single else res
    return jf


def hessian(f, argnums=0):
    """The matrix of second derivatives of a scalar f: shape
    x.shape + x.shape (``jacobian(grad(f))``).

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number. Its output must have
        one element.
    argnums : int or tuple of ints, default 0
        The positional argument(s) to differentiate; a tuple gives a tuple
        of results.

    Returns
    -------
    callable
        ``h(*args, **kwargs)``: the Hessian, of shape ``x.shape + x.shape``.

    Raises
    ------
    TypeError
        When a differentiated argument is a bool or not numeric, or f
        returns something that is not a tensor, array or number.
    ValueError
        When an argnum is out of range.

    Examples
    --------
    >>> ad.hessian(lambda x: (x[0] ** 2) * x[1])(np.array([1.0, 3.0])).tolist()
    [[6.0, 2.0], [2.0, 0.0]]
    """
    return jacobian(grad(f, argnums), argnums)


def _tuple_args(x, name, what):
    if not isinstance(x, (tuple, list)):
        raise TypeError("%s: %s must be a tuple (one entry per argument of "
                        "f), got %s" % (name, what, type(x).__name__))
    return tuple(x)


def vjp(f, *primals):
    """``out, vjp_fn = vjp(f, *primals)``: f's value and a function that
    takes a cotangent v (shaped like out) to the tuple of vᵀ∂f/∂primal_i,
    as ``jax.vjp``.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number.
    *primals : Tensor, array or number
        The arguments of f (every one is differentiated).

    Returns
    -------
    out
        f's value.
    vjp_fn : callable
        ``vjp_fn(v)`` with a cotangent v of out's shape returns the tuple of
        ``v^T df/dprimal_i``.

    Raises
    ------
    TypeError
        When no primals are given (and as :func:`grad`).
    ValueError
        From vjp_fn, for a cotangent of the wrong shape.

    Examples
    --------
    >>> out, vjp_fn = ad.vjp(lambda x: x ** 2, np.array([1.0, 3.0]))
    >>> vjp_fn(np.ones(2))[0].tolist()
    [2.0, 6.0]
    """
    if not primals:
        raise TypeError("vjp: give f's arguments after f")
    with _grad_on():
        out, nodes, kinds, create = _call(f, primals, {},
                                          tuple(range(len(primals))), "vjp")
        outt = _as_tensor_out(out, nodes[0], "vjp")

    def vjp_fn(v):
        seed = v if isinstance(v, Tensor) else _creation.tensor(
            np.asarray(v, dtype=np.float64), dtype=outt.dtype)
        if seed.shape != outt.shape:
            raise ValueError("vjp: cotangent of shape %s does not match the "
                             "output's shape %s" % (seed.shape, outt.shape))
        with _grad_on():
            gs = _grads(outt, nodes, seed, create or seed.requires_grad)
        return tuple(_lower(g, k, create) for g, k in zip(gs, kinds))

    return _lower(outt, kinds[0], create), vjp_fn


def _shaped_like(values, nodes, what, whose):
    """values as Tensors of their nodes' dtypes, checked against the
    nodes' shapes."""
    res = []
    for n, v in zip(nodes, values):
        t = v if isinstance(v, Tensor) else _creation.tensor(
            np.asarray(v, dtype=np.float64), dtype=n.dtype)
        if t.shape != n.shape:
            raise ValueError("%s of shape %s does not match %s shape %s"
                             % (what, t.shape, whose, n.shape))
        res.append(t)
    return res


def _dot(gs, vs):
    """sum_i <gs[i], vs[i]> as a recorded scalar."""
    s = None
    for g, v in zip(gs, vs):
        term = (g * v).sum()
        s = term if s is None else s + term
    return s


def jvp(f, primals, tangents):
    """``out, tangent_out = jvp(f, primals, tangents)``: f's value and its
    directional derivative J·t, as ``jax.jvp``.  Forward mode is built
    from two reverse passes: J·t is the gradient, with respect to a
    cotangent u, of <Jᵀu, t>.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number.
    primals : tuple
        f's arguments.
    tangents : tuple
        One tangent per primal, of its shape.

    Returns
    -------
    out
        f's value.
    tangent_out
        The directional derivative J t, of out's shape.

    Raises
    ------
    TypeError
        When primals or tangents is not a tuple (or list).
    ValueError
        When their lengths or a tangent's shape do not match.

    Examples
    --------
    >>> out, t = ad.jvp(lambda x: x ** 2, (np.array([1.0, 3.0]),), (np.ones(2),))
    >>> t.tolist()
    [2.0, 6.0]
    """
    primals = _tuple_args(primals, "jvp", "primals")
    tangents = _tuple_args(tangents, "jvp", "tangents")
    if len(primals) != len(tangents):
        raise ValueError("jvp: %d primals but %d tangents"
                         % (len(primals), len(tangents)))
    with _grad_on():
        out, nodes, kinds, create = _call(f, primals, {},
                                          tuple(range(len(primals))), "jvp")
        outt = _as_tensor_out(out, nodes[0], "jvp")
        ts = _shaped_like(tangents, nodes, "jvp: tangent", "its primal's")
        if not outt.requires_grad:
            tout = _creation.zeros_like(outt)
        else:
            u = _creation.zeros_like(outt).requires_grad_(True)
            s = _dot(_grads(outt, nodes, u, True), ts)
            if s.requires_grad:
                tout = _autograd_grad(s, [u], create_graph=create,
                                      allow_unused=True)[0]
            else:
                tout = None
            if tout is None:
                tout = _creation.zeros_like(outt)
    return _lower(outt, kinds[0], create), _lower(tout, kinds[0], create)


def hvp(f, inputs, v):
    """``value, hv = hvp(f, inputs, v)``: a scalar f's value and its
    Hessian times v, as ``torch.autograd.functional.hvp``; inputs and v
    are one argument or tuples of them.

    Parameters
    ----------
    f : callable
        A function of tensors, arrays or numbers returning a tensor, array
        or number. Its output must have
        one element.
    inputs : argument or tuple of arguments
        Where the Hessian is taken.
    v : array or tuple of arrays
        The vector(s), shaped like `inputs`.

    Returns
    -------
    value
        f's value.
    hv
        The Hessian times v (a tuple when `inputs` is one).

    Raises
    ------
    TypeError
        When f's output has more than one element.
    ValueError
        When the numbers or shapes of inputs and vectors differ.

    Examples
    --------
    >>> value, hv = ad.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.ones(2))
    >>> value, hv.tolist()
    (array(9.), [6.0, 12.0])
    """
    multi = isinstance(inputs, (tuple, list))
    ins = tuple(inputs) if multi else (inputs,)
    vs = tuple(v) if multi else (v,)
    if len(ins) != len(vs):
        raise ValueError("hvp: %d inputs but %d vectors" % (len(ins),
                                                            len(vs)))
    with _grad_on():
        out, nodes, kinds, create = _call(f, ins, {}, tuple(range(len(ins))),
                                          "hvp")
        outt = _as_tensor_out(out, nodes[0], "hvp")
        if outt.size != 1:
            raise TypeError("hvp requires a function with a scalar output; "
                            "it returned shape %s" % (outt.shape,))
        vts = _shaped_like(vs, nodes, "hvp: vector", "its input's")
        s = _dot(_grads(outt, nodes, _creation.ones_like(outt), True), vts)
        hv = _grads(s, nodes, _creation.ones_like(s), create)
    res = tuple(_lower(h, k, create) for h, k in zip(hv, kinds))
    return _lower(outt, kinds[0], create), (res if multi else res[0])
