"""The training loop: shuffled mini-batches, MAPE / L1 / clamped-L1 loss, each model's own
optimizers, a progress bar, a history. One loop for every trainable model kind."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

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
    """Set the learning rate of a torch optimizer or of the encoding's own optimizer."""
    if hasattr(optimizer, "param_groups"):
        for group in optimizer.param_groups:
            group["lr"] = lr
    else:
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


@dataclass
class TrainingResult:
    """What a run produced besides the weights.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch``, ``loss`` (mean over the epoch's batches), ``seconds``
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
        ``clamp_delta``, ``lr_encoding`` / ``lr_network`` (as the model uses them), ``betas``
        (2 floats), ``eps``, ``lr_schedule`` ("constant"|"cosine"), ``lr_final_factor``.
    seed : int
        Fixes the shuffling order.
    device : str
    progress : bool
        Show a tqdm bar (written to stderr, which the pipeline sends to the job log).

    Returns
    -------
    TrainingResult
    """
    epochs = int(training_config["epochs"])
    batch_size = int(training_config["batch_size"])
    loss_kind = training_config["loss"]
    mape_eps = float(training_config.get("mape_eps", 1e-2))
    clamp_delta = float(training_config.get("clamp_delta", 0.1))
    schedule = training_config.get("lr_schedule", "constant")
    final_factor = float(training_config.get("lr_final_factor", 1.0))
    optimizers = model.make_optimizers(training_config)
    if not optimizers:
        raise ValueError(f"a {model.kind!r} model has nothing to train")
    points_t = torch.as_tensor(points, dtype=torch.float32).to(device)
    sdf_t = torch.as_tensor(sdf, dtype=torch.float32).to(device)
    n = len(points_t)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    result = TrainingResult()
    model.train()
    start = time.perf_counter()
    steps_per_epoch = (n + batch_size - 1) // batch_size
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="step", mininterval=2.0)
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        for begin in range(0, n, batch_size):
            if schedule != "constant":
                factor = lr_factor(result.steps, epochs * steps_per_epoch, schedule, final_factor)
                for optimizer, base_lr in optimizers:
                    set_lr(optimizer, base_lr * factor)
            idx = order[begin : begin + batch_size]
            pred = model(points_t[idx])
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
                "loss": mean_loss,
                "seconds": now - start,
                "points_per_second": n / max(now - epoch_start, 1e-9),
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
