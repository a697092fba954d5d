"""The fused dense-layer op: ad.linear(x, W, b) = x @ W.T + b."""
import numpy as np
import pytest

import autodiff as ad
from conftest import assert_close, check_grad

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape", [(5, 3), (3,), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_grad(dtype, xshape, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(xshape)
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(4)
    expect = x @ W.T + (b if bias else 0)
    out = ad.linear(ad.tensor(x, dtype=dtype), ad.tensor(W, dtype=dtype),
                    ad.tensor(b, dtype=dtype) if bias else None)
    assert out.shape == expect.shape
    assert_close(out.numpy(), expect, dtype)
    if bias:
        check_grad(lambda x_, w_, b_: ad.linear(x_, w_, b_), [x, W, b],
                   dtype)
    else:
        check_grad(lambda x_, w_: ad.linear(x_, w_), [x, W], dtype)


def test_linear_matches_matmul_composition_exactly_in_float64():
    rng = np.random.default_rng(2)
    x = ad.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    W = ad.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b = ad.tensor(rng.standard_normal(3), requires_grad=True)
    g = rng.standard_normal((6, 3))
    ad.linear(x, W, b).backward(ad.tensor(g))
    fused = [t.grad.numpy() for t in (x, W, b)]
    for t in (x, W, b):
        t.grad = None
    (x @ W.T + b).backward(ad.tensor(g))
    for f, t in zip(fused, (x, W, b)):
        np.testing.assert_allclose(f, t.grad.numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("shapes", [((5, 3), (4, 2), (4,)),
                                    ((5, 3), (4, 3), (3,)),
                                    ((5, 3), (4, 3, 1), (4,))])
def test_linear_bad_shapes_name_them(shapes):
    xs, ws, bs = shapes
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        ad.linear(ad.zeros(xs), ad.zeros(ws), ad.zeros(bs))


def test_nn_linear_uses_one_record():
    lin = ad.nn.Linear(3, 2)
    before = ad.memory_stats()["tape_live"]
    y = lin(ad.randn(4, 3, seed=0))
    assert ad.memory_stats()["tape_live"] - before == 1
    assert y.requires_grad
