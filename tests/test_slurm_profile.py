"""profiles/slurm, checked without a cluster: a dry run through the SLURM executor plugin.

Counts the cluster submissions the plan makes: one per object with the `object` group, one per
job without it. (The live run is tests/cluster/test_slurm.py, `make test-cluster`.)
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, TINY_CONFIG, make_workdir, snakemake_command

PER_OBJECT_RULES = (
    "normalize", "sample", "train", "extract", "plot_slices", "evaluate", "render",
)  # fmt: skip
# The Snakefile's `localrules:` (run on the submitting machine, never submitted).
LOCAL_RULES = set(
    re.search(r"^localrules:\n((?:    \w+,\n)+)", (REPO / "Snakefile").read_text(), re.M)
    .group(1)
    .replace(",", " ")
    .split()
)
pytest.importorskip("snakemake_executor_plugin_slurm")


@pytest.fixture
def workdir(tmp_path) -> Path:
    return make_workdir(tmp_path, TINY_CONFIG)


def slurm_dry_run(workdir: Path, *args: str) -> str:
    profile = ["--workflow-profile", str(REPO / "profiles" / "slurm")]
    cmd = snakemake_command(workdir, "--dry-run", *args, *profile)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    return text


def planned_submissions(dry_run_output: str) -> int:
    """Cluster jobs a run would submit: each group job, and each ungrouped non-local job."""
    groups = len(re.findall(r"^\[[^\]]+\] Group job ", dry_run_output, flags=re.M))
    singles = [
        name
        for name in re.findall(r"^(?:localrule|rule) (\w+):$", dry_run_output, flags=re.M)
        if name not in LOCAL_RULES
    ]
    return groups + len(singles)


def test_slurm_profile_dry_run_groups_one_submission_per_object(workdir):
    text = slurm_dry_run(workdir)
    assert "Using workflow specific profile" in text and "profiles/slurm" in text
    assert planned_submissions(text) == 2  # sphere, torus: one group job each
    # Memory follows the profile (train: 1536 MB at attempt 1); on a CPU-only plan no job asks
    # for a GPU, with `compute.device: cuda` the GPU rules do (the group asks for one).
    assert re.search(r"mem_mb=1536\b", text) and not re.search(r"\bgpu=[1-9]", text)
    on_gpus = slurm_dry_run(workdir, "--config", "compute={device: cuda}")
    assert re.search(r"mem_mb=1536\b.*\bgpu=1\b", on_gpus)


def test_slurm_profile_without_grouping_submits_every_job(workdir):
    # Every per-object rule in a group of its own = no grouping: one submission per job.
    ungrouped = [f"{rule}={rule}" for rule in PER_OBJECT_RULES]
    text = slurm_dry_run(workdir, "--groups", *ungrouped)
    assert planned_submissions(text) == 2 * len(PER_OBJECT_RULES)


def test_group_components_pack_several_objects(workdir):
    text = slurm_dry_run(workdir, "--group-components", "object=2")
    assert planned_submissions(text) == 1
