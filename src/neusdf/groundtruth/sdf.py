"""Ground-truth signed distance of a triangle mesh at query points.

The distance magnitude comes from an *engine* and the sign from an *inside test*; the two are
chosen independently.

Engines (unsigned distance to the nearest triangle, both exact):

- ``"exact"``: our nearest-triangle search over a bounding-volume hierarchy, with conservative
  pruning, so it returns the brute-force minimum
  (:func:`neusdf.groundtruth.closest.closest_point`; its reference is ``closest_point_naive``).
- ``"pysdf"``: pysdf's nearest-triangle distance, then verified by the exact search started
  with pysdf's value as the bound. pysdf only looks at faces around the nearest *vertex*,
  which is badly wrong next to large flat triangles (CAD parts: errors up to a third of the
  object's size, see docs/groundtruth.md); since pysdf's value is a true distance to *some*
  triangle, it is a valid upper bound and the verification makes the result exact. Slower than
  ``"exact"`` and kept for comparisons.

Inside tests:

- ``"winding"``: generalized winding number w (Jacobson et al. 2013), inside where |w| > 0.5
  (the magnitude, so an inside-out body still counts). On a closed, consistently oriented mesh
  w is an integer off the surface and is computed exactly by counting signed crossings of one
  ray (:func:`neusdf.groundtruth.winding.ray_crossings`); on any other mesh it is computed with
  the fast hierarchical evaluation of Barill et al. 2018, robust to holes, evaluated again more
  accurately where it is close to 0.5.
- ``"parity"``: odd number of ray crossings (a closed surface of any orientation, e.g. bodies
  whose faces are not consistently oriented).
- ``"auto"``: parity for a watertight mesh that is not consistently oriented, winding
  otherwise.

Rays are deterministic (fixed directions, the next one when a ray grazes an edge or a corner);
a point where every direction grazes (within rounding of the surface) gets the fast winding
number's answer.

Convention: SDF < 0 inside, > 0 outside; units are those of the vertices (the normalized
frame in the pipeline).
"""

from __future__ import annotations

import os

import numpy as np

from neusdf.errors import MeshError
from neusdf.groundtruth import kernels
from neusdf.groundtruth.closest import as_points, build_tree, closest_point
from neusdf.groundtruth.kernels import AMBIGUOUS
from neusdf.groundtruth.winding import (
    crossing_grid,
    grid_crossings,
    is_closed,
    is_closed_oriented,
    ray_crossings,
    require_volume,
    winding_number,
)
from neusdf.io import read_json
from neusdf.mesh.ply import read_ply

ENGINES = ("pysdf", "exact")
# Where the fast winding number (beta = 2, errors up to ~0.1 on open meshes) is this close to the
# inside threshold 0.5, it is evaluated again with a far-field opening ratio of REFINE_BETA
# (errors ~100 times smaller), so the sign follows the exact winding number there too.
REFINE_MARGIN = 0.2
REFINE_BETA = 8.0
# From this many faces on, the tree no longer fits in the CPU caches and queries run in Z-order
# (nearby points one after the other, so consecutive searches share cached nodes).
SPATIAL_ORDER_FACES = 50_000
SIGN_METHODS = ("auto", "parity", "winding")


class _Pysdf:
    """pysdf's distance on one mesh (float32 inside pysdf), threads fixed at construction."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, threads: int | None):
        import pysdf  # imported lazily: only the pysdf engine needs it

        self._sdf = pysdf.SDF(
            np.ascontiguousarray(vertices, dtype=np.float32),
            np.ascontiguousarray(faces, dtype=np.uint32),
        )
        self._threads = max(1, int(threads)) if threads is not None else (os.cpu_count() or 1)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """(N,) float32 unsigned distance to *some* nearby triangle (an upper bound)."""
        query = np.ascontiguousarray(as_points(points), dtype=np.float32)
        raw = self._sdf(query, n_threads=self._threads)
        return np.abs(np.asarray(raw, dtype=np.float32).reshape(-1))


def pysdf_unsigned_distance(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """pysdf's own (uncorrected) unsigned distance (N,) float32 of (N, 3) points, for comparisons:
    never below the true distance (it is the distance to some triangle), but can be far above it
    next to large triangles."""
    return _Pysdf(vertices, faces, threads).distance(points)


def parity_inside(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """Ray-parity inside test: (N,) bool for (N, 3) points, True where a ray to outside the
    mesh crosses it an odd number of times; meaningful only for closed surfaces."""
    truth = GroundTruth(vertices, faces, sign="parity", threads=threads, check_volume=False)
    return truth.inside(points)


def mesh_is_watertight(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces, after merging coincident vertices (trimesh)."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    mesh.merge_vertices()
    return bool(mesh.is_watertight)


def resolve_sign_method(sign: str, watertight: bool, oriented: bool) -> str:
    """``"auto"`` -> ``"parity"`` for a watertight mesh whose faces are not consistently
    oriented, ``"winding"`` otherwise; others as is."""
    if sign not in SIGN_METHODS:
        raise ValueError(f"sign must be one of {SIGN_METHODS}, got {sign!r}")
    if sign == "auto":
        return "parity" if watertight and not oriented else "winding"
    return sign


class GroundTruth:
    """The exact signed distance of one mesh: set up once (checks, hierarchy), then called on
    any number of point sets.

    Parameters
    ----------
    vertices : (V, 3) float array
        Mesh vertices (the normalized frame in the pipeline).
    faces : (F, 3) int array
    engine : {"exact", "pysdf"}
        Source of the distance magnitude (both exact; see the module docstring).
    sign : {"auto", "parity", "winding"}
        Inside test; ``"auto"`` uses winding unless the mesh is watertight and not consistently
        oriented.
    watertight : bool, optional
        Whether the mesh is watertight (computed with trimesh when None); only used by "auto".
    threads : int, optional
        Threads for numba and pysdf (default: all available).
    name : str
        The mesh's path or name, for error messages.
    check_volume : bool
        Refuse a mesh that encloses no volume (:func:`require_volume`); False only where that
        check already passed (the plot job, after the sample job).

    Attributes
    ----------
    sign_method : {"parity", "winding"}
        The inside test actually used.
    closed : bool
        Whether the faces are closed and consistently oriented (:func:`is_closed_oriented`):
        then winding numbers come from ray crossings, exactly.
    tree : TriangleTree
        The hierarchy (closest points, ray crossings, fast winding numbers).

    Raises
    ------
    NoInsideError
        When no component of the mesh encloses volume (a triangle soup, a lone sheet).
    MeshError
        When the vertices or faces are unusable.
    ValueError
        On an unknown engine or sign method.
    """

    def __init__(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        *,
        engine: str = "exact",
        sign: str = "auto",
        watertight: bool | None = None,
        threads: int | None = None,
        name: str = "<mesh>",
        check_volume: bool = True,
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if sign not in SIGN_METHODS:
            raise ValueError(f"sign must be one of {SIGN_METHODS}, got {sign!r}")
        vertices = np.asarray(vertices, dtype=np.float64)
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
            raise MeshError(name, "has no triangle faces")
        if not np.isfinite(vertices[faces]).all():
            raise MeshError(name, "has NaN or infinite vertex coordinates")
        if check_volume:
            require_volume(vertices, faces, name=name, threads=threads)
        self.closed = is_closed_oriented(faces)
        if sign == "auto" and watertight is None:
            watertight = self.closed or mesh_is_watertight(vertices, faces)
        self.vertices, self.faces = vertices, faces
        self.engine = engine
        self.sign_method = resolve_sign_method(sign, bool(watertight), self.closed)
        self.threads = threads
        # Fast winding numbers need the far-field moments only where rays do not decide.
        tree_winding = self.sign_method == "winding" and not self.closed
        self.tree = build_tree(vertices, faces, winding=tree_winding)
        self._pysdf = _Pysdf(vertices, faces, threads) if engine == "pysdf" else None
        self._parity = self.sign_method == "parity"
        # Rays decide the sign on closed meshes; a grid of nodes with known crossings decides
        # most points without one (see :func:`grid_crossings`). The crossings of points joined
        # without crossing the surface agree only on a closed mesh.
        use_grid = self.closed if not self._parity else is_closed(faces)
        self._grid = (
            crossing_grid(self.tree, parity=self._parity, threads=threads) if use_grid else None
        )

    @classmethod
    def of_normalized(
        cls, mesh_path: str, meta_path: str, cfg: dict, threads: int, check_volume: bool = True
    ) -> GroundTruth:
        """The ground truth of a normalized mesh file (``results/normalized/{obj}.ply`` and its
        JSON record), as configured in ``cfg = config["sample"]`` (``engine``, ``sign``)."""
        vertices, faces = read_ply(mesh_path)
        meta = read_json(meta_path)
        return cls(
            vertices,
            faces,
            engine=cfg["engine"],
            sign=cfg["sign"],
            watertight=bool(meta["watertight"]),
            threads=int(threads),
            name=meta["source"],
            check_volume=check_volume,
        )

    def unsigned_distance(self, points: np.ndarray) -> np.ndarray:
        """Exact distance (N,) float64 from (N, 3) points to the surface, vertex units."""
        points = as_points(points)
        if self.engine == "exact":
            return closest_point(self.tree, points, threads=self.threads).distance
        # pysdf's value is the distance to a real triangle, so it bounds the exact search from
        # above; the small slack covers its float32 rounding.
        rough = self._pysdf.distance(points).astype(np.float64)
        exact = closest_point(
            self.tree, points, upper=rough + 1e-6 * (1.0 + rough), threads=self.threads
        ).distance
        return np.minimum(exact, rough)

    def winding_number(self, points: np.ndarray) -> np.ndarray:
        """Generalized winding number (N,) float64 of (N, 3) points: exact integers from ray
        crossings on a closed, consistently oriented mesh, the fast hierarchical evaluation
        on any other mesh and wherever every ray grazes the surface."""
        points = as_points(points)
        if not self.closed:
            return self._tree_winding(points)
        return self._from_crossings(points, self._crossings(points, parity=False))

    def inside(self, points: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
        """(N,) bool: True where a point is inside the solid.

        ``distance`` (N,) float64, the points' exact distances (:meth:`unsigned_distance`),
        lets the crossing grid decide most points without a ray on closed meshes.
        """
        points = as_points(points)
        if self.sign_method == "winding" and not self.closed:
            # An inside-out body has w ~ -1 inside; its orientation is an export accident, not
            # the user's intent, so the magnitude decides.
            return np.abs(self._tree_winding(points)) > 0.5
        crossings = self._crossings(points, parity=self._parity, distance=distance)
        if self._parity:
            inside = crossings % 2 == 1
            grazed = np.flatnonzero(crossings == AMBIGUOUS)
            if len(grazed):
                inside[grazed] = np.abs(self._tree_winding(points[grazed])) > 0.5
            return inside
        return np.abs(self._from_crossings(points, crossings)) > 0.5

    def _crossings(
        self, points: np.ndarray, *, parity: bool, distance: np.ndarray | None = None
    ) -> np.ndarray:
        """:func:`ray_crossings` of the points, read off the grid where it decides."""
        if distance is None or parity != self._parity or self._grid is None:
            return ray_crossings(self.tree, points, parity=parity, threads=self.threads)
        crossings = grid_crossings(self._grid, points, distance, threads=self.threads)
        open_ = np.flatnonzero(crossings == AMBIGUOUS)
        if len(open_):
            crossings[open_] = ray_crossings(
                self.tree, points[open_], parity=parity, threads=self.threads
            )
        return crossings

    def _from_crossings(self, points: np.ndarray, crossings: np.ndarray) -> np.ndarray:
        """Winding numbers from signed crossings; the fast evaluation where every ray grazed."""
        w = -crossings.astype(np.float64)
        grazed = np.flatnonzero(crossings == AMBIGUOUS)
        if len(grazed):
            w[grazed] = self._tree_winding(points[grazed])
        return w

    def _tree_winding(self, points: np.ndarray) -> np.ndarray:
        """Fast winding numbers, refined where they are close to the inside threshold."""
        if self.tree.moment is None:
            self.tree = self.tree.with_moments()
        w = winding_number(self.vertices, self.faces, points, tree=self.tree, threads=self.threads)
        close = np.flatnonzero(np.abs(np.abs(w) - 0.5) < REFINE_MARGIN)
        if len(close):
            w[close] = winding_number(
                self.vertices, self.faces, points[close], tree=self.tree, beta=REFINE_BETA,
                threads=self.threads,
            )  # fmt: skip
        return w

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Signed distances (N,) float32 of (N, 3) points: negative inside, vertex units."""
        points = as_points(points)
        if len(self.faces) >= SPATIAL_ORDER_FACES and len(points) > 1:
            # Each point's value does not depend on the order, only the cache traffic does.
            order = spatial_order(points)
            out = np.empty(len(points), dtype=np.float32)
            out[order] = self._signed(np.ascontiguousarray(points[order]))
            return out
        return self._signed(points)

    def _signed(self, points: np.ndarray) -> np.ndarray:
        distance = self.unsigned_distance(points)
        return np.where(self.inside(points, distance), -distance, distance).astype(np.float32)


def spatial_order(points: np.ndarray) -> np.ndarray:
    """(N,) int64 permutation that lists (N, 3) points in Z-order (Morton codes over their
    bounding box; ties keep their input order)."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    origin = points.min(axis=0)
    extent = float(np.max(points.max(axis=0) - origin))
    scale = (1 << 21) / extent if extent > 0 else 0.0
    return np.argsort(kernels.morton_codes(points, origin, scale), kind="stable")


def signed_distance(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, **options
) -> tuple[np.ndarray, str]:
    """Signed distance from points to a mesh, in one call: :class:`GroundTruth` built with the
    keyword ``options`` (``engine``, ``sign``, ``watertight``, ``threads``, ``name``), then
    called on ``points``.

    Returns
    -------
    sdf : (N,) float32
        Signed distances, vertex units, negative inside.
    sign_method : {"parity", "winding"}
        The inside test actually used.
    """
    truth = GroundTruth(vertices, faces, **options)
    return truth(points), truth.sign_method
