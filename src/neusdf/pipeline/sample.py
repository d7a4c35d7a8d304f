"""Stage 2, sample: train and test point sets with their exact SDF, in one HDF5 file."""

from __future__ import annotations

import logging

import numpy as np

from neusdf.groundtruth import GroundTruth
from neusdf.io import read_json
from neusdf.mesh.load import read_normalized
from neusdf.mesh.points import sample_near_surface, sample_volume
from neusdf.mesh.samples import SOURCE_SURFACE, SOURCE_VOLUME, PointSet, write_samples
from neusdf.progress import progress
from neusdf.seeding import derive_seed

log = logging.getLogger(__name__)

SETS = ("train/surface", "train/volume", "test/surface", "test/volume")


def sample_object(
    mesh_path: str, meta_path: str, out_path: str, cfg: dict, seed: int, threads: int
) -> dict:
    """Draw train/test point sets and their ground-truth SDF into one HDF5 file.

    Parameters
    ----------
    mesh_path, meta_path : str
        The normalized mesh and its JSON record.
    cfg : dict
        ``config["sample"]``: ``train_surface``, ``train_volume``, ``test_surface``,
        ``test_volume`` (counts), ``near_surface_std`` (normalized units), ``engine``, ``sign``.
    seed : int
        The config seed; every set gets its own derived seed, recorded in the file.
    threads : int
        CPU threads of the ground-truth queries.

    Returns
    -------
    dict
        The attributes written to the file.
    """
    vertices, faces = read_normalized(mesh_path)
    meta = read_json(meta_path)
    truth = GroundTruth.of_normalized(mesh_path, meta_path, cfg, threads)
    std = float(cfg["near_surface_std"])
    seeds = {name: derive_seed(seed, "sample", name) for name in SETS}
    counts = {name: int(cfg[name.replace("/", "_")]) for name in SETS}
    points, sdf = {}, {}
    with progress(sum(counts.values()), "sample", "point") as bar:
        for name in SETS:
            if name.endswith("surface"):
                points[name] = sample_near_surface(vertices, faces, counts[name], std, seeds[name])
            else:
                points[name] = sample_volume(counts[name], seeds[name])
            sdf[name] = truth(points[name])
            bar.update(counts[name])
    train = PointSet(
        points=np.concatenate([points["train/surface"], points["train/volume"]]),
        sdf=np.concatenate([sdf["train/surface"], sdf["train/volume"]]),
        source=np.concatenate(
            [
                np.full(counts["train/surface"], SOURCE_SURFACE, np.uint8),
                np.full(counts["train/volume"], SOURCE_VOLUME, np.uint8),
            ]
        ),
    )
    attrs = {
        "engine": cfg["engine"],
        "sign_method": truth.sign_method,
        "near_surface_std": std,
        "counts": counts,
        "seeds": seeds,
        "seed": int(seed),
        "mesh_sha256": meta["source_sha256"],
        "source": meta["source"],
        "inside_fraction_volume": float(np.mean(sdf["test/volume"] < 0)),
    }
    write_samples(
        out_path,
        {
            "train": train,
            "test/surface": PointSet(points["test/surface"], sdf["test/surface"]),
            "test/volume": PointSet(points["test/volume"], sdf["test/volume"]),
        },
        attrs,
    )
    log.info(
        "%s: sign=%s, inside fraction (volume test) %.4f",
        out_path,
        truth.sign_method,
        attrs["inside_fraction_volume"],
    )
    return attrs
