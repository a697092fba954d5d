"""Attention and the transformer encoder (torch.nn.MultiheadAttention,
TransformerEncoderLayer, TransformerEncoder): torch's constructor
arguments, attribute, parameter and submodule names and initialisation,
so a state_dict loads both ways.  Composed of engine ops (linear,
matmul, softmax, masked_fill, dropout, layer_norm; autodiff/_attention.py)
so eager and compiled steps share them."""
import copy
import numbers

import numpy as np

from .. import _creation, _engine
from .._attention import AttentionError, _attend, causal_bias
from .._device import check_device
from .._engine import Tensor
from .._grad_mode import no_grad
from . import functional as F
from . import init
from .container import ModuleList
from .modules import Dropout, Linear, Module, Parameter
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerEncoderLayer",
           "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "ModuleList",
           "generate_square_subsequent_mask"]


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under torch's name for MultiheadAttention.out_proj (so the
    repr is torch's)."""


def _positive_int(v, name, cls):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError("%s: %s must be a positive integer, got %r"
                         % (cls, name, v))
    return int(v)


def _mask(mask, name, dtype):
    """(blocked, bias) of an MHA mask: a bool mask (True = not allowed to
    attend, torch's MultiheadAttention convention) or a float one (added
    to the scores, cast to the query's dtype)."""
    if mask is None:
        return None, None
    if not isinstance(mask, Tensor):
        raise TypeError("MultiheadAttention: %s must be a Tensor or None, "
                        "not %s" % (name, type(mask).__name__))
    if mask.dtype == np.bool_:
        return mask, None
    if mask.dtype.kind != "f":
        raise TypeError("MultiheadAttention: only bool and floating types of "
                        "%s are supported, got %s" % (name, mask.dtype))
    return None, (mask if mask.dtype == dtype else mask.astype(dtype))


def _pad_keys(mask, n):
    """mask (..., S) with n columns appended that take part (False in a
    bool mask, 0 in a float one), as torch pads for the extra keys."""
    if mask is None:
        return None
    pad = _creation.zeros(*(tuple(mask.shape[:-1]) + (n,)),
                          dtype=mask.dtype)
    return _engine.cat([mask, pad], -1)


def _merge(a, b, combine):
    if a is None:
        return b
    if b is None:
        return a
    return combine(a, b)


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: num_heads heads of scaled dot-product
    attention over projections of query, key and value, concatenated and
    projected by out_proj.

    Parameters as torch: in_proj_weight (3E, E) and in_proj_bias (3E)
    when key and value have embed_dim features, else q_proj_weight,
    k_proj_weight (E, kdim), v_proj_weight (E, vdim); out_proj a Linear.
    Inputs (L, N, E) or, batch_first, (N, L, E), or unbatched (L, E).
    attn_mask: (L, S) or (N * num_heads, L, S), bool True = not allowed
    to attend, or float (added); key_padding_mask (N, S) likewise
    (True = ignore that key).  Returns (attn_output, attn_weights): the
    weights (N, L, S) averaged over heads, or per head (N, num_heads, L,
    S), or None when need_weights=False.

    Parameters
    ----------
    embed_dim : int
        E (divisible by num_heads).
    num_heads : int
    dropout : float, default 0.0
        Dropout on the attention weights (training mode).
    bias : bool, default True
        in_proj_bias and out_proj's bias.
    add_bias_kv : bool, default False
        Learnable bias_k, bias_v appended to the keys and values.
    add_zero_attn : bool, default False
        Append a zero key and value.
    kdim, vdim : int, optional
        The key's and value's features (E by default).
    batch_first : bool, default False
    device : str or device, optional
    dtype : dtype, optional

    Raises
    ------
    ValueError
        For bad sizes or dropout, or (calling it) inputs or masks of the
        wrong shape.

    Shape
    -----
    Called as ``mha(query, key, value, key_padding_mask=None,
    need_weights=True, attn_mask=None, average_attn_weights=True,
    is_causal=False)``.

    - query: ``(L, N, E)`` (batch_first: ``(N, L, E)``) or ``(L, E)``.
    - key, value: ``(S, N, kdim)`` and ``(S, N, vdim)`` (likewise).
    - attn_output: the shape of query.
    - attn_weights: ``(N, L, S)`` (per head: ``(N, num_heads, L, S)``).

    Examples
    --------
    >>> mha = nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = ad.zeros(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True,
                 add_bias_kv=False, add_zero_attn=False, kdim=None,
                 vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        check_device(device)
        cls = "MultiheadAttention"
        embed_dim = _positive_int(embed_dim, "embed_dim", cls)
        num_heads = _positive_int(num_heads, "num_heads", cls)
        if embed_dim % num_heads:
            raise ValueError("MultiheadAttention: embed_dim must be divisible "
                             "by num_heads, got embed_dim=%d and num_heads=%d"
                             % (embed_dim, num_heads))
        if isinstance(dropout, bool) or not isinstance(
                dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError("MultiheadAttention: dropout must be a number "
                             "in [0, 1], got %r" % (dropout,))
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else _positive_int(
            kdim, "kdim", cls)
        self.vdim = embed_dim if vdim is None else _positive_int(
            vdim, "vdim", cls)
        self._qkv_same_embed_dim = (self.kdim == embed_dim and
                                    self.vdim == embed_dim)
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        dt = dtype or _engine.float32
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_creation.zeros(3 * E, E,
                                                            dtype=dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(_creation.zeros(E, E, dtype=dt))
            self.k_proj_weight = Parameter(_creation.zeros(E, self.kdim,
                                                           dtype=dt))
            self.v_proj_weight = Parameter(_creation.zeros(E, self.vdim,
                                                           dtype=dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_creation.zeros(3 * E, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=bias,
                                                        dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(_creation.zeros(1, 1, E, dtype=dt))
            self.bias_v = Parameter(_creation.zeros(1, 1, E, dtype=dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)
        if self.in_proj_bias is not None:
            with no_grad():
                self.in_proj_bias.fill_(0.0)
                self.out_proj.bias.fill_(0.0)

    # ---- argument checks
    def _check_inputs(self, query, key, value):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError("MultiheadAttention: %s must be a Tensor, "
                                "not %s" % (name, type(t).__name__))
            if t.dtype.kind != "f":
                raise TypeError("MultiheadAttention: %s must be a floating "
                                "point tensor, got %s" % (name, t.dtype))
        qs, ks, vs = tuple(query.shape), tuple(key.shape), tuple(value.shape)
        shapes = "query %s, key %s and value %s" % (list(qs), list(ks),
                                                    list(vs))
        if query.ndim not in (2, 3) or key.ndim != query.ndim or \
                value.ndim != query.ndim:
            raise AttentionError(
                "MultiheadAttention: query, key and value must all be 3-D "
                "(batched) or 2-D (unbatched), got %s" % shapes)
        if qs[-1] != self.embed_dim or ks[-1] != self.kdim or \
                vs[-1] != self.vdim:
            raise AttentionError(
                "MultiheadAttention(embed_dim=%d, kdim=%d, vdim=%d): the last "
                "dims of %s do not match"
                % (self.embed_dim, self.kdim, self.vdim, shapes))
        seq = 1 if (self.batch_first and query.ndim == 3) else 0
        if ks[seq] != vs[seq]:
            raise AttentionError("MultiheadAttention: key and value must have "
                                 "the same sequence length, got %s" % shapes)
        if query.ndim == 3:
            b = 0 if self.batch_first else 1
            if not qs[b] == ks[b] == vs[b]:
                raise AttentionError("MultiheadAttention: query, key and "
                                     "value must have the same batch size, "
                                     "got %s" % shapes)

    def _project(self, query, key, value):
        """q, k, v projected, as given (no reshape)."""
        E = self.embed_dim
        b = self.in_proj_bias
        bq = bk = bv = None
        if not self._qkv_same_embed_dim:
            if b is not None:
                bq, bk, bv = b[:E], b[E:2 * E], b[2 * E:]
            return (F.linear(query, self.q_proj_weight, bq),
                    F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if query is key and key is value:
            return None, F.linear(query, w, b), None
        if b is not None:
            bq, bk, bv = b[:E], b[E:2 * E], b[2 * E:]
        if key is value:
            kv = F.linear(key, w[E:], None if b is None else b[E:])
            return F.linear(query, w[:E], bq), kv, False
        return (F.linear(query, w[:E], bq), F.linear(key, w[E:2 * E], bk),
                F.linear(value, w[2 * E:], bv))

    def _extend_keys(self, k, v):
        """torch's add_bias_kv (bias_k, bias_v appended as one more key
        and value of every sequence) and add_zero_attn (a zero key and
        value appended after them); k, v are (N, H, S, D)."""
        N, H, _, D = k.shape
        ks, vs = [k], [v]
        if self.bias_k is not None:
            ks.append(self.bias_k.reshape(1, H, 1, D).expand(N, H, 1, D))
            vs.append(self.bias_v.reshape(1, H, 1, D).expand(N, H, 1, D))
        if self.add_zero_attn:
            ks.append(_creation.zeros(N, H, 1, D, dtype=k.dtype))
            vs.append(_creation.zeros(N, H, 1, D, dtype=v.dtype))
        return _engine.cat(ks, -2), _engine.cat(vs, -2)

    def forward(self, query, key, value, key_padding_mask=None,
                need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        self._check_inputs(query, key, value)
        batched = query.ndim == 3
        if not batched:
            query, key, value = (query.unsqueeze(1), key.unsqueeze(1),
                                 value.unsqueeze(1))
            if key_padding_mask is not None and \
                    isinstance(key_padding_mask, Tensor):
                key_padding_mask = key_padding_mask.unsqueeze(0)
            bf = False
        else:
            bf = self.batch_first
        # sizes: queries L, keys S, batch N
        if bf:
            N, L, _ = query.shape
            S = key.shape[1]
        else:
            L, N, _ = query.shape
            S = key.shape[0]
        H, D, E = self.num_heads, self.head_dim, self.embed_dim
        if is_causal and attn_mask is None:
            raise AttentionError(
                "MultiheadAttention: Need attn_mask if specifying the "
                "is_causal hint. You may use "
                "autodiff.nn.transformer.generate_square_subsequent_mask "
                "(torch's Transformer.generate_square_subsequent_mask) to "
                "create this mask.")
        # masks -> blocked (bool, True = masked) and bias (float), both
        # broadcastable to the scores (N, H, L, S)
        blocked, bias = _mask(attn_mask, "attn_mask", query.dtype)
        causal = False
        if attn_mask is not None:
            am = attn_mask
            if am.ndim == 2:
                if tuple(am.shape) != (L, S):
                    raise AttentionError(
                        "MultiheadAttention: The shape of the 2D attn_mask "
                        "is %s, but should be %s." % (list(am.shape),
                                                      [L, S]))
            elif am.ndim == 3:
                if tuple(am.shape) != (N * H, L, S):
                    raise AttentionError(
                        "MultiheadAttention: The shape of the 3D attn_mask "
                        "is %s, but should be %s." % (list(am.shape),
                                                      [N * H, L, S]))
                if blocked is not None:
                    blocked = blocked.reshape(N, H, L, S)
                else:
                    bias = bias.reshape(N, H, L, S)
            else:
                raise AttentionError("MultiheadAttention: attn_mask's "
                                     "dimension %d is not supported"
                                     % am.ndim)
            # torch trusts the hint and uses a causal mask instead (over
            # the keys with bias_k and the zero key appended)
            causal = is_causal and key_padding_mask is None and \
                not need_weights
        kb, kf = _mask(key_padding_mask, "key_padding_mask", query.dtype)
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (N, S):
                raise AttentionError(
                    "MultiheadAttention: expecting key_padding_mask shape of "
                    "%s, but got %s" % ([N, S] if batched else [S],
                                        list(key_padding_mask.shape
                                             if batched else
                                             key_padding_mask.shape[1:])))
            if kb is not None:
                kb = kb.reshape(N, 1, 1, S)
            else:
                kf = kf.reshape(N, 1, 1, S)
        blocked = _merge(blocked, kb, _engine.logical_or)
        bias = _merge(bias, kf, lambda a, b: a + b)

        q, k, v = self._project(query, key, value)
        # heads: (N, H, L|S, D); the projections are (N, L, *) batch first
        # or (L, N, *) sequence first
        perm = (0, 2, 1, 3) if bf else (1, 2, 0, 3)
        if v is None:                       # self-attention: one GEMM
            qkv = k.reshape(k.shape[:2] + (3, H, D))
            qkv = qkv.permute((2,) + tuple(p + (p >= 2) for p in perm))
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            if v is False:                  # key is value: packed k, v
                kv = k.reshape(k.shape[:2] + (2, H, D)).permute(
                    (2,) + tuple(p + (p >= 2) for p in perm))
                k, v = kv[0], kv[1]
            else:
                k = k.reshape(k.shape[:2] + (H, D)).permute(perm)
                v = v.reshape(v.shape[:2] + (H, D)).permute(perm)
            q = q.reshape(q.shape[:2] + (H, D)).permute(perm)
        extra = (self.bias_k is not None) + self.add_zero_attn
        if extra:
            k, v = self._extend_keys(k, v)
            blocked, bias = _pad_keys(blocked, extra), _pad_keys(bias, extra)
        if causal:
            blocked, bias = None, causal_bias(L, S + extra, query.dtype)
        p = self.dropout if self.training else 0.0
        out, w = _attend(q, k, v, blocked, bias, D ** -0.5, p,
                         safe=not need_weights, need_weights=need_weights,
                         rows_may_be_empty=not causal)
        # (N, H, L, D) -> (N, L, E) or (L, N, E)
        out = out.permute((0, 2, 1, 3) if bf else (2, 0, 1, 3))
        out = self.out_proj(out.reshape(out.shape[:2] + (E,)))
        if w is not None and average_attn_weights:
            w = w.mean(1)
        if not batched:
            out = out.squeeze(1)
            if w is not None:
                w = w.squeeze(0)
        return out, w


def _activation(activation):
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError("activation should be relu/gelu, not %s"
                           % activation)
    if not callable(activation):
        raise TypeError("activation must be 'relu', 'gelu' or a callable, "
                        "got %r" % (activation,))
    return activation


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: their submodules, made
    in torch's order (so state_dict keys and their order are torch's),
    the self-attention block and the feed-forward block."""

    def _build(self, d_model, nhead, dim_feedforward, dropout, activation,
               layer_norm_eps, batch_first, norm_first, bias, dtype, cross):
        def attention():
            return MultiheadAttention(d_model, nhead, dropout=dropout,
                                      bias=bias, batch_first=batch_first,
                                      dtype=dtype)
        self.self_attn = attention()
        if cross:
            self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias,
                              dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias,
                              dtype=dtype)
        self.norm_first = norm_first
        blocks = 3 if cross else 2
        for i in range(1, blocks + 1):
            setattr(self, "norm%d" % i, LayerNorm(
                d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, blocks + 1):
            setattr(self, "dropout%d" % i, Dropout(dropout))
        self._ff_dropout = "dropout%d" % blocks
        self.activation = _activation(activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask,
                           key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return getattr(self, self._ff_dropout)(x)


class TransformerEncoderLayer(_TransformerLayer):
    """torch.nn.TransformerEncoderLayer: self-attention then a
    feed-forward block (linear1, activation, dropout, linear2), each with
    a residual connection and layer norm -- after it (post-norm, the
    default) or before it (norm_first=True).

    Parameters
    ----------
    d_model : int
        E, the features of every position.
    nhead : int
        The attention heads (divides d_model).
    dim_feedforward : int, default 2048
        The hidden size of the feed-forward block.
    dropout : float, default 0.1
    activation : {"relu", "gelu"} or callable, default "relu"
    layer_norm_eps : float, default 1e-5
    batch_first : bool, default False
        Inputs ``(N, L, E)`` instead of ``(L, N, E)``.
    norm_first : bool, default False
        Pre-norm instead of post-norm.
    bias : bool, default True
        Biases in the linear layers and the layer norms.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).

    Raises
    ------
    ValueError
        For bad sizes (d_model not divisible by nhead), or (calling it)
        inputs of the wrong shape.
    RuntimeError
        For an activation other than "relu", "gelu" or a callable.

    Shape
    -----
    Called as ``layer(src, src_mask=None, src_key_padding_mask=None,
    is_causal=False)``.

    - src and the output: ``(L, N, E)`` (batch_first: ``(N, L, E)``) or
      ``(L, E)``.
    - src_mask: ``(L, L)``; src_key_padding_mask: ``(N, L)``.

    Examples
    --------
    >>> layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    >>> layer(ad.zeros(5, 3, 8)).shape
    (5, 3, 8)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1,
                 activation="relu", layer_norm_eps=1e-5, batch_first=False,
                 norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self._build(d_model, nhead, dim_feedforward, dropout, activation,
                    layer_norm_eps, batch_first, norm_first, bias, dtype,
                    cross=False)

    def forward(self, src, src_mask=None, src_key_padding_mask=None,
                is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask,
                                   src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask,
                                              src_key_padding_mask,
                                              is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


def _stack(stack, layer, what, num_layers, norm):
    """A TransformerEncoder's / Decoder's submodules, as torch makes them:
    ``layers`` (num_layers deep copies of layer), num_layers, norm."""
    name = type(stack).__name__
    if not isinstance(layer, Module):
        raise TypeError("%s: %s must be a Module, got %s"
                        % (name, what, type(layer).__name__))
    num_layers = _positive_int(num_layers, "num_layers", name)
    stack.layers = ModuleList([copy.deepcopy(layer)
                               for _ in range(num_layers)])
    stack.num_layers = num_layers
    stack.norm = norm


class TransformerEncoder(Module):
    """torch.nn.TransformerEncoder: num_layers copies of encoder_layer
    (``layers.0``, ``layers.1``, ...), then norm when given.

    Parameters
    ----------
    encoder_layer : TransformerEncoderLayer
        Copied num_layers times.
    num_layers : int
    norm : Module, optional
        Applied to the last layer's output.
    enable_nested_tensor : bool, default True
        Accepted for torch's signature (no nested tensors here).
    mask_check : bool, default True
        Accepted for torch's signature.

    Raises
    ------
    ValueError
        For a num_layers that is not a positive int.
    TypeError
        When encoder_layer is not a Module.

    Shape
    -----
    Called as ``encoder(src, mask=None, src_key_padding_mask=None,
    is_causal=None)``; src and the output as TransformerEncoderLayer's.

    Examples
    --------
    >>> enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    >>> enc(ad.zeros(5, 3, 8)).shape
    (5, 3, 8)
    """

    def __init__(self, encoder_layer, num_layers, norm=None,
                 enable_nested_tensor=True, mask_check=True):
        super().__init__()
        _stack(self, encoder_layer, "encoder_layer", num_layers, norm)

    def forward(self, src, mask=None, src_key_padding_mask=None,
                is_causal=None):
        # torch detects a causal mask to take a faster path with the same
        # result; a data-dependent branch would freeze in a compiled step
        is_causal = bool(is_causal)
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=is_causal,
                      src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            x = self.norm(x)
        return x


class TransformerDecoderLayer(_TransformerLayer):
    """torch.nn.TransformerDecoderLayer: self-attention over tgt,
    attention to memory (multihead_attn), then the feed-forward block,
    each with a residual connection and layer norm (norm1..3) after it,
    or before it with norm_first=True.

    Parameters
    ----------
    d_model : int
        E, the features of every position.
    nhead : int
        The attention heads (divides d_model).
    dim_feedforward : int, default 2048
        The hidden size of the feed-forward block.
    dropout : float, default 0.1
    activation : {"relu", "gelu"} or callable, default "relu"
    layer_norm_eps : float, default 1e-5
    batch_first : bool, default False
        Inputs ``(N, L, E)`` instead of ``(L, N, E)``.
    norm_first : bool, default False
        Pre-norm instead of post-norm.
    bias : bool, default True
        Biases in the linear layers and the layer norms.
    device : str or device, optional
        "cpu" or None.
    dtype : dtype, optional
        The parameters' dtype (float32 by default).

    Raises
    ------
    ValueError
        For bad sizes (d_model not divisible by nhead), or (calling it)
        inputs of the wrong shape.
    RuntimeError
        For an activation other than "relu", "gelu" or a callable.

    Shape
    -----
    Called as ``layer(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=False, memory_is_causal=False)``.

    - tgt and the output: ``(T, N, E)`` (batch_first: ``(N, T, E)``).
    - memory: ``(S, N, E)``.

    Examples
    --------
    >>> layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
    >>> layer(ad.zeros(4, 3, 8), ad.zeros(6, 3, 8)).shape
    (4, 3, 8)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1,
                 activation="relu", layer_norm_eps=1e-5, batch_first=False,
                 norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        check_device(device)
        self._build(d_model, nhead, dim_feedforward, dropout, activation,
                    layer_norm_eps, batch_first, norm_first, bias, dtype,
                    cross=True)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask,
                                   tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask,
                                              tgt_key_padding_mask,
                                              tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask,
                                               memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


class TransformerDecoder(Module):
    """torch.nn.TransformerDecoder: num_layers copies of decoder_layer
    (``layers.0``, ...), then norm when given.

    Parameters
    ----------
    decoder_layer : TransformerDecoderLayer
        Copied num_layers times.
    num_layers : int
    norm : Module, optional
        Applied to the last layer's output.

    Raises
    ------
    ValueError
        For a num_layers that is not a positive int.
    TypeError
        When decoder_layer is not a Module.

    Shape
    -----
    Called as ``decoder(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=None, memory_is_causal=False)``; tgt, memory and the
    output as TransformerDecoderLayer's.

    Examples
    --------
    >>> dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2)
    >>> dec(ad.zeros(4, 3, 8), ad.zeros(6, 3, 8)).shape
    (4, 3, 8)
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        _stack(self, decoder_layer, "decoder_layer", num_layers, norm)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None,
                tgt_is_causal=None, memory_is_causal=False):
        # no causal-mask detection (see TransformerEncoder.forward)
        tgt_is_causal = bool(tgt_is_causal)
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal,
                      memory_is_causal=memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return x


def generate_square_subsequent_mask(sz, dtype=None):
    """torch.nn.Transformer.generate_square_subsequent_mask: a float (sz,
    sz) mask, -inf above the diagonal (future positions) and 0 elsewhere."""
    sz = int(sz)
    m = np.triu(np.full((sz, sz), -np.inf), 1)
    return _creation.tensor(m, dtype=dtype or _engine.float32)

