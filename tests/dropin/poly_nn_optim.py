# "Learning PyTorch with Examples": the polynomial fit with nn.Sequential,
# a sum-reduced MSELoss and an optimizer from torch.optim.
import math

import torch

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)
# Hook for the drop-in test: start from given weights (torch's own init).
if "INITIAL_STATE" in globals():
    model.load_state_dict(INITIAL_STATE)
initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

loss_fn = torch.nn.MSELoss(reduction='sum')
learning_rate = 1e-3
optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
losses = []
for t in range(300):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
        losses.append(loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

linear_layer = model[0]
print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
results = {"losses": losses,
           "weight": linear_layer.weight.detach().numpy().ravel().tolist(),
           "bias": linear_layer.bias.item()}
