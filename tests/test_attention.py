"""Attention (F.scaled_dot_product_attention, nn.MultiheadAttention,
nn.TransformerEncoderLayer, nn.TransformerEncoder) against the PyTorch
twins: outputs and gradients agree (float64 to 1e-9 relative, float32 to
torch's tolerance) with weights loaded from torch's state_dict (the same
keys both ways), a compiled training step is bit-identical to eager
ones, sdpa passes gradcheck and gradgradcheck, bad shapes raise
ValueError naming them."""
import numpy as np
import pytest

import autodiff as ad
import autodiff.nn as nn
import autodiff.nn.functional as F
from conftest import needs_torch, torch

RTOL, ATOL = 1e-9, 1e-12


def _close(a, b, what=""):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL,
                               atol=ATOL, equal_nan=True, err_msg=what)


# ---------------------------------------------------------------- sdpa

SDPA = [
    ("4d", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4), None, {}),
    ("3d", (3, 5, 8), (3, 6, 8), (3, 6, 4), None, {}),
    ("2d", (5, 8), (6, 8), (6, 4), None, {}),
    ("broadcast-batch", (2, 3, 5, 8), (1, 3, 6, 8), (1, 3, 6, 4), None, {}),
    ("causal", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4), None,
     dict(is_causal=True)),
    ("causal-L>S", (2, 7, 8), (2, 4, 8), (2, 4, 3), None,
     dict(is_causal=True)),
    ("scale", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4), None,
     dict(scale=0.3)),
    ("causal-scale", (2, 6, 8), (2, 6, 8), (2, 6, 8), None,
     dict(is_causal=True, scale=1.7)),
    ("bool-mask", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4), "bool", {}),
    ("bool-mask-empty-row", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4),
     "bool-empty", {}),
    ("float-mask", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4), "float", {}),
    ("float-mask-inf", (2, 3, 5, 8), (2, 3, 6, 8), (2, 3, 6, 4),
     "float-inf", {}),
    ("gqa", (2, 4, 5, 8), (2, 2, 6, 8), (2, 2, 6, 4), None,
     dict(enable_gqa=True)),
]


def _sdpa_mask(kind, rng, L, S):
    if kind is None:
        return None
    if kind.startswith("bool"):
        m = rng.random((L, S)) > 0.4
        m[:, 0] = True
        if kind == "bool-empty":
            m[2] = False
        return m
    m = rng.standard_normal((2, 1, L, S))
    if kind == "float-inf":
        m[0, 0, 1] = -np.inf          # a fully masked row
        m[1, 0, 3, 2] = -np.inf
    return m


@needs_torch
@pytest.mark.parametrize("name,qs,ks,vs,mask,kw", SDPA,
                         ids=[c[0] for c in SDPA])
def test_sdpa_matches_torch_float64(name, qs, ks, vs, mask, kw):
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(s) for s in (qs, ks, vs)]
    m = _sdpa_mask(mask, rng, qs[-2], ks[-2])
    tt = [torch.tensor(a, requires_grad=True) for a in arrs]
    at = [ad.tensor(a, requires_grad=True) for a in arrs]
    to = torch.nn.functional.scaled_dot_product_attention(
        *tt, attn_mask=None if m is None else torch.tensor(m), **kw)
    ao = F.scaled_dot_product_attention(
        *at, attn_mask=None if m is None else ad.tensor(m), **kw)
    assert ao.shape == tuple(to.shape)
    _close(ao.numpy(), to.detach().numpy(), "output")
    g = rng.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    ao.backward(ad.tensor(g))
    for n, a, t in zip("qkv", at, tt):
        _close(a.grad.numpy(), t.grad.numpy(), "grad of " + n)


@needs_torch
@pytest.mark.parametrize("kw", [{}, dict(is_causal=True), dict(mask=True)])
def test_sdpa_float32_within_torchs_tolerance(kw):
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal((2, 4, 16, 8)).astype(np.float32)
            for _ in range(3)]
    tm = am = None
    if kw.pop("mask", False):
        m = rng.random((16, 16)) > 0.3
        tm, am = torch.tensor(m), ad.tensor(m)
    tt = [torch.tensor(a, requires_grad=True) for a in arrs]
    at = [ad.tensor(a, requires_grad=True) for a in arrs]
    to = torch.nn.functional.scaled_dot_product_attention(*tt, attn_mask=tm,
                                                          **kw)
    ao = F.scaled_dot_product_attention(*at, attn_mask=am, **kw)
    assert ao.dtype == ad.float32
    torch.testing.assert_close(torch.tensor(ao.numpy()), to.detach())
    to.sum().backward()
    ao.sum().backward()
    for a, t in zip(at, tt):
        torch.testing.assert_close(torch.tensor(a.grad.numpy()), t.grad)


def test_sdpa_fully_masked_rows_are_zero_with_zero_gradient():
    """torch's _safe_softmax: a query that may attend to no key gets
    output 0 (not NaN) and passes no gradient."""
    rng = np.random.default_rng(2)
    q, k, v = [ad.tensor(rng.standard_normal((1, 3, 4)), requires_grad=True)
               for _ in range(3)]
    m = np.ones((3, 3), bool)
    m[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=ad.tensor(m))
    assert np.all(out.numpy()[0, 1] == 0)
    assert np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert np.all(q.grad.numpy()[0, 1] == 0)
    assert np.isfinite(k.grad.numpy()).all()


def test_sdpa_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(3)

    def mk(*s):
        return ad.tensor(rng.standard_normal(s), requires_grad=True)
    q, k, v = mk(2, 3, 4), mk(2, 5, 4), mk(2, 5, 3)
    bm = ad.tensor(rng.random((3, 5)) > 0.3)
    fm = ad.tensor(rng.standard_normal((2, 3, 5)))
    for f in (lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
              lambda q, k, v: F.scaled_dot_product_attention(
                  q, k, v, is_causal=True, scale=0.7),
              lambda q, k, v: F.scaled_dot_product_attention(
                  q, k, v, attn_mask=bm),
              lambda q, k, v: F.scaled_dot_product_attention(
                  q, k, v, attn_mask=fm)):
        assert ad.gradcheck(f, (q, k, v))
        assert ad.gradgradcheck(f, (q, k, v))


def test_sdpa_dropout_keeps_the_expectation():
    """With uniform weights (q = k = 0) and v = 1 each output is the kept
    fraction scaled by 1/(1-p): mean 1 over many draws, some zeros."""
    ad.manual_seed(0)
    q = ad.zeros(8, 64, 4)
    v = ad.ones(8, 64, 1)
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.25).numpy()
    assert abs(out.mean() - 1.0) < 0.02
    assert out.std() > 0.05
    same = F.scaled_dot_product_attention(q, q, v, dropout_p=0.0).numpy()
    np.testing.assert_allclose(same, 1.0, rtol=1e-6)


def test_sdpa_bad_arguments():
    q = ad.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ad.ones(3, 3),
                                       is_causal=True)
    with pytest.raises(ValueError, match=r"\[2, 5, 4\].*\[2, 6, 4\]"):
        F.scaled_dot_product_attention(q, ad.zeros(2, 5, 4), ad.zeros(2, 6, 4))
    with pytest.raises(ValueError, match=r"\[2, 3, 4\].*\[2, 5, 3\]"):
        F.scaled_dot_product_attention(q, ad.zeros(2, 5, 3), ad.zeros(2, 5, 3))
    with pytest.raises(ValueError, match=r"\[4, 4\].*\[2, 3, 3\]"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ad.ones(4, 4))
    with pytest.raises(TypeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q, q.double())
    with pytest.raises(TypeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(q, q, q,
                                       attn_mask=ad.ones(3, 3).double())
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    # a RuntimeError too, as torch raises
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ad.ones(3, 3),
                                       is_causal=True)


# ------------------------------------------------------ MultiheadAttention

def _twin_mha(rng, E, H, dtype=None, **kw):
    tm = torch.nn.MultiheadAttention(E, H, dtype=dtype or torch.float64, **kw)
    with torch.no_grad():
        for p in tm.parameters():      # non-trivial biases
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.3,
                                dtype=p.dtype))
    m = nn.MultiheadAttention(E, H, dtype=ad.float32 if dtype else ad.float64,
                              **kw)
    sd = tm.state_dict()
    assert list(sd) == list(m.state_dict())
    m.load_state_dict({k: ad.tensor(v.numpy()) for k, v in sd.items()})
    return tm, m


MHA = [
    ("self-bf", dict(batch_first=True), dict(self_attn=True)),
    ("self-seqfirst", {}, dict(self_attn=True)),
    ("cross-bf", dict(batch_first=True), {}),
    ("cross-seqfirst-noweights", {}, dict(need_weights=False)),
    ("key-is-value", dict(batch_first=True), dict(kv_same=True)),
    ("kdim-vdim", dict(batch_first=True, kdim=6, vdim=3), {}),
    ("no-bias", dict(bias=False), dict(self_attn=True)),
    ("unbatched", {}, dict(unbatched=True)),
    ("unbatched-kpm", {}, dict(unbatched=True, kpm="bool")),
    ("per-head-weights", dict(batch_first=True),
     dict(self_attn=True, average_attn_weights=False)),
    ("kpm-bool", dict(batch_first=True), dict(kpm="bool")),
    ("kpm-bool-empty-noweights", dict(batch_first=True),
     dict(kpm="bool-empty", need_weights=False)),
    ("kpm-bool-empty-weights", dict(batch_first=True),
     dict(kpm="bool-empty")),
    ("mask-bool-2d", {}, dict(mask="bool2")),
    ("mask-float-3d-kpm-float", dict(batch_first=True),
     dict(mask="float3", kpm="float", need_weights=False)),
    ("mask-float-kpm-float-weights", dict(batch_first=True),
     dict(mask="float2", kpm="float")),
    ("causal-hint", dict(batch_first=True),
     dict(self_attn=True, mask="causal", is_causal=True,
          need_weights=False)),
    ("dropout-eval", dict(batch_first=True, dropout=0.5), {}),
    ("bias-kv", dict(add_bias_kv=True), dict(self_attn=True)),
    ("zero-attn-masks", dict(batch_first=True, add_zero_attn=True),
     dict(mask="bool2", kpm="bool")),
    ("bias-kv-zero-attn-float-masks",
     dict(batch_first=True, add_bias_kv=True, add_zero_attn=True),
     dict(mask="float3", kpm="float", need_weights=False)),
    ("bias-kv-causal-hint", dict(batch_first=True, add_bias_kv=True),
     dict(self_attn=True, mask="causal", is_causal=True,
          need_weights=False)),
]


@needs_torch
@pytest.mark.parametrize("name,ctor,call", MHA, ids=[c[0] for c in MHA])
def test_multihead_attention_matches_torch_float64(name, ctor, call):
    rng = np.random.default_rng(4)
    E, H, N, L, S = 8, 2, 3, 4, 5
    call = dict(call)
    self_attn = call.pop("self_attn", False)
    kv_same = call.pop("kv_same", False)
    unbatched = call.pop("unbatched", False)
    mask, kpm = call.pop("mask", None), call.pop("kpm", None)
    if self_attn:
        S = L
    tm, m = _twin_mha(rng, E, H, **ctor)
    if "dropout" in ctor:
        tm.eval()
        m.eval()
    bf = ctor.get("batch_first", False)

    def shape(n, e):
        if unbatched:
            return (n, e)
        return (N, n, e) if bf else (n, N, e)
    q = rng.standard_normal(shape(L, E))
    k = rng.standard_normal(shape(S, ctor.get("kdim", E)))
    v = k if kv_same else rng.standard_normal(shape(S, ctor.get("vdim", E)))
    masks = {}
    if kpm is not None:
        if kpm == "float":
            km = rng.standard_normal((N, S))
        else:
            km = rng.random((N, S)) > 0.7
            km[:, 0] = False
            if kpm == "bool-empty":
                km[1] = True
        masks["key_padding_mask"] = km[0] if unbatched else km
    if mask == "bool2":
        masks["attn_mask"] = rng.random((L, S)) > 0.7
    elif mask == "float2":
        masks["attn_mask"] = rng.standard_normal((L, S))
    elif mask == "float3":
        masks["attn_mask"] = rng.standard_normal((N * H, L, S))
    elif mask == "causal":
        masks["attn_mask"] = np.triu(np.ones((L, S), bool), 1)

    def run(mod, lib, wrap):
        tq = wrap(q)
        tk = tq if self_attn else wrap(k)
        tv = tq if self_attn else (tk if kv_same else wrap(v))
        ms = {n: lib.tensor(a) for n, a in masks.items()}
        out, w = mod(tq, tk, tv, **ms, **call)
        return out, w, (tq, tk, tv)
    to, tw, tin = run(tm, torch, lambda a: torch.tensor(a,
                                                         requires_grad=True))
    ao, aw, ain = run(m, ad, lambda a: ad.tensor(a, requires_grad=True))
    _close(ao.numpy(), to.detach().numpy(), "output")
    if call.get("need_weights", True):
        _close(aw.numpy(), tw.detach().numpy(), "weights")
    else:
        assert aw is None and tw is None
    if np.isnan(to.detach().numpy()).any():
        # need_weights: torch's plain softmax gives NaN rows; so do we
        assert np.array_equal(np.isnan(ao.numpy()),
                              np.isnan(to.detach().numpy()))
        return
    g = rng.standard_normal(to.shape)
    (to * torch.tensor(g)).sum().backward()
    (ao * ad.tensor(g)).sum().backward()
    ap = dict(m.named_parameters())
    for n, p in tm.named_parameters():
        _close(ap[n].grad.numpy(), p.grad.numpy(), "grad of " + n)
    _close(ain[0].grad.numpy(), tin[0].grad.numpy(), "grad of query")


@needs_torch
def test_multihead_attention_state_dict_loads_into_torch_and_float32():
    rng = np.random.default_rng(5)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    tm = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    tm.load_state_dict({k: torch.tensor(v.numpy())
                        for k, v in m.state_dict().items()})
    x = rng.standard_normal((2, 7, 16)).astype(np.float32)
    kpm = np.zeros((2, 7), bool)
    kpm[1, 5:] = True
    to, tw = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm))
    ao, aw = m(*(ad.tensor(x),) * 3, key_padding_mask=ad.tensor(kpm))
    torch.testing.assert_close(torch.tensor(ao.numpy()), to.detach())
    torch.testing.assert_close(torch.tensor(aw.numpy()), tw.detach())


def test_multihead_attention_init_as_torch():
    m = nn.MultiheadAttention(12, 3)
    assert m.in_proj_weight.shape == (36, 12)
    assert np.all(m.in_proj_bias.numpy() == 0)
    assert np.all(m.out_proj.bias.numpy() == 0)
    bound = (6.0 / (36 + 12)) ** 0.5        # xavier_uniform_
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    assert m.q_proj_weight is None and m.head_dim == 4
    m2 = nn.MultiheadAttention(12, 3, kdim=5, vdim=7, bias=False)
    assert m2.in_proj_weight is None and m2.in_proj_bias is None
    assert m2.k_proj_weight.shape == (12, 5)
    assert m2.v_proj_weight.shape == (12, 7)
    assert sorted(m2.state_dict()) == ["k_proj_weight", "out_proj.weight",
                                       "q_proj_weight", "v_proj_weight"]
    m3 = nn.MultiheadAttention(12, 3, add_bias_kv=True, add_zero_attn=True)
    assert m3.bias_k.shape == m3.bias_v.shape == (1, 1, 12)
    assert m3.bias_k.numpy().std() > 0 and m3.add_zero_attn
    assert list(m3.state_dict())[:4] == ["in_proj_weight", "in_proj_bias",
                                         "bias_k", "bias_v"]


def test_multihead_attention_bad_arguments():
    with pytest.raises(ValueError, match=r"embed_dim=10 and num_heads=3"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    q = ad.zeros(2, 4, 8)
    with pytest.raises(ValueError, match=r"key \[2, 5, 8\] and value "
                                         r"\[2, 6, 8\]"):
        m(q, ad.zeros(2, 5, 8), ad.zeros(2, 6, 8))
    with pytest.raises(ValueError, match=r"embed_dim=8.*\[2, 4, 6\]"):
        m(ad.zeros(2, 4, 6), q, q)
    with pytest.raises(ValueError, match=r"batch size"):
        m(q, ad.zeros(3, 4, 8), ad.zeros(3, 4, 8))
    with pytest.raises(ValueError, match=r"2D attn_mask is \[4, 5\], but "
                                         r"should be \[4, 4\]"):
        m(q, q, q, attn_mask=ad.zeros(4, 5))
    with pytest.raises(ValueError, match=r"3D attn_mask is \[2, 4, 4\]"):
        m(q, q, q, attn_mask=ad.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask shape of "
                                         r"\[2, 4\], but got \[2, 5\]"):
        m(q, q, q, key_padding_mask=ad.zeros(2, 5))
    with pytest.raises(ValueError, match="Need attn_mask"):
        m(q, q, q, is_causal=True)
    with pytest.raises(ValueError, match="3-D"):
        m(ad.zeros(8), ad.zeros(8), ad.zeros(8))


# ---------------------------------------------------- the encoder layers

ENC = [(nf, act, bf) for nf in (False, True) for act in ("relu", "gelu")
       for bf in (False, True)]


def _twin_encoder(rng, num_layers, final_norm, dtype=torch.float64
                  if torch else None, **kw):
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dtype=dtype, **kw)
    tenc = torch.nn.TransformerEncoder(
        tl, num_layers, enable_nested_tensor=False,
        norm=torch.nn.LayerNorm(8, dtype=dtype) if final_norm else None)
    with torch.no_grad():
        for p in tenc.parameters():
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.1,
                                dtype=p.dtype))
    adt = ad.float64 if dtype == torch.float64 else ad.float32
    al = nn.TransformerEncoderLayer(8, 2, 16, dtype=adt, **kw)
    aenc = nn.TransformerEncoder(
        al, num_layers, norm=nn.LayerNorm(8, dtype=adt) if final_norm
        else None)
    sd = tenc.state_dict()
    assert list(sd) == list(aenc.state_dict())
    aenc.load_state_dict({k: ad.tensor(v.numpy()) for k, v in sd.items()})
    tenc.eval()
    aenc.eval()
    return tenc, aenc


@needs_torch
@pytest.mark.parametrize("norm_first,activation,batch_first", ENC)
def test_encoder_layer_matches_torch_float64(norm_first, activation,
                                             batch_first):
    rng = np.random.default_rng(6)
    kw = dict(activation=activation, batch_first=batch_first,
              norm_first=norm_first)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dtype=torch.float64,
                                          **kw)
    with torch.no_grad():
        for p in tl.parameters():
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.1))
    al = nn.TransformerEncoderLayer(8, 2, 16, dtype=ad.float64, **kw)
    assert list(tl.state_dict()) == list(al.state_dict())
    al.load_state_dict({k: ad.tensor(v.numpy())
                        for k, v in tl.state_dict().items()})
    tl.eval()
    al.eval()
    x = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    mask = rng.standard_normal((5, 5))
    tx, ax = torch.tensor(x, requires_grad=True), ad.tensor(
        x, requires_grad=True)
    to = tl(tx, src_mask=torch.tensor(mask))
    ao = al(ax, src_mask=ad.tensor(mask))
    _close(ao.numpy(), to.detach().numpy(), "output")
    g = rng.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    ao.backward(ad.tensor(g))
    ap = dict(al.named_parameters())
    for n, p in tl.named_parameters():
        _close(ap[n].grad.numpy(), p.grad.numpy(), "grad of " + n)
    _close(ax.grad.numpy(), tx.grad.numpy(), "grad of src")


@needs_torch
@pytest.mark.parametrize("final_norm,causal", [(True, False), (False, True)])
def test_encoder_stack_matches_torch(final_norm, causal):
    rng = np.random.default_rng(7)
    tenc, aenc = _twin_encoder(rng, 2, final_norm, batch_first=True,
                               norm_first=causal, activation="gelu")
    x = rng.standard_normal((3, 6, 8))
    kpm = np.zeros((3, 6), bool)
    kpm[0, 4:] = True
    mask = np.triu(np.full((6, 6), -np.inf), 1)
    kw_t = dict(src_key_padding_mask=torch.tensor(kpm))
    kw_a = dict(src_key_padding_mask=ad.tensor(kpm))
    if causal:
        kw_t.update(mask=torch.tensor(mask), is_causal=True)
        kw_a.update(mask=ad.tensor(mask), is_causal=True)
    tx, ax = torch.tensor(x, requires_grad=True), ad.tensor(
        x, requires_grad=True)
    to, ao = tenc(tx, **kw_t), aenc(ax, **kw_a)
    _close(ao.numpy(), to.detach().numpy(), "output")
    to.sum().backward()
    ao.sum().backward()
    ap = dict(aenc.named_parameters())
    for n, p in tenc.named_parameters():
        _close(ap[n].grad.numpy(), p.grad.numpy(), "grad of " + n)
    _close(ax.grad.numpy(), tx.grad.numpy(), "grad of src")
    # the final norm's keys, the copies independent
    assert ("norm.weight" in aenc.state_dict()) == final_norm
    assert aenc.layers[0].linear1.weight is not aenc.layers[1].linear1.weight


@needs_torch
def test_encoder_float32_within_torchs_tolerance():
    rng = np.random.default_rng(8)
    tenc, aenc = _twin_encoder(rng, 2, True, dtype=torch.float32,
                               batch_first=True)
    x = rng.standard_normal((4, 10, 8)).astype(np.float32)
    to, ao = tenc(torch.tensor(x)), aenc(ad.tensor(x))
    assert ao.dtype == ad.float32
    torch.testing.assert_close(torch.tensor(ao.numpy()), to.detach())


def test_encoder_layer_activation_and_defaults():
    layer = nn.TransformerEncoderLayer(8, 2)
    assert layer.linear1.weight.shape == (2048, 8)
    assert layer.dropout.p == 0.1 and layer.norm1.eps == 1e-5
    assert layer.activation is F.relu
    assert nn.TransformerEncoderLayer(8, 2, activation="gelu").activation \
        is F.gelu
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    custom = nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU(),
                                        batch_first=True)
    assert custom(ad.zeros(1, 3, 8)).shape == (1, 3, 8)
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(10, 4)


def test_compiled_encoder_training_with_dropout_is_bit_identical():
    rng = np.random.default_rng(9)
    batches = [(rng.standard_normal((4, 6, 8)), rng.integers(0, 3, 4),
                rng.random((4, 6)) > 0.8) for _ in range(3)]
    runs = []
    for compiled in (False, True):
        ad.manual_seed(3)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2,
                                           batch_first=True, dtype=ad.float64)
        enc = nn.TransformerEncoder(layer, 2)
        head = nn.Linear(8, 3, dtype=ad.float64)
        params = list(enc.parameters()) + list(head.parameters())
        opt = ad.optim.Adam(params, lr=1e-2)

        def step(x, y, pad):
            opt.zero_grad()
            h = enc(ad.tensor(x), src_key_padding_mask=ad.tensor(pad))
            loss = F.cross_entropy(head(h.mean(1)), y)
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        runs.append([f(x, y, pad).numpy().copy() for x, y, pad in batches]
                    + [p.numpy().copy() for p in params])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_compiled_sdpa_follows_each_calls_mask_and_inputs():
    """A mask passed to a compiled function is read at every replay (a
    row fully masked in one call only is handled by the same recording)."""
    rng = np.random.default_rng(10)

    def f(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m) + \
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
    cf = ad.compile(f)
    for i in range(4):
        q, k, v = [ad.tensor(rng.standard_normal((2, 5, 4)))
                   for _ in range(3)]
        m = rng.random((5, 5)) > 0.5
        if i % 2:
            m[3] = False
        args = (q, k, v, ad.tensor(m))
        np.testing.assert_array_equal(cf(*args).numpy(), f(*args).numpy())
    assert cf.recordings == 1


@needs_torch
def test_generate_square_subsequent_mask_as_torch():
    from autodiff.nn.transformer import generate_square_subsequent_mask
    m = generate_square_subsequent_mask(5)
    t = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert m.dtype == ad.float32
    np.testing.assert_array_equal(m.numpy(), t.numpy())


@needs_torch
@pytest.mark.parametrize("qs,ks", [((2, 3, 4), (2, 0, 4)),
                                   ((2, 0, 4), (2, 5, 4)),
                                   ((0, 3, 4), (0, 5, 4)),
                                   ((2, 3, 0), (2, 5, 0))])
def test_sdpa_empty_dims_as_torch(qs, ks):
    rng = np.random.default_rng(11)
    q, k = rng.random(qs), rng.random(ks)
    v = rng.random(ks[:-1] + (3,))
    t = torch.nn.functional.scaled_dot_product_attention(
        *map(torch.tensor, (q, k, v))).numpy()
    a = F.scaled_dot_product_attention(*map(ad.tensor, (q, k, v))).numpy()
    assert a.shape == t.shape
    _close(a, t)


@needs_torch
@pytest.mark.parametrize("norm_first,batch_first",
                         [(False, False), (True, True)])
def test_decoder_stack_matches_torch(norm_first, batch_first):
    rng = np.random.default_rng(12)
    kw = dict(batch_first=batch_first, norm_first=norm_first,
              activation="gelu")
    tl = torch.nn.TransformerDecoderLayer(8, 2, 16, dtype=torch.float64,
                                          **kw)
    tdec = torch.nn.TransformerDecoder(
        tl, 2, norm=torch.nn.LayerNorm(8, dtype=torch.float64))
    with torch.no_grad():
        for p in tdec.parameters():
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.1))
    adec = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(8, 2, 16, dtype=ad.float64, **kw), 2,
        norm=nn.LayerNorm(8, dtype=ad.float64))
    sd = tdec.state_dict()
    assert list(sd) == list(adec.state_dict())
    adec.load_state_dict({k: ad.tensor(v.numpy()) for k, v in sd.items()})
    tdec.eval()
    adec.eval()
    N, T, S = 3, 5, 6
    tgt = rng.standard_normal((N, T, 8) if batch_first else (T, N, 8))
    mem = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8))
    causal = np.triu(np.full((T, T), -np.inf), 1)
    mkpm = np.zeros((N, S), bool)
    mkpm[1, 4:] = True
    tt, tm = (torch.tensor(a, requires_grad=True) for a in (tgt, mem))
    at, am = (ad.tensor(a, requires_grad=True) for a in (tgt, mem))
    to = tdec(tt, tm, tgt_mask=torch.tensor(causal), tgt_is_causal=True,
              memory_key_padding_mask=torch.tensor(mkpm))
    ao = adec(at, am, tgt_mask=ad.tensor(causal), tgt_is_causal=True,
              memory_key_padding_mask=ad.tensor(mkpm))
    _close(ao.numpy(), to.detach().numpy(), "output")
    g = rng.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    ao.backward(ad.tensor(g))
    ap = dict(adec.named_parameters())
    for n, p in tdec.named_parameters():
        _close(ap[n].grad.numpy(), p.grad.numpy(), "grad of " + n)
    _close(at.grad.numpy(), tt.grad.numpy(), "grad of tgt")
    _close(am.grad.numpy(), tm.grad.numpy(), "grad of memory")


def test_compiled_decoder_training_is_bit_identical():
    rng = np.random.default_rng(13)
    batches = [(rng.standard_normal((2, 4, 8)), rng.standard_normal(
        (2, 5, 8))) for _ in range(3)]
    mask = np.triu(np.full((4, 4), -np.inf), 1)
    runs = []
    for compiled in (False, True):
        ad.manual_seed(5)
        dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(
            8, 2, 16, dropout=0.1, batch_first=True, dtype=ad.float64), 2)
        opt = ad.optim.SGD(dec.parameters(), lr=1e-2)

        def step(tgt, mem):
            opt.zero_grad()
            out = dec(ad.tensor(tgt), ad.tensor(mem),
                      tgt_mask=ad.tensor(mask), tgt_is_causal=True)
            loss = (out ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        f = ad.compile(step) if compiled else step
        runs.append([f(t, m).numpy().copy() for t, m in batches]
                    + [p.numpy().copy() for p in dec.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
