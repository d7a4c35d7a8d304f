"""What keeps dataset-scale runs cheap: light imports for the CPU-only stages, one ground-truth
call per slice figure, failure records found by one folder walk, and a bench that still runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from neusdf.evaluation.plots import plot_sdf_slices
from neusdf.pipeline.jobs import find_failure_records
from tests.helpers import ENV, REPO, TINY_MODEL


def test_normalize_and_sample_jobs_import_neither_torch_nor_matplotlib(tmp_path):
    # What scripts/normalize.py and scripts/sample.py import, then both stages run for real.
    code = textwrap.dedent(
        f"""
        import sys
        from neusdf.threads import set_threads
        from neusdf.pipeline.jobs import job
        from neusdf.pipeline.normalize import normalize_object
        from neusdf.pipeline.sample import sample_object
        set_threads(1, torch_too=False)
        out, mesh = {str(tmp_path)!r}, {str(REPO / "data/raw/sphere.obj")!r}
        normalize_object(mesh, out + "/n.ply", out + "/n.json", 0.9)
        cfg = dict(train_surface=500, train_volume=500, test_surface=500, test_volume=500,
                   near_surface_std=0.01, engine="pysdf", sign="auto")
        sample_object(out + "/n.ply", out + "/n.json", out + "/s.h5", cfg, 0, 1)
        heavy = ("torch", "matplotlib", "skimage", "pandas")
        print(sorted(name for name in heavy if name in sys.modules))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "s.h5").is_file()


def test_slice_figure_calls_each_field_once_per_batch(tmp_path):
    calls = []

    def gt(points):
        calls.append(len(points))
        return np.linalg.norm(points, axis=1) - 0.5

    resolution = 24
    plot_sdf_slices(gt, gt, tmp_path / "s.png", resolution=resolution, batch_size=3 * resolution**2)
    # Ground truth and prediction: one call each with all three slices.
    assert calls == [3 * resolution**2, 3 * resolution**2]


def test_failure_records_of_current_objects_and_models_only(tmp_path):
    failures = tmp_path / "results" / "failures"
    for rel in ("sample/a.json", "train/hashgrid/b.json", "train/other/b.json", "plot/x.json"):
        (failures / rel).parent.mkdir(parents=True, exist_ok=True)
        (failures / rel).write_text("{}")
    found = find_failure_records(["a", "b"], ["hashgrid"], root=failures)
    assert found == [f"{failures}/sample/a.json", f"{failures}/train/hashgrid/b.json"]
    assert find_failure_records(["a"], ["hashgrid"], root=tmp_path / "missing") == []


@pytest.mark.slow
def test_pipeline_bench_runs_on_one_object_with_a_tiny_config(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["run_models"] = ["tiny"]
    config["models"] = {"tiny": TINY_MODEL}
    config["sample"].update(
        train_surface=2000, train_volume=2000, test_surface=2000, test_volume=2000, threads=1
    )
    config["evaluate"].update(timing_points=1000, timing_repeats=2)
    config["extract"]["resolution"] = 32
    config["geometry"] = {"n_samples": 1000}
    config["plot"]["resolution"] = 32
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "bench/pipeline.py"), "--objects", "1"]
    cmd += ["--configfile", str(configfile), "--dag-objects", "20", "--json", str(out)]
    cmd += ["--scratch", str(tmp_path / "scratch"), "--repo", str(REPO)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    stages = ("normalize", "sample", "train", "extract", "evaluate", "plot", "render")
    stages += ("total per object",)
    assert tuple(result["stages"]) == stages
    assert all(row["mean_s"] > 0 for row in result["stages"].values())
    assert set(result["dry_run_s"]) == {"20"} and set(result["aggregate_s"]) == {"20"}
    assert "| total per object |" in proc.stdout
    assert Path(result["repo"]) == REPO
    # Re-read the same run and print it side by side with itself: every ratio is 1.
    again = [sys.executable, str(REPO / "bench/pipeline.py"), "--summarize"]
    again += [str(tmp_path / "scratch"), "--dag-objects", "--compare", str(out)]
    proc = subprocess.run(again, capture_output=True, text=True, env=ENV, timeout=120, check=True)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "x |" in line]
    assert len(rows) == 8 and all("| 1.00x |" in row for row in rows)


def test_make_bench_pipeline_target_runs_the_bench_script():
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(
        ["make", "-n", "bench-pipeline", f"VENV={venv}", "BENCH_ARGS=--objects 2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert f"{venv}/bin/python bench/pipeline.py --objects 2" in proc.stdout


def test_extraction_bench_on_a_trained_tiny_checkpoint(tmp_path, tiny_model_config):
    from neusdf.mesh.points import sample_volume
    from neusdf.nn.models import SDFNetwork, save_checkpoint
    from neusdf.nn.training import train_sdf

    points = sample_volume(6000, seed=3)
    sdf = (np.linalg.norm(points, axis=1) - 0.5).astype(np.float32)
    model = SDFNetwork(tiny_model_config, backend="fast", seed=0, device="cpu", threads=1)
    train_sdf(model, points, sdf, tiny_model_config["training"], seed=0, progress=False)
    checkpoint = tmp_path / "ball.safetensors"
    save_checkpoint(checkpoint, model, "tiny", {"center": [0, 0, 0], "scale": 1.0}, {})
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench/extraction.py"), str(checkpoint), "--resolution", "40"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| ball |"))
    assert "| True |" in row  # narrow band == dense
