"""Gradient clipping and flat parameter vectors (torch.nn.utils).

The clipping functions are one C pass over all gradients (the optimizers'
fused-update machinery with a clipping kind), so they run inside an
``ad.compile``d step and replay bit for bit: the total norm is computed
again from the gradients of each replay."""
import types
import warnings

from .. import _creation
from .. import _engine
from .._engine import Tensor
from .._grad_mode import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def _tensors(parameters, what="parameters"):
    """parameters (a Tensor or an iterable of them) as a list."""
    if isinstance(parameters, Tensor):
        return [parameters]
    ps = list(parameters)
    for i, p in enumerate(ps):
        if not isinstance(p, Tensor):
            raise TypeError("%s[%d] is a %s, not a Tensor"
                            % (what, i, type(p).__name__))
    return ps


def _clip(params, kind, **cfg):
    k = _engine.FusedUpdate(params, [None] * (3 * len(params)),
                            [0] * len(params))
    k.configure(kind, 0.0, **cfg)
    _engine._step_all([k])


def clip_grad_norm_(parameters, max_norm, norm_type=2.0,
                    error_if_nonfinite=False, foreach=None):
    """Scale the gradients of parameters in place so that their total norm
    is at most max_norm, as torch.nn.utils.clip_grad_norm_.

    The total norm is the norm of order norm_type of the vector of each
    gradient's norm (gradients that are None are skipped); each gradient is
    multiplied by ``min(max_norm / (total + 1e-6), 1)``.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensors
        Tensors whose ``.grad`` is clipped.
    max_norm : float
        Largest allowed total norm.
    norm_type : float
        Order of the norm: any real number, ``inf`` or ``-inf`` (0 counts
        nonzero elements).
    error_if_nonfinite : bool
        Raise RuntimeError (changing nothing) when the total norm is NaN or
        infinite; otherwise the gradients are scaled by it anyway.
    foreach : bool or None
        torch's implementation switch; accepted (one fused C pass runs).

    Returns
    -------
    Tensor
        The total norm (0-d; float64 if any gradient is, else float32; 0
        when no parameter has a gradient).
    """
    is_generator = isinstance(parameters, types.GeneratorType)
    params = _tensors(parameters)
    if is_generator and not params:
        warnings.warn("`parameters` is an empty generator, no gradient "
                      "clipping will occur.", stacklevel=2)
    max_norm, norm_type = float(max_norm), float(norm_type)
    f64 = any(p.grad is not None and p.grad.dtype == "float64"
              for p in params)
    total = _creation.zeros((), dtype="float64" if f64 else "float32")
    _clip(params, _engine.OPT_CLIP_NORM, clip=max_norm, norm_type=norm_type,
          error_if_nonfinite=bool(error_if_nonfinite), total=total)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of parameters into [-clip_value, clip_value] in
    place, as torch.nn.utils.clip_grad_value_ (NaN stays NaN).

    Parameters
    ----------
    parameters : Tensor or iterable of Tensors
        Tensors whose ``.grad`` is clipped (None gradients are skipped).
    clip_value : float
        Bound of the gradients' values.
    foreach : bool or None
        torch's implementation switch; accepted.
    """
    params = _tensors(parameters)
    _clip(params, _engine.OPT_CLIP_VALUE, clip=float(clip_value))


def parameters_to_vector(parameters):
    """Flatten parameters into one 1-D tensor (their concatenation, a
    recorded op: gradients flow back to the parameters), as
    torch.nn.utils.parameters_to_vector.

    Parameters
    ----------
    parameters : iterable of Tensors
        The tensors, in order.

    Returns
    -------
    Tensor
        A new 1-D tensor of their elements.
    """
    params = _tensors(parameters)
    if not params:
        raise ValueError("parameters_to_vector needs at least one parameter")
    return _engine.cat([p.reshape(-1) for p in params])


def _typename(x):
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else \
        "%s.%s" % (t.__module__, t.__qualname__)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of vec into parameters (in place, without
    recording), as torch.nn.utils.vector_to_parameters.

    torch rebinds each parameter's ``.data`` to a view of vec; autodiff
    copies the values in, so later writes to vec do not reach the
    parameters.

    Parameters
    ----------
    vec : Tensor
        A 1-D tensor with at least as many elements as the parameters
        together, of their dtype.
    parameters : iterable of Tensors
        The tensors to overwrite, in order.
    """
    if not isinstance(vec, Tensor):
        raise TypeError("expected torch.Tensor, but got: %s" % _typename(vec))
    params = _tensors(parameters)
    need = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() < need:
        raise ValueError("vector_to_parameters: vec of shape %s cannot fill "
                         "parameters of %d elements"
                         % (tuple(vec.shape), need))
    for i, p in enumerate(params):
        if p.dtype != vec.dtype:
            raise TypeError("vector_to_parameters: vec is %s but parameter "
                            "%d is %s" % (vec.dtype, i, p.dtype))
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(p.shape))
            offset += n
