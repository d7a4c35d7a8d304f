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
from neusdf.mesh.triangles import area_vectors, triangle_array
from neusdf.threads import numba_threads

# Points per kernel call: bounds the float64 copies (~56 bytes/point) and keeps Ctrl-C responsive.
CHUNK_SIZE = 1 << 18
# Faces per leaf of the hierarchy: 4 balances box tests against triangle tests.
LEAF_SIZE = 4
# Bins of the surface-area-heuristic split search.
SAH_BINS = 16


class TriangleTree(NamedTuple):
    """Bounding-volume hierarchy over a mesh's triangles (see :func:`kernels.build_tree`).

    Attributes
    ----------
    triangles : (F, 3, 3) float64
        Triangle corners (face, corner, xyz) in tree order: node k owns
        ``triangles[start[k]:start[k] + count[k]]``.
    face : (F,) int64
        The mesh's face index of each triangle in tree order.
    normals : (F, 3) float64
        Unit normals in tree order (zero for degenerate triangles).
    cross : (F, 3) float64
        Area vectors times two (edge cross products) in tree order.
    start, count, right : (M,) int64
        Triangle range and right child of each node; the left child of node k is k + 1,
        leaves have ``right == -1``.
    lo, hi : (M, 3) float64
        Node bounding boxes; node 0 is the root.
    depth : int
        Number of tree levels.
    center, dipole : (M, 3) float64
        Expansion point and summed area vector of each node (fast winding numbers; these four
        are None in a tree built with ``winding=False``).
    moment : (M, 3, 3) float64
        Second-order far-field term of each node.
    radius : (M,) float64
        Bound of the distance from ``center`` to the node's triangles.
    """

    triangles: np.ndarray
    face: np.ndarray
    normals: np.ndarray
    cross: np.ndarray
    start: np.ndarray
    count: np.ndarray
    right: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    depth: int
    center: np.ndarray | None
    dipole: np.ndarray | None
    moment: np.ndarray | None
    radius: np.ndarray | None

    def with_moments(self) -> TriangleTree:
        """This tree with the far-field moments fast winding numbers need (computed if
        missing)."""
        if self.moment is not None:
            return self
        center, dipole, moment, radius = kernels.tree_moments(
            self.triangles, self.start, self.count, self.right, self.lo, self.hi
        )
        return self._replace(center=center, dipole=dipole, moment=moment, radius=radius)


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
    """Build the triangle hierarchy used by closest points, ray crossings and fast winding
    numbers.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    leaf_size : int
        Most faces in a leaf.
    winding : bool
        Also compute the far-field moments fast winding numbers need; False leaves them None
        (:meth:`TriangleTree.with_moments` adds them later).

    Returns
    -------
    TriangleTree
    """
    triangles = triangle_array(vertices, faces)
    order, start, count, right, lo, hi, depth = kernels.build_tree(
        triangles, int(leaf_size), SAH_BINS
    )
    triangles = np.ascontiguousarray(triangles[order])
    cross = area_vectors(triangles)
    norm = np.linalg.norm(cross, axis=1, keepdims=True)
    normals = np.divide(cross, norm, out=np.zeros_like(cross), where=norm > 0)
    tree = TriangleTree(
        triangles, order, normals, cross, start, count, right, lo, hi, int(depth),
        None, None, None, None,
    )  # fmt: skip
    return tree.with_moments() if winding else tree


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
                chunk, t.triangles, t.normals, t.start, t.count, t.right, t.lo, t.hi, t.depth,
                bound,
            )  # fmt: skip
            missed = np.flatnonzero(f < 0)
            if len(missed):  # the bound was already the exact distance: find its triangle
                sq2, f2, q2 = kernels.tree_closest(
                    chunk[missed], t.triangles, t.normals, t.start, t.count, t.right, t.lo,
                    t.hi, t.depth, np.full(len(missed), np.inf),
                )  # fmt: skip
                sq[missed], f[missed], q[missed] = np.minimum(sq[missed], sq2), f2, q2
            distance[part], face[part], closest[part] = np.sqrt(sq), t.face[f], q
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
