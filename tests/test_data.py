"""autodiff.data: datasets, samplers, default_collate and DataLoader
against torch.utils.data (batches, dtypes, lengths, error messages), the
worker threads against loading in the main thread, the TensorDataset fast
path against collating sample by sample, NpyDataset over memory maps."""
import collections
import gc
import re
import threading
import time

import numpy as np
import pytest

import autodiff as ad
from autodiff import data as D
from autodiff.data import dataloader as dl_mod
from conftest import require_torch
from conftest import needs_torch, torch

if torch is not None:
    import torch.utils.data as TD

_AD_TO_TORCH = {"float32": "torch.float32", "float64": "torch.float64",
                "int64": "torch.int64", "bool": "torch.bool"}


def assert_same(ours, theirs):
    """ours (autodiff) equal to theirs (torch): the same structure, types
    of containers, tensor dtypes and values."""
    if torch is not None and isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ad.Tensor), type(ours)
        assert _AD_TO_TORCH[str(ours.dtype)] == str(theirs.dtype)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), (type(ours), type(theirs))
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        assert ours == theirs


def assert_bits(a, b):
    """Two autodiff batches bit for bit (structure, dtypes, values)."""
    if isinstance(a, ad.Tensor):
        assert isinstance(b, ad.Tensor) and a.dtype == b.dtype
        assert a.numpy().tobytes() == b.numpy().tobytes()
        assert a.shape == b.shape
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_bits(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_bits(x, y)
    else:
        assert a == b


def arrays(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)), rng.normal(size=(n, 2, 2)).astype(
        np.float32), rng.integers(0, 5, n), rng.random(n) < 0.5)


Point = collections.namedtuple("Point", "x y")


class Samples:
    """A map-style dataset of nested numpy / Python samples: the same
    object serves torch's DataLoader and ours (it derives from neither)."""

    def __init__(self, n=11):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        a = np.arange(6.0).reshape(2, 3) * i
        return {"x": a, "f": float(i) / 3, "i": i, "b": i % 2 == 0,
                "np": (np.float32(i), np.int64(-i), np.float64(i) / 7),
                "nested": [a.astype(np.float32), {"k": np.array([i, 2 * i])}],
                "point": Point(np.array([i]), 0.5 * i), "name": "s%d" % i}


class OurSamples(Samples, D.Dataset):
    pass


class TorchSamples(Samples, TD.Dataset if torch is not None else object):
    pass


# ---------------------------------------------------------- against torch

@needs_torch
@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (4, False),
                                                   (4, True), (10, False),
                                                   (3, True), (20, False)])
def test_tensor_dataset_batches_equal_torch(batch_size, drop_last):
    arrs = arrays()
    ours = D.DataLoader(D.TensorDataset(*arrs), batch_size=batch_size,
                        drop_last=drop_last)
    theirs = TD.DataLoader(TD.TensorDataset(*map(torch.from_numpy, arrs)),
                           batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same(a, b)
    # autodiff tensors in the dataset: the same batches
    tensors = D.TensorDataset(*(ad.tensor(a) for a in arrs))
    for a, b in zip(D.DataLoader(tensors, batch_size=batch_size,
                                 drop_last=drop_last), want):
        assert_same(a, b)


@needs_torch
@pytest.mark.parametrize("num_workers", [0, 2])
def test_nested_samples_batches_equal_torch(num_workers):
    ours = D.DataLoader(OurSamples(), batch_size=4, num_workers=num_workers)
    theirs = TD.DataLoader(TorchSamples(), batch_size=4)
    for a, b in zip(list(ours), list(theirs), strict=True):
        assert_same(a, b)


@needs_torch
def test_default_collate_equals_torch():
    s = Samples()
    batch = [s[i] for i in range(5)]
    assert_same(D.default_collate(batch), TD.default_collate(batch))
    for b in ([1, 2, 3], [1.5, 2.0], [True, False], [np.int64(3)] * 2,
              [np.float32(1.5)] * 3, [np.bool_(True)] * 2, ["a", "b"],
              [(1, 2.0), (3, 4.0)], [[1, 2], [3, 4]],
              [{"a": (np.zeros(2), 1)}] * 2,
              [torch.ones(2, 3), torch.zeros(2, 3)]):
        ours = [ad.tensor(t.numpy()) if isinstance(t, torch.Tensor) else t
                for t in b]
        assert_same(D.default_collate(ours), TD.default_collate(b))
    for d in (s[0], [np.zeros(2), (1, "a")], Point(np.ones(1), 2),
              np.array(["a"]), np.float64(2.5)):
        assert_same(D.default_convert(d), TD.default_convert(d))


@needs_torch
def test_default_collate_errors():
    for bad, exc in (([object(), object()], TypeError),
                     ([np.array([object()])] * 2, TypeError),
                     ([np.array(["a"])] * 2, TypeError),
                     ([[1, 2], [1]], RuntimeError)):
        with pytest.raises(exc) as want:
            TD.default_collate(bad)
        with pytest.raises(exc, match=re.escape(str(want.value))):
            D.default_collate(bad)
    with pytest.raises(ValueError, match=r"equal shape, got \(2,\) \(sample "
                       r"0\) and \(3,\) \(sample 1\)"):
        D.default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="stack expects tensors of equal "
                       "shape"):
        D.default_collate([ad.zeros(2), ad.zeros(3)])


@needs_torch
def test_batch_size_none_converts_each_sample():
    ours = D.DataLoader(OurSamples(4), batch_size=None)
    theirs = TD.DataLoader(TorchSamples(4), batch_size=None)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)


@needs_torch
@pytest.mark.parametrize("kwargs", [
    dict(batch_size=0), dict(batch_size=-2), dict(batch_size=2.5),
    dict(drop_last=1), dict(num_workers=-1), dict(timeout=-1),
    dict(prefetch_factor=2), dict(num_workers=1, prefetch_factor=-1),
    dict(persistent_workers=True), dict(shuffle=True, sampler=[0, 1]),
    dict(batch_sampler=[[0]], batch_size=2),
    dict(batch_sampler=[[0]], shuffle=True),
    dict(batch_sampler=[[0]], sampler=[0]),
    dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True)])
def test_loader_argument_errors_as_torch(kwargs):
    with pytest.raises(ValueError) as want:
        TD.DataLoader(TorchSamples(), **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(want.value))):
        D.DataLoader(OurSamples(), **kwargs)


class Stream:
    """An iterable dataset's stream: range(n), split among the workers by
    get_worker_info (torch's documented pattern)."""

    def __init__(self, n=10, info=None):
        self.n = n
        self.info = info

    def __iter__(self):
        w = self.info()
        if w is None:
            return iter(range(self.n))
        return iter(range(w.id, self.n, w.num_workers))

    def __len__(self):
        return self.n


class OurStream(Stream, D.IterableDataset):
    def __init__(self, n=10):
        super().__init__(n, D.get_worker_info)


class TorchStream(Stream, TD.IterableDataset if torch is not None
                  else object):
    def __init__(self, n=10):
        super().__init__(n, TD.get_worker_info)


@needs_torch
@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])])
def test_iterable_dataset_argument_errors_as_torch(kwargs):
    with pytest.raises(ValueError) as want:
        TD.DataLoader(TorchStream(), **kwargs)
    with pytest.raises(ValueError, match=re.escape(str(want.value))):
        D.DataLoader(OurStream(), **kwargs)


@needs_torch
@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True),
                                                   (None, False)])
def test_iterable_dataset_equals_torch(batch_size, drop_last):
    ours = D.DataLoader(OurStream(), batch_size=batch_size,
                        drop_last=drop_last)
    theirs = TD.DataLoader(TorchStream(), batch_size=batch_size,
                           drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    for a, b in zip(got, want, strict=True):
        if batch_size is None:          # samples are Python ints
            assert a == b
        else:
            assert_same(a, b)


@pytest.mark.parametrize("num_workers", [1, 2, 3])
def test_iterable_dataset_with_workers(num_workers):
    # torch's order: batch k from worker k mod num_workers until a worker's
    # stream ends, then the others in turn
    loader = D.DataLoader(OurStream(11), batch_size=2,
                          num_workers=num_workers)
    got = [b.tolist() for b in loader]
    streams = [list(range(w, 11, num_workers)) for w in range(num_workers)]
    parts = [[s[i:i + 2] for i in range(0, len(s), 2)] for s in streams]
    want = []
    for k in range(max(map(len, parts))):
        want += [p[k] for p in parts if k < len(p)]
    assert got == want
    assert sorted(sum(got, [])) == list(range(11))


@needs_torch
def test_samplers_equal_torch():
    for ours, theirs in (
            (D.SequentialSampler(range(7)), TD.SequentialSampler(range(7))),
            (D.BatchSampler(range(10), 3, False),
             TD.BatchSampler(range(10), 3, False)),
            (D.BatchSampler(range(10), 3, True),
             TD.BatchSampler(range(10), 3, True)),
            (D.BatchSampler(range(9), 3, True),
             TD.BatchSampler(range(9), 3, True))):
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@needs_torch
@pytest.mark.parametrize("make", [
    lambda M: M.BatchSampler(range(4), 0, False),
    lambda M: M.BatchSampler(range(4), True, False),
    lambda M: M.BatchSampler(range(4), 2, None),
    lambda M: M.RandomSampler(range(4), num_samples=0),
    lambda M: M.RandomSampler(range(4), num_samples=-3),
    lambda M: M.WeightedRandomSampler([1.0, 2.0], 0),
    lambda M: M.WeightedRandomSampler([1.0, 2.0], 2, replacement=1),
    lambda M: M.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda M: M.random_split(range(10), [3, 3]),
    lambda M: M.random_split(range(10), [1.5, -0.5]),
])
def test_sampler_argument_errors_as_torch(make):
    with pytest.raises(ValueError) as want:
        make(TD)
    with pytest.raises(ValueError, match=re.escape(str(want.value))):
        make(D)


def test_more_argument_errors():
    with pytest.raises(TypeError, match="replacement should be a boolean "
                       "value, but got replacement=1"):
        D.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match=r"non-negative, got -1.0 at index "
                       "1"):
        D.WeightedRandomSampler([1.0, -1.0, 2.0], 3)
    with pytest.raises(ValueError, match=r"non-negative, got nan at index 0"):
        D.WeightedRandomSampler([np.nan, 1.0], 3)
    with pytest.raises(ValueError, match="weights sum to zero"):
        D.WeightedRandomSampler([0.0, 0.0], 1)
    with pytest.raises(ValueError, match="num_samples=3 indices without "
                       "replacement from 2 non-zero weights"):
        D.WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)
    with pytest.raises(TypeError, match="numpy.random.Generator, got int"):
        D.RandomSampler(range(3), generator=0)
    with pytest.raises(TypeError, match="numpy.random.Generator, got int"):
        D.DataLoader(range(3), shuffle=True, generator=0)
    with pytest.raises(ValueError, match=r"lengths \[5, 6\] sum to 11, the "
                       "dataset has 10 samples"):
        D.random_split(range(10), [5, 6])
    with pytest.raises(ValueError, match="non-negative integers or "
                       "fractions summing to 1; got 2.5 at index 0"):
        D.random_split(range(10), [2.5, 7.5])
    with pytest.raises(ValueError, match="Size mismatch between tensors: "
                       r"their first dimensions are \[3, 4\]"):
        D.TensorDataset(np.zeros(3), ad.zeros(4))
    with pytest.raises(TypeError, match="tensors or numpy arrays, got list "
                       "at position 1"):
        D.TensorDataset(np.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="array at position 0 is 0-d"):
        D.TensorDataset(np.ones(()))
    with pytest.raises(ValueError, match="at least one tensor"):
        D.TensorDataset()
    with pytest.raises(ValueError, match="multiprocessing_context must be "
                       "None, got 'fork'"):
        D.DataLoader(range(3), num_workers=1, multiprocessing_context="fork")
    with pytest.raises(ValueError, match="prefetch_factor=0 would let the "
                       "workers load nothing"):
        D.DataLoader(range(3), num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="timeout option needs num_workers "
                       "> 0"):
        iter(D.DataLoader(range(3), timeout=1.0))
    loader = D.DataLoader(range(3))
    with pytest.raises(ValueError, match="batch_size attribute should not "
                       "be set after DataLoader is initialized"):
        loader.batch_size = 2
    with pytest.warns(UserWarning, match="pin_memory"):
        assert [b.tolist() for b in D.DataLoader(range(3), batch_size=2,
                                                 pin_memory=True)] \
            == [[0, 1], [2]]


# ----------------------------------------------------------- shuffling

@pytest.mark.parametrize("num_workers", [0, 2])
def test_shuffle_reproducible_and_a_permutation(num_workers):
    n = 23
    ds = D.TensorDataset(np.arange(n))

    def epochs(seed, k=3, nw=num_workers):
        loader = D.DataLoader(ds, batch_size=5, shuffle=True,
                              num_workers=nw,
                              generator=np.random.default_rng(seed))
        return [np.concatenate([b[0].numpy() for b in loader])
                for _ in range(k)]

    a, b = epochs(7), epochs(7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)         # same seed, same order
        assert sorted(x.tolist()) == list(range(n))  # each index once
    assert not np.array_equal(a[0], a[1])           # a new order per epoch
    assert not np.array_equal(a[0], epochs(8, 1)[0])
    for x, y in zip(a, epochs(7, nw=0)):          # threads == main thread
        np.testing.assert_array_equal(x, y)


def test_shuffle_follows_manual_seed():
    ds = D.TensorDataset(np.arange(12))

    def order():
        return np.concatenate([b[0].numpy() for b in D.DataLoader(
            ds, batch_size=4, shuffle=True)])

    ad.manual_seed(3)
    a = order()
    ad.manual_seed(3)
    np.testing.assert_array_equal(a, order())
    assert sorted(a.tolist()) == list(range(12))


def test_random_sampler_statistics():
    g = np.random.default_rng(0)
    # without replacement, num_samples > n: whole permutations, then part
    s = list(D.RandomSampler(range(5), num_samples=13, generator=g))
    assert len(s) == 13
    for k in range(2):
        assert sorted(s[5 * k:5 * k + 5]) == list(range(5))
    assert len(set(s[10:])) == 3
    # with replacement: uniform frequencies
    s = np.array(list(D.RandomSampler(range(4), replacement=True,
                                      num_samples=40000, generator=g)))
    freq = np.bincount(s, minlength=4) / s.size
    assert np.all(np.abs(freq - 0.25) < 4 * np.sqrt(0.25 * 0.75 / s.size))
    sub = [3, 9, 4, 11]
    out = list(D.SubsetRandomSampler(sub, generator=g))
    assert sorted(out) == sorted(sub) and len(D.SubsetRandomSampler(sub)) == 4


def test_weighted_random_sampler_frequencies():
    w = [1.0, 2.0, 0.0, 5.0]
    p = np.array(w) / sum(w)
    n = 50000
    s = np.array(list(D.WeightedRandomSampler(
        w, n, generator=np.random.default_rng(1))))
    assert len(s) == n
    freq = np.bincount(s, minlength=4) / n
    assert freq[2] == 0.0
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12)
    # without replacement: distinct indices, never a zero weight, and the
    # first draw follows the weights
    firsts = []
    g = np.random.default_rng(2)
    sampler = D.WeightedRandomSampler(ad.tensor(w), 3, replacement=False,
                                      generator=g)
    assert sampler.weights.dtype == ad.float64
    for _ in range(4000):
        s = list(sampler)
        assert sorted(s) == [0, 1, 3]
        firsts.append(s[0])
    freq = np.bincount(firsts, minlength=4) / 4000
    assert np.all(np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / 4000) +
                  1e-12)


# ------------------------------------------------ splits and combinations

@needs_torch
@pytest.mark.parametrize("n, lengths", [(10, [3, 7]), (10, [0.3, 0.7]),
                                        (11, [0.5, 0.5]),
                                        (30, [0.3, 0.3, 0.4]),
                                        (7, [0.1, 0.1, 0.8])])
def test_random_split_sizes_as_torch(n, lengths):
    parts = D.random_split(range(n), lengths,
                           generator=np.random.default_rng(0))
    want = TD.random_split(range(n), lengths,
                           generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in want]
    seen = [x for p in parts for x in p]
    assert sorted(seen) == list(range(n))           # disjoint, complete
    again = D.random_split(range(n), lengths,
                           generator=np.random.default_rng(0))
    assert [list(p) for p in parts] == [list(p) for p in again]


def test_random_split_warns_of_an_empty_split():
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        parts = D.random_split(range(2), [0.1, 0.1, 0.8])
    assert [len(p) for p in parts] == [1, 0, 1]


@needs_torch
def test_concat_and_subset_as_torch():
    ours = D.ConcatDataset([range(3), range(10, 15), range(20, 22)])
    theirs = TD.ConcatDataset([range(3), range(10, 15), range(20, 22)])
    assert len(ours) == len(theirs) == 10
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    for i in range(-10, 10):
        assert ours[i] == theirs[i]
    with pytest.raises(ValueError, match="absolute value of index should "
                       "not exceed dataset length"):
        ours[-11]
    with pytest.raises(IndexError, match="index 10 is out of range"):
        ours[10]
    with pytest.raises(ValueError, match="datasets should not be an empty "
                       "iterable"):
        D.ConcatDataset([])
    with pytest.raises(ValueError, match="does not support IterableDataset"):
        D.ConcatDataset([OurStream()])
    sub = D.Subset(list("abcdef"), [4, 0, 2])
    assert [sub[i] for i in range(3)] == ["e", "a", "c"]
    assert sub.__getitems__([2, 0]) == ["c", "e"] and len(sub) == 3
    both = OurSamples(2) + OurSamples(3)
    assert isinstance(both, D.ConcatDataset) and len(both) == 5
    chained = OurStream(3) + OurStream(2)
    assert isinstance(chained, D.ChainDataset)
    assert list(chained) == [0, 1, 2, 0, 1] and len(chained) == 5


# -------------------------------------------------------------- fast path

def _slow(batch):
    return D.default_collate(batch)        # not default_collate: per sample


@pytest.mark.parametrize("shuffle", [False, True])
def test_fast_path_equals_per_sample_collate(shuffle, monkeypatch):
    arrs = arrays(37, seed=4)
    for ds in (D.TensorDataset(*arrs),
               D.TensorDataset(*(ad.tensor(a) for a in arrs)),
               D.random_split(D.TensorDataset(*arrs), [20, 17],
                              generator=np.random.default_rng(0))[1]):
        def load(collate_fn):
            return list(D.DataLoader(ds, batch_size=8, shuffle=shuffle,
                                     collate_fn=collate_fn,
                                     generator=np.random.default_rng(5)))
        slow = load(_slow)
        with monkeypatch.context() as m:
            # the fast path reads no sample: one gather per tensor
            def no_sample(self, i):
                raise AssertionError("a sample was read")
            m.setattr(D.TensorDataset, "__getitem__", no_sample)
            fast = load(None)
        assert len(fast) == len(slow) == (5 if len(ds) == 37 else 3)
        for a, b in zip(fast, slow):
            assert isinstance(a, list)
            assert_bits(a, b)


def test_fast_path_index_errors():
    ds = D.TensorDataset(np.arange(5.0), ad.arange(5))
    with pytest.raises(IndexError, match="index 5 is out of bounds for "
                       "dimension 0 with size 5"):
        next(iter(D.DataLoader(ds, batch_sampler=[[0, 5]])))
    got = next(iter(D.DataLoader(ds, batch_sampler=[[-1, 0]])))
    assert got[0].tolist() == [4.0, 0.0] and got[1].tolist() == [4, 0]


# ---------------------------------------------------------------- workers

class Slow(D.Dataset):
    """Samples that take varying time, so that workers finish out of
    order; fails at the indices in bad."""

    def __init__(self, n=30, bad=()):
        self.n, self.bad = n, set(bad)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i in self.bad:
            raise ValueError("sample %d is broken" % i)
        time.sleep(0.002 * (i % 3))
        return {"x": np.full(2, float(i)), "i": i}


def _workers(before=()):
    """The live worker threads not in before (threads of other tests'
    loaders may still be finishing a sample)."""
    return [t for t in threading.enumerate()
            if t.name.startswith("autodiff-data-worker") and
            t not in before]


@pytest.mark.parametrize("num_workers, prefetch", [(1, None), (2, None),
                                                   (3, 1), (4, 3)])
def test_threads_equal_main_thread(num_workers, prefetch):
    ds = Slow()
    before = _workers()
    base = list(D.DataLoader(ds, batch_size=4, shuffle=True,
                             generator=np.random.default_rng(11)))
    got = list(D.DataLoader(ds, batch_size=4, shuffle=True,
                            num_workers=num_workers,
                            prefetch_factor=prefetch,
                            generator=np.random.default_rng(11)))
    assert len(got) == len(base) == 8
    for a, b in zip(got, base):
        assert_bits(a, b)
    assert not _workers(before)     # stopped at the end of the epoch


def test_worker_exception_reraised_in_main_thread():
    loader = D.DataLoader(Slow(12, bad={5}), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it)["i"].tolist() == [0, 1]
    assert next(it)["i"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="sample 5 is broken"):
        next(it)
    # as torch, the iterator goes on with the next batch
    assert [b["i"].tolist() for b in it] == [[6, 7], [8, 9], [10, 11]]
    # and in the main thread the same error
    with pytest.raises(ValueError, match="sample 5 is broken"):
        list(D.DataLoader(Slow(12, bad={5}), batch_size=2))


def test_worker_init_fn_and_worker_info():
    seen = {}
    lock = threading.Lock()

    def init(worker_id):
        info = D.get_worker_info()
        with lock:
            seen[worker_id] = (info.id, info.num_workers,
                               threading.current_thread().name)

    assert D.get_worker_info() is None
    out = list(D.DataLoader(range(6), batch_size=2, num_workers=3,
                            worker_init_fn=init))
    assert [b.tolist() for b in out] == [[0, 1], [2, 3], [4, 5]]
    assert seen == {i: (i, 3, "autodiff-data-worker-%d" % i)
                    for i in range(3)}

    def broken(worker_id):
        raise RuntimeError("init failed in %d" % worker_id)

    with pytest.raises(RuntimeError, match="init failed in 0"):
        list(D.DataLoader(range(6), batch_size=2, num_workers=2,
                          worker_init_fn=broken))


def test_abandoned_iterator_stops_its_workers():
    before = _workers()
    loader = D.DataLoader(Slow(40), batch_size=2, num_workers=3)
    it = iter(loader)
    next(it)
    assert len(_workers(before)) == 3
    del it
    gc.collect()
    assert not _workers(before)


def test_persistent_workers_keep_threads_between_epochs():
    idents = set()
    lock = threading.Lock()

    class Tracked(Slow):
        def __getitem__(self, i):
            with lock:
                idents.add(threading.get_ident())
            return super().__getitem__(i)

    before = _workers()
    loader = D.DataLoader(Tracked(10), batch_size=3, num_workers=2,
                          persistent_workers=True, shuffle=True,
                          generator=np.random.default_rng(0))
    next(iter(loader))          # an epoch abandoned after one batch
    workers = {t.ident for t in _workers(before)}
    assert len(workers) == 2
    orders = []
    for _ in range(3):
        batches = list(loader)
        for b in batches:       # each batch holds its own samples
            np.testing.assert_array_equal(b["x"].numpy()[:, 0],
                                          b["i"].numpy())
        order = np.concatenate([b["i"].numpy() for b in batches])
        assert sorted(order.tolist()) == list(range(10))
        orders.append(order.tolist())
        assert {t.ident for t in _workers(before)} == workers   # the same
    assert orders[0] != orders[1]
    assert idents == workers
    # an iterable dataset's stream starts again each epoch
    stream = D.DataLoader(OurStream(5), batch_size=2, num_workers=2,
                          persistent_workers=True)
    for _ in range(2):
        assert sorted(sum((b.tolist() for b in stream), [])) == \
            list(range(5))
    del loader, stream
    gc.collect()
    assert not _workers(before)


def test_timeout():
    class Stuck(D.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.05 "
                       "seconds"):
        next(iter(D.DataLoader(Stuck(), num_workers=1, timeout=0.05)))


def test_not_usable_inside_compile():
    loader = D.DataLoader(D.TensorDataset(np.arange(4.0)), batch_size=2)
    it = iter(loader)

    def step(x):
        return next(it)[0] * x

    with pytest.raises(ad.NotCompilableError, match="a DataLoader reads its "
                       "batches in Python"):
        ad.compile(step)(ad.ones(2))

    def step2(x):
        return next(iter(loader))[0] * x

    with pytest.raises(ad.NotCompilableError, match="a DataLoader reads its "
                       "batches in Python"):
        ad.compile(step2)(ad.ones(2))


# ---------------------------------------------------------------- on disk

def test_npy_dataset_memory_maps(tmp_path):
    x, _, y, m = arrays(29, seed=9)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "m.npy", m)
    ds = D.NpyDataset(tmp_path / "x.npy", str(tmp_path / "y.npy"),
                      tmp_path / "m.npy")
    assert len(ds) == 29
    assert all(isinstance(a, np.memmap) and a.mode == "r"
               for a in ds.tensors)
    row = ds[3]
    assert isinstance(row[0], np.memmap)        # a row is read lazily too
    np.testing.assert_array_equal(row[0], x[3])
    assert row[1] == y[3]
    mem = D.TensorDataset(x, y, m)
    for kw in (dict(), dict(shuffle=True), dict(num_workers=2,
                                                shuffle=True)):
        a = list(D.DataLoader(ds, batch_size=7, drop_last=True,
                              generator=np.random.default_rng(1), **kw))
        b = list(D.DataLoader(mem, batch_size=7, drop_last=True,
                              collate_fn=_slow,
                              generator=np.random.default_rng(1), **kw))
        assert len(a) == len(b) == 4
        for p, q in zip(a, b):
            assert_bits(p, q)
    assert [t.dtype for t in a[0]] == [ad.float64, ad.int64, ad.bool_]
    assert all(isinstance(t, np.memmap) for t in ds.tensors)
    assert "x.npy" in repr(ds)
    # shards: one dataset per file, concatenated
    np.save(tmp_path / "x2.npy", x[:5])
    both = D.ConcatDataset([D.NpyDataset(tmp_path / "x.npy"),
                            D.NpyDataset(tmp_path / "x2.npy")])
    np.testing.assert_array_equal(both[30][0], x[1])


def test_npy_dataset_errors(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    np.save(tmp_path / "b.npy", np.zeros(4))
    np.save(tmp_path / "s.npy", np.array(["ab", "c", "d"]))
    np.savez(tmp_path / "z.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match=r"Size mismatch between tensors: "
                       r"their first dimensions are \[3, 4\]"):
        D.NpyDataset(tmp_path / "a.npy", tmp_path / "b.npy")
    with pytest.raises(TypeError, match="holds <U2 data"):
        D.NpyDataset(tmp_path / "s.npy")
    with pytest.raises(ValueError, match="z.npz' is not one"):
        D.NpyDataset(tmp_path / "z.npz")
    with pytest.raises(ValueError, match="at least one .npy file"):
        D.NpyDataset()
    with pytest.raises(FileNotFoundError):
        D.NpyDataset(tmp_path / "missing.npy")


def test_loader_len_and_module_names():
    ds = D.TensorDataset(np.arange(10))
    assert len(D.DataLoader(ds, batch_size=3)) == 4
    assert len(D.DataLoader(ds, batch_size=3, drop_last=True)) == 3
    assert len(D.DataLoader(ds, batch_size=None)) == 10
    assert len(D.DataLoader(ds, batch_sampler=[[0, 1], [2]])) == 2
    assert len(D.DataLoader(OurStream(10), batch_size=4)) == 3
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset "
                       "should implement __getitem__"):
        D.Dataset()[0]
    assert set(D.__all__) <= set(dir(D))
    assert dl_mod.get_worker_info is D.get_worker_info


class CountingBatches:
    """A batch sampler that counts the batches drawn from it."""

    def __init__(self, n_batches, size=2):
        self.drawn = 0
        self.n, self.size = n_batches, size

    def __iter__(self):
        for k in range(self.n):
            self.drawn += 1
            yield list(range(k * self.size, (k + 1) * self.size))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("num_workers, prefetch", [(1, 1), (2, 2), (3, 1)])
def test_prefetch_keeps_factor_times_workers_in_flight(num_workers,
                                                       prefetch):
    sampler = CountingBatches(20)
    loader = D.DataLoader(range(40), batch_sampler=sampler,
                          num_workers=num_workers, prefetch_factor=prefetch)
    it = iter(loader)
    ahead = num_workers * prefetch
    assert sampler.drawn == ahead           # handed out before any next()
    for k in range(5):
        assert next(it).tolist() == [2 * k, 2 * k + 1]
        assert sampler.drawn == ahead + k + 1   # one more per batch taken
    assert [b.tolist()[0] for b in it] == list(range(10, 40, 2))
    assert sampler.drawn == 20


def test_stop_iteration_and_empty_batches_as_in_the_main_thread():
    class Ends(D.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 5:
                raise StopIteration     # ends the epoch, as torch's loop
            return i

    for nw in (0, 2):
        got = [b.tolist() for b in D.DataLoader(Ends(), batch_size=2,
                                                num_workers=nw)]
        assert got == [[0, 1], [2, 3]]
        # an empty batch: default_collate's IndexError, fast path or not
        for ds in (D.TensorDataset(np.arange(3)), Ends()):
            with pytest.raises(IndexError, match="list index out of range"):
                next(iter(D.DataLoader(ds, batch_sampler=[[]],
                                       num_workers=nw)))


# ------------------------------------------------------- DistributedSampler

@pytest.mark.parametrize("n,world", [(10, 3), (12, 4), (7, 2), (2, 3),
                                     (9, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_shares_equal_torch(n, world, drop_last):
    require_torch()
    from torch.utils.data.distributed import DistributedSampler as TDS
    from autodiff.data import DistributedSampler
    ds = list(range(n))
    for rank in range(world):
        ours = DistributedSampler(ds, world, rank, shuffle=False,
                                  drop_last=drop_last)
        theirs = TDS(ds, world, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
        assert ours.total_size == theirs.total_size


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_shuffled_shares(drop_last):
    from autodiff.data import DataLoader, DistributedSampler
    n, world = 23, 3
    shares = [list(DistributedSampler(range(n), world, r, seed=5,
                                      drop_last=drop_last))
              for r in range(world)]
    flat = [i for s in shares for i in s]
    if drop_last:
        assert len(set(flat)) == len(flat) == 21     # disjoint, tail dropped
    else:
        assert set(flat) == set(range(n)) and len(flat) == 24
    assert flat != sorted(flat)
    # the same on every rank's copy; another epoch, another order
    s0 = DistributedSampler(range(n), world, 0, seed=5, drop_last=drop_last)
    assert list(s0) == shares[0]
    s0.set_epoch(1)
    assert list(s0) != shares[0]
    # through a DataLoader
    X = np.arange(n, dtype=np.float64)
    dl = DataLoader(D.TensorDataset(X), batch_size=4,
                    sampler=DistributedSampler(range(n), world, 1, seed=5,
                                               drop_last=drop_last))
    got = [v for (b,) in dl for v in b.numpy().tolist()]
    assert got == [float(i) for i in shares[1]]


def test_distributed_sampler_errors():
    from autodiff.data import DistributedSampler
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in "
                                         r"the interval \[0, 2\]"):
        DistributedSampler(range(5), 3, 3)
    with pytest.raises(ValueError, match="num_replicas should be a positive"):
        DistributedSampler(range(5), 0, 0)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        DistributedSampler(range(5), 2, 0, drop_last=1)
