# Grad-mode idioms: torch.no_grad() as a decorator and a context,
# set_grad_enabled, gradient accumulation, x.grad.zero_(), detach,
# requires_grad_(False) for freezing, named_parameters, zero_grad(set_to_none=).
import torch
import torch.nn as nn


@torch.no_grad()
def evaluate(model, x):
    out = model(x)
    return out.requires_grad, out.sum().item()


x = torch.linspace(-1, 1, 8).view(-1, 2)
model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
for name, param in model.named_parameters():
    nn.init.constant_(param, 0.1 if "weight" in name else 0.0)
res = {"names": [n for n, _ in model.named_parameters()]}
res["eval"] = evaluate(model, x)
with torch.set_grad_enabled(False):
    res["disabled"] = model(x).requires_grad
res["enabled"] = model(x).requires_grad

w = torch.ones(3, requires_grad=True)
(w * 2).sum().backward()
(w * 3).sum().backward()
res["accumulated"] = w.grad.tolist()
w.grad.zero_()
(w ** 2).sum().backward()
res["after_zero"] = w.grad.tolist()
res["detach"] = w.detach().requires_grad
res["is_leaf"] = [w.is_leaf, (w * 2).is_leaf]

for param in model[0].parameters():
    param.requires_grad_(False)
res["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()),
                      lr=0.5)
for step in range(5):
    opt.zero_grad(set_to_none=True)
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
res["frozen_grad"] = model[0].weight.grad is None
res["grad_none_after_zero"] = (opt.zero_grad(set_to_none=True),
                               model[2].weight.grad)[1] is None
loss = model(x).pow(2).mean()
loss.backward()
opt.zero_grad(set_to_none=False)
res["zeroed"] = model[2].weight.grad.tolist()
res["final"] = model[2].weight.detach().view(-1).tolist()
res["loss"] = loss.item()
print(res)
results = res
