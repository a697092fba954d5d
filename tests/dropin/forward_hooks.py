# Reading activations with forward hooks (the "visualise intermediate
# features" recipe): register_forward_hook stores each layer's output, a
# pre-hook rescales the input, handles remove them; parameter counting.
import numpy as np
import torch
import torch.nn as nn

activation = {}


def get_activation(name):
    def hook(model, input, output):
        activation[name] = output.detach()
    return hook


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


model = Net()
rng = np.random.default_rng(8)
for name, p in model.named_parameters():
    with torch.no_grad():
        p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, tuple(p.shape))
                                 .astype(np.float32)))

h1 = model.fc1.register_forward_hook(get_activation('fc1'))
h2 = model.act.register_forward_hook(get_activation('relu'))
x = torch.from_numpy(np.linspace(-1, 1, 8, dtype=np.float32)).view(2, 4)
out = model(x)
res = {"fc1": activation['fc1'].tolist(), "relu": activation['relu'].tolist(),
       "zeros": (activation['relu'] == 0).sum().item(),
       "out": out.tolist()}

h_pre = model.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
res["doubled"] = model(x).tolist()
h_pre.remove()
h1.remove()
h2.remove()
activation.clear()
res["after_remove"] = (model(x).tolist(), len(activation))

# a hook that replaces the output
h = model.fc2.register_forward_hook(lambda m, i, o: o.softmax(dim=1))
res["softmaxed"] = model(x).sum(dim=1).tolist()
h.remove()
res["n_params"] = sum(p.numel() for p in model.parameters())
res["shapes"] = {n: list(p.shape) for n, p in model.named_parameters()}
print(res)
results = res
