import math
import warnings

import numpy as np
import pytest
import trimesh

from neusdf.evaluation.extraction import (
    EmptyLevelSetWarning,
    evaluate_grid,
    extract_zero_level_set,
    write_mesh,
)
from neusdf.evaluation.surface import is_empty_mesh
from neusdf.mesh.transform import Normalization

RADIUS = 0.5


def sphere_sdf(points: np.ndarray) -> np.ndarray:
    return (np.linalg.norm(points, axis=1) - RADIUS).astype(np.float32)


def torus_sdf(points: np.ndarray, major: float = 0.5, minor: float = 0.2) -> np.ndarray:
    ring = np.linalg.norm(points[:, :2], axis=1) - major
    return (np.hypot(ring, points[:, 2]) - minor).astype(np.float32)


@pytest.fixture(scope="module")
def sphere_mesh_64() -> trimesh.Trimesh:
    return extract_zero_level_set(sphere_sdf, resolution=64, batch_size=10_000)


def test_sphere_volume_area_and_radius(sphere_mesh_64):
    mesh = sphere_mesh_64
    spacing = 2.0 / 63
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * RADIUS**3, rel=0.01)
    assert mesh.area == pytest.approx(4 * math.pi * RADIUS**2, rel=0.01)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    # Vertices are linearly interpolated along grid edges: error well below one cell.
    assert np.abs(radii - RADIUS).max() < 0.1 * spacing
    info = mesh.metadata["extraction"]
    assert info["empty"] is False and info["resolution"] == 64
    assert info["spacing"] == pytest.approx(spacing)


def test_normals_point_outward_towards_positive_sdf(sphere_mesh_64):
    mesh = sphere_mesh_64
    centers = mesh.triangles_center
    assert np.all(np.einsum("ij,ij->i", mesh.face_normals, centers) > 0)
    assert mesh.volume > 0


def test_normals_point_outward_on_a_non_convex_shape():
    mesh = extract_zero_level_set(torus_sdf, resolution=48)
    step = 1e-3
    centers, normals = mesh.triangles_center, mesh.face_normals
    ahead = torus_sdf((centers + step * normals).astype(np.float32))
    behind = torus_sdf((centers - step * normals).astype(np.float32))
    assert np.mean(ahead > behind) > 0.999
    assert mesh.volume == pytest.approx(2 * math.pi**2 * 0.5 * 0.2**2, rel=0.03)


def test_batch_size_does_not_change_the_grid():
    a = evaluate_grid(sphere_sdf, resolution=17, batch_size=1000)
    b = evaluate_grid(sphere_sdf, resolution=17, batch_size=17**3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == (17, 17, 17)
    # indexing="ij": grid[i, j, k] is the value at (x_i, y_j, z_k).
    axis = np.linspace(-1, 1, 17)
    assert a[16, 8, 8] == pytest.approx(axis[16] - RADIUS, abs=1e-6)
    assert a[8, 0, 8] == pytest.approx(-axis[0] - RADIUS, abs=1e-6)


def test_sdf_fn_gets_bounded_float32_batches():
    sizes = []

    def recording_sdf(points):
        assert points.dtype == np.float32 and points.shape[1] == 3
        sizes.append(len(points))
        return sphere_sdf(points)

    extract_zero_level_set(recording_sdf, resolution=20, batch_size=999, method="dense")
    assert max(sizes) <= 999 and sum(sizes) == 20**3


def test_no_zero_crossing_gives_an_empty_mesh_and_a_warning(tmp_path):
    with pytest.warns(EmptyLevelSetWarning, match="no surface"):
        mesh = extract_zero_level_set(lambda p: sphere_sdf(p) + 5.0, resolution=16)
    assert len(mesh.vertices) == 0 and len(mesh.faces) == 0
    assert mesh.metadata["extraction"]["empty"] is True
    assert is_empty_mesh(mesh)
    write_mesh(mesh, tmp_path / "empty.ply")  # a valid, empty file
    assert len(trimesh.load(tmp_path / "empty.ply", force="mesh").faces) == 0


def test_everything_inside_is_empty_too():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh = extract_zero_level_set(lambda p: np.full(len(p), -1.0), resolution=8)
    assert is_empty_mesh(mesh)
    assert any(issubclass(w.category, EmptyLevelSetWarning) for w in caught)


def test_non_finite_field_is_an_error():
    def broken(points):
        values = sphere_sdf(points)
        values[0] = np.nan
        return values

    with pytest.raises(ValueError, match="non-finite"):
        extract_zero_level_set(broken, resolution=8)


def test_other_bound_and_level():
    mesh = extract_zero_level_set(sphere_sdf, resolution=40, bound=0.7, level=0.1)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - (RADIUS + 0.1)).max() < 0.01


def test_original_frame_round_trip(sphere_mesh_64, tmp_path):
    center, scale = [10.0, -2.0, 3.5], 0.25
    original = Normalization(center, scale).mesh_to_original(sphere_mesh_64)
    # x_orig = x_norm / scale + center: the sphere has radius 2 around `center`.
    assert np.linalg.norm(original.vertices - center, axis=1).mean() == pytest.approx(
        RADIUS / scale, rel=1e-3
    )
    assert original.volume > 0  # a uniform positive scale keeps the winding outward
    assert original.metadata["extraction"]["frame"] == "original"
    back = Normalization(center, scale).apply(original.vertices)
    np.testing.assert_allclose(back, sphere_mesh_64.vertices, atol=1e-12)
    np.testing.assert_array_equal(original.faces, sphere_mesh_64.faces)
    # The input mesh is not modified.
    assert sphere_mesh_64.metadata["extraction"]["frame"] == "normalized"
    write_mesh(original, tmp_path / "orig.ply")
    loaded = trimesh.load(tmp_path / "orig.ply", force="mesh", process=False)
    np.testing.assert_allclose(loaded.vertices, original.vertices, rtol=1e-6)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_bad_scale_is_rejected(sphere_mesh_64, scale):
    with pytest.raises(ValueError, match="scale"):
        Normalization([0, 0, 0], scale)
