"""Stage 5, evaluate: sign scores, inference timing and surface metrics of one trained model,
as one metrics record (:mod:`neusdf.evaluation.record`)."""

from __future__ import annotations

import logging
import os

import numpy as np

from neusdf.evaluation.record import make_record
from neusdf.evaluation.scores import distance_errors, peak_rss_bytes, sign_scores, time_inference
from neusdf.evaluation.surface import Surface, geometric_metrics, normal_angles, truth_surface
from neusdf.io import read_json, write_json
from neusdf.mesh.load import read_normalized
from neusdf.mesh.ply import read_ply
from neusdf.mesh.samples import read_attrs, read_samples
from neusdf.mesh.transform import Normalization
from neusdf.nn.field import Field, load_field
from neusdf.pipeline.compute import Compute
from neusdf.version import __version__

log = logging.getLogger(__name__)


def score_field(field: Field, samples_path: str, truth: Surface, normal_points: int) -> dict:
    """Scores of a field on both test sets: ``{surface,volume}_{f1,...,mae,n}`` (signs and mean
    errors per set), ``sdf_error_*`` (distance errors by band of the true distance, both sets)
    and ``normal_angle_*`` (against the exact normals, the first ``normal_points`` near-surface
    test points)."""
    record, predicted, true = {}, [], []
    for split in ("surface", "volume"):
        test = read_samples(samples_path, f"test/{split}")
        values = field(test.points)
        for key, value in sign_scores(values, test.sdf).items():
            record[f"{split}_{key}"] = value
        predicted.append(values)
        true.append(test.sdf)
        if split == "surface":
            points, sdf = test.points[:normal_points], test.sdf[:normal_points]
            record.update(normal_angles(field.gradient(points), points, sdf, truth))
    record.update(distance_errors(np.concatenate(predicted), np.concatenate(true)))
    return record


def time_model(field: Field, samples_path: str, cfg: dict) -> dict:
    """Median and IQR of timed inference runs on the first ``timing_points`` volume test points
    (``cfg = config["evaluate"]``), after warm-up runs; on a GPU the points are there first."""
    points = read_samples(samples_path, "test/volume").points[: int(cfg["timing_points"])]
    if field.device.startswith("cuda"):
        import torch

        points = torch.as_tensor(points).to(field.device)
    timing = time_inference(
        lambda: field.network(points),
        device=field.device,
        repeats=int(cfg["timing_repeats"]),
        warmup=int(cfg["timing_warmup"]),
    )
    return {
        "inference_points": len(points),
        "inference_ms": timing["median_ms"],
        "inference_ms_iqr": timing["iqr_ms"],
        "inference_points_per_second": len(points) / (timing["median_ms"] / 1e3),
        "inference_repeats": timing["repeats"],
    }


def mesh_geometry(
    pred_mesh_path: str,
    pred_meta_path: str,
    truth: Surface,
    normalization: Normalization,
    n_samples: int,
    seed: int,
    threads: int,
) -> dict:
    """Surface metrics of an extracted mesh against the normalized input mesh (``truth``,
    prepared with ``n_samples`` and ``seed``), normalized units.

    An extracted mesh written in the original frame (its JSON record says so) is mapped back
    first.
    """
    pred_vertices, pred_faces = read_ply(pred_mesh_path)
    if read_json(pred_meta_path).get("frame") == "original":
        pred_vertices = normalization.apply(pred_vertices)
    metrics = geometric_metrics(
        (pred_vertices, pred_faces), truth, n=n_samples, seed=seed, threads=threads
    )
    keep = ("chamfer_l1", "chamfer_l2", "hausdorff_95", "hausdorff_max", "normal_consistency")
    out = {key: float(metrics[key]) for key in keep}
    out["pred_mesh_empty"] = bool(metrics["pred_empty"])
    out["geometry_samples"] = int(n_samples)
    return out


def evaluate_object(
    checkpoint_path: str,
    samples_path: str,
    pred_mesh_path: str,
    pred_meta_path: str,
    gt_mesh_path: str,
    metrics_out: str,
    obj: str,
    model_name: str,
    cfg: dict,
    geometry_cfg: dict,
    compute: Compute,
    seed: int,
) -> dict:
    """Score a trained model on the object's independent test sets; write the metrics JSON.

    Parameters
    ----------
    cfg : dict
        ``config["evaluate"]``: ``batch_size``, ``timing_points``, ``timing_repeats``,
        ``timing_warmup``, ``normal_points``.
    geometry_cfg : dict
        ``config["geometry"]``: ``n_samples``.

    Returns
    -------
    dict
        The metrics record (keys: :data:`neusdf.evaluation.record.METRICS`).
    """
    field = load_field(
        checkpoint_path,
        backend=compute.backend,
        device=compute.device,
        threads=compute.threads,
        batch_size=int(cfg["batch_size"]),
    )
    on_gpu = field.device.startswith("cuda")
    if on_gpu:
        import torch

        torch.cuda.reset_peak_memory_stats()  # the peak from here on includes the weights
    record = {"object": obj, "model": model_name, "status": "ok", "error": "", "failed_stage": ""}
    n_samples = int(geometry_cfg["n_samples"])
    truth = truth_surface(read_normalized(gt_mesh_path), n_samples, seed)
    record.update(score_field(field, samples_path, truth, int(cfg["normal_points"])))
    record.update(time_model(field, samples_path, cfg))
    record.update(
        mesh_geometry(
            pred_mesh_path,
            pred_meta_path,
            truth,
            field.normalization,
            n_samples,
            seed,
            compute.threads,
        )
    )
    n_total, n_encoding = field.n_parameters, field.n_table_parameters
    attrs = read_attrs(samples_path)
    training = field.checkpoint.meta["training"]
    record.update(
        {
            "n_parameters": n_total,
            "n_encoding_parameters": n_encoding,
            "n_network_parameters": n_total - n_encoding,
            "checkpoint_bytes": os.path.getsize(checkpoint_path),
            "peak_memory_bytes": peak_rss_bytes(),
            "peak_gpu_memory_bytes": (int(torch.cuda.max_memory_allocated()) if on_gpu else 0),
            "train_seconds": float(training["seconds"]),
            "train_points_per_second": float(training["points_per_second"]),
            "final_loss": float(training["final_loss"]),
            "kind": training.get("kind", "hashgrid"),  # checkpoints from before kinds existed
            "train_backend": training["backend"],
            "train_device": training["device"],
            "eval_backend": field.backend,
            "eval_device": field.device,
            "threads": compute.threads,
            "sample_engine": attrs.get("engine"),
            "sign_method": attrs.get("sign_method"),
            "seed": int(training["seed"]),
            "neusdf_version": __version__,
        }
    )
    record = make_record(record)
    write_json(metrics_out, record)
    log.info(
        "%s/%s: surface F1 %.4f, volume F1 %.4f, %.3g points/s",
        model_name,
        obj,
        record["surface_f1"],
        record["volume_f1"],
        record["inference_points_per_second"],
    )
    return record
