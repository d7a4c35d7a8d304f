"""Training and test point sets: near-surface (area-uniform + Gaussian noise) and uniform volume."""

from __future__ import annotations

import numpy as np

from neusdf.mesh.triangles import areas_and_normals, triangle_array


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform random points on a triangle mesh (the one surface sampler of the package).

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    n : int
        Number of points.
    seed : int
        Seed of the numpy Generator used.

    Returns
    -------
    points : (n, 3) float64
        Points on the surface.
    face_index : (n,) int64
        The face each point lies on.
    """
    triangles = triangle_array(vertices, faces)
    return sample_triangles(triangles, areas_and_normals(triangles)[0], n, seed)


def sample_triangles(
    triangles: np.ndarray, areas: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_surface` of triangles whose corners (F, 3, 3) and areas (F,) are at hand."""
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("mesh has zero or non-finite surface area")
    rng = np.random.default_rng(seed)
    # Zero-area triangles get probability 0, so every point has a well-defined normal.
    face_index = rng.choice(len(triangles), size=int(n), p=areas / total)
    # sqrt-warped barycentrics are uniform over each triangle.
    r1 = np.sqrt(rng.random(int(n)))
    r2 = rng.random(int(n))
    t = triangles[face_index]
    points = (
        (1.0 - r1)[:, None] * t[:, 0]
        + (r1 * (1.0 - r2))[:, None] * t[:, 1]
        + (r1 * r2)[:, None] * t[:, 2]
    )
    return points, face_index


def sample_near_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, std: float, seed: int
) -> np.ndarray:
    """Area-uniform surface points displaced by isotropic Gaussian noise.

    Parameters
    ----------
    vertices : (V, 3) float array
        Mesh vertices, normalized units.
    faces : (F, 3) int array
    n : int
        Number of points.
    std : float
        Standard deviation of the noise per axis, normalized units (default recipe: 1e-2).
    seed : int

    Returns
    -------
    (n, 3) float32
    """
    rng = np.random.default_rng(seed)
    surface_seed, noise_seed = rng.integers(0, 2**62, size=2)
    points, _ = sample_surface(vertices, faces, n, int(surface_seed))
    noise = np.random.default_rng(int(noise_seed)).normal(0.0, std, size=(n, 3))
    return (points + noise).astype(np.float32)


def sample_volume(n: int, seed: int, bound: float = 1.0) -> np.ndarray:
    """Points uniform in the cube [-bound, bound]^3.

    Returns
    -------
    (n, 3) float32
    """
    rng = np.random.default_rng(seed)
    return rng.uniform(-bound, bound, size=(n, 3)).astype(np.float32)
