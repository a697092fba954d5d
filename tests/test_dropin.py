"""Drop-in check: small PyTorch scripts (tests/dropin/*.py, written once
against ``torch`` in the style of well-known tutorials) run unchanged with
``torch`` aliased to ``autodiff`` and give torch's numbers.

Each script leaves its numbers in a ``results`` dict.  It runs first with
real torch, then with ``sys.modules['torch']`` (and ``torch.nn``,
``torch.optim``, ...) pointing at autodiff's modules, so ``import torch``,
``import torch.nn as nn`` and ``from torch import nn, optim`` all find
autodiff.  Randomness comes from numpy, or from torch's own initial
state_dict, which a script can take as ``INITIAL_STATE``."""
import contextlib
import importlib
import math
import pathlib
import sys

import numpy as np
import pytest
from conftest import HAVE_TORCH, lazy_torch, require_torch

torch = lazy_torch()

import autodiff  # noqa: E402
import autodiff.nn  # noqa: E402
import autodiff.nn.functional  # noqa: E402
import autodiff.nn.init  # noqa: E402
import autodiff.optim  # noqa: E402
import autodiff.optim.lr_scheduler  # noqa: E402
import autodiff.autograd  # noqa: E402

DROPIN = pathlib.Path(__file__).parent / "dropin"
SCRIPTS = sorted(p.stem for p in DROPIN.glob("*.py"))

ALIASES = {
    "torch": autodiff,
    "torch.nn": autodiff.nn,
    "torch.nn.functional": autodiff.nn.functional,
    "torch.nn.init": autodiff.nn.init,
    "torch.optim": autodiff.optim,
    "torch.optim.lr_scheduler": autodiff.optim.lr_scheduler,
    "torch.autograd": autodiff.autograd,
    "torch.cuda": autodiff.cuda,
    "torch.linalg": autodiff.linalg,
}

# float32 scripts agree to rtol 1e-4; float64 ones tighter.
RTOL = {"legendre_function": 1e-9, "two_layer_tensors": 1e-9,
        "lr_schedules": 1e-9}
# Scripts that take torch's initial weights (nn.Linear's default init).
WITH_INITIAL_STATE = {"poly_nn_optim", "mlp_minibatch", "bow_classifier"}


@contextlib.contextmanager
def torch_is_autodiff():
    saved = {k: v for k, v in sys.modules.items()
             if k == "torch" or k.startswith("torch.")}
    try:
        for k in saved:
            del sys.modules[k]
        sys.modules.update(ALIASES)
        yield
    finally:
        for k in list(sys.modules):
            if k == "torch" or k.startswith("torch."):
                del sys.modules[k]
        sys.modules.update(saved)


def run_script(name, extra=None):
    path = DROPIN / (name + ".py")
    ns = {"__name__": "__main__", "__file__": str(path)}
    ns.update(extra or {})
    code = compile(path.read_text(), str(path), "exec")
    exec(code, ns)
    return ns


def compare(got, want, rtol, where="results"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            compare(got[k], want[k], rtol, "%s[%r]" % (where, k))
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)), where
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, rtol, "%s[%d]" % (where, i))
    elif isinstance(want, float):
        assert isinstance(got, float), (where, type(got))
        assert math.isclose(got, want, rel_tol=rtol, abs_tol=rtol * 1e-2), \
            (where, got, want)
    else:
        assert type(got) is type(want) and got == want, (where, got, want)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_unchanged_and_matches_torch(name, capsys):
    require_torch()
    ref = run_script(name)
    extra = {}
    if name in WITH_INITIAL_STATE:
        extra["INITIAL_STATE"] = {
            k: autodiff.tensor(v.numpy())
            for k, v in ref["initial_state"].items()}
    with torch_is_autodiff():
        got = run_script(name, extra)
    assert got["torch"] is autodiff and ref["torch"] is torch
    assert sys.modules["torch"] is torch
    compare(got["results"], ref["results"], RTOL.get(name, 1e-4))
    if name in WITH_INITIAL_STATE:
        for k, v in ref["initial_state"].items():
            np.testing.assert_array_equal(got["initial_state"][k].numpy(),
                                          v.numpy())


def test_aliasing_is_undone():
    with torch_is_autodiff():
        import torch as t
        import torch.nn as nn
        from torch import optim
        assert t is autodiff and nn is autodiff.nn
        assert optim is autodiff.optim
    if HAVE_TORCH:
        import torch as t2
        assert t2 is torch and t2.nn is not autodiff.nn
    else:                     # no torch: `import torch` fails again
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("torch")


# ------------------------------------------------ what the scripts needed

def test_augmented_item_assignment_writes_back_like_torch():
    for mod in (torch, autodiff):
        v = mod.zeros(4)
        for i in [0, 2, 2, 3]:
            v[i] += 1
        v[1:3] -= 0.5
        v[-1] *= 4
        m = mod.zeros(2, 3, dtype=mod.long)
        m[1] += 2
        m[:, 0] += 1
        w = mod.ones(3, requires_grad=True)
        with mod.no_grad():
            w[1] -= 0.25
        if mod is torch:
            ref = (v.tolist(), m.tolist(), w.tolist())
    assert (v.tolist(), m.tolist(), w.tolist()) == ref
    assert w.requires_grad and w.is_leaf


def test_augmented_assignment_into_a_copy_still_refuses():
    x = autodiff.zeros(2, 2)
    with pytest.raises(RuntimeError, match="is a copy"):
        x[0][1] += 2                 # torch writes x through a view
    assert x.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    lst = [x[0]]
    with pytest.raises(RuntimeError, match="is a copy"):
        lst[0] += 1                  # the copy lives on: torch changes x
    row = x[1]
    with pytest.raises(RuntimeError, match="is a copy"):
        row += 1
    # a leaf that requires grad, as torch
    p = autodiff.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        p[0] += 1
    m = autodiff.zeros(2, dtype=autodiff.long)
    with pytest.raises(RuntimeError, match="can't be cast"):
        m[0] += autodiff.tensor(0.5, requires_grad=True)


def test_augmented_item_assignment_is_differentiable_like_torch():
    w_np = np.array([1.0, 2.0, 3.0])
    for mod in (torch, autodiff):
        w = mod.tensor(w_np, requires_grad=True)
        y = w * 2
        y[0] += w[1] * 3
        y[1:] *= w[:2]
        y[-1] /= 4
        y[0] -= mod.tensor(1.0)
        (y * mod.tensor([1.0, -2.0, 5.0], dtype=mod.float64)).sum().backward()
        if mod is torch:
            ref = y.tolist(), w.grad.tolist()
    assert (y.tolist(), w.grad.tolist()) == ref


def test_torch_helpers_match_torch():
    a_np = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], dtype=np.float32)
    for mod in (torch, autodiff):
        a = mod.tensor(a_np)
        b = a + 1e-6
        out = [a.t().tolist(), mod.t(a).tolist(), a[0].t().tolist(),
               mod.equal(a, a.clone()), mod.equal(a, b), a.equal(a[:1]),
               mod.allclose(a, b), a.allclose(b, rtol=0, atol=0),
               mod.isclose(a, b, rtol=0, atol=1e-7).tolist(),
               mod.numel(a), mod.is_tensor(a), mod.is_tensor(a_np),
               mod.add(a, a, alpha=2).tolist(), a.add(1).tolist(),
               mod.sub(a, a, alpha=0.5).tolist(), a.sub(1, alpha=2).tolist(),
               mod.mul(a, 3).tolist(), a.mul(a).tolist(),
               mod.div(a, 2).tolist(), a.div(0.7, rounding_mode="floor").tolist(),
               a.div(0.7, rounding_mode="trunc").tolist(),
               mod.true_divide(a, 4).tolist(), mod.pow(a, 2).tolist(),
               a.contiguous().tolist(), a.view_as(a.view(3, 2).t()).shape
               == (3, 2)]
        if mod is torch:
            ref = out
    assert out == ref
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        autodiff.zeros(2, 2, 2).t()


def test_save_and_load_through_a_file_object():
    import io
    model = autodiff.nn.Linear(3, 2)
    buf = io.BytesIO()
    autodiff.save(model.state_dict(), buf)
    buf.seek(0)
    state = autodiff.load(buf)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(state[k].numpy(), v.numpy())


def test_as_tensor_neg_clone_match_torch():
    a_np = np.array([1.5, -2.0])
    for mod in (torch, autodiff):
        x = mod.tensor(a_np)
        out = [mod.as_tensor(x) is x, mod.as_tensor(x, dtype=mod.float32)
               is x, mod.as_tensor([1, 2]).tolist(),
               mod.as_tensor([1, 2]).dtype == mod.long,
               mod.as_tensor(a_np).dtype == mod.float64,
               mod.as_tensor(a_np, dtype=mod.float32).dtype == mod.float32,
               mod.neg(x).tolist(), mod.clone(x).tolist(),
               mod.clone(x) is x]
        w = mod.tensor([2.0], requires_grad=True)
        mod.clone(w).sum().backward()
        out.append(w.grad.tolist())
        if mod is torch:
            ref = out
    assert out == ref


def test_augmented_item_assignment_replays_under_compile():
    w = autodiff.tensor([1.0, 2.0, 3.0], requires_grad=True)

    def step(x):
        w.grad = None
        y = w * x
        y[0] += y[2] * 2
        y[1:] *= 3
        y.sum().backward()
        c = autodiff.zeros(3)
        with autodiff.no_grad():
            c[1] += x[0]
        return y.detach() + c, w.grad

    f = autodiff.compile(step)
    for seed in range(3):
        x = autodiff.tensor(np.random.default_rng(seed).standard_normal(3)
                            .astype(np.float32))
        (a, ga), (b, gb) = step(x), f(x)
        assert a.numpy().tobytes() == b.numpy().tobytes()
        assert ga.numpy().tobytes() == gb.numpy().tobytes()
        tx = torch.tensor(x.numpy())
        tw = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        ty = tw * tx
        ty[0] += ty[2] * 2
        ty[1:] *= 3
        ty.sum().backward()
        np.testing.assert_allclose(ga.numpy(), tw.grad.numpy(), rtol=1e-6)
