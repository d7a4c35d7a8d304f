"""Killing or stopping a real training job leaves nothing that looks complete; a rerun finishes
cleanly."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import time

import pandas as pd
import pytest

from neusdf.nn.checkpoint import read_checkpoint
from tests.helpers import (
    REPO,
    TINY_CONFIG,
    planned_jobs,
    run_snakemake,
    snakemake_command,
    write_config,
)

pytestmark = pytest.mark.slow


def one_sphere_training_long(root):
    """``root`` with the default sphere and a tiny config whose training lasts long enough
    (400 epochs) to be stopped mid-way; returns the config and the train job's log."""
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(REPO / "data" / "raw" / "sphere.obj", raw / "sphere.obj")
    config = copy.deepcopy(TINY_CONFIG)
    config["models"]["tiny"]["training"]["epochs"] = 400
    write_config(root, config)
    return config, root / "results" / "logs" / "train" / "tiny" / "sphere.log"


def signal_during_training(root, log, sig, *targets: str) -> int:
    """Run Snakemake on ``root`` (one core), send ``sig`` to its whole process group (Snakemake
    and its jobs) once the train log shows epoch 2, and return its exit status."""
    cmd = [*snakemake_command(root, *targets), "--cores", "1", "--resources", "gpu=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if log.is_file() and "epoch 2/" in log.read_text():
                break
            assert proc.poll() is None, "workflow ended before training could be interrupted"
            time.sleep(0.2)
        else:
            pytest.fail("training never started")
        os.killpg(proc.pid, sig)
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_training_leaves_no_checkpoint_and_reruns_cleanly(tmp_path, sig):
    config, log = one_sphere_training_long(tmp_path)
    target = "results/models/tiny/sphere.safetensors"
    signal_during_training(tmp_path, log, sig, target)

    checkpoint = tmp_path / target
    assert not checkpoint.exists(), "a killed run left a checkpoint that looks complete"

    if sig == signal.SIGKILL:
        # Snakemake cannot release its lock when killed outright; users run --unlock, as we do.
        assert run_snakemake(tmp_path, "--unlock").returncode == 0
    config["models"]["tiny"]["training"]["epochs"] = 2
    write_config(tmp_path, config)
    done = run_snakemake(tmp_path, target, "--rerun-incomplete")
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_checkpoint(checkpoint).meta["format"] == "neusdf-checkpoint"
    assert not list((tmp_path / "results").rglob("*.tmp*")), "temporary files left behind"


def test_next_run_finishes_what_a_stopped_run_left_unfinished(tmp_path):
    # Ctrl-C during training: the run stops with a provisional summary listing the object as
    # unfinished. The next plain run, with nothing changed, must train it and replace the
    # summary (a provisional summary that looked up to date left it unfinished for good).
    _, log = one_sphere_training_long(tmp_path)
    assert signal_during_training(tmp_path, log, signal.SIGINT) != 0  # Ctrl-C in the terminal
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["status"]) == ["failed"] and "did not finish" in summary["error"][0]
    assert not (tmp_path / "results" / "summary.complete").exists()

    assert planned_jobs(tmp_path)["train"] == 1
    done = run_snakemake(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["status"]) == ["ok"]
    assert (tmp_path / "results" / "summary.complete").is_file()
    assert planned_jobs(tmp_path) == {}
