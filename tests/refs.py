"""numpy references of the ops and their constants, each written once.

Every function takes and returns float64 numpy arrays.  They are the
independent side of the forward checks (test_ops.py, the fuzz graphs of
fuzz_helpers.py, test_nn.py), so they use numpy (or math) only, never
autodiff.
"""
import math

import numpy as np

# SELU's constants (Klambauer et al. 2017), to 32 significant digits; the
# strings feed sympy's 40-digit Floats.
SELU_ALPHA_STR = "1.6732632423543772848170429916717"
SELU_SCALE_STR = "1.0507009873554804934193349852946"
SELU_ALPHA = float(SELU_ALPHA_STR)
SELU_SCALE = float(SELU_SCALE_STR)

LEAKY_RELU_SLOPE = 0.01          # the default negative_slope
SOFTPLUS_BETA, SOFTPLUS_THRESHOLD = 1.0, 20.0
IGNORE_INDEX = -100              # cross_entropy / nll_loss default


# ------------------------------------------------------------ elementwise

def np_sigmoid(x):
    """1 / (1 + e^-x): accurate in both tails (0.5 (1 + tanh(x/2)) is not
    in the lower one), exact at +-inf."""
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def np_erf(x):
    return _erf(x) if np.size(x) else np.zeros(np.shape(x))


def np_rsqrt(x):
    return 1.0 / np.sqrt(x)


def np_sign(x):
    """torch.sign: 0 for NaN (numpy's sign keeps it)."""
    x = np.asarray(x)
    return np.where(np.isnan(x), 0, np.sign(x)).astype(x.dtype)


def np_frac(x):
    """torch.frac: x - trunc(x), with the sign of x; NaN at +-inf."""
    x = np.asarray(x)
    with np.errstate(invalid="ignore"):
        return x - np.trunc(x)


def np_hardsigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


def np_hardswish(x):
    with np.errstate(invalid="ignore"):
        return x * np.clip(x + 3, 0, 6) / 6        # -inf * 0: NaN, as torch


def np_mish(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return x * np.tanh(np.log1p(np.exp(x)))


def np_logsigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def np_softsign(x):
    with np.errstate(invalid="ignore"):
        return x / (1 + np.abs(x))                  # inf / inf: NaN, as torch


def np_tanhshrink(x):
    return x - np.tanh(x)


def np_celu(x, alpha=1.0):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(x / alpha))


def np_relu(x):
    return np.maximum(x, 0)


def np_leaky_relu(x, slope=LEAKY_RELU_SLOPE):
    return np.where(x > 0, x, slope * x)


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def np_selu(x):
    return SELU_SCALE * np.where(x > 0, x,
                                 SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def np_softplus(x, beta=SOFTPLUS_BETA, threshold=SOFTPLUS_THRESHOLD):
    return np.where(beta * x > threshold, x,
                    np.log1p(np.exp(np.minimum(beta * x, threshold))) / beta)


def np_gelu(x):
    return 0.5 * x * (1 + np_erf(x / np.sqrt(2)))


def np_silu(x):
    return x * np_sigmoid(x)


def np_clip(x, lo=None, hi=None):
    return np.clip(x, -np.inf if lo is None else lo,
                   np.inf if hi is None else hi)


# ------------------------------------------------------- softmax family

def np_log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    if x.ndim == 0:
        return np_log_softmax(x.reshape(1), 0).reshape(())
    if x.size == 0:
        return x.copy()
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def np_softmax(x, axis=-1):
    return np.exp(np_log_softmax(x, axis))


# ------------------------------------------------------------ reductions

def np_var(x, axis=None, keepdims=False, ddof=0):
    return np.var(x, axis=axis, keepdims=keepdims, ddof=ddof)


def np_std(x, axis=None, keepdims=False, ddof=0):
    return np.std(x, axis=axis, keepdims=keepdims, ddof=ddof)


# ---------------------------------------------------------------- losses

def np_reduce_loss(v, reduction="mean"):
    if reduction == "none":
        return v
    return np.sum(v) if reduction == "sum" else np.mean(v)


def np_mse(p, t):
    return (p - t) ** 2


def np_l1(p, t):
    return np.abs(p - t)


def np_huber(p, t, delta=1.0):
    z = np.abs(p - t)
    return np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


def np_smooth_l1(p, t, beta=1.0):
    z = np.abs(p - t)
    return np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)


def np_bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def np_bce_logits(x, t):
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def np_class_loss(x, labels, reduction="mean", ignore_index=IGNORE_INDEX,
                  logits=True):
    """cross_entropy (logits=True) or nll_loss (False) with integer labels;
    x is (N, C), or (C,) with one label."""
    x = np.asarray(x, np.float64)
    single = x.ndim == 1
    labels = np.asarray(labels)
    if single:
        x, labels = x[None], labels.reshape(1)
    lp = np_log_softmax(x, 1) if logits else x
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    per = -lp[np.arange(len(labels)), safe] * keep
    if reduction == "none":
        return per.reshape(()) if single else per
    if reduction == "sum":
        return per.sum()
    return per.sum() / keep.sum()


def np_cross_entropy(x, labels, reduction="mean",
                     ignore_index=IGNORE_INDEX):
    return np_class_loss(x, labels, reduction, ignore_index, logits=True)


def np_nll(x, labels, reduction="mean", ignore_index=IGNORE_INDEX):
    return np_class_loss(x, labels, reduction, ignore_index, logits=False)


def np_cross_entropy_probs(x, p, reduction="mean"):
    return np_reduce_loss(-(p * np_log_softmax(x, 1)).sum(1), reduction)


# ------------------------------------------------------------------ misc

def np_linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b
