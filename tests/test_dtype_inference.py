"""The dtype of data that has none of its own: one function decides it.

autodiff._dtypes.infer_code is the rule; every way data becomes a tensor
must give what it says: ad.tensor (context TENSOR), the module functions'
arguments (ARGUMENT), the other operand of arithmetic and binary ops
(OPERAND, with the tensor's dtype as default), the array arguments of
ad.compile (in each of those) and the functional transforms (ARGUMENT,
float64 as the default).  Each case also pins the rule's answer, so a
change to the rule itself shows up here.
"""
import numpy as np
import pytest

import autodiff as ad
from autodiff._dtypes import (ARGUMENT, F32, F64, NP_DTYPES, OPERAND, TENSOR,
                              infer_code)
from conftest import require_torch

f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
i64, b1 = np.dtype(np.int64), np.dtype(np.bool_)

# (id, data, dtype via ad.tensor, dtype as a module function's argument)
CASES = [
    ("py-int", 3, i64, f32),
    ("py-float", 2.5, f32, f64),
    ("py-bool", True, b1, f32),
    ("py-negative-int", -7, i64, f32),
    ("list-ints", [[1, 2], [3, 4]], i64, f32),
    ("list-floats", [[1.0, 2.5], [3.0, 4.0]], f32, f64),
    ("list-mixed", [1, 2.5], f32, f64),
    ("tuple-floats", (1.0, 2.0), f32, f64),
    ("list-bools", [True, False], b1, f32),
    ("np-int32", np.arange(4, dtype=np.int32), i64, f32),
    ("np-int64", np.arange(4, dtype=np.int64), i64, f32),
    ("np-uint8", np.arange(4, dtype=np.uint8), i64, f32),
    ("np-bool", np.array([True, False, True]), b1, f32),
    ("np-float16", np.linspace(0, 1, 4).astype(np.float16), f32, f32),
    ("np-float32", np.linspace(0, 1, 4).astype(np.float32), f32, f32),
    ("np-float64", np.linspace(0, 1, 4), f64, f64),
    ("np-float64-0d", np.array(1.5), f64, f64),
    ("np-float64-strided", np.ones((4, 6))[:, ::2].T, f64, f64),
    ("np-float64-big-endian", np.ones(3, dtype=">f8"), f64, f64),
    ("np-scalar-float64", np.float64(1.5), f64, f64),
    ("np-scalar-float32", np.float32(1.5), f32, f32),
    ("np-scalar-float16", np.float16(1.5), f32, f32),
    ("np-scalar-int64", np.int64(3), i64, f32),
    ("np-scalar-uint8", np.uint8(3), i64, f32),
    ("np-scalar-bool", np.bool_(True), b1, f32),
]
IDS = [c[0] for c in CASES]


def rule(data, context, default=F32):
    return NP_DTYPES[infer_code(data, context=context, default=default)]


@pytest.mark.parametrize("name,data,want,_", CASES, ids=IDS)
def test_tensor(name, data, want, _):
    """As torch.tensor: bool and integer data keep bool and int64."""
    torch = require_torch()
    arr = np.asarray(data)
    tt = torch.tensor(arr.astype(arr.dtype.newbyteorder("="))
                      if isinstance(data, (np.generic, np.ndarray)) else data)
    if tt.dtype not in (torch.int32, torch.uint8, torch.float16):
        assert str(tt.dtype).replace("torch.", "") == want.name
    assert rule(data, TENSOR) == want
    assert ad.tensor(data).dtype == want
    assert ad.from_numpy(np.asarray(data)).dtype == rule(np.asarray(data),
                                                         TENSOR)


@pytest.mark.parametrize("name,data,_,want", CASES, ids=IDS)
def test_module_function_argument(name, data, _, want):
    assert rule(data, ARGUMENT) == want
    assert ad.exp(data).dtype == want
    assert ad.sum(data).dtype == want
    assert ad.zeros_like(data).dtype == want
    assert ad.reshape(data, (-1,)).dtype == want


@pytest.mark.parametrize("like", [f32, f64])
@pytest.mark.parametrize("name,data,_,__", CASES, ids=IDS)
def test_operand_of_a_tensor(name, data, _, __, like):
    code = 0 if like == f32 else 1
    own = rule(data, OPERAND, default=code)
    # numpy float arrays keep their dtype; anything else (numbers of any
    # kind, lists, integer data) takes the tensor's
    if isinstance(data, np.ndarray) and data.dtype.kind == "f" and \
            data.dtype.itemsize in (4, 8):
        assert own == np.dtype("f%d" % data.dtype.itemsize)
    else:
        assert own == like
    want = f64 if f64 in (like, own) else f32   # float32 with float64
    x = ad.ones(*np.shape(data), dtype=like)
    cond = np.ones(np.shape(data), bool)
    got = [ad.maximum(x, data), ad.minimum(x, data),
           ad.where(cond, x, data), ad.where(cond, data, x),
           ad.mse_loss(x, data, reduction="none")]
    if not isinstance(data, np.bool_):  # (x + np.bool_ is a TypeError)
        got += [x + data, data + x, x * data, data - x, x / (data + x),
                ad.add(x, data)]
    for t in got:
        assert t.dtype == want
    assert x.add_(data).dtype == like           # in place: x's own


def test_operand_numbers_never_promote():
    x = ad.ones(3)
    for c in (2.0, np.float64(2.0), np.int64(2), True, [2.0, 2.0, 2.0],
              (2.0, 2.0, 2.0)):
        assert (x * c).dtype == f32
        assert ad.maximum(x, c).dtype == f32
    assert (x * np.full(3, 2.0)).dtype == f64
    assert (x * np.array(2.0)).dtype == f64          # a 0-d array
    x64 = ad.ones(3, dtype=ad.float64)
    assert (x64 * np.float32(2.0)).dtype == f64
    assert (x64 + np.ones(3, np.float32)).dtype == f64


def test_explicit_dtype_wins_and_non_numeric_data_is_refused():
    for data in (3, 2.5, [1, 2], np.arange(3), np.float32(1)):
        assert infer_code(data, dtype=ad.float64) == F64
        assert ad.tensor(data, dtype=ad.float64).dtype == f64
        assert infer_code(data, dtype="float32") == F32
    for bad in ("abc", ["a", "b"], np.array([1 + 2j]), 1j):
        for context in (TENSOR, ARGUMENT, OPERAND):
            with pytest.raises(TypeError):
                infer_code(bad, context=context)
        with pytest.raises(TypeError):
            infer_code(bad, dtype=ad.float64)
        with pytest.raises(TypeError):
            ad.tensor(bad, dtype=ad.float64)
        with pytest.raises(TypeError):
            ad.ones(1) + bad


def test_tensors_keep_their_dtype():
    for dt in (f32, f64):
        x = ad.ones(2, dtype=dt)
        assert ad.tensor(x).dtype == dt
        assert ad.exp(x).dtype == dt
        assert ad.tensor([1.0, 2.0], dtype=dt).dtype == dt


# ad.compile: array arguments arrive as ArrayInput placeholders; each
# conversion gives what the plain array gets eagerly, when recorded and
# when replayed.
ARRAYS = [c for c in CASES if isinstance(c[1], np.ndarray) and c[1].ndim]


@pytest.mark.parametrize("name,data,_,__", ARRAYS,
                         ids=[c[0] for c in ARRAYS])
def test_compile_array_arguments(name, data, _, __):
    x32 = ad.ones(*data.shape)
    x64 = ad.ones(*data.shape, dtype=ad.float64)

    def fn(a, x, y):
        return ad.tensor(a), ad.exp(a), x + a, a * y

    step = ad.compile(fn)
    want = (rule(data, TENSOR), rule(data, ARGUMENT),
            NP_DTYPES[max(F32, infer_code(data, context=OPERAND,
                                          default=F32))],
            f64)
    eager = fn(data, x32, x64)
    for call in range(3):                  # records, then replays
        got = step(data + call if data.dtype.kind != "b" else data,
                   x32, x64)
        assert tuple(t.dtype for t in got) == want
        assert tuple(t.dtype for t in eager) == want
    assert step.recordings == 1


def test_functional_transforms_differentiate_in_float64_by_default():
    seen = []

    def f(x):
        seen.append(x.dtype)
        return (x * x).sum()

    for data, want in ((1.5, f64), (3, f64), ([1.0, 2.0], f64),
                       (np.arange(3), f64), (np.ones(2, np.float16), f64),
                       (np.ones(2, np.float32), f32), (np.ones(2), f64),
                       (np.float32(2.0), f64)):
        seen.clear()
        ad.grad(f)(data)
        assert seen == [want], data
        if not isinstance(data, np.floating):
            assert want == rule(data, ARGUMENT, default=F64)
