# The classic two-layer net: x.mm(w1).clamp(min=0).mm(w2), autograd for
# the gradients, manual SGD updates under no_grad with grad.zero_().
import numpy as np
import torch

torch.manual_seed(0)
N, D_in, H, D_out = 64, 100, 50, 10
rng = np.random.default_rng(1)
x = torch.from_numpy(rng.standard_normal((N, D_in))).float()
y = torch.tensor(rng.standard_normal((N, D_out)), dtype=torch.float32)
w1 = torch.tensor(rng.standard_normal((D_in, H)) * 0.1, dtype=torch.float32,
                  requires_grad=True)
w2 = torch.tensor(rng.standard_normal((H, D_out)) * 0.1,
                  dtype=torch.float32).requires_grad_()

learning_rate = 1e-4
losses = []
for t in range(100):
    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    losses.append(loss.item())
    loss.backward()
    with torch.no_grad():
        w1 -= learning_rate * w1.grad
        w2 -= learning_rate * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()
print(losses[0], losses[-1])
results = {"losses": losses[::10] + [losses[-1]],
           "w2_sum": w2.sum().item(), "w1_norm": w1.norm().item()}
