"""Optimizers (torch.optim) whose updates run in C, and lr schedulers."""
from . import lr_scheduler
from .lbfgs import LBFGS
from .optimizer import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam,
                        Optimizer, RAdam, RMSprop)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
           "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS", "lr_scheduler"]
