"""PyTorch (float64, and float32 where noted) as an independent oracle
for values and gradients: every op of opdb that names a torch reference,
random expression graphs, every loss and every reduction."""
import itertools
import zlib

import numpy as np
import pytest

import autodiff as ad
import opdb
from conftest import DTYPES, assert_close, tol
from conftest import require_torch

torch = None


@pytest.fixture(scope="module")
def T():
    global torch
    torch = require_torch()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(torch.float32)


def _close(a, b, kind="torch", msg=""):
    assert_close(a, b, np.float64, kind, err_msg=msg)


# ============================================== every op with a torch ref

def _torch_rows():
    return opdb.with_arity(opdb.with_torch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,o,arity", _torch_rows(),
                         ids=[r[0] for r in _torch_rows()])
def test_op_matches_torch(T, name, o, arity, dtype):
    """Values and the gradient of a weighted sum, in the same dtype."""
    arrays = opdb.arity_inputs(o, arity, 3, dtype)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    xa = [ad.tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, dtype=tdt, requires_grad=True) for a in arrays]
    ya, yt = o.op(*xa), o.torch(*xt)
    assert ya.dtype == np.dtype(dtype)
    assert_close(ya.numpy(), yt.detach().numpy(), dtype, "torch")
    w = np.random.default_rng(4).standard_normal(ya.shape)
    ya.backward(ad.tensor(w, dtype=dtype))
    yt.backward(torch.tensor(w, dtype=tdt))
    for a, t in zip(xa, xt):
        assert_close(a.grad.numpy(), t.grad.numpy(), dtype, "torch",
                     err_msg=name)


# ======================================================== random graphs


class Node:
    """The same value in autodiff (a) and torch (t)."""

    def __init__(self, a, t, desc):
        self.a, self.t, self.desc = a, t, desc
        assert tuple(a.shape) == tuple(t.shape), (desc, a.shape,
                                                  tuple(t.shape))

    @property
    def shape(self):
        return tuple(self.a.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))


# the ops of the random graphs: opdb rows defined on the whole real line
# (the leaves are standard normal), and a few compositions
_GRAPH_UNARY = ["tanh", "sigmoid", "sin", "cos", "relu", "leaky_relu(0.2)",
                "elu(0.5)", "selu", "softplus(beta=2, threshold=1)", "gelu",
                "silu", "abs", "square", "neg", "clip(both)", "x**3", "erf"]
UNARY = [(n, opdb.by_name(n).op, lambda t, n=n: opdb.by_name(n).torch(t))
         for n in _GRAPH_UNARY] + [
    ("exp(tanh)", lambda x: ad.exp(ad.tanh(x)),
     lambda t: torch.exp(torch.tanh(t))),
    ("log(sigmoid+.5)", lambda x: ad.log(ad.sigmoid(x) + 0.5),
     lambda t: torch.log(torch.sigmoid(t) + 0.5)),
    ("sqrt(x*x+1)", lambda x: ad.sqrt(x * x + 1.0),
     lambda t: torch.sqrt(t * t + 1.0)),
    ("1.5**tanh", lambda x: 1.5 ** ad.tanh(x),
     lambda t: 1.5 ** torch.tanh(t)),
    ("affine", lambda x: 0.4 - x * 1.7 / 1.3 + 0.3,
     lambda t: 0.4 - t * 1.7 / 1.3 + 0.3),
    ("2/(x*x+1)", lambda x: 2.0 / (x * x + 1.0),
     lambda t: 2.0 / (t * t + 1.0)),
]

BINARY = [(o.name, o.op, o.torch) for o in opdb.BINARY
          if o.name in ("add", "sub", "mul", "maximum", "minimum",
                        "hypot", "logaddexp")] + [
    # atan2 away from the origin; xlogy of a positive y
    ("atan2", lambda a, b: ad.atan2(a, ad.sigmoid(b) + 0.5),
     lambda a, b: torch.atan2(a, torch.sigmoid(b) + 0.5)),
    ("xlogy", lambda a, b: ad.xlogy(a, ad.sigmoid(b) + 0.5),
     lambda a, b: torch.xlogy(a, torch.sigmoid(b) + 0.5)),
    ("div", lambda a, b: a / (ad.sigmoid(b) + 1.5),
     lambda a, b: a / (torch.sigmoid(b) + 1.5)),
    ("pow", lambda a, b: (ad.sigmoid(a) + 0.5) ** b,
     lambda a, b: (torch.sigmoid(a) + 0.5) ** b),
    ("fn_add", ad.add, lambda a, b: torch.add(a, b)),
    ("fn_mul", ad.multiply, lambda a, b: torch.mul(a, b)),
]


class RandomGraph:
    """A random composition of ops built identically in autodiff and in
    torch; every leaf is a float64 tensor requiring grad."""

    MAX_SIZE = 120

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.leaves = []
        self.nodes = []
        self.used = set()

    # ---- helpers
    def leaf(self, shape):
        arr = self.rng.standard_normal(shape)
        a = ad.tensor(arr, requires_grad=True)
        t = torch.tensor(arr, requires_grad=True)
        n = Node(a, t, "leaf%s" % (shape,))
        self.leaves.append(n)
        return n

    def const(self, shape):
        arr = self.rng.standard_normal(shape)
        return ad.tensor(arr), torch.tensor(arr)

    def pick(self):
        i = int(self.rng.integers(len(self.nodes)))
        self.used.add(i)
        return self.nodes[i]

    def rand_shape(self, ndim=None):
        if ndim is None:
            ndim = int(self.rng.integers(0, 4))
        return tuple(int(d) for d in self.rng.integers(1, 5, ndim))

    def bshape(self, shape):
        """A shape that broadcasts against shape to exactly shape."""
        shape = list(shape)
        drop = int(self.rng.integers(0, len(shape) + 1))
        out = shape[drop:]
        return tuple(1 if self.rng.random() < 0.35 else d for d in out)

    def add(self, node):
        self.nodes.append(node)
        return node

    # ---- ops
    def op_unary(self):
        x = self.pick()
        name, fa, ft = UNARY[int(self.rng.integers(len(UNARY)))]
        return Node(fa(x.a), ft(x.t), "%s(%s)" % (name, x.desc))

    def op_binary(self):
        x = self.pick()
        name, fa, ft = BINARY[int(self.rng.integers(len(BINARY)))]
        r = self.rng.random()
        cands = [i for i, n in enumerate(self.nodes)
                 if n is not x and _broadcasts(n.shape, x.shape)]
        if r < 0.15:
            y = x                                  # reuse: x op x
        elif r < 0.5 and cands:
            i = cands[int(self.rng.integers(len(cands)))]
            self.used.add(i)
            y = self.nodes[i]
        else:
            y = self.leaf(self.bshape(x.shape))
        if np.prod(np.broadcast_shapes(x.shape, y.shape)) > self.MAX_SIZE:
            return None
        if self.rng.random() < 0.5:
            x, y = y, x
        return Node(fa(x.a, y.a), ft(x.t, y.t),
                    "%s(%s, %s)" % (name, x.desc, y.desc))

    def op_const_operand(self):
        """Binary op with a constant numpy operand on either side."""
        x = self.pick()
        ca, ct = self.const(self.bshape(x.shape))
        arr = ca.numpy()
        k = int(self.rng.integers(4))
        if k == 0:
            return Node(x.a * arr, x.t * ct, "mul_np")
        if k == 1:
            return Node(arr - x.a, ct - x.t, "rsub_np")
        if k == 2:
            return Node(x.a + ca, x.t + ct, "add_const")
        return Node(ad.where(arr > 0, x.a, ca), torch.where(ct > 0, x.t, ct),
                    "where_const")

    def op_where(self):
        x = self.pick()
        y = self.leaf(self.bshape(x.shape))
        mask = self.rng.random(self.bshape(x.shape)) < 0.5
        return Node(ad.where(mask, x.a, y.a),
                    torch.where(torch.tensor(mask), x.t, y.t), "where")

    def op_matmul(self):
        x = self.pick()
        if x.a.ndim == 0 or x.a.ndim > 3:
            return None
        n = int(self.rng.integers(1, 5))
        k = x.shape[-1]
        r = self.rng.random()
        if x.a.ndim == 1:
            y = self.leaf((k, n) if r < 0.7 else (k,))
            return Node(ad.matmul(x.a, y.a), torch.matmul(x.t, y.t),
                        "mv/vv")
        if r < 0.4:
            y = self.leaf((k, n))
            return Node(x.a @ y.a, x.t @ y.t, "matmul")
        if r < 0.6:
            y = self.leaf((k,))
            return Node(x.a @ y.a, x.t @ y.t, "matvec")
        if r < 0.8:
            m = int(self.rng.integers(1, 4))
            y = self.leaf((m, x.shape[-2]))
            return Node(y.a @ x.a, y.t @ x.t, "lmatmul")
        batch = x.shape[:-2] or (int(self.rng.integers(1, 4)),)
        y = self.leaf(batch + (k, n))
        out_size = np.prod(batch) * x.shape[-2] * n
        if out_size > self.MAX_SIZE:
            return None
        return Node(ad.matmul(x.a, y.a), torch.matmul(x.t, y.t), "bmm")

    def axes(self, ndim):
        if ndim == 0 or self.rng.random() < 0.2:
            return None
        k = int(self.rng.integers(1, ndim + 1))
        ax = sorted(self.rng.choice(ndim, k, replace=False).tolist())
        ax = [a - ndim if self.rng.random() < 0.3 else a for a in ax]
        return ax[0] if len(ax) == 1 and self.rng.random() < 0.5 \
            else tuple(ax)

    def op_reduce(self):
        x = self.pick()
        axis = self.axes(x.a.ndim)
        keep = bool(self.rng.random() < 0.5)
        kind = int(self.rng.integers(5))
        tdim = tuple(range(x.a.ndim)) if axis is None else axis
        if kind == 0:
            return Node(x.a.sum(axis=axis, keepdims=keep),
                        torch.sum(x.t, dim=tdim, keepdim=keep), "sum")
        if kind == 1:
            return Node(ad.mean(x.a, axis=axis, keepdims=keep),
                        torch.mean(x.t, dim=tdim, keepdim=keep), "mean")
        if kind == 2:
            return Node(ad.amax(x.a, axis=axis, keepdims=keep),
                        torch.amax(x.t, dim=tdim, keepdim=keep), "amax")
        if kind == 3:
            return Node(x.a.min(axis=axis, keepdims=keep),
                        torch.amin(x.t, dim=tdim, keepdim=keep), "amin")
        axs = tdim if isinstance(tdim, tuple) else (tdim,)
        count = int(np.prod([x.shape[a] for a in axs]))
        ddof = int(self.rng.integers(2))
        if count <= ddof:
            ddof = 0
        return Node(ad.var(x.a, axis=axis, keepdims=keep, ddof=ddof),
                    torch.var(x.t, dim=tdim, keepdim=keep, correction=ddof),
                    "var")

    def op_softmax(self):
        x = self.pick()
        if x.a.ndim == 0:
            return None
        axis = int(self.rng.integers(-x.a.ndim, x.a.ndim))
        if self.rng.random() < 0.5:
            return Node(ad.softmax(x.a, axis), torch.softmax(x.t, axis),
                        "softmax")
        return Node(x.a.log_softmax(dim=axis), torch.log_softmax(x.t, axis),
                    "log_softmax")

    def op_shape(self):
        x = self.pick()
        nd = x.a.ndim
        k = int(self.rng.integers(6))
        if k == 0:
            return Node(x.a.reshape(-1), x.t.reshape(-1), "flatten")
        if k == 1 and nd >= 1:
            perm = tuple(self.rng.permutation(nd).tolist())
            return Node(x.a.permute(perm), x.t.permute(perm), "permute")
        if k == 2 and nd >= 2:
            i, j = (int(v) for v in self.rng.choice(nd, 2, replace=False))
            return Node(x.a.transpose(i, j), x.t.transpose(i, j),
                        "transpose")
        if k == 3:
            ax = int(self.rng.integers(-nd - 1, nd + 1))
            return Node(ad.expand_dims(x.a, ax), x.t.unsqueeze(ax),
                        "unsqueeze")
        if k == 4:
            # reshape into a random factorisation of the size
            size = x.size
            dims = []
            rest = size
            for p in (2, 3, 2, 5):
                if rest % p == 0 and self.rng.random() < 0.6:
                    dims.append(p)
                    rest //= p
            dims.append(rest)
            dims = [int(d) for d in self.rng.permutation(dims)]
            return Node(x.a.reshape(dims), x.t.reshape(dims), "reshape")
        if nd >= 1 and 1 in x.shape:
            ax = x.shape.index(1)
            return Node(ad.squeeze(x.a, ax), x.t.squeeze(ax), "squeeze")
        return Node(x.a.T, x.t.permute(tuple(range(nd - 1, -1, -1))), ".T")

    def op_index(self):
        x = self.pick()
        nd = x.a.ndim
        if nd == 0:
            return None
        k = int(self.rng.integers(5))
        if k == 0:      # basic slices with positive steps
            key = []
            for d in x.shape:
                a = int(self.rng.integers(0, d))
                b = int(self.rng.integers(a + 1, d + 1))
                s = int(self.rng.integers(1, 3))
                key.append(slice(a, b, s))
            key = tuple(key)
            return Node(x.a[key], x.t[key], "slice%s" % (key,))
        if k == 1:      # one integer (negative allowed)
            i = int(self.rng.integers(-x.shape[0], x.shape[0]))
            return Node(x.a[i], x.t[i], "int")
        if k == 2:      # integer array with repeats along axis 0
            idx = self.rng.integers(-x.shape[0], x.shape[0],
                                    int(self.rng.integers(1, 6)))
            return Node(x.a[idx], x.t[torch.tensor(idx)], "fancy")
        if k == 3:      # boolean mask of the full shape
            m = self.rng.random(x.shape) < 0.6
            if not m.any():
                m.reshape(-1)[0] = True
            return Node(x.a[m], x.t[torch.tensor(m)], "mask")
        # mixed: slice on axis 0, integer array on the last axis
        if nd < 2:
            return None
        idx = self.rng.integers(0, x.shape[-1], 3)
        key_a = (slice(None, None, 2),) + (slice(None),) * (nd - 2) + (idx,)
        key_t = (slice(None, None, 2),) + (slice(None),) * (nd - 2) + (
            torch.tensor(idx),)
        return Node(x.a[key_a], x.t[key_t], "mixed")

    def op_concat(self):
        x = self.pick()
        nd = x.a.ndim
        if nd == 0:
            return None
        axis = int(self.rng.integers(-nd, nd))
        r = self.rng.random()
        parts = [x]
        if r < 0.3:
            parts.append(x)                        # concat x with itself
        else:
            shp = list(x.shape)
            shp[axis] = int(self.rng.integers(1, 3))
            parts.append(self.leaf(tuple(shp)))
        if self.rng.random() < 0.3:
            parts.append(self.leaf(x.shape))
        parts = [parts[i] for i in self.rng.permutation(len(parts))]
        if self.rng.random() < 0.5:
            a = ad.concatenate([p.a for p in parts], axis=axis)
        else:
            a = ad.cat([p.a for p in parts], dim=axis)
        return Node(a, torch.cat([p.t for p in parts], dim=axis), "concat")

    def op_stack(self):
        x = self.pick()
        y = self.leaf(x.shape)
        axis = int(self.rng.integers(-x.a.ndim - 1, x.a.ndim + 1))
        return Node(ad.stack([x.a, y.a, x.a], axis=axis),
                    torch.stack([x.t, y.t, x.t], dim=axis), "stack")

    OPS = ["op_unary"] * 4 + ["op_binary"] * 4 + ["op_matmul"] * 2 + \
        ["op_reduce"] * 2 + ["op_softmax", "op_shape", "op_shape",
                             "op_index", "op_index", "op_concat",
                             "op_stack", "op_where", "op_const_operand"]

    def build(self, nops):
        for _ in range(int(self.rng.integers(1, 3))):
            self.add(self.leaf(self.rand_shape(int(self.rng.integers(1, 4)))))
        while len(self.nodes) < nops:
            op = self.OPS[int(self.rng.integers(len(self.OPS)))]
            n = getattr(self, op)()
            if n is None or n.size == 0 or n.size > self.MAX_SIZE:
                continue
            self.add(n)
        # Loss: weighted sums of every sink plus a few random nodes.
        pick = [i for i in range(len(self.nodes)) if i not in self.used]
        pick += self.rng.choice(len(self.nodes), 2).tolist()
        la, lt = None, None
        for i in pick:
            n = self.nodes[i]
            wa, wt = self.const(n.shape)
            ta, tt = (n.a * wa).sum(), (n.t * wt).sum()
            la = ta if la is None else la + ta
            lt = tt if lt is None else lt + tt
        return la, lt


def _broadcasts(small, big):
    try:
        return np.broadcast_shapes(small, big) == tuple(big)
    except ValueError:
        return False


@pytest.mark.parametrize("seed", range(120))
def test_random_graph_matches_torch(T, seed):
    g = RandomGraph(seed)
    la, lt = g.build(nops=int(g.rng.integers(4, 14)))
    desc = " | ".join(n.desc[:60] for n in g.nodes)
    for n in g.nodes:
        _close(n.a.numpy(), n.t.detach().numpy(), msg="value " + n.desc)
    _close(la.numpy(), lt.detach().numpy(), msg="loss")
    la.backward()
    lt.backward()
    for k, leaf in enumerate(g.leaves):
        ga, gt = leaf.a.grad, leaf.t.grad
        assert (ga is None) == (gt is None), (k, desc)
        if ga is not None:
            assert ga.dtype == np.float64
            _close(ga.numpy(), gt.numpy(), "torch_grad",
                   msg="grad of leaf %d; graph %s" % (k, desc))


@pytest.mark.parametrize("seed", range(8))
def test_random_graph_float32_matches_torch(T, seed):
    """The same graphs in float32 agree with torch's float32 to ~1e-4."""
    g = RandomGraph(1000 + seed)
    la, lt = g.build(nops=8)
    la.backward()
    lt.backward()
    leaves32 = []
    # Re-run in float32 by casting each float64 leaf through .float()
    g2 = RandomGraph(1000 + seed)
    orig_leaf = g2.leaf

    def leaf32(shape):
        n = orig_leaf(shape)
        a = ad.tensor(n.a.numpy(), dtype=ad.float32, requires_grad=True)
        t = torch.tensor(n.a.numpy(), dtype=torch.float32,
                         requires_grad=True)
        n2 = Node(a, t, n.desc)
        g2.leaves[-1] = n2
        leaves32.append(n2)
        return n2

    orig_const = g2.const

    def const32(shape):
        a, t = orig_const(shape)
        return (ad.tensor(a.numpy(), dtype=ad.float32),
                torch.tensor(a.numpy(), dtype=torch.float32))

    g2.leaf, g2.const = leaf32, const32
    la32, lt32 = g2.build(nops=8)
    assert la32.dtype == np.float32
    scale = max(1.0, abs(lt.item()))
    assert abs(la32.item() - lt32.item()) <= \
        tol(np.float32, "torch")["rtol"] * scale
    la32.backward()
    lt32.backward()
    for n32, n64 in zip(g2.leaves, g.leaves):
        if n32.t.grad is None:
            assert n32.a.grad is None
            continue
        assert n32.a.grad.dtype == np.float32
        ref = n64.t.grad.numpy()
        s = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(n32.a.grad.numpy() / s, ref / s,
                                   **tol(np.float32, "torch_graph"))


# ------------------------------------------------------------ losses

def _pair(arr, rg=True):
    return (ad.tensor(arr, dtype=ad.float64, requires_grad=rg),
            torch.tensor(arr, dtype=torch.float64, requires_grad=rg))


def _check_loss(fa, ft, xin, tgt, tgt_grad=True, grad_kind="torch"):
    xa, xt = _pair(xin)
    ya, yt = _pair(tgt, rg=tgt_grad)
    la, lt = fa(xa, ya), ft(xt, yt)
    _close(la.numpy(), lt.detach().numpy(), msg="loss value")
    w = np.random.default_rng(5).standard_normal(la.shape)
    la.backward(ad.tensor(w, dtype=ad.float64))
    lt.backward(torch.tensor(w))
    _close(xa.grad.numpy(), xt.grad.numpy(), grad_kind,
           msg="input grad")
    if tgt_grad:
        _close(ya.grad.numpy(), yt.grad.numpy(), msg="target grad")


@pytest.mark.parametrize("reduction", opdb.LOSS_REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), ()])
@pytest.mark.parametrize("name", opdb.ids(opdb.LOSSES))
def test_elementwise_losses_match_torch(T, name, reduction, shape):
    o = opdb.loss(name)
    rng = np.random.default_rng(zlib.crc32(repr((name, reduction,
                                                 shape)).encode()))
    x, y = o.torch_data(rng, shape)
    _check_loss(lambda a, b: o.op(a, b, reduction=reduction),
                lambda a, b: o.torch(a, b, reduction=reduction), x, y)


def test_bce_at_exact_zero_and_one_matches_torch(T):
    F = torch.nn.functional
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-300])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 1.0])
    # torch clamps p (1 - p) at a float32 1e-12 (9.99999996e-13), hence
    # the looser relative tolerance on the clamped gradients.
    _check_loss(lambda a, b: ad.binary_cross_entropy(a, b, "none"),
                lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                p, t, tgt_grad=False, grad_kind="torch_clamped")


def test_bce_with_logits_extreme_logits_match_torch(T):
    F = torch.nn.functional
    x = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    t = np.array([0.0, 1.0, 0.25, 0.5, 0.75, 0.0, 1.0])
    _check_loss(lambda a, b: ad.binary_cross_entropy_with_logits(a, b,
                                                                 "none"),
                lambda a, b: F.binary_cross_entropy_with_logits(
                    a, b, reduction="none"), x, t)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_and_nll_match_torch(T, reduction, ignore_index):
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    N, C = 9, 5
    logits = rng.standard_normal((N, C)) * 3
    logits[0] += 500.0                       # large logits stay stable
    labels = rng.integers(0, C, N)
    labels[[1, 4]] = ignore_index
    if ignore_index == 2:
        labels[6] = 2
    xa, xt = _pair(logits)
    la = ad.cross_entropy(xa, labels, reduction=reduction,
                          ignore_index=ignore_index)
    lt = F.cross_entropy(xt, torch.tensor(labels), reduction=reduction,
                         ignore_index=ignore_index)
    _close(la.numpy(), lt.detach().numpy(), msg="cross_entropy")
    w = rng.standard_normal(la.shape)
    la.backward(ad.tensor(w, dtype=ad.float64))
    lt.backward(torch.tensor(w))
    _close(xa.grad.numpy(), xt.grad.numpy(), msg="cross_entropy grad")
    # the ignored rows get no gradient at all
    assert np.all(xa.grad.numpy()[labels == ignore_index] == 0)

    # nll_loss of log_softmax, through the graph
    xa, xt = _pair(logits)
    la = ad.nll_loss(ad.log_softmax(xa, axis=1), ad.tensor(labels),
                     reduction=reduction, ignore_index=ignore_index)
    lt = F.nll_loss(torch.log_softmax(xt, 1), torch.tensor(labels),
                    reduction=reduction, ignore_index=ignore_index)
    _close(la.numpy(), lt.detach().numpy(), msg="nll")
    la.backward(ad.tensor(w, dtype=ad.float64))
    lt.backward(torch.tensor(w))
    _close(xa.grad.numpy(), xt.grad.numpy(), msg="nll grad")

    # nll_loss of arbitrary values (not log-probabilities)
    xa, xt = _pair(rng.standard_normal((N, C)))
    la = ad.nll_loss(xa, labels, reduction=reduction,
                     ignore_index=ignore_index)
    lt = F.nll_loss(xt, torch.tensor(labels), reduction=reduction,
                    ignore_index=ignore_index)
    _close(la.numpy(), lt.detach().numpy(), msg="nll raw")
    la.backward(ad.tensor(w, dtype=ad.float64))
    lt.backward(torch.tensor(w))
    _close(xa.grad.numpy(), xt.grad.numpy(), msg="nll raw grad")


def test_cross_entropy_single_sample_and_probability_targets(T):
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal(6)
    xa, xt = _pair(x)
    la = ad.cross_entropy(xa, 3)
    lt = F.cross_entropy(xt, torch.tensor(3))
    _close(la.numpy(), lt.detach().numpy())
    la.backward()
    lt.backward()
    _close(xa.grad.numpy(), xt.grad.numpy())

    x = rng.standard_normal((4, 6))
    p = rng.random((4, 6))
    p /= p.sum(1, keepdims=True)
    xa, xt = _pair(x)
    la = ad.cross_entropy(xa, p)
    lt = F.cross_entropy(xt, torch.tensor(p))
    _close(la.numpy(), lt.detach().numpy())
    la.backward()
    lt.backward()
    _close(xa.grad.numpy(), xt.grad.numpy())


# -------------------------------------------------------- reductions

AXES = opdb.REDUCTION_TORCH_AXES


@pytest.mark.parametrize("form", ["function", "method"])
@pytest.mark.parametrize("name", opdb.ids(opdb.REDUCTIONS))
def test_reductions_match_torch(T, name, form):
    o = opdb.reduction(name)
    if form == "function":
        fa = lambda x, ax, kd: o.op(x, axis=ax, keepdims=kd, **o.kw)
    else:
        fa = lambda x, ax, kd: getattr(x, o.meth)(dim=ax, keepdim=kd, **o.kw)
    ft = o.torch
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    for axis, kd in itertools.product(AXES, [False, True]):
        xa, xt = _pair(x)
        tax = tuple(range(3)) if axis is None else axis
        ya, yt = fa(xa, axis, kd), ft(xt, tax, kd)
        _close(ya.numpy(), yt.detach().numpy(), msg="%s %s" % (axis, kd))
        w = np.random.default_rng(4).standard_normal(ya.shape)
        ya.backward(ad.tensor(w, dtype=ad.float64))
        yt.backward(torch.tensor(w))
        _close(xa.grad.numpy(), xt.grad.numpy(),
               msg="%s grad axis=%s keepdims=%s" % (name, axis, kd))


TIES = np.array([[[1.0, 3.0, 3.0, -2.0],
                  [2.0, 2.0, 2.0, 2.0],
                  [-5.0, 7.0, 0.0, 7.0]],
                 [[0.0, 0.0, -1.0, -1.0],
                  [4.0, -4.0, 4.0, -4.0],
                  [9.0, 1.0, 9.0, 9.0]]])


@pytest.mark.parametrize("axis", [None, 0, 1, 2, (1, 2), (0, 2), -1])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_min_ties_split_like_torch_amax_amin(T, axis, kind):
    xa, xt = _pair(TIES)
    tax = tuple(range(3)) if axis is None else axis
    if kind == "max":
        ya, yt = ad.max(xa, axis=axis), torch.amax(xt, dim=tax)
    else:
        ya, yt = xa.amin(axis), torch.amin(xt, dim=tax)
    _close(ya.numpy(), yt.detach().numpy())
    w = np.random.default_rng(0).standard_normal(ya.shape)
    ya.backward(ad.tensor(w, dtype=ad.float64))
    yt.backward(torch.tensor(w))
    _close(xa.grad.numpy(), xt.grad.numpy(), msg="%s %s" % (kind, axis))
    # each group's gradient sums to its upstream gradient, shared evenly
    assert np.isclose(xa.grad.numpy().sum(), w.sum())


def test_maximum_minimum_ties_match_torch(T):
    a = np.array([1.0, 2.0, 3.0, 3.0, -1.0])
    b = np.array([1.0, 5.0, 3.0, 0.0, -1.0])
    for fa, ft in ((ad.maximum, torch.maximum), (ad.minimum, torch.minimum)):
        xa, xt = _pair(a)
        ya, yt = _pair(b)
        fa(xa, ya).sum().backward()
        ft(xt, yt).sum().backward()
        _close(xa.grad.numpy(), xt.grad.numpy())
        _close(ya.grad.numpy(), yt.grad.numpy())


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_extreme_values_match_torch(T, axis):
    x = np.array([[1000.0, -1000.0, 0.0], [-50.0, -50.0, -50.0],
                  [1e-3, 2e-3, 3e-3], [700.0, 710.0, 690.0]])
    for fa, ft in ((ad.softmax, torch.softmax),
                   (ad.log_softmax, torch.log_softmax)):
        xa, xt = _pair(x)
        ya, yt = fa(xa, axis), ft(xt, axis)
        _close(ya.numpy(), yt.detach().numpy())
        w = np.random.default_rng(2).standard_normal(x.shape)
        ya.backward(ad.tensor(w, dtype=ad.float64))
        yt.backward(torch.tensor(w))
        _close(xa.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("shapes", opdb.MATMUL_TORCH_SHAPES)
def test_matmul_shapes_match_torch(T, shapes):
    rng = np.random.default_rng(11)
    xa, xt = _pair(rng.standard_normal(shapes[0]))
    ya, yt = _pair(rng.standard_normal(shapes[1]))
    oa, ot = ad.matmul(xa, ya), torch.matmul(xt, yt)
    _close(oa.numpy(), ot.detach().numpy())
    w = rng.standard_normal(oa.shape)
    (oa * w).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    _close(xa.grad.numpy(), xt.grad.numpy())
    _close(ya.grad.numpy(), yt.grad.numpy())


# ================================================ NaN and inf like torch

_SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e308,
                     -1e308, 5e-324, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 6.0,
                     1e-8, -1e-8, 40.0, -40.0, 1000.0, -1000.0])


def _special_rows():
    """The rows marked ``special`` (test_bad_input checks them against
    their numpy references) that name a torch function."""
    return opdb.with_torch(opdb.special())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("o", _special_rows(), ids=opdb.ids(_special_rows()))
def test_special_values_match_torch(T, o, dtype):
    """NaN, infinities, signed zeros, huge and tiny inputs (and the kinks
    of the activations): torch's values, NaN and infinities in the same
    places."""
    with np.errstate(all="ignore"):
        x = _SPECIAL.astype(dtype)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    got = o.op(ad.tensor(x)).numpy()
    want = o.torch(torch.tensor(x, dtype=tdt)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), o.name)
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want),
                                  o.name)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want),
                                  o.name)
    # subnormal results may differ (torch's log1p(5e-324) is 0)
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=o.name,
                               rtol=tol(dtype, "nan_inf")["rtol"],
                               atol=np.finfo(dtype).tiny)
