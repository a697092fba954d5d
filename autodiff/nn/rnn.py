"""Recurrent layers (torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell):
torch's constructor arguments, attributes, parameter names and shapes
(weight_ih_l{k}{_reverse}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k};
the gates stacked in torch's order: LSTM i, f, g, o; GRU r, z, n), so a
state_dict loads both ways, and torch's initialisation (every parameter
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))).  The computation is
autodiff/_rnn.py."""
import math
import numbers
import warnings

from .. import _creation, _engine, _rnn
from .._device import check_device
from .._engine import Tensor, _reshape
from . import init
from .modules import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell",
           "LSTMCell", "GRUCell"]


def _check_size(name, what, v, positive=True):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or \
            v < (1 if positive else 0):
        raise ValueError("%s: %s must be a %s integer, got %r"
                         % (name, what, "positive" if positive
                            else "non-negative", v))
    return int(v)


def _as_tensor(x, dt):
    return x if isinstance(x, Tensor) else _creation.tensor(x, dtype=dt)


class RNNBase(Module):
    """The layer over a whole sequence (torch.nn.RNNBase)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1,
                 bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None,
                 nonlinearity=None, generator=None):
        super().__init__()
        check_device(device)
        name = type(self).__name__
        if isinstance(proj_size, bool) or not isinstance(
                proj_size, numbers.Integral) or proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero "
                             "to disable projections")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, "
                             "not RNN or GRU")
        if proj_size and isinstance(hidden_size, numbers.Integral) and \
                proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if isinstance(dropout, bool) or \
                not isinstance(dropout, numbers.Number) or \
                not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] "
                             "representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last "
                          "recurrent layer, so non-zero dropout expects "
                          "num_layers greater than 1, but got dropout=%s "
                          "and num_layers=%s" % (dropout, num_layers))
        self.mode = mode
        self.input_size = _check_size(name, "input_size", input_size, False)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.num_layers = _check_size(name, "num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = int(proj_size)
        if nonlinearity is not None:
            self.nonlinearity = nonlinearity
        dt = dtype or _engine.float32
        G = _rnn._GATES[mode]
        D = 2 if bidirectional else 1
        H = self.hidden_size
        P = self.proj_size or H         # the size of h (torch's real size)
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            for d in range(D):
                sfx = "_reverse" if d else ""
                I = self.input_size if layer == 0 else P * D
                shapes = [("weight_ih", (G * H, I)), ("weight_hh", (G * H, P))]
                if bias:
                    shapes += [("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (P, H)))
                for pname, shape in shapes:
                    full = "%s_l%d%s" % (pname, layer, sfx)
                    setattr(self, full,
                            Parameter(_creation.zeros(*shape, dtype=dt)))
                    self._flat_weights_names.append(full)
        self.reset_parameters(generator)

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters per layer and direction: a list of lists
        ``[weight_ih, weight_hh, bias_ih, bias_hh(, weight_hr)]``, as torch.
        """
        per = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def reset_parameters(self, generator=None):
        """Draw every weight and bias again from U(-1/sqrt(hidden_size),
        1/sqrt(hidden_size)), as torch.

        Parameters
        ----------
        generator : numpy.random.Generator, optional
            Draw from it instead of the default generator.
        """
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv, generator)

    def flatten_parameters(self):
        """torch's cuDNN weight compaction: nothing to do here."""

    def _check(self, x, hx):
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise ValueError("%s: Expected input to be 2D or 3D, got %dD "
                             "tensor of shape %s" % (name, x.ndim, x.shape))
        if x.shape[-1] != self.input_size:
            raise ValueError("%s: input.size(-1) must be equal to input_size."
                             " Expected %d, got %d (input of shape %s)"
                             % (name, self.input_size, x.shape[-1], x.shape))
        batched = x.ndim == 3
        T = x.shape[1] if batched and self.batch_first else x.shape[0]
        if T == 0:
            raise ValueError("%s: Expected sequence length to be larger "
                             "than 0 in RNN (input of shape %s)"
                             % (name, x.shape))
        D = 2 if self.bidirectional else 1
        P = self.proj_size or self.hidden_size
        if batched:
            B = x.shape[0] if self.batch_first else x.shape[1]
            wants = [(self.num_layers * D, B, n) for n in (P, self.hidden_size)]
        else:
            wants = [(self.num_layers * D, n) for n in (P, self.hidden_size)]
        states = ()
        if hx is not None:
            states = hx if self.mode == "LSTM" else (hx,)
            if self.mode == "LSTM" and (not isinstance(hx, (tuple, list))
                                        or len(hx) != 2):
                raise ValueError("LSTM: hx must be a pair (h_0, c_0)")
            for what, s, want in zip(("hidden", "cell"), states, wants):
                if tuple(s.shape) != want:
                    raise ValueError("%s: Expected %s size %s, got %s (input "
                                     "of shape %s)" % (name, what, want,
                                                       tuple(s.shape),
                                                       x.shape))
        return batched

    def forward(self, input, hx=None):
        dt = self.weight_ih_l0.dtype
        x = _as_tensor(input, dt)
        if hx is not None:
            if self.mode == "LSTM":
                hx = tuple(_as_tensor(s, dt) for s in hx)
            else:
                hx = _as_tensor(hx, dt)
        batched = self._check(x, hx)
        if not batched:
            x = _reshape(x, (x.shape[0], 1, x.shape[1]))
            if hx is not None:
                if self.mode == "LSTM":
                    hx = tuple(_reshape(s, (s.shape[0], 1, s.shape[1]))
                               for s in hx)
                else:
                    hx = _reshape(hx, (hx.shape[0], 1, hx.shape[1]))
            bf = False
        else:
            bf = self.batch_first
        mode = self.mode
        if mode == "RNN":
            mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        out, hn = _rnn.rnn(mode, x, hx, self._flat_weights, self.num_layers,
                           self.bias, bf, self.dropout, self.training,
                           self.bidirectional, self.hidden_size,
                           self.proj_size)
        if not batched:
            out = _reshape(out, (out.shape[0], out.shape[2]))
            if self.mode == "LSTM":
                hn = tuple(_reshape(s, (s.shape[0], s.shape[2]))
                           for s in hn)
            else:
                hn = _reshape(hn, (hn.shape[0], hn.shape[2]))
        return out, hn

    def extra_repr(self):
        s = "%d, %d" % (self.input_size, self.hidden_size)
        if self.proj_size:
            s += ", proj_size=%d" % self.proj_size
        if self.num_layers != 1:
            s += ", num_layers=%d" % self.num_layers
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += ", dropout=%g" % self.dropout
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """An Elman RNN over a whole sequence (torch.nn.RNN):
    ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu).
    Returns ``(output, h_n)``.

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    num_layers : int, default 1
        Stacked layers, each reading the previous one's output.
    nonlinearity : {"tanh", "relu"}, default "tanh"
    bias : bool, default True
        The b_ih and b_hh biases.
    batch_first : bool, default False
        Input and output are ``(N, L, *)`` instead of ``(L, N, *)``.
    dropout : float, default 0.0
        Dropout on the outputs of every layer but the last (training mode).
    bidirectional : bool, default False
        Also run each layer backwards; the outputs are concatenated.
    proj_size : int, default 0
        Accepted to raise torch's error when nonzero (LSTM only).
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights, U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        as torch, from it.

    Raises
    ------
    ValueError
        For bad sizes, dropout outside [0, 1], a proj_size that is not
        smaller than hidden_size (or given to RNN / GRU), or (calling it) an
        input of the wrong rank or feature count.

    Shape
    -----
    Called as ``layer(input, hx=None)`` (hx zeros by default); D = 2 if
    bidirectional else 1, H_out = proj_size or hidden_size.

    - input: ``(L, N, input_size)`` (``(N, L, input_size)`` with batch_first)
      or unbatched ``(L, input_size)``.
    - hx, h_n: ``(D * num_layers, N, H_out)`` (unbatched: without N).
    - output: ``(L, N, D * H_out)`` (batch_first: ``(N, L, D * H_out)``), the
      last layer's h at every step.

    Examples
    --------
    >>> out, h = nn.RNN(4, 8, num_layers=2)(ad.zeros(5, 3, 4))
    >>> out.shape, h.shape
    ((5, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size, hidden_size, num_layers=1,
                 nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None,
                 generator=None, proj_size=0):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError("Unknown nonlinearity '%s'. Select from 'tanh' "
                             "or 'relu'." % (nonlinearity,))
        super().__init__("RNN", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, proj_size,
                         device, dtype, nonlinearity, generator)

    def extra_repr(self):
        s = super().extra_repr()
        if self.nonlinearity != "tanh":
            s += ", nonlinearity=%s" % self.nonlinearity
        return s


class LSTM(RNNBase):
    """A long short-term memory over a whole sequence (torch.nn.LSTM), gates
    i, f, g, o.  Returns ``(output, (h_n, c_n))``.

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    num_layers : int, default 1
        Stacked layers, each reading the previous one's output.
    bias : bool, default True
        The b_ih and b_hh biases.
    batch_first : bool, default False
        Input and output are ``(N, L, *)`` instead of ``(L, N, *)``.
    dropout : float, default 0.0
        Dropout on the outputs of every layer but the last (training mode).
    bidirectional : bool, default False
        Also run each layer backwards; the outputs are concatenated.
    proj_size : int, default 0
        Project h to this size (W_hr), as torch.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights, U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        as torch, from it.

    Raises
    ------
    ValueError
        For bad sizes, dropout outside [0, 1], a proj_size that is not
        smaller than hidden_size (or given to RNN / GRU), or (calling it) an
        input of the wrong rank or feature count.

    Shape
    -----
    Called as ``layer(input, hx=None)`` (hx zeros by default); D = 2 if
    bidirectional else 1, H_out = proj_size or hidden_size.

    - input: ``(L, N, input_size)`` (``(N, L, input_size)`` with batch_first)
      or unbatched ``(L, input_size)``.
    - hx = (h_0, c_0): ``(D * num_layers, N, H_out)`` and
      ``(D * num_layers, N, hidden_size)``; likewise (h_n, c_n).
    - output: ``(L, N, D * H_out)`` (batch_first: ``(N, L, D * H_out)``), the
      last layer's h at every step.

    Examples
    --------
    >>> out, (h, c) = nn.LSTM(4, 8, batch_first=True)(ad.zeros(3, 5, 4))
    >>> out.shape, h.shape, c.shape
    ((3, 5, 8), (1, 3, 8), (1, 3, 8))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False,
                 proj_size=0, device=None, dtype=None, generator=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, proj_size,
                         device, dtype, None, generator)


class GRU(RNNBase):
    """A gated recurrent unit over a whole sequence (torch.nn.GRU), gates
    r, z, n with ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``.  Returns
    ``(output, h_n)``.

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    num_layers : int, default 1
        Stacked layers, each reading the previous one's output.
    bias : bool, default True
        The b_ih and b_hh biases.
    batch_first : bool, default False
        Input and output are ``(N, L, *)`` instead of ``(L, N, *)``.
    dropout : float, default 0.0
        Dropout on the outputs of every layer but the last (training mode).
    bidirectional : bool, default False
        Also run each layer backwards; the outputs are concatenated.
    proj_size : int, default 0
        Accepted to raise torch's error when nonzero (LSTM only).
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights, U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        as torch, from it.

    Raises
    ------
    ValueError
        For bad sizes, dropout outside [0, 1], a proj_size that is not
        smaller than hidden_size (or given to RNN / GRU), or (calling it) an
        input of the wrong rank or feature count.

    Shape
    -----
    Called as ``layer(input, hx=None)`` (hx zeros by default); D = 2 if
    bidirectional else 1, H_out = proj_size or hidden_size.

    - input: ``(L, N, input_size)`` (``(N, L, input_size)`` with batch_first)
      or unbatched ``(L, input_size)``.
    - hx, h_n: ``(D * num_layers, N, hidden_size)``.
    - output: ``(L, N, D * H_out)`` (batch_first: ``(N, L, D * H_out)``), the
      last layer's h at every step.

    Examples
    --------
    >>> out, h = nn.GRU(4, 8, bidirectional=True)(ad.zeros(5, 4))
    >>> out.shape, h.shape
    ((5, 16), (2, 8))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False,
                 device=None, dtype=None, generator=None, proj_size=0):
        # proj_size: accepted to raise torch's error (LSTM only)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, proj_size,
                         device, dtype, None, generator)


# ------------------------------------------------------------------ cells

class RNNCellBase(Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None,
                 dtype=None, generator=None):
        super().__init__()
        check_device(device)
        name = type(self).__name__
        self.input_size = _check_size(name, "input_size", input_size, False)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        dt = dtype or _engine.float32
        G, H = self._gates, self.hidden_size
        self.weight_ih = Parameter(_creation.zeros(G * H, self.input_size,
                                                   dtype=dt))
        self.weight_hh = Parameter(_creation.zeros(G * H, H, dtype=dt))
        if bias:
            self.bias_ih = Parameter(_creation.zeros(G * H, dtype=dt))
            self.bias_hh = Parameter(_creation.zeros(G * H, dtype=dt))
        else:
            self.bias_ih = None
            self.bias_hh = None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Draw every weight and bias again from U(-1/sqrt(hidden_size),
        1/sqrt(hidden_size)), as torch.

        Parameters
        ----------
        generator : numpy.random.Generator, optional
            Draw from it instead of the default generator.
        """
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv, generator)

    def _prepare(self, input, states):
        """input and states as 2-D tensors; returns (x, states, batched)."""
        name = type(self).__name__
        dt = self.weight_ih.dtype
        x = _as_tensor(input, dt)
        if x.ndim not in (1, 2):
            raise ValueError("%s: Expected input to be 1D or 2D, got %dD "
                             "tensor of shape %s" % (name, x.ndim, x.shape))
        if x.shape[-1] != self.input_size:
            raise ValueError("%s: input has inconsistent input_size: got %d "
                             "expected %d (input of shape %s)"
                             % (name, x.shape[-1], self.input_size, x.shape))
        batched = x.ndim == 2
        if not batched:
            x = _reshape(x, (1, x.shape[0]))
        B = x.shape[0]
        out = []
        for s in states:
            if s is None:
                s = _creation.zeros(B, self.hidden_size, dtype=dt)
            else:
                s = _as_tensor(s, dt)
                want = (B, self.hidden_size) if batched \
                    else (self.hidden_size,)
                if tuple(s.shape) != want:
                    raise ValueError("%s: Expected hidden state of shape %s, "
                                     "got %s (input of shape %s)"
                                     % (name, want, tuple(s.shape),
                                        tuple(input.shape)))
                if not batched:
                    s = _reshape(s, (1, s.shape[0]))
            out.append(s)
        return x, out, batched

    def _args(self):
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self):
        s = "%d, %d" % (self.input_size, self.hidden_size)
        if not self.bias:
            s += ", bias=False"
        return s


def _unbatch(t, batched):
    return t if batched else _reshape(t, (t.shape[1],))


class RNNCell(RNNCellBase):
    """One step of an Elman RNN (torch.nn.RNNCell): ``h' = tanh(x W_ih^T +
    b_ih + h W_hh^T + b_hh)`` (or relu).

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    bias : bool, default True
        The b_ih and b_hh biases.
    nonlinearity : {"tanh", "relu"}, default "tanh"
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it.

    Raises
    ------
    ValueError
        For bad sizes, or (calling it) an input that is not 1-D or 2-D or has
        another feature count.

    Shape
    -----
    Called as ``cell(input, hx=None)`` (zeros by default).

    - input: ``(N, input_size)`` or ``(input_size,)``.
    - hx and the output h': ``(N, hidden_size)`` or ``(hidden_size,)``.

    Examples
    --------
    >>> nn.RNNCell(4, 8)(ad.zeros(3, 4)).shape
    (3, 8)
    """

    def __init__(self, input_size, hidden_size, bias=True,
                 nonlinearity="tanh", device=None, dtype=None,
                 generator=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError("Unknown nonlinearity: %s" % (nonlinearity,))
        super().__init__(input_size, hidden_size, bias, device, dtype,
                         generator)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        fn = _rnn.rnn_tanh_cell if self.nonlinearity == "tanh" \
            else _rnn.rnn_relu_cell
        return _unbatch(fn(x, h, *self._args()), batched)


class LSTMCell(RNNCellBase):
    """One step of an LSTM (torch.nn.LSTMCell); returns ``(h', c')``.

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    bias : bool, default True
        The b_ih and b_hh biases.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it.

    Raises
    ------
    ValueError
        For bad sizes, or (calling it) an input that is not 1-D or 2-D or has
        another feature count.

    Shape
    -----
    Called as ``cell(input, hx=None)`` (zeros by default).

    - input: ``(N, input_size)`` or ``(input_size,)``.
    - hx = (h, c) and the output (h', c'): ``(N, hidden_size)`` each.

    Examples
    --------
    >>> h, c = nn.LSTMCell(4, 8)(ad.zeros(3, 4))
    >>> h.shape, c.shape
    ((3, 8), (3, 8))
    """
    _gates = 4

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ValueError("LSTMCell: hx must be a pair (h_0, c_0)")
        x, (h, c), batched = self._prepare(input, list(hx))
        h2, c2 = _rnn.lstm_cell(x, (h, c), *self._args())
        return _unbatch(h2, batched), _unbatch(c2, batched)


class GRUCell(RNNCellBase):
    """One step of a GRU (torch.nn.GRUCell); returns h'.

    Parameters
    ----------
    input_size : int
        The number of features of x.
    hidden_size : int
        The number of features of h.
    bias : bool, default True
        The b_ih and b_hh biases.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).
    generator : numpy.random.Generator, optional
        Draw the initial weights from it.

    Raises
    ------
    ValueError
        For bad sizes, or (calling it) an input that is not 1-D or 2-D or has
        another feature count.

    Shape
    -----
    Called as ``cell(input, hx=None)`` (zeros by default).

    - input: ``(N, input_size)`` or ``(input_size,)``.
    - hx and the output h': ``(N, hidden_size)`` or ``(hidden_size,)``.

    Examples
    --------
    >>> nn.GRUCell(4, 8)(ad.zeros(4)).shape
    (8,)
    """
    _gates = 3

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx])
        return _unbatch(_rnn.gru_cell(x, h, *self._args()), batched)
