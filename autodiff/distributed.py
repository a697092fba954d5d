"""Data-parallel training on MPI (Horovod's recipe, through mpi4py).

Launch the same script on N processes (``mpiexec -n 2 python train.py``,
Slurm ``srun``, a Kubernetes MPIJob); each process is a *rank*::

    import autodiff as ad
    from autodiff import distributed as dist

    dist.init()
    opt = dist.DistributedOptimizer(ad.optim.Adam(model.parameters()))
    for xb, yb in my_share_of_the_batches:
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()              # allreduce the gradients, then update

Every rank starts from rank 0's parameters (broadcast at construction) and
applies the same averaged gradient, so the parameters stay identical.

mpi4py is imported by :func:`init` only: ``import autodiff`` never needs
MPI. Install it with ``pip install 'autodiff[mpi]'`` (mpi4py and the
MPICH wheel) or, on a cluster, ``pip install mpi4py`` against the site's
MPI.

Every collective raises :class:`autodiff.NotCompilableError` while an
``ad.compile`` recording is active: a replay runs no Python, so a
collective recorded once would silently be skipped afterwards (and the
ranks diverge). Compile zero_grad + forward + backward, and call the
collectives and the optimizer step outside.

Overlap of the allreduce with the backward sweep is not implemented: the
gradients are reduced after backward() returns.
"""

import hashlib
import sys

import numpy as np

from . import _engine
from ._capture import NotCompilableError
from ._engine import Tensor

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank",
           "is_main", "barrier", "broadcast_parameters",
           "broadcast_optimizer_state", "broadcast_object", "allgather_object",
           "allreduce",
           "allreduce_gradients", "check_parameters", "DistributedOptimizer",
           "BUCKET_BYTES"]

#: The most bytes of one fused allreduce buffer (Horovod's default fusion
#: threshold, 64 MB); more gradients take several buffers.
BUCKET_BYTES = 64 * 1024 * 1024

_comm = None            # MPI.COMM_WORLD once initialized
_local_rank = 0
_prev_hook = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "autodiff.distributed needs mpi4py and an MPI library: "
            "pip install 'autodiff[mpi]' (or pip install mpi4py with your "
            "site's MPI)") from e
    return MPI


def init():
    """Start MPI (once; later calls do nothing) and join the job.

    Without a launcher the process is a world of one. With more than one
    rank, an uncaught exception on any rank prints its traceback and
    aborts the whole job (``MPI_Abort``), so no other rank waits forever in
    a collective.

    Raises
    ------
    ImportError
        mpi4py is not installed.
    """
    global _comm, _local_rank, _prev_hook
    if _comm is not None:
        return
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    _local_rank = local.Get_rank()
    local.Free()
    _comm = comm
    if comm.Get_size() > 1 and _prev_hook is None:
        _prev_hook = sys.excepthook
        sys.excepthook = _abort_hook


def _abort_hook(exc_type, exc, tb):
    # print as usual, then take every rank down: the others may be
    # blocked in a collective this rank will never enter
    _prev_hook(exc_type, exc, tb)
    sys.stderr.flush()
    sys.stdout.flush()
    _comm.Abort(1)


def is_initialized():
    """True once :func:`init` has run."""
    return _comm is not None


def _world():
    if _comm is None:
        raise RuntimeError("autodiff.distributed is not initialized: call "
                           "autodiff.distributed.init() first")
    return _comm


def rank():
    """This process's rank, 0 .. world_size() - 1."""
    return _world().Get_rank()


def world_size():
    """The number of processes in the job."""
    return _world().Get_size()


def local_rank():
    """This process's rank among the processes on its machine."""
    _world()
    return _local_rank


def is_main():
    """True on rank 0 (the one that prints and writes files)."""
    return rank() == 0


def _collective(name):
    """The communicator, after refusing an ad.compile recording."""
    if _engine.is_capturing():
        raise NotCompilableError(
            "autodiff.distributed.%s is a collective: it cannot run inside "
            "an ad.compile recording (a replay would skip it and the ranks "
            "would diverge); compile zero_grad + forward + backward only and "
            "call it outside" % name)
    return _world()


def barrier():
    """Wait until every rank reaches this call."""
    _collective("barrier").Barrier()


def broadcast_object(obj, root=0):
    """rank root's obj (any picklable object) on every rank.

    Parameters
    ----------
    obj : object
        The value on rank root; ignored elsewhere.
    root : int
        The rank that sends.
    """
    return _collective("broadcast_object").bcast(obj, root=root)


def allgather_object(obj):
    """[obj of rank 0, obj of rank 1, ...] on every rank (torch's
    all_gather_object, returning the list).

    Parameters
    ----------
    obj : object
        This rank's value (picklable).
    """
    return _collective("allgather_object").allgather(obj)


def _named_tensors(model_or_params):
    """[(name, tensor)] of a Module (parameters, then buffers), a dict of
    tensors, or an iterable of tensors (named by position)."""
    if hasattr(model_or_params, "named_parameters"):
        items = list(model_or_params.named_parameters())
        if hasattr(model_or_params, "named_buffers"):
            items += list(model_or_params.named_buffers())
    elif isinstance(model_or_params, dict):
        items = list(model_or_params.items())
    else:
        items = [(str(i), p) for i, p in enumerate(model_or_params)]
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError("%s is a %s, not a Tensor"
                            % (name, type(t).__name__))
    return items


def _signature(items):
    return [(n, tuple(t.shape), str(t.dtype)) for n, t in items]


def _check_same_layout(comm, items, what):
    """Raise ValueError (on every rank) naming the first name, shape or
    dtype that differs from rank 0's."""
    sigs = comm.allgather(_signature(items))
    for r, sig in enumerate(sigs[1:], 1):
        if len(sig) != len(sigs[0]):
            raise ValueError("%s: rank 0 has %d tensors, rank %d has %d"
                             % (what, len(sigs[0]), r, len(sig)))
        for a, b in zip(sigs[0], sig):
            if a != b:
                raise ValueError(
                    "%s: rank 0 has %s of shape %s (%s), rank %d has %s of "
                    "shape %s (%s)" % (what, a[0], a[1], a[2], r, b[0], b[1],
                                       b[2]))


def broadcast_parameters(model_or_params, root=0):
    """Copy rank root's parameter values into every rank's, in place.

    Names, shapes and dtypes are first compared across ranks; on a
    mismatch every rank raises ValueError naming the first one and
    nothing is copied. One broadcast per dtype of a flat buffer.

    Parameters
    ----------
    model_or_params : Module, dict of Tensors or iterable of Tensors
        A Module's parameters and buffers, or the given tensors.
    root : int
        The rank whose values win.
    """
    comm = _collective("broadcast_parameters")
    items = _named_tensors(model_or_params)
    _check_same_layout(comm, items, "broadcast_parameters")
    if comm.Get_size() == 1:
        return
    from ._grad_mode import no_grad
    for dt in sorted({str(t.dtype) for _, t in items}):
        group = [t for _, t in items if str(t.dtype) == dt]
        if comm.Get_rank() == root:
            buf = np.concatenate([t.numpy().ravel() for t in group])
        else:
            buf = np.empty(sum(t.numel() for t in group),
                           dtype=group[0].numpy().dtype)
        comm.Bcast(buf, root=root)
        if comm.Get_rank() != root:
            off = 0
            with no_grad():
                for t in group:
                    n = t.numel()
                    t.copy_(buf[off:off + n].reshape(t.shape))
                    off += n


def broadcast_optimizer_state(optimizer, root=0):
    """Load rank root's optimizer state (step counts, moments, learning
    rates: its ``state_dict()``) on every rank (to resume a run).

    Parameters
    ----------
    optimizer : Optimizer or DistributedOptimizer
        The same optimizer (same parameter layout) on every rank.
    root : int
        The rank whose state wins.
    """
    comm = _collective("broadcast_optimizer_state")
    state = comm.bcast(optimizer.state_dict() if comm.Get_rank() == root
                       else None, root=root)
    if comm.Get_rank() != root:
        optimizer.load_state_dict(state)


_OPS = ("mean", "sum", "max", "min")


def allreduce(x, op="mean"):
    """Reduce x over all ranks; every rank gets the result.

    Parameters
    ----------
    x : float, int, numpy array or Tensor
        The local value (the same shape and dtype on every rank).
    op : {"mean", "sum", "max", "min"}
        The reduction. "mean" of integers gives floats.

    Returns
    -------
    The reduced value, of x's kind (a float for "mean" of a number, an
    array, or a new Tensor of x's dtype).
    """
    if op not in _OPS:
        raise ValueError("allreduce: op must be one of %s, not %r"
                         % (", ".join(map(repr, _OPS)), op))
    comm = _collective("allreduce")
    MPI = _mpi()
    mpi_op = {"mean": MPI.SUM, "sum": MPI.SUM, "max": MPI.MAX,
              "min": MPI.MIN}[op]
    if isinstance(x, Tensor):
        from ._creation import tensor
        return tensor(allreduce(x.numpy(), op), dtype=x.dtype)
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise TypeError("allreduce: arrays of dtype %s cannot be "
                            "reduced" % x.dtype)
        arr = np.ascontiguousarray(x)
        if op == "mean" and arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        out = np.empty_like(arr)
        comm.Allreduce(arr, out, op=mpi_op)
        if op == "mean":
            out /= comm.Get_size()
        return out
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        r = comm.allreduce(x, op=mpi_op)
        return r / comm.Get_size() if op == "mean" else r
    raise TypeError("allreduce: expected a number, a numpy array or a "
                    "Tensor, got %s" % type(x).__name__)


def _grad_params(params):
    if hasattr(params, "parameters"):
        params = params.parameters()
    out = []
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError("allreduce_gradients: parameter %d is a %s, not "
                            "a Tensor" % (i, type(p).__name__))
        if p.requires_grad:
            if str(p.dtype) not in ("float32", "float64"):
                raise TypeError("allreduce_gradients: parameter %d is %s; "
                                "gradients are float32 or float64"
                                % (i, p.dtype))
            out.append(p)
    return out


def _buckets(params, cap):
    """Consecutive parameters of one dtype, at most cap bytes each (a
    larger parameter alone)."""
    by_dtype = {}
    for p in params:
        by_dtype.setdefault(str(p.dtype), []).append(p)
    for dt in sorted(by_dtype):
        item = 4 if dt == "float32" else 8
        bucket, size = [], 0
        for p in by_dtype[dt]:
            nbytes = p.numel() * item
            if bucket and size + nbytes > cap:
                yield dt, bucket
                bucket, size = [], 0
            bucket.append(p)
            size += nbytes
        if bucket:
            yield dt, bucket


def allreduce_gradients(params, weight=1.0):
    """Replace every rank's gradients by their weighted mean over ranks,
    ``sum_r(w_r g_r) / sum_r(w_r)``, in place.

    With w_r the number of samples rank r's gradient averages over, this is
    exactly the gradient of the whole batch, ragged shares (or an empty
    one, w_r = 0) included. The gradients of one dtype go through one
    buffer (several past BUCKET_BYTES) holding the weighted gradients, one
    flag per parameter and the weight, packed and unpacked in C without the
    GIL: one Allreduce per buffer. A parameter without a grad contributes
    zeros; it gets a grad when another rank has one. At a world of one
    nothing changes.

    Parameters
    ----------
    params : Module or iterable of Tensors
        The same parameters, in the same order, on every rank (those that
        do not require grad are skipped).
    weight : float
        This rank's weight (>= 0); the weights must not all be 0.
    """
    comm = _collective("allreduce_gradients")
    weight = float(weight)
    if not weight >= 0 or weight == float("inf"):
        raise ValueError("allreduce_gradients: weight must be finite and "
                         ">= 0, got %r" % weight)
    params = _grad_params(params)
    if comm.Get_size() == 1:
        return
    MPI = _mpi()
    for dt, bucket in _buckets(params, BUCKET_BYTES):
        total = sum(p.numel() for p in bucket)
        buf = np.empty(total + len(bucket) + 1, dtype=dt)
        _engine._pack_grads(bucket, buf, weight)
        buf[-1] = weight
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        w = float(buf[-1])
        if w <= 0:
            raise ValueError("allreduce_gradients: the weights of all ranks "
                             "sum to %r; at least one must be > 0" % w)
        flags = buf[total:total + len(bucket)]
        for p, f in zip(bucket, flags):
            if f > 0 and p.grad is None:
                p.grad = _zeros_like(p)
        _engine._unpack_grads(bucket, buf, 1.0 / w)


def _zeros_like(p):
    from ._creation import zeros_like
    return zeros_like(p, requires_grad=False)


def _digest(t):
    return hashlib.sha256(np.ascontiguousarray(t.numpy()).tobytes()
                          ).hexdigest()


def check_parameters(model_or_params):
    """Raise RuntimeError (on every rank) naming the first parameter or
    buffer whose values differ between ranks (compared bit for bit, by a
    digest); names and shapes are checked first (ValueError).

    Parameters
    ----------
    model_or_params : Module, dict of Tensors or iterable of Tensors
        What to compare.
    """
    comm = _collective("check_parameters")
    items = _named_tensors(model_or_params)
    _check_same_layout(comm, items, "check_parameters")
    digests = comm.allgather([_digest(t) for _, t in items])
    for i, (name, _) in enumerate(items):
        ranks = [r for r, d in enumerate(digests) if d[i] != digests[0][i]]
        if ranks:
            raise RuntimeError("check_parameters: %s differs between rank 0 "
                               "and rank(s) %s" % (name, ranks))


class DistributedOptimizer:
    """Wrap an optimizer for data-parallel training (Horovod's
    ``DistributedOptimizer``).

    At construction rank 0's parameters and optimizer state are broadcast
    to every rank. ``step()`` averages the gradients over the ranks
    (:func:`allreduce_gradients`), then runs the wrapped optimizer's step.
    Everything else (``zero_grad``, ``state_dict``, ``param_groups``, ...)
    is the wrapped optimizer's.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer to wrap (the same on every rank).
    root : int
        The rank whose parameters and state every rank starts from.
    """

    def __init__(self, optimizer, root=0):
        self.optimizer = optimizer
        broadcast_parameters(self._params(), root=root)
        broadcast_optimizer_state(optimizer, root=root)

    def _params(self):
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def step(self, closure=None, *, weight=1.0):
        """Average the gradients over the ranks, then update.

        Parameters
        ----------
        closure : callable, optional
            Recomputes the loss (run before the allreduce); its value is
            returned.
        weight : float
            This rank's weight in the mean (its local sample count for
            ragged batches); 1.0: the plain mean.
        """
        loss = None
        if closure is not None:
            from ._grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        allreduce_gradients(self._params(), weight=weight)
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none=True):
        """The wrapped optimizer's zero_grad."""
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self):
        """The wrapped optimizer's state_dict."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        """The wrapped optimizer's load_state_dict."""
        self.optimizer.load_state_dict(state_dict)

    @property
    def param_groups(self):
        """The wrapped optimizer's parameter groups."""
        return self.optimizer.param_groups

    @property
    def state(self):
        """The wrapped optimizer's per-parameter state."""
        return self.optimizer.state

    def __getattr__(self, name):
        if name == "optimizer":
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    def __repr__(self):
        return "DistributedOptimizer(%r)" % (self.optimizer,)
