"""default_collate and default_convert: samples into batches of tensors,
by torch's rules (torch.utils.data._utils.collate).

Dtypes follow ``ad.tensor``'s rule, which is torch's where autodiff has
the dtype: numpy float64 and float32 keep theirs, Python floats make
float64 (as torch's collate), integers int64, bools bool.  autodiff has
no int32, uint8 or float16: numpy arrays of those make int64, int64 and
float32 tensors.
"""
from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any, Callable, Sequence

import numpy as np

from .._creation import tensor
from .._dtypes import float64
from .._engine import Tensor
from .._ops import stack

__all__ = ["default_collate", "default_convert"]

_STR_OBJ = re.compile(r"[SaUO]")
_ERR = ("default_collate: batch must contain tensors, numpy arrays, "
        "numbers, dicts or lists; found {}")


def _stack_arrays(batch: Sequence[np.ndarray]) -> Tensor:
    elem = batch[0]
    if _STR_OBJ.search(elem.dtype.str) is not None:
        raise TypeError(_ERR.format(elem.dtype))
    for i, a in enumerate(batch):
        if a.shape != elem.shape:
            raise ValueError("default_collate: stack expects arrays of "
                             "equal shape, got %s (sample 0) and %s (sample "
                             "%d)" % (elem.shape, a.shape, i))
    return tensor(np.stack(batch))


def _map_like(elem: Any, items: dict[Any, Any]) -> Any:
    """A mapping of elem's type holding items (a plain dict if that type
    cannot be built from one), as torch's collate."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(items)
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def _seq_like(elem: Any, items: list[Any]) -> Any:
    """A sequence of elem's type holding items (a list if that type cannot
    be built from one), as torch's collate."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(items):
                clone[i] = v
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch (torch's default_collate).

    Parameters
    ----------
    batch : sequence
        The samples, all of the same structure.  By the type of the first:
        tensors stack into a tensor with a new first dimension; numpy
        arrays and numpy scalars likewise (as ``ad.tensor`` of the stacked
        array); Python floats make a float64 tensor, ints an int64 one,
        bools a bool one; strings and bytes stay a list; mappings,
        namedtuples and sequences are collated field by field (a tuple
        becomes a list, as in torch).

    Returns
    -------
    The batch: a tensor, or the samples' structure holding tensors.

    Raises
    ------
    TypeError
        For samples of another type, or numpy arrays of strings or objects.
    ValueError, RuntimeError
        For tensors or arrays of different shapes (ValueError), sequences
        of different lengths (RuntimeError, as torch).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        return _stack_arrays(batch)
    if isinstance(elem, (np.bool_, np.number)):
        return tensor(np.array(batch))
    if isinstance(elem, float):
        return tensor(list(batch), dtype=float64)
    if isinstance(elem, int):
        return tensor(list(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _map_like(elem, {key: default_collate([d[key] for d in batch])
                                for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):   # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of "
                               "equal size")
        cols = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return cols
        return _seq_like(elem, cols)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Turn numpy arrays and scalars in a sample into tensors, leaving
    the rest as it is (torch's default_convert; the ``DataLoader``'s
    collate function when ``batch_size=None``).

    Parameters
    ----------
    data : Any
        One sample: a numpy array or scalar (made a tensor unless it holds
        strings or objects), a mapping, namedtuple or sequence (converted
        item by item; a tuple becomes a list, as torch), anything else
        (returned as it is).
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if _STR_OBJ.search(data.dtype.str) is not None:
            return data
        return tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _map_like(data, {key: default_convert(data[key])
                                for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and \
            not isinstance(data, (str, bytes)):
        return _seq_like(data, [default_convert(d) for d in data])
    return data


CollateFn = Callable[[Any], Any]
