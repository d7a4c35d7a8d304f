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


@numba.njit(cache=True)
def build_tree(triangles, leaf_size):
    """Binary hierarchy over triangles: median split of centroids along the longest axis.

    Nodes are created breadth-first, so every child has a larger index than its parent (the
    bottom-up pass in :func:`tree_moments` relies on this).

    Returns
    -------
    order : (F,) int64
        Permutation of the faces; node ``k`` owns faces ``order[start[k]:start[k] + count[k]]``.
    start, count : (M,) int64
        Face range of each node.
    left, right : (M,) int64
        Children (-1 for leaves).
    lo, hi : (M, 3) float64
        Axis-aligned bounds of each node's triangles.
    depth : int
        Number of levels (sizes the traversal stacks).
    """
    n_faces = triangles.shape[0]
    centroids = np.empty((n_faces, 3))
    for f in range(n_faces):
        for k in range(3):
            centroids[f, k] = (triangles[f, 0, k] + triangles[f, 1, k] + triangles[f, 2, k]) / 3.0
    max_nodes = 2 * n_faces + 1
    order = np.arange(n_faces)
    start = np.zeros(max_nodes, dtype=np.int64)
    count = np.zeros(max_nodes, dtype=np.int64)
    left = np.full(max_nodes, -1, dtype=np.int64)
    right = np.full(max_nodes, -1, dtype=np.int64)
    level = np.zeros(max_nodes, dtype=np.int64)
    lo = np.empty((max_nodes, 3))
    hi = np.empty((max_nodes, 3))
    count[0] = n_faces
    n_nodes = 1
    node = 0
    depth = 1
    while node < n_nodes:
        s, n = start[node], count[node]
        for k in range(3):
            lo[node, k] = np.inf
            hi[node, k] = -np.inf
        clo = np.full(3, np.inf)
        chi = np.full(3, -np.inf)
        for j in range(s, s + n):
            f = order[j]
            for k in range(3):
                for corner in range(3):
                    v = triangles[f, corner, k]
                    lo[node, k] = min(lo[node, k], v)
                    hi[node, k] = max(hi[node, k], v)
                clo[k] = min(clo[k], centroids[f, k])
                chi[k] = max(chi[k], centroids[f, k])
        depth = max(depth, level[node] + 1)
        if n > leaf_size:
            axis = int(np.argmax(chi - clo))
            segment = order[s : s + n].copy()
            segment = segment[np.argsort(centroids[segment, axis], kind="mergesort")]
            order[s : s + n] = segment
            half = n // 2
            left[node] = n_nodes
            right[node] = n_nodes + 1
            start[n_nodes], count[n_nodes] = s, half
            start[n_nodes + 1], count[n_nodes + 1] = s + half, n - half
            level[n_nodes] = level[node] + 1
            level[n_nodes + 1] = level[node] + 1
            n_nodes += 2
        node += 1
    return (
        order,
        start[:n_nodes].copy(),
        count[:n_nodes].copy(),
        left[:n_nodes].copy(),
        right[:n_nodes].copy(),
        lo[:n_nodes].copy(),
        hi[:n_nodes].copy(),
        depth,
    )


@numba.njit(cache=True)
def tree_moments(triangles, order, start, count, left, right):
    """Far-field data of every node, for :func:`tree_winding`.

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
        Largest distance from ``center`` to a corner of the node's triangles.
    """
    n_nodes = start.shape[0]
    center = np.zeros((n_nodes, 3))
    dipole = np.zeros((n_nodes, 3))
    moment = np.zeros((n_nodes, 3, 3))
    radius = np.zeros(n_nodes)
    for node in range(n_nodes):
        s, n = start[node], count[node]
        area_sum = 0.0
        corner_mean = np.zeros(3)
        weighted = np.zeros(3)
        for j in range(s, s + n):
            t = triangles[order[j]]
            e1 = t[1] - t[0]
            e2 = t[2] - t[0]
            nx = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1])
            ny = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2])
            nz = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0])
            area = math.sqrt(nx * nx + ny * ny + nz * nz)
            c = (t[0] + t[1] + t[2]) / 3.0
            area_sum += area
            weighted += area * c
            corner_mean += c
            dipole[node, 0] += nx
            dipole[node, 1] += ny
            dipole[node, 2] += nz
        if area_sum > 0.0:
            center[node] = weighted / area_sum
        else:
            center[node] = corner_mean / n
        r2 = 0.0
        for j in range(s, s + n):
            t = triangles[order[j]]
            e1 = t[1] - t[0]
            e2 = t[2] - t[0]
            area_vector = np.empty(3)
            area_vector[0] = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1])
            area_vector[1] = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2])
            area_vector[2] = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0])
            offset = (t[0] + t[1] + t[2]) / 3.0 - center[node]
            for a in range(3):
                for b in range(3):
                    moment[node, a, b] += area_vector[a] * offset[b]
            for corner in range(3):
                d = t[corner] - center[node]
                r2 = max(r2, d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        radius[node] = math.sqrt(r2)
    return center, dipole, moment, radius


@numba.njit(cache=True, inline="always")
def _box_sqdist(px, py, pz, lo, hi, node):
    dx = max(lo[node, 0] - px, 0.0, px - hi[node, 0])
    dy = max(lo[node, 1] - py, 0.0, py - hi[node, 1])
    dz = max(lo[node, 2] - pz, 0.0, pz - hi[node, 2])
    return dx * dx + dy * dy + dz * dz


@numba.njit(parallel=True, cache=True)
def tree_closest(points, triangles, order, start, count, left, right, lo, hi, depth, upper):
    """Exact nearest triangle of each point, via the hierarchy.

    ``upper`` (N,) float64 is a known upper bound of each squared distance (``inf`` if none;
    e.g. the squared distance to some triangle found by a faster, approximate search). A node
    is skipped only when its box is at least as far as the best triangle found so far, so the
    result is the brute-force minimum whatever ``upper`` is, as long as it is an upper bound.

    Returns
    -------
    sqdist : (N,) float64
        Squared distance to the nearest triangle.
    face : (N,) int64
        That triangle's index; -1 when no triangle beat ``upper`` (the bound was already exact).
    closest : (N, 3) float64
        The closest point on it (the query itself where ``face`` is -1).
    """
    n_points = points.shape[0]
    sqdist = np.empty(n_points, dtype=np.float64)
    face = np.full(n_points, -1, dtype=np.int64)
    closest = points.copy()
    for i in numba.prange(n_points):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        best = upper[i]
        stack = np.empty(2 * depth + 2, dtype=np.int64)
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            if _box_sqdist(px, py, pz, lo, hi, node) >= best:
                continue
            if left[node] < 0:
                for j in range(start[node], start[node] + count[node]):
                    f = order[j]
                    qx, qy, qz = closest_point_on_triangle(px, py, pz, triangles[f])
                    d = _dot(px - qx, py - qy, pz - qz, px - qx, py - qy, pz - qz)
                    if d < best:
                        best = d
                        face[i] = f
                        closest[i, 0], closest[i, 1], closest[i, 2] = qx, qy, qz
                continue
            a, b = left[node], right[node]
            da = _box_sqdist(px, py, pz, lo, hi, a)
            db = _box_sqdist(px, py, pz, lo, hi, b)
            # Push the farther child first so the nearer one is searched first and tightens
            # ``best`` early.
            if da > db:
                a, b = b, a
                da, db = db, da
            if db < best:
                stack[top] = b
                top += 1
            if da < best:
                stack[top] = a
                top += 1
        sqdist[i] = best
    return sqdist, face, closest


@numba.njit(parallel=True, cache=True)
def tree_winding(
    points, triangles, order, start, count, left, right, depth, center, dipole, moment, radius, beta
):
    """Fast generalized winding number (N,) float64 (Barill et al. 2018).

    A node farther than ``beta * radius`` from the point contributes its second-order
    expansion of the solid angle; otherwise its children are visited, down to the exact
    per-triangle solid angle in the leaves.
    """
    n_points = points.shape[0]
    out = np.empty(n_points, dtype=np.float64)
    for i in numba.prange(n_points):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        total = 0.0
        stack = np.empty(2 * depth + 2, dtype=np.int64)
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
                first = (rx * dipole[node, 0] + ry * dipole[node, 1] + rz * dipole[node, 2]) * inv3
                total += first + trace * inv3 - 3.0 * rmr * inv3 / r2
            elif left[node] < 0:
                for j in range(start[node], start[node] + count[node]):
                    total += triangle_solid_angle(px, py, pz, triangles[order[j]])
            else:
                stack[top] = left[node]
                stack[top + 1] = right[node]
                top += 2
        out[i] = total / FOUR_PI
    return out
