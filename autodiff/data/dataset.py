"""Datasets: torch.utils.data's map-style and iterable datasets, the
in-memory ``TensorDataset``, ``NpyDataset`` over memory-mapped ``.npy``
files, and the ways to combine and split them."""
from __future__ import annotations

import bisect
import itertools
import math
import os
import warnings
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .._engine import Tensor
from .._random import _rng

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "NpyDataset",
           "Subset", "ConcatDataset", "ChainDataset", "random_split"]


class Dataset:
    """A map-style dataset: ``dataset[i]`` is the i-th sample (as
    torch.utils.data.Dataset).  Subclasses define ``__getitem__`` and
    usually ``__len__`` (which samplers and ``DataLoader`` use); they may
    define ``__getitems__(indices)`` returning a list of samples, which
    the ``DataLoader`` then calls once per batch."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(
            "Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream of samples: subclasses define
    ``__iter__`` (as torch.utils.data.IterableDataset).  With
    ``num_workers > 0`` each worker thread iterates the dataset itself:
    split the stream with ``autodiff.data.get_worker_info()`` inside
    ``__iter__`` or the samples repeat once per worker, as in torch."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(
            "Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: Dataset) -> ChainDataset:   # type: ignore
        return ChainDataset([self, other])


def _first_dim(t: Any, i: int) -> int:
    if not isinstance(t, (Tensor, np.ndarray)):
        raise TypeError("TensorDataset expects tensors or numpy arrays, got "
                        "%s at position %d" % (type(t).__name__, i))
    if t.ndim == 0:
        raise ValueError("TensorDataset indexes along the first dimension; "
                         "the %s at position %d is 0-d"
                         % (type(t).__name__, i))
    return int(t.shape[0])


class TensorDataset(Dataset):
    """Samples that are rows of tensors: ``dataset[i]`` is
    ``tuple(t[i] for t in tensors)`` (torch.utils.data.TensorDataset).

    Parameters
    ----------
    *tensors : Tensor or numpy.ndarray
        Indexed along their first dimension, which must be the same size
        for all.  Numpy arrays (memory maps included) are kept as they
        are: a sample is a row of the array, and ``DataLoader`` turns a
        batch of rows into a tensor (``default_collate``).

    Notes
    -----
    With the default collate function, ``DataLoader`` reads a batch of a
    TensorDataset (or a ``Subset`` of one) with one gather per tensor:
    ``t[indices]`` -- the same batch as collating the samples one by one.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [_first_dim(t, i) for i, t in enumerate(tensors)]
        if any(s != sizes[0] for s in sizes):
            raise ValueError("Size mismatch between tensors: their first "
                             "dimensions are %s" % sizes)
        self.tensors = tuple(tensors)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class NpyDataset(TensorDataset):
    """A ``TensorDataset`` over ``.npy`` files opened as memory maps
    (``np.load(path, mmap_mode='r')``): nothing is read until a sample or
    batch is, so the files may be larger than memory.  A batch reads just
    its rows (one gather per file).

    Parameters
    ----------
    *paths : str or os.PathLike
        One ``.npy`` file per field of a sample (for example ``"x.npy",
        "y.npy"``); their first dimensions must agree.  ``dataset[i]`` is
        the tuple of their i-th rows (read-only numpy memory maps).  For
        data split over several files along the first dimension (shards),
        concatenate one NpyDataset per shard: ``ConcatDataset([...])``.

    Attributes
    ----------
    paths : tuple of str
        The files, in order.
    tensors : tuple of numpy.memmap
        The opened arrays.
    """

    def __init__(self, *paths: str | os.PathLike[str]) -> None:
        if not paths:
            raise ValueError("NpyDataset needs at least one .npy file")
        arrays = []
        for p in paths:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            if not isinstance(arr, np.ndarray):     # an .npz archive
                raise ValueError("NpyDataset reads .npy files (one array "
                                 "each), %r is not one" % (os.fspath(p),))
            if arr.dtype.kind not in "biuf":
                raise TypeError("NpyDataset: %r holds %s data; only bool, "
                                "integer and float arrays make tensors"
                                % (os.fspath(p), arr.dtype))
            arrays.append(arr)
        super().__init__(*arrays)
        self.paths = tuple(os.fspath(p) for p in paths)

    def __repr__(self) -> str:
        return "NpyDataset(%s)" % ", ".join(repr(p) for p in self.paths)


class Subset(Dataset):
    """The samples of dataset at the given indices, in their order
    (torch.utils.data.Subset).

    Parameters
    ----------
    dataset : Dataset
        The whole dataset.
    indices : sequence of int
        The positions in dataset that make up the subset.
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """The samples at indices, through the dataset's own
        ``__getitems__`` when it has one."""
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after the other
    (torch.utils.data.ConcatDataset).

    Parameters
    ----------
    datasets : iterable of Dataset
        At least one; none of them an ``IterableDataset`` (use
        ``ChainDataset`` for those).
    """

    @staticmethod
    def cumsum(sequence: Iterable[Any]) -> list[int]:
        """The running totals of the lengths of sequence's items.

        Parameters
        ----------
        sequence : iterable of sized objects

        Returns
        -------
        list of int
        """
        return list(itertools.accumulate(len(e) for e in sequence))

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support "
                                 "IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed "
                                 "dataset length")
            idx = len(self) + idx
        if idx >= len(self):
            raise IndexError("index %d is out of range for a ConcatDataset "
                             "of length %d" % (idx, len(self)))
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other
    (torch.utils.data.ChainDataset).

    Parameters
    ----------
    datasets : iterable of IterableDataset
        Iterated in turn, each to its end.
    """

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise ValueError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise ValueError("ChainDataset only supports IterableDataset")
            total += len(d)     # type: ignore[arg-type]
        return total


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """torch's lengths of random_split: fractions summing to 1 become
    floor(n * f) each, the remainder spread one by one from the first."""
    total = sum(lengths)
    if not (math.isclose(total, 1) and total <= 1):
        for i, length in enumerate(lengths):
            if isinstance(length, bool) or \
                    not isinstance(length, (int, np.integer)) or length < 0:
                raise ValueError("random_split: lengths are non-negative "
                                 "integers or fractions summing to 1; got "
                                 "%r at index %d" % (length, i))
        return [int(v) for v in lengths]
    sizes = []
    for i, frac in enumerate(lengths):
        if frac < 0 or frac > 1:
            raise ValueError("Fraction at index %d is not between 0 and 1"
                             % i)
        sizes.append(math.floor(n * frac))
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    for i, size in enumerate(sizes):
        if size == 0:
            warnings.warn("Length of split at index %d is 0. This might "
                          "result in an empty dataset." % i, stacklevel=3)
    return sizes


def random_split(dataset: Any, lengths: Sequence[float],
                 generator: np.random.Generator | None = None
                 ) -> list[Subset]:
    """Split dataset at random into non-overlapping subsets
    (torch.utils.data.random_split).

    Parameters
    ----------
    dataset : Dataset
        A map-style dataset with a length.
    lengths : sequence of int or float
        The subsets' lengths, summing to ``len(dataset)``; or fractions
        summing to 1, each subset then ``floor(len(dataset) * fraction)``
        long with the remainder added one by one from the first subset.
    generator : numpy.random.Generator, optional
        Draws the permutation; default: autodiff's default generator
        (seeded by ``ad.manual_seed``).

    Returns
    -------
    list of Subset
    """
    sizes = _split_lengths(len(dataset), lengths)
    if sum(sizes) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of "
                         "the input dataset! (lengths %s sum to %d, the "
                         "dataset has %d samples)"
                         % (list(lengths), sum(sizes), len(dataset)))
    perm = _rng(None, generator).permutation(sum(sizes)).tolist()
    return [Subset(dataset, perm[end - size:end])
            for end, size in zip(itertools.accumulate(sizes), sizes)]
