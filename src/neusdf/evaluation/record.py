"""The per-object metrics record: every key, its unit and meaning, defined once.

``results/metrics/{model}/{obj}.json`` holds exactly the keys of :data:`METRICS`;
``results/summary.csv`` has the columns flagged ``summary`` in this order (the order is part of
the contract with users: extend only at the end); the README's column table is
:func:`markdown_table` (a test holds them equal).
"""

from __future__ import annotations

from typing import NamedTuple

from neusdf.evaluation.scores import DISTANCE_BANDS


class Metric(NamedTuple):
    """One key of the metrics record."""

    name: str
    meaning: str
    unit: str = ""
    summary: bool = True
    text: bool = False  # a string column (empty when missing), not a number


def _scores(split: str, where: str) -> tuple[Metric, ...]:
    return (
        Metric(f"{split}_precision", f"precision of the inside class, {where}", "[0, 1]"),
        Metric(f"{split}_recall", f"recall of the inside class, {where}", "[0, 1]"),
        Metric(f"{split}_accuracy", f"sign accuracy, {where}", "[0, 1]"),
        Metric(f"{split}_iou", f"IoU of the inside class, {where}", "[0, 1]"),
        Metric(f"{split}_mae", f"mean absolute SDF error, {where}", "normalized units"),
    )


_NEAR, _UNIFORM = "near-surface test points", "uniform test points"


def _distance_quality() -> tuple[Metric, ...]:
    metrics = []
    for band, low, high in DISTANCE_BANDS:
        where = f"{low:g} ≤ \\|t\\| < {high:g}" if high != float("inf") else f"\\|t\\| ≥ {low:g}"
        for stat, what in (("p50", "median"), ("p99", "99th percentile"), ("max", "largest")):
            metrics.append(
                Metric(
                    f"sdf_error_{stat}_{band}",
                    f"{what} of \\|prediction − t\\| over the test points (both sets) with {where}",
                    "normalized units",
                )
            )
    metrics += [
        Metric(
            "normal_angle_mean",
            "mean angle between the field's normal (central differences) and the exact one, "
            "near-surface test points",
            "degrees",
        ),
        Metric("normal_angle_p95", "95th percentile of that angle", "degrees"),
    ]
    return tuple(metrics)


METRICS: tuple[Metric, ...] = (
    Metric("model", "the named model configuration", text=True),
    Metric("object", "the object's name, from the mesh's path (docs/datasets.md)", text=True),
    Metric("status", "`ok`, or `failed` (then `failed_stage` and `error` say why)", text=True),
    Metric("surface_f1", f"sign F1, inside = positive class, {_NEAR}", "[0, 1]"),
    Metric("volume_f1", f"sign F1, inside = positive class, {_UNIFORM}", "[0, 1]"),
    *_scores("surface", _NEAR),
    *_scores("volume", _UNIFORM),
    Metric("train_seconds", "wall time of the training loop (no loading or saving)", "s"),
    Metric("train_points_per_second", "training points processed per second", "1/s"),
    Metric("final_loss", "mean training loss of the last epoch"),
    Metric("inference_ms", "median time of one timed inference run, after warm-up", "ms"),
    Metric("inference_ms_iqr", "interquartile range of those runs", "ms"),
    Metric("inference_points_per_second", "`inference_points` / median time", "1/s"),
    Metric("n_parameters", "trainable scalars, hash table included"),
    Metric(
        "checkpoint_bytes",
        "size of the checkpoint file (its header records the training time as text, so two runs "
        "can differ by a few bytes)",
        "bytes",
    ),
    Metric("peak_memory_bytes", "peak resident memory of the evaluate job", "bytes"),
    Metric("train_backend", "backend that trained the model", text=True),
    Metric("train_device", "device that trained the model", text=True),
    Metric("eval_backend", "backend of the evaluation", text=True),
    Metric("eval_device", "device of the evaluation", text=True),
    Metric("sample_engine", "ground-truth distance engine", text=True),
    Metric("sign_method", "ground-truth inside test used (`parity` or `winding`)", text=True),
    Metric("seed", "the config seed"),
    Metric("failed_stage", "stage that failed (empty when `ok`)", text=True),
    Metric("error", "one-line reason of a failure (empty when `ok`)", text=True),
    Metric("chamfer_l1", "symmetric Chamfer distance (mean of both directions)", "normalized"),
    Metric("chamfer_l2", "the same with squared distances", "normalized²"),
    Metric("hausdorff_95", "larger of the two directional 95th percentiles", "normalized"),
    Metric("hausdorff_max", "larger of the two directional maxima", "normalized"),
    Metric(
        "normal_consistency", "mean \\|cos\\| between sample and nearest-face normals", "[0, 1]"
    ),
    Metric("pred_mesh_empty", "the zero level set is empty (geometric metrics are NaN)"),
    Metric(
        "kind", "model family: `hashgrid`, `mlp`, `deepsdf`, `densegrid`, `exact_grid`", text=True
    ),
    *_distance_quality(),
    # In the JSON only.
    Metric("surface_n", f"number of {_NEAR}", summary=False),
    Metric("volume_n", f"number of {_UNIFORM}", summary=False),
    Metric("inference_points", "points per timed inference run", summary=False),
    Metric("inference_repeats", "timed inference runs", summary=False),
    Metric("n_encoding_parameters", "parameters of the encoding", summary=False),
    Metric("n_network_parameters", "parameters of the network", summary=False),
    Metric("peak_gpu_memory_bytes", "peak CUDA memory (0 on CPU)", "bytes", summary=False),
    Metric("threads", "CPU threads of the evaluation", summary=False),
    Metric("geometry_samples", "area-uniform samples per surface", summary=False),
    Metric("neusdf_version", "package version", summary=False, text=True),
    *(
        Metric(
            f"sdf_error_n_{band}", f"test points in the band of `sdf_error_*_{band}`", summary=False
        )
        for band, _, _ in DISTANCE_BANDS
    ),
    Metric("normal_points", "near-surface test points of the normal angles", summary=False),
)

METRIC_NAMES = tuple(m.name for m in METRICS)
SUMMARY_COLUMNS = [m.name for m in METRICS if m.summary]
TEXT_COLUMNS = tuple(m.name for m in METRICS if m.text and m.summary)


def make_record(values: dict) -> dict:
    """The metrics record in :data:`METRICS` order.

    Raises
    ------
    KeyError
        A key is missing or unknown: the record and its definition must not drift apart.
    """
    missing = [name for name in METRIC_NAMES if name not in values]
    unknown = sorted(set(values) - set(METRIC_NAMES))
    if missing or unknown:
        raise KeyError(f"metrics record: missing {missing}, unknown {unknown}")
    return {name: values[name] for name in METRIC_NAMES}


def markdown_table() -> str:
    """The README's table of summary.csv columns."""
    lines = ["| column | meaning | unit |", "|---|---|---|"]
    lines += [f"| `{m.name}` | {m.meaning} | {m.unit} |" for m in METRICS if m.summary]
    return "\n".join(lines)
