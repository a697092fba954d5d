"""Functional forms of the activations and losses (torch.nn.functional)."""
from .._engine import (
    sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, gelu, silu,
    hardtanh, relu6, hardsigmoid, hardswish, mish, logsigmoid, softsign,
    tanhshrink, celu,
    softmax, log_softmax,
    mse_loss, l1_loss,
    linear,             # x @ W.T + b in one op
)
from .._losses import (
    cross_entropy, nll_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits, huber_loss, smooth_l1_loss, kl_div,
    poisson_nll_loss, gaussian_nll_loss, cosine_embedding_loss,
    margin_ranking_loss, triplet_margin_loss, hinge_embedding_loss,
    multi_margin_loss, soft_margin_loss, cosine_similarity, normalize,
    pairwise_distance)
# dropout: the engine's stream, or a numpy generator
from .._random import dropout, dropout1d, dropout2d
from .._shape_ops import pad, ShapeOpError
from .._conv import (conv1d, conv2d, conv_transpose1d, conv_transpose2d,
                     unfold, fold)
from .._norm import layer_norm, group_norm, rms_norm, batch_norm
from .._pool import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,
                     adaptive_avg_pool1d, adaptive_avg_pool2d,
                     adaptive_max_pool1d, adaptive_max_pool2d)
from .._embedding import embedding, embedding_bag
from .._attention import scaled_dot_product_attention
from .._upsample import (interpolate, upsample, upsample_nearest,
                         upsample_bilinear)
from .. import _engine

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
           "softplus", "gelu", "silu", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "mish", "logsigmoid", "softsign", "tanhshrink",
           "celu", "softmax", "log_softmax", "mse_loss",
           "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
           "dropout", "dropout1d", "dropout2d", "linear", "pad", "prelu", "conv1d", "conv2d",
           "conv_transpose1d", "conv_transpose2d", "unfold", "fold",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "embedding",
           "embedding_bag", "layer_norm", "group_norm", "rms_norm",
           "batch_norm", "scaled_dot_product_attention", "interpolate",
           "upsample", "upsample_nearest", "upsample_bilinear",
           "huber_loss", "smooth_l1_loss", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "cosine_embedding_loss",
           "margin_ranking_loss", "triplet_margin_loss",
           "hinge_embedding_loss", "multi_margin_loss", "soft_margin_loss",
           "cosine_similarity", "normalize", "pairwise_distance"]


def prelu(input, weight):
    """torch.nn.functional.prelu: input where input > 0, else weight *
    input, with weight a scalar or 1-D of 1 or input.shape[1] elements
    (one slope per channel, dim 1).  Composed of a recorded product and
    ``where``: the gradient is 1 or the slope for input (the slope at 0,
    as torch) and input where input <= 0 for weight, to any order.

    Parameters
    ----------
    input : Tensor
    weight : Tensor
        A scalar, or 1-D of 1 or input.shape[1] elements.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        When weight's size fits neither.

    Shape
    -----
    - input ``(N, C, *)`` or any shape with one slope; output the same.

    Examples
    --------
    >>> F.prelu(ad.tensor([-2.0, 2.0]), ad.tensor([0.5])).tolist()
    [-1.0, 2.0]
    """
    if not isinstance(input, _engine.Tensor) or not isinstance(
            weight, _engine.Tensor):
        raise TypeError("prelu(): input and weight must be Tensors, not %s "
                        "and %s" % (type(input).__name__,
                                    type(weight).__name__))
    if weight.ndim > 1:
        raise ShapeOpError("prelu: Expected `weight` to be a scalar or 1D "
                           "tensor, but got: ndim = %d" % weight.ndim)
    if input.dtype != weight.dtype or input.dtype.kind != "f":
        raise TypeError("prelu: input and weight must be float tensors of "
                        "one dtype (torch does not promote), got %s and %s"
                        % (input.dtype, weight.dtype))
    n = weight.numel()
    channels = input.shape[1] if input.ndim >= 2 else 1
    if n == 1:
        w = weight.reshape(())
    elif n == channels:
        w = weight.reshape((n,) + (1,) * (input.ndim - 2))
    else:
        raise ShapeOpError("Mismatch of parameter numbers and input channel "
                           "size. Found parameter numbers = %d and channel "
                           "size = %d." % (n, channels))
    return _engine.where(input > 0, input, w * input)
