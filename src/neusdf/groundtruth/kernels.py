"""Numba kernels behind :mod:`neusdf.groundtruth`: exact distances and winding numbers.

Everything here works on a triangle array ``triangles`` of shape (F, 3, 3) float64 (face,
corner, xyz) and query points (N, 3) float64, all in the same (normalized) units. The kernels
are parallel over points (``numba.prange``); the caller chooses the thread count and chunks the
points so memory stays bounded.

Two families:

- brute force, O(N * F): the winding-number reference (:func:`brute_force_winding`; the
  closest-point reference is plain numpy, :func:`neusdf.groundtruth.closest.closest_point_naive`);
- a bounding-volume hierarchy over the triangles (:func:`build_tree`), used for an exact
  nearest-triangle search (:func:`tree_closest`, conservative pruning, so it returns the same
  minimum as the brute force) and for fast winding numbers (:func:`tree_winding`, Barill et
  al. 2018: exact near field, second-order dipole expansion in the far field).
"""

from __future__ import annotations

import math

import numba
import numpy as np

FOUR_PI = 4.0 * math.pi


@numba.njit(cache=True, fastmath=False, inline="always")
def _dot(ax, ay, az, bx, by, bz):
    return ax * bx + ay * by + az * bz


@numba.njit(cache=True, fastmath=False)
def closest_point_on_triangle(px, py, pz, tri):
    """Closest point (qx, qy, qz) of triangle ``tri`` (3, 3) float64 to the point p.

    Closest-point region analysis (Ericson, *Real-Time Collision Detection* 5.1.5): vertex, edge
    and face Voronoi regions of the triangle, tested with barycentric sub-determinants.
    """
    ax, ay, az = tri[0, 0], tri[0, 1], tri[0, 2]
    bx, by, bz = tri[1, 0], tri[1, 1], tri[1, 2]
    cx, cy, cz = tri[2, 0], tri[2, 1], tri[2, 2]
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    apx, apy, apz = px - ax, py - ay, pz - az

    # Region of vertex A.
    d1 = _dot(abx, aby, abz, apx, apy, apz)
    d2 = _dot(acx, acy, acz, apx, apy, apz)
    if d1 <= 0.0 and d2 <= 0.0:
        return ax, ay, az

    # Region of vertex B.
    bpx, bpy, bpz = px - bx, py - by, pz - bz
    d3 = _dot(abx, aby, abz, bpx, bpy, bpz)
    d4 = _dot(acx, acy, acz, bpx, bpy, bpz)
    if d3 >= 0.0 and d4 <= d3:
        return bx, by, bz

    # Region of edge AB.
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        # A zero-length edge (degenerate triangle) makes the denominator 0: its point is A.
        t = d1 / (d1 - d3) if d1 != d3 else 0.0
        return ax + t * abx, ay + t * aby, az + t * abz

    # Region of vertex C.
    cpx, cpy, cpz = px - cx, py - cy, pz - cz
    d5 = _dot(abx, aby, abz, cpx, cpy, cpz)
    d6 = _dot(acx, acy, acz, cpx, cpy, cpz)
    if d6 >= 0.0 and d5 <= d6:
        return cx, cy, cz

    # Region of edge AC.
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        t = d2 / (d2 - d6) if d2 != d6 else 0.0
        return ax + t * acx, ay + t * acy, az + t * acz

    # Region of edge BC.
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        denom_bc = (d4 - d3) + (d5 - d6)
        t = (d4 - d3) / denom_bc if denom_bc != 0.0 else 0.0
        return bx + t * (cx - bx), by + t * (cy - by), bz + t * (cz - bz)

    # Face interior: barycentrics (v, w) of the closest point.
    denom = va + vb + vc
    if denom == 0.0:  # degenerate triangle whose edges did not catch p; fall back to A
        return ax, ay, az
    v = vb / denom
    w = vc / denom
    return ax + v * abx + w * acx, ay + v * aby + w * acy, az + v * abz + w * acz


@numba.njit(cache=True, fastmath=False)
def triangle_solid_angle(px, py, pz, tri):
    """Signed solid angle (steradians) subtended at p by triangle ``tri`` (3, 3) float64.

    Van Oosterom–Strackee: tan(Omega / 2) = a.(b x c) / (|a||b||c| + (a.b)|c| + (b.c)|a|
    + (c.a)|b|) with a, b, c the corners relative to p. Positive when p sees the back of the
    triangle (the side opposite its right-hand normal), so an outward-oriented closed surface
    gives 4*pi inside and 0 outside.
    """
    ax, ay, az = tri[0, 0] - px, tri[0, 1] - py, tri[0, 2] - pz
    bx, by, bz = tri[1, 0] - px, tri[1, 1] - py, tri[1, 2] - pz
    cx, cy, cz = tri[2, 0] - px, tri[2, 1] - py, tri[2, 2] - pz
    la = math.sqrt(_dot(ax, ay, az, ax, ay, az))
    lb = math.sqrt(_dot(bx, by, bz, bx, by, bz))
    lc = math.sqrt(_dot(cx, cy, cz, cx, cy, cz))
    triple = ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
    denom = (
        la * lb * lc
        + _dot(ax, ay, az, bx, by, bz) * lc
        + _dot(bx, by, bz, cx, cy, cz) * la
        + _dot(cx, cy, cz, ax, ay, az) * lb
    )
    return 2.0 * math.atan2(triple, denom)


@numba.njit(parallel=True, cache=True)
def brute_force_winding(points, triangles):
    """Generalized winding number (N,) float64: sum of signed solid angles / (4 pi)."""
    n_points = points.shape[0]
    out = np.empty(n_points, dtype=np.float64)
    for i in numba.prange(n_points):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        total = 0.0
        for f in range(triangles.shape[0]):
            total += triangle_solid_angle(px, py, pz, triangles[f])
        out[i] = total / FOUR_PI
    return out


# --------------------------------------------------------------------------- hierarchy

# Points per scheduling block of the parallel tree queries: one traversal stack per block, and
# consecutive points (often near each other) on one thread.
BLOCK = 64
# A ray test is ambiguous (the ray grazes an edge, a vertex or the triangle's plane at its
# start) when a triple product is within this fraction of its magnitude scale: about 10^4 times
# the rounding error of float64 triple products, far below any real geometric margin.
RAY_TOLERANCE = 1e-12
# Returned by :func:`tree_ray_crossings` when every ray direction was ambiguous.
AMBIGUOUS = np.int64(1) << np.int64(40)


@numba.njit(cache=True)
def build_tree(triangles, leaf_size, n_bins):
    """Binary hierarchy over triangles, split by the surface-area heuristic (binned).

    Each node owns a contiguous range of the face permutation ``order``. Nodes are stored in
    depth-first order: the left child of inner node k is k + 1, its right child ``right[k]``;
    leaves have ``right == -1``. A node is split at the bin boundary (``n_bins`` bins of the
    centroid extent, on each axis) that minimizes the summed surface area times face count of
    the two children; when no boundary separates the centroids, at the median. The build is
    deterministic: it depends only on the triangles.

    Parameters
    ----------
    triangles : (F, 3, 3) float64
    leaf_size : int
        Most faces in a leaf.
    n_bins : int

    Returns
    -------
    order : (F,) int64
        Face permutation; node k owns ``order[start[k]:start[k] + count[k]]``.
    start, count, right : (M,) int64
    lo, hi : (M, 3) float64
        Axis-aligned bounds of each node's triangles.
    depth : int
        Number of levels (sizes the traversal stacks).
    """
    n_faces = triangles.shape[0]
    tlo = np.empty((n_faces, 3))
    thi = np.empty((n_faces, 3))
    centroid = np.empty((n_faces, 3))
    for f in range(n_faces):
        for k in range(3):
            a, b, c = triangles[f, 0, k], triangles[f, 1, k], triangles[f, 2, k]
            tlo[f, k] = min(a, b, c)
            thi[f, k] = max(a, b, c)
            centroid[f, k] = 0.5 * (tlo[f, k] + thi[f, k])
    order = np.arange(n_faces)
    max_nodes = 2 * n_faces
    start = np.zeros(max_nodes, dtype=np.int64)
    count = np.zeros(max_nodes, dtype=np.int64)
    right = np.full(max_nodes, -1, dtype=np.int64)
    lo = np.empty((max_nodes, 3))
    hi = np.empty((max_nodes, 3))
    # Pending ranges (begin, end, the node waiting for it as its right child, level); every
    # pending range holds at least one face, so n_faces + 1 slots always suffice.
    pending = np.empty((n_faces + 1, 4), dtype=np.int64)
    pending[0, 0], pending[0, 1], pending[0, 2], pending[0, 3] = 0, n_faces, -1, 1
    top = 1
    n_nodes = 0
    depth = 1
    bin_lo = np.empty((n_bins, 3))
    bin_hi = np.empty((n_bins, 3))
    bin_count = np.empty(n_bins, dtype=np.int64)
    right_area = np.empty(n_bins)
    clo = np.empty(3)
    chi = np.empty(3)
    while top > 0:
        top -= 1
        s, e, parent, level = pending[top, 0], pending[top, 1], pending[top, 2], pending[top, 3]
        node = n_nodes
        n_nodes += 1
        depth = max(depth, level)
        if parent >= 0:
            right[parent] = node
        start[node], count[node] = s, e - s
        for k in range(3):
            lo[node, k], hi[node, k] = np.inf, -np.inf
            clo[k], chi[k] = np.inf, -np.inf
        for j in range(s, e):
            f = order[j]
            for k in range(3):
                lo[node, k] = min(lo[node, k], tlo[f, k])
                hi[node, k] = max(hi[node, k], thi[f, k])
                clo[k] = min(clo[k], centroid[f, k])
                chi[k] = max(chi[k], centroid[f, k])
        n = e - s
        if n <= leaf_size:
            continue
        best_cost, best_axis, best_bin = np.inf, -1, -1
        for k in range(3):
            extent = chi[k] - clo[k]
            if not extent > 0.0:
                continue
            scale = n_bins / extent
            for q in range(n_bins):
                bin_count[q] = 0
                for kk in range(3):
                    bin_lo[q, kk], bin_hi[q, kk] = np.inf, -np.inf
            for j in range(s, e):
                f = order[j]
                q = min(n_bins - 1, int((centroid[f, k] - clo[k]) * scale))
                bin_count[q] += 1
                for kk in range(3):
                    bin_lo[q, kk] = min(bin_lo[q, kk], tlo[f, kk])
                    bin_hi[q, kk] = max(bin_hi[q, kk], thi[f, kk])
            x0 = y0 = z0 = np.inf
            x1 = y1 = z1 = -np.inf
            for q in range(n_bins - 1, 0, -1):
                x0, y0, z0 = min(x0, bin_lo[q, 0]), min(y0, bin_lo[q, 1]), min(z0, bin_lo[q, 2])
                x1, y1, z1 = max(x1, bin_hi[q, 0]), max(y1, bin_hi[q, 1]), max(z1, bin_hi[q, 2])
                dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
                right_area[q] = dx * dy + dy * dz + dz * dx if dx >= 0.0 else 0.0
            x0 = y0 = z0 = np.inf
            x1 = y1 = z1 = -np.inf
            n_left = 0
            for q in range(n_bins - 1):
                x0, y0, z0 = min(x0, bin_lo[q, 0]), min(y0, bin_lo[q, 1]), min(z0, bin_lo[q, 2])
                x1, y1, z1 = max(x1, bin_hi[q, 0]), max(y1, bin_hi[q, 1]), max(z1, bin_hi[q, 2])
                n_left += bin_count[q]
                if n_left == 0 or n_left == n:
                    continue
                dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
                cost = (dx * dy + dy * dz + dz * dx) * n_left + right_area[q + 1] * (n - n_left)
                if cost < best_cost:
                    best_cost, best_axis, best_bin = cost, k, q
        middle = s + n // 2
        if best_axis >= 0:
            k = best_axis
            scale = n_bins / (chi[k] - clo[k])
            i, j = s, e - 1
            while i <= j:
                if min(n_bins - 1, int((centroid[order[i], k] - clo[k]) * scale)) <= best_bin:
                    i += 1
                else:
                    order[i], order[j] = order[j], order[i]
                    j -= 1
            middle = i
        # Right range first, so the left child is popped next and becomes node + 1.
        pending[top, 0], pending[top, 1], pending[top, 2], pending[top, 3] = (
            middle,
            e,
            node,
            level + 1,
        )
        pending[top + 1, 0], pending[top + 1, 1] = s, middle
        pending[top + 1, 2], pending[top + 1, 3] = -1, level + 1
        top += 2
    return (
        order,
        start[:n_nodes].copy(),
        count[:n_nodes].copy(),
        right[:n_nodes].copy(),
        lo[:n_nodes].copy(),
        hi[:n_nodes].copy(),
        depth,
    )


@numba.njit(cache=True)
def tree_moments(triangles, start, count, right, lo, hi):
    """Far-field data of every node, for :func:`tree_winding`, built bottom-up.

    ``triangles`` are in tree order (node k owns ``triangles[start[k]:start[k] + count[k]]``).
    Leaves sum over their triangles; an inner node combines its two children exactly
    (area-weighted centers, summed area vectors, moments shifted to the new center).

    Returns
    -------
    center : (M, 3) float64
        Expansion point: area-weighted centroid (mean of triangle centroids if the node has zero
        area).
    dipole : (M, 3) float64
        Sum of area vectors (area times unit normal) of the node's triangles.
    moment : (M, 3, 3) float64
        ``sum_t a_t n_t (c_t - center)^T``: the second-order term (exact for flat triangles,
        since a linear function integrates to area times its centroid value).
    radius : (M,) float64
        An upper bound of the distance from ``center`` to any corner of the node's triangles
        (exact in leaves; the smaller of two bounds in inner nodes).
    """
    n_nodes = right.shape[0]
    center = np.zeros((n_nodes, 3))
    dipole = np.zeros((n_nodes, 3))
    moment = np.zeros((n_nodes, 3, 3))
    radius = np.zeros(n_nodes)
    area = np.zeros(n_nodes)
    centroid_sum = np.zeros((n_nodes, 3))
    for node in range(n_nodes - 1, -1, -1):  # children come after their parent
        if right[node] < 0:
            s, n = start[node], count[node]
            weighted = np.zeros(3)
            for j in range(s, s + n):
                t = triangles[j]
                e1 = t[1] - t[0]
                e2 = t[2] - t[0]
                nx = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1])
                ny = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2])
                nz = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0])
                a = math.sqrt(nx * nx + ny * ny + nz * nz)
                c = (t[0] + t[1] + t[2]) / 3.0
                area[node] += a
                weighted += a * c
                centroid_sum[node] += c
                dipole[node, 0] += nx
                dipole[node, 1] += ny
                dipole[node, 2] += nz
            if area[node] > 0.0:
                center[node] = weighted / area[node]
            else:
                center[node] = centroid_sum[node] / n
            r2 = 0.0
            for j in range(s, s + n):
                t = triangles[j]
                e1 = t[1] - t[0]
                e2 = t[2] - t[0]
                av = np.empty(3)
                av[0] = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1])
                av[1] = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2])
                av[2] = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0])
                offset = (t[0] + t[1] + t[2]) / 3.0 - center[node]
                for a in range(3):
                    for b in range(3):
                        moment[node, a, b] += av[a] * offset[b]
                for corner in range(3):
                    d = t[corner] - center[node]
                    r2 = max(r2, d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
            radius[node] = math.sqrt(r2)
            continue
        a_child, b_child = node + 1, right[node]
        area[node] = area[a_child] + area[b_child]
        dipole[node] = dipole[a_child] + dipole[b_child]
        centroid_sum[node] = centroid_sum[a_child] + centroid_sum[b_child]
        if area[node] > 0.0:
            center[node] = (area[a_child] * center[a_child] + area[b_child] * center[b_child]) / (
                area[node]
            )
        else:
            center[node] = centroid_sum[node] / count[node]
        bound = 0.0
        for child in (a_child, b_child):
            shift = center[child] - center[node]
            for a in range(3):
                for b in range(3):
                    moment[node, a, b] += moment[child, a, b] + dipole[child, a] * shift[b]
            bound = max(bound, math.sqrt(shift @ shift) + radius[child])
        # The box holds every corner: its farthest corner from the center bounds them too.
        box = 0.0
        for k in range(3):
            box += max(center[node, k] - lo[node, k], hi[node, k] - center[node, k]) ** 2
        radius[node] = min(bound, math.sqrt(box))
    return center, dipole, moment, radius


@numba.njit(cache=True, inline="always")
def _box_sqdist(px, py, pz, lo, hi, node):
    dx = max(lo[node, 0] - px, 0.0, px - hi[node, 0])
    dy = max(lo[node, 1] - py, 0.0, py - hi[node, 1])
    dz = max(lo[node, 2] - pz, 0.0, pz - hi[node, 2])
    return dx * dx + dy * dy + dz * dz


@numba.njit(parallel=True, cache=True)
def tree_closest(points, triangles, normals, start, count, right, lo, hi, depth, upper):
    """Exact nearest triangle of each point, via the hierarchy (triangles in tree order).

    ``upper`` (N,) float64 is a known upper bound of each squared distance (``inf`` if none).
    The nearer child is searched first. A node is skipped only when its box is at least as far
    as the best triangle found so far, and a triangle only when its plane (``normals``: unit
    normals, zero for degenerate triangles) is farther than that, with a relative margin that
    covers rounding; so the result is the brute-force minimum whatever ``upper`` is, as long
    as it is an upper bound.

    Returns
    -------
    sqdist : (N,) float64
        Squared distance to the nearest triangle.
    face : (N,) int64
        That triangle's position in tree order; -1 when no triangle beat ``upper``.
    closest : (N, 3) float64
        The closest point on it (the query itself where ``face`` is -1).
    """
    n_points = points.shape[0]
    sqdist = np.empty(n_points, dtype=np.float64)
    face = np.full(n_points, -1, dtype=np.int64)
    closest = points.copy()
    for block in numba.prange((n_points + BLOCK - 1) // BLOCK):
        # Pending nodes and their box distances (not recomputed when popped).
        stack = np.empty(2 * depth + 2, dtype=np.int64)
        stack_sq = np.empty(2 * depth + 2, dtype=np.float64)
        for i in range(block * BLOCK, min(n_points, (block + 1) * BLOCK)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            best = upper[i]
            # Triangles are skipped when their plane is farther than best, with a margin.
            skip = best * (1.0 + 1e-9)
            best_face = -1
            top = 0
            node = 0 if _box_sqdist(px, py, pz, lo, hi, 0) < best else -1
            while node >= 0:
                if right[node] < 0:
                    for f in range(start[node], start[node] + count[node]):
                        h = (
                            (px - triangles[f, 0, 0]) * normals[f, 0]
                            + (py - triangles[f, 0, 1]) * normals[f, 1]
                            + (pz - triangles[f, 0, 2]) * normals[f, 2]
                        )
                        if h * h > skip:
                            continue
                        qx, qy, qz = closest_point_on_triangle(px, py, pz, triangles[f])
                        d = _dot(px - qx, py - qy, pz - qz, px - qx, py - qy, pz - qz)
                        if d < best:
                            best = d
                            skip = best * (1.0 + 1e-9)
                            best_face = f
                else:
                    a, b = node + 1, right[node]
                    da = _box_sqdist(px, py, pz, lo, hi, a)
                    db = _box_sqdist(px, py, pz, lo, hi, b)
                    if da > db:
                        a, b = b, a
                        da, db = db, da
                    if da < best:
                        if db < best:
                            stack[top] = b
                            stack_sq[top] = db
                            top += 1
                        node = a
                        continue
                # Next pending node that can still hold a nearer triangle.
                node = -1
                while top > 0:
                    top -= 1
                    if stack_sq[top] < best:
                        node = stack[top]
                        break
            sqdist[i] = best
            if best_face >= 0:
                face[i] = best_face
                qx, qy, qz = closest_point_on_triangle(px, py, pz, triangles[best_face])
                closest[i, 0], closest[i, 1], closest[i, 2] = qx, qy, qz
    return sqdist, face, closest


@numba.njit(cache=True, inline="always")
def _segment_meets_box(ox, oy, oz, ix, iy, iz, lo, hi, node, pad):
    """Whether the segment o + t d, t in [0, 1] (``i* = 1 / d*``) meets the node's box grown by
    ``pad`` (the slab test; the growth keeps it conservative under rounding)."""
    a = (lo[node, 0] - pad - ox) * ix
    b = (hi[node, 0] + pad - ox) * ix
    t0, t1 = max(0.0, min(a, b)), min(1.0, max(a, b))
    a = (lo[node, 1] - pad - oy) * iy
    b = (hi[node, 1] + pad - oy) * iy
    t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    a = (lo[node, 2] - pad - oz) * iz
    b = (hi[node, 2] + pad - oz) * iz
    t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
    return t0 <= t1


@numba.njit(cache=True, inline="always")
def segment_crossing(ox, oy, oz, ex, ey, ez, tri, cross):
    """How the segment from o to e crosses triangle ``tri`` (3, 3) with area vector ``cross``.

    Returns +1 when it passes from the front (the side ``cross`` points to) to the back through
    the triangle's interior, -1 from back to front, 0 when it misses, and 2 when the answer is
    within rounding of changing (it grazes an edge or a corner, or an end lies in the plane).
    Decided by signs of triple products, each against a tolerance of ``RAY_TOLERANCE`` times
    its magnitude scale.
    """
    ax, ay, az = tri[0, 0], tri[0, 1], tri[0, 2]
    nx, ny, nz = cross[0], cross[1], cross[2]
    scale = abs(nx) + abs(ny) + abs(nz)
    side_o = (ox - ax) * nx + (oy - ay) * ny + (oz - az) * nz
    side_e = (ex - ax) * nx + (ey - ay) * ny + (ez - az) * nz
    tol_o = RAY_TOLERANCE * scale * (abs(ox - ax) + abs(oy - ay) + abs(oz - az))
    tol_e = RAY_TOLERANCE * scale * (abs(ex - ax) + abs(ey - ay) + abs(ez - az))
    if (side_o > tol_o and side_e > tol_e) or (side_o < -tol_o and side_e < -tol_e):
        return 0
    dx, dy, dz = ex - ox, ey - oy, ez - oz
    length = abs(dx) + abs(dy) + abs(dz)
    positive = negative = unsure = 0
    for k in range(3):
        k2 = 0 if k == 2 else k + 1
        ux, uy, uz = tri[k, 0] - ox, tri[k, 1] - oy, tri[k, 2] - oz
        vx, vy, vz = tri[k2, 0] - ox, tri[k2, 1] - oy, tri[k2, 2] - oz
        s = dx * (uy * vz - uz * vy) + dy * (uz * vx - ux * vz) + dz * (ux * vy - uy * vx)
        tol = RAY_TOLERANCE * length * (abs(ux) + abs(uy) + abs(uz)) * (abs(vx) + abs(vy) + abs(vz))
        if s > tol:
            positive += 1
        elif s < -tol:
            negative += 1
        else:
            unsure += 1
    if positive > 0 and negative > 0:
        return 0  # the line passes outside the triangle
    if unsure > 0:
        return 2
    if side_o > tol_o and side_e < -tol_e:
        return 1
    if side_o < -tol_o and side_e > tol_e:
        return -1
    return 2


@numba.njit(cache=True)
def _segment_crossings(ox, oy, oz, ex, ey, ez, triangles, cross, start, count, right, lo, hi,
                       pad, stack, parity):  # fmt: skip
    """Sum of :func:`segment_crossing` over the mesh (``parity``: number of crossings), or
    AMBIGUOUS as soon as one crossing is."""
    dx, dy, dz = ex - ox, ey - oy, ez - oz
    ix = 1.0 / dx if dx != 0.0 else 1e300
    iy = 1.0 / dy if dy != 0.0 else 1e300
    iz = 1.0 / dz if dz != 0.0 else 1e300
    total = 0
    top = 0
    node = 0
    while True:
        if _segment_meets_box(ox, oy, oz, ix, iy, iz, lo, hi, node, pad):
            if right[node] >= 0:
                stack[top] = right[node]
                top += 1
                node += 1
                continue
            for f in range(start[node], start[node] + count[node]):
                c = segment_crossing(ox, oy, oz, ex, ey, ez, triangles[f], cross[f])
                if c == 2:
                    return AMBIGUOUS
                total += abs(c) if parity else c
        if top == 0:
            return total
        top -= 1
        node = stack[top]


@numba.njit(parallel=True, cache=True)
def tree_ray_crossings(points, triangles, cross, start, count, right, lo, hi, depth, directions,
                       parity):  # fmt: skip
    """Signed crossings (or, with ``parity``, the number of crossings) of a ray from each point
    to outside the mesh's bounding box.

    For a closed, consistently oriented mesh, minus the signed sum is the point's exact winding
    number (an integer), whatever the ray; for a closed mesh of any orientation, the number of
    crossings is odd exactly inside. Each point tries ``directions`` (D, 3), unit vectors with
    no zero component, starting with the one that leaves the box soonest; a ray that grazes an
    edge or a corner is dropped for the next. Points outside the box have no crossings.

    Returns
    -------
    (N,) int64
        Sum of the crossings (+1 front to back); AMBIGUOUS where every direction grazed.
    """
    n_points = points.shape[0]
    out = np.zeros(n_points, dtype=np.int64)
    extent = 0.0
    for k in range(3):
        extent = max(extent, hi[0, k] - lo[0, k])
    pad = 1e-9 * extent + 1e-300
    reach = 1e-3 * extent + 1e-300  # rays end this far outside the box
    for block in numba.prange((n_points + BLOCK - 1) // BLOCK):
        stack = np.empty(2 * depth + 2, dtype=np.int64)
        exits = np.empty(directions.shape[0])
        for i in range(block * BLOCK, min(n_points, (block + 1) * BLOCK)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            if (
                px < lo[0, 0] or px > hi[0, 0]
                or py < lo[0, 1] or py > hi[0, 1]
                or pz < lo[0, 2] or pz > hi[0, 2]
            ):  # fmt: skip
                continue
            for r in range(directions.shape[0]):
                t = np.inf
                for k in range(3):
                    d = directions[r, k]
                    wall = hi[0, k] + reach if d > 0.0 else lo[0, k] - reach
                    t = min(t, (wall - points[i, k]) / d)
                exits[r] = t
            result = AMBIGUOUS
            for _ in range(directions.shape[0]):
                r = np.argmin(exits)
                t = exits[r]
                exits[r] = np.inf
                result = _segment_crossings(
                    px, py, pz,
                    px + t * directions[r, 0], py + t * directions[r, 1], pz + t * directions[r, 2],
                    triangles, cross, start, count, right, lo, hi, pad, stack, parity,
                )  # fmt: skip
                if result != AMBIGUOUS:
                    break
            out[i] = result
    return out


@numba.njit(parallel=True, cache=True)
def tree_winding(points, triangles, start, count, right, depth, center, dipole, moment, radius,
                 beta):  # fmt: skip
    """Fast generalized winding number (N,) float64 (Barill et al. 2018).

    A node farther than ``beta * radius`` from the point contributes its second-order
    expansion of the solid angle; otherwise its children are visited, down to the exact
    per-triangle solid angle in the leaves (triangles in tree order).
    """
    n_points = points.shape[0]
    out = np.empty(n_points, dtype=np.float64)
    for block in numba.prange((n_points + BLOCK - 1) // BLOCK):
        stack = np.empty(2 * depth + 2, dtype=np.int64)
        for i in range(block * BLOCK, min(n_points, (block + 1) * BLOCK)):
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            total = 0.0
            stack[0] = 0
            top = 1
            while top > 0:
                top -= 1
                node = stack[top]
                rx = center[node, 0] - px
                ry = center[node, 1] - py
                rz = center[node, 2] - pz
                r2 = rx * rx + ry * ry + rz * rz
                if r2 > (beta * radius[node]) ** 2:
                    # Omega ~ r.N / |r|^3 + tr(M) / |r|^3 - 3 r^T M r / |r|^5 with r = center - p.
                    r = math.sqrt(r2)
                    inv3 = 1.0 / (r2 * r)
                    m = moment[node]
                    trace = m[0, 0] + m[1, 1] + m[2, 2]
                    rmr = (
                        rx * (m[0, 0] * rx + m[0, 1] * ry + m[0, 2] * rz)
                        + ry * (m[1, 0] * rx + m[1, 1] * ry + m[1, 2] * rz)
                        + rz * (m[2, 0] * rx + m[2, 1] * ry + m[2, 2] * rz)
                    )
                    d = dipole[node]
                    first = (rx * d[0] + ry * d[1] + rz * d[2]) * inv3
                    total += first + trace * inv3 - 3.0 * rmr * inv3 / r2
                elif right[node] < 0:
                    for f in range(start[node], start[node] + count[node]):
                        total += triangle_solid_angle(px, py, pz, triangles[f])
                else:
                    stack[top] = right[node]
                    stack[top + 1] = node + 1
                    top += 2
            out[i] = total / FOUR_PI
    return out


@numba.njit(parallel=True, cache=True)
def grid_crossings(points, distance, origin, step, node_value, node_distance):
    """Ray-crossing values of points read off a grid of nodes whose values are known.

    The open ball around a point p with radius its distance d_p to the mesh holds no surface;
    nor does the ball around a node g with radius d_g. Where the two overlap
    (|p - g| < d_p + d_g, with a relative margin for rounding), p and g are connected without
    crossing the surface, so on a closed mesh they have the same winding number and the same
    crossing parity. Each point tries the eight corners of its grid cell and takes the value of
    the one that overlaps most.

    Parameters
    ----------
    points : (N, 3) float64
    distance : (N,) float64
        Exact distances of the points to the mesh.
    origin, step : (3,) float64
        Position of node (0, 0, 0) and the node spacing per axis.
    node_value : (G0, G1, G2) int64
        Value of each node (AMBIGUOUS where unknown).
    node_distance : (G0, G1, G2) float64
        Exact distance of each node to the mesh.

    Returns
    -------
    (N,) int64
        The value, or AMBIGUOUS where no corner decides (outside the grid, or no overlap).
    """
    n_points = points.shape[0]
    out = np.full(n_points, AMBIGUOUS, dtype=np.int64)
    shape = node_value.shape
    for i in numba.prange(n_points):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        cx = math.floor((px - origin[0]) / step[0])
        cy = math.floor((py - origin[1]) / step[1])
        cz = math.floor((pz - origin[2]) / step[2])
        if not (0 <= cx < shape[0] - 1 and 0 <= cy < shape[1] - 1 and 0 <= cz < shape[2] - 1):
            continue
        best = 0.0
        for corner in range(8):
            a, b, c = cx + (corner & 1), cy + ((corner >> 1) & 1), cz + (corner >> 2)
            value = node_value[a, b, c]
            if value == AMBIGUOUS:
                continue
            gx, gy, gz = origin[0] + a * step[0], origin[1] + b * step[1], origin[2] + c * step[2]
            apart = math.sqrt(_dot(px - gx, py - gy, pz - gz, px - gx, py - gy, pz - gz))
            overlap = (distance[i] + node_distance[a, b, c]) * (1.0 - 1e-9) - apart
            if overlap > best:
                best = overlap
                out[i] = value
    return out


@numba.njit(cache=True, inline="always")
def _spread_bits(v):
    """The low 21 bits of ``v`` spread to every third bit (for a Morton code)."""
    v &= 0x1FFFFF
    v = (v | (v << 32)) & 0x1F00000000FFFF
    v = (v | (v << 16)) & 0x1F0000FF0000FF
    v = (v | (v << 8)) & 0x100F00F00F00F00F
    v = (v | (v << 4)) & 0x10C30C30C30C30C3
    v = (v | (v << 2)) & 0x1249249249249249
    return v


@numba.njit(parallel=True, cache=True)
def morton_codes(points, origin, scale):
    """Morton (Z-order) code (N,) int64 of each point: coordinates quantized to 2^21 cells of
    ``scale`` per unit from ``origin``, bits interleaved; nearby points get nearby codes."""
    n_points = points.shape[0]
    out = np.empty(n_points, dtype=np.int64)
    top = (1 << 21) - 1
    for i in numba.prange(n_points):
        code = 0
        for k in range(3):
            q = (points[i, k] - origin[k]) * scale
            cell = 0 if not q > 0.0 else (top if q >= top else int(q))
            code |= _spread_bits(cell) << k
        out[i] = code
    return out
