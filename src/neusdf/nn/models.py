"""Named model configurations → modules; checkpoints saved and loaded as data (weights only).

The default model (``kind: hashgrid``) is a hash-grid encoding followed by a bias-free ReLU MLP,
the layout of tiny-cuda-nn's FullyFusedMLP, so weights move between the CPU and tiny-cuda-nn
backends. The other kinds (:mod:`neusdf.nn.baselines`) are the alternatives the reference study
weighed; :func:`build_model` is the one factory for all of them. Inputs are points in the
normalized frame [-1, 1]^3; outputs are signed distances.

Every model class offers the same small interface: ``forward((N, 3)) -> (N,)``, ``kind``,
``model_config``, ``backend``, ``trainable``, ``make_optimizers(training_config)`` (a list of
``(optimizer, base_lr)``; each optimizer has ``step()``, ``zero_grad()`` and an ``lr``
attribute) and ``n_table_parameters()`` (feature-table or lattice
scalars, the rest being network weights).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neusdf.encoding import HashGridEncoding, resolve_backend
from neusdf.encoding.config import encoding_config
from neusdf.errors import CheckpointError
from neusdf.io import atomic_path
from neusdf.nn.layers import adam, build_mlp
from neusdf.nn.weights import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, check_checkpoint_payload
from neusdf.version import __version__

log = logging.getLogger(__name__)


# Values of a model configuration's ``kind``; a configuration without one is a hash grid (so
# checkpoints written before kinds existed load unchanged).
MODEL_KINDS = ("hashgrid", "mlp", "deepsdf", "densegrid", "exact_grid")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a CUDA GPU is visible, else ``"cpu"``; others pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return device


class SDFNetwork(nn.Module):
    """Hash-grid encoding + MLP mapping (N, 3) normalized points to (N,) signed distances.

    Parameters
    ----------
    model_config : dict
        A named configuration from ``config.yaml`` (keys ``encoding``, ``network``).
    backend : str
        ``"reference"``, ``"fast"`` or ``"tcnn"`` (see :func:`neusdf.encoding.resolve_backend`).
    seed : int
        Fixes the encoding and MLP initialisation.
    device : str
    threads : int or None
        CPU threads for the fast kernel.
    """

    def __init__(
        self,
        model_config: dict,
        backend: str,
        seed: int,
        device: str = "cpu",
        threads: int | None = None,
    ):
        super().__init__()
        net = model_config["network"]
        if net.get("activation", "ReLU") != "ReLU" or net.get("output_activation", "None") not in (
            "None",
            None,
        ):
            raise ValueError("only ReLU hidden layers and no output activation are supported")
        self.model_config = model_config
        self.backend = backend
        self.encoding = HashGridEncoding(
            encoding_config(model_config),
            backend=backend,
            seed=seed,
            device=device,
            threads=threads,
        )
        self.network = build_mlp(
            self.encoding.output_dim,
            int(net["n_neurons"]),
            int(net["n_hidden_layers"]),
            seed=seed + 1,
        ).to(device)

    kind = "hashgrid"
    trainable = True

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        unit = (points + 1.0) * 0.5
        features = self.encoding(unit).float()
        return self.network(features).squeeze(-1)

    def make_optimizers(self, training_config: dict) -> list[tuple[object, float]]:
        """The encoding's own Adam (sparse on the fast backend) at ``lr_encoding`` and a torch
        Adam over the MLP at ``lr_network``; returns ``[(optimizer, base_lr), ...]``."""
        betas = tuple(float(b) for b in training_config["betas"])
        eps = float(training_config["eps"])
        lr_encoding = float(training_config["lr_encoding"])
        lr_network = float(training_config["lr_network"])
        opt_encoding = self.encoding.make_optimizer(lr=lr_encoding, betas=betas, eps=eps)
        opt_network = adam(self.network.parameters(), lr_network, training_config)
        return [(opt_encoding, lr_encoding), (opt_network, lr_network)]

    def n_table_parameters(self) -> int:
        """Scalars in the hash table."""
        return int(self.encoding.params.numel())


def model_kind(model_config: dict) -> str:
    """The ``kind`` of a named model configuration (``"hashgrid"`` when absent)."""
    kind = model_config.get("kind", "hashgrid")
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    return kind


def build_model(
    model_config: dict,
    backend: str = "fast",
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
) -> nn.Module:
    """The one factory: a freshly initialised model of ``model_config``'s kind.

    Parameters
    ----------
    model_config : dict
        A named configuration from ``config.yaml`` (validated by ``schemas/model.schema.yaml``).
    backend : str
        Hash-grid backend (``"reference"``, ``"fast"``, ``"tcnn"``); ignored by the other
        kinds, which are plain torch modules.
    seed : int
        Fixes the initialisation.
    device : str
    threads : int or None
        CPU threads for the hash grid's fast kernel.
    """
    from neusdf.nn import baselines  # baselines imports nothing from here; late to keep it so

    kind = model_kind(model_config)
    if kind == "hashgrid":
        return SDFNetwork(model_config, backend=backend, seed=seed, device=device, threads=threads)
    classes = {
        "mlp": baselines.PlainMLP,
        "deepsdf": baselines.DeepSDFDecoder,
        "densegrid": baselines.DenseGrid,
        "exact_grid": baselines.ExactGrid,
    }
    return classes[kind](model_config, seed=seed, device=device)


def count_parameters(model: nn.Module) -> int:
    """Number of stored scalars (the hash table or lattice included)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def predict_sdf(
    model: nn.Module, points: np.ndarray | torch.Tensor, batch_size: int = 2**18
) -> np.ndarray:
    """Evaluate a model on (N, 3) points in batches; returns (N,) float32 on the host."""
    device = next(model.parameters()).device
    points_t = torch.as_tensor(points, dtype=torch.float32)
    out = torch.empty(len(points_t), dtype=torch.float32)
    for start in range(0, len(points_t), batch_size):
        chunk = points_t[start : start + batch_size].to(device, non_blocking=True)
        out[start : start + batch_size] = model(chunk).float().cpu()
    return out.numpy()


def storage_dtype(model_config: dict) -> torch.dtype:
    """dtype of the hash table in the checkpoint file: float16 when the configuration's
    ``encoding.storage`` says so (halves the bytes on disk; loaded back as float32)."""
    storage = model_config.get("encoding", {}).get("storage", "float32")
    return torch.float16 if storage == "float16" else torch.float32


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    model_name: str,
    normalization: dict,
    training: dict,
) -> int:
    """Write weights + configuration + provenance as a weights-only-loadable file, atomically.

    A hash grid's encoding is stored as one flat vector in tiny-cuda-nn's parameter order
    (float32, or float16 when ``encoding.storage: float16``) and its MLP as bias-free
    ``nn.Linear`` weights, whatever backend trained them; other kinds store their torch
    ``state_dict`` in float32. ``model_config`` (with its ``kind``) says how to rebuild it.

    Returns
    -------
    int
        Size of the written file in bytes.
    """
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    if "encoding.params" in state:
        state["encoding.params"] = state["encoding.params"].to(storage_dtype(model.model_config))
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "neusdf_version": __version__,
        "model_name": model_name,
        "model_config": model.model_config,
        "backend": model.backend,
        "state_dict": state,
        "normalization": normalization,
        "training": training,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return os.path.getsize(path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint's contents without executing code, and check its format.

    Raises
    ------
    CheckpointError
        The file is not a neusdf checkpoint, or holds pickled objects other than plain data.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            path, f"refused: not a weights-only checkpoint (would need to run code): {first}"
        ) from None
    return check_checkpoint_payload(path, payload)


def load_checkpoint(
    path: str | Path, backend: str = "auto", device: str = "cpu", threads: int | None = None
) -> tuple[nn.Module, dict]:
    """Rebuild a model of any kind from a checkpoint on any backend/device.

    Returns
    -------
    model : nn.Module
        Of the class :func:`build_model` gives the stored ``model_config`` (a hash grid when it
        has no ``kind``), float32, in eval mode, on ``device``.
    payload : dict
        Everything else stored (configuration, normalization, training record).
    """
    payload = read_checkpoint(path)
    return model_from_payload(path, payload, backend, device, threads), payload


def model_from_payload(
    path: str | Path, payload: dict, backend: str, device: str, threads: int | None
) -> nn.Module:
    """The model of a checkpoint's checked ``payload`` (its ``state_dict`` as tensors), in eval
    mode on ``device``; ``path`` names the file in errors.

    Raises
    ------
    CheckpointError
        The weights do not fit the stored configuration.
    """
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    try:
        model = build_model(
            payload["model_config"], backend=backend, seed=0, device=device, threads=threads
        )
        # load_state_dict copies into the float32 parameters, so float16 tables come back float32
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            path, f"weights do not match the stored configuration: {exc}"
        ) from None
    model.eval()
    return model
