"""The model comparison: ``summary.csv`` → ``models.csv`` (one row per model, mean and spread
over objects) and ``models.png`` (surface F1 against bytes on disk and against training time)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neusdf.evaluation.scores import DISTANCE_BANDS
from neusdf.evaluation.summary import read_summary
from neusdf.io import atomic_path

# Scores reported with their spread over objects: mean, min, max (units as in summary.csv).
SPREAD_METRICS = (
    "surface_f1",
    "volume_f1",
    "chamfer_l1",
    "hausdorff_95",
    "surface_mae",
    *(f"sdf_error_p99_{band}" for band, _, _ in DISTANCE_BANDS),
    "normal_angle_mean",
)
# Costs reported as the mean over objects.
COST_METRICS = ("train_seconds", "inference_points_per_second", "n_parameters", "checkpoint_bytes")


def model_comparison(summary: pd.DataFrame, models: Sequence[str] = ()) -> pd.DataFrame:
    """One row per model: ``model``, ``kind``, ``objects`` (successful), ``failed``, then
    ``{metric}_mean``, ``{metric}_min``, ``{metric}_max`` for :data:`SPREAD_METRICS` and
    ``{metric}`` (mean) for :data:`COST_METRICS`.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``summary.csv`` (one row per model and object, column ``status``).
    models : sequence of str
        Row order (e.g. ``run_models``); models missing from it follow, sorted.
    """
    frame = summary.copy()
    for column in (*SPREAD_METRICS, *COST_METRICS):
        frame[column] = pd.to_numeric(frame.get(column, np.nan), errors="coerce")
    present = list(dict.fromkeys(frame["model"].astype(str)))
    order = [m for m in models if m in present] + sorted(set(present) - set(models))
    rows = []
    for model in order:
        all_rows = frame[frame["model"].astype(str) == model]
        ok = all_rows[all_rows["status"] == "ok"]
        kinds = ok["kind"].dropna().astype(str) if "kind" in ok else pd.Series(dtype=str)
        row: dict = {
            "model": model,
            "kind": kinds.iloc[0] if len(kinds) else "",
            "objects": len(ok),
            "failed": len(all_rows) - len(ok),
        }
        for metric in SPREAD_METRICS:
            values = ok[metric]
            row[f"{metric}_mean"] = values.mean()
            row[f"{metric}_min"] = values.min()
            row[f"{metric}_max"] = values.max()
        for metric in COST_METRICS:
            row[metric] = ok[metric].mean()
        rows.append(row)
    columns = ["model", "kind", "objects", "failed"]
    columns += [f"{m}_{s}" for m in SPREAD_METRICS for s in ("mean", "min", "max")]
    columns += list(COST_METRICS)
    return pd.DataFrame(rows, columns=columns)


def write_model_comparison(
    summary_csv: str | Path, csv_out: str | Path, png_out: str | Path, models: Sequence[str] = ()
) -> pd.DataFrame:
    """Read ``summary.csv``, write ``models.csv`` and ``models.png``; returns the table."""
    table = model_comparison(read_summary(summary_csv), models)
    with atomic_path(csv_out) as tmp:
        # 12 significant digits: byte and parameter counts of ~10^8 stay exact.
        table.to_csv(tmp, index=False, float_format="%.12g")
    plot_model_comparison(table, png_out)
    return table


def plot_model_comparison(table: pd.DataFrame, path: str | Path, dpi: int = 100) -> Path:
    """Surface F1 against bytes on disk and against training seconds, both on log axes.

    One point per model at its mean over objects; the vertical bar spans the objects' min to max
    surface F1. Each point is labelled with the model's name.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`model_comparison`'s output.
    path : str or Path
        Output PNG, written atomically.
    """
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    panels = (
        ("checkpoint_bytes", "checkpoint size on disk [bytes] (log scale)"),
        ("train_seconds", "training time per object [s] (log scale; exact grids: lattice time)"),
    )
    data = table[np.isfinite(table["surface_f1_mean"].astype(float))]
    for ax, (column, label) in zip(axes, panels, strict=True):
        for index, row in enumerate(data.itertuples(index=False)):
            x = float(getattr(row, column))
            mean = float(row.surface_f1_mean)
            # The mean of equal values can round past them: a bar is never below zero length.
            low = max(mean - float(row.surface_f1_min), 0.0)
            high = max(float(row.surface_f1_max) - mean, 0.0)
            if not np.isfinite(x) or x <= 0:
                continue
            ax.errorbar(
                x, mean, yerr=[[low], [high]], fmt="o", color=f"C{index % 10}", capsize=4,
                markersize=7,
            )  # fmt: skip
            ax.annotate(row.model, (x, mean), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("surface F1 (near-surface test points; 0 to 1, higher is better)")
    if data.empty:
        axes[0].text(0.5, 0.5, "no results to plot", ha="center", transform=axes[0].transAxes)
    n_objects = int(table["objects"].max()) if len(table) else 0
    fig.suptitle(f"Model comparison: mean surface F1 over {n_objects} object(s), bars = min to max")
    FigureCanvasAgg(fig)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path
