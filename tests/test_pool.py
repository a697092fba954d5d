"""Pooling layers (nn.MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d,
AdaptiveMaxPool1d/2d) against torch's, and a compiled CNN with pooling
bit-identical to eager steps.  The functional ops are rows of opdb.POOL
(tests/test_shape_ops.py: against torch, gradcheck, gradgradcheck,
compiled replay)."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch

MODULES = [
    ("MaxPool2d", (3,), dict(stride=2, padding=1), (2, 3, 9, 8)),
    ("MaxPool2d", ((2, 3),), dict(dilation=(1, 2), ceil_mode=True),
     (2, 3, 9, 8)),
    ("MaxPool1d", (3,), dict(stride=1, padding=1), (2, 3, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False),
     (2, 3, 9, 8)),
    ("AvgPool2d", (2,), dict(ceil_mode=True, divisor_override=3),
     (2, 3, 9, 8)),
    ("AvgPool1d", (4,), dict(stride=3, padding=2), (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 9, 8)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((4, 3),), {}, (2, 3, 9, 8)),
    ("AdaptiveMaxPool1d", (5,), {}, (3, 9)),
]


@needs_torch
@pytest.mark.parametrize("name,args,kw,shape", MODULES,
                         ids=[m[0] + "-%d" % i for i, m in enumerate(MODULES)])
def test_modules_match_torch_bit_for_bit(name, args, kw, shape):
    a = np.random.default_rng(0).standard_normal(shape)
    ours, theirs = getattr(nn, name)(*args, **kw), \
        getattr(torch.nn, name)(*args, **kw)
    assert list(ours.parameters()) == []
    x, tx = ad.tensor(a, requires_grad=True), torch.tensor(
        a, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    w = np.random.default_rng(1).standard_normal(y.shape)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@needs_torch
def test_max_pool_ties_and_nan_pick_torchs_index():
    a = np.zeros((1, 1, 4, 4))
    a[0, 0, 0, 1] = np.nan
    a[0, 0, 1, 0] = np.nan
    a[0, 0, 2:, 2:] = 5.0
    v, i = F.max_pool2d(ad.tensor(a), 2, return_indices=True)
    tv, ti = torch.nn.functional.max_pool2d(torch.tensor(a), 2,
                                            return_indices=True)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    # the fused op (no return_indices) sends the gradient to those maxima,
    # through each of its loops: 2x2, other windows inside the input, and
    # the general one (padding, ceil_mode)
    for kw in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1},
               {"kernel_size": 3, "stride": 2, "padding": 1},
               {"kernel_size": 3, "stride": 2, "ceil_mode": True}):
        x = ad.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        y, ty = F.max_pool2d(x, **kw), torch.nn.functional.max_pool2d(tx, **kw)
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        w = np.arange(1.0, y.numel() + 1).reshape(y.shape)
        (y * ad.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_lanes_match_torch_with_ties_and_nans(dtype):
    """Rows go through the vector lanes of the 2x2 stride-2 scan (each
    row's last block with spare lanes): ties, NaNs, -inf and
    signed zeros pick torch's index, and the gradient goes there."""
    rng = np.random.default_rng(5)
    a = rng.integers(-2, 3, (2, 3, 9, 75)).astype(dtype)
    a[rng.random(a.shape) < 0.05] = np.nan
    a[rng.random(a.shape) < 0.05] = -np.inf
    a[rng.random(a.shape) < 0.1] = -0.0
    for kw in ({}, {"ceil_mode": True}):
        v, i = F.max_pool2d(ad.tensor(a), 2, return_indices=True, **kw)
        tv, ti = torch.nn.functional.max_pool2d(torch.tensor(a), 2,
                                                return_indices=True, **kw)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        assert v.numpy().tobytes() == tv.numpy().tobytes()
        x = ad.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        y, ty = F.max_pool2d(x, 2, **kw), torch.nn.functional.max_pool2d(
            tx, 2, **kw)
        assert y.numpy().tobytes() == ty.detach().numpy().tobytes()
        w = rng.standard_normal(y.shape).astype(dtype)
        (y * ad.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_compiled_cnn_with_pooling_is_bit_identical():
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((4, 1, 10, 10)), rng.integers(0, 3, 4))
               for _ in range(3)]
    runs = []
    for compiled in (False, True):
        ad.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=ad.float64),
                              nn.ReLU(), nn.MaxPool2d(2),
                              nn.AvgPool2d(2, ceil_mode=True),
                              nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                              nn.Linear(16, 3, dtype=ad.float64))
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


def test_bad_pool_arguments():
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.max_pool2d(ad.zeros(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(ValueError, match="Output size is too small"):
        F.avg_pool2d(ad.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"Expected 3D or 4D"):
        F.max_pool2d(ad.zeros(5, 5), 2)
    with pytest.raises(ValueError, match="divisor must be not zero"):
        F.avg_pool2d(ad.zeros(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(TypeError, match="floating point"):
        F.max_pool2d(ad.zeros(1, 1, 4, 4, dtype=ad.int64), 2)
