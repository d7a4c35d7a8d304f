"""The pipeline stages as plain functions (no Snakemake): each one's outputs, end to end on a
small mesh, and the failure records the summary reads."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import trimesh

from neusdf.config import CONFIG_SCHEMA, fill_defaults, load_schema
from neusdf.errors import MeshError
from neusdf.evaluation.record import METRIC_NAMES
from neusdf.evaluation.summary import failure_rows
from neusdf.io import read_json
from neusdf.nn.checkpoint import read_checkpoint
from neusdf.pipeline.compute import Compute
from neusdf.pipeline.evaluate import evaluate_object
from neusdf.pipeline.extract import extract_object
from neusdf.pipeline.jobs import job
from neusdf.pipeline.normalize import normalize_object
from neusdf.pipeline.plot import plot_object
from neusdf.pipeline.sample import sample_object
from neusdf.pipeline.train import train_object
from tests.helpers import TINY_MODEL

CPU = Compute(backend="fast", device="cpu", threads=1)


@pytest.fixture(scope="module")
def config():
    small = {
        "run_models": ["tiny"],
        "models": {"tiny": TINY_MODEL},
        "sample": {"train_surface": 3000, "train_volume": 3000},
        "evaluate": {"timing_points": 1000, "timing_repeats": 2},
        "extract": {"resolution": 32},
        "geometry": {"n_samples": 1000},
        "plot": {"resolution": 24},
    }
    config = fill_defaults(small, load_schema(CONFIG_SCHEMA))
    config["sample"].update(test_surface=2000, test_volume=2000)
    return config


@pytest.fixture(scope="module")
def built(tmp_path_factory, config):
    """Every stage run once on an off-center, scaled sphere."""
    root = tmp_path_factory.mktemp("stages")
    source = root / "ball.stl"
    ball = trimesh.creation.icosphere(subdivisions=3, radius=2.0)
    ball.apply_translation([5.0, -1.0, 0.5])
    ball.export(source)
    names = ("n.ply", "n.json", "s.h5", "m.safetensors", "h.csv", "x.ply")
    p = {name: root / name for name in names}
    p |= {"metrics": root / "metrics.json", "png": root / "slices.png"}
    normalize_object(str(source), str(p["n.ply"]), str(p["n.json"]), half_extent=0.9)
    sample_object(str(p["n.ply"]), str(p["n.json"]), str(p["s.h5"]), config["sample"], 0, 1)
    train_object(
        str(p["s.h5"]), str(p["n.json"]), str(p["m.safetensors"]), str(p["h.csv"]), "tiny",
        config["models"]["tiny"], CPU, seed=0, progress=False,
    )  # fmt: skip
    extract_object(str(p["m.safetensors"]), str(p["x.ply"]), config["extract"], CPU)
    evaluate_object(
        str(p["m.safetensors"]), str(p["s.h5"]), str(p["x.ply"]),
        str(p["x.ply"].with_suffix(".json")),
        str(p["n.ply"]), str(p["metrics"]), "ball", "tiny", config["evaluate"],
        config["geometry"], CPU, seed=0,
    )  # fmt: skip
    plot_object(
        str(p["m.safetensors"]), str(p["n.ply"]), str(p["n.json"]), str(p["png"]), "tiny / ball",
        config["plot"], config["sample"], CPU,
    )  # fmt: skip
    return p


def test_normalize_records_the_transform(built):
    record = read_json(built["n.json"])
    np.testing.assert_allclose(record["center"], [5.0, -1.0, 0.5], atol=1e-6)
    assert record["scale"] == pytest.approx(0.9 / 2.0, rel=1e-3)
    assert record["watertight"] is True


def test_sample_writes_every_set_with_its_attributes(built, config):
    with h5py.File(built["s.h5"]) as f:
        assert f["train/points"].shape == (6000, 3)
        assert f["test/surface/sdf"].shape == (2000,)
        assert f.attrs["sign_method"] == "winding"
        # A sphere of radius 0.9 after normalization: the ground truth is its closed form
        # up to faceting.
        points, sdf = f["test/volume/points"][:], f["test/volume/sdf"][:]
    assert np.abs(np.linalg.norm(points, axis=1) - 0.9 - sdf).max() < 0.01


def test_train_writes_a_checkpoint_with_the_transform(built):
    meta = read_checkpoint(built["m.safetensors"]).meta
    np.testing.assert_allclose(meta["normalization"]["center"], [5.0, -1.0, 0.5], atol=1e-6)
    assert meta["training"]["backend"] == "fast"
    header = built["h.csv"].read_text().splitlines()[0]
    assert header == "epoch,points,loss,seconds,points_per_second"


def test_extract_and_evaluate_write_their_records(built):
    info = read_json(built["x.ply"].with_suffix(".json"))
    assert info["frame"] == "normalized" and info["faces"] > 0
    metrics = read_json(built["metrics"])
    assert tuple(metrics) == METRIC_NAMES
    assert metrics["status"] == "ok" and metrics["volume_f1"] > 0.9
    assert metrics["chamfer_l1"] < 0.05
    assert built["png"].stat().st_size > 10_000


def test_a_failing_stage_writes_a_failure_record_the_summary_lists(tmp_path):
    log, failure = tmp_path / "job.log", tmp_path / "failure.json"
    with pytest.raises(SystemExit), job(str(log), str(failure), stage="normalize", object="x"):
        raise MeshError("data/raw/x.obj", "file is empty")
    record = json.loads(failure.read_text())
    assert record == {
        "stage": "normalize",
        "object": "x",
        "status": "failed",
        "error": "data/raw/x.obj: file is empty",
    }
    # Before training a failure has no model: it fails the object for every model.
    rows = failure_rows([failure], models=["a", "b"])
    assert [(r["model"], r["object"], r["failed_stage"]) for r in rows] == [
        ("a", "x", "normalize"),
        ("b", "x", "normalize"),
    ]
    # Success removes a stale record.
    with job(str(log), str(failure), stage="normalize", object="x"):
        pass
    assert not failure.exists()
