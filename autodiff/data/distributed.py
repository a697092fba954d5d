"""DistributedSampler (torch.utils.data.distributed): each rank of a
data-parallel job reads its own share of a dataset.

Every rank draws the same permutation -- from ``seed + epoch``, so call
``set_epoch(epoch)`` at every epoch for a new order -- pads it (or drops
its tail, ``drop_last=True``) to a multiple of the number of ranks, and
takes every ``num_replicas``-th index from its rank on: the shares are
disjoint and together cover the dataset.  The only difference from
torch's: the permutation is numpy's (``default_rng(seed + epoch)``), not
``torch.randperm``'s, so the order is not torch's (the shares, padding and
lengths are)."""
from __future__ import annotations

import math
from typing import Any, Iterator, Sized

import numpy as np

from .sampler import Sampler, _bool

__all__ = ["DistributedSampler"]


def _world(num_replicas: Any, rank: Any) -> tuple[int, int]:
    if num_replicas is None or rank is None:
        try:
            from .. import distributed as dist
            ready = dist.is_initialized()
        except ImportError:
            ready = False
        if not ready:
            raise RuntimeError(
                "Default process group has not been initialized, please make "
                "sure to call autodiff.distributed.init() (or pass "
                "num_replicas and rank)")
        if num_replicas is None:
            num_replicas = dist.world_size()
        if rank is None:
            rank = dist.rank()
    if isinstance(num_replicas, bool) or not isinstance(
            num_replicas, (int, np.integer)) or num_replicas < 1:
        raise ValueError("num_replicas should be a positive integer, got %r"
                         % (num_replicas,))
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
            or rank >= num_replicas or rank < 0:
        raise ValueError("Invalid rank %s, rank should be in the interval "
                         "[0, %d]" % (rank, num_replicas - 1))
    return int(num_replicas), int(rank)


class DistributedSampler(Sampler):
    """This rank's share of ``range(len(dataset))``.

    Parameters
    ----------
    dataset : sized
    num_replicas, rank : int, optional
        The number of ranks and this one (default: from
        :mod:`autodiff.distributed`, which must be initialized).
    shuffle : bool
        Permute (the same permutation on every rank) before sharing out.
    seed : int
        The permutation's seed, plus the epoch set by ``set_epoch``.
    drop_last : bool
        Drop the tail that does not divide evenly instead of padding with
        the first indices again.
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        self.num_replicas, self.rank = _world(num_replicas, rank)
        self.dataset = dataset
        self.epoch = 0
        self.drop_last = _bool(drop_last, "drop_last")
        self.shuffle = _bool(shuffle, "shuffle")
        self.seed = int(seed)
        n, r = len(dataset), self.num_replicas
        if self.drop_last and n % r != 0:
            self.num_samples = math.ceil((n - r) / r)
        else:
            self.num_samples = math.ceil(n / r)
        self.total_size = self.num_samples * r

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if not self.drop_last:
            pad = self.total_size - n
            if pad and n:
                order = np.concatenate([order, np.resize(order, pad)])
        else:
            order = order[:self.total_size]
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration draws (call it
        before every epoch, as with torch's DistributedSampler; the
        Trainer does).

        Parameters
        ----------
        epoch : int
        """
        self.epoch = int(epoch)
