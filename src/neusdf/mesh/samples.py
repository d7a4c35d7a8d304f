"""The HDF5 sample file: the one place its layout is written, read and validated.

Layout (all ``points`` float32 (N, 3) in the normalized frame, all ``sdf`` float32 (N,),
negative inside)::

    /train/points, /train/sdf, /train/source   (source uint8: 0 near-surface, 1 volume)
    /test/surface/points, /test/surface/sdf
    /test/volume/points,  /test/volume/sdf

Root attributes: ``format`` ("neusdf-samples"), ``format_version``, ``sign_convention``,
``engine``, ``sign_method``, counts, ``near_surface_std``, ``seeds`` (JSON), ``mesh_sha256``,
``neusdf_version``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from neusdf.errors import SampleFileError
from neusdf.io import atomic_path
from neusdf.version import __version__

FORMAT = "neusdf-samples"
FORMAT_VERSION = 1
SIGN_CONVENTION = "negative inside"
SPLITS = ("train", "test/surface", "test/volume")
SOURCE_SURFACE, SOURCE_VOLUME = 0, 1


@dataclass
class PointSet:
    """Points with their ground-truth signed distances.

    Attributes
    ----------
    points : (N, 3) float32, normalized units
    sdf : (N,) float32, normalized units, negative inside
    source : (N,) uint8 or None; 0 = near-surface, 1 = volume (train split only)
    """

    points: np.ndarray
    sdf: np.ndarray
    source: np.ndarray | None = None


def write_samples(path: str | Path, sets: dict[str, PointSet], attrs: dict) -> None:
    """Write the three point sets and provenance attributes, atomically.

    Parameters
    ----------
    path : str or Path
        Destination ``.h5`` file.
    sets : dict
        ``{"train": PointSet, "test/surface": PointSet, "test/volume": PointSet}``.
    attrs : dict
        Provenance; dict/list values are stored as JSON strings.
    """
    missing = set(SPLITS) - set(sets)
    if missing:
        raise ValueError(f"missing point sets: {sorted(missing)}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["sign_convention"] = SIGN_CONVENTION
        h5.attrs["neusdf_version"] = __version__
        for key, value in attrs.items():
            h5.attrs[key] = json.dumps(value) if isinstance(value, dict | list) else value
        for split in SPLITS:
            point_set = sets[split]
            group = h5.require_group(split)
            group.create_dataset("points", data=np.asarray(point_set.points, dtype=np.float32))
            group.create_dataset("sdf", data=np.asarray(point_set.sdf, dtype=np.float32))
            if point_set.source is not None:
                group.create_dataset("source", data=np.asarray(point_set.source, dtype=np.uint8))


def read_attrs(path: str | Path) -> dict:
    """Root attributes of a sample file (JSON strings decoded), after checking its format tag."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
    except (OSError, ValueError) as exc:
        raise SampleFileError(path, f"not a readable HDF5 file ({exc})") from None
    if attrs.get("format") != FORMAT:
        raise SampleFileError(path, f"not a neusdf sample file (format={attrs.get('format')!r})")
    decoded = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value[:1] in "[{":
            value = json.loads(value)
        elif isinstance(value, np.generic):
            value = value.item()
        decoded[key] = value
    return decoded


def read_samples(path: str | Path, split: str) -> PointSet:
    """Read and validate one point set.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_samples`.
    split : {"train", "test/surface", "test/volume"}

    Raises
    ------
    SampleFileError
        Missing group or dataset, wrong shape or dtype, mismatched lengths, non-finite values,
        or an unknown format version.
    """
    path = Path(path)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    attrs = read_attrs(path)
    if attrs.get("format_version") != FORMAT_VERSION:
        raise SampleFileError(path, f"unsupported format_version {attrs.get('format_version')!r}")
    with h5py.File(path, "r") as h5:
        if split not in h5 or "points" not in h5[split] or "sdf" not in h5[split]:
            raise SampleFileError(path, f"missing {split}/points or {split}/sdf")
        group = h5[split]
        points_ds, sdf_ds = group["points"], group["sdf"]
        if points_ds.dtype != np.float32 or sdf_ds.dtype != np.float32:
            raise SampleFileError(path, f"{split}: points and sdf must be float32")
        if points_ds.ndim != 2 or points_ds.shape[1] != 3:
            raise SampleFileError(path, f"{split}/points has shape {points_ds.shape}, need (N, 3)")
        if sdf_ds.shape != (points_ds.shape[0],):
            raise SampleFileError(
                path, f"{split}/sdf has shape {sdf_ds.shape}, need ({points_ds.shape[0]},)"
            )
        if points_ds.shape[0] == 0:
            raise SampleFileError(path, f"{split} is empty")
        points, sdf = points_ds[()], sdf_ds[()]
        source = group["source"][()] if "source" in group else None
    if not (np.isfinite(points).all() and np.isfinite(sdf).all()):
        raise SampleFileError(path, f"{split} contains NaN or infinite values")
    if source is not None and source.shape != sdf.shape:
        raise SampleFileError(path, f"{split}/source length does not match sdf")
    return PointSet(points=points, sdf=sdf, source=source)
