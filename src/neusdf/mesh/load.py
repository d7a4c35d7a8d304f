"""Load any supported mesh file into one clean triangle mesh, and normalize it.

The normalized frame is what every later stage works in: the mesh is centered at its
bounding-box center and scaled uniformly so that its longest half-extent is ``half_extent``
(default 0.9), which leaves room for near-surface noise inside [-1, 1]^3.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neusdf.config import schema_default
from neusdf.errors import MeshError
from neusdf.io import write_json
from neusdf.mesh.formats import SUPPORTED_EXTENSIONS
from neusdf.mesh.ply import read_ply, write_ply
from neusdf.mesh.transform import Normalization

if TYPE_CHECKING:
    import trimesh

log = logging.getLogger(__name__)

BAD_FACE_INDEX = "has a face index outside the range of its vertices"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (identifies the exact source of every result)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load a mesh file as one triangle mesh with welded vertices and no broken faces.

    Scenes (GLB, multi-object OBJ) are merged with their node transforms applied, quads are
    triangulated, vertices split at texture/normal seams are welded, and zero-area and duplicate
    faces are dropped.

    Parameters
    ----------
    path : str or Path
        A .obj, .ply, .stl, .off or .glb file (extension case-insensitive).

    Returns
    -------
    trimesh.Trimesh
        V vertices (V, 3) float64 and F faces (F, 3) int64, F >= 1.

    Raises
    ------
    MeshError
        One line naming the file and why it cannot be used.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise MeshError(
            path, f"unsupported extension {ext!r} (use {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    if not path.is_file():
        raise MeshError(path, "file not found")
    if path.stat().st_size == 0:
        raise MeshError(path, "file is empty")
    import trimesh  # here, not at the top: later stages read our own PLYs without it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = trimesh.load(path, file_type=ext[1:], force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types; the user needs one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # OBJ loaders fail with a bare IndexError, OFF with its own text: one message for both.
        if isinstance(exc, IndexError) or "face index outside" in reason:
            raise MeshError(path, BAD_FACE_INDEX) from None
        raise MeshError(path, f"cannot be read as {ext[1:].upper()}: {reason}") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError(path, "contains no triangle mesh (empty scene or point cloud)")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if faces.ndim != 2 or len(faces) == 0:
        raise MeshError(path, "has no triangle faces (not a mesh, a point cloud, or empty)")
    if len(vertices) == 0:
        raise MeshError(path, "has no vertices")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(path, BAD_FACE_INDEX)
    used = np.unique(faces)
    if not np.isfinite(vertices[used]).all():
        raise MeshError(path, "has NaN or infinite vertex coordinates")
    # trimesh's cleaning uses absolute tolerances (1e-8): clean in a unit-sized frame, so a mesh
    # is cleaned the same way at any scale or offset, then map back exactly as far as float64 can.
    lo, hi = vertices[used].min(axis=0), vertices[used].max(axis=0)
    center, half = (lo + hi) / 2.0, float(np.max(hi - lo)) / 2.0
    if not half > 0.0:
        raise MeshError(path, "has zero extent (all vertices coincide)")
    unit = (vertices - center) / half
    mesh = trimesh.Trimesh(vertices=unit, faces=faces, process=False, validate=False)
    # Textured OBJs duplicate vertices along UV seams; welding makes them watertight again.
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    mesh.update_faces(mesh.nondegenerate_faces(height=None))
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise MeshError(path, "has only zero-area faces")
    return trimesh.Trimesh(
        vertices=np.asarray(mesh.vertices) * half + center, faces=mesh.faces, process=False
    )


def normalize_mesh(
    mesh: trimesh.Trimesh, half_extent: float = schema_default("normalize", "half_extent")
) -> tuple[trimesh.Trimesh, Normalization]:
    """Center a mesh at its bounding-box center; scale its longest half-extent to ``half_extent``.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Input mesh, original units.
    half_extent : float
        Target longest half-extent, normalized units, in (0, 1].

    Returns
    -------
    normalized : trimesh.Trimesh
        The transformed copy (vertices float64).
    transform : Normalization
        The transform that was applied.
    """
    import trimesh

    transform = Normalization.fit(mesh.vertices, half_extent)
    normalized = trimesh.Trimesh(
        vertices=transform.apply(mesh.vertices), faces=mesh.faces.copy(), process=False
    )
    return normalized, transform


def describe_mesh(mesh: trimesh.Trimesh) -> dict:
    """Counts and topology facts recorded with every normalized mesh (plain JSON types)."""
    edges = mesh.edges_sorted
    _, edge_counts = np.unique(edges, axis=0, return_counts=True)
    return {
        "n_vertices": len(mesh.vertices),
        "n_faces": len(mesh.faces),
        "watertight": bool(mesh.is_watertight),
        "winding_consistent": bool(mesh.is_winding_consistent),
        "n_bodies": len(mesh.split(only_watertight=False)) if len(mesh.faces) < 500_000 else -1,
        "boundary_edges": int(np.sum(edge_counts == 1)),
        "nonmanifold_edges": int(np.sum(edge_counts > 2)),
        "area": float(mesh.area),
    }


def normalize_file(
    source: str | Path,
    mesh_out: str | Path,
    meta_out: str | Path,
    half_extent: float = schema_default("normalize", "half_extent"),
) -> dict:
    """Load, clean and normalize one mesh file; write the PLY and its JSON record atomically.

    Returns the JSON record (center, scale, source path and sha256, counts, watertightness).
    """
    mesh = load_mesh(source)
    normalized, transform = normalize_mesh(mesh, half_extent)
    record = {
        "source": str(source),
        "source_sha256": file_sha256(source),
        **transform.to_record(),
        "half_extent": float(half_extent),
        **describe_mesh(normalized),
    }
    if not record["watertight"]:
        log.warning("%s: mesh is not watertight; signs will need a robust inside test", source)
    write_ply(mesh_out, normalized.vertices, normalized.faces)
    write_json(meta_out, record)
    return record


def read_normalized(mesh_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a normalized PLY written by :func:`normalize_file`.

    Returns
    -------
    vertices : (V, 3) float64
    faces : (F, 3) int64
    """
    return read_ply(mesh_path)
