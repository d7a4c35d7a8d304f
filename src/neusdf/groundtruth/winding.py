"""Generalized winding numbers (fast hierarchical evaluation and its brute-force reference), and
the test of whether a mesh encloses any volume at all."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from neusdf.errors import NoInsideError
from neusdf.groundtruth import kernels
from neusdf.groundtruth.closest import TriangleTree, as_points, build_tree, chunks, closest_point
from neusdf.mesh.triangles import area_vectors, triangle_array
from neusdf.threads import numba_threads

# Far-field opening ratio of the fast winding number: a node is expanded when the point is
# farther than BETA times the node's radius (Barill et al. use 2).
BETA = 2.0
# Ray directions of the crossing count, tried shortest-exit first: near the axes (CAD faces are
# axis-aligned) but tilted off every axis and plane, then two diagonals.
RAY_DIRECTIONS = np.array(
    [
        [1.0, 0.137, 0.071],
        [-1.0, -0.113, 0.089],
        [0.083, 1.0, 0.127],
        [-0.121, -1.0, -0.067],
        [0.109, -0.059, 1.0],
        [-0.097, 0.131, -1.0],
        [0.577, 0.601, 0.553],
        [-0.593, 0.569, -0.571],
    ]
)
RAY_DIRECTIONS /= np.linalg.norm(RAY_DIRECTIONS, axis=1, keepdims=True)
# Nodes per axis of the crossing grid (:func:`crossing_grid`): 48^3 nodes cost about as much as
# 10^5 query points and decide the sign of most points without a ray.
GRID_NODES = 48
# |w| must exceed 0.5 by this much at a probe for a component to count as enclosing volume, so
# a lone flat sheet (|w| -> 0.5 from below right next to it) never qualifies.
INSIDE_MARGIN = 0.01
# Probe offset from a face centroid along its normal, as a fraction of the mesh's bbox diagonal.
PROBE_OFFSET = 1e-4
# At most this many faces of each component are probed (evenly spread over its faces).
PROBE_FACES = 256
# A closed, consistently oriented mesh encloses volume when |signed volume| exceeds this
# fraction of its bbox diagonal cubed (far above rounding, far below any real solid).
VOLUME_TOLERANCE = 1e-9


def winding_number(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    *,
    method: str = "tree",
    beta: float = BETA,
    tree: TriangleTree | None = None,
    threads: int | None = None,
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

    Returns
    -------
    (N,) float64
    """
    points = as_points(points)
    if method not in ("tree", "brute"):
        raise ValueError(f"method must be 'tree' or 'brute', got {method!r}")
    out = np.empty(len(points), dtype=np.float64)
    if method == "tree":
        tree = (tree if tree is not None else build_tree(vertices, faces)).with_moments()
    triangles = triangle_array(vertices, faces) if method == "brute" else tree.triangles
    with numba_threads(threads):
        for part in chunks(len(points)):
            chunk = np.ascontiguousarray(points[part], dtype=np.float64)
            if method == "brute":
                out[part] = kernels.brute_force_winding(chunk, triangles)
            else:
                out[part] = kernels.tree_winding(
                    chunk, triangles, tree.start, tree.count, tree.right, tree.depth,
                    tree.center, tree.dipole, tree.moment, tree.radius, float(beta),
                )  # fmt: skip
    return out


def ray_crossings(
    tree: TriangleTree, points: np.ndarray, *, parity: bool, threads: int | None = None
) -> np.ndarray:
    """Crossings of a ray from each point to outside the mesh's bounding box
    (:func:`kernels.tree_ray_crossings`, directions :data:`RAY_DIRECTIONS`).

    Parameters
    ----------
    tree : TriangleTree
    points : (N, 3) float array
    parity : bool
        False: the signed sum (+1 front to back), whose negative is the exact winding number of
        a closed, consistently oriented mesh. True: the number of crossings, odd exactly inside
        a closed mesh of any orientation.
    threads : int, optional

    Returns
    -------
    (N,) int64
        ``kernels.AMBIGUOUS`` where every ray grazed an edge, a corner or a plane at its start
        (points within rounding of the surface).
    """
    points = as_points(points)
    out = np.empty(len(points), dtype=np.int64)
    t = tree
    with numba_threads(threads):
        for part in chunks(len(points)):
            chunk = np.ascontiguousarray(points[part], dtype=np.float64)
            out[part] = kernels.tree_ray_crossings(
                chunk, t.triangles, t.cross, t.start, t.count, t.right, t.lo, t.hi, t.depth,
                RAY_DIRECTIONS, bool(parity),
            )  # fmt: skip
    return out


def is_closed_oriented(faces: np.ndarray) -> bool:
    """Whether every directed edge ``(a, b)`` of the faces occurs exactly once and is matched by
    exactly one ``(b, a)``: closed and consistently oriented, as indexed. Then the winding
    number is an integer off the surface and changes by one across each face."""
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) == 0:
        return False
    n = int(faces.max()) + 1
    tails, heads = faces.ravel(), np.roll(faces, -1, axis=1).ravel()
    edges = tails * n + heads
    reverse = heads * n + tails
    edges.sort()
    reverse.sort()
    return not np.any(edges[1:] == edges[:-1]) and np.array_equal(edges, reverse)


class CrossingGrid(NamedTuple):
    """Ray-crossing values and exact distances at the nodes of a regular grid over a closed
    mesh's bounding box (:func:`crossing_grid`, read by :func:`grid_crossings`).

    Attributes
    ----------
    origin, step : (3,) float64
        Position of node (0, 0, 0) and the node spacing per axis.
    value : (G, G, G) int64
        :func:`ray_crossings` of each node (``kernels.AMBIGUOUS`` where every ray grazed).
    distance : (G, G, G) float64
        Exact distance of each node to the mesh.
    """

    origin: np.ndarray
    step: np.ndarray
    value: np.ndarray
    distance: np.ndarray


def crossing_grid(
    tree: TriangleTree, *, parity: bool, nodes: int = GRID_NODES, threads: int | None = None
) -> CrossingGrid:
    """The :class:`CrossingGrid` of a closed mesh: ``nodes`` per axis over its bounding box."""
    origin, extent = tree.lo[0], tree.hi[0] - tree.lo[0]
    step = np.maximum(extent, 1e-12 * max(float(extent.max()), 1e-300)) / (nodes - 1)
    axes = [origin[k] + step[k] * np.arange(nodes) for k in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    distance = closest_point(tree, points, threads=threads).distance
    value = ray_crossings(tree, points, parity=parity, threads=threads)
    shape = (nodes, nodes, nodes)
    return CrossingGrid(origin, step, value.reshape(shape), distance.reshape(shape))


def grid_crossings(
    grid: CrossingGrid, points: np.ndarray, distance: np.ndarray, threads: int | None = None
) -> np.ndarray:
    """:func:`ray_crossings` of points of a closed mesh read off the grid where a node's empty
    ball overlaps the point's (:func:`kernels.grid_crossings`): (N,) int64, equal to the ray
    count wherever it is not ``kernels.AMBIGUOUS`` (undecided)."""
    points = as_points(points)
    out = np.empty(len(points), dtype=np.int64)
    with numba_threads(threads):
        for part in chunks(len(points)):
            out[part] = kernels.grid_crossings(
                np.ascontiguousarray(points[part], dtype=np.float64),
                np.ascontiguousarray(distance[part], dtype=np.float64),
                grid.origin, grid.step, grid.value, grid.distance,
            )  # fmt: skip
    return out


def is_closed(faces: np.ndarray) -> bool:
    """Whether every edge of the faces (either direction) is shared by exactly two faces, as
    indexed: then the parity of a ray's crossings changes only across the surface."""
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) == 0:
        return False
    n = int(faces.max()) + 1
    tails, heads = faces.ravel(), np.roll(faces, -1, axis=1).ravel()
    edges = np.sort(np.minimum(tails, heads) * n + np.maximum(tails, heads))
    first = np.flatnonzero(np.r_[True, edges[1:] != edges[:-1]])
    return bool(np.all(np.diff(np.r_[first, len(edges)]) == 2))


def closed_oriented_volume(vertices: np.ndarray, faces: np.ndarray) -> float | None:
    """Signed volume of a closed, consistently oriented mesh (:func:`is_closed_oriented`); None
    for any other mesh, whose signed volume means nothing.

    Returns
    -------
    float or None
        Vertex units cubed; positive for outward-facing normals.
    """
    faces = np.asarray(faces, dtype=np.int64)
    vertices = np.asarray(vertices, dtype=np.float64)
    if not is_closed_oriented(faces):
        return None
    # Relative to the mean vertex: the volume does not depend on the origin, its rounding does.
    a, b, c = (vertices[faces[:, k]] - vertices.mean(axis=0) for k in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def encloses_volume(
    vertices: np.ndarray, faces: np.ndarray, *, threads: int | None = None, shortcut: bool = True
) -> bool:
    """Whether any edge-connected component of the mesh encloses volume on its own.

    Shortcut (``shortcut``): a closed, consistently oriented mesh whose signed volume is not
    zero (:func:`closed_oriented_volume`) does — its winding number is a nonzero integer
    somewhere — and no component test is needed. Every other mesh takes the component test: a
    component encloses volume when its own winding number exceeds 0.5 in magnitude (plus a
    small margin) at a probe point just off one of its faces (face centroids moved a tiny step
    along each normal, both sides). Testing components separately is what tells a triangle soup
    from a solid: overlapping soup triangles add up to |w| > 1 in places, but a single triangle
    or a flat sheet never exceeds 0.5.

    Parameters
    ----------
    vertices : (V, 3) float array
    faces : (F, 3) int array
    threads : int, optional
    shortcut : bool
        False: always the component test (the reference the shortcut is tested against).

    Returns
    -------
    bool
    """
    volume = closed_oriented_volume(vertices, faces) if shortcut else None
    if volume is not None:
        diagonal = float(np.linalg.norm(np.ptp(np.asarray(vertices)[np.unique(faces)], axis=0)))
        if abs(volume) > VOLUME_TOLERANCE * diagonal**3:
            return True
    import trimesh  # connected components; only the sample job asks, once per mesh

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
        cross = area_vectors(triangles)
        norms = np.linalg.norm(cross, axis=1)
        usable = np.flatnonzero(norms > 0)
        if len(usable) == 0:
            continue
        picked = usable[np.linspace(0, len(usable) - 1, min(PROBE_FACES, len(usable))).astype(int)]
        normals = cross[picked] / norms[picked, None]
        centroids = triangles[picked].mean(axis=1)
        probes = np.concatenate([centroids - step * normals, centroids + step * normals])
        w = winding_number(mesh_vertices, component, probes, method="brute", threads=threads)
        if np.max(np.abs(w)) > 0.5 + INSIDE_MARGIN:
            return True
    return False


def require_volume(
    vertices: np.ndarray, faces: np.ndarray, *, name: str, threads: int | None = None
) -> None:
    """Raise :class:`~neusdf.errors.NoInsideError` naming ``name`` unless
    :func:`encloses_volume` holds: the one place that decides (and words) "no signed distance
    for this mesh", for the sample stage and ``neusdf check`` alike."""
    if not encloses_volume(vertices, faces, threads=threads):
        raise NoInsideError(
            name, "encloses no volume (open triangle soup): a signed distance is undefined"
        )
