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


def unfinished_rows(unfinished: Iterable[tuple[str, str, str]]) -> list[dict]:
    """Summary rows for (model, object, stage) triples that have neither a result nor a failure
    record: the job of ``stage`` was killed from outside (out of memory, a signal) or the run
    stopped before it."""
    return [
        {
            "model": model,
            "object": obj,
            "status": "failed",
            "failed_stage": stage,
            "error": f"{obj}: {UNFINISHED}",
        }
        for model, obj, stage in unfinished
    ]


UNFINISHED = "did not finish (killed, or the run stopped first; no error was recorded)"
WORST = 20  # objects per model listed in summary.md as the worst
SHOWN_REASONS = 10  # failure reasons printed at the end of a run
MAX_MARKDOWN_ROWS = 1000  # per-object rows of summary.md (summary.csv has every row)


def collect_metrics(
    paths: Iterable[str | Path],
    failure_paths: Iterable[str | Path] = (),
    models: Iterable[str] = (),
    unfinished: Iterable[tuple[str, str, str]] = (),
) -> pd.DataFrame:
    """Read metrics JSON files (and failure records) into a frame with :data:`SUMMARY_COLUMNS`
    first, sorted by model then object. A failure record wins over an older metrics file;
    ``unfinished`` (model, object, stage) triples are listed as failed (:func:`unfinished_rows`)."""
    failed = failure_rows(failure_paths, models) + unfinished_rows(unfinished)
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


def read_summary(summary_csv: str | Path) -> pd.DataFrame:
    """``summary.csv`` as written: text columns as strings (an object named ``1000`` or ``nan``
    stays that name; empty is ``""``), empty numbers as NaN."""
    text = {column: str for column in TEXT_COLUMNS}
    frame = pd.read_csv(summary_csv, dtype=text, keep_default_na=False, na_values=[""])
    present = [column for column in TEXT_COLUMNS if column in frame]
    frame[present] = frame[present].fillna("")
    return frame


def model_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-model means over successful objects, as the reference study reports them."""
    ok = frame[frame["status"] == "ok"]
    means = ok.groupby("model")[MEAN_COLUMNS].mean()
    means.insert(0, "objects", ok.groupby("model").size())
    return means.reset_index()


def _markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return frame.to_markdown(index=False, floatfmt=floatfmt)


def reason_of(error: str) -> str:
    """The reason of a one-line error, without the file or object it names (``"<path>: ..."``)."""
    return str(error).split(": ", 1)[-1]


def failure_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Failed objects counted by stage and reason, most frequent first.

    Returns
    -------
    pandas.DataFrame
        Columns ``stage``, ``reason``, ``objects`` (distinct objects), ``rows`` (model and object
        pairs) and ``examples`` (up to three object names).
    """
    failed = frame[frame["status"] != "ok"].assign(reason=lambda f: f["error"].map(reason_of))
    columns = ["stage", "reason", "objects", "rows", "examples"]
    if failed.empty:
        return pd.DataFrame(columns=columns)
    groups = failed.groupby(["failed_stage", "reason"], sort=False)["object"]
    counts = groups.agg(
        objects="nunique",
        rows="size",
        examples=lambda names: ", ".join(list(dict.fromkeys(names))[:3]),
    ).reset_index()
    counts = counts.rename(columns={"failed_stage": "stage"})
    return counts.sort_values(["objects", "stage", "reason"], ascending=[False, True, True])[
        columns
    ].reset_index(drop=True)


def worst_objects(frame: pd.DataFrame, n: int = WORST) -> pd.DataFrame:
    """The ``n`` trained objects of each model with the lowest surface F1 (ties: lowest volume
    F1), with the path of their slice figure relative to ``results/``."""
    ok = frame[frame["status"] == "ok"]
    worst = (
        ok.sort_values(["model", "surface_f1", "volume_f1", "object"], kind="stable")
        .groupby("model", sort=False)
        .head(n)
    )
    worst = worst[["model", "object", "surface_f1", "volume_f1", "chamfer_l1", "train_seconds"]]
    return worst.assign(plot="plots/" + worst["model"] + "/" + worst["object"] + ".png")


def glance_lines(frame: pd.DataFrame) -> list[str]:
    """summary.md's first lines: objects trained and failed, per model, and the failures by
    stage and reason."""
    models = list(dict.fromkeys(frame["model"]))
    lines = [
        f"{frame['object'].nunique()} object(s) x {len(models)} model(s): "
        f"{int((frame['status'] == 'ok').sum())} trained, "
        f"{int((frame['status'] != 'ok').sum())} failed.",
        "",
    ]
    counts = failure_counts(frame)
    if len(counts):
        lines += ["### Failures by stage and reason", "", _markdown_table(counts), ""]
    return lines


def worst_lines(frame: pd.DataFrame, n: int = WORST) -> list[str]:
    """summary.md's table of the worst objects per model, each linked to its slice figure."""
    worst = worst_objects(frame, n)
    if worst.empty:
        return []
    linked = worst.assign(plot=[f"[slices]({p})" for p in worst["plot"]])
    return [
        f"## Worst {n} objects per model (lowest surface F1)",
        "",
        _markdown_table(linked),
        "",
    ]


def per_object_lines(short: pd.DataFrame, most: int = MAX_MARKDOWN_ROWS) -> list[str]:
    """summary.md's per-object table: every row up to ``most`` rows; above, the failed rows
    only (at most ``most``), as a table of that many rows is read in summary.csv, not here."""
    if len(short) <= most:
        return [_markdown_table(short), ""]
    failed = short[short["status"] != "ok"]
    note = (
        f"{len(short)} rows: all of them are in summary.csv; the {min(len(failed), most)} "
        f"failed ones (of {len(failed)}) are listed here."
    )
    return [note, "", _markdown_table(failed.head(most)), ""]


def write_summary(
    metrics_paths: Iterable[str | Path],
    csv_out: str | Path,
    md_out: str | Path,
    failure_paths: Iterable[str | Path] = (),
    models: Iterable[str] = (),
    unfinished: Iterable[tuple[str, str, str]] = (),
) -> pd.DataFrame:
    """Write ``summary.csv`` and a readable ``summary.md``: at a glance (objects trained and
    failed, failures by stage and reason), per-model means, the worst objects with links to their
    slice figures, then per object.

    Failed objects (from ``failure_paths``, and ``unfinished`` (model, object, stage) triples)
    are listed with ``status="failed"``, the stage and the reason, and left out of the means.
    """
    frame = collect_metrics(metrics_paths, failure_paths, models, unfinished)
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
        *glance_lines(frame),
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
        *worst_lines(frame),
        "## Per object",
        "",
        *per_object_lines(short),
    ]
    with atomic_path(md_out) as tmp:
        Path(tmp).write_text("\n".join(text))
    return frame


def outcome_lines(summary_csv: str | Path, report: str = "report.html") -> list[str]:
    """How a run went, in a few lines for the end of ``snakemake``: objects trained and failed
    per model, the models' mean scores, the failures counted by stage and reason, and where the
    summary and the report are."""
    frame = read_summary(summary_csv)
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
    counts = failure_counts(frame)
    if len(counts):
        lines.append("  failed objects by stage and reason:")
        for row in counts.head(SHOWN_REASONS).itertuples():
            lines.append(f"    {row.stage}: {row.reason} x{row.objects} (e.g. {row.examples})")
        if len(counts) > SHOWN_REASONS:
            lines.append(f"    ... {len(counts) - SHOWN_REASONS} more reasons in the summary")
    lines.append(
        f"  summary: {summary_csv} (one row per model and object), "
        f"{Path(summary_csv).with_suffix('.md')} (tables)"
    )
    lines.append(f"  report: snakemake --report {report}")
    return lines
