"""Ground-truth signed distance: distance engines and inside tests, one sign convention.

SDF < 0 inside, > 0 outside. The magnitude comes from a distance engine (``pysdf``, fast; or
``exact``, a brute-force point-to-triangle distance), the sign from an inside test (``parity``:
pysdf's ray-parity test, right for closed meshes; ``winding``: the generalized winding number,
robust to holes and inconsistent winding).
"""

from __future__ import annotations

import logging

import numba
import numpy as np

from neusdf.errors import NoInsideError

log = logging.getLogger(__name__)

ENGINES = ("pysdf", "exact")
SIGN_METHODS = ("auto", "parity", "winding")


@numba.njit(cache=True, fastmath=False)
def _point_triangle_sq_distance(p, a, b, c):
    # Closest point on triangle abc to p by Voronoi-region tests (Ericson, Real-Time Collision
    # Detection, 5.1.5), returned as the squared distance.
    ab = b - a
    ac = c - a
    ap = p - a
    d1 = ab @ ap
    d2 = ac @ ap
    if d1 <= 0.0 and d2 <= 0.0:
        q = a
    else:
        bp = p - b
        d3 = ab @ bp
        d4 = ac @ bp
        if d3 >= 0.0 and d4 <= d3:
            q = b
        else:
            vc = d1 * d4 - d3 * d2
            if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
                q = a + (d1 / (d1 - d3)) * ab
            else:
                cp = p - c
                d5 = ab @ cp
                d6 = ac @ cp
                if d6 >= 0.0 and d5 <= d6:
                    q = c
                else:
                    vb = d5 * d2 - d1 * d6
                    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
                        q = a + (d2 / (d2 - d6)) * ac
                    else:
                        va = d3 * d6 - d5 * d4
                        if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
                            q = b + ((d4 - d3) / ((d4 - d3) + (d5 - d6))) * (c - b)
                        else:
                            denom = 1.0 / (va + vb + vc)
                            q = a + ab * (vb * denom) + ac * (vc * denom)
    d = p - q
    return d @ d


@numba.njit(parallel=True, cache=True)
def _unsigned_distance_brute(points, tri):
    n = points.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        p = points[i]
        best = np.inf
        for f in range(tri.shape[0]):
            d = _point_triangle_sq_distance(p, tri[f, 0], tri[f, 1], tri[f, 2])
            if d < best:
                best = d
        out[i] = np.sqrt(best)
    return out


@numba.njit(parallel=True, cache=True)
def _winding_number_brute(points, tri):
    # Generalized winding number: sum of signed solid angles / 4π (Van Oosterom & Strackee).
    # Scalar arithmetic only: array temporaries in this inner loop would allocate per triangle.
    n = points.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        total = 0.0
        for f in range(tri.shape[0]):
            ax, ay, az = tri[f, 0, 0] - px, tri[f, 0, 1] - py, tri[f, 0, 2] - pz
            bx, by, bz = tri[f, 1, 0] - px, tri[f, 1, 1] - py, tri[f, 1, 2] - pz
            cx, cy, cz = tri[f, 2, 0] - px, tri[f, 2, 1] - py, tri[f, 2, 2] - pz
            la = np.sqrt(ax * ax + ay * ay + az * az)
            lb = np.sqrt(bx * bx + by * by + bz * bz)
            lc = np.sqrt(cx * cx + cy * cy + cz * cz)
            det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
            ab = ax * bx + ay * by + az * bz
            bc = bx * cx + by * cy + bz * cz
            ca = cx * ax + cy * ay + cz * az
            total += 2.0 * np.arctan2(det, la * lb * lc + ab * lc + bc * la + ca * lb)
        out[i] = total / (4.0 * np.pi)
    return out


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def unsigned_distance_exact(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk_size: int = 65536
) -> np.ndarray:
    """Exact distance from each point to the nearest triangle, by brute force (the reference).

    Parameters
    ----------
    vertices : (V, 3) float
    faces : (F, 3) int
    points : (N, 3) float
    chunk_size : int
        Points per parallel chunk (bounds memory to O(chunk_size)).

    Returns
    -------
    (N,) float64, same units as the vertices.
    """
    tri = np.ascontiguousarray(np.asarray(vertices, np.float64)[np.asarray(faces)])
    pts = np.asarray(points, dtype=np.float64)
    out = np.empty(len(pts), dtype=np.float64)
    for sl in _chunks(len(pts), chunk_size):
        out[sl] = _unsigned_distance_brute(np.ascontiguousarray(pts[sl]), tri)
    return out


def winding_number(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk_size: int = 65536
) -> np.ndarray:
    """Generalized winding number of the mesh at each point (≈1 inside, ≈0 outside).

    Robust to holes, self-intersections and several bodies; its sign follows the face
    orientation, so an inside-out closed mesh gives ≈ -1 inside.

    Returns
    -------
    (N,) float64
    """
    tri = np.ascontiguousarray(np.asarray(vertices, np.float64)[np.asarray(faces)])
    pts = np.asarray(points, dtype=np.float64)
    out = np.empty(len(pts), dtype=np.float64)
    for sl in _chunks(len(pts), chunk_size):
        out[sl] = _winding_number_brute(np.ascontiguousarray(pts[sl]), tri)
    return out


def _pysdf(vertices: np.ndarray, faces: np.ndarray):
    import pysdf

    return pysdf.SDF(
        np.ascontiguousarray(vertices, dtype=np.float32),
        np.ascontiguousarray(faces, dtype=np.uint32),
    )


def resolve_sign_method(sign: str, watertight: bool) -> str:
    """``auto`` → ``parity`` for watertight meshes, ``winding`` otherwise."""
    if sign not in SIGN_METHODS:
        raise ValueError(f"unknown sign method {sign!r}; expected one of {SIGN_METHODS}")
    if sign == "auto":
        return "parity" if watertight else "winding"
    return sign


def signed_distance(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    *,
    engine: str = "pysdf",
    sign: str = "auto",
    watertight: bool | None = None,
    name: str = "<mesh>",
) -> tuple[np.ndarray, str]:
    """Signed distance of points to a mesh, negative inside.

    Parameters
    ----------
    vertices : (V, 3) float
        Mesh vertices (normalized frame).
    faces : (F, 3) int
    points : (N, 3) float32
    engine : {"pysdf", "exact"}
        Source of the distance magnitude.
    sign : {"auto", "parity", "winding"}
        Inside test; ``auto`` uses ``winding`` when the mesh is not watertight.
    watertight : bool or None
        Known watertightness (computed with trimesh when None).
    name : str
        Used in error messages (the source file).

    Returns
    -------
    sdf : (N,) float32
    sign_method : str
        ``"parity"`` or ``"winding"``, the inside test actually used.

    Raises
    ------
    NoInsideError
        When the mesh encloses no volume (no point is inside), e.g. a triangle soup.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if watertight is None:
        import trimesh

        watertight = trimesh.Trimesh(vertices, faces, process=False).is_watertight
    method = resolve_sign_method(sign, watertight)
    points = np.ascontiguousarray(points, dtype=np.float32)
    oracle = _pysdf(vertices, faces) if engine == "pysdf" or method == "parity" else None
    if engine == "pysdf":
        distance = np.abs(oracle(points)).astype(np.float64)
    else:
        distance = unsigned_distance_exact(vertices, faces, points)
    if method == "parity":
        inside = np.asarray(oracle.contains(points), dtype=bool)
    else:
        wn = winding_number(vertices, faces, points)
        # A consistently inside-out mesh has winding ≈ -1 inside: orientation is not the user's
        # intent, so take the magnitude.
        inside = np.abs(wn) > 0.5
    if not inside.any():
        raise NoInsideError(
            name,
            "encloses no volume (open surface or triangle soup): a signed distance is undefined",
        )
    sdf = np.where(inside, -distance, distance).astype(np.float32)
    return sdf, method
