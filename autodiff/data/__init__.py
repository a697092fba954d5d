"""autodiff.data: datasets, samplers and the DataLoader, as
torch.utils.data (same names, signatures and defaults).

    from autodiff.data import TensorDataset, DataLoader
    loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True,
                        generator=np.random.default_rng(0))
    for xb, yb in loader:
        ...

Differences from torch: workers (``num_workers > 0``) are threads, not
processes; random samplers take a ``numpy.random.Generator`` (or None for
autodiff's default generator, seeded by ``ad.manual_seed``); datasets may
hold numpy arrays, and ``NpyDataset`` reads ``.npy`` files through memory
maps.
"""
from ._collate import default_collate, default_convert
from .dataloader import DataLoader, WorkerInfo, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,
                      NpyDataset, Subset, TensorDataset, random_split)
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler,
                      SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "NpyDataset",
           "Subset", "ConcatDataset", "ChainDataset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "default_collate", "default_convert", "DataLoader",
           "get_worker_info", "WorkerInfo", "DistributedSampler"]
