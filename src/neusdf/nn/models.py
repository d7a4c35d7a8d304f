"""Named model configurations → modules; checkpoints saved and loaded as data (weights only).

A model is a hash-grid encoding followed by a bias-free ReLU MLP, the layout of
tiny-cuda-nn's FullyFusedMLP, so weights move between the CPU and tiny-cuda-nn backends.
Inputs are points in the normalized frame [-1, 1]^3; outputs are signed distances.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neusdf import __version__
from neusdf.encoding import HashGridConfig, HashGridEncoding, resolve_backend
from neusdf.errors import CheckpointError
from neusdf.io import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "neusdf-checkpoint"
CHECKPOINT_VERSION = 1


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a CUDA GPU is visible, else ``"cpu"``; others pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return device


def encoding_config(model_config: dict) -> HashGridConfig:
    """The hash-grid config of a named model configuration (``model_config["encoding"]``)."""
    enc = model_config["encoding"]
    return HashGridConfig.from_finest_resolution(
        n_levels=int(enc["n_levels"]),
        n_features_per_level=int(enc["n_features_per_level"]),
        log2_hashmap_size=int(enc["log2_hashmap_size"]),
        base_resolution=int(enc["base_resolution"]),
        finest_resolution=float(enc["finest_resolution"]),
    )


def build_mlp(n_input: int, n_neurons: int, n_hidden_layers: int, seed: int) -> nn.Sequential:
    """Bias-free ReLU MLP ``n_input → n_neurons × n_hidden_layers → 1``, no output activation."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        width = n_input
        for _ in range(n_hidden_layers):
            layers += [nn.Linear(width, n_neurons, bias=False), nn.ReLU()]
            width = n_neurons
        layers.append(nn.Linear(width, 1, bias=False))
        return nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(generator_state)


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

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        unit = (points + 1.0) * 0.5
        features = self.encoding(unit).float()
        return self.network(features).squeeze(-1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (the hash table included)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def predict_sdf(
    model: SDFNetwork, points: np.ndarray | torch.Tensor, batch_size: int = 2**18
) -> np.ndarray:
    """Evaluate a model on (N, 3) points in batches; returns (N,) float32 on the host."""
    device = next(model.parameters()).device
    points_t = torch.as_tensor(points, dtype=torch.float32)
    out = torch.empty(len(points_t), dtype=torch.float32)
    for start in range(0, len(points_t), batch_size):
        chunk = points_t[start : start + batch_size].to(device, non_blocking=True)
        out[start : start + batch_size] = model(chunk).float().cpu()
    return out.numpy()


def save_checkpoint(
    path: str | Path,
    model: SDFNetwork,
    model_name: str,
    normalization: dict,
    training: dict,
) -> int:
    """Write weights + configuration + provenance as a weights-only-loadable file, atomically.

    The encoding is stored as one flat float32 vector in tiny-cuda-nn's parameter order and the
    MLP as bias-free ``nn.Linear`` weights, whatever backend trained them.

    Returns
    -------
    int
        Size of the written file in bytes.
    """
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
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
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, "not a neusdf checkpoint")
    version = payload.get("format_version")
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise CheckpointError(
            path,
            f"written by a newer neusdf (format {version} > {CHECKPOINT_VERSION}); upgrade neusdf",
        )
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"unsupported format_version {version!r}")
    return payload


def load_checkpoint(
    path: str | Path, backend: str = "auto", device: str = "cpu", threads: int | None = None
) -> tuple[SDFNetwork, dict]:
    """Rebuild a model from a checkpoint on any backend/device.

    Returns
    -------
    model : SDFNetwork
        In eval mode, on ``device``.
    payload : dict
        Everything else stored (configuration, normalization, training record).
    """
    payload = read_checkpoint(path)
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    model = SDFNetwork(
        payload["model_config"], backend=backend, seed=0, device=device, threads=threads
    )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(
            path, f"weights do not match the stored configuration: {exc}"
        ) from None
    model.eval()
    return model, payload
