"""A checkpoint as a field: the one way from a checkpoint file to signed distances.

The API (:func:`neusdf.load`), the ``neusdf`` command and every pipeline stage that evaluates a
trained model call :func:`load_field`. On a CPU with the ``auto`` or ``fast`` backend every kind
is evaluated by its torch-free evaluator (:mod:`neusdf.nn.numpy_field`); the ``reference`` and
``tcnn`` backends and CUDA devices rebuild the torch model
(:func:`neusdf.nn.models.model_from_checkpoint`).

The stored model describes the normalized cube [-1, 1]^3, the region its training points
covered. A point ``p`` outside the cube gets ``|p - q| + max(f(q), 0)`` with ``q`` the nearest
point of the cube and ``f`` the model: positive everywhere outside (the object lies within
[-0.9, 0.9]^3), and, with ``a = |p - q|`` and ``t`` the true distance,
``sqrt(a^2 + t(q)^2) <= t(p) <= a + t(q)`` (the second by the triangle inequality, the first
because the cube is convex and contains the surface), so the answer exceeds the truth by less
than ``t(q)`` plus the model's own error at ``q``, and its relative error falls as
``t(q) / a`` far away (docs/checkpoint.md).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neusdf.config import schema_default
from neusdf.nn.checkpoint import Checkpoint, read_checkpoint

BACKENDS = ("auto", "fast", "reference", "tcnn")
# Half-width of the region a model describes, normalized units.
CUBE = 1.0
# Central-difference step for normals, normalized units: half of the finest hash cell of a
# 2048-resolution grid (2 / 2048), small next to surface detail, large next to float32 noise.
GRADIENT_STEP = 5e-4


def cuda_possible() -> bool:
    """False only where CUDA surely is not (Linux without an NVIDIA driver), so ``auto``
    resolves to the CPU without importing torch."""
    return sys.platform != "linux" or os.path.exists("/dev/nvidiactl")


def resolve_placement(backend: str, device: str) -> tuple[str, str]:
    """Concrete ``(backend, device)`` for a request, importing torch only where a GPU may be
    asked for or a torch backend is named.

    ``device="auto"``: CUDA when available, else the CPU. ``backend="auto"``: tiny-cuda-nn on
    CUDA when installed, the fast kernel on the CPU.

    Raises
    ------
    ValueError
        An unknown backend, or one that cannot run on the device.
    RuntimeError
        CUDA asked for but not available.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if device == "auto" and not cuda_possible():
        device = "cpu"
    if device == "cpu" and backend in ("auto", "fast"):
        return "fast", "cpu"
    from neusdf.encoding.module import resolve_backend
    from neusdf.nn.models import resolve_device

    device = resolve_device(device)
    return resolve_backend(backend, device), device


def extend_outside(network: Callable[[np.ndarray], np.ndarray], points: np.ndarray) -> np.ndarray:
    """``network`` inside the normalized cube, its extension outside (module docstring).

    Parameters
    ----------
    network : callable
        (M, 3) float32 points in [-1, 1]^3 -> (M,) float32.
    points : (M, 3) float array
        Normalized frame, anywhere.

    Returns
    -------
    (M,) float32
    """
    points = np.asarray(points, dtype=np.float32)
    nearest = np.clip(points, -CUBE, CUBE)
    values = np.asarray(network(nearest), dtype=np.float32)
    away = np.linalg.norm((points - nearest).astype(np.float64), axis=1)
    outside = away > 0
    if outside.any():
        values = values.copy()
        values[outside] = away[outside] + np.maximum(values[outside], 0.0)
    return values


class Field:
    """A trained model of any kind as ``(M, 3) normalized points -> (M,) float32`` distances.

    Attributes
    ----------
    checkpoint : Checkpoint
        What was read (metadata and arrays).
    network : callable
        The stored model alone, meaningful inside [-1, 1]^3.
    backend : str
        What evaluates: ``fast-numpy`` (torch-free, every kind), or the torch model's backend
        (``fast``, ``reference``, ``tcnn``, ``torch``).
    device : str
    n_parameters, n_table_parameters : int
        Stored scalars, and those in a feature table or lattice.
    """

    def __init__(self, checkpoint: Checkpoint, network, backend: str, device: str, n_table: int):
        self.checkpoint = checkpoint
        self.network = network
        self.backend = backend
        self.device = device
        self.n_parameters = checkpoint.n_parameters
        self.n_table_parameters = int(n_table)
        self.normalization = checkpoint.normalization

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Signed distances (M,) float32 at (M, 3) normalized points, anywhere (outside the cube:
        the extension of the module docstring)."""
        return extend_outside(self.network, points)

    def gradient(
        self, points: np.ndarray, step: float = GRADIENT_STEP, unit: bool = True
    ) -> np.ndarray:
        """The field's gradient at (M, 3) normalized points, by central differences.

        None of the evaluators differentiates with respect to the input points (training does
        not need it), so the gradient is ``(f(x + h e_i) - f(x - h e_i)) / 2h`` on each axis,
        with ``h = step`` normalized units. A hash grid is piecewise trilinear in each cell, so
        within a cell this is its exact gradient; across cell faces it is the average slope
        over ``2h``.

        Parameters
        ----------
        points : (M, 3) float array
        step : float
            ``h``, normalized units, > 0.
        unit : bool
            Unit vectors (rows where the gradient is exactly zero stay zero).

        Returns
        -------
        (M, 3) float64
        """
        if not step > 0:
            raise ValueError(f"step must be positive, got {step}")
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        offsets = np.concatenate([np.eye(3), -np.eye(3)]) * step  # (6, 3)
        grad = np.empty_like(points)
        # Six probes per point, in chunks so the probe array stays ~2^16 rows.
        rows = 2**16 // 6
        for start in range(0, len(points), rows):
            chunk = points[start : start + rows]
            probes = (chunk[:, None, :] + offsets[None]).reshape(-1, 3)
            values = self(probes).astype(np.float64).reshape(-1, 6)
            grad[start : start + len(chunk)] = (values[:, :3] - values[:, 3:]) / (2.0 * step)
        if unit:
            norms = np.linalg.norm(grad, axis=1, keepdims=True)
            grad = np.divide(grad, norms, out=np.zeros_like(grad), where=norms > 0)
        return grad


def load_field(
    source: str | Path | Checkpoint,
    *,
    backend: str = "auto",
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int | None = None,
) -> Field:
    """Open a checkpoint as a :class:`Field`.

    Parameters
    ----------
    source : path or Checkpoint
        A checkpoint file (``results/models/{model}/{obj}.safetensors``) or one already read.
    backend : {"auto", "fast", "reference", "tcnn"}
        ``auto``/``fast`` on a CPU: the torch-free evaluators. Any backend reads any checkpoint,
        whatever trained it.
    device : str
        ``"cpu"``, ``"cuda[:N]"`` or ``"auto"``.
    threads : int, optional
        CPU threads of the evaluation (None: the count in effect).
    batch_size : int, optional
        Points per evaluation call (default: the schema's ``evaluate.batch_size``).

    Raises
    ------
    CheckpointError
        As :func:`neusdf.nn.checkpoint.read_checkpoint`, or weights that do not fit the stored
        configuration.
    """
    from neusdf.errors import CheckpointError

    checkpoint = source if isinstance(source, Checkpoint) else read_checkpoint(source)
    batch_size = int(batch_size or schema_default("evaluate", "batch_size"))
    backend, device = resolve_placement(backend, device)
    if device == "cpu" and backend == "fast":
        from neusdf.nn.numpy_field import numpy_evaluator

        try:
            evaluator = numpy_evaluator(
                checkpoint.kind, checkpoint.model_config, checkpoint.arrays, threads
            )
        except (KeyError, ValueError) as exc:
            raise CheckpointError(
                checkpoint.path, f"weights do not match the stored configuration: {exc}"
            ) from None
        network = functools.partial(evaluator, batch_size=batch_size)
        return Field(checkpoint, network, "fast-numpy", device, evaluator.n_table_parameters)
    import torch

    from neusdf.nn.models import model_from_checkpoint, predict_sdf

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    model = model_from_checkpoint(checkpoint, backend, device, threads)
    network = functools.partial(predict_sdf, model, batch_size=batch_size)
    return Field(checkpoint, network, model.backend, device, model.n_table_parameters())
