"""Normalization layers (torch.nn.LayerNorm, GroupNorm, RMSNorm): torch's
constructor arguments, attributes, parameter names and initialisation
(weight ones, bias zeros), so a state_dict loads both ways.  Each calls
one fused engine op (autodiff/_norm.py, csrc/ops_norm.c)."""
import numbers

from .. import _creation, _engine, _norm
from .._device import check_device
from .._grad_mode import no_grad
from .modules import Module, Parameter

__all__ = ["LayerNorm", "GroupNorm", "RMSNorm"]


def _normalized_shape(ns, name):
    if isinstance(ns, numbers.Integral) and not isinstance(ns, bool):
        ns = (ns,)
    try:
        t = tuple(ns)
    except TypeError:
        t = None
    if t is None or not all(isinstance(i, numbers.Integral) and
                            not isinstance(i, bool) and i >= 0 for i in t):
        raise ValueError("%s: normalized_shape must be an int or a tuple of "
                         "non-negative ints, got %r" % (name, ns))
    return tuple(int(i) for i in t)


class LayerNorm(Module):
    """torch.nn.LayerNorm: normalize over the last len(normalized_shape)
    dims; weight (ones) and bias (zeros) shaped like normalized_shape
    when elementwise_affine (bias=False: no bias)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True,
                 bias=True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self.normalized_shape = _normalized_shape(normalized_shape,
                                                  "LayerNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = dtype or _engine.float32
        if elementwise_affine:
            self.weight = Parameter(_creation.ones(*self.normalized_shape,
                                                   dtype=dt))
            if bias:
                self.bias = Parameter(_creation.zeros(*self.normalized_shape,
                                                      dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        with no_grad():
            if self.weight is not None:
                self.weight.fill_(1.0)
            if self.bias is not None:
                self.bias.fill_(0.0)

    def forward(self, x):
        return _norm.layer_norm(x, self.normalized_shape, self.weight,
                                self.bias, self.eps)

    def extra_repr(self):
        return "%s, eps=%s, elementwise_affine=%s, bias=%s" % (
            self.normalized_shape, self.eps, self.elementwise_affine,
            self.bias is not None)


class GroupNorm(Module):
    """torch.nn.GroupNorm: x (N, C, *) normalized over num_groups groups of
    channels; weight (ones) and bias (zeros, unless bias=False) per
    channel when affine."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__()
        check_device(device)
        for arg, v in (("num_groups", num_groups),
                       ("num_channels", num_channels)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) \
                    or v < 1:
                raise ValueError("GroupNorm: %s must be a positive integer, "
                                 "got %r" % (arg, v))
        if num_channels % num_groups != 0:
            raise ValueError("num_channels (%d) must be divisible by "
                             "num_groups (%d)" % (num_channels, num_groups))
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        dt = dtype or _engine.float32
        if affine:
            self.weight = Parameter(_creation.ones(num_channels, dtype=dt))
            if bias:
                self.bias = Parameter(_creation.zeros(num_channels, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        with no_grad():
            if self.weight is not None:
                self.weight.fill_(1.0)
            if self.bias is not None:
                self.bias.fill_(0.0)

    def forward(self, x):
        return _norm.group_norm(x, self.num_groups, self.weight, self.bias,
                                self.eps)

    def extra_repr(self):
        return "%d, %d, eps=%s, affine=%s, bias=%s" % (
            self.num_groups, self.num_channels, self.eps, self.affine,
            self.bias is not None)


class RMSNorm(Module):
    """torch.nn.RMSNorm: x / sqrt(mean(x^2) + eps) * weight over the last
    len(normalized_shape) dims; eps None: torch.finfo(x.dtype).eps."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True,
                 device=None, dtype=None):
        super().__init__()
        check_device(device)
        self.normalized_shape = _normalized_shape(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_creation.ones(
                *self.normalized_shape, dtype=dtype or _engine.float32))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        with no_grad():
            if self.weight is not None:
                self.weight.fill_(1.0)

    def forward(self, x):
        return _norm.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return "%s, eps=%s, elementwise_affine=%s" % (
            self.normalized_shape, self.eps, self.elementwise_affine)
