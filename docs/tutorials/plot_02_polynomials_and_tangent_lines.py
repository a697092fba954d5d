"""
Derivatives of polynomials and tangent lines
============================================

For p(x) = x³ − 3x² + 2 the power rule gives p'(x) = 3x² − 6x and
p''(x) = 6x − 6.  autodiff computes the same numbers without knowing the
rule: it differentiates the multiplications and additions that evaluate p.
"""
import numpy as np

import autodiff as ad
from autodiff.plot import plot_derivatives, plot_tangent_line


def p(x):
    return x ** 3 - 3 * x ** 2 + 2


# %%
# The derivative at many points at once
# -------------------------------------
# Summing p over a grid and calling ``backward()`` gives p' at every grid
# point, because the i-th partial derivative of Σ p(xⱼ) is p'(xᵢ).

x = ad.linspace(-1, 3, 9, dtype=ad.float64, requires_grad=True)
p(x).sum().backward()
print(x.grad.numpy())
xs = x.detach().numpy()
assert np.allclose(x.grad.numpy(), 3 * xs ** 2 - 6 * xs, rtol=0, atol=1e-12)

# %%
# p, p' and p''
# -------------
# ``plot_derivatives`` nests ``ad.elementwise_grad`` for each order.  p'
# vanishes where p has its local maximum (x = 0) and minimum (x = 2);
# p'' vanishes at the inflection point x = 1.

fig = plot_derivatives(p, (-1.2, 3.2), orders=(0, 1, 2), name="p")
data = fig.autodiff_data
g = data["x"]
assert np.allclose(data["derivatives"][1], 3 * g ** 2 - 6 * g, atol=1e-10)
assert np.allclose(data["derivatives"][2], 6 * g - 6, atol=1e-10)

# %%
# A tangent line
# --------------
# The tangent at x₀ is y = p'(x₀)(x − x₀) + p(x₀).  At x₀ = 2.5 the slope
# is 3·6.25 − 15 = 3.75.

fig = plot_tangent_line(p, 2.5, (-1.2, 3.4), name="p")
slope = fig.autodiff_data["slope"]
print("slope at 2.5:", slope)
assert abs(slope - 3.75) < 1e-12
assert abs(ad.grad(p)(2.5) - 3.75) < 1e-12
