"""Sign-classification scores, SDF errors and honest inference timing.

Sign convention: SDF < 0 is inside, and inside is the positive class of F1.
"""

from __future__ import annotations

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
