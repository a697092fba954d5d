"""Gradients as values, higher order, and custom differentiable functions.

``grad(outputs, inputs)`` is ``torch.autograd.grad``: it returns the
gradients instead of accumulating them into ``.grad``.  With
``create_graph=True`` the backward pass is recorded on the tape, so the
result can be differentiated again.  The walk is in Python over the C
records (``_engine._node``); each op's derivative comes from the
differentiable rules of ``_derivatives.py``.  Plain ``backward()`` never
comes here: it stays in the fused C sweep.

``Function`` is ``torch.autograd.Function``: subclass it with static
``forward(ctx, *args)`` and ``backward(ctx, *grads)``.
"""
from . import _creation
from . import _engine as E
from ._derivatives import RULES
from ._hooks import apply_leaf_hooks
from ._grad_mode import enable_grad, no_grad
from .compile import NotCompilableError

__all__ = ["grad", "Function", "FunctionCtx", "Variable"]


def Variable(data, requires_grad=False, volatile=False):
    """torch.autograd.Variable, deprecated in torch since 0.4: a tensor
    (a copy of data) that requires grad when asked; volatile is ignored,
    as torch ignores it.

    Parameters
    ----------
    data : Tensor, array or number
        Copied, as :func:`autodiff.tensor` copies.
    requires_grad : bool, default False
    volatile : bool, default False
        Ignored, as torch ignores it.

    Returns
    -------
    Tensor

    Examples
    --------
    >>> ad.autograd.Variable([1.0, 2.0], requires_grad=True).requires_grad
    True
    """
    from ._creation import tensor
    return tensor(data, requires_grad=requires_grad)

Tensor = E.Tensor


def _walk(roots):
    """Every tensor reachable from roots through grad-requiring inputs, in
    an order where each tensor comes before its inputs; with its record."""
    nodes, order, seen = {}, [], set()
    stack = [(r, False) for r in roots]
    while stack:
        t, done = stack.pop()
        k = E._node_key(t)
        if done:
            order.append(k)
            continue
        if k in seen:
            continue
        seen.add(k)
        node = E._node(t)
        nodes[k] = (t, node)
        stack.append((t, True))
        if node is not None:
            for x in node.inputs:
                if x.requires_grad and E._node_key(x) not in seen:
                    stack.append((x, False))
    order.reverse()
    return order, nodes


def _sweep(roots, seeds, targets, create_graph, walk=None):
    """The gradients of sum(root * seed) with respect to each target key
    (a dict key -> Tensor; targets without a path are absent).  walk is
    _walk(roots) when the caller has it already."""
    if E.is_capturing():
        # The walk runs in Python and reads saved indices, labels and
        # masks as numpy constants: a replay would keep this step's.
        raise NotCompilableError(
            "autograd.grad, backward(create_graph=True) and the functional "
            "transforms run the backward in Python and cannot be recorded "
            "by autodiff.compile; call them outside the compiled function")
    order, nodes = walk if walk is not None else _walk(roots)
    # needed: the tensor is a target or leads to one
    needed = {}
    for k in reversed(order):
        t, node = nodes[k]
        hit = k in targets
        if not hit and node is not None:
            hit = any(needed.get(E._node_key(x), False) for x in node.inputs)
        needed[k] = hit
    grads = {}
    for r, s in zip(roots, seeds):
        k = E._node_key(r)
        grads[k] = s if k not in grads else grads[k] + s
    result = {}
    ctx = enable_grad() if create_graph else no_grad()
    with ctx:
        for k in order:
            g = grads.pop(k, None)
            if g is None or not needed[k]:
                continue
            if k in targets:
                result[k] = g
            t, node = nodes[k]
            if node is None:
                continue
            ins = node.inputs
            if not any(needed.get(E._node_key(x), False) for x in ins):
                continue
            gs = RULES[node.op](node, t, g)
            for x, gx in zip(ins, gs):
                if gx is None or not x.requires_grad:
                    continue
                kx = E._node_key(x)
                if not needed.get(kx, False):
                    continue
                grads[kx] = gx if kx not in grads else grads[kx] + gx
    return result


def _as_seq(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None,
         create_graph=False, allow_unused=False):
    """The gradients of outputs with respect to inputs, as a tuple.

    As ``torch.autograd.grad``: ``grad_outputs`` weighs each output
    (needed for outputs with more than one element); an input the outputs
    do not depend on raises unless ``allow_unused=True``, which gives None
    for it.  With ``create_graph=True`` the returned gradients are
    recorded and can be differentiated again.  The graph is never freed
    here (``retain_graph`` is accepted for compatibility).

    Parameters
    ----------
    outputs : Tensor or sequence of Tensor
        The differentiated outputs.
    inputs : Tensor or sequence of Tensor
        Tensors that require grad.
    grad_outputs : Tensor or sequence, optional
        One weight per output, of its shape (ones by default, which needs
        one-element outputs).
    retain_graph : bool, optional
        Accepted; the graph is kept either way.
    create_graph : bool, default False
        Record the backward pass, so the gradients can be differentiated.
    allow_unused : bool, default False
        Give None for an input the outputs do not depend on, instead of
        raising.

    Returns
    -------
    tuple of Tensor (or None)
        One gradient per input, of its shape.

    Raises
    ------
    TypeError
        When an input is not a tensor.
    RuntimeError
        When an input does not require grad, an output has more than one
        element without grad_outputs, or an input is unused (without
        allow_unused).

    Examples
    --------
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> ad.autograd.grad((x ** 2).sum(), x)[0].tolist()
    [2.0, 4.0]
    >>> g, = ad.autograd.grad((x ** 3).sum(), x, create_graph=True)
    >>> ad.autograd.grad(g.sum(), x)[0].tolist()
    [6.0, 12.0]
    """
    outs = _as_seq(outputs)
    ins = _as_seq(inputs)
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor):
            raise TypeError("grad: inputs[%d] is a %s, not a Tensor"
                            % (i, type(t).__name__))
        if not t.requires_grad:
            raise RuntimeError("grad: inputs[%d] (shape %s) does not "
                               "require grad" % (i, t.shape))
    if grad_outputs is None:
        gouts = [None] * len(outs)
    else:
        gouts = _as_seq(grad_outputs)
        if len(gouts) != len(outs):
            raise ValueError("grad: %d grad_outputs for %d outputs"
                             % (len(gouts), len(outs)))
    roots, seeds = [], []
    for i, (o, go) in enumerate(zip(outs, gouts)):
        if not isinstance(o, Tensor):
            raise TypeError("grad: outputs[%d] is a %s, not a Tensor"
                            % (i, type(o).__name__))
        if not o.requires_grad:
            raise RuntimeError("grad: outputs[%d] does not require grad and "
                               "has no grad_fn" % i)
        if go is None:
            if o.size != 1:
                raise RuntimeError("grad can be implicitly created only for "
                                   "outputs with one element; outputs[%d] "
                                   "has shape %s" % (i, o.shape))
            go = _creation.ones_like(o)
        elif not isinstance(go, Tensor):
            go = _creation.tensor(go, dtype=o.dtype)
        if go.shape != o.shape:
            raise ValueError("grad: grad_outputs[%d] of shape %s does not "
                             "match outputs[%d] of shape %s"
                             % (i, go.shape, i, o.shape))
        if go.dtype != o.dtype:
            go = go.astype(o.dtype)
        roots.append(o)
        seeds.append(go)
    keys = [E._node_key(t) for t in ins]
    found = _sweep(roots, seeds, set(keys), create_graph)
    res = []
    for i, (t, k) in enumerate(zip(ins, keys)):
        g = found.get(k)
        if g is not None and E._node(t) is None:
            g = apply_leaf_hooks(t, g)
        if g is None and not allow_unused:
            raise RuntimeError("grad: inputs[%d] (shape %s) is not used in "
                               "the graph of the outputs; pass "
                               "allow_unused=True to get None for it"
                               % (i, t.shape))
        if g is not None and not create_graph and g.requires_grad:
            g = g.detach()
        res.append(g)
    return tuple(res)


def _backward_create_graph(root, grad_arg):
    """Tensor.backward(create_graph=True): the C sweep's semantics (leaves
    and retained tensors accumulate into .grad) with recorded gradients."""
    if not root.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and "
                           "does not have a grad_fn")
    if grad_arg is None:
        if root.size != 1:
            raise RuntimeError("grad can be implicitly created only for "
                               "tensors with one element; backward() on a "
                               "tensor of shape %s needs a grad argument"
                               % (root.shape,))
        seed = _creation.ones_like(root)
    else:
        seed = grad_arg if isinstance(grad_arg, Tensor) else _creation.tensor(
            grad_arg, dtype=root.dtype)
        if seed.shape != root.shape:
            raise ValueError("grad of shape %s does not match the tensor's "
                             "shape %s" % (seed.shape, root.shape))
    walk = _walk([root])
    order, nodes = walk
    targets = {}
    for k in order:
        t, node = nodes[k]
        if node is None or t._retains_grad:
            targets[k] = t
    found = _sweep([root], [seed], set(targets), True, walk)
    for k, g in found.items():
        t = targets[k]
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        if nodes[k][1] is None:
            g = apply_leaf_hooks(t, g)
        old = t.grad
        t.grad = g if old is None else old + g


# ------------------------------------------------------- custom functions

class FunctionCtx:
    """The ``ctx`` of a custom Function: save tensors for backward and
    keep any other attribute on it."""

    def __init__(self):
        self._saved = ()
        self._versions = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        """Keep tensors for ``backward`` (read them back with
        :attr:`saved_tensors`, which checks that none was modified in place
        since).

        Parameters
        ----------
        *tensors : Tensor or None

        Raises
        ------
        TypeError
            For an argument that is neither a tensor nor None.
        """
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward takes Tensors (or None), "
                                "got %s" % type(t).__name__)
        self._saved = tensors
        self._versions = tuple(None if t is None else E._version(t)
                               for t in tensors)

    @property
    def saved_tensors(self):
        """The tuple of tensors given to :meth:`save_for_backward`.

        Raises
        ------
        RuntimeError
            When one of them was modified in place after it was saved.
        """
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if t is not None and E._version(t) != v:
                raise RuntimeError(
                    "one of the tensors saved for backward (index %d, "
                    "shape %s) has been modified by an in-place operation: "
                    "version %d, expected %d"
                    % (i, t.shape, E._version(t), v))
        return self._saved


class _Node:
    """What a custom record keeps: the Function class, its ctx and where
    the Tensors sat among the forward's arguments."""
    __slots__ = ("fn", "ctx", "positions", "nargs")

    def __init__(self, fn, ctx, positions, nargs):
        self.fn, self.ctx = fn, ctx
        self.positions, self.nargs = positions, nargs

    def _backward(self, g):
        grads = self.fn.backward(self.ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        name = self.fn.__name__
        if len(grads) != self.nargs:
            raise RuntimeError("function %s.backward returned an incorrect "
                               "number of gradients (expected %d, got %d)"
                               % (name, self.nargs, len(grads)))
        out = []
        for pos in self.positions:
            gi = grads[pos]
            if gi is not None and not isinstance(gi, Tensor):
                gi = _creation.tensor(gi, dtype=g.dtype)
            out.append(gi)
        return out


class Function:
    """A differentiable operation defined by its forward and backward.

    ::

        class Cube(ad.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, g):
                x, = ctx.saved_tensors
                return g * 3 * x ** 2

        y = Cube.apply(x)

    ``forward`` runs without recording and returns one Tensor; ``backward``
    gets the gradient of that output and returns one gradient (or None)
    per argument of ``forward``.  During ``backward()`` it runs in the C
    sweep; with ``create_graph=True`` (and in ``ad.grad(ad.grad(...))``)
    it runs recorded, so a backward written with autodiff ops is itself
    differentiable.  Custom functions cannot be captured by
    ``autodiff.compile``: that raises, as the replay runs only C.

    Parameters
    ----------
    *args, **kwargs
        Not accepted: a Function is not instantiated (RuntimeError); call
        ``MyFunction.apply(...)``.

    Examples
    --------
    >>> class Cube(ad.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         x, = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad.tolist()
    [3.0, 12.0]
    """

    def __init__(self, *args, **kwargs):
        raise RuntimeError("Function subclasses are used through their "
                           "static apply(), not instantiated")

    @staticmethod
    def forward(ctx, *args):
        """The computation, defined by a subclass as a staticmethod; it runs
        without recording and returns one Tensor.

        Parameters
        ----------
        ctx : FunctionCtx
            Save tensors (``ctx.save_for_backward``) and other attributes on
            it.
        *args
            The arguments given to :meth:`apply`.

        Raises
        ------
        NotImplementedError
            When the subclass does not define it.
        """
        raise NotImplementedError("a Function subclass must define forward")

    @staticmethod
    def backward(ctx, *grads):
        """The gradient rule, defined by a subclass as a staticmethod.

        Parameters
        ----------
        ctx : FunctionCtx
            The forward's ctx.
        *grads : Tensor
            The gradient of the forward's output.

        Returns
        -------
        Tensor, None or tuple of them
            One gradient (or None) per argument of forward.

        Raises
        ------
        NotImplementedError
            When the subclass does not define it.
        """
        raise NotImplementedError("a Function subclass must define backward")

    @classmethod
    def apply(cls, *args):
        """Run the Function on `args`, recording it (when an argument requires
        grad) so that backward calls the subclass's ``backward``.

        Parameters
        ----------
        *args
            Passed to ``forward`` after its ctx; the Tensors among them are the
            differentiable inputs.

        Returns
        -------
        Tensor

        Raises
        ------
        NotCompilableError
            While ad.compile records (the backward is Python).
        TypeError
            When forward does not return one Tensor.
        RuntimeError
            (during backward) when backward returns the wrong number of
            gradients.
        """
        if E.is_capturing():
            raise NotCompilableError(
                "custom Function %s cannot be recorded by autodiff.compile "
                "(its backward is Python); run this step eagerly"
                % cls.__name__)
        ctx = FunctionCtx()
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad
                                     for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            raise TypeError("%s.forward must return one Tensor, got %s"
                            % (cls.__name__, type(out).__name__))
        inputs = [args[i] for i in positions]
        if not (E.is_grad_enabled() and any(t.requires_grad for t in inputs)):
            return out
        node = _Node(cls, ctx, positions, len(args))
        return E._custom(inputs, out, node)
