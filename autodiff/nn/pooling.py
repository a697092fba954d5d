"""Pooling and resizing layers (torch.nn.MaxPool1d/2d, AvgPool1d/2d,
AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d, Upsample,
UpsamplingNearest2d, UpsamplingBilinear2d): torch's constructor
arguments and attributes around nn.functional's pooling ops.  They have no
parameters."""
from .. import _pool, _upsample
from .modules import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "Upsample", "UpsamplingNearest2d",
           "UpsamplingBilinear2d"]


class _MaxPoolNd(Module):
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return type(self)._fn(input, self.kernel_size, self.stride,
                              self.padding, self.dilation, self.ceil_mode,
                              self.return_indices)

    def extra_repr(self):
        return ("kernel_size=%s, stride=%s, padding=%s, dilation=%s, "
                "ceil_mode=%s" % (self.kernel_size, self.stride,
                                  self.padding, self.dilation,
                                  self.ceil_mode))


class MaxPool2d(_MaxPoolNd):
    """torch.nn.MaxPool2d: (N, C, H, W) -> (N, C, H_out, W_out)."""
    _fn = staticmethod(_pool.max_pool2d)


class MaxPool1d(_MaxPoolNd):
    """torch.nn.MaxPool1d: (N, C, L) -> (N, C, L_out)."""
    _fn = staticmethod(_pool.max_pool1d)


class _AvgPoolNd(Module):
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        extra = () if self.divisor_override is None else (
            self.divisor_override,)
        return type(self)._fn(input, self.kernel_size, self.stride,
                              self.padding, self.ceil_mode,
                              self.count_include_pad, *extra)

    def extra_repr(self):
        return "kernel_size=%s, stride=%s, padding=%s" % (
            self.kernel_size, self.stride, self.padding)


class AvgPool2d(_AvgPoolNd):
    """torch.nn.AvgPool2d."""
    _fn = staticmethod(_pool.avg_pool2d)


class AvgPool1d(_AvgPoolNd):
    """torch.nn.AvgPool1d (no divisor_override, as torch)."""
    _fn = staticmethod(_pool.avg_pool1d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode,
                         count_include_pad)


class _Adaptive(Module):
    _fn = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return type(self)._fn(input, self.output_size)

    def extra_repr(self):
        return "output_size=%s" % (self.output_size,)


class AdaptiveAvgPool2d(_Adaptive):
    """torch.nn.AdaptiveAvgPool2d."""
    _fn = staticmethod(_pool.adaptive_avg_pool2d)


class AdaptiveAvgPool1d(_Adaptive):
    """torch.nn.AdaptiveAvgPool1d."""
    _fn = staticmethod(_pool.adaptive_avg_pool1d)


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """torch.nn.AdaptiveMaxPool2d."""
    _fn = staticmethod(_pool.adaptive_max_pool2d)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """torch.nn.AdaptiveMaxPool1d."""
    _fn = staticmethod(_pool.adaptive_max_pool1d)


class Upsample(Module):
    """torch.nn.Upsample: nn.functional.interpolate with fixed arguments
    (size or scale_factor, mode, align_corners)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest",
                 align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return _upsample.interpolate(
            input, self.size, self.scale_factor, self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """torch.nn.UpsamplingNearest2d: Upsample with mode='nearest'."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """torch.nn.UpsamplingBilinear2d: Upsample with mode='bilinear' and
    align_corners=True."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear",
                         align_corners=True)
