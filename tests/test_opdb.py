"""The op database itself: every op code and kind the engine registers has
an opdb row and a differentiable rule, and every row records what it says.
Adding an op to the engine without a row in tests/opdb.py fails here."""
import numpy as np
import pytest

import autodiff as ad
import opdb
from autodiff import _engine as E
from autodiff import autograd
from autodiff._derivatives import RULES

KINDS = E.KINDS


def registered():
    """Every (op, kind) the engine registers with a gradient; kind None for
    ops without kinds.  The ops without one (comparisons, bitwise ops,
    argmax: int64 and bool outputs) are test_int_dtypes.py's."""
    need = {(op, k) for op, table in KINDS.items() for k in table
            if op not in E.NONDIFF_OPS}
    need |= {(op, None) for op in E.OPS
             if op not in KINDS and op not in E.NONDIFF_OPS}
    return need


def recorded(*outputs):
    """The (op, kind) pairs recorded on the graphs of outputs."""
    seen, stack, done = set(), list(outputs), set()
    while stack:
        u = stack.pop()
        key = E._node_key(u)
        if key in done:
            continue
        done.add(key)
        node = E._node(u)
        if node is None:
            continue
        seen.add((node.op, node.kind))
        stack.extend(x for x in node.inputs if x.requires_grad)
    return seen


def test_every_op_code_has_a_rule():
    assert set(RULES) == set(E.OPS) - E.NONDIFF_OPS


def test_every_registered_op_and_kind_has_an_opdb_row():
    missing = registered() - opdb.records()
    assert not missing, "no opdb row for %s" % sorted(
        missing, key=lambda r: (r[0], r[1] or ""))
    unknown = opdb.records() - registered()
    assert not unknown, "opdb rows name unknown kinds %s" % sorted(unknown)


def test_every_nll_reduction_is_tested():
    assert set(E.NLL_REDUCTIONS) == set(opdb.LOSS_REDUCTIONS)


@pytest.mark.parametrize("o", opdb.ALL, ids=opdb.ids(opdb.ALL))
def test_row_records_its_kinds_and_their_rules_differentiate(o):
    """The row's example records every kind the row declares; its
    gradient, recorded with create_graph, records the rules' own ops, and
    differentiating that again works (the rules are differentiable)."""
    fn, arrays = opdb.example(o)
    ts = [ad.tensor(np.asarray(a, np.float64), requires_grad=True)
          for a in arrays]
    out = fn(*ts)
    seen = recorded(out)
    w = ad.tensor(np.random.default_rng(0).standard_normal(out.shape))
    gs = autograd.grad((out * w).sum(), ts, create_graph=True,
                       allow_unused=True)
    seen |= recorded(*[g for g in gs if g is not None and g.requires_grad])
    assert set(o.records) <= seen, (o.name, sorted(
        set(o.records) - seen, key=str))
    s = None
    for g in gs:
        if g is not None and g.requires_grad:
            s = g.sum() if s is None else s + g.sum()
    if s is not None:
        autograd.grad(s, ts, allow_unused=True)


def test_rows_are_complete():
    """Every row names a function, its kinds and valid dtypes; elementwise
    rows a numpy reference and a domain with their kinks inside it."""
    for o in opdb.ALL:
        assert callable(o.op), o.name
        assert o.records, o.name
        assert set(o.dtypes) <= {np.float32, np.float64}, o.name
    for o in opdb.ELEMENTWISE:
        assert o.ref is not None, o.name
        lo, hi = o.domain
        assert lo < hi and all(lo < k < hi for k in o.kinks), o.name


def test_every_kind_has_a_differentiable_rule_in_its_table():
    """The kind tables of autodiff/_derivatives.py cover exactly the
    engine's kinds (a new kind without a rule fails here)."""
    from autodiff import _derivatives as D
    from autodiff import _engine as E
    assert set(D.UNARY_RULES) == set(E.UNARY)
    assert set(D.BINARY_RULES) == set(E.BINARY)
    assert set(D.LOSS_RULES) == set(E.LOSS)
    assert D._READS_X <= set(E.UNARY)


# ============================================ replay under ad.compile
#
# Every elementwise and binary row: a compiled step (the op, a weighted sum,
# backward) gives bit for bit what the eager step gives, on the recording
# call and on replays with new input values.

def _replay_rows():
    return opdb.with_arity()


def _run_steps(o, arity, dtype, compiled):
    xs = [ad.tensor(a, requires_grad=True)
          for a in opdb.arity_inputs(o, arity, 0, dtype)]
    y0 = o.op(*xs)
    w = ad.tensor(np.random.default_rng(5).standard_normal(y0.shape),
                  dtype=dtype)

    def step():
        for x in xs:
            x.grad = None
        y = o.op(*xs)
        (y * w).sum().backward()
        return y

    f = ad.compile(step) if compiled else step
    out = []
    for seed in (0, 1, 2):
        with ad.no_grad():
            for x, a in zip(xs, opdb.arity_inputs(o, arity, seed, dtype)):
                x.copy_(ad.tensor(a))
        y = f()
        out.append((y.numpy().copy(),
                    [x.grad.numpy().copy() for x in xs]))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,o,arity", _replay_rows(),
                         ids=[r[0] for r in _replay_rows()])
def test_compiled_replay_is_bit_identical(name, o, arity, dtype):
    eager = _run_steps(o, arity, dtype, compiled=False)
    comp = _run_steps(o, arity, dtype, compiled=True)
    for (ye, ge), (yc, gc) in zip(eager, comp):
        np.testing.assert_array_equal(yc, ye, err_msg=name)
        for a, b in zip(gc, ge):
            np.testing.assert_array_equal(a, b, err_msg=name)
    # the replays saw the new values (unless the op is a constant: x**0)
    assert not np.array_equal(eager[0][0], eager[1][0]) or \
        np.ptp(eager[0][0]) == 0


def test_capi_pxd_mirrors_the_registry():
    """autodiff/_capi.pxd declares every kind enumerator the header's
    X-macros generate, in order (Cython cannot read them from C)."""
    import pathlib
    import re
    pxd = pathlib.Path(__file__).resolve().parent.parent / "autodiff" / \
        "_capi.pxd"
    if not pxd.exists():
        pytest.skip("no source tree next to the tests")
    text = pxd.read_text()
    for op, prefix in (("unary", "U"), ("binary", "B"), ("reduce", "R"),
                       ("loss", "L"), ("compare", "C"), ("bitwise", "W"),
                       ("argreduce", "A")):
        block = re.search(r"ctypedef enum ad_%s_kind:\n((?:\s{8}.*\n)+)" % op,
                          text)
        assert block, op
        declared = re.findall(r"AD_%s_(\w+)" % prefix, block.group(1))
        names = sorted(E.KINDS[op], key=E.KINDS[op].get)
        assert [d.lower() for d in declared] == names, op
