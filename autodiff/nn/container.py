"""Containers (torch.nn.modules.container): Sequential, ModuleList,
ModuleDict, ParameterList, ParameterDict -- torch's registration names
("0", "1", ... or the keys), so state_dict keys match torch's, its method
set and its repr."""
import operator
from collections import OrderedDict
from collections import abc
from itertools import chain, islice

from .._engine import Tensor
from .modules import Linear, Module, Parameter, ReLU, _addindent, _plain

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList",
           "ParameterDict"]


def _check_module(cls, m, where=""):
    if not isinstance(m, Module):
        raise TypeError("%s takes Modules, got %s%s"
                        % (cls, type(m).__name__, where))


def _abs_index(n, idx):
    """idx (an int, negative from the end) as a position in range(n)."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError("index %d is out of range" % idx)
    return idx % n if n else idx


def _renumber(mod):
    """Keys "0", "1", ... again after a deletion (torch's numbering)."""
    object.__setattr__(mod, "_modules", OrderedDict(
        (str(i), m) for i, m in enumerate(mod._modules.values())))


class Sequential(Module):
    """Modules called in order, each on the previous one's output
    (torch.nn.Sequential).

    Parameters
    ----------
    *args : Module
        The layers, registered as "0", "1", ...; or one OrderedDict
        name -> Module.

    Raises
    ------
    TypeError
        When an argument is not a Module.

    Shape
    -----
    - Input: what the first module takes (one argument).
    - Output: what the last module returns.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> net(ad.zeros(3, 4)).shape, len(net), list(net.state_dict())[0]
    ((3, 2), 3, '0.weight')
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, m in args[0].items():
                self.add_module(key, m)
        else:
            for i, m in enumerate(args):
                _check_module("Sequential", m, " at position %d" % i)
                self.add_module(str(i), m)

    def forward(self, input):
        # A Linear then a ReLU, both plain (these classes, no hooks, no
        # forward of their own set on the instance), run as one record
        # (Linear._forward_relu): the same bits as the two calls, without
        # the pass that applies the ReLU over the stored pre-activation.
        linear = None           # a plain Linear not yet called
        for m in self._modules.values():
            if linear is not None:
                if type(m) is ReLU and _plain(m):
                    input = linear._forward_relu(input)
                    linear = None
                    continue
                input = linear(input)
                linear = None
            if type(m) is Linear and _plain(m):
                linear = m
            else:
                input = m(input)
        return input if linear is None else linear(input)

    def _key(self, idx):
        keys = self._modules.keys()
        return next(islice(keys, _abs_index(len(keys), idx), None))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        _check_module("Sequential", module)
        setattr(self, self._key(idx), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._key(idx))
        _renumber(self)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of "
                             "Sequential class, but %s is given."
                             % str(type(other)))
        ret = Sequential()
        for layer in chain(self, other):
            ret.append(layer)
        return ret

    def __iadd__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of "
                             "Sequential class, but %s is given."
                             % str(type(other)))
        return self.extend(list(other))

    def _times(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            raise TypeError("unsupported operand type(s) for *: %s and %s"
                            % (type(self), type(other)))
        if other <= 0:
            raise ValueError("Non-positive multiplication factor %d for %s"
                             % (other, type(self)))
        return list(self) * other

    def __mul__(self, other):
        return Sequential(*self._times(other))

    __rmul__ = __mul__

    def __imul__(self, other):
        mods = self._times(other)
        for i in range(len(self), len(mods)):
            self.add_module(str(i), mods[i])
        return self

    def pop(self, key):
        """Remove the layer at key (an index or slice) and return it.

        Parameters
        ----------
        key : int or slice

        Returns
        -------
        Module or Sequential

        Raises
        ------
        IndexError
            When key is out of range.
        """
        v = self[key]
        del self[key]
        return v

    def append(self, module):
        """Add module at the end; returns self.

        Parameters
        ----------
        module : Module

        Returns
        -------
        Sequential
            self.

        Raises
        ------
        TypeError
            When a value is not a Module.
        """
        _check_module("Sequential", module)
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index, module):
        """Insert module before position index; returns self.

        Parameters
        ----------
        index : int
            The position (negative from the end).
        module : Module

        Returns
        -------
        Sequential
            self.

        Raises
        ------
        TypeError
            When a value is not a Module.
        IndexError
            When index is out of range.
        """
        _check_module("Sequential", module)
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError("Index out of range: %d" % index)
        if index < 0:
            index += n
        mods = list(self._modules.values())
        mods.insert(index, module)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self

    def extend(self, sequential):
        """Append every module of an iterable; returns self.

        Parameters
        ----------
        sequential : iterable of Module

        Returns
        -------
        Sequential
            self.

        Raises
        ------
        TypeError
            When a value is not a Module.
        """
        for layer in sequential:
            self.append(layer)
        return self


class ModuleList(Module):
    """Submodules held in a list, registered as "0", "1", ...
    (torch.nn.ModuleList): indexing, slicing, append, extend, insert,
    pop, del, + and +=.

    Parameters
    ----------
    modules : iterable of Module, optional
        The initial modules.

    Raises
    ------
    TypeError
        When a value is not a Module.

    Shape
    -----
    Not callable: ``forward`` raises NotImplementedError; iterate over the
    modules instead.

    Examples
    --------
    >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters()))
    (3, 6)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _key(self, idx):
        return str(_abs_index(len(self), idx))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __setitem__(self, idx, module):
        _check_module("ModuleList", module)
        setattr(self, self._key(idx), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._key(idx))
        _renumber(self)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(chain(self, other))

    def __repr__(self):
        # torch's: runs of identical submodules are shown once, "(0-3): 4 x"
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        blocks = []                     # [start, end, repr]
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            if start == end:
                line = "(%d): %s" % (start, r)
            else:
                line = "(%d-%d): %d x %s" % (start, end, end - start + 1, r)
            lines.append(_addindent(line, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def insert(self, index, module):
        """Insert module before position index.

        Parameters
        ----------
        index : int
            The position.
        module : Module

        Raises
        ------
        TypeError
            When a value is not a Module.
        """
        _check_module("ModuleList", module)
        mods = list(self._modules.values())
        mods.insert(index, module)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def append(self, module):
        """Add module at the end; returns self.

        Parameters
        ----------
        module : Module

        Returns
        -------
        ModuleList
            self.

        Raises
        ------
        TypeError
            When a value is not a Module.
        """
        _check_module("ModuleList", module)
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key):
        """Remove the module at key (an index or slice) and return it.

        Parameters
        ----------
        key : int or slice

        Returns
        -------
        Module or ModuleList

        Raises
        ------
        IndexError
            When key is out of range.
        """
        v = self[key]
        del self[key]
        return v

    def extend(self, modules):
        """Append every module of an iterable; returns self.

        Parameters
        ----------
        modules : iterable of Module

        Returns
        -------
        ModuleList
            self.

        Raises
        ------
        TypeError
            When modules is not iterable or holds a non-Module.
        """
        if not isinstance(modules, abc.Iterable):
            raise TypeError("ModuleList.extend should be called with an "
                            "iterable, but got " + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate "
                                  "over its modules")


def _pairs(obj, name, sort_plain_dicts):
    """The (key, value) pairs of update()'s argument, in torch's order."""
    if not isinstance(obj, abc.Iterable):
        raise TypeError("%s.update should be called with an iterable of "
                        "key/value pairs, but got %s"
                        % (name, type(obj).__name__))
    if isinstance(obj, (OrderedDict, ModuleDict, ParameterDict)):
        return list(obj.items())
    if isinstance(obj, abc.Mapping):
        items = list(obj.items())
        return sorted(items) if sort_plain_dicts else items
    out = []
    for j, p in enumerate(obj):
        if not isinstance(p, abc.Iterable):
            raise TypeError("%s update sequence element #%d should be "
                            "Iterable; is %s" % (name, j, type(p).__name__))
        p = list(p)
        if len(p) != 2:
            raise ValueError("%s update sequence element #%d has length %d; "
                             "2 is required" % (name, j, len(p)))
        out.append(p)
    return out


class ModuleDict(Module):
    """Submodules held in a dict, registered under their keys
    (torch.nn.ModuleDict).

    Parameters
    ----------
    modules : mapping or iterable of (str, Module) pairs, optional
        The initial modules (order kept, as torch).

    Raises
    ------
    TypeError
        When a value is not a Module or a key not a str.

    Shape
    -----
    Not callable: ``forward`` raises NotImplementedError; index it instead.

    Examples
    --------
    >>> d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    >>> list(d.keys()), d["enc"].out_features
    (['enc', 'dec'], 3)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        _check_module("ModuleDict", module)
        self.add_module(key, module)

    def __delitem__(self, key):
        if key not in self._modules:
            raise KeyError(key)
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        """Remove every module."""
        for k in list(self._modules):
            del self[k]

    def pop(self, key):
        """Remove the module under key and return it.

        Parameters
        ----------
        key : str

        Returns
        -------
        Module

        Raises
        ------
        KeyError
            When key is absent.
        """
        v = self[key]
        del self[key]
        return v

    def keys(self):
        """The keys, in insertion order."""
        return self._modules.keys()

    def items(self):
        """The (key, module) pairs."""
        return self._modules.items()

    def values(self):
        """The modules."""
        return self._modules.values()

    def update(self, modules):
        """Add or replace modules from a mapping or (key, module) pairs.

        Parameters
        ----------
        modules : mapping or iterable of (str, Module) pairs

        Raises
        ------
        TypeError
            When modules is not iterable or an element is not a pair.
        ValueError
            When a sequence element has not two entries.
        """
        for k, m in _pairs(modules, "ModuleDict", False):
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it")


def _param_line(k, p, type_name):
    if isinstance(p, Tensor):
        return "  (%s): %s containing: [%s of size %s]" % (
            k, "Parameter" if isinstance(p, Parameter) else "Tensor",
            type_name(p), "x".join(str(d) for d in p.shape))
    return "  (%s): Object of type: %s" % (k, type(p).__name__)


def _as_param(value):
    """A Tensor becomes a Parameter (torch's ParameterList/Dict rule)."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


class ParameterList(Module):
    """Parameters held in a list, registered as "0", "1", ...
    (torch.nn.ParameterList); a Tensor added is made a Parameter.

    Parameters
    ----------
    values : iterable, optional
        The initial values.
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            out = type(self)()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, str(_abs_index(len(self), idx)))

    def __setitem__(self, idx, param):
        setattr(self, str(_abs_index(len(self), idx)), _as_param(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def append(self, value):
        """Add value at the end; returns self.

        Parameters
        ----------
        value : Tensor or object
            A Tensor is made a Parameter.

        Returns
        -------
        ParameterList
            self.
        """
        self._size += 1
        try:
            self[self._size - 1] = value
        except BaseException:
            self._size -= 1
            raise
        return self

    def extend(self, values):
        """Append every value of an iterable (not a Tensor); returns
        self.

        Parameters
        ----------
        values : iterable
            Not a Tensor.

        Returns
        -------
        ParameterList
            self.

        Raises
        ------
        TypeError
            When values is not iterable or is a Tensor.
        """
        if not isinstance(values, abc.Iterable) or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an "
                            "iterable, but got " + type(values).__name__)
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        # torch prints the dtype as torch.float32
        return "\n".join(_param_line(k, p, lambda t: "torch." + str(t.dtype))
                         for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """Parameters held in a dict, registered under their keys
    (torch.nn.ParameterDict); a Tensor added is made a Parameter.

    Parameters
    ----------
    parameters : mapping or iterable of (str, value) pairs, optional
        The initial values (a plain dict is taken in sorted key order, an
        OrderedDict or pairs in their order, as torch).
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _attr(key):
        if not isinstance(key, str):
            raise TypeError("Index given to ParameterDict cannot be used as a "
                            "key as it is not a string (type is '%s')."
                            % type(key).__name__)
        return key

    def __getitem__(self, key):
        return getattr(self, self._attr(key))

    def __setitem__(self, key, value):
        attr = self._attr(key)
        self._keys[key] = None
        setattr(self, attr, _as_param(value))

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, self._attr(key))

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def copy(self):
        """A new ParameterDict holding the same values."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key, default=None):
        """self[key], set to default first if absent.

        Parameters
        ----------
        key : str
        default : Tensor or object, optional

        Returns
        -------
        The value under key.
        """
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        """Remove every entry."""
        for k in list(self._keys):
            del self[k]

    def pop(self, key):
        """Remove the entry under key and return its value.

        Parameters
        ----------
        key : str

        Returns
        -------
        The value.

        Raises
        ------
        KeyError
            When key is absent.
        """
        v = self[key]
        del self[key]
        return v

    def popitem(self):
        """Remove and return the last inserted (key, value) pair."""
        k = next(reversed(self._keys))
        return k, self.pop(k)

    def get(self, key, default=None):
        """self[key] if present, else default.

        Parameters
        ----------
        key : str
        default : object, optional

        Returns
        -------
        The value, or default.
        """
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None):
        """A new ParameterDict with every key set to default.

        Parameters
        ----------
        keys : iterable of str
        default : Tensor or object, optional

        Returns
        -------
        ParameterDict
        """
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        """The keys, in insertion order."""
        return self._keys.keys()

    def items(self):
        """The (key, value) pairs."""
        return ((k, self[k]) for k in self._keys)

    def values(self):
        """The values."""
        return (self[k] for k in self._keys)

    def update(self, parameters):
        """Add or replace entries from a mapping or (key, value) pairs.

        Parameters
        ----------
        parameters : mapping or iterable of (str, value) pairs
            A plain dict is added in sorted key order, as torch.
        """
        for k, v in _pairs(parameters, "ParameterDict", True):
            self[k] = v

    def extra_repr(self):
        return "\n".join(_param_line(k, p, lambda t: t.type())
                         for k, p in self.items())

    def __call__(self, input):
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other):
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other):
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self
