"""``Trainer(..., replicas=N)``: synchronous data parallelism on N threads
of one process.

Replica 0 is the user's model.  Replicas 1..N-1 are deep copies of it
whose parameters alias the master's (a Parameter sharing each master
parameter's buffer), so the one optimizer update serves them all and no
weights are copied per step; their buffers (BatchNorm's running
statistics) are their own.  Every step splits the global batch into N
contiguous shares (``np.array_split``: sizes as even as possible, shares
past the batch's size empty and skipped), and each replica runs its own
compiled step (``ad.compile``: forward, loss scaled by its share of the
batch, zero its gradients, backward) on its share.  After the first
recording the N replays run at once, replica 0 on the calling thread and
replica r on crew thread r (``ad_programs_run``: C, without the GIL).  A
second compiled program then adds the replicas' gradients into the
master's in replica order (``Tensor.add_``, replayed as one axpy per
parameter), and runs clipping, the optimizer's fused step and the moving
average: one update.

What is the same as one replica with the same global batch, and what is
not:

* a model without randomness or batch statistics, with a mean-reduced
  loss (or sample weights): the same update up to summation order -- the
  gradient of a batch is the sum of its shares' gradients, added in
  another order than one GEMM over the whole batch adds them (float64:
  equal to ~1e-15 relative, float32 to its rounding);
* dropout: each replica draws from its own stream (replica 0 from the
  engine's stream as one replica would, replica r from a key mixed from
  (seed, r), all at the step's offset), so runs are reproducible but
  their masks are not those of one replica;
* BatchNorm: each replica normalizes with the statistics of its own
  share, as PyTorch's DistributedDataParallel without SyncBatchNorm; the
  running statistics are replica 0's (DDP's broadcast_buffers: rank 0's).

The replicas are rebuilt from the master whenever the engine's state
epoch moves (train()/eval(), a module attribute, a dtype change), so they
always mirror it; their recordings are made again then.
"""
import copy

import numpy as np

from . import _engine
from .compile import CompiledFunction, NotCompilableError
from .trainer import _flat_inputs, _unflat_inputs


def _replica_step(rep, r, scale, target, weight, names, *values):
    """Replica r's step on its share: forward, loss (times `scale`, its
    share of the batch), zero its gradients, backward.  `names`: the
    keyword inputs' names, comma separated, their values last in
    `values` (a flat call keeps the compiled fast path)."""
    tr = rep.trainer
    args, kwargs = _unflat_inputs(names, values)
    out = rep.models[r](*[tr._input(a) for a in args],
                        **{k: tr._input(v) for k, v in kwargs.items()})
    loss = tr._loss(out, target, weight)
    # zeroed in place, not set to None: the gradient tensors then stay
    # the same across recordings (another batch size makes another), so
    # the update program's additions always read and write the live ones
    _engine._zero_grads(rep.zero[r], False)
    (loss * scale if scale != 1.0 else loss).backward()
    return loss, out


def _replica_update(rep, m):
    """Replicas 1..m-1's gradients added into the master's, in replica
    order, then the one update."""
    master = rep.params[0]
    for r in range(1, m):
        for p, q in zip(master, rep.params[r]):
            g = q.grad
            if g is None:
                continue
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.add_(g)
    rep.trainer._update()


def _shares(k, n):
    """Bounds of np.array_split(range(k), n)'s non-empty parts."""
    q, rem = divmod(k, n)
    out, lo = [], 0
    for r in range(min(k, n)):
        hi = lo + q + (r < rem)
        out.append((lo, hi))
        lo = hi
    return out


class _Replicas:
    """The replicas of a Trainer's model and their compiled steps."""

    def __init__(self, trainer, n):
        self.trainer, self.n = trainer, n
        self.models = self.params = None
        self.epoch = None
        self.steps = [CompiledFunction(_replica_step) for _ in range(n)]
        self.update = CompiledFunction(_replica_update)
        self.run = _engine._ReplicaRun()

    def build(self):
        """Replicas 1..n-1 made again from the master: deep copies whose
        parameters alias the master's."""
        from .nn.modules import Parameter
        master = self.trainer.model
        models = [master]
        for _ in range(1, self.n):
            memo = {id(p): Parameter(p, requires_grad=p.requires_grad)
                    for p in master.parameters()}
            models.append(copy.deepcopy(master, memo))
        self.models = models
        self.params = [list(m.parameters()) for m in models]
        # replica 0 zeroes what the optimizer zeroes (one replica's step),
        # the others every gradient they have
        opt = [p for g in self.trainer.optimizer.param_groups
               for p in g["params"]]
        self.zero = [opt] + self.params[1:]
        for f in self.steps + [self.update]:
            f.clear_cache()
        self.epoch = _engine._epoch()

    def step(self, batch):
        """One step of the global batch; (its loss, the model's outputs
        for its samples in order)."""
        tr = self.trainer
        if self.epoch != _engine._epoch():
            self.build()
        args = [tr._cast(a) for a in batch.args]
        kw = {k: tr._cast(v) for k, v in batch.kwargs.items()}
        target = tr._cast_target(batch.target)
        weight = tr._normalized_weight(batch.weight)
        names, values = _flat_inputs(args, kw)
        k = len(batch)
        shares = _shares(k, self.n)
        m = len(shares)
        argss = []
        for r, (lo, hi) in enumerate(shares):
            scale = (hi - lo) / k if weight is None else 1.0
            argss.append((self, r, scale, target[lo:hi],
                          None if weight is None else weight[lo:hi], names)
                         + tuple(v[lo:hi] for v in values))
        run = self.run
        run.begin(m)
        try:
            if run.run(self.steps[:m], argss):
                results = [f.last.result for f in self.steps[:m]]
            else:
                results = self._general(argss)
            self.update(self, m)
        finally:
            run.end()
        if weight is None:
            lv = sum((hi - lo) / k * res[0].item()
                     for (lo, hi), res in zip(shares, results))
        else:
            lv = sum(res[0].item() for res in results)
        out = np.concatenate([res[1].numpy() for res in results])
        return lv, out

    def _general(self, argss):
        """Each replica's compiled call in turn on this thread (records,
        or replays a recording the fast path does not hold), each with
        its own stream."""
        if self.epoch != _engine._epoch():
            self.build()
        results = []
        for r, a in enumerate(argss):
            self.run.enter(r)
            try:
                results.append(self.steps[r](*a))
            except NotCompilableError as e:
                raise ValueError(
                    "Trainer(replicas=%d) replays each replica's compiled "
                    "step on a thread of its own, but this model's step "
                    "cannot be recorded (%s); use replicas=1" % (
                        self.n, e)) from e
            finally:
                self.run.exit()
        return results
