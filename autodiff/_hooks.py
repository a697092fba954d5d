"""Gradient hooks: ``Tensor.register_hook`` and the modules' full backward
hooks (``register_full_backward_hook`` / ``register_full_backward_pre_hook``).

Each is an identity custom Function (``autograd.Function``) spliced into
the graph, whose Python backward calls the hooks: the C sweep reaches it
like any other record.  A custom Function cannot be recorded by
``ad.compile`` (a replay runs no Python), so a compiled step that meets a
hook raises NotCompilableError instead of silently skipping it.

* A non-leaf tensor's hooks: on the first ``register_hook`` the Python
  object takes the output of the identity (``_engine._rebind``), so the
  ops recorded *after* that see the hooked tensor, as in torch for every
  use made after registering (a use recorded before the registration
  bypasses the hook: register hooks right after making the tensor).
* A leaf's hooks run in ``backward()``: the sweep leaves each hooked
  leaf's gradient apart, the hooks get it (and may replace it), and the
  result is added to ``.grad`` -- torch's AccumulateGrad order.
* A module's full backward hooks: the tensors among its positional
  arguments that require grad go through one identity (their flattened
  values concatenated, so ONE backward call sees every input's gradient,
  as torch's BackwardHookFunction), the output through another.
"""
import threading
import weakref
from collections import OrderedDict

from . import _engine as E
from ._capture import NotCompilableError
from ._grad_mode import enable_grad, no_grad

__all__ = ["RemovableHandle", "register_tensor_hook"]


class RemovableHandle:
    """What the ``register_*hook`` methods return, as
    torch.utils.hooks.RemovableHandle: ``remove()`` unregisters the hook
    (also on leaving a ``with`` block).

    Parameters
    ----------
    hooks : dict
        The ordered dict of hooks the hook was added to.
    extra : dict, optional
        Another dict keyed by the handle's id (a hook's options) to clean.
    """
    _next_id = 0
    _lock = threading.Lock()

    def __init__(self, hooks, extra=()):
        self.hooks_dict_ref = hooks
        self.extra_dicts = tuple(extra)
        with RemovableHandle._lock:
            self.id = RemovableHandle._next_id
            RemovableHandle._next_id += 1

    def remove(self):
        """Unregister the hook (a no-op the second time)."""
        for d in self.extra_dicts:
            d.pop(self.id, None)
        if self.hooks_dict_ref.pop(self.id, None) is not None:
            E._bump_epoch()         # a compiled step records again

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(hooks, hook, prepend=False, extra=()):
    """Add hook to the ordered dict hooks; its handle."""
    if not callable(hook):
        raise TypeError("a hook must be callable, got %s"
                        % type(hook).__name__)
    handle = RemovableHandle(hooks, extra)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    E._bump_epoch()
    return handle


def _refuse_capture(what):
    if E.is_capturing():
        raise NotCompilableError(
            "%s runs Python during backward, which a compiled replay cannot "
            "run; remove the hook (handle.remove()) or run this step "
            "eagerly" % what)


def _Function():
    from .autograd import Function
    return Function


def _apply_tensor_hooks(hooks, g):
    for hook in list(hooks.values()):
        r = hook(g)
        if r is not None:
            if not isinstance(r, E.Tensor):
                raise TypeError("a tensor hook must return a Tensor or None, "
                                "got %s" % type(r).__name__)
            if r.shape != g.shape:
                raise RuntimeError("hook returned a gradient of shape %s, "
                                   "expected %s" % (r.shape, g.shape))
            g = r if r.dtype == g.dtype else r.to(g.dtype)
    return g


_IDENTITY = None


def _identity_fn():
    """The identity Function whose backward calls a tensor's hooks."""
    global _IDENTITY
    if _IDENTITY is None:
        class TensorHook(_Function()):
            @staticmethod
            def forward(ctx, x, hooks):
                ctx.hooks = hooks
                return x.detach()

            @staticmethod
            def backward(ctx, g):
                return _apply_tensor_hooks(ctx.hooks, g), None
        _IDENTITY = TensorHook
    return _IDENTITY


class _ById:
    """A table id(tensor) -> value whose entries die with their tensor
    (Tensor's == is elementwise, so tensors cannot be dict keys)."""

    def __init__(self, table):
        self.table = table

    def get(self, t):
        e = self.table.get(id(t))
        return None if e is None or e[0]() is not t else e[1]

    def set(self, t, value):
        key, table = id(t), self.table
        table[key] = (weakref.ref(t, lambda _r: table.pop(key, None)), value)

    def items(self):
        out = []
        for ref, value in list(self.table.values()):
            t = ref()
            if t is not None:
                out.append((t, value))
        return out


# leaf -> hooks: Tensor.backward checks the engine's table for any entry
_LEAF_HOOKS = _ById(E._leaf_hooks)
# non-leaf -> (C tensor key, hooks)
_TENSOR_HOOKS = _ById({})


def register_tensor_hook(t, hook):
    """Tensor.register_hook(hook): hook(grad) runs when t's gradient is
    computed and may return a new gradient (a Tensor of t's shape) used
    in its place.  Returns a RemovableHandle."""
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't "
                           "require gradient")
    _refuse_capture("Tensor.register_hook")
    if E._node(t) is None:                      # a leaf
        hooks = _LEAF_HOOKS.get(t)
        if hooks is None:
            hooks = OrderedDict()
            _LEAF_HOOKS.set(t, hooks)
        return add_hook(hooks, hook)
    entry = _TENSOR_HOOKS.get(t)
    if entry is None or entry[0] != E._node_key(t):
        hooks = OrderedDict()
        with enable_grad():         # also when registered under no_grad
            E._rebind(t, _identity_fn().apply(t, hooks))
        _TENSOR_HOOKS.set(t, (E._node_key(t), hooks))
    else:
        hooks = entry[1]
    return add_hook(hooks, hook)


def apply_leaf_hooks(t, g):
    """g after the hooks registered on the leaf t (autograd.grad and
    backward(create_graph=True) call this for each leaf they reach)."""
    if not _LEAF_HOOKS.table:
        return g
    hooks = _LEAF_HOOKS.get(t)
    if hooks is None:       # another Python handle of the same C tensor
        key = E._node_key(t)
        hooks = next((h for u, h in _LEAF_HOOKS.items()
                      if E._node_key(u) == key), None)
    return _apply_tensor_hooks(hooks, g) if hooks else g


def backward_with_leaf_hooks(root, grad, retain_graph):
    """Tensor.backward when some leaf has hooks: the sweep, with each
    hooked leaf that the graph reaches getting its gradient through its
    hooks before it is added to .grad."""
    from .autograd import _walk
    _order, nodes = _walk([root])
    hooked = [(t, h) for t, h in _LEAF_HOOKS.items()
              if h and E._node_key(t) in nodes]
    if not hooked:
        return E._sweep_backward(root, grad, retain_graph)
    _refuse_capture("a hook on a leaf tensor (Tensor.register_hook)")
    old = [t.grad for t, _ in hooked]
    for t, _ in hooked:
        t.grad = None
    try:
        E._sweep_backward(root, grad, retain_graph)
    except BaseException:
        for (t, _), g0 in zip(hooked, old):
            t.grad = g0
        raise
    for (t, hooks), g0 in zip(hooked, old):
        g = t.grad
        if g is None:
            t.grad = g0
            continue
        t.grad = None
        g = _apply_tensor_hooks(hooks, g)
        if g0 is not None:
            with no_grad():
                g0 += g
            g = g0
        t.grad = g


# ---------------------------------------------------------- module hooks

class _ModuleBackwardHooks:
    """One call's backward hooks of a module: the gradients of its output
    (grad_output) and inputs (grad_input) meet here."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = list(hooks)
        self.pre_hooks = list(pre_hooks)
        self.grad_outputs = None
        self.n_inputs = 0
        self.index = None       # positions of the packed inputs
        self.shapes = None

    def setup_inputs(self, args):
        """args with the tensors that require grad replaced by the output
        of one identity over all of them."""
        self.n_inputs = len(args)
        if not E.is_grad_enabled():
            return args
        idx = [i for i, a in enumerate(args)
               if isinstance(a, E.Tensor) and a.requires_grad]
        if not idx:
            return args
        dts = {args[i].dtype for i in idx}
        if len(dts) > 1:
            raise NotImplementedError(
                "full backward hooks: the inputs that require grad must have "
                "one dtype, got %s" % sorted(str(d) for d in dts))
        self.index = idx
        self.shapes = [args[i].shape for i in idx]
        packed = _inputs_fn().apply(self, *[args[i] for i in idx])
        out = list(args)
        for i, x in zip(idx, self.split(packed)):
            out[i] = x
        return tuple(out)

    def setup_output(self, out):
        if not isinstance(out, E.Tensor):
            raise NotImplementedError(
                "full backward hooks support modules whose forward returns "
                "one Tensor, %s returned %s"
                % (type(self.module).__name__, type(out).__name__))
        if not out.requires_grad:
            return out
        return _output_fn().apply(out, self)

    def on_output_grad(self, g):
        self.grad_outputs = (g,)
        for hook in self.pre_hooks:
            r = hook(self.module, self.grad_outputs)
            if r is None:
                continue
            if not isinstance(r, tuple):
                r = (r,)
            if len(r) != 1:
                raise RuntimeError("Backward pre hook returned an invalid "
                                   "number of grad_output, got %d, but "
                                   "expected 1" % len(r))
            self.grad_outputs = r
        grad_outputs = self.grad_outputs
        if self.index is None:
            # no input requires grad: the hooks fire now, as torch's
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                r = hook(self.module, grad_inputs, grad_outputs)
                if r is not None and not (isinstance(r, tuple) and
                                          all(x is None for x in r)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires "
                        "gradient should always return None or None for all "
                        "gradients.")
            self.grad_outputs = None
        return grad_outputs[0]

    def split(self, g):
        """The packed gradient g cut into one per packed input."""
        out, off = [], 0
        for shape in self.shapes:
            n = 1
            for d in shape:
                n *= d
            out.append(g[off:off + n].reshape(shape))
            off += n
        return out

    def on_input_grad(self, g):
        """The inputs' gradients (one per packed input) after the hooks."""
        grads = self.split(g)
        if self.grad_outputs is None:
            return grads    # the gradient did not come through the output
        res = [None] * self.n_inputs
        for i, gi in zip(self.index, grads):
            res[i] = gi
        res = tuple(res)
        for hook in self.hooks:
            r = hook(self.module, res, self.grad_outputs)
            if r is None:
                continue
            if not isinstance(r, (tuple, list)) or len(r) != len(res):
                raise RuntimeError(
                    "Backward hook returned an invalid number of grad_input, "
                    "got %s, but expected %d"
                    % (len(r) if isinstance(r, (tuple, list)) else
                       type(r).__name__, len(res)))
            res = tuple(r)
        self.grad_outputs = None
        out = []
        for i, shape in zip(self.index, self.shapes):
            gi = res[i]
            if gi is not None and tuple(gi.shape) != tuple(shape):
                raise RuntimeError("backward hook returned a grad_input of "
                                   "shape %s for an input of shape %s"
                                   % (gi.shape, shape))
            out.append(gi)
        return out


_INPUTS = _OUTPUT = None


def _inputs_fn():
    global _INPUTS
    if _INPUTS is None:
        class BackwardHookInputs(_Function()):
            @staticmethod
            def forward(ctx, state, *xs):
                ctx.state = state
                flat = [x.detach().reshape(-1) for x in xs]
                return E.concatenate(flat) if len(flat) > 1 else flat[0]

            @staticmethod
            def backward(ctx, g):
                return (None,) + tuple(ctx.state.on_input_grad(g))
        _INPUTS = BackwardHookInputs
    return _INPUTS


def _output_fn():
    global _OUTPUT
    if _OUTPUT is None:
        class BackwardHookOutput(_Function()):
            @staticmethod
            def forward(ctx, y, state):
                ctx.state = state
                return y.detach()

            @staticmethod
            def backward(ctx, g):
                return ctx.state.on_output_grad(g), None
        _OUTPUT = BackwardHookOutput
    return _OUTPUT
