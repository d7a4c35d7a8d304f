"""Narrow-band vs dense extraction on trained checkpoints: time, evaluations, same mesh, and the
Lipschitz margin each model actually needs.

Run: ``python bench/extraction.py results/models/hashgrid/*.pt [--resolution 256]``. For every
checkpoint it evaluates the dense grid once, then per block size B of the narrow-band rule the
largest ``min |corner value| / (sqrt(3) / 2 * B * h)`` over blocks that hold a sign change of the
dense grid: the smallest ``lipschitz`` for which the margin alone finds every such block (the
closure step covers more). Times are CPU seconds of this process (``time.process_time``), which
are less disturbed by other jobs on a shared machine than wall seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from neusdf.evaluation.extraction import evaluate_grid, extract_zero_level_set
from neusdf.evaluation.narrowband import DEFAULT_COARSE_BLOCK, DEFAULT_LIPSCHITZ
from neusdf.nn.field import load_field


def sign_change_cells(grid: np.ndarray) -> np.ndarray:
    """(n, n, n) bool: cells of a dense grid whose corners are not all > 0 or all < 0."""
    r = grid.shape[0]
    above, below = grid > 0, grid < 0
    all_above, all_below = above[:-1, :-1, :-1].copy(), below[:-1, :-1, :-1].copy()
    for di, dj, dk in np.ndindex(2, 2, 2):
        view = (slice(di, r - 1 + di), slice(dj, r - 1 + dj), slice(dk, r - 1 + dk))
        all_above &= above[view]
        all_below &= below[view]
    return ~all_above & ~all_below


def needed_lipschitz(grid: np.ndarray, block: int) -> float:
    """Smallest L whose margin alone marks every block of ``block`` cells that holds a sign
    change of the dense grid and whose corners do not straddle zero."""
    n = grid.shape[0] - 1
    h = 2.0 / n
    changes = sign_change_cells(grid)
    n_blocks = -(-n // block)
    pad = n_blocks * block - n
    pooled = np.pad(changes, [(0, pad)] * 3).reshape((n_blocks, block) * 3).any(axis=(1, 3, 5))
    index = np.minimum(np.arange(n_blocks + 1) * block, n)
    lattice = grid[np.ix_(index, index, index)]
    views = [
        lattice[i : i + n_blocks, j : j + n_blocks, k : k + n_blocks]
        for i, j, k in np.ndindex(2, 2, 2)
    ]
    straddle = ~np.logical_and.reduce([v > 0 for v in views]) & ~np.logical_and.reduce(
        [v < 0 for v in views]
    )
    nearest = np.minimum.reduce([np.abs(v) for v in views])
    hidden = pooled & ~straddle
    if not hidden.any():
        return 0.0
    return float(nearest[hidden].max() / (math.sqrt(3) / 2 * block * h))


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(
        "| object | dense CPU s | band CPU s | ratio | evaluated | closure nodes | same mesh "
        "| faces | L needed (B=16/8/4/2) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    for path in args.checkpoints:
        sdf_fn = load_field(path, threads=args.threads)
        start = time.process_time()
        dense = extract_zero_level_set(sdf_fn, args.resolution, method="dense")
        dense_s = time.process_time() - start
        start = time.process_time()
        band = extract_zero_level_set(sdf_fn, args.resolution)
        band_s = time.process_time() - start
        info = band.metadata["extraction"]
        same = np.array_equal(dense.faces, band.faces) and np.array_equal(
            dense.vertices, band.vertices
        )
        grid = evaluate_grid(sdf_fn, args.resolution)
        needed = [needed_lipschitz(grid, b) for b in (16, 8, 4, 2)]
        print(
            f"| {path.stem} | {dense_s:.2f} | {band_s:.2f} | {dense_s / band_s:.1f}x | "
            f"{info['evaluated_fraction']:.3f} | {info.get('closure_nodes', 0)} | {same} | "
            f"{len(band.faces)} | {' / '.join(f'{x:.2f}' for x in needed)} |",
            flush=True,
        )
    print(
        f"\nnarrow band: lipschitz {DEFAULT_LIPSCHITZ}, coarse block {DEFAULT_COARSE_BLOCK}, "
        f"{args.threads} threads",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
