"""One way from a checkpoint to distances (neusdf.nn.field): every kind's torch-free evaluator
against its torch model, the same bits on any thread count, a defined positive answer outside the
normalized cube, and evaluating jobs that never import torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from neusdf.errors import CheckpointError
from neusdf.nn.checkpoint import read_checkpoint, write_checkpoint
from neusdf.nn.field import extend_outside, load_field, resolve_placement
from neusdf.nn.models import predict_sdf
from tests.helpers import ENV, REPO, TINY_KINDS, saved

INSIDE = np.random.default_rng(0).uniform(-1.0, 1.0, (3000, 3)).astype(np.float32)


@pytest.mark.parametrize(("kind", "storage"), [*((k, "float32") for k in TINY_KINDS),
                                               ("hashgrid", "float16")])  # fmt: skip
def test_torch_free_evaluator_matches_the_torch_model(tmp_path, kind, storage):
    path, model = saved(tmp_path, kind, storage)
    field = load_field(path, threads=1)
    reference = load_field(path, backend="reference")
    assert field.backend == "fast-numpy" and reference.backend in ("reference", "torch")
    if storage == "float16":  # the saved table is the rounded one
        model.encoding.params.data.copy_(model.encoding.params.half().float())
    expected = predict_sdf(model, INSIDE)
    np.testing.assert_allclose(field(INSIDE), expected, atol=2e-6)
    np.testing.assert_allclose(reference(INSIDE), expected, atol=2e-6)
    assert (
        field.n_parameters == reference.n_parameters == sum(p.numel() for p in model.parameters())
    )
    assert field.n_table_parameters == model.n_table_parameters()


@pytest.mark.parametrize("kind", ["hashgrid", "mlp", "deepsdf"])
def test_a_point_gets_the_same_bits_in_any_batch_and_on_any_thread_count(tmp_path, kind):
    """What makes the narrow-band extraction equal to the dense one: no BLAS tiling."""
    path, _ = saved(tmp_path, kind)
    points = np.random.default_rng(1).uniform(-1, 1, (5000, 3)).astype(np.float32)
    whole = load_field(path, threads=1)(points)
    for threads, batch in ((2, 7), (3, 1000), (2, 4097)):
        field = load_field(path, threads=threads, batch_size=batch)
        np.testing.assert_array_equal(field(points), whole)
        np.testing.assert_array_equal(field(points[13:20]), whole[13:20])


def test_outside_the_cube_the_answer_is_positive_and_within_its_bound():
    """A sphere of radius 0.8 (its exact SDF as the model): at points up to 100x its size away,
    the answer is positive, never below the truth, and above it by less than t(q) (the true
    distance at the nearest point of the cube): the bound docs/checkpoint.md states."""
    radius = 0.8

    def sphere(points):
        return (np.linalg.norm(points.astype(np.float64), axis=1) - radius).astype(np.float32)

    rng = np.random.default_rng(2)
    directions = rng.normal(size=(4000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = directions * rng.uniform(1.0, 200.0, (4000, 1))  # 160 = 100 diameters
    points = points[np.abs(points).max(axis=1) > 1.0]
    truth = np.linalg.norm(points, axis=1) - radius
    answer = extend_outside(sphere, points).astype(np.float64)
    nearest_truth = np.linalg.norm(np.clip(points, -1, 1), axis=1) - radius
    assert (answer > 0).all()
    assert (answer >= truth - 1e-5 * (1 + truth)).all()
    assert (answer - truth < nearest_truth + 1e-5 * (1 + truth)).all()
    relative = (answer - truth) / truth
    # Falls like t(q) / distance: below 1 % from 100 diameters on.
    assert (truth > 160).sum() > 100 and relative[truth > 160].max() < 0.01
    inside = rng.uniform(-1, 1, (500, 3)).astype(np.float32)
    np.testing.assert_array_equal(extend_outside(sphere, inside), sphere(inside))


def test_outside_answer_is_positive_even_where_the_model_is_negative_at_the_border():
    def negative(points):
        return np.full(len(points), -0.5, np.float32)

    values = extend_outside(negative, np.array([[1.5, 0, 0], [0, 0, -1.01]], np.float32))
    np.testing.assert_allclose(values, [0.5, 0.01], rtol=1e-5)


def test_placement_resolves_without_torch_on_a_cpu_and_refuses_unknown_backends():
    assert resolve_placement("auto", "cpu") == ("fast", "cpu")
    assert resolve_placement("fast", "cpu") == ("fast", "cpu")
    assert resolve_placement("reference", "cpu") == ("reference", "cpu")
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_placement("gpu", "cpu")


def test_weights_that_do_not_fit_the_configuration_are_refused(tmp_path):
    path, _ = saved(tmp_path, "hashgrid")
    checkpoint = read_checkpoint(path)
    arrays = dict(checkpoint.arrays)
    arrays.pop("network.0.weight")
    broken = tmp_path / "broken.safetensors"
    meta = {k: v for k, v in checkpoint.meta.items() if k not in ("format", "format_version")}
    write_checkpoint(broken, arrays, meta)
    for backend in ("fast", "reference"):
        with pytest.raises(CheckpointError, match="weights do not match the stored configuration"):
            load_field(broken, backend=backend)


def test_extract_evaluate_and_plot_jobs_run_without_torch(tmp_path):
    """The three evaluating stages, on a real normalized mesh, real samples and a trained tiny
    model of each kind, in a fresh process: torch, trimesh and pandas are never imported."""
    from neusdf.pipeline.normalize import normalize_object
    from neusdf.pipeline.sample import sample_object

    out = tmp_path
    normalize_object(str(REPO / "data/raw/sphere.obj"), f"{out}/n.ply", f"{out}/n.json", 0.9)
    sample_cfg = dict(
        train_surface=500, train_volume=500, test_surface=2000, test_volume=2000,
        near_surface_std=0.01, engine="pysdf", sign="auto",
    )  # fmt: skip
    sample_object(f"{out}/n.ply", f"{out}/n.json", f"{out}/s.h5", sample_cfg, 0, 1)
    checkpoints = [str(saved(tmp_path, kind)[0]) for kind in ("hashgrid", "deepsdf", "exact_grid")]
    code = textwrap.dedent(
        f"""
        import sys
        from neusdf.pipeline.compute import Compute
        from neusdf.threads import set_threads
        from neusdf.pipeline.evaluate import evaluate_object
        from neusdf.pipeline.extract import extract_object
        from neusdf.pipeline.plot import plot_object
        set_threads(1, torch_too=False)
        out, compute = {str(out)!r}, Compute("auto", "cpu", 1)
        for ckpt in {checkpoints!r}:
            extract_object(ckpt, out + "/m.ply", dict(resolution=32, batch_size=4096,
                           original_frame=False), compute)
            record = evaluate_object(ckpt, out + "/s.h5", out + "/m.ply", out + "/m.json",
                                     out + "/n.ply", out + "/metrics.json", "sphere", "m",
                                     dict(batch_size=4096, timing_points=1000, timing_repeats=2,
                                          timing_warmup=1, normal_points=500), dict(n_samples=1000),
                                     compute, 0)
            plot_object(ckpt, out + "/n.ply", out + "/n.json", out + "/p.png", "m",
                        dict(resolution=32), {sample_cfg!r}, compute)
            print(record["eval_backend"], record["n_parameters"] > 0)
        print(sorted(name for name in ("torch", "trimesh", "pandas") if name in sys.modules))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-4:] == ["fast-numpy True"] * 3 + ["[]"]
