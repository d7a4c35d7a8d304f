"""Per-object metrics files → ``summary.csv`` (one row per model and object) and ``summary.md``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from neusdf.evaluation.record import SUMMARY_COLUMNS, TEXT_COLUMNS
from neusdf.evaluation.scores import DISTANCE_BANDS
from neusdf.io import atomic_path, read_json

MEAN_COLUMNS = [
    "surface_f1",
    "volume_f1",
    "surface_iou",
    "volume_iou",
    "surface_mae",
    "volume_mae",
    "chamfer_l1",
    "hausdorff_95",
    *(f"sdf_error_p99_{band}" for band, _, _ in DISTANCE_BANDS),
    "normal_angle_mean",
    "train_seconds",
    "checkpoint_bytes",
    "inference_points_per_second",
]


def failure_rows(failure_paths: Iterable[str | Path], models: Iterable[str]) -> list[dict]:
    """Summary rows for failure records written by :func:`neusdf.pipeline.jobs.job`.

    A failure before training (normalize, sample) has no model: it fails the object for every
    model in ``models``.
    """
    rows = []
    for path in failure_paths:
        record = read_json(path)
        for model in [record["model"]] if record.get("model") else list(models):
            rows.append(
                {
                    "model": model,
                    "object": record["object"],
                    "status": "failed",
                    "failed_stage": record.get("stage", ""),
                    "error": record.get("error", ""),
                }
            )
    return rows


def collect_metrics(
    paths: Iterable[str | Path],
    failure_paths: Iterable[str | Path] = (),
    models: Iterable[str] = (),
) -> pd.DataFrame:
    """Read metrics JSON files (and failure records) into a frame with :data:`SUMMARY_COLUMNS`
    first, sorted by model then object. A failure record wins over an older metrics file."""
    failed = failure_rows(failure_paths, models)
    failed_keys = {(r["model"], r["object"]) for r in failed}
    rows = [r for r in map(read_json, paths) if (r["model"], r["object"]) not in failed_keys]
    frame = pd.DataFrame(rows + failed)
    for column in SUMMARY_COLUMNS:
        if column not in frame:
            frame[column] = "" if column in TEXT_COLUMNS else math.nan
    frame[list(TEXT_COLUMNS)] = frame[list(TEXT_COLUMNS)].fillna("")
    extra = [c for c in frame.columns if c not in SUMMARY_COLUMNS]
    frame = frame[SUMMARY_COLUMNS + extra]
    return frame.sort_values(["model", "object"], kind="stable").reset_index(drop=True)


def model_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-model means over successful objects, as the reference study reports them."""
    ok = frame[frame["status"] == "ok"]
    means = ok.groupby("model")[MEAN_COLUMNS].mean()
    means.insert(0, "objects", ok.groupby("model").size())
    return means.reset_index()


def _markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return frame.to_markdown(index=False, floatfmt=floatfmt)


def write_summary(
    metrics_paths: Iterable[str | Path],
    csv_out: str | Path,
    md_out: str | Path,
    failure_paths: Iterable[str | Path] = (),
    models: Iterable[str] = (),
) -> pd.DataFrame:
    """Write ``summary.csv`` and a readable ``summary.md`` (per-model means, then per object).

    Failed objects (from ``failure_paths``) are listed with ``status="failed"``, the stage and
    the reason, and left out of the means.
    """
    frame = collect_metrics(metrics_paths, failure_paths, models)
    with atomic_path(csv_out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    short = frame[
        [
            "model",
            "object",
            "status",
            "surface_f1",
            "volume_f1",
            "surface_mae",
            "volume_mae",
            "chamfer_l1",
            "train_seconds",
            "inference_points_per_second",
            "failed_stage",
            "error",
        ]
    ]
    text = [
        "# neusdf summary",
        "",
        "Sign F1 with inside (SDF < 0) as the positive class, on independent test sets: *surface* ="
        " near-surface points (surface + Gaussian noise), *volume* = uniform in [-1, 1]^3. MAE and"
        " sdf_error_p99_* (99th percentile of the distance error by band of the true distance |t|:"
        " near < 0.02 ≤ shell < 0.1 ≤ mid < 0.3 ≤ far) in normalized units (the mesh's longest"
        " half-extent is 0.9); normal angles in degrees. Times in seconds; inference in points"
        " per second.",
        "",
        "## Per-model means",
        "",
        _markdown_table(model_means(frame)),
        "",
        "## Per object",
        "",
        _markdown_table(short),
        "",
    ]
    with atomic_path(md_out) as tmp:
        Path(tmp).write_text("\n".join(text))
    return frame


def outcome_lines(summary_csv: str | Path, report: str = "report.html") -> list[str]:
    """How a run went, in a few lines for the end of ``snakemake``: objects trained and failed
    per model, the models' mean scores, the failures counted by stage and reason, and where the
    summary and the report are."""
    frame = pd.read_csv(summary_csv, keep_default_na=False, na_values=[""])
    ok = frame[frame["status"] == "ok"]
    failed = frame[frame["status"] != "ok"]
    objects, models = frame["object"].nunique(), frame["model"].nunique()
    lines = [
        f"neusdf: {objects} object(s) x {models} model(s): {len(ok)} trained, {len(failed)} failed"
    ]
    for model, rows in ok.groupby("model", sort=False):
        lines.append(
            f"  {model}: mean surface F1 {rows['surface_f1'].mean():.4f}, volume F1 "
            f"{rows['volume_f1'].mean():.4f}, Chamfer L1 {rows['chamfer_l1'].mean():.3g}, "
            f"{rows['train_seconds'].mean():.1f} s training per object ({len(rows)} objects)"
        )
    if len(failed):
        counts = failed.groupby(["failed_stage", "error"], sort=True).size()
        lines.append("  failed (stage: reason, objects x models):")
        for (stage, error), count in counts.items():
            reason = str(error).split(": ", 1)[-1]
            lines.append(f"    {stage}: {reason} x{count}")
    lines.append(
        f"  summary: {summary_csv} (one row per model and object), "
        f"{Path(summary_csv).with_suffix('.md')} (tables)"
    )
    lines.append(f"  report: snakemake --report {report}")
    return lines
