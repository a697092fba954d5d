"""Embeddings (nn.functional.embedding / embedding_bag, nn.Embedding,
nn.EmbeddingBag) against torch: values and weight gradients (repeated
indices accumulate, padding_idx rows get none), bags of every mode, state
dicts both ways, compiled steps that follow new indices, errors."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch

W = np.random.default_rng(0).standard_normal((7, 4))
IDX = np.array([[1, 3, 3, 0], [6, 1, 2, 3]])
FLAT, OFF = np.array([1, 3, 3, 0, 6, 1, 2, 3, 3]), np.array([0, 2, 2, 5])


def _grads(y, ty, x, tx, seed=1):
    g = np.random.default_rng(seed).standard_normal(y.shape)
    (y * ad.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12,
                               atol=1e-14)


@needs_torch
@pytest.mark.parametrize("padding_idx", [None, 3, -4])
@pytest.mark.parametrize("shape", [(2, 4), (8,), ()])
def test_embedding_matches_torch(padding_idx, shape):
    idx = np.resize(IDX, shape) if shape else np.array(3)
    x, tx = ad.tensor(W, requires_grad=True), torch.tensor(
        W, requires_grad=True)
    y = F.embedding(ad.tensor(idx), x, padding_idx=padding_idx)
    ty = torch.nn.functional.embedding(torch.tensor(idx), tx,
                                       padding_idx=padding_idx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    _grads(y, ty, x, tx)


@needs_torch
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 3])
@pytest.mark.parametrize("form", ["2d", "offsets", "last_offset"])
def test_embedding_bag_matches_torch(mode, padding_idx, form):
    x, tx = ad.tensor(W, requires_grad=True), torch.tensor(
        W, requires_grad=True)
    kw = dict(mode=mode, padding_idx=padding_idx)
    if form == "2d":
        a, t = (ad.tensor(IDX),), (torch.tensor(IDX),)
    else:
        off = OFF if form == "offsets" else np.append(OFF, FLAT.size)
        kw["include_last_offset"] = form == "last_offset"
        a = (ad.tensor(FLAT), ad.tensor(off))
        t = (torch.tensor(FLAT), torch.tensor(off))
    y = F.embedding_bag(a[0], x, *a[1:], **kw)
    ty = torch.nn.functional.embedding_bag(t[0], tx, *t[1:], **kw)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    _grads(y, ty, x, tx)


@needs_torch
def test_per_sample_weights():
    ps = np.random.default_rng(2).standard_normal(IDX.shape)
    x, tx = ad.tensor(W, requires_grad=True), torch.tensor(
        W, requires_grad=True)
    p, tp = ad.tensor(ps, requires_grad=True), torch.tensor(
        ps, requires_grad=True)
    y = F.embedding_bag(ad.tensor(IDX), x, mode="sum", per_sample_weights=p)
    ty = torch.nn.functional.embedding_bag(torch.tensor(IDX), tx, mode="sum",
                                           per_sample_weights=tp)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(),
                               rtol=1e-12)
    _grads(y, ty, x, tx)
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


@needs_torch
def test_modules_state_dict_both_ways_and_init():
    ad.manual_seed(0)
    ours = nn.Embedding(10, 3, padding_idx=2)
    assert np.all(ours.weight.numpy()[2] == 0)
    assert ours.weight.numpy().std() > 0.5
    theirs = torch.nn.Embedding(10, 3, padding_idx=2)
    theirs.load_state_dict({k: torch.tensor(np.asarray(v))
                            for k, v in ours.state_dict().items()})
    idx = np.array([[2, 9, 0], [4, 4, 2]])
    np.testing.assert_array_equal(
        ours(ad.tensor(idx)).detach().numpy(),
        theirs(torch.tensor(idx)).detach().numpy())
    bag = nn.EmbeddingBag(10, 3, mode="max")
    tbag = torch.nn.EmbeddingBag(10, 3, mode="max")
    bag.load_state_dict({k: v.detach().numpy()
                         for k, v in tbag.state_dict().items()})
    np.testing.assert_array_equal(
        bag(ad.tensor(idx)).detach().numpy(),
        tbag(torch.tensor(idx)).detach().numpy())
    frozen = nn.Embedding.from_pretrained(ad.tensor(W))
    assert not frozen.weight.requires_grad
    assert nn.Embedding.from_pretrained(ad.tensor(W), freeze=False) \
        .weight.requires_grad


def test_compiled_steps_follow_new_indices():
    """Indices passed to a compiled step are read by the engine at every
    replay; repeated indices accumulate; bit-identical to eager steps."""
    runs = []
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 7, (3, 5)) for _ in range(4)]
    for compiled in (False, True):
        ad.manual_seed(1)
        emb = nn.Embedding(7, 4, padding_idx=0, dtype=ad.float64)
        head = nn.Linear(4, 2, dtype=ad.float64)
        opt = ad.optim.SGD(list(emb.parameters()) + list(head.parameters()),
                           lr=0.5)

        def step(idx):
            opt.zero_grad()
            loss = (head(emb(idx).mean(1)) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        runs.append([f(b).numpy().copy() for b in batches]
                    + [emb.weight.numpy().copy()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert np.all(runs[1][-1][0] == 0)          # padding row never moved


def test_bad_inputs():
    w = ad.tensor(W)
    with pytest.raises(IndexError, match="out of bounds"):
        F.embedding(ad.tensor([0, 7]), w)
    with pytest.raises(IndexError, match="out of bounds"):
        F.embedding(ad.tensor([-1]), w)
    with pytest.raises(TypeError, match="Long, Int"):
        F.embedding(ad.tensor([0.0, 1.0]), w)
    with pytest.raises(ValueError, match="Padding_idx must be within"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="only supported for "
                       "mode='sum'"):
        F.embedding_bag(ad.tensor(IDX), w, mode="mean",
                        per_sample_weights=ad.ones(2, 4))
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(ad.tensor(IDX), w, ad.tensor([0]))


def test_second_order_and_max_norm():
    w = ad.tensor(W, requires_grad=True)
    assert ad.gradgradcheck(lambda t: (F.embedding(ad.tensor(IDX), t,
                                                   padding_idx=3) ** 2)
                            .sum(), (w,))
    assert ad.gradgradcheck(lambda t: (F.embedding_bag(
        ad.tensor(IDX), t, mode="mean") ** 2).sum(), (w,))


@needs_torch
def test_max_norm_renormalizes_the_rows_read_in_place():
    ours, theirs = ad.tensor(W * 3), torch.tensor(W * 3)
    y = F.embedding(ad.tensor(IDX), ours, max_norm=1.5)
    ty = torch.nn.functional.embedding(torch.tensor(IDX), theirs,
                                       max_norm=1.5)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
