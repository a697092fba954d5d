# The two-layer net with hand-written backprop (no autograd): .t(), .mm,
# .clone(), grad_h[h < 0] = 0, in-place -= on plain tensors.
import numpy as np
import torch

dtype = torch.float64
N, D_in, H, D_out = 64, 100, 50, 10
rng = np.random.default_rng(2)
x = torch.from_numpy(rng.standard_normal((N, D_in)))
y = torch.from_numpy(rng.standard_normal((N, D_out)))
w1 = torch.from_numpy(rng.standard_normal((D_in, H)) * 0.1).to(dtype)
w2 = torch.from_numpy(rng.standard_normal((H, D_out)) * 0.1).type(dtype)

learning_rate = 1e-4
losses = []
for t in range(200):
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)
    loss = (y_pred - y).pow(2).sum().item()
    losses.append(loss)

    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h_relu = grad_y_pred.mm(w2.t())
    grad_h = grad_h_relu.clone()
    grad_h[h < 0] = 0
    grad_w1 = x.t().mm(grad_h)

    w1 -= learning_rate * grad_w1
    w2 -= learning_rate * grad_w2
print(losses[0], losses[-1])
results = {"losses": losses[::20] + [losses[-1]],
           "w1": w1.numpy()[:3, :3].ravel().tolist(),
           "w2_mean": w2.mean().item()}
