"""Random numbers: the default numpy generator, seeding it together with
the engine's own stream, random tensors, and dropout.

Two generators serve autodiff: a numpy ``Generator`` here (randn, rand,
the initialisers of ``nn.init``) and the engine's counter-based stream in
C (dropout masks, drawn again by every compiled replay), reached through
``_engine._rng_manual_seed`` / ``_rng_state_get`` / ``_rng_state_set``.
"""
from __future__ import annotations

import hashlib
import warnings
from typing import TYPE_CHECKING, Any, Literal, Sequence, overload

import numpy as np

from ._capture import NotCompilableError
from ._creation import _shape_args, tensor
from ._device import check_device
from ._dtypes import float32, int64
from ._engine import (Tensor, _dropout, _rng_manual_seed, _rng_state_get,
                      _rng_state_set, _t, is_capturing)

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._engine import _Int, _Seed, _TensorLike

__all__ = ["manual_seed", "seeded", "get_rng_state", "set_rng_state",
           "randn", "rand", "randn_like", "rand_like", "randint", "randperm",
           "normal", "dropout", "dropout1d", "dropout2d"]

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
    """Seed the generators used when no seed or generator is given: the numpy
    one (randn, rand, randint, the initialisers) and the engine's own stream
    (dropout masks, drawn again at every compiled replay) (torch.manual_seed).

    Parameters
    ----------
    seed : int or numpy.random.Generator
        The seed.

    Returns
    -------
    numpy.random.Generator
        The new default numpy generator.

    Examples
    --------
    >>> _ = ad.manual_seed(1)
    >>> a = ad.randn(3)
    >>> _ = ad.manual_seed(1)
    >>> ad.equal(a, ad.randn(3))
    True
    """
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
    """Restore the engine stream's state returned by
    :func:`get_rng_state <autodiff.get_rng_state>`, so that dropout draws the
    same masks again.

    Parameters
    ----------
    state : array of 2 ints
        ``[seed, offset]``.

    Raises
    ------
    ValueError
        When `state` is not an integer array of shape (2,).

    Examples
    --------
    >>> st = ad.get_rng_state()
    >>> a = nn.functional.dropout(ad.ones(6), 0.5)
    >>> ad.set_rng_state(st)
    >>> ad.equal(a, nn.functional.dropout(ad.ones(6), 0.5))
    True
    """
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
    if is_capturing() and (seed is None or generator is not None or
                           isinstance(seed, np.random.Generator)):
        # the numbers are drawn in Python now: a replay would repeat them
        raise NotCompilableError(
            "random tensors (randn, rand, randint, randperm, normal...) are "
            "drawn by numpy in Python, so a compiled replay would repeat the "
            "first call's numbers; draw them outside the compiled function "
            "and pass them in, or give a fixed seed= (the same numbers at "
            "every call, eager or compiled)")
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
          requires_grad: bool = False, device: Any = None) -> Tensor: ...
@overload
def randn(*shape: _Int, seed: _Seed = None,
          generator: np.random.Generator | None = None,
          dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor: ...
def randn(*shape: Any, seed: _Seed = None,
          generator: np.random.Generator | None = None,
          dtype: npt.DTypeLike | None = None,
          requires_grad: bool = False, device: Any = None) -> Tensor:
    """Samples of the standard normal distribution (torch.randn).

    Without `seed` and `generator` the numbers come from the default numpy
    generator (seeded by :func:`autodiff.manual_seed`).  They are drawn in
    Python, so inside ``ad.compile`` only a fixed `seed` is accepted
    (NotCompilableError otherwise): a replay would repeat them.

    Parameters
    ----------
    *shape : int or sequence of ints
        The shape, as separate ints or one sequence.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).
    dtype : dtype, optional
        float32 by default.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.

    Examples
    --------
    >>> ad.randn(2, 3, seed=0).shape
    (2, 3)
    """
    check_device(device)
    arr = _rng(seed, generator).standard_normal(_shape_args(shape))
    return tensor(arr, dtype=dtype or float32, requires_grad=requires_grad)


@overload
def rand(shape: Sequence[_Int], /, *, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor: ...
@overload
def rand(*shape: _Int, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor: ...
def rand(*shape: Any, seed: _Seed = None,
         generator: np.random.Generator | None = None,
         dtype: npt.DTypeLike | None = None,
         requires_grad: bool = False, device: Any = None) -> Tensor:
    """Samples of the uniform distribution on [0, 1) (torch.rand).

    Without `seed` and `generator` the numbers come from the default numpy
    generator (seeded by :func:`autodiff.manual_seed`).  They are drawn in
    Python, so inside ``ad.compile`` only a fixed `seed` is accepted
    (NotCompilableError otherwise): a replay would repeat them.

    Parameters
    ----------
    *shape : int or sequence of ints
        The shape, as separate ints or one sequence.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).
    dtype : dtype, optional
        float32 by default.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.

    Examples
    --------
    >>> x = ad.rand(100, seed=0)
    >>> bool((x >= 0).all()), bool((x < 1).all())
    (True, True)
    """
    check_device(device)
    arr = _rng(seed, generator).random(_shape_args(shape))
    return tensor(arr, dtype=dtype or float32, requires_grad=requires_grad)


def _like(x: _TensorLike, dtype: npt.DTypeLike | None) -> Any:
    """x's shape and (unless given) dtype, for the *_like samplers."""
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    if dtype is None and isinstance(x, Tensor):
        dtype = x.dtype
    return shape, dtype


def randn_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
               requires_grad: bool = False, *, seed: _Seed = None,
               generator: np.random.Generator | None = None,
               device: Any = None) -> Tensor:
    """Standard normal samples in the shape (and dtype) of `x`
    (torch.randn_like); see :func:`randn`.

    Parameters
    ----------
    x : Tensor or array
        Its shape (and, for a tensor without `dtype`, its dtype) is taken.
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.
    """
    shape, dtype = _like(x, dtype)
    return randn(shape, seed=seed, generator=generator, dtype=dtype,
                 requires_grad=requires_grad, device=device)


def rand_like(x: _TensorLike, dtype: npt.DTypeLike | None = None,
              requires_grad: bool = False, *, seed: _Seed = None,
              generator: np.random.Generator | None = None,
              device: Any = None) -> Tensor:
    """Uniform samples on [0, 1) in the shape (and dtype) of `x`
    (torch.rand_like); see :func:`rand`.

    Parameters
    ----------
    x : Tensor or array
        Its shape (and, for a tensor without `dtype`, its dtype) is taken.
    dtype : dtype, optional
        Overrides the dtype of `x`.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.
    """
    shape, dtype = _like(x, dtype)
    return rand(shape, seed=seed, generator=generator, dtype=dtype,
                requires_grad=requires_grad, device=device)


def randint(low: int, high: int | None = None,
            size: Sequence[_Int] | None = None, *, seed: _Seed = None,
            generator: np.random.Generator | None = None,
            dtype: npt.DTypeLike | None = None,
            requires_grad: bool = False, device: Any = None) -> Tensor:
    """Random integers in [low, high) (torch.randint): ``randint(high, size)``
    or ``randint(low, high, size)``.

    Without `seed` and `generator` the numbers come from the default numpy
    generator (seeded by :func:`autodiff.manual_seed`).  They are drawn in
    Python, so inside ``ad.compile`` only a fixed `seed` is accepted
    (NotCompilableError otherwise): a replay would repeat them.

    Parameters
    ----------
    low : int
        The lowest value (or, with two arguments, `high`).
    high : int, optional
        One above the highest value.
    size : sequence of ints
        The shape.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).
    dtype : dtype, optional
        int64 by default.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.
        Also when `size` is missing.
    RuntimeError
        When high <= low.

    Examples
    --------
    >>> x = ad.randint(3, 7, (100,), seed=0)
    >>> x.dtype, int(x.min()) >= 3, int(x.max()) < 7
    (dtype('int64'), True, True)
    """
    check_device(device)
    if high is None:
        if size is None:
            raise TypeError("randint() needs high and size: randint(high, "
                            "size) or randint(low, high, size)")
        low, high = 0, low
    if size is None:
        if isinstance(high, (tuple, list)):       # randint(high, size)
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing the size argument")
    if high <= low:
        raise RuntimeError("random_ expects 'from' to be less than 'to', "
                           "but got from=%d >= to=%d" % (low, high))
    arr = _rng(seed, generator).integers(low, high, size=tuple(size),
                                         dtype=np.int64)
    return tensor(arr, dtype=dtype or int64, requires_grad=requires_grad)


def randperm(n: int, *, seed: _Seed = None,
             generator: np.random.Generator | None = None,
             dtype: npt.DTypeLike | None = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    """A random permutation of 0, ..., n - 1 (torch.randperm).

    Without `seed` and `generator` the numbers come from the default numpy
    generator (seeded by :func:`autodiff.manual_seed`).  They are drawn in
    Python, so inside ``ad.compile`` only a fixed `seed` is accepted
    (NotCompilableError otherwise): a replay would repeat them.

    Parameters
    ----------
    n : int
        The length.
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).
    dtype : dtype, optional
        int64 by default.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
        1-D.
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.

    Examples
    --------
    >>> sorted(ad.randperm(5, seed=0).tolist())
    [0, 1, 2, 3, 4]
    """
    check_device(device)
    arr = _rng(seed, generator).permutation(int(n)).astype(np.int64)
    return tensor(arr, dtype=dtype or int64, requires_grad=requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0,
           size: Sequence[_Int] | None = None, *, seed: _Seed = None,
           generator: np.random.Generator | None = None,
           dtype: npt.DTypeLike | None = None,
           requires_grad: bool = False, device: Any = None) -> Tensor:
    """Samples of normal distributions with the given means and standard
    deviations (torch.normal).

    Not differentiable in `mean` and `std`, unlike torch.normal's
    reparametrised gradient: write ``mean + std * ad.randn(...)`` for
    that.

    Without `seed` and `generator` the numbers come from the default numpy
    generator (seeded by :func:`autodiff.manual_seed`).  They are drawn in
    Python, so inside ``ad.compile`` only a fixed `seed` is accepted
    (NotCompilableError otherwise): a replay would repeat them.

    Parameters
    ----------
    mean, std : number, array or Tensor
        They broadcast; std >= 0.
    size : sequence of ints, optional
        The shape when both are numbers (else their broadcast shape).
    seed : int or numpy.random.Generator, optional (keyword only)
        Draw from a new generator seeded with it (the same numbers at every
        call), or from that generator.
    generator : numpy.random.Generator, optional (keyword only)
        Draw from it (advancing it).
    dtype : dtype, optional
        The dtype of a tensor `mean` (else `std`), else float32.
    requires_grad : bool, default False
        Make the result a leaf that requires grad (float dtypes only).
    device : str or device, optional
        "cpu" or None.

    Returns
    -------
    Tensor
    Raises
    ------
    NotCompilableError
        While ad.compile records, unless a fixed int `seed` is given.
    TypeError
        When `generator` is not a numpy Generator, or for an unsupported
        dtype.
    RuntimeError
        For a device other than the CPU.
    RuntimeError
        When a std is negative.

    Examples
    --------
    >>> ad.normal(ad.zeros(2, 2), 1.0, seed=0).shape
    (2, 2)
    """
    check_device(device)
    m = mean.numpy() if isinstance(mean, Tensor) else np.asarray(mean)
    sd = std.numpy() if isinstance(std, Tensor) else np.asarray(std)
    if np.any(sd < 0):
        raise RuntimeError("normal expects std >= 0.0, got %r"
                           % (sd.min(),))
    shape = tuple(size) if size is not None else np.broadcast_shapes(
        m.shape, sd.shape)
    z = _rng(seed, generator).standard_normal(shape)
    if dtype is None:
        dtype = mean.dtype if isinstance(mean, Tensor) else (
            std.dtype if isinstance(std, Tensor) else float32)
    return tensor(m + sd * z, dtype=dtype, requires_grad=requires_grad)


def dropout(x: _TensorLike, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the others by
    1 / (1 - p) (torch.nn.functional.dropout); the input itself when not
    training or p is 0.

    Without a generator the mask comes from the engine's stream (seeded by
    :func:`autodiff.manual_seed`), so compiled replays draw fresh masks; a
    numpy generator draws it in Python, which a compiled step cannot replay.

    Parameters
    ----------
    x : Tensor or array
        The input.
    p : float, default 0.5
        The probability of zeroing an element, in [0, 1].
    training : bool, default True
        Apply dropout (False: return `x`).
    generator : numpy.random.Generator, optional
        Draw the mask from it.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When `p` is not a number.
    ValueError
        When `p` is outside [0, 1].
    NotCompilableError
        With a generator while ad.compile records.

    Shape
    -----
    - Input: ``(*)``, any shape.
    - Output: ``(*)``, the same shape.

    Examples
    --------
    >>> y = nn.functional.dropout(ad.ones(1000), 0.5)
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    """
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


def _feature_dropout(x: _TensorLike, p: float, training: bool,
                     inplace: bool, generator: np.random.Generator | None,
                     fn: str) -> Tensor:
    """Zero whole channels x[n, c] with probability p and scale the rest
    by 1/(1-p) (torch's feature_dropout): the mask (N, C, 1, ...) is
    dropout of ones (the engine's stream, so compiled replays draw fresh
    ones), broadcast over the remaining dims."""
    t = x if isinstance(x, Tensor) else _t(x)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer,
                                                 np.floating)):
        raise TypeError("dropout probability must be a number, got %r"
                        % (p,))
    if not 0.0 <= p <= 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, "
                         "but got %r" % (p,))
    if t.ndim < 2:
        raise ValueError("%s: expected an input with a channel dim (N, C, "
                         "*), got shape %s" % (fn, list(t.shape)))
    if not training or p == 0.0:
        return t
    shape = tuple(t.shape[:2]) + (1,) * (t.ndim - 2)
    if p == 1.0:
        out = t * 0.0
    else:
        ones = tensor(np.ones(shape), dtype=t.dtype)
        out = t * dropout(ones, p, True, generator)
    if inplace:
        t.copy_(out)
        return t
    return out


def dropout2d(x: _TensorLike, p: float = 0.5, training: bool = True,
              inplace: bool = False,
              generator: np.random.Generator | None = None) -> Tensor:
    """Zero whole channels ``x[n, c]`` with probability p and scale the others
    by 1 / (1 - p) (torch.nn.functional.dropout2d).  As torch, a 3-D input
    is taken as (N, C, L) with a warning, and dimensions other than 3 or 4
    warn.

    Parameters
    ----------
    x : Tensor or array
        The input.
    p : float, default 0.5
        The probability of zeroing a channel, in [0, 1].
    training : bool, default True
        Apply dropout (False: return `x`).
    inplace : bool, default False
        Write the result into `x` and return it.
    generator : numpy.random.Generator, optional
        Draw the mask from it instead of the engine's stream.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When `p` is not a number.
    ValueError
        When `p` is outside [0, 1] or the input has fewer than 2 dimensions.

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(N, C, L)``.
    - Output: the same shape.

    Examples
    --------
    >>> y = nn.functional.dropout2d(ad.ones(2, 6, 3, 3), 0.5).numpy()
    >>> bool((y.reshape(12, 9).std(axis=1) == 0).all())
    True
    """
    t = x if isinstance(x, Tensor) else _t(x)
    if t.ndim not in (3, 4):
        warnings.warn("dropout2d: Received a %d-D input to dropout2d, which "
                      "is deprecated and will result in an error in a future "
                      "release. To retain the behavior and silence this "
                      "warning, please use dropout instead." % t.ndim,
                      stacklevel=2)
    if t.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and "
                      "assuming that channel-wise 1D dropout behavior is "
                      "desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim.", stacklevel=2)
    return _feature_dropout(t, p, training, inplace, generator, "dropout2d")


def dropout1d(x: _TensorLike, p: float = 0.5, training: bool = True,
              inplace: bool = False,
              generator: np.random.Generator | None = None) -> Tensor:
    """Zero whole channels ``x[n, c]`` of ``(N, C, L)`` or ``(C, L)`` inputs
    with probability p and scale the others by 1 / (1 - p)
    (torch.nn.functional.dropout1d).

    Parameters
    ----------
    x : Tensor or array
        The input.
    p : float, default 0.5
        The probability of zeroing a channel, in [0, 1].
    training : bool, default True
        Apply dropout (False: return `x`).
    inplace : bool, default False
        Write the result into `x` and return it.
    generator : numpy.random.Generator, optional
        Draw the mask from it instead of the engine's stream.

    Returns
    -------
    Tensor

    Raises
    ------
    TypeError
        When `p` is not a number.
    ValueError
        When `p` is outside [0, 1] or the input is not 2-D or 3-D.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: the same shape.
    """
    t = x if isinstance(x, Tensor) else _t(x)
    if t.ndim not in (2, 3):
        raise ValueError("dropout1d: Expected 2D or 3D input, but received a "
                         "%dD input. Note that dropout1d exists to provide "
                         "channel-wise dropout on inputs with 1 spatial "
                         "dimension, a channel dimension, and an optional "
                         "batch dimension (i.e. 2D or 3D inputs)." % t.ndim)
    if t.ndim == 2:
        out = _feature_dropout(t.reshape((1,) + tuple(t.shape)), p, training,
                               False, generator, "dropout1d")
        out = out.reshape(t.shape)
        if inplace and training:
            t.copy_(out)
            return t
        return out
    return _feature_dropout(t, p, training, inplace, generator, "dropout1d")
