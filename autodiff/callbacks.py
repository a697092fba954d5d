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
    """Per-epoch training (and validation) loss and metrics, returned by
    :meth:`Trainer.fit <autodiff.trainer.Trainer.fit>` (Keras's History).

    Attributes
    ----------
    history : dict of str to list of float
        One list per log entry ("loss", "accuracy", "val_loss", "lr",
        ...), one value per epoch; ``history["loss"]`` is also
        ``history_obj["loss"]``.
    epoch : list of int
        The epochs recorded, from 0.

    Examples
    --------
    >>> h = ad.trainer.History()
    >>> h.load_state_dict({"epoch": [0, 1], "history": {"loss": [0.5, 0.25]}})
    >>> h["loss"], h
    ([0.5, 0.25], History(epochs=2, keys=['loss']))
    """

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
        """The epochs and the per-epoch values, as copies.

        Returns
        -------
        dict
            ``{"epoch": [...], "history": {key: [...]}}``, what
            :meth:`load_state_dict` takes back.
        """
        return {"epoch": list(self.epoch),
                "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state):
        """Replace the recorded epochs and values by those of `state`.

        Parameters
        ----------
        state : dict
            A :meth:`state_dict` (copied, not aliased).

        Raises
        ------
        KeyError
            When `state` has no "epoch" or "history" entry.
        """
        self.epoch = list(state["epoch"])
        self.history = {k: list(v) for k, v in state["history"].items()}

    def plot(self, path=None):
        """Plot the loss and metric curves, one axis per training entry,
        with its ``val_`` counterpart on the same axis.

        Parameters
        ----------
        path : str or path-like, optional
            Also save the figure there (any format matplotlib writes).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ImportError
            When matplotlib is not installed (the ``[plot]`` extra).
        """
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
    """Base class of the hooks :meth:`Trainer.fit
    <autodiff.trainer.Trainer.fit>` calls (Keras's names); a subclass
    overrides the hooks it needs.  Set ``self.trainer.stop_training =
    True`` in a hook to end training after the current epoch.

    ``state_dict()`` returns what the callback must carry across a resumed
    run (a dict of plain values, arrays and tensors); the default is
    empty.

    Attributes
    ----------
    trainer : Trainer
        Set by ``fit`` before the first hook is called.

    Examples
    --------
    >>> class CountEpochs(ad.trainer.Callback):
    ...     def __init__(self):
    ...         self.n = 0
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         self.n += 1
    >>> model = nn.Linear(2, 1)
    >>> t = ad.trainer.Trainer(model, nn.MSELoss(),
    ...                        ad.optim.SGD(model.parameters(), lr=0.1))
    >>> cb = CountEpochs()
    >>> _ = t.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3, callbacks=[cb],
    ...           verbose=0)
    >>> cb.n
    3
    """
    trainer = None

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts (after a resumed state is
        loaded).

        Parameters
        ----------
        logs : dict, optional
            Empty at this point.
        """

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of every epoch.

        Parameters
        ----------
        epoch : int
            The epoch about to run, from 0.
        logs : dict, optional
            Empty at this point.
        """

    def on_batch_end(self, batch, logs=None):
        """Called after every training batch (after the optimizer step,
        if the batch ended an accumulation group).

        Parameters
        ----------
        batch : int
            The batch's index in the epoch, from 0.
        logs : dict, optional
            ``{"loss": the batch's mean loss}``.
        """

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of every epoch, after validation.

        Parameters
        ----------
        epoch : int
            The epoch just finished, from 0.
        logs : dict
            The epoch's mean training loss and metrics and the validation
            ones (``"val_"`` prefix); a callback may add entries (the
            LRSchedulerCallback adds "lr"), which enter the History.
        """

    def on_train_end(self, logs=None):
        """Called once when ``fit`` ends (also after an early stop).

        Parameters
        ----------
        logs : dict, optional
            The last epoch's logs.
        """

    def state_dict(self):
        """What the callback carries across a resumed run.

        Returns
        -------
        dict
            Plain values, arrays and tensors (empty here).
        """
        return {}

    def load_state_dict(self, state):
        """Restore the state :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            A dict from :meth:`state_dict` (ignored here).
        """


def _mode_for(monitor, mode):
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith(("f1", "r2"))) \
            else "min"
    if mode not in ("min", "max"):
        raise ValueError("mode must be 'auto', 'min' or 'max', got %r"
                         % (mode,))
    return mode


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved by more than
    `min_delta` for `patience` epochs (Keras's EarlyStopping).

    Parameters
    ----------
    monitor : str, default "val_loss"
        The log entry watched ("loss", "val_accuracy", ...).
    patience : int, default 5
        The number of epochs without improvement after which training
        stops.
    min_delta : float, default 0.0
        The smallest change counted as an improvement (its absolute
        value is used).
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; "auto" takes larger for
        names containing "acc" or ending in "f1" or "r2", else smaller.
    restore_best_weights : bool, default False
        Load the model's weights of the best epoch when training ends.

    Raises
    ------
    ValueError
        When `mode` is not "auto", "min" or "max".
    KeyError
        At the end of an epoch whose logs have no `monitor` entry (for
        "val_..." without validation data, for example).

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch training stopped after, or None.
    best : float
        The best monitored value so far.

    Examples
    --------
    >>> es = ad.trainer.EarlyStopping(monitor="val_accuracy", patience=2)
    >>> es.mode
    'max'
    """

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
    """Step a learning-rate scheduler at the end of each epoch, and log
    the learning rate it set as "lr".

    Parameters
    ----------
    scheduler : optim.lr_scheduler.LRScheduler or ReduceLROnPlateau
        Stepped once per epoch: ``scheduler.step()``, or for a
        ReduceLROnPlateau ``scheduler.step(logs[monitor])``.
    monitor : str, default "val_loss"
        The entry a ReduceLROnPlateau is stepped with; when the logs do
        not have it (no validation data), "loss" is used.

    Examples
    --------
    >>> model = nn.Linear(2, 1)
    >>> opt = ad.optim.SGD(model.parameters(), lr=1.0)
    >>> sched = ad.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    >>> t = ad.trainer.Trainer(model, nn.MSELoss(), opt)
    >>> h = t.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
    ...           callbacks=[ad.trainer.LRSchedulerCallback(sched)])
    >>> h["lr"]
    [0.5, 0.25]
    """

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
    batch), so the state it holds includes their updates.

    Raises
    ------
    ValueError
        When `save_freq` is neither "epoch" nor a positive int, when a
        batch frequency comes with ``save_best_only=True``, or when `mode`
        is not "auto", "min" or "max".
    KeyError
        At the end of an epoch whose logs have no `monitor` entry.

    Examples
    --------
    >>> ck = ad.trainer.ModelCheckpoint("run.npz", monitor="loss")
    >>> ck.mode, ck.save_best_only
    ('min', True)
    """

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
