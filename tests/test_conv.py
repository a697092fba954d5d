"""Convolution layers (nn.Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d)
against their PyTorch twins: state_dicts load both ways with the same
outputs and gradients, padding modes, output_size, initialisation, errors,
and a small CNN whose compiled training steps are bit-identical to eager
ones with no allocation in the steady state.  The functional ops are rows
of opdb.CONV (tests/test_shape_ops.py runs them against torch, gradcheck,
gradgradcheck and compiled replay)."""
import math

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch

LAYERS = [
    ("Conv2d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 7, 6)),
    ("Conv2d", (3, 5, (3, 2)), dict(padding="same", dilation=(2, 1),
                                   padding_mode="reflect"), (2, 3, 6, 5)),
    ("Conv2d", (2, 4, 3), dict(padding=(1, 2), padding_mode="circular",
                               bias=False), (1, 2, 5, 5)),
    ("Conv2d", (2, 2, 3), dict(padding=1, padding_mode="replicate"),
     (3, 2, 4, 4)),
    ("Conv2d", (4, 4, 3), dict(groups=4, padding="valid"), (2, 4, 6, 6)),
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=2, dilation=2, groups=2),
     (2, 4, 11)),
    ("Conv1d", (3, 2, 4), dict(padding="same", padding_mode="circular"),
     (2, 3, 9)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1,
                                        output_padding=1, groups=2),
     (2, 4, 4, 3)),
    ("ConvTranspose1d", (3, 2, 4), dict(stride=3, dilation=2, bias=False),
     (2, 3, 5)),
]
IDS = ["%s-%d" % (c[0], i) for i, c in enumerate(LAYERS)]


@needs_torch
@pytest.mark.parametrize("name,args,kw,shape", LAYERS, ids=IDS)
def test_state_dict_loads_both_ways_with_torch_outputs(name, args, kw,
                                                       shape):
    ours = getattr(nn, name)(*args, **kw, dtype=ad.float64)
    theirs = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    # torch's initial weights into ours, and ours back into a fresh twin
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    twin = getattr(torch.nn, name)(*args, **kw, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(np.asarray(v))
                          for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = np.random.default_rng(0).standard_normal(shape)
    X = ad.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y, ty, y2 = ours(X), theirs(tx), twin(torch.tensor(x))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y2.detach().numpy(), ty.detach().numpy())
    w = np.random.default_rng(1).standard_normal(y.shape)
    (y * ad.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    for (k, p), (_, tp) in zip(ours.named_parameters(),
                               theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=k)


@needs_torch
def test_float32_matches_torch_to_its_tolerance():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    theirs = torch.nn.Conv2d(3, 8, 3, padding=1)
    ours = nn.Conv2d(3, 8, 3, padding=1)
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    y = ours(ad.tensor(x))
    assert y.dtype == ad.float32
    np.testing.assert_allclose(y.numpy(), theirs(torch.tensor(x))
                               .detach().numpy(), rtol=1.3e-6, atol=1e-5)


@needs_torch
def test_conv_transpose_output_size_picks_torchs_output_padding():
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=ad.float64)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1,
                                      dtype=torch.float64)
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 4))
    for size in ([7, 7], [8, 7], (1, 3, 8, 8)):
        y = ours(ad.tensor(x), output_size=size)
        ty = theirs(torch.tensor(x), output_size=size)
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        ours(ad.tensor(x), output_size=[9, 9])


def test_initialisation_follows_torch_bounds():
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for the weight, as for the bias; fan_in = C_in / groups * kh * kw (for
    a transposed layer: C_out / groups * kh * kw, from weight.shape[1])."""
    ad.manual_seed(0)
    for layer, fan_in in ((nn.Conv2d(8, 16, 3, groups=2), 4 * 9),
                          (nn.ConvTranspose2d(8, 6, (2, 3), groups=2),
                           3 * 6),
                          (nn.Conv1d(5, 7, 4), 5 * 4)):
        bound = 1 / math.sqrt(fan_in)
        w, b = np.abs(layer.weight.numpy()), np.abs(layer.bias.numpy())
        assert 0.8 * bound < w.max() <= bound and b.max() <= bound


@pytest.mark.parametrize("make,match", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "in_channels must be divisible"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), "out_channels must be divisible"),
    (lambda: nn.Conv2d(2, 2, 3, stride=2, padding="same"),
     "not supported for strided"),
    (lambda: nn.Conv2d(2, 2, 3, padding_mode="mirror"), "padding_mode"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"),
     "Only \"zeros\" padding mode"),
    (lambda: nn.Conv2d(2, 2, (3, 3, 3)), "kernel_size must be an int or a "
     "tuple of 2 ints"),
])
def test_bad_configurations_raise(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_inputs_name_the_shapes():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"expected input\(2, 2, 5, 5\) to "
                       r"have 3 channels, but got 2 channels"):
        conv(ad.zeros(2, 2, 5, 5))
    with pytest.raises(ValueError, match=r"Expected 3D \(unbatched\) or 4D "
                       r"\(batched\) input to conv2d, but got input of "
                       r"size: \[5, 5\]"):
        conv(ad.zeros(5, 5))
    with pytest.raises(TypeError, match="dtype"):
        conv(ad.zeros(1, 3, 5, 5, dtype=ad.float64))
    with pytest.raises(ValueError, match="Kernel size can't be greater"):
        conv(ad.zeros(1, 3, 2, 5))


def _cnn(seed):
    ad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 3 * 3, 3))


def test_compiled_cnn_steps_are_bit_identical_and_allocate_nothing():
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((5, 1, 8, 8)).astype(np.float32),
                rng.integers(0, 3, 5)) for _ in range(4)]
    results = []
    for compiled in (False, True):
        model = _cnn(7)
        opt = ad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(ad.tensor(x)), y)
            loss.backward()
            opt.step()
            return loss

        f = ad.compile(step) if compiled else step
        losses = [f(x, y).numpy().copy() for x, y in batches]
        results.append((losses, [p.numpy().copy()
                                 for p in model.parameters()]))
        if compiled:
            before = ad.memory_stats()["allocations"]
            for x, y in batches:
                f(x, y)
            assert ad.memory_stats()["allocations"] == before
    (le, pe), (lc, pc) = results
    for a, b in zip(le + pe, lc + pc):
        np.testing.assert_array_equal(a, b)


def test_unbatched_input_and_repr():
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    assert conv(ad.zeros(2, 4, 4)).shape == (3, 4, 4)
    assert repr(conv) == ("Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), "
                          "padding=(1, 1), bias=False)")


def test_empty_batch_gives_zero_weight_gradients():
    conv = nn.Conv2d(2, 3, 3, dtype=ad.float64)
    y = conv(ad.zeros(0, 2, 5, 5, dtype=ad.float64))
    assert y.shape == (0, 3, 3, 3)
    (y.sum() + 0 * conv.weight.sum()).backward()
    assert np.all(conv.weight.grad.numpy() == 0)
    assert np.all(conv.bias.grad.numpy() == 0)


# Pointwise (1x1, stride 1, no padding) convolutions run as plain GEMMs on
# the input in place, without im2col / col2im; depthwise ones (groups ==
# in_channels, any multiplier) as a direct kernel: forward and every
# gradient against torch, eager and compiled (bit-identical replays).
FASTPATHS = [
    # transposed, (N, C, H, W), out channels, kernel, keywords
    (False, (3, 4, 5, 7), 6, 1, dict()),
    (False, (3, 4, 5, 7), 6, 1, dict(groups=2, dilation=2)),
    (False, (2, 6, 4, 4), 6, 1, dict(groups=6, bias=False)),
    (False, (2, 4, 1, 9), 8, 1, dict(groups=4)),
    (True, (3, 4, 5, 7), 6, 1, dict()),
    (True, (3, 4, 5, 7), 6, 1, dict(groups=2, dilation=3, bias=False)),
    (True, (2, 6, 4, 4), 12, 1, dict(groups=6)),
    # depthwise
    (False, (3, 4, 9, 11), 4, 3, dict(groups=4, padding=1)),
    (False, (3, 4, 9, 11), 8, 3, dict(groups=4, padding=1, stride=2)),
    (False, (2, 3, 10, 13), 9, (3, 2), dict(groups=3, padding=(2, 1),
                                            stride=(1, 3), dilation=(2, 1))),
    (False, (2, 2, 20, 21), 2, 5, dict(groups=2, padding=2, stride=(2, 1),
                                       dilation=2, bias=False)),
    (False, (2, 5, 4, 4), 5, 5, dict(groups=5, padding=3)),
    (False, (2, 3, 6, 6), 6, 3, dict(groups=3, padding="same",
                                     padding_mode="reflect")),
]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tr,shape,O,k,kw", FASTPATHS)
def test_pointwise_and_depthwise_conv_match_torch_eager_and_compiled(
        tr, shape, O, k, kw, dtype):
    rng = np.random.default_rng(5)
    C = shape[1]
    name = "ConvTranspose2d" if tr else "Conv2d"
    theirs = getattr(torch.nn, name)(C, O, k, **kw,
                                     dtype=getattr(torch, dtype))
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))
    want = [ty.detach().numpy(), tx.grad.numpy()] + [
        p.grad.numpy() for p in theirs.parameters()]
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else \
        dict(rtol=1e-11, atol=1e-11)
    runs = []
    for compiled in (False, True):
        ours = getattr(nn, name)(C, O, k, **kw, dtype=getattr(ad, dtype))
        ours.load_state_dict({k: v.detach().numpy()
                              for k, v in theirs.state_dict().items()})
        x0 = nn.Parameter(ad.zeros(*shape, dtype=getattr(ad, dtype)))
        params = [x0] + list(ours.parameters())

        def step(xb, gb):
            for p in params:
                p.grad = None
            y = ours(x0 + xb)
            (y * gb).sum().backward()
            return y

        f = ad.compile(step) if compiled else step
        got = []
        for _ in range(3):
            y = f(ad.tensor(x), ad.tensor(gy))
            got.append([y.numpy().copy()] + [p.grad.numpy().copy()
                                             for p in params])
        for a, b in zip(got[0], want):
            np.testing.assert_allclose(a, b, **tol)
        runs.append(got)
    for eager, comp in zip(*runs):
        for a, b in zip(eager, comp):
            np.testing.assert_array_equal(a, b)
