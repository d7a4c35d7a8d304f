"""Shared fixtures: the real meshes in ../shared/meshes (skipped when absent) and tiny configs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from neusdf.config import model_config

REPO = Path(__file__).resolve().parent.parent
SHARED_MESHES = Path(os.environ.get("NEUSDF_SHARED_MESHES", REPO.parent / "shared" / "meshes"))

# A model small enough to train in a second on one CPU core; every key not given here takes its
# default from the schema, so tests train the pipeline's recipe.
TINY_MODEL = model_config(
    {
        "encoding": {
            "n_levels": 4,
            "n_features_per_level": 2,
            "log2_hashmap_size": 12,
            "base_resolution": 4,
            "finest_resolution": 32,
        },
        "network": {"n_neurons": 16, "n_hidden_layers": 1, "activation": "ReLU"},
        "training": {
            "epochs": 4,
            "batch_size": 1024,
            "loss": "mape",
        },
    }
)


def bench_module(name: str):
    """``bench/<name>.py`` imported by path, as ``python bench/<name>.py`` would see it (its
    folder on ``sys.path``, for the benches' shared ``options``); its ``main`` is not run."""
    import importlib.util
    import sys

    folder = str(REPO / "bench")
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shared_meshes() -> Path:
    """The folder of real public test meshes; skips the test when it is not there."""
    if not (SHARED_MESHES / "MANIFEST.csv").is_file():
        pytest.skip(f"real test meshes not found at {SHARED_MESHES}")
    return SHARED_MESHES


@pytest.fixture
def sphere_mesh() -> trimesh.Trimesh:
    """A closed icosphere of radius 0.8 centered at the origin."""
    return trimesh.creation.icosphere(subdivisions=3, radius=0.8)


@pytest.fixture
def tiny_model_config() -> dict:
    import copy

    return copy.deepcopy(TINY_MODEL)


def sphere_sdf(points: np.ndarray, radius: float) -> np.ndarray:
    """Closed-form SDF of a sphere at the origin (negative inside)."""
    return np.linalg.norm(points, axis=1) - radius


# One tiny configuration per model kind (tests/test_model_kinds.py, the comparison workflow test).
_TINY_TRAINING = {
    "epochs": 3,
    "batch_size": 1024,
    "loss": "mape",
    "mape_eps": 0.01,
    "lr_encoding": 0.01,
    "lr_network": 0.01,
    "betas": [0.9, 0.99],
    "eps": 1e-15,
}
_TINY_KINDS = {
    "hashgrid": {"kind": "hashgrid", **{k: v for k, v in TINY_MODEL.items()}},
    "mlp": {
        "kind": "mlp",
        "network": {"n_neurons": 32, "n_hidden_layers": 2},
        "training": dict(_TINY_TRAINING),
    },
    "deepsdf": {
        "kind": "deepsdf",
        "network": {"n_neurons": 32, "n_layers": 4, "skip_layer": 2, "output_tanh": True},
        "training": {**_TINY_TRAINING, "loss": "clamped_l1", "clamp_delta": 0.1},
    },
    "densegrid": {
        "kind": "densegrid",
        "grid": {"resolution": 16},
        "training": dict(_TINY_TRAINING),
    },
    "exact_grid": {"kind": "exact_grid", "grid": {"resolution": 16}},
}
# Every key a kind does not give takes its schema default, as in the pipeline.
TINY_KINDS = {kind: model_config(config) for kind, config in _TINY_KINDS.items()}
