"""Random numbers: the default numpy generator, seeding it together with
the engine's own stream, random tensors, and dropout.

Two generators serve autodiff: a numpy ``Generator`` here (randn, rand,
the initialisers of ``nn.init``) and the engine's counter-based stream in
C (dropout masks, drawn again by every compiled replay), reached through
``_engine._rng_manual_seed`` / ``_rng_state_get`` / ``_rng_state_set``.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal, Sequence, overload

import numpy as np

from ._capture import NotCompilableError
from ._creation import _shape_args, tensor
from ._dtypes import float32
from ._engine import (Tensor, _dropout, _rng_manual_seed, _rng_state_get,
                      _rng_state_set, _t, is_capturing)

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import _Int, _Seed, _TensorLike

__all__ = ["manual_seed", "seeded", "get_rng_state", "set_rng_state",
           "randn", "rand", "dropout"]

_default_rng = np.random.default_rng()


def _plain_seed(seed: Any) -> Any:
    # numpy's SeedSequence recurses without end on an np.matrix (its rows
    # are matrices again) until the C stack overflows: a segfault.  Pass
    # any ndarray subclass on as a plain ndarray.
    if isinstance(seed, np.ndarray) and type(seed) is not np.ndarray:
        return seed.view(np.ndarray)
    return seed


def _seed_key(seed: Any) -> int:
    """The engine stream's 64-bit seed for a seed argument."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    if isinstance(seed, np.random.Generator):
        # from its state, without drawing from it (a Generator passed to
        # several fit() calls keeps one shuffling stream)
        return int.from_bytes(hashlib.blake2b(
            repr(seed.bit_generator.state).encode(), digest_size=8).digest(),
            "little")
    if seed is None:
        entropy: Any = np.random.SeedSequence().entropy     # an int
        return int(entropy) & 0xFFFFFFFFFFFFFFFF
    return int(np.random.SeedSequence(
        _plain_seed(seed)).generate_state(2, np.uint64)[0])


def manual_seed(seed: _Seed) -> np.random.Generator:
    """Seed the generators used when no seed or generator is given: the
    numpy one (randn, rand, initialisers) and the engine's own stream
    (dropout masks, drawn again by every compiled replay)."""
    global _default_rng
    _default_rng = np.random.default_rng(_plain_seed(seed))
    _rng_manual_seed(_seed_key(seed) & 0xFFFFFFFFFFFFFFFF)
    return _default_rng


class seeded:
    """``with seeded(seed) as rng:`` -- the default numpy generator and the
    engine's stream seeded for the block (rng is the numpy one), the
    caller's generators restored after it (also on an exception)."""

    def __init__(self, seed: _Seed) -> None:
        self.seed = seed

    def __enter__(self) -> np.random.Generator:
        self._saved = _default_rng, get_rng_state()
        return manual_seed(self.seed)

    def __exit__(self, *exc: object) -> Literal[False]:
        global _default_rng
        _default_rng = self._saved[0]
        set_rng_state(self._saved[1])
        return False


def get_rng_state() -> npt.NDArray[np.uint64]:
    """The engine stream's state as a uint64 array [seed, offset] (pass
    it to set_rng_state to draw the same numbers again)."""
    return np.array(_rng_state_get(), dtype=np.uint64)


def set_rng_state(state: npt.ArrayLike) -> None:
    st = np.asarray(state)
    if st.shape != (2,) or st.dtype.kind not in "iu":
        raise ValueError("an rng state is an integer array [seed, offset], "
                         "got %r" % (state,))
    st = st.astype(np.uint64)
    _rng_state_set(int(st[0]), int(st[1]))


def _rng(seed: _Seed,
         generator: np.random.Generator | None) -> np.random.Generator:
    """The numpy generator to draw from: generator, else a new one seeded
    by seed (or seed itself when it is a Generator), else the default."""
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise TypeError("generator must be a numpy.random.Generator, got "
                            "%s" % type(generator).__name__)
        return generator
    if seed is not None:
        if isinstance(seed, np.random.Generator):
            return seed
        return np.random.default_rng(_plain_seed(seed))
    return _default_rng


@overload
def randn(shape: Sequence[_Int], /, *, seed: _Seed = None,
          generator: np.random.Generator | None = None,
          dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False) -> Tensor: ...
@overload
def randn(*shape: _Int, seed: _Seed = None,
          generator: np.random.Generator | None = None,
          dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False) -> Tensor: ...
def randn(*shape: Any, seed: _Seed = None,
          generator: np.random.Generator | None = None,
          dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples; seed (an int or Generator) or generator
    make them reproducible."""
    arr = _rng(seed, generator).standard_normal(_shape_args(shape))
    return tensor(arr, dtype=dtype or float32, requires_grad=requires_grad)


@overload
def rand(shape: Sequence[_Int], /, *, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False) -> Tensor: ...
@overload
def rand(*shape: _Int, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False) -> Tensor: ...
def rand(*shape: Any, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    arr = _rng(seed, generator).random(_shape_args(shape))
    return tensor(arr, dtype=dtype or float32, requires_grad=requires_grad)


def dropout(x: _TensorLike, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by
    1/(1-p) (torch.nn.functional.dropout).  Without a generator the mask
    comes from the engine's stream (ad.manual_seed), so compiled replays
    draw fresh ones; a numpy generator draws it in Python, which a
    compiled step cannot replay (NotCompilableError while recording)."""
    t = x if isinstance(x, Tensor) else _t(x)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer,
                                                 np.floating)):
        raise TypeError("dropout probability must be a number, got %r"
                        % (p,))
    if not 0.0 <= p <= 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, "
                         "but got %r" % (p,))
    if not training or p == 0.0:
        return t
    if p == 1.0:
        return t * 0.0
    if generator is not None:
        if is_capturing():
            raise NotCompilableError(
                "dropout with a numpy generator draws its mask in Python, "
                "which a compiled replay would freeze; use the engine's "
                "stream (generator=None, seeded by ad.manual_seed)")
        keep = _rng(None, generator).random(t.shape) >= p
        return t * (tensor(keep, dtype=t.dtype) * (1.0 / (1.0 - p)))
    return _dropout(t, float(p))
