"""torch.cuda for code that asks: autodiff has no GPU.

``ad.cuda.is_available()`` is False, so scripts that pick their device
with it choose the CPU; anything that needs a CUDA device raises.
"""

__all__ = ["is_available", "device_count"]


def is_available():
    """False: autodiff has no GPU (torch.cuda.is_available).

    Returns
    -------
    bool

    Examples
    --------
    >>> ad.cuda.is_available()
    False
    """
    return False


def device_count():
    """0: autodiff has no GPU (torch.cuda.device_count).

    Returns
    -------
    int
    """
    return 0
