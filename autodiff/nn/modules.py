"""Modules: parameters and submodules registered by attribute, as in torch."""
import math
from collections import OrderedDict

import numpy as np

from .. import _creation, _losses, _ops
from .. import _engine
from .._grad_mode import no_grad
from ..checkpoint import load_safetensors, save_safetensors
from .._engine import Tensor
from . import functional as F
from . import init


def _device_type():
    from .._device import device
    return device


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a parameter."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        if not isinstance(data, Tensor):
            data = _creation.tensor(data)
        t = _engine._as_subclass(cls, data.detach())
        t.requires_grad_(requires_grad)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (Parameter, (self.numpy(), self.requires_grad))


class RemovableHandle:
    """What register_forward_hook returns: remove() unregisters the hook
    (also as a context manager), as torch.utils.hooks.RemovableHandle."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks_dict_ref = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        if self.hooks_dict_ref.pop(self.id, None) is not None:
            _engine._bump_epoch()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class LoadStateDictError(RuntimeError, ValueError):
    """Module.load_state_dict found bad keys, shapes or dtypes (nothing was
    loaded).  A RuntimeError as in torch, and a ValueError as autodiff
    raised before."""


class Module:
    """Base class of layers and models.

    Assigning a Parameter or a Module as an attribute registers it;
    ``parameters()``, ``state_dict()``, ``train()``/``eval()`` and
    ``zero_grad()`` then see it, recursively.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before "
                                 "Module.__init__() is called")
        # A compiled step may have baked in the old value (a layer, a
        # flag, dropout's p): make recordings record again.
        _engine._bump_epoch()
        if name in self._buffers and not isinstance(value, (Parameter,
                                                             Module)):
            # Assigning to a buffer updates it, as in torch.
            if value is not None and not isinstance(value, Tensor):
                raise TypeError("cannot assign %s as buffer %r (a Tensor or "
                                "None expected)" % (type(value).__name__,
                                                    name))
            self._buffers[name] = value
            return
        if (name in self._parameters and value is not None
                and not isinstance(value, Parameter)):
            raise TypeError("cannot assign %s as parameter %r (a Parameter "
                            "or None expected)" % (type(value).__name__,
                                                   name))
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError("%r object has no attribute %r"
                             % (type(self).__name__, name))

    def __delattr__(self, name):
        _engine._bump_epoch()
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param if isinstance(param, Parameter)
                    else Parameter(param))

    def register_buffer(self, name, tensor):
        """A tensor saved in the state dict but not trained."""
        _engine._bump_epoch()
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def add_module(self, name, module):
        setattr(self, name, module)

    # ---- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError("%s must define forward()"
                                  % type(self).__name__)

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        pre, post = d.get("_forward_pre_hooks"), d.get("_forward_hooks")
        if not pre and not post:
            return self.forward(*args, **kwargs)
        for hook in list((pre or {}).values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in list((post or {}).values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    # ---- hooks (torch's forward hooks; no backward or kwargs hooks)
    def _add_hook(self, kind, hook, prepend):
        hooks = self.__dict__.get(kind)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, kind, hooks)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        _engine._bump_epoch()       # a compiled step records again
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False):
        """hook(module, args) runs before forward(); a non-None result
        replaces the positional arguments (a single value is wrapped in a
        tuple).  Returns a handle whose remove() unregisters it."""
        return self._add_hook("_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook, *, prepend=False):
        """hook(module, args, output) runs after forward(); a non-None
        result replaces the output.  Returns a handle with remove()."""
        return self._add_hook("_forward_hooks", hook, prepend)

    # ---- traversal
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack[0:0] = [((name + "." if name else "") + k, c)
                          for k, c in m._modules.items()]

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, m in mods:
            for k, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (mname + "." if mname else "") + k, p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for k, b in m._buffers.items():
                if b is not None:
                    yield (mname + "." if mname else "") + k, b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- devices and dtypes
    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """Module.to(device): the CPU is the only device, so the module
        itself.  A dtype conversion is refused rather than done halfway:
        optimizers and compiled steps hold the parameters' memory, which a
        new dtype would replace -- build the layers in the dtype instead
        (``nn.Linear(..., dtype=ad.float64)``)."""
        from .._device import check_device
        for a in args:
            if isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda",
                                                          "mps", "meta"):
                device = a
            elif isinstance(a, (int, _device_type())) and \
                    not isinstance(a, bool):
                device = a
            else:
                dtype = a
        check_device(device)
        if dtype is not None:
            code = _engine._dtype_code_of(dtype)
            if any(_engine._dtype_code_of(p.dtype) != code
                   for p in self.parameters()):
                raise NotImplementedError(
                    "Module.to(dtype) is not supported: optimizers and "
                    "compiled steps hold the parameters' memory; build the "
                    "layers in the dtype you want (dtype= argument)")
        return self

    def cpu(self):
        return self

    def cuda(self, device=None):
        raise RuntimeError("autodiff runs on the CPU only: there is no CUDA "
                           "device (drop .cuda(), or use .to('cpu'))")

    def double(self):
        return self.to(_engine.float64)

    def float(self):
        return self.to(_engine.float32)

    # ---- modes and grads
    def train(self, mode=True):
        for m in self.modules():
            if m.training != bool(mode):
                _engine._bump_epoch()   # compiled steps record again
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        _engine._zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ---- state
    def state_dict(self):
        """Names -> tensors sharing the parameters' memory (detached)."""
        sd = OrderedDict()
        for name, p in self.named_parameters():
            sd[name] = p.detach()
        for name, b in self.named_buffers():
            sd[name] = b.detach()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy values in, as torch: every key, shape and dtype is checked
        before anything is copied, so on an error (LoadStateDictError,
        listing every problem) nothing has changed.  With strict=False
        missing and unexpected keys are reported, not errors."""
        own = OrderedDict(list(self.named_parameters()) +
                          list(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        values = {}
        for k, t in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
            if arr.dtype.kind not in "fiub":
                errors.append("dtype mismatch for %s: cannot copy a value of "
                              "dtype %s into a %s tensor"
                              % (k, arr.dtype, t.dtype))
            elif tuple(arr.shape) != t.shape:
                errors.append("size mismatch for %s: copying a param with "
                              "shape %s from checkpoint, the shape in "
                              "current model is %s."
                              % (k, tuple(arr.shape), t.shape))
            else:
                try:
                    _engine._check_writable(t, "load_state_dict")
                except RuntimeError as e:
                    errors.append("%s: %s" % (k, e))
                # converted now, so that copying below cannot fail
                values[k] = np.asarray(arr, dtype=t.dtype)
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: %s."
                          % ", ".join('"%s"' % k for k in unexpected))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: %s."
                          % ", ".join('"%s"' % k for k in missing))
        if errors:
            raise LoadStateDictError(
                "Error(s) in loading state_dict for %s:\n\t%s"
                % (type(self).__name__, "\n\t".join(errors)))
        with no_grad():
            for k, arr in values.items():
                own[k].copy_(arr)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def save_safetensors(self, path):
        """Write the state dict with the safetensors package (readable by
        safetensors.numpy.load_file, so weights move to and from torch)."""
        save_safetensors(self, path)

    def load_safetensors(self, path, strict=True):
        return load_safetensors(self, path, strict=strict)

    # ---- repr
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append("(%s): %s" % (name, sub))
        main = type(self).__name__ + "("
        if not self._modules:
            return main + "\n".join(lines) + ")"
        return main + "\n  " + "\n  ".join(lines) + "\n)"


# ------------------------------------------------------------------ layers

class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features), initialised
    as torch does (kaiming_uniform_ with a = sqrt(5); bias U(-1/sqrt(in),
    1/sqrt(in)))."""

    def __init__(self, in_features, out_features, bias=True, dtype=None,
                 generator=None):
        super().__init__()
        for name, v in (("in_features", in_features),
                        ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError("Linear: %s must be a non-negative integer, "
                                 "got %r" % (name, v))
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = dtype or _engine.float32
        self.weight = Parameter(_creation.zeros(out_features, in_features,
                                                dtype=dt))
        if bias:
            self.bias = Parameter(_creation.zeros(out_features, dtype=dt))
        else:
            self.bias = None
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        if self.in_features and self.out_features:
            init.kaiming_uniform_(self.weight, a=math.sqrt(5),
                                  generator=generator)
        if self.bias is not None and self.in_features:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = _creation.tensor(x, dtype=self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError("Linear(in_features=%d): input of shape %s has "
                             "%s features in its last dimension"
                             % (self.in_features, x.shape,
                                x.shape[-1] if x.ndim else "no"))
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return "in_features=%d, out_features=%d, bias=%s" % (
            self.in_features, self.out_features, self.bias is not None)


class Sequential(Module):
    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, m in layers[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(layers):
                if not isinstance(m, Module):
                    raise TypeError("Sequential takes Modules, got %s at "
                                    "position %d" % (type(m).__name__, i))
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __setitem__(self, i, module):
        """Replace layer i (as torch.nn.Sequential)."""
        if not isinstance(module, Module):
            raise TypeError("Sequential takes Modules, got %s"
                            % type(module).__name__)
        keys = list(self._modules)
        try:
            key = keys[i]
        except (IndexError, TypeError):
            raise IndexError("index %r is out of range for a Sequential of "
                             "%d layers" % (i, len(keys))) from None
        setattr(self, key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, m):
        self.add_module(str(len(self)), m)
        return self


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return _ops.flatten(x, self.start_dim, self.end_dim)


class Identity(Module):
    def forward(self, x):
        return x


class Dropout(Module):
    """Zero elements with probability p in train mode; identity in eval."""

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError("dropout probability has to be between 0 and 1, "
                             "but got %r" % (p,))
        self.p = p
        self.generator = generator

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return "p=%g" % self.p


class Dropout2d(Module):
    """torch.nn.Dropout2d: zero whole channels (N, C, H, W) with
    probability p in train mode (the engine's stream, or a numpy
    generator); identity in eval."""
    _fn = "dropout2d"

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError("dropout probability has to be between 0 and 1, "
                             "but got %r" % (p,))
        self.p = p
        self.inplace = inplace
        self.generator = generator

    def forward(self, x):
        return getattr(F, self._fn)(x, self.p, self.training, self.inplace,
                                    self.generator)

    def extra_repr(self):
        return "p=%s, inplace=%s" % (self.p, self.inplace)


class Dropout1d(Dropout2d):
    """torch.nn.Dropout1d: zero whole channels of (N, C, L) or (C, L)."""
    _fn = "dropout1d"


# ------------------------------------------------------------ activations

class _Activation(Module):
    """An elementwise function as a module; _options names the
    constructor arguments shown by repr."""
    _options: tuple[str, ...] = ()

    def extra_repr(self):
        return ", ".join("%s=%r" % (k, getattr(self, k))
                         for k in self._options)


class Sigmoid(_Activation):
    """Elementwise sigmoid 1 / (1 + e^-x)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(_Activation):
    """Elementwise tanh."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.tanh(x)


class ReLU(_Activation):
    """Elementwise max(x, 0).  inplace is accepted for torch's signature;
    the values are the same."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(_Activation):
    """x for x > 0, else negative_slope * x."""
    _options = ("negative_slope",)

    def __init__(self, negative_slope=0.01, *, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class ELU(_Activation):
    """Exponential linear unit: x for x > 0, else alpha (e^x - 1)."""
    _options = ("alpha",)

    def __init__(self, alpha=1.0, *, inplace=False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)


class SELU(_Activation):
    """Scaled ELU with the self-normalising constants."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.selu(x)


class GELU(_Activation):
    """Gaussian error linear unit x Phi(x) (exact, erf form)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.gelu(x)


class SiLU(_Activation):
    """x * sigmoid(x), also called swish."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.silu(x)


class Softplus(_Activation):
    """Smooth ReLU log(1 + e^(beta x)) / beta, linear above threshold."""
    _options = ("beta", "threshold")

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(_Activation):
    """Clamp to [min_val, max_val] (gradient 0 at both ends, as torch)."""
    _options = ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, *, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError("Hardtanh: min_val cannot be greater than "
                             "max_val (got %r > %r)" % (min_val, max_val))
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)


class ReLU6(_Activation):
    """min(max(x, 0), 6) (gradient 0 at 0 and at 6, as torch)."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.relu6(x)


class Hardsigmoid(_Activation):
    """relu6(x + 3) / 6."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(_Activation):
    """x relu6(x + 3) / 6."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.hardswish(x)


class Mish(_Activation):
    """x tanh(softplus(x))."""

    def __init__(self, *, inplace=False):
        super().__init__()

    def forward(self, x):
        return F.mish(x)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), stable for any x."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(_Activation):
    """x / (1 + |x|)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.softsign(x)


class Tanhshrink(_Activation):
    """x - tanh(x)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return F.tanhshrink(x)


class CELU(_Activation):
    """Continuously differentiable ELU: x for x > 0, else
    alpha (e^(x/alpha) - 1)."""
    _options = ("alpha",)

    def __init__(self, alpha=1.0, *, inplace=False):
        super().__init__()
        if alpha == 0:
            raise ValueError("CELU: alpha cannot be 0")
        self.alpha = alpha

    def forward(self, x):
        return F.celu(x, self.alpha)


class PReLU(Module):
    """x where x > 0, else weight * x, with a learnable slope (one, or one
    per channel of dim 1), as torch.nn.PReLU; the parameter is named
    weight, so torch state_dicts load."""

    def __init__(self, num_parameters=1, init=0.25, dtype=None):
        super().__init__()
        if not isinstance(num_parameters, (int, np.integer)) or \
                num_parameters < 1:
            raise ValueError("PReLU: num_parameters must be a positive "
                             "integer, got %r" % (num_parameters,))
        self.num_parameters = int(num_parameters)
        self.init = init
        self.weight = Parameter(_creation.full(
            (self.num_parameters,), init, dtype=dtype or _engine.float32))

    def reset_parameters(self):
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return "num_parameters=%d" % self.num_parameters


class Softmax(_Activation):
    """Softmax along dim."""
    _options = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, dim=self.dim)


class LogSoftmax(_Activation):
    """Log-softmax along dim."""
    _options = ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, dim=self.dim)


# ----------------------------------------------------------------- losses

class _Loss(Module):
    """A loss module: torch's constructor arguments (the deprecated
    size_average / reduce decide the reduction when given, as torch's)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean",
                 allowed=("mean", "sum", "none")):
        super().__init__()
        self.reduction = _losses._reduction(reduction, size_average, reduce,
                                            allowed)


class _WeightedLoss(_Loss):
    """A loss with an optional weight tensor, kept as a buffer (torch's
    ``weight``)."""

    def __init__(self, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        _tensor_or_none("weight", weight)
        self.register_buffer("weight", weight)


def _tensor_or_none(name, value):
    if value is not None and not isinstance(value, Tensor):
        raise TypeError("cannot assign '%s' object to buffer '%s' (torch "
                        "Tensor or None required)"
                        % (type(value).__name__, name))


class MSELoss(_Loss):
    """Mean squared error (torch.nn.MSELoss).

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (torch.nn.L1Loss).

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (torch.nn.BCELoss).

    Parameters
    ----------
    weight : Tensor, optional
        Multiplies each element's loss (broadcast to the input).
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (torch.nn.BCEWithLogitsLoss).

    Parameters
    ----------
    weight : Tensor, optional
        Multiplies each element's loss (broadcast to the input).
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : Tensor, optional
        Weight of the positive term, broadcast over the input (one per
        class, the last dim).
    """

    def __init__(self, weight=None, size_average=None, reduce=None,
                 reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        _tensor_or_none("weight", weight)
        _tensor_or_none("pos_weight", pos_weight)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction,
            pos_weight=self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits and class labels or class
    probabilities (torch.nn.CrossEntropyLoss).

    Parameters
    ----------
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing.
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float
        In [0, 1].
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100,
                 reduce=None, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight,
                               ignore_index=self.ignore_index,
                               reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities and class labels
    (torch.nn.NLLLoss).

    Parameters
    ----------
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    ignore_index : int
        Labels equal to it add nothing.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100,
                 reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight,
                          ignore_index=self.ignore_index,
                          reduction=self.reduction)


class HuberLoss(_Loss):
    """torch.nn.HuberLoss.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
    delta : float
        Where the quadratic turns linear.
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction,
                            delta=self.delta)


class SmoothL1Loss(_Loss):
    """torch.nn.SmoothL1Loss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    beta : float
        Where the quadratic turns linear.
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean",
                 beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction,
                                beta=self.beta)


class KLDivLoss(_Loss):
    """torch.nn.KLDivLoss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'batchmean', 'sum', 'none'}
    log_target : bool
        Whether the target holds log-probabilities.
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean",
                 log_target=False):
        super().__init__(size_average, reduce, reduction,
                         ("mean", "batchmean", "sum", "none"))
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction,
                        log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    """torch.nn.PoissonNLLLoss.

    Parameters
    ----------
    log_input : bool
        Whether the input is the rate's log.
    full : bool
        Add the Stirling term.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    eps : float
        Keeps log(input + eps) finite.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, log_input=True, full=False, size_average=None,
                 eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target,
                                  log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """torch.nn.GaussianNLLLoss.

    Parameters
    ----------
    full : bool
        Add 0.5 log(2 pi).
    eps : float
        The clamp of the variance.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full,
                                   eps=self.eps, reduction=self.reduction)


class _MarginLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class CosineEmbeddingLoss(_MarginLoss):
    """torch.nn.CosineEmbeddingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target,
                                       margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_MarginLoss):
    """torch.nn.MarginRankingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target,
                                     margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """torch.nn.HingeEmbeddingLoss.

    Parameters
    ----------
    margin : float
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, margin=1.0, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(margin, size_average, reduce, reduction)

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """torch.nn.SoftMarginLoss.

    Parameters
    ----------
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """torch.nn.MultiMarginLoss.

    Parameters
    ----------
    p : int
        1 or 2.
    margin : float
    weight : Tensor, optional
        (C,) class weights.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None,
                 reduce=None, reduction="mean"):
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported, got %r"
                             % (p,))
        super().__init__(weight, size_average, reduce, reduction)
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p,
                                   margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """torch.nn.TripletMarginLoss.

    Parameters
    ----------
    margin : float
    p : float
        The norm's order.
    eps : float
        pairwise_distance's.
    swap : bool
        The distance swap.
    size_average, reduce : bool, optional
        Deprecated; when given they decide the reduction.
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False,
                 size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative,
                                     margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap,
                                     reduction=self.reduction)


class CosineSimilarity(Module):
    """torch.nn.CosineSimilarity.

    Parameters
    ----------
    dim : int
        The dim of the vectors.
    eps : float
        Smallest norm.
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """torch.nn.PairwiseDistance.

    Parameters
    ----------
    p : float
        The norm's order.
    eps : float
        Added to the difference.
    keepdim : bool
        Keep the reduced dim.
    """

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
