"""
Higher-order derivatives
========================

``ad.grad(f)`` is the function x ↦ f'(x), and it nests: ``ad.grad`` of
it is f'', and so on to any order.  Each level records the backward pass
of the level inside it, so it can be differentiated again.
"""
import math

import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff.plot import plot_derivatives

# %%
# tanh and three derivatives
# --------------------------
# With t = tanh x: tanh' = 1 − t², tanh'' = −2t(1 − t²) and
# tanh''' = (6t² − 2)(1 − t²).

d1 = ad.grad(ad.tanh)
d2 = ad.grad(d1)
d3 = ad.grad(d2)
t = math.tanh(0.5)
print(d1(0.5), d2(0.5), d3(0.5))
assert abs(d1(0.5) - (1 - t * t)) < 1e-15
assert abs(d2(0.5) - (-2 * t * (1 - t * t))) < 1e-15
assert abs(d3(0.5) - (6 * t * t - 2) * (1 - t * t)) < 1e-14

fig = plot_derivatives(ad.tanh, (-3, 3), orders=(0, 1, 2, 3), name="tanh")

# %%
# Taylor polynomials
# ------------------
# The derivatives of sin at 0 cycle through 0, 1, 0, −1.  The Taylor
# polynomial of degree n, Σ f⁽ᵏ⁾(0) xᵏ / k!, approaches sin as n grows.

derivs = [ad.sin]
for k in range(9):
    derivs.append(ad.grad(derivs[-1]))
at0 = [float(d(0.0)) for d in derivs]
print(np.round(at0, 12))
assert np.allclose(at0, [0, 1, 0, -1, 0, 1, 0, -1, 0, 1], atol=1e-12)

xs = np.linspace(-2 * np.pi, 2 * np.pi, 400)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(xs, np.sin(xs), "k", lw=2, label="sin")
for n in (1, 3, 5, 7, 9):
    taylor = sum(at0[k] * xs ** k / math.factorial(k) for k in range(n + 1))
    ax.plot(xs, taylor, label="degree %d" % n)
ax.set_ylim(-2, 2)
ax.legend(loc="lower left", fontsize=8)
ax.set_title("Taylor polynomials of sin at 0, from nested ad.grad")

# %%
# The Hessian
# -----------
# For a function of a vector, ``ad.hessian`` is the Jacobian of the
# gradient.  For f(v) = v₀² v₁³ at (1, 2): f_00 = 2v₁³ = 16,
# f_01 = 6 v₀ v₁² = 24, f_11 = 6 v₀² v₁ = 12.

H = ad.hessian(lambda v: v[0] ** 2 * v[1] ** 3)(np.array([1.0, 2.0]))
print(H)
assert np.array_equal(np.asarray(H), [[16.0, 24.0], [24.0, 12.0]])
