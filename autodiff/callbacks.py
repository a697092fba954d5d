"""The Trainer's History and callbacks (Keras's names and hooks).

A callback's ``state_dict()`` / ``load_state_dict()`` carry what it has
learned so far (EarlyStopping's best value and patience count, a
scheduler's state), so a checkpoint written by :class:`ModelCheckpoint`
resumes every callback where it was."""
import math

from .checkpoint import save
from .optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["History", "Callback", "EarlyStopping", "LRSchedulerCallback",
           "ModelCheckpoint"]


class History:
    """Per-epoch training (and validation) loss and metrics."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        return "History(epochs=%d, keys=%s)" % (len(self.epoch),
                                                sorted(self.history))

    def state_dict(self):
        return {"epoch": list(self.epoch),
                "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state):
        self.epoch = list(state["epoch"])
        self.history = {k: list(v) for k, v in state["history"].items()}

    def plot(self, path=None):
        """Loss and metric curves; needs matplotlib (extra 'plot')."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install "
                              "'autodiff-tape[plot]'") from e
        names = [k for k in self.history if not k.startswith("val_")]
        fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4),
                                 squeeze=False)
        for ax, k in zip(axes[0], names):
            ax.plot(self.epoch, self.history[k], label=k)
            if "val_" + k in self.history:
                ax.plot(self.epoch, self.history["val_" + k],
                        label="val_" + k)
            ax.set_xlabel("epoch")
            ax.set_title(k)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


class Callback:
    """Hooks called by Trainer.fit; set trainer.stop_training to stop.

    ``state_dict()`` returns what the callback must carry across a resumed
    run (a dict of plain values, arrays and tensors); the default is
    empty."""
    trainer = None

    def on_train_begin(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_end(self, logs=None): pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def _mode_for(monitor, mode):
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith(("f1", "r2"))) \
            else "min"
    if mode not in ("min", "max"):
        raise ValueError("mode must be 'auto', 'min' or 'max', got %r"
                         % (mode,))
    return mode


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by min_delta for patience
    epochs; optionally restore the best weights at the end."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0,
                 mode="auto", restore_best_weights=False):
        self.monitor, self.patience = monitor, patience
        self.min_delta = abs(min_delta)
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.stopped_epoch = None
        self.best_state = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise KeyError("EarlyStopping monitors %r, but the logs have %s"
                           % (self.monitor, sorted(logs)))
        v = logs[self.monitor]
        better = (v < self.best - self.min_delta if self.mode == "min"
                  else v > self.best + self.min_delta)
        if better:
            self.best, self.wait = v, 0
            if self.restore_best_weights:
                self.best_state = {k: t.numpy() for k, t in
                                   self.trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_state is not None:
            self.trainer.model.load_state_dict(self.best_state)

    def state_dict(self):
        return {"best": self.best, "wait": self.wait,
                "stopped_epoch": self.stopped_epoch,
                "best_state": self.best_state}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_state = state["best_state"]


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler at the end of each epoch (a
    ReduceLROnPlateau gets the monitored value)."""

    def __init__(self, scheduler, monitor="val_loss"):
        self.scheduler, self.monitor = scheduler, monitor

    def on_epoch_end(self, epoch, logs=None):
        if isinstance(self.scheduler, ReduceLROnPlateau):
            key = self.monitor if self.monitor in logs else "loss"
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()
        logs["lr"] = self.scheduler.get_last_lr()[0]

    def state_dict(self):
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state["scheduler"])


class ModelCheckpoint(Callback):
    """Save the training state whenever `monitor` improves (or at every
    save point with ``save_best_only=False``).

    Parameters
    ----------
    path : str or path-like
        The file (``.npz``, written atomically by :func:`autodiff.save`).
    monitor : str
        The log entry compared with ``mode`` (default ``"val_loss"``).
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better ("auto": larger for accuracy,
        f1 and r2, else smaller).
    save_best_only : bool
        Save only when the monitored value improves.
    save_weights_only : bool
        True: the file holds the model's ``state_dict()`` only (load it
        with ``model.load_state_dict(ad.load(path))``).  False (default,
        as Keras): the whole training state -- model, optimizer, the
        callbacks' states (schedulers included), the random streams, the
        history and the position in the run -- which
        ``Trainer.fit(..., resume_from=path)`` continues from, so that an
        interrupted and resumed run ends bit-identical to an
        uninterrupted one.  Its ``"model"`` entry is the model's state.
    save_freq : "epoch" or int
        Save at the end of every epoch, or after every `save_freq`
        training batches (then ``save_best_only`` must be False).

    The file is written after every callback has seen the epoch (or
    batch), so the state it holds includes their updates."""

    def __init__(self, path, monitor="val_loss", mode="auto",
                 save_best_only=True, save_weights_only=False,
                 save_freq="epoch"):
        if save_freq != "epoch" and not (
                isinstance(save_freq, int) and not isinstance(save_freq, bool)
                and save_freq > 0):
            raise ValueError("save_freq must be 'epoch' or a positive number "
                             "of batches, got %r" % (save_freq,))
        if save_freq != "epoch" and save_best_only:
            raise ValueError("a checkpoint every %d batches is saved "
                             "unconditionally: pass save_best_only=False"
                             % save_freq)
        self.path, self.monitor = path, monitor
        self.mode = _mode_for(monitor, mode)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch" and \
                self.trainer._global_batch % self.save_freq == 0:
            self.trainer._request_save(self)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq != "epoch":
            return
        v = logs.get(self.monitor)
        if v is None:
            raise KeyError("ModelCheckpoint monitors %r, but the logs have "
                           "%s" % (self.monitor, sorted(logs)))
        better = v < self.best if self.mode == "min" else v > self.best
        if better or not self.save_best_only:
            if better:
                self.best = v
            self.trainer._request_save(self)

    def _write(self, trainer):
        save(trainer.model if self.save_weights_only
             else trainer._training_state(), self.path)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]
