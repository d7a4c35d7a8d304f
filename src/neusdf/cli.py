"""The ``neusdf`` command: inspect, query and mesh trained SDFs, and check meshes before a run.

Built on argparse (standard library: no extra dependency, exit status 2 and a usage line for usage
errors, ``--help`` on every subcommand). Heavy modules (torch, trimesh, numba) are imported inside
the subcommands, so ``neusdf --help`` answers at once.

Exit status: 0 success, 1 a problem with the inputs (one line on stderr; for ``check``, any mesh
the pipeline would refuse), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from pathlib import Path

from neusdf.config import schema_default
from neusdf.version import __version__

POINT_SUFFIXES = (".npy", ".csv", ".txt")
MESH_SUFFIXES = (".ply", ".obj", ".stl")
# The names of neusdf.evaluation.render.VIEWS (not imported here: it loads numba).
VIEW_NAMES = ("front", "back", "right", "left", "top", "bottom", "iso")
# Metrics shown by ``neusdf info`` (all of them are in --json).
INFO_METRICS = (
    "surface_f1",
    "volume_f1",
    "volume_iou",
    "surface_mae",
    "chamfer_l1",
    "hausdorff_95",
    "normal_consistency",
    "inference_points_per_second",
)


class CommandError(Exception):
    """A one-line problem with the command's inputs (exit status 1)."""


# -- points files ---------------------------------------------------------------------------------


def read_points(path: str | Path):
    """Read (N, 3) points from .npy or text (.csv/.txt: x,y,z per line, commas or spaces).

    Text files may start with one header line (e.g. ``x,y,z``); ``#`` lines and blank lines are
    skipped; ``nan``/``inf`` are read as such (and refused later, naming the rows).

    Returns
    -------
    (N, 3) float64 numpy array (or whatever shape a .npy holds: the API checks it).
    """
    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise CommandError(f"{path}: points must be {', '.join(POINT_SUFFIXES)}, got {suffix!r}")
    if not path.is_file():
        raise CommandError(f"{path}: file not found")
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CommandError(f"{path}: not a .npy array file ({exc})") from None
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f for f in re.split(r"[,;\s]+", text) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if not rows:  # a header line
                continue
            raise CommandError(f"{path}:{number}: not numbers: {text[:60]!r}") from None
        if len(values) != 3:
            raise CommandError(f"{path}:{number}: expected 3 numbers (x,y,z), got {len(values)}")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def write_values(path: str | Path, points, distances, normals=None) -> None:
    """Write query results: .npy (N,) distances or (N, 4) [d, nx, ny, nz]; .csv with a header."""
    import numpy as np

    from neusdf.io import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = distances if normals is None else np.column_stack([distances, normals])
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, data)
        return
    columns = ["x", "y", "z", "sdf"] + ([] if normals is None else ["nx", "ny", "nz"])
    parts = [points, distances[:, None]] + ([] if normals is None else [normals])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.column_stack(parts), delimiter=",", header=",".join(columns),
                   comments="", fmt="%.9g")  # fmt: skip


# -- subcommands ----------------------------------------------------------------------------------


def _load(args):
    import neusdf

    try:
        return neusdf.load(
            args.model, device=args.device, backend=args.backend, threads=args.threads
        )
    except (ValueError, RuntimeError) as exc:  # a backend or device this machine cannot run
        raise CommandError(f"{args.model}: {exc}") from None


def _flat(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def format_info(info: dict) -> str:
    """Human-readable lines for :attr:`neusdf.api.SDF.info`."""
    lines = [
        f"checkpoint     {info['path']} ({info['file_bytes']:,} bytes, {info['format']} "
        f"v{info['format_version']}, written by neusdf {info['neusdf_version']})",
        f"model          {info['model_name']}",
    ]
    for section, values in (info.get("model_config") or {}).items():
        text = _flat(values) if isinstance(values, dict) else str(values)
        lines.append(f"  {section:<12} {text}")
    params = f"parameters     {info['n_parameters']:,}"
    if "n_encoding_parameters" in info:
        params += (
            f" (encoding {info['n_encoding_parameters']:,}, "
            f"network {info['n_network_parameters']:,})"
        )
    lines.append(params)
    norm = info["normalization"]
    center = ", ".join(f"{c:.6g}" for c in norm["center"])
    lines.append(
        f"normalization  center ({center}), scale {norm['scale']:.6g}: "
        "x_norm = (x - center) * scale, d = d_norm / scale"
    )
    lo, hi = (", ".join(f"{c:.6g}" for c in corner) for corner in info["bounds"])
    lines.append(
        f"bounds         ({lo}) to ({hi}): the model itself inside, a positive distance outside"
    )
    training = info.get("training") or {}
    if training:
        lines.append(f"training       {_flat({k: _short(v) for k, v in training.items()})}")
    lines.append(f"evaluating on  backend {info['backend']}, device {info['device']}")
    metrics = info.get("metrics")
    if metrics:
        shown = {k: _short(metrics[k]) for k in INFO_METRICS if k in metrics}
        lines.append(f"metrics        {_flat(shown)}")
        lines.append(f"  from         {info['metrics_path']}")
    else:
        lines.append("metrics        none found (results/metrics/{model}/{obj}.json)")
    return "\n".join(lines)


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else value


def cmd_info(args) -> int:
    info = _load(args).info
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_query(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() not in (".npy", ".csv"):
        raise CommandError(f"{out}: output must be .npy or .csv")
    points = read_points(args.points)
    sdf = _load(args)
    try:
        distances = sdf(points, frame=args.frame)
        normals = sdf.gradient(points, frame=args.frame) if args.normals else None
    except ValueError as exc:
        raise CommandError(f"{args.points}: {exc}") from None
    write_values(out, points, distances, normals)
    print(f"wrote {out}: {len(distances):,} points, frame {args.frame}", file=sys.stderr)
    return 0


def cmd_mesh(args) -> int:
    from neusdf.evaluation.extraction import write_mesh

    out = Path(args.output)
    if out.suffix.lower() not in MESH_SUFFIXES:
        raise CommandError(f"{out}: output must be one of {', '.join(MESH_SUFFIXES)}")
    if args.resolution < 2:
        raise CommandError(f"--resolution must be at least 2, got {args.resolution}")
    sdf = _load(args)
    mesh = sdf.mesh(resolution=args.resolution, frame=args.frame, progress=True)
    write_mesh(mesh, out)
    print(
        f"wrote {out}: {len(mesh.vertices):,} vertices, {len(mesh.faces):,} faces, "
        f"frame {args.frame}, resolution {args.resolution}",
        file=sys.stderr,
    )
    return 0


def format_checks(records) -> str:
    """The ``neusdf check`` table."""
    from tabulate import tabulate

    rows = []
    for r in records:
        size = " x ".join(f"{v:.3g}" for v in r.normalized_extent)
        disagree = r.sign_disagreement_percent
        disagree = "" if math.isnan(disagree) else f"{disagree:.2f}"
        note = r.reason if not r.accepted else "; ".join(r.warnings)
        rows.append([
            r.path, r.object, "ok" if r.accepted else f"FAIL ({r.stage})",
            "" if r.watertight is None else ("yes" if r.watertight else "no"),
            "" if r.n_bodies < 0 else r.n_bodies,
            "" if r.boundary_edges < 0 else r.boundary_edges,
            "" if r.nonmanifold_edges < 0 else r.nonmanifold_edges,
            r.sign_method, disagree, size, note,
        ])  # fmt: skip
    headers = [
        "mesh", "object", "verdict", "watertight", "bodies", "boundary", "non-manifold", "sign",
        "disagree %", "normalized size", "reason / warning",
    ]  # fmt: skip
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


class _Counting(logging.Filter):
    """Counts the records that pass through a handler."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.count += 1
        return True


def cmd_check(args) -> int:
    import csv

    from neusdf.io import atomic_path
    from neusdf.pipeline.check import MeshCheck, check_paths
    from neusdf.pipeline.discovery import other_files

    # What the mesh loaders log (a missing texture image, with its traceback) and warn goes to
    # the log file, created only when there is something to write, never into the table.
    handler = logging.FileHandler(args.log, mode="w", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    counter = _Counting()
    handler.addFilter(counter)
    logging.getLogger().handlers[:] = [handler]
    records = check_paths(
        args.paths,
        include=args.include,
        exclude=args.exclude,
        half_extent=args.half_extent,
        sign=args.sign,
        threads=args.threads,
    )
    if not records:
        raise CommandError("no mesh files found in " + ", ".join(args.paths))
    print(format_checks(records))
    failed = sum(not r.accepted for r in records)
    print(f"\n{len(records) - failed} of {len(records)} accepted, {failed} would fail")
    for folder in (Path(p) for p in args.paths if Path(p).is_dir()):
        others = other_files(folder)
        if others:
            kinds = ", ".join(f"{suffix or '(none)'} {n}" for suffix, n in others.most_common())
            print(f"{folder}: {sum(others.values())} other file(s), not read as meshes: {kinds}")
    if counter.count:
        print(
            f"{counter.count} message(s) of the mesh loaders (warnings, tracebacks) in {args.log}"
        )
    if args.csv:
        fields = list(MeshCheck.__dataclass_fields__)
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(r.as_row() for r in records)
    return 1 if failed else 0


def render_defaults() -> dict:
    """The workflow's ``render`` settings and ``normalize.half_extent`` as the schema gives them."""
    from neusdf.config import CONFIG_SCHEMA, load_schema

    properties = load_schema(CONFIG_SCHEMA)["properties"]
    render = {key: spec.get("default") for key, spec in properties["render"]["properties"].items()}
    render["half_extent"] = properties["normalize"]["properties"]["half_extent"]["default"]
    return render


def _mesh_arrays(mesh):
    import numpy as np

    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def cmd_render(args) -> int:
    from neusdf.evaluation.render import VIEWS, write_png
    from neusdf.evaluation.sheet import comparison_sheet
    from neusdf.mesh.load import load_mesh
    from neusdf.mesh.transform import Normalization

    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise CommandError(f"{out}: output must be .png")
    views = [view.strip() for view in args.views.split(",") if view.strip()]
    unknown = [view for view in views if view not in VIEWS]
    if unknown or not views:
        raise CommandError(f"--views {args.views!r}: choose from {', '.join(VIEWS)}")
    if args.size < 16:
        raise CommandError(f"--size must be at least 16 pixels, got {args.size}")
    if args.trace_size < 0 or args.resolution < 2:
        raise CommandError("--trace-size must be >= 0 and --resolution >= 2")
    defaults = render_defaults()
    source = Path(args.model)
    field = normalization = None
    if source.suffix.lower() == ".safetensors":
        sdf = _load(args)
        normalization = sdf.normalization
        mesh = _mesh_arrays(sdf.mesh(resolution=args.resolution, frame="normalized"))
        if args.trace_size > 0:
            field = sdf.normalized_sdf
        names = ("reference", f"mesh (resolution {args.resolution})")
    else:
        mesh = _mesh_arrays(load_mesh(source))
        names = ("reference", "mesh")
    reference = _mesh_arrays(load_mesh(args.reference)) if args.reference else None
    units = ("normalized units", 1.0)
    if args.frame == "original":
        if normalization is None:  # the pipeline's normalization of the reference (or mesh)
            fitted_on = reference if reference is not None else mesh
            normalization = Normalization.fit(fitted_on[0], defaults["half_extent"])
            mesh = (normalization.apply(mesh[0]), mesh[1])
        if reference is not None:
            reference = (normalization.apply(reference[0]), reference[1])
        units = ("original units", 1.0 / normalization.scale)
    scale = defaults["distance_scale"]
    if args.distance_scale is not None:
        if not args.distance_scale > 0:
            raise CommandError(f"--distance-scale must be positive, got {args.distance_scale}")
        scale = args.distance_scale / units[1]
    image, record = comparison_sheet(
        views, args.size, mesh, reference, field, distance_scale=scale, units=units, names=names,
        title=source.name, trace_size=args.trace_size or None, threads=args.threads,
    )  # fmt: skip
    write_png(out, image)
    line = f"wrote {out}: {len(views)} view(s) of {args.size} px"
    if "distance" in record:
        line += (
            f"; distance to reference: median {record['distance']['median'] * units[1]:.3g}, "
            f"95th percentile {record['distance']['p95'] * units[1]:.3g} {units[0]}"
        )
    if "trace" in record:
        total = record["trace"]["total"]
        line += (
            f"; sphere trace: {total['overshoot']:,} of {total['rays']:,} rays overshot, "
            f"{total['holes']:,} holes"
        )
    print(line, file=sys.stderr)
    return 0


# -- parser ---------------------------------------------------------------------------------------


def _subcommand(sub, name: str, run, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand parser whose ``args.run`` is ``run``."""
    parser = sub.add_parser(name, help=help, description=description)
    parser.set_defaults(run=run)
    return parser


def _model_options(
    parser: argparse.ArgumentParser,
    metavar: str = "MODEL",
    what: str = "checkpoint (results/models/MODEL/OBJECT.safetensors)",
) -> None:
    parser.add_argument("model", metavar=metavar, help=what)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "fast", "reference", "tcnn"),
        help="hash-grid backend (default auto: tcnn on CUDA, the fast kernel on the CPU)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (fast kernel)")


def _frame_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--frame",
        choices=("original", "normalized"),
        default="original",
        help=f"{what}: the input mesh's own frame and units (default) or the normalized frame",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neusdf",
        description="Use trained neural SDFs (info, query, mesh, render) and check meshes before a "
        "run. "
        "The pipeline itself runs with snakemake.",
    )
    parser.add_argument("--version", action="version", version=f"neusdf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = _subcommand(
        sub, "info", cmd_info, "what a checkpoint holds",
        "Model name and config, parameter counts, normalization, training record, and the "
        "metrics of the evaluate stage when found next to the checkpoint.",
    )  # fmt: skip
    _model_options(info)
    info.add_argument("--json", action="store_true", help="machine-readable JSON")

    query = _subcommand(
        sub, "query", cmd_query, "signed distances (and normals) at points",
        "Evaluate the SDF at points. POINTS: .npy (N, 3) or .csv/.txt with x,y,z per line (an "
        "optional header line). OUT: .npy ((N,) distances, or (N, 4) [d, nx, ny, nz] with "
        "--normals) or .csv (x,y,z,sdf[,nx,ny,nz] with a header).",
    )  # fmt: skip
    _model_options(query)
    query.add_argument("points", metavar="POINTS", help="points file (.npy, .csv, .txt)")
    query.add_argument("-o", "--output", required=True, metavar="OUT", help=".npy or .csv")
    _frame_option(query, "frame of the points and distances")
    query.add_argument("--normals", action="store_true", help="also write unit normals")

    resolution = schema_default("extract", "resolution")
    mesh = _subcommand(
        sub, "mesh", cmd_mesh, "the zero level set as a mesh file",
        "Marching cubes on a RESOLUTION^3 grid over the normalized cube [-1, 1]^3.",
    )  # fmt: skip
    _model_options(mesh)
    mesh.add_argument("-o", "--output", required=True, metavar="OUT", help=".ply, .obj or .stl")
    mesh.add_argument("--resolution", type=int, default=resolution,
                      help=f"grid nodes per axis ({resolution})")  # fmt: skip
    _frame_option(mesh, "frame of the vertices")

    defaults = render_defaults()
    render = _subcommand(
        sub, "render", cmd_render, "a picture of a checkpoint or a mesh, beside a reference mesh",
        "Render MODEL.safetensors (its mesh, extracted at --resolution, and the field itself, "
        "sphere traced) or MESH (.ply, .obj, .stl, .off, .glb), from each of --views, with one "
        "orthographic camera and light for every column. With --reference (the input mesh): its "
        "own column and the mesh coloured by its exact distance to it. Headless, CPU only.",
    )  # fmt: skip
    _model_options(render, "MODEL.safetensors|MESH", "checkpoint or mesh file")
    render.add_argument("-o", "--output", required=True, metavar="OUT", help=".png")
    render.add_argument("--reference", metavar="MESH", help="the input mesh to compare with")
    render.add_argument("--views", default=",".join(defaults["views"]),
                        help=f"comma-separated, of {', '.join(VIEW_NAMES)} "
                        f"(default {','.join(defaults['views'])})")  # fmt: skip
    render.add_argument("--size", type=int, default=defaults["size"],
                        help=f"pixels per picture side (default {defaults['size']})")  # fmt: skip
    render.add_argument("--trace-size", type=int, default=defaults["trace_size"],
                        help="rays per side of the sphere-traced field of a checkpoint, 0: "
                        f"none (default {defaults['trace_size']})")  # fmt: skip
    render.add_argument("--resolution", type=int, default=resolution,
                        help=f"marching-cubes grid of a checkpoint ({resolution})")  # fmt: skip
    render.add_argument("--distance-scale", type=float, default=None,
                        help="distance coloured darkest, in --frame units (default "
                        f"{defaults['distance_scale']} normalized units)")  # fmt: skip
    _frame_option(render, "frame of MESH and --reference and units of the distances")

    check = sub.add_parser(
        "check",
        help="would the pipeline accept these meshes?",
        description="For each mesh file (folders: every mesh below them, as the pipeline reads "
        "raw_dir; .csv files: the meshes of an objects manifest), under the pipeline's object "
        "name: accepted or the pipeline's exact error, watertightness, bodies, boundary and "
        "non-manifold edges, the sign method 'auto' picks, for open meshes the percent of probe "
        "points where ray parity and winding number disagree, and the normalized size. "
        "Exit status 1 when any mesh would fail.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH",
                       help="mesh files, folders or .csv manifests")  # fmt: skip
    check.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="as the include config key (repeatable)")  # fmt: skip
    check.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="as the exclude config key (repeatable)")  # fmt: skip
    check.add_argument("--log", default="neusdf-check.log", metavar="FILE",
                       help="where the mesh loaders' messages go (neusdf-check.log; "
                       "written only when there are any)")  # fmt: skip
    check.add_argument("--csv", metavar="FILE", help="also write every field to a CSV file")
    check.add_argument("--half-extent", type=float, help="normalize.half_extent (default: "
                       f"{schema_default('normalize', 'half_extent')})")  # fmt: skip
    sign_default = schema_default("sample", "sign")
    check.add_argument("--sign", choices=("auto", "parity", "winding"),
                       help=f"sample.sign (default: {sign_default})")  # fmt: skip
    check.add_argument("--threads", type=int, default=1, help="threads per mesh (1)")
    check.set_defaults(run=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neusdf`` script; returns the exit status."""
    from neusdf.threads import sleeping_idle_threads

    sleeping_idle_threads()
    args = build_parser().parse_args(argv)
    # Plain progress lines (when stderr is not a terminal) and warnings go to stderr.
    logging.basicConfig(level=logging.INFO, format="neusdf: %(message)s", stream=sys.stderr)
    logging.captureWarnings(True)
    from neusdf.errors import NeusdfError

    try:
        return int(args.run(args))
    except (CommandError, NeusdfError) as exc:
        print(f"neusdf: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
