"""Interchange: DLPack in and out (numpy, PyTorch, JAX), numpy's
functions called on tensors, and __array__'s copy= (memory is never
shared with another library)."""
import numpy as np
import pytest

import autodiff as ad
from conftest import lazy_torch

torch = lazy_torch()


@pytest.mark.parametrize("data", [np.arange(6.0).reshape(2, 3),
                                  np.arange(4, dtype=np.float32),
                                  np.array([3, -1, 2**62]),
                                  np.array([True, False])], ids=repr)
def test_dlpack_out_to_numpy_and_torch(data):
    t = ad.tensor(data)
    a = np.from_dlpack(t)
    assert a.dtype == data.dtype and a.shape == data.shape
    np.testing.assert_array_equal(a, data)
    tt = torch.from_dlpack(t)
    np.testing.assert_array_equal(tt.numpy(), data)
    # a copy: writing into the importer's array leaves the tensor alone
    if a.dtype.kind == "f":
        tt[...] = 0
        np.testing.assert_array_equal(t.numpy(), data)
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_in_from_numpy_and_torch():
    a = ad.from_dlpack(np.arange(3.0))
    assert a.dtype == np.float64 and a.tolist() == [0.0, 1.0, 2.0]
    b = ad.from_dlpack(torch.arange(4, dtype=torch.int32))
    assert b.dtype == np.int64 and b.tolist() == [0, 1, 2, 3]
    c = ad.from_dlpack(torch.tensor([1.5], dtype=torch.float32))
    assert c.dtype == np.float32
    src = np.ones(3)
    d = ad.from_dlpack(src)
    src[0] = 5.0
    assert d.tolist() == [1.0, 1.0, 1.0]              # copied in
    x = ad.tensor([1.0], requires_grad=True)
    e = ad.from_dlpack(x)
    assert not e.requires_grad and e.tolist() == [1.0]
    with pytest.raises(TypeError, match="__dlpack__"):
        ad.from_dlpack([1.0, 2.0])


def test_dlpack_refuses_sharing_and_other_devices():
    t = ad.tensor([1.0, 2.0])
    with pytest.raises(BufferError, match="copy=False"):
        t.__dlpack__(copy=False)
    with pytest.raises(BufferError, match="CPU"):
        t.__dlpack__(dl_device=(2, 0))
    cap = t.__dlpack__(copy=True, max_version=(1, 0))
    assert cap is not None


def test_dlpack_jax():
    jnp = pytest.importorskip("jax.numpy")
    t = ad.tensor([1.0, 2.0, 3.0])
    j = jnp.from_dlpack(t)
    np.testing.assert_array_equal(np.asarray(j), [1.0, 2.0, 3.0])
    back = ad.from_dlpack(jnp.arange(3.0) * 2)
    assert back.tolist() == [0.0, 2.0, 4.0]


NUMPY_FUNCS = [
    ("sum", lambda m, t: m.sum(t, axis=0)),
    ("sum keepdims", lambda m, t: m.sum(t, axis=1, keepdims=True)),
    ("mean", lambda m, t: m.mean(t)),
    ("max", lambda m, t: m.max(t, axis=1)),
    ("amin", lambda m, t: m.amin(t, axis=0)),
    ("prod", lambda m, t: m.prod(t, axis=1)),
    ("var", lambda m, t: m.var(t, axis=0, ddof=1)),
    ("std", lambda m, t: m.std(t)),
    ("cumsum", lambda m, t: m.cumsum(t, axis=1)),
    ("concatenate", lambda m, t: m.concatenate([t, t * 2], axis=1)),
    ("stack", lambda m, t: m.stack([t, t], axis=0)),
    ("reshape", lambda m, t: m.reshape(t, (3, 2))),
    ("transpose", lambda m, t: m.transpose(t)),
    ("where", lambda m, t: m.where(t > 0.5, t, t * 3)),
    ("clip", lambda m, t: m.clip(t, 0.2, 0.8)),
    ("dot", lambda m, t: m.dot(t, m.transpose(t))),
    ("flip", lambda m, t: m.flip(t, 1)),
    ("tril", lambda m, t: m.tril(t)),
    ("trace", lambda m, t: m.trace(t)),
    ("expand_dims", lambda m, t: m.expand_dims(t, 0)),
]


@pytest.mark.parametrize("name,fn", NUMPY_FUNCS, ids=[n for n, _ in
                                                       NUMPY_FUNCS])
def test_numpy_functions_on_tensors_run_the_autodiff_op(name, fn):
    a = np.random.default_rng(0).random((2, 3))
    x = ad.tensor(a, requires_grad=True)
    r = fn(np, x)
    assert isinstance(r, ad.Tensor) and r.requires_grad
    np.testing.assert_allclose(r.numpy(), fn(np, a), rtol=1e-12)
    r.sum().backward()
    assert x.grad is not None and x.grad.shape == (2, 3)


def test_other_numpy_functions_get_copies():
    x = ad.tensor([1.0, 2.0])
    assert np.allclose(x, [1.0, 2.0]) is True
    assert isinstance(np.sort(x), np.ndarray)
    assert np.shape(x) == (2,)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    with pytest.raises(TypeError, match="out="):
        np.sum(x, out=np.zeros(()))


def test_numpy_functions_under_compile():
    f = ad.compile(lambda a: np.sum(np.concatenate([ad.tensor(a)] * 2)))
    for a in (np.arange(3.0), np.ones(3)):
        assert f(a).item() == 2 * a.sum()
    g = ad.compile(lambda a: np.sort(ad.tensor(a)))
    with pytest.raises(ad.NotCompilableError):
        g(np.arange(3.0))


def test_array_honours_copy():
    t = ad.tensor([1.0, 2.0])
    assert np.array(t, copy=True).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="copy"):
        np.array(t, copy=False)
