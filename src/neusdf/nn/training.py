"""The training loop: shuffled mini-batches, MAPE / L1 / clamped-L1 loss, each model's own
optimizers, a progress bar, a history. One loop for every trainable model kind."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from neusdf.mesh.samples import SOURCE_SURFACE
from neusdf.progress import progress as progress_reporter

log = logging.getLogger(__name__)

LOSSES = ("mape", "l1", "clamped_l1")
SCHEDULES = ("constant", "cosine")


def lr_factor(step: int, total_steps: int, schedule: str, final_factor: float) -> float:
    """Learning-rate multiplier at ``step`` (0-based) of ``total_steps``.

    ``constant``: 1. ``cosine``: from 1 down to ``final_factor`` along half a cosine, which keeps
    early progress and lets the last epochs settle the fine hash levels.
    """
    if schedule == "constant" or total_steps <= 1:
        return 1.0
    if schedule == "cosine":
        progress = min(step / (total_steps - 1), 1.0)
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {schedule!r}; expected one of {SCHEDULES}")


def set_lr(optimizer, lr: float) -> None:
    """Set the learning rate of one of our optimizers (:class:`neusdf.nn.layers.Adam`, the
    encoding's own)."""
    optimizer.lr = lr


def sdf_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    mape_eps: float,
    clamp_delta: float = 0.1,
) -> torch.Tensor:
    """Mean loss over a batch of (B,) predictions and targets.

    ``mape``: ``|pred - target| / (|target| + mape_eps)`` (relative error, so points near the
    surface, where the sign is decided, weigh most); ``l1``: ``|pred - target|``;
    ``clamped_l1``: ``|clamp(pred, ±delta) - clamp(target, ±delta)|`` (DeepSDF's loss: only the
    band |SDF| < delta around the surface is fitted exactly).
    """
    if kind == "clamped_l1":
        return (
            (pred.clamp(-clamp_delta, clamp_delta) - target.clamp(-clamp_delta, clamp_delta))
            .abs()
            .mean()
        )
    err = (pred - target).abs()
    if kind == "mape":
        return (err / (target.abs() + mape_eps)).mean()
    if kind == "l1":
        return err.mean()
    raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")


def epoch_indices(
    n_points: int,
    source: np.ndarray | None,
    points_per_epoch: int | None,
    surface_fraction: float | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Shuffled indices of the training points one epoch visits.

    Parameters
    ----------
    n_points : int
        Size of the training set.
    source : (n_points,) uint8 or None
        0 for near-surface points, 1 for volume points (the sample file's ``train/source``);
        needed only when ``surface_fraction`` is set.
    points_per_epoch : int or None
        Points per epoch; None visits every point once (a plain shuffle).
    surface_fraction : float in [0, 1] or None
        Share of each epoch drawn from the near-surface points (rounded to whole points); None
        draws from all points alike, i.e. keeps the file's mix.
    generator : torch.Generator
        CPU generator; the only source of randomness, so a seed fixes the order.

    Returns
    -------
    (points_per_epoch,) int64 tensor of indices into the training set, in visiting order.
    Within one pool (all points, or near-surface, or volume) no index repeats until the pool is
    exhausted; a pool smaller than its share is cycled through fresh permutations.
    """
    n_epoch = n_points if points_per_epoch is None else int(points_per_epoch)
    if surface_fraction is None:
        return _draw_from(torch.arange(n_points), n_epoch, generator)
    if source is None:
        raise ValueError("surface_fraction needs the training points' source labels")
    source_t = torch.as_tensor(np.asarray(source))
    surface_pool = torch.nonzero(source_t == SOURCE_SURFACE).squeeze(1)
    volume_pool = torch.nonzero(source_t != SOURCE_SURFACE).squeeze(1)
    n_surface = round(float(surface_fraction) * n_epoch)
    draws = []
    shares = (
        (surface_pool, n_surface, "near-surface"),
        (volume_pool, n_epoch - n_surface, "volume"),
    )
    for pool, count, name in shares:
        if count > 0 and len(pool) == 0:
            raise ValueError(f"surface_fraction {surface_fraction} needs {name} points; none given")
        draws.append(_draw_from(pool, count, generator))
    chosen = torch.cat(draws)
    # Mix the two pools so every batch has the requested share.
    return chosen[torch.randperm(n_epoch, generator=generator)]


def _draw_from(pool: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` entries of ``pool`` without repeats until it is exhausted (then a new shuffle)."""
    if count == 0:
        return pool[:0]
    rounds = -(-count // len(pool))
    order = torch.cat([torch.randperm(len(pool), generator=generator) for _ in range(rounds)])
    return pool[order[:count]]


@dataclass
class TrainingResult:
    """What a run produced besides the weights.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``points`` (visited this epoch), ``loss`` (mean over the
        epoch's batches), ``seconds``
        (cumulative wall time), ``points_per_second`` (this epoch).
    seconds : float
        Wall time of the optimisation loop, excluding data loading and checkpoint writing.
    steps : int
        Optimiser steps taken.
    """

    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


def train_sdf(
    model: torch.nn.Module,
    points: np.ndarray,
    sdf: np.ndarray,
    training_config: dict,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    source: np.ndarray | None = None,
) -> TrainingResult:
    """Fit ``model`` to (points, sdf) pairs.

    Parameters
    ----------
    model : torch.nn.Module
        Freshly built model of any trainable kind (:func:`neusdf.nn.models.build_model`); its
        ``make_optimizers`` gives the optimisers (the hash grid's is sparse on the fast path).
    points : (N, 3) float32
        Training points, normalized frame.
    sdf : (N,) float32
        Ground-truth signed distances, negative inside.
    training_config : dict
        Keys ``epochs``, ``batch_size``, ``loss`` ("mape"|"l1"|"clamped_l1"), ``mape_eps``,
        ``clamp_delta`` (clamped_l1 only), ``lr_encoding`` / ``lr_network`` (as the model uses
        them), ``betas`` (2 floats), ``eps``, ``lr_schedule`` ("constant"|"cosine"),
        ``lr_final_factor``, ``points_per_epoch`` (int or None: all points), ``surface_fraction``
        (float or None: the file's mix); see :func:`epoch_indices`. All keys are required (the
        schema, ``neusdf/schemas/model.schema.yaml``, holds the defaults).
    seed : int
        Fixes the shuffling and per-epoch subsampling.
    device : str
    progress : bool
        Report progress: a tqdm bar on a terminal, periodic lines in a job log
        (:func:`neusdf.progress.progress`).
    source : (N,) uint8 or None
        Near-surface (0) / volume (1) label of each point; required when ``surface_fraction``
        is set.

    Returns
    -------
    TrainingResult
    """
    epochs = int(training_config["epochs"])
    batch_size = int(training_config["batch_size"])
    loss_kind = training_config["loss"]
    mape_eps = float(training_config["mape_eps"])
    # DeepSDF's clamp: a key of the clamped_l1 loss only.
    clamp_delta = float(training_config["clamp_delta"]) if loss_kind == "clamped_l1" else 0.0
    schedule = training_config["lr_schedule"]
    final_factor = float(training_config["lr_final_factor"])
    points_per_epoch = training_config["points_per_epoch"]
    surface_fraction = training_config["surface_fraction"]
    optimizers = model.make_optimizers(training_config)
    if not optimizers:
        raise ValueError(f"a {model.kind!r} model has nothing to train")
    points_t = torch.as_tensor(points, dtype=torch.float32).to(device)
    sdf_t = torch.as_tensor(sdf, dtype=torch.float32).to(device)
    # What training does not change (a prior lattice), computed once for every point.
    fixed = model.fixed_part(points_t)
    n = len(points_t)
    n_epoch = n if points_per_epoch is None else int(points_per_epoch)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    result = TrainingResult()
    model.train()
    start = time.perf_counter()
    steps_per_epoch = (n_epoch + batch_size - 1) // batch_size
    bar = progress_reporter(epochs * steps_per_epoch, "train", "step", enabled=progress)
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        order = epoch_indices(n, source, points_per_epoch, surface_fraction, generator).to(device)
        loss_sum = torch.zeros((), device=device)
        for begin in range(0, n_epoch, batch_size):
            if schedule != "constant":
                factor = lr_factor(result.steps, epochs * steps_per_epoch, schedule, final_factor)
                for optimizer, base_lr in optimizers:
                    set_lr(optimizer, base_lr * factor)
            idx = order[begin : begin + batch_size]
            pred = model.trained_part(points_t[idx])
            if fixed is not None:
                pred = pred + fixed[idx]
            loss = sdf_loss(pred, sdf_t[idx], loss_kind, mape_eps, clamp_delta)
            loss.backward()
            for optimizer, _ in optimizers:
                optimizer.step()
            for optimizer, _ in optimizers:
                optimizer.zero_grad()
            loss_sum += loss.detach()
            result.steps += 1
            bar.update(1)
        mean_loss = float(loss_sum) / steps_per_epoch
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"loss became {mean_loss} in epoch {epoch + 1}")
        now = time.perf_counter()
        result.history.append(
            {
                "epoch": epoch + 1,
                "points": n_epoch,
                "loss": mean_loss,
                "seconds": now - start,
                "points_per_second": n_epoch / max(now - epoch_start, 1e-9),
            }
        )
        bar.set_postfix(loss=f"{mean_loss:.4g}")
        log.info("epoch %d/%d loss %.5g (%.1f s)", epoch + 1, epochs, mean_loss, now - start)
    bar.close()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
