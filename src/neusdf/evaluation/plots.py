"""Pictures people can check at a glance: SDF slices (truth, prediction, error) and a per-model
summary of the scores. PNG only, written atomically, no display needed.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas directly, never through
``pyplot``: no global figure registry (no leaks across many objects) and no backend selection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from neusdf.config import schema_default
from neusdf.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SLICE_AXES",
    "plot_collection",
    "plot_sdf_slices",
    "plot_summary",
    "slice_points",
    "summary_figure_size",
]

UNITS = "normalized units"
# Each row: the axis held at 0, then the (horizontal, vertical) axes of the picture.
SLICE_AXES: tuple[tuple[str, str, str], ...] = (("x", "y", "z"), ("y", "x", "z"), ("z", "x", "y"))
_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
# A white halo keeps both zero contours visible on any background colour.
_HALO = [patheffects.withStroke(linewidth=3.2, foreground="white")]
GT_CONTOUR = {"colors": "black", "linewidths": 1.5, "linestyles": "solid"}
PRED_CONTOUR = {"colors": "#d6007e", "linewidths": 1.5, "linestyles": "dashed"}
# (column, name, y-axis label)
SUMMARY_METRICS = (
    ("surface_f1", "surface F1", "surface F1\n(0 to 1, higher is better)"),
    ("volume_f1", "volume F1", "volume F1\n(0 to 1, higher is better)"),
    ("chamfer_l1", "Chamfer L1", f"Chamfer L1 [{UNITS}]\n(lower is better)"),
)
# Fine iso-lines of the SDF panels (normalized units): shows whether the field is a distance.
ISO_STEP = 0.1
# Per-object bars stay readable up to this many objects; beyond, the summary figure shows the
# objects with the lowest surface F1 (the collection figure shows the distributions).
MAX_BAR_OBJECTS = 50
# (column, title, x label, log scale) of the collection figure's histograms
COLLECTION_METRICS = (
    ("surface_f1", "surface F1", "surface F1 (higher is better)", False),
    ("volume_f1", "volume F1", "volume F1 (higher is better)", False),
    ("chamfer_l1", "Chamfer L1", f"Chamfer L1 [{UNITS}] (lower is better)", True),
    ("train_seconds", "training time", "training time per object [s]", True),
)
SHOWN_REASONS = 10  # failure reasons drawn in the collection figure


def _save_png(fig: Figure, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)  # attach the Agg canvas explicitly
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def slice_points(normal_axis: str, resolution: int, bound: float = 1.0) -> np.ndarray:
    """Grid points of the axis-aligned plane through the origin normal to ``normal_axis``.

    Returns
    -------
    (resolution, resolution, 3) float32
        ``points[row, col]``: the column walks the picture's horizontal axis, the row its vertical
        axis (both from -bound to bound), as in :data:`SLICE_AXES`; the normal coordinate is 0.
    """
    _, horizontal, vertical = next(row for row in SLICE_AXES if row[0] == normal_axis)
    axis = np.linspace(-bound, bound, resolution)
    h, v = np.meshgrid(axis, axis, indexing="xy")  # h varies along columns, v along rows
    points = np.zeros((resolution, resolution, 3), dtype=np.float32)
    points[..., _AXIS_INDEX[horizontal]] = h
    points[..., _AXIS_INDEX[vertical]] = v
    return points


def _evaluate(fn: Callable[[np.ndarray], np.ndarray], points: np.ndarray, batch: int) -> np.ndarray:
    flat = points.reshape(-1, 3)
    out = np.empty(len(flat), dtype=np.float64)
    for start in range(0, len(flat), batch):
        out[start : start + batch] = np.asarray(fn(flat[start : start + batch])).reshape(-1)
    return out.reshape(points.shape[:-1])


def _crosses_zero(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() < 0 < finite.max()


def _finite_max(values: Sequence[np.ndarray], default: float) -> float:
    finite = [np.abs(v[np.isfinite(v)]) for v in values]
    finite = [v for v in finite if v.size]
    top = max((float(v.max()) for v in finite), default=0.0)
    return top if top > 0 else default


def plot_sdf_slices(
    gt_fn: Callable[[np.ndarray], np.ndarray],
    pred_fn: Callable[[np.ndarray], np.ndarray],
    path: str | Path,
    resolution: int = 256,
    bound: float = 1.0,
    title: str | None = None,
    batch_size: int = schema_default("evaluate", "batch_size"),
    figsize: tuple[float, float] = (10.0, 10.6),
    dpi: int = 100,
) -> Path:
    """Three center slices of the ground-truth SDF, the predicted SDF and their absolute error.

    Rows: the planes x = 0, y = 0 and z = 0. Columns: ground truth, prediction, |prediction -
    ground truth|. Truth and prediction share one diverging colour scale centered at 0 (blue
    inside, red outside), the error has its own sequential scale from 0; both colour bars are in
    normalized units. Zero level sets are drawn on top: the truth's (solid black) on the truth
    and error panels, the prediction's (dashed green) on the prediction and error panels.
    NaN values show as grey.

    Parameters
    ----------
    gt_fn, pred_fn : callable
        (M, 3) float32 points, normalized units -> (M,) signed distances (< 0 inside).
    path : str or Path
        Output PNG, written atomically; parent folders are created.
    resolution : int
        Pixels per slice side (evaluation points per axis).
    bound : float
        Slices cover [-bound, bound]^2, normalized units.
    title : str, optional
        Figure title (e.g. "hashgrid / torus").
    batch_size : int
        Points per call of each field.
    figsize : (float, float)
        Inches; the PNG is ``figsize * dpi`` pixels.
    dpi : int

    Returns
    -------
    Path
        ``path``.
    """
    # All three slices in one array: each field is called once per batch_size points, so a
    # ground truth that builds a query structure per call builds it once per figure.
    points = np.stack(
        [slice_points(normal_axis, resolution, bound) for normal_axis, *_ in SLICE_AXES]
    )
    gt = list(_evaluate(gt_fn, points, batch_size))
    pred = list(_evaluate(pred_fn, points, batch_size))
    error = [np.abs(p - g) for p, g in zip(pred, gt, strict=True)]

    # One scale for all rows, so slices are comparable; symmetric so that 0 is white.
    sdf_limit = _finite_max(gt + pred, default=1.0)
    sdf_norm = Normalize(-sdf_limit, sdf_limit)
    error_norm = Normalize(0.0, _finite_max(error, default=1e-6))
    extent = (-bound, bound, -bound, bound)
    # Copies with NaN shown grey (the registered colormaps are left untouched).
    sdf_cmap = colormaps["RdBu_r"].with_extremes(bad="0.6")
    error_cmap = colormaps["viridis"].with_extremes(bad="0.6")

    # A fixed layout: matplotlib's constrained layout costs ~0.6 s per figure, a sixth of the job.
    fig = Figure(figsize=figsize)
    # Rows differ in their horizontal axis (y, x, x): share only within a row.
    layout = {
        "left": 0.1,
        "right": 0.98,
        "top": 0.91,
        "bottom": 0.15,
        "wspace": 0.1,
        "hspace": 0.42,
    }
    axes = fig.subplots(3, 3, sharey="row", gridspec_kw=layout)
    iso_levels = np.arange(-math.floor(sdf_limit / ISO_STEP), math.floor(sdf_limit / ISO_STEP) + 1)
    iso_levels = iso_levels[iso_levels != 0] * ISO_STEP
    sdf_image = error_image = None
    for row, (normal_axis, horizontal, vertical) in enumerate(SLICE_AXES):
        panels = (
            (gt[row], sdf_norm, sdf_cmap, "ground truth", (GT_CONTOUR, gt[row])),
            (pred[row], sdf_norm, sdf_cmap, "prediction", (PRED_CONTOUR, pred[row])),
            (error[row], error_norm, error_cmap, "|prediction − truth|", None),
        )
        for col, (values, norm, cmap, name, contour) in enumerate(panels):
            ax = axes[row, col]
            image = ax.imshow(
                np.ma.masked_invalid(values),
                origin="lower",
                extent=extent,
                cmap=cmap,
                norm=norm,
                interpolation="nearest",
            )
            if contour and np.isfinite(values).any() and len(iso_levels):
                ax.contour(
                    np.ma.masked_invalid(values),
                    levels=iso_levels,
                    extent=extent,
                    colors="0.25",
                    linewidths=0.4,
                    alpha=0.35,
                )
            # The error panel carries both zero contours; the others their own.
            contours = [contour] if contour else [(GT_CONTOUR, gt[row]), (PRED_CONTOUR, pred[row])]
            for style, field in contours:
                if _crosses_zero(field):
                    lines = ax.contour(
                        np.ma.masked_invalid(field), levels=[0.0], extent=extent, **style
                    )
                    lines.set_path_effects(_HALO)
            if col == 2:
                finite = values[np.isfinite(values)]
                stats = (
                    f"mean {finite.mean():.3g}, max {finite.max():.3g}" if finite.size else "n/a"
                )
                ax.set_title(f"{name}\n{stats}", fontsize=9)
                error_image = image
            else:
                ax.set_title(name, fontsize=9)
                sdf_image = image
            ax.set_aspect("equal")
            ax.set_xlabel(f"{horizontal} [{UNITS}]", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{normal_axis} = 0\n{vertical} [{UNITS}]")
    # One legend for the contour styles, on the top error panel.
    axes[0, 2].legend(
        handles=[
            Line2D([], [], color=GT_CONTOUR["colors"], linestyle="-", label="truth = 0"),
            Line2D([], [], color=PRED_CONTOUR["colors"], linestyle="--", label="prediction = 0"),
            Line2D(
                [], [], color="0.25", alpha=0.5, linewidth=0.6, label=f"SDF steps of {ISO_STEP}"
            ),
        ],
        loc="upper right",
        fontsize=7,
        framealpha=0.85,
    )
    # Colour bars under the bottom row: the SDF's under the first two columns, the error's under
    # the third (figure fractions of the grid above).
    left, middle, right = (axes[2, col].get_position() for col in range(3))
    sdf_axes = fig.add_axes((left.x0 + 0.05, 0.06, middle.x1 - left.x0 - 0.1, 0.015))
    sdf_bar = fig.colorbar(
        sdf_image,
        cax=sdf_axes,
        orientation="horizontal",
        label=f"SDF [{UNITS}]  (blue: inside, red: outside)",
    )
    sdf_bar.ax.locator_params(nbins=9)
    error_axes = fig.add_axes((right.x0 + 0.02, 0.06, right.x1 - right.x0 - 0.04, 0.015))
    error_bar = fig.colorbar(
        error_image, cax=error_axes, orientation="horizontal", label=f"|error| [{UNITS}]"
    )
    error_bar.ax.locator_params(nbins=5)
    fig.suptitle(title or "SDF slices through the center")
    return _save_png(fig, path, dpi)


def summary_figure_size(n_models: int, n_objects: int, n_metrics: int = 3) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_summary`: a row per model, a column per metric."""
    width = max(4.0, 1.0 + 0.35 * max(n_objects, 1)) * max(n_metrics, 1)
    height = 0.8 + 2.9 * max(n_models, 1)
    return width, height


def plot_summary(summary_df: pd.DataFrame, path: str | Path, dpi: int = 100) -> Path:
    """Per-object bar charts of the headline scores, one row of panels per model.

    Columns of panels: surface F1, volume F1 and Chamfer L1 (the Chamfer column is optional and
    left out when absent). The objects share one order (sorted) and the panels of a metric share
    their y range, so models compare row to row. A missing score (NaN, e.g. a failed object) has
    no bar and is marked "n/a" (or "failed" when ``status`` says so).

    Parameters
    ----------
    summary_df : pandas.DataFrame
        One row per (model, object): columns ``model``, ``object``, ``surface_f1``,
        ``volume_f1``, optionally ``chamfer_l1`` (normalized units) and ``status``.
    path : str or Path
        Output PNG, written atomically.
    dpi : int
        The PNG is ``summary_figure_size(n_models, n_objects, n_metrics) * dpi`` pixels.

    Returns
    -------
    Path
        ``path``.
    """
    import pandas as pd  # here: the per-object slice jobs never need it

    frame = summary_df.copy()
    metrics = [m for m in SUMMARY_METRICS if m[0] in frame.columns]
    for key, _, _ in metrics:
        frame[key] = pd.to_numeric(frame[key], errors="coerce")
    models = list(dict.fromkeys(frame["model"].astype(str))) if "model" in frame else []
    objects = sorted(set(frame["object"].astype(str))) if "object" in frame else []
    title = "Per-object scores by model (dotted line: model mean over objects)"
    if len(objects) > MAX_BAR_OBJECTS and "surface_f1" in frame:
        # Failed objects (no score) first, then the lowest mean surface F1 over the models.
        score = frame.groupby(frame["object"].astype(str))["surface_f1"].mean().fillna(-1.0)
        objects = sorted(score.sort_values(kind="stable").index[:MAX_BAR_OBJECTS])
        title = (
            f"The {len(objects)} objects with the lowest surface F1 (or failed) of "
            f"{len(score)} (dotted line: model mean over them)"
        )
    fig = Figure(
        figsize=summary_figure_size(len(models), len(objects), len(metrics)), layout="constrained"
    )
    if not models or not objects or not metrics:
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no results to plot", ha="center", va="center", fontsize=14)
        return _save_png(fig, path, dpi)

    axes = np.atleast_2d(fig.subplots(len(models), len(metrics), squeeze=False))
    x = np.arange(len(objects))
    for col, (key, label, unit) in enumerate(metrics):
        values = frame[key].to_numpy(dtype=float)
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
        ylim = (0.0, 1.08) if key.endswith("_f1") else (0.0, 1.18 * top if top > 0 else 1.0)
        for row, model in enumerate(models):
            ax = axes[row, col]
            rows = frame[frame["model"].astype(str) == model].set_index(
                frame.loc[frame["model"].astype(str) == model, "object"].astype(str)
            )
            rows = rows[~rows.index.duplicated(keep="last")].reindex(objects)
            heights = rows[key].to_numpy(dtype=float)
            ok = np.isfinite(heights)
            bars = ax.bar(x[ok], heights[ok], color=f"C{col}", width=0.7)
            if len(objects) <= 16:
                fmt = "{:.3f}" if key.endswith("_f1") else "{:.2g}"
                ax.bar_label(bars, labels=[fmt.format(h) for h in heights[ok]], fontsize=7)
            status = rows["status"] if "status" in rows else pd.Series(index=rows.index, dtype=str)
            for xi in x[~ok]:
                failed = str(status.iloc[xi]) not in ("ok", "nan", "")
                ax.text(
                    xi,
                    0.02 * ylim[1],
                    "failed" if failed else "n/a",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="firebrick" if failed else "0.4",
                )
            mean = np.nanmean(heights) if ok.any() else math.nan
            if ok.any():
                ax.axhline(mean, color="0.3", linewidth=0.8, linestyle=":")
            ax.set_ylim(*ylim)
            tilt = len(objects) > 4  # long names collide when upright
            ax.set_xticks(
                x, objects, rotation=45 if tilt else 0, ha="right" if tilt else "center", fontsize=8
            )
            ax.set_title(f"{model}: {label} (mean {mean:.3g})", fontsize=9)
            ax.set_ylabel(unit, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return _save_png(fig, path, dpi)


def plot_collection(summary_df: pd.DataFrame, path: str | Path, dpi: int = 100) -> Path:
    """The collection at a glance: per model, histograms of surface F1, volume F1, Chamfer L1
    and training time over the trained objects; below, the failed objects counted by stage and
    reason.

    Each histogram marks the median (solid) and the worst object (dashed) and names the count.
    Chamfer L1 and training time use logarithmic bins.

    Parameters
    ----------
    summary_df : pandas.DataFrame
        ``summary.csv``: columns ``model``, ``object``, ``status``, ``failed_stage``, ``error``
        and the metrics of :data:`COLLECTION_METRICS` (normalized units, seconds).
    path : str or Path
        Output PNG, written atomically.
    dpi : int

    Returns
    -------
    Path
        ``path``.
    """
    import pandas as pd

    from neusdf.evaluation.summary import failure_counts

    frame = summary_df.copy()
    for key, *_ in COLLECTION_METRICS:
        frame[key] = pd.to_numeric(frame.get(key), errors="coerce")
    models = list(dict.fromkeys(frame["model"].astype(str)))
    counts = failure_counts(frame).head(SHOWN_REASONS)
    heights = [3.0] * max(len(models), 1) + ([0.8 + 0.28 * len(counts)] if len(counts) else [])
    fig = Figure(figsize=(4.2 * len(COLLECTION_METRICS), 0.6 + sum(heights)), layout="constrained")
    axes = fig.subplots(len(heights), len(COLLECTION_METRICS), squeeze=False, height_ratios=heights)
    if not models:
        axes[0, 0].text(0.5, 0.5, "no results", ha="center", va="center", fontsize=14)
    for row, model in enumerate(models):
        ok = frame[(frame["model"].astype(str) == model) & (frame["status"] == "ok")]
        n_failed = int(((frame["model"].astype(str) == model) & (frame["status"] != "ok")).sum())
        for col, (key, name, xlabel, log) in enumerate(COLLECTION_METRICS):
            ax = axes[row, col]
            values = ok[key].to_numpy(dtype=float)
            values = values[np.isfinite(values) & ((values > 0) if log else True)]
            if len(values) == 0:
                ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{model}: {name}", fontsize=9)
                continue
            lo, hi = float(values.min()), float(values.max())
            if log:
                bins = np.geomspace(lo, hi * 1.0001, 31) if hi > lo else 10
                ax.set_xscale("log")
            else:
                bins = np.linspace(lo, hi, 31) if hi > lo else 10
            ax.hist(values, bins=bins, color=f"C{col}")
            if log:
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            worst = lo if key.endswith("_f1") else hi
            ax.axvline(float(np.median(values)), color="0.2", linewidth=1.0)
            ax.axvline(worst, color="firebrick", linewidth=1.0, linestyle="--")
            ax.set_title(
                f"{model}: {name}, {len(values)} objects ({n_failed} failed)\n"
                f"median {np.median(values):.4g}, worst {worst:.4g}",
                fontsize=9,
            )
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("objects", fontsize=8)
    if len(counts):
        gs = axes[-1, 0].get_gridspec()
        for ax in axes[-1, :]:
            ax.remove()
        ax = fig.add_subplot(gs[-1, :])
        labels = [f"{r.stage}: {r.reason}"[:90] for r in counts.itertuples()]
        y = np.arange(len(counts))[::-1]
        ax.barh(y, counts["objects"], color="firebrick", height=0.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel("failed objects", fontsize=8)
        ax.set_title("Failures by stage and reason (most frequent first)", fontsize=9)
    fig.suptitle("The collection: distributions over the trained objects (solid: median, "
                 "dashed: worst), and the failures")  # fmt: skip
    return _save_png(fig, path, dpi)
