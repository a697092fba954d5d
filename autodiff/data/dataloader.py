"""DataLoader: batches from a dataset, read in the main thread or
prefetched by worker threads (torch.utils.data.DataLoader's interface).

Workers are threads, not processes: the dataset is shared, nothing is
pickled, and numpy and the engine release the GIL in their copies.  The
main thread draws the indices (the sampler) and hands batch k to worker
k mod num_workers; the workers fetch and collate; the main thread yields
the batches in the order of their indices, so the batches and their order
are those of ``num_workers=0`` for the same sampler and seed.  An
exception in a worker is raised again, as it is, in the main thread by the
``next()`` that would have returned its batch.
"""
from __future__ import annotations

import itertools
import math
import queue
import threading
import warnings
import weakref
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .._capture import NotCompilableError
from .._creation import tensor
from .._engine import Tensor, is_capturing
from .._random import _rng
from .._shape_ops import index_select
from ._collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import (BatchSampler, RandomSampler, Sampler,
                      SequentialSampler, _check_generator)

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]


class WorkerInfo(NamedTuple):
    """What ``get_worker_info()`` returns inside a worker thread.

    Parameters
    ----------
    id : int
        The worker's number, 0 .. num_workers - 1.
    num_workers : int
        How many workers the loader runs.
    seed : int
        ``base_seed + id``: a seed of the worker's own (drawn from the
        loader's generator at each iterator).  Threads share numpy's and
        autodiff's global generators, so nothing is seeded with it:
        use it for a generator of the worker's own.
    dataset : Any
        The dataset (the same object in every worker: threads share it).
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """The calling worker thread's ``WorkerInfo``; None in other threads
    (torch.utils.data.get_worker_info).  An ``IterableDataset``'s
    ``__iter__`` uses it to give each worker a different part of the
    stream."""
    return getattr(_local, "info", None)


# ------------------------------------------------------------ fetching

def _fast_rows(dataset: Any, indices: list[int]) -> list[Tensor] | None:
    """The collated batch of a TensorDataset (or Subset of one) read with
    one gather per tensor, or None when the dataset is not one.  The same
    batch as default_collate of the samples: rows t[i] stacked."""
    while isinstance(dataset, Subset):
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if not isinstance(dataset, TensorDataset) or not indices or \
            type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None             # (an empty batch: default_collate's error)
    idx = np.array(indices, dtype=np.int64)
    n = len(dataset)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError("index %d is out of bounds for dimension 0 with "
                         "size %d" % (bad, n))
    idx[idx < 0] += n
    out = []
    for t in dataset.tensors:
        if isinstance(t, Tensor):
            out.append(index_select(t, 0, tensor(idx)))
        elif t.dtype.kind in "biuf":
            out.append(tensor(t[idx]))
        else:           # strings or objects: default_collate's error
            return None
    return out


class _MapFetcher:
    """A batch of a map-style dataset from its indices."""

    def __init__(self, dataset: Any, auto_collation: bool,
                 collate_fn: Callable[[Any], Any], drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def fetch(self, index: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.collate_fn is default_collate:
            rows = _fast_rows(self.dataset, index)
            if rows is not None:
                return rows
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            data = getitems(index)
        else:
            data = [self.dataset[i] for i in index]
        return self.collate_fn(data)


class _IterableFetcher:
    """The next batch of an iterable dataset's stream (StopIteration at
    its end, or at a short last batch with drop_last)."""

    def __init__(self, dataset: Any, auto_collation: bool,
                 collate_fn: Callable[[Any], Any], drop_last: bool) -> None:
        self.it = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.it))
        data = []
        for _ in index:
            try:
                data.append(next(self.it))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


class _InfiniteConstantSampler(Sampler):
    """None forever: an iterable dataset's 'indices'."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


# ------------------------------------------------------------- workers

class _Failure:
    """An exception raised in a worker, carried to the main thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Ended:
    """A worker's iterable dataset has ended."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


_RESUME = object()      # persistent workers: start the next epoch


def _worker_loop(is_iterable: bool, dataset: Any, index_queue: queue.Queue,
                 data_queue: queue.Queue, done: threading.Event,
                 auto_collation: bool, collate_fn: Callable[[Any], Any],
                 drop_last: bool, seed: int,
                 init_fn: Callable[[int], None] | None, worker_id: int,
                 num_workers: int) -> None:
    """One worker thread: fetch the batches its queue names, put
    (task number, batch or _Failure or _Ended) on data_queue; stop at
    None.  Holds no reference to the iterator, so an abandoned iterator is
    collected and its finalizer stops the workers."""
    _local.info = WorkerInfo(worker_id, num_workers, seed + worker_id,
                             dataset)
    make = _IterableFetcher if is_iterable else _MapFetcher
    failure: _Failure | None = None
    fetcher: Any = None

    def start() -> None:
        nonlocal failure, fetcher
        try:
            fetcher = make(dataset, auto_collation, collate_fn, drop_last)
        except BaseException as e:      # noqa: B036 -- carried to main
            failure = _Failure(e)

    try:
        if init_fn is not None:
            init_fn(worker_id)
    except BaseException as e:          # noqa: B036
        failure = _Failure(e)
    if failure is None:
        start()
    ended = False
    while True:
        task = index_queue.get()
        if task is None:
            break
        if task is _RESUME:
            ended = False
            if failure is None:
                start()
            data_queue.put((_RESUME, None))
            continue
        if done.is_set() or ended:
            continue
        idx, index = task
        data: Any
        if failure is not None:
            data = failure
        else:
            try:
                data = fetcher.fetch(index)
            except StopIteration as e:
                if is_iterable:
                    data = _Ended(worker_id)
                    ended = True
                else:       # ends the epoch, as in the main thread
                    data = _Failure(e)
            except BaseException as e:      # noqa: B036
                data = _Failure(e)
        data_queue.put((idx, data))
        del data
    _local.info = None


def _stop_workers(threads: list[threading.Thread],
                  index_queues: list[queue.Queue],
                  done: threading.Event) -> None:
    """Tell the workers to stop and wait for them (a worker still inside
    a slow sample gets 5 seconds; the threads are daemons)."""
    done.set()
    for q in index_queues:
        q.put(None)
    for th in threads:
        if th is not threading.current_thread():
            th.join(timeout=5.0)


# ----------------------------------------------------------- iterators

def _refuse_capture() -> None:
    if is_capturing():
        raise NotCompilableError(
            "a DataLoader reads its batches in Python, so a compiled replay "
            "would repeat the first call's batch; iterate the loader outside "
            "the compiled function and pass each batch in")


class _BaseIter:
    """What both iterators share: the sampler's iterator, the base seed,
    the refusal under ad.compile."""

    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._is_iterable = isinstance(loader.dataset, IterableDataset)
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._timeout = loader.timeout
        self._len_called = loader._IterableDataset_len_called
        self._base_seed = int(_rng(None, loader.generator).integers(2 ** 63))
        self._sampler_iter: Iterator[Any] = iter(self._index_sampler)
        self._num_yielded = 0

    def __iter__(self) -> _BaseIter:
        return self

    def _reset(self, loader: DataLoader) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._len_called = loader._IterableDataset_len_called

    def _next_data(self) -> Any:
        raise NotImplementedError

    def __next__(self) -> Any:
        _refuse_capture()
        data = self._next_data()
        self._num_yielded += 1
        if self._is_iterable and self._len_called is not None and \
                self._num_yielded > self._len_called:
            warnings.warn("Length of IterableDataset %r was reported to be "
                          "%d (when accessing len(dataloader)), but %d "
                          "samples have been fetched."
                          % (self._dataset, self._len_called,
                             self._num_yielded), stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)


class _SingleThreadIter(_BaseIter):
    """num_workers=0: each batch fetched by the calling thread."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        make = _IterableFetcher if self._is_iterable else _MapFetcher
        self._fetcher = make(self._dataset, self._auto_collation,
                             self._collate_fn, self._drop_last)

    def _next_data(self) -> Any:
        index = next(self._sampler_iter)
        return self._fetcher.fetch(index)


class _ThreadedIter(_BaseIter):
    """num_workers>0: worker threads fetch up to prefetch_factor *
    num_workers batches ahead; the batches come out in order (torch's
    multiprocessing iterator, with threads and queue.Queue)."""

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._num_workers = loader.num_workers
        self._prefetch = int(loader.prefetch_factor or 0) * self._num_workers
        self._persistent = loader.persistent_workers
        self._data_queue: queue.Queue = queue.Queue()
        self._done = threading.Event()
        self._index_queues: list[queue.Queue] = []
        self._workers: list[threading.Thread] = []
        for i in range(self._num_workers):
            q: queue.Queue = queue.Queue()
            th = threading.Thread(
                target=_worker_loop, name="autodiff-data-worker-%d" % i,
                args=(self._is_iterable, self._dataset, q, self._data_queue,
                      self._done, self._auto_collation, self._collate_fn,
                      self._drop_last, self._base_seed,
                      loader.worker_init_fn, i, self._num_workers),
                daemon=True)
            self._index_queues.append(q)
            self._workers.append(th)
        for th in self._workers:
            th.start()
        self._finalizer = weakref.finalize(
            self, _stop_workers, self._workers, self._index_queues,
            self._done)
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._send_idx = 0          # the next task number to hand out
        self._rcvd_idx = 0          # the next task number to yield
        self._task_info: dict[int, tuple[Any, ...]] = {}
        self._outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch):
            self._try_put_index()

    def _reset(self, loader: DataLoader) -> None:
        """The next epoch with the same (persistent) workers: each one
        restarts its dataset iterator; results of the abandoned epoch
        still queued are dropped."""
        super()._reset(loader)
        for q in self._index_queues:
            q.put(_RESUME)
        waiting = self._num_workers
        while waiting:
            if self._get_data()[0] is _RESUME:
                waiting -= 1
        self._start_epoch()

    def _try_put_index(self) -> None:
        if self._outstanding >= self._prefetch:
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._worker_cycle)
            if self._workers_status[wid]:
                break
        else:
            return
        self._index_queues[wid].put((self._send_idx, index))
        self._task_info[self._send_idx] = (wid,)
        self._outstanding += 1
        self._send_idx += 1

    def _get_data(self) -> tuple[Any, Any]:
        if self._timeout > 0:
            try:
                return self._data_queue.get(timeout=self._timeout)
            except queue.Empty:
                raise RuntimeError("DataLoader timed out after %s seconds"
                                   % self._timeout) from None
        while True:     # waking up now and then to see the workers live
            try:
                return self._data_queue.get(timeout=5.0)
            except queue.Empty:
                dead = [i for i, th in enumerate(self._workers)
                        if not th.is_alive()]
                if dead:
                    raise RuntimeError("DataLoader worker(s) %s exited "
                                       "unexpectedly" % dead) from None

    def _next_data(self) -> Any:
        while True:
            # skip tasks of workers whose stream ended (no answer comes)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or
                                         self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                return self._process(
                    self._task_info.pop(self._rcvd_idx)[1])
            idx, data = self._get_data()
            self._outstanding -= 1
            if isinstance(data, _Ended):
                self._workers_status[data.worker_id] = False
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                self._task_info[idx] += (data,)
            else:
                del self._task_info[idx]
                return self._process(data)

    def _process(self, data: Any) -> Any:
        self._rcvd_idx += 1
        self._try_put_index()
        if isinstance(data, _Failure):
            if isinstance(data.exc, StopIteration) and not self._persistent:
                self._shutdown()    # the epoch ends here
            raise data.exc
        return data

    def _shutdown(self) -> None:
        self._finalizer()


# ----------------------------------------------------------- the loader

class DataLoader:
    """Batches of a dataset, in the order of a sampler, optionally
    prefetched by worker threads (torch.utils.data.DataLoader).

    Parameters
    ----------
    dataset : Dataset or IterableDataset
        Where the samples come from.
    batch_size : int or None, default 1
        Samples per batch; None turns batching off (each sample is
        converted by ``default_convert``).
    shuffle : bool, default False
        A new random order each epoch (a ``RandomSampler``).
    sampler : Sampler or iterable, optional
        The order of the indices; exclusive with shuffle.
    batch_sampler : Sampler or iterable of lists, optional
        Yields the batches' index lists; exclusive with batch_size,
        shuffle, sampler and drop_last.
    num_workers : int, default 0
        Worker threads prefetching batches; 0 reads in the calling thread.
        The batches and their order do not depend on it.
    collate_fn : callable, optional
        A list of samples to a batch; default ``default_collate``.
    pin_memory : bool, default False
        Accepted for torch's code; the CPU is autodiff's only device, so
        it changes nothing (torch warns alike without an accelerator).
    drop_last : bool, default False
        Drop the last batch when it is short.
    timeout : float, default 0
        With workers: seconds to wait for a batch before a RuntimeError
        (0: no limit).
    worker_init_fn : callable, optional
        Called as ``worker_init_fn(worker_id)`` in each worker thread
        before it reads anything.
    multiprocessing_context : None
        Must be None: the workers are threads.
    generator : numpy.random.Generator, optional
        The random stream of shuffling (and the workers' base seed);
        default: autodiff's default generator, seeded by
        ``ad.manual_seed``.  The same seed gives the same batches, with
        or without workers.
    prefetch_factor : int, optional
        Batches in flight per worker: a positive int (default 2 with
        workers; must be None without).
    persistent_workers : bool, default False
        Keep the worker threads between epochs (needs num_workers > 0).
    pin_memory_device : str, default ""
        Ignored (torch deprecates it).
    in_order : bool, default True
        Accepted for torch's code; batches always come in order.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1,
                 shuffle: bool | None = None,
                 sampler: Sampler | Iterable[Any] | None = None,
                 batch_sampler: Sampler | Iterable[Sequence[Any]] |
                 None = None,
                 num_workers: int = 0,
                 collate_fn: Callable[[Any], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False,
                 timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None,
                 generator: np.random.Generator | None = None, *,
                 prefetch_factor: int | None = None,
                 persistent_workers: bool = False,
                 pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        if isinstance(num_workers, bool) or \
                not isinstance(num_workers, (int, np.integer)):
            raise TypeError("num_workers should be an integer, got %r"
                            % (num_workers,))
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified "
                             "in multiprocessing.let num_workers > 0 to "
                             "enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        elif prefetch_factor == 0:
            # torch's loader then yields no batch at all
            raise ValueError("prefetch_factor=0 would let the workers load "
                             "nothing: give a positive prefetch_factor")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers "
                             "> 0")
        if multiprocessing_context is not None:
            raise ValueError("autodiff's DataLoader runs its workers as "
                             "threads: multiprocessing_context must be None, "
                             "got %r" % (multiprocessing_context,))
        _check_generator(generator)

        if isinstance(dataset, IterableDataset):
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected "
                                 "unspecified shuffle option, but got "
                                 "shuffle=%s" % (shuffle,))
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected "
                                 "unspecified sampler option, but got "
                                 "sampler=%s" % (sampler,))
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected "
                                 "unspecified batch_sampler option, but got "
                                 "batch_sampler=%s" % (batch_sampler,))
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with "
                             "shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or \
                    drop_last:
                raise ValueError("batch_sampler option is mutually exclusive "
                                 "with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching "
                             "and is mutually exclusive with drop_last")
        if sampler is None:
            if isinstance(dataset, IterableDataset):
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no "
                          "accelerator is found, then device pinned memory "
                          "won't be used.", stacklevel=2)

        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = (default_collate if batch_sampler is not None
                          else default_convert)
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._IterableDataset_len_called: int | None = None
        self._iterator: _BaseIter | None = None
        self.__initialized = True

    _FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last",
               "dataset", "persistent_workers")

    def __setattr__(self, attr: str, val: Any) -> None:
        if attr in self._FROZEN and \
                getattr(self, "_DataLoader__initialized", False):
            raise ValueError("%s attribute should not be set after %s is "
                             "initialized" % (attr, type(self).__name__))
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self) -> _BaseIter:
        if self.num_workers == 0:
            if self.timeout != 0:
                raise ValueError("timeout option needs num_workers > 0 (a "
                                 "loader without workers cannot time out), "
                                 "got timeout=%r" % (self.timeout,))
            return _SingleThreadIter(self)
        return _ThreadedIter(self)

    def __iter__(self) -> _BaseIter:
        """An iterator over the batches of one epoch (with persistent
        workers the same iterator, restarted)."""
        _refuse_capture()
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self) -> int:
        """The number of batches of an epoch (of samples with
        ``batch_size=None``); an IterableDataset's needs its ``__len__``."""
        if isinstance(self.dataset, IterableDataset):
            length = len(self.dataset)      # type: ignore[arg-type]
            self._IterableDataset_len_called = length
            if self.batch_size is not None:
                if self.drop_last:
                    return length // self.batch_size
                return math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)
