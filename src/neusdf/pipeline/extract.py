"""Stage 4, extract: the zero level set of a trained model as a mesh."""

from __future__ import annotations

import logging
from pathlib import Path

from neusdf.io import write_json
from neusdf.nn.field import load_field
from neusdf.pipeline.compute import Compute

log = logging.getLogger(__name__)


def extract_object(checkpoint_path: str, mesh_out: str, cfg: dict, compute: Compute) -> dict:
    """Marching-cubes zero level set of a trained model (``cfg = config["extract"]``).

    Writes the PLY (normalized frame, or the input's frame with ``original_frame``) and, next to
    it, a JSON record (frame, resolution, emptiness, face count).

    Returns
    -------
    dict
        That JSON record.
    """
    from neusdf.evaluation.extraction import extract_level_set_arrays
    from neusdf.mesh.ply import write_ply
    from neusdf.progress import counted, finish, progress

    batch_size = int(cfg["batch_size"])
    field = load_field(
        checkpoint_path,
        backend=compute.backend,
        device=compute.device,
        threads=compute.threads,
        batch_size=batch_size,
    )
    resolution = int(cfg["resolution"])
    # Counts grid nodes: evaluated ones as they go, the rest once the band has settled them.
    with progress(resolution**3, "extract", "point") as bar:
        vertices, faces, info = extract_level_set_arrays(
            counted(field, bar), resolution=resolution, bound=1.0, batch_size=batch_size
        )
        finish(bar)
    if cfg["original_frame"]:
        vertices, info["frame"] = field.normalization.invert(vertices), "original"
    info["faces"] = len(faces)
    write_ply(mesh_out, vertices, faces)
    write_json(Path(mesh_out).with_suffix(".json"), info)
    log.info(
        "wrote %s: %d faces, frame %s, empty=%s",
        mesh_out,
        info["faces"],
        info["frame"],
        info["empty"],
    )
    return info
