"""neusdf.pipeline.check agrees with what the pipeline's stages do with the same files."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from neusdf.errors import MeshError
from neusdf.io import read_json
from neusdf.mesh.samples import read_attrs
from neusdf.pipeline.check import check_mesh, check_paths
from neusdf.pipeline.discovery import discover_objects
from neusdf.pipeline.normalize import normalize_object
from neusdf.pipeline.sample import sample_object
from neusdf.tools.badinputs import EXPECTED
from tests.helpers import REPO

BAD_DIR = REPO / "tests" / "bad_inputs"
TINY_SAMPLE = {
    "train_surface": 100,
    "train_volume": 100,
    "test_surface": 100,
    "test_volume": 100,
    "near_surface_std": 0.01,
    "engine": "pysdf",
    "sign": "auto",
    "threads": 1,
}
FACTS = ("n_vertices", "n_faces", "watertight", "n_bodies", "boundary_edges", "nonmanifold_edges")


def run_stages(source: Path, work: Path) -> dict:
    """What the pipeline's normalize and sample stages do with one file (real stage functions)."""
    mesh, meta, samples = work / "m.ply", work / "m.json", work / "m.h5"
    try:
        normalize_object(str(source), str(mesh), str(meta), half_extent=0.9)
    except MeshError as exc:
        return {"stage": "normalize", "error": str(exc)}
    record = read_json(meta)
    try:
        sample_object(str(mesh), str(meta), str(samples), TINY_SAMPLE, seed=0, threads=1)
    except MeshError as exc:
        return {"stage": "sample", "error": str(exc), "meta": record}
    return {"stage": "ok", "error": "", "meta": record, "sign": read_attrs(samples)["sign_method"]}


def assert_agrees_with_pipeline(source: Path, work: Path) -> None:
    work.mkdir()
    truth = run_stages(source, work)
    check = check_mesh(source)
    assert (check.stage, check.error) == (truth["stage"], truth["error"]), source.name
    assert check.accepted == (truth["stage"] == "ok")
    if "meta" in truth:
        assert {k: getattr(check, k) for k in FACTS} == {k: truth["meta"][k] for k in FACTS}
        assert check.scale == pytest.approx(truth["meta"]["scale"], rel=1e-12)
    if truth["stage"] == "ok":
        assert check.sign_method == truth["sign"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_matches_the_documented_outcome_and_the_stages(name, tmp_path):
    check = check_mesh(BAD_DIR / name)
    expected = EXPECTED[name]
    assert check.stage == expected.stage
    if expected.stage == "ok":
        assert check.accepted and check.error == ""
        assert expected.reason in " ".join(check.warnings)
    else:
        assert not check.accepted
        assert check.error == f"{BAD_DIR / name}: {check.reason}"
        assert expected.reason in check.reason
    assert_agrees_with_pipeline(BAD_DIR / name, tmp_path / "work")


def test_open_mesh_reports_winding_and_a_disagreement_percentage():
    check = check_mesh(BAD_DIR / "open_box.stl")
    assert check.watertight is False and check.boundary_edges == 4
    assert check.sign_method == "winding"
    # Parity means little on open meshes: only a range is stable across mesh versions.
    assert 0.0 <= check.sign_disagreement_percent < 10.0
    closed = check_mesh(REPO / "data" / "raw" / "sphere.obj")
    assert closed.sign_method == "winding" and np.isnan(closed.sign_disagreement_percent)
    assert max(closed.normalized_extent) == pytest.approx(1.8)
    assert closed.scale * max(closed.extent) == pytest.approx(1.8)


def test_folders_are_read_like_raw_dir_with_the_pipelines_names(tmp_path):
    records = check_paths([REPO / "data" / "raw"])
    assert [r.object for r in records] == sorted(p.stem for p in (REPO / "data" / "raw").iterdir())
    assert all(r.accepted for r in records)
    raw = tmp_path / "raw"
    (raw / "sub" / "models").mkdir(parents=True)
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "chair.obj")
    shutil.copy(REPO / "data" / "raw" / "capsule.stl", raw / "chair.stl")
    shutil.copy(REPO / "data" / "raw" / "torus.ply", raw / "sub" / "models" / "model.ply")
    (raw / "notes.txt").write_text("not a mesh")
    records = check_paths([raw])
    assert [(r.object, Path(r.path).relative_to(raw).as_posix()) for r in records] == [
        ("chair-obj", "chair.obj"),
        ("chair-stl", "chair.stl"),
        ("sub", "sub/models/model.ply"),
    ]
    # Names come from the whole folder: a pattern selects files, it never renames them.
    assert [r.object for r in check_paths([raw], exclude=["*.stl"])] == ["chair-obj", "sub"]
    missing = check_paths([tmp_path / "nope"])
    assert len(missing) == 1 and missing[0].stage == "discover" and not missing[0].accepted
    assert "not found" in missing[0].error


def test_a_manifest_is_read_like_the_objects_key(tmp_path):
    shutil.copy(REPO / "data" / "raw" / "torus.ply", tmp_path / "torus.ply")
    ball = REPO / "data" / "raw" / "sphere.obj"
    (tmp_path / "list.csv").write_text(f"name,path\nball,{ball}\n,torus.ply\n")
    records = check_paths([tmp_path / "list.csv"])
    assert [(r.object, r.accepted) for r in records] == [("ball", True), ("torus", True)]
    (tmp_path / "bad.csv").write_text("name,path\nx,missing.obj\n")
    (bad,) = check_paths([tmp_path / "bad.csv"])
    assert bad.stage == "discover" and "line 2" in bad.error and "file not found" in bad.error


def test_check_agrees_with_the_stages_and_the_manifest_on_shared_meshes(shared_meshes, tmp_path):
    with open(shared_meshes / "MANIFEST.csv", newline="") as handle:
        manifest = {row["file"]: row for row in csv.DictReader(handle)}
    records = {Path(r.path).name: r for r in check_paths([shared_meshes])}
    assert set(records) == set(manifest)
    # The pipeline's names and paths for the same folder.
    assert {r.object: r.path for r in records.values()} == discover_objects(shared_meshes)
    for name, row in manifest.items():
        check = records[name]
        assert check.accepted == (name != "trimesh__soup.stl"), name
        assert check.watertight == (row["watertight"] == "True"), name
        if check.n_faces == int(row["faces"]):  # cleaning dropped nothing: same edges
            assert check.boundary_edges == int(row["boundary_edges"]), name
            assert check.nonmanifold_edges == int(row["nonmanifold_edges"]), name
        # (MANIFEST counts bodies by shared vertices, the pipeline by shared edges: not compared.)
        assert_agrees_with_pipeline(shared_meshes / name, tmp_path / name)
    assert records["trimesh__soup.stl"].stage == "sample"
    assert "encloses no volume" in records["trimesh__soup.stl"].reason
    assert records["trimesh__bunny.ply"].sign_method == "winding"


def test_loader_tracebacks_go_to_the_log_not_the_table(tmp_path):
    """A PLY naming a texture image that is not there: trimesh logs a warning with a traceback;
    ``neusdf check`` keeps the table clean and says where the messages are."""
    import subprocess
    import sys

    from tests.helpers import ENV

    raw = tmp_path / "raw"
    raw.mkdir()
    corners = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    faces = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    header = ["ply", "format ascii 1.0", "comment TextureFile missing.png", "element vertex 8"]
    header += [f"property float {axis}" for axis in "xyzst"]
    header += ["element face 6", "property list uchar int vertex_indices", "end_header"]
    body = [f"{x} {y} {z} 0.5 0.5" for x, y, z in corners] + [
        f"4 {a} {b} {c} {d}" for a, b, c, d in faces
    ]
    (raw / "textured box.ply").write_text("\n".join(header + body) + "\n")
    log = tmp_path / "check.log"
    proc = subprocess.run(
        [sys.executable, "-m", "neusdf.cli", "check", str(raw), "--log", str(log)],
        capture_output=True, text=True, env=ENV, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert re.search(rf"\n\d+ message\(s\) of the mesh loaders .* in {log}\n", proc.stdout)
    assert "textured_box" in proc.stdout and "1 of 1 accepted" in proc.stdout
    assert "Traceback" in log.read_text() and "missing.png" in log.read_text()
