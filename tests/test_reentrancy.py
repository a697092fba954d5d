"""Python code that the engine runs in the middle of its own work: a custom
Function's backward (called from the C sweep) and a record's teardown (a
custom context's finalizer).  Such code may record ops, free tensors, or
misuse objects; the engine must neither crash nor give a wrong number.

Cases that used to crash run in a subprocess, so a segfault fails the
test instead of killing pytest.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autodiff as ad
from autodiff import _engine


def run_child(*parts, timeout=300):
    code = "\n".join(textwrap.dedent(p) for p in parts)
    r = subprocess.run([sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    assert r.returncode == 0, "exit code %d:\n%s" % (r.returncode,
                                                     out[-6000:])
    assert r.stdout.strip().endswith("OK"), out[-6000:]
    return r.stdout


# ---- a custom Function's backward that records ops ----------------------

def test_backward_records_many_ops_on_fresh_leaves():
    # The backward grows a long graph and keeps it alive: before, it was
    # appended to the tape being swept, which moved under the sweep.
    run_child("""
    import numpy as np
    import autodiff as ad
    keep = []

    class Cube(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            with ad.enable_grad():
                a = ad.tensor(np.ones(2), requires_grad=True)
                for _ in range(3000):
                    a = a * 1.0
                keep.append(a)
            # the derivative, by differentiating x**3 on a fresh leaf
            d = ad.grad(lambda z: (z * z * z).sum())(x.detach())
            return g * d

    x = ad.tensor(np.arange(5.0), requires_grad=True)
    ys = [Cube.apply(x * 1.0) for _ in range(5)]
    s = ys[0].sum()
    for y in ys[1:]:
        s = s + y.sum()
    s.backward()
    assert np.array_equal(x.grad.numpy(), 5 * 3 * np.arange(5.0) ** 2)
    print("OK")
    """)


def test_backward_with_ad_grad_gives_the_closed_form():
    # f(x) = sum(sin(x) * x); its custom backward computes f' with ad.grad
    # on a detached copy: d/dx = cos(x) x + sin(x).
    class F(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x.sin() * x).sum()

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            d = ad.grad(lambda z: (z.sin() * z).sum())(x.detach())
            return g * d

    xv = np.linspace(-2.0, 3.0, 7)
    x = ad.tensor(xv, requires_grad=True)
    for _ in range(3):
        (F.apply(x * 1.0) * 2.0).backward()
    np.testing.assert_allclose(x.grad.numpy(),
                               3 * 2 * (np.cos(xv) * xv + np.sin(xv)),
                               rtol=1e-12, atol=1e-12)


def test_backward_recording_on_the_swept_graph_raises():
    class F(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors           # a non-leaf of the graph
            with ad.enable_grad():
                return g * 2 * x

    x = ad.tensor(np.arange(4.0), requires_grad=True)
    y = F.apply(x * 1.0)
    with pytest.raises(RuntimeError, match="custom Function's backward "
                       "cannot record ops on tensors of the graph being "
                       "differentiated; detach"):
        y.sum().backward()
    assert x.grad is None

    class G(F):
        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            with ad.enable_grad():
                return g * 2 * x.detach()

    G.apply(x * 1.0).sum().backward()
    assert np.array_equal(x.grad.numpy(), 2 * np.arange(4.0))


def test_backward_returning_a_recorded_gradient():
    # A gradient computed with recording on (on the backward's own tape)
    # is used as a plain value.
    class F(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3.0

        @staticmethod
        def backward(ctx, g):
            w = ad.tensor(np.full(3, 3.0), requires_grad=True)
            with ad.enable_grad():
                return g * w

    x = ad.tensor(np.ones(3), requires_grad=True)
    F.apply(x).sum().backward()
    assert np.array_equal(x.grad.numpy(), np.full(3, 3.0))


def test_backward_inside_backward_is_refused():
    class F(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            z = ad.tensor(1.0, requires_grad=True)
            with ad.enable_grad():
                (z * 2.0).backward()
            return g

    x = ad.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="backward"):
        F.apply(x).sum().backward()
    assert x.grad is None


# ---- finalizers run by a record's teardown ------------------------------

BOMB = """
import gc
import numpy as np
import autodiff as ad
keep = []
others = []

class Bomb:
    # Runs when its record dies: records a long graph (the tape grows and
    # compacts) and frees other tensors.
    def __del__(self):
        a = ad.tensor(np.ones(3), requires_grad=True)
        for _ in range(20000):
            a = a * 1.0
        keep.append(a)
        others.clear()

class Twice(ad.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.bomb = Bomb()
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        return g * 2.0
"""


def test_finalizer_that_records_during_free():
    run_child(BOMB, """
    x = ad.tensor(np.ones(3), requires_grad=True)
    for it in range(5):
        others.extend(x * float(i) for i in range(100))
        y = Twice.apply(x * 1.0)
        z = y * 3.0
        del y
        del z           # the cascade z -> y releases the Bomb mid-free
    assert len(keep) == 5
    assert np.array_equal(keep[0].numpy(), np.ones(3))
    print("OK")
    """)


def test_finalizer_that_records_during_backward_release():
    run_child(BOMB, """
    x = ad.tensor(np.ones(3), requires_grad=True)
    for it in range(5):
        others.extend(x * float(i) for i in range(100))
        hs = [x * float(i) for i in range(10)]
        s = Twice.apply(hs[0]).sum()
        for h in hs[1:]:
            s = s + Twice.apply(h).sum()
        del hs
        s.backward()    # consuming the records releases the Bombs
        del s
    assert len(keep) == 50
    assert np.array_equal(x.grad.numpy(), np.full(3, 5 * 2.0 * 45))
    print("OK")
    """)


def test_finalizer_that_runs_backward():
    # A context finalizer that runs a whole backward() of its own while
    # the engine releases another graph.
    run_child("""
    import numpy as np
    import autodiff as ad
    w = ad.tensor(np.ones(4), requires_grad=True)

    class Ctx:
        def __del__(self):
            (w * 3.0).sum().backward()

    class Id(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.tag = Ctx()
            return x * 1.0

        @staticmethod
        def backward(ctx, g):
            return g

    x = ad.tensor(np.ones(4), requires_grad=True)
    for _ in range(10):
        Id.apply(x * 1.0).sum().backward()
    assert np.array_equal(x.grad.numpy(), np.full(4, 10.0))
    assert np.array_equal(w.grad.numpy(), np.full(4, 30.0))
    print("OK")
    """)


# ---- graphs that belong elsewhere: clear messages -----------------------

def test_compiled_output_used_eagerly_names_the_program():
    w = ad.tensor(np.ones(3), requires_grad=True)

    @ad.compile
    def f(x):
        return w * x

    # Outputs come back detached; the program's own tensors are the
    # recorded ones.  Reach one through a captured graph's .grad.
    out = f(ad.tensor(np.ones(3)))
    assert out.is_leaf
    prog = _engine.Program()
    prog.begin()
    try:
        y = w * 2.0
    finally:
        prog.end()
    with pytest.raises(RuntimeError, match="compiled function"):
        y * 3.0
    with pytest.raises(RuntimeError, match="compiled function"):
        y.sum()
    assert np.array_equal((y.detach() * 3.0).numpy(), np.full(3, 6.0))
    with pytest.raises(RuntimeError, match="compiled function"):
        y.backward(ad.tensor(np.ones(3)))


def test_op_on_another_threads_graph_says_so():
    import threading
    box = []
    x = ad.tensor(np.ones(2), requires_grad=True)

    def worker():
        box.append(x * 2.0)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    with pytest.raises(RuntimeError, match="another thread's tape"):
        box[0] * 1.0


# ---- objects made outside the module's constructors ---------------------

def test_tensor_cannot_be_made_uninitialised():
    run_child("""
    import autodiff as ad
    from autodiff import _engine

    class T(ad.Tensor):
        def __init__(self):
            pass

    for make in (lambda: T(), lambda: ad.Tensor.__new__(ad.Tensor),
                 lambda: ad.Tensor.__new__(T), lambda: ad.Tensor()):
        try:
            t = make()
        except TypeError as e:
            assert "autodiff.tensor" in str(e), e
        else:
            raise AssertionError("made %r" % type(t))
    print("OK")
    """)


def test_make_subclass():
    class T(ad.Tensor):
        pass

    x = ad.tensor(np.arange(3.0))
    t = ad.Tensor._make_subclass(T, x, require_grad=True)
    assert type(t) is T and t.requires_grad and t.is_leaf
    assert np.array_equal(t.numpy(), x.numpy())
    (t * 2.0).sum().backward()
    assert np.array_equal(t.grad.numpy(), np.full(3, 2.0))
    with pytest.raises(TypeError):
        ad.Tensor._make_subclass(int, x)
    with pytest.raises(TypeError):
        ad.Tensor._make_subclass(T, np.ones(3))
    p = ad.nn.Parameter(ad.tensor(np.ones(2)))
    assert isinstance(p, ad.Tensor) and p.requires_grad


def test_empty_program_methods_raise():
    run_child("""
    import numpy as np
    from autodiff import _engine
    p = _engine.Program()
    for call in (lambda: p.run(), lambda: p.size(), lambda: p.end(),
                 lambda: p.bind_input(np.ones(3))):
        try:
            call()
        except RuntimeError:
            pass
        else:
            raise AssertionError("no error")
    p.abort()
    p.abort()
    print("OK")
    """)


def test_fused_update_direct_use():
    run_child("""
    import numpy as np
    import autodiff as ad
    from autodiff import _engine
    p = ad.tensor(np.ones(3), requires_grad=True)
    assert not hasattr(_engine.FusedUpdate, "step")
    assert not hasattr(_engine.FusedUpdate, "set_lr")
    for args in (([p], [1, None, None], [0]), ([p], [None] * 3, ["a"]),
                 ([1], [None] * 3, [0]), ([p], [None], [0])):
        try:
            _engine.FusedUpdate(*args)
        except (TypeError, ValueError):
            pass
        else:
            raise AssertionError(args)
    try:
        _engine.FusedUpdate()
    except TypeError:
        pass
    k = _engine.FusedUpdate([p], [ad.zeros(5), None, None], [0])
    k.configure(0, 0.1, momentum=0.9)
    p.grad = ad.tensor(np.ones(3))
    try:
        _engine._step_all([k])
    except RuntimeError:
        pass
    else:
        raise AssertionError("mismatched state accepted")
    k = _engine.FusedUpdate([p], [None] * 3, [0])
    k.configure(99, 0.1)
    try:
        _engine._step_all([k])
    except ValueError:
        pass
    k.configure(0, 0.5)
    _engine._step_all([k])
    assert np.array_equal(p.detach().numpy(), np.full(3, 0.5))
    assert k.step_counts() == [1]
    print("OK")
    """)
