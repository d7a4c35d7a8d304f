"""Use a trained SDF: load a checkpoint, ask it for distances, normals and meshes.

    import neusdf
    sdf = neusdf.load("results/models/hashgrid/torus.safetensors")
    d = sdf(points)                      # (N, 3) -> (N,), the input mesh's own frame and units
    n = sdf.gradient(points)             # (N, 3) unit normals
    mesh = sdf.mesh(resolution=256)      # trimesh.Trimesh of the zero level set

Frames: ``"original"`` is the input mesh's frame and units; ``"normalized"`` is the frame the
network was trained in, ``x_norm = (x - center) * scale`` (checkpoint key ``normalization``), so a
normalized distance ``d_norm`` is ``d_norm / scale`` original units.

Every finite point has an answer: inside the normalized cube (:attr:`SDF.bounds` in the original
frame) the trained model, outside it a positive distance with a documented bound
(:mod:`neusdf.nn.field`).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from neusdf.config import schema_default
from neusdf.nn.field import CUBE, GRADIENT_STEP, Field, load_field

FRAMES = ("original", "normalized")
# Rows listed by name in a NaN-points error before "...".
MAX_ROWS_NAMED = 10


def _check_frame(frame: str) -> None:
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")


def _is_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch when nobody has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _as_float64_points(points) -> tuple[np.ndarray, dict]:
    """Validate (N, 3) points; return them as float64 numpy plus how to give results back."""
    if _is_tensor(points):
        kind = {"torch": True, "device": points.device, "dtype": points.dtype}
        array = points.detach().cpu().double().numpy()
    else:
        array = np.asarray(points)
        kind = {"torch": False, "dtype": array.dtype}
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"points must be numbers, got dtype {array.dtype}")
        array = array.astype(np.float64, copy=False)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {tuple(array.shape)}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        rows = ", ".join(str(int(r)) for r in bad[:MAX_ROWS_NAMED])
        more = f" and {len(bad) - MAX_ROWS_NAMED} more" if len(bad) > MAX_ROWS_NAMED else ""
        raise ValueError(f"points has {len(bad)} row(s) with NaN or infinite values: {rows}{more}")
    return array, kind


def _give_back(values: np.ndarray, kind: dict):
    """Results in the caller's kind: float64 if the input was float64, else float32."""
    wide = kind["dtype"] == np.float64 or str(kind["dtype"]) == "torch.float64"
    values = values.astype(np.float64 if wide else np.float32, copy=False)
    if kind["torch"]:
        import torch

        return torch.from_numpy(values).to(kind["device"])
    return values


class SDF:
    """A trained signed distance function, callable on points.

    Build one with :func:`load`. Evaluation is batched (memory does not grow with N beyond the
    input and output) and runs without gradient tracking.

    Attributes
    ----------
    field : neusdf.nn.field.Field
        The model in the normalized frame: (M, 3) float32 points -> (M,) float32 distances.
    path : Path
        The checkpoint file.
    device : str
    backend : str
        What evaluates the model now (not necessarily what trained it): ``fast-numpy`` on a CPU.
    center : (3,) float64
        Normalization center, original units.
    scale : float
        Normalization scale, normalized units per original unit.
    """

    def __init__(self, field: Field, path: str | Path):
        self.field = field
        self.path = Path(path)
        self.device = field.device
        self.backend = field.backend
        self.normalization = field.normalization
        self.center = np.asarray(self.normalization.center)
        self.scale = self.normalization.scale
        self._meta = field.checkpoint.meta

    def __repr__(self) -> str:
        return (
            f"SDF({str(self.path)!r}, model={self._meta.get('model_name')!r}, "
            f"backend={self.backend!r}, device={self.device!r})"
        )

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``, each (3,) float64: the box in the original frame where the answer is the
        trained model itself (the normalized cube [-1, 1]^3); outside it the answer is the
        positive extension of :mod:`neusdf.nn.field`."""
        corners = self.to_original(np.array([[-CUBE] * 3, [CUBE] * 3]))
        return corners[0], corners[1]

    # -- frames ---------------------------------------------------------------------------------

    def to_normalized(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) original-frame points -> normalized frame (float64)."""
        return self.normalization.apply(points)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) normalized-frame points -> original frame (float64)."""
        return self.normalization.invert(points)

    # -- evaluation -----------------------------------------------------------------------------

    def normalized_sdf(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) normalized points -> (M,) float32 normalized distances, no validation: the plain
        ``sdf_fn`` that :mod:`neusdf.evaluation.extraction` expects."""
        return self.field(points)

    def __call__(self, points, frame: str = "original"):
        """Signed distances at points (negative inside).

        Parameters
        ----------
        points : (N, 3) numpy array or torch tensor
            In ``frame``'s units. NaN or infinite rows are refused (the error names them).
        frame : {"original", "normalized"}
            ``"original"``: the input mesh's own frame; distances in its units.

        Returns
        -------
        (N,) same kind as ``points`` (numpy, or torch on the same device)
            float64 when ``points`` is float64, else float32.
        """
        _check_frame(frame)
        array, kind = _as_float64_points(points)
        if frame == "original":
            array = self.to_normalized(array)
        distances = self.normalized_sdf(array).astype(np.float64)
        if frame == "original":
            distances = distances / self.scale
        return _give_back(distances, kind)

    def gradient(
        self,
        points,
        frame: str = "original",
        step: float = GRADIENT_STEP,
        unit: bool = True,
    ):
        """Normals: the SDF's gradient at points, by central differences
        (:meth:`neusdf.nn.field.Field.gradient`).

        Parameters
        ----------
        points : (N, 3) numpy array or torch tensor
            In ``frame``'s units.
        frame : {"original", "normalized"}
            The uniform scale does not change directions, so unit normals are the same in both
            frames; with ``unit=False`` the raw gradient is the same too (distances and
            coordinates scale alike).
        step : float
            ``h``, normalized units.
        unit : bool
            Return unit vectors (rows where the gradient is exactly zero stay zero).

        Returns
        -------
        (N, 3) same kind as ``points``
        """
        _check_frame(frame)
        array, kind = _as_float64_points(points)
        if frame == "original":
            array = self.to_normalized(array)
        return _give_back(self.field.gradient(array, step=step, unit=unit), kind)

    def mesh(
        self,
        resolution: int = 256,
        frame: str = "original",
        bound: float = 1.0,
        progress: bool = False,
    ):
        """The zero level set as a triangle mesh, by marching cubes.

        Calls :func:`neusdf.evaluation.extraction.extract_zero_level_set` on the network.

        Parameters
        ----------
        resolution : int
            Grid nodes per axis over [-bound, bound]^3 (normalized frame); memory about
            ``4 * resolution**3`` bytes.
        frame : {"original", "normalized"}
            Frame of the returned vertices.
        bound : float
            Half-width of the extraction cube, normalized units.
        progress : bool
            Report progress (a bar on a terminal, log lines otherwise).

        Returns
        -------
        trimesh.Trimesh
            Faces wound outward; empty (no faces, with a warning) when the field has no zero
            crossing. ``mesh.metadata["extraction"]`` records resolution, spacing and frame.
        """
        from neusdf.evaluation.extraction import extract_zero_level_set
        from neusdf.progress import counted, finish
        from neusdf.progress import progress as progress_reporter

        _check_frame(frame)
        with progress_reporter(resolution**3, "mesh", "point", enabled=progress) as bar:
            mesh = extract_zero_level_set(
                counted(self.normalized_sdf, bar),
                resolution=resolution,
                bound=bound,
                batch_size=int(schema_default("extract", "batch_size")),
            )
            finish(bar)
        if frame == "original":
            mesh = self.normalization.mesh_to_original(mesh)
        return mesh

    # -- description ----------------------------------------------------------------------------

    @property
    def info(self) -> dict:
        """What the checkpoint says about itself (plain JSON types).

        Keys: ``path``, ``file_bytes``, ``format``, ``format_version``, ``neusdf_version``,
        ``model_name``, ``model_config``, ``trained_backend``, ``backend`` and ``device`` (used
        now), ``n_parameters`` (+ ``n_encoding_parameters``, ``n_network_parameters`` when the
        model has a feature table or lattice), ``normalization`` (center, scale), ``bounds``
        (the normalized cube in the original frame), ``training`` (the
        training record), ``metrics_path`` and ``metrics`` (the evaluate stage's record
        ``results/metrics/{model}/{obj}.json`` found next to the checkpoint
        ``results/models/{model}/{obj}.safetensors``, or None).
        """
        payload = self._meta
        n_total = self.field.n_parameters
        record: dict[str, Any] = {
            "path": str(self.path),
            "file_bytes": os.path.getsize(self.path) if self.path.is_file() else None,
            "format": payload.get("format"),
            "format_version": payload.get("format_version"),
            "neusdf_version": payload.get("neusdf_version"),
            "model_name": payload.get("model_name"),
            "model_config": copy.deepcopy(payload.get("model_config")),
            "trained_backend": payload.get("backend"),
            "backend": self.backend,
            "device": self.device,
            "n_parameters": int(n_total),
        }
        if self.field.n_table_parameters:
            record["n_encoding_parameters"] = self.field.n_table_parameters
            record["n_network_parameters"] = n_total - self.field.n_table_parameters
        record["normalization"] = {"center": self.center.tolist(), "scale": self.scale}
        record["bounds"] = [corner.tolist() for corner in self.bounds]
        record["training"] = copy.deepcopy(payload.get("training"))
        metrics_path = self.metrics_path()
        record["metrics_path"] = str(metrics_path) if metrics_path else None
        record["metrics"] = json.loads(metrics_path.read_text()) if metrics_path else None
        return _plain(record)

    def metrics_path(self) -> Path | None:
        """``results/metrics/{model}/{obj}.json`` next to the checkpoint
        ``results/models/{model}/{obj}.safetensors``."""
        resolved = self.path.resolve()
        parts = resolved.parts
        if len(parts) < 3 or parts[-3] != "models":
            return None
        candidate = resolved.parents[2] / "metrics" / parts[-2] / f"{resolved.stem}.json"
        return candidate if candidate.is_file() else None


def _plain(value):
    """Tensors, numpy scalars and tuples inside ``value`` as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load(
    path: str | Path, device: str = "cpu", backend: str = "auto", threads: int | None = None
) -> SDF:
    """Load a neusdf checkpoint as a callable :class:`SDF`.

    Parameters
    ----------
    path : str or Path
        A checkpoint written by the pipeline (``results/models/{model}/{obj}.safetensors``).
    device : str
        ``"cpu"`` (default), ``"cuda"``, or ``"auto"`` (CUDA when available).
    backend : str
        ``"auto"`` (tiny-cuda-nn on CUDA when installed, else the torch-free CPU evaluators),
        ``"fast"``, ``"reference"`` (plain PyTorch), ``"tcnn"``. Any backend reads any
        checkpoint, whichever backend trained it.
    threads : int, optional
        CPU threads of the evaluation (default: the count in effect).

    Returns
    -------
    SDF

    Raises
    ------
    CheckpointError
        Missing file, not a neusdf checkpoint (a torch pickle or anything else), a format
        written by a newer neusdf, or weights that do not fit the stored configuration.
    """
    field = load_field(
        path,
        backend=backend,
        device=device,
        threads=threads,
        batch_size=int(schema_default("evaluate", "batch_size")),
    )
    return SDF(field, path)
