"""Custom differentiable functions (ad.Function), as torch.autograd.Function."""
import gc
import weakref

import numpy as np
import pytest

import autodiff as ad
import opdb


def f64(v, rg=False):
    return ad.tensor(np.asarray(v, dtype=np.float64), requires_grad=rg)


Cube, ScaledMul = opdb.Cube, opdb.ScaledMul


def test_forward_value_and_record():
    x = f64([1.0, 2.0, -1.5], True)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), x.numpy() ** 3)
    assert y.requires_grad and not y.is_leaf


def test_backward_runs_the_custom_rule():
    x = f64([1.0, 2.0, -1.5], True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)


def test_composes_with_builtin_ops():
    x = f64([0.3, -0.7], True)
    (Cube.apply(x.sin()) * 2.0).sum().backward()
    s = np.sin(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(),
                               2 * 3 * s ** 2 * np.cos(x.numpy()))


def test_several_inputs_and_a_non_tensor_argument():
    x, y = f64([1.0, 2.0], True), f64([3.0, -1.0], True)
    ScaledMul.apply(x, 2.5, y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.5 * y.numpy())
    np.testing.assert_allclose(y.grad.numpy(), 2.5 * x.numpy())


def test_needs_input_grad():
    seen = {}

    class Probe(ad.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, None, g

    Probe.apply(f64([1.0], True), 3, f64([2.0]))
    assert seen["needs"] == (True, False, False)


def test_no_record_without_grad():
    x = f64([1.0, 2.0])
    y = Cube.apply(x)
    assert not y.requires_grad
    x = f64([1.0, 2.0], True)
    with ad.no_grad():
        y = Cube.apply(x)
    assert not y.requires_grad


def test_gradcheck_accepts_a_right_backward():
    x = f64([0.5, -1.2, 2.0], True)
    assert ad.gradcheck(Cube.apply, (x,))
    assert ad.gradgradcheck(Cube.apply, (x,))


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2.0 * x ** 2

    x = f64([0.5, -1.2, 2.0], True)
    with pytest.raises(ad.GradcheckError, match="analytic"):
        ad.gradcheck(Wrong.apply, (x,))
    assert ad.gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    assert ad.gradcheck(Wrong.apply, (x,), fast_mode=True,
                        raise_exception=False) is False


def test_backward_differentiable_under_create_graph():
    # Cube's backward is written with ops, so it can be differentiated.
    x = f64([0.5, -1.2], True)
    Cube.apply(x).sum().backward(create_graph=True)
    g = x.grad
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_nested_functional_grad_through_function():
    d2 = ad.grad(ad.grad(lambda x: Cube.apply(x)))
    assert d2(1.5) == pytest.approx(9.0)
    d3 = ad.grad(ad.grad(ad.grad(lambda x: Cube.apply(x))))
    assert d3(1.5) == pytest.approx(6.0)


def test_wrong_number_of_gradients():
    class Few(ad.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x, y = f64([1.0], True), f64([2.0], True)
    with pytest.raises(RuntimeError, match="expected 2, got 1"):
        Few.apply(x, y).sum().backward()
    assert x.grad is None and y.grad is None


def test_gradient_of_the_wrong_shape():
    class BadShape(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return ad.ones(5, dtype=ad.float64)

    x = f64([1.0, 2.0], True)
    with pytest.raises(ValueError, match=r"\(5,\).*input 0.*\(2,\)"):
        BadShape.apply(x).sum().backward()
    assert x.grad is None


def test_exception_in_backward_propagates_unchanged():
    class Boom(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            raise KeyError("from the user's backward")

    x = f64([1.0], True)
    with pytest.raises(KeyError, match="user's backward"):
        Boom.apply(x).sum().backward()
    assert x.grad is None
    # the engine is still usable afterwards
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0])


def test_forward_must_return_a_tensor():
    class NotTensor(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x.numpy()

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="must return one Tensor"):
        NotTensor.apply(f64([1.0], True))


def test_backward_returning_numbers_is_converted():
    class Const(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 4.0

        @staticmethod
        def backward(ctx, g):
            return g.numpy() * 4.0

    x = f64([1.0, 2.0], True)
    Const.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_saved_tensor_modified_in_place_raises():
    x = f64([1.0, 2.0], True)
    h = x * 1.0
    y = Cube.apply(h)
    with ad.no_grad():          # (grad mode refuses it on a non-leaf)
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


def test_second_backward_needs_retain_graph():
    x = f64([1.0, 2.0], True)
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * x.numpy() ** 2)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_context_freed_with_the_graph():
    refs = []

    class Keep(ad.Function):
        @staticmethod
        def forward(ctx, x):
            refs.append(weakref.ref(ctx))
            ctx.save_for_backward(x)
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    x = f64([1.0], True)
    y = Keep.apply(x)
    assert refs[0]() is not None
    del y
    gc.collect()
    assert refs[0]() is None
    y = Keep.apply(x)
    y.sum().backward()          # consuming the record drops the ctx too
    gc.collect()
    assert refs[1]() is None


def test_backward_cannot_call_backward():
    class Reenter(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            z = ad.tensor([1.0], requires_grad=True)
            (z * 2).sum().backward()
            return g

    x = f64([1.0], True)
    with pytest.raises(RuntimeError, match="inside a custom Function"):
        Reenter.apply(x).sum().backward()


def test_compile_refuses_with_a_clear_error():
    step = ad.compile(lambda x: Cube.apply(x).sum())
    with pytest.raises(ad.NotCompilableError, match="Cube.*eagerly"):
        step(f64([1.0, 2.0], True))


def test_trainer_falls_back_to_eager_for_custom_functions():
    class Square(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2.0 * x

    class Model(ad.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = ad.nn.Linear(3, 1)

        def forward(self, x):
            return Square.apply(self.lin(x))

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X.sum(axis=1, keepdims=True) ** 2 * 0.1).astype(np.float32)
    model = Model()
    tr = ad.Trainer(model, ad.nn.MSELoss(),
                    ad.optim.SGD(model.parameters(), lr=0.01))
    hist = tr.fit(X, y, epochs=5, batch_size=16)
    assert tr._not_compilable
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_many_inputs():
    class SumAll(ad.Function):
        @staticmethod
        def forward(ctx, *xs):
            out = xs[0] * 1.0
            for x in xs[1:]:
                out = out + x
            return out

        @staticmethod
        def backward(ctx, g):
            return tuple(g * float(i + 1) for i in range(10))

    xs = [f64([float(i)], True) for i in range(10)]
    SumAll.apply(*xs).sum().backward()
    for i, x in enumerate(xs):
        np.testing.assert_allclose(x.grad.numpy(), [i + 1.0])


def test_function_cannot_be_instantiated():
    with pytest.raises(RuntimeError, match="apply"):
        Cube()
