"""Devices: autodiff computes on the CPU only.

``ad.device("cpu")``, ``device=`` arguments and ``Tensor.to(device)``
accept the CPU (as a string, ``"cpu:0"`` or a device) so that PyTorch code
which names its device ports unchanged; any other device is a
RuntimeError naming it, never a silent fallback.
"""

__all__ = ["device", "check_device"]


class device:
    """torch.device for the one device autodiff has: ``device("cpu")``,
    ``device("cpu", 0)``, ``device("cpu:0")``.

    Parameters
    ----------
    type : str or device, default "cpu"
        "cpu" or "cpu:0" (or a device, copied).
    index : int, optional
        0 (or -1, meaning none).

    Raises
    ------
    TypeError
        When `type` is not a string or device.
    RuntimeError
        For any other device ("cuda", "mps", ...) or index.

    Examples
    --------
    >>> ad.device("cpu:0"), ad.device("cpu") == "cpu"
    (device(type='cpu', index=0), True)
    """

    __slots__ = {"type": "The device type: always \"cpu\".",
                 "index": "The device index: None, or 0 when one was given."}

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError("device() expects a string such as 'cpu', got %s"
                            % builtins_type(type).__name__)
        name, _, idx = type.partition(":")
        if idx:
            if index is not None:
                raise RuntimeError("device string %r already has an index"
                                   % type)
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError("invalid device string: %r" % type) from None
        if name != "cpu":
            raise RuntimeError(
                "autodiff runs on the CPU only: there is no %r device (code "
                "written for CUDA runs unchanged with device='cpu')" % type)
        if index is not None and index != 0 and index != -1:
            raise RuntimeError("there is one CPU device (index 0), got index "
                               "%r" % (index,))
        self.type = "cpu"
        self.index = None if index is None or index == -1 else 0

    def __repr__(self):
        if self.index is None:
            return "device(type='cpu')"
        return "device(type='cpu', index=0)"

    def __str__(self):
        return "cpu" if self.index is None else "cpu:0"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))


builtins_type = type
CPU = device("cpu")


def check_device(dev):
    """None or the CPU (a string, an int 0 or a device); else RuntimeError."""
    if dev is None:
        return CPU
    if isinstance(dev, int) and not isinstance(dev, bool):
        raise RuntimeError("autodiff runs on the CPU only: device %d names "
                           "a CUDA device" % dev)
    return device(dev)
