"""The marching-cubes grid of a field, evaluated only in a narrow band around its level set.

A dense ``resolution**3`` grid costs ``resolution**3`` network evaluations (16.8 M at 256), almost
all of them far from the surface where marching cubes makes no faces. This module evaluates the
same grid coarse to fine and evaluates a fine node exactly only where a block of the grid may
contain the level set. Every other node gets a stand-in value on the correct side of the level,
so marching cubes on the result makes exactly the dense grid's triangles.

The refinement rule (``lipschitz`` = L, spacing of the fine grid = h, ``level`` = c):

1. Blocks of B x B x B fine cells, B = ``coarse_block``, B/2, ..., 2, 1. At each size, the
   corners of every candidate block are evaluated. A block is *active* when its corner values
   straddle c, or when ``min |f(corner) - c| <= L * (sqrt(3) / 2) * B * h`` (L times half the
   block diagonal). Any point of a block lies within half a diagonal of one of its corners, so
   if f is L-Lipschitz, an inactive block contains no point where f = c: all of its fine nodes
   are on its corners' side of c. They get the value ``c +- 1`` and are never evaluated.
2. The children of active blocks are the candidates of the next size; at B = 1 (single cells)
   the candidates' corners are all the nodes of the active 2-blocks, evaluated exactly.
3. Closure check: every fine cell whose 8 values straddle c must have all 8 corners evaluated.
   A cell that straddles c with a stand-in corner means the band is not closed there (the field
   is steeper than L); its corners are evaluated and the check repeats until no such cell is
   left. The band then follows every surface sheet that touches it to its end.

With these, the result equals the dense grid's marching cubes (same vertices, faces and order)
whenever every connected piece of the level set that the dense grid sees passes through at
least one active block. That holds for any field with Lipschitz constant <= L, whatever the
size of the feature (a true SDF has L = 1: thin plates and tiny spheres are kept). For a field
steeper than L (gradient norm G > L), a closed feature wholly inside one block, such as a
sphere of radius r around which f = G * (|x - x0| - r), is caught when
``r >= (1 - L / G) * (sqrt(3) / 2) * B * h``; smaller ones can be lost (tested).

Cost: the evaluations, plus a few streaming passes over a uint8 state per node (evaluated,
stand-in, queued) done by numba loops; peak memory is the float32 grid, that state and the
list of queued nodes (~110 MB at 256^3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import njit

from neusdf.config import schema_default

__all__ = ["DEFAULT_COARSE_BLOCK", "DEFAULT_LIPSCHITZ", "BandedGrid", "evaluate_narrow_band"]


class BandedGrid(NamedTuple):
    """A grid evaluated in a narrow band (:func:`evaluate_narrow_band`).

    Attributes
    ----------
    grid : (R, R, R) float32
        Exact values where evaluated; ``level + 1`` or ``level - 1`` elsewhere (the side of the
        level the refinement rule proved or assumed).
    evaluated : (R, R, R) bool
        Where the grid holds exact values: all 8 corners of every cell that the level set
        crosses, so marching cubes may skip the cells whose first corner is not evaluated.
    stats : dict
        ``evaluated`` (nodes), ``fraction`` (of R**3), ``closure_rounds`` (rounds of step 3 that
        found unclosed cells), ``closure_nodes`` (nodes they added), ``sdf_min`` and ``sdf_max``
        over the evaluated nodes.
    """

    grid: np.ndarray
    evaluated: np.ndarray
    stats: dict


# Trained hash-grid SDFs are close to 1-Lipschitz near the surface, not everywhere: on the
# default meshes the finite-difference gradient norm where |f| < 0.05 has its 99.99th percentile
# at 1.4-2.6 and its maximum at 1.7-3.9 (README, Performance). 2 covers most of it; the closure
# step follows the surface through the rest.
DEFAULT_LIPSCHITZ = 2.0
# 16 fine cells per coarse block: a 17^3 first grid at resolution 256.
DEFAULT_COARSE_BLOCK = 16

# What a fine node holds (the ``state`` array): nothing yet, an exact value, a stand-in, or
# nothing exact yet but wanted by the next evaluation.
_UNSET, _EVALUATED, _BOUNDED, _QUEUED = 0, 1, 2, 3

# The bookkeeping runs as numba loops over the fine grid and the block lattices, in place: the
# numpy version's full-size temporaries (~300 MB at 256^3) cost more than the evaluations on a
# machine where fresh memory is slow to fault in.


@njit(cache=True, nogil=True)
def _queue(state, i, j, k):
    """Mark node (i, j, k) for evaluation unless it has its exact value; returns 1 if newly
    marked."""
    if state[i, j, k] == _EVALUATED or state[i, j, k] == _QUEUED:
        return 0
    state[i, j, k] = _QUEUED
    return 1


@njit(cache=True, nogil=True)
def _node_span(block, size, n_cells, corners_only):
    """range() arguments over the nodes of ``block`` along one axis: a * size .. (a + 1) * size
    clipped to the grid, every node or only the two ends."""
    start = block * size
    stop = min(start + size, n_cells)
    step = max(1, stop - start) if corners_only else 1
    return start, stop + 1, step


@njit(cache=True, nogil=True)
def _queue_block_nodes(state, blocks, size, corners_only):
    """Queue the nodes of the blocks of ``size`` cells at (n, 3) block coordinates ``blocks``:
    their 8 corners, or every node, far faces included; returns how many were newly queued."""
    n_cells = state.shape[0] - 1
    count = 0
    for n in range(blocks.shape[0]):
        i0, i1, di = _node_span(blocks[n, 0], size, n_cells, corners_only)
        j0, j1, dj = _node_span(blocks[n, 1], size, n_cells, corners_only)
        k0, k1, dk = _node_span(blocks[n, 2], size, n_cells, corners_only)
        for i in range(i0, i1, di):
            for j in range(j0, j1, dj):
                for k in range(k0, k1, dk):
                    count += _queue(state, i, j, k)
    return count


@njit(cache=True, nogil=True)
def _queued_nodes(state, count):
    """Flat indices (count,) int64 of the queued nodes, in increasing order."""
    flat = state.reshape(-1)
    out = np.empty(count, dtype=np.int64)
    n = 0
    for index in range(flat.size):
        if flat[index] == _QUEUED:
            out[n] = index
            n += 1
    return out[:n]


@njit(cache=True, nogil=True)
def _owned_range(block, size, n_blocks, resolution):
    """Fine nodes [start, stop) owned by ``block`` (node i belongs to block i // size; the last
    block also owns the last node)."""
    start = block * size
    stop = resolution if block == n_blocks - 1 else start + size
    return start, stop


@njit(cache=True, nogil=True)
def _bound_block(grid, state, a, b, c, size, n_blocks, value):
    """Stand-in ``value`` for every node owned by block (a, b, c) that has no exact value."""
    resolution = grid.shape[0]
    i0, i1 = _owned_range(a, size, n_blocks, resolution)
    j0, j1 = _owned_range(b, size, n_blocks, resolution)
    k0, k1 = _owned_range(c, size, n_blocks, resolution)
    for i in range(i0, i1):
        for j in range(j0, j1):
            for k in range(k0, k1):
                if state[i, j, k] != _EVALUATED:
                    grid[i, j, k] = value
                    state[i, j, k] = _BOUNDED


@njit(cache=True, nogil=True)
def _refine_blocks(grid, state, blocks, size, n_blocks, level, margin):
    """Apply the rule to the candidate blocks (n, 3) of ``size`` cells, whose corners are
    evaluated: returns which are active, (n,) bool; every inactive one gets stand-ins."""
    n_cells = grid.shape[0] - 1
    active = np.zeros(blocks.shape[0], dtype=np.bool_)
    for n in range(blocks.shape[0]):
        a, b, c = blocks[n, 0], blocks[n, 1], blocks[n, 2]
        all_above = True
        all_below = True
        nearest = np.inf
        for i in (min(a * size, n_cells), min((a + 1) * size, n_cells)):
            for j in (min(b * size, n_cells), min((b + 1) * size, n_cells)):
                for k in (min(c * size, n_cells), min((c + 1) * size, n_cells)):
                    v = grid[i, j, k] - level
                    all_above = all_above and v > 0
                    all_below = all_below and v < 0
                    nearest = min(nearest, abs(v))
        if (not all_above and not all_below) or nearest <= margin:
            active[n] = True
        else:
            value = np.float32(level + 1.0 if all_above else level - 1.0)
            _bound_block(grid, state, a, b, c, size, n_blocks, value)
    return active


def _children(blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """(m, 3) coordinates of the children of (n, 3) blocks at half the size, ``n_blocks`` per
    axis (block a's children are 2a and 2a + 1; the last may have only the first)."""
    offsets = np.array(list(np.ndindex(2, 2, 2)), dtype=np.int64)
    children = (2 * blocks[:, None, :] + offsets[None]).reshape(-1, 3)
    return children[(children < n_blocks).all(axis=1)]


@njit(cache=True, nogil=True)
def _plane_flags(grid, state, i, level, out):
    """Per node of plane i: bit 0 above the level, bit 1 below, bit 2 evaluated."""
    for j in range(grid.shape[1]):
        for k in range(grid.shape[2]):
            v = grid[i, j, k]
            out[j, k] = (
                np.uint8(v > level)
                | (np.uint8(v < level) << 1)
                | (np.uint8(state[i, j, k] == _EVALUATED) << 2)
            )


@njit(cache=True, nogil=True)
def _queue_unclosed_cells(grid, state, level):
    """Queue the corners of every cell that is not strictly on one side of ``level`` and has a
    corner without its exact value (a value equal to the level counts as both sides, whatever
    marching cubes makes of it); returns (cells found, nodes queued)."""
    resolution = grid.shape[0]
    low = np.empty((resolution, resolution), dtype=np.uint8)
    high = np.empty((resolution, resolution), dtype=np.uint8)
    row = np.empty(resolution - 1, dtype=np.uint8)
    _plane_flags(grid, state, 0, level, high)
    n_cells = n_queued = 0
    for i in range(resolution - 1):
        low, high = high, low
        _plane_flags(grid, state, i + 1, level, high)
        for j in range(resolution - 1):
            # A cell is closed when the AND of its corners' flags keeps a bit (branch-free).
            for k in range(resolution - 1):
                row[k] = (
                    low[j, k]
                    & low[j, k + 1]
                    & low[j + 1, k]
                    & low[j + 1, k + 1]
                    & high[j, k]
                    & high[j, k + 1]
                    & high[j + 1, k]
                    & high[j + 1, k + 1]
                )
            for k in range(resolution - 1):
                if row[k] == 0:
                    n_cells += 1
                    for di in range(2):
                        for dj in range(2):
                            for dk in range(2):
                                n_queued += _queue(state, i + di, j + dj, k + dk)
    return n_cells, n_queued


@njit(cache=True, nogil=True)
def _evaluated_summary(grid, state):
    """Number of evaluated nodes, their smallest and largest value, and the number of nodes
    left neither evaluated nor bounded."""
    flat_grid = grid.reshape(-1)
    flat_state = state.reshape(-1)
    count = 0
    unset = 0
    low = np.inf
    high = -np.inf
    for index in range(flat_state.size):
        s = flat_state[index]
        if s == _EVALUATED:
            count += 1
            low = min(low, flat_grid[index])
            high = max(high, flat_grid[index])
        elif s != _BOUNDED:
            unset += 1
    return count, low, high, unset


def _evaluate_queued(
    sdf_fn: Callable[[np.ndarray], np.ndarray],
    grid: np.ndarray,
    state: np.ndarray,
    count: int,
    axis: np.ndarray,
    batch_size: int,
) -> int:
    """Evaluate ``sdf_fn`` at the ``count`` queued nodes, in flat order; returns ``count``."""
    flat = _queued_nodes(state, count)
    grid_flat, state_flat = grid.reshape(-1), state.reshape(-1)
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        i, j, k = np.unravel_index(chunk, grid.shape)
        points = np.stack([axis[i], axis[j], axis[k]], axis=1).astype(np.float32)
        values = np.asarray(sdf_fn(points), dtype=np.float32).reshape(-1)
        if values.shape[0] != len(chunk):
            raise ValueError(f"sdf_fn returned {values.shape[0]} values for {len(chunk)} points")
        n_bad = int(np.count_nonzero(~np.isfinite(values)))
        if n_bad:
            raise ValueError(f"sdf_fn returned {n_bad} non-finite values on the grid")
        grid_flat[chunk] = values
        state_flat[chunk] = _EVALUATED
    return len(flat)


def evaluate_narrow_band(
    sdf_fn: Callable[[np.ndarray], np.ndarray],
    resolution: int,
    bound: float = 1.0,
    batch_size: int = schema_default("evaluate", "batch_size"),
    level: float = 0.0,
    lipschitz: float = DEFAULT_LIPSCHITZ,
    coarse_block: int = DEFAULT_COARSE_BLOCK,
) -> BandedGrid:
    """The grid of :func:`neusdf.evaluation.extraction.evaluate_grid`, exact near the level set.

    Parameters
    ----------
    sdf_fn : callable
        (M, 3) float32 points, normalized units -> (M,) values, normalized units.
    resolution : int
        Grid nodes per axis (>= 2), over [-bound, bound]^3 as in ``evaluate_grid``.
    bound : float
        Half-width of the cube, normalized units.
    batch_size : int
        Points per call of ``sdf_fn``.
    level : float
        The iso-value that marching cubes will extract.
    lipschitz : float
        Assumed bound L on |f(x) - f(y)| / |x - y| (> 0); see the module docstring.
    coarse_block : int
        Fine cells per edge of the first blocks; a power of two.

    Returns
    -------
    BandedGrid
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not lipschitz > 0:
        raise ValueError(f"lipschitz must be positive, got {lipschitz}")
    if coarse_block < 1 or coarse_block & (coarse_block - 1):
        raise ValueError(f"coarse_block must be a power of two, got {coarse_block}")
    n_cells = resolution - 1
    shape = (resolution,) * 3
    axis = np.linspace(-bound, bound, resolution, dtype=np.float64)
    h = 2.0 * bound / n_cells
    level = float(level)
    grid = np.empty(shape, dtype=np.float32)  # every node gets a value: exact or a stand-in
    state = np.full(shape, _UNSET, dtype=np.uint8)

    size = min(coarse_block, 1 << max(0, math.ceil(math.log2(n_cells))))
    n_blocks = -(-n_cells // size)
    # (n, 3) coordinates of the candidate blocks (single cells: every node, below).
    blocks = np.argwhere(np.ones((n_blocks,) * 3, dtype=bool)) if size > 1 else None
    while size > 1:
        queued = _queue_block_nodes(state, blocks, size, True)
        _evaluate_queued(sdf_fn, grid, state, queued, axis, batch_size)
        margin = lipschitz * math.sqrt(3) / 2 * size * h
        blocks = blocks[_refine_blocks(grid, state, blocks, size, n_blocks, level, margin)]
        if size == 2:
            break
        size //= 2
        n_blocks = -(-n_cells // size)
        blocks = _children(blocks, n_blocks)
    # Cells of the active 2-blocks (or every cell): evaluate all their corners.
    if size == 1:
        state[...] = _QUEUED
        queued = state.size
    else:
        queued = _queue_block_nodes(state, blocks, size, False)
    _evaluate_queued(sdf_fn, grid, state, queued, axis, batch_size)
    missing = _evaluated_summary(grid, state)[3]
    if missing:  # a bug, not a property of the field: every node is evaluated or bounded
        raise AssertionError(f"{missing} grid nodes were neither evaluated nor bounded")

    rounds = added = 0
    while True:
        n_unclosed, queued = _queue_unclosed_cells(grid, state, level)
        if not n_unclosed:
            break
        rounds += 1
        added += _evaluate_queued(sdf_fn, grid, state, queued, axis, batch_size)
    n_evaluated, sdf_min, sdf_max, _ = _evaluated_summary(grid, state)
    stats = {
        "evaluated": int(n_evaluated),
        "fraction": n_evaluated / grid.size,
        "closure_rounds": rounds,
        "closure_nodes": added,
        "sdf_min": float(sdf_min),
        "sdf_max": float(sdf_max),
    }
    evaluated = state == _EVALUATED
    return BandedGrid(grid, evaluated, stats)
