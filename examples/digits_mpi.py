"""Data-parallel training on MPI: the same script under `python` (one
process) and under `mpiexec -n 2 python examples/digits_mpi.py` (two ranks,
each computing the gradient of half of every batch of 64).

batch_size is the global batch, so the run prints the same numbers at any
number of ranks (float64: equal up to rounding); only rank 0 prints.
Needs `pip install 'autodiff-tape[mpi]'` for more than one rank."""
import numpy as np
from sklearn.datasets import load_digits

import autodiff as ad
from autodiff import distributed as dist
from autodiff import nn, optim


def main(epochs=5):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, ytr, Xte, yte = X[:1400], y[:1400], X[1400:], y[1400:]
    ad.manual_seed(0)           # the same initial weights on every rank
    model = nn.Sequential(nn.Linear(64, 128, dtype=ad.float64), nn.ReLU(),
                          nn.Linear(128, 10, dtype=ad.float64))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    trainer = ad.Trainer(model, nn.CrossEntropyLoss(), opt)  # distributed
    #                                        when launched on several ranks
    history = trainer.fit(Xtr, ytr, epochs=epochs, batch_size=64, seed=0,
                          validation_data=(Xte, yte), verbose=2)
    world = dist.world_size() if dist.is_initialized() else 1
    if not dist.is_initialized() or dist.is_main():
        print("ranks: %d, val_accuracy: %.4f" % (
            world, history["val_accuracy"][-1]))
    return history


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
