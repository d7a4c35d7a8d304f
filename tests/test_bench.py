"""The bench scripts' command lines and the recipe table that chose the default."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.helpers import REPO, bench_module


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_training_curve_lists_its_recipes(tmp_path):
    # --list stops before sampling or training, whatever else is given.
    plot = tmp_path / "curve.png"
    out = _run(
        "bench/training_curve.py", "--list", "--meshes", "../shared/meshes", "--plot", str(plot)
    )
    assert not plot.exists()
    names = [line.split(":")[0] for line in out.splitlines()]
    assert names[:2] == ["e20-250k", "reference_recipe"]
    assert "e20-250k: (the base: 20 epochs, 250k + 250k)" in out.splitlines()
    assert "e6-s90: epochs=6, surface_fraction=0.9" in out.splitlines()


def test_hashgrid_bench_takes_the_train_batch_option():
    out = _run("bench/hashgrid.py", "--help")
    assert "--train-batch" in out and "fast-spinning" in out


def test_config_default_is_the_recipe_the_performance_table_chose():
    curve = bench_module("training_curve")
    from neusdf.config import workflow_config

    config = workflow_config(yaml.safe_load((REPO / "config.yaml").read_text()))
    chosen = dict(curve.RECIPES[curve.CONFIG_DEFAULT])
    assert config["sample"]["train_surface"] == chosen.pop("train_surface")
    training = config["models"][curve.MODEL]["training"]
    assert {key: training[key] for key in chosen} == chosen
    table = (REPO / "docs" / "performance.md").read_text()
    settings = curve.describe(curve.RECIPES[curve.CONFIG_DEFAULT])
    assert f"| {curve.CONFIG_DEFAULT} | {settings} |" in table
