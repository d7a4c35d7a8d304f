"""neusdf.pipeline.check agrees with what the pipeline's stages do with the same files."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from neusdf.errors import MeshError
from neusdf.io import read_json
from neusdf.mesh.samples import read_attrs
from neusdf.pipeline.check import check_mesh, check_paths
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


def test_folders_are_read_like_raw_dir_including_the_duplicate_stem_error(tmp_path):
    records = check_paths([REPO / "data" / "raw"])
    assert [r.object for r in records] == sorted(p.stem for p in (REPO / "data" / "raw").iterdir())
    assert all(r.accepted for r in records)
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "chair.obj")
    shutil.copy(REPO / "data" / "raw" / "capsule.stl", raw / "chair.stl")
    (raw / "notes.txt").write_text("not a mesh")
    records = check_paths([raw])
    assert records[0].stage == "discover" and not records[0].accepted
    assert "chair.obj" in records[0].error and "chair.stl" in records[0].error
    assert [Path(r.path).name for r in records[1:]] == ["chair.obj", "chair.stl"]


def test_check_agrees_with_the_stages_and_the_manifest_on_shared_meshes(shared_meshes, tmp_path):
    with open(shared_meshes / "MANIFEST.csv", newline="") as handle:
        manifest = {row["file"]: row for row in csv.DictReader(handle)}
    records = {Path(r.path).name: r for r in check_paths([shared_meshes])}
    assert set(records) == set(manifest)
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
