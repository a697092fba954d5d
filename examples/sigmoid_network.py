"""The 1-2-1 sigmoid network on X = [[0], [1]], y = [[0], [1]], trained by
backpropagation with mean squared error and plain gradient descent."""
import numpy as np

import autodiff as ad
from autodiff import nn, optim


def main(epochs=2000, lr=1.0, seed=0, verbose=True):
    ad.manual_seed(seed)
    X = ad.tensor([[0.0], [1.0]], dtype=ad.float64)
    y = ad.tensor([[0.0], [1.0]], dtype=ad.float64)
    model = nn.Sequential(nn.Linear(1, 2, dtype=ad.float64), nn.Sigmoid(),
                          nn.Linear(2, 1, dtype=ad.float64), nn.Sigmoid())
    opt = optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    for epoch in range(epochs):
        loss = loss_fn(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if verbose and epoch % 500 == 0:
            print("epoch %4d  loss %.6f" % (epoch, losses[-1]))
    with ad.no_grad():
        pred = model(X).numpy()
    if verbose:
        print("final loss %.6f; predictions %s for targets [0, 1]"
              % (losses[-1], np.round(pred.ravel(), 4)))
    return losses, pred


if __name__ == "__main__":
    main()
