"""Checkpoints: ad.save / ad.load in .npz, and safetensors for models.

Writes are atomic: the data goes to a temporary file in the target's
folder, which then replaces the target in one rename, so a failed save
leaves any earlier file intact.  Loading never unpickles (allow_pickle is
off): the structure is stored as JSON beside the arrays.
"""
import json
import os
import secrets

import numpy as np

from . import _creation
from ._engine import Tensor

_FORMAT = "autodiff-checkpoint-1"


def _atomic_write(path, write):
    if hasattr(path, "write"):      # a file object (io.BytesIO...), as torch
        write(path)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError("cannot save to %r: folder %r does not exist"
                                % (path, folder))
    # Not tempfile.mkstemp: its files are private (0600), and a checkpoint
    # should get the usual permissions (0666 minus the umask), as open()
    # would give it.
    tmp = os.path.join(folder, ".tmp-%s%s" % (secrets.token_hex(8),
                                              os.path.basename(path)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                 getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _encode(obj, arrays):
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if isinstance(obj, Tensor):
        name = "a%d" % len(arrays)
        arrays[name] = obj.numpy()
        return {"t": "tensor", "a": name, "rg": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("cannot save an object array")
        name = "a%d" % len(arrays)
        arrays[name] = obj
        return {"t": "ndarray", "a": name}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError("checkpoint dict keys must be str or int, got "
                                "%r" % (k,))
            items.append([k, "int" if isinstance(k, int) else "str",
                          _encode(v, arrays)])
        return {"t": "dict", "k": items}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "json", "v": obj}
    raise TypeError("cannot save an object of type %s in a checkpoint"
                    % type(obj).__name__)


def _decode(meta, arrays):
    t = meta["t"]
    if t == "tensor":
        return _creation.tensor(arrays[meta["a"]], requires_grad=meta["rg"])
    if t == "ndarray":
        return arrays[meta["a"]]
    if t == "dict":
        return {(int(k) if kt == "int" else k): _decode(v, arrays)
                for k, kt, v in meta["k"]}
    if t in ("list", "tuple"):
        vals = [_decode(v, arrays) for v in meta["v"]]
        return vals if t == "list" else tuple(vals)
    return meta["v"]


def save(obj, path):
    """Save a model's or optimizer's state (anything with state_dict()), or
    a nested dict/list of tensors, arrays and plain values, to .npz (path
    is a file name or a binary file object, as torch.save's f).

    Parameters
    ----------
    obj : object
        A Module or Optimizer (its state_dict() is saved), or nested dicts and
        lists of tensors, arrays, numbers, strings, bools and None.
    path : str, path-like or binary file
        Written atomically (a temporary file renamed into place).

    Raises
    ------
    TypeError
        For a value that cannot be saved.
    ValueError
        For the reserved array name "__autodiff__".

    Examples
    --------
    >>> import io
    >>> f = io.BytesIO()
    >>> ad.save({"w": ad.ones(2), "step": 3}, f)
    >>> _ = f.seek(0)
    >>> d = ad.load(f)
    >>> d["w"].tolist(), d["step"]
    ([1.0, 1.0], 3)
    """
    arrays = {}
    meta = _encode(obj, arrays)
    header = json.dumps({"format": _FORMAT, "root": meta})
    if "__autodiff__" in arrays:
        raise ValueError("reserved array name")

    def write(f):
        np.savez(f, __autodiff__=np.array(header), **arrays)
    _atomic_write(path, write)


def load(path):
    """Read what save() wrote: state dicts come back as dicts, ready for
    model.load_state_dict / optimizer.load_state_dict.

    Parameters
    ----------
    path : str, path-like or binary file

    Returns
    -------
    object
        What was saved (tensors come back as tensors).

    Raises
    ------
    ValueError
        When the file is not an autodiff checkpoint or has an unknown format.
    """
    src = path if hasattr(path, "read") else os.fspath(path)
    with np.load(src, allow_pickle=False) as z:
        if "__autodiff__" not in z.files:
            raise ValueError("%r is not an autodiff checkpoint" % (path,))
        header = json.loads(str(z["__autodiff__"]))
        if header.get("format") != _FORMAT:
            raise ValueError("%r has unknown checkpoint format %r"
                             % (path, header.get("format")))
        arrays = {k: z[k] for k in z.files if k != "__autodiff__"}
    return _decode(header["root"], arrays)


def _safetensors():
    try:
        from safetensors import numpy as st
    except ImportError as e:
        raise ImportError("safetensors checkpoints need the safetensors "
                          "package: pip install 'autodiff-tape[io]' (or pip "
                          "install safetensors)") from e
    return st


def save_safetensors(model, path):
    """Write a model's state dict to a safetensors file (readable by torch's
    and numpy's safetensors loaders).

    Parameters
    ----------
    model : nn.Module
    path : str or path-like
        Written atomically.

    Raises
    ------
    ImportError
        When the safetensors package is not installed.
    """
    st = _safetensors()
    tensors = {k: np.ascontiguousarray(v.numpy())
               for k, v in model.state_dict().items()}
    _atomic_write(path, lambda f: f.write(st.save(tensors)))


def load_safetensors(model, path, strict=True):
    """Load a safetensors file into a model (:meth:`Module.load_state_dict
    <autodiff.nn.Module.load_state_dict>`).

    Parameters
    ----------
    model : nn.Module
    path : str or path-like
    strict : bool, default True
        As in load_state_dict.

    Returns
    -------
    dict
        The missing and unexpected keys.

    Raises
    ------
    ImportError
        When the safetensors package is not installed.
    """
    st = _safetensors()
    return model.load_state_dict(st.load_file(os.fspath(path)),
                                 strict=strict)
