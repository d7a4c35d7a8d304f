"""Per-triangle arrays of a mesh: corners, area vectors, areas and unit normals."""

from __future__ import annotations

import numpy as np


def triangle_array(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Gather triangle corners.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array, F >= 1

    Returns
    -------
    (F, 3, 3) float64, C-contiguous
        ``[face, corner, xyz]``.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"faces must be (F, 3) with F >= 1, got {faces.shape}")
    return np.ascontiguousarray(vertices[faces])


def area_vectors(triangles: np.ndarray) -> np.ndarray:
    """Cross product of each triangle's two edges from its first corner.

    Parameters
    ----------
    triangles : (F, 3, 3) float array

    Returns
    -------
    (F, 3) float64
        Twice the area times the unit normal (right-hand rule over the corner order).
    """
    t = np.asarray(triangles, dtype=np.float64)
    return np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])


def areas_and_normals(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area and unit normal of each triangle.

    Returns
    -------
    areas : (F,) float64
        In squared vertex units.
    normals : (F, 3) float64
        Unit normals; zero vectors for zero-area triangles.
    """
    cross = area_vectors(triangles)
    norm = np.linalg.norm(cross, axis=1)
    normals = np.divide(cross, norm[:, None], out=np.zeros_like(cross), where=norm[:, None] > 0)
    return 0.5 * norm, normals
