"""Sign-classification scores, SDF errors and honest inference timing.

Sign convention: SDF < 0 is inside, and inside is the positive class of F1.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import numpy as np


def confusion_counts(pred_sdf: np.ndarray, true_sdf: np.ndarray) -> dict[str, int]:
    """True/false positives/negatives with inside (sdf < 0) as the positive class.

    Parameters
    ----------
    pred_sdf, true_sdf : (N,) float arrays
    """
    pred_in = np.asarray(pred_sdf) < 0
    true_in = np.asarray(true_sdf) < 0
    return {
        "tp": int(np.sum(pred_in & true_in)),
        "fp": int(np.sum(pred_in & ~true_in)),
        "fn": int(np.sum(~pred_in & true_in)),
        "tn": int(np.sum(~pred_in & ~true_in)),
    }


def _ratio(num: float, den: float) -> float:
    # An empty denominator means the score is undefined (e.g. no inside points at all): NaN, not 0.
    return float(num / den) if den > 0 else float("nan")


def sign_scores(pred_sdf: np.ndarray, true_sdf: np.ndarray) -> dict[str, float]:
    """F1, precision, recall, accuracy and IoU of the inside class, and SDF errors.

    Returns
    -------
    dict
        ``f1``, ``precision``, ``recall``, ``accuracy``, ``iou`` (all in [0, 1], NaN when
        undefined), ``mae`` (mean |pred - true|, normalized units), ``n`` (point count).
    """
    c = confusion_counts(pred_sdf, true_sdf)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    n = tp + fp + fn + tn
    err = np.abs(np.asarray(pred_sdf, dtype=np.float64) - np.asarray(true_sdf, dtype=np.float64))
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, n),
        "iou": _ratio(tp, tp + fp + fn),
        "mae": float(err.mean()) if n else float("nan"),
        "n": int(n),
    }


# Bands of the true distance |t| (normalized units) in which distance errors are reported: the
# near-surface shell where signs are decided, then farther out, where sphere tracing and
# collision queries step by the field's value.
DISTANCE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("near", 0.0, 0.02),
    ("shell", 0.02, 0.1),
    ("mid", 0.1, 0.3),
    ("far", 0.3, math.inf),
)
DISTANCE_STATS = ("p50", "p99", "max")


def distance_errors(pred_sdf: np.ndarray, true_sdf: np.ndarray) -> dict[str, float]:
    """Absolute distance error by band of the true distance (:data:`DISTANCE_BANDS`).

    Returns
    -------
    dict
        ``sdf_error_{p50,p99,max}_{band}`` (normalized units; NaN for a band without points)
        and ``sdf_error_n_{band}`` (points in the band).
    """
    true = np.abs(np.asarray(true_sdf, dtype=np.float64))
    error = np.abs(np.asarray(pred_sdf, dtype=np.float64) - np.asarray(true_sdf, np.float64))
    record: dict[str, float] = {}
    for band, low, high in DISTANCE_BANDS:
        inside = error[(true >= low) & (true < high)]
        stats = [*np.percentile(inside, [50, 99]), inside.max()] if len(inside) else [math.nan] * 3
        for name, value in zip(DISTANCE_STATS, stats, strict=True):
            record[f"sdf_error_{name}_{band}"] = float(value)
        record[f"sdf_error_n_{band}"] = len(inside)
    return record


def time_inference(
    run: Callable[[], object],
    device: str,
    repeats: int = 5,
    warmup: int = 1,
) -> dict[str, float]:
    """Wall time of ``run()`` after warm-up runs (JIT compilation, caches, allocator).

    On CUDA the device is synchronized before and after each run so queued kernels count.

    Returns
    -------
    dict
        ``median_ms``, ``min_ms``, ``max_ms``, ``iqr_ms`` over ``repeats`` timed runs and
        ``repeats``.
    """
    cuda = device.startswith("cuda")
    if cuda:
        import torch  # only here: CPU jobs evaluate without torch
    for _ in range(warmup):
        run()
    times = []
    for _ in range(max(1, repeats)):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    q = np.percentile(times, [25, 75])
    return {
        "median_ms": float(statistics.median(times)),
        "min_ms": float(min(times)),
        "max_ms": float(max(times)),
        "iqr_ms": float(q[1] - q[0]),
        "repeats": len(times),
    }


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far, bytes (Linux ru_maxrss is in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
