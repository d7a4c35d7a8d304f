"""Closest points on a triangle mesh: one exact fast query and its brute-force reference.

:func:`closest_point` searches a bounding-volume hierarchy (:func:`build_tree`) with
conservative pruning, so it returns the same nearest triangle as testing every triangle;
:func:`closest_point_naive` tests every triangle with independent, plainly written numpy
geometry (plane projection, then edge segments) and exists to check the fast query. Both return
distances, face indices and closest points in the vertices' units.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from neusdf.groundtruth import kernels
from neusdf.mesh.triangles import triangle_array
from neusdf.threads import numba_threads

# Points per kernel call: bounds the float64 copies (~56 bytes/point) and keeps Ctrl-C responsive.
CHUNK_SIZE = 1 << 18
# Faces per leaf of the hierarchy; 8 balances box tests against triangle tests.
LEAF_SIZE = 8


class TriangleTree(NamedTuple):
    """Bounding-volume hierarchy over a mesh's triangles (see :mod:`neusdf.groundtruth.kernels`).

    Attributes
    ----------
    triangles : (F, 3, 3) float64
        Triangle corners (face, corner, xyz).
    order : (F,) int64
        Face permutation; node k owns ``order[start[k]:start[k] + count[k]]``.
    start, count, left, right : (M,) int64
        Face range and children (-1 for leaves) of each node.
    lo, hi : (M, 3) float64
        Node bounding boxes.
    depth : int
        Number of tree levels.
    center, dipole : (M, 3) float64
        Expansion point and summed area vector of each node (fast winding numbers; these four
        are None in a tree built with ``winding=False``).
    moment : (M, 3, 3) float64
        Second-order far-field term of each node.
    radius : (M,) float64
        Distance from ``center`` to the node's farthest corner.
    """

    triangles: np.ndarray
    order: np.ndarray
    start: np.ndarray
    count: np.ndarray
    left: np.ndarray
    right: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    depth: int
    center: np.ndarray
    dipole: np.ndarray
    moment: np.ndarray
    radius: np.ndarray


class ClosestPoints(NamedTuple):
    """Result of a closest-point query of N points.

    Attributes
    ----------
    distance : (N,) float64
        Unsigned distance to the mesh, vertex units.
    face : (N,) int64
        Index of the nearest triangle.
    point : (N, 3) float64
        The closest point on that triangle.
    """

    distance: np.ndarray
    face: np.ndarray
    point: np.ndarray


def build_tree(
    vertices: np.ndarray, faces: np.ndarray, leaf_size: int = LEAF_SIZE, winding: bool = True
) -> TriangleTree:
    """Build the triangle hierarchy used by the closest-point query and fast winding numbers.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    leaf_size : int
        Most faces in a leaf.
    winding : bool
        Also compute the far-field moments fast winding numbers need (most of the build time);
        False leaves them None, for closest-point queries only.

    Returns
    -------
    TriangleTree
    """
    triangles = triangle_array(vertices, faces)
    order, start, count, left, right, lo, hi, depth = kernels.build_tree(triangles, leaf_size)
    center = dipole = moment = radius = None
    if winding:
        center, dipole, moment, radius = kernels.tree_moments(
            triangles, order, start, count, left, right
        )
    return TriangleTree(
        triangles, order, start, count, left, right, lo, hi, int(depth),
        center, dipole, moment, radius,
    )  # fmt: skip


def as_points(points: np.ndarray) -> np.ndarray:
    """``points`` as an array, checked to be (N, 3)."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {points.shape}")
    return points


def chunks(n: int, size: int = CHUNK_SIZE) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    for begin in range(0, n, size):
        yield slice(begin, min(begin + size, n))


def closest_point(
    tree: TriangleTree,
    points: np.ndarray,
    *,
    upper: np.ndarray | None = None,
    threads: int | None = None,
) -> ClosestPoints:
    """Exact closest point on the mesh for each query point (hierarchy search).

    Parameters
    ----------
    tree : TriangleTree
        From :func:`build_tree`.
    points : (N, 3) float array
        Query points, vertex units.
    upper : (N,) float array, optional
        Known upper bounds of the distances (the distance to *some* triangle, e.g. from pysdf),
        which let the search prune from the start. Must really be upper bounds: where no
        triangle is strictly nearer, the bound itself is returned with the face and point of
        the triangle found by a second, unbounded search.
    threads : int, optional
        Numba threads (default: all available).

    Returns
    -------
    ClosestPoints
    """
    points = as_points(points)
    n = len(points)
    distance = np.empty(n)
    face = np.empty(n, dtype=np.int64)
    closest = np.empty((n, 3))
    t = tree
    with numba_threads(threads):
        for part in chunks(n):
            chunk = np.ascontiguousarray(points[part], dtype=np.float64)
            bound = (
                np.full(len(chunk), np.inf)
                if upper is None
                else np.square(np.asarray(upper[part], dtype=np.float64))
            )
            sq, f, q = kernels.tree_closest(
                chunk, t.triangles, t.order, t.start, t.count, t.left, t.right, t.lo, t.hi,
                t.depth, bound,
            )  # fmt: skip
            missed = np.flatnonzero(f < 0)
            if len(missed):  # the bound was already the exact distance: find its triangle
                sq2, f2, q2 = kernels.tree_closest(
                    chunk[missed], t.triangles, t.order, t.start, t.count, t.left, t.right,
                    t.lo, t.hi, t.depth, np.full(len(missed), np.inf),
                )  # fmt: skip
                sq[missed], f[missed], q[missed] = np.minimum(sq[missed], sq2), f2, q2
            distance[part], face[part], closest[part] = np.sqrt(sq), f, q
    return ClosestPoints(distance, face, closest)


def closest_point_naive(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray
) -> ClosestPoints:
    """Closest point by testing every triangle (O(N F), slow; the reference for tests).

    For each triangle, the point's orthogonal projection onto the triangle's plane is the
    closest point when it falls inside the triangle; otherwise the closest point lies on one of
    the three edges (as segments). The nearest over all triangles wins (ties: lowest index).

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    points : (N, 3) float array

    Returns
    -------
    ClosestPoints
    """
    p = as_points(points).astype(np.float64)
    best = np.full(len(p), np.inf)
    best_face = np.full(len(p), -1, dtype=np.int64)
    best_point = np.zeros_like(p)

    def on_segment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ab = b - a
        length2 = float(ab @ ab)
        t = np.zeros(len(p)) if length2 == 0 else np.clip((p - a) @ ab / length2, 0.0, 1.0)
        return a + t[:, None] * ab

    for index, (a, b, c) in enumerate(triangle_array(vertices, faces)):
        candidates = np.stack([on_segment(a, b), on_segment(b, c), on_segment(c, a)])
        lengths = np.linalg.norm(candidates - p, axis=2)
        q = candidates[np.argmin(lengths, axis=0), np.arange(len(p))]
        normal = np.cross(b - a, c - a)
        area2 = float(np.linalg.norm(normal))
        if area2 > 0:
            normal = normal / area2
            projected = p - ((p - a) @ normal)[:, None] * normal
            # The projection is inside when it lies on the inner side of all three edges.
            inside = (
                (np.cross(b - a, projected - a) @ normal >= 0)
                & (np.cross(c - b, projected - b) @ normal >= 0)
                & (np.cross(a - c, projected - c) @ normal >= 0)
            )
            q = np.where(inside[:, None], projected, q)
        d = np.linalg.norm(p - q, axis=1)
        better = d < best
        best = np.where(better, d, best)
        best_face[better] = index
        best_point[better] = q[better]
    return ClosestPoints(best, best_face, best_point)
