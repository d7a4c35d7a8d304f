"""The `neusdf` command, run as a subprocess on a checkpoint trained by the real workflow.

The workflow input is the default torus moved and scaled into "millimetres" (center far from the
origin, scale far from 1), so the original frame is a real test of the stored transform.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

import neusdf
from neusdf import groundtruth
from tests.helpers import REPO, TINY_CONFIG, run_snakemake, write_config

OFFSET = np.array([1000.0, -20.0, 5.0])
MM = 250.0
CHECKPOINT = "results/models/hashgrid/torus.safetensors"


def neusdf_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``neusdf ARGS`` as the installed script would run it (``python -m neusdf.cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "neusdf.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("neusdf: error:")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A tiny real run (model named ``hashgrid``, tiny config) on the moved, scaled torus."""
    work = tmp_path_factory.mktemp("cli")
    raw = work / "data" / "raw"
    raw.mkdir(parents=True)
    torus = trimesh.load(REPO / "data" / "raw" / "torus.ply", force="mesh", process=False)
    torus.apply_scale(MM)
    torus.apply_translation(OFFSET)
    torus.export(raw / "torus.ply")
    config = json.loads(json.dumps(TINY_CONFIG))
    config["run_models"] = ["hashgrid"]
    config["models"] = {"hashgrid": config["models"]["tiny"]}
    # Enough points and levels to make the distances worth comparing to the ground truth.
    config["sample"].update(train_surface=20000, train_volume=20000)
    model = config["models"]["hashgrid"]
    model["encoding"].update(n_levels=6, finest_resolution=64, log2_hashmap_size=14)
    model["network"]["n_neurons"] = 32
    model["training"].update(epochs=8, batch_size=2048)
    write_config(work, config)
    proc = run_snakemake(work, "results/metrics/hashgrid/torus.json")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


@pytest.fixture(scope="module")
def torus_mesh(workdir) -> trimesh.Trimesh:
    return trimesh.load(workdir / "data" / "raw" / "torus.ply", force="mesh", process=False)


def original_points(mesh: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    """Near-surface and bounding-box points in the mesh's own frame."""
    rng = np.random.default_rng(seed)
    surface, _ = trimesh.sample.sample_surface(mesh, n // 2, seed=seed)
    near = surface + rng.normal(scale=0.02 * MM, size=surface.shape)
    lo, hi = mesh.bounds
    return np.concatenate([near, rng.uniform(lo, hi, (n - n // 2, 3))])


# -- without a checkpoint ---------------------------------------------------------------------


def test_pyproject_entry_point_resolves_to_main():
    pyproject = (REPO / "pyproject.toml").read_text()
    target = re.search(r'^\[project\.scripts\]\nneusdf = "([\w.:]+)"', pyproject, flags=re.M)
    module, _, attr = target.group(1).partition(":")
    main = getattr(__import__(module, fromlist=[attr]), attr)
    assert callable(main) and main.__module__ == "neusdf.cli"


def test_version_help_and_usage_errors():
    proc = neusdf_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"neusdf {neusdf.__version__}"
    for command in ("info", "query", "mesh", "check", "render"):
        proc = neusdf_cli(command, "--help")
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: neusdf {command}")
    for args in ([], ["frobnicate"], ["query", "m.pt", "p.npy"], ["mesh", "m.pt", "-o", "x.ply",
                 "--frame", "world"], ["check"], ["mesh", "m.pt", "-o", "x.ply", "--resolution",
                 "many"]):  # fmt: skip
        proc = neusdf_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("usage: neusdf"), args


def test_bad_checkpoints_fail_with_one_line(tmp_path):
    import json

    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    torch.save({"format": "neusdf-checkpoint", "obj": torch.nn.ReLU()}, tmp_path / "pickled.pt")
    header = json.dumps({"__metadata__": {"neusdf": json.dumps(
        {"format": "neusdf-checkpoint", "format_version": 99})}}).encode()  # fmt: skip
    (tmp_path / "newer.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert_one_line_error(neusdf_cli("info", "missing.safetensors", cwd=tmp_path), "not found")
    assert_one_line_error(
        neusdf_cli("info", "junk.safetensors", cwd=tmp_path), "junk.safetensors: not a neusdf"
    )
    assert_one_line_error(neusdf_cli("info", "pickled.pt", cwd=tmp_path), "pickled.pt: not a")
    assert_one_line_error(
        neusdf_cli("mesh", "newer.safetensors", "-o", "x.ply", cwd=tmp_path),
        "newer.safetensors: written by a newer neusdf (format 99 > 2); upgrade neusdf",
    )


def test_check_reports_what_the_pipeline_does_and_exits_1_on_failures(tmp_path):
    out = tmp_path / "check.csv"
    proc = neusdf_cli("check", "data/raw", "tests/bad_inputs", "--csv", str(out), cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    assert "10 of 19 accepted, 9 would fail" in proc.stdout
    table = {line.split()[0]: line for line in proc.stdout.splitlines() if "/" in line[:20]}
    assert "FAIL (normalize)" in table["tests/bad_inputs/empty.obj"]
    assert "file is empty" in table["tests/bad_inputs/empty.obj"]
    assert "FAIL (sample)" in table["tests/bad_inputs/flat_square.obj"]
    assert re.search(
        r" ok +no +1 +4 +0 +winding +\d+\.\d\d ", table["tests/bad_inputs/open_box.stl"]
    )
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 19
    assert {r["path"] for r in rows if r["accepted"] == "False"} == {
        f"tests/bad_inputs/{name}" for name in
        ("empty.obj", "random_bytes.obj", "point_cloud.ply", "nan_vertex.obj", "inf_vertex.off",
         "missing_vertex.off", "face_past_last_vertex.obj", "single_triangle.stl",
         "flat_square.obj")
    }  # fmt: skip
    proc = neusdf_cli("check", "data/raw/sphere.obj", "data/raw/torus.ply", cwd=REPO)
    assert proc.returncode == 0 and "2 of 2 accepted" in proc.stdout


# -- on the checkpoint of a real run ----------------------------------------------------------


@pytest.mark.slow
def test_api_on_the_workflow_checkpoint_matches_the_ground_truth(workdir, torus_mesh):
    sdf = neusdf.load(workdir / CHECKPOINT)
    info = sdf.info
    assert info["model_name"] == "hashgrid"
    assert info["metrics"]["object"] == "torus" and info["metrics"]["status"] == "ok"
    meta = json.loads((workdir / "results" / "normalized" / "torus.json").read_text())
    assert info["normalization"] == {"center": meta["center"], "scale": meta["scale"]}
    np.testing.assert_allclose(meta["center"], OFFSET, atol=1e-6 * MM)
    points = original_points(torus_mesh, 4000, seed=0)
    truth, _ = groundtruth.signed_distance(
        torus_mesh.vertices, torus_mesh.faces, points, engine="exact", threads=1
    )
    predicted = sdf(points)
    assert np.mean(np.sign(predicted) == np.sign(truth)) > 0.9
    # Distances in millimetres: a normalized-unit answer would be 1 / scale ≈ 240 times too small.
    assert np.median(np.abs(predicted - truth)) < 0.02 * MM
    assert np.corrcoef(predicted, truth)[0, 1] > 0.95


@pytest.mark.slow
def test_info_human_and_json(workdir):
    proc = neusdf_cli("info", CHECKPOINT, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"checkpoint     {CHECKPOINT} (")
    assert "model          hashgrid" in lines
    assert any(line.startswith("normalization  center (1000,") for line in lines)
    assert any(line.startswith("bounds         (") for line in lines)
    assert any(line.startswith("metrics        surface_f1=") for line in lines)
    proc = neusdf_cli("info", CHECKPOINT, "--json", cwd=workdir)
    info = json.loads(proc.stdout)
    metrics = json.loads((workdir / "results/metrics/hashgrid/torus.json").read_text())
    assert info["metrics"] == metrics
    assert info["n_parameters"] == metrics["n_parameters"]
    assert info["training"]["backend"] == "fast"


@pytest.mark.slow
def test_query_files_frames_and_normals(workdir, torus_mesh, tmp_path):
    sdf = neusdf.load(workdir / CHECKPOINT)
    points = original_points(torus_mesh, 500, seed=1)
    np.save(tmp_path / "p.npy", points)
    proc = neusdf_cli("query", CHECKPOINT, str(tmp_path / "p.npy"), "-o", str(tmp_path / "d.npy"),
                      cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), sdf(points), rtol=1e-6)
    # CSV in (with a header), CSV out, normalized frame, normals.
    normalized = (points - sdf.center) * sdf.scale
    np.savetxt(tmp_path / "p.csv", normalized, delimiter=",", header="x,y,z", comments="")
    proc = neusdf_cli("query", CHECKPOINT, str(tmp_path / "p.csv"), "-o", str(tmp_path / "d.csv"),
                      "--frame", "normalized", "--normals", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = np.loadtxt(tmp_path / "d.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "d.csv").read_text().splitlines()[0]
    assert header == "x,y,z,sdf,nx,ny,nz" and table.shape == (500, 7)
    np.testing.assert_allclose(table[:, 3], sdf(normalized, frame="normalized"), rtol=1e-6,
                               atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(table[:, 4:], sdf.gradient(points), atol=1e-6)
    # Whitespace-separated .txt in, (N, 4) .npy out with normals.
    np.savetxt(tmp_path / "p.txt", points[:10])
    proc = neusdf_cli("query", CHECKPOINT, str(tmp_path / "p.txt"), "-o", str(tmp_path / "n.npy"),
                      "--normals", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "n.npy").shape == (10, 4)


@pytest.mark.slow
def test_query_far_outside_the_cube_is_positive_and_close_to_the_exact_distance(
    workdir, torus_mesh, tmp_path
):
    """Points from the cube's edge to 100 object sizes away (original frame, millimetres): the
    answer is positive, and its error stays within the bound of docs/checkpoint.md — the true
    distance at the nearest point of the cube plus the model's own error there."""
    sdf = neusdf.load(workdir / CHECKPOINT)
    size = float(np.ptp(torus_mesh.vertices, axis=0).max())
    rng = np.random.default_rng(7)
    directions = rng.normal(size=(600, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    distances = np.exp(rng.uniform(np.log(0.6 * size), np.log(100 * size), (600, 1)))
    points = OFFSET + directions * distances
    lo, hi = sdf.bounds
    points = points[((points < lo) | (points > hi)).any(axis=1)]
    np.save(tmp_path / "far.npy", points)
    proc = neusdf_cli("query", CHECKPOINT, str(tmp_path / "far.npy"), "-o",
                      str(tmp_path / "far_d.npy"), cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = np.load(tmp_path / "far_d.npy")
    truth, _ = groundtruth.signed_distance(
        torus_mesh.vertices, torus_mesh.faces, points, engine="exact", threads=1
    )
    nearest = np.clip(points, lo, hi)
    truth_nearest, _ = groundtruth.signed_distance(
        torus_mesh.vertices, torus_mesh.faces, nearest, engine="exact", threads=1
    )
    model_error = np.abs(sdf(nearest) - truth_nearest)
    assert (answer > 0).all() and (truth > 0).all()
    assert (answer >= truth - model_error - 1e-3).all()
    assert (answer - truth <= truth_nearest + model_error + 1e-3).all()
    far = truth > 50 * size
    assert far.sum() > 50 and (np.abs(answer - truth) / truth)[far].max() < 0.01


@pytest.mark.slow
def test_query_errors_name_the_problem(workdir, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((5, 2)))
    assert_one_line_error(
        neusdf_cli("query", CHECKPOINT, str(tmp_path / "flat.npy"), "-o", "x.npy", cwd=workdir),
        "flat.npy: points must have shape (N, 3), got (5, 2)",
    )
    (tmp_path / "nan.csv").write_text("x,y,z\n0,0,0\nnan,0,0\n1,1,1\n0,inf,0\n")
    assert_one_line_error(
        neusdf_cli("query", CHECKPOINT, str(tmp_path / "nan.csv"), "-o", "x.npy", cwd=workdir),
        "2 row(s) with NaN or infinite values: 1, 3",
    )
    (tmp_path / "short.csv").write_text("0,0,0\n1,1\n")
    assert_one_line_error(
        neusdf_cli("query", CHECKPOINT, str(tmp_path / "short.csv"), "-o", "x.npy", cwd=workdir),
        "short.csv:2: expected 3 numbers (x,y,z), got 2",
    )
    assert_one_line_error(
        neusdf_cli("query", CHECKPOINT, str(tmp_path / "nan.csv"), "-o", "x.h5", cwd=workdir),
        "x.h5: output must be .npy or .csv",
    )
    assert_one_line_error(
        neusdf_cli("info", CHECKPOINT, "--backend", "tcnn", cwd=workdir),
        "hash-grid backend 'tcnn' cannot run on cpu",
    )
    assert not (workdir / "x.npy").exists()


@pytest.mark.slow
def test_mesh_files_in_both_frames(workdir, torus_mesh, tmp_path):
    for suffix in ("ply", "obj", "stl"):
        out = tmp_path / f"torus.{suffix}"
        proc = neusdf_cli("mesh", CHECKPOINT, "-o", str(out), "--resolution", "40", cwd=workdir)
        assert proc.returncode == 0, proc.stderr
        assert "neusdf: mesh: done, 64,000/64,000 points, 100%" in proc.stderr  # not a terminal
        mesh = trimesh.load(out, force="mesh")
        assert len(mesh.faces) > 500
        np.testing.assert_allclose(mesh.bounds, torus_mesh.bounds, atol=0.1 * MM)
    out = tmp_path / "normalized.ply"
    proc = neusdf_cli("mesh", CHECKPOINT, "-o", str(out), "--resolution", "40", "--frame",
                      "normalized", cwd=workdir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert np.abs(trimesh.load(out, force="mesh").vertices).max() < 1.0
    assert_one_line_error(
        neusdf_cli("mesh", CHECKPOINT, "-o", "x.glb", cwd=workdir), "output must be one of"
    )


def readme_section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## Using a trained SDF", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_readme_commands_run(workdir, torus_mesh):
    section = readme_section()
    np.save(workdir / "points.npy", original_points(torus_mesh, 20, seed=2))
    np.savetxt(workdir / "points.csv", original_points(torus_mesh, 20, seed=3), delimiter=",")
    commands = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("neusdf ")
    ]
    assert len(commands) >= 5
    for command in commands:
        args = shlex.split(command.split("  #")[0])[1:]
        if args[0] == "check":  # the README checks the repository's own folders
            proc = neusdf_cli(*args, cwd=REPO)
            assert proc.returncode == 1 and "would fail" in proc.stdout, command
            continue
        proc = neusdf_cli(*args, cwd=workdir)
        assert proc.returncode == 0, (command, proc.stderr)
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        proc = subprocess.run([sys.executable, "-c", block], cwd=workdir, capture_output=True,
                              text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
