"""Samplers: the order in which a ``DataLoader`` reads a map-style dataset
(torch.utils.data.sampler).

The random samplers draw from a ``numpy.random.Generator`` given as
``generator=`` (the same kind ``ad.randn`` takes), else from autodiff's
default generator, seeded by ``ad.manual_seed``: the same seed gives the
same order.  A generator keeps its stream across epochs, so each epoch
draws a new order, as with torch's generators.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, Sequence, Sized

import numpy as np

from .._engine import Tensor
from .._random import _rng
from .._creation import tensor
from .._dtypes import float64

__all__ = ["Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value <= 0:
        raise ValueError("%s should be a positive integer value, but got "
                         "%s=%r" % (name, name, value))
    return int(value)


def _bool(value: Any, name: str, exc: type = ValueError) -> bool:
    if not isinstance(value, bool):
        raise exc("%s should be a boolean value, but got %s=%r"
                  % (name, name, value))
    return value


def _check_generator(generator: Any) -> None:
    """A TypeError now for a generator _rng would refuse at iteration."""
    if generator is not None and \
            not isinstance(generator, np.random.Generator):
        raise TypeError("generator must be a numpy.random.Generator, got %s"
                        % type(generator).__name__)


class Sampler:
    """The base of samplers: an iterable of dataset indices (or of lists
    of them, for a batch sampler).  Subclasses define ``__iter__`` and,
    when they know it, ``__len__``.

    Parameters
    ----------
    data_source : Sized, optional
        Unused (torch keeps the argument for compatibility).
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """The indices 0, 1, ..., len(data_source) - 1 in order.

    Parameters
    ----------
    data_source : Sized
        The dataset (its length is read at each iteration).
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in a random order: a permutation of the dataset per pass
    without replacement, independent uniform draws with it.

    Parameters
    ----------
    data_source : Sized
        The dataset.
    replacement : bool, default False
        Draw each index independently (an index may repeat).
    num_samples : int, optional
        How many indices an iteration yields; default ``len(data_source)``.
        Without replacement, more than that chains several permutations.
    generator : numpy.random.Generator, optional
        The random stream; default: autodiff's default generator.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = _bool(replacement, "replacement", TypeError)
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None:
            _positive_int(num_samples, "num_samples")
        _check_generator(generator)

    @property
    def num_samples(self) -> int:
        """The number of indices per iteration."""
        if self._num_samples is None:
            return len(self.data_source)
        return int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        rng = _rng(None, self.generator)
        k = self.num_samples
        if self.replacement:
            yield from rng.integers(0, n, size=k).tolist()
            return
        for _ in range(k // n):
            yield from rng.permutation(n).tolist()
        if k % n:
            yield from rng.permutation(n)[:k % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (without replacement).

    Parameters
    ----------
    indices : sequence of int
        The indices to draw from.
    generator : numpy.random.Generator, optional
        The random stream; default: autodiff's default generator.
    """

    def __init__(self, indices: Sequence[int],
                 generator: np.random.Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator
        _check_generator(generator)

    def __iter__(self) -> Iterator[int]:
        for i in _rng(None, self.generator).permutation(
                len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices 0..len(weights)-1 drawn with probabilities proportional to
    weights (torch.multinomial's sampling).

    Parameters
    ----------
    weights : sequence of float
        Non-negative, finite, not all zero; need not sum to one.
    num_samples : int
        How many indices an iteration yields.
    replacement : bool, default True
        Without replacement an index is drawn at most once per iteration
        (num_samples must not exceed the number of non-zero weights).
    generator : numpy.random.Generator, optional
        The random stream; default: autodiff's default generator.
    """

    def __init__(self, weights: Sequence[float] | Any, num_samples: int,
                 replacement: bool = True,
                 generator: np.random.Generator | None = None) -> None:
        num_samples = _positive_int(num_samples, "num_samples")
        _bool(replacement, "replacement")
        w = np.array(weights.numpy() if isinstance(weights, Tensor)
                     else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError("weights should be a 1d sequence but given "
                             "weights have shape %s" % (w.shape,))
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ValueError("weights must be finite and non-negative, got "
                             "%r at index %d" % (float(w[bad[0]]), bad[0]))
        nonzero = int(np.count_nonzero(w))
        if nonzero == 0:
            raise ValueError("weights sum to zero: no index can be drawn")
        if not replacement and num_samples > nonzero:
            raise ValueError("cannot draw num_samples=%d indices without "
                             "replacement from %d non-zero weights"
                             % (num_samples, nonzero))
        _check_generator(generator)
        self._p = w / w.sum()
        self.weights = tensor(w, dtype=float64)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = _rng(None, self.generator)
        yield from rng.choice(self._p.size, size=self.num_samples,
                              replace=self.replacement, p=self._p).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from another sampler.

    Parameters
    ----------
    sampler : Sampler or iterable of int
        The indices, in order.
    batch_size : int
        A positive batch size.
    drop_last : bool
        Drop the last batch when it is shorter than batch_size.
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = _bool(drop_last, "drop_last")
        self.sampler = sampler

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and
                             len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)       # type: ignore[arg-type]
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size
