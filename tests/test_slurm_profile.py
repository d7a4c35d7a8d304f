"""profiles/slurm, checked without a cluster: a dry run through the SLURM executor plugin.

Counts the cluster submissions the plan makes: one per object with the `object` group, one per
job without it, and reads what a group job asks of SLURM: a real run through the plugin whose
`sbatch` is a stand-in that writes down its arguments and refuses the job. (The live run is
tests/cluster/test_slurm.py, `make test-cluster`.)
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

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


def sbatch_calls(workdir: Path, tmp_path: Path, *args: str) -> list[list[str]]:
    """The argument lists `sbatch` receives when the workflow runs through profiles/slurm."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    calls = tmp_path / "sbatch-calls"
    calls.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$SBATCH_CALLS/$$"\necho "sbatch: refused" >&2\nexit 1\n'
    )
    sbatch.chmod(0o755)
    # The other SLURM commands the plugin asks answer the same on every machine: `sinfo` names
    # a default partition (the plugin stops without one), the others fail at once.
    stand_ins = {"sinfo": 'printf "PARTITION\\ntest*\\n"'}
    for name in ("sinfo", "squeue", "sacct", "scontrol", "sacctmgr", "scancel"):
        body = stand_ins.get(name, f'echo "{name}: no cluster here" >&2; exit 1')
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SBATCH_CALLS=str(calls))
    profile = ["--workflow-profile", str(REPO / "profiles" / "slurm")]
    cmd = snakemake_command(
        workdir,
        *args,
        *profile,
        "--slurm-no-account",
        "--retries",
        "0",
        "--slurm-init-seconds-before-status-checks",
        "1",
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0, "a run whose every submission was refused reported success"
    return [path.read_text().splitlines() for path in sorted(calls.iterdir())]


def option(call: list[str], name: str) -> str:
    """The value of ``name`` in one sbatch argument list (``--name=value`` or ``--name value``)."""
    for i, arg in enumerate(call):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name:
            return call[i + 1]
    raise AssertionError(f"{name} not in {call}")


def test_group_job_asks_for_one_step_at_a_time(workdir, tmp_path):
    # Default threads (2 per job) on GPUs: steps that could run side by side (evaluate, render,
    # plot_slices) would ask for 6 CPUs and 2 GPUs together; the group asks for the profile's
    # `cores`, one GPU, the largest step's memory and every step's run time.
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    config = copy.deepcopy(TINY_CONFIG)
    for stage in ("compute", "sample", "train", "evaluate", "extract", "plot"):
        config[stage] = {**config.get(stage, {}), "threads": 2}
    config["compute"]["device"] = "cuda"
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    calls = sbatch_calls(workdir, tmp_path)
    assert len(calls) == 2  # sphere, torus
    for call in calls:
        assert option(call, "--cpus-per-task") == str(profile["cores"])
        assert option(call, "--gpus") == "1"
        assert option(call, "--mem") == "1536"  # train, extract, evaluate: 1536 MB each
        assert option(call, "-t") == str(5 * len(PER_OBJECT_RULES))
