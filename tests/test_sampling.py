import numpy as np
import pytest

from neusdf.mesh.points import sample_near_surface, sample_surface, sample_volume
from neusdf.seeding import derive_seed


def test_counts_dtypes_and_determinism(sphere_mesh):
    v, f = sphere_mesh.vertices, sphere_mesh.faces
    a = sample_near_surface(v, f, 5000, 0.01, seed=3)
    b = sample_near_surface(v, f, 5000, 0.01, seed=3)
    c = sample_near_surface(v, f, 5000, 0.01, seed=4)
    assert a.shape == (5000, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    vol = sample_volume(1000, seed=1)
    assert vol.shape == (1000, 3) and vol.dtype == np.float32
    np.testing.assert_array_equal(vol, sample_volume(1000, seed=1))


def test_surface_points_lie_on_the_surface_area_uniformly():
    import trimesh

    # Two triangles of area 1 and 3: a quarter of the points should land on the first.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 1], [3, 0, 1], [0, 2, 1]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    points, face_index = sample_surface(vertices, faces, 40_000, seed=0)
    assert np.mean(face_index == 0) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(points[face_index == 0, 2], 0.0)
    # inside each triangle: barycentric test via trimesh
    bary = trimesh.triangles.points_to_barycentric(vertices[faces][face_index], points)
    assert (bary > -1e-9).all()


def test_near_surface_noise_has_the_requested_std():
    import trimesh

    fine = trimesh.creation.icosphere(subdivisions=5, radius=0.8)  # facet sag < 1e-4
    points = sample_near_surface(fine.vertices, fine.faces, 50_000, 0.01, seed=0)
    # For a large sphere, radial offset ≈ the normal component of the isotropic noise ~ N(0, std).
    radial = np.linalg.norm(points, axis=1) - 0.8
    assert np.std(radial) == pytest.approx(0.01, rel=0.05)
    assert abs(np.mean(radial)) < 3e-4


def test_volume_is_uniform_in_the_cube():
    points = sample_volume(200_000, seed=0)
    assert points.min() >= -1 and points.max() <= 1
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=0.01)
    np.testing.assert_allclose(points.var(axis=0), 1 / 3, rtol=0.02)  # var of U(-1, 1)


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "sample", "test/volume") == derive_seed(0, "sample", "test/volume")
    seeds = {derive_seed(s, "sample", k) for s in (0, 1) for k in ("train", "test")}
    assert len(seeds) == 4
