"""ad.set_flush_denormal (torch.set_flush_denormal): FTZ and DAZ on the
calling thread, taken on by the engine's pool and crew threads for each
job they run for it, so results do not depend on the thread count."""
import platform

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff._replicas import _Replicas
from autodiff.trainer import Trainer, _Batch

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
pytestmark = pytest.mark.skipif(not X86, reason="FTZ/DAZ: x86 only")

F32_TINY = np.float32(1e-40)       # subnormal in float32
F64_TINY = 1e-310                  # subnormal in float64


def bits(a):
    """The values' bit patterns as integers: comparisons of floats read
    subnormals as 0 while DAZ is on (numpy's and Python's too), so every
    check below compares bits."""
    a = np.ascontiguousarray(a.numpy() if isinstance(a, ad.Tensor) else a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.fixture(autouse=True)
def _restore():
    before = ad.get_num_threads()
    yield
    ad.set_flush_denormal(False)
    ad.set_num_threads(before)


def test_returns_true_and_sets_this_threads_mode():
    assert ad.set_flush_denormal(True) is True
    assert ad._engine._flush_denormal() is True
    assert ad.set_flush_denormal(False) is True
    assert ad._engine._flush_denormal() is False


@pytest.mark.parametrize("bad", [1, 0, None, "x", np.bool_(True)])
def test_mode_must_be_a_bool_as_torch(bad):
    with pytest.raises(RuntimeError, match="flush_denormal expects a bool, "
                       "but got %s" % type(bad).__name__):
        ad.set_flush_denormal(bad)
    assert ad._engine._flush_denormal() is False


@pytest.mark.parametrize("dtype,tiny", [(ad.float32, F32_TINY),
                                        (ad.float64, F64_TINY)])
def test_subnormal_inputs_and_results_flush_to_zero(dtype, tiny):
    x = ad.tensor([tiny, -tiny, 1.0], dtype=dtype)
    # DAZ: a subnormal input counts as 0; FTZ: a subnormal result is 0
    small = ad.tensor([1e-20 if dtype == ad.float32 else 1e-160],
                      dtype=dtype)
    ad.set_flush_denormal(True)
    one = bits(ad.tensor([1.0], dtype=dtype))[0]
    assert bits(x * 1.0).tolist() == [0, 1 << (bits(x).itemsize * 8 - 1),
                                      one]      # -tiny: -0.0
    assert bits(small * small).tolist() == [0]
    ad.set_flush_denormal(False)
    assert bits(x * 1.0).tolist() == bits(x).tolist()
    assert bits(small * small)[0] != 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_threads_take_the_callers_mode(dtype):
    """A product over 2^20 elements, split over the pool at 2 threads:
    every element flushed, the same bits as at 1 thread (workers made
    before the mode was set run it too)."""
    n = 1 << 20
    big = np.full(n, 1e-20 if dtype == np.float32 else 1e-160, dtype)
    x = ad.tensor(big)
    ad.set_num_threads(2)
    (x * x).numpy()                 # the workers exist before the switch
    out = {}
    for flush in (True, False):
        ad.set_flush_denormal(flush)
        for t in (1, 2):
            ad.set_num_threads(t)
            out[flush, t] = (x * x).numpy()
    assert not bits(out[True, 2]).any() and not bits(out[True, 1]).any()
    assert bits(out[False, 2]).all()
    assert out[False, 2].tobytes() == out[False, 1].tobytes()


def test_sgd_momentum_stuck_at_the_smallest_subnormal_flushes():
    """The slow case the mode is for: a zero gradient decays SGD's
    momentum (x 0.9 a step) to the smallest float32 subnormal, where
    0.9 x it rounds back to itself; with the mode on it becomes 0."""
    smallest = np.float32(1.4e-45)
    assert bits(np.float32(0.9) * smallest) == bits(smallest)
    p = nn.Parameter(ad.tensor([1.0], dtype=ad.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = ad.tensor([1.0], dtype=ad.float32)
    opt.step()
    with ad.no_grad():
        opt.state[p]["momentum_buffer"].copy_(ad.tensor([smallest]))
    p.grad = ad.zeros(1)
    opt.step()
    assert bits(opt.state[p]["momentum_buffer"]) == bits(smallest)
    ad.set_flush_denormal(True)
    opt.step()
    assert bits(opt.state[p]["momentum_buffer"]) == 0


def test_replica_threads_take_the_callers_mode():
    """Trainer(replicas=2): replica 1 replays on a crew thread; with the
    mode on, its share's outputs are flushed as replica 0's are."""
    ad.manual_seed(0)
    model = nn.Linear(4, 2, bias=False).double()
    with ad.no_grad():
        model.weight.fill_(1e-160)
    tr = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.0),
                 replicas=2)
    X = np.full((8, 4), 1e-160)
    Y = np.zeros((8, 2))
    rep = _Replicas(tr, 2)
    batch = _Batch((X,), {}, Y, None)
    rep.step(batch)                     # records; the crew thread exists
    _, out = rep.step(batch)
    assert bits(out).all()              # 4e-320: subnormal, kept
    ad.set_flush_denormal(True)
    rep.step(batch)
    _, out = rep.step(batch)
    assert out.shape == (8, 2) and not bits(out).any()


@pytest.mark.parametrize("bad", [1, None, "x"])
def test_against_torch(bad):
    """The same return value, flushed results and error message as
    torch.set_flush_denormal (both set this thread's MXCSR)."""
    torch = pytest.importorskip("torch")
    try:
        for mode in (True, False):
            assert ad.set_flush_denormal(mode) == torch.set_flush_denormal(
                mode)
            ours = (ad.tensor([1e-323], dtype=ad.float64) * 1.0).numpy()
            theirs = (torch.tensor([1e-323], dtype=torch.float64)
                      * 1.0).numpy()
            assert bits(ours).tolist() == bits(theirs).tolist()
            assert (bits(ours)[0] == 0) == mode
        with pytest.raises(RuntimeError) as t_err:
            torch.set_flush_denormal(bad)
        with pytest.raises(RuntimeError) as a_err:
            ad.set_flush_denormal(bad)
        assert str(a_err.value) == str(t_err.value)
    finally:
        torch.set_flush_denormal(False)
