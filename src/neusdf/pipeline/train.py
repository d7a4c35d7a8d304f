"""Stage 3, train: fit one network to one object's training set and save a checkpoint."""

from __future__ import annotations

import csv
import logging
import time

from neusdf.io import atomic_path, read_json
from neusdf.mesh.samples import read_attrs, read_samples
from neusdf.mesh.transform import Normalization
from neusdf.pipeline.compute import Compute
from neusdf.seeding import derive_seed

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "points", "loss", "seconds", "points_per_second"]


def train_object(
    samples_path: str,
    meta_path: str,
    checkpoint_out: str,
    history_out: str,
    model_name: str,
    model_config: dict,
    compute: Compute,
    seed: int,
    progress: bool = True,
    mesh_path: str | None = None,
    sample_cfg: dict | None = None,
) -> dict:
    """Fit the named model to the object's training points; write the checkpoint and history.

    A model that holds exact distances (``kind: exact_grid``, a hash grid's ``prior``) has that
    lattice filled with the exact ground truth of the normalized mesh ``mesh_path`` (computed as
    ``sample_cfg = config["sample"]`` says) before any training; the time that takes counts as
    training time.

    Parameters
    ----------
    samples_path, meta_path : str
        The HDF5 samples and the normalized mesh's JSON record (for the transform).
    checkpoint_out, history_out : str
        Checkpoint (``.safetensors``) and per-epoch CSV, written atomically.
    model_name : str
    model_config : dict
        ``config["models"][model_name]``, schema defaults filled in.
    compute : Compute
    seed : int
        The config seed (the model's own seed is derived from it and the model name).
    progress : bool
        Progress bar on a terminal, periodic log lines otherwise.
    mesh_path : str, optional
        The normalized mesh (models that hold exact distances only).
    sample_cfg : dict, optional
        ``config["sample"]`` (models that hold exact distances only).

    Returns
    -------
    dict
        The training record stored in the checkpoint (seconds, steps, final loss, backend, ...).
    """
    import torch

    from neusdf.nn.models import build_model, save_checkpoint
    from neusdf.nn.training import TrainingResult, train_sdf

    compute = compute.resolved()
    model_seed = derive_seed(seed, "train", model_name)
    torch.manual_seed(model_seed)
    model = build_model(
        model_config,
        backend=compute.backend,
        seed=model_seed % 2**31,
        device=compute.device,
        threads=compute.threads,
    )
    log.info(
        "training %s (%s): backend=%s, device=%s",
        model_name,
        model.kind,
        model.backend,
        compute.device,
    )
    filled = 0.0
    if model.needs_ground_truth:
        if mesh_path is None or sample_cfg is None:
            raise ValueError(f"a {model_name!r} model needs the normalized mesh and sample config")
        filled = fill_ground_truth(model, mesh_path, meta_path, sample_cfg, compute.threads)
    if model.trainable:
        train = read_samples(samples_path, "train")
        result = train_sdf(
            model,
            train.points,
            train.sdf,
            model_config["training"],
            seed=model_seed,
            device=compute.device,
            progress=progress,
            source=train.source,
        )
        n_points = sum(row["points"] for row in result.history)
    else:
        result = TrainingResult()
        n_points = model.n_table_parameters()
    result.seconds += filled
    record = {
        "seconds": result.seconds,
        "steps": result.steps,
        "points_per_second": n_points / max(result.seconds, 1e-9),
        "final_loss": result.history[-1]["loss"] if result.history else float("nan"),
        "kind": model.kind,
        "backend": model.backend,
        "device": compute.device,
        "seed": int(seed),
        "samples_sha256_source": read_attrs(samples_path).get("mesh_sha256"),
    }
    save_checkpoint(
        checkpoint_out,
        model,
        model_name,
        normalization=Normalization.from_record(read_json(meta_path)).to_record(),
        training=record,
    )
    with atomic_path(history_out) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(result.history)
    log.info("trained in %.2f s (%.3g points/s)", result.seconds, record["points_per_second"])
    return record


def fill_ground_truth(model, mesh_path: str, meta_path: str, sample_cfg: dict, threads: int):
    """Fill a model's exact-distance lattice (an exact grid, a hash grid's prior) with the exact
    SDF of a normalized mesh (same engine and sign as the samples); the time it takes counts
    as training time.

    Returns
    -------
    float
        Wall seconds of the lattice's ground truth.
    """
    from neusdf.groundtruth import GroundTruth

    start = time.perf_counter()
    model.fill(GroundTruth.of_normalized(mesh_path, meta_path, sample_cfg, threads))
    seconds = time.perf_counter() - start
    log.info("exact-distance lattice filled in %.1f s", seconds)
    return seconds
