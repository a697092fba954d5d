# Softmax classification of three Gaussian blobs: nn.Linear,
# CrossEntropyLoss, SGD with momentum, accuracy by torch.max(out, 1)[1].
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

rng = np.random.default_rng(3)
centers = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
X = np.concatenate([c + rng.standard_normal((50, 2)) for c in centers])
Y = np.repeat(np.arange(3), 50)
inputs = torch.tensor(X, dtype=torch.float32)
labels = torch.tensor(Y, dtype=torch.long)

model = nn.Linear(2, 3)
nn.init.constant_(model.weight, 0.1)
nn.init.zeros_(model.bias)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

history = []
for epoch in range(30):
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, labels)
    loss.backward()
    optimizer.step()
    _, predicted = torch.max(outputs.data, 1)
    correct = (predicted == labels).sum().item()
    history.append((loss.item(), correct / labels.size(0)))

with torch.no_grad():
    outputs = model(inputs)
    pred = torch.max(outputs, 1)[1]
    acc = (pred == labels).float().mean().item()
    probs = torch.softmax(outputs, dim=1)
print('final loss %.4f accuracy %.3f' % (history[-1][0], acc))
results = {"losses": [h[0] for h in history[::5]],
           "accs": [h[1] for h in history],
           "acc": acc, "prob_row0": probs[0].tolist(),
           "pred_head": pred[:10].tolist(),
           "weight": model.weight.detach().numpy().ravel().tolist()}
