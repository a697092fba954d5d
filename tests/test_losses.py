"""torch.nn.functional's losses with their options, against torch: every
loss x option set x reduction in float64 (1e-9 relative) and float32
(torch's default tolerances), value and input gradients; gradcheck
against central differences; gradgradcheck where the loss is twice
differentiable; compiled steps of the fused ones replay bit for bit; the
modules' constructors and reprs; bad arguments."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import lazy_torch

torch = lazy_torch()
tnn = lazy_torch("torch.nn")
TF = lazy_torch("torch.nn.functional")

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float64, np.float32]


def _tol(dt):
    # float64: 1e-9 relative; float32: torch.testing's defaults
    return (dict(rtol=1e-9, atol=1e-12) if dt == np.float64
            else dict(rtol=1.3e-6, atol=1e-5))


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _labels(rng, c, shape, ignore=None):
    y = rng.integers(0, c, size=shape)
    if ignore is not None and y.size > 1:
        y.reshape(-1)[1] = ignore
    return y


class Case:
    """One loss with one option set: make(rng, dt) -> (diff, const, kw):
    the differentiable arrays, the other positional arrays (labels,
    targets) and keyword arguments (arrays become tensors)."""

    def __init__(self, name, fn, make, reduces=True, twice=True,
                 fused=False, tag="", compiles=True):
        self.name, self.fn, self.make = name, fn, make
        self.reduces, self.twice, self.fused = reduces, twice, fused
        self.compiles = compiles
        self.id = name + ("[%s]" % tag if tag else "")


def _ce_labels(shape, **kw):
    ignore = kw.get("ignore_index", -100)

    def make(rng, dt):
        c = shape[1] if len(shape) > 1 else shape[0]
        lab_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
        x = rng.standard_normal(shape).astype(dt) * 2
        y = _labels(rng, c, lab_shape, ignore if lab_shape else None)
        opts = dict(kw)
        if opts.pop("weighted", False):
            opts["weight"] = rng.uniform(0.2, 2.0, c).astype(dt)
        return [x], [y], opts
    return make


def _ce_probs(shape, **kw):
    def make(rng, dt):
        x = rng.standard_normal(shape).astype(dt)
        p = _softmax(rng.standard_normal(shape), 1 if len(shape) > 1
                     else 0).astype(dt)
        opts = dict(kw)
        if opts.pop("weighted", False):
            opts["weight"] = rng.uniform(0.2, 2.0,
                                         shape[1] if len(shape) > 1
                                         else shape[0]).astype(dt)
        return [x], [p], opts
    return make


def _nll(shape, **kw):
    inner = _ce_labels(shape, **kw)

    def make(rng, dt):
        (x,), (y,), opts = inner(rng, dt)
        axis = 1 if x.ndim > 1 else 0
        lp = np.log(_softmax(x.astype(np.float64), axis)).astype(dt)
        return [lp], [y], opts
    return make


def _bce(weight=False):
    def make(rng, dt):
        x = rng.uniform(0.05, 0.95, (4, 3)).astype(dt)
        t = rng.uniform(0, 1, (4, 3)).astype(dt)
        kw = {"weight": rng.uniform(0.5, 2, 3).astype(dt)} if weight else {}
        return [x], [t], kw
    return make


def _bce_logits(weight=False, pos=False, shape=(4, 3)):
    def make(rng, dt):
        x = (rng.standard_normal(shape) * 3).astype(dt)
        t = rng.uniform(0, 1, shape).astype(dt)
        kw = {}
        if weight:
            kw["weight"] = rng.uniform(0.5, 2, shape[-1]).astype(dt)
        if pos:
            kw["pos_weight"] = rng.uniform(0.5, 3, shape[-1]).astype(dt)
        return [x], [t], kw
    return make


def _pair(shape=(4, 5), **kw):
    def make(rng, dt):
        a = (rng.standard_normal(shape) * 2).astype(dt)
        b = (rng.standard_normal(shape) * 2).astype(dt)
        opts = dict(kw)
        if opts.pop("weighted", False):
            opts["weight"] = rng.uniform(0.5, 2, shape).astype(dt)
        return [a, b], [], opts
    return make


def _kl(log_target):
    def make(rng, dt):
        x = np.log(_softmax(rng.standard_normal((4, 5)))).astype(dt)
        t = _softmax(rng.standard_normal((4, 5)))
        t = (np.log(t) if log_target else t).astype(dt)
        return [x, t], [], {"log_target": log_target}
    return make


def _poisson(log_input, full):
    def make(rng, dt):
        x = (rng.standard_normal((4, 3)) if log_input
             else rng.uniform(0.2, 3, (4, 3))).astype(dt)
        t = rng.integers(0, 5, (4, 3)).astype(dt)
        return [x], [t], {"log_input": log_input, "full": full}
    return make


def _gaussian(var_shape, full=False):
    def make(rng, dt):
        x = rng.standard_normal((4, 3)).astype(dt)
        t = rng.standard_normal((4, 3)).astype(dt)
        v = rng.uniform(0.3, 2, var_shape).astype(dt)
        return [x, t, v], [], {"full": full}
    return make


def _cos_embedding(margin):
    def make(rng, dt):
        a = rng.standard_normal((5, 4)).astype(dt)
        b = rng.standard_normal((5, 4)).astype(dt)
        return [a, b], [_signs(rng, 5).astype(dt)], {"margin": margin}
    return make


def _ranking(margin):
    def make(rng, dt):
        a = rng.standard_normal(6).astype(dt)
        b = rng.standard_normal(6).astype(dt)
        return [a, b], [_signs(rng, 6).astype(dt)], {"margin": margin}
    return make


def _triplet(**kw):
    def make(rng, dt):
        return [rng.standard_normal((5, 4)).astype(dt) for _ in range(3)], \
            [], dict(kw)
    return make


def _hinge(margin):
    def make(rng, dt):
        x = (rng.standard_normal((4, 3)) * 2).astype(dt)
        return [x], [_signs(rng, (4, 3)).astype(dt)], {"margin": margin}
    return make


def _soft_margin():
    def make(rng, dt):
        x = (rng.standard_normal((4, 3)) * 2).astype(dt)
        return [x], [_signs(rng, (4, 3)).astype(dt)], {}
    return make


def _multi_margin(shape=(5, 4), **kw):
    def make(rng, dt):
        x = rng.standard_normal(shape).astype(dt)
        y = rng.integers(0, shape[-1], shape[:-1])
        opts = dict(kw)
        if opts.pop("weighted", False):
            opts["weight"] = rng.uniform(0.5, 2, shape[-1]).astype(dt)
        return [x], [y], opts
    return make


def _two(shape, **kw):
    def make(rng, dt):
        return [rng.standard_normal(shape).astype(dt),
                rng.standard_normal(shape).astype(dt)], [], dict(kw)
    return make


def _one(shape, **kw):
    def make(rng, dt):
        return [rng.standard_normal(shape).astype(dt)], [], dict(kw)
    return make


CASES = [
    # the fused nll op: class labels
    Case("cross_entropy", "cross_entropy", _ce_labels((5, 4)), fused=True),
    Case("cross_entropy", "cross_entropy", _ce_labels((5, 4),
                                                      weighted=True),
         fused=True, tag="weight"),
    Case("cross_entropy", "cross_entropy",
         _ce_labels((5, 4), label_smoothing=0.15), fused=True,
         tag="smoothing"),
    Case("cross_entropy", "cross_entropy",
         _ce_labels((3, 4, 2, 3), weighted=True, label_smoothing=0.3),
         fused=True, tag="weight,smoothing,(N,C,d1,d2)"),
    Case("cross_entropy", "cross_entropy",
         _ce_labels((3, 4, 5), ignore_index=2, weighted=True), fused=True,
         tag="ignore_index=2,(N,C,d)"),
    Case("cross_entropy", "cross_entropy",
         _ce_labels((4,), weighted=True, label_smoothing=0.1), fused=True,
         tag="unbatched"),
    # class probabilities (composed)
    Case("cross_entropy", "cross_entropy", _ce_probs((5, 4)), tag="probs"),
    Case("cross_entropy", "cross_entropy",
         _ce_probs((3, 4, 2), weighted=True, label_smoothing=0.2),
         tag="probs,weight,smoothing,(N,C,d)"),
    Case("cross_entropy", "cross_entropy",
         _ce_probs((4,), label_smoothing=0.2), tag="probs,unbatched"),
    Case("nll_loss", "nll_loss", _nll((5, 4)), fused=True, twice=False),
    Case("nll_loss", "nll_loss", _nll((5, 4), weighted=True), fused=True,
         twice=False, tag="weight"),
    Case("nll_loss", "nll_loss", _nll((3, 4, 2, 2), weighted=True,
                                      ignore_index=0),
         fused=True, twice=False, tag="weight,ignore_index=0,(N,C,d1,d2)"),
    Case("binary_cross_entropy", "binary_cross_entropy", _bce(), fused=True),
    Case("binary_cross_entropy", "binary_cross_entropy", _bce(True),
         fused=True, tag="weight"),
    Case("binary_cross_entropy_with_logits",
         "binary_cross_entropy_with_logits", _bce_logits(), fused=True),
    Case("binary_cross_entropy_with_logits",
         "binary_cross_entropy_with_logits", _bce_logits(weight=True),
         fused=True, tag="weight"),
    Case("binary_cross_entropy_with_logits",
         "binary_cross_entropy_with_logits",
         _bce_logits(weight=True, pos=True, shape=(2, 3, 4)), fused=True,
         tag="weight,pos_weight"),
    Case("huber_loss", "huber_loss", _pair(), fused=True),
    Case("huber_loss", "huber_loss", _pair(delta=0.5), fused=True,
         tag="delta=0.5"),
    Case("huber_loss", "huber_loss", _pair(delta=2.5, weighted=True),
         fused=True, tag="delta=2.5,weight"),
    Case("smooth_l1_loss", "smooth_l1_loss", _pair(), fused=True),
    Case("smooth_l1_loss", "smooth_l1_loss", _pair(beta=0.4), fused=True,
         tag="beta=0.4"),
    Case("smooth_l1_loss", "smooth_l1_loss", _pair(beta=0.0), fused=True,
         twice=False, tag="beta=0"),
    # compositions
    Case("kl_div", "kl_div", _kl(False)),
    Case("kl_div", "kl_div", _kl(True), tag="log_target"),
    Case("poisson_nll_loss", "poisson_nll_loss", _poisson(True, False)),
    Case("poisson_nll_loss", "poisson_nll_loss", _poisson(False, True),
         tag="rate,full"),
    Case("poisson_nll_loss", "poisson_nll_loss", _poisson(True, True),
         tag="full"),
    # (torch's check of var >= 0 reads values: ad.compile refuses it)
    Case("gaussian_nll_loss", "gaussian_nll_loss", _gaussian((4, 3)),
         compiles=False),
    Case("gaussian_nll_loss", "gaussian_nll_loss", _gaussian((4,), True),
         tag="var one dim short,full", compiles=False),
    Case("gaussian_nll_loss", "gaussian_nll_loss", _gaussian((4, 1)),
         tag="var (N, 1)", compiles=False),
    Case("cosine_embedding_loss", "cosine_embedding_loss",
         _cos_embedding(0.0)),
    Case("cosine_embedding_loss", "cosine_embedding_loss",
         _cos_embedding(-0.3), tag="margin=-0.3"),
    Case("margin_ranking_loss", "margin_ranking_loss", _ranking(0.2),
         twice=False),
    Case("triplet_margin_loss", "triplet_margin_loss", _triplet()),
    Case("triplet_margin_loss", "triplet_margin_loss",
         _triplet(margin=2.0, p=1.0, swap=True), twice=False,
         tag="p=1,swap"),
    Case("triplet_margin_loss", "triplet_margin_loss",
         _triplet(p=3.0, eps=1e-3, swap=True), tag="p=3,swap"),
    Case("hinge_embedding_loss", "hinge_embedding_loss", _hinge(1.0),
         twice=False),
    Case("hinge_embedding_loss", "hinge_embedding_loss", _hinge(0.3),
         twice=False, tag="margin=0.3"),
    Case("soft_margin_loss", "soft_margin_loss", _soft_margin()),
    Case("multi_margin_loss", "multi_margin_loss", _multi_margin(),
         twice=False),
    Case("multi_margin_loss", "multi_margin_loss",
         _multi_margin(p=2, margin=0.7, weighted=True), tag="p=2,weight"),
    Case("multi_margin_loss", "multi_margin_loss",
         _multi_margin((4,), weighted=True), twice=False,
         tag="unbatched,weight"),
    Case("cosine_similarity", "cosine_similarity", _two((4, 5)),
         reduces=False),
    Case("cosine_similarity", "cosine_similarity",
         _two((3, 4, 2), dim=-1, eps=1e-6), reduces=False, tag="dim=-1"),
    Case("normalize", "normalize", _one((4, 5)), reduces=False),
    Case("normalize", "normalize", _one((3, 4, 2), p=1.0, dim=0),
         reduces=False, twice=False, tag="p=1,dim=0"),
    Case("pairwise_distance", "pairwise_distance", _two((5, 4)),
         reduces=False),
    Case("pairwise_distance", "pairwise_distance",
         _two((5, 4), p=3.0, keepdim=True), reduces=False,
         tag="p=3,keepdim"),
]


def _params():
    for c in CASES:
        for red in (REDUCTIONS + (["batchmean"] if c.name == "kl_div"
                                  else []) if c.reduces else [None]):
            yield pytest.param(c, red, id="%s-%s" % (c.id, red))


PARAMS = list(_params())


def _call(case, red, diff, const, kw, lib):
    """The loss from lib ('ad' or 'torch') on the given inputs."""
    if lib == "ad":
        fn, conv = getattr(F, case.fn), ad.tensor
    else:
        fn, conv = getattr(TF, case.fn), torch.from_numpy
    args = list(diff) + [conv(np.asarray(c)) for c in const]
    kw = {k: conv(v) if isinstance(v, np.ndarray) else v
          for k, v in kw.items()}
    if red is not None:
        kw["reduction"] = red
    return fn(*args, **kw)


def _data(case, red, dt):
    rng = np.random.default_rng(abs(hash((case.id, red, str(dt)))) % 2**32)
    return case.make(rng, dt)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("dt", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case,red", PARAMS)
def test_value_and_gradient_match_torch(case, red, dt):
    diff, const, kw = _data(case, red, dt)
    xs = [ad.tensor(a, requires_grad=True) for a in diff]
    ts = [torch.tensor(a, requires_grad=True) for a in diff]
    out = _call(case, red, xs, const, kw, "ad")
    ref = _call(case, red, ts, const, kw, "torch")
    assert out.dtype == np.dtype(dt)
    assert tuple(out.shape) == tuple(ref.shape)
    torch.testing.assert_close(torch.from_numpy(out.numpy()), ref.detach(),
                               **_tol(dt))
    g = np.random.default_rng(1).standard_normal(ref.shape).astype(dt)
    out.backward(ad.tensor(g))
    ref.backward(torch.from_numpy(g))
    for x, t in zip(xs, ts):
        torch.testing.assert_close(torch.from_numpy(x.grad.numpy()), t.grad,
                                   **_tol(dt))


@pytest.mark.parametrize("case,red", PARAMS)
def test_gradcheck(case, red):
    diff, const, kw = _data(case, red, np.float64)
    xs = [ad.tensor(a, requires_grad=True) for a in diff]
    assert ad.gradcheck(lambda *a: _call(case, red, a, const, kw, "ad"), xs)


@pytest.mark.parametrize("case,red", [p for p in PARAMS
                                      if p.values[0].twice])
def test_gradgradcheck(case, red):
    diff, const, kw = _data(case, red, np.float64)
    xs = [ad.tensor(a, requires_grad=True) for a in diff]
    assert ad.gradgradcheck(lambda *a: _call(case, red, a, const, kw, "ad"),
                            xs)


@pytest.mark.parametrize("case,red", [p for p in PARAMS
                                      if p.values[0].twice
                                      and p.values[0].fused])
def test_second_derivative_matches_torch(case, red):
    # the fused ops' higher-order rules (_derivatives) against torch
    diff, const, kw = _data(case, red, np.float64)
    xs = [ad.tensor(a, requires_grad=True) for a in diff]
    ts = [torch.tensor(a, requires_grad=True) for a in diff]
    v = np.random.default_rng(2).standard_normal(diff[0].shape)
    g = ad.autograd.grad(_call(case, red, xs, const, kw, "ad").sum(), xs,
                         create_graph=True)
    (h,) = ad.autograd.grad((g[0] * ad.tensor(v)).sum(), [xs[0]])
    tg = torch.autograd.grad(_call(case, red, ts, const, kw, "torch").sum(),
                             ts, create_graph=True)
    (th,) = torch.autograd.grad((tg[0] * torch.from_numpy(v)).sum(), [ts[0]])
    torch.testing.assert_close(torch.from_numpy(h.numpy()), th,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dt", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("case,red", PARAMS)
def test_compiled_step_is_bit_identical(case, red, dt):
    # the fused ops replay their record; the compositions their ops (the
    # labels and targets are arguments: each call's are read)
    rng = np.random.default_rng(5)
    diff, const, kw = case.make(rng, dt)
    # a small parameter added to the first input (BCE's stays in (0, 1))
    w = ad.tensor(rng.uniform(-0.01, 0.01, diff[0].shape).astype(dt),
                  requires_grad=True)
    kwt = {k: ad.tensor(v) if isinstance(v, np.ndarray) else v
           for k, v in kw.items()}
    if red is not None:
        kwt["reduction"] = red

    def step(*args):
        w.grad = None
        n = len(diff)
        xs = [args[0] + w] + list(args[1:n])
        loss = getattr(F, case.fn)(*xs, *args[n:], **kwt)
        loss.sum().backward()
        return loss, w.grad

    compiled = ad.compile(step)
    if not case.compiles:
        d, c, _ = case.make(rng, dt)
        with pytest.raises(ad.NotCompilableError, match=r"item\(\)"):
            compiled(*[ad.tensor(a) for a in d], *c)
        return
    for _ in range(3):
        d, c, _ = case.make(rng, dt)
        args = [ad.tensor(a) for a in d] + [np.asarray(x) for x in c]
        e_loss, e_grad = (t.numpy().copy() for t in step(*args))
        c_loss, c_grad = (t.numpy().copy() for t in compiled(*args))
        assert e_loss.tobytes() == c_loss.tobytes()
        assert e_grad.tobytes() == c_grad.tobytes()


# ------------------------------------------------------------------ modules

MODULES = [
    ("CrossEntropyLoss", {}),
    ("CrossEntropyLoss", {"ignore_index": 3, "reduction": "sum",
                          "label_smoothing": 0.1}),
    ("NLLLoss", {"ignore_index": 0, "reduction": "none"}),
    ("BCELoss", {"reduction": "sum"}),
    ("BCEWithLogitsLoss", {}),
    ("HuberLoss", {"delta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.25, "reduction": "none"}),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}),
    ("PoissonNLLLoss", {"log_input": False, "full": True, "eps": 1e-6}),
    ("GaussianNLLLoss", {"full": True, "eps": 1e-3}),
    ("CosineEmbeddingLoss", {"margin": 0.2}),
    ("MarginRankingLoss", {"margin": 0.1}),
    ("HingeEmbeddingLoss", {"margin": 2.0}),
    ("SoftMarginLoss", {}),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5}),
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}),
    ("CosineSimilarity", {"dim": 0, "eps": 1e-6}),
    ("PairwiseDistance", {"p": 1.0, "keepdim": True}),
    ("SmoothL1Loss", {"size_average": False}),       # legacy: 'sum'
    ("MSELoss", {"reduce": False}),                  # legacy: 'none'
]
_ATTRS = ("reduction", "ignore_index", "label_smoothing", "delta", "beta",
          "log_target", "log_input", "full", "eps", "margin", "p", "swap",
          "dim", "norm", "keepdim")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,kw", MODULES,
                         ids=["%s%s" % (n, sorted(k)) for n, k in MODULES])
def test_module_constructor_and_repr_as_torch(name, kw):
    ours, theirs = getattr(nn, name)(**kw), getattr(tnn, name)(**kw)
    assert repr(ours) == repr(theirs)
    for a in _ATTRS:
        assert getattr(ours, a, None) == getattr(theirs, a, None), a


def test_weighted_modules_keep_weight_buffers_and_match_torch():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    w = rng.uniform(0.5, 2, 4)
    pairs = [
        (nn.CrossEntropyLoss(ad.tensor(w), label_smoothing=0.2),
         tnn.CrossEntropyLoss(torch.from_numpy(w), label_smoothing=0.2),
         (x, y)),
        (nn.NLLLoss(ad.tensor(w), reduction="sum"),
         tnn.NLLLoss(torch.from_numpy(w), reduction="sum"), (x, y)),
        (nn.MultiMarginLoss(weight=ad.tensor(w)),
         tnn.MultiMarginLoss(weight=torch.from_numpy(w)), (x, y)),
        (nn.BCEWithLogitsLoss(pos_weight=ad.tensor(w)),
         tnn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(w)),
         (x, rng.uniform(0, 1, (6, 4)))),
        (nn.BCELoss(ad.tensor(w)), tnn.BCELoss(torch.from_numpy(w)),
         (rng.uniform(0.1, 0.9, (6, 4)), rng.uniform(0, 1, (6, 4)))),
    ]
    for ours, theirs, (a, b) in pairs:
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        got = ours(ad.tensor(a), ad.tensor(b)).numpy()
        want = theirs(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------ bad arguments

def _x(*shape):
    return ad.tensor(np.random.default_rng(0).standard_normal(shape),
                     requires_grad=True)


def _ones(*shape):
    return ad.ones(shape, dtype=ad.float64)


BAD = [
    ("unknown reduction", lambda: F.cross_entropy(_x(3, 4), [0, 1, 2],
                                                  reduction="avg"),
     ValueError, r"'avg'"),
    ("kl_div unknown reduction", lambda: F.kl_div(_x(3), _x(3),
                                                  reduction="batch"),
     ValueError, r"'batchmean'.*'batch'"),
    ("weight of wrong length", lambda: F.cross_entropy(
        _x(3, 4), [0, 1, 2], weight=_ones(3)), ValueError,
     r"weight of shape \(4,\).*got \(3,\)"),
    ("nll weight 2-D", lambda: F.nll_loss(_x(3, 4), [0, 1, 2],
                                          weight=ad.ones((1, 4))),
     ValueError, r"\(4,\).*\(1, 4\)"),
    ("labels of wrong shape (N, C, d)", lambda: F.cross_entropy(
        _x(2, 3, 4), np.zeros((2, 3), dtype=np.int64)), ValueError,
     r"\(2, 4\).*\(2, 3\).*\(2, 3, 4\)"),
    ("label out of range (N, C, d)", lambda: F.cross_entropy(
        _x(2, 3, 2), np.array([[0, 1], [3, 2]])), IndexError,
     r"target 3 is out of bounds for 3 classes"),
    ("label out of range, weighted", lambda: F.nll_loss(
        _x(2, 3), ad.tensor(np.array([0, -2])), weight=_ones(3)),
     IndexError, r"target -2 is out of bounds"),
    ("float labels", lambda: F.nll_loss(_x(2, 3), np.array([0.5, 1.0])),
     ValueError, r"integers"),
    ("probability target of wrong shape", lambda: F.cross_entropy(
        _x(2, 3, 4), np.full((2, 3, 3), 0.1)), ValueError,
     r"\(2, 3, 3\).*\(2, 3, 4\)"),
    ("label_smoothing > 1", lambda: F.cross_entropy(
        _x(2, 3), [0, 1], label_smoothing=1.5), ValueError,
     r"label_smoothing.*1.5"),
    ("weight requiring grad", lambda: F.cross_entropy(
        _x(2, 3), [0, 1], weight=_x(3)), ValueError,
     r"derivative for 'weight'"),
    ("bce weight not broadcasting", lambda: F.binary_cross_entropy(
        ad.full((2, 3), 0.5), ad.full((2, 3), 0.5), weight=ad.ones(2)),
     ValueError, r"weight of shape \(2,\).*\(2, 3\)"),
    ("pos_weight not broadcasting",
     lambda: F.binary_cross_entropy_with_logits(
         _x(2, 3), ad.zeros((2, 3)), pos_weight=ad.ones(4)), ValueError,
     r"pos_weight of shape \(4,\).*\(2, 3\)"),
    ("pos_weight target shape", lambda: F.binary_cross_entropy_with_logits(
        _x(2, 3), ad.zeros((3,)), pos_weight=ad.ones(3)), ValueError,
     r"\(2, 3\).*\(3,\).*same shape"),
    ("huber delta 0", lambda: F.huber_loss(_x(3), _x(3), delta=0.0),
     ValueError, r"non-positive values for delta"),
    ("huber target shape", lambda: F.huber_loss(_x(3), _x(3, 1)),
     ValueError, r"\(3,\).*\(3, 1\).*same shape"),
    ("huber weight shape", lambda: F.huber_loss(_x(3), _x(3),
                                                weight=ad.ones(1)),
     ValueError, r"weight of shape \(1,\)"),
    ("smooth_l1 beta < 0", lambda: F.smooth_l1_loss(_x(3), _x(3), beta=-1),
     ValueError, r"negative values for beta"),
    ("smooth_l1 int target", lambda: F.smooth_l1_loss(_x(3), _x(2)),
     ValueError, r"\(3,\).*\(2,\)"),
    ("gaussian var negative", lambda: F.gaussian_nll_loss(
        _x(3), _x(3), ad.tensor([1.0, -1.0, 1.0])), ValueError,
     r"var has negative"),
    ("gaussian var size", lambda: F.gaussian_nll_loss(
        _x(4, 3), _x(4, 3), ad.ones((2, 3))), ValueError,
     r"\(2, 3\) is of incorrect size.*\(4, 3\)"),
    ("cosine_embedding target shape", lambda: F.cosine_embedding_loss(
        _x(4, 3), _x(4, 3), ad.ones(3)), ValueError, r"\(4,\).*\(3,\)"),
    ("margin_ranking shapes", lambda: F.margin_ranking_loss(
        _x(4), _x(4), ad.ones(3)), ValueError, r"\(4,\).*\(3,\)"),
    ("triplet dims", lambda: F.triplet_margin_loss(_x(4, 3), _x(3),
                                                   _x(4, 3)),
     ValueError, r"anchor 2D, positive 1D, and negative 2D"),
    ("multi_margin p=3", lambda: F.multi_margin_loss(_x(4, 3), [0, 1, 2, 0],
                                                     p=3),
     ValueError, r"p == 1 and p == 2"),
    ("multi_margin label out of range", lambda: F.multi_margin_loss(
        _x(4, 3), [0, 1, 3, 0]), IndexError, r"target 3 .*3 classes"),
    ("multi_margin weight length", lambda: F.multi_margin_loss(
        _x(4, 3), [0, 1, 2, 0], weight=ad.ones(4)), ValueError,
     r"\(3,\).*\(4,\)"),
    ("module weight not a tensor", lambda: nn.CrossEntropyLoss([1.0, 2.0]),
     TypeError, r"'list' object to buffer 'weight'"),
    ("module unknown reduction", lambda: nn.HuberLoss("avg"), ValueError,
     r"'avg'"),
]


@pytest.mark.parametrize("make,exc,match", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_arguments_raise_before_running(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_weight_requiring_grad_is_read_under_no_grad():
    # torch refuses only the derivative for the weight, not the value
    w = _x(3)
    x, y = _x(2, 3), [0, 2]
    with ad.no_grad():
        got = F.cross_entropy(x, y, weight=w).item()
    want = TF.cross_entropy(torch.from_numpy(x.numpy()), torch.tensor(y),
                            weight=torch.from_numpy(w.numpy())).item()
    assert abs(got - want) <= 1e-12 * abs(want)


def test_label_forms_give_the_same_bits():
    # (N, C, d1, d2): a list, an ndarray of int32 and an int64 tensor
    rng = np.random.default_rng(9)
    x = ad.tensor(rng.standard_normal((2, 3, 2, 2)))
    y = rng.integers(0, 3, (2, 2, 2))
    outs = [F.cross_entropy(x, lab, reduction="none",
                            label_smoothing=0.1).numpy().tobytes()
            for lab in (y.tolist(), y.astype(np.int32),
                        ad.tensor(y.astype(np.int64)))]
    assert outs[0] == outs[1] == outs[2]


def test_empty_probability_target_mean_is_nan_as_torch():
    x = np.zeros((0, 3))
    got = F.cross_entropy(ad.tensor(x), ad.tensor(x)).item()
    want = TF.cross_entropy(torch.from_numpy(x), torch.from_numpy(x)).item()
    assert np.isnan(got) and np.isnan(want)


def test_bad_label_leaves_no_record_and_no_grad():
    x = _x(2, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, [0, 5], weight=_ones(3), label_smoothing=0.1)
    assert x.grad is None
