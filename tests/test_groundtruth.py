"""Ground-truth SDF: exact distance, winding numbers, signs, engines and the no-inside check."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from neusdf import groundtruth as gt
from neusdf.errors import NoInsideError
from neusdf.groundtruth import kernels
from neusdf.groundtruth.closest import LEAF_SIZE
from neusdf.mesh.load import load_mesh, normalize_mesh
from neusdf.mesh.points import sample_near_surface
from neusdf.mesh.triangles import triangle_array
from tests.helpers import REPO, SHARED_MESHES

CAD_MESHES = (
    "trimesh__20mm-xyz-cube.stl",
    "trimesh__featuretype.STL",
    "trimesh__octagonal_pocket.stl",
)
SPHERE_RADIUS = 0.8
TORUS_MAJOR, TORUS_MINOR = 0.6, 0.25


def mixed_points(vertices, faces, n_each, seed):
    """(2 n_each, 3) float32: near-surface (N(0, 0.01) noise) then uniform in [-1, 1]^3."""
    near = sample_near_surface(vertices, faces, n_each, 0.01, seed)
    uniform = np.random.default_rng(seed + 1).uniform(-1.0, 1.0, (n_each, 3))
    return np.concatenate([near, uniform]).astype(np.float32)


def torus_sdf(points):
    """Closed-form SDF of the torus around z (negative inside)."""
    ring = np.hypot(points[:, 0], points[:, 1]) - TORUS_MAJOR
    return np.hypot(ring, points[:, 2]) - TORUS_MINOR


def faceting_gap(mesh, closed_form, n=20_000):
    """Largest |closed-form SDF| on the mesh surface: how far the facets sit from the shape."""
    surface, _ = trimesh.sample.sample_surface(mesh, n, seed=0)
    return float(np.abs(closed_form(surface)).max())


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=4, radius=SPHERE_RADIUS)


@pytest.fixture(scope="module")
def torus():
    return trimesh.creation.torus(TORUS_MAJOR, TORUS_MINOR, major_sections=96, minor_sections=48)


def distance_to(mesh, points):
    return gt.closest_point(gt.build_tree(mesh.vertices, mesh.faces), points).distance


def normalized_shared(folder, name):
    mesh, _ = normalize_mesh(load_mesh(folder / name))
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


# --------------------------------------------------------------------------- point-triangle


def reference_point_triangle_distance(p, a, b, c):
    """Independent reference: plane projection if it falls inside, else the nearest edge."""

    def segment(p, s, t):
        d = t - s
        u = np.clip(((p - s) @ d) / (d @ d), 0.0, 1.0)
        return np.linalg.norm(p - (s + u * d))

    n = np.cross(b - a, c - a)
    n = n / np.linalg.norm(n)
    q = p - ((p - a) @ n) * n
    # q is inside when it is on the inner side of all three edges (same orientation as n).
    inside = all(
        np.cross(v1 - v0, q - v0) @ n >= 0 for v0, v1 in ((a, b), (b, c), (c, a))
    )  # fmt: skip
    if inside:
        return abs((p - a) @ n)
    return min(segment(p, a, b), segment(p, b, c), segment(p, c, a))


def test_point_triangle_distance_matches_independent_reference():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        tri = rng.normal(size=(3, 3))
        p = rng.normal(size=3) * 2.0
        q = np.array(kernels.closest_point_on_triangle(p[0], p[1], p[2], tri))
        expected = reference_point_triangle_distance(p, *tri)
        assert np.linalg.norm(p - q) == pytest.approx(expected, abs=1e-12)
        # The closest point lies on the triangle: its barycentrics are in [0, 1].
        weights = np.linalg.lstsq(np.vstack([tri.T, np.ones(3)]), np.append(q, 1.0), rcond=None)[0]
        assert weights.min() >= -1e-9


def test_point_triangle_distance_on_degenerate_triangle_is_the_segment_distance():
    tri = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])  # collinear
    q = kernels.closest_point_on_triangle(0.5, 1.0, 0.0, tri)
    assert np.linalg.norm(np.subtract((0.5, 1.0, 0.0), q)) == pytest.approx(1.0)


# --------------------------------------------------------------------------- exact distance


def test_exact_distance_on_sphere_matches_closed_form(sphere):
    points = mixed_points(sphere.vertices, sphere.faces, 2000, seed=0)
    gap = faceting_gap(sphere, lambda x: np.linalg.norm(x, axis=1) - SPHERE_RADIUS)
    distance = distance_to(sphere, points)
    truth = np.abs(np.linalg.norm(points, axis=1) - SPHERE_RADIUS)
    assert gap < 2e-3  # the tolerance below is about faceting, and faceting is small
    assert np.abs(distance - truth).max() <= gap + 1e-6


def test_exact_distance_on_torus_matches_closed_form(torus):
    points = mixed_points(torus.vertices, torus.faces, 2000, seed=1)
    gap = faceting_gap(torus, torus_sdf)
    distance = distance_to(torus, points)
    assert gap < 2e-3
    # Mesh and torus are within ``gap`` of each other both ways (vertices lie on the torus and
    # the facets are smaller than its curvature radii), so the distances differ by <= gap.
    assert np.abs(distance - np.abs(torus_sdf(points))).max() <= 1.05 * gap + 1e-6


def test_tree_query_equals_naive_reference(torus):
    points = mixed_points(torus.vertices, torus.faces, 1500, seed=2)
    naive = gt.closest_point_naive(torus.vertices, torus.faces, points)
    fast = gt.closest_point(gt.build_tree(torus.vertices, torus.faces), points)
    np.testing.assert_allclose(fast.distance, naive.distance, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.point, naive.point, rtol=0, atol=1e-9)
    # Faces may differ only on ties (a shared edge or vertex): the face the fast query names
    # must itself be at the minimum distance.
    for i in range(50):
        own = gt.closest_point_naive(
            torus.vertices, torus.faces[fast.face[i : i + 1]], points[i : i + 1]
        )
        assert own.distance[0] == pytest.approx(naive.distance[i], abs=1e-12)


def test_tree_query_with_upper_bounds_is_still_exact(torus):
    points = mixed_points(torus.vertices, torus.faces, 800, seed=5)
    tree = gt.build_tree(torus.vertices, torus.faces)
    exact = gt.closest_point(tree, points)
    # A loose bound, and the exact distance itself as the bound: both must give the minimum.
    for upper in (exact.distance + 0.3, exact.distance):
        bounded = gt.closest_point(tree, points, upper=upper)
        np.testing.assert_allclose(bounded.distance, exact.distance, rtol=0, atol=1e-12)
        np.testing.assert_allclose(bounded.point, exact.point, rtol=0, atol=1e-9)


def test_closest_point_is_threaded_consistently(sphere):
    points = mixed_points(sphere.vertices, sphere.faces, 500, seed=3)
    tree = gt.build_tree(sphere.vertices, sphere.faces)
    whole = gt.closest_point(tree, points)
    single = gt.closest_point(tree, points, threads=1)
    np.testing.assert_array_equal(whole.distance, single.distance)
    np.testing.assert_array_equal(whole.face, single.face)


# --------------------------------------------------------------------------- signs


@pytest.mark.parametrize("sign", ["parity", "winding"])
@pytest.mark.parametrize("engine", ["pysdf", "exact"])
def test_signed_distance_on_sphere_and_torus_matches_closed_form(sphere, torus, engine, sign):
    for mesh, closed_form in (
        (sphere, lambda x: np.linalg.norm(x, axis=1) - SPHERE_RADIUS),
        (torus, torus_sdf),
    ):
        points = mixed_points(mesh.vertices, mesh.faces, 1500, seed=4)
        gap = faceting_gap(mesh, closed_form)
        sdf, used = gt.signed_distance(mesh.vertices, mesh.faces, points, engine=engine, sign=sign)
        truth = closed_form(points.astype(np.float64))
        assert used == sign
        assert sdf.dtype == np.float32 and sdf.shape == (len(points),)
        assert np.abs(sdf - truth).max() <= 1.05 * gap + 1e-5
        clear = np.abs(truth) > gap  # only here is the side unambiguous
        assert np.array_equal(sdf[clear] < 0, truth[clear] < 0)


def test_auto_sign_picks_parity_only_for_watertight_meshes_that_are_not_oriented(sphere):
    points = mixed_points(sphere.vertices, sphere.faces, 200, seed=5)
    assert gt.signed_distance(sphere.vertices, sphere.faces, points)[1] == "winding"
    one_flipped = sphere.faces.copy()
    one_flipped[0] = one_flipped[0, ::-1]  # still watertight, no longer consistently oriented
    assert not gt.is_closed_oriented(one_flipped) and gt.is_closed(one_flipped)
    assert gt.signed_distance(sphere.vertices, one_flipped, points)[1] == "parity"
    # Parity read off the crossing grid is the parity of the rays themselves.
    truth = gt.GroundTruth(sphere.vertices, one_flipped)
    rays = gt.ray_crossings(truth.tree, points, parity=True) % 2 == 1
    np.testing.assert_array_equal(truth(points) < 0, rays)
    closed = gt.winding_number(sphere.vertices, sphere.faces, points, method="brute") > 0.5
    np.testing.assert_array_equal(rays, closed)
    opened = sphere.faces[1:]
    assert not gt.is_closed(opened)
    assert gt.signed_distance(sphere.vertices, opened, points)[1] == "winding"


def test_inside_out_mesh_keeps_the_sign_convention(sphere):
    points = mixed_points(sphere.vertices, sphere.faces, 1000, seed=6)
    flipped = sphere.faces[:, ::-1]
    for sign in ("parity", "winding"):
        sdf, _ = gt.signed_distance(sphere.vertices, flipped, points, sign=sign)
        truth = np.linalg.norm(points, axis=1) - SPHERE_RADIUS
        clear = np.abs(truth) > 2e-3
        assert np.array_equal(sdf[clear] < 0, truth[clear] < 0)


def test_bad_arguments_are_rejected(sphere):
    points = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="engine"):
        gt.signed_distance(sphere.vertices, sphere.faces, points, engine="magic")
    with pytest.raises(ValueError, match="sign"):
        gt.signed_distance(sphere.vertices, sphere.faces, points, sign="vote")
    with pytest.raises(ValueError, match="points"):
        gt.signed_distance(sphere.vertices, sphere.faces, np.zeros((3, 2), np.float32))


# --------------------------------------------------------------------------- winding numbers


def test_winding_number_of_closed_sphere_is_one_inside_zero_outside(sphere):
    points = mixed_points(sphere.vertices, sphere.faces, 1000, seed=7)
    r = np.linalg.norm(points, axis=1)
    clear = np.abs(r - SPHERE_RADIUS) > 2e-3
    w = gt.winding_number(sphere.vertices, sphere.faces, points, method="brute")
    np.testing.assert_allclose(w[clear], (r[clear] < SPHERE_RADIUS).astype(float), atol=1e-9)


def test_fast_winding_number_agrees_with_brute_force_on_open_bunny(shared_meshes):
    vertices, faces = normalized_shared(shared_meshes, "trimesh__bunny.ply")
    points = mixed_points(vertices, faces, 1000, seed=8)
    brute = gt.winding_number(vertices, faces, points, method="brute")
    fast = gt.winding_number(vertices, faces, points, method="tree")
    far = gt.closest_point(gt.build_tree(vertices, faces), points).distance > 0.01
    assert np.abs(fast - brute).max() < 0.1  # far-field expansion error, beta = 2
    assert np.mean((fast[far] > 0.5) == (brute[far] > 0.5)) >= 0.999


def test_fast_winding_number_gets_more_accurate_with_larger_beta(torus):
    points = mixed_points(torus.vertices, torus.faces, 1000, seed=9)
    brute = gt.winding_number(torus.vertices, torus.faces, points, method="brute")
    errors = [
        np.abs(gt.winding_number(torus.vertices, torus.faces, points, beta=b) - brute).max()
        for b in (2.0, 4.0, 1e9)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-9  # beta -> infinity never uses the far field: exact


def test_winding_beats_parity_on_sphere_with_holes():
    # With 2% of faces deleted, winding signs stay within ~0.1% of the closed mesh's; ray
    # parity, meaningless on an open surface, is off on more points.
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=SPHERE_RADIUS)
    rng = np.random.default_rng(0)
    keep = np.ones(len(mesh.faces), dtype=bool)
    keep[rng.choice(len(mesh.faces), round(0.02 * len(mesh.faces)), replace=False)] = False
    opened = mesh.faces[keep]
    points = np.concatenate(
        [
            sample_near_surface(mesh.vertices, mesh.faces, 3000, 0.01, 0),
            rng.uniform(-1, 1, (3000, 3)),
        ]
    ).astype(np.float32)
    truth = np.abs(gt.winding_number(mesh.vertices, mesh.faces, points, method="brute")) > 0.5
    sdf, used = gt.signed_distance(mesh.vertices, opened, points)
    assert used == "winding"
    winding_wrong = np.mean((sdf < 0) != truth)
    parity = gt.parity_inside(mesh.vertices, opened, points)
    assert np.array_equal(parity, gt.parity_inside(mesh.vertices, opened, points))  # no dice
    assert winding_wrong <= 0.01
    assert np.mean(parity != truth) > winding_wrong


# --------------------------------------------------------------------------- tree layout


def test_tree_nodes_own_contiguous_ranges_whose_boxes_hold_their_triangles(torus):
    tree = gt.build_tree(torus.vertices, torus.faces)
    triangles = triangle_array(torus.vertices, torus.faces)
    assert np.array_equal(np.sort(tree.face), np.arange(len(torus.faces)))
    np.testing.assert_array_equal(tree.triangles, triangles[tree.face])
    assert (tree.start[0], tree.count[0]) == (0, len(torus.faces))
    for node in range(len(tree.start)):
        own = tree.triangles[tree.start[node] : tree.start[node] + tree.count[node]]
        np.testing.assert_array_equal(tree.lo[node], own.min(axis=(0, 1)))
        np.testing.assert_array_equal(tree.hi[node], own.max(axis=(0, 1)))
        if tree.right[node] < 0:
            assert 1 <= tree.count[node] <= LEAF_SIZE
            continue
        left, right = node + 1, tree.right[node]
        assert tree.start[left] == tree.start[node]
        assert tree.start[right] == tree.start[left] + tree.count[left]
        assert tree.count[left] + tree.count[right] == tree.count[node]


def test_tree_moments_equal_the_direct_sums_over_each_node(torus):
    tree = gt.build_tree(torus.vertices, torus.faces)
    for node in range(0, len(tree.start), 7):
        own = tree.triangles[tree.start[node] : tree.start[node] + tree.count[node]]
        area_vectors = 0.5 * np.cross(own[:, 1] - own[:, 0], own[:, 2] - own[:, 0])
        areas = np.linalg.norm(area_vectors, axis=1)
        centroids = own.mean(axis=1)
        center = (areas[:, None] * centroids).sum(axis=0) / areas.sum()
        np.testing.assert_allclose(tree.center[node], center, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tree.dipole[node], area_vectors.sum(axis=0), atol=1e-12)
        moment = np.einsum("ta,tb->ab", area_vectors, centroids - center)
        np.testing.assert_allclose(tree.moment[node], moment, rtol=0, atol=1e-12)
        farthest = np.linalg.norm(own.reshape(-1, 3) - tree.center[node], axis=1).max()
        assert farthest <= tree.radius[node] * (1 + 1e-12)


# --------------------------------------------------------------------------- ray crossings


def closed_cases(shared):
    """Closed, consistently oriented meshes whose winding numbers go beyond 0 and 1."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.8)
    inner = trimesh.creation.icosphere(subdivisions=2, radius=0.4)
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    shifted = box.vertices + 0.4
    cases = {
        "inside-out sphere": (sphere.vertices, sphere.faces[:, ::-1]),  # w = -1 inside
        "nested spheres": (  # w = 2 inside the inner one
            np.vstack([sphere.vertices, inner.vertices]),
            np.vstack([sphere.faces, inner.faces + len(sphere.vertices)]),
        ),
        "overlapping boxes": (  # self-intersecting union: w = 2 where they overlap
            np.vstack([box.vertices, shifted]),
            np.vstack([box.faces, box.faces + len(box.vertices)]),
        ),
    }
    if shared is not None:
        for name in ("trimesh__featuretype.STL", "trimesh__20mm-xyz-cube.stl", "trimesh__box.STL"):
            cases[name] = normalized_shared(shared, name)
    return cases


@pytest.fixture(scope="module")
def shared_or_none():
    """The shared meshes folder, or None: these tests run on generated meshes either way."""
    return SHARED_MESHES if (SHARED_MESHES / "MANIFEST.csv").is_file() else None


def test_ray_crossings_are_the_exact_winding_number_on_closed_meshes(shared_or_none):
    seen = set()
    for name, (vertices, faces) in closed_cases(shared_or_none).items():
        assert gt.is_closed_oriented(faces), name
        points = mixed_points(vertices, faces, 1500, seed=12)
        crossings = gt.ray_crossings(gt.build_tree(vertices, faces), points, parity=False)
        assert not np.any(crossings == kernels.AMBIGUOUS), name
        brute = gt.winding_number(vertices, faces, points, method="brute")
        np.testing.assert_array_equal(-crossings, np.round(brute).astype(np.int64), err_msg=name)
        seen |= set(np.unique(-crossings).tolist())
        # Parity counts crossings: odd exactly where the (integer) winding number is odd.
        count = gt.ray_crossings(gt.build_tree(vertices, faces), points, parity=True)
        np.testing.assert_array_equal(count % 2, np.round(np.abs(brute)).astype(int) % 2)
    assert {-1, 0, 1, 2} <= seen


def test_signs_on_closed_meshes_equal_the_brute_force_winding_number(shared_or_none):
    for name, (vertices, faces) in closed_cases(shared_or_none).items():
        points = mixed_points(vertices, faces, 1500, seed=13)
        sdf, used = gt.signed_distance(vertices, faces, points)
        brute = gt.winding_number(vertices, faces, points, method="brute")
        assert used == "winding", name
        np.testing.assert_array_equal(sdf < 0, np.abs(brute) > 0.5, err_msg=name)


def test_points_on_the_surface_take_the_fast_winding_number():
    # Axis-aligned faces and points exactly on them, on an edge and on a corner: every ray
    # grazes; the answer comes from the fast winding number instead, deterministically.
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    points = np.array([[0.5, 0.1, 0.2], [0.5, 0.5, 0.0], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
    tree = gt.build_tree(box.vertices, box.faces)
    crossings = gt.ray_crossings(tree, points, parity=False)
    assert np.all(crossings[:3] == kernels.AMBIGUOUS) and crossings[3] == -1
    truth = gt.GroundTruth(box.vertices, box.faces)
    w = truth.winding_number(points)
    fast = gt.winding_number(box.vertices, box.faces, points[:3])
    np.testing.assert_array_equal(w[:3], fast)
    assert w[3] == 1.0
    np.testing.assert_array_equal(truth(points), truth(points))


def test_ground_truth_is_deterministic_and_thread_independent(shared_or_none):
    mesh = trimesh.creation.torus(0.6, 0.25)
    cases = {"torus": (mesh.vertices, mesh.faces), "open torus": (mesh.vertices, mesh.faces[5:])}
    if shared_or_none is not None:
        cases["bunny"] = normalized_shared(shared_or_none, "trimesh__bunny.ply")
    for name, (vertices, faces) in cases.items():
        points = mixed_points(vertices, faces, 5000, seed=14)
        one = gt.GroundTruth(vertices, faces, threads=1)(points)
        two = gt.GroundTruth(vertices, faces, threads=2)(points)
        np.testing.assert_array_equal(one, two, err_msg=name)


# --------------------------------------------------------------------------- pysdf vs exact


@pytest.mark.parametrize("name", CAD_MESHES)
def test_pysdf_engine_is_exact_on_flat_cad_meshes(shared_meshes, name):
    vertices, faces = normalized_shared(shared_meshes, name)
    points = mixed_points(vertices, faces, 1500, seed=10)
    exact = gt.closest_point_naive(vertices, faces, points).distance
    raw = gt.pysdf_unsigned_distance(vertices, faces, points)
    # Raw pysdf is a distance to *some* triangle: never below the truth (the verification in
    # the pysdf engine relies on this) ...
    assert np.all(raw >= exact - 1e-5)
    # ... and on these meshes it is far above it (measured: max 0.12-0.68, see the docs).
    assert np.abs(raw - exact).max() > 0.05
    sdf, _ = gt.signed_distance(vertices, faces, points, engine="pysdf")
    np.testing.assert_allclose(np.abs(sdf), exact, rtol=0, atol=2e-6)
    sdf_exact, _ = gt.signed_distance(vertices, faces, points, engine="exact")
    np.testing.assert_allclose(np.abs(sdf_exact), exact, rtol=0, atol=1e-6)
    # Both inside tests agree on these closed meshes away from the surface.
    far = exact > 1e-3
    w = gt.winding_number(vertices, faces, points)
    assert np.array_equal((sdf < 0)[far], (np.abs(w) > 0.5)[far])


# --------------------------------------------------------------------------- no inside


def test_triangle_soup_raises_no_inside(shared_meshes):
    path = shared_meshes / "trimesh__soup.stl"
    vertices, faces = normalized_shared(shared_meshes, "trimesh__soup.stl")
    points = mixed_points(vertices, faces, 500, seed=11)
    with pytest.raises(NoInsideError, match="encloses no volume") as caught:
        gt.signed_distance(vertices, faces, points, name=str(path))
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("sign", ["auto", "parity", "winding"])
def test_single_sheet_raises_no_inside_for_every_sign_method(sign):
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64) - 0.5
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    points = np.random.default_rng(0).uniform(-1, 1, (100, 3)).astype(np.float32)
    with pytest.raises(NoInsideError, match="<mesh>: encloses no volume"):
        gt.signed_distance(vertices, faces, points, sign=sign)


def test_open_box_still_has_an_inside():
    box = trimesh.creation.box(extents=(1.4, 1.4, 1.4))
    normals = box.face_normals
    open_faces = box.faces[normals[:, 2] < 0.5]  # drop the top (+z) side: 10 faces left
    assert gt.encloses_volume(box.vertices, open_faces)
    points = np.random.default_rng(0).uniform(-0.6, 0.6, (500, 3)).astype(np.float32)
    points[:, 2] = np.minimum(points[:, 2], 0.3)  # well below the hole
    sdf, used = gt.signed_distance(box.vertices, open_faces, points)
    assert used == "winding"
    assert np.all(sdf < 0)


def test_multibody_and_box_of_bodies_enclose_volume(shared_meshes):
    for name in ("trimesh__multibody.stl", "trimesh__box.STL", "trimesh__teapot.stl"):
        vertices, faces = normalized_shared(shared_meshes, name)
        assert gt.encloses_volume(vertices, faces), name


def test_closest_point_on_degenerate_triangles_matches_the_reference():
    # Zero-length edges and collapsed triangles (marching cubes can emit them): no division
    # by zero, and the same answer as the naive reference.
    vertices = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [2, 0, 0], [0.5, 1, 0]], dtype=float)
    faces = np.array([[0, 1, 2], [1, 2, 3], [0, 0, 0], [2, 3, 4]])
    points = np.random.default_rng(0).normal(size=(500, 3))
    fast = gt.closest_point(gt.build_tree(vertices, faces), points)
    naive = gt.closest_point_naive(vertices, faces, points)
    np.testing.assert_allclose(fast.distance, naive.distance, atol=1e-12)


def test_volume_shortcut_agrees_with_the_component_test(shared_meshes):
    """The closed-and-oriented signed-volume shortcut of encloses_volume gives the component
    test's answer: on solids, inside-out solids, a doubled triangle (closed, oriented, volume 0),
    an open box, a lone sheet and every loadable shared mesh."""
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    torus = trimesh.creation.torus(0.6, 0.2)
    sheet_v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float64)
    sheet_f = np.array([[0, 1, 2], [0, 2, 3]])
    cases = {
        "box": (box.vertices, box.faces),
        "inside-out box": (box.vertices, box.faces[:, ::-1]),
        "torus": (torus.vertices, torus.faces),
        # closed and oriented (every edge once each way) yet flat: volume 0, no inside
        "doubled triangle": (sheet_v, np.array([[0, 1, 2], [2, 1, 0]])),
        "sheet": (sheet_v, sheet_f),
        "open box": (box.vertices, box.faces[box.face_normals[:, 2] < 0.5]),
    }
    for path in sorted(shared_meshes.iterdir()):
        try:
            mesh = load_mesh(path)
        except Exception:  # unloadable files are the bad-input tests' business
            continue
        cases[path.name] = (mesh.vertices, mesh.faces)
    took_shortcut = 0
    for name, (vertices, faces) in cases.items():
        full = gt.encloses_volume(vertices, faces, shortcut=False)
        assert gt.encloses_volume(vertices, faces) == full, name
        took_shortcut += gt.closed_oriented_volume(vertices, faces) not in (None, 0.0)
    assert not gt.encloses_volume(*cases["doubled triangle"])
    assert gt.closed_oriented_volume(*cases["doubled triangle"]) == 0.0
    assert gt.closed_oriented_volume(*cases["sheet"]) is None
    assert gt.closed_oriented_volume(*cases["box"]) == pytest.approx(1.0)
    assert gt.closed_oriented_volume(*cases["inside-out box"]) == pytest.approx(-1.0)
    assert took_shortcut >= 4


# --------------------------------------------------------------------------- the bench


def load_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gt_bench", REPO / "bench" / "groundtruth.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_documented_bench_commands_parse():
    """Every ``python bench/groundtruth.py ...`` and ``make bench-gt`` line of
    docs/groundtruth.md is a valid command line of the bench."""
    text = (REPO / "docs" / "groundtruth.md").read_text()
    commands = re.findall(r"`((?:python bench/groundtruth\.py|make bench-gt)[^`]*)`", text)
    assert any(c.startswith("python") for c in commands)
    parser = load_bench().build_parser()
    for command in commands:
        argv = shlex.split(command.strip())
        if argv[0] == "make":
            proc = subprocess.run(["make", "-n", *argv[1:]], cwd=REPO, capture_output=True)
            assert proc.returncode == 0, command
            gt_args = [a.split("=", 1)[1] for a in argv if a.startswith("GT_ARGS=")]
            argv = ["python", "bench/groundtruth.py", *shlex.split(gt_args[0] if gt_args else "")]
        parser.parse_args(argv[2:])


@pytest.mark.slow
def test_small_bench_runs_and_our_engine_is_exact(tmp_path):
    rows_path = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, "bench/groundtruth.py", "--small", "--json", str(rows_path)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| closed (6) | neusdf (exact, auto) |" in proc.stdout
    assert "| 10000 |" in proc.stdout  # the size table
    ours = [r for r in json.loads(rows_path.read_text()) if r["engine"] == "neusdf (exact, auto)"]
    assert len(ours) == 6
    for row in ours:
        assert row["near_wrong"] == 0.0 and row["uniform_wrong"] == 0.0, row["mesh"]
        assert max(row["near_err"], row["uniform_err"]) < 1e-6, row["mesh"]  # float32 output


def test_signs_on_open_meshes_follow_the_exact_winding_number(shared_or_none):
    # Points where the fast winding number is near 0.5 (next to holes) are evaluated again with
    # a wider opening ratio: the signs equal the brute-force ones, also there.
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.8)
    keep = np.ones(len(sphere.faces), dtype=bool)
    keep[np.random.default_rng(1).choice(len(sphere.faces), 64, replace=False)] = False
    cases = {"sphere with holes": (sphere.vertices, sphere.faces[keep])}
    if shared_or_none is not None:
        cases["teapot"] = normalized_shared(shared_or_none, "trimesh__teapot.stl")
    for name, (vertices, faces) in cases.items():
        points = mixed_points(vertices, faces, 3000, seed=15)
        truth = gt.GroundTruth(vertices, faces)
        assert truth.sign_method == "winding" and not truth.closed
        w = gt.winding_number(vertices, faces, points)
        close = np.abs(np.abs(w) - 0.5) < 0.2
        assert close.sum() >= 10, name  # the test covers the refined points
        brute = gt.winding_number(vertices, faces, points, method="brute")
        np.testing.assert_array_equal(truth.inside(points), np.abs(brute) > 0.5, err_msg=name)
