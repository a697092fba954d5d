"""
Activation functions and their derivatives
==========================================

A neural network's nonlinearity matters twice: its values in the forward
pass and its derivative in the backward pass, where it multiplies every
gradient that flows through it.  A derivative near 0 over a wide range
(sigmoid and tanh far from 0) is what makes gradients vanish.
"""
import numpy as np

import autodiff as ad
from autodiff.plot import plot_activations

fig = plot_activations(("sigmoid", "tanh", "relu", "leaky_relu", "elu",
                        "softplus", "gelu", "silu"))
data = fig.autodiff_data
x = data["x"]

# %%
# The plotted derivatives are the textbook formulas
# -------------------------------------------------
# sigmoid' = σ(1 − σ), tanh' = 1 − tanh², relu' = step, softplus' = σ
# (away from the kink at 0, where relu' is taken as 0, as PyTorch does).

s = data["values"]["sigmoid"]
assert np.allclose(data["derivatives"]["sigmoid"], s * (1 - s), atol=1e-7)
th = data["values"]["tanh"]
assert np.allclose(data["derivatives"]["tanh"], 1 - th ** 2, atol=1e-6)
assert np.array_equal(data["derivatives"]["relu"], (x > 0).astype(float))
assert np.allclose(data["derivatives"]["softplus"], s, atol=1e-6)
print("largest slope of sigmoid: %.4f (at x = 0: 1/4)"
      % data["derivatives"]["sigmoid"].max())
assert abs(data["derivatives"]["sigmoid"].max() - 0.25) < 1e-4

# %%
# Vanishing gradients
# -------------------
# Through n sigmoid layers a gradient is multiplied by at most (1/4)ⁿ:
# ten stacked sigmoids pass at most 1e-6 of it back.

x = ad.tensor(0.0, dtype=ad.float64, requires_grad=True)
h = x
for _ in range(10):
    h = ad.sigmoid(h)
h.backward()
print("d sigmoid^10 / dx at 0: %.3e" % x.grad.item())
assert 0 < x.grad.item() <= 0.25 ** 10
