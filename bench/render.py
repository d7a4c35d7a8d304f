"""Renderer comparison: the package's CPU renderer against PyVista (VTK) off screen.

Run: ``python bench/render.py [--results results] [--model hashgrid] [--size 256]`` after a run
(``make run``). For every object of the run it renders the input mesh and the extracted mesh from
each view with both renderers, with the same orthographic cameras, and prints, per renderer:

* seconds per object (the two meshes, every view; PyVista's first picture, which sets up its
  OpenGL context, is reported on its own line),
* whether the same input gives the same bytes twice,
* how far the two renderers' pictures agree: the smallest silhouette IoU over the pictures and
  the pixels covered by one and not the other away from silhouette edges,
* the installed size of what the renderer needs beyond the pipeline's requirements.

It also times the whole picture of the render stage (``comparison_sheet``: the four columns,
the distance query and the sphere trace) per object. PyVista needs ``requirements/bench.txt``
and an off-screen OpenGL (Mesa's EGL or OSMesa); without it, only the package's renderer is
measured. Timings are medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from neusdf.evaluation import render
from neusdf.mesh.ply import read_ply

# What PyVista installs beyond the pipeline's requirements (requirements/base.txt).
PYVISTA_PACKAGES = (
    "pyvista", "vtk", "scooby", "pooch", "cyclopts", "rich", "rich-rst", "markdown-it-py",
    "mdurl", "docstring-parser", "pyvista-validation",
)  # fmt: skip
OWN_PACKAGES = ()  # numpy, numba and Pillow are pipeline requirements already


def installed_mib(names) -> float:
    """Installed bytes of the named distributions that are present, MiB."""
    total = 0
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(dist.locate_file(file))
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def own_pictures(cameras, meshes) -> list[np.ndarray]:
    """Flat-shaded pictures of every mesh from every camera (the render stage's mesh columns)."""
    pictures = []
    for vertices, faces in meshes:
        for camera in cameras:
            raster = render.rasterize(camera, vertices, faces)
            normals = render.visible_normals(raster, vertices, faces)
            pictures.append(render.image_of(raster.mask, render.mesh_colours(camera, normals)))
    return pictures


class PyVistaRenderer:
    """One off-screen PyVista plotter, reused for every picture."""

    def __init__(self, size: int):
        import pyvista

        self.pyvista = pyvista
        self.plotter = pyvista.Plotter(off_screen=True, window_size=(size, size))
        self.plotter.set_background("white")
        self.plotter.enable_parallel_projection()

    def pictures(self, cameras, meshes) -> list[np.ndarray]:
        out = []
        for vertices, faces in meshes:
            cells = np.hstack([np.full((len(faces), 1), 3), faces]).ravel()
            mesh = self.pyvista.PolyData(np.asarray(vertices, dtype=np.float64), cells)
            self.plotter.clear_actors()
            self.plotter.add_mesh(mesh, color=render.FRONT_COLOUR, smooth_shading=False)
            for camera in cameras:
                view = self.plotter.camera
                view.focal_point = tuple(camera.center)
                view.position = tuple(camera.center - 10.0 * camera.forward)
                view.up = tuple(camera.up)
                view.parallel_projection = True
                view.parallel_scale = camera.half_width  # half the image height
                view.clipping_range = (1e-3, 100.0)
                self.plotter.render()  # a screenshot alone shows the last rendered camera
                out.append(np.asarray(self.plotter.screenshot(return_img=True))[..., :3].copy())
        return out


def silhouette(picture: np.ndarray) -> np.ndarray:
    return (picture < 250).any(axis=2)


def far_from_edges(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels covered in one silhouette and not the other, more than one pixel from an edge of
    ``a`` (edge pixels depend on each rasteriser's sampling rule)."""
    padded = np.pad(a, 1, mode="edge")
    window = [padded[1 + dy : 1 + dy + a.shape[0], 1 + dx : 1 + dx + a.shape[1]]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # fmt: skip
    uniform = np.all([w == a for w in window], axis=0)
    return int(((a != b) & uniform).sum())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def median_seconds(repeats: int, fn, *args, **kwargs) -> tuple[float, object]:
    """Median wall seconds of ``repeats`` calls of ``fn(*args, **kwargs)``, and its result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="a run's results")
    parser.add_argument("--model", default="hashgrid")
    parser.add_argument("--size", type=int, default=256, help="pixels per picture side")
    parser.add_argument("--views", default="front,top,iso")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-pyvista", action="store_true", help="only the package's renderer")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    views = args.views.split(",")
    objects = sorted(p.stem for p in (args.results / "meshes" / args.model).glob("*.ply"))
    if not objects:
        sys.exit(f"{args.results}/meshes/{args.model}: no extracted meshes (run the pipeline)")
    from neusdf.evaluation.sheet import comparison_sheet
    from neusdf.nn.field import load_field
    from neusdf.threads import set_threads

    set_threads(args.threads, torch_too=False)
    pyvista = None
    if not args.no_pyvista:
        try:
            pyvista = PyVistaRenderer(args.size)
        except ImportError as exc:
            print(f"# PyVista not installed ({exc}): only the package's renderer", file=sys.stderr)
    rows = []
    own_first = pyvista_first = None
    for obj in objects:
        meshes = [
            read_ply(args.results / "normalized" / f"{obj}.ply"),
            read_ply(args.results / "meshes" / args.model / f"{obj}.ply"),
        ]
        points = np.concatenate([m[0] for m in meshes])
        cameras = [render.camera_for_points(view, points, args.size) for view in views]
        if own_first is None:  # the first call loads numba's cached kernel
            start = time.perf_counter()
            own_pictures(cameras[:1], meshes[:1])
            own_first = time.perf_counter() - start
        if pyvista is not None and pyvista_first is None:  # and sets up the OpenGL context
            start = time.perf_counter()
            pyvista.pictures(cameras[:1], meshes[:1])
            pyvista_first = time.perf_counter() - start
        own_s, ours = median_seconds(args.repeats, own_pictures, cameras, meshes)
        again = own_pictures(cameras, meshes)
        field = load_field(
            args.results / "models" / args.model / f"{obj}.safetensors", threads=args.threads
        )
        sheet_s, _ = median_seconds(
            args.repeats, comparison_sheet, views, args.size, meshes[1], meshes[0], field,
            trace_size=args.size // 2, threads=args.threads,
        )  # fmt: skip
        row = {
            "object": obj,
            "faces": sum(len(m[1]) for m in meshes),
            "own_s": own_s,
            "own_same": all(np.array_equal(a, b) for a, b in zip(ours, again, strict=True)),
            "sheet_s": sheet_s,
        }
        if pyvista is not None:
            pv_s, theirs = median_seconds(args.repeats, pyvista.pictures, cameras, meshes)
            pv_again = pyvista.pictures(cameras, meshes)
            row["pyvista_s"] = pv_s
            row["pyvista_same"] = all(
                np.array_equal(a, b) for a, b in zip(theirs, pv_again, strict=True)
            )
            pairs = [(silhouette(a), silhouette(b)) for a, b in zip(ours, theirs, strict=True)]
            row["iou"] = min(iou(a, b) for a, b in pairs)
            row["far"] = sum(far_from_edges(a, b) for a, b in pairs)
        rows.append(row)
    print(format_table(rows, own_first, pyvista_first, args))
    return 0


def format_table(rows: list[dict], own_first: float, pyvista_first: float | None, args) -> str:
    """Markdown: per object the seconds of each renderer (both meshes, every view) and the
    silhouette IoU; then totals, first-call costs, determinism and install weight."""
    with_pyvista = pyvista_first is not None
    head = "| object | faces | own s | sheet s |"
    rule = "|---|---:|---:|---:|"
    if with_pyvista:
        head += " PyVista s | ratio | silhouette IoU (min) | differing px off edges |"
        rule += "---:|---:|---:|---:|"
    lines = [
        f"# {len(args.views.split(','))} views of {args.size} px, input + extracted mesh, "
        f"{args.threads} threads; median of {args.repeats}",
        head,
        rule,
    ]
    for row in rows:
        line = f"| {row['object']} | {row['faces']:,} | {row['own_s']:.3f} | {row['sheet_s']:.2f} |"
        if with_pyvista:
            ratio = row["pyvista_s"] / row["own_s"]
            line += f" {row['pyvista_s']:.3f} | {ratio:.1f}x | {row['iou']:.4f} | {row['far']} |"
        lines.append(line)
    own_mean = statistics.mean(r["own_s"] for r in rows)
    sheet_mean = statistics.mean(r["sheet_s"] for r in rows)
    line = f"| mean | | {own_mean:.3f} | {sheet_mean:.2f} |"
    if with_pyvista:
        pv_mean = statistics.mean(r["pyvista_s"] for r in rows)
        line += f" {pv_mean:.3f} | {pv_mean / own_mean:.1f}x | | |"
    lines.append(line)
    lines.append("")
    lines.append("| renderer | first call s | same bytes twice | extra install MiB |")
    lines.append("|---|---:|---|---:|")
    same = all(r["own_same"] for r in rows)
    lines.append(
        f"| neusdf (numba) | {own_first:.2f} | {same} | {installed_mib(OWN_PACKAGES):.0f} |"
    )
    if with_pyvista:
        same = all(r["pyvista_same"] for r in rows)
        first = pyvista_first
        weight = installed_mib(PYVISTA_PACKAGES)
        lines.append(f"| PyVista / VTK {_version('vtk')} | {first:.2f} | {same} | {weight:.0f} |")
    return "\n".join(lines)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raise SystemExit(main())
