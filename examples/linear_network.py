"""The 3-layer linear network: inputs x1 = 40, x2 = 80, target 60; first
layer weights 0.5 (2x3), second 1.0 (3x1), loss (y - y_hat)^2 / 2, learning
rate 1e-5, 100 epochs.  The loss falls at every epoch."""
import autodiff as ad
from autodiff import nn, optim


def main(epochs=100, lr=1e-5, verbose=True):
    model = nn.Sequential(nn.Linear(2, 3, bias=False, dtype=ad.float64),
                          nn.Linear(3, 1, bias=False, dtype=ad.float64))
    nn.init.constant_(model[0].weight, 0.5)    # stored as (out, in) = (3, 2)
    nn.init.constant_(model[1].weight, 1.0)
    x = ad.tensor([[40.0, 80.0]], dtype=ad.float64)
    y = ad.tensor([[60.0]], dtype=ad.float64)
    opt = optim.SGD(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        y_hat = model(x)
        loss = 0.5 * ((y - y_hat) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if verbose and (epoch < 5 or epoch % 20 == 0 or epoch == epochs - 1):
            print("epoch %3d  y_hat %.4f  loss %.6f"
                  % (epoch, y_hat.item(), losses[-1]))
    falls = all(b < a for a, b in zip(losses, losses[1:]))
    if verbose:
        print("loss fell at every epoch: %s" % falls)
    return losses


if __name__ == "__main__":
    main()
