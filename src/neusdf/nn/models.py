"""Named model configurations → torch modules; a trained module saved as a checkpoint, and a
checkpoint rebuilt as a torch module.

The default model (``kind: hashgrid``) is a hash-grid encoding followed by a bias-free ReLU MLP,
the layout of tiny-cuda-nn's FullyFusedMLP, so weights move between the CPU and tiny-cuda-nn
backends. The other kinds (:mod:`neusdf.nn.baselines`) are the alternatives the reference study
weighed; :func:`build_model` is the one factory for all of them. Inputs are points in the
normalized frame [-1, 1]^3; outputs are signed distances.

Every model class is an :class:`~neusdf.nn.layers.SDFModel`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neusdf.config import schema_default
from neusdf.encoding.config import encoding_config
from neusdf.encoding.module import HashGridEncoding, resolve_backend
from neusdf.errors import CheckpointError
from neusdf.nn.baselines import ExactGrid
from neusdf.nn.checkpoint import Checkpoint, write_checkpoint
from neusdf.nn.layers import SDFModel, adam, build_mlp
from neusdf.version import __version__

log = logging.getLogger(__name__)


# Values of a model configuration's ``kind``; a configuration without one is a hash grid.
MODEL_KINDS = ("hashgrid", "mlp", "deepsdf", "densegrid", "exact_grid")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a CUDA GPU is visible, else ``"cpu"``; others pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return device


class SDFNetwork(SDFModel):
    """Hash-grid encoding + MLP mapping (N, 3) normalized points to (N,) signed distances,
    optionally on top of a coarse lattice of exact distances (``prior``).

    With ``prior: {resolution: R}`` the output is the trilinear interpolation of the exact SDF on
    an R^3 lattice (filled before training, never trained) plus the network: the lattice carries
    the distance far from the surface and the coarse shape, the network learns what it misses
    near the surface.

    Parameters
    ----------
    model_config : dict
        A named configuration from ``config.yaml`` (keys ``encoding``, ``network``, optional
        ``prior``).
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
        super().__init__(model_config)
        net = model_config["network"]
        if net.get("activation", "ReLU") != "ReLU" or net.get("output_activation", "None") not in (
            "None",
            None,
        ):
            raise ValueError("only ReLU hidden layers and no output activation are supported")
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
        self.prior = None
        if "prior" in model_config:
            self.prior = ExactGrid({"kind": "exact_grid", "grid": model_config["prior"]}, 0, device)
        self.needs_ground_truth = self.prior is not None

    kind = "hashgrid"

    @property
    def backend(self) -> str:
        """The encoding's backend."""
        return self.encoding.backend

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        unit = (points + 1.0) * 0.5
        features = self.encoding(unit).float()
        out = self.network(features).squeeze(-1)
        return out if self.prior is None else out + self.prior(points)

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
        """Scalars in the hash table and the prior lattice."""
        prior = 0 if self.prior is None else self.prior.n_table_parameters()
        return int(self.encoding.params.numel()) + prior

    def fill(self, sdf_fn) -> None:
        """Fill the prior lattice with the exact SDF."""
        if self.prior is None:
            super().fill(sdf_fn)
        self.prior.fill(sdf_fn)


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


@torch.no_grad()
def predict_sdf(
    model: nn.Module,
    points: np.ndarray | torch.Tensor,
    batch_size: int = schema_default("evaluate", "batch_size"),
) -> np.ndarray:
    """Evaluate a model on (N, 3) points in batches; returns (N,) float32 on the host."""
    device = next(model.parameters()).device
    points_t = torch.as_tensor(points, dtype=torch.float32)
    out = torch.empty(len(points_t), dtype=torch.float32)
    for start in range(0, len(points_t), batch_size):
        chunk = points_t[start : start + batch_size].to(device, non_blocking=True)
        out[start : start + batch_size] = model(chunk).float().cpu()
    return out.numpy()


# The array holding a kind's table or lattice, stored in the dtype its configuration names.
TABLE_ARRAYS = {"encoding.params": "encoding", "values": "grid", "prior.values": "prior"}


def storage_dtype(model_config: dict, section: str = "encoding") -> np.dtype:
    """dtype of a table or lattice in the checkpoint file: float16 when the configuration's
    ``{section}.storage`` says so (halves the bytes on disk; evaluated as float32)."""
    storage = model_config.get(section, {}).get("storage", "float32")
    return np.dtype(np.float16 if storage == "float16" else np.float32)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    model_name: str,
    normalization: dict,
    training: dict,
) -> int:
    """Write a model's weights, configuration and provenance as a checkpoint
    (:mod:`neusdf.nn.checkpoint`), atomically.

    A hash grid's encoding is stored as one flat vector in tiny-cuda-nn's parameter order
    (float32, or float16 when ``encoding.storage: float16``) and its MLP as bias-free
    ``nn.Linear`` weights, whatever backend trained them; other kinds store their ``state_dict``
    in float32 (a lattice in float16 with ``grid.storage: float16``). ``model_config`` (with its
    ``kind``) says how to rebuild it.

    Returns
    -------
    int
        Size of the written file in bytes.
    """
    arrays = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    for name, section in TABLE_ARRAYS.items():
        if name in arrays:
            arrays[name] = arrays[name].astype(storage_dtype(model.model_config, section))
    meta = {
        "neusdf_version": __version__,
        "model_name": model_name,
        "model_config": model.model_config,
        "backend": model.backend,
        "normalization": normalization,
        "training": training,
    }
    return write_checkpoint(path, arrays, meta)


def model_from_checkpoint(
    checkpoint: Checkpoint, backend: str = "auto", device: str = "cpu", threads: int | None = None
) -> nn.Module:
    """The torch module of a checkpoint of any kind, float32, in eval mode, on ``device``
    (the ``reference`` and ``tcnn`` backends and GPUs evaluate through it; so can training code).

    Raises
    ------
    CheckpointError
        The weights do not fit the stored configuration.
    """
    device = resolve_device(device)
    backend = resolve_backend(backend, device)
    state = {key: torch.from_numpy(np.array(value)) for key, value in checkpoint.arrays.items()}
    try:
        model = build_model(
            checkpoint.model_config, backend=backend, seed=0, device=device, threads=threads
        )
        # load_state_dict copies into the float32 parameters, so float16 tables come back float32
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            checkpoint.path, f"weights do not match the stored configuration: {exc}"
        ) from None
    model.eval()
    return model
