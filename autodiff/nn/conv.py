"""Convolution layers (torch.nn.Conv1d, Conv2d, ConvTranspose1d,
ConvTranspose2d): torch's constructor arguments, attributes, parameter
names and shapes (so a state_dict loads both ways), initialisation
(kaiming_uniform_ with a = sqrt(5); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
and padding modes (zeros through the op's padding; reflect, replicate and
circular through nn.functional.pad first, as torch)."""
import math

from .. import _conv, _creation, _engine
from .._device import check_device
from .._shape_ops import pad as _pad
from . import init
from .modules import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None,
                 output_padding=0, generator=None):
        super().__init__()
        check_device(device)
        name = type(self).__name__
        nd = self._nd
        for arg, v in (("in_channels", in_channels),
                       ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0 or \
                    (arg == "groups" and v < 1):
                raise ValueError("%s: %s must be a %s integer, got %r"
                                 % (name, arg, "positive" if arg == "groups"
                                    else "non-negative", v))
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _MODES:
            raise ValueError("padding_mode must be one of %s, but got "
                             "padding_mode='%s'" % (list(_MODES),
                                                    padding_mode))
        if self._transposed and padding_mode != "zeros":
            raise ValueError('Only "zeros" padding mode is supported for %s'
                             % name)
        k = _conv._pair(kernel_size, "kernel_size", nd, name)
        st = _conv._pair(stride, "stride", nd, name)
        dil = _conv._pair(dilation, "dilation", nd, name)
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError("Invalid padding string %r, should be one "
                                 "of ['valid', 'same']" % (padding,))
            if padding == "same" and any(s != 1 for s in st):
                raise ValueError("padding='same' is not supported for "
                                 "strided convolutions")
            pd = padding
        else:
            pd = _conv._pair(padding, "padding", nd, name)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = k
        self.stride = st
        self.padding = pd
        self.dilation = dil
        self.transposed = self._transposed
        self.output_padding = _conv._pair(output_padding, "output_padding",
                                          nd, name)
        self.groups = groups
        self.padding_mode = padding_mode
        # torch's F.pad widths for the non-zeros modes: last dim first
        if pd == "valid":
            rp = [0] * (2 * nd)
        elif pd == "same":
            rp = []
            for d, kk in zip(reversed(dil), reversed(k)):
                total = d * (kk - 1)
                rp += [total // 2, total - total // 2]
        else:
            rp = [p for p in reversed(pd) for _ in range(2)]
        self._reversed_padding_repeated_twice = rp
        dt = dtype or _engine.float32
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + k
        self.weight = Parameter(_creation.zeros(*shape, dtype=dt))
        if bias:
            self.bias = Parameter(_creation.zeros(out_channels, dtype=dt))
        else:
            self.bias = None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Draw the weight and bias again with torch's initialisation.

        Parameters
        ----------
        generator : numpy.random.Generator, optional
            Draw from it instead of the default generator.
        """
        if self.weight.size:
            init.kaiming_uniform_(self.weight, a=math.sqrt(5),
                                  generator=generator)
        if self.bias is not None:
            fan_in = init._fans(self.weight)[0]
            if fan_in:
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound, generator)

    def extra_repr(self):
        s = "%d, %d, kernel_size=%s, stride=%s" % (
            self.in_channels, self.out_channels, self.kernel_size,
            self.stride)
        if self.padding != (0,) * self._nd:
            s += ", padding=%s" % (self.padding,)
        if self.dilation != (1,) * self._nd:
            s += ", dilation=%s" % (self.dilation,)
        if self.output_padding != (0,) * self._nd:
            s += ", output_padding=%s" % (self.output_padding,)
        if self.groups != 1:
            s += ", groups=%d" % self.groups
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode=%s" % self.padding_mode
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None,
                 generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode,
                         device, dtype, generator=generator)

    def forward(self, input):
        fn = _conv.conv2d if self._nd == 2 else _conv.conv1d
        if self.padding_mode != "zeros":
            x = _pad(input, self._reversed_padding_repeated_twice,
                     mode=self.padding_mode)
            return fn(x, self.weight, self.bias, self.stride, 0,
                      self.dilation, self.groups)
        return fn(input, self.weight, self.bias, self.stride, self.padding,
                  self.dilation, self.groups)


class Conv2d(_Conv):
    """A 2-D convolution (cross-correlation) over an input of several
    channels (torch.nn.Conv2d); weight ``(C_out, C_in / groups, kH, kW)``,
    bias ``(C_out,)``.  im2col and BLAS GEMMs in the engine.

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out.
    kernel_size : int or pair of ints
        The window.
    stride : int or pair of ints, default 1
    padding : int, pair of ints or {"valid", "same"}, default 0
        Zero padding (or padding_mode's) on both sides ("same" keeps the size,
        stride 1 only).
    dilation : int or pair of ints, default 1
        The spacing of the window's elements.
    groups : int, default 1
        Split the channels into groups convolved separately (divides both
        channel counts; in_channels groups: depthwise).
    bias : bool, default True
        Add a learnable bias per output channel.
    padding_mode : str, default "zeros"
        "zeros", "reflect", "replicate" or "circular": how the input
        is padded.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it (torch's kaiming_uniform_ with
        a = sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    Raises
    ------
    ValueError
        For non-positive sizes, channel counts not divisible by groups, an
        unknown padding or padding_mode, or (calling it) an input of the
        wrong rank or channel count.

    Shape
    -----
    - Input: ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    - Output: ``(N, C_out, H_out, W_out)``, with
      ``H_out = floor((H + 2 padding - dilation (kernel_size - 1) - 1) / stride
      + 1)``, likewise W_out.

    Examples
    --------
    >>> nn.Conv2d(3, 8, 3, padding=1)(ad.zeros(2, 3, 16, 16)).shape
    (2, 8, 16, 16)
    """
    _nd = 2


class Conv1d(_Conv):
    """A 1-D convolution (cross-correlation) (torch.nn.Conv1d); weight
    ``(C_out, C_in / groups, k)``, bias ``(C_out,)``.

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out.
    kernel_size : int or tuple of one int
        The window.
    stride : int or tuple of one int, default 1
    padding : int, tuple of one int or {"valid", "same"}, default 0
        Zero padding (or padding_mode's) on both sides ("same" keeps the size,
        stride 1 only).
    dilation : int or tuple of one int, default 1
        The spacing of the window's elements.
    groups : int, default 1
        Split the channels into groups convolved separately (divides both
        channel counts; in_channels groups: depthwise).
    bias : bool, default True
        Add a learnable bias per output channel.
    padding_mode : str, default "zeros"
        "zeros", "reflect", "replicate" or "circular": how the input
        is padded.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it (torch's kaiming_uniform_ with
        a = sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    Raises
    ------
    ValueError
        For non-positive sizes, channel counts not divisible by groups, an
        unknown padding or padding_mode, or (calling it) an input of the
        wrong rank or channel count.

    Shape
    -----
    - Input: ``(N, C_in, L)`` or ``(C_in, L)``.
    - Output: ``(N, C_out, L_out)``, with
      ``L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride
      + 1)``.

    Examples
    --------
    >>> nn.Conv1d(4, 2, 3)(ad.zeros(1, 4, 10)).shape
    (1, 2, 8)
    """
    _nd = 1


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None,
                 generator=None):
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode,
                         device, dtype, output_padding=output_padding,
                         generator=generator)

    def _output_padding(self, input, output_size):
        """torch's: the output padding that gives output_size (the last
        nd entries of it), each in [0, max(stride, dilation))."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = list(output_size)[-nd:]
        if len(size) != nd:
            raise ValueError("output_size must have %d or %d elements (got "
                             "%d)" % (nd, nd + 2, len(output_size)))
        out = []
        for i in range(nd):
            n = input.shape[input.ndim - nd + i]
            lo = ((n - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + max(self.stride[i], self.dilation[i]) - 1
            if not lo <= size[i] <= hi:
                raise ValueError(
                    "requested an output size of %s, but valid sizes range "
                    "from %s to %s (for an input of %s)"
                    % (size, lo, hi, list(input.shape[-nd:])))
            out.append(size[i] - lo)
        return tuple(out)

    def forward(self, input, output_size=None):
        fn = (_conv.conv_transpose2d if self._nd == 2
              else _conv.conv_transpose1d)
        op = self._output_padding(input, output_size)
        return fn(input, self.weight, self.bias, self.stride, self.padding,
                  op, self.groups, self.dilation)


class ConvTranspose2d(_ConvTranspose):
    """A 2-D transposed convolution, the gradient of Conv2d with respect to
    its input (torch.nn.ConvTranspose2d); weight ``(C_in, C_out / groups,
    kH, kW)``.  Call it as ``layer(input, output_size=None)``: output_size
    picks the output padding that gives that size.

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out.
    kernel_size : int or pair of ints
        The window.
    stride : int or pair of ints, default 1
    padding : int, pair of ints, default 0
        Removed from both sides of the output (as torch: the input is
        padded with ``dilation (kernel_size - 1) - padding`` zeros).
    output_padding : int or pair of ints, default 0
        Added to one side of the output (less than stride or dilation).
    dilation : int or pair of ints, default 1
        The spacing of the window's elements.
    groups : int, default 1
        Split the channels into groups convolved separately (divides both
        channel counts; in_channels groups: depthwise).
    bias : bool, default True
        Add a learnable bias per output channel.
    padding_mode : str, default "zeros"
        "zeros", "reflect", "replicate" or "circular"; only "zeros"
        here, as torch.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it (torch's kaiming_uniform_ with
        a = sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    Raises
    ------
    ValueError
        For non-positive sizes, channel counts not divisible by groups, an
        unknown padding or padding_mode, or (calling it) an input of the
        wrong rank or channel count.

    Shape
    -----
    - Input: ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    - Output: ``(N, C_out, H_out, W_out)``, with
      ``H_out = (H - 1) stride - 2 padding + dilation (kernel_size - 1) +
      output_padding + 1``.

    Examples
    --------
    >>> nn.ConvTranspose2d(8, 3, 2, stride=2)(ad.zeros(1, 8, 4, 4)).shape
    (1, 3, 8, 8)
    """
    _nd = 2


class ConvTranspose1d(_ConvTranspose):
    """A 1-D transposed convolution (torch.nn.ConvTranspose1d); weight
    ``(C_in, C_out / groups, k)``; ``layer(input, output_size=None)``.

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out.
    kernel_size : int or tuple of one int
        The window.
    stride : int or tuple of one int, default 1
    padding : int, tuple of one int, default 0
        Removed from both sides of the output (as torch: the input is
        padded with ``dilation (kernel_size - 1) - padding`` zeros).
    output_padding : int or tuple of one int, default 0
        Added to one side of the output (less than stride or dilation).
    dilation : int or tuple of one int, default 1
        The spacing of the window's elements.
    groups : int, default 1
        Split the channels into groups convolved separately (divides both
        channel counts; in_channels groups: depthwise).
    bias : bool, default True
        Add a learnable bias per output channel.
    padding_mode : str, default "zeros"
        "zeros", "reflect", "replicate" or "circular"; only "zeros"
        here, as torch.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it (torch's kaiming_uniform_ with
        a = sqrt(5), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    Raises
    ------
    ValueError
        For non-positive sizes, channel counts not divisible by groups, an
        unknown padding or padding_mode, or (calling it) an input of the
        wrong rank or channel count.

    Shape
    -----
    - Input: ``(N, C_in, L)`` or ``(C_in, L)``.
    - Output: ``(N, C_out, L_out)``, with
      ``L_out = (L - 1) stride - 2 padding + dilation (kernel_size - 1) +
      output_padding + 1``.

    Examples
    --------
    >>> nn.ConvTranspose1d(2, 1, 3)(ad.zeros(1, 2, 5)).shape
    (1, 1, 7)
    """
    _nd = 1
