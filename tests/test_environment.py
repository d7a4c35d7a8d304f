"""The two dependency lists (pip requirements, conda environment) agree on every package."""

from __future__ import annotations

import re

import yaml

from tests.helpers import REPO

# pip name -> conda-forge name where they differ
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}
# in requirements but deliberately not in the conda environment
PIP_ONLY = {"snakemake"}  # the conda route runs inside an existing Snakemake


def _spec(line: str) -> tuple[str, str]:
    name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_conda_environment_pins_what_requirements_pin():
    requirements = dict(
        _spec(line)
        for line in (REPO / "requirements" / "base.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    )
    env = yaml.safe_load((REPO / "envs" / "neusdf.yaml").read_text())
    conda = {}
    for entry in env["dependencies"]:
        if isinstance(entry, str):
            name, spec = _spec(entry)
            conda[name] = spec.split("=cpu")[0]  # the build string is conda-only
    for name, spec in requirements.items():
        if name in PIP_ONLY:
            continue
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, f"{name} is missing from envs/neusdf.yaml"
        assert conda[conda_name] == spec, (
            f"{name}: requirements {spec!r}, conda {conda[conda_name]!r}"
        )
