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
    """Layer normalization over the last ``len(normalized_shape)``
    dimensions (torch.nn.LayerNorm): ``(x - mean) / sqrt(var + eps) *
    weight + bias`` with the biased variance.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
        The trailing shape normalized.
    eps : float, default 1e-5
        Added to the variance.
    elementwise_affine : bool, default True
        Learnable weight (ones) and bias (zeros) of normalized_shape.
    bias : bool, default True
        With elementwise_affine, whether there is a bias.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).

    Raises
    ------
    ValueError
        For a bad normalized_shape, or (calling it) an input whose trailing
        shape differs.
    TypeError
        (calling it) when the input's dtype differs from the parameters'
        (as torch).

    Shape
    -----
    - Input: ``(*, normalized_shape)``.
    - Output: the same shape.

    Examples
    --------
    >>> y = nn.LayerNorm(4)(ad.tensor([[1.0, 2.0, 3.0, 4.0]]))
    >>> round(float(y.mean()), 6), y.shape
    (0.0, (1, 4))
    """

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
        """Set the weight to ones and the bias to zeros."""
        _reset_affine(self)

    def forward(self, x):
        return _norm.layer_norm(x, self.normalized_shape, self.weight,
                                self.bias, self.eps)

    def extra_repr(self):
        return "%s, eps=%s, elementwise_affine=%s, bias=%s" % (
            self.normalized_shape, self.eps, self.elementwise_affine,
            self.bias is not None)


class GroupNorm(Module):
    """Group normalization (torch.nn.GroupNorm): the channels are split into
    num_groups groups, each normalized over its channels and the spatial
    dimensions; weight and bias per channel.

    Parameters
    ----------
    num_groups : int
        Divides num_channels.
    num_channels : int
        C.
    eps : float, default 1e-5
    affine : bool, default True
        Learnable weight (ones) and bias (zeros) per channel.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    bias : bool, default True (keyword only)
        With affine, whether there is a bias.

    Raises
    ------
    ValueError
        For non-positive sizes, or num_channels not divisible by num_groups.
    TypeError
        (calling it) when the input's dtype differs from the parameters'
        (as torch).

    Shape
    -----
    - Input: ``(N, C, *)``.
    - Output: the same shape.

    Examples
    --------
    >>> nn.GroupNorm(2, 4)(ad.randn(3, 4, 5)).shape
    (3, 4, 5)
    """

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
        """Set the weight to ones and the bias to zeros."""
        _reset_affine(self)

    def forward(self, x):
        return _norm.group_norm(x, self.num_groups, self.weight, self.bias,
                                self.eps)

    def extra_repr(self):
        return "%d, %d, eps=%s, affine=%s, bias=%s" % (
            self.num_groups, self.num_channels, self.eps, self.affine,
            self.bias is not None)


class RMSNorm(Module):
    """Root-mean-square normalization over the last ``len(normalized_shape)``
    dimensions (torch.nn.RMSNorm): ``x / sqrt(mean(x^2) + eps) * weight``.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
        The trailing shape normalized.
    eps : float, optional
        Added to the mean square; None: the machine epsilon of x's dtype, as
        torch.
    elementwise_affine : bool, default True
        A learnable weight (ones) of normalized_shape.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).

    Raises
    ------
    ValueError
        For a bad normalized_shape, or (calling it) an input whose trailing
        shape differs.
    TypeError
        (calling it) when the input's dtype differs from the parameters'
        (as torch).

    Shape
    -----
    - Input: ``(*, normalized_shape)``.
    - Output: the same shape.

    Examples
    --------
    >>> nn.RMSNorm(2, dtype=ad.float64)(ad.tensor([[3.0, 4.0]], dtype=ad.float64)).numpy().round(4).tolist()
    [[0.8485, 1.1314]]
    """

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
        """Set the weight to ones."""
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
        """Reset running_mean to zeros, running_var to ones and
        num_batches_tracked to 0.
        """
        if self.track_running_stats:
            with no_grad():
                self.running_mean.fill_(0.0)
                self.running_var.fill_(1.0)
                self.num_batches_tracked.fill_(0)

    def reset_parameters(self):
        """Reset the running statistics, the weight (ones) and the bias
        (zeros)."""
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
    """Batch normalization over the channels (dim 1), as torch: in training
    mode each channel is normalized by its batch mean and (biased)
    variance and the running statistics are updated in place (with the
    unbiased variance), so a compiled step updates them as an eager one;
    in eval mode the running statistics are used. (torch.nn.BatchNorm1d)

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float or None, default 0.1
        The running statistics' update weight; None: the cumulative average.
    affine : bool, default True
        Learnable weight (ones) and bias (zeros) per channel.
    track_running_stats : bool, default True
        Keep running_mean / running_var (used in eval mode); False uses the
        batch's statistics in both modes.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    bias : bool, default True (keyword only)
        With affine, whether there is a bias.

    Raises
    ------
    ValueError
        For a non-positive num_features, or (calling it) an input that is
        not 2-D or 3-D or has another number of channels.
    TypeError
        (calling it) when the input's dtype differs from the parameters'
        (as torch).

    Shape
    -----
    - Input: ``(N, C)`` or ``(N, C, L)``.
    - Output: the same shape.

    Examples
    --------
    >>> bn = nn.BatchNorm1d(2)
    >>> y = bn(ad.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> y.numpy().round(4).tolist(), bn.running_mean.double().numpy().round(4).tolist()
    ([[-1.0, -1.0], [1.0, 1.0]], [0.2, 2.0])
    """

    def _check_input_dim(self, x):
        if x.ndim not in (2, 3):
            raise ValueError("expected 2D or 3D input (got %dD input)"
                             % x.ndim)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over the channels (dim 1), as torch: in training
    mode each channel is normalized by its batch mean and (biased)
    variance and the running statistics are updated in place (with the
    unbiased variance), so a compiled step updates them as an eager one;
    in eval mode the running statistics are used. (torch.nn.BatchNorm2d)

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float, default 1e-5
        Added to the variance.
    momentum : float or None, default 0.1
        The running statistics' update weight; None: the cumulative average.
    affine : bool, default True
        Learnable weight (ones) and bias (zeros) per channel.
    track_running_stats : bool, default True
        Keep running_mean / running_var (used in eval mode); False uses the
        batch's statistics in both modes.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    bias : bool, default True (keyword only)
        With affine, whether there is a bias.

    Raises
    ------
    ValueError
        For a non-positive num_features, or (calling it) an input that is
        not 4-D or has another number of channels.
    TypeError
        (calling it) when the input's dtype differs from the parameters'
        (as torch).

    Shape
    -----
    - Input: ``(N, C, H, W)``.
    - Output: the same shape.

    Examples
    --------
    >>> nn.BatchNorm2d(3)(ad.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    def _check_input_dim(self, x):
        if x.ndim != 4:
            raise ValueError("expected 4D input (got %dD input)" % x.ndim)
