"""Stage 3, train: fit one network to one object's training set and save a checkpoint."""

from __future__ import annotations

import csv
import logging

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
) -> dict:
    """Fit the named model to the object's training points; write the checkpoint and history.

    Parameters
    ----------
    samples_path, meta_path : str
        The HDF5 samples and the normalized mesh's JSON record (for the transform).
    checkpoint_out, history_out : str
        ``.pt`` checkpoint and per-epoch CSV, written atomically.
    model_name : str
    model_config : dict
        ``config["models"][model_name]``, schema defaults filled in.
    compute : Compute
    seed : int
        The config seed (the model's own seed is derived from it and the model name).
    progress : bool
        Progress bar on a terminal, periodic log lines otherwise.

    Returns
    -------
    dict
        The training record stored in the checkpoint (seconds, steps, final loss, backend, ...).
    """
    import torch

    from neusdf.nn.models import SDFNetwork, save_checkpoint
    from neusdf.nn.training import train_sdf

    compute = compute.resolved()
    log.info(
        "training %s with backend=%s on device=%s", model_name, compute.backend, compute.device
    )
    train = read_samples(samples_path, "train")
    model_seed = derive_seed(seed, "train", model_name)
    torch.manual_seed(model_seed)
    model = SDFNetwork(
        model_config,
        backend=compute.backend,
        seed=model_seed % 2**31,
        device=compute.device,
        threads=compute.threads,
    )
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
    record = {
        "seconds": result.seconds,
        "steps": result.steps,
        "points_per_second": n_points / max(result.seconds, 1e-9),
        "final_loss": result.history[-1]["loss"] if result.history else float("nan"),
        "backend": compute.backend,
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
