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
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["DEFAULT_COARSE_BLOCK", "DEFAULT_LIPSCHITZ", "evaluate_narrow_band"]

# Trained hash-grid SDFs are close to 1-Lipschitz near the surface; 2 leaves a factor 2 of room
# (measured on the default meshes: see README, Extraction).
DEFAULT_LIPSCHITZ = 2.0
# 16 fine cells per coarse block: a 17^3 first grid at resolution 256.
DEFAULT_COARSE_BLOCK = 16

# Cube corner offsets (8, 3), in the order of np.ndindex((2, 2, 2)).
_CORNERS = np.array(list(np.ndindex(2, 2, 2)), dtype=np.int64)


def _evaluate_nodes(
    sdf_fn: Callable[[np.ndarray], np.ndarray],
    grid: np.ndarray,
    known: np.ndarray,
    flat: np.ndarray,
    axis: np.ndarray,
    batch_size: int,
) -> int:
    """Evaluate ``sdf_fn`` at the flat node indices ``flat`` not yet ``known``; returns how many."""
    flat = flat[~known.reshape(-1)[flat]]
    grid_flat, known_flat = grid.reshape(-1), known.reshape(-1)
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
        known_flat[chunk] = True
    return len(flat)


def _cells_to_corners(cells: np.ndarray) -> np.ndarray:
    """(n, n, n) bool cells -> (n + 1, n + 1, n + 1) bool: the corners of the marked cells."""
    n = cells.shape[0]
    nodes = np.zeros((n + 1,) * 3, dtype=bool)
    for di, dj, dk in _CORNERS:
        nodes[di : di + n, dj : dj + n, dk : dk + n] |= cells
    return nodes


def _corner_views(nodes: np.ndarray):
    """The 8 (n, n, n) views of an (n + 1)^3 node array, one per cell corner."""
    n = nodes.shape[0] - 1
    for di, dj, dk in _CORNERS:
        yield nodes[di : di + n, dj : dj + n, dk : dk + n]


def _upsample(blocks: np.ndarray, factor: int, n: int) -> np.ndarray:
    """Repeat every entry ``factor`` times along each axis, then crop or edge-pad to (n, n, n)
    (the last node of an axis belongs to the last block)."""
    out = blocks
    for ax in range(3):
        out = np.repeat(out, factor, axis=ax)
    out = out[:n, :n, :n]
    return np.pad(out, [(0, n - out.shape[0])] * 3, mode="edge")


def _all_corners(nodes: np.ndarray) -> np.ndarray:
    """(n, n, n) bool: cells whose 8 corners are all set in the (n + 1)^3 bool ``nodes``."""
    views = _corner_views(nodes)
    out = next(views).copy()
    for view in views:
        out &= view
    return out


def _unclosed_cells(above: np.ndarray, below: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(n, n, n) bool: cells not strictly on one side of the level with a corner not evaluated.

    A value equal to the level counts as both sides, whatever marching cubes makes of it.
    """
    return ~_all_corners(above) & ~_all_corners(below) & ~_all_corners(known)


def evaluate_narrow_band(
    sdf_fn: Callable[[np.ndarray], np.ndarray],
    resolution: int,
    bound: float = 1.0,
    batch_size: int = 2**18,
    level: float = 0.0,
    lipschitz: float = DEFAULT_LIPSCHITZ,
    coarse_block: int = DEFAULT_COARSE_BLOCK,
) -> tuple[np.ndarray, dict]:
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
    grid : (resolution, resolution, resolution) float32
        Exact values where evaluated; ``level + 1`` or ``level - 1`` elsewhere (the side of the
        level the refinement rule proved or assumed).
    stats : dict
        ``evaluated`` (nodes), ``fraction`` (of resolution**3), ``closure_rounds`` (rounds of
        step 3 that found unclosed cells), ``closure_nodes`` (nodes they added), ``sdf_min`` and
        ``sdf_max`` over the evaluated nodes.
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
    grid = np.full(shape, np.nan, dtype=np.float32)
    known = np.zeros(shape, dtype=bool)

    size = min(coarse_block, 1 << max(0, math.ceil(math.log2(n_cells))))
    n_blocks = -(-n_cells // size)
    candidate = np.ones((n_blocks,) * 3, dtype=bool)
    # Proven side (+1 / -1, 0: not proven) of the blocks of the current size.
    block_side = np.zeros((n_blocks,) * 3, dtype=np.int8)
    while size > 1:
        # The lattice of block corners: fine node min(a * size, n_cells) for a = 0..n_blocks.
        index = np.minimum(np.arange(n_blocks + 1) * size, n_cells)
        lattice = np.ix_(index, index, index)
        corners = np.nonzero(_cells_to_corners(candidate))
        wanted = np.ravel_multi_index(tuple(index[c] for c in corners), shape)
        _evaluate_nodes(sdf_fn, grid, known, wanted, axis, batch_size)
        values = grid[lattice] - np.float32(level)  # NaN outside the candidates' corners
        all_above = _all_corners(values > 0)
        all_below = _all_corners(values < 0)
        nearest = np.minimum.reduce([np.abs(v) for v in _corner_views(values)])
        margin = lipschitz * math.sqrt(3) / 2 * size * h
        active = candidate & ((~all_above & ~all_below) | (nearest <= margin))
        # Inactive blocks: all their nodes are on their corners' side (node i is in block i // B).
        inactive = candidate & ~active
        block_side[inactive] = np.where(all_above[inactive], 1, -1)
        size //= 2
        n_blocks = -(-n_cells // size)
        candidate = _upsample(active, 2, n_blocks)
        block_side = _upsample(block_side, 2, n_blocks)
    # Cells (size 1) of active 2-blocks: evaluate all their corners.
    wanted = np.flatnonzero(_cells_to_corners(candidate))
    _evaluate_nodes(sdf_fn, grid, known, wanted, axis, batch_size)
    side = _upsample(block_side, 1, resolution)  # +1 / -1: proven side of a node, 0: none
    # Stand-ins written into the grid itself (no second float grid: peak memory).
    np.copyto(grid, np.float32(level) + side.astype(np.float32), where=~known)

    rounds = added = 0
    while True:
        unclosed = _unclosed_cells(grid > level, grid < level, known)
        if not unclosed.any():
            break
        rounds += 1
        wanted = np.flatnonzero(_cells_to_corners(unclosed))
        added += _evaluate_nodes(sdf_fn, grid, known, wanted, axis, batch_size)
    missing = int(np.count_nonzero(~known & (side == 0)))
    if missing:  # a bug, not a property of the field: every node is evaluated or proven
        raise AssertionError(f"{missing} grid nodes were neither evaluated nor bounded")
    evaluated = int(np.count_nonzero(known))
    values = grid[known]
    stats = {
        "evaluated": evaluated,
        "fraction": evaluated / grid.size,
        "closure_rounds": rounds,
        "closure_nodes": added,
        "sdf_min": float(values.min()),
        "sdf_max": float(values.max()),
    }
    return grid, stats
