"""Learning-rate schedulers with torch.optim.lr_scheduler's semantics and
arithmetic (the same recursive updates, so the same floats): construct
after the optimizer, call ``step()`` once per epoch after the optimizer's
step (ReduceLROnPlateau: ``step(metric)``).

A scheduler writes ``group["lr"]`` (and ``"momentum"`` / ``"betas"`` for
CyclicLR and OneCycleLR); each write reconfigures the optimizer's fused C
update at once, so compiled steps replayed afterwards use the new value.
"""
import math
import types
import warnings
from bisect import bisect_right
from collections import Counter
from functools import partial, wraps
from weakref import ref

from .optimizer import Optimizer

__all__ = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR",
           "ConstantLR", "LinearLR", "ExponentialLR", "SequentialLR",
           "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau",
           "CyclicLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
           "PolynomialLR", "LRScheduler"]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is "
    "being deprecated where possible. Please use `scheduler.step()` to step "
    "the scheduler. During the deprecation, if epoch is different from "
    "None, the closed form is used instead of the new chainable form, where "
    "available. Please open an issue if you are unable to replicate your "
    "use case: https://github.com/pytorch/pytorch/issues/new/choose.")


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _format_param(name, optimizer, param):
    """param as one value per parameter group (a list or tuple must have
    one per group)."""
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups."
                f" {name} has {len(param)} values, param_groups has "
                f"{len(optimizer.param_groups)}.")
        return list(param)
    return [param] * len(optimizer.param_groups)


def _group_values(optimizer, key):
    return [group[key] for group in optimizer.param_groups]


def _per_group(optimizer, values, what):
    """values (one per group, computed when the scheduler was built) zipped
    with the groups, or a ValueError when groups were added since."""
    groups = optimizer.param_groups
    if len(values) != len(groups):
        raise ValueError(
            f"the optimizer has {len(groups)} parameter groups but the "
            f"scheduler has {len(values)} {what}: build the scheduler again "
            f"after adding a parameter group")
    return zip(values, groups)


def _set_momentum(scheduler, group, momentum):
    # CyclicLR / OneCycleLR: the momentum, or beta1 of Adam-like optimizers
    if scheduler.use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def _momentum_params(scheduler, optimizer, cycle_momentum, base_momentum,
                     max_momentum):
    """CyclicLR / OneCycleLR: check (before anything changes) that the
    optimizer has a momentum (or betas) to cycle; the momentum boundaries
    per group."""
    scheduler.cycle_momentum = cycle_momentum
    if not cycle_momentum:
        return None, None
    if "momentum" not in optimizer.defaults and \
            "betas" not in optimizer.defaults:
        raise ValueError("optimizer must support momentum or beta1 with "
                         "`cycle_momentum` option enabled")
    scheduler.use_beta1 = "betas" in optimizer.defaults
    return (_format_param("base_momentum", optimizer, base_momentum),
            _format_param("max_momentum", optimizer, max_momentum))


def _init_momentum(scheduler, optimizer, base_m, max_m):
    """A fresh start with cycle_momentum: every group's momentum is set to
    max_momentum and both boundaries are stored in the groups."""
    for m, b, group in zip(max_m, base_m, optimizer.param_groups):
        _set_momentum(scheduler, group, m)
        group["max_momentum"] = m
        group["base_momentum"] = b


class _GetLrCall:
    """Within ``step()``: get_lr() does not warn (outside it, it does)."""

    def __init__(self, o):
        self.o = o

    def __enter__(self):
        self.o._get_lr_called_within_step = True
        return self

    def __exit__(self, *exc):
        self.o._get_lr_called_within_step = False


class _InitialMode:
    """During the step made by the constructor."""

    def __init__(self, o):
        self.o = o

    def __enter__(self):
        self.o._is_initial = True

    def __exit__(self, *exc):
        self.o._is_initial = False


def _warn_get_lr_called_within_step(scheduler):
    if not scheduler._get_lr_called_within_step:
        warnings.warn("To get the last learning rate computed by the "
                      "scheduler, please use `get_last_lr()`.", UserWarning,
                      stacklevel=3)


def _state_dict_of(scheduler, callables):
    """The scheduler's attributes but the optimizer; each callable
    attribute named in callables is stored as its ``__dict__`` (None for a
    plain function or lambda), as torch does."""
    sd = {k: v for k, v in scheduler.__dict__.items()
          if k != "optimizer" and k not in callables}
    for name in callables:
        fns = getattr(scheduler, name)
        sd[name] = [None if isinstance(fn, types.FunctionType)
                    else fn.__dict__.copy() for fn in fns]
    return sd


def _load_callables(fns, states):
    for fn, st in zip(fns, states):
        if st is not None:
            fn.__dict__.update(st)


class LRScheduler:
    """Base class of the epoch-driven schedulers (torch's LRScheduler).

    On construction it stores ``initial_lr`` in every parameter group (a
    fresh start) or reads it (``last_epoch >= 0``: a resumed run), takes
    those as ``base_lrs`` and makes one initial step.  Subclasses define
    ``get_lr()`` (the recursive form step() uses) and, where one exists,
    ``_get_closed_form_lr()`` (used by the deprecated ``step(epoch)``).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """
    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in "
                        f"param_groups[{i}] when resuming scheduler with "
                        f"last_epoch >= 0.\nThis typically happens when:\n"
                        f"1. You're trying to resume training from a "
                        f"checkpoint but haven't properly loaded the "
                        f"optimizer state\n2. You're using last_epoch >= 0 "
                        f"for a fresh training run (not recommended)")
        self.base_lrs = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_step_called(optimizer)
        self._initial_step()

    def _initial_step(self):
        self._step_count = 0
        with _InitialMode(self):
            self.step()

    def state_dict(self):
        """The scheduler's state: every attribute but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Load a state from ``state_dict()``.

        Parameters
        ----------
        state_dict : dict
            A scheduler state, as returned by ``state_dict()``.
        """
        self.__dict__.update(state_dict)

    def get_last_lr(self):
        """The learning rates (one per group) set by the last step."""
        return list(self._last_lr)

    def get_lr(self):
        """The learning rates of the current ``last_epoch`` (recursive
        form; called by step())."""
        raise NotImplementedError

    def step(self, epoch=None):
        """Advance one epoch and set every group's learning rate.

        Parameters
        ----------
        epoch : int, optional
            Deprecated, as in torch: jump to this epoch, using the closed
            form where the scheduler has one.
        """
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn(
                    "Seems like `optimizer.step()` has been overridden after "
                    "learning rate scheduler initialization. Please, make "
                    "sure to call `optimizer.step()` before "
                    "`lr_scheduler.step()`. See more details at "
                    "https://pytorch.org/docs/stable/optim.html"
                    "#how-to-adjust-learning-rate", UserWarning, stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(
                    "Detected call of `lr_scheduler.step()` before "
                    "`optimizer.step()`. In PyTorch 1.1.0 and later, you "
                    "should call them in the opposite order: "
                    "`optimizer.step()` before `lr_scheduler.step()`.  "
                    "Failure to do this will result in PyTorch skipping the "
                    "first value of the learning rate schedule. See more "
                    "details at https://pytorch.org/docs/stable/optim.html"
                    "#how-to-adjust-learning-rate", UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning,
                          stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        with _GetLrCall(self):
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                if hasattr(self, "_get_closed_form_lr"):
                    values = self._get_closed_form_lr()
                else:
                    values = self.get_lr()
        self._set_lrs(values)

    def _set_lrs(self, values):
        for lr, group in _per_group(self.optimizer, values, "learning rates"):
            group["lr"] = lr
        self._last_lr = _group_values(self.optimizer, "lr")


def _track_step_called(opt):
    """Wrap ``opt.step`` (once) to note that it was called: the scheduler's
    first step() warns when the optimizer has not stepped yet."""
    if hasattr(opt.step, "_wrapped_by_lr_sched"):
        return
    opt_ref = ref(opt)
    func = opt.step.__func__

    @wraps(func)
    def wrapper(*args, **kwargs):
        o = opt_ref()
        o._opt_called = True
        return func.__get__(o, o.__class__)(*args, **kwargs)
    wrapper._wrapped_by_lr_sched = True
    opt.step = wrapper


def _lambdas(optimizer, lr_lambda):
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * len(optimizer.param_groups)
    if len(lr_lambda) != len(optimizer.param_groups):
        raise ValueError(f"Expected {len(optimizer.param_groups)} "
                         f"lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


class _LambdaScheduler(LRScheduler):
    """LambdaLR and MultiplicativeLR: their state_dict keeps the lambdas'
    ``__dict__`` (callable objects), not the functions."""

    def state_dict(self):
        """The scheduler's state; each lr_lambda that is a callable object
        (not a function) is stored as its ``__dict__``."""
        return _state_dict_of(self, ("lr_lambdas",))

    def load_state_dict(self, state_dict):
        """Load a state from ``state_dict()``.

        Parameters
        ----------
        state_dict : dict
            A scheduler state, as returned by ``state_dict()``.
        """
        state = dict(state_dict)
        fns = state.pop("lr_lambdas")
        self.__dict__.update(state)
        _load_callables(self.lr_lambdas, fns)


class LambdaLR(_LambdaScheduler):
    """lr = base_lr * lr_lambda(epoch).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    lr_lambda : callable or list of callables
        The factor as a function of the epoch, or one per parameter group.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """base_lr * lr_lambda(last_epoch) per group."""
        _warn_get_lr_called_within_step(self)
        return [b * f(self.last_epoch)
                for f, b in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """lr = previous lr * lr_lambda(epoch) (from the first step on).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    lr_lambda : callable or list of callables
        The factor as a function of the epoch, or one per parameter group.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"lr_lambda should be a function, but got "
                                f"{type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs times lr_lambda(last_epoch)."""
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * f(self.last_epoch)
                for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """Multiply the lr by gamma every step_size epochs:
    lr = base_lr * gamma ** (epoch // step_size).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    step_size : int
        The period of the decay, in epochs (>= 1).
    gamma : float
        The factor of each decay.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError("step_size must be a positive integer, got %r"
                             % (step_size,))
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs, times gamma at a multiple of step_size."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [b * self.gamma ** (self.last_epoch // self.step_size)
                for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone (a milestone listed k
    times multiplies by gamma ** k).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    milestones : iterable of int
        The epochs at which the lr decays.
    gamma : float
        The factor of each decay.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs, times gamma ** count at a milestone."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch not in self.milestones:
            return _group_values(self.optimizer, "lr")
        k = self.milestones[self.last_epoch]
        return [g["lr"] * self.gamma ** k for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [b * self.gamma ** bisect_right(milestones, self.last_epoch)
                for b in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = base_lr * factor until total_iters epochs, then base_lr.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    factor : float
        The factor in [0, 1] applied until the end of the phase.
    total_iters : int
        The number of epochs the factor applies.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5,
                 last_epoch=-1):
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be "
                             "between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs: times factor at epoch 0, divided by it at
        total_iters."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * (1.0 / self.factor)
                for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [b * (self.factor + (self.last_epoch >= self.total_iters)
                     * (1 - self.factor)) for b in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr factor goes linearly from start_factor to end_factor over
    total_iters epochs, then stays.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    start_factor : float
        The factor at epoch 0, in (0, 1].
    end_factor : float
        The factor from epoch total_iters on, in [0, 1].
    total_iters : int
        The number of epochs of the ramp.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0,
                 total_iters=5, last_epoch=-1):
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be "
                             "greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be "
                             "between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs times the ratio of consecutive factors."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor
                    for g in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        d = self.end_factor - self.start_factor
        ratio = 1.0 + d / (self.total_iters * self.start_factor
                           + (self.last_epoch - 1) * d)
        return [g["lr"] * ratio for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [b * (self.start_factor + (self.end_factor - self.start_factor)
                     * min(self.total_iters, self.last_epoch)
                     / self.total_iters) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch: lr = base_lr * gamma ** epoch.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    gamma : float
        The factor of each epoch.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs times gamma."""
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [b * self.gamma ** self.last_epoch for b in self.base_lrs]


def _check_schedulers(owner, schedulers, optimizer):
    name = type(owner).__name__
    for i, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{name} at index {i} should have `optimizer` "
                            f"as its attribute.")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as "
                f"it requires additional kwargs to be specified when calling "
                f"`step`, but got one at index {i} in the given schedulers "
                f"sequence.")
        if optimizer != s.optimizer:
            raise ValueError(
                f"{name} expects all schedulers to belong to the same "
                f"optimizer, but got scheduler {type(s).__name__} at index "
                f"{i} has {s.optimizer}, which is different from "
                f"{type(optimizer).__name__}.")


class _Composite(LRScheduler):
    """SequentialLR and ChainedScheduler: their state_dict holds each
    inner scheduler's."""

    def state_dict(self):
        """The scheduler's state, with each inner scheduler's state_dict()
        under ``_schedulers``."""
        sd = {k: v for k, v in self.__dict__.items()
              if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict):
        """Load a state from ``state_dict()`` (the inner schedulers'
        too).

        Parameters
        ----------
        state_dict : dict
            A scheduler state, as returned by ``state_dict()``.
        """
        state = dict(state_dict)
        inner = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, st in zip(self._schedulers, inner):
            s.load_state_dict(st)


class SequentialLR(_Composite):
    """Run schedulers one after another, switching at the milestones.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer (every scheduler's).
    schedulers : list of LRScheduler
        The schedulers, in order.
    milestones : list of int
        The epochs at which the next scheduler takes over (one fewer than
        the schedulers).
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one "
                             f"scheduler, but got no scheduler.")
        _check_schedulers(self, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"Sequential Schedulers expects number of schedulers "
                f"provided to be one more than the number of milestone "
                f"points, but got number of schedulers {len(schedulers)} and "
                f"the number of milestones to be equal to {len(milestones)}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = schedulers[idx].get_last_lr()

    def recursive_undo(self, sched=None):
        """Take back the initial step of every (nested) scheduler.

        Parameters
        ----------
        sched : LRScheduler, optional
            The scheduler to undo (default: this one's schedulers).
        """
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self):
        """Advance one epoch with the scheduler of the current phase (a new
        phase starts its scheduler at epoch 0)."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    total_iters : int
        The number of epochs of the decay (>= 1).
    power : float
        The power of the polynomial.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        if total_iters < 1:
            raise ValueError("total_iters must be a positive integer, got %r"
                             % (total_iters,))
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The groups' lrs times the ratio of consecutive decay factors."""
        _warn_get_lr_called_within_step(self)
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        decay = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) \
            ** self.power
        return [g["lr"] * decay for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [b * (1.0 - min(self.total_iters, self.last_epoch)
                     / self.total_iters) ** self.power for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max epochs (and
    back up over the next T_max), with torch's recursive update:
    eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    T_max : int
        The number of epochs of a half period.
    eta_min : float
        The minimum lr.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError("T_max must be positive, got %r" % (T_max,))
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """The next lrs from the groups' current ones (torch's recursion)."""
        _warn_get_lr_called_within_step(self)
        T, eta = self.T_max, self.eta_min
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        if self._step_count == 1 and self.last_epoch > 0:
            return [eta + (b - eta) * (1 + math.cos(self.last_epoch * math.pi
                                                    / T)) / 2
                    for b, _ in _per_group(self.optimizer, self.base_lrs,
                                           "base_lrs")]
        if (self.last_epoch - 1 - T) % (2 * T) == 0:
            return [g["lr"] + (b - eta) * (1 - math.cos(math.pi / T)) / 2
                    for b, g in _per_group(self.optimizer, self.base_lrs,
                                           "base_lrs")]
        return [(1 + math.cos(math.pi * self.last_epoch / T))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / T))
                * (g["lr"] - eta) + eta for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (b - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for b in self.base_lrs]


class ChainedScheduler(_Composite):
    """Step several schedulers of one optimizer together, each on the lrs
    the previous one set.

    Parameters
    ----------
    schedulers : sequence of LRScheduler
        The schedulers to chain.
    optimizer : Optimizer, optional
        Their optimizer (default: the first scheduler's).
    """

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one "
                             f"scheduler to be chained, but got no "
                             f"scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_schedulers(self, schedulers, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _group_values(schedulers[-1].optimizer, "lr")

    def step(self):
        """Step every scheduler, in order."""
        for s in self._schedulers:
            s.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by factor when a metric has stopped improving for
    more than patience epochs.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    mode : {"min", "max"}
        Whether the metric should decrease or increase.
    factor : float
        The factor of a reduction (< 1).
    patience : int
        The number of epochs without improvement that are tolerated.
    threshold : float
        The least change that counts as an improvement.
    threshold_mode : {"rel", "abs"}
        Whether threshold is relative to the best value or absolute.
    cooldown : int
        The number of epochs after a reduction before counting again.
    min_lr : float or list of float
        The lower bound of the lr (or one per group).
    eps : float
        A reduction smaller than eps is skipped.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10,
                 threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0,
                 eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} "
                                 f"min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics, epoch=None):
        """Record the epoch's metric and reduce the lr on a plateau.

        Parameters
        ----------
        metrics : float
            The monitored value (anything float() accepts).
        epoch : int, optional
            Deprecated, as in torch: the epoch's index.
        """
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning,
                          stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _group_values(self.optimizer, "lr")

    def _reduce_lr(self, epoch):
        n = len(self.optimizer.param_groups)
        if n != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` ({n}) "
                    f"differs from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new param "
                    f"group being added to the optimizer. Please modify the "
                    f"`min_lrs` field to match the length of the `optimizer` "
                    f"param groups.")
            self.min_lrs = [self.default_min_lr] * n
        for i, group in enumerate(self.optimizer.param_groups):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[i])
            if old - new > self.eps:
                group["lr"] = new

    @property
    def in_cooldown(self):
        """Whether a reduction happened less than cooldown epochs ago."""
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in {"min", "max"}:
            raise ValueError("mode " + str(mode) + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + str(threshold_mode)
                             + " is unknown!")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict):
        """Load a state from ``state_dict()``.

        Parameters
        ----------
        state_dict : dict
            A scheduler state, as returned by ``state_dict()``.
        """
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class CyclicLR(LRScheduler):
    """Cyclical learning rate (and, inversely, momentum) between base_lr
    and max_lr; call step() after every batch.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    base_lr : float or list of float
        The lower lr boundary of the cycle (per group).
    max_lr : float or list of float
        The upper lr boundary of the cycle (per group).
    step_size_up : int
        The number of iterations of the increasing half.
    step_size_down : int, optional
        The number of iterations of the decreasing half (default:
        step_size_up).
    mode : {"triangular", "triangular2", "exp_range"}
        The amplitude scaling (ignored when scale_fn is given).
    gamma : float
        The base of exp_range's scaling, gamma ** iterations.
    scale_fn : callable, optional
        A custom amplitude scaling of one argument, in [0, 1].
    scale_mode : {"cycle", "iterations"}
        What scale_fn's argument counts.
    cycle_momentum : bool
        Cycle the momentum (or Adam's beta1) inversely to the lr.
    base_momentum : float or list of float
        The lower momentum boundary (per group).
    max_momentum : float or list of float
        The upper momentum boundary (per group).
    last_epoch : int
        The index of the last batch; -1 starts afresh.
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000,
                 step_size_down=None, mode="triangular", gamma=1.0,
                 scale_fn=None, scale_mode="cycle", cycle_momentum=True,
                 base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _format_param("base_lr", optimizer, base_lr)
        self.max_lrs = _format_param("max_lr", optimizer, max_lr)
        if mode not in ["triangular", "triangular2", "exp_range"] and \
                scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        base_m, max_m = _momentum_params(self, optimizer, cycle_momentum,
                                         base_momentum, max_momentum)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
            if cycle_momentum:
                _init_momentum(self, optimizer, base_m, max_m)
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) \
            if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        if cycle_momentum:
            self.base_momentums, self.max_momentums = base_m, max_m
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self):
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref = self._triangular_scale_fn
            self.scale_mode = "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref = self._triangular2_scale_fn
            self.scale_mode = "cycle"
        elif self.mode == "exp_range":
            self._scale_fn_ref = partial(self._exp_range_scale_fn, self.gamma)
            self.scale_mode = "iterations"

    def scale_fn(self, x):
        """The amplitude scaling at x (the cycle or the iteration).

        Parameters
        ----------
        x : int
            The cycle number (scale_mode "cycle") or the iteration.
        """
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    @staticmethod
    def _triangular_scale_fn(x):
        return 1.0

    @staticmethod
    def _triangular2_scale_fn(x):
        return 1 / 2.0 ** (x - 1)

    @staticmethod
    def _exp_range_scale_fn(gamma, x):
        return gamma ** x

    def get_lr(self):
        """The lrs at the current iteration (and sets the momentums)."""
        _warn_get_lr_called_within_step(self)
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle"
                              else self.last_epoch)
        lrs = [b + (m - b) * scale_factor * scale
               for b, m in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            moms = [m - (m - b) * scale_factor * scale
                    for b, m in zip(self.base_momentums, self.max_momentums)]
            for mom, group in _per_group(self.optimizer, moms, "momentums"):
                _set_momentum(self, group, mom)
        return lrs

    def state_dict(self):
        """The scheduler's state; a custom scale_fn that is a callable
        object (not a function) is stored as its ``__dict__``."""
        state = super().state_dict()
        state.pop("_scale_fn_ref", None)
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None
        if fn is not None and not isinstance(fn, types.FunctionType):
            state["_scale_fn_custom"] = fn.__dict__.copy()
        return state

    def load_state_dict(self, state_dict):
        """Load a state from ``state_dict()``.

        Parameters
        ----------
        state_dict : dict
            A scheduler state, as returned by ``state_dict()``.
        """
        state = dict(state_dict)
        fn = state.pop("_scale_fn_custom")
        super().load_state_dict(state)
        if fn is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_fn()


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every T_i epochs (T_0, then times
    T_mult); step(epoch) accepts fractional epochs (per-batch updates).

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    T_0 : int
        The number of epochs of the first period (>= 1).
    T_mult : int
        The growth factor of the period after each restart (>= 1).
    eta_min : float
        The minimum lr.
    last_epoch : int
        The index of the last epoch; -1 starts afresh.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got "
                             f"{T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got "
                             f"{eta_min} of type {type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """eta_min + (base_lr - eta_min) (1 + cos(pi T_cur / T_i)) / 2."""
        _warn_get_lr_called_within_step(self)
        return [self.eta_min + (b - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for b in self.base_lrs]

    def step(self, epoch=None):
        """Advance one epoch, or go to ``epoch`` (may be fractional).

        Parameters
        ----------
        epoch : float, optional
            The (fractional) epoch to set, >= 0.
        """
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got "
                                 f"{epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1)
                                     + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) \
                        / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        with _GetLrCall(self):
            self._set_lrs(self.get_lr())


class OneCycleLR(LRScheduler):
    """The 1cycle policy: the lr rises from max_lr / div_factor to max_lr,
    then anneals to initial_lr / final_div_factor (momentum inversely);
    call step() after every batch, total_steps times.

    Parameters
    ----------
    optimizer : Optimizer
        The wrapped optimizer.
    max_lr : float or list of float
        The peak lr (per group).
    total_steps : int, optional
        The number of steps of the cycle (else epochs * steps_per_epoch).
    epochs : int, optional
        The number of epochs (with steps_per_epoch).
    steps_per_epoch : int, optional
        The number of steps per epoch (with epochs).
    pct_start : float
        The share of the cycle spent raising the lr.
    anneal_strategy : {"cos", "linear"}
        The annealing curve.
    cycle_momentum : bool
        Cycle the momentum (or Adam's beta1) inversely to the lr.
    base_momentum : float or list of float
        The lower momentum boundary (per group).
    max_momentum : float or list of float
        The upper momentum boundary (per group).
    div_factor : float
        initial_lr = max_lr / div_factor.
    final_div_factor : float
        min_lr = initial_lr / final_div_factor.
    three_phase : bool
        Add a phase back down to initial_lr before the final annealing.
    last_epoch : int
        The index of the last batch; -1 starts afresh.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None,
                 steps_per_epoch=None, pct_start=0.3, anneal_strategy="cos",
                 cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if total_steps <= 0 or not isinstance(total_steps, int):
                raise ValueError(f"Expected positive integer total_steps, "
                                 f"but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got "
                                 f"{epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer "
                                 f"steps_per_epoch, but got "
                                 f"{steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs "
                             "AND steps_per_epoch)")
        n = self.total_steps
        if three_phase:
            self._schedule_phases = [
                _phase(float(pct_start * n) - 1, "initial_lr", "max_lr",
                       "max_momentum", "base_momentum"),
                _phase(float(2 * pct_start * n) - 2, "max_lr", "initial_lr",
                       "base_momentum", "max_momentum"),
                _phase(n - 1, "initial_lr", "min_lr", "max_momentum",
                       "max_momentum")]
        else:
            self._schedule_phases = [
                _phase(float(pct_start * n) - 1, "initial_lr", "max_lr",
                       "max_momentum", "base_momentum"),
                _phase(n - 1, "max_lr", "min_lr", "base_momentum",
                       "max_momentum")]
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but "
                             f"got {pct_start}")
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or "
                             f"'linear', instead got {anneal_strategy}")
        self._anneal_func_type = anneal_strategy
        max_lrs = _format_param("max_lr", optimizer, max_lr)
        base_m, max_m = _momentum_params(self, optimizer, cycle_momentum,
                                         base_momentum, max_momentum)
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if cycle_momentum:
                _init_momentum(self, optimizer, base_m, max_m)
        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return self._annealing_cos(start, end, pct)
        return self._annealing_linear(start, end, pct)

    @staticmethod
    def _annealing_cos(start, end, pct):
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    @staticmethod
    def _annealing_linear(start, end, pct):
        return (end - start) * pct + start

    def get_lr(self):
        """The lrs at the current step (and sets the momentums)."""
        _warn_get_lr_called_within_step(self)
        lrs = []
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"Tried to step {step_num} times. The specified "
                             f"number of total steps is {self.total_steps}")
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal_func(group[phase["start_lr"]],
                                           group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        mom = self._anneal_func(
                            group[phase["start_momentum"]],
                            group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(self, group, mom)
        return lrs


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum):
    return {"end_step": end_step, "start_lr": start_lr, "end_lr": end_lr,
            "start_momentum": start_momentum, "end_momentum": end_momentum}
