"""Stage 1, normalize: load, clean, center and scale one mesh."""

from __future__ import annotations

import logging

from neusdf.mesh.load import normalize_file

log = logging.getLogger(__name__)


def normalize_object(source: str, mesh_out: str, meta_out: str, half_extent: float) -> dict:
    """Write the normalized PLY and its JSON record (:func:`neusdf.mesh.load.normalize_file`).

    Returns
    -------
    dict
        The JSON record (transform, source sha256, counts, topology).
    """
    record = normalize_file(source, mesh_out, meta_out, half_extent=half_extent)
    log.info(
        "%s: %d vertices, %d faces, watertight=%s, scale=%.6g",
        source,
        record["n_vertices"],
        record["n_faces"],
        record["watertight"],
        record["scale"],
    )
    return record
