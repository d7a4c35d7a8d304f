"""Narrow-band extraction gives the dense grid's mesh: analytic fields with thin parts, trained
models, ground-truth SDFs of real meshes; and the documented limit for fields steeper than L."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neusdf import groundtruth
from neusdf.evaluation.extraction import extract_zero_level_set
from neusdf.evaluation.narrowband import evaluate_narrow_band
from neusdf.mesh.load import load_mesh, normalize_mesh
from neusdf.mesh.points import sample_volume
from neusdf.nn.models import SDFNetwork, predict_sdf
from neusdf.nn.training import train_sdf


def sorted_triangles(mesh) -> np.ndarray:
    """(F, 9) triangles as vertex coordinates, rotation-normalized and sorted: independent of
    vertex numbering and face order, sensitive to winding."""
    keys = np.round(np.asarray(mesh.vertices)[np.asarray(mesh.faces)], 9)  # (F, 3, 3)
    # Rotate each triangle so its lexicographically smallest vertex comes first (keeps winding).
    start = np.lexsort((keys[..., 2], keys[..., 1], keys[..., 0]), axis=-1)[:, 0]
    idx = (start[:, None] + np.arange(3)[None]) % 3
    rotated = np.take_along_axis(keys, idx[..., None], axis=1).reshape(-1, 9)
    return rotated[np.lexsort(rotated.T[::-1])]


def assert_same_mesh(dense, band):
    """Same triangles (up to float noise), and in fact the same arrays."""
    assert len(dense.faces) == len(band.faces)
    np.testing.assert_allclose(sorted_triangles(band), sorted_triangles(dense), atol=1e-7)
    np.testing.assert_array_equal(band.faces, dense.faces)
    np.testing.assert_array_equal(band.vertices, dense.vertices)


def both(sdf_fn, resolution, **kwargs):
    dense = extract_zero_level_set(sdf_fn, resolution, method="dense")
    band = extract_zero_level_set(sdf_fn, resolution, method="narrow_band", **kwargs)
    return dense, band


def thin_plate(points):
    """A 0.004-thick square plate: thinner than one fine cell (0.016 at 129)."""
    slab = np.abs(points[:, 2] - 0.001) - 0.002  # contains the node plane z = 0
    return np.maximum(slab, np.max(np.abs(points[:, :2]), axis=1) - 0.6).astype(np.float32)


def small_spheres(points):
    """A big sphere plus one of radius 0.012 (< one coarse block, ~0.8 fine cells at 129)."""
    big = np.linalg.norm(points + 0.4, axis=1) - 0.3
    small = np.linalg.norm(points - np.array([0.31, 0.27, 0.22]), axis=1) - 0.012
    return np.minimum(big, small).astype(np.float32)


def nested_shells(points):
    """A 0.01-thick spherical shell around a solid sphere: two close parallel sheets."""
    r = np.linalg.norm(points, axis=1)
    return np.minimum(np.abs(r - 0.6) - 0.005, r - 0.3).astype(np.float32)


@pytest.mark.parametrize("field", [thin_plate, small_spheres, nested_shells])
@pytest.mark.parametrize("resolution", [65, 129])
def test_thin_parts_of_true_sdfs_are_kept(field, resolution):
    dense, band = both(field, resolution)
    assert len(dense.faces) > 0
    assert_same_mesh(dense, band)
    assert band.metadata["extraction"]["evaluated_fraction"] < 0.5


def test_small_sphere_alone_is_found_from_the_coarse_grid():
    # Nothing else in the field: only the margin rule can find it (no sheet to follow).
    def lonely(points):
        return (np.linalg.norm(points - 0.137, axis=1) - 0.01).astype(np.float32)

    dense, band = both(lonely, 129)
    assert len(dense.faces) > 0
    assert_same_mesh(dense, band)


def steep_sphere(gradient: float, radius: float, center=(0.11, -0.07, 0.05)):
    def field(points):
        return (gradient * (np.linalg.norm(points - np.array(center), axis=1) - radius)).astype(
            np.float32
        )

    return field


def test_limit_for_fields_steeper_than_lipschitz():
    """Documented limit: with gradient G > L a lone sphere wholly inside one coarse block is
    caught when r >= (1 - L / G) * sqrt(3) / 2 * B * h, and may be lost when much smaller."""
    resolution, block, lipschitz, gradient = 129, 16, 2.0, 40.0
    h = 2.0 / (resolution - 1)
    r_caught = (1 - lipschitz / gradient) * math.sqrt(3) / 2 * block * h
    dense, band = both(steep_sphere(gradient, r_caught * 1.01), resolution, lipschitz=lipschitz)
    assert len(dense.faces) > 0
    assert_same_mesh(dense, band)
    # Far below the bound the coarse corners are too far above zero: the sphere is lost.
    tiny = steep_sphere(gradient, 0.02, center=(0.0625 + 0.031, 0.0625 + 0.031, 0.031))
    dense, band = both(tiny, resolution, lipschitz=lipschitz)
    assert len(dense.faces) > 0
    assert len(band.faces) == 0


def test_closure_follows_a_surface_steeper_than_assumed():
    """A plane with a thin spike, scaled by 4 (G = 4 > L = 0.5): the margin misses the spike's
    blocks, the closure step follows the sheet up the spike instead."""

    def spike(points):
        radius = np.linalg.norm(points[:, :2] - 0.13, axis=1)
        tube = np.maximum(radius - 0.03, points[:, 2] - 0.4)
        return (4.0 * np.minimum(points[:, 2] + 0.2, tube)).astype(np.float32)

    dense, band = both(spike, 97, lipschitz=0.5)
    assert_same_mesh(dense, band)
    _, _, stats = evaluate_narrow_band(spike, 97, lipschitz=0.5)
    assert stats["closure_rounds"] > 0


def test_block_sizes_and_odd_resolutions_agree():
    def torus(points):
        ring = np.linalg.norm(points[:, :2], axis=1) - 0.5
        return (np.hypot(ring, points[:, 2]) - 0.15).astype(np.float32)

    dense = extract_zero_level_set(torus, 70, method="dense")
    for block in (1, 2, 8, 32):
        band = extract_zero_level_set(torus, 70, coarse_block=block)
        assert_same_mesh(dense, band)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="power of two"):
        evaluate_narrow_band(thin_plate, 33, coarse_block=6)
    with pytest.raises(ValueError, match="lipschitz"):
        evaluate_narrow_band(thin_plate, 33, lipschitz=0)
    with pytest.raises(ValueError, match="method"):
        extract_zero_level_set(thin_plate, 33, method="octree")


def test_trained_tiny_models(tiny_model_config):
    def sdf(points):
        return (np.linalg.norm(points, axis=1) - 0.6).astype(np.float32)

    points = np.concatenate(
        [
            sample_volume(4000, seed=1),
            (np.random.default_rng(2).normal(size=(4000, 3)) * 0.6).astype(np.float32),
        ]
    )
    for seed in (0, 1):
        model = SDFNetwork(tiny_model_config, backend="fast", seed=seed, device="cpu", threads=1)
        train_sdf(
            model, points, sdf(points), tiny_model_config["training"], seed=seed, progress=False
        )

        def field(p, model=model):
            return predict_sdf(model, p)

        dense, band = both(field, 64)
        assert len(dense.faces) > 0
        assert_same_mesh(dense, band)


REAL = ["trimesh__bunny.ply", "trimesh__quadknot.obj", "c3d__spot.obj", "trimesh__featuretype.STL"]


@pytest.mark.parametrize("name", REAL)
def test_ground_truth_sdf_of_real_meshes(shared_meshes, name):
    mesh, _ = normalize_mesh(load_mesh(shared_meshes / name))
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)

    def field(points):
        return groundtruth.signed_distance(vertices, faces, points, threads=2, name=name)[0]

    dense, band = both(field, 80)
    assert len(dense.faces) > 0
    assert_same_mesh(dense, band)


def test_each_node_is_evaluated_at_most_once_in_bounded_batches():
    seen = []

    def recording(points):
        assert points.dtype == np.float32 and len(points) <= 999
        seen.append(points.copy())
        return nested_shells(points)

    _, _, stats = evaluate_narrow_band(recording, 65, batch_size=999)
    points = np.concatenate(seen)
    assert len(np.unique(points, axis=0)) == len(points) == stats["evaluated"] < 65**3
