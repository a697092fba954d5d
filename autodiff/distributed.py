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
MPI. Install it with ``pip install 'autodiff-tape[mpi]'`` (mpi4py and the
MPICH wheel) or, on a cluster, ``pip install mpi4py`` against the site's
MPI.

Every collective raises :class:`autodiff.NotCompilableError` while an
``ad.compile`` recording is active: a replay runs no Python, so a
collective recorded once would silently be skipped afterwards (and the
ranks diverge). Compile zero_grad + forward + backward, and call the
collectives and the optimizer step outside.

``DistributedOptimizer(opt, overlap=True)`` overlaps the allreduce with
the backward sweep (PyTorch DDP's reducer, Horovod's fusion buffer): the
engine hands each bucket of gradients to a communication thread as soon
as the sweep has finished them, and ``step()`` waits for the last one.
"""

import contextlib
import hashlib
import sys
import threading

import numpy as np

from . import _engine
from ._capture import NotCompilableError
from ._engine import Tensor

__all__ = ["init", "is_initialized", "rank", "world_size", "local_rank",
           "is_main", "barrier", "broadcast_parameters",
           "broadcast_optimizer_state", "broadcast_object", "allgather_object",
           "allreduce",
           "allreduce_gradients", "check_parameters", "DistributedOptimizer",
           "BUCKET_BYTES", "OVERLAP_BUCKET_BYTES"]

#: The most bytes of one fused allreduce buffer (Horovod's default fusion
#: threshold, 64 MB); more gradients take several buffers.
BUCKET_BYTES = 64 * 1024 * 1024

#: The most bytes of one bucket of an overlapped reduction
#: (``DistributedOptimizer(overlap=True)``): small enough that a model of a
#: few MB makes several buckets, the first ones reduced while the sweep
#: still computes the rest (PyTorch DDP's first bucket is 1 MB too).
OVERLAP_BUCKET_BYTES = 1024 * 1024

_comm = None            # MPI.COMM_WORLD once initialized
_local_rank = 0
_prev_hook = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "autodiff.distributed needs mpi4py and an MPI library: "
            "pip install 'autodiff-tape[mpi]' (or pip install mpi4py with your "
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


def _runs(params, cap):
    """Consecutive parameters of one dtype, at most cap bytes each (a
    larger parameter alone), in the order given."""
    out, bucket, size = [], [], 0
    for p in params:
        nbytes = p.numel() * (8 if str(p.dtype) == "float64" else 4)
        if bucket and (size + nbytes > cap or
                       str(p.dtype) != str(bucket[0].dtype)):
            out.append(bucket)
            bucket, size = [], 0
        bucket.append(p)
        size += nbytes
    if bucket:
        out.append(bucket)
    return out


def _buckets(params, cap):
    """The allreduce's buckets: each dtype's parameters (dtypes in name
    order) cut into runs of at most cap bytes."""
    by_dtype = {}
    for p in params:
        by_dtype.setdefault(str(p.dtype), []).append(p)
    for dt in sorted(by_dtype):
        for bucket in _runs(by_dtype[dt], cap):
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
    weight = _check_weight(weight, "allreduce_gradients")
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
        _unpack_bucket(bucket, buf, total, float(buf[-1]))


def _unpack_bucket(bucket, buf, total, wsum):
    """Set the bucket's grads to the reduced buffer / the weight sum (a
    grad of zeros first where another rank had one)."""
    if wsum <= 0:
        raise ValueError("allreduce_gradients: the weights of all ranks "
                         "sum to %r; at least one must be > 0" % wsum)
    flags = buf[total:total + len(bucket)]
    for p, f in zip(bucket, flags):
        if f > 0 and p.grad is None:
            p.grad = _zeros_like(p)
    _engine._unpack_grads(bucket, buf, 1.0 / wsum)


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


def _check_weight(weight, what):
    weight = float(weight)
    if not weight >= 0 or weight == float("inf"):
        raise ValueError("%s: weight must be finite and >= 0, got %r"
                         % (what, weight))
    return weight


def _reverse_buckets(params, cap):
    """Buckets in the order a backward sweep finishes them (PyTorch DDP's
    reverse parameter order)."""
    return _runs(list(reversed(params)), cap)


class _Rounds:
    """What the communication thread and step() share (not the optimizer,
    so that dropping the optimizer stops the thread)."""

    def __init__(self, comm, watch, bufs):
        self.comm = comm
        self.watch = watch
        self.bufs = bufs
        self.cond = threading.Condition()
        self.reduced = 0
        self.error = None


def _comm_loop(st):
    # Allreduce the buckets in their fixed order (the same on every rank),
    # each as soon as the sweep posts it.  mpi4py releases the GIL inside
    # Allreduce, so the main thread's Python keeps running.
    MPI = _mpi()
    while True:
        for b, buf in enumerate(st.bufs):
            if not st.watch.take(b):
                return
            try:
                st.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            except BaseException as e:      # reported by step()
                st.error = e
            with st.cond:
                st.reduced += 1
                st.cond.notify_all()


class _Overlap:
    """The watch, its buffers and the communication thread of one
    DistributedOptimizer(overlap=True)."""

    def __init__(self, comm, params, cap):
        MPI = _mpi()
        if MPI.Query_thread() < MPI.THREAD_SERIALIZED:
            raise RuntimeError(
                "DistributedOptimizer(overlap=True) reduces on a second "
                "thread, which needs MPI initialized with at least "
                "MPI_THREAD_SERIALIZED (mpi4py asks for MULTIPLE unless "
                "mpi4py.rc.thread_level says otherwise)")
        self.params = params
        self.buckets = _reverse_buckets(params, cap)
        self.watch = _engine._Watch(self.buckets)
        self.weight = 1.0
        self.state = _Rounds(comm, self.watch,
                             [self.watch.buffer(b)
                              for b in range(len(self.buckets))])
        self.thread = threading.Thread(target=_comm_loop, args=(self.state,),
                                       name="autodiff-allreduce", daemon=True)
        self.thread.start()
        self.watch.arm(1.0)

    def close(self):
        self.watch.close()

    def __del__(self):
        self.close()

    def reduce(self, weight):
        """Wait for every bucket, check, unpack into .grad; re-armed with
        weight 1.0 whatever happens."""
        w = self.watch
        if w.state == 0:
            raise RuntimeError("step() or synchronize() inside no_sync(): "
                               "leave it first")
        try:
            if w.state == 1:
                w.flush()       # no backward on this thread since arming
            self._wait()        # every round reduces every bucket
            if weight is not None and weight != self.weight:
                raise ValueError(
                    "DistributedOptimizer(overlap=True): step(weight=%r) but "
                    "backward() ran with weight %r; the weight must be known "
                    "before backward(): call set_weight(%r) before it"
                    % (weight, self.weight, weight))
            self._unpack()
        finally:
            self.weight = 1.0
            w.arm(1.0)

    def _wait(self):
        st = self.state
        with st.cond:
            while st.reduced < len(st.bufs):
                st.cond.wait()
            st.reduced = 0
        if st.error is not None:
            e, st.error = st.error, None
            raise RuntimeError("the allreduce of a gradient bucket failed: "
                               "%s" % e) from e

    def _unpack(self):
        bufs = self.state.bufs
        failed = max(float(buf[-1]) for buf in bufs)
        if failed > 0:
            raise RuntimeError(
                "backward() failed on %d rank(s) (with its own error there); "
                "no rank applied this step's gradients" % int(failed))
        k = self.watch.check()
        if k >= 0:
            p = [p for b in self.buckets for p in b][k]
            i = next(i for i, q in enumerate(self.params) if q is p)
            raise RuntimeError(
                "the gradient of parameter %d (%s %s) changed between "
                "backward() and step(): with overlap=True the allreduce took "
                "it as backward() left it; call optimizer.synchronize() "
                "before changing gradients (e.g. clipping), then step(); a "
                "hook on a parameter (register_hook) also changes it after "
                "the sweep: use overlap=False with those"
                % (i, p.dtype, tuple(p.shape)))
        for bucket, buf in zip(self.buckets, bufs):
            _unpack_bucket(bucket, buf, sum(p.numel() for p in bucket),
                           float(buf[-2]))


class DistributedOptimizer:
    """Wrap an optimizer for data-parallel training (Horovod's
    ``DistributedOptimizer``).

    At construction rank 0's parameters and optimizer state are broadcast
    to every rank. ``step()`` averages the gradients over the ranks
    (:func:`allreduce_gradients`), then runs the wrapped optimizer's step.
    Everything else (``zero_grad``, ``state_dict``, ``param_groups``, ...)
    is the wrapped optimizer's.

    With ``overlap=True`` (and more than one rank) the reduction overlaps
    the backward sweep: the engine packs each bucket of gradients
    (:data:`OVERLAP_BUCKET_BYTES`, in reverse parameter order as PyTorch
    DDP) as soon as the sweep has finished it, a communication thread
    allreduces it, and ``step()`` waits for the last bucket and unpacks.
    The result is the one ``overlap=False`` gives, bit for bit (the same
    packed values, the same sums). Then:

    - the weight must be known before backward(): ``set_weight(n)``
      (1.0 again after each step); ``step(weight=w)`` raises when w
      differs from it;
    - one backward() per step reaches the parameters; accumulate over
      several under ``with opt.no_sync():`` (all but the last);
    - to change gradients between backward() and the update (clipping),
      call ``synchronize()`` first (Horovod); step() raises if they
      changed after backward() without it;
    - backward() must run on the thread that made the optimizer (step()
      reduces the current gradients otherwise), and inside an
      ``ad.compile`` recording or replay it raises;
    - a backward() that fails on one rank makes step() raise on every
      rank (the buckets carry a failure flag), nobody waits forever.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer to wrap (the same on every rank).
    root : int
        The rank whose parameters and state every rank starts from.
    overlap : bool
        Reduce while backward() runs (see above).
    bucket_bytes : int
        With overlap, the most bytes of one bucket.
    """

    def __init__(self, optimizer, root=0, *, overlap=False,
                 bucket_bytes=OVERLAP_BUCKET_BYTES):
        self.optimizer = optimizer
        self._synced = False
        self._weight = 1.0
        self._overlap = None
        broadcast_parameters(self._params(), root=root)
        broadcast_optimizer_state(optimizer, root=root)
        if overlap and world_size() > 1:
            if int(bucket_bytes) < 1:
                raise ValueError("bucket_bytes must be >= 1, got %r"
                                 % (bucket_bytes,))
            self._overlap = _Overlap(_world(), _grad_params(self._params()),
                                     int(bucket_bytes))

    def _params(self):
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    @property
    def overlap(self):
        """True when the reduction overlaps backward()."""
        return self._overlap is not None

    def set_weight(self, weight):
        """This rank's weight (its local sample count) for the next
        backward(); with overlap it must be set before backward() (the
        sweep packs the weighted gradients), and goes back to 1.0 after
        each step. Without overlap it is step()'s default weight.

        Parameters
        ----------
        weight : float
            Finite and non-negative; 0 for a rank without samples in this step.

        Raises
        ------
        ValueError
            For a negative, infinite or NaN weight.
        RuntimeError
            The gradients were already handed to the allreduce.
        """
        weight = _check_weight(weight, "set_weight")
        ov = self._overlap
        if ov is None:
            self._weight = weight
            return
        if ov.watch.state == 2:
            raise RuntimeError(
                "set_weight() after backward(): the gradients were already "
                "packed with weight %r; call it before backward()"
                % ov.weight)
        ov.weight = weight
        if ov.watch.state == 1:
            ov.watch.arm(weight)

    @contextlib.contextmanager
    def no_sync(self):
        """backward()s inside accumulate locally without reducing (PyTorch
        DDP's no_sync); the next backward() outside reduces the sum."""
        ov = self._overlap
        if ov is None:
            yield
            return
        if ov.watch.state == 2:
            raise RuntimeError("no_sync(): a backward() already handed the "
                               "gradients to the allreduce; call step() "
                               "first")
        ov.watch.disarm()
        try:
            yield
        finally:
            ov.watch.arm(ov.weight)

    def synchronize(self, weight=None):
        """Reduce the gradients now (waiting for the overlapped
        reduction), so they can be changed (clipped) before step(), which
        then only updates (Horovod's synchronize).

        Parameters
        ----------
        weight : float, optional
            Without overlap: this rank's weight (default 1.0, or
            set_weight's). With overlap: must equal set_weight's.
        """
        if self._synced:
            raise RuntimeError("synchronize() twice before step()")
        if weight is not None:
            weight = _check_weight(weight, "synchronize")
        if self._overlap is not None:
            self._overlap.reduce(weight)
        else:
            if weight is None:
                weight = self._weight
            allreduce_gradients(self._params(), weight=weight)
        self._synced = True

    def step(self, closure=None, *, weight=None):
        """Average the gradients over the ranks, then update.

        Parameters
        ----------
        closure : callable, optional
            Recomputes the loss (run before the allreduce); its value is
            returned.
        weight : float, optional
            This rank's weight in the mean (its local sample count for
            ragged batches); default 1.0 (or set_weight's). With overlap
            it must equal the weight set before backward().
        """
        loss = None
        if closure is not None:
            from ._grad_mode import enable_grad
            with enable_grad():
                loss = closure()
        if self._synced:
            if weight is not None:
                raise ValueError("step(weight=...) after synchronize(): "
                                 "pass the weight to synchronize()")
            self._synced = False
        else:
            self.synchronize(weight)
            self._synced = False
        self._weight = 1.0
        self.optimizer.step()
        return loss

    def zero_grad(self, set_to_none=True):
        """The wrapped optimizer's zero_grad.

        Parameters
        ----------
        set_to_none : bool, default True
            As :meth:`Optimizer.zero_grad
            <autodiff.optim.Optimizer.zero_grad>`.
        """
        self.optimizer.zero_grad(set_to_none)

    def state_dict(self):
        """The wrapped optimizer's state_dict."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        """The wrapped optimizer's load_state_dict.

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict`.
        """
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
