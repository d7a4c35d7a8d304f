"""Fixtures shared by the test modules (shared constants and helpers: tests/helpers.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import trimesh

from tests.helpers import SHARED_MESHES, TINY_MODEL


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
    return copy.deepcopy(TINY_MODEL)
