"""Dataset-scale throughput: per-stage job times, peak memory, the DAG and aggregation at scale.

Run: ``python bench/pipeline.py [--raw-dir data/raw] [--objects N] [--config key=value ...]``
(``make bench-pipeline``). It

1. runs the real workflow (``snakemake --directory <scratch> --snakefile <repo>/Snakefile``) on the
   first N meshes of ``--raw-dir`` and reads every job's ``results/benchmarks/**.tsv``: mean wall
   seconds and max peak RSS per stage, and the per-object total (normalize + sample + train +
   extract + evaluate + plot + render, summed per object, then averaged over objects);
2. times ``snakemake -n`` on ``--dag-objects`` copies (symlinks) of one small mesh;
3. times the aggregation (a fresh Python process running ``write_summary``, as the aggregate job
   does) over that many synthetic metrics files.

``--repo`` runs another checkout (e.g. ``git archive <main commit>`` unpacked into a folder) with
its own ``src`` on PYTHONPATH; ``--json out.json`` keeps the numbers and ``--compare old.json``
prints them side by side with ratios (old / new: > 1 means faster now).

Collection scale (docs/datasets.md), each a table of its own:

4. ``--controller-objects 100 1000``: the workflow on that many symlinks of the smallest mesh with
   a tiny model (short jobs, the hardest case for the scheduler), one thread per job; the
   Snakemake process's own CPU time (user + system, measured inside it at exit) against its jobs'
   (its waited-for children), and its peak RSS;
5. ``--threads 1 2``: objects per hour of the workflow at ``--cores`` with that many threads per
   job (``compute.threads``), on ``--throughput-objects`` objects (the meshes of ``--raw-dir``
   repeated);
6. ``--batches N``: next to each ``--dag-objects`` dry run (whole, up to ``--whole-max`` objects),
   the dry run of batch 1 of N (``snakemake -n --batch aggregate=1/N``), with the peak RSS of the
   Snakemake process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neusdf.mesh.formats import SUPPORTED_EXTENSIONS

REPO = Path(__file__).resolve().parent.parent
STAGES = ("normalize", "sample", "train", "extract", "evaluate", "plot", "render")

AGGREGATE = """
import sys, time
from pathlib import Path

from neusdf.mesh.formats import SUPPORTED_EXTENSIONS
start = time.perf_counter()
from neusdf.evaluation.summary import write_summary
paths = sorted(str(p) for p in Path(sys.argv[1]).glob("*.json"))
write_summary(paths, sys.argv[2] + "/summary.csv", sys.argv[2] + "/summary.md", models=["m"])
print(time.perf_counter() - start)
"""


# Runs Snakemake's command line in this process and, at exit, writes the process's own CPU time
# (its threads included), its waited-for children's (the jobs and what they started) and its
# peak RSS to the JSON file named first.
MEASURED_SNAKEMAKE = """
import atexit, json, resource, sys, time
out = sys.argv[1]
start = time.perf_counter()
def report():
    own = resource.getrusage(resource.RUSAGE_SELF)
    jobs = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as handle:
        json.dump({"wall_s": time.perf_counter() - start,
                   "controller_cpu_s": own.ru_utime + own.ru_stime,
                   "jobs_cpu_s": jobs.ru_utime + jobs.ru_stime,
                   "max_rss_mib": own.ru_maxrss / 1024}, handle)
atexit.register(report)
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[2:]]
main()
"""

# A model that trains in about a second (keys not given take their schema defaults).
TINY_MODEL = {
    "encoding": {"n_levels": 4, "n_features_per_level": 2, "log2_hashmap_size": 12,
                 "base_resolution": 4, "finest_resolution": 32},
    "network": {"n_neurons": 16, "n_hidden_layers": 1},
    "training": {"epochs": 4, "batch_size": 1024, "loss": "mape"},
}  # fmt: skip


def _env(repo: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(repo / "src"), PYTHONUNBUFFERED="1")


def _snakemake() -> str:
    return str(Path(sys.executable).with_name("snakemake"))


def link_meshes(raw_dir: Path, dest: Path, n_objects: int | None) -> list[str]:
    """Symlink the first ``n_objects`` meshes of ``raw_dir`` (sorted) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    meshes = sorted(p for p in raw_dir.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS)
    meshes = meshes[:n_objects] if n_objects else meshes
    for mesh in meshes:
        (dest / mesh.name).symlink_to(mesh.resolve())
    return [mesh.stem for mesh in meshes]


def run_workflow(
    repo: Path, scratch: Path, raw: Path, configfile: Path, overrides: list[str], cores: int
) -> float:
    """Run every job of the workflow in ``scratch``; return the wall seconds."""
    flags = ["--cores", str(cores), "--resources", "gpu=1"]
    return _timed_snakemake(
        repo, scratch, configfile, [f"raw_dir={raw}", *overrides], flags, "workflow"
    )


def _timed_snakemake(
    repo: Path, workdir: Path, configfile: Path, config: list[str], args: list[str], what: str
) -> float:
    """Wall seconds of one ``snakemake`` run of ``repo``'s workflow in ``workdir`` with the
    ``--config`` values ``config`` (key=value) and the other flags ``args``."""
    cmd = [_snakemake(), *args, "--snakefile", str(repo / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", str(configfile)]
    cmd += ["--config", *config]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(repo), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{what} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    return seconds


def measured_snakemake(
    repo: Path, workdir: Path, configfile: Path, config: list[str], args: list[str], what: str
) -> dict:
    """One ``snakemake`` run of ``repo``'s workflow in ``workdir`` (as :func:`_timed_snakemake`),
    measured from inside the Snakemake process: ``wall_s``, ``controller_cpu_s`` (its own user
    + system seconds), ``jobs_cpu_s`` (its jobs'), ``max_rss_mib``, and ``jobs`` (the total of
    the job stats Snakemake printed)."""
    out = workdir / ("measured-" + re.sub(r"[^\w.-]+", "-", what) + ".json")
    cmd = [sys.executable, "-c", MEASURED_SNAKEMAKE, str(out), *args]
    cmd += ["--snakefile", str(repo / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--configfile", str(configfile), "--config", *config]
    proc = subprocess.run(cmd, env=_env(repo), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{what} failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(out.read_text())
    totals = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("total")]
    result["jobs"] = int(totals[-1].split()[-1]) if totals else None
    return result


def tiny_configfile(repo: Path, dest: Path) -> Path:
    """``repo``'s config.yaml with one tiny model, small samples and one thread per job."""
    import yaml

    config = yaml.safe_load((repo / "config.yaml").read_text())
    config["run_models"] = ["tiny"]
    config["models"] = {"tiny": TINY_MODEL}
    config["compute"] = {**config.get("compute", {}), "threads": 1}
    config["sample"].update(
        train_surface=3000, train_volume=3000, test_surface=4000, test_volume=4000
    )
    config["evaluate"].update(timing_points=2000, timing_repeats=2)
    config["extract"]["resolution"] = 32
    config["geometry"] = {"n_samples": 2000}
    config["plot"]["resolution"] = 32
    dest.write_text(yaml.safe_dump(config))
    return dest


def link_copies(mesh: Path, dest: Path, n_objects: int) -> Path:
    """``dest`` with ``n_objects`` symlinks to ``mesh`` (``obj000000.<ext>``, ...)."""
    dest.mkdir(parents=True, exist_ok=True)
    for index in range(n_objects):
        link = dest / f"obj{index:06d}{mesh.suffix}"
        if not link.is_symlink():
            link.symlink_to(mesh.resolve())
    return dest


def controller_share(repo: Path, scratch: Path, mesh: Path, n_objects: int, cores: int) -> dict:
    """The whole workflow on ``n_objects`` symlinks of ``mesh`` with the tiny config: what the
    Snakemake process itself spent against its jobs (:func:`measured_snakemake`)."""
    work = scratch / f"controller{n_objects}"
    work.mkdir(parents=True, exist_ok=True)
    raw = link_copies(mesh, scratch / f"raw{n_objects}", n_objects)
    configfile = tiny_configfile(repo, work / "config.yaml")
    flags = ["--cores", str(cores), "--resources", "gpu=1"]
    result = measured_snakemake(repo, work, configfile, [f"raw_dir={raw}"], flags, "controller")
    result["share_percent"] = (
        100.0 * result["controller_cpu_s"] / (result["controller_cpu_s"] + result["jobs_cpu_s"])
    )
    result["ms_per_job"] = 1000.0 * result["controller_cpu_s"] / max(result["jobs"] or 1, 1)
    return result


def throughput(
    repo: Path, scratch: Path, raw_dir: Path, configfile: Path, n_objects: int, threads: int,
    cores: int,
) -> dict:  # fmt: skip
    """Objects per hour of the whole workflow on ``n_objects`` (the meshes of ``raw_dir``,
    repeated) at ``cores`` with ``threads`` per job."""
    meshes = sorted(p for p in raw_dir.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS)
    raw = scratch / f"throughput-raw{n_objects}"
    raw.mkdir(parents=True, exist_ok=True)
    for index in range(n_objects):
        mesh = meshes[index % len(meshes)]
        link = raw / f"{mesh.stem}-{index:03d}{mesh.suffix}"
        if not link.is_symlink():
            link.symlink_to(mesh.resolve())
    work = scratch / f"throughput-t{threads}"
    work.mkdir(parents=True, exist_ok=True)
    config = [f"raw_dir={raw}", f"compute={{threads: {threads}}}"]
    flags = ["--cores", str(cores), "--resources", "gpu=1"]
    result = measured_snakemake(repo, work, configfile, config, flags, f"threads {threads}")
    result["objects_per_hour"] = 3600.0 * n_objects / result["wall_s"]
    return result


def dry_runs(repo: Path, scratch: Path, mesh: Path, n_objects: int, batches: int | None,
             whole: bool) -> dict:  # fmt: skip
    """``snakemake -n`` on ``n_objects`` symlinks of ``mesh``: the whole plan (when ``whole``)
    and batch 1 of ``batches``, each measured (:func:`measured_snakemake`)."""
    raw = link_copies(mesh, scratch / f"raw{n_objects}", n_objects)
    out = {}
    plans = (["whole"] if whole else []) + ([f"batch 1/{batches}"] if batches else [])
    for plan in plans:
        work = scratch / f"plan{n_objects}-{plan.replace(' ', '').replace('/', 'of')}"
        work.mkdir(parents=True, exist_ok=True)
        args = ["-n", "--quiet", "rules", "--cores", "2"]
        if plan != "whole":
            args += ["--batch", f"aggregate=1/{batches}"]
        out[plan] = measured_snakemake(
            repo, work, repo / "config.yaml", [f"raw_dir={raw}"], args, f"dry run {plan}"
        )
    return out


def format_collection(results: dict) -> str:
    """The collection-scale tables (controller share, threads per job, plans)."""
    lines = []
    if results.get("controller"):
        lines += [
            "",
            "| objects | jobs | wall s | controller CPU s | jobs CPU s | controller share | "
            "controller ms per job | controller RSS MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, r in results["controller"].items():
            lines.append(
                f"| {n} | {r['jobs']} | {r['wall_s']:.0f} | {r['controller_cpu_s']:.1f} | "
                f"{r['jobs_cpu_s']:.0f} | {r['share_percent']:.1f} % | {r['ms_per_job']:.0f} | "
                f"{r['max_rss_mib']:.0f} |"
            )
    if results.get("threads"):
        lines += [
            "",
            "| threads per job | objects | wall s | objects per hour | jobs CPU s |",
            "|---:|---:|---:|---:|---:|",
        ]
        for threads, r in results["threads"].items():
            lines.append(
                f"| {threads} | {r['objects']} | {r['wall_s']:.0f} | "
                f"{r['objects_per_hour']:.0f} | {r['jobs_cpu_s']:.0f} |"
            )
    if results.get("plans"):
        lines += [
            "",
            "| objects | plan | jobs | wall s | Snakemake CPU s | Snakemake RSS MiB |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for n, plans in results["plans"].items():
            for plan, r in plans.items():
                lines.append(
                    f"| {n} | {plan} | {r['jobs']} | {r['wall_s']:.1f} | "
                    f"{r['controller_cpu_s']:.1f} | {r['max_rss_mib']:.0f} |"
                )
    return "\n".join(lines)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "-" or "NA" when psutil could not measure
        return float("nan")


def read_benchmarks(scratch: Path) -> dict[str, dict[str, tuple[float, float, float]]]:
    """``{stage: {object: (wall s, max_rss MiB, cpu s)}}`` from Snakemake's benchmark TSVs."""
    out: dict[str, dict[str, tuple[float, float, float]]] = {stage: {} for stage in STAGES}
    for stage in STAGES:
        for tsv in sorted((scratch / "results" / "benchmarks" / stage).rglob("*.tsv")):
            with open(tsv) as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            out[stage][tsv.stem] = (
                float(row["s"]),
                _number(row["max_rss"]),
                _number(row.get("cpu_time", "")),
            )
    return out


def stage_table(bench: dict) -> dict:
    """Per-stage mean wall and CPU seconds and max peak RSS over the objects that finished every
    stage, and the mean per-object total."""
    # Stages of this run (a checkout from before a stage existed has no benchmarks for it).
    stages = [s for s in STAGES if bench[s]] or list(STAGES)
    objects = sorted(set.intersection(*(set(bench[s]) for s in stages)))
    table = {}
    for stage in stages:
        rows = [bench[stage][obj] for obj in objects]
        if rows:
            table[stage] = {
                "mean_s": sum(r[0] for r in rows) / len(rows),
                "mean_cpu_s": sum(r[2] for r in rows) / len(rows),
                "max_rss_mib": max(r[1] for r in rows),
            }
    totals = [sum(bench[s][obj][0] for s in stages) for obj in objects]
    cpu = [sum(bench[s][obj][2] for s in stages) for obj in objects]
    table["total per object"] = {
        "mean_s": sum(totals) / len(totals) if totals else float("nan"),
        "mean_cpu_s": sum(cpu) / len(cpu) if cpu else float("nan"),
        "max_rss_mib": max((v["max_rss_mib"] for v in table.values()), default=float("nan")),
        "objects": len(objects),
    }
    return table


def time_dry_run(repo: Path, scratch: Path, mesh: Path, n_objects: int) -> float:
    """Seconds of ``snakemake -n`` with ``n_objects`` symlinks to ``mesh`` as raw_dir."""
    raw = scratch / f"raw{n_objects}"
    raw.mkdir(parents=True)
    for index in range(n_objects):
        (raw / f"obj{index:06d}{mesh.suffix}").symlink_to(mesh.resolve())
    work = scratch / f"dag{n_objects}"
    work.mkdir()
    args = ["-n", "--quiet", "--cores", "2"]
    return _timed_snakemake(repo, work, repo / "config.yaml", [f"raw_dir={raw}"], args, "dry run")


def synthetic_metrics(index: int) -> dict:
    """One plausible metrics record: every key the evaluate stage writes
    (:data:`neusdf.evaluation.record.METRICS`), numbers varying with ``index``."""
    from neusdf.evaluation.record import METRICS

    value = 0.9 + (index % 97) / 1000
    record = {m.name: ("fast" if m.text else value) for m in METRICS}
    record.update(object=f"obj{index:06d}", model="m", status="ok", error="", failed_stage="")
    return record


def time_aggregate(repo: Path, scratch: Path, n_objects: int) -> float:
    """Wall seconds of a fresh process aggregating ``n_objects`` metrics files."""
    folder = scratch / f"metrics{n_objects}"
    folder.mkdir()
    for index in range(n_objects):
        (folder / f"obj{index:06d}.json").write_text(json.dumps(synthetic_metrics(index)))
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", AGGREGATE, str(folder), str(scratch)],
        env=_env(repo),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"aggregation failed:\n{proc.stderr[-4000:]}")
    return seconds


def format_results(new: dict, old: dict | None = None) -> str:
    """Markdown table; with ``old``, side by side and the ratio old / new of wall seconds."""
    if old:
        head = "| stage | before s | after s | ratio | before CPU s | after CPU s | before RSS MiB "
        head += "| after RSS MiB |"
        lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    else:
        lines = ["| stage | wall s | CPU s | max RSS MiB |", "|---|---:|---:|---:|"]
    for stage, row in new["stages"].items():
        now = f"{row['mean_s']:.2f}", f"{row.get('mean_cpu_s', float('nan')):.2f}"
        if old:
            before = old["stages"].get(stage)
            if before:
                ratio = f"{before['mean_s'] / row['mean_s']:.2f}x"
                cpu = f"{before.get('mean_cpu_s', float('nan')):.2f}"
                was = f"{before['mean_s']:.2f}", ratio, cpu, f"{before['max_rss_mib']:.0f}"
            else:
                was = "", "", "", ""
            lines.append(
                f"| {stage} | {was[0]} | {now[0]} | {was[1]} | {was[2]} | {now[1]} | {was[3]} | "
                f"{row['max_rss_mib']:.0f} |"
            )
        else:
            lines.append(f"| {stage} | {now[0]} | {now[1]} | {row['max_rss_mib']:.0f} |")
    for key, label in (("dry_run_s", "snakemake -n"), ("aggregate_s", "aggregate")):
        for n, seconds in new.get(key, {}).items():
            name = f"{label}, {n} objects"
            if old:
                before = old.get(key, {}).get(n)
                was = (f"{before:.2f}", f"{before / seconds:.2f}x") if before else ("", "")
                lines.append(f"| {name} | {was[0]} | {seconds:.2f} | {was[1]} | | | | |")
            else:
                lines.append(f"| {name} | {seconds:.2f} | | |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line of this bench (parsed without running anything)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=REPO / "data" / "raw")
    parser.add_argument("--objects", type=int, default=None, help="first N meshes only")
    parser.add_argument("--configfile", type=Path, default=None, help="default: <repo>/config.yaml")
    parser.add_argument("--config", nargs="*", default=[], help="snakemake --config overrides")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose workflow runs")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--dag-objects", type=int, nargs="*", default=[1000])
    parser.add_argument("--skip-run", action="store_true", help="only the DAG and aggregation")
    parser.add_argument(
        "--summarize",
        type=Path,
        default=None,
        help="read the benchmark TSVs of an earlier (finished or interrupted) --scratch folder "
        "instead of running the workflow",
    )
    parser.add_argument(
        "--controller-objects",
        type=int,
        nargs="*",
        default=[],
        help="controller CPU share at these collection sizes (tiny model)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="*",
        default=[],
        help="objects per hour with these threads per job",
    )
    parser.add_argument(
        "--throughput-objects",
        type=int,
        default=12,
        help="objects of each --threads run (the --raw-dir meshes repeated)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="also plan batch 1 of N at each --dag-objects size",
    )
    parser.add_argument(
        "--whole-max",
        type=int,
        default=10_000,
        help="plan the whole DAG only up to this many objects (memory)",
    )
    parser.add_argument(
        "--aggregate-max",
        type=int,
        default=100_000,
        help="aggregate synthetic metrics files only up to this many objects",
    )
    parser.add_argument("--scratch", type=Path, default=None, help="kept; default: a temp dir")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier --json output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="neusdf-bench-") as tmp:
        scratch = (args.scratch or Path(tmp)).resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        results: dict = {"repo": str(repo), "stages": {}, "dry_run_s": {}, "aggregate_s": {}}
        meshes = sorted(
            p for p in args.raw_dir.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS
        )
        if args.summarize:
            results["stages"] = stage_table(read_benchmarks(args.summarize))
        elif not args.skip_run:
            objects = link_meshes(args.raw_dir, scratch / "raw", args.objects)
            configfile = (args.configfile or repo / "config.yaml").resolve()
            seconds = run_workflow(
                repo, scratch, scratch / "raw", configfile, args.config, args.cores
            )
            results["stages"] = stage_table(read_benchmarks(scratch))
            results["workflow_wall_s"] = seconds
            print(f"# workflow: {len(objects)} objects in {seconds:.1f} s wall", file=sys.stderr)
        smallest = min(meshes, key=lambda p: p.stat().st_size)
        for n in args.dag_objects:
            if args.batches:
                plans = dry_runs(repo, scratch, smallest, n, args.batches, n <= args.whole_max)
                results.setdefault("plans", {})[str(n)] = plans
                if "whole" in plans:
                    results["dry_run_s"][str(n)] = plans["whole"]["wall_s"]
            else:
                results["dry_run_s"][str(n)] = time_dry_run(repo, scratch, smallest, n)
            if n <= args.aggregate_max:
                results["aggregate_s"][str(n)] = time_aggregate(repo, scratch, n)
        for n in args.controller_objects:
            share = controller_share(repo, scratch, smallest, n, args.cores)
            results.setdefault("controller", {})[str(n)] = share
        for threads in args.threads:
            configfile = (args.configfile or repo / "config.yaml").resolve()
            run = throughput(
                repo, scratch, args.raw_dir, configfile, args.throughput_objects, threads,
                args.cores,
            )  # fmt: skip
            run["objects"] = args.throughput_objects
            results.setdefault("threads", {})[str(threads)] = run
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    old = json.loads(args.compare.read_text()) if args.compare else None
    print(format_results(results, old))
    print(format_collection(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
