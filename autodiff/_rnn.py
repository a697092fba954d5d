"""Recurrent layers, the functional side (torch.nn.RNN / LSTM / GRU and
their cells).

A layer computes the input projection of every time step as one GEMM
(x of (T B, I) times W_ih^T plus b_ih, as cuDNN does), then per step one
GEMM for the hidden projection (h W_hh^T + b_hh, the fused linear op) and
one fused gate op: ``lstm_cell`` (gates i, f, g, o; its output packs
(h', c') as (B, 2H)) or ``gru_cell`` (gates r, z, n), both in
csrc/ops_rnn.c.  The plain RNN is linear + tanh / relu.  Step t's slice of
the projections and the halves of the LSTM's packed output are gathers
with index arrays cached per shape; every op is recorded, so a whole
sequence replays under ad.compile.  Dropout between layers is the
engine's dropout (a fresh mask in every replay).

Numerics follow torch: gates = (x W_ih^T + b_ih) + (h W_hh^T + b_hh);
c' = f c + i g, h' = o tanh(c'); GRU n = tanh(gi_n + r gh_n),
h' = (h - n) z + n.
"""
from __future__ import annotations

import numpy as np

from . import _engine as E
from ._engine import Tensor, _gather, _reshape

__all__ = ["lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell",
           "rnn"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "RNN_TANH": 1, "RNN_RELU": 1}
_IDX: dict = {}


def _index(key, make):
    idx = _IDX.get(key)
    if idx is None:
        if len(_IDX) > 256:
            _IDX.clear()
        idx = _IDX[key] = make()
    return idx


def _cols(t: Tensor, start: int, width: int) -> Tensor:
    """t[:, start:start + width] of a 2-D tensor: one gather, its index
    cached per shape."""
    B, W = t.shape
    idx = _index(("cols", B, W, start, width), lambda: (
        np.arange(B, dtype=np.int64)[:, None] * W +
        np.arange(start, start + width, dtype=np.int64)[None, :]))
    return _gather(t, idx, True)


def _step(t: Tensor, i: int) -> Tensor:
    """t[i] of a contiguous 3-D tensor (T, B, N): one gather."""
    T, B, N = t.shape
    n = B * N
    base = _index(("step", B, N), lambda: np.arange(
        n, dtype=np.int64).reshape(B, N))
    return _gather(t, base + i * n if i else base, True)


# ------------------------------------------------------------------ cells

def _linear(x, w, b):
    return E.linear(x, w, b)


def lstm_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step on 2-D x (B, I) and hx = (h, c), each (B, H): returns
    (h', c')."""
    h, c = hx
    H = c.shape[-1]
    out = E._lstm_cell(_linear(x, w_ih, b_ih), _linear(h, w_hh, b_hh), c)
    return _cols(out, 0, H), _cols(out, H, H)


def gru_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step on 2-D x (B, I) and h (B, H): returns h'."""
    return E._gru_cell(_linear(x, w_ih, b_ih), _linear(h, w_hh, b_hh), h)


def rnn_tanh_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return E.tanh(_linear(x, w_ih, b_ih) + _linear(h, w_hh, b_hh))


def rnn_relu_cell(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return E.relu(_linear(x, w_ih, b_ih) + _linear(h, w_hh, b_hh))


# ------------------------------------------------------------ sequences

def _direction(mode, xp, h, c, w_hh, b_hh, reverse, w_hr=None):
    """One direction of one layer over the projected input xp (T, B, G H):
    (the h of every step (T, B, H), the final h, the final c).  With w_hr
    (an LSTM's projection, (P, H)) every step's h is projected to P before
    it is output and fed back: lstm_cell and one GEMM per step."""
    T = xp.shape[0]
    H = h.shape[-1]
    last = 0 if reverse else T - 1
    order = range(T - 1, -1, -1) if reverse else range(T)
    if w_hr is not None:
        hs = [None] * T
        H = c.shape[-1]
        for t in order:
            hc = E._lstm_cell(_step(xp, t), _linear(h, w_hh, b_hh), c)
            h = _linear(_cols(hc, 0, H), w_hr, None)
            c = _cols(hc, H, H)
            hs[t] = h
        return _stack(hs), h, c
    if mode == "LSTM":
        # one op: every step's GEMM and gate kernel, (h_t, c_t) packed
        out = E._lstm_seq(xp, h, c, w_hh, b_hh, reverse)
        fin = _step(out, last)
        return _half(out, 0), _cols(fin, 0, H), _cols(fin, H, H)
    if mode == "GRU":
        out = E._gru_seq(xp, h, w_hh, b_hh, reverse)
        return out, _step(out, last), None
    hs = [None] * T
    for t in order:
        pre = _step(xp, t) + _linear(h, w_hh, b_hh)
        h = E.tanh(pre) if mode == "RNN_TANH" else E.relu(pre)
        hs[t] = h
    return _stack(hs), h, c


def _half(t: Tensor, which: int) -> Tensor:
    """The h (0) or c (1) half of the last axis of (T, B, 2H)."""
    T, B, W = t.shape
    H = W // 2
    idx = _index(("half", T, B, H, which), lambda: (
        np.arange(T * B, dtype=np.int64).reshape(T, B, 1) * W + which * H +
        np.arange(H, dtype=np.int64)))
    return _gather(t, idx, True)


def _stack(ts):
    return E.concatenate([_reshape(t, (1,) + tuple(t.shape)) for t in ts], 0)


def rnn(mode, x, hx, weights, num_layers, bias, batch_first, dropout,
        training, bidirectional, hidden_size, proj_size=0):
    """The whole layer: x (T, B, I) (batch_first: (B, T, I)), already 3-D;
    hx None or h0 (L D, B, H) (LSTM: a pair (h0, c0)); weights the flat
    list in torch's order (per layer and direction: w_ih, w_hh[, b_ih,
    b_hh][, w_hr]).  Returns (output, h_n) or (output, (h_n, c_n)); with
    proj_size P the h's are (., B, P)."""
    from ._random import dropout as _dropout
    if batch_first:
        x = E.permute(x, (1, 0, 2))
    T, B, _ = x.shape
    D = 2 if bidirectional else 1
    H = hidden_size
    G = _GATES[mode]
    per = (4 if bias else 2) + (1 if proj_size else 0)
    dt = x.dtype
    lstm = mode == "LSTM"
    if hx is None:
        from ._creation import zeros
        z = zeros(B, H, dtype=dt)
        c0 = [z] * (num_layers * D) if lstm else None
        if proj_size:
            z = zeros(B, proj_size, dtype=dt)
        h0 = [z] * (num_layers * D)
    else:
        if lstm:
            h0 = [_step_state(hx[0], k) for k in range(num_layers * D)]
            c0 = [_step_state(hx[1], k) for k in range(num_layers * D)]
        else:
            h0 = [_step_state(hx, k) for k in range(num_layers * D)]
            c0 = None
    hn, cn = [], []
    layer_in = x
    for layer in range(num_layers):
        outs = []
        I = layer_in.shape[2]
        flat = _reshape(layer_in, (T * B, I))
        for d in range(D):
            k = layer * D + d
            w = weights[k * per:(k + 1) * per]
            w_ih, w_hh = w[0], w[1]
            b_ih, b_hh = (w[2], w[3]) if bias else (None, None)
            xp = _reshape(_linear(flat, w_ih, b_ih), (T, B, G * H))
            hs, h, c = _direction(mode, xp, h0[k], c0[k] if lstm else None,
                                  w_hh, b_hh, d == 1,
                                  w[-1] if proj_size else None)
            outs.append(hs)
            hn.append(h)
            cn.append(c)
        out = outs[0] if D == 1 else E.concatenate(outs, 2)
        if dropout and training and layer < num_layers - 1:
            out = _dropout(out, dropout, True)
        layer_in = out
    output = layer_in
    if batch_first:
        output = E.permute(output, (1, 0, 2))
    h_n = _stack(hn)
    if lstm:
        return output, (h_n, _stack(cn))
    return output, h_n


def _step_state(s, k):
    """s[k] of a state (L D, B, H)."""
    return _step(s, k)


# --------------------------------------------------- rules (higher order)

def lstm_cell_rule(node, out, g):
    """lstm_cell's derivative with recorded ops (the C backward's
    formula), the gates recomputed from the inputs."""
    gi, gh, c = node.inputs
    H = c.shape[1]
    pre = gi + gh
    i = E.sigmoid(_cols(pre, 0, H))
    f = E.sigmoid(_cols(pre, H, H))
    gg = E.tanh(_cols(pre, 2 * H, H))
    o = E.sigmoid(_cols(pre, 3 * H, H))
    c2 = f * c + i * gg
    tc = E.tanh(c2)
    g_h, g_c = _cols(g, 0, H), _cols(g, H, H)
    dc2 = g_c + g_h * o * (1 - tc * tc)
    dgates = E.concatenate([dc2 * gg * (i * (1 - i)),
                            dc2 * c * (f * (1 - f)),
                            dc2 * i * (1 - gg * gg),
                            g_h * tc * (o * (1 - o))], 1)
    return [dgates, dgates, dc2 * f]


def gru_cell_rule(node, out, g):
    """gru_cell's derivative with recorded ops."""
    gi, gh, h = node.inputs
    H = h.shape[1]
    r = E.sigmoid(_cols(gi, 0, H) + _cols(gh, 0, H))
    z = E.sigmoid(_cols(gi, H, H) + _cols(gh, H, H))
    ghn = _cols(gh, 2 * H, H)
    n = E.tanh(_cols(gi, 2 * H, H) + r * ghn)
    dn = g * (1 - z) * (1 - n * n)
    dz = g * (h - n) * (z * (1 - z))
    dr = dn * ghn * (r * (1 - r))
    return [E.concatenate([dr, dz, dn], 1), E.concatenate([dr, dz, dn * r], 1),
            g * z]


def _seq_composed(lstm, ins, reverse, has_b):
    """lstm_seq / gru_seq's output recomputed step by step with recorded
    cell ops (for their higher-order rules)."""
    if lstm:
        xp, h, c, w = ins[:4]
    else:
        xp, h, w = ins[:3]
        c = None
    b = ins[-1] if has_b else None
    T = xp.shape[0]
    H = h.shape[-1]
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gi, gh = _step(xp, t), _linear(h, w, b)
        if lstm:
            o = E._lstm_cell(gi, gh, c)
            h, c = _cols(o, 0, H), _cols(o, H, H)
        else:
            o = h = E._gru_cell(gi, gh, h)
        outs[t] = o
    return _stack(outs)


def _seq_rule(lstm):
    def rule(node, out, g):
        from ._grad_mode import enable_grad
        from .autograd import grad
        ins = list(node.inputs)
        want = [i for i, x in enumerate(ins) if x.requires_grad]
        create = E.is_grad_enabled()
        with enable_grad():
            # a recorded alias per position: the inner grad then counts
            # only the paths through this op (an input may depend on
            # another: b feeds xp and b_hh), and h0 passed as c0 gets
            # each position's part
            al = [_reshape(x, tuple(x.shape)) if x.requires_grad else x
                  for x in ins]
            P = _seq_composed(lstm, al, node.attrs.reverse,
                              node.attrs.has_b)
            gs = grad([P], [al[i] for i in want], [g], create_graph=create,
                      allow_unused=True)
        res = [None] * len(ins)
        for i, gx in zip(want, gs):
            res[i] = gx
        return res
    rule.__doc__ = ("%s's derivative: the sequence recomputed with recorded "
                    "cell ops and differentiated through their rules"
                    % ("lstm_seq" if lstm else "gru_seq"))
    return rule


lstm_seq_rule = _seq_rule(True)
gru_seq_rule = _seq_rule(False)
