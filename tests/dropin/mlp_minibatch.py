# An MLP (nn.Module subclass) on synthetic blobs: mini-batches by a
# permutation and indexing, Adam, StepLR, train()/eval(), no_grad
# evaluation, argmax accuracy, state_dict round trip.
import io

import numpy as np
import torch
from torch import nn, optim
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return self.fc2(x)


torch.manual_seed(0)
rng = np.random.default_rng(4)
n_per, n_classes, n_features = 60, 4, 5
centers = rng.standard_normal((n_classes, n_features)) * 2
X = np.concatenate([c + rng.standard_normal((n_per, n_features))
                    for c in centers]).astype(np.float32)
Y = np.repeat(np.arange(n_classes), n_per)
X_train, y_train = torch.from_numpy(X), torch.from_numpy(Y)

model = MLP(n_features, 16, n_classes)
if "INITIAL_STATE" in globals():
    model.load_state_dict(INITIAL_STATE)
initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)

optimizer = optim.Adam(model.parameters(), lr=0.01)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
loss_fn = nn.CrossEntropyLoss()
batch_size = 32

epoch_losses, lrs = [], []
for epoch in range(8):
    model.train()
    # torch.randperm(n) in the original; numpy's permutation gives every
    # backend the same batches.
    permutation = torch.from_numpy(rng.permutation(X_train.size(0)))
    running = 0.0
    for i in range(0, X_train.size(0), batch_size):
        indices = permutation[i:i + batch_size]
        batch_x, batch_y = X_train[indices], y_train[indices]
        optimizer.zero_grad()
        loss = loss_fn(model(batch_x), batch_y)
        loss.backward()
        optimizer.step()
        running += loss.item() * batch_x.size(0)
    scheduler.step()
    lrs.append(scheduler.get_last_lr()[0])
    epoch_losses.append(running / X_train.size(0))

model.eval()
with torch.no_grad():
    out = model(X_train)
    acc = (out.argmax(1) == y_train).sum().item() / len(y_train)
    # accuracy does not depend on the order: shuffle with torch.randperm
    perm = torch.randperm(len(y_train))
    acc_shuffled = (out[perm].argmax(dim=1) == y_train[perm]).float().mean().item()

buffer = io.BytesIO()
torch.save(model.state_dict(), buffer)
buffer.seek(0)
clone = MLP(n_features, 16, n_classes)
clone.load_state_dict(torch.load(buffer))
clone.eval()
with torch.no_grad():
    same = torch.equal(clone(X_train), out)
print("params", n_params, "acc", acc, "losses", epoch_losses)
results = {"losses": epoch_losses, "lrs": lrs, "acc": acc,
           "acc_shuffled": acc_shuffled, "n_params": n_params,
           "same_after_load": same,
           "keys": list(model.state_dict().keys()),
           "out_row0": out[0].tolist()}
