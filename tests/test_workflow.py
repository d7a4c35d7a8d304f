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

from tests.conftest import REPO, TINY_KINDS, TINY_MODEL

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

TINY_CONFIG = {
    "raw_dir": "data/raw",
    "seed": 0,
    "run_models": ["tiny"],
    "sample": {
        "train_surface": 3000,
        "train_volume": 3000,
        "test_surface": 4000,
        "test_volume": 4000,
        "threads": 1,
    },
    "train": {"threads": 1},
    "evaluate": {"threads": 1, "timing_points": 2000, "timing_repeats": 2},
    "extract": {"resolution": 32, "threads": 1},
    "geometry": {"n_samples": 2000},
    "plot": {"resolution": 32, "threads": 1},
    "models": {"tiny": TINY_MODEL},
}


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """Snakemake on this repository's workflow, run in ``workdir`` with its ``config.yaml``."""
    return [
        SNAKEMAKE,
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
    ]


def make_workdir(root: Path, config: dict) -> Path:
    """``root`` with two default meshes in ``data/raw`` and ``config`` as its config.yaml."""
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("sphere.obj", "torus.ply"):
        shutil.copy(REPO / "data" / "raw" / name, raw / name)
    write_config(root, config)
    return root


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    # Targets and flags first: a trailing target would be swallowed by --resources.
    cmd = [*snakemake_command(workdir, *args), "--cores", "2", "--resources", "gpu=1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def planned_jobs(workdir: Path) -> dict[str, int]:
    """Rule name → job count that a dry run would execute (empty when nothing to do)."""
    proc = run_snakemake(workdir, "--dry-run")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    stats = text.split("Job stats:")[1]
    jobs = {}
    for line in stats.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        if match.group(1) not in ("total", "all"):
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def check_report_renders(report: Path, png: Path) -> None:
    """Screenshot the report in headless Chromium (skipped without one) and check it is a page
    with content, not a blank or error screen."""
    from neusdf.tools.report import find_chromium, screenshot_html

    if find_chromium() is None:
        pytest.skip("headless Chromium not installed: the rendered report was not looked at")
    import numpy as np
    from PIL import Image

    screenshot_html(report, png, width=1200, height=900)
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.shape == (900, 1200)
    assert pixels.std() > 10, "the rendered report looks blank"


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def workdir(tmp_path) -> Path:
    return make_workdir(tmp_path, TINY_CONFIG)


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
        "checkpoint": "results/models/tiny/sphere.pt",
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

    # A training parameter reruns train, evaluate and aggregate only.
    changed = copy.deepcopy(TINY_CONFIG)
    changed["models"]["tiny"]["training"]["epochs"] = 2
    write_config(workdir, changed)
    after_training = {
        "evaluate": 2,
        "extract": 2,
        "plot_slices": 2,
        "render": 2,
        "aggregate": 1,
        "plot_summary": 1,
        "compare_models": 1,
        "gallery": 1,
    }
    assert planned_jobs(workdir) == {"train": 2, **after_training}

    # A sampling parameter reruns sampling and everything after it, not normalize.
    changed["sample"]["near_surface_std"] = 0.02
    write_config(workdir, changed)
    assert planned_jobs(workdir) == {"sample": 2, "train": 2, **after_training}

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
        "compare_models": 1,
        "gallery": 1,
    }


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
    "hashgrid_small",
    "reference_recipe",
    "mlp",
    "deepsdf",
    "densegrid",
    "exact_grid",
    "exact_grid_small",
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
    subset = "[hashgrid,hashgrid_small,exact_grid,exact_grid_small]"
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
        assert re.search(rf"^{rule}\s+8$", text, re.MULTILINE), rule
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
