"""CPU threads of the numba kernels and of torch: the one helper every job and kernel uses.

A job sets its thread count once (:func:`set_threads`, from Snakemake's ``threads``); a kernel
that is given an explicit count runs inside :func:`numba_threads`, which restores the previous
count afterwards. ``None`` always means "keep the count in effect".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def sleeping_idle_threads() -> None:
    """Make idle OpenMP threads sleep instead of spinning, unless the user set a policy.

    torch and the numba kernels each bring their own OpenMP runtime (two libgomp copies, one
    thread pool each). With libgomp's default wait policy an idle pool spins after every parallel
    region and takes the cores the other pool is about to use; a training step switches between
    them dozens of times (docs/performance.md measures the effect). Takes effect only when called
    before torch or numba load libgomp: the Snakefile, the ``neusdf`` command and the benches
    call it first thing.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _clamped(threads: int) -> int:
    import numba

    return max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def numba_threads(threads: int | None) -> Iterator[int]:
    """Run the numba kernels of the block on ``threads`` threads (None: the count in effect,
    unchanged); yields the count used and restores the previous one after the block."""
    import numba

    previous = numba.get_num_threads()
    wanted = previous if threads is None else _clamped(threads)
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)


def set_threads(threads: int, torch_too: bool = True) -> None:
    """Use ``threads`` CPU threads in numba for the rest of the process, and in torch unless
    ``torch_too`` is False (jobs that never touch torch do not import it)."""
    import numba

    numba.set_num_threads(_clamped(threads))
    if torch_too:
        import torch

        torch.set_num_threads(max(1, int(threads)))
