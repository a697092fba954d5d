"""A short tour: derivatives, partial derivatives, backpropagation, and an
MLP trained on scikit-learn's digits with the Trainer.

Run with ``autodiff-demo`` (installed with the package) or
``python -m autodiff.demo`` from outside the source tree.
"""
import time

import numpy as np

import autodiff as ad


def derivative_at_many_points():
    # f(x) = x^2 + 3x + 2, so f'(x) = 2x + 3, at 9 points at once.
    x = ad.linspace(-2.0, 2.0, 9, dtype=ad.float64, requires_grad=True)
    f = x ** 2 + 3 * x + 2
    f.sum().backward()          # d(sum f)/dx_i = f'(x_i)
    worst = np.abs(x.grad.numpy() - (2 * x.numpy() + 3)).max()
    print("f(x) = x^2 + 3x + 2")
    for xi, gi in zip(x.numpy(), x.grad.numpy()):
        print("  f'(%+.1f) = %+.3f" % (xi, gi))
    print("  largest difference from 2x + 3: %.1e" % worst)
    return worst


def partial_derivatives():
    # g(x, y) = x^2 y + sin(y): dg/dx = 2xy, dg/dy = x^2 + cos(y)
    x = ad.tensor(1.5, dtype=ad.float64, requires_grad=True)
    y = ad.tensor(0.5, dtype=ad.float64, requires_grad=True)
    g = x ** 2 * y + ad.sin(y)
    g.backward()
    print("g(x, y) = x^2 y + sin(y) at (1.5, 0.5)")
    print("  dg/dx = %.6f (2xy = %.6f)" % (x.grad.item(), 2 * 1.5 * 0.5))
    print("  dg/dy = %.6f (x^2 + cos y = %.6f)"
          % (y.grad.item(), 1.5 ** 2 + np.cos(0.5)))
    return x.grad.item(), y.grad.item()


def train_sigmoid_network(epochs=2000, lr=1.0, seed=0):
    """The 1-2-1 sigmoid network on X = [[0], [1]], y = [[0], [1]]."""
    X = ad.tensor([[0.0], [1.0]], dtype=ad.float64)
    Y = ad.tensor([[0.0], [1.0]], dtype=ad.float64)
    rng = np.random.default_rng(seed)
    W1 = ad.tensor(rng.normal(size=(1, 2)), requires_grad=True)
    b1 = ad.zeros(2, dtype=ad.float64, requires_grad=True)
    W2 = ad.tensor(rng.normal(size=(2, 1)), requires_grad=True)
    b2 = ad.zeros(1, dtype=ad.float64, requires_grad=True)
    params = [W1, b1, W2, b2]
    losses = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        h = ad.sigmoid(X @ W1 + b1)
        out = ad.sigmoid(h @ W2 + b2)
        loss = ad.mse_loss(out, Y)
        for p in params:
            p.grad = None
        loss.backward()
        with ad.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    dt = time.perf_counter() - t0
    with ad.no_grad():
        pred = ad.sigmoid(ad.sigmoid(X @ W1 + b1) @ W2 + b2).numpy()
    print("1-2-1 sigmoid network, %d steps of gradient descent (%.1f us/step)"
          % (epochs, 1e6 * dt / epochs))
    print("  loss %.4f -> %.6f" % (losses[0], losses[-1]))
    print("  predictions for x = 0, 1: %.4f, %.4f" % (pred[0, 0], pred[1, 0]))
    return losses, pred


def train_digits(epochs=30, seed=0, verbose=1):
    """An MLP on the bundled 8x8 digits (needs scikit-learn), holding out
    25%: prints the time per epoch and the held-out accuracy."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("digits: scikit-learn is not installed "
              "(pip install 'autodiff-tape[examples]')")
        return None
    from autodiff import nn, optim
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25,
                                              random_state=seed, stratify=y)
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    trainer = ad.Trainer(model, nn.CrossEntropyLoss(),
                         optim.Adam(model.parameters(), lr=1e-3))
    hist = trainer.fit(X_tr, y_tr, epochs=epochs, batch_size=32, seed=seed,
                       verbose=verbose)
    acc = trainer.evaluate(X_te, y_te)["accuracy"]
    print("digits MLP 64-128-10: %d epochs, %.1f ms per epoch (median), "
          "held-out accuracy %.2f%%"
          % (len(hist.epoch), 1e3 * float(np.median(hist["time"])),
             100 * acc))
    return acc


def main():
    derivative_at_many_points()
    print()
    partial_derivatives()
    print()
    train_sigmoid_network()
    print()
    train_digits()


if __name__ == "__main__":
    main()
