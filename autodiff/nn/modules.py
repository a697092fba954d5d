"""Modules: parameters and submodules registered by attribute, as in torch."""
import math
from collections import OrderedDict

import numpy as np

from .. import _creation, _losses, _ops
from .. import _engine
from .._grad_mode import no_grad
from .. import _hooks
from .._capture import NotCompilableError
from ..checkpoint import load_safetensors, save_safetensors
from .._engine import Tensor
from . import functional as F
from . import init


def _device_type():
    from .._device import device
    return device


class Parameter(Tensor):
    """A tensor that a :class:`Module` registers as a parameter when assigned
    as its attribute (torch.nn.Parameter).

    Parameters
    ----------
    data : Tensor, array or None, default None
        The values: a tensor is detached (sharing its memory), other data is
        converted by :func:`autodiff.tensor` (a copy); None gives an empty
        float32 tensor.
    requires_grad : bool, default True
        Whether the parameter takes part in autograd.

    Examples
    --------
    >>> p = nn.Parameter(ad.zeros(2, 3))
    >>> p.shape, p.requires_grad, p.is_leaf
    ((2, 3), True, True)
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        if not isinstance(data, Tensor):
            data = _creation.tensor(data)
        t = _engine._as_subclass(cls, data.detach())
        t.requires_grad_(requires_grad)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (Parameter, (self.numpy(), self.requires_grad))


RemovableHandle = _hooks.RemovableHandle   # importable from here too


class LoadStateDictError(RuntimeError, ValueError):
    """Module.load_state_dict found bad keys, shapes or dtypes (nothing was
    loaded).  A RuntimeError as in torch, and a ValueError as autodiff
    raised before."""


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module as an attribute registers it;
    ``parameters()``, ``state_dict()``, ``train()``/``eval()`` and
    ``zero_grad()`` then see it, recursively.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before "
                                 "Module.__init__() is called")
        # A compiled step may have baked in the old value (a layer, a
        # flag, dropout's p): make recordings record again.
        _engine._bump_epoch()
        if name in self._buffers and not isinstance(value, (Parameter,
                                                             Module)):
            # Assigning to a buffer updates it, as in torch.
            if value is not None and not isinstance(value, Tensor):
                raise TypeError("cannot assign %s as buffer %r (a Tensor or "
                                "None expected)" % (type(value).__name__,
                                                    name))
            self._buffers[name] = value
            return
        if (name in self._parameters and value is not None
                and not isinstance(value, Parameter)):
            raise TypeError("cannot assign %s as parameter %r (a Parameter "
                            "or None expected)" % (type(value).__name__,
                                                   name))
        # a name keeps its place in its table when reassigned (torch's
        # order of state_dict keys and of a container's entries)
        table = (self._parameters if isinstance(value, Parameter) else
                 self._modules if isinstance(value, Module) else None)
        for d in (self._parameters, self._buffers, self._modules):
            if d is not table:
                d.pop(name, None)
        self._non_persistent_set().discard(name)
        if table is None:
            object.__setattr__(self, name, value)
            return
        table[name] = value
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError("%r object has no attribute %r"
                             % (type(self).__name__, name))

    def __delattr__(self, name):
        _engine._bump_epoch()
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                self._non_persistent_set().discard(name)
                return
        object.__delattr__(self, name)

    def _non_persistent_set(self):
        # modules pickled or built before the set existed have none
        s = self.__dict__.get("_non_persistent_buffers_set")
        if s is None:
            s = set()
            object.__setattr__(self, "_non_persistent_buffers_set", s)
        return s

    def _get_name(self):
        return type(self).__name__

    def register_parameter(self, name, param):
        """Add a parameter (or None, a declared but absent one) under name.

        Parameters
        ----------
        name : str
            The attribute name.
        param : Parameter, Tensor or None
            A Tensor is wrapped in a Parameter.
        """
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param if isinstance(param, Parameter)
                    else Parameter(param))

    def register_buffer(self, name, tensor, persistent=True):
        """Add a tensor that is part of the module's state but not trained.

        Parameters
        ----------
        name : str
            The attribute name (no ".", not empty, not another attribute).
        tensor : Tensor or None
            The buffer; None declares it absent (left out of state_dict).
        persistent : bool
            Whether state_dict() includes it (torch's default True).
        """
        if not isinstance(name, str):
            raise TypeError("buffer name should be a string. Got %s"
                            % type(name).__name__)
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if name not in self._buffers and (
                name in self._parameters or name in self._modules or
                name in self.__dict__ or hasattr(type(self), name)):
            raise KeyError("attribute '%s' already exists" % name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError("cannot assign '%s' object to buffer '%s' "
                            "(torch Tensor or None required)"
                            % (type(tensor).__name__, name))
        _engine._bump_epoch()
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_set().discard(name)
        else:
            self._non_persistent_set().add(name)

    def add_module(self, name, module):
        """Register `module` as the submodule `name` (torch's add_module, also
        register_module); the same as ``setattr(self, name, module)``.

        Parameters
        ----------
        name : str
            The attribute name: not empty, without ".".
        module : Module or None
            None registers an empty slot (skipped by modules() and
            state_dict()).

        Raises
        ------
        TypeError
            When `module` is not a Module or `name` not a str.
        KeyError
            When `name` is empty or contains ".".
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError("%s is not a Module subclass"
                            % type(module).__name__)
        if not isinstance(name, str):
            raise TypeError("module name should be a string. Got %s"
                            % type(name).__name__)
        if "." in name:
            raise KeyError('module name can\'t contain ".", got: %s' % name)
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        if module is None:
            _engine._bump_epoch()
            self.__dict__.pop(name, None)
            self._modules[name] = None
            return
        setattr(self, name, module)

    register_module = add_module

    # ---- calling
    def forward(self, *args, **kwargs):
        """The computation of the module; subclasses define it (call the
        module, ``module(x)``, rather than ``forward``, so that hooks run).

        Parameters
        ----------
        *args, **kwargs
            The inputs, as the subclass defines them.

        Raises
        ------
        NotImplementedError
            When the subclass does not define it.
        """
        raise NotImplementedError("%s must define forward()"
                                  % type(self).__name__)

    def __call__(self, *args, **kwargs):
        # these four hook kinds are the ones _plain (below) checks
        d = self.__dict__
        pre, post = d.get("_forward_pre_hooks"), d.get("_forward_hooks")
        bw, bw_pre = d.get("_backward_hooks"), d.get("_backward_pre_hooks")
        if not (pre or post or bw or bw_pre):
            return self.forward(*args, **kwargs)
        if _engine.is_capturing():
            # A replay runs no Python: the hook would silently not run.
            raise NotCompilableError(
                "%s has hooks (register_forward_hook / ..._pre_hook / "
                "register_full_backward_hook), which a compiled replay "
                "cannot run; remove them (handle.remove()) or run this step "
                "eagerly" % type(self).__name__)
        with_kwargs = d.get("_hooks_with_kwargs", {})
        for hid, hook in list((pre or {}).items()):
            if hid in with_kwargs:
                r = hook(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of "
                            "(new_args, new_kwargs), but got %r." % (r,))
                    args, kwargs = r
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        state = None
        if bw or bw_pre:
            state = _hooks._ModuleBackwardHooks(
                self, (bw or {}).values(), (bw_pre or {}).values())
            args = state.setup_inputs(args)
        called = set()
        try:
            out = self.forward(*args, **kwargs)
            for hid, hook in list((post or {}).items()):
                called.add(hid)
                if hid in with_kwargs:
                    r = hook(self, args, kwargs, out)
                else:
                    r = hook(self, args, out)
                if r is not None:
                    out = r
        except Exception:
            self._run_always_called(args, kwargs, called)
            raise
        if state is not None:
            out = state.setup_output(out)
        return out

    def _run_always_called(self, args, kwargs, called):
        """forward (or a hook) raised: the always_call forward hooks not yet
        run get output None; their own errors become warnings (torch)."""
        import warnings
        always = self.__dict__.get("_hooks_always_called", {})
        with_kwargs = self.__dict__.get("_hooks_with_kwargs", {})
        for hid, hook in list(self.__dict__.get("_forward_hooks",
                                                {}).items()):
            if hid not in always or hid in called:
                continue
            try:
                if hid in with_kwargs:
                    hook(self, args, kwargs, None)
                else:
                    hook(self, args, None)
            except Exception as e:
                warnings.warn("module forward hook with ``always_call=True`` "
                              "raised an exception that was silenced as "
                              "another error was raised in forward: %s" % e,
                              stacklevel=3)

    # ---- hooks
    def _add_hook(self, kind, hook, prepend, with_kwargs=False,
                  always_call=False):
        hooks = self.__dict__.get(kind)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, kind, hooks)
        extra = []
        for flag, name in ((with_kwargs, "_hooks_with_kwargs"),
                           (always_call, "_hooks_always_called")):
            if flag:
                d = self.__dict__.get(name)
                if d is None:
                    d = {}
                    object.__setattr__(self, name, d)
                extra.append(d)
        handle = _hooks.add_hook(hooks, hook, prepend, extra)
        for d in extra:
            d[handle.id] = True
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False,
                                  with_kwargs=False):
        """Register hook(module, args) to run before forward().

        Parameters
        ----------
        hook : callable
            ``hook(module, args)``; a non-None result replaces the
            positional arguments (a single value is wrapped in a tuple).
            With ``with_kwargs=True``: ``hook(module, args, kwargs)``
            returning None or a tuple ``(args, kwargs)``.
        prepend : bool
            Run it before the hooks already registered.
        with_kwargs : bool
            Pass the keyword arguments too.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.

        A module with hooks cannot be recorded by ``ad.compile``
        (NotCompilableError): a replay runs no Python.
        """
        return self._add_hook("_forward_pre_hooks", hook, prepend,
                              with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False,
                              with_kwargs=False, always_call=False):
        """Register hook(module, args, output) to run after forward().

        Parameters
        ----------
        hook : callable
            ``hook(module, args, output)`` (with ``with_kwargs=True``:
            ``hook(module, args, kwargs, output)``); a non-None result
            replaces the output.
        prepend : bool
            Run it before the hooks already registered.
        with_kwargs : bool
            Pass the keyword arguments too.
        always_call : bool
            Also run it (with output None) when forward raises.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.
        """
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs,
                              always_call)

    def register_full_backward_hook(self, hook, prepend=False):
        """Register hook(module, grad_input, grad_output), called once the
        gradients with respect to the module's inputs are computed.

        Parameters
        ----------
        hook : callable
            ``grad_input`` holds one entry per positional argument (None
            for those that are not Tensors requiring grad), ``grad_output``
            one per output.  A non-None result (a tuple as long as
            grad_input) replaces the inputs' gradients.  The module's
            forward must return one Tensor.
        prepend : bool
            Run it before the hooks already registered.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.
        """
        return self._add_hook("_backward_hooks", hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Register hook(module, grad_output), called when the gradient of
        the module's output is computed; a non-None result (a tuple of one
        Tensor) replaces grad_output.

        Parameters
        ----------
        hook : callable
            ``hook(module, grad_output)``.
        prepend : bool
            Run it before the hooks already registered.

        Returns
        -------
        RemovableHandle
            Its ``remove()`` unregisters the hook.
        """
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    # ---- traversal
    def named_children(self):
        """Iterate (name, module) over the direct submodules (each once)."""
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def children(self):
        """Iterate over the direct submodules."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Iterate (name, module) over this module and all below it,
        depth first, as torch.

        Parameters
        ----------
        memo : set, optional
            ids of modules already yielded (shared by the recursion).
        prefix : str
            Prepended (with a ".") to every name.
        remove_duplicate : bool
            Yield a module reachable by several paths once.
        """
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        """Iterate over this module and every module below it."""
        for _, m in self.named_modules():
            yield m

    def _named_members(self, get, prefix, recurse, remove_duplicate):
        memo = set()
        mods = (self.named_modules(prefix=prefix,
                                   remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])
        for mname, m in mods:
            for k, v in get(m):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (mname + "." if mname else "") + k, v

    def named_parameters(self, prefix="", recurse=True,
                         remove_duplicate=True):
        """Iterate (name, parameter), as torch.

        Parameters
        ----------
        prefix : str
            Prepended (with a ".") to every name.
        recurse : bool
            Include the submodules' parameters.
        remove_duplicate : bool
            Yield a parameter shared by several modules once.
        """
        return self._named_members(lambda m: m._parameters.items(), prefix,
                                   recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """Iterate over the parameters, each once (see
        :meth:`named_parameters`).

        Parameters
        ----------
        recurse : bool, default True
            Include the submodules' parameters.

        Yields
        ------
        Parameter

        Examples
        --------
        >>> [tuple(p.shape) for p in nn.Linear(3, 2).parameters()]
        [(2, 3), (2,)]
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """Iterate (name, buffer), persistent or not, as torch.

        Parameters
        ----------
        prefix : str
            Prepended (with a ".") to every name.
        recurse : bool
            Include the submodules' buffers.
        remove_duplicate : bool
            Yield a buffer shared by several modules once.
        """
        return self._named_members(lambda m: m._buffers.items(), prefix,
                                   recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """Iterate over the buffers, persistent or not (see
        :meth:`named_buffers`).

        Parameters
        ----------
        recurse : bool, default True
            Include the submodules' buffers.

        Yields
        ------
        Tensor
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call `fn` on every submodule (children first, recursively), then on
        the module itself.

        Parameters
        ----------
        fn : callable
            ``fn(module)``; its result is ignored.

        Returns
        -------
        Module
            self (as ``model.apply(init_weights)`` is used).
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target):
        """The submodule at the dotted path target ("" is self).

        Parameters
        ----------
        target : str
            For example ``"encoder.layers.0"``.
        """
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `"
                                     + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def _get_member(self, target, table, kind):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(mod._get_name() + " has no attribute `"
                                 + name + "`")
        if name not in getattr(mod, table):
            raise AttributeError("`" + name + "` is not " + kind)
        return getattr(mod, name)

    def get_parameter(self, target):
        """The parameter at a dotted path.

        Parameters
        ----------
        target : str
            For example ``"0.weight"``.

        Returns
        -------
        Parameter

        Raises
        ------
        AttributeError
            When the path does not lead to a parameter.
        """
        return self._get_member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target):
        """The buffer at a dotted path.

        Parameters
        ----------
        target : str
            For example ``"bn.running_mean"``.

        Returns
        -------
        Tensor

        Raises
        ------
        AttributeError
            When the path does not lead to a buffer.
        """
        return self._get_member(target, "_buffers", "a buffer")

    # ---- devices and dtypes
    def _apply(self, fn):
        """Convert every parameter (in place: the same Parameter objects
        take the converted values, as torch's ``param.data = fn(param)``),
        its .grad, and every buffer (replaced) with fn, recursively.
        Nothing changes if fn fails on any tensor."""
        mods = list(self.modules())
        new_params, new_bufs = [], []
        with no_grad():
            for m in mods:
                for k, p in m._parameters.items():
                    if p is not None:
                        q = fn(p)
                        if q.dtype != p.dtype:
                            g = p.grad
                            new_params.append(
                                (p, q.detach(),
                                 None if g is None else fn(g).detach()))
                for k, b in m._buffers.items():
                    if b is not None:
                        q = fn(b)
                        if q.dtype != b.dtype:
                            new_bufs.append((m, k, q))
        done = set()
        for p, q, g in new_params:
            if id(p) in done:
                continue
            done.add(id(p))
            rg = p.requires_grad
            p.grad = None
            _engine._rebind(p, q)
            p.requires_grad_(rg)
            if g is not None:
                p.grad = g
        for m, k, q in new_bufs:
            m._buffers[k] = q
        if new_params or new_bufs:
            # compiled steps and optimizers hold the old memory
            _engine._bump_epoch()
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """Move and/or cast the parameters and buffers, as torch.

        Parameters
        ----------
        *args
            A device (``"cpu"``, ``ad.device("cpu")``), a dtype
            (``ad.float64``), both, or a Tensor whose dtype to take.
        device : str or device, optional
            The CPU is the only device: anything else raises.
        dtype : dtype, optional
            The floating point parameters and buffers are converted (int64
            buffers such as ``num_batches_tracked`` stay).  float16 is not
            supported (TypeError).
        non_blocking : bool
            Accepted for torch's signature.

        Returns
        -------
        Module
            self.  The Parameters are the same objects (their data is
            replaced, as torch does), so an optimizer built before keeps
            working: on its next step it rebuilds its kernels and casts
            its state (momentum buffers...) to the new dtype.
        """
        from .._device import check_device
        for a in args:
            if isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda",
                                                          "mps", "meta"):
                device = a
            elif isinstance(a, (int, _device_type())) and \
                    not isinstance(a, bool):
                device = a
            elif isinstance(a, Tensor):
                dtype = a.dtype
            else:
                dtype = a
        check_device(device)
        if dtype is None:
            return self
        dt = _float_dtype(dtype)
        return self._apply(
            lambda t: t.to(dt) if t.dtype.kind == "f" else t)

    def cpu(self):
        """The module itself (the CPU is the only device)."""
        return self

    def cuda(self, device=None):
        """Not supported: autodiff runs on the CPU only.

        Parameters
        ----------
        device : optional
            Ignored.

        Raises
        ------
        RuntimeError
            Always.
        """
        raise RuntimeError("autodiff runs on the CPU only: there is no CUDA "
                           "device (drop .cuda(), or use .to('cpu'))")

    def double(self):
        """Cast the floating point parameters and buffers to float64."""
        return self.to(_engine.float64)

    def float(self):
        """Cast the floating point parameters and buffers to float32."""
        return self.to(_engine.float32)

    def half(self):
        """torch's cast to float16: not supported (TypeError)."""
        return self.to(np.float16)

    def type(self, dst_type):
        """Cast every parameter and buffer, integer ones too, as torch's
        Module.type.

        Parameters
        ----------
        dst_type : dtype or str
            A float dtype, or ``"torch.FloatTensor"`` /
            ``"torch.DoubleTensor"``.

        Returns
        -------
        Module
            self.

        Raises
        ------
        TypeError
            For another type name or a dtype autodiff has no float for.
        """
        if isinstance(dst_type, str):
            names = {"torch.FloatTensor": _engine.float32,
                     "torch.DoubleTensor": _engine.float64}
            if dst_type not in names:
                raise TypeError("Module.type: unsupported type %r (%s)"
                                % (dst_type, ", ".join(names)))
            dst_type = names[dst_type]
        dt = _float_dtype(dst_type)
        return self._apply(lambda t: t.to(dt))

    # ---- modes and grads
    def train(self, mode=True):
        """Set training mode (or evaluation mode) on this module and every
        submodule: dropout drops and batch norm uses batch statistics in
        training mode.  A compiled step records again after a change.

        Parameters
        ----------
        mode : bool, default True
            True for training, False for evaluation (as :meth:`eval`).

        Returns
        -------
        Module
            self.
        """
        for m in self.modules():
            if m.training != bool(mode):
                _engine._bump_epoch()   # compiled steps record again
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of the parameters.

        Parameters
        ----------
        set_to_none : bool, default True
            Set each ``.grad`` to None (torch's default), or with False fill it
            with zeros in place.
        """
        _engine._zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (to freeze or unfreeze
        them).

        Parameters
        ----------
        requires_grad : bool, default True

        Returns
        -------
        Module
            self.
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ---- state
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        npb = self._non_persistent_set()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in npb:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """Names -> tensors, as torch: each module's parameters then its
        persistent buffers, then its submodules' (a shared tensor under
        every name it has).  The values share the parameters' memory
        (detached unless keep_vars).

        Parameters
        ----------
        destination : dict, optional
            Filled and returned (a new OrderedDict by default).
        prefix : str
            Prepended to every key.
        keep_vars : bool
            Keep the Parameter objects instead of detached tensors.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination,
                             prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copy the values of a state dict into the parameters and buffers, as
        torch.  Every key, shape and dtype is checked before anything is
        copied, so after an error nothing has changed.

        Parameters
        ----------
        state_dict : dict of str to Tensor or array
            As :meth:`state_dict` returns it (numpy arrays too, converted to
            each tensor's dtype).
        strict : bool, default True
            Missing and unexpected keys are errors; with False they are only
            reported.

        Returns
        -------
        dict
            ``{"missing_keys": [...], "unexpected_keys": [...]}``.

        Raises
        ------
        LoadStateDictError
            (a RuntimeError and ValueError) listing every problem: missing or
            unexpected keys (strict), shape or dtype mismatches, tensors that
            cannot be written.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        values = {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
            if arr.dtype.kind not in "fiub":
                errors.append("dtype mismatch for %s: cannot copy a value of "
                              "dtype %s into a %s tensor"
                              % (k, arr.dtype, t.dtype))
            elif tuple(arr.shape) != t.shape:
                errors.append("size mismatch for %s: copying a param with "
                              "shape %s from checkpoint, the shape in "
                              "current model is %s."
                              % (k, tuple(arr.shape), t.shape))
            else:
                try:
                    _engine._check_writable(t, "load_state_dict")
                except RuntimeError as e:
                    errors.append("%s: %s" % (k, e))
                # converted now, so that copying below cannot fail
                values[k] = np.asarray(arr, dtype=t.dtype)
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: %s."
                          % ", ".join('"%s"' % k for k in unexpected))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: %s."
                          % ", ".join('"%s"' % k for k in missing))
        if errors:
            raise LoadStateDictError(
                "Error(s) in loading state_dict for %s:\n\t%s"
                % (type(self).__name__, "\n\t".join(errors)))
        with no_grad():
            for k, arr in values.items():
                own[k].copy_(arr)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def save_safetensors(self, path):
        """Write the state dict to a safetensors file (readable by
        ``safetensors.numpy.load_file`` and torch's safetensors loader).

        Parameters
        ----------
        path : str or path-like

        Raises
        ------
        ImportError
            When the safetensors package is not installed.
        """
        save_safetensors(self, path)

    def load_safetensors(self, path, strict=True):
        """Load a safetensors file written by :meth:`save_safetensors` (or by
        torch) into the module, as :meth:`load_state_dict` does.

        Parameters
        ----------
        path : str or path-like
        strict : bool, default True
            As in :meth:`load_state_dict`.

        Returns
        -------
        dict
            The missing and unexpected keys.

        Raises
        ------
        ImportError
            When the safetensors package is not installed.
        LoadStateDictError
            As :meth:`load_state_dict`.
        """
        return load_safetensors(self, path, strict=strict)

    # ---- repr
    def extra_repr(self):
        """The module's own options shown in its repr (as torch's extra_repr);
        subclasses override it.

        Returns
        -------
        str
        """
        return ""

    def __repr__(self):
        # torch's format, character for character
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(%s): %s" % (name, _addindent(repr(m), 2))
                       for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _plain(m):
    """No hooks on m (the four kinds Module.__call__ runs) and no forward of
    its own set on the instance: calling m is calling its class's forward
    (nn.Sequential fuses such a Linear and ReLU)."""
    d = m.__dict__
    return not (d.get("_forward_pre_hooks") or d.get("_forward_hooks") or
                d.get("_backward_hooks") or d.get("_backward_pre_hooks") or
                "forward" in d)


def _addindent(s, n):
    """torch.nn.modules.module._addindent: indent every line but the
    first by n spaces."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + x for x in lines[1:])


def _float_dtype(dtype):
    """The engine dtype (float32 or float64) a module is cast to; a clear
    TypeError for float16 and anything else."""
    try:
        code = _engine._dtype_code_of(dtype)
    except TypeError:
        code = None
    if code not in (0, 1):
        raise TypeError("modules can be cast to float32 or float64 only, "
                        "got %r (autodiff has no float16 / bfloat16)"
                        % (dtype,))
    return _engine.float64 if code == 1 else _engine.float32


# ------------------------------------------------------------------ layers

class Linear(Module):
    """An affine map ``y = x W^T + b`` (torch.nn.Linear).

    The weight has shape (out_features, in_features) and is initialised as
    torch does: kaiming_uniform_ with a = sqrt(5); the bias
    U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Parameters
    ----------
    in_features : int
        The size of each input sample (the last dimension).
    out_features : int
        The size of each output sample.
    bias : bool, default True
        Add a learnable bias.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial values from it instead of the engine's stream.

    Raises
    ------
    ValueError
        When a size is not a non-negative int, or (calling it) when the
        input's last dimension is not in_features.

    Shape
    -----
    - Input: ``(*, in_features)``; data that is not a tensor is converted to
      the weight's dtype.
    - Output: ``(*, out_features)``.

    Examples
    --------
    >>> m = nn.Linear(3, 2)
    >>> m(ad.ones(4, 3)).shape, m.weight.shape
    ((4, 2), (2, 3))
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None,
                 generator=None):
        super().__init__()
        for name, v in (("in_features", in_features),
                        ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError("Linear: %s must be a non-negative integer, "
                                 "got %r" % (name, v))
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = dtype or _engine.float32
        self.weight = Parameter(_creation.zeros(out_features, in_features,
                                                dtype=dt))
        if bias:
            self.bias = Parameter(_creation.zeros(out_features, dtype=dt))
        else:
            self.bias = None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Draw the weight and bias again with torch's initialisation.

        Parameters
        ----------
        generator : numpy.random.Generator, optional
            Draw from it instead of the engine's stream.
        """
        if self.in_features and self.out_features:
            init.kaiming_uniform_(self.weight, a=math.sqrt(5),
                                  generator=generator)
        if self.bias is not None and self.in_features:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, generator)

    def _input(self, x):
        if not isinstance(x, Tensor):
            x = _creation.tensor(x, dtype=self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError("Linear(in_features=%d): input of shape %s has "
                             "%s features in its last dimension"
                             % (self.in_features, x.shape,
                                x.shape[-1] if x.ndim else "no"))
        return x

    def forward(self, x):
        return F.linear(self._input(x), self.weight, self.bias)

    def _forward_relu(self, x):
        """relu(self.forward(x)) as one record (nn.Sequential's Linear then
        ReLU): the same values and gradients to the bit, the ReLU done in
        the product's output pass."""
        return _engine._linear_relu(self._input(x), self.weight, self.bias)

    def extra_repr(self):
        return "in_features=%d, out_features=%d, bias=%s" % (
            self.in_features, self.out_features, self.bias is not None)


class Flatten(Module):
    """Flatten the dimensions start_dim to end_dim into one (torch.nn.Flatten).

    Parameters
    ----------
    start_dim : int, default 1
        The first dimension flattened (1 keeps the batch dimension).
    end_dim : int, default -1
        The last dimension flattened.

    Shape
    -----
    - Input: ``(*, S_start, ..., S_end, *)``.
    - Output: ``(*, S_start * ... * S_end, *)``.

    Examples
    --------
    >>> nn.Flatten()(ad.zeros(2, 3, 4)).shape
    (2, 12)
    """
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return _ops.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return "start_dim=%s, end_dim=%s" % (self.start_dim, self.end_dim)


class Identity(Module):
    """Return the input unchanged (torch.nn.Identity; constructor arguments
    are not accepted).

    Shape
    -----
    - Input: any.
    - Output: the input itself.

    Examples
    --------
    >>> x = ad.ones(2)
    >>> nn.Identity()(x) is x
    True
    """
    def forward(self, x):
        return x


class Dropout(Module):
    """Zero each element with probability p in training mode, scaling the
    others by 1 / (1 - p); the identity in evaluation mode (torch.nn.Dropout).

    The mask comes from the engine's random stream (seeded by
    :func:`autodiff.manual_seed`) or from `generator`.

    Parameters
    ----------
    p : float, default 0.5
        The probability of an element being zeroed, in [0, 1].
    inplace : bool, default False
        Accepted for torch's signature; the output is a new tensor.
    generator : numpy.random.Generator, optional
        Draw the mask from it (such a step refuses ad.compile).

    Raises
    ------
    ValueError
        When p is outside [0, 1].
    TypeError
        When inplace is not a bool.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the same shape.

    Examples
    --------
    >>> d = nn.Dropout(0.5).eval()
    >>> d(ad.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError("dropout probability has to be between 0 and 1, "
                             "but got %r" % (p,))
        if not isinstance(inplace, bool):
            # the old signature's second argument was the generator
            raise TypeError("Dropout: inplace must be a bool, got %s (pass "
                            "generator= by keyword)" % type(inplace).__name__)
        self.p = p
        self.inplace = inplace      # torch's signature; same values
        self.generator = generator

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return "p=%s, inplace=%s" % (self.p, self.inplace)


class Dropout2d(Module):
    """Zero whole channels with probability p in training mode, scaling the
    others by 1 / (1 - p); the identity in evaluation mode
    (torch.nn.Dropout2d).

    Parameters
    ----------
    p : float, default 0.5
        The probability of a channel being zeroed, in [0, 1].
    inplace : bool, default False
        Accepted for torch's signature; the output is a new tensor.
    generator : numpy.random.Generator, optional
        Draw the mask from it instead of the engine's stream.

    Raises
    ------
    ValueError
        When p is outside [0, 1].

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(C, H, W)`` (Dropout1d: ``(N, C, L)`` or
      ``(C, L)``).
    - Output: the same shape.

    Examples
    --------
    >>> y = nn.Dropout2d(0.5)(ad.ones(1, 8, 2, 2))
    >>> sorted(set(y.numpy().reshape(8, 4).std(axis=1).tolist()))
    [0.0]
    """
    _fn = "dropout2d"

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError("dropout probability has to be between 0 and 1, "
                             "but got %r" % (p,))
        self.p = p
        self.inplace = inplace
        self.generator = generator

    def forward(self, x):
        return getattr(F, self._fn)(x, self.p, self.training, self.inplace,
                                    self.generator)

    def extra_repr(self):
        return "p=%s, inplace=%s" % (self.p, self.inplace)


class Dropout1d(Dropout2d):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` inputs with
    probability p in training mode (torch.nn.Dropout1d); the parameters are
    those of :class:`Dropout2d`.

    Parameters
    ----------
    p : float, default 0.5
        The probability of a channel being zeroed, in [0, 1].
    inplace : bool, default False
        Accepted for torch's signature.
    generator : numpy.random.Generator, optional
        Draw the mask from it instead of the engine's stream.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: the same shape.
    """
    _fn = "dropout1d"


# ------------------------------------------------------------ activations

class _Activation(Module):
    """An elementwise function as a module; _options names the
    constructor arguments shown by repr."""
    _options: tuple[str, ...] = ()

    def extra_repr(self):
        return ", ".join("%s=%r" % (k, getattr(self, k))
                         for k in self._options)


class Sigmoid(_Activation):
    """The logistic function 1 / (1 + e^-x), elementwise (torch.nn.Sigmoid).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Sigmoid()(ad.tensor([0.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.5, 0.8808]
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(_Activation):
    """The hyperbolic tangent, elementwise (torch.nn.Tanh).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Tanh()(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.0, 0.7616]
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.tanh(x)


class ReLU(_Activation):
    """max(x, 0), elementwise (torch.nn.ReLU).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.ReLU()(ad.tensor([-1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.0, 2.0]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(_Activation):
    """x for x > 0, else negative_slope * x (torch.nn.LeakyReLU).

    Parameters
    ----------
    negative_slope : float, default 0.01
        The slope for x <= 0.
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.LeakyReLU(0.1)(ad.tensor([-1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.1, 2.0]
    """
    _options = ("negative_slope",)

    def __init__(self, negative_slope=0.01, *, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class ELU(_Activation):
    """The exponential linear unit: x for x > 0, else alpha (e^x - 1)
    (torch.nn.ELU).

    Parameters
    ----------
    alpha : float, default 1.0
        The value approached as x -> -inf is -alpha.
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.ELU()(ad.tensor([-1.0, 2.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.6321, 2.0]
    """
    _options = ("alpha",)

    def __init__(self, alpha=1.0, *, inplace=False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)


class SELU(_Activation):
    """The scaled ELU, scale * elu(x, alpha) with the self-normalising
    constants alpha = 1.6733 and scale = 1.0507 (torch.nn.SELU).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.SELU()(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-1.1113, 1.0507]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.selu(x)


class GELU(_Activation):
    """The Gaussian error linear unit x Phi(x), Phi the standard normal CDF, in
    its exact erf form (torch.nn.GELU).

    Parameters
    ----------
    approximate : {"none"}, default "none"
        torch's default; the "tanh" approximation is not implemented.

    Raises
    ------
    TypeError
        For approximate other than "none".

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.GELU()(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.1587, 0.8413]
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate != "none":
            # an unsupported option, refused like the others (TypeError)
            raise TypeError("GELU: only approximate='none' (the exact erf "
                            "form) is implemented, got %r" % (approximate,))
        self.approximate = approximate

    def extra_repr(self):
        return "approximate=%r" % (self.approximate,)

    def forward(self, x):
        return F.gelu(x)


class SiLU(_Activation):
    """x * sigmoid(x), also called swish (torch.nn.SiLU).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.SiLU()(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.2689, 0.7311]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.silu(x)


class Softplus(_Activation):
    """The smooth ReLU log(1 + e^(beta x)) / beta, and x itself where beta x >
    threshold (torch.nn.Softplus).

    Parameters
    ----------
    beta : float, default 1.0
        The sharpness (positive).
    threshold : float, default 20.0
        Above this value of beta x the output is x.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Softplus()(ad.tensor([0.0, 30.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.6931, 30.0]
    """
    _options = ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(_Activation):
    """Clamp to [min_val, max_val] (torch.nn.Hardtanh); the gradient is 1
    strictly inside, 0 at both ends and outside, as torch.

    Parameters
    ----------
    min_val, max_val : float, default -1.0, 1.0
        The bounds.
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Raises
    ------
    ValueError
        When min_val > max_val.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Hardtanh()(ad.tensor([-2.0, 0.5], dtype=ad.float64)).numpy().round(4).tolist()
    [-1.0, 0.5]
    """
    _options = ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, *, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError("Hardtanh: min_val cannot be greater than "
                             "max_val (got %r > %r)" % (min_val, max_val))
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)


class ReLU6(_Activation):
    """min(max(x, 0), 6) (torch.nn.ReLU6); gradient 0 at 0 and at 6, as torch.

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.ReLU6()(ad.tensor([-1.0, 7.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.0, 6.0]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu6(x)


class Hardsigmoid(_Activation):
    """relu6(x + 3) / 6 (torch.nn.Hardsigmoid).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Hardsigmoid()(ad.tensor([0.0, 4.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.5, 1.0]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(_Activation):
    """x * relu6(x + 3) / 6 (torch.nn.Hardswish).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Hardswish()(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.3333, 0.6667]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.hardswish(x)


class Mish(_Activation):
    """x * tanh(softplus(x)) (torch.nn.Mish).

    Parameters
    ----------
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Mish()(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.3034, 0.8651]
    """

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.mish(x)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), computed as min(x, 0) - log1p(e^-|x|), stable for any x
    (torch.nn.LogSigmoid).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.LogSigmoid()(ad.tensor([0.0, -100.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.6931, -100.0]
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(_Activation):
    """x / (1 + |x|) (torch.nn.Softsign).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Softsign()(ad.tensor([-1.0, 3.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.5, 0.75]
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.softsign(x)


class Tanhshrink(_Activation):
    """x - tanh(x) (torch.nn.Tanhshrink).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.Tanhshrink()(ad.tensor([0.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [0.0, 0.2384]
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.tanhshrink(x)


class CELU(_Activation):
    """The continuously differentiable ELU: x for x > 0, else alpha
    (e^(x/alpha) - 1) (torch.nn.CELU).

    Parameters
    ----------
    alpha : float, default 1.0
        Not 0.
    inplace : bool, default False (keyword only)
        Accepted for torch's signature; the output is a new tensor either way.

    Raises
    ------
    ValueError
        When alpha is 0.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the shape of the input.

    Examples
    --------
    >>> nn.CELU(2.0)(ad.tensor([-1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.7869, 1.0]
    """
    _options = ("alpha",)

    def __init__(self, alpha=1.0, *, inplace=False):
        super().__init__()
        if alpha == 0:
            raise ValueError("CELU: alpha cannot be 0")
        self.alpha = alpha

    def forward(self, x):
        return F.celu(x, self.alpha)


class PReLU(Module):
    """x where x > 0, else weight * x, with a learnable slope: one, or one per
    channel (dimension 1) (torch.nn.PReLU; the parameter is named weight,
    so torch state dicts load).

    Parameters
    ----------
    num_parameters : int, default 1
        1, or the number of channels.
    init : float, default 0.25
        The initial slope.
    dtype : dtype, optional
        The parameter's dtype (float32 by default).

    Raises
    ------
    ValueError
        When num_parameters is not a positive int.

    Shape
    -----
    - Input: ``(*)``; with num_parameters > 1, ``(N, C, *)`` with C =
      num_parameters.
    - Output: the same shape.

    Examples
    --------
    >>> nn.PReLU()(ad.tensor([-2.0, 2.0])).tolist()
    [-0.5, 2.0]
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, (int, np.integer)) or \
                num_parameters < 1:
            raise ValueError("PReLU: num_parameters must be a positive "
                             "integer, got %r" % (num_parameters,))
        self.num_parameters = int(num_parameters)
        self.init = init
        self.weight = Parameter(_creation.full(
            (self.num_parameters,), init, dtype=dtype or _engine.float32))

    def reset_parameters(self):
        """Fill the slope with its initial value `init` again."""
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return "num_parameters=%d" % self.num_parameters


class Softmax(_Activation):
    """e^x / sum(e^x) along a dimension, computed stably (torch.nn.Softmax).

    Parameters
    ----------
    dim : int, default -1
        The dimension that sums to 1 (torch warns for an implicit dim; here
        it is the last).

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the same shape.

    Examples
    --------
    >>> nn.Softmax(dim=0)(ad.tensor([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """
    _options = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=self.dim)


class LogSoftmax(_Activation):
    """x - logsumexp(x) along a dimension, computed stably
    (torch.nn.LogSoftmax).

    Parameters
    ----------
    dim : int, default -1
        The dimension normalised.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the same shape.

    Examples
    --------
    >>> nn.LogSoftmax(dim=0)(ad.tensor([1.0, 1.0], dtype=ad.float64)).numpy().round(4).tolist()
    [-0.6931, -0.6931]
    """
    _options = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, dim=self.dim)


# ----------------------------------------------------------------- losses

class _Loss(Module):
    """A loss module: torch's constructor arguments (the deprecated
    size_average / reduce decide the reduction when given, as torch's)."""

    _reductions = ("mean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _losses._reduction(reduction, size_average, reduce,
                                            self._reductions)


class _WeightedLoss(_Loss):
    """A loss with an optional weight tensor, kept as a buffer (torch's
    ``weight``)."""

    def __init__(self, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        _tensor_or_none("weight", weight)
        self.register_buffer("weight", weight)


def _tensor_or_none(name, value):
    if value is not None and not isinstance(value, Tensor):
        raise TypeError("cannot assign '%s' object to buffer '%s' (torch "
                        "Tensor or None required)"
                        % (type(value).__name__, name))


class MSELoss(_Loss):
    """Mean squared error (torch.nn.MSELoss).

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.MSELoss()(ad.tensor([1.0, 2.0]), ad.tensor([0.0, 0.0])).item()
    2.5
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (torch.nn.L1Loss).

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.L1Loss()(ad.tensor([1.0, -3.0]), ad.tensor([0.0, 0.0])).item()
    2.0
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (torch.nn.BCELoss).

    Parameters
    ----------
    weight : Tensor, optional
        Multiplies each element's loss (broadcast to the input).
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape, probabilities in [0, 1].
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.BCELoss()(ad.tensor([0.5, 0.5]), ad.tensor([1.0, 0.0])).item(), 4)
    0.6931
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (torch.nn.BCEWithLogitsLoss).

    Parameters
    ----------
    weight : Tensor, optional
        Multiplies each element's loss (broadcast to the input).
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : Tensor, optional
        Weight of the positive term, broadcast over the input (one per
        class, the last dim).

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape, logits.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.BCEWithLogitsLoss()(ad.tensor([0.0, 0.0]), ad.tensor([1.0, 0.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight=None, size_average=None, reduce=None,
                 reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        _tensor_or_none("weight", weight)
        _tensor_or_none("pos_weight", pos_weight)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction,
            pos_weight=self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits and class labels or class
    probabilities (torch.nn.CrossEntropyLoss).

    Parameters
    ----------
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing.
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float
        In [0, 1].

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(N, C)``, ``(C)`` or ``(N, C, d1, d2, ...)``, logits.
    - Target: class indices ``(N)``, ``()`` or ``(N, d1, d2, ...)`` (int64,
      in [0, C) or ignore_index);
      or class probabilities of the input's shape.
    - Output: a scalar; the target's shape with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.CrossEntropyLoss()(ad.zeros(2, 4), ad.tensor([0, 3])).item(), 4)
    1.3863
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100,
                 reduce=None, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index,
                               reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities and class labels
    (torch.nn.NLLLoss).

    Parameters
    ----------
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(N, C)``, ``(C)`` or ``(N, C, d1, d2, ...)``, log-probabilities.
    - Target: class indices ``(N)``, ``()`` or ``(N, d1, d2, ...)`` (int64,
      in [0, C) or ignore_index).
    - Output: a scalar; the target's shape with ``reduction="none"``.

    Examples
    --------
    >>> nn.NLLLoss()(ad.tensor([[-1.0, -2.0], [-3.0, -4.0]]), ad.tensor([0, 1])).item()
    2.5
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100,
                 reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight,
                          ignore_index=self.ignore_index,
                          reduction=self.reduction)


class HuberLoss(_Loss):
    """torch.nn.HuberLoss.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
    delta : float
        Where the quadratic turns linear.

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.HuberLoss()(ad.tensor([0.5, 3.0]), ad.tensor([0.0, 0.0])).item()
    1.3125
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction,
                            delta=self.delta)


class SmoothL1Loss(_Loss):
    """torch.nn.SmoothL1Loss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    beta : float
        Where the quadratic turns linear.

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.SmoothL1Loss()(ad.tensor([0.5, 3.0]), ad.tensor([0.0, 0.0])).item()
    1.3125
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean",
                 beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction,
                                beta=self.beta)


class KLDivLoss(_Loss):
    """torch.nn.KLDivLoss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'batchmean', 'sum', 'none'}
    log_target : bool
        Whether the target holds log-probabilities.

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape, log-probabilities.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar ("batchmean" divides the sum by N); ``(*)`` with
      ``reduction="none"``.

    Examples
    --------
    >>> round(nn.KLDivLoss(reduction='batchmean')(ad.tensor([[-1.0, -1.0]]), ad.tensor([[0.5, 0.5]])).item(), 4)
    0.3069
    """

    _reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction="mean",
                 log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction,
                        log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    """torch.nn.PoissonNLLLoss.

    Parameters
    ----------
    log_input : bool
        Whether the input is the rate's log.
    full : bool
        Add the Stirling term.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    eps : float
        Keeps log(input + eps) finite.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape: the rate's log (log_input=True) or the
      rate.
    - Target: ``(*)``, the same shape as the input.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.PoissonNLLLoss()(ad.tensor([0.0, 0.0]), ad.tensor([1.0, 2.0])).item()
    1.0
    """

    def __init__(self, log_input=True, full=False, size_average=None,
                 eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target,
                                  log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """torch.nn.GaussianNLLLoss.

    Parameters
    ----------
    full : bool
        Add 0.5 log(2 pi).
    eps : float
        The clamp of the variance.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(N, *)`` or ``(*)``, the means.
    - Target: the input's shape (or broadcastable to it).
    - Var: the input's shape, or one dimension less (homoscedastic), or with
      a last dimension of 1.
    - Output: a scalar; the input's shape with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.GaussianNLLLoss()(ad.tensor([0.0]), ad.tensor([2.0]), ad.tensor([1.0])).item(), 4)
    2.0
    """

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full,
                                   eps=self.eps, reduction=self.reduction)


class _MarginLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class CosineEmbeddingLoss(_MarginLoss):
    """torch.nn.CosineEmbeddingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input1, Input2: ``(N, D)`` or ``(D)``.
    - Target: ``(N)`` or ``()``, entries 1 (similar) or -1 (dissimilar).
    - Output: a scalar; ``(N)`` with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.CosineEmbeddingLoss()(ad.tensor([[1.0, 0.0]]), ad.tensor([[0.0, 1.0]]), ad.tensor([1.0])).item(), 4)
    1.0
    """

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target,
                                       margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_MarginLoss):
    """torch.nn.MarginRankingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input1, Input2: ``(N)`` or ``()``.
    - Target: the same shape, entries 1 (input1 should rank higher) or -1.
    - Output: a scalar; ``(N)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.MarginRankingLoss()(ad.tensor([1.0, 1.0]), ad.tensor([2.0, 0.0]), ad.tensor([1.0, 1.0])).item()
    0.5
    """

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target,
                                     margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """torch.nn.HingeEmbeddingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the input's shape, entries 1 or -1.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.HingeEmbeddingLoss()(ad.tensor([0.3, 0.3]), ad.tensor([1.0, -1.0])).item()
    0.5
    """

    def __init__(self, margin=1.0, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """torch.nn.SoftMarginLoss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Target: ``(*)``, the input's shape, entries 1 or -1.
    - Output: a scalar; ``(*)`` with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.SoftMarginLoss()(ad.tensor([0.0]), ad.tensor([1.0])).item(), 4)
    0.6931
    """

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """torch.nn.MultiMarginLoss.

    Parameters
    ----------
    p : int
        1 or 2.
    margin : float
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Input: ``(N, C)`` or ``(C)``, scores.
    - Target: ``(N)`` or ``()``, class indices (int64).
    - Output: a scalar; ``(N)`` with ``reduction="none"``.

    Examples
    --------
    >>> nn.MultiMarginLoss()(ad.tensor([[0.0, 0.5]]), ad.tensor([1])).item()
    0.25
    """

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None,
                 reduce=None, reduction="mean"):
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported, got %r"
                             % (p,))
        super().__init__(weight, size_average, reduce, reduction)
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p,
                                   margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """torch.nn.TripletMarginLoss.

    Parameters
    ----------
    margin : float
    p : float
        The norm's order.
    eps : float
        pairwise_distance's.
    swap : bool
        The distance swap.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}

    Raises
    ------
    ValueError
        When `reduction` is not one of its values (at construction), or
        (calling it) when the shapes do not match.

    Shape
    -----
    - Anchor, positive, negative: ``(N, D)`` or ``(D)``.
    - Output: a scalar; ``(N)`` with ``reduction="none"``.

    Examples
    --------
    >>> round(nn.TripletMarginLoss()(ad.tensor([[0.0, 0.0]]), ad.tensor([[1.0, 0.0]]), ad.tensor([[3.0, 0.0]])).item(), 4)
    0.0
    """

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False,
                 size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative,
                                     margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap,
                                     reduction=self.reduction)


class CosineSimilarity(Module):
    """torch.nn.CosineSimilarity.

    Parameters
    ----------
    dim : int
        The dim of the vectors.
    eps : float
        Smallest norm.

    Shape
    -----
    - Input1, Input2: ``(*1, D, *2)`` with D along `dim`; they broadcast.
    - Output: ``(*1, *2)``.

    Examples
    --------
    >>> round(nn.CosineSimilarity(dim=0)(ad.tensor([1.0, 0.0]), ad.tensor([1.0, 1.0])).item(), 4)
    0.7071
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """torch.nn.PairwiseDistance.

    Parameters
    ----------
    p : float
        The norm's order.
    eps : float
        Added to the difference.
    keepdim : bool
        Keep the reduced dim.

    Shape
    -----
    - Input1, Input2: ``(N, D)`` or ``(D)``; they broadcast.
    - Output: ``(N)`` (``(N, 1)`` with keepdim) or ``()``.

    Examples
    --------
    >>> round(nn.PairwiseDistance()(ad.tensor([[0.0, 0.0]]), ad.tensor([[3.0, 4.0]])).item(), 4)
    5.0
    """

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


# Sequential lives with the other containers; importable from here too.
from . import container as _container  # noqa: E402
Sequential = _container.Sequential
