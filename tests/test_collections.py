"""Collections as users have them: nested layouts through the real workflow, every file trained
or listed with a reason, time limits, parallel model jobs, batches, the collection report."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from neusdf.evaluation.summary import (
    UNFINISHED,
    failure_counts,
    outcome_lines,
    read_summary,
    worst_objects,
    write_summary,
)
from neusdf.io import read_json
from neusdf.pipeline.check import check_paths
from neusdf.pipeline.jobs import find_failure_records, unfinished_jobs
from tests.helpers import (
    COLLECTION_LAYOUTS,
    ENV,
    REPO,
    TINY_CONFIG,
    build_layout,
    planned_jobs,
    run_snakemake,
    write_config,
)

# -- the time limit of a job ---------------------------------------------------------------------

JOB = """
import signal, sys, time
from neusdf.pipeline.jobs import job
with job(sys.argv[1] + "/job.log", sys.argv[1] + "/failure.json", float(sys.argv[2]),
         stage="train", object="slow", model="m"):
    if sys.argv[3] == "compiled":  # like a C loop: the alarm is never handled
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(float(sys.argv[4]))
"""


def run_job(tmp_path, minutes: float, mode: str, seconds: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", JOB, str(tmp_path), str(minutes), mode, str(seconds)],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip


def test_a_job_past_its_time_limit_stops_with_one_line_and_a_failure_record(tmp_path):
    proc = run_job(tmp_path, 0.01, "python", 60)
    assert proc.returncode == 1
    reason = "slow: ran past the time limit of 0.01 min (time_limit_minutes)"
    assert proc.stderr.strip() == f"neusdf error: {reason}"
    record = read_json(tmp_path / "failure.json")
    assert record == {"stage": "train", "object": "slow", "model": "m", "status": "failed",
                      "error": reason}  # fmt: skip


@pytest.mark.slow  # the watchdog waits the grace period (10 s) first
def test_a_job_stuck_in_compiled_code_is_killed_by_the_watchdog_with_the_same_record(tmp_path):
    proc = run_job(tmp_path, 0.01, "compiled", 60)
    assert proc.returncode == -9  # SIGKILL: the alarm never reached Python
    record = read_json(tmp_path / "failure.json")
    assert record["error"] == "slow: ran past the time limit of 0.01 min (time_limit_minutes)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failure.json", "job.log"]


def test_a_job_within_its_limit_leaves_no_watchdog_and_no_record(tmp_path):
    proc = run_job(tmp_path, 1.0, "compiled", 0.2)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "failure.json").exists()
    watchdogs = subprocess.run(["pgrep", "-f", "sh -c sleep"], capture_output=True, text=True)
    assert str(tmp_path) not in watchdogs.stdout


# -- every pair is in the summary ----------------------------------------------------------------


def test_pairs_without_result_or_record_are_listed_at_the_stage_that_did_not_finish(tmp_path):
    results = tmp_path / "results"
    done = ["normalized/a.json", "normalized/b.json", "samples/b.h5", "normalized/c.json"]
    done += ["samples/c.h5", "models/m/c.ckpt", "metrics/m/c.json"]
    for path in done:
        (results / path).parent.mkdir(parents=True, exist_ok=True)
        (results / path).write_text("{}")
    (results / "failures" / "sample").mkdir(parents=True)
    (results / "failures" / "sample" / "d.json").write_text("{}")
    chain = [
        ("normalize", f"{results}/normalized/{{obj}}.json"),
        ("sample", f"{results}/samples/{{obj}}.h5"),
        ("train", f"{results}/models/{{model}}/{{obj}}.ckpt"),
        ("evaluate", f"{results}/metrics/{{model}}/{{obj}}.json"),
    ]
    failures = find_failure_records("abcde", ["m"], root=results / "failures")
    found = unfinished_jobs("abcde", ["m"], failures, chain, root=str(results / "failures"))
    assert found == [("m", "a", "sample"), ("m", "b", "train"), ("m", "e", "normalize")]


def metrics_file(tmp_path, model: str, obj: str, f1: float, chamfer: float):
    path = tmp_path / f"{model}-{obj}.json"
    record = {"model": model, "object": obj, "status": "ok", "error": "", "surface_f1": f1,
              "volume_f1": f1, "chamfer_l1": chamfer, "train_seconds": 1.0 + f1}  # fmt: skip
    path.write_text(json.dumps(record))
    return path


def failure_file(tmp_path, stage: str, obj: str, reason: str, model: str | None = None):
    path = tmp_path / f"failure-{stage}-{obj}.json"
    error = f"raw/{obj}.obj: {reason}"
    record = {"stage": stage, "object": obj, "status": "failed", "error": error}
    if model:
        record["model"] = model
    path.write_text(json.dumps(record))
    return path


def test_summary_at_a_glance_failures_by_reason_and_the_worst_objects(tmp_path):
    rng = np.random.default_rng(0)
    scores = {f"o{i:02d}": float(f1) for i, f1 in enumerate(rng.uniform(0.9, 1.0, 30))}
    metrics = [metrics_file(tmp_path, "m", obj, f1, 1 - f1) for obj, f1 in scores.items()]
    failures = [
        failure_file(tmp_path, "normalize", "e1", "file is empty"),
        failure_file(tmp_path, "normalize", "e2", "file is empty"),
        failure_file(tmp_path, "sample", "soup", "encloses no volume"),
    ]
    frame = write_summary(
        metrics, tmp_path / "s.csv", tmp_path / "s.md", failures, ["m"],
        unfinished=[("m", "killed", "train")],
    )  # fmt: skip
    assert len(frame) == 34 and (frame["status"] == "failed").sum() == 4
    counts = failure_counts(frame)
    assert counts[["stage", "reason", "objects"]].values.tolist() == [
        ["normalize", "file is empty", 2],
        ["sample", "encloses no volume", 1],
        ["train", UNFINISHED, 1],
    ]
    assert counts.loc[0, "examples"] == "e1, e2"
    worst = worst_objects(frame)
    assert list(worst["object"]) == sorted(scores, key=scores.get)[:20]
    assert list(worst["plot"][:1]) == [f"plots/m/{min(scores, key=scores.get)}.png"]
    md = (tmp_path / "s.md").read_text()
    assert md.index("34 object(s) x 1 model(s): 30 trained, 4 failed.") < md.index("Per-model")
    assert re.search(r"\| normalize +\| file is empty +\| +2 \|", md)
    assert f"[slices](plots/m/{min(scores, key=scores.get)}.png)" in md
    lines = outcome_lines(tmp_path / "s.csv")
    assert "    normalize: file is empty x2 (e.g. e1, e2)" in lines


def test_collection_figure_and_the_capped_summary_figure_at_a_thousand_objects(tmp_path):
    from PIL import Image

    from neusdf.evaluation.plots import MAX_BAR_OBJECTS, plot_collection, plot_summary

    rng = np.random.default_rng(1)
    n = 1000
    frame = pd.DataFrame({
        "model": "m", "object": [f"o{i:04d}" for i in range(n)], "status": "ok",
        "failed_stage": "", "error": "", "surface_f1": rng.uniform(0.9, 1.0, n),
        "volume_f1": rng.uniform(0.95, 1.0, n), "chamfer_l1": rng.lognormal(-7, 0.5, n),
        "train_seconds": rng.lognormal(2, 0.3, n),
    })  # fmt: skip
    frame.loc[:9, ["status", "failed_stage", "error"]] = ["failed", "normalize", "x: file is empty"]
    frame.loc[:9, "surface_f1"] = np.nan
    plot_collection(frame, tmp_path / "collection.png")
    plot_summary(frame, tmp_path / "summary.png")
    # Bounded at any collection size: the bars show the MAX_BAR_OBJECTS lowest objects.
    for name, most in (("collection.png", 2000), ("summary.png", 6000)):
        width, height = Image.open(tmp_path / name).size
        assert 800 < width <= most and 300 < height < 2000, (name, width, height)
    pixels = np.asarray(Image.open(tmp_path / "collection.png").convert("L"), dtype=float)
    assert pixels.std() > 10
    assert MAX_BAR_OBJECTS == 50


# -- the real workflow on collections ------------------------------------------------------------


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("layout", sorted(COLLECTION_LAYOUTS))
def test_workflow_on_a_collection_as_downloaded(layout, tmp_path):
    """One uniquely named object per file, traced to it; `neusdf check` walks the same tree
    with the same names and the same verdicts."""
    raw = tmp_path / "data" / "raw"
    expected = build_layout(raw, layout)
    (raw / "readme.txt").write_text("not a mesh")
    write_config(tmp_path, TINY_CONFIG)
    proc = run_snakemake(tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = read_summary(tmp_path / "results" / "summary.csv")
    assert sorted(summary["object"]) == sorted(expected.values())
    assert (summary["status"] == "ok").all()
    for relative, name in expected.items():
        record = read_json(tmp_path / "results" / "normalized" / f"{name}.json")
        assert record["source"] == f"data/raw/{relative}"
        assert record["source_sha256"] == sha256(raw / relative)
        assert (tmp_path / "results" / "plots" / "tiny" / f"{name}.png").is_file()
    checks = check_paths([raw])
    assert [(c.object, c.path) for c in checks] == sorted(
        (name, str(raw / relative)) for relative, name in expected.items()
    )
    assert all(c.accepted for c in checks)
    assert (tmp_path / "results" / "plots" / "collection.png").is_file()
    worst = pd.read_csv(tmp_path / "results" / "worst.csv", dtype={"object": str})
    assert set(worst["object"]) == set(expected.values())


@pytest.mark.slow
def test_a_job_past_the_time_limit_is_stopped_and_listed_and_the_rest_finish(tmp_path):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("sphere.obj", "torus.ply"):
        (raw / name).symlink_to(REPO / "data" / "raw" / name)
    config = copy.deepcopy(TINY_CONFIG)
    config["models"]["slow"] = copy.deepcopy(config["models"]["tiny"])
    config["models"]["slow"]["training"]["epochs"] = 100_000  # hours
    config["run_models"] = ["tiny", "slow"]
    config["time_limit_minutes"] = 0.15
    write_config(tmp_path, config)
    proc = run_snakemake(tmp_path, "--keep-going")
    assert proc.returncode != 0
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console
    summary = pd.read_csv(tmp_path / "results" / "summary.csv", keep_default_na=False)
    rows = {(r.model, r.object): r for r in summary.itertuples()}
    assert len(rows) == 4
    for obj in ("sphere", "torus"):
        assert rows[("tiny", obj)].status == "ok"
        slow = rows[("slow", obj)]
        assert (slow.status, slow.failed_stage) == ("failed", "train")
        assert slow.error == f"{obj}: ran past the time limit of 0.15 min (time_limit_minutes)"
        assert f"neusdf error: {slow.error}" in console
    assert "train: ran past the time limit of 0.15 min (time_limit_minutes) x2" in console
    assert (tmp_path / "results" / "plots" / "collection.png").is_file()


def running_at_once(console: str, rules: tuple[str, ...]) -> int:
    """The largest number of jobs of ``rules`` that Snakemake's log shows running together."""
    running, most, rule = set(), 0, None
    for line in console.splitlines():
        started = re.match(r"(?:localrule|rule) (\w+):", line.strip())
        if started:
            rule = started.group(1)
        jobid = re.match(r"jobid: (\d+)", line.strip())
        if jobid and rule in rules:
            running.add(jobid.group(1))
            most = max(most, len(running))
            rule = None
        finished = re.match(r"Finished jobid: (\d+)", line.strip())
        if finished:
            running.discard(finished.group(1))
    return most


@pytest.mark.slow
def test_two_cores_with_one_thread_per_job_run_two_trainings_at_once(tmp_path):
    from neusdf.nn.field import cuda_possible

    if cuda_possible():
        pytest.skip("a machine with an NVIDIA driver gives every training the one GPU")
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    for name in ("sphere.obj", "torus.ply"):
        (raw / name).symlink_to(REPO / "data" / "raw" / name)
    config = copy.deepcopy(TINY_CONFIG)
    config["compute"] = {"threads": 1}
    config["models"]["tiny"]["training"]["epochs"] = 30  # long enough to overlap
    write_config(tmp_path, config)
    samples = [f"results/samples/{obj}.h5" for obj in ("sphere", "torus")]
    assert run_snakemake(tmp_path, *samples).returncode == 0
    models = [f"results/models/tiny/{obj}.safetensors" for obj in ("sphere", "torus")]
    proc = run_snakemake(tmp_path, *models)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert running_at_once(proc.stdout + proc.stderr, ("train",)) == 2


@pytest.mark.slow
def test_a_collection_in_batches_covers_every_object_and_ends_with_the_summary(tmp_path):
    raw = tmp_path / "data" / "raw"
    raw.mkdir(parents=True)
    for index in range(4):
        (raw / f"obj{index}.off").symlink_to(REPO / "data" / "raw" / "holed_box.off")
    write_config(tmp_path, TINY_CONFIG)
    # 12 inputs in path order (4 metrics files, 4 slice figures, 4 pictures): the first batch is
    # the metrics of objects 0-2.
    first = planned_jobs(tmp_path, "--batch", "aggregate=1/4")
    assert first == {"normalize": 3, "sample": 3, "train": 3, "extract": 3, "evaluate": 3}
    for batch in range(1, 5):
        proc = run_snakemake(tmp_path, "--batch", f"aggregate={batch}/4")
        assert proc.returncode == 0, (batch, proc.stderr[-3000:])
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["object"]) == [f"obj{index}" for index in range(4)]
    assert (summary["status"] == "ok").all()
    assert planned_jobs(tmp_path) == {}


@pytest.mark.slow
def test_pipeline_bench_measures_plans_batches_and_the_controller(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(REPO / "bench" / "pipeline.py"), "--skip-run", "--dag-objects", "30"]
    cmd += ["--batches", "3", "--controller-objects", "2", "--json", str(out)]
    cmd += ["--scratch", str(tmp_path / "scratch")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    plans = result["plans"]["30"]
    # 30 objects x 3 aggregate inputs in path order: batch 1 of 3 is the 30 metrics files.
    assert plans["batch 1/3"]["jobs"] == 30 * 5
    assert plans["whole"]["jobs"] > 30 * 7
    assert all(plan["max_rss_mib"] > 50 for plan in plans.values())
    controller = result["controller"]["2"]
    assert controller["jobs"] > 2 * 7
    assert 0 < controller["controller_cpu_s"] < controller["jobs_cpu_s"]
    assert "| 30 | batch 1/3 | 150 |" in proc.stdout
