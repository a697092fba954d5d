"""The training loop: fit / evaluate / predict over arrays or any iterable
of batches (a DataLoader), with metrics, callbacks, gradient clipping and
accumulation, a moving average of the weights, a progress bar, and
checkpoints that resume a run exactly.

Every training step runs through one function, ``Trainer._step``: eagerly,
or recorded once and replayed by ``ad.compile`` (bit for bit the same;
the compile contract).  What can change between steps without a new
recording -- the batch's data, the learning rate -- is read at every
replay; the step's structure (zero the gradients or not, update or not,
the loss scale of an accumulated batch) is a Python value of the call and
so part of the recording's key."""
import contextlib
import copy
import functools
import itertools
import math
import os
import sys
import time

import numpy as np

from . import _creation, _random
from . import metrics as _metrics
from ._engine import Tensor
from ._grad_mode import no_grad
from .callbacks import (Callback, EarlyStopping, History,
                        LRSchedulerCallback, ModelCheckpoint)
from .checkpoint import load
from .compile import CompiledFunction, NotCompilableError

__all__ = ["Trainer", "History", "Callback", "EarlyStopping",
           "LRSchedulerCallback", "ModelCheckpoint"]

_CLASSIFICATION_LOSSES = ("CrossEntropyLoss", "NLLLoss", "BCELoss",
                          "BCEWithLogitsLoss", "cross_entropy", "nll_loss",
                          "binary_cross_entropy",
                          "binary_cross_entropy_with_logits")
_TARGET_KEYS = ("target", "targets", "y", "label", "labels")
_STATE_FORMAT = 1
# set by mpiexec (MPICH's hydra, Open MPI) and srun: distributed="auto"
# then initializes MPI
_LAUNCHER_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")


def _loss_name(loss_fn):
    return getattr(loss_fn, "__name__", None) or type(loss_fn).__name__


def _task_of(loss_fn):
    return ("classification" if _loss_name(loss_fn) in _CLASSIFICATION_LOSSES
            or type(loss_fn).__name__ in _CLASSIFICATION_LOSSES
            else "regression")


def _as_array(a, name):
    if isinstance(a, Tensor):
        return a.numpy()
    arr = np.asarray(a)
    if arr.dtype == object:
        raise TypeError("%s must be numeric array data, got %s"
                        % (name, type(a).__name__))
    return arr


def _is_arraylike(a):
    return isinstance(a, (np.ndarray, Tensor)) or (
        isinstance(a, (list, tuple)) and len(a) > 0 and all(
            isinstance(v, (int, float, np.number)) for v in a))


# ----------------------------------------------------------------- batches

class _Batch:
    """One batch: positional inputs, keyword inputs, target, per-sample
    weights (or None); every value a numpy array."""
    __slots__ = ("args", "kwargs", "target", "weight")

    def __init__(self, args, kwargs, target, weight):
        self.args, self.kwargs = args, kwargs
        self.target, self.weight = target, weight

    def __len__(self):
        if self.target is not None:
            return len(self.target)
        first = self.args[0] if self.args else next(iter(
            self.kwargs.values()))
        return len(first)


def _parse_batch(b, where, need_target=True):
    """A batch from an iterable: (inputs, target[, sample_weight]) with
    inputs an array or a tuple of arrays (positional), or a dict whose
    target is under one of _TARGET_KEYS, whose "sample_weight" entry (if
    any) weighs the samples and whose other entries are keyword inputs."""
    if isinstance(b, dict):
        keys = [k for k in _TARGET_KEYS if k in b]
        if len(keys) > 1 or (need_target and not keys):
            raise ValueError(
                "%s: a dict batch needs exactly one target entry (one of %s), "
                "got keys %s" % (where, ", ".join(_TARGET_KEYS), sorted(b)))
        target = _as_array(b[keys[0]], "target") if keys else None
        w = b.get("sample_weight")
        kwargs = {k: _as_array(v, k) for k, v in b.items()
                  if k not in keys and k != "sample_weight"}
        return _Batch((), kwargs, target,
                      None if w is None else _as_array(w, "sample_weight"))
    if not need_target and not isinstance(b, (tuple, list)):
        return _Batch((_as_array(b, "input"),), {}, None, None)
    if not isinstance(b, (tuple, list)) or not 1 <= len(b) <= 3 or (
            need_target and len(b) == 1):
        raise ValueError(
            "%s: a batch must be (inputs, target) or (inputs, target, "
            "sample_weight) or a dict, got %s" % (
                where, type(b).__name__ if not isinstance(b, (tuple, list))
                else "a sequence of %d" % len(b)))
    x = b[0]
    args = tuple(_as_array(v, "input") for v in x) if isinstance(
        x, (tuple, list)) and not _is_arraylike(x) else (
            _as_array(x, "input"),)
    target = _as_array(b[1], "target") if len(b) > 1 else None
    w = _as_array(b[2], "sample_weight") if len(b) > 2 else None
    return _Batch(args, {}, target, w)


_END = object()


class _ArraySource:
    """Batches cut from in-memory arrays by fancy indexing (one gather per
    array, no loop over samples)."""

    def __init__(self, xs, y, w, batch_size):
        self.xs, self.y, self.w, self.batch_size = xs, y, w, batch_size
        self.share = None           # (rank, world): this rank's part only
        self.steps = None           # sharded: the most batches of any rank

    def __len__(self):
        return len(self.y)

    def nbatches(self):
        if self.steps is not None:
            return self.steps       # the batches past this rank's are empty
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def set_epoch(self, epoch):
        pass

    def take(self, idx):
        """Keep the samples idx only (this rank's part of validation)."""
        self.xs = tuple(x[idx] for x in self.xs)
        self.y = self.y[idx]
        self.w = None if self.w is None else self.w[idx]

    def order(self, rng, shuffle):
        n = len(self.y)
        return rng.permutation(n) if shuffle else np.arange(n)

    def generators(self):
        return []

    def batches(self, order, start):
        bs = self.batch_size
        for b in range(start, self.nbatches()):
            idx = order[b * bs:(b + 1) * bs]
            if self.share is not None:
                idx = np.array_split(idx, self.share[1])[self.share[0]]
            yield _Batch(tuple(x[idx] for x in self.xs), {}, self.y[idx],
                         None if self.w is None else self.w[idx])


class _IterSource:
    """Batches from a DataLoader or any re-iterable of batches."""

    def __init__(self, data, where):
        self.data, self.where = data, where

    def nbatches(self):
        try:
            return len(self.data)
        except TypeError:
            return None

    def order(self, rng, shuffle):
        return None                      # the loader shuffles

    def batches(self, order, start):
        """The epoch's iterator, made now (a loader draws its order when
        its first batch is read: the first `start` are read and dropped
        here, at once, so that a resumed epoch draws the same order)."""
        it = iter(self.data)
        for i in range(start):
            if next(it, _END) is _END:
                raise ValueError("%s: the data has %d batches, fewer than "
                                 "the %d of the saved position" % (
                                     self.where, i, start))
        return (_parse_batch(b, self.where) for b in it)

    def _samplers(self):
        """A DataLoader's sampler, batch sampler and the batch sampler's
        sampler, each once (none for another iterable)."""
        out = []
        bs = getattr(self.data, "batch_sampler", None)
        for obj in (getattr(self.data, "sampler", None), bs,
                    getattr(bs, "sampler", None)):
            if obj is not None and all(obj is not o for o in out):
                out.append(obj)
        return out

    def generators(self):
        """The numpy generators a DataLoader shuffles with (its own, its
        sampler's), whose states a checkpoint carries."""
        out = []
        for obj in [self.data] + self._samplers():
            g = getattr(obj, "generator", None)
            if isinstance(g, np.random.Generator) and \
                    all(g is not h for h in out):
                out.append(g)
        return out

    def set_epoch(self, epoch):
        """``set_epoch(epoch)`` on the samplers that have it (a
        DistributedSampler: a new permutation every epoch), as Lightning
        does before each epoch."""
        for s in self._samplers():
            if callable(getattr(s, "set_epoch", None)):
                s.set_epoch(epoch)

    def check_shared(self, rank, world):
        """At world > 1: a DataLoader over a map-style dataset must give
        each rank its own batches.  A DistributedSampler (as the sampler or
        the batch sampler's sampler) must be built for this rank and world;
        a SequentialSampler or RandomSampler over the dataset would give
        every rank all of it: ValueError.  Other iterables (an
        IterableDataset, a custom sampler, a list of batches) are taken as
        this rank's own batches."""
        from .data import (DataLoader, DistributedSampler, IterableDataset,
                           RandomSampler, SequentialSampler)
        for s in self._samplers():
            if isinstance(s, DistributedSampler):
                if (s.num_replicas, s.rank) != (world, rank):
                    raise ValueError(
                        "%s: the DistributedSampler was built for rank %d of "
                        "%d, but this is rank %d of %d" % (
                            self.where, s.rank, s.num_replicas, rank, world))
                return
        data = self.data
        if not isinstance(data, DataLoader) or isinstance(
                data.dataset, IterableDataset):
            return
        bs = data.batch_sampler
        index = data.sampler if bs is None else getattr(bs, "sampler", None)
        if type(index) in (SequentialSampler, RandomSampler):
            raise ValueError(
                "%s: at %d ranks a DataLoader with a %s would give every rank "
                "the same batches; build it with sampler=DistributedSampler("
                "dataset, shuffle=%s, seed=...) so that each rank reads its "
                "own share (its batch_size is then the batch of one rank)"
                % (self.where, world, type(index).__name__,
                   isinstance(index, RandomSampler)))


def _check_iterable(data, epochs, where):
    if iter(data) is data and epochs > 1:
        raise ValueError(
            "%s: a one-shot iterator cannot be read for %d epochs; pass a "
            "DataLoader or a list of batches" % (where, epochs))


# ------------------------------------------------------------------ run

class _FitRun:
    """The options and progress of one fit() call."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.rng = None
        self.epoch = 0
        self.start_batch = 0
        self.order = None
        self.epoch_rng = None
        self.epoch_gens = None
        self.resumed_iter = None
        self.batch = 0              # batches completed in this epoch
        self.epoch_done = True
        self.stats = None
        self.need_zero = True       # distributed: no batch of the group yet


class _EpochStats:
    """Sample-weighted loss sum and the metrics' running sums."""

    def __init__(self, metrics):
        self.metrics = metrics
        for m in metrics:
            m.reset()
        self.loss, self.count = 0.0, 0

    def add(self, loss, n, out, target):
        self.loss += loss * n
        self.count += n
        if out is not None:         # None: an empty share of a batch
            for m in self.metrics:
                m.update(out, target)

    def mean_loss(self):
        return self.loss / self.count if self.count else float("nan")

    def logs(self):
        logs = {"loss": self.mean_loss()}
        for m in self.metrics:
            logs[m.name] = m.compute()
        return logs

    def state_dict(self):
        return {"loss": self.loss, "count": self.count,
                "metrics": [m.state_dict() for m in self.metrics]}

    def load_state_dict(self, st):
        self.loss, self.count = st["loss"], st["count"]
        for m, s in zip(self.metrics, st["metrics"]):
            m.load_state_dict(s)


def _flat_inputs(args, kwargs):
    """A batch's inputs as (names, values): the keyword inputs' names,
    comma separated, and the positional values followed by the keyword
    ones (a flat call keeps ad.compile's fast path)."""
    return ",".join(kwargs), tuple(args) + tuple(kwargs.values())


def _unflat_inputs(names, values):
    """(args, kwargs) back from _flat_inputs."""
    keys = names.split(",") if names else []
    cut = len(values) - len(keys)
    return values[:cut], dict(zip(keys, values[cut:]))


def _positive(name, v, kind=float, allow_none=True):
    if v is None and allow_none:
        return None
    ok = isinstance(v, (int, float, np.integer, np.floating)) and \
        not isinstance(v, bool) and v > 0 and math.isfinite(v)
    if kind is int:
        ok = ok and float(v) == int(v)
    if not ok:
        raise ValueError("%s must be a positive %s, got %r" % (
            name, "integer" if kind is int else "number", v))
    return kind(v)


class Trainer:
    """Train, evaluate and predict with a model, a loss function and an
    optimizer (Keras's ``fit`` / ``evaluate`` / ``predict``).

    Parameters
    ----------
    model : nn.Module
        Called as ``model(*inputs)`` (or ``model(**inputs)`` for dict
        batches).
    loss_fn : callable
        ``loss_fn(output, target)`` returning a scalar tensor, such as
        ``nn.CrossEntropyLoss()``.  For sample or class weights it is
        called with ``reduction="none"`` (a loss module is copied with its
        ``reduction`` set so).
    optimizer : optim.Optimizer
        Stepped once per batch (per `accumulate_grad_batches` batches).
    compile : bool, default True
        Record the training step once and replay it in C (``ad.compile``);
        a model that cannot be recorded trains eagerly.  Both give the
        same weights bit for bit.
    task : {"classification", "regression", None}, default None
        Chooses the default metrics (accuracy for classification, none for
        regression) and how targets are read; by default inferred from
        the loss (cross-entropy, NLL and binary cross-entropy classify).
    distributed : {"auto", True, False}, default "auto"
        Data-parallel training over the ranks of an MPI job
        (:mod:`autodiff.distributed`): "auto" when launched by mpiexec (or
        after ``distributed.init()``) with more than one rank; True calls
        ``distributed.init()`` itself. ``batch_size`` is then the global
        batch: each rank takes ``np.array_split(batch, world)[rank]`` of
        every batch (the same shuffled order on every rank), the gradients
        are averaged weighted by the local counts, and the History equals
        one process's with the same global batch (exactly up to float
        rounding). Rank 0's weights and optimizer state are broadcast when
        fit starts; logs are reduced over the ranks, so callbacks decide
        identically; the progress bar, log lines and ModelCheckpoint files
        are rank 0's only. Dropout masks are drawn from (seed, rank).

        A DataLoader is read as PyTorch's DDP reads it: its sampler (or
        its batch sampler's) must be a ``DistributedSampler``, so each rank
        reads its own share and the loader's ``batch_size`` is the batch of
        one rank; the Trainer calls ``sampler.set_epoch(epoch)`` before
        every epoch (at any world size, as Lightning does).  A DataLoader
        whose sampler is a SequentialSampler or RandomSampler over the
        whole dataset raises ValueError instead of being replaced by a
        DistributedSampler as Lightning does: the replacement would
        silently change the batch (``batch_size`` per rank), the order
        (another permutation) and the samples (padding repeats some), and
        has no faithful form for a weighted or custom sampler; building
        the loader with ``sampler=DistributedSampler(...)`` is one line and
        runs unchanged at one rank.  Any other iterable (an
        IterableDataset's loader, a custom sampler, a list of batches) is
        taken as this rank's own batches.  The ranks must run the same
        number of steps: checked at the start of every epoch (one
        collective) and at every step for iterables without a length,
        raising ValueError with the counts on every rank.

        ``accumulate_grad_batches`` accumulates each rank's gradients
        locally and allreduces once per group, weighted by the rank's
        sample count over the group: the same update as one process with
        the global batch and the same accumulation.  Validation is
        sharded: arrays are cut in ``np.array_split(..., world)`` parts, a
        DataLoader with a DistributedSampler is read as given; the loss
        sums and the metrics' running states are reduced over the ranks.
    replicas : int, default 1
        Data-parallel training on threads of this process: every batch is
        split into ``replicas`` contiguous shares (``np.array_split``),
        each trained by a replica of the model -- a copy whose parameters
        share the model's buffers -- running its compiled step on a
        thread of its own without the GIL; their gradients are added in
        replica order (each loss scaled by its share of the batch) and
        one optimizer step updates the shared weights.  For models too
        small for threaded kernels and BLAS to help.  The result is one
        replica's with the same global batch up to summation order
        (float64: ~1e-15), except that dropout draws a stream per replica
        and BatchNorm normalizes each share with its own statistics (as
        DistributedDataParallel without SyncBatchNorm; the running
        statistics are replica 0's, the model's own).  Evaluation,
        prediction, state_dict and checkpoints are the model's, as with
        one replica.  Needs ``compile=True`` and a step ad.compile can
        record; not with ``accumulate_grad_batches`` > 1 or more than one
        MPI rank (ValueError).

    Raises
    ------
    ValueError
        When `task` or `distributed` is not one of its values, or
        `replicas` is not an integer from 1 to the limit.

    Attributes
    ----------
    history : History or None
        The History of the last ``fit``.
    stop_training : bool
        Set by a callback to end ``fit`` after the current epoch.

    Examples
    --------
    >>> _ = ad.manual_seed(0)
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]])
    >>> model = nn.Linear(3, 1, dtype=ad.float64)
    >>> t = ad.trainer.Trainer(model, nn.MSELoss(),
    ...                        ad.optim.SGD(model.parameters(), lr=0.1))
    >>> h = t.fit(X, y, epochs=20, batch_size=16, seed=0, verbose=0)
    >>> len(h["loss"]), h["loss"][-1] < 1e-3
    (20, True)
    >>> t.predict(X[:2]).shape
    (2, 1)
    >>> sorted(t.evaluate(X, y))
    ['loss']
    """

    def __init__(self, model, loss_fn, optimizer, compile=True, task=None,
                 distributed="auto", replicas=1):
        if task not in (None, "classification", "regression"):
            raise ValueError("task must be 'classification', 'regression' "
                             "or None, got %r" % (task,))
        if distributed not in ("auto", True, False):
            raise ValueError("distributed must be 'auto', True or False, got "
                             "%r" % (distributed,))
        from ._engine import MAX_REPLICAS
        if isinstance(replicas, bool) or not isinstance(
                replicas, (int, np.integer)) or not (
                    1 <= replicas <= MAX_REPLICAS):
            raise ValueError("replicas must be an integer from 1 to %d, got "
                             "%r" % (MAX_REPLICAS, replicas))
        self.replicas = int(replicas)
        self._replicas = None
        self.distributed = distributed
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.task = task or _task_of(loss_fn)
        self.compile = compile
        self._compiled = None
        self._not_compilable = False
        self.stop_training = False
        self.history = None
        self._dtype = None
        self._run = None
        self._saves = []
        self._global_batch = 0
        self._unreduced = None
        for p in model.parameters():
            self._dtype = p.dtype
            break

    # ------------------------------------------------------------ the step
    def _step(self, args, kwargs, target, weight, scale, zero, update):
        """One training step: forward, loss, backward and (when `update`)
        clipping, the optimizer's step and the weights' moving average.
        `zero` clears the gradients first; `scale` multiplies the loss
        before backward (an accumulated batch's share of its group): a
        float, or a 0-d array when it changes from batch to batch."""
        out = self._forward(args, kwargs)
        loss = self._loss(out, target, weight)
        if zero:
            self.optimizer.zero_grad()
        if not isinstance(scale, float):
            # a 0-d array: data read at every replay, not part of the key
            (loss * self._input(scale)).backward()
        else:
            (loss * scale if scale != 1.0 else loss).backward()
        if update:
            self._update()
        return loss, out

    def _flat_step(self, target, weight, scale, zero, update, names,
                   *values):
        """_step with the batch's inputs as flat positional arguments
        (_flat_inputs), the call the compiled fast path binds: a tuple or
        dict argument would send every call through the general path."""
        args, kwargs = _unflat_inputs(names, values)
        return self._step(args, kwargs, target, weight, scale, zero, update)

    def _update(self):
        """The update after backward: clipping, the optimizer's step, the
        moving average (in _step, or eagerly after a distributed step's
        allreduce)."""
        self._clip()
        self.optimizer.step()
        self._ema_update()

    def _world(self):
        """The number of ranks training together (1: not distributed)."""
        if self.distributed is False:
            return 1
        from . import distributed as dist
        if self.distributed is True or (not dist.is_initialized() and any(
                v in os.environ for v in _LAUNCHER_VARS)):
            dist.init()
        return dist.world_size() if dist.is_initialized() else 1

    def _forward(self, args, kwargs):
        """The model on a batch's inputs (arrays, or ArrayInputs while a
        compiled step records), made tensors by _input."""
        return self.model(*[self._input(a) for a in args],
                          **{k: self._input(v) for k, v in kwargs.items()})

    def _forward_batch(self, batch):
        """The model on a _Batch outside the training step (evaluate,
        predict): its arrays cast as the step casts them."""
        return self._forward([self._cast(a) for a in batch.args],
                             {k: self._cast(v) for k, v in
                              batch.kwargs.items()})

    def _loss(self, out, target, weight):
        t = self._targets(target)
        if weight is None:
            return self.loss_fn(out, t)
        per = self._unreduced_loss()(out, t)
        if per.ndim > 1:
            per = per.reshape(per.shape[0], -1).mean(1)
        # weight is normalized to sum 1 outside: a weighted mean
        return (per * self._input(weight)).sum()

    def _unreduced_loss(self):
        if self._unreduced is None:
            fn = self.loss_fn
            if hasattr(fn, "reduction"):
                fn = copy.copy(fn)
                fn.reduction = "none"
            else:
                fn = functools.partial(fn, reduction="none")
            self._unreduced = fn
        return self._unreduced

    def _clip(self):
        run = self._run
        if run is None or (run.grad_clip_norm is None and
                           run.grad_clip_value is None):
            return
        from .nn import utils as nn_utils
        params = [p for p in self.model.parameters() if p.requires_grad]
        if run.grad_clip_value is not None:
            nn_utils.clip_grad_value_(params, run.grad_clip_value)
        if run.grad_clip_norm is not None:
            nn_utils.clip_grad_norm_(params, run.grad_clip_norm)

    def _ema_update(self):
        run = self._run
        if run is None or run.ema is None:
            return
        with no_grad():
            for e, p in zip(run.ema, self._ema_params()):
                e.lerp_(p, 1.0 - run.ema_decay)

    def _ema_params(self):
        return [p for p in self.model.parameters()]

    def _can_compile(self):
        # Models whose recording was refused (a custom Function, a value
        # read into Python) train eagerly.
        return self.compile and not self._not_compilable

    def _train_step(self, batch, scale, zero, update):
        args = tuple(self._cast(a) for a in batch.args)
        kwargs = {k: self._cast(v) for k, v in batch.kwargs.items()}
        target = self._cast_target(batch.target)
        weight = self._normalized_weight(batch.weight)
        if not self._can_compile():
            return self._step(args, kwargs, target, weight, scale, zero,
                              update)
        if self._compiled is None:
            # The unbound function, with the trainer passed as an argument:
            # a bound method would make trainer -> _compiled -> trainer a
            # reference cycle, and a dropped Trainer (model, optimizer
            # state, recorded programs) would wait for the garbage
            # collector instead of being freed at once.
            self._compiled = CompiledFunction(type(self)._flat_step)
        names, values = _flat_inputs(args, kwargs)
        try:
            return self._compiled(self, target, weight, scale, zero, update,
                                  names, *values)
        except NotCompilableError:
            # raised during the recorded forward, before any update
            self._not_compilable = True
            return self._step(args, kwargs, target, weight, scale, zero,
                              update)

    def _normalized_weight(self, weight):
        """A batch's sample weights divided by their sum (so that the loss
        is a weighted mean), in the model's dtype; None stays None."""
        if weight is None:
            return None
        total = float(np.sum(weight))
        return (np.asarray(weight, np.float64) / total if total > 0
                else np.zeros(len(weight))).astype(self._dtype or np.float32)

    def _cast(self, a):
        """Float input arrays in the model's dtype; integer ones (indices
        for an Embedding) kept as they are."""
        a = np.asarray(a)
        if a.dtype.kind == "f" or a.dtype == np.float16:
            return a.astype(self._dtype or np.float32, copy=False)
        return a

    def _cast_target(self, yb):
        yb = np.asarray(yb)
        if self._is_classification():
            if (yb.dtype.kind in "fb" and yb.ndim == 1
                    and np.all(yb == np.round(yb))
                    and np.all(np.abs(yb) < 2.0 ** 62)):
                # class labels held as floats or bools: the same integers
                # (a compiled step reads integer labels at every call)
                return yb.astype(np.int64)
            if yb.dtype.kind == "f":
                return yb.astype(self._dtype or np.float32, copy=False)
            return yb
        return yb.astype(self._dtype or np.float32, copy=False)

    def _input(self, a):
        if isinstance(a, Tensor):
            return a
        # a numpy array, or an ArrayInput while a compiled step records
        if self._dtype is not None and a.dtype.kind == "f":
            return _creation.tensor(a, dtype=self._dtype)
        return _creation.tensor(a)

    def _targets(self, yb):
        if self._is_classification() and yb.dtype.kind in "iub":
            return yb
        return self._input(yb)

    def _is_classification(self):
        """Multi-class labels (cross-entropy / NLL), as opposed to binary
        cross-entropy's float targets."""
        name = type(self.loss_fn).__name__
        fn = getattr(self.loss_fn, "__name__", "")
        return name in ("CrossEntropyLoss", "NLLLoss") or fn in (
            "cross_entropy", "nll_loss")

    # ------------------------------------------------------------ checks
    def _make_metrics(self, metrics):
        """Fresh Metric objects, checked before any training step, so a
        bad name changes nothing (a single name may be a plain string).
        None: the task's default."""
        if metrics is None:
            metrics = ("accuracy",) if self.task == "classification" else ()
        elif isinstance(metrics, str) or callable(metrics):
            metrics = (metrics,)
        objs = []
        for m in metrics:
            obj = _metrics.get(m)
            if obj is m:
                obj = copy.deepcopy(m)
            if obj.task is not None and obj.task != self.task:
                raise ValueError(
                    "metric %r needs a %s task, but the loss %s is a %s loss "
                    "(pass task=%r to the Trainer if it is one)"
                    % (obj.name, obj.task, _loss_name(self.loss_fn),
                       self.task, obj.task))
            obj.logits = type(self.loss_fn).__name__ == "BCEWithLogitsLoss" \
                or _loss_name(self.loss_fn) == \
                "binary_cross_entropy_with_logits"
            objs.append(obj)
        names = [o.name for o in objs]
        if len(set(names)) != len(names):
            raise ValueError("metric names must be distinct, got %s" % names)
        return objs

    def _weights(self, y, sample_weight, class_weight, n):
        """Per-sample weights normalized per batch later, or None."""
        w = None
        if sample_weight is not None:
            w = _as_array(sample_weight, "sample_weight").astype(np.float64)
            if w.shape != (n,):
                raise ValueError("sample_weight must have shape (%d,) (one "
                                 "weight per sample), got %s" % (n, w.shape))
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight must be finite and "
                                 "non-negative")
        if class_weight is not None:
            cw = self._class_weights(class_weight, y)
            w = cw if w is None else w * cw
        return w

    def _class_weights(self, class_weight, y):
        if not isinstance(class_weight, dict):
            raise TypeError("class_weight must be a dict {class: weight}, "
                            "got %s" % type(class_weight).__name__)
        if self.task != "classification":
            raise ValueError("class_weight needs a classification loss, got "
                             "%s" % _loss_name(self.loss_fn))
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(1)
        labels = labels.reshape(len(labels), -1)[:, 0]
        out = np.ones(len(labels))
        for c, v in class_weight.items():
            if not (isinstance(v, (int, float, np.number)) and v >= 0
                    and math.isfinite(v)):
                raise ValueError("class_weight[%r] must be a finite "
                                 "non-negative number, got %r" % (c, v))
            out[labels == c] = v
        return out

    @staticmethod
    def _check_xy(X, y):
        Xs = tuple(_as_array(x, "X") for x in X) if isinstance(
            X, (tuple, list)) and not _is_arraylike(X) else (
                _as_array(X, "X"),)
        y = _as_array(y, "y")
        for x in Xs:
            if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
                raise ValueError(
                    "X and y must have the same number of samples, got X of "
                    "shape %s and y of shape %s" % (
                        x.shape if len(Xs) == 1 else
                        [a.shape for a in Xs], y.shape))
        if len(y) == 0:
            raise ValueError("cannot train on an empty dataset")
        return Xs, y

    def _source(self, x, y, batch_size, sample_weight, class_weight, where,
                default_bs):
        """An _ArraySource for arrays (y given), else an _IterSource."""
        if y is None:
            if isinstance(x, (np.ndarray, Tensor)):
                raise ValueError("%s: y is required when x is an array" %
                                 where)
            if batch_size is not None:
                raise ValueError(
                    "%s: batch_size is set by the DataLoader (or iterable) "
                    "of batches, not by the Trainer; got batch_size=%r"
                    % (where, batch_size))
            if sample_weight is not None or class_weight is not None:
                raise ValueError(
                    "%s: with an iterable of batches, give per-sample weights "
                    "as each batch's third element (or its 'sample_weight' "
                    "entry)" % where)
            if not hasattr(x, "__iter__"):
                raise TypeError("%s: x must be arrays or an iterable of "
                                "batches, got %s" % (where,
                                                     type(x).__name__))
            return _IterSource(x, where)
        Xs, y = self._check_xy(x, y)
        bs = default_bs if batch_size is None else batch_size
        if not isinstance(bs, (int, np.integer)) or isinstance(bs, bool) \
                or bs < 1:
            raise ValueError("batch_size must be a positive integer, got %r"
                             % (bs,))
        w = self._weights(y, sample_weight, class_weight, len(y))
        return _ArraySource(Xs, y, w, int(bs))

    # ---------------------------------------------------------------- fit
    def fit(self, x, y=None, epochs=1, batch_size=None, shuffle=True,
            validation_data=None, validation_split=0.0, metrics=None,
            callbacks=(), seed=None, verbose=1, sample_weight=None,
            class_weight=None, grad_clip_norm=None, grad_clip_value=None,
            accumulate_grad_batches=1, ema_decay=None, resume_from=None,
            sharded=False):
        """Train for `epochs` passes over the data.

        Parameters
        ----------
        x : array, tuple of arrays, DataLoader or iterable of batches
            Arrays (numpy or tensors) with `y`; a tuple of arrays is the
            model's positional inputs.  Without `y`: a DataLoader or any
            re-iterable of batches, each ``(inputs, target)``,
            ``(inputs, target, sample_weight)`` or a dict (the target under
            "target", "y", "label" or "labels", optional "sample_weight",
            the other entries passed as keyword inputs).
        y : array, optional
            Targets: class labels for cross-entropy and NLL, else values.
            Required with array `x`, None with batches.
        epochs : int, default 1
            The number of passes over the data (with `resume_from`: the
            total of the run, the epochs already done included).
        batch_size : int, optional
            Samples per step for arrays (default 32); a DataLoader sets
            its own.
        shuffle : bool, default True
            Shuffle arrays at every epoch (a DataLoader shuffles itself).
        validation_data : tuple or iterable, optional
            ``(x_val, y_val)`` or an iterable of batches, evaluated at the
            end of every epoch (logged with a ``val_`` prefix).
        validation_split : float, default 0.0
            Hold out this share of the arrays -- the last samples, before
            shuffling, as Keras does -- for validation.
        metrics : list, optional
            Names (``"accuracy"``, ``"top_k_accuracy"``, ``"mse"``,
            ``"mae"``, ``"r2"``, ``"f1"``; see :mod:`autodiff.metrics`),
            Metric objects or callables ``fn(outputs, targets)``.  Default:
            accuracy for classification losses, none for regression.
        callbacks : sequence of Callback, default ()
            Their hooks are called in order (see :class:`Callback`); each
            gets ``callback.trainer = self``.
        seed : int, optional
            Seed the shuffling and the engine's random stream (dropout) for
            the run, so that it is reproducible; the caller's generators
            are restored afterwards.
        verbose : {0, 1, 2}, default 1
            0 silent; 1 a progress bar (tqdm.auto, so notebooks get a
            widget) when writing to a terminal or a notebook, else one
            line per epoch; 2 one line per epoch.
        sample_weight : array (n,), optional
            Per-sample loss weights (arrays only): each batch's loss is the
            weighted mean ``sum(w_i l_i) / sum(w_i)``.
        class_weight : dict, optional
            ``{class: weight}``, multiplied into the sample weights.
        grad_clip_norm, grad_clip_value : float, optional
            Clip the gradients before every update
            (``nn.utils.clip_grad_norm_`` / ``clip_grad_value_``).
        accumulate_grad_batches : int, default 1
            Update once every this many batches, with the gradient of the
            mean loss over their samples (each batch's loss scaled by its
            share of the group), as one batch of their combined size.
        ema_decay : float in (0, 1), optional
            Keep an exponential moving average of the parameters, updated
            after every optimizer step (``ema = decay * ema + (1 - decay) *
            param``); validation uses the averaged weights, and they
            replace the model's weights when fit returns (as Keras's
            ``use_ema``).  ``trainer.ema_state_dict()`` holds them.
        resume_from : path, optional
            A file written by ``ModelCheckpoint(save_weights_only=False)``:
            the model, optimizer, callbacks, random streams, history and
            position are restored, and training continues from the batch
            after the one saved, so the run ends bit-identical to one that
            was never interrupted.  The data and the options must be those
            of the interrupted run.
        sharded : bool, default False
            Distributed training only: the arrays are this rank's own data
            (each rank loads a different part), not the whole data set to
            split. Each rank cuts its own batches of ``batch_size`` (the
            batch of one rank, as a DataLoader with a DistributedSampler);
            the ranks run the most batches any rank has, a rank out of data
            taking part in the others' steps with an empty share (weight
            0). Ignored by a single process.

        An exception raised during fit -- a KeyboardInterrupt from Ctrl-C
        or from a callback -- propagates after the progress bar is closed.
        Every step completed before it stays applied (a step's update is
        one C call, never half done), ``self.history`` holds the epochs
        that completed, and calling fit again trains on from there.

        Returns
        -------
        History
            The per-epoch logs ("loss", the metrics, their "val_"
            counterparts, what callbacks add); also ``self.history``.

        Raises
        ------
        ValueError
            For an invalid option (a non-positive `epochs`, `batch_size`,
            `accumulate_grad_batches` or clipping bound, `ema_decay`
            outside (0, 1), `validation_split` outside [0, 1) or with
            batches or with `validation_data`, `verbose` not 0, 1 or 2),
            arrays of different lengths, `sample_weight` of the wrong
            shape or not finite and non-negative, `class_weight` with a
            regression loss, an empty data set, unknown or repeated metric
            names, a `resume_from` file of another run, and (distributed)
            a DataLoader without a DistributedSampler or ranks with
            different numbers of steps.
        TypeError
            When `x` is neither arrays nor an iterable of batches, or
            `class_weight` is not a dict.
        KeyError
            From a callback monitoring an entry the logs do not have.

        Examples
        --------
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> t = ad.trainer.Trainer(model, nn.CrossEntropyLoss(),
        ...                        ad.optim.Adam(model.parameters(), lr=1e-2))
        >>> X = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
        >>> y = (X[:, 0] > 0).astype("int64") + (X[:, 1] > 1)
        >>> h = t.fit(X, y, epochs=3, batch_size=20, validation_split=0.25,
        ...           seed=0, verbose=0)
        >>> sorted(h.history), h.epoch
        (['accuracy', 'loss', 'time', 'val_accuracy', 'val_loss'], [0, 1, 2])
        """
        where = "Trainer.fit"
        _positive("epochs", epochs, int, allow_none=False)
        accumulate = _positive("accumulate_grad_batches",
                               accumulate_grad_batches, int, False)
        grad_clip_norm = _positive("grad_clip_norm", grad_clip_norm)
        grad_clip_value = _positive("grad_clip_value", grad_clip_value)
        if ema_decay is not None and not (
                isinstance(ema_decay, (float, int)) and 0 < ema_decay < 1):
            raise ValueError("ema_decay must be in (0, 1), got %r"
                             % (ema_decay,))
        if sharded not in (True, False):
            raise ValueError("sharded must be True or False, got %r"
                             % (sharded,))
        if verbose not in (0, 1, 2, True, False):
            raise ValueError("verbose must be 0, 1 or 2, got %r" % (verbose,))
        if not (isinstance(validation_split, (int, float)) and
                0 <= validation_split < 1):
            raise ValueError("validation_split must be in [0, 1), got %r"
                             % (validation_split,))
        metric_objs = self._make_metrics(metrics)
        if validation_split:
            if y is None:
                raise ValueError("validation_split needs array data (x and "
                                 "y); pass validation_data with a DataLoader")
            if validation_data is not None:
                raise ValueError("give validation_data or validation_split, "
                                 "not both")
            Xs, yy = self._check_xy(x, y)
            n_val = int(len(yy) * validation_split)
            if n_val == 0 or n_val == len(yy):
                raise ValueError("validation_split=%r leaves %d of %d samples "
                                 "for validation" % (validation_split, n_val,
                                                     len(yy)))
            cut = len(yy) - n_val
            validation_data = (tuple(a[cut:] for a in Xs), yy[cut:])
            x = tuple(a[:cut] for a in Xs)
            y = yy[:cut]
            if sample_weight is not None:
                sample_weight = _as_array(sample_weight,
                                          "sample_weight")[:cut]
        src = self._source(x, y, batch_size, sample_weight, class_weight,
                           where, 32)
        if isinstance(src, _IterSource):
            _check_iterable(x, epochs, where)
            if sharded:
                raise ValueError(
                    "%s: sharded=True is for arrays that each rank loads "
                    "alone; a DataLoader is split over the ranks by a "
                    "DistributedSampler" % where)
        val = None
        if validation_data is not None:
            val = self._val_source(validation_data)
        run = _FitRun(src=src, epochs=int(epochs), shuffle=shuffle, val=val,
                      metrics=metric_objs, callbacks=list(callbacks),
                      verbose=int(verbose), accumulate=accumulate,
                      grad_clip_norm=grad_clip_norm,
                      grad_clip_value=grad_clip_value, ema_decay=ema_decay,
                      ema=None, seed=seed, sharded=sharded)
        run.world, run.rank = self._world(), 0
        self._check_replicas(run)
        if run.world > 1:
            seed = self._distributed_setup(run, seed)
        resume = None
        if resume_from is not None:
            resume = load(resume_from)
            self._check_resume(resume, run, resume_from)
            if run.world > 1 and resume["batch"] % run.accumulate:
                raise ValueError(
                    "resume_from=%r: the run was saved in the middle of a "
                    "group of accumulated batches, which a distributed run "
                    "cannot resume (save at a multiple of "
                    "accumulate_grad_batches=%d)" % (resume_from,
                                                      run.accumulate))
        if seed is None:
            run.rng = _random._rng(None, None)
            return self._fit(run, resume)
        # A seed makes the whole run reproducible: the shuffling, and the
        # engine's stream that Dropout draws from, are seeded for the
        # duration of fit, and the caller's generators restored after.
        with _random.seeded(seed) as rng:
            run.rng = rng
            if run.world > 1:
                # dropout masks: a stream of (seed, rank); shuffling: the
                # shared one
                _random.set_rng_state(np.array([_random._seed_key(
                    [_random._seed_key(seed) & (2 ** 64 - 1), run.rank]), 0],
                    np.uint64))
            return self._fit(run, resume)

    def _check_replicas(self, run):
        """replicas > 1: refuse what the replicas cannot keep exact; a
        fresh set of replicas (and recordings) for this fit."""
        self._replicas = None
        n = self.replicas
        if n == 1:
            return
        why = None
        if run.accumulate > 1:
            why = ("accumulate_grad_batches=%d (accumulate with replicas=1 "
                   "and a smaller batch instead, or give the replicas the "
                   "whole group as one batch)" % run.accumulate)
        elif run.world > 1:
            why = ("a distributed run (%d MPI ranks); use one of the two "
                   "kinds of data parallelism" % run.world)
        elif not self.compile:
            why = ("compile=False: the replicas replay compiled steps "
                   "on threads")
        elif self._not_compilable:
            why = "a model whose step ad.compile cannot record"
        if why is not None:
            raise ValueError("Trainer(replicas=%d) cannot train with %s"
                             % (n, why))
        from ._replicas import _Replicas
        self._replicas = _Replicas(self, n)

    def _distributed_setup(self, run, seed):
        """Check the options, take this rank's share of every batch, start
        from rank 0's weights; the run's seed (drawn on rank 0 when None)."""
        from . import distributed as dist
        if isinstance(self.optimizer, dist.DistributedOptimizer):
            raise ValueError("the Trainer averages the gradients over the "
                             "ranks itself: pass the wrapped optimizer "
                             "(DistributedOptimizer.optimizer)")
        run.rank = dist.rank()
        src, val = run.src, run.val
        if not isinstance(src, _ArraySource):
            src.check_shared(run.rank, run.world)
        elif run.sharded:
            src.steps = int(dist.allreduce(src.nbatches(), op="max"))
        else:
            src.share = (run.rank, run.world)
        # validation: each rank evaluates its part, the sums are reduced
        if isinstance(val, _ArraySource):
            val.take(np.array_split(np.arange(len(val)),
                                    run.world)[run.rank])
        elif val is not None:
            val.check_shared(run.rank, run.world)
        if run.rank != 0:
            run.verbose = 0
        dist.broadcast_parameters(self.model)
        dist.broadcast_optimizer_state(self.optimizer)
        if seed is None:
            seed = dist.broadcast_object(
                int(np.random.SeedSequence().generate_state(1, np.uint64)[0]))
        return seed

    def _distributed_batches(self, run, it, epoch, start):
        """This rank's batches of the epoch, each with how it steps: None
        (a step of its own) or, for accumulate_grad_batches > 1, (first of
        its group, last of its group, loss scale, allreduce weight).

        First, one collective checks that every rank has as many batches
        (ValueError on every rank naming the counts, instead of a rank
        waiting in a collective the others never reach).  An accumulated
        group is read ahead and its per-rank batch sizes and weight sums
        summed over the ranks (one small allreduce per group), so that each
        rank's gradient is its group's share: with the local sample count
        of the group as the allreduce weight, the result is the gradient of
        one process over the whole group (the accumulated run of one
        process with the global batch)."""
        from . import distributed as dist
        first = next(it, None)
        counts = dist.allgather_object((run.src.nbatches(), first is not None))
        if len(set(counts)) > 1:
            self._steps_error(epoch, [
                "%d" % n if n is not None else
                "at least 1" if has else "0" for n, has in counts])
        if first is None:
            return
        it = itertools.chain([first], it)
        acc = run.accumulate
        if acc == 1:
            for b in it:
                yield b, None
            return
        seen, dt = start, self._dtype or np.float32
        while True:
            group = list(itertools.islice(it, acc))
            g = len(group)
            ks = np.zeros(acc)
            ws = np.zeros(acc)
            for i, b in enumerate(group):
                ks[i] = len(b)
                ws[i] = len(b) if b.weight is None else np.sum(b.weight)
            tot = dist.allreduce(np.concatenate([[g, g * g], ks, ws]),
                                 op="sum")
            if tot[0] == 0:
                return
            if tot[1] * run.world != tot[0] ** 2:     # not all equal
                full = dist.allgather_object(g == acc)
                gs = dist.allgather_object(seen + g)
                self._steps_error(epoch, [
                    ("at least %d" if f else "%d") % n
                    for n, f in zip(gs, full)])
            seen += g
            k_all, w_all = tot[2:2 + g], tot[2 + acc:2 + acc + g]
            K = float(ks.sum())
            for i, b in enumerate(group):
                if b.weight is None:
                    scale = float(ks[i] / K) if K else 0.0
                else:
                    # the one process's share of batch i (its count over
                    # the group's) of the batch's weighted mean, of which
                    # this rank holds ws[i] / w_all[i]: data, not a key
                    scale = np.array(k_all[i] * ws[i] / (w_all[i] * K)
                                     if w_all[i] > 0 and K else 0.0, dt)
                yield b, (i == 0, i == g - 1, scale, K)

    def _steps_error(self, epoch, counts):
        raise ValueError(
            "Trainer.fit: every rank must run the same number of steps, but "
            "in epoch %d %s (a DistributedSampler gives every rank the same "
            "number of samples; with sharded arrays the ranks agree by "
            "themselves)" % (epoch + 1, ", ".join(
                "rank %d has %s batches" % (r, c)
                for r, c in enumerate(counts))))

    def _distributed_step(self, run, batch, plan, has_next):
        """forward + backward (compiled when it can be) on this rank's
        share, the gradients zeroed at the first batch of a group; at its
        last, the gradients averaged over the ranks weighted by their
        sample counts (sample weights), then the update, eagerly.  `plan`
        as from _distributed_batches.  Returns the global batch's loss, its
        size and the local output."""
        from . import distributed as dist
        k = len(batch)
        w = float(k if batch.weight is None else np.sum(batch.weight))
        first, last, scale, weight = plan or (True, True, 1.0, w)
        if first:
            run.need_zero = True
        lv, out = 0.0, None
        if k:
            loss, out = self._train_step(batch, scale, run.need_zero, False)
            run.need_zero = False
            lv, out = loss.item(), out.numpy()
        if last:
            if run.need_zero:           # an empty share all group long
                self.optimizer.zero_grad()
            dist.allreduce_gradients(self.model, weight=weight)
            self._update()
        s = dist.allreduce(np.array([lv * w, w, k, has_next], np.float64),
                           op="sum")
        if 0 < s[3] < run.world:        # some ranks have another batch
            more = dist.allgather_object(bool(has_next))
            self._steps_error(run.epoch, [
                ("at least %d" if m else "%d") % (run.batch + 1 + m)
                for m in more])
        return s[0] / s[1], int(s[2]), out

    def _reduce_epoch(self, run, logs):
        """The epoch's metrics over every rank's samples (their running
        states merged in rank order), the slowest rank's time; rank 0's
        buffers (BatchNorm's running statistics) on every rank, so that
        validation and checkpoints agree."""
        from . import distributed as dist
        dist.broadcast_parameters(dict(self.model.named_buffers()))
        _merge_metrics(run.stats.metrics)
        for m in run.stats.metrics:
            logs[m.name] = m.compute()
        logs["time"] = dist.allreduce(logs["time"], op="max")

    def _val_source(self, validation_data):
        if isinstance(validation_data, tuple) and 2 <= len(
                validation_data) <= 3 and not isinstance(
                    validation_data[1], (tuple, list, dict)) and not (
                        hasattr(validation_data[0], "__iter__") and
                        not isinstance(validation_data[0], (
                            np.ndarray, Tensor, tuple, list))):
            sw = validation_data[2] if len(validation_data) == 3 else None
            return self._source(validation_data[0], validation_data[1], None,
                                sw, None, "validation_data", 256)
        return self._source(validation_data, None, None, None, None,
                            "validation_data", 256)

    def _fit(self, run, resume):
        history = History()
        for cb in run.callbacks:
            cb.trainer = self
        self.stop_training = False
        self._global_batch = 0
        self._saves = []
        if run.ema_decay is not None:
            run.ema = [_creation.tensor(p.numpy()) for p in
                       self._ema_params()]
        self._run = run
        for cb in run.callbacks:
            cb.on_train_begin({})
        start_epoch = 0
        if resume is not None:
            start_epoch = self._restore(resume, run, history)
        # Set now, so that after an interrupt it holds the completed epochs.
        self.history = history
        bar = _progress(run.verbose, run.src.nbatches())
        try:
            for epoch in range(start_epoch, run.epochs):
                if self.stop_training:
                    break
                run.epoch = epoch
                logs = self._run_epoch(run, epoch, bar)
                for cb in run.callbacks:
                    cb.on_epoch_end(epoch, logs)
                if run.world > 1:
                    # a callback on one rank must not strand the others
                    from . import distributed as dist
                    self.stop_training = bool(dist.allreduce(
                        int(bool(self.stop_training)), op="max"))
                history._append(epoch, logs)
                self._write_saves()
                if bar is None and run.verbose:
                    _log_line(epoch, run.epochs, logs)
                elif bar is not None:
                    bar.set_postfix(**_postfix(logs))
            if run.ema is not None:
                self._swap_ema()
        finally:
            if bar:
                bar.close()
            self._run = None
            self._replicas = None
        for cb in run.callbacks:
            cb.on_train_end({})
        return history

    def _run_epoch(self, run, epoch, bar):
        """Train one pass over the data; the epoch's logs."""
        start = run.start_batch
        if start == 0:
            for cb in run.callbacks:
                cb.on_epoch_begin(epoch, {})
            run.src.set_epoch(epoch)
            run.epoch_rng = run.rng.bit_generator.state
            run.epoch_gens = [g.bit_generator.state
                              for g in run.src.generators()]
            run.order = run.src.order(run.rng, run.shuffle)
            run.stats = _EpochStats(run.metrics)
        run.batch = start
        run.epoch_done = False
        run.start_batch = 0
        self.model.train()
        t0 = time.perf_counter()
        stats = run.stats
        nb = run.src.nbatches()
        if bar:
            bar.reset(total=nb)
            bar.update(start)
            bar.set_description("epoch %d/%d" % (epoch + 1, run.epochs))
        acc = run.accumulate
        pending = []                 # the batches of an unfinished group
        b = start
        it = run.resumed_iter or run.src.batches(run.order, start)
        run.resumed_iter = None
        if run.world > 1:
            it = self._distributed_batches(run, it, epoch, start)
        nxt = next(it, None)
        while nxt is not None:
            batch, nxt = nxt, next(it, None)
            if run.world > 1:
                batch, plan = batch
                lv, n, out = self._distributed_step(run, batch, plan,
                                                    nxt is not None)
            elif self._replicas is not None:
                lv, out = self._replicas.step(batch)
                n = len(batch)
            else:
                if acc == 1:
                    loss, out = self._train_step(batch, 1.0, True, True)
                else:
                    loss, out = self._accumulated_step(run, batch, b, nb,
                                                       nxt is None, pending)
                lv, n, out = loss.item(), len(batch), out.numpy()
            target = batch.target
            stats.add(lv, n, out, target)
            self._global_batch += 1
            b += 1
            run.batch = b
            for cb in run.callbacks:
                cb.on_batch_end(b - 1, {"loss": lv})
            self._write_saves()
            if bar:
                dt = time.perf_counter() - t0
                bar.set_postfix(loss="%.4f" % stats.mean_loss(),
                                samples_per_s="%.0f" % (stats.count / dt))
                bar.update(1)
        run.epoch_done = True
        logs = stats.logs()
        logs["time"] = time.perf_counter() - t0
        if run.world > 1:
            self._reduce_epoch(run, logs)
        if run.val is not None:
            with self._ema_weights():
                ev = self._evaluate(run.val, run.metrics, run.world > 1)
            for k, v in ev.items():
                logs["val_" + k] = v
        return logs

    def _accumulated_step(self, run, batch, b, nb, last, pending):
        """A step of a group of `run.accumulate` batches: zero at the
        group's first batch, update at its last (or at the epoch's last
        batch); each loss scaled by its batch's share of the group's
        samples.  The group's sizes are known in advance for arrays; for
        an iterable, a group's share assumes the batches of the group are
        as large as this one except at the epoch's end."""
        acc = run.accumulate
        pos = b % acc
        first = pos == 0
        end = pos == acc - 1 or last
        if isinstance(run.src, _ArraySource):
            bs, n = run.src.batch_size, len(run.src)
            g0 = (b - pos) * bs
            g1 = min(n, (b - pos + acc) * bs)
            total = g1 - g0
        else:
            total = len(batch) * (pos + 1) if last else len(batch) * acc
        return self._train_step(batch, len(batch) / total, first, end)

    def _load_params(self, values):
        """Copy values (tensors, in _ema_params order) into the model's
        parameters."""
        with no_grad():
            for v, p in zip(values, self._ema_params()):
                p.copy_(v)

    def _swap_ema(self):
        """Replace the model's parameters by their moving averages."""
        self._load_params(self._run.ema)

    @contextlib.contextmanager
    def _ema_weights(self):
        """The block runs with the moving averages as the parameters (when
        the fit keeps them); the parameters are restored after it."""
        run = self._run
        if run is None or run.ema is None:
            yield
            return
        saved = [_creation.tensor(p.numpy()) for p in self._ema_params()]
        self._load_params(run.ema)
        try:
            yield
        finally:
            self._load_params(saved)

    def ema_state_dict(self):
        """The moving averages of the parameters of the fit in progress
        (``fit(..., ema_decay=...)``).

        Returns
        -------
        dict of str to Tensor, or None
            By parameter name (``model.named_parameters()``); None outside
            a fit or without `ema_decay`.
        """
        run = self._run
        if run is None or run.ema is None:
            return None
        names = [n for n, _ in self.model.named_parameters()]
        return {n: e for n, e in zip(names, run.ema)}

    # ------------------------------------------------------- checkpoints
    def _request_save(self, cb):
        if cb not in self._saves:
            self._saves.append(cb)

    def _write_saves(self):
        saves, self._saves = self._saves, []
        run = self._run
        if run is not None and getattr(run, "rank", 0) != 0:
            return                  # rank 0 writes the files
        for cb in saves:
            cb._write(self)

    def _training_state(self):
        """Everything a resumed fit needs to continue bit for bit."""
        run = self._run
        # a position at the end of an epoch is the start of the next one
        at_end = run.epoch_done
        mid = 0 if at_end else run.batch
        grads = None
        if run.accumulate > 1 and mid % run.accumulate:
            grads = [None if p.grad is None else p.grad.numpy()
                     for p in self.model.parameters()]
        return {
            "format": _STATE_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "callbacks": [cb.state_dict() for cb in _stateful(run)],
            "callback_types": [type(cb).__name__ for cb in _stateful(run)],
            "history": self.history.state_dict(),
            "epoch": run.epoch + 1 if at_end else run.epoch,
            "batch": mid,
            "global_batch": self._global_batch,
            "stop_training": bool(self.stop_training),
            "order": None if at_end or run.order is None else run.order,
            "epoch_rng": None if at_end else run.epoch_rng,
            "epoch_gens": None if at_end else run.epoch_gens,
            "rng": run.rng.bit_generator.state,
            "gens": [g.bit_generator.state for g in run.src.generators()],
            "engine_rng": _random.get_rng_state(),
            "stats": None if at_end else run.stats.state_dict(),
            "grads": grads,
            "ema": None if run.ema is None else [e.numpy() for e in run.ema],
            "fingerprint": self._fingerprint(run),
        }

    def _fingerprint(self, run):
        src = run.src
        return {"n": len(src) if isinstance(src, _ArraySource) else None,
                "batch_size": getattr(src, "batch_size", None),
                "shuffle": bool(run.shuffle), "accumulate": run.accumulate,
                "seed": run.seed if isinstance(run.seed, (int, type(None)))
                else repr(run.seed),
                "ema": run.ema_decay}

    def _check_resume(self, st, run, path):
        if not isinstance(st, dict) or st.get("format") != _STATE_FORMAT:
            raise ValueError(
                "%r is not a resumable training state (write it with "
                "ModelCheckpoint(..., save_weights_only=False))" % (path,))
        fp, now = st["fingerprint"], self._fingerprint(run)
        diff = [k for k in now if fp.get(k) != now[k]]
        if diff:
            raise ValueError(
                "resume_from=%r: the run was saved with %s but fit was called "
                "with %s; resume with the same data and options" % (
                    path, {k: fp.get(k) for k in diff},
                    {k: now[k] for k in diff}))
        types = [type(cb).__name__ for cb in _stateful(run)]
        if types != list(st["callback_types"]):
            raise ValueError("resume_from=%r: the run was saved with "
                             "stateful callbacks %s, got %s" % (
                                 path, st["callback_types"], types))

    def _restore(self, st, run, history):
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        for cb, s in zip(_stateful(run), st["callbacks"]):
            cb.load_state_dict(s)
        history.load_state_dict(st["history"])
        self._global_batch = st["global_batch"]
        self.stop_training = st["stop_training"]
        if st["ema"] is not None:
            run.ema = [_creation.tensor(a) for a in st["ema"]]
        gens = run.src.generators()
        if len(gens) != len(st["gens"]):
            raise ValueError("the saved run shuffled with %d generators, this "
                             "data has %d" % (len(st["gens"]), len(gens)))
        if st["batch"]:
            # the epoch in progress: its order (drawn again from the states
            # the generators had at its start) and its sums so far
            run.rng.bit_generator.state = st["epoch_rng"]
            for g, gs in zip(gens, st["epoch_gens"]):
                g.bit_generator.state = gs
            order = run.src.order(run.rng, run.shuffle)
            run.order = order if st["order"] is None else st["order"]
            run.src.set_epoch(st["epoch"])
            run.resumed_iter = run.src.batches(run.order, st["batch"])
            run.stats = _EpochStats(run.metrics)
            run.stats.load_state_dict(st["stats"])
            run.start_batch = st["batch"]
            run.epoch_rng = st["epoch_rng"]
            run.epoch_gens = st["epoch_gens"]
        for g, gs in zip(gens, st["gens"]):
            g.bit_generator.state = gs
        run.rng.bit_generator.state = st["rng"]
        _random.set_rng_state(st["engine_rng"])
        if st["grads"] is not None:
            for p, g in zip(self.model.parameters(), st["grads"]):
                if g is not None:
                    p.grad = _creation.tensor(g)
        return st["epoch"]

    # ---------------------------------------------------------- evaluate
    def evaluate(self, x, y=None, batch_size=None, metrics=None,
                 sample_weight=None):
        """Mean loss (and metrics) over the data, in eval mode, without
        gradients; the model's training mode is restored afterwards.

        Parameters
        ----------
        x : array, tuple of arrays, DataLoader or iterable of batches
            As in :meth:`fit`.
        y : array, optional
            The targets, with array `x`.
        batch_size : int, optional
            Samples per forward call for arrays (default 256).
        metrics : list, optional
            As in :meth:`fit` (default: accuracy for classification).
        sample_weight : array (n,), optional
            Per-sample weights of the mean loss (arrays only).

        Returns
        -------
        dict
            ``{"loss": mean loss over the samples, metric name: value}``.

        Raises
        ------
        ValueError
            For an empty data set, a non-positive `batch_size`, or
            invalid arrays or weights (as in :meth:`fit`).
        TypeError
            When `x` is neither arrays nor an iterable of batches.
        """
        src = self._source(x, y, batch_size, sample_weight, None,
                           "Trainer.evaluate", 256)
        return self._evaluate(src, self._make_metrics(metrics))

    def _evaluate(self, src, metrics, reduce=False):
        """The logs over src; `reduce`: src is this rank's part of the
        data, and the sums and metric states are reduced over the ranks."""
        was_training = self.model.training
        self.model.eval()
        stats = _EpochStats(metrics)
        wsum = 0.0
        try:
            with no_grad():
                order = src.order(None, False)
                for batch in src.batches(order, 0):
                    out = self._forward_batch(batch)
                    target = self._cast_target(batch.target)
                    if batch.weight is None:
                        lv, n = self.loss_fn(out, self._targets(target)
                                             ).item(), len(batch)
                    else:
                        w = np.asarray(batch.weight, dtype=np.float64)
                        per = self._unreduced_loss()(
                            out, self._targets(target)).numpy()
                        per = per.reshape(len(w), -1).mean(1)
                        lv, n = float(np.dot(per, w) / w.sum()), w.sum()
                    wsum += n
                    stats.loss += lv * n
                    stats.count += len(batch)
                    for m in stats.metrics:
                        m.update(out.numpy(), batch.target)
        finally:
            self.model.train(was_training)
        if reduce:
            from . import distributed as dist
            stats.loss, wsum, count = dist.allreduce(np.array(
                [stats.loss, wsum, stats.count], np.float64), op="sum")
            stats.count = int(count)
            _merge_metrics(stats.metrics)
        if stats.count == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        logs = stats.logs()
        logs["loss"] = stats.loss / wsum
        return logs

    def predict(self, x, batch_size=None):
        """The model's outputs for `x`, in eval mode, without gradients.

        Parameters
        ----------
        x : array, tuple of arrays, DataLoader or iterable of batches
            Arrays (a tuple: the model's positional inputs), or batches
            that are inputs or ``(inputs, ...)`` tuples (a target in them
            is ignored).
        batch_size : int, optional
            Samples per forward call for arrays (default 256).

        Returns
        -------
        numpy.ndarray
            The outputs of all batches concatenated along axis 0 (a copy;
            shape ``(0,)`` for no batches).

        Raises
        ------
        ValueError
            When `batch_size` is not a positive integer.
        """
        if isinstance(x, (np.ndarray, Tensor)) or (
                isinstance(x, (tuple, list)) and x and all(
                    isinstance(a, (np.ndarray, Tensor)) for a in x)):
            Xs = tuple(_as_array(a, "X") for a in x) if isinstance(
                x, (tuple, list)) else (_as_array(x, "X"),)
            bs = 256 if batch_size is None else batch_size
            if not isinstance(bs, (int, np.integer)) or bs < 1:
                raise ValueError("batch_size must be a positive integer, got "
                                 "%r" % (bs,))
            n = len(Xs[0])
            batches = (_Batch(tuple(a[s:s + bs] for a in Xs), {}, None, None)
                       for s in range(0, n, bs))
        else:
            batches = (_parse_batch(b, "Trainer.predict", need_target=False)
                       for b in x)
        was_training = self.model.training
        self.model.eval()
        outs = []
        try:
            with no_grad():
                for batch in batches:
                    outs.append(self._forward_batch(batch).numpy())
        finally:
            self.model.train(was_training)
        return np.concatenate(outs) if outs else np.zeros((0,))


def _merge_metrics(metrics):
    """Every rank's running state of each metric merged in rank order
    (one collective), on every rank."""
    if not metrics:
        return
    from . import distributed as dist
    states = dist.allgather_object([m.state_dict() for m in metrics])
    for i, m in enumerate(metrics):
        m.reset()
        for st in states:
            m.merge(st[i])


def _stateful(run):
    """The callbacks with a state to carry across a resume (those that
    override Callback.state_dict), in order."""
    return [cb for cb in run.callbacks
            if type(cb).state_dict is not Callback.state_dict]


def _postfix(logs):
    return {k: "%.4f" % v for k, v in logs.items() if k != "time"}


def _log_line(epoch, epochs, logs):
    """One line per epoch, as Keras prints without a terminal."""
    parts = ["Epoch %d/%d" % (epoch + 1, epochs),
             "%.2fs" % logs.get("time", 0.0)]
    parts += ["%s: %.4f" % (k, v) for k, v in logs.items() if k != "time"]
    print(" - ".join(parts), flush=True)


def _in_notebook():
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell is not None else None
    except Exception:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def _progress(verbose, total):
    """A tqdm bar (tqdm.auto: a widget in notebooks) for verbose=1 when
    writing to a terminal or a notebook, else None."""
    if verbose != 1 or not (sys.stderr.isatty() or _in_notebook()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, leave=True, dynamic_ncols=True)
