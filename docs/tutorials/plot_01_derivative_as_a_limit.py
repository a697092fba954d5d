"""
The derivative as a limit
=========================

The derivative of f at x is the limit of difference quotients,

.. math:: f'(x) = \\lim_{h \\to 0} \\frac{f(x + h) - f(x)}{h}.

A computer cannot take the limit, but it can take a small h: that is a
*numerical* derivative.  Reverse-mode automatic differentiation computes
f'(x) exactly instead (up to the rounding of the arithmetic itself), by
applying the chain rule to every operation f performed.  This tutorial
compares the two on f(x) = x³ at x = 2, where f'(2) = 3·2² = 12.
"""
import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad


def f(x):
    return x ** 3


x = ad.tensor(2.0, dtype=ad.float64, requires_grad=True)
f(x).backward()
print("f'(2) from backward():", x.grad.item())
assert x.grad.item() == 12.0

# %%
# Difference quotients
# --------------------
# ``ad.numerical_grad`` computes the forward quotient (f(x+h) − f(x)) / h
# or the central one (f(x+h) − f(x−h)) / 2h.  By Taylor's theorem the
# forward quotient is off by about f''(x) h / 2 = 6h and the central one
# by about f'''(x) h² / 6 = h², until h is so small that rounding
# f(x ± h) (about 1e-16 · f(x) / h) takes over.

for h in (1e-1, 1e-2, 1e-3, 1e-4):
    fwd = ad.numerical_grad(f, 2.0, eps=h, method="forward")
    cen = ad.numerical_grad(f, 2.0, eps=h, method="central")
    print("h = %.0e   forward %.10f (error %.2e)   central %.10f "
          "(error %.2e)" % (h, fwd, fwd - 12, cen, cen - 12))

fwd = ad.numerical_grad(f, 2.0, eps=1e-4, method="forward")
cen = ad.numerical_grad(f, 2.0, eps=1e-4, method="central")
assert abs((fwd - 12) / 6e-4 - 1) < 0.01      # error ≈ 6h
assert abs((cen - 12) / 1e-8 - 1) < 0.01      # error ≈ h²

# %%
# The error as h shrinks
# ----------------------
# On a log-log plot the truncation error is a straight line (slope 1 for
# the forward quotient, 2 for the central one) and the rounding error a
# line of slope −1: the best h balances them, about 1e-8 for the forward
# quotient and 1e-5 for the central one.  The derivative from
# ``backward()`` has no h at all.

hs = np.logspace(-13, -1, 61)
err_f = [abs(ad.numerical_grad(f, 2.0, eps=h, method="forward") - 12)
         for h in hs]
err_c = [abs(ad.numerical_grad(f, 2.0, eps=h, method="central") - 12)
         for h in hs]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(hs, np.maximum(err_f, 1e-17), label="forward difference")
ax.loglog(hs, np.maximum(err_c, 1e-17), label="central difference")
ax.loglog(hs, 6 * hs, ":", color="gray", label="6h")
ax.loglog(hs, hs ** 2, "--", color="gray", label="h²")
ax.set_xlabel("h")
ax.set_ylabel("|error| in f'(2)")
ax.set_ylim(1e-13, 10)
ax.legend()
ax.set_title("numerical derivative of x³ at 2")
best_c = hs[int(np.argmin(err_c))]
print("best h for the central difference: %.1e" % best_c)
assert 1e-7 <= best_c <= 1e-3

# %%
# Numerical derivatives of a whole curve
# --------------------------------------
# With ``elementwise=True`` the quotient is taken at every point of an
# array; ``ad.elementwise_grad`` gives the exact derivative at every
# point in one backward pass.  For sin, both are cos.

grid = np.linspace(-np.pi, np.pi, 9)
numeric = ad.numerical_grad(np.sin, grid, elementwise=True)
exact = ad.elementwise_grad(ad.sin)(grid)
print(np.round(exact, 4))
assert np.allclose(numeric, np.cos(grid), atol=1e-9)
assert np.allclose(exact, np.cos(grid), atol=1e-15)
