"""
Backpropagation by hand
=======================

``backward()`` applies the chain rule from the loss back to every
parameter.  Here it is written out by hand, in numpy, for two small
networks, and compared with what ``backward()`` computes.
"""
import matplotlib.pyplot as plt
import numpy as np

import autodiff as ad
from autodiff import nn, optim

# %%
# The 1-2-1 sigmoid network
# -------------------------
# One input, two hidden sigmoid units, one sigmoid output, mean squared
# error over two samples (x = 0 → 0, x = 1 → 1):
#
# h = σ(X W₁ + b₁),  ŷ = σ(h W₂ + b₂),  L = mean((ŷ − Y)²).

rng = np.random.default_rng(0)
Xn = np.array([[0.0], [1.0]])
Yn = np.array([[0.0], [1.0]])
W1n, b1n = rng.normal(size=(1, 2)), np.zeros(2)
W2n, b2n = rng.normal(size=(2, 1)), np.zeros(1)


def sigma(z):
    return 1 / (1 + np.exp(-z))


# forward, keeping what the backward pass needs
h = sigma(Xn @ W1n + b1n)
out = sigma(h @ W2n + b2n)
# backward: each line is one step of the chain rule
d_out = 2 * (out - Yn) / out.size         # dL/dŷ
d_z2 = d_out * out * (1 - out)            # σ'(z) = σ(z)(1 − σ(z))
d_W2 = h.T @ d_z2
d_b2 = d_z2.sum(axis=0)
d_h = d_z2 @ W2n.T
d_z1 = d_h * h * (1 - h)
d_W1 = Xn.T @ d_z1
d_b1 = d_z1.sum(axis=0)

# the same network in autodiff
X, Y = ad.tensor(Xn), ad.tensor(Yn)
W1, b1 = ad.tensor(W1n, requires_grad=True), ad.tensor(b1n, requires_grad=True)
W2, b2 = ad.tensor(W2n, requires_grad=True), ad.tensor(b2n, requires_grad=True)
loss = ad.mse_loss(ad.sigmoid(ad.sigmoid(X @ W1 + b1) @ W2 + b2), Y)
loss.backward()
for name, p, by_hand in (("W1", W1, d_W1), ("b1", b1, d_b1),
                         ("W2", W2, d_W2), ("b2", b2, d_b2)):
    print(name, "backward():", p.grad.numpy().ravel(), " by hand:",
          by_hand.ravel())
    assert np.allclose(p.grad.numpy(), by_hand, rtol=1e-12, atol=0)

# %%
# Training it: 2,000 steps of gradient descent with learning rate 1.

losses = []
for step in range(2000):
    loss = ad.mse_loss(ad.sigmoid(ad.sigmoid(X @ W1 + b1) @ W2 + b2), Y)
    for p in (W1, b1, W2, b2):
        p.grad = None
    loss.backward()
    with ad.no_grad():
        for p in (W1, b1, W2, b2):
            p.add_(p.grad, alpha=-1.0)
    losses.append(loss.item())
print("loss after 2000 steps: %.1e" % losses[-1])
assert losses[-1] < 1e-3

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(losses)
ax.set_xlabel("step")
ax.set_ylabel("mean squared error")
ax.set_title("the 1-2-1 sigmoid network")

# %%
# The 3-layer linear network
# --------------------------
# Inputs x = (40, 80), target 60, a hidden layer of three units with every
# weight 0.5, an output weight of 1.0 for each, no biases, no activation,
# L = (y − ŷ)² / 2.  Then every hidden unit is 0.5·40 + 0.5·80 = 60,
# ŷ = 180 and L = 7200.  By hand: dL/dŷ = ŷ − y = 120, so
# dL/dW₂ = 120 · 60 = 7200 for each output weight, and
# dL/dW₁ = 120 · 1.0 · x = 4800 (from x₁) or 9600 (from x₂).

model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=ad.float64),
                      nn.Linear(3, 1, bias=False, dtype=ad.float64))
nn.init.constant_(model[0].weight, 0.5)    # stored as (out, in) = (3, 2)
nn.init.constant_(model[1].weight, 1.0)
x = ad.tensor([[40.0, 80.0]], dtype=ad.float64)
y = ad.tensor([[60.0]], dtype=ad.float64)
y_hat = model(x)
loss = 0.5 * ((y - y_hat) ** 2).sum()
loss.backward()
print("y_hat", y_hat.item(), "loss", loss.item())
print("dL/dW1 =\n", model[0].weight.grad.numpy())
print("dL/dW2 =", model[1].weight.grad.numpy())
assert (y_hat.item(), loss.item()) == (180.0, 7200.0)
assert np.array_equal(model[0].weight.grad.numpy(), [[4800.0, 9600.0]] * 3)
assert np.array_equal(model[1].weight.grad.numpy(), [[7200.0] * 3])

# %%
# With learning rate 1e-5 the loss falls at every one of 100 epochs.

opt = optim.SGD(model.parameters(), lr=1e-5)
losses = []
for epoch in range(100):
    loss = 0.5 * ((y - model(x)) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print("loss: first %.1f, last %.3g" % (losses[0], losses[-1]))
assert all(b < a for a, b in zip(losses, losses[1:]))

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(losses)
ax.set_xlabel("epoch")
ax.set_ylabel("(y − ŷ)² / 2")
ax.set_title("the 3-layer linear network")
