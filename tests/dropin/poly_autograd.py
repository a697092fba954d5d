# "Learning PyTorch with Examples": fit sin(x) with a third order
# polynomial using tensors and autograd (manual updates under no_grad).
import math

import numpy as np
import torch

dtype = torch.float
device = torch.device("cpu")

x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

# The tutorial draws a, b, c, d with torch.randn; numpy draws them here so
# that every backend starts from the same values.
rng = np.random.default_rng(0)
a, b, c, d = (torch.tensor(v, device=device, dtype=dtype, requires_grad=True)
              for v in rng.standard_normal(4))

learning_rate = 1e-6
losses = []
for t in range(500):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())
        losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
results = {"losses": losses, "coef": [a.item(), b.item(), c.item(), d.item()]}
