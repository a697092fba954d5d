"""A small expression DSL for the property tests of test_fuzz.py.

A graph is built top-down for a requested output shape by a hypothesis
``data`` object: each node is an op of one *family* (unary, scalar,
binary, where, reduction, shape, getitem, matmul, softmax, loss) whose
children are built recursively with the shapes that op needs.  Every node
knows its float64 numpy value as soon as it is built, so the op variant is
drawn only among those that are well behaved on the children's actual
values: inputs of log/sqrt positive, denominators away from 0, relu, abs,
clip, maximum and max away from their kinks and ties, pow bases positive,
and every intermediate value finite and bounded.  Each op has an engine
form and a numpy twin; ``Graph.run`` evaluates the graph with either.
The elementwise and binary ops, their numpy twins, domains and kinks come
from opdb (the rows marked ``fuzz``); the numpy twins of the others from
refs.py.
"""
import os

import numpy as np
from hypothesis import HealthCheck, settings

import autodiff as ad
import opdb
from refs import (np_bce, np_bce_logits, np_class_loss, np_elu,
                  np_leaky_relu, np_log_softmax, np_reduce_loss, np_softmax,
                  np_softplus)

MARGIN = 0.05           # distance kept from every kink, tie and pole
BOUND = 12.0            # |value| of every intermediate result
MAX_DIM = 3
LEAF_BUDGET = 40        # total input elements (numerical grads are O(n))

# ------------------------------------------------------------------ ops
#
# OPS[name] = (engine form, numpy form); both take (params, *children).

# opdb's scalar forms, keyed without spaces ("x+c"), plus "neg"
SCALAR_FORMS = {k.replace(" ", ""): v for k, v in opdb.SCALAR_FORMS.items()}

# AUTODIFF_FUZZ_EXAMPLES multiplies every max_examples (e.g. 10 for a long
# bug hunt); every fuzz test is derandomized, so CI is deterministic.
SCALE = float(os.environ.get("AUTODIFF_FUZZ_EXAMPLES", "1"))


def fuzz_settings(n, *suppress):
    """Hypothesis settings for n examples (times SCALE), with the health
    checks that these tests' large draws trip suppressed."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large,
                                           *suppress])


def _scalar_engine(p, x):
    c, form = p["c"], p["form"]
    return -x if form == "neg" else SCALAR_FORMS[form][0](x, c)


def _scalar_numpy(p, x):
    c, form = float(p["c"]), p["form"]
    with np.errstate(all="ignore"):
        return -x if form == "neg" else SCALAR_FORMS[form][1](x, c)


def _getitem_np(p, x):
    return x[p["npkey"]]


def _cond(p):
    m = p["mask"]
    return {"bool": m, "tensor": ad.tensor(m.astype(np.float64)),
            "list": m.tolist(), "int": m.astype(np.int64)}[p["form"]]


def _class_loss_engine(p, x):
    f = ad.cross_entropy if p["logits"] else ad.nll_loss
    lab = p["labels"]
    if x.ndim == 1:
        lab = int(lab)
    elif p["lform"] == "tensor":
        lab = ad.tensor(lab.astype(np.float64))
    elif p["lform"] == "list":
        lab = lab.tolist()
    kw = {} if p["ignore"] == -100 else {"ignore_index": p["ignore"]}
    return f(x, lab, reduction=p["reduction"], **kw)


def _class_loss_numpy(p, x):
    return np_class_loss(x, p["labels"], p["reduction"], p["ignore"],
                         p["logits"])


def _matmul_engine(p, a, b):
    return {"@": lambda: a @ b, "matmul": lambda: ad.matmul(a, b),
            "method": lambda: a.matmul(b), "dot": lambda: ad.dot(a, b)
            }[p["form"]]()


def _linear_engine(p, x, w, *b):
    return ad.linear(x, w, b[0] if b else None)


def _linear_numpy(p, x, w, *b):
    y = x @ w.T
    return y + b[0] if b else y


def _reduce_engine(p, x):
    f = getattr(ad, p["fn"])
    kw = {"ddof": p["ddof"]} if p["fn"] in ("var", "std") else {}
    if p["form"] == "method":
        # (x.max(dim) is torch's (values, indices): the methods amax/amin)
        meth = {"max": "amax", "min": "amin"}.get(p["fn"], p["fn"])
        return getattr(x, meth)(p["axis"], keepdims=p["keepdims"], **kw)
    return f(x, axis=p["axis"], keepdims=p["keepdims"], **kw)


def _reduce_numpy(p, x):
    fn = {"amax": "max", "amin": "min"}.get(p["fn"], p["fn"])
    kw = {"ddof": p["ddof"]} if fn in ("var", "std") else {}
    with np.errstate(all="ignore"):
        return np.asarray(getattr(np, fn)(x, axis=p["axis"],
                                          keepdims=p["keepdims"], **kw))


def _transpose_engine(p, x):
    perm, form = p["perm"], p["form"]
    if form == "permute":
        return ad.permute(x, perm)
    if form == "method":
        return x.permute(*perm)
    if form == "transpose":
        return ad.transpose(x, perm)
    if form == ".T":
        return x.T
    return ad.swapaxes(x, *p["swap"])


def _softplus_np(p, x):
    return np_softplus(x, p["beta"], p["threshold"])


def _row_forms(o, arity):
    if arity == 1:
        return (lambda p, x: o.op(x), lambda p, x: o.ref(x))
    return (lambda p, a, b: o.op(a, b), lambda p, a, b: o.ref(a, b))


# unary rows drawn with their own option values (see Graph._unary)
PARAMETRIZED = ("leaky_relu", "elu", "softplus", "clip(both)")
UNARY = [o for o in opdb.fuzzed(opdb.UNARY) if o.name not in PARAMETRIZED]
OPS = {o.name: _row_forms(o, 1) for o in UNARY}
OPS.update({o.name: _row_forms(o, 2) for o in opdb.fuzzed(opdb.BINARY)})
OPS.update({
    "leaky_relu": (lambda p, x: ad.leaky_relu(x, p["slope"]),
                   lambda p, x: np_leaky_relu(x, p["slope"])),
    "elu": (lambda p, x: ad.elu(x, alpha=p["alpha"]),
            lambda p, x: np_elu(x, p["alpha"])),
    "softplus": (lambda p, x: ad.softplus(x, p["beta"], p["threshold"]),
                 _softplus_np),
    "clip": (lambda p, x: ad.clip(x, p["lo"], p["hi"]),
             lambda p, x: np.clip(x, -np.inf if p["lo"] is None else p["lo"],
                                  np.inf if p["hi"] is None else p["hi"])),
    "scalar": (_scalar_engine, _scalar_numpy),
    "where": (lambda p, a, b: ad.where(_cond(p), a, b),
              lambda p, a, b: np.where(p["mask"], a, b)),
    "reduce": (_reduce_engine, _reduce_numpy),
    "reshape": (lambda p, x: (ad.reshape(x, p["arg"]) if p["form"] == "fn"
                              else x.reshape(*p["arg"])),
                lambda p, x: x.reshape(p["shape"])),
    "flatten": (lambda p, x: ad.flatten(x), lambda p, x: x.reshape(-1)),
    "transpose": (_transpose_engine,
                  lambda p, x: np.transpose(x, p["perm"])),
    "expand_dims": (lambda p, x: ad.expand_dims(x, p["axis"]),
                    lambda p, x: np.expand_dims(x, p["axis"])),
    "squeeze": (lambda p, x: ad.squeeze(x, p["axis"]),
                lambda p, x: np.squeeze(x, p["axis"])),
    "broadcast_to": (lambda p, x: ad.broadcast_to(x, p["shape"]),
                     lambda p, x: np.broadcast_to(x, p["shape"]).copy()),
    "concatenate": (lambda p, *xs: ad.concatenate(list(xs), p["axis"]),
                    lambda p, *xs: np.concatenate(xs, p["axis"])),
    "stack": (lambda p, *xs: ad.stack(list(xs), p["axis"]),
              lambda p, *xs: np.stack(xs, p["axis"])),
    "getitem": (lambda p, x: x[p["key"]], _getitem_np),
    "matmul": (_matmul_engine, lambda p, a, b: np.matmul(a, b)),
    "linear": (_linear_engine, _linear_numpy),
    "softmax": (lambda p, x: ad.softmax(x, p["axis"]),
                lambda p, x: np_softmax(x, p["axis"])),
    "log_softmax": (lambda p, x: ad.log_softmax(x, p["axis"]),
                    lambda p, x: np_log_softmax(x, p["axis"])),
    "mse_loss": (lambda p, a, b: ad.mse_loss(a, b, p["reduction"]),
                 lambda p, a, b: np_reduce_loss(opdb.loss("mse_loss").ref(
                     a, b), p["reduction"])),
    "l1_loss": (lambda p, a, b: ad.l1_loss(a, b, p["reduction"]),
                lambda p, a, b: np_reduce_loss(opdb.loss("l1_loss").ref(
                    a, b), p["reduction"])),
    "bce": (lambda p, a, b: ad.binary_cross_entropy(a, b, p["reduction"]),
            lambda p, a, b: np_reduce_loss(np_bce(a, b), p["reduction"])),
    "bce_logits": (lambda p, a, b: ad.binary_cross_entropy_with_logits(
        a, b, p["reduction"]),
        lambda p, a, b: np_reduce_loss(np_bce_logits(a, b), p["reduction"])),
    "class_loss": (_class_loss_engine, _class_loss_numpy),
})


# --------------------------------------------------------------- helpers

def _far(x, points, margin=MARGIN):
    x = np.asarray(x)
    return all(not np.any(np.abs(x - p) < margin) for p in points)


def _ok(v):
    v = np.asarray(v)
    return v.size == 0 or (np.all(np.isfinite(v)) and
                           np.max(np.abs(v)) <= BOUND)


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


class Graph:
    """Nodes in creation order (children before parents).  A node is
    (name, params, children); a leaf is ("leaf", index, ()) and a
    constant operand ("const", array, ())."""

    def __init__(self, data, st, dtype):
        self.data, self.st, self.dtype = data, st, dtype
        self.nodes, self.values, self.leaves = [], [], []
        self.budget = LEAF_BUDGET
        # hypothesis favours small draws (the first op of a list, the
        # lower bound of a range) heavily; each choice adds an offset from
        # this generator so that all ops get exercised evenly.
        self.rng = np.random.default_rng(
            data.draw(st.integers(0, 2 ** 32 - 1), label="salt"))

    # ---------------------------------------------------------- drawing
    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def integers(self, lo, hi):
        n = hi - lo + 1
        k = self.draw(self.st.integers(0, n - 1))
        return lo + (k + int(self.rng.integers(0, n))) % n

    def choice(self, seq):
        seq = list(seq)
        return seq[self.integers(0, len(seq) - 1)]

    def coin(self, p=0.5):
        return self.integers(0, 999) < p * 1000

    def dim(self, allow_zero=True):
        lo = 0 if allow_zero and self.coin(0.06) else 1
        return self.integers(lo, MAX_DIM) if lo else 0

    def shape(self, max_ndim=3, max_size=12):
        for _ in range(10):
            s = tuple(self.dim() for _ in range(self.integers(0, max_ndim)))
            if _size(s) <= max_size:
                return s
        return ()

    # ---------------------------------------------------------- nodes
    def _add(self, name, params, kids, value):
        self.nodes.append((name, params, tuple(kids)))
        self.values.append(np.asarray(value, dtype=np.float64))
        return len(self.nodes) - 1

    def _round(self, v):
        return np.asarray(np.asarray(v, np.float64).astype(self.dtype),
                          np.float64)

    def _values(self, shape):
        seed = int(self.rng.integers(0, 2 ** 32))
        kind = self.choice(["normal", "positive", "unit", "nonzero",
                            "distinct"])
        rng = np.random.default_rng(seed)
        if kind == "normal":
            v = rng.uniform(-2, 2, shape)
        elif kind == "positive":
            v = rng.uniform(0.2, 3, shape)
        elif kind == "unit":
            v = rng.uniform(0.1, 0.9, shape)
        elif kind == "nonzero":
            v = rng.uniform(0.3, 2, shape) * rng.choice([-1, 1], shape)
        else:
            n = _size(shape)
            v = rng.permutation((np.arange(n) - n / 2) * 0.2 +
                                rng.uniform(0, 0.05, n)).reshape(shape)
        return self._round(v)

    def leaf(self, shape):
        v = self._values(shape)
        self.leaves.append(v)
        self.budget -= v.size
        return self._add("leaf", len(self.leaves) - 1, (), v)

    def const(self, shape):
        v = self._values(shape)
        return self._add("const", v.astype(self.dtype), (), v)

    def val(self, i):
        return self.values[i]

    # ---------------------------------------------------------- building
    def build(self, shape, depth, root=False):
        shape = tuple(shape)
        if depth <= 0 or (not root and self.coin(0.12)):
            return self.leaf(shape)
        families = ["unary", "unary", "scalar", "binary", "binary", "where",
                    "reshape", "transpose", "broadcast_to", "softmax"]
        small = self.budget >= 2 * max(_size(shape), 1)
        if small:
            families += ["reduce", "reduce", "expand", "concat", "getitem",
                         "getitem", "matmul", "matmul"]
        if len(shape) == 0 or (len(shape) == 1 and small):
            families += ["loss", "loss"]
        fam = self.choice(families)
        node = getattr(self, "_" + fam)(shape, depth - 1)
        if node is None and root:   # try another op
            return self.build(shape, depth, root=self.coin(0.9))
        if node is None:            # no variant is well behaved here
            return self.leaf(shape)
        return node

    def _pick(self, candidates):
        """Draw one of candidates [(name, params, kids)] whose numpy value
        is finite, bounded and passes its check; None if none does."""
        good = []
        for name, params, kids, check in candidates:
            if check is not None and not check():
                continue
            with np.errstate(all="ignore"):
                v = OPS[name][1](params, *[self.val(k) for k in kids])
            if _ok(v):
                good.append((name, params, kids, v))
        if not good:
            return None
        name, params, kids, v = good[self.integers(0, len(good) - 1)]
        return self._add(name, params, kids, v)

    # unary ------------------------------------------------------------
    def _unary(self, shape, depth):
        c = self.build(shape, depth)
        x = self.val(c)
        nz = lambda: _far(x, [0])
        slope = self.choice([0.01, 0.2, 0.3])
        alpha = self.choice([1.0, 0.5, 1.7])
        beta, thr = self.choice([(1.0, 20.0), (2.0, 1.0), (0.5, 0.75)])
        lo = self.choice([None, -1.0, -0.5, 0.3])
        hi = self.choice([None, 0.7, 1.5]) if lo is not None else \
            self.choice([0.7, 1.5])
        positive = lambda: x.size == 0 or x.min() > 0.1

        def in_domain(o):
            if o.positive:
                return positive
            return (lambda k=o.kinks: _far(x, k)) if o.kinks else None
        cands = [(o.name, None, [c], in_domain(o)) for o in UNARY] + [
            ("leaky_relu", {"slope": slope}, [c], nz),
            ("elu", {"alpha": alpha}, [c], nz),
            ("softplus", {"beta": beta, "threshold": thr}, [c],
             lambda: _far(x, [thr / beta])),
            ("clip", {"lo": lo, "hi": hi}, [c],
             lambda: _far(x, [p for p in (lo, hi) if p is not None])),
        ]
        return self._pick(cands)

    def _scalar(self, shape, depth):
        ch = self.build(shape, depth)
        x = self.val(ch)
        c = self.choice([2, 3, -1, 0.5, 2.5, -1.5, np.float64(0.75),
                         np.float32(3.0), np.int64(2), 1, 0])
        form = self.choice(list(SCALAR_FORMS) + ["neg"])
        cf = float(c)
        if form == "x/c" and cf == 0:
            return None
        if form == "c/x" and not _far(x, [0], 0.2):
            return None
        if form == "x**c":
            if cf != int(cf) and not (x.size == 0 or x.min() > 0.1):
                return None
            if cf < 0 and not _far(x, [0], 0.2):
                return None
        if form == "c**x" and cf <= 0:
            return None
        return self._pick([("scalar", {"c": c, "form": form}, [ch], None)])

    # binary -----------------------------------------------------------
    def _operand_shape(self, shape):
        """A shape that broadcasts to shape (dims set to 1, leading ones
        dropped)."""
        s = [d if not self.coin(0.3) else 1 for d in shape]
        drop = self.integers(0, len(s))
        return tuple(s[drop:])

    def _binary(self, shape, depth):
        sa, sb = self._operand_shape(shape), self._operand_shape(shape)
        if self.coin(0.5):
            sa = shape
        else:
            sb = shape
        a = self.build(sa, depth)
        b = self.const(sb) if self.coin(0.15) else self.build(sb, depth)
        if self.coin(0.2):
            a, b = b, a
        if self.nodes[a][0] == "const" and self.nodes[b][0] == "const":
            return None
        x, y = self.val(a), self.val(b)
        with np.errstate(all="ignore"):
            gap = lambda: _far(x - y, [0])
        # the conditions under which each binary row is well behaved
        def away_from_origin():
            with np.errstate(all="ignore"):
                return _far(np.hypot(x, y), [0], 0.2)

        def atan2_ok():
            # and off the branch cut (x == 0 for y < 0): a jump of 2 pi
            xb, yb = np.broadcast_arrays(x, y)
            return away_from_origin() and _far(xb[yb < 0], [0])

        def mod_ok():
            # quotients away from the integers (the steps)
            if not _far(y, [0], 0.2):
                return False
            with np.errstate(all="ignore"):
                q = x / y
            return _far(q - np.round(q), [0])

        ok = {"div": lambda: _far(y, [0], 0.2),
              "pow": lambda: x.size == 0 or x.min() > 0.1,
              "maximum": gap, "minimum": gap,
              "atan2": atan2_ok, "hypot": away_from_origin,
              "fmod": mod_ok, "remainder": mod_ok,
              "xlogy": lambda: y.size == 0 or y.min() > 0.1}
        cands = [(o.name, None, [a, b], ok.get(o.name))
                 for o in opdb.fuzzed(opdb.BINARY)]
        if self.nodes[a][0] == "const":        # ndarray on the left
            cands = cands[:3]
        return self._pick(cands)

    def _where(self, shape, depth):
        sm = self._operand_shape(shape)
        sa, sb = self._operand_shape(shape), self._operand_shape(shape)
        if np.broadcast_shapes(sm, sa, sb) != shape:
            sa = shape
        a, b = self.build(sa, depth), self.build(sb, depth)
        rng = np.random.default_rng(int(self.rng.integers(0, 2 ** 32)))
        mask = rng.random(sm) < 0.5
        form = self.choice(["bool", "tensor", "list", "int"])
        if form == "list" and mask.size == 0:   # [] would lose the shape
            form = "bool"
        return self._pick([("where", {"mask": mask, "form": form}, [a, b],
                            None)])

    # reductions -------------------------------------------------------
    def _reduce(self, shape, depth):
        fn = self.choice(["sum", "mean", "max", "min", "amax", "amin",
                          "var", "std"])
        ddof = self.integers(0, 1)
        keepdims = self.coin(0.4)
        if keepdims:
            ones = [i for i, d in enumerate(shape) if d == 1]
            axes = [i for i in ones if self.coin(0.5)][:2]
            child = list(shape)
            for i in axes:
                child[i] = self.dim()
        else:
            child = list(shape)
            for _ in range(self.integers(1, 2)):
                if len(child) >= 4:
                    break
                child.insert(self.integers(0, len(child)), None)
            axes = [i for i, d in enumerate(child) if d is None]
            child = [self.dim() if d is None else d for d in child]
        nd = len(child)
        if axes == list(range(nd)) and self.coin(0.5):
            axis = None
        else:
            axis = tuple(a - nd if self.coin(0.3) else a for a in axes)
            if len(axis) == 1 and self.coin(0.6):
                axis = axis[0]
        child = tuple(child)
        if _size(child) > max(self.budget, 1):
            return None
        group = _size([child[i] for i in axes])
        if fn in ("mean", "max", "min", "amax", "amin", "var", "std") and \
                group == 0:
            return None
        if fn in ("var", "std") and group <= ddof:
            return None
        if fn == "std" and (len(axes) == 0 or group == 1):
            return None
        c = self.build(child, depth)
        x = self.val(c)
        params = {"fn": fn, "axis": axis, "keepdims": keepdims, "ddof": ddof,
                  "form": self.choice(["fn", "method"])}

        def check():
            if fn in ("max", "min", "amax", "amin") and group > 1:
                s = np.sort(np.moveaxis(x, axes, range(len(axes)))
                            .reshape(group, -1), axis=0)
                return s.size == 0 or np.min(np.abs(
                    s[-1] - s[-2] if fn in ("max", "amax")
                    else s[1] - s[0])) > MARGIN
            if fn == "std":
                return x.size == 0 or np.min(np.var(
                    x, axis=tuple(axes), ddof=ddof)) > 0.01
            return True
        return self._pick([("reduce", params, [c], check)])

    # shape ops --------------------------------------------------------
    def _reshape(self, shape, depth):
        n = _size(shape)
        if self.coin(0.2) and len(shape) == 1:
            child = self.shape(3, 12)
            if _size(child) != n:
                child = self._factor(n)
            return self._pick([("flatten", None,
                                [self.build(child, depth)], None)])
        child = self._factor(n)
        arg = list(shape)
        if arg and n and self.coin(0.4):
            arg[self.integers(0, len(arg) - 1)] = -1
        params = {"arg": tuple(arg), "shape": shape,
                  "form": self.choice(["fn", "method"])}
        return self._pick([("reshape", params, [self.build(child, depth)],
                            None)])

    def _factor(self, n):
        """A random shape of n elements."""
        if n == 0:
            s = list(self.shape(3, 12)) or [1]
            s[self.integers(0, len(s) - 1)] = 0
            return tuple(s)
        dims, left = [], n
        for p in (2, 3):
            while left % p == 0 and self.coin(0.7):
                dims.append(p)
                left //= p
        if left > 1:
            dims.append(left)
        out = []
        for d in dims:
            if out and self.coin(0.4):
                out[-1] *= d
            else:
                out.append(d)
        for _ in range(self.integers(0, 1)):
            out.insert(self.integers(0, len(out)), 1)
        return tuple(int(out[i]) for i in self.rng.permutation(len(out)))

    def _transpose(self, shape, depth):
        nd = len(shape)
        if nd < 2:
            return None
        form = self.choice(["permute", "method", "transpose", ".T", "swap"])
        swap = None
        if form == ".T":
            perm = tuple(reversed(range(nd)))
        elif form == "swap":
            i, j = self.integers(0, nd - 1), self.integers(0, nd - 1)
            perm = list(range(nd))
            perm[i], perm[j] = perm[j], perm[i]
            perm = tuple(perm)
            swap = (i - nd if self.coin(0.3) else i, j)
        else:
            perm = tuple(int(i) for i in self.rng.permutation(nd))
        inv = np.argsort(perm)
        child = tuple(shape[k] for k in inv)
        params = {"perm": perm, "form": form, "swap": swap}
        if form == "method" and self.coin(0.3):
            params["perm"] = tuple(p - nd for p in perm)
        return self._pick([("transpose", params, [self.build(child, depth)],
                            None)])

    def _expand(self, shape, depth):
        ones = [i for i, d in enumerate(shape) if d == 1]
        if ones and self.coin(0.5):
            k = self.choice(ones)
            child = shape[:k] + shape[k + 1:]
            axis = k - len(shape) if self.coin(0.3) else k
            return self._pick([("expand_dims", {"axis": axis},
                                [self.build(child, depth)], None)])
        if len(shape) >= 4:
            return None
        k = self.integers(0, len(shape))
        child = shape[:k] + (1,) + shape[k:]
        axis = k
        if self.coin(0.3):
            axis = k - len(child)
        if 1 not in shape and self.coin(0.3):
            axis = None
        return self._pick([("squeeze", {"axis": axis},
                            [self.build(child, depth)], None)])

    def _broadcast_to(self, shape, depth):
        child = self._operand_shape(shape)
        return self._pick([("broadcast_to", {"shape": shape},
                            [self.build(child, depth)], None)])

    def _concat(self, shape, depth):
        if not shape:
            return None
        k = self.integers(0, len(shape) - 1)
        axis = k - len(shape) if self.coin(0.3) else k
        if self.coin(0.3) and shape[k] >= 1:        # stack
            kids = [self.build(shape[:k] + shape[k + 1:], depth)
                    for _ in range(shape[k])]
            return self._pick([("stack", {"axis": axis}, kids, None)])
        parts = self.integers(1, 3)
        cuts = sorted(self.integers(0, shape[k]) for _ in range(parts - 1))
        sizes = np.diff([0] + cuts + [shape[k]])
        kids = [self.build(shape[:k] + (int(s),) + shape[k + 1:], depth)
                for s in sizes]
        return self._pick([("concatenate", {"axis": axis}, kids, None)])

    def _getitem(self, shape, depth):
        rng = np.random.default_rng(int(self.rng.integers(0, 2 ** 32)))
        kind = self.choice(["slices", "int", "intarray", "boolaxis",
                            "boolfull", "none", "tensor"])
        nd = len(shape)
        if kind == "boolfull":
            if nd != 1:
                return None
            child = self.shape(3, 12)
            n = _size(child)
            if n < shape[0]:
                return None
            mask = np.zeros(n, bool)
            mask[rng.choice(n, shape[0], replace=False)] = True
            key = mask.reshape(child)
        elif kind == "none":
            ones = [i for i, d in enumerate(shape) if d == 1]
            if not ones:
                return None
            k = self.choice(ones)
            child = shape[:k] + shape[k + 1:]
            key = (Ellipsis, None) + (slice(None),) * (nd - 1 - k) \
                if self.coin(0.5) else (slice(None),) * k + (None,)
        elif kind == "int":
            if nd >= 4:
                return None
            k = self.integers(0, nd)
            m = self.integers(1, 3)
            child = shape[:k] + (m,) + shape[k:]
            i = self.integers(-m, m - 1)
            key = (slice(None),) * k + (i,)
            if k == 0 and self.coin(0.5):
                key = i
        else:
            if nd == 0:
                return None
            k = self.integers(0, nd - 1)
            n = shape[k]
            if kind == "slices":
                step = self.choice([1, 1, 2, 3, -1, -2])
                m = n * abs(step) + self.integers(0, 2)
                if n == 0:
                    start = self.integers(0, m)
                    key1 = slice(start, start, step)
                else:
                    span = (n - 1) * abs(step) + 1
                    s0 = self.integers(0, m - span)
                    if step > 0:
                        key1 = slice(s0, s0 + span, step)
                        if s0 + span == m and self.coin(0.5):
                            key1 = slice(s0, None, step)
                    else:
                        top = s0 + span - 1
                        key1 = slice(top, s0 - 1 if s0 > 0 else None, step)
                        if self.coin(0.3):
                            key1 = slice(top - m, (s0 - 1 - m) if s0 > 0
                                         else None, step)
            elif kind in ("intarray", "tensor"):
                m = self.integers(1, 3)
                idx = rng.integers(-m, m, n)
                key1 = idx if kind == "intarray" else \
                    ad.tensor(idx.astype(np.float64))
                if kind == "intarray" and self.coin(0.3):
                    key1 = idx.tolist()
            else:                                     # boolaxis
                m = n + self.integers(0, 2)
                mask = np.zeros(m, bool)
                mask[rng.choice(m, n, replace=False)] = True
                key1 = mask
            child = shape[:k] + (m,) + shape[k + 1:]
            if self.coin(0.3) and kind == "slices":
                key = (Ellipsis, key1) + (slice(None),) * (nd - 1 - k)
            else:
                key = (slice(None),) * k + (key1,)
            if len(key) == 1 and isinstance(key1, (slice, np.ndarray)):
                key = key1 if self.coin(0.5) else key
            if isinstance(key1, list) and len(key) == 1:
                key = key1
        if _size(child) > max(self.budget, 1):
            return None
        c = self.build(child, depth)
        npkey = key
        if isinstance(key, tuple):
            npkey = tuple(k.numpy().astype(np.int64)
                          if isinstance(k, ad.Tensor) else k for k in key)
        elif isinstance(key, ad.Tensor):
            npkey = key.numpy().astype(np.int64)
        return self._pick([("getitem", {"key": key, "npkey": npkey},
                            [c], None)])

    # matmul -----------------------------------------------------------
    def _matmul(self, shape, depth):
        nd = len(shape)
        k = self.dim()
        if self.coin(0.25) and nd == 2:              # linear
            n, out = shape
            x = self.build((n, k), depth)
            w = self.build((out, k), depth)
            kids = [x, w]
            if self.coin(0.7):
                kids.append(self.build((out,), depth))
            return self._pick([("linear", None, kids, None)])
        if nd == 0:
            sa, sb = (k,), (k,)
        elif nd == 1:
            if self.coin(0.5):
                sa, sb = (shape[0], k), (k,)
            else:
                sa, sb = (k,), (k, shape[0])
        else:
            batch, (n, p) = shape[:-2], shape[-2:]
            sa = self._operand_shape(batch) + (n, k) if batch else (n, k)
            sb = self._operand_shape(batch) + (k, p) if batch else (k, p)
            if np.broadcast_shapes(sa[:-2], sb[:-2]) != batch:
                sa = batch + (n, k)
        if _size(sa) + _size(sb) > max(self.budget, 2):
            return None
        a, b = self.build(sa, depth), self.build(sb, depth)
        form = self.choice(["@", "matmul", "method", "dot"])
        return self._pick([("matmul", {"form": form}, [a, b], None)])

    def _softmax(self, shape, depth):
        nd = len(shape)
        axis = self.integers(-max(nd, 1), max(nd, 1) - 1)
        c = self.build(shape, depth)
        name = self.choice(["softmax", "log_softmax"])
        return self._pick([(name, {"axis": axis}, [c], None)])

    # losses -----------------------------------------------------------
    def _loss(self, shape, depth):
        name = self.choice(["mse_loss", "l1_loss", "bce", "bce_logits",
                            "class_loss", "class_loss"])
        reduction = "none" if shape else self.choice(["mean", "sum"])
        if name == "class_loss":
            c = self.dim(allow_zero=False)
            if reduction == "none":
                n = shape[0]
                xs = (n, c)
            elif self.coin(0.3):
                n, xs = 1, (c,)
            else:
                n = self.integers(1, 3)
                xs = (n, c)
            rng = np.random.default_rng(int(self.rng.integers(0, 2 ** 32)))
            labels = rng.integers(0, c, n)
            ignore = self.choice([-100, -100, 0, 1])
            if self.coin(0.3) and n > 1:
                labels[rng.integers(0, n)] = ignore
            if len(xs) == 1:
                labels = labels[0]
            keep = np.sum(np.atleast_1d(labels) != ignore)
            if reduction == "mean" and keep == 0:
                return None
            x = self.build(xs, depth)
            params = {"labels": labels, "reduction": reduction,
                      "ignore": ignore, "logits": self.coin(0.6),
                      "lform": self.choice(["array", "tensor", "list"])}
            return self._pick([("class_loss", params, [x], None)])
        xs = shape if reduction == "none" else self.shape(2, 6)
        if reduction == "mean" and _size(xs) == 0:
            return None
        a = self.build(xs, depth)
        b = self.build(xs, depth) if self.coin(0.7) else self.const(xs)
        x, t = self.val(a), self.val(b)
        if name == "l1_loss" and not _far(x - t, [0]):
            return None
        if name == "bce" and not (x.size == 0 or (
                x.min() > 0.05 and x.max() < 0.95 and t.min() >= 0
                and t.max() <= 1)):
            return None
        return self._pick([(name, {"reduction": reduction}, [a, b], None)])

    # ------------------------------------------------------- evaluation
    def reachable(self, root):
        seen, stack = set(), [root]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack.extend(self.nodes[i][2])
        return sorted(seen)

    def used_leaves(self, root):
        return sorted(self.nodes[i][1] for i in self.reachable(root)
                      if self.nodes[i][0] == "leaf")

    def run(self, root, leaf_values, engine=True, dtype=None):
        """Evaluate: leaf_values maps leaf index -> tensor (engine) or
        float64 array (numpy).  Returns {node: value}."""
        out = {}
        for i in self.reachable(root):
            name, params, kids = self.nodes[i]
            if name == "leaf":
                out[i] = leaf_values[params]
            elif name == "const":
                if engine:
                    out[i] = params if dtype is None else \
                        np.asarray(params, dtype)
                else:
                    out[i] = self.values[i]
            else:
                f = OPS[name][0 if engine else 1]
                with np.errstate(all="ignore"):
                    out[i] = f(params, *[out[k] for k in kids])
        return out

    def describe(self, root):
        """A readable form of the graph (for failure messages)."""
        def rec(i):
            name, params, kids = self.nodes[i]
            if name == "leaf":
                return "x%d%s" % (params, self.values[i].shape)
            if name == "const":
                return "const%s" % (self.values[i].shape,)
            p = ""
            if isinstance(params, dict):
                p = "[" + ", ".join("%s=%s" % (k, _short(v))
                                    for k, v in params.items()
                                    if k not in ("npkey",)) + "]"
            return "%s%s(%s)" % (name, p, ", ".join(rec(k) for k in kids))
        return rec(root)


def _short(v):
    r = repr(v).replace("\n", "")
    return r if len(r) < 60 else r[:57] + "..."
