"""ad.save / ad.load (.npz) and the safetensors model checkpoints."""
import os
import stat
import sys
import zipfile

import numpy as np
import pytest

import autodiff as ad
from autodiff import checkpoint, nn, optim

from conftest import needs_torch, torch


def make_model(seed=0, dtype=ad.float32):
    ad.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8, dtype=dtype), nn.Tanh(),
                         nn.Linear(8, 3, dtype=dtype))


def trained(opt_cls=optim.Adam, steps=3, seed=0, **kw):
    model = make_model(seed)
    opt = opt_cls(model.parameters(), lr=0.01, **kw)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = ad.tensor(rng.normal(size=(5, 4)).astype(np.float32))
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    return model, opt


def bits(a):
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.view(np.uint8).tobytes()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(".tmp") or "tmp" in p.name)


# -------------------------------------------------------------- round trips

def test_model_state_round_trip(tmp_path):
    model, _ = trained()
    path = tmp_path / "model.npz"
    ad.save(model, path)
    sd = ad.load(path)
    ref = model.state_dict()
    assert list(sd) == list(ref)
    for k in ref:
        assert isinstance(sd[k], ad.Tensor)
        assert not sd[k].requires_grad
        assert bits(sd[k].numpy()) == bits(ref[k].numpy()), k
    fresh = make_model(seed=1)
    assert not np.array_equal(fresh[0].weight.numpy(),
                              model[0].weight.numpy())
    fresh.load_state_dict(sd)
    x = ad.tensor(np.random.default_rng(0).normal(size=(3, 4)))
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    # ad.save(model) and ad.save(model.state_dict()) store the same thing.
    ad.save(model.state_dict(), tmp_path / "sd.npz")
    sd2 = ad.load(tmp_path / "sd.npz")
    for k in ref:
        assert bits(sd2[k].numpy()) == bits(ref[k].numpy())


def test_float64_model_round_trip(tmp_path):
    model = make_model(dtype=ad.float64)
    ad.save(model, tmp_path / "m.npz")
    sd = ad.load(tmp_path / "m.npz")
    for k, v in model.state_dict().items():
        assert sd[k].dtype == np.float64
        assert bits(sd[k].numpy()) == bits(v.numpy())


@pytest.mark.parametrize("opt_cls,kw", [
    (optim.Adam, dict(amsgrad=True)), (optim.SGD, dict(momentum=0.9)),
    (optim.RMSprop, dict(centered=True, momentum=0.5)), (optim.AdamW, {})])
def test_optimizer_state_round_trip(tmp_path, opt_cls, kw):
    model, opt = trained(opt_cls, **kw)
    path = tmp_path / "opt.npz"
    ad.save(opt, path)
    got = ad.load(path)
    ref = opt.state_dict()
    assert sorted(got["state"]) == sorted(ref["state"]) == [0, 1, 2, 3]
    assert all(type(k) is int for k in got["state"])      # int keys kept
    for i, st in ref["state"].items():
        assert set(got["state"][i]) == set(st)
        for k, v in st.items():
            if k == "step":
                assert got["state"][i][k] == v and type(v) is int
            else:
                assert bits(got["state"][i][k]) == bits(v), (i, k)
    assert got["param_groups"] == ref["param_groups"]
    for g_got, g_ref in zip(got["param_groups"], ref["param_groups"]):
        for k, v in g_ref.items():
            assert type(g_got[k]) is type(v), k              # tuple betas
    # The loaded state drives the same next step as the original.
    model2 = make_model(seed=5)
    model2.load_state_dict(model.state_dict())
    opt2 = opt_cls(model2.parameters(), lr=0.01, **kw)
    opt2.load_state_dict(got)
    x = ad.tensor(np.ones((2, 4), np.float32))
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        (m(x) ** 2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert bits(a.numpy()) == bits(b.numpy())


def test_nested_dict_round_trip(tmp_path):
    model, opt = trained()
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310,
                        np.finfo(np.float64).max, 1 / 3])
    special32 = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40,
                          np.finfo(np.float32).max, 1 / 3], dtype=np.float32)
    obj = {"model": model, "optim": opt, "epoch": 7,
           "meta": {"name": "run-é", "lr": 0.1 / 3, "ok": True, "none": None,
                    "shape": (2, 3), "list": [1, 2.5, "x"], 10: "ten",
                    "10": "string ten", -1: [np.float32(0.5), np.int64(3)]},
           "arrays": {"special": special,
                      "ints": np.arange(6, dtype=np.int32).reshape(2, 3),
                      "t64": ad.tensor(special[:4], dtype=ad.float64,
                                       requires_grad=True),
                      "t32": ad.tensor(special32),
                      "scalar": ad.tensor(2.5, dtype=ad.float64),
                      "empty": np.zeros((0, 3))}}
    path = tmp_path / "all.npz"
    ad.save(obj, path)
    got = ad.load(path)
    assert set(got) == {"model", "optim", "epoch", "meta", "arrays"}
    assert got["epoch"] == 7
    m = got["meta"]
    assert m["name"] == "run-é" and m["lr"] == 0.1 / 3 and m["ok"] is True
    assert m["none"] is None and m["shape"] == (2, 3)
    assert m["list"] == [1, 2.5, "x"]
    assert m[10] == "ten" and m["10"] == "string ten"
    assert m[-1] == [0.5, 3] and type(m[-1][1]) is int
    a = got["arrays"]
    assert bits(a["special"]) == bits(special)
    assert bits(a["ints"]) == bits(obj["arrays"]["ints"])
    assert isinstance(a["t64"], ad.Tensor) and a["t64"].requires_grad
    assert a["t64"].is_leaf
    assert bits(a["t64"].numpy()) == bits(special[:4])
    assert a["t32"].dtype == np.float32
    assert bits(a["t32"].numpy()) == bits(special32)
    assert a["scalar"].shape == () and a["scalar"].item() == 2.5
    assert a["empty"].shape == (0, 3)
    for k, v in model.state_dict().items():
        assert bits(got["model"][k].numpy()) == bits(v.numpy())
    assert got["optim"]["state"][0]["step"] == 3


def test_load_does_not_unpickle(tmp_path):
    path = tmp_path / "x.npz"
    ad.save({"a": np.ones(2)}, path)
    with np.load(path, allow_pickle=False) as z:
        assert "__autodiff__" in z.files
    with pytest.raises(TypeError):
        ad.save({"bad": np.array([object()], dtype=object)},
                tmp_path / "y.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not an autodiff checkpoint"):
        ad.load(tmp_path / "plain.npz")


def test_unsupported_values_raise_type_error(tmp_path):
    for bad in ({"s": {1, 2}}, {"f": lambda: 0}, {(1, 2): 3}, {True: 1},
                {"o": object()}):
        with pytest.raises(TypeError):
            ad.save(bad, tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------- atomic writes

def test_failed_save_keeps_earlier_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    model, _ = trained()
    ad.save(model, path)
    before = path.read_bytes()

    real_savez = np.savez

    def broken_savez(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)     # write everything ...
        file.seek(0)
        file.truncate(100)                    # ... keep a torn prefix
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(np, "savez", broken_savez)
    other = make_model(seed=3)
    with pytest.raises(OSError, match="simulated"):
        ad.save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    sd = ad.load(path)
    np.testing.assert_array_equal(sd["0.weight"].numpy(),
                                  model[0].weight.numpy())


def test_interrupted_save_keeps_earlier_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    ad.save({"v": np.arange(3.0)}, path)
    before = path.read_bytes()

    def interrupted(file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ad.save({"v": np.arange(5.0)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_unsaveable_object_keeps_earlier_file(tmp_path):
    path = tmp_path / "ck.npz"
    ad.save({"v": np.arange(3.0)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="set"):
        ad.save({"v": np.arange(4.0), "bad": {1, 2}}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    np.testing.assert_array_equal(ad.load(path)["v"], np.arange(3.0))


def test_save_replaces_and_is_a_valid_zip(tmp_path):
    path = tmp_path / "ck.npz"
    ad.save({"v": np.arange(3.0)}, path)
    ad.save({"v": np.arange(5.0)}, path)
    np.testing.assert_array_equal(ad.load(path)["v"], np.arange(5.0))
    assert zipfile.is_zipfile(path)
    # No ".npz" is appended to a name without one.
    ad.save({"v": 1}, tmp_path / "noext")
    assert (tmp_path / "noext").exists()
    assert ad.load(str(tmp_path / "noext")) == {"v": 1}
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_gets_default_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        ad.save({"v": 1}, tmp_path / "a.npz")
        if _has_safetensors():
            make_model().save_safetensors(tmp_path / "b.safetensors")
    finally:
        os.umask(mask)
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name


def test_unwritable_path_raises_oserror(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "ck.npz"
    with pytest.raises(OSError, match="does not exist"):
        ad.save({"v": 1}, missing)
    with pytest.raises(FileNotFoundError):
        ad.save(make_model(), missing)
    assert not (tmp_path / "no").exists()
    # A folder where the file should go.
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(OSError):
        ad.save({"v": 1}, tmp_path / "dir.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.npz"]
    with pytest.raises(FileNotFoundError):
        ad.load(tmp_path / "nothing.npz")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_read_only_folder_raises_oserror(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            ad.save({"v": 1}, ro / "ck.npz")
    finally:
        ro.chmod(0o700)


# ----------------------------------------------------- mismatched checkpoints

def test_loading_mismatched_checkpoint_raises(tmp_path):
    model = make_model()
    path = tmp_path / "ck.npz"
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    sd["0.weight"] = np.zeros((8, 5), np.float32)       # wrong shape
    sd["9.weight"] = np.zeros(3, np.float32)            # unexpected
    del sd["2.bias"]                                    # missing
    ad.save(sd, path)
    before = {k: v.numpy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as e:
        model.load_state_dict(ad.load(path))
    msg = str(e.value)
    for needle in ("0.weight", "(8, 5)", "(8, 4)", "9.weight", "2.bias"):
        assert needle in msg, (needle, msg)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # A checkpoint of another architecture.
    ad.save(nn.Sequential(nn.Linear(4, 3)), path)
    with pytest.raises(ValueError, match="2.weight"):
        model.load_state_dict(ad.load(path))


def test_loading_mismatched_optimizer_checkpoint_raises(tmp_path):
    _, opt = trained(optim.Adam)
    ad.save(opt, tmp_path / "opt.npz")
    other = optim.Adam(nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError):
        other.load_state_dict(ad.load(tmp_path / "opt.npz"))


# -------------------------------------------------------------- safetensors

def _has_safetensors():
    try:
        import safetensors.numpy  # noqa: F401
        return True
    except ImportError:
        return False


needs_safetensors = pytest.mark.skipif(not _has_safetensors(),
                                       reason="safetensors not installed")


@needs_safetensors
@pytest.mark.parametrize("dtype", [ad.float32, ad.float64])
def test_safetensors_round_trip(tmp_path, dtype):
    from safetensors.numpy import load_file
    model = make_model(dtype=dtype)
    path = tmp_path / "model.safetensors"
    model.save_safetensors(path)
    raw = load_file(str(path))
    ref = model.state_dict()
    assert set(raw) == set(ref)
    for k, v in ref.items():
        assert bits(raw[k]) == bits(v.numpy()), k
    fresh = make_model(seed=7, dtype=dtype)
    res = fresh.load_safetensors(path)
    assert res == {"missing_keys": [], "unexpected_keys": []}
    for k, v in fresh.state_dict().items():
        assert bits(v.numpy()) == bits(ref[k].numpy()), k
    assert leftovers(tmp_path) == []


@needs_safetensors
def test_safetensors_mismatch_raises(tmp_path):
    path = tmp_path / "small.safetensors"
    nn.Sequential(nn.Linear(4, 2)).save_safetensors(path)
    model = make_model()
    before = model[0].weight.numpy()
    with pytest.raises(ValueError) as e:
        model.load_safetensors(path)
    assert "0.weight" in str(e.value) and "2.weight" in str(e.value)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)
    with pytest.raises(FileNotFoundError):
        nn.Linear(2, 2).save_safetensors(tmp_path / "no" / "x.safetensors")


@needs_safetensors
@needs_torch
def test_safetensors_loads_into_torch(tmp_path):
    from safetensors.numpy import load_file
    model = make_model()
    path = tmp_path / "model.safetensors"
    model.save_safetensors(path)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3))
    tmodel.load_state_dict({k: torch.from_numpy(v)
                            for k, v in load_file(str(path)).items()})
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(tmodel(torch.from_numpy(x)).detach().numpy(),
                               model(ad.tensor(x)).numpy(),
                               rtol=1e-5, atol=1e-6)
    # And back: a torch model's weights through safetensors into ours.
    from safetensors.torch import save_file
    tmodel2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                  torch.nn.Linear(8, 3))
    save_file(tmodel2.state_dict(), str(tmp_path / "t.safetensors"))
    model.load_safetensors(tmp_path / "t.safetensors")
    for k, v in tmodel2.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(),
                                      v.numpy())


def test_safetensors_missing_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="safetensors"):
        make_model().save_safetensors(tmp_path / "m.safetensors")
    with pytest.raises(ImportError, match=r"autodiff-tape\[io\]"):
        checkpoint.load_safetensors(make_model(), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []
