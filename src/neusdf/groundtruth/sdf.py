"""Ground-truth signed distance of a triangle mesh at query points.

The distance magnitude comes from an *engine* and the sign from an *inside test*; the two are
chosen independently.

Engines (unsigned distance to the nearest triangle):

- ``"exact"``: our own nearest-triangle search over a bounding-volume hierarchy, with
  conservative pruning, so it returns the brute-force minimum (the brute force itself is
  :func:`exact_unsigned_distance` with ``method="brute"``).
- ``"pysdf"``: pysdf's nearest-triangle distance, then verified by the exact search started
  with pysdf's value as the bound. pysdf only looks at faces around the nearest *vertex*,
  which is badly wrong next to large flat triangles (CAD parts: errors up to a third of the
  object's size, see docs/groundtruth.md); since pysdf's value is a true distance to *some*
  triangle, it is a valid upper bound and the verification makes the result exact.

Inside tests:

- ``"parity"``: pysdf's ray-parity test (needs a closed surface; orientation-agnostic);
- ``"winding"``: generalized winding number w (Jacobson et al. 2013), inside where |w| > 0.5
  (the magnitude, so an inside-out body still counts),
  computed with the fast hierarchical evaluation of Barill et al. 2018; robust to holes;
- ``"auto"``: winding when the mesh is not watertight, parity otherwise.

Convention: SDF < 0 inside, > 0 outside; units are those of the vertices (the normalized
frame in the pipeline).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np
import trimesh

from neusdf.errors import MeshError, NoInsideError
from neusdf.groundtruth import kernels

ENGINES = ("pysdf", "exact")
SIGN_METHODS = ("auto", "parity", "winding")

# Points per kernel call: bounds the float64 copies (24 bytes/point) and keeps Ctrl-C responsive.
CHUNK_SIZE = 1 << 18
# Faces per leaf of the hierarchy; 8 balances box tests against triangle tests.
LEAF_SIZE = 8
# Far-field opening ratio of the fast winding number: a node is expanded when the point is
# farther than BETA times the node's radius (Barill et al. use 2).
BETA = 2.0
# |w| must exceed 0.5 by this much at a probe for a component to count as enclosing volume, so
# a lone flat sheet (|w| -> 0.5 from below right next to it) never qualifies.
INSIDE_MARGIN = 0.01
# Probe offset from a face centroid along its normal, as a fraction of the mesh's bbox diagonal.
PROBE_OFFSET = 1e-4
# At most this many faces of each component are probed (evenly spread over its faces).
PROBE_FACES = 256


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
        Expansion point and summed area vector of each node (fast winding numbers).
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


def triangle_array(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Gather triangle corners.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array

    Returns
    -------
    (F, 3, 3) float64, C-contiguous
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"faces must be (F, 3) with F >= 1, got {faces.shape}")
    return np.ascontiguousarray(vertices[faces])


def build_tree(vertices: np.ndarray, faces: np.ndarray, leaf_size: int = LEAF_SIZE) -> TriangleTree:
    """Build the triangle hierarchy used by the exact distance and the fast winding number.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    leaf_size : int
        Most faces in a leaf.

    Returns
    -------
    TriangleTree
    """
    triangles = triangle_array(vertices, faces)
    order, start, count, left, right, lo, hi, depth = kernels.build_tree(triangles, leaf_size)
    center, dipole, moment, radius = kernels.tree_moments(
        triangles, order, start, count, left, right
    )
    return TriangleTree(
        triangles,
        order,
        start,
        count,
        left,
        right,
        lo,
        hi,
        int(depth),
        center,
        dipole,
        moment,
        radius,
    )


@contextlib.contextmanager
def _numba_threads(threads: int | None) -> Iterator[int]:
    """Run numba kernels on ``threads`` threads (None: all numba may use); yields the count."""
    limit = numba.config.NUMBA_NUM_THREADS
    wanted = limit if threads is None else max(1, min(int(threads), limit))
    previous = numba.get_num_threads()
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)


def _as_points(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {points.shape}")
    return points


def _chunks(n: int, size: int) -> Iterator[slice]:
    for begin in range(0, n, size):
        yield slice(begin, min(begin + size, n))


def exact_unsigned_distance(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    *,
    method: str = "tree",
    upper: np.ndarray | None = None,
    tree: TriangleTree | None = None,
    threads: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> np.ndarray:
    """Exact distance from each point to the nearest triangle.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    points : (N, 3) float array
        Query points, same units as the vertices.
    method : {"tree", "brute"}
        ``"brute"`` tests every face for every point (O(N F), the reference); ``"tree"`` prunes
        hierarchy nodes whose box is no nearer than the best triangle so far (same result).
    upper : (N,) float array, optional
        Known upper bounds of the distances (e.g. the distance to some triangle), used by
        ``"tree"`` to prune from the start. Must really be upper bounds.
    tree : TriangleTree, optional
        A prebuilt hierarchy of the same mesh.
    threads : int, optional
        Numba threads (default: all available).
    chunk_size : int
        Points per kernel call.

    Returns
    -------
    (N,) float64
        Distances, in vertex units.
    """
    points = _as_points(points)
    if method not in ("tree", "brute"):
        raise ValueError(f"method must be 'tree' or 'brute', got {method!r}")
    out = np.empty(len(points), dtype=np.float64)
    if method == "tree" and tree is None:
        tree = build_tree(vertices, faces)
    triangles = tree.triangles if tree is not None else triangle_array(vertices, faces)
    with _numba_threads(threads):
        for part in _chunks(len(points), chunk_size):
            chunk = np.ascontiguousarray(points[part], dtype=np.float64)
            if method == "brute":
                sq = kernels.brute_force_sqdist(chunk, triangles)
            else:
                bound = (
                    np.full(len(chunk), np.inf)
                    if upper is None
                    else np.square(np.asarray(upper[part], dtype=np.float64))
                )
                sq = kernels.tree_sqdist(
                    chunk, triangles, tree.order, tree.start, tree.count, tree.left,
                    tree.right, tree.lo, tree.hi, tree.depth, bound,
                )  # fmt: skip
            out[part] = np.sqrt(sq)
    return out


def winding_number(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    *,
    method: str = "tree",
    beta: float = BETA,
    tree: TriangleTree | None = None,
    threads: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> np.ndarray:
    """Generalized winding number: summed signed solid angles of the triangles over 4 pi.

    About 1 inside and 0 outside a closed outward-oriented surface, about -1 inside an
    inward-oriented one, and a smooth in-between value near holes.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    points : (N, 3) float array
    method : {"tree", "brute"}
        ``"brute"``: exact O(N F) sum (reference). ``"tree"``: Barill et al. 2018, exact near
        field and a second-order expansion for nodes farther than ``beta`` times their radius.
    beta : float
        Far-field opening ratio (larger: more accurate, slower).
    tree : TriangleTree, optional
        A prebuilt hierarchy of the same mesh.
    threads : int, optional
        Numba threads (default: all available).
    chunk_size : int
        Points per kernel call.

    Returns
    -------
    (N,) float64
    """
    points = _as_points(points)
    if method not in ("tree", "brute"):
        raise ValueError(f"method must be 'tree' or 'brute', got {method!r}")
    out = np.empty(len(points), dtype=np.float64)
    if method == "tree" and tree is None:
        tree = build_tree(vertices, faces)
    triangles = tree.triangles if tree is not None else triangle_array(vertices, faces)
    with _numba_threads(threads):
        for part in _chunks(len(points), chunk_size):
            chunk = np.ascontiguousarray(points[part], dtype=np.float64)
            if method == "brute":
                out[part] = kernels.brute_force_winding(chunk, triangles)
            else:
                out[part] = kernels.tree_winding(
                    chunk, triangles, tree.order, tree.start, tree.count, tree.left, tree.right,
                    tree.depth, tree.center, tree.dipole, tree.moment, tree.radius, float(beta),
                )  # fmt: skip
    return out


def _pysdf(vertices: np.ndarray, faces: np.ndarray):
    import pysdf  # imported lazily: only the pysdf engine and the parity test need it

    return pysdf.SDF(
        np.ascontiguousarray(vertices, dtype=np.float32),
        np.ascontiguousarray(faces, dtype=np.uint32),
    )


def _pysdf_threads(threads: int | None) -> int:
    return max(1, int(threads)) if threads is not None else (os.cpu_count() or 1)


def pysdf_unsigned_distance(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """pysdf's own (uncorrected) unsigned distance, for comparisons.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    points : (N, 3) float array
    threads : int, optional

    Returns
    -------
    (N,) float32
        Never below the true distance (it is the distance to some triangle), but can be far
        above it next to large triangles.
    """
    points = np.ascontiguousarray(_as_points(points), dtype=np.float32)
    raw = _pysdf(vertices, faces)(points, n_threads=_pysdf_threads(threads))
    return np.abs(np.asarray(raw, dtype=np.float32).reshape(-1))


def parity_inside(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """pysdf's ray-parity inside test.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    points : (N, 3) float array
    threads : int, optional

    Returns
    -------
    (N,) bool
        True inside. Meaningful only for closed surfaces.
    """
    points = np.ascontiguousarray(_as_points(points), dtype=np.float32)
    inside = _pysdf(vertices, faces).contains(points, n_threads=_pysdf_threads(threads))
    return np.asarray(inside, dtype=bool).reshape(-1)


def mesh_is_watertight(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces, after merging coincident vertices (trimesh)."""
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    mesh.merge_vertices()
    return bool(mesh.is_watertight)


def encloses_volume(vertices: np.ndarray, faces: np.ndarray, *, threads: int | None = None) -> bool:
    """Whether any edge-connected component of the mesh encloses volume on its own.

    A component encloses volume when its own winding number exceeds 0.5 in magnitude (plus a
    small margin) at a probe point just off one of its faces (face centroids moved a tiny step
    along each normal, both sides). Testing components separately is what tells a triangle soup
    from a solid: overlapping soup triangles add up to |w| > 1 in places, but a single triangle
    or a flat sheet never exceeds 0.5.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    threads : int, optional

    Returns
    -------
    bool
    """
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    mesh.merge_vertices()
    mesh_faces = np.asarray(mesh.faces, dtype=np.int64)
    mesh_vertices = np.asarray(mesh.vertices, dtype=np.float64)
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, len(mesh_faces))
    diagonal = float(np.linalg.norm(np.ptp(mesh_vertices, axis=0)))
    step = PROBE_OFFSET * max(diagonal, np.finfo(np.float64).tiny)
    sizes = np.bincount(labels)
    for label in np.argsort(-sizes, kind="stable"):  # big components first: usually decisive
        component = mesh_faces[labels == label]
        triangles = triangle_array(mesh_vertices, component)
        area_vectors = np.cross(
            triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
        )
        norms = np.linalg.norm(area_vectors, axis=1)
        usable = np.flatnonzero(norms > 0)
        if len(usable) == 0:
            continue
        picked = usable[np.linspace(0, len(usable) - 1, min(PROBE_FACES, len(usable))).astype(int)]
        normals = area_vectors[picked] / norms[picked, None]
        centroids = triangles[picked].mean(axis=1)
        probes = np.concatenate([centroids - step * normals, centroids + step * normals])
        w = winding_number(mesh_vertices, component, probes, method="brute", threads=threads)
        if np.max(np.abs(w)) > 0.5 + INSIDE_MARGIN:
            return True
    return False


def require_volume(
    vertices: np.ndarray, faces: np.ndarray, *, name: str, threads: int | None = None
) -> None:
    """Raise :class:`NoInsideError` naming ``name`` unless :func:`encloses_volume` holds.

    The one place that decides (and words) "no signed distance for this mesh": the sample stage
    and ``neusdf check`` both call it.
    """
    if not encloses_volume(vertices, faces, threads=threads):
        raise NoInsideError(
            name, "encloses no volume (open triangle soup): a signed distance is undefined"
        )


def boundary_edge_fraction(faces: np.ndarray) -> float:
    """Fraction of a mesh's distinct edges that belong to only one face (0 for closed meshes)."""
    faces = np.asarray(faces)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return float(np.mean(counts == 1))


# Above this, a mesh is mostly loose triangles (a soup): no inside to speak of. Open but real
# surfaces stay far below (teapot 0.05, bunny 0.01, a box missing two faces 0.25).
SOUP_BOUNDARY_FRACTION = 0.5


def resolve_sign_method(sign: str, watertight: bool) -> str:
    """``"auto"`` -> ``"parity"`` for a watertight mesh, ``"winding"`` otherwise; others as is."""
    if sign not in SIGN_METHODS:
        raise ValueError(f"sign must be one of {SIGN_METHODS}, got {sign!r}")
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
    threads: int | None = None,
    name: str = "<mesh>",
) -> tuple[np.ndarray, str]:
    """Signed distance from points to a mesh: negative inside, positive outside.

    Parameters
    ----------
    vertices : (V, 3) float64 or float32
        Mesh vertices (the normalized frame in the pipeline).
    faces : (F, 3) int array
    points : (N, 3) float array (float32 in the pipeline)
        Query points, same units.
    engine : {"pysdf", "exact"}
        Source of the distance magnitude (both are exact; see the module docstring).
    sign : {"auto", "parity", "winding"}
        Inside test; ``"auto"`` uses winding unless the mesh is watertight.
    watertight : bool, optional
        Whether the mesh is watertight (computed with trimesh when None); only used by "auto".
    threads : int, optional
        Threads for numba and pysdf (default: all available).
    name : str
        The mesh's path or name, for error messages.

    Returns
    -------
    sdf : (N,) float32
        Signed distances, vertex units.
    sign_method : {"parity", "winding"}
        The inside test actually used.

    Raises
    ------
    NoInsideError
        When no component of the mesh encloses volume (a triangle soup, a lone sheet).
    MeshError
        When the vertices or faces are unusable.
    ValueError
        On an unknown engine or sign method, or points that are not (N, 3).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if sign not in SIGN_METHODS:
        raise ValueError(f"sign must be one of {SIGN_METHODS}, got {sign!r}")
    points = _as_points(points)
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise MeshError(name, "has no triangle faces")
    if not np.isfinite(vertices[faces]).all():
        raise MeshError(name, "has NaN or infinite vertex coordinates")
    require_volume(vertices, faces, name=name, threads=threads)

    if sign == "auto" and watertight is None:
        watertight = mesh_is_watertight(vertices, faces)
    sign = resolve_sign_method(sign, bool(watertight))

    tree = build_tree(vertices, faces)
    if engine == "pysdf":
        # pysdf's value is the distance to a real triangle, so it bounds the exact search from
        # above; the small slack covers its float32 rounding.
        rough = pysdf_unsigned_distance(vertices, faces, points, threads=threads)
        slack = 1e-6 * (1.0 + rough.astype(np.float64))
        distance = exact_unsigned_distance(
            vertices, faces, points, upper=rough + slack, tree=tree, threads=threads
        )
        distance = np.minimum(distance, rough)
    else:
        distance = exact_unsigned_distance(vertices, faces, points, tree=tree, threads=threads)

    if sign == "parity":
        inside = parity_inside(vertices, faces, points, threads=threads)
    else:
        w = winding_number(vertices, faces, points, tree=tree, threads=threads)
        # An inside-out body has w ~ -1 inside; its orientation is an export accident, not the
        # user's intent, so the magnitude decides.
        inside = np.abs(w) > 0.5
    sdf = np.where(inside, -distance, distance).astype(np.float32)
    return sdf, sign
