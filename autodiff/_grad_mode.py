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
