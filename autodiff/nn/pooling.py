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
    """The maximum over sliding 2-D windows (torch.nn.MaxPool2d).

    Parameters
    ----------
    kernel_size : int or pair of ints
        The window.
    stride : int or pair of ints, optional
        The step (the window by default).
    padding : int or pair of ints, default 0
        Implicit -inf padding on both sides (at most half the window).
    dilation : int or pair of ints, default 1
        The spacing of the window's elements.
    return_indices : bool, default False
        Also return the flat indices of the maxima (for MaxUnpool).
    ceil_mode : bool, default False
        Round the output size up instead of down.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a window larger
        than the padded input.

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
    - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, with
      ``H_out = floor((H + 2 padding - dilation (kernel_size - 1) - 1) / stride + 1)``
      (ceil with ceil_mode), likewise W_out.
      With return_indices, also the int64 indices, of the output's shape.

    Examples
    --------
    >>> nn.MaxPool2d(2)(ad.arange(16.0).reshape(1, 1, 4, 4)).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    _fn = staticmethod(_pool.max_pool2d)


class MaxPool1d(_MaxPoolNd):
    """The maximum over sliding 1-D windows (torch.nn.MaxPool1d).

    Parameters
    ----------
    kernel_size : int
        The window.
    stride : int, optional
        The step (the window by default).
    padding : int, default 0
        Implicit -inf padding on both sides (at most half the window).
    dilation : int, default 1
        The spacing of the window's elements.
    return_indices : bool, default False
        Also return the flat indices of the maxima (for MaxUnpool).
    ceil_mode : bool, default False
        Round the output size up instead of down.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a window larger
        than the padded input.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: ``(N, C, L_out)`` or ``(C, L_out)``, with
      ``L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride + 1)``
      (ceil with ceil_mode).

    Examples
    --------
    >>> nn.MaxPool1d(2)(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]])).tolist()
    [[[3.0, 2.0]]]
    """
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
    """The mean over sliding 2-D windows (torch.nn.AvgPool2d).

    Parameters
    ----------
    kernel_size : int or pair of ints
        The window.
    stride : int or pair of ints, optional
        The step (the window by default).
    padding : int or pair of ints, default 0
        Implicit zero padding on both sides (at most half the window).
    ceil_mode : bool, default False
        Round the output size up instead of down.
    count_include_pad : bool, default True
        Count the padding in the divisor.
    divisor_override : int, optional
        Divide by it instead of the window's size.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a window larger
        than the padded input.

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
    - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, with
      ``H_out = floor((H + 2 padding - kernel_size) / stride + 1)``
      (ceil with ceil_mode), likewise W_out.

    Examples
    --------
    >>> nn.AvgPool2d(2)(ad.arange(16.0).reshape(1, 1, 4, 4)).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    _fn = staticmethod(_pool.avg_pool2d)


class AvgPool1d(_AvgPoolNd):
    """The mean over sliding 1-D windows (torch.nn.AvgPool1d; no
    divisor_override, as torch).

    Parameters
    ----------
    kernel_size : int
        The window.
    stride : int, optional
        The step (the window by default).
    padding : int, default 0
        Implicit zero padding on both sides (at most half the window).
    ceil_mode : bool, default False
        Round the output size up instead of down.
    count_include_pad : bool, default True
        Count the padding in the divisor.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a window larger
        than the padded input.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: ``(N, C, L_out)`` or ``(C, L_out)``, with
      ``L_out = floor((L + 2 padding - kernel_size) / stride + 1)``
      (ceil with ceil_mode).

    Examples
    --------
    >>> nn.AvgPool1d(2)(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]])).tolist()
    [[[2.0, 1.0]]]
    """
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
    """The mean over the windows that divide the input into output_size
    cells (torch.nn.AdaptiveAvgPool2d; window i spans
    ``[floor(i H / S), ceil((i + 1) H / S))``).

    Parameters
    ----------
    output_size : int or pair of (int or None)
        The output's (H, W); None keeps that size of the input.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a bad output_size.

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
    - Output: ``(N, C, S_0, S_1)`` or ``(C, S_0, S_1)``, S = output_size.

    Examples
    --------
    >>> nn.AdaptiveAvgPool2d(1)(ad.ones(2, 3, 5, 5)).shape
    (2, 3, 1, 1)
    """
    _fn = staticmethod(_pool.adaptive_avg_pool2d)


class AdaptiveAvgPool1d(_Adaptive):
    """The mean over the windows that divide the length into output_size
    cells (torch.nn.AdaptiveAvgPool1d).

    Parameters
    ----------
    output_size : int
        The output's length.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a bad output_size.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: ``(N, C, S)`` or ``(C, S)``, S = output_size.

    Examples
    --------
    >>> nn.AdaptiveAvgPool1d(2)(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]])).tolist()
    [[[2.0, 1.0]]]
    """
    _fn = staticmethod(_pool.adaptive_avg_pool1d)


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """The maximum over the windows that divide the input into output_size
    cells (torch.nn.AdaptiveMaxPool2d).

    Parameters
    ----------
    output_size : int or pair of (int or None)
        The output's (H, W); None keeps that size of the input.
    return_indices : bool, default False
        Also return the indices of the maxima.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a bad output_size.

    Shape
    -----
    - Input: ``(N, C, H, W)`` or ``(C, H, W)``.
    - Output: ``(N, C, S_0, S_1)`` or ``(C, S_0, S_1)``, S = output_size.

    Examples
    --------
    >>> nn.AdaptiveMaxPool2d(1)(ad.arange(4.0).reshape(1, 1, 2, 2)).tolist()
    [[[[3.0]]]]
    """
    _fn = staticmethod(_pool.adaptive_max_pool2d)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """The maximum over the windows that divide the length into output_size
    cells (torch.nn.AdaptiveMaxPool1d).

    Parameters
    ----------
    output_size : int
        The output's length.
    return_indices : bool, default False
        Also return the indices of the maxima.

    Raises
    ------
    ValueError
        (calling it) for an input of the wrong rank or a bad output_size.

    Shape
    -----
    - Input: ``(N, C, L)`` or ``(C, L)``.
    - Output: ``(N, C, S)`` or ``(C, S)``, S = output_size.

    Examples
    --------
    >>> nn.AdaptiveMaxPool1d(2)(ad.tensor([[[1.0, 3.0, 2.0, 0.0]]])).tolist()
    [[[3.0, 2.0]]]
    """
    _fn = staticmethod(_pool.adaptive_max_pool1d)


class Upsample(Module):
    """Resize by :func:`nn.functional.interpolate
    <autodiff.nn.functional.interpolate>` with fixed arguments
    (torch.nn.Upsample).

    Parameters
    ----------
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional
        The multiplier of the spatial size.
    mode : str, default "nearest"
        "nearest", "nearest-exact", "linear", "bilinear" or "area".
    align_corners : bool, optional
        For the linear modes, as torch.
    recompute_scale_factor : bool, optional
        Compute the interpolation from the output size, as torch.

    Raises
    ------
    ValueError
        (calling it) for a bad size or scale_factor.
    NotImplementedError
        (calling it) for a mode not implemented (bicubic, trilinear)
        or not fitting the input's rank.

    Shape
    -----
    - Input: ``(N, C, L)``, ``(N, C, H, W)`` (the modes' ranks, as
      torch).
    - Output: ``(N, C, L_out)`` or ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> nn.Upsample(scale_factor=2)(ad.tensor([[[1.0, 2.0]]])).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    """

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
    """Upsample with mode="nearest" (torch.nn.UpsamplingNearest2d).

    Parameters
    ----------
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional
        The multiplier of the spatial size.

    Raises
    ------
    ValueError
        (calling it) for a bad size or scale_factor.

    Shape
    -----
    - Input: ``(N, C, H, W)``.
    - Output: ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> nn.UpsamplingNearest2d(scale_factor=2)(ad.ones(1, 1, 2, 2)).shape
    (1, 1, 4, 4)
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample with mode="bilinear" and align_corners=True
    (torch.nn.UpsamplingBilinear2d).

    Parameters
    ----------
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional
        The multiplier of the spatial size.

    Raises
    ------
    ValueError
        (calling it) for a bad size or scale_factor.

    Shape
    -----
    - Input: ``(N, C, H, W)``.
    - Output: ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> nn.UpsamplingBilinear2d(size=3)(ad.tensor([[[[0.0, 2.0]]]])).shape
    (1, 1, 3, 3)
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear",
                         align_corners=True)
