"""The bad-input suite: every defective file meets its documented outcome in a real run."""

from __future__ import annotations

import html
import shutil

import pandas as pd
import pytest

from neusdf.tools.badinputs import EXPECTED, write_bad_inputs
from tests.helpers import REPO, SHARED_MESHES, TINY_CONFIG, run_snakemake, write_config

pytestmark = pytest.mark.slow

BAD_DIR = REPO / "tests" / "bad_inputs"
SHARED_DEFECTIVE = {
    # file in ../shared/meshes → (stage, reason fragment); "ok" means fitted to the end.
    "trimesh__soup.stl": ("sample", "encloses no volume"),
    "trimesh__teapot.stl": ("ok", ""),
    "trimesh__multibody.stl": ("ok", ""),
}


def test_committed_suite_matches_its_generator(tmp_path):
    write_bad_inputs(tmp_path)
    for name in EXPECTED:
        assert (BAD_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_every_bad_input_meets_its_documented_outcome(tmp_path):
    # The committed suite always runs; the shared real meshes join it where they are present.
    raw = tmp_path / "data" / "raw"
    shutil.copytree(BAD_DIR, raw)
    shared = {}
    if (SHARED_MESHES / "MANIFEST.csv").is_file():
        shared = SHARED_DEFECTIVE
    for name in shared:
        shutil.copy(SHARED_MESHES / name, raw / name)
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "sphere.obj")
    write_config(tmp_path, TINY_CONFIG)

    proc = run_snakemake(tmp_path, "--keep-going")
    assert proc.returncode != 0  # some jobs fail, on purpose
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console

    summary = pd.read_csv(tmp_path / "results" / "summary.csv", keep_default_na=False)
    rows = {row.object: row for row in summary.itertuples()}
    expected = {name.rsplit(".", 1)[0]: (o.stage, o.reason) for name, o in EXPECTED.items()}
    expected |= {name.rsplit(".", 1)[0]: outcome for name, outcome in shared.items()}
    files = {path.name.rsplit(".", 1)[0]: path.name for path in raw.iterdir()}
    expected["sphere"] = ("ok", "")
    assert set(rows) == set(expected)
    for obj, (stage, reason) in expected.items():
        row = rows[obj]
        if stage == "ok":
            assert row.status == "ok", (obj, row.error)
            assert float(row.volume_f1) > 0.5, obj
            if reason:
                log = (tmp_path / "results" / "logs" / "normalize" / f"{obj}.log").read_text()
                assert reason in log, obj
        else:
            assert row.status == "failed", obj
            assert row.failed_stage == stage, (obj, row.failed_stage, row.error)
            assert reason in row.error, (obj, row.error)
            assert "\n" not in row.error
            # One line on the console naming the file (as discovered) and the reason.
            line = f"neusdf error: data/raw/{files[obj]}: "
            assert any(row.startswith(line) and reason in row for row in console.splitlines()), (
                obj,
                line,
            )
    # The gallery written after the failures lists each failed object with its stage.
    gallery = (tmp_path / "results" / "gallery.html").read_text()
    for obj, (stage, _) in expected.items():
        if stage != "ok":
            assert f"<td>{html.escape(obj)}</td><td>{stage}</td>" in gallery, obj
    # Nothing half-written: no temporary files anywhere under results/.
    assert not list((tmp_path / "results").rglob("*.tmp*"))


def test_two_files_with_the_same_stem_stop_the_run_naming_both(tmp_path):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "chair.obj")
    shutil.copy(REPO / "data" / "raw" / "capsule.stl", raw / "chair.stl")
    write_config(tmp_path, TINY_CONFIG)
    proc = run_snakemake(tmp_path, "--dry-run")
    assert proc.returncode != 0
    console = proc.stdout + proc.stderr
    assert "chair.obj" in console and "chair.stl" in console
