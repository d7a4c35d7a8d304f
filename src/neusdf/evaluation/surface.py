"""Geometric accuracy of a reconstructed surface against the ground truth (normalized units).

Each surface is represented by ``n`` area-uniform samples (:func:`neusdf.mesh.points.
sample_surface`); the distance from a sample of A to surface B is the exact point-to-mesh
distance (:func:`neusdf.groundtruth.closest_point`, the package's one closest-point query), and
the normal of B there is the normal of the triangle it reaches. Sample-based maxima (Hausdorff)
are lower bounds of the true ones: the farthest point of a surface may fall between samples.

A = prediction, B = ground truth: ``*_a_to_b`` terms measure accuracy (is every predicted
surface point near the truth?), ``*_b_to_a`` completeness.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from neusdf.config import schema_default
from neusdf.groundtruth.closest import TriangleTree, build_tree, closest_point
from neusdf.mesh.points import sample_triangles
from neusdf.mesh.triangles import areas_and_normals, triangle_array
from neusdf.seeding import derive_seed

__all__ = [
    "GEOMETRIC_METRIC_KEYS",
    "Surface",
    "geometric_metrics",
    "is_empty_mesh",
    "mesh_arrays",
    "normal_angles",
    "prepare_surface",
    "truth_surface",
]

GEOMETRIC_METRIC_KEYS = (
    "chamfer_l1",
    "chamfer_l2",
    "hausdorff_95",
    "hausdorff_max",
    "normal_consistency",
)


class Surface(NamedTuple):
    """One surface, prepared once: its samples with their normals, its hierarchy (whose
    ``triangles`` are the only gather of its corners) and its face normals by face index."""

    points: np.ndarray  # (n, 3) float64
    normals: np.ndarray  # (n, 3) float64, unit
    tree: TriangleTree
    face_normals: np.ndarray  # (F, 3) float64, unit (zero for degenerate faces)


def mesh_arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and faces (F, 3) int64 of a ``(vertices, faces)`` pair or of any
    mesh object with ``vertices`` and ``faces`` (a ``trimesh.Trimesh``)."""
    vertices, faces = mesh if isinstance(mesh, tuple) else (mesh.vertices, mesh.faces)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 3), faces


def is_empty_mesh(mesh) -> bool:
    """True when ``mesh`` (as for :func:`mesh_arrays`) is None, has no faces, or has zero or
    non-finite total area."""
    if mesh is None:
        return True
    vertices, faces = mesh_arrays(mesh)
    if len(faces) == 0:
        return True
    area = float(areas_and_normals(triangle_array(vertices, faces))[0].sum())
    return not (math.isfinite(area) and area > 0.0)


def prepare_surface(mesh, n: int, seed: int, name: str = "mesh") -> Surface:
    """A :class:`Surface` of ``mesh`` (as for :func:`mesh_arrays`) with ``n`` samples.

    Raises
    ------
    ValueError
        ``mesh`` is None, has no faces or has zero or non-finite area (naming ``name``).
    """
    if mesh is None:
        raise ValueError(f"{name} is empty or has zero surface area")
    vertices, faces = mesh_arrays(mesh)
    if len(faces) == 0:
        raise ValueError(f"{name} is empty or has zero surface area")
    tree = build_tree(vertices, faces, winding=False)
    # The tree holds the triangles, their unit normals and area vectors in its own order.
    areas = 0.5 * np.linalg.norm(tree.cross, axis=1)
    area = float(areas.sum())
    if not (math.isfinite(area) and area > 0.0):
        raise ValueError(f"{name} is empty or has zero surface area")
    points, in_tree = sample_triangles(tree.triangles, areas, n, seed)
    face_normals = np.empty_like(tree.normals)  # by the mesh's face index, as queries return
    face_normals[tree.face] = tree.normals
    return Surface(points, tree.normals[in_tree], tree, face_normals)


def _towards(a: Surface, b: Surface, threads: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Distances of A's samples to surface B, and |cos| between their normals and B's there."""
    reached = closest_point(b.tree, a.points, threads=threads)
    cos = np.abs(np.einsum("ij,ij->i", a.normals, b.face_normals[reached.face]))
    return reached.distance, cos


def geometric_metrics(
    pred_mesh,
    gt_mesh,
    n: int = schema_default("geometry", "n_samples"),
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, float | bool | int]:
    """Chamfer, Hausdorff and normal consistency of a prediction against the ground truth.

    With ``d_AB(p)`` the exact distance from a sample ``p`` of A to surface B:

    - ``chamfer_l1 = (mean_p d_AB(p) + mean_q d_BA(q)) / 2`` (mean of the two directions, not
      their sum; normalized units); ``chamfer_l2`` the same with squared distances (units²);
    - ``hausdorff_max = max(max_p d_AB, max_q d_BA)``, ``hausdorff_95`` the larger of the two
      directional 95th percentiles (numpy's linear interpolation);
    - ``normal_consistency``: mean over both directions of ``|n_A . n_B|``, with ``n_B`` the
      normal of the triangle of B nearest to the sample, in [0, 1]; orientation is ignored.

    Parameters
    ----------
    pred_mesh : (vertices, faces) pair, trimesh.Trimesh or None
        Extracted surface, normalized frame. May be empty or None.
    gt_mesh : (vertices, faces) pair, trimesh.Trimesh or Surface
        Ground-truth surface, normalized frame; must have positive area. A :class:`Surface`
        prepared by :func:`prepare_surface` with the same ``n`` is used as it is.
    n : int
        Area-uniform samples per surface.
    seed : int
        Fixes both sample sets (independent streams per surface).
    threads : int, optional
        Numba threads of the closest-point queries.

    Returns
    -------
    dict
        The :data:`GEOMETRIC_METRIC_KEYS` first (NaN when the prediction is empty), then the
        directional terms ``*_a_to_b`` / ``*_b_to_a``, ``pred_empty`` (bool), ``n_samples`` and
        ``seed``.

    Raises
    ------
    ValueError
        The ground-truth mesh is empty (a bad ground truth is an error, not a NaN).
    """
    truth = gt_mesh if isinstance(gt_mesh, Surface) else truth_surface(gt_mesh, n, seed)
    try:
        pred = prepare_surface(pred_mesh, n, derive_seed(seed, "geometry", "a"), "pred_mesh")
    except ValueError:
        pred = None
    empty = pred is None
    if empty:
        d_ab = d_ba = cos_ab = cos_ba = np.array([math.nan])
    else:
        d_ab, cos_ab = _towards(pred, truth, threads)
        d_ba, cos_ba = _towards(truth, pred, threads)
    directional = {
        "chamfer_l1": (float(d_ab.mean()), float(d_ba.mean())),
        "chamfer_l2": (float(np.mean(d_ab**2)), float(np.mean(d_ba**2))),
        "hausdorff_95": (float(np.percentile(d_ab, 95)), float(np.percentile(d_ba, 95))),
        "hausdorff_max": (float(d_ab.max()), float(d_ba.max())),
        "normal_consistency": (float(cos_ab.mean()), float(cos_ba.mean())),
    }
    combine = {"hausdorff_95": max, "hausdorff_max": max}
    record: dict[str, float | bool | int] = {
        key: combine.get(key, lambda a, b: 0.5 * (a + b))(*pair)
        for key, pair in directional.items()
    }
    for key, (ab, ba) in directional.items():
        record[f"{key}_a_to_b"], record[f"{key}_b_to_a"] = ab, ba
    record.update({"pred_empty": empty, "n_samples": int(n), "seed": int(seed)})
    return record


def truth_surface(
    gt_mesh, n: int = schema_default("geometry", "n_samples"), seed: int = 0
) -> Surface:
    """The ground-truth :class:`Surface` :func:`geometric_metrics` compares against (its own
    seeded samples), for callers that also need its hierarchy (:func:`normal_angles`)."""
    return prepare_surface(gt_mesh, n, derive_seed(seed, "geometry", "b"), "gt_mesh")


def normal_angles(
    field_normals: np.ndarray,
    points: np.ndarray,
    sdf: np.ndarray,
    truth: Surface,
    threads: int | None = None,
) -> dict[str, float]:
    """Angle between a field's normals and the exact ones at points near the surface.

    The exact normal at a point ``p`` off the surface is the gradient of the exact SDF:
    ``sign(t) (p - c) / |p - c|`` with ``c`` its closest point on the surface (Voronoi regions of
    edges and vertices included). Points closer than 1e-6 to the surface, where that direction
    is undefined, are left out.

    Parameters
    ----------
    field_normals : (N, 3) float
        The field's unit normals at ``points`` (e.g. :meth:`neusdf.nn.field.Field.gradient`).
    points : (N, 3) float
        Normalized frame.
    sdf : (N,) float
        Their exact signed distances (the sample file's).
    truth : Surface
        The ground-truth surface (:func:`truth_surface`).
    threads : int, optional

    Returns
    -------
    dict
        ``normal_angle_mean`` and ``normal_angle_p95`` (degrees; NaN without usable points) and
        ``normal_points`` (points used).
    """
    points = np.asarray(points, dtype=np.float64)
    reached = closest_point(truth.tree, points, threads=threads)
    usable = reached.distance > 1e-6
    exact = (points - reached.point)[usable] / reached.distance[usable, None]
    exact *= np.where(np.asarray(sdf)[usable] < 0, -1.0, 1.0)[:, None]
    cos = np.einsum("ij,ij->i", np.asarray(field_normals, np.float64)[usable], exact)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    if not len(angles):
        return {"normal_angle_mean": math.nan, "normal_angle_p95": math.nan, "normal_points": 0}
    return {
        "normal_angle_mean": float(angles.mean()),
        "normal_angle_p95": float(np.percentile(angles, 95)),
        "normal_points": len(angles),
    }
