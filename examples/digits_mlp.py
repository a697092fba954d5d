"""Classify scikit-learn's bundled 8x8 digits with an MLP and the Trainer.

Needs scikit-learn (pip install 'autodiff-tape[examples]').  Holds out 25% of
the 1,797 images and prints the time per epoch and the held-out accuracy.
"""
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim


def load(seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=seed,
                            stratify=y)


def build(seed=0):
    ad.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def main(epochs=30, batch_size=32, lr=1e-3, seed=0, verbose=1):
    X_train, X_test, y_train, y_test = load(seed)
    model = build(seed)
    trainer = ad.Trainer(model, nn.CrossEntropyLoss(),
                         optim.Adam(model.parameters(), lr=lr))
    t0 = time.perf_counter()
    hist = trainer.fit(X_train, y_train, epochs=epochs,
                       batch_size=batch_size, seed=seed,
                       validation_data=(X_test, y_test), verbose=verbose)
    total = time.perf_counter() - t0
    acc = trainer.evaluate(X_test, y_test)["accuracy"]
    per_epoch = float(np.median(hist["time"]))
    if verbose:
        print("digits: %d train / %d held out, %d epochs, %.1f ms per epoch "
              "(median)" % (len(X_train), len(X_test), len(hist.epoch),
                            1e3 * per_epoch))
        print("final training loss %.4f; held-out accuracy %.2f%%"
              % (hist["loss"][-1], 100 * acc))
        print("total %.2f s" % total)
    return acc, per_epoch, hist


if __name__ == "__main__":
    main()
