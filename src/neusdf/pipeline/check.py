"""Would the pipeline accept this mesh? Answered before any training, by the pipeline's own code.

Every verdict comes from the functions the stages call: :func:`~neusdf.mesh.load.load_mesh` and
:func:`~neusdf.mesh.load.normalize_mesh` (stage ``normalize``),
:func:`~neusdf.groundtruth.sdf.require_volume` and
:func:`~neusdf.groundtruth.sdf.resolve_sign_method` (stage ``sample``),
:func:`~neusdf.pipeline.discovery.discover_objects` (folders and manifests, with the pipeline's
object names), so a reason printed here is the exact one-line error the pipeline would print.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neusdf.config import schema_default
from neusdf.errors import MeshError
from neusdf.groundtruth import (
    parity_inside,
    require_volume,
    resolve_sign_method,
    winding_number,
)
from neusdf.mesh.load import describe_mesh, load_mesh, normalize_mesh
from neusdf.mesh.points import sample_near_surface, sample_volume
from neusdf.pipeline.discovery import DiscoveryError, discover_objects, object_names


@dataclass
class MeshCheck:
    """What the pipeline would do with one mesh file (or, for ``stage="discover"``, a folder).

    Attributes
    ----------
    path : str
        The file (or folder) as given.
    object : str
        The object name the pipeline would give the file
        (:func:`~neusdf.pipeline.discovery.object_names`).
    accepted : bool
        Whether every stage up to training would run.
    stage : str
        ``"ok"``, or the stage that would fail: ``"discover"``, ``"normalize"``, ``"sample"``.
    error : str
        The pipeline's one-line error (``"<path>: <reason>"``), empty when accepted.
    reason : str
        ``error`` without the path.
    warnings : list of str
        What the pipeline would log as a warning (e.g. not watertight).
    n_vertices, n_faces : int
        After the pipeline's cleaning (welding, zero-area and duplicate faces dropped).
    watertight, winding_consistent : bool
    n_bodies : int
        Connected components (-1 above 500k faces, as in the normalized record).
    boundary_edges, nonmanifold_edges : int
        Edges used by one face, and by more than two.
    sign_method : str
        The inside test ``sign`` resolves to (``"parity"`` or ``"winding"``).
    sign_disagreement_percent : float
        Open meshes only (NaN otherwise): percent of probe points (near-surface and uniform in the
        normalized cube) where ray parity and the winding number disagree on inside/outside.
        More than about 1 % means signs near the holes are a guess.
    extent : list of 3 float
        Bounding-box size, original units.
    scale : float
        Normalization scale (normalized units per original unit).
    normalized_extent : list of 3 float
        Bounding-box size after normalization, normalized units.
    seconds : float
        Time this check took.
    """

    path: str
    object: str
    accepted: bool = False
    stage: str = "ok"
    error: str = ""
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    n_vertices: int = -1
    n_faces: int = -1
    watertight: bool | None = None
    winding_consistent: bool | None = None
    n_bodies: int = -1
    boundary_edges: int = -1
    nonmanifold_edges: int = -1
    sign_method: str = ""
    sign_disagreement_percent: float = float("nan")
    extent: list[float] = field(default_factory=list)
    scale: float = float("nan")
    normalized_extent: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def as_row(self) -> dict:
        """Flat dict for CSV (lists joined with spaces, warnings with ``"; "``)."""
        row = asdict(self)
        row["warnings"] = "; ".join(self.warnings)
        for key in ("extent", "normalized_extent"):
            row[key] = " ".join(f"{v:.6g}" for v in row[key])
        return row


def sign_disagreement(
    vertices: np.ndarray, faces: np.ndarray, n_points: int, seed: int, threads: int | None = None
) -> float:
    """Percent of probe points where ray parity and the winding number disagree.

    Parameters
    ----------
    vertices : (V, 3) float64
        Normalized frame.
    faces : (F, 3) int64
    n_points : int
        Near-surface points (noise: the schema's ``sample.near_surface_std``) and as many
        uniform points in [-1, 1]^3.
    seed : int
    threads : int, optional

    Returns
    -------
    float
        In [0, 100].
    """
    points = np.concatenate(
        [
            sample_near_surface(
                vertices, faces, n_points, schema_default("sample", "near_surface_std"), seed
            ),
            sample_volume(n_points, seed + 1),
        ]
    )
    parity = parity_inside(vertices, faces, points, threads=threads)
    winding = np.abs(winding_number(vertices, faces, points, threads=threads)) > 0.5
    return float(100.0 * np.mean(parity != winding))


def check_mesh(
    path: str | Path,
    *,
    half_extent: float | None = None,
    sign: str | None = None,
    n_points: int = 2000,
    seed: int = 0,
    threads: int | None = None,
    name: str | None = None,
) -> MeshCheck:
    """Run one mesh file through the pipeline's acceptance tests without writing anything.

    Parameters
    ----------
    path : str or Path
        A mesh file, as it would be named in ``raw_dir``.
    half_extent : float, optional
        ``normalize.half_extent`` of the run (default: the schema's).
    sign : {"auto", "parity", "winding"}, optional
        ``sample.sign`` of the run (default: the schema's).
    n_points : int
        Probe points of each kind for :func:`sign_disagreement` (open meshes only).
    seed : int
    threads : int, optional
        numba and pysdf threads.
    name : str, optional
        The object name (default: what the pipeline would call the file alone in a folder).

    Returns
    -------
    MeshCheck
    """
    start = time.perf_counter()
    half_extent = schema_default("normalize", "half_extent") if half_extent is None else half_extent
    sign = schema_default("sample", "sign") if sign is None else sign
    path = Path(path)
    if name is None:
        name = object_names([path.name])[path.name]
    record = MeshCheck(path=str(path), object=name)
    stage = "normalize"
    try:
        # Stage normalize: exactly what normalize_file computes before writing.
        mesh = load_mesh(path)
        normalized, transform = normalize_mesh(mesh, half_extent)
        facts = describe_mesh(normalized)
        for key in (
            "n_vertices", "n_faces", "watertight", "winding_consistent", "n_bodies",
            "boundary_edges", "nonmanifold_edges",
        ):  # fmt: skip
            setattr(record, key, facts[key])
        record.extent = [float(v) for v in mesh.extents]
        record.scale = float(transform.scale)
        record.normalized_extent = [float(v) for v in normalized.extents]
        if not record.watertight:
            record.warnings.append("mesh is not watertight; signs will need a robust inside test")
        # Stage sample: the inside test it would refuse, and the sign method it would pick.
        stage = "sample"
        vertices = np.asarray(normalized.vertices, dtype=np.float64)
        faces = np.asarray(normalized.faces, dtype=np.int64)
        require_volume(vertices, faces, name=str(path), threads=threads)
        record.sign_method = resolve_sign_method(
            sign, bool(record.watertight), bool(record.winding_consistent)
        )
        if not record.watertight:
            record.sign_disagreement_percent = sign_disagreement(
                vertices, faces, n_points, seed, threads
            )
        record.accepted = True
    except MeshError as exc:  # NoInsideError included: the pipeline's own one-line errors
        record.stage = stage
        record.error = str(exc)
        record.reason = exc.reason
    record.seconds = time.perf_counter() - start
    return record


def check_paths(
    paths: list[str | Path],
    include: list[str] | tuple[str, ...] = (),
    exclude: list[str] | tuple[str, ...] = (),
    **options,
) -> list[MeshCheck]:
    """Check files, folders and manifests the way the pipeline reads them.

    A folder is read like ``raw_dir`` and a ``.csv`` file like the ``objects`` manifest
    (:func:`~neusdf.pipeline.discovery.discover_objects`: recursive, ``include``/``exclude``
    patterns, the pipeline's object names). One that the pipeline would refuse (missing, a bad
    manifest row) adds one record with ``stage="discover"`` and the pipeline's message.

    Parameters
    ----------
    paths : list of str or Path
        Mesh files, folders and manifests, in order.
    include, exclude : sequence of str
        Glob patterns, as the ``include`` and ``exclude`` config keys.
    **options
        Passed to :func:`check_mesh`.

    Returns
    -------
    list of MeshCheck
        One per mesh (folders and manifests expanded, in the pipeline's order of object names),
        plus one per folder or manifest that cannot be read.
    """
    records = []
    for given in paths:
        given = Path(given)
        if given.is_file() and given.suffix.lower() != ".csv":
            records.append(check_mesh(given, **options))
            continue
        manifest = given if given.suffix.lower() == ".csv" else None
        try:
            objects = discover_objects(given, include, exclude, manifest=manifest)
        except DiscoveryError as exc:
            error = str(exc)
            records.append(
                MeshCheck(path=str(given), object="", stage="discover", error=error, reason=error)
            )
            continue
        records.extend(check_mesh(file, name=name, **options) for name, file in objects.items())
    return records
