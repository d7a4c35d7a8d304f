"""PROPOSAL (for the lead): stage functions for mesh extraction, geometric metrics and plots.

Paste into ``src/neusdf/stages.py`` (or keep as ``src/neusdf/visualize.py``). Like the other
stage functions they read inputs through the module that owns the format, compute, and write
outputs atomically; none knows about Snakemake. ``plot_object`` assumes the ground-truth API
``groundtruth.signed_distance(vertices, faces, points, engine, sign, watertight, name)`` used by
``sample_object``.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import trimesh

from neusdf import groundtruth
from neusdf.extraction import extract_zero_level_set, to_original_frame, write_mesh
from neusdf.geometry import geometric_metrics
from neusdf.io import read_json, write_json
from neusdf.meshes import read_normalized
from neusdf.models import load_checkpoint, predict_sdf
from neusdf.plots import plot_sdf_slices, plot_summary

log = logging.getLogger(__name__)


def model_sdf_fn(checkpoint_path: str, backend: str, device: str, threads: int, batch_size: int):
    """A plain ``sdf_fn(points (M, 3) float32) -> (M,) float32`` from a checkpoint, and its
    stored normalization (dict with "center", "scale")."""
    model, payload = load_checkpoint(
        checkpoint_path, backend=backend, device=device, threads=threads
    )
    return functools.partial(predict_sdf, model, batch_size=batch_size), payload["normalization"]


def extract_object(
    checkpoint_path: str, mesh_out: str, cfg: dict, backend: str, device: str, threads: int
) -> dict:
    """Marching-cubes mesh of a trained model (``cfg = config["extract"]``)."""
    sdf_fn, normalization = model_sdf_fn(
        checkpoint_path, backend, device, threads, int(cfg["batch_size"])
    )
    mesh = extract_zero_level_set(
        sdf_fn, resolution=int(cfg["resolution"]), bound=1.0, batch_size=int(cfg["batch_size"])
    )
    if cfg["original_frame"]:
        mesh = to_original_frame(mesh, normalization["center"], normalization["scale"])
    write_mesh(mesh, mesh_out)
    info = mesh.metadata["extraction"]
    log.info(
        "wrote %s: %d faces, frame %s, empty=%s",
        mesh_out,
        len(mesh.faces),
        info["frame"],
        info["empty"],
    )
    return info


def geometry_object(
    pred_mesh_path: str,
    gt_mesh_path: str,
    out_path: str,
    obj: str,
    model_name: str,
    cfg: dict,
    seed: int,
    original_frame: bool,
    meta_path: str,
) -> dict:
    """Chamfer / Hausdorff / normal consistency of the extracted mesh, normalized units."""
    pred = trimesh.load(pred_mesh_path, file_type="ply", force="mesh", process=False)
    if original_frame and len(pred.faces):  # metrics are always in the normalized frame
        from neusdf.extraction import to_normalized_frame

        meta = read_json(meta_path)
        pred = to_normalized_frame(pred, meta["center"], meta["scale"])
    vertices, faces = read_normalized(gt_mesh_path)
    gt = trimesh.Trimesh(vertices, faces, process=False)
    record = {"object": obj, "model": model_name}
    record.update(
        geometric_metrics(
            pred, gt, n=int(cfg["n_samples"]), seed=seed, workers=int(cfg.get("threads", 1))
        )
    )
    write_json(out_path, record)
    return record


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
    """GT / prediction / error slices (``cfg = config["plot"]``)."""
    sdf_fn, _ = model_sdf_fn(checkpoint_path, backend, device, threads, 2**18)
    vertices, faces = read_normalized(gt_mesh_path)
    meta = read_json(meta_path)

    def gt_fn(points: np.ndarray) -> np.ndarray:
        sdf, _ = groundtruth.signed_distance(
            vertices,
            faces,
            points,
            engine=sample_cfg["engine"],
            sign=sample_cfg["sign"],
            watertight=bool(meta["watertight"]),
            name=meta.get("source", gt_mesh_path),
        )
        return np.asarray(sdf, dtype=np.float32)

    plot_sdf_slices(gt_fn, sdf_fn, png_out, resolution=int(cfg["resolution"]), title=title)


def plot_summary_file(summary_csv: str, png_out: str) -> None:
    """Per-model bar charts from results/summary.csv (chamfer_l1 used when present)."""
    plot_summary(pd.read_csv(summary_csv), png_out)
