"""An SGD training loop: minibatches, metrics, callbacks, a progress bar."""
import math
import sys
import time

import numpy as np

from . import _creation, _random
from ._engine import Tensor
from ._grad_mode import no_grad
from .checkpoint import save
from .compile import CompiledFunction, NotCompilableError
from .optim.lr_scheduler import ReduceLROnPlateau


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

    def plot(self, path=None):
        """Loss and metric curves; needs matplotlib (extra 'plot')."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("History.plot needs matplotlib: pip install "
                              "'autodiff[plot]'") from e
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


# --------------------------------------------------------------- callbacks

class Callback:
    """Hooks called by Trainer.fit; set trainer.stop_training to stop."""
    trainer = None

    def on_train_begin(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_end(self, logs=None): pass


def _mode_for(monitor, mode):
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
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


class ModelCheckpoint(Callback):
    """Save the model's state with ad.save whenever `monitor` improves
    (or every epoch with save_best_only=False)."""

    def __init__(self, path, monitor="val_loss", mode="auto",
                 save_best_only=True):
        self.path, self.monitor = path, monitor
        self.mode = _mode_for(monitor, mode)
        self.save_best_only = save_best_only

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        v = logs.get(self.monitor)
        if v is None:
            raise KeyError("ModelCheckpoint monitors %r, but the logs have "
                           "%s" % (self.monitor, sorted(logs)))
        better = v < self.best if self.mode == "min" else v > self.best
        if better or not self.save_best_only:
            if better:
                self.best = v
            save(self.trainer.model, self.path)


# ------------------------------------------------------------------ trainer

class _FitRun:
    """The options of one fit() call, passed around as one object."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.rng = None


class _EpochStats:
    """Sample-weighted sums of the loss and the metrics over an epoch."""

    def __init__(self, metrics):
        self.sums = dict.fromkeys(("loss",) + tuple(metrics), 0.0)
        self.count = 0

    def add(self, loss, k, metrics):
        self.sums["loss"] += loss * k
        for m, v in metrics.items():
            self.sums[m] += v * k
        self.count += k

    def mean(self, name):
        return self.sums[name] / self.count

    def logs(self):
        return {m: self.mean(m) for m in self.sums}


_METRICS = ("accuracy", "mae")
_CLASSIFICATION_LOSSES = ("CrossEntropyLoss", "NLLLoss", "BCELoss",
                          "BCEWithLogitsLoss", "cross_entropy", "nll_loss",
                          "binary_cross_entropy",
                          "binary_cross_entropy_with_logits")


def _loss_name(loss_fn):
    return getattr(loss_fn, "__name__", None) or type(loss_fn).__name__


def _task_of(loss_fn):
    return ("classification" if _loss_name(loss_fn) in _CLASSIFICATION_LOSSES
            or type(loss_fn).__name__ in _CLASSIFICATION_LOSSES
            else "regression")


def _as_array(a, name):
    if isinstance(a, Tensor):
        return a.numpy()
    arr = np.asarray(a)
    if arr.dtype == object:
        raise TypeError("%s must be numeric array data" % name)
    return arr


class Trainer:
    """fit / evaluate / predict for a model, a loss function and an
    optimizer.  Minibatches are cut from numpy arrays by fancy indexing;
    no Python loop over samples."""

    def __init__(self, model, loss_fn, optimizer, compile=True, task=None):
        """task: "classification" or "regression"; by default inferred
        from the loss (cross-entropy, NLL and binary cross-entropy losses
        classify).  It decides the default metrics: accuracy for
        classification, none for regression ("mae" on request)."""
        if task not in (None, "classification", "regression"):
            raise ValueError("task must be 'classification', 'regression' "
                             "or None, got %r" % (task,))
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.task = task or _task_of(loss_fn)
        self.compile = compile
        self._compiled = None
        self._not_compilable = False
        self.stop_training = False
        self._dtype = None
        for p in model.parameters():
            self._dtype = p.dtype
            break

    # ---- helpers
    def _step(self, Xb, yb):
        """One training step on a batch of arrays: run as it is (eager),
        or recorded and replayed by ad.compile, where the arrays arrive
        as ArrayInputs that the same conversions turn into tensors -- so
        the model sees exactly what it sees eagerly."""
        out = self.model(self._inputs(Xb))
        loss = self.loss_fn(out, self._targets(yb))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss, out

    def _can_compile(self):
        # Models whose recording was refused (a custom Function, a value
        # read into Python) train eagerly.
        return self.compile and not self._not_compilable

    def _train_step(self, Xb, yb):
        if not self._can_compile():
            return self._step(Xb, yb)
        if self._compiled is None:
            # The unbound function, with the trainer passed as an argument:
            # a bound method would make trainer -> _compiled -> trainer a
            # reference cycle, and a dropped Trainer (model, optimizer
            # state, recorded programs) would wait for the garbage
            # collector instead of being freed at once.
            self._compiled = CompiledFunction(type(self)._step)
        Xb = np.asarray(Xb, dtype=self._dtype or np.float32)
        if self._is_classification():
            if (yb.dtype.kind in "fb" and yb.ndim == 1
                    and np.all(yb == np.round(yb))
                    and np.all(np.abs(yb) < 2.0 ** 62)):
                # class labels held as floats or bools: the same integers
                # (a compiled step reads integer labels at every call)
                yb = yb.astype(np.int64)
        else:
            yb = np.asarray(yb, dtype=self._dtype or np.float32)
        try:
            return self._compiled(self, Xb, yb)
        except NotCompilableError:
            # raised during the recorded forward, before any update
            self._not_compilable = True
            return self._step(Xb, yb)

    def _inputs(self, Xb):
        return _creation.tensor(Xb, dtype=self._dtype) if self._dtype \
            else _creation.tensor(Xb)

    def _targets(self, yb):
        if yb.dtype.kind in "iub" and self._is_classification():
            return yb
        return _creation.tensor(yb, dtype=self._dtype) if self._dtype \
            else _creation.tensor(yb)

    def _is_classification(self):
        """Multi-class labels (cross-entropy / NLL), as opposed to binary
        cross-entropy's float targets."""
        name = type(self.loss_fn).__name__
        fn = getattr(self.loss_fn, "__name__", "")
        return name in ("CrossEntropyLoss", "NLLLoss") or fn in (
            "cross_entropy", "nll_loss")

    def _metric(self, name, out, yb):
        if name == "mae":
            return float(np.mean(np.abs(out - np.asarray(
                yb, dtype=out.dtype).reshape(out.shape))))
        if out.ndim == 2 and out.shape[1] > 1:
            pred = out.argmax(axis=1)
            if yb.shape == out.shape:       # one-hot / probability targets
                yb = yb.argmax(axis=1)
            return float(np.mean(pred == yb.reshape(-1)))
        logits = type(self.loss_fn).__name__ == "BCEWithLogitsLoss"
        pred = out.reshape(-1) > (0.0 if logits else 0.5)
        return float(np.mean(pred == (yb.reshape(-1) > 0.5)))

    def _check_metrics(self, metrics):
        """A tuple of metric names; checked before any training step, so a
        bad name changes nothing (a single name may be a plain string).
        None: the task's default."""
        if metrics is None:
            return ("accuracy",) if self.task == "classification" else ()
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        for m in metrics:
            if m not in _METRICS:
                raise ValueError("unknown metric %r (supported: %s)"
                                 % (m, ", ".join(map(repr, _METRICS))))
            if m == "accuracy" and self.task != "classification":
                raise ValueError(
                    "metric 'accuracy' needs a classification task, but the "
                    "loss %s is a regression loss (pass task="
                    "'classification' to the Trainer if it classifies)"
                    % _loss_name(self.loss_fn))
        return metrics

    @staticmethod
    def _check_xy(X, y):
        X = _as_array(X, "X")
        y = _as_array(y, "y")
        if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
            raise ValueError("X and y must have the same number of samples, "
                             "got X of shape %s and y of shape %s"
                             % (X.shape, y.shape))
        if len(X) == 0:
            raise ValueError("cannot train on an empty dataset")
        return X, y

    # ---- API
    def fit(self, X, y, epochs=1, batch_size=32, shuffle=True,
            validation_data=None, metrics=None, callbacks=(),
            seed=None, verbose=1):
        """Train for `epochs` passes over (X, y); returns a History.

        An exception raised during fit -- a KeyboardInterrupt from Ctrl-C
        or from a callback -- propagates after the progress bar is closed.
        Every step completed before it stays applied (a step's update is
        one C call, never half done), ``self.history`` holds the epochs
        that completed, and calling fit again trains on from there."""
        X, y = self._check_xy(X, y)
        metrics = self._check_metrics(metrics)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError("batch_size must be a positive integer, got %r"
                             % (batch_size,))
        if validation_data is not None:
            validation_data = self._check_xy(*validation_data)
        run = _FitRun(X=X, y=y, epochs=epochs, batch_size=batch_size,
                      shuffle=shuffle, validation_data=validation_data,
                      metrics=metrics, callbacks=list(callbacks),
                      verbose=verbose)
        if seed is None:
            run.rng = _random._rng(None, None)
            return self._fit(run)
        # A seed makes the whole run reproducible: the shuffling, and the
        # engine's stream that Dropout draws from, are seeded for the
        # duration of fit, and the caller's generators restored after.
        with _random.seeded(seed) as rng:
            run.rng = rng
            return self._fit(run)

    def _fit(self, run):
        history = History()
        for cb in run.callbacks:
            cb.trainer = self
        self.stop_training = False
        for cb in run.callbacks:
            cb.on_train_begin({})
        # Set now, so that after an interrupt it holds the completed epochs.
        self.history = history
        nbatches = (len(run.X) + run.batch_size - 1) // run.batch_size
        bar = _progress(run.verbose, nbatches)
        try:
            for epoch in range(run.epochs):
                history._append(epoch, self._run_epoch(run, epoch, bar))
                if self.stop_training:
                    break
        finally:
            if bar:
                bar.close()
        for cb in run.callbacks:
            cb.on_train_end({})
        return history

    def _run_epoch(self, run, epoch, bar):
        """Train one pass over the data; the epoch's logs."""
        for cb in run.callbacks:
            cb.on_epoch_begin(epoch, {})
        self.model.train()
        n, bs = len(run.X), run.batch_size
        nbatches = (n + bs - 1) // bs
        order = run.rng.permutation(n) if run.shuffle else np.arange(n)
        t0 = time.perf_counter()
        stats = _EpochStats(run.metrics)
        if bar:
            bar.reset(total=nbatches)
            bar.set_description("epoch %d/%d" % (epoch + 1, run.epochs))
        for b in range(nbatches):
            idx = order[b * bs:(b + 1) * bs]
            Xb, yb = run.X[idx], run.y[idx]
            loss, out = self._train_step(Xb, yb)
            lv = loss.item()
            stats.add(lv, len(idx), {
                m: self._metric(m, out.numpy(), yb) for m in run.metrics})
            for cb in run.callbacks:
                cb.on_batch_end(b, {"loss": lv})
            if bar:
                dt = time.perf_counter() - t0
                bar.set_postfix(loss="%.4f" % stats.mean("loss"),
                                samples_per_s="%.0f" % (stats.count / dt))
                bar.update(1)
        logs = stats.logs()
        logs["time"] = time.perf_counter() - t0
        if run.validation_data is not None:
            ev = self.evaluate(*run.validation_data, metrics=run.metrics)
            for k, v in ev.items():
                logs["val_" + k] = v
        for cb in run.callbacks:
            cb.on_epoch_end(epoch, logs)
        return logs

    def evaluate(self, X, y, batch_size=256, metrics=None):
        """Mean loss (and metrics) over the data, in eval mode, no grad."""
        X, y = self._check_xy(X, y)
        metrics = self._check_metrics(metrics)
        was_training = self.model.training
        self.model.eval()
        total, sums = 0.0, {m: 0.0 for m in metrics}
        try:
            with no_grad():
                for s in range(0, len(X), batch_size):
                    Xb, yb = X[s:s + batch_size], y[s:s + batch_size]
                    out = self.model(self._inputs(Xb))
                    total += self.loss_fn(
                        out, self._targets(yb)).item() * len(Xb)
                    o = out.numpy()
                    for m in metrics:
                        sums[m] += self._metric(m, o, yb) * len(Xb)
        finally:
            self.model.train(was_training)
        res = {"loss": total / len(X)}
        for m in metrics:
            res[m] = sums[m] / len(X)
        return res

    def predict(self, X, batch_size=256):
        """Model outputs for X as a numpy array, in eval mode, no grad."""
        X = _as_array(X, "X")
        was_training = self.model.training
        self.model.eval()
        outs = []
        try:
            with no_grad():
                for s in range(0, len(X), batch_size):
                    outs.append(self.model(self._inputs(
                        X[s:s + batch_size])).numpy())
        finally:
            self.model.train(was_training)
        return np.concatenate(outs) if outs else np.zeros((0,))


def _progress(verbose, total):
    """A tqdm bar when verbose and writing to a terminal, else None."""
    if not verbose or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, leave=True, dynamic_ncols=True)
