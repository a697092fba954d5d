"""interpolate / nn.Upsample against torch.

Random configurations (sizes up and down, scale factors also non-integer
and used by the kernel as torch's, align_corners both ways, 1-d and 2-d)
against torch's forward and backward: nearest, nearest-exact and 1-d
linear give torch's bits in float32 and float64; bilinear matches to
1e-12 (float64) and a few float32 ulps (torch's compiled kernel fuses
multiply-adds in an order that depends on its vectorisation).  Also the
modules' repr, bad inputs, and a compiled step bit-identical to eager.
The functional op is a row of opdb.POOL (tests/test_shape_ops.py:
gradcheck, gradgradcheck, compiled replay)."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch


def _configs(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        nd = int(rng.integers(1, 3))
        mode = rng.choice(["nearest", "nearest-exact",
                           "linear" if nd == 1 else "bilinear"])
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + tuple(
            int(rng.integers(1, 9)) for _ in range(nd))
        kw = {"mode": str(mode)}
        if mode in ("linear", "bilinear"):
            kw["align_corners"] = bool(rng.integers(0, 2))
        if rng.integers(0, 2):
            kw["size"] = tuple(int(rng.integers(1, 14)) for _ in range(nd))
        else:
            f = [float(rng.choice([0.5, 0.7, 1.0, 1.5, 2.0, 2.3, 3.0,
                                   rng.uniform(0.3, 3.5)]))
                 for _ in range(nd)]
            f = [max(v, 1.0 / s + 1e-9) for v, s in zip(f, shape[2:])]
            kw["scale_factor"] = tuple(f) if rng.integers(0, 2) else f[0]
            if "scale_factor" in kw and not isinstance(
                    kw["scale_factor"], tuple):
                f = [kw["scale_factor"]] * nd
                kw["scale_factor"] = max(
                    f[0], max(1.0 / s + 1e-9 for s in shape[2:]))
            if rng.integers(0, 3) == 0:
                kw["recompute_scale_factor"] = True
        out.append((shape, kw))
    return out


CONFIGS = _configs(120, 0)


def _both(shape, kw, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    x = ad.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = F.interpolate(x, **kw), torch.nn.functional.interpolate(tx, **kw)
    assert y.shape == tuple(ty.shape), (y.shape, tuple(ty.shape))
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(ad.tensor(g))
    ty.backward(torch.tensor(g))
    return (y.numpy(), ty.detach().numpy(), x.grad.numpy(),
            tx.grad.numpy())


@needs_torch
@pytest.mark.parametrize("shape,kw", CONFIGS,
                         ids=["%s-%r" % (s, k) for s, k in CONFIGS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_configurations_match_torch(shape, kw, dtype):
    y, ty, gx, tgx = _both(shape, kw, dtype)
    exact = kw["mode"] != "bilinear"
    if exact:
        np.testing.assert_array_equal(y, ty)
    elif dtype == np.float64:
        np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(y, ty, rtol=1e-6, atol=1e-6)
    # backward: torch's order of scatter-adds and fused multiply-adds
    np.testing.assert_array_equal(gx, tgx)


@needs_torch
@pytest.mark.parametrize("kw", [
    dict(scale_factor=2), dict(size=(7, 3)), dict(scale_factor=1.3),
    dict(scale_factor=2, mode="bilinear"),
    dict(size=(4, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=(0.5, 2.5), mode="nearest-exact"),
    dict(scale_factor=(0.7, 1.9), mode="bilinear")])
def test_larger_images_match_torch(kw):
    y, ty, gx, tgx = _both((2, 3, 13, 11), kw, np.float64, seed=1)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, tgx, rtol=1e-12, atol=1e-12)


@needs_torch
def test_unusual_scale_factor_is_used_as_given():
    # 2.3 * 5 -> 11 outputs; the kernel's step is 1 / 2.3, not 5 / 11
    a = np.arange(10.0).reshape(1, 1, 2, 5)
    for mode in ("nearest", "bilinear", "nearest-exact"):
        for rc in (None, True):
            y = F.interpolate(ad.tensor(a), scale_factor=2.3, mode=mode,
                              recompute_scale_factor=rc)
            ty = torch.nn.functional.interpolate(
                torch.tensor(a), scale_factor=2.3, mode=mode,
                recompute_scale_factor=rc)
            np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)


@needs_torch
def test_area_is_adaptive_avg_pool():
    a = np.random.default_rng(2).standard_normal((2, 3, 7, 9))
    for kw in (dict(size=(3, 4)), dict(scale_factor=0.6)):
        y = F.interpolate(ad.tensor(a), mode="area", **kw)
        ty = torch.nn.functional.interpolate(torch.tensor(a), mode="area",
                                             **kw)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)


@needs_torch
@pytest.mark.parametrize("name,args,kw", [
    ("Upsample", (), dict(scale_factor=2)),
    ("Upsample", (), dict(size=(5, 7), mode="bilinear")),
    ("Upsample", (), dict(scale_factor=(1.5, 2), mode="bilinear",
                          align_corners=True)),
    ("Upsample", (), dict(size=5, mode="nearest-exact")),
    ("UpsamplingNearest2d", (), dict(scale_factor=3)),
    ("UpsamplingNearest2d", ((4, 6),), {}),
    ("UpsamplingBilinear2d", (), dict(scale_factor=2)),
    ("UpsamplingBilinear2d", (), dict(size=(3, 9))),
])
def test_modules_match_torch(name, args, kw):
    ours, theirs = getattr(nn, name)(*args, **kw), \
        getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.parameters()) == []
    for attr in ("size", "scale_factor", "mode", "align_corners",
                 "recompute_scale_factor"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    x = ad.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_linear_mode_on_1d_module():
    m = nn.Upsample(scale_factor=2, mode="linear")
    assert repr(m) == "Upsample(scale_factor=2.0, mode='linear')"
    y = m(ad.tensor(np.array([[[0.0, 1.0, 2.0]]])))
    np.testing.assert_allclose(y.numpy(), [[[0, 0.25, 0.75, 1.25, 1.75,
                                             2]]])


X4 = np.zeros((1, 2, 3, 3))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(scale_factor=2, align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes"),
    (dict(scale_factor=2, mode="area", align_corners=False), ValueError,
     "align_corners option can only be set"),
    (dict(size=4, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
    ({}, ValueError, "either size or scale_factor should be defined"),
    (dict(size=(4,)), ValueError, "Input and output must have the same "
     "number of spatial dimensions"),
    (dict(size=(4, 4.0)), TypeError, "expected size to be one of int"),
    (dict(scale_factor=(2, 2, 2)), ValueError, "Input and scale_factor must "
     "have the same number of spatial dimensions"),
    (dict(size=4, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor is not meaningful with an explicit size"),
    (dict(size=(0, 3)), ValueError, "Input and output sizes should be "
     "greater than 0"),
    (dict(scale_factor=0.1), ValueError, "Input and output sizes should be "
     "greater than 0"),
    (dict(scale_factor=-2.0), ValueError, "scale_factor must be positive"),
    (dict(scale_factor=float("nan")), ValueError,
     "scale_factor must be positive"),
    (dict(scale_factor=2, mode="bicubic"), NotImplementedError, "bicubic"),
    (dict(scale_factor=2, mode="trilinear"), NotImplementedError,
     "Got 4D input, but trilinear mode needs 5D input"),
    (dict(scale_factor=2, mode="linear"), NotImplementedError,
     "Got 4D input, but linear mode needs 3D input"),
    (dict(scale_factor=2, mode="bilinear", antialias=True),
     NotImplementedError, "antialias"),
    (dict(scale_factor=2, antialias=True), ValueError,
     "Anti-alias option is restricted to bilinear"),
    (dict(scale_factor=2, mode="cubic"), NotImplementedError,
     "Input Error: Only 3D, 4D and 5D input Tensors supported"),
])
def test_bad_arguments_raise(kw, exc, match):
    with pytest.raises(exc, match=match):
        F.interpolate(ad.tensor(X4), **kw)


def test_bad_inputs_raise():
    with pytest.raises(NotImplementedError, match="Got 3D input, but "
                       "bilinear mode needs 4D input"):
        F.interpolate(ad.zeros((1, 2, 3)), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match=r"got 2D"):
        F.interpolate(ad.zeros((2, 3)), scale_factor=2)
    with pytest.raises(NotImplementedError, match="not supported"):
        F.interpolate(ad.zeros((1, 1, 2, 2, 2)), scale_factor=2)
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.interpolate(np.zeros((1, 1, 2, 2)), scale_factor=2)
    with pytest.raises(TypeError, match="floating point"):
        F.interpolate(ad.zeros((1, 1, 2, 2), dtype=ad.int64), scale_factor=2)
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(ad.zeros((1, 1, 0, 2)), size=(2, 2))
    # the engine entry point checks shapes itself
    from autodiff import _engine
    with pytest.raises(ValueError, match="expected a 4-D input"):
        _engine._upsample(ad.zeros((1, 1, 3, 3)), 1, False, False, (3, 4),
                          (5, 5), (0.0, 0.0))
    with pytest.raises(ValueError, match="unknown mode"):
        _engine._upsample(ad.zeros((1, 1, 3, 3)), 7, False, False, (3, 3),
                          (5, 5), (0.0, 0.0))


def test_empty_batch():
    y = F.interpolate(ad.zeros((0, 3, 4, 4), requires_grad=True),
                      scale_factor=2, mode="bilinear")
    assert y.shape == (0, 3, 8, 8)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "nearest-exact"])
@pytest.mark.parametrize("dtype", [ad.float32, ad.float64])
def test_compiled_step_is_bit_identical(mode, dtype):
    def make():
        ad.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=dtype),
                             nn.Upsample(scale_factor=1.5, mode=mode),
                             nn.Conv2d(3, 1, 3, dtype=dtype))
    a = np.random.default_rng(0).standard_normal((2, 2, 6, 5))
    x = ad.tensor(a, dtype=dtype)
    models = [make(), make()]
    opts = [ad.optim.SGD(m.parameters(), lr=0.1) for m in models]

    def step(m, opt):
        opt.zero_grad()
        loss = (m(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    compiled = ad.compile(lambda: step(models[1], opts[1]))
    for _ in range(3):
        l0 = step(models[0], opts[0])
        l1 = compiled()
        assert l0.numpy().tobytes() == l1.numpy().tobytes()
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert p.numpy().tobytes() == q.numpy().tobytes()
