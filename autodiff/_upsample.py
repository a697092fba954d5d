"""Interpolation (torch.nn.functional.interpolate, nn.Upsample).

One engine op, ``upsample`` (``csrc/ops_upsample.c``): nearest,
nearest-exact and (bi)linear resizing of the last one or two dims with
torch's index and weight rules (``UpSample.h``: ``nearest_idx``,
``area_pixel_compute_source_index``, align_corners).  The op is linear in
its input; its backward adds the gradient back with the same indices and
weights, and that transpose is the same op with ``adjoint`` set, so the
recorded derivative (any order) is the op again in the other direction.

This module does torch's argument handling: size or scale_factor, the
output size int(in * scale) (when scale_factor is given and
recompute_scale_factor is not True, the kernel uses 1 / scale_factor
rather than the size ratio, as torch's), align_corners only with the
interpolating modes (default False), 'area' as adaptive_avg_pool.  3-D
(N, C, L) and 4-D (N, C, H, W) inputs; bicubic, trilinear, lanczos, 5-D
inputs and antialias raise NotImplementedError.
"""
from __future__ import annotations

import math
import numbers

from . import _engine
from ._engine import Tensor, _reshape

__all__ = ["interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear"]

_KIND = {"nearest": 0, "linear": 1, "bilinear": 1, "nearest-exact": 2}
_MODES = ("nearest | linear | bilinear | bicubic | trilinear | area | "
          "nearest-exact")


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def interpolate(input, size=None, scale_factor=None, mode="nearest",
                align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """torch.nn.functional.interpolate for (N, C, L) ('nearest', 'linear',
    'nearest-exact', 'area') and (N, C, H, W) ('nearest', 'bilinear',
    'nearest-exact', 'area') inputs.

    Parameters
    ----------
    input : Tensor
        ``(N, C, L)`` or ``(N, C, H, W)``.
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional
    mode : str, default "nearest"
        "nearest", "nearest-exact", "linear", "bilinear" or "area".
    align_corners : bool, optional
        For the linear modes, as torch.
    recompute_scale_factor : bool, optional
        Compute the interpolation from the output size, as torch.
    antialias : bool, default False
        True is not supported.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For neither or both of size and scale_factor, or bad values.
    NotImplementedError
        For a mode not implemented for the input's rank (bicubic,
        trilinear, ...).

    Shape
    -----
    - input ``(N, C, L)`` or ``(N, C, H, W)``; output ``(N, C, L_out)`` or
      ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> F.interpolate(ad.tensor([[[0.0, 2.0]]]), size=3, mode='linear', align_corners=True).tolist()
    [[[0.0, 1.0, 2.0]]]
    """
    if not isinstance(input, Tensor):
        raise TypeError("interpolate(): argument 'input' must be a Tensor, "
                        "not %s" % type(input).__name__)
    if not isinstance(mode, str):
        raise TypeError("interpolate(): mode must be a string, got %r"
                        % (mode,))
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | "
                             "bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be "
                         "defined")
    scales = None
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial "
                    "dimensions, but got input with spatial dimensions of "
                    "%s and output size of %s. Please provide input tensor "
                    "in (N, C, d1, d2, ...,dK) format and output size in "
                    "(o1, o2, ...,oK) format."
                    % (list(input.shape[2:]), size))
            if not all(_is_int(v) for v in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or "
                    "Tuple[int, int] or Tuple[int, int, int], but got size "
                    "with types %s" % [type(v) for v in size])
            out = [int(v) for v in size]
        elif _is_int(size):
            out = [int(size)] * max(dim, 0)
        else:
            raise TypeError("expected size to be one of int or Tuple[int] "
                            "or Tuple[int, int] or Tuple[int, int, int], "
                            "but got size of type %s" % type(size).__name__)
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of "
                    "spatial dimensions, but got input with spatial "
                    "dimensions of %s and scale_factor of shape %s. Please "
                    "provide input tensor in (N, C, d1, d2, ...,dK) format "
                    "and scale_factor in (s1, s2, ...,sK) format."
                    % (list(input.shape[2:]), list(scale_factor)))
            scales = list(scale_factor)
        else:
            scales = [scale_factor] * max(dim, 0)
        for s in scales:
            if not isinstance(s, numbers.Real) or isinstance(s, bool):
                raise TypeError("interpolate(): scale_factor must be a float "
                                "or a tuple of floats, got %r"
                                % (scale_factor,))
        scales = [float(s) for s in scales]
        for s in scales:
            if not math.isfinite(s) or s <= 0:
                raise ValueError("interpolate(): scale_factor must be "
                                 "positive and finite, got %r"
                                 % (scale_factor,))
        out = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an "
                         "explicit size.")
    if scales is not None:
        # torch: int(in * scale) (Python's product, then the C++ cast)
        out = [int(input.shape[2 + i] * scales[i]) for i in range(dim)]
        if mode == "area" or recompute_scale_factor:
            scales = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos")
                          and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, "
                         "bicubic, and lanczos modes and requires a 4-D "
                         "tensor as input")
    nd = input.ndim
    if antialias:
        raise NotImplementedError("interpolate: antialias=True (mode %r) "
                                  "is not supported" % mode)
    if nd == 3 and mode == "bilinear":
        raise NotImplementedError("Got 3D input, but bilinear mode needs 4D "
                                  "input")
    if nd == 4 and mode == "linear":
        raise NotImplementedError("Got 4D input, but linear mode needs 3D "
                                  "input")
    if nd in (3, 4) and mode == "trilinear":
        raise NotImplementedError("Got %dD input, but trilinear mode needs "
                                  "5D input" % nd)
    if nd not in (3, 4) or mode not in ("nearest", "linear", "bilinear",
                                        "nearest-exact", "area"):
        if mode in ("bicubic", "trilinear", "lanczos") or nd == 5:
            raise NotImplementedError(
                "interpolate: mode %r on a %dD input is not supported "
                "(supported: nearest, nearest-exact, area and linear on 3D, "
                "bilinear on 4D)" % (mode, nd))
        raise NotImplementedError(
            "Input Error: Only 3D, 4D and 5D input Tensors supported (got "
            "%dD) for the modes: %s (got %s)" % (nd, _MODES, mode))
    if mode == "area":
        from . import _pool
        fn = (_pool.adaptive_avg_pool1d if nd == 3
              else _pool.adaptive_avg_pool2d)
        return fn(input, tuple(out))
    for o in out:
        if o < 1:
            raise ValueError(
                "upsample (%s): Input and output sizes should be greater "
                "than 0, but got input %s and output %s"
                % (mode, tuple(input.shape[2:]), tuple(out)))
    if 0 in input.shape[2:]:
        raise ValueError("upsample (%s): Input and output sizes should be "
                         "greater than 0, but got input %s and output %s"
                         % (mode, tuple(input.shape[2:]), tuple(out)))
    sc = [0.0] * dim if scales is None else scales
    if nd == 3:
        n, c, L = input.shape
        x = _reshape(input, (n, c, 1, L))
        y = _engine._upsample(x, _KIND[mode], bool(align_corners), True,
                              (1, L), (1, out[0]), (0.0, sc[0]))
        return _reshape(y, (n, c, out[0]))
    return _engine._upsample(input, _KIND[mode], bool(align_corners), False,
                             input.shape[2:], tuple(out), tuple(sc))


def upsample(input, size=None, scale_factor=None, mode="nearest",
             align_corners=None):
    """torch.nn.functional.upsample (deprecated there): interpolate.

    Parameters
    ----------
    input : Tensor
        ``(N, C, L)`` or ``(N, C, H, W)``.
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional
    mode : str, default "nearest"
        As interpolate's.
    align_corners : bool, optional

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For neither or both of size and scale_factor, or bad values.
    NotImplementedError
        For a mode not implemented for the input's rank (bicubic,
        trilinear, ...).

    Shape
    -----
    - input ``(N, C, L)`` or ``(N, C, H, W)``; output ``(N, C, L_out)`` or
      ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> F.upsample(ad.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    """
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """torch.nn.functional.upsample_nearest: interpolate, 'nearest'.

    Parameters
    ----------
    input : Tensor
        ``(N, C, L)`` or ``(N, C, H, W)``.
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For neither or both of size and scale_factor, or bad values.
    NotImplementedError
        For a mode not implemented for the input's rank (bicubic,
        trilinear, ...).

    Shape
    -----
    - input ``(N, C, L)`` or ``(N, C, H, W)``; output ``(N, C, L_out)`` or
      ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> F.upsample_nearest(ad.tensor([[[1.0, 2.0]]]), size=4).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    """
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """torch.nn.functional.upsample_bilinear: interpolate, 'bilinear' with
    align_corners=True.

    Parameters
    ----------
    input : Tensor
        ``(N, C, H, W)``.
    size : int or tuple of ints, optional
        The output's spatial size (give it or scale_factor).
    scale_factor : float or tuple of floats, optional

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        For neither or both of size and scale_factor, or bad values.
    NotImplementedError
        For a mode not implemented for the input's rank (bicubic,
        trilinear, ...).

    Shape
    -----
    - input ``(N, C, H, W)``; output ``(N, C, H_out, W_out)``.

    Examples
    --------
    >>> F.upsample_bilinear(ad.tensor([[[[0.0, 2.0]]]]), size=(1, 3)).tolist()
    [[[[0.0, 1.0, 2.0]]]]
    """
    return interpolate(input, size, scale_factor, mode="bilinear",
                       align_corners=True)


# ----------------------------------------------- rules (higher order)

def upsample_rule(node, out, g):
    """upsample's derivative: the same op in the other direction."""
    a = node.attrs
    return [_engine._upsample(g, a.kind, bool(a.align_corners),
                              bool(a.one_d), (a.ih, a.iw), (a.oh, a.ow),
                              (a.sh, a.sw), not a.adjoint)]
