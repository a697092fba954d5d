"""torch.nn.functional's losses.  Fused in C (one op each, forward and
backward side by side): cross_entropy / nll_loss over class labels (the
nll op: weight, ignore_index, label_smoothing, (N, C, d1, ...) inputs),
binary_cross_entropy(_with_logits), huber_loss and smooth_l1_loss (the
elementwise loss op; mse / l1 are engine entry points).  Composed of
recorded ops (so differentiable to any order and replayed by ad.compile):
probability targets, the BCE weight and pos_weight, kl_div,
poisson_nll_loss, gaussian_nll_loss, the margin and embedding losses,
cosine_similarity, normalize, pairwise_distance.  Every argument check
runs before the first op.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._capture import ArrayInput
from ._dtypes import dtype_code
from . import _engine as E
from ._engine import Tensor, _nll, _operand, _reshape, _t, log_softmax
from ._creation import arange, full_like, tensor
from ._grad_mode import no_grad
from ._reductions import vector_norm
from ._shape_ops import take_along_dim

if TYPE_CHECKING:
    from ._engine import _Reduction, _TensorLike

__all__ = ["cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "huber_loss",
           "smooth_l1_loss", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "cosine_embedding_loss",
           "margin_ranking_loss", "triplet_margin_loss",
           "hinge_embedding_loss", "multi_margin_loss", "soft_margin_loss",
           "cosine_similarity", "normalize", "pairwise_distance"]

_REDUCTIONS = ("mean", "sum", "none")
_INT64 = np.dtype(np.int64)


def _reduction(reduction: Any, size_average: Any = None, reduce: Any = None,
               allowed: tuple = _REDUCTIONS) -> str:
    """torch's reduction argument, checked; the deprecated size_average /
    reduce pair, when given, decides it as torch's legacy_get_string."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return "mean" if reduce and size_average else (
            "sum" if reduce else "none")
    if reduction not in allowed:
        raise ValueError("reduction must be %s, got %r" % (
            ", ".join("'%s'" % r for r in allowed[:-1]) + " or '%s'"
            % allowed[-1], reduction))
    return reduction


def _reduce(per: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per.mean()
    return per.sum() if reduction == "sum" else per


def _shape_check(name: str, what: str, a: Tensor, b: Tensor) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError("%s: input of shape %s and %s of shape %s must "
                         "have the same shape" % (name, tuple(a.shape), what,
                                                  tuple(b.shape)))


def _broadcasts(name: str, what: str, w: Tensor, shape: tuple) -> None:
    try:
        ok = np.broadcast_shapes(tuple(w.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("%s: %s of shape %s does not broadcast to the "
                         "input's shape %s" % (name, what, tuple(w.shape),
                                               tuple(shape)))


def _clamped_value(t: Tensor, lo: float) -> Tensor:
    """t with its values clamped below at lo but its gradient t's
    (torch's ``with no_grad(): t.clamp_(min=lo)`` on a clone)."""
    d = t.detach()
    return t + (E.clip(d, lo, None) - d)


def _shape_error(name: str, shape: tuple, got: tuple) -> ValueError:
    if len(shape) == 1 and len(got) == 1:
        return ValueError("%s: expected input batch_size (%d) to match "
                          "target batch_size (%d)" % (name, shape[0],
                                                      got[0]))
    return ValueError("%s: expected class labels of shape %s, got %s"
                      % (name, shape, got))


def _labels_for(target: Any, x: Tensor, name: str) -> Any:
    """_labels of the shape x (N, C, d1, ...) takes: (N, d1, ...)."""
    shape = (x.shape[0],) + tuple(x.shape[2:])
    try:
        return _labels(target, shape, name)
    except ValueError as e:
        if "shape" not in str(e):
            raise
        raise ValueError("%s (input of shape %s)" % (e, tuple(x.shape))) \
            from None


def _labels(target: Any, shape: tuple, name: str) -> Any:
    """target as int64 class labels of the given shape, checked: integral
    values only, in the int64 range.  An int64 tensor is returned as it is
    (the engine reads it and checks the range)."""
    if type(target) is ArrayInput:
        # an argument of a compiled function: its int64 buffer is a
        # registered input, so the engine reads each call's labels
        arr = target.labels(name)
        if tuple(target.shape) != shape and arr.shape != shape:
            raise _shape_error(name, shape, tuple(target.shape))
        return arr
    if isinstance(target, Tensor):
        if target.dtype == _INT64:
            # read by the engine (the C op checks the range on every run),
            # so a compiled step reads each call's labels
            if tuple(target.shape) != shape:
                raise _shape_error(name, shape, tuple(target.shape))
            return target
        arr = target.numpy()
    else:
        arr = np.asarray(target)
    if arr.dtype.kind == "f":
        flat = arr.reshape(-1)
        bad = np.flatnonzero(flat != np.round(flat))
        if bad.size:
            raise ValueError("%s: class labels must be integers, got %r "
                             "(sample %d)" % (name, flat[bad[0]].item(),
                                              bad[0]))
        # checked before the cast, which would wrap 1e30 or inf to an
        # arbitrary (often negative) int64
        bad = np.flatnonzero(np.abs(flat) >= 2.0 ** 63)
        if bad.size:
            raise IndexError("%s: target %r is out of bounds (sample %d)"
                             % (name, flat[bad[0]].item(), bad[0]))
    elif arr.dtype.kind == "u" and arr.size and arr.max() >= 2 ** 63:
        raise IndexError("%s: target %d is out of bounds" % (name,
                                                             arr.max()))
    elif arr.dtype.kind not in "iub":
        raise TypeError("%s: class labels must be integers, got dtype %s"
                        % (name, arr.dtype))
    if arr.shape != shape:
        raise _shape_error(name, shape, arr.shape)
    return np.ascontiguousarray(arr, dtype=np.int64)


def _class_weight(weight: Any, x: Tensor, name: str) -> Any:
    """weight None, or (C,) of x's dtype."""
    if weight is None:
        return None
    w = _operand(weight, dtype_code(x.dtype))
    if w.ndim != 1 or w.shape[0] != x.shape[1]:
        raise ValueError("%s: expected weight of shape (%d,) (one per "
                         "class), got %s" % (name, x.shape[1],
                                             tuple(w.shape)))
    return w


def _is_prob_target(target: Any, shape: tuple) -> bool:
    """torch's rule: a floating target of the input's shape holds class
    probabilities."""
    if isinstance(target, (Tensor, ArrayInput, np.ndarray)):
        return (np.dtype(target.dtype).kind == "f"
                and tuple(target.shape) == shape)
    return False


def _nll_loss(input: Any, target: Any, weight: Any, ignore: Any,
              reduction: Any, label_smoothing: Any, from_logits: int,
              name: str) -> Tensor:
    try:
        ignore = operator.index(ignore)
    except TypeError:
        raise TypeError("%s: ignore_index must be an integer, got %r"
                        % (name, ignore)) from None
    if not -2 ** 63 <= ignore < 2 ** 63:    # would raise OverflowError
        raise ValueError("%s: ignore_index %d is out of the int64 range"
                         % (name, ignore))
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError("%s: label_smoothing must be between 0.0 and 1.0, "
                         "got %r" % (name, label_smoothing))
    x = _t(input)
    if x.ndim == 0:
        raise ValueError("%s: expected input of shape (N, C), (C,) or (N, "
                         "C, d1, ...), got a 0-d tensor" % name)
    prob = from_logits and _is_prob_target(target, tuple(x.shape))
    if (from_logits and not prob and isinstance(target, (Tensor, np.ndarray))
            and target.dtype.kind == "f" and target.ndim == x.ndim):
        raise ValueError("%s: probability target of shape %s does not match "
                         "input %s" % (name, tuple(target.shape),
                                       tuple(x.shape)))
    single = x.ndim == 1
    if single:
        x = _reshape(x, (1, x.shape[0]))
    w = _class_weight(weight, x, name)
    if prob:
        # class probabilities: torch's composition (recorded ops)
        p = _operand(target, dtype_code(x.dtype))
        if single:
            p = _reshape(p, tuple(x.shape))
        c = x.shape[1]
        if eps > 0:
            p = p * (1 - eps) + eps / c
        prod = log_softmax(x, 1) * p
        if w is not None:
            prod = prod * _reshape(w, (c,) + (1,) * (x.ndim - 2))
        if reduction == "none":
            per = -prod.sum(1)
            return _reshape(per, ()) if single else per
        total = -prod.sum()
        # torch's: divided by N d1 d2 ... (NaN for an empty input)
        return (total / float(x.size // c if c else 0)
                if reduction == "mean" else total)
    if single and np.ndim(target) == 0 and not isinstance(
            target, (Tensor, ArrayInput)):
        target = [target]
    elif single and isinstance(target, Tensor) and target.ndim == 0:
        target = _reshape(target, (1,))
    labels = _labels_for(target, x, name)
    per = _nll(x, labels, ignore, from_logits, reduction, w, eps)
    if single and reduction == "none":
        return _reshape(per, ())
    return per


def cross_entropy(input: _TensorLike, target: _TensorLike,
                  weight: Any = None, size_average: Any = None,
                  ignore_index: int = -100, reduce: Any = None,
                  reduction: _Reduction = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """torch.nn.functional.cross_entropy: softmax cross-entropy of logits.

    Parameters
    ----------
    input : Tensor
        Logits of shape (N, C), (C,) or (N, C, d1, d2, ...).
    target : Tensor or array
        Class labels (int64) of shape (N,), () or (N, d1, d2, ...), or
        class probabilities (float) of the input's shape.
    weight : Tensor, optional
        (C,) class weights; the mean divides by the sum of the weights of
        the labels taken (probability targets: by N d1 d2 ...).
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing (class-label targets only).
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float
        In [0, 1]: the target mixed with the uniform distribution.
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _nll_loss(input, target, weight, ignore_index, reduction,
                     label_smoothing, 1, "cross_entropy")


def nll_loss(input: _TensorLike, target: _TensorLike, weight: Any = None,
             size_average: Any = None, ignore_index: int = -100,
             reduce: Any = None, reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.nll_loss: negative log-likelihood.

    Parameters
    ----------
    input : Tensor
        Log-probabilities of shape (N, C), (C,) or (N, C, d1, ...).
    target : Tensor or array
        int64 class labels of shape (N,), () or (N, d1, ...).
    weight : Tensor, optional
        (C,) class weights; the mean divides by the sum of the weights of
        the labels taken.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _nll_loss(input, target, weight, ignore_index, reduction, 0.0, 0,
                     "nll_loss")


# ----------------------------------------------------- binary cross-entropy

def _elementwise_weight(name: str, x: Tensor, weight: Any,
                        what: str = "weight") -> Any:
    if weight is None:
        return None
    w = _operand(weight, dtype_code(x.dtype))
    _broadcasts(name, what, w, tuple(x.shape))
    return w


def binary_cross_entropy(input: _TensorLike, target: _TensorLike,
                         weight: Any = None, size_average: Any = None,
                         reduce: Any = None,
                         reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.binary_cross_entropy: -(t log p + (1 - t)
    log(1 - p)), the logs clamped at -100 as torch's.

    Parameters
    ----------
    input : Tensor
        Probabilities in [0, 1].
    target : Tensor or array
        Of the input's shape.
    weight : Tensor, optional
        Multiplies each element's loss; broadcasts to the input's shape.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    x = _t(input)
    w = _elementwise_weight("binary_cross_entropy", x, weight)
    if w is None:
        return E.binary_cross_entropy(x, target, reduction)
    return _reduce(E.binary_cross_entropy(x, target, "none") * w, reduction)


def binary_cross_entropy_with_logits(
        input: _TensorLike, target: _TensorLike, weight: Any = None,
        size_average: Any = None, reduce: Any = None,
        reduction: _Reduction = "mean", pos_weight: Any = None) -> Tensor:
    """torch.nn.functional.binary_cross_entropy_with_logits: the BCE of
    sigmoid(input), computed stably from the logits.

    Parameters
    ----------
    input : Tensor
        Logits.
    target : Tensor or array
        Of the input's shape.
    weight : Tensor, optional
        Multiplies each element's loss; broadcasts to the input's shape.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : Tensor, optional
        Weight of the positive term, broadcast over the input (one per
        class: the last dim).
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _reduction(reduction, size_average, reduce)
    x = _t(input)
    w = _elementwise_weight(name, x, weight)
    pw = _elementwise_weight(name, x, pos_weight, "pos_weight")
    if pw is None:
        per = E.binary_cross_entropy_with_logits(
            x, target, "none" if w is not None else reduction)
        if w is None:
            return per
    else:
        # torch's formula, composed: (1 - t) x - (1 + (pw - 1) t) logsig(x)
        t = _operand(target, dtype_code(x.dtype))
        _shape_check(name, "target", x, t)
        per = (1 - t) * x - ((pw - 1) * t + 1) * E.logsigmoid(x)
    return _reduce(per if w is None else per * w, reduction)


# ------------------------------------------------------ huber and smooth L1

def _pair(name: str, input: Any, target: Any) -> tuple:
    x = _t(input)
    t = _operand(target, dtype_code(x.dtype))
    _shape_check(name, "target", x, t)
    return x, t


def huber_loss(input: _TensorLike, target: _TensorLike,
               reduction: _Reduction = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """torch.nn.functional.huber_loss: 0.5 d^2 where |d| < delta, else
    delta (|d| - 0.5 delta), d = input - target (fused in C).

    Parameters
    ----------
    input, target : Tensor
        Of one shape.
    reduction : {'mean', 'sum', 'none'}
    delta : float
        Where the quadratic turns linear; positive.
    weight : Tensor, optional
        Of the input's shape; multiplies each element's loss.
    """
    name = "huber_loss"
    reduction = _reduction(reduction)
    if not delta > 0:
        raise ValueError("huber_loss does not support non-positive values "
                         "for delta, got %r" % (delta,))
    x, t = _pair(name, input, target)
    if weight is None:
        return E._loss_a("huber", x, t, float(delta), reduction)
    w = _operand(weight, dtype_code(x.dtype))
    _shape_check(name, "weight", x, w)
    return _reduce(E._loss_a("huber", x, t, float(delta), "none") * w,
                   reduction)


def smooth_l1_loss(input: _TensorLike, target: _TensorLike,
                   size_average: Any = None, reduce: Any = None,
                   reduction: _Reduction = "mean",
                   beta: float = 1.0) -> Tensor:
    """torch.nn.functional.smooth_l1_loss: 0.5 d^2 / beta where |d| <
    beta, else |d| - 0.5 beta (fused in C; beta = 0 is the L1 loss).

    Parameters
    ----------
    input, target : Tensor
        Of one shape.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    beta : float
        Where the quadratic turns linear; non-negative.
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not beta >= 0:
        raise ValueError("smooth_l1_loss does not support negative values "
                         "for beta, got %r" % (beta,))
    x, t = _pair("smooth_l1_loss", input, target)
    if beta == 0:
        return E.l1_loss(x, t, reduction)
    return E._loss_a("smooth_l1", x, t, float(beta), reduction)


# ------------------------------------------- compositions of recorded ops

def kl_div(input: _TensorLike, target: _TensorLike, size_average: Any = None,
           reduce: Any = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """torch.nn.functional.kl_div: target (log(target) - input) pointwise,
    input log-probabilities (composed: xlogy, exp).

    Parameters
    ----------
    input : Tensor
        Log-probabilities.
    target : Tensor
        Probabilities (log-probabilities with log_target), of the
        input's shape.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'batchmean', 'sum', 'none'}
        'batchmean' divides the sum by the batch size (input.shape[0]).
    log_target : bool
        Whether target holds log-probabilities.
    """
    reduction = _reduction(reduction, size_average, reduce,
                           ("mean", "batchmean", "sum", "none"))
    x, t = _pair("kl_div", input, target)
    per = t.exp() * (t - x) if log_target else E.xlogy(t, t) - t * x
    if reduction == "batchmean":
        total = per.sum()
        return total / x.shape[0] if x.ndim else total
    return _reduce(per, reduction)


def poisson_nll_loss(input: _TensorLike, target: _TensorLike,
                     log_input: bool = True, full: bool = False,
                     size_average: Any = None, eps: float = 1e-8,
                     reduce: Any = None,
                     reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.poisson_nll_loss (composed).

    Parameters
    ----------
    input : Tensor
        The rate's log (log_input) or the rate.
    target : Tensor
        Counts, of the input's shape.
    log_input : bool
        exp(input) - target input if True, else input - target
        log(input + eps).
    full : bool
        Adds the Stirling term target log(target) - target + 0.5 log(2 pi
        target) where target > 1.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    eps : float
        Keeps log(input + eps) finite when not log_input.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _pair("poisson_nll_loss", input, target)
    per = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        st = t * t.log() - t + 0.5 * (2 * np.pi * t).log()
        per = per + E.where(t > 1, st, 0.0)
    return _reduce(per, reduction)


def gaussian_nll_loss(input: _TensorLike, target: _TensorLike, var: Any,
                      full: bool = False, eps: float = 1e-6,
                      reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.gaussian_nll_loss: 0.5 (log(var) + (input -
    target)^2 / var), var clamped at eps for the value (composed).

    Parameters
    ----------
    input, target : Tensor
        Of one shape.
    var : Tensor or float
        Variances: of the input's shape, or one dim short of it, or with
        one dim of size 1 (homoscedastic); non-negative.
    full : bool
        Adds 0.5 log(2 pi).
    eps : float
        The clamp of var.
    reduction : {'mean', 'sum', 'none'}
    """
    x, t = _pair("gaussian_nll_loss", input, target)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("gaussian_nll_loss: var has negative "
                             "entry/entries")
        v = full_like(x, float(var))
    else:
        v = _operand(var, dtype_code(x.dtype))
        if tuple(v.shape) != tuple(x.shape):
            if tuple(v.shape) == tuple(x.shape[:-1]):
                v = _reshape(v, tuple(v.shape) + (1,))
            elif not (v.ndim == x.ndim and sum(
                    b for a, b in zip(x.shape, v.shape) if a != b) == 1):
                raise ValueError("gaussian_nll_loss: var of shape %s is of "
                                 "incorrect size for input of shape %s"
                                 % (tuple(v.shape), tuple(x.shape)))
        with no_grad():
            # torch's check reads the values: ad.compile refuses it
            # (NotCompilableError) rather than replay without it
            negative = bool((v < 0).any())
        if negative:
            raise ValueError("gaussian_nll_loss: var has negative "
                             "entry/entries")
    reduction = _reduction(reduction)
    v = _clamped_value(v, eps)
    per = 0.5 * (v.log() + (x - t) ** 2 / v)
    if full:
        per = per + 0.5 * float(np.log(2 * np.pi))
    return _reduce(per, reduction)


def _signs(name: str, target: Any, x: Tensor, shape: tuple) -> Tensor:
    t = _operand(target, dtype_code(x.dtype))
    if tuple(t.shape) != shape:
        raise ValueError("%s: expected target of shape %s, got %s"
                         % (name, shape, tuple(t.shape)))
    return t


def cosine_embedding_loss(input1: _TensorLike, input2: _TensorLike,
                          target: _TensorLike, margin: float = 0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.cosine_embedding_loss: 1 - cos(x1, x2) where
    target is 1, max(0, cos - margin) where it is -1 (composed).

    Parameters
    ----------
    input1, input2 : Tensor
        (N, D) or (D,).
    target : Tensor
        (N,) or () of 1 and -1.
    margin : float
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    name = "cosine_embedding_loss"
    reduction = _reduction(reduction, size_average, reduce)
    x1, x2 = _t(input1), _t(input2)
    if x1.ndim not in (1, 2) or tuple(x1.shape) != tuple(x2.shape):
        raise ValueError("%s: expected inputs of one shape (N, D) or (D,), "
                         "got %s and %s" % (name, tuple(x1.shape),
                                            tuple(x2.shape)))
    t = _signs(name, target, x1, tuple(x1.shape[:-1]))
    d = x1.ndim - 1
    prod = (x1 * x2).sum(d)
    m1 = (x1 * x1).sum(d) + 1e-12
    m2 = (x2 * x2).sum(d) + 1e-12
    cos = prod / (m1 * m2).sqrt()
    per = (E.where(t == 1, 1 - cos, 0.0)
           + E.where(t == -1, E.clip(cos - margin, 0.0, None), 0.0))
    return _reduce(per, reduction)


def margin_ranking_loss(input1: _TensorLike, input2: _TensorLike,
                        target: _TensorLike, margin: float = 0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.margin_ranking_loss: max(0, -target (input1 -
    input2) + margin) (composed).

    Parameters
    ----------
    input1, input2, target : Tensor
        Of one shape; target of 1 and -1.
    margin : float
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    name = "margin_ranking_loss"
    reduction = _reduction(reduction, size_average, reduce)
    x1, x2 = _t(input1), _t(input2)
    t = _operand(target, dtype_code(x1.dtype))
    if not (tuple(x1.shape) == tuple(x2.shape) == tuple(t.shape)):
        raise ValueError("%s: input1, input2 and target must have one "
                         "shape, got %s, %s and %s" % (
                             name, tuple(x1.shape), tuple(x2.shape),
                             tuple(t.shape)))
    return _reduce(E.clip(-t * (x1 - x2) + margin, 0.0, None), reduction)


def hinge_embedding_loss(input: _TensorLike, target: _TensorLike,
                         margin: float = 1.0, size_average: Any = None,
                         reduce: Any = None,
                         reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.hinge_embedding_loss: input where target is 1,
    max(0, margin - input) where it is -1 (composed).

    Parameters
    ----------
    input : Tensor
    target : Tensor
        Of the input's shape, 1 and -1.
    margin : float
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _pair("hinge_embedding_loss", input, target)
    per = (E.where(t != 1, E.clip(margin - x, 0.0, None), 0.0)
           + E.where(t != -1, x, 0.0))
    return _reduce(per, reduction)


def soft_margin_loss(input: _TensorLike, target: _TensorLike,
                     size_average: Any = None, reduce: Any = None,
                     reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.soft_margin_loss: log(1 + exp(-target input))
    (composed).

    Parameters
    ----------
    input : Tensor
    target : Tensor
        Of the input's shape, 1 and -1.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    x, t = _pair("soft_margin_loss", input, target)
    return _reduce((-x * t).exp().log1p(), reduction)


def multi_margin_loss(input: _TensorLike, target: _TensorLike, p: int = 1,
                      margin: float = 1.0, weight: Any = None,
                      size_average: Any = None, reduce: Any = None,
                      reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.multi_margin_loss: per sample, sum over the
    classes j != y of w[y] max(0, margin - x[y] + x[j])^p / C (composed:
    the label's logit by take_along_dim of the int64 labels).

    Parameters
    ----------
    input : Tensor
        (N, C) or (C,).
    target : Tensor
        int64 labels (N,) or ().
    p : int
        1 or 2.
    margin : float
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    name = "multi_margin_loss"
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("%s: only p == 1 and p == 2 supported, got %r"
                         % (name, p))
    x = _t(input)
    if x.ndim not in (1, 2):
        raise ValueError("%s: expected input of shape (N, C) or (C,), got "
                         "%s" % (name, tuple(x.shape)))
    single = x.ndim == 1
    x2 = _reshape(x, (1, x.shape[0])) if single else x
    n, c = x2.shape
    w = _class_weight(weight, x2, name)
    lab = _labels(target, () if single else (n,), name)
    if type(target) is ArrayInput:
        # a compiled function's argument: the tensor a replay refills
        lab = tensor(target, dtype=np.int64)
    elif not isinstance(lab, Tensor):
        bad = np.flatnonzero((lab < 0) | (lab >= c))
        if bad.size:
            raise IndexError("%s: target %d is out of bounds for %d classes"
                             % (name, lab.reshape(-1)[bad[0]], c))
        lab = tensor(lab)
    lab = _reshape(lab, (n, 1))
    xy = take_along_dim(x2, lab, 1)
    z = E.clip(margin - xy + x2, 0.0, None)
    if p == 2:
        z = z * z
    if w is not None:
        z = z * _reshape(take_along_dim(w, _reshape(lab, (n,)), 0),
                         (n, 1))
    z = E.where(arange(c) != lab, z, 0.0)
    per = z.sum(1) / c
    if single:
        per = _reshape(per, ())
    return _reduce(per, reduction)


def _triple_dims(a: Tensor, b: Tensor, c: Tensor) -> None:
    if not (a.ndim == b.ndim == c.ndim):
        raise ValueError("triplet_margin_loss: The anchor, positive, and "
                         "negative tensors are expected to have the same "
                         "number of dimensions, but got: anchor %dD, "
                         "positive %dD, and negative %dD inputs"
                         % (a.ndim, b.ndim, c.ndim))


def pairwise_distance(x1: _TensorLike, x2: _TensorLike, p: float = 2.0,
                      eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """torch.nn.functional.pairwise_distance: the p-norm of x1 - x2 + eps
    over the last dim (composed).

    Parameters
    ----------
    x1, x2 : Tensor
        Broadcastable, (N, D) or (D,).
    p : float
        The norm's order.
    eps : float
        Added to the difference (no zero norm).
    keepdim : bool
        Keep the reduced dim.
    """
    a, b = _t(x1), _t(x2)
    d = a - b + eps
    dim = max(a.ndim, b.ndim) - 1
    if d.ndim == 0:
        return vector_norm(d, p, None, keepdim)
    return vector_norm(d, p, max(dim, 0), keepdim)


def triplet_margin_loss(anchor: _TensorLike, positive: _TensorLike,
                        negative: _TensorLike, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average: Any = None, reduce: Any = None,
                        reduction: _Reduction = "mean") -> Tensor:
    """torch.nn.functional.triplet_margin_loss: max(0, margin + d(a, p) -
    d(a, n)), d pairwise_distance (composed).

    Parameters
    ----------
    anchor, positive, negative : Tensor
        (N, D) or (D,), of one number of dims.
    margin : float
    p : float
        The norm's order.
    eps : float
        pairwise_distance's.
    swap : bool
        Use min(d(a, n), d(p, n)) as the negative distance.
    size_average, reduce : bool, optional
        Deprecated (torch's); when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """
    reduction = _reduction(reduction, size_average, reduce)
    a, pos, neg = _t(anchor), _t(positive), _t(negative)
    _triple_dims(a, pos, neg)
    dp = pairwise_distance(a, pos, p, eps)
    dn = pairwise_distance(a, neg, p, eps)
    if swap:
        dn = E.minimum(dn, pairwise_distance(pos, neg, p, eps))
    return _reduce(E.clip(margin + dp - dn, 0.0, None), reduction)


def cosine_similarity(x1: _TensorLike, x2: _TensorLike, dim: int = 1,
                      eps: float = 1e-8) -> Tensor:
    """torch.nn.functional.cosine_similarity along dim: torch's sum of
    (x1 / |x1|) (x2 / |x2|), each norm's value clamped at eps (composed).

    Parameters
    ----------
    x1, x2 : Tensor
        Broadcastable.
    dim : int
        The dim of the vectors.
    eps : float
        Smallest norm.
    """
    a, b = _t(x1), _t(x2)
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    a, b = E.broadcast_to(a, shape), E.broadcast_to(b, shape)
    na = _clamped_value(vector_norm(a, 2, dim, True), eps)
    nb = _clamped_value(vector_norm(b, 2, dim, True), eps)
    return ((a / na) * (b / nb)).sum(dim)


def normalize(input: _TensorLike, p: float = 2.0, dim: int = 1,
              eps: float = 1e-12, out: Any = None) -> Tensor:
    """torch.nn.functional.normalize: input / max(|input|_p, eps) over
    dim (composed).

    Parameters
    ----------
    input : Tensor
    p : float
        The norm's order.
    dim : int
        The dim of the vectors.
    eps : float
        Smallest divisor.
    out : None
        Not supported (must be None).
    """
    if out is not None:
        raise TypeError("normalize: out= is not supported")
    x = _t(input)
    return x / E.clip(vector_norm(x, p, dim, True), eps, None)
