"""The normalization transform: one type, used for points, distances and meshes alike."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neusdf.config import schema_default

if TYPE_CHECKING:
    import trimesh


@dataclass(frozen=True)
class Normalization:
    """Similarity transform from the original mesh frame to the normalized frame.

    ``x_normalized = (x_original - center) * scale`` and
    ``x_original = x_normalized / scale + center``; distances scale by ``scale`` too.

    Attributes
    ----------
    center : tuple of 3 float
        Bounding-box center of the original mesh, in original units.
    scale : float
        Uniform scale factor (normalized units per original unit), positive and finite.
    """

    center: tuple[float, float, float]
    scale: float

    def __post_init__(self):
        center = tuple(float(c) for c in np.asarray(self.center, dtype=np.float64).reshape(-1))
        if len(center) != 3 or not np.isfinite(center).all():
            raise ValueError(f"center must be 3 finite numbers, got {self.center!r}")
        # A negative scale would mirror the mesh and flip its normals inward.
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {self.scale}")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "scale", float(self.scale))

    @classmethod
    def fit(
        cls, vertices: np.ndarray, half_extent: float = schema_default("normalize", "half_extent")
    ) -> Normalization:
        """Center at the bounding-box center, longest half-extent scaled to ``half_extent``.

        Parameters
        ----------
        vertices : (V, 3) float array
            Original units, not all equal.
        half_extent : float
            Target longest half-extent, normalized units, in (0, 1].
        """
        vertices = np.asarray(vertices, dtype=np.float64)
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        return cls(center=tuple((lo + hi) / 2.0), scale=half_extent / (float(np.max(hi - lo)) / 2))

    @classmethod
    def from_record(cls, record: dict) -> Normalization:
        """From a dict with ``center`` and ``scale`` (normalized-mesh JSON, checkpoints)."""
        return cls(center=tuple(record["center"]), scale=float(record["scale"]))

    @classmethod
    def read(cls, meta_path: str | Path) -> Normalization:
        """From a normalized mesh's JSON record (``results/normalized/{obj}.json``)."""
        return cls.from_record(json.loads(Path(meta_path).read_text()))

    def to_record(self) -> dict:
        """Plain JSON types: ``{"center": [x, y, z], "scale": s}``."""
        return {"center": list(self.center), "scale": self.scale}

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) original-frame points to the normalized frame (float64)."""
        return (np.asarray(points, dtype=np.float64) - np.asarray(self.center)) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) normalized-frame points back to the original frame (float64)."""
        return np.asarray(points, dtype=np.float64) / self.scale + np.asarray(self.center)

    def mesh_to_original(self, mesh: trimesh.Trimesh) -> trimesh.Trimesh:
        """A copy of a normalized-frame mesh in the original frame (same faces and winding;
        an ``extraction`` metadata record gets ``frame="original"``)."""
        out = mesh.copy()
        out.vertices = self.invert(mesh.vertices)
        out.metadata = dict(mesh.metadata)
        if "extraction" in out.metadata:
            out.metadata["extraction"] = {**out.metadata["extraction"], "frame": "original"}
        return out
