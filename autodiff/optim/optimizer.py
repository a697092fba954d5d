"""Optimizers with PyTorch's update formulas.  Each step() is one call into
C per parameter group: a fused loop over every parameter's buffer."""
import copy
import weakref

import numpy as np

from .. import _creation
from .. import _engine
from .._engine import FusedUpdate, Tensor
from .._grad_mode import enable_grad


def _weak(opt):
    # weak: a group must not keep its optimizer alive (a dropped optimizer
    # is freed at once, without the cycle collector)
    return (lambda: None) if opt is None else weakref.ref(opt)


class _ParamGroup(dict):
    """A parameter group: a dict whose writes reach the optimizer at once.

    A hyperparameter written here (``group["lr"] = 0.01``, by a scheduler
    or by hand) reconfigures the group's C kernel immediately, so a
    compiled step's replay -- which runs no Python -- uses it.  Writing
    ``"params"`` or deleting a key changes the optimizer's structure: its
    kernels are rebuilt and compiled recordings record again."""
    __slots__ = ("_opt",)

    def __init__(self, opt, *args, **kwargs):
        dict.__init__(self, *args, **kwargs)
        self._opt = _weak(opt)

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, value)
        opt = self._opt()
        if opt is not None:
            opt._group_changed(self, key)

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def _restructure(self):
        opt = self._opt()
        if opt is not None:
            opt._structure_changed()

    def __delitem__(self, key):
        dict.__delitem__(self, key)
        self._restructure()

    def pop(self, *args):
        v = dict.pop(self, *args)
        self._restructure()
        return v

    def popitem(self):
        v = dict.popitem(self)
        self._restructure()
        return v

    def clear(self):
        dict.clear(self)
        self._restructure()

    def __reduce__(self):
        return (dict, (dict(self),))


class _Tracked(list):
    """A list (of parameter groups, or of a group's parameters) whose
    changes rebuild the optimizer's kernels."""
    __slots__ = ("_opt",)

    def __init__(self, opt, items=()):
        list.__init__(self, items)
        self._opt = _weak(opt)

    def _changed(self):
        opt = self._opt()
        if opt is not None:
            opt._structure_changed()

    def __reduce__(self):
        return (list, (list(self),))


def _tracking(name):
    base = getattr(list, name)

    def method(self, *args, **kwargs):
        r = base(self, *args, **kwargs)
        self._changed()
        return self if name == "__iadd__" else r
    method.__name__ = name
    return method


for _name in ("append", "extend", "insert", "remove", "pop", "clear",
              "sort", "reverse", "__setitem__", "__delitem__", "__iadd__"):
    setattr(_Tracked, _name, _tracking(_name))


def _check_nonneg(name, value):
    if not isinstance(value, (int, float, np.floating, np.integer)) or \
            isinstance(value, bool) or not value >= 0.0:
        raise ValueError("Invalid %s: %r (must be a non-negative number)"
                         % (name, value))


def _step_count(v):
    """v as a step count (an int, an integral float or a 0-d array from
    a checkpoint), or None when it is not a non-negative integer."""
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        a = np.asarray(v)
    except Exception:
        return None
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        return None
    x = a.item()
    if isinstance(x, float) and not (np.isfinite(x) and x == int(x)):
        return None
    if not 0 <= x < 2 ** 63:
        return None
    return int(x)


class Optimizer:
    """Holds parameter groups and per-parameter state.

    ``params`` is an iterable of tensors or of dicts with a ``"params"`` key
    and per-group options, as in torch.
    """
    #: names of the state tensors of each parameter, in C's slot order
    _slots = ()

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, "
                            "got a Tensor")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        self.defaults = dict(defaults)
        self._kernels = None
        self.param_groups = _Tracked(None)
        self.state = {}
        for g in params:
            self.add_param_group(g)
        self.param_groups._opt = _weak(self)

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with "params" and options;
        missing options take the optimizer's defaults), as torch."""
        if not isinstance(param_group, dict):
            raise TypeError("param_group must be a dict, got %s"
                            % type(param_group).__name__)
        group = dict(param_group)
        if "params" not in group:
            raise ValueError("a parameter group needs a 'params' entry")
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        if not ps:
            raise ValueError("optimizer got an empty parameter group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, "
                                "got %s" % type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than "
                                 "one parameter group")
            seen.add(id(p))
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group)
        group["params"] = _Tracked(self, ps)
        list.append(self.param_groups, _ParamGroup(self, group))
        self._structure_changed()

    def _structure_changed(self):
        """Parameters or groups changed: rebuild the C kernels at the next
        step (keeping every parameter's state) and make compiled
        recordings, which hold the old kernels, record again."""
        self._sync_steps()
        self._kernels = None
        _engine._bump_epoch()

    def _group_changed(self, group, key):
        if key == "params":
            if not isinstance(group["params"], _Tracked):
                ps = group["params"]
                ps = [ps] if isinstance(ps, Tensor) else list(ps)
                dict.__setitem__(group, "params", _Tracked(self, ps))
            self._structure_changed()
            return
        if self._kernels is None:
            return
        index = next((i for i, g in enumerate(self.param_groups)
                      if g is group), None)
        if index is None:
            return
        for p in group["params"]:
            st = self.state.get(p, {})
            for slot in self._slots:
                if slot not in st and self._needs(group, slot):
                    # the option now needs a state tensor (momentum set
                    # on): allocate it with the next step's rebuild
                    self._structure_changed()
                    return
        self._configure(self._kernels[index], group)

    def _validate(self, group):
        _check_nonneg("learning rate", group["lr"])
        _check_nonneg("weight_decay value", group.get("weight_decay", 0.0))

    def _needs(self, group, slot):
        return True

    def _init_state(self):
        """Allocate state tensors (zeros) and build one C kernel per group.
        The kernels are set only once all are built: an interrupt half-way
        must not leave a partial list that step() would take as complete
        (and then never update the remaining groups)."""
        kernels = []
        self._memory = self._param_memory()
        for i, group in enumerate(self.param_groups):
            if not isinstance(group, _ParamGroup):
                # a plain dict appended to param_groups by hand
                group = dict(group)
                group["params"] = _Tracked(self, group["params"])
                for k, v in self.defaults.items():
                    group.setdefault(k, v)
                self._validate(group)
                group = _ParamGroup(self, group)
                list.__setitem__(self.param_groups, i, group)
            state_list, steps = [], []
            for p in group["params"]:
                st = self.state.setdefault(p, {"step": 0})
                for slot in self._slots:
                    if slot not in st and self._needs(group, slot):
                        st[slot] = _creation.zeros_like(p)
                    elif st.get(slot) is not None and \
                            st[slot].dtype != p.dtype:
                        # Module.to(dtype) converted p in place: its state
                        # follows (as torch's load_state_dict casts it)
                        st[slot] = st[slot].to(p.dtype)
                state_list += [st.get(s) for s in self._slots]
                state_list += [None] * (3 - len(self._slots))
                steps.append(st["step"])
            kernels.append(FusedUpdate(group["params"], state_list, steps))
        self._kernels = kernels

    def _param_memory(self):
        """The parameters' C tensors: the kernels hold these."""
        return [_engine._node_key(p) for g in self.param_groups
                for p in g["params"]]

    def zero_grad(self, set_to_none=True):
        _engine._zero_grads(
            (p for g in self.param_groups for p in g["params"]), set_to_none)

    def _configure(self, kernel, group):
        raise NotImplementedError

    def step(self, closure=None):
        """Update every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self._kernels is None:
            self._init_state()
        elif self._memory != self._param_memory():
            # a parameter took new memory (Module.to(dtype)): rebuild
            self._structure_changed()
            self._init_state()
        for kernel, group in zip(self._kernels, self.param_groups):
            self._configure(kernel, group)
        # one C-level call for all groups: an interrupt lands before or
        # after the whole update, never between two groups
        _engine._step_all(self._kernels)
        return loss

    def _sync_steps(self):
        if getattr(self, "_kernels", None) is None:
            return
        for kernel, group in zip(self._kernels, self.param_groups):
            for p, n in zip(group["params"], kernel.step_counts()):
                self.state.setdefault(p, {})["step"] = n

    # ---- checkpoints
    def state_dict(self):
        """{'state': {index: {'step': n, slot: ndarray}}, 'param_groups':
        [options with 'params' as indices]}, as torch lays it out."""
        self._sync_steps()
        index = {}
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index[id(p)] = len(index)
                g["params"].append(index[id(p)])
            groups.append(g)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if not st:
                    continue
                state[index[id(p)]] = {
                    k: (v.numpy() if isinstance(v, Tensor) else v)
                    for k, v in st.items()}
        return {"state": state, "param_groups": copy.deepcopy(groups)}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has %d parameter groups, the "
                             "optimizer has %d"
                             % (len(groups), len(self.param_groups)))
        params = [p for g in self.param_groups for p in g["params"]]
        for g_new, g_own in zip(groups, self.param_groups):
            if len(g_new["params"]) != len(g_own["params"]):
                raise ValueError("loaded state dict contains a parameter "
                                 "group of size %d, the optimizer's has %d"
                                 % (len(g_new["params"]),
                                    len(g_own["params"])))
        state = {int(k): v for k, v in state_dict["state"].items()}
        # Everything is checked and converted before anything changes: a
        # bad step (-1 would make Adam's bias correction divide by zero)
        # or a bad array must not leave a half-loaded optimizer.
        problems = []
        new_state = {}
        for i, st in state.items():
            if not 0 <= i < len(params):
                problems.append("state for parameter %d, which does not "
                                "exist" % i)
                continue
            p = params[i]
            new = {}
            for k, v in st.items():
                if k == "step":
                    n = _step_count(v)
                    if n is None:
                        problems.append("parameter %d step: %r is not a "
                                        "non-negative integer" % (i, v))
                    new[k] = n
                elif k not in self._slots:
                    problems.append("parameter %d: unknown state %r for %s "
                                    "(it has step%s)"
                                    % (i, k, type(self).__name__, "".join(
                                        ", " + s for s in self._slots)))
                elif np.shape(v) != p.shape:
                    problems.append("parameter %d %s: shape %s, parameter "
                                    "shape %s" % (i, k, np.shape(v),
                                                  p.shape))
                else:
                    arr = np.asarray(v.numpy() if isinstance(v, Tensor)
                                     else v)
                    if arr.dtype.kind not in "fiub":
                        problems.append("parameter %d %s: dtype %s is not "
                                        "numeric" % (i, k, arr.dtype))
                        continue
                    new[k] = _creation.tensor(arr, dtype=p.dtype)
            new_state[p] = new
        merged = []
        for g_new, g_own in zip(groups, self.param_groups):
            g = dict(g_own)
            g.update((k, v) for k, v in g_new.items() if k != "params")
            try:
                self._validate(g)
            except (ValueError, TypeError, KeyError) as e:
                problems.append("parameter group %d: %s" % (len(merged), e))
            merged.append(g)
        if problems:
            raise ValueError("cannot load optimizer state: " +
                             "; ".join(problems))
        self._kernels = None        # its step counts are replaced, not kept
        for g, g_own in zip(merged, self.param_groups):
            for k, v in g.items():
                if k != "params":
                    dict.__setitem__(g_own, k, v)
        self.state = new_state
        # compiled recordings hold the old state tensors: record again
        _engine._bump_epoch()

    def __getstate__(self):
        # The C kernels (FusedUpdate) hold raw pointers and are not
        # copied: a copy (copy.deepcopy, pickle) rebuilds its own on its
        # first step(), from its own state tensors and the step counts
        # synced here.
        self._sync_steps()
        st = dict(self.__dict__)
        st["_kernels"] = None
        return st

    def __setstate__(self, state):
        # the groups come back as plain dicts and lists: make them the
        # write-through kind again, bound to this optimizer
        self.__dict__.update(state)
        groups = _Tracked(None)
        for g in state["param_groups"]:
            g = dict(g)
            g["params"] = _Tracked(self, g["params"])
            list.append(groups, _ParamGroup(self, g))
        groups._opt = _weak(self)
        self.param_groups = groups
        self._kernels = None

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append("Parameter Group %d" % i)
            for k in sorted(g):
                if k != "params":
                    lines.append("    %s: %r" % (k, g[k]))
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (and dampening,
    Nesterov) and L2 weight decay, as torch.optim.SGD."""
    _slots = ("momentum_buffer",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0,
                 nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum,
                                      dampening=dampening, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("momentum value", group["momentum"])
        if group["nesterov"] and (group["momentum"] <= 0 or
                                  group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero "
                             "dampening")

    def _needs(self, group, slot):
        return group["momentum"] != 0

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_SGD, g["lr"], g["weight_decay"],
                         momentum=g["momentum"], dampening=g["dampening"],
                         nesterov=g["nesterov"])


class Adam(Optimizer):
    """Adam (and AMSGrad), as torch.optim.Adam; weight decay is L2."""
    _slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _kind = _engine.OPT_ADAM

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _validate(self, group):
        super()._validate(group)
        b1, b2 = group["betas"]
        for i, b in enumerate((b1, b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError("Invalid beta parameter at index %d: %r"
                                 % (i, b))
        _check_nonneg("epsilon value", group["eps"])

    def _needs(self, group, slot):
        return slot != "max_exp_avg_sq" or group["amsgrad"]

    def _configure(self, kernel, g):
        kernel.configure(self._kind, g["lr"], g["weight_decay"],
                         beta1=g["betas"][0], beta2=g["betas"][1],
                         eps=g["eps"], amsgrad=g["amsgrad"])


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW)."""
    _kind = _engine.OPT_ADAMW

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum (torch.optim.RMSprop)."""
    _slots = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps,
                                      weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("momentum value", group["momentum"])
        _check_nonneg("alpha value", group["alpha"])
        _check_nonneg("epsilon value", group["eps"])

    def _needs(self, group, slot):
        if slot == "grad_avg":
            return group["centered"]
        if slot == "momentum_buffer":
            return group["momentum"] > 0
        return True

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_RMSPROP, g["lr"], g["weight_decay"],
                         momentum=g["momentum"], eps=g["eps"],
                         alpha=g["alpha"], centered=g["centered"])
