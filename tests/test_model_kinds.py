"""Every model kind on a tiny configuration: trains, lowers the loss, round-trips through its
checkpoint, evaluates through the pipeline stages; the schema requires each kind's own keys."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from neusdf.config import MODEL_SCHEMA as SCHEMA
from neusdf.io import read_json
from neusdf.nn.baselines import ExactGrid, lattice_points, trilinear
from neusdf.nn.checkpoint import read_checkpoint
from neusdf.nn.models import (
    MODEL_KINDS,
    build_model,
    model_from_checkpoint,
    predict_sdf,
    save_checkpoint,
)
from neusdf.nn.training import sdf_loss, train_sdf
from neusdf.pipeline.compute import Compute
from neusdf.pipeline.evaluate import evaluate_object
from neusdf.pipeline.extract import extract_object
from neusdf.pipeline.normalize import normalize_object
from neusdf.pipeline.sample import sample_object
from neusdf.pipeline.train import train_object
from tests.helpers import REPO, TINY_KINDS, sphere_sdf

MODEL_SCHEMA = str(SCHEMA)
TRAINABLE = [kind for kind in MODEL_KINDS if kind != "exact_grid"]


def sphere_training_set(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Half near the surface of a radius-0.6 sphere, half uniform; exact SDF."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n // 2, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    near = directions * (0.6 + rng.normal(0.0, 0.02, (n // 2, 1)))
    points = np.concatenate([near, rng.uniform(-1, 1, (n - n // 2, 3))]).astype(np.float32)
    return points, sphere_sdf(points, 0.6).astype(np.float32)


def test_every_kind_has_a_tiny_config():
    assert sorted(TINY_KINDS) == sorted(MODEL_KINDS)


@pytest.mark.parametrize("kind", TRAINABLE)
def test_kind_trains_lowers_loss_and_round_trips(kind, tmp_path):
    config = copy.deepcopy(TINY_KINDS[kind])
    config["training"]["epochs"] = 8
    model = build_model(config, backend="fast", seed=3)
    assert model.kind == kind and model.trainable
    points, sdf = sphere_training_set()
    result = train_sdf(model, points, sdf, config["training"], seed=0, progress=False)
    losses = [row["loss"] for row in result.history]
    assert result.steps == 8 * 6  # 6000 points at batch 1024
    assert losses[-1] < 0.7 * losses[0], losses

    path = tmp_path / f"{kind}.safetensors"
    save_checkpoint(path, model, kind, {"center": [0, 0, 0], "scale": 1.0}, {"seconds": 1.0})
    checkpoint = read_checkpoint(path)
    loaded = model_from_checkpoint(checkpoint, backend="fast")
    assert type(loaded) is type(model)
    assert checkpoint.kind == kind
    assert sum(p.numel() for p in loaded.parameters()) == checkpoint.n_parameters > 0
    test_points = np.random.default_rng(1).uniform(-1, 1, (3000, 3)).astype(np.float32)
    expected = predict_sdf(model, test_points, batch_size=1000)
    assert expected.shape == (3000,) and np.isfinite(expected).all()
    np.testing.assert_array_equal(predict_sdf(loaded, test_points, batch_size=700), expected)


def test_same_seed_same_model_for_every_kind():
    points = np.random.default_rng(0).uniform(-1, 1, (100, 3)).astype(np.float32)
    for kind, config in TINY_KINDS.items():
        a = predict_sdf(build_model(config, backend="fast", seed=5), points)
        b = predict_sdf(build_model(config, backend="fast", seed=5), points)
        np.testing.assert_array_equal(a, b, err_msg=kind)


def test_exact_grid_stores_exact_values_and_interpolates_trilinearly():
    model = ExactGrid({"kind": "exact_grid", "grid": {"resolution": 5}})

    # A trilinear function is reproduced exactly by trilinear interpolation.
    def affine(p):
        return 0.5 * p[:, 0] - 0.25 * p[:, 1] + 2.0 * p[:, 2] + 0.1

    model.fill(affine)
    nodes = lattice_points(5)
    assert nodes.shape == (125, 3)
    np.testing.assert_allclose(predict_sdf(model, nodes), affine(nodes), atol=1e-6)
    queries = np.random.default_rng(0).uniform(-1, 1, (500, 3)).astype(np.float32)
    np.testing.assert_allclose(predict_sdf(model, queries), affine(queries), atol=1e-5)
    assert model.make_optimizers({}) == []
    assert model.n_table_parameters() == 125


def test_trilinear_between_two_nodes_is_the_midpoint():
    values = torch.zeros(2, 2, 2)
    values[:, :, 1] = 1.0  # x = +1 face is 1, x = -1 face is 0
    out = trilinear(values, torch.tensor([[0.0, 0.3, -0.7], [0.5, 0.0, 0.0]]))
    np.testing.assert_allclose(out.numpy(), [0.5, 0.75], atol=1e-6)


def test_clamped_l1_ignores_errors_beyond_delta():
    pred = torch.tensor([0.5, -0.3, 0.05])
    target = torch.tensor([0.2, -0.9, 0.0])
    # clamped: 0.1 vs 0.1, -0.1 vs -0.1, 0.05 vs 0
    assert float(sdf_loss(pred, target, "clamped_l1", 0.01, clamp_delta=0.1)) == pytest.approx(
        0.05 / 3
    )


def test_float16_table_loads_back_as_float32(tmp_path):
    config = copy.deepcopy(TINY_KINDS["hashgrid"])
    config["encoding"] = {**config["encoding"], "storage": "float16"}
    model = build_model(config, backend="fast", seed=0)
    with torch.no_grad():
        model.encoding.params.uniform_(-0.1, 0.1)
    half = tmp_path / "half.safetensors"
    save_checkpoint(half, model, "m", {"center": [0, 0, 0], "scale": 1.0}, {})
    loaded = model_from_checkpoint(read_checkpoint(half), backend="fast")
    assert loaded.encoding.params.dtype == torch.float32
    torch.testing.assert_close(
        loaded.encoding.params, model.encoding.params.half().float(), rtol=0, atol=0
    )


def test_configuration_without_kind_is_a_hash_grid(tmp_path):
    config = copy.deepcopy(TINY_KINDS["hashgrid"])
    del config["kind"]
    model = build_model(config, backend="reference", seed=0)
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, model, "old", {"center": [0, 0, 0], "scale": 1.0}, {})
    checkpoint = read_checkpoint(path)
    assert "kind" not in checkpoint.model_config and checkpoint.kind == "hashgrid"
    assert model_from_checkpoint(checkpoint, backend="fast").kind == "hashgrid"


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_schema_accepts_each_tiny_kind_and_fills_defaults(kind):
    config = copy.deepcopy(TINY_KINDS[kind])
    validate(config, MODEL_SCHEMA)
    if "training" in config:
        assert config["training"]["lr_schedule"] == "cosine"
    if kind == "deepsdf":
        assert config["network"]["n_layers"] == 4  # given, not the default 8


def test_schema_defaults_kind_to_hashgrid_and_rejects_foreign_keys():
    config = copy.deepcopy(TINY_KINDS["hashgrid"])
    del config["kind"]
    validate(config, MODEL_SCHEMA)
    assert config["kind"] == "hashgrid"
    assert config["encoding"]["storage"] == "float32"
    bad = [
        {**TINY_KINDS["mlp"], "grid": {"resolution": 8}},  # a grid key on an MLP
        {"kind": "densegrid", "training": TINY_KINDS["densegrid"]["training"]},  # no grid
        {**TINY_KINDS["exact_grid"], "training": TINY_KINDS["mlp"]["training"]},
        {**TINY_KINDS["hashgrid"], "network": {"n_neurons": 32, "n_layers": 4}},
        {"kind": "siren", "network": {}},
    ]
    for config in bad:
        with pytest.raises(WorkflowError):
            validate(copy.deepcopy(config), MODEL_SCHEMA)


def test_config_yaml_models_all_validate():
    models = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    assert {"hashgrid", "hashgrid_tiny", "hashgrid_tcnn", "reference_recipe", "mlp"} <= set(models)
    kinds = set()
    for config in models.values():
        validate(config, MODEL_SCHEMA)
        kinds.add(config["kind"])
    assert kinds == set(MODEL_KINDS)


@pytest.fixture(scope="module")
def sphere_object(tmp_path_factory) -> dict[str, str]:
    """The default sphere mesh normalized and sampled (small point counts)."""
    folder = tmp_path_factory.mktemp("sphere")
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", folder / "sphere.obj")
    paths = {
        "mesh": str(folder / "sphere.ply"),
        "meta": str(folder / "sphere.json"),
        "samples": str(folder / "sphere.h5"),
    }
    normalize_object(str(folder / "sphere.obj"), paths["mesh"], paths["meta"], half_extent=0.9)
    sample_cfg = {
        "train_surface": 3000,
        "train_volume": 3000,
        "test_surface": 3000,
        "test_volume": 3000,
        "near_surface_std": 0.01,
        "engine": "exact",
        "sign": "auto",
    }
    sample_object(paths["mesh"], paths["meta"], paths["samples"], sample_cfg, seed=0, threads=1)
    return {**paths, "sample_cfg": sample_cfg}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_kind_through_train_and_evaluate_stages(kind, sphere_object, tmp_path):
    config = copy.deepcopy(TINY_KINDS[kind])
    checkpoint = tmp_path / "m.safetensors"
    cpu = Compute("auto", "cpu", 1)
    record = train_object(
        sphere_object["samples"], sphere_object["meta"], str(checkpoint),
        str(tmp_path / "m.history.csv"), kind, config, cpu, seed=0,
        progress=False, mesh_path=sphere_object["mesh"], sample_cfg=sphere_object["sample_cfg"],
    )  # fmt: skip
    assert record["kind"] == kind
    assert record["seconds"] > 0
    mesh = tmp_path / "m.ply"
    extract_object(str(checkpoint), str(mesh), {"resolution": 24, "original_frame": False,
                   "batch_size": 4096}, cpu)  # fmt: skip
    metrics = evaluate_object(
        str(checkpoint), sphere_object["samples"], str(mesh), str(mesh.with_suffix(".json")),
        sphere_object["mesh"], str(tmp_path / "m.json"), "sphere", kind,
        {"batch_size": 4096, "timing_points": 1000, "timing_repeats": 1, "timing_warmup": 0,
         "normal_points": 500},
        {"n_samples": 500}, cpu, seed=0,
    )  # fmt: skip
    assert read_json(tmp_path / "m.json")["surface_f1"] == metrics["surface_f1"]
    assert metrics["kind"] == kind
    assert metrics["checkpoint_bytes"] == checkpoint.stat().st_size
    assert (
        metrics["n_parameters"]
        == metrics["n_encoding_parameters"] + metrics["n_network_parameters"]
    )
    assert 0.0 <= metrics["surface_f1"] <= 1.0
    if kind == "exact_grid":
        # 16^3 exact lattice of a sphere of radius 0.9: the sign is right almost everywhere.
        assert metrics["n_parameters"] == 16**3
        assert metrics["volume_f1"] > 0.97
        assert Path(tmp_path / "m.history.csv").read_text().strip() == (
            "epoch,points,loss,seconds,points_per_second"
        )


@pytest.mark.parametrize(("name", "limit"), [("hashgrid", 1_000_000), ("hashgrid_tiny", 100_000)])
def test_config_default_and_tiny_checkpoints_fit_their_byte_budgets(tmp_path, name, limit):
    """The default model stays <= 10^6 bytes on disk, the tiny one <= 10^5; the exact lattices
    they are compared with are within 10 % of their bytes."""
    from neusdf.config import workflow_config

    models = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))["models"]

    def size(model_name):
        model = build_model(models[model_name], backend="fast", seed=0)
        return save_checkpoint(tmp_path / f"{model_name}.safetensors", model, model_name,
                               {"center": [0, 0, 0], "scale": 1.0}, {"seconds": 1.0})  # fmt: skip

    lattice = {"hashgrid": "exact_grid_small", "hashgrid_tiny": "exact_grid_tiny"}[name]
    assert size(name) <= limit
    assert 0.9 * size(name) < size(lattice) <= size(name)  # the lattice of the same bytes
