"""One function per pipeline stage: what each Snakemake script calls, and what tests call.

Each function reads its inputs through the module that owns their format, computes, and writes
its outputs atomically. None of them knows about Snakemake.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import trimesh

from neusdf import __version__, groundtruth
from neusdf.encoding import resolve_backend
from neusdf.evaluation.extraction import (
    extract_zero_level_set,
    to_normalized_frame,
    to_original_frame,
    write_mesh,
)
from neusdf.evaluation.plots import plot_sdf_slices, plot_summary
from neusdf.evaluation.scores import peak_rss_bytes, sign_scores, time_inference
from neusdf.evaluation.surface import geometric_metrics
from neusdf.io import atomic_path, read_json, write_json
from neusdf.mesh.load import normalize_file, read_normalized
from neusdf.mesh.points import sample_near_surface, sample_volume
from neusdf.mesh.samples import SOURCE_SURFACE, SOURCE_VOLUME, PointSet, read_attrs, read_samples
from neusdf.mesh.samples import write_samples as write_sample_file
from neusdf.nn.models import (
    build_model,
    count_parameters,
    load_checkpoint,
    predict_sdf,
    resolve_device,
    save_checkpoint,
)
from neusdf.nn.training import TrainingResult, train_sdf
from neusdf.seeding import derive_seed

log = logging.getLogger(__name__)

__all__ = [
    "evaluate_object",
    "extract_object",
    "normalize_object",
    "plot_object",
    "plot_summary_file",
    "sample_object",
    "set_threads",
    "train_object",
]


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch and in the numba kernels."""
    torch.set_num_threads(max(1, int(threads)))
    try:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover - numba is a dependency
        pass


def normalize_object(source: str, mesh_out: str, meta_out: str, half_extent: float) -> dict:
    """Stage 1: load, clean, center and scale one mesh (:func:`neusdf.mesh.load.normalize_file`)."""
    record = normalize_file(source, mesh_out, meta_out, half_extent=half_extent)
    log.info(
        "%s: %d vertices, %d faces, watertight=%s, scale=%.6g",
        source,
        record["n_vertices"],
        record["n_faces"],
        record["watertight"],
        record["scale"],
    )
    return record


def ground_truth_sdf(
    vertices: np.ndarray, faces: np.ndarray, meta: dict, sample_cfg: dict, points: np.ndarray
) -> tuple[np.ndarray, str]:
    """Ground-truth SDF (N,) float32 and the sign method used, as configured in
    ``config["sample"]`` (``engine``, ``sign``, ``threads``) for a normalized mesh and its
    JSON record ``meta``."""
    return groundtruth.signed_distance(
        vertices,
        faces,
        points,
        engine=sample_cfg["engine"],
        sign=sample_cfg["sign"],
        watertight=bool(meta["watertight"]),
        threads=int(sample_cfg.get("threads", 2)),
        name=meta.get("source", "<mesh>"),
    )


def sample_object(mesh_path: str, meta_path: str, out_path: str, cfg: dict, seed: int) -> dict:
    """Stage 2: draw train/test point sets and their ground-truth SDF into one HDF5 file.

    Parameters
    ----------
    cfg : dict
        ``config["sample"]``: ``train_surface``, ``train_volume``, ``test_surface``,
        ``test_volume`` (counts), ``near_surface_std``, ``engine``, ``sign``.
    seed : int
        The config seed; every set gets its own derived seed, recorded in the file.

    Returns
    -------
    dict
        The attributes written to the file.
    """
    vertices, faces = read_normalized(mesh_path)
    meta = read_json(meta_path)
    std = float(cfg["near_surface_std"])
    names = ("train/surface", "train/volume", "test/surface", "test/volume")
    seeds = {name: derive_seed(seed, "sample", name) for name in names}
    counts = {
        "train/surface": int(cfg["train_surface"]),
        "train/volume": int(cfg["train_volume"]),
        "test/surface": int(cfg["test_surface"]),
        "test/volume": int(cfg["test_volume"]),
    }
    points = {}
    for name in names:
        if name.endswith("surface"):
            points[name] = sample_near_surface(vertices, faces, counts[name], std, seeds[name])
        else:
            points[name] = sample_volume(counts[name], seeds[name])
    everything = np.concatenate([points[name] for name in names])
    sdf_all, sign_method = ground_truth_sdf(vertices, faces, meta, cfg, everything)
    sdf = dict(
        zip(names, np.split(sdf_all, np.cumsum([counts[k] for k in names])[:-1]), strict=True)
    )
    train = PointSet(
        points=np.concatenate([points["train/surface"], points["train/volume"]]),
        sdf=np.concatenate([sdf["train/surface"], sdf["train/volume"]]),
        source=np.concatenate(
            [
                np.full(counts["train/surface"], SOURCE_SURFACE, np.uint8),
                np.full(counts["train/volume"], SOURCE_VOLUME, np.uint8),
            ]
        ),
    )
    attrs = {
        "engine": cfg["engine"],
        "sign_method": sign_method,
        "near_surface_std": std,
        "counts": counts,
        "seeds": seeds,
        "seed": int(seed),
        "mesh_sha256": meta["source_sha256"],
        "source": meta["source"],
        "inside_fraction_volume": float(np.mean(sdf["test/volume"] < 0)),
    }
    write_sample_file(
        out_path,
        {
            "train": train,
            "test/surface": PointSet(points["test/surface"], sdf["test/surface"]),
            "test/volume": PointSet(points["test/volume"], sdf["test/volume"]),
        },
        attrs,
    )
    log.info(
        "%s: sign=%s, inside fraction (volume test) %.4f",
        out_path,
        sign_method,
        attrs["inside_fraction_volume"],
    )
    return attrs


def train_object(
    samples_path: str,
    meta_path: str,
    checkpoint_out: str,
    history_out: str,
    model_name: str,
    model_config: dict,
    backend: str,
    device: str,
    seed: int,
    threads: int | None = None,
    progress: bool = True,
    mesh_path: str | None = None,
    sample_cfg: dict | None = None,
) -> dict:
    """Stage 3: fit one model to one object's training set and save a checkpoint.

    A model of ``kind: exact_grid`` is not trained: its lattice is filled with the exact ground
    truth of the normalized mesh ``mesh_path`` (computed as ``sample_cfg = config["sample"]``
    says), and the time that takes is its training time.

    Returns
    -------
    dict
        The training record stored in the checkpoint (seconds, steps, final loss, backend, ...).
    """
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    model_seed = derive_seed(seed, "train", model_name)
    torch.manual_seed(model_seed)
    model = build_model(
        model_config, backend=backend, seed=model_seed % 2**31, device=device, threads=threads
    )
    log.info(
        "training %s (%s) with backend=%s on device=%s",
        model_name,
        model.kind,
        model.backend,
        device,
    )
    meta = read_json(meta_path)
    if model.trainable:
        train = read_samples(samples_path, "train")
        result = train_sdf(
            model,
            train.points,
            train.sdf,
            model_config["training"],
            seed=model_seed,
            device=device,
            progress=progress,
        )
        n_points = len(train.points) * int(model_config["training"]["epochs"])
    else:
        if mesh_path is None or sample_cfg is None:
            raise ValueError(f"a {model.kind!r} model needs the normalized mesh and sample config")
        result = fill_exact_grid(model, mesh_path, meta, sample_cfg)
        n_points = model.n_table_parameters()
    record = {
        "seconds": result.seconds,
        "steps": result.steps,
        "points_per_second": n_points / max(result.seconds, 1e-9),
        "final_loss": result.history[-1]["loss"] if result.history else float("nan"),
        "kind": model.kind,
        "backend": model.backend,
        "device": device,
        "seed": int(seed),
        "samples_sha256_source": read_attrs(samples_path).get("mesh_sha256"),
    }
    save_checkpoint(
        checkpoint_out,
        model,
        model_name,
        normalization={"center": meta["center"], "scale": meta["scale"]},
        training=record,
    )
    with atomic_path(history_out) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["epoch", "loss", "seconds", "points_per_second"]
        )
        writer.writeheader()
        writer.writerows(result.history)
    log.info("trained in %.2f s (%.3g points/s)", result.seconds, record["points_per_second"])
    return record


def fill_exact_grid(model, mesh_path: str, meta: dict, sample_cfg: dict) -> TrainingResult:
    """Fill an :class:`~neusdf.nn.baselines.ExactGrid` with the exact ground-truth SDF of a
    normalized mesh (same engine and sign as the samples); its "training" is that computation.

    Returns
    -------
    TrainingResult
        No history; ``seconds`` is the wall time of the lattice's ground truth.
    """
    vertices, faces = read_normalized(mesh_path)
    start = time.perf_counter()
    model.fill(lambda points: ground_truth_sdf(vertices, faces, meta, sample_cfg, points)[0])
    seconds = time.perf_counter() - start
    log.info("exact lattice %d^3 in %.1f s", model.resolution, seconds)
    return TrainingResult(history=[], seconds=seconds, steps=0)


def evaluate_object(
    checkpoint_path: str,
    samples_path: str,
    metrics_out: str,
    obj: str,
    model_name: str,
    cfg: dict,
    backend: str,
    device: str,
    threads: int | None = None,
    pred_mesh_path: str | None = None,
    gt_mesh_path: str | None = None,
    geometry_cfg: dict | None = None,
    seed: int = 0,
) -> dict:
    """Stage 4: score a trained model on the object's independent test sets.

    Parameters
    ----------
    cfg : dict
        ``config["evaluate"]``: ``batch_size``, ``timing_points``, ``timing_repeats``,
        ``timing_warmup``.
    pred_mesh_path, gt_mesh_path : str, optional
        Extracted zero level set and normalized input mesh; when both are given, geometric
        metrics (Chamfer, Hausdorff, normal consistency; normalized units) are added.
    geometry_cfg : dict, optional
        ``config["geometry"]``: ``n_samples``.

    Returns
    -------
    dict
        The flat metrics record written to ``metrics_out`` (keys documented in the README).
    """
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model, payload = load_checkpoint(
        checkpoint_path, backend=backend, device=device, threads=threads
    )
    batch_size = int(cfg["batch_size"])
    record: dict = {"object": obj, "model": model_name, "status": "ok", "error": ""}
    for split in ("surface", "volume"):
        test = read_samples(samples_path, f"test/{split}")
        pred = predict_sdf(model, test.points, batch_size=batch_size)
        for key, value in sign_scores(pred, test.sdf).items():
            record[f"{split}_{key}"] = value
    timing_points = read_samples(samples_path, "test/volume").points[: int(cfg["timing_points"])]
    points_t = torch.as_tensor(timing_points).to(device)
    timing = time_inference(
        lambda: predict_sdf(model, points_t, batch_size=batch_size),
        device=device,
        repeats=int(cfg["timing_repeats"]),
        warmup=int(cfg["timing_warmup"]),
    )
    if pred_mesh_path and gt_mesh_path:
        record.update(
            mesh_geometry(
                pred_mesh_path, gt_mesh_path, payload["normalization"], geometry_cfg, seed
            )
        )
    n_enc = model.n_table_parameters()
    attrs = read_attrs(samples_path)
    training = payload["training"]
    record.update(
        {
            "inference_points": len(timing_points),
            "inference_ms": timing["median_ms"],
            "inference_ms_iqr": timing["iqr_ms"],
            "inference_points_per_second": len(timing_points) / (timing["median_ms"] / 1e3),
            "inference_repeats": timing["repeats"],
            "n_parameters": count_parameters(model),
            "n_encoding_parameters": int(n_enc),
            "n_network_parameters": count_parameters(model) - int(n_enc),
            "checkpoint_bytes": os.path.getsize(checkpoint_path),
            "peak_memory_bytes": peak_rss_bytes(),
            "peak_gpu_memory_bytes": (
                int(torch.cuda.max_memory_allocated()) if device.startswith("cuda") else 0
            ),
            "train_seconds": float(training["seconds"]),
            "train_points_per_second": float(training["points_per_second"]),
            "final_loss": float(training["final_loss"]),
            "kind": training.get("kind", "hashgrid"),
            "train_backend": training["backend"],
            "train_device": training["device"],
            "eval_backend": model.backend,
            "eval_device": device,
            "threads": int(threads) if threads else torch.get_num_threads(),
            "sample_engine": attrs.get("engine"),
            "sign_method": attrs.get("sign_method"),
            "seed": int(training["seed"]),
            "neusdf_version": __version__,
        }
    )
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


def mesh_geometry(
    pred_mesh_path: str, gt_mesh_path: str, normalization: dict, cfg: dict | None, seed: int
) -> dict:
    """Geometric metrics of an extracted mesh against the normalized input mesh.

    An extracted mesh written in the original frame is mapped back first, so the numbers are
    always in normalized units.
    """
    pred = trimesh.load(pred_mesh_path, file_type="ply", force="mesh", process=False)
    if not isinstance(pred, trimesh.Trimesh):  # an empty PLY loads as an empty scene
        pred = trimesh.Trimesh()
    frame_file = Path(pred_mesh_path).with_suffix(".json")
    if frame_file.is_file() and read_json(frame_file).get("frame") == "original":
        pred = to_normalized_frame(pred, normalization["center"], normalization["scale"])
    vertices, faces = read_normalized(gt_mesh_path)
    gt = trimesh.Trimesh(vertices, faces, process=False)
    n_samples = int((cfg or {}).get("n_samples", 100_000))
    metrics = geometric_metrics(pred, gt, n=n_samples, seed=seed)
    keep = ("chamfer_l1", "chamfer_l2", "hausdorff_95", "hausdorff_max", "normal_consistency")
    out = {key: float(metrics[key]) for key in keep}
    out["pred_mesh_empty"] = bool(metrics.get("pred_empty", False))
    out["geometry_samples"] = n_samples
    return out


def model_sdf_fn(checkpoint_path: str, backend: str, device: str, threads: int, batch_size: int):
    """A plain ``sdf_fn(points (M, 3) float32) -> (M,) float32`` from a checkpoint, and the
    stored normalization (dict with ``center``, ``scale``)."""
    device = resolve_device(device)
    model, payload = load_checkpoint(
        checkpoint_path, backend=resolve_backend(backend, device), device=device, threads=threads
    )
    return functools.partial(predict_sdf, model, batch_size=batch_size), payload["normalization"]


def extract_object(
    checkpoint_path: str, mesh_out: str, cfg: dict, backend: str, device: str, threads: int
) -> dict:
    """Marching-cubes zero level set of a trained model (``cfg = config["extract"]``).

    Writes the PLY and, next to it, a JSON record (frame, resolution, emptiness).
    """
    sdf_fn, normalization = model_sdf_fn(
        checkpoint_path, backend, device, threads, int(cfg["batch_size"])
    )
    mesh = extract_zero_level_set(
        sdf_fn, resolution=int(cfg["resolution"]), bound=1.0, batch_size=int(cfg["batch_size"])
    )
    if cfg["original_frame"]:
        mesh = to_original_frame(mesh, normalization["center"], normalization["scale"])
    info = dict(mesh.metadata["extraction"])
    write_mesh(mesh, mesh_out)
    write_json(Path(mesh_out).with_suffix(".json"), {**info, "faces": len(mesh.faces)})
    log.info(
        "wrote %s: %d faces, frame %s, empty=%s",
        mesh_out,
        len(mesh.faces),
        info["frame"],
        info["empty"],
    )
    return info


def plot_object(
    checkpoint_path: str,
    gt_mesh_path: str,
    meta_path: str,
    png_out: str,
    title: str,
    cfg: dict,
    sample_cfg: dict,
    backend: str,
    device: str,
    threads: int,
) -> None:
    """Ground truth / prediction / error slices through the center (``cfg = config["plot"]``)."""
    sdf_fn, _ = model_sdf_fn(checkpoint_path, backend, device, threads, 2**18)
    vertices, faces = read_normalized(gt_mesh_path)
    meta = read_json(meta_path)

    def gt_fn(points: np.ndarray) -> np.ndarray:
        return ground_truth_sdf(vertices, faces, meta, sample_cfg, points)[0]

    plot_sdf_slices(gt_fn, sdf_fn, png_out, resolution=int(cfg["resolution"]), title=title)


def plot_summary_file(summary_csv: str, png_out: str) -> None:
    """Per-model bar charts of surface F1, volume F1 and Chamfer L1 from ``summary.csv``."""
    plot_summary(pd.read_csv(summary_csv), png_out)
