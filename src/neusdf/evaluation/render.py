"""Headless software rendering of triangle meshes and signed distance fields.

Everything runs on the CPU in numpy and numba: no display, OpenGL context or GPU is needed, and
the same inputs give the same pixels.

* **Camera**: orthographic, one of the named :data:`VIEWS`, framed on a set of points so that
  every picture of one object (input, reconstruction, field) shares one camera and one light.
* **Meshes**: z-buffer rasterisation (:func:`rasterize`, a numba kernel; its slow, plainly
  written reference is :func:`rasterize_reference`). A pixel is covered when its center lies
  inside a triangle (edges included); the nearest triangle wins, the lower face index on ties.
  Shading is flat (one normal per triangle, so facets and marching-cubes steps stay visible) and
  two-sided: triangles seen from behind (an open mesh's inside, flipped faces) get a warm colour.
* **Distances**: :func:`distance_colours` colours each covered pixel by the distance from its
  surface point to a reference surface (the caller passes the exact closest-point distance).
* **Fields**: :func:`sphere_trace` marches each pixel's ray by the field's own value, as a
  renderer of the SDF would. For a true SDF a step never passes the surface; a step that lands
  inside (value below ``-eps``) is an *overshoot*: the field over-estimated the distance there.
  A ray that steps through a thin part entirely leaves the volume; where the extracted mesh
  covers such a pixel, it is a *hole* (:func:`trace_counts`).

Points are in one frame of the caller's choosing (the pipeline and ``neusdf render`` use the
normalized frame, where trained fields are defined on [-1, 1]^3); no function changes units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from neusdf.io import atomic_path

__all__ = [
    "VIEWS",
    "Camera",
    "Raster",
    "Trace",
    "camera_for_points",
    "colour_ramp",
    "distance_colours",
    "field_colours",
    "mesh_colours",
    "rasterize",
    "rasterize_reference",
    "sphere_trace",
    "trace_counts",
    "visible_normals",
    "write_png",
]

SDFCallable = Callable[[np.ndarray], np.ndarray]

# View name -> (direction from the scene towards the camera, the world direction shown upwards).
# y is up, as in OBJ and glTF files: "front" looks along -z, "iso" from the (+x, +y, +z) octant.
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "front": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "back": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "right": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "left": ((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "top": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "bottom": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "iso": ((1.0, 1.0, 1.0), (0.0, 1.0, 0.0)),
}
# Fraction of the framed points' half-size left free around them.
FRAME_MARGIN = 0.05
# Light direction in camera coordinates (right, up, towards the viewer): above left of the
# viewer. Intensity = AMBIENT + DIFFUSE * max(0, n . light).
LIGHT = (-0.35, 0.55, 0.76)
AMBIENT, DIFFUSE = 0.28, 0.72
BACKGROUND = (1.0, 1.0, 1.0)
FRONT_COLOUR = (0.78, 0.80, 0.85)  # triangles seen from their outer side
BACK_COLOUR = (0.92, 0.60, 0.36)  # triangles seen from behind
# Sphere-traced fields: hits of rays that overshot are tinted with this colour, holes painted.
OVERSHOOT_COLOUR = (0.90, 0.10, 0.75)
# Sequential colour map of distances over [0, 1] of the scale: pale yellow -> red -> purple.
DISTANCE_RAMP = np.array(
    [
        [1.00, 0.98, 0.80],
        [0.99, 0.80, 0.40],
        [0.95, 0.45, 0.20],
        [0.78, 0.12, 0.22],
        [0.42, 0.02, 0.36],
    ]
)
# Step of the forward differences giving field normals, in pixels.
NORMAL_STEP_PIXELS = 0.5


# -- camera ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """An orthographic camera and its square image.

    A point ``p`` has view coordinates ``x = (p - center) . right``, ``y = (p - center) . up``
    and depth ``z = (p - center) . forward``; it lands on pixel column
    ``(x / half_width + 1) * size / 2`` and row ``(1 - y / half_width) * size / 2`` (row 0 at the
    top). Pixel ``(row, col)`` is sampled at its center ``(row + 0.5, col + 0.5)``.

    Attributes
    ----------
    right, up, forward : (3,) float64
        Orthonormal image axes; ``forward`` points from the viewer into the scene.
    center : (3,) float64
        The scene point at the image center and depth 0.
    half_width : float
        Half the image side, scene units.
    size : int
        Image side, pixels.
    """

    right: np.ndarray
    up: np.ndarray
    forward: np.ndarray
    center: np.ndarray
    half_width: float
    size: int

    @property
    def pixel_size(self) -> float:
        """Side of one pixel, scene units."""
        return 2.0 * self.half_width / self.size

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) scene points -> (N, 3) float64 ``[column, row, depth]`` (pixels, pixels,
        scene units)."""
        rel = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.center
        half = 0.5 * self.size
        screen = np.empty((len(rel), 3))
        screen[:, 0] = (rel @ self.right / self.half_width + 1.0) * half
        screen[:, 1] = (1.0 - rel @ self.up / self.half_width) * half
        screen[:, 2] = rel @ self.forward
        return screen

    def pixel_origins(self) -> np.ndarray:
        """(size * size, 3) float64 scene points of the pixel centers at depth 0, row-major."""
        offsets = ((np.arange(self.size) + 0.5) / (0.5 * self.size) - 1.0) * self.half_width
        y, x = np.meshgrid(-offsets, offsets, indexing="ij")
        return self.center + x.reshape(-1, 1) * self.right + y.reshape(-1, 1) * self.up

    def unproject(self, depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(K, 3) scene points at ``depth`` on the rays of the ``mask``ed pixels (both
        (size, size)), in row-major pixel order."""
        origins = self.pixel_origins()[np.asarray(mask).reshape(-1)]
        return origins + np.asarray(depth)[mask].reshape(-1, 1) * self.forward


def view_axes(view: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(right, up, forward)`` unit vectors of a named view (:data:`VIEWS`)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
    eye, world_up = (np.asarray(v, dtype=np.float64) for v in VIEWS[view])
    back = eye / np.linalg.norm(eye)  # towards the viewer
    up = world_up - (world_up @ back) * back
    up /= np.linalg.norm(up)
    return np.cross(up, back), up, -back


def camera_for_points(view: str, points: np.ndarray, size: int) -> Camera:
    """The camera of ``view`` whose ``size`` x ``size`` image frames ``points`` (N, 3),
    centered, with :data:`FRAME_MARGIN` around them."""
    if size < 8:
        raise ValueError(f"image size must be at least 8 pixels, got {size}")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not len(points) or not np.isfinite(points).all():
        raise ValueError("the points to frame must be finite and not empty")
    right, up, forward = view_axes(view)
    axes = np.stack([right, up, forward])
    coords = points @ axes.T  # (N, 3) view coordinates about the origin
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    middle = 0.5 * (lo + hi)
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1])) / 2.0
    # Points that all project to one pixel (a point, a segment seen end-on): a unit frame.
    if not extent > 1e-9 * max(1.0, float(np.abs(coords).max())):
        extent = 1.0
    half_width = extent * (1.0 + FRAME_MARGIN)
    return Camera(right, up, forward, middle @ axes, half_width, int(size))


# -- rasterisation --------------------------------------------------------------------------------


class Raster(NamedTuple):
    """What a camera sees of a mesh.

    Attributes
    ----------
    depth : (size, size) float64
        Depth of the nearest surface at each pixel center, scene units; ``inf`` where uncovered.
    face : (size, size) int64
        Index of that triangle; -1 where uncovered.
    """

    depth: np.ndarray
    face: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(size, size) bool: pixels covered by the mesh."""
        return self.face >= 0


@numba.njit(cache=True, nogil=True)
def _rasterize_kernel(screen, faces, depth, face_index):  # pragma: no cover - compiled
    """Z-buffer the triangles ``faces`` (F, 3) of ``screen`` (V, 3) [column, row, depth] into
    ``depth`` and ``face_index`` (H, W), in face order (a tie keeps the earlier face)."""
    height, width = depth.shape
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ax, ay, az = screen[a, 0], screen[a, 1], screen[a, 2]
        bx, by, bz = screen[b, 0], screen[b, 1], screen[b, 2]
        cx, cy, cz = screen[c, 0], screen[c, 1], screen[c, 2]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if area == 0.0 or not np.isfinite(area):
            continue
        # Pixels whose centers can lie inside: col + 0.5 in [min x, max x], likewise rows
        # (clamped before the integer conversion, for triangles far outside the image).
        x_lo = max(min(ax, bx, cx) - 0.5, -1.0)
        x_hi = min(max(ax, bx, cx) - 0.5, width + 1.0)
        y_lo = max(min(ay, by, cy) - 0.5, -1.0)
        y_hi = min(max(ay, by, cy) - 0.5, height + 1.0)
        col0, col1 = max(0, int(np.ceil(x_lo))), min(width - 1, int(np.floor(x_hi)))
        row0, row1 = max(0, int(np.ceil(y_lo))), min(height - 1, int(np.floor(y_hi)))
        for row in range(row0, row1 + 1):
            py = row + 0.5
            for col in range(col0, col1 + 1):
                px = col + 0.5
                w0 = (cx - bx) * (py - by) - (cy - by) * (px - bx)
                w1 = (ax - cx) * (py - cy) - (ay - cy) * (px - cx)
                w2 = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
                if area > 0.0:
                    inside = w0 >= 0.0 and w1 >= 0.0 and w2 >= 0.0
                else:
                    inside = w0 <= 0.0 and w1 <= 0.0 and w2 <= 0.0
                if inside:
                    z = (w0 * az + w1 * bz + w2 * cz) / area
                    if z < depth[row, col]:
                        depth[row, col] = z
                        face_index[row, col] = f


def _screen_and_faces(
    camera: Camera, vertices: np.ndarray, faces: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.ascontiguousarray(np.asarray(faces, dtype=np.int64).reshape(-1, 3))
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("faces index vertices that do not exist")
    return np.ascontiguousarray(camera.project(vertices)), faces


def rasterize(camera: Camera, vertices: np.ndarray, faces: np.ndarray) -> Raster:
    """Nearest triangle and its depth at every pixel center (numba z-buffer, one thread; it
    releases the GIL, so views can be rasterised on threads side by side).

    Parameters
    ----------
    camera : Camera
    vertices : (V, 3) float array
        Scene units.
    faces : (F, 3) int array
        Triangles of either winding (both sides are drawn); zero-area triangles are skipped.

    Returns
    -------
    Raster
        Identical to :func:`rasterize_reference`.
    """
    screen, faces = _screen_and_faces(camera, vertices, faces)
    depth = np.full((camera.size, camera.size), np.inf)
    face = np.full((camera.size, camera.size), -1, dtype=np.int64)
    if len(faces):
        _rasterize_kernel(screen, faces, depth, face)
    return Raster(depth, face)


def rasterize_reference(camera: Camera, vertices: np.ndarray, faces: np.ndarray) -> Raster:
    """:func:`rasterize` by testing every triangle at every pixel (O(pixels x faces), slow; the
    reference for tests).

    A pixel center ``p`` is inside triangle ``(a, b, c)`` when the three edge functions
    ``edge(b, c, p)``, ``edge(c, a, p)``, ``edge(a, b, p)`` all have the sign of the triangle's
    own ``edge(a, b, c)`` (zero counts as inside); its depth interpolates the corners' depths
    with those three weights. The nearest covering triangle wins, the lowest index on ties.
    """
    screen, faces = _screen_and_faces(camera, vertices, faces)
    size = camera.size
    depth = np.full((size, size), np.inf)
    face = np.full((size, size), -1, dtype=np.int64)
    if not len(faces):
        return Raster(depth, face)
    ax, ay, az = (screen[faces[:, 0], k] for k in range(3))
    bx, by, bz = (screen[faces[:, 1], k] for k in range(3))
    cx, cy, cz = (screen[faces[:, 2], k] for k in range(3))
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    usable = (area != 0.0) & np.isfinite(area)
    for row in range(size):
        py = row + 0.5
        for col in range(size):
            px = col + 0.5
            w0 = (cx - bx) * (py - by) - (cy - by) * (px - bx)
            w1 = (ax - cx) * (py - cy) - (ay - cy) * (px - cx)
            w2 = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
            positive = (area > 0.0) & (w0 >= 0.0) & (w1 >= 0.0) & (w2 >= 0.0)
            negative = (area < 0.0) & (w0 <= 0.0) & (w1 <= 0.0) & (w2 <= 0.0)
            inside = np.flatnonzero(usable & (positive | negative))
            if not len(inside):
                continue
            z = w0[inside] * az[inside] + w1[inside] * bz[inside] + w2[inside] * cz[inside]
            z = z / area[inside]
            best = int(np.argmin(z))  # the first of equal minima: the lowest face index
            depth[row, col] = z[best]
            face[row, col] = inside[best]
    return Raster(depth, face)


# -- shading --------------------------------------------------------------------------------------


def visible_normals(raster: Raster, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(K, 3) float64 unit normals of the triangles seen at the covered pixels of ``raster``
    (row-major order; right-hand rule on the winding; zero for degenerate triangles). Only the
    seen triangles are computed: a view sees a small part of a large mesh."""
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    corners = v[np.asarray(faces).reshape(-1, 3)[raster.face[raster.mask]]]  # (K, 3, 3)
    n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def lambert(camera: Camera, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided diffuse light of surfaces with unit ``normals`` (K, 3) seen by ``camera``.

    Returns
    -------
    intensity : (K,) float64
        In [AMBIENT, AMBIENT + DIFFUSE].
    facing : (K,) bool
        The normal points towards the viewer (the outer side is seen).
    """
    lx, ly, lz = LIGHT
    light = lx * camera.right + ly * camera.up - lz * camera.forward
    light /= np.linalg.norm(light)
    facing = normals @ camera.forward <= 0.0
    towards = np.where(facing[:, None], normals, -normals)
    return AMBIENT + DIFFUSE * np.clip(towards @ light, 0.0, None), facing


def _surface_colours(camera: Camera, normals: np.ndarray) -> np.ndarray:
    """(K, 3) lit colours of surfaces with ``normals``: outer sides FRONT_COLOUR, inner sides
    BACK_COLOUR."""
    intensity, facing = lambert(camera, normals)
    return np.where(facing[:, None], FRONT_COLOUR, BACK_COLOUR) * intensity[:, None]


def image_of(mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(size, size, 3) uint8 image: ``colours`` (K, 3) in [0, 1] at the ``mask``ed pixels (in
    row-major order), BACKGROUND elsewhere."""
    rgb = np.empty((*mask.shape, 3))
    rgb[...] = BACKGROUND
    rgb[mask] = colours
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def mesh_colours(camera: Camera, normals: np.ndarray) -> np.ndarray:
    """Flat-shaded colours (K, 3) of covered pixels whose triangles have ``normals`` (K, 3)
    (:func:`visible_normals`)."""
    return _surface_colours(camera, normals)


def colour_ramp(values: np.ndarray) -> np.ndarray:
    """(...) values in [0, 1] (clipped) -> (..., 3) float64 RGB along :data:`DISTANCE_RAMP`."""
    t = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * (len(DISTANCE_RAMP) - 1)
    low = np.minimum(np.floor(t).astype(np.int64), len(DISTANCE_RAMP) - 2)
    frac = (t - low)[..., None]
    return DISTANCE_RAMP[low] * (1.0 - frac) + DISTANCE_RAMP[low + 1] * frac


def distance_colours(
    camera: Camera, normals: np.ndarray, distances: np.ndarray, scale: float
) -> np.ndarray:
    """Colours (K, 3) of covered pixels by their ``distances`` (K,): the :func:`colour_ramp`
    of ``distances / scale``, darkened by the light on ``normals`` (K, 3) so the shape stays
    readable."""
    if not scale > 0:
        raise ValueError(f"distance scale must be positive, got {scale}")
    intensity, _ = lambert(camera, normals)
    shade = 0.45 + 0.55 * (intensity - AMBIENT) / DIFFUSE
    return colour_ramp(np.asarray(distances) / scale) * shade[:, None]


# -- sphere tracing -------------------------------------------------------------------------------

# Trace outcome per pixel.
MISSED, HIT, UNCONVERGED = 0, 1, 2


class Trace(NamedTuple):
    """Sphere-traced rays, one per pixel of a camera.

    Attributes
    ----------
    status : (size, size) int8
        ``HIT`` (the field's magnitude fell below ``eps``), ``MISSED`` (the ray left the box)
        or ``UNCONVERGED`` (still marching after ``max_steps``).
    depth : (size, size) float64
        Depth of the hit, scene units; ``inf`` unless HIT.
    value : (size, size) float64
        The field at the hit; NaN unless HIT.
    overshoot : (size, size) float64
        How deep inside the surface the ray's deepest step landed, as the field measures it
        (``-min value`` over the steps), where that exceeded ``eps``; 0 elsewhere.
    steps : (size, size) int32
        Field evaluations of the ray.
    """

    status: np.ndarray
    depth: np.ndarray
    value: np.ndarray
    overshoot: np.ndarray
    steps: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """(size, size) bool: rays that hit."""
        return self.status == HIT


def _slab(
    origins: np.ndarray, direction: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Depths where rays ``origins + t * direction`` enter and leave the box ``[lo, hi]``
    (enter > leave for rays that miss it)."""
    near = np.full(len(origins), -np.inf)
    far = np.full(len(origins), np.inf)
    for axis in range(3):
        d, o = direction[axis], origins[:, axis]
        if d == 0.0:
            outside = (o < lo[axis]) | (o > hi[axis])
            near[outside], far[outside] = np.inf, -np.inf
            continue
        t1, t2 = (lo[axis] - o) / d, (hi[axis] - o) / d
        near = np.maximum(near, np.minimum(t1, t2))
        far = np.minimum(far, np.maximum(t1, t2))
    return near, far


def sphere_trace(
    sdf_fn: SDFCallable,
    cameras: Sequence[Camera],
    bound: float = 1.0,
    eps_pixels: float = 0.5,
    max_steps: int = 64,
) -> list[Trace]:
    """March every pixel's ray of every camera through the cube [-bound, bound]^3 by the field.

    Each ray starts where it enters the cube and steps ``t += sdf(p)`` (a step back where the
    value is negative) until ``|sdf(p)| < eps`` (a hit), the ray leaves the cube (a miss) or
    ``max_steps`` evaluations are spent. For a true SDF no step passes the surface; how far the
    steps of a ray landed inside is its overshoot. The rays of all cameras march together, one
    call of ``sdf_fn`` per step.

    Parameters
    ----------
    sdf_fn : callable
        (M, 3) float32 points -> (M,) signed distances (negative inside), scene units.
    cameras : sequence of Camera
    bound : float
        Half-width of the cube where the field is defined, scene units.
    eps_pixels : float
        Hit tolerance ``eps``, in pixels of each camera.
    max_steps : int

    Returns
    -------
    list of Trace, one per camera
    """
    box_lo, box_hi = np.full(3, -float(bound)), np.full(3, float(bound))
    origins, forward, eps, near, far = [], [], [], [], []
    for camera in cameras:
        pixels = camera.pixel_origins()
        origins.append(pixels)
        forward.append(np.broadcast_to(camera.forward, pixels.shape))
        eps.append(np.full(len(pixels), eps_pixels * camera.pixel_size))
        enter, leave = _slab(pixels, camera.forward, box_lo, box_hi)
        near.append(enter)
        far.append(leave)
    origins, forward, eps, near, far = map(np.concatenate, (origins, forward, eps, near, far))
    n = len(origins)
    t = np.where(near < far, near, np.inf)
    status = np.full(n, MISSED, dtype=np.int8)
    value = np.full(n, np.nan)
    deepest = np.zeros(n)
    steps = np.zeros(n, dtype=np.int32)
    active = np.flatnonzero(near < far)
    for _ in range(max_steps):
        if not len(active):
            break
        points = (origins[active] + t[active, None] * forward[active]).astype(np.float32)
        values = np.asarray(sdf_fn(points), dtype=np.float64).reshape(-1)
        steps[active] += 1
        tolerance = eps[active]
        hit = np.abs(values) < tolerance
        status[active[hit]] = HIT
        value[active[hit]] = values[hit]
        inside = values <= -tolerance
        deepest[active[inside]] = np.maximum(deepest[active[inside]], -values[inside])
        t[active] += np.where(hit, 0.0, values)
        # Leaving through the far side, or stepping back out through the near side.
        gone = ~hit & ((t[active] > far[active]) | (t[active] < near[active] - tolerance))
        active = active[~hit & ~gone]
    status[active] = UNCONVERGED
    depth = np.where(status == HIT, t, np.inf)
    traces, start = [], 0
    for camera in cameras:
        count = camera.size**2
        part, shape = slice(start, start + count), (camera.size, camera.size)
        traces.append(
            Trace(*(a[part].reshape(shape) for a in (status, depth, value, deepest, steps)))
        )
        start += count
    return traces


def field_normals(
    sdf_fn: SDFCallable, points: np.ndarray, values: np.ndarray, step: float
) -> np.ndarray:
    """(K, 3) unit normals of a field at ``points`` (K, 3), where it is ``values`` (K,), by
    forward differences ``sdf(p + step e_i) - sdf(p)``."""
    probes = (points[:, None, :] + np.eye(3)[None] * step).reshape(-1, 3).astype(np.float32)
    ahead = np.asarray(sdf_fn(probes), dtype=np.float64).reshape(-1, 3)
    grad = ahead - np.asarray(values, dtype=np.float64)[:, None]
    length = np.linalg.norm(grad, axis=1, keepdims=True)
    return np.divide(grad, length, out=np.zeros_like(grad), where=length > 0)


def field_colours(camera: Camera, sdf_fn: SDFCallable, trace: Trace) -> np.ndarray:
    """Colours (K, 3) of the hit pixels of ``trace``: lit by the field's normals as meshes are,
    tinted with OVERSHOOT_COLOUR where the ray overshot."""
    hit = trace.hit
    points = camera.unproject(trace.depth, hit)
    step = NORMAL_STEP_PIXELS * camera.pixel_size
    normals = field_normals(sdf_fn, points, trace.value[hit], step)
    colours = _surface_colours(camera, normals)
    intensity, _ = lambert(camera, normals)
    tinted = trace.overshoot[hit] > 0
    colours[tinted] = 0.5 * colours[tinted] + 0.5 * np.outer(intensity[tinted], OVERSHOOT_COLOUR)
    return colours


def trace_counts(trace: Trace, reference: Raster | None = None) -> dict:
    """What the trace of one view shows.

    Returns
    -------
    dict
        ``rays``, ``hit``, ``missed``, ``unconverged``; ``overshoot`` (rays with a step that
        landed more than ``eps`` inside) and ``overshoot_max`` (the deepest such landing, as the
        field measures it); with ``reference`` (the extracted mesh's raster under the same camera):
        ``holes`` (pixels it covers where the ray did not hit) and ``extra`` (hits where it
        covers nothing); ``mean_steps`` over rays that entered the volume.
    """
    counts = {
        "rays": int(trace.status.size),
        "hit": int(trace.hit.sum()),
        "missed": int((trace.status == MISSED).sum()),
        "unconverged": int((trace.status == UNCONVERGED).sum()),
        "overshoot": int((trace.overshoot > 0).sum()),
        "overshoot_max": float(trace.overshoot.max()),
    }
    if reference is not None:
        counts["holes"] = int((reference.mask & ~trace.hit).sum())
        counts["extra"] = int((trace.hit & ~reference.mask).sum())
    marched = trace.steps > 0
    counts["mean_steps"] = float(trace.steps[marched].mean()) if marched.any() else 0.0
    return counts


# -- output ---------------------------------------------------------------------------------------


def write_png(path: str | Path, image) -> Path:
    """Write a PIL image (or (H, W, 3) uint8 array) as PNG, atomically. The bytes depend only
    on the pixels (no time stamp or other metadata)."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=6)
    return Path(path)
