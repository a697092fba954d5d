"""autodiff: reverse-mode automatic differentiation on a compiled C tape.

    import autodiff as ad
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 2 + 3 * x + 2).sum()
    y.backward()
    x.grad          # 2x + 3 at each point
"""
try:
    from ._engine import (
        Tensor, float32, float64, int64, bool_,
        eq, ne, lt, le, gt, ge, greater, greater_equal, less, less_equal,
        not_equal, logical_not, logical_and, logical_or, logical_xor,
        bitwise_and, bitwise_or, bitwise_xor, bitwise_not, isnan, isinf,
        isfinite, argmax, argmin, return_types,
        add, subtract, multiply, divide, power, negative,
        exp, log, sqrt, abs, sin, cos, tan, square, clip, clamp, maximum, minimum,
        where, atan2, arctan2, hypot, fmod, remainder, logaddexp, xlogy,
        floor_divide,
        atan, asin, acos, sinh, cosh, asinh, acosh, atanh, log1p, expm1, log2,
        log10, exp2, reciprocal, rsqrt,
        sign, floor, ceil, round, trunc, frac,
        erf, sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, gelu, silu,
        softmax, log_softmax, cumsum,
        sum, mean, max, min, amax, amin,
        reshape, permute, broadcast_to, concatenate, cat,
        linear,
        mse_loss, l1_loss, binary_cross_entropy,
        binary_cross_entropy_with_logits,
        is_grad_enabled, memory_stats, empty_cache,
    )
except ImportError:
    import glob as _glob
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if (_glob.glob(_os.path.join(_here, "*.pyx")) and
            not _glob.glob(_os.path.join(_here, "_engine*.so"))):
        # no compiled engine beside the sources: a clone's source folder
        raise ImportError(
            f"autodiff's compiled engine is not built in {_here}: this is "
            "the source folder of a clone, which Python found first because "
            "it is the current folder (or on sys.path). Install it for "
            "development (pip install -e . builds the engine into this "
            "folder), or run from outside the clone with autodiff-tape "
            "installed.") from None
    raise
from ._creation import (tensor, from_numpy, zeros, ones, full, zeros_like,
                        ones_like, full_like, arange, linspace, eye, empty,
                        empty_like, FloatTensor, DoubleTensor, LongTensor,
                        BoolTensor, as_tensor)
from ._random import (randn, rand, manual_seed, get_rng_state,
                      set_rng_state, randn_like, rand_like, randint,
                      randperm, normal)
from ._device import device
from ._interop import from_dlpack
from ._engine import Size
from ._ops import (transpose, swapaxes, expand_dims, unsqueeze,
                   squeeze, flatten, stack, matmul, dot, mm, mv, bmm, outer,
                   addmm, lerp, addcmul, addcdiv, t, equal, allclose,
                   isclose, numel, is_tensor, add, sub, mul, div,
                   true_divide, neg, clone)
from ._shape_ops import (split, chunk, unbind, unflatten, tile,
                         repeat_interleave, flip, roll, tril, triu, diag,
                         diagonal, narrow, movedim, moveaxis, index_select,
                         gather, take_along_dim, scatter, scatter_add,
                         masked_fill, masked_select, nonzero)
from ._losses import cross_entropy, nll_loss
from ._reductions import (prod, logsumexp, cumprod, cummax, cummin, norm,
                          all, any, count_nonzero, nansum, nanmean, var, std,
                          sort, argsort, topk, median, quantile)
from ._grad_mode import no_grad, enable_grad, set_grad_enabled
from ._threads import set_num_threads, get_num_threads, set_flush_denormal
from . import nn, optim, autograd, cuda
from . import data
from . import linalg
from .linalg import einsum, tensordot, trace, det, inverse
from .autograd import Function, FunctionCtx
from .functional import (grad, value_and_grad, elementwise_grad, jacobian,
                         hessian, vjp, jvp, hvp)
from .gradcheck import (numerical_grad, gradcheck, gradgradcheck,
                        GradcheckError)
from .checkpoint import save, load
from .compile import compile, CompiledFunction, NotCompilableError
from . import metrics, callbacks
from .trainer import (Trainer, History, Callback, EarlyStopping,
                      LRSchedulerCallback, ModelCheckpoint)

# torch's names of the dtypes
float = float32
double = float64
long = int64
int = int64         # torch.int is int32, which autodiff does not have
bool = bool_
pow = power         # torch's name

from . import _version
__version__ = _version.__version__

# Spelled out (not computed from dir()) so that type checkers see the
# re-exports; tests/test_typing.py checks it against the module's names.
__all__ = [
    # tensors, dtypes and constructors
    "Tensor", "float32", "float64", "int64", "bool_", "float", "double",
    "long", "int", "bool", "FloatTensor", "DoubleTensor", "LongTensor",
    "BoolTensor",
    "tensor", "from_numpy", "zeros", "ones", "full", "zeros_like",
    "ones_like", "full_like", "arange", "linspace", "eye", "randn", "rand",
    "manual_seed", "get_rng_state", "set_rng_state", "empty", "empty_like",
    "randn_like", "rand_like", "randint", "randperm", "normal", "device",
    "from_dlpack",
    "Size",
    # elementwise ops
    "add", "subtract", "multiply", "divide", "power", "pow", "negative",
    "sub", "mul", "div", "true_divide", "neg", "clone", "as_tensor",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tan", "square", "clip", "clamp",
    "maximum", "minimum", "where", "floor_divide",
    "atan2", "arctan2", "hypot", "fmod", "remainder", "logaddexp", "xlogy",
    "atan", "asin", "acos", "sinh", "cosh", "asinh", "acosh", "atanh",
    "log1p", "expm1", "log2", "log10", "exp2", "reciprocal", "rsqrt",
    "sign", "floor", "ceil", "round", "trunc", "frac",
    "erf", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
    "softplus", "gelu", "silu",
    "softmax", "log_softmax", "cumsum",
    # comparisons and logic (bool results)
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
    "less_equal", "not_equal", "logical_not", "logical_and", "logical_or",
    "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "isnan", "isinf", "isfinite",
    # reductions
    "sum", "mean", "max", "min", "amax", "amin", "var", "std", "argmax",
    "argmin", "return_types", "prod", "logsumexp", "cumprod", "cummax",
    "cummin", "norm", "all", "any", "count_nonzero", "nansum", "nanmean",
    "sort", "argsort", "topk", "median", "quantile",
    # shapes
    "reshape", "permute", "transpose", "swapaxes", "expand_dims",
    "unsqueeze", "squeeze", "flatten", "broadcast_to", "concatenate", "cat",
    "stack",
    "split", "chunk", "unbind", "unflatten", "tile", "repeat_interleave",
    "flip", "roll", "tril", "triu", "diag", "diagonal", "narrow", "movedim",
    "moveaxis",
    # indexing
    "index_select", "gather", "take_along_dim", "scatter", "scatter_add",
    "masked_fill", "masked_select", "nonzero",
    # linear algebra and losses
    "t", "equal", "allclose", "isclose", "numel", "is_tensor",
    "matmul", "dot", "linear", "mm", "mv", "bmm", "outer", "addmm",
    "lerp", "addcmul", "addcdiv", "einsum", "tensordot", "trace", "det",
    "inverse",
    "mse_loss", "l1_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
    # engine control
    "is_grad_enabled", "set_grad_enabled", "memory_stats", "empty_cache",
    "no_grad", "enable_grad", "set_num_threads", "get_num_threads",
    "set_flush_denormal",
    # subpackages and modules
    "nn", "optim", "autograd", "cuda", "linalg", "functional", "checkpoint",
    "trainer", "metrics", "callbacks", "data",
    # autograd
    "Function", "FunctionCtx",
    "grad", "value_and_grad", "elementwise_grad", "jacobian", "hessian",
    "vjp", "jvp", "hvp",
    "numerical_grad", "gradcheck", "gradgradcheck", "GradcheckError",
    # saving, compiling, training
    "save", "load",
    "compile", "CompiledFunction", "NotCompilableError",
    "Trainer", "History", "Callback", "EarlyStopping", "LRSchedulerCallback",
    "ModelCheckpoint",
]

from . import _docs
_docs.attach(globals())
del _docs
