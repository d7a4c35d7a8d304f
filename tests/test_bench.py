"""The bench commands the README shows, run as dry runs (real subprocesses, no training)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_training_curve_lists_its_recipes(tmp_path):
    # The README's options parse (--list stops before sampling or training).
    plot = tmp_path / "curve.png"
    out = _run(
        "bench/training_curve.py", "--list", "--meshes", "../shared/meshes", "--plot", str(plot)
    )
    assert not plot.exists()
    names = [line.split(":")[0] for line in out.splitlines()]
    assert names[:2] == ["today", "reference_recipe"]
    assert "today: (the default before issue 9)" in out.splitlines()


def test_hashgrid_bench_takes_the_train_batch_option():
    out = _run("bench/hashgrid.py", "--help")
    assert "--train-batch" in out and "fast-before" in out


def test_config_default_is_the_recipe_the_readme_table_chose():
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("curve", REPO / "bench" / "training_curve.py")
    curve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curve)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    chosen = dict(curve.RECIPES[curve.CONFIG_DEFAULT])
    assert config["sample"]["train_surface"] == chosen.pop("train_surface")
    training = config["models"]["hashgrid"]["training"]
    assert {key: training[key] for key in chosen} == chosen
    assert f"| {curve.CONFIG_DEFAULT} |" in (REPO / "README.md").read_text()
