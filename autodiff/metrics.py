"""Metrics for the Trainer, accumulated over an epoch in numpy.

Each metric is a small object with ``reset()``, ``update(out, y)`` and
``compute()``: batch results are summed (counts, sums of errors, a
confusion count), never averaged per batch, so an epoch's value is the
value over all its samples -- the same as scikit-learn's function on the
concatenated outputs (``r2`` and ``f1`` are not means of batch values).
``state_dict()``/``load_state_dict()`` carry the running sums, so a run
resumed in the middle of an epoch ends with the same numbers.

Built-in names (``Trainer.fit(metrics=[...])``):

* ``"accuracy"``: the share of samples whose predicted class is the label
  (argmax over classes; one column: probability > 0.5, or logit > 0 when
  the loss takes logits).  Labels may be class indices, one-hot or
  probability rows.
* ``"top_k_accuracy"``: the label among the k highest scores (k=5, as
  Keras's ``sparse_top_k_categorical_accuracy``; ``TopKAccuracy(k)`` for
  another k).
* ``"mse"``, ``"mae"``: mean squared / absolute error over every element.
* ``"r2"``: the coefficient of determination, per output column and then
  averaged (scikit-learn's ``r2_score`` with ``multioutput=
  "uniform_average"``).
* ``"f1"``: macro-averaged F1 over the classes that occur in the labels or
  the predictions (scikit-learn's ``f1_score(average="macro")``; a class
  with no true or predicted sample scores 0).

A callable ``fn(outputs, targets) -> float`` (numpy arrays) is averaged
over batches, weighted by the batch sizes; its name is ``fn.__name__``.
"""
import numpy as np

__all__ = ["Metric", "Accuracy", "TopKAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "R2Score", "F1Score", "get"]


class Metric:
    """Base class: subclasses set ``name`` and ``task`` and keep their
    running sums as numpy values in ``self.state`` (a dict).

    Attributes
    ----------
    name : str
        The key in the logs ("accuracy", "val_accuracy", ...).
    task : {"classification", "regression", None}
        The tasks it applies to.
    logits : bool
        Set by the Trainer when the loss takes logits (the one-column
        threshold is then 0).
    """
    name = "metric"
    #: "classification", "regression" or None (either)
    task = None

    def __init__(self):
        self.logits = False
        self.reset()

    def reset(self):
        """Clear the running state (called at the start of every epoch)."""
        self.state = {}

    def update(self, out, y):
        """Add a batch to the running state.

        Parameters
        ----------
        out : numpy.ndarray
            The model's outputs for the batch.
        y : numpy.ndarray
            The batch's targets.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def compute(self):
        """The metric over every sample added since the last reset.

        Returns
        -------
        float

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError

    def state_dict(self):
        """The running state (copies), for a checkpoint.

        Returns
        -------
        dict of str to numpy value
        """
        return {k: np.array(v, copy=True) for k, v in self.state.items()}

    def load_state_dict(self, state):
        """Restore a running state from :meth:`state_dict`.

        Parameters
        ----------
        state : dict
            Copied.
        """
        self.state = {k: np.array(v, copy=True) for k, v in state.items()}

    def merge(self, state):
        """Add another running state (a state_dict of the same metric over
        other samples, such as another rank's) into this one. Default: the
        sums of every entry (count vectors padded with zeros).

        Parameters
        ----------
        state : dict
            A state_dict of the same metric.
        """
        for k, v in state.items():
            a, b = np.asarray(self.state.get(k, 0)), np.asarray(v)
            if a.ndim == 1 and len(a) != len(b):
                n = max(len(a), len(b))
                a = np.pad(a, (0, n - len(a)))
                b = np.pad(b, (0, n - len(b)))
            self.state[k] = a + b

    def __repr__(self):
        return "%s()" % type(self).__name__


def _labels_of(out, y):
    """Class labels (n,) from integer labels, or from one-hot /
    probability rows shaped like the outputs."""
    y = np.asarray(y)
    if y.ndim == out.ndim and y.ndim >= 2 and y.shape == out.shape \
            and out.shape[1] > 1:
        return y.argmax(axis=1).reshape(-1)
    return y.reshape(-1)


def _predicted(out, logits):
    """Predicted classes: argmax over classes; one column or a flat
    vector is binary (threshold 0 for logits, 0.5 for probabilities)."""
    if out.ndim >= 2 and out.shape[1] > 1:
        return out.argmax(axis=1).reshape(-1)
    return (out.reshape(-1) > (0.0 if logits else 0.5)).astype(np.int64)


def _binary_labels(out, y):
    if out.ndim >= 2 and out.shape[1] > 1:
        return _labels_of(out, y)
    return (np.asarray(y).reshape(-1) > 0.5).astype(np.int64)


class Accuracy(Metric):
    """The share of samples whose predicted class is the label ("accuracy"):
    argmax over classes, or for one column probability > 0.5 (logit > 0
    when the loss takes logits).  Labels may be class indices, one-hot or
    probability rows.

    Examples
    --------
    >>> m = ad.metrics.Accuracy()
    >>> m.update(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    >>> m.compute()
    0.5
    """
    name, task = "accuracy", "classification"

    def reset(self):
        self.state = {"correct": np.int64(0), "count": np.int64(0)}

    def update(self, out, y):
        pred = _predicted(out, self.logits)
        lab = _binary_labels(out, y)
        self.state["correct"] += np.count_nonzero(pred == lab)
        self.state["count"] += pred.size

    def compute(self):
        return float(self.state["correct"] / max(self.state["count"], 1))


class TopKAccuracy(Accuracy):
    """The label among the k highest scores of each row.

    Parameters
    ----------
    k : int, default 5
        How many of the highest scores count (a tie with the label's score
        counts for it, as scikit-learn).

    Raises
    ------
    ValueError
        For a k that is not a positive int, or (update) scores that are not
        ``(N, C)``.

    Examples
    --------
    >>> m = ad.metrics.TopKAccuracy(k=2)
    >>> m.update(np.array([[0.5, 0.3, 0.2]]), np.array([1]))
    >>> m.compute()
    1.0
    """
    name = "top_k_accuracy"

    def __init__(self, k=5):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError("k must be a positive integer, got %r" % (k,))
        self.k = int(k)
        super().__init__()

    def update(self, out, y):
        if out.ndim != 2:
            raise ValueError("top_k_accuracy needs (N, C) scores, got shape "
                             "%s" % (out.shape,))
        lab = _labels_of(out, y).astype(np.int64)
        k = min(self.k, out.shape[1])
        # a score strictly greater than the label's counts against it, so
        # a tie with the label's score keeps it in the top k (sklearn's
        # top_k_accuracy_score breaks ties the same way)
        mine = out[np.arange(len(lab)), lab]
        above = np.count_nonzero(out > mine[:, None], axis=1)
        self.state["correct"] += np.count_nonzero(above < k)
        self.state["count"] += len(lab)

    def __repr__(self):
        return "TopKAccuracy(k=%d)" % self.k


class _ErrorMean(Metric):
    task = "regression"

    def reset(self):
        self.state = {"sum": np.float64(0.0), "count": np.int64(0)}

    def update(self, out, y):
        d = out.astype(np.float64) - np.asarray(
            y, dtype=np.float64).reshape(out.shape)
        self.state["sum"] += float(np.sum(self._err(d)))
        self.state["count"] += d.size

    def compute(self):
        return float(self.state["sum"] / max(self.state["count"], 1))


class MeanSquaredError(_ErrorMean):
    """The mean squared error over every element ("mse").

    Examples
    --------
    >>> m = ad.metrics.MeanSquaredError()
    >>> m.update(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    >>> m.compute()
    5.0
    """
    name = "mse"

    @staticmethod
    def _err(d):
        return d * d


class MeanAbsoluteError(_ErrorMean):
    """The mean absolute error over every element ("mae").

    Examples
    --------
    >>> m = ad.metrics.MeanAbsoluteError()
    >>> m.update(np.array([1.0, -3.0]), np.array([0.0, 0.0]))
    >>> m.compute()
    2.0
    """
    name = "mae"

    @staticmethod
    def _err(d):
        return np.abs(d)


class R2Score(Metric):
    """R^2 per output column, averaged; the column means and squared
    deviations are merged batch by batch (Chan et al.), so no sum of
    squares cancels.

    scikit-learn's r2_score with multioutput="uniform_average" ("r2");
    compute() is NaN before any sample.

    Examples
    --------
    >>> m = ad.metrics.R2Score()
    >>> m.update(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    >>> round(m.compute(), 4)
    0.7857
    """
    name, task = "r2", "regression"

    def reset(self):
        self.state = {}

    def update(self, out, y):
        o = out.astype(np.float64).reshape(len(out), -1)
        t = np.asarray(y, dtype=np.float64).reshape(o.shape)
        n = len(t)
        if n == 0:
            return
        mean = t.mean(axis=0)
        m2 = ((t - mean) ** 2).sum(axis=0)
        res = ((t - o) ** 2).sum(axis=0)
        s = self.state
        if not s:
            self.state = {"n": np.int64(n), "mean": mean, "m2": m2,
                          "res": res}
            return
        tot = s["n"] + n
        delta = mean - s["mean"]
        s["m2"] = s["m2"] + m2 + delta ** 2 * (s["n"] * n / tot)
        s["mean"] = s["mean"] + delta * (n / tot)
        s["res"] = s["res"] + res
        s["n"] = np.int64(tot)

    def merge(self, state):
        """Chan et al.'s merge of another state (see Metric.merge).

        Parameters
        ----------
        state : dict
            A state_dict of the same metric.
        """
        if not state:
            return
        s = self.state
        if not s:
            self.load_state_dict(state)
            return
        n = state["n"]
        tot = s["n"] + n
        delta = state["mean"] - s["mean"]
        s["m2"] = s["m2"] + state["m2"] + delta ** 2 * (s["n"] * n / tot)
        s["mean"] = s["mean"] + delta * (n / tot)
        s["res"] = s["res"] + state["res"]
        s["n"] = np.int64(tot)

    def compute(self):
        s = self.state
        if not s:
            return float("nan")
        # sklearn: a constant column scores 1 when predicted exactly, else 0
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(s["m2"] > 0, 1.0 - s["res"] / s["m2"],
                          np.where(s["res"] == 0, 1.0, 0.0))
        return float(np.mean(r2))


class F1Score(Metric):
    """Macro F1 from per-class true-positive, false-positive and
    false-negative counts.

    The classes counted are those occurring in the labels or the
    predictions (scikit-learn's f1_score(average="macro")) ("f1").

    Raises
    ------
    ValueError
        (update) for a negative label.

    Examples
    --------
    >>> m = ad.metrics.F1Score()
    >>> m.update(np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), np.array([0, 1, 0]))
    >>> round(m.compute(), 4)
    0.6667
    """
    name, task = "f1", "classification"

    def reset(self):
        self.state = {"tp": np.zeros(0, np.int64), "fp": np.zeros(0, np.int64),
                      "fn": np.zeros(0, np.int64)}

    def update(self, out, y):
        pred = _predicted(out, self.logits)
        lab = _binary_labels(out, y).astype(np.int64)
        if lab.size and lab.min() < 0:
            raise ValueError("f1: labels must be non-negative class "
                             "indices, got %d" % lab.min())
        c = max(int(pred.max(initial=-1)), int(lab.max(initial=-1))) + 1
        s = self.state
        if c > len(s["tp"]):
            for k in s:
                s[k] = np.concatenate([s[k], np.zeros(c - len(s[k]),
                                                      np.int64)])
        c = len(s["tp"])
        hit = pred == lab
        s["tp"] += np.bincount(lab[hit], minlength=c)
        s["fp"] += np.bincount(pred[~hit], minlength=c)
        s["fn"] += np.bincount(lab[~hit], minlength=c)

    def compute(self):
        s = self.state
        den = 2 * s["tp"] + s["fp"] + s["fn"]
        present = den > 0
        if not present.any():
            return 0.0
        return float(np.mean(2.0 * s["tp"][present] / den[present]))


class _Callable(Metric):
    """A user function of (outputs, targets), averaged over batches
    weighted by batch size."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)
        super().__init__()

    def reset(self):
        self.state = {"sum": np.float64(0.0), "count": np.int64(0)}

    def update(self, out, y):
        v = float(self.fn(out, y))
        self.state["sum"] += v * len(out)
        self.state["count"] += len(out)

    def compute(self):
        return float(self.state["sum"] / max(self.state["count"], 1))

    def __repr__(self):
        return "metric(%s)" % self.name


_BUILTIN = {"accuracy": Accuracy, "top_k_accuracy": TopKAccuracy,
            "mse": MeanSquaredError, "mae": MeanAbsoluteError, "r2": R2Score,
            "f1": F1Score}


def get(metric):
    """A fresh Metric from a name, a Metric instance (used as it is) or a
    callable ``fn(outputs, targets) -> float``.

    Parameters
    ----------
    metric : str, Metric or callable
        A built-in name ("accuracy", "top_k_accuracy", "mse", "mae", "r2",
        "f1"), a Metric, or ``fn(outputs, targets) -> float``.

    Returns
    -------
    Metric

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything else.

    Examples
    --------
    >>> ad.metrics.get("mse").name
    'mse'
    """
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        if metric not in _BUILTIN:
            raise ValueError("unknown metric %r (supported: %s, or a "
                             "callable fn(outputs, targets))"
                             % (metric, ", ".join(map(repr, sorted(
                                 _BUILTIN)))))
        return _BUILTIN[metric]()
    if callable(metric):
        return _Callable(metric)
    raise TypeError("a metric is a name, a Metric or a callable, got %r"
                    % (metric,))
