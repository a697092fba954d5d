"""torch.cuda for code that asks: autodiff has no GPU.

``ad.cuda.is_available()`` is False, so scripts that pick their device
with it choose the CPU; anything that needs a CUDA device raises.
"""

__all__ = ["is_available", "device_count"]


def is_available():
    return False


def device_count():
    return 0
