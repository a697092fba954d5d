"""
Gradient descent in one and two variables
=========================================

Gradient descent moves against the derivative: θ ← θ − η L'(θ).  For
L(θ) = θ² − 4θ + 4 = (θ − 2)², L'(θ) = 2(θ − 2), so one step with
learning rate η = 0.1 maps the distance to the minimum d to 0.8 d:
starting from θ = 0, θ after n steps is exactly 2 − 2·0.8ⁿ.
"""
import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff import optim

theta = ad.tensor(0.0, dtype=ad.float64, requires_grad=True)
path = [theta.item()]
for step in range(30):
    loss = theta ** 2 - 4 * theta + 4
    theta.grad = None
    loss.backward()
    with ad.no_grad():
        theta.add_(theta.grad, alpha=-0.1)     # θ ← θ − 0.1 L'(θ)
    path.append(theta.item())
path = np.array(path)
print("theta after 30 steps: %.8f" % path[-1])
assert np.allclose(path, 2 - 2 * 0.8 ** np.arange(31), rtol=0, atol=1e-12)

ts = np.linspace(-0.5, 3, 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ts, (ts - 2) ** 2, "k", label="L(θ) = (θ − 2)²")
ax.plot(path[:12], (path[:12] - 2) ** 2, "o-", color="tab:red",
        label="the first 11 steps")
ax.set_xlabel("θ")
ax.legend()

# %%
# Two variables: the path on the contour plot
# -------------------------------------------
# On an elongated bowl, L(x, y) = x² + 10y², the gradient (2x, 20y) is
# ten times steeper across the valley than along it.  With learning rate
# 0.09 plain gradient descent multiplies y by 1 − 20·0.09 = −0.8 each
# step (it zig-zags across the valley) and x by 1 − 2·0.09 = 0.82 (it
# crawls along it).  Momentum (``optim.SGD(..., momentum=0.5)``) keeps
# part of the previous step, which damps the zig-zag and speeds up the
# crawl.  Both start at (−4, 1.5) and take 30 steps.


def bowl(p):
    return p[0] ** 2 + 10 * p[1] ** 2


def descend(momentum, steps=30, lr=0.09):
    p = ad.tensor([-4.0, 1.5], dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([p], lr=lr, momentum=momentum)
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        bowl(p).backward()
        opt.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


plain = descend(0.0)
heavy = descend(0.5)
d_plain, d_heavy = np.linalg.norm(plain[-1]), np.linalg.norm(heavy[-1])
print("distance to the minimum after 30 steps: plain %.1e, momentum %.1e"
      % (d_plain, d_heavy))
assert np.allclose(plain[1:, 1] / plain[:-1, 1], -0.8)
assert np.allclose(plain[1:, 0] / plain[:-1, 0], 0.82)
assert d_heavy < d_plain / 10

X, Y = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-2, 2, 200))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.contour(X, Y, X ** 2 + 10 * Y ** 2, levels=np.geomspace(0.05, 60, 15),
           cmap="Greys")
ax.plot(plain[:, 0], plain[:, 1], ".-", label="gradient descent")
ax.plot(heavy[:, 0], heavy[:, 1], ".-", label="momentum 0.5")
ax.plot(0, 0, "k*", markersize=12)
ax.set_aspect("equal")
ax.legend(loc="upper right")
ax.set_title("L(x, y) = x² + 10y², learning rate 0.09")
