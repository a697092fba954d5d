"""
Partial derivatives, gradients and tangent planes
=================================================

For f(x, y) = x²y + y³ the partial derivatives are ∂f/∂x = 2xy and
∂f/∂y = x² + 3y², so the gradient at (1, 2) is (4, 13).
"""
import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff.plot import plot_tangent_plane


def f(x, y):
    return x ** 2 * y + y ** 3


# %%
# Every leaf gets its partial derivative
# --------------------------------------
# Each tensor created with ``requires_grad=True`` receives ∂f/∂(itself)
# in ``.grad`` after ``backward()``.

x = ad.tensor(1.0, dtype=ad.float64, requires_grad=True)
y = ad.tensor(2.0, dtype=ad.float64, requires_grad=True)
f(x, y).backward()
print("gradient at (1, 2):", (x.grad.item(), y.grad.item()))
assert (x.grad.item(), y.grad.item()) == (4.0, 13.0)

# ``ad.grad`` with ``argnums`` returns the same partial derivatives as a
# function of the point:
df = ad.grad(f, argnums=(0, 1))
print(df(1.0, 2.0))
assert df(1.0, 2.0) == (4.0, 13.0)

# %%
# The gradient field
# ------------------
# On a grid, one ``backward()`` of the sum gives both partial derivatives
# at every point.  The gradient points uphill, across the contour lines.

X, Y = np.meshgrid(np.linspace(-2, 2, 15), np.linspace(-2, 2, 15))
tx = ad.tensor(X, requires_grad=True)
ty = ad.tensor(Y, requires_grad=True)
f(tx, ty).sum().backward()
gx, gy = tx.grad.numpy(), ty.grad.numpy()
assert np.allclose(gx, 2 * X * Y) and np.allclose(gy, X ** 2 + 3 * Y ** 2)

fig, ax = plt.subplots(figsize=(5, 5))
Xf, Yf = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-2, 2, 200))
ax.contour(Xf, Yf, f(Xf, Yf), levels=20, cmap="viridis")
ax.quiver(X, Y, gx, gy, angles="xy", color="tab:red")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("contours of f and its gradient")

# %%
# The tangent plane
# -----------------
# At (x₀, y₀) the plane z = f(x₀, y₀) + fx (x − x₀) + fy (y − y₀) touches
# the surface; at (1, 2) it is z = 10 + 4(x − 1) + 13(y − 2).

fig = plot_tangent_plane(f, (1.0, 2.0), ((-1, 3), (0, 3)))
px, py, pz = fig.autodiff_data["point"]
print("point", (px, py, pz), "gradient", fig.autodiff_data["gradient"])
assert pz == 10.0
assert tuple(fig.autodiff_data["gradient"]) == (4.0, 13.0)
