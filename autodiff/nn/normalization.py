"""Normalization layers (torch.nn.LayerNorm, GroupNorm, RMSNorm,
BatchNorm1d, BatchNorm2d): torch's constructor arguments, attributes,
parameter and buffer names and initialisation (weight ones, bias zeros,
running_mean zeros, running_var ones, num_batches_tracked 0), so a
state_dict loads both ways.  Each calls one fused engine op
(autodiff/_norm.py, csrc/ops_norm.c)."""
import numbers

from .. import _creation, _engine, _norm
from .._device import check_device
from .._grad_mode import no_grad
from .modules import Module, Parameter

__all__ = ["LayerNorm", "GroupNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d"]


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


def _affine(module, shape, affine, bias, dtype):
    """weight (ones) and bias (zeros) of the given shape, or None as torch
    registers them when the layer has no affine part (or no bias)."""
    dt = dtype or _engine.float32
    if affine:
        module.weight = Parameter(_creation.ones(*shape, dtype=dt))
        if bias:
            module.bias = Parameter(_creation.zeros(*shape, dtype=dt))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _reset_affine(module):
    with no_grad():
        if module.weight is not None:
            module.weight.fill_(1.0)
        if getattr(module, "bias", None) is not None:
            module.bias.fill_(0.0)


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
        _affine(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self):
        _reset_affine(self)

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
        _affine(self, (num_channels,), affine, bias, dtype)

    def reset_parameters(self):
        _reset_affine(self)

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
        _reset_affine(self)

    def forward(self, x):
        return _norm.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return "%s, eps=%s, elementwise_affine=%s" % (
            self.normalized_shape, self.eps, self.elementwise_affine)


class _BatchNorm(Module):
    """torch's _BatchNorm: per-channel statistics of (N, C, *); running
    statistics as buffers updated in place by the op in training (momentum
    None: the cumulative average, 1 / num_batches_tracked, read when the op
    runs, so a compiled step updates them as an eager one)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *,
                 bias=True):
        super().__init__()
        check_device(device)
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or \
                isinstance(num_features, bool) or num_features < 1:
            raise ValueError("%s: num_features must be a positive integer, "
                             "got %r" % (name, num_features))
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = dtype or _engine.float32
        _affine(self, (num_features,), affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean",
                                 _creation.zeros(num_features, dtype=dt))
            self.register_buffer("running_var",
                                 _creation.ones(num_features, dtype=dt))
            self.register_buffer("num_batches_tracked",
                                 _creation.tensor(0, dtype=_engine.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            with no_grad():
                self.running_mean.fill_(0.0)
                self.running_var.fill_(1.0)
                self.num_batches_tracked.fill_(0)

    def reset_parameters(self):
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, x):
        raise NotImplementedError

    def forward(self, x):
        self._check_input_dim(x)
        nbt = None
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and \
                self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.copy_(self.num_batches_tracked + 1)
            if self.momentum is None:
                nbt = self.num_batches_tracked
        bn_training = self.training or (self.running_mean is None and
                                        self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return _norm._batch_norm(
            x, self.running_mean if use_running else None,
            self.running_var if use_running else None, self.weight,
            self.bias, bn_training, momentum, self.eps, nbt)

    def extra_repr(self):
        return ("%d, eps=%s, momentum=%s, affine=%s, bias=%s, "
                "track_running_stats=%s"
                % (self.num_features, self.eps, self.momentum, self.affine,
                   self.bias is not None, self.track_running_stats))


class BatchNorm1d(_BatchNorm):
    """torch.nn.BatchNorm1d: (N, C) or (N, C, L)."""

    def _check_input_dim(self, x):
        if x.ndim not in (2, 3):
            raise ValueError("expected 2D or 3D input (got %dD input)"
                             % x.ndim)


class BatchNorm2d(_BatchNorm):
    """torch.nn.BatchNorm2d: (N, C, H, W)."""

    def _check_input_dim(self, x):
        if x.ndim != 4:
            raise ValueError("expected 4D input (got %dD input)" % x.ndim)
