"""A small typed program using autodiff's public API.

tests/test_typing.py type-checks this file with mypy --strict against the
package's stub (autodiff/_engine.pyi) and also runs it, so every line here
is both well typed and correct at runtime.  The Python layers (nn, optim,
functional, autograd) are not annotated: their results are Any and are
given types here by annotated assignments.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import numpy.typing as npt

import autodiff as ad
from autodiff import Tensor, nn, optim
from autodiff.autograd import FunctionCtx


class Cube(ad.Function):
    """x ** 3 with a hand-written backward."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Tensor:
        x: Tensor
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def quadratic(x: Tensor) -> Tensor:
    return (x ** 2 + 3 * x + 2).sum()


def cubic(x: Tensor) -> Tensor:
    return (x ** 3).sum()


def tensors() -> Tuple[npt.NDArray[Any], float]:
    x: Tensor = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = quadratic(x)
    y.backward(retain_graph=True)
    grad: Optional[Tensor] = x.grad
    assert grad is not None
    values: npt.NDArray[Any] = grad.numpy()     # 2x + 3
    shape: Tuple[int, ...] = x.shape
    assert shape == (3,) and x.ndim == 1 and x.size == 3 and x.is_leaf
    assert x.dtype == ad.float32 and x.requires_grad

    # arithmetic with scalars, lists and arrays on either side
    a = 2.0 * x - x / 4 + [1.0, 1.0, 1.0]
    b = np.ones(3) * x              # Tensor.__rmul__, not ndarray.__mul__
    c = 2 ** x + x ** 0.5 - (-x) + abs(x)
    d: Tensor = (a + b + c).tanh().sigmoid().exp().log()

    # comparisons give bool tensors
    mask: Tensor = x > 1.5
    e = ad.where(mask, x, 0.0)
    f = ad.clip(e, 0.0, 2.5).clamp(max=2.0)

    # shapes, reductions and linear algebra
    w = ad.ones(3, 2, dtype=ad.float64)
    m = (x @ w).relu().mean(axis=0)
    r = ad.randn(4, 3, seed=0)
    s = r.reshape(2, 6).T.sum(dim=1, keepdim=True)
    t = r.view((3, 4)).softmax(dim=-1).transpose(0, 1)
    u = ad.concatenate([r, r], axis=0).max(axis=(0, 1))
    v = ad.stack([x, 2 * x]).var(axis=0, ddof=1).std()
    lin = ad.linear(r, ad.zeros((2, 3)), ad.zeros(2))
    rows = [row.sum() for row in r]
    picked = r[0, 1:] + r[..., None][1, 2, 0] + r[:, mask].sum()

    # losses
    ce = ad.cross_entropy(r, [0, 1, 2, 0])
    mse = ad.mse_loss(r, np.zeros((4, 3)), reduction="sum")
    total = (ce + mse + m.sum() + s.sum() + t.sum() + u + v + lin.sum()
             + picked.sum() + d.sum() + f.sum() + ad.stack(rows).sum())
    total.backward()

    # assignable properties and in-place updates
    x.grad = None
    x.requires_grad = False
    with ad.no_grad():      # (a leaf that requires grad refuses them)
        x.requires_grad_(True).zero_().add_(ad.ones(3), alpha=0.5)
        x -= 0.1 * ad.ones(3)
        x.sub_(1.0, alpha=2.0).mul_(2.0).div_(ad.ones(3)).clamp_(-5.0, 5.0)
        x.pow_(1.0).clip_(max=4.0)
    w = ad.zeros(2, 3)
    w[0] = 1.0
    w[:, 1] = ad.tensor([2.0, 3.0])
    w[np.array([True, False])] = np.ones(3)
    label: str = f"{w.sum():.2f}"
    flat: Tensor = ad.zeros(2, 3, 4).flatten(1)
    assert label == "6.00" and flat.shape == (2, 12)
    stats: Dict[str, int] = ad.memory_stats()
    assert all(isinstance(n, int) for n in stats.values())
    with ad.no_grad():
        frozen = x * 2
    assert not frozen.requires_grad and ad.is_grad_enabled()
    return values, float(total.item())


def custom_function() -> Tensor:
    x = ad.tensor([1.0, -2.0], requires_grad=True)
    y: Tensor = Cube.apply(x)
    y.sum().backward()
    assert x.grad is not None
    return x.grad


def higher_order() -> Tensor:
    x = ad.tensor([1.0, 2.0], dtype=ad.float64)
    df = ad.grad(cubic)
    g: Tensor = df(x)                           # 3 x^2
    h: Tensor = ad.hessian(cubic)(x)            # diag(6 x)
    z = ad.tensor([0.5], requires_grad=True)
    (z ** 3).sum().backward(create_graph=True)
    assert z.grad is not None
    z.grad.sum().backward()                     # d/dz of 3 z^2 is accumulated
    return g + h.sum(axis=1)


def train(steps: int = 3) -> float:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    X = ad.randn(16, 4, seed=1)
    labels: npt.NDArray[np.int64] = np.arange(16) % 3
    last = 0.0
    for _ in range(steps):
        opt.zero_grad()
        out: Tensor = model(X)
        loss = ad.cross_entropy(out, labels)
        loss.backward()
        opt.step()
        last = loss.item()
    p = nn.Parameter(ad.zeros(3))
    assert isinstance(p, Tensor) and p.requires_grad
    with ad.no_grad():
        p.fill_(1.0)
    return last


def main() -> None:
    values, total = tensors()
    np.testing.assert_allclose(values, [5.0, 7.0, 9.0])
    assert np.isfinite(total)
    np.testing.assert_allclose(custom_function().numpy(), [3.0, 12.0])
    np.testing.assert_allclose(higher_order().numpy(), [9.0, 24.0])
    assert np.isfinite(train())


if __name__ == "__main__":
    main()
