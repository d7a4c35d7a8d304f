"""The workflow on a live SLURM cluster through snakemake-executor-plugin-slurm.

Needs a running cluster (`tests/cluster/slurm-up.sh`; `make test-cluster` brings one up, runs this
and takes it down). Skipped, with the reason, when `sinfo` does not answer with an idle node.

One test, three Snakemake invocations on two default meshes with a tiny config:
1. a local run (the reference numbers);
2. a cluster run whose first group job is killed with `scancel` while it trains: the run fails
   (or, since plugin 2.8.0 takes sacct's "CANCELLED by <uid>" for a running job, hangs until
   interrupted with Ctrl-C, as a user would), leaving no checkpoint of that object and no
   temporary file;
3. the same cluster command again: it reruns what was killed, and the summary equals the local one.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, TINY_CONFIG, run_snakemake, snakemake_command

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# Enough epochs (about 0.02 s each) that training lasts long enough to be cancelled mid-way.
CLUSTER_CONFIG = copy.deepcopy(TINY_CONFIG)
CLUSTER_CONFIG["models"]["tiny"]["training"]["epochs"] = 1500
OBJECTS = ("sphere", "torus")
# Measured, so different between runs: everything else in summary.csv must be equal.
TIMING_COLUMNS = {
    "train_seconds",
    "train_points_per_second",
    "inference_ms",
    "inference_ms_iqr",
    "inference_points_per_second",
    "peak_memory_bytes",
    # The checkpoint's header records the training time as text: a few bytes either way.
    "checkpoint_bytes",
}


def slurm_problem() -> str | None:
    """Why the live cluster cannot be used, or None when `sinfo` shows a usable node."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client commands not found (run tests/cluster/slurm-up.sh)"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if proc.returncode != 0:
        return f"sinfo failed: {proc.stderr.strip()[:300]}"
    states = proc.stdout.split()
    if not any(state in ("idle", "mixed", "allocated") for state in states):
        return f"no usable SLURM node (sinfo states: {states})"
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = slurm_problem()
    if problem:
        pytest.skip(problem)


def make_workdir(path: Path) -> Path:
    raw = path / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("sphere.obj", "torus.ply"):
        shutil.copy(REPO / "data" / "raw" / name, raw / name)
    (path / "config.yaml").write_text(yaml.safe_dump(CLUSTER_CONFIG))
    return path


def cluster_command(workdir: Path, *args: str) -> list[str]:
    return snakemake_command(
        workdir,
        *args,
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        # The default first status check waits 40 s; this cluster answers at once.
        "--slurm-init-seconds-before-status-checks",
        "5",
    )


def slurm_jobs(workdir: Path, since: str) -> list[dict[str, str]]:
    """sacct's records of the jobs run in ``workdir`` from ``since`` on (main allocations only;
    ``since`` as sacct's ``-S`` reads it)."""
    proc = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", since, "-E", "now",
         "--format=JobIdRaw,JobName%60,State,Elapsed,AllocTRES%80,WorkDir%400"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    keys = ("id", "name", "state", "elapsed", "tres", "workdir")
    rows = [dict(zip(keys, line.split("|"), strict=False)) for line in proc.stdout.splitlines()]
    return [row for row in rows if row.get("workdir") == str(workdir)]


def running_job_of(workdir: Path, obj: str) -> str | None:
    """The id of the RUNNING SLURM job in ``workdir`` whose group holds ``obj``'s jobs."""
    proc = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%Z"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        job_id, _, job_dir = line.partition("|")
        if job_dir != str(workdir):
            continue
        script = subprocess.run(
            ["scontrol", "write", "batch_script", job_id, "-"],
            capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        if f"train:model=tiny,obj={obj}'" in script:
            return job_id
    return None


def comparable(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.drop(columns=[c for c in summary.columns if c in TIMING_COLUMNS])


def test_cluster_run_equals_local_and_recovers_from_scancel(slurm, tmp_path):
    started = time.monotonic()
    since = time.strftime("%Y-%m-%dT%H:%M:%S")  # jobs of earlier runs in the same folder: not ours
    local = make_workdir(tmp_path / "local")
    cluster = make_workdir(tmp_path / "cluster")

    proc = run_snakemake(local)
    assert proc.returncode == 0, proc.stderr[-4000:]
    local_seconds = time.monotonic() - started

    # 2. Cluster run; cancel the SLURM job of the first object that starts training.
    first = time.monotonic()
    log_path = cluster / "first-run.log"
    with open(log_path, "w") as log:
        run = subprocess.Popen(
            cluster_command(cluster, "--retries", "0"),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    killed_obj = killed_job = None
    interrupted = False
    try:
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and killed_job is None:
            for obj in OBJECTS:
                train_log = cluster / "results" / "logs" / "train" / "tiny" / f"{obj}.log"
                if train_log.is_file() and "epoch 2/" in train_log.read_text(errors="replace"):
                    killed_obj, killed_job = obj, running_job_of(cluster, obj)
                    assert killed_job is not None, f"no running SLURM job trains {obj}"
                    break
            else:
                assert run.poll() is None, log_path.read_text()[-4000:]
                time.sleep(0.2)
        assert killed_job is not None, "training never started on the cluster"
        subprocess.run(["scancel", killed_job], check=True, timeout=30)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # The plugin (2.8.0) reads sacct's state of a job cancelled by a user, "CANCELLED by
            # <uid>", as still running and waits forever; a user stops it with Ctrl-C, as here.
            interrupted = True
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=60)
    first_seconds = time.monotonic() - first
    assert run.returncode != 0, "the run with a cancelled job reported success"

    checkpoint = cluster / "results" / "models" / "tiny" / f"{killed_obj}.safetensors"
    assert not checkpoint.exists(), "the cancelled job left a checkpoint that looks complete"
    assert not (cluster / "results" / "metrics" / "tiny" / f"{killed_obj}.json").exists()
    assert not list((cluster / "results").rglob("*.tmp*")), "temporary files left behind"
    states = {row["id"]: row["state"] for row in slurm_jobs(cluster, since)}
    assert states.get(killed_job, "").startswith("CANCELLED"), states

    # 3. The next invocation reruns the cancelled object and finishes.
    second = time.monotonic()
    proc = subprocess.run(cluster_command(cluster), capture_output=True, text=True, timeout=900)
    second_seconds = time.monotonic() - second
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert checkpoint.is_file()
    assert not list((cluster / "results").rglob("*.tmp*")), "temporary files left behind"

    local_summary = pd.read_csv(local / "results" / "summary.csv")
    cluster_summary = pd.read_csv(cluster / "results" / "summary.csv")
    assert list(cluster_summary["object"]) == list(OBJECTS)
    assert (cluster_summary["status"] == "ok").all()
    pd.testing.assert_frame_equal(comparable(cluster_summary), comparable(local_summary))
    size_difference = cluster_summary["checkpoint_bytes"] - local_summary["checkpoint_bytes"]
    assert size_difference.abs().max() <= 16, size_difference

    # sacct shows every submission: one group job per object, the cancelled one, and (when
    # Ctrl-C cancelled the other object's job too) its rerun; each object completed once.
    jobs = slurm_jobs(cluster, since)
    assert len(OBJECTS) + 1 <= len(jobs) <= 2 * len(OBJECTS), jobs
    assert sum(row["state"] == "COMPLETED" for row in jobs) == len(OBJECTS), jobs
    assert all(row["state"].startswith(("COMPLETED", "CANCELLED")) for row in jobs), jobs
    # The group job asks for the profile's `cores` (its side-by-side steps run in series), and
    # for no GPU: the tiny config computes on the CPU.
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert all(f"cpu={profile['cores']}," in row["tres"] for row in jobs), jobs
    assert not any("gpu" in row["tres"] for row in jobs), jobs

    record = {
        "first_run_needed_ctrl_c": interrupted,
        "local_run_s": round(local_seconds, 1),
        "cluster_run_with_scancel_s": round(first_seconds, 1),
        "cluster_rerun_s": round(second_seconds, 1),
        "slurm_jobs": jobs,
    }
    (tmp_path / "cluster-record.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
