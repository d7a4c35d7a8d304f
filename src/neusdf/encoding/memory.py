"""Allocation of the large flat float32 arrays (table, gradient, Adam moments)."""

from __future__ import annotations

import mmap

import numpy as np


def large_zeros_array(n: int) -> np.ndarray:
    """(n,) float32 zeros, backed by transparent huge pages where the OS allows it.

    Random lookups into a 49 MB table miss the TLB with 4 KiB pages; 2 MiB pages make the fast
    kernels ~20 % faster. Falls back to an ordinary array if ``madvise`` is unavailable.
    """
    nbytes = max(4 * n, mmap.PAGESIZE)
    try:
        buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError, ValueError):
        return np.zeros(n, dtype=np.float32)
    # Anonymous mappings are zero-filled; the array keeps the mapping alive.
    return np.frombuffer(buffer, dtype=np.float32, count=n)


def large_zeros(n: int):
    """:func:`large_zeros_array` as a torch tensor sharing its memory."""
    import torch

    return torch.from_numpy(large_zeros_array(n))
