"""Allocation of the large flat arrays (table, gradient, Adam moments, checkpoint storages)."""

from __future__ import annotations

import mmap

import numpy as np


def large_zeros_array(n: int, dtype=np.float32) -> np.ndarray:
    """(n,) zeros of ``dtype``, backed by transparent huge pages where the OS allows it.

    Random lookups into a 49 MB table miss the TLB with 4 KiB pages; 2 MiB pages make the fast
    kernels ~20 % faster (and fault in 512x fewer pages). Falls back to an ordinary array if
    ``madvise`` is unavailable.
    """
    dtype = np.dtype(dtype)
    nbytes = max(dtype.itemsize * n, mmap.PAGESIZE)
    try:
        buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError, ValueError):
        return np.zeros(n, dtype=dtype)
    # Anonymous mappings are zero-filled; the array keeps the mapping alive.
    return np.frombuffer(buffer, dtype=dtype, count=n)


def large_zeros(n: int):
    """:func:`large_zeros_array` as a torch tensor sharing its memory."""
    import torch

    return torch.from_numpy(large_zeros_array(n))
