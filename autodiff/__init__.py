"""autodiff: reverse-mode automatic differentiation on a compiled C tape.

    import autodiff as ad
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 2 + 3 * x + 2).sum()
    y.backward()
    x.grad          # 2x + 3 at each point
"""
from ._engine import (
    Tensor, float32, float64,
    tensor, from_numpy, zeros, ones, full, zeros_like, ones_like, full_like,
    arange, linspace, eye, randn, rand, manual_seed,
    add, subtract, multiply, divide, power, negative,
    exp, log, sqrt, abs, sin, cos, square, clip, clamp, maximum, minimum,
    where,
    erf, sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, gelu, silu,
    softmax, log_softmax,
    sum, mean, max, min, amax, amin, var, std,
    reshape, permute, transpose, swapaxes, expand_dims, unsqueeze, squeeze,
    flatten, broadcast_to, concatenate, cat, stack,
    matmul, dot, linear,
    mse_loss, l1_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits, cross_entropy, nll_loss,
    is_grad_enabled, set_grad_enabled, memory_stats, empty_cache,
)
from ._grad_mode import no_grad, enable_grad
from . import nn, optim, autograd
from .autograd import Function, FunctionCtx
from .functional import (grad, value_and_grad, elementwise_grad, jacobian,
                         hessian, vjp, jvp, hvp)
from .gradcheck import (numerical_grad, gradcheck, gradgradcheck,
                        GradcheckError)
from .checkpoint import save, load
from .compile import compile, CompiledFunction, NotCompilableError
from .trainer import (Trainer, History, Callback, EarlyStopping,
                      LRSchedulerCallback, ModelCheckpoint)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
