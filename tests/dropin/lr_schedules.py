# Optimizers and schedulers: SGD with momentum, nesterov and weight decay,
# ExponentialLR, param_groups, Adam on a float64 least-squares problem.
import numpy as np
import torch

rng = np.random.default_rng(5)
A = torch.tensor(rng.standard_normal((30, 4)), dtype=torch.float64)
b = torch.tensor(rng.standard_normal(30), dtype=torch.float64)


def run(make_opt, make_sched, steps=40):
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = make_opt([w])
    sched = make_sched(opt) if make_sched else None
    lrs = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((A @ w - b) ** 2).mean()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        lrs.append(opt.param_groups[0]['lr'])
    return loss.item(), w.detach().numpy().tolist(), lrs[-1]


res = {}
res["sgd_momentum"] = run(
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95))
res["sgd_nesterov"] = run(
    lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.1))
res["adam"] = run(lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.99)),
                  None)
res["adamw"] = run(lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1),
                   lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40))
res["rmsprop"] = run(lambda p: torch.optim.RMSprop(p, lr=0.01), None)
print(res)
results = res
