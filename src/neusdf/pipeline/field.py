"""A trained model as a plain field, for the jobs that only evaluate it (extract, evaluate, plot).

On a CPU, a hash grid is evaluated without torch (:class:`neusdf.nn.numpy_field.HashGridField`):
its import alone is ~1.1 s of each of these 3–4 s jobs. Every other case (a GPU, the reference or
tcnn backend, the other model kinds) loads the torch model.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neusdf.mesh.transform import Normalization
from neusdf.pipeline.compute import Compute


@dataclass(frozen=True)
class TrainedField:
    """What the evaluating jobs need of a checkpoint.

    Attributes
    ----------
    sdf : callable
        ``(M, 3) float32 points, normalized frame -> (M,) float32`` signed distances.
    normalization : Normalization
        The stored transform of the input mesh.
    payload : dict
        The checkpoint's other contents (``model_config``, ``training``, ...).
    n_parameters, n_table_parameters : int
        Stored scalars, and those in the feature table or lattice.
    backend : str
        What evaluates: ``fast-numpy`` (numba encoder, numpy MLP) or the torch model's backend.
    device : str
    """

    sdf: Callable[[np.ndarray], np.ndarray]
    normalization: Normalization
    payload: dict
    n_parameters: int
    n_table_parameters: int
    backend: str
    device: str


def _cuda_possible() -> bool:
    """False only where CUDA surely is not (Linux without an NVIDIA driver), so ``auto``
    resolves to the CPU without asking torch."""
    return sys.platform != "linux" or os.path.exists("/dev/nvidiactl")


def runs_without_torch(compute: Compute) -> bool:
    """Whether a hash grid under ``compute`` is evaluated on the CPU by the fast kernel."""
    if compute.backend not in ("auto", "fast"):
        return False
    return compute.device == "cpu" or (compute.device == "auto" and not _cuda_possible())


def load_trained_field(checkpoint_path: str, compute: Compute, batch_size: int) -> TrainedField:
    """Load a checkpoint of any kind as a :class:`TrainedField` (``batch_size`` points per
    evaluation call).

    Raises
    ------
    CheckpointError
        As :func:`neusdf.nn.models.load_checkpoint`.
    """
    payload = None
    if runs_without_torch(compute):
        from neusdf.nn.numpy_field import HashGridField
        from neusdf.nn.weights import read_checkpoint_arrays

        payload = read_checkpoint_arrays(checkpoint_path)
        if payload["model_config"].get("kind", "hashgrid") == "hashgrid":
            field = HashGridField(payload["model_config"], payload["state_dict"], compute.threads)
            return TrainedField(
                sdf=functools.partial(field, batch_size=batch_size),
                normalization=Normalization.from_record(payload["normalization"]),
                payload=payload,
                n_parameters=field.n_parameters,
                n_table_parameters=field.n_table_parameters,
                backend="fast-numpy",
                device="cpu",
            )
    import torch

    from neusdf.nn.models import model_from_payload, predict_sdf, read_checkpoint

    compute = compute.resolved()
    torch.set_num_threads(max(1, int(compute.threads)))
    if payload is None:
        payload = read_checkpoint(checkpoint_path)
    else:  # read above without torch (another kind than a hash grid): not read twice
        state = {key: torch.from_numpy(value) for key, value in payload["state_dict"].items()}
        payload = {**payload, "state_dict": state}
    model = model_from_payload(
        checkpoint_path, payload, compute.backend, compute.device, compute.threads
    )
    return TrainedField(
        sdf=functools.partial(predict_sdf, model, batch_size=batch_size),
        normalization=Normalization.from_record(payload["normalization"]),
        payload=payload,
        n_parameters=sum(p.numel() for p in model.parameters()),
        n_table_parameters=model.n_table_parameters(),
        backend=model.backend,
        device=compute.device,
    )
