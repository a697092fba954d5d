"""Grad-mode switches: context managers that also work as decorators."""
import functools

from . import _engine


class _GradMode:
    _enabled = True

    def __enter__(self):
        self._prev = _engine.is_grad_enabled()
        _engine.set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _engine.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Run ops without recording them: results do not require grad.

    Use as ``with ad.no_grad(): ...`` or as a decorator ``@ad.no_grad()``.
    Grad mode is per thread, as in PyTorch.
    """
    _enabled = False


class enable_grad(_GradMode):
    """Turn recording back on inside a ``no_grad`` block."""
    _enabled = True


class set_grad_enabled(_GradMode):
    """Set grad mode on or off, as ``torch.set_grad_enabled``: called as a
    function it switches at once; as a context manager it switches for
    the block and restores the previous mode on exit (also on an
    exception); as a decorator it applies to each call.

    Parameters
    ----------
    mode : bool
        True to record operations, False not to.

    Raises
    ------
    TypeError
        When `mode` is not a bool.

    Examples
    --------
    >>> with ad.set_grad_enabled(False):
    ...     y = ad.ones(2, requires_grad=True) * 2
    >>> y.requires_grad, ad.is_grad_enabled()
    (False, True)
    """

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError("set_grad_enabled takes a bool, got %s"
                            % type(mode).__name__)
        self._prev = _engine.is_grad_enabled()
        self._enabled = mode
        _engine.set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _engine.set_grad_enabled(self._prev)    # decorating switches nothing
        mode = self._enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
