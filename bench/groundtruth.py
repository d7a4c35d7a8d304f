"""Ground truth side by side: neusdf's GroundTruth against every peer engine that installs.

Sections (Markdown tables on stdout; progress on stderr):

1. ``engines``: on the meshes of data/raw, ../shared/meshes and one generated mesh of >= 100k
   faces (spot, midpoint-subdivided three times), every engine gets the same points (near-surface:
   area-uniform + N(0, 0.01) per axis; uniform in [-1, 1]^3; normalized frame, float32) and the
   same thread count. Per mesh and engine: setup seconds (separate), million points per second
   on each kind, the largest distance error against the brute-force closest point
   (``closest_point_naive``) and the share of points whose inside/outside differs from the exact
   generalized winding number (brute force, |w| > 0.5), both on the first ``--check`` points of
   each kind. A summary per engine follows, closed (and consistently oriented) meshes apart from
   open or defective ones, with speed ratios to Open3D.
2. ``size``: the cost of our ground truth against mesh size: a torus tessellated into ~1k, 10k,
   100k and 1M faces; setup seconds and microseconds per point (log(faces) growth per point,
   a linear build).
3. ``jobs`` (with ``--repo OLD``): the real sample job (``sample_object`` in a fresh process, as
   the Snakemake job runs it) of this checkout and of ``OLD`` on the same normalized meshes:
   wall seconds side by side, and how many distances and signs of the written files differ.

Peers (bench-only dependencies, requirements/bench.txt; a missing one is reported and
skipped): pysdf (its own signed distance), Open3D ``RaycastingScene.compute_signed_distance``
(Embree, ray parity), libigl ``signed_distance`` (pseudonormal, exact and fast winding number),
NVIDIA Warp mesh queries on the CPU (normal, winding number, parity signs) and
point-cloud-utils ``signed_distance_to_mesh`` (fast winding number). An engine whose rate on a
first block predicts more than ``--budget`` seconds for a point set runs on a prefix only
(marked ``*``). Deterministic points (fixed seeds).

Usage::

    python bench/groundtruth.py                        # everything, ~20 min on 2 cores
    python bench/groundtruth.py --small                # 20k points, small meshes: seconds
    python bench/groundtruth.py --sections jobs --repo /tmp/old-main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "meshes"
SECTIONS = ("engines", "size", "jobs")
NEAR_STD = 0.01
# The generated large mesh: spot, each triangle split into four, three times (374,784 faces).
BIG_MESH = "c3d__spot.obj"
BIG_SUBDIVISIONS = 3
# Torus tessellations of the size sweep: (major, minor) sections, 2 * major * minor faces.
SIZES = ((32, 16), (100, 50), (316, 158), (1000, 500))

JOB = """
import json, sys, time
start = time.perf_counter()
from neusdf.threads import set_threads
set_threads(int(sys.argv[5]), torch_too=False)
from neusdf.pipeline.sample import sample_object
sample_object(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), 0, int(sys.argv[5]))
print(time.perf_counter() - start)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- meshes and points


def mesh_files(folders: list[Path]) -> list[Path]:
    """The mesh files of ``folders`` (those that exist), sorted within each."""
    from neusdf.mesh.formats import SUPPORTED_EXTENSIONS

    return [
        p
        for folder in folders
        if folder.is_dir()
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in SUPPORTED_EXTENSIONS
    ]


def normalized(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float64 vertices and (F, 3) int64 faces, cleaned and normalized as the pipeline
    does."""
    from neusdf.mesh.load import load_mesh, normalize_mesh

    mesh, _ = normalize_mesh(load_mesh(path))
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def subdivided(vertices: np.ndarray, faces: np.ndarray, times: int):
    """Midpoint subdivision, ``times`` times: the same shape with 4^times as many faces."""
    import trimesh

    for _ in range(times):
        vertices, faces = trimesh.remesh.subdivide(vertices, faces)
    return np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)


def torus(major: int, minor: int) -> tuple[np.ndarray, np.ndarray]:
    """A torus of 2 * major * minor faces in the normalized frame."""
    import trimesh

    mesh = trimesh.creation.torus(0.6, 0.25, major_sections=major, minor_sections=minor)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def query_points(vertices, faces, n: int, seed: int) -> dict[str, np.ndarray]:
    """{"near", "uniform"}: (n, 3) float32 each, as the sample job draws them."""
    from neusdf.mesh.points import sample_near_surface, sample_volume

    return {
        "near": sample_near_surface(vertices, faces, n, NEAR_STD, seed),
        "uniform": sample_volume(n, seed + 1),
    }


# --------------------------------------------------------------------------- engines

Engine = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


def neusdf_engine(**options) -> Engine:
    def setup(vertices, faces, threads):
        from neusdf.groundtruth import GroundTruth

        truth = GroundTruth(vertices, faces, threads=threads, **options)
        return lambda points: truth(points).astype(np.float64)

    return setup


def pysdf_engine(vertices, faces, threads):
    import pysdf

    sdf = pysdf.SDF(vertices.astype(np.float32), faces.astype(np.uint32))
    return lambda points: -np.asarray(sdf(points, n_threads=threads), dtype=np.float64)


def open3d_engine(vertices, faces, threads):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(vertices.astype(np.float32)), o3d.core.Tensor(faces.astype(np.uint32))
    )

    def query(points):
        result = scene.compute_signed_distance(o3d.core.Tensor(points), nthreads=threads)
        return result.numpy().astype(np.float64)

    return query


def igl_engine(sign_type: str) -> Engine:
    def setup(vertices, faces, threads):
        import igl

        kind = getattr(igl, f"SIGNED_DISTANCE_TYPE_{sign_type}")
        return lambda points: igl.signed_distance(
            points.astype(np.float64), vertices, faces, sign_type=kind
        )[0]

    return setup


_WARP_KERNEL = None


def warp_engine(mode: int) -> Engine:
    def setup(vertices, faces, threads):
        import warp as wp

        global _WARP_KERNEL
        if _WARP_KERNEL is None:
            wp.config.quiet = True
            wp.init()

            @wp.kernel
            def signed(
                mesh: wp.uint64, points: wp.array(dtype=wp.vec3), out: wp.array(dtype=float),
                mode: int,
            ):  # fmt: skip
                i = wp.tid()
                p = points[i]
                if mode == 0:
                    q = wp.mesh_query_point_sign_normal(mesh, p, 1.0e6)
                elif mode == 1:
                    q = wp.mesh_query_point_sign_winding_number(mesh, p, 1.0e6, 2.0, 0.5)
                else:
                    q = wp.mesh_query_point_sign_parity(mesh, p, 1.0e6)
                c = wp.mesh_eval_position(mesh, q.face, q.u, q.v)
                out[i] = q.sign * wp.length(p - c)

            _WARP_KERNEL = signed
        mesh = wp.Mesh(
            points=wp.array(vertices.astype(np.float32), dtype=wp.vec3, device="cpu"),
            indices=wp.array(faces.astype(np.int32).ravel(), dtype=int, device="cpu"),
        )

        def query(points):
            p = wp.array(points, dtype=wp.vec3, device="cpu")
            out = wp.zeros(len(points), dtype=float, device="cpu")
            wp.launch(_WARP_KERNEL, dim=len(points), inputs=[mesh.id, p, out, mode], device="cpu")
            wp.synchronize()
            return out.numpy().astype(np.float64)

        query(np.zeros((1, 3), np.float32))  # compiles the kernel once, outside the timings
        return query

    return setup


def pcu_engine(vertices, faces, threads):
    import point_cloud_utils as pcu

    return lambda points: np.asarray(
        pcu.signed_distance_to_mesh(points.astype(np.float64), vertices, faces.astype(np.int32))[0],
        dtype=np.float64,
    )


def engines() -> dict[str, tuple[Engine, str]]:
    """name -> (setup, module that must import)."""
    return {
        "neusdf (exact, auto)": (neusdf_engine(engine="exact", sign="auto"), "neusdf"),
        "neusdf (engine pysdf)": (neusdf_engine(engine="pysdf", sign="auto"), "pysdf"),
        "pysdf": (pysdf_engine, "pysdf"),
        "Open3D": (open3d_engine, "open3d"),
        "libigl pseudonormal": (igl_engine("PSEUDONORMAL"), "igl"),
        "libigl winding number": (igl_engine("WINDING_NUMBER"), "igl"),
        "libigl fast winding number": (igl_engine("FAST_WINDING_NUMBER"), "igl"),
        "Warp normal (CPU)": (warp_engine(0), "warp"),
        "Warp winding number (CPU)": (warp_engine(1), "warp"),
        "Warp parity (CPU)": (warp_engine(2), "warp"),
        "point-cloud-utils": (pcu_engine, "point_cloud_utils"),
    }


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- measurements


def timed_run(
    query, points: np.ndarray, budget: float, block: int
) -> tuple[np.ndarray, float, bool]:
    """(results of the points run, points per second, whether only a prefix ran). A first block
    estimates the rate; when the whole set would take longer than ``budget`` seconds, only as
    many points as fit run."""
    start = time.perf_counter()
    first = query(points[:block])
    seconds = time.perf_counter() - start
    rate = block / max(seconds, 1e-9)
    rest = points[block:]
    if len(rest) / rate > budget:
        rest = rest[: max(0, int(rate * budget) - block)]
    start = time.perf_counter()
    tail = query(rest) if len(rest) else np.empty(0)
    seconds = time.perf_counter() - start
    if len(rest):
        rate = len(rest) / max(seconds, 1e-9)
    return np.concatenate([first, tail]), rate, len(first) + len(tail) < len(points)


def references(vertices, faces, points: dict, n_check: int, threads: int) -> dict:
    """Brute-force distance and inside (|w| > 0.5 of the exact winding number) of the first
    ``n_check`` points of each kind."""
    from neusdf import groundtruth as gt

    out = {}
    for kind, p in points.items():
        sub = p[:n_check]
        distance = gt.closest_point_naive(vertices, faces, sub).distance
        w = gt.winding_number(vertices, faces, sub, method="brute", threads=threads)
        out[kind] = (distance, np.abs(w) > 0.5)
    return out


def mesh_group(faces: np.ndarray) -> str:
    """ "closed" (and consistently oriented), "watertight, not oriented" or "open"."""
    from neusdf.groundtruth import is_closed, is_closed_oriented

    if is_closed_oriented(faces):
        return "closed"
    return "watertight, not oriented" if is_closed(faces) else "open"


def engine_rows(name, vertices, faces, points, refs, args, rows) -> None:
    group = mesh_group(faces)
    for engine, (setup, module) in engines().items():
        if not installed(module):
            continue
        try:
            start = time.perf_counter()
            query = setup(vertices, faces, args.threads)
            setup_s = time.perf_counter() - start
            row = {"mesh": name, "faces": len(faces), "group": group, "engine": engine}
            row["setup_s"] = setup_s
            for kind, p in points.items():
                sdf, rate, partial = timed_run(query, p, args.budget, args.block)
                distance, inside = refs[kind]
                n = len(distance)
                row[f"{kind}_mpts"] = rate / 1e6
                row[f"{kind}_partial"] = partial
                row[f"{kind}_err"] = float(np.abs(np.abs(sdf[:n]) - distance).max())
                row[f"{kind}_wrong"] = float(100.0 * np.mean((sdf[:n] < 0) != inside))
            rows.append(row)
            log(
                f"  {engine}: setup {setup_s:.2f} s, near {row['near_mpts']:.2f} / uniform "
                f"{row['uniform_mpts']:.2f} M/s, sign wrong {row['near_wrong']:.2f} / "
                f"{row['uniform_wrong']:.2f} %"
            )
        except Exception as exc:  # a peer that fails on a mesh: reported, the others go on
            log(f"  {engine}: failed on {name}: {type(exc).__name__}: {exc}")


def engine_section(args) -> list[dict]:
    from neusdf.errors import MeshError
    from neusdf.threads import set_threads

    set_threads(args.threads, torch_too=False)
    meshes = [(p.name, lambda p=p: normalized(p)) for p in mesh_files(args.meshes)]
    if not args.small and (SHARED / BIG_MESH).is_file():
        big = f"{Path(BIG_MESH).stem} x{4**BIG_SUBDIVISIONS}"
        meshes.append((big, lambda: subdivided(*normalized(SHARED / BIG_MESH), BIG_SUBDIVISIONS)))
    rows: list[dict] = []
    for name, load in meshes:
        vertices, faces = load()
        from neusdf.groundtruth import encloses_volume

        if not encloses_volume(vertices, faces):
            log(f"{name}: encloses no volume, no signed distance: skipped")
            continue
        log(f"{name}: {len(faces)} faces")
        points = query_points(vertices, faces, args.points, seed=1)
        try:
            refs = references(vertices, faces, points, args.check, args.threads)
        except MeshError as exc:
            log(f"{name}: {exc}")
            continue
        engine_rows(name, vertices, faces, points, refs, args, rows)
    return rows


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def engine_tables(rows: list[dict]) -> str:
    lines = [
        "| mesh | faces | kind | engine | setup s | near M pts/s | uniform M pts/s "
        "| max dist err | sign wrong near % | sign wrong uniform % |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        near = fmt(r["near_mpts"]) + ("*" if r["near_partial"] else "")
        uniform = fmt(r["uniform_mpts"]) + ("*" if r["uniform_partial"] else "")
        err = max(r["near_err"], r["uniform_err"])
        lines.append(
            f"| {r['mesh']} | {r['faces']} | {r['group']} | {r['engine']} "
            f"| {fmt(r['setup_s'])} | {near} | {uniform} | {err:.1e} | {fmt(r['near_wrong'])} "
            f"| {fmt(r['uniform_wrong'])} |"
        )
    return "\n".join(lines) + "\n\n" + summary_table(rows)


def summary_table(rows: list[dict]) -> str:
    """Per engine and mesh group: median rates, their ratio to Open3D's median, worst errors."""
    lines = [
        "| meshes | engine | median near M pts/s | median uniform M pts/s | vs Open3D near "
        "| vs Open3D uniform | median setup s | max dist err | sign wrong near % "
        "| sign wrong uniform % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in ("closed", "watertight, not oriented", "open"):
        group = [r for r in rows if r["group"] == label]
        names = list(dict.fromkeys(r["engine"] for r in group))

        def median(engine: str, key: str, group=group) -> float:
            values = [r[key] for r in group if r["engine"] == engine]
            return statistics.median(values) if values else float("nan")

        for engine in names:
            mine = [r for r in group if r["engine"] == engine]
            near, uniform = median(engine, "near_mpts"), median(engine, "uniform_mpts")
            o3d_near, o3d_uniform = median("Open3D", "near_mpts"), median("Open3D", "uniform_mpts")
            err = max(max(r["near_err"], r["uniform_err"]) for r in mine)
            wrong_near = 100.0 * np.mean([r["near_wrong"] / 100.0 for r in mine])
            wrong_uniform = 100.0 * np.mean([r["uniform_wrong"] / 100.0 for r in mine])
            lines.append(
                f"| {label} ({len(mine)}) | {engine} | {fmt(near)} | {fmt(uniform)} "
                f"| {fmt(near / o3d_near)}x | {fmt(uniform / o3d_uniform)}x "
                f"| {fmt(median(engine, 'setup_s'))} | {err:.1e} | {wrong_near:.3f} "
                f"| {wrong_uniform:.3f} |"
            )
    return "\n".join(lines)


def size_section(args) -> str:
    from neusdf.groundtruth import GroundTruth
    from neusdf.threads import set_threads

    set_threads(args.threads, torch_too=False)
    lines = [
        "| faces | setup s | near us/pt | uniform us/pt | near us/pt / log2(faces) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for major, minor in SIZES[:2] if args.small else SIZES:
        vertices, faces = torus(major, minor)
        points = query_points(vertices, faces, args.points, seed=3)
        start = time.perf_counter()
        truth = GroundTruth(vertices, faces, threads=args.threads)
        setup = time.perf_counter() - start
        per_point = {}
        for kind, p in points.items():
            start = time.perf_counter()
            truth(p)
            per_point[kind] = 1e6 * (time.perf_counter() - start) / len(p)
        lines.append(
            f"| {len(faces)} | {fmt(setup)} | {fmt(per_point['near'], 3)} "
            f"| {fmt(per_point['uniform'], 3)} | {per_point['near'] / np.log2(len(faces)):.4f} |"
        )
        log(lines[-1])
    return "\n".join(lines)


# --------------------------------------------------------------------------- sample jobs


def run_job(repo: Path, mesh: Path, meta: Path, out: Path, cfg: dict, threads: int) -> float:
    """Wall seconds of one sample job of ``repo`` (fresh process, imports included)."""
    env = dict(os.environ, PYTHONPATH=str(repo / "src"), OMP_WAIT_POLICY="PASSIVE")
    argv = [sys.executable, "-c", JOB, str(mesh), str(meta), str(out), json.dumps(cfg)]
    start = time.perf_counter()
    proc = subprocess.run([*argv, str(threads)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return seconds


def compare_samples(new: Path, old: Path, mesh: Path) -> dict:
    """How two sample files of one mesh differ: points whose float32 SDF differs bitwise
    (``differ``), points whose sign differs (``signs``) and, of those, how many signs of the
    new file agree with the exact winding number (brute force, ``new_right``), the largest
    change of the distance (``largest``) and the number of points (``total``)."""
    import h5py

    from neusdf import groundtruth as gt
    from neusdf.mesh.ply import read_ply

    out = {"differ": 0, "signs": 0, "new_right": 0, "largest": 0.0, "total": 0}
    changed = []
    with h5py.File(new) as a, h5py.File(old) as b:
        for split in ("train", "test/surface", "test/volume"):
            x, y = a[split]["sdf"][:], b[split]["sdf"][:]
            points = a[split]["points"][:]
            assert np.array_equal(points, b[split]["points"][:]), split
            out["differ"] += int(np.sum(x.view(np.uint32) != y.view(np.uint32)))
            flipped = (x < 0) != (y < 0)
            out["signs"] += int(np.sum(flipped))
            changed.append((points[flipped], x[flipped] < 0))
            out["largest"] = max(out["largest"], float(np.abs(np.abs(x) - np.abs(y)).max()))
            out["total"] += len(x)
    points = np.concatenate([p for p, _ in changed])
    if len(points):
        vertices, faces = read_ply(mesh)
        w = gt.winding_number(vertices, faces, points, method="brute")
        inside = np.concatenate([i for _, i in changed])
        out["new_right"] = int(np.sum(inside == (np.abs(w) > 0.5)))
    return out


def job_section(args) -> str:
    import yaml

    from neusdf.mesh.load import normalize_file

    old_repo = args.repo.resolve()
    new_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["sample"]
    old_cfg = yaml.safe_load((old_repo / "config.yaml").read_text())["sample"]
    if args.small:
        for cfg in (new_cfg, old_cfg):
            for key in ("train_surface", "train_volume", "test_surface", "test_volume"):
                cfg[key] = args.points
    lines = [
        "| mesh | faces | old job s | new job s | old / new | SDF values changed "
        "| signs changed (new = exact winding) | largest distance change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = {"old": {}, "new": {}}
    with tempfile.TemporaryDirectory(prefix="neusdf-gt-jobs-") as tmp:
        work = Path(tmp)
        first = True
        for path in mesh_files(args.meshes):
            mesh, meta = work / f"{path.stem}.ply", work / f"{path.stem}.json"
            try:
                record = normalize_file(path, mesh, meta)
                times = {}
                for label, repo, cfg in (("old", old_repo, old_cfg), ("new", REPO, new_cfg)):
                    # Once untimed: numba's on-disk caches of both checkouts are warm, as in a run.
                    out = work / f"{path.stem}.{label}.h5"
                    if first:
                        run_job(repo, mesh, meta, out, cfg, args.threads)
                    times[label] = run_job(repo, mesh, meta, out, cfg, args.threads)
                first = False
            except Exception as exc:  # e.g. a mesh that encloses no volume
                log(f"{path.name}: {exc}")
                continue
            diff = compare_samples(work / f"{path.stem}.new.h5", work / f"{path.stem}.old.h5", mesh)
            group = path.parent.name
            for label in times:
                totals[label].setdefault(group, []).append(times[label])
            lines.append(
                f"| {path.name} | {record['n_faces']} | {fmt(times['old'])} | {fmt(times['new'])} "
                f"| {fmt(times['old'] / times['new'])}x | {diff['differ']} of {diff['total']} "
                f"| {diff['signs']} ({diff['new_right']}) | {diff['largest']:.1e} |"
            )
            log(lines[-1])
    for group in totals["new"]:
        old = statistics.mean(totals["old"][group])
        new = statistics.mean(totals["new"][group])
        lines.append(
            f"| mean over {group} ({len(totals['new'][group])}) | | {fmt(old)} | {fmt(new)} "
            f"| {fmt(old / new)}x | | | |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=["engines", "size"])
    parser.add_argument("--points", type=int, default=500_000, help="points of each kind")
    parser.add_argument("--check", type=int, default=2000, help="points checked by brute force")
    parser.add_argument(
        "--meshes", type=Path, nargs="*", default=[REPO / "data" / "raw", SHARED],
        help="mesh folders (engines and jobs sections; none: only the generated large mesh)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per point set")
    parser.add_argument("--block", type=int, default=10_000, help="points of the rate estimate")
    parser.add_argument("--repo", type=Path, default=None, help="older checkout (jobs section)")
    parser.add_argument("--json", type=Path, default=None, help="write the engine rows here")
    parser.add_argument(
        "--small", action="store_true", help="20k points, first folder only, sizes up to 10k faces"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.small:
        args.points, args.check, args.block = min(args.points, 20_000), min(args.check, 200), 2000
        args.meshes = args.meshes[:1]
    os.environ.setdefault("IGL_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from neusdf.threads import sleeping_idle_threads

    sleeping_idle_threads()
    missing = [module for _, module in engines().values() if not installed(module)]
    if missing:
        log(f"not installed (skipped): {', '.join(sorted(set(missing)))}")
    if "engines" in args.sections:
        rows = engine_section(args)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        print(engine_tables(rows) + "\n")
    if "size" in args.sections:
        print(size_section(args) + "\n")
    if "jobs" in args.sections:
        if args.repo is None:
            parser.error("the jobs section needs --repo OLD_CHECKOUT")
        print(job_section(args) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
