"""The real workflow, run by Snakemake as a subprocess on two meshes with a tiny config."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import (
    ENV,
    REPO,
    SUMMARY_JOBS,
    TINY_CONFIG,
    TINY_KINDS,
    TINY_MODEL,
    check_report_renders,
    make_workdir,
    planned_jobs,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path) -> Path:
    return make_workdir(tmp_path, TINY_CONFIG)


AFTER_TRAINING = {
    "train": 2,
    "evaluate": 2,
    "extract": 2,
    "plot_slices": 2,
    "render": 2,
    **SUMMARY_JOBS,
}


def test_workflow_end_to_end_and_incremental_rebuilds(workdir):
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert list(summary["object"]) == ["sphere", "torus"]
    assert (summary["status"] == "ok").all()
    assert summary["surface_f1"].between(0.5, 1.0).all()
    assert summary["volume_f1"].between(0.8, 1.0).all()
    assert summary["chamfer_l1"].between(0.0, 0.2).all()
    for name in ("sphere", "torus"):
        assert (workdir / "results" / "meshes" / "tiny" / f"{name}.ply").stat().st_size > 0
        assert (workdir / "results" / "plots" / "tiny" / f"{name}.png").stat().st_size > 0
        assert (workdir / "results" / "renders" / "tiny" / f"{name}.png").stat().st_size > 0
    assert (workdir / "results" / "plots" / "summary.png").is_file()
    for stage in ("normalize", "sample", "train/tiny", "evaluate/tiny"):
        assert (workdir / "results" / "logs" / stage / "sphere.log").is_file()
    assert (workdir / "results" / "benchmarks" / "train" / "tiny" / "torus.tsv").is_file()

    # Nothing changed: nothing to do.
    assert planned_jobs(workdir) == {}

    # Every file evaluate reads is declared: changing one reruns evaluate (and what follows).
    evaluate_inputs = {
        "checkpoint": "results/models/tiny/sphere.safetensors",
        "samples": "results/samples/sphere.h5",
        "pred_mesh": "results/meshes/tiny/sphere.ply",
        "pred_meta": "results/meshes/tiny/sphere.json",
        "gt_mesh": "results/normalized/sphere.ply",
    }
    for name, path in evaluate_inputs.items():
        # Snakemake compares checksums of small inputs, so the content must change, not only
        # the modification time; then the original bytes and times are put back.
        target = workdir / path
        original, stat = target.read_bytes(), target.stat()
        target.write_bytes(original + b" ")
        assert planned_jobs(workdir).get("evaluate") == 1, name
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(workdir) == {}

    # A training parameter reruns train and every job that reads the checkpoint.
    changed = copy.deepcopy(TINY_CONFIG)
    changed["models"]["tiny"]["training"]["epochs"] = 2
    write_config(workdir, changed)
    assert planned_jobs(workdir) == AFTER_TRAINING

    # A sampling parameter reruns sampling and everything after it, not normalize.
    changed["sample"]["near_surface_std"] = 0.02
    write_config(workdir, changed)
    assert planned_jobs(workdir) == {"sample": 2, **AFTER_TRAINING}

    # A new mesh adds its own jobs (and the summary).
    write_config(workdir, TINY_CONFIG)
    shutil.copy(REPO / "data" / "raw" / "capsule.stl", workdir / "data" / "raw" / "capsule.stl")
    assert planned_jobs(workdir) == {
        "normalize": 1,
        "sample": 1,
        "train": 1,
        "extract": 1,
        "evaluate": 1,
        "plot_slices": 1,
        "render": 1,
        "aggregate": 1,
        "plot_summary": 1,
        "plot_collection": 1,
        "compare_models": 1,
        "gallery": 1,
    }


def test_typed_overrides_placement_and_code_changes_replan_what_they_should(workdir, tmp_path):
    """After a finished run: any model key set from the command line with its type reruns that
    model's jobs; a model defined wholly on the command line adds its own; placement (threads,
    backend, device) replans nothing; a code change reruns the stages whose code it touches,
    a docstring change nothing."""
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "neusdf: 2 object(s) x 1 model(s): 2 trained, 0 failed" in proc.stderr
    assert "summary: results/summary.csv" in proc.stderr
    assert planned_jobs(workdir) == {}
    for override in (
        "models={tiny: {training: {epochs: 19}}}",
        "models={tiny: {encoding: {log2_hashmap_size: 10}}}",
        "models={tiny: {network: {n_neurons: 32}}}",
    ):
        assert planned_jobs(workdir, "--config", override) == AFTER_TRAINING, override
    new_model = "models={mine: {kind: exact_grid, grid: {resolution: 9, storage: float16}}}"
    assert planned_jobs(workdir, "--config", new_model, "run_models=[tiny, mine]") == {
        **AFTER_TRAINING,
        "train": 2,
        "extract": 2,
        "evaluate": 2,
        "plot_slices": 2,
    }
    for placement in (
        "compute={threads: 1}",
        "compute={backend: reference, device: cpu}",
        "train={threads: 1}",
        "evaluate={backend: fast}",
    ):
        assert planned_jobs(workdir, "--config", placement) == {}, placement
    # The package as another checkout of it: same code, then one edit to the training loop.
    package = tmp_path / "src"
    shutil.copytree(REPO / "src" / "neusdf", package / "neusdf",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    env = dict(ENV, PYTHONPATH=str(package))
    assert planned_jobs(workdir, env=env) == {}
    training = package / "neusdf" / "nn" / "training.py"
    source = training.read_text()
    training.write_text(source.replace('"""The training loop', '"""The loop, reworded:', 1))
    assert planned_jobs(workdir, env=env) == {}  # a docstring is not code
    training.write_text(source + "\nUNUSED = 1\n")
    assert planned_jobs(workdir, env=env) == AFTER_TRAINING


def test_report_is_one_page_that_renders(workdir):
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = workdir / "report.html"
    proc = run_snakemake(workdir, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = report.read_text(errors="replace")
    assert "summary.csv" in html and "SDF slices" in html
    check_report_renders(report, workdir / "report.png")


def test_bad_config_stops_before_any_job_naming_the_key(workdir):
    bad = copy.deepcopy(TINY_CONFIG)
    bad["sample"]["near_surface_std"] = -1
    write_config(workdir, bad)
    proc = run_snakemake(workdir, "--dry-run")
    assert proc.returncode != 0
    assert "near_surface_std" in proc.stderr + proc.stdout
    assert not (workdir / "results").exists()


COMPARE_MODELS = [
    "hashgrid",
    "hashgrid_tiny",
    "hashgrid_tcnn",
    "reference_recipe",
    "mlp",
    "deepsdf",
    "densegrid",
    "exact_grid",
    "exact_grid_small",
    "exact_grid_tiny",
]


def test_make_compare_runs_every_named_model(tmp_path):
    """`make compare`'s snakemake command, as a dry run on the real config.yaml: every named
    model is trained, extracted, evaluated and plotted for every mesh, then compared."""
    venv = "VENV=" + str(Path(sys.executable).parent.parent)
    make = subprocess.run(
        ["make", "--dry-run", "--always-make", "compare", venv],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = [ln for ln in make.stdout.splitlines() if "snakemake" in ln][-1]
    assert "--config 'run_models=[" + ",".join(COMPARE_MODELS) + "]'" in line
    subset = "[hashgrid,hashgrid_tiny,exact_grid_small,exact_grid_tiny]"
    make = subprocess.run(
        ["make", "--dry-run", "--always-make", "compare", venv, f"COMPARE_MODELS={subset}"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"--config 'run_models={subset}'" in make.stdout
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["run_models"] == ["hashgrid"]  # the default run stays short
    assert set(COMPARE_MODELS) <= set(config["models"])
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "sphere.obj")
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    proc = run_snakemake(
        tmp_path, "--dry-run", "--config", "run_models=[" + ",".join(COMPARE_MODELS) + "]"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    for rule in ("train", "extract", "evaluate", "plot_slices", "render"):
        assert re.search(rf"^{rule}\s+{len(COMPARE_MODELS)}$", text, re.MULTILINE), rule
    assert re.search(r"^compare_models\s+1$", text, re.MULTILINE)


def test_comparison_of_two_model_kinds(workdir):
    """Two tiny models of different kinds through the real workflow: models.csv has one row per
    model with its kind, bytes and spread; models.png is drawn. One mesh keeps it short."""
    (workdir / "data" / "raw" / "torus.ply").unlink()
    config = copy.deepcopy(TINY_CONFIG)
    config["models"] = {"tiny": TINY_MODEL, "tiny_exact": TINY_KINDS["exact_grid"]}
    config["run_models"] = ["tiny_exact", "tiny"]
    write_config(workdir, config)
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = pd.read_csv(workdir / "results" / "models.csv")
    assert list(table["model"]) == ["tiny_exact", "tiny"]
    assert list(table["kind"]) == ["exact_grid", "hashgrid"]
    assert list(table["objects"]) == [1, 1]
    assert (table["surface_f1_min"] <= table["surface_f1_mean"]).all()
    assert (table["surface_f1_mean"] <= table["surface_f1_max"]).all()
    assert table.loc[0, "n_parameters"] == 16**3
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    bytes_exact = summary.loc[summary["model"] == "tiny_exact", "checkpoint_bytes"].mean()
    assert table.loc[0, "checkpoint_bytes"] == bytes_exact
    assert (workdir / "results" / "plots" / "models.png").stat().st_size > 10_000
    assert (workdir / "results" / "meshes" / "tiny_exact" / "sphere.ply").stat().st_size > 0
    assert (workdir / "results" / "plots" / "tiny_exact" / "sphere.png").is_file()
