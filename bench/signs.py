"""How wrong are the inside tests, and the raw pysdf distance, on real meshes? And how fast?

Three tables, printed as Markdown (docs/groundtruth.md quotes them):

1. Signs. Each case has its own truth:
   - closed meshes opened on purpose (random 1% / 5% of faces deleted): the signs of the closed
     original (exact winding number of a closed surface, = parity);
   - ``multibody`` (closed, one body inside-out): ray parity of the closed mesh;
   - ``bunny``, ``teapot`` (open, no closed original exists): the brute-force winding number of
     the mesh itself, so only parity and the fast winding approximation can be judged.
   Columns: percent of points whose inside/outside differs from the truth, for ray parity,
   the fast (tree) winding number and the brute-force winding number, all points and points
   farther than 0.02 from the surface.
2. Distance: raw pysdf against the exact brute force (max / mean absolute error), CAD meshes.
3. Speed: points per second of each engine and inside test on a ~5k-face mesh.

Points: 10k near-surface (area-uniform + N(0, 0.01) per axis) and 10k uniform in [-1, 1]^3,
in the normalized frame (longest half-extent 0.9). Deterministic (fixed seeds).

Usage::

    python bench/signs.py              # ~1-2 minutes on 2 cores (the first run also compiles)
    python bench/signs.py --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from neusdf import groundtruth as gt
from neusdf.mesh.load import load_mesh, normalize_mesh
from neusdf.mesh.points import sample_near_surface

MESHES = Path(__file__).resolve().parent.parent.parent / "shared" / "meshes"
N_NEAR = 10_000
N_UNIFORM = 10_000
NEAR_STD = 0.01
FAR = 0.02  # "away from the surface": exact unsigned distance above this


def load_normalized(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float64 vertices and (F, 3) int64 faces of a shared mesh, normalized frame."""
    mesh, _ = normalize_mesh(load_mesh(MESHES / name))
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def query_points(vertices: np.ndarray, faces: np.ndarray, seed: int) -> np.ndarray:
    """(N_NEAR + N_UNIFORM, 3) float32: near-surface then uniform points."""
    near = sample_near_surface(vertices, faces, N_NEAR, NEAR_STD, seed)
    uniform = np.random.default_rng(seed + 1).uniform(-1.0, 1.0, (N_UNIFORM, 3))
    return np.concatenate([near, uniform]).astype(np.float32)


def drop_faces(faces: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Faces with a random ``fraction`` of them removed (at least one)."""
    rng = np.random.default_rng(seed)
    n_drop = max(1, round(fraction * len(faces)))
    keep = np.ones(len(faces), dtype=bool)
    keep[rng.choice(len(faces), n_drop, replace=False)] = False
    return faces[keep]


def sign_row(label, truth_name, vertices, faces, points, truth_inside, threads) -> list:
    """One table row: percent sign disagreement of each inside test with ``truth_inside``."""
    distance = gt.closest_point(gt.build_tree(vertices, faces), points, threads=threads).distance
    far = distance > FAR
    parity = gt.parity_inside(vertices, faces, points, threads=threads)
    w_tree = gt.winding_number(vertices, faces, points, threads=threads)
    w_brute = gt.winding_number(vertices, faces, points, method="brute", threads=threads)
    row = [label, len(faces), truth_name]
    for inside in (parity, np.abs(w_tree) > 0.5, np.abs(w_brute) > 0.5):
        wrong = inside != truth_inside
        row += [100.0 * wrong.mean(), 100.0 * wrong[far].mean()]
    return row


def sign_table(threads: int | None) -> str:
    rows = []
    for name, short in (("trimesh__unit_sphere.STL", "sphere"), ("trimesh__torus.STL", "torus")):
        vertices, faces = load_normalized(name)
        points = query_points(vertices, faces, seed=1)
        truth = np.abs(gt.winding_number(vertices, faces, points, method="brute")) > 0.5
        for fraction in (0.01, 0.05):
            opened = drop_faces(faces, fraction, seed=2)
            label = f"{short} -{fraction:.0%} faces"
            rows.append(
                sign_row(label, "closed original", vertices, opened, points, truth, threads)
            )
    vertices, faces = load_normalized("trimesh__multibody.stl")
    points = query_points(vertices, faces, seed=1)
    truth = gt.parity_inside(vertices, faces, points)
    rows.append(sign_row("multibody", "parity (closed)", vertices, faces, points, truth, threads))
    # The signed test (w > 0.5) is what fails on an inside-out body; show it once.
    w = gt.winding_number(vertices, faces, points, threads=threads)
    signed_wrong = 100.0 * np.mean((w > 0.5) != truth)
    for name, short in (("trimesh__bunny.ply", "bunny"), ("trimesh__teapot.stl", "teapot")):
        vertices, faces = load_normalized(name)
        points = query_points(vertices, faces, seed=1)
        truth = np.abs(gt.winding_number(vertices, faces, points, method="brute")) > 0.5
        rows.append(sign_row(short, "brute winding", vertices, faces, points, truth, threads))
    headers = [
        "mesh", "faces", "truth", "parity %", f"parity % (d>{FAR})", "winding %",
        f"winding % (d>{FAR})", "brute winding %", f"brute winding % (d>{FAR})",
    ]  # fmt: skip
    table = tabulate(rows, headers=headers, tablefmt="github", floatfmt=".2f")
    note = (
        f"\nmultibody with the signed test w > 0.5 (no magnitude): {signed_wrong:.2f}% wrong "
        "(the inside-out body counts as outside)."
    )
    return table + note


def distance_table(threads: int | None) -> str:
    rows = []
    names = (
        "trimesh__20mm-xyz-cube.stl", "trimesh__featuretype.STL", "trimesh__octagonal_pocket.stl",
        "c3d__spot.obj", "trimesh__unit_sphere.STL",
    )  # fmt: skip
    for name in names:
        vertices, faces = load_normalized(name)
        points = query_points(vertices, faces, seed=3)
        exact = gt.closest_point_naive(vertices, faces, points).distance
        raw = gt.pysdf_unsigned_distance(vertices, faces, points, threads=threads)
        fixed = np.abs(gt.signed_distance(vertices, faces, points, threads=threads)[0])
        for label, part in (("near", slice(0, N_NEAR)), ("uniform", slice(N_NEAR, None))):
            err = np.abs(raw[part] - exact[part])
            fixed_err = np.abs(fixed[part] - exact[part])
            rows.append(
                [name.split("__")[1], len(faces), label, err.max(), err.mean(),
                 100.0 * np.mean(err > 1e-4), 100.0 * np.mean(err > 1e-2), fixed_err.max()]
            )  # fmt: skip
    headers = [
        "mesh", "faces", "points", "raw pysdf max err", "mean err", "% err > 1e-4",
        "% err > 1e-2", "engine pysdf (verified) max err",
    ]  # fmt: skip
    return tabulate(rows, headers=headers, tablefmt="github", floatfmt=".5f")


def rate(fn, n_points: int, repeats: int = 3) -> float:
    """Points per second of ``fn()``: best of ``repeats`` runs after one warm-up."""
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_points / best


def speed_table(threads: int | None) -> str:
    vertices, faces = load_normalized("c3d__spot.obj")
    many = np.concatenate([query_points(vertices, faces, seed=s) for s in range(5)])  # 100k
    few = many[::50]  # brute force: 2k points is plenty
    tree = gt.build_tree(vertices, faces)
    runs = [
        ("pysdf distance (raw)", many,
         lambda p: gt.pysdf_unsigned_distance(vertices, faces, p, threads=threads)),
        ("exact distance, tree", many,
         lambda p: gt.closest_point(tree, p, threads=threads)),
        ("exact distance, brute force", few,
         lambda p: gt.closest_point_naive(vertices, faces, p)),
        ("parity (ray crossings)", many,
         lambda p: gt.parity_inside(vertices, faces, p, threads=threads)),
        ("winding, tree (beta=2)", many,
         lambda p: gt.winding_number(vertices, faces, p, tree=tree, threads=threads)),
        ("winding, brute force", few,
         lambda p: gt.winding_number(vertices, faces, p, method="brute", threads=threads)),
        ("signed_distance engine=pysdf sign=parity", many,
         lambda p: gt.signed_distance(vertices, faces, p, sign="parity", threads=threads)),
        ("signed_distance engine=exact sign=parity", many,
         lambda p: gt.signed_distance(vertices, faces, p, engine="exact", sign="parity",
                                      threads=threads)),
        ("signed_distance engine=exact sign=winding", many,
         lambda p: gt.signed_distance(vertices, faces, p, engine="exact", sign="winding",
                                      threads=threads)),
    ]  # fmt: skip
    rows = []
    for label, points, fn in runs:
        rows.append(
            [label, len(points), rate(lambda fn=fn, points=points: fn(points), len(points))]
        )
    build = rate(lambda: gt.build_tree(vertices, faces), 1)
    title = f"spot.obj, {len(faces)} faces; tree build {1.0 / build * 1e3:.0f} ms\n\n"
    return title + tabulate(
        rows, headers=["operation", "points", "points/s"], tablefmt="github", floatfmt=",.0f"
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all)")
    parser.add_argument("--skip-speed", action="store_true", help="only the accuracy tables")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (MESHES / "MANIFEST.csv").is_file():
        print(f"shared meshes not found at {MESHES}", file=sys.stderr)
        return 1
    print("## Signs: percent of points on the wrong side\n")
    print(sign_table(args.threads))
    print("\n## Distance: raw pysdf vs exact brute force (normalized units)\n")
    print(distance_table(args.threads))
    if not args.skip_speed:
        print("\n## Speed\n")
        print(speed_table(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
