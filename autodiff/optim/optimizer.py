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


def _check_range(name, value, lo, hi, hi_open):
    """lo <= value <= hi (< hi when hi_open), else torch's ValueError."""
    if not (lo <= value < hi if hi_open else lo <= value <= hi):
        raise ValueError("Invalid %s: %r" % (name, value))


def _check_betas(betas):
    for i, b in enumerate(betas):
        _check_range("beta parameter at index %d" % i, b, 0.0, 1.0, True)


def _check_impl_flags(group):
    """torch's implementation switches: foreach / fused / capturable pick
    torch kernels that compute the same update, so any value is accepted
    (autodiff has one fused C loop); differentiable=True (a step that is
    part of the autograd graph) is not supported."""
    if group.get("differentiable"):
        raise ValueError("differentiable=True is not supported: autodiff's "
                         "optimizer steps run in C outside the autograd "
                         "graph")
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


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

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters, or parameter groups: dicts with a "params" entry and
        per-group options.
    defaults : dict
        The options of groups that do not set them (given by each subclass).

    Raises
    ------
    TypeError
        For a tensor instead of an iterable, or entries that are not tensors.
    ValueError
        For no parameters, a non-leaf tensor, or a parameter in two groups.

    Attributes
    ----------
    param_groups : list of dict
        The groups with their options; changing ``lr`` there takes effect at
        the next step (also in a compiled step).
    state : dict
        Per-parameter state (momentum buffers, moments, step counts).
    """
    #: names of the state tensors of each parameter, in C's slot order
    _slots = ()
    #: slots holding one number (shape ()) instead of a parameter's shape
    _scalar_slots = ()
    #: torch keeps a "step" in each parameter's state (SGD does not: its
    #: first step is the one without a momentum buffer)
    _state_has_step = True

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
        missing options take the optimizer's defaults), as torch.

        Parameters
        ----------
        param_group : dict
            ``{"params": [...], option: value, ...}``.

        Raises
        ------
        TypeError
            When param_group is not a dict or holds something else than
            tensors.
        ValueError
            Without "params", for no parameters, a non-leaf tensor, or a
            parameter already in a group.
        """
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
        _check_impl_flags(group)

    def _needs(self, group, slot):
        return True

    def _initial(self, group, slot, p):
        """The state tensor slot of parameter p starts as (zeros)."""
        return _creation.zeros_like(p)

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
                st = self.state.setdefault(p, {})
                st.setdefault("step", 0)
                for slot in self._slots:
                    if slot not in st and self._needs(group, slot):
                        st[slot] = self._initial(group, slot, p)
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
        """Reset the gradients of every parameter.

        Parameters
        ----------
        set_to_none : bool, default True
            Set each ``.grad`` to None (torch's default), or with False fill it
            with zeros in place.
        """
        _engine._zero_grads(
            (p for g in self.param_groups for p in g["params"]), set_to_none)

    def _configure(self, kernel, group):
        raise NotImplementedError

    def step(self, closure=None):
        """Update every parameter that has a gradient.

        One fused C loop per parameter group (no graph is recorded).

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called with gradients
            enabled before the update).

        Returns
        -------
        The closure's loss, or None.
        """
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
                st = {k: (v.numpy() if isinstance(v, Tensor) else v)
                      for k, v in st.items()
                      if k != "step" or self._state_has_step}
                if st:
                    state[index[id(p)]] = st
        return {"state": state, "param_groups": copy.deepcopy(groups)}

    def load_state_dict(self, state_dict):
        """Load a state from :meth:`state_dict` (of an optimizer of the same
        kind over parameters of the same shapes), as torch.

        Parameters
        ----------
        state_dict : dict
            ``{"state": ..., "param_groups": [...]}``.

        Raises
        ------
        ValueError
            When the numbers of groups or parameters differ.
        """
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
                elif np.shape(v) != (() if k in self._scalar_slots
                                     else p.shape):
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
            if "step" not in new:
                new["step"] = 1 if any(k in new for k in self._slots) else 0
            new_state[p] = new
        merged = []
        for g_new, g_own in zip(groups, self.param_groups):
            g = dict(g_own)
            g.update((k, v) for k, v in g_new.items() if k != "params")
            try:
                self._validate(g)
            except (ValueError, TypeError, KeyError, RuntimeError) as e:
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
        # A scheduler's wrapper of step() (it notes that step() ran) is
        # not copied either, as in torch.
        self._sync_steps()
        st = dict(self.__dict__)
        st["_kernels"] = None
        st.pop("step", None)
        st.pop("_opt_called", None)
        return st

    def __setstate__(self, state):
        # the groups come back as plain dicts and lists: make them the
        # write-through kind again, bound to this optimizer
        self.__dict__.update(state)
        groups = _Tracked(None)
        for g in state["param_groups"]:
            g = dict(g)
            for k, v in self.defaults.items():
                g.setdefault(k, v)      # options added since (maximize...)
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
    """Stochastic gradient descent with optional momentum (dampening,
    Nesterov), L2 weight decay and maximize, as torch.optim.SGD.

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    momentum, dampening : float
        Momentum factor and its dampening.
    weight_decay : float
        L2 penalty added to the gradient.
    nesterov : bool
        Nesterov momentum (needs momentum > 0 and zero dampening).
    maximize : bool
        Ascend the objective instead of descending it.
    foreach, fused : bool or None
        torch's implementation switches; accepted, one fused C loop runs.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("momentum_buffer",)
    _state_has_step = False

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0,
                 weight_decay=0, nesterov=False, *, maximize=False,
                 foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(
            lr=lr, momentum=momentum, dampening=dampening,
            weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
            foreach=foreach, differentiable=differentiable, fused=fused))

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
                         nesterov=g["nesterov"], maximize=g["maximize"])


class Adam(Optimizer):
    """Adam (and AMSGrad), as torch.optim.Adam.

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the first and second moment averages, in [0, 1).
    eps : float
        Added to the denominator.
    weight_decay : float
        L2 penalty (decoupled, as AdamW, with decoupled_weight_decay).
    amsgrad : bool
        Use the maximum of the second moments (max_exp_avg_sq).
    maximize : bool
        Ascend the objective instead of descending it.
    foreach, capturable, fused : bool or None
        torch's implementation switches; accepted, one fused C loop runs.
    differentiable : bool
        Only False is supported.
    decoupled_weight_decay : bool
        Decay the parameters directly (AdamW) instead of the gradient.
    """
    _slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, amsgrad=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False,
                 fused=None, decoupled_weight_decay=False):
        super().__init__(params, dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            amsgrad=amsgrad, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable,
            fused=fused, decoupled_weight_decay=decoupled_weight_decay))

    def _validate(self, group):
        super()._validate(group)
        _check_betas(group["betas"])
        _check_nonneg("epsilon value", group["eps"])

    def _needs(self, group, slot):
        return slot != "max_exp_avg_sq" or group["amsgrad"]

    def _configure(self, kernel, g):
        kind = (_engine.OPT_ADAMW if g.get("decoupled_weight_decay")
                else _engine.OPT_ADAM)
        kernel.configure(kind, g["lr"], g["weight_decay"],
                         beta1=g["betas"][0], beta2=g["betas"][1],
                         eps=g["eps"], amsgrad=g["amsgrad"],
                         maximize=g["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): the parameters
    are decayed directly, ``p -= lr * weight_decay * p``, not through the
    gradient.

    Parameters
    ----------
    params : iterable of Tensor or of dict (parameter groups)
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        The decay rates of the first and second moment averages, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 1e-2
        The decoupled decay.
    amsgrad : bool, default False
        Use the maximum of the second moments.
    maximize : bool, default False (keyword only)
        Ascend the objective instead.
    foreach, capturable, fused : bool or None (keyword only)
        torch's implementation switches; accepted, one fused C loop runs.
    differentiable : bool, default False (keyword only)
        Only False is supported.

    Raises
    ------
    ValueError
        For a negative lr, eps or weight_decay, or betas outside [0, 1).

    Examples
    --------
    >>> w = nn.Parameter(ad.ones(2, dtype=ad.float64))
    >>> opt = ad.optim.AdamW([w], lr=0.1, weight_decay=0.0)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.numpy().round(4).tolist()
    [0.9, 0.9]
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, *, maximize=False,
                 foreach=None, capturable=False, differentiable=False,
                 fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad,
                         foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    alpha : float
        Smoothing constant of the squared-gradient average.
    eps : float
        Added to the denominator.
    weight_decay : float
        L2 penalty added to the gradient.
    momentum : float
        Momentum factor.
    centered : bool
        Normalize by the estimated variance (grad_avg).
    capturable, foreach : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8,
                 weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        super().__init__(params, dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps,
            centered=centered, weight_decay=weight_decay,
            capturable=capturable, foreach=foreach, maximize=maximize,
            differentiable=differentiable))

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
                         alpha=g["alpha"], centered=g["centered"],
                         maximize=g["maximize"])


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad): the squared gradients summed per
    element; the step is lr / (1 + (t - 1) lr_decay) times g / (sqrt(sum)
    + eps).  As in torch, the state (step 0, ``sum`` filled with
    initial_accumulator_value) exists from construction.

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    lr_decay : float
        Learning rate decay per step.
    weight_decay : float
        L2 penalty added to the gradient.
    initial_accumulator_value : float
        Starting value of the sums.
    eps : float
        Added to the denominator.
    foreach, fused : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *,
                 maximize=False, differentiable=False, fused=None):
        super().__init__(params, dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach, maximize=maximize,
            differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": 0,
                                 "sum": self._initial(group, "sum", p)}

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("lr_decay value", group["lr_decay"])
        _check_nonneg("initial_accumulator_value value",
                      group["initial_accumulator_value"])
        _check_nonneg("epsilon value", group["eps"])

    def _initial(self, group, slot, p):
        # torch fills new sums from the optimizer's defaults
        return _creation.full_like(
            p, self.defaults["initial_accumulator_value"])

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_ADAGRAD, g["lr"], g["weight_decay"],
                         eps=g["eps"], lr_decay=g["lr_decay"],
                         maximize=g["maximize"])


class Adadelta(Optimizer):
    """Adadelta (torch.optim.Adadelta).

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Scale of the delta (1.0 is the paper's method).
    rho : float
        Decay rate of the running averages, in [0, 1].
    eps : float
        Added inside the square roots.
    weight_decay : float
        L2 penalty added to the gradient.
    foreach, capturable : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0,
                 foreach=None, *, capturable=False, maximize=False,
                 differentiable=False):
        super().__init__(params, dict(
            lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
            maximize=maximize, capturable=capturable, foreach=foreach,
            differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        _check_range("rho value", group["rho"], 0.0, 1.0, False)
        _check_nonneg("epsilon value", group["eps"])

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_ADADELTA, g["lr"], g["weight_decay"],
                         eps=g["eps"], rho=g["rho"], maximize=g["maximize"])


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (torch.optim.Adamax).

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the first moment and of the infinity norm.
    eps : float
        Added to |g| before the maximum.
    weight_decay : float
        L2 penalty added to the gradient.
    foreach, capturable : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, foreach=None, *, maximize=False,
                 differentiable=False, capturable=False):
        super().__init__(params, dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable))

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("epsilon value", group["eps"])
        _check_betas(group["betas"])

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_ADAMAX, g["lr"], g["weight_decay"],
                         beta1=g["betas"][0], beta2=g["betas"][1],
                         eps=g["eps"], maximize=g["maximize"])


class NAdam(Optimizer):
    """Adam with Nesterov momentum (torch.optim.NAdam).  ``mu_product``
    (the product of the momentum schedule) is kept as torch keeps it: a
    float32 number per parameter (the parameter's dtype after
    load_state_dict, which casts as torch's does).

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the moment averages, in [0, 1).
    eps : float
        Added to the denominator.
    weight_decay : float
        Weight decay (L2, or decoupled).
    momentum_decay : float
        The momentum schedule's decay (psi).
    decoupled_weight_decay : bool
        Decay the parameters directly (NAdamW) instead of the gradient.
    foreach, capturable : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("exp_avg", "exp_avg_sq", "mu_product")
    _scalar_slots = ("mu_product",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        super().__init__(params, dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("epsilon value", group["eps"])
        _check_betas(group["betas"])
        _check_nonneg("momentum_decay value", group["momentum_decay"])

    def _initial(self, group, slot, p):
        if slot == "mu_product":
            return _creation.ones((), dtype="float32")
        return _creation.zeros_like(p)

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_NADAM, g["lr"], g["weight_decay"],
                         beta1=g["betas"][0], beta2=g["betas"][1],
                         eps=g["eps"], momentum_decay=g["momentum_decay"],
                         decoupled=g["decoupled_weight_decay"],
                         maximize=g["maximize"])


class RAdam(Optimizer):
    """Rectified Adam (torch.optim.RAdam): plain momentum SGD steps until
    the variance estimate is tractable (rho_t > 5), then Adam steps scaled
    by the rectification term.

    Parameters
    ----------
    params : iterable of Tensors or of dicts (parameter groups)
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the moment averages, in [0, 1).
    eps : float
        Added to the denominator.
    weight_decay : float
        Weight decay (L2, or decoupled).
    decoupled_weight_decay : bool
        Decay the parameters directly (RAdamW) instead of the gradient.
    foreach, capturable : bool or None
        torch's implementation switches; accepted.
    maximize : bool
        Ascend the objective instead of descending it.
    differentiable : bool
        Only False is supported.
    """
    _slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0, decoupled_weight_decay=False, *,
                 foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        super().__init__(params, dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            maximize=maximize, foreach=foreach, capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable))

    def _validate(self, group):
        super()._validate(group)
        _check_nonneg("epsilon value", group["eps"])
        _check_betas(group["betas"])

    def _configure(self, kernel, g):
        kernel.configure(_engine.OPT_RADAM, g["lr"], g["weight_decay"],
                         beta1=g["betas"][0], beta2=g["betas"][1],
                         eps=g["eps"], decoupled=g["decoupled_weight_decay"],
                         maximize=g["maximize"])
