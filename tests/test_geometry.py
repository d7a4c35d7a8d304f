import math

import numpy as np
import pytest
import trimesh

from neusdf.evaluation.surface import GEOMETRIC_METRIC_KEYS, geometric_metrics
from neusdf.groundtruth import build_tree, closest_point, closest_point_naive
from neusdf.mesh.points import sample_surface

N = 20_000  # samples per surface in the known-answer tests


@pytest.fixture(scope="module")
def sphere_05() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=0.5)


@pytest.fixture(scope="module")
def sphere_055() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=0.55)


def unit_cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=[1.0, 1.0, 1.0])


def test_sample_surface_is_seeded_area_uniform_and_on_the_surface(sphere_05):
    points, faces = sample_surface(sphere_05.vertices, sphere_05.faces, 5000, seed=3)
    again, _ = sample_surface(sphere_05.vertices, sphere_05.faces, 5000, seed=3)
    other, _ = sample_surface(sphere_05.vertices, sphere_05.faces, 5000, seed=4)
    assert points.shape == (5000, 3) and points.dtype == np.float64 and faces.shape == (5000,)
    np.testing.assert_array_equal(points, again)
    assert not np.array_equal(points, other)
    assert np.all(np.einsum("ij,ij->i", sphere_05.face_normals[faces], points) > 0)
    assert np.all(np.linalg.norm(points, axis=1) <= 0.5 + 1e-9)
    # Area-uniform on a box with faces of areas 1x2 (x4) and 1x1 (x2): fraction on the +-x faces.
    box = trimesh.creation.box(extents=[2.0, 1.0, 1.0])
    pts, _ = sample_surface(box.vertices, box.faces, 20_000, seed=0)
    on_x_faces = np.isclose(np.abs(pts[:, 0]), 1.0)
    assert on_x_faces.mean() == pytest.approx(2 / 10, abs=0.01)


def test_closest_point_on_triangle_regions():
    tri = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    queries = np.array(
        [
            [0.2, 0.2, 1.0],  # above the interior
            [-1.0, -1.0, 0.0],  # vertex A
            [2.0, -0.5, 0.0],  # vertex B
            [-0.5, 2.0, 0.3],  # vertex C
            [0.5, -1.0, 0.0],  # edge AB
            [-1.0, 0.5, 0.0],  # edge AC
            [1.0, 1.0, -2.0],  # edge BC
        ]
    )
    expected = np.array(
        [[0.2, 0.2, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0, 0], [0, 0.5, 0], [0.5, 0.5, 0]]
    )
    faces = np.array([[0, 1, 2]])
    np.testing.assert_allclose(closest_point_naive(tri, faces, queries).point, expected, atol=1e-12)
    np.testing.assert_allclose(
        closest_point(build_tree(tri, faces), queries).point, expected, atol=1e-12
    )


@pytest.mark.parametrize("shape", ["sphere", "cube", "torus"])
def test_fast_query_matches_the_naive_reference(shape):
    mesh = {
        "sphere": trimesh.creation.icosphere(subdivisions=2, radius=0.5),
        "cube": unit_cube(),
        "torus": trimesh.creation.torus(0.5, 0.2, major_sections=16, minor_sections=8),
    }[shape]
    rng = np.random.default_rng(0)
    near, _ = sample_surface(mesh.vertices, mesh.faces, 200, seed=1)
    queries = np.concatenate([rng.uniform(-1, 1, (200, 3)), near + rng.normal(0, 0.02, (200, 3))])
    reference = closest_point_naive(mesh.vertices, mesh.faces, queries)
    fast = closest_point(build_tree(mesh.vertices, mesh.faces), queries)
    assert fast.face.shape == (400,) and fast.face.min() >= 0
    np.testing.assert_allclose(fast.distance, reference.distance, atol=1e-12)
    np.testing.assert_allclose(fast.point, reference.point, atol=1e-9)


def test_reference_distance_by_hand():
    # Above the interior of the top face, beyond an edge, beyond a corner of the unit cube.
    queries = np.array([[0.1, 0.2, 0.8], [0.9, 0.0, 0.9], [1.5, 1.5, 1.5]])
    expected = [0.3, math.hypot(0.4, 0.4), math.sqrt(3.0)]
    cube = unit_cube()
    got = closest_point_naive(cube.vertices, cube.faces, queries).distance
    np.testing.assert_allclose(got, expected)


def test_concentric_spheres(sphere_05, sphere_055):
    metrics = geometric_metrics(sphere_05, sphere_055, n=N, seed=0)
    chamfer = hausdorff = metrics
    # Every point of one sphere is 0.05 from the other (up to the icosphere's facets, < 0.002).
    assert chamfer["chamfer_l1"] == pytest.approx(0.05, abs=0.002)
    assert chamfer["chamfer_l2"] == pytest.approx(0.05**2, rel=0.08)
    assert chamfer["chamfer_l1"] == pytest.approx(
        0.5 * (chamfer["chamfer_l1_a_to_b"] + chamfer["chamfer_l1_b_to_a"])
    )
    assert hausdorff["hausdorff_95"] == pytest.approx(0.05, abs=0.003)
    assert hausdorff["hausdorff_max"] == pytest.approx(0.05, abs=0.004)
    assert hausdorff["hausdorff_95"] <= hausdorff["hausdorff_max"]
    assert metrics["normal_consistency"] > 0.99


def test_mesh_against_itself_is_zero_up_to_sampling(sphere_05):
    metrics = geometric_metrics(sphere_05, sphere_05, n=N, seed=0)
    spacing = math.sqrt(sphere_05.area / N)  # typical distance between samples, ~0.006
    assert metrics["chamfer_l1"] < 0.01 * spacing
    assert metrics["chamfer_l2"] < (0.01 * spacing) ** 2
    assert metrics["hausdorff_95"] < 1e-9
    assert metrics["hausdorff_max"] < 0.5 * spacing
    assert metrics["normal_consistency"] > 0.999
    assert metrics["pred_empty"] is False


def test_translated_cube_has_the_analytic_distances():
    d = 0.1
    moved = unit_cube()
    moved.apply_translation([d, 0.0, 0.0])
    metrics = geometric_metrics(unit_cube(), moved, n=N, seed=0)
    assert metrics["hausdorff_max"] == pytest.approx(d, abs=1e-9)
    assert metrics["hausdorff_95"] == pytest.approx(d, abs=1e-9)
    # Per direction, averaged over the 6 unit faces: the trailing face is exactly d away, the
    # leading face (inside the other cube) min(d, distance to the side faces), and each side
    # face has a strip of width d at distances 0..d.
    leading = (1 - (1 - 2 * d) ** 3) / 6
    l1 = (d + leading + 4 * d**2 / 2) / 6
    l2 = (d**2 + (d**2 - 8 * d**3 / 3 + 2 * d**4) + 4 * d**3 / 3) / 6
    assert metrics["chamfer_l1"] == pytest.approx(l1, rel=0.03)
    assert metrics["chamfer_l2"] == pytest.approx(l2, rel=0.03)
    assert metrics["chamfer_l1"] <= d and metrics["chamfer_l2"] <= d**2


def test_metrics_are_seeded(sphere_05, sphere_055):
    a = geometric_metrics(sphere_05, sphere_055, n=2000, seed=7)
    b = geometric_metrics(sphere_05, sphere_055, n=2000, seed=7)
    assert a == b
    assert list(a)[: len(GEOMETRIC_METRIC_KEYS)] == list(GEOMETRIC_METRIC_KEYS)


@pytest.mark.parametrize("pred", [None, "empty", "flat"])
def test_empty_prediction_gives_nan_and_a_flag(sphere_05, pred):
    mesh = {
        None: None,
        "empty": trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)),
        "flat": trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False),
    }[pred]
    metrics = geometric_metrics(mesh, sphere_05, n=100, seed=0)
    assert metrics["pred_empty"] is True
    for key in GEOMETRIC_METRIC_KEYS:
        assert math.isnan(metrics[key])


def test_empty_ground_truth_is_an_error(sphere_05):
    with pytest.raises(ValueError, match="gt_mesh is empty"):
        geometric_metrics(None, trimesh.Trimesh(), n=100, seed=0)
    with pytest.raises(ValueError, match="gt_mesh is empty"):
        geometric_metrics(sphere_05, trimesh.Trimesh(), n=100, seed=0)
