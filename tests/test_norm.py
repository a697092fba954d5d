"""Normalization layers (nn.LayerNorm, GroupNorm, RMSNorm) against their
PyTorch twins: state_dicts load both ways, outputs and gradients agree
(float64 to 1e-9 relative, float32 to torch's tolerance), a compiled
training step is bit-identical to eager ones, bad arguments raise
ValueError naming shapes.  The functional ops are rows of opdb.NORM
(tests/test_shape_ops.py: against torch, gradcheck, gradgradcheck,
float32, compiled replay)."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch

LAYERS = [
    ("LayerNorm", ((4, 5),), {}, (3, 4, 5)),
    ("LayerNorm", (5,), dict(eps=1e-3, bias=False), (2, 3, 5)),
    ("LayerNorm", (5,), dict(elementwise_affine=False), (2, 5)),
    ("GroupNorm", (2, 6), {}, (3, 6, 4, 2)),
    ("GroupNorm", (3, 6), dict(eps=1e-2), (3, 6, 5)),
    ("GroupNorm", (1, 4), dict(affine=False), (2, 4)),
    ("GroupNorm", (2, 4), dict(bias=False), (2, 4, 3)),
    ("RMSNorm", ((4, 5),), {}, (3, 4, 5)),
    ("RMSNorm", (5,), dict(eps=1e-3), (2, 5)),
    ("RMSNorm", (5,), dict(elementwise_affine=False), (2, 3, 5)),
]
IDS = [m[0] + "-%d" % i for i, m in enumerate(LAYERS)]


def _perturb(module, rng):
    """Non-trivial affine parameters (torch's are ones and zeros)."""
    for p in module.parameters():
        p.data = p.data + torch.tensor(
            rng.standard_normal(tuple(p.shape)), dtype=p.dtype)


@needs_torch
@pytest.mark.parametrize("name,args,kw,shape", LAYERS, ids=IDS)
def test_state_dict_loads_both_ways_with_torch_outputs(name, args, kw,
                                                       shape):
    ours = getattr(nn, name)(*args, **kw, dtype=ad.float64)
    theirs = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    _perturb(theirs, np.random.default_rng(5))
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    twin = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(np.asarray(v))
                          for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_parameters()] == \
        [k for k, _ in theirs.named_parameters()]
    assert repr(ours).replace("autodiff", "") == repr(theirs)
    x = 3.0 * np.random.default_rng(0).standard_normal(shape) + 1.0
    X = ad.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty, y2 = ours(X), theirs(tx), twin(torch.tensor(x))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(y2.detach().numpy(), ty.detach().numpy())
    w = np.random.default_rng(1).standard_normal(y.shape)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-9,
                               atol=1e-11)
    for (k, p), (_, tp) in zip(ours.named_parameters(),
                               theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(),
                                   rtol=1e-9, atol=1e-11, err_msg=k)


@needs_torch
@pytest.mark.parametrize("name,args,kw,shape", LAYERS, ids=IDS)
def test_float32_within_torchs_tolerance(name, args, kw, shape):
    ours = getattr(nn, name)(*args, **kw)
    theirs = getattr(torch.nn, name)(*args, **kw)
    _perturb(theirs, np.random.default_rng(6))
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    X = ad.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty = ours(X), theirs(tx)
    assert y.dtype == ad.float32
    torch.testing.assert_close(torch.tensor(y.detach().numpy()), ty.detach())
    w = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    torch.testing.assert_close(torch.tensor(X.grad.numpy()), tx.grad)
    for (k, p), (_, tp) in zip(ours.named_parameters(),
                               theirs.named_parameters()):
        torch.testing.assert_close(torch.tensor(p.grad.numpy()), tp.grad)


@needs_torch
def test_rms_norm_default_eps_is_the_dtypes():
    x = np.random.default_rng(4).standard_normal((3, 4)) * 1e-5
    for dt, tdt in ((ad.float32, torch.float32), (ad.float64, torch.float64)):
        y = F.rms_norm(ad.tensor(x, dtype=dt), (4,))
        ty = torch.nn.functional.rms_norm(torch.tensor(x, dtype=tdt), (4,))
        torch.testing.assert_close(torch.tensor(y.numpy()), ty)


def test_compiled_training_with_norms_is_bit_identical():
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 2, 6, 6)), rng.integers(0, 3, 4))
               for _ in range(3)]
    runs = []
    for compiled in (False, True):
        ad.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(2, 4, 3, dtype=ad.float64),
                              nn.GroupNorm(2, 4, dtype=ad.float64),
                              nn.ReLU(), nn.Flatten(),
                              nn.LayerNorm(64, dtype=ad.float64),
                              nn.Linear(64, 8, dtype=ad.float64),
                              nn.RMSNorm(8, dtype=ad.float64),
                              nn.Linear(8, 3, dtype=ad.float64))
        opt = ad.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(ad.tensor(x)), y)
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        runs.append([f(x, y).numpy().copy() for x, y in batches]
                    + [p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_name_shapes():
    x = ad.zeros(2, 4, 5)
    with pytest.raises(ValueError, match=r"normalized_shape=\[4\].*"
                       r"got input of size \[2, 4, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(ValueError, match=r"expected weight of shape \[5\], "
                       r"got \[4\]"):
        F.layer_norm(x, (5,), ad.ones(4))
    with pytest.raises(ValueError, match=r"expected bias of shape \[4\]"):
        F.group_norm(x, 2, ad.ones(4), ad.ones(5))
    with pytest.raises(ValueError, match=r"divisible by num_groups"):
        F.group_norm(x, 3)
    with pytest.raises(ValueError, match=r"at least 2 dimensions"):
        F.group_norm(ad.zeros(4), 2)
    with pytest.raises(ValueError, match="eps"):
        F.layer_norm(x, (5,), eps=-1.0)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(TypeError, match="floating point"):
        F.layer_norm(ad.zeros(2, 3, dtype=ad.int64), (3,))
    with pytest.raises(TypeError, match="dtype float64 like the input"):
        F.layer_norm(ad.zeros(2, 3, dtype=ad.float64), (3,), ad.ones(3))


def test_empty_and_degenerate_inputs():
    y = F.layer_norm(ad.zeros(0, 3), (3,))
    assert y.shape == (0, 3)
    # a constant row normalizes to 0 (var 0: 1/sqrt(eps))
    y = F.layer_norm(ad.full((2, 3), 7.0, dtype=ad.float64), (3,))
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, 3)))


# ---- batch norm

BN = [
    ("BatchNorm1d", {}, (4, 3)),
    ("BatchNorm1d", dict(momentum=None), (4, 3, 5)),
    ("BatchNorm1d", dict(affine=False, eps=1e-3), (4, 3, 2)),
    ("BatchNorm2d", dict(momentum=0.3), (2, 3, 4, 5)),
    ("BatchNorm2d", dict(track_running_stats=False), (2, 3, 2, 2)),
    ("BatchNorm2d", dict(bias=False, momentum=None), (3, 3, 2, 3)),
]
BN_IDS = [m[0] + "-%d" % i for i, m in enumerate(BN)]


@needs_torch
@pytest.mark.parametrize("name,kw,shape", BN, ids=BN_IDS)
def test_batch_norm_training_and_eval_match_torch(name, kw, shape):
    ours = getattr(nn, name)(3, **kw, dtype=ad.float64)
    theirs = getattr(torch.nn, name)(3, **kw, dtype=torch.float64)
    _perturb(theirs, np.random.default_rng(7))
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours).replace("autodiff", "") == repr(theirs)
    rng = np.random.default_rng(8)
    for mode in ("train", "train", "train", "eval", "train", "eval"):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        x = 2.0 * rng.standard_normal(shape) + 0.5
        X = ad.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        y, ty = ours(X), theirs(tx)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                                   rtol=1e-9, atol=1e-12)
        w = rng.standard_normal(shape)
        (y * ad.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(),
                                   rtol=1e-9, atol=1e-11)
        for (k, p), (_, tp) in zip(ours.named_parameters(),
                                   theirs.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(),
                                       rtol=1e-9, atol=1e-11, err_msg=k)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k].numpy(),
                                       v.numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=k)
    # and back into a fresh torch twin
    twin = getattr(torch.nn, name)(3, **kw, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(np.asarray(v))
                          for k, v in ours.state_dict().items()})
    twin.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    ours.eval()
    np.testing.assert_allclose(twin(torch.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(twin(torch.tensor(x)).detach().numpy(),
                               ours(ad.tensor(x)).numpy(), rtol=1e-12,
                               atol=1e-14)


@needs_torch
def test_batch_norm_float32_within_torchs_tolerance():
    ours, theirs = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    rng = np.random.default_rng(9)
    for _ in range(3):
        x = rng.standard_normal((3, 4, 5, 5)).astype(np.float32)
        y, ty = ours(ad.tensor(x)), theirs(torch.tensor(x))
        torch.testing.assert_close(torch.tensor(y.numpy()), ty.detach())
    for k, v in theirs.state_dict().items():
        torch.testing.assert_close(torch.tensor(ours.state_dict()[k].numpy()),
                                   v)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_compiled_batch_norm_steps_update_running_stats_bit_identically(
        momentum):
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 2, 6, 6)), rng.integers(0, 3, 4))
               for _ in range(4)]
    test_x = rng.standard_normal((3, 2, 6, 6))
    runs = []
    for compiled in (False, True):
        ad.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(2, 4, 3, dtype=ad.float64),
                              nn.BatchNorm2d(4, momentum=momentum,
                                             dtype=ad.float64),
                              nn.ReLU(), nn.Flatten(),
                              nn.Linear(64, 8, dtype=ad.float64),
                              nn.BatchNorm1d(8, momentum=momentum,
                                             dtype=ad.float64),
                              nn.Linear(8, 3, dtype=ad.float64))
        opt = ad.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(ad.tensor(x)), y)
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        out = [f(x, y).numpy().copy() for x, y in batches]
        model.eval()
        out.append(model(ad.tensor(test_x)).numpy().copy())
        sd = model.state_dict()
        runs.append(out + [v.numpy().copy() for v in sd.values()])
    assert int(sd["5.num_batches_tracked"]) == 4
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_bad_inputs():
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D"):
        nn.BatchNorm1d(3)(ad.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D"):
        nn.BatchNorm2d(3)(ad.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"more than 1 value per channel"):
        nn.BatchNorm1d(3)(ad.zeros(1, 3))
    with pytest.raises(ValueError, match=r"running_mean of shape \[3\], "
                       r"got \[2\]"):
        F.batch_norm(ad.zeros(2, 3), ad.zeros(2), ad.ones(2))
    with pytest.raises(ValueError, match=r"running_mean must be defined"):
        F.batch_norm(ad.zeros(2, 3), None, None)
    with pytest.raises(ValueError, match=r"must not require grad"):
        F.batch_norm(ad.zeros(2, 3), ad.zeros(3, requires_grad=True),
                     ad.ones(3))


# ---- channel dropout (nn.Dropout2d / Dropout1d)

def test_dropout2d_zeroes_whole_channels_and_scales():
    ad.manual_seed(0)
    x = ad.tensor(np.random.default_rng(0).random((8, 16, 3, 4)) + 1.0,
                  requires_grad=True)
    y = F.dropout2d(x, 0.25)
    v = y.detach().numpy()
    per_channel = v.reshape(8, 16, -1)
    zero = (per_channel == 0).all(axis=2)
    kept = ~zero
    assert 0 < zero.sum() < zero.size
    np.testing.assert_allclose(per_channel[kept],
                               x.detach().numpy().reshape(8, 16, -1)[kept]
                               / 0.75, rtol=1e-6)
    y.sum().backward()
    g = x.grad.numpy().reshape(8, 16, -1)
    np.testing.assert_array_equal(g[zero], 0.0)
    np.testing.assert_allclose(g[kept], 1 / 0.75, rtol=1e-6)
    # eval and p = 0: identity; p = 1: zeros
    m = nn.Dropout2d(0.5)
    assert repr(m) == "Dropout2d(p=0.5, inplace=False)"
    m.eval()
    assert m(x) is x
    assert (F.dropout2d(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="Expected 2D or 3D input"):
        F.dropout1d(ad.zeros(2, 3, 4, 5), 0.5)


def test_dropout1d_unbatched_and_3d_dropout2d_warns():
    ad.manual_seed(1)
    x = ad.ones(6, 10, dtype=ad.float64)
    y = F.dropout1d(x, 0.5).numpy()
    assert y.shape == (6, 10)
    assert all(len(set(row)) == 1 for row in y)     # whole channels
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        F.dropout2d(ad.ones(2, 3, 4), 0.5)


def test_compiled_dropout2d_draws_the_same_masks_as_eager():
    rng = np.random.default_rng(4)
    batches = [rng.standard_normal((4, 3, 5, 5)) for _ in range(3)]
    runs = []
    for compiled in (False, True):
        ad.manual_seed(11)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, dtype=ad.float64),
                              nn.Dropout2d(0.4), nn.Flatten(),
                              nn.Linear(36, 1, dtype=ad.float64))
        opt = ad.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (model(ad.tensor(x)) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        runs.append([f(x).numpy().copy() for x in batches]
                    + [p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_batch_norm_module_used_twice_before_backward():
    """The second call's in-place update of the running stats does not
    invalidate the first call's record (torch allows it too)."""
    m = nn.BatchNorm1d(3, dtype=ad.float64)
    x = ad.tensor(np.random.default_rng(0).standard_normal((4, 3)),
                  requires_grad=True)
    (m(x) + m(x * 2.0)).sum().backward()
    assert int(m.num_batches_tracked.numpy()) == 2
    assert x.grad is not None


@needs_torch
def test_batch_norm_empty_batch_leaves_running_stats_as_torch():
    ours = nn.BatchNorm1d(3, dtype=ad.float64)
    theirs = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    y = ours(ad.zeros(0, 3, dtype=ad.float64))
    theirs(torch.zeros(0, 3, dtype=torch.float64))
    assert y.shape == (0, 3)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(),
                                      v.numpy())
