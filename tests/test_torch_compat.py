"""The PyTorch spellings that ported code uses around the math: size(),
numel(), dim(), devices, .to()/.type()/.type_as(), the creation and
random functions' torch forms, autograd.Variable -- each checked against
torch's own answer where torch gives one."""
import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from conftest import lazy_torch

torch = lazy_torch()


def test_size_is_numpy_count_and_torch_shape():
    x = ad.zeros(2, 3, 4)
    t = torch.zeros(2, 3, 4)
    assert x.size == 24 == t.numel()                 # numpy's attribute
    assert x.size() == tuple(t.size()) and isinstance(x.size(), tuple)
    assert repr(x.size()) == "ad.Size([2, 3, 4])"
    assert x.size(1) == t.size(1) and x.size(-1) == t.size(-1)
    assert x.numel() == x.nelement() == 24 and x.dim() == 3
    assert x.size().numel() == 24
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)
    assert ad.tensor([1.0]).element_size() == 4
    assert ad.tensor([1]).element_size() == 8
    assert ad.tensor([True]).element_size() == 1


def test_devices():
    x = ad.ones(2)
    assert x.device == ad.device("cpu") == "cpu" and not x.is_cuda
    assert str(ad.device("cpu:0")) == "cpu:0"
    assert repr(ad.device("cpu")) == "device(type='cpu')"
    assert x.cpu() is x and x.to("cpu") is x and x.to(ad.device("cpu")) is x
    for bad in (lambda: x.cuda(), lambda: x.to("cuda"),
                lambda: ad.zeros(2, device="cuda:0"),
                lambda: ad.device("mps"), lambda: x.to(0)):
        with pytest.raises(RuntimeError, match="CPU only"):
            bad()
    for make in (lambda d: ad.tensor([1.0], device=d),
                 lambda d: ad.zeros(2, device=d),
                 lambda d: ad.ones((2,), device=d),
                 lambda d: ad.full((2,), 1.0, device=d),
                 lambda d: ad.arange(3, device=d),
                 lambda d: ad.linspace(0, 1, 3, device=d),
                 lambda d: ad.eye(2, device=d),
                 lambda d: ad.zeros_like(x, device=d),
                 lambda d: ad.randn(2, device=d),
                 lambda d: ad.rand(2, device=d),
                 lambda d: ad.empty(2, device=d)):
        assert make("cpu").device == "cpu"
        with pytest.raises(RuntimeError, match="CPU only"):
            make("cuda")


def test_to_type_and_type_as_forms():
    x = ad.tensor([1.5, -2.5])
    t = torch.tensor([1.5, -2.5])
    assert x.to(ad.float64).dtype == np.float64
    assert x.to("cpu", ad.int64).tolist() == t.to("cpu", torch.int64).tolist()
    assert x.to(dtype=ad.bool).tolist() == t.to(dtype=torch.bool).tolist()
    assert x.to(ad.tensor([1])).dtype == np.int64
    assert x.to(ad.float32) is x and x.to(ad.float32, copy=True) is not x
    assert x.to("float64").dtype == np.float64
    assert x.type() == t.type() == "torch.FloatTensor"
    assert ad.tensor([1]).type() == torch.tensor([1]).type()
    assert ad.tensor([True]).type() == torch.tensor([True]).type()
    assert x.double().type() == t.double().type()
    assert x.type("torch.LongTensor").tolist() == \
        t.type("torch.LongTensor").tolist()
    assert x.type_as(ad.tensor([1])).dtype == np.int64
    assert x.long().is_floating_point() is False
    assert x.is_floating_point() is True


def test_creation_in_torch_forms():
    assert ad.arange(5).dtype == np.int64 == np.dtype(str(
        torch.arange(5).dtype).replace("torch.", ""))
    assert ad.arange(0, 1, 0.25).dtype == np.float32
    assert ad.arange(5).tolist() == torch.arange(5).tolist()
    assert ad.arange(2, 10, 3).tolist() == torch.arange(2, 10, 3).tolist()
    e = ad.empty(2, 3, dtype=ad.float64)
    assert e.shape == (2, 3) and e.dtype == np.float64
    assert ad.empty_like(e).dtype == np.float64
    with pytest.raises(RuntimeError, match="floating point"):
        ad.arange(3, requires_grad=True)


def test_random_in_torch_forms():
    r = ad.randint(2, 7, (50,), seed=0)
    assert r.dtype == np.int64 and r.shape == (50,)
    assert r.numpy().min() >= 2 and r.numpy().max() < 7
    assert set(ad.randint(3, (200,), seed=1).numpy()) == {0, 1, 2}
    p = ad.randperm(10, seed=2)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
    n = ad.normal(2.0, 0.5, (4000,), seed=3).numpy()
    assert abs(n.mean() - 2.0) < 0.05 and abs(n.std() - 0.5) < 0.05
    m = ad.normal(ad.tensor([0.0, 100.0]), ad.tensor([1.0, 1.0]), seed=0)
    assert m.shape == (2,) and m.numpy()[1] > 90
    x = ad.zeros(3, 2, dtype=ad.float64)
    assert ad.randn_like(x).shape == (3, 2)
    assert ad.rand_like(x).dtype == np.float64
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        ad.randint(5, 5, (2,))
    with pytest.raises(RuntimeError, match="std >= 0"):
        ad.normal(0.0, -1.0, (2,))


def test_random_numbers_inside_a_compiled_function_are_refused():
    """numpy draws them in Python: a replay would repeat the first call's
    numbers, so recording raises; a fixed seed is the same every call."""
    for draw in (lambda: ad.randn(3), lambda: ad.rand(3),
                 lambda: ad.randint(0, 5, (3,)), lambda: ad.randperm(3),
                 lambda: ad.normal(0.0, 1.0, (3,)),
                 lambda: ad.randn(3, generator=np.random.default_rng(0))):
        f = ad.compile(lambda x, draw=draw: ad.tensor(x) + draw())
        with pytest.raises(ad.NotCompilableError, match="numpy"):
            f(np.zeros(3))
    g = ad.compile(lambda x: ad.tensor(x) + ad.randn(3, seed=5))
    a = np.zeros(3)
    np.testing.assert_array_equal(g(a).numpy(), g(a).numpy())
    np.testing.assert_array_equal(
        g(a).numpy(), (ad.tensor(a) + ad.randn(3, seed=5)).numpy())


def test_variable_and_module_device_methods():
    v = ad.autograd.Variable(np.array([1.0, 2.0]), requires_grad=True)
    (v * v).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 4.0])
    m = nn.Linear(2, 3)
    assert m.to("cpu") is m and m.cpu() is m and m.float() is m
    assert m.to(torch_dtype_name := "float32") is m, torch_dtype_name
    with pytest.raises(RuntimeError, match="CPU only"):
        m.cuda()
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    w = m.weight
    assert m.double() is m and m.weight is w and w.dtype == np.float64
    m64 = nn.Linear(2, 3, dtype=ad.float64)
    assert m64.double() is m64


def test_legacy_constructors_match_torch():
    for ours, theirs in ((ad.Tensor([1, 2]), torch.Tensor([1, 2])),
                         (ad.FloatTensor([[1.5]]), torch.FloatTensor([[1.5]])),
                         (ad.DoubleTensor([1]), torch.DoubleTensor([1])),
                         (ad.LongTensor([1.7, -2.7]),
                          torch.LongTensor([1, -2])),
                         (ad.BoolTensor([True, False]),
                          torch.BoolTensor([True, False]))):
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
        assert ours.tolist() == theirs.tolist()
    assert ad.Tensor(2, 3).shape == tuple(torch.Tensor(2, 3).shape)
    assert ad.LongTensor(4).dtype == np.int64
    with pytest.raises(TypeError, match="autodiff.tensor"):
        ad.Tensor()
    assert ad.cuda.is_available() is False and ad.cuda.device_count() == 0
    assert ad.int is ad.int64 and ad.long is ad.int64
    assert ad.float is ad.float32 and ad.double is ad.float64
    assert ad.tensor([1.9, -1.9]).int().tolist() == [1, -1]
