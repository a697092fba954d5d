"""Recurrent layers (nn.RNN / LSTM / GRU and their cells) against torch:
outputs, final states and every parameter's gradient over the layer
options, state_dict both ways, eager vs ad.compile bit for bit, bad
shapes."""
import itertools

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from conftest import lazy_torch

torch = lazy_torch()

# float32: torch.testing.assert_close's defaults
TOL = {"float64": dict(rtol=1e-9, atol=1e-12),
       "float32": dict(rtol=1.3e-6, atol=1e-5)}


def _twin(cls, tcls, *args, dtype="float64", **kw):
    m = cls(*args, dtype=getattr(ad, dtype), **kw)
    t = tcls(*args, dtype=getattr(torch, dtype), **kw)
    t.load_state_dict({k: torch.tensor(v.numpy())
                       for k, v in m.state_dict().items()})
    return m, t


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else x.numpy()


def _close(a, b, dtype):
    np.testing.assert_allclose(_np(a), _np(b), **TOL[dtype])


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in _flat(x)]
    return [out]


def _run_both(m, t, args_np, dtype):
    """Forward both, a weighted sum of every output backward; compare the
    outputs, the input gradients and every parameter gradient."""
    nd = np.float64 if dtype == "float64" else np.float32
    aargs, targs = [], []
    for a in args_np:
        if a is None:
            aargs.append(None)
            targs.append(None)
        elif isinstance(a, tuple):
            aargs.append(tuple(ad.tensor(x.astype(nd), requires_grad=True)
                               for x in a))
            targs.append(tuple(torch.tensor(x.astype(nd), requires_grad=True)
                               for x in a))
        else:
            aargs.append(ad.tensor(a.astype(nd), requires_grad=True))
            targs.append(torch.tensor(a.astype(nd), requires_grad=True))
    ao = _flat(m(*aargs))
    to = _flat(t(*targs))
    assert len(ao) == len(to)
    rng = np.random.default_rng(7)
    la, lt = 0, 0
    for x, y in zip(ao, to):
        assert tuple(x.shape) == tuple(y.shape)
        _close(x, y, dtype)
        w = rng.standard_normal(tuple(y.shape)).astype(nd)
        la = la + (x * ad.tensor(w)).sum()
        lt = lt + (y * torch.tensor(w)).sum()
    la.backward()
    lt.backward()
    for x, y in zip(_flat(aargs), _flat(targs)):
        if x is not None:
            _close(x.grad, y.grad, dtype)
    tp = dict(t.named_parameters())
    for name, p in m.named_parameters():
        _close(p.grad, tp[name].grad, dtype)


LAYERS = [(nn.LSTM, "LSTM", {}), (nn.LSTM, "LSTM", {"proj_size": 3}),
          (nn.GRU, "GRU", {}),
          (nn.RNN, "RNN", {}), (nn.RNN, "RNN", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layer", range(len(LAYERS)),
                         ids=[c[1] + str(c[2]) for c in LAYERS])
@pytest.mark.parametrize("num_layers,bidir,batch_first,bias,init",
                         [(1, False, False, True, False),
                          (2, True, True, True, True),
                          (2, False, False, False, True),
                          (1, True, False, True, True),
                          (2, True, True, False, False)])
def test_layer_matches_torch(dtype, layer, num_layers, bidir, batch_first,
                             bias, init):
    cls, tname, kw = LAYERS[layer]
    I, H, T, B = 3, 5, 4, 2
    m, t = _twin(cls, getattr(torch.nn, tname), I, H, num_layers=num_layers,
                 bidirectional=bidir, batch_first=batch_first, bias=bias,
                 dtype=dtype, **kw)
    rng = np.random.default_rng(num_layers + 2 * bidir)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    hx = None
    if init:
        D = 2 if bidir else 1
        h0 = rng.standard_normal((num_layers * D, B,
                                  kw.get("proj_size") or H))
        hx = (h0, rng.standard_normal((num_layers * D, B, H))) \
            if tname == "LSTM" else h0
    _run_both(m, t, [x, hx], dtype)


@pytest.mark.parametrize("layer", range(len(LAYERS)),
                         ids=[c[1] + str(c[2]) for c in LAYERS])
@pytest.mark.parametrize("init", [False, True])
def test_unbatched(layer, init):
    cls, tname, kw = LAYERS[layer]
    m, t = _twin(cls, getattr(torch.nn, tname), 3, 4, num_layers=2,
                 bidirectional=True, **kw)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    hx = None
    if init:
        h0 = rng.standard_normal((4, kw.get("proj_size") or 4))
        hx = (h0, rng.standard_normal((4, 4))) if tname == "LSTM" else h0
    _run_both(m, t, [x, hx], "float64")


CELLS = [(nn.LSTMCell, "LSTMCell", {}), (nn.GRUCell, "GRUCell", {}),
         (nn.RNNCell, "RNNCell", {}),
         (nn.RNNCell, "RNNCell", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", range(len(CELLS)),
                         ids=[c[1] + str(c[2]) for c in CELLS])
@pytest.mark.parametrize("bias,init,batched",
                         list(itertools.product([True, False], [True, False],
                                                [True, False])))
def test_cell_matches_torch(dtype, cell, bias, init, batched):
    cls, tname, kw = CELLS[cell]
    m, t = _twin(cls, getattr(torch.nn, tname), 3, 4, bias=bias,
                 dtype=dtype, **kw)
    rng = np.random.default_rng(3)
    lead = (2,) if batched else ()
    x = rng.standard_normal(lead + (3,))
    hx = None
    if init:
        h0 = rng.standard_normal(lead + (4,))
        hx = (h0, rng.standard_normal(h0.shape)) if tname == "LSTMCell" \
            else h0
    _run_both(m, t, [x, hx], dtype)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTM-proj"])
def test_state_dict_round_trip(name):
    kw = {"proj_size": 2} if name == "LSTM-proj" else {}
    name = name.split("-")[0]
    m = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True, **kw)
    t = getattr(torch.nn, name)(3, 4, num_layers=2, bidirectional=True, **kw)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())
    for (k, v), (tk, tv) in zip(m.state_dict().items(),
                                t.state_dict().items()):
        assert tuple(v.shape) == tuple(tv.shape), k
    # torch -> autodiff
    m.load_state_dict({k: ad.tensor(v.numpy())
                       for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(
        np.float32)
    a = _flat(m(ad.tensor(x)))
    b = _flat(t(torch.tensor(x)))
    for p, q in zip(a, b):
        _close(p, q, "float32")
    # autodiff -> torch
    m2 = getattr(nn, name)(3, 4, num_layers=2, bidirectional=True, **kw)
    t.load_state_dict({k: torch.tensor(v.numpy())
                       for k, v in m2.state_dict().items()})
    for p, q in zip(_flat(m2(ad.tensor(x))), _flat(t(torch.tensor(x)))):
        _close(p, q, "float32")


def test_init_range():
    m = nn.LSTM(3, 16, num_layers=2)
    for p in m.parameters():
        v = p.numpy()
        assert np.abs(v).max() <= 0.25 and np.abs(v).max() > 0.2
    assert len(list(m.parameters())) == 8


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN", "LSTM-proj"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_step_bit_identical(name, dtype):
    def make():
        ad.manual_seed(0)
        kw = {"proj_size": 4} if name == "LSTM-proj" else {}
        m = getattr(nn, name.split("-")[0])(
            3, 6, num_layers=2, dropout=0.3, bidirectional=True,
            batch_first=True, dtype=getattr(ad, dtype), **kw)
        head = nn.Linear(8 if kw else 12, 1, dtype=getattr(ad, dtype))
        opt = ad.optim.Adam(list(m.parameters()) + list(head.parameters()),
                            lr=1e-2)
        return m, head, opt

    nd = np.float32 if dtype == "float32" else np.float64
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 5, 3)).astype(nd) for _ in range(4)]
    ys = [rng.standard_normal((4, 5, 1)).astype(nd) for _ in range(4)]

    def step(m, head, opt, x, y):
        opt.zero_grad()
        out, _ = m(x)
        loss = ((head(out) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    results = []
    for compiled in (False, True):
        m, head, opt = make()
        ad.manual_seed(1)
        fn = ad.compile(step) if compiled else step
        losses = [np.array(fn(m, head, opt, ad.tensor(x) if not compiled
                              else x, ad.tensor(y) if not compiled else y)
                           .numpy()) for x, y in zip(xs, ys)]
        results.append((losses, [p.numpy().copy() for p in m.parameters()],
                        [p.grad.numpy().copy() for p in m.parameters()]))
        if compiled:
            # a steady compiled step takes every buffer from the pool
            before = ad.memory_stats()["allocations"]
            for x, y in zip(xs, ys):
                fn(m, head, opt, x, y)
            assert ad.memory_stats()["allocations"] == before
    (l0, p0, g0), (l1, p1, g1) = results
    for a, b in zip(l0 + p0 + g0, l1 + p1 + g1):
        assert a.tobytes() == b.tobytes()


def test_bad_shapes():
    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"Expected 3, got 5"):
        m(ad.zeros(2, 1, 5))
    with pytest.raises(ValueError, match=r"Expected hidden size \(2, 1, 4\), "
                       r"got \(1, 1, 4\)"):
        m(ad.zeros(2, 1, 3), (ad.zeros(1, 1, 4), ad.zeros(2, 1, 4)))
    with pytest.raises(ValueError, match=r"Expected cell size"):
        m(ad.zeros(2, 1, 3), (ad.zeros(2, 1, 4), ad.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"2D or 3D"):
        m(ad.zeros(3))
    with pytest.raises(ValueError, match=r"sequence length to be larger "
                       r"than 0 in RNN \(input of shape \(0, 2, 3\)\)"):
        m(ad.zeros(0, 2, 3))
    with pytest.raises(ValueError, match=r"Expected input to be 1D or 2D"):
        nn.GRUCell(3, 4)(ad.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"inconsistent input_size: got 2"):
        nn.GRUCell(3, 4)(ad.zeros(2, 2))
    with pytest.raises(ValueError, match=r"Expected hidden state of shape "
                       r"\(2, 4\), got \(3, 4\)"):
        nn.RNNCell(3, 4)(ad.zeros(2, 3), ad.zeros(3, 4))
    with pytest.raises(ValueError, match="proj_size has to be smaller than "
                       "hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="positive integer or zero"):
        nn.LSTM(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match=r"Expected hidden size \(1, 1, 2\)"):
        nn.LSTM(3, 4, proj_size=2)(ad.zeros(2, 1, 3),
                                   (ad.zeros(1, 1, 4), ad.zeros(1, 1, 4)))
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    from autodiff import _engine as E
    with pytest.raises(ValueError, match=r"lstm_cell: input gates \(3, 8\)"):
        E._lstm_cell(ad.zeros(3, 8), ad.zeros(3, 8), ad.zeros(3, 4))
    with pytest.raises(TypeError, match=r"gru_cell: expected floating"):
        E._gru_cell(ad.zeros(3, 12), ad.zeros(3, 12, dtype=ad.float64),
                    ad.zeros(3, 4))


@pytest.mark.parametrize("name,B,H", [("LSTM", 11, 37), ("GRU", 17, 45),
                                      ("LSTM", 8, 32), ("GRU", 1, 3)])
def test_recurrent_gemm_edges_float32(name, B, H):
    """float32 sequences run the recurrent product on W_hh packed once
    (csrc/gemm.c, on AVX-512 cpus): batches that are not a multiple of its
    8-row blocks and gate widths that are not a multiple of its 32-column
    panels, against torch."""
    m, t = _twin(getattr(nn, name), getattr(torch.nn, name), 7, H,
                 bidirectional=True, dtype="float32")
    rng = np.random.default_rng(B + H)
    x = rng.standard_normal((5, B, 7))
    h0 = rng.standard_normal((2, B, H))
    hx = (h0, rng.standard_normal((2, B, H))) if name == "LSTM" else h0
    _run_both(m, t, [x, hx], "float32")
