"""What several test modules share: paths, tiny configurations, a Snakemake runner, a saved
tiny model of each kind. Fixtures live in conftest.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neusdf.config import model_config

REPO = Path(__file__).resolve().parent.parent
SHARED_MESHES = Path(os.environ.get("NEUSDF_SHARED_MESHES", REPO.parent / "shared" / "meshes"))
# Subprocesses see this checkout's package first.
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"))

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
# Every tiny configuration: one per kind, and a hash grid on a prior lattice of exact distances.
TINY_CONFIGS = {
    **TINY_KINDS,
    "hashgrid_prior": model_config(
        {**TINY_MODEL, "prior": {"resolution": 9, "storage": "float16"}}
    ),
}


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


def run_snakemake(
    workdir: Path, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Snakemake on ``workdir`` with 2 cores and the GPU resource (``env``: the environment)."""
    # Targets and flags first: a trailing target would be swallowed by --resources.
    cmd = [*snakemake_command(workdir, *args), "--cores", "2", "--resources", "gpu=1"]
    env = dict(env or os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def planned_jobs(workdir: Path, *args: str, env: dict | None = None) -> dict[str, int]:
    """Rule name → job count that a dry run with ``args`` would execute (empty when nothing to
    do)."""
    proc = run_snakemake(workdir, "--dry-run", *args, env=env)
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


NORMALIZATION = {"center": [0.5, 0.0, -1.0], "scale": 2.0}
TRAINING = {"seconds": 1.0, "points_per_second": 1.0, "final_loss": 0.1, "backend": "fast",
            "device": "cpu", "seed": 3}  # fmt: skip


def saved(tmp_path, kind: str, storage: str = "float32"):
    """A tiny model (a name of :data:`TINY_CONFIGS`) with random weights, saved; returns
    (path, model)."""
    import torch

    from neusdf.nn.models import build_model, save_checkpoint

    config = {**TINY_CONFIGS[kind]}
    if kind.startswith("hashgrid"):
        config["encoding"] = {**config["encoding"], "storage": storage}
    model = build_model(config, backend="fast", seed=3)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.3, 0.3)  # not the initial values: every weight matters
    path = tmp_path / f"{kind}-{storage}.safetensors"
    save_checkpoint(path, model, "m", NORMALIZATION, {**TRAINING, "kind": kind})
    return path, model


def bench_module(name: str):
    """``bench/<name>.py`` imported by path, as ``python bench/<name>.py`` would see it (its
    folder on ``sys.path``, for the benches' shared ``options``); its ``main`` is not run."""
    import importlib.util

    folder = str(REPO / "bench")
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Public collections as downloaded (path under raw_dir → the object name the naming rule gives),
# two files each (one more in the mixed folder), built from the small meshes of data/raw.
COLLECTION_LAYOUTS = {
    "shapenet": {
        "02691156/1a04e3eab45ca15dd86060f189eb133/models/model_normalized.obj": (
            "02691156-1a04e3eab45ca15dd86060f189eb133"
        ),
        "03001627/1a6f615e8b1b5ae4dbbc9440457e303e/models/model_normalized.obj": (
            "03001627-1a6f615e8b1b5ae4dbbc9440457e303e"
        ),
    },
    "modelnet40": {
        "airplane/train/airplane_0001.off": "airplane-train-airplane_0001",
        "airplane/test/airplane_0627.off": "airplane-test-airplane_0627",
    },
    "google_scanned_objects": {
        "Android_Figure_Panda/meshes/model.obj": "Android_Figure_Panda",
        "Crayola_Crayons_24_count/meshes/model.obj": "Crayola_Crayons_24_count",
    },
    "objaverse": {
        "glbs/000-023/8476c4170df24cf5bbe6967222d1a42d.glb": (
            "000-023-8476c4170df24cf5bbe6967222d1a42d"
        ),
        "glbs/000-142/f1b9c8ab2a974b3e8e9d4a5c37e0e3a1.glb": (
            "000-142-f1b9c8ab2a974b3e8e9d4a5c37e0e3a1"
        ),
    },
    "thingi10k": {
        "raw_meshes/100026.stl": "100026",
        "raw_meshes/1000.stl": "1000",
    },
    "mixed": {
        "box.obj": "box-obj",
        "box.STL": "box-stl",
        "fuze.obj": "fuze-obj",
        "fuze.ply": "fuze-ply",
        "torus.ply": "torus",
    },
}
# The mesh of data/raw each layout's files are made from, by extension.
LAYOUT_SOURCES = {
    ".obj": "sphere.obj",
    ".off": "holed_box.off",
    ".glb": "thin_plate.glb",
    ".stl": "capsule.stl",
    ".ply": "torus.ply",
}


def build_layout(raw: Path, layout: str) -> dict[str, str]:
    """Symlinks in ``raw`` laid out as :data:`COLLECTION_LAYOUTS` ``[layout]``; returns it."""
    for relative in COLLECTION_LAYOUTS[layout]:
        path = raw / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        source = LAYOUT_SOURCES[Path(relative).suffix.lower()]
        path.symlink_to(REPO / "data" / "raw" / source)
    return COLLECTION_LAYOUTS[layout]


# The jobs that run again after any object's metrics, slice figure or picture changed.
SUMMARY_JOBS = {
    "aggregate": 1,
    "plot_summary": 1,
    "plot_collection": 1,
    "compare_models": 1,
    "gallery": 1,
}
